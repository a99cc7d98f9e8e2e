/*
 * test_dispatch.c - every check a request passes, and every status a reply
 * can carry, through rpc_server_handle: the socket-free path that the nng
 * server and the fuzzer share. Sockets are in test_socket.c.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "support.h"

#define LIMITS "max_message_bytes = 65536\nmax_deadline_ahead_seconds = 60\n"
#define MAX_BYTES 65536

static rt_env env;
static rpc_server *srv;

static rpc_server *make_server(const rpc_server_opts *opts) {
  rpc_server *s = NULL;
  mc_err err = {0};
  if (rpc_server_create(env.reg, opts, &s, &err) != MC_OK)
    fail_msg("%s", err.msg);
  if (rpc_server_register(s, &rt_echo.base, &err) != MC_OK)
    fail_msg("%s", err.msg);
  return s;
}

static int setup(void **state) {
  (void)state;
  rt_env_init(&env, LIMITS);
  rt_echo_reset();
  srv = make_server(&(rpc_server_opts){.program = "test-server", .version = "1.2.3"});
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rt_echo_wait_idle();
  rpc_server_free(srv);
  srv = NULL;
  rt_env_free(&env);
  return 0;
}

static Mediation__V1__ReplyEnvelope *handle_on(rpc_server *s, const uint8_t *b, size_t n) {
  uint8_t *out = NULL;
  size_t len = 0;
  mc_err err = {0};
  assert_int_equal(rpc_server_handle(s, b, n, &out, &len, &err), MC_OK);
  Mediation__V1__ReplyEnvelope *r = mediation__v1__reply_envelope__unpack(NULL, len, out);
  free(out);
  assert_non_null(r);
  return r;
}

static Mediation__V1__ReplyEnvelope *call_on(rpc_server *s, const rpc_key *key,
                                             const char *service, const char *method,
                                             const ProtobufCMessage *msg, int64_t deadline) {
  uint8_t *b = NULL;
  size_t n = 0;
  mc_err err = {0};
  if (rpc_request_encode(key, service, method, msg, deadline, NULL, 0, &b, &n, &err) != MC_OK)
    fail_msg("%s", err.msg);
  Mediation__V1__ReplyEnvelope *r = handle_on(s, b, n);
  free(b);
  return r;
}

static Mediation__V1__ReplyEnvelope *call(const rpc_key *key, const char *service,
                                          const char *method, const ProtobufCMessage *msg) {
  return call_on(srv, key, service, method, msg, mc_now_ms() + 5000);
}

static Mediation__V1__ReplyEnvelope *echo(const Mediation__V1__EchoRequest *req) {
  return call(env.police, "mediation.v1.Echo", "Echo", &req->base);
}

/* An envelope signed over whatever payload bytes and fields we like. */
static Mediation__V1__ReplyEnvelope *raw(const rpc_key *key, const char *caller,
                                         const char *service, const char *method,
                                         const uint8_t *payload, size_t plen, int64_t deadline,
                                         size_t rid_len) {
  uint8_t rid[32], sig[64];
  memset(rid, 0x5A, sizeof(rid));
  Mediation__V1__RequestEnvelope e = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  e.service = (char *)service;
  e.method = (char *)method;
  e.request_id = (ProtobufCBinaryData){rid_len, rid};
  e.deadline_ms = deadline;
  e.caller = (char *)caller;
  e.payload = (ProtobufCBinaryData){plen, (uint8_t *)payload};
  mc_err err;
  assert_int_equal(rpc_request_sign(key, &e, sig, &err), MC_OK);
  e.signature = (ProtobufCBinaryData){64, sig};
  size_t n = mediation__v1__request_envelope__get_packed_size(&e);
  uint8_t *b = malloc(n);
  mediation__v1__request_envelope__pack(&e, b);
  Mediation__V1__ReplyEnvelope *r = handle_on(srv, b, n);
  free(b);
  return r;
}

static void expect(Mediation__V1__ReplyEnvelope *r, mc_code code, const char *needle) {
  if ((mc_code)r->code != code || (needle != NULL && strstr(r->message, needle) == NULL))
    fail_msg("expected %s \"%s\", got %s \"%s\"", mc_code_name(code), needle ? needle : "",
             mc_code_name((mc_code)r->code), r->message);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
}

static void test_ok(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "调解 ok";
  req.tag = 7;
  int64_t deadline = mc_now_ms() + 5000;
  Mediation__V1__ReplyEnvelope *r =
      call_on(srv, env.police, "mediation.v1.Echo", "Echo", &req.base, deadline);
  assert_int_equal(r->code, MV_STATUS(OK));
  assert_string_equal(r->message, "");
  assert_int_equal(r->request_id.len, 16);
  Mediation__V1__EchoReply *out =
      mediation__v1__echo_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_non_null(out);
  assert_string_equal(out->text, "调解 ok");
  assert_string_equal(out->caller, "police-studio");
  assert_string_equal(out->method, "mediation.v1.Echo/Echo");
  assert_int_equal(out->deadline_ms, deadline);
  assert_int_equal(out->tag, 7);
  assert_int_equal(out->seen, 1);
  assert_memory_equal(out->request_id.data, r->request_id.data, 16);
  mediation__v1__echo_reply__free_unpacked(out, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  assert_int_equal(rt_echo_runs(), 1);
}

/* Every status a handler can choose arrives as chosen, sync and async. */
static void test_every_code_from_handler(void **state) {
  (void)state;
  for (int async = 0; async <= 1; async++) {
    for (int code = 1; code < MC_CODE_COUNT; code++) {
      Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
      req.fail_code = (Mediation__V1__StatusCode)code;
      req.async = async;
      Mediation__V1__ReplyEnvelope *r = echo(&req);
      assert_int_equal(r->request_id.len, 16);
      assert_int_equal(r->payload.len, 0);
      expect(r, (mc_code)code, "echo: failing with");
    }
  }
}

static void test_garbage_envelopes(void **state) {
  (void)state;
  expect(handle_on(srv, (const uint8_t *)"\xff\xff\xff", 3), MC_INVALID_ARGUMENT, "envelope");
  /* Empty bytes decode to an empty envelope: refused for its request id. */
  Mediation__V1__ReplyEnvelope *r = handle_on(srv, (const uint8_t *)"", 0);
  assert_int_equal(r->request_id.len, 0);
  expect(r, MC_INVALID_ARGUMENT, "request_id");
  /* A NUL inside the service name, which unpacking would hide. */
  expect(handle_on(srv, (const uint8_t *)"\x0a\x03" "a\0b", 5), MC_INVALID_ARGUMENT, "NUL");
  /* Random bytes: always a refusal, never a crash. */
  srand(12345);
  uint8_t buf[300];
  for (int i = 0; i < 3000; i++) {
    size_t n = (size_t)(rand() % (int)sizeof(buf));
    for (size_t k = 0; k < n; k++)
      buf[k] = (uint8_t)rand();
    r = handle_on(srv, buf, n);
    assert_int_not_equal(r->code, MV_STATUS(OK));
    mediation__v1__reply_envelope__free_unpacked(r, NULL);
  }
  assert_int_equal(rt_echo_runs(), 0);
}

static void test_request_id_length(void **state) {
  (void)state;
  expect(raw(env.police, "police-studio", "mediation.v1.Echo", "Echo", NULL, 0,
             mc_now_ms() + 5000, 8),
         MC_INVALID_ARGUMENT, "16 bytes");
}

static uint8_t *find(uint8_t *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (memcmp(hay + i, needle, k) == 0)
      return hay + i;
  return NULL;
}

static void test_unauthenticated(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  expect(call(env.intruder, "mediation.v1.Echo", "Echo", &req.base), MC_UNAUTHENTICATED,
         "unknown caller \"intruder\"");
  /* Signed by the police studio's key, claiming to be the marriage studio. */
  expect(raw(env.police, "marriage-studio", "mediation.v1.Echo", "Echo", NULL, 0,
             mc_now_ms() + 5000, 16),
         MC_UNAUTHENTICATED, "does not verify");
  /* A key with the right name but not the registry's. */
  rpc_key *fake = NULL;
  mc_err err;
  assert_int_equal(rpc_key_generate("police-studio", &fake, &err), MC_OK);
  expect(call(fake, "mediation.v1.Echo", "Echo", &req.base), MC_UNAUTHENTICATED,
         "does not verify");
  rpc_key_free(fake);
  /* A payload changed after signing. */
  uint8_t *b;
  size_t n;
  req.text = "original";
  assert_int_equal(rpc_request_encode(env.police, "mediation.v1.Echo", "Echo", &req.base,
                                      mc_now_ms() + 5000, NULL, 0, &b, &n, &err),
                   MC_OK);
  uint8_t *hit = find(b, n, "original");
  assert_non_null(hit);
  hit[0] = 'O';
  expect(handle_on(srv, b, n), MC_UNAUTHENTICATED, "does not verify");
  free(b);
  /* No signature at all. */
  Mediation__V1__RequestEnvelope e = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  uint8_t rid[16] = {1};
  e.service = "mediation.v1.Echo";
  e.method = "Echo";
  e.caller = "police-studio";
  e.request_id = (ProtobufCBinaryData){16, rid};
  e.deadline_ms = mc_now_ms() + 5000;
  uint8_t packed[256];
  n = mediation__v1__request_envelope__pack(&e, packed);
  expect(handle_on(srv, packed, n), MC_UNAUTHENTICATED, "signature must be 64 bytes");
  assert_int_equal(rt_echo_runs(), 0);
}

static void test_deadlines(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  /* Passed: refused without running the handler. */
  expect(call_on(srv, env.police, "mediation.v1.Echo", "Echo", &req.base, mc_now_ms() - 1),
         MC_DEADLINE_EXCEEDED, "not run");
  expect(call_on(srv, env.police, "mediation.v1.Echo", "Echo", &req.base, INT64_MIN),
         MC_DEADLINE_EXCEEDED, NULL);
  /* Too far ahead: the replay window would be unbounded. */
  expect(call_on(srv, env.police, "mediation.v1.Echo", "Echo", &req.base,
                 mc_now_ms() + 61 * 1000),
         MC_INVALID_ARGUMENT, "max_deadline_ahead_seconds");
  expect(call_on(srv, env.police, "mediation.v1.Echo", "Echo", &req.base, INT64_MAX),
         MC_INVALID_ARGUMENT, "ahead");
  assert_int_equal(rt_echo_runs(), 0);
  /* A captured request works until its deadline and is refused after. */
  uint8_t *b;
  size_t n;
  mc_err err;
  assert_int_equal(rpc_request_encode(env.police, "mediation.v1.Echo", "Echo", &req.base,
                                      mc_now_ms() + 200, NULL, 0, &b, &n, &err),
                   MC_OK);
  expect(handle_on(srv, b, n), MC_OK, NULL);
  /* Before the deadline a replay reaches the handler (which dedups by id). */
  Mediation__V1__ReplyEnvelope *r = handle_on(srv, b, n);
  Mediation__V1__EchoReply *out =
      mediation__v1__echo_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_int_equal(out->seen, 2);
  mediation__v1__echo_reply__free_unpacked(out, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  usleep(250 * 1000);
  expect(handle_on(srv, b, n), MC_DEADLINE_EXCEEDED, NULL);
  free(b);
  assert_int_equal(rt_echo_runs(), 2);
}

static void test_unimplemented(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  expect(call(env.police, "mediation.v1.Router", "Apply", &req.base), MC_UNIMPLEMENTED,
         "no service \"mediation.v1.Router\"");
  expect(call(env.police, "mediation.v1.Echo", "Nope", &req.base), MC_UNIMPLEMENTED,
         "no method \"Nope\"");
  expect(call(env.police, "mediation.v1.Echo", "echo", &req.base), MC_UNIMPLEMENTED, NULL);
  assert_int_equal(rt_echo_runs(), 0);
}

static void test_bad_payloads(void **state) {
  (void)state;
  int64_t d = mc_now_ms() + 5000;
  /* text (field 1) with invalid UTF-8; with a NUL; a length past the end. */
  expect(raw(env.police, "police-studio", "mediation.v1.Echo", "Echo",
             (const uint8_t *)"\x0a\x02\xc3\x28", 4, d, 16),
         MC_INVALID_ARGUMENT, "text: not valid UTF-8");
  expect(raw(env.police, "police-studio", "mediation.v1.Echo", "Echo",
             (const uint8_t *)"\x0a\x03" "a\0b", 5, d, 16),
         MC_INVALID_ARGUMENT, "text: contains a NUL");
  expect(raw(env.police, "police-studio", "mediation.v1.Echo", "Echo",
             (const uint8_t *)"\x0a\x7f" "ab", 4, d, 16),
         MC_INVALID_ARGUMENT, "payload (mediation.v1.EchoRequest)");
  /* text as a varint: framing is fine, the type is wrong: unpack refuses. */
  expect(raw(env.police, "police-studio", "mediation.v1.Echo", "Echo",
             (const uint8_t *)"\x08\x01", 2, d, 16),
         MC_INVALID_ARGUMENT, "does not decode as mediation.v1.EchoRequest");
  /* A string over max_text_bytes (4096 by default). */
  char *big = malloc(5000);
  memset(big, 'a', 5000);
  uint8_t *p = malloc(5010);
  p[0] = 0x0a;
  p[1] = (uint8_t)(0x80 | (5000 & 0x7f));
  p[2] = (uint8_t)(5000 >> 7);
  memcpy(p + 3, big, 5000);
  expect(raw(env.police, "police-studio", "mediation.v1.Echo", "Echo", p, 5003, d, 16),
         MC_INVALID_ARGUMENT, "text: longer than 4096");
  free(big);
  free(p);
  assert_int_equal(rt_echo_runs(), 0);
}

static void test_sizes(void **state) {
  (void)state;
  /* A request over the limit (the nng socket drops those before us). */
  uint8_t *b = calloc(1, MAX_BYTES + 1);
  expect(handle_on(srv, b, MAX_BYTES + 1), MC_RESOURCE_EXHAUSTED, "max_message_bytes");
  free(b);
  /* Replies over the limit: by the payload alone, and by the envelope. */
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.reply_bytes = MAX_BYTES + 1;
  expect(echo(&req), MC_RESOURCE_EXHAUSTED, "max_message_bytes");
  req.reply_bytes = MAX_BYTES - 10;
  expect(echo(&req), MC_RESOURCE_EXHAUSTED, "max_message_bytes");
  req.reply_bytes = MAX_BYTES - 200;
  expect(echo(&req), MC_OK, NULL);
}

static bool refuse_ping(void *arg, const mc_principal *caller, const char *service,
                        const char *method) {
  (void)arg;
  (void)caller;
  (void)service;
  return strcmp(method, "Ping") != 0;
}

static void test_accept_rules(void **state) {
  (void)state;
  /* A unit's Desk: only the police studio's operators. */
  rpc_server *desk = NULL;
  mc_err err;
  assert_int_equal(rpc_server_create(env.reg,
                                     &(rpc_server_opts){
                                         .accept_kinds = RPC_ACCEPT_KIND(MC_PRINCIPAL_OPERATOR),
                                         .accept_unit = "police-studio",
                                         .accept = refuse_ping,
                                     },
                                     &desk, &err),
                   MC_OK);
  assert_int_equal(rpc_server_register(desk, &rt_echo.base, &err), MC_OK);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  int64_t d = mc_now_ms() + 5000;
  expect(call_on(desk, env.op, "mediation.v1.Echo", "Echo", &req.base, d), MC_OK, NULL);
  expect(call_on(desk, env.police, "mediation.v1.Echo", "Echo", &req.base, d),
         MC_PERMISSION_DENIED, "unit \"police-studio\" may not call");
  expect(call_on(desk, env.coord, "mediation.v1.Echo", "Echo", &req.base, d),
         MC_PERMISSION_DENIED, "coordinator");
  Mediation__V1__EchoEmpty empty = MEDIATION__V1__ECHO_EMPTY__INIT;
  expect(call_on(desk, env.op, "mediation.v1.Echo", "Ping", &empty.base, d), MC_PERMISSION_DENIED,
         "Ping");
  /* Authentication comes first: an intruder learns nothing more. */
  expect(call_on(desk, env.intruder, "mediation.v1.Echo", "Echo", &req.base, d),
         MC_UNAUTHENTICATED, NULL);
  rpc_server_free(desk);
}

static void test_health_and_reflection(void **state) {
  (void)state;
  Mediation__V1__HealthCheckRequest hreq = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  Mediation__V1__ReplyEnvelope *r = call(env.coord, "mediation.v1.Health", "Check", &hreq.base);
  assert_int_equal(r->code, MV_STATUS(OK));
  Mediation__V1__HealthCheckReply *h =
      mediation__v1__health_check_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_int_equal(h->status, MV_SERVING(SERVING));
  assert_string_equal(h->server, "test-server");
  assert_string_equal(h->version, "1.2.3");
  assert_true(h->started_ms > 0 && h->started_ms <= mc_now_ms());
  mediation__v1__health_check_reply__free_unpacked(h, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);

  rpc_server_set_serving(srv, false, "store unavailable: disk full");
  r = call(env.coord, "mediation.v1.Health", "Check", &hreq.base);
  h = mediation__v1__health_check_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_int_equal(h->status, MV_SERVING(NOT_SERVING));
  assert_string_equal(h->detail, "store unavailable: disk full");
  mediation__v1__health_check_reply__free_unpacked(h, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  rpc_server_set_serving(srv, true, NULL);

  hreq.service = "mediation.v1.Router";
  r = call(env.coord, "mediation.v1.Health", "Check", &hreq.base);
  h = mediation__v1__health_check_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_int_equal(h->status, MV_SERVING(SERVICE_UNKNOWN));
  mediation__v1__health_check_reply__free_unpacked(h, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);

  Mediation__V1__ListServicesRequest lreq = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  r = call(env.coord, "mediation.v1.Reflection", "ListServices", &lreq.base);
  assert_int_equal(r->code, MV_STATUS(OK));
  Mediation__V1__ListServicesReply *l =
      mediation__v1__list_services_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_int_equal(l->n_services, 3);
  assert_string_equal(l->services[0]->name, "mediation.v1.Health");
  assert_int_equal(l->services[0]->n_methods, 1);
  assert_string_equal(l->services[0]->methods[0]->name, "Check");
  assert_string_equal(l->services[0]->methods[0]->input_type, "mediation.v1.HealthCheckRequest");
  assert_string_equal(l->services[0]->methods[0]->output_type, "mediation.v1.HealthCheckReply");
  assert_string_equal(l->services[1]->name, "mediation.v1.Reflection");
  assert_string_equal(l->services[1]->methods[0]->name, "ListServices");
  assert_string_equal(l->services[2]->name, "mediation.v1.Echo");
  assert_int_equal(l->services[2]->n_methods, 2);
  assert_string_equal(l->services[2]->methods[0]->name, "Echo");
  assert_string_equal(l->services[2]->methods[0]->input_type, "mediation.v1.EchoRequest");
  assert_string_equal(l->services[2]->methods[0]->output_type, "mediation.v1.EchoReply");
  assert_string_equal(l->services[2]->methods[1]->name, "Ping");
  assert_string_equal(l->services[2]->methods[1]->input_type, "mediation.v1.EchoEmpty");
  mediation__v1__list_services_reply__free_unpacked(l, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
}

static void test_async_reply(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 20;
  req.text = "later";
  Mediation__V1__ReplyEnvelope *r = echo(&req);
  assert_int_equal(r->code, MV_STATUS(OK));
  Mediation__V1__EchoReply *out =
      mediation__v1__echo_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_string_equal(out->text, "later");
  mediation__v1__echo_reply__free_unpacked(out, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
}

/* Handlers with bugs: the caller gets INTERNAL, the server carries on. */
static void bad_echo(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoRequest *in,
                     Mediation__V1__EchoReply_Closure done, void *call) {
  (void)svc;
  if (in->tag == 1) {
    done(NULL, call);
  } else if (in->tag == 2) {
    Mediation__V1__EchoEmpty wrong = MEDIATION__V1__ECHO_EMPTY__INIT;
    rpc_call_reply(call, &wrong.base);
  } else {
    rpc_call_fail(call, MC_OK, "OK is not a refusal");
  }
}
static void bad_ping(Mediation__V1__Echo_Service *svc, const Mediation__V1__EchoEmpty *in,
                     Mediation__V1__EchoEmpty_Closure done, void *call) {
  (void)svc;
  (void)in;
  (void)done;
  rpc_call_fail(call, MC_FAILED_PRECONDITION, "%s", "ping refused");
}

static void test_buggy_handlers(void **state) {
  (void)state;
  Mediation__V1__Echo_Service bad = MEDIATION__V1__ECHO__INIT(bad_);
  rpc_server *s = NULL;
  mc_err err;
  assert_int_equal(rpc_server_create(env.reg, NULL, &s, &err), MC_OK);
  assert_int_equal(rpc_server_register(s, &bad.base, &err), MC_OK);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  int64_t d = mc_now_ms() + 5000;
  req.tag = 1;
  expect(call_on(s, env.police, "mediation.v1.Echo", "Echo", &req.base, d), MC_INTERNAL,
         "without a message");
  req.tag = 2;
  expect(call_on(s, env.police, "mediation.v1.Echo", "Echo", &req.base, d), MC_INTERNAL,
         "replied with mediation.v1.EchoEmpty, not mediation.v1.EchoReply");
  req.tag = 3;
  expect(call_on(s, env.police, "mediation.v1.Echo", "Echo", &req.base, d), MC_INTERNAL, NULL);
  Mediation__V1__EchoEmpty empty = MEDIATION__V1__ECHO_EMPTY__INIT;
  expect(call_on(s, env.police, "mediation.v1.Echo", "Ping", &empty.base, d),
         MC_FAILED_PRECONDITION, "ping refused");
  rpc_server_free(s);
}

static void test_register_rules(void **state) {
  (void)state;
  mc_err err;
  assert_int_equal(rpc_server_register(srv, &rt_echo.base, &err), MC_ALREADY_EXISTS);
  Mediation__V1__Echo_Service holes = MEDIATION__V1__ECHO__INIT(bad_);
  holes.ping = NULL;
  rpc_server *s = NULL;
  assert_int_equal(rpc_server_create(env.reg, NULL, &s, &err), MC_OK);
  assert_int_equal(rpc_server_register(s, &holes.base, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "no handler for Ping"));
  assert_int_equal(rpc_server_listen(s, "inproc://register-rules", NULL, 0, &err), MC_OK);
  assert_int_equal(rpc_server_register(s, &rt_echo.base, &err), MC_FAILED_PRECONDITION);
  assert_int_equal(rpc_server_listen(s, "http://x", NULL, 0, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "tls+tcp://"));
  assert_int_equal(rpc_server_listen(s, "tls+tcp://127.0.0.1:0", NULL, 0, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "tls_cert"));
  rpc_server_free(s);
}

typedef struct pending_call {
  Mediation__V1__ReplyEnvelope *reply;
} pending_call;

static void *slow_call(void *arg) {
  pending_call *p = arg;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 2500;
  p->reply = echo(&req);
  return NULL;
}

/* Stop: a call whose handler does not reply within the grace is answered
 * UNAVAILABLE; the handler's late reply is dropped harmlessly; new requests
 * are UNAVAILABLE; Health says NOT_SERVING. */
static void test_stop_abandons(void **state) {
  (void)state;
  pending_call p = {0};
  pthread_t t;
  pthread_create(&t, NULL, slow_call, &p);
  while (rt_echo_runs() == 0)
    usleep(1000);
  int64_t t0 = mc_mono_ms();
  rpc_server_stop(srv, 100);
  assert_true(mc_mono_ms() - t0 < 2000); /* not when the handler finishes */
  pthread_join(t, NULL);
  expect(p.reply, MC_UNAVAILABLE, "stopped before the handler replied");
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  expect(echo(&req), MC_UNAVAILABLE, "stopping");
  Mediation__V1__HealthCheckRequest hreq = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  Mediation__V1__ReplyEnvelope *r = call(env.coord, "mediation.v1.Health", "Check", &hreq.base);
  Mediation__V1__HealthCheckReply *h =
      mediation__v1__health_check_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_int_equal(h->status, MV_SERVING(NOT_SERVING));
  assert_string_equal(h->detail, "stopping");
  mediation__v1__health_check_reply__free_unpacked(h, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  rt_echo_wait_idle(); /* the late reply: freed, not sent */
  rpc_server_stop(srv, 0); /* idempotent */
}

/* Stop with enough grace: the handler's reply goes out. */
static void test_stop_waits_for_handlers(void **state) {
  (void)state;
  pending_call p = {0};
  pthread_t t;
  pthread_create(&t, NULL, slow_call, &p);
  while (rt_echo_runs() == 0)
    usleep(1000);
  rpc_server_stop(srv, 5000);
  pthread_join(t, NULL);
  expect(p.reply, MC_OK, NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_ok),
      T(test_every_code_from_handler),
      T(test_garbage_envelopes),
      T(test_request_id_length),
      T(test_unauthenticated),
      T(test_deadlines),
      T(test_unimplemented),
      T(test_bad_payloads),
      T(test_sizes),
      T(test_accept_rules),
      T(test_health_and_reflection),
      T(test_async_reply),
      T(test_buggy_handlers),
      T(test_register_rules),
      T(test_stop_abandons),
      T(test_stop_waits_for_handlers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
