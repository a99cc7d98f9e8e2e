/*
 * test_store_verify.c - verify finds every kind of damage, named by case and
 * seq: an edited event (the hash chain breaks at the next link), an edited
 * last event, a missing event, an undecodable record (getters refuse it with
 * DATA_LOSS too), an edited record, index entries missing, stray or
 * pointing nowhere, edited figures and counters, orphaned case files,
 * undecodable deliveries, a kept answer naming an event not in the file.
 * Each damage is done by hand with raw LMDB on the closed store (or, for
 * the kept answer, written as such). A backup opens and verifies clean.
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

typedef struct env {
  char *dir;
  st_store *s;
  mc_registry *reg;
  char x[MC_CASE_ID_MAX]; /* police studio, 5 events, in mediation */
  char y[MC_CASE_ID_MAX]; /* marriage studio, offered to the police studio */
  char z[MC_CASE_ID_MAX]; /* station 王隘, in intake */
  sf_problems p;
} env;

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  e->dir = sf_tmpdir();
  e->s = sf_open(e->dir, 0, 0);
  e->reg = sf_registry();
  sf_take_in(e->s, e->reg, SF_POLICE, "kongque", MV_KIND(DIVORCE), "PS-1", SF_T0, e->x);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(ASSIGN), SF_POLICE, SF_T0 + SF_MINUTE);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(START_MEDIATION), SF_POLICE, SF_T0 + 2 * SF_MINUTE);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + 3 * SF_MINUTE);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + 4 * SF_MINUTE);
  sf_take_in(e->s, e->reg, SF_MARRIAGE, "baihe", MV_KIND(CUSTODY), NULL, SF_T0 + SF_HOUR, e->y);
  sf_action act;
  sf_action_init(&act, MV_ACTION(TRANSFER));
  act.a.case_ref = e->y;
  act.a.to_unit = SF_POLICE;
  sf_do(e->s, e->reg, &act.a, SF_MARRIAGE, SF_T0 + 2 * SF_HOUR, NULL);
  sf_take_in(e->s, e->reg, SF_WANGAI, "wangai", MV_KIND(NEIGHBOUR), "WA-1", SF_T0 + 3 * SF_HOUR,
             e->z);
  sf_verify_clean(e->s);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  st_close(e->s);
  mc_registry_free(e->reg);
  sf_rmrf(e->dir);
  free(e->dir);
  free(e);
  return 0;
}

static void closed(env *e) {
  st_close(e->s);
  e->s = NULL;
}

static void reopened(env *e) {
  e->s = sf_open(e->dir, 0, 0);
}

static size_t event_key(uint8_t *k, const char *id, uint32_t seq) {
  size_t n = strlen(id) + 1;
  memcpy(k, id, n);
  k[n] = (uint8_t)(seq >> 24);
  k[n + 1] = (uint8_t)(seq >> 16);
  k[n + 2] = (uint8_t)(seq >> 8);
  k[n + 3] = (uint8_t)seq;
  return n + 4;
}

/* The case log key (the step) of event seq of a case, from case_files. */
static void raw_step(env *e, const char *id, uint32_t seq, uint8_t step[8]) {
  uint8_t k[64];
  size_t kl = event_key(k, id, seq), vl;
  uint8_t *v = sf_raw_get(e->dir, "case_files", k, kl, &vl);
  assert_non_null(v);
  assert_int_equal(vl, 8);
  memcpy(step, v, 8);
  free(v);
}

static uint8_t *raw_event_bytes(env *e, const char *id, uint32_t seq, size_t *vl) {
  uint8_t step[8];
  raw_step(e, id, seq, step);
  uint8_t *v = sf_raw_get(e->dir, "case_log", step, 8, vl);
  assert_non_null(v);
  return v;
}

static void raw_put_event_bytes(env *e, const char *id, uint32_t seq, const uint8_t *v,
                                size_t vl) {
  uint8_t step[8];
  raw_step(e, id, seq, step);
  sf_raw_put(e->dir, "case_log", step, 8, v, vl);
}

static mv_event *raw_event(env *e, const char *id, uint32_t seq) {
  size_t vl;
  uint8_t *v = raw_event_bytes(e, id, seq, &vl);
  mv_event *ev = mediation__v1__case_event__unpack(NULL, vl, v);
  free(v);
  assert_non_null(ev);
  return ev;
}

static void raw_put_event(env *e, const mv_event *ev) {
  size_t vl = protobuf_c_message_get_packed_size(&ev->base);
  uint8_t *v = malloc(vl);
  protobuf_c_message_pack(&ev->base, v);
  raw_put_event_bytes(e, ev->case_id, ev->seq, v, vl);
  free(v);
}

static void dump(const sf_problems *p) {
  for (unsigned i = 0; i < p->n; i++)
    print_message("  verify: %s\n", p->msgs[i]);
}

static void expect_problem(env *e, const char *id, uint32_t seq, const char *text) {
  uint64_t n = sf_verify(e->s, &e->p);
  if (n == 0 || !sf_has_problem(&e->p, id, seq, text)) {
    dump(&e->p);
    fail_msg("verify did not report \"%s\" for %s seq %u", text, id ? id : "-", seq);
  }
}

/* ---- The case file -------------------------------------------------------------------- */

static void test_edited_event(void **state) {
  env *e = *state;
  closed(e);
  mv_event *ev = raw_event(e, e->x, 2);
  char *person = ev->actor->person;
  ev->actor->person = "改过的人";
  raw_put_event(e, ev);
  ev->actor->person = person; /* the literal is not the message's to free */
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  reopened(e);
  expect_problem(e, e->x, 3, "prev_hash does not match seq 2");
  assert_true(sf_has_problem(&e->p, e->x, 3, e->x));
  /* The other cases are untouched. */
  assert_false(sf_has_problem(&e->p, e->y, 0, NULL));
  assert_false(sf_has_problem(&e->p, e->z, 0, NULL));
}

static void test_edited_prev_hash(void **state) {
  env *e = *state;
  closed(e);
  mv_event *ev = raw_event(e, e->x, 4);
  memset(ev->prev_hash.data, 0, ev->prev_hash.len);
  raw_put_event(e, ev);
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  reopened(e);
  expect_problem(e, e->x, 4, "prev_hash does not match seq 3");
}

static void test_edited_last_event(void **state) {
  env *e = *state;
  closed(e);
  mv_event *ev = raw_event(e, e->x, 5);
  ev->at_ms += 1;
  raw_put_event(e, ev);
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  reopened(e);
  expect_problem(e, e->x, 5, "last_event_hash");
}

static void test_missing_event(void **state) {
  env *e = *state;
  closed(e);
  uint8_t k[64];
  assert_true(sf_raw_del(e->dir, "case_files", k, event_key(k, e->x, 3)));
  reopened(e);
  expect_problem(e, e->x, 3, "missing from the case file");
}

/* Bytes that decode to the same event (an overlong varint for seq) leave
 * the hash chain intact; verify still sees that they are not the bytes that
 * were written. */
static void test_non_canonical_event(void **state) {
  env *e = *state;
  closed(e);
  size_t vl;
  uint8_t *v = raw_event_bytes(e, e->x, 2, &vl);
  /* Field 1 (case_id) comes first: 0x0a, length, bytes; then field 2. */
  size_t at = 2 + strlen(e->x);
  assert_int_equal(v[0], 0x0a);
  assert_int_equal(v[at], 0x10);
  assert_int_equal(v[at + 1], 2);
  uint8_t *w = malloc(vl + 1);
  memcpy(w, v, at + 1);
  w[at + 1] = 0x82; /* 2, in two bytes */
  w[at + 2] = 0x00;
  memcpy(w + at + 3, v + at + 2, vl - at - 2);
  raw_put_event_bytes(e, e->x, 2, w, vl + 1);
  free(v);
  free(w);
  reopened(e);
  expect_problem(e, e->x, 2, "canonical");
  assert_false(sf_has_problem(&e->p, e->x, 3, "prev_hash"));
}

/* ---- Records ------------------------------------------------------------------------------ */

static void test_undecodable_record(void **state) {
  env *e = *state;
  closed(e);
  const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  sf_raw_put(e->dir, "cases", e->x, strlen(e->x), junk, sizeof(junk));
  reopened(e);
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  mv_case *c = NULL;
  assert_int_equal(st_case_get(t, e->x, &c, &err), MC_DATA_LOSS);
  assert_null(c);
  assert_non_null(strstr(err.msg, e->x));
  assert_int_equal(st_case_get_by_ref(t, "police-studio:PS-1", &c, &err), MC_DATA_LOSS);
  st_read_end(t);
  expect_problem(e, e->x, 0, "malformed");
  bool data_loss = false;
  for (unsigned i = 0; i < e->p.n; i++)
    data_loss = data_loss || (strcmp(e->p.ids[i], e->x) == 0 && e->p.codes[i] == MC_DATA_LOSS);
  assert_true(data_loss);
}

static void test_edited_record(void **state) {
  env *e = *state;
  closed(e);
  size_t vl;
  uint8_t *v = sf_raw_get(e->dir, "cases", e->z, strlen(e->z), &vl);
  mv_case *c = mediation__v1__case__unpack(NULL, vl, v);
  free(v);
  char *holder = c->holder;
  c->holder = SF_MARRIAGE; /* moved by hand, not by a step */
  vl = protobuf_c_message_get_packed_size(&c->base);
  v = malloc(vl);
  protobuf_c_message_pack(&c->base, v);
  c->holder = holder; /* the literal is not the message's to free */
  sf_raw_put(e->dir, "cases", e->z, strlen(e->z), v, vl);
  free(v);
  mediation__v1__case__free_unpacked(c, NULL);
  reopened(e);
  expect_problem(e, e->z, 0, "replaying the case file does not give the stored record");
  /* The record implies an entry under its new holder that is not there,
   * and the entry under the real holder is now a stray. */
  assert_true(sf_has_problem(&e->p, e->z, 0, "ix_holder: the entry its record implies is missing"));
  assert_true(sf_has_problem(&e->p, e->z, 0, "ix_holder: an entry disagrees"));
}

static void test_record_of_another_case(void **state) {
  env *e = *state;
  closed(e);
  size_t vl;
  uint8_t *v = sf_raw_get(e->dir, "cases", e->z, strlen(e->z), &vl);
  sf_raw_put(e->dir, "cases", e->y, strlen(e->y), v, vl);
  free(v);
  reopened(e);
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  mv_case *c = NULL;
  assert_int_equal(st_case_get(t, e->y, &c, &err), MC_DATA_LOSS);
  assert_non_null(strstr(err.msg, "names another case"));
  st_read_end(t);
  expect_problem(e, e->y, 0, "names another case");
}

/* ---- Indexes ----------------------------------------------------------------------------- */

/* holder \0 state(1) created(8) id */
static size_t holder_key(uint8_t *k, const char *holder, int state, int64_t created,
                         const char *id) {
  size_t n = strlen(holder) + 1;
  memcpy(k, holder, n);
  k[n++] = (uint8_t)state;
  uint64_t t = (uint64_t)created ^ (UINT64_C(1) << 63);
  for (int i = 7; i >= 0; i--)
    k[n++] = (uint8_t)(t >> (8 * i));
  memcpy(k + n, id, strlen(id));
  return n + strlen(id);
}

static void test_index_entry_missing(void **state) {
  env *e = *state;
  closed(e);
  uint8_t k[256];
  size_t kl = holder_key(k, SF_WANGAI, MV_STATE(INTAKE), SF_T0 + 3 * SF_HOUR, e->z);
  assert_true(sf_raw_del(e->dir, "ix_holder", k, kl));
  reopened(e);
  expect_problem(e, e->z, 0, "ix_holder: the entry its record implies is missing");
  /* Queries simply do not see it: the index is the only way they look. */
}

static void test_index_entry_stray(void **state) {
  env *e = *state;
  closed(e);
  uint8_t k[256];
  /* ix_state: state(1) created(8) id, with a state the case is not in. */
  size_t kl = holder_key(k, "", MV_STATE(CLOSED), SF_T0 + 3 * SF_HOUR, e->z);
  sf_raw_put(e->dir, "ix_state", k + 1, kl - 1, "", 0);
  /* An entry pointing to a case that does not exist. */
  kl = holder_key(k, SF_POLICE, MV_STATE(INTAKE), SF_T0, "BH-2026-000777");
  sf_raw_put(e->dir, "ix_holder", k, kl, "", 0);
  /* And one that is not a key of the index at all. */
  sf_raw_put(e->dir, "ix_kind", "\x01zz", 3, "", 0);
  reopened(e);
  expect_problem(e, e->z, 0, "ix_state: an entry disagrees");
  assert_true(sf_has_problem(&e->p, "BH-2026-000777", 0, "not stored"));
  assert_true(sf_has_problem(&e->p, NULL, 0, "ix_kind: an entry is malformed"));
  /* A query that meets the malformed key says so instead of guessing. */
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  st_hit hits[10];
  size_t n;
  char next[ST_CURSOR_MAX];
  st_query q = {.index = ST_BY_KIND, .kind = (mv_kind)1, .limit = 10};
  assert_int_equal(st_index_query(t, &q, hits, &n, next, &err), MC_DATA_LOSS);
  st_read_end(t);
}

static void test_orphan_case_file(void **state) {
  env *e = *state;
  closed(e);
  uint8_t k[64], step[8];
  raw_step(e, e->x, 1, step);
  size_t kl = event_key(k, "BH-2026-000555", 1);
  sf_raw_put(e->dir, "case_files", k, kl, step, 8);
  reopened(e);
  expect_problem(e, "BH-2026-000555", 0, "case file exists without a case record");
}

/* ---- Figures, counters, deliveries -------------------------------------------------------- */

static void test_edited_figures(void **state) {
  env *e = *state;
  closed(e);
  size_t kl, vl;
  uint8_t *k = sf_raw_first(e->dir, "figures", NULL, 0, &kl);
  assert_non_null(k);
  uint8_t *v = sf_raw_get(e->dir, "figures", k, kl, &vl);
  mv_counters *c = mediation__v1__figure_counters__unpack(NULL, vl, v);
  free(v);
  c->taken_in += 1;
  vl = protobuf_c_message_get_packed_size(&c->base);
  v = malloc(vl);
  protobuf_c_message_pack(&c->base, v);
  sf_raw_put(e->dir, "figures", k, kl, v, vl);
  free(v);
  free(k);
  mediation__v1__figure_counters__free_unpacked(c, NULL);
  reopened(e);
  expect_problem(e, NULL, 0, "stored counters differ from the case files");
}

static void test_edited_counter(void **state) {
  env *e = *state;
  closed(e);
  const uint8_t v[8] = {0, 0, 0, 0, 0, 0, 0, 99};
  sf_raw_put(e->dir, "meta", "state/1", 7, v, 8);
  const uint8_t bad[3] = {1, 2, 3};
  sf_raw_put(e->dir, "meta", "state/3", 7, bad, 3);
  reopened(e);
  expect_problem(e, NULL, 0, "99 cases counted in state 1");
  assert_true(sf_has_problem(&e->p, NULL, 0, "state/3 has 3 bytes"));
}

static void test_undecodable_delivery(void **state) {
  env *e = *state;
  closed(e);
  size_t kl;
  uint8_t *k = sf_raw_first(e->dir, "deliveries", SF_POLICE, strlen(SF_POLICE) + 1, &kl);
  assert_non_null(k);
  sf_raw_put(e->dir, "deliveries", k, kl, "\xff\xff\xff", 3);
  free(k);
  reopened(e);
  expect_problem(e, NULL, 0, "does not decode");
}

/* ---- Kept answers ------------------------------------------------------------------------ */

typedef struct kept_arg {
  const char *rid, *case_id;
  uint32_t seq;
} kept_arg;

static mc_code kept_op(st_txn *t, void *arg, mc_err *err) {
  const kept_arg *k = arg;
  st_idem_reply r = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
  r.request_id.data = (uint8_t *)k->rid;
  r.request_id.len = strlen(k->rid);
  r.stored_ms = SF_T0;
  r.caller = SF_POLICE;
  r.method = "Apply";
  r.case_id = (char *)k->case_id;
  r.event_seq = k->seq;
  return st_idem_put(t, &r, err);
}

/* An applied step's answer is kept as (case, seq) and rebuilt from the case
 * file on a retry: verify reports one that names an event not in the file. */
static void test_kept_answer_without_its_event(void **state) {
  env *e = *state;
  mc_err err = {0};
  kept_arg good = {"kept-good", e->x, 5}, bad = {"kept-bad", e->x, 9};
  assert_int_equal(st_write(e->s, kept_op, &good, &err), MC_OK);
  sf_verify_clean(e->s);
  assert_int_equal(st_write(e->s, kept_op, &bad, &err), MC_OK);
  expect_problem(e, e->x, 9, "not in its file");
  assert_int_equal(e->p.n, 1);
}

/* ---- Backup ----------------------------------------------------------------------------------- */

static void test_backup_verifies(void **state) {
  env *e = *state;
  char *copy = sf_path(e->dir, "copy");
  mc_err err = {0};
  assert_int_equal(st_backup(e->s, copy, &err), MC_OK);
  /* The live store goes on; the copy is the snapshot. */
  sf_kind(e->s, e->reg, e->z, MV_ACTION(ASSIGN), SF_WANGAI, SF_T0 + SF_DAY);
  st_store *b = sf_open(copy, 0, 0);
  sf_verify_clean(b);
  st_txn *t;
  assert_int_equal(st_read_begin(b, &t, &err), MC_OK);
  mv_case *c;
  assert_int_equal(st_case_get(t, e->z, &c, &err), MC_OK);
  assert_int_equal(c->event_count, 1);
  protobuf_c_message_free_unpacked(&c->base, NULL);
  assert_int_equal(st_case_get_by_ref(t, "police-studio:PS-1", &c, &err), MC_OK);
  assert_int_equal(c->event_count, 5);
  protobuf_c_message_free_unpacked(&c->base, NULL);
  st_read_end(t);
  st_info a, bi;
  assert_int_equal(st_info_get(e->s, &a, &err), MC_OK);
  assert_int_equal(st_info_get(b, &bi, &err), MC_OK);
  assert_int_equal(bi.cases, a.cases);
  assert_int_equal(bi.events + 1, a.events);
  assert_int_equal(bi.deliveries_pending, a.deliveries_pending);
  st_close(b);
  sf_verify_clean(e->s);
  free(copy);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_edited_event),         T(test_edited_prev_hash),
      T(test_edited_last_event),    T(test_missing_event),
      T(test_non_canonical_event), T(test_undecodable_record),
      T(test_edited_record),        T(test_record_of_another_case),
      T(test_index_entry_missing),  T(test_index_entry_stray),
      T(test_orphan_case_file),     T(test_edited_figures),
      T(test_edited_counter),       T(test_undecodable_delivery),
      T(test_kept_answer_without_its_event), T(test_backup_verifies),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
