/*
 * police.c - the police studio's policy (大石头调解工作室): classify each
 * dispute as it is taken in, and refer it on at once.
 *
 * The idea, from the subdistrict's practice: public-order disputes that
 * start from relationship quarrels or family trivia, and the family kinds,
 * go to the marriage studio at once for root-cause mediation (溯源调解);
 * neighbour disputes go to the workstation of the parties' community; the
 * rest stay with the studio. Which kinds go where is configuration
 * ([policy] refer_marriage, refer_community), not code. An operator may
 * name another unit when taking the case in (DeskTakeInRequest.refer_to),
 * and a TRANSFER the operator sends without a target goes where the rules
 * say.
 */
#include "services/police/police.h"

#include <stdio.h>

#include "core/i18n.h"
#include "core/names.h"

/* Where the rules send a case of this kind and community, or NULL (kept). */
static const mc_unit *referral(un_ctx *ctx, const mv_case *c, bool *to_marriage) {
  const mc_registry *reg = un_ctx_registry(ctx);
  if (c == NULL || c->intake == NULL)
    return NULL;
  mv_kind kind = c->intake->kind;
  if (un_kind_in(reg->policy.refer_marriage, kind)) {
    *to_marriage = true;
    return mc_registry_first_of_kind(reg, MC_UNIT_MARRIAGE);
  }
  if (un_kind_in(reg->policy.refer_community, kind)) {
    *to_marriage = false;
    return mc_registry_station(reg, c->intake->community);
  }
  return NULL;
}

static mc_code police_complete(un_ctx *ctx, const mv_case *current, un_step *step,
                               mc_err *err) {
  const mv_action *a = un_step_action(step);
  if (a->kind != MV_ACTION(TRANSFER) ||
      (a->args_case == MV_ARGS(TO_UNIT) && a->to_unit != NULL && a->to_unit[0] != '\0'))
    return MC_OK;
  bool to_marriage;
  const mc_unit *to = referral(ctx, current, &to_marriage);
  if (to == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.to_unit: required; the police studio keeps %s disputes "
                      "([policy] refer_marriage, refer_community)",
                      current && current->intake
                          ? mc_name_of(mc_kind_names, current->intake->kind)
                          : "these");
  return un_step_set_to_unit(step, to->id, err);
}

static mc_code police_follow(un_ctx *ctx, const mv_action *done, const mv_case *after,
                             un_plan *plan, mc_err *err) {
  if (done->kind != MV_ACTION(TAKE_IN))
    return MC_OK;
  bool to_marriage = false;
  const mc_unit *to = referral(ctx, after, &to_marriage);
  if (to == NULL)
    return MC_OK; /* the studio keeps it */
  char reason[256];
  const char *kind = mc_label_of(mc_kind_names, after->intake->kind);
  if (to_marriage)
    snprintf(reason, sizeof(reason), "溯源调解：家庭类纠纷（%s）转%s", kind, to->name);
  else
    snprintf(reason, sizeof(reason), "%s转%s", kind, to->name);
  return un_plan_transfer(plan, to->id, reason, err);
}

const un_policy police_policy = {
    .program = "police-studio",
    .about = N_(
        "The police mediation studio (大石头调解工作室): classifies each dispute it takes\n"
        "in and refers family disputes at once to the marriage studio (溯源调解),\n"
        "neighbour disputes to the parties' community workstation ([policy]).\n"),
    .kind = MC_UNIT_POLICE,
    .ref_prefix = "PS",
    .complete = police_complete,
    .follow = police_follow,
};
