/*
 * listen_keeper.c - the server's listener keeper: a thread that replaces a
 * listener nng has stopped taking connections on.
 *
 * Why: in nng 1.5.2 a connection that fails during its set-up (the TLS
 * handshake or the SP header exchange) hands its error to the listener's
 * pending accept (tlstran_pipe_nego_cb, and the same in the tcp and ipc
 * transports). The listener treats NNG_ECLOSED and NNG_ECANCELED as "this
 * listener is closed" and never accepts again (listener_accept_cb). EPIPE
 * maps to NNG_ECLOSED, so one client that hangs up while the server is
 * still writing its part of the handshake - a client refusing the
 * certificate, a port scanner, a health check, more often on a loaded
 * machine - leaves the address bound, handshakes still answered, and no
 * connection ever reaching the socket: every client waits out its deadline.
 * The dialer's twin of this trap is handled in client_keeper.c.
 *
 * How: the listener's statistics count such an error as "other" (ECLOSED)
 * or "canceled". After either grows, the keeper connects to the listener
 * itself (a REQ socket of its own; TLS without checking the certificate:
 * it is our own address) and watches the listener's "accept" count: a live
 * listener takes the connection within LISTEN_PROBE_MS (it pauses 100 ms
 * after an error). One that does not is closed - which also closes the
 * connections it took earlier; their clients reconnect and resend - and a
 * new one listens on the same address. A failed probe (no connection at
 * all) proves nothing and changes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/internal.h"

/* How often the keeper reads the counters, and how long a live listener
 * may take to accept the keeper's own connection (generous: under valgrind
 * a handshake takes a good part of a second). */
#define LISTEN_CHECK_MS 250
#define LISTEN_PROBE_MS 2000

/* The counters a dying accept bumps (nng 1.5.2's listener_accept_cb), and
 * the one a live accept bumps. */
static const char *const watched[] = {"other", "canceled", "accept"};
enum { W_OTHER, W_CANCELED, W_ACCEPT, W_N };

typedef struct listen_watch {
  uint32_t id;     /* the listener these counts are of; 0: none yet */
  uint64_t failed; /* other + canceled at the last look */
} listen_watch;

static bool listener_counts(nng_listener l, uint64_t out[W_N]) {
  return rpc__endpoint_counters("listener", nng_listener_id(l), watched, W_N, out);
}

/* Whether listener l (bound to url) still hands connections to the socket:
 * connects to it and waits for its accept count to grow. True when unsure
 * (the probe could not connect, or the listener is gone). */
static bool listener_takes_connections(nng_listener l, const char *url, rpc_scheme scheme) {
  uint64_t before[W_N], now[W_N];
  if (!listener_counts(l, before))
    return true;
  nng_socket s;
  if (nng_req0_open(&s) != 0)
    return true;
  bool alive = true;
  nng_dialer d;
  int rv = nng_dialer_create(&d, s, url);
  nng_tls_config *tls = NULL;
  if (rv == 0 && scheme == RPC_SCHEME_TLS) {
    /* Our own address: what matters is whether the connection reaches the
     * socket, not whose certificate answers. */
    rv = nng_tls_config_alloc(&tls, NNG_TLS_MODE_CLIENT);
    if (rv == 0)
      rv = nng_tls_config_auth_mode(tls, NNG_TLS_AUTH_MODE_NONE);
    if (rv == 0)
      rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls);
    if (tls != NULL)
      nng_tls_config_free(tls); /* the dialer holds its own reference */
  }
  /* Blocking: returns once our side of the handshake is done, whether or
   * not the listener hands the connection on. */
  if (rv == 0 && nng_dialer_start(d, 0) == 0) {
    int64_t until = mc_mono_ms() + LISTEN_PROBE_MS;
    alive = false;
    while (!alive && mc_mono_ms() < until) {
      nng_msleep(20);
      if (!listener_counts(l, now))
        alive = true; /* gone: nothing to replace */
      else
        alive = now[W_ACCEPT] > before[W_ACCEPT];
    }
  }
  rpc__socket_close_bounded(s);
  return alive;
}

/* Replaces listener i (listen_mtx held): the dead one is closed, a new one
 * listens on its address. False if the new one could not start (tried again
 * at the next look). */
static bool listener_renew(rpc_server *srv, size_t i) {
  nng_listener old = srv->listeners[i];
  if (nng_listener_id(old) > 0)
    nng_listener_close(old);
  srv->listeners[i] = (nng_listener)NNG_LISTENER_INITIALIZER;
  mc_err err = {0};
  nng_listener l;
  if (rpc__listener_open(srv, srv->listen_urls[i], srv->listen_schemes[i], &l, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "rpc: cannot listen again on %s: %s (trying again)",
           srv->listen_urls[i], err.msg);
    return false;
  }
  srv->listeners[i] = l;
  unsigned long long n = atomic_fetch_add(&srv->listeners_renewed, 1) + 1;
  mc_log(MC_LOG_WARNING, NULL,
         "rpc: nng had stopped taking connections on %s (a connection failed during its "
         "handshake and nng 1.5.2 took that for a closed listener); listening again (%llu "
         "time%s); the connections it held reconnect",
         srv->listen_urls[i], n, n == 1 ? "" : "s");
  return true;
}

static void *keeper_main(void *arg) {
  rpc_server *srv = arg;
  listen_watch watches[RPC_MAX_LISTENERS] = {{0}};
  pthread_mutex_lock(&srv->listen_mtx);
  while (!srv->listen_keeper_stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += LISTEN_CHECK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&srv->listen_cond, &srv->listen_mtx, &ts);
    for (size_t i = 0; i < srv->n_listeners && !srv->listen_keeper_stop; i++) {
      nng_listener l = srv->listeners[i];
      rpc_scheme scheme = srv->listen_schemes[i];
      if (scheme == RPC_SCHEME_INPROC)
        continue; /* no set-up to fail */
      listen_watch *w = &watches[i];
      if (nng_listener_id(l) <= 0) { /* a renewal that failed: again */
        if (listener_renew(srv, i))
          *w = (listen_watch){0};
        continue;
      }
      char url[sizeof(srv->listen_urls[i])];
      snprintf(url, sizeof(url), "%s", srv->listen_urls[i]);
      /* No lock across nng's statistics and the probe: rpc_server_listen
       * may add a listener meanwhile, and nothing else changes this one. */
      pthread_mutex_unlock(&srv->listen_mtx);
      uint64_t counts[W_N];
      bool dead = false;
      if (listener_counts(l, counts)) {
        uint64_t failed = counts[W_OTHER] + counts[W_CANCELED];
        /* A new listener's counts start at 0. */
        bool grew = failed > (w->id == (uint32_t)nng_listener_id(l) ? w->failed : 0);
        *w = (listen_watch){.id = (uint32_t)nng_listener_id(l), .failed = failed};
        dead = grew && !listener_takes_connections(l, url, scheme);
      }
      pthread_mutex_lock(&srv->listen_mtx);
      if (dead && !srv->listen_keeper_stop && listener_renew(srv, i))
        *w = (listen_watch){0};
    }
  }
  pthread_mutex_unlock(&srv->listen_mtx);
  return NULL;
}

mc_code rpc__listen_keeper_start(rpc_server *srv, mc_err *err) {
  pthread_mutex_lock(&srv->listen_mtx);
  bool running = srv->listen_keeper_running;
  srv->listen_keeper_stop = false;
  int rv = running ? 0 : pthread_create(&srv->listen_keeper, NULL, keeper_main, srv);
  if (rv == 0)
    srv->listen_keeper_running = true;
  pthread_mutex_unlock(&srv->listen_mtx);
  if (rv != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the listener keeper: %s",
                      strerror(rv));
  return MC_OK;
}

void rpc__listen_keeper_stop(rpc_server *srv) {
  pthread_mutex_lock(&srv->listen_mtx);
  bool running = srv->listen_keeper_running;
  srv->listen_keeper_stop = true;
  srv->listen_keeper_running = false;
  pthread_cond_signal(&srv->listen_cond);
  pthread_mutex_unlock(&srv->listen_mtx);
  if (running)
    pthread_join(srv->listen_keeper, NULL);
}

uint64_t rpc_server_listeners_renewed(rpc_server *srv) {
  return atomic_load(&srv->listeners_renewed);
}
