/*
 * test_remind.c - mediation-remind against a live router, a local SMTP
 * sink and a local group-robot receiver (tests/services/remind_sink.py,
 * both on 127.0.0.1 ports of their own): the digest reaches both with the
 * expected case ids and counts; a case that becomes overdue is told once,
 * and only once across restarts (each --once run is a restart, and so is
 * the daemon started after them); a relay that is down keeps the mail
 * queued, logged, and sends it when it is back; no message and no log line
 * holds the parties' ID numbers, phones or names (the canary).
 *
 * Deadlines are seconds here ([deadlines] intake = 4s), so cases become
 * overdue while the test waits, through the router's own clock.
 *
 * Language: the daemons run with LANG=zh_CN.UTF-8, as their systemd units
 * set it, so the messages are Chinese; the last test runs mediation-remind
 * under LANG=C and finds the English source instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "desk.h"

#define POLICE "police-studio"
#define INTAKE_S 4 /* [deadlines] intake */
#define PATH_CAP (TH_PATH_MAX + 64)

static th_dir dir;     /* the sinks' messages and the reminder's state */
static th_proc smtp, robot;
static int smtp_port, robot_port;
static char logs[1 << 16]; /* every line mediation-remind wrote, for the canary */
static char case_a[64], case_b[64], case_c[64], case_d[64];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Starts remind_sink.py (kind "smtp" or "http") on port (0: a free one);
 * returns the port it listens on, or -1. */
static int start_sink(th_proc *p, const char *kind, int port) {
  char script[PATH_CAP], portfile[PATH_CAP], log[PATH_CAP], arg[16];
  snprintf(script, sizeof(script), "%s/tests/services/remind_sink.py", MEDIATION_SOURCE_DIR);
  snprintf(portfile, sizeof(portfile), "%s/%s.port", dir.path, kind);
  snprintf(log, sizeof(log), "%s/%s-sink.log", dir.path, kind);
  snprintf(arg, sizeof(arg), "%d", port);
  unlink(portfile);
  const char *argv[] = {"/usr/bin/python3", script, kind, dir.path, port ? arg : NULL, NULL};
  if (th_spawn(p, kind, argv, log) != 0)
    return -1;
  for (int i = 0; i < 100; i++) {
    char *text = th_read_file(portfile);
    if (text != NULL) {
      int got = atoi(text);
      free(text);
      return got;
    }
    sleep_ms(50);
  }
  fprintf(stderr, "the %s sink did not start (see %s)\n", kind, log);
  return -1;
}

static int setup(void **state) {
  (void)state;
  setenv("LANG", "zh_CN.UTF-8", 1); /* as deploy/systemd's units */
  unsetenv("LC_ALL");
  unsetenv("LC_MESSAGES");
  unsetenv("LANGUAGE");
  if (th_dir_make(&dir, "remind") != 0)
    return -1;
  smtp_port = start_sink(&smtp, "smtp", 0);
  robot_port = start_sink(&robot, "http", 0);
  if (smtp_port <= 0 || robot_port <= 0)
    return -1;
  char conf[4096];
  snprintf(conf, sizeof(conf),
           "[deadlines]\nintake = %ds\n"
           "[remind]\ndata_dir = %s/state\noffer_wait = 1s\n"
           "[unit police-studio]\nsmtp_url = smtp://127.0.0.1:%d\n"
           "mail_from = remind@baihe.test\nmail_to = police@baihe.test\n"
           "mail_to = chief@baihe.test\n"
           "webhook_url = http://127.0.0.1:%d/cgi-bin/webhook/send?key=police-key\n"
           "webhook_kind = wecom\ndigest_at = 23:59\n"
           "[unit marriage-studio]\n"
           "webhook_url = http://127.0.0.1:%d/robot/send?access_token=marriage-token\n"
           "webhook_kind = dingtalk\ndigest_at = 23:59\n",
           INTAKE_S, dir.path, smtp_port, robot_port, robot_port);
  static const ts_daemon daemons[] = {{"police-studio", POLICE}};
  return ts_start("remind", conf, daemons, 1);
}

static int teardown(void **state) {
  (void)state;
  int rc = ts_stop();
  th_stop(&smtp, 5000);
  th_stop(&robot, 5000);
  th_dir_remove(&dir);
  return rc;
}

/* Runs mediation-remind with one flag; its exit status. Its log lines are
 * kept for the canary check. */
static int remind(const char *flag) {
  char bin[TH_PATH_MAX];
  const char *argv[] = {th_bin(bin, sizeof(bin), "services/mediation-remind"), "--config",
                        ts_world.conf, flag, NULL};
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, 60000);
  fprintf(stderr, "mediation-remind %s: exit %d\n%s", flag, rc, err ? err : "");
  size_t used = strlen(logs);
  snprintf(logs + used, sizeof(logs) - used, "%s", err ? err : "");
  free(out);
  free(err);
  return rc;
}

static int count(const char *kind) {
  int n = 0;
  for (;; n++) {
    char path[PATH_CAP];
    snprintf(path, sizeof(path), "%s/%s-%d.txt", dir.path, kind, n + 1);
    if (access(path, F_OK) != 0)
      return n;
  }
}

/* Message n (1-based) of a sink, decoded (.txt) or as received (.raw). */
static char *message(const char *kind, int n, const char *ext) {
  char path[PATH_CAP];
  snprintf(path, sizeof(path), "%s/%s-%d.%s", dir.path, kind, n, ext);
  char *text = th_read_file(path);
  assert_non_null(text);
  return text;
}

static void expect_in(const char *text, const char *needle) {
  if (strstr(text, needle) == NULL)
    fail_msg("\"%s\" is not in:\n%s", needle, text);
}

static void expect_not_in(const char *text, const char *needle) {
  if (strstr(text, needle) != NULL)
    fail_msg("\"%s\" must not be in:\n%s", needle, text);
}

/* Nothing personal in any message as received or as read. */
static void expect_no_canary(void) {
  assert_false(th_tree_contains(dir.path, TS_ID_PREFIX));
  assert_false(th_tree_contains(dir.path, TS_PHONE));
  assert_false(th_tree_contains(dir.path, TS_CANARY));
  expect_not_in(logs, TS_ID_PREFIX);
  expect_not_in(logs, TS_PHONE);
  expect_not_in(logs, TS_CANARY);
}

static void take_in(mv_kind kind, char *id, size_t cap) {
  ts_intake t;
  ts_intake_init(&t, kind, "wangai", 2, 0);
  Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
  assert_non_null(r->case_record);
  snprintf(id, cap, "%s", r->case_record->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A: overdue; B: offered to the marriage studio (waiting, due soon);
 * C: due soon. The digest of each unit lists exactly those. */
static void test_digest(void **state) {
  (void)state;
  take_in(MV_KIND(LABOUR), case_a, sizeof(case_a));
  take_in(MV_KIND(DIVORCE), case_b, sizeof(case_b)); /* policy: to the marriage studio */
  sleep_ms(INTAKE_S * 1000 + 300);
  take_in(MV_KIND(LABOUR), case_c, sizeof(case_c));
  assert_int_equal(remind("--digest"), 0);

  assert_int_equal(count("smtp"), 1);
  assert_int_equal(count("http"), 2);
  char *mail = message("smtp", 1, "txt");
  fprintf(stderr, "---- the police studio's digest, as mailed ----\n%s\n", mail);
  expect_in(mail, "FROM remind@baihe.test");
  expect_in(mail, "TO police@baihe.test chief@baihe.test");
  expect_in(mail, "大石头调解工作室 每日汇总：逾期 1 件，即将到期 1 件，待接收 0 件");
  expect_in(mail, "逾期 1 件，48小时内到期 1 件，待接收超过1秒 0 件");
  expect_in(mail, case_a);
  expect_in(mail, case_c);
  expect_not_in(mail, case_b); /* on offer: the marriage studio's to answer */
  expect_in(mail, "已逾期");
  expect_in(mail, "劳资纠纷");
  free(mail);

  /* The robots: one for each unit, in unit order (police first). */
  char *police = message("http", 1, "txt"), *marriage = message("http", 2, "txt");
  fprintf(stderr, "---- the marriage studio's digest, to its robot ----\n%s\n", marriage);
  expect_in(police, "PATH /cgi-bin/webhook/send?key=police-key");
  expect_in(police, "TYPE application/json");
  expect_in(police, "msgtype text");
  expect_in(police, case_a);
  expect_in(police, case_c);
  expect_in(marriage, "PATH /robot/send?access_token=marriage-token");
  expect_in(marriage, "宋大姐调解工作室 每日汇总：逾期 0 件，即将到期 1 件，待接收 1 件");
  expect_in(marriage, case_b);
  expect_in(marriage, "大石头调解工作室 流转而来");
  expect_not_in(marriage, case_a);
  free(police);
  free(marriage);
  expect_no_canary();
}

/* C becomes overdue: one alert on each of the police studio's channels,
 * naming C only; a second run (a restart) sends nothing. */
static void test_alert_once(void **state) {
  (void)state;
  sleep_ms(INTAKE_S * 1000 + 300);
  assert_int_equal(remind("--once"), 0);
  assert_int_equal(count("smtp"), 2);
  assert_int_equal(count("http"), 3);
  char *mail = message("smtp", 2, "txt"), *hook = message("http", 3, "txt");
  expect_in(mail, "大石头调解工作室：新增逾期 1 件");
  expect_in(mail, case_c);
  expect_not_in(mail, case_a);
  expect_in(hook, "PATH /cgi-bin/webhook/send?key=police-key");
  expect_in(hook, case_c);
  free(mail);
  free(hook);

  assert_int_equal(remind("--once"), 0);
  assert_int_equal(count("smtp"), 2);
  assert_int_equal(count("http"), 3);
  expect_no_canary();
}

/* The daemon: its first cycle, right after its start, finds nothing new;
 * it stops cleanly. */
static void test_daemon_restart(void **state) {
  (void)state;
  char bin[TH_PATH_MAX], log[PATH_CAP];
  snprintf(log, sizeof(log), "%s/daemon.log", dir.path);
  const char *argv[] = {th_bin(bin, sizeof(bin), "services/mediation-remind"), "--config",
                        ts_world.conf, NULL};
  th_proc p;
  assert_int_equal(th_start(&p, "mediation-remind", argv, log, 10000), 0);
  char *text = NULL;
  for (int i = 0; i < 100; i++) { /* until its first cycle is done */
    free(text);
    text = th_read_file(log);
    if (text != NULL && strstr(text, "cycle done") != NULL)
      break;
    sleep_ms(50);
  }
  sleep_ms(300);
  assert_int_equal(th_stop(&p, 5000), 0);
  free(text);
  text = th_read_file(log);
  assert_non_null(text);
  expect_not_in(text, "queued");
  size_t used = strlen(logs);
  snprintf(logs + used, sizeof(logs) - used, "%s", text);
  free(text);
  assert_int_equal(count("smtp"), 2);
  assert_int_equal(count("http"), 3);
}

/* The relay is down when D becomes overdue: the robot gets the alert, the
 * mail waits (exit 4, logged), and goes once the relay is back - once. */
static void test_relay_down(void **state) {
  (void)state;
  assert_int_equal(th_stop(&smtp, 5000), 0);
  take_in(MV_KIND(LABOUR), case_d, sizeof(case_d));
  sleep_ms(INTAKE_S * 1000 + 300);
  size_t before = strlen(logs);
  assert_int_equal(remind("--once"), 4);
  expect_in(logs + before, "mail message not sent (attempt 1)");
  assert_int_equal(count("http"), 4);
  char *hook = message("http", 4, "txt");
  expect_in(hook, case_d);
  free(hook);
  before = strlen(logs);
  assert_int_equal(remind("--once"), 4); /* still down: kept, attempt 2 */
  expect_in(logs + before, "mail message not sent (attempt 2)");
  assert_int_equal(count("smtp"), 2);

  assert_int_equal(start_sink(&smtp, "smtp", smtp_port), smtp_port);
  assert_int_equal(remind("--once"), 0);
  assert_int_equal(count("smtp"), 3);
  assert_int_equal(count("http"), 4); /* the robot's copy is not sent twice */
  char *mail = message("smtp", 3, "txt");
  expect_in(mail, "新增逾期 1 件");
  expect_in(mail, case_d);
  free(mail);
  assert_int_equal(remind("--once"), 0);
  assert_int_equal(count("smtp"), 3);
  expect_no_canary();
}

/* Under LANG=C the alert is the English source (services/remind/digest.c):
 * E becomes overdue, one mail. */
static void test_english_under_lang_c(void **state) {
  (void)state;
  char case_e[64];
  take_in(MV_KIND(LABOUR), case_e, sizeof(case_e));
  sleep_ms(INTAKE_S * 1000 + 300);
  setenv("LANG", "C", 1);
  int rc = remind("--once");
  setenv("LANG", "zh_CN.UTF-8", 1);
  assert_int_equal(rc, 0);
  assert_int_equal(count("smtp"), 4);
  char *mail = message("smtp", 4, "txt");
  expect_in(mail, "[Mediation reminder] 大石头调解工作室: 1 newly overdue");
  expect_in(mail, "have just passed their deadline");
  expect_in(mail, case_e);
  expect_not_in(mail, "新增逾期");
  free(mail);
  expect_no_canary();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_digest),
      cmocka_unit_test(test_alert_once),
      cmocka_unit_test(test_daemon_restart),
      cmocka_unit_test(test_relay_down),
      cmocka_unit_test(test_english_under_lang_c),
  };
  return cmocka_run_group_tests_name("mediation-remind: digests and alerts by mail and robot",
                                     tests, setup, teardown);
}
