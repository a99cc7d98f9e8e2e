/*
 * test_offline.c - store and forward: a unit works on while the router is
 * down, and everything reaches the router once, in order, when it is back;
 * a queued step the router refuses is reported as a conflict, never
 * dropped; what the unit can tell by itself is refused at once.
 *
 * A router, the police studio and the marriage studio, driven through the
 * units' Desks; the router is stopped and started under them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/ids.h"
#include "desk.h"
#include "router_proc.h"

#define WAIT_MS 30000
#define POLICE "police-studio"
#define MARRIAGE "marriage-studio"
#define A(x) MV_ACTION(x)
#define QUEUED MV_DISPOSITION(QUEUED)
#define APPLIED MV_DISPOSITION(APPLIED)
#define REFUSED MV_DISPOSITION(REFUSED)

static const ts_daemon daemons[] = {
    {"police-studio", POLICE},
    {"marriage-studio", MARRIAGE},
};

static int setup(void **state) {
  (void)state;
  return ts_start("offline", NULL, daemons, 2);
}

static int teardown(void **state) {
  (void)state;
  return ts_stop();
}

static void free_msg(void *m) {
  if (m != NULL)
    protobuf_c_message_free_unpacked(m, NULL);
}

static void restart_router(void) {
  assert_int_equal(tw_start_router(&ts_world, NULL), 0);
}

static void stop_router(void) {
  assert_int_equal(tw_stop_router(&ts_world), 0);
}

/* Three family disputes taken in at the police studio while the router is
 * down: queued with their referrals, forwarded in order once it is back,
 * each reaching the marriage studio once, signed for. */
static void test_offline_referrals_forwarded_in_order(void **state) {
  (void)state;
  stop_router();
  static const mv_kind kinds[3] = {MV_KIND(RELATIONSHIP), MV_KIND(DIVORCE), MV_KIND(CUSTODY)};
  static const char *const places[3] = {"kongque", "wangai", "baihe"};
  char refs[3][32];
  uint64_t last_seq = 0;
  for (int i = 0; i < 3; i++) {
    ts_intake t;
    ts_intake_init(&t, kinds[i], places[i], 2, 10000 * (i + 1));
    int64_t t0 = mc_mono_ms();
    Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
    int64_t took = mc_mono_ms() - t0;
    ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), QUEUED}, {A(TRANSFER), QUEUED}}, 2);
    /* once the unit knows the router is away, it says so at once */
    if (i > 0 && took > 1000)
      fail_msg("intake %d took %lld ms while the router was known to be down", i,
               (long long)took);
    assert_true(r->stale);
    const mv_case *c = r->case_record;
    assert_non_null(c);
    assert_string_equal(c->id, ""); /* no id before the router allocates one */
    assert_int_equal(c->state, MV_STATE(TRANSFER));
    assert_string_equal(c->holder, POLICE);
    assert_string_equal(c->transfer->to_unit, MARRIAGE);
    assert_memory_equal(c->intake->unit_ref, "PS-", 3);
    assert_true(r->steps[0]->outbox_seq > last_seq);
    assert_int_equal(r->steps[1]->outbox_seq, r->steps[0]->outbox_seq + 1);
    last_seq = r->steps[1]->outbox_seq;
    snprintf(refs[i], sizeof(refs[i]), "%s", c->intake->unit_ref);
    free_msg(r);
  }
  /* what the operators see meanwhile: their local copies */
  Mediation__V1__DeskConflictsReply *cf = ts_conflicts(POLICE);
  assert_int_equal(cf->outbox_pending, 6);
  assert_int_equal(cf->n_conflicts, 0);
  free_msg(cf);
  for (int i = 0; i < 3; i++) {
    const Mediation__V1__LocalCase *lc;
    Mediation__V1__DeskListReply *l = ts_wait_local(POLICE, false, refs[i], NULL, NULL, 1, &lc);
    assert_true(lc->stale);
    assert_int_equal(lc->queued_steps, 2);
    assert_int_equal(lc->synced_ms, 0);
    free_msg(l);
    Mediation__V1__DeskShowRequest show = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
    show.case_ref = refs[i];
    ProtobufCMessage *reply = NULL;
    mc_err err;
    assert_int_equal(ts_desk_call(POLICE, "ShowCase", &show.base, &reply, &err), MC_OK);
    Mediation__V1__DeskShowReply *s = (Mediation__V1__DeskShowReply *)reply;
    assert_true(s->stale);
    assert_string_equal(s->case_record->intake->unit_ref, refs[i]);
    assert_int_equal(s->case_record->state, MV_STATE(TRANSFER));
    free_msg(reply);
  }

  restart_router();
  ts_wait_outbox_empty(POLICE, WAIT_MS);

  /* each case exists once at the router, in intake order */
  char ids[3][32];
  uint64_t prev_serial = 0;
  int64_t prev_created = 0;
  for (int i = 0; i < 3; i++) {
    char alias[160];
    snprintf(alias, sizeof(alias), "%s:%s", POLICE, refs[i]);
    Mediation__V1__GetCaseReply *g = ts_router_case(alias, false);
    uint64_t serial;
    assert_true(mc_case_id_parse(g->case_record->id, NULL, &serial));
    assert_true(serial > prev_serial);
    assert_true(g->case_record->created_ms >= prev_created);
    prev_serial = serial;
    prev_created = g->case_record->created_ms;
    snprintf(ids[i], sizeof(ids[i]), "%s", g->case_record->id);
    free_msg(g);
  }
  /* and reaches the marriage studio once, offered, signed for */
  uint64_t prev_delivery = 0;
  for (int i = 0; i < 3; i++) {
    const Mediation__V1__LocalCase *lc;
    Mediation__V1__DeskListReply *l = ts_wait_local(MARRIAGE, true, ids[i], NULL, NULL, WAIT_MS, &lc);
    size_t seen = 0;
    for (size_t k = 0; k < l->n_cases; k++)
      seen += strcmp(l->cases[k]->case_record->id, ids[i]) == 0;
    assert_int_equal(seen, 1);
    assert_string_equal(lc->case_record->transfer->from_unit, POLICE);
    free_msg(l);
    static const mv_action_kind file[] = {A(TAKE_IN), A(TRANSFER)};
    static const ts_receipt receipts[] = {{MARRIAGE, 1}};
    Mediation__V1__GetCaseReply *g = ts_expect_file(ids[i], file, 2, receipts, 1, WAIT_MS);
    uint64_t delivery = 0;
    for (size_t k = 0; k < g->n_events; k++) {
      if (g->events[k]->action->kind == MV_ACTION(RECORD_RECEIPT))
        delivery = g->events[k]->action->receipt->delivery_seq;
    }
    assert_true(delivery > prev_delivery); /* delivered in the order taken in */
    prev_delivery = delivery;
    free_msg(g);
  }
  /* nothing twice: the police studio's cases at the router, each ref once */
  Mediation__V1__ListCasesReply *lc = tr_list_cases(&ts_world, POLICE, 500);
  for (int i = 0; i < 3; i++)
    tr_case_once(lc, refs[i]);
  free_msg(lc);
  /* the police studio's copies now carry the router's ids and are current */
  for (int i = 0; i < 3; i++) {
    const Mediation__V1__LocalCase *l1;
    Mediation__V1__DeskListReply *l = ts_wait_local(POLICE, false, ids[i], NULL, NULL, 1, &l1);
    assert_false(l1->stale);
    assert_int_equal(l1->queued_steps, 0);
    assert_true(l1->synced_ms > 0);
    assert_string_equal(l1->case_record->intake->unit_ref, refs[i]);
    free_msg(l);
  }
  cf = ts_conflicts(POLICE);
  assert_int_equal(cf->n_conflicts, 0);
  free_msg(cf);
}

/* The router restarted again and again under running units - stopped, or
 * killed, and started at once, so units reconnect while it goes down and
 * comes up: after every restart a referral made at the police studio
 * reaches the marriage studio, signed for. (nng 1.5.2's dialer stops for
 * good if a connection closes during its handshake; rpc/client_keeper.c
 * redials.) */
static void test_units_follow_router_restarts(void **state) {
  (void)state;
  enum { ROUNDS = 24 };
  for (int round = 0; round < ROUNDS; round++) {
    if (round % 2 == 0) {
      stop_router();
    } else {
      th_kill(&ts_world.router); /* SIGKILL, and reaped */
    }
    restart_router();
    ts_intake t;
    ts_intake_init(&t, MV_KIND(RELATIONSHIP), "baihe", 2, 1000 + round);
    Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
    char ref[64];
    snprintf(ref, sizeof(ref), "%s", r->case_record->intake->unit_ref);
    free_msg(r);
    ts_wait_outbox_empty(POLICE, WAIT_MS);
    char alias[160];
    snprintf(alias, sizeof(alias), "%s:%s", POLICE, ref);
    Mediation__V1__GetCaseReply *g = ts_router_case(alias, false);
    char id[32];
    snprintf(id, sizeof(id), "%s", g->case_record->id);
    free_msg(g);
    const Mediation__V1__LocalCase *lc;
    Mediation__V1__DeskListReply *l = ts_wait_local(MARRIAGE, true, id, NULL, NULL, WAIT_MS, &lc);
    free_msg(l);
    static const mv_action_kind file[] = {A(TAKE_IN), A(TRANSFER)};
    static const ts_receipt receipts[] = {{MARRIAGE, 1}};
    free_msg(ts_expect_file(id, file, 2, receipts, 1, WAIT_MS));
  }
}

/* A recall queued while the router was away, refused once it is back
 * because the marriage studio accepted the case meanwhile: a conflict the
 * operators see until they dismiss it. */
static void test_refused_queued_step_is_a_conflict(void **state) {
  (void)state;
  ts_intake t;
  ts_intake_init(&t, MV_KIND(FAMILY_TRIVIA), "kongque", 2, 0);
  Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}, {A(TRANSFER), APPLIED}}, 2);
  char id[32];
  snprintf(id, sizeof(id), "%s", r->case_record->id);
  free_msg(r);
  free_msg(ts_wait_local(MARRIAGE, true, id, NULL, NULL, WAIT_MS, NULL));

  stop_router();
  r = ts_act_simple(POLICE, id, MV_ACTION(RECALL), "当事人要求由派出所继续处理");
  ts_expect_steps(r, (ts_step[]){{A(RECALL), QUEUED}}, 1);
  assert_true(r->stale);
  assert_int_equal(r->case_record->state, MV_STATE(INTAKE)); /* as the unit expects it */
  uint64_t seq = r->steps[0]->outbox_seq;
  free_msg(r);
  /* The studio is frozen while the router comes back and the marriage
   * studio accepts, so that its recall arrives after the acceptance. */
  th_proc *police = tw_unit_proc(&ts_world, POLICE);
  assert_int_equal(kill(police->pid, SIGSTOP), 0);
  restart_router();
  r = ts_act_simple(MARRIAGE, id, MV_ACTION(ACCEPT), NULL);
  assert_int_equal(r->steps[0]->disposition, APPLIED);
  free_msg(r);
  assert_int_equal(kill(police->pid, SIGCONT), 0);

  int64_t until = mc_mono_ms() + WAIT_MS;
  Mediation__V1__DeskConflictsReply *cf = NULL;
  for (;;) {
    cf = ts_conflicts(POLICE);
    if (cf->n_conflicts > 0 || mc_mono_ms() > until)
      break;
    free_msg(cf);
  }
  assert_int_equal(cf->n_conflicts, 1);
  const Mediation__V1__Conflict *c = cf->conflicts[0];
  assert_int_equal(c->outbox_seq, seq);
  assert_int_equal(c->action->kind, MV_ACTION(RECALL));
  assert_string_equal(c->action->case_ref, id);
  assert_int_equal(c->code, MV_STATUS(FAILED_PRECONDITION));
  assert_true(c->refused_ms >= c->queued_ms);
  assert_int_equal(cf->outbox_pending, 0);
  free_msg(cf);
  /* the police studio's copy follows the router: no longer its case */
  ts_wait_not_listed(POLICE, id, WAIT_MS);

  Mediation__V1__DeskDismissRequest d = MEDIATION__V1__DESK_DISMISS_REQUEST__INIT;
  d.outbox_seq = seq;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(ts_desk_call(POLICE, "DismissConflict", &d.base, &reply, &err), MC_OK);
  free_msg(reply);
  assert_int_equal(ts_desk_call(POLICE, "DismissConflict", &d.base, &reply, &err), MC_NOT_FOUND);
  cf = ts_conflicts(POLICE);
  assert_int_equal(cf->n_conflicts, 0);
  free_msg(cf);
}

/* What the unit can tell by itself it refuses at once; nothing is queued. */
static void test_local_refusals(void **state) {
  (void)state;
  ts_intake t;
  ts_intake_init(&t, MV_KIND(LABOUR), "baihe", 2, 500000);
  t.in.workers = 12;
  Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
  /* labour disputes stay with the police studio */
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}}, 1);
  char id[32], ref[32];
  snprintf(id, sizeof(id), "%s", r->case_record->id);
  snprintf(ref, sizeof(ref), "%s", r->case_record->intake->unit_ref);
  free_msg(r);

  /* closing before mediation: the state machine says no, here */
  r = ts_act_simple(POLICE, ref, MV_ACTION(CLOSE), NULL);
  ts_expect_steps(r, (ts_step[]){{A(CLOSE), REFUSED}}, 1);
  assert_int_equal(r->steps[0]->code, MV_STATUS(FAILED_PRECONDITION));
  assert_non_null(strstr(r->steps[0]->message, id));
  assert_string_equal(r->case_record->id, id);
  free_msg(r);
  /* a transfer without a target, of a kind the studio keeps */
  r = ts_act_simple(POLICE, id, MV_ACTION(TRANSFER), "转出");
  ts_expect_steps(r, (ts_step[]){{A(TRANSFER), REFUSED}}, 1);
  assert_int_equal(r->steps[0]->code, MV_STATUS(INVALID_ARGUMENT));
  assert_non_null(strstr(r->steps[0]->message, "to_unit"));
  free_msg(r);
  /* an operator's own unit_ref used twice */
  ts_intake t2;
  ts_intake_init(&t2, MV_KIND(LABOUR), "baihe", 1, 0);
  t2.in.unit_ref = ref;
  r = ts_take_in(POLICE, &t2.in, NULL, NULL);
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), REFUSED}}, 1);
  assert_int_equal(r->steps[0]->code, MV_STATUS(ALREADY_EXISTS));
  free_msg(r);
  Mediation__V1__DeskConflictsReply *cf = ts_conflicts(POLICE);
  assert_int_equal(cf->outbox_pending, 0);
  assert_int_equal(cf->n_conflicts, 0);
  free_msg(cf);

  /* requests that are wrong in themselves */
  mc_err err;
  ProtobufCMessage *reply = NULL;
  mv_action a;
  Mediation__V1__DeskActRequest act = MEDIATION__V1__DESK_ACT_REQUEST__INIT;
  act.action = &a;
  ts_action(&a, MV_ACTION(START_MEDIATION), "PS-2026-9999", NULL);
  assert_int_equal(ts_desk_call(POLICE, "Act", &act.base, &reply, &err), MC_NOT_FOUND);
  ts_action(&a, MV_ACTION(TAKE_IN), id, NULL);
  assert_int_equal(ts_desk_call(POLICE, "Act", &act.base, &reply, &err), MC_INVALID_ARGUMENT);
  ts_action(&a, MV_ACTION(RECORD_RECEIPT), id, NULL);
  assert_int_equal(ts_desk_call(POLICE, "Act", &act.base, &reply, &err), MC_PERMISSION_DENIED);
  Mediation__V1__DeskTakeInRequest tin = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
  tin.intake = &t.in;
  tin.refer_to = "court-of-appeal";
  assert_int_equal(ts_desk_call(POLICE, "TakeIn", &tin.base, &reply, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "refer_to"));

  /* a case id this unit has no copy of: the Desk asks the router, whose
   * refusal is the answer (no copy here is no reason by itself) */
  char missing[40];
  snprintf(missing, sizeof(missing), "%.*s-999999", (int)(strrchr(id, '-') - id), id);
  ts_action(&a, MV_ACTION(START_MEDIATION), missing, NULL);
  assert_int_equal(ts_desk_call(POLICE, "Act", &act.base, &reply, &err), MC_NOT_FOUND);
  assert_null(strstr(err.msg, "no such case at"));
  assert_non_null(strstr(err.msg, missing));

  /* with the router up, ShowCase is the router's record and its timeline */
  Mediation__V1__DeskShowRequest show = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
  show.case_ref = ref;
  show.with_timeline = true;
  assert_int_equal(ts_desk_call(POLICE, "ShowCase", &show.base, &reply, &err), MC_OK);
  Mediation__V1__DeskShowReply *s = (Mediation__V1__DeskShowReply *)reply;
  assert_false(s->stale);
  assert_string_equal(s->case_record->id, id);
  assert_int_equal(s->n_events, 1);
  assert_int_equal(s->case_record->intake->workers, 12);
  free_msg(reply);
}

/* Desk/Search: the router's answer while it is up, the unit's own copies
 * (marked local) while it is down, by name and by whole ID number. */
static Mediation__V1__SearchReply *desk_search(const char *unit, const char *text) {
  Mediation__V1__SearchRequest req = MEDIATION__V1__SEARCH_REQUEST__INIT;
  req.text = (char *)text;
  req.person = "值班员";
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = ts_desk_call(unit, "Search", &req.base, &reply, &err);
  if (rc != MC_OK)
    fail_msg("Desk/Search at %s: %s: %s", unit, mc_code_name(rc), err.msg);
  return (Mediation__V1__SearchReply *)reply;
}

static void test_desk_search_falls_back(void **state) {
  (void)state;
  ts_intake t;
  ts_intake_init(&t, MV_KIND(NEIGHBOUR), "baihe", 2, 500);
  Mediation__V1__DeskReply *d = ts_take_in(POLICE, &t.in, NULL, NULL);
  free_msg(d);
  ts_wait_outbox_empty(POLICE, WAIT_MS);
  const char *texts[2] = {t.name, t.id_number};
  const char *fields[2] = {"party_name", "id_number"};
  for (int down = 0; down < 2; down++) {
    if (down)
      stop_router();
    for (int k = 0; k < 2; k++) {
      Mediation__V1__SearchReply *r = desk_search(POLICE, texts[k]);
      assert_int_equal(r->local, down);
      assert_int_equal(r->n_hits, 1);
      assert_int_equal(r->total, 1);
      assert_string_equal(r->hits[0]->matched, fields[k]);
      assert_string_equal(r->hits[0]->holder, POLICE);
      free_msg(r);
    }
    /* The marriage studio holds no copy of it, and the router says no. */
    Mediation__V1__SearchReply *r = desk_search(MARRIAGE, t.id_number);
    assert_int_equal(r->n_hits, 0);
    free_msg(r);
  }
  restart_router();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offline_referrals_forwarded_in_order),
      cmocka_unit_test(test_refused_queued_step_is_a_conflict),
      cmocka_unit_test(test_units_follow_router_restarts),
      cmocka_unit_test(test_local_refusals),
      cmocka_unit_test(test_desk_search_falls_back),
  };
  return cmocka_run_group_tests_name("store and forward", tests, setup, teardown);
}
