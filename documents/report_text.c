/*
 * report_text.c - the year's report in words (report_text.h): the
 * sentences, the community scorecard, and the annual report PDF assembled
 * from the GetFigures replies, for mediactl and the web gateway alike.
 *
 * Pure: it turns counters into sentences and nothing else, so the wording
 * is tested without a router, and a report can only say what GetFigures
 * returned - the counters the store keeps in the same transaction as the
 * steps they count (one source of truth, figures.proto).
 *
 * Money is integer fen (as in the store): printing divides integers, never
 * a float, so 403.64 is the same on every machine.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "documents/documents.h"
#include "documents/report_text.h"

/* ---- numbers ---- */

/* 1 万元 = 10 000 元 = 1 000 000 fen; two decimals are 10 000 fen, rounded
 * half up. */
void doc_fmt_wan(int64_t fen, char *buf, size_t cap) {
  const char *sign = fen < 0 ? "-" : "";
  uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
  uint64_t hundredths = (a + 5000) / 10000;
  snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, sign, hundredths / 100, hundredths % 100);
}

/* One decimal, rounded half up, and "100%" rather than "100.0%": the report
 * states rates the way the subdistrict's report does (化解率100%). */
void doc_fmt_percent(int64_t num, int64_t den, char *buf, size_t cap) {
  if (den <= 0 || num < 0) {
    snprintf(buf, cap, "—");
    return;
  }
  int64_t tenths = (num * 2000 / den + 1) / 2; /* num*1000/den, rounded */
  if (tenths % 10 == 0)
    snprintf(buf, cap, "%" PRId64 "%%", tenths / 10);
  else
    snprintf(buf, cap, "%" PRId64 ".%" PRId64 "%%", tenths / 10, tenths % 10);
}

void doc_fmt_ratio(int64_t num, int64_t den, char *buf, size_t cap) {
  char pct[48];
  doc_fmt_percent(num, den, pct, sizeof(pct));
  if (den > 0)
    snprintf(buf, cap, "%s（%lld/%lld）", pct, (long long)num, (long long)den);
  else
    snprintf(buf, cap, "—");
}

/* ---- the sentences ---- */

static char *sentence(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *sentence(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (s == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void doc_scorecard_of(const mv_counters *c, doc_scorecard *out) {
  memset(out, 0, sizeof(*out));
  if (c == NULL)
    return;
  out->cases = c->taken_in;
  out->mediated = c->mediated;
  out->resolved = c->resolved;
  out->closed = c->closed;
  out->complete_files = c->complete_files;
  out->feedback = c->satisfied + c->basically_satisfied + c->dissatisfied;
  out->satisfied_or_basically = c->satisfied + c->basically_satisfied;
}

const char *const doc_score_headers[DOC_SCORE_COLS] = {"社区", "案件数量", "调处", "化解率",
                                                       "案卷质量", "当事人满意度"};

void doc_scorecard_cells(const char *name, const doc_scorecard *s,
                         char cells[DOC_SCORE_COLS][DOC_CELL_MAX]) {
  snprintf(cells[0], DOC_CELL_MAX, "%s", name != NULL ? name : "");
  snprintf(cells[1], DOC_CELL_MAX, "%lld", (long long)s->cases);
  snprintf(cells[2], DOC_CELL_MAX, "%lld", (long long)s->mediated);
  doc_fmt_percent(s->resolved, s->mediated, cells[3], DOC_CELL_MAX);
  doc_fmt_ratio(s->complete_files, s->closed, cells[4], DOC_CELL_MAX);
  doc_fmt_ratio(s->satisfied_or_basically, s->feedback, cells[5], DOC_CELL_MAX);
}

#define NUM_MAX 48

int doc_report_sentences(const doc_report_facts *in, char *out[DOC_REPORT_MAX]) {
  const mv_counters *t = in->total;
  mv_counters none = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  if (t == NULL)
    t = &none;
  const mv_counters *lab = in->labour ? in->labour : &none;
  char period[64];
  if (in->from_month <= 1 && (in->to_month == 0 || in->to_month >= 12))
    snprintf(period, sizeof(period), "%d年", in->year);
  else if (in->from_month == in->to_month)
    snprintf(period, sizeof(period), "%d年%d月", in->year, in->from_month);
  else
    snprintf(period, sizeof(period), "%d年%d—%d月", in->year, in->from_month, in->to_month);

  char money[NUM_MAX], rate[NUM_MAX], rate2[NUM_MAX], lab_money[NUM_MAX];
  doc_fmt_wan(t->money_involved_fen, money, sizeof(money));
  doc_fmt_percent(t->resolved, t->mediated, rate, sizeof(rate));
  doc_fmt_wan(lab->money_involved_fen, lab_money, sizeof(lab_money));
  int64_t petitions = t->petition_led + t->petition_assisted;
  int64_t petitions_resolved = t->resolved_in_fact + t->resolved_in_substance;
  doc_scorecard card;
  doc_scorecard_of(t, &card);

  int n = 0;
  out[n++] = sentence("%s%s矛盾纠纷调处情况", in->subdistrict ? in->subdistrict : "", period);
  out[n++] = sentence("%s，街、居两级共调处矛盾纠纷%lld起，涉及金额%s万元，其中疑难复杂以上纠纷%lld起。",
                      period, (long long)t->mediated, money, (long long)t->difficult_or_complex);
  out[n++] = sentence("调解成功%lld起，化解率%s；调解不成转诉讼（共享法庭）%lld起；法律援助%lld件。",
                      (long long)t->resolved, rate, (long long)t->litigated,
                      (long long)t->legal_aid);
  out[n++] = sentence("受理矛盾纠纷%lld起，其中网电信件%lld件、现场接访%lld起、110报警%lld起、"
                      "转介%lld起、法律咨询转入%lld起。",
                      (long long)t->taken_in, (long long)t->from_letter_or_call,
                      (long long)t->from_walk_in, (long long)t->from_police_call,
                      (long long)t->from_referral, (long long)t->from_consultation);
  if (t->repeat_cases > 0) { /* 再次纠纷: linked by the router at intake */
    doc_fmt_percent(t->repeat_cases, t->taken_in, rate2, sizeof(rate2));
    out[n++] = sentence("其中同一当事人再次纠纷%lld起，占受理的%s。", (long long)t->repeat_cases,
                        rate2);
  }
  if (petitions > 0) {
    doc_fmt_percent(petitions_resolved, petitions, rate2, sizeof(rate2));
    out[n++] = sentence("信访积案%lld件（主办%lld件、协办%lld件），其中事实化解%lld件、实体化解%lld件，"
                        "化解率%s。",
                        (long long)petitions, (long long)t->petition_led,
                        (long long)t->petition_assisted, (long long)t->resolved_in_fact,
                        (long long)t->resolved_in_substance, rate2);
  } else {
    out[n++] = sentence("无信访积案。");
  }
  out[n++] = sentence("调处劳资纠纷%lld起，涉及金额%s万元、劳动者%lld人。", (long long)lab->mediated,
                      lab_money, (long long)lab->workers_involved);
  doc_fmt_percent(card.complete_files, card.closed, rate, sizeof(rate));
  doc_fmt_percent(card.satisfied_or_basically, card.feedback, rate2, sizeof(rate2));
  out[n++] = sentence("结案%lld件，其中案卷完整%lld件，案卷质量%s；回访满意%lld件、基本满意%lld件、"
                      "不满意%lld件，当事人满意度%s。",
                      (long long)card.closed, (long long)card.complete_files, rate,
                      (long long)t->satisfied, (long long)t->basically_satisfied,
                      (long long)t->dissatisfied, rate2);
  out[n++] = sentence("目前在办案件%lld件，其中逾期%lld件。", (long long)in->open_cases,
                      (long long)in->overdue_cases);
  for (int i = 0; i < n; i++) {
    if (out[i] == NULL) {
      for (int k = 0; k < n; k++) {
        free(out[k]);
        out[k] = NULL;
      }
      return -1;
    }
  }
  return n;
}

/* ---- the whole report from the replies ---- */

/* One scorecard row per community of the registry (a community without
 * cases still appears, with zeros), then any community the figures name
 * that the registry no longer has. *out is malloc'd (caller frees). */
static int scorecard_rows(const mc_registry *reg, const Mediation__V1__GetFiguresReply *r,
                          doc_card_row **out, size_t *n_out) {
  size_t n_reg = reg != NULL ? reg->n_communities : 0;
  size_t cap = n_reg + r->n_rows;
  doc_card_row *rows = calloc(cap ? cap : 1, sizeof(*rows));
  if (rows == NULL)
    return -1;
  size_t n = 0;
  for (size_t i = 0; i < n_reg; i++) {
    rows[n].id = reg->communities[i].id;
    rows[n].name = reg->communities[i].name;
    n++;
  }
  for (size_t k = 0; k < r->n_rows; k++) {
    const mv_bucket *b = r->rows[k]->bucket;
    const char *id = b != NULL && b->community != NULL ? b->community : "";
    size_t i = 0;
    while (i < n && strcmp(rows[i].id, id) != 0)
      i++;
    if (i == n) {
      rows[n].id = id;
      rows[n].name = id[0] ? id : "（未填社区）";
      n++;
    }
    doc_scorecard_of(r->rows[k]->counters, &rows[i].card);
  }
  *out = rows;
  *n_out = n;
  return 0;
}

static const mv_counters *labour_row(const Mediation__V1__GetFiguresReply *by_kind) {
  const mv_counters *labour = NULL;
  for (size_t i = 0; i < by_kind->n_rows; i++) {
    if (by_kind->rows[i]->bucket != NULL && by_kind->rows[i]->bucket->kind == MV_KIND(LABOUR))
      labour = by_kind->rows[i]->counters;
  }
  return labour;
}

mc_code doc_report_text_make(const mc_registry *reg, const doc_figures *f, doc_report_text *out,
                             mc_err *err) {
  memset(out, 0, sizeof(*out));
  if (f == NULL || f->by_community == NULL || f->by_kind == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "report: the figures by community and by kind are needed");
  const Mediation__V1__GetFiguresReply *bc = f->by_community;
  out->total = bc->total ? bc->total->counters : NULL;
  out->labour = labour_row(f->by_kind);
  doc_report_facts in = {
      .subdistrict = reg != NULL ? reg->subdistrict : NULL,
      .year = f->year,
      .from_month = f->from_month,
      .to_month = f->to_month,
      .total = out->total,
      .labour = out->labour,
      .open_cases = bc->open_cases,
      .overdue_cases = bc->overdue_cases,
  };
  int n = doc_report_sentences(&in, out->sentences);
  if (n < 1 || scorecard_rows(reg, bc, &out->rows, &out->n_rows) != 0) {
    doc_report_text_free(out);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  out->n_sentences = n;
  doc_scorecard_of(out->total, &out->total_card);
  return MC_OK;
}

void doc_report_text_free(doc_report_text *t) {
  for (int i = 0; i < DOC_REPORT_MAX; i++) {
    free(t->sentences[i]);
    t->sentences[i] = NULL;
  }
  free(t->rows);
  t->rows = NULL;
  t->n_rows = 0;
  t->n_sentences = 0;
}

/* The scorecard as text cells (n_rows + 1 rows, the last the total;
 * pointed at by cellp) and the communities' bars. */
static void scorecard_cells(const doc_report_text *t, char (*cells)[DOC_SCORE_COLS][DOC_CELL_MAX],
                            const char **cellp, doc_bar *comms) {
  for (size_t r = 0; r <= t->n_rows; r++) {
    if (r < t->n_rows) {
      doc_scorecard_cells(t->rows[r].name, &t->rows[r].card, cells[r]);
      comms[r] = (doc_bar){t->rows[r].name, t->rows[r].card.cases};
    } else {
      doc_scorecard_cells("合计", &t->total_card, cells[r]);
    }
    for (int k = 0; k < DOC_SCORE_COLS; k++)
      cellp[r * DOC_SCORE_COLS + (size_t)k] = cells[r][k];
  }
}

mc_code doc_report_pdf_of(const mc_registry *reg, const doc_figures *f, const char *path,
                          mc_err *err) {
  if (f == NULL || f->by_month == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "report: the figures by month are needed");
  doc_report_text t;
  mc_code rc = doc_report_text_make(reg, f, &t, err);
  if (rc != MC_OK)
    return rc;
  const Mediation__V1__GetFiguresReply *by_kind = f->by_kind, *by_month = f->by_month;
  doc_bar *kinds = calloc(by_kind->n_rows + 1, sizeof(*kinds));
  doc_bar *comms = calloc(t.n_rows + 1, sizeof(*comms));
  char(*cells)[DOC_SCORE_COLS][DOC_CELL_MAX] = calloc(t.n_rows + 1, sizeof(*cells));
  const char **cellp = calloc((t.n_rows + 1) * DOC_SCORE_COLS, sizeof(*cellp));
  if (kinds == NULL || comms == NULL || cells == NULL || cellp == NULL) {
    rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  doc_report_input d = {.title = t.sentences[0],
                        .lines = (const char *const *)t.sentences + 1,
                        .n_lines = (size_t)t.n_sentences - 1};
  static const char *const month_labels[12] = {"1月", "2月", "3月", "4月",  "5月",  "6月",
                                               "7月", "8月", "9月", "10月", "11月", "12月"};
  for (int m = 0; m < 12; m++)
    d.months[m].label = month_labels[m];
  for (size_t i = 0; i < by_month->n_rows; i++) {
    int m = by_month->rows[i]->bucket != NULL ? by_month->rows[i]->bucket->month : 0;
    if (m >= 1 && m <= 12 && by_month->rows[i]->counters != NULL)
      d.months[m - 1].value = by_month->rows[i]->counters->taken_in;
  }
  for (size_t i = 0; i < by_kind->n_rows; i++) {
    const Mediation__V1__FigureRow *row = by_kind->rows[i];
    kinds[i].label = mc_label_of(mc_kind_names, row->bucket != NULL ? (int)row->bucket->kind : 0);
    kinds[i].value = row->counters != NULL ? row->counters->mediated : 0;
  }
  d.kinds = kinds;
  d.n_kinds = by_kind->n_rows;
  static const mv_counters zero = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  const mv_counters *total = t.total != NULL ? t.total : &zero;
  d.satisfaction[0] = (doc_bar){"满意", total->satisfied};
  d.satisfaction[1] = (doc_bar){"基本满意", total->basically_satisfied};
  d.satisfaction[2] = (doc_bar){"不满意", total->dissatisfied};
  scorecard_cells(&t, cells, cellp, comms);
  d.communities = comms;
  d.n_communities = t.n_rows;
  d.score_headers = doc_score_headers;
  d.n_score_cols = DOC_SCORE_COLS;
  d.score_cells = cellp;
  d.n_score_rows = t.n_rows + 1;
  rc = doc_report(&d, path, err);
out:
  free(kinds);
  free(comms);
  free(cells);
  free(cellp);
  doc_report_text_free(&t);
  return rc;
}
