/*
 * test_desk_pages.c - Desk/ListCases in pages (issue 16): a unit holding
 * more cases than a page answers a page at a time with the total, a cursor
 * that walks every case once in deadline order, refuses a page larger than
 * [limits] page_size_max and a cursor it never gave, filters before it
 * pages, and pages the same way from its own copies while the router is
 * away. The limits are made small (page_size_default 2, page_size_max 3)
 * so five cases are three pages, instead of the 10,000 that overflowed
 * max_message_bytes before there were pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "desk.h"

#define POLICE "police-studio"
#define N_CASES 5

static const ts_daemon daemons[] = {{"police-studio", POLICE}};
static char refs[N_CASES][32];

static int setup(void **state) {
  (void)state;
  return ts_start("pages", "[limits]\npage_size_default = 2\npage_size_max = 3\n", daemons, 1);
}

static int teardown(void **state) {
  (void)state;
  return ts_stop();
}

static mc_code list(const Mediation__V1__DeskListRequest *req, Mediation__V1__DeskListReply **out,
                    mc_err *err) {
  ProtobufCMessage *reply = NULL;
  mc_code rc = ts_desk_call(POLICE, "ListCases", &req->base, &reply, err);
  *out = (Mediation__V1__DeskListReply *)reply;
  return rc;
}

/* Walks every page of the default size; checks the total on each, the
 * deadline order across pages and that each case the test made is seen
 * exactly once. */
static void walk_pages(void) {
  char cursor[32] = "";
  unsigned seen[N_CASES] = {0}, pages = 0;
  size_t listed = 0;
  int64_t last_deadline = 0;
  bool past_deadlines = false;
  do {
    Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
    req.cursor = cursor;
    Mediation__V1__DeskListReply *l = NULL;
    mc_err err;
    mc_code rc = list(&req, &l, &err);
    if (rc != MC_OK)
      fail_msg("ListCases page %u: %s: %s", pages + 1, mc_code_name(rc), err.msg);
    pages++;
    assert_true(l->n_cases <= 2); /* page_size_default: never everything */
    assert_int_equal(l->total, N_CASES);
    assert_int_equal(l->held, N_CASES);
    for (size_t i = 0; i < l->n_cases; i++) {
      const mv_case *c = l->cases[i]->case_record;
      assert_null(l->cases[i]->synced_record);
      if (c->deadline_ms == 0)
        past_deadlines = true;
      else if (past_deadlines || c->deadline_ms < last_deadline)
        fail_msg("page %u is not in deadline order", pages);
      else
        last_deadline = c->deadline_ms;
      for (int k = 0; k < N_CASES; k++)
        if (strcmp(c->intake->unit_ref, refs[k]) == 0)
          seen[k]++;
    }
    listed += l->n_cases;
    assert_true(strlen(l->next_cursor) < sizeof(cursor));
    snprintf(cursor, sizeof(cursor), "%s", l->next_cursor);
    protobuf_c_message_free_unpacked(&l->base, NULL);
  } while (cursor[0] != '\0' && pages < 10);
  assert_int_equal(pages, 3);
  assert_int_equal(listed, N_CASES);
  for (int k = 0; k < N_CASES; k++)
    assert_int_equal(seen[k], 1);
}

static void expect_refused(Mediation__V1__DeskListRequest *req, const char *field) {
  Mediation__V1__DeskListReply *l = NULL;
  mc_err err;
  assert_int_equal(list(req, &l, &err), MC_INVALID_ARGUMENT);
  if (strstr(err.msg, field) == NULL)
    fail_msg("the refusal does not name %s: %s", field, err.msg);
}

static void test_pages(void **state) {
  (void)state;
  for (int i = 0; i < N_CASES; i++) {
    ts_intake t;
    ts_intake_init(&t, MV_KIND(NEIGHBOUR), "baihe", 2, 100 * (i + 1));
    Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
    snprintf(refs[i], sizeof(refs[i]), "%s", r->case_record->intake->unit_ref);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  ts_wait_outbox_empty(POLICE, 30000);
  walk_pages();

  /* the largest page; one larger, and a cursor not given, are refused */
  Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
  req.page_size = 3;
  Mediation__V1__DeskListReply *l = NULL;
  mc_err err;
  assert_int_equal(list(&req, &l, &err), MC_OK);
  assert_int_equal(l->n_cases, 3);
  assert_string_equal(l->next_cursor, "3");
  protobuf_c_message_free_unpacked(&l->base, NULL);
  req.page_size = 4;
  expect_refused(&req, "page_size");
  req.page_size = 0;
  req.cursor = "next";
  expect_refused(&req, "cursor");

  /* a cursor past the end: an empty last page, the total still right */
  req.cursor = "99";
  assert_int_equal(list(&req, &l, &err), MC_OK);
  assert_int_equal(l->n_cases, 0);
  assert_int_equal(l->total, N_CASES);
  assert_string_equal(l->next_cursor, "");
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* the filters apply before the paging: the total is what they match */
  req.cursor = "";
  req.text = refs[3];
  assert_int_equal(list(&req, &l, &err), MC_OK);
  assert_int_equal(l->n_cases, 1);
  assert_int_equal(l->total, 1);
  assert_int_equal(l->held, N_CASES);
  assert_string_equal(l->cases[0]->case_record->intake->unit_ref, refs[3]);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  req.text = "";
  req.kind = MV_KIND(DIVORCE);
  assert_int_equal(list(&req, &l, &err), MC_OK);
  assert_int_equal(l->total, 0);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  req.kind = 0;
  req.community = "baihe";
  assert_int_equal(list(&req, &l, &err), MC_OK);
  assert_int_equal(l->total, N_CASES);
  protobuf_c_message_free_unpacked(&l->base, NULL);

  /* the router away: the same pages, from the unit's own copies */
  assert_int_equal(tw_stop_router(&ts_world), 0);
  walk_pages();
  assert_int_equal(tw_start_router(&ts_world, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pages),
  };
  return cmocka_run_group_tests_name("desk pages", tests, setup, teardown);
}
