/*
 * watch.c - Desk/Watch: an open desk (the web gateway, a browser behind
 * it) learns that its inbox or one of its cases changed without polling
 * every second.
 *
 * The idea: every change the unit makes or receives is noted in a ring of
 * the last UN_WATCH_RING changes, numbered by seq under an epoch drawn at
 * random when the daemon starts. A watch asks "what changed after
 * (epoch, after)": if something did, it is answered at once with the case
 * ids (deduplicated) and whether the inbox changed; if the epoch is not
 * this run's, or `after` fell out of the ring (or lies ahead of it), it is
 * answered at once with reset (the desk reads everything again); else it
 * waits, as a call the server keeps open - no thread of ours or nng's is
 * blocked - until the next change is noted or its wait runs out, which one
 * timer thread watches for. Changes are kept in memory only: a restart
 * draws a new epoch, so every desk resets once.
 *
 * Fed by (internal.h): the puller (deliveries stored: an offer or a recall
 * changes the inbox), the Desk (steps queued or refused: accepting or
 * refusing an offer changes the inbox) and the forwarder (the router's
 * answer to a queued step recorded: the copy rebuilt, or a conflict kept).
 * This file calls nothing else of the unit.
 *
 * Each waiting watch holds one of the Desk server's contexts, so at most
 * UN_WATCH_MAX_WAITING wait at once and the server has more contexts than
 * that (unit.c): a desk's other calls are never starved by its watches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/log.h"
#include "services/unit/internal.h"

#define WATCH_MARGIN_MS 250 /* answer this long before the request's deadline */

/* The change numbered s, in ring[s % UN_WATCH_RING] while s is among the
 * last UN_WATCH_RING. */
typedef struct change {
  bool inbox;
  char *case_id; /* owned; NULL when the change names no case */
} change;

typedef struct watcher {
  struct watcher *next;
  rpc_call *call;
  uint64_t after;
  int64_t until_mono;
} watcher;

struct un_watch {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC: a watcher added, stop */
  uint64_t epoch, seq;
  change ring[UN_WATCH_RING]; /* the change numbered s is ring[s % UN_WATCH_RING] */
  watcher *waiting;
  size_t n_waiting;
  bool stopping;
  pthread_t timer;
  bool timer_started;
};

/* ---- Answers ----------------------------------------------------------------------- */

/* A reply built under mu and sent after it is released: the ring's
 * strings may be overwritten as soon as mu is let go, so it owns copies. */
typedef struct answer {
  Mediation__V1__DeskWatchReply reply;
  char **ids; /* owned, each malloc'd */
  size_t n;
  bool failed; /* out of memory: the call is failed instead */
} answer;

/* True if id is among ids[0..n) (NULL entries skipped). */
static bool listed(char *const *ids, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++) {
    if (ids[i] != NULL && strcmp(ids[i], id) == 0)
      return true;
  }
  return false;
}

/* What changed after (epoch, after), with mu held. */
static void collect(const un_watch *w, uint64_t epoch, uint64_t after, answer *a) {
  *a = (answer){0};
  mediation__v1__desk_watch_reply__init(&a->reply);
  a->reply.epoch = w->epoch;
  a->reply.seq = w->seq;
  if (epoch != w->epoch || after > w->seq || w->seq - after > UN_WATCH_RING) {
    a->reply.reset = true;
    return;
  }
  size_t count = (size_t)(w->seq - after);
  if (count == 0)
    return;
  if ((a->ids = calloc(count, sizeof(*a->ids))) == NULL) {
    a->failed = true;
    return;
  }
  for (uint64_t s = after + 1; s <= w->seq; s++) {
    const change *c = &w->ring[s % UN_WATCH_RING];
    if (c->inbox)
      a->reply.inbox_changed = true;
    if (c->case_id == NULL || listed(a->ids, a->n, c->case_id))
      continue;
    if ((a->ids[a->n] = strdup(c->case_id)) == NULL) {
      a->failed = true;
      return;
    }
    a->n++;
  }
}

static void answer_free(answer *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->ids[i]);
  free(a->ids);
  a->ids = NULL;
  a->n = 0;
}

/* Sends what collect built (mu not held) and frees it. */
static void send_answer(rpc_call *call, answer *a) {
  if (a->failed) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory; watch again"));
  } else {
    a->reply.case_ids = a->ids;
    a->reply.n_case_ids = a->n;
    rpc_call_reply(call, &a->reply.base);
  }
  answer_free(a);
}

/* Answers every watcher of list (taken off the waiting list), each with
 * what changed after its own `after`. Called without mu. */
static void answer_list(un_watch *w, watcher *list) {
  while (list != NULL) {
    watcher *next = list->next;
    answer a;
    pthread_mutex_lock(&w->mu);
    collect(w, w->epoch, list->after, &a);
    pthread_mutex_unlock(&w->mu);
    send_answer(list->call, &a);
    free(list);
    list = next;
  }
}

/* ---- The timer --------------------------------------------------------------------- */

static void timespec_at_mono(int64_t mono_ms, struct timespec *ts) {
  ts->tv_sec = (time_t)(mono_ms / 1000);
  ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* Answers watchers whose wait ran out (nothing changed for them). */
static void *timer_main(void *arg) {
  un_watch *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stopping) {
    int64_t now = mc_mono_ms();
    int64_t wake = 0;
    watcher *due = NULL, **link = &w->waiting;
    while (*link != NULL) {
      watcher *x = *link;
      if (x->until_mono <= now) {
        *link = x->next;
        x->next = due;
        due = x;
        w->n_waiting--;
      } else {
        if (wake == 0 || x->until_mono < wake)
          wake = x->until_mono;
        link = &x->next;
      }
    }
    if (due != NULL) {
      pthread_mutex_unlock(&w->mu);
      answer_list(w, due);
      pthread_mutex_lock(&w->mu);
      continue;
    }
    if (wake == 0) {
      pthread_cond_wait(&w->cv, &w->mu);
    } else {
      struct timespec ts;
      timespec_at_mono(wake, &ts);
      pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* ---- Life -------------------------------------------------------------------------- */

mc_code un_watch_open(un_watch **out, mc_err *err) {
  un_watch *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  /* Never 0: a desk's first watch asks with epoch 0 and must get reset. */
  do
    randombytes_buf(&w->epoch, sizeof(w->epoch));
  while (w->epoch == 0);
  if (pthread_create(&w->timer, NULL, timer_main, w) != 0) {
    un_watch_free(w);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the watch timer thread");
  }
  w->timer_started = true;
  *out = w;
  return MC_OK;
}

void un_watch_stop(un_watch *w) {
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->mu);
  w->stopping = true;
  watcher *all = w->waiting;
  w->waiting = NULL;
  w->n_waiting = 0;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  while (all != NULL) {
    watcher *next = all->next;
    rpc_call_fail(all->call, MC_UNAVAILABLE, "%s",
                  _("the unit's service is stopping; watch again (with epoch 0) once it is "
                    "back"));
    free(all);
    all = next;
  }
  if (w->timer_started) {
    pthread_join(w->timer, NULL);
    w->timer_started = false;
  }
}

void un_watch_free(un_watch *w) {
  if (w == NULL)
    return;
  un_watch_stop(w);
  for (size_t i = 0; i < UN_WATCH_RING; i++)
    free(w->ring[i].case_id);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  free(w);
}

/* ---- Changes ----------------------------------------------------------------------- */

/* Numbers one change, with mu held. */
static void add_change(un_watch *w, const char *case_id, bool inbox) {
  change *c = &w->ring[(w->seq + 1) % UN_WATCH_RING];
  free(c->case_id);
  /* Out of memory: the change is still numbered, without its case; a desk
   * is woken all the same. */
  c->case_id = case_id != NULL ? strdup(case_id) : NULL;
  c->inbox = inbox;
  w->seq++;
}

void un_watch_note(un_watch *w, const char *const *case_ids, size_t n, bool inbox) {
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->mu);
  /* One change per case id (the first also carries inbox), or one without
   * a case when only the inbox changed. */
  size_t added = 0;
  for (size_t i = 0; i < n; i++) {
    if (case_ids[i] == NULL || case_ids[i][0] == '\0' || listed((char *const *)case_ids, i, case_ids[i]))
      continue;
    add_change(w, case_ids[i], inbox && added == 0);
    added++;
  }
  if (added == 0 && inbox) {
    add_change(w, NULL, true);
    added++;
  }
  watcher *woken = NULL;
  if (added > 0) {
    woken = w->waiting;
    w->waiting = NULL;
    w->n_waiting = 0;
  }
  pthread_mutex_unlock(&w->mu);
  answer_list(w, woken);
}

/* ---- The call ---------------------------------------------------------------------- */

void un_watch_call(un_watch *w, rpc_call *call, const Mediation__V1__DeskWatchRequest *in) {
  int64_t wait = in->wait_ms == 0 ? UN_WATCH_DEFAULT_MS : in->wait_ms;
  if (wait > UN_WATCH_MAX_MS)
    wait = UN_WATCH_MAX_MS;
  int64_t left = rpc_call_deadline_ms(call) - WATCH_MARGIN_MS - mc_now_ms();
  if (wait > left)
    wait = left;
  answer a;
  pthread_mutex_lock(&w->mu);
  if (w->stopping) {
    pthread_mutex_unlock(&w->mu);
    rpc_call_fail(call, MC_UNAVAILABLE,
                  _("the unit's service is stopping; watch again (with epoch 0) once it is back"));
    return;
  }
  collect(w, in->epoch, in->after, &a);
  if (a.reply.reset || a.failed || a.reply.seq > in->after || wait <= 0) {
    pthread_mutex_unlock(&w->mu);
    send_answer(call, &a);
    return;
  }
  /* Nothing changed yet: a is empty (it owns nothing). */
  if (w->n_waiting >= UN_WATCH_MAX_WAITING) {
    pthread_mutex_unlock(&w->mu);
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED,
                  _("%d watches are waiting at this unit already; a desk needs one at a time "
                  "(a gateway shares one among its browsers): try again later"),
                  UN_WATCH_MAX_WAITING);
    return;
  }
  watcher *x = calloc(1, sizeof(*x));
  if (x == NULL) {
    pthread_mutex_unlock(&w->mu);
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory; watch again"));
    return;
  }
  *x = (watcher){.call = call, .after = in->after, .until_mono = mc_mono_ms() + wait};
  x->next = w->waiting;
  w->waiting = x;
  w->n_waiting++;
  pthread_cond_signal(&w->cv); /* the timer may need to wake earlier */
  pthread_mutex_unlock(&w->mu);
}
