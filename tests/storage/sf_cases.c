/*
 * sf_cases.c - cases through the real state machine into a store, and
 * verify helpers, for the storage tests (see sf.h).
 */
#include "sf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/clock.h"

mc_registry *sf_registry(void) {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  char key[64];
  assert_true(sodium_init() >= 0);
  crypto_sign_keypair(pk, sk);
  sodium_bin2base64(key, sizeof(key), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
  char text[4096];
  snprintf(text, sizeof(text),
           "[subdistrict]\nname = 白鹤街道\ncase_prefix = BH\n"
           "[community wangai]\nname = 王隘社区\nstation = station-wangai\n"
           "[community kongque]\nname = 孔雀社区\nstation = station-kongque\n"
           "[community baihe]\nname = 白鹤社区\nstation = station-baihe\n"
           "[unit police-studio]\nname = 大石头调解工作室\nkind = police\npublic_key = %s\n"
           "[unit marriage-studio]\nname = 宋大姐调解工作室\nkind = marriage\npublic_key = %s\n"
           "[unit station-wangai]\nkind = community\ncommunity = wangai\npublic_key = %s\n"
           "[unit station-kongque]\nkind = community\ncommunity = kongque\npublic_key = %s\n"
           "[unit station-baihe]\nkind = community\ncommunity = baihe\npublic_key = %s\n"
           "[coordinator zhang]\nname = 综治办\npublic_key = %s\n",
           key, key, key, key, key, key);
  mc_registry *reg = NULL;
  mc_err err = {0};
  if (mc_registry_parse(text, "storage-fixture.conf", &reg, &err) != MC_OK)
    fail_msg("fixture registry: %s", err.msg);
  return reg;
}

mv_actor sf_unit(const char *id) {
  mv_actor a = MEDIATION__V1__ACTOR__INIT;
  a.kind = MV_PRINCIPAL(UNIT);
  a.id = (char *)id;
  a.person = "经办人";
  return a;
}

void sf_action_init(sf_action *s, mv_action_kind kind) {
  memset(s, 0, sizeof(*s));
  mediation__v1__case_action__init(&s->a);
  s->a.kind = kind;
  s->a.person = "值班员";
  s->a.reason = "按规定办理";
  switch (kind) {
  case MV_ACTION(TAKE_IN):
    mediation__v1__intake__init(&s->intake);
    s->intake.kind = MV_KIND(RELATIONSHIP);
    s->intake.difficulty = MV_DIFFICULTY(DIFFICULT);
    s->intake.source = MV_SOURCE(POLICE_CALL);
    s->intake.community = "kongque";
    s->intake.money_fen = 860000;
    s->intake.summary = "夫妻争吵后发生推搡";
    mediation__v1__party__init(&s->party);
    s->party.name = "甄小明";
    s->party.role = MV_PARTY(APPLICANT);
    s->party.id_number = "11010519491231002X";
    s->party.phone = "+86 100 0000 0001";
    s->parties[0] = &s->party;
    s->intake.parties = s->parties;
    s->intake.n_parties = 1;
    s->a.args_case = MV_ARGS(INTAKE);
    s->a.intake = &s->intake;
    break;
  case MV_ACTION(TRANSFER):
    s->a.args_case = MV_ARGS(TO_UNIT);
    s->a.to_unit = SF_MARRIAGE;
    break;
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    mediation__v1__team_member__init(&s->member);
    s->member.person = "调解员甲";
    s->member.role = MV_ROLE(MEDIATOR);
    s->a.args_case = MV_ARGS(MEMBER);
    s->a.member = &s->member;
    break;
  case MV_ACTION(RECORD_SESSION):
    mediation__v1__session__init(&s->session);
    s->session.held_ms = SF_T0;
    s->session.note = "双方到场";
    s->a.args_case = MV_ARGS(SESSION);
    s->a.session = &s->session;
    break;
  case MV_ACTION(RECORD_OUTCOME):
    mediation__v1__outcome__init(&s->outcome);
    s->outcome.kind = MV_OUTCOME(AGREEMENT);
    s->outcome.agreed_amount_fen = 100000;
    s->outcome.summary = "达成和解";
    s->a.args_case = MV_ARGS(OUTCOME);
    s->a.outcome = &s->outcome;
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    mediation__v1__feedback__init(&s->feedback);
    s->feedback.satisfaction = MV_SATISFACTION(SATISFIED);
    s->feedback.visited_ms = SF_T0;
    s->a.args_case = MV_ARGS(FEEDBACK);
    s->a.feedback = &s->feedback;
    break;
  default:
    break;
  }
}

mc_code sf_apply(st_txn *t, const mc_registry *reg, mv_action *a, const mv_actor *who,
                 int64_t now, const char *request_id, char id_out[MC_CASE_ID_MAX], mc_err *err) {
  mv_case *cur = NULL, *next = NULL;
  mv_event *ev = NULL;
  char id[MC_CASE_ID_MAX];
  char *saved_ref = a->case_ref;
  mc_code rc;
  if (a->kind == MV_ACTION(TAKE_IN)) {
    mc_date d = mc_date_of(now, reg->utc_offset_minutes);
    rc = st_case_next_id(t, d.year, id, err);
    a->case_ref = id; /* the router fills in the id it allocated */
  } else {
    rc = st_case_get_by_ref(t, a->case_ref, &cur, err);
    if (rc == MC_OK)
      snprintf(id, sizeof(id), "%s", cur->id);
  }
  if (rc == MC_OK) {
    const char *rid = request_id ? request_id : "rq";
    mc_step step = {.current = cur,
                    .action = a,
                    .actor = who,
                    .now_ms = now,
                    .request_id = {strlen(rid), (uint8_t *)rid}};
    rc = mc_apply(reg, &step, &next, &ev, err);
  }
  a->case_ref = saved_ref;
  if (rc == MC_OK)
    rc = st_case_put(t, cur, next, ev, err);
  if (rc == MC_OK) {
    mc_delivery_target to[2];
    size_t n = mc_deliveries_for(ev, to);
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
      mv_delivery d = MEDIATION__V1__DELIVERY__INIT;
      d.unit = (char *)to[i].unit;
      d.kind = to[i].kind;
      d.snapshot = next;
      d.event = ev;
      d.queued_ms = now;
      rc = st_delivery_put(t, &d, NULL, err);
    }
  }
  if (rc == MC_OK && id_out != NULL)
    memcpy(id_out, id, MC_CASE_ID_MAX);
  if (cur)
    protobuf_c_message_free_unpacked(&cur->base, NULL);
  if (next)
    protobuf_c_message_free_unpacked(&next->base, NULL);
  if (ev)
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  return rc;
}

typedef struct do_arg {
  const mc_registry *reg;
  mv_action *a;
  mv_actor who;
  int64_t now;
  char id[MC_CASE_ID_MAX];
} do_arg;

static mc_code do_op(st_txn *t, void *arg, mc_err *err) {
  do_arg *d = arg;
  return sf_apply(t, d->reg, d->a, &d->who, d->now, NULL, d->id, err);
}

void sf_do(st_store *s, const mc_registry *reg, mv_action *a, const char *unit, int64_t now,
           char id_out[MC_CASE_ID_MAX]) {
  do_arg d = {.reg = reg, .a = a, .who = sf_unit(unit), .now = now};
  mc_err err = {0};
  mc_code rc = st_write(s, do_op, &d, &err);
  if (rc != MC_OK)
    fail_msg("action %d by %s on %s: %s: %s", (int)a->kind, unit,
             a->case_ref ? a->case_ref : "(new)", mc_code_name(rc), err.msg);
  if (id_out != NULL)
    memcpy(id_out, d.id, MC_CASE_ID_MAX);
}

void sf_kind(st_store *s, const mc_registry *reg, const char *case_id, mv_action_kind kind,
             const char *unit, int64_t now) {
  sf_action act;
  sf_action_init(&act, kind);
  act.a.case_ref = (char *)case_id;
  sf_do(s, reg, &act.a, unit, now, NULL);
}

void sf_take_in(st_store *s, const mc_registry *reg, const char *unit, const char *community,
                mv_kind kind, const char *unit_ref, int64_t now, char id_out[MC_CASE_ID_MAX]) {
  sf_action act;
  sf_action_init(&act, MV_ACTION(TAKE_IN));
  if (community)
    act.intake.community = (char *)community;
  if (kind)
    act.intake.kind = kind;
  if (unit_ref)
    act.intake.unit_ref = (char *)unit_ref;
  sf_do(s, reg, &act.a, unit, now, id_out);
}

/* ---- Verify --------------------------------------------------------------------------- */

void sf_collect(void *arg, const char *case_id, uint32_t seq, mc_code code, const char *msg) {
  sf_problems *p = arg;
  if (p->n >= 64)
    return;
  snprintf(p->msgs[p->n], sizeof(p->msgs[0]), "%s", msg);
  snprintf(p->ids[p->n], sizeof(p->ids[0]), "%s", case_id ? case_id : "");
  p->seqs[p->n] = seq;
  p->codes[p->n] = code;
  p->n++;
}

bool sf_has_problem(const sf_problems *p, const char *case_id, uint32_t seq, const char *text) {
  for (unsigned i = 0; i < p->n; i++) {
    if (case_id != NULL && strcmp(p->ids[i], case_id) != 0)
      continue;
    if (seq != 0 && p->seqs[i] != seq)
      continue;
    if (text != NULL && strstr(p->msgs[i], text) == NULL)
      continue;
    return true;
  }
  return false;
}

uint64_t sf_verify(st_store *s, sf_problems *p) {
  memset(p, 0, sizeof(*p));
  uint64_t n = 0;
  mc_err err = {0};
  mc_code rc = st_verify(s, sf_collect, p, &n, &err);
  if (rc != MC_OK)
    fail_msg("st_verify: %s: %s", mc_code_name(rc), err.msg);
  return n;
}

void sf_verify_clean(st_store *s) {
  static sf_problems p;
  uint64_t n = sf_verify(s, &p);
  if (n != 0) {
    for (unsigned i = 0; i < p.n; i++)
      print_error("verify: %s\n", p.msgs[i]);
    fail_msg("verify found %llu problems", (unsigned long long)n);
  }
}
