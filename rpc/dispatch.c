/*
 * dispatch.c - from request bytes to a handler, and from the handler's
 * answer to reply bytes; no sockets here.
 *
 * The idea: one function, rpc__dispatch, owns every check a request passes
 * (server.h lists them in order) and the life of a call, and writes its
 * reply to a sink. The nng server's sink sends on a REP context; the sink of
 * rpc_server_handle hands bytes back to its caller, which is how the fuzzer
 * and the unit tests drive exactly the code the network does.
 *
 * A call may be completed by its handler at once, later from another thread,
 * or - when the server stops first - be abandoned. Which of these happens
 * first is decided by one compare-and-swap on call->state; whoever moves it
 * off PENDING owns the reply, and an abandoned call is freed by the handler's
 * late completion without touching the (possibly freed) server.
 *
 * Language: a refusal the server itself writes has two texts (rpc_refusal):
 * the operator's log line, in English, and the caller's message, in the
 * language of the request (RequestEnvelope.locale; the process's own when
 * the envelope does not decode). The log names the method and the caller's
 * principal id only - never what the request carried.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "core/pb.h"
#include "rpc/internal.h"

/* --- Replies --- */

/* A refusal's two texts: log, the English source for the operator's log;
 * say, the same in the thread's language (the caller's), for the reply. */
typedef struct rpc_refusal {
  char log[256];
  char say[256];
} rpc_refusal;

/* Writes fmt into r->log as it is and its translation into r->say, with
 * the same arguments; fmt is an N_() text. */
static void refusal_set(rpc_refusal *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refusal_set(rpc_refusal *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->log, sizeof(r->log), fmt, ap);
  va_end(ap);
  va_start(ap, fmt);
  vsnprintf(r->say, sizeof(r->say), _(fmt), ap);
  va_end(ap);
}

/* unproven: refused before its caller was proven (garbage, an unknown
 * caller, a bad signature; not an unknown session, which every client meets
 * after a restart and must hear about). */
static void reply_refusal_to(rpc_sink sink, const ProtobufCBinaryData *request_id, mc_code code,
                             const char *message, bool session_unknown, bool unproven,
                             const rpc_redirect *redirect) {
  Mediation__V1__ReplyEnvelope reply = MEDIATION__V1__REPLY_ENVELOPE__INIT;
  if (request_id != NULL)
    reply.request_id = *request_id;
  reply.code = (Mediation__V1__StatusCode)code;
  reply.message = (char *)(message ? message : "");
  reply.session_unknown = session_unknown;
  if (redirect != NULL) { /* step 8b: where the leader is */
    reply.leader_id = redirect->leader_id;
    reply.leader_endpoint = (char *)redirect->leader_endpoint;
  }
  sink.fn(sink.arg, &reply, unproven);
}

static void reply_refusal(rpc_sink sink, const ProtobufCBinaryData *request_id, mc_code code,
                          const char *message, bool session_unknown, bool unproven) {
  reply_refusal_to(sink, request_id, code, message, session_unknown, unproven, NULL);
}

void rpc__reply_status(rpc_server *srv, rpc_sink sink, const ProtobufCBinaryData *request_id,
                       mc_code code, const char *message) {
  (void)srv;
  reply_refusal(sink, request_id, code, message, false, false);
}

static void call_free(rpc_call *call) {
  if (call->input != NULL)
    protobuf_c_message_free_unpacked(call->input, NULL);
  if (call->env != NULL)
    mediation__v1__request_envelope__free_unpacked(call->env, NULL);
  free(call);
}

static void pending_unlink(rpc_server *srv, rpc_call *call) {
  pthread_mutex_lock(&srv->mtx);
  call->prev->next = call->next;
  call->next->prev = call->prev;
  call->prev = call->next = call;
  pthread_mutex_unlock(&srv->mtx);
}

/* Claims a call for completion: exactly one completion wins. An abandoned
 * call (the server already answered UNAVAILABLE) is only freed. */
static bool call_claim(rpc_call *call) {
  int expected = RPC_CALL_PENDING;
  if (!atomic_compare_exchange_strong(&call->state, &expected, RPC_CALL_DONE)) {
    if (expected == RPC_CALL_ABANDONED)
      call_free(call);
    else
      mc_log(MC_LOG_ERR, NULL, "rpc: a handler completed a call twice; the second reply "
             "is dropped (the call pointer is invalid after the first)");
    return false;
  }
  /* Unlinked before the reply goes out: once it has, stop() may finish and
   * free the server. */
  pending_unlink(call->srv, call);
  return true;
}

/* Sends a claimed call's reply: code with why, or OK with payload (packed
 * output message, len bytes), and frees the call. */
/* The largest reply call's caller can read: the server's limit, or the
 * caller's when smaller (RequestEnvelope.max_reply_bytes). */
static size_t reply_limit(const rpc_call *call) {
  size_t own = call->srv->max_message_bytes;
  uint64_t theirs = call->env->max_reply_bytes;
  return theirs != 0 && theirs < own ? (size_t)theirs : own;
}

static void call_send(rpc_call *call, mc_code code, const char *why, const uint8_t *payload,
                      size_t len) {
  Mediation__V1__ReplyEnvelope reply = MEDIATION__V1__REPLY_ENVELOPE__INIT;
  reply.request_id = call->env->request_id;
  char text[256];
  snprintf(text, sizeof(text), "%s", why ? why : "");
  if (code == MC_OK) {
    reply.payload.data = (uint8_t *)payload;
    reply.payload.len = len;
    if (mediation__v1__reply_envelope__get_packed_size(&reply) > reply_limit(call)) {
      code = MC_RESOURCE_EXHAUSTED;
      snprintf(text, sizeof(text),
               _("%.100s: the reply is too large: over max_message_bytes %zu; ask for less (a "
                 "smaller page)"),
               call->full_method, reply_limit(call));
      reply.payload.data = NULL;
      reply.payload.len = 0;
    }
  }
  reply.code = (Mediation__V1__StatusCode)code;
  reply.message = code == MC_OK ? "" : text;
  rpc_sink sink = call->sink;
  sink.fn(sink.arg, &reply, false);
  call_free(call);
}

/* Completes a call: OK with out (packed here), or code with text. */
static void call_complete(rpc_call *call, mc_code code, const char *text,
                          const ProtobufCMessage *out) {
  if (!call_claim(call))
    return;
  rpc_server *srv = call->srv;
  uint8_t *payload = NULL;
  size_t n = 0;
  rpc_refusal why = {"", ""};
  if (code == MC_OK) {
    const ProtobufCMessageDescriptor *want = call->method->output;
    if (out == NULL) {
      code = MC_INTERNAL;
      refusal_set(&why, N_("%.120s: the handler replied without a message"), call->full_method);
    } else if (out->descriptor != want) {
      code = MC_INTERNAL;
      refusal_set(&why, N_("%.100s: the handler replied with %.60s, not %.60s"),
                  call->full_method, out->descriptor->name, want->name);
    } else if (!protobuf_c_message_check(out)) {
      code = MC_INTERNAL;
      refusal_set(&why, N_("%.120s: the handler's reply lacks a required field"),
                  call->full_method);
    } else if ((n = protobuf_c_message_get_packed_size(out)) > reply_limit(call)) {
      /* Refuse before packing what could never be sent, or read. */
      code = MC_RESOURCE_EXHAUSTED;
      if (reply_limit(call) < srv->max_message_bytes)
        refusal_set(&why,
                    N_("%.100s: the reply is too large: %zu bytes, over max_message_bytes %zu "
                       "(the caller's); ask for less (a smaller page)"),
                    call->full_method, n, reply_limit(call));
      else
        refusal_set(&why,
                    N_("%.100s: the reply is too large: %zu bytes, over max_message_bytes %zu; "
                       "ask for less (a smaller page)"),
                    call->full_method, n, reply_limit(call));
    } else if ((payload = malloc(n ? n : 1)) == NULL) {
      code = MC_UNAVAILABLE;
      refusal_set(&why, N_("%.120s: out of memory for the reply"), call->full_method);
    } else {
      protobuf_c_message_pack(out, payload);
    }
    if (code == MC_INTERNAL)
      mc_log(MC_LOG_ERR, NULL, "rpc: %s", why.log);
  } else {
    snprintf(why.say, sizeof(why.say), "%s", text ? text : "");
  }
  call_send(call, code, why.say, payload, n);
  free(payload);
}

void rpc_call_reply_packed(rpc_call *call, const uint8_t *payload, size_t len) {
  if (!call_claim(call))
    return;
  call_send(call, MC_OK, NULL, payload, len);
}

static void call_closure(const ProtobufCMessage *msg, void *closure_data) {
  call_complete(closure_data, MC_OK, NULL, msg);
}

void rpc_call_reply(rpc_call *call, const ProtobufCMessage *msg) {
  call_complete(call, MC_OK, NULL, msg);
}

void rpc_call_fail(rpc_call *call, mc_code code, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  if (code == MC_OK || (unsigned)code >= MC_CODE_COUNT) {
    mc_log(MC_LOG_ERR, NULL, "rpc: %s failed with code %d, which is not a refusal",
           call->full_method, (int)code);
    code = MC_INTERNAL;
  }
  call_complete(call, code, text, NULL);
}

void rpc_call_fail_err(rpc_call *call, const mc_err *err) {
  if (err == NULL)
    rpc_call_fail(call, MC_INTERNAL, "%s", _("failed without an error"));
  else
    rpc_call_fail(call, err->code, "%s", err->msg);
}

const mc_principal *rpc_call_caller(const rpc_call *call) { return call->caller; }

const uint8_t *rpc_call_request_id(const rpc_call *call) { return call->env->request_id.data; }

int64_t rpc_call_deadline_ms(const rpc_call *call) { return call->env->deadline_ms; }

const char *rpc_call_method(const rpc_call *call) { return call->full_method; }

/* --- Dispatch --- */

ProtobufCService *rpc__find_service(rpc_server *srv, const char *name) {
  for (size_t i = 0; i < srv->n_services; i++)
    if (strcmp(srv->services[i]->descriptor->name, name) == 0)
      return srv->services[i];
  return NULL;
}

static const char *kind_name(mc_principal_kind k) {
  switch (k) {
  case MC_PRINCIPAL_UNIT: return "unit";
  case MC_PRINCIPAL_COORDINATOR: return "coordinator";
  case MC_PRINCIPAL_OPERATOR: return "operator";
  }
  return "principal"; /* the registry's section names, as the caller's config spells them */
}

/* Step 6. On refusal, writes why: the accept callback's message, or ours. */
static bool accepted(rpc_server *srv, const mc_principal *p, const char *service,
                     const char *method, rpc_refusal *why) {
  const char *refusal = NULL;
  bool ok = (srv->accept_kinds == 0 || (srv->accept_kinds & RPC_ACCEPT_KIND(p->kind))) &&
            (srv->accept_unit == NULL ||
             (p->unit != NULL && strcmp(p->unit, srv->accept_unit) == 0)) &&
            (srv->accept == NULL || srv->accept(srv->accept_arg, p, service, method, &refusal));
  if (ok)
    return true;
  if (refusal != NULL) { /* an N_() text of the accept callback's table */
    snprintf(why->log, sizeof(why->log), "%s", refusal);
    snprintf(why->say, sizeof(why->say), "%s", _(refusal));
  } else {
    refusal_set(why, N_("%s \"%.64s\" may not call %.64s/%.64s on this server"),
                kind_name(p->kind), p->id, service, method);
  }
  return false;
}

bool rpc__log_allowed(rpc_log_limit *l, int per_second, const char *what) {
  long long sec = (long long)(mc_mono_ms() / 1000);
  if (atomic_exchange(&l->window, sec) != sec) {
    int left_out = atomic_exchange(&l->suppressed, 0);
    atomic_store(&l->count, 0);
    if (left_out > 0)
      mc_log(MC_LOG_WARNING, NULL, "rpc: %d more %s, not logged", left_out, what);
  }
  if (atomic_fetch_add(&l->count, 1) < per_second)
    return true;
  atomic_fetch_add(&l->suppressed, 1);
  return false;
}

/* Refusals of unauthenticated requests are worth a warning, but a hostile
 * peer must not be able to flood the log: at most 10 a second, then one
 * line saying how many were left out. Races only blur the count. */
static bool warn_allowed(void) {
  static rpc_log_limit limit;
  return rpc__log_allowed(&limit, 10, "unauthenticated requests refused");
}

/* Step 3 after the registry lookup: the request's proof, a signature or a
 * session MAC. Writes why and returns the refusal; sets *session_unknown
 * when the client should open a new session and send again, *by_session
 * when the request was MAC'd, *proven when it verified. */
static mc_code authenticate(rpc_server *srv, const Mediation__V1__RequestEnvelope *env,
                            const mc_principal *caller, bool *by_session, bool *session_unknown,
                            bool *proven, rpc_refusal *why) {
  mc_err err = {0};
  bool session = env->session_id.len > 0 || env->mac.len > 0;
  if (session && env->signature.len > 0) {
    refusal_set(why,
                N_("envelope: a request carries a signature or a session_id and mac, not both"));
    return MC_INVALID_ARGUMENT;
  }
  if (!session) {
    mc_code rc = rpc_request_verify(caller->public_key, env, &err);
    if (rc != MC_OK) {
      /* The log keeps identity.c's exact English; the caller hears which
       * part failed in its language. */
      snprintf(why->log, sizeof(why->log), "caller \"%.64s\": %.170s", env->caller, err.msg);
      if (rc == MC_UNAVAILABLE)
        snprintf(why->say, sizeof(why->say), _("out of memory checking the signature; retry"));
      else if (env->signature.len != RPC_SIGNATURE_BYTES)
        snprintf(why->say, sizeof(why->say),
                 _("caller \"%.64s\": the signature must be %d bytes, not %zu"), env->caller,
                 RPC_SIGNATURE_BYTES, env->signature.len);
      else
        snprintf(why->say, sizeof(why->say),
                 _("caller \"%.64s\": the request's signature does not verify with the "
                   "registry's public key (a wrong key file, or the request was changed)"),
                 env->caller);
      /* Out of memory proves nothing either way: "send it again". */
      return rc == MC_UNAVAILABLE ? rc : MC_UNAUTHENTICATED;
    }
    atomic_fetch_add_explicit(&srv->by_signature, 1, memory_order_relaxed);
    *proven = true;
    return MC_OK;
  }
  if (env->session_id.len != RPC_SESSION_ID_BYTES) {
    refusal_set(why, N_("caller \"%.64s\": session_id must be %d bytes, not %zu"), env->caller,
                RPC_SESSION_ID_BYTES, env->session_id.len);
    return MC_UNAUTHENTICATED;
  }
  uint8_t key[RPC_SESSION_KEY_BYTES];
  switch (rpc__sessions_key(srv->sessions, env->session_id.data, caller, key)) {
  case RPC_SESSION_UNKNOWN:
    *session_unknown = true;
    refusal_set(why,
                N_("caller \"%.64s\": no such session here (it expired, or the server "
                   "restarted); open a new one with RpcSession/Open and send the request again"),
                env->caller);
    return MC_UNAUTHENTICATED;
  case RPC_SESSION_NOT_CALLERS:
    refusal_set(why, N_("caller \"%.64s\": the session belongs to another principal"),
                env->caller);
    return MC_UNAUTHENTICATED;
  case RPC_SESSION_FOUND:
    break;
  }
  mc_code rc = rpc_request_verify_mac(key, env, &err);
  sodium_memzero(key, sizeof(key));
  if (rc != MC_OK) {
    snprintf(why->log, sizeof(why->log), "caller \"%.64s\": %.170s", env->caller, err.msg);
    if (rc == MC_UNAVAILABLE)
      snprintf(why->say, sizeof(why->say), _("out of memory checking the signature; retry"));
    else if (env->mac.len != RPC_MAC_BYTES)
      snprintf(why->say, sizeof(why->say), _("caller \"%.64s\": the mac must be %d bytes, not %zu"),
               env->caller, RPC_MAC_BYTES, env->mac.len);
    else
      snprintf(why->say, sizeof(why->say),
               _("caller \"%.64s\": the request's mac does not verify with the session key"),
               env->caller);
    return rc == MC_UNAVAILABLE ? rc : MC_UNAUTHENTICATED;
  }
  *by_session = true;
  *proven = true;
  atomic_fetch_add_explicit(&srv->by_mac, 1, memory_order_relaxed);
  return MC_OK;
}

/* Step 8b: the here callback (rpc_here_fn), for every service but rpc's
 * built-ins. On false, *redirect is filled (why never NULL). */
static bool runs_here(rpc_server *srv, const Mediation__V1__RequestEnvelope *env,
                      const ProtobufCService *service, rpc_redirect *redirect) {
  if (srv->here == NULL || service == &srv->health.base || service == &srv->reflection.base ||
      service == &srv->session_service.base)
    return true;
  uint32_t callers = 0;
  rpc_access access = RPC_ACCESS_UNSPECIFIED;
  if (srv->describe != NULL &&
      !srv->describe(srv->accept_arg, env->service, env->method, &callers, &access))
    access = RPC_ACCESS_UNSPECIFIED;
  memset(redirect, 0, sizeof(*redirect));
  if (srv->here(srv->here_arg, env->service, env->method, access, env->stale_ok, redirect))
    return true;
  if (redirect->why == NULL)
    redirect->why = N_("this server does not run that method now; send it again to another");
  return false;
}

/* Steps 7 to 9, for a caller accepted: the service and method, the server
 * not stopping, the payload. Sets *input (owned by the caller) on MC_OK;
 * else writes why. */
static mc_code find_method(rpc_server *srv, const Mediation__V1__RequestEnvelope *env,
                           ProtobufCService **service, const ProtobufCMethodDescriptor **method,
                           ProtobufCMessage **input, rpc_refusal *why, rpc_redirect *redirect) {
  mc_err err = {0};
  if ((*service = rpc__find_service(srv, env->service)) == NULL) {
    refusal_set(why, N_("no service \"%.100s\" here (Reflection/ListServices lists them)"),
                env->service);
    return MC_UNIMPLEMENTED;
  }
  *method = protobuf_c_service_descriptor_get_method_by_name((*service)->descriptor, env->method);
  if (*method == NULL) {
    refusal_set(why, N_("service %.100s has no method \"%.100s\""), env->service, env->method);
    return MC_UNIMPLEMENTED;
  }
  pthread_mutex_lock(&srv->mtx);
  bool stopping = srv->stopping;
  pthread_mutex_unlock(&srv->mtx);
  if (stopping && *service != &srv->health.base) {
    refusal_set(why, N_("the server is stopping; retry later or elsewhere"));
    return MC_UNAVAILABLE;
  }
  if (!runs_here(srv, env, *service, redirect)) { /* step 8b */
    snprintf(why->log, sizeof(why->log), "%s", redirect->why);
    snprintf(why->say, sizeof(why->say), "%s", _(redirect->why));
    return MC_UNAVAILABLE;
  }
  const ProtobufCMessageDescriptor *in = (*method)->input;
  if (mc_wire_check(in, env->payload.data, env->payload.len, &srv->payload_limits, &err) !=
      MC_OK) {
    /* mc_wire_check's text is the contract's (field numbers and lengths). */
    refusal_set(why, N_("payload (%.60s): %.180s"), in->name, err.msg);
    return MC_INVALID_ARGUMENT;
  }
  bool oom = false;
  *input = mc_pb_unpack(in, env->payload.len, env->payload.data, &oom);
  if (*input == NULL && oom) { /* not the request's fault: send it again */
    refusal_set(why, N_("out of memory decoding the payload; retry"));
    return MC_UNAVAILABLE;
  }
  if (*input == NULL) {
    refusal_set(why,
                N_("payload: does not decode as %s (a required field missing or a wrong type)"),
                in->name);
    return MC_INVALID_ARGUMENT;
  }
  return MC_OK;
}

/* The request envelope in data, unpacked (the caller frees it with
 * mediation__v1__request_envelope__free_unpacked); or NULL, refused to sink
 * already: over the size limit, failing the wire check, or not decoding. */
static Mediation__V1__RequestEnvelope *unpack_envelope(rpc_server *srv, const uint8_t *data,
                                                       size_t len, rpc_sink sink) {
  rpc_refusal why;
  mc_err err = {0};
  /* Nothing of the envelope is known yet, its locale neither: these are
   * in the process's language. */
  if (len > srv->max_message_bytes) {
    refusal_set(&why,
                N_("request of %zu bytes is over max_message_bytes %zu ([limits]); send less per "
                   "request"),
                len, srv->max_message_bytes);
    reply_refusal(sink, NULL, MC_RESOURCE_EXHAUSTED, why.say, false, true);
    return NULL;
  }
  /* The envelope is hostile until checked: wire check first (UTF-8, NUL,
   * lengths, framing), then unpack. */
  if (mc_wire_check(&mediation__v1__request_envelope__descriptor, data, len, &srv->env_limits,
                    &err) != MC_OK) {
    refusal_set(&why, N_("envelope: %.200s"), err.msg);
    mc_log(MC_LOG_DEBUG, NULL, "rpc: refused a request: %s", why.log);
    reply_refusal(sink, NULL, MC_INVALID_ARGUMENT, why.say, false, true);
    return NULL;
  }
  bool oom = false;
  Mediation__V1__RequestEnvelope *env = (Mediation__V1__RequestEnvelope *)mc_pb_unpack(
      &mediation__v1__request_envelope__descriptor, len, data, &oom);
  if (env == NULL && oom)
    reply_refusal(sink, NULL, MC_UNAVAILABLE, _("out of memory decoding the envelope; retry"),
                  false, false);
  else if (env == NULL)
    reply_refusal(sink, NULL, MC_INVALID_ARGUMENT,
                  _("envelope: does not decode as mediation.v1.RequestEnvelope"), false, true);
  return env;
}

/* Refuses the request in env with code and why, and frees env. */
static void refuse_request(rpc_sink sink, Mediation__V1__RequestEnvelope *env, mc_code code,
                           const rpc_refusal *why, bool session_unknown, bool proven,
                           const rpc_redirect *redirect) {
  /* An unknown session is routine (every client meets one after a
   * restart) and is not worth a warning; other failed proofs are. */
  if (code != MC_UNAUTHENTICATED || session_unknown)
    mc_log(MC_LOG_DEBUG, NULL, "rpc: refused %.64s/%.64s: %s", env->service, env->method,
           why->log);
  else if (warn_allowed())
    mc_log(MC_LOG_WARNING, NULL, "rpc: refused %.64s/%.64s: %s", env->service, env->method,
           why->log);
  reply_refusal_to(sink, &env->request_id, code, why->say, session_unknown,
                   !proven && !session_unknown, redirect);
  mediation__v1__request_envelope__free_unpacked(env, NULL);
}

/* Puts call on the pending list and hands it to its handler, which owns it
 * from then until it completes it. */
static void start_call(rpc_server *srv, rpc_call *call) {
  snprintf(call->full_method, sizeof(call->full_method), "%s/%s",
           call->service->descriptor->name, call->method->name);
  pthread_mutex_lock(&srv->mtx);
  call->next = &srv->pending;
  call->prev = srv->pending.prev;
  srv->pending.prev->next = call;
  srv->pending.prev = call;
  pthread_mutex_unlock(&srv->mtx);

  ProtobufCService *service = call->service;
  unsigned index = (unsigned)(call->method - service->descriptor->methods);
  service->invoke(service, index, call->input, call_closure, call);
}

static void dispatch_envelope(rpc_server *srv, Mediation__V1__RequestEnvelope *env,
                              rpc_sink sink);

/* The request's checks and its handler run in the caller's language
 * (RequestEnvelope.locale): whatever message they write is in it. A
 * handler that completes the call later, from another thread, writes in
 * that thread's language; the router's writer switches to the call's
 * (rpc_call_locale). */
void rpc__dispatch(rpc_server *srv, const uint8_t *data, size_t len, rpc_sink sink) {
  Mediation__V1__RequestEnvelope *env = unpack_envelope(srv, data, len, sink);
  if (env == NULL)
    return;
  locale_t previous = mc_i18n_use(env->locale);
  dispatch_envelope(srv, env, sink);
  mc_i18n_restore(previous);
}

static void dispatch_envelope(rpc_server *srv, Mediation__V1__RequestEnvelope *env,
                              rpc_sink sink) {
  rpc_refusal why;
  rpc_redirect redirect = {0};
  mc_code code = MC_OK;
  bool by_session = false, session_unknown = false, proven = false;
  const mc_principal *caller = NULL;
  ProtobufCService *service = NULL;
  const ProtobufCMethodDescriptor *method = NULL;
  ProtobufCMessage *input = NULL;
  int64_t now = mc_now_ms();

  if (env->request_id.len != RPC_REQUEST_ID_BYTES) {
    code = MC_INVALID_ARGUMENT;
    refusal_set(&why, N_("envelope: request_id must be %d bytes, not %zu"), RPC_REQUEST_ID_BYTES,
                env->request_id.len);
  } else if ((caller = mc_registry_principal(srv->reg, env->caller)) == NULL) {
    code = MC_UNAUTHENTICATED;
    refusal_set(&why, N_("unknown caller \"%.64s\": not a principal in the registry"),
                env->caller);
  } else if ((code = authenticate(srv, env, caller, &by_session, &session_unknown, &proven,
                                  &why)) != MC_OK) {
    /* why is written */
  } else if (env->deadline_ms <= now) {
    code = MC_DEADLINE_EXCEEDED;
    /* Unsigned: a hostile deadline (INT64_MIN) must not overflow. */
    refusal_set(&why, N_("the deadline passed %llu ms ago; the request was not run"),
                (unsigned long long)((uint64_t)now - (uint64_t)env->deadline_ms));
  } else if (env->deadline_ms - now > srv->max_deadline_ahead_ms) {
    code = MC_INVALID_ARGUMENT;
    refusal_set(&why,
                N_("deadline_ms is %lld ms ahead; at most %lld is allowed "
                   "([limits] max_deadline_ahead_seconds): use a shorter timeout"),
                (long long)(env->deadline_ms - now), (long long)srv->max_deadline_ahead_ms);
  } else if (!accepted(srv, caller, env->service, env->method, &why)) {
    code = MC_PERMISSION_DENIED;
  } else {
    code = find_method(srv, env, &service, &method, &input, &why, &redirect);
  }
  if (code != MC_OK) {
    refuse_request(sink, env, code, &why, session_unknown, proven,
                   redirect.why != NULL ? &redirect : NULL);
    return;
  }

  rpc_call *call = calloc(1, sizeof(*call));
  if (call == NULL) {
    rpc__reply_status(srv, sink, &env->request_id, MC_UNAVAILABLE,
                      _("the server is out of memory"));
    protobuf_c_message_free_unpacked(input, NULL);
    mediation__v1__request_envelope__free_unpacked(env, NULL);
    return;
  }
  call->srv = srv;
  call->env = env;
  call->input = input;
  call->service = service;
  call->method = method;
  call->caller = caller;
  call->by_session = by_session;
  call->sink = sink;
  atomic_init(&call->state, RPC_CALL_PENDING);
  start_call(srv, call);
}

void rpc__abandon_pending(rpc_server *srv) {
  typedef struct {
    rpc_sink sink;
    uint8_t rid[RPC_REQUEST_ID_BYTES];
  } orphan;
  pthread_mutex_lock(&srv->mtx);
  size_t n = 0;
  for (rpc_call *c = srv->pending.next; c != &srv->pending; c = c->next)
    n++;
  orphan *list = n ? calloc(n, sizeof(*list)) : NULL;
  size_t k = 0;
  rpc_call *c = srv->pending.next;
  while (c != &srv->pending && list != NULL) {
    rpc_call *next = c->next;
    /* Copy what the reply needs before the CAS: from the moment it
     * succeeds, the handler may free the call. */
    list[k].sink = c->sink;
    memcpy(list[k].rid, c->env->request_id.data, RPC_REQUEST_ID_BYTES);
    int expected = RPC_CALL_PENDING;
    if (atomic_compare_exchange_strong(&c->state, &expected, RPC_CALL_ABANDONED)) {
      c->prev->next = c->next;
      c->next->prev = c->prev;
      k++;
    }
    c = next;
  }
  pthread_mutex_unlock(&srv->mtx);
  if (n > 0 && list == NULL) {
    mc_log(MC_LOG_ERR, NULL, "rpc: out of memory abandoning %zu calls at stop", n);
    return;
  }
  for (size_t i = 0; i < k; i++) {
    ProtobufCBinaryData rid = {RPC_REQUEST_ID_BYTES, list[i].rid};
    rpc__reply_status(srv, list[i].sink, &rid, MC_UNAVAILABLE,
                      _("the server stopped before the handler replied; retry with the same "
                        "request id"));
  }
  if (k > 0)
    mc_log(MC_LOG_NOTICE, NULL, "rpc: answered %zu unfinished calls UNAVAILABLE at stop", k);
  free(list);
}

/* --- In-flight accounting --- */

void rpc__inflight_add(rpc_server *srv) {
  pthread_mutex_lock(&srv->mtx);
  srv->inflight++;
  pthread_mutex_unlock(&srv->mtx);
}

void rpc__inflight_done(rpc_server *srv) {
  pthread_mutex_lock(&srv->mtx);
  srv->inflight--;
  if (srv->inflight == 0)
    pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->mtx);
}

bool rpc__wait_idle(rpc_server *srv, int64_t until_mono_ms) {
  pthread_mutex_lock(&srv->mtx);
  while (srv->inflight > 0) {
    int64_t left = until_mono_ms - mc_mono_ms();
    if (left <= 0)
      break;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (left % 1000) * 1000000;
    ts.tv_sec += (time_t)(left / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&srv->cond, &srv->mtx, &ts);
  }
  bool idle = srv->inflight == 0;
  pthread_mutex_unlock(&srv->mtx);
  return idle;
}

/* --- Socket-free entry point --- */

typedef struct waiter {
  pthread_mutex_t mtx;
  pthread_cond_t cond;
  bool done;
  uint8_t *bytes;
  size_t len;
} waiter;

static void waiter_sink(void *arg, const Mediation__V1__ReplyEnvelope *reply, bool unproven) {
  (void)unproven;
  waiter *w = arg;
  size_t n = mediation__v1__reply_envelope__get_packed_size(reply);
  uint8_t *bytes = malloc(n ? n : 1);
  if (bytes != NULL)
    mediation__v1__reply_envelope__pack(reply, bytes);
  pthread_mutex_lock(&w->mtx);
  w->bytes = bytes;
  w->len = n;
  w->done = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mtx);
}

mc_code rpc_server_handle(rpc_server *srv, const uint8_t *request, size_t len, uint8_t **reply,
                          size_t *reply_len, mc_err *err) {
  waiter w = {.done = false};
  pthread_mutex_init(&w.mtx, NULL);
  pthread_cond_init(&w.cond, NULL);
  rpc__inflight_add(srv);
  rpc__dispatch(srv, request, len, (rpc_sink){waiter_sink, &w});
  pthread_mutex_lock(&w.mtx);
  while (!w.done)
    pthread_cond_wait(&w.cond, &w.mtx);
  pthread_mutex_unlock(&w.mtx);
  rpc__inflight_done(srv);
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.mtx);
  if (w.bytes == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for a reply");
  *reply = w.bytes;
  *reply_len = w.len;
  return MC_OK;
}

const char *rpc_call_locale(const rpc_call *call) {
  return call != NULL && call->env != NULL && call->env->locale != NULL ? call->env->locale : "";
}
