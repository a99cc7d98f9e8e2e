/*
 * client.c - the generic call: pack, authenticate, send on a REQ context,
 * retry, decode the reply (see client.h).
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
 * Sessions (identity.h). By default a client signs one RpcSession/Open and
 * MACs its requests under the session key: Ed25519 costs ~24 us to sign and
 * ~62 us to verify per request, a MAC about one. The session is the
 * client's, shared by every slot:
 *
 *   none ──(a call needs one)──► opening ──(Open OK)──► ready
 *     ▲                             │                    │ 3/4 of its life: one
 *     │                             │ refused            │ background Open renews
 *     │                             ▼                    │ it while it is still used
 *     │                      signing for a while         │
 *     └──── session_unknown (server restarted, expired, evicted) ◄┘
 *
 * One Open at a time, on a slot of its own (so it never waits behind the
 * calls that wait for it), signed like any request. Calls that need a
 * session while none is ready wait on a list, each with an nng sleep on its
 * slot's timer aio that ends at its deadline; the Open's completion takes the list
 * under the session lock and cancels those sleeps, and each call goes on
 * from its own callback. Whoever takes a call off the list owns it, so a
 * deadline and a wake-up never both move it. If the server refuses Open
 * (an older server without sessions, a full table, an admission rule),
 * calls sign instead, and Open is asked again a minute later. A reply with
 * session_unknown means the request was not run: the session is dropped, a
 * new one opened, and the same request (same id, same deadline) sent again
 * under it; a second such answer for one call makes it sign.
 *
 * Which status a failure becomes follows from that machine: if the request
 * never reached a connection before the deadline it was never delivered
 * (UNAVAILABLE, safe to retry at will); once it did, its outcome is unknown
 * (DEADLINE_EXCEEDED, retry with the same id).
 *
 * The keeper. nng's own timeouts end every call at its deadline, and the
 * dialer reconnects by itself - except when they do not: nng 1.5.2's dialer
 * stops for good when a connection closes during the SP handshake (a router
 * stopping or killed the moment a unit reconnects; docs/architecture.md,
 * "Traps"), and then no call ever reaches the server again. So each client
 * has one thread of its own, apart from nng's, which
 *   - ends a call that is still running RPC_CALL_GRACE_MS after its deadline
 *     (UNAVAILABLE or DEADLINE_EXCEEDED, as above): whichever of the keeper
 *     and the slot's own callbacks reports first, under c->mtx, reports; the
 *     slot goes back to the free list only when its callbacks end it, so a
 *     late nng completion never touches the next call on that slot;
 *   - replaces the dialer when nng's has given up: no open pipe, no connect
 *     outcome for REDIAL_QUIET_MS (a live dialer tries again within
 *     NNG_OPT_RECONNMAXT), and the last outcome was one that 1.5.2 counts as
 *     "other" errors (NNG_ECLOSED among them). That dialer holds nothing any
 *     more, so closing it cannot block.
 * It runs only on its own thread, so it may close and create dialers, which
 * an nng callback must not.
 */
#include <errno.h>
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

enum { S_FREE, S_SEND, S_RECV, S_WAIT };

/* How a waiting call goes on once the Open it waited for has ended. */
enum { WAKE_RETRY, WAKE_SIGN };

/* After the server refused RpcSession/Open: sign for this long, then ask
 * again. After a failed renewal: do not retry it sooner than this. */
#define SESSION_SIGN_MS 60000
#define RENEW_RETRY_MS 1000

/* The keeper (see the top of this file): a call still running this long
 * after its deadline is ended by the keeper; it looks this often; it checks
 * the dialer this often, and replaces one that has been quiet this long. */
#define RPC_CALL_GRACE_MS 500
#define KEEPER_TICK_MS 100
#define REDIAL_CHECK_MS 500
#define REDIAL_QUIET_MS 3000
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000

typedef struct slot slot;
struct slot {
  rpc_client *c;
  nng_aio *aio;
  nng_aio *timer; /* only ever sleeps: the wait for a session (see slot_go) */
  nng_ctx ctx;
  int state;    /* S_*: handed from thread to thread along with the aio */
  nng_msg *req; /* the envelope as authenticated last; each attempt sends a copy; owned */
  uint8_t *payload; /* the packed request message, for each (re)authentication; owned */
  size_t payload_len;
  const ProtobufCServiceDescriptor *service;
  const ProtobufCMethodDescriptor *method;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  int64_t deadline_ms; /* absolute Unix ms, as in the envelope */
  int64_t attempt_timeout_ms;
  unsigned attempts, max_attempts;
  _Atomic bool sent; /* some attempt was handed to a connection (read by the keeper) */
  _Atomic bool replied; /* the server answered (the Open slot: a refusal, not a lost request) */
  bool sign;      /* always sign this call: sessions off, the Open itself, or given up on */
  uint64_t sess_gen; /* the session the envelope was MAC'd under; 0: signed */
  unsigned renewals; /* times sent again because its session was unknown */
  bool waiting;      /* on c->waiters; under c->sess_mtx */
  int wake;          /* WAKE_*, set with waiting cleared; under c->sess_mtx */
  slot *next_wait;
  rpc_done_fn done;
  void *done_arg;
  slot *next_free;
  /* Under c->mtx: */
  bool busy;          /* taken for a call (or the Open), until slot_release */
  bool reported;      /* done was called (by the slot's callbacks or the keeper) */
  int64_t overdue_ms; /* Unix ms: the keeper ends the call after this */
  int64_t start_mono; /* when the call took the slot */
  size_t req_len;     /* bytes of the request as sent (END_OVERSIZE) */
  unsigned drops;     /* connections lost while it was out (END_OVERSIZE) */
};

/* Secrets live apart, in memory libsodium guards and wipes. */
typedef struct client_secrets {
  uint8_t key[RPC_SESSION_KEY_BYTES]; /* the session key */
  uint8_t eph_sk[RPC_KX_KEY_BYTES];   /* the pending Open's X25519 secret */
} client_secrets;

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
  _Atomic uint32_t dialer_id; /* the current nng_dialer; replaced by the keeper only */
  nng_tls_config *tls;        /* for tls+tcp://: each new dialer's; one reference, ours */
  slot *slots; /* n_slots for calls, then the Open's own */
  unsigned n_slots;
  slot *open_slot;
  atomic_int pipes; /* connections up now (pipe notifications) */
  atomic_uint pipes_lost; /* connections that went down (END_OVERSIZE) */

  pthread_mutex_t mtx; /* guards the free list, closing, and each slot's busy/reported/overdue_ms */
  pthread_cond_t cond; /* a slot was freed, or closing */
  slot *free_list;
  bool closing;

  pthread_t keeper;
  bool keeper_running;
  pthread_cond_t keeper_cond; /* closing */
  uint64_t redials;           /* dialers replaced (keeper thread only) */
  unsigned abandoned;         /* dialers left open on a pipe nng never reaped (keeper only) */
  /* Mono ms since when requests have waited for a connection and none was
   * taken; 0: the last send was taken. */
  _Atomic int64_t starved_since_mono;
  bool fail_when_refused; /* rpc_client_opts; read by the keeper */
  void (*on_tls_verdict)(void *arg, const char *why); /* rpc_client_opts; keeper only */
  void *on_tls_verdict_arg;
  /* TLS: the CA file and server name (copies), for the keeper's diagnosis
   * of failed handshakes (rpc__tls_probe): its verdict, under mtx, kept
   * until a connection comes up; probed once per run of failures. */
  char *tls_ca, *tls_name;
  bool tls_probed;     /* keeper only */
  char tls_diag[200];  /* "" or why the handshakes fail */

  /* The session. */
  bool sessions; /* false: every request signed (rpc_client_opts.sign_each_request) */
  pthread_mutex_t sess_mtx; /* guards what follows, and every slot's waiting/wake */
  bool sess_closing;
  bool opening;  /* an Open is in flight on open_slot */
  bool have;     /* a session: sid, secrets->key, gen, renew_at_ms, stale_at_ms */
  uint64_t gen;  /* counts sessions made; a call remembers which one MAC'd it */
  uint8_t sid[RPC_SESSION_ID_BYTES];
  int64_t renew_at_ms, stale_at_ms; /* Unix ms: open the next one / stop using this one */
  int64_t sign_until_mono;          /* the server refused Open: sign until then */
  int64_t renew_not_before_mono;    /* a renewal failed: not again before then */
  uint8_t open_pk[RPC_KX_KEY_BYTES]; /* the pending Open's X25519 public key */
  client_secrets *secrets;
  slot *waiters; /* calls waiting for the session, in arrival order */
  uint64_t opens; /* Opens started (rpc_client_session_opens) */
};

/* --- Envelopes --- */

void rpc_request_id_new(uint8_t id[RPC_REQUEST_ID_BYTES]) {
  uint64_t ms = (uint64_t)mc_now_ms();
  for (int i = 5; i >= 0; i--, ms >>= 8)
    id[i] = (uint8_t)ms;
  randombytes_buf(id + 6, RPC_REQUEST_ID_BYTES - 6);
}

/* How an envelope proves its caller: a signature by key, or a MAC under a
 * session key. */
typedef struct proof {
  const rpc_key *key;       /* sign with it, or NULL: MAC */
  const char *caller;       /* the principal, when MAC'd */
  const uint8_t *session_id;
  const uint8_t *session_key;
} proof;

/* The request packed into *out (malloc'd, caller frees). Errors:
 * INVALID_ARGUMENT (required field missing), RESOURCE_EXHAUSTED (bigger than
 * max_bytes, when not 0; out of memory). */
static mc_code pack_request(const char *service, const char *method,
                            const ProtobufCMessage *request, size_t max_bytes, uint8_t **out,
                            size_t *out_len, mc_err *err) {
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
  *out = payload;
  *out_len = payload_len;
  return MC_OK;
}

static void envelope_fields(Mediation__V1__RequestEnvelope *env, const char *service,
                            const char *method, const uint8_t *rid, int64_t deadline_ms,
                            const char *caller, const uint8_t *payload, size_t payload_len) {
  env->service = (char *)service;
  env->method = (char *)method;
  env->request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, (uint8_t *)rid};
  env->deadline_ms = deadline_ms;
  env->caller = (char *)caller;
  env->payload = (ProtobufCBinaryData){payload_len, (uint8_t *)payload};
}

/* The packed envelope's size if signed: the larger of the two proofs (a
 * signature is 64 bytes, session id and MAC 48), so a request that passes
 * this check fits either way. No crypto: the signature is a placeholder. */
static size_t envelope_size(const char *service, const char *method, const uint8_t *rid,
                            int64_t deadline_ms, const char *caller, size_t payload_len) {
  static const uint8_t zeros[RPC_SIGNATURE_BYTES];
  Mediation__V1__RequestEnvelope env = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  envelope_fields(&env, service, method, rid, deadline_ms, caller, NULL, payload_len);
  env.payload.data = (uint8_t *)zeros; /* get_packed_size reads only the length */
  env.signature = (ProtobufCBinaryData){sizeof(zeros), (uint8_t *)zeros};
  return mediation__v1__request_envelope__get_packed_size(&env);
}

/* Builds, authenticates and packs an envelope into *out (malloc'd). */
static mc_code build_envelope(const char *service, const char *method, const uint8_t *rid,
                              int64_t deadline_ms, const uint8_t *payload, size_t payload_len,
                              const proof *pf, size_t max_bytes, uint8_t **out, size_t *out_len,
                              mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  Mediation__V1__RequestEnvelope env = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  envelope_fields(&env, service, method, rid, deadline_ms,
                  pf->key != NULL ? rpc_key_principal(pf->key) : pf->caller, payload,
                  payload_len);
  uint8_t sig[RPC_SIGNATURE_BYTES], mac[RPC_MAC_BYTES];
  mc_code rc;
  if (pf->key != NULL) {
    rc = rpc_request_sign(pf->key, &env, sig, err);
    env.signature = (ProtobufCBinaryData){sizeof(sig), sig};
  } else {
    rc = rpc_request_mac(pf->session_key, &env, mac, err);
    env.session_id = (ProtobufCBinaryData){RPC_SESSION_ID_BYTES, (uint8_t *)pf->session_id};
    env.mac = (ProtobufCBinaryData){sizeof(mac), mac};
  }
  if (rc != MC_OK)
    return rc;
  size_t n = mediation__v1__request_envelope__get_packed_size(&env);
  if (max_bytes != 0 && n > max_bytes)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "request %s/%s is %zu bytes packed, over max_message_bytes %zu ([limits]); "
                      "send less per request",
                      service, method, n, max_bytes);
  uint8_t *buf = malloc(n);
  if (buf == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for a %zu-byte request", n);
  mediation__v1__request_envelope__pack(&env, buf);
  *out = buf;
  *out_len = n;
  return MC_OK;
}

static mc_code encode(const proof *pf, const char *service, const char *method,
                      const ProtobufCMessage *request, int64_t deadline_ms,
                      const uint8_t *request_id, size_t max_bytes, uint8_t **out, size_t *out_len,
                      mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  if (request_id != NULL)
    memcpy(rid, request_id, RPC_REQUEST_ID_BYTES);
  else
    rpc_request_id_new(rid);
  uint8_t *payload;
  size_t payload_len;
  mc_code rc = pack_request(service, method, request, max_bytes, &payload, &payload_len, err);
  if (rc != MC_OK)
    return rc;
  rc = build_envelope(service, method, rid, deadline_ms, payload, payload_len, pf, max_bytes, out,
                      out_len, err);
  free(payload);
  return rc;
}

mc_code rpc_request_encode(const rpc_key *key, const char *service, const char *method,
                           const ProtobufCMessage *request, int64_t deadline_ms,
                           const uint8_t *request_id, size_t max_bytes, uint8_t **out,
                           size_t *out_len, mc_err *err) {
  proof pf = {.key = key};
  return encode(&pf, service, method, request, deadline_ms, request_id, max_bytes, out, out_len,
                err);
}

mc_code rpc_request_encode_mac(const char *caller, const uint8_t session_id[RPC_SESSION_ID_BYTES],
                               const uint8_t session_key[RPC_SESSION_KEY_BYTES],
                               const char *service, const char *method,
                               const ProtobufCMessage *request, int64_t deadline_ms,
                               const uint8_t *request_id, size_t max_bytes, uint8_t **out,
                               size_t *out_len, mc_err *err) {
  if (caller == NULL || session_id == NULL || session_key == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "a caller, session id and key are needed");
  proof pf = {.caller = caller, .session_id = session_id, .session_key = session_key};
  return encode(&pf, service, method, request, deadline_ms, request_id, max_bytes, out, out_len,
                err);
}

/* --- Slots --- */

/* Marks s taken for a call (c->mtx held). */
static void slot_take(slot *s) {
  s->start_mono = mc_mono_ms();
  s->drops = 0;
  s->busy = true;
  s->reported = false;
  s->overdue_ms = 0;
}

/* Lets the keeper end s's call if it is still running RPC_CALL_GRACE_MS
 * after deadline_ms. Once s->done is set, before the call is started. */
static void slot_guard(slot *s, int64_t deadline_ms) {
  pthread_mutex_lock(&s->c->mtx);
  s->overdue_ms = deadline_ms + RPC_CALL_GRACE_MS;
  pthread_mutex_unlock(&s->c->mtx);
}

/* Frees the slot (the Open's own slot is never on the free list). True if
 * the call is still to be reported: the keeper has not done it. */
static bool slot_release(slot *s) {
  rpc_client *c = s->c;
  if (s->req != NULL) {
    nng_msg_free(s->req);
    s->req = NULL;
  }
  free(s->payload);
  s->payload = NULL;
  s->payload_len = 0;
  s->state = S_FREE;
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

/* Ends the call: frees the slot first (so done may start another call on
 * it), then reports, unless the keeper reported it already (the call was
 * overdue). Nothing of s is touched after the release. */
static void finish(slot *s, mc_code code, const char *text, ProtobufCMessage *reply) {
  rpc_done_fn done = s->done;
  void *arg = s->done_arg;
  if (slot_release(s))
    done(arg, code, text ? text : "", reply);
  else if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
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
  pthread_mutex_lock(&c->mtx);
  bool ended = s->reported; /* by the keeper, while it waited for a session */
  pthread_mutex_unlock(&c->mtx);
  if (ended) {
    finish(s, MC_CANCELLED, "ended by the client", NULL); /* reported already: frees only */
    return;
  }
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
  int64_t none = 0;
  atomic_compare_exchange_strong(&c->starved_since_mono, &none, mc_mono_ms());
  nng_ctx_send(s->ctx, s->aio);
}

/* Why no connection came up, from the dialer's statistics: nng 1.5.2 reports
 * failed connects and TLS handshakes nowhere else. Writes "" if unknown. */
/* Reads n of dialer d's counters (nng 1.5.2 stat names) from one snapshot
 * of nng's statistics into out (0 for one it does not have). False if the
 * dialer has no statistics (it is gone) or nng could not make them. */
/* The statistics scope of dialer id under st, or NULL. Not
 * nng_stat_find_dialer: in 1.5.2 it returns the first dialer's scope
 * whatever the id (nng_stat_find_scope recurses by name only), so a process
 * with several clients read another client's counts. */
static nng_stat *find_dialer_scope(nng_stat *st, uint32_t id) {
  for (; st != NULL; st = nng_stat_next(st)) {
    if (nng_stat_type(st) != NNG_STAT_SCOPE)
      continue;
    if (strcmp(nng_stat_name(st), "dialer") == 0) {
      for (nng_stat *k = nng_stat_child(st); k != NULL; k = nng_stat_next(k))
        if (strcmp(nng_stat_name(k), "id") == 0 && nng_stat_value(k) == id)
          return st;
      continue;
    }
    nng_stat *found = find_dialer_scope(nng_stat_child(st), id);
    if (found != NULL)
      return found;
  }
  return NULL;
}

static bool dialer_counters(nng_dialer d, const char *const names[], size_t n, uint64_t out[]) {
  nng_stat *all;
  if (nng_stats_get(&all) != 0)
    return false;
  nng_stat *ds = find_dialer_scope(all, d.id);
  for (size_t i = 0; i < n; i++) {
    nng_stat *st = ds != NULL ? nng_stat_find(ds, names[i]) : NULL;
    out[i] = st != NULL ? nng_stat_value(st) : 0;
  }
  nng_stats_free(all);
  return ds != NULL;
}

static void dial_diagnosis(rpc_client *c, char *buf, size_t cap);
static void no_connection_counts(rpc_client *c, char *text, size_t cap);

/* The UNAVAILABLE text for a call that found no connection by its deadline:
 * the TLS verdict if the keeper has one, else the dialer's counts. */
static void no_connection_text(rpc_client *c, char *text, size_t cap) {
  char diag[sizeof(c->tls_diag)];
  pthread_mutex_lock(&c->mtx);
  snprintf(diag, sizeof(diag), "%s", c->tls_diag);
  pthread_mutex_unlock(&c->mtx);
  if (diag[0] != '\0') {
    snprintf(text, cap, "TLS 配置错误 (TLS configuration error) with %.60s: %.140s", c->url, diag);
    return;
  }
  no_connection_counts(c, text, cap);
}

/* The log level of a call's "no connection": a TLS verdict was logged once
 * by the keeper already, and is not repeated for every call. */
static mc_log_level no_connection_level(const char *text) {
  return strncmp(text, "TLS ", 4) == 0 ? MC_LOG_DEBUG : MC_LOG_WARNING;
}

static void no_connection_counts(rpc_client *c, char *text, size_t cap) {
  char why[160];
  dial_diagnosis(c, why, sizeof(why));
  snprintf(text, cap, "could not reach %.100s before the deadline: no connection%.100s", c->url,
           why[0] ? why : " (nothing listening, or a failed TLS handshake)");
}

static void dial_diagnosis(rpc_client *c, char *buf, size_t cap) {
  static const char *const names[] = {"refused", "auth",       "proto", "timeout",
                                      "reject",  "disconnect", "other"};
  static const char *const what[] = {
      "refused",
      "failed authentication (TLS: check tls_ca and tls_server_name)",
      "protocol errors (TLS or not TLS on both sides?)",
      "timed out",
      "rejected",
      "dropped",
      "failed otherwise (TLS handshake?)",
  };
  enum { N = sizeof(names) / sizeof(names[0]) };
  uint64_t counts[N];
  buf[0] = '\0';
  if (!dialer_counters((nng_dialer){.id = atomic_load(&c->dialer_id)}, names, N, counts))
    return;
  size_t used = 0;
  for (size_t i = 0; i < N; i++) {
    if (counts[i] == 0 || used >= cap)
      continue;
    int w = snprintf(buf + used, cap - used, "%s%llu %s", used ? ", " : "; connects: ",
                     (unsigned long long)counts[i], what[i]);
    used += w > 0 ? (size_t)w : 0;
  }
}

/* --- Sessions (see the top of this file) --- */

static void open_start(rpc_client *c);

/* Makes s->req the envelope proven by pf and sends its first attempt. */
static void send_with(slot *s, const proof *pf) {
  rpc_client *c = s->c;
  uint8_t *bytes;
  size_t len;
  mc_err err = {0};
  mc_code rc = build_envelope(s->service->name, s->method->name, s->rid, s->deadline_ms,
                              s->payload, s->payload_len, pf, c->max_message_bytes, &bytes, &len,
                              &err);
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
      rc = mc_err_set(&err, MC_RESOURCE_EXHAUSTED, "cannot build a %zu-byte message: %s", len,
                      nng_strerror(rv));
  }
  if (rc != MC_OK) {
    finish(s, rc, err.msg, NULL);
    return;
  }
  start_attempt(s);
}

static void send_signed(slot *s) {
  s->sess_gen = 0;
  proof pf = {.key = s->c->key};
  send_with(s, &pf);
}

/* A call gave up waiting for a session at its deadline: nothing was sent
 * under this wait, so it is UNAVAILABLE unless an earlier attempt went out. */
static void wait_failed(slot *s) {
  rpc_client *c = s->c;
  char text[256];
  if (s->sent) {
    snprintf(text, sizeof(text),
             "%s: no new session before the deadline after the server forgot the old one; "
             "the request may have been applied: retry with the same request id",
             c->url);
    finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
  } else if (atomic_load(&c->pipes) == 0) {
    no_connection_text(c, text, sizeof(text));
    mc_log(no_connection_level(text), NULL, "rpc: %s", text);
    finish(s, MC_UNAVAILABLE, text, NULL);
  } else {
    snprintf(text, sizeof(text),
             "%.100s: no session before the deadline (RpcSession/Open not answered in time); "
             "the request was not sent",
             c->url);
    finish(s, MC_UNAVAILABLE, text, NULL);
  }
}

/* Proves s and sends it: a MAC under the session, or a signature; or, with
 * no session ready, puts s on the waiting list and makes sure an Open runs.
 * Called when a call starts, when a waiting call is woken, and when a
 * session turned out unknown to the server. */
static void slot_go(slot *s) {
  rpc_client *c = s->c;
  if (s->sign) {
    send_signed(s);
    return;
  }
  uint8_t sid[RPC_SESSION_ID_BYTES], key[RPC_SESSION_KEY_BYTES];
  uint64_t gen = 0;
  bool start_open = false, wait = false, too_late = false;
  pthread_mutex_lock(&c->sess_mtx);
  if (c->sess_closing) {
    pthread_mutex_unlock(&c->sess_mtx);
    finish(s, MC_CANCELLED, "the client was closed", NULL);
    return;
  }
  int64_t now = mc_now_ms(), mono = mc_mono_ms();
  if (s->wake == WAKE_SIGN) {
    s->wake = WAKE_RETRY; /* the Open this call waited for was refused: sign it */
  } else if (c->have && now < c->stale_at_ms) {
    gen = c->gen;
    memcpy(sid, c->sid, sizeof(sid));
    memcpy(key, c->secrets->key, sizeof(key));
    if (now >= c->renew_at_ms && !c->opening && mono >= c->renew_not_before_mono) {
      c->opening = true; /* renew in the background; this call uses the current one */
      start_open = true;
    }
  } else if (mono >= c->sign_until_mono) {
    int64_t left = s->deadline_ms - now;
    if (left <= 0) {
      too_late = true;
    } else {
      if (!c->opening) {
        c->opening = true;
        start_open = true;
      }
      s->waiting = true;
      s->wake = WAKE_RETRY;
      s->next_wait = NULL;
      slot **tail = &c->waiters;
      while (*tail != NULL)
        tail = &(*tail)->next_wait;
      *tail = s;
      s->state = S_WAIT;
      /* Under the lock, so that an Open ending now finds the sleep to
       * cancel; nng never runs the callback inline from here. On an aio of
       * its own: in nng 1.5.2, after nng_sleep_aio an aio's later timeouts
       * complete with result 0 instead of NNG_ETIMEDOUT (a_expire_ok
       * stays set), which would pass a timed-out receive off as a reply. */
      nng_sleep_aio(ms_duration(left), s->timer);
      wait = true;
    }
  }
  pthread_mutex_unlock(&c->sess_mtx);
  if (start_open)
    open_start(c);
  if (wait)
    return;
  if (too_late) {
    wait_failed(s);
  } else if (gen != 0) {
    proof pf = {.caller = rpc_key_principal(c->key), .session_id = sid, .session_key = key};
    s->sess_gen = gen;
    send_with(s, &pf);
  } else {
    send_signed(s);
  }
  sodium_memzero(key, sizeof(key));
}

/* Takes every waiting call off the list; each goes on from its timer's
 * callback (slot_go), as `wake` says (c->sess_mtx held). */
static void wake_waiters_locked(rpc_client *c, int wake) {
  for (slot *w = c->waiters; w != NULL;) {
    slot *next = w->next_wait;
    w->waiting = false;
    w->wake = wake;
    w->next_wait = NULL;
    nng_aio_cancel(w->timer); /* its callback goes on (slot_go) */
    w = next;
  }
  c->waiters = NULL;
}

/* The Open ended (on the Open slot's thread, on the thread that failed to
 * start it, or on the keeper's if nng never answered it). Installs the session, or decides what the waiting calls do
 * instead, and wakes them all. */
static void open_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  rpc_client *c = arg;
  bool replied = c->open_slot->replied;
  uint8_t sid[RPC_SESSION_ID_BYTES], key[RPC_SESSION_KEY_BYTES];
  int64_t expires_ms = 0;
  bool ok = false;
  char why[256];
  snprintf(why, sizeof(why), "%s", message);
  if (code == MC_OK) {
    const Mediation__V1__SessionOpenReply *r = (const Mediation__V1__SessionOpenReply *)reply;
    mc_err err = {0};
    if (r->session_id.len != RPC_SESSION_ID_BYTES ||
        r->server_public_key.len != RPC_KX_KEY_BYTES || r->expires_ms <= 0) {
      snprintf(why, sizeof(why), "a malformed SessionOpenReply");
    } else if (rpc_session_derive(c->secrets->eph_sk, true, c->open_pk,
                                  r->server_public_key.data, rpc_key_principal(c->key),
                                  r->session_id.data, key, &err) != MC_OK) {
      snprintf(why, sizeof(why), "%s", err.msg);
    } else {
      ok = true;
      memcpy(sid, r->session_id.data, sizeof(sid));
      expires_ms = r->expires_ms;
    }
    if (!ok) {
      code = MC_INTERNAL;
      mc_log(MC_LOG_ERR, NULL, "rpc: %s answered RpcSession/Open with %s", c->url, why);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  sodium_memzero(c->secrets->eph_sk, sizeof(c->secrets->eph_sk));
  int64_t now = mc_now_ms(), mono = mc_mono_ms();
  int wake = WAKE_RETRY;
  pthread_mutex_lock(&c->sess_mtx);
  c->opening = false;
  if (ok) {
    /* Renewed at 3/4 of its life; not used in its last 1/8 (at most 2 s),
     * so a request MAC'd with it does not reach the server after it. */
    int64_t life = expires_ms > now ? expires_ms - now : 0;
    c->have = true;
    c->gen++;
    memcpy(c->sid, sid, sizeof(sid));
    memcpy(c->secrets->key, key, sizeof(key));
    c->renew_at_ms = now + life * 3 / 4;
    c->stale_at_ms = expires_ms - (life / 8 < 2000 ? life / 8 : 2000);
    c->sign_until_mono = 0;
    c->renew_not_before_mono = 0;
  } else if (code == MC_CANCELLED || c->sess_closing) {
    /* The client is closing: the woken calls see it. */
  } else if (!replied && (code == MC_UNAVAILABLE || code == MC_DEADLINE_EXCEEDED) &&
             now >= c->open_slot->deadline_ms - 50) {
    /* No answer by the Open's deadline: nobody listening, or a slow or lost
     * reply. Waiting calls wait on, each until its own deadline, and the
     * first to go on starts a new Open; a renewal waits a moment before it
     * tries again. */
    c->renew_not_before_mono = mono + RENEW_RETRY_MS;
  } else if (code == MC_UNAVAILABLE || code == MC_DEADLINE_EXCEEDED) {
    /* The server is stopping, or the connection failed before the Open's
     * deadline: each call may as well try itself, signed, with its own
     * attempts and deadline (so a failing Open is never retried in a loop). */
    wake = WAKE_SIGN;
    c->renew_not_before_mono = mono + RENEW_RETRY_MS;
  } else {
    /* Refused - a server without sessions, a full session table, an
     * admission rule - or a failure here: sign for a while, then ask again. */
    wake = WAKE_SIGN;
    c->sign_until_mono = mono + SESSION_SIGN_MS;
    mc_log(MC_LOG_NOTICE, NULL,
           "rpc: no session with %s (%s: %s); requests are signed for the next %d s", c->url,
           mc_code_name(code), why, SESSION_SIGN_MS / 1000);
  }
  wake_waiters_locked(c, wake);
  pthread_mutex_unlock(&c->sess_mtx);
  sodium_memzero(key, sizeof(key));
}

/* Starts an Open on the Open slot; the caller has set c->opening. */
static void open_start(rpc_client *c) {
  slot *s = c->open_slot;
  mc_err err = {0};
  int64_t timeout = c->default_timeout_ms < c->max_deadline_ahead_ms ? c->default_timeout_ms
                                                                     : c->max_deadline_ahead_ms;
  int64_t deadline = mc_now_ms() + timeout;
  pthread_mutex_lock(&c->mtx);
  bool held = s->busy;
  if (!held)
    slot_take(s);
  pthread_mutex_unlock(&c->mtx);
  if (held) {
    /* The last Open was ended by the keeper and nng still holds its slot:
     * the waiting calls sign instead, until nng lets it go. */
    pthread_mutex_lock(&c->sess_mtx);
    c->opening = false;
    c->renew_not_before_mono = mc_mono_ms() + RENEW_RETRY_MS;
    wake_waiters_locked(c, WAKE_SIGN);
    pthread_mutex_unlock(&c->sess_mtx);
    return;
  }
  s->replied = false;
  mc_code rc = rpc_session_keypair(c->open_pk, c->secrets->eph_sk, &err);
  if (rc == MC_OK) {
    Mediation__V1__SessionOpenRequest req = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
    req.client_public_key = (ProtobufCBinaryData){RPC_KX_KEY_BYTES, c->open_pk};
    rc = pack_request(mediation__v1__rpc_session__descriptor.name, "Open", &req.base, 0,
                      &s->payload, &s->payload_len, &err);
  }
  if (rc != MC_OK) {
    s->done = open_done;
    s->done_arg = c;
    finish(s, rc, err.msg, NULL);
    return;
  }
  s->service = &mediation__v1__rpc_session__descriptor;
  s->method = protobuf_c_service_descriptor_get_method_by_name(s->service, "Open");
  rpc_request_id_new(s->rid);
  s->deadline_ms = deadline;
  s->attempt_timeout_ms = c->attempt_timeout_ms;
  s->max_attempts = c->max_attempts;
  s->attempts = 0;
  s->sent = false;
  s->sign = true;
  s->renewals = 0;
  s->done = open_done;
  s->done_arg = c;
  slot_guard(s, s->deadline_ms);
  send_signed(s);
}

static void decode_reply(slot *s, nng_msg *msg) {
  rpc_client *c = s->c;
  char text[320];
  mc_err err = {0};
  const uint8_t *body = nng_msg_body(msg);
  size_t len = nng_msg_len(msg);
  if (len > c->max_message_bytes) {
    snprintf(text, sizeof(text),
             "%s answered with %zu bytes, over max_message_bytes %zu ([limits]): is the server "
             "configured with a larger limit? Ask for less (a smaller page)",
             c->url, len, c->max_message_bytes);
    finish(s, MC_RESOURCE_EXHAUSTED, text, NULL);
    return;
  }
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
  s->replied = true;
  if (env->code == MV_STATUS(UNAUTHENTICATED) && env->session_unknown && s->sess_gen != 0 &&
      env->request_id.len == RPC_REQUEST_ID_BYTES &&
      memcmp(env->request_id.data, s->rid, RPC_REQUEST_ID_BYTES) == 0) {
    /* The server does not know the session (restarted, expired, evicted)
     * and did not run the request: drop the session (unless it was replaced
     * already), and send the same request under a new one; a second time
     * for one call, signed. */
    mediation__v1__reply_envelope__free_unpacked(env, NULL);
    pthread_mutex_lock(&c->sess_mtx);
    if (c->have && c->gen == s->sess_gen) {
      c->have = false;
      sodium_memzero(c->secrets->key, sizeof(c->secrets->key));
    }
    pthread_mutex_unlock(&c->sess_mtx);
    mc_log(MC_LOG_DEBUG, NULL, "rpc: %s does not know our session; opening a new one", c->url);
    if (++s->renewals > 1)
      s->sign = true;
    s->attempts--; /* refused before it ran: not one of the call's attempts */
    slot_go(s);
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
        no_connection_text(c, text, sizeof(text));
        mc_log(no_connection_level(text), NULL, "rpc: %s", text);
        finish(s, MC_UNAVAILABLE, text, NULL);
      } else {
        snprintf(text, sizeof(text), "cannot send to %s: %s", c->url, nng_strerror(rv));
        finish(s, MC_UNAVAILABLE, text, NULL);
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
    /* A request larger than any server reads (16 MiB; our limit is set
     * above it), dropped with its connection twice: the server's cap, not
     * chance. Sending it again would only repeat that. */
    if (rv == NNG_ECONNRESET && s->req_len > RPC_HARD_CAP_BYTES && ++s->drops >= 2) {
      snprintf(text, sizeof(text),
               "%.80s closed the connection on a %zu-byte request, over the 16 MiB any server "
               "reads (a smaller max_message_bytes there?): send less per request",
               c->url, s->req_len);
      finish(s, MC_RESOURCE_EXHAUSTED, text, NULL);
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

/* The end of a wait for a session: woken by the Open's end (taken off the
 * list already), by its deadline (still on it), or by the client closing. */
static void timer_cb(void *arg) {
  slot *s = arg;
  rpc_client *c = s->c;
  pthread_mutex_lock(&c->sess_mtx);
  bool expired = s->waiting;
  if (expired) {
    slot **link = &c->waiters;
    while (*link != s)
      link = &(*link)->next_wait;
    *link = s->next_wait;
    s->next_wait = NULL;
    s->waiting = false;
  }
  bool closed = c->sess_closing;
  pthread_mutex_unlock(&c->sess_mtx);
  if (closed)
    finish(s, MC_CANCELLED, "the client was closed", NULL);
  else if (expired)
    wait_failed(s);
  else
    slot_go(s);
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

/* --- The keeper (see the top of this file) --- */

/* Creates and starts (in the background) a dialer to c->url. */
static int dialer_open(rpc_client *c, nng_dialer *out) {
  nng_dialer d;
  int rv = nng_dialer_create(&d, c->sock, c->url);
  if (rv != 0)
    return rv;
  if (c->tls != NULL)
    rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls); /* before the dialer starts */
  if (rv == 0)
    rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
  /* An interactive client that fails fast on refusals tries again sooner:
   * a call that starts after a refusal waits for the next try. */
  if (rv == 0)
    rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT,
                           c->fail_when_refused ? RECONNECT_MAX_MS / 4 : RECONNECT_MAX_MS);
  /* Non-blocking: connect (and reconnect) in the background, so a unit can
   * start while the router is down; calls wait for a connection up to their
   * deadline. */
  if (rv == 0)
    rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
  if (rv != 0) {
    nng_dialer_close(d);
    return rv;
  }
  *out = d;
  return 0;
}

/* What the keeper knows of the current dialer. */
typedef struct dial_watch {
  uint32_t id;
  uint64_t outcomes; /* connects ended, however */
  uint64_t other;    /* of which "other errors" (NNG_ECLOSED among them in 1.5.2) */
  bool last_other;   /* the last change of outcomes came with one of those */
  int64_t quiet_since_mono;
} dial_watch;

enum { DIAL_OK, DIAL_DEAD, DIAL_STUCK };

/* Whether the dialer has given up, in one of the two ways nng 1.5.2's does.
 * No connect has ended for REDIAL_QUIET_MS (a live dialer with no pipe
 * tries again within NNG_OPT_RECONNMAXT), and
 *   DIAL_DEAD: it has no pipe, and the last connect ended with an "other"
 *     error. A connect ending in NNG_ECLOSED or NNG_ECANCELED starts no
 *     reconnect timer (dialer_connect_cb), and NNG_ECLOSED is counted as
 *     "other"; every other outcome starts the timer.
 *   DIAL_STUCK: it counts a pipe, but requests have waited REDIAL_QUIET_MS
 *     for a connection and none took one. Seen after connections dropped
 *     during set-up: nng keeps a closed pipe that is never reaped, and the
 *     dialer reconnects only when its pipe is reaped. */
static int dialer_gave_up(dial_watch *w, nng_dialer d, int64_t mono, int64_t starved_since) {
  /* Every connect outcome 1.5.2 counts, "other" (ECLOSED among them) at
   * OTHER, and the dialer's open pipes last. */
  static const char *const names[] = {"connect", "refused", "disconnect", "canceled",
                                      "other",   "timeout", "proto",      "auth",
                                      "oom",     "reject",  "pipes"};
  enum { OTHER = 4, PIPES = 10, N = sizeof(names) / sizeof(names[0]) };
  uint64_t counts[N];
  if (!dialer_counters(d, names, N, counts))
    return DIAL_OK;
  uint64_t sum = 0;
  for (size_t i = 0; i < PIPES; i++)
    sum += counts[i];
  uint64_t other = counts[OTHER], pipes = counts[PIPES];
  if (w->id != d.id) { /* a new dialer: its counters start from 0 */
    w->outcomes = 0;
    w->other = 0;
  }
  if (w->id != d.id || sum != w->outcomes) {
    w->last_other = other > w->other;
    w->id = d.id;
    w->outcomes = sum;
    w->other = other;
    w->quiet_since_mono = mono;
    return DIAL_OK;
  }
  if (mono - w->quiet_since_mono < REDIAL_QUIET_MS)
    return DIAL_OK;
  if (pipes == 0)
    return w->last_other ? DIAL_DEAD : DIAL_OK;
  return starved_since != 0 && mono - starved_since >= REDIAL_QUIET_MS ? DIAL_STUCK : DIAL_OK;
}

/* Replaces a dialer that has given up (how: DIAL_*). A dead one has no
 * pipe, no connect and no timer left: it is closed, which returns at once.
 * A stuck one is left open: closing it would close its unreaped pipe again
 * and leave nng's reaper waiting on it; it stays inert until the socket
 * closes. At most MAX_ABANDONED of those, after which the client keeps the
 * last one (and says so). False if no new dialer could be made (*closed
 * tells whether the old one is closed already): try again. */
#define MAX_ABANDONED 16
static bool redial(rpc_client *c, int how, bool *closed) {
  if (how == DIAL_STUCK) {
    if (c->abandoned >= MAX_ABANDONED) {
      if (c->abandoned++ == MAX_ABANDONED)
        mc_log(MC_LOG_ERR, NULL,
               "rpc: nng holds a dead connection to %s again (%u times); not dialing anew any "
               "more: restart this daemon",
               c->url, MAX_ABANDONED);
      return true;
    }
    c->abandoned++;
    *closed = true; /* left as it is */
  } else if (!*closed) {
    nng_dialer old = {.id = atomic_load(&c->dialer_id)};
    nng_dialer_close(old);
    *closed = true;
  }
  nng_dialer d;
  int rv = dialer_open(c, &d);
  if (rv != 0) {
    mc_log(MC_LOG_ERR, NULL, "rpc: cannot dial %s again: %s", c->url, nng_strerror(rv));
    return false;
  }
  *closed = false;
  atomic_store(&c->dialer_id, d.id);
  /* Give the new dialer its own REDIAL_QUIET_MS before judging it. */
  int64_t since = atomic_load(&c->starved_since_mono);
  if (since != 0)
    atomic_compare_exchange_strong(&c->starved_since_mono, &since, mc_mono_ms());
  c->redials++;
  mc_log(MC_LOG_NOTICE, NULL,
         "rpc: nng stopped reconnecting to %s (%s); dialing again (%llu time%s)", c->url,
         how == DIAL_STUCK ? "it keeps a connection that is gone"
                           : "a connection closed during its handshake",
         (unsigned long long)c->redials, c->redials == 1 ? "" : "s");
  return true;
}

/* Ends calls from the keeper: those nng has not answered RPC_CALL_GRACE_MS
 * after their deadline, or, with refused_mono (> 0), every call not yet
 * sent that started before that refusal was seen: one that started later
 * waits for the dialer's next try (the server may be up by then); or, with
 * refused_mono < 0 (END_OVERSIZE), every call sent whose request is larger
 * than any server reads, after a connection dropped: nng 1.5.2's receiver
 * closes the connection on it without a word, and REQ would resend it on
 * every reconnect until the deadline. */
#define END_OVERSIZE (-1)
static void end_calls(rpc_client *c, int64_t refused_mono, const char *tls_diag) {
  bool refused = refused_mono != 0;
  struct {
    slot *s;
    rpc_done_fn done;
    void *arg;
    bool sent;
    size_t len;
  } due[8];
  size_t n = 0;
  unsigned all = c->n_slots + 1;
  int64_t now = mc_now_ms();
  pthread_mutex_lock(&c->mtx);
  for (unsigned i = 0; i < all && n < sizeof(due) / sizeof(due[0]); i++) {
    slot *s = &c->slots[i];
    if (!s->busy || s->reported || s->overdue_ms == 0)
      continue;
    /* Twice: nng resent it on the next connection and lost that one too.
     * One drop could be anything, and the request may have been applied. */
    bool oversize = refused_mono < 0 && s->req_len > RPC_HARD_CAP_BYTES &&
                    atomic_load(&s->sent) && ++s->drops >= 2;
    if (refused_mono < 0 ? !oversize
        : refused       ? atomic_load(&s->sent) || s->start_mono > refused_mono
                        : now < s->overdue_ms)
      continue;
    s->reported = true; /* its callbacks now only free the slot (finish) */
    due[n].s = s;
    due[n].done = s->done;
    due[n].arg = s->done_arg;
    due[n].sent = s->sent;
    due[n].len = s->req_len;
    n++;
    /* Under c->mtx, so that the slot cannot be freed and taken by another
     * call meanwhile. Cancelling an operation nng has lost does nothing;
     * one it still holds ends now, on its own callback. */
    nng_aio_cancel(s->aio);
    nng_aio_cancel(s->timer);
  }
  pthread_mutex_unlock(&c->mtx);
  for (size_t i = 0; i < n; i++) {
    char text[256];
    slot *s = due[i].s;
    bool open = s == c->open_slot;
    mc_code code = due[i].sent ? MC_DEADLINE_EXCEEDED : MC_UNAVAILABLE;
    if (refused_mono < 0) {
      code = MC_RESOURCE_EXHAUSTED;
      snprintf(text, sizeof(text),
               "%.80s closed the connection on a %zu-byte request, over the 16 MiB any server "
               "reads (a smaller max_message_bytes there?): send less per request",
               c->url, due[i].len);
    } else if (refused && tls_diag != NULL)
      snprintf(text, sizeof(text), "TLS 配置错误 (TLS configuration error) with %.60s: %.140s",
               c->url, tls_diag);
    else if (refused)
      snprintf(text, sizeof(text),
               "%.100s refused the connection: nothing is listening there (is the service "
               "running, and is this its endpoint?)",
               c->url);
    else if (due[i].sent)
      snprintf(text, sizeof(text),
               "no reply from %.100s by the deadline (the connection was lost); the request may "
               "have been applied: retry with the same request id",
               c->url);
    else
      snprintf(text, sizeof(text), "could not reach %.100s before the deadline: no connection",
               c->url);
    if (refused)
      mc_log(MC_LOG_DEBUG, NULL, "rpc: %s: %s", open ? "RpcSession/Open" : s->method->name, text);
    else
      mc_log(MC_LOG_WARNING, NULL, "rpc: %s was still running %d ms after its deadline: %s",
             open ? "RpcSession/Open" : s->method->name, RPC_CALL_GRACE_MS, text);
    if (due[i].done != NULL)
      due[i].done(due[i].arg, code, text, NULL);
  }
}

/* Whether the dialer's last connect attempt was refused and none is up
 * (fail_when_refused). *seen keeps the counts of the last look. */
typedef struct refusal_watch {
  uint32_t id;
  uint64_t outcomes, refused;
  int64_t refusing_since_mono; /* when the latest refusal was seen; 0: not refusing */
} refusal_watch;

/* When the keeper saw the dialer's latest refusal, if its connects since
 * the last look were all refused and no connection is up; else 0. */
static int64_t endpoint_refuses(rpc_client *c, refusal_watch *w) {
  static const char *const names[] = {"connect", "refused", "disconnect", "canceled", "other",
                                      "timeout", "proto",   "auth",       "oom",      "reject"};
  enum { REFUSED = 1, N = sizeof(names) / sizeof(names[0]) };
  if (atomic_load(&c->pipes) > 0)
    return 0;
  nng_dialer d = {.id = atomic_load(&c->dialer_id)};
  uint64_t counts[N];
  if (!dialer_counters(d, names, N, counts))
    return 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < N; i++)
    sum += counts[i];
  if (w->id != d.id)
    *w = (refusal_watch){.id = d.id};
  if (sum != w->outcomes) {
    /* Only refusals since the last look: it refuses. */
    bool refusing = counts[REFUSED] - w->refused == sum - w->outcomes;
    w->refusing_since_mono = refusing ? mc_mono_ms() : 0;
    w->outcomes = sum;
    w->refused = counts[REFUSED];
  }
  return w->refusing_since_mono;
}

/* TLS (keeper thread): at the first failed handshake of a run of failures,
 * learns why with a handshake of our own (rpc__tls_probe), logs it once,
 * keeps it for the calls' messages and, for a client that fails fast, ends
 * the calls waiting for a connection with it. Forgotten once a connection
 * comes up. */
static void tls_watch(rpc_client *c, bool waiting) {
  if (atomic_load(&c->pipes) > 0) {
    if (c->tls_probed) {
      pthread_mutex_lock(&c->mtx);
      bool told = c->tls_diag[0] != '\0';
      c->tls_diag[0] = '\0';
      pthread_mutex_unlock(&c->mtx);
      c->tls_probed = false;
      if (told && c->on_tls_verdict != NULL)
        c->on_tls_verdict(c->on_tls_verdict_arg, NULL);
    }
    return;
  }
  if (c->tls_probed)
    return;
  /* nng 1.5.2 counts a failed handshake as "auth", "proto" or "other". */
  static const char *const names[] = {"auth", "proto", "other"};
  uint64_t counts[3];
  if (!dialer_counters((nng_dialer){.id = atomic_load(&c->dialer_id)}, names, 3, counts) ||
      counts[0] + counts[1] + counts[2] == 0)
    return;
  c->tls_probed = true;
  char why[sizeof(c->tls_diag)];
  if (!rpc__tls_probe(c->url, c->tls_ca, c->tls_name, why, sizeof(why)))
    return;
  mc_log(MC_LOG_WARNING, NULL, "rpc: TLS 配置错误 (TLS configuration error) with %s: %s",
         c->url, why);
  pthread_mutex_lock(&c->mtx);
  snprintf(c->tls_diag, sizeof(c->tls_diag), "%s", why);
  pthread_mutex_unlock(&c->mtx);
  if (c->on_tls_verdict != NULL)
    c->on_tls_verdict(c->on_tls_verdict_arg, why);
  if (waiting && c->fail_when_refused)
    end_calls(c, mc_mono_ms(), why);
}

static void *keeper_main(void *arg) {
  rpc_client *c = arg;
  dial_watch w = {0};
  refusal_watch refusals = {0};
  unsigned seen_lost = 0;
  int64_t next_dial_check = 0;
  int retry_dial = DIAL_OK;
  bool old_closed = false;
  pthread_mutex_lock(&c->mtx);
  while (!c->closing) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += KEEPER_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->keeper_cond, &c->mtx, &ts);
    if (c->closing)
      break;
    bool waiting = false;
    if (c->fail_when_refused)
      for (unsigned i = 0; i <= c->n_slots && !waiting; i++)
        waiting = c->slots[i].busy && !c->slots[i].reported && !atomic_load(&c->slots[i].sent);
    pthread_mutex_unlock(&c->mtx);
    end_calls(c, 0, NULL);
    unsigned lost = atomic_load(&c->pipes_lost);
    if (lost != seen_lost) {
      seen_lost = lost;
      if (c->max_message_bytes > RPC_HARD_CAP_BYTES) /* else nothing we send is that large */
        end_calls(c, END_OVERSIZE, NULL);
    }
    int64_t refused_mono = waiting ? endpoint_refuses(c, &refusals) : 0;
    if (refused_mono != 0)
      end_calls(c, refused_mono, NULL);
    int64_t mono = mc_mono_ms();
    if (mono >= next_dial_check) {
      next_dial_check = mono + REDIAL_CHECK_MS;
      if (c->tls != NULL)
        tls_watch(c, waiting);
      nng_dialer d = {.id = atomic_load(&c->dialer_id)};
      int how = retry_dial != DIAL_OK
                    ? retry_dial
                    : dialer_gave_up(&w, d, mono, atomic_load(&c->starved_since_mono));
      if (how != DIAL_OK)
        retry_dial = redial(c, how, &old_closed) ? DIAL_OK : how;
    }
    pthread_mutex_lock(&c->mtx);
  }
  pthread_mutex_unlock(&c->mtx);
  return NULL;
}

/* --- Life --- */

/* nng_close on a thread of its own, waited for at most CLOSE_WAIT_MS. In
 * nng 1.5.2 it waits forever for a pipe that was closed during set-up and
 * never reaped (the one DIAL_STUCK is about): then the thread is left
 * blocked, and the socket with it, instead of the caller. */
#define CLOSE_WAIT_MS 2000
typedef struct closer {
  nng_socket sock;
  pthread_mutex_t mtx;
  pthread_cond_t cond;
  bool done;
  int refs; /* the closing thread's and the waiter's; the last frees */
} closer;

static void closer_rele(closer *k) {
  pthread_mutex_lock(&k->mtx);
  bool last = --k->refs == 0;
  pthread_mutex_unlock(&k->mtx);
  if (last) {
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mtx);
    free(k);
  }
}

static void *closer_main(void *arg) {
  closer *k = arg;
  nng_close(k->sock);
  pthread_mutex_lock(&k->mtx);
  k->done = true;
  pthread_cond_signal(&k->cond);
  pthread_mutex_unlock(&k->mtx);
  closer_rele(k);
  return NULL;
}

static void socket_close_bounded(nng_socket sock) {
  /* Nothing of the client may be called once this returns. */
  nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
  nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
  closer *k = calloc(1, sizeof(*k));
  pthread_t t;
  pthread_attr_t attr;
  if (k == NULL) {
    nng_close(sock);
    return;
  }
  k->sock = sock;
  k->refs = 2;
  pthread_mutex_init(&k->mtx, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&k->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rv = pthread_create(&t, &attr, closer_main, k);
  pthread_attr_destroy(&attr);
  if (rv != 0) {
    k->refs = 1;
    closer_rele(k);
    nng_close(sock);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += CLOSE_WAIT_MS / 1000;
  pthread_mutex_lock(&k->mtx);
  int w = 0;
  while (!k->done && w != ETIMEDOUT)
    w = pthread_cond_timedwait(&k->cond, &k->mtx, &ts);
  bool done = k->done;
  pthread_mutex_unlock(&k->mtx);
  if (!done)
    mc_log(MC_LOG_WARNING, NULL,
           "rpc: closing a client socket did not finish in %d ms (nng 1.5.2 waits for a "
           "connection it lost); left to finish on its own",
           CLOSE_WAIT_MS);
  closer_rele(k);
}

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
  pthread_mutex_lock(&c->sess_mtx);
  c->sess_closing = true; /* calls waiting for a session end CANCELLED */
  pthread_mutex_unlock(&c->sess_mtx);
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
    socket_close_bounded(c->sock);
    c->sock_open = false;
  }
  /* Every aio is stopped and no callback runs any more. A callback that ran
   * during the loop above may have started an attempt (or a session wait)
   * on an aio stopped before it: nng 1.5.2 then fails the operation without
   * calling back, leaving the request on the aio and the call unanswered.
   * Those calls end here, CANCELLED like the others. */
  for (unsigned i = 0; i < n; i++) {
    slot *s = &c->slots[i];
    if (s->aio == NULL || s->state == S_FREE)
      continue;
    nng_msg *left = nng_aio_get_msg(s->aio);
    if (left != NULL) {
      nng_aio_set_msg(s->aio, NULL);
      nng_msg_free(left);
    }
    if (s == c->open_slot) {
      slot_release(s); /* the Open is internal: nobody waits on its callback */
      continue;
    }
    pthread_mutex_lock(&c->sess_mtx);
    if (s->waiting) {
      slot **link = &c->waiters;
      while (*link != NULL && *link != s)
        link = &(*link)->next_wait;
      if (*link == s)
        *link = s->next_wait;
      s->next_wait = NULL;
      s->waiting = false;
    }
    pthread_mutex_unlock(&c->sess_mtx);
    finish(s, MC_CANCELLED, "the client was closed", NULL);
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

  if (sodium_init() < 0 || (c->secrets = sodium_malloc(sizeof(*c->secrets))) == NULL) {
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: no memory "
                      "for its session key (or libsodium failed to start)", url);
  }
  sodium_memzero(c->secrets, sizeof(*c->secrets));

  if (scheme == RPC_SCHEME_TLS) {
    char host[256];
    rpc__url_host(url, host, sizeof(host));
    const char *name = opts->tls_server_name ? opts->tls_server_name : host;
    rc = rpc__tls_client_config(opts->tls_ca_file, name, &c->tls, err);
    /* An expired CA fails every handshake in silence: say so now. */
    if (rc == MC_OK)
      rc = rpc__tls_check_ca(opts->tls_ca_file, mc_now_ms(), err);
    if (rc == MC_OK && ((c->tls_ca = strdup(opts->tls_ca_file)) == NULL ||
                        (c->tls_name = strdup(name)) == NULL))
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
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
    slot *s = &c->slots[i];
    s->c = c;
    if ((rv = nng_aio_alloc(&s->aio, slot_cb, s)) != 0 ||
        (rv = nng_aio_alloc(&s->timer, timer_cb, s)) != 0)
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
  if (rv != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: %s", url,
                      nng_strerror(rv));
  }
  nng_dialer d;
  rv = dialer_open(c, &d);
  if (rv != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cannot dial %s: %s", url, nng_strerror(rv));
  }
  atomic_store(&c->dialer_id, d.id);
  if ((rv = pthread_create(&c->keeper, NULL, keeper_main, c)) != 0) {
    rpc_client_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: no thread: %s",
                      url, strerror(rv));
  }
  c->keeper_running = true;
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
  slot_take(s);
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

  /* Packed once: each (re)authentication builds the envelope around it. */
  uint8_t *payload;
  size_t payload_len;
  mc_code rc = pack_request(service->name, method, request, c->max_message_bytes, &payload,
                            &payload_len, err);
  if (rc != MC_OK)
    return rc;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  if (copts->request_id != NULL)
    memcpy(rid, copts->request_id, sizeof(rid));
  else
    rpc_request_id_new(rid);
  size_t n = envelope_size(service->name, method, rid, deadline, rpc_key_principal(c->key),
                           payload_len);
  if (n > c->max_message_bytes) {
    free(payload);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "request %s/%s is %zu bytes packed, over max_message_bytes %zu ([limits]); "
                      "send less per request",
                      service->name, method, n, c->max_message_bytes);
  }
  slot *s = NULL;
  if ((rc = take_slot(c, deadline, copts->nowait, &s, err)) != MC_OK) {
    free(payload);
    return rc;
  }
  s->payload = payload;
  s->payload_len = payload_len;
  s->service = service;
  s->method = md;
  memcpy(s->rid, rid, sizeof(rid));
  s->deadline_ms = deadline;
  s->attempt_timeout_ms = copts->attempt_timeout_ms > 0 ? copts->attempt_timeout_ms
                                                        : c->attempt_timeout_ms;
  s->max_attempts = copts->max_attempts ? copts->max_attempts : c->max_attempts;
  s->attempts = 0;
  s->sent = false;
  s->replied = false;
  s->sign = !c->sessions;
  s->sess_gen = 0;
  s->renewals = 0;
  s->wake = WAKE_RETRY;
  s->done = done;
  s->done_arg = arg;
  slot_guard(s, deadline);
  slot_go(s);
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
