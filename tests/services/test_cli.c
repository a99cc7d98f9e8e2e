/*
 * test_cli.c - the unit daemons as programs: --help, --version, and the
 * refusals at start that tell the user what to fix (exit 2 for usage, 1
 * for a configuration that does not fit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "world.h"

static tw_world world;

static int setup(void **state) {
  (void)state;
  return tw_make(&world, "cli", NULL, false);
}

static int teardown(void **state) {
  (void)state;
  tw_destroy(&world);
  return 0;
}

/* Runs build/services/<program> with args; returns the exit status and
 * both outputs (caller frees). */
static int run(const char *program, const char *const *args, char **out, char **err) {
  char bin[TH_PATH_MAX], rel[64];
  snprintf(rel, sizeof(rel), "services/%s", program);
  th_bin(bin, sizeof(bin), rel);
  const char *argv[16] = {bin};
  int n = 1;
  for (; args[n - 1] != NULL && n < 15; n++)
    argv[n] = args[n - 1];
  argv[n] = NULL;
  return th_run(argv, out, err, 20000);
}

static void expect(const char *program, const char *const *args, int status, const char *in_out,
                   const char *in_err) {
  char *out = NULL, *err = NULL;
  int rc = run(program, args, &out, &err);
  if (rc != status || (in_out && strstr(out, in_out) == NULL) ||
      (in_err && strstr(err, in_err) == NULL))
    fail_msg("%s %s: exit %d (expected %d)\nstdout: %s\nstderr: %s", program, args[0], rc,
             status, out ? out : "", err ? err : "");
  free(out);
  free(err);
}

static void test_help_and_version(void **state) {
  (void)state;
  expect("police-studio", (const char *[]){"--help", NULL}, 0, "Usage: police-studio", NULL);
  expect("marriage-studio", (const char *[]){"-h", NULL}, 0, "宋大姐调解工作室", NULL);
  expect("community-station", (const char *[]){"--help", NULL}, 0, "--unit ID", NULL);
  expect("community-station", (const char *[]){"--version", NULL}, 0, "community-station " MEDIATION_VERSION, NULL);
}

static void test_refused_at_start(void **state) {
  (void)state;
  expect("police-studio", (const char *[]){"--bogus", NULL}, 2, NULL, "Usage:");
  expect("police-studio", (const char *[]){"--log-level", "loud", NULL}, 2, NULL, "--log-level");
  expect("police-studio", (const char *[]){"extra", NULL}, 2, NULL, "unexpected argument");
  /* a station needs to be told which community it serves */
  expect("community-station", (const char *[]){"--config", world.conf, NULL}, 2, NULL, "--unit");
  /* the wrong program for the unit, a unit not configured, no config */
  expect("police-studio", (const char *[]){"--config", world.conf, "--unit", "station-baihe", NULL},
         1, NULL, "community-station");
  expect("community-station",
         (const char *[]){"--config", world.conf, "--unit", "station-nowhere", NULL}, 1, NULL,
         "no [unit station-nowhere]");
  expect("marriage-studio", (const char *[]){"--config", "/nonexistent/mediation.conf", NULL}, 1,
         NULL, "configuration");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_and_version),
      cmocka_unit_test(test_refused_at_start),
  };
  return cmocka_run_group_tests_name("unit daemons as programs", tests, setup, teardown);
}
