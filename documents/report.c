/*
 * report.c - the year's report as a PDF: the paragraphs `mediactl report`
 * prints (the same sentences, made from the same GetFigures counters), the
 * figures as bar charts drawn with cairo (cases by month, by kind, by
 * community; satisfaction), and the community scorecard as a table.
 *
 * Charts label every bar with its number, so the chart can be read without
 * a ruler and pdftotext finds the numbers the text states.
 */
#include <stdio.h>
#include <string.h>

#include "documents/documents.h"
#include "documents/pdf.h"

#define CHART_H 170.0

static void bar_chart(dp_doc *d, const char *title, const doc_bar *bars, size_t n) {
  dp_need(d, CHART_H + 60);
  dp_para(d, title, DP_SANS, 12, true, DP_LEFT);
  int64_t max = 1;
  for (size_t i = 0; i < n; i++)
    if (bars[i].value > max)
      max = bars[i].value;
  double x0 = DP_MARGIN + 10, base = d->y + CHART_H - 30, top = d->y + 12;
  double slot = n > 0 ? (DP_TEXT_W - 20) / (double)n : 0, bw = slot * 0.6;
  cairo_set_line_width(d->cr, 0.8);
  cairo_set_source_rgb(d->cr, 0, 0, 0);
  cairo_move_to(d->cr, x0, top - 6);
  cairo_line_to(d->cr, x0, base);
  cairo_line_to(d->cr, DP_MARGIN + DP_TEXT_W, base);
  cairo_stroke(d->cr);
  for (size_t i = 0; i < n; i++) {
    double h = (base - top) * (double)bars[i].value / (double)max;
    double x = x0 + slot * (double)i + (slot - bw) / 2;
    cairo_set_source_rgb(d->cr, 0.22, 0.42, 0.69);
    cairo_rectangle(d->cr, x, base - h, bw, h);
    cairo_fill(d->cr);
    cairo_set_source_rgb(d->cr, 0, 0, 0);
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)bars[i].value);
    PangoLayout *l = dp_layout(d, v, DP_SANS, 8, false, slot, DP_CENTER);
    dp_draw(d, l, x0 + slot * (double)i, base - h - 12);
    g_object_unref(l);
    l = dp_layout(d, bars[i].label != NULL ? bars[i].label : "", DP_SANS, 7, false, slot,
                  DP_CENTER);
    dp_draw(d, l, x0 + slot * (double)i, base + 3);
    g_object_unref(l);
  }
  d->y += CHART_H + 8;
}

mc_code doc_report(const doc_report_input *in, const char *path, mc_err *err) {
  if (in == NULL || (in->n_score_cols > 0 && in->score_headers == NULL) ||
      (in->n_score_rows > 0 && in->score_cells == NULL))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "report: missing input");
  if (in->n_score_cols > 12)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "report: at most 12 scorecard columns");
  dp_doc d;
  mc_code rc = dp_open(&d, path, in->title, err);
  if (rc != MC_OK)
    return rc;
  d.footer = in->title;
  dp_para(&d, in->title != NULL ? in->title : "年度报告", DP_SERIF, 18, true, DP_CENTER);
  dp_space(&d, 8);
  for (size_t i = 0; i < in->n_lines; i++)
    dp_para(&d, in->lines[i], DP_SERIF, 11, false, DP_LEFT);
  dp_space(&d, 8);
  bar_chart(&d, "图1　各月受理案件数", in->months, 12);
  if (in->n_kinds > 0)
    bar_chart(&d, "图2　各类纠纷调处数", in->kinds, in->n_kinds);
  if (in->n_communities > 0)
    bar_chart(&d, "图3　各社区受理案件数", in->communities, in->n_communities);
  bar_chart(&d, "图4　当事人满意度（回访件数）", in->satisfaction, 3);
  if (in->n_score_cols > 0) {
    dp_need(&d, 80);
    dp_para(&d, "表1　社区考评", DP_SANS, 12, true, DP_LEFT);
    double widths[12];
    for (size_t i = 0; i < in->n_score_cols; i++)
      widths[i] = DP_TEXT_W / (double)in->n_score_cols;
    dp_table t = {in->n_score_cols, widths, in->score_headers, 9};
    dp_table_start(&d, &t);
    for (size_t r = 0; r < in->n_score_rows; r++)
      dp_table_row(&d, &t, in->score_cells + r * in->n_score_cols);
  }
  return dp_close(&d, err);
}
