/*
 * ledger.c - the ledger 台账 (矛盾纠纷排查化解台账) as an xlsx workbook:
 * one row per case with the columns a studio's ledger has, a frozen
 * header, widths fitted to the Chinese text they hold, dates as real Excel
 * dates and amounts as numbers in yuan, so the studio can sort, filter and
 * sum it in Excel as it does its hand-kept one.
 *
 * Rows show what the reader was given (GetCase masks personal data for
 * readers who do not hold a case).
 */
#include <stdio.h>
#include <string.h>

#include <xlsxwriter.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/names.h"
#include "documents/documents.h"
#include "documents/internal.h"

enum {
  C_NO, C_TAKEN, C_SOURCE, C_PARTIES, C_KIND, C_SUMMARY, C_MONEY, C_HOLDER, C_MEDIATORS,
  C_RESULT, C_CLOSED, C_VISIT, C_SATISFACTION, C_N
};
static const char *const headers[C_N] = {
    "序号", "受理日期", "来源", "当事人", "纠纷类型", "简要案情", "涉及金额（元）",
    "承办单位", "调解员", "调解结果", "结案日期", "回访情况", "满意度",
};
static const double max_width[C_N] = {8, 12, 12, 30, 12, 50, 16, 24, 20, 24, 12, 40, 10};

/* Display width in Excel's character units: a CJK character is two. */
static double text_width(const char *s) {
  double w = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x80)
      w += 1;
    else if (*p >= 0xC0)
      w += (*p >= 0xE0) ? 2 : 1;
  }
  return w;
}

static void fit(double *widths, int col, const char *s) {
  double w = text_width(s) + 2;
  if (w > max_width[col])
    w = max_width[col];
  if (w > widths[col])
    widths[col] = w;
}

static lxw_datetime excel_date(const mc_registry *reg, int64_t ms) {
  mc_date d = mc_date_of(ms, reg != NULL ? reg->utc_offset_minutes : 480);
  lxw_datetime dt = {d.year, d.month, d.day, 0, 0, 0};
  return dt;
}

static mc_code lxw_fail(lxw_error e, const char *what, mc_err *err) {
  return mc_err_set(err, MC_INTERNAL, _("ledger: %s: %s"), what, lxw_strerror(e));
}

typedef struct ledger_formats {
  lxw_format *head, *title, *date, *money, *text;
} ledger_formats;

static void make_formats(lxw_workbook *wb, ledger_formats *f) {
  f->head = workbook_add_format(wb);
  format_set_bold(f->head);
  format_set_bg_color(f->head, 0xD9D9D9);
  format_set_border(f->head, LXW_BORDER_THIN);
  format_set_text_wrap(f->head);
  format_set_align(f->head, LXW_ALIGN_CENTER);
  f->title = workbook_add_format(wb);
  format_set_bold(f->title);
  format_set_font_size(f->title, 14);
  f->date = workbook_add_format(wb);
  format_set_num_format(f->date, "yyyy-mm-dd");
  f->money = workbook_add_format(wb);
  format_set_num_format(f->money, "#,##0.00");
  f->text = workbook_add_format(wb);
  format_set_text_wrap(f->text);
  format_set_align(f->text, LXW_ALIGN_VERTICAL_TOP);
}

mc_code doc_ledger(const mc_registry *reg, mv_case *const *cases, size_t n, const char *title,
                   const char *path, mc_err *err) {
  for (size_t i = 0; i < n; i++)
    if (cases[i] == NULL || cases[i]->intake == NULL)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "cases[%zu]: missing or without intake", i);
  lxw_workbook_options opts = {.constant_memory = LXW_TRUE, .tmpdir = NULL};
  lxw_workbook *wb = workbook_new_opt(path, &opts);
  if (wb == NULL)
    return mc_err_set(err, MC_INTERNAL, _("%s: cannot create the workbook"), path);
  lxw_worksheet *ws = workbook_add_worksheet(wb, "台账");
  ledger_formats f;
  make_formats(wb, &f);
  /* Widths are fitted from every row before any is written: with
   * constant_memory, rows go to disk in order and columns must be set
   * first. */
  double widths[C_N];
  for (int col = 0; col < C_N; col++) {
    widths[col] = 0;
    fit(widths, col, headers[col]);
  }
  char buf[4096], t[DOC_FMT_MAX];
  for (size_t i = 0; i < n; i++) {
    const mv_case *c = cases[i];
    buf[0] = '\0';
    for (size_t p = 0; p < c->intake->n_parties; p++)
      doc_cat(buf, sizeof(buf), "%s%s", p ? "、" : "", c->intake->parties[p]->name);
    fit(widths, C_PARTIES, buf);
    fit(widths, C_SOURCE, doc_label(mc_source_names, c->intake->source));
    fit(widths, C_KIND, doc_label(mc_kind_names, c->intake->kind));
    fit(widths, C_SUMMARY, c->intake->summary);
    fit(widths, C_HOLDER, doc_unit_label(reg, c->holder));
    doc_team_names(c, MV_ROLE(MEDIATOR), buf, sizeof(buf));
    fit(widths, C_MEDIATORS, buf);
    doc_result(c, buf, sizeof(buf));
    fit(widths, C_RESULT, buf);
    if (c->feedback != NULL)
      fit(widths, C_VISIT, c->feedback->note);
  }
  widths[C_TAKEN] = widths[C_CLOSED] = 12;
  widths[C_MONEY] = 16;
  for (int col = 0; col < C_N; col++)
    worksheet_set_column(ws, (lxw_col_t)col, (lxw_col_t)col, widths[col], NULL);

  worksheet_write_string(ws, 0, 0, title != NULL ? title : "矛盾纠纷排查化解台账", f.title);
  for (int col = 0; col < C_N; col++)
    worksheet_write_string(ws, 1, (lxw_col_t)col, headers[col], f.head);
  worksheet_freeze_panes(ws, 2, 0);

  for (size_t i = 0; i < n; i++) {
    const mv_case *c = cases[i];
    lxw_row_t r = (lxw_row_t)(i + 2);
    worksheet_write_number(ws, r, C_NO, (double)(i + 1), NULL);
    lxw_datetime dt = excel_date(reg, c->created_ms);
    worksheet_write_datetime(ws, r, C_TAKEN, &dt, f.date);
    worksheet_write_string(ws, r, C_SOURCE, doc_label(mc_source_names, c->intake->source), NULL);
    buf[0] = '\0';
    for (size_t p = 0; p < c->intake->n_parties; p++) {
      const mv_party *pa = c->intake->parties[p];
      doc_cat(buf, sizeof(buf), "%s%s", p ? "、" : "", pa->name);
      if (pa->id_number[0])
        doc_cat(buf, sizeof(buf), "（%s）", pa->id_number);
    }
    worksheet_write_string(ws, r, C_PARTIES, buf, f.text);
    worksheet_write_string(ws, r, C_KIND, doc_label(mc_kind_names, c->intake->kind), NULL);
    worksheet_write_string(ws, r, C_SUMMARY, c->intake->summary, f.text);
    /* fen to yuan as a number: exact to the cent in a double below 2^53 fen */
    worksheet_write_number(ws, r, C_MONEY, (double)c->intake->money_fen / 100.0, f.money);
    worksheet_write_string(ws, r, C_HOLDER, doc_unit_label(reg, c->holder), NULL);
    doc_team_names(c, MV_ROLE(MEDIATOR), buf, sizeof(buf));
    worksheet_write_string(ws, r, C_MEDIATORS, buf, NULL);
    doc_result(c, buf, sizeof(buf));
    worksheet_write_string(ws, r, C_RESULT, buf, NULL);
    if (c->state == MV_STATE(CLOSED) || c->state == MV_STATE(WITHDRAWN)) {
      dt = excel_date(reg, c->state_entered_ms);
      worksheet_write_datetime(ws, r, C_CLOSED, &dt, f.date);
    }
    if (c->feedback != NULL) {
      doc_date_cn(reg, c->feedback->visited_ms, t);
      snprintf(buf, sizeof(buf), "%s%s%s", t, t[0] && c->feedback->note[0] ? " " : "",
               c->feedback->note);
      worksheet_write_string(ws, r, C_VISIT, buf, f.text);
      worksheet_write_string(ws, r, C_SATISFACTION,
                             doc_label(mc_satisfaction_names, c->feedback->satisfaction), NULL);
    }
  }
  lxw_error e = workbook_close(wb);
  if (e != LXW_NO_ERROR)
    return lxw_fail(e, path, err);
  return MC_OK;
}
