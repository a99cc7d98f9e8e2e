/*
 * client_route.c - a client for a cluster of routers: calls follow the
 * leader (rpc_client_create_list, client.h).
 *
 * Why a layer above the single-endpoint client rather than inside it: a
 * session, a connection, its keeper's dial watch and TLS verdict are all
 * one server's, and the single-endpoint client already gets each of them
 * right. So a list client owns one ordinary client per node (its members,
 * made at create, each with its own socket, dialer, slots, session and
 * keeper; memory is n times one client's, fixed) and routes each call:
 *
 *   call ──► member[current] ──OK / refusal──────────────────► caller
 *                 │
 *                 ├─ UNAVAILABLE + leader in the list ──► member[leader], now
 *                 │                                       (current := leader)
 *                 └─ UNAVAILABLE without a leader, made here (down),
 *                    or DEADLINE_EXCEEDED with time left ──► member[next]
 *                       (after every node failed so: a pause, on the
 *                        route's own thread, 50 ms doubling to 800 ms)
 *
 * A call keeps its packed request, request id and deadline, so every node
 * sees the same request (the router deduplicates by id, and its idempotency
 * record is replicated); each member builds and proves its own envelope
 * under its own session. Each reply moves the call at most once; the
 * pauses make the number of attempts bounded by the deadline.
 *
 * Threads: the first attempt starts on the caller's thread (it may wait for
 * a slot there, as any call); later ones on the thread of the member's
 * reply (nowait: never blocking an nng thread) or on the route's thread
 * after a pause. Freeing: closing is set, the route thread is joined, the
 * routing callbacks still inside a member are waited for, paused calls end
 * CANCELLED, then the members are freed, which ends the rest CANCELLED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "rpc/internal.h"

#define PAUSE_FIRST_MS 50
#define PAUSE_MAX_MS 800
/* Time left under which a call is not sent again: it could not be
 * answered in time. */
#define MIN_LEFT_MS 5

typedef struct route_call route_call;

typedef struct rpc_route {
  rpc_client **members; /* owned: one client per endpoint, in the list's order */
  size_t n;
  _Atomic size_t current;     /* the member calls go to now */
  _Atomic uint64_t told_leader; /* the leader id last logged; 0: none yet */
  _Atomic size_t told_node;   /* the member last logged as answering; n: none yet */
  pthread_mutex_t mtx;        /* owned; guards what follows */
  pthread_cond_t cond;        /* owned: a paused call, closing, or a callback left */
  bool closing;
  unsigned in_cb;       /* routing code running on a member right now */
  route_call *paused;   /* borrowed: calls waiting out a pause, unordered */
  pthread_t thread;     /* owned: resumes paused calls; joined at free */
  bool thread_running;
} rpc_route;

/* One call while it is routed. Owned by the routing layer from start to
 * its end (route_end frees it). */
struct route_call {
  rpc_client *c;    /* borrowed: the list client */
  rpc_call_spec spec; /* spec.payload: owned, the packed request, kept for each attempt */
  rpc_leader_hint hint; /* what the last reply said about the leader */
  char locale[MC_LOCALE_MAX];
  rpc_done_fn done;
  void *done_arg;
  size_t node;          /* the member of the current attempt */
  unsigned failed;      /* nodes that failed without naming a leader since the last pause */
  unsigned since_pause; /* replies without an answer since the last pause */
  unsigned pauses;
  bool maybe_run;       /* an attempt went out and got no answer: it may have run */
  int64_t resume_mono;  /* paused: when to go on */
  route_call *next;     /* on route->paused */
};

static void route_member_done(void *arg, mc_code code, const char *message,
                              ProtobufCMessage *reply);

/* Reports the call's outcome and frees it. */
static void route_end(route_call *r, mc_code code, const char *text, ProtobufCMessage *reply) {
  rpc_done_fn done = r->done;
  void *arg = r->done_arg;
  free(r->spec.payload);
  free(r);
  done(arg, code, text != NULL ? text : "", reply);
}

/* Whether routing code may touch the members now: not closing. Counted
 * until route_leave, which rpc__route_free waits for. */
static bool route_enter(rpc_route *rt) {
  pthread_mutex_lock(&rt->mtx);
  bool ok = !rt->closing;
  if (ok)
    rt->in_cb++;
  pthread_mutex_unlock(&rt->mtx);
  return ok;
}

static void route_leave(rpc_route *rt) {
  pthread_mutex_lock(&rt->mtx);
  if (--rt->in_cb == 0)
    pthread_cond_broadcast(&rt->cond);
  pthread_mutex_unlock(&rt->mtx);
}

/* Starts an attempt of r on its node. may_block: on the caller's thread
 * (the first attempt; it may wait for a slot unless the caller said
 * nowait). The failure to start, if any, is returned (done is then not
 * called for this attempt; r stays the caller's). */
static mc_code attempt(route_call *r, bool may_block, mc_err *err) {
  rpc_route *rt = r->c->route;
  rpc_call_spec spec = r->spec;
  spec.payload = malloc(r->spec.payload_len ? r->spec.payload_len : 1);
  if (spec.payload == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, _("out of memory for a %zu-byte request"),
                      r->spec.payload_len);
  if (r->spec.payload_len)
    memcpy(spec.payload, r->spec.payload, r->spec.payload_len);
  spec.nowait = r->spec.nowait || !may_block;
  spec.locale = r->locale;
  spec.hint = &r->hint;
  r->hint = (rpc_leader_hint){0};
  return rpc__call_start(rt->members[r->node], &spec, route_member_done, r, err);
}

/* Logs, once per change, which node leads now. */
static void tell_leader(rpc_route *rt, uint64_t id, size_t node) {
  atomic_store(&rt->told_node, node);
  uint64_t was = atomic_exchange(&rt->told_leader, id);
  if (was != id)
    mc_log(MC_LOG_NOTICE, NULL, "rpc: router leader is now node %llu at %s",
           (unsigned long long)id, rt->members[node]->url);
}

/* A write or leader read answered by another node than the one logged
 * last, without a follower naming it (the old one died and this one was
 * next): logged once, too. */
static void tell_answering(rpc_route *rt, size_t node) {
  size_t was = atomic_exchange(&rt->told_node, node);
  if (was != node && was != rt->n)
    mc_log(MC_LOG_NOTICE, NULL, "rpc: router leader is now the one at %s (%s did not answer)",
           rt->members[node]->url, rt->members[was]->url);
}

/* The member whose URL is url, or n. */
static size_t member_of(const rpc_route *rt, const char *url) {
  for (size_t i = 0; i < rt->n; i++)
    if (strcmp(rt->members[i]->url, url) == 0)
      return i;
  return rt->n;
}

/* Puts r on the paused list until its pause is over (route->mtx not
 * held). False if the client is closing: then r is not queued. */
static bool pause_call(route_call *r, int64_t ms) {
  rpc_route *rt = r->c->route;
  r->resume_mono = mc_mono_ms() + ms;
  pthread_mutex_lock(&rt->mtx);
  bool ok = !rt->closing;
  if (ok) {
    r->next = rt->paused;
    rt->paused = r;
    pthread_cond_broadcast(&rt->cond);
  }
  pthread_mutex_unlock(&rt->mtx);
  return ok;
}

/* What ends a call that cannot go on (deadline, closing): its last
 * outcome, or, if an earlier attempt may have run, DEADLINE_EXCEEDED. text
 * is in the caller's language already; what is added here is written, and
 * done called, in it too. */
static void route_give_up(route_call *r, mc_code code, const char *text) {
  char buf[400];
  locale_t previous = mc_i18n_use(r->locale);
  if (code == MC_UNAVAILABLE && r->maybe_run) {
    snprintf(buf, sizeof(buf),
             _("no router answered before the deadline (%.200s); an earlier attempt may have "
               "been applied: retry with the same request id"),
             text);
    route_end(r, MC_DEADLINE_EXCEEDED, buf, NULL);
  } else {
    route_end(r, code, text, NULL);
  }
  mc_i18n_restore(previous);
}

/* Moves r on after a reply that did not answer it (code, text): to the
 * leader it names, to the next node, or into a pause. Runs with the route
 * entered (route_enter). */
static void route_next(route_call *r, mc_code code, const char *text) {
  rpc_route *rt = r->c->route;
  mc_err err = {0}; /* outlives the loop: text may point into it */
  for (;;) {
    int64_t left = r->spec.deadline_ms - mc_now_ms();
    if (left <= MIN_LEFT_MS) {
      route_give_up(r, code, text);
      return;
    }
    size_t to = rt->n;
    r->since_pause++;
    if (r->hint.from_server && r->hint.leader_id != 0 && r->hint.endpoint[0] != '\0')
      to = member_of(rt, r->hint.endpoint);
    if (to < rt->n && to != r->node) {
      /* A follower named the leader: there, now, and every later call too. */
      atomic_store(&rt->current, to);
      tell_leader(rt, r->hint.leader_id, to);
      mc_log(MC_LOG_DEBUG, NULL, "rpc: %s: %s is not the leader; sending to %s",
             r->spec.method->name, rt->members[r->node]->url, rt->members[to]->url);
    } else {
      /* No leader named, or this node is down: the next one. Moving the
       * shared current only if no other call moved it already. */
      to = (r->node + 1) % rt->n;
      size_t expect = r->node;
      atomic_compare_exchange_strong(&rt->current, &expect, to);
      r->failed++;
    }
    r->node = to;
    if (r->failed >= rt->n || r->since_pause >= 2 * rt->n) {
      /* Every node said "no leader" or did not answer (or the hints went
       * round in a circle): wait a little before the next round. */
      int64_t ms = PAUSE_FIRST_MS << (r->pauses < 4 ? r->pauses : 4);
      if (ms > PAUSE_MAX_MS)
        ms = PAUSE_MAX_MS;
      if (ms > left - MIN_LEFT_MS)
        ms = left - MIN_LEFT_MS;
      r->pauses++;
      r->failed = 0;
      r->since_pause = 0;
      if (!pause_call(r, ms))
        route_end(r, MC_CANCELLED, "the client was closed", NULL);
      return;
    }
    mc_code rc = attempt(r, false, &err);
    if (rc == MC_OK)
      return;
    if (rc != MC_RESOURCE_EXHAUSTED && rc != MC_UNAVAILABLE && rc != MC_DEADLINE_EXCEEDED) {
      route_end(r, rc, err.msg, NULL);
      return;
    }
    /* That node's slots are all busy (or it is out of memory): the next. */
    r->hint = (rpc_leader_hint){0};
    code = rc;
    text = err.msg;
  }
}

static void route_member_done(void *arg, mc_code code, const char *message,
                              ProtobufCMessage *reply) {
  route_call *r = arg;
  rpc_route *rt = r->c->route;
  if (code != MC_UNAVAILABLE && code != MC_DEADLINE_EXCEEDED) {
    if (code == MC_OK && !r->spec.stale_ok)
      tell_answering(rt, r->node);
    route_end(r, code, message, reply); /* an answer, or a refusal: the caller's */
    return;
  }
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  if (code == MC_DEADLINE_EXCEEDED)
    r->maybe_run = true;
  if (!route_enter(rt)) {
    route_give_up(r, code, message);
    return;
  }
  char text[sizeof(((mc_err *)0)->msg)];
  snprintf(text, sizeof(text), "%s", message);
  route_next(r, code, text);
  route_leave(rt);
}

/* The route's thread: resumes paused calls when their pause is over. */
static void *route_main(void *arg) {
  rpc_client *c = arg;
  rpc_route *rt = c->route;
  pthread_mutex_lock(&rt->mtx);
  while (!rt->closing) {
    int64_t now = mc_mono_ms(), soonest = INT64_MAX;
    route_call *due = NULL;
    for (route_call **p = &rt->paused; *p != NULL;) {
      route_call *r = *p;
      if (r->resume_mono <= now) {
        *p = r->next;
        r->next = due;
        due = r;
      } else {
        if (r->resume_mono < soonest)
          soonest = r->resume_mono;
        p = &r->next;
      }
    }
    if (due != NULL) {
      rt->in_cb++;
      pthread_mutex_unlock(&rt->mtx);
      while (due != NULL) {
        route_call *r = due;
        due = r->next;
        r->next = NULL;
        mc_err err = {0};
        char text[sizeof(((mc_err *)0)->msg)];
        mc_code rc = MC_OK;
        /* In the caller's language, as on the thread of a member's reply. */
        locale_t previous = mc_i18n_use(r->locale);
        if (r->spec.deadline_ms - mc_now_ms() <= MIN_LEFT_MS) {
          route_give_up(r, MC_UNAVAILABLE,
                        _("no router answered before the deadline: none is the leader now, "
                          "or none can be reached"));
        } else if ((rc = attempt(r, false, &err)) != MC_OK) {
          snprintf(text, sizeof(text), "%s", err.msg);
          route_next(r, rc, text);
        }
        mc_i18n_restore(previous);
      }
      pthread_mutex_lock(&rt->mtx);
      if (--rt->in_cb == 0)
        pthread_cond_broadcast(&rt->cond);
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t wait = soonest == INT64_MAX ? 1000 : soonest - now;
    if (wait < 1)
      wait = 1;
    int64_t ns = (int64_t)ts.tv_nsec + (wait % 1000) * 1000000;
    ts.tv_sec += (time_t)(wait / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&rt->cond, &rt->mtx, &ts);
  }
  pthread_mutex_unlock(&rt->mtx);
  return NULL;
}

mc_code rpc__route_call(rpc_client *c, rpc_call_spec *spec, rpc_done_fn done, void *arg,
                        mc_err *err) {
  rpc_route *rt = c->route;
  route_call *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    free(spec->payload);
    spec->payload = NULL;
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  r->c = c;
  r->spec = *spec;
  spec->payload = NULL; /* r's now */
  r->spec.hint = NULL;
  snprintf(r->locale, sizeof(r->locale), "%s", mc_i18n_current());
  r->done = done;
  r->done_arg = arg;
  r->node = atomic_load(&rt->current);
  if (!route_enter(rt)) {
    free(r->spec.payload);
    free(r);
    return mc_err_set(err, MC_CANCELLED, _("the client for %s is closing"), rpc__route_url(c));
  }
  mc_code rc = attempt(r, true, err);
  route_leave(rt);
  if (rc != MC_OK) {
    free(r->spec.payload);
    free(r);
  }
  return rc;
}

const char *rpc__route_url(const rpc_client *c) {
  const rpc_route *rt = c->route;
  return rt->members[atomic_load(&((rpc_route *)rt)->current)]->url;
}

void rpc__route_free(rpc_client *c) {
  rpc_route *rt = c->route;
  pthread_mutex_lock(&rt->mtx);
  rt->closing = true;
  pthread_cond_broadcast(&rt->cond);
  pthread_mutex_unlock(&rt->mtx);
  if (rt->thread_running)
    pthread_join(rt->thread, NULL);
  pthread_mutex_lock(&rt->mtx);
  while (rt->in_cb > 0)
    pthread_cond_wait(&rt->cond, &rt->mtx);
  route_call *paused = rt->paused;
  rt->paused = NULL;
  pthread_mutex_unlock(&rt->mtx);
  while (paused != NULL) {
    route_call *r = paused;
    paused = r->next;
    route_end(r, MC_CANCELLED, "the client was closed", NULL);
  }
  /* Calls still out on a member end CANCELLED as it closes; their routing
   * callbacks find closing and do not move them on. */
  for (size_t i = 0; i < rt->n; i++)
    rpc_client_free(rt->members[i]);
  free(rt->members);
  pthread_cond_destroy(&rt->cond);
  pthread_mutex_destroy(&rt->mtx);
  free(rt);
  free(c);
}

static mc_code route_create(const char *const urls[], size_t n, const rpc_key *key,
                            const mc_limits *limits, const rpc_client_opts *opts,
                            rpc_client **out, mc_err *err) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (urls[i] == NULL || strcmp(urls[i], urls[j]) == 0)
        return mc_err_set(err, MC_INVALID_ARGUMENT,
                          "rpc_client_create_list: endpoint %zu is missing or given twice", i);
  rpc_client *c = calloc(1, sizeof(*c));
  rpc_route *rt = calloc(1, sizeof(*rt));
  rpc_client **members = calloc(n, sizeof(*members));
  if (c == NULL || rt == NULL || members == NULL) {
    free(c);
    free(rt);
    free(members);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  c->route = rt;
  rt->members = members;
  pthread_mutex_init(&rt->mtx, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&rt->cond, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&rt->current, 0);
  atomic_init(&rt->told_leader, 0);
  atomic_init(&rt->told_node, n); /* none yet */
  for (; rt->n < n; rt->n++) {
    mc_code rc = rpc__client_create_one(urls[rt->n], key, limits, opts, true,
                                        &rt->members[rt->n], err);
    if (rc != MC_OK) {
      rpc__route_free(c);
      return rc;
    }
  }
  /* What rpc_client_call_async checks before routing: the members' own. */
  const rpc_client *m = rt->members[0];
  c->key = m->key;
  c->max_message_bytes = m->max_message_bytes;
  c->max_deadline_ahead_ms = m->max_deadline_ahead_ms;
  c->default_timeout_ms = m->default_timeout_ms;
  int rv = pthread_create(&rt->thread, NULL, route_main, c);
  if (rv != 0) {
    rpc__route_free(c);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot set up a client for %s: no thread: %s",
                      urls[0], strerror(rv));
  }
  rt->thread_running = true;
  *out = c;
  return MC_OK;
}

/* The one place a client for one router or for a cluster is chosen. */
mc_code rpc_client_create_list(const char *const urls[], size_t n, const rpc_key *key,
                               const mc_limits *limits, const rpc_client_opts *opts,
                               rpc_client **out, mc_err *err) {
  if (urls == NULL || n == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "rpc_client_create_list: no endpoint given");
  if (n == 1) /* exactly today's client */
    return rpc__client_create_one(urls[0], key, limits, opts, false, out, err);
  return route_create(urls, n, key, limits, opts, out, err);
}

mc_code rpc_client_for_routers(const mc_registry *reg, const rpc_key *key,
                               const rpc_client_opts *opts, rpc_client **out, mc_err *err) {
  size_t n = mc_registry_router_endpoints(reg, NULL, 0);
  if (n == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("configuration: no router endpoint ([router] endpoint or [cluster <id>] "
                        "endpoint)"));
  const char **urls = calloc(n, sizeof(*urls));
  if (urls == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  mc_registry_router_endpoints(reg, urls, n);
  mc_code rc = rpc_client_create_list(urls, n, key, &reg->limits, opts, out, err);
  free(urls);
  return rc;
}
