/*
 * calls.c - the unit's calls to the router, which a stop can interrupt, and
 * what their status codes mean for a step: refused for good, or to be sent
 * again.
 *
 * A blocking call (the forwarder's, the puller's) waits on the unit's
 * condition variable, so closing the router client (un_unit_free) ends it
 * at once, and the forwarder answers waiting Desk calls meanwhile
 * (un_wait_locked, waits.c).
 */
#include <stdio.h>

#include "core/i18n.h"
#include "services/unit/internal.h"

mc_code un_call_async(un_unit *u, const char *method, const ProtobufCMessage *req,
                      const rpc_call_opts *opts, rpc_done_fn done, void *arg, mc_err *err) {
  pthread_rwlock_rdlock(&u->client_lock);
  mc_code rc;
  if (u->client_closed)
    rc = mc_err_set(err, MC_CANCELLED, _("the unit is stopping"));
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
    return mc_err_set(err, MC_UNAVAILABLE, _("not sent: %s: %s"), mc_code_name(rc), why);
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
