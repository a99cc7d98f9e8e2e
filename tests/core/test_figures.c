/*
 * test_figures.c - what each step adds to the year's figures: its bucket
 * (month at +08:00, acting unit, community, kind) and its counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/figures.h"
#include "fixture.h"

/* The delta of the last step of f (the case before it is rebuilt by
 * replaying the file up to it). */
static bool last_delta(const fx_case *f, mv_bucket *b, mv_counters *d) {
  mv_case *before = NULL;
  for (size_t i = 0; i + 1 < f->n_events; i++) {
    mv_case *next;
    assert_int_equal(mc_replay_event(480, before, f->events[i], &next, NULL), MC_OK);
    if (before)
      protobuf_c_message_free_unpacked(&before->base, NULL);
    before = next;
  }
  bool changed = mc_figures_delta(before, f->c, f->events[f->n_events - 1], 480, b, d);
  if (before)
    protobuf_c_message_free_unpacked(&before->base, NULL);
  return changed;
}

static void test_intake_counts(void **state) {
  (void)state;
  fx_case f = {0};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.petition = MV_PETITION(LED);
  act.intake.source = MV_SOURCE(CONSULTATION);
  mv_actor w = fx_unit(FX_WANGAI);
  fx_do(fx_reg, &f, &act.a, &w);
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(b.year, 2026);
  assert_int_equal(b.month, 3);
  assert_string_equal(b.unit, FX_WANGAI);
  assert_string_equal(b.community, "kongque");
  assert_int_equal(b.kind, MV_KIND(RELATIONSHIP));
  assert_int_equal(d.taken_in, 1);
  assert_int_equal(d.petition_led, 1);
  assert_int_equal(d.petition_assisted, 0);
  assert_int_equal(d.from_consultation, 1);
  assert_int_equal(d.from_police_call, 0);
  assert_int_equal(d.mediated, 0);
  assert_int_equal(d.repeat_cases, 0);
  fx_free(&f);

  /* 再次纠纷: an intake the router linked to an earlier case counts once. */
  fx_case g = {0};
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  char *earlier[1] = {"BH-2026-000001"};
  act.intake.repeat_of = earlier;
  act.intake.n_repeat_of = 1;
  fx_do(fx_reg, &g, &act.a, &w);
  assert_true(last_delta(&g, &b, &d));
  assert_int_equal(d.taken_in, 1);
  assert_int_equal(d.repeat_cases, 1);
  assert_int_equal(g.c->intake->n_repeat_of, 1);
  fx_free(&g);
}

/* Months are the subdistrict's: 2026-03-31 16:30 UTC is April 1st in
 * Ningbo. */
static void test_month_at_utc_offset(void **state) {
  (void)state;
  fx_case f = {0};
  f.now = 1774974600000LL; /* 2026-03-31T16:30:00Z */
  fx_kind(fx_reg, &f, MV_ACTION(TAKE_IN), FX_POLICE);
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(b.month, 4);
  assert_true(mc_figures_delta(NULL, f.c, f.events[0], 0, &b, &d));
  assert_int_equal(b.month, 3);
  fx_free(&f);
}

/* Mediated cases count once, with their money, difficulty and workers, at
 * their first outcome; a second outcome after a reopen adds nothing. */
static void test_mediated_once(void **state) {
  (void)state;
  fx_case f = {0};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.kind = MV_KIND(LABOUR);
  act.intake.workers = 31;
  act.intake.money_fen = 115000000;
  act.intake.difficulty = MV_DIFFICULTY(COMPLEX);
  act.intake.petition = MV_PETITION(ASSISTED);
  mv_actor m = fx_unit(FX_MARRIAGE);
  fx_do(fx_reg, &f, &act.a, &m);
  fx_kind(fx_reg, &f, MV_ACTION(ASSIGN), FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_MARRIAGE);
  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.agreed_amount_fen = 90000000;
  act.outcome.resolution = MV_RESOLUTION(IN_FACT);
  fx_do(fx_reg, &f, &act.a, &m);
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_string_equal(b.unit, FX_MARRIAGE);
  assert_int_equal(b.kind, MV_KIND(LABOUR));
  assert_int_equal(d.mediated, 1);
  assert_int_equal(d.resolved, 1);
  assert_int_equal(d.money_involved_fen, 115000000);
  assert_int_equal(d.agreed_amount_fen, 90000000);
  assert_int_equal(d.difficult_or_complex, 1);
  assert_int_equal(d.workers_involved, 31);
  assert_int_equal(d.resolved_in_fact, 1);
  assert_int_equal(d.resolved_in_substance, 0);

  fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_MARRIAGE);
  /* a coordinator reopens: counted in the holder's bucket */
  fx_act_init(&act, MV_ACTION(REOPEN));
  mv_actor c = fx_coordinator();
  fx_do(fx_reg, &f, &act.a, &c);
  assert_true(last_delta(&f, &b, &d));
  assert_string_equal(b.unit, FX_MARRIAGE);
  assert_int_equal(d.reopened, 1);
  assert_int_equal(d.satisfied, -1); /* the case has no satisfaction until revisited */
  assert_int_equal(d.mediated, 0);

  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.agreed_amount_fen = 1;
  fx_do(fx_reg, &f, &act.a, &m);
  assert_false(last_delta(&f, &b, &d));
  assert_true(mc_counters_zero(&d));
  fx_free(&f);
}

/* Feedback recorded again moves the case between tallies. */
static void test_satisfaction_moves(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_FEEDBACK, &f); /* satisfied */
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(d.satisfied, 1);
  fx_act act;
  fx_act_init(&act, MV_ACTION(RECORD_FEEDBACK));
  act.feedback.satisfaction = MV_SATISFACTION(DISSATISFIED);
  mv_actor p = fx_unit(FX_POLICE);
  fx_do(fx_reg, &f, &act.a, &p);
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(d.satisfied, -1);
  assert_int_equal(d.dissatisfied, 1);
  /* the same satisfaction again changes nothing */
  fx_do(fx_reg, &f, &act.a, &p);
  assert_false(last_delta(&f, &b, &d));
  fx_free(&f);
}

/* Sent to court straight from mediation: mediated (without agreement) and
 * litigated in one step. */
static void test_litigation_from_mediation(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_LITIGATION, &f);
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(d.mediated, 1);
  assert_int_equal(d.litigated, 1);
  assert_int_equal(d.resolved, 0);
  fx_free(&f);
}

/* Handoffs: the sender counts the offer, the offered unit its answer. */
static void test_handoff_buckets(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_TRANSFER_FROM_INTAKE, &f);
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_string_equal(b.unit, FX_POLICE);
  assert_int_equal(d.transferred_out, 1);
  fx_kind(fx_reg, &f, MV_ACTION(REFUSE), FX_MARRIAGE);
  assert_true(last_delta(&f, &b, &d));
  assert_string_equal(b.unit, FX_MARRIAGE);
  assert_int_equal(d.refused, 1);
  /* a recall and a receipt count nothing */
  fx_kind(fx_reg, &f, MV_ACTION(TRANSFER), FX_POLICE);
  fx_kind(fx_reg, &f, MV_ACTION(RECALL), FX_POLICE);
  assert_false(last_delta(&f, &b, &d));
  fx_act act;
  fx_act_init(&act, MV_ACTION(RECORD_RECEIPT));
  act.receipt.case_id = f.c->id;
  mv_actor s = fx_system();
  fx_do(fx_reg, &f, &act.a, &s);
  assert_false(last_delta(&f, &b, &d));
  assert_string_equal(b.unit, FX_POLICE); /* the router's step: the holder's bucket */
  fx_kind(fx_reg, &f, MV_ACTION(WITHDRAW), FX_POLICE);
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(d.withdrawn, 1);
  fx_free(&f);
}

static void test_case_file_complete(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_CLOSED, &f); /* mediator, outcome, visit; no session, no court */
  assert_false(mc_case_file_complete(f.c));
  mv_bucket b;
  mv_counters d;
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(d.closed, 1);
  assert_int_equal(d.complete_files, 0);
  fx_free(&f);

  fx_build(fx_reg, FX_MEDIATION, &f);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_SESSION), FX_POLICE);
  fx_outcome(fx_reg, &f, MV_OUTCOME(AGREEMENT));
  assert_false(mc_case_file_complete(f.c)); /* no follow-up visit yet */
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
  assert_true(mc_case_file_complete(f.c));
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_POLICE);
  assert_true(last_delta(&f, &b, &d));
  assert_int_equal(d.complete_files, 1);
  fx_free(&f);

  /* a counsellor and a lawyer are no mediator */
  fx_case g = {0};
  fx_kind(fx_reg, &g, MV_ACTION(TAKE_IN), FX_POLICE);
  fx_act act;
  fx_act_init(&act, MV_ACTION(ASSIGN));
  act.member.role = MV_ROLE(LAWYER);
  mv_actor p = fx_unit(FX_POLICE);
  fx_do(fx_reg, &g, &act.a, &p);
  fx_kind(fx_reg, &g, MV_ACTION(START_MEDIATION), FX_POLICE);
  fx_kind(fx_reg, &g, MV_ACTION(RECORD_SESSION), FX_POLICE);
  fx_outcome(fx_reg, &g, MV_OUTCOME(AGREEMENT));
  fx_kind(fx_reg, &g, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
  assert_false(mc_case_file_complete(g.c));
  fx_free(&g);
  assert_false(mc_case_file_complete(NULL));
}

/* mc_counters_add and mc_counters_zero walk the descriptor: every counter
 * must be an int64 for that to cover it. */
static void test_counters_arithmetic(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *desc = &mediation__v1__figure_counters__descriptor;
  for (unsigned i = 0; i < desc->n_fields; i++)
    assert_int_equal(desc->fields[i].type, PROTOBUF_C_TYPE_INT64);
  mv_counters a = MEDIATION__V1__FIGURE_COUNTERS__INIT, b = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  assert_true(mc_counters_zero(&a));
  b.taken_in = 2;
  b.workers_involved = 131;
  b.dissatisfied = -1;
  mc_counters_add(&a, &b);
  mc_counters_add(&a, &b);
  assert_int_equal(a.taken_in, 4);
  assert_int_equal(a.workers_involved, 262);
  assert_int_equal(a.dissatisfied, -2);
  assert_false(mc_counters_zero(&a));
  a = (mv_counters)MEDIATION__V1__FIGURE_COUNTERS__INIT;
  a.workers_involved = 1; /* the last field counts too */
  assert_false(mc_counters_zero(&a));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_intake_counts),       cmocka_unit_test(test_month_at_utc_offset),
      cmocka_unit_test(test_mediated_once),       cmocka_unit_test(test_satisfaction_moves),
      cmocka_unit_test(test_litigation_from_mediation), cmocka_unit_test(test_handoff_buckets),
      cmocka_unit_test(test_case_file_complete),  cmocka_unit_test(test_counters_arithmetic),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
