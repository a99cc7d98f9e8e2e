/*
 * workers.c - fixed pools of threads for the gateway's slow requests:
 * Argon2id logins and document downloads (PDF, xlsx).
 *
 * nng's HTTP handlers and RPC done callbacks run on nng's own threads and
 * must not block, so work that takes long (a password check: ~0.1 s and
 * 64 MiB; a case file: a few hundred ms of cairo; a ledger: an RPC per
 * case) is handed here as a job that holds its request. The server's aio
 * stays ours (nng_aio is finished by the job's wg_reply_*), so the model
 * is login's from before: the handler returns at once, a worker answers.
 *
 * Bounded twice: a fixed number of threads, started with the gateway, and
 * a queue of at most max_queued jobs. A full queue is answered at once with
 * 503 and Retry-After (the pool's own message: "too many logins ...",
 * "too many documents ..."), never by growing memory or threads.
 *
 * Stop (wg_workers_stop): new jobs are refused (503, "the server is
 * stopping"), queued ones are answered the same, running ones finish (a
 * long one asks wg_workers_stopping between its steps and ends early), and
 * every thread is joined, while the HTTP server and the RPC client the
 * jobs use still exist. The pool's memory is freed later
 * (wg_workers_free), after the last RPC callback that could submit a job
 * has run: a job submitted to a stopped pool is refused, not lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "web/gateway.h"

/* How long a refused client should wait before asking again: the queue
 * drains in about this time; a stopping gateway is back (restarted by
 * systemd) in a few more. */
#define WG_RETRY_BUSY "2"
#define WG_RETRY_STOPPING "5"

struct wg_workers {
  char name[32];         /* for the log: "login", "documents" */
  const char *busy;      /* N_() text of the 503 for a full queue */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  wg_job *head, *tail;   /* the queue, oldest first */
  size_t queued, max_queued;
  bool stopping;         /* set once, by wg_workers_stop */
  bool joined;
  pthread_t *threads;
  unsigned n_threads;
};

static void discard(wg_job *j) {
  if (j->discard != NULL)
    j->discard(j);
  else
    free(j);
}

/* Answers a job that will not run with 503 and frees it. */
static void refuse(wg_job *j, const char *message, const char *retry_after) {
  wg_reply_error_status(j->r, 503, MC_UNAVAILABLE, message, "Retry-After", retry_after);
  j->r = NULL;
  discard(j);
}

static void *worker(void *arg) {
  wg_workers *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->head == NULL && !p->stopping)
      pthread_cond_wait(&p->cv, &p->mu);
    if (p->head == NULL)
      break; /* stopping, and the queue is empty (stop takes what is left) */
    wg_job *j = p->head;
    p->head = j->next;
    if (p->head == NULL)
      p->tail = NULL;
    p->queued--;
    pthread_mutex_unlock(&p->mu);
    /* The job answers in the browser's language (its refusals, and those
     * of what it calls, such as web/accounts.c). run frees j and r: the
     * locale is switched back without them. */
    locale_t previous = mc_i18n_use(j->r->lang);
    j->run(j);
    mc_i18n_restore(previous);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

mc_code wg_workers_start(const char *name, unsigned threads, size_t max_queued, const char *busy,
                         wg_workers **out, mc_err *err) {
  if (threads == 0 || max_queued == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s workers: threads and queue must be > 0", name);
  wg_workers *p = calloc(1, sizeof(*p));
  if (p == NULL || (p->threads = calloc(threads, sizeof(pthread_t))) == NULL) {
    free(p);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  }
  snprintf(p->name, sizeof(p->name), "%s", name);
  p->busy = busy;
  p->max_queued = max_queued;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (unsigned i = 0; i < threads; i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
      p->n_threads = i;
      wg_workers_stop(p);
      wg_workers_free(p);
      return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the %s threads", name);
    }
  }
  p->n_threads = threads;
  *out = p;
  return MC_OK;
}

bool wg_workers_submit(wg_workers *p, wg_job *j) {
  if (p == NULL) {
    refuse(j, N_("the server is stopping"), WG_RETRY_STOPPING);
    return false;
  }
  pthread_mutex_lock(&p->mu);
  if (p->stopping || p->queued >= p->max_queued) {
    bool stopping = p->stopping;
    pthread_mutex_unlock(&p->mu);
    if (!stopping)
      mc_log(MC_LOG_WARNING, NULL, "%s workers: queue full (%zu), answered 503", p->name,
             p->max_queued);
    refuse(j, stopping ? N_("the server is stopping") : p->busy,
           stopping ? WG_RETRY_STOPPING : WG_RETRY_BUSY);
    return false;
  }
  j->next = NULL;
  if (p->tail != NULL)
    p->tail->next = j;
  else
    p->head = j;
  p->tail = j;
  p->queued++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return true;
}

bool wg_workers_stopping(wg_workers *p) {
  pthread_mutex_lock(&p->mu);
  bool s = p->stopping;
  pthread_mutex_unlock(&p->mu);
  return s;
}

size_t wg_workers_queued(wg_workers *p) {
  pthread_mutex_lock(&p->mu);
  size_t n = p->queued;
  pthread_mutex_unlock(&p->mu);
  return n;
}

void wg_workers_stop(wg_workers *p) {
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  wg_job *left = p->head;
  p->head = p->tail = NULL;
  p->queued = 0;
  pthread_cond_broadcast(&p->cv);
  bool joined = p->joined;
  p->joined = true;
  pthread_mutex_unlock(&p->mu);
  /* What never started is answered here, outside the lock: wg_reply
   * hands the reply to nng, which may take its own locks. */
  size_t n = 0;
  while (left != NULL) {
    wg_job *next = left->next;
    refuse(left, N_("the server is stopping"), WG_RETRY_STOPPING);
    left = next;
    n++;
  }
  if (n > 0)
    mc_log(MC_LOG_NOTICE, NULL, "%s workers: %zu queued requests answered 503 (stopping)",
           p->name, n);
  if (!joined)
    for (unsigned i = 0; i < p->n_threads; i++)
      pthread_join(p->threads[i], NULL);
}

void wg_workers_free(wg_workers *p) {
  if (p == NULL)
    return;
  wg_workers_stop(p); /* no-op when stopped already */
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->threads);
  free(p);
}
