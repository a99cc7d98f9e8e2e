/*
 * test_router_cluster_netns.c - the cluster across real network interfaces
 * over tls+tcp (issue 19: "one run across network namespaces"): three
 * network namespaces made by the test, one mediation-router in each (`ip
 * netns exec`), joined by a bridge in a fourth namespace (the "switch", so
 * that the root namespace's firewall and bridge netfilter never see the
 * routers' traffic), and the test's client in the root namespace reaching
 * them over tls+tcp://10.219.X.N with the suite's TLS setup (deploy/
 * tls-setup, tw_tls_setup); raft runs on the same private addresses.
 *
 * Checked: a leader is elected; a take-in sent from the root namespace is
 * answered through the leader (following a follower's hint); the leader is
 * SIGKILLed twice, and each time a new leader serves a write within 3 s
 * and the killed node is started again; more writes land; at the end every
 * node has applied the same log, every acknowledged take-in is there
 * exactly once (its unit_ref maps to one case; as many cases as take-ins),
 * Verify is clean on every node and every case is byte-identical on all
 * three.
 *
 * Namespaces are named mdcl<pid>{s,n1,n2,n3}: teardown deletes this run's
 * (also after a failure), and setup first deletes any left by a run whose
 * process is gone. Without root or without `ip netns` (iproute2) the test
 * skips, saying why.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "core/clock.h"
#include "router_proc.h"
#include "rpc/client.h"

#define UNIT "station-wangai"
#define ROUNDS 2
#define WRITES_PER_ROUND 20
#define MAX_REFS (1 + ROUNDS * (WRITES_PER_ROUND + 1))

static tw_world world;
static tc_cluster cl;
static bool have_netns;   /* namespaces made: the test runs */
static char why_skip[256];
static char ns[TC_NODES + 1][32]; /* [0] the switch, [1..3] the nodes */
static char hosts[TC_NODES][32];
static char subnet[16]; /* "10.219.X" */
static const char *ip_bin;  /* iproute2's ip (the harness runs programs by path) */

/* Runs an `ip ...` command line given as words; 0 or its exit status (its
 * stderr is shown). */
static int ip(const char *argv[]) {
  argv[0] = ip_bin;
  return tr_run(argv);
}

static int ipf(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  const char *argv[32];
  int n = 0;
  for (char *save = NULL, *w = strtok_r(line, " ", &save); w != NULL && n < 31;
       w = strtok_r(NULL, " ", &save))
    argv[n++] = w;
  argv[n] = NULL;
  return ip(argv);
}

/* Deletes the namespaces named mdcl<pid>... whose process is gone (a run
 * that was killed before its teardown), and with own also this run's. */
static void sweep(bool own) {
  char *out = NULL, *err = NULL;
  const char *argv[] = {ip_bin, "netns", "list", NULL};
  if (th_run(argv, &out, &err, 10000) != 0) {
    free(out);
    free(err);
    return;
  }
  for (char *save = NULL, *line = strtok_r(out, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char name[64];
    long pid = 0;
    if (sscanf(line, "%63s", name) != 1 || strncmp(name, "mdcl", 4) != 0 ||
        sscanf(name + 4, "%ld", &pid) != 1 || pid <= 0)
      continue;
    bool mine = pid == (long)getpid();
    if ((mine && own) || (!mine && kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
      if (ipf("ip netns del %s", name) != 0)
        fprintf(stderr, "could not delete network namespace %s\n", name);
    }
  }
  free(out);
  free(err);
}

/* The switch namespace with a bridge; a node namespace per router, each a
 * veth into the bridge with 10.219.X.N/24; the root namespace's veth into
 * the bridge with 10.219.X.254/24. 0 or -1. */
static int make_network(void) {
  int pid = (int)getpid();
  snprintf(subnet, sizeof(subnet), "10.219.%d", pid % 250 + 1);
  snprintf(ns[0], sizeof(ns[0]), "mdcl%ds", pid);
  for (int i = 1; i <= TC_NODES; i++)
    snprintf(ns[i], sizeof(ns[i]), "mdcl%dn%d", pid, i);
  for (int i = 0; i <= TC_NODES; i++)
    if (ipf("ip netns add %s", ns[i]) != 0)
      return -1;
  have_netns = true;
  if (ipf("ip -n %s link set lo up", ns[0]) || ipf("ip -n %s link add br0 type bridge", ns[0]) ||
      ipf("ip -n %s link set br0 up", ns[0]))
    return -1;
  for (int i = 1; i <= TC_NODES; i++) {
    snprintf(hosts[i - 1], sizeof(hosts[i - 1]), "%s.%d", subnet, i);
    if (ipf("ip -n %s link set lo up", ns[i]) ||
        ipf("ip -n %s link add eth0 type veth peer name p%d netns %s", ns[i], i, ns[0]) ||
        ipf("ip -n %s addr add %s/24 dev eth0", ns[i], hosts[i - 1]) ||
        ipf("ip -n %s link set eth0 up", ns[i]) ||
        ipf("ip -n %s link set p%d master br0", ns[0], i) ||
        ipf("ip -n %s link set p%d up", ns[0], i))
      return -1;
  }
  /* the root namespace's leg (deleted with the switch namespace) */
  char leg[16];
  snprintf(leg, sizeof(leg), "mdcl%dr", pid);
  if (ipf("ip link add %s type veth peer name p0 netns %s", leg, ns[0]) ||
      ipf("ip addr add %s.254/24 dev %s", subnet, leg) || ipf("ip link set %s up", leg) ||
      ipf("ip -n %s link set p0 master br0", ns[0]) || ipf("ip -n %s link set p0 up", ns[0]))
    return -1;
  return 0;
}

static int setup_inner(void) {
  if (getuid() != 0) {
    snprintf(why_skip, sizeof(why_skip), "not root: cannot make network namespaces");
    return 0;
  }
  static const char *const where[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
  for (size_t k = 0; k < sizeof(where) / sizeof(where[0]) && ip_bin == NULL; k++)
    if (access(where[k], X_OK) == 0)
      ip_bin = where[k];
  if (ip_bin == NULL) {
    snprintf(why_skip, sizeof(why_skip), "no `ip` (iproute2; deploy/install-deps --test)");
    return 0;
  }
  const char *probe[] = {ip_bin, "netns", "list", NULL};
  char *out = NULL, *err = NULL;
  int rc = th_run(probe, &out, &err, 10000);
  free(out);
  free(err);
  if (rc != 0) {
    snprintf(why_skip, sizeof(why_skip),
             "`ip netns list` failed (exit %d): no network namespaces here", rc);
    return 0;
  }
  sweep(false);
  if (make_network() != 0)
    return -1;
  /* The deployment, its TLS files (one certificate, name router.test, for
   * the three routers: clients check the name, not the address), and the
   * cluster on the namespaces' addresses. */
  if (tw_make(&world, "netns", NULL, true) != 0)
    return -1;
  char tls_dir[TH_PATH_MAX + 8];
  snprintf(tls_dir, sizeof(tls_dir), "%s/tls", world.dir.path);
  char *lines = tw_tls_setup(tls_dir, false);
  if (lines == NULL)
    return -1;
  FILE *f = fopen(world.conf, "a");
  if (f == NULL || fprintf(f, "\n%s\n", lines) < 0 || fclose(f) != 0) {
    free(lines);
    return -1;
  }
  free(lines);
  const char *host[TC_NODES] = {hosts[0], hosts[1], hosts[2]};
  if (tc_setup_conf(&cl, &world, "tls+tcp", host, host) != 0)
    return -1;
  if (world.reg->router.tls_ca == NULL || world.reg->router.tls_server_name == NULL) {
    fprintf(stderr, "tls-setup's lines gave no tls_ca / tls_server_name\n");
    return -1;
  }
  snprintf(cl.tls_ca, sizeof(cl.tls_ca), "%s", world.reg->router.tls_ca);
  snprintf(cl.tls_name, sizeof(cl.tls_name), "%s", world.reg->router.tls_server_name);
  for (int i = 0; i < TC_NODES; i++) {
    cl.prefix[i][0] = ip_bin;
    cl.prefix[i][1] = "netns";
    cl.prefix[i][2] = "exec";
    cl.prefix[i][3] = ns[i + 1];
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tc_stop_nodes(&cl);
  tw_destroy(&world);
  if (have_netns)
    sweep(true);
  return 0;
}

/* A setup that fails is not followed by its teardown (cmocka): clean up
 * here, so that no namespace outlives the run. */
static int setup(void **state) {
  if (setup_inner() == 0)
    return 0;
  teardown(state);
  return -1;
}

static char refs[MAX_REFS][32];
static int n_refs;

/* A take-in with a fresh ref and request id, through whichever node leads
 * (within give_up_ms); the node that answered. */
static int write_one(tc_conn *c, int *leader, const char *tag, int give_up_ms) {
  assert_true(n_refs < MAX_REFS);
  char *ref = refs[n_refs];
  snprintf(ref, sizeof(refs[0]), "ns-%s-%d", tag, n_refs);
  uint8_t rid[16];
  rpc_request_id_new(rid);
  char id[64];
  if (!tc_take_in(c, leader, UNIT, ref, rid, give_up_ms, id))
    return -1;
  n_refs++;
  return *leader;
}

static void test_cluster_across_namespaces(void **state) {
  (void)state;
  if (why_skip[0] != '\0') {
    fprintf(stderr, "test_router_cluster_netns skipped: %s\n", why_skip);
    skip();
  }
  for (int i = 0; i < TC_NODES; i++)
    assert_int_equal(tc_start_node(&cl, i), 0);
  tc_conn c = {.cl = &cl};
  int leader = tc_await_leader(&c, -1, 10000);
  if (leader < 0)
    fail_msg("no leader within 10 s (see %s/node*.log)", world.dir.path);
  /* the first write goes to a follower on purpose: its hint leads on */
  int first = (leader + 1) % TC_NODES;
  assert_int_equal(write_one(&c, &first, "first", 10000), leader);

  for (int round = 1; round <= ROUNDS; round++) {
    int old = tc_find_leader(&c, -1);
    assert_true(old >= 0);
    th_kill(&cl.nodes[old]);
    int64_t t_kill = mc_mono_ms();
    int next = (old + 1) % TC_NODES;
    if (write_one(&c, &next, "probe", 3000) < 0)
      fail_msg("round %d: no leader served a write within 3 s of node %d's death", round,
               old + 1);
    int64_t took = mc_mono_ms() - t_kill;
    assert_int_not_equal(next, old);
    printf("round %d: node %d killed, node %d led and answered after %lld ms\n", round, old + 1,
           next + 1, (long long)took);
    fflush(stdout);
    assert_int_equal(tc_start_node(&cl, old), 0);
    for (int k = 0; k < WRITES_PER_ROUND; k++)
      assert_true(write_one(&c, &next, "w", 5000) >= 0);
  }

  tc_await_same_applied(&c, 20000);
  /* exactly once on every node, read by each node's own store */
  for (int i = 0; i < TC_NODES; i++) {
    Mediation__V1__ListCasesReply *l = tc_list_cases(&c, i, UNIT, 500);
    assert_int_equal(l->total, (uint64_t)n_refs);
    for (int k = 0; k < n_refs; k++)
      tr_case_once(l, refs[k]);
    mediation__v1__list_cases_reply__free_unpacked(l, NULL);
    tc_expect_verify_clean(&c, i);
  }
  const char *holders[] = {UNIT};
  int same = tc_expect_identical(&c, holders, 1);
  assert_int_equal(same, n_refs);
  printf("%d take-ins over tls+tcp from the root namespace, %d failovers; the three nodes "
         "agree byte for byte\n",
         n_refs, ROUNDS);
  tc_conn_close(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cluster_across_namespaces, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
