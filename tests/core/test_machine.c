/*
 * test_machine.c - every (state, action, actor) triple of the case state
 * machine, against the rule book written out by hand below; and what the
 * applied steps leave behind: events, hash chain, replay, deliveries and
 * deadlines.
 *
 * The expectations here are not read from machine.c: the `legal` list is the
 * domain's rule book typed in again, so a change to the table that nobody
 * meant shows up as a failing triple, and test_table_is_the_rule_book checks
 * that the table the docs print says the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/actions.h"
#include "core/clock.h"
#include "core/effects.h"
#include "core/ids.h"
#include "core/names.h"
#include "fixture.h"

/* ---- the rule book, by hand ---- */

enum {
  A_HOLDER = 1 << 0, /* police-studio, which holds every fixture case */
  A_TARGET = 1 << 1, /* marriage-studio, offered the case in the transfer fixtures */
  A_OTHER = 1 << 2,  /* station-wangai, never involved (the cases are in 孔雀) */
  A_COORD = 1 << 3,
  A_SYSTEM = 1 << 4,
};
#define A_UNITS (A_HOLDER | A_TARGET | A_OTHER)
#define N_ACTORS 5

#define TO_RETURN 100 /* back to the state the transfer was offered from */
#define TO_ACCEPT 101 /* intake, or feedback when offered from feedback */

static const struct legal {
  mv_state from;
  mv_action_kind action;
  unsigned who;
  int to;
} legal[] = {
    {MV_STATE(UNSPECIFIED), MV_ACTION(TAKE_IN), A_UNITS, MV_STATE(INTAKE)},
    {MV_STATE(INTAKE), MV_ACTION(TRANSFER), A_HOLDER, MV_STATE(TRANSFER)},
    {MV_STATE(MEDIATION), MV_ACTION(TRANSFER), A_HOLDER, MV_STATE(TRANSFER)},
    {MV_STATE(FEEDBACK), MV_ACTION(TRANSFER), A_HOLDER, MV_STATE(TRANSFER)},
    {MV_STATE(TRANSFER), MV_ACTION(ACCEPT), A_TARGET, TO_ACCEPT},
    {MV_STATE(TRANSFER), MV_ACTION(REFUSE), A_TARGET, TO_RETURN},
    {MV_STATE(TRANSFER), MV_ACTION(RECALL), A_HOLDER | A_COORD, TO_RETURN},
    {MV_STATE(INTAKE), MV_ACTION(START_MEDIATION), A_HOLDER, MV_STATE(MEDIATION)},
    {MV_STATE(INTAKE), MV_ACTION(ASSIGN), A_HOLDER, MV_STATE(INTAKE)},
    {MV_STATE(MEDIATION), MV_ACTION(ASSIGN), A_HOLDER, MV_STATE(MEDIATION)},
    {MV_STATE(FEEDBACK), MV_ACTION(ASSIGN), A_HOLDER, MV_STATE(FEEDBACK)},
    {MV_STATE(INTAKE), MV_ACTION(RELEASE), A_HOLDER, MV_STATE(INTAKE)},
    {MV_STATE(MEDIATION), MV_ACTION(RELEASE), A_HOLDER, MV_STATE(MEDIATION)},
    {MV_STATE(FEEDBACK), MV_ACTION(RELEASE), A_HOLDER, MV_STATE(FEEDBACK)},
    {MV_STATE(MEDIATION), MV_ACTION(RECORD_SESSION), A_HOLDER, MV_STATE(MEDIATION)},
    {MV_STATE(MEDIATION), MV_ACTION(RECORD_OUTCOME), A_HOLDER, MV_STATE(FEEDBACK)},
    {MV_STATE(MEDIATION), MV_ACTION(SEND_TO_LITIGATION), A_HOLDER, MV_STATE(LITIGATION)},
    {MV_STATE(FEEDBACK), MV_ACTION(SEND_TO_LITIGATION), A_HOLDER, MV_STATE(LITIGATION)},
    {MV_STATE(LITIGATION), MV_ACTION(RECORD_COURT_RESULT), A_HOLDER, MV_STATE(FEEDBACK)},
    {MV_STATE(FEEDBACK), MV_ACTION(RECORD_FEEDBACK), A_HOLDER, MV_STATE(FEEDBACK)},
    {MV_STATE(FEEDBACK), MV_ACTION(CLOSE), A_HOLDER, MV_STATE(CLOSED)},
    {MV_STATE(CLOSED), MV_ACTION(REOPEN), A_HOLDER | A_COORD, MV_STATE(MEDIATION)},
    {MV_STATE(INTAKE), MV_ACTION(WITHDRAW), A_HOLDER, MV_STATE(WITHDRAWN)},
    {MV_STATE(TRANSFER), MV_ACTION(WITHDRAW), A_HOLDER, MV_STATE(WITHDRAWN)},
    {MV_STATE(MEDIATION), MV_ACTION(WITHDRAW), A_HOLDER, MV_STATE(WITHDRAWN)},
    {MV_STATE(INTAKE), MV_ACTION(GRANT_LEGAL_AID), A_HOLDER, MV_STATE(INTAKE)},
    {MV_STATE(MEDIATION), MV_ACTION(GRANT_LEGAL_AID), A_HOLDER, MV_STATE(MEDIATION)},
    {MV_STATE(LITIGATION), MV_ACTION(GRANT_LEGAL_AID), A_HOLDER, MV_STATE(LITIGATION)},
    {MV_STATE(FEEDBACK), MV_ACTION(GRANT_LEGAL_AID), A_HOLDER, MV_STATE(FEEDBACK)},
    {MV_STATE(INTAKE), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(INTAKE)},
    {MV_STATE(TRANSFER), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(TRANSFER)},
    {MV_STATE(MEDIATION), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(MEDIATION)},
    {MV_STATE(FEEDBACK), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(FEEDBACK)},
    {MV_STATE(LITIGATION), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(LITIGATION)},
    {MV_STATE(CLOSED), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(CLOSED)},
    {MV_STATE(WITHDRAWN), MV_ACTION(RECORD_RECEIPT), A_SYSTEM, MV_STATE(WITHDRAWN)},
};

static const struct legal *rule_for(mv_state from, int action) {
  for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++) {
    if (legal[i].from == from && (int)legal[i].action == action)
      return &legal[i];
  }
  return NULL;
}

/* ---- one case in every state ---- */

static mv_actor actor_for(int bit) {
  switch (bit) {
  case A_HOLDER:
    return fx_unit(FX_POLICE);
  case A_TARGET:
    return fx_unit(FX_MARRIAGE);
  case A_OTHER:
    return fx_unit(FX_WANGAI);
  case A_COORD:
    return fx_coordinator();
  default:
    return fx_system();
  }
}

static const char *const actor_names[N_ACTORS] = {"holder", "target", "other unit",
                                                  "coordinator", "system"};

/* One triple: the code it gives, and on success all a caller relies on. */
static void check_triple(fx_variant v, const fx_case *f, int kind, int actor_index) {
  int bit = 1 << actor_index;
  mv_actor who = actor_for(bit);
  fx_act act;
  fx_act_init(&act, (mv_action_kind)kind);
  if (kind == MV_ACTION(RECORD_RECEIPT) && f->c != NULL)
    act.receipt.case_id = f->c->id;
  if (kind == MV_ACTION(ASSIGN)) { /* 调解员甲 is on every fixture case already */
    act.member.person = "咨询师乙";
    act.member.role = MV_ROLE(COUNSELLOR);
  }
  mv_state from = f->c ? f->c->state : MV_STATE(UNSPECIFIED);
  const struct legal *rule = kind > 0 && kind < 19 ? rule_for(from, kind) : NULL;
  mc_code want = kind <= 0 || kind >= 19 ? MC_INVALID_ARGUMENT
                 : rule == NULL          ? MC_FAILED_PRECONDITION
                 : (rule->who & bit)     ? MC_OK
                                         : MC_PERMISSION_DENIED;

  size_t before_len = 0;
  uint8_t *before = f->c ? fx_pack(&f->c->base, &before_len) : NULL;
  mv_case *const sentinel_case = (mv_case *)&sentinel_case;
  mv_event *const sentinel_event = (mv_event *)&sentinel_event;
  mv_case *next = sentinel_case;
  mv_event *ev = sentinel_event;
  mc_err err = {0};
  mc_step step = {.current = f->c, .action = &act.a, .actor = &who, .now_ms = f->now,
                  .request_id = {3, (uint8_t *)"rid"}};
  size_t heap = fx_heap_in_use();
  mc_code rc = mc_apply(fx_reg, &step, &next, &ev, &err);
  size_t heap_after = fx_heap_in_use();
  char where[160];
  snprintf(where, sizeof(where), "%s / %s / %s", fx_variant_names[v],
           mc_name_of(mc_action_names, kind), actor_names[actor_index]);
  if (rc != want)
    fail_msg("%s: expected %s, got %s (%s)", where, mc_code_name(want), mc_code_name(rc), err.msg);

  if (f->c != NULL) {
    size_t after_len;
    uint8_t *after = fx_pack(&f->c->base, &after_len);
    if (after_len != before_len || memcmp(before, after, after_len) != 0)
      fail_msg("%s: the input case changed", where);
    free(after);
  }
  free(before);

  if (rc != MC_OK) {
    if (next != sentinel_case || ev != sentinel_event)
      fail_msg("%s: a refused step wrote its outputs", where);
    if (heap_after != heap)
      fail_msg("%s: a refused step allocated memory", where);
    if (err.code != rc || err.msg[0] == '\0')
      fail_msg("%s: no message for %s", where, mc_code_name(rc));
    return;
  }

  mv_state want_to;
  if (rule->to == TO_RETURN)
    want_to = fx_offered_from(v);
  else if (rule->to == TO_ACCEPT)
    want_to = fx_offered_from(v) == MV_STATE(FEEDBACK) ? MV_STATE(FEEDBACK) : MV_STATE(INTAKE);
  else
    want_to = (mv_state)rule->to;
  const char *want_holder = kind == MV_ACTION(TAKE_IN)  ? who.id
                            : kind == MV_ACTION(ACCEPT) ? FX_MARRIAGE
                                                        : FX_POLICE;
  if (next->state != want_to)
    fail_msg("%s: state %d, expected %d", where, next->state, want_to);
  assert_string_equal(next->holder, want_holder);
  assert_int_equal(ev->seq, (f->c ? f->c->event_count : 0) + 1);
  assert_int_equal(next->event_count, ev->seq);
  assert_int_equal(ev->from_state, from);
  assert_int_equal(ev->to_state, want_to);
  assert_string_equal(ev->holder, want_holder);
  assert_int_equal(ev->at_ms, f->now);
  assert_int_equal(ev->actor->kind, who.kind);
  assert_string_equal(ev->actor->id, who.id);
  assert_int_equal(ev->action->kind, kind);
  assert_string_equal(ev->case_id, next->id);
  assert_int_equal(ev->request_id.len, 3);
  if (f->c == NULL) {
    assert_int_equal(ev->prev_hash.len, 0);
  } else {
    assert_int_equal(ev->prev_hash.len, MC_HASH_BYTES);
    assert_memory_equal(ev->prev_hash.data, f->c->last_event_hash.data, MC_HASH_BYTES);
    assert_string_equal(next->id, f->c->id);
  }
  uint8_t h[MC_HASH_BYTES];
  mc_event_hash(ev, h);
  assert_int_equal(next->last_event_hash.len, MC_HASH_BYTES);
  assert_memory_equal(next->last_event_hash.data, h, MC_HASH_BYTES);
  /* the hash of the bytes a store packs is the same hash */
  uint8_t hp[MC_HASH_BYTES], *packed = malloc(protobuf_c_message_get_packed_size(&ev->base) + 1);
  assert_non_null(packed);
  mc_event_hash_packed(packed, protobuf_c_message_pack(&ev->base, packed), hp);
  assert_memory_equal(hp, h, MC_HASH_BYTES);
  free(packed);
  assert_int_equal(next->updated_ms, f->now);
  if (want_to != from)
    assert_int_equal(next->state_entered_ms, f->now);
  else
    assert_int_equal(next->state_entered_ms, f->c->state_entered_ms);
  assert_true((next->state == MV_STATE(TRANSFER)) == (next->transfer != NULL));

  /* the step replays to the very same record */
  mv_case *replayed = NULL;
  mc_err rerr = {0};
  if (mc_replay_event(fx_reg->utc_offset_minutes, f->c, ev, &replayed, &rerr) != MC_OK)
    fail_msg("%s: replay: %s", where, rerr.msg);
  if (!fx_same(&replayed->base, &next->base))
    fail_msg("%s: replay differs", where);
  protobuf_c_message_free_unpacked(&replayed->base, NULL);
  protobuf_c_message_free_unpacked(&next->base, NULL);
  protobuf_c_message_free_unpacked(&ev->base, NULL);
}

static void test_every_triple(void **state) {
  (void)state;
  size_t ok = 0, total = 0;
  for (int v = 0; v < FX_COUNT; v++) {
    fx_case f;
    fx_build(fx_reg, (fx_variant)v, &f);
    for (int kind = 0; kind <= 19; kind++) {
      for (int a = 0; a < N_ACTORS; a++) {
        check_triple((fx_variant)v, &f, kind, a);
        total++;
      }
    }
    /* how many legal triples the hand-written book gives for this state */
    mv_state from = f.c ? f.c->state : MV_STATE(UNSPECIFIED);
    for (int kind = 1; kind < 19; kind++) {
      const struct legal *r = rule_for(from, kind);
      for (int a = 0; r && a < N_ACTORS; a++)
        ok += (r->who >> a) & 1;
    }
    fx_free(&f);
  }
  print_message("%zu triples, %zu legal\n", total, ok);
  assert_int_equal(total, FX_COUNT * 20 * N_ACTORS);
}

/* The table that is printed in the docs says what the rule book says. */
static void test_table_is_the_rule_book(void **state) {
  (void)state;
  size_t n;
  const mc_transition *t = mc_transitions(&n);
  assert_int_equal(n, sizeof(legal) / sizeof(legal[0]));
  for (size_t i = 0; i < n; i++) {
    for (size_t k = i + 1; k < n; k++) {
      if (t[i].from == t[k].from && t[i].action == t[k].action)
        fail_msg("two rows for %s in state %d", mc_name_of(mc_action_names, t[i].action),
                 t[i].from);
    }
    const struct legal *r = rule_for(t[i].from, t[i].action);
    if (r == NULL)
      fail_msg("row %zu (%s from %d) is not in the rule book", i,
               mc_name_of(mc_action_names, t[i].action), t[i].from);
    unsigned who = 0;
    if (t[i].roles & MC_BY_ANY_UNIT)
      who |= A_UNITS;
    if (t[i].roles & MC_BY_HOLDER)
      who |= A_HOLDER;
    if (t[i].roles & MC_BY_TARGET)
      who |= A_TARGET;
    if (t[i].roles & MC_BY_COORDINATOR)
      who |= A_COORD;
    if (t[i].roles & MC_BY_SYSTEM)
      who |= A_SYSTEM;
    assert_int_equal(who, r->who);
    if (r->to == TO_RETURN)
      assert_true(t[i].to_return_state);
    else if (r->to == TO_ACCEPT)
      assert_true(t[i].resume_feedback && t[i].to == MV_STATE(INTAKE));
    else
      assert_int_equal(t[i].to, r->to);
    if (t[i].guard != NULL)
      assert_true(strlen(t[i].guard) > 0);
  }
  /* the guards the domain asks for are on their rows */
  const struct {
    mv_state from;
    mv_action_kind action;
  } guarded[] = {
      {MV_STATE(FEEDBACK), MV_ACTION(CLOSE)},       {MV_STATE(CLOSED), MV_ACTION(REOPEN)},
      {MV_STATE(FEEDBACK), MV_ACTION(SEND_TO_LITIGATION)},
      {MV_STATE(MEDIATION), MV_ACTION(GRANT_LEGAL_AID)},
      {MV_STATE(INTAKE), MV_ACTION(TRANSFER)},
  };
  for (size_t g = 0; g < sizeof(guarded) / sizeof(guarded[0]); g++) {
    bool found = false;
    for (size_t i = 0; i < n; i++)
      found |= t[i].from == guarded[g].from && t[i].action == guarded[g].action &&
               t[i].guard != NULL;
    assert_true(found);
  }
}

/* Every action on the wire has a definition in the action table
 * (core/effects.c), every action the table allows among them, and what a
 * definition promises holds together. */
static void test_every_action_is_defined(void **state) {
  (void)state;
  const ProtobufCEnumDescriptor *e = &mediation__v1__action_kind__descriptor;
  assert_null(mc_action_def_of(MV_ACTION(UNSPECIFIED)));
  int max = 0;
  for (unsigned i = 0; i < e->n_values; i++) {
    int kind = e->values[i].value;
    max = kind > max ? kind : max;
    if (kind == MV_ACTION(UNSPECIFIED))
      continue;
    const mc_action_def *def = mc_action_def_of((mv_action_kind)kind);
    if (def == NULL || def->effect == NULL)
      fail_msg("%s has no definition with an effect in core/effects.c", e->values[i].name);
    if (def->delivery != 0 && def->delivery_to == NULL)
      fail_msg("%s makes a delivery but does not say to whom", e->values[i].name);
    if ((def->names_other_unit || def->handoff_only_in_transfer) && def->delivery == 0)
      fail_msg("%s names a unit of a handoff that gets no delivery", e->values[i].name);
  }
  assert_null(mc_action_def_of((mv_action_kind)(max + 1)));
  size_t n;
  const mc_transition *t = mc_transitions(&n);
  for (size_t i = 0; i < n; i++)
    assert_non_null(mc_action_def_of(t[i].action));
}

static void test_roles_of(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_TRANSFER_FROM_INTAKE, &f);
  mv_actor h = fx_unit(FX_POLICE), t = fx_unit(FX_MARRIAGE), o = fx_unit(FX_WANGAI);
  mv_actor c = fx_coordinator(), s = fx_system(), nobody = fx_unit("");
  assert_int_equal(mc_roles_of(f.c, &h), MC_BY_ANY_UNIT | MC_BY_HOLDER);
  assert_int_equal(mc_roles_of(f.c, &t), MC_BY_ANY_UNIT | MC_BY_TARGET);
  assert_int_equal(mc_roles_of(f.c, &o), MC_BY_ANY_UNIT);
  assert_int_equal(mc_roles_of(f.c, &c), MC_BY_COORDINATOR);
  assert_int_equal(mc_roles_of(f.c, &s), MC_BY_SYSTEM);
  assert_int_equal(mc_roles_of(f.c, &nobody), 0);
  assert_int_equal(mc_roles_of(NULL, &h), MC_BY_ANY_UNIT);
  assert_int_equal(mc_roles_of(f.c, NULL), 0);
  fx_free(&f);
}

/* A unit the registry does not know cannot act, even on a new case. */
static void test_unregistered_actor(void **state) {
  (void)state;
  fx_case f = {0};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  mv_actor stranger = fx_unit("court");
  mc_err err;
  assert_int_equal(fx_try(fx_reg, &f, &act.a, &stranger, &err), MC_PERMISSION_DENIED);
  assert_non_null(strstr(err.msg, "actor.id"));
  mv_actor fake_coord = fx_coordinator();
  fake_coord.id = FX_POLICE; /* a unit posing as a coordinator */
  fx_kind(fx_reg, &f, MV_ACTION(TAKE_IN), FX_POLICE);
  fx_kind(fx_reg, &f, MV_ACTION(TRANSFER), FX_POLICE);
  fx_act_init(&act, MV_ACTION(RECALL));
  assert_int_equal(fx_try(fx_reg, &f, &act.a, &fake_coord, &err), MC_PERMISSION_DENIED);
  fx_free(&f);
}

/* Refusals say what the state is and what the action needs. */
static void test_refusal_messages(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_TRANSFER_FROM_INTAKE, &f);
  fx_act act;
  fx_act_init(&act, MV_ACTION(CLOSE));
  mv_actor h = fx_unit(FX_POLICE);
  mc_err err;
  assert_int_equal(fx_try(fx_reg, &f, &act.a, &h, &err), MC_FAILED_PRECONDITION);
  assert_non_null(strstr(err.msg, f.c->id));
  assert_non_null(strstr(err.msg, "流转 (transfer)"));
  assert_non_null(strstr(err.msg, "close is allowed only in 反馈 (feedback)"));

  fx_act_init(&act, MV_ACTION(ACCEPT));
  mv_actor o = fx_unit(FX_WANGAI);
  assert_int_equal(fx_try(fx_reg, &f, &act.a, &o, &err), MC_PERMISSION_DENIED);
  assert_non_null(strstr(err.msg, "the unit the case is offered to (marriage-studio)"));
  fx_free(&f);
}

/* ---- events, chain, replay ---- */

static void test_chain_and_replay(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_CLOSED, &f);
  assert_int_equal(f.c->event_count, f.n_events);
  for (size_t i = 0; i < f.n_events; i++) {
    assert_int_equal(f.events[i]->seq, i + 1);
    if (i == 0) {
      assert_int_equal(f.events[i]->prev_hash.len, 0);
      continue;
    }
    uint8_t h[MC_HASH_BYTES];
    mc_event_hash(f.events[i - 1], h);
    assert_int_equal(f.events[i]->prev_hash.len, MC_HASH_BYTES);
    assert_memory_equal(f.events[i]->prev_hash.data, h, MC_HASH_BYTES);
  }
  mv_case *r = fx_replay(&f, fx_reg->utc_offset_minutes);
  assert_true(fx_same(&r->base, &f.c->base));
  protobuf_c_message_free_unpacked(&r->base, NULL);
  fx_free(&f);
}

/* Replays event `index` of f onto the case before it after `tamper` edits a
 * copy of the event; expects DATA_LOSS naming the case and seq. */
static void expect_replay_refused(const fx_case *f, size_t index,
                                  void (*tamper)(mv_event *ev), const char *needle) {
  mv_case *before = NULL;
  for (size_t i = 0; i < index; i++) {
    mv_case *next;
    assert_int_equal(mc_replay_event(480, before, f->events[i], &next, NULL), MC_OK);
    if (before)
      protobuf_c_message_free_unpacked(&before->base, NULL);
    before = next;
  }
  size_t len;
  uint8_t *bytes = fx_pack(&f->events[index]->base, &len);
  mv_event *ev = mediation__v1__case_event__unpack(NULL, len, bytes);
  free(bytes);
  tamper(ev);
  mv_case *sentinel = (mv_case *)&sentinel, *next = sentinel;
  mc_err err = {0};
  assert_int_equal(mc_replay_event(480, before, ev, &next, &err), MC_DATA_LOSS);
  assert_ptr_equal(next, sentinel);
  char seq[32];
  snprintf(seq, sizeof(seq), "event %u", ev->seq);
  if (strstr(err.msg, f->c->id) == NULL || strstr(err.msg, seq) == NULL ||
      strstr(err.msg, needle) == NULL)
    fail_msg("unexpected message \"%s\" (wanted \"%s\")", err.msg, needle);
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  if (before)
    protobuf_c_message_free_unpacked(&before->base, NULL);
}

static void bump_seq(mv_event *ev) { ev->seq++; }
static void flip_hash(mv_event *ev) { ev->prev_hash.data[0] ^= 1; }
static void other_to_state(mv_event *ev) { ev->to_state = MV_STATE(FEEDBACK); }
/* The events are unpacked, so their strings are the allocator's. */
static void replace(char **slot, const char *text) {
  free(*slot);
  *slot = strdup(text);
  assert_non_null(*slot);
}
static void other_holder(mv_event *ev) { replace(&ev->holder, FX_WANGAI); }
static void other_target(mv_event *ev) { replace(&ev->action->to_unit, FX_BAIHE); }
static void other_action(mv_event *ev) { ev->action->kind = MV_ACTION(CLOSE); }
static void other_actor(mv_event *ev) { replace(&ev->actor->id, FX_WANGAI); }
static void other_deadline(mv_event *ev) { ev->deadline_ms += 1; }
static void other_recorded(mv_event *ev) { ev->action->outcome->recorded_ms += 1; }
static void other_amount(mv_event *ev) { ev->action->outcome->agreed_amount_fen += 100; }

static void test_replay_refuses_what_does_not_follow(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_CLOSED, &f);
  /* events: 1 take_in, 2 assign, 3 start_mediation, 4 outcome, 5 feedback, 6 close */
  expect_replay_refused(&f, 2, bump_seq, "seq");
  expect_replay_refused(&f, 2, flip_hash, "prev_hash");
  expect_replay_refused(&f, 2, other_to_state, "to_state");
  expect_replay_refused(&f, 2, other_holder, "holder");
  expect_replay_refused(&f, 2, other_action, "does not follow");
  expect_replay_refused(&f, 2, other_actor, "may be taken only by");
  /* a step that keeps its state keeps its deadline (a new state takes the
   * recorded one: the limits may have changed since) */
  expect_replay_refused(&f, 1, other_deadline, "deadline");
  expect_replay_refused(&f, 3, other_recorded, "action as applied");

  /* An edit the event's own fields cannot betray (the agreed amount) breaks
   * the hash chain at the next event. */
  size_t len;
  uint8_t *bytes = fx_pack(&f.events[3]->base, &len);
  mv_event *edited = mediation__v1__case_event__unpack(NULL, len, bytes);
  free(bytes);
  other_amount(edited);
  mv_case *c = NULL;
  for (size_t i = 0; i < 5; i++) {
    mv_case *next = NULL;
    mc_err err = {0};
    mc_code rc = mc_replay_event(480, c, i == 3 ? edited : f.events[i], &next, &err);
    if (i < 4) {
      assert_int_equal(rc, MC_OK);
    } else {
      assert_int_equal(rc, MC_DATA_LOSS);
      assert_non_null(strstr(err.msg, "prev_hash"));
      break;
    }
    if (c)
      protobuf_c_message_free_unpacked(&c->base, NULL);
    c = next;
  }
  protobuf_c_message_free_unpacked(&c->base, NULL);
  protobuf_c_message_free_unpacked(&edited->base, NULL);
  fx_free(&f);

  fx_build(fx_reg, FX_TRANSFER_FROM_INTAKE, &f);
  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_MARRIAGE);
  /* the accept names the sender; an event that names another is refused */
  expect_replay_refused(&f, 3, other_target, "action as applied");
  fx_free(&f);

  /* an event of another case */
  fx_case a, b;
  fx_build(fx_reg, FX_INTAKE, &a);
  fx_build(fx_reg, FX_INTAKE, &b);
  mv_case *next = NULL;
  mc_err err;
  assert_int_equal(mc_replay_event(480, a.c, b.events[1], &next, &err), MC_DATA_LOSS);
  /* an intake replayed onto an existing case */
  assert_int_equal(mc_replay_event(480, a.c, b.events[0], &next, &err), MC_DATA_LOSS);
  fx_free(&a);
  fx_free(&b);
}

/* ---- what the applied action records ---- */

static void test_applied_action_is_normalised(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_INTAKE, &f);
  char id[MC_CASE_ID_MAX];
  snprintf(id, sizeof(id), "%s", f.c->id);
  /* ASSIGN: unit and time come from the router, not the client */
  fx_act act;
  fx_act_init(&act, MV_ACTION(ASSIGN));
  act.member.person = "咨询师乙";
  act.member.role = MV_ROLE(COUNSELLOR);
  act.member.unit = FX_WANGAI;
  act.member.assigned_ms = 5;
  act.member.released_ms = 7;
  char alias[] = "police-studio:PS-2026-0007";
  act.a.case_ref = alias;
  mv_actor h = fx_unit(FX_POLICE);
  int64_t at = f.now;
  fx_do(fx_reg, &f, &act.a, &h);
  mv_event *ev = f.events[f.n_events - 1];
  assert_string_equal(ev->action->case_ref, id);
  assert_string_equal(ev->action->member->unit, FX_POLICE);
  assert_int_equal(ev->action->member->assigned_ms, at);
  assert_int_equal(ev->action->member->released_ms, 0);
  mv_member *m = f.c->team[f.c->n_team - 1];
  assert_string_equal(m->unit, FX_POLICE);
  assert_string_equal(m->person, "咨询师乙");
  assert_int_equal(m->assigned_ms, at);

  /* RELEASE marks the entry, keeps it, and says which entry in the event */
  fx_act_init(&act, MV_ACTION(RELEASE));
  act.member.person = "咨询师乙";
  act.member.role = MV_ROLE(COUNSELLOR);
  int64_t rel = f.now;
  fx_do(fx_reg, &f, &act.a, &h);
  assert_int_equal(f.c->n_team, 2);
  assert_int_equal(f.c->team[1]->released_ms, rel);
  assert_int_equal(f.c->team[1]->assigned_ms, at);
  ev = f.events[f.n_events - 1];
  assert_int_equal(ev->action->member->released_ms, rel);
  assert_string_equal(ev->action->member->unit, FX_POLICE);
  /* and the person may be assigned again */
  fx_act_init(&act, MV_ACTION(ASSIGN));
  act.member.person = "咨询师乙";
  act.member.role = MV_ROLE(COUNSELLOR);
  fx_do(fx_reg, &f, &act.a, &h);
  assert_int_equal(f.c->n_team, 3);

  /* outcome, court result and feedback are stamped with the step's time */
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_POLICE);
  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.recorded_ms = 1;
  int64_t when = f.now;
  fx_do(fx_reg, &f, &act.a, &h);
  assert_int_equal(f.c->outcome->recorded_ms, when);
  assert_int_equal(f.c->mediated_ms, when);
  assert_int_equal(f.events[f.n_events - 1]->action->outcome->recorded_ms, when);
  mv_case *r = fx_replay(&f, 480);
  assert_true(fx_same(&r->base, &f.c->base));
  protobuf_c_message_free_unpacked(&r->base, NULL);
  fx_free(&f);
}

/* Fields a client adds that the contract does not know never reach the
 * case file. */
static void test_unknown_fields_dropped(void **state) {
  (void)state;
  fx_case f = {0};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  /* field 99, varint 1: what a newer client might send */
  uint8_t junk[] = {0x98, 0x06, 0x01};
  ProtobufCMessageUnknownField uf = {.tag = 99, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT,
                                     .len = 1, .data = junk + 2};
  act.a.base.n_unknown_fields = 1;
  act.a.base.unknown_fields = &uf;
  act.intake.base.n_unknown_fields = 1;
  act.intake.base.unknown_fields = &uf;
  act.party[0].base.n_unknown_fields = 1;
  act.party[0].base.unknown_fields = &uf;
  mv_actor h = fx_unit(FX_POLICE);
  fx_do(fx_reg, &f, &act.a, &h);
  assert_int_equal(f.c->base.n_unknown_fields, 0);
  assert_int_equal(f.c->intake->base.n_unknown_fields, 0);
  assert_int_equal(f.c->intake->parties[0]->base.n_unknown_fields, 0);
  assert_int_equal(f.events[0]->action->base.n_unknown_fields, 0);
  assert_int_equal(f.events[0]->action->intake->base.n_unknown_fields, 0);
  fx_free(&f);
}

static void test_take_in_record(void **state) {
  (void)state;
  fx_case f = {0};
  /* 2025-12-31 16:30 UTC is already 2026-01-01 at +08:00 */
  f.now = 1767198600000LL;
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  mv_actor h = fx_unit(FX_KONGQUE);
  fx_do(fx_reg, &f, &act.a, &h);
  assert_string_equal(f.c->id, act.case_ref);
  assert_int_equal(f.c->year, 2026);
  assert_int_equal(f.c->created_ms, 1767198600000LL);
  assert_int_equal(f.c->state, MV_STATE(INTAKE));
  assert_string_equal(f.c->holder, FX_KONGQUE);
  assert_int_equal(f.c->n_units_involved, 1);
  assert_string_equal(f.c->units_involved[0], FX_KONGQUE);
  assert_int_equal(f.c->intake->n_parties, 2);
  assert_string_equal(f.c->intake->parties[1]->name, "贾小红");
  assert_int_equal(f.c->event_count, 1);
  fx_free(&f);
}

/* ---- deliveries ---- */

static void expect_delivery(const mv_event *ev, const char *unit,
                            Mediation__V1__DeliveryKind kind) {
  mc_delivery_target d[2];
  size_t n = mc_deliveries_for(ev, d);
  if (unit == NULL) {
    assert_int_equal(n, 0);
    return;
  }
  assert_int_equal(n, 1);
  assert_string_equal(d[0].unit, unit);
  assert_int_equal(d[0].kind, kind);
}

static void test_deliveries(void **state) {
  (void)state;
  fx_case f;
  fx_build(fx_reg, FX_INTAKE, &f);
  expect_delivery(f.events[0], NULL, 0);
  fx_kind(fx_reg, &f, MV_ACTION(TRANSFER), FX_POLICE);
  expect_delivery(f.events[f.n_events - 1], FX_MARRIAGE, MV_DELIVERY(OFFER));
  fx_kind(fx_reg, &f, MV_ACTION(REFUSE), FX_MARRIAGE);
  expect_delivery(f.events[f.n_events - 1], FX_POLICE, MV_DELIVERY(REFUSED));
  assert_string_equal(f.c->holder, FX_POLICE);
  assert_null(f.c->transfer);

  fx_kind(fx_reg, &f, MV_ACTION(TRANSFER), FX_POLICE);
  fx_act act;
  fx_act_init(&act, MV_ACTION(RECALL));
  mv_actor c = fx_coordinator();
  fx_do(fx_reg, &f, &act.a, &c);
  expect_delivery(f.events[f.n_events - 1], FX_MARRIAGE, MV_DELIVERY(RECALLED));

  fx_kind(fx_reg, &f, MV_ACTION(TRANSFER), FX_POLICE);
  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_MARRIAGE);
  expect_delivery(f.events[f.n_events - 1], FX_POLICE, MV_DELIVERY(ACCEPTED));
  assert_string_equal(f.c->holder, FX_MARRIAGE);

  fx_act_init(&act, MV_ACTION(TRANSFER));
  act.a.to_unit = FX_KONGQUE;
  mv_actor m = fx_unit(FX_MARRIAGE);
  fx_do(fx_reg, &f, &act.a, &m);
  expect_delivery(f.events[f.n_events - 1], FX_KONGQUE, MV_DELIVERY(OFFER));
  fx_kind(fx_reg, &f, MV_ACTION(WITHDRAW), FX_MARRIAGE);
  expect_delivery(f.events[f.n_events - 1], FX_KONGQUE, MV_DELIVERY(RECALLED));
  assert_int_equal(f.c->state, MV_STATE(WITHDRAWN));
  assert_null(f.c->transfer);
  /* everyone who was offered the case stays involved, in order */
  assert_int_equal(f.c->n_units_involved, 3);
  assert_string_equal(f.c->units_involved[0], FX_POLICE);
  assert_string_equal(f.c->units_involved[1], FX_MARRIAGE);
  assert_string_equal(f.c->units_involved[2], FX_KONGQUE);
  mv_case *r = fx_replay(&f, 480);
  assert_true(fx_same(&r->base, &f.c->base));
  protobuf_c_message_free_unpacked(&r->base, NULL);
  fx_free(&f);

  /* a withdrawal with no offer pending tells nobody */
  fx_build(fx_reg, FX_WITHDRAWN, &f);
  expect_delivery(f.events[f.n_events - 1], NULL, 0);
  fx_free(&f);
}

/* ---- deadlines ---- */

static void test_deadlines(void **state) {
  (void)state;
  const int64_t H = 3600 * 1000LL;
  fx_case f = {0};
  fx_kind(fx_reg, &f, MV_ACTION(TAKE_IN), FX_POLICE);
  assert_int_equal(f.c->deadline_ms, FX_T0 + 72 * H); /* the registry's default intake deadline */
  int64_t t = f.now;
  fx_kind(fx_reg, &f, MV_ACTION(TRANSFER), FX_POLICE);
  assert_int_equal(f.c->deadline_ms, t + 24 * H);
  assert_int_equal(f.events[1]->deadline_ms, t + 24 * H);
  assert_false(mc_is_overdue(f.c, t + 24 * H));
  assert_true(mc_is_overdue(f.c, t + 24 * H + 1));
  /* a receipt keeps the state and the deadline */
  fx_act act;
  fx_act_init(&act, MV_ACTION(RECORD_RECEIPT));
  act.receipt.case_id = f.c->id;
  act.receipt.unit = FX_MARRIAGE;
  act.receipt.event_seq = 2;
  mv_actor s = fx_system();
  fx_do(fx_reg, &f, &act.a, &s);
  assert_int_equal(f.c->deadline_ms, t + 24 * H);
  fx_kind(fx_reg, &f, MV_ACTION(ACCEPT), FX_MARRIAGE);
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_MARRIAGE);
  t = f.events[f.n_events - 1]->at_ms;
  assert_int_equal(f.c->deadline_ms, t + 30 * 24 * H);
  /* the follow-up date of an outcome is the deadline of feedback */
  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.followup_due_ms = FX_T0 + 40 * FX_DAY;
  mv_actor m = fx_unit(FX_MARRIAGE);
  fx_do(fx_reg, &f, &act.a, &m);
  assert_int_equal(f.c->deadline_ms, FX_T0 + 40 * FX_DAY);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_MARRIAGE);
  assert_int_equal(f.c->deadline_ms, FX_T0 + 40 * FX_DAY);
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_MARRIAGE);
  assert_int_equal(f.c->deadline_ms, 0);
  assert_false(mc_is_overdue(f.c, INT64_MAX));
  assert_true(mc_state_is_final(f.c->state));
  assert_true(mc_state_is_final(MV_STATE(WITHDRAWN)));
  assert_false(mc_state_is_final(MV_STATE(LITIGATION)));
  assert_false(mc_state_is_final(MV_STATE(FEEDBACK)));
  mv_case *r = fx_replay(&f, 480);
  assert_true(fx_same(&r->base, &f.c->base));
  protobuf_c_message_free_unpacked(&r->base, NULL);
  fx_free(&f);

  /* a state whose limit is configured 0 has no deadline */
  mc_registry *r0 = fx_registry("[deadlines]\nintake = 0\n");
  fx_case g = {0};
  fx_kind(r0, &g, MV_ACTION(TAKE_IN), FX_POLICE);
  assert_int_equal(g.c->deadline_ms, 0);
  assert_false(mc_is_overdue(g.c, INT64_MAX));
  fx_free(&g);
  mc_registry_free(r0);
}

/* A step costs microseconds, not milliseconds: the router applies it inside
 * its one write transaction. */
/* mc_allowed_actions lists exactly the steps that succeed with good
 * arguments: for every fixture state and every actor, each action kind a
 * desk could offer is tried on a fresh case, and it is listed if and only
 * if the machine applies it (issue 16: a desk never offers a refused step). */
static bool listed(const mv_action_kind *list, size_t n, int kind) {
  for (size_t i = 0; i < n; i++)
    if ((int)list[i] == kind)
      return true;
  return false;
}

static void test_allowed_actions(void **state) {
  (void)state;
  size_t offered = 0;
  for (int v = FX_INTAKE; v < FX_COUNT; v++) {
    for (int a = 0; a < 4; a++) { /* holder, target, other unit, coordinator */
      mv_actor who = actor_for(1 << a);
      fx_case f;
      fx_build(fx_reg, (fx_variant)v, &f);
      mv_action_kind list[32];
      size_t n = mc_allowed_actions(f.c, &who, list, 32);
      fx_free(&f);
      for (int kind = 1; kind < 19; kind++) {
        if (kind == MV_ACTION(TAKE_IN) || kind == MV_ACTION(RECORD_RECEIPT)) {
          assert_false(listed(list, n, kind));
          continue;
        }
        fx_build(fx_reg, (fx_variant)v, &f);
        fx_act act;
        fx_act_init(&act, (mv_action_kind)kind);
        if (kind == MV_ACTION(ASSIGN)) { /* 调解员甲 is on every fixture case already */
          act.member.person = "咨询师乙";
          act.member.role = MV_ROLE(COUNSELLOR);
        }
        mc_err err;
        mc_code rc = fx_try(fx_reg, &f, &act.a, &who, &err);
        if (listed(list, n, kind) != (rc == MC_OK))
          fail_msg("%s as %s: %s is %s but the machine says %s (%s)", fx_variant_names[v],
                   actor_names[a], mc_action_name((mv_action_kind)kind),
                   listed(list, n, kind) ? "listed" : "not listed", mc_code_name(rc),
                   rc == MC_OK ? "" : err.msg);
        offered += rc == MC_OK;
        fx_free(&f);
      }
    }
  }
  assert_true(offered > 20);
  /* A guard on the case: once legal aid is granted it is no longer offered,
   * and without a team nobody can be released. */
  fx_case f;
  fx_build(fx_reg, FX_MEDIATION, &f);
  mv_actor holder = actor_for(A_HOLDER);
  mv_action_kind list[32];
  assert_true(listed(list, mc_allowed_actions(f.c, &holder, list, 32), MV_ACTION(GRANT_LEGAL_AID)));
  fx_kind(fx_reg, &f, MV_ACTION(GRANT_LEGAL_AID), FX_POLICE);
  assert_false(listed(list, mc_allowed_actions(f.c, &holder, list, 32), MV_ACTION(GRANT_LEGAL_AID)));
  assert_true(listed(list, mc_allowed_actions(f.c, &holder, list, 32), MV_ACTION(RELEASE)));
  fx_kind(fx_reg, &f, MV_ACTION(RELEASE), FX_POLICE);
  assert_false(listed(list, mc_allowed_actions(f.c, &holder, list, 32), MV_ACTION(RELEASE)));
  assert_int_equal(mc_allowed_actions(NULL, &holder, list, 32), 0);
  assert_int_equal(mc_allowed_actions(f.c, &holder, list, 1), 1);
  fx_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_triple),
      cmocka_unit_test(test_allowed_actions),
      cmocka_unit_test(test_table_is_the_rule_book),
      cmocka_unit_test(test_every_action_is_defined),
      cmocka_unit_test(test_roles_of),
      cmocka_unit_test(test_unregistered_actor),
      cmocka_unit_test(test_refusal_messages),
      cmocka_unit_test(test_chain_and_replay),
      cmocka_unit_test(test_replay_refuses_what_does_not_follow),
      cmocka_unit_test(test_applied_action_is_normalised),
      cmocka_unit_test(test_unknown_fields_dropped),
      cmocka_unit_test(test_take_in_record),
      cmocka_unit_test(test_deliveries),
      cmocka_unit_test(test_deadlines),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
