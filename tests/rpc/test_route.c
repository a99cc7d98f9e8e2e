/*
 * test_route.c - a client made for several routers follows the leader
 * (rpc_client_create_list, rpc/client_route.c), with no router: each node
 * is a tiny responder in this process, answering at the nng level with
 * hand-built ReplyEnvelopes - a follower's UNAVAILABLE naming the leader,
 * an election's UNAVAILABLE naming none, the leader's answer, or silence -
 * so every case is exact and repeatable.
 *
 * What must hold: a call lands on the leader with the same request id and
 * deadline after at most one switch per reply; later calls go straight
 * there; a node that is down is skipped; with no leader anywhere the call
 * ends at its deadline, UNAVAILABLE, after a bounded number of attempts;
 * a leader that dies with the request out hands it, same id, to the next
 * leader; stale_ok reaches the server.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>

#include "core/clock.h"
#include "mediation/v1/rpc.pb-c.h"
#include "support.h"

#define LIMITS "max_message_bytes = 65536\nmax_deadline_ahead_seconds = 60\n"

enum { LEADER, FOLLOWER, NO_LEADER, SILENT, DOWN /* trio_start: nothing listening */ };

#define MAX_SEEN 64

/* One node: an nng REP socket and a thread that answers as `mode` says. */
typedef struct node {
  char url[320];
  nng_socket sock;
  pthread_t thread;
  atomic_bool stop;
  atomic_int mode;
  uint64_t leader_id;      /* FOLLOWER: whom it names */
  char leader_url[320];
  uint64_t my_id;
  const uint8_t *police_pk; /* to verify the requests' signatures */
  pthread_mutex_t mu;
  unsigned requests;       /* Echo requests received (Opens not counted) */
  unsigned opens;
  uint8_t rids[MAX_SEEN][RPC_REQUEST_ID_BYTES];
  int64_t deadlines[MAX_SEEN];
  bool stale[MAX_SEEN];
  bool verified[MAX_SEEN];
} node;

static void reply(node *n, const Mediation__V1__RequestEnvelope *env, int code, const char *text,
                  uint64_t leader, const char *leader_url, const ProtobufCMessage *payload) {
  Mediation__V1__ReplyEnvelope r = MEDIATION__V1__REPLY_ENVELOPE__INIT;
  r.request_id = env->request_id;
  r.code = code;
  r.message = (char *)text;
  r.leader_id = leader;
  r.leader_endpoint = (char *)(leader_url ? leader_url : "");
  uint8_t pbuf[512];
  if (payload != NULL) {
    size_t pn = protobuf_c_message_get_packed_size(payload);
    assert_true(pn <= sizeof(pbuf));
    protobuf_c_message_pack(payload, pbuf);
    r.payload = (ProtobufCBinaryData){pn, pbuf};
  }
  size_t len = mediation__v1__reply_envelope__get_packed_size(&r);
  nng_msg *m;
  assert_int_equal(nng_msg_alloc(&m, len), 0);
  mediation__v1__reply_envelope__pack(&r, nng_msg_body(m));
  if (nng_sendmsg(n->sock, m, 0) != 0)
    nng_msg_free(m);
}

static void *node_main(void *arg) {
  node *n = arg;
  while (!atomic_load(&n->stop)) {
    nng_msg *m;
    if (nng_recvmsg(n->sock, &m, 0) != 0)
      continue; /* the 50 ms receive timeout: look at stop again */
    Mediation__V1__RequestEnvelope *env =
        mediation__v1__request_envelope__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    assert_non_null(env);
    if (strcmp(env->method, "Open") == 0) {
      /* No sessions here: the client signs each request instead. */
      pthread_mutex_lock(&n->mu);
      n->opens++;
      pthread_mutex_unlock(&n->mu);
      reply(n, env, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNIMPLEMENTED, "no sessions", 0, NULL, NULL);
      mediation__v1__request_envelope__free_unpacked(env, NULL);
      continue;
    }
    mc_err err = {0};
    bool ok = rpc_request_verify(n->police_pk, env, &err) == MC_OK;
    pthread_mutex_lock(&n->mu);
    unsigned i = n->requests++;
    if (i < MAX_SEEN) {
      assert_int_equal(env->request_id.len, RPC_REQUEST_ID_BYTES);
      memcpy(n->rids[i], env->request_id.data, RPC_REQUEST_ID_BYTES);
      n->deadlines[i] = env->deadline_ms;
      n->stale[i] = env->stale_ok;
      n->verified[i] = ok;
    }
    pthread_mutex_unlock(&n->mu);
    switch (atomic_load(&n->mode)) {
    case LEADER: {
      Mediation__V1__EchoReply out = MEDIATION__V1__ECHO_REPLY__INIT;
      out.text = (char *)"from the leader";
      out.request_id = env->request_id;
      out.deadline_ms = env->deadline_ms;
      out.tag = (uint32_t)n->my_id;
      reply(n, env, MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK, "", 0, NULL, &out.base);
      break;
    }
    case FOLLOWER:
      reply(n, env, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE, "not the leader", n->leader_id,
            n->leader_url, NULL);
      break;
    case NO_LEADER:
      reply(n, env, MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE, "election under way", 0, NULL,
            NULL);
      break;
    default: /* SILENT: the request is dropped with the next receive */
      break;
    }
    mediation__v1__request_envelope__free_unpacked(env, NULL);
  }
  return NULL;
}

static void node_start(node *n, const rt_env *env, const char *name, uint64_t id, int mode) {
  char path[300];
  rt_path(env, name, path, sizeof(path));
  snprintf(n->url, sizeof(n->url), "ipc://%s", path);
  n->my_id = id;
  n->police_pk = rpc_key_public(env->police);
  atomic_init(&n->mode, mode);
  atomic_init(&n->stop, false);
  pthread_mutex_init(&n->mu, NULL);
  assert_int_equal(nng_rep0_open(&n->sock), 0);
  assert_int_equal(nng_socket_set_ms(n->sock, NNG_OPT_RECVTIMEO, 50), 0);
  assert_int_equal(nng_listen(n->sock, n->url, NULL, 0), 0);
  assert_int_equal(pthread_create(&n->thread, NULL, node_main, n), 0);
}

/* A node that is down: its URL, and nothing listening there. */
static void node_down(node *n, const rt_env *env, const char *name, uint64_t id) {
  char path[300];
  rt_path(env, name, path, sizeof(path));
  snprintf(n->url, sizeof(n->url), "ipc://%s", path);
  n->my_id = id;
  pthread_mutex_init(&n->mu, NULL);
  n->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
}

static void node_follow(node *n, const node *leader) {
  n->leader_id = leader->my_id;
  snprintf(n->leader_url, sizeof(n->leader_url), "%s", leader->url);
  atomic_store(&n->mode, FOLLOWER);
}

static void node_stop(node *n) {
  if (nng_socket_id(n->sock) > 0) {
    atomic_store(&n->stop, true);
    pthread_join(n->thread, NULL);
    nng_close(n->sock);
    n->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
  }
}

static unsigned node_requests(node *n) {
  pthread_mutex_lock(&n->mu);
  unsigned k = n->requests;
  pthread_mutex_unlock(&n->mu);
  return k;
}

/* Times n saw request id rid. */
static unsigned node_saw(node *n, const uint8_t *rid) {
  unsigned k = 0;
  pthread_mutex_lock(&n->mu);
  for (unsigned i = 0; i < n->requests && i < MAX_SEEN; i++)
    k += memcmp(n->rids[i], rid, RPC_REQUEST_ID_BYTES) == 0;
  pthread_mutex_unlock(&n->mu);
  return k;
}

static rpc_client *list_client(const rt_env *env, node *nodes[], size_t n) {
  const char *urls[8];
  for (size_t i = 0; i < n; i++)
    urls[i] = nodes[i]->url;
  rpc_client *c = NULL;
  mc_err err = {0};
  if (rpc_client_create_list(urls, n, env->police, &env->reg->limits,
                             &(rpc_client_opts){.max_in_flight = 4, .default_timeout_ms = 5000},
                             &c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  return c;
}

/* Three nodes, a (id 1), b (2) and c3 (3), started in the given modes
 * (DOWN: node_down), and a client listing them in that order: what the
 * three-node tests start from; trio_free ends them all. */
typedef struct trio {
  rt_env env;
  node a, b, c3;
  node *nodes[3];
  rpc_client *c;
} trio;

static void trio_start(trio *t, int mode_a, int mode_b, int mode_c3) {
  memset(t, 0, sizeof(*t));
  rt_env_init(&t->env, LIMITS);
  node *n[3] = {&t->a, &t->b, &t->c3};
  const int modes[3] = {mode_a, mode_b, mode_c3};
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof(name), "n%d.ipc", i + 1);
    if (modes[i] == DOWN)
      node_down(n[i], &t->env, name, (uint64_t)i + 1);
    else
      node_start(n[i], &t->env, name, (uint64_t)i + 1, modes[i]);
    t->nodes[i] = n[i];
  }
  t->c = list_client(&t->env, t->nodes, 3);
}

/* The client freed, every node still running stopped, the env gone. */
static void trio_free(trio *t) {
  rpc_client_free(t->c);
  for (int i = 0; i < 3; i++)
    node_stop(t->nodes[i]);
  rt_env_free(&t->env);
}

/* An Echo through t's client with a fresh request id (left in rid) and
 * timeout_ms; how long it took in *took_ms. */
static mc_code echo_timed(trio *t, int timeout_ms, uint8_t rid[RPC_REQUEST_ID_BYTES],
                          Mediation__V1__EchoReply **out, char msg[256], int64_t *took_ms) {
  rpc_request_id_new(rid);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  int64_t t0 = mc_mono_ms();
  mc_code rc = rt_echo_call(
      t->c, &req, &(rpc_call_opts){.timeout_ms = timeout_ms, .request_id = rid}, out, msg);
  *took_ms = mc_mono_ms() - t0;
  return rc;
}

static void test_follows_the_leader(void **state) {
  (void)state;
  trio t;
  trio_start(&t, LEADER, LEADER, LEADER);
  node_follow(&t.a, &t.c3);
  node_follow(&t.b, &t.c3);
  assert_string_equal(rpc_client_url(t.c), t.a.url);

  uint8_t rid[RPC_REQUEST_ID_BYTES];
  rpc_request_id_new(rid);
  int64_t deadline = mc_now_ms() + 5000;
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  mc_code rc = rt_echo_call(t.c, &req, &(rpc_call_opts){.deadline_ms = deadline, .request_id = rid},
                            &out, msg);
  assert_int_equal(rc, MC_OK);
  assert_int_equal(out->tag, 3);
  assert_memory_equal(out->request_id.data, rid, RPC_REQUEST_ID_BYTES);
  assert_int_equal(out->deadline_ms, deadline);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  /* First the current node (a), told "ask 3", then 3: one switch. */
  assert_int_equal(node_saw(&t.a, rid), 1);
  assert_int_equal(node_saw(&t.b, rid), 0);
  assert_int_equal(node_saw(&t.c3, rid), 1);
  assert_int_equal(t.c3.deadlines[0], deadline);
  assert_string_equal(rpc_client_url(t.c), t.c3.url);

  /* Later calls go straight to the leader. A stale_ok read carries the
   * flag (not signed, like locale: the signature verifies either way). */
  for (int i = 0; i < 3; i++) {
    rc = rt_echo_call(t.c, &req, &(rpc_call_opts){.timeout_ms = 5000, .stale_ok = i == 2}, &out,
                      msg);
    assert_int_equal(rc, MC_OK);
    protobuf_c_message_free_unpacked(&out->base, NULL);
  }
  assert_int_equal(node_requests(&t.a), 1);
  assert_int_equal(node_requests(&t.b), 0);
  assert_int_equal(node_requests(&t.c3), 4);
  for (unsigned i = 0; i < 4; i++) {
    assert_true(t.c3.verified[i]);
    assert_int_equal(t.c3.stale[i], i == 3);
  }

  /* Leadership moves to 1: 3 now says so, and the client follows back. */
  atomic_store(&t.a.mode, LEADER);
  node_follow(&t.c3, &t.a);
  rpc_request_id_new(rid);
  rc = rt_echo_call(t.c, &req, &(rpc_call_opts){.timeout_ms = 5000, .request_id = rid}, &out, msg);
  assert_int_equal(rc, MC_OK);
  assert_int_equal(out->tag, 1);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  assert_int_equal(node_saw(&t.c3, rid), 1);
  assert_int_equal(node_saw(&t.a, rid), 1);
  assert_string_equal(rpc_client_url(t.c), t.a.url);

  trio_free(&t);
}

static void test_skips_a_node_that_is_down(void **state) {
  (void)state;
  trio t;
  trio_start(&t, DOWN, LEADER, LEADER);
  node_follow(&t.b, &t.c3);
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  int64_t took = 0;
  mc_code rc = echo_timed(&t, 5000, rid, &out, msg, &took);
  fprintf(stderr, "past a down node in %lld ms\n", (long long)took);
  assert_int_equal(rc, MC_OK);
  assert_int_equal(out->tag, 3);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  assert_true(took < 2000); /* refused, not waited for until the deadline */
  assert_int_equal(node_saw(&t.b, rid), 1);
  assert_int_equal(node_saw(&t.c3, rid), 1);
  trio_free(&t);
}

static void test_no_leader_ends_at_the_deadline(void **state) {
  (void)state;
  trio t;
  trio_start(&t, NO_LEADER, NO_LEADER, NO_LEADER);
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  rpc_request_id_new(rid);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  char msg[256];
  int64_t deadline = mc_now_ms() + 1500;
  mc_code rc =
      rt_echo_call(t.c, &req, &(rpc_call_opts){.deadline_ms = deadline, .request_id = rid}, NULL,
                   msg);
  int64_t late = mc_now_ms() - deadline;
  unsigned total = node_requests(&t.a) + node_requests(&t.b) + node_requests(&t.c3);
  fprintf(stderr, "no leader: %s after %u attempts, %lld ms from the deadline: %s\n",
          mc_code_name(rc), total, (long long)late, msg);
  assert_int_equal(rc, MC_UNAVAILABLE);
  assert_true(late >= -50 && late < 600);
  /* Rounds of three with pauses of 50, 100, 200, 400, 800 ms in between:
   * at most six rounds fit in 1.5 s. Every node was tried, more than once. */
  assert_true(total <= 18);
  assert_true(total >= 6);
  assert_int_equal(node_saw(&t.a, rid) + node_saw(&t.b, rid) + node_saw(&t.c3, rid), total);
  for (node **n = t.nodes; n < t.nodes + 3; n++)
    assert_true(node_requests(*n) >= 2);
  trio_free(&t);
}

typedef struct killer {
  node *dead, *heir, *other;
} killer;

/* Waits until the leader has the request, then kills it (its socket
 * closes: the client's connection drops) and makes heir the leader. */
static void *kill_leader(void *arg) {
  killer *k = arg;
  int64_t t0 = mc_mono_ms();
  while (node_requests(k->dead) == 0 && mc_mono_ms() - t0 < 5000)
    nng_msleep(5);
  nng_msleep(100);
  node_stop(k->dead);
  atomic_store(&k->heir->mode, LEADER);
  node_follow(k->other, k->heir);
  return NULL;
}

static void test_leader_dies_with_the_request_out(void **state) {
  (void)state;
  trio t; /* a: the leader, which never answers */
  trio_start(&t, SILENT, NO_LEADER, NO_LEADER);
  killer k = {.dead = &t.a, .heir = &t.c3, .other = &t.b};
  pthread_t killer_thread;
  assert_int_equal(pthread_create(&killer_thread, NULL, kill_leader, &k), 0);
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  int64_t took = 0;
  mc_code rc = echo_timed(&t, 8000, rid, &out, msg, &took);
  pthread_join(killer_thread, NULL);
  fprintf(stderr, "leader killed with the request out: %s in %lld ms\n", mc_code_name(rc),
          (long long)took);
  assert_int_equal(rc, MC_OK);
  assert_int_equal(out->tag, 3);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  assert_true(took < 3000); /* the lost connection was noticed, not the deadline waited for */
  assert_int_equal(node_saw(&t.a, rid), 1);
  /* The heir got it, the same id; at most a round more if the killer was
   * slow to crown it. */
  assert_true(node_saw(&t.c3, rid) >= 1);
  assert_true(node_saw(&t.b, rid) + node_saw(&t.c3, rid) <= 4);
  trio_free(&t);
}

/* One endpoint: exactly today's client. */
static void test_one_endpoint_is_the_plain_client(void **state) {
  (void)state;
  rt_env env;
  rt_env_init(&env, LIMITS);
  node a = {0};
  node_start(&a, &env, "n1.ipc", 1, LEADER);
  node *nodes[] = {&a};
  rpc_client *c = list_client(&env, nodes, 1);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  assert_int_equal(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 5000}, &out, msg), MC_OK);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  assert_string_equal(rpc_client_url(c), a.url);
  rpc_client_free(c);
  /* And a list with a URL twice is refused, naming which. */
  const char *twice[] = {a.url, a.url};
  mc_err err = {0};
  assert_int_equal(rpc_client_create_list(twice, 2, env.police, &env.reg->limits, NULL, &c, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "twice"));
  node_stop(&a);
  rt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_follows_the_leader),
      cmocka_unit_test(test_skips_a_node_that_is_down),
      cmocka_unit_test(test_no_leader_ends_at_the_deadline),
      cmocka_unit_test(test_leader_dies_with_the_request_out),
      cmocka_unit_test(test_one_endpoint_is_the_plain_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
