/*
 * documents.h - the paper a mediation produces, rendered from the contract's
 * messages: the 调解协议书 (PDF), the case file 案卷 (PDF, with the hash-chain
 * head and a QR code to check a print against the store), the ledger 台账
 * (xlsx) and the year's report (PDF with charts).
 *
 * Pure rendering: every function takes messages a reader was given (GetCase,
 * ListCases, GetFigures replies) and writes a file; no store, no network. So
 * a document shows exactly what the record shows to that reader: masking is
 * the router's (GetCase masks for the reader), never redone here.
 *
 * Fonts: Noto Sans/Serif CJK SC through fontconfig (fonts-noto-cjk); cairo
 * embeds a subset of each font used, so a PDF prints the same everywhere.
 * Tables never split a row across pages and repeat their header.
 *
 * Errors: an mc_code with a message naming what was wrong (INVALID_ARGUMENT
 * for a case that cannot make the document, PERMISSION_DENIED for a reader
 * who may not have it, INTERNAL for a renderer's failure, with cairo's or
 * libxlsxwriter's reason). Nothing is logged: documents hold personal data.
 */
#ifndef DOC_DOCUMENTS_H
#define DOC_DOCUMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "core/status.h"
#include "mv1.h"

/* The text of the QR code on a case file's last page, and what
 * `mediactl verify-print` takes: "<case id> <hash-chain head, 64 hex>". */
#define DOC_TOKEN_MAX 160

/* Writes c's print token into buf. INVALID_ARGUMENT if c has no head. */
mc_code doc_print_token(const mv_case *c, char *buf, size_t cap, mc_err *err);

/* The lowercase hex of a hash-chain head (64 characters for SHA-256). */
void doc_hex(const uint8_t *bytes, size_t n, char *out, size_t cap);

/* The 调解协议书 of c, A4 PDF at path. masked: the reader was given masked
 * personal data (GetCaseReply.masked): refused with PERMISSION_DENIED, since
 * the agreement carries the parties' full particulars and only the holding
 * unit may produce it. Without draft, c must have an agreement outcome
 * (FAILED_PRECONDITION otherwise); with draft, the document is marked 草稿
 * and shows what is recorded so far. */
mc_code doc_agreement(const mc_registry *reg, const mv_case *c, bool masked, bool draft,
                      const char *path, mc_err *err);

/* The case file 案卷 of c and its events (GetCase with_timeline, as the
 * reader got them), PDF at path. reader: who it was printed for (shown on
 * the cover), may be empty. */
mc_code doc_case_file(const mc_registry *reg, const mv_case *c, mv_event *const *events,
                      size_t n_events, const char *reader, const char *path, mc_err *err);

/* The ledger 台账 of cases (GetCase records, masked as the reader got
 * them), xlsx at path. title: the sheet's heading ("白鹤街道 2026年1月—12月"). */
mc_code doc_ledger(const mc_registry *reg, mv_case *const *cases, size_t n, const char *title,
                   const char *path, mc_err *err);

/* One bar of a chart: a label and a count. */
typedef struct doc_bar {
  const char *label;
  int64_t value;
} doc_bar;

/* What the annual report shows; every array borrowed. */
typedef struct doc_report_input {
  const char *title;             /* "白鹤街道2026年度矛盾纠纷调处情况报告" */
  const char *const *lines;      /* the text `mediactl report` prints, one paragraph each */
  size_t n_lines;
  doc_bar months[12];            /* cases taken in by month */
  const doc_bar *kinds;          /* by dispute kind */
  size_t n_kinds;
  const doc_bar *communities;    /* by community */
  size_t n_communities;
  doc_bar satisfaction[3];       /* 满意, 基本满意, 不满意 */
  const char *const *score_headers; /* the scorecard's columns */
  size_t n_score_cols;
  const char *const *score_cells;   /* n_score_rows x n_score_cols, row by row */
  size_t n_score_rows;
} doc_report_input;

/* The annual report, A4 PDF at path. */
mc_code doc_report(const doc_report_input *in, const char *path, mc_err *err);

#endif /* DOC_DOCUMENTS_H */
