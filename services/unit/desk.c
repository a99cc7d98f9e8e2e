/*
 * desk.c - the Desk service (proto/mediation/v1/desk.proto): what a unit's
 * operators call, one handler per rpc, wired by the generated
 * MEDIATION__V1__DESK__INIT so a missing handler does not compile.
 *
 * Only the unit's own operators get here (the server's accept_kinds and
 * accept_unit). Handlers run on nng's threads and never wait there for the
 * network: TakeIn and Act queue their steps (one short local commit, the
 * only blocking they do) and leave the answer to the forwarder (waits.c);
 * ShowCase asks the router asynchronously and answers from its completion;
 * the rest read the outbox in a short read transaction.
 *
 * TakeIn and Act are recorded under their request id (plan.c): a retry
 * with the same id is answered with the first call's steps and queues
 * nothing.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/names.h"
#include "core/pb.h"
#include "core/text.h"
#include "services/unit/internal.h"

#include <sodium.h>

#define UNIT_OF(service) ((un_unit *)((char *)(service)-offsetof(un_unit, service)))

/* ---- TakeIn and Act: plan, queue, wait ------------------------------------------- */

/* The waiting call for a queued plan (or, for a retry, for the first
 * call's record), or NULL when out of memory. */
static un_wait *wait_of(un_unit *u, rpc_call *call, un_plan *p) {
  (void)u;
  un_wait *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return NULL;
  w->call = call;
  if (p->desk_id != NULL) {
    memcpy(w->desk_id, p->desk_id, RPC_REQUEST_ID_BYTES);
    w->has_desk_id = true;
  }
  const st_desk_record *r = p->replay;
  w->n = r != NULL ? (r->n_steps < UN_MAX_STEPS ? r->n_steps : UN_MAX_STEPS) : p->n;
  for (size_t i = 0; i < w->n; i++) {
    un_wait_step *ws = &w->steps[i];
    const mv_action *action;
    if (r != NULL) {
      const Mediation__V1__DeskStep *s = r->steps[i];
      action = s->action;
      ws->disposition = s->disposition;
      ws->code = (mc_code)s->code;
      snprintf(ws->message, sizeof(ws->message), "%s", s->message);
      ws->seq = s->outbox_seq;
    } else {
      const un_step *s = &p->steps[i];
      action = &s->action;
      ws->disposition = s->disposition;
      ws->code = s->code;
      snprintf(ws->message, sizeof(ws->message), "%s", s->message);
      ws->seq = s->seq;
    }
    if (action == NULL ||
        mc_pb_clone(&action->base, (ProtobufCMessage **)&ws->action, NULL) != MC_OK)
      goto fail;
    if (ws->disposition == MV_DISPOSITION(QUEUED))
      w->unanswered++;
  }
  const char *ref = r != NULL ? (r->local_ref[0] ? r->local_ref : NULL) : p->local_ref;
  if (ref != NULL && (w->local_ref = strdup(ref)) == NULL)
    goto fail;
  if (r == NULL && p->view != NULL && ref != NULL) {
    /* As plan.c stores it: a case the router has not named yet is kept
     * under its alias, with an empty id. */
    mv_case *copy = p->view;
    if (copy->id == NULL || !mc_case_id_parse(copy->id, NULL, NULL)) {
      char *none = strdup("");
      if (none == NULL)
        goto fail;
      free(copy->id);
      copy->id = none;
    }
    w->planned_copy = copy; /* taken over from the plan */
    p->view = NULL;
  }
  return w;
fail:
  for (size_t i = 0; i < w->n; i++) {
    if (w->steps[i].action != NULL)
      protobuf_c_message_free_unpacked(&w->steps[i].action->base, NULL);
  }
  free(w->local_ref);
  free(w);
  return NULL;
}

/* Tells the watches what a plan changed (queued, or refused here): its
 * case, under the names the desks know it by, and the inbox if a step
 * accepts or refuses an offer. A retry changed nothing. */
static void note_plan(un_unit *u, const un_plan *p) {
  if (p->replay != NULL)
    return;
  bool inbox = false;
  for (size_t i = 0; i < p->n; i++) {
    mv_action_kind k = p->steps[i].action.kind;
    if (k == MV_ACTION(ACCEPT) || k == MV_ACTION(REFUSE))
      inbox = true;
  }
  const char *ids[3] = {p->case_ref, p->local_ref,
                        p->view != NULL && p->view->id != NULL ? p->view->id : NULL};
  un_watch_note(u->watch, ids, 3, inbox);
}

static void fetch_first(un_unit *u, rpc_call *call, const Mediation__V1__DeskActRequest *in);
static bool repair_and_plan_again(un_unit *u, rpc_call *call,
                                  const Mediation__V1__DeskActRequest *in, const un_plan *p);

/* Queues the plan and hands the call to the forwarder (or answers it).
 * With act_in (the Act call's input, on its first plan), the router is
 * asked first when the local copy cannot decide: the unit has no copy of
 * the case (fetch_first), or the copy refused the operator's step while the
 * router answers (repair_and_plan_again). The plan is the one read of the
 * local copy either way. */
static void queue_and_wait(un_unit *u, rpc_call *call, un_plan *p,
                           const Mediation__V1__DeskActRequest *act_in) {
  mc_err err;
  mc_code rc = un_plan_queue(p, &err);
  if (rc != MC_OK) {
    mc_log(MC_LOG_ERR, p->case_ref, "cannot queue a step: %s", err.msg);
    rpc_call_fail_err(call, &err);
    un_plan_free(p);
    return;
  }
  if (act_in != NULL && p->no_copy) {
    un_plan_free(p);
    fetch_first(u, call, act_in);
    return;
  }
  if (act_in != NULL && p->refused && repair_and_plan_again(u, call, act_in, p)) {
    un_plan_free(p);
    return;
  }
  if (p->replay != NULL)
    mc_log(MC_LOG_INFO, p->replay->local_ref[0] ? p->replay->local_ref : NULL,
           "a retry of a Desk call: answered from its record, nothing queued again");
  for (size_t i = 0; i < p->n && p->replay == NULL; i++) {
    const un_step *s = &p->steps[i];
    if (s->disposition == MV_DISPOSITION(QUEUED))
      mc_log(MC_LOG_INFO, p->case_ref, "%s%s queued (outbox %llu)",
             i == 0 ? "" : "policy: ", mc_name_of(mc_action_names, s->action.kind),
             (unsigned long long)s->seq);
    else
      mc_log(i == 0 ? MC_LOG_INFO : MC_LOG_WARNING, p->case_ref, "%s%s refused here: %s",
             i == 0 ? "" : "policy: ", mc_name_of(mc_action_names, s->action.kind),
             mc_code_name(s->code));
  }
  note_plan(u, p);
  un_wait *w = wait_of(u, call, p);
  un_plan_free(p);
  if (w == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED,
                  _("out of memory; the steps are queued all the same (see Conflicts)"));
    return;
  }
  un_wait_add(u, w);
}

/* The call's identity for plan.c: its request id and a fingerprint of
 * method and input. False (the call failed) when out of memory. */
static bool identify(un_plan *p, rpc_call *call, const char *method,
                     const ProtobufCMessage *in) {
  size_t n = protobuf_c_message_get_packed_size(in);
  uint8_t *packed = malloc(n ? n : 1);
  if (packed == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    return false;
  }
  protobuf_c_message_pack(in, packed);
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, UN_FINGERPRINT_BYTES);
  crypto_generichash_update(&st, (const uint8_t *)method, strlen(method) + 1);
  crypto_generichash_update(&st, packed, n);
  crypto_generichash_final(&st, p->fingerprint, UN_FINGERPRINT_BYTES);
  free(packed);
  p->desk_id = rpc_call_request_id(call);
  return true;
}

/* Units and communities in a request as the registry's ids: people, and
 * clients other than mediactl, may send a name or an alias (大石头, 孔雀),
 * while the case file keeps ids. The request was unpacked with malloc
 * (core/pb.c's allocator), so a field is replaced in place and freed with
 * the request. A name the registry does not know is refused here, with the
 * closest registered name when one is near. Returns false with the call
 * answered. */
static bool field_to_id(rpc_call *call, char **field, const char *id) {
  if (strcmp(*field, id) == 0)
    return true;
  char *copy = strdup(id);
  if (copy == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    return false;
  }
  free(*field);
  *field = copy;
  return true;
}

static bool unknown_name(rpc_call *call, const un_unit *u, bool units, const char *field,
                         const char *text) {
  const char *near = mc_registry_suggest(u->reg, units, text);
  if (near != NULL)
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("%s: not a registered %s; did you mean \"%s\"?"),
                  field, units ? _("unit") : _("community"), near);
  else
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("%s: not a registered %s"), field,
                  units ? _("unit") : _("community"));
  return false;
}

static bool community_to_id(rpc_call *call, const un_unit *u, mv_intake *in) {
  if (in->community[0] == '\0')
    return true; /* the state machine says it is required */
  const mc_community *c = mc_registry_find_community(u->reg, in->community);
  if (c == NULL)
    return unknown_name(call, u, false, "intake.community", in->community);
  return field_to_id(call, &in->community, c->id);
}

static bool to_unit_to_id(rpc_call *call, const un_unit *u, mv_action *a) {
  if (a->args_case != MV_ARGS(TO_UNIT) || a->to_unit[0] == '\0')
    return true;
  const mc_unit *to = mc_registry_find_unit(u->reg, a->to_unit);
  if (to == NULL)
    return unknown_name(call, u, true, "action.to_unit", a->to_unit);
  return field_to_id(call, &a->to_unit, to->id);
}

static void desk_take_in(Mediation__V1__Desk_Service *service,
                         const Mediation__V1__DeskTakeInRequest *in,
                         Mediation__V1__DeskReply_Closure closure, void *closure_data) {
  (void)closure;
  un_unit *u = UNIT_OF(service);
  rpc_call *call = closure_data;
  if (in->intake == NULL) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("intake: required"));
    return;
  }
  if (!community_to_id(call, u, in->intake))
    return;
  /* refer_to as people name the unit (an id, its name or an alias): the
   * plan carries the id, borrowed from the registry, which outlives the call. */
  const mc_unit *refer = NULL;
  if (in->refer_to[0] != '\0') {
    if ((refer = mc_registry_find_unit(u->reg, in->refer_to)) == NULL) {
      const char *near = mc_registry_suggest(u->reg, true, in->refer_to);
      if (near != NULL)
        rpc_call_fail(call, MC_INVALID_ARGUMENT,
                      _("refer_to: not a registered unit; did you mean \"%s\"?"), near);
      else
        rpc_call_fail(call, MC_INVALID_ARGUMENT, _("refer_to: not a registered unit"));
      return;
    }
    if (strcmp(refer->id, u->self->id) == 0) {
      rpc_call_fail(call, MC_INVALID_ARGUMENT,
                    _("refer_to: that is this unit; leave it empty to keep the case"));
      return;
    }
  }
  un_plan p;
  un_plan_init(&p, u);
  p.intake = in->intake;
  p.person = in->person;
  p.refer_to = refer != NULL ? refer->id : in->refer_to;
  p.refer_reason = in->refer_reason;
  p.now_ms = mc_now_ms();
  if (identify(&p, call, "TakeIn", &in->base))
    queue_and_wait(u, call, &p, NULL);
}

/* in is the call's input, a its action. With may_repair, a case the unit
 * has no copy of, or a step the local copy refuses, goes to the router
 * first (queue_and_wait). */
static void plan_act(un_unit *u, rpc_call *call, const Mediation__V1__DeskActRequest *in,
                     const mv_action *a, const char *ref, bool may_repair) {
  un_plan p;
  un_plan_init(&p, u);
  p.op = a;
  p.ref = ref;
  p.person = a->person;
  p.now_ms = mc_now_ms();
  if (identify(&p, call, "Act", &in->base))
    queue_and_wait(u, call, &p, may_repair ? in : NULL);
}

/* Fetching a case before acting on it: one the unit has no copy of, or one
 * whose copy refused the step (repair). */
typedef struct fetch {
  un_unit *u;
  rpc_call *call;
  const Mediation__V1__DeskActRequest *in; /* the call's input: valid until it completes */
  const mv_action *action;                 /* in's */
  bool repair;
} fetch;

typedef struct keep_arg {
  un_unit *u;
  const mv_case *c;
} keep_arg;

static mc_code keep_op(st_txn *txn, void *arg, mc_err *err) {
  keep_arg *k = arg;
  return un_local_refresh(k->u, txn, k->c, NULL, NULL, mc_now_ms(), err);
}

static void fetch_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  fetch *f = arg;
  un_unit *u = f->u;
  if (code == MC_OK) {
    un_set_online(u, true);
    const mv_case *c = ((Mediation__V1__GetCaseReply *)reply)->case_record;
    keep_arg k = {.u = u, .c = c};
    mc_err err;
    mc_code rc = c != NULL ? st_outbox_write(u->ob, keep_op, &k, &err)
                           : mc_err_set(&err, MC_INTERNAL, "the router sent no case");
    if (rc == MC_OK)
      plan_act(u, f->call, f->in, f->action, c->id, false);
    else
      rpc_call_fail_err(f->call, &err);
    protobuf_c_message_free_unpacked(reply, NULL);
  } else if (f->repair) {
    /* The router did not say: the copy decides, as offline. */
    plan_act(u, f->call, f->in, f->action, f->action->case_ref, false);
  } else if (un_code_is_refusal(code)) {
    rpc_call_fail(f->call, code, "%s", message);
  } else {
    char problem[sizeof(u->router_problem)];
    un_router_problem(u, problem, sizeof(problem));
    if (problem[0] != '\0')
      rpc_call_fail(f->call, MC_UNAVAILABLE,
                    "case %s: this unit has no copy of it and cannot reach the router: %s",
                    f->action->case_ref, problem);
    else
      rpc_call_fail(f->call, MC_UNAVAILABLE,
                    "case %s: this unit has no copy of it and the router does not answer; "
                    "try again when it does",
                    f->action->case_ref);
  }
  free(f);
}

/* While the router answers, it decides; the copy is the offline fallback.
 * The copy follows the router through the unit's deliveries, but a change
 * may still be on its way (committed, not yet stored here). So an
 * operator's step that the copy refuses for the case's state or the unit's
 * role in it (FAILED_PRECONDITION, PERMISSION_DENIED), while the router is
 * not known to be away, is not answered yet: the Desk asks the router for
 * the case (asynchronously, UN_READ_TIMEOUT_MS), refreshes the copy from it
 * and plans once more; only a refusal on the router's record is answered.
 * The step is not simply sent on unchecked: the policy plans its own steps
 * (targets, members by load, follow-up dates) on the case as it is, and a
 * doomed step would hold up the outbox and come back as a conflict instead
 * of an answer. Accepted steps cost nothing more. Returns true if the call
 * is now the fetch's to answer. */
static bool repair_and_plan_again(un_unit *u, rpc_call *call,
                                  const Mediation__V1__DeskActRequest *in, const un_plan *p) {
  if (p->op == NULL || p->n == 0 ||
      (p->steps[0].code != MC_FAILED_PRECONDITION && p->steps[0].code != MC_PERMISSION_DENIED))
    return false;
  pthread_mutex_lock(&u->mu);
  bool away = u->offline || u->stopping;
  pthread_mutex_unlock(&u->mu);
  /* The plan named the case as its copy did: by the router's id once the
   * router has it, else by this unit's reference (nothing to fetch yet). */
  const char *id = p->case_ref;
  if (away || id == NULL || !mc_case_id_parse(id, NULL, NULL))
    return false;
  fetch *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return false;
  *f = (fetch){.u = u, .call = call, .in = in, .action = p->op, .repair = true};
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = (char *)id;
  rpc_call_opts opts = {.timeout_ms = UN_READ_TIMEOUT_MS};
  mc_err err;
  if (un_call_async(u, "GetCase", &req.base, &opts, fetch_done, f, &err) != MC_OK) {
    free(f);
    return false;
  }
  mc_log(MC_LOG_INFO, id, "%s refused on the local copy; asking the router",
         mc_name_of(mc_action_names, p->op->kind));
  return true;
}

/* The unit has no copy of the case: one the router knows (by id, or by
 * another unit's reference) is fetched first, so the step is checked and
 * the policy plans on the case as it is. This unit's own references always
 * have a copy, so one missing is simply not there. Answers the call, or
 * leaves it to the fetch. */
static void fetch_first(un_unit *u, rpc_call *call, const Mediation__V1__DeskActRequest *in) {
  const mv_action *a = in->action;
  char unit[72];
  const char *uref;
  bool own_alias = mc_case_alias_parse(a->case_ref, unit, sizeof(unit), &uref) &&
                   strcmp(unit, u->self->id) == 0;
  if (own_alias || (!mc_case_id_parse(a->case_ref, NULL, NULL) && strchr(a->case_ref, ':') == NULL)) {
    rpc_call_fail(call, MC_NOT_FOUND, _("%s: no such case at %s"), a->case_ref, u->self->id);
    return;
  }
  fetch *f = calloc(1, sizeof(*f));
  if (f == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    return;
  }
  *f = (fetch){.u = u, .call = call, .in = in, .action = a};
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = a->case_ref;
  rpc_call_opts opts = {.timeout_ms = UN_READ_TIMEOUT_MS};
  mc_err err;
  if (un_call_async(u, "GetCase", &req.base, &opts, fetch_done, f, &err) != MC_OK) {
    free(f);
    rpc_call_fail(call, MC_UNAVAILABLE, _("case %s: this unit has no copy of it: %s"),
                  a->case_ref, err.msg);
  }
}

static void desk_act(Mediation__V1__Desk_Service *service,
                     const Mediation__V1__DeskActRequest *in,
                     Mediation__V1__DeskReply_Closure closure, void *closure_data) {
  (void)closure;
  un_unit *u = UNIT_OF(service);
  rpc_call *call = closure_data;
  const mv_action *a = in->action;
  if (a == NULL) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("action: required"));
    return;
  }
  if (a->kind == MV_ACTION(UNSPECIFIED)) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("action.kind: required"));
    return;
  }
  if (a->kind == MV_ACTION(TAKE_IN)) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("action.kind: a new case goes through TakeIn"));
    return;
  }
  if (a->kind == MV_ACTION(RECORD_RECEIPT)) {
    rpc_call_fail(call, MC_PERMISSION_DENIED,
                  _("action.kind: receipts are recorded by the router, not by operators"));
    return;
  }
  if (a->case_ref[0] == '\0' || strlen(a->case_ref) > 2 * u->reg->limits.max_name_bytes + 1) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT,
                  _("action.case_ref: a case id, or this unit's unit_ref, required"));
    return;
  }
  if (!to_unit_to_id(call, u, in->action))
    return;
  plan_act(u, call, in, a, a->case_ref, true);
}

/* ---- Lists (desk_list.c) ---------------------------------------------------------- */

static void desk_inbox(Mediation__V1__Desk_Service *service,
                       const Mediation__V1__DeskInboxRequest *in,
                       Mediation__V1__DeskListReply_Closure closure, void *closure_data) {
  (void)in;
  (void)closure;
  un_desk_list(UNIT_OF(service), closure_data, NULL);
}

static void desk_list_cases(Mediation__V1__Desk_Service *service,
                            const Mediation__V1__DeskListRequest *in,
                            Mediation__V1__DeskListReply_Closure closure, void *closure_data) {
  (void)closure;
  un_desk_list(UNIT_OF(service), closure_data, in);
}

/* ---- ShowCase ------------------------------------------------------------------------ */

typedef struct show {
  un_unit *u;
  rpc_call *call;
  char *ref; /* as the router knows it */
} show;

/* The steps this unit may take on c now (the state machine's answer), for
 * DeskShowReply.allowed_actions; out has room for every action kind. */
#define SHOW_MAX_ALLOWED 32
static size_t show_allowed(const un_unit *u, const mv_case *c, mv_action_kind out[SHOW_MAX_ALLOWED]) {
  mv_actor self = MEDIATION__V1__ACTOR__INIT;
  self.kind = MV_PRINCIPAL(UNIT);
  self.id = u->self->id;
  return mc_allowed_actions(c, &self, out, SHOW_MAX_ALLOWED);
}

/* Answers from the local copy, or with why there is nothing to show. */
static void show_local(un_unit *u, rpc_call *call, const char *ref, mc_code code,
                       const char *why) {
  st_local_case *lc = NULL;
  mc_err err;
  char problem[sizeof(u->router_problem)];
  un_router_problem(u, problem, sizeof(problem));
  if (un_local_read(u, ref, &lc, &err) != MC_OK) {
    if (un_code_is_refusal(code))
      rpc_call_fail(call, code, "%s", why);
    else if (problem[0] != '\0')
      rpc_call_fail(call, MC_UNAVAILABLE, _("%s: this unit has no copy of it and cannot reach the "
                    "router: %s"), ref, problem);
    else
      rpc_call_fail(call, MC_UNAVAILABLE,
                    _("%s: the router does not answer and this unit has no copy of it"), ref);
    return;
  }
  Mediation__V1__DeskShowReply reply = MEDIATION__V1__DESK_SHOW_REPLY__INIT;
  reply.router_problem = problem;
  reply.case_record = lc->case_record;
  reply.stale = true;
  reply.synced_ms = lc->synced_ms;
  mv_action_kind allowed[SHOW_MAX_ALLOWED];
  reply.n_allowed_actions = show_allowed(u, lc->case_record, allowed);
  reply.allowed_actions = allowed;
  rpc_call_reply(call, &reply.base);
  protobuf_c_message_free_unpacked(&lc->base, NULL);
}

static void show_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  show *s = arg;
  if (code == MC_OK) {
    un_set_online(s->u, true);
    Mediation__V1__GetCaseReply *g = (Mediation__V1__GetCaseReply *)reply;
    Mediation__V1__DeskShowReply out = MEDIATION__V1__DESK_SHOW_REPLY__INIT;
    out.case_record = g->case_record;
    out.events = g->events;
    out.n_events = g->n_events;
    out.synced_ms = mc_now_ms();
    mv_action_kind allowed[SHOW_MAX_ALLOWED];
    out.n_allowed_actions = show_allowed(s->u, g->case_record, allowed);
    out.allowed_actions = allowed;
    rpc_call_reply(s->call, &out.base);
    protobuf_c_message_free_unpacked(reply, NULL);
  } else {
    show_local(s->u, s->call, s->ref, code, message);
  }
  free(s->ref);
  free(s);
}

static void desk_show_case(Mediation__V1__Desk_Service *service,
                           const Mediation__V1__DeskShowRequest *in,
                           Mediation__V1__DeskShowReply_Closure closure, void *closure_data) {
  (void)closure;
  un_unit *u = UNIT_OF(service);
  rpc_call *call = closure_data;
  if (in->case_ref[0] == '\0' || strlen(in->case_ref) > 2 * u->reg->limits.max_name_bytes + 1) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("case_ref: a case id or a unit_ref, required"));
    return;
  }
  mc_err perr;
  if (mc_text_check(in->person, u->reg->limits.max_name_bytes, "person", &perr) != MC_OK) {
    rpc_call_fail_err(call, &perr);
    return;
  }
  /* How the router knows it: the id if the unit has learnt it, else the
   * reference with the unit that made it. */
  char *ref = NULL;
  st_local_case *lc = NULL;
  if (un_local_read(u, in->case_ref, &lc, NULL) == MC_OK) {
    const mv_case *c = lc->case_record;
    ref = c->id != NULL && c->id[0] != '\0' ? strdup(c->id) : un_case_alias(u, c);
    protobuf_c_message_free_unpacked(&lc->base, NULL);
  } else if (mc_case_id_parse(in->case_ref, NULL, NULL) || strchr(in->case_ref, ':') != NULL) {
    ref = strdup(in->case_ref);
  } else {
    size_t n = strlen(u->self->id) + strlen(in->case_ref) + 2;
    if ((ref = malloc(n)) != NULL)
      snprintf(ref, n, "%s:%s", u->self->id, in->case_ref);
  }
  if (ref == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    return;
  }
  pthread_mutex_lock(&u->mu);
  bool offline = u->offline;
  pthread_mutex_unlock(&u->mu);
  show *s = offline ? NULL : calloc(1, sizeof(*s));
  if (s != NULL) {
    *s = (show){.u = u, .call = call, .ref = ref};
    Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
    req.case_ref = ref;
    req.with_timeline = in->with_timeline;
    req.person = in->person; /* the reader, for the router's access log */
    rpc_call_opts opts = {.timeout_ms = UN_READ_TIMEOUT_MS};
    mc_err err;
    if (un_call_async(u, "GetCase", &req.base, &opts, show_done, s, &err) == MC_OK)
      return;
    free(s);
  }
  show_local(u, call, ref, MC_UNAVAILABLE, "the router is out of reach");
  free(ref);
}

/* ---- Conflicts, roster --------------------------------------------------------------- */

static void desk_conflicts(Mediation__V1__Desk_Service *service,
                           const Mediation__V1__DeskConflictsRequest *in,
                           Mediation__V1__DeskConflictsReply_Closure closure,
                           void *closure_data) {
  (void)in;
  (void)closure;
  un_unit *u = UNIT_OF(service);
  st_txn *t = NULL;
  st_conflict **list = NULL;
  size_t n = 0;
  uint64_t pending = 0;
  mc_err err;
  mc_code rc = st_outbox_read_begin(u->ob, &t, &err);
  if (rc == MC_OK)
    rc = st_ob_conflict_list(t, &list, &n, &err);
  if (rc == MC_OK)
    rc = st_ob_count(t, &pending, &err);
  st_read_end(t);
  if (rc != MC_OK) {
    rpc_call_fail_err(closure_data, &err);
  } else {
    Mediation__V1__DeskConflictsReply reply = MEDIATION__V1__DESK_CONFLICTS_REPLY__INIT;
    reply.conflicts = list;
    reply.n_conflicts = n;
    reply.outbox_pending = pending;
    rpc_call_reply(closure_data, &reply.base);
  }
  st_messages_free(list, n);
}

typedef struct dismiss_arg {
  uint64_t seq;
  bool existed;
} dismiss_arg;

static mc_code dismiss_op(st_txn *txn, void *arg, mc_err *err) {
  dismiss_arg *d = arg;
  return st_ob_conflict_delete(txn, d->seq, &d->existed, err);
}

static void desk_dismiss_conflict(Mediation__V1__Desk_Service *service,
                                  const Mediation__V1__DeskDismissRequest *in,
                                  Mediation__V1__DeskDismissReply_Closure closure,
                                  void *closure_data) {
  (void)closure;
  un_unit *u = UNIT_OF(service);
  dismiss_arg d = {.seq = in->outbox_seq};
  mc_err err;
  mc_code rc = st_outbox_write(u->ob, dismiss_op, &d, &err);
  if (rc != MC_OK) {
    rpc_call_fail_err(closure_data, &err);
  } else if (!d.existed) {
    rpc_call_fail(closure_data, MC_NOT_FOUND,
                  _("no conflict for outbox seq %llu (see Conflicts for the list)"),
                  (unsigned long long)in->outbox_seq);
  } else {
    mc_log(MC_LOG_INFO, NULL, "conflict of outbox %llu dismissed by %s",
           (unsigned long long)in->outbox_seq, rpc_call_caller(closure_data)->id);
    Mediation__V1__DeskDismissReply reply = MEDIATION__V1__DESK_DISMISS_REPLY__INIT;
    rpc_call_reply(closure_data, &reply.base);
  }
}

static void desk_roster(Mediation__V1__Desk_Service *service,
                        const Mediation__V1__DeskRosterRequest *in,
                        Mediation__V1__DeskRosterReply_Closure closure, void *closure_data) {
  (void)in;
  (void)closure;
  un_unit *u = UNIT_OF(service);
  size_t n = u->self->n_roster;
  uint32_t *loads = calloc(n ? n : 1, sizeof(*loads));
  Mediation__V1__RosterMember *members = calloc(n ? n : 1, sizeof(*members));
  Mediation__V1__RosterMember **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  st_txn *t = NULL;
  mc_err err;
  mc_code rc = loads && members && ptrs ? st_outbox_read_begin(u->ob, &t, &err)
                                        : mc_err_set(&err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  if (rc == MC_OK)
    rc = un_team_load(u, t, loads, &err);
  st_read_end(t);
  if (rc != MC_OK) {
    rpc_call_fail_err(closure_data, &err);
  } else {
    for (size_t i = 0; i < n; i++) {
      mediation__v1__roster_member__init(&members[i]);
      members[i].person = u->self->roster[i].person;
      members[i].role = u->self->roster[i].role;
      members[i].active_cases = loads[i];
      ptrs[i] = &members[i];
    }
    Mediation__V1__DeskRosterReply reply = MEDIATION__V1__DESK_ROSTER_REPLY__INIT;
    reply.members = ptrs;
    reply.n_members = n;
    rpc_call_reply(closure_data, &reply.base);
  }
  free(loads);
  free(members);
  free(ptrs);
}

/* ---- Watch ------------------------------------------------------------------------- */

static void desk_watch(Mediation__V1__Desk_Service *service,
                       const Mediation__V1__DeskWatchRequest *in,
                       Mediation__V1__DeskWatchReply_Closure closure, void *closure_data) {
  (void)closure;
  un_watch_call(UNIT_OF(service)->watch, closure_data, in);
}

static void desk_search(Mediation__V1__Desk_Service *service,
                        const Mediation__V1__SearchRequest *in,
                        Mediation__V1__SearchReply_Closure closure, void *closure_data) {
  (void)closure;
  un_desk_search(UNIT_OF(service), closure_data, in);
}

void un_desk_init(un_unit *u) {
  Mediation__V1__Desk_Service init = MEDIATION__V1__DESK__INIT(desk_);
  u->service = init;
}
