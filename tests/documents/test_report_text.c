/*
 * test_report_text.c - the year's report in words (documents/report_text.h),
 * without processes: the sentences with the subdistrict's own 2022 numbers,
 * the 万元 and percentages as the report writes them, and the report made
 * from GetFigures replies built by hand (the scorecard's rows: every
 * community of the registry, one the registry lost, the labour row).
 * `mediactl report` and the web gateway's download both print these.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "documents/report_text.h"

/* The subdistrict's own 2022 figures, stated the way its report states them. */
static void test_report_sentences(void **state) {
  (void)state;
  mv_counters t = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  t.taken_in = 1000;
  t.mediated = 839;
  t.resolved = 839;
  t.money_involved_fen = 403640000;
  t.difficult_or_complex = 33;
  t.litigated = 0;
  t.legal_aid = 2;
  t.petition_led = 1;
  t.petition_assisted = 3;
  t.resolved_in_fact = 2;
  t.resolved_in_substance = 2;
  t.from_letter_or_call = 1097;
  t.from_walk_in = 156;
  t.from_consultation = 278;
  t.closed = 10;
  t.complete_files = 9;
  t.satisfied = 7;
  t.basically_satisfied = 2;
  t.dissatisfied = 1;
  mv_counters labour = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  labour.mediated = 52;
  labour.money_involved_fen = 115000000;
  labour.workers_involved = 131;
  doc_report_facts in = {.subdistrict = "白鹤街道", .year = 2022, .from_month = 1, .to_month = 12,
                         .total = &t, .labour = &labour, .open_cases = 5, .overdue_cases = 1};
  char *s[DOC_REPORT_MAX] = {0};
  int n = doc_report_sentences(&in, s);
  assert_int_equal(n, 8);
  assert_string_equal(s[0], "白鹤街道2022年矛盾纠纷调处情况");
  assert_string_equal(s[1], "2022年，街、居两级共调处矛盾纠纷839起，涉及金额403.64万元，其中疑难复杂以上纠纷33起。");
  assert_string_equal(s[2], "调解成功839起，化解率100%；调解不成转诉讼（共享法庭）0起；法律援助2件。");
  assert_string_equal(s[3], "受理矛盾纠纷1000起，其中网电信件1097件、现场接访156起、110报警0起、转介0起、法律咨询转入278起。");
  assert_string_equal(s[4], "信访积案4件（主办1件、协办3件），其中事实化解2件、实体化解2件，化解率100%。");
  assert_string_equal(s[5], "调处劳资纠纷52起，涉及金额115.00万元、劳动者131人。");
  assert_string_equal(s[6], "结案10件，其中案卷完整9件，案卷质量90%；回访满意7件、基本满意2件、不满意1件，当事人满意度90%。");
  assert_string_equal(s[7], "目前在办案件5件，其中逾期1件。");
  for (int i = 0; i < n; i++)
    free(s[i]);

  /* Part of a year, and no labour row, no petitions. */
  mv_counters none = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  doc_report_facts part = {.subdistrict = "", .year = 2026, .from_month = 1, .to_month = 6,
                           .total = &none};
  n = doc_report_sentences(&part, s);
  assert_int_equal(n, 8);
  assert_string_equal(s[0], "2026年1—6月矛盾纠纷调处情况");
  assert_string_equal(s[1], "2026年1—6月，街、居两级共调处矛盾纠纷0起，涉及金额0.00万元，其中疑难复杂以上纠纷0起。");
  assert_string_equal(s[2], "调解成功0起，化解率—；调解不成转诉讼（共享法庭）0起；法律援助0件。");
  assert_string_equal(s[4], "无信访积案。");
  assert_string_equal(s[5], "调处劳资纠纷0起，涉及金额0.00万元、劳动者0人。");
  for (int i = 0; i < n; i++)
    free(s[i]);

  doc_scorecard card;
  doc_scorecard_of(&t, &card);
  assert_int_equal(card.cases, 1000);
  assert_int_equal(card.feedback, 10);
  assert_int_equal(card.satisfied_or_basically, 9);
  assert_int_equal(card.closed, 10);
  assert_int_equal(card.complete_files, 9);
}

static void test_numbers(void **state) {
  (void)state;
  char b[48];
  doc_fmt_wan(403640000, b, sizeof(b));
  assert_string_equal(b, "403.64");
  doc_fmt_wan(5000, b, sizeof(b)); /* half up */
  assert_string_equal(b, "0.01");
  doc_fmt_wan(-12345678, b, sizeof(b));
  assert_string_equal(b, "-12.35");
  doc_fmt_percent(2, 3, b, sizeof(b));
  assert_string_equal(b, "66.7%");
  doc_fmt_percent(4, 4, b, sizeof(b));
  assert_string_equal(b, "100%");
  doc_fmt_percent(1, 0, b, sizeof(b));
  assert_string_equal(b, "—");
  doc_fmt_ratio(9, 10, b, sizeof(b));
  assert_string_equal(b, "90%（9/10）");
  doc_fmt_ratio(0, 0, b, sizeof(b));
  assert_string_equal(b, "—");
  doc_fmt_wan(INT64_MAX, b, 4); /* truncated, never past cap */
  assert_int_equal(strlen(b), 3);
}

/* Replies as the router gives them, the registry as the configuration. */
static void test_from_replies(void **state) {
  (void)state;
  mc_community comms[2] = {{.id = "wangai", .name = "王隘社区"},
                           {.id = "kongque", .name = "孔雀社区"}};
  mc_registry reg = {.subdistrict = "白鹤街道", .communities = comms, .n_communities = 2};
  mv_counters c_kq = MEDIATION__V1__FIGURE_COUNTERS__INIT, c_old = MEDIATION__V1__FIGURE_COUNTERS__INIT,
              c_total = MEDIATION__V1__FIGURE_COUNTERS__INIT, c_lab = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  c_kq.taken_in = 3;
  c_kq.mediated = 2;
  c_kq.resolved = 1;
  c_old.taken_in = 1;
  c_total.taken_in = 4;
  c_total.mediated = 2;
  c_total.resolved = 1;
  c_total.closed = 1;
  c_total.complete_files = 1;
  c_total.satisfied = 1;
  c_lab.mediated = 1;
  c_lab.money_involved_fen = 860000;
  c_lab.workers_involved = 3;
  mv_bucket b_kq = MEDIATION__V1__FIGURE_BUCKET__INIT, b_old = MEDIATION__V1__FIGURE_BUCKET__INIT,
            b_lab = MEDIATION__V1__FIGURE_BUCKET__INIT, b_all = MEDIATION__V1__FIGURE_BUCKET__INIT;
  b_kq.community = "kongque";
  b_old.community = "gone";
  b_lab.kind = MV_KIND(LABOUR);
  Mediation__V1__FigureRow r_kq = MEDIATION__V1__FIGURE_ROW__INIT, r_old = MEDIATION__V1__FIGURE_ROW__INIT,
                           r_lab = MEDIATION__V1__FIGURE_ROW__INIT, r_total = MEDIATION__V1__FIGURE_ROW__INIT;
  r_kq.bucket = &b_kq;
  r_kq.counters = &c_kq;
  r_old.bucket = &b_old;
  r_old.counters = &c_old;
  r_lab.bucket = &b_lab;
  r_lab.counters = &c_lab;
  r_total.bucket = &b_all;
  r_total.counters = &c_total;
  Mediation__V1__FigureRow *rows_c[2] = {&r_kq, &r_old}, *rows_k[1] = {&r_lab};
  Mediation__V1__GetFiguresReply by_c = MEDIATION__V1__GET_FIGURES_REPLY__INIT,
                                 by_k = MEDIATION__V1__GET_FIGURES_REPLY__INIT;
  by_c.rows = rows_c;
  by_c.n_rows = 2;
  by_c.total = &r_total;
  by_c.open_cases = 2;
  by_k.rows = rows_k;
  by_k.n_rows = 1;
  by_k.total = &r_total;
  doc_figures f = {.year = 2026, .from_month = 1, .to_month = 12, .by_community = &by_c,
                   .by_kind = &by_k};
  doc_report_text t;
  mc_err err;
  assert_int_equal(doc_report_text_make(&reg, &f, &t, &err), MC_OK);
  assert_int_equal(t.n_sentences, 8);
  assert_string_equal(t.sentences[0], "白鹤街道2026年矛盾纠纷调处情况");
  assert_string_equal(t.sentences[5], "调处劳资纠纷1起，涉及金额0.86万元、劳动者3人。");
  assert_string_equal(t.sentences[7], "目前在办案件2件，其中逾期0件。");
  assert_int_equal(t.n_rows, 3);
  assert_string_equal(t.rows[0].name, "王隘社区"); /* no cases: zeros, still a row */
  assert_int_equal(t.rows[0].card.cases, 0);
  assert_string_equal(t.rows[1].name, "孔雀社区");
  assert_int_equal(t.rows[1].card.mediated, 2);
  assert_string_equal(t.rows[2].name, "gone"); /* named by the figures only */
  assert_int_equal(t.total_card.cases, 4);
  assert_int_equal(t.total_card.satisfied_or_basically, 1);
  doc_report_text_free(&t);

  /* Without the replies: refused, naming them; the PDF needs by_month too. */
  doc_figures none = {.year = 2026};
  assert_int_equal(doc_report_text_make(&reg, &none, &t, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "by community"));
  assert_int_equal(doc_report_pdf_of(&reg, &f, "/nonexistent/r.pdf", &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "by month"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_sentences),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_from_replies),
  };
  return cmocka_run_group_tests_name("the report's words", tests, NULL, NULL);
}
