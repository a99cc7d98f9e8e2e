/*
 * view.c - what a caller may see of a case.
 *
 * The decisions themselves are core/access.c's (pure, tested there); this
 * file maps the router's principals onto them and applies them to the
 * messages the router sends out. Masking works in place on owned messages:
 * the stored record itself is never masked, only what leaves the router.
 */
#include <stdlib.h>

#include "core/access.h"
#include "router/internal.h"

void rt_actor_of(const mc_principal *p, const char *person, mv_actor *out) {
  mediation__v1__actor__init(out);
  out->kind = p->kind == MC_PRINCIPAL_COORDINATOR ? MV_PRINCIPAL(COORDINATOR) : MV_PRINCIPAL(UNIT);
  out->id = p->id;
  out->person = (char *)(person ? person : "");
}

bool rt_may_read(const rt_router *rt, const mv_case *c, const mc_principal *who) {
  mv_actor actor;
  rt_actor_of(who, NULL, &actor);
  return mc_may_read(rt->reg, c, &actor);
}

bool rt_reads_every_case(const mc_principal *who) {
  mv_actor actor;
  rt_actor_of(who, NULL, &actor);
  return mc_reads_every_case(&actor);
}

bool rt_sees_personal_data(const mv_case *c, const mc_principal *who) {
  mv_actor actor;
  rt_actor_of(who, NULL, &actor);
  return mc_sees_personal_data(c, &actor);
}

void rt_summary_of(const mv_case *c, int64_t now_ms, Mediation__V1__CaseSummary *s) {
  mediation__v1__case_summary__init(s);
  s->id = c->id;
  s->state = c->state;
  s->holder = c->holder;
  if (c->transfer != NULL)
    s->offered_to = c->transfer->to_unit;
  if (c->intake != NULL) {
    s->kind = c->intake->kind;
    s->community = c->intake->community;
    s->difficulty = c->intake->difficulty;
    s->money_fen = c->intake->money_fen;
    s->unit_ref = c->intake->unit_ref;
  }
  if (c->intake != NULL) {
    s->repeat_of = c->intake->repeat_of;
    s->n_repeat_of = c->intake->n_repeat_of;
  }
  s->created_ms = c->created_ms;
  s->state_entered_ms = c->state_entered_ms;
  s->deadline_ms = c->deadline_ms;
  s->overdue = c->deadline_ms != 0 && now_ms > c->deadline_ms;
}

mc_code rt_visible_repeats_in(const rt_router *rt, st_txn *txn, mv_intake *in,
                              const mc_principal *caller, mc_err *err) {
  if (in == NULL || in->n_repeat_of == 0)
    return MC_OK;
  size_t kept = 0;
  for (size_t i = 0; i < in->n_repeat_of; i++) {
    char *id = in->repeat_of[i];
    mv_case *earlier = NULL;
    mc_code rc = st_case_get(txn, id, &earlier, err);
    if (rc != MC_OK && rc != MC_NOT_FOUND)
      return rc;
    bool visible = rc == MC_OK && rt_may_read(rt, earlier, caller);
    if (earlier != NULL)
      protobuf_c_message_free_unpacked(&earlier->base, NULL);
    if (visible)
      in->repeat_of[kept++] = id;
    else
      free(id); /* unpacked with the default allocator */
  }
  in->n_repeat_of = kept;
  return MC_OK;
}

mc_code rt_visible_repeats(const rt_router *rt, st_txn *txn, mv_case *c,
                           const mc_principal *caller, mc_err *err) {
  return rt_visible_repeats_in(rt, txn, c->intake, caller, err);
}

void rt_search_hit_of(const mv_case *c, int64_t now_ms, Mediation__V1__SearchHit *h) {
  Mediation__V1__CaseSummary s;
  rt_summary_of(c, now_ms, &s);
  mediation__v1__search_hit__init(h);
  h->id = s.id;
  h->state = s.state;
  h->holder = s.holder;
  h->offered_to = s.offered_to;
  h->kind = s.kind;
  h->community = s.community;
  h->difficulty = s.difficulty;
  h->created_ms = s.created_ms;
  h->deadline_ms = s.deadline_ms;
  h->overdue = s.overdue;
  h->unit_ref = s.unit_ref;
  h->repeat_of = s.repeat_of;
  h->n_repeat_of = s.n_repeat_of;
}
