/*
 * log.h - one line per event on stderr, with a level and the case id.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with the sd-daemon
 * priority prefix ("<6>") so journald records the level; otherwise it starts
 * with a UTC timestamp and the level name. A line is written with a single
 * write(2), so lines from several threads never interleave.
 *
 * Never log personal data: names, ID numbers, phone numbers or case text.
 * Case ids, unit ids, codes and counts only. (A test seeds a canary name and
 * greps every log for it.)
 */
#ifndef MC_LOG_H
#define MC_LOG_H

typedef enum mc_log_level {
  MC_LOG_ERR = 3,
  MC_LOG_WARNING = 4,
  MC_LOG_NOTICE = 5,
  MC_LOG_INFO = 6,
  MC_LOG_DEBUG = 7,
} mc_log_level;

/* Sets the program name printed on each line and the most verbose level
 * printed. Call once at start, before threads. */
void mc_log_init(const char *program, mc_log_level max_level);

/* Parses "error", "warning", "notice", "info" or "debug". Returns 0 or -1. */
int mc_log_level_parse(const char *name, mc_log_level *out);

/* Logs one line. case_id may be NULL. */
void mc_log(mc_log_level level, const char *case_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* MC_LOG_H */
