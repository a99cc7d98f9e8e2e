/*
 * waits.c - Desk calls waiting for the router's answer, and what the unit
 * knows of the router's reachability (offline, router_problem), which
 * decides whether a call waits at all.
 *
 * The idea of the waiting: a Desk handler never blocks an nng thread on the
 * network. It queues its steps in the outbox (a short local commit), leaves
 * an un_wait on a list and returns; the forwarder, which is the only one
 * talking to the router about those steps, answers the call when the router
 * has answered every step, and answers it QUEUED when UN_DESK_WAIT_MS pass
 * first. While the router is known to be unreachable, calls are answered
 * QUEUED at once: the outbox has them, which is all an operator can be told.
 *
 * Below the Desk (desk.c), the forwarder and the router calls (calls.c);
 * above the local copies (local.c) only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/pb.h"
#include "services/unit/internal.h"

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
    if (w->planned_copy != NULL) { /* see un_wait */
      protobuf_c_message_free_unpacked(&w->planned_copy->base, NULL);
      w->planned_copy = NULL;
    }
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

void un_wait_locale(un_unit *u, uint64_t seq, char *buf, size_t cap) {
  buf[0] = '\0';
  pthread_mutex_lock(&u->mu);
  for (const un_wait *w = u->waits; w != NULL && buf[0] == '\0'; w = w->next) {
    for (size_t i = 0; i < w->n; i++) {
      if (w->steps[i].seq == seq && w->steps[i].disposition == MV_DISPOSITION(QUEUED)) {
        snprintf(buf, cap, "%s", rpc_call_locale(w->call));
        break;
      }
    }
  }
  pthread_mutex_unlock(&u->mu);
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
  } else if (w->planned_copy != NULL) {
    reply.case_record = w->planned_copy;
    reply.stale = true; /* as below */
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
  if (w->planned_copy != NULL)
    protobuf_c_message_free_unpacked(&w->planned_copy->base, NULL);
  free(w->local_ref);
  free(w);
}

/* ---- What the unit knows of the router ---------------------------------------------- */

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
