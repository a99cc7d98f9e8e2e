/*
 * client.c - the generic call: pack, authenticate, send on a REQ context,
 * retry, decode the reply (see client.h); and the client's life: creation
 * and freeing.
 *
 * The idea: a client owns a fixed pool of slots, one nng context and aio
 * each; taking a slot is the in-flight bound, and a slot runs one call as a
 * small state machine (WAIT: waiting for a session, on a timer aio of its
 * own; SEND: waiting to hand the request to a connection; RECV: waiting for
 * the reply). The request message
 * is packed once; the envelope is built and authenticated once per session,
 * and every attempt sends a copy of the same bytes, so a retry carries the
 * same request id and proof and the server can deduplicate it.
 *
 * Its parts: client_envelope.c builds and reads the envelopes;
 * client_session.c proves each call with a session's MAC or a signature,
 * and opens and renews the session (WAIT); client_keeper.c is the client's
 * own thread, which ends calls nng has lost and dials again when nng's
 * dialer has given up, and closes the socket without waiting forever. The
 * client's state is struct rpc_client (internal.h).
 *
 * Which status a failure becomes follows from the slot's machine: if the
 * request never reached a connection before the deadline it was never
 * delivered (UNAVAILABLE, safe to retry at will); once it did, its outcome
 * is unknown (DEADLINE_EXCEEDED, retry with the same id).
 *
 * Language: what a failed call's caller reads is in the language of the
 * thread that made the call (the slot's locale), though the slot's machine
 * runs on nng's threads: slot_text switches to it while it writes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/internal.h"

/* --- Slots --- */

void rpc__slot_take(rpc_slot *s) {
  s->start_mono = mc_mono_ms();
  s->drops = 0;
  s->busy = true;
  s->reported = false;
  s->overdue_ms = 0;
}

void rpc__slot_guard(rpc_slot *s, int64_t deadline_ms) {
  pthread_mutex_lock(&s->c->mtx);
  s->overdue_ms = deadline_ms + RPC_CALL_GRACE_MS;
  pthread_mutex_unlock(&s->c->mtx);
}

bool rpc__slot_release(rpc_slot *s) {
  rpc_client *c = s->c;
  if (s->req != NULL) {
    nng_msg_free(s->req);
    s->req = NULL;
  }
  free(s->payload);
  s->payload = NULL;
  s->payload_len = 0;
  s->state = RPC_SLOT_FREE;
  s->done = NULL;
  pthread_mutex_lock(&c->mtx);
  bool report = !s->reported;
  s->reported = true;
  s->busy = false;
  s->overdue_ms = 0;
  if (s != c->open_slot) {
    s->next_free = c->free_list;
    c->free_list = s;
    pthread_cond_signal(&c->cond);
  }
  pthread_mutex_unlock(&c->mtx);
  return report;
}

/* The callback runs in the language of the thread that made the call
 * (core/i18n.h): a server that answers its own caller from it (a unit's
 * Desk, after asking the router) answers in that caller's language. */
void rpc__slot_finish(rpc_slot *s, mc_code code, const char *text, ProtobufCMessage *reply) {
  rpc_done_fn done = s->done;
  void *arg = s->done_arg;
  char lang[MC_LOCALE_MAX];
  snprintf(lang, sizeof(lang), "%s", s->locale);
  if (rpc__slot_release(s)) {
    locale_t previous = mc_i18n_use(lang);
    done(arg, code, text ? text : "", reply);
    mc_i18n_restore(previous);
  } else if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
}

/* Writes fmt (an N_() text) translated into the call's language, with its
 * arguments, into text: for the caller, not for a log. */
static void slot_text(const rpc_slot *s, char *text, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void slot_text(const rpc_slot *s, char *text, size_t cap, const char *fmt, ...) {
  locale_t previous = mc_i18n_use(s->locale);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, cap, _(fmt), ap);
  va_end(ap);
  mc_i18n_restore(previous);
}

nng_duration rpc__ms_duration(int64_t ms) {
  if (ms < 1)
    return 1;
  if (ms > INT32_MAX)
    return INT32_MAX;
  return (nng_duration)ms;
}

static void start_attempt(rpc_slot *s) {
  rpc_client *c = s->c;
  char text[256];
  pthread_mutex_lock(&c->mtx);
  bool ended = s->reported; /* by the keeper, while it waited for a session */
  pthread_mutex_unlock(&c->mtx);
  if (ended) {
    /* Reported already: this only frees the slot. */
    rpc__slot_finish(s, MC_CANCELLED, "ended by the client", NULL);
    return;
  }
  int64_t left = s->deadline_ms - mc_now_ms();
  if (left <= 0) {
    slot_text(s, text, sizeof(text), N_("%s: the deadline passed before attempt %u"), c->url,
              s->attempts + 1);
    rpc__slot_finish(s, s->sent ? MC_DEADLINE_EXCEEDED : MC_UNAVAILABLE, text, NULL);
    return;
  }
  nng_msg *m;
  int rv = nng_msg_dup(&m, s->req);
  if (rv != 0) {
    slot_text(s, text, sizeof(text), N_("cannot copy the request: %s"), nng_strerror(rv));
    /* Out of memory: not sent, not refused (a unit sends it again). */
    rpc__slot_finish(s, MC_UNAVAILABLE, text, NULL);
    return;
  }
  s->attempts++;
  nng_aio_set_msg(s->aio, m);
  /* The send completes once a connection takes the request; with none, it
   * waits up to the deadline. */
  nng_aio_set_timeout(s->aio, rpc__ms_duration(left));
  s->state = RPC_SLOT_SEND;
  int64_t none = 0;
  atomic_compare_exchange_strong(&c->starved_since_mono, &none, mc_mono_ms());
  nng_ctx_send(s->ctx, s->aio);
}

void rpc__slot_send(rpc_slot *s, const rpc_proof *given) {
  rpc_client *c = s->c;
  rpc_proof proof = *given;
  proof.locale = s->locale;
  proof.stale_ok = s->stale_ok;
  const rpc_proof *pf = &proof;
  uint8_t *bytes;
  size_t len;
  mc_err err = {0};
  mc_code rc =
      rpc__envelope_build(s->service->name, s->method->name, s->rid, s->deadline_ms, s->payload,
                          s->payload_len, pf, c->max_message_bytes, &bytes, &len, &err);
  if (rc == MC_OK) {
    if (s->req != NULL) {
      nng_msg_free(s->req); /* the last session's; its attempts are over */
      s->req = NULL;
    }
    int rv = nng_msg_alloc(&s->req, 0);
    if (rv == 0)
      rv = nng_msg_append(s->req, bytes, len);
    s->req_len = len;
    free(bytes);
    if (rv != 0)
      rc = mc_err_set(&err, MC_UNAVAILABLE, "cannot build a %zu-byte message: %s", len,
                      nng_strerror(rv));
  }
  if (rc != MC_OK) {
    rpc__slot_finish(s, rc, err.msg, NULL);
    return;
  }
  start_attempt(s);
}

/* The reply to s's request, in msg (borrowed): the outcome ends the call,
 * unless the server did not know s's session (then s is sent again). */
static void decode_reply(rpc_slot *s, nng_msg *msg) {
  rpc_client *c = s->c;
  char text[320];
  Mediation__V1__ReplyEnvelope *env = NULL;
  mc_code code = rpc__reply_unpack(c->url, nng_msg_body(msg), nng_msg_len(msg),
                                   c->max_message_bytes, &c->env_limits, &env, text, sizeof(text));
  if (code != MC_OK) {
    rpc__slot_finish(s, code, text, NULL);
    return;
  }
  s->replied = true;
  if (s->sess_gen != 0 && rpc__reply_session_unknown(env, s->rid)) {
    /* The server does not know the session (restarted, expired, evicted)
     * and did not run the request. */
    mediation__v1__reply_envelope__free_unpacked(env, NULL);
    rpc__session_forgotten(s);
    return;
  }
  if (s->hint != NULL && env->code == MV_STATUS(UNAVAILABLE)) {
    /* For the routing layer: who the server says leads (client_route.c).
     * Under c->mtx and only while the call is not reported: once the
     * keeper has reported it, the routing layer may have moved on and
     * freed what hint points into. */
    pthread_mutex_lock(&c->mtx);
    if (!s->reported) {
      s->hint->from_server = true;
      s->hint->leader_id = env->leader_id;
      size_t n = env->leader_endpoint != NULL ? strlen(env->leader_endpoint) : 0;
      if (n < sizeof(s->hint->endpoint))
        memcpy(s->hint->endpoint, n ? env->leader_endpoint : "", n + 1);
      else
        s->hint->endpoint[0] = '\0';
    }
    pthread_mutex_unlock(&c->mtx);
  }
  ProtobufCMessage *out = NULL;
  code = rpc__reply_outcome(c->url, env, s->rid, s->method->output, &c->payload_limits, &out,
                            text, sizeof(text));
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  rpc__slot_finish(s, code, text, out);
}

/* Ends a call whose request was sent but got no reply, now that the
 * deadline or the attempts are spent: its outcome is unknown, which is what
 * DEADLINE_EXCEEDED means here (UNAVAILABLE promises "never sent"). */
static void slot_lost(rpc_slot *s, int rv) {
  rpc_client *c = s->c;
  char text[256];
  locale_t previous = mc_i18n_use(s->locale); /* the caller's, as slot_text */
  if (rv != NNG_ETIMEDOUT)
    snprintf(text, sizeof(text),
             _("%s: %s after sending (%u attempts); the request may have been applied: "
               "retry with the same request id"),
             c->url, nng_strerror(rv), s->attempts);
  else if (s->attempts == 1)
    snprintf(text, sizeof(text),
             _("no reply from %s within the deadline (1 attempt%s); the request may have "
               "been applied: retry with the same request id"),
             c->url, atomic_load(&c->pipes) == 0 ? _(", connection lost") : "");
  else
    snprintf(text, sizeof(text),
             _("no reply from %s within the deadline (%u attempts%s); the request may "
               "have been applied: retry with the same request id"),
             c->url, s->attempts, atomic_load(&c->pipes) == 0 ? _(", connection lost") : "");
  mc_i18n_restore(previous);
  rpc__slot_finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
}

static void slot_cb(void *arg) {
  rpc_slot *s = arg;
  rpc_client *c = s->c;
  int rv = nng_aio_result(s->aio);
  char text[256];
  bool closing = rv == NNG_ECLOSED || rv == NNG_ECANCELED;
  switch (s->state) {
  case RPC_SLOT_SEND:
    if (rv != 0) {
      /* A failed send gives the message back to us. */
      nng_msg_free(nng_aio_get_msg(s->aio));
      nng_aio_set_msg(s->aio, NULL);
      if (closing) {
        rpc__slot_finish(s, MC_CANCELLED, "the client was closed", NULL);
      } else if (s->sent) {
        slot_text(s, text, sizeof(text),
                  N_("%s: lost the connection after sending and could not resend before the "
                     "deadline; the request may have been applied: retry with the same request "
                     "id"),
                  c->url);
        rpc__slot_finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
      } else if (rv == NNG_ETIMEDOUT) {
        rpc__no_connection_text(c, text, sizeof(text));
        mc_log(rpc__no_connection_level(text), NULL, "rpc: %s", text);
        rpc__slot_finish(s, MC_UNAVAILABLE, text, NULL);
      } else {
        slot_text(s, text, sizeof(text), N_("cannot send to %s: %s"), c->url, nng_strerror(rv));
        rpc__slot_finish(s, MC_UNAVAILABLE, text, NULL);
      }
      return;
    }
    s->sent = true;
    atomic_store(&c->starved_since_mono, 0); /* a connection took it */
    {
      int64_t left = s->deadline_ms - mc_now_ms();
      int64_t wait = left;
      if (s->attempt_timeout_ms > 0 && s->attempt_timeout_ms < wait &&
          s->attempts < s->max_attempts)
        wait = s->attempt_timeout_ms;
      nng_aio_set_timeout(s->aio, rpc__ms_duration(wait));
    }
    s->state = RPC_SLOT_RECV;
    nng_ctx_recv(s->ctx, s->aio);
    return;
  case RPC_SLOT_RECV:
    if (rv == 0) {
      nng_msg *msg = nng_aio_get_msg(s->aio);
      nng_aio_set_msg(s->aio, NULL);
      decode_reply(s, msg);
      nng_msg_free(msg);
      return;
    }
    if (closing) {
      rpc__slot_finish(s, MC_CANCELLED, "the client was closed", NULL);
      return;
    }
    /* A request larger than any server reads (16 MiB; our limit is set
     * above it), dropped with its connection twice: the server's cap, not
     * chance. Sending it again would only repeat that. */
    if (rv == NNG_ECONNRESET && s->req_len > RPC_HARD_CAP_BYTES && ++s->drops >= 2) {
      slot_text(s, text, sizeof(text),
                N_("%.80s closed the connection on a %zu-byte request, over the 16 MiB any "
                   "server reads (a smaller max_message_bytes there?): send less per request"),
                c->url, s->req_len);
      rpc__slot_finish(s, MC_RESOURCE_EXHAUSTED, text, NULL);
      return;
    }
    /* ETIMEDOUT: this attempt waited long enough. ECONNRESET: newer nng
     * versions report a dropped connection this way. Either way, send the
     * same bytes again while the deadline and the attempt budget allow. */
    if ((rv == NNG_ETIMEDOUT || rv == NNG_ECONNRESET) && s->attempts < s->max_attempts &&
        s->deadline_ms - mc_now_ms() > 0) {
      mc_log(MC_LOG_DEBUG, NULL, "rpc: %s to %s: attempt %u got no reply; sending again",
             s->method->name, c->url, s->attempts);
      start_attempt(s);
      return;
    }
    slot_lost(s, rv);
    return;
  default:
    return;
  }
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg) {
  (void)p;
  rpc_client *c = arg;
  /* Pipe callbacks must not touch the socket: count only. */
  if (ev == NNG_PIPE_EV_ADD_POST)
    atomic_fetch_add(&c->pipes, 1);
  else if (ev == NNG_PIPE_EV_REM_POST) {
    atomic_fetch_sub(&c->pipes, 1);
    atomic_fetch_add(&c->pipes_lost, 1);
  }
}

/* --- Life --- */

static void close_all(rpc_client *c) {
  pthread_mutex_lock(&c->mtx);
  c->closing = true;
  pthread_cond_broadcast(&c->cond);
  pthread_cond_broadcast(&c->keeper_cond);
  pthread_mutex_unlock(&c->mtx);
  if (c->keeper_running) {
    pthread_join(c->keeper, NULL); /* it may be reporting calls: they are done then */
    c->keeper_running = false;
  }
  rpc__session_close(c); /* calls waiting for a session end CANCELLED */
  /* Cancels what is outstanding (the Open included); each callback reports
   * CANCELLED. */
  unsigned n = c->slots != NULL ? c->n_slots + 1 : 0;
  for (unsigned i = 0; i < n; i++) {
    if (c->slots[i].timer != NULL)
      nng_aio_stop(c->slots[i].timer);
    if (c->slots[i].aio != NULL)
      nng_aio_stop(c->slots[i].aio);
  }
  if (c->sock_open) {
    rpc__socket_close_bounded(c->sock);
    c->sock_open = false;
  }
  /* Every aio is stopped and no callback runs any more. A callback that ran
   * during the loop above may have started an attempt (or a session wait)
   * on an aio stopped before it: nng 1.5.2 then fails the operation without
   * calling back, leaving the request on the aio and the call unanswered.
   * Those calls end here, CANCELLED like the others. */
  for (unsigned i = 0; i < n; i++) {
    rpc_slot *s = &c->slots[i];
    if (s->aio == NULL || s->state == RPC_SLOT_FREE)
      continue;
    nng_msg *left = nng_aio_get_msg(s->aio);
    if (left != NULL) {
      nng_aio_set_msg(s->aio, NULL);
      nng_msg_free(left);
    }
    if (s == c->open_slot) {
      rpc__slot_release(s); /* the Open is internal: nobody waits on its callback */
      continue;
    }
    rpc__session_unwait(c, s);
    rpc__slot_finish(s, MC_CANCELLED, "the client was closed", NULL);
  }
  for (unsigned i = 0; i < n; i++) {
    if (c->slots[i].timer != NULL)
      nng_aio_free(c->slots[i].timer);
    if (c->slots[i].aio != NULL)
      nng_aio_free(c->slots[i].aio);
  }
}

void rpc_client_free(rpc_client *c) {
  if (c == NULL)
    return;
  if (c->route != NULL) {
    rpc__route_free(c);
    return;
  }
  close_all(c);
  free(c->slots);
  if (c->secrets != NULL)
    sodium_free(c->secrets); /* wipes the session key */
  if (c->tls != NULL)
    nng_tls_config_free(c->tls);
  pthread_cond_destroy(&c->keeper_cond);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->mtx);
  pthread_mutex_destroy(&c->sess_mtx);
  free(c->tls_ca);
  free(c->tls_name);
  free(c->url);
  free(c);
}

const char *rpc_client_url(const rpc_client *c) {
  return c->route != NULL ? rpc__route_url(c) : c->url;
}

/* Copies the limits and options into c, with their defaults, and makes
 * its locks. */
static void client_settings(rpc_client *c, const rpc_key *key, const mc_limits *limits,
                            const rpc_client_opts *opts) {
  c->key = key;
  c->max_message_bytes = limits->max_message_bytes ? limits->max_message_bytes : 1u << 20;
  c->max_deadline_ahead_ms =
      limits->max_deadline_ahead_ms > 0 ? limits->max_deadline_ahead_ms : 600000;
  c->env_limits = rpc__envelope_limits(c->max_message_bytes);
  c->payload_limits = (mc_message_limits){
      .max_string_bytes = limits->max_text_bytes ? limits->max_text_bytes : 4096,
      .max_bytes_field = c->max_message_bytes,
      .max_repeated = c->max_message_bytes,
      .max_depth = 16,
  };
  c->default_timeout_ms = opts->default_timeout_ms > 0 ? opts->default_timeout_ms : 10000;
  c->attempt_timeout_ms = opts->attempt_timeout_ms > 0 ? opts->attempt_timeout_ms : 0;
  c->max_attempts = opts->max_attempts ? opts->max_attempts : 3;
  c->sessions = !opts->sign_each_request;
  c->fail_when_refused = opts->fail_when_refused;
  c->on_tls_verdict = opts->on_tls_verdict;
  c->on_tls_verdict_arg = opts->on_tls_verdict_arg;
  atomic_init(&c->pipes, 0);
  atomic_init(&c->pipes_lost, 0);
  atomic_init(&c->starved_since_mono, 0);
  pthread_mutex_init(&c->mtx, NULL);
  pthread_mutex_init(&c->sess_mtx, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &ca);
  pthread_cond_init(&c->keeper_cond, &ca);
  pthread_condattr_destroy(&ca);
}

/* For tls+tcp://: the dialers' TLS configuration, and what the keeper needs
 * to diagnose failed handshakes. */
static mc_code client_tls(rpc_client *c, const char *url, const rpc_client_opts *opts,
                          mc_err *err) {
  char host[256];
  rpc__url_host(url, host, sizeof(host));
  const char *name = opts->tls_server_name ? opts->tls_server_name : host;
  mc_code rc = rpc__tls_client_config(opts->tls_ca_file, name, &c->tls, err);
  /* An expired CA fails every handshake in silence: say so now. */
  if (rc == MC_OK)
    rc = rpc__tls_check_ca(opts->tls_ca_file, mc_now_ms(), err);
  if (rc == MC_OK && ((c->tls_ca = strdup(opts->tls_ca_file)) == NULL ||
                      (c->tls_name = strdup(name)) == NULL))
    rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  return rc;
}

/* The REQ socket and n_slots + 1 slots on it (the last: the Open's own).
 * nng's error; what was made is released by rpc_client_free. */
static int client_socket(rpc_client *c, unsigned n_slots) {
  int rv = nng_req0_open(&c->sock);
  if (rv == 0) {
    c->sock_open = true;
    /* Retries are ours (counted, bounded by the deadline): no timer resend
     * by nng, whose per-context timers are also what grows O(n^2) in 1.5.2.
     * nng still resends by itself after a reconnect. */
    rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
  }
  if (rv == 0)
    /* The hard cap, not our limit: a server configured with a larger limit
     * may answer more than we allow; nng would drop that reply with the
     * connection, and REQ resend the request in a loop. decode_reply
     * refuses it instead. */
    rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, rpc__wire_cap(c->max_message_bytes));
  if (rv == 0)
    rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
  if (rv == 0)
    rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
  if (rv == 0) {
    /* One more than the calls: the Open's own. */
    if ((c->slots = calloc(n_slots + 1, sizeof(*c->slots))) == NULL)
      rv = NNG_ENOMEM;
    else
      c->n_slots = n_slots;
  }
  for (unsigned i = 0; rv == 0 && i <= c->n_slots; i++) {
    rpc_slot *s = &c->slots[i];
    s->c = c;
    if ((rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0 ||
        (rv = nng_aio_alloc(&s->timer, rpc__session_timer_cb, s)) != 0)
      break;
    if ((rv = nng_ctx_open(&s->ctx, c->sock)) == 0)
      rv = nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (i == c->n_slots) {
      c->open_slot = s;
    } else {
      s->next_free = c->free_list;
      c->free_list = s;
    }
  }
  return rv;
}

mc_code rpc_client_create(const char *url, const rpc_key *key, const mc_limits *limits,
                          const rpc_client_opts *opts, rpc_client **out, mc_err *err) {
  return rpc__client_create_one(url, key, limits, opts, false, out, err);
}

mc_code rpc__client_create_one(const char *url, const rpc_key *key, const mc_limits *limits,
                               const rpc_client_opts *opts, bool member, rpc_client **out,
                               mc_err *err) {
  static const rpc_client_opts none;
  if (opts == NULL)
    opts = &none;
  rpc_scheme scheme;
  mc_code rc = rpc__url_scheme(url, &scheme, err);
  if (rc != MC_OK)
    return rc;
  if (key == NULL || limits == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "rpc_client_create: a key and limits are needed");
  rpc_client *c = calloc(1, sizeof(*c));
  if (c == NULL || (c->url = strdup(url)) == NULL) {
    free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  client_settings(c, key, limits, opts);
  if (member) {
    c->fail_when_refused = true; /* a node that is down: the next one, soon */
    c->fail_when_lost = true;
  }

  if (sodium_init() < 0 || (c->secrets = sodium_malloc(sizeof(*c->secrets))) == NULL) {
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: no memory "
                      "for its session key (or libsodium failed to start)", url);
  }
  sodium_memzero(c->secrets, sizeof(*c->secrets));

  if (scheme == RPC_SCHEME_TLS && (rc = client_tls(c, url, opts, err)) != MC_OK) {
    rpc_client_free(c);
    return rc;
  }
  int rv = client_socket(c, opts->max_in_flight ? opts->max_in_flight : 32);
  if (rv != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: %s", url,
                      nng_strerror(rv));
  }
  nng_dialer d;
  rv = rpc__client_dial(c, &d);
  if (rv != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cannot dial %s: %s", url, nng_strerror(rv));
  }
  atomic_store(&c->dialer_id, d.id);
  if ((rv = pthread_create(&c->keeper, NULL, rpc__client_keeper, c)) != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: no thread: %s",
                      url, strerror(rv));
  }
  c->keeper_running = true;
  *out = c;
  return MC_OK;
}

/* --- Calls --- */

static mc_code take_slot(rpc_client *c, int64_t deadline_ms, bool nowait, rpc_slot **out,
                         mc_err *err) {
  pthread_mutex_lock(&c->mtx);
  int64_t until = mc_mono_ms() + (deadline_ms - mc_now_ms());
  while (c->free_list == NULL && !c->closing) {
    int64_t left = until - mc_mono_ms();
    if (nowait || left <= 0) {
      pthread_mutex_unlock(&c->mtx);
      if (nowait)
        return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                          _("%u calls already in flight on the client for %s"), c->n_slots, c->url);
      return mc_err_set(err, MC_DEADLINE_EXCEEDED,
                        _("no free slot on the client for %s before the deadline (%u in flight)"),
                        c->url, c->n_slots);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (left % 1000) * 1000000;
    ts.tv_sec += (time_t)(left / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&c->cond, &c->mtx, &ts);
  }
  if (c->closing) {
    pthread_mutex_unlock(&c->mtx);
    return mc_err_set(err, MC_CANCELLED, _("the client for %s is closing"), c->url);
  }
  rpc_slot *s = c->free_list;
  c->free_list = s->next_free;
  rpc__slot_take(s);
  pthread_mutex_unlock(&c->mtx);
  *out = s;
  return MC_OK;
}

mc_code rpc_client_call_async(rpc_client *c, const ProtobufCServiceDescriptor *service,
                              const char *method, const ProtobufCMessage *request,
                              const rpc_call_opts *copts, rpc_done_fn done, void *arg,
                              mc_err *err) {
  static const rpc_call_opts none;
  if (copts == NULL)
    copts = &none;
  if (service == NULL || method == NULL || request == NULL || done == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "rpc_client_call: service, method, request and done are required");
  const ProtobufCMethodDescriptor *md =
      protobuf_c_service_descriptor_get_method_by_name(service, method);
  if (md == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "service %s has no method \"%.100s\"",
                      service->name, method);
  if (request->descriptor != md->input)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s/%s takes %s, not %s", service->name, method,
                      md->input->name, request->descriptor->name);
  int64_t now = mc_now_ms();
  int64_t deadline = copts->deadline_ms;
  if (deadline == 0)
    deadline = now + (copts->timeout_ms > 0 ? copts->timeout_ms : c->default_timeout_ms);
  if (deadline <= now)
    return mc_err_set(err, MC_DEADLINE_EXCEEDED, _("%s/%s: the deadline has passed already"),
                      service->name, method);
  if (deadline - now > c->max_deadline_ahead_ms)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s/%s: deadline %lld ms ahead; the server allows at most %lld "
                      "([limits] max_deadline_ahead_seconds)"),
                      service->name, method, (long long)(deadline - now),
                      (long long)c->max_deadline_ahead_ms);

  /* Packed once: each (re)authentication builds the envelope around it. */
  uint8_t *payload;
  size_t payload_len;
  mc_code rc = rpc__request_pack(service->name, method, request, c->max_message_bytes, &payload,
                                 &payload_len, err);
  if (rc != MC_OK)
    return rc;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  if (copts->request_id != NULL)
    memcpy(rid, copts->request_id, sizeof(rid));
  else
    rpc_request_id_new(rid);
  size_t n = rpc__envelope_size(service->name, method, rid, deadline, rpc_key_principal(c->key),
                                payload_len);
  if (n > c->max_message_bytes) {
    free(payload);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      _("request %s/%s is %zu bytes packed, over max_message_bytes %zu ([limits]); "
                      "send less per request"),
                      service->name, method, n, c->max_message_bytes);
  }
  rpc_call_spec spec = {
      .service = service,
      .method = md,
      .payload = payload,
      .payload_len = payload_len,
      .deadline_ms = deadline,
      .attempt_timeout_ms = copts->attempt_timeout_ms,
      .max_attempts = copts->max_attempts,
      .nowait = copts->nowait,
      .stale_ok = copts->stale_ok,
  };
  memcpy(spec.rid, rid, sizeof(rid));
  if (c->route != NULL)
    return rpc__route_call(c, &spec, done, arg, err);
  return rpc__call_start(c, &spec, done, arg, err);
}

mc_code rpc__call_start(rpc_client *c, rpc_call_spec *spec, rpc_done_fn done, void *arg,
                        mc_err *err) {
  rpc_slot *s = NULL;
  mc_code rc = take_slot(c, spec->deadline_ms, spec->nowait, &s, err);
  if (rc != MC_OK) {
    free(spec->payload);
    spec->payload = NULL;
    return rc;
  }
  s->payload = spec->payload;
  s->payload_len = spec->payload_len;
  spec->payload = NULL;
  s->service = spec->service;
  s->method = spec->method;
  memcpy(s->rid, spec->rid, sizeof(s->rid));
  snprintf(s->locale, sizeof(s->locale), "%s",
           spec->locale != NULL ? spec->locale : mc_i18n_current());
  s->deadline_ms = spec->deadline_ms;
  s->attempt_timeout_ms = spec->attempt_timeout_ms > 0 ? spec->attempt_timeout_ms
                                                       : c->attempt_timeout_ms;
  s->max_attempts = spec->max_attempts ? spec->max_attempts : c->max_attempts;
  s->stale_ok = spec->stale_ok;
  s->hint = spec->hint;
  s->attempts = 0;
  s->sent = false;
  s->replied = false;
  s->sign = !c->sessions;
  s->sess_gen = 0;
  s->renewals = 0;
  s->wake = RPC_WAKE_RETRY;
  s->done = done;
  s->done_arg = arg;
  rpc__slot_guard(s, s->deadline_ms);
  rpc__slot_go(s);
  return MC_OK;
}

typedef struct sync_wait {
  pthread_mutex_t mtx;
  pthread_cond_t cond;
  bool done;
  mc_code code;
  char text[256];
  ProtobufCMessage *reply;
} sync_wait;

static void sync_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  sync_wait *w = arg;
  pthread_mutex_lock(&w->mtx);
  w->code = code;
  snprintf(w->text, sizeof(w->text), "%s", message);
  w->reply = reply;
  w->done = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mtx);
}

mc_code rpc_client_call(rpc_client *c, const ProtobufCServiceDescriptor *service,
                        const char *method, const ProtobufCMessage *request,
                        const rpc_call_opts *copts, ProtobufCMessage **reply, mc_err *err) {
  sync_wait w = {.done = false};
  pthread_mutex_init(&w.mtx, NULL);
  pthread_cond_init(&w.cond, NULL);
  mc_code rc = rpc_client_call_async(c, service, method, request, copts, sync_done, &w, err);
  if (rc == MC_OK) {
    pthread_mutex_lock(&w.mtx);
    while (!w.done)
      pthread_cond_wait(&w.cond, &w.mtx);
    pthread_mutex_unlock(&w.mtx);
    rc = w.code;
    if (rc == MC_OK)
      *reply = w.reply;
    else
      mc_err_set(err, rc, "%s", w.text);
  }
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.mtx);
  return rc;
}
