/*
 * test_mediactl_cluster.c - the clients of a cluster of routers, end to end
 * (issue 19): mediactl and a unit daemon against three real
 * mediation-router processes ([cluster <id>] sections, raft over
 * 127.0.0.1), and mediactl against a single router.
 *
 * What must hold:
 *   - `cluster status` asks every router: exactly one says it leads, and
 *     every one names it; `--node N` asks only N; a single router says
 *     单节点;
 *   - `cluster transfer-leader N` moves leadership to N, and status says so;
 *   - a unit daemon, whose router client is made from the same
 *     configuration, follows the leader: it logs "router leader is now
 *     node N", and a step taken at its Desk lands on the cluster after the
 *     leader is SIGKILLed (seen through mediactl, whose own client has to
 *     get past the dead node too);
 *   - `--stale-ok` reads are answered.
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

#include "cluster_proc.h"
#include "core/clock.h"
#include "mctl.h"
#include "world.h"

#define NODES TC_NODES

static tw_world world;
static tc_cluster cl; /* the three routers (tests/support/cluster_proc.h) */

static int setup_cluster(void **state) {
  (void)state;
  if (tw_make(&world, "ctl-cluster", NULL, true) != 0)
    return -1;
  char text[TH_PATH_MAX + 96];
  snprintf(text, sizeof(text), "\n[storage]\nmode = raft\n[router]\nbackup_dir = %s/backups\n",
           world.dir.path);
  if (tc_setup_conf_in(&cl, &world, world.conf, text, "tcp", NULL, NULL) != 0)
    return -1;
  for (int i = 0; i < NODES; i++)
    if (tc_start_node(&cl, i) != 0)
      return -1;
  return tw_start_unit(&world, "police-studio", "police-studio");
}

static int teardown_cluster(void **state) {
  (void)state;
  tw_destroy(&world); /* the unit first */
  tc_stop_nodes(&cl);
  return 0;
}

/* The leader every answering router names, if exactly one says it leads
 * and all NODES answered and agree; else 0. */
static uint64_t agreed_leader(void) {
  mctl_result r = MCTL(world.conf, "--json", "cluster", "status");
  uint64_t leader = 0;
  int leaders = 0;
  bool agree = r.rc == 0;
  if (r.rc == 0) {
    json_object *j = mctl_json(&r);
    assert_int_equal(jlen(j, "nodes"), NODES);
    for (int i = 0; i < NODES; i++) {
      char path[64];
      snprintf(path, sizeof(path), "nodes[%d].state", i);
      if (strcmp(jstr(j, path), "leader") == 0) {
        leaders++;
        snprintf(path, sizeof(path), "nodes[%d].node_id", i);
        leader = (uint64_t)jint(j, path);
      }
    }
    for (int i = 0; i < NODES && leaders == 1; i++) {
      char path[64];
      snprintf(path, sizeof(path), "nodes[%d].leader_id", i);
      agree = agree && (uint64_t)jint(j, path) == leader;
    }
    json_object_put(j);
  }
  mctl_free(&r);
  return leaders == 1 && agree ? leader : 0;
}

static uint64_t await_leader(int within_ms) {
  int64_t until = mc_mono_ms() + within_ms;
  uint64_t leader;
  while ((leader = agreed_leader()) == 0 && mc_mono_ms() < until)
    tc_sleep_ms(100);
  return leader;
}

/* mediactl show police-studio:ref, as the coordinator, until it is found. */
static bool case_lands(const char *ref, int within_ms, int64_t *took_ms) {
  char arg[64];
  snprintf(arg, sizeof(arg), "police-studio:%s", ref);
  int64_t t0 = mc_mono_ms();
  for (;;) {
    mctl_result r = MCTL(world.conf, "--timeout", "5", "show", arg);
    int rc = r.rc;
    if (rc != 0 && mc_mono_ms() - t0 >= within_ms)
      fprintf(stderr, "show %s: exit %d: %s\n", arg, rc, r.err);
    mctl_free(&r);
    if (rc == 0) {
      *took_ms = mc_mono_ms() - t0;
      return true;
    }
    if (mc_mono_ms() - t0 >= within_ms)
      return false;
    tc_sleep_ms(200);
  }
}

static void intake(const char *ref) {
  mctl_result r = MCTL(world.conf, "--unit", "police-studio", "intake", "--kind", "neighbour",
                       "--community", "白鹤社区", "--source", "walk_in", "--party",
                       "applicant:邻居甲", "--party", "respondent:邻居乙", "--ref", ref);
  if (r.rc != 0 && r.rc != 7)
    mctl_expect(&r, 0, ref);
  mctl_free(&r);
}

static void test_three_routers(void **state) {
  (void)state;
  uint64_t leader = await_leader(20000);
  if (leader == 0)
    fail_msg("no single leader that every router names within 20 s");

  /* The table: one row per router, one 主节点 and two 从节点. */
  mctl_result r = MCTL(world.conf, "cluster", "status");
  mctl_expect(&r, 0, "cluster status");
  CONTAINS(r.out, "节点");
  CONTAINS(r.out, "任期");
  CONTAINS(r.out, "主节点");
  CONTAINS(r.out, "从节点");
  for (int i = 0; i < NODES; i++) {
    char url[80];
    snprintf(url, sizeof(url), "%s", world.reg->nodes[i].endpoint);
    CONTAINS(r.out, url);
  }
  mctl_free(&r);

  /* --node: that router only. */
  uint64_t follower = leader % NODES + 1;
  char fid[8];
  snprintf(fid, sizeof(fid), "%llu", (unsigned long long)follower);
  r = MCTL(world.conf, "--node", fid, "--json", "cluster", "status");
  mctl_expect(&r, 0, "cluster status --node");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "nodes"), 1);
  assert_int_equal(jint(j, "nodes[0].node_id"), (int64_t)follower);
  assert_string_equal(jstr(j, "nodes[0].state"), "follower");
  json_object_put(j);
  mctl_free(&r);

  /* A step through the unit while the first leader leads. */
  intake("cc-1");
  int64_t took = 0;
  assert_true(case_lands("cc-1", 10000, &took));

  /* transfer-leader moves it, from wherever mediactl's client starts. */
  r = MCTL(world.conf, "cluster", "transfer-leader", fid);
  mctl_expect(&r, 0, "transfer-leader");
  char want[64];
  snprintf(want, sizeof(want), "主节点现在是节点 %s", fid);
  CONTAINS(r.out, want);
  mctl_free(&r);
  assert_int_equal(await_leader(5000), follower);
  leader = follower;

  /* A read from a follower, with --stale-ok (it may lag: a few tries). */
  uint64_t other = leader % NODES + 1;
  char oid[8];
  snprintf(oid, sizeof(oid), "%llu", (unsigned long long)other);
  int64_t until = mc_mono_ms() + 5000;
  for (;;) {
    r = MCTL(world.conf, "--node", oid, "--stale-ok", "show", "police-studio:cc-1");
    int rc = r.rc;
    mctl_free(&r);
    if (rc == 0)
      break;
    assert_true(mc_mono_ms() < until);
    tc_sleep_ms(100);
  }
  /* A follower backs up its own store (no --stale-ok needed: the copy is
   * of what that node has applied, into its own backup_dir). */
  r = MCTL(world.conf, "--node", oid, "backup");
  mctl_expect(&r, 0, "a follower's backup");
  char backups[TH_PATH_MAX + 16];
  snprintf(backups, sizeof(backups), "%s/backups/", world.dir.path);
  CONTAINS(r.out, backups);
  mctl_free(&r);
  /* Without --stale-ok that follower refuses, naming the leader (exit 4). */
  r = MCTL(world.conf, "--node", oid, "show", "police-studio:cc-1");
  mctl_expect(&r, 4, "a follower's plain read");
  mctl_free(&r);

  /* The unit follows the new leader. */
  intake("cc-2");
  assert_true(case_lands("cc-2", 10000, &took));
  char log[TH_PATH_MAX + 32];
  snprintf(log, sizeof(log), "%s/police-studio.log", world.dir.path);
  char *text = th_read_file(log);
  assert_non_null(text);
  snprintf(want, sizeof(want), "router leader is now node %s", fid);
  CONTAINS(text, want);
  free(text);

  /* SIGKILL the leader: the unit's next step lands on the one elected. */
  th_kill(&cl.nodes[leader - 1]);
  int64_t t_kill = mc_mono_ms();
  intake("cc-3");
  assert_true(case_lands("cc-3", 15000, &took));
  fprintf(stderr, "after the leader's SIGKILL the unit's step was on the cluster in %lld ms\n",
          (long long)(mc_mono_ms() - t_kill));
  /* Status: the dead node cannot be reached (exit 4), a new leader leads. */
  r = MCTL(world.conf, "cluster", "status");
  mctl_expect(&r, 4, "status with a node down");
  CONTAINS(r.out, "不可达");
  mctl_free(&r);
}

/* A single router: status says so; --node names no router. */
static void test_single_router(void **state) {
  (void)state;
  tw_world one = {0};
  assert_int_equal(tw_make(&one, "ctl-single", NULL, false), 0);
  assert_int_equal(tw_start_router(&one, NULL), 0);
  mctl_result r = MCTL(one.conf, "cluster", "status");
  mctl_expect(&r, 0, "single status");
  CONTAINS(r.out, "单节点");
  mctl_free(&r);
  r = MCTL(one.conf, "--json", "cluster", "status");
  mctl_expect(&r, 0, "single status --json");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "nodes"), 1);
  assert_true(jbool(j, "nodes[0].single_node"));
  json_object_put(j);
  mctl_free(&r);
  r = MCTL(one.conf, "--node", "2", "cluster", "status");
  mctl_expect(&r, 2, "--node without a cluster");
  CONTAINS(r.err, "[cluster 2]");
  mctl_free(&r);
  /* Reads with --stale-ok are the same on one router. */
  r = MCTL(one.conf, "--stale-ok", "health");
  mctl_expect(&r, 0, "--stale-ok health");
  mctl_free(&r);
  assert_int_equal(tw_stop_router(&one), 0);
  tw_destroy(&one);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_router),
      cmocka_unit_test_setup_teardown(test_three_routers, setup_cluster, teardown_cluster),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
