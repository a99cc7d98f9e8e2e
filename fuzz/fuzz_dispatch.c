/*
 * fuzz_dispatch.c - libFuzzer target for the server's request path without
 * sockets: envelope wire check and decoding, signature verification,
 * deadline and admission checks, method lookup by descriptor, payload check
 * and unpacking, the handler, and reply packing (rpc_server_handle).
 *
 * The idea: random bytes rarely carry a valid Ed25519 signature, so each
 * input is run twice. First as is, which exercises everything up to and
 * including verification. Then, if it decodes as an envelope, re-signed by
 * the fuzz principal with a fresh deadline, so that the fuzzer's choice of
 * service, method and payload reaches dispatch and the handlers. Invariant
 * checked on every input: the server answers, and its answer decodes as a
 * ReplyEnvelope with a known status. A crash, hang, leak, sanitizer report
 * or a broken invariant is a finding.
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
  return 0;
}

/* The invariant: every request gets a reply that decodes, with a known code. */
static void handle_and_check(const uint8_t *data, size_t size) {
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
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  handle_and_check(data, size);

  /* Second pass: the same envelope, made authentic. */
  Mediation__V1__RequestEnvelope *env = mediation__v1__request_envelope__unpack(NULL, size, data);
  if (env == NULL)
    return 0;
  static uint8_t fixed_id[RPC_REQUEST_ID_BYTES] = "fuzz-request-id";
  uint8_t sig[RPC_SIGNATURE_BYTES];
  mc_err err = {0};
  char *caller = env->caller;
  ProtobufCBinaryData rid = env->request_id, old_sig = env->signature;
  int64_t deadline = env->deadline_ms;
  env->caller = FUZZ_PRINCIPAL;
  if (rid.len != RPC_REQUEST_ID_BYTES)
    env->request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, fixed_id};
  env->deadline_ms = mc_now_ms() + 10000;
  if (rpc_request_sign(key, env, sig, &err) == MC_OK) {
    env->signature = (ProtobufCBinaryData){RPC_SIGNATURE_BYTES, sig};
    size_t n = mediation__v1__request_envelope__get_packed_size(env);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf != NULL) {
      mediation__v1__request_envelope__pack(env, buf);
      handle_and_check(buf, n);
      free(buf);
    }
  }
  /* Put back what the unpacked message owns before freeing it. */
  env->caller = caller;
  env->request_id = rid;
  env->signature = old_sig;
  env->deadline_ms = deadline;
  mediation__v1__request_envelope__free_unpacked(env, NULL);
  return 0;
}
