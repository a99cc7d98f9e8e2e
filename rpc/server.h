/*
 * server.h - serving protoc-c services over nng REQ/REP.
 *
 * A service is the struct protoc-c generates for a `service` block. Fill it
 * with the generated INIT macro, so that a missing handler is a compile error,
 * and register its base:
 *
 *     static void desk_take_in(Mediation__V1__Desk_Service *svc,
 *                              const Mediation__V1__DeskTakeInRequest *in,
 *                              Mediation__V1__DeskReply_Closure done, void *call);
 *     ...
 *     static Mediation__V1__Desk_Service desk = MEDIATION__V1__DESK__INIT(desk_);
 *     rpc_server_register(srv, &desk.base, &err);
 *
 * A request names its service ("mediation.v1.Desk") and method ("TakeIn");
 * the server finds the method through the service descriptor, checks and
 * unpacks the payload with the method's input descriptor and calls the
 * handler. Adding a method is an `rpc` line in the .proto and one handler.
 *
 * Handlers. A handler receives the unpacked input, a closure and
 * closure_data, which is the call (an rpc_call *). It must complete the call
 * exactly once, by one of:
 *   - done(&reply, call)  (or rpc_call_reply(call, &reply.base)): OK with this
 *     reply message, which must be of the method's output type;
 *   - rpc_call_fail(call, MC_..., "what was wrong and what to fix", ...).
 * It may do so before it returns (synchronously) or later, from any thread
 * (asynchronously: the router replies after its group commit; a long poll
 * replies when a delivery arrives or its deadline nears). The reply message
 * is packed before rpc_call_reply returns, so it stays the handler's: it may
 * live on the stack and is freed (or not) by the handler. After the call is
 * completed the rpc_call pointer and the input message are invalid. A
 * handler that blocks holds one of the server's contexts (see `contexts`); a
 * long wait should be asynchronous.
 *
 * Ownership: the input message (and the request envelope) belong to the call
 * and are freed by the server once the reply is sent; a handler that keeps
 * anything from the input beyond completion copies it.
 *
 * What the server does before a handler runs, in order (the first failure is
 * the reply; the handler is not run):
 *   1. the request is at most limits.max_message_bytes     else RESOURCE_EXHAUSTED
 *      (up to the hard cap, 16 MiB on the wire; past it nng
 *      closes the connection before we see the message:
 *      NNG_OPT_RECVMAXSZ, rpc/internal.h)
 *   2. the envelope passes mc_wire_check and decodes,
 *      request_id is 16 bytes                               else INVALID_ARGUMENT
 *   3. the caller is in the registry, and either
 *      - the Ed25519 signature verifies (identity.h: the
 *        signed bytes), or
 *      - session_id names a live session of this server,
 *        opened by this caller, and the MAC over the same
 *        bytes verifies with its key                        else UNAUTHENTICATED
 *      (a request with both a signature and a session is
 *      INVALID_ARGUMENT; one whose session is unknown or
 *      expired also has ReplyEnvelope.session_unknown set:
 *      the client opens a new session and sends it again)
 *   4. the deadline has not passed                          else DEADLINE_EXCEEDED
 *   5. the deadline is at most limits.max_deadline_ahead_ms
 *      ahead (bounds how long a captured request could be
 *      replayed; until its deadline the router's idempotency
 *      record answers a replay)                             else INVALID_ARGUMENT
 *   6. the server accepts this caller (accept_kinds,
 *      accept_unit, accept callback; the message is the
 *      callback's, else the server's)                      else PERMISSION_DENIED
 *   7. the service and method exist                         else UNIMPLEMENTED
 *   8. the server is not stopping (Health excepted)         else UNAVAILABLE
 *   8b. the `here` callback runs the method on this server
 *      (a cluster's follower: see rpc_here_fn)              else UNAVAILABLE
 *      with ReplyEnvelope.leader_id and leader_endpoint
 *   9. the payload passes mc_wire_check with the method's
 *      input type and unpacks; the message names the field  else INVALID_ARGUMENT
 * Then service->invoke(service, method index, input, closure, call). After
 * it: a reply larger than max_message_bytes becomes RESOURCE_EXHAUSTED; a
 * reply of the wrong type or missing required fields becomes INTERNAL (a bug
 * in the handler). Each connection's share is 1/8 of the contexts (at least 2): a
 * connection sending garbage (requests whose caller is never proven) gets
 * no answer beyond its share, and is disconnected if it does not read its
 * replies either; one that holds its share and has taken none of its
 * replies for 1 s is disconnected - its waiting replies dropped, their
 * contexts free (server.c, "Peers"). A reply not taken in 5 s is dropped.
 *
 * Built in: mediation.v1.Health/Check (serving status, settable with
 * rpc_server_set_serving), mediation.v1.Reflection/ListServices (every
 * registered service and method with input and output type names, and its
 * callers and access where the `describe` callback knows them) and
 * mediation.v1.RpcSession/Open (opens a session: see the options below and
 * identity.h), registered the same way as any other service.
 *
 * Threads: the server runs on nng's threads. Handlers are called on an nng
 * thread, several at once (up to `contexts`). rpc_server_register and
 * rpc_server_listen are called from one thread while setting up;
 * rpc_server_set_serving, rpc_call_* and rpc_server_handle from any thread;
 * rpc_server_stop and rpc_server_free from a thread that is not an nng
 * callback and not a handler.
 */
#ifndef RPC_SERVER_H
#define RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/registry.h"
#include "core/status.h"
#include "core/text.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

/* Extra admission rule, after kinds and unit: return true to let the caller
 * call service/method. To refuse, return false, and set *why to the
 * message the caller gets (PERMISSION_DENIED; a string that outlives the
 * server, such as a literal: the English source, marked N_(); the log
 * shows it as it is, the caller gets its translation), or leave it NULL
 * for the server's own
 * ("unit \"x\" may not call S/M on this server"). Called for methods the
 * server may not have (step 7 comes after). Called on an nng thread; must
 * not block. */
typedef bool (*rpc_accept_fn)(void *arg, const mc_principal *caller, const char *service,
                              const char *method, const char **why);

#define RPC_ACCEPT_KIND(k) (1u << (k)) /* k: an mc_principal_kind */

/* What a method does with what the server keeps (MethodInfo.access). */
typedef enum rpc_access {
  RPC_ACCESS_UNSPECIFIED = 0,
  RPC_ACCESS_READ = 1,  /* changes nothing the server keeps */
  RPC_ACCESS_WRITE = 2, /* changes it */
  RPC_ACCESS_POLL = 3,  /* a read that may wait for something to arrive */
} rpc_access;

/* For Reflection: who may call service/method (RPC_ACCEPT_KIND bits) and
 * what it does, from the server's method table. False: the method has no
 * row (ListServices leaves its callers and access unset). Called with
 * accept_arg, on an nng thread; must not block. */
typedef bool (*rpc_describe_fn)(void *arg, const char *service, const char *method,
                                uint32_t *callers, rpc_access *access);

/* Whether this server runs service/method HERE, now: a router of a
 * cluster runs writes and polls only on its leader, and reads on a follower
 * only when the caller said stale_ok (RequestEnvelope.stale_ok). One hook
 * for every such rule, asked after step 8 (the method exists, the server is
 * not stopping), before the payload is unpacked, for every method except
 * rpc's built-ins (Health, Reflection, RpcSession are each server's own).
 * access is the describe callback's (RPC_ACCESS_UNSPECIFIED without a row).
 * Return true to run the handler. To refuse, return false and fill *out:
 * the caller gets UNAVAILABLE with out->why (an N_() text that outlives the
 * server; the caller gets its translation) and ReplyEnvelope.leader_id /
 * leader_endpoint = out->leader_id / out->leader_endpoint (0 / "": no
 * leader known). The request is not run: the client sends it again (same
 * request id) to the leader. Called with here_arg on an nng thread; must
 * not block. */
typedef struct rpc_redirect {
  const char *why;
  uint64_t leader_id;
  char leader_endpoint[256];
} rpc_redirect;
typedef bool (*rpc_here_fn)(void *arg, const char *service, const char *method,
                            rpc_access access, bool stale_ok, rpc_redirect *out);

typedef struct rpc_server_opts {
  const char *program;  /* Health's `server`, e.g. "mediation-router" */
  const char *version;  /* Health's `version` */
  unsigned contexts;    /* requests served at once (long polls hold one each);
                           0: the registry's [router] contexts (default 64) */
  uint32_t accept_kinds; /* RPC_ACCEPT_KIND(MC_PRINCIPAL_...) bits; 0: every kind */
  const char *accept_unit; /* if set, only principals of this unit (its operators,
                              and the unit itself): a unit's Desk */
  rpc_accept_fn accept;  /* optional, see above */
  rpc_describe_fn describe; /* optional, see above; gets accept_arg too */
  void *accept_arg;
  rpc_here_fn here;      /* optional, see above */
  void *here_arg;
  /* For tls+tcp:// listeners: the server's certificate (chain) and private
   * key, PEM files; key_password if the key is encrypted. Clients are not
   * asked for certificates: they prove who they are by signing requests. */
  const char *tls_cert_file;
  const char *tls_key_file;
  const char *tls_key_password;
  /* Checks on payloads before unpacking. Zero fields take defaults from the
   * registry: max_string_bytes = limits.max_text_bytes, max_bytes_field =
   * limits.max_message_bytes, max_depth = 16, max_repeated unbounded. */
  mc_message_limits payload_limits;
  /* Sessions (RpcSession/Open, then MAC'd requests; identity.h). A session
   * lives session_lifetime_ms (0: 1 hour); the table holds at most
   * max_sessions (0: 4096), of which max_sessions_per_principal (0: 64) for
   * any one principal: its next Open drops its oldest. Expired sessions go
   * first; a table full of live ones refuses Open (RESOURCE_EXHAUSTED), and
   * clients sign instead. Sessions are this process's: a restart forgets
   * them, and clients open new ones (ReplyEnvelope.session_unknown). */
  int64_t session_lifetime_ms;
  unsigned max_sessions;
  unsigned max_sessions_per_principal;
} rpc_server_opts;

/* What the session table holds and has done (for tests and monitoring). */
typedef struct rpc_session_stats {
  size_t live;           /* sessions in the table now (expired ones linger until noticed) */
  uint64_t opened;       /* sessions made by RpcSession/Open */
  uint64_t evicted;      /* dropped early: their principal opened one over its cap */
  uint64_t expired;      /* dropped at or after their expiry */
  uint64_t refused_full; /* Opens refused: the table was full of live sessions */
  uint64_t unknown;      /* requests refused for an unknown or expired session */
  uint64_t by_mac;       /* requests authenticated by a session MAC */
  uint64_t by_signature; /* requests authenticated by an Ed25519 signature */
} rpc_session_stats;

/* Creates a server answering requests signed (or MAC'd under a session) by
 * the registry's principals.
 * reg is borrowed and must outlive the server and every call it hands out.
 * opts may be NULL (defaults). Nothing listens until rpc_server_listen.
 * *out is freed with rpc_server_free. */
mc_code rpc_server_create(const mc_registry *reg, const rpc_server_opts *opts, rpc_server **out,
                          mc_err *err);

/* Adds a service (borrowed: it must outlive the server). Only before the
 * first rpc_server_listen. Errors: ALREADY_EXISTS (a service of that name is
 * registered), INVALID_ARGUMENT (a handler slot is NULL: fill the struct
 * with the generated ..._INIT(prefix_) macro), FAILED_PRECONDITION (the
 * server already listens), RESOURCE_EXHAUSTED (more than 32 services). */
mc_code rpc_server_register(rpc_server *srv, ProtobufCService *service, mc_err *err);

/* Listens on url: ipc://PATH, inproc://NAME, tcp://HOST:PORT or
 * tls+tcp://HOST:PORT (needs opts.tls_cert_file and tls_key_file). May be
 * called several times for several endpoints; the first call opens the
 * socket and starts serving. With port 0, the system picks a port: the URL
 * actually bound is written to bound_url (if not NULL; cap bytes, 256 is
 * plenty). Errors: INVALID_ARGUMENT (unsupported scheme, TLS files missing or
 * not PEM), UNAVAILABLE (address in use, or cannot bind), FAILED_PRECONDITION
 * (stopped). */
mc_code rpc_server_listen(rpc_server *srv, const char *url, char *bound_url, size_t cap,
                          mc_err *err);

/* Sets what Health/Check answers: SERVING, or NOT_SERVING with a detail
 * ("store unavailable: disk full"). Starts as SERVING. Any thread. */
void rpc_server_set_serving(rpc_server *srv, bool serving, const char *detail);

/* Socket-free dispatch: takes one request envelope's bytes, runs every check
 * and the handler, and returns the packed ReplyEnvelope in *reply (malloc'd;
 * free with free()). The reply carries the status; this returns MC_OK
 * whenever a reply was produced (RESOURCE_EXHAUSTED only when out of memory).
 * If the handler answers asynchronously, this waits for it: never call it
 * from a handler or an nng callback. The nng server feeds every request it
 * receives through the same path; the fuzzer and unit tests call it directly.
 * Works with or without listening. */
mc_code rpc_server_handle(rpc_server *srv, const uint8_t *request, size_t len, uint8_t **reply,
                          size_t *reply_len, mc_err *err);

/* Stops cleanly: from now on new requests are answered UNAVAILABLE (Health
 * still answers, NOT_SERVING); waits up to grace_ms for calls in progress to
 * be completed by their handlers; answers those still pending UNAVAILABLE
 * ("the server stopped before the handler replied; retry with the same
 * request id": the handler may yet apply it, so the router's idempotency
 * record must answer the retry); lets the last replies reach the wire (nng
 * 1.5.2 has no linger: 100 ms after the last reply). Listeners and socket
 * stay open, answering UNAVAILABLE, until rpc_server_free: closing them can
 * hang in nng 1.5.2 (see rpc_server_free), so a daemon stops its server,
 * finishes its own work, and only then frees it. A handler that completes
 * an abandoned call later is harmless: its reply is dropped and the call
 * freed then. Idempotent. */
void rpc_server_stop(rpc_server *srv, int64_t grace_ms);

/* A connection may send this many requests whose caller is never proven
 * (undecodable, unknown caller, bad signature or MAC; not an unknown
 * session) since its last proven one: each is refused with its status and
 * message. The next one is not answered and the connection is closed. A
 * peer without a key can only reconnect, which costs it a handshake. */
#define RPC_GARBAGE_BUDGET 16

/* Connections disconnected so far for not reading their replies or for
 * sending garbage past RPC_GARBAGE_BUDGET (server.c, "Peers"). Any thread. */
uint64_t rpc_server_peers_disconnected(rpc_server *srv);

/* Listeners replaced so far because nng had stopped taking connections on
 * them (listen_keeper.c). Any thread. */
uint64_t rpc_server_listeners_renewed(rpc_server *srv);

/* The session table's figures. Any thread. */
void rpc_server_session_stats(rpc_server *srv, rpc_session_stats *out);

/* Stops (with no grace) if not stopped, closes listeners and socket, and
 * frees. NULL is allowed. nng 1.5.2's nng_close can wait forever on a
 * connection that was being set up at that moment (a race fixed in nng
 * 1.6): a daemon calls this last and guards it with
 * mc_daemon_exit_watchdog (core/daemon.h). */
void rpc_server_free(rpc_server *srv);

/* --- Inside a handler (any thread, until the call is completed) --- */

/* Completes the call OK with msg (the method's output type). msg is packed
 * before this returns; it stays the caller's. Same as calling the closure. */
void rpc_call_reply(rpc_call *call, const ProtobufCMessage *msg);

/* Completes the call OK with a reply already packed (payload, len bytes of
 * the method's output type): for answers kept as bytes, such as the
 * router's idempotency records, so they go out without being unpacked and
 * packed again. The bytes are the caller's; they are copied before this
 * returns. The server does not check them against the output type. */
void rpc_call_reply_packed(rpc_call *call, const uint8_t *payload, size_t len);

/* Completes the call with a refusal: code (not MC_OK) and a message for
 * people, printf-style, cut at 255 bytes. Never personal data. */
void rpc_call_fail(rpc_call *call, mc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same from an mc_err. */
void rpc_call_fail_err(rpc_call *call, const mc_err *err);

/* The verified caller (id, kind, unit), from the registry. Valid while the
 * registry lives. */
const mc_principal *rpc_call_caller(const rpc_call *call);

/* The request id (RPC_REQUEST_ID_BYTES = 16 bytes): the idempotency key,
 * the same on every retry of one request. Valid until completion. */
const uint8_t *rpc_call_request_id(const rpc_call *call);

/* The request's absolute deadline, Unix ms. A long poll replies before it. */
int64_t rpc_call_deadline_ms(const rpc_call *call);

/* "mediation.v1.Router/Apply". Valid until completion. */
const char *rpc_call_method(const rpc_call *call);

/* The language the caller asked its messages in (RequestEnvelope.locale;
 * "" if none): give it to mc_i18n_use (core/i18n.h) on a thread that
 * writes the call's message away from its handler. Valid until the call
 * is completed. */
const char *rpc_call_locale(const rpc_call *call);

#endif /* RPC_SERVER_H */
