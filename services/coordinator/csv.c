/*
 * csv.c - RFC 4180 CSV with a UTF-8 byte order mark, for spreadsheets (see
 * csv.h for the rules and why each is there).
 */
#include "services/coordinator/csv.h"

#include <stdbool.h>
#include <string.h>

int ctl_csv_begin(FILE *out) {
  return fputs("\xEF\xBB\xBF", out) < 0 ? -1 : 0;
}

static bool needs_quotes(const char *s) {
  size_t len = strlen(s);
  return strpbrk(s, ",\"\r\n") != NULL || (len > 0 && (s[0] == ' ' || s[len - 1] == ' '));
}

/* A spreadsheet would evaluate it: "=1+2", "+86...", "-1", "@SUM(...)". */
static bool formula_like(const char *s) {
  return s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t';
}

static int field(FILE *out, const char *s) {
  bool quote = needs_quotes(s);
  if (quote && fputc('"', out) == EOF)
    return -1;
  if (formula_like(s) && fputc('\'', out) == EOF)
    return -1;
  for (const char *p = s; *p != '\0'; p++) {
    if (*p == '"' && fputc('"', out) == EOF)
      return -1;
    if (fputc(*p, out) == EOF)
      return -1;
  }
  if (quote && fputc('"', out) == EOF)
    return -1;
  return 0;
}

int ctl_csv_row(FILE *out, const char *const *cells, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && fputc(',', out) == EOF)
      return -1;
    if (field(out, cells[i] ? cells[i] : "") != 0)
      return -1;
  }
  return fputs("\r\n", out) < 0 ? -1 : 0;
}
