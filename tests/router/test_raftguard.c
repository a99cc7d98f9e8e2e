/*
 * test_raftguard.c - router/raftguard.c, the raft_io wrapper that keeps a
 * raft 0.15 follower from acknowledging or committing a stale tail, case by
 * case: each place raft 0.15 answers an AppendEntries (the opening comment
 * of raftguard.c, cases a-e) is played here the way raft plays it (the
 * answer sent inside the receive, or later from a write's callback), over a
 * recording inner io, and the answer that reaches the inner io is checked.
 * test_raft_sim shows the guard on real raft (seeds 15 and 646 of
 * --fixture-kill); this test pins the cases the seeds may not reach, the
 * answer after a term change above all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "router/raftguard.h"

/* ---- a recording inner io ------------------------------------------------ */

static struct raft_io inner;
static raft_io_recv_cb inner_recv; /* what the guard gave the inner io */
static struct raft_message sent;  /* the last message the inner io got */
static int n_sent, n_appends, n_puts;
static int fail_next; /* the next send fails with this code and an errmsg */

static int in_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                    raft_io_recv_cb recv) {
  (void)io, (void)msecs, (void)tick;
  inner_recv = recv;
  return 0;
}

static int in_send(struct raft_io *io, struct raft_io_send *req,
                   const struct raft_message *m, raft_io_send_cb cb) {
  (void)req, (void)cb;
  if (fail_next != 0) {
    int rv = fail_next;
    fail_next = 0;
    strcpy(io->errmsg, "no route to server 2");
    return rv;
  }
  sent = *m;
  n_sent++;
  return 0;
}

static int in_append(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb) {
  (void)io, (void)req, (void)entries, (void)n, (void)cb;
  n_appends++;
  return 0;
}

static int in_snapshot_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb) {
  (void)io, (void)trailing, (void)req, (void)snapshot, (void)cb;
  n_puts++;
  return 0;
}

/* ---- raft, played: what it does inside a receive ------------------------- */

static struct raft raft;
static rl_guard guard;

enum act { NOTHING, ANSWER, APPEND, INSTALL, OWN_SNAPSHOT };
static enum act act;
static raft_term answer_term;         /* raft's current term when it answers */
static raft_index answer_rejected, answer_last; /* rejected 0: success; last: last_stored */
static raft_index commit_seen;        /* leader_commit as raft saw it */

/* Sends an AppendEntriesResult through the guard, as sendAppendEntriesResult
 * and recvAppendEntries do. */
static int answer(raft_id to, raft_term term, raft_index rejected, raft_index last) {
  struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES_RESULT, .server_id = to,
                           .server_address = "peer"};
  m.append_entries_result.term = term;
  m.append_entries_result.rejected = rejected;
  m.append_entries_result.last_log_index = last;
  static struct raft_io_send req;
  return raft.io->send(raft.io, &req, &m, NULL);
}

static void raft_recv(struct raft_io *io, struct raft_message *m) {
  assert_ptr_equal(io->data, &raft); /* raft finds itself through io->data */
  if (m->type == RAFT_IO_APPEND_ENTRIES)
    commit_seen = m->append_entries.leader_commit;
  static struct raft_io_append areq;
  static struct raft_io_snapshot_put preq;
  switch (act) {
  case ANSWER:
    assert_int_equal(answer(m->server_id, answer_term, answer_rejected, answer_last), 0);
    break;
  case APPEND:
    assert_int_equal(raft.io->append(raft.io, &areq, NULL, 1, NULL), 0);
    break;
  case INSTALL:
    assert_int_equal(raft.io->snapshot_put(raft.io, 0, &preq, NULL, NULL), 0);
    break;
  case OWN_SNAPSHOT:
    assert_int_equal(raft.io->snapshot_put(raft.io, 128, &preq, NULL, NULL), 0);
    break;
  case NOTHING:
    break;
  }
}

static void append_entries(raft_id from, raft_term term, raft_index prev, unsigned n,
                           raft_index commit, enum act what) {
  struct raft_message m = {.type = RAFT_IO_APPEND_ENTRIES, .server_id = from,
                           .server_address = "peer"};
  m.append_entries.term = term;
  m.append_entries.prev_log_index = prev;
  m.append_entries.prev_log_term = term;
  m.append_entries.n_entries = n;
  m.append_entries.leader_commit = commit;
  act = what;
  inner_recv(&inner, &m);
  act = NOTHING;
}

static void install_snapshot(raft_id from, raft_term term, raft_index last, enum act what) {
  struct raft_message m = {.type = RAFT_IO_INSTALL_SNAPSHOT, .server_id = from,
                           .server_address = "peer"};
  m.install_snapshot.term = term;
  m.install_snapshot.last_index = last;
  act = what;
  inner_recv(&inner, &m);
  act = NOTHING;
}

static int setup(void **state) {
  (void)state;
  memset(&inner, 0, sizeof(inner));
  memset(&raft, 0, sizeof(raft));
  inner = (struct raft_io){.version = 1, .start = in_start, .send = in_send,
                           .append = in_append, .snapshot_put = in_snapshot_put};
  n_sent = n_appends = n_puts = fail_next = 0;
  act = NOTHING;
  raft.io = &inner;
  inner.data = &raft;
  rl_guard_attach(&guard, &raft);
  assert_ptr_equal(raft.io, &guard.io);
  assert_int_equal(raft.io->start(raft.io, 100, NULL, raft_recv), 0);
  return 0;
}

/* Case a, seed 15's: the new leader's first, empty AppendEntries (prev 64)
 * reaches a follower that stored 65-66 under the old leader; raft answers
 * "success, last 66"; the leader must hear 64. */
static void stale_tail_heartbeat(void **state) {
  (void)state;
  answer_term = 8, answer_rejected = 0, answer_last = 66;
  append_entries(2, 8, 64, 0, 64, ANSWER);
  assert_int_equal(n_sent, 1);
  assert_int_equal(sent.append_entries_result.rejected, 0);
  assert_int_equal(sent.append_entries_result.last_log_index, 64);
  assert_int_equal(sent.append_entries_result.term, 8);
  assert_int_equal(sent.server_id, 2);
  assert_int_equal(guard.n_results_clamped, 1);
  /* nothing to lower when raft's own answer is within what was checked */
  answer_last = 60;
  append_entries(2, 8, 64, 0, 64, ANSWER);
  assert_int_equal(sent.append_entries_result.last_log_index, 60);
  assert_int_equal(guard.n_results_clamped, 1);
}

/* The commit index: leader_commit above prev + n reaches raft lowered. */
static void commit_lowered(void **state) {
  (void)state;
  append_entries(2, 8, 64, 0, 70, NOTHING);
  assert_int_equal(commit_seen, 64);
  append_entries(2, 8, 64, 3, 70, APPEND);
  assert_int_equal(commit_seen, 67);
  append_entries(2, 8, 64, 10, 70, APPEND);
  assert_int_equal(commit_seen, 70);
  assert_int_equal(guard.n_commits_clamped, 2);
}

/* Case b: entries written for an accepted request are answered once the
 * write is done (outside any receive): up to that request's prev + n. */
static void answer_after_write(void **state) {
  (void)state;
  append_entries(2, 8, 64, 4, 64, APPEND);
  assert_int_equal(n_appends, 1);
  assert_int_equal(n_sent, 0);
  assert_int_equal(answer(2, 8, 0, 68), 0); /* appendFollowerCb */
  assert_int_equal(sent.append_entries_result.last_log_index, 68);
  assert_int_equal(guard.n_results_clamped, 0);
  /* a write that completes with the older stale entries after it stored */
  assert_int_equal(answer(2, 8, 0, 75), 0);
  assert_int_equal(sent.append_entries_result.last_log_index, 68);
}

/* Case b after a term change: the old leader's entries 11-12 finish
 * writing after the new leader (term 6, log to 10) was heard; raft answers
 * the new leader "term 6, success, last 12". The new leader must hear 10. */
static void answer_after_term_change(void **state) {
  (void)state;
  append_entries(1, 5, 10, 2, 10, APPEND);  /* A, term 5: 11-12, write under way */
  answer_term = 6, answer_rejected = 0, answer_last = 10;
  append_entries(2, 6, 10, 0, 10, ANSWER);  /* B's heartbeat: nothing stored past 10 yet */
  assert_int_equal(sent.append_entries_result.last_log_index, 10);
  assert_int_equal(answer(2, 6, 0, 12), 0); /* A's write done: appendFollowerCb */
  assert_int_equal(sent.append_entries_result.last_log_index, 10);
  assert_int_equal(sent.append_entries_result.term, 6);
  /* and before B was heard at all: nothing is known of term 7 */
  assert_int_equal(answer(3, 7, 0, 12), 0);
  assert_int_equal(sent.append_entries_result.last_log_index, 0);
}

/* Case e: a request of a lower term with prev_log_index 0 is "rejected"
 * with rejected = 0; its sender, leader again in our term, must not count
 * our log. */
static void lower_term_prev_zero(void **state) {
  (void)state;
  append_entries(2, 6, 10, 0, 10, NOTHING); /* B leads term 6: nothing answered, not accepted */
  answer_term = 6, answer_rejected = 0, answer_last = 40;
  append_entries(1, 4, 0, 3, 0, ANSWER);
  assert_int_equal(sent.append_entries_result.term, 6);
  assert_int_equal(sent.append_entries_result.last_log_index, 0);
}

/* A rejection passes unchanged (its last_log_index helps the leader
 * back up); an ignored request (snapshot being installed) is not accepted. */
static void rejections_untouched(void **state) {
  (void)state;
  answer_term = 6, answer_rejected = 30, answer_last = 25;
  append_entries(2, 6, 30, 2, 30, ANSWER);
  assert_int_equal(sent.append_entries_result.rejected, 30);
  assert_int_equal(sent.append_entries_result.last_log_index, 25);
  append_entries(2, 6, 40, 5, 40, NOTHING);
  assert_int_equal(answer(2, 6, 0, 45), 0);
  assert_int_equal(sent.append_entries_result.last_log_index, 0);
}

/* Cases c and d: an installed snapshot (written: snapshot_put with no
 * trailing) or one not needed (answered at once) counts up to its last
 * index; a snapshot of our own taken inside a receive does not count. */
static void snapshots(void **state) {
  (void)state;
  install_snapshot(2, 6, 100, INSTALL);
  assert_int_equal(n_puts, 1);
  assert_int_equal(answer(2, 6, 0, 100), 0); /* installSnapshotCb */
  assert_int_equal(sent.append_entries_result.last_log_index, 100);
  answer_term = 7, answer_rejected = 0, answer_last = 120;
  install_snapshot(3, 7, 120, ANSWER); /* "have all entries": answers its last_index */
  assert_int_equal(sent.append_entries_result.last_log_index, 120);
  append_entries(3, 7, 200, 0, 200, OWN_SNAPSHOT); /* not accepted; a commit's snapshot */
  assert_int_equal(answer(3, 7, 0, 210), 0);
  assert_int_equal(sent.append_entries_result.last_log_index, 120);
}

/* raft reads io->errmsg after a failed call: the inner io's reaches it. */
static void errors_passed_on(void **state) {
  (void)state;
  fail_next = RAFT_NOCONNECTION;
  assert_int_equal(answer(2, 6, 0, 1), RAFT_NOCONNECTION);
  assert_string_equal(raft.io->errmsg, "no route to server 2");
  assert_ptr_equal(raft.io->impl, inner.impl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(stale_tail_heartbeat, setup),
      cmocka_unit_test_setup(commit_lowered, setup),
      cmocka_unit_test_setup(answer_after_write, setup),
      cmocka_unit_test_setup(answer_after_term_change, setup),
      cmocka_unit_test_setup(lower_term_prev_zero, setup),
      cmocka_unit_test_setup(rejections_untouched, setup),
      cmocka_unit_test_setup(snapshots, setup),
      cmocka_unit_test_setup(errors_passed_on, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
