/*
 * test_web_http.c - mediation-web's HTTP layer in-process, over real
 * sockets on 127.0.0.1: the headers on every reply (errors included), the
 * body cap (413 before the body is read), 405 with Allow, login with its
 * cookie, the session, CSRF, logout, the per-address login lockout, the
 * per-address in-flight cap, and a forwarded method's status mapping when
 * the unit daemon is not there (503).
 *
 * Each test starts its own gateway (port 0: nng picks one) with a real
 * accounts store in a temporary directory; the RPC client points at an
 * ipc:// path where nothing listens, with fail_when_refused, so a call
 * that passes every check ends UNAVAILABLE quickly. The black-box tests
 * through a whole deployment are the Python ones.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/i18n.h"
#include "english.h" /* tests/i18n: the one rule for an English sentence */
#include "harness.h"
#include "web/gateway.h"

#define PERSON "周晓梅"
#define PASSWORD "correct horse 马"

typedef struct fixture {
  th_dir dir;
  rpc_key *key;
  wg_gateway g;
  int port;
} fixture;

static int start(void **state, unsigned max_per_client) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(th_dir_make(&f->dir, "webhttp"), 0);
  mc_err err;
  assert_int_equal(wa_open(f->dir.path, &f->g.accounts, &err), MC_OK);
  assert_int_equal(wa_add(f->g.accounts, PERSON, "mediator", PASSWORD, 1, &err), MC_OK);
  assert_int_equal(rpc_key_generate("police-studio-operator", &f->key, &err), MC_OK);
  mc_limits limits = {.max_message_bytes = 1 << 20, .max_deadline_ahead_ms = 600000};
  char url[600];
  snprintf(url, sizeof(url), "ipc://%s/nobody.ipc", f->dir.path);
  rpc_client_opts opts = {.fail_when_refused = true, .sign_each_request = true};
  assert_int_equal(rpc_client_create(url, f->key, &limits, &opts, &f->g.client, &err), MC_OK);
  f->g.conf = (wg_conf){.kind = WG_UNIT,
                        .site = "police-studio",
                        .listen = "http://127.0.0.1:0",
                        .static_dir = f->dir.path,
                        .idle_ms = 30 * 60000,
                        .absolute_ms = 12 * 3600000,
                        .max_body = 64 * 1024,
                        .max_per_client = max_per_client,
                        .max_sessions = 16,
                        .call_timeout_ms = 5000};
  assert_int_equal(wg_sessions_create(16, f->g.conf.idle_ms, f->g.conf.absolute_ms, &f->g.sessions, &err),
                   MC_OK);
  assert_int_equal(wg_addr_guard_create(16, &f->g.guard, &err), MC_OK);
  assert_int_equal(wg_workers_start("login", 2, 8, N_("too many logins at once: try again"),
                                    &f->g.login, &err), MC_OK);
  assert_int_equal(wg_workers_start("documents", 1, 2, N_("too many documents: try again"),
                                    &f->g.docs, &err), MC_OK);
  assert_int_equal(wg_http_start(&f->g, &err), MC_OK);
  nng_sockaddr sa;
  assert_int_equal(nng_http_server_get_addr(f->g.server, &sa), 0);
  f->port = ntohs(sa.s_in.sa_port);
  assert_true(f->port > 0);
  *state = f;
  return 0;
}

static int setup(void **state) { return start(state, 16); }
static int setup_cap2(void **state) { return start(state, 2); }

static int teardown(void **state) {
  fixture *f = *state;
  wg_workers_stop(f->g.login);
  wg_workers_stop(f->g.docs);
  wg_http_stop(&f->g);
  rpc_client_free(f->g.client);
  wg_workers_free(f->g.docs);
  wg_workers_free(f->g.login);
  wg_addr_guard_free(f->g.guard);
  wg_sessions_free(f->g.sessions);
  wa_close(f->g.accounts);
  rpc_key_free(f->key);
  th_dir_remove(&f->dir);
  free(f);
  return 0;
}

static int connect_to(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return s;
}

/* Sends req (whole) on a new connection and reads until the server
 * closes it (requests say Connection: close). Caller frees. */
static char *exchange(int port, const char *req, size_t len) {
  int s = connect_to(port);
  assert_int_equal(send(s, req, len, MSG_NOSIGNAL), (ssize_t)len);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  assert_non_null(buf);
  ssize_t got;
  while (n < cap && (got = recv(s, buf + n, cap - n, 0)) > 0)
    n += (size_t)got;
  buf[n] = '\0';
  close(s);
  return buf;
}

/* One request: method, path, extra header lines ("" or "X: y\r\n"), body. */
static char *http(fixture *f, const char *method, const char *path, const char *headers,
                  const char *body) {
  char req[8192];
  int n = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                   "Content-Length: %zu\r\n\r\n%s",
                   method, path, headers, body ? strlen(body) : 0, body ? body : "");
  assert_true(n > 0 && (size_t)n < sizeof(req));
  return exchange(f->port, req, (size_t)n);
}

static int status_of(const char *res) {
  int st = 0;
  assert_int_equal(sscanf(res, "HTTP/1.1 %d", &st), 1);
  return st;
}

static void assert_security_headers(const char *res) {
  assert_non_null(strstr(res, "Content-Security-Policy: default-src 'self'; script-src 'self'"));
  assert_non_null(strstr(res, "frame-ancestors 'none'"));
  assert_non_null(strstr(res, "X-Content-Type-Options: nosniff"));
  assert_non_null(strstr(res, "Referrer-Policy: no-referrer"));
  assert_non_null(strstr(res, "X-Frame-Options: DENY"));
}

static void test_headers_on_every_reply(void **state) {
  fixture *f = *state;
  char *res = http(f, "GET", "/api/v1/methods", "", NULL);
  assert_int_equal(status_of(res), 200);
  assert_security_headers(res);
  assert_non_null(strstr(res, "Cache-Control: no-store"));
  assert_non_null(strstr(res, "{\"service\":\"Desk\",\"method\":\"Inbox\",\"access\":\"read\"}"));
  assert_null(strstr(res, "\"Router\""));
  free(res);
  /* nng would answer these itself, without our headers: it must not. */
  static const char *paths[] = {"/nope.html", "/api/v1/nope", "/api/v2/x", "/../etc/passwd",
                                "/api/v1/Desk/Watch", "/api/v1/Router/GetCase"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    res = http(f, "GET", paths[i], "", NULL);
    assert_int_equal(status_of(res), 404);
    assert_security_headers(res);
    assert_non_null(strstr(res, "{\"code\":\"NOT_FOUND\",\"message\":"));
    free(res);
  }
  res = http(f, "DELETE", "/api/v1/session", "", NULL);
  assert_int_equal(status_of(res), 405);
  assert_non_null(strstr(res, "Allow: GET"));
  assert_security_headers(res);
  free(res);
  res = http(f, "GET", "/api/v1/login", "", NULL);
  assert_int_equal(status_of(res), 405);
  assert_non_null(strstr(res, "Allow: POST"));
  free(res);
}

static void test_body_cap(void **state) {
  fixture *f = *state;
  /* Over the cap: 413 from the headers alone (the body is never sent). */
  const char *req = "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n";
  char *res = exchange(f->port, req, strlen(req));
  assert_int_equal(status_of(res), 413);
  assert_non_null(strstr(res, "Connection: close"));
  assert_non_null(strstr(res, "\"code\":\"RESOURCE_EXHAUSTED\""));
  assert_security_headers(res);
  free(res);
  req = "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  res = exchange(f->port, req, strlen(req));
  assert_int_equal(status_of(res), 411);
  free(res);
  req = "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n";
  res = exchange(f->port, req, strlen(req));
  assert_int_equal(status_of(res), 400);
  free(res);
  /* A body answered without being read (here: POST to a page) must not be
   * taken for the next request on the connection: one reply, then closed. */
  static const char smuggled[] = "GET /api/v1/methods HTTP/1.1\r\nHost: x\r\n\r\n";
  char two[256];
  int n = snprintf(two, sizeof(two), "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                   sizeof(smuggled) - 1, smuggled);
  res = exchange(f->port, two, (size_t)n);
  assert_int_equal(status_of(res), 405);
  assert_non_null(strstr(res, "Connection: close"));
  assert_null(strstr(res + 1, "HTTP/1.1 "));
  free(res);
}

static void cookie_of(const char *res, char out[WG_TOKEN_HEX + 1]) {
  const char *c = strstr(res, "Set-Cookie: mw_session=");
  assert_non_null(c);
  c += strlen("Set-Cookie: mw_session=");
  memcpy(out, c, WG_TOKEN_HEX);
  out[WG_TOKEN_HEX] = '\0';
  assert_int_equal(strspn(out, "0123456789abcdef"), WG_TOKEN_HEX);
  assert_non_null(strstr(c, "; HttpOnly; SameSite=Strict; Path=/\r\n")); /* no Secure: http */
}

static void csrf_of(const char *res, char out[WG_TOKEN_HEX + 1]) {
  const char *c = strstr(res, "\"csrf_token\":\"");
  assert_non_null(c);
  memcpy(out, c + strlen("\"csrf_token\":\""), WG_TOKEN_HEX);
  out[WG_TOKEN_HEX] = '\0';
}

/* Expect: 100-continue is answered before the body is sent (curl asks it
 * for bodies over 1 KiB and would otherwise wait a second). */
static void test_expect_continue(void **state) {
  fixture *f = *state;
  static const char body[] = "{\"name\":\"nobody\",\"password\":\"wrong one\"}";
  char head[256];
  int n = snprintf(head, sizeof(head),
                   "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
                   sizeof(body) - 1);
  int s = connect_to(f->port);
  assert_int_equal(send(s, head, (size_t)n, MSG_NOSIGNAL), n);
  char buf[4096];
  ssize_t got = recv(s, buf, sizeof(buf) - 1, 0);
  assert_true(got > 0);
  buf[got] = '\0';
  assert_non_null(strstr(buf, "HTTP/1.1 100 Continue\r\n\r\n"));
  assert_int_equal(send(s, body, sizeof(body) - 1, MSG_NOSIGNAL), (ssize_t)(sizeof(body) - 1));
  size_t len = 0;
  while (len < sizeof(buf) - 1 && (got = recv(s, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
    len += (size_t)got;
  buf[len] = '\0';
  close(s);
  assert_non_null(strstr(buf, "HTTP/1.1 401"));
}

static void test_login_session_csrf_logout(void **state) {
  fixture *f = *state;
  char *res = http(f, "POST", "/api/v1/login", "", "{\"name\":\"" PERSON "\"}");
  assert_int_equal(status_of(res), 400);
  assert_non_null(strstr(res, "password"));
  free(res);
  res = http(f, "POST", "/api/v1/login", "", "{\"name\":\"" PERSON "\",\"password\":\"x\",\"extra\":1}");
  assert_int_equal(status_of(res), 400);
  free(res);
  res = http(f, "POST", "/api/v1/login", "", "{\"name\":\"" PERSON "\",\"password\":\"wrong one\"}");
  assert_int_equal(status_of(res), 401);
  assert_non_null(strstr(res, "\"code\":\"UNAUTHENTICATED\""));
  assert_null(strstr(res, "Set-Cookie"));
  free(res);

  res = http(f, "POST", "/api/v1/login", "", "{\"name\":\"" PERSON "\",\"password\":\"" PASSWORD "\"}");
  assert_int_equal(status_of(res), 200);
  assert_non_null(strstr(res, "\"person\":\"" PERSON "\""));
  assert_non_null(strstr(res, "\"kind\":\"unit\""));
  assert_non_null(strstr(res, "\"site\":\"police-studio\""));
  assert_non_null(strstr(res, "\"idle_seconds\":1800"));
  char sid[WG_TOKEN_HEX + 1], csrf[WG_TOKEN_HEX + 1];
  cookie_of(res, sid);
  csrf_of(res, csrf);
  free(res);

  char cookie[200], both[400], wrong[400];
  snprintf(cookie, sizeof(cookie), "Cookie: mw_session=%s\r\n", sid);
  snprintf(both, sizeof(both), "%sX-CSRF-Token: %s\r\n", cookie, csrf);
  char bad[WG_TOKEN_HEX + 1];
  memcpy(bad, csrf, sizeof(bad));
  bad[0] = bad[0] == '0' ? '1' : '0';
  snprintf(wrong, sizeof(wrong), "%sX-CSRF-Token: %s\r\n", cookie, bad);

  res = http(f, "GET", "/api/v1/session", cookie, NULL);
  assert_int_equal(status_of(res), 200);
  assert_non_null(strstr(res, csrf));
  free(res);
  /* A method: no session 401, no or wrong token 403, else it is called
   * (nothing listens: UNAVAILABLE -> 503). */
  res = http(f, "POST", "/api/v1/Desk/Inbox", "", "{}");
  assert_int_equal(status_of(res), 401);
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", cookie, "{}");
  assert_int_equal(status_of(res), 403);
  assert_non_null(strstr(res, "{\"code\":\"PERMISSION_DENIED\",\"message\":\"CSRF token missing or wrong\"}"));
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", wrong, "{}");
  assert_int_equal(status_of(res), 403);
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", both, "{\"unknown_field\":1}");
  assert_int_equal(status_of(res), 400);
  assert_non_null(strstr(res, "unknown_field"));
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", both, "{}");
  assert_int_equal(status_of(res), 503);
  assert_non_null(strstr(res, "\"code\":\"UNAVAILABLE\""));
  assert_non_null(strstr(res, "Cache-Control: no-store"));
  free(res);
  /* The message in the browser's language (Accept-Language, docs/i18n.md),
   * the status code the same. */
  char zh[500], en[500];
  snprintf(zh, sizeof(zh), "%sAccept-Language: zh-CN,zh;q=0.9,en;q=0.8\r\n", both);
  snprintf(en, sizeof(en), "%sAccept-Language: en-US,en;q=0.9\r\n", both);
  res = http(f, "POST", "/api/v1/Desk/Inbox", zh, "{}");
  assert_int_equal(status_of(res), 503);
  assert_non_null(strstr(res, "\"code\":\"UNAVAILABLE\""));
  if (strstr(res, "拒绝连接") == NULL)
    fail_msg("not in Chinese for Accept-Language zh-CN:\n%s", res);
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", en, "{}");
  assert_int_equal(status_of(res), 503);
  if (strstr(res, "refused the connection") == NULL)
    fail_msg("not in English for Accept-Language en-US:\n%s", res);
  free(res);
  /* The gateway's own messages follow the same language: a missing CSRF
   * token (api.c), a login without a password (login.c, on its worker
   * thread), an unknown page (http.c, before any API routing). */
  char zh_cookie[400], en_cookie[400];
  snprintf(zh_cookie, sizeof(zh_cookie), "%sAccept-Language: zh-CN,zh;q=0.9\r\n", cookie);
  snprintf(en_cookie, sizeof(en_cookie), "%sAccept-Language: en-US,en;q=0.9\r\n", cookie);
  res = http(f, "POST", "/api/v1/Desk/Inbox", zh_cookie, "{}");
  assert_int_equal(status_of(res), 403);
  if (strstr(res, "\"message\":\"CSRF 令牌缺失或错误，请刷新页面后重试\"") == NULL)
    fail_msg("CSRF refusal not in Chinese for Accept-Language zh-CN:\n%s", res);
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", en_cookie, "{}");
  assert_int_equal(status_of(res), 403);
  if (strstr(res, "\"message\":\"CSRF token missing or wrong\"") == NULL)
    fail_msg("CSRF refusal not in English for Accept-Language en-US:\n%s", res);
  free(res);
  res = http(f, "POST", "/api/v1/login", "Accept-Language: zh-CN\r\n", "{\"name\":\"" PERSON "\"}");
  assert_int_equal(status_of(res), 400);
  if (strstr(res, "登录：密码（password）须为字符串") == NULL)
    fail_msg("login refusal not in Chinese for Accept-Language zh-CN:\n%s", res);
  free(res);
  res = http(f, "POST", "/api/v1/login", "Accept-Language: en\r\n", "{\"name\":\"" PERSON "\"}");
  assert_int_equal(status_of(res), 400);
  if (strstr(res, "login: password: a string is required") == NULL)
    fail_msg("login refusal not in English for Accept-Language en:\n%s", res);
  free(res);
  /* pbjson's refusal: the field path as sent, the sentence translated. */
  res = http(f, "POST", "/api/v1/Desk/Inbox", zh, "{\"unknown_field\":1}");
  assert_int_equal(status_of(res), 400);
  if (strstr(res, "\"message\":\"unknown_field: ") == NULL || strstr(res, "中没有这个字段") == NULL)
    fail_msg("JSON refusal not in Chinese (path kept) for Accept-Language zh-CN:\n%s", res);
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", en, "{\"unknown_field\":1}");
  assert_int_equal(status_of(res), 400);
  if (strstr(res, "unknown_field: unknown field of ") == NULL)
    fail_msg("JSON refusal not in English for Accept-Language en-US:\n%s", res);
  free(res);
  /* The scanner's refusal of malformed JSON (pbjson/scan.c): the byte
   * offset kept, the sentence in the browser's language, no English
   * sentence left (tests/i18n/english.h); English unchanged. */
  res = http(f, "POST", "/api/v1/Desk/Inbox", zh, "{\"page_size\": 1,}");
  assert_int_equal(status_of(res), 400);
  {
    const char *body = strstr(res, "\r\n\r\n");
    char found[256];
    if (strstr(res, "JSON 格式错误（第 16 字节）：此处应为双引号括起的键名") == NULL || body == NULL ||
        en_sentence(body, found, sizeof(found)))
      fail_msg("malformed JSON not refused in Chinese for Accept-Language zh-CN:\n%s", res);
  }
  free(res);
  res = http(f, "POST", "/api/v1/Desk/Inbox", en, "{\"page_size\": 1,}");
  assert_int_equal(status_of(res), 400);
  if (strstr(res, "malformed JSON at byte 16: expected a key in double quotes") == NULL)
    fail_msg("malformed JSON not refused in English for Accept-Language en-US:\n%s", res);
  free(res);
  res = http(f, "GET", "/no/such/page.html", "Accept-Language: zh-CN\r\n", NULL);
  assert_int_equal(status_of(res), 404);
  if (strstr(res, "没有这个页面") == NULL)
    fail_msg("404 not in Chinese for Accept-Language zh-CN:\n%s", res);
  free(res);

  /* Logout needs the token too; then the session is gone. */
  res = http(f, "POST", "/api/v1/logout", cookie, NULL);
  assert_int_equal(status_of(res), 403);
  free(res);
  res = http(f, "POST", "/api/v1/logout", both, NULL);
  assert_int_equal(status_of(res), 200);
  assert_non_null(strstr(res, "Set-Cookie: mw_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"));
  free(res);
  res = http(f, "GET", "/api/v1/session", cookie, NULL);
  assert_int_equal(status_of(res), 401);
  free(res);
}

static void test_address_lockout(void **state) {
  fixture *f = *state;
  for (int i = 0; i < WG_ADDR_MAX_FAILURES; i++) {
    /* Different names: the address is counted, not the account. */
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"nobody%d\",\"password\":\"wrong one\"}", i);
    char *res = http(f, "POST", "/api/v1/login", "", body);
    assert_int_equal(status_of(res), 401);
    free(res);
  }
  char *res = http(f, "POST", "/api/v1/login", "",
                   "{\"name\":\"" PERSON "\",\"password\":\"" PASSWORD "\"}");
  assert_int_equal(status_of(res), 429);
  assert_non_null(strstr(res, "from this address"));
  free(res);
}

static void test_in_flight_cap(void **state) {
  fixture *f = *state;
  /* Two requests whose bodies never come hold this address's two slots. */
  const char *held = "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
  int a = connect_to(f->port), b = connect_to(f->port);
  assert_int_equal(send(a, held, strlen(held), MSG_NOSIGNAL), (ssize_t)strlen(held));
  assert_int_equal(send(b, held, strlen(held), MSG_NOSIGNAL), (ssize_t)strlen(held));
  usleep(200 * 1000);
  char *res = http(f, "GET", "/api/v1/methods", "", NULL);
  assert_int_equal(status_of(res), 429);
  assert_non_null(strstr(res, "too many requests at once from this address"));
  free(res);
  /* Refused with its body unread: the body is not taken for a request. */
  static const char smuggled[] = "GET /api/v1/methods HTTP/1.1\r\nHost: x\r\n\r\n";
  char two[256];
  int n = snprintf(two, sizeof(two),
                   "POST /api/v1/Desk/Inbox HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                   sizeof(smuggled) - 1, smuggled);
  res = exchange(f->port, two, (size_t)n);
  assert_int_equal(status_of(res), 429);
  assert_non_null(strstr(res, "Connection: close"));
  assert_null(strstr(res + 1, "HTTP/1.1 "));
  free(res);
  close(a);
  close(b);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  mc_i18n_init(); /* the gateway's messages, as mediation-web's main does */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_headers_on_every_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_login_session_csrf_logout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_address_lockout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in_flight_cap, setup_cap2, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
