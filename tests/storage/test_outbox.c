/*
 * test_outbox.c - a unit's outbox: the queue keeps order and survives a
 * reopen, local copies are found by id and by reference and move under
 * their id once it is known, conflicts and bookkeeping, and batches make
 * several changes atomic.
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
  st_outbox *ob;
} env;

static st_outbox *ob_open(const char *dir, size_t map) {
  st_outbox_options o = {.dir = dir, .unit = SF_POLICE, .map_size = map};
  st_outbox *ob = NULL;
  mc_err err = {0};
  mc_code rc = st_outbox_open(&o, &ob, &err);
  if (rc != MC_OK)
    fail_msg("st_outbox_open: %s: %s", mc_code_name(rc), err.msg);
  return ob;
}

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  e->dir = sf_tmpdir();
  e->ob = ob_open(e->dir, 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  st_outbox_close(e->ob);
  sf_rmrf(e->dir);
  free(e->dir);
  free(e);
  return 0;
}

static uint64_t push(st_outbox *ob, const char *rid, const char *reason) {
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TRANSFER);
  a.case_ref = "police-studio:PS-2026-0001";
  a.reason = (char *)reason;
  a.args_case = MV_ARGS(TO_UNIT);
  a.to_unit = SF_MARRIAGE;
  st_outbox_entry e = MEDIATION__V1__OUTBOX_ENTRY__INIT;
  e.seq = 999; /* ignored */
  e.request_id.data = (uint8_t *)rid;
  e.request_id.len = strlen(rid);
  e.action = &a;
  e.queued_ms = SF_T0;
  uint64_t seq = 0;
  mc_err err = {0};
  assert_int_equal(st_outbox_push(ob, &e, &seq, &err), MC_OK);
  return seq;
}

static void test_queue_order(void **state) {
  env *e = *state;
  assert_int_equal(push(e->ob, "r1", "一"), 1);
  assert_int_equal(push(e->ob, "r2", "二"), 2);
  assert_int_equal(push(e->ob, "r3", "三"), 3);
  st_outbox_entry *first = NULL;
  mc_err err = {0};
  assert_int_equal(st_outbox_peek(e->ob, &first, &err), MC_OK);
  assert_int_equal(first->seq, 1);
  assert_string_equal(first->action->reason, "一");
  assert_int_equal(first->request_id.len, 2);
  protobuf_c_message_free_unpacked(&first->base, NULL);

  st_txn *t;
  assert_int_equal(st_outbox_read_begin(e->ob, &t, &err), MC_OK);
  uint64_t n = 0;
  assert_int_equal(st_ob_count(t, &n, &err), MC_OK);
  assert_int_equal(n, 3);
  st_outbox_entry **list;
  size_t cnt;
  assert_int_equal(st_ob_list(t, 1, 10, &list, &cnt, &err), MC_OK);
  assert_int_equal(cnt, 2);
  assert_int_equal(list[0]->seq, 2);
  assert_int_equal(list[1]->seq, 3);
  st_messages_free(list, cnt);
  assert_int_equal(st_ob_list(t, 0, 0, &list, &cnt, &err), MC_INVALID_ARGUMENT);
  /* A read transaction cannot write. */
  bool existed;
  assert_int_equal(st_ob_remove(t, 1, &existed, &err), MC_FAILED_PRECONDITION);
  st_read_end(t);
}

typedef struct rm_arg {
  uint64_t seq;
  bool existed;
} rm_arg;

static mc_code rm_op(st_txn *t, void *arg, mc_err *err) {
  rm_arg *a = arg;
  return st_ob_remove(t, a->seq, &a->existed, err);
}

static void test_remove_and_reopen(void **state) {
  env *e = *state;
  push(e->ob, "r1", "一");
  push(e->ob, "r2", "二");
  rm_arg a = {.seq = 1};
  mc_err err = {0};
  assert_int_equal(st_outbox_write(e->ob, rm_op, &a, &err), MC_OK);
  assert_true(a.existed);
  assert_int_equal(st_outbox_write(e->ob, rm_op, &a, &err), MC_OK);
  assert_false(a.existed);
  st_outbox_close(e->ob);
  e->ob = ob_open(e->dir, 0);
  st_outbox_entry *first = NULL;
  assert_int_equal(st_outbox_peek(e->ob, &first, &err), MC_OK);
  assert_int_equal(first->seq, 2);
  protobuf_c_message_free_unpacked(&first->base, NULL);
  /* Seqs continue after a reopen, never reused. */
  assert_int_equal(push(e->ob, "r3", "三"), 3);
  a.seq = 2;
  assert_int_equal(st_outbox_write(e->ob, rm_op, &a, &err), MC_OK);
  a.seq = 3;
  assert_int_equal(st_outbox_write(e->ob, rm_op, &a, &err), MC_OK);
  assert_int_equal(st_outbox_peek(e->ob, &first, &err), MC_NOT_FOUND);
  assert_int_equal(push(e->ob, "r4", "四"), 4);
}

static void test_push_checks(void **state) {
  env *e = *state;
  st_outbox_entry x = MEDIATION__V1__OUTBOX_ENTRY__INIT;
  mc_err err = {0};
  assert_int_equal(st_outbox_push(e->ob, &x, NULL, &err), MC_INVALID_ARGUMENT);
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  x.action = &a;
  assert_int_equal(st_outbox_push(e->ob, &x, NULL, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "request id"));
}

/* ---- Local copies ---------------------------------------------------------------------- */

typedef struct local_arg {
  const char *id;      /* "" while unknown */
  const char *ref;     /* intake.unit_ref */
  const char *first;   /* units_involved[0], or NULL for none */
  mv_state state;
} local_arg;

static mc_code local_op(st_txn *t, void *arg, mc_err *err) {
  local_arg *a = arg;
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.unit_ref = (char *)a->ref;
  mv_case c = MEDIATION__V1__CASE__INIT;
  c.id = (char *)a->id;
  c.intake = &in;
  c.state = a->state;
  char *units[1] = {(char *)a->first};
  if (a->first) {
    c.units_involved = units;
    c.n_units_involved = 1;
  }
  st_local_case lc = MEDIATION__V1__LOCAL_CASE__INIT;
  lc.case_record = &c;
  lc.stale = a->id[0] == '\0';
  return st_ob_local_put(t, &lc, err);
}

static mc_code local_get(st_outbox *ob, const char *ref, st_local_case **out) {
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_outbox_read_begin(ob, &t, &err), MC_OK);
  mc_code rc = st_ob_local_get(t, ref, out, &err);
  st_read_end(t);
  return rc;
}

static bool count_local(void *arg, const st_local_case *lc) {
  (void)lc;
  (*(int *)arg)++;
  return true;
}

static int local_count(st_outbox *ob) {
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_outbox_read_begin(ob, &t, &err), MC_OK);
  int n = 0;
  assert_int_equal(st_ob_local_scan(t, count_local, &n, &err), MC_OK);
  st_read_end(t);
  return n;
}

typedef struct del_arg {
  const char *ref;
  bool existed;
} del_arg;

static mc_code del_op(st_txn *t, void *arg, mc_err *err) {
  del_arg *a = arg;
  return st_ob_local_delete(t, a->ref, &a->existed, err);
}

static void test_local_copies(void **state) {
  env *e = *state;
  mc_err err = {0};
  /* Taken in offline: no id yet, no units_involved. */
  local_arg a = {.id = "", .ref = "PS-2026-0001", .state = MV_STATE(INTAKE)};
  assert_int_equal(st_outbox_write(e->ob, local_op, &a, &err), MC_OK);
  st_local_case *lc = NULL;
  assert_int_equal(local_get(e->ob, "PS-2026-0001", &lc), MC_OK);
  assert_true(lc->stale);
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  assert_int_equal(local_get(e->ob, "police-studio:PS-2026-0001", &lc), MC_OK);
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  assert_int_equal(local_get(e->ob, "BH-2026-000001", &lc), MC_NOT_FOUND);

  /* The router's id arrives: the copy moves under it, found both ways. */
  local_arg b = {.id = "BH-2026-000001", .ref = "PS-2026-0001", .first = SF_POLICE,
                 .state = MV_STATE(TRANSFER)};
  assert_int_equal(st_outbox_write(e->ob, local_op, &b, &err), MC_OK);
  assert_int_equal(local_get(e->ob, "BH-2026-000001", &lc), MC_OK);
  assert_false(lc->stale);
  assert_int_equal(lc->case_record->state, MV_STATE(TRANSFER));
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  assert_int_equal(local_get(e->ob, "PS-2026-0001", &lc), MC_OK);
  assert_string_equal(lc->case_record->id, "BH-2026-000001");
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  assert_int_equal(local_count(e->ob), 1);

  /* Another case cannot claim the same reference. */
  local_arg c = {.id = "BH-2026-000002", .ref = "PS-2026-0001", .first = SF_POLICE,
                 .state = MV_STATE(INTAKE)};
  assert_int_equal(st_outbox_write(e->ob, local_op, &c, &err), MC_ALREADY_EXISTS);

  /* A case received from another unit carries that unit's reference. */
  local_arg d = {.id = "BH-2026-000003", .ref = "PS-2026-0001", .first = SF_WANGAI,
                 .state = MV_STATE(MEDIATION)};
  assert_int_equal(st_outbox_write(e->ob, local_op, &d, &err), MC_OK);
  assert_int_equal(local_get(e->ob, "station-wangai:PS-2026-0001", &lc), MC_OK);
  assert_string_equal(lc->case_record->id, "BH-2026-000003");
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  assert_int_equal(local_get(e->ob, "PS-2026-0001", &lc), MC_OK);
  assert_string_equal(lc->case_record->id, "BH-2026-000001");
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  assert_int_equal(local_count(e->ob), 2);

  /* Neither an id nor a reference. */
  local_arg bad = {.id = "", .ref = "", .state = MV_STATE(INTAKE)};
  assert_int_equal(st_outbox_write(e->ob, local_op, &bad, &err), MC_INVALID_ARGUMENT);

  /* Delete by reference; again is harmless. */
  del_arg r = {.ref = "PS-2026-0001"};
  assert_int_equal(st_outbox_write(e->ob, del_op, &r, &err), MC_OK);
  assert_true(r.existed);
  assert_int_equal(st_outbox_write(e->ob, del_op, &r, &err), MC_OK);
  assert_false(r.existed);
  assert_int_equal(local_get(e->ob, "BH-2026-000001", &lc), MC_NOT_FOUND);
  assert_int_equal(local_count(e->ob), 1);
  /* The reference is free again. */
  assert_int_equal(st_outbox_write(e->ob, local_op, &c, &err), MC_OK);
}

/* ---- Conflicts, bookkeeping, atomic batches ------------------------------------------------ */

typedef struct forward_arg {
  uint64_t seq;
  bool refuse_second;
} forward_arg;

/* The router refused a queued step: drop it from the queue and record the
 * conflict, atomically. */
static mc_code refused_op(st_txn *t, void *arg, mc_err *err) {
  forward_arg *a = arg;
  st_outbox_entry *first;
  mc_code rc = st_ob_first(t, &first, err);
  if (rc != MC_OK)
    return rc;
  st_conflict c = MEDIATION__V1__CONFLICT__INIT;
  c.outbox_seq = first->seq;
  c.action = first->action;
  c.code = MV_STATUS(FAILED_PRECONDITION);
  c.message = "case is in mediation";
  c.queued_ms = first->queued_ms;
  c.refused_ms = SF_T0 + SF_MINUTE;
  a->seq = first->seq;
  rc = st_ob_conflict_put(t, &c, err);
  if (rc == MC_OK)
    rc = st_ob_remove(t, first->seq, NULL, err);
  protobuf_c_message_free_unpacked(&first->base, NULL);
  return rc;
}

static mc_code failing_op(st_txn *t, void *arg, mc_err *err) {
  (void)arg;
  uint64_t serial;
  assert_int_equal(st_ob_next_ref(t, 2026, &serial, err), MC_OK);
  return mc_err_set(err, MC_ABORTED, "changed my mind");
}

static void test_conflicts_and_bookkeeping(void **state) {
  env *e = *state;
  push(e->ob, "r1", "一");
  push(e->ob, "r2", "二");
  forward_arg f = {0};
  st_op ops[2] = {{.apply = refused_op, .arg = &f}, {.apply = failing_op}};
  mc_err err = {0};
  assert_int_equal(st_outbox_batch(e->ob, ops, 2, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_OK);
  assert_int_equal(ops[1].code, MC_ABORTED);
  assert_int_equal(f.seq, 1);
  st_txn *t;
  assert_int_equal(st_outbox_read_begin(e->ob, &t, &err), MC_OK);
  st_conflict **cs;
  size_t n;
  assert_int_equal(st_ob_conflict_list(t, &cs, &n, &err), MC_OK);
  assert_int_equal(n, 1);
  assert_int_equal(cs[0]->outbox_seq, 1);
  assert_string_equal(cs[0]->action->reason, "一");
  st_messages_free(cs, n);
  uint64_t count;
  assert_int_equal(st_ob_count(t, &count, &err), MC_OK);
  assert_int_equal(count, 1);
  st_read_end(t);

  /* Bookkeeping needs a batch. */
  uint64_t serial;
  assert_int_equal(st_outbox_read_begin(e->ob, &t, &err), MC_OK);
  assert_int_equal(st_ob_next_ref(t, 2026, &serial, &err), MC_FAILED_PRECONDITION);
  st_read_end(t);
}

typedef struct book_arg {
  uint64_t s[3], acked;
} book_arg;

static mc_code book_op(st_txn *t, void *arg, mc_err *err) {
  book_arg *b = arg;
  mc_code rc = st_ob_next_ref(t, 2026, &b->s[0], err);
  if (rc == MC_OK)
    rc = st_ob_next_ref(t, 2026, &b->s[1], err);
  if (rc == MC_OK)
    rc = st_ob_next_ref(t, 2027, &b->s[2], err);
  if (rc == MC_OK)
    rc = st_ob_acked_set(t, 7, err);
  if (rc == MC_OK)
    rc = st_ob_acked_set(t, 3, err);
  if (rc == MC_OK)
    rc = st_ob_acked_get(t, &b->acked, err);
  return rc;
}

static void test_refs_and_acked(void **state) {
  env *e = *state;
  st_op ops[2] = {{.apply = failing_op}, {.apply = book_op}};
  book_arg b = {0};
  ops[1].arg = &b;
  mc_err err = {0};
  assert_int_equal(st_outbox_batch(e->ob, ops, 2, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_ABORTED);
  assert_int_equal(ops[1].code, MC_OK);
  assert_int_equal(b.s[0], 1);
  assert_int_equal(b.s[1], 2);
  assert_int_equal(b.s[2], 1);
  assert_int_equal(b.acked, 7);
  st_outbox_close(e->ob);
  e->ob = ob_open(e->dir, 0);
  st_txn *t;
  assert_int_equal(st_outbox_read_begin(e->ob, &t, &err), MC_OK);
  uint64_t acked = 0;
  assert_int_equal(st_ob_acked_get(t, &acked, &err), MC_OK);
  assert_int_equal(acked, 7);
  st_read_end(t);
}

typedef struct conflict_del {
  uint64_t seq;
  bool existed;
} conflict_del;

static mc_code conflict_del_op(st_txn *t, void *arg, mc_err *err) {
  conflict_del *c = arg;
  return st_ob_conflict_delete(t, c->seq, &c->existed, err);
}

static void test_conflict_dismiss(void **state) {
  env *e = *state;
  push(e->ob, "r1", "一");
  forward_arg f = {0};
  mc_err err = {0};
  assert_int_equal(st_outbox_write(e->ob, refused_op, &f, &err), MC_OK);
  conflict_del c = {.seq = f.seq};
  assert_int_equal(st_outbox_write(e->ob, conflict_del_op, &c, &err), MC_OK);
  assert_true(c.existed);
  assert_int_equal(st_outbox_write(e->ob, conflict_del_op, &c, &err), MC_OK);
  assert_false(c.existed);
}

/* Desk call records: kept under their request id, survive a reopen, and
 * are pruned only when old and fully answered. */
typedef struct desk_arg {
  const char *id;
  int64_t made_ms;
  Mediation__V1__DeskDisposition disposition;
  int64_t prune_before;
  size_t pruned;
} desk_arg;

static mc_code desk_put_op(st_txn *txn, void *arg, mc_err *err) {
  desk_arg *d = arg;
  Mediation__V1__DeskStep step = MEDIATION__V1__DESK_STEP__INIT;
  Mediation__V1__DeskStep *steps[1] = {&step};
  step.disposition = d->disposition;
  step.outbox_seq = 7;
  st_desk_record rec = MEDIATION__V1__DESK_RECORD__INIT;
  rec.steps = steps;
  rec.n_steps = 1;
  rec.local_ref = "police-studio:PS-2026-0001";
  rec.made_ms = d->made_ms;
  return st_ob_desk_put(txn, (const uint8_t *)d->id, strlen(d->id), &rec, err);
}

static mc_code desk_prune_op(st_txn *txn, void *arg, mc_err *err) {
  desk_arg *d = arg;
  return st_ob_desk_prune(txn, d->prune_before, 100, &d->pruned, err);
}

static bool desk_has(st_outbox *ob, const char *id) {
  st_txn *t = NULL;
  mc_err err = {0};
  assert_int_equal(st_outbox_read_begin(ob, &t, &err), MC_OK);
  st_desk_record *rec = NULL;
  mc_code rc = st_ob_desk_get(t, (const uint8_t *)id, strlen(id), &rec, &err);
  st_read_end(t);
  assert_true(rc == MC_OK || rc == MC_NOT_FOUND);
  if (rec != NULL) {
    assert_int_equal(rec->n_steps, 1);
    assert_int_equal(rec->steps[0]->outbox_seq, 7);
    assert_string_equal(rec->local_ref, "police-studio:PS-2026-0001");
    protobuf_c_message_free_unpacked(&rec->base, NULL);
  }
  return rc == MC_OK;
}

static void test_desk_records(void **state) {
  env *e = *state;
  mc_err err = {0};
  desk_arg old_done = {.id = "old-done", .made_ms = SF_T0, .disposition = MV_DISPOSITION(APPLIED)};
  desk_arg old_waiting = {.id = "old-waiting", .made_ms = SF_T0,
                          .disposition = MV_DISPOSITION(QUEUED)};
  desk_arg fresh = {.id = "fresh", .made_ms = SF_T0 + 1000,
                    .disposition = MV_DISPOSITION(REFUSED)};
  assert_int_equal(st_outbox_write(e->ob, desk_put_op, &old_done, &err), MC_OK);
  assert_int_equal(st_outbox_write(e->ob, desk_put_op, &old_waiting, &err), MC_OK);
  assert_int_equal(st_outbox_write(e->ob, desk_put_op, &fresh, &err), MC_OK);
  assert_false(desk_has(e->ob, "never"));
  st_outbox_close(e->ob);
  e->ob = ob_open(e->dir, 0);
  assert_true(desk_has(e->ob, "old-done"));
  desk_arg prune = {.prune_before = SF_T0 + 500};
  assert_int_equal(st_outbox_write(e->ob, desk_prune_op, &prune, &err), MC_OK);
  assert_int_equal(prune.pruned, 1);
  assert_false(desk_has(e->ob, "old-done"));
  assert_true(desk_has(e->ob, "old-waiting")); /* a step still queued: a retry may come */
  assert_true(desk_has(e->ob, "fresh"));
}

/* A store's transaction is not an outbox's, nor the reverse. */
static void test_kinds_do_not_mix(void **state) {
  env *e = *state;
  char *dir = sf_tmpdir();
  st_store *s = sf_open(dir, 0, 0);
  st_txn *st, *ot;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &st, &err), MC_OK);
  assert_int_equal(st_outbox_read_begin(e->ob, &ot, &err), MC_OK);
  st_outbox_entry *x;
  assert_int_equal(st_ob_first(st, &x, &err), MC_INVALID_ARGUMENT);
  uint64_t counts[8];
  assert_int_equal(st_count_states(ot, counts, &err), MC_INVALID_ARGUMENT);
  st_read_end(ot);
  st_read_end(st);
  st_close(s);
  sf_rmrf(dir);
  free(dir);
}

/* The outbox grows its map like the store. */
static void test_outbox_growth(void **state) {
  (void)state;
  char *dir = sf_tmpdir();
  st_outbox *ob = ob_open(dir, 64 << 10);
  char reason[2001];
  memset(reason, 'r', 2000);
  reason[2000] = '\0';
  for (int i = 0; i < 400; i++) {
    char rid[16];
    snprintf(rid, sizeof(rid), "r%d", i);
    assert_int_equal(push(ob, rid, reason), (uint64_t)i + 1);
  }
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_outbox_read_begin(ob, &t, &err), MC_OK);
  uint64_t n;
  assert_int_equal(st_ob_count(t, &n, &err), MC_OK);
  assert_int_equal(n, 400);
  st_read_end(t);
  st_outbox_close(ob);
  sf_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_queue_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove_and_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_push_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_local_copies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conflicts_and_bookkeeping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refs_and_acked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conflict_dismiss, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kinds_do_not_mix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_desk_records, setup, teardown),
      cmocka_unit_test(test_outbox_growth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
