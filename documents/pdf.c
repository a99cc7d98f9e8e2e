/*
 * pdf.c - the page-layout engine of pdf.h: cairo's PDF surface (which embeds
 * a subset of every font it uses) and pango for CJK line breaking.
 *
 * Rows are measured before they are drawn, so the decision to break a page
 * is made with the row's real height: a row is never split and the header
 * goes again on top of the new page.
 */
#include <stdio.h>
#include <string.h>

#include "documents/pdf.h"

#include "core/i18n.h"

mc_code dp_open(dp_doc *d, const char *path, const char *title, mc_err *err) {
  memset(d, 0, sizeof(*d));
  d->surface = cairo_pdf_surface_create(path, DP_PAGE_W, DP_PAGE_H);
  cairo_status_t st = cairo_surface_status(d->surface);
  if (st != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(d->surface);
    d->surface = NULL;
    return mc_err_set(err, MC_INTERNAL, _("%s: cannot write the PDF: %s"), path ? path : "(none)",
                      cairo_status_to_string(st));
  }
  if (title != NULL)
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_TITLE, title);
  cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_CREATOR, "mediation documents");
  d->cr = cairo_create(d->surface);
  d->page = 1;
  d->y = DP_MARGIN;
  return MC_OK;
}

static void finish_page(dp_doc *d) {
  cairo_t *cr = d->cr;
  char foot[256];
  if (d->footer != NULL)
    snprintf(foot, sizeof(foot), "%s　第 %d 页", d->footer, d->page);
  else
    snprintf(foot, sizeof(foot), "第 %d 页", d->page);
  PangoLayout *l = dp_layout(d, foot, DP_SANS, 8, false, DP_TEXT_W, DP_CENTER);
  cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
  dp_draw(d, l, DP_MARGIN, DP_PAGE_H - DP_MARGIN + 16);
  g_object_unref(l);
  if (d->stamp != NULL) {
    cairo_save(cr);
    cairo_translate(cr, DP_PAGE_W / 2, DP_PAGE_H / 2);
    cairo_rotate(cr, -0.6);
    cairo_set_source_rgba(cr, 0.8, 0.1, 0.1, 0.18);
    PangoLayout *s = dp_layout(d, d->stamp, DP_SANS, 110, true, 0, DP_LEFT);
    int w, h;
    pango_layout_get_size(s, &w, &h);
    cairo_move_to(cr, -(double)w / PANGO_SCALE / 2, -(double)h / PANGO_SCALE / 2);
    pango_cairo_show_layout(cr, s);
    g_object_unref(s);
    cairo_restore(cr);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_show_page(cr);
}

mc_code dp_close(dp_doc *d, mc_err *err) {
  if (d->cr == NULL)
    return mc_err_set(err, MC_INTERNAL, "PDF not open");
  finish_page(d);
  cairo_status_t st = cairo_status(d->cr);
  cairo_destroy(d->cr);
  cairo_surface_finish(d->surface);
  if (st == CAIRO_STATUS_SUCCESS)
    st = cairo_surface_status(d->surface);
  cairo_surface_destroy(d->surface);
  d->cr = NULL;
  d->surface = NULL;
  if (st != CAIRO_STATUS_SUCCESS)
    return mc_err_set(err, MC_INTERNAL, _("writing the PDF: %s"), cairo_status_to_string(st));
  return MC_OK;
}

void dp_new_page(dp_doc *d) {
  finish_page(d);
  d->page++;
  d->y = DP_MARGIN;
}

void dp_need(dp_doc *d, double h) {
  if (d->y + h > DP_BOTTOM && d->y > DP_MARGIN)
    dp_new_page(d);
}

PangoLayout *dp_layout(dp_doc *d, const char *text, const char *family, double size, bool bold,
                       double w, dp_align align) {
  PangoLayout *l = pango_cairo_create_layout(d->cr);
  PangoFontDescription *fd = pango_font_description_new();
  pango_font_description_set_family(fd, family);
  pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
  pango_font_description_set_weight(fd, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  pango_layout_set_font_description(l, fd);
  pango_font_description_free(fd);
  if (w > 0) {
    pango_layout_set_width(l, (int)(w * PANGO_SCALE));
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
  }
  pango_layout_set_alignment(l, align == DP_CENTER  ? PANGO_ALIGN_CENTER
                                : align == DP_RIGHT ? PANGO_ALIGN_RIGHT
                                                    : PANGO_ALIGN_LEFT);
  pango_layout_set_text(l, text != NULL ? text : "", -1);
  return l;
}

double dp_height(PangoLayout *l) {
  int w, h;
  pango_layout_get_size(l, &w, &h);
  return (double)h / PANGO_SCALE;
}

void dp_draw(dp_doc *d, PangoLayout *l, double x, double y) {
  cairo_move_to(d->cr, x, y);
  pango_cairo_show_layout(d->cr, l);
}

void dp_para(dp_doc *d, const char *text, const char *family, double size, bool bold,
             dp_align align) {
  PangoLayout *l = dp_layout(d, text, family, size, bold, DP_TEXT_W, align);
  double h = dp_height(l);
  if (h <= DP_BOTTOM - DP_MARGIN) {
    dp_need(d, h);
    dp_draw(d, l, DP_MARGIN, d->y);
    d->y += h + size * 0.4;
    g_object_unref(l);
    return;
  }
  /* Taller than a page: line by line, breaking between lines. */
  PangoLayoutIter *it = pango_layout_get_iter(l);
  do {
    PangoLayoutLine *line = pango_layout_iter_get_line_readonly(it);
    PangoRectangle logical;
    pango_layout_iter_get_line_extents(it, NULL, &logical);
    double lh = (double)logical.height / PANGO_SCALE;
    dp_need(d, lh);
    int baseline = pango_layout_iter_get_baseline(it) - logical.y;
    cairo_move_to(d->cr, DP_MARGIN + (double)logical.x / PANGO_SCALE,
                  d->y + (double)baseline / PANGO_SCALE);
    pango_cairo_show_layout_line(d->cr, line);
    d->y += lh;
  } while (pango_layout_iter_next_line(it));
  pango_layout_iter_free(it);
  g_object_unref(l);
  d->y += size * 0.4;
}

void dp_field(dp_doc *d, const char *label, const char *value) {
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s：%s", label, value != NULL && value[0] ? value : "—");
  dp_para(d, buf, DP_SERIF, 11, false, DP_LEFT);
}

void dp_space(dp_doc *d, double h) {
  d->y += h;
}

#define CELL_PAD 3.0

static double row_height(dp_doc *d, const dp_table *t, const char *const *cells, bool bold,
                         PangoLayout **out) {
  double h = 0;
  for (size_t i = 0; i < t->ncols; i++) {
    out[i] = dp_layout(d, cells[i] != NULL ? cells[i] : "", DP_SANS, t->size, bold,
                       t->widths[i] - 2 * CELL_PAD, DP_LEFT);
    double ch = dp_height(out[i]);
    if (ch > h)
      h = ch;
  }
  return h + 2 * CELL_PAD;
}

static void draw_row(dp_doc *d, const dp_table *t, PangoLayout **ls, double h, bool shade) {
  double x = DP_MARGIN;
  for (size_t i = 0; i < t->ncols; i++) {
    cairo_rectangle(d->cr, x, d->y, t->widths[i], h);
    if (shade) {
      cairo_set_source_rgb(d->cr, 0.9, 0.9, 0.9);
      cairo_fill_preserve(d->cr);
      cairo_set_source_rgb(d->cr, 0, 0, 0);
    }
    cairo_set_line_width(d->cr, 0.5);
    cairo_stroke(d->cr);
    dp_draw(d, ls[i], x + CELL_PAD, d->y + CELL_PAD);
    g_object_unref(ls[i]);
    x += t->widths[i];
  }
  d->y += h;
}

#define DP_MAX_COLS 16

void dp_table_start(dp_doc *d, const dp_table *t) {
  PangoLayout *ls[DP_MAX_COLS];
  double h = row_height(d, t, t->headers, true, ls);
  if (d->y + 2 * h > DP_BOTTOM) { /* a header alone at the foot of a page is no use */
    for (size_t i = 0; i < t->ncols; i++)
      g_object_unref(ls[i]);
    dp_new_page(d);
    h = row_height(d, t, t->headers, true, ls);
  }
  draw_row(d, t, ls, h, true);
}

void dp_table_row(dp_doc *d, const dp_table *t, const char *const *cells) {
  PangoLayout *ls[DP_MAX_COLS];
  double h = row_height(d, t, cells, false, ls);
  if (d->y + h > DP_BOTTOM) {
    dp_new_page(d);
    dp_table_start(d, t);
  }
  draw_row(d, t, ls, h, false);
}
