/*
 * test_mediactl_partial.c - a Desk that could take the operator's step but
 * not the step its policy adds says so, and mediactl does not exit 0
 * (issue 13.4), against the real daemons.
 *
 * 孔雀社区工作站 is deployed without a mediator on its roster, so its
 * policy cannot assign one to a case it takes in. The intake itself is
 * applied; the reply must carry the policy's step as refused (NOT_FOUND,
 * saying who is missing), and `mediactl intake` must print it and exit 6,
 * not leave a case without a mediator behind a success.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mctl.h"
#include "world.h"

#define STATION "station-kongque"

static tw_world world;

/* Drops the station's member lines from the deployment's configuration. */
static int strip_roster(const char *conf) {
  char *text = th_read_file(conf);
  if (text == NULL)
    return -1;
  FILE *f = fopen(conf, "w");
  if (f == NULL) {
    free(text);
    return -1;
  }
  bool in_station = false;
  for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    if (line[0] == '[')
      in_station = strcmp(line, "[unit " STATION "]") == 0;
    if (in_station && strncmp(line, "member", 6) == 0)
      continue;
    fprintf(f, "%s\n", line);
  }
  free(text);
  return fclose(f) == 0 ? 0 : -1;
}

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "mediactl-partial", NULL, false) != 0 || strip_roster(world.conf) != 0 ||
      tw_start_router(&world, NULL) != 0 ||
      tw_start_unit(&world, "community-station", STATION) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int bad = tw_stop_unit(&world, STATION) != 0;
  bad |= tw_stop_router(&world) != 0;
  tw_destroy(&world);
  return bad ? -1 : 0;
}

static void test_intake_without_a_mediator_is_partly_done(void **state) {
  (void)state;
  mctl_result r = MCTL(world.conf, "--unit", STATION, "intake", "--kind", "neighbour",
                       "--community", "kongque", "--source", "walk_in", "--party",
                       "applicant:某甲", "--party", "respondent:某乙", "--summary", "邻里噪音",
                       "--person", "值班员");
  mctl_expect(&r, 6, "intake, no mediator to assign");
  CONTAINS(r.out, "受理（take_in）");
  CONTAINS(r.out, "：已生效");
  CONTAINS(r.out, "  单位规则 后续步骤（policy）：被拒绝：NOT_FOUND：");
  CONTAINS(r.err, "mediactl: partly done: 1 step(s) the unit's policy added were refused, first "
                  "policy: NOT_FOUND: [unit station-kongque] has no member lines");
  mctl_free(&r);

  r = MCTL(world.conf, "--unit", STATION, "--json", "intake", "--kind", "neighbour",
           "--community", "kongque", "--source", "walk_in", "--party", "applicant:某丙",
           "--summary", "邻里噪音", "--person", "值班员");
  mctl_expect(&r, 6, "intake --json");
  json_object *j = mctl_json(&r);
  assert_int_equal(jlen(j, "steps"), 2);
  assert_string_equal(jstr(j, "steps[0].disposition"), "applied");
  assert_string_equal(jstr(j, "steps[1].disposition"), "refused");
  assert_string_equal(jstr(j, "steps[1].code"), "NOT_FOUND");
  assert_string_equal(jstr(j, "steps[1].action.kind"), "unspecified");
  json_object_put(j);
  mctl_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_intake_without_a_mediator_is_partly_done),
  };
  return cmocka_run_group_tests_name("mediactl: partial results", tests, setup, teardown);
}
