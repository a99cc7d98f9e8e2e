/*
 * test_router_search.c - Router/Search, 再次纠纷 links and the identity
 * checks through a real mediation-router process: search by whole and
 * partial name, unit_ref, mediator, ID number and phone; a unit that may
 * not see a case gets no hit for it; hits carry no personal data; every
 * search is in the access log; intakes sharing a party are linked (only as
 * far as the reader may see) and counted in the figures; ID numbers are
 * refused naming the position; bidi controls are stripped from names.
 */
#define _GNU_SOURCE /* memmem */
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
#include "core/pb.h"
#include "mv1.h"
#include "world.h"

static tw_world world;

#define ID_A "330212199001011232"   /* 林某甲 */
#define ID_B "11010519491231002X"   /* 宋某丙 */
#define PHONE_A "13900001111"

static mc_code call(const char *principal, const ProtobufCServiceDescriptor *svc,
                    const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply,
                    mc_err *err) {
  rpc_client *c = tw_client(&world, principal, NULL);
  assert_non_null(c);
  return rpc_client_call(c, svc, method, req, NULL, reply, err);
}

/* Takes a case in with one party; the reply in *out (caller frees) or NULL. */
static mc_code take_in(const char *unit, const char *name, const char *id_number,
                       const char *phone, const char *unit_ref, const char *community,
                       Mediation__V1__ApplyReply **out, mc_err *err) {
  mv_party p = MEDIATION__V1__PARTY__INIT, q = MEDIATION__V1__PARTY__INIT;
  mv_party *ps[2] = {&p, &q};
  p.name = (char *)name;
  p.role = MV_PARTY(APPLICANT);
  p.id_number = (char *)id_number;
  p.phone = (char *)phone;
  q.name = "对方某";
  q.role = MV_PARTY(RESPONDENT);
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = MV_KIND(NEIGHBOUR);
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(WALK_IN);
  in.community = (char *)community;
  in.parties = ps;
  in.n_parties = 2;
  in.summary = "邻里纠纷";
  in.unit_ref = (char *)unit_ref;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  ProtobufCMessage *reply = NULL;
  mc_code rc = call(unit, &mediation__v1__router__descriptor, "Apply", &req.base, &reply, err);
  *out = rc == MC_OK ? (Mediation__V1__ApplyReply *)reply : NULL;
  return rc;
}

static void must_take_in(const char *unit, const char *name, const char *id_number,
                         const char *phone, const char *unit_ref, const char *community,
                         char id[32], Mediation__V1__ApplyReply **keep) {
  Mediation__V1__ApplyReply *r = NULL;
  mc_err err;
  if (take_in(unit, name, id_number, phone, unit_ref, community, &r, &err) != MC_OK)
    fail_msg("take in at %s: %s", unit, err.msg);
  snprintf(id, 32, "%s", r->case_record->id);
  if (keep != NULL)
    *keep = r;
  else
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static mc_code search(const char *principal, const char *text, uint32_t page_size,
                      const char *token, Mediation__V1__SearchReply **out, mc_err *err) {
  Mediation__V1__SearchRequest req = MEDIATION__V1__SEARCH_REQUEST__INIT;
  req.text = (char *)text;
  req.page_size = page_size;
  req.page_token = (char *)(token ? token : "");
  req.person = "查询员";
  ProtobufCMessage *reply = NULL;
  mc_code rc = call(principal, &mediation__v1__router__descriptor, "Search", &req.base, &reply,
                    err);
  *out = rc == MC_OK ? (Mediation__V1__SearchReply *)reply : NULL;
  return rc;
}

/* Expects exactly the listed case ids (any order), each matched as given. */
static void expect_hits(const char *principal, const char *text, const char *matched, int n,
                        ...) {
  Mediation__V1__SearchReply *r = NULL;
  mc_err err;
  if (search(principal, text, 0, NULL, &r, &err) != MC_OK)
    fail_msg("search %s as %s: %s", text, principal, err.msg);
  if ((int)r->n_hits != n)
    fail_msg("search %s as %s: %zu hits, expected %d", text, principal, r->n_hits, n);
  assert_int_equal(r->total, n);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    const char *id = va_arg(ap, const char *);
    bool found = false;
    for (size_t k = 0; k < r->n_hits && !found; k++)
      if (strcmp(r->hits[k]->id, id) == 0) {
        found = true;
        assert_string_equal(r->hits[k]->matched, matched);
      }
    if (!found)
      fail_msg("search %s as %s: %s not found", text, principal, id);
  }
  va_end(ap);
  /* A hit is a list row: no name, ID number or phone in it. */
  uint8_t *bytes = NULL;
  size_t len = 0;
  assert_int_equal(mc_pb_pack(&r->base, &bytes, &len, &err), MC_OK);
  assert_null(memmem(bytes, len, ID_A, strlen(ID_A)));
  assert_null(memmem(bytes, len, PHONE_A, strlen(PHONE_A)));
  assert_null(memmem(bytes, len, "林某甲", strlen("林某甲")));
  free(bytes);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static char case_a[32], case_b[32];

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "router-search", NULL, false) != 0 || tw_start_router(&world, NULL) != 0)
    return -1;
  must_take_in("police-studio", "林某甲", ID_A, PHONE_A, "PS-S-1", "kongque", case_a, NULL);
  must_take_in("marriage-studio", "宋某丙", ID_B, "0574-87654321", "MS-S-1", "wangai", case_b,
               NULL);
  /* 马德顺 of the police studio on case A */
  mv_member m = MEDIATION__V1__TEAM_MEMBER__INIT;
  m.person = "马德顺";
  m.role = MV_ROLE(MEDIATOR);
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(ASSIGN);
  a.case_ref = case_a;
  a.args_case = MV_ARGS(MEMBER);
  a.member = &m;
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  if (call("police-studio", &mediation__v1__router__descriptor, "Apply", &req.base, &reply,
           &err) != MC_OK) {
    fprintf(stderr, "assign: %s\n", err.msg);
    return -1;
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  /* Neither the search text nor personal data reaches the log. */
  char log[TH_PATH_MAX + 16];
  snprintf(log, sizeof(log), "%s/router.log", world.dir.path);
  char *text = th_read_file(log);
  bool leaked = text != NULL && (strstr(text, "林某甲") || strstr(text, ID_A) ||
                                 strstr(text, PHONE_A) || strstr(text, "德顺"));
  free(text);
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  if (leaked) {
    fprintf(stderr, "personal data found in the router's log\n");
    return -1;
  }
  return rc == 0 ? 0 : -1;
}

static void test_search_fields(void **state) {
  (void)state;
  expect_hits("coordinator", "林某甲", "party_name", 1, case_a);
  expect_hits("coordinator", "某甲", "party_name", 1, case_a);    /* partial */
  expect_hits("coordinator", " 林 ", "party_name", 1, case_a);    /* one character */
  expect_hits("coordinator", "甲林", "party_name", 0);
  expect_hits("coordinator", "ps-s-1", "unit_ref", 1, case_a);    /* ASCII case ignored */
  expect_hits("coordinator", "MS-S-1", "unit_ref", 1, case_b);
  expect_hits("coordinator", "德顺", "mediator", 1, case_a);
  expect_hits("coordinator", ID_A, "id_number", 1, case_a);
  expect_hits("coordinator", "11010519491231002x", "id_number", 1, case_b);
  expect_hits("coordinator", "+86 139 0000 1111", "phone", 1, case_a); /* its normal form */
  expect_hits("coordinator", "0574 8765 4321", "phone", 1, case_b);
  expect_hits("coordinator", "13900001112", "phone", 0);
}

static void test_search_access(void **state) {
  (void)state;
  /* The marriage studio never held case A; the Kongque station sees its
   * community's cases; the police studio sees only its own. */
  expect_hits("marriage-studio", "林某甲", "party_name", 0);
  expect_hits("marriage-studio", ID_A, "id_number", 0);
  expect_hits("marriage-studio", "宋某丙", "party_name", 1, case_b);
  expect_hits("station-kongque", "某甲", "party_name", 1, case_a);
  expect_hits("station-wangai", "某甲", "party_name", 0);
  expect_hits("police-studio", "0574-87654321", "phone", 0);
}

static void test_search_refusals(void **state) {
  (void)state;
  Mediation__V1__SearchReply *r = NULL;
  mc_err err;
  assert_int_equal(search("coordinator", "330212199001011234", 0, NULL, &r, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "check digit (position 18) should be 2"));
  assert_int_equal(search("coordinator", "1390000", 0, NULL, &r, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "phone"));
  assert_int_equal(search("coordinator", "  ", 0, NULL, &r, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "text: required"));
  assert_int_equal(search("coordinator", "林", 0, "9.abc", &r, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "page_token"));
  assert_int_equal(search("coordinator", "林", 0, "0.c1AAAA", &r, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "cursor"));
}

static void test_search_pages(void **state) {
  (void)state;
  char ids[3][32];
  for (int i = 0; i < 3; i++) {
    char ref[32];
    snprintf(ref, sizeof(ref), "PG-%d", i);
    must_take_in("station-baihe", "欧阳某", "", "", ref, "baihe", ids[i], NULL);
  }
  char token[1024] = "";
  int seen = 0;
  for (int page = 0; page < 5; page++) {
    Mediation__V1__SearchReply *r = NULL;
    mc_err err;
    if (search("coordinator", "欧阳", 2, token, &r, &err) != MC_OK)
      fail_msg("page %d: %s", page, err.msg);
    assert_int_equal(r->total, 3);
    for (size_t k = 0; k < r->n_hits; k++)
      assert_string_equal(r->hits[k]->id, ids[seen++]); /* oldest first */
    snprintf(token, sizeof(token), "%s", r->next_page_token);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (token[0] == '\0')
      break;
  }
  assert_int_equal(seen, 3);
}

static void test_search_access_log(void **state) {
  (void)state;
  expect_hits("station-kongque", "林某甲", "party_name", 1, case_a);
  Mediation__V1__ListAccessRequest lreq = MEDIATION__V1__LIST_ACCESS_REQUEST__INIT;
  lreq.who = "station-kongque";
  Mediation__V1__ListAccessReply *l = NULL;
  const Mediation__V1__AccessRecord *found = NULL;
  for (int tries = 0; tries < 100 && found == NULL; tries++) {
    ProtobufCMessage *reply = NULL;
    mc_err err;
    if (call("coordinator", &mediation__v1__router_admin__descriptor, "ListAccess", &lreq.base,
             &reply, &err) != MC_OK)
      fail_msg("ListAccess: %s", err.msg);
    l = (Mediation__V1__ListAccessReply *)reply;
    for (size_t i = 0; i < l->n_records && found == NULL; i++)
      if (strcmp(l->records[i]->method, "Search") == 0 && l->records[i]->hits == 1)
        found = l->records[i];
    if (found == NULL) {
      protobuf_c_message_free_unpacked(&l->base, NULL);
      l = NULL;
      usleep(50 * 1000);
    }
  }
  assert_non_null(found);
  assert_string_equal(found->who->id, "station-kongque");
  assert_string_equal(found->who->person, "查询员");
  assert_int_equal(found->n_case_ids, 1);
  assert_string_equal(found->case_ids[0], case_a);
  assert_string_equal(found->case_id, "");
  protobuf_c_message_free_unpacked(&l->base, NULL);
}

static const Mediation__V1__CaseSummary *summary_of(Mediation__V1__ListCasesReply *l,
                                                    const char *id) {
  for (size_t i = 0; i < l->n_cases; i++)
    if (strcmp(l->cases[i]->id, id) == 0)
      return l->cases[i];
  return NULL;
}

static void test_repeat_disputes(void **state) {
  (void)state;
  mc_err err;
  /* The same ID number at the police studio again: linked to case A. */
  char c[32], d[32];
  Mediation__V1__ApplyReply *r = NULL;
  must_take_in("police-studio", "林某甲", ID_A, PHONE_A, "PS-S-2", "kongque", c, &r);
  assert_int_equal(r->case_record->intake->n_repeat_of, 1);
  assert_string_equal(r->case_record->intake->repeat_of[0], case_a);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* The same name and phone, no ID number, at the marriage studio: linked
   * to A and C, which it may not see, so its reply shows no link. */
  must_take_in("marriage-studio", "林某甲", "", "139-0000-1111", "MS-S-2", "wangai", d, &r);
  assert_int_equal(r->case_record->intake->n_repeat_of, 0);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* A coordinator sees both links, the most recent first. */
  Mediation__V1__GetCaseRequest g = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  g.case_ref = d;
  ProtobufCMessage *reply = NULL;
  assert_int_equal(call("coordinator", &mediation__v1__router__descriptor, "GetCase", &g.base,
                        &reply, &err),
                   MC_OK);
  Mediation__V1__GetCaseReply *gr = (Mediation__V1__GetCaseReply *)reply;
  assert_int_equal(gr->case_record->intake->n_repeat_of, 2);
  assert_string_equal(gr->case_record->intake->repeat_of[0], c);
  assert_string_equal(gr->case_record->intake->repeat_of[1], case_a);
  protobuf_c_message_free_unpacked(reply, NULL);
  /* The Kongque station sees A and C (its community) but not D's link
   * targets beyond them... D itself is wangai's: it may not read D. The
   * police studio reads C with its link to A. */
  g.case_ref = c;
  assert_int_equal(call("police-studio", &mediation__v1__router__descriptor, "GetCase", &g.base,
                        &reply, &err),
                   MC_OK);
  gr = (Mediation__V1__GetCaseReply *)reply;
  assert_int_equal(gr->case_record->intake->n_repeat_of, 1);
  protobuf_c_message_free_unpacked(reply, NULL);
  /* The marriage studio's own list marks D without naming what it may not see. */
  Mediation__V1__ListCasesRequest lr = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  lr.holder = "marriage-studio";
  assert_int_equal(call("marriage-studio", &mediation__v1__router__descriptor, "ListCases",
                        &lr.base, &reply, &err),
                   MC_OK);
  const Mediation__V1__CaseSummary *s = summary_of((Mediation__V1__ListCasesReply *)reply, d);
  assert_non_null(s);
  assert_int_equal(s->n_repeat_of, 0);
  protobuf_c_message_free_unpacked(reply, NULL);
  /* The coordinator's list names both. */
  assert_int_equal(call("coordinator", &mediation__v1__router__descriptor, "ListCases", &lr.base,
                        &reply, &err),
                   MC_OK);
  s = summary_of((Mediation__V1__ListCasesReply *)reply, d);
  assert_non_null(s);
  assert_int_equal(s->n_repeat_of, 2);
  protobuf_c_message_free_unpacked(reply, NULL);
  /* Figures: C and D are repeat cases. */
  Mediation__V1__GetFiguresRequest fr = MEDIATION__V1__GET_FIGURES_REQUEST__INIT;
  fr.year = mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year;
  assert_int_equal(call("coordinator", &mediation__v1__router__descriptor, "GetFigures",
                        &fr.base, &reply, &err),
                   MC_OK);
  Mediation__V1__GetFiguresReply *f = (Mediation__V1__GetFiguresReply *)reply;
  if (f->total->counters->repeat_cases != 2) {
    for (size_t i = 0; i < f->n_rows; i++)
      fprintf(stderr, "row %s %s taken_in %lld repeat %lld\n", f->rows[i]->bucket->unit,
              f->rows[i]->bucket->community, (long long)f->rows[i]->counters->taken_in,
              (long long)f->rows[i]->counters->repeat_cases);
    fail_msg("repeat_cases %lld, expected 2", (long long)f->total->counters->repeat_cases);
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  /* A unit cannot plant links of its own. */
  expect_hits("coordinator", "PS-S-2", "unit_ref", 1, c);
}

static void test_identity_checks(void **state) {
  (void)state;
  Mediation__V1__ApplyReply *r = NULL;
  mc_err err;
  assert_int_equal(take_in("police-studio", "林某戊", "330212199001011234", "", "PS-X-1", "kongque",
                           &r, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "parties[0].id_number: check digit (position 18) should be 2"));
  assert_int_equal(take_in("police-studio", "林某戊", "330212199013011232", "", "PS-X-1", "kongque",
                           &r, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "positions 7-14"));
  assert_int_equal(take_in("police-studio", "林某戊", "", "2390000111", "PS-X-1", "kongque", &r,
                           &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "parties[0].phone: expected a mobile number"));
  /* Bidi controls are stripped, not refused: the name is kept as read. */
  char id[32];
  must_take_in("police-studio", "\xE2\x80\xAE林某丁\xE2\x80\xAC", "", "", "PS-X-2", "kongque", id,
               &r);
  assert_string_equal(r->case_record->intake->parties[0]->name, "林某丁");
  protobuf_c_message_free_unpacked(&r->base, NULL);
  expect_hits("coordinator", "林某丁", "party_name", 1, id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_search_fields),   cmocka_unit_test(test_search_access),
      cmocka_unit_test(test_search_refusals), cmocka_unit_test(test_search_pages),
      cmocka_unit_test(test_search_access_log), cmocka_unit_test(test_repeat_disputes),
      cmocka_unit_test(test_identity_checks),
  };
  return cmocka_run_group_tests_name("router search", tests, setup, teardown);
}
