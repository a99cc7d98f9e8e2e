/*
 * test_mediactl_user.c - `mediactl user` as an admin runs it on a web
 * gateway's machine: the built binary, a configuration with [web <site>]
 * sections, passwords on standard input (--password-stdin), and the site's
 * accounts read back through web/accounts.h to see what was really stored.
 *
 * What must hold: a unit's site takes only its roster, with the roster's
 * role; the coordinators' site any name; passwd replaces the password and
 * ends a lockout; disable refuses logins; list shows states and never a
 * hash; the password appears in no output; bad command lines are usage
 * errors (exit 2) that do not echo what may be a password.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/clock.h"
#include "harness.h"
#include "mctl.h"
#include "web/accounts.h"

#define PW1 "梅花 first secret"
#define PW2 "second-secret-2026"

static th_dir dir;
static char conf[TH_PATH_MAX + 32];
static char web_marriage[TH_PATH_MAX + 32];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(th_dir_make(&dir, "mctl-user"), 0);
  assert_true(sodium_init() >= 0);
  uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  char key[64];
  sodium_bin2base64(key, sizeof(key), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
  snprintf(web_marriage, sizeof(web_marriage), "%s/web-marriage", dir.path);
  char text[4096];
  snprintf(text, sizeof(text),
           "[subdistrict]\nname = 白鹤街道\n"
           "[router]\nendpoint = ipc://%s/router.ipc\n"
           "[unit marriage-studio]\nname = 宋大姐调解工作室\nkind = marriage\npublic_key = %s\n"
           "member = mediator 宋大姐\nmember = counsellor 林咨询师\n"
           "[unit police-studio]\nname = 大石头调解工作室\nkind = police\npublic_key = %s\n"
           "member = mediator 老支书\n"
           "[coordinator coordinator]\npublic_key = %s\n"
           "[web marriage-studio]\ndata_dir = %s\n"
           "[web \"coordinators\"]\ndata_dir = %s/web-coordinators\n",
           dir.path, key, key, key, web_marriage, dir.path);
  snprintf(conf, sizeof(conf), "%s/mediation.conf", dir.path);
  write_file(conf, text);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  th_dir_remove(&dir);
  return 0;
}

/* mediactl --config conf args..., its standard input the line `input`. */
static mctl_result run_with_input(const char *input, const char *const *args) {
  char in_path[TH_PATH_MAX + 32], bin[TH_PATH_MAX];
  snprintf(in_path, sizeof(in_path), "%s/stdin", dir.path);
  write_file(in_path, input);
  th_bin(bin, sizeof(bin), "services/mediactl");
  const char *argv[40] = {"/bin/sh", "-c", "f=$1; shift; exec \"$@\" < \"$f\"", "sh", in_path,
                          bin,       "--config", conf};
  int argc = 8;
  for (int i = 0; args[i] != NULL && argc < 39; i++)
    argv[argc++] = args[i];
  argv[argc] = NULL;
  mctl_result r = {0};
  r.rc = th_run(argv, &r.out, &r.err, 60000);
  if (r.out == NULL)
    r.out = strdup("");
  if (r.err == NULL)
    r.err = strdup("");
  return r;
}
#define WITH_INPUT(input, ...) run_with_input((input), (const char *const[]){__VA_ARGS__, NULL})

/* No password in any output, ever. */
static void no_secrets(const mctl_result *r) {
  const char *secrets[] = {PW1, PW2, "first secret", "$argon2"};
  for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
    LACKS(r->out, secrets[i]);
    LACKS(r->err, secrets[i]);
  }
}

static mc_code try_login(const char *data_dir, const char *name, const char *pw) {
  wa_store *s = NULL;
  mc_err err;
  assert_int_equal(wa_open(data_dir, &s, &err), MC_OK);
  wa_account a;
  mc_code rc = wa_login(s, name, pw, mc_now_ms(), &a, &err);
  wa_close(s);
  return rc;
}

static void test_add_roster_and_list(void **state) {
  (void)state;
  mctl_result r = WITH_INPUT(PW1 "\n", "--unit", "marriage-studio", "user", "add", "宋大姐",
                             "--password-stdin");
  mctl_expect(&r, 0, "user add");
  CONTAINS(r.out, "宋大姐");
  no_secrets(&r);
  mctl_free(&r);
  assert_int_equal(try_login(web_marriage, "宋大姐", PW1), MC_OK);
  assert_int_equal(try_login(web_marriage, "宋大姐", PW2), MC_UNAUTHENTICATED);

  /* Not on the roster: refused, and the name is not repeated. */
  r = WITH_INPUT(PW1 "\n", "--unit", "marriage-studio", "user", "add", "张三", "--password-stdin");
  mctl_expect(&r, 3, "user add off the roster");
  CONTAINS(r.err, "not on the unit's roster");
  LACKS(r.err, "张三");
  no_secrets(&r);
  mctl_free(&r);
  /* Already there: refused before any password is read. */
  r = WITH_INPUT(PW2 "\n", "--unit", "marriage-studio", "user", "add", "宋大姐",
                 "--password-stdin");
  mctl_expect(&r, 3, "user add twice");
  CONTAINS(r.err, "ALREADY_EXISTS");
  mctl_free(&r);
  /* A weak password. */
  r = WITH_INPUT("short\n", "--unit", "marriage-studio", "user", "add", "林咨询师",
                 "--password-stdin");
  mctl_expect(&r, 3, "user add weak password");
  CONTAINS(r.err, "password: at least 8 bytes");
  LACKS(r.err, "short");
  mctl_free(&r);
  r = WITH_INPUT(PW2 "\n", "--unit", "marriage-studio", "user", "add", "林咨询师",
                 "--password-stdin");
  mctl_expect(&r, 0, "user add counsellor");
  mctl_free(&r);

  r = MCTL(conf, "--unit", "marriage-studio", "user", "list");
  mctl_expect(&r, 0, "user list");
  CONTAINS(r.out, "宋大姐");
  CONTAINS(r.out, "调解员");
  CONTAINS(r.out, "林咨询师");
  CONTAINS(r.out, "心理咨询师");
  CONTAINS(r.out, "正常");
  no_secrets(&r);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "marriage-studio", "--json", "user", "list");
  mctl_expect(&r, 0, "user list --json");
  no_secrets(&r);
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "site"), "marriage-studio");
  assert_int_equal(jlen(j, "accounts"), 2);
  /* LMDB orders by bytes: 宋 (E5 AE 8B) before 林 (E6 9E 97). */
  assert_string_equal(jstr(j, "accounts[0].name"), "宋大姐");
  assert_string_equal(jstr(j, "accounts[0].role"), "mediator");
  assert_string_equal(jstr(j, "accounts[0].state"), "active");
  assert_true(jint(j, "accounts[0].last_login_ms") > 0); /* the login above */
  assert_string_equal(jstr(j, "accounts[1].role"), "counsellor");
  assert_null(jpath(j, "accounts[0].password_hash"));
  json_object_put(j);
  mctl_free(&r);
}

static void test_passwd_disable_enable(void **state) {
  (void)state;
  /* Lock the account (a success first clears the failure left above), then
   * a new password ends the lock. */
  assert_int_equal(try_login(web_marriage, "宋大姐", PW1), MC_OK);
  for (int i = 0; i < WA_MAX_FAILURES; i++)
    assert_int_equal(try_login(web_marriage, "宋大姐", "wrong password"), MC_UNAUTHENTICATED);
  mctl_result r = MCTL(conf, "--unit", "marriage-studio", "--json", "user", "list");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "accounts[0].state"), "locked");
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "marriage-studio", "user", "list");
  CONTAINS(r.out, "锁定至");
  mctl_free(&r);

  r = WITH_INPUT(PW2 "\r\n", "--unit", "marriage-studio", "user", "passwd", "宋大姐",
                 "--password-stdin");
  mctl_expect(&r, 0, "user passwd");
  no_secrets(&r);
  mctl_free(&r);
  assert_int_equal(try_login(web_marriage, "宋大姐", PW1), MC_UNAUTHENTICATED);
  assert_int_equal(try_login(web_marriage, "宋大姐", PW2), MC_OK);
  r = WITH_INPUT(PW2 "\n", "--unit", "marriage-studio", "user", "passwd", "nobody",
                 "--password-stdin");
  mctl_expect(&r, 3, "user passwd unknown");
  CONTAINS(r.err, "NOT_FOUND");
  mctl_free(&r);

  r = MCTL(conf, "--unit", "marriage-studio", "user", "disable", "宋大姐");
  mctl_expect(&r, 0, "user disable");
  mctl_free(&r);
  assert_int_equal(try_login(web_marriage, "宋大姐", PW2), MC_PERMISSION_DENIED);
  r = MCTL(conf, "--unit", "marriage-studio", "--json", "user", "list");
  j = mctl_json(&r);
  assert_string_equal(jstr(j, "accounts[0].state"), "disabled");
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(conf, "--unit", "marriage-studio", "user", "list");
  CONTAINS(r.out, "已停用");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "marriage-studio", "user", "enable", "宋大姐");
  mctl_expect(&r, 0, "user enable");
  mctl_free(&r);
  assert_int_equal(try_login(web_marriage, "宋大姐", PW2), MC_OK);
}

static void test_coordinators(void **state) {
  (void)state;
  mctl_result r = WITH_INPUT(PW1 "\n", "user", "--coordinators", "add", "街道综治办王主任",
                             "--password-stdin");
  mctl_expect(&r, 0, "user add coordinator");
  no_secrets(&r);
  mctl_free(&r);
  r = MCTL(conf, "--json", "user", "--coordinators", "list");
  mctl_expect(&r, 0, "coordinators list");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "site"), "coordinators");
  assert_int_equal(jlen(j, "accounts"), 1);
  assert_string_equal(jstr(j, "accounts[0].role"), "coordinator");
  json_object_put(j);
  mctl_free(&r);
  /* An empty password line. */
  r = WITH_INPUT("", "user", "--coordinators", "add", "另一位", "--password-stdin");
  mctl_expect(&r, 1, "no password on stdin");
  CONTAINS(r.err, "no line on standard input");
  mctl_free(&r);
}

static void test_usage_errors(void **state) {
  (void)state;
  struct {
    const char *const args[8];
    int rc;
    const char *says;
  } cases[] = {
      {{"user", "list"}, 2, "--unit UNIT or --coordinators"},
      {{"--unit", "marriage-studio", "user", "--coordinators", "list"}, 2, "one of them"},
      {{"user", "--coordinators", "add"}, 2, "expected NAME"},
      {{"user", "--coordinators", "add", "某人", "hunter2-secret"}, 2, "too many arguments"},
      {{"user", "--coordinators", "list", "某人"}, 2, "list takes no NAME"},
      {{"user", "--coordinators", "rename", "某人"}, 2, "expected add, passwd"},
      {{"user", "--coordinators", "disable", "某人", "--password-stdin"}, 2,
       "only add and passwd"},
      {{"user", "--coordinators", "add", "a\tb"}, 2, "control character"},
      {{"--unit", "police-studio", "user", "list"}, 1, "no [web police-studio] section"},
      {{"--unit", "nowhere", "user", "list"}, 2, "no unit \"nowhere\""},
      {{"user", "--coordinators", "disable", "nobody"}, 3, "NOT_FOUND"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    mctl_result r = mctl_run(conf, cases[i].args);
    char what[64];
    snprintf(what, sizeof(what), "usage case %zu", i);
    mctl_expect(&r, cases[i].rc, what);
    CONTAINS(r.err, cases[i].says);
    LACKS(r.err, "hunter2");
    mctl_free(&r);
  }
  mctl_result r = MCTL(conf, "--help");
  CONTAINS(r.out, "user");
  CONTAINS(r.out, "Web logins");
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_roster_and_list),
      cmocka_unit_test(test_passwd_disable_enable),
      cmocka_unit_test(test_coordinators),
      cmocka_unit_test(test_usage_errors),
  };
  return cmocka_run_group_tests_name("mediactl user", tests, setup, teardown);
}
