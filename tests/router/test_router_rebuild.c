/*
 * test_router_rebuild.c - [storage] mode = raft: the store is applied
 * without syncs, so a router that finds it untrustworthy must rebuild it
 * from its last checkpoint plus the raft log (router/raftlog.c). Each case
 * here plants what an OS crash or an operator mistake leaves behind, after
 * SIGKILL under load:
 *   - another boot id (MEDIATION_BOOT_ID_FILE, the test hook for
 *     /proc/sys/kernel/random/boot_id): the machine "rebooted" under a
 *     router that ran unsynced;
 *   - an older store (a copy from before the last checkpoint);
 *   - a damaged store (garbage over its first pages);
 *   - a round written in lmdb-sync mode between raft runs, then a reboot.
 * Each time the router must say it rebuilt, and every step answered OK
 * before must be there exactly once, with verify clean.
 */
#include <fcntl.h>
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

#define PER_ROUND 40 /* cases per load round: 80 steps, past a checkpoint (every 64) */

static tw_world world;
static char boot_file[TH_PATH_MAX + 32];
static int rounds_loaded;
static const char *const units[] = {"police-studio", "station-wangai", "station-kongque",
                                    "station-baihe", "marriage-studio"};

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to) {
  const char *argv[] = {"/bin/cp", "-f", from, to, NULL};
  assert_int_equal(th_run(argv, NULL, NULL, 30000), 0);
}

/* One round of load: PER_ROUND cases taken in and handed over by the next
 * unit, every step answered OK. */
static void load_round(void) {
  assert_true(rounds_loaded < (int)(sizeof(units) / sizeof(units[0])));
  const char *unit = units[rounds_loaded++];
  const char *to = strcmp(unit, "marriage-studio") == 0 ? "police-studio" : "marriage-studio";
  th_proc p;
  tr_spawn_loader(&world, &p, unit, to, PER_ROUND);
  tr_expect_loader_done(&p, unit);
}

/* Every round loaded so far is there exactly once, and verify is clean. */
static void check_all(void) {
  for (int i = 0; i < rounds_loaded; i++) {
    Mediation__V1__ListCasesReply *l = tr_list_cases(&world, units[i], 500);
    if (l->n_cases != PER_ROUND)
      fail_msg("%s holds %zu cases, %d were answered", units[i], l->n_cases, PER_ROUND);
    for (size_t c = 0; c < l->n_cases; c++)
      assert_int_equal(l->cases[c]->state, MV_STATE(TRANSFER));
    protobuf_c_message_free_unpacked(&l->base, NULL);
  }
  tr_verify_clean(&world);
}

/* How many times the router's log says it rebuilt the store. */
static int rebuilds(void) {
  return tr_log_count(&world.router, "rebuilding the store");
}

static void restart_expecting_rebuild(int before, const char *why) {
  assert_int_equal(tw_start_router(&world, NULL), 0);
  char *text = th_read_file(world.router.log_path);
  if (rebuilds() != before + 1)
    fail_msg("no rebuild after %s; router log:\n%s", why, text ? text : "");
  if (strstr(text, why) == NULL)
    fail_msg("the rebuild does not say \"%s\"; router log:\n%s", why, text ? text : "");
  free(text);
}

static void test_rebuild(void **state) {
  (void)state;
  setenv("MEDIATION_TEST_STORAGE_MODE", "raft", 1);
  assert_int_equal(tw_make(&world, "router-rebuild", NULL, false), 0);
  snprintf(boot_file, sizeof(boot_file), "%s/boot_id", world.dir.path);
  write_text(boot_file, "boot-one\n");
  setenv("MEDIATION_BOOT_ID_FILE", boot_file, 1);
  const char *data = world.reg->router.data_dir;
  char store[TH_PATH_MAX + 32], older[TH_PATH_MAX + 32];
  snprintf(store, sizeof(store), "%s/data.mdb", data);
  snprintf(older, sizeof(older), "%s/older.mdb", world.dir.path);

  /* A clean stop, then a reboot: no rebuild needed (the store was synced). */
  assert_int_equal(tw_start_router(&world, NULL), 0);
  load_round();
  assert_int_equal(tw_stop_router(&world), 0);
  write_text(boot_file, "boot-two\n");
  assert_int_equal(tw_start_router(&world, NULL), 0);
  assert_int_equal(rebuilds(), 0);
  check_all();

  /* SIGKILL after a round, then a "reboot": rebuilt from checkpoint + log. */
  load_round();
  th_kill(&world.router);
  copy_file(store, older); /* for the next case: what the store was then */
  write_text(boot_file, "boot-three\n");
  int n = rebuilds();
  restart_expecting_rebuild(n, "the machine restarted");
  check_all();

  /* An older store planted after more rounds (past a checkpoint). */
  load_round();
  th_kill(&world.router);
  copy_file(older, store);
  n = rebuilds();
  restart_expecting_rebuild(n, "older than the last checkpoint");
  check_all();

  /* A damaged store: its first pages overwritten. */
  load_round();
  th_kill(&world.router);
  int fd = open(store, O_WRONLY);
  assert_true(fd >= 0);
  static char garbage[16384];
  memset(garbage, 0x5a, sizeof(garbage));
  assert_int_equal(pwrite(fd, garbage, sizeof(garbage), 0), (ssize_t)sizeof(garbage));
  close(fd);
  n = rebuilds();
  restart_expecting_rebuild(n, "fails its check");
  check_all();

  /* Back to lmdb-sync for a round, then raft again, then a "reboot": the
   * rebuild must not start from the checkpoint made before the lmdb-sync
   * round (it would lose that round). */
  assert_int_equal(tw_stop_router(&world), 0);
  const char *sync_args[] = {"--storage-mode", "lmdb-sync", NULL};
  assert_int_equal(tw_start_router(&world, sync_args), 0);
  load_round();
  assert_int_equal(tw_stop_router(&world), 0);
  assert_int_equal(tw_start_router(&world, NULL), 0);
  th_kill(&world.router);
  write_text(boot_file, "boot-four\n");
  n = rebuilds();
  restart_expecting_rebuild(n, "the machine restarted");
  check_all();
}

static int teardown(void **state) {
  (void)state;
  tw_destroy(&world);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_rebuild, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
