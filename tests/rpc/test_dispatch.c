/*
 * test_dispatch.c - every check a request passes, and every status a reply
 * can carry, through rpc_server_handle: the socket-free path that the nng
 * server and the fuzzer share. Sessions: Open, MAC'd calls, each refusal,
 * expiry and the table's bounds. Sockets are in test_socket.c.
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
                        const char *method, const char **why) {
  (void)arg;
  (void)why;
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

/* A method table in the manner of router/methods.c: Ping for coordinators,
 * with its own refusal text; Echo for anyone, unsaid. */
static bool pings_for_coordinators(void *arg, const mc_principal *caller, const char *service,
                                   const char *method, const char **why) {
  (void)arg;
  (void)service;
  if (strcmp(method, "Ping") != 0 || caller->kind == MC_PRINCIPAL_COORDINATOR)
    return true;
  *why = "pings are for coordinators";
  return false;
}

static bool describe_ping(void *arg, const char *service, const char *method, uint32_t *callers,
                          rpc_access *access) {
  (void)arg;
  (void)service;
  if (strcmp(method, "Ping") != 0)
    return false;
  *callers = RPC_ACCEPT_KIND(MC_PRINCIPAL_COORDINATOR) | RPC_ACCEPT_KIND(MC_PRINCIPAL_OPERATOR);
  *access = RPC_ACCESS_POLL;
  return true;
}

static void test_accept_why_and_describe(void **state) {
  (void)state;
  rpc_server *s = NULL;
  mc_err err;
  assert_int_equal(rpc_server_create(env.reg,
                                     &(rpc_server_opts){.accept = pings_for_coordinators,
                                                        .describe = describe_ping},
                                     &s, &err),
                   MC_OK);
  assert_int_equal(rpc_server_register(s, &rt_echo.base, &err), MC_OK);
  int64_t d = mc_now_ms() + 5000;
  Mediation__V1__EchoEmpty empty = MEDIATION__V1__ECHO_EMPTY__INIT;
  Mediation__V1__ReplyEnvelope *r = call_on(s, env.police, "mediation.v1.Echo", "Ping",
                                            &empty.base, d);
  assert_int_equal(r->code, MV_STATUS(PERMISSION_DENIED));
  assert_string_equal(r->message, "pings are for coordinators");
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  expect(call_on(s, env.coord, "mediation.v1.Echo", "Ping", &empty.base, d), MC_OK, NULL);

  Mediation__V1__ListServicesRequest lreq = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  r = call_on(s, env.coord, "mediation.v1.Reflection", "ListServices", &lreq.base, d);
  assert_int_equal(r->code, MV_STATUS(OK));
  Mediation__V1__ListServicesReply *l =
      mediation__v1__list_services_reply__unpack(NULL, r->payload.len, r->payload.data);
  const Mediation__V1__MethodInfo *echo_m = l->services[3]->methods[0];
  const Mediation__V1__MethodInfo *ping = l->services[3]->methods[1];
  assert_string_equal(ping->name, "Ping");
  assert_int_equal(ping->n_callers, 2);
  assert_int_equal(ping->callers[0], MEDIATION__V1__CALLER_KIND__CALLER_KIND_COORDINATOR);
  assert_int_equal(ping->callers[1], MEDIATION__V1__CALLER_KIND__CALLER_KIND_OPERATOR);
  assert_int_equal(ping->access, MEDIATION__V1__METHOD_ACCESS__METHOD_ACCESS_POLL);
  assert_int_equal(echo_m->n_callers, 0); /* no row: unsaid */
  assert_int_equal(echo_m->access, MEDIATION__V1__METHOD_ACCESS__METHOD_ACCESS_UNSPECIFIED);
  mediation__v1__list_services_reply__free_unpacked(l, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  rpc_server_free(s);
}

/* A cluster's follower, as the here hook sees it: Ping (a poll, from
 * describe_ping) never runs here; Echo (no row: UNSPECIFIED) runs with
 * stale_ok only. */
static int here_calls;
static bool follower_here(void *arg, const char *service, const char *method, rpc_access access,
                          bool stale_ok, rpc_redirect *out) {
  (void)arg;
  (void)service;
  here_calls++;
  if (strcmp(method, "Echo") == 0 && access == RPC_ACCESS_UNSPECIFIED && stale_ok)
    return true;
  out->why = "not the leader";
  out->leader_id = 7;
  snprintf(out->leader_endpoint, sizeof(out->leader_endpoint), "tcp://leader:1");
  return false;
}

/* The here hook (rpc_here_fn): asked with the method's access and the
 * envelope's stale_ok; a refusal is UNAVAILABLE with the leader's id and
 * endpoint and the hook's message, and the handler does not run; rpc's own
 * services are never asked about. */
static void test_here_hook(void **state) {
  (void)state;
  rpc_server *s = NULL;
  mc_err err;
  assert_int_equal(rpc_server_create(env.reg,
                                     &(rpc_server_opts){.describe = describe_ping,
                                                        .here = follower_here},
                                     &s, &err),
                   MC_OK);
  assert_int_equal(rpc_server_register(s, &rt_echo.base, &err), MC_OK);
  int64_t d = mc_now_ms() + 5000;
  here_calls = 0;
  Mediation__V1__EchoEmpty empty = MEDIATION__V1__ECHO_EMPTY__INIT;
  Mediation__V1__ReplyEnvelope *r =
      call_on(s, env.coord, "mediation.v1.Echo", "Ping", &empty.base, d);
  assert_int_equal(r->code, MV_STATUS(UNAVAILABLE));
  assert_string_equal(r->message, "not the leader");
  assert_int_equal(r->leader_id, 7);
  assert_string_equal(r->leader_endpoint, "tcp://leader:1");
  mediation__v1__reply_envelope__free_unpacked(r, NULL);

  /* Echo with stale_ok runs; without it, refused */
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "hi";
  uint8_t *b = NULL;
  size_t n = 0;
  assert_int_equal(rpc_request_encode(env.police, "mediation.v1.Echo", "Echo", &req.base, d, NULL,
                                      0, &b, &n, &err),
                   MC_OK);
  r = handle_on(s, b, n);
  assert_int_equal(r->code, MV_STATUS(UNAVAILABLE));
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  Mediation__V1__RequestEnvelope *e = mediation__v1__request_envelope__unpack(NULL, n, b);
  free(b);
  e->stale_ok = true; /* not signed: like locale */
  n = mediation__v1__request_envelope__get_packed_size(e);
  b = malloc(n);
  mediation__v1__request_envelope__pack(e, b);
  mediation__v1__request_envelope__free_unpacked(e, NULL);
  r = handle_on(s, b, n);
  free(b);
  assert_int_equal(r->code, MV_STATUS(OK));
  assert_int_equal(r->leader_id, 0);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  assert_int_equal(here_calls, 3);

  /* rpc's own: Health answers without asking */
  Mediation__V1__HealthCheckRequest hreq = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  expect(call_on(s, env.coord, "mediation.v1.Health", "Check", &hreq.base, d), MC_OK, NULL);
  assert_int_equal(here_calls, 3);
  rpc_server_free(s);
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
  assert_int_equal(l->n_services, 4);
  assert_string_equal(l->services[0]->name, "mediation.v1.Health");
  assert_int_equal(l->services[0]->n_methods, 1);
  assert_string_equal(l->services[0]->methods[0]->name, "Check");
  assert_string_equal(l->services[0]->methods[0]->input_type, "mediation.v1.HealthCheckRequest");
  assert_string_equal(l->services[0]->methods[0]->output_type, "mediation.v1.HealthCheckReply");
  assert_string_equal(l->services[1]->name, "mediation.v1.Reflection");
  assert_string_equal(l->services[1]->methods[0]->name, "ListServices");
  assert_string_equal(l->services[2]->name, "mediation.v1.RpcSession");
  assert_string_equal(l->services[2]->methods[0]->name, "Open");
  assert_string_equal(l->services[2]->methods[0]->input_type, "mediation.v1.SessionOpenRequest");
  assert_string_equal(l->services[3]->name, "mediation.v1.Echo");
  assert_int_equal(l->services[3]->n_methods, 2);
  assert_string_equal(l->services[3]->methods[0]->name, "Echo");
  assert_string_equal(l->services[3]->methods[0]->input_type, "mediation.v1.EchoRequest");
  assert_string_equal(l->services[3]->methods[0]->output_type, "mediation.v1.EchoReply");
  assert_string_equal(l->services[3]->methods[1]->name, "Ping");
  assert_string_equal(l->services[3]->methods[1]->input_type, "mediation.v1.EchoEmpty");
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

/* --- Sessions --- */

typedef struct sess {
  uint8_t id[RPC_SESSION_ID_BYTES];
  uint8_t key[RPC_SESSION_KEY_BYTES];
  int64_t expires_ms;
} sess;

/* RpcSession/Open as a client makes it (signed), and the client's half of
 * the key. Returns the reply's code; *out is filled on OK. */
static mc_code open_on(rpc_server *s, const rpc_key *key, sess *out, char *msg, size_t cap) {
  uint8_t pk[RPC_KX_KEY_BYTES], sk[RPC_KX_KEY_BYTES];
  mc_err err = {0};
  assert_int_equal(rpc_session_keypair(pk, sk, &err), MC_OK);
  Mediation__V1__SessionOpenRequest req = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
  req.client_public_key = (ProtobufCBinaryData){sizeof(pk), pk};
  Mediation__V1__ReplyEnvelope *r =
      call_on(s, key, "mediation.v1.RpcSession", "Open", &req.base, mc_now_ms() + 5000);
  mc_code code = (mc_code)r->code;
  snprintf(msg, cap, "%s", r->message);
  if (code == MC_OK) {
    Mediation__V1__SessionOpenReply *o =
        mediation__v1__session_open_reply__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(o);
    assert_int_equal(o->session_id.len, RPC_SESSION_ID_BYTES);
    assert_int_equal(o->server_public_key.len, RPC_KX_KEY_BYTES);
    memcpy(out->id, o->session_id.data, RPC_SESSION_ID_BYTES);
    out->expires_ms = o->expires_ms;
    assert_int_equal(rpc_session_derive(sk, true, pk, o->server_public_key.data,
                                        rpc_key_principal(key), out->id, out->key, &err),
                     MC_OK);
    mediation__v1__session_open_reply__free_unpacked(o, NULL);
  }
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  return code;
}

static void must_open(rpc_server *s, const rpc_key *key, sess *out) {
  char msg[256];
  mc_code code = open_on(s, key, out, msg, sizeof(msg));
  if (code != MC_OK)
    fail_msg("open: %s %s", mc_code_name(code), msg);
}

/* A request MAC'd under ss as caller (which need not be the session's). */
static Mediation__V1__ReplyEnvelope *mac_call_on(rpc_server *s, const char *caller,
                                                 const sess *ss, const char *service,
                                                 const char *method, const ProtobufCMessage *msg,
                                                 int64_t deadline) {
  uint8_t *b = NULL;
  size_t n = 0;
  mc_err err = {0};
  if (rpc_request_encode_mac(caller, ss->id, ss->key, service, method, msg, deadline, NULL, 0, &b,
                             &n, &err) != MC_OK)
    fail_msg("%s", err.msg);
  Mediation__V1__ReplyEnvelope *r = handle_on(s, b, n);
  free(b);
  return r;
}

static Mediation__V1__ReplyEnvelope *mac_echo(rpc_server *s, const char *caller, const sess *ss) {
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "MAC'd";
  return mac_call_on(s, caller, ss, "mediation.v1.Echo", "Echo", &req.base, mc_now_ms() + 5000);
}

/* Refused for an unknown session: UNAUTHENTICATED with the marker. */
static void expect_unknown(Mediation__V1__ReplyEnvelope *r) {
  assert_true(r->session_unknown);
  expect(r, MC_UNAUTHENTICATED, "no such session");
}

/* Open, then MAC'd calls: the handler sees the caller as if it had signed. */
static void test_session_open_and_mac(void **state) {
  (void)state;
  sess ss;
  int64_t t0 = mc_now_ms();
  must_open(srv, env.police, &ss);
  assert_true(ss.expires_ms >= t0 + 3600 * 1000 - 1000 && ss.expires_ms <= mc_now_ms() + 3600 * 1000);
  for (int i = 0; i < 3; i++) {
    Mediation__V1__ReplyEnvelope *r = mac_echo(srv, "police-studio", &ss);
    assert_int_equal(r->code, MV_STATUS(OK));
    assert_false(r->session_unknown);
    Mediation__V1__EchoReply *out =
        mediation__v1__echo_reply__unpack(NULL, r->payload.len, r->payload.data);
    assert_string_equal(out->caller, "police-studio");
    assert_string_equal(out->text, "MAC'd");
    mediation__v1__echo_reply__free_unpacked(out, NULL);
    mediation__v1__reply_envelope__free_unpacked(r, NULL);
  }
  /* Signed requests still work beside it. */
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  expect(echo(&req), MC_OK, NULL);
  rpc_session_stats st;
  rpc_server_session_stats(srv, &st);
  assert_int_equal(st.live, 1);
  assert_int_equal(st.opened, 1);
  assert_int_equal(st.by_mac, 3);
  assert_int_equal(st.by_signature, 2); /* the Open and the signed Echo */
  assert_int_equal(rt_echo_runs(), 4);
}

/* Every way a MAC'd request can be wrong is refused before the handler. */
static void test_session_refusals(void **state) {
  (void)state;
  sess police, marriage;
  must_open(srv, env.police, &police);
  must_open(srv, env.marriage, &marriage);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "original";
  int64_t d = mc_now_ms() + 5000;
  mc_err err = {0};
  uint8_t *b;
  size_t n;

  /* A MAC made with another key. */
  sess forged = police;
  forged.key[0] ^= 1;
  Mediation__V1__ReplyEnvelope *r = mac_echo(srv, "police-studio", &forged);
  assert_false(r->session_unknown);
  expect(r, MC_UNAUTHENTICATED, "mac does not verify");
  /* The payload changed after the MAC was made. */
  assert_int_equal(rpc_request_encode_mac("police-studio", police.id, police.key,
                                          "mediation.v1.Echo", "Echo", &req.base, d, NULL, 0, &b,
                                          &n, &err),
                   MC_OK);
  uint8_t *hit = find(b, n, "original");
  assert_non_null(hit);
  hit[0] = 'O';
  expect(handle_on(srv, b, n), MC_UNAUTHENTICATED, "mac does not verify");
  free(b);
  /* Another principal's session, under its own key (the MAC verifies):
   * refused for whose session it is. */
  r = mac_echo(srv, "police-studio", &marriage);
  assert_false(r->session_unknown);
  expect(r, MC_UNAUTHENTICATED, "belongs to another principal");
  /* A session id nobody opened: the marker says "open a new one". */
  sess unknown = police;
  unknown.id[5] ^= 0x10;
  expect_unknown(mac_echo(srv, "police-studio", &unknown));
  /* An unknown caller is named as such, session or not. */
  expect(mac_echo(srv, "intruder", &police), MC_UNAUTHENTICATED, "unknown caller");

  /* Malformed: wrong lengths, half a proof, both proofs. */
  Mediation__V1__RequestEnvelope e = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  uint8_t rid[16] = {3}, mac[RPC_MAC_BYTES], sig[RPC_SIGNATURE_BYTES];
  e.service = "mediation.v1.Echo";
  e.method = "Echo";
  e.caller = "police-studio";
  e.request_id = (ProtobufCBinaryData){16, rid};
  e.deadline_ms = d;
  assert_int_equal(rpc_request_mac(police.key, &e, mac, &err), MC_OK);
  uint8_t packed[512];
  e.session_id = (ProtobufCBinaryData){15, police.id};
  e.mac = (ProtobufCBinaryData){32, mac};
  n = mediation__v1__request_envelope__pack(&e, packed);
  expect(handle_on(srv, packed, n), MC_UNAUTHENTICATED, "session_id must be 16 bytes");
  e.session_id.len = 16;
  e.mac.len = 0;
  n = mediation__v1__request_envelope__pack(&e, packed);
  expect(handle_on(srv, packed, n), MC_UNAUTHENTICATED, "mac must be 32 bytes");
  e.mac.len = 32;
  n = mediation__v1__request_envelope__pack(&e, packed);
  expect(handle_on(srv, packed, n), MC_OK, NULL); /* the same, whole: accepted */
  assert_int_equal(rpc_request_sign(env.police, &e, sig, &err), MC_OK);
  e.signature = (ProtobufCBinaryData){64, sig};
  n = mediation__v1__request_envelope__pack(&e, packed);
  expect(handle_on(srv, packed, n), MC_INVALID_ARGUMENT, "not both");
  e.session_id.len = 0;
  e.mac.len = 0;
  n = mediation__v1__request_envelope__pack(&e, packed);
  expect(handle_on(srv, packed, n), MC_OK, NULL); /* the signature alone: accepted */

  /* The deadline still bounds a MAC'd request: passed, or too far ahead. */
  expect(mac_call_on(srv, "police-studio", &police, "mediation.v1.Echo", "Echo", &req.base,
                     mc_now_ms() - 1),
         MC_DEADLINE_EXCEEDED, "not run");
  expect(mac_call_on(srv, "police-studio", &police, "mediation.v1.Echo", "Echo", &req.base,
                     mc_now_ms() + 61 * 1000),
         MC_INVALID_ARGUMENT, "max_deadline_ahead_seconds");
  /* A captured MAC'd request replays until its deadline, not after. */
  assert_int_equal(rpc_request_encode_mac("police-studio", police.id, police.key,
                                          "mediation.v1.Echo", "Echo", &req.base,
                                          mc_now_ms() + 200, NULL, 0, &b, &n, &err),
                   MC_OK);
  expect(handle_on(srv, b, n), MC_OK, NULL);
  usleep(250 * 1000);
  expect(handle_on(srv, b, n), MC_DEADLINE_EXCEEDED, NULL);
  free(b);

  /* Open itself: only signed, with a usable X25519 key. */
  uint8_t pk[32], sk[32];
  assert_int_equal(rpc_session_keypair(pk, sk, &err), MC_OK);
  Mediation__V1__SessionOpenRequest open = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
  open.client_public_key = (ProtobufCBinaryData){32, pk};
  expect(mac_call_on(srv, "police-studio", &police, "mediation.v1.RpcSession", "Open", &open.base,
                     d),
         MC_UNAUTHENTICATED, "must be signed");
  open.client_public_key.len = 31;
  expect(call(env.police, "mediation.v1.RpcSession", "Open", &open.base), MC_INVALID_ARGUMENT,
         "client_public_key must be 32 bytes");
  uint8_t zero[32] = {0};
  open.client_public_key = (ProtobufCBinaryData){32, zero};
  expect(call(env.police, "mediation.v1.RpcSession", "Open", &open.base), MC_INVALID_ARGUMENT,
         "not a usable X25519 key");
  expect(call(env.intruder, "mediation.v1.RpcSession", "Open", &open.base), MC_UNAUTHENTICATED,
         "unknown caller");

  /* Only the three accepted requests and one replay ran. */
  assert_int_equal(rt_echo_runs(), 3);
  rpc_session_stats st;
  rpc_server_session_stats(srv, &st);
  assert_int_equal(st.opened, 2);
}

/* A session is refused after its lifetime, with the marker. */
static void test_session_expiry(void **state) {
  (void)state;
  rpc_server *s = make_server(&(rpc_server_opts){.session_lifetime_ms = 300});
  sess ss;
  int64_t t0 = mc_now_ms();
  must_open(s, env.police, &ss);
  assert_true(ss.expires_ms >= t0 + 300 - 50 && ss.expires_ms <= mc_now_ms() + 300);
  expect(mac_echo(s, "police-studio", &ss), MC_OK, NULL);
  usleep(400 * 1000);
  expect_unknown(mac_echo(s, "police-studio", &ss));
  rpc_session_stats st;
  rpc_server_session_stats(s, &st);
  assert_int_equal(st.expired, 1);
  assert_int_equal(st.unknown, 1);
  assert_int_equal(st.live, 0);
  /* A new Open gives a working session again. */
  must_open(s, env.police, &ss);
  expect(mac_echo(s, "police-studio", &ss), MC_OK, NULL);
  rpc_server_free(s);
}

/* The table is bounded: a principal's cap drops its own oldest session and
 * nobody else's; a table full of live sessions refuses Open; expired
 * sessions make room again. */
static void test_session_table_bounds(void **state) {
  (void)state;
  rpc_server *s = make_server(&(rpc_server_opts){
      .max_sessions = 6, .max_sessions_per_principal = 3, .session_lifetime_ms = 2000});
  sess police[4], marriage[3], coord;
  for (int i = 0; i < 3; i++)
    must_open(s, env.marriage, &marriage[i]);
  for (int i = 0; i < 4; i++)
    must_open(s, env.police, &police[i]);
  expect_unknown(mac_echo(s, "police-studio", &police[0])); /* its oldest, dropped */
  for (int i = 1; i < 4; i++)
    expect(mac_echo(s, "police-studio", &police[i]), MC_OK, NULL);
  for (int i = 0; i < 3; i++)
    expect(mac_echo(s, "marriage-studio", &marriage[i]), MC_OK, NULL);
  rpc_session_stats st;
  rpc_server_session_stats(s, &st);
  assert_int_equal(st.live, 6);
  assert_int_equal(st.evicted, 1);
  /* Full of live sessions: a newcomer is refused, and told what to do. */
  char msg[256];
  assert_int_equal(open_on(s, env.coord, &coord, msg, sizeof(msg)), MC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(msg, "session table is full"));
  assert_non_null(strstr(msg, "sign each request"));
  /* Signed requests are unaffected by a full table. */
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  expect(call_on(s, env.coord, "mediation.v1.Echo", "Echo", &req.base, mc_now_ms() + 5000), MC_OK,
         NULL);
  /* Once they expire, there is room. */
  usleep(2100 * 1000);
  must_open(s, env.coord, &coord);
  expect(mac_echo(s, "coord-zhang", &coord), MC_OK, NULL);
  rpc_server_session_stats(s, &st);
  assert_int_equal(st.refused_full, 1);
  assert_int_equal(st.live, 1);
  assert_true(st.expired >= 6);
  rpc_server_free(s);
}

/* Many sessions: a principal opening far more than its cap keeps exactly
 * its cap, the newest; every live one works, every dropped one is unknown.
 * Another principal then fills the rest of the table, and no more. */
static void test_session_many(void **state) {
  (void)state;
  rpc_server *s = make_server(
      &(rpc_server_opts){.max_sessions = 300, .max_sessions_per_principal = 200});
  enum { N = 1000 };
  sess *all = calloc(N, sizeof(*all));
  for (int i = 0; i < N; i++)
    must_open(s, env.police, &all[i]);
  sess coord;
  int refused = 0;
  char msg[256];
  for (int i = 0; i < 120; i++)
    if (open_on(s, env.coord, &coord, msg, sizeof(msg)) != MC_OK)
      refused++;
  assert_int_equal(refused, 20); /* coord got the 100 free places, under its own cap */
  rpc_session_stats st;
  rpc_server_session_stats(s, &st);
  assert_int_equal(st.live, 300);
  assert_int_equal(st.opened, N + 100);
  assert_int_equal(st.evicted, N - 200);
  assert_int_equal(st.refused_full, 20);
  for (int i = N - 200; i < N; i++)
    expect(mac_echo(s, "police-studio", &all[i]), MC_OK, NULL);
  for (int i = 0; i < N - 200; i += 37)
    expect_unknown(mac_echo(s, "police-studio", &all[i]));
  expect(mac_echo(s, "coord-zhang", &coord), MC_OK, NULL);
  free(all);
  rpc_server_free(s);
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
      T(test_accept_why_and_describe),
      T(test_here_hook),
      T(test_health_and_reflection),
      T(test_async_reply),
      T(test_buggy_handlers),
      T(test_register_rules),
      T(test_stop_abandons),
      T(test_stop_waits_for_handlers),
      T(test_session_open_and_mac),
      T(test_session_refusals),
      T(test_session_expiry),
      T(test_session_table_bounds),
      T(test_session_many),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
