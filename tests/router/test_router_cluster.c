/*
 * test_router_cluster.c - three real mediation-router processes as one
 * cluster ([cluster <id>] sections, [storage] mode = raft, raft over
 * 127.0.0.1), the leader SIGKILLed again and again under writes
 * (router/raftcluster.c, docs/architecture.md "The cluster").
 *
 * The test's client (tests/support/cluster_proc.h) speaks the wire
 * protocol itself (nng REQ, a signed envelope) so that it sees
 * ReplyEnvelope.leader_id / leader_endpoint and can set
 * RequestEnvelope.stale_ok: it follows the leader the way the
 * cluster-aware clients do. Checked:
 *   1. a follower refuses a write and a plain read with UNAVAILABLE and the
 *      leader's id and endpoint; it answers a stale_ok read;
 *   2. a writer thread takes cases in, one at a time, each with its own
 *      request id resent (to whichever node leads) until it is answered OK,
 *      while the leader is killed (SIGKILL) round after round: after each
 *      kill a new leader answers a write within 3 s; the killed node is
 *      started again;
 *   3. RouterCluster: TransferLeader to a chosen node (a follower refuses
 *      it, naming the leader), RemoveNode of a stopped follower, AddNode
 *      of it once started again;
 *   4. a follower stopped while more went through than the leader keeps of
 *      its log is sent the leader's snapshot, installs it and restarts;
 *   5. at the end every node has applied the same log; every acknowledged
 *      take-in is there exactly once (its unit_ref maps to one case, and the
 *      number of cases equals the number of take-ins); Verify is clean on
 *      every node; every case file is byte-identical on all three nodes.
 * MEDIATION_TEST_CLUSTER_SECONDS (default 80, 25 under ASan) bounds the
 * kill rounds; 30 rounds at most.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "mv1.h"
#include "router_proc.h"
#include "rpc/client.h"
#include "world.h"

/* The kill rounds' time budget: 30 rounds (about 2.5 s each) fit in it;
 * under the sanitizers (the suite's stage 3 runs every test again) a third
 * of it, about 10 rounds, so that the suite pays about 2 minutes in all. */
#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_SECONDS 25
#else
#define DEFAULT_SECONDS 80
#endif
#define MAX_ROUNDS 30
#define MAX_CASES 20000
#define NODES TC_NODES
#define UNIT "station-wangai"
#define COORD "coordinator"

static tw_world world;
/* The nodes; cl.down (track_down): bit i while the test has node i killed
 * or stopped and not started again yet (the writer thread reads it). */
static tc_cluster cl = {.track_down = true};

/* ---- The writer thread ----------------------------------------------------------- */

static struct {
  pthread_t thread;
  atomic_bool stop;
  atomic_int acked;
  char refs[MAX_CASES][24];
  char case_ids[MAX_CASES][64];
  char failed[256];
} writer;

static void *writer_main(void *arg) {
  (void)arg;
  tc_conn c = {.cl = &cl};
  int leader = -1;
  for (int n = 0; n < MAX_CASES && !atomic_load(&writer.stop); n++) {
    snprintf(writer.refs[n], sizeof(writer.refs[n]), "cl-%d", n);
    uint8_t rid[16];
    rpc_request_id_new(rid);
    if (!tc_take_in(&c, &leader, UNIT, writer.refs[n], rid, 15000, writer.case_ids[n])) {
      snprintf(writer.failed, sizeof(writer.failed), "take-in %s not answered OK in 15 s",
               writer.refs[n]);
      break;
    }
    atomic_store(&writer.acked, n + 1);
    tc_sleep_ms(10); /* every case is compared on three nodes at the end: not too many */
  }
  tc_conn_close(&c);
  return NULL;
}

/* ---- The test ------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "cluster", NULL, true) != 0)
    return -1;
  return tc_setup_conf(&cl, &world, "tcp", NULL, NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_stop_nodes(&cl);
  tw_destroy(&world);
  return 0;
}

/* The node's refusal of an Apply and a plain GetCase names the leader; a
 * stale_ok GetCase is answered. */
static void expect_follower_refuses(tc_conn *c, int follower, int leader, const char *case_id) {
  tr_take_in t;
  tr_take_in_init(&t, "某乙", "cl-refused");
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &t.action;
  Mediation__V1__ReplyEnvelope *env = tc_call(c, follower, UNIT, "mediation.v1.Router", "Apply",
                                                &req.base, false, NULL, 3000);
  assert_non_null(env);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE);
  assert_int_equal(env->leader_id, (uint64_t)leader + 1);
  assert_string_equal(env->leader_endpoint, cl.endpoints[leader]);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);

  Mediation__V1__GetCaseRequest get = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  get.case_ref = (char *)case_id;
  env = tc_call(c, follower, COORD, "mediation.v1.Router", "GetCase", &get.base, false, NULL,
                  3000);
  assert_non_null(env);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE);
  assert_int_equal(env->leader_id, (uint64_t)leader + 1);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  /* stale_ok: answered from what the follower applied (it may lag: wait) */
  int64_t until = mc_mono_ms() + 5000;
  for (;;) {
    env = tc_call(c, follower, COORD, "mediation.v1.Router", "GetCase", &get.base, true, NULL,
                    3000);
    assert_non_null(env);
    int code = env->code;
    mediation__v1__reply_envelope__free_unpacked(env, NULL);
    if (code == MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
      break;
    assert_int_equal(code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_NOT_FOUND);
    assert_true(mc_mono_ms() < until);
    tc_sleep_ms(50);
  }
}

/* service/method on node i as the coordinator: its reply envelope (the
 * caller frees it). */
static Mediation__V1__ReplyEnvelope *cluster_call(tc_conn *c, int i, const char *method,
                                                  const ProtobufCMessage *msg) {
  Mediation__V1__ReplyEnvelope *env =
      tc_call(c, i, COORD, "mediation.v1.RouterCluster", method, msg, false, NULL, 10000);
  assert_non_null(env);
  return env;
}

/* cluster_call whose answer must be OK. */
static void cluster_ok(tc_conn *c, int i, const char *method, const ProtobufCMessage *msg) {
  Mediation__V1__ReplyEnvelope *env = cluster_call(c, i, method, msg);
  if (env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    fail_msg("%s: %d %s", method, env->code, env->message);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
}

/* How many voters node i's Status lists. */
static int voters_of(tc_conn *c, int i) {
  Mediation__V1__ClusterStatusReply *s = tc_status(c, i);
  assert_non_null(s);
  int n = 0;
  for (size_t k = 0; k < s->n_members; k++)
    n += strcmp(s->members[k]->role, "voter") == 0;
  mediation__v1__cluster_status_reply__free_unpacked(s, NULL);
  return n;
}

/* RouterCluster: leadership handed to a chosen node; a follower refuses
 * the change with the leader's id; a stopped follower removed, then
 * started and added back as a voter; writes still work. */
static void expect_cluster_changes(tc_conn *c) {
  int leader = tc_find_leader(c, -1);
  assert_true(leader >= 0);
  int to = (leader + 1) % NODES;
  Mediation__V1__TransferLeaderRequest tr = MEDIATION__V1__TRANSFER_LEADER_REQUEST__INIT;
  tr.to_id = (uint64_t)to + 1;
  Mediation__V1__ReplyEnvelope *env = cluster_call(c, to, "TransferLeader", &tr.base);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE);
  assert_int_equal(env->leader_id, (uint64_t)leader + 1);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  env = cluster_call(c, leader, "TransferLeader", &tr.base);
  if (env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    fail_msg("TransferLeader: %d %s", env->code, env->message);
  Mediation__V1__TransferLeaderReply *t =
      mediation__v1__transfer_leader_reply__unpack(NULL, env->payload.len, env->payload.data);
  assert_non_null(t);
  assert_int_equal(t->leader_id, (uint64_t)to + 1);
  mediation__v1__transfer_leader_reply__free_unpacked(t, NULL);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  leader = to;
  int64_t until = mc_mono_ms() + 3000;
  while (tc_find_leader(c, -1) != leader && mc_mono_ms() < until)
    tc_sleep_ms(20);
  assert_int_equal(tc_find_leader(c, -1), leader);

  int gone = (leader + 1) % NODES;
  atomic_fetch_or(&cl.down, 1 << gone);
  assert_int_equal(th_stop(&cl.nodes[gone], 20000), 0);
  Mediation__V1__RemoveNodeRequest rm = MEDIATION__V1__REMOVE_NODE_REQUEST__INIT;
  rm.id = (uint64_t)gone + 1;
  cluster_ok(c, leader, "RemoveNode", &rm.base);
  assert_int_equal(voters_of(c, leader), 2);

  assert_int_equal(tc_start_node(&cl, gone), 0);
  atomic_fetch_and(&cl.down, ~(1 << gone));
  Mediation__V1__AddNodeRequest add = MEDIATION__V1__ADD_NODE_REQUEST__INIT;
  add.id = (uint64_t)gone + 1;
  cluster_ok(c, leader, "AddNode", &add.base);
  assert_int_equal(voters_of(c, leader), 3);
  char id[64];
  uint8_t rid[16];
  rpc_request_id_new(rid);
  assert_true(tc_take_in(c, &leader, UNIT, "cl-after-changes", rid, 5000, id));
}

/* A follower that missed more than the leader keeps of its log (stopped
 * while SNAP_WRITES take-ins went through; the leader checkpoints every
 * 256 entries and keeps at least 256 behind) is sent the leader's
 * snapshot: it installs it as its checkpoint and stops with
 * RT_EXIT_RESTART (75); started again, it rebuilds its store from it and
 * follows the log. raft 0.15 decides when to send a snapshot (its leader
 * keeps entries longer while a send still refers to them), so a follower
 * that caught up from the log is accepted too; which one happened is
 * printed. Returns the take-ins made. */
#define SNAP_WRITES 1500
static int expect_snapshot_install(tc_conn *c) {
  int leader = tc_find_leader(c, -1);
  assert_true(leader >= 0);
  int behind = (leader + 1) % NODES;
  atomic_fetch_or(&cl.down, 1 << behind);
  assert_int_equal(th_stop(&cl.nodes[behind], 20000), 0);
  for (int k = 0; k < SNAP_WRITES; k++) {
    char ref[32], id[64];
    snprintf(ref, sizeof(ref), "cl-snap-%d", k);
    uint8_t rid[16];
    rpc_request_id_new(rid);
    assert_true(tc_take_in(c, &leader, UNIT, ref, rid, 5000, id));
  }
  int installs = tr_log_count(&cl.nodes[behind], "exiting 75");
  assert_int_equal(tc_start_node(&cl, behind), 0);
  atomic_fetch_and(&cl.down, ~(1 << behind));
  /* Caught up: from the log, or after a stop and a start on the snapshot
   * (tc_supervise, in tc_await_settled, starts it again). */
  tc_await_settled(c, 30000);
  bool installed = tr_log_count(&cl.nodes[behind], "exiting 75") > installs;
  printf("node %d, %d entries behind: %s\n", behind + 1, SNAP_WRITES,
         installed ? "installed the leader's snapshot and restarted on it"
                   : "caught up from the leader's log");
  return SNAP_WRITES;
}

static void test_cluster_failover(void **state) {
  (void)state;
  for (int i = 0; i < NODES; i++)
    assert_int_equal(tc_start_node(&cl, i), 0);
  tc_conn c = {.cl = &cl};
  int leader = tc_await_leader(&c, -1, 10000);
  assert_true(leader >= 0);

  char first[64];
  uint8_t rid[16];
  rpc_request_id_new(rid);
  assert_true(tc_take_in(&c, &leader, UNIT, "cl-first", rid, 10000, first));
  expect_follower_refuses(&c, (leader + 1) % NODES, leader, first);

  const char *secs = getenv("MEDIATION_TEST_CLUSTER_SECONDS");
  int64_t budget_ms = (secs != NULL ? atoi(secs) : DEFAULT_SECONDS) * 1000LL;
  int64_t t_end = mc_mono_ms() + budget_ms;
  assert_int_equal(pthread_create(&writer.thread, NULL, writer_main, NULL), 0);
  int rounds = 0;
  int64_t worst_ms = 0;
  srand((unsigned)time(NULL));
  while (rounds < MAX_ROUNDS && mc_mono_ms() < t_end && writer.failed[0] == '\0') {
    tc_await_settled(&c, 30000);
    tc_sleep_ms(50 + rand() % 250); /* writes under way */
    int old = tc_find_leader(&c, -1);
    if (old < 0) {
      tc_sleep_ms(100);
      continue;
    }
    int acked_before = atomic_load(&writer.acked);
    atomic_fetch_or(&cl.down, 1 << old);
    th_kill(&cl.nodes[old]);
    int64_t t_kill = mc_mono_ms();
    /* A new leader serves: a write answered OK through another node. */
    char id[64];
    char ref[32];
    snprintf(ref, sizeof(ref), "cl-probe-%d", rounds);
    uint8_t prid[16];
    rpc_request_id_new(prid);
    int next = (old + 1) % NODES;
    if (!tc_take_in(&c, &next, UNIT, ref, prid, 3000, id))
      fail_msg("round %d: no leader served a write within 3 s of node %d's death", rounds + 1,
               old + 1);
    int64_t took = mc_mono_ms() - t_kill;
    if (took > worst_ms)
      worst_ms = took;
    assert_int_not_equal(next, old);
    assert_true(took <= 3000);
    assert_int_equal(tc_start_node(&cl, old), 0);
    atomic_fetch_and(&cl.down, ~(1 << old));
    rounds++;
    printf("round %d: node %d killed, node %d led after %lld ms (%d acked before)\n", rounds,
           old + 1, next + 1, (long long)took, acked_before);
    fflush(stdout);
  }
  atomic_store(&writer.stop, true);
  pthread_join(writer.thread, NULL);
  if (writer.failed[0] != '\0')
    fail_msg("writer: %s", writer.failed);
  int acked = atomic_load(&writer.acked);
  printf("%d rounds, %d take-ins acknowledged, worst failover %lld ms, %d restarts on a "
         "snapshot\n",
         rounds, acked, (long long)worst_ms, cl.restarts_75);
  assert_true(rounds >= 5);

  tc_await_settled(&c, 30000);
  expect_cluster_changes(&c);
  tc_await_settled(&c, 30000);
  int snap_writes = expect_snapshot_install(&c);
  tc_await_same_applied(&c, 20000);
  /* Exactly once: every take-in (the writer's, the probes, the first, the
   * one after the changes) made one case, on every node. */
  uint64_t expected = (uint64_t)acked + (uint64_t)rounds + 2 + (uint64_t)snap_writes;
  for (int i = 0; i < NODES; i++) {
    uint64_t n = tc_case_count(&c, i, UNIT);
    if (n != expected)
      fail_msg("node %d holds %llu cases, expected %llu", i + 1, (unsigned long long)n,
               (unsigned long long)expected);
  }
  for (int k = 0; k < acked; k++) {
    char ref[64];
    snprintf(ref, sizeof(ref), "%s:%s", UNIT, writer.refs[k]);
    size_t len0 = 0;
    uint8_t *b0 = tc_case_bytes(&c, 0, ref, true, &len0);
    for (int i = 1; i < NODES; i++) {
      size_t len = 0;
      uint8_t *b = tc_case_bytes(&c, i, ref, true, &len);
      if (len != len0 || memcmp(b, b0, len) != 0)
        fail_msg("case %s differs between node 1 and node %d", ref, i + 1);
      free(b);
    }
    /* the case the ref names is the one the writer was answered with */
    Mediation__V1__Case *rec = mediation__v1__case__unpack(NULL, len0, b0);
    assert_non_null(rec);
    assert_string_equal(rec->id, writer.case_ids[k]);
    mediation__v1__case__free_unpacked(rec, NULL);
    free(b0);
  }
  for (int i = 0; i < NODES; i++)
    tc_expect_verify_clean(&c, i);
  tc_conn_close(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cluster_failover, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
