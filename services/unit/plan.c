/*
 * plan.c - an operator's step, and the steps the unit's policy adds to it,
 * checked and queued as one.
 *
 * The idea: the same state machine the router applies (core/machine.c)
 * checks every step here first, on the unit's local copy of the case, so an
 * operator learns at once - online or not - that a step cannot be taken,
 * and the policy plans its own steps on the case as it will be. Everything
 * happens inside one outbox batch: read the local copy, check the operator's
 * step, let the policy complete it and add its steps, check those, push them
 * all in order with fresh request ids, write the new local copy. Batches
 * run one at a time, so two operators acting on one case at once are
 * checked one after the other, and a crash leaves either all of a request's
 * steps queued or none.
 *
 * A batch may run again from the start (the outbox's map grew): every
 * result lives in the plan and is rewritten on each run; request ids are
 * drawn once, before the first run, so a re-run queues the same ids.
 *
 * The request id of the Desk call is the identity of all its steps: the
 * same batch records the call (its steps, their outbox seqs, what it
 * answered) under that id, and a call whose id is recorded already is a
 * retry - a client that lost the answer, before or after this daemon
 * crashed - and gets the first call's steps, as the router has answered
 * them since, with nothing planned or queued again. The policy's steps are
 * part of the record, so they are never planned twice either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/names.h"
#include "core/text.h"
#include "services/unit/internal.h"

/* What a step of the plan carries in its unknown fields: nothing. */
#define FORGET_UNKNOWN(m) ((m).base.n_unknown_fields = 0, (m).base.unknown_fields = NULL)

void un_plan_init(un_plan *p, un_unit *u) {
  memset(p, 0, sizeof(*p));
  p->u = u;
  p->refer_to = "";
  p->refer_reason = "";
  p->person = "";
  for (size_t i = 0; i < UN_MAX_STEPS; i++)
    rpc_request_id_new(p->steps[i].request_id);
}

static void drop_view(un_plan *p) {
  if (p->view != NULL)
    protobuf_c_message_free_unpacked(&p->view->base, NULL);
  p->view = NULL;
}

static void drop_replay(un_plan *p) {
  if (p->replay != NULL)
    protobuf_c_message_free_unpacked(&p->replay->base, NULL);
  p->replay = NULL;
}

void un_plan_free(un_plan *p) {
  drop_view(p);
  drop_replay(p);
  for (size_t i = 0; i < p->n_strings; i++)
    free(p->strings[i]);
  free(p->strings);
  p->strings = NULL;
  p->n_strings = p->cap_strings = 0;
}

const char *un_plan_str(un_plan *p, const char *s) {
  if (p->n_strings == p->cap_strings) {
    size_t cap = p->cap_strings ? p->cap_strings * 2 : 16;
    char **grown = realloc(p->strings, cap * sizeof(*grown));
    if (grown == NULL)
      return NULL;
    p->strings = grown;
    p->cap_strings = cap;
  }
  char *copy = strdup(s ? s : "");
  if (copy == NULL)
    return NULL;
  p->strings[p->n_strings++] = copy;
  return copy;
}

static mc_code oom(mc_err *err) { return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory")); }

/* A new step acting on the plan's case, by the operator's person. */
static un_step *add_step(un_plan *p, mv_action_kind kind, mc_err *err) {
  if (p->n == UN_MAX_STEPS) {
    mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("more than %d steps for one request"),
               UN_MAX_STEPS);
    return NULL;
  }
  un_step *s = &p->steps[p->n++];
  uint8_t id[RPC_REQUEST_ID_BYTES];
  memcpy(id, s->request_id, sizeof(id));
  memset(s, 0, sizeof(*s));
  memcpy(s->request_id, id, sizeof(id));
  s->plan = p;
  mediation__v1__case_action__init(&s->action);
  s->action.kind = kind;
  s->action.case_ref = (char *)(p->case_ref ? p->case_ref : "");
  s->action.person = (char *)p->person;
  return s;
}

static void refuse(un_step *s, mc_code code, const char *message) {
  s->disposition = MV_DISPOSITION(REFUSED);
  s->code = code;
  snprintf(s->message, sizeof(s->message), "%s", message);
}

/* Checks step s on the plan's view (NULL before an intake) with the state
 * machine and, if it passes, makes the result the new view. */
static mc_code check_step(un_plan *p, un_step *s, mc_err *err) {
  un_unit *u = p->u;
  mv_action a = s->action; /* shallow: only case_ref may differ */
  const mv_case *cur = p->view;
  mv_case named;
  if (s->action.kind == MV_ACTION(TAKE_IN))
    a.case_ref = (char *)p->case_ref; /* the provisional "<unit>:<unit_ref>" */
  if (cur != NULL && (cur->id == NULL || cur->id[0] == '\0')) {
    named = *cur; /* a case taken in offline: name it by its alias */
    named.id = (char *)p->case_ref;
    cur = &named;
  }
  mv_actor actor;
  un_actor(u, s->action.person, &actor);
  mc_step step = {
      .current = cur,
      .action = &a,
      .actor = &actor,
      .now_ms = p->now_ms,
      .request_id = {RPC_REQUEST_ID_BYTES, s->request_id},
  };
  mv_case *next = NULL;
  mv_event *ev = NULL;
  mc_code rc = mc_apply(u->reg, &step, &next, &ev, err);
  if (rc != MC_OK)
    return rc;
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  drop_view(p);
  p->view = next;
  return MC_OK;
}

/* The operator's TakeIn as a step: a unit_ref (the operator's, or the next
 * of this unit and year), and the case named by its alias from now on. */
static mc_code take_in_step(un_plan *p, st_txn *txn, un_step **out, mc_err *err) {
  un_unit *u = p->u;
  const char *ref = p->intake->unit_ref;
  char made[64];
  mc_code rc;
  if (ref == NULL || ref[0] == '\0') {
    int year = mc_date_of(p->now_ms, u->reg->utc_offset_minutes).year;
    uint64_t serial;
    if ((rc = st_ob_next_ref(txn, year, &serial, err)) != MC_OK)
      return rc;
    /* "PS-2026-0007"; never in the shape of a case id (whose serial has at
     * least six digits), so a reference cannot be taken for an id. */
    if (serial < 100000)
      snprintf(made, sizeof(made), "%s-%04d-%04llu", u->policy->ref_prefix, year,
               (unsigned long long)serial);
    else
      snprintf(made, sizeof(made), "%s%04d-%llu", u->policy->ref_prefix, year,
               (unsigned long long)serial);
    ref = made;
  } else if (!mc_unit_ref_valid(ref) || mc_case_id_parse(ref, NULL, NULL)) {
    p->refused = true;
    un_step *s = add_step(p, MV_ACTION(TAKE_IN), err);
    char why[sizeof(s->message)];
    if (s != NULL) {
      snprintf(why, sizeof(why),
               _("intake.unit_ref: a reference of this unit, %s, not shaped like a case id "
                 "(never personal data); or leave it empty and the unit allocates one"),
               mc_unit_ref_rule());
      refuse(s, MC_INVALID_ARGUMENT, why);
    }
    return MC_INVALID_ARGUMENT;
  }
  size_t alias_len = strlen(u->self->id) + strlen(ref) + 2;
  char *alias = malloc(alias_len);
  if (alias == NULL)
    return oom(err);
  snprintf(alias, alias_len, "%s:%s", u->self->id, ref);
  p->case_ref = un_plan_str(p, alias);
  free(alias);
  if (p->case_ref == NULL)
    return oom(err);
  if (ref != made) {
    st_local_case *lc = NULL;
    rc = st_ob_local_get(txn, p->case_ref, &lc, err);
    if (rc == MC_OK) {
      protobuf_c_message_free_unpacked(&lc->base, NULL);
      p->refused = true;
      un_step *s = add_step(p, MV_ACTION(TAKE_IN), err);
      if (s != NULL)
        refuse(s, MC_ALREADY_EXISTS, _("intake.unit_ref: this unit already has a case by it"));
      return MC_ALREADY_EXISTS;
    }
    if (rc != MC_NOT_FOUND)
      return rc;
  }
  const char *ref_kept = un_plan_str(p, ref);
  p->local_ref = p->case_ref;
  if (ref_kept == NULL)
    return oom(err);
  un_step *s = add_step(p, MV_ACTION(TAKE_IN), err);
  if (s == NULL)
    return MC_RESOURCE_EXHAUSTED;
  s->action.case_ref = (char *)""; /* the router allocates the id */
  s->intake = *p->intake;
  FORGET_UNKNOWN(s->intake);
  s->intake.unit_ref = (char *)ref_kept;
  s->action.args_case = MV_ARGS(INTAKE);
  s->action.intake = &s->intake;
  *out = s;
  return MC_OK;
}

/* The operator's Act as a step on the local copy lc. */
static mc_code act_step(un_plan *p, st_local_case *lc, un_step **out, mc_err *err) {
  un_unit *u = p->u;
  const mv_case *c = lc->case_record;
  if (c->id != NULL && mc_case_id_parse(c->id, NULL, NULL)) {
    p->case_ref = un_plan_str(p, c->id);
  } else {
    char *alias = un_case_alias(u, c);
    if (alias == NULL)
      return mc_err_set(err, MC_DATA_LOSS, _("local copy %s has neither id nor unit_ref"), p->ref);
    p->case_ref = un_plan_str(p, alias);
    free(alias);
  }
  p->local_ref = p->case_ref;
  if (p->case_ref == NULL)
    return oom(err);
  un_step *s = add_step(p, p->op->kind, err);
  if (s == NULL)
    return MC_RESOURCE_EXHAUSTED;
  s->action = *p->op;
  FORGET_UNKNOWN(s->action);
  s->action.case_ref = (char *)p->case_ref;
  s->action.person = (char *)p->person;
  if (p->op->args_case == MV_ARGS(MEMBER) && p->op->member != NULL) {
    s->member = *p->op->member;
    FORGET_UNKNOWN(s->member);
    s->action.member = &s->member;
  }
  if (p->op->args_case == MV_ARGS(OUTCOME) && p->op->outcome != NULL) {
    s->outcome = *p->op->outcome;
    FORGET_UNKNOWN(s->outcome);
    s->action.outcome = &s->outcome;
  }
  /* The view starts as the local copy's case, taken over from lc. */
  p->view = lc->case_record;
  lc->case_record = NULL;
  *out = s;
  return MC_OK;
}

/* What the runtime itself completes for every unit: ASSIGN without a
 * person is the unit's pick by load for the role (a mediator if no role). */
static mc_code complete_common(un_ctx *ctx, un_step *s, mc_err *err) {
  if (s->action.kind != MV_ACTION(ASSIGN) || s->action.member == NULL ||
      (s->action.member->person != NULL && s->action.member->person[0] != '\0'))
    return MC_OK;
  un_role role = s->member.role ? s->member.role : MV_ROLE(MEDIATOR);
  const char *person;
  mc_code rc = un_pick_by_load(ctx, role, &person, err);
  if (rc != MC_OK)
    return rc;
  s->member.role = role;
  s->member.person = (char *)person;
  if (ctx->plan->n_planned < UN_MAX_STEPS)
    ctx->plan->planned[ctx->plan->n_planned++] = person;
  return MC_OK;
}

/* The plan's extra steps: the operator's explicit referral, or the policy's.
 * A policy that cannot act on this case (nobody of the role on the roster,
 * no studio to send it to) plans nothing more, and says why in the log and
 * as a refused step without a kind (MC_OK). Any other failure (memory, the outbox unreadable) is returned:
 * the whole request is then not queued rather than left half-done. */
static mc_code follow_steps(un_plan *p, un_ctx *ctx, const un_step *op, mc_err *err) {
  un_unit *u = p->u;
  mc_err why = {0};
  mc_code rc = MC_OK;
  if (op->action.kind == MV_ACTION(TAKE_IN) && p->refer_to[0] != '\0') {
    const char *reason = p->refer_reason;
    char made[256];
    if (reason[0] == '\0') {
      const mc_unit *to = mc_registry_unit(u->reg, p->refer_to);
      snprintf(made, sizeof(made), "转介：转%s", to && to->name ? to->name : p->refer_to);
      reason = made;
    }
    rc = un_plan_transfer(p, p->refer_to, reason, &why);
  } else if (u->policy->follow != NULL) {
    rc = u->policy->follow(ctx, &op->action, p->view, p, &why);
  }
  if (rc == MC_NOT_FOUND || rc == MC_INVALID_ARGUMENT || rc == MC_FAILED_PRECONDITION) {
    mc_log(MC_LOG_WARNING, p->case_ref, "%s policy planned no further step after %s: %s: %s",
           u->policy->program, mc_name_of(mc_action_names, op->action.kind),
           mc_code_name(rc), why.msg);
    /* Said in the reply too, as a refused step the policy could not plan
     * (no kind), so the operator sees the case is not as the policy meant. */
    mc_err full = {0};
    un_step *s = add_step(p, MV_ACTION(UNSPECIFIED), &full);
    if (s != NULL)
      refuse(s, rc, why.msg);
    return MC_OK;
  }
  if (rc != MC_OK)
    return mc_err_set(err, MC_UNAVAILABLE,
                      _("the unit could not plan its policy's steps after %s (%s: %s); nothing "
                      "was queued: send the same request again"),
                      mc_name_of(mc_action_names, op->action.kind), mc_code_name(rc), why.msg);
  return MC_OK;
}

/* A retry of a recorded Desk call: *retry says so, and p->replay holds
 * its record (or p->id_reused, if the id came with another request). */
static mc_code find_earlier(un_plan *p, st_txn *txn, bool *retry, mc_err *err) {
  *retry = false;
  if (p->desk_id == NULL)
    return MC_OK;
  st_desk_record *rec = NULL;
  mc_err why = {0};
  mc_code rc = st_ob_desk_get(txn, p->desk_id, RPC_REQUEST_ID_BYTES, &rec, &why);
  if (rc == MC_NOT_FOUND)
    return MC_OK;
  if (rc != MC_OK) {
    *err = why;
    return rc;
  }
  *retry = true;
  if (rec->fingerprint.len != UN_FINGERPRINT_BYTES ||
      memcmp(rec->fingerprint.data, p->fingerprint, UN_FINGERPRINT_BYTES) != 0) {
    p->id_reused = true;
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    return MC_OK;
  }
  p->replay = rec;
  return MC_OK;
}

/* Records the Desk call under its request id (see the top of the file). */
static mc_code record_call(un_plan *p, st_txn *txn, mc_err *err) {
  if (p->desk_id == NULL)
    return MC_OK;
  Mediation__V1__DeskStep steps[UN_MAX_STEPS];
  Mediation__V1__DeskStep *ptrs[UN_MAX_STEPS];
  for (size_t i = 0; i < p->n; i++) {
    const un_step *s = &p->steps[i];
    mediation__v1__desk_step__init(&steps[i]);
    steps[i].action = (mv_action *)&s->action;
    steps[i].disposition = s->disposition;
    if (s->disposition == MV_DISPOSITION(REFUSED)) {
      steps[i].code = (Mediation__V1__StatusCode)s->code;
      steps[i].message = (char *)s->message;
    }
    steps[i].outbox_seq = s->seq;
    ptrs[i] = &steps[i];
  }
  st_desk_record rec = MEDIATION__V1__DESK_RECORD__INIT;
  rec.fingerprint.data = p->fingerprint;
  rec.fingerprint.len = UN_FINGERPRINT_BYTES;
  rec.steps = ptrs;
  rec.n_steps = p->n;
  rec.local_ref = (char *)(p->local_ref ? p->local_ref : "");
  rec.made_ms = p->now_ms;
  return st_ob_desk_put(txn, p->desk_id, RPC_REQUEST_ID_BYTES, &rec, err);
}

/* Queues the plan's steps that were not refused, in order, and keeps the
 * case as it will be as the local copy (lc: the copy it was planned on, or
 * NULL for an intake). */
static mc_code queue_steps(un_plan *p, st_txn *txn, const st_local_case *lc, mc_err *err) {
  mc_code rc = MC_OK;
  uint32_t queued = 0;
  for (size_t i = 0; i < p->n && rc == MC_OK; i++) {
    un_step *s = &p->steps[i];
    if (s->disposition == MV_DISPOSITION(REFUSED))
      continue;
    Mediation__V1__OutboxEntry e = MEDIATION__V1__OUTBOX_ENTRY__INIT;
    e.request_id.data = s->request_id;
    e.request_id.len = RPC_REQUEST_ID_BYTES;
    e.action = &s->action;
    e.queued_ms = p->now_ms;
    e.locale = (char *)mc_i18n_current(); /* the Desk caller's: this runs in its language */
    if (p->desk_id != NULL) {
      e.desk_request_id.data = (uint8_t *)p->desk_id;
      e.desk_request_id.len = RPC_REQUEST_ID_BYTES;
      e.desk_step = (uint32_t)i;
    }
    rc = st_ob_push(txn, &e, &s->seq, err);
    if (rc == MC_OK) {
      s->disposition = MV_DISPOSITION(QUEUED);
      queued++;
    }
  }
  if (rc == MC_OK) {
    mv_case stored = *p->view;
    if (stored.id == NULL || !mc_case_id_parse(stored.id, NULL, NULL))
      stored.id = (char *)""; /* provisional: kept under its alias until the router's id is known */
    st_local_case nl = MEDIATION__V1__LOCAL_CASE__INIT;
    nl.case_record = &stored;
    nl.stale = true;
    nl.queued_steps = queued + (lc != NULL ? lc->queued_steps : 0);
    if (lc != NULL) {
      nl.synced_ms = lc->synced_ms;
      nl.synced_record = lc->synced_record;
      nl.last_handoff = lc->last_handoff;
    }
    rc = st_ob_local_put(txn, &nl, err);
  }
  return rc;
}

/* One run of the batch (see the top of the file). */
static mc_code plan_run(st_txn *txn, void *arg, mc_err *err) {
  un_plan *p = arg;
  un_unit *u = p->u;
  drop_view(p);
  drop_replay(p);
  p->n = 0;
  p->n_planned = 0;
  p->refused = false;
  p->no_copy = false;
  p->id_reused = false;
  p->case_ref = p->local_ref = NULL;
  un_ctx ctx = {.u = u, .plan = p, .txn = txn};

  bool retry;
  mc_code rc = find_earlier(p, txn, &retry, err);
  if (rc != MC_OK || retry)
    return rc; /* nothing written: the earlier call's steps stand */

  st_local_case *lc = NULL;
  un_step *op = NULL;
  if (p->intake != NULL) {
    rc = take_in_step(p, txn, &op, err);
  } else {
    mc_err miss = {0};
    rc = st_ob_local_get(txn, p->ref, &lc, &miss);
    if (rc == MC_NOT_FOUND) {
      p->refused = true;
      p->no_copy = true;
      un_step *s = add_step(p, p->op->kind, err);
      if (s != NULL)
        refuse(s, MC_NOT_FOUND, miss.msg);
      return MC_NOT_FOUND;
    }
    if (rc != MC_OK)
      *err = miss;
    if (rc == MC_OK)
      rc = act_step(p, lc, &op, err);
  }
  if (rc != MC_OK) {
    if (lc != NULL)
      protobuf_c_message_free_unpacked(&lc->base, NULL);
    return rc;
  }

  /* The operator's step: completed, then checked. */
  mc_err why = {0};
  rc = complete_common(&ctx, op, &why);
  if (rc == MC_OK && u->policy->complete != NULL)
    rc = u->policy->complete(&ctx, p->view, op, &why);
  if (rc == MC_OK)
    rc = check_step(p, op, &why);
  if (rc != MC_OK) {
    refuse(op, rc, why.msg);
    p->refused = true;
    if (lc != NULL)
      protobuf_c_message_free_unpacked(&lc->base, NULL);
    return rc; /* rolls back the reference serial an intake may have used */
  }

  /* The steps that follow it, each checked on the case as it will be. */
  size_t first_follow = p->n;
  if ((rc = follow_steps(p, &ctx, op, err)) != MC_OK) {
    if (lc != NULL)
      protobuf_c_message_free_unpacked(&lc->base, NULL);
    return rc;
  }
  for (size_t i = first_follow; i < p->n; i++) {
    un_step *s = &p->steps[i];
    if (s->disposition == MV_DISPOSITION(REFUSED))
      continue; /* one the policy could not plan */
    mc_err serr = {0};
    mc_code src = check_step(p, s, &serr);
    if (src != MC_OK)
      refuse(s, src, serr.msg);
  }

  rc = queue_steps(p, txn, lc, err);
  if (rc == MC_OK)
    rc = record_call(p, txn, err);
  if (lc != NULL)
    protobuf_c_message_free_unpacked(&lc->base, NULL);
  return rc;
}

mc_code un_plan_queue(un_plan *p, mc_err *err) {
  mc_err why = {0};
  mc_code rc = st_outbox_write(p->u->ob, plan_run, p, &why);
  if (p->id_reused)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("request_id: this Desk has answered another request under this id; a "
                      "retry must send the same request, a new request a new id"));
  if (p->refused)
    return MC_OK;
  if (rc == MC_UNAVAILABLE) /* the policy could not plan: why says so */
    return mc_err_set(err, rc, "%s", why.msg);
  if (rc != MC_OK)
    return mc_err_set(err, rc, _("the unit's outbox: %s"), why.msg);
  return MC_OK;
}

/* ---- The policy API (unit.h) ---------------------------------------------------- */

const mc_registry *un_ctx_registry(const un_ctx *ctx) { return ctx->u->reg; }
const mc_unit *un_ctx_unit(const un_ctx *ctx) { return ctx->u->self; }

mc_code un_pick_by_load(un_ctx *ctx, un_role role, const char **person, mc_err *err) {
  const mc_unit *self = ctx->u->self;
  if (self->n_roster == 0 || self->n_roster > 4096)
    return mc_err_set(err, MC_NOT_FOUND, _("[unit %s] has no member lines: nobody to assign"),
                      self->id);
  uint32_t *loads = calloc(self->n_roster, sizeof(*loads));
  if (loads == NULL)
    return oom(err);
  mc_code rc = un_team_load(ctx->u, ctx->txn, loads, err);
  long best = -1;
  for (size_t i = 0; rc == MC_OK && i < self->n_roster; i++) {
    if (self->roster[i].role != role)
      continue;
    uint32_t load = loads[i];
    for (size_t k = 0; k < ctx->plan->n_planned; k++)
      load += strcmp(ctx->plan->planned[k], self->roster[i].person) == 0;
    loads[i] = load;
    if (best < 0 || load < loads[best])
      best = (long)i;
  }
  if (rc == MC_OK && best < 0)
    rc = mc_err_set(err, MC_NOT_FOUND,
                    _("[unit %s] has no %s: add a \"member = %s <name>\" line"), self->id,
                    mc_name_of(mc_team_role_names, role), mc_name_of(mc_team_role_names, role));
  if (rc == MC_OK)
    *person = self->roster[best].person;
  free(loads);
  return rc;
}

bool un_case_has_member(const mv_case *c, const char *unit, un_role role) {
  for (size_t i = 0; c != NULL && i < c->n_team; i++) {
    const mv_member *m = c->team[i];
    if (m->released_ms == 0 && m->role == role && strcmp(m->unit, unit) == 0)
      return true;
  }
  return false;
}

bool un_kind_in(uint32_t mask, mv_kind kind) {
  return kind > 0 && kind < 32 && (mask >> kind) & 1u;
}

const mv_action *un_step_action(const un_step *step) { return &step->action; }

mc_code un_step_set_to_unit(un_step *step, const char *unit, mc_err *err) {
  const char *kept = un_plan_str(step->plan, unit);
  if (kept == NULL)
    return oom(err);
  step->action.args_case = MV_ARGS(TO_UNIT);
  step->action.to_unit = (char *)kept;
  return MC_OK;
}

void un_step_set_followup(un_step *step, int64_t due_ms) {
  if (step->action.args_case != MV_ARGS(OUTCOME) || step->action.outcome == NULL)
    return;
  if (step->action.outcome != &step->outcome) {
    step->outcome = *step->action.outcome;
    FORGET_UNKNOWN(step->outcome);
    step->action.outcome = &step->outcome;
  }
  step->outcome.followup_due_ms = due_ms;
}

void un_schedule_followup(un_ctx *ctx, un_step *step) {
  const mv_action *a = &step->action;
  int64_t after = ctx->u->reg->policy.followup_after_ms;
  if (a->kind == MV_ACTION(RECORD_OUTCOME) && a->args_case == MV_ARGS(OUTCOME) &&
      a->outcome != NULL && a->outcome->kind == MV_OUTCOME(AGREEMENT) &&
      a->outcome->followup_due_ms == 0 && after > 0)
    un_step_set_followup(step, ctx->plan->now_ms + after);
}

mc_code un_plan_transfer(un_plan *p, const char *to_unit, const char *reason, mc_err *err) {
  const char *to = un_plan_str(p, to_unit), *why = un_plan_str(p, reason);
  if (to == NULL || why == NULL)
    return oom(err);
  un_step *s = add_step(p, MV_ACTION(TRANSFER), err);
  if (s == NULL)
    return MC_RESOURCE_EXHAUSTED;
  s->action.args_case = MV_ARGS(TO_UNIT);
  s->action.to_unit = (char *)to;
  s->action.reason = (char *)why;
  return MC_OK;
}

mc_code un_plan_assign(un_plan *p, un_role role, const char *person, mc_err *err) {
  const char *who = un_plan_str(p, person);
  if (who == NULL)
    return oom(err);
  if (p->n_planned == UN_MAX_STEPS)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("more than %d assignments for one request"),
                      UN_MAX_STEPS);
  un_step *s = add_step(p, MV_ACTION(ASSIGN), err);
  if (s == NULL)
    return MC_RESOURCE_EXHAUSTED;
  mediation__v1__team_member__init(&s->member);
  s->member.person = (char *)who;
  s->member.role = role;
  s->action.args_case = MV_ARGS(MEMBER);
  s->action.member = &s->member;
  p->planned[p->n_planned++] = who;
  return MC_OK;
}
