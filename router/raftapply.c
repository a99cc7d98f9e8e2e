/*
 * raftapply.c - the applier of [storage] mode = raft: the thread that owns
 * the LMDB writes, applying to the store what raft's thread (raftlog.c)
 * hands it, in log order, and answering the callers.
 *
 * Why a thread of its own: raft's thread must never wait for LMDB, and a
 * batch should cost about max(raft's write, running its jobs) plus the
 * commit, not their sum. So the router's own batch is handed over as soon
 * as raft starts writing its entry ("ahead"): the applier runs the jobs in
 * a write transaction while the disk works, and the last op of that
 * transaction (hold_op) waits for the entry's fate - committed (the FSM's
 * apply callback, which then only hands over) or never (raft's failure) -
 * and records the index, or aborts the whole transaction. Entries that are
 * not the router's own batches (a replay at start) are handed over by the
 * FSM and applied together in one transaction. Callers are answered only
 * once their entry is committed in raft AND applied to LMDB. Checkpoints
 * (raft's snapshot callback) wait until the applier has everything raft
 * applied (rt_raft.settled).
 *
 * When the store refuses an entry (disk full, I/O error), the applier
 * keeps it and everything behind it, in log order, and tries again after a
 * growing pause; the callers behind are answered at once (UNAVAILABLE, not
 * applied yet), and a stop leaves the entries in raft's log for the next
 * start. rt_raft's state is in raftnode.h; raftlog.c has the design as a
 * whole, docs/architecture.md "The raft write path" the reasons.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "router/raftnode.h"

/* How long the applier waits before applying an entry again after the
 * store refused it (disk full, I/O error), at first and at most. */
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 2000

/* ---- One write transaction ------------------------------------------------------ */

/* The last op of every apply: the last entry's index, in the same
 * transaction. */
static mc_code set_index(st_txn *txn, void *arg, mc_err *err) {
  return st_raft_applied_set(txn, *(const uint64_t *)arg, err);
}

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
 * (those are committed first), and applying is deterministic (see
 * raftlog.c). */
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

/* One write transaction's worth of entries (apply_items) and what applying
 * them takes: the replays' decoded jobs, every job and its op. */
typedef struct apply_run {
  item *list;       /* in log order */
  item *ahead;      /* the list is one ahead item alone, or none of them */
  size_t n_items;
  size_t n_jobs;    /* the live entries', then the replays' once decoded */
  uint64_t last;    /* the last entry's index (an ahead item's: once its fate is known) */
  rt_job ***decoded; /* per item: a replay's jobs (they have no callers) */
  size_t *n_decoded;
  rt_job **jobs;    /* every job, in log order */
  st_op *ops;       /* one per job, then set_index or hold_op */
  mc_code rc;
  mc_err err;
} apply_run;

/* Entries at or below r->applied are in the store already (applying is
 * idempotent by index): dropped. Returns the rest. */
static item *skip_applied(rt_raft *r, item *list) {
  while (list != NULL && !list->ahead && list->index <= r->applied) {
    item *next = list->next;
    list->next = NULL;
    free_items(list); /* a live entry is never at or below applied */
    list = next;
  }
  return list;
}

static void run_count(apply_run *a) {
  for (item *it = a->list; it != NULL; it = it->next) {
    a->n_items++;
    a->last = it->index;
    if (it->ahead)
      a->ahead = it;
    if (it->live != NULL)
      a->n_jobs += it->live->n;
  }
}

/* Decodes the replays - their jobs exist only in the entry's copy - and
 * makes room for every job and op; a->rc says whether it could. */
static void run_decode(rt_raft *r, apply_run *a) {
  a->decoded = calloc(a->n_items, sizeof(*a->decoded));
  a->n_decoded = calloc(a->n_items, sizeof(*a->n_decoded));
  a->rc = a->decoded != NULL && a->n_decoded != NULL
              ? MC_OK
              : mc_err_set(&a->err, MC_UNAVAILABLE, _("out of memory replaying a raft entry"));
  size_t k = 0;
  for (item *it = a->list; it != NULL && a->rc == MC_OK; it = it->next, k++) {
    if (it->live != NULL)
      continue;
    struct raft_buffer b = {.base = it->buf, .len = it->len};
    a->rc = rl_decode(r->rt, &b, &a->decoded[k], &a->n_decoded[k], &a->err);
    a->n_jobs += a->n_decoded[k];
  }
  if (a->rc != MC_OK)
    return;
  a->ops = calloc(a->n_jobs + 1, sizeof(*a->ops));
  a->jobs = calloc(a->n_jobs + 1, sizeof(*a->jobs));
  if (a->ops == NULL || a->jobs == NULL)
    a->rc = mc_err_set(&a->err, MC_UNAVAILABLE, _("out of memory replaying a raft entry"));
}

/* Runs every job, in log order, in ONE write transaction whose last op
 * records the last entry's index: one LMDB commit for everything raft
 * committed since the last. For an ahead item that op first waits for the
 * entry's fate (hold_op). */
static void run_write(rt_raft *r, apply_run *a) {
  size_t i = 0, k = 0;
  for (item *it = a->list; it != NULL; it = it->next, k++) {
    if (it->live != NULL) {
      for (rt_job *j = it->live->head; j != NULL; j = j->next)
        a->jobs[i++] = j;
    } else {
      for (size_t d = 0; d < a->n_decoded[k]; d++)
        a->jobs[i++] = a->decoded[k][d];
      r->replayed++;
    }
  }
  for (i = 0; i < a->n_jobs; i++)
    a->ops[i] = (st_op){.apply = rt_job_run, .arg = a->jobs[i],
                        .direct = rt_job_is_direct(a->jobs[i])};
  hold_arg hold = {.r = r, .it = a->ahead};
  if (a->ahead != NULL)
    a->ops[a->n_jobs] =
        (st_op){.apply = hold_op, .arg = &hold, .direct = true, .all_or_nothing = true};
  else
    a->ops[a->n_jobs] = (st_op){.apply = set_index, .arg = &a->last, .direct = true};
  a->rc = st_write_batch(r->rt->store, a->ops, a->n_jobs + 1, &a->err);
}

/* Where an applied ahead entry's time went, since the transaction began at
 * t_start (logged at stop: log_times). */
static void note_times(rt_raft *r, const item *ahead, int64_t t_start) {
  size_t t = r->n_times++ % RL_TIMES;
  int64_t t_end = mc_mono_ns();
  int64_t t_both = ahead->t_fate > ahead->t_held ? ahead->t_fate : ahead->t_held;
  r->t_write[t] = (uint32_t)((ahead->t_fate - ahead->live->t_append) / 1000);
  r->t_run[t] = (uint32_t)((ahead->t_held - t_start) / 1000);
  r->t_after[t] = (uint32_t)((t_end - t_both) / 1000);
}

/* An ahead item that never became an entry: nothing to apply again, its
 * callers are told why (raft's failure, not the store's). */
static void answer_unwritten(rt_raft *r, apply_run *a) {
  batch *b = a->ahead->live;
  for (rt_job *j = b->head; j != NULL; j = j->next) {
    j->code = MC_UNAVAILABLE;
    snprintf(j->message, sizeof(j->message), "%.500s", a->err.msg);
    j->n_wake = 0;
    j->wake_all = false;
  }
  rt_writer_answer(r->rt, b->head, b->last, false);
  free(b);
  a->ahead->live = NULL;
}

/* A batch's outcome when there was no memory for the transaction's lists:
 * lists of its own, or, without memory even for those, only the code. */
static void outcome_alone(rt_router *rt, batch *b, mc_code rc, mc_err *err) {
  rt_job **bj = malloc(b->n * sizeof(*bj));
  st_op *bo = calloc(b->n, sizeof(*bo));
  size_t m = 0;
  for (rt_job *j = b->head; j != NULL && bj != NULL; j = j->next)
    bj[m++] = j;
  for (m = 0; bo != NULL && m < b->n; m++)
    bo[m].code = rc;
  if (bj != NULL && bo != NULL)
    rt_writer_outcome(rt, bj, bo, b->n, rc, err);
  else
    for (rt_job *j = b->head; j != NULL; j = j->next)
      j->code = MC_UNAVAILABLE;
  free(bj);
  free(bo);
}

/* Answers the live entries' callers with the transaction's outcome, as one
 * list: a lone answer at once, on this thread, when no entry waits (handing
 * it over would cost a wake-up as long as sending it); more through the
 * replier, so that the next apply starts at once. The batches go with the
 * answers (a retry replays an entry from its copy); the replays' jobs are
 * freed. */
static void answer_live(rt_raft *r, apply_run *a) {
  pthread_mutex_lock(&r->mu);
  bool now = r->q_head == NULL && a->n_jobs <= 1;
  pthread_mutex_unlock(&r->mu);
  rt_job *head = NULL, *tail = NULL;
  size_t i = 0, k = 0;
  for (item *it = a->list; it != NULL; it = it->next, k++) {
    if (it->live == NULL) {
      if (a->decoded != NULL && a->decoded[k] != NULL) {
        i += a->n_decoded[k];
        rl_free_replayed(a->decoded[k], a->n_decoded[k]);
      }
      continue;
    }
    batch *b = it->live;
    if (a->ops != NULL && a->jobs != NULL)
      rt_writer_outcome(r->rt, a->jobs + i, a->ops + i, b->n, a->rc, &a->err);
    else
      outcome_alone(r->rt, b, a->rc, &a->err);
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
    rt_writer_answer(r->rt, head, tail, now);
}

/* Applies the entries of list (in log order) to the store in ONE write
 * transaction, which also records the last one's index. Entries at or
 * below r->applied are in the store already. Live entries' callers are
 * answered. Returns the entries the store refused, to apply again (their
 * callers told UNAVAILABLE), or NULL. */
static item *apply_items(rt_raft *r, item *list) {
  list = skip_applied(r, list);
  if (list == NULL)
    return NULL;
  apply_run a = {.list = list};
  run_count(&a);
  int64_t t_start = mc_mono_ns();
  run_decode(r, &a);
  if (a.rc == MC_OK)
    run_write(r, &a);
  int fate = a.ahead != NULL ? await_fate(r, a.ahead) : 1;
  if (a.ahead != NULL)
    a.last = a.ahead->index; /* known now that the fate is */
  if (a.rc == MC_OK && a.ahead != NULL && a.ahead->t_held != 0)
    note_times(r, a.ahead, t_start);
  if (a.rc == MC_OK)
    r->applied = a.last;
  else if (fate > 0)
    mc_log(MC_LOG_ERR, NULL, "raft entries %" PRIu64 "-%" PRIu64 " not applied: %s: %s",
           list->index, a.last, mc_code_name(a.rc), a.err.msg);
  if (fate <= 0)
    answer_unwritten(r, &a);
  else
    answer_live(r, &a);
  free(a.ops);
  free(a.jobs);
  free(a.decoded);
  free(a.n_decoded);
  if (a.rc == MC_OK || fate <= 0) {
    free_items(list);
    return NULL;
  }
  return list;
}

/* ---- When the store refuses entries ------------------------------------------- */

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

/* ---- The thread ----------------------------------------------------------------- */

/* Waits (mu held) for entries to apply; while the store refuses entries
 * (retrying), at most retry_ms before it is tried again - new entries then
 * queue behind the refused ones. */
static void await_items(rt_raft *r, bool retrying, unsigned retry_ms) {
  if (retrying && !r->applier_stop) {
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
}

/* Takes everything raft's thread handed over (mu held). If a full queue
 * held raft's thread back, it may make entries again. */
static item *take_queue(rt_raft *r) {
  item *list = r->q_head;
  r->q_head = r->q_tail = NULL;
  r->q_len = 0;
  if (r->held && !r->loop_closed) {
    r->held = false;
    uv_async_send(&r->wake);
  }
  return list;
}

/* front, then back: entries stay in log order. */
static item *join_items(item *front, item *back) {
  if (front == NULL)
    return back;
  item *t = front;
  while (t->next != NULL)
    t = t->next;
  t->next = back;
  return front;
}

/* Applies the entries the store refused before (retry), then list, in log
 * order: committed entries together, in one transaction; an ahead item in
 * one of its own (its transaction waits for its fate). Returns the entries
 * the store refused now and everything behind them, or NULL. */
static item *apply_in_order(rt_raft *r, item *retry, item *list, bool started) {
  bool was_refused = retry != NULL;
  list = join_items(retry, list);
  retry = NULL;
  while (list != NULL && retry == NULL) {
    item *chunk = list, *end = list;
    if (!list->ahead)
      while (end->next != NULL && !end->next->ahead)
        end = end->next;
    list = end->next;
    end->next = NULL;
    retry = apply_items(r, chunk);
  }
  if (retry != NULL)
    retry = join_items(retry, list); /* the rest waits behind */
  if (retry != NULL && started)
    retry = answer_behind(r, retry);
  if (was_refused && retry == NULL)
    /* The store took the refused entries: Health says SERVING again
     * even if no caller's batch commits now (none may be waiting). */
    rt_writer_outcome(r->rt, NULL, NULL, 0, MC_OK, NULL);
  return retry;
}

static void *applier_main(void *arg) {
  rt_raft *r = arg;
  pthread_setname_np(pthread_self(), "rt:applier");
  item *retry = NULL;
  unsigned retry_ms = RETRY_FIRST_MS;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    await_items(r, retry != NULL, retry_ms);
    if (r->applier_stop && (r->q_head == NULL || retry != NULL))
      break; /* stopping; entries the store refused stay in raft's log */
    item *list = take_queue(r);
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
      retry = join_items(retry, list);
      answer_unapplied(r, retry);
      pthread_mutex_lock(&r->mu);
      r->retrying = true;
      pthread_cond_broadcast(&r->done);
      continue;
    }
    retry = apply_in_order(r, retry, list, started);
    if (retry != NULL && !started) {
      /* Replaying at start: the router does not serve on a store that
       * cannot take its own log. */
      rl_start_done(r, MC_UNAVAILABLE, "the store refused an entry (see the log above)");
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

mc_code rl_applier_start(rt_raft *r, mc_err *err) {
  if (pthread_create(&r->applier, NULL, applier_main, r) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("cannot start the raft thread"));
  r->applier_started = true;
  return MC_OK;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* At stop: p50 and p90 of the applier's times (see rt_raft.t_write). */
static void log_times(rt_raft *r) {
  size_t n = r->n_times < RL_TIMES ? r->n_times : RL_TIMES;
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

void rl_applier_stop(rt_raft *r) {
  if (r->applier_started) {
    pthread_mutex_lock(&r->mu);
    r->applier_stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->applier, NULL);
    r->applier_started = false;
  }
  free_items(r->q_head);
  r->q_head = r->q_tail = NULL;
  r->q_len = 0;
  log_times(r);
}
