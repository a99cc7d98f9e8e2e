/*
 * path.c - the field path in pbjson's refusals ("action.parties[1].phone"),
 * one builder for the scanner (scan.c) and the reader (read.c).
 */
#include <stdio.h>

#include "pbjson/internal.h"

static void grew(pj_path *p, int w) {
  if (w > 0)
    p->len += (size_t)w < sizeof(p->text) - p->len ? (size_t)w : sizeof(p->text) - p->len - 1;
}

size_t pj_path_push_key(pj_path *p, const char *name, size_t len) {
  size_t saved = p->len;
  char shown[48];
  size_t n = 0;
  for (size_t i = 0; i < len && n < 40; i++)
    shown[n++] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
  shown[n] = '\0';
  grew(p, snprintf(p->text + p->len, sizeof(p->text) - p->len, "%s%s%s", p->len ? "." : "", shown,
                   len > 40 ? "..." : ""));
  return saved;
}

size_t pj_path_push_index(pj_path *p, size_t index) {
  size_t saved = p->len;
  grew(p, snprintf(p->text + p->len, sizeof(p->text) - p->len, "[%zu]", index));
  return saved;
}

void pj_path_pop(pj_path *p, size_t saved) {
  p->len = saved;
  p->text[saved] = '\0';
}
