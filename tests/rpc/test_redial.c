/*
 * test_redial.c - a client reaches its server again after the server went
 * away at the worst moment, however often; and every call it makes meanwhile
 * completes by its deadline.
 *
 * nng 1.5.2's dialer gives up for good when a connection attempt ends with
 * NNG_ECLOSED, which is what EPIPE becomes: a peer that closes a connection
 * before the SP handshake wrote to it (a router stopping, or killed, the
 * instant a unit reconnects). No reconnect timer is left, and the client
 * would never connect again. Here a plain unix socket listens where the
 * server will be, accepting and closing every connection at once, until the
 * client's dialer has stopped trying; then the real server comes up there.
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
#include <unistd.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "core/clock.h"
#include "support.h"

#define LIMITS "max_message_bytes = 65536\nmax_deadline_ahead_seconds = 60\n"
#define HOSTILE_MS 15000 /* at most this long for the dialer to give up */
#define QUIET_MS 3000    /* no connection attempt this long: it has given up (it retries within 2 s) */

/* A unix socket that accepts connections and closes them before a byte is
 * exchanged, counting them. */
typedef struct hostile {
  int fd;
  atomic_uint accepted;
  _Atomic int64_t last_mono;
  atomic_bool stop;
  pthread_t thread;
} hostile;

static void *hostile_main(void *arg) {
  hostile *h = arg;
  while (!atomic_load(&h->stop)) {
    struct pollfd p = {.fd = h->fd, .events = POLLIN};
    if (poll(&p, 1, 20) <= 0)
      continue;
    int c = accept(h->fd, NULL, NULL);
    if (c < 0)
      continue;
    close(c);
    atomic_fetch_add(&h->accepted, 1);
    atomic_store(&h->last_mono, mc_mono_ms());
  }
  return NULL;
}

static void hostile_start(hostile *h, const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  assert_true(strlen(path) < sizeof(a.sun_path));
  memcpy(a.sun_path, path, strlen(path) + 1);
  h->fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(h->fd >= 0);
  assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(h->fd, 16), 0);
  atomic_store(&h->last_mono, mc_mono_ms());
  assert_int_equal(pthread_create(&h->thread, NULL, hostile_main, h), 0);
}

static void hostile_stop(hostile *h, const char *path) {
  atomic_store(&h->stop, true);
  pthread_join(h->thread, NULL);
  close(h->fd);
  unlink(path);
}

static void test_reconnects_after_dialer_gave_up(void **state) {
  (void)state;
  rt_env env;
  rt_env_init(&env, LIMITS);
  rt_echo_reset();
  char path[300], url[320];
  rt_path(&env, "router.ipc", path, sizeof(path));
  snprintf(url, sizeof(url), "ipc://%s", path);

  hostile h = {.fd = -1};
  hostile_start(&h, path);
  rpc_client *c = NULL;
  mc_err err = {0};
  /* As a unit makes its router client. */
  if (rpc_client_create(url, env.police, &env.reg->limits,
                        &(rpc_client_opts){.max_in_flight = 8, .default_timeout_ms = 10000}, &c,
                        &err) != MC_OK)
    fail_msg("%s", err.msg);
  /* A call in progress all along, as the puller's always is: it ends by its
   * deadline, never reaching anyone. */
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  char msg[256];
  int64_t t0 = mc_mono_ms();
  while (mc_mono_ms() - t0 < HOSTILE_MS &&
         (atomic_load(&h.accepted) == 0 || mc_mono_ms() - atomic_load(&h.last_mono) < QUIET_MS)) {
    int64_t deadline = mc_now_ms() + 1000;
    mc_code rc = rt_echo_call(c, &req, &(rpc_call_opts){.deadline_ms = deadline}, NULL, msg);
    assert_int_equal(rc, MC_UNAVAILABLE);
    assert_true(mc_now_ms() - deadline < 500);
  }
  unsigned accepted = atomic_load(&h.accepted);
  bool gave_up = mc_mono_ms() - atomic_load(&h.last_mono) >= QUIET_MS;
  fprintf(stderr, "hostile listener: %u connections; the dialer %s\n", accepted,
          gave_up ? "stopped trying" : "kept trying");
  hostile_stop(&h, path);

  /* The server comes up where the client dials: the client must reach it,
   * whether or not nng's dialer gave up above. */
  rpc_server *srv = NULL;
  if (rpc_server_create(env.reg, &(rpc_server_opts){.program = "redial"}, &srv, &err) != MC_OK ||
      rpc_server_register(srv, &rt_echo.base, &err) != MC_OK ||
      rpc_server_listen(srv, url, NULL, 0, &err) != MC_OK)
    fail_msg("%s", err.msg);
  int64_t t1 = mc_mono_ms();
  mc_code rc = rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 12000}, NULL, msg);
  if (rc != MC_OK)
    fail_msg("the client did not reach the server in 12 s: %s: %s", mc_code_name(rc), msg);
  fprintf(stderr, "reached the server %lld ms after it came up\n",
          (long long)(mc_mono_ms() - t1));
  rpc_client_free(c);
  rpc_server_free(srv);
  rt_env_free(&env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reconnects_after_dialer_gave_up),
  };
  return cmocka_run_group_tests_name("redial", tests, NULL, NULL);
}
