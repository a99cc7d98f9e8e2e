/*
 * test_mediactl_lists.c - issue 17's "names people use", "lists that fit"
 * and "case ids", through mediactl and a real mediation-router:
 *   - the registry's aliases (大石头, 宋大姐, 孔雀, 白鹤, 王隘) are taken
 *     wherever a unit or community is named, by mediactl and by the
 *     router's ListCases; a near miss gets "did you mean";
 *   - list and stuck keep every line within 100 display columns (a CJK
 *     character is two), cutting the longest names with "…"; --wide shows
 *     them whole; list says "page N of M, T cases"; --all reads every page;
 *   - --csv (list, figures) is UTF-8 with a BOM, read back by Python's csv
 *     module, quotes, commas, newlines and CJK intact;
 *   - a case is named as BH-2026-000001 in any case, 1, 2026-1 or UNIT:REF,
 *     and anything else is a usage error (exit 2) naming the accepted forms.
 *
 * The cases are made by signing as the units directly (as test_mediactl
 * does): the unit daemons are not needed for the coordinator's side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "mctl.h"
#include "mv1.h"
#include "services/coordinator/csv.h"
#include "services/coordinator/ctl.h"
#include "world.h"

static tw_world world;
static const char *conf;

/* A station with a long name (the list must cut it to fit) and one whose
 * name holds a comma and quotes (CSV must quote it). */
#define LONG_NAME "孔雀社区工作站（孔雀新村、孔雀花园、孔雀湖畔、孔雀苑四个网格联合调解室）"
#define QUOTED_NAME "白鹤社区工作站, \"东片\""
#define N_POLICE 23 /* cases the police studio holds: three pages of ten */

static char police_ids[N_POLICE][32];
static char kongque_id[32], baihe_id[32], offered_id[32];

static void apply(const char *unit, mv_action *a, Mediation__V1__ApplyReply **out) {
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(tw_client(&world, unit, NULL), &mediation__v1__router__descriptor,
                               "Apply", &req.base, NULL, &reply, &err);
  if (rc != MC_OK)
    fail_msg("Apply %d as %s: %s: %s", a->kind, unit, mc_code_name(rc), err.msg);
  if (out != NULL)
    *out = (Mediation__V1__ApplyReply *)reply;
  else
    protobuf_c_message_free_unpacked(reply, NULL);
}

static void take_in(const char *unit, const char *community, const char *ref, char id[32]) {
  mv_party p = MEDIATION__V1__PARTY__INIT;
  mv_party *pp = &p;
  p.name = "林某甲";
  p.role = MV_PARTY(APPLICANT);
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = MV_KIND(NEIGHBOUR);
  in.community = (char *)community;
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(WALK_IN);
  in.parties = &pp;
  in.n_parties = 1;
  in.summary = "楼上装修噪音";
  in.unit_ref = (char *)(ref ? ref : "");
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  a.person = "值班员";
  Mediation__V1__ApplyReply *r = NULL;
  apply(unit, &a, &r);
  snprintf(id, 32, "%s", r->case_record->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void transfer(const char *unit, const char *id, const char *to) {
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TRANSFER);
  a.case_ref = (char *)id;
  a.reason = "请婚调处理";
  a.args_case = MV_ARGS(TO_UNIT);
  a.to_unit = (char *)to;
  apply(unit, &a, NULL);
}

static int setup(void **state) {
  (void)state;
  char extra[1024];
  snprintf(extra, sizeof(extra),
           "[deadlines]\ntransfer = 1s\n"
           "[unit station-kongque]\nname = %s\n"
           "[unit station-baihe]\nname = %s\n",
           LONG_NAME, QUOTED_NAME);
  if (tw_make(&world, "mediactl-lists", extra, false) != 0 || tw_start_router(&world, NULL) != 0)
    return -1;
  conf = world.conf;
  /* The first case of the store is this year's number 1. */
  take_in("police-studio", "kongque", "PS-2026-0007", police_ids[0]);
  for (int i = 1; i < N_POLICE; i++)
    take_in("police-studio", i % 2 ? "kongque" : "wangai", NULL, police_ids[i]);
  take_in("station-kongque", "kongque", NULL, kongque_id);
  take_in("station-baihe", "baihe", NULL, baihe_id);
  take_in("station-baihe", "baihe", NULL, offered_id);
  transfer("station-baihe", offered_id, "marriage-studio");
  usleep(1200 * 1000); /* the transfer passes its 1 s deadline: stuck shows it */
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  return rc == 0 ? 0 : -1;
}

/* Every line of text within max display columns. */
static void expect_fits(const char *text, size_t max) {
  const char *line = text;
  while (*line != '\0') {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char buf[4096];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
    if (ctl_text_width(buf) > max)
      fail_msg("a line of %zu columns (at most %zu):\n%s\nin:\n%s", ctl_text_width(buf), max, buf,
               text);
    line = nl ? nl + 1 : line + len;
  }
}

static size_t widest_line(const char *text) {
  size_t widest = 0;
  const char *line = text;
  while (*line != '\0') {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    char buf[4096];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
    if (ctl_text_width(buf) > widest)
      widest = ctl_text_width(buf);
    line = nl ? nl + 1 : line + len;
  }
  return widest;
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* ---- names people use ---- */

static void test_aliases_everywhere(void **state) {
  (void)state;
  /* --holder, --community, --offered-to by alias: the same as by id */
  mctl_result by_id = MCTL(conf, "list", "--all", "--holder", "police-studio");
  mctl_expect(&by_id, 0, "list --holder id");
  mctl_result r = MCTL(conf, "list", "--all", "--holder", "大石头");
  mctl_expect(&r, 0, "list --holder alias");
  assert_string_equal(r.out, by_id.out);
  CONTAINS(r.out, police_ids[N_POLICE - 1]);
  mctl_free(&r);
  mctl_free(&by_id);

  r = MCTL(conf, "list", "--all", "--wide", "--community", "孔雀");
  mctl_expect(&r, 0, "list --community alias");
  CONTAINS(r.out, kongque_id);
  CONTAINS(r.out, police_ids[1]);
  LACKS(r.out, police_ids[2]); /* wangai */
  LACKS(r.out, baihe_id);
  mctl_free(&r);

  r = MCTL(conf, "list", "--offered-to", "宋大姐");
  mctl_expect(&r, 0, "list --offered-to alias");
  CONTAINS(r.out, offered_id);
  CONTAINS(r.out, "page 1 of 1, 1 cases");
  mctl_free(&r);

  r = MCTL(conf, "list", "--community", "王隘", "--json");
  mctl_expect(&r, 0, "list --community 王隘");
  json_object *j = mctl_json(&r);
  assert_string_equal(jstr(j, "cases[0].community"), "wangai");
  json_object_put(j);
  mctl_free(&r);

  /* --unit (a filter of stuck and figures), and figures --community */
  r = MCTL(conf, "--unit", "宋大姐", "stuck");
  mctl_expect(&r, 0, "stuck --unit alias");
  CONTAINS(r.out, offered_id);
  LACKS(r.out, police_ids[0]);
  mctl_free(&r);
  r = MCTL(conf, "figures", "--community", "白鹤", "--json");
  mctl_expect(&r, 0, "figures --community alias");
  j = mctl_json(&r);
  assert_int_equal(jint(j, "total.counters.taken_in"), 2);
  json_object_put(j);
  mctl_free(&r);

  /* access-log --who by alias; UNIT:REF with the unit's alias */
  r = MCTL(conf, "show", "大石头:PS-2026-0007");
  mctl_expect(&r, 0, "show ALIAS:REF");
  CONTAINS(r.out, police_ids[0]);
  mctl_free(&r);
  r = MCTL(conf, "access-log", "--who", "大石头");
  mctl_expect(&r, 0, "access-log --who alias");
  mctl_free(&r);

  /* The router itself takes an alias in ListCases' filters. */
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.holder = "大石头";
  req.page_size = 100;
  req.with_total = true;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(tw_client(&world, "coordinator", NULL),
                                   &mediation__v1__router__descriptor, "ListCases", &req.base,
                                   NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__ListCasesReply *l = (Mediation__V1__ListCasesReply *)reply;
  assert_int_equal(l->n_cases, N_POLICE);
  assert_int_equal(l->total, N_POLICE);
  assert_false(l->total_at_least);
  assert_string_equal(l->cases[0]->holder, "police-studio");
  protobuf_c_message_free_unpacked(reply, NULL);
}

static void test_did_you_mean(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "list", "--holder", "大石");
  mctl_expect(&r, 2, "a near miss");
  CONTAINS(r.err, "--holder: no unit \"大石\"; did you mean \"大石头\"?");
  mctl_free(&r);
  r = MCTL(conf, "list", "--community", "孔雀社");
  mctl_expect(&r, 2, "a near community");
  CONTAINS(r.err, "did you mean \"孔雀社区\"?");
  mctl_free(&r);
  r = MCTL(conf, "--unit", "police-stduio", "stuck");
  mctl_expect(&r, 2, "a misspelt id");
  CONTAINS(r.err, "did you mean \"police-studio\"?");
  mctl_free(&r);
  r = MCTL(conf, "show", "宋大:PS-2026-0007");
  mctl_expect(&r, 2, "UNIT:REF with a near miss");
  CONTAINS(r.err, "did you mean \"宋大姐\"?");
  mctl_free(&r);
  /* Nothing close: no guess, the list of units instead. */
  r = MCTL(conf, "list", "--holder", "人民法院");
  mctl_expect(&r, 2, "far from every name");
  LACKS(r.err, "did you mean");
  CONTAINS(r.err, "the units are");
  mctl_free(&r);
  /* A community's alias is not a unit. */
  r = MCTL(conf, "list", "--holder", "孔雀");
  mctl_expect(&r, 2, "a community alias as a unit");
  mctl_free(&r);
}

/* ---- lists that fit ---- */

static void test_lists_fit(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "list", "--all", "--community", "孔雀");
  mctl_expect(&r, 0, "list fitted");
  expect_fits(r.out, CTL_LIST_WIDTH);
  CONTAINS(r.out, "…");
  LACKS(r.out, LONG_NAME);
  CONTAINS(r.out, kongque_id);
  /* a unit by the shortest name people use, to save room */
  CONTAINS(r.out, "  大石头  ");
  LACKS(r.out, "大石头调解工作室");
  mctl_free(&r);

  r = MCTL(conf, "list", "--all", "--wide", "--community", "孔雀");
  mctl_expect(&r, 0, "list --wide");
  CONTAINS(r.out, LONG_NAME);
  CONTAINS(r.out, "大石头调解工作室");
  assert_true(widest_line(r.out) > CTL_LIST_WIDTH);
  CONTAINS(r.out, "难度");
  mctl_free(&r);

  r = MCTL(conf, "stuck", "--all");
  mctl_expect(&r, 0, "stuck fitted");
  CONTAINS(r.out, offered_id);
  expect_fits(r.out, CTL_LIST_WIDTH);
  mctl_free(&r);
}

static void test_pages_and_totals(void **state) {
  (void)state;
  mctl_result r = MCTL(conf, "list", "--holder", "大石头", "--limit", "10");
  mctl_expect(&r, 0, "page 1");
  CONTAINS(r.out, "page 1 of 3, 23 cases");
  assert_int_equal(count_of(r.out, "BH-"), 10);
  const char *hint = strstr(r.err, "--cursor ");
  assert_non_null(hint);
  char cursor[600];
  assert_int_equal(sscanf(hint + strlen("--cursor "), "%599s", cursor), 1);
  assert_true(strncmp(cursor, "2:", 2) == 0);
  mctl_free(&r);

  r = MCTL(conf, "list", "--holder", "大石头", "--limit", "10", "--cursor", cursor);
  mctl_expect(&r, 0, "page 2");
  CONTAINS(r.out, "page 2 of 3, 23 cases");
  CONTAINS(r.out, police_ids[10]);
  LACKS(r.out, police_ids[9]);
  mctl_free(&r);

  r = MCTL(conf, "list", "--holder", "大石头", "--limit", "10", "--all");
  mctl_expect(&r, 0, "--all");
  for (int i = 0; i < N_POLICE; i++)
    CONTAINS(r.out, police_ids[i]);
  CONTAINS(r.out, "23 cases, every page");
  LACKS(r.err, "--cursor");
  mctl_free(&r);

  r = MCTL(conf, "list", "--holder", "大石头", "--limit", "10", "--all", "--json");
  mctl_expect(&r, 0, "--all --json");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "cases"), N_POLICE);
  assert_int_equal(jint(j, "total"), N_POLICE);
  json_object_put(j);
  mctl_free(&r);

  /* Every case in the store: counted from the router's state counters. */
  r = MCTL(conf, "list", "--limit", "5");
  mctl_expect(&r, 0, "everything");
  CONTAINS(r.out, "page 1 of 6, 26 cases");
  mctl_free(&r);
}

/* ---- CSV ---- */

/* Python's csv module reads the file back: prints {"bom": bool, "rows":
 * [[...], ...]} as JSON, which we check. */
static json_object *python_csv(const char *path) {
  static const char script[] =
      "import csv, json, sys\n"
      "raw = open(sys.argv[1], 'rb').read()\n"
      "bom = raw.startswith(b'\\xef\\xbb\\xbf')\n"
      "text = raw.decode('utf-8-sig')\n"
      "crlf = text.count('\\r\\n') >= 1\n"
      "rows = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8-sig')))\n"
      "print(json.dumps({'bom': bom, 'crlf': crlf, 'rows': rows}, ensure_ascii=False))\n";
  const char *argv[] = {"/usr/bin/python3", "-c", script, path, NULL};
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, 30000);
  if (rc != 0)
    fail_msg("python3 csv: exit %d: %s", rc, err ? err : "");
  json_object *j = json_tokener_parse(out);
  if (j == NULL)
    fail_msg("python3 printed no JSON: %s", out);
  free(out);
  free(err);
  return j;
}

static const char *cell(json_object *j, size_t row, size_t col) {
  json_object *rows = json_object_object_get(j, "rows");
  json_object *r = json_object_array_get_idx(rows, row);
  assert_non_null(r);
  json_object *c = json_object_array_get_idx(r, col);
  assert_non_null(c);
  return json_object_get_string(c);
}

static size_t n_rows(json_object *j) {
  return json_object_array_length(json_object_object_get(j, "rows"));
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static void test_csv_read_back(void **state) {
  (void)state;
  char path[600];
  snprintf(path, sizeof(path), "%s/list.csv", world.dir.path);

  /* list --csv --all: the header, every case, names whole (the comma and
   * the quotes of QUOTED_NAME, the long CJK name) */
  mctl_result r = MCTL(conf, "list", "--csv", "--all", "--limit", "10");
  mctl_expect(&r, 0, "list --csv");
  CONTAINS(r.err, "26 cases");
  write_file(path, r.out);
  mctl_free(&r);
  json_object *j = python_csv(path);
  assert_true(json_object_get_boolean(json_object_object_get(j, "bom")));
  assert_true(json_object_get_boolean(json_object_object_get(j, "crlf")));
  assert_int_equal(n_rows(j), 1 + 26);
  assert_string_equal(cell(j, 0, 0), "案件编号");
  assert_string_equal(cell(j, 0, 5), "难度");
  bool quoted = false, long_name = false;
  for (size_t i = 1; i < n_rows(j); i++) {
    quoted |= strcmp(cell(j, i, 2), QUOTED_NAME) == 0;
    long_name |= strcmp(cell(j, i, 2), LONG_NAME) == 0;
  }
  assert_true(quoted);
  assert_true(long_name);
  json_object_put(j);

  /* figures --csv --by unit: a row per unit, the quoted name intact */
  r = MCTL(conf, "figures", "--csv", "--by", "unit");
  mctl_expect(&r, 0, "figures --csv");
  write_file(path, r.out);
  mctl_free(&r);
  j = python_csv(path);
  assert_true(json_object_get_boolean(json_object_object_get(j, "bom")));
  assert_string_equal(cell(j, 0, 0), "单位");
  assert_string_equal(cell(j, 0, 1), "受理");
  bool found = false;
  for (size_t i = 1; i < n_rows(j); i++) {
    if (strcmp(cell(j, i, 0), QUOTED_NAME) == 0) {
      found = true;
      assert_string_equal(cell(j, i, 1), "2");
    }
  }
  assert_true(found);
  json_object_put(j);

  r = MCTL(conf, "figures", "--csv", "--json");
  mctl_expect(&r, 2, "--csv with --json");
  mctl_free(&r);

  /* The module itself, with what no list holds yet (search will): newlines,
   * a doubled quote, a leading space, a formula. */
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  static const char *const header[] = {"姓名", "摘要", "备注"};
  static const char *const row1[] = {"林某甲", "第一行\n第二行，含逗号, and \"引号\"", " 前后空格 "};
  static const char *const row2[] = {"=1+2", "", NULL};
  assert_int_equal(ctl_csv_begin(f), 0);
  assert_int_equal(ctl_csv_row(f, header, 3), 0);
  assert_int_equal(ctl_csv_row(f, row1, 3), 0);
  assert_int_equal(ctl_csv_row(f, row2, 3), 0);
  assert_int_equal(fclose(f), 0);
  j = python_csv(path);
  assert_int_equal(n_rows(j), 3);
  assert_string_equal(cell(j, 1, 0), "林某甲");
  assert_string_equal(cell(j, 1, 1), "第一行\n第二行，含逗号, and \"引号\"");
  assert_string_equal(cell(j, 1, 2), " 前后空格 ");
  assert_string_equal(cell(j, 2, 0), "'=1+2"); /* never run as a formula */
  assert_string_equal(cell(j, 2, 2), "");
  json_object_put(j);
}

/* ---- case ids ---- */

static void test_case_ids(void **state) {
  (void)state;
  const char *id = police_ids[0]; /* BH-<year>-000001 */
  int year = 0;
  unsigned long serial = 0;
  assert_int_equal(sscanf(id, "BH-%d-%lu", &year, &serial), 2);
  assert_int_equal(serial, 1);
  char lower[32], short_form[32], year_form[32], short_serial[32];
  for (size_t i = 0; i <= strlen(id); i++)
    lower[i] = (char)(id[i] >= 'A' && id[i] <= 'Z' ? id[i] + 32 : id[i]);
  snprintf(short_form, sizeof(short_form), "%lu", serial);
  snprintf(year_form, sizeof(year_form), "%d-%lu", year, serial);
  snprintf(short_serial, sizeof(short_serial), "bh-%d-%lu", year, serial);
  const char *forms[] = {id, lower, short_form, year_form, short_serial};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    mctl_result r = MCTL(conf, "show", forms[i], "--json");
    mctl_expect(&r, 0, forms[i]);
    json_object *j = mctl_json(&r);
    assert_string_equal(jstr(j, "case_record.id"), id);
    json_object_put(j);
    mctl_free(&r);
  }
  /* a well-formed id of no case: the router's NOT_FOUND, exit 3 */
  mctl_result r = MCTL(conf, "show", "99999");
  mctl_expect(&r, 3, "no such case");
  mctl_free(&r);

  /* malformed: exit 2, the accepted forms said, nothing sent */
  static const char *const bad[] = {"BH-2026", "abc!", "0", "BH-20x6-1", "2026-", "1-2026",
                                    "XY-2026-000001", "12345678901234567890"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    r = MCTL(conf, "show", bad[i]);
    mctl_expect(&r, 2, bad[i]);
    CONTAINS(r.err, "CASE: not a case id; expected a case id (BH-2026-000001, any case)");
    CONTAINS(r.err, "this year's number (1), YEAR-NUMBER (2026-1) or UNIT:REF");
    mctl_free(&r);
  }
  /* every command that takes a case: the coordinator's recall and reopen,
   * and the access log's filter */
  r = MCTL(conf, "recall", "abc!", "--reason", "x");
  mctl_expect(&r, 2, "recall malformed");
  CONTAINS(r.err, "not a case id");
  mctl_free(&r);
  r = MCTL(conf, "reopen", "2026-0", "--reason", "x");
  mctl_expect(&r, 2, "reopen malformed");
  mctl_free(&r);
  r = MCTL(conf, "access-log", "--case", "大石头:PS-2026-0007");
  mctl_expect(&r, 2, "access-log --case takes ids only");
  mctl_free(&r);
  r = MCTL(conf, "access-log", "--case", short_form);
  mctl_expect(&r, 0, "access-log --case 1");
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_aliases_everywhere), cmocka_unit_test(test_did_you_mean),
      cmocka_unit_test(test_lists_fit),          cmocka_unit_test(test_pages_and_totals),
      cmocka_unit_test(test_csv_read_back),      cmocka_unit_test(test_case_ids),
  };
  return cmocka_run_group_tests_name("mediactl names, lists and case ids", tests, setup,
                                     teardown);
}
