/*
 * pb.h - small protobuf-c helpers every module needs: an owned deep copy,
 * and packing into a fresh buffer.
 *
 * A copy made by packing and unpacking owns all its memory exactly like a
 * message received from the network, so one rule frees both:
 * protobuf_c_message_free_unpacked(msg, NULL).
 */
#ifndef MC_PB_H
#define MC_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/status.h"

/* An owned deep copy of msg (which may be borrowed or owned). Caller frees
 * with protobuf_c_message_free_unpacked(copy, NULL). Errors:
 * RESOURCE_EXHAUSTED, INTERNAL (msg does not round-trip: a required field
 * missing). */
mc_code mc_pb_clone(const ProtobufCMessage *msg, ProtobufCMessage **out, mc_err *err);

/* msg packed into a new malloc'd buffer (caller frees with free()). A
 * message packs to 0 bytes when every field is default: *out is then still
 * a valid (1-byte) allocation. */
mc_code mc_pb_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len, mc_err *err);

/* protobuf_c_message_unpack, telling why it failed: NULL with
 * *out_of_memory true when an allocation failed (the bytes may be fine:
 * UNAVAILABLE, never "damaged"), false when the bytes do not decode. The
 * message is the caller's, freed as any other:
 * protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *mc_pb_unpack(const ProtobufCMessageDescriptor *desc, size_t len,
                               const uint8_t *data, bool *out_of_memory);

#endif /* MC_PB_H */
