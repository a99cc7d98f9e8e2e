/*
 * test_alloc_store.c - the case store and the outbox when memory runs out:
 * each operation is run with its 1st, 2nd, ... allocation failing
 * (fault.h), and every failure must come back as UNAVAILABLE with a message
 * (out of memory decides nothing: the router answers "send it again", and
 * a unit keeps the step), leave the store as it was (verify clean, the case
 * or the queue unchanged), and the same operation must then succeed.
 * Opening may also answer RESOURCE_EXHAUSTED (the daemon does not start).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault.h"
#include "sf.h"

/* ---- The case store ---- */

typedef struct store_arg {
  char *dir;
  st_store *s;
  mc_registry *reg;
  char id[MC_CASE_ID_MAX];  /* the case the step is taken on */
  uint32_t seq;             /* its last event before the step */
  uint64_t cases;           /* cases (or pending deliveries) before the op */
  st_store *opened;         /* what the op under test opened */
  mv_case *read;            /* what the read under test read */
  mv_event **events;
  size_t n_events;
} store_arg;

static st_options store_options(const char *dir) {
  return (st_options){.dir = dir, .case_prefix = "BH", .utc_offset_minutes = SF_OFFSET};
}

static uint64_t count_cases(st_store *s) {
  st_txn *t = NULL;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  uint64_t counts[8] = {0}, sum = 0;
  assert_int_equal(st_count_states(t, counts, &err), MC_OK);
  st_read_end(t);
  for (int i = 0; i < 8; i++)
    sum += counts[i];
  return sum;
}

/* The last event's seq of a case (0: no such case). */
static uint32_t case_seq(st_store *s, const char *id) {
  st_txn *t = NULL;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  mv_case *c = NULL;
  uint32_t seq = 0;
  if (st_case_get(t, id, &c, &err) == MC_OK) {
    seq = c->event_count;
    protobuf_c_message_free_unpacked(&c->base, NULL);
  }
  st_read_end(t);
  return seq;
}

/* Opening a new store: every database created, or nothing left that a
 * later open trips over. */
static void open_new_prepare(void *arg) {
  store_arg *a = arg;
  a->dir = sf_tmpdir();
}

static mc_code open_op(void *arg, mc_err *err) {
  store_arg *a = arg;
  st_options o = store_options(a->dir);
  return st_open(&o, &a->opened, err);
}

static void open_new_done(void *arg) {
  store_arg *a = arg;
  sf_verify_clean(a->opened);
  st_close(a->opened);
  a->opened = NULL;
  sf_rmrf(a->dir);
  free(a->dir);
  a->dir = NULL;
}

static void test_store_open_new(void **state) {
  store_arg a = {0};
  fault_op o = {.what = "st_open (new store)", .prepare = open_new_prepare, .op = open_op,
                .done = open_new_done, .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, &a, false) > 0);
  assert_true(fault_sweep(&o, &a, true) > 0);
}

static int store_setup(void **state) {
  store_arg *a = calloc(1, sizeof(*a));
  a->dir = sf_tmpdir();
  a->s = sf_open(a->dir, 0, 0);
  a->reg = sf_registry();
  *state = a;
  return 0;
}

static int store_teardown(void **state) {
  store_arg *a = *state;
  if (a->s)
    st_close(a->s);
  mc_registry_free(a->reg);
  sf_rmrf(a->dir);
  free(a->dir);
  free(a);
  return 0;
}

/* Opening a store that holds cases. */
static void open_existing_done(void *arg) {
  store_arg *a = arg;
  assert_int_equal(count_cases(a->opened), 2);
  sf_verify_clean(a->opened);
  st_close(a->opened);
  a->opened = NULL;
}

static void test_store_open_existing(void **state) {
  store_arg *a = *state;
  sf_take_in(a->s, a->reg, SF_POLICE, "wangai", MV_KIND(NEIGHBOUR), "R-1", SF_T0, a->id);
  sf_kind(a->s, a->reg, a->id, MV_ACTION(TRANSFER), SF_POLICE, SF_T0 + SF_MINUTE);
  sf_take_in(a->s, a->reg, SF_MARRIAGE, "kongque", MV_KIND(FAMILY_TRIVIA), "R-2", SF_T0, NULL);
  st_close(a->s);
  a->s = NULL;
  fault_op o = {.what = "st_open (a store with cases)", .op = open_op,
                .done = open_existing_done, .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

/* A step as the router commits it: the state machine, st_case_put, the
 * deliveries it causes, in one write. */
typedef struct step_arg {
  const mc_registry *reg;
  sf_action act;
  mv_actor who;
  char id[MC_CASE_ID_MAX];
} step_arg;

static mc_code step_fn(st_txn *t, void *arg, mc_err *err) {
  step_arg *s = arg;
  return sf_apply(t, s->reg, &s->act.a, &s->who, SF_T0 + SF_HOUR, NULL, s->id, err);
}

static void step_prepare(void *arg) {
  store_arg *a = arg;
  sf_take_in(a->s, a->reg, SF_POLICE, "wangai", MV_KIND(NEIGHBOUR), NULL, SF_T0, a->id);
  a->seq = case_seq(a->s, a->id);
  a->cases = count_cases(a->s);
}

static mc_code transfer_op(void *arg, mc_err *err) {
  store_arg *a = arg;
  step_arg s = {.reg = a->reg, .who = sf_unit(SF_POLICE)};
  sf_action_init(&s.act, MV_ACTION(TRANSFER));
  s.act.a.case_ref = a->id;
  s.act.a.to_unit = SF_MARRIAGE;
  return st_write(a->s, step_fn, &s, err);
}

static void step_unchanged(void *arg) {
  store_arg *a = arg;
  assert_int_equal(case_seq(a->s, a->id), a->seq);
  assert_int_equal(count_cases(a->s), a->cases);
  sf_verify_clean(a->s);
}

static void transfer_done(void *arg) {
  store_arg *a = arg;
  assert_int_equal(case_seq(a->s, a->id), a->seq + 1);
}

static void test_store_step(void **state) {
  store_arg *a = *state;
  fault_op o = {.what = "a TRANSFER committed", .prepare = step_prepare, .op = transfer_op,
                .unchanged = step_unchanged, .done = transfer_done,
                .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
  sf_verify_clean(a->s);
}

/* An intake: a new case id, its record, indexes and figures. */
static void intake_prepare(void *arg) {
  store_arg *a = arg;
  a->cases = count_cases(a->s);
}

static mc_code intake_op(void *arg, mc_err *err) {
  store_arg *a = arg;
  step_arg s = {.reg = a->reg, .who = sf_unit(SF_MARRIAGE)};
  sf_action_init(&s.act, MV_ACTION(TAKE_IN));
  mc_code rc = st_write(a->s, step_fn, &s, err);
  memcpy(a->id, s.id, sizeof(a->id));
  return rc;
}

static void intake_unchanged(void *arg) {
  store_arg *a = arg;
  assert_int_equal(count_cases(a->s), a->cases);
  sf_verify_clean(a->s);
}

static void intake_done(void *arg) {
  store_arg *a = arg;
  assert_int_equal(count_cases(a->s), a->cases + 1);
  assert_int_equal(case_seq(a->s, a->id), 1);
}

static void test_store_intake(void **state) {
  store_arg *a = *state;
  fault_op o = {.what = "a TAKE_IN committed", .prepare = intake_prepare, .op = intake_op,
                .unchanged = intake_unchanged, .done = intake_done,
                .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
  sf_verify_clean(a->s);
}

/* Reading a case and its case file, as GetCase does. */
static mc_code read_op(void *arg, mc_err *err) {
  store_arg *a = arg;
  st_txn *t = NULL;
  mc_code rc = st_read_begin(a->s, &t, err);
  if (rc != MC_OK)
    return rc;
  rc = st_case_get(t, a->id, &a->read, err);
  if (rc == MC_OK && (rc = st_events_get(t, a->id, &a->events, &a->n_events, err)) != MC_OK) {
    protobuf_c_message_free_unpacked(&a->read->base, NULL);
    a->read = NULL;
  }
  st_read_end(t);
  return rc;
}

static void read_done(void *arg) {
  store_arg *a = arg;
  assert_int_equal(a->read->event_count, 2);
  assert_int_equal(a->n_events, 2);
  protobuf_c_message_free_unpacked(&a->read->base, NULL);
  st_messages_free(a->events, a->n_events);
  a->read = NULL;
  a->events = NULL;
}

static void test_store_read(void **state) {
  store_arg *a = *state;
  sf_take_in(a->s, a->reg, SF_POLICE, "wangai", MV_KIND(NEIGHBOUR), NULL, SF_T0, a->id);
  sf_kind(a->s, a->reg, a->id, MV_ACTION(TRANSFER), SF_POLICE, SF_T0 + SF_MINUTE);
  fault_op o = {.what = "a case and its case file read", .op = read_op, .done = read_done,
                .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

/* A unit's receipt: its pending deliveries listed, the first acknowledged,
 * in one write (PullDeliveries, then AckDeliveries). */
static size_t pending(st_store *s, const char *unit) {
  st_txn *t = NULL;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  mv_delivery **d = NULL;
  size_t n = 0;
  assert_int_equal(st_delivery_list(t, unit, 0, ST_PAGE_MAX, &d, &n, &err), MC_OK);
  st_messages_free(d, n);
  st_read_end(t);
  return n;
}

static mc_code ack_fn(st_txn *t, void *arg, mc_err *err) {
  (void)arg;
  mv_delivery **d = NULL;
  size_t n = 0;
  mc_code rc = st_delivery_list(t, SF_MARRIAGE, 0, 1, &d, &n, err);
  if (rc != MC_OK)
    return rc;
  bool already = false;
  rc = n == 1 ? st_delivery_ack(t, SF_MARRIAGE, d[0]->seq, &already, err)
              : mc_err_set(err, MC_NOT_FOUND, "no delivery pending");
  st_messages_free(d, n);
  return rc;
}

static void ack_prepare(void *arg) {
  store_arg *a = arg;
  sf_take_in(a->s, a->reg, SF_POLICE, "wangai", MV_KIND(NEIGHBOUR), NULL, SF_T0, a->id);
  sf_kind(a->s, a->reg, a->id, MV_ACTION(TRANSFER), SF_POLICE, SF_T0 + SF_MINUTE);
  a->cases = pending(a->s, SF_MARRIAGE);
}

static mc_code ack_op(void *arg, mc_err *err) {
  store_arg *a = arg;
  return st_write(a->s, ack_fn, NULL, err);
}

static void ack_unchanged(void *arg) {
  store_arg *a = arg;
  assert_int_equal(pending(a->s, SF_MARRIAGE), a->cases);
}

static void ack_done(void *arg) {
  store_arg *a = arg;
  assert_int_equal(pending(a->s, SF_MARRIAGE), a->cases - 1);
}

static void test_store_ack(void **state) {
  store_arg *a = *state;
  fault_op o = {.what = "a delivery listed and acknowledged", .prepare = ack_prepare,
                .op = ack_op, .unchanged = ack_unchanged, .done = ack_done,
                .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
  sf_verify_clean(a->s);
}

/* ---- A unit's outbox ---- */

typedef struct outbox_arg {
  char *dir;
  st_outbox *ob;
  uint64_t count;          /* entries queued before the op */
  uint64_t first;          /* the first entry's seq before the op */
  unsigned pushed;         /* entries pushed so far (request ids) */
  st_outbox_entry *peeked; /* what the peek under test returned */
  st_outbox *opened;       /* what the open under test opened */
} outbox_arg;

static int outbox_setup(void **state) {
  outbox_arg *a = calloc(1, sizeof(*a));
  a->dir = sf_tmpdir();
  st_outbox_options o = {.dir = a->dir, .unit = SF_POLICE};
  mc_err err = {0};
  if (st_outbox_open(&o, &a->ob, &err) != MC_OK)
    fail_msg("st_outbox_open: %s", err.msg);
  *state = a;
  return 0;
}

static int outbox_teardown(void **state) {
  outbox_arg *a = *state;
  if (a->ob)
    st_outbox_close(a->ob);
  sf_rmrf(a->dir);
  free(a->dir);
  free(a);
  return 0;
}

/* The number of entries queued and the first one's seq (0: none). */
static void queue_state(st_outbox *ob, uint64_t *count, uint64_t *first) {
  st_txn *t = NULL;
  mc_err err = {0};
  assert_int_equal(st_outbox_read_begin(ob, &t, &err), MC_OK);
  assert_int_equal(st_ob_count(t, count, &err), MC_OK);
  st_outbox_entry *e = NULL;
  mc_code rc = st_ob_first(t, &e, &err);
  *first = 0;
  if (rc == MC_OK) {
    *first = e->seq;
    protobuf_c_message_free_unpacked(&e->base, NULL);
  } else {
    assert_int_equal(rc, MC_NOT_FOUND);
  }
  st_read_end(t);
}

static mc_code push_op(void *arg, mc_err *err) {
  outbox_arg *a = arg;
  char rid[32], ref[48];
  snprintf(rid, sizeof(rid), "r-%u", a->pushed);
  snprintf(ref, sizeof(ref), "police-studio:PS-2026-%04u", a->pushed);
  mv_action act = MEDIATION__V1__CASE_ACTION__INIT;
  act.kind = MV_ACTION(TRANSFER);
  act.case_ref = ref;
  act.reason = "转交婚姻家庭工作室";
  act.args_case = MV_ARGS(TO_UNIT);
  act.to_unit = SF_MARRIAGE;
  st_outbox_entry e = MEDIATION__V1__OUTBOX_ENTRY__INIT;
  e.request_id.data = (uint8_t *)rid;
  e.request_id.len = strlen(rid);
  e.action = &act;
  e.queued_ms = SF_T0;
  uint64_t seq = 0;
  mc_code rc = st_outbox_push(a->ob, &e, &seq, err);
  if (rc == MC_OK)
    a->pushed++;
  return rc;
}

static void queue_prepare(void *arg) {
  outbox_arg *a = arg;
  queue_state(a->ob, &a->count, &a->first);
}

static void queue_unchanged(void *arg) {
  outbox_arg *a = arg;
  uint64_t count, first;
  queue_state(a->ob, &count, &first);
  assert_int_equal(count, a->count);
  assert_int_equal(first, a->first);
}

static void push_done(void *arg) {
  outbox_arg *a = arg;
  uint64_t count, first;
  queue_state(a->ob, &count, &first);
  assert_int_equal(count, a->count + 1);
}

static void test_outbox_push(void **state) {
  outbox_arg *a = *state;
  fault_op o = {.what = "an outbox entry pushed", .prepare = queue_prepare, .op = push_op,
                .unchanged = queue_unchanged, .done = push_done, .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

/* The forwarder's answer: the first entry leaves the queue in the batch
 * that keeps the router's record as the local copy. */
static mc_code answer_fn(st_txn *t, void *arg, mc_err *err) {
  st_outbox_entry *e = NULL;
  mc_code rc = st_ob_first(t, &e, err);
  if (rc != MC_OK)
    return rc;
  bool existed = false;
  rc = st_ob_remove(t, e->seq, &existed, err);
  if (rc == MC_OK) {
    mv_case c = MEDIATION__V1__CASE__INIT;
    c.id = "BH-2026-000001";
    c.state = MV_STATE(TRANSFER);
    c.holder = SF_MARRIAGE;
    c.event_count = (uint32_t)e->seq;
    st_local_case lc = MEDIATION__V1__LOCAL_CASE__INIT;
    lc.case_record = &c;
    rc = st_ob_local_put(t, &lc, err);
  }
  if (rc == MC_OK)
    rc = st_ob_acked_set(t, e->seq, err);
  protobuf_c_message_free_unpacked(&e->base, NULL);
  return rc;
}

static void answer_prepare(void *arg) {
  outbox_arg *a = arg;
  mc_err err = {0};
  assert_int_equal(push_op(a, &err), MC_OK);
  queue_prepare(a);
}

static mc_code answer_op(void *arg, mc_err *err) {
  outbox_arg *a = arg;
  return st_outbox_write(a->ob, answer_fn, NULL, err);
}

static void answer_done(void *arg) {
  outbox_arg *a = arg;
  uint64_t count, first;
  queue_state(a->ob, &count, &first);
  assert_int_equal(count, a->count - 1);
  st_txn *t = NULL;
  mc_err err = {0};
  assert_int_equal(st_outbox_read_begin(a->ob, &t, &err), MC_OK);
  st_local_case *lc = NULL;
  assert_int_equal(st_ob_local_get(t, "BH-2026-000001", &lc, &err), MC_OK);
  assert_int_equal(lc->case_record->event_count, a->first);
  uint64_t acked = 0;
  assert_int_equal(st_ob_acked_get(t, &acked, &err), MC_OK);
  assert_int_equal(acked, a->first);
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  st_read_end(t);
}

static void test_outbox_answer(void **state) {
  outbox_arg *a = *state;
  fault_op o = {.what = "an outbox entry answered", .prepare = answer_prepare, .op = answer_op,
                .unchanged = queue_unchanged, .done = answer_done, .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

static mc_code peek_op(void *arg, mc_err *err) {
  outbox_arg *a = arg;
  return st_outbox_peek(a->ob, &a->peeked, err);
}

static void peek_done(void *arg) {
  outbox_arg *a = arg;
  assert_int_equal(a->peeked->seq, 1);
  assert_string_equal(a->peeked->action->to_unit, SF_MARRIAGE);
  protobuf_c_message_free_unpacked(&a->peeked->base, NULL);
  a->peeked = NULL;
}

static void test_outbox_peek(void **state) {
  outbox_arg *a = *state;
  mc_err err = {0};
  assert_int_equal(push_op(a, &err), MC_OK);
  fault_op o = {.what = "the first outbox entry read", .op = peek_op, .done = peek_done,
                .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

static mc_code outbox_open_op(void *arg, mc_err *err) {
  outbox_arg *a = arg;
  st_outbox_options o = {.dir = a->dir, .unit = SF_POLICE};
  return st_outbox_open(&o, &a->opened, err);
}

static void outbox_open_done(void *arg) {
  outbox_arg *a = arg;
  uint64_t count, first;
  queue_state(a->opened, &count, &first);
  assert_int_equal(count, 2);
  assert_int_equal(first, 1);
  st_outbox_close(a->opened);
  a->opened = NULL;
}

static void test_outbox_open(void **state) {
  outbox_arg *a = *state;
  mc_err err = {0};
  assert_int_equal(push_op(a, &err), MC_OK);
  assert_int_equal(push_op(a, &err), MC_OK);
  st_outbox_close(a->ob);
  a->ob = NULL;
  fault_op o = {.what = "an outbox with entries opened", .op = outbox_open_op,
                .done = outbox_open_done, .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_store_open_new),
      cmocka_unit_test_setup_teardown(test_store_open_existing, store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_store_step, store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_store_intake, store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_store_read, store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_store_ack, store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_push, outbox_setup, outbox_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_answer, outbox_setup, outbox_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_peek, outbox_setup, outbox_teardown),
      cmocka_unit_test_setup_teardown(test_outbox_open, outbox_setup, outbox_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
