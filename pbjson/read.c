/*
 * read.c - the parse direction: JSON into a protobuf-c message, through the
 * descriptor, accepting exactly the shape pbjson.c prints (pbjson.h lists
 * the conventions) and refusing anything else with the path of the field
 * ("action.parties[1].phone: expected a string").
 *
 * Memory: the message is laid out as protobuf_c_message_unpack lays it out
 * with the default allocator (malloc'd message, strings, bytes, arrays and
 * sub-messages; untouched fields keep the values protobuf_c_message_init
 * gives), so protobuf_c_message_free_unpacked(m, NULL) frees it. The message
 * is kept freeable at every step (a pointer is stored before what it points
 * to is filled, a repeated field's count grows one element at a time, a
 * oneof's case is set before its member), so a refusal halfway just frees
 * what was built.
 *
 * Language: the sentence of a refusal is translated (core/i18n.h, in the
 * calling thread's language: the web gateway's browser, mediactl's LANG);
 * the field path and the names in it stay as the contract spells them.
 *
 * Presence: the contract is proto3 without `optional`; for a field with a
 * has_ flag (LABEL_OPTIONAL) the flag is set when the key is present, and a
 * LABEL_REQUIRED field must be present, so the walk stays right for any
 * protobuf-c message.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "pbjson/internal.h"
#include "pbjson/pbjson.h"

typedef struct rd {
  mc_err *err;
  int depth;
  pj_path path; /* of the value being read, for refusals */
} rd;

static mc_code bad(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static mc_code bad(rd *r, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (r->path.len > 0)
    return mc_err_set(r->err, MC_INVALID_ARGUMENT, "%s: %s", r->path.text, msg);
  return mc_err_set(r->err, MC_INVALID_ARGUMENT, "%s", msg);
}

static mc_code oom(rd *r) {
  return mc_err_set(r->err, MC_RESOURCE_EXHAUSTED, _("out of memory reading JSON"));
}

static const char *json_kind(json_object *v) {
  switch (json_object_get_type(v)) {
  case json_type_null:
    return "null"; /* as typed: JSON's own word */
  case json_type_boolean:
    return _("a boolean");
  case json_type_double:
    return _("a fraction");
  case json_type_int:
    return _("a number");
  case json_type_object:
    return _("an object");
  case json_type_array:
    return _("an array");
  case json_type_string:
    return _("a string");
  }
  return _("something else");
}

/* An integer value as sign and magnitude: a JSON integer, or with
 * allow_string a decimal string ("-12"; int64 and uint64 only). */
static mc_code get_integer(rd *r, json_object *v, bool allow_string, bool *neg, uint64_t *mag) {
  *neg = false;
  *mag = 0;
  if (json_object_is_type(v, json_type_int)) {
    int64_t i = json_object_get_int64(v);
    if (i < 0) {
      *neg = true;
      *mag = (uint64_t)(-(i + 1)) + 1;
    } else if (i == INT64_MAX) {
      *mag = json_object_get_uint64(v); /* json-c keeps larger values as uint64 */
    } else {
      *mag = (uint64_t)i;
    }
    return MC_OK;
  }
  if (allow_string && json_object_is_type(v, json_type_string)) {
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v), i = 0;
    if (len > 0 && s[0] == '-') {
      *neg = true;
      i = 1;
    }
    if (i == len)
      return bad(r, _("expected a decimal integer in the string"));
    for (; i < len; i++) {
      if (s[i] < '0' || s[i] > '9')
        return bad(r, _("expected a decimal integer in the string"));
      uint64_t d = (uint64_t)(s[i] - '0');
      if (*mag > (UINT64_MAX - d) / 10)
        return bad(r, _("integer out of range"));
      *mag = *mag * 10 + d;
    }
    return MC_OK;
  }
  if (json_object_is_type(v, json_type_double))
    return bad(r, _("expected an integer, not a fraction"));
  return bad(r, _("expected an integer%s, not %s"), allow_string ? _(" (number or decimal string)") : "",
             json_kind(v));
}

static mc_code get_signed(rd *r, json_object *v, bool allow_string, int64_t min, int64_t max,
                          int64_t *out) {
  bool neg;
  uint64_t mag;
  mc_code rc = get_integer(r, v, allow_string, &neg, &mag);
  if (rc != MC_OK)
    return rc;
  uint64_t limit = neg ? (uint64_t)(-(min + 1)) + 1 : (uint64_t)max;
  if (mag > limit)
    return bad(r, _("integer out of range (%lld to %lld)"), (long long)min, (long long)max);
  *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
  return MC_OK;
}

static mc_code get_unsigned(rd *r, json_object *v, bool allow_string, uint64_t max,
                            uint64_t *out) {
  bool neg;
  uint64_t mag;
  mc_code rc = get_integer(r, v, allow_string, &neg, &mag);
  if (rc != MC_OK)
    return rc;
  if (neg && mag != 0)
    return bad(r, _("negative value for an unsigned field"));
  if (mag > max)
    return bad(r, _("integer out of range (0 to %llu)"), (unsigned long long)max);
  *out = mag;
  return MC_OK;
}

static mc_code get_enum(rd *r, const ProtobufCEnumDescriptor *e, json_object *v, int *out) {
  if (json_object_is_type(v, json_type_string)) {
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    char name[96];
    for (unsigned i = 0; i < e->n_values; i++) {
      pj_enum_name(e, e->values[i].value, name, sizeof(name));
      if (strlen(name) == len && memcmp(name, s, len) == 0) {
        *out = e->values[i].value;
        return MC_OK;
      }
    }
    return bad(r, _("unknown name for enum %s"), e->short_name);
  }
  if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
    int64_t n;
    mc_code rc = get_signed(r, v, false, INT32_MIN, INT32_MAX, &n);
    if (rc != MC_OK)
      return rc;
    if (protobuf_c_enum_descriptor_get_value(e, (int)n) == NULL)
      return bad(r, _("%lld is no value of enum %s"), (long long)n, e->short_name);
    *out = (int)n;
    return MC_OK;
  }
  return bad(r, _("expected a name of enum %s (or its number), not %s"), e->short_name, json_kind(v));
}

static mc_code get_string(rd *r, json_object *v, char **out) {
  if (!json_object_is_type(v, json_type_string))
    return bad(r, _("expected a string, not %s"), json_kind(v));
  const unsigned char *s = (const unsigned char *)json_object_get_string(v);
  size_t len = (size_t)json_object_get_string_len(v);
  for (size_t i = 0; i < len;) {
    if (s[i] == 0)
      return bad(r, _("NUL character in a string"));
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t n = pj_utf8_len(s + i, s + len);
    if (n == 0)
      return bad(r, _("invalid UTF-8 in a string"));
    i += n;
  }
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return oom(r);
  memcpy(copy, s, len);
  copy[len] = '\0';
  *out = copy;
  return MC_OK;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static mc_code get_bytes(rd *r, json_object *v, ProtobufCBinaryData *out) {
  if (!json_object_is_type(v, json_type_string))
    return bad(r, _("expected hex digits in a string, not %s"), json_kind(v));
  const char *s = json_object_get_string(v);
  size_t len = (size_t)json_object_get_string_len(v);
  if (len % 2 != 0)
    return bad(r, _("odd number of hex digits"));
  for (size_t i = 0; i < len; i++)
    if (hex_value(s[i]) < 0)
      return bad(r, _("not a hex digit at position %zu"), i);
  if (len == 0) {
    *out = (ProtobufCBinaryData){0, NULL};
    return MC_OK;
  }
  uint8_t *data = malloc(len / 2);
  if (data == NULL)
    return oom(r);
  for (size_t i = 0; i < len / 2; i++)
    data[i] = (uint8_t)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
  *out = (ProtobufCBinaryData){len / 2, data};
  return MC_OK;
}

static mc_code get_double(rd *r, json_object *v, double *out) {
  if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
    return bad(r, _("expected a number, not %s"), json_kind(v));
  double d = json_object_get_double(v);
  if (!isfinite(d))
    return bad(r, _("number out of range"));
  *out = d;
  return MC_OK;
}

static mc_code read_message(rd *r, json_object *o, ProtobufCMessage *m);

/* A new, initialised sub-message of desc, stored at slot before it is
 * filled (so the parent frees it on a refusal), then filled from v. */
static mc_code read_sub_message(rd *r, const ProtobufCMessageDescriptor *desc, json_object *v,
                                ProtobufCMessage **slot) {
  if (!json_object_is_type(v, json_type_object))
    return bad(r, _("expected an object (%s), not %s"), desc->short_name, json_kind(v));
  ProtobufCMessage *m = malloc(desc->sizeof_message);
  if (m == NULL)
    return oom(r);
  protobuf_c_message_init(desc, m);
  *slot = m;
  return read_message(r, v, m);
}

/* One value of field f from v into slot (a field of the message, or an
 * element of a repeated field's array). */
static mc_code read_value(rd *r, const ProtobufCFieldDescriptor *f, json_object *v, void *slot) {
  mc_code rc;
  int64_t i;
  uint64_t u;
  double d;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    if ((rc = get_signed(r, v, false, INT32_MIN, INT32_MAX, &i)) == MC_OK)
      *(int32_t *)slot = (int32_t)i;
    return rc;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    if ((rc = get_unsigned(r, v, false, UINT32_MAX, &u)) == MC_OK)
      *(uint32_t *)slot = (uint32_t)u;
    return rc;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if ((rc = get_signed(r, v, true, INT64_MIN, INT64_MAX, &i)) == MC_OK)
      *(int64_t *)slot = i;
    return rc;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if ((rc = get_unsigned(r, v, true, UINT64_MAX, &u)) == MC_OK)
      *(uint64_t *)slot = u;
    return rc;
  case PROTOBUF_C_TYPE_FLOAT:
    if ((rc = get_double(r, v, &d)) != MC_OK)
      return rc;
    if (d > FLT_MAX || d < -FLT_MAX)
      return bad(r, _("number out of range for a float"));
    *(float *)slot = (float)d;
    return MC_OK;
  case PROTOBUF_C_TYPE_DOUBLE:
    if ((rc = get_double(r, v, &d)) == MC_OK)
      *(double *)slot = d;
    return rc;
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_object_is_type(v, json_type_boolean))
      return bad(r, _("expected true or false, not %s"), json_kind(v));
    *(protobuf_c_boolean *)slot = json_object_get_boolean(v) ? 1 : 0;
    return MC_OK;
  case PROTOBUF_C_TYPE_ENUM:
    return get_enum(r, f->descriptor, v, (int *)slot);
  case PROTOBUF_C_TYPE_STRING:
    return get_string(r, v, (char **)slot);
  case PROTOBUF_C_TYPE_BYTES:
    return get_bytes(r, v, (ProtobufCBinaryData *)slot);
  case PROTOBUF_C_TYPE_MESSAGE:
    return read_sub_message(r, f->descriptor, v, (ProtobufCMessage **)slot);
  }
  return bad(r, _("field type %d not supported"), (int)f->type);
}

static mc_code read_repeated(rd *r, const ProtobufCFieldDescriptor *f, json_object *v, char *base) {
  if (!json_object_is_type(v, json_type_array))
    return bad(r, _("expected an array, not %s"), json_kind(v));
  size_t n = json_object_array_length(v);
  if (n == 0)
    return MC_OK;
  if (++r->depth > PJ_MAX_DEPTH)
    return bad(r, _("nesting deeper than %d"), PJ_MAX_DEPTH);
  size_t size = pj_element_size(f->type);
  char *arr = calloc(n, size);
  if (arr == NULL)
    return oom(r);
  size_t *count = (size_t *)(base + f->quantifier_offset);
  *(void **)(base + f->offset) = arr;
  *count = 0;
  for (size_t k = 0; k < n; k++) {
    json_object *e = json_object_array_get_idx(v, k);
    size_t saved = pj_path_push_index(&r->path, k);
    if (e == NULL || json_object_is_type(e, json_type_null))
      return bad(r, _("null in a repeated field"));
    /* Counted before filling: the element is zeroed (NULL pointers, which
     * protobuf_c_message_free_unpacked skips), and a half-filled
     * sub-message is then freed with the rest. */
    *count = k + 1;
    mc_code rc = read_value(r, f, e, arr + k * size);
    if (rc != MC_OK)
      return rc;
    pj_path_pop(&r->path, saved);
  }
  r->depth--;
  return MC_OK;
}

static mc_code read_message(rd *r, json_object *o, ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  char *base = (char *)m;
  if (++r->depth > PJ_MAX_DEPTH)
    return bad(r, _("nesting deeper than %d"), PJ_MAX_DEPTH);
  json_object_object_foreach(o, k, v) {
    size_t saved = pj_path_push_key(&r->path, k, strlen(k));
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, k);
    if (f == NULL)
      return bad(r, _("unknown field of %s"), d->short_name);
    if (json_object_is_type(v, json_type_null) && f->type == PROTOBUF_C_TYPE_MESSAGE &&
        f->label != PROTOBUF_C_LABEL_REPEATED) {
      pj_path_pop(&r->path, saved); /* null sub-message: absent */
      continue;
    }
    mc_code rc;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      rc = read_repeated(r, f, v, base);
    } else {
      if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
        if (*which != 0) {
          const ProtobufCFieldDescriptor *other =
              protobuf_c_message_descriptor_get_field(d, *which);
          return bad(r, _("only one member of a oneof may be set (also %s)"),
                     other ? other->name : _("another"));
        }
        *which = f->id;
      } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                 f->type != PROTOBUF_C_TYPE_STRING) {
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
      }
      rc = read_value(r, f, v, base + f->offset);
    }
    if (rc != MC_OK)
      return rc;
    pj_path_pop(&r->path, saved);
  }
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->label == PROTOBUF_C_LABEL_REQUIRED && !json_object_object_get_ex(o, f->name, NULL)) {
      size_t saved = pj_path_push_key(&r->path, f->name, strlen(f->name));
      mc_code rc = bad(r, _("missing (a required field)"));
      pj_path_pop(&r->path, saved);
      return rc;
    }
  }
  r->depth--;
  return MC_OK;
}

mc_code pj_from_json(const ProtobufCMessageDescriptor *desc, json_object *o,
                     ProtobufCMessage **out, mc_err *err) {
  *out = NULL;
  rd r = {.err = err};
  if (desc == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("no message type"));
  if (!json_object_is_type(o, json_type_object))
    return bad(&r, _("expected a JSON object (%s), not %s"), desc->short_name, json_kind(o));
  ProtobufCMessage *m = malloc(desc->sizeof_message);
  if (m == NULL)
    return oom(&r);
  protobuf_c_message_init(desc, m);
  mc_code rc = read_message(&r, o, m);
  if (rc != MC_OK) {
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
  }
  *out = m;
  return MC_OK;
}

mc_code pj_to_message(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                      ProtobufCMessage **out, mc_err *err) {
  *out = NULL;
  if (len > INT32_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("JSON text too long"));
  mc_code rc = pj_scan_text(json, len, err);
  if (rc != MC_OK)
    return rc;
  size_t first = 0;
  while (first < len && (json[first] == ' ' || json[first] == '\t' || json[first] == '\n' ||
                         json[first] == '\r'))
    first++;
  if (first == len || json[first] != '{')
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("expected a JSON object (%s)"),
                      desc ? desc->short_name : "?");
  struct json_tokener *tok = json_tokener_new_ex(PJ_MAX_DEPTH);
  if (tok == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory reading JSON"));
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, json, (int)len);
  enum json_tokener_error e = json_tokener_get_error(tok);
  json_tokener_free(tok);
  if (o == NULL || e != json_tokener_success) {
    json_object_put(o);
    /* The scan above passed, so this is json-c running out of memory or
     * disagreeing with RFC 8259 in a way the scan did not foresee. */
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("malformed JSON: %s"), json_tokener_error_desc(e));
  }
  rc = pj_from_json(desc, o, out, err);
  json_object_put(o);
  return rc;
}
