/*
 * fixture.c - the test deployment and case drivers (see fixture.h).
 */
#include "fixture.h"

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/figures.h"
#include "core/names.h"

mc_registry *fx_registry(const char *extra) {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  char key[64];
  assert_true(sodium_init() >= 0);
  crypto_sign_keypair(pk, sk);
  sodium_bin2base64(key, sizeof(key), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
  static char text[8192];
  snprintf(text, sizeof(text),
           "[subdistrict]\n"
           "name = 白鹤街道\n"
           "case_prefix = BH\n"
           "[community wangai]\n"
           "name = 王隘社区\n"
           "station = station-wangai\n"
           "grid = 第一网格\n"
           "grid = 第二网格\n"
           "[community kongque]\n"
           "name = 孔雀社区\n"
           "[community baihe]\n"
           "name = 白鹤社区\n"
           "[unit police-studio]\n"
           "name = 大石头调解工作室\n"
           "kind = police\n"
           "public_key = %s\n"
           "[unit marriage-studio]\n"
           "name = 宋大姐调解工作室\n"
           "kind = marriage\n"
           "public_key = %s\n"
           "[unit station-wangai]\n"
           "kind = community\ncommunity = wangai\npublic_key = %s\n"
           "[unit station-kongque]\n"
           "kind = community\ncommunity = kongque\npublic_key = %s\n"
           "[unit station-baihe]\n"
           "kind = community\ncommunity = baihe\npublic_key = %s\n"
           "[coordinator zhang]\n"
           "name = 综治办\n"
           "public_key = %s\n"
           "%s",
           key, key, key, key, key, key, extra ? extra : "");
  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_parse(text, "fixture.conf", &reg, &err) != MC_OK)
    fail_msg("fixture registry: %s", err.msg);
  return reg;
}

mc_registry *fx_reg;

int fx_group_setup(void **state) {
  (void)state;
  fx_reg = fx_registry(NULL);
  return 0;
}

int fx_group_teardown(void **state) {
  (void)state;
  mc_registry_free(fx_reg);
  fx_reg = NULL;
  return 0;
}

void fx_act_init(fx_act *f, mv_action_kind kind) {
  static unsigned serial;
  memset(f, 0, sizeof(*f));
  mediation__v1__case_action__init(&f->a);
  f->a.kind = kind;
  f->a.person = "值班员";
  f->a.reason = "按规定办理";
  switch (kind) {
  case MV_ACTION(TAKE_IN):
    mediation__v1__intake__init(&f->intake);
    f->intake.kind = MV_KIND(RELATIONSHIP);
    f->intake.difficulty = MV_DIFFICULTY(ORDINARY);
    f->intake.source = MV_SOURCE(POLICE_CALL);
    f->intake.community = "kongque";
    f->intake.money_fen = 0;
    f->intake.summary = "夫妻争吵后发生推搡";
    for (int i = 0; i < 3; i++) {
      mediation__v1__party__init(&f->party[i]);
      f->parties[i] = &f->party[i];
    }
    f->party[0].name = "甄小明";
    f->party[0].role = MV_PARTY(APPLICANT);
    f->party[0].id_number = "11010519491231002X";
    f->party[0].phone = "+86 100 0000 0001";
    f->party[1].name = "贾小红";
    f->party[1].role = MV_PARTY(RESPONDENT);
    f->intake.parties = f->parties;
    f->intake.n_parties = 2;
    snprintf(f->case_ref, sizeof(f->case_ref), "BH-2026-%06u", ++serial);
    f->a.case_ref = f->case_ref;
    f->a.args_case = MV_ARGS(INTAKE);
    f->a.intake = &f->intake;
    break;
  case MV_ACTION(TRANSFER):
    f->a.args_case = MV_ARGS(TO_UNIT);
    f->a.to_unit = FX_MARRIAGE;
    break;
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    mediation__v1__team_member__init(&f->member);
    f->member.person = "调解员甲";
    f->member.role = MV_ROLE(MEDIATOR);
    f->a.args_case = MV_ARGS(MEMBER);
    f->a.member = &f->member;
    break;
  case MV_ACTION(RECORD_SESSION):
    mediation__v1__session__init(&f->session);
    f->session.held_ms = FX_T0;
    f->session.note = "双方到场，情绪平稳";
    f->a.args_case = MV_ARGS(SESSION);
    f->a.session = &f->session;
    break;
  case MV_ACTION(RECORD_OUTCOME):
    mediation__v1__outcome__init(&f->outcome);
    f->outcome.kind = MV_OUTCOME(AGREEMENT);
    f->outcome.agreed_amount_fen = 100000;
    f->outcome.summary = "达成和解";
    f->a.args_case = MV_ARGS(OUTCOME);
    f->a.outcome = &f->outcome;
    break;
  case MV_ACTION(RECORD_COURT_RESULT):
    mediation__v1__court_result__init(&f->court);
    f->court.kind = MV_COURT(JUDGMENT);
    f->court.amount_fen = 5000000;
    f->a.args_case = MV_ARGS(COURT_RESULT);
    f->a.court_result = &f->court;
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    mediation__v1__feedback__init(&f->feedback);
    f->feedback.satisfaction = MV_SATISFACTION(SATISFIED);
    f->feedback.visited_ms = FX_T0;
    f->a.args_case = MV_ARGS(FEEDBACK);
    f->a.feedback = &f->feedback;
    break;
  case MV_ACTION(RECORD_RECEIPT):
    mediation__v1__receipt__init(&f->receipt);
    f->receipt.unit = FX_POLICE;
    f->receipt.delivery_seq = 1;
    f->receipt.event_seq = 1;
    f->receipt.received_ms = FX_T0;
    memset(f->signature, 0x5a, sizeof(f->signature));
    f->receipt.signature.data = f->signature;
    f->receipt.signature.len = sizeof(f->signature);
    f->a.args_case = MV_ARGS(RECEIPT);
    f->a.receipt = &f->receipt;
    break;
  default:
    break;
  }
}

mv_actor fx_unit(const char *id) {
  mv_actor a = MEDIATION__V1__ACTOR__INIT;
  a.kind = MV_PRINCIPAL(UNIT);
  a.id = (char *)id;
  a.person = "经办人";
  return a;
}

mv_actor fx_coordinator(void) {
  mv_actor a = MEDIATION__V1__ACTOR__INIT;
  a.kind = MV_PRINCIPAL(COORDINATOR);
  a.id = FX_COORDINATOR;
  return a;
}

mv_actor fx_system(void) {
  mv_actor a = MEDIATION__V1__ACTOR__INIT;
  a.kind = MV_PRINCIPAL(SYSTEM);
  a.id = "router";
  return a;
}

mc_code fx_try(const mc_registry *reg, fx_case *f, const mv_action *a, const mv_actor *who,
               mc_err *err) {
  if (f->now == 0)
    f->now = FX_T0;
  static const uint8_t rid[] = {1, 2, 3, 4};
  mc_step step = {.current = f->c,
                  .action = a,
                  .actor = who,
                  .now_ms = f->now,
                  .request_id = {sizeof(rid), (uint8_t *)rid}};
  mv_case *next = NULL;
  mv_event *ev = NULL;
  mc_code rc = mc_apply(reg, &step, &next, &ev, err);
  if (rc != MC_OK)
    return rc;
  if (f->fig != NULL) {
    mv_bucket b;
    mv_counters d;
    if (mc_figures_delta(f->c, next, ev, reg->utc_offset_minutes, &b, &d))
      fx_figures_add(f->fig, &b, &d);
  }
  mv_event **grown = realloc(f->events, (f->n_events + 1) * sizeof(*grown));
  assert_non_null(grown);
  f->events = grown;
  f->events[f->n_events++] = ev;
  if (f->c != NULL)
    protobuf_c_message_free_unpacked(&f->c->base, NULL);
  f->c = next;
  f->now += FX_MINUTE;
  return MC_OK;
}

void fx_do(const mc_registry *reg, fx_case *f, const mv_action *a, const mv_actor *who) {
  mc_err err = {0};
  mc_code rc = fx_try(reg, f, a, who, &err);
  if (rc != MC_OK)
    fail_msg("%s by %s: %s: %s", mc_name_of(mc_action_names, (int)a->kind), who->id,
             mc_code_name(rc), err.msg);
}

void fx_kind(const mc_registry *reg, fx_case *f, mv_action_kind kind, const char *unit) {
  fx_act act;
  fx_act_init(&act, kind);
  mv_actor who = fx_unit(unit);
  fx_do(reg, f, &act.a, &who);
}

void fx_free(fx_case *f) {
  for (size_t i = 0; i < f->n_events; i++)
    protobuf_c_message_free_unpacked(&f->events[i]->base, NULL);
  free(f->events);
  if (f->c != NULL)
    protobuf_c_message_free_unpacked(&f->c->base, NULL);
  memset(f, 0, sizeof(*f));
}

uint8_t *fx_pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(*len + 1);
  assert_non_null(buf);
  protobuf_c_message_pack(m, buf);
  return buf;
}

bool fx_same(const ProtobufCMessage *a, const ProtobufCMessage *b) {
  size_t la, lb;
  uint8_t *pa = fx_pack(a, &la), *pb = fx_pack(b, &lb);
  bool same = la == lb && memcmp(pa, pb, la) == 0;
  free(pa);
  free(pb);
  return same;
}

mv_case *fx_replay(const fx_case *f, int utc_offset_minutes) {
  mv_case *c = NULL;
  for (size_t i = 0; i < f->n_events; i++) {
    mv_case *next = NULL;
    mc_err err = {0};
    mc_code rc = mc_replay_event(utc_offset_minutes, c, f->events[i], &next, &err);
    if (rc != MC_OK)
      fail_msg("replay of event %zu: %s: %s", i + 1, mc_code_name(rc), err.msg);
    if (c != NULL)
      protobuf_c_message_free_unpacked(&c->base, NULL);
    c = next;
  }
  return c;
}

mv_case *fx_copy(const mv_case *c) {
  size_t len;
  uint8_t *buf = fx_pack(&c->base, &len);
  mv_case *copy = mediation__v1__case__unpack(NULL, len, buf);
  free(buf);
  assert_non_null(copy);
  return copy;
}

const char *const fx_variant_names[FX_COUNT] = {
    "new",       "intake",   "transfer(from intake)", "transfer(from mediation)",
    "transfer(from feedback)", "mediation", "feedback", "litigation", "closed", "withdrawn",
};

void fx_outcome(const mc_registry *reg, fx_case *f, Mediation__V1__OutcomeKind kind) {
  fx_act act;
  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.kind = kind;
  if (kind != MV_OUTCOME(AGREEMENT))
    act.outcome.agreed_amount_fen = 0;
  mv_actor who = fx_unit(FX_POLICE);
  fx_do(reg, f, &act.a, &who);
}

void fx_build(const mc_registry *reg, fx_variant v, fx_case *f) {
  memset(f, 0, sizeof(*f));
  f->now = FX_T0;
  if (v == FX_NEW)
    return;
  fx_kind(reg, f, MV_ACTION(TAKE_IN), FX_POLICE);
  fx_kind(reg, f, MV_ACTION(ASSIGN), FX_POLICE);
  switch (v) {
  case FX_INTAKE:
    return;
  case FX_TRANSFER_FROM_INTAKE:
    fx_kind(reg, f, MV_ACTION(TRANSFER), FX_POLICE);
    return;
  case FX_WITHDRAWN:
    fx_kind(reg, f, MV_ACTION(WITHDRAW), FX_POLICE);
    return;
  default:
    break;
  }
  fx_kind(reg, f, MV_ACTION(START_MEDIATION), FX_POLICE);
  switch (v) {
  case FX_MEDIATION:
    return;
  case FX_TRANSFER_FROM_MEDIATION:
    fx_kind(reg, f, MV_ACTION(TRANSFER), FX_POLICE);
    return;
  case FX_LITIGATION:
    fx_kind(reg, f, MV_ACTION(SEND_TO_LITIGATION), FX_POLICE);
    return;
  case FX_CLOSED:
    fx_outcome(reg, f, MV_OUTCOME(AGREEMENT));
    fx_kind(reg, f, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
    fx_kind(reg, f, MV_ACTION(CLOSE), FX_POLICE);
    return;
  default:
    break;
  }
  fx_outcome(reg, f, MV_OUTCOME(NO_AGREEMENT));
  fx_kind(reg, f, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
  if (v == FX_TRANSFER_FROM_FEEDBACK)
    fx_kind(reg, f, MV_ACTION(TRANSFER), FX_POLICE);
}

mv_state fx_offered_from(fx_variant v) {
  switch (v) {
  case FX_TRANSFER_FROM_INTAKE:
    return MV_STATE(INTAKE);
  case FX_TRANSFER_FROM_MEDIATION:
    return MV_STATE(MEDIATION);
  case FX_TRANSFER_FROM_FEEDBACK:
    return MV_STATE(FEEDBACK);
  default:
    return MV_STATE(UNSPECIFIED);
  }
}

size_t fx_heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static bool same_bucket(const mv_bucket *a, const mv_bucket *b) {
  return a->year == b->year && a->month == b->month && a->kind == b->kind &&
         strcmp(a->unit, b->unit) == 0 && strcmp(a->community, b->community) == 0;
}

void fx_figures_add(fx_figures *fig, const mv_bucket *b, const mv_counters *delta) {
  for (size_t i = 0; i < fig->n; i++) {
    if (same_bucket(&fig->rows[i].bucket, b)) {
      mc_counters_add(&fig->rows[i].counters, delta);
      return;
    }
  }
  fx_figure *grown = realloc(fig->rows, (fig->n + 1) * sizeof(*grown));
  assert_non_null(grown);
  fig->rows = grown;
  /* rows move when the array grows: their bucket strings are re-pointed */
  for (size_t i = 0; i < fig->n; i++) {
    fig->rows[i].bucket.unit = fig->rows[i].unit;
    fig->rows[i].bucket.community = fig->rows[i].community;
  }
  fx_figure *row = &fig->rows[fig->n++];
  memset(row, 0, sizeof(*row));
  row->bucket = *b;
  snprintf(row->unit, sizeof(row->unit), "%s", b->unit);
  snprintf(row->community, sizeof(row->community), "%s", b->community);
  row->bucket.unit = row->unit;
  row->bucket.community = row->community;
  mediation__v1__figure_counters__init(&row->counters);
  mc_counters_add(&row->counters, delta);
}

mv_counters fx_figures_sum(const fx_figures *fig, const char *unit, int month) {
  mv_counters sum = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  for (size_t i = 0; i < fig->n; i++) {
    if (unit != NULL && strcmp(fig->rows[i].unit, unit) != 0)
      continue;
    if (month != 0 && fig->rows[i].bucket.month != month)
      continue;
    mc_counters_add(&sum, &fig->rows[i].counters);
  }
  return sum;
}

bool fx_figures_equal(const fx_figures *a, const fx_figures *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++) {
    bool found = false;
    for (size_t k = 0; k < b->n && !found; k++) {
      if (same_bucket(&a->rows[i].bucket, &b->rows[k].bucket))
        found = fx_same(&a->rows[i].counters.base, &b->rows[k].counters.base);
    }
    if (!found)
      return false;
  }
  return true;
}

void fx_figures_free(fx_figures *fig) {
  free(fig->rows);
  fig->rows = NULL;
  fig->n = 0;
}

void fx_figures_of_file(fx_figures *fig, const fx_case *f, int utc_offset_minutes) {
  mv_case *before = NULL;
  for (size_t i = 0; i < f->n_events; i++) {
    mv_case *after = NULL;
    mc_err err = {0};
    if (mc_replay_event(utc_offset_minutes, before, f->events[i], &after, &err) != MC_OK)
      fail_msg("replay of event %zu: %s", i + 1, err.msg);
    mv_bucket b;
    mv_counters d;
    if (mc_figures_delta(before, after, f->events[i], utc_offset_minutes, &b, &d))
      fx_figures_add(fig, &b, &d);
    if (before != NULL)
      protobuf_c_message_free_unpacked(&before->base, NULL);
    before = after;
  }
  if (before != NULL)
    protobuf_c_message_free_unpacked(&before->base, NULL);
}
