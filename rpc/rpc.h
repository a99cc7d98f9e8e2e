/*
 * rpc.h - gRPC-style RPC over nng REQ/REP with protobuf-c: the one way two
 * processes of the system talk. Include this; it brings the three parts:
 *
 *   rpc/identity.h  keys, key files, and what exactly is signed or MAC'd
 *   rpc/server.h    serving protoc-c services (dispatch by descriptor,
 *                   sync and async handlers, Health, Reflection,
 *                   RpcSession, stop)
 *   rpc/client.h    the generic call (sync and async), sessions, retries,
 *                   deadlines
 *
 * On the wire (proto/mediation/v1/rpc.proto): a request is a
 * RequestEnvelope {service, method, request_id, deadline_ms, caller,
 * signature | session_id + mac, payload}; a reply a ReplyEnvelope
 * {request_id, code, message, payload, session_unknown}. Codes are gRPC's,
 * numbered as mc_code (core/status.h).
 *
 * Transports: ipc://, inproc://, tcp:// and tls+tcp:// through the same code;
 * the URL decides. Every message is bounded by the registry's
 * limits.max_message_bytes on both sides (NNG_OPT_RECVMAXSZ, and the client
 * refuses to send more); deadlines by limits.max_deadline_ahead_ms.
 *
 * Trust: TLS (when used) protects the channel; who calls is proven by the
 * caller's Ed25519 key, checked by the server against the registry's public
 * keys, because nng 1.5.2 cannot tell us the peer certificate's name. Either
 * each request is signed, or - the client's default - one signed
 * RpcSession/Open sets up a key shared with that server (X25519 between
 * ephemeral keys), and each request carries a MAC under it: the same bytes
 * covered, ~1 us instead of ~86 us of public-key crypto per request. A
 * request past its deadline is refused, so a captured request can be
 * replayed only until then, when the router's idempotency store answers it.
 *
 * Threads: see each header. In short: servers and clients are thread-safe;
 * handlers and async completions run on nng's threads and must not block on
 * another RPC's completion there.
 *
 * Lifetimes: the registry outlives servers; a key outlives its clients;
 * unpacked messages handed to a caller are the caller's
 * (protobuf_c_message_free_unpacked(msg, NULL)); messages handed to the
 * library are borrowed and packed before the call returns.
 */
#ifndef RPC_RPC_H
#define RPC_RPC_H

#include "rpc/client.h"
#include "rpc/identity.h"
#include "rpc/server.h"

#endif /* RPC_RPC_H */
