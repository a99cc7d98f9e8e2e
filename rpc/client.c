/*
 * client.c - the generic call: pack, sign, send on a REQ context, retry,
 * decode the reply (see client.h).
 *
 * The idea: a client owns a fixed pool of slots, one nng context and aio
 * each; taking a slot is the in-flight bound, and a slot runs one call as a
 * small state machine (SEND: waiting to hand the request to a connection;
 * RECV: waiting for the reply). The envelope is built and signed once; every
 * attempt sends a copy of the same bytes, so a retry carries the same
 * request id and signature and the server can deduplicate it.
 *
 * Which status a failure becomes follows from that machine: if the request
 * never reached a connection before the deadline it was never delivered
 * (UNAVAILABLE, safe to retry at will); once it did, its outcome is unknown
 * (DEADLINE_EXCEEDED, retry with the same id).
 */
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

enum { S_FREE, S_SEND, S_RECV };

typedef struct slot slot;
struct slot {
  rpc_client *c;
  nng_aio *aio;
  nng_ctx ctx;
  int state;    /* S_*: handed from thread to thread along with the aio */
  nng_msg *req; /* the signed envelope; each attempt sends a copy; owned */
  const ProtobufCMethodDescriptor *method;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  int64_t deadline_ms; /* absolute Unix ms, as in the envelope */
  int64_t attempt_timeout_ms;
  unsigned attempts, max_attempts;
  bool sent; /* some attempt was handed to a connection */
  rpc_done_fn done;
  void *done_arg;
  slot *next_free;
};

struct rpc_client {
  char *url;
  const rpc_key *key;
  size_t max_message_bytes;
  int64_t max_deadline_ahead_ms;
  mc_message_limits env_limits, payload_limits;
  int64_t default_timeout_ms, attempt_timeout_ms;
  unsigned max_attempts;

  nng_socket sock;
  bool sock_open;
  nng_dialer dialer;
  slot *slots;
  unsigned n_slots;
  atomic_int pipes; /* connections up now (pipe notifications) */

  pthread_mutex_t mtx; /* guards the free list and closing */
  pthread_cond_t cond; /* a slot was freed, or closing */
  slot *free_list;
  bool closing;
};

/* --- Envelopes --- */

static mc_code encode(const rpc_key *key, const char *service, const char *method,
                      const ProtobufCMessage *request, int64_t deadline_ms,
                      const uint8_t *request_id, size_t max_bytes, uint8_t rid[RPC_REQUEST_ID_BYTES],
                      uint8_t **out, size_t *out_len, mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  if (!protobuf_c_message_check(request))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: a required field is missing",
                      request->descriptor->name);
  size_t payload_len = protobuf_c_message_get_packed_size(request);
  if (max_bytes != 0 && payload_len > max_bytes)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "request %s/%s is %zu bytes, over max_message_bytes %zu ([limits]); "
                      "send less per request",
                      service, method, payload_len, max_bytes);
  uint8_t *payload = malloc(payload_len ? payload_len : 1);
  if (payload == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for a %zu-byte request",
                      payload_len);
  protobuf_c_message_pack(request, payload);
  if (request_id != NULL)
    memcpy(rid, request_id, RPC_REQUEST_ID_BYTES);
  else
    randombytes_buf(rid, RPC_REQUEST_ID_BYTES);
  Mediation__V1__RequestEnvelope env = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  env.service = (char *)service;
  env.method = (char *)method;
  env.request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, rid};
  env.deadline_ms = deadline_ms;
  env.caller = (char *)rpc_key_principal(key);
  env.payload = (ProtobufCBinaryData){payload_len, payload};
  uint8_t sig[RPC_SIGNATURE_BYTES];
  mc_code rc = rpc_request_sign(key, &env, sig, err);
  if (rc != MC_OK) {
    free(payload);
    return rc;
  }
  env.signature = (ProtobufCBinaryData){sizeof(sig), sig};
  size_t n = mediation__v1__request_envelope__get_packed_size(&env);
  if (max_bytes != 0 && n > max_bytes) {
    free(payload);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "request %s/%s is %zu bytes packed, over max_message_bytes %zu ([limits]); "
                      "send less per request",
                      service, method, n, max_bytes);
  }
  uint8_t *buf = malloc(n);
  if (buf == NULL) {
    free(payload);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for a %zu-byte request", n);
  }
  mediation__v1__request_envelope__pack(&env, buf);
  free(payload);
  *out = buf;
  *out_len = n;
  return MC_OK;
}

mc_code rpc_request_encode(const rpc_key *key, const char *service, const char *method,
                           const ProtobufCMessage *request, int64_t deadline_ms,
                           const uint8_t *request_id, size_t max_bytes, uint8_t **out,
                           size_t *out_len, mc_err *err) {
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  return encode(key, service, method, request, deadline_ms, request_id, max_bytes, rid, out,
                out_len, err);
}

/* --- Slots --- */

static void slot_release(slot *s) {
  rpc_client *c = s->c;
  if (s->req != NULL) {
    nng_msg_free(s->req);
    s->req = NULL;
  }
  s->state = S_FREE;
  s->done = NULL;
  pthread_mutex_lock(&c->mtx);
  s->next_free = c->free_list;
  c->free_list = s;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->mtx);
}

/* Ends the call: frees the slot first (so done may start another call on
 * it), then reports. Nothing of s is touched after the release. */
static void finish(slot *s, mc_code code, const char *text, ProtobufCMessage *reply) {
  rpc_done_fn done = s->done;
  void *arg = s->done_arg;
  slot_release(s);
  done(arg, code, text ? text : "", reply);
}

static nng_duration ms_duration(int64_t ms) {
  if (ms < 1)
    return 1;
  if (ms > INT32_MAX)
    return INT32_MAX;
  return (nng_duration)ms;
}

static void start_attempt(slot *s) {
  rpc_client *c = s->c;
  char text[256];
  int64_t left = s->deadline_ms - mc_now_ms();
  if (left <= 0) {
    snprintf(text, sizeof(text), "%s: the deadline passed before attempt %u", c->url,
             s->attempts + 1);
    finish(s, s->sent ? MC_DEADLINE_EXCEEDED : MC_UNAVAILABLE, text, NULL);
    return;
  }
  nng_msg *m;
  int rv = nng_msg_dup(&m, s->req);
  if (rv != 0) {
    snprintf(text, sizeof(text), "cannot copy the request: %s", nng_strerror(rv));
    finish(s, MC_RESOURCE_EXHAUSTED, text, NULL);
    return;
  }
  s->attempts++;
  nng_aio_set_msg(s->aio, m);
  /* The send completes once a connection takes the request; with none, it
   * waits up to the deadline. */
  nng_aio_set_timeout(s->aio, ms_duration(left));
  s->state = S_SEND;
  nng_ctx_send(s->ctx, s->aio);
}

static void decode_reply(slot *s, nng_msg *msg) {
  rpc_client *c = s->c;
  char text[320];
  mc_err err = {0};
  const uint8_t *body = nng_msg_body(msg);
  size_t len = nng_msg_len(msg);
  if (mc_wire_check(&mediation__v1__reply_envelope__descriptor, body, len, &c->env_limits, &err) !=
      MC_OK) {
    snprintf(text, sizeof(text), "%s sent a malformed reply: %s", c->url, err.msg);
    finish(s, MC_INTERNAL, text, NULL);
    return;
  }
  Mediation__V1__ReplyEnvelope *env = mediation__v1__reply_envelope__unpack(NULL, len, body);
  if (env == NULL) {
    snprintf(text, sizeof(text), "%s sent a reply that does not decode", c->url);
    finish(s, MC_INTERNAL, text, NULL);
    return;
  }
  mc_code code = (mc_code)env->code;
  ProtobufCMessage *out = NULL;
  if (env->request_id.len != 0 &&
      (env->request_id.len != RPC_REQUEST_ID_BYTES ||
       memcmp(env->request_id.data, s->rid, RPC_REQUEST_ID_BYTES) != 0)) {
    code = MC_INTERNAL;
    snprintf(text, sizeof(text), "%s answered another request", c->url);
  } else if ((unsigned)env->code >= MC_CODE_COUNT) {
    code = MC_UNKNOWN;
    snprintf(text, sizeof(text), "%s answered with unknown status %d: %s", c->url, (int)env->code,
             env->message);
  } else if (code != MC_OK) {
    snprintf(text, sizeof(text), "%s", env->message);
  } else if (mc_wire_check(s->method->output, env->payload.data, env->payload.len,
                           &c->payload_limits, &err) != MC_OK) {
    code = MC_INTERNAL;
    snprintf(text, sizeof(text), "%s sent a bad %s: %s", c->url, s->method->output->name,
             err.msg);
  } else if ((out = protobuf_c_message_unpack(s->method->output, NULL, env->payload.len,
                                              env->payload.data)) == NULL) {
    code = MC_INTERNAL;
    snprintf(text, sizeof(text), "%s sent a reply that does not decode as %s", c->url,
             s->method->output->name);
  } else {
    text[0] = '\0';
  }
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
  finish(s, code, text, out);
}

/* Why no connection came up, from the dialer's statistics: nng 1.5.2 reports
 * failed connects and TLS handshakes nowhere else. Writes "" if unknown. */
static void dial_diagnosis(rpc_client *c, char *buf, size_t cap) {
  static const struct {
    const char *stat, *what;
  } counters[] = {
      {"refused", "refused"},
      {"auth", "failed authentication (TLS: check tls_ca and tls_server_name)"},
      {"proto", "protocol errors (TLS or not TLS on both sides?)"},
      {"timeout", "timed out"},
      {"reject", "rejected"},
      {"disconnect", "dropped"},
      {"other", "failed otherwise (TLS handshake?)"},
  };
  buf[0] = '\0';
  nng_stat *all;
  if (nng_stats_get(&all) != 0)
    return;
  nng_stat *ds = nng_stat_find_dialer(all, c->dialer);
  size_t used = 0;
  for (size_t i = 0; ds != NULL && i < sizeof(counters) / sizeof(counters[0]); i++) {
    nng_stat *st = nng_stat_find(ds, counters[i].stat);
    uint64_t n = st != NULL ? nng_stat_value(st) : 0;
    if (n == 0 || used >= cap)
      continue;
    int w = snprintf(buf + used, cap - used, "%s%llu %s", used ? ", " : "; connects: ",
                     (unsigned long long)n, counters[i].what);
    used += w > 0 ? (size_t)w : 0;
  }
  nng_stats_free(all);
}

static void slot_cb(void *arg) {
  slot *s = arg;
  rpc_client *c = s->c;
  int rv = nng_aio_result(s->aio);
  char text[256];
  bool closing = rv == NNG_ECLOSED || rv == NNG_ECANCELED;
  switch (s->state) {
  case S_SEND:
    if (rv != 0) {
      /* A failed send gives the message back to us. */
      nng_msg_free(nng_aio_get_msg(s->aio));
      nng_aio_set_msg(s->aio, NULL);
      if (closing) {
        finish(s, MC_CANCELLED, "the client was closed", NULL);
      } else if (s->sent) {
        snprintf(text, sizeof(text),
                 "%s: lost the connection after sending and could not resend before the "
                 "deadline; the request may have been applied: retry with the same request id",
                 c->url);
        finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
      } else if (rv == NNG_ETIMEDOUT) {
        char why[160];
        dial_diagnosis(c, why, sizeof(why));
        snprintf(text, sizeof(text), "could not reach %.100s before the deadline: no connection%.100s",
                 c->url, why[0] ? why : " (nothing listening, or a failed TLS handshake)");
        mc_log(MC_LOG_WARNING, NULL, "rpc: %s", text);
        finish(s, MC_UNAVAILABLE, text, NULL);
      } else {
        snprintf(text, sizeof(text), "cannot send to %s: %s", c->url, nng_strerror(rv));
        finish(s, MC_UNAVAILABLE, text, NULL);
      }
      return;
    }
    s->sent = true;
    {
      int64_t left = s->deadline_ms - mc_now_ms();
      int64_t wait = left;
      if (s->attempt_timeout_ms > 0 && s->attempt_timeout_ms < wait &&
          s->attempts < s->max_attempts)
        wait = s->attempt_timeout_ms;
      nng_aio_set_timeout(s->aio, ms_duration(wait));
    }
    s->state = S_RECV;
    nng_ctx_recv(s->ctx, s->aio);
    return;
  case S_RECV:
    if (rv == 0) {
      nng_msg *msg = nng_aio_get_msg(s->aio);
      nng_aio_set_msg(s->aio, NULL);
      decode_reply(s, msg);
      nng_msg_free(msg);
      return;
    }
    if (closing) {
      finish(s, MC_CANCELLED, "the client was closed", NULL);
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
    if (rv == NNG_ETIMEDOUT) {
      snprintf(text, sizeof(text),
               "no reply from %s within the deadline (%u attempt%s%s); the request may have "
               "been applied: retry with the same request id",
               c->url, s->attempts, s->attempts == 1 ? "" : "s",
               atomic_load(&c->pipes) == 0 ? ", connection lost" : "");
      finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
    } else {
      /* Sent, then lost: the outcome is unknown, which is what
       * DEADLINE_EXCEEDED means here (UNAVAILABLE promises "never sent"). */
      snprintf(text, sizeof(text),
               "%s: %s after sending (%u attempts); the request may have been applied: retry "
               "with the same request id",
               c->url, nng_strerror(rv), s->attempts);
      finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
    }
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
  else if (ev == NNG_PIPE_EV_REM_POST)
    atomic_fetch_sub(&c->pipes, 1);
}

/* --- Life --- */

static void close_all(rpc_client *c) {
  pthread_mutex_lock(&c->mtx);
  c->closing = true;
  pthread_cond_broadcast(&c->cond);
  pthread_mutex_unlock(&c->mtx);
  /* Cancels what is outstanding; each callback reports CANCELLED. */
  for (unsigned i = 0; i < c->n_slots; i++)
    if (c->slots[i].aio != NULL)
      nng_aio_stop(c->slots[i].aio);
  if (c->sock_open) {
    nng_close(c->sock);
    c->sock_open = false;
  }
  for (unsigned i = 0; i < c->n_slots; i++)
    if (c->slots[i].aio != NULL)
      nng_aio_free(c->slots[i].aio);
}

void rpc_client_free(rpc_client *c) {
  if (c == NULL)
    return;
  close_all(c);
  free(c->slots);
  pthread_cond_destroy(&c->cond);
  pthread_mutex_destroy(&c->mtx);
  free(c->url);
  free(c);
}

const char *rpc_client_url(const rpc_client *c) { return c->url; }

mc_code rpc_client_create(const char *url, const rpc_key *key, const mc_limits *limits,
                          const rpc_client_opts *opts, rpc_client **out, mc_err *err) {
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
  unsigned n_slots = opts->max_in_flight ? opts->max_in_flight : 32;
  atomic_init(&c->pipes, 0);
  pthread_mutex_init(&c->mtx, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cond, &ca);
  pthread_condattr_destroy(&ca);

  nng_tls_config *tls = NULL;
  if (scheme == RPC_SCHEME_TLS) {
    char host[256];
    rpc__url_host(url, host, sizeof(host));
    rc = rpc__tls_client_config(opts->tls_ca_file,
                                opts->tls_server_name ? opts->tls_server_name : host, &tls, err);
    if (rc != MC_OK) {
      rpc_client_free(c);
      return rc;
    }
  }

  int rv = nng_req0_open(&c->sock);
  if (rv == 0) {
    c->sock_open = true;
    /* Retries are ours (counted, bounded by the deadline): no timer resend
     * by nng, whose per-context timers are also what grows O(n^2) in 1.5.2.
     * nng still resends by itself after a reconnect. */
    rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
  }
  if (rv == 0)
    rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
                             c->max_message_bytes + RPC_SP_HEADER_SLACK);
  if (rv == 0)
    rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, c);
  if (rv == 0)
    rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_cb, c);
  if (rv == 0) {
    if ((c->slots = calloc(n_slots, sizeof(*c->slots))) == NULL)
      rv = NNG_ENOMEM;
    else
      c->n_slots = n_slots;
  }
  for (unsigned i = 0; rv == 0 && i < c->n_slots; i++) {
    slot *s = &c->slots[i];
    s->c = c;
    if ((rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0)
      break;
    if ((rv = nng_ctx_open(&s->ctx, c->sock)) == 0)
      rv = nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    s->next_free = c->free_list;
    c->free_list = s;
  }
  if (rv != 0) {
    if (tls != NULL)
      nng_tls_config_free(tls);
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: %s", url,
                      nng_strerror(rv));
  }
  nng_dialer d;
  rv = nng_dialer_create(&d, c->sock, url);
  c->dialer = d;
  if (rv == 0 && tls != NULL)
    rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls); /* before the dialer starts */
  if (tls != NULL)
    nng_tls_config_free(tls); /* the dialer holds its own reference */
  if (rv == 0)
    rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 100);
  if (rv == 0)
    rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 2000);
  /* Non-blocking: connect (and reconnect) in the background, so a unit can
   * start while the router is down; calls wait for a connection up to their
   * deadline. */
  if (rv == 0)
    rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
  if (rv != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cannot dial %s: %s", url, nng_strerror(rv));
  }
  *out = c;
  return MC_OK;
}

/* --- Calls --- */

static mc_code take_slot(rpc_client *c, int64_t deadline_ms, bool nowait, slot **out,
                         mc_err *err) {
  pthread_mutex_lock(&c->mtx);
  int64_t until = mc_mono_ms() + (deadline_ms - mc_now_ms());
  while (c->free_list == NULL && !c->closing) {
    int64_t left = until - mc_mono_ms();
    if (nowait || left <= 0) {
      pthread_mutex_unlock(&c->mtx);
      if (nowait)
        return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                          "%u calls already in flight on the client for %s", c->n_slots, c->url);
      return mc_err_set(err, MC_DEADLINE_EXCEEDED,
                        "no free slot on the client for %s before the deadline (%u in flight)",
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
    return mc_err_set(err, MC_CANCELLED, "the client for %s is closing", c->url);
  }
  slot *s = c->free_list;
  c->free_list = s->next_free;
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
    return mc_err_set(err, MC_DEADLINE_EXCEEDED, "%s/%s: the deadline has passed already",
                      service->name, method);
  if (deadline - now > c->max_deadline_ahead_ms)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "%s/%s: deadline %lld ms ahead; the server allows at most %lld "
                      "([limits] max_deadline_ahead_seconds)",
                      service->name, method, (long long)(deadline - now),
                      (long long)c->max_deadline_ahead_ms);

  uint8_t rid[RPC_REQUEST_ID_BYTES];
  uint8_t *bytes;
  size_t len;
  mc_code rc = encode(c->key, service->name, method, request, deadline, copts->request_id,
                      c->max_message_bytes, rid, &bytes, &len, err);
  if (rc != MC_OK)
    return rc;
  slot *s = NULL;
  if ((rc = take_slot(c, deadline, copts->nowait, &s, err)) != MC_OK) {
    free(bytes);
    return rc;
  }
  int rv = nng_msg_alloc(&s->req, 0);
  if (rv == 0)
    rv = nng_msg_append(s->req, bytes, len);
  free(bytes);
  if (rv != 0) {
    slot_release(s);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot build a %zu-byte message: %s", len,
                      nng_strerror(rv));
  }
  s->method = md;
  memcpy(s->rid, rid, sizeof(rid));
  s->deadline_ms = deadline;
  s->attempt_timeout_ms = copts->attempt_timeout_ms > 0 ? copts->attempt_timeout_ms
                                                        : c->attempt_timeout_ms;
  s->max_attempts = copts->max_attempts ? copts->max_attempts : c->max_attempts;
  s->attempts = 0;
  s->sent = false;
  s->done = done;
  s->done_arg = arg;
  start_attempt(s);
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
