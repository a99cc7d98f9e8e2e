/*
 * cluster_proc.c - three router processes as one cluster for the
 * multi-process tests, and a client that sees the leader hints
 * (cluster_proc.h says what each function is for).
 */
#include "cluster_proc.h"

#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "core/clock.h"
#include "router_proc.h"
#include "rpc/client.h"

#define COORD "coordinator"
#define OK_CODE MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK
#define UNAVAILABLE_CODE MEDIATION__V1__STATUS_CODE__STATUS_CODE_UNAVAILABLE

void tc_sleep_ms(int ms) {
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

int tc_setup_conf_in(tc_cluster *cl, tw_world *w, const char *conf, const char *text,
                     const char *scheme, const char *const host[TC_NODES],
                     const char *const raft_host[TC_NODES]) {
  cl->w = w;
  snprintf(cl->conf, sizeof(cl->conf), "%s", conf);
  FILE *f = fopen(conf, "a");
  if (f == NULL)
    return -1;
  fputs(text, f);
  for (int i = 0; i < TC_NODES; i++) {
    int cport = free_port(), rport = free_port();
    if (cport < 0 || rport < 0 || cport == rport) {
      fclose(f);
      return -1;
    }
    snprintf(cl->endpoints[i], sizeof(cl->endpoints[i]), "%s://%s:%d", scheme,
             host != NULL ? host[i] : "127.0.0.1", cport);
    fprintf(f, "\n[cluster %d]\nendpoint = %s\nraft_address = %s:%d\ndata_dir = %s/node%d\n",
            i + 1, cl->endpoints[i], raft_host != NULL ? raft_host[i] : "127.0.0.1", rport,
            w->dir.path, i + 1);
  }
  if (fclose(f) != 0)
    return -1;
  return strcmp(conf, w->conf) == 0 ? tw_reload(w) : 0;
}

int tc_setup_conf(tc_cluster *cl, tw_world *w, const char *scheme, const char *const host[TC_NODES],
                  const char *const raft_host[TC_NODES]) {
  return tc_setup_conf_in(cl, w, w->conf, "\n[storage]\nmode = raft\ncheckpoint_entries = 256\n",
                          scheme, host, raft_host);
}

int tc_start_node(tc_cluster *cl, int i) {
  char bin[TH_PATH_MAX], log[TH_PATH_MAX + 64], id[16], name[32];
  th_bin(bin, sizeof(bin), "router/mediation-router");
  snprintf(log, sizeof(log), "%s/node%d.log", cl->w->dir.path, i + 1);
  snprintf(id, sizeof(id), "%d", i + 1);
  snprintf(name, sizeof(name), "router-%d", i + 1);
  const char *argv[16];
  int n = 0;
  for (int k = 0; k < 8 && cl->prefix[i][k] != NULL; k++)
    argv[n++] = cl->prefix[i][k];
  argv[n++] = bin;
  argv[n++] = "--config";
  argv[n++] = cl->conf;
  argv[n++] = "--node";
  argv[n++] = id;
  argv[n] = NULL;
  return th_start(&cl->nodes[i], name, argv, log, 30000);
}

void tc_stop_nodes(tc_cluster *cl) {
  for (int i = 0; i < TC_NODES; i++)
    th_stop(&cl->nodes[i], 20000);
}

void tc_supervise(tc_cluster *cl) {
  for (int i = 0; i < TC_NODES; i++) {
    if ((atomic_load(&cl->down) & (1 << i)) || th_running(&cl->nodes[i]))
      continue;
    int n = tr_log_count(&cl->nodes[i], "exiting 75");
    if (n <= cl->exits_75_seen[i])
      fail_msg("node %d is gone (not stopped by the test, not after a snapshot install): see "
               "its log %s",
               i + 1, cl->nodes[i].log_path);
    cl->exits_75_seen[i] = n;
    cl->restarts_75++;
    assert_int_equal(tc_start_node(cl, i), 0);
  }
}

void tc_conn_close(tc_conn *c) {
  for (int i = 0; i < TC_NODES; i++)
    if (c->open[i])
      nng_close(c->s[i]);
  const tc_cluster *cl = c->cl;
  memset(c, 0, sizeof(*c));
  c->cl = cl;
}

/* Opens c's socket to node i: a dialer that retries quickly, with the
 * cluster's CA and server name on tls+tcp. */
static int conn_open(tc_conn *c, int i) {
  const tc_cluster *cl = c->cl;
  if (nng_req0_open(&c->s[i]) != 0)
    return -1;
  nng_dialer d;
  if (nng_dialer_create(&d, c->s[i], cl->endpoints[i]) != 0) {
    nng_close(c->s[i]);
    return -1;
  }
  if (strncmp(cl->endpoints[i], "tls+", 4) == 0) {
    nng_tls_config *cfg = NULL;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
    if (rv == 0)
      rv = nng_tls_config_ca_file(cfg, cl->tls_ca);
    if (rv == 0)
      rv = nng_tls_config_server_name(cfg, cl->tls_name);
    if (rv == 0)
      rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    if (rv == 0)
      rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
    if (cfg != NULL)
      nng_tls_config_free(cfg); /* the dialer holds its own reference */
    if (rv != 0)
      fail_msg("TLS configuration for %s (CA %s): %s", cl->endpoints[i], cl->tls_ca,
               nng_strerror(rv));
  }
  nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 20);
  nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 100);
  nng_dialer_start(d, NNG_FLAG_NONBLOCK);
  c->open[i] = true;
  return 0;
}

Mediation__V1__ReplyEnvelope *tc_call(tc_conn *c, int i, const char *principal,
                                      const char *service, const char *method,
                                      const ProtobufCMessage *msg, bool stale_ok,
                                      const uint8_t *rid, int timeout_ms) {
  if (!c->open[i] && conn_open(c, i) != 0)
    return NULL;
  nng_socket_set_ms(c->s[i], NNG_OPT_RECVTIMEO, timeout_ms);
  nng_socket_set_ms(c->s[i], NNG_OPT_SENDTIMEO, timeout_ms);
  uint8_t *req = NULL;
  size_t len = 0;
  mc_err err;
  if (rpc_request_encode(tw_key(c->cl->w, principal), service, method, msg,
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
  void *rep = NULL;
  size_t rlen = 0;
  if (rv == 0)
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

Mediation__V1__ClusterStatusReply *tc_status(tc_conn *c, int i) {
  Mediation__V1__ClusterStatusRequest req = MEDIATION__V1__CLUSTER_STATUS_REQUEST__INIT;
  Mediation__V1__ReplyEnvelope *env =
      tc_call(c, i, COORD, "mediation.v1.RouterCluster", "Status", &req.base, false, NULL, 1000);
  if (env == NULL)
    return NULL;
  Mediation__V1__ClusterStatusReply *s = NULL;
  if (env->code == OK_CODE)
    s = mediation__v1__cluster_status_reply__unpack(NULL, env->payload.len, env->payload.data);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  return s;
}

int tc_find_leader(tc_conn *c, int skip) {
  tc_cluster *cl = (tc_cluster *)c->cl;
  for (int i = 0; i < TC_NODES; i++) {
    if (i == skip || !th_running(&cl->nodes[i]))
      continue;
    Mediation__V1__ClusterStatusReply *s = tc_status(c, i);
    bool leads = s != NULL && strcmp(s->state, "leader") == 0;
    if (s != NULL)
      mediation__v1__cluster_status_reply__free_unpacked(s, NULL);
    if (leads)
      return i;
  }
  return -1;
}

int tc_await_leader(tc_conn *c, int skip, int ms) {
  int64_t until = mc_mono_ms() + ms;
  int leader;
  while ((leader = tc_find_leader(c, skip)) < 0 && mc_mono_ms() < until)
    tc_sleep_ms(20);
  return leader;
}

void tc_applied_case_id(const Mediation__V1__ReplyEnvelope *env, char case_id[64]) {
  Mediation__V1__ApplyReply *r =
      mediation__v1__apply_reply__unpack(NULL, env->payload.len, env->payload.data);
  assert_non_null(r);
  assert_non_null(r->case_record);
  snprintf(case_id, 64, "%s", r->case_record->id);
  mediation__v1__apply_reply__free_unpacked(r, NULL);
}

void tc_await_settled(tc_conn *c, int ms) {
  tc_cluster *cl = (tc_cluster *)c->cl;
  int64_t until = mc_mono_ms() + ms;
  while (mc_mono_ms() < until) {
    tc_supervise(cl);
    uint64_t lo = UINT64_MAX, hi = 0, led_by = 0;
    bool leader = false, all = true, agree = true;
    for (int i = 0; i < TC_NODES; i++) {
      Mediation__V1__ClusterStatusReply *s = tc_status(c, i);
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
    tc_sleep_ms(50);
  }
  fail_msg("the cluster did not settle within %d s (a node down or far behind)", ms / 1000);
}

bool tc_take_in(tc_conn *c, int *leader, const char *unit, const char *ref, const uint8_t rid[16],
                int give_up_ms, char case_id[64]) {
  tc_cluster *cl = (tc_cluster *)c->cl;
  tr_take_in t;
  tr_take_in_init(&t, "某乙", ref);
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &t.action;
  int64_t until = mc_mono_ms() + give_up_ms;
  int at = *leader >= 0 ? *leader : 0;
  while (mc_mono_ms() < until) {
    Mediation__V1__ReplyEnvelope *env =
        tc_call(c, at, unit, "mediation.v1.Router", "Apply", &req.base, false, rid, 1000);
    if (env != NULL && env->code == OK_CODE) {
      tc_applied_case_id(env, case_id);
      mediation__v1__reply_envelope__free_unpacked(env, NULL);
      *leader = at;
      return true;
    }
    if (env != NULL && env->code != UNAVAILABLE_CODE)
      fail_msg("take-in %s on node %d: code %d: %s", ref, at + 1, env->code, env->message);
    uint64_t hint = env != NULL ? env->leader_id : 0;
    if (env != NULL)
      mediation__v1__reply_envelope__free_unpacked(env, NULL);
    if (hint >= 1 && hint <= TC_NODES && (int)hint - 1 != at) {
      at = (int)hint - 1;
    } else {
      at = (at + 1) % TC_NODES;
      bool gone = cl->track_down ? (atomic_load(&cl->down) & (1 << at)) != 0
                                 : !th_running(&cl->nodes[at]);
      if (gone) /* a killed node: no use waiting for it */
        at = (at + 1) % TC_NODES;
      tc_sleep_ms(20);
    }
  }
  return false;
}

/* service/method(msg) on node i as the coordinator, stale_ok: the reply
 * envelope, which must be OK (caller frees); what names the request in the
 * failure. While the node answers UNAVAILABLE it is asked again for up to
 * the cluster's unavailable_wait_ms. */
static Mediation__V1__ReplyEnvelope *call_ok(tc_conn *c, int i, const char *service,
                                             const char *method, const ProtobufCMessage *msg,
                                             int timeout_ms, const char *what) {
  int64_t until = mc_mono_ms() + c->cl->unavailable_wait_ms;
  for (;;) {
    Mediation__V1__ReplyEnvelope *env =
        tc_call(c, i, COORD, service, method, msg, true, NULL, timeout_ms);
    if (env == NULL)
      fail_msg("%s on node %d: no answer", what, i + 1);
    if (env->code == OK_CODE)
      return env;
    if (env->code != UNAVAILABLE_CODE || mc_mono_ms() > until)
      fail_msg("%s on node %d: %d %s", what, i + 1, env->code, env->message);
    mediation__v1__reply_envelope__free_unpacked(env, NULL);
    tc_sleep_ms(50);
  }
}

/* method(req) of mediation.v1.Router on node i through call_ok: its
 * payload unpacked as desc (the caller frees it). */
static ProtobufCMessage *router_read(tc_conn *c, int i, const char *method,
                                     const ProtobufCMessage *req,
                                     const ProtobufCMessageDescriptor *desc, const char *what) {
  Mediation__V1__ReplyEnvelope *env = call_ok(c, i, "mediation.v1.Router", method, req, 5000, what);
  ProtobufCMessage *r = protobuf_c_message_unpack(desc, NULL, env->payload.len, env->payload.data);
  if (r == NULL)
    fail_msg("%s on node %d: the reply does not unpack", what, i + 1);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  return r;
}

Mediation__V1__GetCaseReply *tc_get_case(tc_conn *c, int i, const char *case_ref) {
  Mediation__V1__GetCaseRequest get = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  get.case_ref = (char *)case_ref;
  get.with_timeline = true;
  char what[160];
  snprintf(what, sizeof(what), "GetCase %s", case_ref);
  return (Mediation__V1__GetCaseReply *)router_read(
      c, i, "GetCase", &get.base, &mediation__v1__get_case_reply__descriptor, what);
}

uint8_t *tc_case_bytes(tc_conn *c, int i, const char *case_ref, bool record_only, size_t *len) {
  Mediation__V1__GetCaseReply *r = tc_get_case(c, i, case_ref);
  const ProtobufCMessage *m = &r->base;
  if (record_only) {
    assert_non_null(r->case_record);
    m = &r->case_record->base;
  }
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *out = malloc(*len ? *len : 1);
  assert_non_null(out);
  protobuf_c_message_pack(m, out);
  mediation__v1__get_case_reply__free_unpacked(r, NULL);
  return out;
}

Mediation__V1__ListCasesReply *tc_list_cases(tc_conn *c, int i, const char *holder,
                                             int page_size) {
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.holder = (char *)holder;
  req.with_total = true;
  req.page_size = (uint32_t)page_size;
  char what[160];
  snprintf(what, sizeof(what), "ListCases %s", holder);
  return (Mediation__V1__ListCasesReply *)router_read(
      c, i, "ListCases", &req.base, &mediation__v1__list_cases_reply__descriptor, what);
}

uint64_t tc_case_count(tc_conn *c, int i, const char *holder) {
  Mediation__V1__ListCasesReply *r = tc_list_cases(c, i, holder, 1);
  assert_false(r->total_at_least);
  uint64_t total = r->total;
  mediation__v1__list_cases_reply__free_unpacked(r, NULL);
  return total;
}

void tc_expect_verify_clean(tc_conn *c, int i) {
  Mediation__V1__VerifyRequest req = MEDIATION__V1__VERIFY_REQUEST__INIT;
  Mediation__V1__ReplyEnvelope *env =
      call_ok(c, i, "mediation.v1.RouterAdmin", "Verify", &req.base, 20000, "Verify");
  Mediation__V1__VerifyReply *v =
      mediation__v1__verify_reply__unpack(NULL, env->payload.len, env->payload.data);
  assert_non_null(v);
  if (v->problems != 0)
    fail_msg("verify on node %d: %llu problems, first: %s", i + 1,
             (unsigned long long)v->problems, v->n_details ? v->details[0]->message : "?");
  mediation__v1__verify_reply__free_unpacked(v, NULL);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
}

void tc_await_same_applied(tc_conn *c, int ms) {
  int64_t until = mc_mono_ms() + ms;
  uint64_t last = 0;
  for (;;) {
    uint64_t applied[TC_NODES] = {0};
    uint64_t commit = 0;
    bool all = true;
    for (int i = 0; i < TC_NODES; i++) {
      Mediation__V1__ClusterStatusReply *s = tc_status(c, i);
      if (s == NULL) {
        all = false;
        continue;
      }
      applied[i] = s->applied_index;
      if (strcmp(s->state, "leader") == 0)
        commit = s->commit_index;
      mediation__v1__cluster_status_reply__free_unpacked(s, NULL);
    }
    /* Equal twice in a row: the same log applied, no write under way.
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
    tc_sleep_ms(100);
  }
}

int tc_expect_identical(tc_conn *c, const char *const *holders, int n_holders) {
  int compared = 0;
  for (int h = 0; h < n_holders; h++) {
    Mediation__V1__ListCasesReply *l0 = tc_list_cases(c, 0, holders[h], 500);
    assert_false(l0->total_at_least);
    assert_int_equal(l0->total, l0->n_cases); /* one page holds them all */
    for (int i = 1; i < TC_NODES; i++) {
      Mediation__V1__ListCasesReply *l = tc_list_cases(c, i, holders[h], 500);
      if (l->n_cases != l0->n_cases)
        fail_msg("%s holds %zu cases on node 1, %zu on node %d", holders[h], l0->n_cases,
                 l->n_cases, i + 1);
      mediation__v1__list_cases_reply__free_unpacked(l, NULL);
    }
    for (size_t k = 0; k < l0->n_cases; k++) {
      size_t len0 = 0;
      uint8_t *b0 = tc_case_bytes(c, 0, l0->cases[k]->id, false, &len0);
      for (int i = 1; i < TC_NODES; i++) {
        size_t len = 0;
        uint8_t *b = tc_case_bytes(c, i, l0->cases[k]->id, false, &len);
        if (len != len0 || memcmp(b, b0, len) != 0)
          fail_msg("case %s differs between node 1 and node %d", l0->cases[k]->id, i + 1);
        free(b);
      }
      free(b0);
      compared++;
    }
    mediation__v1__list_cases_reply__free_unpacked(l0, NULL);
  }
  return compared;
}
