/*
 * test_mediactl_desk.c - the operator's commands against a Desk that records
 * what it is sent.
 *
 * The unit daemons (issue 7) are built elsewhere; this test does not wait
 * for them. It serves mediation.v1.Desk itself, on the police studio's
 * endpoint from a deployment made by mkdeploy, through the project's RPC
 * server (so signatures, admission by unit and statuses are the real ones),
 * records every request, and answers with what a Desk may answer: a step
 * applied, queued in the outbox, refused by the router, or followed by the
 * unit's policy. Each test runs mediactl as an operator would and checks the
 * request it built - every option's way into desk.proto - and what it printed,
 * in human and --json form, with its exit code.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "mctl.h"
#include "mv1.h"
#include "pbjson/pbjson.h"
#include "world.h"

static tw_world world;
static const char *conf;
static rpc_server *desk_server;

/* ---- the recording Desk ---- */

typedef enum desk_mode {
  MODE_APPLIED,
  MODE_QUEUED,
  MODE_REFUSED,
  MODE_DENIED,
  MODE_POLICY,
  MODE_POLICY_REFUSED, /* the step applied, the policy's assign refused */
  MODE_POLICY_QUEUED,  /* the step applied, the policy's assign still queued */
  MODE_ALL_QUEUED,     /* the router unreachable: both queued */
} desk_mode;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static desk_mode mode;
static char last_method[32];
static uint8_t *last_bytes;
static size_t last_len;

/* mediactl's --json output reads back (pbjson, as the web gateway reads a
 * request) as the reply message it printed, and prints again as the same
 * JSON: one shape both ways. */
static void expect_reads_back(const mctl_result *r, const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  if (pj_to_message(desc, r->out, strlen(r->out), &m, &err) != MC_OK)
    fail_msg("%s output does not read back: %s\n%s", desc->short_name, err.msg, r->out);
  json_object *printed = json_tokener_parse(r->out), *again = pj_from_message(m);
  assert_non_null(printed);
  assert_non_null(again);
  assert_string_equal(json_object_to_json_string_ext(printed, JSON_C_TO_STRING_PLAIN),
                      json_object_to_json_string_ext(again, JSON_C_TO_STRING_PLAIN));
  json_object_put(printed);
  json_object_put(again);
  protobuf_c_message_free_unpacked(m, NULL);
}

static void record(const char *method, const ProtobufCMessage *m) {
  pthread_mutex_lock(&lock);
  free(last_bytes);
  last_len = protobuf_c_message_get_packed_size(m);
  last_bytes = malloc(last_len ? last_len : 1);
  protobuf_c_message_pack(m, last_bytes);
  snprintf(last_method, sizeof(last_method), "%s", method);
  pthread_mutex_unlock(&lock);
}

static void forget(void) {
  pthread_mutex_lock(&lock);
  last_method[0] = '\0';
  pthread_mutex_unlock(&lock);
}

/* The last request, which must have been to method; caller frees. */
static ProtobufCMessage *last(const char *method, const ProtobufCMessageDescriptor *desc) {
  pthread_mutex_lock(&lock);
  if (strcmp(last_method, method) != 0) {
    char got[32];
    snprintf(got, sizeof(got), "%s", last_method);
    pthread_mutex_unlock(&lock);
    fail_msg("expected a %s request, the Desk last got \"%s\"", method, got);
  }
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, last_len, last_bytes);
  pthread_mutex_unlock(&lock);
  assert_non_null(m);
  return m;
}

static desk_mode current_mode(void) {
  pthread_mutex_lock(&lock);
  desk_mode m = mode;
  pthread_mutex_unlock(&lock);
  return m;
}

static void set_mode(desk_mode m) {
  pthread_mutex_lock(&lock);
  mode = m;
  pthread_mutex_unlock(&lock);
}

static mv_state state_after(mv_action_kind k) {
  switch (k) {
  case MV_ACTION(TRANSFER): return MV_STATE(TRANSFER);
  case MV_ACTION(START_MEDIATION):
  case MV_ACTION(RECORD_SESSION):
  case MV_ACTION(REOPEN): return MV_STATE(MEDIATION);
  case MV_ACTION(RECORD_OUTCOME):
  case MV_ACTION(RECORD_COURT_RESULT):
  case MV_ACTION(RECORD_FEEDBACK): return MV_STATE(FEEDBACK);
  case MV_ACTION(SEND_TO_LITIGATION): return MV_STATE(LITIGATION);
  case MV_ACTION(CLOSE): return MV_STATE(CLOSED);
  case MV_ACTION(WITHDRAW): return MV_STATE(WITHDRAWN);
  default: return MV_STATE(INTAKE);
  }
}

/* A reply with the operator's step (as the mode says) and, in MODE_POLICY,
 * the step the policy added. */
static void reply_steps(void *call, mv_case *c, mv_action *action) {
  desk_mode m = current_mode();
  Mediation__V1__DeskStep s0 = MEDIATION__V1__DESK_STEP__INIT, s1 = MEDIATION__V1__DESK_STEP__INIT;
  Mediation__V1__DeskStep *steps[2] = {&s0, &s1};
  mv_action policy = MEDIATION__V1__CASE_ACTION__INIT;
  mv_member member = MEDIATION__V1__TEAM_MEMBER__INIT;
  s0.action = action;
  s0.disposition = MV_DISPOSITION(APPLIED);
  Mediation__V1__DeskReply r = MEDIATION__V1__DESK_REPLY__INIT;
  r.case_record = c;
  r.steps = steps;
  r.n_steps = 1;
  switch (m) {
  case MODE_QUEUED:
    s0.disposition = MV_DISPOSITION(QUEUED);
    s0.outbox_seq = 17;
    r.stale = true;
    break;
  case MODE_REFUSED:
    s0.disposition = MV_DISPOSITION(REFUSED);
    s0.code = MV_STATUS(FAILED_PRECONDITION);
    s0.message = "case BH-2026-000042 is in 受理 (intake); accept is allowed only in 流转 (transfer)";
    break;
  case MODE_DENIED:
    s0.disposition = MV_DISPOSITION(REFUSED);
    s0.code = MV_STATUS(PERMISSION_DENIED);
    s0.message = "case BH-2026-000042: accept in 流转 (transfer) may be taken only by the unit "
                 "the case is offered to (marriage-studio)";
    break;
  case MODE_POLICY:
  case MODE_POLICY_REFUSED:
  case MODE_POLICY_QUEUED:
  case MODE_ALL_QUEUED:
    member.role = MV_ROLE(MEDIATOR);
    member.person = "周晓梅";
    policy.kind = MV_ACTION(ASSIGN);
    policy.case_ref = c->id;
    policy.args_case = MV_ARGS(MEMBER);
    policy.member = &member;
    s1.action = &policy;
    s1.disposition = MV_DISPOSITION(APPLIED);
    r.n_steps = 2;
    if (m == MODE_POLICY_REFUSED) {
      s1.disposition = MV_DISPOSITION(REFUSED);
      s1.code = MV_STATUS(RESOURCE_EXHAUSTED);
      s1.message = "case BH-2026-000042: the team holds the most entries allowed (max_team 16)";
    } else if (m == MODE_POLICY_QUEUED || m == MODE_ALL_QUEUED) {
      s1.disposition = MV_DISPOSITION(QUEUED);
      s1.outbox_seq = 18;
      r.stale = true;
      if (m == MODE_ALL_QUEUED) {
        s0.disposition = MV_DISPOSITION(QUEUED);
        s0.outbox_seq = 17;
      }
    }
    break;
  default:
    break;
  }
  rpc_call_reply(call, &r.base);
}

static void fake_take_in(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskTakeInRequest *in,
                         Mediation__V1__DeskReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("TakeIn", &in->base);
  mv_case c = MEDIATION__V1__CASE__INIT;
  c.id = "BH-2026-000042";
  c.intake = in->intake;
  c.state = MV_STATE(INTAKE);
  c.holder = "police-studio";
  mv_action take = MEDIATION__V1__CASE_ACTION__INIT;
  take.kind = MV_ACTION(TAKE_IN);
  take.case_ref = c.id;
  take.args_case = MV_ARGS(INTAKE);
  take.intake = in->intake;
  reply_steps(call, &c, &take);
}

static void fake_act(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskActRequest *in,
                     Mediation__V1__DeskReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("Act", &in->base);
  mv_case c = MEDIATION__V1__CASE__INIT;
  Mediation__V1__PendingTransfer t = MEDIATION__V1__PENDING_TRANSFER__INIT;
  c.id = in->action->case_ref;
  c.state = state_after(in->action->kind);
  c.holder = "police-studio";
  if (c.state == MV_STATE(TRANSFER)) {
    t.from_unit = "police-studio";
    t.to_unit = in->action->to_unit[0] ? in->action->to_unit : (char *)"station-baihe";
    t.reason = in->action->reason;
    c.transfer = &t;
  }
  reply_steps(call, &c, in->action);
}

static mv_intake *sample_intake(mv_intake *in, mv_party *p, mv_party **pp, mv_kind kind,
                                const char *community, int64_t money_fen) {
  mediation__v1__intake__init(in);
  mediation__v1__party__init(p);
  p->name = "张某";
  p->role = MV_PARTY(APPLICANT);
  p->id_number = "330212199001011232";
  p->phone = "13800001234";
  pp[0] = p;
  in->kind = kind;
  in->community = (char *)community;
  in->difficulty = MV_DIFFICULTY(ORDINARY);
  in->source = MV_SOURCE(POLICE_CALL);
  in->money_fen = money_fen;
  in->parties = pp;
  in->n_parties = 1;
  return in;
}

static void fake_inbox(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskInboxRequest *in,
                       Mediation__V1__DeskListReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("Inbox", &in->base);
  mv_intake intake;
  mv_party p, *pp[1];
  mv_case c = MEDIATION__V1__CASE__INIT;
  Mediation__V1__PendingTransfer t = MEDIATION__V1__PENDING_TRANSFER__INIT;
  c.id = "BH-2026-000050";
  c.intake = sample_intake(&intake, &p, pp, MV_KIND(NEIGHBOUR), "baihe", 30000);
  c.state = MV_STATE(TRANSFER);
  c.holder = "marriage-studio";
  t.from_unit = "marriage-studio";
  t.to_unit = "police-studio";
  t.reason = "不属于婚姻家庭纠纷，转回";
  t.offered_ms = 1772676000000LL;
  c.transfer = &t;
  Mediation__V1__LocalCase lc = MEDIATION__V1__LOCAL_CASE__INIT, *lcs[1] = {&lc};
  lc.case_record = &c;
  lc.synced_ms = mc_now_ms();
  Mediation__V1__DeskListReply r = MEDIATION__V1__DESK_LIST_REPLY__INIT;
  r.cases = lcs;
  r.n_cases = 1;
  rpc_call_reply(call, &r.base);
}

static void fake_list_cases(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskListRequest *in,
                            Mediation__V1__DeskListReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("ListCases", &in->base);
  mv_intake i1, i2;
  mv_party p1, p2, *pp1[1], *pp2[1];
  mv_case c1 = MEDIATION__V1__CASE__INIT, c2 = MEDIATION__V1__CASE__INIT;
  c1.id = "BH-2026-000042";
  c1.intake = sample_intake(&i1, &p1, pp1, MV_KIND(RELATIONSHIP), "kongque", 123450);
  c1.state = MV_STATE(INTAKE);
  c1.holder = "police-studio";
  c1.deadline_ms = mc_now_ms() + 86400000;
  c2.id = ""; /* taken in while the router was away: no id yet */
  c2.intake = sample_intake(&i2, &p2, pp2, MV_KIND(FAMILY_TRIVIA), "wangai", 0);
  i2.unit_ref = "PS-2026-0009";
  c2.state = MV_STATE(INTAKE);
  c2.holder = "police-studio";
  Mediation__V1__LocalCase l1 = MEDIATION__V1__LOCAL_CASE__INIT, l2 = MEDIATION__V1__LOCAL_CASE__INIT;
  Mediation__V1__LocalCase *ls[2] = {&l1, &l2};
  l1.case_record = &c1;
  l1.synced_ms = mc_now_ms();
  l2.case_record = &c2;
  l2.stale = true;
  l2.queued_steps = 2;
  /* One case a page, as a unit answers a page at a time: mediactl's
   * `cases` must ask for the second and list both. */
  bool second = strcmp(in->cursor, "1") == 0;
  Mediation__V1__DeskListReply r = MEDIATION__V1__DESK_LIST_REPLY__INIT;
  r.cases = second ? ls + 1 : ls;
  r.n_cases = 1;
  r.next_cursor = second ? "" : "1";
  r.total = r.held = 2;
  rpc_call_reply(call, &r.base);
}

static void fake_show_case(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskShowRequest *in,
                           Mediation__V1__DeskShowReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("ShowCase", &in->base);
  mv_intake intake;
  mv_party p, *pp[1];
  mv_case c = MEDIATION__V1__CASE__INIT;
  c.id = in->case_ref;
  c.intake = sample_intake(&intake, &p, pp, MV_KIND(RELATIONSHIP), "kongque", 123450);
  c.state = MV_STATE(INTAKE);
  c.holder = "police-studio";
  c.created_ms = 1772676000000LL;
  mv_actor actor = MEDIATION__V1__ACTOR__INIT;
  actor.kind = MV_PRINCIPAL(UNIT);
  actor.id = "police-studio";
  actor.person = "马德顺";
  mv_action a1 = MEDIATION__V1__CASE_ACTION__INIT, a2 = MEDIATION__V1__CASE_ACTION__INIT;
  a1.kind = MV_ACTION(TAKE_IN);
  a1.args_case = MV_ARGS(INTAKE);
  a1.intake = &intake;
  a2.kind = MV_ACTION(START_MEDIATION);
  mv_event e1 = MEDIATION__V1__CASE_EVENT__INIT, e2 = MEDIATION__V1__CASE_EVENT__INIT;
  mv_event *es[2] = {&e1, &e2};
  e1.seq = 1;
  e1.at_ms = 1772676000000LL;
  e1.actor = &actor;
  e1.action = &a1;
  e1.to_state = MV_STATE(INTAKE);
  e2.seq = 2;
  e2.at_ms = 1772679600000LL;
  e2.actor = &actor;
  e2.action = &a2;
  e2.from_state = MV_STATE(INTAKE);
  e2.to_state = MV_STATE(MEDIATION);
  Mediation__V1__DeskShowReply r = MEDIATION__V1__DESK_SHOW_REPLY__INIT;
  r.case_record = &c;
  r.events = in->with_timeline ? es : NULL;
  r.n_events = in->with_timeline ? 2 : 0;
  r.stale = true;
  r.synced_ms = 1772679600000LL;
  rpc_call_reply(call, &r.base);
}

static void fake_conflicts(Mediation__V1__Desk_Service *svc,
                           const Mediation__V1__DeskConflictsRequest *in,
                           Mediation__V1__DeskConflictsReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("Conflicts", &in->base);
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(ACCEPT);
  a.case_ref = "BH-2026-000051";
  Mediation__V1__Conflict k = MEDIATION__V1__CONFLICT__INIT, *ks[1] = {&k};
  k.outbox_seq = 7;
  k.action = &a;
  k.code = MV_STATUS(FAILED_PRECONDITION);
  k.message = "case BH-2026-000051 was recalled by its sender";
  k.queued_ms = 1772676000000LL;
  k.refused_ms = 1772679600000LL;
  Mediation__V1__DeskConflictsReply r = MEDIATION__V1__DESK_CONFLICTS_REPLY__INIT;
  r.conflicts = ks;
  r.n_conflicts = 1;
  r.outbox_pending = 3;
  rpc_call_reply(call, &r.base);
}

static void fake_dismiss_conflict(Mediation__V1__Desk_Service *svc,
                                  const Mediation__V1__DeskDismissRequest *in,
                                  Mediation__V1__DeskDismissReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("DismissConflict", &in->base);
  if (in->outbox_seq == 99) {
    rpc_call_fail(call, MC_NOT_FOUND, "no conflict 99 (dismissed already?)");
    return;
  }
  Mediation__V1__DeskDismissReply r = MEDIATION__V1__DESK_DISMISS_REPLY__INIT;
  rpc_call_reply(call, &r.base);
}

static void fake_roster(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskRosterRequest *in,
                        Mediation__V1__DeskRosterReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("Roster", &in->base);
  Mediation__V1__RosterMember m1 = MEDIATION__V1__ROSTER_MEMBER__INIT,
                              m2 = MEDIATION__V1__ROSTER_MEMBER__INIT, *ms[2] = {&m1, &m2};
  m1.person = "马德顺";
  m1.role = MV_ROLE(MEDIATOR);
  m1.active_cases = 3;
  m2.person = "刘建平";
  m2.role = MV_ROLE(MEDIATOR);
  m2.active_cases = 11;
  Mediation__V1__DeskRosterReply r = MEDIATION__V1__DESK_ROSTER_REPLY__INIT;
  r.members = ms;
  r.n_members = 2;
  rpc_call_reply(call, &r.base);
}

/* mediactl has no command that watches; answered so the service is whole. */
static void fake_watch(Mediation__V1__Desk_Service *svc, const Mediation__V1__DeskWatchRequest *in,
                       Mediation__V1__DeskWatchReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("Watch", &in->base);
  Mediation__V1__DeskWatchReply r = MEDIATION__V1__DESK_WATCH_REPLY__INIT;
  r.epoch = 1;
  r.reset = true;
  rpc_call_reply(call, &r.base);
}

/* A search answered from the unit's own copies (the router away). */
static void fake_search(Mediation__V1__Desk_Service *svc, const Mediation__V1__SearchRequest *in,
                        Mediation__V1__SearchReply_Closure closure, void *call) {
  (void)svc;
  (void)closure;
  record("Search", &in->base);
  Mediation__V1__SearchHit h = MEDIATION__V1__SEARCH_HIT__INIT, *hs[1] = {&h};
  char *repeats[1] = {"BH-2026-000003"};
  h.id = "BH-2026-000009";
  h.state = MV_STATE(MEDIATION);
  h.holder = "police-studio";
  h.kind = MV_KIND(NEIGHBOUR);
  h.community = "kongque";
  h.unit_ref = "PS-2026-0009";
  h.matched = "party_name";
  h.repeat_of = repeats;
  h.n_repeat_of = 1;
  Mediation__V1__SearchReply r = MEDIATION__V1__SEARCH_REPLY__INIT;
  r.hits = hs;
  r.n_hits = 1;
  r.total = 1;
  r.local = true;
  rpc_call_reply(call, &r.base);
}

static Mediation__V1__Desk_Service desk = MEDIATION__V1__DESK__INIT(fake_);

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "mediactl-desk", NULL, false) != 0)
    return -1;
  conf = world.conf;
  const mc_unit *u = mc_registry_unit(world.reg, "police-studio");
  rpc_server_opts opts = {.program = "fake-desk", .version = "test", .accept_unit = "police-studio"};
  mc_err err;
  if (rpc_server_create(world.reg, &opts, &desk_server, &err) != MC_OK ||
      rpc_server_register(desk_server, &desk.base, &err) != MC_OK ||
      rpc_server_listen(desk_server, u->endpoint, NULL, 0, &err) != MC_OK) {
    fprintf(stderr, "fake desk: %s\n", err.msg);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rpc_server_free(desk_server);
  desk_server = NULL;
  tw_destroy(&world);
  free(last_bytes);
  last_bytes = NULL;
  return 0;
}

/* Runs a step command as the police studio's operator and returns the
 * action the Desk received (caller frees the request). */
static Mediation__V1__DeskActRequest *act(const char *const *args, const char *expect_out) {
  const char *argv[32] = {"--unit", "大石头调解工作室"};
  int n = 2;
  for (int i = 0; args[i] != NULL && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  forget();
  mctl_result r = mctl_run(conf, argv);
  mctl_expect(&r, 0, args[0]);
  CONTAINS(r.out, "已生效");
  if (expect_out != NULL)
    CONTAINS(r.out, expect_out);
  mctl_free(&r);
  return (Mediation__V1__DeskActRequest *)last("Act", &mediation__v1__desk_act_request__descriptor);
}
#define ACT(expect, ...) act((const char *const[]){__VA_ARGS__, NULL}, (expect))

static void done(Mediation__V1__DeskActRequest *req) {
  protobuf_c_message_free_unpacked(&req->base, NULL);
}

/* ---- tests ---- */

static void test_intake_builds_the_whole_intake(void **state) {
  (void)state;
  set_mode(MODE_APPLIED);
  forget();
  mctl_result r = MCTL(conf, "--unit", "大石头调解工作室", "intake", "--kind", "感情纠纷",
                       "--community", "孔雀社区", "--grid", "3", "--party",
                       "applicant:张某:330212199001011232:13800001234", "--party", "被申请人:李某",
                       "--money-yuan", "1234.5", "--difficulty", "difficult", "--source",
                       "police_call", "--summary", "争吵后推搡", "--petition", "协办",
                       "--needs-lawyer", "--person", "马德顺", "--ref", "PS-2026-0007",
                       "--refer-to", "marriage-studio", "--reason", "溯源调解");
  mctl_expect(&r, 0, "intake");
  CONTAINS(r.out, "BH-2026-000042 (PS-2026-0007)  受理  承办 大石头调解工作室");
  CONTAINS(r.out, "受理（take_in） 感情纠纷，孔雀社区，110报警，涉及金额1234.50元：已生效");
  mctl_free(&r);
  Mediation__V1__DeskTakeInRequest *req = (Mediation__V1__DeskTakeInRequest *)last(
      "TakeIn", &mediation__v1__desk_take_in_request__descriptor);
  const mv_intake *in = req->intake;
  assert_int_equal(in->kind, MV_KIND(RELATIONSHIP));
  assert_string_equal(in->community, "kongque");
  assert_string_equal(in->grid, "3");
  assert_int_equal(in->n_parties, 2);
  assert_int_equal(in->parties[0]->role, MV_PARTY(APPLICANT));
  assert_string_equal(in->parties[0]->name, "张某");
  assert_string_equal(in->parties[0]->id_number, "330212199001011232");
  assert_string_equal(in->parties[0]->phone, "13800001234");
  assert_int_equal(in->parties[1]->role, MV_PARTY(RESPONDENT));
  assert_string_equal(in->parties[1]->name, "李某");
  assert_string_equal(in->parties[1]->id_number, "");
  assert_int_equal(in->money_fen, 123450);
  assert_int_equal(in->difficulty, MV_DIFFICULTY(DIFFICULT));
  assert_int_equal(in->source, MV_SOURCE(POLICE_CALL));
  assert_string_equal(in->summary, "争吵后推搡");
  assert_int_equal(in->petition, MV_PETITION(ASSISTED));
  assert_true(in->needs_lawyer);
  assert_string_equal(in->unit_ref, "PS-2026-0007");
  assert_string_equal(req->person, "马德顺");
  assert_string_equal(req->refer_to, "marriage-studio");
  assert_string_equal(req->refer_reason, "溯源调解");
  protobuf_c_message_free_unpacked(&req->base, NULL);

  /* Defaults: ordinary difficulty, no petition, the policy routes. */
  r = MCTL(conf, "--unit", "police-studio", "--json", "intake", "--kind", "labour", "--community",
           "wangai", "--source", "网电信件", "--party", "other:某公司", "--workers", "12");
  mctl_expect(&r, 0, "intake --json");
  expect_reads_back(&r, &mediation__v1__desk_reply__descriptor);
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "case_record.id"), "BH-2026-000042");
  assert_string_equal(jstr(j, "steps[0].disposition"), "applied");
  assert_string_equal(jstr(j, "steps[0].action.kind"), "take_in");
  assert_string_equal(jstr(j, "case_record.intake.source"), "letter_or_call");
  assert_int_equal(jint(j, "case_record.intake.workers"), 12);
  json_object_put(j);
  mctl_free(&r);
  req = (Mediation__V1__DeskTakeInRequest *)last("TakeIn",
                                                 &mediation__v1__desk_take_in_request__descriptor);
  assert_int_equal(req->intake->difficulty, MV_DIFFICULTY(ORDINARY));
  assert_int_equal(req->intake->petition, MV_PETITION(NONE));
  assert_int_equal(req->intake->parties[0]->role, MV_PARTY(OTHER));
  assert_string_equal(req->refer_to, "");
  protobuf_c_message_free_unpacked(&req->base, NULL);

  /* Only the unit's own operators are admitted to its Desk. */
  r = MCTL(conf, "--unit", "police-studio", "--as", "station-baihe-operator", "roster");
  mctl_expect(&r, 5, "another unit's operator");
  CONTAINS(r.err, "mediactl: denied: PERMISSION_DENIED:");
  mctl_free(&r);

  /* A usage error calls nothing. */
  forget();
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "divorce", "--community",
           "wangai", "--source", "walk_in");
  mctl_expect(&r, 2, "intake without a party");
  CONTAINS(r.err, "--party or --party-file is required");
  mctl_free(&r);
  pthread_mutex_lock(&lock);
  assert_string_equal(last_method, "");
  pthread_mutex_unlock(&lock);
}

/* --party-file FILE and - (standard input): the parties' personal data stay
 * off the command line. Same format as --party; comments, blank lines and
 * CRLF are fine; order is the order given; errors name the line, never the
 * text. */
static void test_intake_party_file(void **state) {
  (void)state;
  set_mode(MODE_APPLIED);
  char path[TH_PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/parties.txt", world.dir.path);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("# the parties of the 110 call\r\n"
        "applicant:张某:330212199001011232:13800001234\r\n"
        "\n"
        "   \n"
        "被申请人:李某:33021219900101007X\n"
        "other:王某",
        f);
  fclose(f);
  forget();
  mctl_result r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "relationship",
                       "--community", "kongque", "--source", "police_call", "--party",
                       "other:赵某", "--party-file", path);
  mctl_expect(&r, 0, "intake --party-file");
  mctl_free(&r);
  Mediation__V1__DeskTakeInRequest *req = (Mediation__V1__DeskTakeInRequest *)last(
      "TakeIn", &mediation__v1__desk_take_in_request__descriptor);
  const mv_intake *in = req->intake;
  assert_int_equal(in->n_parties, 4);
  assert_string_equal(in->parties[0]->name, "赵某");
  assert_int_equal(in->parties[1]->role, MV_PARTY(APPLICANT));
  assert_string_equal(in->parties[1]->name, "张某");
  assert_string_equal(in->parties[1]->id_number, "330212199001011232");
  assert_string_equal(in->parties[1]->phone, "13800001234");
  assert_int_equal(in->parties[2]->role, MV_PARTY(RESPONDENT));
  assert_string_equal(in->parties[2]->id_number, "33021219900101007X");
  assert_string_equal(in->parties[2]->phone, "");
  assert_int_equal(in->parties[3]->role, MV_PARTY(OTHER));
  assert_string_equal(in->parties[3]->name, "王某");
  protobuf_c_message_free_unpacked(&req->base, NULL);

  /* Standard input, through a shell as a user types it. */
  char bin[TH_PATH_MAX], cmd[3 * TH_PATH_MAX];
  th_bin(bin, sizeof(bin), "services/mediactl");
  snprintf(cmd, sizeof(cmd),
           "printf 'applicant:孙某:330212199001011232\\n' | '%s' --config '%s' --unit "
           "police-studio intake --kind neighbour --community baihe --source walk_in "
           "--party-file -",
           bin, conf);
  const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
  char *out = NULL, *err = NULL;
  forget();
  int rc = th_run(sh, &out, &err, 60000);
  if (rc != 0)
    fail_msg("--party-file -: exit %d\n%s\n%s", rc, out ? out : "", err ? err : "");
  free(out);
  free(err);
  req = (Mediation__V1__DeskTakeInRequest *)last("TakeIn",
                                                 &mediation__v1__desk_take_in_request__descriptor);
  assert_int_equal(req->intake->n_parties, 1);
  assert_string_equal(req->intake->parties[0]->name, "孙某");
  assert_string_equal(req->intake->parties[0]->id_number, "330212199001011232");
  protobuf_c_message_free_unpacked(&req->base, NULL);

  /* A bad line: named by its number, its text not repeated; nothing sent. */
  f = fopen(path, "w");
  assert_non_null(f);
  fputs("applicant:张某\n# fine\nplaintiff:钱某某:13900001111\n", f);
  fclose(f);
  forget();
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "relationship", "--community",
           "kongque", "--source", "police_call", "--party-file", path);
  mctl_expect(&r, 2, "a bad --party-file line");
  CONTAINS(r.err, "--party-file line 3: expected role:name[:id_number[:phone]]");
  assert_null(strstr(r.err, "钱某某"));
  assert_null(strstr(r.err, "13900001111"));
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "relationship", "--community",
           "kongque", "--source", "police_call", "--party-file", "/nonexistent/parties.txt");
  mctl_expect(&r, 2, "a missing --party-file");
  CONTAINS(r.err, "--party-file /nonexistent/parties.txt: No such file or directory");
  mctl_free(&r);
  f = fopen(path, "w");
  assert_non_null(f);
  fputs("# nobody yet\n\n", f);
  fclose(f);
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "relationship", "--community",
           "kongque", "--source", "police_call", "--party-file", path);
  mctl_expect(&r, 2, "an empty --party-file");
  CONTAINS(r.err, "no party in it");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "relationship", "--community",
           "kongque", "--source", "police_call", "--party-file", "-", "--party-file", "-");
  mctl_expect(&r, 2, "standard input twice");
  CONTAINS(r.err, "standard input can be read only once");
  mctl_free(&r);
  pthread_mutex_lock(&lock);
  assert_string_equal(last_method, "");
  pthread_mutex_unlock(&lock);
  unlink(path);
}

static void test_steps_build_their_actions(void **state) {
  (void)state;
  set_mode(MODE_APPLIED);
  const char *id = "BH-2026-000042";
  Mediation__V1__DeskActRequest *q;

  q = ACT("接收（accept）", "accept", id, "--person", "马德顺");
  assert_int_equal(q->action->kind, MV_ACTION(ACCEPT));
  assert_string_equal(q->action->case_ref, id);
  assert_string_equal(q->action->person, "马德顺");
  assert_int_equal(q->action->args_case, MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET);
  done(q);

  q = ACT("原因：不属于本所受理范围", "refuse", "PS-2026-0007", "--reason", "不属于本所受理范围");
  assert_int_equal(q->action->kind, MV_ACTION(REFUSE));
  assert_string_equal(q->action->case_ref, "PS-2026-0007"); /* the unit's own reference */
  assert_string_equal(q->action->reason, "不属于本所受理范围");
  done(q);

  q = ACT("流转 → 宋大姐调解工作室", "transfer", id, "--to", "宋大姐调解工作室", "--reason",
          "家庭纠纷");
  assert_int_equal(q->action->kind, MV_ACTION(TRANSFER));
  assert_int_equal(q->action->args_case, MV_ARGS(TO_UNIT));
  assert_string_equal(q->action->to_unit, "marriage-studio");
  done(q);

  q = ACT(NULL, "transfer", id, "--reason", "按单位规则流转");
  assert_int_equal(q->action->args_case, MV_ARGS(TO_UNIT));
  assert_string_equal(q->action->to_unit, ""); /* the unit's policy chooses */
  done(q);

  q = ACT("撤回流转（recall）", "recall", id, "--reason", "误转");
  assert_int_equal(q->action->kind, MV_ACTION(RECALL)); /* with --unit: through the Desk */
  done(q);

  q = ACT("开始调处（start_mediation）", "start", id);
  assert_int_equal(q->action->kind, MV_ACTION(START_MEDIATION));
  done(q);

  q = ACT("指派（assign） 心理咨询师 林静", "assign", id, "--role", "心理咨询师", "--person", "林静");
  assert_int_equal(q->action->kind, MV_ACTION(ASSIGN));
  assert_int_equal(q->action->member->role, MV_ROLE(COUNSELLOR));
  assert_string_equal(q->action->member->person, "林静");
  assert_string_equal(q->action->person, "");
  done(q);

  q = ACT(NULL, "assign", id, "--role", "mediator");
  assert_string_equal(q->action->member->person, ""); /* the policy chooses by load */
  done(q);

  q = ACT("解除指派（release）", "release", id, "--role", "lawyer", "--person", "郑浩");
  assert_int_equal(q->action->kind, MV_ACTION(RELEASE));
  assert_int_equal(q->action->member->role, MV_ROLE(LAWYER));
  assert_string_equal(q->action->member->person, "郑浩");
  done(q);

  q = ACT("2026-03-05 10:00 双方到场", "session", id, "--note", "双方到场", "--at",
          "2026-03-05 10:00");
  assert_int_equal(q->action->kind, MV_ACTION(RECORD_SESSION));
  assert_int_equal(q->action->session->held_ms, 1772676000000LL);
  assert_string_equal(q->action->session->note, "双方到场");
  done(q);

  q = ACT("达成协议，协议金额20000.00元，实体化解：按月支付", "outcome", id, "--agreement",
          "--amount-yuan", "20000", "--resolution", "实体化解", "--summary", "按月支付",
          "--followup-due", "2026-04-05");
  assert_int_equal(q->action->kind, MV_ACTION(RECORD_OUTCOME));
  assert_int_equal(q->action->outcome->kind, MV_OUTCOME(AGREEMENT));
  assert_int_equal(q->action->outcome->agreed_amount_fen, 2000000);
  assert_int_equal(q->action->outcome->resolution, MV_RESOLUTION(IN_SUBSTANCE));
  assert_string_equal(q->action->outcome->summary, "按月支付");
  assert_int_equal(q->action->outcome->followup_due_ms, 1775318400000LL); /* 04-05 00:00 +08 */
  done(q);

  q = ACT("调解不成", "outcome", id, "--no-agreement");
  assert_int_equal(q->action->outcome->kind, MV_OUTCOME(NO_AGREEMENT));
  assert_int_equal(q->action->outcome->agreed_amount_fen, 0);
  done(q);

  q = ACT("转诉讼（send_to_litigation）", "litigate", id, "--reason", "当事人要求起诉");
  assert_int_equal(q->action->kind, MV_ACTION(SEND_TO_LITIGATION));
  assert_string_equal(q->action->reason, "当事人要求起诉");
  done(q);

  q = ACT("法院调解，金额60000.00元", "court-result", id, "--result", "法院调解", "--amount-yuan",
          "60000", "--summary", "分期给付");
  assert_int_equal(q->action->court_result->kind, MV_COURT(COURT_MEDIATION));
  assert_int_equal(q->action->court_result->amount_fen, 6000000);
  done(q);

  q = ACT("基本满意，回访 2026-03-20 15:30：已履行", "feedback", id, "--satisfaction",
          "basically_satisfied", "--visited", "2026-03-20 15:30", "--note", "已履行");
  assert_int_equal(q->action->feedback->satisfaction, MV_SATISFACTION(BASICALLY_SATISFIED));
  assert_int_equal(q->action->feedback->visited_ms, 1773991800000LL);
  assert_string_equal(q->action->feedback->note, "已履行");
  done(q);

  int64_t before = mc_now_ms();
  q = ACT("满意", "feedback", id, "--satisfaction", "满意");
  assert_true(q->action->feedback->visited_ms >= before); /* default: now */
  done(q);

  static const struct {
    const char *cmd;
    mv_action_kind kind;
    bool reason;
  } plain[] = {
      {"close", MV_ACTION(CLOSE), false},
      {"reopen", MV_ACTION(REOPEN), true},
      {"withdraw", MV_ACTION(WITHDRAW), true},
      {"legal-aid", MV_ACTION(GRANT_LEGAL_AID), false},
  };
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
    q = plain[i].reason ? ACT(NULL, plain[i].cmd, id, "--reason", "当事人申请")
                        : ACT(NULL, plain[i].cmd, id);
    assert_int_equal(q->action->kind, plain[i].kind);
    assert_string_equal(q->action->reason, plain[i].reason ? "当事人申请" : "");
    done(q);
  }
}

static void test_queued_refused_and_policy_steps(void **state) {
  (void)state;
  set_mode(MODE_QUEUED);
  mctl_result r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 0, "queued");
  CONTAINS(r.out, "接收（accept）：已排队，待转发（出件箱 #17）");
  CONTAINS(r.out, "本地副本");
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "--json", "start", "BH-2026-000042");
  mctl_expect(&r, 0, "queued --json");
  json_object *q = mctl_json(&r);
  assert_string_equal(jstr(q, "steps[0].action.kind"), "start_mediation");
  assert_string_equal(jstr(q, "steps[0].disposition"), "queued");
  assert_int_equal(jint(q, "steps[0].outbox_seq"), 17);
  assert_true(jbool(q, "stale"));
  json_object_put(q);
  mctl_free(&r);

  set_mode(MODE_REFUSED);
  r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 3, "refused");
  assert_string_equal(r.err, "mediactl: refused: FAILED_PRECONDITION: case BH-2026-000042 is in "
                             "受理 (intake); accept is allowed only in 流转 (transfer)\n");
  assert_string_equal(r.out, "");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "--json", "accept", "BH-2026-000042");
  mctl_expect(&r, 3, "refused --json");
  json_object *j = mctl_json(&r); /* the Desk's answer, for scripts */
  assert_string_equal(jstr(j, "steps[0].disposition"), "refused");
  assert_string_equal(jstr(j, "steps[0].code"), "FAILED_PRECONDITION");
  json_object_put(j);
  CONTAINS(r.err, "mediactl: refused: FAILED_PRECONDITION:");
  mctl_free(&r);

  set_mode(MODE_DENIED);
  r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 5, "denied");
  CONTAINS(r.err, "mediactl: denied: PERMISSION_DENIED: case BH-2026-000042: accept");
  mctl_free(&r);

  set_mode(MODE_POLICY);
  r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 0, "policy");
  CONTAINS(r.out, "  接收（accept）：已生效\n");
  CONTAINS(r.out, "  单位规则 指派（assign） 人民调解员 周晓梅：已生效\n");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "--json", "accept", "BH-2026-000042");
  mctl_expect(&r, 0, "policy --json");
  j = mctl_json(&r);
  assert_int_equal(jlen(j, "steps"), 2);
  assert_string_equal(jstr(j, "steps[0].action.kind"), "accept");
  assert_string_equal(jstr(j, "steps[0].disposition"), "applied");
  assert_string_equal(jstr(j, "steps[1].action.member.role"), "mediator");
  assert_string_equal(jstr(j, "steps[1].action.member.person"), "周晓梅");
  assert_string_equal(jstr(j, "case_record.state"), "intake");
  json_object_put(j);
  mctl_free(&r);
  set_mode(MODE_APPLIED);
}

/* Issue 13.4: the operator's step applied while the step the unit's policy
 * added was refused, or is still queued, is not a plain success. */
static void test_partial_results_are_not_success(void **state) {
  (void)state;
  set_mode(MODE_POLICY_REFUSED);
  mctl_result r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 6, "policy step refused");
  CONTAINS(r.out, "  接收（accept）：已生效\n");
  CONTAINS(r.out, "  单位规则 指派（assign） 人民调解员 周晓梅：被拒绝：RESOURCE_EXHAUSTED：");
  assert_string_equal(r.err, "mediactl: partly done: 1 step(s) the unit's policy added were "
                             "refused, first assign: RESOURCE_EXHAUSTED: case BH-2026-000042: "
                             "the team holds the most entries allowed (max_team 16)\n");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "--json", "accept", "BH-2026-000042");
  mctl_expect(&r, 6, "policy step refused --json");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "steps[0].disposition"), "applied");
  assert_string_equal(jstr(j, "steps[1].disposition"), "refused");
  assert_string_equal(jstr(j, "steps[1].code"), "RESOURCE_EXHAUSTED");
  json_object_put(j);
  mctl_free(&r);

  set_mode(MODE_POLICY_QUEUED);
  r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 7, "policy step queued");
  CONTAINS(r.out, "  单位规则 指派（assign） 人民调解员 周晓梅：已排队，待转发（出件箱 #18）");
  CONTAINS(r.err, "mediactl: partly applied: 1 step(s) the unit's policy added are still queued, "
                  "first assign (outbox #18)");
  mctl_free(&r);

  /* The router unreachable: the step and its policy's wait together. */
  set_mode(MODE_ALL_QUEUED);
  r = MCTL(conf, "--unit", "police-studio", "accept", "BH-2026-000042");
  mctl_expect(&r, 0, "all queued");
  CONTAINS(r.out, "  接收（accept）：已排队，待转发（出件箱 #17）");
  assert_string_equal(r.err, "");
  mctl_free(&r);
  set_mode(MODE_APPLIED);
}

static void test_unit_lists(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "police-studio", "inbox");
  mctl_expect(&r, 0, "inbox");
  char *line = mctl_line_with(r.out, "BH-2026-000050");
  assert_non_null(line);
  CONTAINS(line, "宋大姐调解工作室");
  CONTAINS(line, "邻里纠纷");
  CONTAINS(line, "白鹤社区");
  CONTAINS(line, "300.00");
  CONTAINS(line, "2026-03-05 10:00");
  CONTAINS(line, "不属于婚姻家庭纠纷，转回");
  free(line);
  mctl_expect_aligned_right(r.out, "案件编号", 4);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "inbox", "--json");
  mctl_expect(&r, 0, "inbox --json");
  expect_reads_back(&r, &mediation__v1__desk_list_reply__descriptor);
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "cases[0].case_record.transfer.from_unit"), "marriage-studio");
  assert_string_equal(jstr(j, "cases[0].case_record.state"), "transfer");
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "cases", "--state", "流转");
  mctl_expect(&r, 0, "cases");
  CONTAINS(r.out, "BH-2026-000042");
  line = mctl_line_with(r.out, "PS-2026-0009");
  assert_non_null(line);
  CONTAINS(line, "(待分配)");
  CONTAINS(line, "待转发2步");
  free(line);
  mctl_free(&r);
  Mediation__V1__DeskListRequest *lr = (Mediation__V1__DeskListRequest *)last(
      "ListCases", &mediation__v1__desk_list_request__descriptor);
  assert_int_equal(lr->state, MV_STATE(TRANSFER));
  protobuf_c_message_free_unpacked(&lr->base, NULL);
  r = MCTL(conf, "--unit", "police-studio", "cases", "--json");
  mctl_expect(&r, 0, "cases --json");
  expect_reads_back(&r, &mediation__v1__desk_list_reply__descriptor);
  j = mctl_json(&r);
  assert_int_equal(jlen(j, "cases"), 2);
  assert_string_equal(jstr(j, "cases[1].case_record.id"), "");
  assert_string_equal(jstr(j, "cases[1].case_record.intake.unit_ref"), "PS-2026-0009");
  assert_true(jbool(j, "cases[1].stale"));
  assert_int_equal(jint(j, "cases[1].queued_steps"), 2);
  json_object_put(j);
  mctl_free(&r);
  lr = (Mediation__V1__DeskListRequest *)last("ListCases",
                                              &mediation__v1__desk_list_request__descriptor);
  assert_int_equal(lr->state, MV_STATE(UNSPECIFIED)); /* no --state: all */
  assert_string_equal(lr->cursor, "1");  /* the second page was asked for */
  assert_int_equal(lr->page_size, 500);  /* at the largest page ([limits] page_size_max) */
  protobuf_c_message_free_unpacked(&lr->base, NULL);

  r = MCTL(conf, "--unit", "police-studio", "conflicts");
  mctl_expect(&r, 0, "conflicts");
  line = mctl_line_with(r.out, "BH-2026-000051");
  assert_non_null(line);
  CONTAINS(line, "接收（accept）");
  CONTAINS(line, "FAILED_PRECONDITION");
  CONTAINS(line, "was recalled by its sender");
  free(line);
  CONTAINS(r.out, "出件箱待转发：3 步");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "--json", "conflicts");
  mctl_expect(&r, 0, "conflicts --json");
  expect_reads_back(&r, &mediation__v1__desk_conflicts_reply__descriptor);
  j = mctl_json(&r);
  assert_int_equal(jint(j, "conflicts[0].outbox_seq"), 7);
  assert_string_equal(jstr(j, "conflicts[0].code"), "FAILED_PRECONDITION");
  assert_int_equal(jint(j, "outbox_pending"), 3);
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "dismiss", "7");
  mctl_expect(&r, 0, "dismiss");
  CONTAINS(r.out, "已清除冲突 #7");
  mctl_free(&r);
  Mediation__V1__DeskDismissRequest *dr = (Mediation__V1__DeskDismissRequest *)last(
      "DismissConflict", &mediation__v1__desk_dismiss_request__descriptor);
  assert_int_equal(dr->outbox_seq, 7);
  protobuf_c_message_free_unpacked(&dr->base, NULL);
  r = MCTL(conf, "--unit", "police-studio", "--json", "dismiss", "8");
  mctl_expect(&r, 0, "dismiss --json");
  j = mctl_json(&r);
  assert_int_equal(json_object_object_length(j), 0); /* DeskDismissReply has no fields */
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "dismiss", "99");
  mctl_expect(&r, 3, "dismiss unknown");
  assert_string_equal(r.err, "mediactl: refused: NOT_FOUND: no conflict 99 (dismissed already?)\n");
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "roster");
  mctl_expect(&r, 0, "roster");
  line = mctl_line_with(r.out, "刘建平");
  assert_non_null(line);
  CONTAINS(line, "人民调解员");
  CONTAINS(line, "11");
  free(line);
  mctl_expect_aligned_right(r.out, "在办案件", 2);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "roster", "--json");
  mctl_expect(&r, 0, "roster --json");
  expect_reads_back(&r, &mediation__v1__desk_roster_reply__descriptor);
  j = mctl_json(&r);
  assert_int_equal(jlen(j, "members"), 2);
  assert_string_equal(jstr(j, "members[0].role"), "mediator");
  assert_int_equal(jint(j, "members[0].active_cases"), 3);
  json_object_put(j);
  mctl_free(&r);
}

static void test_show_through_the_desk(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "police-studio", "show", "PS-2026-0007", "--timeline");
  mctl_expect(&r, 0, "show --unit");
  CONTAINS(r.out, "13800001234"); /* the holding unit sees the phone */
  CONTAINS(r.out, "本单位的本地副本，最后同步于 2026-03-05 11:00");
  CONTAINS(r.out, "案卷（2步）");
  CONTAINS(r.out, "大石头调解工作室 马德顺");
  CONTAINS(r.out, "受理 → 调处");
  mctl_free(&r);
  Mediation__V1__DeskShowRequest *sr = (Mediation__V1__DeskShowRequest *)last(
      "ShowCase", &mediation__v1__desk_show_request__descriptor);
  assert_string_equal(sr->case_ref, "PS-2026-0007");
  assert_true(sr->with_timeline);
  protobuf_c_message_free_unpacked(&sr->base, NULL);

  r = MCTL(conf, "--unit", "police-studio", "--json", "show", "PS-2026-0007");
  mctl_expect(&r, 0, "show --unit --json");
  json_object *j = mctl_json(&r);
  assert_true(jbool(j, "stale"));
  assert_int_equal(jlen(j, "events"), 0);
  assert_string_equal(jstr(j, "case_record.intake.parties[0].id_number"), "330212199001011232");
  json_object_put(j);
  mctl_free(&r);
}

static void test_search_through_the_desk(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "police-studio", "search", "林某", "--limit", "5",
                       "--person", "吴警官");
  mctl_expect(&r, 0, "search --unit");
  CONTAINS(r.out, "路由不可达");
  CONTAINS(r.out, "BH-2026-000009 (PS-2026-0009)");
  CONTAINS(r.out, "当事人");
  CONTAINS(r.out, "调处");
  CONTAINS(r.out, "孔雀社区");
  CONTAINS(r.out, "BH-2026-000003");
  CONTAINS(r.out, "共 1 件");
  mctl_free(&r);
  Mediation__V1__SearchRequest *sr = (Mediation__V1__SearchRequest *)last(
      "Search", &mediation__v1__search_request__descriptor);
  assert_string_equal(sr->text, "林某");
  assert_int_equal(sr->page_size, 5);
  assert_string_equal(sr->person, "吴警官");
  protobuf_c_message_free_unpacked(&sr->base, NULL);
  r = MCTL(conf, "--unit", "police-studio", "--json", "search", "林某");
  mctl_expect(&r, 0, "search --unit --json");
  json_object *j = mctl_json(&r);
  assert_true(jbool(j, "local"));
  assert_string_equal(jstr(j, "hits[0].matched"), "party_name");
  json_object_put(j);
  mctl_free(&r);
}

static void test_health_and_methods_of_a_unit(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "police-studio", "health");
  mctl_expect(&r, 0, "unit health");
  CONTAINS(r.out, "SERVING");
  CONTAINS(r.out, "fake-desk test");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "methods");
  mctl_expect(&r, 0, "unit methods");
  CONTAINS(r.out, "mediation.v1.Desk");
  CONTAINS(r.out, "mediation.v1.DeskTakeInRequest");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "--json", "health");
  mctl_expect(&r, 0, "unit health --json");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "status"), "serving");
  assert_string_equal(jstr(j, "server"), "fake-desk");
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "--json", "methods");
  mctl_expect(&r, 0, "unit methods --json");
  j = mctl_json(&r);
  bool desk_found = false;
  for (size_t i = 0; i < jlen(j, "services"); i++) {
    char path[64];
    snprintf(path, sizeof(path), "services[%zu].name", i);
    desk_found |= strcmp(jstr(j, path), "mediation.v1.Desk") == 0;
  }
  assert_true(desk_found);
  json_object_put(j);
  mctl_free(&r);
  /* Not serving: exit 4 after printing what it said. */
  rpc_server_set_serving(desk_server, false, "outbox store unavailable");
  r = MCTL(conf, "--unit", "police-studio", "health");
  mctl_expect(&r, 4, "unit not serving");
  CONTAINS(r.out, "NOT_SERVING");
  CONTAINS(r.err, "is not serving: outbox store unavailable");
  mctl_free(&r);
  rpc_server_set_serving(desk_server, true, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_intake_builds_the_whole_intake),
      cmocka_unit_test(test_intake_party_file),
      cmocka_unit_test(test_steps_build_their_actions),
      cmocka_unit_test(test_queued_refused_and_policy_steps),
      cmocka_unit_test(test_partial_results_are_not_success),
      cmocka_unit_test(test_unit_lists),
      cmocka_unit_test(test_show_through_the_desk),
      cmocka_unit_test(test_search_through_the_desk),
      cmocka_unit_test(test_health_and_methods_of_a_unit),
  };
  return cmocka_run_group_tests_name("mediactl through a recording Desk", tests, setup, teardown);
}
