/*
 * local.c - a unit's local copies of its cases: what its operators read
 * when the router is out of reach, and what its steps are checked on.
 *
 * The idea: a local copy is two records. synced_record is the router's, as
 * last heard (an Apply reply, a delivery, a read); case_record is that plus
 * the unit's steps still waiting in the outbox, applied here in order with
 * the router's own state machine. Whenever either part changes - the router
 * answers a step, a delivery arrives, a queued step is refused - the copy is
 * rebuilt the same way (un_local_refresh), so it never drifts from "what
 * the router said, then what we asked for". The router says it for every
 * change to a case the unit holds, held or was offered, whoever made it
 * (UPDATED deliveries, puller.c), so the copy is a replica of the router's
 * record, not only of the unit's own steps. A record of the router replaces
 * the synced one only if it is not older (fewer case-file events): a
 * delivery redelivered after a restart cannot undo a later answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/names.h"
#include "core/pb.h"
#include "services/unit/internal.h"

#define LIST_PAGE 1000

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

void un_actor(const un_unit *u, const char *person, mv_actor *out) {
  mediation__v1__actor__init(out);
  out->kind = MV_PRINCIPAL(UNIT);
  out->id = u->self->id;
  out->person = (char *)(person ? person : "");
}

bool un_holds(const un_unit *u, const mv_case *c) {
  return c != NULL && str_eq(c->holder, u->self->id);
}

char *un_case_alias(const un_unit *u, const mv_case *c) {
  if (c == NULL || c->intake == NULL || c->intake->unit_ref == NULL ||
      c->intake->unit_ref[0] == '\0')
    return NULL;
  const char *unit = c->n_units_involved > 0 ? c->units_involved[0] : u->self->id;
  size_t n = strlen(unit) + strlen(c->intake->unit_ref) + 2;
  char *alias = malloc(n);
  if (alias != NULL)
    snprintf(alias, n, "%s:%s", unit, c->intake->unit_ref);
  return alias;
}

mc_code un_local_read(un_unit *u, const char *ref, st_local_case **out, mc_err *err) {
  st_txn *t = NULL;
  mc_code rc = st_outbox_read_begin(u->ob, &t, err);
  if (rc == MC_OK)
    rc = st_ob_local_get(t, ref, out, err);
  st_read_end(t);
  return rc;
}

/* The pending outbox entries that act on the case named id or alias (an
 * intake pending under alias when the router has no record yet), in order.
 * *out: new array; st_messages_free. */
static mc_code pending_for(st_txn *txn, const char *id, const char *alias, bool intake_too,
                           st_outbox_entry ***out, size_t *n_out, mc_err *err) {
  st_outbox_entry **mine = NULL;
  size_t n = 0, cap = 0;
  uint64_t after = 0;
  mc_code rc = MC_OK;
  for (;;) {
    st_outbox_entry **page = NULL;
    size_t got = 0;
    if ((rc = st_ob_list(txn, after, LIST_PAGE, &page, &got, err)) != MC_OK)
      break;
    for (size_t i = 0; i < got; i++) {
      st_outbox_entry *e = page[i];
      after = e->seq;
      const mv_action *a = e->action;
      bool match = false;
      if (a != NULL && a->kind == MV_ACTION(TAKE_IN)) {
        char *colon = alias ? strchr(alias, ':') : NULL;
        match = intake_too && colon != NULL && a->intake != NULL &&
                str_eq(a->intake->unit_ref, colon + 1);
      } else if (a != NULL) {
        match = (id != NULL && id[0] != '\0' && str_eq(a->case_ref, id)) ||
                (alias != NULL && str_eq(a->case_ref, alias));
      }
      if (!match)
        continue;
      if (n == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        st_outbox_entry **grown = realloc(mine, ncap * sizeof(*grown));
        if (grown == NULL) {
          rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
          break;
        }
        mine = grown;
        cap = ncap;
      }
      mine[n++] = e;
      page[i] = NULL;
    }
    for (size_t i = 0; i < got; i++) {
      if (page[i] != NULL)
        protobuf_c_message_free_unpacked(&page[i]->base, NULL);
    }
    free(page);
    if (rc != MC_OK || got < LIST_PAGE)
      break;
  }
  if (rc != MC_OK) {
    st_messages_free(mine, n);
    return rc;
  }
  *out = mine;
  *n_out = n;
  return MC_OK;
}

/* Applies one queued entry to *view (NULL before its intake) the way the
 * router will, replacing *view. A step that does not apply (the router
 * will refuse it too) is left out of the view. */
static void replay(un_unit *u, mv_case **view, const char *alias, const st_outbox_entry *e) {
  mv_action a = *e->action;
  const mv_case *cur = *view;
  mv_case named;
  if (a.kind == MV_ACTION(TAKE_IN))
    a.case_ref = (char *)(alias ? alias : "");
  if (cur != NULL && (cur->id == NULL || cur->id[0] == '\0')) {
    named = *cur;
    named.id = (char *)(alias ? alias : "");
    cur = &named;
  }
  mv_actor actor;
  un_actor(u, a.person, &actor);
  mc_step step = {
      .current = cur,
      .action = &a,
      .actor = &actor,
      .now_ms = e->queued_ms,
      .request_id = e->request_id,
  };
  mv_case *next = NULL;
  mv_event *ev = NULL;
  mc_err why;
  if (mc_apply(u->reg, &step, &next, &ev, &why) != MC_OK) {
    mc_log(MC_LOG_DEBUG, cur && cur->id ? cur->id : alias,
           "queued %s (outbox %llu) does not apply locally: %s",
           mc_name_of(mc_action_names, a.kind), (unsigned long long)e->seq, why.msg);
    return;
  }
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  if (*view != NULL)
    protobuf_c_message_free_unpacked(&(*view)->base, NULL);
  *view = next;
}

mc_code un_local_refresh(un_unit *u, st_txn *txn, const mv_case *base, const char *ref,
                         const mv_event *handoff, int64_t now_ms, mc_err *err) {
  st_local_case *old = NULL;
  char *alias = NULL;
  mc_code rc = MC_OK;
  mc_err miss;
  if (base != NULL) {
    if (base->id == NULL || !mc_case_id_parse(base->id, NULL, NULL))
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("a record of the router without a case id"));
    alias = un_case_alias(u, base);
    rc = st_ob_local_get(txn, base->id, &old, &miss);
    if (rc == MC_NOT_FOUND && alias != NULL)
      rc = st_ob_local_get(txn, alias, &old, &miss);
  } else {
    rc = st_ob_local_get(txn, ref, &old, &miss);
    if (rc == MC_NOT_FOUND)
      return MC_OK; /* nothing kept, nothing to refresh */
  }
  if (rc != MC_OK && rc != MC_NOT_FOUND) {
    free(alias);
    *err = miss;
    return rc;
  }

  /* The router's record to build on: the newer of the two. */
  const mv_case *synced = base;
  bool fresh = base != NULL;
  if (old != NULL && old->synced_record != NULL &&
      (base == NULL || old->synced_record->event_count > base->event_count)) {
    synced = old->synced_record;
    fresh = false;
  }
  if (alias == NULL)
    alias = un_case_alias(u, synced != NULL ? synced : old->case_record);
  const char *id = synced != NULL ? synced->id : NULL;

  st_outbox_entry **pending = NULL;
  size_t n_pending = 0;
  rc = pending_for(txn, id, alias, synced == NULL, &pending, &n_pending, err);
  mv_case *view = NULL;
  if (rc == MC_OK && synced != NULL)
    rc = mc_pb_clone(&synced->base, (ProtobufCMessage **)&view, err);
  for (size_t i = 0; rc == MC_OK && i < n_pending; i++)
    replay(u, &view, alias, pending[i]);

  if (rc == MC_OK && view == NULL) {
    /* Never confirmed by the router and no intake pending any more (it was
     * refused): there is no case to keep. */
    if (old != NULL)
      rc = st_ob_local_delete(txn, alias != NULL ? alias : ref, NULL, err);
  } else if (rc == MC_OK) {
    mv_case stored = *view;
    if (stored.id == NULL || !mc_case_id_parse(stored.id, NULL, NULL))
      stored.id = (char *)"";
    st_local_case lc = MEDIATION__V1__LOCAL_CASE__INIT;
    lc.case_record = &stored;
    lc.synced_record = (mv_case *)synced;
    lc.synced_ms = fresh ? now_ms : old != NULL ? old->synced_ms : 0;
    lc.queued_steps = (uint32_t)n_pending;
    lc.stale = n_pending > 0 || synced == NULL;
    lc.last_handoff = (mv_event *)(handoff != NULL ? handoff
                                   : old != NULL   ? old->last_handoff
                                                   : NULL);
    rc = st_ob_local_put(txn, &lc, err);
  }
  if (view != NULL)
    protobuf_c_message_free_unpacked(&view->base, NULL);
  st_messages_free(pending, n_pending);
  if (old != NULL)
    protobuf_c_message_free_unpacked(&old->base, NULL);
  free(alias);
  return rc;
}

typedef struct load_scan {
  const un_unit *u;
  uint32_t *loads;
} load_scan;

static bool count_load(void *arg, const st_local_case *lc) {
  load_scan *ls = arg;
  const mv_case *c = lc->case_record;
  if (!un_holds(ls->u, c) || mc_state_is_final(c->state))
    return true;
  const mc_unit *self = ls->u->self;
  for (size_t t = 0; t < c->n_team; t++) {
    const mv_member *m = c->team[t];
    if (m->released_ms != 0 || !str_eq(m->unit, self->id))
      continue;
    for (size_t i = 0; i < self->n_roster; i++) {
      if (str_eq(self->roster[i].person, m->person))
        ls->loads[i]++;
    }
  }
  return true;
}

mc_code un_team_load(un_unit *u, st_txn *txn, uint32_t *loads, mc_err *err) {
  memset(loads, 0, u->self->n_roster * sizeof(*loads));
  load_scan ls = {.u = u, .loads = loads};
  return st_ob_local_scan(txn, count_load, &ls, err);
}
