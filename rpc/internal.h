/*
 * internal.h - what the rpc/ sources share and nobody else may use: the
 * server's state, the call, the session table, transport helpers (URL
 * schemes, TLS files), and the client's state, which its four files share
 * (client.c, client_envelope.c, client_session.c, client_keeper.c).
 * Not installed, not included outside rpc/.
 */
#ifndef RPC_INTERNAL_H
#define RPC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "core/i18n.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/status.h"
#include "core/text.h"
#include "mv1.h"
#include "rpc/client.h"
#include "rpc/server.h"

/* Bytes nng adds around our envelope on the wire (REQ's request id, and a
 * device hop's backtrace). */
#define RPC_SP_HEADER_SLACK 64

/* The hard cap on one message on the wire, on both sides (NNG_OPT_RECVMAXSZ):
 * everything up to it is read and, when over max_message_bytes, answered
 * RESOURCE_EXHAUSTED; anything larger makes nng 1.5.2 close the connection
 * without a word. It lies well above the limit so that a peer whose limit is
 * larger than ours (an older configuration, a hand-written client) hears why
 * instead of waiting for its deadline. */
#define RPC_HARD_CAP_BYTES ((size_t)16 << 20)

/* The hard cap for a given limit: RPC_HARD_CAP_BYTES, or the limit plus 64
 * KiB when the limit is configured above it. */
size_t rpc__wire_cap(size_t max_message_bytes);

/* Service, method and caller names in an envelope are at most this long. */
#define RPC_NAME_MAX 256

/* Peers that do not read their replies (server.c, "Peers"). Each
 * connection's share is 1/RPC_PEER_SHARE of the contexts (at least 2).
 * Garbage beyond a connection's share is not answered, and disconnects it
 * if it has taken no reply for RPC_PEER_HOG_MS; a connection holding its
 * share that has taken no reply for RPC_PEER_STALL_MS is disconnected. A
 * reply not taken within RPC_REPLY_SEND_MS is dropped. */
#define RPC_PEER_SHARE 8
#define RPC_PEER_HOG_MS 1
#define RPC_PEER_STALL_MS 1000
#define RPC_REPLY_SEND_MS 5000
/* Buckets of the server's table of connections (by pipe id: nng hands them
 * out in sequence). */
#define RPC_PEER_BUCKETS 256

#define RPC_MAX_SERVICES 32
#define RPC_MAX_LISTENERS 8

typedef enum rpc_scheme {
  RPC_SCHEME_IPC,
  RPC_SCHEME_INPROC,
  RPC_SCHEME_TCP,
  RPC_SCHEME_TLS,
} rpc_scheme;

/* Checks that url is one of ours. Errors: INVALID_ARGUMENT naming the schemes. */
mc_code rpc__url_scheme(const char *url, rpc_scheme *out, mc_err *err);

/* The checks an envelope passes before unpacking (either way). */
mc_message_limits rpc__envelope_limits(size_t max_message_bytes);

/* A TLS configuration for a listener from PEM files, or for a dialer from a
 * CA file and a server name. *out is released with nng_tls_config_free. */
mc_code rpc__tls_server_config(const char *cert_file, const char *key_file,
                               const char *password, nng_tls_config **out, mc_err *err);
mc_code rpc__tls_client_config(const char *ca_file, const char *server_name,
                               nng_tls_config **out, mc_err *err);

/* Reads n counters (nng 1.5.2 stat names) of the dialer or listener (kind:
 * "dialer", "listener") id from one snapshot of nng's statistics into out
 * (0 for one it does not have). False if it has no statistics (it is gone)
 * or nng could not make them. */
bool rpc__endpoint_counters(const char *kind, uint32_t id, const char *const names[], size_t n,
                            uint64_t out[]);

/* --- Certificates (tlscheck.c): nng 1.5.2 says nothing about them --- */

/* What a server's own certificate says. */
typedef struct rpc_cert_info {
  int64_t not_before_ms, not_after_ms;
  char names[256]; /* its DNS names, comma-separated */
} rpc_cert_info;

/* Checks a server's certificate and key as nng will use them, at now_ms:
 * FAILED_PRECONDITION if expired, not yet valid, without a DNS name, or the
 * key is not its pair; INVALID_ARGUMENT if a file does not parse. On MC_OK
 * fills info (may be NULL). */
mc_code rpc__tls_check_own(const char *cert_file, const char *key_file, const char *password,
                           int64_t now_ms, rpc_cert_info *info, mc_err *err);
/* Checks a client's CA file: FAILED_PRECONDITION if none of its
 * certificates is valid at now_ms. */
mc_code rpc__tls_check_ca(const char *ca_file, int64_t now_ms, mc_err *err);
/* Connects to a tls+tcp:// url with a plain TCP socket and runs a TLS
 * handshake with ca_file and server_name, to learn why nng's failed (which
 * 1.5.2 does not say): writes the verdict into why and returns true if
 * something was learned. Blocks up to a few seconds: keeper thread only. */
bool rpc__tls_probe(const char *url, const char *ca_file, const char *server_name, char *why,
                    size_t cap);
/* "2027-03-01 08:00 UTC". */
void rpc__utc_date(int64_t ms, char *buf, size_t cap);

/* Certificates expiring within this are warned about, at start and daily. */
#define RPC_CERT_WARN_MS (30LL * 24 * 3600 * 1000)

/* The host part of "scheme://host:port" into buf; "" if there is none. */
void rpc__url_host(const char *url, char *buf, size_t cap);

/* --- Server --- */

/* Where a reply goes: an nng context (server.c) or a waiting
 * rpc_server_handle (dispatch.c). fn is called exactly once per request,
 * from whatever thread completes it, and must not keep `reply`. unproven:
 * a refusal of a request whose caller was never proven (garbage, unknown
 * caller, bad signature or MAC; not an unknown session). */
typedef struct rpc_sink {
  void (*fn)(void *arg, const Mediation__V1__ReplyEnvelope *reply, bool unproven);
  void *arg;
} rpc_sink;

enum { RPC_CALL_PENDING = 0, RPC_CALL_DONE = 1, RPC_CALL_ABANDONED = 2 };

struct rpc_call {
  rpc_server *srv;                         /* NULL once abandoned: may be gone */
  Mediation__V1__RequestEnvelope *env;     /* owned: unpacked */
  ProtobufCMessage *input;                 /* owned: unpacked */
  ProtobufCService *service;               /* borrowed from the registration */
  const ProtobufCMethodDescriptor *method; /* borrowed from the descriptor */
  const mc_principal *caller;              /* borrowed from the registry */
  bool by_session;                         /* authenticated by a session MAC, not signed */
  rpc_sink sink;
  atomic_int state; /* RPC_CALL_*: the one who moves it off PENDING owns completion */
  rpc_call *prev, *next; /* srv->pending, under srv->mtx */
  char full_method[2 * RPC_NAME_MAX + 2];
};

typedef struct rpc_worker rpc_worker;

/* One live connection: its replies waiting to be taken, its garbage
 * (server.c). */
typedef struct rpc_peer rpc_peer;

/* At most `per_second` lines a second, then one saying how many were left
 * out (rpc__log_allowed). Zero-initialised. */
typedef struct rpc_log_limit {
  atomic_llong window;
  atomic_int count, suppressed;
} rpc_log_limit;

/* Whether one more line may be logged now; what (e.g. "unauthenticated
 * requests refused") names the lines left out in the summary. */
bool rpc__log_allowed(rpc_log_limit *l, int per_second, const char *what);

/* --- Sessions (session.c) --- */

typedef struct rpc_sessions rpc_sessions;

typedef enum rpc_session_found {
  RPC_SESSION_FOUND,       /* live, the caller's: the key was copied out */
  RPC_SESSION_UNKNOWN,     /* no such session, or it expired */
  RPC_SESSION_NOT_CALLERS, /* live, but another principal's */
} rpc_session_found;

/* A table of at most max_sessions sessions (per_principal of them per
 * principal of reg), each living lifetime_ms. */
mc_code rpc__sessions_create(const mc_registry *reg, unsigned max_sessions,
                             unsigned per_principal, int64_t lifetime_ms, rpc_sessions **out,
                             mc_err *err);
/* Wipes every key and frees. NULL is allowed. */
void rpc__sessions_free(rpc_sessions *t);
/* Looks session id up for caller; on FOUND copies its key into key. */
rpc_session_found rpc__sessions_key(rpc_sessions *t, const uint8_t id[RPC_SESSION_ID_BYTES],
                                    const mc_principal *caller,
                                    uint8_t key[RPC_SESSION_KEY_BYTES]);
/* Registers the built-in RpcSession service (from rpc__register_builtins). */
mc_code rpc__sessions_register(rpc_server *srv, mc_err *err);

struct rpc_server {
  const mc_registry *reg;
  char *program, *version, *accept_unit, *tls_cert, *tls_key, *tls_pass; /* owned copies */
  uint32_t accept_kinds;
  rpc_accept_fn accept;
  rpc_describe_fn describe;
  void *accept_arg;
  rpc_here_fn here;
  void *here_arg;
  unsigned contexts;
  size_t max_message_bytes;
  int64_t max_deadline_ahead_ms;
  mc_message_limits env_limits, payload_limits;

  ProtobufCService *services[RPC_MAX_SERVICES]; /* borrowed */
  size_t n_services;
  Mediation__V1__Health_Service health;         /* built in */
  Mediation__V1__Reflection_Service reflection; /* built in */
  Mediation__V1__RpcSession_Service session_service; /* built in */
  rpc_sessions *sessions;                       /* owned */
  atomic_ullong by_mac, by_signature;           /* rpc_session_stats */
  int64_t started_ms;

  pthread_mutex_t mtx; /* guards what follows */
  pthread_cond_t cond; /* inflight dropped */
  bool serving;
  char detail[256];
  bool listening; /* registration closed */
  bool stopping;  /* new requests: UNAVAILABLE */
  bool stopped;
  rpc_call pending; /* list head: calls handed to a handler, not completed */
  size_t inflight;  /* requests taken in whose reply is not yet out */

  /* nng (server.c) */
  atomic_bool closing; /* workers stop re-arming */
  atomic_llong last_reply_mono; /* when a reply last went to nng (linger at stop) */
  bool sock_open;
  nng_socket sock;
  /* The listeners, each with the address it is bound to (a port 0 made
   * concrete), which the listener keeper (listen_keeper.c) may replace. */
  pthread_mutex_t listen_mtx; /* guards what follows, up to the workers */
  pthread_cond_t listen_cond; /* the keeper's stop */
  nng_listener listeners[RPC_MAX_LISTENERS];
  char listen_urls[RPC_MAX_LISTENERS][256];
  rpc_scheme listen_schemes[RPC_MAX_LISTENERS];
  size_t n_listeners;
  bool listen_keeper_running, listen_keeper_stop;
  pthread_t listen_keeper;
  atomic_ullong listeners_renewed;
  rpc_worker *workers;
  unsigned n_workers;

  /* Peers (server.c): connections with replies waiting, and the sweeper
   * thread that disconnects those that do not read them. */
  pthread_mutex_t peers_mtx; /* guards what follows */
  pthread_cond_t peers_cond; /* a peer to watch or to close, or the end */
  rpc_peer *peers[RPC_PEER_BUCKETS]; /* every live connection, by pipe id */
  unsigned peer_cap;         /* contexts one peer may hold waiting */
  bool sweeper_running, sweeper_stop;
  pthread_t sweeper;
  atomic_ullong peers_disconnected;
  rpc_log_limit peer_log;
  /* The TLS certificate listened with, if any (under peers_mtx after
   * listen; the sweeper warns daily when it nears its end). */
  bool has_cert;
  rpc_cert_info cert;
  int64_t cert_warned_mono; /* 0: not yet */
};

/* Creates and starts a listener on url (TLS with the server's certificate
 * for RPC_SCHEME_TLS). Errors name url. (server.c) */
mc_code rpc__listener_open(rpc_server *srv, const char *url, rpc_scheme scheme,
                           nng_listener *out, mc_err *err);
/* The listener keeper (listen_keeper.c): started with the first listener,
 * stopped before the listeners close. */
mc_code rpc__listen_keeper_start(rpc_server *srv, mc_err *err);
void rpc__listen_keeper_stop(rpc_server *srv);

/* Runs every check on one request and hands it to its handler; the reply
 * (now or later, from any thread) goes to sink. Never fails to reply. */
void rpc__dispatch(rpc_server *srv, const uint8_t *data, size_t len, rpc_sink sink);

/* Replies with a status and no call (a request refused before dispatch, or
 * abandoned at stop). request_id may be NULL. */
void rpc__reply_status(rpc_server *srv, rpc_sink sink, const ProtobufCBinaryData *request_id,
                       mc_code code, const char *message);

/* Registers Health, Reflection and RpcSession (builtins.c, from
 * rpc_server_create). */
mc_code rpc__register_builtins(rpc_server *srv, mc_err *err);

/* The registered service of that full name, or NULL (dispatch.c). */
ProtobufCService *rpc__find_service(rpc_server *srv, const char *name);

/* Counts a request in / its reply out (srv->inflight), waking rpc_server_stop. */
void rpc__inflight_add(rpc_server *srv);
void rpc__inflight_done(rpc_server *srv);

/* Answers calls still pending UNAVAILABLE and forgets them (stop). */
void rpc__abandon_pending(rpc_server *srv);

/* Waits until inflight is 0 or deadline (monotonic ms) passes. True if 0. */
bool rpc__wait_idle(rpc_server *srv, int64_t until_mono_ms);

/* --- The client's envelopes (client_envelope.c) --- */

/* How an envelope proves its caller: a signature by key, or a MAC under a
 * session key. Every pointer is borrowed. */
typedef struct rpc_proof {
  const rpc_key *key;       /* sign with it, or NULL: MAC */
  const char *caller;       /* the principal, when MAC'd */
  const uint8_t *session_id;
  const uint8_t *session_key;
  const char *locale; /* the caller's language (RequestEnvelope.locale); NULL: this thread's */
  bool stale_ok;      /* RequestEnvelope.stale_ok: a read any node of a cluster may answer */
} rpc_proof;

/* The request packed into *out (malloc'd, caller frees). Errors:
 * INVALID_ARGUMENT (required field missing), RESOURCE_EXHAUSTED (bigger than
 * max_bytes, when not 0), UNAVAILABLE (out of memory: not a refusal). */
mc_code rpc__request_pack(const char *service, const char *method,
                          const ProtobufCMessage *request, size_t max_bytes, uint8_t **out,
                          size_t *out_len, mc_err *err);
/* The packed envelope's size if signed: the larger of the two proofs, so a
 * request that passes this check fits either way. No crypto. */
size_t rpc__envelope_size(const char *service, const char *method, const uint8_t *rid,
                          int64_t deadline_ms, const char *caller, size_t payload_len);
/* Builds, authenticates and packs an envelope into *out (malloc'd; caller
 * frees). RESOURCE_EXHAUSTED over max_bytes (when not 0). */
mc_code rpc__envelope_build(const char *service, const char *method, const uint8_t *rid,
                            int64_t deadline_ms, const uint8_t *payload, size_t payload_len,
                            const rpc_proof *pf, size_t max_bytes, uint8_t **out,
                            size_t *out_len, mc_err *err);
/* Reads a reply envelope of len bytes from url: RESOURCE_EXHAUSTED over
 * max_bytes, INTERNAL if it fails env_limits or does not decode; text (cap
 * bytes) says why. On MC_OK *out is the unpacked envelope, the caller's
 * (mediation__v1__reply_envelope__free_unpacked). */
mc_code rpc__reply_unpack(const char *url, const uint8_t *body, size_t len, size_t max_bytes,
                          const mc_message_limits *env_limits,
                          Mediation__V1__ReplyEnvelope **out, char *text, size_t cap);
/* Whether env says that the server did not know the session request rid was
 * MAC'd under, and so did not run it. */
bool rpc__reply_session_unknown(const Mediation__V1__ReplyEnvelope *env,
                                const uint8_t rid[RPC_REQUEST_ID_BYTES]);
/* What env answers request rid: its status, or INTERNAL / UNKNOWN if it
 * answers another request, carries an unknown status, or its payload fails
 * payload_limits or does not decode as output; text (cap bytes) is the
 * message ("" for OK). On MC_OK *out is the unpacked reply, the caller's
 * (protobuf_c_message_free_unpacked). */
mc_code rpc__reply_outcome(const char *url, const Mediation__V1__ReplyEnvelope *env,
                           const uint8_t rid[RPC_REQUEST_ID_BYTES],
                           const ProtobufCMessageDescriptor *output,
                           const mc_message_limits *payload_limits, ProtobufCMessage **out,
                           char *text, size_t cap);

/* --- Client (client.c: creation, calls, freeing; client_envelope.c;
 * client_session.c; client_keeper.c). client.c's opening comment tells how
 * the parts work together. --- */

/* A slot's state: which of its aios' callbacks runs next. */
enum { RPC_SLOT_FREE, RPC_SLOT_SEND, RPC_SLOT_RECV, RPC_SLOT_WAIT };

/* How a call waiting for a session goes on once the Open it waited for has
 * ended. */
enum { RPC_WAKE_RETRY, RPC_WAKE_SIGN };

/* A call still running this long after its deadline is ended by the keeper
 * (client_keeper.c). */
#define RPC_CALL_GRACE_MS 500

typedef struct rpc_slot rpc_slot;

/* What a server's UNAVAILABLE said about the leader of a cluster
 * (ReplyEnvelope.leader_id/leader_endpoint): filled in by the slot that
 * got the reply, read by the routing layer (client_route.c) in its done. */
typedef struct rpc_leader_hint {
  bool from_server;    /* the UNAVAILABLE was the server's, not made here */
  uint64_t leader_id;  /* 0: none known (an election) */
  char endpoint[256];  /* "" when none or too long to be one of ours */
} rpc_leader_hint;

/* One call at a time: an nng context and its aios. */
struct rpc_slot {
  rpc_client *c;  /* borrowed: the client that owns the slot array */
  /* The calling thread's language (mc_i18n_current), taken at the call:
   * the envelope may be built again on nng's threads (a new session). */
  char locale[MC_LOCALE_MAX];
  nng_aio *aio;   /* owned: sends and receives */
  nng_aio *timer; /* owned: only ever sleeps: the wait for a session (rpc__slot_go) */
  nng_ctx ctx;    /* owned; closed with the socket */
  int state;    /* RPC_SLOT_*: handed from thread to thread along with the aio */
  nng_msg *req; /* owned: the envelope as authenticated last; each attempt sends a copy */
  uint8_t *payload; /* owned: the packed request message, for each (re)authentication */
  size_t payload_len;
  const ProtobufCServiceDescriptor *service; /* borrowed from the caller's descriptor */
  const ProtobufCMethodDescriptor *method;   /* borrowed from the caller's descriptor */
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  int64_t deadline_ms; /* absolute Unix ms, as in the envelope */
  int64_t attempt_timeout_ms;
  unsigned attempts, max_attempts;
  bool stale_ok;      /* RequestEnvelope.stale_ok (rpc_call_opts) */
  rpc_leader_hint *hint; /* borrowed: the routing layer's, or NULL */
  _Atomic bool sent; /* some attempt was handed to a connection (read by the keeper) */
  _Atomic bool replied; /* the server answered (the Open slot: a refusal, not a lost request) */
  bool sign;      /* always sign this call: sessions off, the Open itself, or given up on */
  uint64_t sess_gen; /* the session the envelope was MAC'd under; 0: signed */
  unsigned renewals; /* times sent again because its session was unknown */
  bool waiting;      /* on c->waiters; under c->sess_mtx */
  int wake;          /* RPC_WAKE_*, set with waiting cleared; under c->sess_mtx */
  rpc_slot *next_wait; /* borrowed: the next on c->waiters */
  rpc_done_fn done;    /* the caller's; called once (rpc__slot_finish or the keeper) */
  void *done_arg;      /* borrowed: the caller's */
  rpc_slot *next_free; /* borrowed: the next on c->free_list */
  /* Under c->mtx: */
  bool busy;          /* taken for a call (or the Open), until rpc__slot_release */
  bool reported;      /* done was called (by the slot's callbacks or the keeper) */
  int64_t overdue_ms; /* Unix ms: the keeper ends the call after this */
  int64_t start_mono; /* when the call took the slot */
  size_t req_len;     /* bytes of the request as sent (client_keeper.c, END_OVERSIZE) */
  unsigned drops;     /* connections lost while it was out (client_keeper.c, END_OVERSIZE) */
};

/* Secrets live apart, in memory libsodium guards and wipes. */
typedef struct rpc_client_secrets {
  uint8_t key[RPC_SESSION_KEY_BYTES]; /* the session key */
  uint8_t eph_sk[RPC_KX_KEY_BYTES];   /* the pending Open's X25519 secret */
} rpc_client_secrets;

/* Each field says whose it is: owned (the client's: rpc_client_free
 * releases it), borrowed (someone else's, which outlives the client), or a
 * value (copied in; nothing to release). */
struct rpc_client {
  char *url;          /* owned copy */
  const rpc_key *key; /* borrowed from the creator: signs requests and Opens */
  size_t max_message_bytes;                       /* value, from the registry's limits */
  int64_t max_deadline_ahead_ms;                  /* value, from the registry's limits */
  mc_message_limits env_limits, payload_limits;   /* values */
  int64_t default_timeout_ms, attempt_timeout_ms; /* values, from rpc_client_opts */
  unsigned max_attempts;                          /* value, from rpc_client_opts */

  nng_socket sock;            /* owned: closed by rpc__socket_close_bounded */
  bool sock_open;             /* value: sock is to be closed */
  /* owned by sock: the current nng_dialer; replaced by the keeper only */
  _Atomic uint32_t dialer_id;
  nng_tls_config *tls;        /* owned: one reference; for tls+tcp://, each new dialer's */
  rpc_slot *slots;            /* owned: n_slots for calls, then the Open's own */
  unsigned n_slots;           /* value */
  rpc_slot *open_slot;        /* borrowed: the last of slots */
  atomic_int pipes;           /* value: connections up now (pipe notifications) */
  atomic_uint pipes_lost;     /* value: connections that went down (END_OVERSIZE) */

  /* owned; guards the free list, closing, and each slot's busy/reported/overdue_ms */
  pthread_mutex_t mtx;
  pthread_cond_t cond; /* owned; a slot was freed, or closing */
  rpc_slot *free_list; /* borrowed: slots of slots, linked by next_free */
  bool closing;        /* value */

  pthread_t keeper;           /* owned: joined by rpc_client_free */
  bool keeper_running;        /* value */
  pthread_cond_t keeper_cond; /* owned; closing */
  uint64_t redials;           /* value: dialers replaced (keeper thread only) */
  unsigned abandoned; /* value: dialers left open on a pipe nng never reaped (keeper only) */
  /* Mono ms since when requests have waited for a connection and none was
   * taken; 0: the last send was taken. */
  _Atomic int64_t starved_since_mono;
  bool fail_when_refused; /* value, from rpc_client_opts; read by the keeper */
  /* value: a member of a list client (client_route.c): calls sent on a
   * connection that is gone, with none up, end at once (the keeper) so
   * that the routing layer sends them to the next node */
  bool fail_when_lost;
  /* owned: set for a client made for several endpoints (client_route.c):
   * then the client only routes calls to its members and every field
   * above is unused */
  struct rpc_route *route;
  /* borrowed, from rpc_client_opts; called by the keeper only */
  void (*on_tls_verdict)(void *arg, const char *why);
  void *on_tls_verdict_arg;                           /* borrowed, from rpc_client_opts */
  /* TLS: the CA file and server name (owned copies), for the keeper's
   * diagnosis of failed handshakes (rpc__tls_probe): its verdict (a value),
   * under mtx, kept until a connection comes up; probed once per run of
   * failures. */
  char *tls_ca, *tls_name;
  bool tls_probed;     /* value; keeper only */
  char tls_diag[200];  /* value: "" or why the handshakes fail */

  /* The session (client_session.c). */
  bool sessions; /* value: false: every request signed (rpc_client_opts.sign_each_request) */
  pthread_mutex_t sess_mtx; /* owned; guards what follows, and every slot's waiting/wake */
  bool sess_closing; /* value */
  bool opening;  /* value: an Open is in flight on open_slot */
  bool have;     /* value: a session: sid, secrets->key, gen, renew_at_ms, stale_at_ms */
  uint64_t gen;  /* value: counts sessions made; a call remembers which one MAC'd it */
  uint8_t sid[RPC_SESSION_ID_BYTES]; /* value */
  int64_t renew_at_ms, stale_at_ms; /* values, Unix ms: open the next one / stop using this one */
  int64_t sign_until_mono;          /* value: the server refused Open: sign until then */
  int64_t renew_not_before_mono;    /* value: a renewal failed: not again before then */
  uint8_t open_pk[RPC_KX_KEY_BYTES]; /* value: the pending Open's X25519 public key */
  rpc_client_secrets *secrets; /* owned: sodium_malloc'd; sodium_free wipes it */
  rpc_slot *waiters; /* borrowed: slots of calls waiting for the session, in arrival order */
};

/* The client's slots (client.c). */

/* Marks s taken for a call (c->mtx held). */
void rpc__slot_take(rpc_slot *s);
/* Lets the keeper end s's call if it is still running RPC_CALL_GRACE_MS
 * after deadline_ms. Once s->done is set, before the call is started. */
void rpc__slot_guard(rpc_slot *s, int64_t deadline_ms);
/* Frees the slot (the Open's own slot is never on the free list). True if
 * the call is still to be reported: the keeper has not done it. */
bool rpc__slot_release(rpc_slot *s);
/* Ends the call: frees the slot first (so done may start another call on
 * it), then reports, unless the keeper reported it already (the call was
 * overdue). reply (may be NULL) goes to done, or is freed. Nothing of s is
 * touched after the release. */
void rpc__slot_finish(rpc_slot *s, mc_code code, const char *text, ProtobufCMessage *reply);
/* Makes s->req the envelope proven by pf and sends its first attempt; a
 * failure ends the call. */
void rpc__slot_send(rpc_slot *s, const rpc_proof *pf);
/* What one call sends: given to rpc__call_start. */
typedef struct rpc_call_spec {
  const ProtobufCServiceDescriptor *service; /* borrowed */
  const ProtobufCMethodDescriptor *method;   /* borrowed */
  uint8_t *payload;   /* owned by the spec until rpc__call_start, which takes it */
  size_t payload_len;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  int64_t deadline_ms;
  int64_t attempt_timeout_ms; /* 0: the client's */
  unsigned max_attempts;      /* 0: the client's */
  bool nowait;
  bool stale_ok;
  const char *locale;   /* the caller's language; NULL: this thread's */
  rpc_leader_hint *hint; /* borrowed, or NULL */
} rpc_call_spec;
/* Starts a call on a single-endpoint client from a packed request (takes
 * spec->payload in every case). As rpc_client_call_async: MC_OK and done
 * is called once, or the failure and done is never called. */
mc_code rpc__call_start(rpc_client *c, rpc_call_spec *spec, rpc_done_fn done, void *arg,
                        mc_err *err);
/* A client like rpc_client_create's, as a member of a list client: it
 * fails fast on a refused or lost connection (fail_when_refused,
 * fail_when_lost) so that calls move on to the next node. */
mc_code rpc__client_create_one(const char *url, const rpc_key *key, const mc_limits *limits,
                               const rpc_client_opts *opts, bool member, rpc_client **out,
                               mc_err *err);

/* The routing layer (client_route.c), for a client made for several
 * endpoints (rpc_client_create_list makes it): calls, the URL it talks to
 * now, freeing. */
mc_code rpc__route_call(rpc_client *c, rpc_call_spec *spec, rpc_done_fn done, void *arg,
                        mc_err *err);
const char *rpc__route_url(const rpc_client *c);
void rpc__route_free(rpc_client *c);

/* ms as an nng timeout: at least 1, at most INT32_MAX. */
nng_duration rpc__ms_duration(int64_t ms);

/* Sessions (client_session.c). */

/* Proves s and sends it: a MAC under the session, or a signature; or, with
 * no session ready, puts s on the waiting list and makes sure an Open runs.
 * Called when a call starts, when a waiting call is woken, and when a
 * session turned out unknown to the server. */
void rpc__slot_go(rpc_slot *s);
/* The server answered s that it does not know the session s was MAC'd
 * under, and did not run it: drops that session and sends s again. */
void rpc__session_forgotten(rpc_slot *s);
/* The callback of a slot's timer aio: the end of a wait for a session. */
void rpc__session_timer_cb(void *arg);
/* Closing: calls waiting for a session, and those that would, end
 * CANCELLED. */
void rpc__session_close(rpc_client *c);
/* Takes s off the waiting list, if it is on it (closing, callbacks stopped). */
void rpc__session_unwait(rpc_client *c, rpc_slot *s);

/* The keeper, the dialer and closing (client_keeper.c). */

/* Creates and starts (in the background) a dialer to c->url. nng's error. */
int rpc__client_dial(rpc_client *c, nng_dialer *out);
/* The keeper thread's body (arg: the client); returns once c->closing. */
void *rpc__client_keeper(void *arg);
/* The UNAVAILABLE text for a call that found no connection by its deadline:
 * the TLS verdict if the keeper has one, else the dialer's counts. */
void rpc__no_connection_text(rpc_client *c, char *text, size_t cap);
/* The log level of a call's "no connection": a TLS verdict was logged once
 * by the keeper already, and is not repeated for every call. */
mc_log_level rpc__no_connection_level(const char *text);
/* nng_close, waited for at most a bounded time (client_keeper.c says why);
 * unhooks the pipe notifications first. */
void rpc__socket_close_bounded(nng_socket sock);

#endif /* RPC_INTERNAL_H */
