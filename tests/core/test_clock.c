/*
 * test_clock.c - civil dates at the subdistrict's offset, independent of the
 * machine's time zone: a step at 23:30 on 31 December in Ningbo counts in
 * that year even though it is already 15:30 UTC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_dates(void **state) {
  (void)state;
  /* 2026-12-31 15:30:00 UTC = 23:30 in +08:00 */
  int64_t t = 1798731000000LL;
  mc_date utc = mc_date_of(t, 0);
  assert_int_equal(utc.year, 2026);
  assert_int_equal(utc.month, 12);
  assert_int_equal(utc.day, 31);
  /* 16:30 UTC is already 2027-01-01 00:30 in Ningbo */
  mc_date cst = mc_date_of(t + 3600 * 1000, 480);
  assert_int_equal(cst.year, 2027);
  assert_int_equal(cst.month, 1);
  assert_int_equal(cst.day, 1);
  assert_int_equal(mc_date_to_ms((mc_date){2027, 1, 1}, 480), 1798732800000LL);
  /* leap day and round trips over many years */
  mc_date leap = mc_date_of(mc_date_to_ms((mc_date){2028, 2, 29}, 480), 480);
  assert_int_equal(leap.month, 2);
  assert_int_equal(leap.day, 29);
  for (int64_t day = -800; day < 800; day += 7) {
    int64_t ms = day * 86400000LL * 31;
    mc_date d = mc_date_of(ms, 480);
    assert_true(mc_date_to_ms(d, 480) <= ms);
    assert_true(ms - mc_date_to_ms(d, 480) < 86400000LL);
  }
  char buf[32];
  assert_string_equal(mc_format_ms(t, 480, buf, sizeof(buf)), "2026-12-31 23:30");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_dates)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
