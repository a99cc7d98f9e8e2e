/*
 * forwarder.c - the outbox, forwarded to the router: in order, exactly once.
 *
 * The idea: one thread takes the first entry of the outbox, sends it with
 * the request id stored with it, and does not look at the next entry until
 * the router has answered this one. The router keeps its answer per request
 * id, so a resend - after a timeout, a lost connection, or a crash of this
 * daemon between the router's commit and ours - is answered from that
 * record and applies nothing twice. The entry leaves the outbox in the same
 * batch that records what the router said (the refreshed local copy, or a
 * conflict for a refused step), so a crash either leaves both undone (the
 * entry is sent again) or both done.
 *
 * What the router says decides what happens:
 *   OK        the local copy is rebuilt on the router's record;
 *   a refusal (the step cannot be taken there: INVALID_ARGUMENT,
 *             FAILED_PRECONDITION, PERMISSION_DENIED, NOT_FOUND...) the
 *             step is dropped from the queue and kept as a conflict for the
 *             operators (Desk.Conflicts) unless the operator's Desk call is
 *             still waiting and is told directly;
 *   anything else (not delivered, no answer, the router stopping or
 *             unable to store it, the router failing) the same entry is sent
 *             again after a backoff (100 ms doubling to 5 s), however long
 *             that takes, at once when new work is queued.
 * Which is which is decided by the status code alone (un_code_is_refusal).
 * The same batch records the answer in the Desk call's record (the call
 * that queued the entry), so a retry of that call is told what happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/names.h"
#include "services/unit/internal.h"

typedef struct answer_arg {
  un_unit *u;
  const st_outbox_entry *e;
  mc_code code;          /* the router's answer */
  const char *message;
  const mv_case *record; /* the router's record after the step (OK), or as read after a refusal */
  bool told;             /* a waiting Desk call has the refusal */
  int64_t now_ms;
} answer_arg;

/* The name the local copy of the entry's case goes by ("" if none). */
static void entry_ref(const un_unit *u, const st_outbox_entry *e, char *buf, size_t cap) {
  const mv_action *a = e->action;
  if (a == NULL)
    snprintf(buf, cap, "%s", "");
  else if (a->kind == MV_ACTION(TAKE_IN) && a->intake != NULL)
    snprintf(buf, cap, "%s:%s", u->self->id, a->intake->unit_ref);
  else
    snprintf(buf, cap, "%s", a->case_ref);
}

/* The router's answer into the record of the Desk call that queued e. */
static mc_code record_desk_answer(st_txn *txn, const answer_arg *a, mc_err *err) {
  const st_outbox_entry *e = a->e;
  if (e->desk_request_id.len == 0)
    return MC_OK; /* queued before Desk calls were recorded */
  st_desk_record *rec = NULL;
  mc_code rc = st_ob_desk_get(txn, e->desk_request_id.data, e->desk_request_id.len, &rec, err);
  if (rc == MC_NOT_FOUND)
    return MC_OK; /* pruned */
  if (rc != MC_OK)
    return rc;
  if (e->desk_step >= rec->n_steps) {
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    return MC_OK;
  }
  Mediation__V1__DeskStep *s = rec->steps[e->desk_step];
  char *kept_message = s->message, *kept_ref = rec->local_ref;
  s->disposition = a->code == MC_OK ? MV_DISPOSITION(APPLIED) : MV_DISPOSITION(REFUSED);
  s->code = (Mediation__V1__StatusCode)a->code;
  s->message = (char *)(a->code == MC_OK ? "" : a->message);
  if (a->code == MC_OK && e->action->kind == MV_ACTION(TAKE_IN) && a->record != NULL &&
      a->record->id != NULL)
    rec->local_ref = a->record->id; /* the copy is kept under the id from now on */
  rc = st_ob_desk_put(txn, e->desk_request_id.data, e->desk_request_id.len, rec, err);
  s->message = kept_message; /* borrowed strings out before the record is freed */
  rec->local_ref = kept_ref;
  protobuf_c_message_free_unpacked(&rec->base, NULL);
  return rc;
}

static mc_code answer_op(st_txn *txn, void *arg, mc_err *err) {
  answer_arg *a = arg;
  bool existed = false;
  mc_code rc = st_ob_remove(txn, a->e->seq, &existed, err);
  if (rc != MC_OK || !existed)
    return rc;
  if ((rc = record_desk_answer(txn, a, err)) != MC_OK)
    return rc;
  if (a->code != MC_OK && !a->told) {
    st_conflict c = MEDIATION__V1__CONFLICT__INIT;
    c.outbox_seq = a->e->seq;
    c.action = a->e->action;
    c.code = (Mediation__V1__StatusCode)a->code;
    c.message = (char *)a->message;
    c.queued_ms = a->e->queued_ms;
    c.refused_ms = a->now_ms;
    if ((rc = st_ob_conflict_put(txn, &c, err)) != MC_OK)
      return rc;
  }
  char ref[256];
  entry_ref(a->u, a->e, ref, sizeof(ref));
  if (a->record == NULL && ref[0] == '\0')
    return MC_OK; /* a damaged entry: no case to refresh */
  return un_local_refresh(a->u, txn, a->record, ref, NULL, a->now_ms, err);
}

/* After a refusal: the router's record of the case as it is now (the
 * refusal often means the unit's copy was behind), or NULL. */
static mv_case *read_back(un_unit *u, const st_outbox_entry *e, Mediation__V1__GetCaseReply **keep) {
  if (e->action->kind == MV_ACTION(TAKE_IN) || e->action->case_ref[0] == '\0')
    return NULL;
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = e->action->case_ref;
  rpc_call_opts opts = {.timeout_ms = UN_READ_TIMEOUT_MS};
  ProtobufCMessage *reply = NULL;
  mc_err err;
  if (un_call(u, "GetCase", &req.base, &opts, true, &reply, &err) != MC_OK)
    return NULL;
  *keep = (Mediation__V1__GetCaseReply *)reply;
  return (*keep)->case_record;
}

/* Tells the watches that the router's answer to e is recorded: the copy
 * of its case rebuilt (under its alias and, once named, its id), or a
 * conflict kept; an accept or refuse the router refused puts the offer
 * back in the inbox. record: the router's record, or NULL. */
static void note_answer(un_unit *u, const st_outbox_entry *e, const mv_case *record) {
  char ref[256];
  entry_ref(u, e, ref, sizeof(ref));
  const char *ids[2] = {ref, record != NULL ? record->id : NULL};
  mv_action_kind k = e->action != NULL ? e->action->kind : MV_ACTION(UNSPECIFIED);
  un_watch_note(u->watch, ids, 2, k == MV_ACTION(ACCEPT) || k == MV_ACTION(REFUSE));
}

typedef enum { SENT, RETRY } outcome;

/* Sends the first entry and records the answer. */
static outcome forward_one(un_unit *u, const st_outbox_entry *e, bool *quiet) {
  const mv_action *act = e->action;
  mc_err err = {0};
  if (act == NULL || e->request_id.len != RPC_REQUEST_ID_BYTES) {
    /* Cannot happen unless the outbox was damaged: keep it as a conflict so
     * the queue moves on and the operators see it. */
    answer_arg a = {.u = u, .e = e, .code = MC_DATA_LOSS,
                    .message = "the queued step is damaged and cannot be sent",
                    .now_ms = mc_now_ms()};
    mc_code rc = st_outbox_write(u->ob, answer_op, &a, &err);
    mc_log(MC_LOG_ERR, NULL, "outbox %llu is damaged%s%s", (unsigned long long)e->seq,
           rc == MC_OK ? ": kept as a conflict" : ": ", rc == MC_OK ? "" : err.msg);
    if (rc == MC_OK)
      note_answer(u, e, NULL);
    return rc == MC_OK ? SENT : RETRY;
  }
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = (mv_action *)act;
  rpc_call_opts opts = {.timeout_ms = UN_FORWARD_TIMEOUT_MS, .request_id = e->request_id.data};
  ProtobufCMessage *reply = NULL;
  mc_code rc = un_call(u, "Apply", &req.base, &opts, true, &reply, &err);
  const char *what = mc_name_of(mc_action_names, act->kind);
  if (rc != MC_OK && !un_code_is_refusal(rc)) {
    if (!*quiet)
      mc_log(MC_LOG_WARNING, act->case_ref[0] ? act->case_ref : NULL,
             "%s (outbox %llu) not forwarded: %s: %s; it stays queued and is sent again",
             what, (unsigned long long)e->seq, mc_code_name(rc), err.msg);
    *quiet = true;
    if (rc != MC_CANCELLED)
      un_set_online(u, false);
    return RETRY;
  }
  *quiet = false;
  un_set_online(u, true);

  answer_arg a = {.u = u, .e = e, .code = rc, .message = err.msg, .now_ms = mc_now_ms()};
  Mediation__V1__ApplyReply *applied = (Mediation__V1__ApplyReply *)reply;
  Mediation__V1__GetCaseReply *read = NULL;
  un_wait *done;
  if (rc == MC_OK) {
    a.record = applied->case_record;
    done = un_wait_answer(u, e->seq, MC_OK, "", a.record, &a.told);
  } else {
    done = un_wait_answer(u, e->seq, rc, err.msg, NULL, &a.told);
    a.record = read_back(u, e, &read);
  }
  mc_err werr;
  mc_code wrc = st_outbox_write(u->ob, answer_op, &a, &werr);
  const char *case_id = rc == MC_OK && a.record != NULL ? a.record->id : act->case_ref;
  if (wrc != MC_OK)
    mc_log(MC_LOG_ERR, case_id,
           "the router answered %s (outbox %llu) but the outbox could not record it: %s; "
           "it is sent again (the router answers the same)",
           what, (unsigned long long)e->seq, werr.msg);
  else if (rc == MC_OK)
    mc_log(MC_LOG_INFO, case_id, "%s applied by the router (outbox %llu, event %u)", what,
           (unsigned long long)e->seq, applied->event ? applied->event->seq : 0);
  else
    mc_log(MC_LOG_NOTICE, case_id[0] ? case_id : NULL,
           "%s (outbox %llu) refused by the router: %s: %s; %s", what,
           (unsigned long long)e->seq, mc_code_name(rc), err.msg,
           a.told ? "the operator was told" : "kept as a conflict");
  if (wrc == MC_OK)
    note_answer(u, e, a.record);
  while (done != NULL) {
    un_wait *next = done->next;
    un_wait_finish(u, done);
    done = next;
  }
  if (read != NULL)
    protobuf_c_message_free_unpacked(&read->base, NULL);
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  return wrc == MC_OK ? SENT : RETRY;
}

#define PRUNE_BATCH 1000

typedef struct prune_arg {
  int64_t before_ms;
  size_t pruned;
} prune_arg;

static mc_code prune_op(st_txn *txn, void *arg, mc_err *err) {
  prune_arg *a = arg;
  return st_ob_desk_prune(txn, a->before_ms, PRUNE_BATCH, &a->pruned, err);
}

/* Forgets Desk calls too old to be retried (UN_DESK_KEEP_MS), a bounded
 * batch at a time so that a Desk call never waits long behind it. */
static void prune_desk_records(un_unit *u) {
  prune_arg a = {.before_ms = mc_now_ms() - UN_DESK_KEEP_MS, .pruned = PRUNE_BATCH};
  mc_err err;
  while (a.pruned == PRUNE_BATCH) {
    if (st_outbox_write(u->ob, prune_op, &a, &err) != MC_OK) {
      mc_log(MC_LOG_WARNING, NULL, "cannot prune old Desk records: %s", err.msg);
      return;
    }
  }
}

void *un_forwarder_main(void *arg) {
  un_unit *u = arg;
  int64_t backoff = 0, retry_at = 0, pruned_at = 0;
  bool quiet = false;
  for (;;) {
    if (pruned_at == 0 || mc_mono_ms() - pruned_at >= UN_DESK_PRUNE_EVERY_MS) {
      prune_desk_records(u);
      pruned_at = mc_mono_ms();
    }
    pthread_mutex_lock(&u->mu);
    if (u->stopping) {
      pthread_mutex_unlock(&u->mu);
      break;
    }
    if (u->kick) {
      /* New work: try now rather than at the end of a backoff. */
      u->kick = false;
      retry_at = 0;
    }
    if (retry_at != 0 && mc_mono_ms() < retry_at) {
      un_wait_locked(u, NULL, retry_at, true);
      pthread_mutex_unlock(&u->mu);
      continue;
    }
    pthread_mutex_unlock(&u->mu);

    st_outbox_entry *e = NULL;
    mc_err err;
    mc_code rc = st_outbox_peek(u->ob, &e, &err);
    if (rc == MC_NOT_FOUND) {
      pthread_mutex_lock(&u->mu);
      if (!u->kick)
        un_wait_locked(u, NULL, 0, true);
      pthread_mutex_unlock(&u->mu);
      continue;
    }
    outcome o = RETRY;
    if (rc == MC_OK) {
      o = forward_one(u, e, &quiet);
      protobuf_c_message_free_unpacked(&e->base, NULL);
    } else {
      mc_log(MC_LOG_ERR, NULL, "cannot read the outbox: %s", err.msg);
    }
    if (o == SENT) {
      backoff = 0;
      retry_at = 0;
    } else {
      backoff = backoff == 0 ? UN_BACKOFF_MIN_MS
                : backoff * 2 > UN_BACKOFF_MAX_MS ? UN_BACKOFF_MAX_MS
                                                  : backoff * 2;
      retry_at = mc_mono_ms() + backoff;
    }
  }
  return NULL;
}
