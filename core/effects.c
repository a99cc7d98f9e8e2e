/*
 * effects.c - what each action does: its field checks and its effect on the
 * case record, and the action table that registers them (actions.h).
 *
 * The idea: an action is one definition and a few functions, found here
 * together. The state machine (machine.c) asks the questions every step
 * shares - shape, state, actor, the common fields, guards, limits - and
 * calls the action's .check, .room, .deadline and .effect at their place;
 * an action never decides which states or actors it is allowed for.
 *
 * An effect builds on the borrowed record machine.c prepared (b->next is the
 * current case, b->act the action with case_ref set): it points at strings
 * and sub-messages of the current case and the action, copying what it
 * takes from the action field by field (FORGET_UNKNOWN), and allocates only
 * the arrays of b. machine.c then sets the state, times and event, and packs
 * the result into owned messages.
 *
 * Choices the domain left open, made here:
 *   - the applied ACCEPT, REFUSE, RECALL and WITHDRAW-from-TRANSFER name, in
 *     action.to_unit, the unit on the other side of the handoff: the one the
 *     step's delivery goes to (the sender for ACCEPT and REFUSE, the offered
 *     unit for RECALL and WITHDRAW). Clients send these actions without
 *     arguments; the router fills the unit in, so the case file says which
 *     offer was answered and mc_deliveries_for needs only the event;
 *   - SEND_TO_LITIGATION from MEDIATION records NO_AGREEMENT (this round of
 *     mediation failed);
 *   - REOPEN starts a new round: the feedback and the court result of the
 *     round that ended are cleared (they stay in the case file), so a
 *     reopened case is closed again only after a new follow-up visit; the
 *     outcome stays until a new one replaces it;
 *   - a resolution (事实化解 / 实体化解) may be recorded only for a petition
 *     case (Intake.petition), and workers only for a labour dispute;
 *   - a TAKE_IN may name its case "<unit>:<intake.unit_ref>" instead of an
 *     allocated id when the acting unit checks its own intake before the
 *     router has it (a unit's outbox validates offline work with this same
 *     table): the record is provisional, its id that alias.
 */
#include "core/i18n.h"
#include "core/effects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/identity.h"
#include "core/ids.h"
#include "core/names.h"
#include "core/step.h"
#include "core/text.h"

#define ED25519_SIGNATURE_BYTES 64

long mc_team_find_active(const mv_case *c, const char *person, Mediation__V1__TeamRole role) {
  for (size_t i = 0; i < c->n_team; i++) {
    const mv_member *m = c->team[i];
    if (m->released_ms == 0 && m->role == role && mc_str_eq(m->person, person))
      return (long)i;
  }
  return -1;
}

/* Copies an array of pointers with room for one more. */
static void *grow_copy(void *const *items, size_t n) {
  void **out = malloc((n + 1) * sizeof(void *));
  if (out != NULL && n > 0)
    memcpy(out, items, n * sizeof(void *));
  return out;
}

/* ---- field checks ---- */

static bool known(const mc_name *table, int value) {
  for (const mc_name *n = table; n->name != NULL; n++) {
    if (n->value == value)
      return true;
  }
  return false;
}

static mc_code required_enum(const mc_name *names, int value, const char *field, mc_err *err) {
  if (value == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: required"), field);
  if (!known(names, value))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: not a known value (%d)"), field, value);
  return MC_OK;
}

static mc_code money(int64_t v, const mc_limits *lim, const char *field, mc_err *err) {
  if (v < 0 || v > lim->max_money_fen)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: must be 0 to %lld fen"), field,
                      (long long)lim->max_money_fen);
  return MC_OK;
}

static mc_code required_text(const char *s, size_t max, const char *field, mc_err *err) {
  TRY(mc_text_check(s, max, field, err));
  if (mc_str_blank(s))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: required"), field);
  return MC_OK;
}

static mc_code check_party(const mc_limits *lim, const mv_party *p, size_t i, mc_err *err) {
  char field[64];
  if (p == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.intake.parties[%zu]: missing"), i);
  snprintf(field, sizeof(field), "action.intake.parties[%zu].name", i);
  TRY(required_text(p->name, lim->max_name_bytes, field, err));
  snprintf(field, sizeof(field), "action.intake.parties[%zu].role", i);
  TRY(required_enum(mc_party_role_names, p->role, field, err));
  snprintf(field, sizeof(field), "action.intake.parties[%zu]", i);
  TRY(mc_party_identity_check(p, field, err));
  return MC_OK;
}

static mc_code check_intake(const mc_registry *reg, const mv_intake *in, mc_err *err) {
  const mc_limits *lim = &reg->limits;
  TRY(required_enum(mc_kind_names, in->kind, "action.intake.kind", err));
  TRY(required_enum(mc_difficulty_names, in->difficulty, "action.intake.difficulty", err));
  TRY(required_enum(mc_source_names, in->source, "action.intake.source", err));
  TRY(required_text(in->community, lim->max_name_bytes, "action.intake.community", err));
  const mc_community *com = mc_registry_community(reg, in->community);
  if (com == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.intake.community: not a registered community"));
  TRY(mc_text_check(in->grid, lim->max_name_bytes, "action.intake.grid", err));
  if (!mc_str_empty(in->grid) && com->n_grids > 0) {
    bool listed = false;
    for (size_t i = 0; i < com->n_grids && !listed; i++)
      listed = strcmp(com->grids[i], in->grid) == 0;
    if (!listed)
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        _("action.intake.grid: not a grid of community %s"), com->id);
  }
  if (in->n_parties == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.intake.parties: at least one required"));
  if (in->n_parties > lim->max_parties)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.intake.parties: more than %zu"),
                      lim->max_parties);
  for (size_t i = 0; i < in->n_parties; i++)
    TRY(check_party(lim, in->parties[i], i, err));
  TRY(money(in->money_fen, lim, "action.intake.money_fen", err));
  TRY(mc_text_check(in->summary, lim->max_text_bytes, "action.intake.summary", err));
  if (!known(mc_petition_names, in->petition))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.intake.petition: not a known value (%d)"),
                      (int)in->petition);
  TRY(mc_text_check(in->unit_ref, lim->max_name_bytes, "action.intake.unit_ref", err));
  if (!mc_str_empty(in->unit_ref) && !mc_unit_ref_valid(in->unit_ref))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.intake.unit_ref: expected the unit's reference for the case, "
                        "%s (such as PS-2026-0007); never personal data"),
                      mc_unit_ref_rule());
  /* The router's links to earlier cases (再次纠纷): case ids only. */
  if (in->n_repeat_of > MC_REPEAT_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.intake.repeat_of: more than %d",
                      MC_REPEAT_MAX);
  for (size_t i = 0; i < in->n_repeat_of; i++)
    if (in->repeat_of[i] == NULL || !mc_case_id_parse(in->repeat_of[i], NULL, NULL))
      return mc_err_set(err, MC_INVALID_ARGUMENT, "action.intake.repeat_of[%zu]: not a case id",
                        i);
  if (in->workers > 0 && in->kind != MV_KIND(LABOUR))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.intake.workers: only for a labour dispute (劳资纠纷)"));
  return MC_OK;
}

/* A unit checking an intake of its own before the router has seen it (its
 * outbox forwards it later) names the case by the reference the router will
 * also accept: "<unit>:<intake.unit_ref>", the unit being the actor. The
 * router never applies one: it always allocates an id first. */
static bool is_provisional_ref(const char *case_ref, const mv_actor *actor,
                               const mv_intake *in) {
  if (mc_str_empty(case_ref) || actor->kind != MV_PRINCIPAL(UNIT) || mc_str_empty(actor->id) ||
      in == NULL || mc_str_empty(in->unit_ref))
    return false;
  size_t n = strlen(actor->id);
  return strncmp(case_ref, actor->id, n) == 0 && case_ref[n] == ':' &&
         strcmp(case_ref + n + 1, in->unit_ref) == 0;
}

static bool is_petition(const mv_case *c) {
  return c != NULL && c->intake != NULL && c->intake->petition != MV_PETITION(NONE);
}

/* ---- 受理 take_in ---- */

static mc_code take_in_check(const mc_step_ctx *x, mc_err *err) {
  const mv_action *a = x->act;
  size_t plen = strlen(x->reg->case_prefix);
  bool allocated = !mc_str_empty(a->case_ref) && mc_case_id_parse(a->case_ref, NULL, NULL) &&
                   strncmp(a->case_ref, x->reg->case_prefix, plen) == 0 &&
                   a->case_ref[plen] == '-';
  if (!allocated && !is_provisional_ref(a->case_ref, x->actor, a->intake))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.case_ref: take_in needs the case id the router allocated "
                      "(%s-<year>-<serial>), or, checked by the unit itself, its own "
                      "<unit>:<intake.unit_ref>"),
                      x->reg->case_prefix);
  return check_intake(x->reg, a->intake, err);
}

static mc_code take_in_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  const mv_intake *in = x->act->intake;
  b->intake = *in;
  FORGET_UNKNOWN(b->intake);
  size_t n = in->n_parties;
  b->party_copies = malloc((n + 1) * sizeof(mv_party));
  b->parties = malloc((n + 1) * sizeof(mv_party *));
  b->units = malloc(sizeof(char *));
  /* Names are kept without bidi controls (stripped, not refused: a name
   * pasted from a chat app often carries them), so a name cannot display
   * reversed in a list and search finds it as typed. */
  size_t name_bytes = 0;
  for (size_t i = 0; i < n; i++)
    name_bytes += strlen(in->parties[i]->name) + 1;
  b->name_buf = malloc(name_bytes + 1);
  if (b->party_copies == NULL || b->parties == NULL || b->units == NULL || b->name_buf == NULL)
    return mc_out_of_memory(err);
  char *names = b->name_buf;
  for (size_t i = 0; i < n; i++) {
    b->party_copies[i] = *in->parties[i];
    FORGET_UNKNOWN(b->party_copies[i]);
    b->party_copies[i].name = names;
    names += mc_strip_bidi_controls(in->parties[i]->name, names) + 1;
    b->parties[i] = &b->party_copies[i];
  }
  b->intake.parties = b->parties;
  b->act.intake = &b->intake;
  b->next.id = (char *)x->case_id;
  b->next.year = mc_date_of(x->now_ms, x->utc_offset_minutes).year;
  b->next.intake = &b->intake;
  b->next.holder = x->actor->id;
  b->units[0] = x->actor->id;
  b->next.units_involved = b->units;
  b->next.n_units_involved = 1;
  b->next.created_ms = x->now_ms;
  return MC_OK;
}

/* ---- 流转 transfer, and the answers to an offer ---- */

static mc_code transfer_check(const mc_step_ctx *x, mc_err *err) {
  const char *to = x->act->to_unit;
  TRY(required_text(to, x->reg->limits.max_name_bytes, "action.to_unit", err));
  if (mc_registry_unit(x->reg, to) == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.to_unit: not a registered unit"));
  return MC_OK;
}

static mc_code transfer_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  const mv_case *cur = x->cur;
  const char *to = x->act->to_unit;
  mediation__v1__pending_transfer__init(&b->transfer);
  b->transfer.from_unit = cur->holder;
  b->transfer.to_unit = (char *)to;
  b->transfer.reason = x->act->reason;
  b->transfer.offered_ms = x->now_ms;
  b->transfer.return_state = x->from;
  b->next.transfer = &b->transfer;
  bool seen = false;
  for (size_t i = 0; i < cur->n_units_involved && !seen; i++)
    seen = mc_str_eq(cur->units_involved[i], to);
  if (!seen) {
    if ((b->units = grow_copy((void *const *)cur->units_involved, cur->n_units_involved)) == NULL)
      return mc_out_of_memory(err);
    b->units[cur->n_units_involved] = (char *)to;
    b->next.units_involved = b->units;
    b->next.n_units_involved = cur->n_units_involved + 1;
  }
  return MC_OK;
}

/* Ends the pending offer; the applied action names unit, the other side. */
static void end_offer(mc_build *b, const char *unit) {
  b->next.transfer = NULL;
  b->act.args_case = MV_ARGS(TO_UNIT);
  b->act.to_unit = (char *)unit;
}

static mc_code accept_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  b->next.holder = x->cur->transfer->to_unit;
  end_offer(b, x->cur->transfer->from_unit);
  return MC_OK;
}

static mc_code refuse_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  end_offer(b, x->cur->transfer->from_unit);
  return MC_OK;
}

static mc_code recall_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  end_offer(b, x->cur->transfer->to_unit);
  return MC_OK;
}

static mc_code withdraw_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  if (x->from == MV_STATE(TRANSFER))
    end_offer(b, x->cur->transfer->to_unit);
  return MC_OK;
}

/* ---- the team ---- */

static mc_code member_check(const mc_step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  const mv_member *m = x->act->member;
  TRY(required_text(m->person, lim->max_name_bytes, "action.member.person", err));
  TRY(required_enum(mc_team_role_names, m->role, "action.member.role", err));
  return mc_text_check(m->unit, lim->max_name_bytes, "action.member.unit", err);
}

static mc_code assign_room(const mc_step_ctx *x, mc_err *err) {
  size_t max = x->reg->limits.max_team;
  if (x->cur->n_team >= max)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      _("case %s: the team holds the most entries allowed (max_team %zu)"),
                      x->case_id, max);
  return MC_OK;
}

static mc_code assign_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  const mv_case *cur = x->cur;
  mediation__v1__team_member__init(&b->member);
  b->member.unit = cur->holder;
  b->member.person = x->act->member->person;
  b->member.role = x->act->member->role;
  b->member.assigned_ms = x->now_ms;
  b->act.member = &b->member;
  if ((b->team = grow_copy((void *const *)cur->team, cur->n_team)) == NULL)
    return mc_out_of_memory(err);
  b->team[cur->n_team] = &b->member;
  b->next.team = b->team;
  b->next.n_team = cur->n_team + 1;
  return MC_OK;
}

/* The guard made sure the member is on the case. */
static mc_code release_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  const mv_case *cur = x->cur;
  long i = mc_team_find_active(cur, x->act->member->person, x->act->member->role);
  b->member = *cur->team[i];
  b->member.released_ms = x->now_ms;
  b->act.member = &b->member;
  if ((b->team = grow_copy((void *const *)cur->team, cur->n_team)) == NULL)
    return mc_out_of_memory(err);
  b->team[i] = &b->member;
  b->next.team = b->team;
  return MC_OK;
}

/* ---- mediation ---- */

/* START_MEDIATION, CLOSE: the state change is all. */
static mc_code state_change_only(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)x, (void)b, (void)err;
  return MC_OK;
}

static mc_code record_session_check(const mc_step_ctx *x, mc_err *err) {
  const Mediation__V1__Session *s = x->act->session;
  if (s->held_ms <= 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.session.held_ms: required"));
  return mc_text_check(s->note, x->reg->limits.max_text_bytes, "action.session.note", err);
}

static mc_code record_session_room(const mc_step_ctx *x, mc_err *err) {
  size_t max = x->reg->limits.max_sessions;
  if (x->cur->n_sessions >= max)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      _("case %s: the case file holds the most sessions allowed (max_sessions %zu)"),
                      x->case_id, max);
  return MC_OK;
}

static mc_code record_session_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  const mv_case *cur = x->cur;
  b->session = *x->act->session;
  FORGET_UNKNOWN(b->session);
  b->act.session = &b->session;
  if ((b->sessions = grow_copy((void *const *)cur->sessions, cur->n_sessions)) == NULL)
    return mc_out_of_memory(err);
  b->sessions[cur->n_sessions] = &b->session;
  b->next.sessions = b->sessions;
  b->next.n_sessions = cur->n_sessions + 1;
  return MC_OK;
}

static mc_code record_outcome_check(const mc_step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  const Mediation__V1__Outcome *o = x->act->outcome;
  TRY(required_enum(mc_outcome_names, o->kind, "action.outcome.kind", err));
  if (o->kind != MV_OUTCOME(AGREEMENT) && o->agreed_amount_fen != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.outcome.agreed_amount_fen: only for an agreement"));
  TRY(money(o->agreed_amount_fen, lim, "action.outcome.agreed_amount_fen", err));
  if (o->resolution != MV_RESOLUTION(UNSPECIFIED)) {
    if (!known(mc_resolution_names, o->resolution))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        _("action.outcome.resolution: not a known value (%d)"), (int)o->resolution);
    if (!is_petition(x->cur))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        _("action.outcome.resolution: only for a petition case (信访积案)"));
  }
  if (o->followup_due_ms < 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.outcome.followup_due_ms: must not be negative"));
  /* What the 调解协议书 states: only an agreement has terms to perform. */
  if (o->kind != MV_OUTCOME(AGREEMENT) &&
      (o->terms[0] || o->performance_method[0] || o->performance_due_ms != 0 ||
       o->agreement_no[0]))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.outcome: terms, performance and agreement_no are only for an "
                      "agreement"));
  if (o->performance_due_ms < 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.outcome.performance_due_ms: must not be negative"));
  TRY(mc_text_check(o->terms, lim->max_text_bytes, "action.outcome.terms", err));
  TRY(mc_text_check(o->performance_method, lim->max_text_bytes,
                    "action.outcome.performance_method", err));
  TRY(mc_text_check(o->agreement_no, lim->max_name_bytes, "action.outcome.agreement_no", err));
  return mc_text_check(o->summary, lim->max_text_bytes, "action.outcome.summary", err);
}

/* A follow-up date sets the deadline of feedback. */
static int64_t record_outcome_deadline(const mc_step_ctx *x) {
  int64_t due = x->act->outcome->followup_due_ms;
  return due > 0 ? due : 0;
}

/* The first outcome of a case is when it was mediated. */
static void set_outcome(const mc_step_ctx *x, mc_build *b) {
  b->outcome.recorded_ms = x->now_ms;
  b->next.outcome = &b->outcome;
  if (b->next.mediated_ms == 0)
    b->next.mediated_ms = x->now_ms;
}

static mc_code record_outcome_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  b->outcome = *x->act->outcome;
  FORGET_UNKNOWN(b->outcome);
  b->act.outcome = &b->outcome;
  set_outcome(x, b);
  return MC_OK;
}

static mc_code send_to_litigation_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  if (x->from == MV_STATE(MEDIATION)) {
    mediation__v1__outcome__init(&b->outcome);
    b->outcome.kind = MV_OUTCOME(NO_AGREEMENT);
    set_outcome(x, b);
  }
  return MC_OK;
}

static mc_code record_court_result_check(const mc_step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  const Mediation__V1__CourtResult *r = x->act->court_result;
  TRY(required_enum(mc_court_result_names, r->kind, "action.court_result.kind", err));
  TRY(money(r->amount_fen, lim, "action.court_result.amount_fen", err));
  return mc_text_check(r->summary, lim->max_text_bytes, "action.court_result.summary", err);
}

static mc_code record_court_result_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  b->court = *x->act->court_result;
  FORGET_UNKNOWN(b->court);
  b->court.recorded_ms = x->now_ms;
  b->act.court_result = &b->court;
  b->next.court_result = &b->court;
  return MC_OK;
}

static mc_code record_feedback_check(const mc_step_ctx *x, mc_err *err) {
  const Mediation__V1__Feedback *f = x->act->feedback;
  TRY(required_enum(mc_satisfaction_names, f->satisfaction, "action.feedback.satisfaction",
                    err));
  if (f->visited_ms <= 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.feedback.visited_ms: required"));
  return mc_text_check(f->note, x->reg->limits.max_text_bytes, "action.feedback.note", err);
}

static mc_code record_feedback_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  b->feedback = *x->act->feedback;
  FORGET_UNKNOWN(b->feedback);
  b->feedback.recorded_ms = x->now_ms;
  b->act.feedback = &b->feedback;
  b->next.feedback = &b->feedback;
  return MC_OK;
}

static mc_code reopen_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  b->next.reopen_count = x->cur->reopen_count + 1;
  b->next.feedback = NULL;
  b->next.court_result = NULL;
  return MC_OK;
}

static mc_code grant_legal_aid_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)x, (void)err;
  b->next.legal_aid = true;
  return MC_OK;
}

/* ---- 签收 record_receipt: the router's own step ---- */

static mc_code record_receipt_check(const mc_step_ctx *x, mc_err *err) {
  const mv_receipt *r = x->act->receipt;
  TRY(required_text(r->unit, x->reg->limits.max_name_bytes, "action.receipt.unit", err));
  if (mc_registry_unit(x->reg, r->unit) == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.receipt.unit: not a registered unit"));
  bool involved = false;
  for (size_t i = 0; i < x->cur->n_units_involved && !involved; i++)
    involved = mc_str_eq(x->cur->units_involved[i], r->unit);
  if (!involved)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.receipt.unit: unit %s was never sent case %s"), r->unit, x->case_id);
  if (r->delivery_seq == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.receipt.delivery_seq: required"));
  if (!mc_str_eq(r->case_id, x->cur->id))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.receipt.case_id: not case %s"),
                      x->case_id);
  if (r->event_seq == 0 || r->event_seq > x->cur->event_count)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.receipt.event_seq: must be 1 to %u (case %s's events)"),
                      x->cur->event_count, x->case_id);
  if (r->received_ms <= 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.receipt.received_ms: required"));
  if (r->signature.len != ED25519_SIGNATURE_BYTES)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("action.receipt.signature: expected an Ed25519 signature (%d bytes)"),
                      ED25519_SIGNATURE_BYTES);
  return MC_OK;
}

static mc_code record_receipt_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  (void)err;
  b->receipt = *x->act->receipt;
  FORGET_UNKNOWN(b->receipt);
  b->act.receipt = &b->receipt;
  return MC_OK;
}

/* ---- the action table ---- */

#define NO_ARGS MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET
#define THE_SENDER "the sender"
#define THE_OFFERED_UNIT "the offered unit"

static const mc_action_def take_in_action = {
    .args = MV_ARGS(INTAKE), .check = take_in_check, .effect = take_in_effect};
static const mc_action_def transfer_action = {
    .args = MV_ARGS(TO_UNIT), .reason_required = true,
    .delivery = MV_DELIVERY(OFFER), .delivery_to = THE_OFFERED_UNIT,
    .check = transfer_check, .effect = transfer_effect};
static const mc_action_def accept_action = {
    .args = NO_ARGS, .delivery = MV_DELIVERY(ACCEPTED), .delivery_to = THE_SENDER,
    .names_other_unit = true, .effect = accept_effect};
static const mc_action_def refuse_action = {
    .args = NO_ARGS, .reason_required = true,
    .delivery = MV_DELIVERY(REFUSED), .delivery_to = THE_SENDER,
    .names_other_unit = true, .effect = refuse_effect};
static const mc_action_def recall_action = {
    .args = NO_ARGS, .reason_required = true,
    .delivery = MV_DELIVERY(RECALLED), .delivery_to = THE_OFFERED_UNIT,
    .names_other_unit = true, .effect = recall_effect};
static const mc_action_def start_mediation_action = {
    .args = NO_ARGS, .effect = state_change_only};
static const mc_action_def assign_action = {
    .args = MV_ARGS(MEMBER), .check = member_check, .room = assign_room,
    .effect = assign_effect};
static const mc_action_def release_action = {
    .args = MV_ARGS(MEMBER), .check = member_check, .effect = release_effect};
static const mc_action_def record_session_action = {
    .args = MV_ARGS(SESSION), .check = record_session_check, .room = record_session_room,
    .effect = record_session_effect};
static const mc_action_def record_outcome_action = {
    .args = MV_ARGS(OUTCOME), .check = record_outcome_check,
    .deadline = record_outcome_deadline, .effect = record_outcome_effect};
static const mc_action_def send_to_litigation_action = {
    .args = NO_ARGS, .reason_required = true, .effect = send_to_litigation_effect};
static const mc_action_def record_court_result_action = {
    .args = MV_ARGS(COURT_RESULT), .check = record_court_result_check,
    .effect = record_court_result_effect};
static const mc_action_def record_feedback_action = {
    .args = MV_ARGS(FEEDBACK), .check = record_feedback_check,
    .effect = record_feedback_effect};
static const mc_action_def close_action = {.args = NO_ARGS, .effect = state_change_only};
static const mc_action_def reopen_action = {
    .args = NO_ARGS, .reason_required = true, .effect = reopen_effect};
static const mc_action_def withdraw_action = {
    .args = NO_ARGS, .reason_required = true,
    .delivery = MV_DELIVERY(RECALLED), .delivery_to = THE_OFFERED_UNIT,
    .names_other_unit = true, .handoff_only_in_transfer = true, .effect = withdraw_effect};
static const mc_action_def grant_legal_aid_action = {
    .args = NO_ARGS, .effect = grant_legal_aid_effect};
static const mc_action_def record_receipt_action = {
    .args = MV_ARGS(RECEIPT), .check = record_receipt_check, .effect = record_receipt_effect};

#define ACTION_ROW(kind, name, label, def) [MV_ACTION(kind)] = &def,
static const mc_action_def *const actions[] = {MC_ACTIONS(ACTION_ROW)};
#undef ACTION_ROW

const mc_action_def *mc_action_def_of(mv_action_kind kind) {
  if ((size_t)kind >= sizeof(actions) / sizeof(actions[0]))
    return NULL;
  return actions[kind];
}

const char *mc_action_name(mv_action_kind kind) {
  return mc_name_of(mc_action_names, (int)kind);
}
