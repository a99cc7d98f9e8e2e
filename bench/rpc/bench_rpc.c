/*
 * bench_rpc.c - what the RPC layer costs: round trips/s and p50/p99 latency
 * of an empty method (mediation.v1.Echo/Ping) at 1, 16 and 64 requests in
 * flight over ipc://, next to a raw nng REQ/REP echo of a 16-byte message at
 * the same concurrency, measured in the same run. The ratio is the layer's
 * overhead: envelope packing, authentication (a session MAC by default, made
 * by the client and checked by the server), checks, dispatch through the
 * service descriptor, reply decoding. The "signed" columns are the same
 * client with sign_each_request: an Ed25519 signature (client) and
 * verification (server) per request, what every request paid before
 * sessions.
 *
 * Both sides keep exactly N requests outstanding with aio callbacks (each
 * completion starts the next request), client and server in one process.
 *
 * usage: bench_rpc [seconds per measurement, default 2]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "core/clock.h"
#include "core/log.h"
#include "mediation/v1/testing.pb-c.h"
#include "rpc/rpc.h"

#define MAX_FLIGHT 64
#define LAT_CAP (4u << 20)

/* --- Latency samples, shared by both drivers --- */

typedef struct run {
  atomic_bool stop;
  atomic_bool measuring;
  atomic_int outstanding;
  atomic_uint_fast64_t n;
  int64_t *lat; /* ns, the first LAT_CAP samples of the measured window */
  pthread_mutex_t mtx;
  pthread_cond_t cond;
  atomic_int errors;
} run;

static void record(run *r, int64_t t0) {
  if (!atomic_load(&r->measuring))
    return;
  uint64_t i = atomic_fetch_add(&r->n, 1);
  if (i < LAT_CAP)
    r->lat[i] = mc_mono_ns() - t0;
}

static void retire(run *r) {
  pthread_mutex_lock(&r->mtx);
  if (atomic_fetch_sub(&r->outstanding, 1) == 1)
    pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->mtx);
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

typedef struct result {
  double rps, p50_us, p99_us;
} result;

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Warm up, measure for `ms`, stop, wait for the last requests. */
static result measure(run *r, int64_t ms) {
  sleep_ms(300);
  atomic_store(&r->n, 0);
  int64_t t0 = mc_mono_ns();
  atomic_store(&r->measuring, true);
  sleep_ms(ms);
  atomic_store(&r->measuring, false);
  int64_t t1 = mc_mono_ns();
  uint64_t n = atomic_load(&r->n);
  atomic_store(&r->stop, true);
  pthread_mutex_lock(&r->mtx);
  while (atomic_load(&r->outstanding) > 0)
    pthread_cond_wait(&r->cond, &r->mtx);
  pthread_mutex_unlock(&r->mtx);
  size_t k = n < LAT_CAP ? (size_t)n : LAT_CAP;
  qsort(r->lat, k, sizeof(int64_t), cmp64);
  result res = {0};
  res.rps = (double)n / ((double)(t1 - t0) / 1e9);
  if (k > 0) {
    res.p50_us = (double)r->lat[k / 2] / 1e3;
    res.p99_us = (double)r->lat[(size_t)((double)k * 0.99)] / 1e3;
  }
  return res;
}

static void run_init(run *r, int64_t *lat, int flight) {
  atomic_store(&r->stop, false);
  atomic_store(&r->measuring, false);
  atomic_store(&r->outstanding, flight);
  atomic_store(&r->n, 0);
  atomic_store(&r->errors, 0);
  r->lat = lat;
}

/* --- Raw nng REQ/REP echo --- */

typedef struct raw_op {
  run *r;
  nng_aio *aio;
  nng_ctx ctx;
  int sending;
  int64_t t0;
} raw_op;

static void raw_server_cb(void *arg) {
  raw_op *w = arg;
  if (nng_aio_result(w->aio) != 0) {
    if (w->sending)
      nng_msg_free(nng_aio_get_msg(w->aio));
    return; /* closed */
  }
  if (!w->sending) { /* echo the request back */
    w->sending = 1;
    nng_ctx_send(w->ctx, w->aio);
  } else {
    w->sending = 0;
    nng_ctx_recv(w->ctx, w->aio);
  }
}

static void raw_client_send(raw_op *o) {
  nng_msg *m;
  nng_msg_alloc(&m, 16);
  memset(nng_msg_body(m), 0xA5, 16);
  o->t0 = mc_mono_ns();
  o->sending = 1;
  nng_aio_set_msg(o->aio, m);
  nng_ctx_send(o->ctx, o->aio);
}

static void raw_client_cb(void *arg) {
  raw_op *o = arg;
  int rv = nng_aio_result(o->aio);
  if (rv != 0) {
    if (o->sending)
      nng_msg_free(nng_aio_get_msg(o->aio));
    atomic_fetch_add(&o->r->errors, 1);
    retire(o->r);
    return;
  }
  if (o->sending) {
    o->sending = 0;
    nng_ctx_recv(o->ctx, o->aio);
    return;
  }
  nng_msg_free(nng_aio_get_msg(o->aio));
  record(o->r, o->t0);
  if (atomic_load(&o->r->stop))
    retire(o->r);
  else
    raw_client_send(o);
}

static result bench_raw(const char *url, int flight, int64_t ms, int64_t *lat) {
  nng_socket srv, cli;
  raw_op workers[128], ops[MAX_FLIGHT];
  run r;
  pthread_mutex_init(&r.mtx, NULL);
  pthread_cond_init(&r.cond, NULL);
  run_init(&r, lat, flight);
  if (nng_rep0_open(&srv) != 0 || nng_listen(srv, url, NULL, 0) != 0 || nng_req0_open(&cli) != 0 ||
      nng_socket_set_ms(cli, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
      nng_dial(cli, url, NULL, 0) != 0) {
    fprintf(stderr, "bench_rpc: raw nng setup failed on %s\n", url);
    exit(1);
  }
  for (int i = 0; i < 128; i++) {
    workers[i] = (raw_op){.r = &r};
    nng_aio_alloc(&workers[i].aio, raw_server_cb, &workers[i]);
    nng_ctx_open(&workers[i].ctx, srv);
    nng_ctx_recv(workers[i].ctx, workers[i].aio);
  }
  for (int i = 0; i < flight; i++) {
    ops[i] = (raw_op){.r = &r};
    nng_aio_alloc(&ops[i].aio, raw_client_cb, &ops[i]);
    nng_ctx_open(&ops[i].ctx, cli);
  }
  for (int i = 0; i < flight; i++)
    raw_client_send(&ops[i]);
  result res = measure(&r, ms);
  for (int i = 0; i < flight; i++)
    nng_aio_stop(ops[i].aio);
  for (int i = 0; i < 128; i++)
    nng_aio_stop(workers[i].aio);
  nng_close(cli);
  nng_close(srv);
  for (int i = 0; i < flight; i++)
    nng_aio_free(ops[i].aio);
  for (int i = 0; i < 128; i++)
    nng_aio_free(workers[i].aio);
  return res;
}

/* --- The RPC layer --- */

static void bench_echo(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoRequest *in,
                       Mediation__V1__EchoReply_Closure done, void *call) {
  (void)svc;
  (void)in;
  Mediation__V1__EchoReply out = MEDIATION__V1__ECHO_REPLY__INIT;
  done(&out, call);
}

static void bench_ping(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoEmpty *in,
                       Mediation__V1__EchoEmpty_Closure done, void *call) {
  (void)svc;
  (void)in;
  Mediation__V1__EchoEmpty out = MEDIATION__V1__ECHO_EMPTY__INIT;
  done(&out, call);
}

static Mediation__V1__Echo_Service echo_service = MEDIATION__V1__ECHO__INIT(bench_);

typedef struct rpc_op {
  run *r;
  rpc_client *c;
  int64_t t0;
} rpc_op;

static void rpc_send(rpc_op *o);

static void rpc_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  rpc_op *o = arg;
  (void)message;
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  if (code != MC_OK) {
    atomic_fetch_add(&o->r->errors, 1);
    retire(o->r);
    return;
  }
  record(o->r, o->t0);
  if (atomic_load(&o->r->stop))
    retire(o->r);
  else
    rpc_send(o);
}

static void rpc_send(rpc_op *o) {
  static const Mediation__V1__EchoEmpty ping = MEDIATION__V1__ECHO_EMPTY__INIT;
  mc_err err;
  o->t0 = mc_mono_ns();
  /* From a completion callback: nowait (a slot is always free here). */
  if (rpc_client_call_async(o->c, &mediation__v1__echo__descriptor, "Ping", &ping.base,
                            &(rpc_call_opts){.timeout_ms = 10000, .nowait = true}, rpc_done, o,
                            &err) != MC_OK) {
    fprintf(stderr, "bench_rpc: %s\n", err.msg);
    atomic_fetch_add(&o->r->errors, 1);
    retire(o->r);
  }
}

static result bench_rpc(const char *url, const mc_registry *reg, const rpc_key *key, int flight,
                        bool sign, int64_t ms, int64_t *lat) {
  rpc_server *srv = NULL;
  rpc_client *cli = NULL;
  mc_err err = {0};
  if (rpc_server_create(reg, &(rpc_server_opts){.program = "bench", .contexts = 128}, &srv,
                        &err) != MC_OK ||
      rpc_server_register(srv, &echo_service.base, &err) != MC_OK ||
      rpc_server_listen(srv, url, NULL, 0, &err) != MC_OK ||
      rpc_client_create(url, key, &reg->limits,
                        &(rpc_client_opts){.max_in_flight = MAX_FLIGHT, .sign_each_request = sign},
                        &cli, &err) != MC_OK) {
    fprintf(stderr, "bench_rpc: %s\n", err.msg);
    exit(1);
  }
  run r;
  pthread_mutex_init(&r.mtx, NULL);
  pthread_cond_init(&r.cond, NULL);
  run_init(&r, lat, flight);
  rpc_op ops[MAX_FLIGHT];
  for (int i = 0; i < flight; i++) {
    ops[i] = (rpc_op){.r = &r, .c = cli};
    rpc_send(&ops[i]);
  }
  result res = measure(&r, ms);
  if (atomic_load(&r.errors) > 0)
    fprintf(stderr, "bench_rpc: %d calls failed\n", atomic_load(&r.errors));
  rpc_client_free(cli);
  rpc_server_free(srv);
  return res;
}

int main(int argc, char **argv) {
  int64_t ms = argc > 1 ? (int64_t)(atof(argv[1]) * 1000) : 2000;
  if (ms <= 0)
    ms = 2000;
  mc_log_init("bench_rpc", MC_LOG_WARNING);
  char dir[] = "/tmp/mediation-bench-rpc-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  rpc_key *key = NULL;
  mc_registry *reg = NULL;
  mc_err err = {0};
  char pub[RPC_PUBLIC_KEY_B64_MAX], conf[512];
  if (rpc_key_generate("bench-unit", &key, &err) != MC_OK)
    return fprintf(stderr, "%s\n", err.msg), 1;
  rpc_key_public_base64(key, pub);
  snprintf(conf, sizeof(conf), "[unit bench-unit]\nkind = police\npublic_key = %s\n", pub);
  if (mc_registry_parse(conf, "bench.conf", &reg, &err) != MC_OK)
    return fprintf(stderr, "%s\n", err.msg), 1;
  int64_t *lat = malloc(LAT_CAP * sizeof(int64_t));
  if (lat == NULL)
    return 1;

  printf("RPC round trips over ipc://, empty method (Echo/Ping) vs raw nng REQ/REP echo (16 B)\n");
  printf("%ld s per measurement, client and server in one process, %ld cores online\n\n",
         (long)(ms / 1000), sysconf(_SC_NPROCESSORS_ONLN));
  printf("%9s | %12s %9s %9s | %12s %9s %9s | %12s %9s %9s | %7s %7s\n", "in flight",
         "rpc rt/s", "p50 us", "p99 us", "signed rt/s", "p50 us", "p99 us", "raw rt/s", "p50 us",
         "p99 us", "rt/s x", "p50 x");
  static const int flights[] = {1, 16, 64};
  int seq = 0;
  for (size_t i = 0; i < sizeof(flights) / sizeof(flights[0]); i++) {
    char url[256];
    snprintf(url, sizeof(url), "ipc://%s/raw-%d.ipc", dir, seq++);
    result raw = bench_raw(url, flights[i], ms, lat);
    snprintf(url, sizeof(url), "ipc://%s/rpc-%d.ipc", dir, seq++);
    result rpc = bench_rpc(url, reg, key, flights[i], false, ms, lat);
    snprintf(url, sizeof(url), "ipc://%s/rpc-%d.ipc", dir, seq++);
    result sig = bench_rpc(url, reg, key, flights[i], true, ms, lat);
    printf("%9d | %12.0f %9.1f %9.1f | %12.0f %9.1f %9.1f | %12.0f %9.1f %9.1f | %7.2f %7.2f\n",
           flights[i], rpc.rps, rpc.p50_us, rpc.p99_us, sig.rps, sig.p50_us, sig.p99_us, raw.rps,
           raw.p50_us, raw.p99_us, rpc.rps > 0 ? raw.rps / rpc.rps : 0.0,
           raw.p50_us > 0 ? rpc.p50_us / raw.p50_us : 0.0);
    fflush(stdout);
  }
  printf("\nrpc: sessions (the default); signed: an Ed25519 signature per request.\n"
         "rt/s x: raw throughput / rpc throughput; p50 x: rpc p50 / raw p50 (the overhead).\n");
  free(lat);
  mc_registry_free(reg);
  rpc_key_free(key);
  char path[512];
  for (int i = 0; i < seq; i++) {
    snprintf(path, sizeof(path), "%s/%s-%d.ipc", dir, i % 3 ? "rpc" : "raw", i);
    unlink(path);
  }
  rmdir(dir);
  return 0;
}
