/*
 * test_mediactl.c - mediactl as coordinators and scripts use it, against a
 * real mediation-router: every router command in human and --json form,
 * usage errors (exit 2, the command's usage on stderr), refusals with the
 * router's own message (exit 3), permission (exit 5), unreachable services
 * (exit 4), and `report` stating exactly the numbers of a known set of cases.
 *
 * The cases are made by signing as the units directly (as test_router does):
 * the unit daemons are not needed to test the coordinator's side. Operator
 * commands are tested against a recording Desk (test_mediactl_desk) and,
 * once the unit daemons are built, against them (test_mediactl_units).
 *
 * Two groups, each with its own deployment: the first shares one store
 * across tests; the second creates a known set of cases once and checks
 * figures and the report against numbers computed by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "mctl.h"
#include "mv1.h"
#include "world.h"

static tw_world world;
static const char *conf;

#define ID_NUMBER "330212199001011232"
#define PHONE "13800001234"

/* ---- making cases as the units ---- */

static mc_code apply(const char *unit, mv_action *a, Mediation__V1__ApplyReply **out) {
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  rpc_client *c = tw_client(&world, unit, NULL);
  assert_non_null(c);
  mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "Apply", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("Apply %d as %s: %s: %s", a->kind, unit, mc_code_name(rc), err.msg);
  if (out != NULL)
    *out = (Mediation__V1__ApplyReply *)reply;
  else
    protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

typedef struct intake_spec {
  mv_kind kind;
  const char *community;
  Mediation__V1__Difficulty difficulty;
  Mediation__V1__Source source;
  int64_t money_fen;
  Mediation__V1__PetitionRole petition;
  uint32_t workers;
  const char *ref;
} intake_spec;

static void take_in(const char *unit, const intake_spec *s, char id[32]) {
  mv_party p[2] = {MEDIATION__V1__PARTY__INIT, MEDIATION__V1__PARTY__INIT};
  mv_party *pp[2] = {&p[0], &p[1]};
  p[0].name = "林某甲";
  p[0].role = MV_PARTY(APPLICANT);
  p[0].id_number = ID_NUMBER;
  p[0].phone = PHONE;
  p[1].name = "林某乙";
  p[1].role = MV_PARTY(RESPONDENT);
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = s->kind;
  in.community = (char *)s->community;
  in.difficulty = s->difficulty ? s->difficulty : MV_DIFFICULTY(ORDINARY);
  in.source = s->source ? s->source : MV_SOURCE(WALK_IN);
  in.money_fen = s->money_fen;
  in.petition = s->petition;
  in.workers = s->workers;
  in.parties = pp;
  in.n_parties = 2;
  in.summary = "双方因家庭琐事争执";
  in.unit_ref = (char *)(s->ref ? s->ref : "");
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  a.person = "值班员";
  Mediation__V1__ApplyReply *r = NULL;
  apply(unit, &a, &r);
  snprintf(id, 32, "%s", r->case_record->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void step(const char *unit, const char *id, mv_action_kind kind, const char *reason,
                 const char *to_unit) {
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = kind;
  a.case_ref = (char *)id;
  a.reason = (char *)(reason ? reason : "");
  if (to_unit != NULL) {
    a.args_case = MV_ARGS(TO_UNIT);
    a.to_unit = (char *)to_unit;
  }
  apply(unit, &a, NULL);
}

static void assign(const char *unit, const char *id, Mediation__V1__TeamRole role,
                   const char *person) {
  mv_member m = MEDIATION__V1__TEAM_MEMBER__INIT;
  m.role = role;
  m.person = (char *)person;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(ASSIGN);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(MEMBER);
  a.member = &m;
  apply(unit, &a, NULL);
}

static void session(const char *unit, const char *id) {
  Mediation__V1__Session s = MEDIATION__V1__SESSION__INIT;
  s.held_ms = mc_now_ms();
  s.note = "第一次调解";
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_SESSION);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(SESSION);
  a.session = &s;
  apply(unit, &a, NULL);
}

static void outcome(const char *unit, const char *id, bool agreement, int64_t amount_fen,
                    Mediation__V1__Resolution resolution) {
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = agreement ? MV_OUTCOME(AGREEMENT) : MV_OUTCOME(NO_AGREEMENT);
  o.agreed_amount_fen = amount_fen;
  o.resolution = resolution;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_OUTCOME);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(OUTCOME);
  a.outcome = &o;
  apply(unit, &a, NULL);
}

static void court(const char *unit, const char *id, int64_t amount_fen) {
  Mediation__V1__CourtResult r = MEDIATION__V1__COURT_RESULT__INIT;
  r.kind = MV_COURT(JUDGMENT);
  r.amount_fen = amount_fen;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_COURT_RESULT);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(COURT_RESULT);
  a.court_result = &r;
  apply(unit, &a, NULL);
}

static void feedback(const char *unit, const char *id, Mediation__V1__Satisfaction s) {
  Mediation__V1__Feedback f = MEDIATION__V1__FEEDBACK__INIT;
  f.satisfaction = s;
  f.visited_ms = mc_now_ms();
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(RECORD_FEEDBACK);
  a.case_ref = (char *)id;
  a.args_case = MV_ARGS(FEEDBACK);
  a.feedback = &f;
  apply(unit, &a, NULL);
}

/* Pulls the unit's deliveries and signs a receipt for each. */
static void drain(const char *unit) {
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(tw_client(&world, unit, NULL), &mediation__v1__router__descriptor,
                                   "PullDeliveries", &req.base, NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__PullDeliveriesReply *p = (Mediation__V1__PullDeliveriesReply *)reply;
  for (size_t i = 0; i < p->n_deliveries; i++) {
    const mv_delivery *d = p->deliveries[i];
    mv_receipt r = MEDIATION__V1__RECEIPT__INIT;
    r.unit = (char *)unit;
    r.delivery_seq = d->seq;
    r.case_id = d->snapshot->id;
    r.event_seq = d->event->seq;
    r.received_ms = mc_now_ms();
    uint8_t sig[RPC_SIGNATURE_BYTES];
    assert_int_equal(rpc_sign_message(tw_key(&world, unit), &r.base, sig, &err), MC_OK);
    r.signature.data = sig;
    r.signature.len = sizeof(sig);
    mv_receipt *rp = &r;
    Mediation__V1__AckDeliveriesRequest ack = MEDIATION__V1__ACK_DELIVERIES_REQUEST__INIT;
    ack.receipts = &rp;
    ack.n_receipts = 1;
    ProtobufCMessage *ar = NULL;
    assert_int_equal(rpc_client_call(tw_client(&world, unit, NULL),
                                     &mediation__v1__router__descriptor, "AckDeliveries",
                                     &ack.base, NULL, &ar, &err),
                     MC_OK);
    protobuf_c_message_free_unpacked(ar, NULL);
  }
  protobuf_c_message_free_unpacked(reply, NULL);
}

static int year_now(void) {
  return mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year;
}

/* ---- fixtures ---- */

static int start_world(const char *tag) {
  /* A short transfer deadline, so that `stuck` has something to show. */
  if (tw_make(&world, tag, "[deadlines]\ntransfer = 3s\n", false) != 0)
    return -1;
  conf = world.conf;
  return tw_start_router(&world, NULL);
}

static int setup_shared(void **state) {
  (void)state;
  return start_world("mediactl");
}

static int teardown(void **state) {
  (void)state;
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  return rc == 0 ? 0 : -1;
}

/* ---- group 1: one store shared by these tests ---- */

static void test_usage_errors(void **state) {
  (void)state;
  mctl_result r = MCTL(NULL, "--help");
  mctl_expect(&r, 0, "--help");
  CONTAINS(r.out, "Usage: mediactl [global options] <command>");
  CONTAINS(r.out, "report");
  CONTAINS(r.out, "Exit codes:");
  CONTAINS(r.out, "5  not allowed");
  mctl_free(&r);

  r = MCTL(NULL, "help", "show");
  mctl_expect(&r, 0, "help show");
  CONTAINS(r.out, "Usage: mediactl [--unit UNIT] show CASE [--timeline]");
  mctl_free(&r);
  r = MCTL(NULL, "outcome", "--help");
  mctl_expect(&r, 0, "outcome --help");
  CONTAINS(r.out, "--no-agreement");
  mctl_free(&r);
  /* list --help describes the order the router really lists in. */
  r = MCTL(NULL, "list", "--help");
  mctl_expect(&r, 0, "list --help");
  CONTAINS(r.out, "grouped by state (intake, transfer, mediation, feedback,");
  assert_null(strstr(r.out, "Lists cases, oldest first"));
  mctl_free(&r);
  r = MCTL(NULL, "--version");
  mctl_expect(&r, 0, "--version");
  CONTAINS(r.out, "mediactl ");
  mctl_free(&r);

  /* Each wrong command line: exit 2, a message, the command's usage. */
  static const struct {
    const char *args[8];
    const char *message;
    const char *usage;
  } bad[] = {
      {{"frobnicate"}, "no command \"frobnicate\"", "mediactl --help"},
      {{"show"}, "expected CASE", "Usage: mediactl [--unit UNIT] show CASE"},
      {{"show", "A", "B"}, "unexpected argument \"B\"", "show CASE"},
      {{"list", "--state", "nonsense"}, "--state: expected one of intake (受理)", "Usage: mediactl list"},
      {{"list", "--frobnicate"}, "unknown option --frobnicate", "Usage: mediactl list"},
      {{"list", "--limit"}, "option --limit needs a value", "Usage: mediactl list"},
      {{"list", "--limit", "0"}, "--limit:", "Usage: mediactl list"},
      {{"list", "--from", "2026-02-30"}, "--from: expected a date", "Usage: mediactl list"},
      {{"--timeout", "soon", "list"}, "--timeout: expected a number of seconds more than 0", "Usage"},
      /* Every bound a --timeout meets is the deployment's, said once. */
      {{"--timeout", "0", "list"}, "--timeout: expected a number of seconds more than 0", "Usage"},
      {{"--timeout", "1000", "list"},
       "--timeout: at most 600 seconds in this deployment ([limits] max_deadline_ahead_seconds)",
       "Usage"},
      {{"--timeout", "1e300", "list"}, "--timeout: at most 600 seconds in this deployment", "Usage"},
      {{"figures", "--by", "planet"}, "--by: expected total, unit", "Usage: mediactl figures"},
      {{"figures", "--from-month", "13"}, "--from-month: expected 1 to 12", "Usage: mediactl figures"},
      {{"figures", "--from-month", "5", "--to-month", "3"}, "after --to-month", "figures"},
      {{"report", "--year", "twenty"}, "--year:", "Usage: mediactl report"},
      {{"recall", "BH-2026-000001"}, "--reason is required", "Usage: mediactl [--unit UNIT] recall"},
      {{"accept", "BH-2026-000001"}, "--unit UNIT is required", "Usage: mediactl --unit UNIT accept"},
      {{"accept", "BH-2026-000001", "--reason", "x"}, "unknown option --reason", "accept CASE"},
      {{"--unit", "police-studio", "list"}, "--unit does not apply: list asks the router",
       "Usage: mediactl list"},
      {{"--unit", "nowhere", "inbox"}, "--unit: no unit \"nowhere\"", "Usage: mediactl --unit UNIT inbox"},
      {{"--unit", "police-studio", "transfer", "X", "--to", "court", "--reason", "r"},
       "--to: no unit \"court\"", "transfer CASE"},
      {{"--unit", "police-studio", "outcome", "X", "--no-agreement", "--amount-yuan", "5"},
       "--amount-yuan goes with --agreement", "outcome CASE"},
      {{"--unit", "police-studio", "outcome", "X", "--agreement", "--amount-yuan", "5.555"},
       "--amount-yuan: expected yuan", "outcome CASE"},
      {{"--unit", "police-studio", "session", "X", "--note", "n", "--at", "yesterday"},
       "--at: expected now", "session CASE"},
      {{"--unit", "police-studio", "dismiss", "seven"}, "SEQ: expected", "dismiss SEQ"},
      {{"--unit", "police-studio", "intake", "--kind", "divorce"}, "--community is required", "intake"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    r = mctl_run(conf, bad[i].args);
    mctl_expect(&r, 2, bad[i].args[0]);
    CONTAINS(r.err, bad[i].message);
    CONTAINS(r.err, bad[i].usage);
    assert_string_equal(r.out, "");
    mctl_free(&r);
  }

  /* A bad --party is reported without repeating it: it is personal data. */
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "divorce", "--community", "wangai",
           "--source", "walk_in", "--party", "boss:张秘密:" ID_NUMBER);
  mctl_expect(&r, 2, "bad party");
  CONTAINS(r.err, "--party (number 1): expected role:name");
  LACKS(r.err, "张秘密");
  LACKS(r.err, ID_NUMBER);
  mctl_free(&r);

  /* A configuration that cannot be read: exit 1. */
  r = MCTL("/nonexistent/mediation.conf", "list");
  mctl_expect(&r, 1, "missing config");
  CONTAINS(r.err, "mediactl: configuration:");
  mctl_free(&r);
  /* A principal without a key here: exit 1, naming it. */
  r = MCTL(conf, "--as", "nobody", "list");
  mctl_expect(&r, 1, "no key");
  CONTAINS(r.err, "the key of nobody");
  mctl_free(&r);
}

static void test_health_and_methods(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "health");
  mctl_expect(&r, 0, "health");
  CONTAINS(r.out, "SERVING（服务中）");
  CONTAINS(r.out, "mediation-router");
  CONTAINS(r.out, world.reg->router.endpoint);
  mctl_free(&r);

  r = MCTL(conf, "health", "--json");
  mctl_expect(&r, 0, "health --json");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "status"), "serving");
  assert_string_equal(jstr(j, "server"), "mediation-router");
  assert_true(jint(j, "started_ms") > 0);
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "methods");
  mctl_expect(&r, 0, "methods");
  CONTAINS(r.out, "mediation.v1.Router");
  CONTAINS(r.out, "mediation.v1.ApplyRequest");
  CONTAINS(r.out, "mediation.v1.RouterAdmin");
  mctl_free(&r);

  r = MCTL(conf, "--json", "methods");
  mctl_expect(&r, 0, "methods --json");
  j = mctl_json(&r);
  bool apply_found = false;
  for (size_t i = 0; i < jlen(j, "services"); i++) {
    char path[64];
    snprintf(path, sizeof(path), "services[%zu]", i);
    json_object *svc = jpath(j, path);
    if (strcmp(jstr(svc, "name"), "mediation.v1.Router") != 0)
      continue;
    for (size_t k = 0; k < jlen(svc, "methods"); k++) {
      snprintf(path, sizeof(path), "methods[%zu]", k);
      json_object *m = jpath(svc, path);
      apply_found |= strcmp(jstr(m, "name"), "Apply") == 0 &&
                     strcmp(jstr(m, "input_type"), "mediation.v1.ApplyRequest") == 0;
    }
  }
  assert_true(apply_found);
  json_object_put(j);
  mctl_free(&r);
}

/* Scenario 1's first half, then the coordinator looks at the case. */
static void test_show_case_and_timeline(void **state) {
  (void)state;
  char id[32];
  intake_spec s = {.kind = MV_KIND(RELATIONSHIP), .community = "kongque",
                   .source = MV_SOURCE(POLICE_CALL), .money_fen = 123456, .ref = "PS-2026-0001"};
  take_in("police-studio", &s, id);
  step("police-studio", id, MV_ACTION(TRANSFER), "家庭纠纷，转婚调溯源调解", "marriage-studio");
  drain("marriage-studio");
  step("marriage-studio", id, MV_ACTION(ACCEPT), NULL, NULL);
  assign("marriage-studio", id, MV_ROLE(MEDIATOR), "周晓梅");

  mctl_result r = MCTL(conf, "show", id);
  mctl_expect(&r, 0, "show");
  CONTAINS(r.out, id);
  CONTAINS(r.out, "PS-2026-0001");
  CONTAINS(r.out, "受理 (intake)");
  CONTAINS(r.out, "宋大姐调解工作室 (marriage-studio)");
  CONTAINS(r.out, "感情纠纷，一般");
  CONTAINS(r.out, "110报警");
  CONTAINS(r.out, "孔雀社区");
  CONTAINS(r.out, "1234.56元");
  CONTAINS(r.out, "申请人 林某甲  身份证 3302************32  电话 138****1234");
  CONTAINS(r.out, "人民调解员");
  CONTAINS(r.out, "周晓梅");
  CONTAINS(r.out, "大石头调解工作室 → 宋大姐调解工作室");
  CONTAINS(r.out, "已遮蔽");
  LACKS(r.out, PHONE);
  LACKS(r.out, ID_NUMBER);
  LACKS(r.out, "案卷（"); /* no timeline unless asked */
  mctl_free(&r);

  r = MCTL(conf, "show", id, "--timeline");
  mctl_expect(&r, 0, "show --timeline");
  CONTAINS(r.out, "案卷（5步）");
  CONTAINS(r.out, "大石头调解工作室 值班员");
  CONTAINS(r.out, "受理 → 流转");
  CONTAINS(r.out, "移交宋大姐调解工作室；原因：家庭纠纷，转婚调溯源调解");
  CONTAINS(r.out, "宋大姐调解工作室签收");
  CONTAINS(r.out, "接收大石头调解工作室的移交");
  CONTAINS(r.out, "人民调解员 周晓梅");
  CONTAINS(r.out, "系统");
  mctl_free(&r);

  r = MCTL(conf, "--json", "show", "--timeline", id);
  mctl_expect(&r, 0, "show --json");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "case_record.id"), id);
  assert_string_equal(jstr(j, "case_record.state"), "intake");
  assert_string_equal(jstr(j, "case_record.holder"), "marriage-studio");
  assert_string_equal(jstr(j, "case_record.intake.kind"), "relationship");
  assert_string_equal(jstr(j, "case_record.intake.source"), "police_call");
  assert_int_equal(jint(j, "case_record.intake.money_fen"), 123456);
  assert_string_equal(jstr(j, "case_record.intake.parties[0].phone"), "138****1234");
  assert_string_equal(jstr(j, "case_record.intake.parties[0].role"), "applicant");
  assert_string_equal(jstr(j, "case_record.team[0].role"), "mediator");
  assert_null(jpath(j, "case_record.outcome")); /* absent sub-message: null */
  assert_true(jbool(j, "masked"));
  assert_int_equal(jlen(j, "events"), 5);
  assert_string_equal(jstr(j, "events[0].action.kind"), "take_in");
  assert_string_equal(jstr(j, "events[0].prev_hash"), "");
  assert_string_equal(jstr(j, "events[1].action.kind"), "transfer");
  assert_string_equal(jstr(j, "events[1].action.to_unit"), "marriage-studio");
  assert_string_equal(jstr(j, "events[1].action.reason"), "家庭纠纷，转婚调溯源调解");
  assert_string_equal(jstr(j, "events[1].actor.kind"), "unit");
  assert_string_equal(jstr(j, "events[1].actor.id"), "police-studio");
  assert_string_equal(jstr(j, "events[1].from_state"), "intake");
  assert_string_equal(jstr(j, "events[1].to_state"), "transfer");
  assert_int_equal(strlen(jstr(j, "events[1].prev_hash")), 64); /* SHA-256, hex */
  assert_string_equal(jstr(j, "events[2].actor.kind"), "system");
  assert_string_equal(jstr(j, "events[2].action.receipt.unit"), "marriage-studio");
  json_object_put(j);
  mctl_free(&r);

  /* By the unit's own reference, naming the reader (kept in the access log). */
  r = MCTL(conf, "show", "police-studio:PS-2026-0001", "--person", "郑科长");
  mctl_expect(&r, 0, "show UNIT:REF");
  CONTAINS(r.out, id);
  mctl_free(&r);

  /* No such case: the router's refusal, exit 3, nothing on stdout. */
  r = MCTL(conf, "--json", "show", "BH-2020-999999");
  mctl_expect(&r, 3, "show missing");
  assert_string_equal(r.out, "");
  CONTAINS(r.err, "mediactl: refused: NOT_FOUND: ");
  mctl_free(&r);

  /* Another community's station may not read it: exit 5. */
  r = MCTL(conf, "--as", "station-wangai", "show", id);
  mctl_expect(&r, 5, "show as another community");
  CONTAINS(r.err, "mediactl: denied: PERMISSION_DENIED: station-wangai may not see case");
  mctl_free(&r);
  drain("police-studio");

  /* Every read above is in the access log (written with the router's next
   * commit, so give it a moment): who read the case, and how much of it. */
  int tries = 0;
  for (;;) {
    r = MCTL(conf, "--json", "access-log", "--case", id);
    mctl_expect(&r, 0, "access-log --json");
    j = mctl_json(&r);
    size_t n = jlen(j, "records");
    if (n >= 4 || ++tries > 50) {
      assert_true(n >= 4); /* show, show --timeline, --json show --timeline, show UNIT:REF */
      assert_string_equal(jstr(j, "records[0].case_id"), id);
      assert_string_equal(jstr(j, "records[0].who.kind"), "coordinator");
      assert_string_equal(jstr(j, "records[0].method"), "GetCase");
      assert_false(jbool(j, "records[0].timeline"));
      assert_true(jbool(j, "records[1].timeline"));
      assert_string_equal(jstr(j, "records[0].who.person"), "");
      assert_string_equal(jstr(j, "records[3].who.person"), "郑科长");
      json_object_put(j);
      mctl_free(&r);
      break;
    }
    json_object_put(j);
    mctl_free(&r);
    usleep(100 * 1000);
  }
  r = MCTL(conf, "access-log", "--case", id, "--who", "coordinator");
  mctl_expect(&r, 0, "access-log");
  CONTAINS(r.out, "查阅者");
  CONTAINS(r.out, id);
  CONTAINS(r.out, "案卷全部");
  CONTAINS(r.out, "案件概况");
  CONTAINS(r.out, "郑科长");
  mctl_free(&r);
  /* The denied read by another station was not a read: it is not logged. */
  r = MCTL(conf, "--json", "access-log", "--case", id, "--who", "station-wangai");
  mctl_expect(&r, 0, "access-log --who");
  j = mctl_json(&r);
  assert_int_equal(jlen(j, "records"), 0);
  json_object_put(j);
  mctl_free(&r);
  /* Only coordinators read the access log; a bad date is a usage error. */
  r = MCTL(conf, "--as", "police-studio", "access-log");
  mctl_expect(&r, 5, "access-log as a unit");
  mctl_free(&r);
  r = MCTL(conf, "access-log", "--from", "yesterday");
  mctl_expect(&r, 2, "access-log bad date");
  mctl_free(&r);
}

static void test_list_filters_and_paging(void **state) {
  (void)state;
  char ids[6][32];
  intake_spec custody = {.kind = MV_KIND(CUSTODY), .community = "wangai"};
  for (int i = 0; i < 5; i++)
    take_in("station-wangai", &custody, ids[i]);
  intake_spec divorce = {.kind = MV_KIND(DIVORCE), .community = "baihe",
                         .difficulty = MV_DIFFICULTY(DIFFICULT), .money_fen = 8600000};
  take_in("station-baihe", &divorce, ids[5]);

  /* Names and labels as well as ids; two at a time, following the cursor. */
  int seen[5] = {0}, pages = 0;
  char cursor[512] = "";
  do {
    mctl_result r = cursor[0]
                        ? MCTL(conf, "list", "--holder", "王隘社区工作站", "--kind", "抚养",
                               "--limit", "2", "--cursor", cursor)
                        : MCTL(conf, "list", "--holder", "王隘社区工作站", "--kind", "抚养",
                               "--limit", "2");
    mctl_expect(&r, 0, "list page");
    if (pages == 0) {
      CONTAINS(r.out, "案件编号");
      CONTAINS(r.out, "王隘社区工作站");
      CONTAINS(r.out, "抚养");
      mctl_expect_aligned_right(r.out, "案件编号", 5); /* 涉及金额(元), right-aligned */
    }
    for (int k = 0; k < 5; k++)
      seen[k] += strstr(r.out, ids[k]) != NULL;
    LACKS(r.out, ids[5]);
    cursor[0] = '\0';
    const char *hint = strstr(r.err, "--cursor ");
    if (hint != NULL)
      sscanf(hint + strlen("--cursor "), "%511s", cursor);
    mctl_free(&r);
    pages++;
  } while (cursor[0] != '\0' && pages < 20);
  for (int k = 0; k < 5; k++)
    assert_int_equal(seen[k], 1);
  assert_true(pages >= 3);

  mctl_result r = MCTL(conf, "list", "--json", "--holder", "station-wangai", "--limit", "2");
  mctl_expect(&r, 0, "list --json");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "cases"), 2);
  assert_string_equal(jstr(j, "cases[0].id"), ids[0]);
  assert_string_equal(jstr(j, "cases[0].holder"), "station-wangai");
  assert_string_equal(jstr(j, "cases[0].state"), "intake");
  assert_string_equal(jstr(j, "cases[0].kind"), "custody");
  assert_string_equal(jstr(j, "cases[0].community"), "wangai");
  assert_true(strlen(jstr(j, "next_cursor")) > 0);
  json_object_put(j);
  mctl_free(&r);

  /* difficulty is a column of the wide list only */
  r = MCTL(conf, "list", "--wide", "--community", "白鹤社区", "--difficulty", "difficult");
  mctl_expect(&r, 0, "list by community");
  CONTAINS(r.out, ids[5]);
  CONTAINS(r.out, "86000.00");
  CONTAINS(r.out, "疑难");
  LACKS(r.out, ids[0]);
  mctl_free(&r);

  int y = year_now();
  char from[16], to[16];
  snprintf(from, sizeof(from), "%d-01-01", y);
  snprintf(to, sizeof(to), "%d-12-31", y);
  r = MCTL(conf, "list", "--state", "受理", "--from", from, "--to", to, "--kind", "divorce");
  mctl_expect(&r, 0, "list by date");
  CONTAINS(r.out, ids[5]);
  mctl_free(&r);
  r = MCTL(conf, "list", "--from", "2001-01-01", "--to", "2001-12-31");
  mctl_expect(&r, 0, "list empty");
  CONTAINS(r.out, "没有符合条件的案件");
  mctl_free(&r);

  r = MCTL(conf, "list", "--cursor", "not-a-cursor");
  mctl_expect(&r, 3, "list bad cursor");
  CONTAINS(r.err, "mediactl: refused: INVALID_ARGUMENT: cursor");
  mctl_free(&r);
}

/* An unanswered transfer becomes stuck; the coordinator recalls it. A recall
 * the state does not allow is refused with the router's message. */
static void test_stuck_and_recall(void **state) {
  (void)state;
  char id[32], id2[32];
  intake_spec s = {.kind = MV_KIND(INHERITANCE), .community = "wangai", .money_fen = 8600000};
  take_in("police-studio", &s, id);
  step("police-studio", id, MV_ACTION(TRANSFER), "遗产纠纷转婚调", "marriage-studio");
  take_in("police-studio", &s, id2);
  step("police-studio", id2, MV_ACTION(TRANSFER), "遗产纠纷转婚调", "marriage-studio");
  sleep(4); /* the transfer deadline is 3 s here */

  mctl_result r = MCTL(conf, "stuck");
  mctl_expect(&r, 0, "stuck");
  CONTAINS(r.out, "逾期案件");
  CONTAINS(r.out, id);
  char *line = mctl_line_with(r.out, "宋大姐调解工作室");
  assert_non_null(line);
  CONTAINS(line, "流转");
  free(line);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "宋大姐调解工作室", "stuck", "--json");
  mctl_expect(&r, 0, "stuck --json");
  json_object *j = mctl_json(&r);
  assert_true(jlen(j, "groups") >= 1);
  assert_string_equal(jstr(j, "groups[0].state"), "transfer");
  assert_string_equal(jstr(j, "groups[0].unit"), "marriage-studio");
  assert_true(jint(j, "groups[0].count") >= 2);
  assert_true(jbool(j, "groups[0].oldest[0].overdue"));
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "list", "--overdue");
  mctl_expect(&r, 0, "list --overdue");
  CONTAINS(r.out, id);
  CONTAINS(r.out, "逾期");
  mctl_free(&r);

  r = MCTL(conf, "recall", id, "--reason", "逾期未接收，收回");
  mctl_expect(&r, 0, "recall");
  CONTAINS(r.out, id);
  CONTAINS(r.out, "撤回流转（recall）");
  CONTAINS(r.out, "收回对宋大姐调解工作室的移交；原因：逾期未接收，收回");
  CONTAINS(r.out, "已生效");
  mctl_free(&r);

  r = MCTL(conf, "recall", id, "--reason", "again");
  mctl_expect(&r, 3, "recall refused");
  char want[200];
  snprintf(want, sizeof(want),
           "mediactl: refused: FAILED_PRECONDITION: case %s is in 受理 (intake); recall is "
           "allowed only in 流转 (transfer)\n",
           id);
  assert_string_equal(r.err, want);
  assert_string_equal(r.out, "");
  mctl_free(&r);

  r = MCTL(conf, "--json", "recall", id2, "--reason", "收回");
  mctl_expect(&r, 0, "recall --json");
  j = mctl_json(&r);
  assert_string_equal(jstr(j, "case_record.state"), "intake");
  assert_string_equal(jstr(j, "event.action.kind"), "recall");
  assert_string_equal(jstr(j, "event.actor.kind"), "coordinator");
  assert_string_equal(jstr(j, "event.actor.id"), "coordinator");
  json_object_put(j);
  mctl_free(&r);

  /* A coordinator does not reopen a case that is not closed. */
  r = MCTL(conf, "reopen", id, "--reason", "协议未履行");
  mctl_expect(&r, 3, "reopen refused");
  CONTAINS(r.err, "mediactl: refused: FAILED_PRECONDITION: ");
  mctl_free(&r);
  drain("marriage-studio");
}

static void test_backup_and_verify(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "backup");
  mctl_expect(&r, 0, "backup");
  CONTAINS(r.out, "备份目录");
  CONTAINS(r.out, world.dir.path);
  mctl_free(&r);
  r = MCTL(conf, "backup", "--json");
  mctl_expect(&r, 0, "backup --json");
  json_object *j = mctl_json(&r);
  char file[TH_PATH_MAX + 16];
  snprintf(file, sizeof(file), "%s/data.mdb", jstr(j, "path"));
  struct stat st;
  assert_int_equal(stat(file, &st), 0);
  assert_true(jint(j, "bytes") > 0);
  json_object_put(j);
  mctl_free(&r);
  /* Units may not back the store up. */
  r = MCTL(conf, "--as", "police-studio", "backup");
  mctl_expect(&r, 5, "backup as a unit");
  CONTAINS(r.err, "mediactl: denied: PERMISSION_DENIED:");
  mctl_free(&r);

  r = MCTL(conf, "verify");
  mctl_expect(&r, 0, "verify");
  CONTAINS(r.out, "存储完好");
  mctl_free(&r);
  r = MCTL(conf, "verify", "--json");
  mctl_expect(&r, 0, "verify --json");
  j = mctl_json(&r);
  assert_int_equal(jint(j, "problems"), 0);
  json_object_put(j);
  mctl_free(&r);
}

/* The router signs: a backup makes an anchor (printed, and appended to
 * <backup_dir>/anchors), the report carries one, verify --anchor checks the
 * store against it, and an edited anchor is refused. */
static void test_anchor_kept_and_checked(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "backup");
  mctl_expect(&r, 0, "backup");
  CONTAINS(r.out, "mediation-anchor/1 at=");
  mctl_free(&r);
  char anchors[TH_PATH_MAX + 32];
  snprintf(anchors, sizeof(anchors), "%s/backups/anchors", world.dir.path);
  r = MCTL(conf, "verify", "--anchor", anchors);
  mctl_expect(&r, 0, "verify --anchor");
  CONTAINS(r.out, "存证锚点核对一致");
  mctl_free(&r);
  r = MCTL(conf, "verify", "--json");
  mctl_expect(&r, 0, "verify --json");
  json_object *j = mctl_json(&r);
  json_object *checked;
  assert_true(json_object_object_get_ex(j, "signaturesChecked", &checked) ||
              json_object_object_get_ex(j, "signatures_checked", &checked));
  assert_true(json_object_get_boolean(checked));
  json_object_put(j);
  mctl_free(&r);

  /* One hex digit of the root changed. */
  FILE *f = fopen(anchors, "r");
  assert_non_null(f);
  char line[1024];
  assert_non_null(fgets(line, sizeof(line), f));
  fclose(f);
  char *root = strstr(line, "root=");
  assert_non_null(root);
  root[5] = root[5] == '0' ? '1' : '0';
  char forged[TH_PATH_MAX + 32];
  snprintf(forged, sizeof(forged), "%s/forged-anchor", world.dir.path);
  f = fopen(forged, "w");
  assert_non_null(f);
  fputs(line, f);
  fclose(f);
  r = MCTL(conf, "verify", "--anchor", forged);
  assert_int_not_equal(r.rc, 0);
  CONTAINS(r.err, "UNAUTHENTICATED");
  mctl_free(&r);
  r = MCTL(conf, "verify", "--anchor", "/nonexistent/anchor");
  mctl_expect(&r, 1, "verify --anchor of a missing file");
  CONTAINS(r.err, "--anchor /nonexistent/anchor");
  mctl_free(&r);

  r = MCTL(conf, "report", "--year", "2026");
  mctl_expect(&r, 0, "report");
  CONTAINS(r.out, "存证锚点");
  CONTAINS(r.out, "mediation-anchor/1 at=");
  mctl_free(&r);
}

/* Nothing listens at the units' endpoints (no unit daemons here), and a
 * router endpoint nobody serves: exit 4, naming the endpoint, at once - not
 * after the default 10 s timeout (the bound is generous for a noisy
 * machine). */
static void test_unreachable(void **state) {
  (void)state;
  int64_t t0 = mc_mono_ms();
  mctl_result r = MCTL(conf, "--unit", "孔雀社区工作站", "health");
  mctl_expect(&r, 4, "health of a unit not running");
  CONTAINS(r.err, "mediactl: unreachable: UNAVAILABLE: ipc://");
  CONTAINS(r.err, "refused the connection: nothing is listening there");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "inbox");
  mctl_expect(&r, 4, "inbox of a unit not running");
  mctl_free(&r);
  int64_t took = mc_mono_ms() - t0;
  if (took >= 6000)
    fail_msg("two commands against absent units took %lld ms", (long long)took);

  char dead[TH_PATH_MAX + 32];
  snprintf(dead, sizeof(dead), "%s/dead.conf", world.dir.path);
  char *text = th_read_file(conf);
  assert_non_null(text);
  FILE *f = fopen(dead, "w");
  assert_non_null(f);
  fprintf(f, "%s\n[router]\nendpoint = ipc://%s/run/nobody.ipc\n", text, world.dir.path);
  fclose(f);
  free(text);
  t0 = mc_mono_ms();
  r = MCTL(dead, "list");
  took = mc_mono_ms() - t0;
  mctl_expect(&r, 4, "list with the router away");
  CONTAINS(r.err, "mediactl: unreachable: UNAVAILABLE:");
  CONTAINS(r.err, "nobody.ipc refused the connection");
  assert_string_equal(r.out, "");
  mctl_free(&r);
  if (took >= 3000)
    fail_msg("list with nothing at the router's endpoint took %lld ms", (long long)took);
}

/* ---- group 2: figures and the report from a known set of cases ---- */

static char case_a[32], case_b[32], case_c[32], case_d[32];

static int setup_known(void **state) {
  (void)state;
  if (start_world("mediactl-report") != 0)
    return -1;
  /* a: 王隘, elder support, difficult, a walk-in, a petition led by the
   *    subdistrict; 50 000.00 元; agreement, in fact, legal aid, satisfied,
   *    closed with a complete case file. */
  intake_spec a = {.kind = MV_KIND(ELDER_SUPPORT), .community = "wangai",
                   .difficulty = MV_DIFFICULTY(DIFFICULT), .source = MV_SOURCE(WALK_IN),
                   .money_fen = 5000000, .petition = MV_PETITION(LED)};
  take_in("station-wangai", &a, case_a);
  assign("station-wangai", case_a, MV_ROLE(MEDIATOR), "王桂芳");
  step("station-wangai", case_a, MV_ACTION(START_MEDIATION), NULL, NULL);
  session("station-wangai", case_a);
  step("station-wangai", case_a, MV_ACTION(GRANT_LEGAL_AID), NULL, NULL);
  outcome("station-wangai", case_a, true, 2000000, MV_RESOLUTION(IN_FACT));
  feedback("station-wangai", case_a, MV_SATISFACTION(SATISFIED));
  step("station-wangai", case_a, MV_ACTION(CLOSE), NULL, NULL);
  /* b: 白鹤, labour, 12 workers, by letter; 73 456.78 元; to court without a
   *    mediator on the file (incomplete), judgment, dissatisfied, closed. */
  intake_spec b = {.kind = MV_KIND(LABOUR), .community = "baihe",
                   .source = MV_SOURCE(LETTER_OR_CALL), .money_fen = 7345678, .workers = 12};
  take_in("station-baihe", &b, case_b);
  step("station-baihe", case_b, MV_ACTION(START_MEDIATION), NULL, NULL);
  step("station-baihe", case_b, MV_ACTION(SEND_TO_LITIGATION), "调解不成，当事人起诉", NULL);
  court("station-baihe", case_b, 6000000);
  feedback("station-baihe", case_b, MV_SATISFACTION(DISSATISFIED));
  step("station-baihe", case_b, MV_ACTION(CLOSE), NULL, NULL);
  /* c: 孔雀, neighbours, complex, a police call, no money; no agreement,
   *    waiting for its follow-up visit. */
  intake_spec c = {.kind = MV_KIND(NEIGHBOUR), .community = "kongque",
                   .difficulty = MV_DIFFICULTY(COMPLEX), .source = MV_SOURCE(POLICE_CALL)};
  take_in("station-kongque", &c, case_c);
  step("station-kongque", case_c, MV_ACTION(START_MEDIATION), NULL, NULL);
  outcome("station-kongque", case_c, false, 0, MV_RESOLUTION(UNSPECIFIED));
  /* d: 孔雀, divorce, referred; withdrawn before mediation. */
  intake_spec d = {.kind = MV_KIND(DIVORCE), .community = "kongque",
                   .source = MV_SOURCE(REFERRAL), .money_fen = 500000};
  take_in("station-kongque", &d, case_d);
  step("station-kongque", case_d, MV_ACTION(WITHDRAW), "双方和好，撤回申请", NULL);
  return 0;
}

static void test_report_states_the_figures(void **state) {
  (void)state;
  int y = year_now();
  char year[8], want[512];
  snprintf(year, sizeof(year), "%d", y);
  mctl_result r = MCTL(conf, "report", "--year", year);
  mctl_expect(&r, 0, "report");
  snprintf(want, sizeof(want), "白鹤街道%d年矛盾纠纷调处情况", y);
  CONTAINS(r.out, want);
  snprintf(want, sizeof(want),
           "%d年，街、居两级共调处矛盾纠纷3起，涉及金额12.35万元，其中疑难复杂以上纠纷2起。", y);
  CONTAINS(r.out, want);
  CONTAINS(r.out, "调解成功1起，化解率33.3%；调解不成转诉讼（共享法庭）1起；法律援助1件。");
  CONTAINS(r.out, "受理矛盾纠纷4起，其中网电信件1件、现场接访1起、110报警1起、转介1起、法律咨询转入0起。");
  CONTAINS(r.out, "信访积案1件（主办1件、协办0件），其中事实化解1件、实体化解0件，化解率100%。");
  CONTAINS(r.out, "调处劳资纠纷1起，涉及金额7.35万元、劳动者12人。");
  CONTAINS(r.out, "结案2件，其中案卷完整1件，案卷质量50%；回访满意1件、基本满意0件、不满意1件，当事人满意度50%。");
  CONTAINS(r.out, "目前在办案件1件，其中逾期0件。");
  /* The scorecard: every community, aligned in display columns. */
  char *line = mctl_line_with(r.out, "王隘社区");
  assert_non_null(line);
  CONTAINS(line, "100%（1/1）");
  free(line);
  line = mctl_line_with(r.out, "白鹤社区");
  CONTAINS(line, "0%（0/1）");
  free(line);
  line = mctl_line_with(r.out, "孔雀社区");
  assert_non_null(line);
  CONTAINS(line, "—");
  free(line);
  for (int col = 1; col <= 5; col++)
    mctl_expect_aligned_right(r.out, "案件数量  调处", col);
  mctl_free(&r);

  r = MCTL(conf, "report", "--year", year, "--json");
  mctl_expect(&r, 0, "report --json");
  json_object *j = mctl_json(&r);
  assert_int_equal(jint(j, "year"), y);
  snprintf(want, sizeof(want),
           "%d年，街、居两级共调处矛盾纠纷3起，涉及金额12.35万元，其中疑难复杂以上纠纷2起。", y);
  assert_string_equal(jstr(j, "sentences[0]"), want);
  assert_int_equal(jint(j, "total.mediated"), 3);
  assert_int_equal(jint(j, "total.money_involved_fen"), 12345678);
  assert_int_equal(jint(j, "total.difficult_or_complex"), 2);
  assert_int_equal(jint(j, "labour.workers_involved"), 12);
  assert_int_equal(jint(j, "labour.money_involved_fen"), 7345678);
  assert_int_equal(jint(j, "open_cases"), 1);
  assert_int_equal(jlen(j, "scorecard"), 3);
  assert_string_equal(jstr(j, "scorecard[0].community"), "wangai");
  assert_string_equal(jstr(j, "scorecard[0].name"), "王隘社区");
  assert_int_equal(jint(j, "scorecard[0].cases"), 1);
  assert_true(json_object_get_double(jpath(j, "scorecard[0].file_quality")) == 1.0);
  assert_int_equal(jint(j, "scorecard[2].cases"), 2);
  assert_null(jpath(j, "scorecard[2].satisfaction"));
  json_object_put(j);
  mctl_free(&r);

  /* A year with nothing in it says so in the same words. */
  r = MCTL(conf, "report", "--year", "2001");
  mctl_expect(&r, 0, "empty report");
  CONTAINS(r.out, "2001年，街、居两级共调处矛盾纠纷0起，涉及金额0.00万元，其中疑难复杂以上纠纷0起。");
  CONTAINS(r.out, "无信访积案。");
  mctl_free(&r);
}

static void test_figures_by_grouping(void **state) {
  (void)state;
  char year[8];
  snprintf(year, sizeof(year), "%d", year_now());
  mctl_result r = MCTL(conf, "figures", "--year", year, "--by", "community");
  mctl_expect(&r, 0, "figures --by community");
  CONTAINS(r.out, "按社区");
  char *line = mctl_line_with(r.out, "合计");
  assert_non_null(line);
  CONTAINS(line, "12.35");
  free(line);
  line = mctl_line_with(r.out, "孔雀社区");
  assert_non_null(line);
  free(line);
  for (int col = 1; col <= 11; col++)
    mctl_expect_aligned_right(r.out, "涉及金额(万元)", col);
  mctl_free(&r);

  r = MCTL(conf, "figures", "--year", year, "--by", "community", "--json");
  mctl_expect(&r, 0, "figures --json");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "rows"), 3);
  assert_string_equal(jstr(j, "rows[0].bucket.community"), "baihe"); /* key order */
  assert_int_equal(jint(j, "rows[0].counters.litigated"), 1);
  assert_int_equal(jint(j, "total.counters.taken_in"), 4);
  assert_int_equal(jint(j, "total.counters.mediated"), 3);
  assert_int_equal(jint(j, "total.counters.complete_files"), 1);
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "figures", "--year", year);
  mctl_expect(&r, 0, "figures total");
  CONTAINS(r.out, "全街道");
  line = mctl_line_with(r.out, "调处矛盾纠纷");
  CONTAINS(line, "3");
  free(line);
  CONTAINS(r.out, "12.35万元（123456.78元）");
  CONTAINS(r.out, "涉及劳动者（人）");
  mctl_free(&r);

  r = MCTL(conf, "figures", "--year", year, "--by", "kind");
  mctl_expect(&r, 0, "figures --by kind");
  line = mctl_line_with(r.out, "劳资纠纷");
  assert_non_null(line);
  CONTAINS(line, "7.35");
  free(line);
  mctl_free(&r);
  r = MCTL(conf, "figures", "--year", year, "--by", "unit");
  mctl_expect(&r, 0, "figures --by unit");
  CONTAINS(r.out, "王隘社区工作站");
  mctl_free(&r);
  r = MCTL(conf, "figures", "--year", year, "--by", "month");
  mctl_expect(&r, 0, "figures --by month");
  char month[16];
  snprintf(month, sizeof(month), "%d月", mc_date_of(mc_now_ms(), 480).month);
  CONTAINS(r.out, month);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "station-wangai", "figures", "--year", year, "--json");
  mctl_expect(&r, 0, "figures --unit");
  j = mctl_json(&r);
  assert_int_equal(jint(j, "total.counters.taken_in"), 1);
  assert_int_equal(jint(j, "total.counters.legal_aid"), 1);
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(conf, "figures", "--year", year, "--community", "孔雀社区", "--json");
  mctl_expect(&r, 0, "figures --community");
  j = mctl_json(&r);
  assert_int_equal(jint(j, "total.counters.taken_in"), 2);
  assert_int_equal(jint(j, "total.counters.withdrawn"), 1);
  json_object_put(j);
  mctl_free(&r);
}

/* mediactl search: by part of a name, a whole ID number, a unit_ref; what a
 * unit may not see is not found; refusals name the position; 再次纠纷 in
 * show and list. */
static void take_in_party(const char *unit, const char *name, const char *id_number,
                          const char *phone, const char *ref, char id[32]) {
  mv_party p = MEDIATION__V1__PARTY__INIT;
  mv_party *pp[1] = {&p};
  p.name = (char *)name;
  p.role = MV_PARTY(APPLICANT);
  p.id_number = (char *)id_number;
  p.phone = (char *)phone;
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = MV_KIND(NEIGHBOUR);
  in.community = "baihe";
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(WALK_IN);
  in.parties = pp;
  in.n_parties = 1;
  in.summary = "邻里噪音";
  in.unit_ref = (char *)ref;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  Mediation__V1__ApplyReply *r = NULL;
  apply(unit, &a, &r);
  snprintf(id, 32, "%s", r->case_record->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Python's csv module reads a CSV file back: {"bom": bool, "rows": [[...]]}
 * as JSON (the caller's to put). */
static json_object *python_csv(const char *path) {
  static const char script[] =
      "import csv, json, sys\n"
      "bom = open(sys.argv[1], 'rb').read().startswith(b'\\xef\\xbb\\xbf')\n"
      "rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8-sig')))\n"
      "print(json.dumps({'bom': bom, 'rows': rows}, ensure_ascii=False))\n";
  const char *argv[] = {"/usr/bin/python3", "-c", script, path, NULL};
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, 30000);
  if (rc != 0)
    fail_msg("python3 csv: exit %d: %s", rc, err ? err : "");
  json_object *j = json_tokener_parse(out);
  if (j == NULL)
    fail_msg("python3 printed no JSON: %s", out);
  free(out);
  free(err);
  return j;
}

static void test_search(void **state) {
  (void)state;
  char a[32], b[32];
  take_in_party("police-studio", "欧阳某某", "330212196001010076", "13700007777", "PS-SR-1", a);
  take_in_party("police-studio", "欧阳某某", "330212196001010076", "", "PS-SR-2", b);

  mctl_result r = MCTL(conf, "search", "欧阳");
  mctl_expect(&r, 0, "search by part of a name");
  CONTAINS(r.out, a);
  CONTAINS(r.out, b);
  CONTAINS(r.out, "当事人");
  CONTAINS(r.out, "共 2 件");
  LACKS(r.out, "欧阳某某"); /* rows carry no names */
  mctl_free(&r);

  r = MCTL(conf, "search", "330212196001010076", "--person", "查询员");
  mctl_expect(&r, 0, "search by ID number");
  CONTAINS(r.out, "身份证号");
  CONTAINS(r.out, "共 2 件");
  LACKS(r.out, "330212196001010076");
  mctl_free(&r);

  r = MCTL(conf, "search", "330212196001010075");
  mctl_expect(&r, 3, "a wrong check digit");
  CONTAINS(r.err, "check digit (position 18) should be 6");
  mctl_free(&r);

  r = MCTL(conf, "--json", "search", "ps-sr-2");
  mctl_expect(&r, 0, "search --json by unit_ref");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "hits"), 1);
  assert_string_equal(jstr(j, "hits[0].id"), b);
  assert_string_equal(jstr(j, "hits[0].matched"), "unit_ref");
  assert_string_equal(jstr(j, "hits[0].repeat_of[0]"), a);
  assert_int_equal(jint(j, "total"), 1);
  json_object_put(j);
  mctl_free(&r);

  /* --csv --all, one hit a page: both pages in one file, a BOM, the header,
   * each hit a row; the count on stderr (stdout is the file). */
  r = MCTL(conf, "search", "欧阳", "--csv", "--all", "--limit", "1");
  mctl_expect(&r, 0, "search --csv --all");
  CONTAINS(r.err, "共 2 件");
  LACKS(r.err, "more cases follow");
  char path[600];
  snprintf(path, sizeof(path), "%s/search.csv", world.dir.path);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fputs(r.out, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
  mctl_free(&r);
  j = python_csv(path);
  assert_true(json_object_get_boolean(json_object_object_get(j, "bom")));
  json_object *rows = json_object_object_get(j, "rows");
  assert_int_equal(json_object_array_length(rows), 3);
  json_object *head = json_object_array_get_idx(rows, 0);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(head, 0)), "案件编号");
  assert_string_equal(json_object_get_string(json_object_array_get_idx(head, 7)), "再次纠纷");
  bool saw_b = false;
  for (size_t i = 1; i < 3; i++) {
    json_object *row = json_object_array_get_idx(rows, i);
    const char *id = json_object_get_string(json_object_array_get_idx(row, 0));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(row, 1)), "当事人");
    if (strncmp(id, b, strlen(b)) == 0) { /* "<id> (PS-SR-2)": the repeat of a */
      saw_b = true;
      assert_string_equal(json_object_get_string(json_object_array_get_idx(row, 7)), a);
    }
  }
  assert_true(saw_b);
  json_object_put(j);

  r = MCTL(conf, "search", "欧阳", "--csv", "--json");
  mctl_expect(&r, 2, "search --csv with --json");
  mctl_free(&r);

  r = MCTL(conf, "--as", "marriage-studio", "search", "欧阳");
  mctl_expect(&r, 0, "search as a unit that may not see them");
  CONTAINS(r.out, "没有找到案件。");
  LACKS(r.out, a);
  mctl_free(&r);

  r = MCTL(conf, "search");
  mctl_expect(&r, 2, "search without text");
  mctl_free(&r);

  r = MCTL(conf, "show", b);
  mctl_expect(&r, 0, "show a repeat case");
  CONTAINS(r.out, "再次纠纷");
  CONTAINS(r.out, a);
  mctl_free(&r);

  /* Each search is in the access log, with what it showed, never its text
   * (written with the router's next batch: give it a moment). */
  bool logged = false;
  for (int tries = 0; tries < 50 && !logged; tries++) {
    r = MCTL(conf, "access-log", "--who", "coordinator");
    mctl_expect(&r, 0, "access-log");
    logged = strstr(r.out, "搜索，显示2件") != NULL;
    LACKS(r.out, "欧阳");
    LACKS(r.out, "330212196001010076");
    mctl_free(&r);
    if (!logged)
      usleep(100 * 1000);
  }
  assert_true(logged);
}

int main(void) {
  const struct CMUnitTest shared[] = {
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_health_and_methods),
      cmocka_unit_test(test_show_case_and_timeline),
      cmocka_unit_test(test_list_filters_and_paging),
      cmocka_unit_test(test_stuck_and_recall),
      cmocka_unit_test(test_backup_and_verify),
      cmocka_unit_test(test_anchor_kept_and_checked),
      cmocka_unit_test(test_search),
      cmocka_unit_test(test_unreachable),
  };
  const struct CMUnitTest known[] = {
      cmocka_unit_test(test_report_states_the_figures),
      cmocka_unit_test(test_figures_by_grouping),
  };
  int failed = cmocka_run_group_tests_name("mediactl against the router", shared, setup_shared,
                                           teardown);
  failed += cmocka_run_group_tests_name("mediactl figures and report", known, setup_known,
                                        teardown);
  return failed;
}
