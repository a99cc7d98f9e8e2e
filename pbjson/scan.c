/*
 * scan.c - the strict check of JSON text before json-c parses it.
 *
 * Why a second pass: json-c is lenient where a gateway must not be. Even
 * with JSON_TOKENER_STRICT it takes single-quoted strings and NaN, keeps
 * the last of two equal keys ({"person":"a","person":"b"} would mean
 * whatever the last one says, whatever a proxy or log in front read), and
 * clamps integers beyond 64 bits to the nearest limit instead of refusing
 * them. This pass walks the text once by RFC 8259's grammar and refuses all
 * of that with the path of the value ("action.parties[1]: duplicate key
 * \"phone\""), so json-c only ever sees text whose meaning is unambiguous.
 * Recursion is bounded by PJ_MAX_DEPTH, checked before descending.
 *
 * Language: as read.c, the sentence of a refusal is translated into the
 * calling thread's language (the gateway's browser, mediactl's LANG); the
 * path before it and the byte offset stay as they are.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "pbjson/internal.h"
#include "pbjson/pbjson.h"

typedef struct scan {
  const unsigned char *start, *p, *end;
  int depth;
  mc_err *err;
  pj_path path; /* of the value being scanned, for refusals */
} scan;

/* One key of an object: a slice of the text when it has no escapes, else
 * its decoded bytes (owned). */
typedef struct key {
  const char *data;
  size_t len;
  bool owned;
} key;

static mc_code fail(scan *s, mc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mc_code fail(scan *s, mc_code code, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (s->path.len > 0)
    return mc_err_set(s->err, code, "%s: %s", s->path.text, msg);
  return mc_err_set(s->err, code, "%s", msg);
}

static mc_code syntax(scan *s, const char *what) {
  return fail(s, MC_INVALID_ARGUMENT, _("malformed JSON at byte %zu: %s"),
              (size_t)(s->p - s->start), what);
}

static void skip_ws(scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int hex_digit(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Four hex digits after "\u" at s->p; -1 if not. */
static long hex4(scan *s) {
  if (s->end - s->p < 4)
    return -1;
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int d = hex_digit(s->p[i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  s->p += 4;
  return v;
}

size_t pj_utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0;
    if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90;
    if (c == 0xf4)
      hi = 0x8f;
  } else
    return 0;
  if ((size_t)(end - p) < n)
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return n;
}

static void put_utf8(char *out, size_t *n, unsigned long cp) {
  if (cp < 0x80) {
    out[(*n)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*n)++] = (char)(0xc0 | (cp >> 6));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out[(*n)++] = (char)(0xe0 | (cp >> 12));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else {
    out[(*n)++] = (char)(0xf0 | (cp >> 18));
    out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  }
}

/* The string at s->p (its opening quote). With k, the decoded key: a slice
 * of the text if it has no escape, else malloc'd (decoded is never longer
 * than the text: an escape of 2, 6 or 12 bytes becomes 1 to 4). */
static mc_code scan_string(scan *s, key *k) {
  const unsigned char *open = ++s->p;
  bool escaped = false;
  while (true) {
    if (s->p >= s->end)
      return syntax(s, _("unterminated string"));
    unsigned char c = *s->p;
    if (c == '"')
      break;
    if (c < 0x20)
      return syntax(s, _("control character in a string (escape it)"));
    if (c == '\\') {
      escaped = true;
      if (++s->p >= s->end)
        return syntax(s, _("unterminated string"));
      c = *s->p++;
      if (c == 'u') {
        long u = hex4(s);
        if (u < 0)
          return syntax(s, _("bad \\u escape"));
        if (u >= 0xdc00 && u <= 0xdfff)
          return syntax(s, _("lone UTF-16 surrogate in a \\u escape"));
        if (u >= 0xd800 && u <= 0xdbff) {
          if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
            return syntax(s, _("lone UTF-16 surrogate in a \\u escape"));
          s->p += 2;
          long lo = hex4(s);
          if (lo < 0xdc00 || lo > 0xdfff)
            return syntax(s, _("lone UTF-16 surrogate in a \\u escape"));
        }
      } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
        return syntax(s, _("bad escape in a string"));
      }
      continue;
    }
    if (c >= 0x80) {
      size_t n = pj_utf8_len(s->p, s->end);
      if (n == 0)
        return fail(s, MC_INVALID_ARGUMENT, _("invalid UTF-8 at byte %zu"),
                    (size_t)(s->p - s->start));
      s->p += n;
      continue;
    }
    s->p++;
  }
  const unsigned char *close = s->p++;
  if (k == NULL)
    return MC_OK;
  if (!escaped) {
    *k = (key){(const char *)open, (size_t)(close - open), false};
    return MC_OK;
  }
  /* Decode: the text is known to be well formed here. */
  char *out = malloc((size_t)(close - open) + 1);
  if (out == NULL)
    return fail(s, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  size_t n = 0;
  for (const unsigned char *q = open; q < close;) {
    if (*q != '\\') {
      out[n++] = (char)*q++;
      continue;
    }
    q++;
    unsigned char c = *q++;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (c != 'u') {
      out[n++] = to[strchr(from, c) - from];
      continue;
    }
    unsigned long cp = 0;
    for (int i = 0; i < 4; i++)
      cp = cp * 16 + (unsigned long)hex_digit(*q++);
    if (cp >= 0xd800 && cp <= 0xdbff) {
      unsigned long lo = 0;
      q += 2;
      for (int i = 0; i < 4; i++)
        lo = lo * 16 + (unsigned long)hex_digit(*q++);
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0) { /* json-c's keys are C strings: "a\u0000b" would be "a" */
      free(out);
      return syntax(s, _("NUL character in a key"));
    }
    put_utf8(out, &n, cp);
  }
  *k = (key){out, n, true};
  return MC_OK;
}

/* A number by the JSON grammar; an integer (no fraction or exponent) must
 * fit int64 when negative and uint64 when not. */
static mc_code scan_number(scan *s) {
  const unsigned char *p = s->p;
  bool negative = false;
  if (p < s->end && *p == '-') {
    negative = true;
    p++;
  }
  const unsigned char *digits = p;
  if (p >= s->end || *p < '0' || *p > '9')
    return syntax(s, _("bad number"));
  if (*p == '0') {
    p++;
  } else {
    while (p < s->end && *p >= '0' && *p <= '9')
      p++;
  }
  size_t ndigits = (size_t)(p - digits);
  bool integer = true;
  if (p < s->end && *p == '.') {
    integer = false;
    p++;
    if (p >= s->end || *p < '0' || *p > '9')
      return syntax(s, _("bad number"));
    while (p < s->end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < s->end && (*p == 'e' || *p == 'E')) {
    integer = false;
    p++;
    if (p < s->end && (*p == '+' || *p == '-'))
      p++;
    if (p >= s->end || *p < '0' || *p > '9')
      return syntax(s, _("bad number"));
    while (p < s->end && *p >= '0' && *p <= '9')
      p++;
  }
  if (integer) {
    const char *limit = negative ? "9223372036854775808" : "18446744073709551615";
    size_t llen = strlen(limit);
    if (ndigits > llen || (ndigits == llen && memcmp(digits, limit, llen) > 0))
      return fail(s, MC_INVALID_ARGUMENT, _("integer out of the 64-bit range"));
  }
  s->p = p;
  return MC_OK;
}

static mc_code scan_value(scan *s);

static int key_cmp(const void *a, const void *b) {
  const key *x = a, *y = b;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return memcmp(x->data, y->data, x->len);
}

static void keys_free(key *keys, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (keys[i].owned)
      free((char *)keys[i].data);
  free(keys);
}

static mc_code scan_object(scan *s) {
  s->p++; /* '{' */
  key *keys = NULL;
  size_t n = 0, cap = 0;
  mc_code rc = MC_OK;
  skip_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return MC_OK;
  }
  while (true) {
    skip_ws(s);
    if (s->p >= s->end || *s->p != '"') {
      rc = syntax(s, _("expected a key in double quotes"));
      break;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      key *grown = realloc(keys, ncap * sizeof(*keys));
      if (grown == NULL) {
        rc = fail(s, MC_RESOURCE_EXHAUSTED, _("out of memory"));
        break;
      }
      keys = grown;
      cap = ncap;
    }
    if ((rc = scan_string(s, &keys[n])) != MC_OK)
      break;
    n++;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':') {
      rc = syntax(s, _("expected ':' after a key"));
      break;
    }
    s->p++;
    size_t saved = pj_path_push_key(&s->path, keys[n - 1].data, keys[n - 1].len);
    rc = scan_value(s);
    if (rc != MC_OK)
      break;
    pj_path_pop(&s->path, saved);
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == '}') {
      s->p++;
      break;
    }
    rc = syntax(s, _("expected ',' or '}' in an object"));
    break;
  }
  if (rc == MC_OK && n > 1) {
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (size_t i = 1; i < n; i++) {
      if (key_cmp(&keys[i - 1], &keys[i]) == 0) {
        size_t saved = pj_path_push_key(&s->path, keys[i].data, keys[i].len);
        rc = fail(s, MC_INVALID_ARGUMENT, _("duplicate key"));
        pj_path_pop(&s->path, saved);
        break;
      }
    }
  }
  keys_free(keys, n);
  return rc;
}

static mc_code scan_array(scan *s) {
  s->p++; /* '[' */
  skip_ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    return MC_OK;
  }
  for (size_t i = 0;; i++) {
    size_t saved = pj_path_push_index(&s->path, i);
    mc_code rc = scan_value(s);
    if (rc != MC_OK)
      return rc;
    pj_path_pop(&s->path, saved);
    skip_ws(s);
    if (s->p < s->end && *s->p == ',') {
      s->p++;
      continue;
    }
    if (s->p < s->end && *s->p == ']') {
      s->p++;
      return MC_OK;
    }
    return syntax(s, _("expected ',' or ']' in an array"));
  }
}

static mc_code literal(scan *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return syntax(s, _("unexpected character"));
  s->p += n;
  return MC_OK;
}

static mc_code scan_value(scan *s) {
  skip_ws(s);
  if (s->p >= s->end)
    return syntax(s, _("unexpected end"));
  switch (*s->p) {
  case '{':
  case '[': {
    if (++s->depth > PJ_MAX_DEPTH)
      return fail(s, MC_INVALID_ARGUMENT, _("nesting deeper than %d"), PJ_MAX_DEPTH);
    mc_code rc = *s->p == '{' ? scan_object(s) : scan_array(s);
    s->depth--;
    return rc;
  }
  case '"':
    return scan_string(s, NULL);
  case 't':
    return literal(s, "true");
  case 'f':
    return literal(s, "false");
  case 'n':
    return literal(s, "null");
  default:
    if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
      return scan_number(s);
    return syntax(s, _("unexpected character"));
  }
}

mc_code pj_scan_text(const char *text, size_t len, mc_err *err) {
  if (text == NULL || len == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("empty JSON text"));
  scan s = {.start = (const unsigned char *)text,
            .p = (const unsigned char *)text,
            .end = (const unsigned char *)text + len,
            .err = err};
  mc_code rc = scan_value(&s);
  if (rc != MC_OK)
    return rc;
  skip_ws(&s);
  if (s.p != s.end)
    return syntax(&s, _("text after the JSON value"));
  return MC_OK;
}
