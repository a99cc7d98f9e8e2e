/*
 * pbjson.h - any protobuf-c message of the contract as JSON and back,
 * through its descriptor: the one JSON shape of the system (mediactl --json
 * prints it, the web gateway speaks it both ways).
 *
 * Why through descriptors: the .proto files are the documented, versioned
 * contract; a mapper written per message would be a second contract that
 * drifts. One walk covers every message, including fields added later.
 *
 * Conventions (docs/mediactl.md "JSON" repeats them for users), the same in
 * both directions:
 *   - keys are the .proto field names (snake_case); printed: every field;
 *     read: any subset, absent fields keep their defaults;
 *   - enum values are their short names: the names of core/names.h where the
 *     enum has a table ("elder_support"), else the value's name without the
 *     enum's prefix, lowercased ("queued", "unspecified"); status codes keep
 *     gRPC's spelling ("FAILED_PRECONDITION"). Read: also the numeric value;
 *   - int64/uint64 are JSON numbers (read: also a decimal string);
 *   - bytes are lowercase hex (read: either case);
 *   - an absent sub-message is null; a oneof shows only its set member.
 */
#ifndef PJ_PBJSON_H
#define PJ_PBJSON_H

#include <stddef.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

#include "core/status.h"

/* The deepest JSON nesting (objects and arrays) pj_to_message reads. */
#define PJ_MAX_DEPTH 32

/* The message as JSON; the caller owns the result (json_object_put). NULL
 * only when out of memory. */
json_object *pj_from_message(const ProtobufCMessage *msg);

/* Parses JSON text (len bytes, need not be NUL-terminated) into a new
 * message of desc. Unknown fields, wrong JSON types, out-of-range numbers,
 * unknown enum names, bad hex, invalid UTF-8, nesting > PJ_MAX_DEPTH and
 * duplicate keys -> MC_INVALID_ARGUMENT with err naming the field path
 * ("action.parties[1].phone: ..."); out of memory -> MC_RESOURCE_EXHAUSTED.
 * Absent fields keep their defaults; null for a sub-message = absent. On
 * MC_OK *out is the caller's (protobuf_c_message_free_unpacked(*out, NULL));
 * otherwise *out is NULL. */
mc_code pj_to_message(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                      ProtobufCMessage **out, mc_err *err);

/* The same from an already parsed object (o is not consumed). json-c's own
 * parser cannot report duplicate keys or integers beyond 64 bits (it keeps
 * the last key and clamps): pj_to_message checks the text for both. */
mc_code pj_from_json(const ProtobufCMessageDescriptor *desc, json_object *o,
                     ProtobufCMessage **out, mc_err *err);

/* The short name of an enum value as pj_from_message writes it, in buf;
 * returns buf. A value this build does not know is written as its number. */
const char *pj_enum_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t cap);

/* The message as compact JSON text, malloc'd (caller frees), NUL-terminated,
 * its length in *len if len is not NULL; NULL when out of memory. */
char *pj_to_text(const ProtobufCMessage *msg, size_t *len);

#endif /* PJ_PBJSON_H */
