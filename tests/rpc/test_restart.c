/*
 * test_restart.c - every call a client starts completes, by its deadline
 * plus a small margin, whatever the server does meanwhile: connections
 * dropped at any moment, a server that forgets every session (restarted),
 * one that answers everything UNAVAILABLE (stopping), or none at all.
 *
 * The client reaches the servers through a TCP proxy run by the test, so
 * the test can do in a millisecond what a router restart does, at random
 * moments, hundreds of times, without closing an nng socket in the loop
 * (nng 1.5.2's nng_close can hang on a connection being set up). Behind the
 * proxy: two live servers A and B, each with its own sessions (switching
 * from one to the other is a restart for the client), and one stopped one.
 *
 * A few threads keep long-poll-like calls going on one client, as a unit's
 * puller and forwarder do (the Echo service replies from another thread
 * after sleep_ms). A watchdog fails the test as soon as a call is late.
 * RPC_RESTART_ROUNDS sets how many restarts (default 150); with
 * RPC_RESTART_HOLD set, a late call waits for a debugger instead.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/clock.h"
#include "support.h"

#define LIMITS "max_message_bytes = 65536\nmax_deadline_ahead_seconds = 60\n"
#define CALLERS 5
#define LATE_MS 2000 /* a call still running this long after its deadline is lost */
#define MAX_PAIRS 64

/* --- A TCP proxy that can drop every connection at once --- */

typedef struct proxy {
  int lfd;
  uint16_t port;
  _Atomic int backend;   /* port to forward to; 0: down (connections closed at once) */
  atomic_bool drop;      /* close every connection now */
  atomic_bool stop;
  atomic_uint dropped;   /* drops done */
  int pairs[MAX_PAIRS][2];
  int n;
  pthread_t thread;
} proxy;

static int listen_any(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(fd, 64), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/* Closes with a reset now and then, as a killed process's connections go. */
static void hang_up(int fd, bool reset) {
  if (reset) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  close(fd);
}

static void proxy_close_pair(proxy *p, int i, bool reset) {
  hang_up(p->pairs[i][0], reset);
  hang_up(p->pairs[i][1], reset);
  p->pairs[i][0] = p->pairs[--p->n][0];
  p->pairs[i][1] = p->pairs[p->n][1];
}

static bool write_all(int fd, const char *b, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, b, (size_t)n);
    if (w <= 0)
      return false;
    b += w;
    n -= w;
  }
  return true;
}

static void *proxy_main(void *arg) {
  proxy *p = arg;
  struct pollfd fds[1 + 2 * MAX_PAIRS];
  static char buf[1 << 16];
  unsigned k = 0;
  while (!atomic_load(&p->stop)) {
    if (atomic_load(&p->drop)) {
      while (p->n > 0)
        proxy_close_pair(p, 0, (++k % 2) == 0);
      atomic_store(&p->drop, false);
      atomic_fetch_add(&p->dropped, 1);
    }
    fds[0] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
    for (int i = 0; i < p->n; i++) {
      fds[1 + 2 * i] = (struct pollfd){.fd = p->pairs[i][0], .events = POLLIN};
      fds[2 + 2 * i] = (struct pollfd){.fd = p->pairs[i][1], .events = POLLIN};
    }
    int n = p->n;
    if (poll(fds, (nfds_t)(1 + 2 * n), 5) <= 0)
      continue;
    for (int i = n - 1; i >= 0; i--) {
      for (int side = 0; side < 2; side++) {
        if (fds[1 + 2 * i + side].revents == 0)
          continue;
        ssize_t got = read(p->pairs[i][side], buf, sizeof(buf));
        if (got <= 0 || !write_all(p->pairs[i][1 - side], buf, got)) {
          proxy_close_pair(p, i, false);
          break;
        }
      }
    }
    if (fds[0].revents & POLLIN) {
      int c = accept(p->lfd, NULL, NULL);
      if (c < 0)
        continue;
      int backend = atomic_load(&p->backend);
      int s = backend != 0 && p->n < MAX_PAIRS ? connect_to(backend) : -1;
      if (s < 0) {
        hang_up(c, true); /* down: refused, as good as */
        continue;
      }
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      p->pairs[p->n][0] = c;
      p->pairs[p->n][1] = s;
      p->n++;
    }
  }
  while (p->n > 0)
    proxy_close_pair(p, 0, false);
  close(p->lfd);
  return NULL;
}

/* Asks the proxy to drop every connection and waits until it has. */
static void proxy_drop(proxy *p) {
  unsigned before = atomic_load(&p->dropped);
  atomic_store(&p->drop, true);
  while (atomic_load(&p->dropped) == before)
    usleep(200);
}

/* --- Callers --- */

typedef struct caller {
  pthread_t thread;
  unsigned seed;
  _Atomic int64_t deadline_ms; /* of the call in progress; 0: none */
  unsigned calls, ok;
} caller;

static struct {
  rt_env env;
  rpc_client *cli;
  proxy px;
  atomic_bool stop;
  caller callers[CALLERS];
} F;

static rpc_server *server_on(uint16_t *port) {
  rpc_server *s = NULL;
  mc_err err = {0};
  char bound[256];
  if (rpc_server_create(F.env.reg, &(rpc_server_opts){.program = "restart", .contexts = 64}, &s,
                        &err) != MC_OK ||
      rpc_server_register(s, &rt_echo.base, &err) != MC_OK ||
      rpc_server_listen(s, "tcp://127.0.0.1:0", bound, sizeof(bound), &err) != MC_OK)
    fail_msg("%s", err.msg);
  const char *colon = strrchr(bound, ':');
  *port = (uint16_t)atoi(colon + 1);
  return s;
}

static void *caller_main(void *arg) {
  caller *k = arg;
  while (!atomic_load(&F.stop)) {
    Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
    /* Mostly answered before the deadline, now and then not at all. */
    req.async = true;
    req.sleep_ms = (unsigned)(rand_r(&k->seed) % 1200);
    int64_t deadline = mc_now_ms() + req.sleep_ms + 400 - (int64_t)(rand_r(&k->seed) % 500);
    if (deadline <= mc_now_ms())
      deadline = mc_now_ms() + 50;
    atomic_store(&k->deadline_ms, deadline);
    char msg[256];
    mc_code rc = rt_echo_call(F.cli, &req, &(rpc_call_opts){.deadline_ms = deadline}, NULL, msg);
    atomic_store(&k->deadline_ms, 0);
    k->calls++;
    k->ok += rc == MC_OK;
  }
  return NULL;
}

/* The first caller whose call is LATE_MS past its deadline, or -1. */
static int late_caller(void) {
  int64_t now = mc_now_ms();
  for (int i = 0; i < CALLERS; i++) {
    int64_t d = atomic_load(&F.callers[i].deadline_ms);
    if (d != 0 && now > d + LATE_MS)
      return i;
  }
  return -1;
}

static void check_late(int round, bool hold) {
  int late = late_caller();
  if (late < 0)
    return;
  fprintf(stderr, "round %d: caller %d's call is %lld ms past its deadline\n", round, late,
          (long long)(mc_now_ms() - atomic_load(&F.callers[late].deadline_ms)));
  while (hold)
    usleep(1000 * 1000); /* attach a debugger */
  fail_msg("a call did not complete by its deadline (+%d ms)", LATE_MS);
}

static void pause_ms(unsigned ms) { usleep(ms * 1000u); }

static void test_calls_complete_across_restarts(void **state) {
  (void)state;
  const char *r = getenv("RPC_RESTART_ROUNDS");
  int rounds = r != NULL ? atoi(r) : 150;
  bool hold = getenv("RPC_RESTART_HOLD") != NULL;
  rt_env_init(&F.env, LIMITS);
  rt_echo_reset();
  uint16_t ports[3];
  rpc_server *srv[3];
  for (int i = 0; i < 3; i++)
    srv[i] = server_on(&ports[i]);
  rpc_server_stop(srv[2], 0); /* answers UNAVAILABLE, as a router stopping does */

  F.px.lfd = listen_any(&F.px.port);
  atomic_store(&F.px.backend, ports[0]);
  assert_int_equal(pthread_create(&F.px.thread, NULL, proxy_main, &F.px), 0);
  char url[64];
  snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", F.px.port);
  mc_err err = {0};
  /* As a unit daemon makes its router client. */
  if (rpc_client_create(url, F.env.police, &F.env.reg->limits,
                        &(rpc_client_opts){.max_in_flight = 8, .default_timeout_ms = 10000},
                        &F.cli, &err) != MC_OK)
    fail_msg("%s", err.msg);
  for (int i = 0; i < CALLERS; i++) {
    F.callers[i].seed = 7919u * (unsigned)(i + 1);
    assert_int_equal(pthread_create(&F.callers[i].thread, NULL, caller_main, &F.callers[i]), 0);
  }
  unsigned seed = 4242;
  int live = 0;
  for (int round = 0; round < rounds; round++) {
    pause_ms(rand_r(&seed) % 400);
    switch (rand_r(&seed) % 4) {
    case 0: /* stopping for a moment, then back (a SIGTERM restart) */
      atomic_store(&F.px.backend, ports[2]);
      proxy_drop(&F.px);
      pause_ms(rand_r(&seed) % 150);
      break;
    case 1: /* gone for a moment (a SIGKILL, the daemon not yet back) */
      atomic_store(&F.px.backend, 0);
      proxy_drop(&F.px);
      pause_ms(rand_r(&seed) % 300);
      break;
    default: /* killed and back at once */
      break;
    }
    live = rand_r(&seed) % 3 != 0 ? 1 - live : live; /* mostly a server that forgot us */
    atomic_store(&F.px.backend, ports[live]);
    proxy_drop(&F.px);
    check_late(round, hold);
  }
  /* The last calls complete too, with a server up. */
  atomic_store(&F.stop, true);
  /* And the client still reaches the server. */
  {
    Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
    char msg[256];
    mc_code rc = rt_echo_call(F.cli, &req, &(rpc_call_opts){.timeout_ms = 10000}, NULL, msg);
    if (rc != MC_OK) {
      fprintf(stderr, "after the restarts: %s: %s\n", mc_code_name(rc), msg);
      while (hold)
        usleep(1000 * 1000);
      fail_msg("the client no longer reaches the server");
    }
  }
  int64_t until = mc_now_ms() + 3000 + LATE_MS;
  for (int i = 0; i < CALLERS; i++) {
    while (atomic_load(&F.callers[i].deadline_ms) != 0 && mc_now_ms() < until)
      pause_ms(10);
    check_late(rounds, hold);
    pthread_join(F.callers[i].thread, NULL);
  }
  unsigned calls = 0, ok = 0;
  for (int i = 0; i < CALLERS; i++) {
    calls += F.callers[i].calls;
    ok += F.callers[i].ok;
  }
  fprintf(stderr, "%d restarts, %u calls, %u OK\n", rounds, calls, ok);
  assert_true(ok > 0);
  rpc_client_free(F.cli);
  atomic_store(&F.px.stop, true);
  pthread_join(F.px.thread, NULL);
  rt_echo_wait_idle();
  for (int i = 0; i < 3; i++)
    rpc_server_free(srv[i]);
  rt_env_free(&F.env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_calls_complete_across_restarts),
  };
  return cmocka_run_group_tests_name("restart", tests, NULL, NULL);
}
