/*
 * test_machine_random.c - thousands of random steps over many cases.
 *
 * Steps are drawn mostly from what the case's state allows, by actors who
 * mostly may take them, with arguments that are mostly valid, so the walk
 * goes deep into case lives while still trying every kind of refusal. After
 * every step: the refusal is the one the table implies, the input is
 * unchanged, and the case satisfies the invariants below (no undefined
 * state). At the end: every case file replays to a byte-identical record,
 * the figures recomputed from the files equal those added as the steps ran,
 * and the figures agree with the cases' final states.
 *
 * The seed is printed; rerun a failure with MEDIATION_SEED=<seed>.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/figures.h"
#include "core/names.h"
#include "fixture.h"

#define N_CASES 400
#define MAX_STEPS 150

static uint64_t rng_state;

static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static unsigned below(unsigned n) { return (unsigned)(rnd() % n); }
static bool chance(unsigned percent) { return below(100) < percent; }

static const char *const units[] = {FX_POLICE, FX_MARRIAGE, FX_WANGAI, FX_KONGQUE, FX_BAIHE};
static const char *const communities[] = {"wangai", "kongque", "baihe"};
static const char *const people[] = {"调解员甲", "咨询师乙", "律师丙", "调解员丁"};

static const char *any_unit(void) { return units[below(5)]; }

/* An actor for a row: usually one the row allows, sometimes anyone. */
static mv_actor pick_actor(const mv_case *c, const mc_transition *row) {
  unsigned roles = row && chance(80) ? row->roles : 0;
  unsigned choices[5], n = 0;
  for (unsigned bit = 0; bit < 5; bit++)
    if (roles & (1u << bit))
      choices[n++] = 1u << bit;
  unsigned role = n ? choices[below(n)] : 1u << below(5);
  switch (role) {
  case MC_BY_HOLDER:
    return fx_unit(c && c->holder[0] ? c->holder : any_unit());
  case MC_BY_TARGET:
    return fx_unit(c && c->transfer ? c->transfer->to_unit : any_unit());
  case MC_BY_COORDINATOR:
    return fx_coordinator();
  case MC_BY_SYSTEM:
    return fx_system();
  default:
    return fx_unit(any_unit());
  }
}

/* Random valid arguments for the kind; sometimes one bad field. */
static void fill_action(fx_act *f, mv_action_kind kind, const mv_case *c, int64_t now) {
  fx_act_init(f, kind);
  switch (kind) {
  case MV_ACTION(TAKE_IN):
    f->intake.kind = 1 + below(9);
    f->intake.difficulty = 1 + below(3);
    f->intake.source = 1 + below(5);
    f->intake.community = (char *)communities[below(3)];
    f->intake.grid = strcmp(f->intake.community, "wangai") == 0 && chance(50) ? "第二网格" : "";
    f->intake.n_parties = 1 + below(3);
    f->party[2].name = "甄小亮";
    f->party[2].role = MV_PARTY(OTHER);
    f->intake.money_fen = (int64_t)(rnd() % 20000000);
    f->intake.petition = below(3);
    f->intake.workers = f->intake.kind == MV_KIND(LABOUR) ? below(200) : 0;
    if (chance(8))
      f->intake.community = "nowhere";
    if (chance(5))
      f->party[0].phone = "not a phone";
    break;
  case MV_ACTION(TRANSFER):
    f->a.to_unit = (char *)any_unit();
    if (chance(5))
      f->a.reason = "";
    break;
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    f->member.person = (char *)people[below(4)];
    f->member.role = 1 + below(3);
    break;
  case MV_ACTION(RECORD_SESSION):
    f->session.held_ms = chance(5) ? 0 : now - (int64_t)below(86400000);
    break;
  case MV_ACTION(RECORD_OUTCOME):
    f->outcome.kind = 1 + below(2);
    f->outcome.agreed_amount_fen =
        f->outcome.kind == MV_OUTCOME(AGREEMENT) ? (int64_t)(rnd() % 5000000) : 0;
    if (c && c->intake && c->intake->petition != MV_PETITION(NONE))
      f->outcome.resolution = below(3);
    else if (chance(5))
      f->outcome.resolution = MV_RESOLUTION(IN_FACT); /* not a petition case: refused */
    f->outcome.followup_due_ms = chance(50) ? now + (int64_t)below(40) * FX_DAY : 0;
    break;
  case MV_ACTION(RECORD_COURT_RESULT):
    f->court.kind = 1 + below(4);
    f->court.amount_fen = chance(5) ? -1 : (int64_t)(rnd() % 9000000);
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    f->feedback.satisfaction = chance(5) ? 0 : 1 + below(3);
    f->feedback.visited_ms = now;
    break;
  case MV_ACTION(RECORD_RECEIPT):
    if (c != NULL) {
      f->receipt.case_id = c->id;
      f->receipt.unit = c->units_involved[below((unsigned)c->n_units_involved)];
      f->receipt.event_seq = 1 + below(c->event_count);
      f->receipt.delivery_seq = 1 + below(1000);
    }
    break;
  default:
    if (chance(5))
      f->a.reason = "";
    break;
  }
}

static bool contains(char **list, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(list[i], s) == 0)
      return true;
  return false;
}

/* What must hold of every case the machine ever produces, and of each step
 * from prev (NULL for the intake) to c. */
static void check_invariants(const mc_registry *reg, const mv_case *prev, const mv_case *c,
                             size_t n_events, const char *where) {
#define INVARIANT(cond)                                                                        \
  do {                                                                                         \
    if (!(cond))                                                                               \
      fail_msg("%s: invariant failed: %s", where, #cond);                                      \
  } while (0)
  INVARIANT(c->state >= MV_STATE(INTAKE) && c->state <= MV_STATE(WITHDRAWN));
  INVARIANT(c->id[0] != '\0' && c->intake != NULL);
  INVARIANT(mc_registry_unit(reg, c->holder) != NULL);
  INVARIANT((c->state == MV_STATE(TRANSFER)) == (c->transfer != NULL));
  if (c->transfer) {
    INVARIANT(strcmp(c->transfer->from_unit, c->holder) == 0);
    INVARIANT(strcmp(c->transfer->to_unit, c->holder) != 0);
    INVARIANT(contains(c->units_involved, c->n_units_involved, c->transfer->to_unit));
    INVARIANT(c->transfer->return_state == MV_STATE(INTAKE) ||
              c->transfer->return_state == MV_STATE(MEDIATION) ||
              c->transfer->return_state == MV_STATE(FEEDBACK));
  }
  INVARIANT(contains(c->units_involved, c->n_units_involved, c->holder));
  for (size_t i = 0; i < c->n_units_involved; i++)
    INVARIANT(!contains(c->units_involved, i, c->units_involved[i]));
  INVARIANT(c->event_count == n_events);
  INVARIANT(c->last_event_hash.len == MC_HASH_BYTES);
  INVARIANT(c->outcome == NULL || c->mediated_ms != 0);
  INVARIANT(c->state != MV_STATE(FEEDBACK) || c->outcome != NULL || c->court_result != NULL);
  INVARIANT(c->state != MV_STATE(LITIGATION) ||
            (c->outcome && c->outcome->kind == MV_OUTCOME(NO_AGREEMENT)));
  INVARIANT(c->state != MV_STATE(CLOSED) ||
            (c->feedback && c->feedback->satisfaction != MV_SATISFACTION(UNSPECIFIED)));
  INVARIANT(!mc_state_is_final(c->state) || c->deadline_ms == 0);
  INVARIANT(c->n_team <= reg->limits.max_team && c->n_sessions <= reg->limits.max_sessions);
  INVARIANT(c->event_count <= reg->limits.max_events);
  for (size_t i = 0; i < c->n_team; i++) {
    for (size_t k = i + 1; k < c->n_team; k++) {
      const mv_member *a = c->team[i], *b = c->team[k];
      INVARIANT(!(a->released_ms == 0 && b->released_ms == 0 && a->role == b->role &&
                  strcmp(a->person, b->person) == 0));
    }
  }
  if (prev == NULL)
    return;
  /* what is in the record stays there */
  INVARIANT(strcmp(prev->id, c->id) == 0 && prev->created_ms == c->created_ms);
  INVARIANT(prev->mediated_ms == 0 || prev->mediated_ms == c->mediated_ms);
  INVARIANT(c->n_units_involved >= prev->n_units_involved);
  for (size_t i = 0; i < prev->n_units_involved; i++)
    INVARIANT(strcmp(prev->units_involved[i], c->units_involved[i]) == 0);
  INVARIANT(c->n_team >= prev->n_team && c->n_sessions >= prev->n_sessions);
  for (size_t i = 0; i < prev->n_team; i++) {
    INVARIANT(strcmp(prev->team[i]->person, c->team[i]->person) == 0);
    INVARIANT(prev->team[i]->released_ms == 0 ||
              prev->team[i]->released_ms == c->team[i]->released_ms);
  }
  INVARIANT(c->reopen_count >= prev->reopen_count);
  INVARIANT(!prev->legal_aid || c->legal_aid);
  INVARIANT(c->state != prev->state || c->deadline_ms == prev->deadline_ms);
#undef INVARIANT
}

static const mc_transition *any_row(mv_state from);

static const mc_transition *row_for(mv_state from, int kind) {
  size_t n;
  const mc_transition *t = mc_transitions(&n);
  for (size_t i = 0; i < n; i++)
    if (t[i].from == from && (int)t[i].action == kind)
      return &t[i];
  return NULL;
}

/* A row the state allows, chosen at random; withdrawals (allowed from the
 * first three states) are made rare, or few cases would live past them. */
static const mc_transition *random_row(mv_state from) {
  const mc_transition *row;
  int tries = 0;
  do
    row = any_row(from);
  while (row && row->action == MV_ACTION(WITHDRAW) && tries++ < 4);
  return row;
}

static const mc_transition *any_row(mv_state from) {
  size_t n, count = 0;
  const mc_transition *t = mc_transitions(&n);
  for (size_t i = 0; i < n; i++)
    count += t[i].from == from;
  if (count == 0)
    return NULL;
  size_t pick = below((unsigned)count);
  for (size_t i = 0; i < n; i++)
    if (t[i].from == from && pick-- == 0)
      return &t[i];
  return NULL;
}

static void test_random_walk(void **state) {
  (void)state;
  const char *env = getenv("MEDIATION_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)mc_mono_ns() ^ (uint64_t)mc_now_ms();
  rng_state = seed;
  print_message("seed %" PRIu64 " (rerun with MEDIATION_SEED=%" PRIu64 ")\n", seed, seed);

  mc_registry *reg = fx_registry("[limits]\nmax_events = 60\nmax_team = 6\nmax_sessions = 4\n");
  fx_figures running = {0};
  fx_case *cases = calloc(N_CASES, sizeof(*cases));
  assert_non_null(cases);
  size_t codes[MC_CODE_COUNT] = {0}, steps = 0;
  int64_t apply_ns = 0;
  int64_t now = FX_T0;

  for (size_t ci = 0; ci < N_CASES; ci++) {
    fx_case *f = &cases[ci];
    f->fig = &running;
    unsigned n_steps = 1 + below(MAX_STEPS);
    for (unsigned s = 0; s < n_steps; s++) {
      now += FX_MINUTE + (int64_t)(rnd() % (3 * FX_DAY));
      f->now = now;
      mv_state from = f->c ? f->c->state : MV_STATE(UNSPECIFIED);
      const mc_transition *row = chance(85) ? random_row(from) : NULL;
      int kind = row ? (int)row->action : (int)below(20);
      /* the action and actor borrow from a copy: f->c is freed by a step */
      mv_case *prev = f->c ? fx_copy(f->c) : NULL;
      fx_act act;
      fill_action(&act, (mv_action_kind)kind, prev, now);
      mv_actor who = pick_actor(prev, row ? row : row_for(from, kind));

      size_t before_len = 0;
      uint8_t *before = f->c ? fx_pack(&f->c->base, &before_len) : NULL;
      size_t n_before = f->n_events;
      mc_err err = {0};
      int64_t t0 = mc_mono_ns();
      mc_code rc = fx_try(reg, f, &act.a, &who, &err);
      apply_ns += mc_mono_ns() - t0;
      steps++;
      codes[rc]++;
      char where[768];
      snprintf(where, sizeof(where), "case %zu step %u: %s by %s in %s -> %s (%s)", ci, s,
               mc_name_of(mc_action_names, kind), who.id,
               from ? mc_name_of(mc_state_names, from) : "new", mc_code_name(rc), err.msg);

      /* the outcome is the one the table implies */
      const mc_transition *r = kind > 0 && kind < 19 ? row_for(from, kind) : NULL;
      bool may = r && (mc_roles_of(prev, &who) & r->roles);
      switch (rc) {
      case MC_OK:
        if (!may)
          fail_msg("%s: allowed without a row and a role", where);
        break;
      case MC_FAILED_PRECONDITION:
        if (r && !may)
          fail_msg("%s: should be PERMISSION_DENIED", where);
        break;
      case MC_PERMISSION_DENIED:
        if (!r)
          fail_msg("%s: should be FAILED_PRECONDITION", where);
        break;
      case MC_INVALID_ARGUMENT:
        if (kind > 0 && kind < 19 && !may)
          fail_msg("%s: fields checked before state and actor", where);
        break;
      case MC_RESOURCE_EXHAUSTED:
        if (!may)
          fail_msg("%s: limits checked before state and actor", where);
        break;
      default:
        fail_msg("%s: unexpected code", where);
      }
      if (rc != MC_OK && (f->n_events != n_before || err.msg[0] == '\0'))
        fail_msg("%s: a refusal changed the case file or said nothing", where);
      if (prev != NULL && rc != MC_OK) {
        size_t after_len;
        uint8_t *after = fx_pack(&f->c->base, &after_len);
        if (after_len != before_len || memcmp(before, after, after_len) != 0)
          fail_msg("%s: the case changed on a refusal", where);
        free(after);
      }
      if (rc == MC_OK)
        check_invariants(reg, prev, f->c, f->n_events, where);
      free(before);
      if (prev)
        protobuf_c_message_free_unpacked(&prev->base, NULL);
    }
  }

  /* every case file rebuilds its record, and its figures */
  fx_figures again = {0};
  size_t n_cases = 0, mediated = 0, closed = 0, withdrawn = 0, legal_aid = 0;
  size_t by_satisfaction[4] = {0}, by_state[8] = {0};
  int64_t money = 0;
  for (size_t ci = 0; ci < N_CASES; ci++) {
    fx_case *f = &cases[ci];
    if (f->c == NULL)
      continue;
    n_cases++;
    mv_case *r = fx_replay(f, reg->utc_offset_minutes);
    if (!fx_same(&r->base, &f->c->base))
      fail_msg("case %zu: replay differs from the record", ci);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    fx_figures_of_file(&again, f, reg->utc_offset_minutes);
    by_state[f->c->state]++;
    if (f->c->mediated_ms) {
      mediated++;
      money += f->c->intake->money_fen;
    }
    closed += f->c->state == MV_STATE(CLOSED);
    withdrawn += f->c->state == MV_STATE(WITHDRAWN);
    legal_aid += f->c->legal_aid;
    if (f->c->feedback)
      by_satisfaction[f->c->feedback->satisfaction]++;
  }
  assert_true(fx_figures_equal(&running, &again));

  /* the figures agree with the cases as they stand */
  mv_counters t = fx_figures_sum(&running, NULL, 0);
  assert_int_equal(t.taken_in, n_cases);
  assert_int_equal(t.mediated, mediated);
  assert_int_equal(t.money_involved_fen, money);
  assert_int_equal(t.closed - t.reopened, closed);
  assert_int_equal(t.withdrawn, withdrawn);
  assert_int_equal(t.legal_aid, legal_aid);
  assert_int_equal(t.satisfied, by_satisfaction[MV_SATISFACTION(SATISFIED)]);
  assert_int_equal(t.basically_satisfied, by_satisfaction[MV_SATISFACTION(BASICALLY_SATISFIED)]);
  assert_int_equal(t.dissatisfied, by_satisfaction[MV_SATISFACTION(DISSATISFIED)]);
  assert_int_equal(t.from_police_call + t.from_walk_in + t.from_letter_or_call +
                       t.from_referral + t.from_consultation,
                   n_cases);

  print_message("%zu steps over %zu cases (%zu buckets): ok %zu, invalid %zu, precondition "
                "%zu, denied %zu, exhausted %zu; %.1f us per step\n",
                steps, n_cases, running.n, codes[MC_OK], codes[MC_INVALID_ARGUMENT],
                codes[MC_FAILED_PRECONDITION], codes[MC_PERMISSION_DENIED],
                codes[MC_RESOURCE_EXHAUSTED], (double)apply_ns / (double)steps / 1000.0);
  print_message("final states: intake %zu, transfer %zu, mediation %zu, feedback %zu, "
                "litigation %zu, closed %zu, withdrawn %zu\n",
                by_state[1], by_state[2], by_state[3], by_state[4], by_state[5], by_state[6],
                by_state[7]);
  /* the walk must have reached every state and every kind of answer */
  for (int s = MV_STATE(INTAKE); s <= MV_STATE(WITHDRAWN); s++)
    if (by_state[s] == 0 && s != MV_STATE(TRANSFER))
      print_message("note: no case ended in state %d\n", s);
  assert_true(codes[MC_OK] > steps / 3);
  assert_true(codes[MC_INVALID_ARGUMENT] > 0 && codes[MC_FAILED_PRECONDITION] > 0 &&
              codes[MC_PERMISSION_DENIED] > 0 && codes[MC_RESOURCE_EXHAUSTED] > 0);

  for (size_t ci = 0; ci < N_CASES; ci++)
    fx_free(&cases[ci]);
  free(cases);
  fx_figures_free(&running);
  fx_figures_free(&again);
  mc_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_walk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
