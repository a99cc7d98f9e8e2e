/*
 * test_router_cluster.c - three real mediation-router processes as one
 * cluster ([cluster <id>] sections, [storage] mode = raft, raft over
 * 127.0.0.1), the leader SIGKILLed again and again under writes
 * (router/raftcluster.c, docs/architecture.md "The cluster").
 *
 * The test's client speaks the wire protocol itself (nng REQ, a signed
 * envelope) so that it sees ReplyEnvelope.leader_id / leader_endpoint and
 * can set RequestEnvelope.stale_ok: it follows the leader the way the
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
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

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
#define NODES 3
#define MAX_ROUNDS 30
#define MAX_CASES 20000
#define UNIT "station-wangai"
#define COORD "coordinator"

static tw_world world;
static th_proc nodes[NODES];
static atomic_int down; /* bit i: node i is killed and not started again yet */
static char endpoints[NODES][64];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A free TCP port on 127.0.0.1 (bound, then let go: the router binds it
 * right after). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static int start_node(int i) {
  char bin[TH_PATH_MAX], log[TH_PATH_MAX + 64], id[16];
  th_bin(bin, sizeof(bin), "router/mediation-router");
  snprintf(log, sizeof(log), "%s/node%d.log", world.dir.path, i + 1);
  snprintf(id, sizeof(id), "%d", i + 1);
  const char *argv[] = {bin, "--config", world.conf, "--node", id, NULL};
  char name[32];
  snprintf(name, sizeof(name), "router-%d", i + 1);
  return th_start(&nodes[i], name, argv, log, 30000);
}

/* Times a node stopped itself to be started on the leader's snapshot
 * (exit 75, "exiting 75" in its log) and was started again. */
static int restarts_75;

/* What systemd's Restart= does in production: a node that is not running,
 * though the test did not stop it, must have stopped itself to install the
 * leader's snapshot (a follower the leader sends its snapshot to: raft
 * 0.15 may do that to a follower that was down only briefly); it is
 * started again. Anything else is a crash: the test fails. */
static void supervise(void) {
  static int seen[NODES];
  for (int i = 0; i < NODES; i++) {
    if ((atomic_load(&down) & (1 << i)) || th_running(&nodes[i]))
      continue;
    int n = tr_log_count(&nodes[i], "exiting 75");
    if (n <= seen[i])
      fail_msg("node %d is gone (not stopped by the test, not after a snapshot install): see "
               "its log %s",
               i + 1, nodes[i].log_path);
    seen[i] = n;
    restarts_75++;
    assert_int_equal(start_node(i), 0);
  }
}

/* ---- A client that sees the envelope ------------------------------------------ */

/* One REQ socket per node and thread (a REQ socket has one request out). */
typedef struct conn {
  nng_socket s[NODES];
  bool open[NODES];
} conn;

static void conn_close(conn *c) {
  for (int i = 0; i < NODES; i++)
    if (c->open[i])
      nng_close(c->s[i]);
  memset(c, 0, sizeof(*c));
}

/* Sends service/method(msg) as principal to node i, signed, with stale_ok
 * and request id rid (NULL: fresh); the reply envelope (free with
 * mediation__v1__reply_envelope__free_unpacked), or NULL when the node did
 * not answer within timeout_ms (down, or restarting). */
static Mediation__V1__ReplyEnvelope *call_node(conn *c, int i, const char *principal,
                                               const char *service, const char *method,
                                               const ProtobufCMessage *msg, bool stale_ok,
                                               const uint8_t *rid, int timeout_ms) {
  if (!c->open[i]) {
    char url[80];
    snprintf(url, sizeof(url), "%s", endpoints[i]);
    if (nng_req0_open(&c->s[i]) != 0)
      return NULL;
    nng_dial(c->s[i], url, NULL, NNG_FLAG_NONBLOCK);
    nng_socket_set_ms(c->s[i], NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(c->s[i], NNG_OPT_RECONNMAXT, 100);
    c->open[i] = true;
  }
  nng_socket_set_ms(c->s[i], NNG_OPT_RECVTIMEO, timeout_ms);
  nng_socket_set_ms(c->s[i], NNG_OPT_SENDTIMEO, timeout_ms);
  uint8_t *req = NULL;
  size_t len = 0;
  mc_err err;
  if (rpc_request_encode(tw_key(&world, principal), service, method, msg,
                         mc_now_ms() + 20000, rid, 0, &req, &len, &err) != MC_OK)
    fail_msg("encode: %s", err.msg);
  Mediation__V1__RequestEnvelope *env = mediation__v1__request_envelope__unpack(NULL, len, req);
  free(req);
  assert_non_null(env);
  env->stale_ok = stale_ok; /* not covered by the signature */
  size_t n = mediation__v1__request_envelope__get_packed_size(env);
  uint8_t *buf = malloc(n);
  assert_non_null(buf);
  mediation__v1__request_envelope__pack(env, buf);
  mediation__v1__request_envelope__free_unpacked(env, NULL);
  int rv = nng_send(c->s[i], buf, n, 0);
  free(buf);
  if (rv != 0)
    return NULL;
  void *rep = NULL;
  size_t rlen = 0;
  rv = nng_recv(c->s[i], &rep, &rlen, NNG_FLAG_ALLOC);
  if (rv != 0) {
    /* A REQ socket whose request timed out may deliver its reply to the
     * next one: start afresh. */
    nng_close(c->s[i]);
    c->open[i] = false;
    return NULL;
  }
  Mediation__V1__ReplyEnvelope *out = mediation__v1__reply_envelope__unpack(NULL, rlen, rep);
  nng_free(rep, rlen);
  return out;
}

/* RouterCluster/Status of node i, or NULL (it did not answer). */
static Mediation__V1__ClusterStatusReply *status_of(conn *c, int i) {
  Mediation__V1__ClusterStatusRequest req = MEDIATION__V1__CLUSTER_STATUS_REQUEST__INIT;
  Mediation__V1__ReplyEnvelope *env = call_node(c, i, COORD, "mediation.v1.RouterCluster",
                                                "Status", &req.base, false, NULL, 500);
  if (env == NULL)
    return NULL;
  Mediation__V1__ClusterStatusReply *s = NULL;
  if (env->code == MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    s = mediation__v1__cluster_status_reply__unpack(NULL, env->payload.len, env->payload.data);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  return s;
}

/* The node that says it leads (index), or -1; skip: a node not asked. */
static int find_leader(conn *c, int skip) {
  for (int i = 0; i < NODES; i++) {
    if (i == skip || !th_running(&nodes[i]))
      continue;
    Mediation__V1__ClusterStatusReply *s = status_of(c, i);
    bool leads = s != NULL && strcmp(s->state, "leader") == 0;
    if (s != NULL)
      mediation__v1__cluster_status_reply__free_unpacked(s, NULL);
    if (leads)
      return i;
  }
  return -1;
}

/* A take-in with unit_ref ref and request id rid, sent (again) until OK:
 * to the node believed to lead (*leader), then where a refusal points
 * (leader_id), else to the next node. OK: the case id in case_id. Gives up
 * (returns false) after give_up_ms. */
static bool take_in(conn *c, int *leader, const char *ref, const uint8_t rid[16],
                    int give_up_ms, char case_id[64]) {
  tr_take_in t;
  tr_take_in_init(&t, "某乙", ref);
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &t.action;
  int64_t until = mc_mono_ms() + give_up_ms;
  int at = *leader >= 0 ? *leader : 0;
  while (mc_mono_ms() < until) {
    Mediation__V1__ReplyEnvelope *env =
        call_node(c, at, UNIT, "mediation.v1.Router", "Apply", &req.base, false, rid, 1000);
    if (env != NULL && env->code == MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK) {
      Mediation__V1__ApplyReply *r =
          mediation__v1__apply_reply__unpack(NULL, env->payload.len, env->payload.data);
      assert_non_null(r);
      snprintf(case_id, 64, "%s", r->case_record->id);
      mediation__v1__apply_reply__free_unpacked(r, NULL);
      mediation__v1__reply_envelope__free_unpacked(env, NULL);
      *leader = at;
      return true;
    }
    if (env != NULL && env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE)
      fail_msg("take-in %s on node %d: code %d: %s", ref, at + 1, env->code, env->message);
    uint64_t hint = env != NULL ? env->leader_id : 0;
    if (env != NULL)
      mediation__v1__reply_envelope__free_unpacked(env, NULL);
    if (hint >= 1 && hint <= NODES && (int)hint - 1 != at) {
      at = (int)hint - 1;
    } else {
      at = (at + 1) % NODES;
      if (atomic_load(&down) & (1 << at)) /* a killed node: no use waiting for it */
        at = (at + 1) % NODES;
      sleep_ms(20);
    }
  }
  return false;
}

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
  conn c = {0};
  int leader = -1;
  for (int n = 0; n < MAX_CASES && !atomic_load(&writer.stop); n++) {
    snprintf(writer.refs[n], sizeof(writer.refs[n]), "cl-%d", n);
    uint8_t rid[16];
    rpc_request_id_new(rid);
    if (!take_in(&c, &leader, writer.refs[n], rid, 15000, writer.case_ids[n])) {
      snprintf(writer.failed, sizeof(writer.failed), "take-in %s not answered OK in 15 s",
               writer.refs[n]);
      break;
    }
    atomic_store(&writer.acked, n + 1);
    sleep_ms(10); /* every case is compared on three nodes at the end: not too many */
  }
  conn_close(&c);
  return NULL;
}

/* ---- The test ------------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "cluster", NULL, true) != 0)
    return -1;
  FILE *f = fopen(world.conf, "a");
  if (f == NULL)
    return -1;
  fprintf(f, "\n[storage]\nmode = raft\ncheckpoint_entries = 256\n");
  for (int i = 0; i < NODES; i++) {
    int cport = free_port(), rport = free_port();
    if (cport < 0 || rport < 0 || cport == rport)
      return -1;
    snprintf(endpoints[i], sizeof(endpoints[i]), "tcp://127.0.0.1:%d", cport);
    fprintf(f, "\n[cluster %d]\nendpoint = %s\nraft_address = 127.0.0.1:%d\ndata_dir = %s/node%d\n",
            i + 1, endpoints[i], rport, world.dir.path, i + 1);
  }
  if (fclose(f) != 0)
    return -1;
  mc_registry_free(world.reg);
  world.reg = NULL;
  mc_err err;
  if (mc_registry_load(world.conf, &world.reg, &err) != MC_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < NODES; i++)
    th_stop(&nodes[i], 20000);
  tw_destroy(&world);
  return 0;
}

/* The node's refusal of an Apply and a plain GetCase names the leader; a
 * stale_ok GetCase is answered. */
static void expect_follower_refuses(conn *c, int follower, int leader, const char *case_id) {
  tr_take_in t;
  tr_take_in_init(&t, "某乙", "cl-refused");
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &t.action;
  Mediation__V1__ReplyEnvelope *env = call_node(c, follower, UNIT, "mediation.v1.Router", "Apply",
                                                &req.base, false, NULL, 3000);
  assert_non_null(env);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE);
  assert_int_equal(env->leader_id, (uint64_t)leader + 1);
  assert_string_equal(env->leader_endpoint, endpoints[leader]);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);

  Mediation__V1__GetCaseRequest get = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  get.case_ref = (char *)case_id;
  env = call_node(c, follower, COORD, "mediation.v1.Router", "GetCase", &get.base, false, NULL,
                  3000);
  assert_non_null(env);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE);
  assert_int_equal(env->leader_id, (uint64_t)leader + 1);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  /* stale_ok: answered from what the follower applied (it may lag: wait) */
  int64_t until = mc_mono_ms() + 5000;
  for (;;) {
    env = call_node(c, follower, COORD, "mediation.v1.Router", "GetCase", &get.base, true, NULL,
                    3000);
    assert_non_null(env);
    int code = env->code;
    mediation__v1__reply_envelope__free_unpacked(env, NULL);
    if (code == MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
      break;
    assert_int_equal(code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_NOT_FOUND);
    assert_true(mc_mono_ms() < until);
    sleep_ms(50);
  }
}

/* Every node has applied the same last index, with no write under way. */
static void await_same_applied(conn *c) {
  int64_t until = mc_mono_ms() + 20000;
  uint64_t last = 0;
  for (;;) {
    uint64_t applied[NODES] = {0};
    uint64_t commit = 0;
    bool all = true;
    for (int i = 0; i < NODES; i++) {
      Mediation__V1__ClusterStatusReply *s = status_of(c, i);
      if (s == NULL) {
        all = false;
        continue;
      }
      applied[i] = s->applied_index;
      if (strcmp(s->state, "leader") == 0)
        commit = s->commit_index;
      mediation__v1__cluster_status_reply__free_unpacked(s, NULL);
    }
    /* Equal twice in a row, no write under way: the same log applied.
     * (Barriers and configuration entries are not applied to the store,
     * so applied may stay below the commit index.) */
    bool same = all && commit > 0 && applied[0] == applied[1] && applied[1] == applied[2];
    if (same && applied[0] == last)
      return;
    last = same ? applied[0] : 0;
    if (mc_mono_ms() > until)
      fail_msg("the nodes did not converge: applied %llu %llu %llu, leader's commit %llu",
               (unsigned long long)applied[0], (unsigned long long)applied[1],
               (unsigned long long)applied[2], (unsigned long long)commit);
    sleep_ms(100);
  }
}

/* The packed CaseRecord of case_ref on node i (stale_ok GetCase). */
static uint8_t *case_bytes(conn *c, int i, const char *case_ref, size_t *len) {
  Mediation__V1__GetCaseRequest get = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  get.case_ref = (char *)case_ref;
  Mediation__V1__ReplyEnvelope *env = call_node(c, i, COORD, "mediation.v1.Router", "GetCase",
                                                &get.base, true, NULL, 5000);
  assert_non_null(env);
  if (env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    fail_msg("GetCase %s on node %d: %d %s", case_ref, i + 1, env->code, env->message);
  Mediation__V1__GetCaseReply *r =
      mediation__v1__get_case_reply__unpack(NULL, env->payload.len, env->payload.data);
  assert_non_null(r);
  *len = mediation__v1__case__get_packed_size(r->case_record);
  uint8_t *out = malloc(*len ? *len : 1);
  assert_non_null(out);
  mediation__v1__case__pack(r->case_record, out);
  mediation__v1__get_case_reply__free_unpacked(r, NULL);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  return out;
}

/* How many cases node i holds for UNIT (ListCases with_total, stale_ok). */
static uint64_t case_count(conn *c, int i) {
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.holder = (char *)UNIT;
  req.with_total = true;
  req.page_size = 1;
  Mediation__V1__ReplyEnvelope *env = call_node(c, i, UNIT, "mediation.v1.Router", "ListCases",
                                                &req.base, true, NULL, 5000);
  assert_non_null(env);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK);
  Mediation__V1__ListCasesReply *r =
      mediation__v1__list_cases_reply__unpack(NULL, env->payload.len, env->payload.data);
  assert_non_null(r);
  assert_false(r->total_at_least);
  uint64_t total = r->total;
  mediation__v1__list_cases_reply__free_unpacked(r, NULL);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  return total;
}

static void expect_verify_clean(conn *c, int i) {
  Mediation__V1__VerifyRequest req = MEDIATION__V1__VERIFY_REQUEST__INIT;
  Mediation__V1__ReplyEnvelope *env = call_node(c, i, COORD, "mediation.v1.RouterAdmin", "Verify",
                                                &req.base, true, NULL, 20000);
  assert_non_null(env);
  assert_int_equal(env->code, MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK);
  Mediation__V1__VerifyReply *v =
      mediation__v1__verify_reply__unpack(NULL, env->payload.len, env->payload.data);
  assert_non_null(v);
  if (v->problems != 0)
    fail_msg("verify on node %d: %llu problems, first: %s", i + 1,
             (unsigned long long)v->problems, v->n_details ? v->details[0]->message : "?");
  mediation__v1__verify_reply__free_unpacked(v, NULL);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
}

/* service/method on node i as the coordinator: its reply envelope (the
 * caller frees it). */
static Mediation__V1__ReplyEnvelope *cluster_call(conn *c, int i, const char *method,
                                                  const ProtobufCMessage *msg) {
  Mediation__V1__ReplyEnvelope *env =
      call_node(c, i, COORD, "mediation.v1.RouterCluster", method, msg, false, NULL, 10000);
  assert_non_null(env);
  return env;
}

/* How many voters node i's Status lists. */
static int voters_of(conn *c, int i) {
  Mediation__V1__ClusterStatusReply *s = status_of(c, i);
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
static void expect_cluster_changes(conn *c) {
  int leader = find_leader(c, -1);
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
  while (find_leader(c, -1) != leader && mc_mono_ms() < until)
    sleep_ms(20);
  assert_int_equal(find_leader(c, -1), leader);

  int gone = (leader + 1) % NODES;
  atomic_fetch_or(&down, 1 << gone);
  assert_int_equal(th_stop(&nodes[gone], 20000), 0);
  Mediation__V1__RemoveNodeRequest rm = MEDIATION__V1__REMOVE_NODE_REQUEST__INIT;
  rm.id = (uint64_t)gone + 1;
  env = cluster_call(c, leader, "RemoveNode", &rm.base);
  if (env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    fail_msg("RemoveNode: %d %s", env->code, env->message);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  assert_int_equal(voters_of(c, leader), 2);

  assert_int_equal(start_node(gone), 0);
  atomic_fetch_and(&down, ~(1 << gone));
  Mediation__V1__AddNodeRequest add = MEDIATION__V1__ADD_NODE_REQUEST__INIT;
  add.id = (uint64_t)gone + 1;
  env = cluster_call(c, leader, "AddNode", &add.base);
  if (env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    fail_msg("AddNode: %d %s", env->code, env->message);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  assert_int_equal(voters_of(c, leader), 3);
  char id[64];
  uint8_t rid[16];
  rpc_request_id_new(rid);
  assert_true(take_in(c, &leader, "cl-after-changes", rid, 5000, id));
}

/* Before a kill: every node runs and knows the leader, whose followers
 * have applied about what it has (so that the two left after the kill
 * make a quorum with a log to elect from). */
static void await_all_caught_up(conn *c) {
  int64_t until = mc_mono_ms() + 30000;
  while (mc_mono_ms() < until) {
    supervise();
    uint64_t lo = UINT64_MAX, hi = 0, led_by = 0;
    bool leader = false, all = true, agree = true;
    for (int i = 0; i < NODES; i++) {
      Mediation__V1__ClusterStatusReply *s = status_of(c, i);
      if (s == NULL) {
        all = false;
        continue;
      }
      leader = leader || strcmp(s->state, "leader") == 0;
      /* every node knows the same leader */
      agree = agree && s->leader_id != 0 && (led_by == 0 || led_by == s->leader_id);
      led_by = s->leader_id;
      lo = s->applied_index < lo ? s->applied_index : lo;
      hi = s->applied_index > hi ? s->applied_index : hi;
      mediation__v1__cluster_status_reply__free_unpacked(s, NULL);
    }
    if (all && leader && agree && hi - lo <= 64)
      return;
    sleep_ms(50);
  }
  fail_msg("the cluster did not settle within 30 s (a node down or far behind)");
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
static int expect_snapshot_install(conn *c) {
  int leader = find_leader(c, -1);
  assert_true(leader >= 0);
  int behind = (leader + 1) % NODES;
  atomic_fetch_or(&down, 1 << behind);
  assert_int_equal(th_stop(&nodes[behind], 20000), 0);
  for (int k = 0; k < SNAP_WRITES; k++) {
    char ref[32], id[64];
    snprintf(ref, sizeof(ref), "cl-snap-%d", k);
    uint8_t rid[16];
    rpc_request_id_new(rid);
    assert_true(take_in(c, &leader, ref, rid, 5000, id));
  }
  int installs = tr_log_count(&nodes[behind], "exiting 75");
  assert_int_equal(start_node(behind), 0);
  atomic_fetch_and(&down, ~(1 << behind));
  /* Caught up: from the log, or after a stop and a start on the snapshot
   * (supervise, in await_all_caught_up, starts it again). */
  await_all_caught_up(c);
  bool installed = tr_log_count(&nodes[behind], "exiting 75") > installs;
  printf("node %d, %d entries behind: %s\n", behind + 1, SNAP_WRITES,
         installed ? "installed the leader's snapshot and restarted on it"
                   : "caught up from the leader's log");
  return SNAP_WRITES;
}

static void test_cluster_failover(void **state) {
  (void)state;
  for (int i = 0; i < NODES; i++)
    assert_int_equal(start_node(i), 0);
  conn c = {0};
  int leader = -1;
  int64_t until = mc_mono_ms() + 10000;
  while ((leader = find_leader(&c, -1)) < 0 && mc_mono_ms() < until)
    sleep_ms(50);
  assert_true(leader >= 0);

  char first[64];
  uint8_t rid[16];
  rpc_request_id_new(rid);
  assert_true(take_in(&c, &leader, "cl-first", rid, 10000, first));
  expect_follower_refuses(&c, (leader + 1) % NODES, leader, first);

  const char *secs = getenv("MEDIATION_TEST_CLUSTER_SECONDS");
  int64_t budget_ms = (secs != NULL ? atoi(secs) : DEFAULT_SECONDS) * 1000LL;
  int64_t t_end = mc_mono_ms() + budget_ms;
  assert_int_equal(pthread_create(&writer.thread, NULL, writer_main, NULL), 0);
  int rounds = 0;
  int64_t worst_ms = 0;
  srand((unsigned)time(NULL));
  while (rounds < MAX_ROUNDS && mc_mono_ms() < t_end && writer.failed[0] == '\0') {
    await_all_caught_up(&c);
    sleep_ms(50 + rand() % 250); /* writes under way */
    int old = find_leader(&c, -1);
    if (old < 0) {
      sleep_ms(100);
      continue;
    }
    int acked_before = atomic_load(&writer.acked);
    atomic_fetch_or(&down, 1 << old);
    th_kill(&nodes[old]);
    int64_t t_kill = mc_mono_ms();
    /* A new leader serves: a write answered OK through another node. */
    char id[64];
    char ref[32];
    snprintf(ref, sizeof(ref), "cl-probe-%d", rounds);
    uint8_t prid[16];
    rpc_request_id_new(prid);
    int next = (old + 1) % NODES;
    if (!take_in(&c, &next, ref, prid, 3000, id))
      fail_msg("round %d: no leader served a write within 3 s of node %d's death", rounds + 1,
               old + 1);
    int64_t took = mc_mono_ms() - t_kill;
    if (took > worst_ms)
      worst_ms = took;
    assert_int_not_equal(next, old);
    assert_true(took <= 3000);
    assert_int_equal(start_node(old), 0);
    atomic_fetch_and(&down, ~(1 << old));
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
         rounds, acked, (long long)worst_ms, restarts_75);
  assert_true(rounds >= 5);

  await_all_caught_up(&c);
  expect_cluster_changes(&c);
  await_all_caught_up(&c);
  int snap_writes = expect_snapshot_install(&c);
  await_same_applied(&c);
  /* Exactly once: every take-in (the writer's, the probes, the first, the
   * one after the changes) made one case, on every node. */
  uint64_t expected = (uint64_t)acked + (uint64_t)rounds + 2 + (uint64_t)snap_writes;
  for (int i = 0; i < NODES; i++) {
    uint64_t n = case_count(&c, i);
    if (n != expected)
      fail_msg("node %d holds %llu cases, expected %llu", i + 1, (unsigned long long)n,
               (unsigned long long)expected);
  }
  for (int k = 0; k < acked; k++) {
    char ref[64];
    snprintf(ref, sizeof(ref), "%s:%s", UNIT, writer.refs[k]);
    size_t len0 = 0;
    uint8_t *b0 = case_bytes(&c, 0, ref, &len0);
    for (int i = 1; i < NODES; i++) {
      size_t len = 0;
      uint8_t *b = case_bytes(&c, i, ref, &len);
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
    expect_verify_clean(&c, i);
  conn_close(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_cluster_failover, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
