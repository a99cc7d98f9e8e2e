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
                       "applicant:丈夫某:330212199001011234:13800001234", "--party",
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_transfer),
      cmocka_unit_test(test_police_referral_to_agreement),
      cmocka_unit_test(test_queued_while_the_router_is_down),
  };
  return cmocka_run_group_tests_name("mediactl with the unit daemons", tests, setup, teardown);
}
