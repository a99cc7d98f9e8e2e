/*
 * raftguard.h - a struct raft_io that wraps another (raft_uv in the
 * router, raft_fixture's io in test_raft_sim) and keeps a follower of
 * canonical raft 0.15 from acknowledging, or committing, a stale tail of
 * its log (docs/architecture.md, Traps: "raft 0.15 acknowledges a stale
 * tail"). It lives at raft's I/O boundary because Debian's libraft 0.15
 * cannot be patched where it is installed. raftguard.c says why the bound
 * it applies is safe.
 */
#ifndef RT_RAFTGUARD_H
#define RT_RAFTGUARD_H

#include <stdint.h>

#include <raft.h>

/* The last receive being handled (see raftguard.c); the guard's own. */
typedef struct rl_guard_window {
  raft_term term; /* the request's term */
  raft_id from;   /* its sender */
  raft_index bound; /* its prev_log_index + n_entries, or a snapshot's last index */
  int type;       /* RAFT_IO_APPEND_ENTRIES or RAFT_IO_INSTALL_SNAPSHOT */
} rl_guard_window;

typedef struct rl_guard {
  struct raft_io io; /* what raft holds: its impl is the inner io's, for raft_fixture */
  struct raft_io *inner;
  raft_io_recv_cb recv_cb; /* raft's */
  const rl_guard_window *win; /* the receive under way, NULL outside one */
  /* What this node knows matches the leader's log: every entry up to bound
   * is the one leader `leader` holds in term `term` (0: nothing known). */
  raft_term term;
  raft_id leader;
  raft_index bound;
  /* How often the guard changed what raft said (tests print them). */
  uint64_t n_results_clamped, n_commits_clamped;
} rl_guard;

/* Makes g->io forward every raft_io function to inner, with the two
 * corrections of raftguard.c. Before raft_init(r, &g->io, ...): the
 * guard's init gives inner the raft as its data (raft's callbacks find it
 * there). inner must outlive g's use; g must stay where it is (raft keeps
 * &g->io, the guard finds itself from it). */
void rl_guard_init(rl_guard *g, struct raft_io *inner);

/* For a raft already initialized on its io (raft_fixture does raft_init
 * itself): wraps r->io in g and points r at g->io; before raft_start. */
void rl_guard_attach(rl_guard *g, struct raft *r);

#endif /* RT_RAFTGUARD_H */
