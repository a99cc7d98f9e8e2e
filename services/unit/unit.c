/*
 * unit.c - assembling a unit daemon and taking it apart; router calls a
 * stop can interrupt; Desk calls that wait for the router's answer.
 *
 * The idea of the waiting: a Desk handler never blocks an nng thread on the
 * network. It queues its steps in the outbox (a short local commit), leaves
 * an un_wait on a list and returns; the forwarder, which is the only one
 * talking to the router about those steps, answers the call when the router
 * has answered every step, and answers it QUEUED when UN_DESK_WAIT_MS pass
 * first. While the router is known to be unreachable, calls are answered
 * QUEUED at once: the outbox has them, which is all an operator can be told.
 *
 * Stopping, in an order that leaves nothing half-done: the Desk server stops
 * taking calls and waits for those in flight (the forwarder still runs and
 * answers them); then the router client is closed, which cancels the
 * forwarder's and puller's calls, so the threads end at once; whatever the
 * forwarder had not finished is still in the outbox, with its request id,
 * for the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/pb.h"
#include "services/unit/internal.h"

#define STOP_GRACE_MS 5000

/* ---- Calls ------------------------------------------------------------------------- */

mc_code un_call_async(un_unit *u, const char *method, const ProtobufCMessage *req,
                      const rpc_call_opts *opts, rpc_done_fn done, void *arg, mc_err *err) {
  pthread_rwlock_rdlock(&u->client_lock);
  mc_code rc;
  if (u->client_closed)
    rc = mc_err_set(err, MC_CANCELLED, "the unit is stopping");
  else
    rc = rpc_client_call_async(u->router, &mediation__v1__router__descriptor, method, req, opts,
                               done, arg, err);
  pthread_rwlock_unlock(&u->client_lock);
  return rc;
}

typedef struct call_state {
  un_unit *u;
  bool done;
  mc_code code;
  char message[256];
  ProtobufCMessage *reply;
} call_state;

static void call_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  call_state *cs = arg;
  pthread_mutex_lock(&cs->u->mu);
  cs->code = code;
  snprintf(cs->message, sizeof(cs->message), "%s", message);
  cs->reply = reply;
  cs->done = true;
  pthread_cond_broadcast(&cs->u->cv);
  pthread_mutex_unlock(&cs->u->mu);
}

mc_code un_call(un_unit *u, const char *method, const ProtobufCMessage *req,
                const rpc_call_opts *opts, bool serve_waits, ProtobufCMessage **reply,
                mc_err *err) {
  call_state cs = {.u = u};
  mc_code rc = un_call_async(u, method, req, opts, call_done, &cs, err);
  if (rc != MC_OK && rc != MC_CANCELLED) {
    /* Not sent (out of memory, no connection slot...): never an answer
     * about the request, whatever the code says. */
    char why[sizeof(err->msg)];
    snprintf(why, sizeof(why), "%s", err->msg);
    return mc_err_set(err, MC_UNAVAILABLE, "not sent: %s: %s", mc_code_name(rc), why);
  }
  if (rc != MC_OK)
    return rc;
  /* Wait for the completion itself even when stopping: the client calls
   * done exactly once, and closing the client (un_unit_free) makes it come
   * at once, so cs never outlives this frame. */
  pthread_mutex_lock(&u->mu);
  while (!cs.done)
    un_wait_locked(u, &cs.done, 0, serve_waits);
  pthread_mutex_unlock(&u->mu);
  if (cs.code != MC_OK)
    return mc_err_set(err, cs.code, "%s", cs.message);
  *reply = cs.reply;
  return MC_OK;
}

/* ---- Waiting Desk calls ------------------------------------------------------------ */

static void timespec_at_mono(int64_t mono_ms, struct timespec *ts) {
  ts->tv_sec = (time_t)(mono_ms / 1000);
  ts->tv_nsec = (long)((mono_ms % 1000) * 1000000);
}

/* Takes the expired calls off the list (mu held). */
static un_wait *take_expired(un_unit *u, int64_t now_mono) {
  un_wait *expired = NULL, **link = &u->waits;
  while (*link != NULL) {
    un_wait *w = *link;
    if (w->until_mono <= now_mono || u->stopping) {
      *link = w->next;
      w->next = expired;
      expired = w;
    } else {
      link = &w->next;
    }
  }
  return expired;
}

void un_wait_locked(un_unit *u, const bool *flag, int64_t until_mono, bool serve_waits) {
  for (;;) {
    /* A call's completion is always awaited, even when stopping: closing the
     * client makes it come at once. Other waits end on a stop. */
    if (flag != NULL ? *flag : u->stopping)
      return;
    int64_t now = mc_mono_ms();
    if (until_mono != 0 && now >= until_mono)
      return;
    if (serve_waits) {
      un_wait *expired = take_expired(u, now);
      if (expired != NULL) {
        /* The router did not answer in time: the steps stay queued, and
         * later calls are told so at once until it answers again. */
        if (!u->offline && !u->stopping)
          mc_log(MC_LOG_WARNING, NULL,
                 "the router did not answer within %d ms: operators' steps are queued "
                 "until it does",
                 UN_DESK_WAIT_MS);
        u->offline = true;
        pthread_mutex_unlock(&u->mu);
        while (expired != NULL) {
          un_wait *next = expired->next;
          un_wait_finish(u, expired);
          expired = next;
        }
        pthread_mutex_lock(&u->mu);
        if (flag == NULL)
          return; /* the caller's own condition may have changed meanwhile */
        continue;
      }
    }
    int64_t wake = until_mono;
    for (un_wait *w = serve_waits ? u->waits : NULL; w != NULL; w = w->next) {
      if (wake == 0 || w->until_mono < wake)
        wake = w->until_mono;
    }
    if (wake == 0) {
      pthread_cond_wait(&u->cv, &u->mu);
    } else {
      struct timespec ts;
      timespec_at_mono(wake, &ts);
      pthread_cond_timedwait(&u->cv, &u->mu, &ts);
    }
    if (flag == NULL)
      return; /* a plain wait: one wake-up is enough for the caller to look again */
  }
}

void un_wait_add(un_unit *u, un_wait *w) {
  pthread_mutex_lock(&u->mu);
  bool now = w->unanswered == 0 || u->offline || u->stopping;
  if (!now) {
    w->until_mono = mc_mono_ms() + UN_DESK_WAIT_MS;
    w->next = u->waits;
    u->waits = w;
  }
  if (w->unanswered > 0)
    u->kick = true;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
  if (now)
    un_wait_finish(u, w);
}

/* Records an answer in one waiting step (mu held). */
static void wait_step_answer(un_wait *w, un_wait_step *s, mc_code code, const char *message,
                             const mv_case *router_case) {
  s->disposition = code == MC_OK ? MV_DISPOSITION(APPLIED) : MV_DISPOSITION(REFUSED);
  s->code = code;
  snprintf(s->message, sizeof(s->message), "%s", message ? message : "");
  w->unanswered--;
  if (code != MC_OK || router_case == NULL)
    return;
  mv_case *copy = NULL;
  if (mc_pb_clone(&router_case->base, (ProtobufCMessage **)&copy, NULL) == MC_OK) {
    if (w->router_case != NULL)
      protobuf_c_message_free_unpacked(&w->router_case->base, NULL);
    w->router_case = copy;
  }
  /* An intake now has its id: read the copy back under it. */
  if (s->action->kind == MV_ACTION(TAKE_IN)) {
    char *id = strdup(router_case->id);
    if (id != NULL) {
      free(w->local_ref);
      w->local_ref = id;
    }
  }
}

un_wait *un_wait_answer(un_unit *u, uint64_t seq, mc_code code, const char *message,
                        const mv_case *router_case, bool *told) {
  *told = false;
  un_wait *done = NULL;
  pthread_mutex_lock(&u->mu);
  /* Every waiting call that queued the entry: the call itself and any
   * retry of it (same request id) that came while it waited. */
  for (un_wait **link = &u->waits; *link != NULL;) {
    un_wait *w = *link;
    bool finished = false;
    for (size_t i = 0; i < w->n; i++) {
      un_wait_step *s = &w->steps[i];
      if (s->seq != seq || s->disposition != MV_DISPOSITION(QUEUED))
        continue;
      *told = true;
      wait_step_answer(w, s, code, message, router_case);
      finished = w->unanswered == 0;
      break;
    }
    if (finished) {
      *link = w->next;
      w->next = done;
      done = w;
    } else {
      link = &w->next;
    }
  }
  pthread_mutex_unlock(&u->mu);
  return done;
}

/* Takes what the router answered since the call began waiting from the
 * call's record (a retry that began waiting just after an answer, or a
 * call answered QUEUED at its timeout just before one). */
static void wait_refresh(un_unit *u, un_wait *w) {
  bool queued = false;
  for (size_t i = 0; i < w->n; i++)
    queued = queued || w->steps[i].disposition == MV_DISPOSITION(QUEUED);
  if (!queued || !w->has_desk_id)
    return;
  st_txn *t = NULL;
  st_desk_record *rec = NULL;
  if (st_outbox_read_begin(u->ob, &t, NULL) == MC_OK)
    st_ob_desk_get(t, w->desk_id, RPC_REQUEST_ID_BYTES, &rec, NULL);
  st_read_end(t);
  if (rec == NULL)
    return;
  for (size_t i = 0; i < w->n && i < rec->n_steps; i++) {
    un_wait_step *s = &w->steps[i];
    const Mediation__V1__DeskStep *r = rec->steps[i];
    if (s->disposition != MV_DISPOSITION(QUEUED) || r->disposition == MV_DISPOSITION(QUEUED))
      continue;
    s->disposition = r->disposition;
    s->code = (mc_code)r->code;
    snprintf(s->message, sizeof(s->message), "%s", r->message);
  }
  if (rec->local_ref[0] != '\0') {
    char *ref = strdup(rec->local_ref);
    if (ref != NULL) {
      free(w->local_ref);
      w->local_ref = ref;
    }
  }
  protobuf_c_message_free_unpacked(&rec->base, NULL);
}

void un_wait_finish(un_unit *u, un_wait *w) {
  wait_refresh(u, w);
  Mediation__V1__DeskStep steps[UN_MAX_STEPS];
  Mediation__V1__DeskStep *ptrs[UN_MAX_STEPS];
  bool all_applied = w->router_case != NULL, queued = false;
  /* Why the queued steps wait, when it is not the router being down. */
  char problem[sizeof(u->router_problem)];
  un_router_problem(u, problem, sizeof(problem));
  for (size_t i = 0; i < w->n; i++) {
    un_wait_step *s = &w->steps[i];
    mediation__v1__desk_step__init(&steps[i]);
    steps[i].action = s->action;
    steps[i].disposition = s->disposition;
    if (s->disposition == MV_DISPOSITION(REFUSED)) {
      steps[i].code = (Mediation__V1__StatusCode)s->code;
      steps[i].message = s->message;
    }
    if (s->disposition == MV_DISPOSITION(QUEUED)) {
      steps[i].outbox_seq = s->seq;
      steps[i].message = problem;
      queued = true;
    }
    if (s->disposition != MV_DISPOSITION(APPLIED))
      all_applied = false;
    ptrs[i] = &steps[i];
  }
  Mediation__V1__DeskReply reply = MEDIATION__V1__DESK_REPLY__INIT;
  reply.steps = ptrs;
  reply.n_steps = w->n;
  if (queued)
    reply.router_problem = problem;
  st_local_case *lc = NULL;
  if (all_applied) {
    reply.case_record = w->router_case;
  } else if (w->local_ref != NULL) {
    mc_err err;
    if (un_local_read(u, w->local_ref, &lc, &err) == MC_OK) {
      reply.case_record = lc->case_record;
      /* The local copy: the router's record plus steps still queued, or
       * behind it when the router has answered since (a retry). */
      reply.stale = true;
    }
  }
  rpc_call_reply(w->call, &reply.base);
  if (lc != NULL)
    protobuf_c_message_free_unpacked(&lc->base, NULL);
  for (size_t i = 0; i < w->n; i++) {
    if (w->steps[i].action != NULL)
      protobuf_c_message_free_unpacked(&w->steps[i].action->base, NULL);
  }
  if (w->router_case != NULL)
    protobuf_c_message_free_unpacked(&w->router_case->base, NULL);
  free(w->local_ref);
  free(w);
}

void un_set_online(un_unit *u, bool online) {
  pthread_mutex_lock(&u->mu);
  if (u->offline == online) {
    if (online)
      mc_log(MC_LOG_NOTICE, NULL, "the router answers again");
    else
      mc_log(MC_LOG_WARNING, NULL, "the router does not answer: steps are queued until it does");
    u->offline = !online;
    pthread_cond_broadcast(&u->cv);
  }
  pthread_mutex_unlock(&u->mu);
}

void un_router_problem(un_unit *u, char *buf, size_t cap) {
  pthread_mutex_lock(&u->mu);
  snprintf(buf, cap, "%s", u->router_problem);
  pthread_mutex_unlock(&u->mu);
}

/* The router client's TLS verdict (rpc_client_opts.on_tls_verdict, on its
 * keeper thread): steps still queue (the link may be fixed any time, by a
 * new certificate on either side), but until then nothing is forwarded, so
 * the Desk's replies say why and health says NOT_SERVING with it: a wrong
 * CA or name does not mend itself, and monitoring must see it. */
static void un_router_tls(void *arg, const char *why) {
  un_unit *u = arg;
  pthread_mutex_lock(&u->mu);
  if (why != NULL)
    snprintf(u->router_problem, sizeof(u->router_problem),
             "TLS 配置错误 (TLS configuration error) with the router %.100s: %s",
             u->reg->router.endpoint, why);
  else
    u->router_problem[0] = '\0';
  /* Under mu, so a stop's "shutting down" is never overwritten. */
  if (u->desk != NULL && !u->desk_closing)
    rpc_server_set_serving(u->desk, why == NULL, why != NULL ? u->router_problem : "");
  pthread_mutex_unlock(&u->mu);
}

bool un_code_is_refusal(mc_code code) {
  switch (code) {
  case MC_INVALID_ARGUMENT:
  case MC_NOT_FOUND:
  case MC_ALREADY_EXISTS:
  case MC_PERMISSION_DENIED:
  case MC_FAILED_PRECONDITION:
  case MC_OUT_OF_RANGE:
  case MC_RESOURCE_EXHAUSTED: /* a size limit of the step or the case file */
  case MC_UNIMPLEMENTED:
  case MC_UNAUTHENTICATED:
    return true;
  default:
    /* UNAVAILABLE: not delivered, or the router stopping or unable to
     * store it; DEADLINE_EXCEEDED, CANCELLED: not answered; INTERNAL,
     * UNKNOWN, ABORTED, DATA_LOSS: the router failed and applied nothing.
     * Send the same request id again later. */
    return false;
  }
}

/* ---- Life -------------------------------------------------------------------------- */

mc_code un_unit_open(const mc_registry *reg, const mc_unit *self, const un_policy *policy,
                     un_unit **out, mc_err *err) {
  if (self->endpoint == NULL || self->data_dir == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "[unit %s]: endpoint and data_dir are required", self->id);
  if (reg->router.endpoint == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "[router] endpoint is required");
  un_unit *u = calloc(1, sizeof(*u));
  if (u == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  u->reg = reg;
  u->self = self;
  u->policy = policy;
  pthread_rwlock_init(&u->client_lock, NULL);
  pthread_mutex_init(&u->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&u->cv, &ca);
  pthread_condattr_destroy(&ca);
  un_desk_init(u);

  mc_code rc = rpc_key_load(reg->keys_dir, self->id, &u->key, err);
  if (rc != MC_OK)
    mc_err_prefix(err, "the unit's key");
  if (rc == MC_OK) {
    st_outbox_options oo = {.dir = self->data_dir, .unit = self->id};
    rc = st_outbox_open(&oo, &u->ob, err);
  }
  if (rc == MC_OK) {
    bool tls = strncmp(reg->router.endpoint, "tls+tcp://", 10) == 0;
    rpc_client_opts co = {
        .max_in_flight = 8,
        .default_timeout_ms = 10000,
        .tls_ca_file = tls ? reg->router.tls_ca : NULL,
        .tls_server_name = tls ? reg->router.tls_server_name : NULL,
        .on_tls_verdict = un_router_tls,
        .on_tls_verdict_arg = u,
    };
    rc = rpc_client_create(reg->router.endpoint, u->key, &reg->limits, &co, &u->router, err);
  }
  rpc_server *desk = NULL;
  if (rc == MC_OK) {
    rpc_server_opts so = {
        .program = policy->program,
        .version = MEDIATION_VERSION,
        .contexts = 16,
        .accept_kinds = RPC_ACCEPT_KIND(MC_PRINCIPAL_OPERATOR),
        .accept_unit = self->id,
    };
    rc = rpc_server_create(reg, &so, &desk, err);
    /* Under mu: the router client's keeper (un_router_tls) may look. */
    pthread_mutex_lock(&u->mu);
    u->desk = desk;
    if (u->router_problem[0] != '\0')
      rpc_server_set_serving(u->desk, false, u->router_problem);
    pthread_mutex_unlock(&u->mu);
  }
  if (rc == MC_OK)
    rc = rpc_server_register(u->desk, &u->service.base, err);
  if (rc == MC_OK) {
    if (pthread_create(&u->forwarder, NULL, un_forwarder_main, u) != 0)
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the forwarder thread");
    else
      u->forwarder_started = true;
  }
  if (rc == MC_OK) {
    if (pthread_create(&u->puller, NULL, un_puller_main, u) != 0)
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the puller thread");
    else
      u->puller_started = true;
  }
  if (rc == MC_OK)
    rc = rpc_server_listen(u->desk, self->endpoint, NULL, 0, err);
  if (rc != MC_OK) {
    un_unit_free(u);
    return rc;
  }
  uint64_t pending = 0;
  st_txn *t = NULL;
  if (st_outbox_read_begin(u->ob, &t, NULL) == MC_OK)
    st_ob_count(t, &pending, NULL);
  st_read_end(t);
  mc_log(MC_LOG_NOTICE, NULL, "%s serving on %s; router %s; %llu steps waiting in the outbox",
         self->id, self->endpoint, reg->router.endpoint, (unsigned long long)pending);
  *out = u;
  return MC_OK;
}

void un_unit_free(un_unit *u) {
  if (u == NULL)
    return;
  /* 1. No new Desk calls; those in flight are answered (by the forwarder,
   *    which still runs, or by their timeout). */
  pthread_mutex_lock(&u->mu);
  u->desk_closing = true;
  pthread_mutex_unlock(&u->mu);
  if (u->desk != NULL) {
    rpc_server_set_serving(u->desk, false, "shutting down");
    rpc_server_stop(u->desk, STOP_GRACE_MS);
  }
  /* 2. The threads stop; closing the client cancels their calls. */
  pthread_mutex_lock(&u->mu);
  u->stopping = true;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
  pthread_rwlock_wrlock(&u->client_lock);
  u->client_closed = true;
  pthread_rwlock_unlock(&u->client_lock);
  rpc_client_free(u->router); /* cancelled calls complete before this returns */
  u->router = NULL;
  if (u->forwarder_started)
    pthread_join(u->forwarder, NULL);
  if (u->puller_started)
    pthread_join(u->puller, NULL);
  /* 3. Calls still waiting (none, normally): their steps stay queued. */
  pthread_mutex_lock(&u->mu);
  un_wait *left = u->waits;
  u->waits = NULL;
  pthread_mutex_unlock(&u->mu);
  while (left != NULL) {
    un_wait *next = left->next;
    un_wait_finish(u, left);
    left = next;
  }
  rpc_server_free(u->desk);
  st_outbox_close(u->ob);
  rpc_key_free(u->key);
  pthread_cond_destroy(&u->cv);
  pthread_mutex_destroy(&u->mu);
  pthread_rwlock_destroy(&u->client_lock);
  mc_log(MC_LOG_NOTICE, NULL, "stopped");
  free(u);
}
