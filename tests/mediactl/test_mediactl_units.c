/*
 * test_mediactl_units.c - operators and a coordinator working through
 * mediactl alone, against the real system: the router and the five unit
 * daemons (police, marriage, three community stations), as in DOMAIN.md's
 * reference scenarios.
 *
 * Built only when the unit daemons are (tests/mediactl/CMakeLists.txt): they
 * come with issue 7. It asserts what desk.proto and the issues promise, not
 * a policy's inner choices: handoffs reach the receiving unit's inbox, a
 * refusal goes back with its reason, the case file and figures show every
 * step, a step taken while the router is down is queued and forwarded.
 * Deliveries reach units asynchronously, so inboxes are polled.
 */
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
#include "world.h"

static tw_world world;
static const char *conf;

/* Runs args until its stdout contains needle (exit 0), for up to 20 s. */
static void wait_for(const char *const *args, const char *needle) {
  int64_t until = mc_mono_ms() + 20000;
  for (;;) {
    mctl_result r = mctl_run(conf, args);
    bool found = r.rc == 0 && strstr(r.out, needle) != NULL;
    if (found || mc_mono_ms() > until) {
      if (!found)
        fail_msg("waited 20 s for \"%s\" from %s %s:\n%s%s", needle, args[0], args[1], r.out,
                 r.err);
      mctl_free(&r);
      return;
    }
    mctl_free(&r);
    usleep(200 * 1000);
  }
}
#define WAIT_FOR(needle, ...) wait_for((const char *const[]){__VA_ARGS__, NULL}, (needle))

/* The case id a Desk answered an intake with. */
static void intake_id(const mctl_result *r, char id[32]) {
  json_object *j = mctl_json(r);
  snprintf(id, 32, "%s", jstr(j, "case_record.id"));
  assert_true(id[0] != '\0');
  json_object_put(j);
}

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "mediactl-units", NULL, false) != 0 || tw_start_router(&world, NULL) != 0)
    return -1;
  conf = world.conf;
  if (tw_start_unit(&world, "police-studio", "police-studio") != 0 ||
      tw_start_unit(&world, "marriage-studio", "marriage-studio") != 0 ||
      tw_start_unit(&world, "community-station", "station-wangai") != 0 ||
      tw_start_unit(&world, "community-station", "station-baihe") != 0 ||
      tw_start_unit(&world, "community-station", "station-kongque") != 0)
    return -1;
  return 0;
}

/* Every daemon stops cleanly (under valgrind, without errors or leaks). */
static int teardown(void **state) {
  (void)state;
  static const char *const units[] = {"police-studio", "marriage-studio", "station-wangai",
                                      "station-baihe", "station-kongque"};
  int bad = 0;
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    int rc = tw_stop_unit(&world, units[i]);
    if (rc != 0) {
      fprintf(stderr, "%s exited with %d\n", units[i], rc);
      bad++;
    }
  }
  if (tw_stop_router(&world) != 0)
    bad++;
  tw_destroy(&world);
  return bad == 0 ? 0 : -1;
}

/* Scenario 4: Big Stone hands a noise dispute to Sister Song, who refuses
 * it; it goes back with the reason, and Big Stone routes it to 白鹤社区. */
static void test_refused_transfer(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "police-studio", "--json", "intake", "--kind", "neighbour",
                       "--community", "白鹤社区", "--source", "walk_in", "--party",
                       "applicant:邻居甲", "--party", "respondent:邻居乙", "--summary",
                       "楼上装修噪音", "--refer-to", "宋大姐调解工作室", "--reason", "请婚调处理",
                       "--person", "马德顺");
  mctl_expect(&r, 0, "intake");
  char id[32];
  intake_id(&r, id);
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "steps[0].action.kind"), "take_in");
  assert_string_equal(jstr(j, "steps[0].disposition"), "applied");
  json_object_put(j);
  mctl_free(&r);

  WAIT_FOR(id, "--unit", "marriage-studio", "inbox");
  r = MCTL(conf, "--unit", "marriage-studio", "refuse", id, "--reason", "不属于婚姻家庭纠纷");
  mctl_expect(&r, 0, "refuse");
  CONTAINS(r.out, "退回（refuse）");
  mctl_free(&r);

  r = MCTL(conf, "--json", "show", id);
  mctl_expect(&r, 0, "show after refusal");
  j = mctl_json(&r);
  assert_string_equal(jstr(j, "case_record.state"), "intake");
  assert_string_equal(jstr(j, "case_record.holder"), "police-studio");
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "transfer", id, "--to", "白鹤社区工作站", "--reason",
           "邻里纠纷转社区");
  mctl_expect(&r, 0, "transfer to the station");
  mctl_free(&r);
  WAIT_FOR(id, "--unit", "station-baihe", "inbox");
  r = MCTL(conf, "--unit", "station-baihe", "accept", id);
  mctl_expect(&r, 0, "station accepts");
  mctl_free(&r);

  r = MCTL(conf, "show", id, "--timeline");
  mctl_expect(&r, 0, "show --timeline");
  CONTAINS(r.out, "白鹤社区工作站 (station-baihe)");
  CONTAINS(r.out, "退回大石头调解工作室；原因：不属于婚姻家庭纠纷");
  CONTAINS(r.out, "移交白鹤社区工作站；原因：邻里纠纷转社区");
  CONTAINS(r.out, "白鹤社区工作站签收");
  mctl_free(&r);

  /* The marriage studio no longer has it to accept. */
  r = MCTL(conf, "--unit", "marriage-studio", "accept", id);
  assert_true(r.rc == 3 || r.rc == 5);
  assert_true(strncmp(r.err, "mediactl: refused: ", 19) == 0 ||
              strncmp(r.err, "mediactl: denied: ", 18) == 0);
  mctl_free(&r);
}

/* Scenario 1: a 110 call about a couple's quarrel; Big Stone's policy refers
 * it to Sister Song, who accepts (her policy assigns the team) and delegates
 * to 孔雀社区, which records the agreement and the parties' satisfaction. */
static void test_police_referral_to_agreement(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "police-studio", "--json", "intake", "--kind", "感情纠纷",
                       "--community", "kongque", "--source", "110报警", "--party",
                       "applicant:丈夫某:330212199001011232:13800001234", "--party",
                       "respondent:妻子某", "--money-yuan", "3000");
  mctl_expect(&r, 0, "intake");
  char id[32];
  intake_id(&r, id);
  mctl_free(&r);

  WAIT_FOR(id, "--unit", "marriage-studio", "inbox");
  r = MCTL(conf, "--unit", "marriage-studio", "accept", id, "--person", "周晓梅");
  mctl_expect(&r, 0, "accept");
  mctl_free(&r);
  WAIT_FOR("心理咨询师", "show", id);
  WAIT_FOR("人民调解员", "show", id);

  r = MCTL(conf, "--unit", "marriage-studio", "transfer", id, "--to", "孔雀社区工作站", "--reason",
           "委托社区跟进");
  mctl_expect(&r, 0, "delegate");
  mctl_free(&r);
  WAIT_FOR(id, "--unit", "station-kongque", "inbox");
  static const char *const steps[][8] = {
      {"accept", NULL},
      {"start", NULL},
      {"session", "--note", "双方到场，心理疏导", NULL},
      {"outcome", "--agreement", "--amount-yuan", "3000", "--summary", "和好", NULL},
      {"feedback", "--satisfaction", "满意", "--note", "关系改善", NULL},
      {"close", NULL},
  };
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    const char *args[16] = {"--unit", "station-kongque", steps[i][0], id};
    int n = 4;
    for (int k = 1; steps[i][k] != NULL; k++)
      args[n++] = steps[i][k];
    args[n] = NULL;
    r = mctl_run(conf, args);
    mctl_expect(&r, 0, steps[i][0]);
    mctl_free(&r);
  }
  r = MCTL(conf, "--json", "show", id, "--timeline");
  mctl_expect(&r, 0, "show");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "case_record.state"), "closed");
  assert_string_equal(jstr(j, "case_record.holder"), "station-kongque");
  assert_string_equal(jstr(j, "case_record.outcome.kind"), "agreement");
  assert_int_equal(jint(j, "case_record.outcome.agreed_amount_fen"), 300000);
  assert_string_equal(jstr(j, "case_record.feedback.satisfaction"), "satisfied");
  assert_string_equal(jstr(j, "case_record.intake.parties[0].phone"), "138****1234");
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "--json", "figures", "--by", "community", "--community", "kongque");
  mctl_expect(&r, 0, "figures");
  j = mctl_json(&r);
  assert_true(jint(j, "total.counters.closed") >= 1);
  assert_true(jint(j, "total.counters.satisfied") >= 1);
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "marriage-studio", "roster");
  mctl_expect(&r, 0, "roster");
  CONTAINS(r.out, "周晓梅");
  CONTAINS(r.out, "心理咨询师");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "health");
  mctl_expect(&r, 0, "unit health");
  CONTAINS(r.out, "SERVING");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "methods");
  mctl_expect(&r, 0, "unit methods");
  CONTAINS(r.out, "mediation.v1.Desk");
  CONTAINS(r.out, "mediation.v1.DeskWatchRequest"); /* the desks' long poll */
  mctl_free(&r);
}

/* With the router down, an intake is queued in the police studio's outbox
 * (mediactl says so and exits 0) and forwarded once the router is back. */
static void test_queued_while_the_router_is_down(void **state) {
  (void)state;
  assert_int_equal(tw_stop_router(&world), 0);
  mctl_result r = MCTL(conf, "--unit", "police-studio", "--json", "intake", "--kind", "other",
                       "--community", "wangai", "--source", "walk_in", "--party",
                       "applicant:来访者", "--ref", "PS-OFFLINE-1");
  mctl_expect(&r, 0, "intake offline");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "steps[0].disposition"), "queued");
  assert_true(jbool(j, "stale"));
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-studio", "cases");
  mctl_expect(&r, 0, "cases offline");
  CONTAINS(r.out, "PS-OFFLINE-1");
  CONTAINS(r.out, "待转发");
  mctl_free(&r);

  assert_int_equal(tw_start_router(&world, NULL), 0);
  WAIT_FOR("出件箱待转发：0 步", "--unit", "police-studio", "conflicts");
  r = MCTL(conf, "show", "police-studio:PS-OFFLINE-1");
  mctl_expect(&r, 0, "show the forwarded case");
  CONTAINS(r.out, "大石头调解工作室 (police-studio)");
  mctl_free(&r);
}

/* Issue 17: the names people use. Big Stone takes a case in for 孔雀 and
 * refers it to 宋大姐, all by alias; the Desk itself takes refer_to as an
 * alias too (other clients than mediactl, such as the web gateway), and a
 * near miss gets "did you mean". */
static void test_aliases_at_the_desk(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--unit", "大石头", "--json", "intake", "--kind", "relationship",
                       "--community", "孔雀", "--source", "police_call", "--party",
                       "applicant:甲某", "--summary", "感情纠纷", "--refer-to", "宋大姐",
                       "--reason", "溯源调解");
  mctl_expect(&r, 0, "intake by aliases");
  char id[32];
  intake_id(&r, id);
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "case_record.intake.community"), "kongque");
  json_object_put(j);
  mctl_free(&r);
  WAIT_FOR(id, "--unit", "宋大姐", "inbox");

  /* A step on it by this year's number alone, through the alias's Desk. */
  unsigned long serial = strtoul(strrchr(id, '-') + 1, NULL, 10);
  char number[24];
  snprintf(number, sizeof(number), "%lu", serial);
  r = MCTL(conf, "--unit", "宋大姐", "accept", number);
  mctl_expect(&r, 0, "accept by number");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "宋大姐", "accept", "no such case!");
  mctl_expect(&r, 2, "accept a malformed case");
  CONTAINS(r.err, "not a case id");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "大石头", "intake", "--kind", "relationship", "--community", "孔雀社",
           "--source", "walk_in", "--party", "applicant:甲某", "--summary", "x");
  mctl_expect(&r, 2, "a near community");
  CONTAINS(r.err, "did you mean \"孔雀社区\"?");
  mctl_free(&r);

  /* The Desk's TakeIn, called directly: refer_to by alias, and a typo. */
  const mc_unit *police = mc_registry_unit(world.reg, "police-studio");
  rpc_client *desk = tw_client(&world, "police-studio-operator", police->endpoint);
  assert_non_null(desk);
  mv_party p = MEDIATION__V1__PARTY__INIT;
  mv_party *pp = &p;
  p.name = "乙某";
  p.role = MV_PARTY(APPLICANT);
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = MV_KIND(DIVORCE);
  in.community = "孔雀社"; /* a near miss first */
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(WALK_IN);
  in.parties = &pp;
  in.n_parties = 1;
  in.summary = "离婚纠纷";
  Mediation__V1__DeskTakeInRequest req = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
  req.intake = &in;
  req.person = "马德顺";
  req.refer_to = "宋大";
  req.refer_reason = "婚姻家庭纠纷";
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(desk, &mediation__v1__desk__descriptor, "TakeIn", &req.base,
                                   NULL, &reply, &err),
                   MC_INVALID_ARGUMENT);
  CONTAINS(err.msg, "intake.community: not a registered community; did you mean \"孔雀社区\"?");
  in.community = "王隘"; /* an alias: the case file keeps the id */
  assert_int_equal(rpc_client_call(desk, &mediation__v1__desk__descriptor, "TakeIn", &req.base,
                                   NULL, &reply, &err),
                   MC_INVALID_ARGUMENT);
  CONTAINS(err.msg, "refer_to: not a registered unit; did you mean \"宋大姐\"?");
  req.refer_to = "宋大姐";
  assert_int_equal(rpc_client_call(desk, &mediation__v1__desk__descriptor, "TakeIn", &req.base,
                                   NULL, &reply, &err),
                   MC_OK);
  const Mediation__V1__DeskReply *d = (const Mediation__V1__DeskReply *)reply;
  assert_non_null(d->case_record);
  assert_string_equal(d->case_record->intake->community, "wangai");
  char id2[32];
  snprintf(id2, sizeof(id2), "%s", d->case_record->id);
  protobuf_c_message_free_unpacked(reply, NULL);
  WAIT_FOR(id2, "--unit", "marriage-studio", "inbox");

  /* DeskAct's to_unit: a near miss is refused at the Desk, naming the unit. */
  mv_action act = MEDIATION__V1__CASE_ACTION__INIT;
  act.kind = MV_ACTION(TRANSFER);
  act.case_ref = id2;
  act.reason = "改交社区";
  act.args_case = MV_ARGS(TO_UNIT);
  act.to_unit = "王隘社区工作";
  Mediation__V1__DeskActRequest areq = MEDIATION__V1__DESK_ACT_REQUEST__INIT;
  areq.action = &act;
  assert_int_equal(rpc_client_call(desk, &mediation__v1__desk__descriptor, "Act", &areq.base,
                                   NULL, &reply, &err),
                   MC_INVALID_ARGUMENT);
  CONTAINS(err.msg, "action.to_unit: not a registered unit; did you mean \"王隘社区工作站\"?");
}

/* 再次纠纷 through the real daemons: the same applicant (by ID number) taken
 * in again at the police studio is linked to the first case, in the intake's
 * own output; the studio finds both by the name through its Desk. */
static void test_repeat_intake_and_search(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "--json", "search", "330212199001011232");
  mctl_expect(&r, 0, "search the first case by ID number");
  json_object *j = mctl_json(&r);
  char first[32];
  snprintf(first, sizeof(first), "%s", jstr(j, "hits[0].id"));
  assert_string_equal(jstr(j, "hits[0].matched"), "id_number");
  json_object_put(j);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "neighbour", "--community",
           "kongque", "--source", "walk_in", "--party",
           "applicant:丈夫某:330212199001011232", "--party", "respondent:邻居丙");
  mctl_expect(&r, 0, "intake of the same applicant");
  char want[96];
  snprintf(want, sizeof(want), "再次纠纷：同一当事人此前的案件 %s", first);
  CONTAINS(r.out, want);
  mctl_free(&r);

  r = MCTL(conf, "--unit", "police-studio", "search", "丈夫");
  mctl_expect(&r, 0, "search through the Desk");
  CONTAINS(r.out, first);
  CONTAINS(r.out, "共 2 件");
  LACKS(r.out, "路由不可达");
  mctl_free(&r);

  /* A wrong check digit at intake names the position. */
  r = MCTL(conf, "--unit", "police-studio", "intake", "--kind", "neighbour", "--community",
           "kongque", "--source", "walk_in", "--party", "applicant:某丁:330212199001011234");
  mctl_expect(&r, 3, "intake with a wrong check digit");
  if (strstr(r.out, "check digit (position 18) should be 2") == NULL)
    CONTAINS(r.err, "check digit (position 18) should be 2");
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aliases_at_the_desk),
      cmocka_unit_test(test_refused_transfer),
      cmocka_unit_test(test_police_referral_to_agreement),
      cmocka_unit_test(test_repeat_intake_and_search),
      cmocka_unit_test(test_queued_while_the_router_is_down),
  };
  return cmocka_run_group_tests_name("mediactl with the unit daemons", tests, setup, teardown);
}
