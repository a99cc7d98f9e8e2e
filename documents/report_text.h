/*
 * report_text.h - the year's report in words: the sentences of the
 * subdistrict's report ("2026年，街、居两级共调处矛盾纠纷839起，涉及金额
 * 403.64万元，其中疑难复杂以上纠纷33起。") and the community scorecard,
 * made from GetFigures replies, and the annual report PDF made from them.
 *
 * One wording in one place: `mediactl report` prints these sentences,
 * `mediactl document report` and the web gateway's report download render
 * them (with charts) through doc_report_pdf_of. Pure like the rest of
 * documents/: it takes the replies the reader was given (GetFigures as
 * that reader) and writes text; no store, no network.
 *
 * What each number is:
 *   调处矛盾纠纷    mediated: cases that reached a first outcome in the period
 *                  (agreement, no agreement, or sent to litigation)
 *   涉及金额        money_involved_fen of those cases, in 万元 with two decimals
 *   疑难复杂以上    difficult_or_complex among them
 *   调解成功/化解率 resolved / mediated
 *   信访积案        petition_led + petition_assisted (taken in in the period);
 *                  化解率 = (resolved_in_fact + resolved_in_substance) / that
 *   网电信件/现场接访 cases taken in by that source
 *   劳资纠纷        the labour row of a by-kind reply: mediated, money, workers
 *   案卷质量        complete_files / closed; 当事人满意度 = (satisfied +
 *                  basically_satisfied) / all three satisfaction counters
 * Counters the store does not keep (consultations given, letters answered,
 * the 办结率 of letters and visits) are not invented here.
 */
#ifndef DOC_REPORT_TEXT_H
#define DOC_REPORT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "core/status.h"
#include "mv1.h"

/* ---- numbers as the report writes them ---- */

/* "403.64": fen in 万元, two decimals, rounded half up. */
void doc_fmt_wan(int64_t fen, char *buf, size_t cap);
/* "66.7%", "100%" (one decimal, rounded half up, none when it is 0), "—"
 * when den <= 0 or num < 0. */
void doc_fmt_percent(int64_t num, int64_t den, char *buf, size_t cap);
/* The scorecard's ratio cells: "90%（9/10）", "—" when den <= 0. */
void doc_fmt_ratio(int64_t num, int64_t den, char *buf, size_t cap);

/* ---- the sentences ---- */

/* What the sentences say: the whole subdistrict's counters and the labour
 * row of a by-kind reply (NULL: none), for a period. Borrowed. */
typedef struct doc_report_facts {
  const char *subdistrict; /* may be NULL or empty */
  int year, from_month, to_month;
  const mv_counters *total;  /* NULL: all zero */
  const mv_counters *labour; /* NULL: all zero */
  int64_t open_cases, overdue_cases;
} doc_report_facts;

#define DOC_REPORT_MAX 12

/* The report's heading ("白鹤街道2026年矛盾纠纷调处情况") in out[0] and its
 * sentences after it, each malloc'd (the caller frees each); returns how
 * many (at most DOC_REPORT_MAX), or -1 out of memory (out[] then all NULL). */
int doc_report_sentences(const doc_report_facts *in, char *out[DOC_REPORT_MAX]);

/* ---- the community scorecard ---- */

typedef struct doc_scorecard {
  int64_t cases;        /* 案件数量: cases taken in */
  int64_t mediated;     /* 调处 */
  int64_t resolved;
  int64_t closed;       /* 案卷质量: complete_files / closed */
  int64_t complete_files;
  int64_t feedback;     /* 当事人满意度: (satisfied + basically) / feedback */
  int64_t satisfied_or_basically;
} doc_scorecard;

/* One scorecard line from counters (NULL: zeros). */
void doc_scorecard_of(const mv_counters *c, doc_scorecard *out);

typedef struct doc_card_row {
  const char *id;   /* community id; borrowed from the registry or the reply */
  const char *name; /* 王隘社区 */
  doc_scorecard card;
} doc_card_row;

/* The scorecard's columns, and one row of it as the report writes it:
 * the name, then 案件数量 and 调处 as numbers, 化解率 as a percentage,
 * 案卷质量 and 当事人满意度 as ratios ("90%（9/10）"). mediactl's table, the
 * PDF's and the web's are these cells. */
#define DOC_SCORE_COLS 6
#define DOC_CELL_MAX 96
extern const char *const doc_score_headers[DOC_SCORE_COLS];
void doc_scorecard_cells(const char *name, const doc_scorecard *s,
                         char cells[DOC_SCORE_COLS][DOC_CELL_MAX]);

/* ---- the whole report from the replies ---- */

/* The GetFigures replies a report is made of, all for one period and asked
 * as the same reader; borrowed. by_month is needed for the PDF only. */
typedef struct doc_figures {
  int32_t year, from_month, to_month;
  const Mediation__V1__GetFiguresReply *by_community; /* group_by COMMUNITY */
  const Mediation__V1__GetFiguresReply *by_kind;      /* group_by KIND */
  const Mediation__V1__GetFiguresReply *by_month;     /* group_by MONTH, or NULL */
} doc_figures;

/* The report as text: what `mediactl report` prints and --json gives. */
typedef struct doc_report_text {
  char *sentences[DOC_REPORT_MAX]; /* [0] the heading; owned */
  int n_sentences;
  doc_card_row *rows; /* one per community of the registry (zeros for one
                         without cases), then any other the figures name;
                         owned (the strings borrowed from reg and replies) */
  size_t n_rows;
  doc_scorecard total_card;  /* the 合计 row */
  const mv_counters *total;  /* by_community's total, or NULL; borrowed */
  const mv_counters *labour; /* by_kind's labour row, or NULL; borrowed */
} doc_report_text;

/* Fills out from f (by_community and by_kind needed) and reg (the
 * subdistrict's name, the communities). INVALID_ARGUMENT without the
 * replies, RESOURCE_EXHAUSTED out of memory. out borrows from reg and f's
 * replies: free it (doc_report_text_free) before them. On failure out
 * needs no freeing. */
mc_code doc_report_text_make(const mc_registry *reg, const doc_figures *f, doc_report_text *out,
                             mc_err *err);
void doc_report_text_free(doc_report_text *t);

/* The annual report PDF (A4, documents.h's doc_report: these sentences,
 * the charts by month, kind and community and of satisfaction, the
 * scorecard) at path, from f (all three replies needed). */
mc_code doc_report_pdf_of(const mc_registry *reg, const doc_figures *f, const char *path,
                          mc_err *err);

#endif /* DOC_REPORT_TEXT_H */
