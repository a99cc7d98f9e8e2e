/*
 * test_store_crash.c - a writer killed with SIGKILL at random moments, 60
 * times, loses no batch whose commit returned and leaves no part of any
 * other.
 *
 * The child (crash_child.c, a separate program: no LMDB environment ever
 * crosses a fork) writes batches and reports each batch number on a pipe
 * only after st_write_batch returned and the outbox push after it did. So
 * after a kill the parent may conclude:
 *   - every reported batch is in the store whole, and in the outbox;
 *   - the batch after the last reported one may be in or not (the kill may
 *     have come between the commit and the report), but whole or not at all;
 *   - the one after that was never begun.
 * (The outbox push of a batch in doubt may be lost with it: only reported
 * batches must be in the outbox.)
 * Each check asks op by op (an idempotency reply per op); then verify must
 * find the store consistent (case files, indexes, figures, counters). The
 * next child continues from the first batch not in the store. The map
 * starts tiny, so some kills land while it grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crash.h"
#include "sf.h"

#define KILLS 60

static bool op_present(st_store *s, uint64_t b, int j) {
  char rid[64];
  crash_request_id(b, j, rid, sizeof(rid));
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  st_idem_reply *r = NULL;
  mc_code rc = st_idem_get(t, (const uint8_t *)rid, strlen(rid), &r, &err);
  bool present = rc == MC_OK;
  if (rc != MC_OK && rc != MC_NOT_FOUND)
    fail_msg("idem get %s: %s", rid, err.msg);
  if (present) {
    /* The reply names a case whose file holds the op's event. */
    char id[MC_CASE_ID_MAX];
    snprintf(id, sizeof(id), "%.*s", (int)r->payload.len, (const char *)r->payload.data);
    mv_event **evs;
    size_t n;
    assert_int_equal(st_events_get(t, id, &evs, &n, &err), MC_OK);
    bool found = false;
    for (size_t i = 0; i < n; i++)
      found = found || (evs[i]->request_id.len == strlen(rid) &&
                        memcmp(evs[i]->request_id.data, rid, strlen(rid)) == 0);
    assert_true(found);
    st_messages_free(evs, n);
    protobuf_c_message_free_unpacked(&r->base, NULL);
  }
  st_read_end(t);
  return present;
}

/* How many of batch b's ops are in the store. */
static int ops_present(st_store *s, uint64_t b) {
  int n = 0;
  for (int j = 0; j < crash_ops(b); j++)
    n += op_present(s, b, j);
  return n;
}

static void outbox_ids(const char *dir, bool *seen, uint64_t max) {
  st_outbox_options o = {.dir = dir, .unit = SF_POLICE};
  st_outbox *ob;
  mc_err err = {0};
  assert_int_equal(st_outbox_open(&o, &ob, &err), MC_OK);
  st_txn *t;
  assert_int_equal(st_outbox_read_begin(ob, &t, &err), MC_OK);
  uint64_t after = 0;
  for (;;) {
    st_outbox_entry **es;
    size_t n;
    assert_int_equal(st_ob_list(t, after, 1000, &es, &n, &err), MC_OK);
    for (size_t i = 0; i < n; i++) {
      unsigned long long b = 0;
      char rid[32];
      snprintf(rid, sizeof(rid), "%.*s", (int)es[i]->request_id.len,
               (const char *)es[i]->request_id.data);
      assert_int_equal(sscanf(rid, "b%llu", &b), 1);
      if (b <= max)
        seen[b] = true;
      after = es[i]->seq;
    }
    st_messages_free(es, n);
    if (n < 1000)
      break;
  }
  st_read_end(t);
  st_outbox_close(ob);
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void test_kill_loop(void **state) {
  (void)state;
  char *dir = sf_tmpdir();
  char *store_dir = sf_path(dir, "store");
  char *ob_dir = sf_path(dir, "outbox");
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  print_message("seed %u\n", seed);
  srand(seed);
  uint64_t next = 1, reported_total = 0;
  int in_doubt_committed = 0, in_doubt_absent = 0;
  enum { MAX_BATCHES = 1 << 20 };
  bool *in_outbox = calloc(MAX_BATCHES, sizeof(bool));
  bool *reported = calloc(MAX_BATCHES, sizeof(bool));
  assert_non_null(in_outbox);
  assert_non_null(reported);
  for (int kill_no = 0; kill_no < KILLS; kill_no++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char first[32];
    snprintf(first, sizeof(first), "%llu", (unsigned long long)next);
    /* No store or outbox is open here: nothing of LMDB crosses the fork,
     * and the child execs at once. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      execl(CRASH_CHILD, CRASH_CHILD, store_dir, ob_dir, first, (char *)NULL);
      _exit(127);
    }
    close(fds[1]);
    /* Mostly in the middle of the work: once the child has reported its
     * first batch (so every such kill interrupts work, however slowly a
     * loaded or sanitized machine starts the child), after a random delay;
     * sometimes during start-up. */
    char buf[1 << 16];
    size_t len = 0;
    ssize_t r;
    unsigned delay;
    if (rand() % 8 == 0) {
      delay = (unsigned)(rand() % 4);
    } else {
      struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
      if (poll(&pfd, 1, 10000) > 0 && (r = read(fds[0], buf, sizeof(buf) - 1)) > 0)
        len = (size_t)r;
      delay = (unsigned)(rand() % 40);
    }
    sleep_ms(delay);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
      fail_msg("the child ended by itself (status %d): see its stderr", status);

    /* What it reported, in order from `next`. */
    while ((r = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
      len += (size_t)r;
    close(fds[0]);
    buf[len] = '\0';
    uint64_t last = next - 1;
    for (char *line = buf, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
      *nl = '\0';
      uint64_t b = strtoull(line, NULL, 10);
      assert_int_equal(b, last + 1);
      assert_true(b < MAX_BATCHES);
      reported[b] = true;
      last = b;
    }
    reported_total += last - (next - 1);
    assert_true(last + 2 < MAX_BATCHES);

    st_store *s = sf_open(store_dir, 0, 0);
    for (uint64_t b = next; b <= last; b++)
      if (ops_present(s, b) != crash_ops(b))
        fail_msg("kill %d: reported batch %llu is not whole in the store", kill_no,
                 (unsigned long long)b);
    int doubt = ops_present(s, last + 1);
    if (doubt != 0 && doubt != crash_ops(last + 1))
      fail_msg("kill %d: batch %llu is partly in the store (%d of %d ops)", kill_no,
               (unsigned long long)(last + 1), doubt, crash_ops(last + 1));
    assert_int_equal(ops_present(s, last + 2), 0);
    sf_verify_clean(s);
    st_close(s);
    if (doubt)
      in_doubt_committed++;
    else
      in_doubt_absent++;

    outbox_ids(ob_dir, in_outbox, last + 1);
    for (uint64_t b = 1; b <= last; b++)
      if (reported[b] && !in_outbox[b])
        fail_msg("kill %d: reported batch %llu is not in the outbox", kill_no,
                 (unsigned long long)b);
    next = doubt ? last + 2 : last + 1;
  }
  print_message("%d kills, %llu batches reported; the batch in doubt had committed %d times, "
                "not %d times\n",
                KILLS, (unsigned long long)reported_total, in_doubt_committed, in_doubt_absent);
  assert_true(reported_total >= KILLS);
  free(in_outbox);
  free(reported);
  sf_rmrf(dir);
  free(store_dir);
  free(ob_dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_kill_loop)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
