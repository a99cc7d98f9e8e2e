/*
 * identity.c - ID numbers, phones and names as parties give them: the
 * checks of identity.h, and the one table (party_checks) that says which
 * party field gets which check, so the state machine cannot forget one.
 *
 * GB 11643-1999: the 18th character is ISO 7064 MOD 11-2 over the first 17
 * digits, weights 2^(17-i) mod 11 (7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2), the
 * sum mod 11 indexing "10X98765432". First-generation 15-digit numbers have
 * been invalid since 2013 and are refused.
 *
 * Phones are checked for shape only (a mobile: 11 digits starting with 1; a
 * landline: 0, area code, number, extension) and reduced to a normal form,
 * so "138 0000 0000" and "+86-13800000000" are one phone when search or the
 * repeat-dispute links compare them.
 */
#include "core/i18n.h"
#include "core/identity.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

char mc_id_number_check_char(const char *d17) {
  static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static const char check[] = "10X98765432";
  int sum = 0;
  for (int i = 0; i < 17; i++) {
    if (!is_digit(d17[i]))
      return '\0';
    sum += (d17[i] - '0') * weight[i];
  }
  return check[sum % 11];
}

static int num(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

static bool date_ok(int y, int m, int d) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1)
    return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

mc_code mc_id_number_check(const char *s, const char *field, mc_err *err) {
  size_t n = strnlen(s, MC_ID_NUMBER_LEN + 1);
  if (n != MC_ID_NUMBER_LEN)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s: expected 18 characters (17 digits and a check digit 0-9 or X), "
                        "got %s"),
                      field, n > MC_ID_NUMBER_LEN ? _("more") : _("fewer"));
  for (size_t i = 0; i < 17; i++)
    if (!is_digit(s[i]))
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: position %zu should be a digit"), field,
                        i + 1);
  char last = s[17] == 'x' ? 'X' : s[17];
  if (!is_digit(last) && last != 'X')
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s: position 18 should be a digit or X (the check digit)"), field);
  if (!date_ok(num(s + 6, 4), num(s + 10, 2), num(s + 12, 2)))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s: positions 7-14 should be a birth date (YYYYMMDD)"), field);
  char want = mc_id_number_check_char(s);
  if (last != want)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: check digit (position 18) should be %c"),
                      field, want);
  return MC_OK;
}

bool mc_id_number_normal(const char *s, char out[MC_ID_NUMBER_LEN + 1]) {
  out[0] = '\0';
  if (mc_id_number_check(s, "", NULL) != MC_OK)
    return false;
  memcpy(out, s, MC_ID_NUMBER_LEN);
  if (out[17] == 'x')
    out[17] = 'X';
  out[MC_ID_NUMBER_LEN] = '\0';
  return true;
}

/* ---- Phones ---------------------------------------------------------------- */

#define PHONE_GROUPS 6
#define PHONE_RULE                                                                       \
  N_("expected a mobile number (11 digits starting with 1, +86 allowed) or a landline with " \
     "its area code (0 + 2-3 digit area code + 7-8 digits, such as 0574-87654321, an "     \
     "extension after another '-')")

typedef struct phone_groups {
  char g[PHONE_GROUPS][24];
  size_t len[PHONE_GROUPS];
  size_t n;
} phone_groups;

/* Splits s into digit groups separated by one '-' or ' ' (an initial '+'
 * allowed); *bad gets the 1-based position of the first character that
 * does not fit, 0 if none. */
static bool phone_split(const char *s, phone_groups *pg, size_t *bad) {
  memset(pg, 0, sizeof(*pg));
  *bad = 0;
  size_t i = 0;
  bool plus = s[0] == '+';
  if (plus)
    i = 1;
  bool sep = true; /* the previous character ended a group (or the start) */
  for (; s[i] != '\0'; i++) {
    if (is_digit(s[i])) {
      if (sep) {
        if (pg->n == PHONE_GROUPS)
          return *bad = i + 1, false;
        pg->n++;
        sep = false;
      }
      size_t k = pg->n - 1;
      if (pg->len[k] + 1 >= sizeof(pg->g[k]))
        return *bad = i + 1, false;
      pg->g[k][pg->len[k]++] = s[i];
    } else if ((s[i] == '-' || s[i] == ' ') && !sep) {
      sep = true;
    } else {
      return *bad = i + 1, false;
    }
  }
  if (pg->n == 0 || sep)
    return *bad = i + (i == 0), false;
  if (plus && strcmp(pg->g[0], "86") != 0 && strncmp(pg->g[0], "86", 2) != 0)
    return *bad = 2, false;
  return true;
}

static bool put(char out[MC_PHONE_NORM_MAX], const char *a, size_t na, const char *b,
                size_t nb) {
  if (na + nb >= MC_PHONE_NORM_MAX)
    return false;
  memcpy(out, a, na);
  memcpy(out + na, b, nb);
  out[na + nb] = '\0';
  return true;
}

/* The normal form, or false if the groups are not a phone. */
static bool phone_parse(const phone_groups *pg, char out[MC_PHONE_NORM_MAX]) {
  char all[PHONE_GROUPS * 24] = "";
  for (size_t k = 0; k < pg->n; k++)
    strcat(all, pg->g[k]);
  size_t n = strlen(all);
  /* A mobile: 11 digits from 1, after an optional 86, grouped as one likes. */
  const char *m = all;
  if (n == 13 && strncmp(all, "86", 2) == 0)
    m = all + 2;
  if (strlen(m) == 11 && m[0] == '1')
    return put(out, m, 11, "", 0);
  if (all[0] != '0')
    return false;
  if (pg->n == 1) { /* no separators: no extension can be told apart */
    if (n < 10 || n > 12)
      return false;
    return put(out, all, n, "", 0);
  }
  /* area, number (one group or two), extension */
  if (pg->len[0] < 3 || pg->len[0] > 4)
    return false;
  size_t k = 1, local = pg->len[1];
  if (local < 7 && pg->n > 2 && local + pg->len[2] >= 7 && local + pg->len[2] <= 8) {
    local += pg->len[2];
    k = 2;
  }
  if (local < 7 || local > 8)
    return false;
  k++;
  if (k < pg->n && (pg->len[k] < 1 || pg->len[k] > 6 || k + 1 != pg->n))
    return false;
  if (k + 1 < pg->n)
    return false;
  char number[24];
  memcpy(number, pg->g[1], pg->len[1]);
  if (pg->len[1] < local)
    memcpy(number + pg->len[1], pg->g[2], pg->len[2]);
  return put(out, pg->g[0], pg->len[0], number, local);
}

mc_code mc_phone_check(const char *s, const char *field, mc_err *err) {
  phone_groups pg;
  size_t bad;
  char norm[MC_PHONE_NORM_MAX];
  if (strnlen(s, 33) > 32)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: longer than 32 characters; %s"), field,
                      _(PHONE_RULE));
  if (!phone_split(s, &pg, &bad))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: position %zu does not fit; %s"), field,
                      bad, _(PHONE_RULE));
  if (!phone_parse(&pg, norm))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: %s"), field, _(PHONE_RULE));
  return MC_OK;
}

bool mc_phone_normal(const char *s, char out[MC_PHONE_NORM_MAX]) {
  phone_groups pg;
  size_t bad;
  out[0] = '\0';
  if (strnlen(s, 33) > 32 || !phone_split(s, &pg, &bad) || !phone_parse(&pg, out)) {
    out[0] = '\0';
    return false;
  }
  return true;
}

/* ---- Names ------------------------------------------------------------------ */

/* U+202A-U+202E are E2 80 AA-AE; U+2066-U+2069 are E2 81 A6-A9. */
static size_t bidi_at(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  if (u[0] != 0xE2)
    return 0;
  if (u[1] == 0x80 && u[2] >= 0xAA && u[2] <= 0xAE)
    return 3;
  if (u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9)
    return 3;
  return 0;
}

bool mc_has_bidi_controls(const char *s) {
  for (; *s != '\0'; s++)
    if (bidi_at(s))
      return true;
  return false;
}

size_t mc_strip_bidi_controls(const char *s, char *out) {
  size_t o = 0;
  while (*s != '\0') {
    size_t skip = bidi_at(s);
    if (skip) {
      s += skip;
      continue;
    }
    out[o++] = *s++;
  }
  out[o] = '\0';
  return o;
}

/* ---- The table ---------------------------------------------------------------- */

static mc_code name_check(const char *s, const char *field, mc_err *err) {
  for (const char *c = s; *c != '\0'; c += bidi_at(c) ? 3 : 1)
    if (!bidi_at(c) && *c != ' ' && *c != '\t')
      return MC_OK;
  return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: required"), field);
}

typedef struct party_check {
  const char *field;
  size_t offset; /* of the char * in mv_party */
  bool required; /* else an empty value is not checked */
  mc_code (*check)(const char *s, const char *field, mc_err *err);
} party_check;

static const party_check party_checks[] = {
    {"name", offsetof(mv_party, name), true, name_check},
    {"id_number", offsetof(mv_party, id_number), false, mc_id_number_check},
    {"phone", offsetof(mv_party, phone), false, mc_phone_check},
};

mc_code mc_party_identity_check(const mv_party *p, const char *prefix, mc_err *err) {
  char field[96];
  for (size_t i = 0; i < sizeof(party_checks) / sizeof(party_checks[0]); i++) {
    const party_check *c = &party_checks[i];
    const char *v = *(char *const *)((const char *)p + c->offset);
    if (v == NULL)
      v = "";
    if (v[0] == '\0' && !c->required)
      continue;
    snprintf(field, sizeof(field), "%s.%s", prefix, c->field);
    mc_code rc = c->check(v, field, err);
    if (rc != MC_OK)
      return rc;
  }
  return MC_OK;
}
