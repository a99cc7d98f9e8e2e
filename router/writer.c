/*
 * writer.c - the router's one writer: group commit.
 *
 * LMDB allows one write transaction at a time, and a durable commit costs a
 * disk flush (milliseconds on these machines) whatever it carries. So every
 * write - an Apply, an acknowledgement, an access record - becomes a job on
 * a queue, and one thread takes everything queued while the previous commit
 * ran and applies it in ONE transaction, each job in a nested transaction of
 * its own (storage/txn.h): one job refused does not spoil the others. Under
 * load the batch grows by itself and the flush is shared; at rest a lone job
 * is committed at once, with no timer to wait for.
 *
 * When the store cannot commit (its disk full, an I/O error, the map at its
 * size limit), nothing of the batch stands: every job is answered
 * UNAVAILABLE - not applied, send the same request again - with what went
 * wrong, never a bare "Input/output error"; a queued step that a unit
 * forwards is then kept and retried, not dropped as a refusal. Health says
 * NOT_SERVING with the reason until a commit succeeds again.
 *
 * Only when mdb_txn_commit has returned are the jobs answered, and the long
 * polls of units that got a delivery woken - by a second thread, the
 * replier. Sending a reply is a system call and wakes nng's threads (tens of
 * microseconds each on these machines, as much as applying the job); done
 * on the writer, it would hold up the next batch, which can only start when
 * the writer is free. Handed over as one list per batch, the answers go out
 * while the writer applies and commits the next batch. Nothing is answered
 * earlier than before: the replier only ever sees committed batches.
 *
 * In [storage] mode = raft there is no writer thread: raft's own thread
 * takes the queue (rt_writer_take) as one raft entry per write of raft's
 * log, and router/raftlog.c's applier runs and commits the jobs, then
 * answers them itself when a lone job waits (a hand-over costs a wake-up
 * as long as the reply) or through the replier (rt_writer_answer).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/log.h"
#include "router/internal.h"

/* Appends the linked jobs first..last to the list *head..*tail (the
 * caller holds the list's lock). Both of the writer's queues are such lists:
 * jobs to write, and committed batches to answer. */
static void list_append(rt_job **head, rt_job **tail, rt_job *first, rt_job *last) {
  last->next = NULL;
  if (*tail != NULL)
    (*tail)->next = first;
  else
    *head = first;
  *tail = last;
}

void rt_writer_submit(rt_router *rt, rt_job *job) {
  pthread_mutex_lock(&rt->queue_lock);
  list_append(&rt->queue_head, &rt->queue_tail, job, job);
  rt->queued++;
  if (rt->raft == NULL)
    pthread_cond_signal(&rt->queue_cond);
  pthread_mutex_unlock(&rt->queue_lock);
  if (rt->raft != NULL)
    rt_raft_wake(rt); /* raft mode: raft's own thread takes the queue (raftlog.c) */
}

/* Cuts up to max jobs off the head of the queue (queue_lock held); *n_out:
 * how many, *last_out (if not NULL): the last of them. */
static rt_job *queue_cut(rt_router *rt, size_t max, rt_job **last_out, size_t *n_out) {
  rt_job *head = rt->queue_head, *last = NULL;
  size_t n = 0;
  for (rt_job *j = head; j != NULL && n < max; j = j->next) {
    last = j;
    n++;
  }
  if (last != NULL) {
    rt->queue_head = last->next;
    if (rt->queue_head == NULL)
      rt->queue_tail = NULL;
    last->next = NULL;
    rt->queued -= n;
  }
  if (last_out != NULL)
    *last_out = last;
  *n_out = n;
  return head;
}

rt_job *rt_writer_take(rt_router *rt, size_t max, rt_job **last_out, size_t *n_out) {
  pthread_mutex_lock(&rt->queue_lock);
  rt_job *head = queue_cut(rt, max, last_out, n_out);
  rt->raft_live += *n_out;
  pthread_mutex_unlock(&rt->queue_lock);
  return head;
}

void rt_writer_raft_drain(rt_router *rt) {
  pthread_mutex_lock(&rt->queue_lock);
  while (rt->queue_head != NULL || rt->raft_live > 0)
    pthread_cond_wait(&rt->queue_cond, &rt->queue_lock);
  pthread_mutex_unlock(&rt->queue_lock);
}

/* Takes up to max jobs off the queue, waiting for one if it is empty.
 * Returns NULL when stopping with an empty queue. */
static rt_job *take_batch(rt_router *rt, size_t max, size_t *n_out) {
  pthread_mutex_lock(&rt->queue_lock);
  while (rt->queue_head == NULL && !rt->writer_stop)
    pthread_cond_wait(&rt->queue_cond, &rt->queue_lock);
  rt_job *head = queue_cut(rt, max, NULL, n_out);
  pthread_mutex_unlock(&rt->queue_lock);
  return head;
}

/* Answers a job's call with its result. */
static void complete(rt_job *job) {
  if (job->call == NULL)
    return;
  if (job->code == MC_OK)
    rpc_call_reply_packed(job->call, job->payload, job->payload_len);
  else
    rpc_call_fail(job->call, job->code, "%s", job->message);
  job->call = NULL;
}

/* Hands a committed batch (head..last, linked) to the replier. */
static void hand_over(rt_router *rt, rt_job *head, rt_job *last) {
  pthread_mutex_lock(&rt->reply_lock);
  list_append(&rt->reply_head, &rt->reply_tail, head, last);
  pthread_cond_signal(&rt->reply_cond);
  pthread_mutex_unlock(&rt->reply_lock);
}

/* Answers the committed jobs of list (linked), frees them, and wakes the
 * long polls of the units they named; wake is room for cap names. In raft
 * mode jobs are counted until answered (rt_writer_raft_drain). */
static void answer_list(rt_router *rt, rt_job *list, char (*wake)[ST_NAME_MAX], size_t cap) {
  size_t n_wake = 0, n = 0;
  bool wake_all = false;
  for (rt_job *j = list, *next; j != NULL; j = next) {
    next = j->next;
    if (n_wake + RT_WAKE_MAX > cap) { /* several batches came at once */
      rt_wake_units(rt, wake, n_wake);
      n_wake = 0;
    }
    for (int w = 0; w < j->n_wake; w++)
      memcpy(wake[n_wake++], j->wake[w], ST_NAME_MAX);
    wake_all = wake_all || j->wake_all;
    complete(j);
    rt_job_free(j);
    n++;
  }
  if (wake_all)
    rt_wake_all(rt);
  else if (n_wake > 0)
    rt_wake_units(rt, wake, n_wake);
  if (rt->raft != NULL) {
    pthread_mutex_lock(&rt->queue_lock);
    rt->raft_live -= n;
    if (rt->raft_live == 0)
      pthread_cond_broadcast(&rt->queue_cond);
    pthread_mutex_unlock(&rt->queue_lock);
  }
}

void rt_writer_answer(rt_router *rt, rt_job *head, rt_job *last, bool now) {
  if (!now) {
    hand_over(rt, head, last);
    return;
  }
  last->next = NULL;
  char wake[RT_WAKE_MAX * 4][ST_NAME_MAX];
  answer_list(rt, head, wake, RT_WAKE_MAX * 4);
}

static void *replier_main(void *arg) {
  rt_router *rt = arg;
  pthread_setname_np(pthread_self(), "rt:replier");
  size_t cap = (size_t)rt->batch_max * 2 + RT_WAKE_MAX;
  char(*wake)[ST_NAME_MAX] = calloc(cap, ST_NAME_MAX);
  if (wake == NULL) {
    mc_log(MC_LOG_ERR, NULL, "replier: out of memory; the router cannot answer");
    abort(); /* committed writes that are never answered would only time out */
  }
  for (;;) {
    pthread_mutex_lock(&rt->reply_lock);
    while (rt->reply_head == NULL && !rt->replier_stop)
      pthread_cond_wait(&rt->reply_cond, &rt->reply_lock);
    rt_job *list = rt->reply_head;
    rt->reply_head = rt->reply_tail = NULL;
    pthread_mutex_unlock(&rt->reply_lock);
    if (list == NULL)
      break; /* stopping, and everything committed is answered */
    answer_list(rt, list, wake, cap);
  }
  free(wake);
  return NULL;
}

/* What a failed commit means for the jobs and for monitoring (see the top
 * of the file). why is the store's error, code its status. */
static void store_failed(rt_router *rt, mc_code code, const char *why, rt_job **jobs, size_t n) {
  const char *what = code == MC_RESOURCE_EXHAUSTED ? "out of space: the disk is full, or the "
                                                     "store reached its largest map size"
                     : code == MC_UNAVAILABLE ? "the disk failed a write (I/O error), or "
                                                "memory ran out"
                                              : "a store failure";
  char detail[256];
  snprintf(detail, sizeof(detail), "the store cannot commit: %s (%.120s)", what, why);
  if (!rt->store_failing)
    mc_log(MC_LOG_ERR, NULL, "%s; writes are refused UNAVAILABLE until a commit succeeds",
           detail);
  rt->store_failing = true;
  if (rt->server != NULL && !atomic_load(&rt->stopping))
    rpc_server_set_serving(rt->server, false, detail);
  for (size_t i = 0; i < n; i++) {
    rt_job *j = jobs[i];
    j->code = MC_UNAVAILABLE;
    int len;
    if (rt->raft != NULL) /* raft mode: the entry stays in raft's log and is applied again */
      len = snprintf(j->message, sizeof(j->message),
                     _("not applied yet: the router could not store it, %s (%.90s); it is in "
                       "the router's log and is applied when the store takes writes again: send "
                       "the same request again (same request id) for its answer"),
                     what, why);
    else
      len = snprintf(j->message, sizeof(j->message),
                     "nothing was applied: the router could not store it, %s; send the same "
                     "request again later (%.90s)",
                     what, why);
    (void)len; /* the store's own words may be cut; what went wrong comes first */
    j->n_wake = 0;
  }
}

static void store_recovered(rt_router *rt) {
  rt->store_failing = false;
  mc_log(MC_LOG_NOTICE, NULL, "the store commits again");
  if (rt->server != NULL && !atomic_load(&rt->stopping))
    rpc_server_set_serving(rt->server, true, "");
}

void rt_writer_outcome(rt_router *rt, rt_job **jobs, const st_op *ops, size_t n, mc_code rc,
                       const mc_err *err) {
  if (rc != MC_OK) {
    mc_log(rt->store_failing ? MC_LOG_WARNING : MC_LOG_ERR, NULL,
           "group commit of %zu writes failed: %s: %s", n, mc_code_name(rc), err->msg);
    store_failed(rt, rc, err->msg, jobs, n);
  } else if (rt->store_failing) {
    store_recovered(rt);
  }
  for (size_t i = 0; i < n && rc == MC_OK; i++) {
    rt_job *j = jobs[i];
    if (ops[i].code != MC_OK) {
      /* Rolled back (or the whole batch failed): whatever the callback
       * prepared as an answer does not stand. */
      j->code = ops[i].code;
      snprintf(j->message, sizeof(j->message), "%s", ops[i].err.msg);
      j->n_wake = 0;
      j->wake_all = false;
    }
  }
}

/* A batch committed (or not) in lmdb-sync mode: its outcome, to the replier. */
static void finish(rt_router *rt, rt_job **jobs, const st_op *ops, size_t n, mc_code rc,
                   const mc_err *err) {
  rt_writer_outcome(rt, jobs, ops, n, rc, err);
  hand_over(rt, jobs[0], jobs[n - 1]);
}

static void *writer_main(void *arg) {
  rt_router *rt = arg;
  pthread_setname_np(pthread_self(), "rt:writer"); /* for top -H and perf */
  st_op *ops = calloc(rt->batch_max, sizeof(*ops));
  rt_job **jobs = calloc(rt->batch_max, sizeof(*jobs));
  if (ops == NULL || jobs == NULL) {
    mc_log(MC_LOG_ERR, NULL, "writer: out of memory; the router cannot write");
    abort(); /* a router that cannot write must not pretend to serve */
  }
  for (;;) {
    size_t n;
    rt_job *batch = take_batch(rt, rt->batch_max, &n);
    if (batch == NULL)
      break;
    size_t i = 0;
    for (rt_job *j = batch; j != NULL; j = j->next, i++) {
      jobs[i] = j;
      ops[i] = (st_op){.apply = rt_job_run, .arg = j, .direct = rt_job_is_direct(j)};
    }
    rt->batches++;
    rt->jobs_written += n;
    if (n > rt->batch_peak)
      rt->batch_peak = n;
    mc_err err;
    mc_code rc = st_write_batch(rt->store, ops, n, &err);
    finish(rt, jobs, ops, n, rc, &err);
  }
  free(ops);
  free(jobs);
  return NULL;
}

mc_code rt_writer_start(rt_router *rt, mc_err *err) {
  if (pthread_create(&rt->replier_thread, NULL, replier_main, rt) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the replier thread");
  rt->replier_started = true;
  if (rt->raft != NULL) {
    /* raft mode: no writer thread. raft's own thread takes the queue
     * (one hand-off less per batch) and raftlog.c's applier applies and
     * answers; see raftlog.c. */
    rt->raft_writer = true;
    return MC_OK;
  }
  if (pthread_create(&rt->writer_thread, NULL, writer_main, rt) != 0) {
    rt_writer_stop(rt);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the writer thread");
  }
  rt->writer_started = true;
  return MC_OK;
}

void rt_writer_stop(rt_router *rt) {
  if (rt->raft_writer) {
    /* Every job queued or handed to raft is answered before the replier
     * stops (the server is stopped: no new ones come). */
    rt_writer_raft_drain(rt);
    rt->raft_writer = false;
    mc_log(MC_LOG_NOTICE, NULL,
           "writer: %llu writes in %llu raft entries (%.1f per entry, at most %llu)",
           (unsigned long long)rt->jobs_written, (unsigned long long)rt->batches,
           rt->batches ? (double)rt->jobs_written / (double)rt->batches : 0.0,
           (unsigned long long)rt->batch_peak);
  }
  if (rt->writer_started) {
    pthread_mutex_lock(&rt->queue_lock);
    rt->writer_stop = true;
    pthread_cond_signal(&rt->queue_cond);
    pthread_mutex_unlock(&rt->queue_lock);
    pthread_join(rt->writer_thread, NULL);
    rt->writer_started = false;
    mc_log(MC_LOG_NOTICE, NULL,
           "writer: %llu writes in %llu commits (%.1f per commit, at most %llu)",
           (unsigned long long)rt->jobs_written, (unsigned long long)rt->batches,
           rt->batches ? (double)rt->jobs_written / (double)rt->batches : 0.0,
           (unsigned long long)rt->batch_peak);
  }
  /* After the writer: every batch it committed is answered before the
   * store closes (long polls woken by the replier read it). */
  if (rt->replier_started) {
    pthread_mutex_lock(&rt->reply_lock);
    rt->replier_stop = true;
    pthread_cond_signal(&rt->reply_cond);
    pthread_mutex_unlock(&rt->reply_lock);
    pthread_join(rt->replier_thread, NULL);
    rt->replier_started = false;
  }
}
