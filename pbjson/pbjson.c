/*
 * pbjson.c - the print direction: any protobuf-c message as JSON, through
 * its descriptor (moved here from mediactl's json.c so that mediactl and the
 * web gateway print one shape).
 *
 * The idea: the .proto files are already the documented, versioned contract
 * of every reply, so JSON is the message itself rather than a second,
 * hand-kept shape that could drift from it. One walk over the descriptor
 * covers every message, including fields added later. JSON is built with
 * json-c, never by hand, so escaping is right for every string. The
 * conventions are pbjson.h's; read.c reads the same shape back.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "pbjson/internal.h"
#include "pbjson/pbjson.h"

typedef struct enum_table {
  const ProtobufCEnumDescriptor *desc;
  const mc_name *names;
} enum_table;

static const enum_table enum_tables[] = {
    {&mediation__v1__dispute_kind__descriptor, mc_kind_names},
    {&mediation__v1__case_state__descriptor, mc_state_names},
    {&mediation__v1__action_kind__descriptor, mc_action_names},
    {&mediation__v1__difficulty__descriptor, mc_difficulty_names},
    {&mediation__v1__source__descriptor, mc_source_names},
    {&mediation__v1__party_role__descriptor, mc_party_role_names},
    {&mediation__v1__team_role__descriptor, mc_team_role_names},
    {&mediation__v1__outcome_kind__descriptor, mc_outcome_names},
    {&mediation__v1__resolution__descriptor, mc_resolution_names},
    {&mediation__v1__petition_role__descriptor, mc_petition_names},
    {&mediation__v1__court_result_kind__descriptor, mc_court_result_names},
    {&mediation__v1__satisfaction__descriptor, mc_satisfaction_names},
    {&mediation__v1__delivery_kind__descriptor, mc_delivery_names},
    {&mediation__v1__principal_kind__descriptor, mc_principal_names},
};

/* "DeskDisposition" -> the prefix "DESK_DISPOSITION_" its values carry. */
static void enum_prefix(const char *short_name, char *buf, size_t cap) {
  size_t n = 0;
  for (const char *p = short_name; *p && n + 2 < cap; p++) {
    if (p != short_name && isupper((unsigned char)*p))
      buf[n++] = '_';
    buf[n++] = (char)toupper((unsigned char)*p);
  }
  if (n + 1 < cap)
    buf[n++] = '_';
  buf[n] = '\0';
}

const char *pj_enum_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t cap) {
  if (desc == &mediation__v1__status_code__descriptor) {
    snprintf(buf, cap, "%s", mc_code_name((mc_code)value));
    return buf;
  }
  for (size_t i = 0; i < sizeof(enum_tables) / sizeof(enum_tables[0]); i++) {
    if (enum_tables[i].desc != desc)
      continue;
    for (const mc_name *n = enum_tables[i].names; n->name != NULL; n++) {
      if (n->value == value) {
        snprintf(buf, cap, "%s", n->name);
        return buf;
      }
    }
  }
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
  if (v == NULL) {
    snprintf(buf, cap, "%d", value); /* a value newer than this build */
    return buf;
  }
  char prefix[96];
  enum_prefix(desc->short_name, prefix, sizeof(prefix));
  const char *name = v->name;
  size_t plen = strlen(prefix);
  if (strncmp(name, prefix, plen) == 0)
    name += plen;
  size_t i = 0;
  for (; name[i] && i + 1 < cap; i++)
    buf[i] = (char)tolower((unsigned char)name[i]);
  buf[i] = '\0';
  return buf;
}

static json_object *hex_of(const ProtobufCBinaryData *b) {
  static const char digits[] = "0123456789abcdef";
  char *s = malloc(b->len * 2 + 1);
  if (s == NULL)
    return NULL;
  for (size_t i = 0; i < b->len; i++) {
    s[2 * i] = digits[b->data[i] >> 4];
    s[2 * i + 1] = digits[b->data[i] & 15];
  }
  s[b->len * 2] = '\0';
  json_object *o = json_object_new_string(s);
  free(s);
  return o;
}

/* One value of field f stored at p, in *out (NULL is JSON null for json-c:
 * an absent sub-message). False only when out of memory, so that a
 * sub-message that could not be printed is never shown as absent. */
static bool value_of(const ProtobufCFieldDescriptor *f, const void *p, json_object **out) {
  *out = NULL;
  char name[96];
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    return (*out = json_object_new_int(*(const int32_t *)p)) != NULL;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return (*out = json_object_new_int64(*(const uint32_t *)p)) != NULL;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return (*out = json_object_new_int64(*(const int64_t *)p)) != NULL;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return (*out = json_object_new_uint64(*(const uint64_t *)p)) != NULL;
  case PROTOBUF_C_TYPE_FLOAT:
    return (*out = json_object_new_double(*(const float *)p)) != NULL;
  case PROTOBUF_C_TYPE_DOUBLE:
    return (*out = json_object_new_double(*(const double *)p)) != NULL;
  case PROTOBUF_C_TYPE_BOOL:
    return (*out = json_object_new_boolean(*(const protobuf_c_boolean *)p)) != NULL;
  case PROTOBUF_C_TYPE_ENUM:
    return (*out = json_object_new_string(
        pj_enum_name(f->descriptor, *(const int *)p, name, sizeof(name)))) != NULL;
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return (*out = json_object_new_string(s ? s : "")) != NULL;
  }
  case PROTOBUF_C_TYPE_BYTES:
    return (*out = hex_of((const ProtobufCBinaryData *)p)) != NULL;
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
    if (m == NULL)
      return true;
    return (*out = pj_from_message(m)) != NULL;
  }
  }
  return false;
}

size_t pj_element_size(ProtobufCType type) {
  switch (type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_ENUM:
    return 4;
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
    return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(ProtobufCMessage *);
  }
  return 0;
}

json_object *pj_from_message(const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  json_object *obj = json_object_new_object();
  if (obj == NULL)
    return NULL;
  const char *base = (const char *)msg;
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    json_object *v;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      const char *arr = *(char *const *)(base + f->offset);
      v = json_object_new_array_ext((int)n);
      if (v == NULL)
        goto oom;
      size_t size = pj_element_size(f->type);
      for (size_t k = 0; k < n; k++) {
        json_object *e;
        if (!value_of(f, arr + k * size, &e)) {
          json_object_put(v);
          goto oom;
        }
        json_object_array_add(v, e);
      }
    } else {
      if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t set = *(const uint32_t *)(base + f->quantifier_offset);
        if (set != f->id)
          continue;
      }
      if (!value_of(f, base + f->offset, &v))
        goto oom;
    }
    if (json_object_object_add(obj, f->name, v) != 0) {
      json_object_put(v);
      goto oom;
    }
  }
  return obj;
oom:
  json_object_put(obj);
  return NULL;
}

char *pj_to_text(const ProtobufCMessage *msg, size_t *len) {
  json_object *o = pj_from_message(msg);
  if (o == NULL)
    return NULL;
  size_t n = 0;
  const char *text = json_object_to_json_string_length(
      o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  char *copy = text ? malloc(n + 1) : NULL;
  if (copy != NULL) {
    memcpy(copy, text, n + 1);
    if (len != NULL)
      *len = n;
  }
  json_object_put(o);
  return copy;
}
