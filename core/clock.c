/*
 * clock.c - clocks and civil dates (see clock.h).
 *
 * Civil-from-days and days-from-civil are Howard Hinnant's algorithms
 * ("chrono-Compatible Low-Level Date Algorithms"), exact for the proleptic
 * Gregorian calendar over the whole int64 range we use.
 */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mc_now_ms(void) { return clock_ns(CLOCK_REALTIME) / 1000000; }
int64_t mc_mono_ms(void) { return clock_ns(CLOCK_MONOTONIC) / 1000000; }
int64_t mc_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

mc_date mc_date_of(int64_t unix_ms, int utc_offset_minutes) {
  int64_t local_ms = unix_ms + (int64_t)utc_offset_minutes * 60000;
  int64_t z = floor_div(local_ms, 86400000) + 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  mc_date out = {(int)(y + (m <= 2)), (int)m, (int)d};
  return out;
}

int64_t mc_date_to_ms(mc_date date, int utc_offset_minutes) {
  int64_t y = date.year - (date.month <= 2);
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t mp = date.month > 2 ? date.month - 3 : date.month + 9;
  int64_t doy = (153 * mp + 2) / 5 + date.day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  return days * 86400000 - (int64_t)utc_offset_minutes * 60000;
}

char *mc_format_ms(int64_t unix_ms, int utc_offset_minutes, char *buf, unsigned cap) {
  mc_date d = mc_date_of(unix_ms, utc_offset_minutes);
  int64_t local_ms = unix_ms + (int64_t)utc_offset_minutes * 60000;
  int64_t minute_of_day = floor_div(local_ms, 60000) - floor_div(local_ms, 86400000) * 1440;
  snprintf(buf, cap, "%04d-%02d-%02d %02d:%02d", d.year, d.month, d.day,
           (int)(minute_of_day / 60), (int)(minute_of_day % 60));
  return buf;
}
