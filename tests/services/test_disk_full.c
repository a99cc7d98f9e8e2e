/*
 * test_disk_full.c - the router's disk full: queued steps stay queued, are
 * retried, and drain exactly once when space returns (issue 13.2).
 *
 * The router's store lives on a small filesystem of its own, mounted here
 * (the test runs as root; without the right to mount it says so and
 * skips): a 16 MiB tmpfs, then a 16 MiB ext4 on a loop device. A filler
 * file takes every byte left, so the router's commits fail with exactly
 * ENOSPC. A community station then takes cases in (its policy adds
 * an automatic assign to each) and starts mediation on cases the router
 * already has. The router must refuse those writes as "not applied, retry"
 * (UNAVAILABLE, saying the disk is full) and its Health must say
 * NOT_SERVING with the reason; the station must keep every step queued, with
 * no conflict, however many times it retries. Then the filler goes: the
 * station's outbox drains, Health is SERVING again, and every case file at
 * the router holds each step exactly once.
 *
 * Before the fix the router answered RESOURCE_EXHAUSTED ("No space left on
 * device"), which the station took for a refusal of the step itself: the
 * steps became conflicts and were never applied.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "desk.h"
#include "router_proc.h"

#define STATION "station-wangai"
#define BEFORE 2  /* cases taken in while there is room */
#define DURING 4  /* cases taken in while the disk is full */
#define WAIT_MS 30000
#define A(x) MV_ACTION(x)

static const ts_daemon daemons[] = {{"community-station", STATION}};

static char mnt[64];    /* the router's own small filesystem */
static bool mounted;
static char image[96];  /* ext4: its loop device's backing file ("" for tmpfs) */
static char filler[96]; /* the file that takes its last byte */

/* Mounts the small filesystem (tmpfs, or ext4 on a loop device) and starts
 * the router on it. */
static int start_on(bool ext4) {
  snprintf(mnt, sizeof(mnt), "/tmp/mediation-diskfull-XXXXXX");
  image[0] = '\0';
  if (mkdtemp(mnt) == NULL)
    return -1;
  int rc = -1;
  if (!ext4) {
    rc = mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0700");
  } else {
    snprintf(image, sizeof(image), "%s.img", mnt);
    rc = tr_disk_mount(image, mnt);
  }
  if (rc != 0) {
    fprintf(stderr, "cannot mount a small %s at %s (%s): this test needs root\n",
            ext4 ? "ext4" : "tmpfs", mnt, strerror(errno));
    if (image[0] != '\0')
      unlink(image);
    rmdir(mnt);
    return 0; /* the test skips */
  }
  mounted = true;
  snprintf(filler, sizeof(filler), "%s/filler", mnt);
  char conf[256];
  snprintf(conf, sizeof(conf), "[router]\ndata_dir = %s/store\nmap_mib = 8\n", mnt);
  return ts_start("diskfull", conf, daemons, 1);
}

static int setup_tmpfs(void **state) {
  (void)state;
  return start_on(false);
}

static int setup_ext4(void **state) {
  (void)state;
  return start_on(true);
}

/* Always: the daemons stop, the filesystem goes. */
static int teardown(void **state) {
  (void)state;
  int rc = 0;
  if (mounted) {
    rc = ts_stop();
    tr_disk_unmount(mnt, filler);
    mounted = false;
  }
  if (image[0] != '\0')
    unlink(image); /* the loop device is freed with its last mount */
  if (mnt[0] != '\0')
    rmdir(mnt);
  mnt[0] = image[0] = '\0';
  return rc;
}

/* The router's log line for each commit that failed (router/writer.c): one
 * per write the station sends while the disk is full. */
#define FAILED_COMMIT " writes failed: "
/* The forwarder's longest backoff is 5 s (UN_BACKOFF_MAX_MS); room for a
 * slow machine (valgrind) on top. */
#define RETRY_WAIT_MS 20000

/* True once the router's log has more failed commits than *arg. */
static bool retried_since(const void *arg) {
  return tr_log_count(&ts_world.router, FAILED_COMMIT) > *(const int *)arg;
}

static void free_msg(void *m) {
  if (m != NULL)
    protobuf_c_message_free_unpacked(m, NULL);
}

static Mediation__V1__DeskReply *take_in(int64_t money_fen) {
  ts_intake t;
  ts_intake_init(&t, MV_KIND(NEIGHBOUR), "wangai", 2, money_fen);
  return ts_take_in(STATION, &t.in, NULL, NULL);
}

static void queued_steps_survive_a_full_disk(void) {
  if (!mounted)
    skip();
  static const mv_action_kind taken[] = {A(TAKE_IN), A(ASSIGN)};
  static const mv_action_kind taken_and_met[] = {A(TAKE_IN), A(ASSIGN), A(START_MEDIATION)};
  char ids[BEFORE][32];
  for (int i = 0; i < BEFORE; i++) {
    Mediation__V1__DeskReply *r = take_in(500000 + i);
    ts_expect_applied(r, 2);
    snprintf(ids[i], sizeof(ids[i]), "%s", r->case_record->id);
    free_msg(r);
  }

  tr_disk_fill(filler);
  /* LMDB reuses the pages it freed before it grows its file: commits go on
   * for a while. Cases are taken in until one is not applied; from then on
   * every commit fails, and the station queues every step (the first call
   * waits for the router's answer, the rest are told QUEUED at once). */
  int applied_while_full = 0;
  Mediation__V1__DeskReply *first = NULL;
  for (; applied_while_full < 500; applied_while_full++) {
    first = take_in(700000 + applied_while_full);
    if (first->steps[0]->disposition != MV_DISPOSITION(APPLIED))
      break;
    ts_expect_applied(first, 2);
    free_msg(first);
    first = NULL;
  }
  assert_non_null(first);
  fprintf(stderr, "%d cases applied in freed pages before the first commit failed\n",
          applied_while_full);
  char refs[DURING][32];
  for (int i = 0; i < DURING; i++) {
    Mediation__V1__DeskReply *r = i == 0 ? first : take_in(600000 + i);
    ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), MV_DISPOSITION(QUEUED)},
                                   {A(ASSIGN), MV_DISPOSITION(QUEUED)}},
                    2);
    snprintf(refs[i], sizeof(refs[i]), "%s", r->case_record->intake->unit_ref);
    free_msg(r);
  }
  for (int i = 0; i < BEFORE; i++) {
    Mediation__V1__DeskReply *r = ts_act_simple(STATION, ids[i], A(START_MEDIATION), NULL);
    ts_expect_steps(r, (ts_step[]){{A(START_MEDIATION), MV_DISPOSITION(QUEUED)}}, 1);
    free_msg(r);
  }
  Mediation__V1__HealthCheckReply *h = tr_router_health(&ts_world);
  assert_int_equal(h->status, MEDIATION__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING);
  fprintf(stderr, "router health while full: %s\n", h->detail);
  assert_non_null(strstr(h->detail, "out of space"));
  free_msg(h);

  /* A while full: the station retries and keeps it all. Each retry is one
   * failed commit in the router's log; waited for is a retry after every
   * step above was queued, so one that no new step prompted: the
   * forwarder's own, at its longest backoff (5 s). */
  int failed = tr_log_count(&ts_world.router, FAILED_COMMIT);
  int64_t waited = mc_mono_ms();
  if (!ts_poll(retried_since, &failed, RETRY_WAIT_MS))
    fail_msg("the station did not retry within %d ms with the disk full (%d failed commits in "
             "the router's log)", RETRY_WAIT_MS, failed);
  fprintf(stderr, "the station retried %lld ms after the last step was queued\n",
          (long long)(mc_mono_ms() - waited));
  Mediation__V1__DeskConflictsReply *c = ts_conflicts(STATION);
  assert_int_equal(c->n_conflicts, 0);
  assert_int_equal(c->outbox_pending, 2 * DURING + BEFORE);
  free_msg(c);
  h = tr_router_health(&ts_world);
  assert_int_equal(h->status, MEDIATION__V1__SERVING_STATUS__SERVING_STATUS_NOT_SERVING);
  free_msg(h);

  /* Space returns: everything drains, once. */
  assert_int_equal(unlink(filler), 0);
  int64_t t0 = mc_mono_ms();
  ts_wait_outbox_empty(STATION, WAIT_MS);
  fprintf(stderr, "drained %d queued steps %lld ms after space returned\n", 2 * DURING + BEFORE,
          (long long)(mc_mono_ms() - t0));
  c = ts_conflicts(STATION);
  assert_int_equal(c->n_conflicts, 0);
  free_msg(c);
  h = tr_router_health(&ts_world);
  assert_int_equal(h->status, MEDIATION__V1__SERVING_STATUS__SERVING_STATUS_SERVING);
  free_msg(h);

  for (int i = 0; i < BEFORE; i++)
    free_msg(ts_expect_file(ids[i], taken_and_met, 3, NULL, 0, 1));
  Mediation__V1__ListCasesReply *l = tr_list_cases(&ts_world, STATION, 100);
  assert_int_equal(l->n_cases, BEFORE + applied_while_full + DURING);
  for (int i = 0; i < DURING; i++) {
    const Mediation__V1__CaseSummary *found = tr_case_once(l, refs[i]);
    assert_int_equal(found->money_fen, i == 0 ? 700000 + applied_while_full : 600000 + i);
    free_msg(ts_expect_file(found->id, taken, 2, NULL, 0, 1));
  }
  free_msg(l);
}

static void test_full_tmpfs(void **state) {
  (void)state;
  queued_steps_survive_a_full_disk();
}

static void test_full_ext4(void **state) {
  (void)state;
  queued_steps_survive_a_full_disk();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_full_tmpfs, setup_tmpfs, teardown),
      cmocka_unit_test_setup_teardown(test_full_ext4, setup_ext4, teardown),
  };
  return cmocka_run_group_tests_name("the router's disk full", tests, NULL, NULL);
}
