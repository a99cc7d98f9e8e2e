/*
 * deliveries.c - long polls: a unit's PullDeliveries waits for its next
 * handoff instead of polling.
 *
 * A poll that finds nothing pending becomes a waiter: its call stays open
 * (it holds one of the server's contexts) until the writer commits a
 * delivery for its unit, or its wait runs out, whichever comes first. The
 * writer bumps delivery_epoch after every commit that queued deliveries,
 * under the same lock under which a poll registers, so a delivery committed
 * between a poll's read and its registration is never missed: the poll sees
 * the epoch moved and reads again.
 *
 * One timer thread answers the waiters whose time is up, and does the
 * housekeeping that must happen now and then: expiring idempotency records
 * past their retention and clearing reader slots left by dead processes.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/log.h"
#include "router/internal.h"

#define DEFAULT_MAX 100
/* Long polls one unit may hold at once. A unit needs one; a unit that was
 * killed and restarted leaves its old poll behind (nng 1.5.2 does not say
 * that the requester is gone), and each held poll holds a server context:
 * without a bound, a unit restarting in a loop would take them all. A new
 * poll beyond the bound answers the unit's oldest at once (an empty list:
 * a live poller simply polls again). */
#define POLLS_PER_UNIT 2
#define DEADLINE_MARGIN_MS 250 /* answer a poll this long before its deadline */
#define HOUSEKEEPING_MS 60000

struct rt_waiter {
  rt_waiter *next;
  rpc_call *call;
  const mc_principal *unit;
  uint64_t after_seq;
  uint32_t max;
  int64_t until_ms; /* mc_now_ms() clock */
};

/* Reads the unit's pending deliveries and answers the call with them (an
 * empty list is a valid answer). */
static void answer(rt_router *rt, rpc_call *call, const mc_principal *unit, uint64_t after_seq,
                   uint32_t max, size_t *n_out) {
  st_txn *txn = NULL;
  mv_delivery **list = NULL;
  size_t n = 0;
  mc_err err;
  mc_code rc = st_read_begin(rt->store, &txn, &err);
  if (rc == MC_OK)
    rc = st_delivery_list(txn, unit->id, after_seq, max, &list, &n, &err);
  st_read_end(txn);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
    if (n_out)
      *n_out = 0;
    return;
  }
  Mediation__V1__PullDeliveriesReply reply = MEDIATION__V1__PULL_DELIVERIES_REPLY__INIT;
  reply.deliveries = list;
  reply.n_deliveries = n;
  rpc_call_reply(call, &reply.base);
  st_messages_free(list, n);
  if (n_out)
    *n_out = n;
}

static void answer_all(rt_router *rt, rt_waiter *list);

/* With wait_lock held: unlinks and returns the unit's polls beyond
 * POLLS_PER_UNIT, the oldest ones (the list is newest first). */
static rt_waiter *take_surplus(rt_router *rt, const mc_principal *unit) {
  rt_waiter *surplus = NULL, **link = &rt->waiters;
  int seen = 0;
  while (*link != NULL) {
    rt_waiter *w = *link;
    if (w->unit == unit && ++seen > POLLS_PER_UNIT) {
      *link = w->next;
      w->next = surplus;
      surplus = w;
    } else {
      link = &w->next;
    }
  }
  return surplus;
}

void rt_pull(rt_router *rt, rpc_call *call, const mc_principal *caller,
             const Mediation__V1__PullDeliveriesRequest *req) {
  uint32_t max = req->max == 0 ? DEFAULT_MAX : req->max;
  if (max > rt->reg->limits.page_size_max)
    max = rt->reg->limits.page_size_max;
  int64_t now = mc_now_ms();
  int64_t until = now + req->wait_ms;
  int64_t latest = rpc_call_deadline_ms(call) - DEADLINE_MARGIN_MS;
  if (until > latest)
    until = latest;
  for (;;) {
    pthread_mutex_lock(&rt->wait_lock);
    uint64_t epoch = rt->delivery_epoch;
    pthread_mutex_unlock(&rt->wait_lock);

    size_t n = 0;
    bool wait = req->wait_ms > 0 && until > mc_now_ms() && !atomic_load(&rt->stopping);
    if (!wait) {
      answer(rt, call, caller, req->after_seq, max, &n);
      return;
    }
    /* Peek first without answering, so an empty result can still wait. */
    st_txn *txn = NULL;
    mv_delivery **list = NULL;
    mc_err err;
    mc_code rc = st_read_begin(rt->store, &txn, &err);
    if (rc == MC_OK)
      rc = st_delivery_list(txn, caller->id, req->after_seq, max, &list, &n, &err);
    st_read_end(txn);
    if (rc != MC_OK) {
      rpc_call_fail_err(call, &err);
      return;
    }
    if (n > 0) {
      Mediation__V1__PullDeliveriesReply reply = MEDIATION__V1__PULL_DELIVERIES_REPLY__INIT;
      reply.deliveries = list;
      reply.n_deliveries = n;
      rpc_call_reply(call, &reply.base);
      st_messages_free(list, n);
      return;
    }
    st_messages_free(list, n);
    rt_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL) {
      rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory"));
      return;
    }
    *w = (rt_waiter){.call = call, .unit = caller, .after_seq = req->after_seq, .max = max,
                     .until_ms = until};
    pthread_mutex_lock(&rt->wait_lock);
    if (rt->delivery_epoch != epoch || rt->timer_stop) {
      pthread_mutex_unlock(&rt->wait_lock);
      free(w);
      continue; /* a commit slipped in between: read again */
    }
    w->next = rt->waiters;
    rt->waiters = w;
    rt_waiter *displaced = take_surplus(rt, caller);
    pthread_cond_signal(&rt->wait_cond); /* the timer may need to wake earlier */
    pthread_mutex_unlock(&rt->wait_lock);
    answer_all(rt, displaced);
    return;
  }
}

/* Removes from the list the waiters `pick` selects and returns them. */
static rt_waiter *take_waiters(rt_router *rt, bool (*pick)(const rt_waiter *, const void *),
                               const void *arg) {
  rt_waiter *taken = NULL, **link = &rt->waiters;
  while (*link != NULL) {
    rt_waiter *w = *link;
    if (pick(w, arg)) {
      *link = w->next;
      w->next = taken;
      taken = w;
    } else {
      link = &w->next;
    }
  }
  return taken;
}

static void answer_all(rt_router *rt, rt_waiter *list) {
  while (list != NULL) {
    rt_waiter *next = list->next;
    answer(rt, list->call, list->unit, list->after_seq, list->max, NULL);
    free(list);
    list = next;
  }
}

typedef struct unit_set {
  char (*units)[ST_NAME_MAX];
  size_t n;
} unit_set;

static bool for_units(const rt_waiter *w, const void *arg) {
  const unit_set *set = arg;
  for (size_t i = 0; i < set->n; i++) {
    if (strcmp(w->unit->id, set->units[i]) == 0)
      return true;
  }
  return false;
}

void rt_wake_units(rt_router *rt, char (*units)[ST_NAME_MAX], size_t n) {
  unit_set set = {units, n};
  pthread_mutex_lock(&rt->wait_lock);
  rt->delivery_epoch++;
  rt_waiter *woken = take_waiters(rt, for_units, &set);
  pthread_mutex_unlock(&rt->wait_lock);
  answer_all(rt, woken);
}

static bool every(const rt_waiter *w, const void *arg);

void rt_wake_all(rt_router *rt) {
  pthread_mutex_lock(&rt->wait_lock);
  rt->delivery_epoch++;
  rt_waiter *woken = take_waiters(rt, every, NULL);
  pthread_mutex_unlock(&rt->wait_lock);
  answer_all(rt, woken);
}

static bool expired(const rt_waiter *w, const void *arg) {
  return w->until_ms <= *(const int64_t *)arg;
}

static bool every(const rt_waiter *w, const void *arg) {
  (void)w;
  (void)arg;
  return true;
}

void rt_flush_waiters(rt_router *rt) {
  pthread_mutex_lock(&rt->wait_lock);
  rt_waiter *all = take_waiters(rt, every, NULL);
  pthread_mutex_unlock(&rt->wait_lock);
  answer_all(rt, all);
}

static void housekeeping(rt_router *rt) {
  mc_err err;
  size_t gone = 0;
  int cleared = 0;
  if (st_idem_expire(rt->store, mc_now_ms(), 10000, &gone, &err) != MC_OK)
    mc_log(MC_LOG_WARNING, NULL, "expiring idempotency records: %s", err.msg);
  else if (gone > 0)
    mc_log(MC_LOG_INFO, NULL, "expired %zu idempotency records", gone);
  if (st_reader_check(rt->store, &cleared, &err) != MC_OK)
    mc_log(MC_LOG_WARNING, NULL, "reader check: %s", err.msg);
  else if (cleared > 0)
    mc_log(MC_LOG_NOTICE, NULL, "cleared %d reader slots left by dead processes", cleared);
}

static void *timer_main(void *arg) {
  rt_router *rt = arg;
  pthread_setname_np(pthread_self(), "rt:timer");
  int64_t next_housekeeping = mc_now_ms() + HOUSEKEEPING_MS;
  pthread_mutex_lock(&rt->wait_lock);
  while (!rt->timer_stop) {
    int64_t now = mc_now_ms();
    int64_t wake = next_housekeeping;
    for (rt_waiter *w = rt->waiters; w != NULL; w = w->next) {
      if (w->until_ms < wake)
        wake = w->until_ms;
    }
    if (wake > now) {
      /* The condvar uses CLOCK_REALTIME like mc_now_ms. */
      struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
      pthread_cond_timedwait(&rt->wait_cond, &rt->wait_lock, &ts);
      continue;
    }
    rt_waiter *due = take_waiters(rt, expired, &now);
    pthread_mutex_unlock(&rt->wait_lock);
    answer_all(rt, due);
    if (now >= next_housekeeping) {
      housekeeping(rt);
      next_housekeeping = now + HOUSEKEEPING_MS;
    }
    pthread_mutex_lock(&rt->wait_lock);
  }
  pthread_mutex_unlock(&rt->wait_lock);
  return NULL;
}

mc_code rt_timer_start(rt_router *rt, mc_err *err) {
  if (pthread_create(&rt->timer_thread, NULL, timer_main, rt) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the timer thread");
  rt->timer_started = true;
  return MC_OK;
}

void rt_timer_stop(rt_router *rt) {
  if (!rt->timer_started)
    return;
  pthread_mutex_lock(&rt->wait_lock);
  rt->timer_stop = true;
  pthread_cond_signal(&rt->wait_cond);
  pthread_mutex_unlock(&rt->wait_lock);
  pthread_join(rt->timer_thread, NULL);
  rt->timer_started = false;
}
