/*
 * internal.h - what the files of pbjson share and nobody else needs: the
 * storage size of a field's values (print and read walk the same layout)
 * and the text check that json-c's parser cannot do (scan.c).
 */
#ifndef PJ_INTERNAL_H
#define PJ_INTERNAL_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "core/status.h"

/* The path of the value a refusal is about ("intake.parties[1].phone"),
 * grown as the scanner and the reader descend and cut back as they return.
 * A key that is no field name is shown as printable ASCII only, at most 40
 * bytes; a path longer than text is cut. */
typedef struct pj_path {
  char text[256];
  size_t len;
} pj_path;

/* Append ".name" (or "name" at the top) and "[index]"; each returns the
 * length to give pj_path_pop to undo it. */
size_t pj_path_push_key(pj_path *p, const char *name, size_t len);
size_t pj_path_push_index(pj_path *p, size_t index);
void pj_path_pop(pj_path *p, size_t saved);

/* The bytes one value of a field of this type takes in a message (and in a
 * repeated field's array), as protobuf-c lays it out. */
size_t pj_element_size(ProtobufCType type);

/* The length of the well-formed UTF-8 sequence starting at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF; p < end, p[0] >=
 * 0x80), or 0 if it is not one. */
size_t pj_utf8_len(const unsigned char *p, const unsigned char *end);

/* Checks JSON text (len bytes) strictly by RFC 8259, before json-c parses
 * it: syntax (json-c also takes single quotes, NaN, comments...), nesting
 * deeper than PJ_MAX_DEPTH, duplicate keys in one object (json-c keeps the
 * last), integers beyond the 64-bit range (json-c clamps them), invalid
 * UTF-8, control characters and lone surrogates in strings. MC_OK, or
 * MC_INVALID_ARGUMENT with the path of the offending value ("parties[1]:
 * duplicate key \"phone\""); MC_RESOURCE_EXHAUSTED when out of memory. */
mc_code pj_scan_text(const char *text, size_t len, mc_err *err);

#endif /* PJ_INTERNAL_H */
