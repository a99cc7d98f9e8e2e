/*
 * test_scenarios.c - the four reference scenarios of DOMAIN.md across real
 * processes: mediation-router and five unit daemons (the police studio, the
 * marriage studio, the workstations of 王隘, 白鹤 and 孔雀), driven through
 * each unit's Desk by its own operator. Every step's disposition, every
 * state and holder, the team each unit assigns (and that load spreads it),
 * the case file with the router's receipts, and the figures it leaves.
 *
 * The tests share one deployment and run in order; team picks depend on
 * what earlier tests left open (that is the point of balancing by load), so
 * the expected names follow from the order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "desk.h"

#define WAIT_MS 20000
#define POLICE "police-studio"
#define MARRIAGE "marriage-studio"
#define WANGAI "station-wangai"
#define BAIHE "station-baihe"
#define KONGQUE "station-kongque"
#define DAY_MS (24LL * 3600 * 1000)

static const ts_daemon daemons[] = {
    {"police-studio", POLICE},       {"marriage-studio", MARRIAGE},
    {"community-station", WANGAI},   {"community-station", BAIHE},
    {"community-station", KONGQUE},
};

static int setup(void **state) {
  (void)state;
  return ts_start("services", NULL, daemons, sizeof(daemons) / sizeof(daemons[0]));
}

static int teardown(void **state) {
  (void)state;
  return ts_stop();
}

#define A(x) MV_ACTION(x)
#define APPLIED MV_DISPOSITION(APPLIED)

static void free_msg(void *m) {
  if (m != NULL)
    protobuf_c_message_free_unpacked(m, NULL);
}

/* The case is in state, held by holder. */
static void expect_case(const mv_case *c, mv_state state, const char *holder) {
  assert_non_null(c);
  if (c->state != state || strcmp(c->holder, holder) != 0)
    fail_msg("case %s: state %d held by %s; expected %d held by %s", c->id, c->state, c->holder,
             state, holder);
}

static bool offered(const Mediation__V1__LocalCase *lc, const void *arg) {
  (void)arg;
  return lc->case_record->state == MV_STATE(TRANSFER);
}

/* Waits for the offer in unit's Inbox and checks what it shows. */
static void wait_offer(const char *unit, const char *id, const char *from) {
  const Mediation__V1__LocalCase *lc;
  Mediation__V1__DeskListReply *l = ts_wait_local(unit, true, id, offered, NULL, WAIT_MS, &lc);
  assert_string_equal(lc->case_record->transfer->to_unit, unit);
  assert_string_equal(lc->case_record->transfer->from_unit, from);
  assert_string_equal(lc->case_record->holder, from);
  /* not the holder yet: personal data masked */
  assert_string_equal(lc->case_record->intake->parties[0]->phone, "138****1234");
  assert_non_null(lc->last_handoff);
  assert_int_equal(lc->last_handoff->action->kind, MV_ACTION(TRANSFER));
  free_msg(l);
}

static Mediation__V1__DeskReply *act_member(const char *unit, const char *id,
                                            Mediation__V1__TeamRole role) {
  mv_action a;
  ts_action(&a, MV_ACTION(ASSIGN), id, NULL);
  mv_member m = MEDIATION__V1__TEAM_MEMBER__INIT;
  m.role = role; /* no person: the unit picks by load */
  a.args_case = MV_ARGS(MEMBER);
  a.member = &m;
  return ts_act(unit, &a);
}

static void simple(const char *unit, const char *id, mv_action_kind kind, const char *reason,
                   mv_state state) {
  Mediation__V1__DeskReply *r = ts_act_simple(unit, id, kind, reason);
  ts_expect_applied(r, 1);
  expect_case(r->case_record, state, unit);
  free_msg(r);
}

static void session(const char *unit, const char *id) {
  mv_action a;
  ts_action(&a, MV_ACTION(RECORD_SESSION), id, NULL);
  Mediation__V1__Session s = MEDIATION__V1__SESSION__INIT;
  s.held_ms = mc_now_ms();
  s.note = "调解会议";
  a.args_case = MV_ARGS(SESSION);
  a.session = &s;
  Mediation__V1__DeskReply *r = ts_act(unit, &a);
  ts_expect_applied(r, 1);
  expect_case(r->case_record, MV_STATE(MEDIATION), unit);
  free_msg(r);
}

static void feedback(const char *unit, const char *id, Mediation__V1__Satisfaction how) {
  mv_action a;
  ts_action(&a, MV_ACTION(RECORD_FEEDBACK), id, NULL);
  Mediation__V1__Feedback f = MEDIATION__V1__FEEDBACK__INIT;
  f.satisfaction = how;
  f.visited_ms = mc_now_ms();
  f.note = "回访";
  a.args_case = MV_ARGS(FEEDBACK);
  a.feedback = &f;
  Mediation__V1__DeskReply *r = ts_act(unit, &a);
  ts_expect_applied(r, 1);
  expect_case(r->case_record, MV_STATE(FEEDBACK), unit);
  assert_int_equal(r->case_record->feedback->satisfaction, how);
  free_msg(r);
}

static void roster_expect(const char *unit, const char *const *people, const uint32_t *loads,
                          size_t n) {
  Mediation__V1__DeskRosterRequest req = MEDIATION__V1__DESK_ROSTER_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(ts_desk_call(unit, "Roster", &req.base, &reply, &err), MC_OK);
  Mediation__V1__DeskRosterReply *r = (Mediation__V1__DeskRosterReply *)reply;
  assert_int_equal(r->n_members, n);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(r->members[i]->person, people[i]);
    if (r->members[i]->active_cases != loads[i])
      fail_msg("%s: %s has %u active cases, expected %u", unit, people[i],
               r->members[i]->active_cases, loads[i]);
  }
  free_msg(reply);
}

static const char *const marriage_team[] = {"周晓梅", "陈立新", "林静", "吴悦", "郑浩", "许婷"};

/* ---- Who may call a Desk ------------------------------------------------------ */

static void test_desk_is_for_its_operators(void **state) {
  (void)state;
  Mediation__V1__HealthCheckRequest h = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  const mc_unit *police = mc_registry_unit(ts_world.reg, POLICE);
  rpc_client *own = tw_client(&ts_world, "police-studio-operator", police->endpoint);
  assert_non_null(own);
  assert_int_equal(rpc_client_call(own, &mediation__v1__health__descriptor, "Check", &h.base,
                                   NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__HealthCheckReply *hr = (Mediation__V1__HealthCheckReply *)reply;
  assert_int_equal(hr->status, MV_SERVING(SERVING));
  assert_string_equal(hr->server, "police-studio");
  free_msg(reply);

  Mediation__V1__ListServicesRequest ls = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  assert_int_equal(rpc_client_call(own, &mediation__v1__reflection__descriptor, "ListServices",
                                   &ls.base, NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__ListServicesReply *l = (Mediation__V1__ListServicesReply *)reply;
  bool desk = false;
  for (size_t i = 0; i < l->n_services; i++)
    desk |= strcmp(l->services[i]->name, "mediation.v1.Desk") == 0 &&
            l->services[i]->n_methods == 9; /* TakeIn ... Roster, Watch */
  assert_true(desk);
  free_msg(reply);

  /* Another unit's operator, the unit's own key, a coordinator: refused. */
  const char *strangers[] = {"marriage-studio-operator", "police-studio", "coordinator"};
  Mediation__V1__DeskInboxRequest in = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
  for (size_t i = 0; i < 3; i++) {
    rpc_client *c = NULL;
    assert_int_equal(rpc_client_create(police->endpoint, tw_key(&ts_world, strangers[i]),
                                       &ts_world.reg->limits, NULL, &c, &err),
                     MC_OK);
    mc_code rc = rpc_client_call(c, &mediation__v1__desk__descriptor, "Inbox", &in.base, NULL,
                                 &reply, &err);
    rpc_client_free(c);
    assert_int_equal(rc, MC_PERMISSION_DENIED);
  }
}

/* ---- The marriage studio spreads its team by load ------------------------------- */

static void test_marriage_team_by_load(void **state) {
  (void)state;
  char ids[3][32];
  const char *mediators[3] = {"周晓梅", "陈立新", "周晓梅"};
  const char *counsellors[3] = {"林静", "吴悦", "林静"};
  for (int i = 0; i < 3; i++) {
    ts_intake t;
    ts_intake_init(&t, MV_KIND(DIVORCE), "wangai", 2, 0);
    Mediation__V1__DeskReply *r = ts_take_in(MARRIAGE, &t.in, NULL, NULL);
    ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}, {A(ASSIGN), APPLIED},
                                   {A(ASSIGN), APPLIED}},
                    3);
    expect_case(r->case_record, MV_STATE(INTAKE), MARRIAGE);
    assert_false(r->stale);
    assert_memory_equal(r->case_record->intake->unit_ref, "MS-", 3);
    /* the holder sees the parties unmasked */
    assert_string_equal(r->case_record->intake->parties[0]->phone, TS_PHONE);
    assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(MEDIATOR)), mediators[i]);
    assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(COUNSELLOR)), counsellors[i]);
    assert_null(ts_member(r->case_record, MARRIAGE, MV_ROLE(LAWYER)));
    snprintf(ids[i], sizeof(ids[i]), "%s", r->case_record->id);
    free_msg(r);
  }
  /* ASSIGN without a person: the lawyer with the fewest cases */
  const char *lawyers[2] = {"郑浩", "许婷"};
  for (int i = 0; i < 2; i++) {
    Mediation__V1__DeskReply *r = act_member(MARRIAGE, ids[i], MV_ROLE(LAWYER));
    ts_expect_applied(r, 1);
    assert_string_equal(r->steps[0]->action->member->person, lawyers[i]);
    assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(LAWYER)), lawyers[i]);
    free_msg(r);
  }
  /* legal aid for the third brings it a lawyer: tie, the first in the roster */
  Mediation__V1__DeskReply *la = ts_act_simple(MARRIAGE, ids[2], MV_ACTION(GRANT_LEGAL_AID), NULL);
  ts_expect_steps(la, (ts_step[]){{A(GRANT_LEGAL_AID), APPLIED}, {A(ASSIGN), APPLIED}}, 2);
  assert_true(la->case_record->legal_aid);
  assert_string_equal(ts_member(la->case_record, MARRIAGE, MV_ROLE(LAWYER)), "郑浩");
  free_msg(la);
  roster_expect(MARRIAGE, marriage_team, (uint32_t[]){2, 1, 2, 1, 2, 1}, 6);
  /* the parties withdraw: nobody is busy with those cases any more */
  for (int i = 0; i < 3; i++) {
    Mediation__V1__DeskReply *r = ts_act_simple(MARRIAGE, ids[i], MV_ACTION(WITHDRAW), "当事人撤回申请");
    ts_expect_applied(r, 1);
    expect_case(r->case_record, MV_STATE(WITHDRAWN), MARRIAGE);
    free_msg(r);
  }
  roster_expect(MARRIAGE, marriage_team, (uint32_t[]){0, 0, 0, 0, 0, 0}, 6);
}

/* ---- 1. Police referral -------------------------------------------------------- */

static void test_scenario_1_police_referral(void **state) {
  (void)state;
  ts_figures units0, places0, units1, places1;
  ts_figures_get(&units0, MV_GROUPING(UNIT));
  ts_figures_get(&places0, MV_GROUPING(COMMUNITY));

  /* A 110 call: a couple's quarrel turned into a scuffle. */
  ts_intake t;
  ts_intake_init(&t, MV_KIND(RELATIONSHIP), "kongque", 2, 300000);
  t.in.source = MV_SOURCE(POLICE_CALL);
  Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}, {A(TRANSFER), APPLIED}}, 2);
  expect_case(r->case_record, MV_STATE(TRANSFER), POLICE);
  assert_string_equal(r->steps[1]->action->to_unit, MARRIAGE);
  assert_non_null(strstr(r->steps[1]->action->reason, "溯源调解"));
  assert_memory_equal(r->case_record->intake->unit_ref, "PS-", 3);
  char id[32];
  snprintf(id, sizeof(id), "%s", r->case_record->id);
  free_msg(r);

  /* Sister Song accepts: a mediator and a counsellor join */
  wait_offer(MARRIAGE, id, POLICE);
  r = ts_act_simple(MARRIAGE, id, MV_ACTION(ACCEPT), NULL);
  ts_expect_steps(r, (ts_step[]){{A(ACCEPT), APPLIED}, {A(ASSIGN), APPLIED},
                                 {A(ASSIGN), APPLIED}},
                  3);
  expect_case(r->case_record, MV_STATE(INTAKE), MARRIAGE);
  assert_false(r->stale);
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(MEDIATOR)), "周晓梅");
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(COUNSELLOR)), "林静");
  assert_null(ts_member(r->case_record, MARRIAGE, MV_ROLE(LAWYER)));
  assert_string_equal(r->case_record->intake->parties[0]->phone, TS_PHONE);
  free_msg(r);
  /* the police studio learns its offer was accepted: no longer its case */
  ts_wait_not_listed(POLICE, id, WAIT_MS);

  simple(MARRIAGE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION));
  session(MARRIAGE, id);
  /* the couple live in 孔雀: the follow-up goes to that workstation */
  r = ts_act_simple(MARRIAGE, id, MV_ACTION(TRANSFER), "委托孔雀社区工作站跟进调解");
  ts_expect_applied(r, 1);
  assert_string_equal(r->steps[0]->action->to_unit, KONGQUE);
  expect_case(r->case_record, MV_STATE(TRANSFER), MARRIAGE);
  free_msg(r);

  wait_offer(KONGQUE, id, MARRIAGE);
  r = ts_act_simple(KONGQUE, id, MV_ACTION(ACCEPT), NULL);
  ts_expect_steps(r, (ts_step[]){{A(ACCEPT), APPLIED}, {A(ASSIGN), APPLIED}}, 2);
  expect_case(r->case_record, MV_STATE(INTAKE), KONGQUE);
  assert_string_equal(ts_member(r->case_record, KONGQUE, MV_ROLE(MEDIATOR)), "李秀英");
  /* the studio's members stay on the record */
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(COUNSELLOR)), "林静");
  free_msg(r);
  ts_wait_not_listed(MARRIAGE, id, WAIT_MS);

  simple(KONGQUE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION));
  session(KONGQUE, id);
  mv_action a;
  ts_action(&a, MV_ACTION(RECORD_OUTCOME), id, NULL);
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(AGREEMENT);
  o.agreed_amount_fen = 200000;
  o.summary = "双方达成和解协议";
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  int64_t t0 = mc_now_ms();
  r = ts_act(KONGQUE, &a);
  int64_t t1 = mc_now_ms();
  ts_expect_applied(r, 1);
  expect_case(r->case_record, MV_STATE(FEEDBACK), KONGQUE);
  /* the follow-up visit (回访) is scheduled 30 days on ([policy] followup_days) */
  int64_t due = r->case_record->outcome->followup_due_ms;
  assert_true(due >= t0 + 30 * DAY_MS && due <= t1 + 30 * DAY_MS);
  assert_int_equal(r->case_record->deadline_ms, due);
  free_msg(r);
  feedback(KONGQUE, id, MV_SATISFACTION(SATISFIED));
  simple(KONGQUE, id, MV_ACTION(CLOSE), NULL, MV_STATE(CLOSED));

  static const mv_action_kind file[] = {
      A(TAKE_IN),  A(TRANSFER),        A(ACCEPT),         A(ASSIGN),
      A(ASSIGN),   A(START_MEDIATION), A(RECORD_SESSION), A(TRANSFER),
      A(ACCEPT),   A(ASSIGN),          A(START_MEDIATION), A(RECORD_SESSION),
      A(RECORD_OUTCOME), A(RECORD_FEEDBACK), A(CLOSE)};
  static const ts_receipt receipts[] = {
      {MARRIAGE, 1}, {POLICE, 2}, {KONGQUE, 7}, {MARRIAGE, 8}};
  Mediation__V1__GetCaseReply *g =
      ts_expect_file(id, file, sizeof(file) / sizeof(file[0]), receipts, 4, WAIT_MS);
  expect_case(g->case_record, MV_STATE(CLOSED), KONGQUE);
  free_msg(g);

  ts_figures_get(&units1, MV_GROUPING(UNIT));
  ts_figures_get(&places1, MV_GROUPING(COMMUNITY));
  ts_figures_expect(&units0, &units1, POLICE, "taken_in=1 from_police_call=1 transferred_out=1");
  ts_figures_expect(&units0, &units1, MARRIAGE, "accepted=1 transferred_out=1");
  ts_figures_expect(&units0, &units1, KONGQUE,
                    "accepted=1 mediated=1 resolved=1 money_involved_fen=300000 "
                    "agreed_amount_fen=200000 satisfied=1 closed=1 complete_files=1");
  ts_figures_expect(&places0, &places1, "kongque",
                    "taken_in=1 from_police_call=1 transferred_out=2 accepted=2 mediated=1 "
                    "resolved=1 money_involved_fen=300000 agreed_amount_fen=200000 "
                    "satisfied=1 closed=1 complete_files=1");
  ts_figures_expect(&places0, &places1, NULL,
                    "taken_in=1 from_police_call=1 transferred_out=2 accepted=2 mediated=1 "
                    "resolved=1 money_involved_fen=300000 agreed_amount_fen=200000 "
                    "satisfied=1 closed=1 complete_files=1");
}

/* ---- 3. Elder support from a community ------------------------------------------ */

static char scenario3_id[32];

static void test_scenario_3_elder_support_needs_a_lawyer(void **state) {
  (void)state;
  ts_figures units0, places0, units1, places1;
  ts_figures_get(&units0, MV_GROUPING(UNIT));
  ts_figures_get(&places0, MV_GROUPING(COMMUNITY));

  ts_intake t;
  ts_intake_init(&t, MV_KIND(ELDER_SUPPORT), "wangai", 2, 1200000);
  t.in.needs_lawyer = true;
  Mediation__V1__DeskReply *r = ts_take_in(WANGAI, &t.in, NULL, NULL);
  /* it needs a lawyer: up to the marriage studio at once, no local mediator */
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}, {A(TRANSFER), APPLIED}}, 2);
  expect_case(r->case_record, MV_STATE(TRANSFER), WANGAI);
  assert_string_equal(r->steps[1]->action->to_unit, MARRIAGE);
  assert_non_null(strstr(r->steps[1]->action->reason, "律师"));
  assert_int_equal(r->case_record->n_team, 0);
  char *id = scenario3_id;
  snprintf(id, sizeof(scenario3_id), "%s", r->case_record->id);
  free_msg(r);

  wait_offer(MARRIAGE, id, WANGAI);
  r = ts_act_simple(MARRIAGE, id, MV_ACTION(ACCEPT), NULL);
  ts_expect_steps(r, (ts_step[]){{A(ACCEPT), APPLIED}, {A(ASSIGN), APPLIED},
                                 {A(ASSIGN), APPLIED}},
                  3);
  expect_case(r->case_record, MV_STATE(INTAKE), MARRIAGE);
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(MEDIATOR)), "周晓梅");
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(LAWYER)), "郑浩");
  assert_null(ts_member(r->case_record, MARRIAGE, MV_ROLE(COUNSELLOR)));
  free_msg(r);
  ts_wait_not_listed(WANGAI, id, WAIT_MS);

  r = ts_act_simple(MARRIAGE, id, MV_ACTION(GRANT_LEGAL_AID), NULL);
  ts_expect_applied(r, 1);
  expect_case(r->case_record, MV_STATE(INTAKE), MARRIAGE);
  assert_true(r->case_record->legal_aid);
  free_msg(r);

  static const mv_action_kind file[] = {A(TAKE_IN), A(TRANSFER),       A(ACCEPT),
                                        A(ASSIGN),  A(ASSIGN),         A(GRANT_LEGAL_AID)};
  static const ts_receipt receipts[] = {{MARRIAGE, 1}, {WANGAI, 2}};
  free_msg(ts_expect_file(id, file, 6, receipts, 2, WAIT_MS));

  ts_figures_get(&units1, MV_GROUPING(UNIT));
  ts_figures_get(&places1, MV_GROUPING(COMMUNITY));
  ts_figures_expect(&units0, &units1, WANGAI, "taken_in=1 from_walk_in=1 transferred_out=1");
  ts_figures_expect(&units0, &units1, MARRIAGE, "accepted=1 legal_aid=1");
  ts_figures_expect(&places0, &places1, "wangai",
                    "taken_in=1 from_walk_in=1 transferred_out=1 accepted=1 legal_aid=1");
  ts_figures_expect(&places0, &places1, NULL,
                    "taken_in=1 from_walk_in=1 transferred_out=1 accepted=1 legal_aid=1");
}

/* ---- 2. Inheritance with litigation ---------------------------------------------- */

static void test_scenario_2_inheritance_to_court(void **state) {
  (void)state;
  ts_figures units0, places0, units1, places1;
  ts_figures_get(&units0, MV_GROUPING(UNIT));
  ts_figures_get(&places0, MV_GROUPING(COMMUNITY));

  /* Three siblings, 86,000 元 at stake, at the studio's door. */
  ts_intake t;
  ts_intake_init(&t, MV_KIND(INHERITANCE), "baihe", 3, 8600000);
  t.in.difficulty = MV_DIFFICULTY(DIFFICULT);
  Mediation__V1__DeskReply *r = ts_take_in(MARRIAGE, &t.in, NULL, NULL);
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}, {A(ASSIGN), APPLIED},
                                 {A(ASSIGN), APPLIED}},
                  3);
  expect_case(r->case_record, MV_STATE(INTAKE), MARRIAGE);
  /* scenario 3's case keeps 周晓梅 and 郑浩 busy: the others take this one */
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(MEDIATOR)), "陈立新");
  assert_string_equal(ts_member(r->case_record, MARRIAGE, MV_ROLE(LAWYER)), "许婷");
  assert_null(ts_member(r->case_record, MARRIAGE, MV_ROLE(COUNSELLOR)));
  assert_int_equal(r->case_record->intake->n_parties, 3);
  char id[32];
  snprintf(id, sizeof(id), "%s", r->case_record->id);
  free_msg(r);

  simple(MARRIAGE, id, MV_ACTION(START_MEDIATION), NULL, MV_STATE(MEDIATION));
  session(MARRIAGE, id);
  mv_action a;
  ts_action(&a, MV_ACTION(RECORD_OUTCOME), id, NULL);
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(NO_AGREEMENT);
  o.summary = "调解不成";
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  r = ts_act(MARRIAGE, &a);
  ts_expect_applied(r, 1);
  expect_case(r->case_record, MV_STATE(FEEDBACK), MARRIAGE);
  assert_int_equal(r->case_record->outcome->followup_due_ms, 0); /* no agreement: no visit set */
  free_msg(r);
  /* a party asks for the court */
  simple(MARRIAGE, id, MV_ACTION(SEND_TO_LITIGATION), "当事人申请诉讼，转共享法庭",
         MV_STATE(LITIGATION));
  ts_action(&a, MV_ACTION(RECORD_COURT_RESULT), id, NULL);
  Mediation__V1__CourtResult cr = MEDIATION__V1__COURT_RESULT__INIT;
  cr.kind = MV_COURT(COURT_MEDIATION);
  cr.amount_fen = 8600000;
  cr.summary = "共享法庭调解结案";
  a.args_case = MV_ARGS(COURT_RESULT);
  a.court_result = &cr;
  r = ts_act(MARRIAGE, &a);
  ts_expect_applied(r, 1);
  expect_case(r->case_record, MV_STATE(FEEDBACK), MARRIAGE);
  assert_int_equal(r->case_record->court_result->kind, MV_COURT(COURT_MEDIATION));
  free_msg(r);
  feedback(MARRIAGE, id, MV_SATISFACTION(BASICALLY_SATISFIED));
  simple(MARRIAGE, id, MV_ACTION(CLOSE), NULL, MV_STATE(CLOSED));

  static const mv_action_kind file[] = {
      A(TAKE_IN),        A(ASSIGN),             A(ASSIGN),
      A(START_MEDIATION), A(RECORD_SESSION),    A(RECORD_OUTCOME),
      A(SEND_TO_LITIGATION), A(RECORD_COURT_RESULT), A(RECORD_FEEDBACK), A(CLOSE)};
  free_msg(ts_expect_file(id, file, 10, NULL, 0, WAIT_MS));

  ts_figures_get(&units1, MV_GROUPING(UNIT));
  ts_figures_get(&places1, MV_GROUPING(COMMUNITY));
  const char *expected = "taken_in=1 from_walk_in=1 mediated=1 money_involved_fen=8600000 "
                         "difficult_or_complex=1 litigated=1 basically_satisfied=1 closed=1 "
                         "complete_files=1";
  ts_figures_expect(&units0, &units1, MARRIAGE, expected);
  ts_figures_expect(&places0, &places1, "baihe", expected);
  ts_figures_expect(&places0, &places1, NULL, expected);
}

/* ---- 4. A refused transfer ------------------------------------------------------ */

static bool refused_back(const Mediation__V1__LocalCase *lc, const void *arg) {
  (void)arg;
  const mv_case *c = lc->case_record;
  return c->state == MV_STATE(INTAKE) && lc->last_handoff != NULL &&
         lc->last_handoff->action->kind == MV_ACTION(REFUSE);
}

static void test_scenario_4_refused_transfer(void **state) {
  (void)state;
  ts_figures units0, units1;
  ts_figures_get(&units0, MV_GROUPING(UNIT));

  /* A noise dispute; the operator sends it to Sister Song all the same */
  ts_intake t;
  ts_intake_init(&t, MV_KIND(NEIGHBOUR), "baihe", 2, 0);
  t.in.source = MV_SOURCE(POLICE_CALL);
  Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, MARRIAGE, "邻里噪音纠纷，请宋大姐调解");
  ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), APPLIED}, {A(TRANSFER), APPLIED}}, 2);
  assert_string_equal(r->steps[1]->action->to_unit, MARRIAGE);
  expect_case(r->case_record, MV_STATE(TRANSFER), POLICE);
  char id[32];
  snprintf(id, sizeof(id), "%s", r->case_record->id);
  free_msg(r);

  wait_offer(MARRIAGE, id, POLICE);
  r = ts_act_simple(MARRIAGE, id, MV_ACTION(REFUSE), "不属于婚姻家庭纠纷");
  ts_expect_applied(r, 1); /* no team for a refused case */
  expect_case(r->case_record, MV_STATE(INTAKE), POLICE);
  assert_string_equal(r->case_record->intake->parties[0]->phone, "138****1234");
  free_msg(r);

  /* back at the police studio, with the reason */
  const Mediation__V1__LocalCase *lc;
  Mediation__V1__DeskListReply *l = ts_wait_local(POLICE, false, id, refused_back, NULL, WAIT_MS, &lc);
  assert_string_equal(lc->last_handoff->action->reason, "不属于婚姻家庭纠纷");
  assert_string_equal(lc->case_record->holder, POLICE);
  assert_string_equal(lc->case_record->intake->parties[0]->phone, TS_PHONE);
  free_msg(l);

  /* the police studio routes it by its rules: to 白鹤社区 */
  r = ts_act_simple(POLICE, id, MV_ACTION(TRANSFER), "邻里纠纷转白鹤社区调解");
  ts_expect_applied(r, 1);
  assert_string_equal(r->steps[0]->action->to_unit, BAIHE);
  expect_case(r->case_record, MV_STATE(TRANSFER), POLICE);
  free_msg(r);

  wait_offer(BAIHE, id, POLICE);
  r = ts_act_simple(BAIHE, id, MV_ACTION(ACCEPT), NULL);
  ts_expect_steps(r, (ts_step[]){{A(ACCEPT), APPLIED}, {A(ASSIGN), APPLIED}}, 2);
  expect_case(r->case_record, MV_STATE(INTAKE), BAIHE);
  assert_string_equal(ts_member(r->case_record, BAIHE, MV_ROLE(MEDIATOR)), "钱玉兰");
  free_msg(r);
  ts_wait_not_listed(POLICE, id, WAIT_MS);

  static const mv_action_kind file[] = {A(TAKE_IN), A(TRANSFER), A(REFUSE),
                                        A(TRANSFER), A(ACCEPT),   A(ASSIGN)};
  static const ts_receipt receipts[] = {{MARRIAGE, 1}, {POLICE, 2}, {BAIHE, 3}, {POLICE, 4}};
  free_msg(ts_expect_file(id, file, 6, receipts, 4, WAIT_MS));

  ts_figures_get(&units1, MV_GROUPING(UNIT));
  ts_figures_expect(&units0, &units1, POLICE, "taken_in=1 from_police_call=1 transferred_out=2");
  ts_figures_expect(&units0, &units1, MARRIAGE, "refused=1");
  ts_figures_expect(&units0, &units1, BAIHE, "accepted=1");
}

/* What the studio has on hand after the scenarios: scenario 3's case. */
static void test_marriage_load_after(void **state) {
  (void)state;
  roster_expect(MARRIAGE, marriage_team, (uint32_t[]){1, 0, 0, 0, 1, 0}, 6);
  Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(ts_desk_call(MARRIAGE, "ListCases", &req.base, &reply, &err), MC_OK);
  Mediation__V1__DeskListReply *l = (Mediation__V1__DeskListReply *)reply;
  size_t open = 0;
  for (size_t i = 0; i < l->n_cases; i++) {
    const Mediation__V1__LocalCase *lc = l->cases[i];
    assert_null(lc->synced_record);
    assert_false(lc->stale);
    assert_int_equal(lc->queued_steps, 0);
    if (lc->case_record->state == MV_STATE(INTAKE)) {
      open++;
      assert_string_equal(lc->case_record->id, scenario3_id);
    }
  }
  assert_int_equal(open, 1);
  free_msg(reply);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_desk_is_for_its_operators),
      cmocka_unit_test(test_marriage_team_by_load),
      cmocka_unit_test(test_scenario_1_police_referral),
      cmocka_unit_test(test_scenario_3_elder_support_needs_a_lawyer),
      cmocka_unit_test(test_scenario_2_inheritance_to_court),
      cmocka_unit_test(test_scenario_4_refused_transfer),
      cmocka_unit_test(test_marriage_load_after),
  };
  return cmocka_run_group_tests_name("the four reference scenarios through the units", tests,
                                     setup, teardown);
}
