/*
 * test_web_parts.c - the parts of mediation-web that need no socket: the
 * status table, static path resolution, content types, sessions (idle and
 * absolute expiry with an injected clock, the bounded table), CSRF
 * comparison, cookie parsing with hostile input, the per-address login
 * lockout, and the method table (only what WEB.md lists; every entry in
 * the contract; stamps overwrite the person).
 *
 * The black-box HTTP tests through a live deployment are tests/web's
 * Python (webtest's); these pin down the decisions each part makes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "mv1.h"
#include "web/web.h"

#define T0 1764720000000LL
#define MIN (60 * 1000LL)

static void test_status_table(void **state) {
  (void)state;
  static const struct {
    mc_code code;
    uint16_t http;
  } want[] = {
      {MC_OK, 200},
      {MC_CANCELLED, 499},
      {MC_UNKNOWN, 500},
      {MC_INVALID_ARGUMENT, 400},
      {MC_DEADLINE_EXCEEDED, 504},
      {MC_NOT_FOUND, 404},
      {MC_ALREADY_EXISTS, 409},
      {MC_PERMISSION_DENIED, 403},
      {MC_RESOURCE_EXHAUSTED, 429},
      {MC_FAILED_PRECONDITION, 409},
      {MC_ABORTED, 409},
      {MC_OUT_OF_RANGE, 400},
      {MC_UNIMPLEMENTED, 501},
      {MC_INTERNAL, 500},
      {MC_UNAVAILABLE, 503},
      {MC_DATA_LOSS, 500},
      {MC_UNAUTHENTICATED, 401},
  };
  assert_int_equal(sizeof(want) / sizeof(want[0]), MC_CODE_COUNT);
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    assert_int_equal(wg_http_status(want[i].code), want[i].http);
    assert_string_not_equal(wg_http_reason(want[i].http), "Status");
  }
  assert_int_equal(wg_http_status((mc_code)99), 500);
  assert_string_equal(wg_http_reason(413), "Payload Too Large");
  assert_string_equal(wg_http_reason(405), "Method Not Allowed");
}

static void test_static_paths(void **state) {
  (void)state;
  char out[256];
  assert_true(wg_static_path("/srv/web", "/", out, sizeof(out)));
  assert_string_equal(out, "/srv/web/index.html");
  assert_true(wg_static_path("/srv/web", "/app.js", out, sizeof(out)));
  assert_string_equal(out, "/srv/web/app.js");
  assert_true(wg_static_path("/srv/web", "/css/desk-1.2_x.css", out, sizeof(out)));
  assert_string_equal(out, "/srv/web/css/desk-1.2_x.css");
  static const char *bad[] = {
      "",          "app.js",        "/..",          "/../etc/passwd", "/css/../../x",
      "/.env",     "/css/.hidden",  "/./app.js",    "//etc/passwd",   "/css//a.css",
      "/css/",     "/a%2e%2e/b",    "/a\\b",        "/a b",           "/\xe5\x91\xa8.html",
      "/a?b",      "/a;b",          "/a:b",         "/..%2f",         "/a/./b",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(wg_static_path("/srv/web", bad[i], out, sizeof(out)));
  assert_false(wg_static_path("/srv/web", NULL, out, sizeof(out)));
  assert_false(wg_static_path(NULL, "/", out, sizeof(out)));
  assert_false(wg_static_path("", "/", out, sizeof(out)));
  /* Too long for out: refused, never truncated to another file. */
  assert_false(wg_static_path("/srv/web", "/abcdefghijklmnop.html", out, 20));
}

static void test_content_types(void **state) {
  (void)state;
  assert_string_equal(wg_content_type("/x/index.html"), "text/html; charset=utf-8");
  assert_string_equal(wg_content_type("a.js"), "text/javascript; charset=utf-8");
  assert_string_equal(wg_content_type("a.css"), "text/css; charset=utf-8");
  assert_string_equal(wg_content_type("a.svg"), "image/svg+xml");
  assert_null(wg_content_type("a.sh"));
  assert_null(wg_content_type("Makefile"));
  assert_null(wg_content_type("/x.d/file"));
  assert_null(wg_content_type("a.HTML"));
}

static void test_session_idle_and_absolute(void **state) {
  (void)state;
  wg_sessions *t = NULL;
  mc_err err;
  assert_int_equal(wg_sessions_create(8, 30 * MIN, 12 * 60 * MIN, &t, &err), MC_OK);
  char id[WG_TOKEN_HEX + 1];
  wg_session_info s, got;
  assert_int_equal(wg_session_new(t, "周晓梅", "mediator", T0, id, &s, &err), MC_OK);
  assert_int_equal(strlen(id), WG_TOKEN_HEX);
  assert_int_equal(strlen(s.csrf), WG_TOKEN_HEX);
  assert_string_not_equal(id, s.csrf);
  /* Used every 29 minutes: alive until the absolute limit. */
  int64_t now = T0;
  for (int i = 0; i < 24; i++) {
    now += 29 * MIN;
    assert_true(wg_session_get(t, id, now, true, &got));
    assert_string_equal(got.person, "周晓梅");
    assert_string_equal(got.role, "mediator");
    assert_string_equal(got.csrf, s.csrf);
  }
  /* 24 * 29 min = 11.6 h; the next use at 12 h 5 min is past absolute. */
  assert_false(wg_session_get(t, id, T0 + 12 * 60 * MIN + 5 * MIN, true, &got));
  assert_false(wg_session_get(t, id, now, true, &got)); /* gone for good */
  assert_int_equal(wg_sessions_count(t), 0);

  /* Idle: 30 minutes without use ends it; 29:59 does not. */
  assert_int_equal(wg_session_new(t, "李明", "officer", T0, id, &s, &err), MC_OK);
  assert_true(wg_session_get(t, id, T0 + 30 * MIN - 1, true, &got));
  assert_false(wg_session_get(t, id, T0 + 60 * MIN, true, &got));

  /* A look without touch (the events long poll) does not keep it alive. */
  assert_int_equal(wg_session_new(t, "李明", "officer", T0, id, &s, &err), MC_OK);
  assert_true(wg_session_get(t, id, T0 + 20 * MIN, false, &got));
  assert_false(wg_session_get(t, id, T0 + 31 * MIN, false, &got));

  /* Logout. */
  assert_int_equal(wg_session_new(t, "李明", "officer", T0, id, &s, &err), MC_OK);
  assert_true(wg_session_end(t, id));
  assert_false(wg_session_end(t, id));
  assert_false(wg_session_get(t, id, T0, true, &got));
  wg_sessions_free(t);
}

static void test_session_bad_ids_and_bound(void **state) {
  (void)state;
  wg_sessions *t = NULL;
  mc_err err;
  assert_int_equal(wg_sessions_create(4, 30 * MIN, 60 * MIN, &t, &err), MC_OK);
  char ids[6][WG_TOKEN_HEX + 1];
  wg_session_info s, got;
  for (int i = 0; i < 6; i++)
    assert_int_equal(wg_session_new(t, "p", "mediator", T0 + i, ids[i], &s, &err), MC_OK);
  assert_int_equal(wg_sessions_count(t), 4);
  /* The two least recently used went. */
  assert_false(wg_session_get(t, ids[0], T0 + 10, true, &got));
  assert_false(wg_session_get(t, ids[1], T0 + 10, true, &got));
  for (int i = 2; i < 6; i++)
    assert_true(wg_session_get(t, ids[i], T0 + 10, true, &got));
  /* Unknown, malformed, uppercase, short, NULL. */
  char other[WG_TOKEN_HEX + 1];
  memcpy(other, ids[5], sizeof(other));
  other[0] = other[0] == 'a' ? 'b' : 'a';
  assert_false(wg_session_get(t, other, T0 + 10, true, &got));
  assert_false(wg_session_get(t, "", T0, true, &got));
  assert_false(wg_session_get(t, NULL, T0, true, &got));
  assert_false(wg_session_get(t, "zz", T0, true, &got));
  char upper[WG_TOKEN_HEX + 1];
  memset(upper, 'G', WG_TOKEN_HEX);
  upper[WG_TOKEN_HEX] = '\0';
  assert_false(wg_session_get(t, upper, T0, true, &got));
  /* Person too long for the table: refused, not truncated. */
  char longname[200];
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(wg_session_new(t, longname, "mediator", T0, other, &s, &err), MC_INVALID_ARGUMENT);
  wg_sessions_free(t);
}

static void test_csrf_compare(void **state) {
  (void)state;
  char tok[WG_TOKEN_HEX + 1];
  uint8_t raw[WG_TOKEN_BYTES];
  randombytes_buf(raw, sizeof(raw));
  sodium_bin2hex(tok, sizeof(tok), raw, sizeof(raw));
  assert_true(wg_csrf_ok(tok, tok));
  char copy[WG_TOKEN_HEX + 2];
  memcpy(copy, tok, sizeof(tok));
  copy[WG_TOKEN_HEX - 1] ^= 1;
  assert_false(wg_csrf_ok(copy, tok));
  memcpy(copy, tok, sizeof(tok));
  copy[WG_TOKEN_HEX] = 'a'; /* one too long */
  copy[WG_TOKEN_HEX + 1] = '\0';
  assert_false(wg_csrf_ok(copy, tok));
  assert_false(wg_csrf_ok(NULL, tok));
  assert_false(wg_csrf_ok("", tok));
  assert_false(wg_csrf_ok(tok, ""));
  assert_false(wg_csrf_ok(tok, NULL));
  assert_false(wg_csrf_ok(tok + 1, tok));
}

static void test_cookie_parsing(void **state) {
  (void)state;
  char out[WG_TOKEN_HEX + 1];
  char good[WG_TOKEN_HEX + 1];
  memset(good, 'a', WG_TOKEN_HEX);
  good[WG_TOKEN_HEX] = '\0';
  good[5] = '7';
  char h[512];
  snprintf(h, sizeof(h), "mw_session=%s", good);
  assert_true(wg_cookie_session(h, out));
  assert_string_equal(out, good);
  snprintf(h, sizeof(h), "theme=dark; mw_session=%s; lang=zh", good);
  assert_true(wg_cookie_session(h, out));
  assert_string_equal(out, good);
  snprintf(h, sizeof(h), "  mw_session=%s  ", good);
  assert_true(wg_cookie_session(h, out));
  static const char *hostile[] = {
      "",
      ";;;;",
      "mw_session=",
      "mw_session",
      "mw_session=zz",
      "xmw_session=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "mw_sessionx=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "mw_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      "mw_session=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "mw_session=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "mw_session=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
      "mw_session=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%61",
      "mw_session =aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  };
  for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
    assert_false(wg_cookie_session(hostile[i], out));
  assert_false(wg_cookie_session(NULL, out));
  /* Two session cookies: ambiguous, refused. */
  snprintf(h, sizeof(h), "mw_session=%s; mw_session=%s", good, good);
  assert_false(wg_cookie_session(h, out));
  /* A very long header of junk. */
  char *junk = malloc(64 * 1024);
  assert_non_null(junk);
  for (size_t i = 0; i < 64 * 1024 - 1; i++)
    junk[i] = "a=;b\t c"[i % 7];
  junk[64 * 1024 - 1] = '\0';
  assert_false(wg_cookie_session(junk, out));
  free(junk);
}

static void test_address_lockout(void **state) {
  (void)state;
  wg_addr_guard *g = NULL;
  mc_err err;
  assert_int_equal(wg_addr_guard_create(3, &g, &err), MC_OK);
  for (int i = 0; i < WG_ADDR_MAX_FAILURES - 1; i++) {
    wg_addr_failed(g, "10.0.0.1", T0 + i);
    assert_int_equal(wg_addr_locked_until(g, "10.0.0.1", T0 + i), 0);
  }
  wg_addr_failed(g, "10.0.0.1", T0 + 10);
  assert_int_equal(wg_addr_locked_until(g, "10.0.0.1", T0 + 11), T0 + 10 + WG_ADDR_LOCK_MS);
  assert_int_equal(wg_addr_locked_until(g, "10.0.0.2", T0 + 11), 0);
  /* Other addresses filling the table do not free the locked one. */
  for (int i = 0; i < 10; i++) {
    char a[32];
    snprintf(a, sizeof(a), "10.0.1.%d", i);
    wg_addr_failed(g, a, T0 + 20 + i);
  }
  assert_int_not_equal(wg_addr_locked_until(g, "10.0.0.1", T0 + 100), 0);
  /* The lock ends after 15 minutes; then the count starts again. */
  assert_int_equal(wg_addr_locked_until(g, "10.0.0.1", T0 + 10 + WG_ADDR_LOCK_MS), 0);
  wg_addr_failed(g, "10.0.0.1", T0 + WG_ADDR_LOCK_MS + 100);
  assert_int_equal(wg_addr_locked_until(g, "10.0.0.1", T0 + WG_ADDR_LOCK_MS + 101), 0);
  /* A success clears the count. */
  for (int i = 0; i < WG_ADDR_MAX_FAILURES - 1; i++)
    wg_addr_failed(g, "10.0.0.3", T0 + i);
  wg_addr_succeeded(g, "10.0.0.3");
  wg_addr_failed(g, "10.0.0.3", T0 + 50);
  assert_int_equal(wg_addr_locked_until(g, "10.0.0.3", T0 + 51), 0);
  wg_addr_guard_free(g);
}

static void test_method_table(void **state) {
  (void)state;
  static const char *unit[] = {"TakeIn",    "Act",       "Inbox",           "ListCases",
                               "ShowCase",  "Conflicts", "DismissConflict", "Roster",
                               "Search"};
  for (size_t i = 0; i < sizeof(unit) / sizeof(unit[0]); i++) {
    assert_non_null(wg_method_find(WG_UNIT, "Desk", unit[i]));
    assert_null(wg_method_find(WG_COORDINATOR, "Desk", unit[i]));
  }
  assert_non_null(wg_method_find(WG_COORDINATOR, "Router", "GetCase"));
  assert_non_null(wg_method_find(WG_COORDINATOR, "RouterAdmin", "Backup"));
  assert_non_null(wg_method_find(WG_COORDINATOR, "RouterAdmin", "Status"));
  assert_null(wg_method_find(WG_UNIT, "RouterAdmin", "Status"));
  /* Never exposed: a unit's calls to the router, Watch (the gateway's
   * own), anything unknown, and the coordinators' methods on a unit site. */
  assert_null(wg_method_find(WG_UNIT, "Router", "Apply"));
  assert_null(wg_method_find(WG_UNIT, "Health", "Check"));
  assert_null(wg_method_find(WG_COORDINATOR, "Router", "PullDeliveries"));
  assert_null(wg_method_find(WG_COORDINATOR, "RouterAdmin", "Anchor"));
  assert_null(wg_method_find(WG_UNIT, "Desk", "Watch"));
  assert_null(wg_method_find(WG_UNIT, "Router", "GetCase"));
  assert_null(wg_method_find(WG_UNIT, "desk", "Inbox"));
  size_t n = 0;
  const wg_method *t = wg_methods(&n);
  assert_int_equal(n, 19);
  size_t writes = 0;
  for (size_t i = 0; i < n; i++) {
    assert_non_null(protobuf_c_service_descriptor_get_method_by_name(t[i].desc, t[i].method));
    writes += t[i].access == WG_WRITE;
  }
  assert_int_equal(writes, 5); /* TakeIn, Act, DismissConflict, Backup, the coordinators' Apply */
}

/* The coordinators' Router/Apply takes exactly recall and reopen (the two
 * steps core/machine.c gives a coordinator), stamps the person, and refuses
 * every other kind, and a missing action, before anything is sent. */
static void test_coordinator_apply_restricted(void **state) {
  (void)state;
  const wg_method *m = wg_method_find(WG_COORDINATOR, "Router", "Apply");
  assert_non_null(m);
  assert_int_equal(m->access, WG_WRITE);
  for (int k = 0; k <= 20; k++) {
    Mediation__V1__ApplyRequest *a = malloc(sizeof(*a));
    assert_non_null(a);
    mediation__v1__apply_request__init(a);
    a->action = malloc(sizeof(*a->action));
    mediation__v1__case_action__init(a->action);
    a->action->kind = (Mediation__V1__ActionKind)k;
    a->action->person = strdup("someone else");
    mc_err err;
    mc_err_clear(&err);
    mc_code rc = m->stamp(&a->base, "郑协调", &err);
    if (k == MEDIATION__V1__ACTION_KIND__ACTION_KIND_RECALL ||
        k == MEDIATION__V1__ACTION_KIND__ACTION_KIND_REOPEN) {
      assert_int_equal(rc, MC_OK);
      assert_string_equal(a->action->person, "郑协调");
    } else {
      assert_int_equal(rc, MC_PERMISSION_DENIED);
      assert_non_null(strstr(err.msg, "recall and reopen"));
      assert_string_equal(a->action->person, "someone else");
    }
    protobuf_c_message_free_unpacked(&a->base, NULL);
  }
  Mediation__V1__ApplyRequest *none = malloc(sizeof(*none));
  mediation__v1__apply_request__init(none);
  mc_err err;
  assert_int_equal(m->stamp(&none->base, "郑协调", &err), MC_INVALID_ARGUMENT);
  protobuf_c_message_free_unpacked(&none->base, NULL);
  /* Health/Check is a read with nothing stamped. */
  const wg_method *h = wg_method_find(WG_COORDINATOR, "Health", "Check");
  assert_non_null(h);
  assert_int_equal(h->access, WG_READ);
  assert_null(h->stamp);
}

/* Builds a message of the method's input type the way pj_to_message does
 * (heap, freed with free_unpacked), stamps it, and checks the person. */
static void test_stamps_overwrite(void **state) {
  (void)state;
  mc_err err;
  /* TakeIn: person. */
  Mediation__V1__DeskTakeInRequest *take = malloc(sizeof(*take));
  assert_non_null(take);
  mediation__v1__desk_take_in_request__init(take);
  take->person = strdup("someone else");
  const wg_method *m = wg_method_find(WG_UNIT, "Desk", "TakeIn");
  assert_int_equal(m->stamp(&take->base, "周晓梅", &err), MC_OK);
  assert_string_equal(take->person, "周晓梅");
  protobuf_c_message_free_unpacked(&take->base, NULL);
  /* Act: action.person, also when the browser sent none. */
  Mediation__V1__DeskActRequest *act = malloc(sizeof(*act));
  mediation__v1__desk_act_request__init(act);
  act->action = malloc(sizeof(*act->action));
  mediation__v1__case_action__init(act->action);
  m = wg_method_find(WG_UNIT, "Desk", "Act");
  assert_int_equal(m->stamp(&act->base, "周晓梅", &err), MC_OK);
  assert_string_equal(act->action->person, "周晓梅");
  protobuf_c_message_free_unpacked(&act->base, NULL);
  /* ShowCase and GetCase: the reader's person. */
  Mediation__V1__DeskShowRequest *show = malloc(sizeof(*show));
  mediation__v1__desk_show_request__init(show);
  m = wg_method_find(WG_UNIT, "Desk", "ShowCase");
  assert_int_equal(m->stamp(&show->base, "李明", &err), MC_OK);
  assert_string_equal(show->person, "李明");
  protobuf_c_message_free_unpacked(&show->base, NULL);
  Mediation__V1__GetCaseRequest *get = malloc(sizeof(*get));
  mediation__v1__get_case_request__init(get);
  get->person = strdup("x");
  m = wg_method_find(WG_COORDINATOR, "Router", "GetCase");
  assert_int_equal(m->stamp(&get->base, "王芳", &err), MC_OK);
  assert_string_equal(get->person, "王芳");
  protobuf_c_message_free_unpacked(&get->base, NULL);
  /* A message without the field: INTERNAL, named. */
  Mediation__V1__DeskInboxRequest inbox = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
  assert_int_equal(wg_set_string_field(&inbox.base, "person", "x", &err), MC_INTERNAL);
  assert_non_null(strstr(err.msg, "person"));
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_table),
      cmocka_unit_test(test_coordinator_apply_restricted),
      cmocka_unit_test(test_static_paths),
      cmocka_unit_test(test_content_types),
      cmocka_unit_test(test_session_idle_and_absolute),
      cmocka_unit_test(test_session_bad_ids_and_bound),
      cmocka_unit_test(test_csrf_compare),
      cmocka_unit_test(test_cookie_parsing),
      cmocka_unit_test(test_address_lockout),
      cmocka_unit_test(test_method_table),
      cmocka_unit_test(test_stamps_overwrite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
