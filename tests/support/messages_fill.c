/*
 * messages_fill.c - a message of any type of the contract with every field
 * set, filled from its descriptor, for the round-trip tests (tests/proto:
 * protobuf bytes, tests/pbjson: JSON), which cover every message of the
 * generated list (messages.h) this way, so a field added to a .proto is
 * covered without touching them. One filler for both, so the two tests
 * agree on what "every field set" means.
 *
 * The values reach the edges of both encodings: negative numbers and
 * numbers beyond 2^53 (int64), beyond INT64_MAX (uint64), escapes and CJK in
 * strings, NUL and 0xff in bytes; none is the field's default, so a field
 * dropped on the way shows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages.h"

/* A message nested deeper than this is left out (the contract has no
 * message containing itself; this only stops a runaway). */
#define TM_DEPTH_MAX 6

/* The filler is test code: an allocation that fails or a contract it cannot
 * fill ends the test run at once, saying why. */
static void *tm_alloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (p == NULL) {
    fprintf(stderr, "messages_fill: out of memory\n");
    abort();
  }
  return p;
}

int tm_oneof_member_chosen(const ProtobufCMessageDescriptor *d, unsigned i, unsigned round) {
  const ProtobufCFieldDescriptor *f = &d->fields[i];
  unsigned index = 0, size = 0;
  for (unsigned k = 0; k < d->n_fields; k++) {
    if ((d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        d->fields[k].quantifier_offset == f->quantifier_offset) {
      if (k == i)
        index = size;
      size++;
    }
  }
  return index == round % size;
}

unsigned tm_rounds(const ProtobufCMessageDescriptor *d) {
  unsigned best = 1;
  for (unsigned i = 0; i < d->n_fields; i++) {
    unsigned size = 0;
    if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
      continue;
    for (unsigned k = 0; k < d->n_fields; k++)
      size += (d->fields[k].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
              d->fields[k].quantifier_offset == d->fields[i].quantifier_offset;
    if (size > best)
      best = size;
  }
  return best;
}

size_t tm_slot_size(const ProtobufCFieldDescriptor *f) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  default:
    return 4;
  }
}

static ProtobufCMessage *filled(const ProtobufCMessageDescriptor *d, unsigned round, int depth);

static void fill_value(const ProtobufCFieldDescriptor *f, void *slot, unsigned round, int depth) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    *(int32_t *)slot = round % 2 ? INT32_MIN + (int32_t)f->id : -(int32_t)(f->id * 1000 + round + 1);
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    *(uint32_t *)slot = UINT32_MAX - f->id - round;
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    *(int64_t *)slot = round % 2 ? INT64_MIN + f->id : (int64_t)(1ULL << 60) + f->id * 1000 + round;
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    *(uint64_t *)slot = 1ULL << 63 | (f->id * 1000 + round);
    break;
  case PROTOBUF_C_TYPE_FLOAT:
    *(float *)slot = 0.5f + (float)f->id;
    break;
  case PROTOBUF_C_TYPE_DOUBLE:
    *(double *)slot = 0.25 + f->id;
    break;
  case PROTOBUF_C_TYPE_BOOL:
    *(protobuf_c_boolean *)slot = 1;
    break;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *e = f->descriptor;
    if (e->n_values < 2) {
      fprintf(stderr, "messages_fill: enum %s has no value besides its zero\n", e->name);
      abort();
    }
    *(int *)slot = e->values[1 + round % (e->n_values - 1)].value;
    break;
  }
  case PROTOBUF_C_TYPE_STRING: {
    char buf[128];
    snprintf(buf, sizeof(buf), "字段 \"%s\"\\/\n\t%u", f->name, round);
    *(char **)slot = strcpy(tm_alloc(strlen(buf) + 1), buf);
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    ProtobufCBinaryData *b = slot;
    b->len = 3;
    b->data = tm_alloc(3);
    b->data[0] = 0x00; /* embedded NUL: bytes are not strings */
    b->data[1] = 0xff;
    b->data[2] = (uint8_t)f->id;
    break;
  }
  case PROTOBUF_C_TYPE_MESSAGE:
    *(ProtobufCMessage **)slot =
        depth < TM_DEPTH_MAX ? filled(f->descriptor, round, depth + 1) : NULL;
    break;
  }
}

static ProtobufCMessage *filled(const ProtobufCMessageDescriptor *d, unsigned round, int depth) {
  ProtobufCMessage *m = tm_alloc(d->sizeof_message);
  protobuf_c_message_init(d, m);
  char *base = (char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (!tm_oneof_member_chosen(d, i, round))
        continue;
      *(uint32_t *)(base + f->quantifier_offset) = f->id;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
               f->type != PROTOBUF_C_TYPE_STRING) {
      *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= TM_DEPTH_MAX)
        continue;
      size_t n = 2, sz = tm_slot_size(f);
      char *arr = tm_alloc(n * sz);
      for (size_t k = 0; k < n; k++)
        fill_value(f, arr + k * sz, round + (unsigned)k, depth);
      *(size_t *)(base + f->quantifier_offset) = n;
      *(void **)(base + f->offset) = arr;
    } else {
      fill_value(f, base + f->offset, round, depth);
    }
  }
  return m;
}

ProtobufCMessage *tm_new_filled(const ProtobufCMessageDescriptor *d, unsigned round) {
  return filled(d, round, 0);
}
