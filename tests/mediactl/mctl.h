/*
 * mctl.h - running mediactl in tests the way a user does: the built binary,
 * a command line, its exit code, stdout and stderr; and reading its --json
 * output with json-c by path ("case_record.intake.parties[0].phone").
 */
#ifndef TESTS_MCTL_H
#define TESTS_MCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

typedef struct mctl_result {
  int rc;
  char *out; /* stdout, NUL-terminated, never NULL */
  char *err; /* stderr */
} mctl_result;

/* Runs `mediactl --config conf args...` (conf may be NULL: no --config).
 * args ends with NULL. The result's buffers are freed by mctl_free. */
mctl_result mctl_run(const char *conf, const char *const *args);
#define MCTL(conf, ...) mctl_run((conf), (const char *const[]){__VA_ARGS__, NULL})
void mctl_free(mctl_result *r);

/* Fails the test (printing both outputs) unless the exit code is want. */
void mctl_expect(const mctl_result *r, int want, const char *what);

/* Fails the test unless hay contains needle (CONTAINS) or lacks it
 * (LACKS). For use in cmocka tests that include <string.h>. */
#define CONTAINS(hay, needle)                                                                     \
  do {                                                                                            \
    if (strstr((hay), (needle)) == NULL)                                                          \
      fail_msg("expected \"%s\" in:\n%s", (needle), (hay));                                       \
  } while (0)
#define LACKS(hay, needle)                                                                        \
  do {                                                                                            \
    if (strstr((hay), (needle)) != NULL)                                                          \
      fail_msg("did not expect \"%s\" in:\n%s", (needle), (hay));                                 \
  } while (0)

/* Parses stdout as JSON; fails the test if it is not. Caller puts it. */
json_object *mctl_json(const mctl_result *r);

/* A value by path: keys separated by '.', array elements as [n]. NULL if absent
 * (or JSON null). */
json_object *jpath(json_object *o, const char *path);
/* The same, failing the test if absent or of the wrong type. */
const char *jstr(json_object *o, const char *path);
int64_t jint(json_object *o, const char *path);
bool jbool(json_object *o, const char *path);
size_t jlen(json_object *o, const char *path); /* array length */

/* Lines of text whose display columns line up: for each line of out from the
 * one containing `header` while lines are non-empty, splits cells on runs of
 * two or more spaces and checks that cell `col` (0-based) ends at the same
 * display column as in the header line. Fails the test otherwise. */
void mctl_expect_aligned_right(const char *out, const char *header, int col);

/* A copy of the first line of s containing needle (caller frees), or NULL. */
char *mctl_line_with(const char *s, const char *needle);

#endif
