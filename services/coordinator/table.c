/*
 * table.c - aligned tables for terminals where a Chinese character takes two
 * columns.
 *
 * printf's "%-10s" pads by bytes, and a CJK character is three bytes of UTF-8
 * but two columns on screen, so tables of Chinese labels come out ragged.
 * Here every cell's display width is computed from its code points with the
 * East Asian Width property (wide and full-width: 2; combining marks and
 * zero-width characters: 0; the rest: 1). wcwidth() would give the same
 * answer, but only under a UTF-8 locale; decoding UTF-8 ourselves keeps the
 * output identical under LANG=C, in cron jobs and in tests.
 *
 * A table can be fitted to a width (ctl_table_fit: lists fit 100 columns
 * unless --wide): the free-text columns it names are narrowed, the widest
 * first, and their cells cut at a character boundary with "…". The same
 * table prints as CSV (ctl_table_print_csv), whole and unaltered.
 */
#include <stdlib.h>
#include <string.h>

#include "services/coordinator/csv.h"
#include "services/coordinator/ctl.h"

/* Decodes one UTF-8 sequence at s; returns its length (1 for an invalid
 * byte, which then counts as one column) and the code point. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    v = c & 0x07;
  } else {
    *cp = 0xFFFD;
    return 1;
  }
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3F);
  }
  *cp = v;
  return len;
}

typedef struct cp_range {
  uint32_t first, last;
} cp_range;

/* East Asian Wide (W) and Fullwidth (F) ranges, Unicode 15, merged. */
static const cp_range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18CFF}, {0x1B000, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
    {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F251}, {0x1F300, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

/* Zero width: combining marks, joiners, variation selectors. */
static const cp_range zero[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},
    {0x064B, 0x065F}, {0x200B, 0x200F}, {0x2028, 0x202E}, {0x2060, 0x2064},
    {0x20D0, 0x20FF}, {0x302A, 0x302D}, {0x3099, 0x309A}, {0xFE00, 0xFE0F},
    {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF},
};

static bool in_ranges(const cp_range *r, size_t n, uint32_t cp) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp < r[mid].first)
      hi = mid;
    else if (cp > r[mid].last)
      lo = mid + 1;
    else
      return true;
  }
  return false;
}

static size_t cp_width(uint32_t cp) {
  if (in_ranges(zero, sizeof(zero) / sizeof(zero[0]), cp))
    return 0;
  if (in_ranges(wide, sizeof(wide) / sizeof(wide[0]), cp))
    return 2;
  return 1;
}

size_t ctl_text_width(const char *s) {
  size_t w = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    uint32_t cp;
    p += utf8_next(p, &cp);
    w += cp_width(cp);
  }
  return w;
}

struct ctl_table {
  size_t ncols;
  char **headers;
  char *align;
  char **cells; /* rows x ncols */
  size_t rows, cap;
  bool oom;
  size_t max_width; /* 0: no limit */
  unsigned shrink;  /* bit i: column i may be narrowed */
};

/* Cells are kept as given (CSV writes them whole); on a terminal control
 * characters (newlines in a summary) print as spaces so a cell stays on its
 * line (put_text). */
static char *cell_copy(const char *s) { return strdup(s ? s : ""); }

ctl_table *ctl_table_new(size_t ncols, const char *const *headers, const char *align) {
  ctl_table *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  t->ncols = ncols;
  t->headers = calloc(ncols, sizeof(*t->headers));
  t->align = calloc(ncols + 1, 1);
  if (t->headers == NULL || t->align == NULL) {
    ctl_table_free(t);
    return NULL;
  }
  for (size_t i = 0; i < ncols; i++) {
    t->headers[i] = cell_copy(headers[i]);
    t->align[i] = align && i < strlen(align) ? align[i] : 'l';
    if (t->headers[i] == NULL) {
      ctl_table_free(t);
      return NULL;
    }
  }
  return t;
}

int ctl_table_add(ctl_table *t, const char *const *cells) {
  if (t == NULL)
    return -1;
  if (t->rows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
    if (grown == NULL) {
      t->oom = true;
      return -1;
    }
    t->cells = grown;
    t->cap = cap;
  }
  char **row = &t->cells[t->rows * t->ncols];
  for (size_t i = 0; i < t->ncols; i++) {
    row[i] = cell_copy(cells[i]);
    if (row[i] == NULL) {
      for (size_t k = 0; k < i; k++)
        free(row[k]);
      t->oom = true;
      return -1;
    }
  }
  t->rows++;
  return 0;
}

/* Writes s with control characters as spaces, at most `width` columns:
 * longer text is cut at a character boundary and ends with "…" (one
 * column). Returns the columns written. */
static size_t put_text(FILE *out, const char *s, size_t width) {
  size_t w = ctl_text_width(s);
  bool cut = w > width;
  size_t room = cut ? (width > 0 ? width - 1 : 0) : w, used = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p != '\0') {
    uint32_t cp;
    size_t len = utf8_next(p, &cp), cw = cp_width(cp);
    if (used + cw > room)
      break;
    if (*p < 0x20 || *p == 0x7F)
      fputc(' ', out);
    else
      fwrite(p, 1, len, out);
    used += cw;
    p += len;
  }
  if (cut && width > 0) {
    fputs("\u2026", out);
    used++;
  }
  return used;
}

static void print_cell(FILE *out, const char *s, size_t width, char align, bool last) {
  size_t w = ctl_text_width(s);
  if (w > width)
    w = width; /* cut to fit: put_text writes exactly width columns */
  size_t pad = width > w ? width - w : 0;
  if (align == 'r')
    fprintf(out, "%*s", (int)pad, "");
  put_text(out, s, width);
  if (align != 'r' && !last)
    fprintf(out, "%*s", (int)pad, "");
}

/* Empty cells at the end of a row are not printed, so no line ends in
 * spaces; the last cell printed is not padded on the right. */
static void print_row(const ctl_table *t, FILE *out, char *const *row, const size_t *widths) {
  size_t n = t->ncols;
  while (n > 1 && row[n - 1][0] == '\0')
    n--;
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      fputs("  ", out);
    print_cell(out, row[i], widths[i], t->align[i], i + 1 == n);
  }
  fputc('\n', out);
}

void ctl_table_fit(ctl_table *t, size_t max_width, unsigned shrink) {
  if (t == NULL)
    return;
  t->max_width = max_width;
  t->shrink = shrink;
}

/* A column narrowed to fit keeps at least this many columns: two CJK
 * characters and the ellipsis, or a header's first word. */
#define FIT_MIN_WIDTH 5

/* Narrows the shrinkable columns, the widest first, one column at a time,
 * until a line fits t->max_width or none can narrow further. */
static void fit_widths(const ctl_table *t, size_t *widths) {
  if (t->max_width == 0)
    return;
  size_t line = 2 * (t->ncols - 1);
  for (size_t i = 0; i < t->ncols; i++)
    line += widths[i];
  while (line > t->max_width) {
    size_t widest = t->ncols;
    for (size_t i = 0; i < t->ncols && i < 32; i++) {
      if ((t->shrink & (1u << i)) && widths[i] > FIT_MIN_WIDTH &&
          (widest == t->ncols || widths[i] > widths[widest]))
        widest = i;
    }
    if (widest == t->ncols)
      return; /* nothing left to narrow: the caller chose too many columns */
    widths[widest]--;
    line--;
  }
}

int ctl_table_print(const ctl_table *t, FILE *out) {
  if (t == NULL || t->oom)
    return -1;
  size_t *widths = calloc(t->ncols, sizeof(*widths));
  if (widths == NULL)
    return -1;
  for (size_t i = 0; i < t->ncols; i++)
    widths[i] = ctl_text_width(t->headers[i]);
  for (size_t r = 0; r < t->rows; r++) {
    for (size_t i = 0; i < t->ncols; i++) {
      size_t w = ctl_text_width(t->cells[r * t->ncols + i]);
      if (w > widths[i])
        widths[i] = w;
    }
  }
  fit_widths(t, widths);
  print_row(t, out, t->headers, widths);
  for (size_t r = 0; r < t->rows; r++)
    print_row(t, out, &t->cells[r * t->ncols], widths);
  free(widths);
  return 0;
}

int ctl_table_print_csv(const ctl_table *t, FILE *out, bool bom) {
  if (t == NULL || t->oom)
    return -1;
  if (bom && ctl_csv_begin(out) != 0)
    return -1;
  if (ctl_csv_row(out, (const char *const *)t->headers, t->ncols) != 0)
    return -1;
  for (size_t r = 0; r < t->rows; r++) {
    if (ctl_csv_row(out, (const char *const *)&t->cells[r * t->ncols], t->ncols) != 0)
      return -1;
  }
  return 0;
}

void ctl_table_free(ctl_table *t) {
  if (t == NULL)
    return;
  for (size_t r = 0; r < t->rows * t->ncols; r++)
    free(t->cells[r]);
  free(t->cells);
  for (size_t i = 0; t->headers && i < t->ncols; i++)
    free(t->headers[i]);
  free(t->headers);
  free(t->align);
  free(t);
}

void ctl_kv_print(const ctl_kv *rows, size_t n, FILE *out) {
  size_t width = 0;
  for (size_t i = 0; i < n; i++) {
    size_t w = ctl_text_width(rows[i].label);
    if (w > width)
      width = w;
  }
  for (size_t i = 0; i < n; i++) {
    const char *value = rows[i].value ? rows[i].value : "";
    print_cell(out, rows[i].label, width, 'l', value[0] == '\0');
    if (value[0] != '\0') {
      fputs("  ", out);
      fputs(value, out);
    }
    fputc('\n', out);
  }
}
