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

/* protobuf-c's default allocator, but one that remembers a failure: the
 * library itself returns NULL for both out of memory and bad bytes. Same
 * malloc and free, so free_unpacked(msg, NULL) frees what it made. */
static void *unpack_alloc(void *allocator_data, size_t size) {
  void *p = malloc(size);
  if (p == NULL)
    *(bool *)allocator_data = true;
  return p;
}

static void unpack_free(void *allocator_data, void *p) {
  (void)allocator_data;
  free(p);
}

ProtobufCMessage *mc_pb_unpack(const ProtobufCMessageDescriptor *desc, size_t len,
                               const uint8_t *data, bool *out_of_memory) {
  *out_of_memory = false;
  ProtobufCAllocator a = {.alloc = unpack_alloc, .free = unpack_free,
                          .allocator_data = out_of_memory};
  return protobuf_c_message_unpack(desc, &a, len, data);
}

mc_code mc_pb_clone(const ProtobufCMessage *msg, ProtobufCMessage **out, mc_err *err) {
  uint8_t *buf = NULL;
  size_t n = 0;
  mc_code rc = mc_pb_pack(msg, &buf, &n, err);
  if (rc != MC_OK)
    return rc;
  bool oom = false;
  ProtobufCMessage *copy = mc_pb_unpack(msg->descriptor, n, buf, &oom);
  free(buf);
  if (copy == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory copying %s", msg->descriptor->short_name);
  if (copy == NULL)
    return mc_err_set(err, MC_INTERNAL, "%s does not round-trip", msg->descriptor->short_name);
  *out = copy;
  return MC_OK;
}
