/*
 * log.c - stderr logging (see log.h).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "mediation";
static mc_log_level log_max = MC_LOG_INFO;
static int log_journal = -1; /* unknown until the first line */

void mc_log_init(const char *program, mc_log_level max_level) {
  log_program = program;
  log_max = max_level;
  log_journal = getenv("JOURNAL_STREAM") != NULL;
}

int mc_log_level_parse(const char *name, mc_log_level *out) {
  static const struct {
    const char *name;
    mc_log_level level;
  } levels[] = {{"error", MC_LOG_ERR},   {"warning", MC_LOG_WARNING}, {"notice", MC_LOG_NOTICE},
                {"info", MC_LOG_INFO},   {"debug", MC_LOG_DEBUG}};
  for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
    if (strcasecmp(name, levels[i].name) == 0) {
      *out = levels[i].level;
      return 0;
    }
  }
  return -1;
}

static const char *level_name(mc_log_level level) {
  switch (level) {
  case MC_LOG_ERR: return "ERROR";
  case MC_LOG_WARNING: return "WARN";
  case MC_LOG_NOTICE: return "NOTICE";
  case MC_LOG_INFO: return "INFO";
  case MC_LOG_DEBUG: return "DEBUG";
  }
  return "?";
}

void mc_log(mc_log_level level, const char *case_id, const char *fmt, ...) {
  if (level > log_max)
    return;
  if (log_journal < 0)
    log_journal = getenv("JOURNAL_STREAM") != NULL;
  char line[1024];
  size_t n;
  if (log_journal) {
    n = (size_t)snprintf(line, sizeof(line), "<%d>%s: ", (int)level, log_program);
  } else {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s[%d]: ",
                          ts.tv_nsec / 1000000, level_name(level), log_program, (int)getpid());
  }
  /* Logs name cases only by identifiers the system allocated: a provisional
   * "<unit>:<unit_ref>" (a case the router has not numbered yet) may carry a
   * reference the operator typed, so only its unit is named; the outbox
   * sequence in the message tells such cases apart. */
  const char *colon = case_id != NULL ? strchr(case_id, ':') : NULL;
  if (colon != NULL && n < sizeof(line))
    n += (size_t)snprintf(line + n, sizeof(line) - n, "case=%.*s:(provisional) ",
                          (int)(colon - case_id), case_id);
  else if (case_id != NULL && n < sizeof(line))
    n += (size_t)snprintf(line + n, sizeof(line) - n, "case=%s ", case_id);
  if (n < sizeof(line)) {
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (m > 0)
      n += (size_t)m;
  }
  if (n >= sizeof(line) - 1)
    n = sizeof(line) - 2; /* truncated: keep the newline */
  line[n++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, n);
  (void)w; /* nowhere to report a failed log write */
}
