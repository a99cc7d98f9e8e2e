/*
 * bench_web.c - what the web gateway costs, measured against the RPC path it
 * wraps, in one run on this machine (so the ratios hold even where the
 * absolute numbers do not):
 *   login      POST /api/v1/login through mediation-web, one at a time:
 *              an Argon2id verify (crypto_pwhash_str_verify, interactive
 *              limits) plus the HTTP and session work around it; beside it,
 *              crypto_pwhash_str_verify alone in this process
 *   read web   POST /api/v1/Router/GetCase through the coordinators'
 *              gateway (HTTP/1.1 keep-alive, JSON both ways, session and
 *              CSRF checks, then the same RPC to the router)
 *   read rpc   Router/GetCase through rpc_client_call, the path mediactl
 *              takes (signed session, ipc:// to the router)
 * each at 1, 16 and 64 concurrent clients (threads, one connection each,
 * each web client from its own 127.0.8.x address: the gateway limits
 * connections per client address). Every GetCase is recorded in the
 * router's access log, on both paths alike. Printed: requests/s, p50 and
 * p99 latency, and web / rpc ratios.
 *
 * The deployment is the tests' (deploy/mkdeploy in a temporary directory,
 * the real router, the real gateway on a free port), removed at the end.
 *
 * usage: bench_web [seconds per measurement, default 2]
 * run from the build tree: build/bench/web/bench_web
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/clock.h"
#include "mv1.h"
#include "rpc/rpc.h"
#include "world.h"

#define MAX_CLIENTS 64
#define LAT_CAP (1u << 20)

static const int levels[] = {1, 16, 64};
#define N_LEVELS 3

typedef struct result {
  double rps, p50_us, p99_us;
  long errors;
} result;

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* ---- a minimal HTTP/1.1 client over one keep-alive connection ---------- */

typedef struct conn {
  int fd;
  int port;
  char source[32];
  char buf[65536];
  size_t have;
} conn;

static int conn_open(conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0)
    return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct sockaddr_in src = {.sin_family = AF_INET};
  inet_pton(AF_INET, c->source, &src.sin_addr);
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
      connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  c->have = 0;
  return 0;
}

static void conn_close(conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

/* Sends one request and reads its reply: the status (0 on a broken
 * connection), the body copied into body (NUL-terminated, truncated to cap),
 * and the Set-Cookie session id into cookie when asked. Reconnects once if
 * the server had closed the kept-alive connection. */
static int http_post(conn *c, const char *path, const char *cookie, const char *csrf,
                     const char *json, char *body, size_t cap, char *set_cookie) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (c->fd < 0 && conn_open(c) != 0)
      return 0;
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s%s%s%s\r\n%s",
                     path, strlen(json), cookie ? "Cookie: mw_session=" : "", cookie ? cookie : "",
                     cookie ? "\r\n" : "", csrf ? "X-CSRF-Token: " : "", csrf ? csrf : "",
                     csrf ? "\r\n" : "", json);
    if (n < 0 || (size_t)n >= sizeof(req) || send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
      conn_close(c);
      continue;
    }
    c->have = 0;
    char *end = NULL;
    while (end == NULL) {
      ssize_t r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
      if (r <= 0)
        break;
      c->have += (size_t)r;
      c->buf[c->have] = '\0';
      end = strstr(c->buf, "\r\n\r\n");
    }
    if (end == NULL) {
      conn_close(c);
      continue;
    }
    int status = atoi(c->buf + 9);
    size_t head = (size_t)(end - c->buf) + 4;
    size_t length = 0;
    bool closing = false;
    for (char *line = c->buf; line < end; line = strstr(line, "\r\n") + 2) {
      if (strncasecmp(line, "Content-Length:", 15) == 0)
        length = strtoul(line + 15, NULL, 10);
      else if (strncasecmp(line, "Connection: close", 17) == 0)
        closing = true;
      else if (set_cookie && strncasecmp(line, "Set-Cookie: mw_session=", 23) == 0)
        sscanf(line + 23, "%64[0-9a-fA-F]", set_cookie);
    }
    while (c->have < head + length && c->have < sizeof(c->buf) - 1) {
      ssize_t r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
      if (r <= 0) {
        closing = true;
        break;
      }
      c->have += (size_t)r;
    }
    c->buf[c->have] = '\0';
    if (body) {
      snprintf(body, cap, "%s", c->buf + head);
    }
    if (closing)
      conn_close(c);
    return status;
  }
  return 0;
}

/* ---- the measured loops ------------------------------------------------ */

typedef struct shared {
  atomic_bool go, stop;
  int port;
  const char *cookie, *csrf;
  const char *case_id;
  rpc_client *rpc;
  int64_t *lat; /* MAX_CLIENTS * per_thread */
  size_t per_thread;
} shared;

typedef struct worker {
  shared *sh;
  int index;
  bool web;
  size_t n;
  long errors;
  pthread_t thread;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  shared *sh = w->sh;
  conn c = {.fd = -1, .port = sh->port};
  snprintf(c.source, sizeof(c.source), "127.0.8.%d", w->index + 1);
  char json[256], body[8192];
  snprintf(json, sizeof(json), "{\"case_ref\":\"%s\"}", sh->case_id);
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = (char *)sh->case_id;
  while (!atomic_load(&sh->go))
    usleep(100);
  int64_t *lat = sh->lat + (size_t)w->index * sh->per_thread;
  while (!atomic_load(&sh->stop)) {
    int64_t t0 = mc_mono_ns();
    bool ok;
    if (w->web) {
      ok = http_post(&c, "/api/v1/Router/GetCase", sh->cookie, sh->csrf, json, body,
                     sizeof(body), NULL) == 200;
    } else {
      ProtobufCMessage *out = NULL;
      mc_err err;
      ok = rpc_client_call(sh->rpc, &mediation__v1__router__descriptor, "GetCase", &req.base,
                           &(rpc_call_opts){.timeout_ms = 30000}, &out, &err) == MC_OK;
      if (ok)
        protobuf_c_message_free_unpacked(out, NULL);
    }
    if (!ok) {
      w->errors++;
      continue;
    }
    if (w->n < sh->per_thread)
      lat[w->n++] = mc_mono_ns() - t0;
  }
  conn_close(&c);
  return NULL;
}

static result measure(shared *sh, bool web, int clients, double seconds) {
  worker ws[MAX_CLIENTS];
  atomic_store(&sh->go, false);
  atomic_store(&sh->stop, false);
  for (int i = 0; i < clients; i++) {
    ws[i] = (worker){.sh = sh, .index = i, .web = web};
    pthread_create(&ws[i].thread, NULL, work, &ws[i]);
  }
  int64_t t0 = mc_mono_ns();
  atomic_store(&sh->go, true);
  struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
  atomic_store(&sh->stop, true);
  size_t total = 0;
  long errors = 0;
  for (int i = 0; i < clients; i++) {
    pthread_join(ws[i].thread, NULL);
    total += ws[i].n;
    errors += ws[i].errors;
  }
  int64_t elapsed = mc_mono_ns() - t0;
  int64_t *all = malloc((total ? total : 1) * sizeof(int64_t));
  size_t k = 0;
  for (int i = 0; i < clients; i++)
    for (size_t j = 0; j < ws[i].n; j++)
      all[k++] = sh->lat[(size_t)i * sh->per_thread + j];
  qsort(all, total, sizeof(int64_t), cmp64);
  result r = {.rps = total / (elapsed / 1e9), .errors = errors};
  if (total) {
    r.p50_us = all[total / 2] / 1e3;
    r.p99_us = all[(total * 99) / 100] / 1e3;
  }
  free(all);
  return r;
}

/* ---- set-up ---------------------------------------------------------- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
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

static double median_ms(int64_t *v, int n) {
  qsort(v, (size_t)n, sizeof(int64_t), cmp64);
  return v[n / 2] / 1e6;
}

/* The coordinator account the bench logs in as, made with mediactl (a
 * process: before any nng). 0 or -1. */
static int make_account(tw_world *world, const char *name, const char *password) {
  char mediactl[TH_PATH_MAX], cmd[4 * TH_PATH_MAX];
  th_bin(mediactl, sizeof(mediactl), "services/mediactl");
  snprintf(cmd, sizeof(cmd),
           "printf '%%s\\n' '%s' | '%s' --config '%s' user --coordinators add %s "
           "--password-stdin",
           password, mediactl, world->conf, name);
  const char *sh_argv[] = {"/bin/sh", "-c", cmd, NULL};
  char *out = NULL, *err_out = NULL;
  int rc = th_run(sh_argv, &out, &err_out, 60000);
  if (rc != 0)
    fprintf(stderr, "bench_web: mediactl user add failed (%d): %s%s\n", rc, out ? out : "",
            err_out ? err_out : "");
  free(out);
  free(err_out);
  return rc == 0 ? 0 : -1;
}

/* Logs in on conn c (retrying while the gateway comes up, at most 20 s):
 * the session cookie and CSRF token. 0 or -1. */
static int log_in(conn *c, th_proc *web, const char *login, char *cookie, char *csrf) {
  char body[8192] = "";
  int st = 0;
  int64_t until = mc_mono_ns() + 20000000000LL;
  while (mc_mono_ns() < until &&
         (st = http_post(c, "/api/v1/login", NULL, NULL, login, body, sizeof(body), cookie)) !=
             200) {
    if (!th_running(web)) {
      fprintf(stderr, "bench_web: mediation-web stopped; see its log\n");
      return -1;
    }
    usleep(100000);
  }
  char *tok = strstr(body, "\"csrf_token\":\"");
  if (st != 200 || tok == NULL || sscanf(tok + 14, "%150[0-9a-zA-Z_-]", csrf) != 1) {
    fprintf(stderr, "bench_web: cannot log in on port %d (HTTP %d): %s\n", c->port, st, body);
    return -1;
  }
  return 0;
}

/* A case to read, taken in by the police studio: its id into id. 0 or -1. */
static int take_in(tw_world *world, char *id, size_t cap) {
  rpc_client *unit = tw_client(world, "police-studio", NULL);
  Mediation__V1__Party party = MEDIATION__V1__PARTY__INIT;
  party.name = "某甲";
  party.role = MEDIATION__V1__PARTY_ROLE__PARTY_ROLE_APPLICANT;
  Mediation__V1__Party *parties[] = {&party};
  Mediation__V1__Intake intake = MEDIATION__V1__INTAKE__INIT;
  intake.kind = MV_KIND(FAMILY_TRIVIA);
  intake.difficulty = MV_DIFFICULTY(ORDINARY);
  intake.source = MV_SOURCE(WALK_IN);
  intake.community = "baihe";
  intake.parties = parties;
  intake.n_parties = 1;
  intake.summary = "bench";
  Mediation__V1__CaseAction action = MEDIATION__V1__CASE_ACTION__INIT;
  action.kind = MV_ACTION(TAKE_IN);
  action.args_case = MV_ARGS(INTAKE);
  action.intake = &intake;
  Mediation__V1__ApplyRequest apply = MEDIATION__V1__APPLY_REQUEST__INIT;
  apply.action = &action;
  ProtobufCMessage *reply = NULL; /* ours: freed below */
  mc_err err;
  if (unit == NULL || rpc_client_call(unit, &mediation__v1__router__descriptor, "Apply",
                                      &apply.base, NULL, &reply, &err) != MC_OK) {
    fprintf(stderr, "bench_web: take-in failed: %s\n", unit ? err.msg : "no client");
    return -1;
  }
  snprintf(id, cap, "%s", ((Mediation__V1__ApplyReply *)reply)->case_record->id);
  protobuf_c_message_free_unpacked(reply, NULL);
  return 0;
}

/* Login costs: LOGINS logins through the gateway, and as many Argon2id
 * verifies alone; their medians in ms. 0 or -1. */
enum { LOGINS = 10 };
static int login_costs(conn *c, const char *login, const char *password, double *web_ms,
                       double *verify_ms) {
  int64_t web[LOGINS], verify[LOGINS];
  char body[8192], cookie[80];
  for (int i = 0; i < LOGINS; i++) {
    int64_t t0 = mc_mono_ns();
    if (http_post(c, "/api/v1/login", NULL, NULL, login, body, sizeof(body), cookie) != 200) {
      fprintf(stderr, "bench_web: login %d failed: %s\n", i, body);
      return -1;
    }
    web[i] = mc_mono_ns() - t0;
  }
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    return -1;
  for (int i = 0; i < LOGINS; i++) {
    int64_t t0 = mc_mono_ns();
    if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0)
      return -1;
    verify[i] = mc_mono_ns() - t0;
  }
  *web_ms = median_ms(web, LOGINS);
  *verify_ms = median_ms(verify, LOGINS);
  return 0;
}

static void print_results(double seconds, double web_ms, double verify_ms, const char *case_id,
                          result res[2][N_LEVELS]) {
  printf("bench_web: the web gateway beside mediactl's RPC path, %ld cores, %.1f s each\n",
         sysconf(_SC_NPROCESSORS_ONLN), seconds);
  printf("login through mediation-web (Argon2id inside): p50 %.1f ms; "
         "crypto_pwhash_str_verify alone (interactive limits): p50 %.1f ms\n",
         web_ms, verify_ms);
  printf("Router/GetCase %s\n", case_id);
  printf("%-9s %8s %12s %10s %10s %8s\n", "path", "clients", "requests/s", "p50 us", "p99 us",
         "errors");
  for (int l = 0; l < N_LEVELS; l++) {
    for (int m = 0; m < 2; m++)
      printf("%-9s %8d %12.0f %10.1f %10.1f %8ld\n", m == 0 ? "read web" : "read rpc",
             levels[l], res[m][l].rps, res[m][l].p50_us, res[m][l].p99_us, res[m][l].errors);
  }
  for (int l = 0; l < N_LEVELS; l++)
    printf("at %2d clients: web / rpc throughput = %.2fx, p50 = %.2fx, p99 = %.2fx\n",
           levels[l], res[0][l].rps / res[1][l].rps, res[0][l].p50_us / res[1][l].p50_us,
           res[0][l].p99_us / res[1][l].p99_us);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  if (seconds <= 0 || argc > 2) {
    fprintf(stderr, "usage: bench_web [seconds per measurement, default 2]\n");
    return 2;
  }
  if (sodium_init() < 0)
    return 1;
  /* Processes first, nng after: nng is not fork-safe. */
  tw_world world;
  const char *password = "bench-password-0123";
  if (tw_make(&world, "bench-web", NULL, false) != 0 ||
      make_account(&world, "bench", password) != 0)
    return 1;
  const char *rargs[] = {"--log-level", "warning", NULL};
  if (tw_start_router(&world, rargs) != 0)
    return 1;
  char gateway[TH_PATH_MAX], listen[64], log_path[TH_PATH_MAX + 16];
  th_bin(gateway, sizeof(gateway), "services/mediation-web");
  int port = free_port();
  snprintf(listen, sizeof(listen), "http://127.0.0.1:%d", port);
  snprintf(log_path, sizeof(log_path), "%s/web.log", world.dir.path);
  const char *gargv[] = {gateway, "--config", world.conf, "--coordinator", "--listen", listen,
                         "--log-level", "warning", NULL};
  th_proc web;
  if (th_spawn(&web, "mediation-web", gargv, log_path) != 0)
    return 1;
  conn probe = {.fd = -1, .port = port};
  snprintf(probe.source, sizeof(probe.source), "127.0.0.1");
  char login[256], cookie[80] = "", csrf[160] = "", case_id[64];
  snprintf(login, sizeof(login), "{\"name\":\"bench\",\"password\":\"%s\"}", password);
  double web_ms, verify_ms;
  if (log_in(&probe, &web, login, cookie, csrf) != 0 ||
      take_in(&world, case_id, sizeof(case_id)) != 0 ||
      login_costs(&probe, login, password, &web_ms, &verify_ms) != 0)
    return 1;
  conn_close(&probe);

  /* The reads. */
  rpc_key *key = tw_key(&world, "coordinator");
  rpc_client *rpc = NULL;
  rpc_client_opts copts = {.max_in_flight = MAX_CLIENTS, .default_timeout_ms = 30000};
  mc_err err;
  if (key == NULL || rpc_client_create(world.reg->router.endpoint, key, &world.reg->limits,
                                       &copts, &rpc, &err) != MC_OK) {
    fprintf(stderr, "bench_web: rpc client: %s\n", key ? err.msg : "no coordinator key");
    return 1;
  }
  shared sh = {.port = port, .cookie = cookie, .csrf = csrf, .case_id = case_id, .rpc = rpc,
               .per_thread = LAT_CAP / MAX_CLIENTS};
  sh.lat = calloc((size_t)MAX_CLIENTS * sh.per_thread, sizeof(int64_t));
  measure(&sh, true, 4, seconds / 4); /* warm-up: connections, sessions, caches */
  measure(&sh, false, 4, seconds / 4);
  result res[2][N_LEVELS];
  for (int l = 0; l < N_LEVELS; l++) {
    res[0][l] = measure(&sh, true, levels[l], seconds);
    res[1][l] = measure(&sh, false, levels[l], seconds);
  }
  rpc_client_free(rpc);
  free(sh.lat);
  int stopped = th_stop(&web, 10000);
  print_results(seconds, web_ms, verify_ms, case_id, res);
  if (stopped != 0)
    printf("note: mediation-web exited %d on SIGTERM (see %s)\n", stopped, log_path);
  tw_destroy(&world);
  return 0;
}
