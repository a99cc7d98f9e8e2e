/*
 * events.c - GET /api/v1/events for a unit's desk: one Desk/Watch long poll
 * per gateway, fanned out to every browser request waiting.
 *
 * Why one: every open desk (a browser tab) waits on this gateway, not on
 * the unit daemon, so the Desk sees a single poll however many tabs are
 * open. The watcher keeps asking Desk/Watch(epoch, after = the last seq)
 * and records each answer as an entry (the seqs it covers, whether the
 * inbox changed, the case ids) in a small history. A browser asks with the
 * epoch and seq of its last answer; it is answered
 *   - at once with reset when its epoch is not the unit's (first call:
 *     epoch 0), its seq is not one we gave out, or the history no longer
 *     reaches back to it;
 *   - at once with the union of the entries after its seq, if any;
 *   - otherwise when the next change comes, or with no change after 25 s.
 * Waiting requests are parked with nng_aio_defer and a 25 s timeout on the
 * server's aio; the cancel function (timeout, or the server stopping)
 * looks the request up in the list under the watcher's lock, so it and a
 * change arriving at the same moment never both answer it.
 *
 * The epoch is sent to browsers as a decimal string: it is a random 64-bit
 * number, and JavaScript's numbers hold integers exactly only to 2^53.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "mv1.h"
#include "web/gateway.h"

#define WG_EVENTS_WAIT_MS 25000
#define WG_EVENTS_HISTORY 64
#define WG_EVENTS_RETRY_MS 1000

typedef struct wg_entry {
  uint64_t from, to; /* covers the changes (from, to] */
  bool inbox;
  char **ids;
  size_t n_ids;
} wg_entry;

struct wg_events {
  wg_gateway *g;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool known;          /* an answer came since start (or the last reset) */
  uint64_t epoch, seq;
  uint64_t base;       /* the history is complete after this seq */
  wg_entry hist[WG_EVENTS_HISTORY];
  size_t n_hist;
  wg_req *waiters;
  bool stopping;
  bool busy;           /* a Watch call or the retry sleep is outstanding */
  nng_aio *sleep;
};

static void entry_clear(wg_entry *e) {
  for (size_t i = 0; i < e->n_ids; i++)
    free(e->ids[i]);
  free(e->ids);
  memset(e, 0, sizeof(*e));
}

static void history_clear(wg_events *e) {
  for (size_t i = 0; i < e->n_hist; i++)
    entry_clear(&e->hist[i]);
  e->n_hist = 0;
}

/* The answer for a waiter, or NULL if it must wait (mu held). */
static json_object *answer_for(wg_events *e, const wg_req *r) {
  if (!e->known)
    return NULL;
  bool reset = r->ev_epoch != e->epoch || r->ev_after > e->seq || r->ev_after < e->base;
  if (!reset && r->ev_after == e->seq)
    return NULL;
  json_object *o = json_object_new_object(), *ids = json_object_new_array();
  if (o == NULL || ids == NULL) {
    json_object_put(o);
    json_object_put(ids);
    return NULL;
  }
  bool inbox = false;
  if (!reset) {
    for (size_t i = 0; i < e->n_hist; i++) {
      const wg_entry *h = &e->hist[i];
      if (h->to <= r->ev_after)
        continue;
      inbox = inbox || h->inbox;
      for (size_t k = 0; k < h->n_ids; k++) {
        bool dup = false;
        for (size_t j = 0; j < json_object_array_length(ids) && !dup; j++)
          dup = strcmp(json_object_get_string(json_object_array_get_idx(ids, j)), h->ids[k]) == 0;
        if (!dup)
          json_object_array_add(ids, json_object_new_string(h->ids[k]));
      }
    }
  }
  char epoch[24];
  snprintf(epoch, sizeof(epoch), "%" PRIu64, e->epoch);
  json_object_object_add(o, "epoch", json_object_new_string(epoch));
  json_object_object_add(o, "seq", json_object_new_uint64(e->seq));
  json_object_object_add(o, "reset", json_object_new_boolean(reset));
  json_object_object_add(o, "inbox_changed", json_object_new_boolean(inbox));
  json_object_object_add(o, "case_ids", ids);
  return o;
}

typedef struct wg_ready {
  wg_req *r;
  json_object *o;
} wg_ready;

/* Takes every waiter that can be answered now off the list (mu held);
 * the caller answers them after unlocking. */
static size_t take_ready(wg_events *e, wg_ready *out, size_t cap) {
  size_t n = 0;
  for (wg_req **pp = &e->waiters; *pp != NULL && n < cap;) {
    json_object *o = answer_for(e, *pp);
    if (o == NULL) {
      pp = &(*pp)->next;
      continue;
    }
    out[n].r = *pp;
    out[n].o = o;
    n++;
    *pp = (*pp)->next;
  }
  return n;
}

static void answer_ready(wg_events *e) {
  wg_ready ready[64];
  for (;;) {
    pthread_mutex_lock(&e->mu);
    size_t n = take_ready(e, ready, sizeof(ready) / sizeof(ready[0]));
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < n; i++)
      wg_reply_json(ready[i].r, 200, ready[i].o, NULL, NULL);
    if (n < sizeof(ready) / sizeof(ready[0]))
      return;
  }
}

static void watch_next(wg_events *e);

static void record(wg_events *e, const Mediation__V1__DeskWatchReply *rep) {
  if (!e->known || rep->epoch != e->epoch || rep->reset || rep->seq < e->seq) {
    if (e->known)
      mc_log(MC_LOG_INFO, NULL, "events: the unit's change history restarted");
    history_clear(e);
    e->known = true;
    e->epoch = rep->epoch;
    e->seq = e->base = rep->seq;
    return;
  }
  if (rep->seq == e->seq)
    return;
  if (e->n_hist == WG_EVENTS_HISTORY) {
    e->base = e->hist[0].to;
    entry_clear(&e->hist[0]);
    memmove(&e->hist[0], &e->hist[1], (WG_EVENTS_HISTORY - 1) * sizeof(wg_entry));
    e->n_hist--;
    memset(&e->hist[e->n_hist], 0, sizeof(wg_entry));
  }
  wg_entry *h = &e->hist[e->n_hist];
  h->from = e->seq;
  h->to = rep->seq;
  h->inbox = rep->inbox_changed;
  h->ids = rep->n_case_ids ? calloc(rep->n_case_ids, sizeof(char *)) : NULL;
  for (size_t i = 0; h->ids != NULL && i < rep->n_case_ids; i++)
    if ((h->ids[h->n_ids] = strdup(rep->case_ids[i])) != NULL)
      h->n_ids++;
  if (rep->n_case_ids > 0 && h->n_ids < rep->n_case_ids) {
    /* Out of memory: the browsers must refresh everything. */
    entry_clear(h);
    history_clear(e);
    e->base = rep->seq;
  } else {
    e->n_hist++;
  }
  e->seq = rep->seq;
}

static void watch_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  wg_events *e = arg;
  pthread_mutex_lock(&e->mu);
  bool retry_later = code != MC_OK;
  if (code == MC_OK)
    record(e, (const Mediation__V1__DeskWatchReply *)reply);
  pthread_mutex_unlock(&e->mu);
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  if (code != MC_OK && code != MC_DEADLINE_EXCEEDED && code != MC_CANCELLED)
    mc_log(MC_LOG_INFO, NULL, "events: Desk/Watch: %s: %s", mc_code_name(code), message);
  answer_ready(e);
  pthread_mutex_lock(&e->mu);
  if (e->stopping) {
    e->busy = false;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return;
  }
  pthread_mutex_unlock(&e->mu);
  if (retry_later)
    nng_sleep_aio(WG_EVENTS_RETRY_MS, e->sleep);
  else
    watch_next(e);
}

static void sleep_done(void *arg) {
  wg_events *e = arg;
  pthread_mutex_lock(&e->mu);
  bool stop = e->stopping;
  if (stop) {
    e->busy = false;
    pthread_cond_broadcast(&e->cv);
  }
  pthread_mutex_unlock(&e->mu);
  if (!stop)
    watch_next(e);
}

/* Asks Desk/Watch once more (busy is true: the caller owns the loop). */
static void watch_next(wg_events *e) {
  Mediation__V1__DeskWatchRequest req = MEDIATION__V1__DESK_WATCH_REQUEST__INIT;
  pthread_mutex_lock(&e->mu);
  req.epoch = e->known ? e->epoch : 0;
  req.after = e->known ? e->seq : 0;
  pthread_mutex_unlock(&e->mu);
  req.wait_ms = WG_EVENTS_WAIT_MS;
  rpc_call_opts copts = {.timeout_ms = WG_EVENTS_WAIT_MS + 10000, .nowait = true};
  mc_err err;
  if (rpc_client_call_async(e->g->client, &mediation__v1__desk__descriptor, "Watch", &req.base,
                            &copts, watch_done, e, &err) != MC_OK) {
    /* Every slot busy, or the client closing: try again in a moment. */
    nng_sleep_aio(WG_EVENTS_RETRY_MS, e->sleep);
  }
}

static void waiter_cancel(nng_aio *aio, void *arg, int rv) {
  wg_events *e = arg;
  pthread_mutex_lock(&e->mu);
  wg_req *found = NULL;
  for (wg_req **pp = &e->waiters; *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->aio == aio) {
      found = *pp;
      *pp = found->next;
      break;
    }
  }
  json_object *o = NULL;
  bool known = e->known;
  if (found != NULL && rv == NNG_ETIMEDOUT && known) {
    /* Nothing changed in time: the same epoch and seq, no changes. */
    o = json_object_new_object();
    if (o != NULL) {
      char buf[24];
      snprintf(buf, sizeof(buf), "%" PRIu64, e->epoch);
      json_object_object_add(o, "epoch", json_object_new_string(buf));
      json_object_object_add(o, "seq", json_object_new_uint64(e->seq));
      json_object_object_add(o, "reset", json_object_new_boolean(false));
      json_object_object_add(o, "inbox_changed", json_object_new_boolean(false));
      json_object_object_add(o, "case_ids", json_object_new_array());
    }
  }
  pthread_mutex_unlock(&e->mu);
  if (found == NULL)
    return; /* answered already */
  if (rv == NNG_ETIMEDOUT && known)
    wg_reply_json(found, 200, o, NULL, NULL);
  else if (rv == NNG_ETIMEDOUT)
    wg_reply_error(found, MC_UNAVAILABLE, N_("events: the unit's service does not answer"));
  else
    wg_reply_error(found, MC_UNAVAILABLE, N_("the server is stopping"));
}

void wg_events_wait(wg_events *e, wg_req *r) {
  pthread_mutex_lock(&e->mu);
  if (e->stopping) {
    pthread_mutex_unlock(&e->mu);
    wg_reply_error(r, MC_UNAVAILABLE, N_("the server is stopping"));
    return;
  }
  json_object *o = answer_for(e, r);
  if (o != NULL) {
    pthread_mutex_unlock(&e->mu);
    wg_reply_json(r, 200, o, NULL, NULL);
    return;
  }
  r->next = e->waiters;
  e->waiters = r;
  /* The cancel function needs mu, so scheduling happens under it: a
   * timeout cannot fire before r is on the list. */
  nng_aio_set_timeout(r->aio, WG_EVENTS_WAIT_MS);
  nng_aio_defer(r->aio, waiter_cancel, e);
  pthread_mutex_unlock(&e->mu);
}

mc_code wg_events_start(wg_gateway *g, wg_events **out, mc_err *err) {
  wg_events *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  e->g = g;
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  if (nng_aio_alloc(&e->sleep, sleep_done, e) != 0) {
    free(e);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  e->busy = true;
  *out = e;
  watch_next(e);
  return MC_OK;
}

void wg_events_halt(wg_events *e) {
  if (e == NULL)
    return;
  pthread_mutex_lock(&e->mu);
  e->stopping = true;
  wg_req *w = e->waiters;
  e->waiters = NULL;
  pthread_mutex_unlock(&e->mu);
  /* Every parked request is answered now (main.c halts this before it
   * stops the server, which waits for them); later ones are answered at
   * once by wg_events_wait. */
  while (w != NULL) {
    wg_req *next = w->next;
    wg_reply_error(w, MC_UNAVAILABLE, N_("the server is stopping"));
    w = next;
  }
  nng_aio_cancel(e->sleep);
}

void wg_events_free(wg_events *e) {
  if (e == NULL)
    return;
  pthread_mutex_lock(&e->mu);
  /* The Watch call in flight ended CANCELLED when main.c freed the client
   * (after wg_events_halt); a retry sleep ends within a second. */
  while (e->busy)
    pthread_cond_wait(&e->cv, &e->mu);
  pthread_mutex_unlock(&e->mu);
  nng_aio_free(e->sleep);
  history_clear(e);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
  free(e);
}
