/*
 * test_mediactl_tls.c - an operator whose unit cannot trust the router
 * (issue 12.4): the router listens on tls+tcp://127.0.0.1 with deploy/
 * tls-setup's certificate, and the police studio's [router] tls_ca is
 * another CA's (as after a CA renewed on the router but not copied to the
 * unit). Through the unit's Desk, mediactl must say "TLS 配置错误" and which
 * setting is wrong, not 路由暂不可达 as if the router were down: for a step
 * (still queued: fixing the file lets it through), for a case shown from the
 * local copy, and in `mediactl --unit X health`.
 *
 * Every daemon is started before this process makes an nng call (it makes
 * none: mediactl and the daemons are separate programs).
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

#define UNIT "police-studio"
/* What rpc/tlscheck.c says of a certificate signed by another CA. */
#define WRONG_CA_REASON "not signed by tls_ca (unknown CA"

static tw_world world;
static th_dir certs, other;
static th_proc unit;
static char unit_conf[TH_PATH_MAX + 32];

/* The deployment's mediation.conf with [router] tls_ca = ca: the unit's. */
static int write_unit_conf(const char *ca) {
  snprintf(unit_conf, sizeof(unit_conf), "%s/unit-wrong-ca.conf", world.dir.path);
  char *base = th_read_file(world.conf);
  FILE *f = base != NULL ? fopen(unit_conf, "w") : NULL;
  int rc = f != NULL && fprintf(f, "%s\n[router]\ntls_ca = %s\n", base, ca) > 0 ? 0 : -1;
  if (f != NULL && fclose(f) != 0)
    rc = -1;
  free(base);
  return rc;
}

static int setup(void **state) {
  (void)state;
  if (th_dir_make(&certs, "tls-desk-certs") != 0 || th_dir_make(&other, "tls-desk-other") != 0)
    return -1;
  char *lines = tw_tls_setup(certs.path, false);
  char *other_lines = tw_tls_setup(other.path, false);
  bool made = lines != NULL && other_lines != NULL;
  free(other_lines);
  if (!made) {
    free(lines);
    return -1;
  }
  int rc = tw_make_tls(&world, "mediactl-tls", lines);
  free(lines);
  if (rc != 0)
    return -1;
  char other_ca[TH_PATH_MAX + 16];
  snprintf(other_ca, sizeof(other_ca), "%s/ca.pem", other.path);
  if (write_unit_conf(other_ca) != 0)
    return -1;
  char bin[TH_PATH_MAX], log[TH_PATH_MAX + 32];
  th_bin(bin, sizeof(bin), "services/" UNIT);
  snprintf(log, sizeof(log), "%s/%s.log", world.dir.path, UNIT);
  const char *argv[] = {bin, "--config", unit_conf, "--unit", UNIT, NULL};
  return th_start(&unit, UNIT, argv, log, 30000);
}

/* The unit stops cleanly with its link refused (under valgrind, without
 * errors or leaks), then the router. */
static int teardown(void **state) {
  (void)state;
  int unit_rc = th_stop(&unit, 20000);
  if (unit_rc != 0)
    fprintf(stderr, "%s exited with %d\n", UNIT, unit_rc);
  int router_rc = tw_stop_router(&world);
  tw_destroy(&world);
  th_dir_remove(&certs);
  th_dir_remove(&other);
  return unit_rc == 0 && router_rc == 0 ? 0 : -1;
}

/* Health says why the unit cannot forward (the unit's router client finds
 * out at its first failed handshake: waited for, up to 20 s). */
static void test_health_names_the_tls_setting(void **state) {
  (void)state;
  int64_t until = mc_mono_ms() + 20000;
  mctl_result r;
  for (;;) {
    r = MCTL(unit_conf, "--unit", UNIT, "health");
    if (strstr(r.out, "TLS 配置错误") != NULL || mc_mono_ms() > until)
      break;
    mctl_free(&r);
    usleep(200 * 1000);
  }
  mctl_expect(&r, 4, "health of a unit that cannot trust its router");
  CONTAINS(r.out, "NOT_SERVING");
  CONTAINS(r.out, "TLS 配置错误");
  CONTAINS(r.out, WRONG_CA_REASON);
  CONTAINS(r.err, "TLS 配置错误");
  mctl_free(&r);
}

/* A step through the Desk is queued (the link is a setting away from
 * working) and says why, in text and in --json. */
static void test_queued_step_names_the_tls_setting(void **state) {
  (void)state;
  mctl_result r = MCTL(unit_conf, "--unit", UNIT, "intake", "--kind", "other", "--community",
                       "wangai", "--source", "walk_in", "--party", "applicant:来访者", "--ref",
                       "PS-TLS-1");
  mctl_expect(&r, 0, "intake with the router's CA wrong");
  CONTAINS(r.out, "已排队");
  CONTAINS(r.out, "TLS 配置错误");
  CONTAINS(r.out, WRONG_CA_REASON);
  LACKS(r.out, "路由暂不可达");
  mctl_free(&r);

  r = MCTL(unit_conf, "--unit", UNIT, "--json", "intake", "--kind", "other", "--community",
           "wangai", "--source", "walk_in", "--party", "applicant:来访者", "--ref", "PS-TLS-2");
  mctl_expect(&r, 0, "intake --json with the router's CA wrong");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "steps[0].disposition"), "queued");
  CONTAINS(jstr(j, "steps[0].message"), WRONG_CA_REASON);
  CONTAINS(jstr(j, "router_problem"), "TLS 配置错误");
  json_object_put(j);
  mctl_free(&r);
}

/* The case, shown from the unit's copy, says why it may be out of date. */
static void test_show_names_the_tls_setting(void **state) {
  (void)state;
  mctl_result r = MCTL(unit_conf, "--unit", UNIT, "show", "PS-TLS-1");
  mctl_expect(&r, 0, "show with the router's CA wrong");
  CONTAINS(r.out, "本地副本");
  CONTAINS(r.out, "TLS 配置错误");
  CONTAINS(r.out, WRONG_CA_REASON);
  LACKS(r.out, "路由暂不可达");
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_health_names_the_tls_setting),
      cmocka_unit_test(test_queued_step_names_the_tls_setting),
      cmocka_unit_test(test_show_names_the_tls_setting),
  };
  return cmocka_run_group_tests_name("mediactl through a unit that cannot trust its router",
                                     tests, setup, teardown);
}
