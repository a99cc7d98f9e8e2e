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
 * raft is not thread-safe: every raft call runs on this module's thread,
 * inside its libuv loop; the writer hands a batch in with uv_async_send and
 * waits for it to be applied. The FSM's callbacks (apply, snapshot,
 * restore) run on that thread too, so applying and checkpointing never
 * overlap. Single node only: the transport below refuses every connection
 * (no other server is ever configured); the nng transport is the next step.
 *
 * MEDIATION_BOOT_ID_FILE (tests only) reads the boot id from another file
 * than /proc/sys/kernel/random/boot_id, to play a reboot.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
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
#include "router/raftlog.h"


/* Batches handed to raft and not yet applied: enough for raft to append
 * several at once while the writer gathers the next, few enough that a
 * batch still grows under load. */
#define MAX_IN_FLIGHT 2 /* 1, 2 and 4 measured alike within noise (bench_router, 2026-12-03) */

/* A batch the writer handed in, waiting to be applied (copies of the
 * writer's arrays; ops has a free slot after the n jobs' for the index). */
typedef struct pending {
  struct pending *next;
  uint64_t token; /* names the batch in its entry: its jobs are live here */
  rt_job **jobs;
  st_op *ops;
  size_t n;
  bool submitted; /* raft_apply was called for it */
} pending;

struct rt_raft {
  rt_router *rt;
  char data_dir[2048];
  unsigned checkpoint_entries;
  char boot_id[64];

  uv_loop_t loop;
  uv_async_t wake, stop;
  uv_timer_t poll;
  struct raft_uv_transport transport;
  struct raft_io io;
  struct raft_fsm fsm;
  struct raft raft;
  struct raft_barrier barrier;
  bool loop_ready, io_ready, raft_ready, barrier_sent;
  pthread_t thread;
  bool thread_started;

  pthread_mutex_t mu;
  pthread_cond_t cond;
  pending *head, *tail; /* in submission order; guarded by mu */
  size_t in_flight;
  uint64_t next_token;
  bool started; /* the barrier applied: the log is replayed */
  mc_code start_rc;
  mc_err start_err;
  uint64_t applied, replayed; /* the raft thread's own */
};

/* ---- The FSM: on the raft thread ------------------------------------------------- */

/* The live batch an entry came from; NULL when the entry is replayed. */
static pending *find_pending(rt_raft *r, uint64_t token) {
  pthread_mutex_lock(&r->mu);
  pending *p = r->head;
  while (p != NULL && !(p->token == token && p->submitted))
    p = p->next;
  pthread_mutex_unlock(&r->mu);
  return p;
}

/* A live batch is done (applied, or failed): its callers are answered
 * through the writer's replier, and the writer may hand in another. */
static void finish(rt_raft *r, pending *p, mc_code rc, const mc_err *err) {
  rt_writer_finish(r->rt, p->jobs, p->ops, p->n, rc, err);
  pthread_mutex_lock(&r->mu);
  pending **at = &r->head, *prev = NULL;
  while (*at != p) {
    prev = *at;
    at = &(*at)->next;
  }
  *at = p->next;
  if (r->tail == p)
    r->tail = prev;
  r->in_flight--;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->mu);
  free(p->jobs);
  free(p->ops);
  free(p);
}

/* The last op of every batch: the entry's index, in the same transaction. */
static mc_code set_index(st_txn *txn, void *arg, mc_err *err) {
  return st_raft_applied_set(txn, *(const uint64_t *)arg, err);
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
  rt_raft *r = fsm->data;
  uint64_t index = raft_last_applied(&r->raft) + 1;
  *result = NULL;
  if (index <= r->applied)
    return 0; /* in the store already: applying is idempotent by index */
  pending *p = find_pending(r, rl_entry_token(buf));
  mc_err err = {0};
  mc_code rc;
  if (p != NULL) {
    /* The writer's batch: its jobs answer their callers. */
    p->ops[p->n] = (st_op){.apply = set_index, .arg = &index, .direct = true};
    rc = st_write_batch(r->rt->store, p->ops, p->n + 1, &err);
    finish(r, p, rc, &err);
  } else {
    rt_job **jobs = NULL;
    size_t n = 0;
    rc = rl_decode(r->rt, buf, &jobs, &n, &err);
    st_op *ops = rc == MC_OK ? calloc(n + 1, sizeof(*ops)) : NULL;
    if (rc == MC_OK && ops == NULL)
      rc = mc_err_set(&err, MC_UNAVAILABLE, _("out of memory replaying a raft entry"));
    if (rc == MC_OK) {
      for (size_t i = 0; i < n; i++)
        ops[i] = (st_op){.apply = rt_job_run, .arg = jobs[i], .direct = rt_job_is_direct(jobs[i])};
      ops[n] = (st_op){.apply = set_index, .arg = &index, .direct = true};
      rc = st_write_batch(r->rt->store, ops, n + 1, &err);
      r->replayed++;
    }
    free(ops);
    if (jobs != NULL)
      rl_free_replayed(jobs, n);
  }
  if (rc != MC_OK) {
    /* Not applied: raft keeps the entry and applies it again later (the
     * writer's callers were told UNAVAILABLE, and their retries find the
     * first answer by request id once it is applied). */
    mc_log(MC_LOG_ERR, NULL, "raft entry %" PRIu64 " not applied: %s: %s", index,
           mc_code_name(rc), err.msg);
    return RAFT_IOERR;
  }
  r->applied = index;
  return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs) {
  rt_raft *r = fsm->data;
  uint64_t index = r->applied;
  mc_err err = {0};
  mc_code rc = rl_checkpoint_make(r->rt->store, r->data_dir, index, &err);
  if (rc != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "checkpoint at raft entry %" PRIu64 " failed, the log is kept: %s",
           index, err.msg);
    return RAFT_IOERR;
  }
  struct raft_buffer *b = raft_malloc(sizeof(*b));
  uint8_t *p = raft_malloc(8);
  if (b == NULL || p == NULL) {
    raft_free(b);
    raft_free(p);
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

/* raft loads its snapshot at start: the store (rebuilt from the checkpoint
 * if it had to be) must already hold everything up to it. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf) {
  rt_raft *r = fsm->data;
  uint64_t index = 0;
  for (size_t i = 0; i < 8 && i < buf->len; i++)
    index = index << 8 | ((const uint8_t *)buf->base)[i];
  if (buf->len != 8 || r->applied < index) {
    mc_log(MC_LOG_ERR, NULL,
           "raft's snapshot is at entry %" PRIu64 " but the store holds entries up to %" PRIu64
           " and no checkpoint brought it further",
           index, r->applied);
    return RAFT_CORRUPT;
  }
  raft_free(buf->base);
  return 0;
}

/* ---- A transport for one node: there is no one to talk to ------------------------ */

static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address) { return 0; }
static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb) { return 0; }
static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb) {
  return RAFT_NOCONNECTION;
}
static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb) { cb(t); }

/* ---- The loop thread --------------------------------------------------------------- */

static void start_done(rt_raft *r, mc_code rc, const char *what) {
  pthread_mutex_lock(&r->mu);
  r->start_rc = rc;
  if (rc != MC_OK)
    mc_err_set(&r->start_err, rc, _("raft: replaying the log: %s"), what);
  r->started = true;
  pthread_cond_broadcast(&r->cond);
  pthread_mutex_unlock(&r->mu);
}

static void barrier_cb(struct raft_barrier *req, int status) {
  rt_raft *r = req->data;
  uv_timer_stop(&r->poll);
  if (status != 0)
    start_done(r, MC_UNAVAILABLE, raft_strerror(status));
  else
    start_done(r, MC_OK, "");
}

/* Single node: raft elects itself at start; once leader, a barrier makes
 * everything in the log committed and applied before the router serves. */
static void poll_cb(uv_timer_t *t) {
  rt_raft *r = t->data;
  if (r->barrier_sent || raft_state(&r->raft) != RAFT_LEADER)
    return;
  r->barrier_sent = true;
  r->barrier.data = r;
  int rv = raft_barrier(&r->raft, &r->barrier, barrier_cb);
  if (rv != 0) {
    uv_timer_stop(&r->poll);
    start_done(r, MC_UNAVAILABLE, raft_strerror(rv));
  }
}

typedef struct apply_req {
  struct raft_apply req;
  rt_raft *r;
  uint64_t token;
} apply_req;

static void fail_pending(rt_raft *r, uint64_t token, mc_code rc, const char *why) {
  pending *p = find_pending(r, token);
  if (p != NULL) {
    mc_err err;
    mc_err_set(&err, rc, _("raft: %s"), why);
    finish(r, p, rc, &err);
  }
}

static void apply_cb(struct raft_apply *req, int status, void *result) {
  apply_req *a = req->data;
  if (status != 0) /* not committed (leadership lost, the log failed) */
    fail_pending(a->r, a->token, MC_UNAVAILABLE, raft_strerror(status));
  free(a);
}

static void submit_one(rt_raft *r, pending *p);

static void wake_cb(uv_async_t *h) {
  rt_raft *r = h->data;
  for (;;) {
    pthread_mutex_lock(&r->mu);
    pending *p = r->head;
    while (p != NULL && p->submitted)
      p = p->next;
    if (p != NULL)
      p->submitted = true;
    pthread_mutex_unlock(&r->mu);
    if (p == NULL)
      return;
    submit_one(r, p);
  }
}

static void submit_one(rt_raft *r, pending *p) {
  mc_err err = {0};
  struct raft_buffer buf;
  mc_code rc = rl_encode(p->token, p->jobs, p->n, &buf, &err);
  if (rc != MC_OK) {
    fail_pending(r, p->token, rc, err.msg);
    return;
  }
  apply_req *a = malloc(sizeof(*a));
  if (a == NULL) {
    raft_free(buf.base);
    fail_pending(r, p->token, MC_UNAVAILABLE, "out of memory");
    return;
  }
  a->r = r;
  a->token = p->token;
  a->req.data = a;
  int rv = raft_apply(&r->raft, &a->req, &buf, 1, apply_cb);
  if (rv != 0) {
    raft_free(buf.base);
    free(a);
    fail_pending(r, p->token, MC_UNAVAILABLE, raft_strerror(rv));
  }
}

static void closed_cb(struct raft *raft) {
  rt_raft *r = raft->data;
  uv_close((uv_handle_t *)&r->wake, NULL);
  uv_close((uv_handle_t *)&r->stop, NULL);
  uv_close((uv_handle_t *)&r->poll, NULL);
}

static void stop_cb(uv_async_t *h) {
  rt_raft *r = h->data;
  r->raft.data = r;
  raft_close(&r->raft, closed_cb);
}

static void *loop_main(void *arg) {
  rt_raft *r = arg;
  pthread_setname_np(pthread_self(), "rt:raft");
  uv_run(&r->loop, UV_RUN_DEFAULT);
  return NULL;
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
  r->wake.data = r->stop.data = r->poll.data = r;
  r->transport = (struct raft_uv_transport){
      .data = r, .init = tr_init, .listen = tr_listen, .connect = tr_connect, .close = tr_close};
  int rv = raft_uv_init(&r->io, &r->loop, dir, &r->transport);
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft log in %s: %s"), dir, r->io.errmsg);
  r->io_ready = true;
  r->fsm = (struct raft_fsm){.version = 1,
                             .data = r,
                             .apply = fsm_apply,
                             .snapshot = fsm_snapshot,
                             .restore = fsm_restore};
  rv = raft_init(&r->raft, &r->io, &r->fsm, 1, "router");
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, "raft: %s", raft_errmsg(&r->raft));
  r->raft_ready = true;
  struct raft_configuration conf;
  raft_configuration_init(&conf);
  rv = raft_configuration_add(&conf, 1, "router", RAFT_VOTER);
  if (rv == 0)
    rv = raft_bootstrap(&r->raft, &conf);
  raft_configuration_close(&conf);
  if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft bootstrap in %s: %s"), dir, raft_strerror(rv));
  raft_set_snapshot_threshold(&r->raft, r->checkpoint_entries);
  /* Entries kept behind a checkpoint: none are needed (the checkpoint has
   * them); a few let a restart skip instead of restoring. */
  raft_set_snapshot_trailing(&r->raft, 128);
  rv = raft_start(&r->raft);
  if (rv != 0)
    return mc_err_set(err, MC_DATA_LOSS, _("raft start in %s: %s"), dir, raft_errmsg(&r->raft));
  uv_timer_start(&r->poll, poll_cb, 0, 2);
  return MC_OK;
}

/* ---- The router's side ---------------------------------------------------------- */

mc_code rt_raft_open_store(rt_router *rt, const char *data_dir, unsigned checkpoint_entries,
                           st_options *so, mc_err *err) {
  rt_raft *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cond, NULL);
  r->rt = rt;
  rt->raft = r;
  r->next_token = ((uint64_t)getpid() << 32) ^ (uint64_t)mc_now_ms();
  snprintf(r->data_dir, sizeof(r->data_dir), "%s", data_dir);
  r->checkpoint_entries = checkpoint_entries ? checkpoint_entries : 16384;
  mc_code rc = rl_boot_id(r->boot_id, err);
  if (rc != MC_OK)
    return rc;
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", data_dir, strerror(errno));

  /* Was the store left unsynced by a run on another boot? */
  char path[2200], mark[128];
  snprintf(path, sizeof(path), "%s/raft-boot", data_dir);
  mc_err e2 = {0};
  bool first = rl_read_small(path, mark, sizeof(mark), &e2) == MC_NOT_FOUND;
  uint64_t cp = 0;
  mc_code cprc = rl_checkpoint_current(data_dir, &cp, err);
  if (cprc != MC_OK && cprc != MC_NOT_FOUND)
    return cprc;
  bool have_cp = cprc == MC_OK;
  const char *why = NULL;
  if (!first) {
    size_t idlen = strlen(r->boot_id);
    bool same_boot = strncmp(mark, r->boot_id, idlen) == 0 && mark[idlen] == ' ';
    bool clean = strstr(mark, " clean") != NULL;
    if (!same_boot && !clean)
      why = N_("the machine restarted while the router ran with unsynced commits");
  }
  if (why != NULL && !have_cp)
    return mc_err_set(err, MC_DATA_LOSS, _("%s, and there is no checkpoint to rebuild from"),
                      _(why));
  for (int attempt = 0;; attempt++) {
    if (why != NULL) {
      mc_log(MC_LOG_WARNING, NULL, "rebuilding the store from checkpoint %" PRIu64
             " and the raft log: %s", cp, why);
      rc = rl_rebuild(data_dir, cp, err);
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
      break;
    }
    st_close(rt->store);
    rt->store = NULL;
    if (attempt > 0)
      return mc_err_set(err, MC_DATA_LOSS, _("the checkpoint %" PRIu64 " does not open"), cp);
  }
  if (rc != MC_OK)
    return rc;
  if (!have_cp) {
    /* The first start in raft mode (a new store, or an lmdb-sync one being
     * migrated): its synced state is the first checkpoint. */
    rc = rl_checkpoint_make(rt->store, r->data_dir, r->applied, err);
    if (rc != MC_OK)
      return rc;
  }
  rc = rl_mark_boot(r->data_dir, r->boot_id, "running", err);
  if (rc == MC_OK)
    rc = raft_setup(r, err);
  if (rc != MC_OK)
    return rc;
  if (pthread_create(&r->thread, NULL, loop_main, r) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("cannot start the raft thread"));
  r->thread_started = true;
  pthread_mutex_lock(&r->mu);
  while (!r->started)
    pthread_cond_wait(&r->cond, &r->mu);
  rc = r->start_rc;
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

void rt_raft_submit(rt_router *rt, rt_job *const *jobs, const st_op *ops, size_t n) {
  rt_raft *r = rt->raft;
  pending *p = calloc(1, sizeof(*p));
  rt_job **jc = malloc(n * sizeof(*jc));
  st_op *oc = calloc(n + 1, sizeof(*oc));
  if (p == NULL || jc == NULL || oc == NULL) {
    free(p);
    free(jc);
    free(oc);
    mc_err err;
    mc_err_set(&err, MC_UNAVAILABLE, _("out of memory handing a batch to raft"));
    rt_writer_finish(rt, (rt_job **)jobs, ops, n, MC_UNAVAILABLE, &err);
    return;
  }
  memcpy(jc, jobs, n * sizeof(*jc));
  memcpy(oc, ops, n * sizeof(*oc));
  p->jobs = jc;
  p->ops = oc;
  p->n = n;
  pthread_mutex_lock(&r->mu);
  while (r->in_flight >= MAX_IN_FLIGHT)
    pthread_cond_wait(&r->cond, &r->mu);
  p->token = ++r->next_token;
  if (r->tail != NULL)
    r->tail->next = p;
  else
    r->head = p;
  r->tail = p;
  r->in_flight++;
  pthread_mutex_unlock(&r->mu);
  uv_async_send(&r->wake);
}

void rt_raft_drain(rt_router *rt) {
  rt_raft *r = rt->raft;
  pthread_mutex_lock(&r->mu);
  while (r->in_flight > 0)
    pthread_cond_wait(&r->cond, &r->mu);
  pthread_mutex_unlock(&r->mu);
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
      }
      uv_run(&r->loop, UV_RUN_DEFAULT);
    }
  } else if (r->loop_ready) {
    uv_close((uv_handle_t *)&r->wake, NULL);
    uv_close((uv_handle_t *)&r->stop, NULL);
    uv_close((uv_handle_t *)&r->poll, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
  }
  /* raft_close closed the io; its memory is freed here (raft's own
   * examples do the same after the close callback). */
  if (r->io_ready)
    raft_uv_close(&r->io);
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
  free(r);
  rt->raft = NULL;
}
