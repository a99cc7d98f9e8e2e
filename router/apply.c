/*
 * apply.c - what each write does inside the group-commit transaction.
 *
 * Apply, in order: the idempotency record (a retry gets the first answer,
 * from the same transaction that applied it, so a request can never apply
 * twice); the case (a new id for an intake, else resolve the reference and
 * check the caller may see it); the state machine (pure: nothing is written
 * if it refuses); the store (record, case file, indexes, figures); the
 * deliveries the step causes; the reply, masked for the caller, packed and
 * answered. A refusal is an answer too and is kept the same way, so that a
 * retry after the case moved on still gets it. Only failures of the store
 * itself (or of memory) roll the job back and are not kept: they answer
 * UNAVAILABLE, nothing applied, send the same request again.
 *
 * An applied step's answer is not kept whole (a copy of the case record,
 * ~2 KB, for every step of a week) but as where it lies in the case file:
 * (case, event seq, masked or not). A retry rebuilds it from the case file -
 * the record as it stood after that event, and the event - and masks it as
 * the first answer was masked, so it carries the same bytes. See
 * IdempotentReply in proto/mediation/v1/store.proto; records kept whole by
 * older routers are answered as they are.
 *
 * Every result goes into the job (rt_job) and is rewritten from scratch on
 * each run: the writer may run a batch again after growing the map. The job
 * carries what it needs of its call (request id, caller), so nothing here
 * calls into rpc inside the write transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/access.h"
#include "core/identity.h"
#include "core/machine.h"
#include "core/names.h"
#include "core/pb.h"
#include "router/internal.h"

/* Frees what a step owns and leaves it empty. */
static void step_clear(rt_step *s) {
  if (s->current != NULL)
    protobuf_c_message_free_unpacked(&s->current->base, NULL);
  if (s->next != NULL)
    protobuf_c_message_free_unpacked(&s->next->base, NULL);
  if (s->event != NULL)
    protobuf_c_message_free_unpacked(&s->event->base, NULL);
  *s = (rt_step){0};
}

/* Drops a prepared step (used, stale or never needed). */
static void drop_prepared(rt_job *job) {
  step_clear(&job->prepared);
  free(job->pre_reply);
  job->pre_reply = NULL;
  job->pre_reply_len = 0;
}

void rt_job_free(rt_job *job) {
  if (job == NULL)
    return;
  drop_prepared(job);
  free(job->payload);
  if (job->access != NULL)
    protobuf_c_message_free_unpacked(&job->access->base, NULL);
  free(job);
}

static void reset_results(rt_job *job) {
  free(job->payload);
  job->payload = NULL;
  job->payload_len = 0;
  job->code = MC_OK;
  job->message[0] = '\0';
  job->n_wake = 0;
  job->wake_all = false;
}

/* Where an applied step's answer lies in the case file (see the top of the
 * file): the answer is rebuilt from it on a retry. */
typedef struct applied_at {
  const char *case_id; /* NULL: nothing applied (a refusal) */
  uint32_t event_seq;
  bool masked; /* the answer was masked for its caller */
} applied_at;

/* Keeps the job's answer for retries of the same request: a refusal as its
 * code and message, an applied step as where it lies (format 2). */
static mc_code remember(st_txn *txn, rt_job *job, const char *method, const applied_at *at,
                        mc_err *err) {
  Mediation__V1__IdempotentReply rec = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
  rec.request_id.data = job->request_id;
  rec.request_id.len = RPC_REQUEST_ID_BYTES;
  rec.stored_ms = job->now_ms;
  rec.caller = job->caller->id;
  rec.method = (char *)method;
  rec.code = (Mediation__V1__StatusCode)job->code;
  rec.message = job->message;
  if (job->code == MC_OK && at->case_id != NULL) {
    rec.case_id = (char *)at->case_id;
    rec.event_seq = at->event_seq;
    rec.masked = at->masked;
  } else {
    rec.payload.data = job->payload;
    rec.payload.len = job->payload_len;
  }
  return st_idem_put(txn, &rec, err);
}

/* The record of case_id as it stood right after event seq: replayed from
 * the case file (the same replay verify checks against the stored record,
 * so it is the record that was stored then, byte for byte). *out is the
 * caller's. */
static mc_code record_as_of(st_txn *txn, const mc_registry *reg, const char *case_id,
                            uint32_t seq, mv_case **out, mc_err *err) {
  mv_event **events = NULL;
  size_t n = 0;
  mc_code rc = st_events_get(txn, case_id, &events, &n, err);
  if (rc != MC_OK)
    return rc == MC_NOT_FOUND ? mc_err_set(err, MC_DATA_LOSS,
                                           "case %s: a kept answer names event %u, but the "
                                           "case file is empty", case_id, seq)
                              : rc;
  if (n < seq) {
    st_messages_free(events, n);
    return mc_err_set(err, MC_DATA_LOSS,
                      "case %s: a kept answer names event %u, but the case file has %zu",
                      case_id, seq, n);
  }
  mv_case *cur = NULL;
  for (uint32_t i = 0; i < seq && rc == MC_OK; i++) {
    mv_case *next = NULL;
    rc = mc_replay_event(reg->utc_offset_minutes, cur, events[i], &next, err);
    if (cur != NULL)
      protobuf_c_message_free_unpacked(&cur->base, NULL);
    cur = next;
  }
  st_messages_free(events, n);
  if (rc != MC_OK) {
    if (cur != NULL)
      protobuf_c_message_free_unpacked(&cur->base, NULL);
    return rc;
  }
  *out = cur;
  return MC_OK;
}

/* Packs the caller's Apply reply into the job: the record and the event,
 * with the 再次纠纷 links (Intake.repeat_of) cut to the earlier cases the
 * caller may see (each read in txn). The messages are restored after. The
 * one way a reply is packed in the writer, first answer or rebuilt, so a
 * retry gets the same bytes. */
static mc_code pack_reply(st_txn *txn, rt_job *job, mv_case *record, mv_event *event,
                          mc_err *err) {
  mv_intake *ni = record->intake;
  mv_intake *ei = event->action != NULL && event->action->args_case == MV_ARGS(INTAKE)
                      ? event->action->intake /* a member of the args oneof */
                      : NULL;
  char **saved_n = ni ? ni->repeat_of : NULL, **saved_e = ei ? ei->repeat_of : NULL;
  size_t count_n = ni ? ni->n_repeat_of : 0, count_e = ei ? ei->n_repeat_of : 0;
  char *keep[MC_REPEAT_MAX];
  size_t kept = 0;
  mc_code rc = MC_OK;
  mv_actor who;
  rt_actor_of(job->caller, NULL, &who);
  for (size_t i = 0; i < count_n && i < MC_REPEAT_MAX && rc == MC_OK; i++) {
    mv_case *earlier = NULL;
    rc = st_case_get(txn, saved_n[i], &earlier, err);
    if (rc == MC_NOT_FOUND) {
      rc = MC_OK;
      continue;
    }
    if (rc == MC_OK && mc_may_read(job->reg, earlier, &who))
      keep[kept++] = saved_n[i];
    if (earlier != NULL)
      protobuf_c_message_free_unpacked(&earlier->base, NULL);
  }
  if (rc != MC_OK)
    return rc;
  if (ni != NULL) {
    ni->repeat_of = keep;
    ni->n_repeat_of = kept;
  }
  if (ei != NULL && count_e == count_n) { /* the intake's own event: the same links */
    ei->repeat_of = keep;
    ei->n_repeat_of = kept;
  }
  Mediation__V1__ApplyReply reply = MEDIATION__V1__APPLY_REPLY__INIT;
  reply.case_record = record;
  reply.event = event;
  rc = mc_pb_pack(&reply.base, &job->payload, &job->payload_len, err);
  if (ni != NULL) {
    ni->repeat_of = saved_n;
    ni->n_repeat_of = count_n;
  }
  if (ei != NULL) {
    ei->repeat_of = saved_e;
    ei->n_repeat_of = count_e;
  }
  return rc;
}

/* Rebuilds an applied step's answer kept as (case, seq, masked): the record
 * after that event - the stored one if no step came since, else replayed -
 * and the event, masked as the first answer was, packed into the job. */
static mc_code rebuild_answer(st_txn *txn, rt_job *job, const st_idem_reply *prev,
                              mc_err *err) {
  mv_case *record = NULL;
  mv_event *event = NULL;
  mc_code rc = st_event_get(txn, prev->case_id, prev->event_seq, &event, err);
  if (rc == MC_NOT_FOUND)
    rc = mc_err_set(err, MC_DATA_LOSS, "case %s: a kept answer names event %u, not in its file",
                    prev->case_id, prev->event_seq);
  if (rc == MC_OK)
    rc = st_case_get(txn, prev->case_id, &record, err);
  if (rc == MC_OK && record->event_count != prev->event_seq) {
    protobuf_c_message_free_unpacked(&record->base, NULL);
    record = NULL;
    rc = record_as_of(txn, job->reg, prev->case_id, prev->event_seq, &record, err);
  }
  if (rc == MC_OK) {
    if (prev->masked) {
      mc_mask_case(record);
      mc_mask_event(event);
    }
    rc = pack_reply(txn, job, record, event, err);
  }
  if (record != NULL)
    protobuf_c_message_free_unpacked(&record->base, NULL);
  if (event != NULL)
    protobuf_c_message_free_unpacked(&event->base, NULL);
  return rc;
}

/* Looks for an earlier answer to this request. Returns true (with the job's
 * results set) if there is one. */
static bool replay_earlier(st_txn *txn, rt_job *job, mc_code *rc, mc_err *err) {
  st_idem_reply *prev = NULL;
  *rc = st_idem_get(txn, job->request_id, RPC_REQUEST_ID_BYTES, &prev, err);
  if (*rc == MC_NOT_FOUND) {
    *rc = MC_OK;
    return false;
  }
  if (*rc != MC_OK)
    return true;
  if (strcmp(prev->caller, job->caller->id) != 0) {
    /* Ids are random: a collision with another principal's id is an attack
     * or a bug; never hand one principal another's answer. */
    job->code = MC_PERMISSION_DENIED;
    snprintf(job->message, sizeof(job->message),
             "request id already used by another caller; use a fresh request id");
  } else {
    job->code = (mc_code)prev->code;
    snprintf(job->message, sizeof(job->message), "%s", prev->message);
    if (prev->code == MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK && prev->payload.len == 0 &&
        prev->case_id[0] != '\0') {
      *rc = rebuild_answer(txn, job, prev, err); /* format 2 */
    } else if (prev->payload.len > 0) { /* format 1, or a refusal */
      job->payload = malloc(prev->payload.len);
      if (job->payload == NULL) {
        protobuf_c_message_free_unpacked(&prev->base, NULL);
        *rc = mc_err_set(err, MC_UNAVAILABLE, _("out of memory; nothing was applied"));
        return true;
      }
      memcpy(job->payload, prev->payload.data, prev->payload.len);
      job->payload_len = prev->payload.len;
    }
  }
  protobuf_c_message_free_unpacked(&prev->base, NULL);
  return true;
}

/* Who gets the step as it was just stored: the caller's reply and each
 * delivery, and whether each may see personal data (only the holder may).
 *
 * Deliveries are of two sorts. A handoff (mc_deliveries_for) goes to the
 * other unit of a transfer, acceptance, refusal or recall. Every other unit
 * in the case's units_involved - every unit that holds it, held it or was
 * offered it - gets an UPDATED delivery, so that its local copy follows the
 * router's record whoever moved the case (a coordinator, another unit, the
 * router recording a receipt). The unit whose Apply made the step is left
 * out: its reply carries the same record, and a retry of the same request
 * gets that reply again from the idempotency store.
 *
 * Masking is done in place, once, on the router's own copy of the case and
 * event, after it is stored: everything that may see personal data is packed
 * first, then the copy is masked and the rest is packed. Masking is the only
 * change and it only hides, so no copy of the case is ever needed. */
typedef struct outgoing {
  const char *unit;       /* delivery receiver; NULL for the caller's reply */
  Mediation__V1__DeliveryKind kind;
  bool sees_personal;
} outgoing;

/* Notes that unit has a delivery to pick up once the batch commits. */
static void wake_later(rt_job *job, const char *unit) {
  if (job->wake_all)
    return;
  for (int i = 0; i < job->n_wake; i++) {
    if (strcmp(job->wake[i], unit) == 0)
      return;
  }
  if (job->n_wake == RT_WAKE_MAX) {
    job->wake_all = true;
    return;
  }
  snprintf(job->wake[job->n_wake++], ST_NAME_MAX, "%s", unit);
}

static mc_code send_one(st_txn *txn, rt_job *job, const outgoing *o, mv_case *next,
                        mv_event *event, mc_err *err) {
  if (o->unit == NULL && o->sees_personal && job->pre_reply != NULL) {
    /* Packed by rt_job_prepare from the very step that was stored. */
    job->payload = job->pre_reply;
    job->payload_len = job->pre_reply_len;
    job->pre_reply = NULL;
    job->pre_reply_len = 0;
    return MC_OK;
  }
  if (o->unit == NULL)
    return pack_reply(txn, job, next, event, err);
  mv_delivery d = MEDIATION__V1__DELIVERY__INIT;
  d.unit = (char *)o->unit;
  d.kind = o->kind;
  d.snapshot = next;
  d.event = event;
  d.queued_ms = job->now_ms;
  mc_code rc = st_delivery_put(txn, &d, NULL, err);
  if (rc == MC_OK)
    wake_later(job, o->unit);
  return rc;
}

static bool listed(const outgoing *out, size_t n, const char *unit) {
  for (size_t i = 0; i < n; i++) {
    if (out[i].unit != NULL && strcmp(out[i].unit, unit) == 0)
      return true;
  }
  return false;
}

/* Queues the deliveries the step causes and, with reply, packs the caller's
 * Apply reply, each masked as its receiver may see it. next and event are
 * the job's own (owned) copies; they are masked in place if anyone may not
 * see them whole. */
static mc_code send_step(st_txn *txn, rt_job *job, const mc_registry *reg, mv_case *next,
                         mv_event *event, bool reply, mc_err *err) {
  outgoing few[8];
  size_t cap = next->n_units_involved + 3; /* + two handoffs + the reply */
  outgoing *out = cap <= sizeof(few) / sizeof(few[0]) ? few : calloc(cap, sizeof(*out));
  if (out == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, _("out of memory; nothing was applied"));
  size_t n = 0;
  mc_delivery_target targets[2];
  size_t nt = mc_deliveries_for(event, targets);
  for (size_t i = 0; i < nt; i++) {
    const mc_principal *to = mc_registry_principal(reg, targets[i].unit);
    if (to == NULL || to->kind != MC_PRINCIPAL_UNIT)
      continue; /* the state machine checked the unit at transfer time; it left the registry since */
    out[n++] = (outgoing){to->id, targets[i].kind, rt_sees_personal_data(next, to)};
  }
  const char *replied = reply && job->caller->kind == MC_PRINCIPAL_UNIT ? job->caller->id : NULL;
  for (size_t i = 0; i < next->n_units_involved; i++) {
    const mc_principal *to = mc_registry_principal(reg, next->units_involved[i]);
    if (to == NULL || to->kind != MC_PRINCIPAL_UNIT || listed(out, n, to->id) ||
        (replied != NULL && strcmp(replied, to->id) == 0))
      continue;
    out[n++] = (outgoing){to->id, MV_DELIVERY(UPDATED), rt_sees_personal_data(next, to)};
  }
  if (reply)
    out[n++] = (outgoing){NULL, 0, rt_sees_personal_data(next, job->caller)};
  mc_code rc = MC_OK;
  for (size_t i = 0; i < n && rc == MC_OK; i++) {
    if (out[i].sees_personal)
      rc = send_one(txn, job, &out[i], next, event, err);
  }
  bool masked = false;
  for (size_t i = 0; i < n && rc == MC_OK; i++) {
    if (out[i].sees_personal)
      continue;
    if (!masked) {
      mc_mask_case(next);
      mc_mask_event(event);
      masked = true;
    }
    rc = send_one(txn, job, &out[i], next, event, err);
  }
  if (out != few)
    free(out);
  return rc;
}

/* Sets the job's answer to a refusal and returns MC_OK: the answer stands
 * (and is remembered for retries). */
static mc_code answer_refusal(rt_job *job, mc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mc_code answer_refusal(rt_job *job, mc_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(job->message, sizeof(job->message), fmt, ap);
  va_end(ap);
  job->code = code;
  return MC_OK;
}

/* Loads the case a step is about. A reference that names no case is the
 * job's answer (a refusal); a failure of the store is returned. */
static mc_code load_case(st_txn *txn, rt_job *job, const char *ref, mv_case **out,
                         mc_err *err) {
  mc_err why;
  mc_code got = st_case_get_by_ref(txn, ref, out, &why);
  if (got == MC_NOT_FOUND || got == MC_INVALID_ARGUMENT)
    return answer_refusal(job, got, "%s", why.msg);
  if (got != MC_OK)
    return mc_err_set(err, got, "%s", why.msg);
  return MC_OK;
}

/* Decides a job's step on current (NULL for an intake): may the caller see
 * the case, and what does the state machine make of the action. The one
 * decision, whether rt_job_prepare makes it ahead of the writer on a
 * snapshot or the writer makes it itself: the same case, action, actor,
 * clock and request id give the same step. current is taken over either
 * way; the returned step owns it, and next and event when decided (the
 * caller frees them with step_clear). */
static rt_step decide_step(const rt_job *job, mv_case *current, const mv_action *action) {
  rt_step s = {.code = MC_OK, .current = current};
  if (current != NULL) {
    mv_actor who;
    rt_actor_of(job->caller, NULL, &who);
    if (!mc_may_read(job->reg, current, &who)) {
      s.code = MC_PERMISSION_DENIED;
      snprintf(s.message, sizeof(s.message), _("%s may not see or act on case %s"),
               job->caller->id, current->id);
      return s;
    }
  }
  mv_actor actor;
  rt_actor_of(job->caller, action->person, &actor);
  mc_step step = {
      .current = current,
      .action = action,
      .actor = &actor,
      .now_ms = job->now_ms,
      .request_id = {RPC_REQUEST_ID_BYTES, (uint8_t *)job->request_id},
  };
  mc_err why;
  s.code = mc_apply(job->reg, &step, &s.next, &s.event, &why);
  if (s.code != MC_OK)
    snprintf(s.message, sizeof(s.message), "%s", why.msg);
  return s;
}

/* Stores a decided step: the one place an applied step is logged, however
 * it was decided. */
static mc_code store_step(st_txn *txn, const rt_job *job, const mv_action *in, const rt_step *s,
                          mc_err *err) {
  mc_code rc = st_case_put(txn, s->current, s->next, s->event, err);
  if (rc == MC_OK)
    mc_log(MC_LOG_INFO, s->next->id, "%s by %s: %s -> %s", mc_name_of(mc_action_names, in->kind),
           job->caller->id, mc_name_of(mc_state_names, s->event->from_state),
           mc_name_of(mc_state_names, s->event->to_state));
  return rc;
}

/* Decides an Apply: finds (or creates) the case, runs the state machine and
 * stores the step into *out. A refusal of the step is the job's answer
 * (MC_OK returned); a failure of the store is returned (the job rolls
 * back). */
static mc_code decide(st_txn *txn, rt_job *job, const mc_registry *reg, rt_step *out,
                      mc_err *err) {
  const Mediation__V1__ApplyRequest *req = (const Mediation__V1__ApplyRequest *)job->request;
  const mv_action *in = req->action;
  if (in == NULL)
    return answer_refusal(job, MC_INVALID_ARGUMENT, _("action: missing"));
  mc_code rc;
  if (job->prepared.next != NULL) {
    /* Decided off the writer from a snapshot. st_case_put checks `before`
     * against the stored record byte for byte, so it stores the step only
     * if the case is still what it was decided on (nothing else of the
     * store goes into a step); it refuses before writing anything. */
    mc_err why;
    rc = store_step(txn, job, in, &job->prepared, &why);
    if (rc == MC_OK) {
      *out = job->prepared;
      job->prepared = (rt_step){0};
      return MC_OK;
    }
    /* ABORTED and FAILED_PRECONDITION come from st_case_put's checks, made
     * before it writes: the case moved on since the snapshot, so decide
     * again here. Anything else is the store's failure, after a write
     * perhaps: the job fails, and the batch runs again with it nested. */
    if (rc != MC_ABORTED && rc != MC_FAILED_PRECONDITION)
      return mc_err_set(err, rc, "%s", why.msg);
    drop_prepared(job);
  }
  mv_action action = *in; /* shallow; an intake gets the id allocated here */
  char case_id[MC_CASE_ID_MAX];
  mv_case *current = NULL;
  bool intake = in->kind == MV_ACTION(TAKE_IN);
  /* An intake's links to earlier cases are the router's, never the unit's. */
  mv_intake linked;
  char repeat_ids[MC_REPEAT_MAX][MC_CASE_ID_MAX];
  char *repeat_ptrs[MC_REPEAT_MAX];
  if (intake) {
    if ((rc = rt_new_case_id(txn, job, reg, in, case_id, err)) != MC_OK)
      return rc;
    action.case_ref = case_id;
    if (in->intake != NULL) {
      size_t nr = 0;
      if ((rc = rt_find_repeats(txn, in->intake, repeat_ids, &nr, err)) != MC_OK)
        return rc;
      linked = *in->intake;
      for (size_t i = 0; i < nr; i++)
        repeat_ptrs[i] = repeat_ids[i];
      linked.repeat_of = repeat_ptrs;
      linked.n_repeat_of = nr;
      action.intake = &linked;
    }
  } else {
    rc = load_case(txn, job, in->case_ref, &current, err);
    if (rc != MC_OK || job->code != MC_OK)
      return rc;
  }
  rt_agreement_no ano;
  if ((rc = rt_peek_agreement_no(txn, job, reg, current, &action, &ano, err)) != MC_OK) {
    if (current != NULL) /* peek fails only on a case's step, but free it the usual way */
      protobuf_c_message_free_unpacked(&current->base, NULL);
    return rc;
  }
  rt_step s = decide_step(job, current, &action);
  if (s.code != MC_OK) {
    /* UNAVAILABLE is the state machine running out of memory, not a
     * decision about the step: roll back, answer "send it again". */
    if (intake || s.code == MC_UNAVAILABLE) /* see rt_new_case_id: roll back, do not remember */
      rc = mc_err_set(err, s.code, "%s", s.message);
    else
      rc = answer_refusal(job, s.code, "%s", s.message);
    step_clear(&s);
    return rc;
  }
  *out = s;
  rc = store_step(txn, job, in, out, err);
  if (rc == MC_OK && ano.wanted)
    rc = st_agreement_take(txn, ano.unit, ano.year, ano.n, err);
  return rc;
}

void rt_job_prepare(rt_router *rt, rt_job *job) {
  const Mediation__V1__ApplyRequest *req = (const Mediation__V1__ApplyRequest *)job->request;
  const mv_action *in = req->action;
  if (job->kind != RT_JOB_APPLY || in == NULL || in->kind == MV_ACTION(TAKE_IN))
    return; /* an intake's case id is only known in the write transaction */
  if (in->kind == MV_ACTION(RECORD_OUTCOME))
    return; /* nor an agreement's number (rt_peek_agreement_no) */
  st_txn *txn = NULL;
  mv_case *current = NULL;
  mc_err why;
  if (st_read_begin(rt->store, &txn, &why) != MC_OK)
    return;
  mc_code rc = st_case_get_by_ref(txn, in->case_ref, &current, &why);
  st_read_end(txn);
  if (rc != MC_OK)
    return; /* refusals are left to the writer, which remembers them */
  rt_step s = decide_step(job, current, in);
  if (s.code != MC_OK) {
    step_clear(&s);
    return;
  }
  mv_case *next = s.next;
  mv_event *event = s.event;
  /* Packed ahead only without 再次纠纷 links: cutting them to what the caller
   * may see reads other cases, which the writer does (pack_reply). */
  if (rt_sees_personal_data(next, job->caller) &&
      (next->intake == NULL || next->intake->n_repeat_of == 0)) {
    Mediation__V1__ApplyReply reply = MEDIATION__V1__APPLY_REPLY__INIT;
    reply.case_record = next;
    reply.event = event;
    if (mc_pb_pack(&reply.base, &job->pre_reply, &job->pre_reply_len, &why) != MC_OK)
      job->pre_reply = NULL;
  }
  job->prepared = s;
}

static mc_code run_apply(st_txn *txn, rt_job *job, const mc_registry *reg, mc_err *err) {
  mc_code rc;
  if (replay_earlier(txn, job, &rc, err)) {
    drop_prepared(job);
    return rc;
  }
  rt_step step = {0};
  rc = decide(txn, job, reg, &step, err);
  mv_case *next = step.next;
  mv_event *event = step.event;
  applied_at at = {0};
  if (rc == MC_OK && job->code == MC_OK) {
    /* as the reply is masked in send_step; the holder is never masked */
    at = (applied_at){next->id, event->seq, !rt_sees_personal_data(next, job->caller)};
    rc = send_step(txn, job, reg, next, event, true, err);
  }
  if (rc == MC_OK)
    rc = remember(txn, job, "Apply", &at, err);
  step_clear(&step);
  return rc;
}

/* Records one receipt: the delivery is acknowledged and the case file gets
 * "received by X at T" with the unit's signature as proof. */
static mc_code record_receipt(st_txn *txn, rt_job *job, const mc_registry *reg,
                              const mv_receipt *r, uint32_t *recorded, uint32_t *already,
                              mc_err *err) {
  mv_delivery *d = NULL;
  mc_code rc = st_delivery_get(txn, job->caller->id, r->delivery_seq, &d, err);
  if (rc == MC_NOT_FOUND) {
    bool was;
    rc = st_delivery_ack(txn, job->caller->id, r->delivery_seq, &was, err);
    if (rc == MC_NOT_FOUND)
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("delivery %llu was never sent to %s"),
                        (unsigned long long)r->delivery_seq, job->caller->id);
    if (rc == MC_OK)
      (*already)++;
    return rc;
  }
  if (rc != MC_OK)
    return rc;
  if (d->snapshot == NULL || d->event == NULL || strcmp(d->snapshot->id, r->case_id) != 0 ||
      d->event->seq != r->event_seq) {
    protobuf_c_message_free_unpacked(&d->base, NULL);
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("receipt for delivery %llu names another case or event than it carried"),
                      (unsigned long long)r->delivery_seq);
  }
  /* An update is not a handoff: the receipt only ends its delivery. Put in
   * the case file, it would change the case and call for updates in turn. */
  bool handoff = d->kind != MV_DELIVERY(UPDATED);
  protobuf_c_message_free_unpacked(&d->base, NULL);
  bool was = false;
  if ((rc = st_delivery_ack(txn, job->caller->id, r->delivery_seq, &was, err)) != MC_OK)
    return rc;
  if (!handoff) {
    (*recorded)++;
    return MC_OK;
  }
  mv_case *current = NULL, *next = NULL;
  mv_event *event = NULL;
  if ((rc = st_case_get(txn, r->case_id, &current, err)) != MC_OK)
    return rc;
  mv_action action = MEDIATION__V1__CASE_ACTION__INIT;
  action.kind = MV_ACTION(RECORD_RECEIPT);
  action.case_ref = current->id;
  action.args_case = MV_ARGS(RECEIPT);
  action.receipt = (mv_receipt *)r;
  mv_actor router = MEDIATION__V1__ACTOR__INIT;
  router.kind = MV_PRINCIPAL(SYSTEM);
  router.id = "router";
  mc_step step = {
      .current = current,
      .action = &action,
      .actor = &router,
      .now_ms = job->now_ms,
      .request_id = {RPC_REQUEST_ID_BYTES, job->request_id},
  };
  rc = mc_apply(reg, &step, &next, &event, err);
  if (rc == MC_OK)
    rc = st_case_put(txn, current, next, event, err);
  if (rc == MC_OK) {
    (*recorded)++;
    mc_log(MC_LOG_INFO, current->id, "received by %s (delivery %llu)", job->caller->id,
           (unsigned long long)r->delivery_seq);
    /* The receipt is a step of the case like any other: every unit in it,
     * the one that signed included, gets the record that has it. */
    rc = send_step(txn, job, reg, next, event, false, err);
  }
  protobuf_c_message_free_unpacked(&current->base, NULL);
  if (next)
    protobuf_c_message_free_unpacked(&next->base, NULL);
  if (event)
    protobuf_c_message_free_unpacked(&event->base, NULL);
  return rc;
}

/* Acknowledgements are idempotent by nature (acknowledging twice counts as
 * "already"), so they are not kept in the idempotency store; a bad receipt
 * refuses the whole request, so a unit never half-acknowledges. */
static mc_code run_ack(st_txn *txn, rt_job *job, const mc_registry *reg, mc_err *err) {
  const Mediation__V1__AckDeliveriesRequest *req =
      (const Mediation__V1__AckDeliveriesRequest *)job->request;
  uint32_t recorded = 0, already = 0;
  for (size_t i = 0; i < req->n_receipts; i++) {
    mc_code rc = record_receipt(txn, job, reg, req->receipts[i], &recorded, &already, err);
    if (rc != MC_OK)
      return rc;
  }
  Mediation__V1__AckDeliveriesReply reply = MEDIATION__V1__ACK_DELIVERIES_REPLY__INIT;
  reply.recorded = recorded;
  reply.already = already;
  return mc_pb_pack(&reply.base, &job->payload, &job->payload_len, err);
}

/* Apply and access jobs decide before they write (every refusal comes from
 * reads and the pure state machine), so they run as direct batch ops, in
 * the batch's own transaction; an acknowledgement may refuse its second
 * receipt after recording the first, so it keeps a nested transaction. */
bool rt_job_is_direct(const rt_job *job) { return job->kind != RT_JOB_ACK; }

static mc_code run_job(st_txn *txn, rt_job *job, mc_err *err) {
  const mc_registry *reg = job->reg;
  reset_results(job);
  switch (job->kind) {
  case RT_JOB_APPLY:
    return run_apply(txn, job, reg, err);
  case RT_JOB_ACK:
    return run_ack(txn, job, reg, err);
  case RT_JOB_ACCESS:
    return st_access_append(txn, job->access, err);
  }
  return mc_err_set(err, MC_INTERNAL, "unknown job kind %d", (int)job->kind);
}

/* On the writer's thread, each job's refusal is written in its caller's
 * language (core/i18n.h): the batch mixes callers of both. */
mc_code rt_job_run(st_txn *txn, void *arg, mc_err *err) {
  rt_job *job = arg;
  locale_t previous = mc_i18n_use(job->call != NULL ? rpc_call_locale(job->call) : "");
  mc_code rc = run_job(txn, job, err);
  mc_i18n_restore(previous);
  return rc;
}
