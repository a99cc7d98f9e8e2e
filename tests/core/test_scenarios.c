/*
 * test_scenarios.c - the four reference scenarios of DOMAIN.md, at the level
 * of the state machine: the states and holders a case passes through, its
 * team, the events and deliveries, who may read it, and the figures it adds.
 *
 * Each scenario also recomputes its figures from the case file alone (as
 * storage's verify does) and checks that they equal those added step by
 * step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/access.h"
#include "core/figures.h"
#include "fixture.h"

static void step(fx_case *f, fx_act *act, const char *unit) {
  mv_actor who = fx_unit(unit);
  fx_do(fx_reg, f, &act->a, &who);
}

static void assign(fx_case *f, const char *unit, const char *person,
                   Mediation__V1__TeamRole role) {
  fx_act act;
  fx_act_init(&act, MV_ACTION(ASSIGN));
  act.member.person = (char *)person;
  act.member.role = role;
  step(f, &act, unit);
}

static void transfer(fx_case *f, const char *from, const char *to, const char *reason) {
  fx_act act;
  fx_act_init(&act, MV_ACTION(TRANSFER));
  act.a.to_unit = (char *)to;
  act.a.reason = (char *)reason;
  step(f, &act, from);
}

static void expect_state(const fx_case *f, mv_state state, const char *holder) {
  assert_int_equal(f->c->state, state);
  assert_string_equal(f->c->holder, holder);
}

static void expect_delivery(const fx_case *f, const char *unit,
                            Mediation__V1__DeliveryKind kind) {
  mc_delivery_target d[2];
  assert_int_equal(mc_deliveries_for(f->events[f->n_events - 1], d), 1);
  assert_string_equal(d[0].unit, unit);
  assert_int_equal(d[0].kind, kind);
}

static bool reads(const fx_case *f, const char *unit) {
  mv_actor who = fx_unit(unit);
  return mc_may_read(fx_reg, f->c, &who);
}

/* The figures added step by step are those the case file gives again. */
static void expect_reproducible(const fx_case *f) {
  fx_figures again = {0};
  fx_figures_of_file(&again, f, fx_reg->utc_offset_minutes);
  assert_true(fx_figures_equal(f->fig, &again));
  fx_figures_free(&again);
  mv_case *r = fx_replay(f, fx_reg->utc_offset_minutes);
  assert_true(fx_same(&r->base, &f->c->base));
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* 1. A 110 call: a couple's quarrel turned into a scuffle. Big Stone takes
 * it in and hands it to Sister Song, who accepts, assigns a mediator and a
 * counsellor, and delegates it to 孔雀's station, which records an
 * agreement and the parties' satisfaction. */
static void test_police_referral(void **state) {
  (void)state;
  fx_figures fig = {0};
  fx_case f = {.fig = &fig};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.kind = MV_KIND(RELATIONSHIP);
  act.intake.source = MV_SOURCE(POLICE_CALL);
  act.intake.community = "kongque";
  step(&f, &act, FX_POLICE);
  expect_state(&f, MV_STATE(INTAKE), FX_POLICE);

  transfer(&f, FX_POLICE, FX_MARRIAGE, "感情纠纷，转婚姻家庭纠纷调解");
  expect_state(&f, MV_STATE(TRANSFER), FX_POLICE);
  expect_delivery(&f, FX_MARRIAGE, MV_DELIVERY(OFFER));
  assert_true(reads(&f, FX_MARRIAGE));
  assert_true(reads(&f, FX_KONGQUE)); /* its own community's case */
  assert_false(reads(&f, FX_WANGAI));

  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_MARRIAGE);
  expect_state(&f, MV_STATE(INTAKE), FX_MARRIAGE);
  expect_delivery(&f, FX_POLICE, MV_DELIVERY(ACCEPTED));
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_MARRIAGE);
  assign(&f, FX_MARRIAGE, "宋某", MV_ROLE(MEDIATOR));
  assign(&f, FX_MARRIAGE, "林某", MV_ROLE(COUNSELLOR));
  assert_int_equal(f.c->n_team, 2);
  assert_string_equal(f.c->team[0]->unit, FX_MARRIAGE);
  assert_int_equal(f.c->team[1]->role, MV_ROLE(COUNSELLOR));

  transfer(&f, FX_MARRIAGE, FX_KONGQUE, "当事人居住在孔雀社区，委托社区跟进");
  expect_delivery(&f, FX_KONGQUE, MV_DELIVERY(OFFER));
  assert_int_equal(f.c->transfer->return_state, MV_STATE(MEDIATION));
  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_KONGQUE);
  expect_state(&f, MV_STATE(INTAKE), FX_KONGQUE);
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_KONGQUE);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_SESSION), FX_KONGQUE);
  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.agreed_amount_fen = 0;
  step(&f, &act, FX_KONGQUE);
  expect_state(&f, MV_STATE(FEEDBACK), FX_KONGQUE);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_KONGQUE);
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_KONGQUE);
  expect_state(&f, MV_STATE(CLOSED), FX_KONGQUE);
  assert_int_equal(f.c->event_count, 13);

  assert_int_equal(f.c->n_units_involved, 3);
  assert_string_equal(f.c->units_involved[0], FX_POLICE);
  assert_string_equal(f.c->units_involved[1], FX_MARRIAGE);
  assert_string_equal(f.c->units_involved[2], FX_KONGQUE);
  assert_true(reads(&f, FX_POLICE)); /* a former holder still answers for it */
  assert_false(reads(&f, FX_BAIHE));
  mv_actor kq = fx_unit(FX_KONGQUE), ms = fx_unit(FX_MARRIAGE);
  assert_true(mc_sees_personal_data(f.c, &kq));
  assert_false(mc_sees_personal_data(f.c, &ms));

  mv_counters police = fx_figures_sum(&fig, FX_POLICE, 0);
  assert_int_equal(police.taken_in, 1);
  assert_int_equal(police.from_police_call, 1);
  assert_int_equal(police.transferred_out, 1);
  assert_int_equal(police.mediated, 0);
  mv_counters marriage = fx_figures_sum(&fig, FX_MARRIAGE, 0);
  assert_int_equal(marriage.accepted, 1);
  assert_int_equal(marriage.transferred_out, 1);
  assert_int_equal(marriage.taken_in, 0);
  mv_counters station = fx_figures_sum(&fig, FX_KONGQUE, 0);
  assert_int_equal(station.accepted, 1);
  assert_int_equal(station.mediated, 1);
  assert_int_equal(station.resolved, 1);
  assert_int_equal(station.satisfied, 1);
  assert_int_equal(station.closed, 1);
  assert_int_equal(station.complete_files, 1);
  mv_counters all = fx_figures_sum(&fig, NULL, 0);
  assert_int_equal(all.taken_in, 1);
  assert_int_equal(all.mediated, 1);
  /* every bucket is the case's community and kind, in March */
  for (size_t i = 0; i < fig.n; i++) {
    assert_string_equal(fig.rows[i].bucket.community, "kongque");
    assert_int_equal(fig.rows[i].bucket.kind, MV_KIND(RELATIONSHIP));
    assert_int_equal(fig.rows[i].bucket.year, 2026);
    assert_int_equal(fig.rows[i].bucket.month, 3);
  }
  expect_reproducible(&f);
  fx_free(&f);
  fx_figures_free(&fig);
}

/* 2. Three siblings dispute an inheritance (86,000 元). Mediation fails,
 * the case goes to the shared court, and the court's result comes back as
 * feedback. */
static void test_inheritance_litigation(void **state) {
  (void)state;
  fx_figures fig = {0};
  fx_case f = {.fig = &fig};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.kind = MV_KIND(INHERITANCE);
  act.intake.difficulty = MV_DIFFICULTY(DIFFICULT);
  act.intake.source = MV_SOURCE(WALK_IN);
  act.intake.community = "baihe";
  act.intake.money_fen = 8600000;
  act.party[2].name = "甄小亮";
  act.party[2].role = MV_PARTY(OTHER);
  act.intake.n_parties = 3;
  step(&f, &act, FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_MARRIAGE);
  assign(&f, FX_MARRIAGE, "宋某", MV_ROLE(MEDIATOR));
  assign(&f, FX_MARRIAGE, "周某", MV_ROLE(LAWYER));
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_SESSION), FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_SESSION), FX_MARRIAGE);
  assert_int_equal(f.c->n_sessions, 2);
  assert_int_equal(f.c->mediated_ms, 0);

  fx_act_init(&act, MV_ACTION(SEND_TO_LITIGATION));
  act.a.reason = "调解不成，经共享法庭立案";
  int64_t failed_at = f.now;
  step(&f, &act, FX_MARRIAGE);
  expect_state(&f, MV_STATE(LITIGATION), FX_MARRIAGE);
  assert_int_equal(f.c->outcome->kind, MV_OUTCOME(NO_AGREEMENT));
  assert_int_equal(f.c->mediated_ms, failed_at);

  fx_act_init(&act, MV_ACTION(RECORD_COURT_RESULT));
  act.court.kind = MV_COURT(JUDGMENT);
  act.court.amount_fen = 8600000;
  step(&f, &act, FX_MARRIAGE);
  expect_state(&f, MV_STATE(FEEDBACK), FX_MARRIAGE);
  assert_int_equal(f.c->court_result->kind, MV_COURT(JUDGMENT));
  fx_act_init(&act, MV_ACTION(RECORD_FEEDBACK));
  act.feedback.satisfaction = MV_SATISFACTION(BASICALLY_SATISFIED);
  step(&f, &act, FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_MARRIAGE);
  expect_state(&f, MV_STATE(CLOSED), FX_MARRIAGE);

  mv_counters c = fx_figures_sum(&fig, FX_MARRIAGE, 3);
  assert_int_equal(c.taken_in, 1);
  assert_int_equal(c.from_walk_in, 1);
  assert_int_equal(c.mediated, 1);
  assert_int_equal(c.resolved, 0);
  assert_int_equal(c.money_involved_fen, 8600000);
  assert_int_equal(c.difficult_or_complex, 1);
  assert_int_equal(c.litigated, 1);
  assert_int_equal(c.basically_satisfied, 1);
  assert_int_equal(c.closed, 1);
  assert_int_equal(c.complete_files, 1);
  assert_int_equal(c.agreed_amount_fen, 0);
  expect_reproducible(&f);
  fx_free(&f);
  fx_figures_free(&fig);
}

/* 3. 王隘's station takes in an elder-support claim, finds it needs a
 * lawyer, and transfers it up to Sister Song, where a lawyer joins; legal
 * aid is granted. */
static void test_elder_support_from_community(void **state) {
  (void)state;
  fx_figures fig = {0};
  fx_case f = {.fig = &fig};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.kind = MV_KIND(ELDER_SUPPORT);
  act.intake.source = MV_SOURCE(WALK_IN);
  act.intake.community = "wangai";
  act.intake.grid = "第一网格";
  act.intake.needs_lawyer = true;
  step(&f, &act, FX_WANGAI);
  expect_state(&f, MV_STATE(INTAKE), FX_WANGAI);
  transfer(&f, FX_WANGAI, FX_MARRIAGE, "需要专业律师参与");
  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_MARRIAGE);
  expect_state(&f, MV_STATE(INTAKE), FX_MARRIAGE);
  assign(&f, FX_MARRIAGE, "周某", MV_ROLE(LAWYER));
  fx_kind(fx_reg, &f, MV_ACTION(GRANT_LEGAL_AID), FX_MARRIAGE);
  assert_true(f.c->legal_aid);
  assert_int_equal(f.c->team[0]->role, MV_ROLE(LAWYER));
  assert_string_equal(f.c->team[0]->unit, FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_MARRIAGE);
  expect_state(&f, MV_STATE(MEDIATION), FX_MARRIAGE);

  /* the station that sent it up still reads it, with personal data masked */
  assert_true(reads(&f, FX_WANGAI));
  mv_actor w = fx_unit(FX_WANGAI);
  assert_false(mc_sees_personal_data(f.c, &w));

  mv_counters station = fx_figures_sum(&fig, FX_WANGAI, 0);
  assert_int_equal(station.taken_in, 1);
  assert_int_equal(station.transferred_out, 1);
  mv_counters marriage = fx_figures_sum(&fig, FX_MARRIAGE, 0);
  assert_int_equal(marriage.accepted, 1);
  assert_int_equal(marriage.legal_aid, 1);
  assert_int_equal(marriage.taken_in, 0);
  expect_reproducible(&f);
  fx_free(&f);
  fx_figures_free(&fig);
}

/* 4. Big Stone hands a neighbours' noise dispute to Sister Song; she
 * refuses it (not a family matter) and it goes back to Big Stone, who
 * routes it to 白鹤's station instead. */
static void test_refused_transfer(void **state) {
  (void)state;
  fx_figures fig = {0};
  fx_case f = {.fig = &fig};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.kind = MV_KIND(NEIGHBOUR);
  act.intake.community = "baihe";
  step(&f, &act, FX_POLICE);
  transfer(&f, FX_POLICE, FX_MARRIAGE, "邻里噪音纠纷");
  fx_act_init(&act, MV_ACTION(REFUSE));
  act.a.reason = "非家事纠纷，请转社区";
  step(&f, &act, FX_MARRIAGE);
  expect_state(&f, MV_STATE(INTAKE), FX_POLICE);
  assert_null(f.c->transfer);
  expect_delivery(&f, FX_POLICE, MV_DELIVERY(REFUSED));
  /* the refusal and its reason stay in the case file */
  const mv_event *refusal = f.events[f.n_events - 1];
  assert_int_equal(refusal->action->kind, MV_ACTION(REFUSE));
  assert_string_equal(refusal->action->reason, "非家事纠纷，请转社区");
  assert_string_equal(refusal->actor->id, FX_MARRIAGE);
  /* the marriage studio was offered it: it may still read it */
  assert_true(reads(&f, FX_MARRIAGE));

  transfer(&f, FX_POLICE, FX_BAIHE, "邻里纠纷转社区调解");
  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_BAIHE);
  expect_state(&f, MV_STATE(INTAKE), FX_BAIHE);
  assert_int_equal(f.c->n_units_involved, 3);
  assert_string_equal(f.c->units_involved[2], FX_BAIHE);

  mv_counters police = fx_figures_sum(&fig, FX_POLICE, 0);
  assert_int_equal(police.taken_in, 1);
  assert_int_equal(police.transferred_out, 2);
  mv_counters marriage = fx_figures_sum(&fig, FX_MARRIAGE, 0);
  assert_int_equal(marriage.refused, 1);
  assert_int_equal(marriage.accepted, 0);
  mv_counters station = fx_figures_sum(&fig, FX_BAIHE, 0);
  assert_int_equal(station.accepted, 1);
  expect_reproducible(&f);
  fx_free(&f);
  fx_figures_free(&fig);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_police_referral),
      cmocka_unit_test(test_inheritance_litigation),
      cmocka_unit_test(test_elder_support_from_community),
      cmocka_unit_test(test_refused_transfer),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
