/*
 * view.c - what a caller may see of a case.
 *
 * The decisions themselves are core/access.c's (pure, tested there); this
 * file maps the router's principals onto them and applies them to the
 * messages the router sends out. Masking works in place on owned messages:
 * the stored record itself is never masked, only what leaves the router.
 */
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
  s->created_ms = c->created_ms;
  s->state_entered_ms = c->state_entered_ms;
  s->deadline_ms = c->deadline_ms;
  s->overdue = c->deadline_ms != 0 && now_ms > c->deadline_ms;
}
