/*
 * pb.c - protobuf-c copies and packing (see pb.h).
 */
#include "core/pb.h"

#include <stdlib.h>

mc_code mc_pb_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len, mc_err *err) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory packing %s",
                      msg->descriptor->short_name);
  protobuf_c_message_pack(msg, buf);
  *out = buf;
  *len = n;
  return MC_OK;
}

mc_code mc_pb_clone(const ProtobufCMessage *msg, ProtobufCMessage **out, mc_err *err) {
  uint8_t *buf = NULL;
  size_t n = 0;
  mc_code rc = mc_pb_pack(msg, &buf, &n, err);
  if (rc != MC_OK)
    return rc;
  ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
  free(buf);
  if (copy == NULL)
    return mc_err_set(err, MC_INTERNAL, "%s does not round-trip", msg->descriptor->short_name);
  *out = copy;
  return MC_OK;
}
