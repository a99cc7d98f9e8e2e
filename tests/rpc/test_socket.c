/*
 * test_socket.c - the server and client over real sockets, the whole suite
 * once over ipc:// and once over tcp://127.0.0.1 (port 0: the system picks).
 * Statuses, deadlines on both sides, retries seen by the server with one
 * request id, hostile bytes on a raw REQ socket, many calls in flight, and
 * clean stop; sessions (MAC'd calls, refusals on the wire, one Open for many
 * first calls, renewal and expiry, a bounded table, a server restart,
 * signing only, a server that refuses Open). RPC_TEST_GARBAGE sets how many
 * garbage messages are sent (default 4000; fewer under valgrind).
 */
#include <pthread.h>
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "core/clock.h"
#include "support.h"

#define LIMITS "max_message_bytes = 65536\nmax_deadline_ahead_seconds = 60\n"

static const char *transport; /* "ipc" or "tcp", set per group */

static struct {
  rt_env env;
  rpc_server *srv;
  rpc_client *cli;
  char url[256];
} F;

static rpc_client *client_for(const char *url, const rpc_key *key, const rpc_client_opts *opts) {
  rpc_client *c = NULL;
  mc_err err = {0};
  if (rpc_client_create(url, key, &F.env.reg->limits, opts, &c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  return c;
}

static rpc_server *server_at(const char *url, char *bound, size_t cap) {
  rpc_server *s = NULL;
  mc_err err = {0};
  if (rpc_server_create(F.env.reg, &(rpc_server_opts){.program = "test", .contexts = 100}, &s,
                        &err) != MC_OK ||
      rpc_server_register(s, &rt_echo.base, &err) != MC_OK ||
      rpc_server_listen(s, url, bound, cap, &err) != MC_OK)
    fail_msg("%s", err.msg);
  return s;
}

static void fresh_url(char *buf, size_t cap, const char *name) {
  if (strcmp(transport, "ipc") == 0)
    snprintf(buf, cap, "ipc://%s/%s.ipc", F.env.dir, name);
  else
    snprintf(buf, cap, "tcp://127.0.0.1:0");
}

/* Set when a server's close did not finish (server_free_bounded): nng
 * 1.5.2's reaper is then blocked for good, every later close in this process
 * would hang, so teardown leaves sockets open and main exits at once. The
 * tests that can get here are named test_hostile_* and ctest runs each in a
 * process of its own (tests/rpc/CMakeLists.txt). */
static volatile bool nng_wedged;

static int setup(void **state) {
  (void)state;
  rt_env_init(&F.env, LIMITS);
  rt_echo_reset();
  char url[300];
  fresh_url(url, sizeof(url), "rpc");
  F.srv = server_at(url, F.url, sizeof(F.url));
  F.cli = client_for(F.url, F.env.police, &(rpc_client_opts){.max_in_flight = 100});
  /* Every test starts connected. (Also: nng 1.5.2 leaks a pipe and its
   * dialer when both sockets close while their connection is still being
   * set up; a test that ends at once would trip over that.) */
  Mediation__V1__HealthCheckRequest h = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err = {0};
  if (rpc_client_call(F.cli, &mediation__v1__health__descriptor, "Check", &h.base,
                      &(rpc_call_opts){.timeout_ms = 5000}, &reply, &err) != MC_OK)
    fail_msg("setup: %s", err.msg);
  protobuf_c_message_free_unpacked(reply, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (nng_wedged) {
    /* Closing anything now would wait on the wedged reaper too. */
    fprintf(stderr, "note: nng's close is wedged; this process leaves its sockets open\n");
    memset(&F, 0, sizeof(F));
    return 0;
  }
  rpc_client_free(F.cli);
  rt_echo_wait_idle();
  rpc_server_free(F.srv);
  rt_env_free(&F.env);
  memset(&F, 0, sizeof(F));
  return 0;
}

static void expect_code(mc_code got, mc_code want, const char *msg, const char *needle) {
  if (got != want || (needle != NULL && strstr(msg, needle) == NULL))
    fail_msg("expected %s \"%s\", got %s \"%s\"", mc_code_name(want), needle ? needle : "",
             mc_code_name(got), msg);
}

/* --- A raw REQ socket: bytes in, bytes out, no client library --- */

static nng_socket raw_open(int timeout_ms) {
  nng_socket s;
  assert_int_equal(nng_req0_open(&s), 0);
  nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
  nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
  assert_int_equal(nng_dial(s, F.url, NULL, 0), 0);
  return s;
}

/* NULL if no reply came in time. */
static Mediation__V1__ReplyEnvelope *raw_call(nng_socket s, const uint8_t *b, size_t n) {
  if (nng_send(s, (void *)b, n, 0) != 0)
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
    return NULL;
  Mediation__V1__ReplyEnvelope *r =
      mediation__v1__reply_envelope__unpack(NULL, len, (uint8_t *)buf);
  nng_free(buf, len);
  assert_non_null(r);
  return r;
}

static void raw_expect(nng_socket s, const uint8_t *b, size_t n, mc_code want, const char *needle) {
  Mediation__V1__ReplyEnvelope *r = raw_call(s, b, n);
  assert_non_null(r);
  expect_code((mc_code)r->code, want, r->message, needle);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
}

static void encode(const rpc_key *key, const char *service, const char *method,
                   const ProtobufCMessage *msg, int64_t deadline, uint8_t **b, size_t *n) {
  mc_err err = {0};
  if (rpc_request_encode(key, service, method, msg, deadline, NULL, 0, b, n, &err) != MC_OK)
    fail_msg("%s", err.msg);
}

/* --- Tests --- */

static void test_roundtrip(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "王隘社区 → 宋大姐调解工作室";
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  expect_code(rt_echo_call(F.cli, &req, NULL, &out, msg), MC_OK, msg, NULL);
  assert_string_equal(out->text, req.text);
  assert_string_equal(out->caller, "police-studio");
  assert_string_equal(out->method, "mediation.v1.Echo/Echo");
  assert_int_equal(out->seen, 1);
  protobuf_c_message_free_unpacked(&out->base, NULL);

  /* Health and Reflection are ordinary methods. */
  Mediation__V1__HealthCheckRequest h = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err = {0};
  assert_int_equal(rpc_client_call(F.cli, &mediation__v1__health__descriptor, "Check", &h.base,
                                   NULL, &reply, &err),
                   MC_OK);
  assert_int_equal(((Mediation__V1__HealthCheckReply *)reply)->status, MV_SERVING(SERVING));
  assert_string_equal(((Mediation__V1__HealthCheckReply *)reply)->server, "test");
  protobuf_c_message_free_unpacked(reply, NULL);
  Mediation__V1__ListServicesRequest l = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  assert_int_equal(rpc_client_call(F.cli, &mediation__v1__reflection__descriptor, "ListServices",
                                   &l.base, NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__ListServicesReply *ls = (Mediation__V1__ListServicesReply *)reply;
  assert_int_equal(ls->n_services, 4);
  assert_string_equal(ls->services[3]->name, "mediation.v1.Echo");
  assert_string_equal(ls->services[3]->methods[1]->output_type, "mediation.v1.EchoEmpty");
  protobuf_c_message_free_unpacked(reply, NULL);

  /* The client checks what it can before sending. */
  assert_int_equal(rpc_client_call(F.cli, &mediation__v1__echo__descriptor, "Nope", &req.base,
                                   NULL, &reply, &err),
                   MC_INVALID_ARGUMENT);
  assert_int_equal(rpc_client_call(F.cli, &mediation__v1__echo__descriptor, "Ping", &req.base,
                                   NULL, &reply, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "takes mediation.v1.EchoEmpty"));
}

static void test_every_status(void **state) {
  (void)state;
  char msg[256];
  for (int code = 1; code < MC_CODE_COUNT; code++) {
    Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
    req.fail_code = (Mediation__V1__StatusCode)code;
    req.async = code % 2;
    expect_code(rt_echo_call(F.cli, &req, NULL, NULL, msg), (mc_code)code, msg,
                "echo: failing with");
  }
}

static void test_async_from_another_thread(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 30;
  req.text = "after the commit";
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  expect_code(rt_echo_call(F.cli, &req, NULL, &out, msg), MC_OK, msg, NULL);
  assert_string_equal(out->text, "after the commit");
  protobuf_c_message_free_unpacked(&out->base, NULL);
}

/* A request past its deadline is not run; a captured request replayed after
 * its deadline is refused. */
static void test_expired_and_replayed(void **state) {
  (void)state;
  nng_socket s = raw_open(3000);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  uint8_t *b;
  size_t n;
  encode(F.env.police, "mediation.v1.Echo", "Echo", &req.base, mc_now_ms() - 10, &b, &n);
  raw_expect(s, b, n, MC_DEADLINE_EXCEEDED, "not run");
  free(b);
  assert_int_equal(rt_echo_runs(), 0);

  encode(F.env.police, "mediation.v1.Echo", "Echo", &req.base, mc_now_ms() + 300, &b, &n);
  raw_expect(s, b, n, MC_OK, NULL);
  usleep(400 * 1000);
  raw_expect(s, b, n, MC_DEADLINE_EXCEEDED, NULL); /* the capture, replayed */
  free(b);
  assert_int_equal(rt_echo_runs(), 1);

  encode(F.env.police, "mediation.v1.Echo", "Echo", &req.base, mc_now_ms() + 120 * 1000, &b, &n);
  raw_expect(s, b, n, MC_INVALID_ARGUMENT, "max_deadline_ahead_seconds");
  free(b);
  encode(F.env.police, "mediation.v1.Echo", "Nope", &req.base, mc_now_ms() + 5000, &b, &n);
  raw_expect(s, b, n, MC_UNIMPLEMENTED, "no method");
  free(b);
  nng_close(s);
}

/* The client enforces the deadline itself: a slow handler costs the caller
 * its timeout, not the handler's time. */
static void test_slow_handler_deadline(void **state) {
  (void)state;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 2500;
  char msg[256];
  int64_t t0 = mc_mono_ms();
  expect_code(rt_echo_call(F.cli, &req, &(rpc_call_opts){.timeout_ms = 200}, NULL, msg),
              MC_DEADLINE_EXCEEDED, msg, "retry with the same request id");
  int64_t took = mc_mono_ms() - t0;
  assert_true(took >= 150 && took < 2000); /* well before the handler's reply */
  /* Too far ahead is refused before sending. */
  expect_code(rt_echo_call(F.cli, &req, &(rpc_call_opts){.timeout_ms = 120 * 1000}, NULL, msg),
              MC_INVALID_ARGUMENT, msg, "max_deadline_ahead_seconds");
  expect_code(rt_echo_call(F.cli, &req, &(rpc_call_opts){.deadline_ms = mc_now_ms() - 1}, NULL,
                           msg),
              MC_DEADLINE_EXCEEDED, msg, "passed already");
}

/* An attempt that gets no reply is sent again with the same id: the server
 * sees that id twice, and the caller gets the second attempt's answer. */
static void test_retry_same_id(void **state) {
  (void)state;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  for (int i = 0; i < RPC_REQUEST_ID_BYTES; i++)
    rid[i] = (uint8_t)(0xA0 + i);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 3000;
  req.tag = RT_TAG_SLOW_ONCE;
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  int64_t t0 = mc_mono_ms();
  expect_code(rt_echo_call(F.cli, &req,
                           &(rpc_call_opts){.timeout_ms = 5000,
                                            .attempt_timeout_ms = 200,
                                            .max_attempts = 3,
                                            .request_id = rid},
                           &out, msg),
              MC_OK, msg, NULL);
  assert_true(mc_mono_ms() - t0 < 2500); /* the retry's answer, not the first one's */
  assert_int_equal(out->seen, 2);
  assert_memory_equal(out->request_id.data, rid, sizeof(rid));
  protobuf_c_message_free_unpacked(&out->base, NULL);
  assert_int_equal(rt_echo_seen(rid), 2);

  /* A caller's own id (an outbox's stored id) is reused as given. */
  req = (Mediation__V1__EchoRequest)MEDIATION__V1__ECHO_REQUEST__INIT;
  expect_code(rt_echo_call(F.cli, &req, &(rpc_call_opts){.request_id = rid}, &out, msg), MC_OK,
              msg, NULL);
  assert_int_equal(out->seen, 3);
  protobuf_c_message_free_unpacked(&out->base, NULL);

  /* Attempts are bounded: three slow attempts, then DEADLINE_EXCEEDED
   * (attempt timeouts 100 + 100, then the rest of the deadline). */
  req.async = true;
  req.sleep_ms = 2000;
  req.tag = 0;
  uint8_t rid2[RPC_REQUEST_ID_BYTES] = {9};
  expect_code(rt_echo_call(F.cli, &req,
                           &(rpc_call_opts){.timeout_ms = 600,
                                            .attempt_timeout_ms = 100,
                                            .max_attempts = 3,
                                            .request_id = rid2},
                           NULL, msg),
              MC_DEADLINE_EXCEEDED, msg, "3 attempts");
  assert_int_equal(rt_echo_seen(rid2), 3);
}

static void test_unimplemented_and_unauthenticated(void **state) {
  (void)state;
  char msg[256];
  Mediation__V1__ApplyRequest apply = MEDIATION__V1__APPLY_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err = {0};
  expect_code(rpc_client_call(F.cli, &mediation__v1__router__descriptor, "Apply", &apply.base,
                              NULL, &reply, &err),
              MC_UNIMPLEMENTED, err.msg, "no service \"mediation.v1.Router\"");

  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  rpc_client *intruder = client_for(F.url, F.env.intruder, NULL);
  expect_code(rt_echo_call(intruder, &req, NULL, NULL, msg), MC_UNAUTHENTICATED, msg,
              "unknown caller");
  rpc_client_free(intruder);
  rpc_key *fake = NULL;
  assert_int_equal(rpc_key_generate("police-studio", &fake, &err), MC_OK);
  rpc_client *impostor = client_for(F.url, fake, NULL);
  expect_code(rt_echo_call(impostor, &req, NULL, NULL, msg), MC_UNAUTHENTICATED, msg,
              "does not verify");
  rpc_client_free(impostor);
  rpc_key_free(fake);
  assert_int_equal(rt_echo_runs(), 0);
}

/* Oversize: refused by the client before sending, with a clear message. A
 * request the client let through (a client whose limit is larger, or raw
 * bytes) is answered RESOURCE_EXHAUSTED by the server up to the hard cap (16
 * MiB), not dropped; past the cap the server closes the connection and goes
 * on serving. A reply over the client's own limit is RESOURCE_EXHAUSTED too,
 * not a timeout. */
static void test_oversize(void **state) {
  (void)state;
  const size_t hard_cap = (size_t)16 << 20;
  uint8_t *blob = calloc(1, hard_cap + 1);
  assert_non_null(blob);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.blob = (ProtobufCBinaryData){70000, blob};
  char msg[256];
  expect_code(rt_echo_call(F.cli, &req, NULL, NULL, msg), MC_RESOURCE_EXHAUSTED, msg,
              "max_message_bytes 65536");
  req.blob.len = 65536 - 100; /* the payload fits, the envelope does not */
  expect_code(rt_echo_call(F.cli, &req, NULL, NULL, msg), MC_RESOURCE_EXHAUSTED, msg,
              "max_message_bytes");
  assert_int_equal(rt_echo_runs(), 0);

  /* Raw bytes just over the limit, just over the old receive cap (limit +
   * 64), and at the hard cap: each answered, on the same connection. */
  nng_socket s = raw_open(5000);
  const size_t sizes[] = {65537, 65536 + 65, 1048714, hard_cap - 64};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    Mediation__V1__ReplyEnvelope *r = raw_call(s, blob, sizes[i]);
    if (r == NULL)
      fail_msg("no answer to a raw request of %zu bytes", sizes[i]);
    expect_code((mc_code)r->code, MC_RESOURCE_EXHAUSTED, r->message, "over max_message_bytes");
    mediation__v1__reply_envelope__free_unpacked(r, NULL);
  }
  nng_close(s);
  /* Past the hard cap: the connection is closed as soon as the length is
   * read, nothing is answered. (A raw stream, not REQ, which would reconnect
   * and resend in a loop.) */
  int fd = rt_sp_connect(F.url, 0);
  assert_true(rt_sp_send_header(fd, strcmp(transport, "ipc") == 0, hard_cap + 1));
  uint8_t byte;
  assert_true(read(fd, &byte, 1) <= 0);
  close(fd);

  /* A client whose limit is larger than the server's: the server's answer,
   * at once, not a timeout. */
  mc_limits big = F.env.reg->limits;
  big.max_message_bytes = 4u << 20;
  rpc_client *c = NULL;
  mc_err err = {0};
  if (rpc_client_create(F.url, F.env.police, &big, NULL, &c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  req.blob.len = 200000;
  int64_t t0 = mc_mono_ms();
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 5000}, NULL, msg),
              MC_RESOURCE_EXHAUSTED, msg, "over max_message_bytes 65536");
  assert_true(mc_mono_ms() - t0 < 4000);
  rpc_client_free(c);

  /* A client whose limit is smaller than the reply the server sends. */
  mc_limits small = F.env.reg->limits;
  small.max_message_bytes = 8192;
  if (rpc_client_create(F.url, F.env.police, &small, NULL, &c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  Mediation__V1__EchoRequest big_reply = MEDIATION__V1__ECHO_REQUEST__INIT;
  big_reply.reply_bytes = 20000;
  t0 = mc_mono_ms();
  expect_code(rt_echo_call(c, &big_reply, &(rpc_call_opts){.timeout_ms = 5000}, NULL, msg),
              MC_RESOURCE_EXHAUSTED, msg, "over max_message_bytes 8192");
  assert_true(mc_mono_ms() - t0 < 4000);
  rpc_client_free(c);
  free(blob);

  req.blob.len = 0;
  expect_code(rt_echo_call(F.cli, &req, NULL, NULL, msg), MC_OK, msg, NULL);
}

static void server_free_bounded(rpc_server *s);

/* A client whose limit is larger than the hard cap of a server: the server
 * closes the connection on the request, REQ would resend it on every
 * reconnect; the client reports RESOURCE_EXHAUSTED, not a timeout. On a
 * server of its own: the dropped connections can wedge nng 1.5.2's close. */
static void test_hostile_oversize_past_the_cap(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "pastcap");
  rpc_server *srv = server_at(url, bound, sizeof(bound));
  mc_limits huge = F.env.reg->limits;
  huge.max_message_bytes = 20u << 20;
  rpc_client *c = NULL;
  mc_err err = {0};
  if (rpc_client_create(bound, F.env.police, &huge, NULL, &c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  const size_t hard_cap = (size_t)16 << 20;
  uint8_t *blob = calloc(1, hard_cap + 1);
  assert_non_null(blob);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.blob = (ProtobufCBinaryData){hard_cap + 1, blob};
  char msg[256];
  int64_t t0 = mc_mono_ms();
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 8000}, NULL, msg),
              MC_RESOURCE_EXHAUSTED, msg, "closed the connection on a");
  if (mc_mono_ms() - t0 >= 6000)
    fail_msg("the oversize request took %lld ms to fail", (long long)(mc_mono_ms() - t0));
  free(blob);
  rpc_client_free(c);
  server_free_bounded(srv);
}

/* One garbage message on a raw stream: random bytes, or a valid envelope
 * with one to four bits flipped. */
static size_t garbage_message(uint8_t *buf, size_t cap, const uint8_t *valid, size_t valid_len,
                              int i) {
  size_t n;
  if (i % 2 == 0) {
    n = (size_t)(rand() % (int)cap);
    for (size_t k = 0; k < n; k++)
      buf[k] = (uint8_t)rand();
  } else {
    n = valid_len < cap ? valid_len : cap;
    memcpy(buf, valid, n);
    for (int flips = 1 + rand() % 4; flips > 0; flips--)
      buf[rand() % (int)n] ^= (uint8_t)(1u << (rand() % 8));
  }
  return n;
}

/* Sends msg on a raw stream and expects a refusal: any code but OK, with a
 * message. */
static void sp_expect_refusal(int fd, bool ipc, uint32_t id, const uint8_t *b, size_t n,
                              const char *what) {
  if (!rt_sp_send(fd, ipc, id, b, n))
    fail_msg("%s: the server stopped reading us", what);
  uint8_t *body = NULL;
  size_t len = 0;
  int rc = rt_sp_recv(fd, ipc, &body, &len);
  if (rc != 1)
    fail_msg("%s (%zu bytes): %s", what, n, rc == 0 ? "the server closed the connection"
                                                    : "no reply within 2 s");
  Mediation__V1__ReplyEnvelope *r = mediation__v1__reply_envelope__unpack(NULL, len, body);
  free(body);
  assert_non_null(r);
  if (r->code == MV_STATUS(OK) || r->message == NULL || r->message[0] == '\0')
    fail_msg("%s: code %d \"%s\", not a refusal with a reason", what, (int)r->code,
             r->message ? r->message : "");
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
}

/* Sends msg on a raw stream and expects the server to close the connection
 * without a reply. */
static void sp_expect_closed(int fd, bool ipc, uint32_t id, const uint8_t *b, size_t n,
                             const char *what) {
  rt_sp_send(fd, ipc, id, b, n); /* may fail: closed already */
  uint8_t *body = NULL;
  size_t len = 0;
  int rc = rt_sp_recv(fd, ipc, &body, &len);
  free(body);
  if (rc != 0)
    fail_msg("%s: %s, not the connection closed", what,
             rc == 1 ? "a reply came" : "nothing within 2 s");
}

/* Thousands of hostile messages: random bytes, and valid envelopes with
 * random bits flipped. Each gets a refusal (code and message) up to the
 * garbage budget of its connection (RPC_GARBAGE_BUDGET requests never
 * proven since the last proven one); the next closes the connection,
 * unanswered. A proven request renews the budget, and the server answers
 * good requests afterwards. (Before the budget: every junk message on a
 * connection was answered, and a peer could make the router read ~400,000 a
 * second.) */
static void test_hostile_garbage(void **state) {
  (void)state;
  int count = 4000;
  const char *env_count = getenv("RPC_TEST_GARBAGE");
  if (env_count != NULL)
    count = atoi(env_count);
  bool ipc = strcmp(transport, "ipc") == 0;
  Mediation__V1__EchoRequest good = MEDIATION__V1__ECHO_REQUEST__INIT;
  good.text = "a valid request to mutate";
  good.tag = 77;
  uint8_t *valid;
  size_t valid_len;
  encode(F.env.police, "mediation.v1.Echo", "Echo", &good.base, mc_now_ms() + 55000, &valid,
         &valid_len);
  srand(4242);
  uint8_t buf[512];
  uint64_t disconnected = rpc_server_peers_disconnected(F.srv);
  int fd = -1;
  uint32_t id = 1;
  for (int i = 0; i < count; i++) {
    /* A fresh connection for each budget's worth, then one more message
     * on it, which closes it. */
    if (i % (RPC_GARBAGE_BUDGET + 1) == 0)
      fd = rt_sp_connect(F.url, 0);
    size_t n = garbage_message(buf, sizeof(buf), valid, valid_len, i);
    char what[64];
    snprintf(what, sizeof(what), "garbage message %d", i);
    if (i % (RPC_GARBAGE_BUDGET + 1) < RPC_GARBAGE_BUDGET) {
      sp_expect_refusal(fd, ipc, id++, buf, n, what);
    } else {
      sp_expect_closed(fd, ipc, id++, buf, n, what);
      close(fd);
      fd = -1;
    }
  }
  if (fd >= 0)
    close(fd);
  uint64_t closed_for_garbage = (uint64_t)(count / (RPC_GARBAGE_BUDGET + 1));
  if (rpc_server_peers_disconnected(F.srv) - disconnected != closed_for_garbage)
    fail_msg("%llu connections closed, expected %llu",
             (unsigned long long)(rpc_server_peers_disconnected(F.srv) - disconnected),
             (unsigned long long)closed_for_garbage);

  /* A proven request renews the budget: a full budget, a good request, a
   * full budget again, all answered; then one more closes. */
  fd = rt_sp_connect(F.url, 0);
  for (int round = 0; round < 2; round++) {
    for (int k = 0; k < RPC_GARBAGE_BUDGET; k++) {
      size_t n = garbage_message(buf, sizeof(buf), valid, valid_len, k);
      sp_expect_refusal(fd, ipc, id++, buf, n, "garbage beside good requests");
    }
    if (round == 0) {
      uint8_t *b;
      size_t n;
      encode(F.env.police, "mediation.v1.Echo", "Echo", &good.base, mc_now_ms() + 5000, &b, &n);
      assert_true(rt_sp_send(fd, ipc, id++, b, n));
      free(b);
      uint8_t *body = NULL;
      size_t len = 0;
      assert_int_equal(rt_sp_recv(fd, ipc, &body, &len), 1);
      Mediation__V1__ReplyEnvelope *r = mediation__v1__reply_envelope__unpack(NULL, len, body);
      free(body);
      assert_non_null(r);
      expect_code((mc_code)r->code, MC_OK, r->message, NULL);
      mediation__v1__reply_envelope__free_unpacked(r, NULL);
    }
  }
  sp_expect_closed(fd, ipc, id++, buf, 10, "garbage past the budget");
  close(fd);
  free(valid);
  char msg[256];
  expect_code(rt_echo_call(F.cli, &good, NULL, NULL, msg), MC_OK, msg, NULL);
}

typedef struct tally {
  pthread_mutex_t mtx;
  pthread_cond_t cond;
  int done, ok;
  mc_code last;
  char last_msg[256];
} tally;

static void count_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  tally *t = arg;
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  pthread_mutex_lock(&t->mtx);
  t->done++;
  t->ok += code == MC_OK;
  t->last = code;
  snprintf(t->last_msg, sizeof(t->last_msg), "%s", message);
  pthread_cond_broadcast(&t->cond);
  pthread_mutex_unlock(&t->mtx);
}

static void tally_wait(tally *t, int n) {
  pthread_mutex_lock(&t->mtx);
  while (t->done < n)
    pthread_cond_wait(&t->cond, &t->mtx);
  pthread_mutex_unlock(&t->mtx);
}

/* 96 calls at once, held by async handlers until 64 are pending together:
 * they are served side by side, not one by one. */
static void test_many_in_flight(void **state) {
  (void)state;
  tally t = {.done = 0};
  pthread_mutex_init(&t.mtx, NULL);
  pthread_cond_init(&t.cond, NULL);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 5000; /* at most: the gate opens at 64 */
  rt_echo_hold(64);
  mc_err err;
  for (int i = 0; i < 96; i++) {
    req.tag = (uint32_t)i;
    assert_int_equal(rpc_client_call_async(F.cli, &mediation__v1__echo__descriptor, "Echo",
                                           &req.base, NULL, count_done, &t, &err),
                     MC_OK);
  }
  tally_wait(&t, 96);
  assert_int_equal(t.ok, 96);
  assert_true(rt_echo_peak() >= 64);
  pthread_cond_destroy(&t.cond);
  pthread_mutex_destroy(&t.mtx);
}

/* The in-flight bound: with 2 slots busy, nowait fails at once and a
 * waiting call gives up at its deadline. */
static void test_in_flight_bound(void **state) {
  (void)state;
  rpc_client *c = client_for(F.url, F.env.police, &(rpc_client_opts){.max_in_flight = 2});
  tally t = {.done = 0};
  pthread_mutex_init(&t.mtx, NULL);
  pthread_cond_init(&t.cond, NULL);
  Mediation__V1__EchoRequest slow = MEDIATION__V1__ECHO_REQUEST__INIT;
  slow.async = true;
  slow.sleep_ms = 400;
  mc_err err;
  for (int i = 0; i < 2; i++)
    assert_int_equal(rpc_client_call_async(c, &mediation__v1__echo__descriptor, "Echo",
                                           &slow.base, NULL, count_done, &t, &err),
                     MC_OK);
  assert_int_equal(rpc_client_call_async(c, &mediation__v1__echo__descriptor, "Echo", &slow.base,
                                         &(rpc_call_opts){.nowait = true}, count_done, &t, &err),
                   MC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(err.msg, "2 calls already in flight"));
  char msg[256];
  expect_code(rt_echo_call(c, &slow, &(rpc_call_opts){.timeout_ms = 100}, NULL, msg),
              MC_DEADLINE_EXCEEDED, msg, "no free slot");
  /* A waiting call gets the first free slot. */
  Mediation__V1__EchoRequest fast = MEDIATION__V1__ECHO_REQUEST__INIT;
  expect_code(rt_echo_call(c, &fast, &(rpc_call_opts){.timeout_ms = 3000}, NULL, msg), MC_OK,
              msg, NULL);
  tally_wait(&t, 2);
  assert_int_equal(t.ok, 2);
  rpc_client_free(c);
  pthread_cond_destroy(&t.cond);
  pthread_mutex_destroy(&t.mtx);
}

/* Nobody there: UNAVAILABLE (never delivered), at the deadline. Then the
 * server comes up and the same client reaches it. */
static void test_unreachable_then_up(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "late");
  if (strcmp(transport, "tcp") == 0) {
    /* A port that was just free: bind it, note it, close it. */
    rpc_server *tmp = server_at(url, bound, sizeof(bound));
    rpc_server_free(tmp);
    snprintf(url, sizeof(url), "%s", bound);
  }
  rpc_client *c = client_for(url, F.env.police, NULL);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  char msg[256];
  int64_t t0 = mc_mono_ms();
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 300}, NULL, msg),
              MC_UNAVAILABLE, msg, "could not reach");
  int64_t took = mc_mono_ms() - t0;
  assert_true(took >= 250 && took < 3000);
  rpc_server *late = server_at(url, bound, sizeof(bound));
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 5000}, NULL, msg), MC_OK, msg,
              NULL);
  rpc_client_free(c);
  rpc_server_free(late);
}

/* fail_when_refused: nothing listening (an absent ipc socket, a closed TCP
 * port) fails within a second, naming the endpoint, not at the deadline
 * (10 s); a slow server that is there is still waited for, and once the
 * server is up the same client reaches it. */
static void test_refused_fails_fast(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "absent");
  if (strcmp(transport, "tcp") == 0) {
    rpc_server *tmp = server_at(url, bound, sizeof(bound));
    rpc_server_free(tmp);
    snprintf(url, sizeof(url), "%s", bound);
  }
  rpc_client *c = client_for(url, F.env.police, &(rpc_client_opts){.fail_when_refused = true});
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  char msg[256];
  for (int i = 0; i < 3; i++) { /* the first call (opens a session) and later ones */
    int64_t t0 = mc_mono_ms();
    mc_code rc = rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 10000}, NULL, msg);
    if (rc != MC_UNAVAILABLE || strstr(msg, "refused the connection") == NULL)
      fail_msg("call %d after %lld ms: %s %s", i, (long long)(mc_mono_ms() - t0),
               mc_code_name(rc), msg);
    int64_t took = mc_mono_ms() - t0;
    if (took >= 3000) /* generous for a noisy machine; before: 10 s */
      fail_msg("call %d took %lld ms to fail: %s", i, (long long)took, msg);
    assert_non_null(strstr(msg, url));
  }
  rpc_server *late = server_at(url, bound, sizeof(bound));
  req.sleep_ms = 1500; /* slow, but there */
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 8000}, NULL, msg), MC_OK, msg,
              NULL);
  rpc_client_free(c);
  rpc_server_free(late);
}

/* Stop with a call in progress: the handler does not reply within the
 * grace, so the caller hears UNAVAILABLE at once, not at its deadline. */
static void test_stop_in_flight(void **state) {
  (void)state;
  tally t = {.done = 0};
  pthread_mutex_init(&t.mtx, NULL);
  pthread_cond_init(&t.cond, NULL);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 3000;
  mc_err err;
  assert_int_equal(rpc_client_call_async(F.cli, &mediation__v1__echo__descriptor, "Echo",
                                         &req.base, &(rpc_call_opts){.timeout_ms = 8000},
                                         count_done, &t, &err),
                   MC_OK);
  while (rt_echo_runs() == 0)
    usleep(1000);
  int64_t t0 = mc_mono_ms();
  rpc_server_stop(F.srv, 100);
  tally_wait(&t, 1);
  assert_true(mc_mono_ms() - t0 < 2500); /* not when the handler finishes (3 s) */
  expect_code(t.last, MC_UNAVAILABLE, t.last_msg, "stopped before the handler replied");
  pthread_cond_destroy(&t.cond);
  pthread_mutex_destroy(&t.mtx);
}

/* Freeing a client with a call outstanding reports CANCELLED. */
static void test_client_free_cancels(void **state) {
  (void)state;
  rpc_client *c = client_for(F.url, F.env.police, NULL);
  tally t = {.done = 0};
  pthread_mutex_init(&t.mtx, NULL);
  pthread_cond_init(&t.cond, NULL);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 500;
  mc_err err;
  assert_int_equal(rpc_client_call_async(c, &mediation__v1__echo__descriptor, "Echo", &req.base,
                                         NULL, count_done, &t, &err),
                   MC_OK);
  while (rt_echo_runs() == 0)
    usleep(1000);
  rpc_client_free(c);
  assert_int_equal(t.done, 1);
  expect_code(t.last, MC_CANCELLED, t.last_msg, "closed");
  pthread_cond_destroy(&t.cond);
  pthread_mutex_destroy(&t.mtx);
}

static rpc_server *server_with(const char *url, const rpc_server_opts *opts, char *bound,
                               size_t cap);

/* rpc_server_free on a thread of its own, waited for at most 5 s. After the
 * hostile connections below, nng 1.5.2's nng_close sometimes waits forever
 * for a pipe it never reaps (the close race of docs/architecture.md,
 * "Traps"; about one run in three here): the daemons guard their last
 * close with mc_daemon_exit_watchdog, and this test leaves that thread
 * blocked rather than hang. */
static volatile int server_freed; /* set by the freeing thread */

static void *server_free_main(void *arg) {
  rpc_server_free(arg);
  __atomic_store_n(&server_freed, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void server_free_bounded(rpc_server *s) {
  pthread_t t;
  __atomic_store_n(&server_freed, 0, __ATOMIC_SEQ_CST);
  if (pthread_create(&t, NULL, server_free_main, s) != 0) {
    rpc_server_free(s);
    return;
  }
  for (int i = 0; i < 500 && !__atomic_load_n(&server_freed, __ATOMIC_SEQ_CST); i++)
    usleep(10 * 1000);
  if (__atomic_load_n(&server_freed, __ATOMIC_SEQ_CST)) {
    pthread_join(t, NULL);
    return;
  }
  pthread_detach(t);
  nng_wedged = true;
  fprintf(stderr, "note: rpc_server_free did not finish in 5 s (nng 1.5.2's close race); "
                  "left to finish on its own\n");
}

/* One peer pipelining requests it never reads the replies of. */
typedef struct non_reader {
  const char *url;
  bool ipc;
  bool garbage; /* unauthenticated junk, or signed requests for big replies */
  int fd;
  int sent;
} non_reader;

static void *non_reader_main(void *arg) {
  non_reader *a = arg;
  uint8_t junk[48];
  memset(junk, 0x5a, sizeof(junk));
  uint8_t *b = junk;
  size_t n = sizeof(junk);
  if (!a->garbage) {
    Mediation__V1__EchoRequest big = MEDIATION__V1__ECHO_REQUEST__INIT;
    big.reply_bytes = 60000;
    encode(F.env.police, "mediation.v1.Echo", "Echo", &big.base, mc_now_ms() + 50000, &b, &n);
  }
  int64_t until = mc_mono_ms() + 2500;
  for (uint32_t i = 0; i < 2000000 && mc_mono_ms() < until; i++) {
    if (!rt_sp_send(a->fd, a->ipc, i, b, n))
      break; /* it stopped reading us, or closed us: fine */
    a->sent++;
  }
  if (b != junk)
    free(b);
  return NULL;
}

/* Peers that pipeline requests and never read the replies - unauthenticated
 * junk, and signed requests for big replies - beside idle connections and
 * half-sent messages, on a server of 8 contexts. Each non-reader is
 * disconnected (the junk one as soon as it holds its share, 2 contexts; the
 * signed one after holding its share for 1 s), and a normal client's calls
 * keep succeeding within their deadlines meanwhile (before: every context
 * held by an unread reply for 5 s, and the normal client timed out). */
static void test_hostile_peer_that_never_reads(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "nonreader");
  rpc_server *s = server_with(url, &(rpc_server_opts){.contexts = 8}, bound, sizeof(bound));
  bool ipc = strcmp(transport, "ipc") == 0;
  int idle[20], half[20];
  for (int i = 0; i < 20; i++) {
    idle[i] = rt_sp_connect(bound, 0);
    half[i] = rt_sp_connect(bound, 0);
    uint8_t some[10] = {0};
    assert_true(rt_sp_send_header(half[i], ipc, 1000));
    assert_int_equal(send(half[i], some, sizeof(some), MSG_NOSIGNAL), (ssize_t)sizeof(some));
  }
  non_reader a[2] = {{.url = bound, .ipc = ipc, .garbage = true},
                     {.url = bound, .ipc = ipc, .garbage = false}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    a[i].fd = rt_sp_connect(bound, 4096);
    assert_int_equal(pthread_create(&t[i], NULL, non_reader_main, &a[i]), 0);
  }
  rpc_client *c = client_for(bound, F.env.marriage, NULL);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.async = true;
  req.sleep_ms = 2; /* a handler that answers later, like a committed step */
  char msg[256];
  int64_t worst = 0, t_end = mc_mono_ms() + 2000;
  int calls = 0;
  while (mc_mono_ms() < t_end) {
    int64_t t0 = mc_mono_ms();
    expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 4000}, NULL, msg), MC_OK, msg,
                NULL);
    int64_t took = mc_mono_ms() - t0;
    worst = took > worst ? took : worst;
    calls++;
  }
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  /* A generous bound for a noisy machine (the signed non-reader holds
   * every context for 1 s); the old server held them 5 s per unread reply. */
  if (worst >= 3000)
    fail_msg("a normal call took %lld ms under the attack (%d calls)", (long long)worst, calls);
  /* Both non-readers were disconnected: reading what was sent to them
   * ends at the server's close. */
  if (rpc_server_peers_disconnected(s) < 2)
    fail_msg("%llu peers disconnected; the non-readers sent %d and %d requests",
             (unsigned long long)rpc_server_peers_disconnected(s), a[0].sent, a[1].sent);
  for (int i = 0; i < 2; i++) {
    uint8_t buf[65536];
    ssize_t r;
    while ((r = read(a[i].fd, buf, sizeof(buf))) > 0) {
    }
    if (r != 0 && errno != ECONNRESET)
      fail_msg("non-reader %d (%d sent) was not disconnected: %s", i, a[i].sent,
               strerror(errno));
    close(a[i].fd);
  }
  for (int i = 0; i < 20; i++) {
    close(idle[i]);
    close(half[i]);
  }
  rpc_client_free(c);
  server_free_bounded(s);
}

/* --- Sessions --- */

static rpc_server *server_with(const char *url, const rpc_server_opts *opts, char *bound,
                               size_t cap) {
  rpc_server *s = NULL;
  mc_err err = {0};
  if (rpc_server_create(F.env.reg, opts, &s, &err) != MC_OK ||
      rpc_server_register(s, &rt_echo.base, &err) != MC_OK ||
      rpc_server_listen(s, url, bound, cap, &err) != MC_OK)
    fail_msg("%s", err.msg);
  return s;
}

static rpc_session_stats stats_of(rpc_server *s) {
  rpc_session_stats st;
  rpc_server_session_stats(s, &st);
  return st;
}

static void echo_ok(rpc_client *c, const uint8_t *rid) {
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  char msg[256];
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 8000, .request_id = rid}, NULL,
                           msg),
              MC_OK, msg, NULL);
}

/* By default a client signs one Open and MACs every call after it. */
static void test_session_mac_calls(void **state) {
  (void)state;
  for (int i = 0; i < 5; i++)
    echo_ok(F.cli, NULL);
  rpc_session_stats st = stats_of(F.srv);
  assert_int_equal(st.opened, 1);
  assert_int_equal(st.by_signature, 1); /* the Open only */
  assert_int_equal(st.by_mac, 6);       /* setup's Health check and the five */
}

/* The server's refusals, from a raw socket: Open, a MAC'd call, a tampered
 * MAC, another principal's session, a session nobody opened. */
static void test_session_raw_refusals(void **state) {
  (void)state;
  nng_socket s = raw_open(3000);
  uint8_t pk[32], sk[32], key[32];
  mc_err err = {0};
  assert_int_equal(rpc_session_keypair(pk, sk, &err), MC_OK);
  Mediation__V1__SessionOpenRequest open = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
  open.client_public_key = (ProtobufCBinaryData){32, pk};
  uint8_t *b;
  size_t n;
  encode(F.env.police, "mediation.v1.RpcSession", "Open", &open.base, mc_now_ms() + 5000, &b, &n);
  Mediation__V1__ReplyEnvelope *r = raw_call(s, b, n);
  free(b);
  assert_non_null(r);
  assert_int_equal(r->code, MV_STATUS(OK));
  Mediation__V1__SessionOpenReply *o =
      mediation__v1__session_open_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_non_null(o);
  uint8_t sid[16];
  memcpy(sid, o->session_id.data, 16);
  assert_int_equal(rpc_session_derive(sk, true, pk, o->server_public_key.data, "police-studio",
                                      sid, key, &err),
                   MC_OK);
  mediation__v1__session_open_reply__free_unpacked(o, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);

  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.text = "MAC'd";
  int64_t d = mc_now_ms() + 5000;
  assert_int_equal(rpc_request_encode_mac("police-studio", sid, key, "mediation.v1.Echo", "Echo",
                                          &req.base, d, NULL, 0, &b, &n, &err),
                   MC_OK);
  raw_expect(s, b, n, MC_OK, NULL);
  b[n - 1] ^= 1; /* the MAC is the envelope's last field */
  raw_expect(s, b, n, MC_UNAUTHENTICATED, "mac does not verify");
  free(b);
  assert_int_equal(rpc_request_encode_mac("marriage-studio", sid, key, "mediation.v1.Echo",
                                          "Echo", &req.base, d, NULL, 0, &b, &n, &err),
                   MC_OK);
  raw_expect(s, b, n, MC_UNAUTHENTICATED, "belongs to another principal");
  free(b);
  sid[0] ^= 1;
  assert_int_equal(rpc_request_encode_mac("police-studio", sid, key, "mediation.v1.Echo", "Echo",
                                          &req.base, d, NULL, 0, &b, &n, &err),
                   MC_OK);
  r = raw_call(s, b, n);
  free(b);
  assert_non_null(r);
  assert_true(r->session_unknown);
  expect_code((mc_code)r->code, MC_UNAUTHENTICATED, r->message, "no such session");
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  nng_close(s);
  assert_int_equal(rt_echo_runs(), 1);
}

typedef struct burst {
  rpc_client *c;
  int calls, ok;
} burst;

static void *burst_thread(void *arg) {
  burst *b = arg;
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  for (int i = 0; i < b->calls; i++)
    b->ok += rt_echo_call(b->c, &req, &(rpc_call_opts){.timeout_ms = 20000}, NULL, NULL) == MC_OK;
  return NULL;
}

/* Many first calls at once, async and from threads, share one Open. */
static void test_session_concurrent_first_calls(void **state) {
  (void)state;
  uint64_t before = stats_of(F.srv).opened;
  rpc_client *c = client_for(F.url, F.env.marriage, &(rpc_client_opts){.max_in_flight = 64});
  tally t = {.done = 0};
  pthread_mutex_init(&t.mtx, NULL);
  pthread_cond_init(&t.cond, NULL);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  mc_err err;
  for (int i = 0; i < 64; i++)
    assert_int_equal(rpc_client_call_async(c, &mediation__v1__echo__descriptor, "Echo", &req.base,
                                           &(rpc_call_opts){.timeout_ms = 20000}, count_done, &t,
                                           &err),
                     MC_OK);
  tally_wait(&t, 64);
  if (t.ok != 64)
    fail_msg("%d of 64 OK; last: %s %s", t.ok, mc_code_name(t.last), t.last_msg);
  assert_int_equal(stats_of(F.srv).opened, before + 1);
  rpc_client_free(c);

  c = client_for(F.url, F.env.coord, NULL);
  burst b[8];
  pthread_t th[8];
  for (int i = 0; i < 8; i++) {
    b[i] = (burst){c, 10, 0};
    pthread_create(&th[i], NULL, burst_thread, &b[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(b[i].ok, 10);
  }
  assert_int_equal(stats_of(F.srv).opened, before + 2);
  rpc_client_free(c);
  pthread_cond_destroy(&t.cond);
  pthread_mutex_destroy(&t.mtx);
}

/* A short lifetime: the client renews in the background at 3/4 of it, and
 * opens a new one when the old is past use; every call succeeds. */
static void test_session_renewal_and_expiry(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "short");
  rpc_server *s = server_with(url, &(rpc_server_opts){.session_lifetime_ms = 2000}, bound,
                              sizeof(bound));
  rpc_client *c = client_for(bound, F.env.police, NULL);
  int64_t t0 = mc_mono_ms();
  echo_ok(c, NULL);
  assert_int_equal(stats_of(s).opened, 1);
  int64_t wait_ms = 1600 - (mc_mono_ms() - t0);
  if (wait_ms > 0)
    usleep((useconds_t)wait_ms * 1000);
  echo_ok(c, NULL); /* past 3/4: this call starts a renewal (or, if we are
                       slower than that, past use: a new session) */
  for (int i = 0; i < 300 && stats_of(s).opened < 2; i++)
    usleep(10 * 1000);
  assert_int_equal(stats_of(s).opened, 2);
  echo_ok(c, NULL);
  usleep(2200 * 1000); /* both sessions past their lifetime */
  echo_ok(c, NULL);
  rpc_session_stats st = stats_of(s);
  assert_int_equal(st.opened, 3);
  assert_int_equal(st.by_signature, 3); /* the Opens, nothing else */
  assert_int_equal(st.by_mac, 4);
  rpc_client_free(c);
  rpc_server_free(s);
}

/* A session the server dropped (another client of the same principal
 * pushed it out): the client opens a new one and the call goes through,
 * run once. Then the table's bounds with many clients: every call works,
 * by session or, when the table is full, signed. */
static void test_session_table_bound(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "bounded");
  rpc_server *s = server_with(
      url, &(rpc_server_opts){.max_sessions = 4, .max_sessions_per_principal = 2}, bound,
      sizeof(bound));
  rpc_client *pc[6];
  for (int i = 0; i < 6; i++)
    pc[i] = client_for(bound, F.env.police, NULL);
  echo_ok(pc[0], NULL);
  echo_ok(pc[1], NULL);
  echo_ok(pc[2], NULL); /* drops pc[0]'s session */
  uint8_t rid[RPC_REQUEST_ID_BYTES] = {0x5e, 0x55};
  echo_ok(pc[0], rid); /* unknown, reopened, sent again */
  assert_int_equal(rt_echo_seen(rid), 1);
  assert_true(stats_of(s).evicted >= 2);
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 6; i++)
      echo_ok(pc[i], NULL);
  /* Two places left for everyone else; the third principal's Open finds the
   * table full and its calls are signed. */
  rpc_client *mc = client_for(bound, F.env.marriage, NULL);
  rpc_client *cc = client_for(bound, F.env.coord, NULL);
  echo_ok(mc, NULL);
  echo_ok(mc, NULL);
  uint64_t signed_before = stats_of(s).by_signature;
  rpc_client *oc = client_for(bound, F.env.op, NULL);
  echo_ok(cc, NULL);
  echo_ok(oc, NULL);
  echo_ok(oc, NULL);
  rpc_session_stats st = stats_of(s);
  assert_int_equal(st.live, 4);
  assert_true(st.refused_full >= 1);
  assert_true(st.by_signature >= signed_before + 3); /* a refused Open, then signed calls */
  assert_int_equal(rt_echo_runs(), 2 + 2 + 18 + 2 + 3);
  for (int i = 0; i < 6; i++)
    rpc_client_free(pc[i]);
  rpc_client_free(mc);
  rpc_client_free(cc);
  rpc_client_free(oc);
  rpc_server_free(s);
}

/* The server restarts and forgets every session: the client's next call,
 * MAC'd under the old session, is refused with session_unknown without
 * running; the client opens a new session and sends the same request (same
 * id) again, which runs once. */
static void test_session_server_restart(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "restart");
  rpc_server *s = server_with(url, &(rpc_server_opts){.program = "first"}, bound, sizeof(bound));
  rpc_client *c = client_for(bound, F.env.police, NULL);
  echo_ok(c, NULL);
  rpc_server_free(s);
  s = server_with(bound, &(rpc_server_opts){.program = "second"}, bound, sizeof(bound));
  uint8_t rid[RPC_REQUEST_ID_BYTES] = {0x4e, 0x57};
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  Mediation__V1__EchoReply *out = NULL;
  char msg[256];
  expect_code(rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 10000, .request_id = rid},
                           &out, msg),
              MC_OK, msg, NULL);
  assert_int_equal(out->seen, 1);
  protobuf_c_message_free_unpacked(&out->base, NULL);
  assert_int_equal(rt_echo_seen(rid), 1);
  assert_int_equal(rt_echo_runs(), 2);
  rpc_session_stats st = stats_of(s);
  assert_int_equal(st.opened, 1);
  assert_int_equal(st.unknown, 1); /* the first try, under the old session */
  assert_int_equal(st.by_mac, 1);  /* the one that ran */
  assert_int_equal(st.by_signature, 1);
  rpc_client_free(c);
  rpc_server_free(s);
}

/* sign_each_request: no session, every request signed. */
static void test_sign_each_request(void **state) {
  (void)state;
  rpc_session_stats before = stats_of(F.srv);
  rpc_client *c = client_for(F.url, F.env.coord, &(rpc_client_opts){.sign_each_request = true});
  for (int i = 0; i < 3; i++)
    echo_ok(c, NULL);
  rpc_session_stats st = stats_of(F.srv);
  assert_int_equal(st.opened, before.opened);
  assert_int_equal(st.by_signature, before.by_signature + 3);
  assert_int_equal(st.by_mac, before.by_mac);
  rpc_client_free(c);
}

static bool no_sessions(void *arg, const mc_principal *caller, const char *service,
                        const char *method, const char **why) {
  (void)arg;
  (void)why;
  (void)caller;
  (void)method;
  return strcmp(service, "mediation.v1.RpcSession") != 0;
}

/* A server that refuses Open (here: an admission rule; or one that predates
 * sessions): the client signs instead, without asking again each call. */
static void test_session_refused_falls_back(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "nosessions");
  rpc_server *s = server_with(url, &(rpc_server_opts){.accept = no_sessions}, bound,
                              sizeof(bound));
  rpc_client *c = client_for(bound, F.env.police, NULL);
  for (int i = 0; i < 3; i++)
    echo_ok(c, NULL);
  rpc_session_stats st = stats_of(s);
  assert_int_equal(st.opened, 0);
  assert_int_equal(st.by_signature, 4); /* one refused Open, three signed calls */
  rpc_client_free(c);
  rpc_server_free(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A reply past the 16 MiB any client reads (a Desk list of 10,000 cases
 * from a server configured with a larger limit than its caller). Before
 * RequestEnvelope.max_reply_bytes the server sent it, nng closed the
 * connection as it read the length, REQ sent the request again on the
 * next connection (running it again), and the call ended as
 * DEADLINE_EXCEEDED "Connection reset after sending (3 attempts)". Now the
 * server knows the caller's limit and refuses the reply at once with
 * RESOURCE_EXHAUSTED saying it is too large. On a server of its own with a
 * 20 MiB limit ("hostile": before the fix it dropped connections). */
static void test_hostile_reply_past_the_cap(void **state) {
  (void)state;
  char url[300], bound[256];
  fresh_url(url, sizeof(url), "replycap");
  size_t was = F.env.reg->limits.max_message_bytes;
  F.env.reg->limits.max_message_bytes = 20u << 20;
  rpc_server *srv = server_at(url, bound, sizeof(bound));
  F.env.reg->limits.max_message_bytes = was;
  rpc_client *c = NULL;
  mc_err err = {0};
  if (rpc_client_create(bound, F.env.police, &F.env.reg->limits, NULL, &c, &err) != MC_OK)
    fail_msg("%s", err.msg);
  Mediation__V1__EchoRequest req = MEDIATION__V1__ECHO_REQUEST__INIT;
  req.reply_bytes = 17u << 20;
  char msg[256];
  int64_t t0 = mc_mono_ms();
  mc_code rc = rt_echo_call(c, &req, &(rpc_call_opts){.timeout_ms = 3000}, NULL, msg);
  int64_t took = mc_mono_ms() - t0;
  expect_code(rc, MC_RESOURCE_EXHAUSTED, msg, "the reply is too large");
  if (took > 4500)
    fail_msg("the call took %lld ms with a 3000 ms deadline", (long long)took);
  rpc_client_free(c);
  server_free_bounded(srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_roundtrip),
      T(test_every_status),
      T(test_async_from_another_thread),
      T(test_expired_and_replayed),
      T(test_slow_handler_deadline),
      T(test_retry_same_id),
      T(test_unimplemented_and_unauthenticated),
      T(test_oversize),
      T(test_hostile_oversize_past_the_cap),
      T(test_hostile_reply_past_the_cap),
      T(test_hostile_garbage),
      T(test_refused_fails_fast),
      T(test_many_in_flight),
      T(test_in_flight_bound),
      T(test_unreachable_then_up),
      T(test_stop_in_flight),
      T(test_client_free_cancels),
      T(test_hostile_peer_that_never_reads),
      T(test_session_mac_calls),
      T(test_session_raw_refusals),
      T(test_session_concurrent_first_calls),
      T(test_session_renewal_and_expiry),
      T(test_session_table_bound),
      T(test_session_server_restart),
      T(test_sign_each_request),
      T(test_session_refused_falls_back),
  };
  /* RPC_TEST_FILTER / RPC_TEST_SKIP: cmocka glob patterns of test names;
   * RPC_TEST_TRANSPORT: ipc or tcp only. */
  const char *filter = getenv("RPC_TEST_FILTER");
  if (filter != NULL)
    cmocka_set_test_filter(filter);
  const char *skip = getenv("RPC_TEST_SKIP");
  if (skip != NULL)
    cmocka_set_skip_filter(skip);
  const char *only = getenv("RPC_TEST_TRANSPORT");
  int failed = 0;
  static const char *const transports[] = {"ipc", "tcp"};
  for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
    if (only != NULL && strcmp(only, transports[i]) != 0)
      continue;
    transport = transports[i];
    failed += cmocka_run_group_tests_name(transport, tests, NULL, NULL);
    if (nng_wedged)
      break;
  }
  if (nng_wedged) {
    /* exit() would be fine too, but nothing below may touch nng again. */
    fflush(NULL);
    _exit(failed == 0 ? 0 : 1);
  }
  return failed;
}
