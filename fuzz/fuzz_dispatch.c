/*
 * fuzz_dispatch.c - libFuzzer target for the server's request path without
 * sockets: envelope wire check and decoding, signature verification,
 * deadline and admission checks, method lookup by descriptor, payload check
 * and unpacking, the handler, and reply packing (rpc_server_handle).
 *
 * The idea: random bytes rarely carry a valid Ed25519 signature or session
 * MAC, so each input is run three times. First as is, which exercises
 * everything up to and including authentication: the fuzzer's own
 * signature, session_id and mac fields (wrong lengths, both proofs, unknown
 * sessions). Then, if it decodes as an envelope, re-signed by the fuzz
 * principal with a fresh deadline, and once more MAC'd under a session the
 * fuzzer opened at start (re-opened when the fuzzer's own RpcSession/Open
 * calls push it out of the table), so that the fuzzer's choice of service,
 * method and payload reaches dispatch and the handlers - RpcSession/Open
 * included - by both proofs. Invariant checked on every input: the server
 * answers, and its answer decodes as a ReplyEnvelope with a known status;
 * session_unknown only ever comes with UNAUTHENTICATED. A crash, hang, leak,
 * sanitizer report or a broken invariant is a finding.
 *
 * Besides Echo (flat messages), the real Router and Desk descriptors are
 * served by a stub invoke, so payload checks and unpacking meet the deep,
 * string-heavy types of the contract (CaseAction, Intake, Party...). The
 * stub checks the decoded input with mc_message_check, as a handler would,
 * and answers with an empty message of the method's output type.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DMEDIATION_FUZZ=ON
 *        cmake --build build-fuzz --target fuzz_dispatch
 * Run:   build-fuzz/fuzz/fuzz_dispatch -max_total_time=60 NEW_DIR fuzz/corpus/dispatch
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/text.h"
#include "fuzz_common.h"
#include "mediation/v1/testing.pb-c.h"

static rpc_server *srv;
static rpc_key *key;
static mc_registry *reg;
static uint8_t session_id[RPC_SESSION_ID_BYTES], session_key[RPC_SESSION_KEY_BYTES];

/* Echo, synchronous only (a fuzz run must not start threads). */
static void fz_echo(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoRequest *in,
                    Mediation__V1__EchoReply_Closure done, void *call) {
  (void)svc;
  if (in->fail_code != 0) {
    rpc_call_fail(call, (mc_code)in->fail_code, "fuzz: failing as asked");
    return;
  }
  Mediation__V1__EchoReply out = MEDIATION__V1__ECHO_REPLY__INIT;
  out.text = in->text;
  out.blob = in->blob;
  uint8_t *extra = NULL;
  /* Bounded: large enough to cross the reply limit, not to exhaust memory. */
  if (in->reply_bytes > 0 && in->reply_bytes <= 2 * FUZZ_MAX_MESSAGE &&
      (extra = calloc(1, in->reply_bytes)) != NULL)
    out.blob = (ProtobufCBinaryData){in->reply_bytes, extra};
  out.caller = rpc_call_caller(call)->id;
  out.method = (char *)rpc_call_method(call);
  out.request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, (uint8_t *)rpc_call_request_id(call)};
  done(&out, call);
  free(extra);
}

static void fz_ping(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoEmpty *in,
                    Mediation__V1__EchoEmpty_Closure done, void *call) {
  (void)svc;
  (void)in;
  Mediation__V1__EchoEmpty out = MEDIATION__V1__ECHO_EMPTY__INIT;
  done(&out, call);
}

static Mediation__V1__Echo_Service echo = MEDIATION__V1__ECHO__INIT(fz_);

/* A service for any descriptor: what a handler does first (validate the
 * decoded input), then an empty reply of the right type. */
static void stub_invoke(ProtobufCService *svc, unsigned index, const ProtobufCMessage *input,
                        ProtobufCClosure closure, void *call) {
  static const mc_message_limits limits = {
      .max_string_bytes = 4096, .max_bytes_field = 65536, .max_repeated = 64, .max_depth = 8};
  mc_err err = {0};
  if (mc_message_check(input, &limits, &err) != MC_OK) {
    rpc_call_fail_err(call, &err);
    return;
  }
  const ProtobufCMessageDescriptor *out_desc = svc->descriptor->methods[index].output;
  ProtobufCMessage *out = calloc(1, out_desc->sizeof_message);
  if (out == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, "fuzz: out of memory");
    return;
  }
  protobuf_c_message_init(out_desc, out);
  closure(out, call);
  free(out);
}

static ProtobufCService router_stub = {&mediation__v1__router__descriptor, stub_invoke, NULL};
static ProtobufCService desk_stub = {&mediation__v1__desk__descriptor, stub_invoke, NULL};

/* Opens the fuzz principal's session through the server's own path, as a
 * client would. */
static void open_session(void) {
  uint8_t pk[RPC_KX_KEY_BYTES], sk[RPC_KX_KEY_BYTES];
  mc_err err = {0};
  if (rpc_session_keypair(pk, sk, &err) != MC_OK)
    abort();
  Mediation__V1__SessionOpenRequest req = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
  req.client_public_key = (ProtobufCBinaryData){sizeof(pk), pk};
  uint8_t *bytes, *reply;
  size_t n, len;
  if (rpc_request_encode(key, "mediation.v1.RpcSession", "Open", &req.base, mc_now_ms() + 10000,
                         NULL, 0, &bytes, &n, &err) != MC_OK ||
      rpc_server_handle(srv, bytes, n, &reply, &len, &err) != MC_OK)
    abort();
  free(bytes);
  Mediation__V1__ReplyEnvelope *r = mediation__v1__reply_envelope__unpack(NULL, len, reply);
  free(reply);
  if (r == NULL || r->code != MV_STATUS(OK))
    abort();
  Mediation__V1__SessionOpenReply *o =
      mediation__v1__session_open_reply__unpack(NULL, r->payload.len, r->payload.data);
  if (o == NULL || o->session_id.len != RPC_SESSION_ID_BYTES ||
      o->server_public_key.len != RPC_KX_KEY_BYTES)
    abort();
  memcpy(session_id, o->session_id.data, RPC_SESSION_ID_BYTES);
  if (rpc_session_derive(sk, true, pk, o->server_public_key.data, FUZZ_PRINCIPAL, session_id,
                         session_key, &err) != MC_OK)
    abort();
  mediation__v1__session_open_reply__free_unpacked(o, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* Below MC_LOG_ERR: nothing is printed. A fuzzer makes handlers misbehave
   * on purpose (a failure code outside the list is logged as a bug), and a
   * line per input would drown its output and halve its speed. */
  mc_log_init("fuzz_dispatch", (mc_log_level)0);
  uint8_t seed[RPC_SEED_BYTES];
  fuzz_seed(seed);
  mc_err err = {0};
  char text[1024];
  if (rpc_key_from_seed(FUZZ_PRINCIPAL, seed, &key, &err) != MC_OK)
    abort();
  fuzz_registry_text(key, text, sizeof(text));
  if (mc_registry_parse(text, "fuzz.conf", &reg, &err) != MC_OK ||
      rpc_server_create(reg, &(rpc_server_opts){.program = "fuzz"}, &srv, &err) != MC_OK ||
      rpc_server_register(srv, &echo.base, &err) != MC_OK ||
      rpc_server_register(srv, &router_stub, &err) != MC_OK ||
      rpc_server_register(srv, &desk_stub, &err) != MC_OK)
    abort();
  open_session();
  return 0;
}

/* The invariant: every request gets a reply that decodes, with a known code.
 * Returns whether the reply said session_unknown. */
static bool handle_and_check(const uint8_t *data, size_t size) {
  uint8_t *reply = NULL;
  size_t len = 0;
  mc_err err = {0};
  if (rpc_server_handle(srv, data, size, &reply, &len, &err) != MC_OK)
    abort();
  Mediation__V1__ReplyEnvelope *r = mediation__v1__reply_envelope__unpack(NULL, len, reply);
  if (r == NULL || (unsigned)r->code >= MC_CODE_COUNT || len > FUZZ_MAX_MESSAGE)
    abort();
  if (r->code != MV_STATUS(OK) && r->payload.len != 0)
    abort(); /* a refusal never carries a payload */
  if (r->session_unknown && r->code != MV_STATUS(UNAUTHENTICATED))
    abort(); /* the marker only ever explains an UNAUTHENTICATED */
  bool unknown = r->session_unknown;
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  free(reply);
  return unknown;
}

/* env packed and handled; false if it could not be packed. */
static bool pack_and_handle(const Mediation__V1__RequestEnvelope *env, bool *unknown) {
  size_t n = mediation__v1__request_envelope__get_packed_size(env);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL)
    return false;
  mediation__v1__request_envelope__pack(env, buf);
  *unknown = handle_and_check(buf, n);
  free(buf);
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  handle_and_check(data, size);

  /* Then the same envelope, made authentic: signed, then MAC'd. */
  Mediation__V1__RequestEnvelope *env = mediation__v1__request_envelope__unpack(NULL, size, data);
  if (env == NULL)
    return 0;
  static uint8_t fixed_id[RPC_REQUEST_ID_BYTES] = "fuzz-request-id";
  uint8_t sig[RPC_SIGNATURE_BYTES], mac[RPC_MAC_BYTES];
  mc_err err = {0};
  bool unknown = false;
  /* What the unpacked message owns, put back before freeing it. */
  Mediation__V1__RequestEnvelope saved = *env;
  env->caller = FUZZ_PRINCIPAL;
  if (env->request_id.len != RPC_REQUEST_ID_BYTES)
    env->request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, fixed_id};
  env->deadline_ms = mc_now_ms() + 10000;
  env->session_id = (ProtobufCBinaryData){0, NULL};
  env->mac = (ProtobufCBinaryData){0, NULL};
  /* Second pass: signed. */
  if (rpc_request_sign(key, env, sig, &err) == MC_OK) {
    env->signature = (ProtobufCBinaryData){RPC_SIGNATURE_BYTES, sig};
    pack_and_handle(env, &unknown);
  }
  /* Third pass: MAC'd under the fuzz session (opened again if the fuzzer's
   * own Opens pushed it out of the table). */
  env->signature = (ProtobufCBinaryData){0, NULL};
  env->session_id = (ProtobufCBinaryData){RPC_SESSION_ID_BYTES, session_id};
  for (int tries = 0; tries < 2; tries++) {
    if (rpc_request_mac(session_key, env, mac, &err) != MC_OK)
      break;
    env->mac = (ProtobufCBinaryData){RPC_MAC_BYTES, mac};
    if (!pack_and_handle(env, &unknown) || !unknown)
      break;
    open_session();
  }
  env->caller = saved.caller;
  env->request_id = saved.request_id;
  env->signature = saved.signature;
  env->session_id = saved.session_id;
  env->mac = saved.mac;
  env->deadline_ms = saved.deadline_ms;
  mediation__v1__request_envelope__free_unpacked(env, NULL);
  return 0;
}
