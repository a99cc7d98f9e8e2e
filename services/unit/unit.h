/*
 * unit.h - the unit runtime: what every unit daemon (police-studio,
 * marriage-studio, community-station) is made of, and the small interface a
 * unit's policy plugs into.
 *
 * A unit daemon serves its operators (service Desk, proto/mediation/v1/
 * desk.proto) and forwards every step they take to the router through a
 * durable local outbox (storage/outbox.h), in order, exactly once; it pulls
 * the handoffs the router delivers to it and signs a receipt for each. What
 * differs between units is only their policy: what the unit does by itself
 * after an operator's step (the police studio refers family disputes to the
 * marriage studio, the marriage studio assigns its team...). A policy is a
 * table of two functions (un_policy); each program's main.c is one call:
 *
 *     int main(int argc, char **argv) { return un_main(argc, argv, &police_policy); }
 *
 * Policies read their rules from the registry ([policy], [unit] member
 * lines): rules are configuration, not code.
 */
#ifndef UN_UNIT_H
#define UN_UNIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/registry.h"
#include "core/status.h"
#include "mv1.h"

/* What a policy sees while the unit plans an operator's step: the
 * registry, the unit itself, the time, and the unit's team load. Valid only
 * during the policy call. */
typedef struct un_ctx un_ctx;

/* One step being planned: the operator's, or one the policy adds. */
typedef struct un_step un_step;

/* The steps planned for one operator request, in order. */
typedef struct un_plan un_plan;

typedef struct un_policy {
  const char *program;    /* "police-studio": the program, Health's server name */
  const char *about;      /* what the unit does, for --help (ends with a newline) */
  mc_unit_kind kind;      /* the kind of unit the program serves */
  const char *ref_prefix; /* prefix of the unit's own case references: "PS" -> PS-2026-0007 */

  /* Fills in what the operator left to the unit, before the step is checked
   * (the target of a TRANSFER without to_unit, the follow-up date of an
   * agreement...), through the un_step_* setters. current is the case as the
   * unit knows it. A refusal refuses the operator's step (nothing is
   * queued); its message goes to the operator. May be NULL. */
  mc_code (*complete)(un_ctx *ctx, const mv_case *current, un_step *step, mc_err *err);

  /* After the operator's step passed the state machine: the steps the unit
   * takes at once (refer, assign...), added with un_plan_transfer and
   * un_plan_assign. done is the operator's step as it will be sent; after
   * the case as it will be once it (and the steps added so far) are
   * applied. Not called for an intake the operator referred explicitly
   * (DeskTakeInRequest.refer_to). A refusal is logged and the operator's
   * step goes ahead alone. May be NULL. */
  mc_code (*follow)(un_ctx *ctx, const mv_action *done, const mv_case *after, un_plan *plan,
                    mc_err *err);
} un_policy;

/* Runs a unit daemon: flags (--config, --unit, --log-level, --help,
 * --version), configuration, signals, readiness, serving until SIGTERM or
 * SIGINT, clean stop. Returns the process exit status (0; 1 if it could
 * not start; 2 for a usage error). */
int un_main(int argc, char **argv, const un_policy *policy);

/* ---- For policies ------------------------------------------------------------ */

const mc_registry *un_ctx_registry(const un_ctx *ctx);
const mc_unit *un_ctx_unit(const un_ctx *ctx);

/* The roster member of role with the fewest active assignments on the
 * cases this unit holds (ties: the first in roster order), counting the
 * assignments already planned in this request. *person points into the
 * registry. NOT_FOUND (with a message naming the config lines to add) if
 * the roster has nobody in that role. */
mc_code un_pick_by_load(un_ctx *ctx, Mediation__V1__TeamRole role, const char **person,
                        mc_err *err);

/* True if a member of unit in role is on the case (not released). */
bool un_case_has_member(const mv_case *c, const char *unit, Mediation__V1__TeamRole role);

/* True if kind is in a [policy] kinds mask (mc_policy's bit k = kind k). */
bool un_kind_in(uint32_t mask, mv_kind kind);

/* The step's action as it will be sent to the router (case_ref, person and
 * reason set; ACCEPT, REFUSE and RECALL without arguments). */
const mv_action *un_step_action(const un_step *step);

/* Makes a TRANSFER go to unit (the operator left to_unit empty). */
mc_code un_step_set_to_unit(un_step *step, const char *unit, mc_err *err);

/* Sets a RECORD_OUTCOME's follow-up visit date (Outcome.followup_due_ms). */
void un_step_set_followup(un_step *step, int64_t due_ms);

/* Adds a step to the plan: a transfer to `to_unit` with reason, or an
 * assignment of person in role. The step acts on the plan's case, by the
 * operator's person. RESOURCE_EXHAUSTED if the plan is full. */
mc_code un_plan_transfer(un_plan *plan, const char *to_unit, const char *reason, mc_err *err);
mc_code un_plan_assign(un_plan *plan, Mediation__V1__TeamRole role, const char *person,
                       mc_err *err);

/* The shared rule of [policy] followup_days: an agreement recorded without
 * a follow-up date gets one, followup_after_ms from now. For complete(). */
void un_schedule_followup(un_ctx *ctx, un_step *step);

#endif /* UN_UNIT_H */
