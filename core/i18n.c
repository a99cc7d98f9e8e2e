/*
 * i18n.c - gettext set up once per process, and a request's language per
 * thread (see i18n.h for the contract).
 *
 * The idea: only two languages exist (English, the source, and Chinese),
 * so a request's tag is reduced to one of them by its language part and
 * the two locale objects are made once and shared by every thread; no
 * name a caller sent is ever given to newlocale. The objects hold only
 * LC_MESSAGES: the rest of a thread's locale (numbers, character types)
 * stays the process's, and the text domain's output is pinned to UTF-8
 * (bind_textdomain_codeset), which is what every part of the system
 * speaks whatever LC_CTYPE says.
 */
#define _GNU_SOURCE /* uselocale, newlocale (POSIX.1-2008, also glibc's) */
#include "core/i18n.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MEDIATION_LOCALEDIR
#define MEDIATION_LOCALEDIR "/usr/share/locale"
#endif

static pthread_once_t locales_once = PTHREAD_ONCE_INIT;
static locale_t locale_zh = (locale_t)0; /* 0 when zh_CN.UTF-8 is not generated */
static locale_t locale_en = (locale_t)0;
static const char *process_tag = "";

static void locales_make(void) {
  locale_zh = newlocale(LC_MESSAGES_MASK, "zh_CN.UTF-8", (locale_t)0);
  locale_en = newlocale(LC_MESSAGES_MASK, "C", (locale_t)0);
}

/* "zh_CN.UTF-8" -> "zh_CN"; "en_US", "C", "POSIX" -> "C"; else "". */
static const char *tag_of(const char *name) {
  if (name == NULL || name[0] == '\0')
    return "";
  if (strncmp(name, "zh", 2) == 0 && (name[2] == '\0' || name[2] == '_' || name[2] == '-' ||
                                      name[2] == '.'))
    return "zh_CN";
  if (strcmp(name, "POSIX") == 0 || (name[0] == 'C' && (name[1] == '\0' || name[1] == '.')) ||
      (strncmp(name, "en", 2) == 0 &&
       (name[2] == '\0' || name[2] == '_' || name[2] == '-' || name[2] == '.')))
    return "C";
  return "";
}

/* The build tree's locale directory when this program was built there
 * (tests and developers run it in place, before any install). */
static const char *locale_dir(void) {
  const char *env = getenv("MEDIATION_LOCALEDIR");
  if (env != NULL && env[0] != '\0')
    return env;
#ifdef MEDIATION_BINARY_DIR
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  size_t root = strlen(MEDIATION_BINARY_DIR);
  if (n > 0) {
    exe[n] = '\0';
    if (strncmp(exe, MEDIATION_BINARY_DIR, root) == 0 && exe[root] == '/')
      return MEDIATION_BINARY_DIR "/locale";
  }
#endif
  return MEDIATION_LOCALEDIR;
}

void mc_i18n_init(void) {
  setlocale(LC_ALL, "");
  setlocale(LC_NUMERIC, "C");
  bindtextdomain(MC_TEXTDOMAIN, locale_dir());
  bind_textdomain_codeset(MC_TEXTDOMAIN, "UTF-8");
  textdomain(MC_TEXTDOMAIN);
  process_tag = tag_of(setlocale(LC_MESSAGES, NULL));
  pthread_once(&locales_once, locales_make);
}

const char *mc_pgettext(const char *ctx_and_text) {
  const char *t = dgettext(MC_TEXTDOMAIN, ctx_and_text);
  if (t != ctx_and_text)
    return t;
  const char *text = strchr(ctx_and_text, '\004');
  return text != NULL ? text + 1 : ctx_and_text;
}

const char *mc_i18n_current(void) {
  locale_t now = uselocale((locale_t)0);
  if (now != LC_GLOBAL_LOCALE) {
    if (now == locale_zh && now != (locale_t)0)
      return "zh_CN";
    if (now == locale_en && now != (locale_t)0)
      return "C";
  }
  return process_tag;
}

locale_t mc_i18n_use(const char *tag) {
  pthread_once(&locales_once, locales_make);
  const char *want = tag_of(tag);
  locale_t to = (locale_t)0;
  if (strcmp(want, "zh_CN") == 0)
    to = locale_zh;
  else if (strcmp(want, "C") == 0)
    to = locale_en;
  if (to == (locale_t)0)
    return uselocale((locale_t)0);
  return uselocale(to);
}

void mc_i18n_restore(locale_t previous) {
  if (previous != (locale_t)0)
    uselocale(previous);
}
