/*
 * english.h - the test's one rule for "an English sentence is left in what a
 * Chinese user sees": three or more English words in a row. Ids, options and
 * placeholders are not words (police-studio, --unit, CASE, take_in,
 * FAILED_PRECONDITION), nor is anything in backticks. Shared by the
 * i18n tests so they judge alike.
 */
#ifndef TESTS_I18N_ENGLISH_H
#define TESTS_I18N_ENGLISH_H

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A whitespace-separated token, stripped of ASCII punctuation at its ends,
 * is an English word when it is letters only (an apostrophe inside
 * allowed), lower case or capitalised: "the", "Usage", "parties'". */
static inline bool en_is_word(const char *t, size_t n) {
  while (n > 0 && strchr("()[]{},.;:!?\"<>|", t[0]) != NULL)
    t++, n--;
  while (n > 0 && strchr("()[]{},.;:!?\"<>|", t[n - 1]) != NULL)
    n--;
  if (n == 0)
    return false;
  bool upper_rest = false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c == '\'' && i > 0)
      continue;
    if (!isalpha(c))
      return false;
    if (i > 0 && isupper(c))
      upper_rest = true;
  }
  return !upper_rest; /* KIND, CASE: placeholders */
}

/* Writes the first run of 3+ English words of text into found (cap bytes)
 * and returns true; false when there is none. */
static inline bool en_sentence(const char *text, char *found, size_t cap) {
  int run = 0;
  const char *run_start = NULL;
  bool in_ticks = false, in_command = false;
  const char *p = text;
  while (*p) {
    if (*p == '`') {
      in_ticks = !in_ticks;
      p++;
      run = 0;
      continue;
    }
    if (isspace((unsigned char)*p)) {
      if (*p == '\n')
        run = 0, in_command = false;
      p++;
      continue;
    }
    const char *t = p;
    while (*p && !isspace((unsigned char)*p) && *p != '`')
      p++;
    size_t n = (size_t)(p - t);
    if (n == 8 && strncmp(t, "mediactl", 8) == 0) {
      in_command = true;
      run = 0;
      continue;
    }
    if (in_command) {
      if (t[n - 1] == ':')
        in_command = false;
      continue;
    }
    if (!in_ticks && en_is_word(t, n)) {
      if (run++ == 0)
        run_start = t;
      if (run >= 3) {
        const char *end = strchr(run_start, '\n');
        size_t len = end ? (size_t)(end - run_start) : strlen(run_start);
        snprintf(found, cap, "%.*s", (int)(len < 200 ? len : 200), run_start);
        return true;
      }
    } else {
      run = 0;
    }
  }
  return false;
}

#endif /* TESTS_I18N_ENGLISH_H */
