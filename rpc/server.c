/*
 * server.c - the nng side of the server: one REP socket, N contexts, each a
 * small state machine on its own aio (the shape of nng 1.5.2's
 * demo/async/server.c), and the server's life from create to free.
 *
 * The idea: a context waits for a request (RECV), hands its bytes to
 * rpc__dispatch (BUSY) and, when the reply arrives at its sink - at once, or
 * later from a handler's thread - sends it (SEND) and waits again. So N
 * contexts serve N requests at once, and a handler that answers after a
 * group commit or holds a long poll occupies one context, not one thread.
 *
 * Rules kept here (PITFALLS.md): no nng_aio_wait in a callback; nng_aio_stop
 * before nng_aio_free; a message whose send failed is still ours to free;
 * NNG_OPT_RECVMAXSZ set so a peer cannot make us buffer more than the hard cap.
 * After rpc__dispatch the receive path touches nothing of the context: the
 * reply may already be going out on another thread.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/internal.h"

enum { W_IDLE, W_RECV, W_BUSY, W_SEND };

struct rpc_worker {
  rpc_server *srv;
  nng_aio *aio;
  nng_ctx ctx;
  int state; /* W_*: handed from thread to thread along with the aio */
  uint32_t pipe_id; /* the connection the request came on; its reply goes there */
};

struct rpc_peer {
  uint32_t pipe_id;
  unsigned queued;       /* our replies handed to nng for it and not yet taken */
  unsigned garbage;      /* requests never proven since its last proven one */
  int64_t progress_mono; /* when it last took one (or the first was queued) */
  int64_t closing_mono;  /* 0, or when it was condemned: to be closed */
  bool closed;           /* nng_pipe_close was called */
  rpc_peer *next;        /* in its bucket */
};

static char *dup_or_null(const char *s, bool *failed) {
  if (s == NULL)
    return NULL;
  char *d = strdup(s);
  if (d == NULL)
    *failed = true;
  return d;
}

mc_code rpc_server_create(const mc_registry *reg, const rpc_server_opts *opts, rpc_server **out,
                          mc_err *err) {
  static const rpc_server_opts none;
  if (opts == NULL)
    opts = &none;
  if (reg == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "rpc_server_create: no registry");
  rpc_server *srv = calloc(1, sizeof(*srv));
  if (srv == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  bool failed = false;
  srv->reg = reg;
  srv->program = dup_or_null(opts->program ? opts->program : "", &failed);
  srv->version = dup_or_null(opts->version ? opts->version : "", &failed);
  srv->accept_unit = dup_or_null(opts->accept_unit, &failed);
  srv->tls_cert = dup_or_null(opts->tls_cert_file, &failed);
  srv->tls_key = dup_or_null(opts->tls_key_file, &failed);
  srv->tls_pass = dup_or_null(opts->tls_key_password, &failed);
  srv->accept_kinds = opts->accept_kinds;
  srv->accept = opts->accept;
  srv->describe = opts->describe;
  srv->accept_arg = opts->accept_arg;
  srv->here = opts->here;
  srv->here_arg = opts->here_arg;
  srv->contexts = opts->contexts ? opts->contexts : reg->router.contexts ? reg->router.contexts : 64;
  if (srv->contexts > 4096)
    srv->contexts = 4096;
  srv->max_message_bytes = reg->limits.max_message_bytes ? reg->limits.max_message_bytes : 1u << 20;
  srv->max_deadline_ahead_ms =
      reg->limits.max_deadline_ahead_ms > 0 ? reg->limits.max_deadline_ahead_ms : 600000;
  srv->env_limits = rpc__envelope_limits(srv->max_message_bytes);
  mc_message_limits pl = opts->payload_limits;
  if (pl.max_string_bytes == 0)
    pl.max_string_bytes = reg->limits.max_text_bytes ? reg->limits.max_text_bytes : 4096;
  if (pl.max_bytes_field == 0)
    pl.max_bytes_field = srv->max_message_bytes;
  if (pl.max_repeated == 0)
    pl.max_repeated = srv->max_message_bytes; /* bounded by the size anyway */
  if (pl.max_depth == 0)
    pl.max_depth = 16;
  srv->payload_limits = pl;
  srv->pending.prev = srv->pending.next = &srv->pending;
  srv->serving = true;
  srv->started_ms = mc_now_ms();
  pthread_mutex_init(&srv->mtx, NULL);
  pthread_mutex_init(&srv->peers_mtx, NULL);
  pthread_mutex_init(&srv->listen_mtx, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* rpc__wait_idle waits on it */
  pthread_cond_init(&srv->cond, &ca);
  pthread_cond_init(&srv->peers_cond, &ca);
  pthread_cond_init(&srv->listen_cond, &ca);
  pthread_condattr_destroy(&ca);
  srv->peer_cap = srv->contexts / RPC_PEER_SHARE >= 2 ? srv->contexts / RPC_PEER_SHARE : 2;
  atomic_init(&srv->peers_disconnected, 0);
  atomic_init(&srv->listeners_renewed, 0);
  atomic_init(&srv->closing, false);
  atomic_init(&srv->last_reply_mono, 0);
  atomic_init(&srv->by_mac, 0);
  atomic_init(&srv->by_signature, 0);
  mc_code rc = failed ? mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory") : MC_OK;
  if (opts->session_lifetime_ms < 0)
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, "session_lifetime_ms must not be negative");
  if (rc == MC_OK) {
    unsigned max = opts->max_sessions ? opts->max_sessions : 4096;
    if (max > (1u << 20))
      max = 1u << 20; /* a bound on memory, whatever was asked */
    rc = rpc__sessions_create(reg, max,
                              opts->max_sessions_per_principal ? opts->max_sessions_per_principal
                                                               : 64,
                              opts->session_lifetime_ms ? opts->session_lifetime_ms : 3600000,
                              &srv->sessions, err);
  }
  if (rc == MC_OK)
    rc = rpc__register_builtins(srv, err);
  if (rc != MC_OK) {
    srv->stopped = true;
    rpc_server_free(srv);
    return rc;
  }
  *out = srv;
  return MC_OK;
}

mc_code rpc_server_register(rpc_server *srv, ProtobufCService *service, mc_err *err) {
  if (service == NULL || service->descriptor == NULL || service->invoke == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "rpc_server_register: not an initialised service (use the generated "
                      "..._INIT(prefix_) macro)");
  const ProtobufCServiceDescriptor *d = service->descriptor;
  pthread_mutex_lock(&srv->mtx);
  bool listening = srv->listening;
  pthread_mutex_unlock(&srv->mtx);
  if (listening)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "register %s before the server listens", d->name);
  if (srv->n_services == RPC_MAX_SERVICES)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "more than %d services", RPC_MAX_SERVICES);
  for (size_t i = 0; i < srv->n_services; i++)
    if (strcmp(srv->services[i]->descriptor->name, d->name) == 0)
      return mc_err_set(err, MC_ALREADY_EXISTS, "service %s is registered already", d->name);
  /* The generated invoke calls the handler slots that follow the base
   * without a check: a NULL slot would crash on the first request. */
  if (service->invoke == protobuf_c_service_invoke_internal) {
    typedef void (*handler_slot)(void);
    const handler_slot *slots = (const handler_slot *)(service + 1);
    for (unsigned i = 0; i < d->n_methods; i++)
      if (slots[i] == NULL)
        return mc_err_set(err, MC_INVALID_ARGUMENT,
                          "service %s has no handler for %s: fill it with the generated "
                          "..._INIT(prefix_) macro",
                          d->name, d->methods[i].name);
  }
  srv->services[srv->n_services++] = service;
  return MC_OK;
}

void rpc_server_set_serving(rpc_server *srv, bool serving, const char *detail) {
  pthread_mutex_lock(&srv->mtx);
  srv->serving = serving;
  snprintf(srv->detail, sizeof(srv->detail), "%s", detail ? detail : "");
  pthread_mutex_unlock(&srv->mtx);
}

/* --- Peers ---
 *
 * Every live connection has an entry in srv->peers, made when nng adds it
 * (NNG_PIPE_EV_ADD_PRE, before its first request) and freed when nng
 * removes it (NNG_PIPE_EV_REM_POST); a reply for a connection without one
 * (already removed) goes uncounted, and nng drops it.
 *
 * Garbage budget: a connection may send RPC_GARBAGE_BUDGET requests whose
 * caller is never proven since its last proven one, each refused with its
 * status; the next is not answered and condemns it. Refusing garbage is
 * cheap, receiving it is not: under a peer that pipelines junk, nng's
 * reading, waking a context per message and handing it between threads
 * took most of a core (perf on the router under bench_stall: two thirds in
 * the kernel, futexes and readv, 1.5% in our code), so the bound that
 * matters is how many messages one connection gets read, not what each
 * costs us.
 *
 * A REP context that has a reply for a connection hands it to nng, which
 * takes it when the connection is free to send; until then the context is
 * held (and it cannot try again later: nng clears the reply's route on the
 * first try). A peer that pipelines requests and never reads its replies
 * (the kernel's buffers full) would hold every context that picks up one of
 * its requests, and starve everyone else. So for each connection with
 * replies waiting we count them and note when it last took one; its share
 * is peer_cap contexts (1/RPC_PEER_SHARE of them, at least 2):
 *   - garbage (a request whose caller was never proven) is answered only
 *     while its connection holds less than its share; beyond, it is not
 *     answered at all, and if that connection has also taken nothing for
 *     RPC_PEER_HOG_MS it is disconnected: it sends garbage and does not
 *     read. Garbage thus costs no context time beyond the share.
 *   - a connection holding its share or more that has taken nothing for
 *     RPC_PEER_STALL_MS is disconnected (a proven caller's replies are never
 *     dropped for being many: a reader on a busy machine can be late by tens
 *     of milliseconds, and closing a connection is the one thing nng 1.5.2's
 *     REQ does not always recover from, see docs/architecture.md "Traps").
 * Disconnecting is nng_pipe_close, which hands every reply waiting for it
 * back at once. It is called only on the sweeper, a thread of the server's
 * own, never on nng's callbacks or a handler's thread; the sweeper sleeps
 * until a connection reaches its share (or one is condemned), then wakes
 * when the next verdict may fall. The count lags a little behind the wire
 * (a reply is counted until nng's callback says it was taken), so a reader
 * that sends one request after another may show one or two waiting, never
 * its share. */

static rpc_peer *peer_find(rpc_server *srv, uint32_t pipe_id, rpc_peer ***link_out) {
  rpc_peer **link = &srv->peers[pipe_id % RPC_PEER_BUCKETS];
  while (*link != NULL && (*link)->pipe_id != pipe_id)
    link = &(*link)->next;
  if (link_out != NULL)
    *link_out = link;
  return *link;
}

/* Marks p to be closed and wakes the sweeper (peers_mtx held). */
static void peer_condemn(rpc_server *srv, rpc_peer *p, int64_t mono, const char *why) {
  if (p->closing_mono != 0)
    return;
  p->closing_mono = mono;
  atomic_fetch_add(&srv->peers_disconnected, 1);
  if (rpc__log_allowed(&srv->peer_log, 1, "peers disconnected"))
    mc_log(MC_LOG_NOTICE, NULL,
           "rpc: disconnecting a peer: %s (%u replies waiting, none taken for %lld ms)", why,
           p->queued, (long long)(p->queued ? mono - p->progress_mono : 0));
  pthread_cond_signal(&srv->peers_cond);
}

/* nng adds or removes a connection: its entry is made or freed. On nng's
 * thread, with no lock of nng's held (pipe_reap, listener_accept_cb). */
static void peer_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg) {
  rpc_server *srv = arg;
  uint32_t id = (uint32_t)nng_pipe_id(pipe);
  bool refuse = false;
  pthread_mutex_lock(&srv->peers_mtx);
  rpc_peer **link;
  rpc_peer *p = peer_find(srv, id, &link);
  if (ev == NNG_PIPE_EV_ADD_PRE && p == NULL) {
    if ((p = calloc(1, sizeof(*p))) != NULL) {
      p->pipe_id = id;
      *link = p;
    } else {
      refuse = true; /* untracked, it could send garbage without end */
    }
  } else if (ev == NNG_PIPE_EV_REM_POST && p != NULL) {
    *link = p->next;
    free(p);
  }
  pthread_mutex_unlock(&srv->peers_mtx);
  if (refuse)
    nng_pipe_close(pipe); /* allowed in ADD_PRE: nng then never adds it */
}

/* Counts a reply about to be sent to pipe_id: garbage refuses a request
 * whose caller was never proven, proven answers one whose caller was. False
 * if it is not to be sent: its connection is being disconnected, or this is
 * garbage past the budget or beyond the connection's share; *close_now then
 * says the caller must close the connection itself (nng_pipe_close, with no
 * lock held). */
static bool peer_queue(rpc_server *srv, uint32_t pipe_id, bool garbage, bool proven,
                       bool *close_now) {
  int64_t mono = mc_mono_ms();
  bool ok = true;
  pthread_mutex_lock(&srv->peers_mtx);
  rpc_peer *p = peer_find(srv, pipe_id, NULL);
  if (p == NULL) {
    /* Removed already: nng drops what is sent to it. */
  } else if (p->closing_mono != 0) {
    ok = false;
  } else if (garbage && ++p->garbage > RPC_GARBAGE_BUDGET) {
    ok = false;
    peer_condemn(srv, p, mono, "it sent more requests never proven than the garbage budget");
    /* Closed at once by the thread that received the request, not the
     * sweeper: while the sweeper waited for a core, nng read some 300
     * more junk messages from the connection (measured under bench_stall). */
    p->closed = true;
    *close_now = true;
  } else if (garbage && p->queued >= srv->peer_cap) {
    ok = false;
    if (mono - p->progress_mono >= RPC_PEER_HOG_MS)
      peer_condemn(srv, p, mono, "it sends garbage and does not read its replies");
  } else {
    if (proven)
      p->garbage = 0;
    if (p->queued == 0)
      p->progress_mono = mono;
    if (++p->queued == srv->peer_cap)
      pthread_cond_signal(&srv->peers_cond); /* the sweeper times its verdict */
  }
  pthread_mutex_unlock(&srv->peers_mtx);
  return ok;
}

/* A reply to pipe_id left its context: taken by the connection (rv 0), or
 * failed (its send timed out, or the socket is closing). */
static void peer_sent(rpc_server *srv, uint32_t pipe_id, int rv) {
  pthread_mutex_lock(&srv->peers_mtx);
  rpc_peer *p = peer_find(srv, pipe_id, NULL);
  if (p != NULL) {
    if (p->queued > 0)
      p->queued--;
    if (rv == 0)
      p->progress_mono = mc_mono_ms();
  }
  pthread_mutex_unlock(&srv->peers_mtx);
}

static void *sweeper_main(void *arg) {
  rpc_server *srv = arg;
  pthread_mutex_lock(&srv->peers_mtx);
  while (!srv->sweeper_stop) {
    int64_t mono = mc_mono_ms();
    int64_t next = INT64_MAX; /* when the next verdict may fall */
    uint32_t to_close[32];
    size_t n = 0;
    for (size_t b = 0; b < RPC_PEER_BUCKETS; b++)
      for (rpc_peer *p = srv->peers[b]; p != NULL; p = p->next) {
        if (p->closing_mono == 0 && p->queued >= srv->peer_cap) {
          if (mono - p->progress_mono >= RPC_PEER_STALL_MS)
            peer_condemn(srv, p, mono,
                         "it does not read its replies and holds its share of contexts");
          else if (p->progress_mono + RPC_PEER_STALL_MS < next)
            next = p->progress_mono + RPC_PEER_STALL_MS;
        }
        /* Its entry stays until nng removes it: replies on their way to
         * it meanwhile are dropped. */
        if (p->closing_mono != 0 && !p->closed && n < sizeof(to_close) / sizeof(to_close[0])) {
          p->closed = true;
          to_close[n++] = p->pipe_id;
        }
      }
    if (n > 0) {
      pthread_mutex_unlock(&srv->peers_mtx);
      for (size_t i = 0; i < n; i++)
        nng_pipe_close((nng_pipe){.id = to_close[i]}); /* gone already: harmless */
      pthread_mutex_lock(&srv->peers_mtx);
      continue;
    }
    if (srv->has_cert) {
      /* Daily, from RPC_CERT_WARN_MS before the certificate ends. */
      if (srv->cert_warned_mono == 0 || mono - srv->cert_warned_mono >= 24LL * 3600 * 1000) {
        srv->cert_warned_mono = mono;
        int64_t left = srv->cert.not_after_ms - mc_now_ms();
        if (left < RPC_CERT_WARN_MS) {
          char when[40];
          rpc__utc_date(srv->cert.not_after_ms, when, sizeof(when));
          mc_log(MC_LOG_WARNING, NULL,
                 "rpc: the TLS certificate %s ends %s (in %lld days): renew it (deploy/tls-setup "
                 "--renew) and restart before then, or every client will refuse it",
                 srv->tls_cert, when, (long long)(left / (24LL * 3600 * 1000)));
        }
      }
      if (srv->cert_warned_mono + 24LL * 3600 * 1000 < next)
        next = srv->cert_warned_mono + 24LL * 3600 * 1000;
    }
    if (next == INT64_MAX) {
      pthread_cond_wait(&srv->peers_cond, &srv->peers_mtx);
      continue;
    }
    int64_t wait_ms = next - mono < 1 ? 1 : next - mono;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&srv->peers_cond, &srv->peers_mtx, &ts);
  }
  pthread_mutex_unlock(&srv->peers_mtx);
  return NULL;
}

static void sweeper_stop(rpc_server *srv) {
  pthread_mutex_lock(&srv->peers_mtx);
  srv->sweeper_stop = true;
  pthread_cond_signal(&srv->peers_cond);
  pthread_mutex_unlock(&srv->peers_mtx);
  if (srv->sweeper_running) {
    pthread_join(srv->sweeper, NULL);
    srv->sweeper_running = false;
  }
}

uint64_t rpc_server_peers_disconnected(rpc_server *srv) {
  return atomic_load(&srv->peers_disconnected);
}

/* --- Contexts --- */

static void worker_rearm(rpc_worker *w) {
  rpc_server *srv = w->srv;
  if (atomic_load(&srv->closing)) {
    w->state = W_IDLE;
  } else {
    w->state = W_RECV;
    nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE); /* idle until a request */
    nng_ctx_recv(w->ctx, w->aio);
  }
  /* Last: once inflight drops, stop() may proceed (it still waits for this
   * callback in nng_aio_stop before freeing anything). */
  rpc__inflight_done(srv);
}

/* The sink: called once per request, from the receive callback (a sync
 * handler or a refusal) or from a handler's thread. */
static void worker_sink(void *arg, const Mediation__V1__ReplyEnvelope *reply, bool unproven) {
  rpc_worker *w = arg;
  bool close_now = false;
  if (!peer_queue(w->srv, w->pipe_id, unproven, !unproven && !reply->session_unknown,
                  &close_now)) {
    /* Garbage is refused only from rpc__dispatch on nng's receive callback,
     * where no lock is held: nng_pipe_close only closes the connection's
     * aios and stream and hands it to nng's reaper, it waits for nothing. */
    if (close_now)
      nng_pipe_close((nng_pipe){.id = w->pipe_id});
    /* Its connection is being disconnected, or this is garbage past the
     * budget or beyond its share ("Peers"): no reply. */
    worker_rearm(w);
    return;
  }
  size_t n = mediation__v1__reply_envelope__get_packed_size(reply);
  nng_msg *msg;
  int rv = nng_msg_alloc(&msg, n);
  if (rv != 0) {
    mc_log(MC_LOG_ERR, NULL, "rpc: no memory for a %zu-byte reply: %s; the caller will time out",
           n, nng_strerror(rv));
    peer_sent(w->srv, w->pipe_id, rv);
    worker_rearm(w);
    return;
  }
  /* Packed straight into the message body: appended by construction, never
   * inserted (nng_msg_insert corrupts the heap in 1.5.2). */
  mediation__v1__reply_envelope__pack(reply, nng_msg_body(msg));
  atomic_store(&w->srv->last_reply_mono, (long long)mc_mono_ms());
  nng_aio_set_msg(w->aio, msg);
  w->state = W_SEND;
  /* A peer that does not read is disconnected ("Peers"); past this the
   * reply is dropped, whoever it is for. */
  nng_aio_set_timeout(w->aio, RPC_REPLY_SEND_MS);
  nng_ctx_send(w->ctx, w->aio);
}

static void worker_cb(void *arg) {
  rpc_worker *w = arg;
  rpc_server *srv = w->srv;
  int rv = nng_aio_result(w->aio);
  switch (w->state) {
  case W_RECV: {
    if (rv != 0) {
      if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || atomic_load(&srv->closing)) {
        w->state = W_IDLE;
        return;
      }
      mc_log(MC_LOG_WARNING, NULL, "rpc: receive failed: %s", nng_strerror(rv));
      nng_ctx_recv(w->ctx, w->aio);
      return;
    }
    nng_msg *msg = nng_aio_get_msg(w->aio);
    nng_aio_set_msg(w->aio, NULL);
    w->pipe_id = nng_msg_get_pipe(msg).id;
    w->state = W_BUSY;
    rpc__inflight_add(srv);
    rpc__dispatch(srv, nng_msg_body(msg), nng_msg_len(msg), (rpc_sink){worker_sink, w});
    /* w may be sending its reply on another thread by now: only our own
     * local is touched from here. */
    nng_msg_free(msg);
    return;
  }
  case W_SEND:
    if (rv != 0) {
      /* A failed send leaves the message with us. Not logged one by one:
       * a peer that does not read is logged (rate-limited) as it is
       * disconnected. */
      nng_msg_free(nng_aio_get_msg(w->aio));
      nng_aio_set_msg(w->aio, NULL);
      mc_log(MC_LOG_DEBUG, NULL, "rpc: reply not sent: %s", nng_strerror(rv));
    }
    peer_sent(srv, w->pipe_id, rv);
    worker_rearm(w);
    return;
  default:
    return;
  }
}

static void free_workers(rpc_server *srv) {
  for (unsigned i = 0; i < srv->n_workers; i++)
    if (srv->workers[i].aio != NULL)
      nng_aio_stop(srv->workers[i].aio);
  if (srv->sock_open) {
    nng_close(srv->sock);
    srv->sock_open = false;
  }
  for (unsigned i = 0; i < srv->n_workers; i++) {
    nng_aio *aio = srv->workers[i].aio;
    if (aio == NULL)
      continue;
    /* A worker's callback that ran while the loop above stopped the aios
     * may have started a send on its own aio after it was stopped: nng
     * 1.5.2 fails that without calling back, so the reply is still ours. */
    nng_msg *left = nng_aio_get_msg(aio);
    if (left != NULL) {
      nng_aio_set_msg(aio, NULL);
      nng_msg_free(left);
    }
    nng_aio_free(aio);
  }
  free(srv->workers);
  srv->workers = NULL;
  srv->n_workers = 0;
}

static mc_code open_socket(rpc_server *srv, mc_err *err) {
  int rv = nng_rep0_open(&srv->sock);
  if (rv != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot open a REP socket: %s",
                      nng_strerror(rv));
  srv->sock_open = true;
  /* Before any listener: every connection gets its entry ("Peers"). */
  if ((rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_PRE, peer_pipe_event, srv)) != 0 ||
      (rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, peer_pipe_event, srv)) != 0) {
    nng_close(srv->sock);
    srv->sock_open = false;
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot watch connections: %s",
                      nng_strerror(rv));
  }
  /* Unlimited by default in 1.5.2: a peer could make us buffer anything.
   * Not the limit itself: nng drops a larger message and closes the
   * connection silently, so the cap lies well above it and dispatch answers
   * what lies between RESOURCE_EXHAUSTED. */
  rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, rpc__wire_cap(srv->max_message_bytes));
  if (rv == 0 && (srv->workers = calloc(srv->contexts, sizeof(*srv->workers))) == NULL)
    rv = NNG_ENOMEM;
  for (unsigned i = 0; rv == 0 && i < srv->contexts; i++) {
    rpc_worker *w = &srv->workers[i];
    w->srv = srv;
    w->state = W_IDLE;
    if ((rv = nng_aio_alloc(&w->aio, worker_cb, w)) == 0 &&
        (rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
      nng_aio_free(w->aio);
      w->aio = NULL;
    }
    if (rv == 0)
      srv->n_workers++;
  }
  if (rv != 0) {
    free_workers(srv);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up %u contexts: %s",
                      srv->contexts, nng_strerror(rv));
  }
  if ((rv = pthread_create(&srv->sweeper, NULL, sweeper_main, srv)) != 0) {
    free_workers(srv);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the server's sweeper: %s",
                      strerror(rv));
  }
  srv->sweeper_running = true;
  for (unsigned i = 0; i < srv->n_workers; i++) {
    srv->workers[i].state = W_RECV;
    nng_aio_set_timeout(srv->workers[i].aio, NNG_DURATION_INFINITE);
    nng_ctx_recv(srv->workers[i].ctx, srv->workers[i].aio);
  }
  return MC_OK;
}

static void bound_url(nng_listener l, const char *url, rpc_scheme scheme, char *buf, size_t cap) {
  nng_sockaddr sa;
  if ((scheme == RPC_SCHEME_TCP || scheme == RPC_SCHEME_TLS) &&
      nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0) {
    const char *prefix = scheme == RPC_SCHEME_TLS ? "tls+tcp" : "tcp";
    char ip[64];
    if (sa.s_family == NNG_AF_INET && inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip))) {
      snprintf(buf, cap, "%s://%s:%u", prefix, ip, (unsigned)ntohs(sa.s_in.sa_port));
      return;
    }
    if (sa.s_family == NNG_AF_INET6 && inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip))) {
      snprintf(buf, cap, "%s://[%s]:%u", prefix, ip, (unsigned)ntohs(sa.s_in6.sa_port));
      return;
    }
  }
  snprintf(buf, cap, "%s", url);
}

/* Creates and starts a listener on url with tls (NULL: none), which it
 * releases whatever happens. */
static mc_code listener_open_with(rpc_server *srv, const char *url, nng_tls_config *tls,
                                  nng_listener *out, mc_err *err) {
  nng_listener l;
  int rv = nng_listener_create(&l, srv->sock, url);
  if (rv != 0) {
    if (tls != NULL)
      nng_tls_config_free(tls);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cannot listen on %s: %s", url,
                      nng_strerror(rv));
  }
  /* The TLS configuration must be on the listener before it starts. */
  if (tls != NULL) {
    rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls);
    nng_tls_config_free(tls); /* the listener holds its own reference */
    if (rv != 0) {
      nng_listener_close(l);
      return mc_err_set(err, MC_INTERNAL, "%s: cannot set TLS: %s", url, nng_strerror(rv));
    }
  }
  if ((rv = nng_listener_start(l, 0)) != 0) {
    nng_listener_close(l);
    if (rv == NNG_EADDRINUSE)
      return mc_err_set(err, MC_UNAVAILABLE,
                        "cannot listen on %s: address in use (is another server running?)", url);
    return mc_err_set(err, MC_UNAVAILABLE, "cannot listen on %s: %s", url, nng_strerror(rv));
  }
  *out = l;
  return MC_OK;
}

mc_code rpc_server_listen(rpc_server *srv, const char *url, char *bound, size_t cap,
                          mc_err *err) {
  rpc_scheme scheme;
  mc_code rc = rpc__url_scheme(url, &scheme, err);
  if (rc != MC_OK)
    return rc;
  pthread_mutex_lock(&srv->mtx);
  bool stopping = srv->stopping;
  srv->listening = true;
  pthread_mutex_unlock(&srv->mtx);
  if (stopping)
    return mc_err_set(err, MC_FAILED_PRECONDITION, "the server is stopped");
  pthread_mutex_lock(&srv->listen_mtx);
  bool full = srv->n_listeners == RPC_MAX_LISTENERS;
  pthread_mutex_unlock(&srv->listen_mtx);
  if (full)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "more than %d endpoints", RPC_MAX_LISTENERS);
  nng_tls_config *tls = NULL;
  rpc_cert_info cert;
  /* nng would serve an expired certificate, or one whose key is not its
   * pair, without a word, and every client would fail its handshake in
   * silence: refuse to start instead. */
  if (scheme == RPC_SCHEME_TLS) {
    if ((rc = rpc__tls_server_config(srv->tls_cert, srv->tls_key, srv->tls_pass, &tls, err)) !=
        MC_OK)
      return mc_err_prefix(err, url);
    if ((rc = rpc__tls_check_own(srv->tls_cert, srv->tls_key, srv->tls_pass, mc_now_ms(), &cert,
                                 err)) != MC_OK) {
      nng_tls_config_free(tls);
      return mc_err_prefix(err, url);
    }
  }
  if (!srv->sock_open && (rc = open_socket(srv, err)) != MC_OK) {
    if (tls != NULL)
      nng_tls_config_free(tls);
    return rc;
  }
  nng_listener l;
  if ((rc = listener_open_with(srv, url, tls, &l, err)) != MC_OK)
    return rc;
  if (scheme == RPC_SCHEME_TLS) {
    pthread_mutex_lock(&srv->peers_mtx);
    srv->has_cert = true;
    srv->cert = cert;
    srv->cert_warned_mono = 0; /* the sweeper looks at once */
    pthread_cond_signal(&srv->peers_cond);
    pthread_mutex_unlock(&srv->peers_mtx);
  }
  char where[256];
  bound_url(l, url, scheme, where, sizeof(where));
  pthread_mutex_lock(&srv->listen_mtx);
  size_t i = srv->n_listeners++;
  srv->listeners[i] = l;
  /* The address it is bound to: a replacement listens there again. */
  snprintf(srv->listen_urls[i], sizeof(srv->listen_urls[i]), "%s", where);
  srv->listen_schemes[i] = scheme;
  pthread_mutex_unlock(&srv->listen_mtx);
  if ((rc = rpc__listen_keeper_start(srv, err)) != MC_OK)
    return rc;
  if (bound != NULL && cap > 0)
    snprintf(bound, cap, "%s", where);
  mc_log(MC_LOG_INFO, NULL, "rpc: listening on %s with %u contexts%s", where, srv->n_workers,
         scheme == RPC_SCHEME_TLS ? " (TLS; nng 1.5.2 reports no handshake failures)" : "");
  return MC_OK;
}

mc_code rpc__listener_open(rpc_server *srv, const char *url, rpc_scheme scheme,
                           nng_listener *out, mc_err *err) {
  nng_tls_config *tls = NULL;
  if (scheme == RPC_SCHEME_TLS &&
      rpc__tls_server_config(srv->tls_cert, srv->tls_key, srv->tls_pass, &tls, err) != MC_OK)
    return mc_err_prefix(err, url);
  return listener_open_with(srv, url, tls, out, err);
}

void rpc_server_stop(rpc_server *srv, int64_t grace_ms) {
  pthread_mutex_lock(&srv->mtx);
  if (srv->stopped) {
    pthread_mutex_unlock(&srv->mtx);
    return;
  }
  srv->stopping = true;
  pthread_mutex_unlock(&srv->mtx);
  /* From here dispatch answers new requests UNAVAILABLE. The listeners stay
   * open until the end: closing one in nng also closes the connections it
   * accepted, and with them the replies still to be sent. */
  if (!rpc__wait_idle(srv, mc_mono_ms() + (grace_ms > 0 ? grace_ms : 0))) {
    rpc__abandon_pending(srv);
    /* Let the UNAVAILABLE replies (and sends already under way) go out. */
    if (!rpc__wait_idle(srv, mc_mono_ms() + 2000))
      mc_log(MC_LOG_WARNING, NULL, "rpc: replies still going out at stop; closing anyway");
  }
  /* nng 1.5.2 has no linger: a reply still queued on a connection when the
   * socket closes is dropped. Give the last replies a moment to reach the
   * wire. */
  int64_t linger = (int64_t)atomic_load(&srv->last_reply_mono) + 100 - mc_mono_ms();
  if (linger > 0 && srv->sock_open) {
    struct timespec ts = {0, (long)linger * 1000000L};
    nanosleep(&ts, NULL);
  }
  pthread_mutex_lock(&srv->mtx);
  srv->stopped = true;
  pthread_mutex_unlock(&srv->mtx);
}

/* Closes listeners and socket. Kept out of rpc_server_stop: in nng 1.5.2
 * nng_close can wait forever on a connection that was being set up when it
 * was called (a close race fixed upstream in 1.6), and a daemon must have
 * finished everything that matters - answered every call, committed every
 * write - before it takes that risk. Until then the workers keep answering
 * new requests UNAVAILABLE. */
static void close_socket(rpc_server *srv) {
  atomic_store(&srv->closing, true);
  sweeper_stop(srv); /* no nng_pipe_close while the socket closes */
  rpc__listen_keeper_stop(srv); /* no listener replaced while they close */
  for (size_t i = 0; i < srv->n_listeners; i++)
    if (nng_listener_id(srv->listeners[i]) > 0) /* not a renewal that failed */
      nng_listener_close(srv->listeners[i]);
  srv->n_listeners = 0;
  free_workers(srv);
}

void rpc_server_free(rpc_server *srv) {
  if (srv == NULL)
    return;
  rpc_server_stop(srv, 0);
  close_socket(srv);
  pthread_cond_destroy(&srv->cond);
  pthread_mutex_destroy(&srv->mtx);
  for (size_t b = 0; b < RPC_PEER_BUCKETS; b++)
    while (srv->peers[b] != NULL) {
      rpc_peer *p = srv->peers[b];
      srv->peers[b] = p->next;
      free(p);
    }
  pthread_cond_destroy(&srv->peers_cond);
  pthread_mutex_destroy(&srv->peers_mtx);
  pthread_cond_destroy(&srv->listen_cond);
  pthread_mutex_destroy(&srv->listen_mtx);
  free(srv->program);
  free(srv->version);
  free(srv->accept_unit);
  free(srv->tls_cert);
  free(srv->tls_key);
  free(srv->tls_pass);
  rpc__sessions_free(srv->sessions);
  free(srv);
}
