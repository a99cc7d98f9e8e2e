/*
 * test_conf.c - the configuration the systemd units expect, against the
 * registry that reads it:
 *   - deploy/mediation.conf.example, with public keys added, loads, and
 *     every key in it is one the registry knows;
 *   - `mkdeploy --system --router-endpoint tls+tcp://...` writes a config
 *     that loads;
 *   - both put each store and socket where the generated units give the
 *     daemons room: /var/lib/mediation/<id> (StateDirectory=mediation/%i),
 *     /var/lib/mediation/router and .../backups, /run/mediation/<id>.ipc
 *     (RuntimeDirectory=mediation);
 *   - every program and every unit has one default configuration path, the
 *     build's sysconfdir (MEDIATION_DEFAULT_CONFIG), and `mkdeploy --system`
 *     (as installed) writes keys_dir beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/registry.h"
#include "harness.h"

static const char *const principals[] = {
    "police-studio",          "marriage-studio",          "station-wangai",
    "station-baihe",          "station-kongque",          "coordinator",
    "police-studio-operator", "marriage-studio-operator", "station-wangai-operator",
    "station-baihe-operator", "station-kongque-operator"};
#define N_PRINCIPALS (sizeof(principals) / sizeof(principals[0]))

static th_dir dir;

static int setup(void **state) {
  (void)state;
  return th_dir_make(&dir, "deploy-conf");
}

static int teardown(void **state) {
  (void)state;
  th_dir_remove(&dir);
  return 0;
}

static void run(const char *const argv[]) {
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, 30000);
  if (rc != 0)
    fail_msg("%s failed (%d): %s%s", argv[0], rc, out ? out : "", err ? err : "");
  free(out);
  free(err);
}

static char *read_or_fail(const char *path) {
  char *text = th_read_file(path);
  if (text == NULL)
    fail_msg("cannot read %s", path);
  return text;
}

/* The layout the units expect (see the file comment). */
static void check_system_layout(const mc_registry *reg) {
  assert_string_equal(reg->router.data_dir, "/var/lib/mediation/router");
  assert_string_equal(reg->router.backup_dir, "/var/lib/mediation/backups");
  assert_int_equal(reg->n_units, 5);
  for (size_t i = 0; i < reg->n_units; i++) {
    char want[256];
    snprintf(want, sizeof(want), "/var/lib/mediation/%s", reg->units[i].id);
    assert_string_equal(reg->units[i].data_dir, want);
    snprintf(want, sizeof(want), "ipc:///run/mediation/%s.ipc", reg->units[i].id);
    assert_string_equal(reg->units[i].endpoint, want);
    /* Its web gateway: accounts where mediation-web@UNIT's StateDirectory is. */
    const mc_web_site *site = mc_registry_web_site(reg, reg->units[i].id);
    assert_non_null(site);
    snprintf(want, sizeof(want), "/var/lib/mediation/web-%s", reg->units[i].id);
    assert_string_equal(site->data_dir, want);
    snprintf(want, sizeof(want), "%s-operator", reg->units[i].id);
    assert_string_equal(site->principal, want);
  }
  const mc_web_site *coord = mc_registry_web_site(reg, MC_WEB_COORDINATORS);
  assert_non_null(coord);
  assert_string_equal(coord->data_dir, "/var/lib/mediation/web-coordinators");
  assert_string_equal(coord->principal, "coordinator");
  assert_int_equal(reg->n_web_sites, 6);
}

/* The generated units give the daemons those directories. */
static void test_units_match_the_layout(void **state) {
  (void)state;
  char path[TH_PATH_MAX];
  th_bin(path, sizeof(path), "deploy/systemd/mediation-router.service");
  char *router = read_or_fail(path);
  assert_non_null(strstr(router, "\nStateDirectory=mediation/router mediation/backups\n"));
  assert_non_null(strstr(router, "\nRuntimeDirectory=mediation\n"));
  free(router);
  static const char *const templates[] = {"police", "marriage", "community"};
  for (int i = 0; i < 3; i++) {
    char rel[128];
    snprintf(rel, sizeof(rel), "deploy/systemd/mediation-%s@.service", templates[i]);
    char *unit = read_or_fail(th_bin(path, sizeof(path), rel));
    assert_non_null(strstr(unit, "\nStateDirectory=mediation/%i\n"));
    assert_non_null(strstr(unit, "\nRuntimeDirectory=mediation\n"));
    assert_non_null(strstr(unit, " --unit %i\n"));
    free(unit);
  }
  /* The web gateways: their accounts in /var/lib/mediation/web-<site>. */
  char *web = read_or_fail(th_bin(path, sizeof(path), "deploy/systemd/mediation-web@.service"));
  assert_non_null(strstr(web, "\nStateDirectory=mediation/web-%i\n"));
  assert_non_null(strstr(web, "\nRuntimeDirectory=mediation\n"));
  assert_non_null(strstr(web, " --unit %i\n"));
  free(web);
  web = read_or_fail(th_bin(path, sizeof(path), "deploy/systemd/mediation-web-coordinators.service"));
  assert_non_null(strstr(web, "\nStateDirectory=mediation/web-coordinators\n"));
  assert_non_null(strstr(web, " --coordinator\n"));
  free(web);
}

static void test_example_loads(void **state) {
  (void)state;
  char keys[TH_PATH_MAX + 8], keygen[TH_PATH_MAX];
  snprintf(keys, sizeof(keys), "%s/keys", dir.path);
  const char *argv[N_PRINCIPALS + 4] = {th_bin(keygen, sizeof(keygen), "rpc/mediation-keygen"),
                                        "--dir", keys};
  for (size_t i = 0; i < N_PRINCIPALS; i++)
    argv[3 + i] = principals[i];
  run(argv);

  char example[TH_PATH_MAX], conf[TH_PATH_MAX + 32];
  snprintf(example, sizeof(example), "%s/deploy/mediation.conf.example", MEDIATION_SOURCE_DIR);
  char *text = read_or_fail(example);
  snprintf(conf, sizeof(conf), "%s/example.conf", dir.path);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fputs(text, f);
  free(text);
  /* The public keys mkdeploy would write, one section each. */
  for (size_t i = 0; i < N_PRINCIPALS; i++) {
    char pub_path[TH_PATH_MAX + 128];
    snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", keys, principals[i]);
    char *pub = read_or_fail(pub_path);
    pub[strcspn(pub, "\n")] = '\0';
    const char *kind = i < 5 ? "unit" : i == 5 ? "coordinator" : "operator";
    fprintf(f, "\n[%s %s]\npublic_key = %s\n", kind, principals[i], pub);
    free(pub);
  }
  assert_int_equal(fclose(f), 0);

  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_load(conf, &reg, &err) != MC_OK)
    fail_msg("deploy/mediation.conf.example: %s", err.msg);
  check_system_layout(reg);
  assert_string_equal(reg->router.endpoint, "tls+tcp://router.baihe.example:7300");
  assert_string_equal(reg->router.tls_server_name, "router.baihe.example");
  assert_string_equal(reg->router.tls_ca, "/etc/mediation/tls/ca.pem");
  assert_string_equal(reg->keys_dir, "/etc/mediation/keys");
  assert_int_equal(reg->n_communities, 3);
  mc_registry_free(reg);
}

static void test_mkdeploy_system_loads(void **state) {
  (void)state;
  char script[TH_PATH_MAX], keygen[TH_PATH_MAX], out[TH_PATH_MAX + 8];
  snprintf(script, sizeof(script), "%s/deploy/mkdeploy", MEDIATION_SOURCE_DIR);
  snprintf(out, sizeof(out), "%s/etc", dir.path);
  const char *argv[] = {script, "--dir", out, "--system", "--keygen",
                        th_bin(keygen, sizeof(keygen), "rpc/mediation-keygen"),
                        "--router-endpoint", "tls+tcp://router.baihe.example:7300", NULL};
  run(argv);
  char conf[TH_PATH_MAX + 32];
  snprintf(conf, sizeof(conf), "%s/mediation.conf", out);
  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_load(conf, &reg, &err) != MC_OK)
    fail_msg("mkdeploy --system: %s", err.msg);
  check_system_layout(reg);
  assert_string_equal(reg->router.endpoint, "tls+tcp://router.baihe.example:7300");
  /* The keys go where the machines keep them, not where mkdeploy made them. */
  assert_string_equal(reg->keys_dir, "/etc/mediation/keys");
  mc_registry_free(reg);

  /* --keys-dir names another place; the keys are still made in DIR/keys. */
  const char *again[] = {script, "--dir", out, "--force", "--keygen", keygen, "--keys-dir",
                         "/srv/mediation/keys", NULL};
  run(again);
  if (mc_registry_load(conf, &reg, &err) != MC_OK)
    fail_msg("mkdeploy --keys-dir: %s", err.msg);
  assert_string_equal(reg->keys_dir, "/srv/mediation/keys");
  mc_registry_free(reg);
}

/* The error docs/configuration.md quotes is the one the registry gives: a
 * `[deadlines] transfer = soon` in a real configuration. */
static void test_documented_error_is_real(void **state) {
  (void)state;
  char path[TH_PATH_MAX];
  snprintf(path, sizeof(path), "%s/docs/configuration.md", MEDIATION_SOURCE_DIR);
  char *doc = read_or_fail(path);
  const char *start = strstr(doc, "(e.g.\n`");
  assert_non_null(start);
  start += strlen("(e.g.\n`");
  const char *end = strchr(start, '`');
  assert_non_null(end);
  char quoted[512];
  snprintf(quoted, sizeof(quoted), "%.*s", (int)(end - start), start);
  free(doc);
  const char *after_file = strstr(quoted, "mediation.conf: ");
  assert_non_null(after_file);

  char script[TH_PATH_MAX], keygen[TH_PATH_MAX], out[TH_PATH_MAX + 8];
  snprintf(script, sizeof(script), "%s/deploy/mkdeploy", MEDIATION_SOURCE_DIR);
  snprintf(out, sizeof(out), "%s/bad", dir.path);
  const char *argv[] = {script, "--dir", out, "--keygen",
                        th_bin(keygen, sizeof(keygen), "rpc/mediation-keygen"), NULL};
  run(argv);
  char conf[TH_PATH_MAX + 32];
  snprintf(conf, sizeof(conf), "%s/mediation.conf", out);
  char *text = read_or_fail(conf);
  char *line = strstr(text, "\ntransfer = 24h\n");
  assert_non_null(line);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f, "%.*s\ntransfer = soon\n%s", (int)(line - text), text,
          line + strlen("\ntransfer = 24h\n"));
  fclose(f);
  free(text);
  mc_registry *reg = NULL;
  mc_err err;
  assert_int_not_equal(mc_registry_load(conf, &reg, &err), MC_OK);
  const char *got = strstr(err.msg, "mediation.conf: ");
  if (got == NULL || strcmp(got, after_file) != 0)
    fail_msg("configuration.md quotes\n  %s\nthe registry says\n  %s", quoted, err.msg);
}

/* One default configuration path for every program: the router, the unit
 * daemons and mediactl say the same in --help, the systemd units pass it,
 * and the installed mkdeploy --system puts keys_dir beside it. */
static void test_one_default_config_path(void **state) {
  (void)state;
  const char *want = MEDIATION_DEFAULT_CONFIG;
  static const char *const programs[] = {"router/mediation-router", "services/police-studio",
                                         "services/marriage-studio",
                                         "services/community-station", "services/mediactl"};
  for (size_t i = 0; i < sizeof(programs) / sizeof(programs[0]); i++) {
    char bin[TH_PATH_MAX];
    const char *argv[] = {th_bin(bin, sizeof(bin), programs[i]), "--help", NULL};
    char *out = NULL, *err = NULL;
    th_run(argv, &out, &err, 30000);
    if (out == NULL || strstr(out, want) == NULL)
      fail_msg("%s --help does not name %s as the default:\n%s", programs[i], want,
               out ? out : "");
    free(out);
    free(err);
  }
  static const char *const units[] = {"mediation-router.service", "mediation-police@.service",
                                      "mediation-marriage@.service",
                                      "mediation-community@.service", "mediation-backup.service"};
  char config_arg[TH_PATH_MAX];
  snprintf(config_arg, sizeof(config_arg), " --config %s", want);
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    char rel[128], path[TH_PATH_MAX];
    snprintf(rel, sizeof(rel), "deploy/systemd/%s", units[i]);
    char *unit = read_or_fail(th_bin(path, sizeof(path), rel));
    const char *at = strstr(unit, config_arg);
    char after = at != NULL ? at[strlen(config_arg)] : '?';
    if (at == NULL || (after != ' ' && after != '\n'))
      fail_msg("%s does not pass%s", units[i], config_arg);
    free(unit);
  }
  char path[TH_PATH_MAX], line[TH_PATH_MAX + 32];
  char *mkdeploy = read_or_fail(th_bin(path, sizeof(path), "deploy/mediation-mkdeploy"));
  snprintf(line, sizeof(line), "\nsystem_config_dir=%.*s\n",
           (int)(strrchr(want, '/') - want), want);
  if (strstr(mkdeploy, line) == NULL)
    fail_msg("the installed mkdeploy does not default keys_dir beside %s", want);
  free(mkdeploy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_units_match_the_layout),
      cmocka_unit_test(test_example_loads),
      cmocka_unit_test(test_mkdeploy_system_loads),
      cmocka_unit_test(test_one_default_config_path),
      cmocka_unit_test(test_documented_error_is_real),
  };
  return cmocka_run_group_tests_name("deploy configuration", tests, setup, teardown);
}
