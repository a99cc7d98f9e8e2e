/*
 * text.c - UTF-8 and decoded-message checks (see text.h).
 */
#include "core/i18n.h"
#include "core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mc_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false; /* continuation byte, overlong lead (C0, C1) or > F4 */
    }
    if (len - i <= n)
      return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false; /* overlong or out of range */
    if (cp >= 0xD800 && cp <= 0xDFFF)
      return false; /* UTF-16 surrogates are not characters */
    i += n + 1;
  }
  return true;
}

mc_code mc_text_check(const char *s, size_t max_bytes, const char *field, mc_err *err) {
  if (s == NULL)
    return MC_OK;
  /* strnlen, not strlen: a hostile string need not be terminated within the
   * limit, and we must not read past max_bytes + 1. */
  size_t len = strnlen(s, max_bytes + 1);
  if (len > max_bytes)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: longer than %zu bytes"), field, max_bytes);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F)
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: control character at byte %zu"), field,
                        i);
  }
  if (!mc_utf8_valid(s, len))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: not valid UTF-8"), field);
  return MC_OK;
}

const char *mc_unit_ref_rule(void) {
  return _("1-32 of A-Z, a-z, 0-9 and '-', starting with a letter"); /* MC_UNIT_REF_MAX */
}

bool mc_unit_ref_valid(const char *ref) {
  if (ref == NULL)
    return false;
  size_t len = strnlen(ref, MC_UNIT_REF_MAX + 1);
  if (len == 0 || len > MC_UNIT_REF_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = ref[i];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    bool digit = c >= '0' && c <= '9';
    if (i == 0 ? !letter : !(letter || digit || c == '-'))
      return false;
  }
  return true;
}

static mc_code check_message(const ProtobufCMessage *msg, const mc_message_limits *limits,
                             unsigned depth, char *path, size_t path_len, size_t path_cap,
                             mc_err *err);

static mc_code check_value(const ProtobufCFieldDescriptor *f, const void *value,
                           const mc_message_limits *limits, unsigned depth, char *path,
                           size_t path_len, size_t path_cap, mc_err *err) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)value;
    return mc_text_check(s, limits->max_string_bytes, path, err);
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = value;
    if (b->len > limits->max_bytes_field)
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: longer than %zu bytes"), path,
                        limits->max_bytes_field);
    return MC_OK;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)value;
    if (sub == NULL)
      return MC_OK;
    return check_message(sub, limits, depth + 1, path, path_len, path_cap, err);
  }
  default:
    return MC_OK;
  }
}

static mc_code check_message(const ProtobufCMessage *msg, const mc_message_limits *limits,
                             unsigned depth, char *path, size_t path_len, size_t path_cap,
                             mc_err *err) {
  if (depth > limits->max_depth)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: nested deeper than %u"),
                      path_len ? path : "message", limits->max_depth);
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)msg;
    /* Only the member of a oneof that is set holds a valid value. */
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
      if (which != f->id)
        continue;
    }
    int n = snprintf(path + path_len, path_cap - path_len, "%s%s", path_len ? "." : "",
                     f->name);
    size_t flen = (n < 0 || (size_t)n >= path_cap - path_len) ? path_cap - 1 : path_len + (size_t)n;
    mc_code rc = MC_OK;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t count = *(const size_t *)(base + f->quantifier_offset);
      if (count > limits->max_repeated) {
        rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: more than %zu elements"), path,
                        limits->max_repeated);
      } else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES ||
                 f->type == PROTOBUF_C_TYPE_MESSAGE) {
        size_t elem = f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
                                                       : sizeof(void *);
        const char *arr = *(const char *const *)(base + f->offset);
        for (size_t k = 0; k < count && rc == MC_OK; k++) {
          int m = snprintf(path + flen, path_cap - flen, "[%zu]", k);
          size_t elen = (m < 0 || (size_t)m >= path_cap - flen) ? path_cap - 1 : flen + (size_t)m;
          rc = check_value(f, arr + k * elem, limits, depth, path, elen, path_cap, err);
        }
      }
    } else {
      rc = check_value(f, base + f->offset, limits, depth, path, flen, path_cap, err);
    }
    path[path_len] = '\0';
    if (rc != MC_OK)
      return rc;
  }
  return MC_OK;
}

mc_code mc_message_check(const ProtobufCMessage *msg, const mc_message_limits *limits,
                         mc_err *err) {
  char path[160] = "";
  if (msg == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("message: missing"));
  return check_message(msg, limits, 0, path, 0, sizeof(path), err);
}

/* Reads a base-128 varint. Returns bytes used, 0 if malformed or truncated. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

/* Appends ".name" ("name" at the top) to the field path of path_len bytes,
 * cut to fit path_cap as snprintf would cut it; returns the new length. Runs
 * for every field of every request, so without printf's machinery (which
 * was most of the check's cost). */
static size_t path_push(char *path, size_t path_len, size_t path_cap, const char *name) {
  size_t room = path_cap - 1 - path_len;
  if (path_len > 0 && room > 0) {
    path[path_len++] = '.';
    room--;
  }
  size_t n = strlen(name);
  if (n > room)
    n = room;
  memcpy(path + path_len, name, n);
  path_len += n;
  path[path_len] = '\0';
  return path_len;
}

static mc_code wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len,
                          const mc_message_limits *limits, unsigned depth, char *path,
                          size_t path_len, size_t path_cap, mc_err *err) {
  if (depth > limits->max_depth)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: nested deeper than %u"),
                      path_len ? path : desc->short_name, limits->max_depth);
  size_t at = 0;
  while (at < len) {
    uint64_t key, n;
    size_t used = read_varint(p + at, len - at, &key);
    if (used == 0 || (key >> 3) == 0 || (key >> 3) > 536870911)
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: malformed field key at byte %zu"),
                        path_len ? path : desc->short_name, at);
    at += used;
    unsigned number = (unsigned)(key >> 3);
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, number);
    switch (key & 7) {
    case 0:
      used = read_varint(p + at, len - at, &n);
      if (used == 0)
        return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: malformed varint"),
                          path_len ? path : desc->short_name);
      at += used;
      continue;
    case 1:
    case 5: {
      size_t width = (key & 7) == 1 ? 8 : 4;
      if (len - at < width)
        return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: truncated fixed-width field"),
                          path_len ? path : desc->short_name);
      at += width;
      continue;
    }
    case 2:
      break;
    default:
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: unsupported wire type %u"),
                        path_len ? path : desc->short_name, (unsigned)(key & 7));
    }
    used = read_varint(p + at, len - at, &n);
    if (used == 0 || n > len - at - used)
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: length runs past the end"),
                        path_len ? path : desc->short_name);
    at += used;
    const uint8_t *body = p + at;
    size_t body_len = (size_t)n;
    at += body_len;
    if (f == NULL)
      continue; /* unknown field: protobuf-c keeps it aside, we need not look */
    size_t flen = path_push(path, path_len, path_cap, f->name);
    mc_code rc = MC_OK;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
      if (body_len > limits->max_string_bytes)
        rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: longer than %zu bytes"), path,
                        limits->max_string_bytes);
      else if (memchr(body, 0, body_len) != NULL)
        rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: contains a NUL byte"), path);
      else {
        /* mc_text_check wants a terminated string: checks run on a copy
         * only when the string is not already followed by a NUL we own. */
        char small[256];
        char *copy = body_len < sizeof(small) ? small : malloc(body_len + 1);
        if (copy == NULL)
          rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("%s: out of memory"), path);
        else {
          memcpy(copy, body, body_len);
          copy[body_len] = '\0';
          rc = mc_text_check(copy, limits->max_string_bytes, path, err);
          if (copy != small)
            free(copy);
        }
      }
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
      if (body_len > limits->max_bytes_field)
        rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: longer than %zu bytes"), path,
                        limits->max_bytes_field);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
      rc = wire_check(f->descriptor, body, body_len, limits, depth + 1, path, flen, path_cap,
                      err);
    }
    path[path_len] = '\0';
    if (rc != MC_OK)
      return rc;
  }
  return MC_OK;
}

mc_code mc_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      const mc_message_limits *limits, mc_err *err) {
  char path[160] = "";
  return wire_check(desc, data, len, limits, 0, path, 0, sizeof(path), err);
}
