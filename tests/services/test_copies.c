/*
 * test_copies.c - a unit's local copy follows the router's record of every
 * case it holds, held or is offered, whoever moves the case: a
 * coordinator's recall or reopen, the receiver refusing or accepting the
 * unit's offer, the new holder's steps. Each change is made once with the
 * unit running and once with it stopped and started again afterwards.
 *
 * After each change, when nothing is in flight any more (every outbox
 * empty, no delivery pending at the router), each unit's copy is compared
 * with the router's record: through the Desk lists while the router runs
 * (ListCases for a held case, Inbox for an offered one) and, once per
 * story (router restarts are slow under valgrind), through ShowCase while
 * the router is stopped (answered from the copy). Then the
 * unit takes its next step on the case through its Desk, and the router
 * applies it: a stale copy would have the Desk refuse it. Last, a copy
 * that missed a change does not make the Desk refuse a step the router
 * accepts while the router answers.
 *
 * A router, the police studio, the marriage studio and 孔雀's workstation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/names.h"
#include "desk.h"

#define WAIT_MS 30000
#define POLICE "police-studio"
#define MARRIAGE "marriage-studio"
#define KONGQUE "station-kongque"
#define A(x) MV_ACTION(x)
#define REFUSED MV_DISPOSITION(REFUSED)
#define MASKED_PHONE "138****1234"

static const ts_daemon daemons[] = {
    {"police-studio", POLICE},
    {"marriage-studio", MARRIAGE},
    {"community-station", KONGQUE},
};
#define N_UNITS (sizeof(daemons) / sizeof(daemons[0]))

static int setup(void **state) {
  (void)state;
  return ts_start("copies", NULL, daemons, N_UNITS);
}

static int teardown(void **state) {
  (void)state;
  return ts_stop();
}

static void free_msg(void *m) {
  if (m != NULL)
    protobuf_c_message_free_unpacked(m, NULL);
}

static const char *program_of(const char *unit) {
  for (size_t i = 0; i < N_UNITS; i++) {
    if (strcmp(daemons[i].unit, unit) == 0)
      return daemons[i].program;
  }
  fail_msg("no daemon for %s", unit);
  return NULL;
}

/* ---- steps -------------------------------------------------------------- */

/* A coordinator's step, straight at the router. */
static void coordinator_step(const char *id, mv_action_kind kind, const char *reason,
                             mv_state want) {
  mv_action a;
  ts_action(&a, kind, id, reason);
  a.person = "协调员";
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(tw_client(&ts_world, "coordinator", NULL),
                               &mediation__v1__router__descriptor, "Apply", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("coordinator %s on %s: %s: %s", mc_name_of(mc_action_names, kind), id,
             mc_code_name(rc), err.msg);
  assert_int_equal(((Mediation__V1__ApplyReply *)reply)->case_record->state, want);
  free_msg(reply);
}

/* A unit's step through its Desk that must be applied by the router (the
 * Desk may queue it while it believes the router away, e.g. just after
 * the router restarted): never refused, forwarded, leaving the case in
 * `want` held by `holder`. */
static void step_applies(const char *unit, mv_action *a, mv_state want, const char *holder) {
  Mediation__V1__DeskReply *r = ts_act(unit, a);
  assert_true(r->n_steps >= 1);
  if (r->steps[0]->disposition == REFUSED)
    fail_msg("%s's Desk refused %s on %s: %s", unit, mc_name_of(mc_action_names, a->kind),
             a->case_ref, r->steps[0]->message);
  free_msg(r);
  ts_wait_outbox_empty(unit, WAIT_MS);
  Mediation__V1__DeskConflictsReply *c = ts_conflicts(unit);
  if (c->n_conflicts != 0)
    fail_msg("the router refused %s's %s on %s: %s", unit, mc_name_of(mc_action_names, a->kind),
             a->case_ref, c->conflicts[0]->message);
  free_msg(c);
  Mediation__V1__GetCaseReply *g = ts_router_case(a->case_ref, false);
  if (g->case_record->state != want || strcmp(g->case_record->holder, holder) != 0)
    fail_msg("after %s's %s, case %s is in state %d at %s", unit,
             mc_name_of(mc_action_names, a->kind), a->case_ref, g->case_record->state,
             g->case_record->holder);
  free_msg(g);
}

static void simple_applies(const char *unit, const char *id, mv_action_kind kind,
                           const char *reason, mv_state want, const char *holder) {
  mv_action a;
  ts_action(&a, kind, id, reason);
  step_applies(unit, &a, want, holder);
}

static void transfer_applies(const char *unit, const char *id, const char *to) {
  mv_action a;
  ts_action(&a, MV_ACTION(TRANSFER), id, "转交测试");
  a.args_case = MV_ARGS(TO_UNIT);
  a.to_unit = (char *)to;
  step_applies(unit, &a, MV_STATE(TRANSFER), unit);
}

static void session_applies(const char *unit, const char *id) {
  mv_action a;
  ts_action(&a, MV_ACTION(RECORD_SESSION), id, NULL);
  Mediation__V1__Session s = MEDIATION__V1__SESSION__INIT;
  s.held_ms = mc_now_ms();
  s.note = "调解会议";
  a.args_case = MV_ARGS(SESSION);
  a.session = &s;
  step_applies(unit, &a, MV_STATE(MEDIATION), unit);
}

/* Takes a case in at unit through its Desk, with the policy's steps (the
 * Desk may queue them while it believes the router away, e.g. just after
 * the router restarted); once the router has them all, writes its id. */
static void take_in_applies(const char *unit, mv_kind kind, const char *community,
                            mv_state want, char id[32]) {
  ts_intake t;
  ts_intake_init(&t, kind, community, 2, 150000);
  Mediation__V1__DeskReply *r = ts_take_in(unit, &t.in, NULL, NULL);
  for (size_t i = 0; i < r->n_steps; i++) {
    if (r->steps[i]->disposition == REFUSED)
      fail_msg("%s's Desk refused a step of a new intake: %s", unit, r->steps[i]->message);
  }
  char alias[96];
  snprintf(alias, sizeof(alias), "%s:%s", unit, r->case_record->intake->unit_ref);
  free_msg(r);
  ts_wait_outbox_empty(unit, WAIT_MS);
  Mediation__V1__GetCaseReply *g = ts_router_case(alias, false);
  assert_int_equal(g->case_record->state, want);
  snprintf(id, 32, "%s", g->case_record->id);
  free_msg(g);
}

/* A divorce taken in at the police studio: referred at once to the
 * marriage studio, whose Inbox shows the offer. */
static void police_referral(char id[32]) {
  take_in_applies(POLICE, MV_KIND(DIVORCE), "kongque", MV_STATE(TRANSFER), id);
  Mediation__V1__DeskListReply *l = ts_wait_local(MARRIAGE, true, id, NULL, NULL, WAIT_MS, NULL);
  free_msg(l);
}

/* ---- comparing copies with the router --------------------------------------- */

/* Deliveries the router holds for unit, not yet signed for. */
static size_t pending_deliveries(const char *unit) {
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(tw_client(&ts_world, unit, NULL),
                               &mediation__v1__router__descriptor, "PullDeliveries", &req.base,
                               NULL, &reply, &err);
  if (rc != MC_OK)
    fail_msg("PullDeliveries as %s: %s: %s", unit, mc_code_name(rc), err.msg);
  size_t n = ((Mediation__V1__PullDeliveriesReply *)reply)->n_deliveries;
  free_msg(reply);
  return n;
}

static uint32_t router_events(const char *id) {
  Mediation__V1__GetCaseReply *g = ts_router_case(id, false);
  uint32_t n = g->case_record->event_count;
  free_msg(g);
  return n;
}

/* Waits until nothing is in flight: no step queued at any unit, no
 * delivery pending at the router, and the case file as long as it was
 * before that was seen. Returns the router's record then (the
 * coordinator's view; caller frees). */
static Mediation__V1__GetCaseReply *settled(const char *id) {
  int64_t until = mc_mono_ms() + WAIT_MS;
  uint32_t before = router_events(id);
  for (;;) {
    bool quiet = true;
    for (size_t i = 0; i < N_UNITS && quiet; i++) {
      Mediation__V1__DeskConflictsReply *c = ts_conflicts(daemons[i].unit);
      quiet = c->outbox_pending == 0 && pending_deliveries(daemons[i].unit) == 0;
      free_msg(c);
    }
    uint32_t now = router_events(id);
    if (quiet && now == before)
      return ts_router_case(id, false);
    before = now;
    if (mc_mono_ms() >= until)
      fail_msg("case %s: deliveries or steps still in flight after %d ms", id, WAIT_MS);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

static bool same_bytes(ProtobufCBinaryData a, ProtobufCBinaryData b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* Fails unless unit's copy is the router's record r (personal data masked
 * unless the unit holds the case). */
static void expect_same(const char *unit, const char *how, const mv_case *copy,
                        const mv_case *r) {
  const char *what = NULL;
  if (strcmp(copy->id, r->id) != 0)
    what = "id";
  else if (copy->state != r->state)
    what = "state";
  else if (strcmp(copy->holder, r->holder) != 0)
    what = "holder";
  else if (copy->event_count != r->event_count)
    what = "event count";
  else if (!same_bytes(copy->last_event_hash, r->last_event_hash))
    what = "last event hash";
  else if ((copy->transfer == NULL) != (r->transfer == NULL) ||
           (r->transfer != NULL && strcmp(copy->transfer->to_unit, r->transfer->to_unit) != 0))
    what = "pending transfer";
  else if (copy->reopen_count != r->reopen_count || copy->n_team != r->n_team ||
           copy->n_units_involved != r->n_units_involved)
    what = "reopen count, team or units involved";
  else if (strcmp(copy->intake->parties[0]->phone,
                  strcmp(r->holder, unit) == 0 ? TS_PHONE : MASKED_PHONE) != 0)
    what = "masking";
  if (what != NULL)
    fail_msg("%s's copy of %s (%s) differs from the router's in its %s: state %d at %s, "
             "%u events; the router: state %d at %s, %u events",
             unit, r->id, how, what, copy->state, copy->holder, copy->event_count, r->state,
             r->holder, r->event_count);
}

/* What the Desk lists show while the router runs: a held case in
 * ListCases, an offered one in the Inbox, and no other. */
static void expect_listed(const char *unit, const mv_case *r) {
  bool holds = strcmp(r->holder, unit) == 0;
  bool offered = r->transfer != NULL && strcmp(r->transfer->to_unit, unit) == 0;
  for (int inbox = 0; inbox < 2; inbox++) {
    bool want = inbox ? offered : holds;
    ProtobufCMessage *reply = NULL;
    mc_err err;
    mc_code rc;
    if (inbox) {
      Mediation__V1__DeskInboxRequest req = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
      rc = ts_desk_call(unit, "Inbox", &req.base, &reply, &err);
    } else {
      Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
      req.page_size = ts_world.reg->limits.page_size_max; /* one page holds them all */
      rc = ts_desk_call(unit, "ListCases", &req.base, &reply, &err);
    }
    assert_int_equal(rc, MC_OK);
    Mediation__V1__DeskListReply *l = (Mediation__V1__DeskListReply *)reply;
    const Mediation__V1__LocalCase *found = NULL;
    for (size_t i = 0; i < l->n_cases; i++) {
      if (strcmp(l->cases[i]->case_record->id, r->id) == 0)
        found = l->cases[i];
    }
    const char *list = inbox ? "Inbox" : "ListCases";
    if (want && found == NULL)
      fail_msg("%s's %s does not show %s", unit, list, r->id);
    if (!want && found != NULL)
      fail_msg("%s's %s shows %s (state %d at %s); the router: state %d at %s", unit, list,
               r->id, found->case_record->state, found->case_record->holder, r->state,
               r->holder);
    if (found != NULL) {
      assert_false(found->stale);
      expect_same(unit, list, found->case_record, r);
    }
    free_msg(reply);
  }
}

/* Every unit's copy of the case is the router's record: in the Desk lists
 * now, and, with router_stopped, in ShowCase with the router stopped (the
 * copy is all a unit has then; the only way to see the copy of a case the
 * unit neither holds nor is offered). Units that were never in the case
 * have no copy. */
static void expect_copies(const char *id, bool router_stopped) {
  Mediation__V1__GetCaseReply *g = settled(id);
  const mv_case *r = g->case_record;
  bool in[N_UNITS];
  for (size_t i = 0; i < N_UNITS; i++) {
    in[i] = false;
    for (size_t k = 0; k < r->n_units_involved; k++)
      in[i] = in[i] || strcmp(r->units_involved[k], daemons[i].unit) == 0;
    if (in[i])
      expect_listed(daemons[i].unit, r);
  }
  if (!router_stopped) {
    free_msg(g);
    return;
  }
  assert_int_equal(tw_stop_router(&ts_world), 0);
  for (size_t i = 0; i < N_UNITS; i++) {
    if (!in[i])
      continue;
    Mediation__V1__DeskShowRequest show = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
    show.case_ref = (char *)id;
    ProtobufCMessage *reply = NULL;
    mc_err err;
    mc_code rc = ts_desk_call(daemons[i].unit, "ShowCase", &show.base, &reply, &err);
    if (rc != MC_OK)
      fail_msg("ShowCase %s at %s without the router: %s: %s", id, daemons[i].unit,
               mc_code_name(rc), err.msg);
    Mediation__V1__DeskShowReply *s = (Mediation__V1__DeskShowReply *)reply;
    assert_true(s->stale); /* from the copy */
    expect_same(daemons[i].unit, "ShowCase", s->case_record, r);
    free_msg(reply);
  }
  assert_int_equal(tw_start_router(&ts_world, NULL), 0);
  free_msg(g);
}

/* The change is made with `unit` stopped when offline; it is started again
 * after. */
static void unit_away(const char *unit, bool offline) {
  if (offline)
    assert_int_equal(tw_stop_unit(&ts_world, unit), 0);
}

static void unit_back(const char *unit, bool offline) {
  if (offline)
    assert_int_equal(tw_start_unit(&ts_world, program_of(unit), unit), 0);
}

/* Each test starts with every daemon running, even after a test that
 * failed with the router or a unit stopped. */
static void everyone_up(void) {
  if (!th_running(&ts_world.router))
    assert_int_equal(tw_start_router(&ts_world, NULL), 0);
  for (size_t i = 0; i < N_UNITS; i++) {
    th_proc *p = tw_unit_proc(&ts_world, daemons[i].unit);
    if (p == NULL || !th_running(p))
      assert_int_equal(tw_start_unit(&ts_world, daemons[i].program, daemons[i].unit), 0);
  }
}

/* ---- the changes ---------------------------------------------------------- */

/* A coordinator recalls the police studio's offer to the marriage studio:
 * the case is back in intake at the police studio, which routes it to 孔雀
 * instead (the step the stale copy refused: "is in 流转"). */
static void recall(bool offline) {
  everyone_up();
  char id[32];
  police_referral(id);
  unit_away(POLICE, offline);
  coordinator_step(id, MV_ACTION(RECALL), "协调员收回：先由派出所处理", MV_STATE(INTAKE));
  unit_back(POLICE, offline);
  expect_copies(id, false);
  transfer_applies(POLICE, id, KONGQUE);
  expect_copies(id, true);
}

/* A coordinator reopens a case 孔雀 closed with an agreement: the station
 * records a new session (refused on a copy still saying 结案). */
static void reopen(bool offline) {
  everyone_up();
  char id[32];
  take_in_applies(KONGQUE, MV_KIND(NEIGHBOUR), "kongque", MV_STATE(INTAKE), id);
  simple_applies(KONGQUE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION), KONGQUE);
  mv_action a;
  ts_action(&a, MV_ACTION(RECORD_OUTCOME), id, NULL);
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(AGREEMENT);
  o.agreed_amount_fen = 20000;
  o.summary = "达成协议";
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  step_applies(KONGQUE, &a, MV_STATE(FEEDBACK), KONGQUE);
  ts_action(&a, MV_ACTION(RECORD_FEEDBACK), id, NULL);
  Mediation__V1__Feedback f = MEDIATION__V1__FEEDBACK__INIT;
  f.satisfaction = MV_SATISFACTION(SATISFIED);
  f.visited_ms = mc_now_ms();
  f.note = "回访";
  a.args_case = MV_ARGS(FEEDBACK);
  a.feedback = &f;
  step_applies(KONGQUE, &a, MV_STATE(FEEDBACK), KONGQUE);
  simple_applies(KONGQUE, id, MV_ACTION(CLOSE), NULL, MV_STATE(CLOSED), KONGQUE);

  unit_away(KONGQUE, offline);
  coordinator_step(id, MV_ACTION(REOPEN), "当事人反悔，重新调解", MV_STATE(MEDIATION));
  unit_back(KONGQUE, offline);
  expect_copies(id, false);
  session_applies(KONGQUE, id);
  expect_copies(id, true);
}

/* The marriage studio refuses the police studio's offer: back at the
 * police studio, which routes it to 孔雀. */
static void refuse(bool offline) {
  everyone_up();
  char id[32];
  police_referral(id);
  unit_away(POLICE, offline);
  mv_action a;
  ts_action(&a, MV_ACTION(REFUSE), id, "不属于婚姻家庭纠纷");
  step_applies(MARRIAGE, &a, MV_STATE(INTAKE), POLICE);
  unit_back(POLICE, offline);
  expect_copies(id, false);
  transfer_applies(POLICE, id, KONGQUE);
  expect_copies(id, true);
}

/* The marriage studio accepts the police studio's offer and goes on with
 * it; the police studio's copy follows (it held the case). When the
 * studio hands the case back, the police studio takes it up again. */
static void accept(bool offline) {
  everyone_up();
  char id[32];
  police_referral(id);
  unit_away(POLICE, offline);
  mv_action a;
  ts_action(&a, MV_ACTION(ACCEPT), id, NULL);
  step_applies(MARRIAGE, &a, MV_STATE(INTAKE), MARRIAGE);
  simple_applies(MARRIAGE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION), MARRIAGE);
  session_applies(MARRIAGE, id);
  unit_back(POLICE, offline);
  expect_copies(id, true); /* the police studio's copy: ShowCase only */
  transfer_applies(MARRIAGE, id, POLICE);
  simple_applies(POLICE, id, MV_ACTION(ACCEPT), NULL, MV_STATE(INTAKE), POLICE);
  simple_applies(POLICE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION), POLICE);
  expect_copies(id, false);
}

/* Signs for every delivery the router holds for unit, as if the unit had
 * stored them; returns how many. */
static size_t sign_for_all(const char *unit) {
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  rpc_client *c = tw_client(&ts_world, unit, NULL);
  assert_int_equal(rpc_client_call(c, &mediation__v1__router__descriptor, "PullDeliveries",
                                   &req.base, NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__PullDeliveriesReply *p = (Mediation__V1__PullDeliveriesReply *)reply;
  size_t n = p->n_deliveries;
  for (size_t i = 0; i < n; i++) {
    const mv_delivery *d = p->deliveries[i];
    mv_receipt r = MEDIATION__V1__RECEIPT__INIT;
    r.unit = (char *)unit;
    r.delivery_seq = d->seq;
    r.case_id = d->snapshot->id;
    r.event_seq = d->event->seq;
    r.received_ms = mc_now_ms();
    uint8_t sig[RPC_SIGNATURE_BYTES];
    assert_int_equal(rpc_sign_message(tw_key(&ts_world, unit), &r.base, sig, &err), MC_OK);
    r.signature.data = sig;
    r.signature.len = sizeof(sig);
    mv_receipt *rp = &r;
    Mediation__V1__AckDeliveriesRequest ack = MEDIATION__V1__ACK_DELIVERIES_REQUEST__INIT;
    ack.receipts = &rp;
    ack.n_receipts = 1;
    ProtobufCMessage *acked = NULL;
    if (rpc_client_call(c, &mediation__v1__router__descriptor, "AckDeliveries", &ack.base, NULL,
                        &acked, &err) != MC_OK)
      fail_msg("AckDeliveries as %s: %s", unit, err.msg);
    free_msg(acked);
  }
  free_msg(reply);
  return n;
}

static bool router_answers_desk(const void *arg) {
  Mediation__V1__DeskShowRequest show = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
  show.case_ref = (char *)arg;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  if (ts_desk_call(POLICE, "ShowCase", &show.base, &reply, &err) != MC_OK)
    return false;
  bool fresh = !((Mediation__V1__DeskShowReply *)reply)->stale;
  free_msg(reply);
  return fresh;
}

/* While the router answers, it decides, even on a copy that missed a
 * change (here the police studio's copy misses a coordinator's recall: the
 * test signs for the studio's update while the studio is down, as a copy
 * misses a change for the moments between the router's commit and the
 * update's arrival): the Desk asks the router before it refuses, and the
 * step is applied; the copy is repaired on the way. */
static void test_router_decides_on_a_stale_copy(void **state) {
  (void)state;
  everyone_up();
  char id[32];
  police_referral(id);
  Mediation__V1__GetCaseReply *before = settled(id);
  free_msg(before);
  /* the marriage studio too: its receipt of the recall would update the
   * police studio's copy */
  unit_away(POLICE, true);
  unit_away(MARRIAGE, true);
  coordinator_step(id, MV_ACTION(RECALL), "协调员收回", MV_STATE(INTAKE));
  assert_int_equal(sign_for_all(POLICE), 1);
  unit_back(POLICE, true);
  assert_true(ts_poll(router_answers_desk, id, WAIT_MS));
  const Mediation__V1__LocalCase *lc;
  Mediation__V1__DeskListReply *l = ts_wait_local(POLICE, false, id, NULL, NULL, 1, &lc);
  assert_int_equal(lc->case_record->state, MV_STATE(TRANSFER)); /* stale indeed */
  free_msg(l);
  simple_applies(POLICE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION), POLICE);
  unit_back(MARRIAGE, true);
  expect_copies(id, true);
}

static void test_recall_online(void **state) {
  (void)state;
  recall(false);
}

static void test_recall_offline(void **state) {
  (void)state;
  recall(true);
}

static void test_reopen_online(void **state) {
  (void)state;
  reopen(false);
}

static void test_reopen_offline(void **state) {
  (void)state;
  reopen(true);
}

static void test_refuse_online(void **state) {
  (void)state;
  refuse(false);
}

static void test_refuse_offline(void **state) {
  (void)state;
  refuse(true);
}

static void test_accept_online(void **state) {
  (void)state;
  accept(false);
}

static void test_accept_offline(void **state) {
  (void)state;
  accept(true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recall_online),  cmocka_unit_test(test_recall_offline),
      cmocka_unit_test(test_reopen_online),  cmocka_unit_test(test_reopen_offline),
      cmocka_unit_test(test_refuse_online),  cmocka_unit_test(test_refuse_offline),
      cmocka_unit_test(test_accept_online),  cmocka_unit_test(test_accept_offline),
      cmocka_unit_test(test_router_decides_on_a_stale_copy),
  };
  return cmocka_run_group_tests_name("unit copies follow the router", tests, setup, teardown);
}
