/*
 * community.c - a community workstation's policy (社区工作站): its pool of
 * local family mediators, and the way up to the marriage studio.
 *
 * The idea: a station mediates what it can with its own pool (社区婚调人才库,
 * the [unit] member lines), assigning the member with the fewest cases on
 * hand whenever a case becomes its own (taken in, or accepted from another
 * unit); what needs a lawyer it cannot give goes up to the marriage studio
 * at once (the intake's needs_lawyer), and a TRANSFER without a target goes
 * up too. It records outcomes and the parties' satisfaction at the
 * follow-up visit, which is scheduled with an agreement ([policy]
 * followup_days), the same rule as the marriage studio's.
 */
#include "services/community/community.h"

#include <stdio.h>

#include "core/i18n.h"

static mc_code community_complete(un_ctx *ctx, const mv_case *current, un_step *step,
                                  mc_err *err) {
  (void)current;
  const mv_action *a = un_step_action(step);
  if (a->kind == MV_ACTION(RECORD_OUTCOME)) {
    un_schedule_followup(ctx, step);
    return MC_OK;
  }
  if (a->kind != MV_ACTION(TRANSFER) ||
      (a->args_case == MV_ARGS(TO_UNIT) && a->to_unit != NULL && a->to_unit[0] != '\0'))
    return MC_OK;
  const mc_unit *up = mc_registry_first_of_kind(un_ctx_registry(ctx), MC_UNIT_MARRIAGE);
  if (up == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.to_unit: required; no marriage studio is configured");
  return un_step_set_to_unit(step, up->id, err);
}

static mc_code community_follow(un_ctx *ctx, const mv_action *done, const mv_case *after,
                                un_plan *plan, mc_err *err) {
  if ((done->kind != MV_ACTION(TAKE_IN) && done->kind != MV_ACTION(ACCEPT)) ||
      after->intake == NULL)
    return MC_OK;
  const mc_unit *self = un_ctx_unit(ctx);
  if (done->kind == MV_ACTION(TAKE_IN) && after->intake->needs_lawyer) {
    const mc_unit *up = mc_registry_first_of_kind(un_ctx_registry(ctx), MC_UNIT_MARRIAGE);
    if (up == NULL)
      return mc_err_set(err, MC_NOT_FOUND, "no marriage studio is configured to send it up to");
    char reason[256];
    snprintf(reason, sizeof(reason), "需要律师参与，上转%s", up->name);
    return un_plan_transfer(plan, up->id, reason, err);
  }
  if (un_case_has_member(after, self->id, MV_ROLE(MEDIATOR)))
    return MC_OK;
  const char *person;
  mc_code rc = un_pick_by_load(ctx, MV_ROLE(MEDIATOR), &person, err);
  if (rc == MC_OK)
    rc = un_plan_assign(plan, MV_ROLE(MEDIATOR), person, err);
  return rc;
}

const un_policy community_policy = {
    .program = "community-station",
    .about = N_(
        "A community workstation (社区工作站), one process per community: assigns\n"
        "its local family mediators by load, records outcomes and satisfaction,\n"
        "and sends cases that need a lawyer up to the marriage studio.\n"),
    .kind = MC_UNIT_COMMUNITY,
    .ref_prefix = "CS",
    .complete = community_complete,
    .follow = community_follow,
};
