/*
 * mctl.c - running mediactl and reading its output in tests (see mctl.h).
 */
#include "mctl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "services/coordinator/ctl.h"

mctl_result mctl_run(const char *conf, const char *const *args) {
  char bin[TH_PATH_MAX];
  th_bin(bin, sizeof(bin), "services/mediactl");
  const char *argv[64];
  int argc = 0;
  argv[argc++] = bin;
  if (conf != NULL) {
    argv[argc++] = "--config";
    argv[argc++] = conf;
  }
  for (int i = 0; args[i] != NULL && argc < 63; i++)
    argv[argc++] = args[i];
  argv[argc] = NULL;
  mctl_result r = {0};
  r.rc = th_run(argv, &r.out, &r.err, 60000);
  if (r.out == NULL)
    r.out = strdup("");
  if (r.err == NULL)
    r.err = strdup("");
  return r;
}

void mctl_free(mctl_result *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

void mctl_expect(const mctl_result *r, int want, const char *what) {
  if (r->rc != want)
    fail_msg("%s: exit %d, expected %d\n--- stdout\n%s\n--- stderr\n%s", what, r->rc, want,
             r->out, r->err);
}

json_object *mctl_json(const mctl_result *r) {
  enum json_tokener_error jerr;
  json_object *o = json_tokener_parse_verbose(r->out, &jerr);
  if (o == NULL)
    fail_msg("not JSON (%s):\n%s\n--- stderr\n%s", json_tokener_error_desc(jerr), r->out, r->err);
  return o;
}

json_object *jpath(json_object *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", path);
  char *save = NULL;
  for (char *part = strtok_r(buf, ".", &save); part != NULL && o != NULL;
       part = strtok_r(NULL, ".", &save)) {
    char *bracket = strchr(part, '[');
    if (bracket != NULL)
      *bracket = '\0';
    if (part[0] != '\0' && !json_object_object_get_ex(o, part, &o))
      return NULL;
    while (bracket != NULL && o != NULL) {
      size_t index = strtoul(bracket + 1, NULL, 10);
      if (!json_object_is_type(o, json_type_array) || index >= json_object_array_length(o))
        return NULL;
      o = json_object_array_get_idx(o, index);
      bracket = strchr(bracket + 1, '[');
    }
  }
  return o;
}

static json_object *need(json_object *o, const char *path, json_type type) {
  json_object *v = jpath(o, path);
  if (v == NULL || !json_object_is_type(v, type))
    fail_msg("JSON %s: missing or not a %s in\n%s", path, json_type_to_name(type),
             json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
  return v;
}

const char *jstr(json_object *o, const char *path) {
  return json_object_get_string(need(o, path, json_type_string));
}

int64_t jint(json_object *o, const char *path) {
  return json_object_get_int64(need(o, path, json_type_int));
}

bool jbool(json_object *o, const char *path) {
  return json_object_get_boolean(need(o, path, json_type_boolean));
}

size_t jlen(json_object *o, const char *path) {
  return json_object_array_length(need(o, path, json_type_array));
}

char *mctl_line_with(const char *s, const char *needle) {
  const char *hit = strstr(s, needle);
  if (hit == NULL)
    return NULL;
  const char *start = hit;
  while (start > s && start[-1] != '\n')
    start--;
  const char *end = strchr(hit, '\n');
  size_t n = end ? (size_t)(end - start) : strlen(start);
  return strndup(start, n);
}

/* The display column where cell `col` of line ends, or -1. */
static long cell_end(const char *line, int col) {
  int cell = -1;
  size_t i = 0, n = strlen(line);
  while (i < n) {
    /* skip a separator (or leading padding) */
    size_t spaces = 0;
    while (i < n && line[i] == ' ') {
      i++;
      spaces++;
    }
    if (i >= n)
      break;
    (void)spaces;
    cell++;
    /* a cell runs until two spaces in a row, or the end */
    size_t start = i;
    while (i < n && !(line[i] == ' ' && i + 1 < n && line[i + 1] == ' ') &&
           !(line[i] == ' ' && i + 1 == n))
      i++;
    if (cell == col) {
      char *prefix = strndup(line, i);
      long w = (long)ctl_text_width(prefix);
      free(prefix);
      return w;
    }
    (void)start;
  }
  return -1;
}

void mctl_expect_aligned_right(const char *out, const char *header, int col) {
  char *head = mctl_line_with(out, header);
  assert_non_null(head);
  long want = cell_end(head, col);
  assert_true(want > 0);
  const char *p = strstr(out, head);
  p = strchr(p, '\n');
  int rows = 0;
  while (p != NULL && p[1] != '\0' && p[1] != '\n') {
    const char *end = strchr(p + 1, '\n');
    char *line = strndup(p + 1, end ? (size_t)(end - p - 1) : strlen(p + 1));
    long got = cell_end(line, col);
    if (got != want)
      fail_msg("column %d ends at %ld, not %ld as in the header:\n%s\n%s", col, got, want, head,
               line);
    free(line);
    rows++;
    p = end;
  }
  assert_true(rows > 0);
  free(head);
}
