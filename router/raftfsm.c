/*
 * raftfsm.c - the FSM of [storage] mode = raft: the three callbacks raft
 * makes on its thread (router/raftlog.c's loop) when an entry commits,
 * when it takes a snapshot and when it loads or is sent one.
 *
 * Why a file of its own: these callbacks are where raft's log meets the
 * store. Everything else on raft's thread makes entries (raftlog.c) or
 * runs a cluster (raftcluster.c); the FSM only hands committed entries to
 * the applier (raftapply.c, which owns the LMDB writes: raft's thread
 * never waits for LMDB) and ties raft's snapshots to the checkpoints of
 * raftfiles.c:
 *   - apply: a committed entry goes to the applier's queue, or - the
 *     router's own batch, already there "ahead" - gets its fate;
 *   - snapshot: waits until the applier has everything raft handed it,
 *     then makes a checkpoint at that index (a single node's snapshot is
 *     only the index; a cluster's carries the store copy, for a follower
 *     that fell behind the leader's log);
 *   - restore: at start the store must already hold the snapshot's index
 *     (raftlog.c rebuilt it from the checkpoint if it had to); a cluster's
 *     follower sent a newer one installs it as the checkpoint and stops,
 *     to be started again on it.
 * rt_raft's state is in raftnode.h; raftlog.c has the design as a whole,
 * docs/architecture.md "The raft write path" and "The cluster" the reasons.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <raft.h>

#include "core/clock.h"
#include "core/log.h"
#include "router/raftnode.h"

/* A committed entry goes to the applier; raft's thread goes on at once
 * with the next write. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
  rt_raft *r = fsm->data;
  uint64_t index = raft_last_applied(&r->raft) + 1;
  *result = NULL;
  if (r->installed)
    return RAFT_BUSY; /* stopping, to start on the installed snapshot */
  if (index <= r->start_applied)
    return 0; /* in the store already: applying is idempotent by index */
  item *it = calloc(1, sizeof(*it));
  void *copy = malloc(buf->len ? buf->len : 1);
  if (it == NULL || copy == NULL) {
    free(it);
    free(copy);
    return RAFT_NOMEM; /* raft applies it again later */
  }
  memcpy(copy, buf->base, buf->len);
  it->index = index;
  it->buf = copy;
  it->len = buf->len;
  uint64_t token = rl_entry_token(buf);
  batch **at = &r->sub_head, *prev = NULL;
  while (*at != NULL && (*at)->token != token) {
    prev = *at;
    at = &(*at)->next;
  }
  if (*at != NULL) {
    batch *b = *at;
    *at = b->next;
    if (r->sub_tail == b)
      r->sub_tail = prev;
    b->next = NULL;
    /* The router's own batch: the applier has it already (ahead). */
    free(it);
    pthread_mutex_lock(&r->mu);
    b->ahead->buf = copy;
    b->ahead->len = buf->len;
    b->ahead->index = index;
    b->ahead->fate = 1;
    b->ahead->t_fate = mc_mono_ns();
    r->handed = index;
    pthread_cond_broadcast(&r->fated);
    pthread_mutex_unlock(&r->mu);
    return 0;
  }
  pthread_mutex_lock(&r->mu);
  if (r->q_tail != NULL)
    r->q_tail->next = it;
  else
    r->q_head = it;
  r->q_tail = it;
  r->q_len++;
  r->handed = index;
  pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->mu);
  return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  rt_raft *r = fsm->data;
  if (r->installed)
    return RAFT_BUSY; /* the checkpoint is the installed snapshot's: keep it */
  /* The checkpoint must hold every entry handed to the applier: wait for
   * it (raft's thread hands no more meanwhile). */
  pthread_mutex_lock(&r->mu);
  while (r->settled < r->handed && !r->retrying && !(r->started && r->start_rc != MC_OK))
    pthread_cond_wait(&r->done, &r->mu);
  bool behind = r->settled < r->handed;
  uint64_t index = r->applied;
  pthread_mutex_unlock(&r->mu);
  if (behind)
    return RAFT_BUSY; /* the store refuses entries: no checkpoint, the log is kept */
  mc_err err = {0};
  mc_code rc = rl_checkpoint_make(r->rt->store, r->data_dir, index, &err);
  if (rc != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "checkpoint at raft entry %" PRIu64 " failed, the log is kept: %s",
           index, err.msg);
    return RAFT_IOERR;
  }
  struct raft_buffer *b = raft_malloc(sizeof(*b));
  if (b == NULL)
    return RAFT_NOMEM;
  if (r->cluster) {
    /* A cluster's snapshot carries the checkpoint's store copy: the leader
     * may have to send it to a follower that fell behind its log. */
    rc = rl_checkpoint_read(r->data_dir, index, b, &err);
    if (rc != MC_OK) {
      raft_free(b);
      mc_log(MC_LOG_ERR, NULL, "snapshot at raft entry %" PRIu64 ": %s", index, err.msg);
      return RAFT_IOERR;
    }
    *bufs = b;
    *n_bufs = 1;
    mc_log(MC_LOG_INFO, NULL, "checkpoint at raft entry %" PRIu64 " (%zu bytes)", index, b->len);
    return 0;
  }
  uint8_t *p = raft_malloc(8);
  if (p == NULL) {
    raft_free(b);
    return RAFT_NOMEM;
  }
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(index >> (56 - 8 * i));
  b->base = p;
  b->len = 8;
  *bufs = b;
  *n_bufs = 1;
  mc_log(MC_LOG_INFO, NULL, "checkpoint at raft entry %" PRIu64, index);
  return 0;
}

/* A cluster's follower was sent a snapshot beyond its store (it fell
 * behind the leader's log): the store copy in it becomes the checkpoint,
 * and the router stops to be started again (rt_router_restart_wanted: the
 * daemon exits 75, systemd's Restart= starts it), which rebuilds the store
 * from it - the store cannot be swapped under the readers of a running
 * router. raft is told the restore went well (its failure path in 0.15
 * leaks, and raft saved the snapshot already), but until the stop nothing
 * more is applied and no checkpoint is made (r->installed): the store is
 * not at the snapshot's index. */
static int install_and_restart(rt_raft *r, uint64_t index, const struct raft_buffer *buf) {
  mc_err err = {0};
  mc_code rc = rl_checkpoint_install(r->data_dir, index, (const uint8_t *)buf->base + 8,
                                     buf->len - 8, &err);
  if (rc != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "installing the leader's snapshot at entry %" PRIu64 ": %s", index,
           err.msg);
    return RAFT_IOERR;
  }
  mc_log(MC_LOG_NOTICE, NULL,
         "the leader's snapshot at raft entry %" PRIu64 " is the checkpoint now (this node was "
         "at %" PRIu64 "): stopping, to be started again on it",
         index, r->applied);
  r->installed = true;
  if (!atomic_exchange(&r->rt->restart_wanted, true))
    kill(getpid(), SIGTERM); /* the daemon's orderly stop (core/daemon.h) */
  raft_free(buf->base);
  return 0;
}

/* raft loads its snapshot at start: the store (rebuilt from the checkpoint
 * if it had to be) must already hold everything up to it. In a cluster a
 * follower may also be sent one while it runs (install_and_restart). */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
  rt_raft *r = fsm->data;
  uint64_t index = 0;
  for (size_t i = 0; i < 8 && i < buf->len; i++)
    index = index << 8 | ((const uint8_t *)buf->base)[i];
  if (r->cluster) {
    /* Running: the store holds what the applier has applied. */
    pthread_mutex_lock(&r->mu);
    while (r->started && r->settled < r->handed && !r->retrying)
      pthread_cond_wait(&r->done, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (buf->len > 8 && r->applied < index)
      return install_and_restart(r, index, buf);
  }
  if (buf->len < 8 || (!r->cluster && buf->len != 8) || r->applied < index) {
    mc_log(MC_LOG_ERR, NULL,
           "raft's snapshot is at entry %" PRIu64 " but the store holds entries up to %" PRIu64
           " and no checkpoint brought it further",
           index, r->applied);
    return RAFT_CORRUPT;
  }
  raft_free(buf->base);
  return 0;
}

void rl_fsm_init(rt_raft *r) {
  r->fsm = (struct raft_fsm){.version = 1,
                             .data = r,
                             .apply = fsm_apply,
                             .snapshot = fsm_snapshot,
                             .restore = fsm_restore};
}
