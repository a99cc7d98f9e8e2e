/*
 * actions.h - what each action of a case is: the one list of actions, and
 * the definition of each (what it carries, what it checks, what it does to
 * the record).
 *
 * The idea: one row per action. MC_ACTIONS lists every action once, in wire
 * order, with its short name and Chinese label; names.c (mc_action_names)
 * and the action table in effects.c are expanded from it, so a name cannot
 * go missing from one of them. Each row names the action's definition, an
 * ops table in nng's manner: the oneof member the action carries, whether
 * it needs a reason, the handoff it makes, and its .check and .effect
 * functions, which the state machine (machine.c) calls at their place in a
 * step. Which states and actors an action is allowed for is not here: that
 * is the transition table's alone (machine.h).
 *
 * Adding an action takes its ActionKind (proto/mediation/v1/case.proto), a
 * line in MC_ACTIONS, its definition and functions in effects.c, and the
 * transition rows that allow it. The names, the docs
 * (docs/state-machine.md), the shape check and mediactl's required --reason
 * follow from those; a mediactl command for it is an entry in
 * services/coordinator/commands.c.
 */
#ifndef MC_ACTIONS_H
#define MC_ACTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "mv1.h"

/* X(kind without MV_ACTION, short name, Chinese label, definition in effects.c) */
#define MC_ACTIONS(X)                                                                          \
  X(TAKE_IN, "take_in", "受理", take_in_action)                                                \
  X(TRANSFER, "transfer", "流转", transfer_action)                                             \
  X(ACCEPT, "accept", "接收", accept_action)                                                   \
  X(REFUSE, "refuse", "退回", refuse_action)                                                   \
  X(RECALL, "recall", "撤回流转", recall_action)                                               \
  X(START_MEDIATION, "start_mediation", "开始调处", start_mediation_action)                    \
  X(ASSIGN, "assign", "指派", assign_action)                                                   \
  X(RELEASE, "release", "解除指派", release_action)                                            \
  X(RECORD_SESSION, "record_session", "调解记录", record_session_action)                       \
  X(RECORD_OUTCOME, "record_outcome", "调解结果", record_outcome_action)                       \
  X(SEND_TO_LITIGATION, "send_to_litigation", "转诉讼", send_to_litigation_action)             \
  X(RECORD_COURT_RESULT, "record_court_result", "法院结果", record_court_result_action)        \
  X(RECORD_FEEDBACK, "record_feedback", "回访反馈", record_feedback_action)                    \
  X(CLOSE, "close", "结案", close_action)                                                      \
  X(REOPEN, "reopen", "重新调处", reopen_action)                                               \
  X(WITHDRAW, "withdraw", "撤回", withdraw_action)                                             \
  X(GRANT_LEGAL_AID, "grant_legal_aid", "法律援助", grant_legal_aid_action)                    \
  X(RECORD_RECEIPT, "record_receipt", "签收", record_receipt_action)

/* The step as the state machine runs it, and the record it builds: core's
 * own (core/step.h); only machine.c calls the functions below. */
struct mc_step_ctx;
struct mc_build;

/* One action's definition. The functions are called only for steps the
 * transition table allows, with the action's oneof member present. */
typedef struct mc_action_def {
  /* The oneof member of CaseAction the action carries (NOT_SET: none). */
  Mediation__V1__CaseAction__ArgsCase args;
  /* A reason that is not blank is required (action.reason). */
  bool reason_required;

  /* Handoffs. The applied step names a unit in action.to_unit (the
   * transfer's target, or what names_other_unit says) and the delivery that
   * unit is sent (0: none); delivery_to says who that is, for the docs. */
  Mediation__V1__DeliveryKind delivery;
  const char *delivery_to;
  /* Clients send it without arguments; the router names the other unit of
   * the handoff in to_unit (the effect does), so the case file says which
   * offer was answered. */
  bool names_other_unit;
  /* The above hold only when the step is taken in TRANSFER (a withdrawal
   * ends the pending offer too, any other one is no handoff). */
  bool handoff_only_in_transfer;

  /* Its own fields, checked after those every action has (person, case_ref,
   * reason): INVALID_ARGUMENT and a message naming the field. NULL: none. */
  mc_code (*check)(const struct mc_step_ctx *x, mc_err *err);
  /* Room in the case file for what it adds, beyond one more event
   * (RESOURCE_EXHAUSTED). NULL: nothing more. */
  mc_code (*room)(const struct mc_step_ctx *x, mc_err *err);
  /* The deadline it sets itself for the state it enters, or 0 for that
   * state's configured limit. NULL: always 0. */
  int64_t (*deadline)(const struct mc_step_ctx *x);
  /* What it does to the record and to the action as applied (required).
   * UNAVAILABLE only, for out of memory. */
  mc_code (*effect)(const struct mc_step_ctx *x, struct mc_build *b, mc_err *err);
} mc_action_def;

/* The definition of kind, or NULL if it is not a known action. */
const mc_action_def *mc_action_def_of(mv_action_kind kind);

#endif /* MC_ACTIONS_H */
