/*
 * puller.c - handoffs delivered by the router: pulled, stored, signed for.
 *
 * The idea: one thread keeps a long poll open at the router (PullDeliveries,
 * waiting up to UN_PULL_WAIT_MS), so an offer reaches the unit the moment it
 * is committed. What arrives is first made durable here - the local copy
 * refreshed from the delivery's snapshot, the handoff event kept with it -
 * and only then acknowledged with receipts signed by the unit's key, which
 * the router records in the case file ("received by X at T"). Besides
 * handoffs the router sends an update for every other change to a case the
 * unit is in (a coordinator's recall or reopen, the holder's steps, a
 * receipt): stored the same way, it keeps the copy a replica of the
 * router's record, with the unit's still-queued steps replayed on top; its
 * receipt only ends the delivery. A delivery
 * not acknowledged is delivered again, so after a restart or a failed
 * acknowledgement the thread asks from the start (after_seq 0); storing a
 * delivery twice changes nothing, since a copy never goes back to an older
 * record of the router.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/names.h"
#include "services/unit/internal.h"

#define PULL_MAX 100
#define ACK_TIMEOUT_MS 10000

typedef struct store_arg {
  un_unit *u;
  Mediation__V1__PullDeliveriesReply *got;
  bool *usable; /* per delivery: well formed, stored */
  int64_t now_ms;
} store_arg;

static bool well_formed(const un_unit *u, const mv_delivery *d) {
  return strcmp(d->unit, u->self->id) == 0 && d->snapshot != NULL && d->event != NULL &&
         d->seq > 0 && d->event->seq > 0 && mc_case_id_parse(d->snapshot->id, NULL, NULL);
}

static mc_code store_op(st_txn *txn, void *arg, mc_err *err) {
  store_arg *s = arg;
  for (size_t i = 0; i < s->got->n_deliveries; i++) {
    const mv_delivery *d = s->got->deliveries[i];
    s->usable[i] = false;
    if (!well_formed(s->u, d))
      continue;
    /* An update is a change the unit did not make or receive: the copy
     * follows it, and its last handoff stays what it was. */
    const mv_event *handoff = d->kind == MV_DELIVERY(UPDATED) ? NULL : d->event;
    mc_code rc = un_local_refresh(s->u, txn, d->snapshot, NULL, handoff, s->now_ms, err);
    if (rc != MC_OK)
      return rc;
    s->usable[i] = true;
  }
  return MC_OK;
}

typedef struct acked_arg {
  uint64_t seq;
} acked_arg;

static mc_code acked_op(st_txn *txn, void *arg, mc_err *err) {
  return st_ob_acked_set(txn, ((acked_arg *)arg)->seq, err);
}

/* Signs a receipt for each stored delivery and sends them. Returns the
 * highest delivery seq acknowledged, 0 if none was. */
static uint64_t acknowledge(un_unit *u, const Mediation__V1__PullDeliveriesReply *got,
                            const bool *usable, int64_t received_ms) {
  size_t n = got->n_deliveries, k = 0;
  mv_receipt *receipts = calloc(n, sizeof(*receipts));
  mv_receipt **ptrs = calloc(n, sizeof(*ptrs));
  uint8_t(*sigs)[RPC_SIGNATURE_BYTES] = calloc(n, RPC_SIGNATURE_BYTES);
  uint64_t top = 0;
  mc_err err = {0};
  mc_code rc = receipts && ptrs && sigs ? MC_OK
                                        : mc_err_set(&err, MC_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; rc == MC_OK && i < n; i++) {
    const mv_delivery *d = got->deliveries[i];
    if (!usable[i])
      continue;
    mv_receipt *r = &receipts[k];
    mediation__v1__receipt__init(r);
    r->unit = u->self->id;
    r->delivery_seq = d->seq;
    r->case_id = d->snapshot->id;
    r->event_seq = d->event->seq;
    r->received_ms = received_ms;
    if ((rc = rpc_sign_message(u->key, &r->base, sigs[k], &err)) != MC_OK)
      break;
    r->signature.data = sigs[k];
    r->signature.len = RPC_SIGNATURE_BYTES;
    ptrs[k++] = r;
    if (d->seq > top)
      top = d->seq;
  }
  if (rc == MC_OK && k > 0) {
    Mediation__V1__AckDeliveriesRequest req = MEDIATION__V1__ACK_DELIVERIES_REQUEST__INIT;
    req.receipts = ptrs;
    req.n_receipts = k;
    rpc_call_opts opts = {.timeout_ms = ACK_TIMEOUT_MS};
    ProtobufCMessage *reply = NULL;
    rc = un_call(u, "AckDeliveries", &req.base, &opts, false, &reply, &err);
    if (rc == MC_OK) {
      const Mediation__V1__AckDeliveriesReply *a = (Mediation__V1__AckDeliveriesReply *)reply;
      mc_log(MC_LOG_INFO, NULL, "signed for %zu deliveries up to %llu (%u recorded, %u before)",
             k, (unsigned long long)top, a->recorded, a->already);
      protobuf_c_message_free_unpacked(reply, NULL);
    }
  }
  if (rc != MC_OK) {
    if (rc != MC_CANCELLED)
      mc_log(MC_LOG_WARNING, NULL, "deliveries not acknowledged: %s: %s (they come again)",
             mc_code_name(rc), err.msg);
    top = 0;
  }
  free(receipts);
  free(ptrs);
  free(sigs);
  return top;
}

/* Tells the watches which cases the stored deliveries changed; an offer
 * or the recall of one changes the inbox. */
static void note_stored(un_unit *u, const Mediation__V1__PullDeliveriesReply *got,
                        const bool *usable) {
  for (size_t i = 0; i < got->n_deliveries; i++) {
    const mv_delivery *d = got->deliveries[i];
    if (!usable[i])
      continue;
    const char *id = d->snapshot->id;
    un_watch_note(u->watch, &id, 1,
                  d->kind == MV_DELIVERY(OFFER) || d->kind == MV_DELIVERY(RECALLED));
  }
}

/* Stores and acknowledges one batch of deliveries. Returns the seq to pull
 * after next (0 when something went wrong: ask for everything pending). */
static uint64_t take(un_unit *u, Mediation__V1__PullDeliveriesReply *got) {
  size_t n = got->n_deliveries;
  bool *usable = calloc(n, sizeof(*usable));
  if (usable == NULL)
    return 0;
  int64_t now = mc_now_ms();
  store_arg s = {.u = u, .got = got, .usable = usable, .now_ms = now};
  mc_err err;
  uint64_t top = 0;
  if (st_outbox_write(u->ob, store_op, &s, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "cannot store %zu deliveries: %s (they come again)", n, err.msg);
  } else {
    for (size_t i = 0; i < n; i++) {
      const mv_delivery *d = got->deliveries[i];
      if (usable[i])
        mc_log(MC_LOG_INFO, d->snapshot->id, "received %s (delivery %llu, event %u)",
               mc_name_of(mc_delivery_names, d->kind), (unsigned long long)d->seq,
               d->event->seq);
      else
        mc_log(MC_LOG_WARNING, NULL, "delivery %llu is malformed; not signed for",
               (unsigned long long)d->seq);
    }
    note_stored(u, got, usable);
    top = acknowledge(u, got, usable, now);
    acked_arg a = {.seq = top};
    if (top > 0 && st_outbox_write(u->ob, acked_op, &a, &err) != MC_OK)
      mc_log(MC_LOG_WARNING, NULL, "cannot note delivery %llu as acknowledged: %s",
             (unsigned long long)top, err.msg);
  }
  free(usable);
  return top;
}

void *un_puller_main(void *arg) {
  un_unit *u = arg;
  uint64_t after = 0;
  int64_t backoff = 0;
  bool quiet = false;
  for (;;) {
    pthread_mutex_lock(&u->mu);
    int64_t until = mc_mono_ms() + backoff;
    while (backoff > 0 && !u->stopping && mc_mono_ms() < until)
      un_wait_locked(u, NULL, until, false);
    bool stop = u->stopping;
    pthread_mutex_unlock(&u->mu);
    if (stop)
      break;
    Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
    req.after_seq = after;
    req.max = PULL_MAX;
    req.wait_ms = UN_PULL_WAIT_MS;
    rpc_call_opts opts = {.timeout_ms = UN_PULL_WAIT_MS + 5000};
    ProtobufCMessage *reply = NULL;
    mc_err err;
    mc_code rc = un_call(u, "PullDeliveries", &req.base, &opts, false, &reply, &err);
    if (rc != MC_OK) {
      if (rc == MC_CANCELLED) {
        backoff = UN_BACKOFF_MIN_MS; /* stopping: the loop's check ends it */
        continue;
      }
      if (!quiet)
        mc_log(MC_LOG_WARNING, NULL, "cannot pull deliveries: %s: %s; trying again",
               mc_code_name(rc), err.msg);
      quiet = true;
      after = 0;
      backoff = backoff == 0 ? UN_BACKOFF_MIN_MS
                : backoff * 2 > UN_BACKOFF_MAX_MS ? UN_BACKOFF_MAX_MS
                                                  : backoff * 2;
      continue;
    }
    quiet = false;
    un_set_online(u, true);
    Mediation__V1__PullDeliveriesReply *got = (Mediation__V1__PullDeliveriesReply *)reply;
    if (got->n_deliveries > 0) {
      uint64_t top = take(u, got);
      after = top;
      backoff = top > 0 ? 0 : UN_BACKOFF_MIN_MS;
    } else {
      backoff = 0;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  return NULL;
}
