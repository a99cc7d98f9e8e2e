/*
 * pdf.h - the small page-layout engine the PDF documents share: A4 pages
 * drawn with cairo, text laid out by pango in Noto CJK, a cursor that moves
 * down the page and starts a new one when what comes next does not fit, and
 * tables whose rows never split and whose header repeats on every page.
 *
 * A dp_doc is opened on a path, drawn into, and closed; the first cairo
 * error is kept and reported by dp_close (drawing after an error is
 * harmless: cairo ignores it).
 */
#ifndef DOC_PDF_H
#define DOC_PDF_H

#include <stdbool.h>
#include <stddef.h>

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>

#include "core/status.h"

#define DP_SANS "Noto Sans CJK SC"
#define DP_SERIF "Noto Serif CJK SC"

#define DP_PAGE_W 595.28 /* A4 in points */
#define DP_PAGE_H 841.89
#define DP_MARGIN 56.0
#define DP_TEXT_W (DP_PAGE_W - 2 * DP_MARGIN)
#define DP_BOTTOM (DP_PAGE_H - DP_MARGIN)

typedef struct dp_doc {
  cairo_surface_t *surface;
  cairo_t *cr;
  double y;          /* the cursor, from the top of the page */
  int page;          /* 1-based */
  const char *footer; /* printed at the foot of every page with the page number; may be NULL */
  const char *stamp;  /* a diagonal mark on every page (草稿); may be NULL */
} dp_doc;

typedef enum dp_align { DP_LEFT, DP_CENTER, DP_RIGHT } dp_align;

/* Opens an A4 PDF at path. title goes into the PDF's metadata. */
mc_code dp_open(dp_doc *d, const char *path, const char *title, mc_err *err);
/* Ends the last page and writes the file; the first error if any. */
mc_code dp_close(dp_doc *d, mc_err *err);
/* Ends the page and starts the next one. */
void dp_new_page(dp_doc *d);
/* Starts a new page if less than h points are left. */
void dp_need(dp_doc *d, double h);

/* A pango layout of text (plain, not markup) in family at size points,
 * width w (0: no wrapping). The caller unrefs it. */
PangoLayout *dp_layout(dp_doc *d, const char *text, const char *family, double size, bool bold,
                       double w, dp_align align);
/* The height of a layout in points. */
double dp_height(PangoLayout *l);
/* Draws a layout with its top-left at (x, y). */
void dp_draw(dp_doc *d, PangoLayout *l, double x, double y);

/* A paragraph at the cursor across the text width; breaks the page first
 * if it does not fit (a paragraph taller than a page is split by lines). */
void dp_para(dp_doc *d, const char *text, const char *family, double size, bool bold,
             dp_align align);
/* "label：value" on one line block, label in bold. */
void dp_field(dp_doc *d, const char *label, const char *value);
/* Moves the cursor down. */
void dp_space(dp_doc *d, double h);

/* A table: columns' widths in points (summing to at most DP_TEXT_W), a
 * header row repeated at the top of every page it runs onto. */
typedef struct dp_table {
  size_t ncols;
  const double *widths;
  const char *const *headers;
  double size; /* font size of the cells */
} dp_table;
/* Starts the table at the cursor (draws the header). */
void dp_table_start(dp_doc *d, const dp_table *t);
/* One row of ncols cells (NULL: empty); starts a new page (and repeats the
 * header) if the row does not fit in what is left of this one. */
void dp_table_row(dp_doc *d, const dp_table *t, const char *const *cells);

#endif /* DOC_PDF_H */
