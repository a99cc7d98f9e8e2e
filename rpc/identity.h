/*
 * identity.h - who is calling: Ed25519 keys, key files, and the signatures
 * (and session MACs) that prove a request (or a receipt) came from its
 * principal.
 *
 * Every principal of the registry (a unit, a coordinator, an operator) has a
 * key pair. The public key is in the registry (public_key = <base64>); the
 * secret key is a file only its process reads:
 *
 *     <keys_dir>/<principal>.key   base64 of the 64-byte libsodium secret key
 *                                  (a 32-byte seed is accepted too), mode 0600;
 *                                  refused if group or others may read it
 *     <keys_dir>/<principal>.pub   base64 of the 32-byte public key: the
 *                                  string that goes into the registry
 *
 * `mediation-keygen --dir DIR NAME...` makes them (rpc/keygen.c).
 *
 * What is signed. Every signature covers a byte string built by one function
 * in identity.c, domain-separated so that no signature of one kind can be
 * replayed as another, and length-prefixed so that no two inputs share bytes.
 * With lp(x) = 4-byte big-endian length of x, then x; be64(n) = 8 bytes,
 * big-endian two's complement; MAGIC = the 17 bytes "mediation-v1-sig\0":
 *
 *   request envelope:  MAGIC 0x01 lp(service) lp(method) lp(request_id)
 *                      be64(deadline_ms) lp(caller) lp(SHA-256(payload))
 *   protobuf message:  MAGIC 0x02 lp(full type name, e.g. "mediation.v1.Receipt")
 *                      lp(the message packed with its `signature` field empty)
 *   raw bytes:         MAGIC 0x03 lp(context) lp(data)
 *
 * The signature itself is pure Ed25519 (crypto_sign_detached) over those bytes.
 *
 * Sessions: MAC'd requests. A request envelope may instead carry a
 * session_id and a MAC (rpc.proto): the MAC is BLAKE2b-256
 * (crypto_generichash, 32-byte output) keyed with the session key, over
 * exactly the request-envelope bytes above, so it covers every field a
 * signature covers, in the same way. The session key comes from an
 * RpcSession/Open request, which is itself signed: the client sends a fresh
 * X25519 public key C (its secret c stays with it), the server makes its own
 * pair (s, S), and both compute, in rpc_session_derive:
 *
 *   session key = BLAKE2b-256(key = X25519(c, S) = X25519(s, C),
 *                             message = MAGIC 0x04 lp("mediation.v1.session-key")
 *                                       lp(C) lp(S) lp(principal) lp(session_id))
 *
 * Bound to both ephemeral keys, the principal that signed the Open and the
 * session id, so a key is good for one session of one principal only. Only
 * the signed Open can make a session, and only someone holding c or s can
 * compute its key: a captured Open replayed before its deadline makes a
 * session nobody can use. The MAC proves the same thing a signature does
 * (this principal sent these bytes), to the one server that holds the key.
 *
 * Threads: an rpc_key is immutable once made; any number of threads may sign
 * with it at once. Every function here is thread-safe.
 */
#ifndef RPC_IDENTITY_H
#define RPC_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "core/status.h"
#include "mv1.h"

#define RPC_PUBLIC_KEY_BYTES 32
#define RPC_SECRET_KEY_BYTES 64
#define RPC_SEED_BYTES 32
#define RPC_SIGNATURE_BYTES 64
#define RPC_PUBLIC_KEY_B64_MAX 48 /* base64 of a public key, NUL included */
#define RPC_PRINCIPAL_MAX 64      /* bytes of a principal id, NUL excluded */
#define RPC_SESSION_ID_BYTES 16
#define RPC_SESSION_KEY_BYTES 32
#define RPC_KX_KEY_BYTES 32 /* an X25519 public or secret key */
#define RPC_MAC_BYTES 32

/* A principal's key pair. Opaque; the secret half lives in memory that
 * libsodium guards and wipes on free. */
typedef struct rpc_key rpc_key;

/* True if id can name a principal (and so a key file): 1-64 characters of
 * a-z, 0-9, '-' and '_' — the registry's rule for section ids. */
bool rpc_principal_valid(const char *id);

/* Makes a fresh random key pair for `principal`. *out is freed with
 * rpc_key_free. Errors: INVALID_ARGUMENT (bad principal id),
 * RESOURCE_EXHAUSTED. */
mc_code rpc_key_generate(const char *principal, rpc_key **out, mc_err *err);

/* The key pair derived from a 32-byte seed (deterministic: tests, fuzzing). */
mc_code rpc_key_from_seed(const char *principal, const uint8_t seed[RPC_SEED_BYTES],
                          rpc_key **out, mc_err *err);

/* Loads <keys_dir>/<principal>.key. Errors: NOT_FOUND (no such file),
 * PERMISSION_DENIED (the file may be read or written by group or others:
 * chmod 600 it; or it is not a regular file), INVALID_ARGUMENT (not base64 of
 * a 64-byte secret key or a 32-byte seed, or the two halves disagree). */
mc_code rpc_key_load(const char *keys_dir, const char *principal, rpc_key **out, mc_err *err);

/* Writes <keys_dir>/<principal>.key (mode 0600, never over an existing file)
 * and <keys_dir>/<principal>.pub (mode 0644). Creates keys_dir (mode 0700) if
 * it does not exist. Errors: ALREADY_EXISTS (the .key file exists: a key is
 * never silently replaced), PERMISSION_DENIED / INTERNAL (I/O). */
mc_code rpc_key_save(const rpc_key *key, const char *keys_dir, mc_err *err);

/* Wipes and frees. NULL is allowed. */
void rpc_key_free(rpc_key *key);

/* The principal id the key belongs to. Valid as long as the key. */
const char *rpc_key_principal(const rpc_key *key);

/* The 32-byte public key. Valid as long as the key. */
const uint8_t *rpc_key_public(const rpc_key *key);

/* The public key in base64 (the registry's public_key= value) into out. */
void rpc_key_public_base64(const rpc_key *key, char out[RPC_PUBLIC_KEY_B64_MAX]);

/* --- Request envelopes (used by the client and the server) --- */

/* The exact bytes a request envelope's signature or MAC covers (see the top
 * of this file), from env's service, method, request_id, deadline_ms, caller
 * and payload; signature, session_id and mac are ignored. On success *out is malloc'd (caller
 * frees with free()) and *out_len is its length. Errors: INVALID_ARGUMENT (a
 * field longer than 4 GiB), UNAVAILABLE (out of memory). */
mc_code rpc_request_signing_input(const Mediation__V1__RequestEnvelope *env, uint8_t **out,
                                  size_t *out_len, mc_err *err);

/* Signs env with key into sig (RPC_SIGNATURE_BYTES). The caller then points
 * env->signature at sig. env->caller should be rpc_key_principal(key). */
mc_code rpc_request_sign(const rpc_key *key, const Mediation__V1__RequestEnvelope *env,
                         uint8_t sig[RPC_SIGNATURE_BYTES], mc_err *err);

/* Verifies env->signature against public_key. MC_OK if it verifies;
 * UNAUTHENTICATED (wrong length, or it does not verify) otherwise. */
mc_code rpc_request_verify(const uint8_t public_key[RPC_PUBLIC_KEY_BYTES],
                           const Mediation__V1__RequestEnvelope *env, mc_err *err);

/* --- Sessions (RpcSession/Open, then MAC'd requests) --- */

/* A fresh ephemeral X25519 key pair: the client's for one Open, or the
 * server's for one session. Wipe the secret (sodium_memzero) once the
 * session key is derived. Errors: INTERNAL (libsodium failed to start). */
mc_code rpc_session_keypair(uint8_t public_key[RPC_KX_KEY_BYTES],
                            uint8_t secret_key[RPC_KX_KEY_BYTES], mc_err *err);

/* The one definition of a session key (see the top of this file), computed
 * the same way on both sides: my_secret is the client's ephemeral secret if
 * client_side, else the server's; the X25519 partner is the other side's
 * public key. principal is the caller that signed the Open. Writes key only
 * on success. Errors: INVALID_ARGUMENT (the other side's public key is a
 * low-order point, so the X25519 result would be all zeros; or the principal
 * id is not valid). */
mc_code rpc_session_derive(const uint8_t my_secret[RPC_KX_KEY_BYTES], bool client_side,
                           const uint8_t client_public[RPC_KX_KEY_BYTES],
                           const uint8_t server_public[RPC_KX_KEY_BYTES], const char *principal,
                           const uint8_t session_id[RPC_SESSION_ID_BYTES],
                           uint8_t key[RPC_SESSION_KEY_BYTES], mc_err *err);

/* MACs env with a session key into mac (RPC_MAC_BYTES). The caller then
 * sets env->session_id and points env->mac at mac (and leaves
 * env->signature empty). */
mc_code rpc_request_mac(const uint8_t key[RPC_SESSION_KEY_BYTES],
                        const Mediation__V1__RequestEnvelope *env, uint8_t mac[RPC_MAC_BYTES],
                        mc_err *err);

/* Checks env->mac against key, in constant time. MC_OK if it matches;
 * UNAUTHENTICATED (wrong length, or it does not match) otherwise. */
mc_code rpc_request_verify_mac(const uint8_t key[RPC_SESSION_KEY_BYTES],
                               const Mediation__V1__RequestEnvelope *env, mc_err *err);

/* --- Other signed records (delivery receipts...) --- */

/* Signs a protobuf message that has a singular `bytes signature` field
 * (mediation.v1.Receipt): the signature covers the message packed with that
 * field empty, whatever it holds now, so the caller may sign, then set
 * msg->signature = {RPC_SIGNATURE_BYTES, sig}. msg is not modified.
 * Errors: INVALID_ARGUMENT (no such field, or required fields missing:
 * protobuf_c_message_check failed), UNAVAILABLE (out of memory). */
mc_code rpc_sign_message(const rpc_key *key, const ProtobufCMessage *msg,
                         uint8_t sig[RPC_SIGNATURE_BYTES], mc_err *err);

/* Verifies the `signature` field of msg (as rpc_sign_message made it) against
 * public_key. MC_OK, or UNAUTHENTICATED (missing, wrong length, or does not
 * verify), or INVALID_ARGUMENT (msg has no `bytes signature` field). */
mc_code rpc_verify_message(const uint8_t public_key[RPC_PUBLIC_KEY_BYTES],
                           const ProtobufCMessage *msg, mc_err *err);

/* Signs arbitrary bytes under a context string that says what they are
 * (e.g. "mediation.v1.backup-manifest"); the same context must be given to
 * verify. context must be non-empty. */
mc_code rpc_sign_bytes(const rpc_key *key, const char *context, const uint8_t *data, size_t len,
                       uint8_t sig[RPC_SIGNATURE_BYTES], mc_err *err);

/* MC_OK if sig (sig_len bytes) is key's signature of data under context;
 * UNAUTHENTICATED otherwise. */
mc_code rpc_verify_bytes(const uint8_t public_key[RPC_PUBLIC_KEY_BYTES], const char *context,
                         const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len,
                         mc_err *err);

#endif /* RPC_IDENTITY_H */
