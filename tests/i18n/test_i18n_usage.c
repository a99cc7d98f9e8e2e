/*
 * test_i18n_usage.c - every mediactl usage error and help text, as a person
 * sees it, under LANG=zh_CN.UTF-8 and LANG=C.
 *
 * The commands come from mediactl's own table (ctl_commands), so a command
 * added later is checked without touching this file. For each: `--help`,
 * an unknown option, no arguments, too many arguments; and a few wrong
 * option values. Under zh_CN.UTF-8 what it prints must hold Chinese and no
 * English sentence (english.h); under C the same command prints the English
 * source ("Usage:"), and the exit code is the same in both. Then a broken
 * configuration, as mediactl and mediation-remind refuse it, and
 * mediation-remind's usage error, in both languages.
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/i18n.h"
#include "core/names.h"
#include "english.h"
#include "harness.h"
#include "mctl.h"
#include "services/coordinator/ctl.h"

static int checked;

static void run_both(const char *const *args, const char *what) {
  char found[256];
  setenv("LANG", "zh_CN.UTF-8", 1);
  mctl_result zh = mctl_run(NULL, args);
  setenv("LANG", "C", 1);
  mctl_result en = mctl_run(NULL, args);
  if (zh.rc != en.rc)
    fail_msg("%s: exit %d in Chinese, %d in English", what, zh.rc, en.rc);
  if (zh.rc != 0 && zh.rc != 2) {
    /* Not a usage error (it got as far as the configuration): not ours to judge here. */
    mctl_free(&zh);
    mctl_free(&en);
    return;
  }
  const char *zh_text = zh.rc == 0 ? zh.out : zh.err;
  const char *en_text = en.rc == 0 ? en.out : en.err;
  if (en_sentence(zh_text, found, sizeof(found)))
    fail_msg("%s, in Chinese: English left (\"%s\") in:\n%s", what, found, zh_text);
  if (strstr(zh_text, "用法") == NULL)
    fail_msg("%s, in Chinese: no 用法 in:\n%s", what, zh_text);
  if (strstr(en_text, "Usage:") == NULL)
    fail_msg("%s, in English: no Usage: in:\n%s", what, en_text);
  checked++;
  mctl_free(&zh);
  mctl_free(&en);
}

#define BOTH(what, ...) run_both((const char *const[]){__VA_ARGS__, NULL}, (what))

static void test_every_command(void **state) {
  (void)state;
  char what[128];
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++) {
    snprintf(what, sizeof(what), "mediactl %s --help", c->name);
    BOTH(what, c->name, "--help");
    snprintf(what, sizeof(what), "mediactl %s --no-such-option", c->name);
    BOTH(what, c->name, "--no-such-option");
    snprintf(what, sizeof(what), "mediactl --unit police-studio %s", c->name);
    BOTH(what, "--unit", "police-studio", c->name);
    snprintf(what, sizeof(what), "mediactl %s (too many arguments)", c->name);
    BOTH(what, c->name, "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9");
  }
}

static void test_global_usage_errors(void **state) {
  (void)state;
  /* The rule can fail: it finds the English of the English help. */
  char found[256];
  setenv("LANG", "C", 1);
  mctl_result en = mctl_run(NULL, (const char *const[]){"--help", NULL});
  assert_true(en_sentence(en.out, found, sizeof(found)));
  assert_true(en_sentence("mediactl start: expected CASE (a case id)", found, sizeof(found)));
  assert_false(en_sentence("mediactl document ledger -o FILE [--from DATE]", found, sizeof(found)));
  mctl_free(&en);
  BOTH("mediactl --help", "--help");
  BOTH("mediactl (no command)", "--timeout", "5");
  BOTH("mediactl no-such-command", "no-such-command");
  BOTH("mediactl --timeout abc", "--timeout", "abc", "list");
  BOTH("mediactl --bogus", "--bogus");
  BOTH("mediactl list --limit 0", "list", "--limit", "0");
  BOTH("mediactl figures --by nonsense", "figures", "--by", "nonsense");
  BOTH("mediactl figures --from-month 13", "figures", "--from-month", "13");
  BOTH("mediactl access-log --from yesterday", "access-log", "--from", "yesterday");
  BOTH("mediactl intake --kind nonsense", "--unit", "police-studio", "intake", "--kind",
       "nonsense");
  BOTH("mediactl outcome with both", "--unit", "police-studio", "outcome", "BH-2026-000001",
       "--agreement", "--no-agreement");
}

/* A refusal names an action as people know it: in Chinese its label and
 * the mediactl word they type (开始调处（start）). The translations of the
 * "action" context (core/machine.c) are held to the command table and the
 * labels of core/actions.h, so renaming a command cannot leave refusals
 * naming the old word. intake is take_in's word (a new case). */
static void test_actions_shown_by_their_command_words(void **state) {
  (void)state;
  mc_i18n_init();
  locale_t previous = mc_i18n_use("zh_CN");
  assert_string_equal(mc_i18n_current(), "zh_CN");
  int n = 0;
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++) {
    mv_action_kind kind = c->action;
    if (strcmp(c->name, "intake") == 0)
      kind = MV_ACTION(TAKE_IN);
    if (kind == 0)
      continue;
    char key[128], want[256];
    snprintf(key, sizeof(key), "action%c%s", 4, mc_name_of(mc_action_names, (int)kind));
    snprintf(want, sizeof(want), "%s（%s）", mc_label_of(mc_action_names, (int)kind), c->name);
    const char *shown = mc_pgettext(key);
    if (strcmp(shown, want) != 0)
      fail_msg("mediactl %s: po/zh_CN.po shows the action as \"%s\", not \"%s\"", c->name,
               shown, want);
    n++;
  }
  mc_i18n_restore(previous);
  assert_int_equal(n, 17); /* every action a person takes (not the router's receipt) */
}

static void test_enough_was_checked(void **state) {
  (void)state;
  /* Each command's help and unknown option at least. */
  size_t commands = 0;
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++)
    commands++;
  assert_true((size_t)checked >= 2 * commands);
}

/* Runs argv under LANG=zh_CN.UTF-8 and LANG=C; both refuse with exit want,
 * stderr in Chinese holds zh_phrase and no English sentence, in English
 * en_phrase. */
static void config_refused_both(const char *const *argv, int want, const char *zh_phrase,
                                const char *en_phrase) {
  char *out = NULL, *zh = NULL, *en = NULL, found[256];
  setenv("LANG", "zh_CN.UTF-8", 1);
  int rc_zh = th_run(argv, &out, &zh, 20000);
  free(out);
  setenv("LANG", "C", 1);
  int rc_en = th_run(argv, &out, &en, 20000);
  free(out);
  if (rc_zh != want || rc_en != want)
    fail_msg("%s: exit %d in Chinese, %d in English, expected %d\n%s\n%s", argv[0], rc_zh, rc_en,
             want, zh ? zh : "", en ? en : "");
  if (zh == NULL || strstr(zh, zh_phrase) == NULL || en_sentence(zh, found, sizeof(found)))
    fail_msg("%s, in Chinese: expected \"%s\", no English (\"%s\") in:\n%s", argv[0], zh_phrase,
             found, zh ? zh : "");
  if (en == NULL || strstr(en, en_phrase) == NULL)
    fail_msg("%s, in English: expected \"%s\" in:\n%s", argv[0], en_phrase, en ? en : "");
  free(zh);
  free(en);
}

/* A configuration a person wrote wrong (core/registry_load.c), as mediactl
 * and a daemon (mediation-remind) refuse it at start; a missing key file. */
static void test_config_errors(void **state) {
  (void)state;
  th_dir dir;
  assert_int_equal(th_dir_make(&dir, "i18n-conf"), 0);
  char conf[TH_PATH_MAX + 32], bin[TH_PATH_MAX];
  snprintf(conf, sizeof(conf), "%s/mediation.conf", dir.path);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fputs("[router]\nendpoint = ipc:///nonexistent/router\nno_such_key = 1\n", f);
  fclose(f);
  config_refused_both((const char *const[]){th_bin(bin, sizeof(bin), "services/mediactl"),
                                            "--config", conf, "list", NULL},
                      1, "没有这个配置项", "[router] no_such_key: unknown key");
  config_refused_both((const char *const[]){th_bin(bin, sizeof(bin), "services/mediation-remind"),
                                            "--config", conf, "--once", NULL},
                      1, "没有这个配置项", "[router] no_such_key: unknown key");
  f = fopen(conf, "w");
  assert_non_null(f);
  fputs("[unit police-studio]\nkind = police\n[unit police-studio]\nkind = bakery\n", f);
  fclose(f);
  config_refused_both((const char *const[]){th_bin(bin, sizeof(bin), "services/mediactl"),
                                            "--config", conf, "list", NULL},
                      1, "应为 police、marriage 或 community",
                      "expected police, marriage or community, got \"bakery\"");
  /* A key file that is not there (rpc/identity.c), as mediactl says it. */
  f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f, "[subdistrict]\nkeys_dir = %s\n[router]\nendpoint = ipc:///nonexistent/router\n",
          dir.path);
  fclose(f);
  config_refused_both((const char *const[]){th_bin(bin, sizeof(bin), "services/mediactl"),
                                            "--config", conf, "list", NULL},
                      1, "没有这个密钥文件", "no such key file: copy coordinator's key here");
  /* mediation-remind's own usage error. */
  char *out = NULL, *zh = NULL, found[256];
  setenv("LANG", "zh_CN.UTF-8", 1);
  int rc = th_run((const char *const[]){bin, "--once", "extra", NULL}, &out, &zh, 20000);
  setenv("LANG", "C", 1);
  assert_int_equal(rc, 2);
  if (strstr(zh, "用法") == NULL || en_sentence(zh, found, sizeof(found)))
    fail_msg("mediation-remind usage, in Chinese: English left (\"%s\") in:\n%s", found, zh);
  free(out);
  free(zh);
  th_dir_remove(&dir);
}

/* Every daemon's --help and an unknown option, as the person installing
 * it reads them: Chinese with no English sentence, the English source
 * under LANG=C, the same exit code. */
static void test_daemon_help(void **state) {
  (void)state;
  static const char *const daemons[] = {
      "router/mediation-router",     "services/police-studio",  "services/marriage-studio",
      "services/community-station",  "services/mediation-web",  "services/mediation-remind",
      "rpc/mediation-keygen",
  };
  for (size_t i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
    for (int bad = 0; bad <= 1; bad++) {
      char bin[TH_PATH_MAX], found[256] = "";
      th_bin(bin, sizeof(bin), daemons[i]);
      const char *const argv[] = {bin, bad ? "--no-such-option" : "--help", NULL};
      char *zh_out = NULL, *zh_err = NULL, *en_out = NULL, *en_err = NULL;
      setenv("LANG", "zh_CN.UTF-8", 1);
      int rc_zh = th_run(argv, &zh_out, &zh_err, 20000);
      setenv("LANG", "C", 1);
      int rc_en = th_run(argv, &en_out, &en_err, 20000);
      const char *zh = bad ? zh_err : zh_out, *en = bad ? en_err : en_out;
      if (rc_zh != rc_en || rc_zh != (bad ? 2 : 0))
        fail_msg("%s %s: exit %d in Chinese, %d in English", daemons[i], argv[1], rc_zh, rc_en);
      if (zh == NULL || strstr(zh, "用法") == NULL || en_sentence(zh, found, sizeof(found)))
        fail_msg("%s %s, in Chinese: English left (\"%s\") in:\n%s", daemons[i], argv[1], found,
                 zh ? zh : "");
      if (en == NULL || strcasestr(en, "usage:") == NULL)
        fail_msg("%s %s, in English: no Usage: in:\n%s", daemons[i], argv[1], en ? en : "");
      free(zh_out);
      free(zh_err);
      free(en_out);
      free(en_err);
    }
  }
}

int main(void) {
  /* No configuration to find: usage errors come before it is read. */
  setenv("MEDIATION_CONFIG", "/nonexistent/mediation.conf", 1);
  unsetenv("LC_ALL");
  unsetenv("LC_MESSAGES");
  unsetenv("LANGUAGE");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_command),
      cmocka_unit_test(test_global_usage_errors),
      cmocka_unit_test(test_enough_was_checked),
      cmocka_unit_test(test_actions_shown_by_their_command_words),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_daemon_help),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
