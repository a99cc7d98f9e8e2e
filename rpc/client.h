/*
 * client.h - calling a method on a server: one generic call for every
 * service, by service descriptor and method name.
 *
 *     Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
 *     ...
 *     ProtobufCMessage *out = NULL;
 *     mc_err err;
 *     mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "Apply",
 *                                  &req.base, &(rpc_call_opts){.timeout_ms = 5000},
 *                                  &out, &err);
 *     if (rc == MC_OK) {
 *       Mediation__V1__ApplyReply *reply = (Mediation__V1__ApplyReply *)out;
 *       ...
 *       protobuf_c_message_free_unpacked(out, NULL);
 *     }
 *
 * A call builds a RequestEnvelope (service, method, request id, deadline,
 * caller = the key's principal, payload = the packed request), proves it
 * (below) and sends it on one nng REQ context. The reply's status code is
 * returned; for OK, the reply message, unpacked with the method's output
 * descriptor, is the caller's (free with
 * protobuf_c_message_free_unpacked(msg, NULL)).
 *
 * Proof: sessions. By default the client signs one RpcSession/Open with its
 * key, on its first call, and MACs every request under the session key
 * after that (identity.h): one Ed25519 signature per session instead of one
 * per request. One session serves every thread and call of the client; only
 * one Open runs at a time, and calls that need the session wait for it (up
 * to their own deadlines). It is renewed in the background at 3/4 of its
 * life. If the server answers that it does not know the session (it
 * restarted, or the session expired or was evicted), the request was not
 * run: the client opens a new session and sends the same request - same
 * request id, same deadline - again, invisibly to the caller. If the server
 * refuses Open (a server without sessions, a full session table, an
 * admission rule), requests are signed for a minute, then Open is asked
 * again. With sign_each_request every request is signed, as before
 * sessions (tests, tools).
 *
 * Statuses the client itself produces (the server's own are passed through):
 *   INVALID_ARGUMENT    the request is not of the method's input type, lacks
 *                       required fields, the method is not in the
 *                       descriptor, or the deadline lies further ahead than
 *                       limits.max_deadline_ahead_ms (the server would refuse it)
 *   RESOURCE_EXHAUSTED  the packed envelope exceeds limits.max_message_bytes
 *                       (never sent: nng 1.5.2's receiver would drop the
 *                       connection and REQ would resend it in a loop); a
 *                       reply over it (a server configured with a larger
 *                       limit: read up to the 16 MiB hard cap, then
 *                       refused); or nowait and every slot busy
 *   UNAVAILABLE         the request was never handed to a connection: none
 *                       could be made before the deadline (nothing
 *                       listening, refused, or a failed TLS handshake) or,
 *                       with fail_when_refused, the endpoint refused. The
 *                       message adds the dialer's counts of refused and
 *                       failed-authentication connects (nng 1.5.2 reports
 *                       handshake failures nowhere else), and is logged.
 *                       When TLS handshakes fail, the client's keeper runs
 *                       one of its own (plain TCP + mbedTLS, same CA and
 *                       name) at the first failure and says which setting
 *                       is wrong instead: "TLS 配置错误 (TLS configuration
 *                       error) with URL: the server's certificate is not
 *                       signed by tls_ca (unknown CA ...)" / "has expired"
 *                       / "does not carry the name tls_server_name";
 *                       logged once. tls_ca itself is checked at create
 *                       (FAILED_PRECONDITION if none of it is valid now).
 *   DEADLINE_EXCEEDED   the request went out (at least once) but no reply
 *                       came: the deadline passed (slow server, or the
 *                       connection was lost and not re-established), or
 *                       the attempts ran out on dropped connections
 *   INTERNAL / UNKNOWN  the reply did not decode, did not match the request,
 *                       or carried a status number outside the list
 *   CANCELLED           the client was freed with the call outstanding
 * So a client-made UNAVAILABLE means "never delivered: safe to retry at
 * will", and DEADLINE_EXCEEDED "outcome unknown: retry with the same request
 * id". (A server's own UNAVAILABLE - stopping, or stopped before its handler
 * replied - also says: retry with the same request id.)
 *
 * Retries. Each call has a request id: 16 fresh random bytes, or the caller's
 * (a unit's outbox stores its ids so a retry after a crash reuses them). An
 * attempt that gets no reply within attempt_timeout_ms is sent again - the
 * very same signed bytes, so the same id - while the deadline allows, at most
 * max_attempts times in all. nng's own REQ timer resend is switched off
 * (NNG_OPT_REQ_RESENDTIME infinite) so that attempts are ours and counted;
 * (bytes are the same within one session: a request sent again because its
 * session was unknown is built anew, with the same id, under the new one);
 * nng 1.5.2 still resends a request by itself when the connection drops and
 * comes back. A request may thus reach the server more than once: the server
 * deduplicates by request id where it matters (the router's idempotency
 * store). By default attempt_timeout_ms is the whole deadline, so a slow
 * handler (a long poll) is not hammered.
 *
 * In flight. At most max_in_flight calls are outstanding on one client
 * (nng 1.5.2's REQ resend timers cost O(n^2) in outstanding contexts). A call
 * beyond that waits for a slot until its deadline (or, with nowait, fails
 * with RESOURCE_EXHAUSTED at once).
 *
 * Every call ends by its deadline plus 500 ms, even if nng 1.5.2 loses the
 * operation: a thread of the client's own (the keeper) then reports it
 * UNAVAILABLE or DEADLINE_EXCEEDED as above, on that thread. The keeper also
 * dials again when nng's dialer has stopped reconnecting (client_keeper.c).
 *
 * Threads: a client may be used by any number of threads at once.
 * rpc_client_call blocks its thread; never call it from an nng callback or
 * from a `done` callback. rpc_client_call_async returns at once (unless it
 * waits for a slot: pass nowait from callbacks) and calls done once, on an
 * nng thread, when it was started (MC_OK returned; see below for the one
 * exception). rpc_client_free from a thread that is not a callback.
 */
#ifndef RPC_CLIENT_H
#define RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/registry.h"
#include "core/status.h"
#include "rpc/identity.h"

#define RPC_REQUEST_ID_BYTES 16

/* A fresh request id: the time (Unix ms, 6 bytes big-endian), then 10
 * random bytes. Servers treat ids as opaque; the time in front is for the
 * router's store. Its idempotency records are keyed by request id, and
 * random keys put each record of a group commit on a B-tree page of its
 * own: about one more 4 KB page written, and one more separate disk write
 * for fdatasync to wait for, per request. Ids made at about the same time
 * sort together, so a commit's records share a few pages at the end of the
 * tree. 80 random bits keep every id unguessable and, within a
 * millisecond, unique. */
void rpc_request_id_new(uint8_t id[RPC_REQUEST_ID_BYTES]);

typedef struct rpc_client rpc_client;

typedef struct rpc_client_opts {
  unsigned max_in_flight;     /* calls outstanding at once; 0: 32 */
  int64_t default_timeout_ms; /* when a call gives neither deadline nor timeout; 0: 10 s */
  int64_t attempt_timeout_ms; /* default per-attempt wait; 0: the whole deadline */
  unsigned max_attempts;      /* default attempts per call; 0: 3 */
  /* For tls+tcp:// URLs: the CA (PEM file) that signed the server's
   * certificate, required; and the name the certificate must carry
   * (default: the URL's host; set it when dialing by IP address). The
   * server's certificate is always verified (NNG_TLS_AUTH_MODE_REQUIRED). */
  const char *tls_ca_file;
  const char *tls_server_name;
  /* Sign every request with the key instead of opening a session (see
   * "Proof" above): for tests and tools. */
  bool sign_each_request;
  /* Fail fast when nothing is there: while no connection is up and the
   * dialer's last connect was refused (an ipc:// socket that is absent, a
   * TCP reset), calls not yet sent end UNAVAILABLE ("connection refused")
   * within about 200 ms instead of at their deadline. A peer that accepts
   * but is slow is still waited for. For interactive tools (mediactl); a
   * daemon waits for its peer to come up. */
  bool fail_when_refused;
  /* Told (on the client's own thread, without its locks: must not block or
   * call this client synchronously) when the TLS verdict above is found,
   * with why ("the server's certificate is not signed by tls_ca ..."), and
   * with NULL when a connection comes up after one was told. For a daemon
   * that answers others on its peer's behalf (a unit's Desk, its health).
   * Not called after rpc_client_free returns. */
  void (*on_tls_verdict)(void *arg, const char *why);
  void *on_tls_verdict_arg;
} rpc_client_opts;

typedef struct rpc_call_opts {
  int64_t deadline_ms;        /* absolute Unix ms; 0: now + timeout_ms */
  int64_t timeout_ms;         /* if deadline_ms is 0; 0: the client's default */
  const uint8_t *request_id;  /* RPC_REQUEST_ID_BYTES bytes to reuse, or NULL: fresh */
  int64_t attempt_timeout_ms; /* 0: the client's default */
  unsigned max_attempts;      /* 0: the client's default */
  bool nowait;                /* no free slot: RESOURCE_EXHAUSTED at once */
  /* A read that any router of a cluster may answer from the state it has
   * applied, possibly behind the leader's (RequestEnvelope.stale_ok). Like
   * locale and max_reply_bytes it is not covered by the signature or MAC
   * (rpc/identity.c signs service, method, id, deadline, caller and the
   * payload's digest): changing it on the way can only make a read staler,
   * never run a write, and TLS guards it between machines. Without it a
   * follower refuses and names the leader. A single router ignores it. */
  bool stale_ok;
} rpc_call_opts;

/* Called once when an async call completes. code and message are the status
 * (message is "" for OK, valid only during the callback); reply is the
 * unpacked reply for OK (the callee owns it: free with
 * protobuf_c_message_free_unpacked), NULL otherwise. Runs on an nng thread:
 * must not block, must not call rpc_client_call (the sync form), may call
 * rpc_client_call_async with nowait. */
typedef void (*rpc_done_fn)(void *arg, mc_code code, const char *message,
                            ProtobufCMessage *reply);

/* Creates a client for url (ipc://, inproc://, tcp://, tls+tcp://). Does not
 * wait for a connection: nng connects (and reconnects) in the background,
 * so a client may be made before its server is up. key (borrowed; must
 * outlive the client) signs every request, or each session's Open; limits (copied) are the
 * registry's. opts may be NULL. Errors: INVALID_ARGUMENT (unsupported URL
 * scheme, tls+tcp:// without tls_ca_file, unreadable CA file),
 * RESOURCE_EXHAUSTED. */
mc_code rpc_client_create(const char *url, const rpc_key *key, const mc_limits *limits,
                          const rpc_client_opts *opts, rpc_client **out, mc_err *err);

/* A client for a cluster of routers: urls[0..n-1] are its nodes' endpoints
 * (mc_registry_router_endpoints gives them, in raft-id order). With n == 1
 * this is rpc_client_create, nothing more. With several, calls follow the
 * leader (client_route.c):
 *   - a call goes to the node the client talks to now (the first at
 *     first); its sessions, connections and keeper are that node's own;
 *   - a node's UNAVAILABLE naming a leader that is one of urls (a follower:
 *     "not run, ask the leader") sends the same request - same request id,
 *     same deadline - to that leader at once, which becomes the current
 *     node for every later call ("router leader is now node N at URL" is
 *     logged once per change);
 *   - an UNAVAILABLE naming no leader (an election), one made here (nothing
 *     listening, refused: the node is down) or DEADLINE_EXCEEDED before the
 *     call's deadline (the connection was lost after sending: outcome
 *     unknown, and the same request id is safe on any node, whose
 *     idempotency record is replicated) tries the next node; after every
 *     node failed so (or 2n replies without an answer), a pause - 50 ms,
 *     doubling up to 800 ms - before the next round; never past the
 *     deadline.
 * Each reply moves the call at most once; the call ends with the first
 * other outcome, or at its deadline: UNAVAILABLE if no attempt can have
 * run, DEADLINE_EXCEEDED if one may have. Each node's member client is
 * made with fail_when_refused, and ends a call whose connection dropped
 * with no other up, so a killed node costs well under a second, not the
 * deadline. TLS: every URL with the same tls_ca_file; tls_server_name, if
 * given, for all. rpc_client_url says the node talked to now. Errors: as
 * rpc_client_create's, naming the URL; INVALID_ARGUMENT for n == 0. */
mc_code rpc_client_create_list(const char *const urls[], size_t n, const rpc_key *key,
                               const mc_limits *limits, const rpc_client_opts *opts,
                               rpc_client **out, mc_err *err);

/* The router client of a registry: rpc_client_create_list on
 * mc_registry_router_endpoints(reg) with reg's limits. INVALID_ARGUMENT if
 * the registry names no router endpoint. */
mc_code rpc_client_for_routers(const mc_registry *reg, const rpc_key *key,
                               const rpc_client_opts *opts, rpc_client **out, mc_err *err);

/* Cancels outstanding calls (their done gets CANCELLED), closes, frees.
 * No other thread may be inside an rpc_client_call on it. NULL is allowed. */
void rpc_client_free(rpc_client *c);

/* Calls service/method with request (borrowed; packed before this returns).
 * copts may be NULL. On MC_OK, *reply is the unpacked reply (caller frees
 * with protobuf_c_message_free_unpacked); otherwise err holds the status and
 * message (see above) and *reply is untouched. */
mc_code rpc_client_call(rpc_client *c, const ProtobufCServiceDescriptor *service,
                        const char *method, const ProtobufCMessage *request,
                        const rpc_call_opts *copts, ProtobufCMessage **reply, mc_err *err);

/* The same, returning at once. Returns MC_OK if the call was started: done
 * (arg, ...) will then be called exactly once with the outcome, on an nng
 * thread (or, if the call ends before anything is sent - out of memory, the
 * client closing - on the calling thread, before this returns). Otherwise
 * returns the failure (err says why) and done is never called. The request
 * is packed before this returns; the caller may free it then. */
mc_code rpc_client_call_async(rpc_client *c, const ProtobufCServiceDescriptor *service,
                              const char *method, const ProtobufCMessage *request,
                              const rpc_call_opts *copts, rpc_done_fn done, void *arg,
                              mc_err *err);

/* The URL the client dials (a list client: the node it talks to now). */
const char *rpc_client_url(const rpc_client *c);

/* Builds and signs a request envelope, packed: what a signed call sends. On success
 * *out (malloc'd; free with free()) holds *out_len bytes. request_id may be
 * NULL (fresh random). max_bytes 0: no size check; otherwise a bigger
 * envelope is RESOURCE_EXHAUSTED. For tests, tools and the fuzz corpus; calls
 * use it internally. */
mc_code rpc_request_encode(const rpc_key *key, const char *service, const char *method,
                           const ProtobufCMessage *request, int64_t deadline_ms,
                           const uint8_t *request_id, size_t max_bytes, uint8_t **out,
                           size_t *out_len, mc_err *err);

/* The same, MAC'd under a session instead of signed (identity.h): caller
 * is the principal the session was opened for, session_id and session_key
 * what RpcSession/Open and rpc_session_derive gave. For tests, tools and the
 * fuzz corpus; calls use the same code internally. */
mc_code rpc_request_encode_mac(const char *caller, const uint8_t session_id[RPC_SESSION_ID_BYTES],
                               const uint8_t session_key[RPC_SESSION_KEY_BYTES],
                               const char *service, const char *method,
                               const ProtobufCMessage *request, int64_t deadline_ms,
                               const uint8_t *request_id, size_t max_bytes, uint8_t **out,
                               size_t *out_len, mc_err *err);

#endif /* RPC_CLIENT_H */
