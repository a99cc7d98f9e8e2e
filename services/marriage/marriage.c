/*
 * marriage.c - the marriage studio's policy (宋大姐调解工作室): its team,
 * its delegations, its follow-up visits.
 *
 * The idea: the studio's work starts the moment it owns a case - taking it
 * in, or accepting it from another unit - and so does its team: always a
 * people's mediator; a psychological counsellor for the kinds in [policy]
 * counsellor_kinds; a lawyer for [policy] lawyer_kinds, when the taking unit
 * judged a lawyer needed, when legal aid is granted, or when the money
 * involved is above lawyer_above_yuan. Each role goes to the member of the
 * roster ([unit] member lines) with the fewest cases on hand, so the work
 * spreads. A role already filled by the studio on the case is not filled
 * twice; legal aid granted later brings a lawyer too. A TRANSFER without a
 * target delegates to the workstation of the parties' community (纵向联社区);
 * an agreement gets its follow-up visit (回访) scheduled ([policy]
 * followup_days). Sending to the shared court is
 * the operator's step, when a party asks.
 */
#include "services/marriage/marriage.h"

#include "core/i18n.h"

static mc_code marriage_complete(un_ctx *ctx, const mv_case *current, un_step *step,
                                 mc_err *err) {
  const mv_action *a = un_step_action(step);
  if (a->kind == MV_ACTION(RECORD_OUTCOME)) {
    un_schedule_followup(ctx, step);
    return MC_OK;
  }
  if (a->kind != MV_ACTION(TRANSFER) ||
      (a->args_case == MV_ARGS(TO_UNIT) && a->to_unit != NULL && a->to_unit[0] != '\0'))
    return MC_OK;
  const char *community = current && current->intake ? current->intake->community : "";
  const mc_unit *station = mc_registry_station(un_ctx_registry(ctx), community);
  if (station == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.to_unit: required; community %s has no workstation "
                      "([community] station)",
                      community);
  return un_step_set_to_unit(step, station->id, err);
}

/* Adds one member of role unless the studio already has one on the case. */
static mc_code staff(un_ctx *ctx, const mv_case *c, Mediation__V1__TeamRole role,
                     un_plan *plan, mc_err *err) {
  if (un_case_has_member(c, un_ctx_unit(ctx)->id, role))
    return MC_OK;
  const char *person;
  mc_code rc = un_pick_by_load(ctx, role, &person, err);
  if (rc == MC_OK)
    rc = un_plan_assign(plan, role, person, err);
  return rc;
}

static mc_code marriage_follow(un_ctx *ctx, const mv_action *done, const mv_case *after,
                               un_plan *plan, mc_err *err) {
  if (done->kind == MV_ACTION(GRANT_LEGAL_AID))
    return staff(ctx, after, MV_ROLE(LAWYER), plan, err); /* legal aid brings a lawyer */
  if ((done->kind != MV_ACTION(TAKE_IN) && done->kind != MV_ACTION(ACCEPT)) ||
      after->intake == NULL)
    return MC_OK;
  const mc_policy *pol = &un_ctx_registry(ctx)->policy;
  const mv_intake *in = after->intake;
  bool counsellor = un_kind_in(pol->counsellor_kinds, in->kind);
  bool lawyer = un_kind_in(pol->lawyer_kinds, in->kind) || in->needs_lawyer ||
                after->legal_aid || in->money_fen > pol->lawyer_above_fen;
  mc_code rc = staff(ctx, after, MV_ROLE(MEDIATOR), plan, err);
  if (rc == MC_OK && counsellor)
    rc = staff(ctx, after, MV_ROLE(COUNSELLOR), plan, err);
  if (rc == MC_OK && lawyer)
    rc = staff(ctx, after, MV_ROLE(LAWYER), plan, err);
  return rc;
}

const un_policy marriage_policy = {
    .program = "marriage-studio",
    .about = N_(
        "The marriage mediation studio (宋大姐调解工作室): assigns its team by need\n"
        "and load (mediators, counsellors, lawyers), delegates follow-up to the\n"
        "parties' community workstation, schedules the follow-up visit (回访).\n"),
    .kind = MC_UNIT_MARRIAGE,
    .ref_prefix = "MS",
    .complete = marriage_complete,
    .follow = marriage_follow,
};
