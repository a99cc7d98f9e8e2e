/*
 * test_store_search.c - the search index (storage/search.c) in a store:
 * terms kept in step with the cases, ID numbers and phones only through the
 * keyed hash (whole values; nothing without the key), the index built on
 * open for a store that had none and rebuilt for another key, and verify
 * finding a missing or planted term.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sf.h"

static const uint8_t key_a[ST_SEARCH_KEY_BYTES] = {1, 2, 3};
static const uint8_t key_b[ST_SEARCH_KEY_BYTES] = {9, 8, 7};

static st_store *open_with(const char *dir, const uint8_t *key) {
  st_options o = {.dir = dir, .case_prefix = "BH", .utc_offset_minutes = SF_OFFSET,
                  .search_key = key};
  st_store *s = NULL;
  mc_err err = {0};
  if (st_open(&o, &s, &err) != MC_OK)
    fail_msg("st_open: %s", err.msg);
  return s;
}

/* How many cases a search of text as `what` finds (-1: the term is refused). */
static long found(st_store *s, st_match what, const char *text) {
  st_txn *t;
  mc_err err;
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  char term[ST_TERM_MAX];
  long n = -1;
  if (st_search_term(t, what, text, term, &err) == MC_OK) {
    uint64_t c = 0;
    assert_int_equal(st_search_count(t, term, 1000, &c, &err), MC_OK);
    n = (long)c;
  }
  st_read_end(t);
  return n;
}

static void test_built_on_open_and_rebuilt_for_a_new_key(void **state) {
  (void)state;
  mc_registry *reg = sf_registry();
  char *dir = sf_tmpdir();
  /* A store written without a key: names and refs only. */
  st_store *s = sf_open(dir, 0, 0);
  char id[MC_CASE_ID_MAX];
  sf_take_in(s, reg, SF_POLICE, "kongque", MV_KIND(RELATIONSHIP), "PS-1", SF_T0, id);
  sf_take_in(s, reg, SF_POLICE, "kongque", MV_KIND(RELATIONSHIP), "PS-2", SF_T0 + SF_HOUR, id);
  assert_int_equal(found(s, ST_MATCH_NAME, "甄小明"), 2);
  assert_int_equal(found(s, ST_MATCH_NAME, "小"), 2);
  assert_int_equal(found(s, ST_MATCH_UNIT_REF, "ps-2"), 1);
  assert_int_equal(found(s, ST_MATCH_ID_NUMBER, "11010519491231002X"), -1); /* no key */
  sf_verify_clean(s);
  st_close(s);

  /* Opened with a key: the ID-number and phone terms are built on open. */
  s = open_with(dir, key_a);
  assert_int_equal(found(s, ST_MATCH_ID_NUMBER, "11010519491231002x"), 2);
  assert_int_equal(found(s, ST_MATCH_PHONE, "+86-100-0000-0001"), 2);
  assert_int_equal(found(s, ST_MATCH_PHONE, "10000000002"), 0);
  assert_int_equal(found(s, ST_MATCH_ID_NUMBER, "11010519491231002"), -1); /* not whole */
  sf_verify_clean(s);
  /* The key's terms say nothing without it: no plaintext number is a key. */
  st_close(s);
  assert_null(sf_raw_first(dir, "ix_search", "i11010519", 9, NULL));
  assert_null(sf_raw_first(dir, "ix_search", "p1000", 5, NULL));

  /* Another key: rebuilt, the same cases found. */
  s = open_with(dir, key_b);
  assert_int_equal(found(s, ST_MATCH_ID_NUMBER, "11010519491231002X"), 2);
  sf_verify_clean(s);
  st_close(s);

  /* verify sees a missing and a planted term. */
  size_t klen = 0;
  uint8_t *k = sf_raw_first(dir, "ix_search", "n甄", strlen("n甄"), &klen);
  assert_non_null(k);
  assert_true(sf_raw_del(dir, "ix_search", k, klen));
  free(k);
  /* "n假名" \0 created(8) "BH-2026-000001": a term no record implies */
  uint8_t planted[64];
  size_t pl = 0;
  memcpy(planted, "n假名", strlen("n假名") + 1);
  pl = strlen("n假名") + 1;
  memset(planted + pl, 0, 8);
  planted[pl] = 0x80; /* time 0 with its sign bit flipped */
  pl += 8;
  memcpy(planted + pl, "BH-2026-000001", 14);
  pl += 14;
  sf_raw_put(dir, "ix_search", planted, pl, "", 0);
  s = open_with(dir, key_b);
  sf_problems p;
  assert_true(sf_verify(s, &p) >= 2);
  assert_true(sf_has_problem(&p, NULL, 0, "ix_search: the entry its record implies is missing"));
  assert_true(sf_has_problem(&p, "BH-2026-000001", 0, "ix_search: an entry disagrees"));
  st_close(s);
  sf_rmrf(dir);
  free(dir);
  mc_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_built_on_open_and_rebuilt_for_a_new_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
