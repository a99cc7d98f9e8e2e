/*
 * text.h - checks for text that came from outside.
 *
 * protobuf-c 1.4.1 unpacks strings without checking them: a field may hold
 * invalid UTF-8 or embedded NULs (a 7-byte string can strlen to 5). Every
 * string taken from the network or from disk passes mc_text_check before it
 * is trusted, and mc_message_check walks a whole decoded message so that no
 * field is forgotten.
 */
#ifndef MC_TEXT_H
#define MC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/status.h"

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, no
 * code points above U+10FFFF). */
bool mc_utf8_valid(const char *s, size_t len);

/* Checks one string field: at most max_bytes bytes, valid UTF-8, no NUL and
 * no control characters other than tab and newline. `field` names it in the
 * error ("intake.summary"). */
mc_code mc_text_check(const char *s, size_t max_bytes, const char *field, mc_err *err);

/* A unit's own reference for a case (Intake.unit_ref, "PS-2026-0007"): 1 to
 * MC_UNIT_REF_MAX of A-Z, a-z, 0-9 and '-', starting with a letter. Logs name
 * a case by it until the router has allocated the id, so it must never hold
 * personal data: a phone or ID number (digits), a name (Chinese characters)
 * or free text (spaces, punctuation) cannot be one. */
#define MC_UNIT_REF_MAX 32
bool mc_unit_ref_valid(const char *ref);
/* The rule above, as refusals say it, in the thread's language (core/i18n.h);
 * never NULL. */
const char *mc_unit_ref_rule(void);

/* Limits for a whole decoded message. */
typedef struct mc_message_limits {
  size_t max_string_bytes;  /* any one string field */
  size_t max_bytes_field;   /* any one bytes field */
  size_t max_repeated;      /* elements in any one repeated field */
  unsigned max_depth;       /* nesting of sub-messages */
} mc_message_limits;

/* Walks every field of msg (recursively, through sub-messages and repeated
 * fields) using its descriptor and applies the limits and mc_text_check to
 * every string. The error names the path of the first bad field
 * ("action.intake.parties[2].name: not valid UTF-8"). */
mc_code mc_message_check(const ProtobufCMessage *msg, const mc_message_limits *limits,
                         mc_err *err);

/* Checks the raw wire bytes of a message of type `desc` before it is
 * unpacked: every string field (at any depth) is checked with the rules of
 * mc_text_check on its real bytes, so an embedded NUL, which unpacking would
 * hide, is refused; bytes fields are bounded; nesting deeper than
 * limits->max_depth is refused before protobuf-c recurses into it; groups
 * and malformed framing are refused. Unknown fields are skipped. */
mc_code mc_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      const mc_message_limits *limits, mc_err *err);

#endif /* MC_TEXT_H */
