/*
 * test_i18n_refusals.c - one router, callers of two languages: every
 * refused step of the state table comes back in the caller's language,
 * with the same status code in both.
 *
 * Black-box: a real router (its own LANG is C, so nothing Chinese can come
 * from its environment), cases brought into every state by signed Apply
 * calls, then for every state and action (read from the table itself,
 * mc_transitions) the step is refused - by the state (the pair is not a
 * row), by the actor (a row, taken by a unit that is neither holder nor
 * target), by a guard (close before the follow-up visit; release of someone
 * not on the case) - once asked in Chinese (RequestEnvelope.locale
 * "zh_CN") and once in English ("C"). The Chinese message must hold no
 * English sentence (english.h) and name the action by what a person types
 * (开始调处（start）); the English must be the source text. Then the same
 * through mediactl, as a person sees it, under LANG=zh_CN.UTF-8 and LANG=C.
 * Also the rpc layer's own refusals (a method the caller's kind may not
 * call, a service the router lacks, mediactl signing with a stale key) and
 * a documents refusal, each in both languages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/actions.h"
#include "core/clock.h"
#include "core/i18n.h"
#include "core/machine.h"
#include "core/names.h"
#include "english.h"
#include "mctl.h"
#include "mv1.h"
#include "rpc/identity.h"
#include "world.h"

static tw_world world;
static const char *HOLDER = "police-studio";
static const char *TARGET = "marriage-studio";
static const char *STRANGER = "station-baihe"; /* may not even see the cases */
static const char *COORDINATOR = "coordinator"; /* sees every case, holds none */

/* The case in each state (index: mv_state), made by setup. */
static char case_in[16][32];

/* Applies a as unit in the language tag; the reply's code, its message in msg. */
static mc_code apply_in(const char *lang, const char *unit, mv_action *a, char *msg, size_t cap,
                        char *case_id) {
  locale_t previous = mc_i18n_use(lang);
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = a;
  ProtobufCMessage *reply = NULL;
  mc_err err = {0};
  mc_code rc = rpc_client_call(tw_client(&world, unit, NULL), &mediation__v1__router__descriptor,
                               "Apply", &req.base, NULL, &reply, &err);
  mc_i18n_restore(previous);
  snprintf(msg, cap, "%s", rc == MC_OK ? "" : err.msg);
  if (rc == MC_OK && case_id != NULL)
    snprintf(case_id, 32, "%s", ((Mediation__V1__ApplyReply *)reply)->case_record->id);
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* Everything an action of kind needs to be well formed, so that what is
 * refused is the step, not its shape. */
typedef struct action_buf {
  mv_action a;
  mv_intake in;
  mv_party party;
  mv_party *parties[1];
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__CourtResult court;
  Mediation__V1__Feedback feedback;
} action_buf;

static mv_action *well_formed(action_buf *b, mv_action_kind kind, const char *case_id) {
  memset(b, 0, sizeof(*b));
  mediation__v1__case_action__init(&b->a);
  b->a.kind = kind;
  b->a.case_ref = (char *)(case_id ? case_id : "");
  b->a.reason = "当事人要求";
  b->a.person = "值班员";
  b->a.args_case = mc_action_def_of(kind)->args;
  switch (b->a.args_case) {
  case MV_ARGS(INTAKE):
    mediation__v1__intake__init(&b->in);
    mediation__v1__party__init(&b->party);
    b->party.name = "林某甲";
    b->party.role = MV_PARTY(APPLICANT);
    b->parties[0] = &b->party;
    b->in.kind = MV_KIND(FAMILY_TRIVIA);
    b->in.community = "wangai";
    b->in.difficulty = MV_DIFFICULTY(ORDINARY);
    b->in.source = MV_SOURCE(WALK_IN);
    b->in.parties = b->parties;
    b->in.n_parties = 1;
    b->in.summary = "家庭琐事";
    b->a.intake = &b->in;
    break;
  case MV_ARGS(TO_UNIT):
    b->a.to_unit = (char *)TARGET;
    break;
  case MV_ARGS(MEMBER):
    mediation__v1__team_member__init(&b->member);
    b->member.role = MV_ROLE(MEDIATOR);
    b->member.person = "赵某调解员";
    b->a.member = &b->member;
    break;
  case MV_ARGS(SESSION):
    mediation__v1__session__init(&b->session);
    b->session.held_ms = mc_now_ms();
    b->session.note = "第一次调解";
    b->a.session = &b->session;
    break;
  case MV_ARGS(OUTCOME):
    mediation__v1__outcome__init(&b->outcome);
    b->outcome.kind = MV_OUTCOME(AGREEMENT);
    b->a.outcome = &b->outcome;
    break;
  case MV_ARGS(COURT_RESULT):
    mediation__v1__court_result__init(&b->court);
    b->court.kind = MV_COURT(JUDGMENT);
    b->a.court_result = &b->court;
    break;
  case MV_ARGS(FEEDBACK):
    mediation__v1__feedback__init(&b->feedback);
    b->feedback.satisfaction = MV_SATISFACTION(SATISFIED);
    b->feedback.visited_ms = mc_now_ms();
    b->a.feedback = &b->feedback;
    break;
  default:
    break;
  }
  return &b->a;
}

/* Takes the step, which must succeed (bringing a case into a state). */
static void must(const char *unit, mv_action_kind kind, const char *case_id, char *new_id) {
  action_buf b;
  char msg[512];
  mc_code rc = apply_in("C", unit, well_formed(&b, kind, case_id), msg, sizeof(msg), new_id);
  if (rc != MC_OK)
    fail_msg("%s on %s: %s: %s", mc_name_of(mc_action_names, (int)kind), case_id ? case_id : "a new case",
             mc_code_name(rc), msg);
}

static char *case_for(mv_state s) { return case_in[s]; }

static int setup(void **state) {
  (void)state;
  /* The router's own language is English: whatever Chinese comes back
   * was chosen by the request. */
  setenv("LANG", "C", 1);
  unsetenv("LC_ALL");
  unsetenv("LC_MESSAGES");
  unsetenv("LANGUAGE");
  mc_i18n_init();
  locale_t previous = mc_i18n_use("zh_CN.UTF-8");
  bool zh = strcmp(mc_i18n_current(), "zh_CN") == 0;
  mc_i18n_restore(previous);
  if (!zh) {
    fprintf(stderr, "the zh_CN.UTF-8 locale is not generated on this machine: "
                    "deploy/install-deps --test generates it\n");
    return -1;
  }
  if (tw_make(&world, "i18n", NULL, false) != 0 || tw_start_router(&world, NULL) != 0)
    return -1;
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(INTAKE)));
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(TRANSFER)));
  must(HOLDER, MV_ACTION(TRANSFER), case_for(MV_STATE(TRANSFER)), NULL);
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(MEDIATION)));
  must(HOLDER, MV_ACTION(START_MEDIATION), case_for(MV_STATE(MEDIATION)), NULL);
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(FEEDBACK)));
  must(HOLDER, MV_ACTION(START_MEDIATION), case_for(MV_STATE(FEEDBACK)), NULL);
  must(HOLDER, MV_ACTION(RECORD_OUTCOME), case_for(MV_STATE(FEEDBACK)), NULL);
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(LITIGATION)));
  must(HOLDER, MV_ACTION(START_MEDIATION), case_for(MV_STATE(LITIGATION)), NULL);
  must(HOLDER, MV_ACTION(SEND_TO_LITIGATION), case_for(MV_STATE(LITIGATION)), NULL);
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(CLOSED)));
  must(HOLDER, MV_ACTION(START_MEDIATION), case_for(MV_STATE(CLOSED)), NULL);
  must(HOLDER, MV_ACTION(RECORD_OUTCOME), case_for(MV_STATE(CLOSED)), NULL);
  must(HOLDER, MV_ACTION(RECORD_FEEDBACK), case_for(MV_STATE(CLOSED)), NULL);
  must(HOLDER, MV_ACTION(CLOSE), case_for(MV_STATE(CLOSED)), NULL);
  must(HOLDER, MV_ACTION(TAKE_IN), NULL, case_for(MV_STATE(WITHDRAWN)));
  must(HOLDER, MV_ACTION(WITHDRAW), case_for(MV_STATE(WITHDRAWN)), NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  return rc == 0 ? 0 : -1;
}

static bool has_chinese(const char *s) {
  for (; *s; s++) {
    if ((unsigned char)*s >= 0xe4 && (unsigned char)*s <= 0xe9)
      return true;
  }
  return false;
}

/* Asks for the refused step in both languages and holds each answer to
 * its language. english_phrase: what the English message says. */
static void refused_both(const char *unit, mv_action_kind kind, mv_state in_state, mc_code want,
                         const char *english_phrase, int *checked) {
  action_buf b;
  char zh[512], en[512], found[256] = "no Chinese at all";
  const char *id = case_for(in_state);
  mc_code rc_zh = apply_in("zh_CN", unit, well_formed(&b, kind, id), zh, sizeof(zh), NULL);
  mc_code rc_en = apply_in("C", unit, well_formed(&b, kind, id), en, sizeof(en), NULL);
  const char *what = mc_name_of(mc_action_names, (int)kind);
  const char *where = mc_name_of(mc_state_names, (int)in_state);
  if (rc_zh != want || rc_en != want)
    fail_msg("%s in %s by %s: %s / %s, expected %s (%s | %s)", what, where, unit,
             mc_code_name(rc_zh), mc_code_name(rc_en), mc_code_name(want), zh, en);
  if (!has_chinese(zh) || en_sentence(zh, found, sizeof(found)))
    fail_msg("%s in %s by %s, asked in Chinese: English left (\"%s\") in: %s", what, where, unit,
             found, zh);
  bool names_action = strstr(english_phrase, "case") == NULL; /* not the access refusal */
  if (strstr(en, english_phrase) == NULL || (names_action && strstr(en, what) == NULL))
    fail_msg("%s in %s by %s, asked in English: expected \"%s\" and \"%s\" in: %s", what, where,
             unit, english_phrase, what, en);
  (*checked)++;
}

static const mc_transition *row_of(mv_state from, mv_action_kind kind) {
  size_t n;
  const mc_transition *t = mc_transitions(&n);
  for (size_t i = 0; i < n; i++) {
    if (t[i].from == from && t[i].action == kind)
      return &t[i];
  }
  return NULL;
}

/* Every (state, action) of the table's states and the actions a person
 * takes: a pair that is no row is refused by the state; a row, taken by a
 * coordinator (who sees the case but may not take the step), by the actor;
 * a row a coordinator may take, by a unit that may not see the case. */
static void test_every_refused_step_in_the_callers_language(void **state) {
  (void)state;
  static const mv_state states[] = {MV_STATE(INTAKE),     MV_STATE(TRANSFER), MV_STATE(MEDIATION),
                                    MV_STATE(FEEDBACK),   MV_STATE(LITIGATION),
                                    MV_STATE(CLOSED),     MV_STATE(WITHDRAWN)};
  int by_state = 0, by_actor = 0;
  for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
    for (const mc_name *a = mc_action_names; a->name != NULL; a++) {
      mv_action_kind kind = (mv_action_kind)a->value;
      if (kind == MV_ACTION(TAKE_IN) || kind == MV_ACTION(RECORD_RECEIPT))
        continue; /* a new case's; the router's own */
      const mc_transition *row = row_of(states[s], kind);
      if (row == NULL)
        refused_both(HOLDER, kind, states[s], MC_FAILED_PRECONDITION, "is allowed only in",
                     &by_state);
      else if (row->roles & MC_BY_COORDINATOR) /* a coordinator would take it */
        refused_both(STRANGER, kind, states[s], MC_PERMISSION_DENIED,
                     "may not see or act on case", &by_actor);
      else
        refused_both(COORDINATOR, kind, states[s], MC_PERMISSION_DENIED, "may be taken only by",
                     &by_actor);
    }
  }
  /* 7 states x 16 actions a person takes. */
  assert_int_equal(by_state + by_actor, 7 * 16);
  assert_true(by_state > 50);
  assert_true(by_actor > 20);
}

static void test_guards_in_the_callers_language(void **state) {
  (void)state;
  int n = 0;
  /* Closing before the follow-up visit is recorded. */
  refused_both(HOLDER, MV_ACTION(CLOSE), MV_STATE(FEEDBACK), MC_FAILED_PRECONDITION, "needs:", &n);
  /* Releasing someone who is not on the case. */
  refused_both(HOLDER, MV_ACTION(RELEASE), MV_STATE(INTAKE), MC_FAILED_PRECONDITION, "needs:", &n);
  assert_int_equal(n, 2);
}

/* As a person sees it: mediactl's whole output, in the language of its
 * LANG; the action named by the word they type. */
static void test_mediactl_refusal_as_seen(void **state) {
  (void)state;
  const char *id = case_for(MV_STATE(INTAKE));
  char found[256];
  setenv("LANG", "zh_CN.UTF-8", 1);
  mctl_result r = MCTL(world.conf, "reopen", id, "--reason", "协议未履行");
  setenv("LANG", "C", 1);
  mctl_expect(&r, 3, "reopen of a case in intake, in Chinese");
  CONTAINS(r.err, "被拒绝");
  CONTAINS(r.err, "FAILED_PRECONDITION"); /* the status code is the contract */
  CONTAINS(r.err, "重新调处（reopen）");
  CONTAINS(r.err, "受理（intake）");
  if (en_sentence(r.err, found, sizeof(found)))
    fail_msg("English left (\"%s\") in: %s", found, r.err);
  mctl_free(&r);

  r = MCTL(world.conf, "reopen", id, "--reason", "协议未履行");
  mctl_expect(&r, 3, "reopen of a case in intake, in English");
  char want[256];
  snprintf(want, sizeof(want),
           "mediactl: refused: FAILED_PRECONDITION: case %s is in 受理 (intake); reopen is "
           "allowed only in 结案 (closed)",
           id);
  CONTAINS(r.err, want);
  mctl_free(&r);
}

/* Through a unit's service (mediactl --unit): the Desk refuses or
 * forwards the step to the router on another thread, and the refusal
 * still comes back in the operator's language. The unit daemon's own
 * LANG is Chinese, as its systemd unit sets it. */
static void test_through_a_unit_in_the_callers_language(void **state) {
  (void)state;
  const char *id = case_for(MV_STATE(CLOSED));
  char found[256];
  setenv("LANG", "zh_CN.UTF-8", 1);
  int started = tw_start_unit(&world, "police-studio", HOLDER);
  setenv("LANG", "zh_CN.UTF-8", 1);
  assert_int_equal(started, 0);
  mctl_result r = MCTL(world.conf, "--unit", HOLDER, "start", id);
  setenv("LANG", "C", 1);
  mctl_expect(&r, 3, "start of a closed case through the unit, in Chinese");
  CONTAINS(r.err, "开始调处（start）");
  if (en_sentence(r.err, found, sizeof(found)))
    fail_msg("English left (\"%s\") in: %s", found, r.err);
  mctl_free(&r);
  r = MCTL(world.conf, "--unit", HOLDER, "start", id);
  mctl_expect(&r, 3, "start of a closed case through the unit, in English");
  CONTAINS(r.err, "start_mediation is allowed only in 受理 (intake)");
  mctl_free(&r);
  assert_int_equal(tw_stop_unit(&world, HOLDER), 0);
}

/* Calls service/method of the router as principal, in the language tag;
 * the reply's code, its message in msg. */
static mc_code call_in(const char *lang, const char *principal,
                       const ProtobufCServiceDescriptor *service, const char *method,
                       const ProtobufCMessage *req, char *msg, size_t cap) {
  locale_t previous = mc_i18n_use(lang);
  ProtobufCMessage *reply = NULL;
  mc_err err = {0};
  mc_code rc = rpc_client_call(tw_client(&world, principal, NULL), service, method, req, NULL,
                               &reply, &err);
  mc_i18n_restore(previous);
  snprintf(msg, cap, "%s", rc == MC_OK ? "" : err.msg);
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* Holds a refusal of the rpc layer itself (rpc/dispatch.c, before any
 * handler) to the caller's language: Chinese with no English sentence,
 * English with english_phrase; the same code. */
static void rpc_refused_both(const char *principal, const ProtobufCServiceDescriptor *service,
                             const char *method, const ProtobufCMessage *req, mc_code want,
                             const char *chinese_phrase, const char *english_phrase) {
  char zh[512], en[512], found[256] = "no Chinese at all";
  mc_code rc_zh = call_in("zh_CN", principal, service, method, req, zh, sizeof(zh));
  mc_code rc_en = call_in("C", principal, service, method, req, en, sizeof(en));
  if (rc_zh != want || rc_en != want)
    fail_msg("%s/%s by %s: %s / %s, expected %s (%s | %s)", service->name, method, principal,
             mc_code_name(rc_zh), mc_code_name(rc_en), mc_code_name(want), zh, en);
  if (!has_chinese(zh) || strstr(zh, chinese_phrase) == NULL ||
      en_sentence(zh, found, sizeof(found)))
    fail_msg("%s/%s by %s, asked in Chinese: expected \"%s\", no English (\"%s\") in: %s",
             service->name, method, principal, chinese_phrase, found, zh);
  if (strstr(en, english_phrase) == NULL)
    fail_msg("%s/%s by %s, asked in English: expected \"%s\" in: %s", service->name, method,
             principal, english_phrase, en);
}

/* The rpc layer's own refusals: a method the caller's kind may not call
 * (the router's method table), a service the server does not have. */
static void test_rpc_refusals_in_the_callers_language(void **state) {
  (void)state;
  Mediation__V1__PullDeliveriesRequest pull = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  rpc_refused_both(COORDINATOR, &mediation__v1__router__descriptor, "PullDeliveries", &pull.base,
                   MC_PERMISSION_DENIED, "只有单位才能接收转送", "only units receive deliveries");
  Mediation__V1__DeskTakeInRequest take = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
  rpc_refused_both(HOLDER, &mediation__v1__desk__descriptor, "TakeIn", &take.base,
                   MC_UNIMPLEMENTED, "这项服务", "no service \"mediation.v1.Desk\" here");
}

/* As a person meets it: mediactl signing with a key that is not the one
 * the registry holds (a stale key file) is refused by the router's rpc
 * layer, UNAUTHENTICATED, in mediactl's language. */
static void test_mediactl_bad_key_as_seen(void **state) {
  (void)state;
  char keys[TH_PATH_MAX + 16], conf[TH_PATH_MAX + 32], found[256];
  snprintf(keys, sizeof(keys), "%s/otherkeys", world.dir.path);
  snprintf(conf, sizeof(conf), "%s/otherkey.conf", world.dir.path);
  assert_int_equal(mkdir(keys, 0700), 0);
  rpc_key *key = NULL;
  mc_err err = {0};
  if (rpc_key_generate(COORDINATOR, &key, &err) != MC_OK || rpc_key_save(key, keys, &err) != MC_OK)
    fail_msg("a second key: %s", err.msg);
  rpc_key_free(key);
  FILE *in = fopen(world.conf, "r"), *out = fopen(conf, "w");
  assert_non_null(in);
  assert_non_null(out);
  char line[1024];
  while (fgets(line, sizeof(line), in) != NULL)
    fputs(strncmp(line, "keys_dir", 8) == 0 ? "" : line, out);
  fclose(in);
  fprintf(out, "\n[subdistrict]\nkeys_dir = %s\n", keys);
  fclose(out);

  setenv("LANG", "zh_CN.UTF-8", 1);
  mctl_result r = MCTL(conf, "list");
  setenv("LANG", "C", 1);
  mctl_expect(&r, 5, "list with a stale key, in Chinese"); /* refused: not authenticated */
  CONTAINS(r.err, "UNAUTHENTICATED");
  CONTAINS(r.err, "签名与配置中登记的公钥不符");
  if (en_sentence(r.err, found, sizeof(found)))
    fail_msg("English left (\"%s\") in: %s", found, r.err);
  mctl_free(&r);
  r = MCTL(conf, "list");
  mctl_expect(&r, 5, "list with a stale key, in English");
  CONTAINS(r.err, "signature does not verify with the registry's public key");
  mctl_free(&r);
}

/* A documents refusal (documents/agreement.c): the coordinator may not
 * produce an agreement, which carries the parties' full particulars. */
static void test_documents_refusal_as_seen(void **state) {
  (void)state;
  const char *id = case_for(MV_STATE(FEEDBACK));
  char pdf[TH_PATH_MAX + 16], found[256];
  snprintf(pdf, sizeof(pdf), "%s/agreement.pdf", world.dir.path);
  setenv("LANG", "zh_CN.UTF-8", 1);
  mctl_result r = MCTL(world.conf, "document", "agreement", id, "-o", pdf);
  setenv("LANG", "C", 1);
  if (r.rc == 0)
    fail_msg("the coordinator produced the agreement of %s: %s", id, r.out);
  CONTAINS(r.err, "只有承办单位");
  if (en_sentence(r.err, found, sizeof(found)))
    fail_msg("English left (\"%s\") in: %s", found, r.err);
  int rc_zh = r.rc;
  mctl_free(&r);
  r = MCTL(world.conf, "document", "agreement", id, "-o", pdf);
  assert_int_equal(r.rc, rc_zh);
  CONTAINS(r.err, "carries the parties' full particulars: only its holding unit");
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_refused_step_in_the_callers_language),
      cmocka_unit_test(test_guards_in_the_callers_language),
      cmocka_unit_test(test_mediactl_refusal_as_seen),
      cmocka_unit_test(test_through_a_unit_in_the_callers_language),
      cmocka_unit_test(test_rpc_refusals_in_the_callers_language),
      cmocka_unit_test(test_mediactl_bad_key_as_seen),
      cmocka_unit_test(test_documents_refusal_as_seen),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
