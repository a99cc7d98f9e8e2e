/*
 * client_envelope.c - the envelopes a client builds and reads: the request
 * packed once, wrapped in a RequestEnvelope and proven (signed, or MAC'd
 * under a session), and the ReplyEnvelope checked and decoded (client.h).
 *
 * Nothing here holds state or touches nng: each function takes what it
 * needs and returns a status with a message, so the public encoders
 * (rpc_request_encode, for tests, tools and the fuzz corpus) and the
 * client's calls build the very same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/pb.h"
#include "rpc/internal.h"

/* --- Requests --- */

void rpc_request_id_new(uint8_t id[RPC_REQUEST_ID_BYTES]) {
  uint64_t ms = (uint64_t)mc_now_ms();
  for (int i = 5; i >= 0; i--, ms >>= 8)
    id[i] = (uint8_t)ms;
  randombytes_buf(id + 6, RPC_REQUEST_ID_BYTES - 6);
}

mc_code rpc__request_pack(const char *service, const char *method,
                          const ProtobufCMessage *request, size_t max_bytes, uint8_t **out,
                          size_t *out_len, mc_err *err) {
  if (!protobuf_c_message_check(request))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: a required field is missing",
                      request->descriptor->name);
  size_t payload_len = protobuf_c_message_get_packed_size(request);
  if (max_bytes != 0 && payload_len > max_bytes)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      _("request %s/%s is %zu bytes, over max_message_bytes %zu ([limits]); "
                      "send less per request"),
                      service, method, payload_len, max_bytes);
  uint8_t *payload = malloc(payload_len ? payload_len : 1);
  if (payload == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, _("out of memory for a %zu-byte request"), payload_len);
  protobuf_c_message_pack(request, payload);
  *out = payload;
  *out_len = payload_len;
  return MC_OK;
}

static void envelope_fields(Mediation__V1__RequestEnvelope *env, const char *service,
                            const char *method, const uint8_t *rid, int64_t deadline_ms,
                            const char *caller, const uint8_t *payload, size_t payload_len,
                            const char *locale) {
  env->service = (char *)service;
  env->method = (char *)method;
  env->request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, (uint8_t *)rid};
  env->deadline_ms = deadline_ms;
  env->caller = (char *)caller;
  env->payload = (ProtobufCBinaryData){payload_len, (uint8_t *)payload};
  /* The caller's language (a gateway answering a browser switches its
   * thread's per request), so the server writes its refusal in it. */
  env->locale = (char *)(locale != NULL ? locale : mc_i18n_current());
}

/* The packed envelope's size if signed: the larger of the two proofs (a
 * signature is 64 bytes, session id and MAC 48), so a request that passes
 * this check fits either way. Sized, not signed: zeros of a signature's
 * length stand in for it. */
size_t rpc__envelope_size(const char *service, const char *method, const uint8_t *rid,
                          int64_t deadline_ms, const char *caller, size_t payload_len) {
  static const uint8_t zeros[RPC_SIGNATURE_BYTES];
  Mediation__V1__RequestEnvelope env = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  envelope_fields(&env, service, method, rid, deadline_ms, caller, NULL, payload_len, NULL);
  env.payload.data = (uint8_t *)zeros; /* get_packed_size reads only the length */
  env.max_reply_bytes = UINT32_MAX;    /* at least as long as any limit's varint */
  env.stale_ok = true;                 /* counted whether set or not: 2 bytes */
  env.signature = (ProtobufCBinaryData){sizeof(zeros), (uint8_t *)zeros};
  return mediation__v1__request_envelope__get_packed_size(&env);
}

mc_code rpc__envelope_build(const char *service, const char *method, const uint8_t *rid,
                            int64_t deadline_ms, const uint8_t *payload, size_t payload_len,
                            const rpc_proof *pf, size_t max_bytes, uint8_t **out,
                            size_t *out_len, mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  Mediation__V1__RequestEnvelope env = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  envelope_fields(&env, service, method, rid, deadline_ms,
                  pf->key != NULL ? rpc_key_principal(pf->key) : pf->caller, payload,
                  payload_len, pf->locale);
  /* Our limit, so a server refuses a reply we could not read instead of
   * sending it (rpc.proto, max_reply_bytes). */
  env.max_reply_bytes = max_bytes;
  env.stale_ok = pf->stale_ok; /* not signed, like locale (client.h, rpc_call_opts) */
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
                      _("request %s/%s is %zu bytes packed, over max_message_bytes %zu ([limits]); "
                      "send less per request"),
                      service, method, n, max_bytes);
  uint8_t *buf = malloc(n);
  if (buf == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, _("out of memory for a %zu-byte request"), n);
  mediation__v1__request_envelope__pack(&env, buf);
  *out = buf;
  *out_len = n;
  return MC_OK;
}

static mc_code encode(const rpc_proof *pf, const char *service, const char *method,
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
  mc_code rc =
      rpc__request_pack(service, method, request, max_bytes, &payload, &payload_len, err);
  if (rc != MC_OK)
    return rc;
  rc = rpc__envelope_build(service, method, rid, deadline_ms, payload, payload_len, pf, max_bytes,
                           out, out_len, err);
  free(payload);
  return rc;
}

mc_code rpc_request_encode(const rpc_key *key, const char *service, const char *method,
                           const ProtobufCMessage *request, int64_t deadline_ms,
                           const uint8_t *request_id, size_t max_bytes, uint8_t **out,
                           size_t *out_len, mc_err *err) {
  rpc_proof pf = {.key = key};
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
  rpc_proof pf = {.caller = caller, .session_id = session_id, .session_key = session_key};
  return encode(&pf, service, method, request, deadline_ms, request_id, max_bytes, out, out_len,
                err);
}

/* --- Replies --- */

mc_code rpc__reply_unpack(const char *url, const uint8_t *body, size_t len, size_t max_bytes,
                          const mc_message_limits *env_limits,
                          Mediation__V1__ReplyEnvelope **out, char *text, size_t cap) {
  mc_err err = {0};
  if (len > max_bytes) {
    snprintf(text, cap,
             "%s answered with %zu bytes, over max_message_bytes %zu ([limits]): is the server "
             "configured with a larger limit? Ask for less (a smaller page)",
             url, len, max_bytes);
    return MC_RESOURCE_EXHAUSTED;
  }
  if (mc_wire_check(&mediation__v1__reply_envelope__descriptor, body, len, env_limits, &err) !=
      MC_OK) {
    snprintf(text, cap, "%s sent a malformed reply: %s", url, err.msg);
    return MC_INTERNAL;
  }
  bool oom = false;
  Mediation__V1__ReplyEnvelope *env = (Mediation__V1__ReplyEnvelope *)mc_pb_unpack(
      &mediation__v1__reply_envelope__descriptor, len, body, &oom);
  if (env == NULL && oom) { /* the reply may be fine: not answered, as far as we know */
    snprintf(text, cap, "out of memory reading the reply from %s", url);
    return MC_UNAVAILABLE;
  }
  if (env == NULL) {
    snprintf(text, cap, "%s sent a reply that does not decode", url);
    return MC_INTERNAL;
  }
  *out = env;
  return MC_OK;
}

bool rpc__reply_session_unknown(const Mediation__V1__ReplyEnvelope *env,
                                const uint8_t rid[RPC_REQUEST_ID_BYTES]) {
  return env->code == MV_STATUS(UNAUTHENTICATED) && env->session_unknown &&
         env->request_id.len == RPC_REQUEST_ID_BYTES &&
         memcmp(env->request_id.data, rid, RPC_REQUEST_ID_BYTES) == 0;
}

mc_code rpc__reply_outcome(const char *url, const Mediation__V1__ReplyEnvelope *env,
                           const uint8_t rid[RPC_REQUEST_ID_BYTES],
                           const ProtobufCMessageDescriptor *output,
                           const mc_message_limits *payload_limits, ProtobufCMessage **out,
                           char *text, size_t cap) {
  mc_err err = {0};
  mc_code code = (mc_code)env->code;
  ProtobufCMessage *msg = NULL;
  bool oom = false;
  if (env->request_id.len != 0 &&
      (env->request_id.len != RPC_REQUEST_ID_BYTES ||
       memcmp(env->request_id.data, rid, RPC_REQUEST_ID_BYTES) != 0)) {
    code = MC_INTERNAL;
    snprintf(text, cap, "%s answered another request", url);
  } else if ((unsigned)env->code >= MC_CODE_COUNT) {
    code = MC_UNKNOWN;
    snprintf(text, cap, "%s answered with unknown status %d: %s", url, (int)env->code,
             env->message);
  } else if (code != MC_OK) {
    snprintf(text, cap, "%s", env->message);
  } else if (mc_wire_check(output, env->payload.data, env->payload.len, payload_limits, &err) !=
             MC_OK) {
    code = MC_INTERNAL;
    snprintf(text, cap, "%s sent a bad %s: %s", url, output->name, err.msg);
  } else if ((msg = mc_pb_unpack(output, env->payload.len, env->payload.data, &oom)) == NULL &&
             oom) {
    code = MC_UNAVAILABLE;
    snprintf(text, cap, "out of memory reading the reply from %s", url);
  } else if (msg == NULL) {
    code = MC_INTERNAL;
    snprintf(text, cap, "%s sent a reply that does not decode as %s", url, output->name);
  } else {
    text[0] = '\0';
  }
  if (code == MC_OK)
    *out = msg;
  return code;
}
