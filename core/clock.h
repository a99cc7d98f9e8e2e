/*
 * clock.h - wall-clock and calendar helpers.
 *
 * The state machine never reads a clock: callers pass "now" in. Calendar
 * arithmetic (the year and month a step is counted in) is done in the
 * subdistrict's fixed UTC offset (China Standard Time, +08:00, by default),
 * without localtime(), so figures do not depend on the machine's time zone.
 */
#ifndef MC_CLOCK_H
#define MC_CLOCK_H

#include <stdint.h>

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t mc_now_ms(void);

/* Monotonic milliseconds, for timeouts and measurements. */
int64_t mc_mono_ms(void);

/* Monotonic nanoseconds, for benchmarks. */
int64_t mc_mono_ns(void);

/* The civil date of a Unix ms time at a UTC offset in minutes. */
typedef struct mc_date {
  int year;
  int month; /* 1..12 */
  int day;   /* 1..31 */
} mc_date;

mc_date mc_date_of(int64_t unix_ms, int utc_offset_minutes);

/* Unix ms of midnight starting the given civil date at the offset. */
int64_t mc_date_to_ms(mc_date date, int utc_offset_minutes);

/* Formats "2026-11-27 21:04" (local at the offset) into buf. Returns buf. */
char *mc_format_ms(int64_t unix_ms, int utc_offset_minutes, char *buf, unsigned cap);

#endif /* MC_CLOCK_H */
