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
 * thread, inside its libuv loop, and the FSM's callbacks run there too.
 * That thread is also the writer in this mode (router/writer.c starts no
 * writer thread): a caller's job is queued as always and wakes it
 * (rt_raft_wake), and it makes everything queued ONE entry - but only when
 * no entry is being written: while raft writes, the queue grows, and the
 * next entry carries all of it (group commit on raft's log; raft_uv would
 * only have coalesced the writes anyway, and fewer entries mean less raft
 * bookkeeping, fewer checkpoints and larger LMDB commits).
 * A second thread, the applier, owns the LMDB writes. The router's own
 * batch is handed to it as soon as raft starts writing its entry: it runs
 * the jobs in a write transaction while the disk works, and the last op of
 * that transaction waits for the entry's fate - committed (the FSM's apply
 * callback, which then only hands over) or never (raft's failure) - and
 * records the index, or aborts the whole transaction. So a batch costs
 * about max(raft's write, running the jobs) plus the commit, not their sum,
 * and raft's thread never waits for LMDB. Entries that are not the router's
 * own batches (a replay at start) are handed over by the FSM and applied
 * in one transaction. Callers are answered only once their entry is
 * committed in raft AND applied to LMDB. Checkpoints (the snapshot
 * callback) wait until the applier has everything raft applied. Single
 * node only: the transport below refuses every connection (no other
 * server is ever configured); the nng transport is the next step.
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
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "router/raftlog.h"


/* Committed entries waiting for the applier beyond which raft's thread
 * stops making new entries (the queued jobs then wait and join one larger
 * entry): memory stays bounded if applying ever falls behind the disk. */
#define APPLY_QUEUE_MAX 8
/* How long the applier waits before applying an entry again after the
 * store refused it (disk full, I/O error), at first and at most. */
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 2000
/* Ahead entries whose times are kept for the log line at stop. */
#define TIMES 4096

/* A batch of the writer's queue made into one raft entry, until raft
 * commits it (raft's thread's own). */
typedef struct item item;
typedef struct batch {
  struct batch *next;
  uint64_t token; /* names the batch in its entry */
  rt_job *head, *last; /* linked */
  size_t n;
  item *ahead; /* its item, handed to the applier when it was appended */
  int64_t t_append; /* mc_mono_ns() at raft_apply */
} batch;

/* An entry on its way to the store (the applier's once queued). Committed
 * entries are handed over by the FSM; the router's own batches already when
 * raft starts writing them ("ahead": the applier runs them in a write
 * transaction while raft's write is under way, and commits that
 * transaction only once the FSM says the entry is committed - fate). */
struct item {
  struct item *next;
  uint64_t index; /* an ahead item's: set with its fate */
  batch *live; /* its batch, whose callers wait; NULL: a replay (or a retry) */
  bool ahead;
  int fate; /* ahead items: 0 not known yet, 1 committed, -1 never (why); guarded by mu */
  char why[128];
  int64_t t_fate, t_held; /* mc_mono_ns(): the fate came; the jobs had run */
  void *buf; /* a copy of the committed entry: decoded for a replay or a retry */
  size_t len;
};

struct rt_raft {
  rt_router *rt;
  char data_dir[2048];
  unsigned checkpoint_entries;
  char boot_id[64];

  uv_loop_t loop;
  uv_async_t wake, stop;
  uv_timer_t poll;
  uv_check_t check;
  struct raft_uv_transport transport;
  struct raft_io io;
  struct raft_fsm fsm;
  struct raft raft;
  struct raft_barrier barrier;
  bool loop_ready, io_ready, raft_ready, barrier_sent;
  pthread_t thread;
  bool thread_started;

  /* Set by raft's thread while it waits for jobs (no entry in the write,
   * none held back): only then does a new job wake it. Jobs that come
   * while an entry is written wait without a wake-up: they go together
   * when the write is done. */
  atomic_bool want_jobs;
  /* raft's thread's own */
  batch *sub_head, *sub_tail; /* entries appended, not yet committed, in log order */
  unsigned appending;         /* raft_apply calls whose callback has not come */
  uint64_t next_token;
  uint64_t start_applied; /* the store's raft_applied at open: replays at or below are skipped */
  bool closing;
  /* An append of the log failed: no more entries in this run (see
   * apply_cb); raft's thread's own. */
  bool log_failed;
  rt_job **scratch; /* batch_max jobs for rl_encode */

  pthread_mutex_t mu;
  pthread_cond_t cond; /* the applier waits on it for items */
  pthread_cond_t done; /* start and checkpoints wait on it for the applier */
  pthread_cond_t fated; /* the applier waits on it for an ahead item's fate */
  item *q_head, *q_tail; /* committed, not yet taken by the applier; guarded by mu */
  size_t q_len;
  bool held;        /* raft's thread stopped making entries for q_len; guarded by mu */
  bool loop_closed; /* raft's handles are closed: no more wakes; guarded by mu */
  uint64_t handed;  /* the last index queued for the applier; guarded by mu */
  uint64_t settled; /* the last index the applier applied; guarded by mu */
  bool retrying;    /* the applier holds entries the store refused; guarded by mu */
  bool barrier_done; /* guarded by mu, as the four below */
  uint64_t barrier_target;
  bool started; /* the log is replayed (or failed to be) */
  mc_code start_rc;
  mc_err start_err;
  bool applier_stop;
  pthread_t applier;
  bool applier_started;
  uint64_t applied, replayed; /* the applier's own (applied: set before it starts) */
  /* The applier's own: where the time of the last TIMES ahead entries went,
   * in microseconds, logged at stop (docs/architecture.md quotes them). */
  uint32_t t_write[TIMES], t_run[TIMES], t_after[TIMES];
  size_t n_times;
};

/* ---- The applier: its own thread ------------------------------------------------- */

/* The last op of every apply: the last entry's index, in the same
 * transaction. */
static mc_code set_index(st_txn *txn, void *arg, mc_err *err) {
  return st_raft_applied_set(txn, *(const uint64_t *)arg, err);
}

static void start_done(rt_raft *r, mc_code rc, const char *what);

typedef struct hold_arg {
  rt_raft *r;
  item *it;
} hold_arg;

/* The last op of an ahead item's transaction (all_or_nothing): waits until
 * raft says whether the entry is committed - durable - and then records its
 * index, or refuses, and nothing of the batch is committed. So the jobs run
 * while raft writes, and the callers are still answered only once their
 * entry is durable AND applied. Running them before the commit gives what
 * running them after would: they see the state the entries before left
 * (those are committed first), and applying is deterministic (see the top). */
static mc_code hold_op(st_txn *txn, void *arg, mc_err *err) {
  hold_arg *h = arg;
  rt_raft *r = h->r;
  pthread_mutex_lock(&r->mu);
  h->it->t_held = mc_mono_ns();
  while (h->it->fate == 0 && !r->loop_closed)
    pthread_cond_wait(&r->fated, &r->mu);
  int fate = h->it->fate;
  uint64_t index = h->it->index;
  pthread_mutex_unlock(&r->mu);
  if (fate > 0)
    return st_raft_applied_set(txn, index, err);
  if (fate < 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft: %s"), h->it->why);
  return mc_err_set(err, MC_UNAVAILABLE,
                    _("nothing was applied: the router stopped before the request was written "
                      "to its log; send it again"));
}

/* Waits for an ahead item's fate (after its transaction failed). */
static int await_fate(rt_raft *r, item *it) {
  pthread_mutex_lock(&r->mu);
  while (it->fate == 0 && !r->loop_closed)
    pthread_cond_wait(&r->fated, &r->mu);
  int fate = it->fate;
  pthread_mutex_unlock(&r->mu);
  return fate;
}

static void free_items(item *it) {
  while (it != NULL) {
    item *next = it->next;
    free(it->buf);
    free(it->live);
    free(it);
    it = next;
  }
}

/* Applies the entries of list (in log order) to the store in ONE write
 * transaction, which also records the last one's index: one LMDB commit
 * for everything raft committed since the last. Entries at or below
 * r->applied are in the store already (applying is idempotent by index).
 * Live entries' callers are answered (on this thread when nothing else
 * waits to be applied, else through the replier). Returns the entries the
 * store refused, to apply again (their callers told UNAVAILABLE), or NULL. */
static item *apply_items(rt_raft *r, item *list) {
  rt_router *rt = r->rt;
  while (list != NULL && !list->ahead && list->index <= r->applied) {
    item *next = list->next;
    list->next = NULL;
    free_items(list); /* a live entry is never at or below applied */
    list = next;
  }
  if (list == NULL)
    return NULL;
  size_t n_jobs = 0, n_items = 0;
  uint64_t last = 0;
  item *ahead = NULL; /* the list is one ahead item alone, or none of them */
  for (item *it = list; it != NULL; it = it->next) {
    n_items++;
    last = it->index;
    if (it->ahead)
      ahead = it;
    if (it->live != NULL)
      n_jobs += it->live->n;
  }
  hold_arg hold = {.r = r, .it = ahead};
  int64_t t_start = mc_mono_ns();
  /* Replays are decoded here: their jobs have no callers. */
  rt_job ***decoded = calloc(n_items, sizeof(*decoded));
  size_t *n_decoded = calloc(n_items, sizeof(*n_decoded));
  mc_err err = {0};
  mc_code rc = decoded != NULL && n_decoded != NULL
                   ? MC_OK
                   : mc_err_set(&err, MC_UNAVAILABLE, _("out of memory replaying a raft entry"));
  size_t k = 0;
  for (item *it = list; it != NULL && rc == MC_OK; it = it->next, k++) {
    if (it->live != NULL)
      continue;
    struct raft_buffer b = {.base = it->buf, .len = it->len};
    rc = rl_decode(rt, &b, &decoded[k], &n_decoded[k], &err);
    n_jobs += n_decoded[k];
  }
  st_op *ops = rc == MC_OK ? calloc(n_jobs + 1, sizeof(*ops)) : NULL;
  rt_job **jobs = rc == MC_OK ? calloc(n_jobs + 1, sizeof(*jobs)) : NULL;
  if (rc == MC_OK && (ops == NULL || jobs == NULL))
    rc = mc_err_set(&err, MC_UNAVAILABLE, _("out of memory replaying a raft entry"));
  if (rc == MC_OK) {
    size_t i = 0;
    k = 0;
    for (item *it = list; it != NULL; it = it->next, k++) {
      if (it->live != NULL) {
        for (rt_job *j = it->live->head; j != NULL; j = j->next)
          jobs[i++] = j;
      } else {
        for (size_t d = 0; d < n_decoded[k]; d++)
          jobs[i++] = decoded[k][d];
        r->replayed++;
      }
    }
    for (i = 0; i < n_jobs; i++)
      ops[i] = (st_op){.apply = rt_job_run, .arg = jobs[i], .direct = rt_job_is_direct(jobs[i])};
    if (ahead != NULL)
      ops[n_jobs] = (st_op){.apply = hold_op, .arg = &hold, .direct = true, .all_or_nothing = true};
    else
      ops[n_jobs] = (st_op){.apply = set_index, .arg = &last, .direct = true};
    rc = st_write_batch(rt->store, ops, n_jobs + 1, &err);
  }
  /* An ahead item that never became an entry: nothing to apply again, its
   * callers are told why (raft's failure, not the store's). */
  int fate = ahead != NULL ? await_fate(r, ahead) : 1;
  if (ahead != NULL)
    last = ahead->index; /* known now that the fate is */
  if (rc == MC_OK && ahead != NULL && ahead->t_held != 0) {
    size_t t = r->n_times++ % TIMES;
    int64_t t_end = mc_mono_ns();
    r->t_write[t] = (uint32_t)((ahead->t_fate - ahead->live->t_append) / 1000);
    r->t_run[t] = (uint32_t)((ahead->t_held - t_start) / 1000);
    r->t_after[t] = (uint32_t)((t_end - (ahead->t_fate > ahead->t_held ? ahead->t_fate : ahead->t_held)) / 1000);
  }
  if (rc == MC_OK)
    r->applied = last;
  else if (fate > 0)
    mc_log(MC_LOG_ERR, NULL, "raft entries %" PRIu64 "-%" PRIu64 " not applied: %s: %s",
           list->index, last, mc_code_name(rc), err.msg);
  if (fate <= 0) {
    batch *b = ahead->live;
    for (rt_job *j = b->head; j != NULL; j = j->next) {
      j->code = MC_UNAVAILABLE;
      snprintf(j->message, sizeof(j->message), "%.500s", err.msg);
      j->n_wake = 0;
      j->wake_all = false;
    }
    rt_writer_answer(rt, b->head, b->last, false);
    free(b);
    ahead->live = NULL;
    free(ops);
    free(jobs);
    free(decoded);
    free(n_decoded);
    free_items(list);
    return NULL;
  }

  /* Answer the live entries, as one list: a lone answer at once, on this
   * thread, when no entry waits (handing it over would cost a wake-up as
   * long as sending it); more through the replier, so that the next apply
   * starts at once. */
  pthread_mutex_lock(&r->mu);
  bool now = r->q_head == NULL && n_jobs <= 1;
  pthread_mutex_unlock(&r->mu);
  rt_job *head = NULL, *tail = NULL;
  size_t i = 0;
  k = 0;
  for (item *it = list; it != NULL; it = it->next, k++) {
    if (it->live == NULL) {
      if (decoded != NULL && decoded[k] != NULL) {
        i += n_decoded[k];
        rl_free_replayed(decoded[k], n_decoded[k]);
      }
      continue;
    }
    batch *b = it->live;
    if (ops != NULL && jobs != NULL)
      rt_writer_outcome(rt, jobs + i, ops + i, b->n, rc, &err);
    else {
      rt_job **bj = malloc(b->n * sizeof(*bj));
      st_op *bo = calloc(b->n, sizeof(*bo));
      size_t m = 0;
      for (rt_job *j = b->head; j != NULL && bj != NULL; j = j->next)
        bj[m++] = j;
      for (m = 0; bo != NULL && m < b->n; m++)
        bo[m].code = rc;
      if (bj != NULL && bo != NULL)
        rt_writer_outcome(rt, bj, bo, b->n, rc, &err);
      else /* no memory even for this: the callers learn only the code */
        for (rt_job *j = b->head; j != NULL; j = j->next)
          j->code = MC_UNAVAILABLE;
      free(bj);
      free(bo);
    }
    i += b->n;
    if (tail != NULL)
      tail->next = b->head;
    else
      head = b->head;
    tail = b->last;
    free(b);
    it->live = NULL; /* a retry replays it from its copy */
    it->ahead = false;
  }
  if (head != NULL)
    rt_writer_answer(rt, head, tail, now);
  free(ops);
  free(jobs);
  free(decoded);
  free(n_decoded);
  if (rc == MC_OK) {
    free_items(list);
    return NULL;
  }
  return list;
}

/* The router is stopping while the store refuses entries (retry holds the
 * refused one and everything behind it): nothing more is applied in this
 * run - the entries stay in raft's log and are applied at the next start -
 * and the callers still waiting are answered now, or the stop would wait
 * for the disk (rt_writer_stop waits until every job is answered). The
 * batches themselves stay (raft's thread may still look them up until it
 * closes): emptied, they are freed with the list when the applier ends. */
static void answer_unapplied(rt_raft *r, item *list) {
  for (item *it = list; it != NULL; it = it->next) {
    batch *b = it->live;
    if (b == NULL || b->head == NULL)
      continue;
    for (rt_job *j = b->head; j != NULL; j = j->next) {
      j->code = MC_UNAVAILABLE;
      snprintf(j->message, sizeof(j->message), "%s",
               _("not applied yet: the router is stopping while its store refuses writes (disk "
                 "full or failing); the request is in the router's log and is applied when the "
                 "router starts again: send the same request again (same request id) for its "
                 "answer"));
      j->n_wake = 0;
      j->wake_all = false;
    }
    rt_writer_answer(r->rt, b->head, b->last, false);
    b->head = b->last = NULL;
    b->n = 0;
  }
}

/* The store refuses entries (list: the refused one and everything raft
 * handed over behind it, in log order): the callers of entries behind it
 * are answered now - UNAVAILABLE, not applied yet - rather than when the
 * store takes writes again, as lmdb-sync mode answers every batch while its
 * disk is full; the entries themselves stay, to be applied in order (a
 * caller's resend then finds its first answer by request id). Only entries
 * whose fate is known: until then raft's thread may still look the batch
 * up. An entry raft failed is answered so and dropped. Returns the list. */
static item *answer_behind(rt_raft *r, item *list) {
  item **at = &list;
  while (*at != NULL) {
    item *it = *at;
    batch *b = it->live;
    pthread_mutex_lock(&r->mu);
    int fate = it->fate;
    pthread_mutex_unlock(&r->mu);
    if (b == NULL || b->head == NULL || fate == 0) {
      at = &it->next;
      continue;
    }
    for (rt_job *j = b->head; j != NULL; j = j->next) {
      j->code = MC_UNAVAILABLE;
      if (fate > 0)
        snprintf(j->message, sizeof(j->message), "%s",
                 _("not applied yet: the router's store refuses writes (disk full or failing) "
                   "and must apply the requests before this one first; the request is in the "
                   "router's log and is applied when the store takes writes again: send the same "
                   "request again (same request id) for its answer"));
      else
        snprintf(j->message, sizeof(j->message), "raft: %.400s", it->why);
      j->n_wake = 0;
      j->wake_all = false;
    }
    rt_writer_answer(r->rt, b->head, b->last, false);
    free(b);
    it->live = NULL;
    it->ahead = false; /* applied from its copy, like a replay */
    if (fate < 0) {
      *at = it->next;
      it->next = NULL;
      free_items(it);
      continue;
    }
    at = &it->next;
  }
  return list;
}

static void *applier_main(void *arg) {
  rt_raft *r = arg;
  pthread_setname_np(pthread_self(), "rt:applier");
  item *retry = NULL;
  unsigned retry_ms = RETRY_FIRST_MS;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    if (retry != NULL && !r->applier_stop) {
      /* Wait a little (or for new entries, which queue behind) before the
       * store is tried again. */
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += retry_ms / 1000;
      until.tv_nsec += (long)(retry_ms % 1000) * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&r->cond, &r->mu, &until);
    } else {
      while (r->q_head == NULL && !r->applier_stop)
        pthread_cond_wait(&r->cond, &r->mu);
    }
    if (r->applier_stop && (r->q_head == NULL || retry != NULL))
      break; /* stopping; entries the store refused stay in raft's log */
    item *list = r->q_head;
    r->q_head = r->q_tail = NULL;
    r->q_len = 0;
    if (r->held && !r->loop_closed) {
      r->held = false;
      uv_async_send(&r->wake); /* raft's thread may make entries again */
    }
    bool started = r->started;
    bool failed = started && r->start_rc != MC_OK;
    pthread_mutex_unlock(&r->mu);
    if (failed) {
      /* The start failed: nothing more is applied (the rest of the log
       * would skip what failed); the router is being closed. */
      free_items(list);
      pthread_mutex_lock(&r->mu);
      continue;
    }
    if (retry != NULL && started && atomic_load(&r->rt->stopping)) {
      /* Stopping while the store refuses: see answer_unapplied. What raft
       * hands over from now on only joins the list (in log order). */
      item *t = retry;
      while (t->next != NULL)
        t = t->next;
      t->next = list;
      answer_unapplied(r, retry);
      pthread_mutex_lock(&r->mu);
      r->retrying = true;
      pthread_cond_broadcast(&r->done);
      continue;
    }
    bool was_refused = retry != NULL;
    if (retry != NULL) { /* the refused entries first: the log's order */
      item *t = retry;
      while (t->next != NULL)
        t = t->next;
      t->next = list;
      list = retry;
      retry = NULL;
    }
    /* Committed entries together, in one transaction; an ahead item in one
     * of its own (its transaction waits for its fate). */
    while (list != NULL && retry == NULL) {
      item *chunk = list, *end = list;
      if (!list->ahead)
        while (end->next != NULL && !end->next->ahead)
          end = end->next;
      list = end->next;
      end->next = NULL;
      retry = apply_items(r, chunk);
    }
    if (retry != NULL && list != NULL) { /* the rest waits behind */
      item *t = retry;
      while (t->next != NULL)
        t = t->next;
      t->next = list;
    }
    if (retry != NULL && started)
      retry = answer_behind(r, retry);
    if (was_refused && retry == NULL)
      /* The store took the refused entries: Health says SERVING again
       * even if no caller's batch commits now (none may be waiting). */
      rt_writer_outcome(r->rt, NULL, NULL, 0, MC_OK, NULL);
    if (retry != NULL && !started) {
      /* Replaying at start: the router does not serve on a store that
       * cannot take its own log. */
      start_done(r, MC_UNAVAILABLE, "the store refused an entry (see the log above)");
      free_items(retry);
      retry = NULL;
      pthread_mutex_lock(&r->mu);
      continue;
    }
    retry_ms = retry == NULL ? RETRY_FIRST_MS
               : retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                             : retry_ms * 2;
    pthread_mutex_lock(&r->mu);
    r->retrying = retry != NULL;
    if (retry == NULL)
      r->settled = r->applied > r->settled ? r->applied : r->settled;
    pthread_cond_broadcast(&r->done);
  }
  pthread_mutex_unlock(&r->mu);
  free_items(retry);
  return NULL;
}

/* ---- The FSM: on raft's thread ----------------------------------------------------- */

/* A committed entry goes to the applier; raft's thread goes on at once
 * with the next write. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result) {
  rt_raft *r = fsm->data;
  uint64_t index = raft_last_applied(&r->raft) + 1;
  *result = NULL;
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
    start_done(r, MC_UNAVAILABLE, raft_strerror(status));
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
  if (status != 0 && !r->closing && !r->log_failed) {
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
static void submit_ready(rt_raft *r) {
  if (r->closing || !r->barrier_sent)
    return;
  while (r->log_failed && r->appending == 0) { /* see apply_cb */
    atomic_store(&r->want_jobs, true); /* as below: said before the look */
    size_t n;
    rt_job *head = rt_writer_take(r->rt, r->rt->batch_max, &n);
    if (head == NULL)
      return;
    atomic_store(&r->want_jobs, false);
    rt_job *last = head;
    while (last->next != NULL)
      last = last->next;
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
    /* Said before looking at the queue: a job queued after the look sees
     * it and wakes this thread (rt_raft_wake). */
    atomic_store(&r->want_jobs, true);
    size_t n;
    rt_job *head = rt_writer_take(r->rt, r->rt->batch_max, &n);
    if (head == NULL)
      return;
    atomic_store(&r->want_jobs, false);
    rt_job *last = head;
    while (last->next != NULL)
      last = last->next;
    submit_batch(r, head, last, n);
  }
}

static void wake_cb(uv_async_t *h) { submit_ready(h->data); }

/* After every turn of the loop: a write that completed in it lets the
 * next entry go. */
static void check_cb(uv_check_t *h) { submit_ready(h->data); }

static void closed_cb(struct raft *raft) {
  rt_raft *r = raft->data;
  pthread_mutex_lock(&r->mu);
  r->loop_closed = true;
  pthread_cond_broadcast(&r->fated); /* an ahead item waiting now never gets a fate */
  pthread_mutex_unlock(&r->mu);
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
  r->transport = (struct raft_uv_transport){
      .data = r, .init = tr_init, .listen = tr_listen, .connect = tr_connect, .close = tr_close};
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
  r->fsm = (struct raft_fsm){.version = 1,
                             .data = r,
                             .apply = fsm_apply,
                             .snapshot = fsm_snapshot,
                             .restore = fsm_restore};
  rv = raft_init(&r->raft, &r->io, &r->fsm, 1, "router");
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, _("raft: %s"), raft_errmsg(&r->raft));
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
  pthread_cond_init(&r->done, NULL);
  pthread_cond_init(&r->fated, NULL);
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
  if (rc != MC_OK)
    return rc;
  /* The applier first: raft_start may already apply entries and take a
   * snapshot (which waits for the applier). */
  r->start_applied = r->applied;
  r->settled = r->applied;
  r->scratch = calloc(rt->batch_max ? rt->batch_max : 1, sizeof(*r->scratch));
  if (r->scratch == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  if (pthread_create(&r->applier, NULL, applier_main, r) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("cannot start the raft thread"));
  r->applier_started = true;
  rc = raft_setup(r, err);
  if (rc != MC_OK)
    return rc;
  if (pthread_create(&r->thread, NULL, loop_main, r) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("cannot start the raft thread"));
  r->thread_started = true;
  /* Serving starts when the barrier came and the applier has applied what
   * the log held before it (or either failed). */
  pthread_mutex_lock(&r->mu);
  while (!r->started && !(r->barrier_done && r->settled >= r->barrier_target))
    pthread_cond_wait(&r->done, &r->mu);
  if (!r->started) {
    r->started = true;
    r->start_rc = MC_OK;
  }
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

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* At stop: p50 and p90 of the applier's times (see rt_raft.t_write). */
static void log_times(rt_raft *r) {
  size_t n = r->n_times < TIMES ? r->n_times : TIMES;
  if (n == 0)
    return;
  qsort(r->t_write, n, sizeof(uint32_t), cmp_u32);
  qsort(r->t_run, n, sizeof(uint32_t), cmp_u32);
  qsort(r->t_after, n, sizeof(uint32_t), cmp_u32);
  mc_log(MC_LOG_NOTICE, NULL,
         "raft: last %zu entries (p50/p90 us): raft_apply to committed %u/%u, jobs run "
         "during the write %u/%u, commit and answer after both %u/%u",
         n, r->t_write[n / 2], r->t_write[n * 9 / 10], r->t_run[n / 2], r->t_run[n * 9 / 10],
         r->t_after[n / 2], r->t_after[n * 9 / 10]);
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
  if (r->applier_started) {
    pthread_mutex_lock(&r->mu);
    r->applier_stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->applier, NULL);
  }
  free_items(r->q_head);
  while (r->sub_head != NULL) { /* only if raft never ran */
    batch *b = r->sub_head;
    r->sub_head = b->next;
    free(b);
  }
  free(r->scratch);
  log_times(r);
  /* raft_close closed the io; its memory is freed here (raft's own
   * examples do the same after the close callback). */
  if (r->io_ready)
    raft_uv_close(&r->io);
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
  free(r);
  rt->raft = NULL;
}
