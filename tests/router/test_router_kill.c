/*
 * test_router_kill.c - the router is killed with SIGKILL in the middle of a
 * load of handoffs from several client processes, twice, and restarted.
 * Afterwards every handoff answered OK is in the store exactly once with an
 * intact case file, and the clients, retrying with the same request ids,
 * end with every case in the right place and nothing duplicated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mv1.h"
#include "router_proc.h"
#include "world.h"

#define LOADERS 3
#define PER_LOADER 120

static const char *const units[LOADERS] = {"police-studio", "station-wangai", "station-kongque"};
static tw_world world;
static th_proc loaders[LOADERS];

static int count_lines(const char *path) {
  char *text = th_read_file(path);
  int n = 0;
  for (char *p = text; p && *p; p++)
    n += *p == '\n';
  free(text);
  return n;
}

static int total_answered(void) {
  int n = 0;
  for (int i = 0; i < LOADERS; i++) {
    char path[TH_PATH_MAX + 64];
    tr_loader_out(&world, units[i], path, sizeof(path));
    n += count_lines(path);
  }
  return n;
}

static void wait_for_progress(int target) {
  for (int waited = 0; waited < 60000 && total_answered() < target; waited += 20)
    usleep(20 * 1000);
}

static void test_kill_mid_load(void **state) {
  (void)state;
  assert_int_equal(tw_make(&world, "router-kill", NULL, false), 0);
  assert_int_equal(tw_start_router(&world, NULL), 0);
  for (int i = 0; i < LOADERS; i++)
    tr_spawn_loader(&world, &loaders[i], units[i], "marriage-studio", PER_LOADER);
  /* Kill at a third and at two thirds of the load, restart each time. */
  for (int k = 1; k <= 2; k++) {
    wait_for_progress(k * LOADERS * PER_LOADER * 2 / 3);
    th_kill(&world.router);
    print_message("router killed after %d answered steps\n", total_answered());
    usleep(200 * 1000);
    assert_int_equal(tw_start_router(&world, NULL), 0);
  }
  for (int i = 0; i < LOADERS; i++)
    tr_expect_loader_done(&loaders[i], units[i]);

  rpc_client *coord = tw_client(&world, "coordinator", NULL);
  assert_non_null(coord);
  for (int i = 0; i < LOADERS; i++) {
    char path[TH_PATH_MAX + 64];
    tr_loader_out(&world, units[i], path, sizeof(path));
    char *text = th_read_file(path);
    assert_non_null(text);
    int transfers = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      char step[16], id[64];
      int n;
      assert_int_equal(sscanf(line, "%15s %d %63s", step, &n, id), 3);
      if (strcmp(step, "transfer") != 0)
        continue;
      transfers++;
      /* every answered handoff is there, in the right place, its case file whole */
      Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
      req.case_ref = id;
      req.with_timeline = true;
      ProtobufCMessage *reply = NULL;
      mc_err err;
      assert_int_equal(rpc_client_call(coord, &mediation__v1__router__descriptor, "GetCase",
                                       &req.base, NULL, &reply, &err),
                       MC_OK);
      Mediation__V1__GetCaseReply *g = (Mediation__V1__GetCaseReply *)reply;
      assert_int_equal(g->case_record->state, MV_STATE(TRANSFER));
      assert_string_equal(g->case_record->holder, units[i]);
      assert_string_equal(g->case_record->transfer->to_unit, "marriage-studio");
      char ref[32];
      snprintf(ref, sizeof(ref), "L-%d", n);
      assert_string_equal(g->case_record->intake->unit_ref, ref);
      assert_int_equal(g->n_events, 2);
      assert_int_equal(g->events[0]->seq, 1);
      assert_int_equal(g->events[1]->seq, 2);
      assert_int_equal(g->events[1]->action->kind, MV_ACTION(TRANSFER));
      protobuf_c_message_free_unpacked(reply, NULL);
    }
    free(text);
    assert_int_equal(transfers, PER_LOADER);

    /* nothing duplicated: exactly PER_LOADER cases held by the unit */
    Mediation__V1__ListCasesReply *l = tr_list_cases(&world, units[i], 500);
    assert_int_equal(l->n_cases, PER_LOADER);
    assert_string_equal(l->next_cursor, "");
    protobuf_c_message_free_unpacked(&l->base, NULL);
  }

  /* the whole store checks out: chains, replay, indexes, figures */
  tr_verify_clean(&world);
}

static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < LOADERS; i++)
    th_kill(&loaders[i]);
  tw_destroy(&world);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_kill_mid_load, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
