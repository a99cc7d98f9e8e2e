/*
 * ids.c - case ids and aliases (see ids.h).
 */
#include "core/i18n.h"
#include "core/ids.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

mc_code mc_case_id_format(const char *prefix, int year, uint64_t serial, char *buf, size_t cap,
                          mc_err *err) {
  if (year < 1000 || year > 9999)
    return mc_err_set(err, MC_OUT_OF_RANGE, _("case id: year %d out of range"), year);
  int n = snprintf(buf, cap, "%s-%04d-%06" PRIu64, prefix, year, serial);
  if (n < 0 || (size_t)n >= cap)
    return mc_err_set(err, MC_OUT_OF_RANGE, _("case id: longer than %zu bytes"), cap - 1);
  return MC_OK;
}

bool mc_case_id_parse(const char *s, int *year, uint64_t *serial) {
  size_t len = strnlen(s, MC_CASE_ID_MAX);
  if (len >= MC_CASE_ID_MAX)
    return false;
  size_t i = 0;
  while (i < len && (isupper((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
    i++;
  if (i == 0 || i > 8 || s[i] != '-')
    return false;
  i++;
  int y = 0;
  for (int k = 0; k < 4; k++, i++) {
    if (!isdigit((unsigned char)s[i]))
      return false;
    y = y * 10 + (s[i] - '0');
  }
  if (s[i] != '-')
    return false;
  i++;
  size_t digits = 0;
  uint64_t v = 0;
  for (; i < len; i++, digits++) {
    if (!isdigit((unsigned char)s[i]) || digits >= 18)
      return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (digits < 6)
    return false;
  if (year)
    *year = y;
  if (serial)
    *serial = v;
  return true;
}

bool mc_case_alias_parse(const char *s, char *unit, size_t cap, const char **ref) {
  const char *colon = strchr(s, ':');
  if (colon == NULL || colon == s || colon[1] == '\0')
    return false;
  size_t n = (size_t)(colon - s);
  if (n >= cap)
    return false;
  memcpy(unit, s, n);
  unit[n] = '\0';
  *ref = colon + 1;
  return true;
}
