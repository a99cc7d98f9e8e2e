/*
 * raftlog.c - [storage] mode = raft: canonical raft (libraft 0.15, raft_uv)
 * as the router's write-ahead log, LMDB as the state applied from it.
 *
 * Why: a synced LMDB commit costs two flushes (pages, then the meta page).
 * Here the writer's batch becomes ONE raft entry (one flush of raft's log);
 * when raft says it is committed, the batch is applied to LMDB in one write
 * transaction that is NOT synced (MDB_NOSYNC) and stores the entry's index
 * (meta "raft_applied") in the same transaction; then the callers are
 * answered. A process crash loses nothing: LMDB's committed pages are in the
 * page cache, and a restart applies the entries after raft_applied (applying
 * is idempotent by index). An OS crash may tear the unsynced store, so:
 *   - checkpoints: raft's snapshot callback copies the store (compacted,
 *     synced: st_backup) to <data_dir>/checkpoint/<index>, records it in
 *     checkpoint/CURRENT, and only then lets raft drop the log before it;
 *   - <data_dir>/raft-boot holds the kernel's boot id and "running" while
 *     the router runs unsynced, "clean" after an orderly stop (store synced).
 *     At start, "running" under another boot id (the machine went down under
 *     a running router), a store that does not open (DATA_LOSS) or a store
 *     older than the checkpoint is replaced by the checkpoint's copy, and
 *     raft's log brings it up to date.
 * What an entry holds: the batch's requests as they came (kind, caller,
 * request id, the router's clock, the packed request), never LMDB pages:
 * applying them runs the same deterministic code (rt_job_run) against the
 * same state, so a replay gives the same bytes. See docs/architecture.md,
 * "The raft write path".
 *
 * Threads. raft is not thread-safe: every raft call runs on this module's
 * thread, inside its libuv loop, and the FSM's callbacks (raftfsm.c) run
 * there too.
 * That thread is also the writer in this mode (router/writer.c starts no
 * writer thread): a caller's job is queued as always and wakes it
 * (rt_raft_wake), and it makes everything queued ONE entry - but only when
 * no entry is being written: while raft writes, the queue grows, and the
 * next entry carries all of it (group commit on raft's log; raft_uv would
 * only have coalesced the writes anyway, and fewer entries mean less raft
 * bookkeeping, fewer checkpoints and larger LMDB commits).
 * A second thread, the applier (raftapply.c), owns the LMDB writes: raft's
 * thread hands it the router's own batch as soon as raft starts writing
 * its entry, and every other committed entry (a replay at start) from the
 * FSM; it applies them in log order and answers the callers, only once
 * their entry is committed in raft AND applied to LMDB. So raft's thread
 * never waits for LMDB. Checkpoints (the snapshot callback) wait until the
 * applier has everything raft applied. The state both threads share is
 * struct rt_raft (raftnode.h). A single node's transport refuses every
 * connection (no other server is ever configured); a cluster's ([cluster
 * <id>] sections) is raft_uv's TCP, and only its leader makes entries:
 * raftcluster.c.
 *
 * The files. This one is the write path's spine: raft's loop thread (it
 * makes the writer's queue into entries and hears back from raft), raft's
 * setup, and the router's side (opening the store safely, start, stop).
 * What raft calls back when entries commit and for snapshots - where the
 * log meets the store - is raftfsm.c; the applier raftapply.c; the files
 * (boot id, raft-boot, checkpoints) raftfiles.c; an entry's format
 * raftcodec.c; a cluster raftcluster.c, and raft 0.15's stale-tail guard
 * raftguard.c.
 *
 * MEDIATION_BOOT_ID_FILE (tests only) reads the boot id from another file
 * than /proc/sys/kernel/random/boot_id, to play a reboot;
 * MEDIATION_TEST_RAFT_FAIL_APPEND=N (tests only) reports the Nth append of
 * the log failed after writing it (see hook_append).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "router/raftnode.h"

/* Committed entries waiting for the applier beyond which raft's thread
 * stops making new entries (the queued jobs then wait and join one larger
 * entry): memory stays bounded if applying ever falls behind the disk. */
#define APPLY_QUEUE_MAX 8

/* ---- The loop thread --------------------------------------------------------------- */

void rl_start_done(rt_raft *r, mc_code rc, const char *what) {
  pthread_mutex_lock(&r->mu);
  if (!r->started) {
    r->start_rc = rc;
    if (rc != MC_OK)
      mc_err_set(&r->start_err, rc, _("raft: replaying the log: %s"), what);
    r->started = true;
  }
  pthread_cond_broadcast(&r->done);
  pthread_mutex_unlock(&r->mu);
}

static void barrier_cb(struct raft_barrier *req, int status) {
  rt_raft *r = req->data;
  uv_timer_stop(&r->poll);
  if (status != 0) {
    rl_start_done(r, MC_UNAVAILABLE, raft_strerror(status));
    return;
  }
  /* Everything in the log is handed to the applier; the router serves
   * once the applier has it in the store (rt_raft_open_store waits). */
  pthread_mutex_lock(&r->mu);
  r->barrier_target = r->handed;
  r->barrier_done = true;
  pthread_cond_broadcast(&r->done);
  pthread_mutex_unlock(&r->mu);
}

/* Single node: raft elects itself at start; once leader, a barrier makes
 * everything in the log committed and applied before the router serves. */
static void poll_cb(uv_timer_t *t) {
  rt_raft *r = t->data;
  if (r->cluster) { /* leadership comes and goes: raftcluster.c */
    rl_cluster_poll(r);
    return;
  }
  if (r->barrier_sent || raft_state(&r->raft) != RAFT_LEADER)
    return;
  r->barrier_sent = true;
  r->barrier.data = r;
  int rv = raft_barrier(&r->raft, &r->barrier, barrier_cb);
  if (rv != 0) {
    uv_timer_stop(&r->poll);
    rl_start_done(r, MC_UNAVAILABLE, raft_strerror(rv));
  }
}

typedef struct apply_req {
  struct raft_apply req;
  rt_raft *r;
  uint64_t token;
} apply_req;

/* A batch that did not become a committed entry: its callers are told
 * UNAVAILABLE (nothing of it was applied; they send it again). */
static void fail_batch(rt_raft *r, rt_job *head, rt_job *last, const char *why) {
  for (rt_job *j = head; j != NULL; j = j->next) {
    j->code = MC_UNAVAILABLE;
    snprintf(j->message, sizeof(j->message), "raft: %.400s", why);
    j->n_wake = 0;
    j->wake_all = false;
  }
  rt_writer_answer(r->rt, head, last, false);
}

static void apply_cb(struct raft_apply *req, int status, void *result) {
  apply_req *a = req->data;
  rt_raft *r = a->r;
  r->appending--;
  /* A cluster's leader that lost its leadership: not a failed write. */
  bool lost = status == RAFT_LEADERSHIPLOST || status == RAFT_NOTLEADER;
  if (status != 0 && !lost && !r->closing && !r->log_failed) {
    /* raft 0.15 cannot go on after a failed write of its log: raft_uv
     * keeps the failed entry's bytes and writes them with the next append
     * while raft gives that append the failed entry's index, so the log on
     * disk and the store's raft_applied would drift one entry apart
     * (docs/architecture.md, "Traps"; fixed upstream after 0.15). So no
     * more entries in this run: writes are refused until a restart, which
     * loads the log as it is on disk. */
    r->log_failed = true;
    char detail[256];
    snprintf(detail, sizeof(detail),
             "the raft log failed a write (%s): no more writes until the router is restarted",
             raft_strerror(status));
    mc_log(MC_LOG_ERR, NULL, "%s", detail);
    if (r->rt->server != NULL && !atomic_load(&r->rt->stopping))
      rpc_server_set_serving(r->rt->server, false, detail);
  }
  if (status != 0) { /* not committed (leadership lost, the log failed) */
    batch **at = &r->sub_head, *prev = NULL;
    while (*at != NULL && (*at)->token != a->token) {
      prev = *at;
      at = &(*at)->next;
    }
    batch *b = *at;
    if (b != NULL) {
      *at = b->next;
      if (r->sub_tail == b)
        r->sub_tail = prev;
      /* The applier owns b through its ahead item: it answers the callers.
       * A failed write may still have reached the disk (then the entry is
       * applied at the next start): not "nothing was applied". */
      pthread_mutex_lock(&r->mu);
      if (r->log_failed && !r->closing)
        snprintf(b->ahead->why, sizeof(b->ahead->why), "%s (%s)",
                 _("the router's log failed to write the request; it may or may not be applied: "
                   "send the same request again (same request id) for its answer once the "
                   "router is restarted"),
                 raft_strerror(status));
      else if (status == RAFT_LEADERSHIPLOST)
        /* A cluster's leader stepped down with the entry in its log: a
         * new leader may still commit it (then this node applies it like
         * any other entry, as a follower: the batch is off sub_head, so
         * fsm_apply does not take it for this one's), or drop it. */
        snprintf(b->ahead->why, sizeof(b->ahead->why), "%s",
                 _("this router lost its leadership before the request was committed: it may or "
                   "may not be applied; send it again with the same request id (to the new "
                   "leader) for its answer"));
      else
        snprintf(b->ahead->why, sizeof(b->ahead->why), "%s", raft_strerror(status));
      b->ahead->fate = -1;
      pthread_cond_broadcast(&r->fated);
      pthread_mutex_unlock(&r->mu);
    }
  }
  free(a);
}

/* Makes the jobs head..last (n, linked) one raft entry. */
static void submit_batch(rt_raft *r, rt_job *head, rt_job *last, size_t n) {
  rt_router *rt = r->rt;
  size_t i = 0;
  for (rt_job *j = head; j != NULL; j = j->next)
    r->scratch[i++] = j;
  rt->batches++;
  rt->jobs_written += n;
  if (n > rt->batch_peak)
    rt->batch_peak = n;
  mc_err err = {0};
  struct raft_buffer buf;
  uint64_t token = ++r->next_token;
  mc_code rc = rl_encode(token, r->scratch, n, &buf, &err);
  if (rc != MC_OK) {
    fail_batch(r, head, last, err.msg);
    return;
  }
  batch *b = malloc(sizeof(*b));
  apply_req *a = malloc(sizeof(*a));
  item *it = calloc(1, sizeof(*it));
  if (b == NULL || a == NULL || it == NULL) {
    raft_free(buf.base);
    free(b);
    free(a);
    free(it);
    fail_batch(r, head, last, "out of memory");
    return;
  }
  *b = (batch){.token = token, .head = head, .last = last, .n = n, .ahead = it,
               .t_append = mc_mono_ns()};
  it->live = b;
  it->ahead = true;
  /* To the applier now: it runs the jobs while raft writes the entry. */
  pthread_mutex_lock(&r->mu);
  if (r->q_tail != NULL)
    r->q_tail->next = it;
  else
    r->q_head = it;
  r->q_tail = it;
  r->q_len++;
  pthread_cond_signal(&r->cond);
  pthread_mutex_unlock(&r->mu);
  a->r = r;
  a->token = token;
  a->req.data = a;
  /* Listed before raft_apply: on a single node the entry cannot commit
   * before its write, but the FSM must find it whenever it does. */
  if (r->sub_tail != NULL)
    r->sub_tail->next = b;
  else
    r->sub_head = b;
  r->sub_tail = b;
  int rv = raft_apply(&r->raft, &a->req, &buf, 1, apply_cb);
  if (rv != 0) {
    raft_free(buf.base);
    free(a);
    batch **at = &r->sub_head, *prev = NULL;
    while (*at != b) {
      prev = *at;
      at = &(*at)->next;
    }
    *at = NULL;
    r->sub_tail = prev;
    pthread_mutex_lock(&r->mu); /* the applier answers the callers */
    if (rv == RAFT_NOTLEADER)
      snprintf(it->why, sizeof(it->why), "%s",
               _("this router is not the leader (any more): nothing was applied; send the "
                 "request again (same request id) to the leader"));
    else
      snprintf(it->why, sizeof(it->why), "%s", raft_strerror(rv));
    it->fate = -1;
    pthread_cond_broadcast(&r->fated);
    pthread_mutex_unlock(&r->mu);
    return;
  }
  r->appending++;
}

/* Group commit on raft's log: while an entry is being written, the queue
 * grows; when its write is done (and the entry handed to the applier),
 * everything queued becomes the next entry. One entry in the write at a
 * time is all raft_uv would do anyway (it writes what arrived during a
 * write in the next one), and fewer, larger entries mean fewer raft
 * bookkeeping, fewer checkpoints and larger LMDB commits. */
/* Up to batch_max queued jobs for raft's thread (linked, *last the last),
 * or NULL. want_jobs is said before looking at the queue: a job queued
 * after the look sees it and wakes this thread (rt_raft_wake). */
static rt_job *take_jobs(rt_raft *r, rt_job **last, size_t *n) {
  atomic_store(&r->want_jobs, true);
  rt_job *head = rt_writer_take(r->rt, r->rt->batch_max, last, n);
  if (head != NULL)
    atomic_store(&r->want_jobs, false);
  return head;
}

void rl_refuse_queued(rt_raft *r) {
  rt_job *head, *last;
  size_t n;
  while ((head = take_jobs(r, &last, &n)) != NULL)
    fail_batch(r, head, last,
               _("this router is not the leader (any more): nothing was applied; send the "
                 "request again (same request id) to the leader"));
}

static void submit_ready(rt_raft *r) {
  if (r->closing)
    return;
  if (r->cluster && !r->leading) {
    /* Entries only from a leader whose term's barrier is through (the
     * jobs run ahead on a store that must hold every earlier entry);
     * until then a leader's queue waits; a follower's is refused. */
    if (raft_state(&r->raft) != RAFT_LEADER)
      rl_refuse_queued(r);
    return;
  }
  if (!r->cluster && !r->barrier_sent)
    return;
  rt_job *head, *last;
  size_t n;
  while (r->log_failed && r->appending == 0) { /* see apply_cb */
    if ((head = take_jobs(r, &last, &n)) == NULL)
      return;
    fail_batch(r, head, last,
               _("nothing was applied: the router's log failed a write and the router takes no "
                 "writes until it is restarted; send the same request again (same request id) "
                 "later"));
  }
  if (r->log_failed)
    return;
  while (r->appending == 0) {
    pthread_mutex_lock(&r->mu);
    bool full = r->q_len >= APPLY_QUEUE_MAX;
    r->held = full;
    pthread_mutex_unlock(&r->mu);
    if (full)
      return; /* the applier wakes this thread when it takes the queue */
    if ((head = take_jobs(r, &last, &n)) == NULL)
      return;
    submit_batch(r, head, last, n);
  }
}

static void wake_cb(uv_async_t *h) {
  rt_raft *r = h->data;
  if (r->cluster && !r->closing)
    rl_cluster_run_cmd(r);
  submit_ready(r);
}

/* After every turn of the loop: a write that completed in it lets the
 * next entry go. */
static void check_cb(uv_check_t *h) { submit_ready(h->data); }

static void closed_cb(struct raft *raft) {
  rt_raft *r = raft->data;
  pthread_mutex_lock(&r->mu);
  r->loop_closed = true;
  pthread_cond_broadcast(&r->fated); /* an ahead item waiting now never gets a fate */
  pthread_mutex_unlock(&r->mu);
  if (r->cluster)
    rl_cluster_close(r);
  uv_close((uv_handle_t *)&r->wake, NULL);
  uv_close((uv_handle_t *)&r->stop, NULL);
  uv_close((uv_handle_t *)&r->poll, NULL);
  uv_close((uv_handle_t *)&r->check, NULL);
}

static void stop_cb(uv_async_t *h) {
  rt_raft *r = h->data;
  r->closing = true;
  r->raft.data = r;
  raft_close(&r->raft, closed_cb);
}

static void *loop_main(void *arg) {
  rt_raft *r = arg;
  pthread_setname_np(pthread_self(), "rt:raft");
  uv_run(&r->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* MEDIATION_TEST_RAFT_FAIL_APPEND=N (tests only, like
 * MEDIATION_BOOT_ID_FILE): the Nth append of the log since start is
 * written, then reported failed (RAFT_IOERR) - a write error whose data
 * reached the disk anyway, the case where the failed entry comes back at
 * the next start. One router per process, so plain statics. */
static long hook_at, hook_n;
static int (*hook_orig)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
                        unsigned, raft_io_append_cb);
static raft_io_append_cb hook_cb;

static void hook_append_cb(struct raft_io_append *req, int status) {
  hook_cb(req, status != 0 ? status : RAFT_IOERR);
}

static int hook_append(struct raft_io *io, struct raft_io_append *req,
                       const struct raft_entry entries[], unsigned n, raft_io_append_cb cb) {
  if (++hook_n != hook_at)
    return hook_orig(io, req, entries, n, cb);
  mc_log(MC_LOG_WARNING, NULL, "raft: append %ld is reported failed (MEDIATION_TEST_RAFT_FAIL_APPEND)",
         hook_n);
  hook_cb = cb;
  return hook_orig(io, req, entries, n, hook_append_cb);
}

/* Sets raft up on the loop (on the caller's thread: the loop does not run
 * yet). */
static mc_code raft_setup(rt_raft *r, mc_err *err) {
  char dir[2200];
  snprintf(dir, sizeof(dir), "%s/raft", r->data_dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", dir, strerror(errno));
  if (uv_loop_init(&r->loop) != 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft: cannot start a libuv loop"));
  r->loop_ready = true;
  uv_async_init(&r->loop, &r->wake, wake_cb);
  uv_async_init(&r->loop, &r->stop, stop_cb);
  uv_timer_init(&r->loop, &r->poll);
  uv_check_init(&r->loop, &r->check);
  r->wake.data = r->stop.data = r->poll.data = r->check.data = r;
  uv_check_start(&r->check, check_cb);
  mc_code trc = rl_transport_init(r, err);
  if (trc != MC_OK)
    return trc;
  rl_zero_dir(dir); /* before raft_uv prepares its first segments */
  int rv = raft_uv_init(&r->io, &r->loop, dir, &r->transport);
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft log in %s: %s"), dir, r->io.errmsg);
  r->io_ready = true;
  const char *fail_at = getenv("MEDIATION_TEST_RAFT_FAIL_APPEND");
  if (fail_at != NULL && atol(fail_at) > 0) {
    hook_at = atol(fail_at);
    hook_n = 0;
    hook_orig = r->io.append;
    r->io.append = hook_append;
  }
  rl_fsm_init(r); /* raftfsm.c */
  rl_guard_init(&r->guard, &r->io); /* raft 0.15's stale tail: raftguard.c */
  rv = raft_init(&r->raft, &r->guard.io, &r->fsm, rl_self_id(r), rl_self_address(r));
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft: %s"), raft_errmsg(&r->raft));
  r->raft_ready = true;
  struct raft_configuration conf;
  raft_configuration_init(&conf);
  rv = rl_bootstrap_conf(r, &conf);
  if (rv == 0)
    rv = raft_bootstrap(&r->raft, &conf);
  raft_configuration_close(&conf);
  if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft bootstrap in %s: %s"), dir, raft_strerror(rv));
  raft_set_snapshot_threshold(&r->raft, r->checkpoint_entries);
  /* Entries kept behind a checkpoint: none are needed (the checkpoint has
   * them); a few let a restart skip instead of restoring. */
  raft_set_snapshot_trailing(&r->raft, 128);
  if (r->cluster)
    rl_cluster_tune(r);
  rv = raft_start(&r->raft);
  if (rv != 0)
    return mc_err_set(err, MC_DATA_LOSS, _("raft start in %s: %s"), dir, raft_errmsg(&r->raft));
  if (r->cluster) {
    mc_code crc = rl_cluster_check(r, err);
    if (crc != MC_OK)
      return crc;
  }
  uv_timer_start(&r->poll, poll_cb, 0, r->cluster ? 5 : 2);
  return MC_OK;
}

/* ---- The router's side ---------------------------------------------------------- */

/* A new rt_raft for rt (rt->raft, freed by rt_raft_close, also after a
 * failed open), with its boot id; data_dir is made if it is missing. */
static mc_code raft_new(rt_router *rt, const char *data_dir, unsigned checkpoint_entries,
                        mc_err *err) {
  rt_raft *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cond, NULL);
  pthread_cond_init(&r->done, NULL);
  pthread_cond_init(&r->fated, NULL);
  pthread_mutex_init(&r->view_mu, NULL);
  r->rt = rt;
  r->cluster = rt->node != NULL;
  rt->raft = r;
  r->next_token = ((uint64_t)getpid() << 32) ^ (uint64_t)mc_now_ms();
  snprintf(r->data_dir, sizeof(r->data_dir), "%s", data_dir);
  r->checkpoint_entries = checkpoint_entries ? checkpoint_entries : 16384;
  mc_code rc = rl_boot_id(r->boot_id, err);
  if (rc != MC_OK)
    return rc;
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", data_dir, strerror(errno));
  return MC_OK;
}

/* Why the store must be rebuilt from the checkpoint before it is opened,
 * or NULL: raft-boot says "running" under another boot id, so the machine
 * went down under a router whose commits were not synced. No raft-boot:
 * the first start in raft mode. */
static const char *unsynced_why(rt_raft *r) {
  char path[2200], mark[128] = "";
  snprintf(path, sizeof(path), "%s/raft-boot", r->data_dir);
  mc_err e2 = {0};
  if (rl_read_small(path, mark, sizeof(mark), &e2) == MC_NOT_FOUND)
    return NULL;
  size_t idlen = strlen(r->boot_id);
  bool same_boot = strncmp(mark, r->boot_id, idlen) == 0 && mark[idlen] == ' ';
  bool clean = strstr(mark, " clean") != NULL;
  if (!same_boot && !clean)
    return N_("the machine restarted while the router ran with unsynced commits");
  return NULL;
}

/* Opens the store (so: the router's options; r->applied := its
 * raft_applied), first rebuilt from checkpoint cp when why says so, or
 * when it turns out older than cp or fails its check - once: a checkpoint
 * that does not open either is DATA_LOSS. */
static mc_code open_or_rebuild(rt_raft *r, st_options *so, bool have_cp, uint64_t cp,
                               const char *why, mc_err *err) {
  rt_router *rt = r->rt;
  mc_code rc;
  for (int attempt = 0;; attempt++) {
    if (why != NULL) {
      mc_log(MC_LOG_WARNING, NULL, "rebuilding the store from checkpoint %" PRIu64
             " and the raft log: %s", cp, why);
      rc = rl_rebuild(r->data_dir, cp, err);
      if (rc != MC_OK)
        return rc;
    }
    so->log_ahead = true;
    rc = st_open(so, &rt->store, err);
    if (rc == MC_OK)
      rc = rl_store_applied(rt->store, &r->applied, err);
    if (rc == MC_OK && have_cp && r->applied < cp) {
      why = N_("the store is older than the last checkpoint");
    } else if (rc == MC_DATA_LOSS && have_cp && attempt == 0) {
      mc_log(MC_LOG_WARNING, NULL, "the store fails its check: %s", err->msg);
      why = N_("the store fails its check");
    } else {
      return rc;
    }
    st_close(rt->store);
    rt->store = NULL;
    if (attempt > 0)
      return mc_err_set(err, MC_DATA_LOSS, _("the checkpoint %" PRIu64 " does not open"), cp);
  }
}

/* The store, safe to apply raft's log to: checked against raft-boot and
 * the checkpoint (see the top), and a checkpoint made if there is none. */
static mc_code open_checked_store(rt_raft *r, st_options *so, mc_err *err) {
  uint64_t cp = 0;
  mc_code rc = rl_checkpoint_current(r->data_dir, &cp, err);
  if (rc != MC_OK && rc != MC_NOT_FOUND)
    return rc;
  bool have_cp = rc == MC_OK;
  const char *why = unsynced_why(r);
  if (why != NULL && !have_cp)
    return mc_err_set(err, MC_DATA_LOSS, _("%s, and there is no checkpoint to rebuild from"),
                      _(why));
  rc = open_or_rebuild(r, so, have_cp, cp, why, err);
  if (rc != MC_OK || have_cp)
    return rc;
  /* The first start in raft mode (a new store, or an lmdb-sync one being
   * migrated): its synced state is the first checkpoint. */
  return rl_checkpoint_make(r->rt->store, r->data_dir, r->applied, err);
}

/* Serving starts when the barrier came and the applier has applied what
 * the log held before it (or either failed). */
static mc_code await_start(rt_raft *r, mc_err *err) {
  pthread_mutex_lock(&r->mu);
  while (!r->started && !(r->barrier_done && r->settled >= r->barrier_target))
    pthread_cond_wait(&r->done, &r->mu);
  if (!r->started) {
    r->started = true;
    r->start_rc = MC_OK;
  }
  mc_code rc = r->start_rc;
  if (rc != MC_OK)
    *err = r->start_err;
  pthread_mutex_unlock(&r->mu);
  if (rc == MC_OK)
    mc_log(MC_LOG_NOTICE, NULL,
           "raft log: %" PRIu64 " entries applied (%" PRIu64 " replayed at start), checkpoint "
           "every %u",
           r->applied, r->replayed, r->checkpoint_entries);
  return rc;
}

mc_code rt_raft_open_store(rt_router *rt, const char *data_dir, unsigned checkpoint_entries,
                           st_options *so, mc_err *err) {
  mc_code rc = raft_new(rt, data_dir, checkpoint_entries, err);
  if (rc != MC_OK)
    return rc;
  rt_raft *r = rt->raft;
  rc = open_checked_store(r, so, err);
  if (rc != MC_OK)
    return rc;
  rc = rl_mark_boot(r->data_dir, r->boot_id, "running", err);
  if (rc != MC_OK)
    return rc;
  /* The applier first: raft_start may already apply entries and take a
   * snapshot (which waits for the applier). */
  r->start_applied = r->applied;
  r->settled = r->applied;
  r->scratch = calloc(rt->batch_max ? rt->batch_max : 1, sizeof(*r->scratch));
  if (r->scratch == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  rc = rl_applier_start(r, err);
  if (rc != MC_OK)
    return rc;
  rc = raft_setup(r, err);
  if (rc != MC_OK)
    return rc;
  if (pthread_create(&r->thread, NULL, loop_main, r) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("cannot start the raft thread"));
  r->thread_started = true;
  if (r->cluster)
    /* A cluster's node serves at once: what it applied so far (stale
     * reads), and as a follower or a leader once raft elects one; its
     * log is replayed as the leader says what is committed. */
    rl_start_done(r, MC_OK, "");
  return await_start(r, err);
}

void rt_raft_wake(rt_router *rt) {
  if (atomic_load(&rt->raft->want_jobs))
    uv_async_send(&rt->raft->wake);
}

void rt_raft_close(rt_router *rt) {
  rt_raft *r = rt->raft;
  if (r == NULL)
    return;
  if (r->thread_started) {
    uv_async_send(&r->stop);
    pthread_join(r->thread, NULL);
  }
  if (r->io_ready) {
    if (!r->thread_started) {
      /* raft_start failed or never ran: close what was set up. */
      if (r->raft_ready) {
        r->raft.data = r;
        raft_close(&r->raft, closed_cb);
      } else {
        uv_close((uv_handle_t *)&r->wake, NULL);
        uv_close((uv_handle_t *)&r->stop, NULL);
        uv_close((uv_handle_t *)&r->poll, NULL);
        uv_close((uv_handle_t *)&r->check, NULL);
      }
      uv_run(&r->loop, UV_RUN_DEFAULT);
    }
  } else if (r->loop_ready) {
    uv_close((uv_handle_t *)&r->wake, NULL);
    uv_close((uv_handle_t *)&r->stop, NULL);
    uv_close((uv_handle_t *)&r->poll, NULL);
    uv_close((uv_handle_t *)&r->check, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
  }
  /* After raft's thread: nothing is handed to the applier any more. It
   * applies what it was handed, then stops. */
  rl_applier_stop(r);
  while (r->sub_head != NULL) { /* only if raft never ran */
    batch *b = r->sub_head;
    r->sub_head = b->next;
    free(b);
  }
  free(r->scratch);
  /* raft_close closed the io; its memory is freed here (raft's own
   * examples do the same after the close callback). */
  if (r->io_ready)
    raft_uv_close(&r->io);
  rl_transport_close(r); /* after raft_uv: it used it to the end */
  rl_zero_dir(NULL);
  if (r->loop_ready)
    uv_loop_close(&r->loop);
  /* An orderly stop: flush the store, then say so, so that a reboot
   * before the next start needs no rebuild. */
  mc_err err = {0};
  if (rt->store != NULL && r->started && r->start_rc == MC_OK) {
    if (st_sync(rt->store, &err) == MC_OK)
      rl_mark_boot(r->data_dir, r->boot_id, "clean", &err);
    else
      mc_log(MC_LOG_ERR, NULL, "syncing the store at stop: %s", err.msg);
  }
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cond);
  pthread_cond_destroy(&r->done);
  pthread_cond_destroy(&r->fated);
  pthread_mutex_destroy(&r->view_mu);
  free(r);
  rt->raft = NULL;
}
