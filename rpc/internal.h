/*
 * internal.h - what the rpc/ sources share and nobody else may use: the
 * server's state, the call, the session table, and transport helpers (URL
 * schemes, TLS files).
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
  nng_listener listeners[RPC_MAX_LISTENERS];
  size_t n_listeners;
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

/* Runs every check on one request and hands it to its handler; the reply
 * (now or later, from any thread) goes to sink. Never fails to reply. */
void rpc__dispatch(rpc_server *srv, const uint8_t *data, size_t len, rpc_sink sink);

/* Replies with a status and no call (a request refused before dispatch, or
 * abandoned at stop). request_id may be NULL. */
void rpc__reply_status(rpc_server *srv, rpc_sink sink, const ProtobufCBinaryData *request_id,
                       mc_code code, const char *message);

/* Registers Health, Reflection and RpcSession (dispatch.c, from
 * rpc_server_create). */
mc_code rpc__register_builtins(rpc_server *srv, mc_err *err);

/* Counts a request in / its reply out (srv->inflight), waking rpc_server_stop. */
void rpc__inflight_add(rpc_server *srv);
void rpc__inflight_done(rpc_server *srv);

/* Answers calls still pending UNAVAILABLE and forgets them (stop). */
void rpc__abandon_pending(rpc_server *srv);

/* Waits until inflight is 0 or deadline (monotonic ms) passes. True if 0. */
bool rpc__wait_idle(rpc_server *srv, int64_t until_mono_ms);

#endif /* RPC_INTERNAL_H */
