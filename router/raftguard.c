/*
 * raftguard.c - a struct raft_io around raft's real io that makes a
 * follower of canonical raft 0.15 (Debian's libraft) answer and commit by
 * raft's rule, not by its last stored index. Debian ships 0.15 as a binary
 * package only; the fix has to be in our code, at the io boundary, which
 * is the one place that sees every message raft receives and sends.
 *
 * The bug (raft 0.15, src/recv_append_entries.c and src/replication.c;
 * docs/architecture.md, Traps: "raft 0.15 acknowledges a stale tail"): a
 * follower answers a successful AppendEntries with last_log_index =
 * last_stored and sets commit_index = min(leader_commit, last_stored),
 * even when its log goes on past prev_log_index + n_entries with entries
 * of an older leader. A new leader then counts it as holding entries it
 * does not hold and commits them.
 *
 * 1. Commit index. On receive, an AppendEntries' leader_commit is clamped
 *    to prev_log_index + n_entries before raft sees it. raft uses that
 *    field only to set commit_index = min(leader_commit, last_stored) (in
 *    replicationAppend when nothing is new, in appendFollowerCb once the
 *    new entries are written; the latter keeps its own copy of the
 *    arguments, taken after our clamp), so it becomes Figure 3.1's
 *    min(leaderCommit, index of last new entry). This holds even when the
 *    write completes after the term changed: the entries up to that
 *    bound were the old leader's, it had committed them, and committed
 *    entries are never truncated.
 *
 * 2. The answer. raft 0.15 sends a successful AppendEntriesResult from
 *    four places: (a) recvAppendEntries, synchronously inside the receive
 *    callback, when nothing was new (heartbeats, repeats); (b)
 *    appendFollowerCb, after the follower's write completes, long after
 *    the receive, possibly after a term change, with the *current* term
 *    and to the *current* leader (so a request's own prev + n is not
 *    enough: a write of leader A's term-5 entries completing after B won
 *    term 6 is answered to B as "term 6, success, last index = last
 *    stored", the same stale-tail count; a patch that answers with the
 *    request's own prev + n, like cowsql/raft's first fix 66ed6afd,
 *    leaves that hole); (c)
 *    recvInstallSnapshot, synchronously, when the snapshot is not needed;
 *    (d) installSnapshotCb, after the snapshot is stored. And one more,
 *    by accident: (e) recvAppendEntries rejecting a request of a lower
 *    term answers rejected = prev_log_index, which is 0 ("success") for a
 *    request with prev_log_index 0, with last_log_index = its last index.
 *    Requests ignored while a snapshot installs get no answer.
 *
 *    So the guard does not map a result to one request; it keeps what the
 *    follower KNOWS about the current leader's log: (term, leader, bound)
 *    = the highest prev_log_index + n_entries (or snapshot last index) of
 *    the requests from that leader in that term that raft ACCEPTED, and
 *    every successful answer is clamped to min(raft's value, bound), or to
 *    0 when the answer's term and destination are not that term and
 *    leader. Accepted is seen at the io boundary, exactly:
 *    - an AppendEntries is accepted iff, while raft handles it, raft calls
 *      append (replicationAppend writes only after the log matching check
 *      passed and the term was checked), or sends a success answer in the
 *      request's own term to its sender (case a; case e has a higher term);
 *    - an InstallSnapshot iff raft calls snapshot_put while handling it
 *      (case d), or answers success in its term (case c).
 *    Why min(raft's value, bound) is safe: raft's value is last_stored,
 *    so everything up to it is on disk (raft lowers last_stored when it
 *    truncates). An accepted request from leader L in term T makes the
 *    follower's log equal to L's up to its bound; afterwards, in term T,
 *    only L's requests can change those entries (older terms are
 *    rejected), L never rewrites its own log within its term, so they only
 *    ever rewrite an entry with the same one. Hence entries up to
 *    min(last_stored, bound) are durable and L's: exactly what a success
 *    answer may claim. A lower answer only costs the leader a round
 *    (replicationUpdate ignores an answer below the match index).
 *    This is the rule cowsql/raft 0.22 (446f8d21) adopted inside raft:
 *    follower_state.match, reset at every term change, raised to prev + n
 *    by each request that passes the log matching check, and answers of
 *    min(last_stored, match).
 *    Single node: nothing is received or answered; the guard only forwards.
 *
 * Everything else is forwarded unchanged to the inner io; raft finds
 * itself through io->data in the callbacks the inner io calls, so the
 * inner io's data is the raft (set in init/start).
 */
#include "router/raftguard.h"

#include <stddef.h>
#include <string.h>

/* raft always calls us with the io it holds, &g->io (first member). */
static rl_guard *guard_of(struct raft_io *io) { return (rl_guard *)io; }

/* raft reads io->errmsg after a failed call: pass the inner io's on. */
static int pass(rl_guard *g, int rv) {
  if (rv != 0)
    memcpy(g->io.errmsg, g->inner->errmsg, sizeof(g->io.errmsg));
  return rv;
}

/* Raft accepted the request of window w (see the opening comment). */
static void accept(rl_guard *g, const rl_guard_window *w) {
  if (w->term < g->term)
    return; /* raft rejects lower terms; never reached */
  if (w->term > g->term || w->from != g->leader) {
    g->term = w->term;
    g->leader = w->from;
    g->bound = w->bound;
  } else if (w->bound > g->bound) {
    g->bound = w->bound;
  }
}

static void guard_recv(struct raft_io *inner, struct raft_message *m) {
  struct raft *r = inner->data;
  rl_guard *g = guard_of(r->io);
  const rl_guard_window *outer = g->win;
  rl_guard_window w = {.type = m->type, .from = m->server_id};
  if (m->type == RAFT_IO_APPEND_ENTRIES) {
    struct raft_append_entries *a = &m->append_entries;
    w.term = a->term;
    w.bound = a->prev_log_index + a->n_entries;
    if (a->leader_commit > w.bound) {
      a->leader_commit = w.bound;
      g->n_commits_clamped++;
    }
    g->win = &w;
  } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
    w.term = m->install_snapshot.term;
    w.bound = m->install_snapshot.last_index;
    g->win = &w;
  } else {
    g->win = NULL; /* nothing raft does now answers an AppendEntries */
  }
  g->recv_cb(inner, m);
  g->win = outer;
}

static int guard_init_io(struct raft_io *io, raft_id id, const char *address) {
  rl_guard *g = guard_of(io);
  g->inner->data = io->data; /* raft_init set ours to the raft just before */
  return pass(g, g->inner->init(g->inner, id, address));
}

static void guard_close(struct raft_io *io, raft_io_close_cb cb) {
  rl_guard *g = guard_of(io);
  g->inner->close(g->inner, cb); /* cb finds raft in inner->data */
}

static int guard_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                      struct raft_snapshot **snapshot, raft_index *start_index,
                      struct raft_entry *entries[], size_t *n_entries) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->load(g->inner, term, voted_for, snapshot, start_index, entries,
                                n_entries));
}

static int guard_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                       raft_io_recv_cb recv) {
  rl_guard *g = guard_of(io);
  g->inner->data = io->data;
  g->recv_cb = recv;
  return pass(g, g->inner->start(g->inner, msecs, tick, guard_recv));
}

static int guard_bootstrap(struct raft_io *io, const struct raft_configuration *conf) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->bootstrap(g->inner, conf));
}

static int guard_recover(struct raft_io *io, const struct raft_configuration *conf) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->recover(g->inner, conf));
}

static int guard_set_term(struct raft_io *io, raft_term term) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->set_term(g->inner, term));
}

static int guard_set_vote(struct raft_io *io, raft_id server_id) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->set_vote(g->inner, server_id));
}

static int guard_send(struct raft_io *io, struct raft_io_send *req,
                      const struct raft_message *message, raft_io_send_cb cb) {
  rl_guard *g = guard_of(io);
  struct raft_message copy;
  if (message->type == RAFT_IO_APPEND_ENTRIES_RESULT &&
      message->append_entries_result.rejected == 0) {
    const struct raft_append_entries_result *res = &message->append_entries_result;
    if (g->win != NULL && res->term == g->win->term && message->server_id == g->win->from)
      accept(g, g->win); /* cases a and c */
    raft_index limit = res->term == g->term && message->server_id == g->leader ? g->bound : 0;
    if (res->last_log_index > limit) {
      /* Both inner ios copy or encode the message before send returns. */
      copy = *message;
      copy.append_entries_result.last_log_index = limit;
      message = &copy;
      g->n_results_clamped++;
    }
  }
  return pass(g, g->inner->send(g->inner, req, message, cb));
}

static int guard_append(struct raft_io *io, struct raft_io_append *req,
                        const struct raft_entry entries[], unsigned n, raft_io_append_cb cb) {
  rl_guard *g = guard_of(io);
  if (g->win != NULL && g->win->type == RAFT_IO_APPEND_ENTRIES)
    accept(g, g->win); /* the log matching check passed: case b */
  return pass(g, g->inner->append(g->inner, req, entries, n, cb));
}

static int guard_truncate(struct raft_io *io, raft_index index) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->truncate(g->inner, index));
}

static int guard_snapshot_put(struct raft_io *io, unsigned trailing,
                              struct raft_io_snapshot_put *req,
                              const struct raft_snapshot *snapshot,
                              raft_io_snapshot_put_cb cb) {
  rl_guard *g = guard_of(io);
  /* A snapshot of our own (trailing > 0) can start while an AppendEntries
   * is handled (its commit applies entries); only an installed one counts. */
  if (g->win != NULL && g->win->type == RAFT_IO_INSTALL_SNAPSHOT && trailing == 0)
    accept(g, g->win); /* case d */
  return pass(g, g->inner->snapshot_put(g->inner, trailing, req, snapshot, cb));
}

static int guard_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                              raft_io_snapshot_get_cb cb) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->snapshot_get(g->inner, req, cb));
}

static raft_time guard_time(struct raft_io *io) {
  rl_guard *g = guard_of(io);
  return g->inner->time(g->inner);
}

static int guard_random(struct raft_io *io, int min, int max) {
  rl_guard *g = guard_of(io);
  return g->inner->random(g->inner, min, max);
}

static int guard_async_work(struct raft_io *io, struct raft_io_async_work *req,
                            raft_io_async_work_cb cb) {
  rl_guard *g = guard_of(io);
  return pass(g, g->inner->async_work(g->inner, req, cb));
}

void rl_guard_init(rl_guard *g, struct raft_io *inner) {
  memset(g, 0, sizeof(*g));
  g->inner = inner;
  g->io.version = inner->version;
  g->io.data = inner->data;
  g->io.impl = inner->impl; /* raft_fixture reads raft->io->impl */
  g->io.init = guard_init_io;
  g->io.close = guard_close;
  g->io.load = guard_load;
  g->io.start = guard_start;
  g->io.bootstrap = guard_bootstrap;
  g->io.recover = guard_recover;
  g->io.set_term = guard_set_term;
  g->io.set_vote = guard_set_vote;
  g->io.send = guard_send;
  g->io.append = guard_append;
  g->io.truncate = guard_truncate;
  g->io.snapshot_put = guard_snapshot_put;
  g->io.snapshot_get = guard_snapshot_get;
  g->io.time = guard_time;
  g->io.random = guard_random;
  g->io.async_work = inner->version >= 2 && inner->async_work != NULL ? guard_async_work : NULL;
}

void rl_guard_attach(rl_guard *g, struct raft *r) {
  rl_guard_init(g, r->io);
  g->io.data = r;
  g->inner->data = r;
  r->io = &g->io;
}
