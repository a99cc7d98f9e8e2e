/*
 * test_alloc_rpc.c - the rpc envelope and dispatch when memory runs out:
 * encoding a request (signed and MAC'd), the server's handling of a signed
 * call, a session Open and a MAC'd call (rpc_server_handle, the socket-free
 * path the nng server runs), the client's reading of the reply, and a
 * whole call over ipc (client and server in this process), each with its
 * 1st, 2nd, ... allocation failing (fault.h). A failure must be
 * UNAVAILABLE with a message - never a refusal such as INVALID_ARGUMENT or
 * RESOURCE_EXHAUSTED, which a unit takes as the router's "no" and drops
 * the step - and the same call must then succeed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "fault.h"
#include "rpc/internal.h"
#include "support.h"

static rt_env env;
static rpc_server *srv;

typedef struct rpc_arg {
  uint8_t *req;      /* the request to handle (prepared with faults off) */
  size_t req_len;
  uint8_t *reply;    /* what the op under test produced */
  size_t reply_len;
  bool mac;          /* MAC'd under sess rather than signed */
  uint8_t sess_id[RPC_SESSION_ID_BYTES];
  uint8_t sess_key[RPC_SESSION_KEY_BYTES];
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  uint8_t client_pk[RPC_KX_KEY_BYTES], client_sk[RPC_KX_KEY_BYTES];
  const ProtobufCMessageDescriptor *reply_type; /* of the reply's payload */
  rpc_session_stats before;
  ProtobufCMessage *decoded; /* the reply's payload */
} rpc_arg;

static int setup(void **state) {
  rt_env_init(&env, "max_message_bytes = 65536\n");
  rt_echo_reset();
  mc_err err = {0};
  if (rpc_server_create(env.reg, &(rpc_server_opts){.program = "fault", .version = "1"}, &srv,
                        &err) != MC_OK ||
      rpc_server_register(srv, &rt_echo.base, &err) != MC_OK)
    fail_msg("%s", err.msg);
  *state = calloc(1, sizeof(rpc_arg));
  return 0;
}

static int teardown(void **state) {
  rpc_arg *a = *state;
  free(a->req);
  free(a);
  rt_echo_wait_idle();
  rpc_server_free(srv);
  srv = NULL;
  rt_env_free(&env);
  return 0;
}

static const Mediation__V1__EchoRequest *echo_request(void) {
  static Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "调解 under pressure";
  req.tag = 7;
  return &req;
}

static mc_code encode(rpc_arg *a, const char *service, const char *method,
                      const ProtobufCMessage *msg, mc_err *err) {
  int64_t deadline = mc_now_ms() + 60000;
  if (a->mac)
    return rpc_request_encode_mac("police-studio", a->sess_id, a->sess_key, service, method, msg,
                                  deadline, a->rid, 0, &a->reply, &a->reply_len, err);
  return rpc_request_encode(env.police, service, method, msg, deadline, a->rid, 0, &a->reply,
                            &a->reply_len, err);
}

/* ---- Encoding a request ---- */

static mc_code encode_op(void *arg, mc_err *err) {
  rpc_arg *a = arg;
  return encode(a, "mediation.v1.Echo", "Echo", &echo_request()->base, err);
}

static void encode_done(void *arg) {
  rpc_arg *a = arg;
  Mediation__V1__RequestEnvelope *e =
      mediation__v1__request_envelope__unpack(NULL, a->reply_len, a->reply);
  assert_non_null(e);
  assert_string_equal(e->method, "Echo");
  assert_int_equal(e->mac.len != 0, a->mac);
  mediation__v1__request_envelope__free_unpacked(e, NULL);
  free(a->reply);
  a->reply = NULL;
}

static void test_encode(void **state) {
  rpc_arg *a = *state;
  fault_op o = {.what = "a signed request encoded", .op = encode_op, .done = encode_done,
                .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
  a->mac = true;
  memset(a->sess_id, 0x11, sizeof(a->sess_id));
  memset(a->sess_key, 0x22, sizeof(a->sess_key));
  o.what = "a MAC'd request encoded";
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

/* ---- The server's handling ---- */

/* rpc_server_handle under faults. Its own RESOURCE_EXHAUSTED (no reply
 * could be built: the nng server sends none, the client resends) is not on
 * the wire; the reply's status is checked by handled_code. */
static mc_code handle_op(void *arg, mc_err *err) {
  rpc_arg *a = arg;
  return rpc_server_handle(srv, a->req, a->req_len, &a->reply, &a->reply_len, err);
}

/* The status the reply carries; its payload is decoded into a->decoded. */
static mc_code handled_code(void *arg, mc_err *err) {
  rpc_arg *a = arg;
  Mediation__V1__ReplyEnvelope *r =
      mediation__v1__reply_envelope__unpack(NULL, a->reply_len, a->reply);
  assert_non_null(r);
  mc_code code = (mc_code)r->code;
  if (code == MC_RESOURCE_EXHAUSTED)
    fail_msg("a reply says RESOURCE_EXHAUSTED for out of memory: \"%s\"", r->message);
  if (code == MC_OK) {
    assert_memory_equal(r->request_id.data, a->rid, RPC_REQUEST_ID_BYTES);
    a->decoded = protobuf_c_message_unpack(a->reply_type, NULL, r->payload.len, r->payload.data);
    assert_non_null(a->decoded);
  } else {
    mc_err_set(err, code, "%s", r->message);
    free(a->reply);
    a->reply = NULL;
  }
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  return code;
}

static void handle_done(void *arg) {
  rpc_arg *a = arg;
  if (a->decoded->descriptor == &mediation__v1__echo_reply__descriptor) {
    Mediation__V1__EchoReply *out = (Mediation__V1__EchoReply *)a->decoded;
    assert_string_equal(out->text, echo_request()->text);
    assert_string_equal(out->caller, "police-studio");
  }
  protobuf_c_message_free_unpacked(a->decoded, NULL);
  a->decoded = NULL;
  free(a->reply);
  a->reply = NULL;
}

static void prepare_echo(void *arg) {
  rpc_arg *a = arg;
  rpc_request_id_new(a->rid);
  mc_err err = {0};
  free(a->req);
  assert_int_equal(encode_op(a, &err), MC_OK);
  a->req = a->reply;
  a->req_len = a->reply_len;
  a->reply = NULL;
}

static void test_handle_signed(void **state) {
  rpc_arg *a = *state;
  a->reply_type = &mediation__v1__echo_reply__descriptor;
  fault_op o = {.what = "a signed Echo handled", .prepare = prepare_echo, .op = handle_op,
                .outcome = handled_code, .done = handle_done,
                .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

/* RpcSession/Open: a session made, or none at all. */
static void prepare_open(void *arg) {
  rpc_arg *a = arg;
  mc_err err = {0};
  assert_int_equal(rpc_session_keypair(a->client_pk, a->client_sk, &err), MC_OK);
  Mediation__V1__SessionOpenRequest req = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
  req.client_public_key = (ProtobufCBinaryData){sizeof(a->client_pk), a->client_pk};
  rpc_request_id_new(a->rid);
  free(a->req);
  assert_int_equal(encode(a, "mediation.v1.RpcSession", "Open", &req.base, &err), MC_OK);
  a->req = a->reply;
  a->req_len = a->reply_len;
  a->reply = NULL;
  rpc_server_session_stats(srv, &a->before);
}

/* A session whose reply could not be built stays in the table until it
 * expires, as one whose reply was lost on the way does: the client never
 * learns its id and opens another. Never more than that one. */
static void open_unchanged(void *arg) {
  rpc_arg *a = arg;
  rpc_session_stats now;
  rpc_server_session_stats(srv, &now);
  assert_in_range(now.live, a->before.live, a->before.live + 1);
  assert_in_range(now.opened, a->before.opened, a->before.opened + 1);
}

/* Keeps the session for the MAC'd calls. */
static void open_done(void *arg) {
  rpc_arg *a = arg;
  rpc_session_stats now;
  rpc_server_session_stats(srv, &now);
  assert_in_range(now.opened, a->before.opened + 1, a->before.opened + 2);
  Mediation__V1__SessionOpenReply *o = (Mediation__V1__SessionOpenReply *)a->decoded;
  assert_int_equal(o->session_id.len, RPC_SESSION_ID_BYTES);
  memcpy(a->sess_id, o->session_id.data, RPC_SESSION_ID_BYTES);
  mc_err err = {0};
  assert_int_equal(rpc_session_derive(a->client_sk, true, a->client_pk, o->server_public_key.data,
                                      "police-studio", a->sess_id, a->sess_key, &err),
                   MC_OK);
  handle_done(a);
}

static void test_handle_session(void **state) {
  rpc_arg *a = *state;
  a->reply_type = &mediation__v1__session_open_reply__descriptor;
  fault_op o = {.what = "a session opened", .prepare = prepare_open, .op = handle_op,
                .outcome = handled_code, .unchanged = open_unchanged, .done = open_done,
                .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
  /* The last session opened carries the MAC'd calls. */
  a->mac = true;
  a->reply_type = &mediation__v1__echo_reply__descriptor;
  fault_op m = {.what = "a MAC'd Echo handled", .prepare = prepare_echo, .op = handle_op,
                .outcome = handled_code, .done = handle_done,
                .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&m, a, false) > 0);
  assert_true(fault_sweep(&m, a, true) > 0);
}

/* ---- The client's reading of a reply (what rpc/client.c does with it) ---- */

static void prepare_reply(void *arg) {
  rpc_arg *a = arg;
  prepare_echo(a);
  mc_err err = {0};
  assert_int_equal(handle_op(a, &err), MC_OK);
  free(a->req);
  a->req = a->reply;
  a->req_len = a->reply_len;
  a->reply = NULL;
}

static mc_code read_op(void *arg, mc_err *err) {
  rpc_arg *a = arg;
  mc_message_limits env_limits = rpc__envelope_limits(65536);
  mc_message_limits payload_limits = {.max_string_bytes = 65536, .max_bytes_field = 65536,
                                      .max_repeated = 1024, .max_depth = 16};
  Mediation__V1__ReplyEnvelope *r = NULL;
  char text[320];
  mc_code code = rpc__reply_unpack("fault://", a->req, a->req_len, 65536, &env_limits, &r, text,
                                   sizeof(text));
  if (code == MC_OK) {
    code = rpc__reply_outcome("fault://", r, a->rid, &mediation__v1__echo_reply__descriptor,
                              &payload_limits, &a->decoded, text, sizeof(text));
    mediation__v1__reply_envelope__free_unpacked(r, NULL);
  }
  if (code != MC_OK)
    mc_err_set(err, code, "%s", text);
  return code;
}

static void test_client_reads_reply(void **state) {
  rpc_arg *a = *state;
  fault_op o = {.what = "a reply read by the client", .prepare = prepare_reply, .op = read_op,
                .done = handle_done, .allowed = {MC_UNAVAILABLE}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
}

/* ---- A call over a socket: the client and the server in this process ---- */

typedef struct sock_arg {
  rpc_client *c;
  Mediation__V1__EchoReply *out;
} sock_arg;

static mc_code sock_op(void *arg, mc_err *err) {
  sock_arg *a = arg;
  /* Short while a failure may drop the reply; the retry has time. */
  rpc_call_opts opts = {.timeout_ms = fault_armed() ? 1000 : 10000};
  char msg[256] = "";
  mc_code rc = rt_echo_call(a->c, echo_request(), &opts, &a->out, msg);
  if (rc != MC_OK)
    mc_err_set(err, rc, "%s", msg);
  return rc;
}

static void sock_done(void *arg) {
  sock_arg *a = arg;
  assert_string_equal(a->out->text, echo_request()->text);
  protobuf_c_message_free_unpacked(&a->out->base, NULL);
  a->out = NULL;
}

static void test_call_over_socket(void **state) {
  (void)state;
  char url[300], bound[256];
  snprintf(url, sizeof(url), "ipc://%s/fault.ipc", env.dir);
  mc_err err = {0};
  if (rpc_server_listen(srv, url, bound, sizeof(bound), &err) != MC_OK)
    fail_msg("%s", err.msg);
  sock_arg a = {0};
  if (rpc_client_create(bound, env.police, &env.reg->limits, NULL, &a.c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  /* A reply the server could not build never comes: DEADLINE_EXCEEDED, as
   * for a reply lost on the way (a unit sends the step again). */
  fault_op o = {.what = "an Echo called over ipc", .op = sock_op, .done = sock_done,
                .allowed = {MC_UNAVAILABLE, MC_DEADLINE_EXCEEDED}};
  /* Once only: failing for good, nearly every run would be a reply that
   * never comes, a second of waiting each. */
  assert_true(fault_sweep(&o, &a, false) > 0);
  rpc_client_free(a.c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_encode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handle_signed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handle_session, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_reads_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_call_over_socket, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
