/*
 * machine.c - the case state machine: the transition table, and the one
 * function that applies a row of it (see machine.h for the contract).
 *
 * The idea: what may happen to a case is one table of rows (from state,
 * action, to state, who, guard), kept as data so that the code, the docs
 * (mediation-gen-docs) and the tests read the same rows. What an action does
 * to the record (its effect) and which fields it needs are its own functions
 * in effects.c, registered in the action table (actions.h); which states and
 * actors it is allowed for is only ever decided by this table. A step asks
 * its questions in the order machine.h lists them - shape, state, actor,
 * fields, guards, limits - and builds nothing until every answer is yes, so
 * a refused step allocates nothing.
 *
 * The next record is built on the stack, borrowing every string and
 * sub-message it keeps from the current record, and is then packed and
 * unpacked: the unpacked copy owns all its memory, and the borrowed build is
 * dropped without freeing its parts. What the step takes from the action
 * (intake, member, outcome...) is copied field by field first, which drops
 * any unknown fields a client sent, so nothing the router does not
 * understand reaches the case file. The event is built the same way; its
 * packed bytes are what the hash chain covers, and what replay compares:
 * replay rebuilds the event from the stored event's own action, actor, time
 * and deadline, and any byte that differs means the case file and the record
 * disagree (DATA_LOSS).
 *
 * Choices the domain left open, made here (the table's part of them is
 * printed in docs/state-machine.md; those about what an action does are at
 * the top of effects.c):
 *   - ACCEPT resumes FEEDBACK for an offer made from FEEDBACK (a delegated
 *     follow-up visit), else the receiving unit starts at INTAKE;
 *   - a duplicate ASSIGN and a RELEASE of a member not on the case are
 *     FAILED_PRECONDITION (guards), like every other "not in this case's
 *     present condition"; a transfer to the holder itself is one too;
 *   - SEND_TO_LITIGATION from FEEDBACK needs a failed mediation (outcome
 *     NO_AGREEMENT) that has not been to court yet;
 *   - the event's deadline_ms is the case's deadline after the step (a step
 *     that keeps the state keeps the deadline, and replay checks that).
 */
#include "core/machine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/actions.h"
#include "core/effects.h"
#include "core/i18n.h"
#include "core/ids.h"
#include "core/names.h"
#include "core/step.h"
#include "core/text.h"

/* ---- guards: each is a text for people and a check, tied by address ---- */

/* In English here (docs/state-machine.md prints them so); a refusal shows
 * them in the caller's language (_() at the point of use). */
static const char GUARD_NOT_HOLDER[] = N_("the receiving unit is not the holder");
static const char GUARD_NEW_MEMBER[] = N_("the person is not already on the case in that role");
static const char GUARD_ACTIVE_MEMBER[] = N_("the person is on the case in that role");
static const char GUARD_LITIGABLE[] =
    N_("mediation failed (outcome no agreement) and the case has not been to court");
static const char GUARD_FEEDBACK[] =
    N_("the follow-up visit and the parties' satisfaction are recorded");
static const char GUARD_AGREEMENT[] =
    N_("an agreement was reached (outcome agreement, or court mediation or judgment)");
static const char GUARD_NO_LEGAL_AID[] = N_("legal aid is not yet granted");

static bool holds_not_holder(const mv_case *c, const mv_action *a) {
  return !mc_str_eq(a->to_unit, c->holder);
}

static bool holds_new_member(const mv_case *c, const mv_action *a) {
  return mc_team_find_active(c, a->member->person, a->member->role) < 0;
}

static bool holds_active_member(const mv_case *c, const mv_action *a) {
  return mc_team_find_active(c, a->member->person, a->member->role) >= 0;
}

static bool holds_litigable(const mv_case *c, const mv_action *a) {
  (void)a;
  return c->outcome != NULL && c->outcome->kind == MV_OUTCOME(NO_AGREEMENT) &&
         c->court_result == NULL;
}

static bool holds_feedback(const mv_case *c, const mv_action *a) {
  (void)a;
  return c->feedback != NULL && c->feedback->satisfaction != MV_SATISFACTION(UNSPECIFIED);
}

static bool holds_agreement(const mv_case *c, const mv_action *a) {
  (void)a;
  if (c->outcome != NULL && c->outcome->kind == MV_OUTCOME(AGREEMENT))
    return true;
  return c->court_result != NULL && (c->court_result->kind == MV_COURT(COURT_MEDIATION) ||
                                     c->court_result->kind == MV_COURT(JUDGMENT));
}

static bool holds_no_legal_aid(const mv_case *c, const mv_action *a) {
  (void)a;
  return !c->legal_aid;
}

static const struct guard_check {
  const char *text;
  bool (*holds)(const mv_case *c, const mv_action *a);
} guard_checks[] = {
    {GUARD_NOT_HOLDER, holds_not_holder},       {GUARD_NEW_MEMBER, holds_new_member},
    {GUARD_ACTIVE_MEMBER, holds_active_member}, {GUARD_LITIGABLE, holds_litigable},
    {GUARD_FEEDBACK, holds_feedback},           {GUARD_AGREEMENT, holds_agreement},
    {GUARD_NO_LEGAL_AID, holds_no_legal_aid},
};

/* ---- the table ---- */

#define BY_UNIT MC_BY_ANY_UNIT
#define BY_HOLDER MC_BY_HOLDER
#define BY_TARGET MC_BY_TARGET
#define BY_COORD MC_BY_COORDINATOR
#define BY_SYSTEM MC_BY_SYSTEM

#define ROW(f, a, t, who, g)                                                                   \
  { .from = MV_STATE(f), .action = MV_ACTION(a), .to = MV_STATE(t), .roles = (who), .guard = (g) }
#define BACK(f, a, who, g)                                                                     \
  {                                                                                            \
    .from = MV_STATE(f), .action = MV_ACTION(a), .to = MV_STATE(UNSPECIFIED),                  \
    .to_return_state = true, .roles = (who), .guard = (g)                                      \
  }

static const mc_transition table[] = {
    ROW(UNSPECIFIED, TAKE_IN, INTAKE, BY_UNIT, NULL),

    ROW(INTAKE, TRANSFER, TRANSFER, BY_HOLDER, GUARD_NOT_HOLDER),
    ROW(MEDIATION, TRANSFER, TRANSFER, BY_HOLDER, GUARD_NOT_HOLDER),
    ROW(FEEDBACK, TRANSFER, TRANSFER, BY_HOLDER, GUARD_NOT_HOLDER),
    {.from = MV_STATE(TRANSFER), .action = MV_ACTION(ACCEPT), .to = MV_STATE(INTAKE),
     .roles = BY_TARGET, .resume_feedback = true},
    BACK(TRANSFER, REFUSE, BY_TARGET, NULL),
    BACK(TRANSFER, RECALL, BY_HOLDER | BY_COORD, NULL),

    ROW(INTAKE, START_MEDIATION, MEDIATION, BY_HOLDER, NULL),

    ROW(INTAKE, ASSIGN, INTAKE, BY_HOLDER, GUARD_NEW_MEMBER),
    ROW(MEDIATION, ASSIGN, MEDIATION, BY_HOLDER, GUARD_NEW_MEMBER),
    ROW(FEEDBACK, ASSIGN, FEEDBACK, BY_HOLDER, GUARD_NEW_MEMBER),
    ROW(INTAKE, RELEASE, INTAKE, BY_HOLDER, GUARD_ACTIVE_MEMBER),
    ROW(MEDIATION, RELEASE, MEDIATION, BY_HOLDER, GUARD_ACTIVE_MEMBER),
    ROW(FEEDBACK, RELEASE, FEEDBACK, BY_HOLDER, GUARD_ACTIVE_MEMBER),

    ROW(MEDIATION, RECORD_SESSION, MEDIATION, BY_HOLDER, NULL),
    ROW(MEDIATION, RECORD_OUTCOME, FEEDBACK, BY_HOLDER, NULL),
    ROW(MEDIATION, SEND_TO_LITIGATION, LITIGATION, BY_HOLDER, NULL),
    ROW(FEEDBACK, SEND_TO_LITIGATION, LITIGATION, BY_HOLDER, GUARD_LITIGABLE),
    ROW(LITIGATION, RECORD_COURT_RESULT, FEEDBACK, BY_HOLDER, NULL),
    ROW(FEEDBACK, RECORD_FEEDBACK, FEEDBACK, BY_HOLDER, NULL),
    ROW(FEEDBACK, CLOSE, CLOSED, BY_HOLDER, GUARD_FEEDBACK),
    ROW(CLOSED, REOPEN, MEDIATION, BY_HOLDER | BY_COORD, GUARD_AGREEMENT),

    ROW(INTAKE, WITHDRAW, WITHDRAWN, BY_HOLDER, NULL),
    ROW(TRANSFER, WITHDRAW, WITHDRAWN, BY_HOLDER, NULL),
    ROW(MEDIATION, WITHDRAW, WITHDRAWN, BY_HOLDER, NULL),

    ROW(INTAKE, GRANT_LEGAL_AID, INTAKE, BY_HOLDER, GUARD_NO_LEGAL_AID),
    ROW(MEDIATION, GRANT_LEGAL_AID, MEDIATION, BY_HOLDER, GUARD_NO_LEGAL_AID),
    ROW(LITIGATION, GRANT_LEGAL_AID, LITIGATION, BY_HOLDER, GUARD_NO_LEGAL_AID),
    ROW(FEEDBACK, GRANT_LEGAL_AID, FEEDBACK, BY_HOLDER, GUARD_NO_LEGAL_AID),

    ROW(INTAKE, RECORD_RECEIPT, INTAKE, BY_SYSTEM, NULL),
    ROW(TRANSFER, RECORD_RECEIPT, TRANSFER, BY_SYSTEM, NULL),
    ROW(MEDIATION, RECORD_RECEIPT, MEDIATION, BY_SYSTEM, NULL),
    ROW(FEEDBACK, RECORD_RECEIPT, FEEDBACK, BY_SYSTEM, NULL),
    ROW(LITIGATION, RECORD_RECEIPT, LITIGATION, BY_SYSTEM, NULL),
    ROW(CLOSED, RECORD_RECEIPT, CLOSED, BY_SYSTEM, NULL),
    ROW(WITHDRAWN, RECORD_RECEIPT, WITHDRAWN, BY_SYSTEM, NULL),
};

#define TABLE_ROWS (sizeof(table) / sizeof(table[0]))

const mc_transition *mc_transitions(size_t *count) {
  *count = TABLE_ROWS;
  return table;
}

static const char *const args_names[] = {
    [MV_ARGS(INTAKE)] = "intake",       [MV_ARGS(TO_UNIT)] = "to_unit",
    [MV_ARGS(MEMBER)] = "member",       [MV_ARGS(SESSION)] = "session",
    [MV_ARGS(OUTCOME)] = "outcome",     [MV_ARGS(COURT_RESULT)] = "court_result",
    [MV_ARGS(FEEDBACK)] = "feedback",   [MV_ARGS(RECEIPT)] = "receipt",
};

unsigned mc_roles_of(const mv_case *current, const mv_actor *actor) {
  if (actor == NULL)
    return 0;
  switch (actor->kind) {
  case MV_PRINCIPAL(UNIT): {
    if (mc_str_empty(actor->id))
      return 0;
    unsigned roles = MC_BY_ANY_UNIT;
    if (current != NULL && mc_str_eq(current->holder, actor->id))
      roles |= MC_BY_HOLDER;
    if (current != NULL && current->transfer != NULL &&
        mc_str_eq(current->transfer->to_unit, actor->id))
      roles |= MC_BY_TARGET;
    return roles;
  }
  case MV_PRINCIPAL(COORDINATOR):
    return MC_BY_COORDINATOR;
  case MV_PRINCIPAL(SYSTEM):
    return MC_BY_SYSTEM;
  default:
    return 0;
  }
}

size_t mc_allowed_actions(const mv_case *c, const mv_actor *actor, mv_action_kind *out,
                          size_t cap) {
  if (c == NULL || out == NULL)
    return 0;
  unsigned have = mc_roles_of(c, actor);
  size_t n = 0;
  for (size_t i = 0; i < TABLE_ROWS && n < cap; i++) {
    const mc_transition *row = &table[i];
    if (row->from != c->state || (row->roles & have) == 0 ||
        row->action == MV_ACTION(TAKE_IN) || row->action == MV_ACTION(RECORD_RECEIPT))
      continue;
    bool holds = true;
    if (row->guard == GUARD_ACTIVE_MEMBER) {
      holds = false;
      for (size_t k = 0; k < c->n_team && !holds; k++)
        holds = c->team[k]->released_ms == 0;
    } else if (row->guard != NULL && row->guard != GUARD_NOT_HOLDER &&
               row->guard != GUARD_NEW_MEMBER) {
      for (size_t k = 0; k < sizeof(guard_checks) / sizeof(guard_checks[0]); k++)
        if (guard_checks[k].text == row->guard)
          holds = guard_checks[k].holds(c, NULL);
    }
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = out[k] == row->action;
    if (holds && !seen)
      out[n++] = row->action;
  }
  return n;
}

bool mc_state_is_final(mv_state state) {
  return state == MV_STATE(CLOSED) || state == MV_STATE(WITHDRAWN);
}

bool mc_is_overdue(const mv_case *c, int64_t now_ms) {
  return c != NULL && c->deadline_ms > 0 && now_ms > c->deadline_ms;
}

/* ---- one step ---- */

static void build_free(mc_build *b) {
  free(b->party_copies);
  free(b->name_buf);
  free(b->parties);
  free(b->units);
  free(b->team);
  free(b->sessions);
}

static const char *state_label(mv_state s) {
  return s == MV_STATE(UNSPECIFIED) ? "未受理" : mc_label_of(mc_state_names, (int)s);
}

static const char *state_name(mv_state s) {
  return s == MV_STATE(UNSPECIFIED) ? "no case yet" : mc_name_of(mc_state_names, (int)s);
}

/* A state as a refusal shows it: "受理 (intake)" - its label and its name,
 * in the caller's language's punctuation. */
static const char *state_shown(mv_state s, char *buf, size_t cap) {
  const char *name = s == MV_STATE(UNSPECIFIED) ? _("no case yet") : state_name(s);
  snprintf(buf, cap, C_("state", "%s (%s)"), state_label(s), name);
  return buf;
}

/* An action as a refusal shows it: in English its short name
 * (start_mediation), in Chinese its label and the word a person types or
 * clicks for it (开始调处（start）, mediactl's command word), so that a
 * refusal names what the user can do rather than an internal identifier.
 * TRANSLATORS: each is "<label from core/actions.h>（<mediactl command>）". */
static const char *const action_shown_texts[] = {
    [MV_ACTION(TAKE_IN)] = NC_("action", "take_in"),
    [MV_ACTION(TRANSFER)] = NC_("action", "transfer"),
    [MV_ACTION(ACCEPT)] = NC_("action", "accept"),
    [MV_ACTION(REFUSE)] = NC_("action", "refuse"),
    [MV_ACTION(RECALL)] = NC_("action", "recall"),
    [MV_ACTION(START_MEDIATION)] = NC_("action", "start_mediation"),
    [MV_ACTION(ASSIGN)] = NC_("action", "assign"),
    [MV_ACTION(RELEASE)] = NC_("action", "release"),
    [MV_ACTION(RECORD_SESSION)] = NC_("action", "record_session"),
    [MV_ACTION(RECORD_OUTCOME)] = NC_("action", "record_outcome"),
    [MV_ACTION(SEND_TO_LITIGATION)] = NC_("action", "send_to_litigation"),
    [MV_ACTION(RECORD_COURT_RESULT)] = NC_("action", "record_court_result"),
    [MV_ACTION(RECORD_FEEDBACK)] = NC_("action", "record_feedback"),
    [MV_ACTION(CLOSE)] = NC_("action", "close"),
    [MV_ACTION(REOPEN)] = NC_("action", "reopen"),
    [MV_ACTION(WITHDRAW)] = NC_("action", "withdraw"),
    [MV_ACTION(GRANT_LEGAL_AID)] = NC_("action", "grant_legal_aid"),
    [MV_ACTION(RECORD_RECEIPT)] = NC_("action", "record_receipt"),
};

static const char *action_shown(mv_action_kind kind) {
  size_t n = sizeof(action_shown_texts) / sizeof(action_shown_texts[0]);
  if (kind <= 0 || (size_t)kind >= n || action_shown_texts[kind] == NULL)
    return mc_action_name(kind);
  return mc_pgettext(action_shown_texts[kind]);
}

static const mc_transition *find_row(mv_state from, mv_action_kind action) {
  for (size_t i = 0; i < TABLE_ROWS; i++) {
    if (table[i].from == from && table[i].action == action)
      return &table[i];
  }
  return NULL;
}

/* A message built by hand may set the oneof case and leave its member NULL. */
static bool args_present(const mv_action *a) {
  switch (a->args_case) {
  case MV_ARGS(INTAKE):
    return a->intake != NULL;
  case MV_ARGS(TO_UNIT):
    return a->to_unit != NULL;
  case MV_ARGS(MEMBER):
    return a->member != NULL;
  case MV_ARGS(SESSION):
    return a->session != NULL;
  case MV_ARGS(OUTCOME):
    return a->outcome != NULL;
  case MV_ARGS(COURT_RESULT):
    return a->court_result != NULL;
  case MV_ARGS(FEEDBACK):
    return a->feedback != NULL;
  case MV_ARGS(RECEIPT):
    return a->receipt != NULL;
  default:
    return true;
  }
}

/* 1. Is the action known and shaped right? */
static mc_code check_shape(mc_step_ctx *x, mc_err *err) {
  const mv_action *a = x->act;
  x->def = a->kind > MV_ACTION(UNSPECIFIED) ? mc_action_def_of(a->kind) : NULL;
  if (x->def == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.kind: %s"),
                      a->kind == MV_ACTION(UNSPECIFIED) ? _("required") : _("not a known action"));
  Mediation__V1__CaseAction__ArgsCase want = x->def->args;
  Mediation__V1__CaseAction__ArgsCase got = a->args_case;
  /* A stored event names the other unit of a handoff (actions.h,
   * names_other_unit); replay accepts that shape, the effect rewrites it,
   * and the comparison of the rebuilt event catches any difference. */
  if (x->mode == MODE_REPLAY && got == MV_ARGS(TO_UNIT) && x->def->names_other_unit &&
      (!x->def->handoff_only_in_transfer || x->from == MV_STATE(TRANSFER)))
    got = want;
  if (got == want) {
    if (!args_present(a))
      return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.%s: required for %s"), args_names[want],
                        action_shown(a->kind));
    return MC_OK;
  }
  if (want == MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.%s: %s takes no arguments"),
                      (size_t)got < sizeof(args_names) / sizeof(args_names[0]) && args_names[got]
                          ? args_names[got]
                          : "args",
                      action_shown(a->kind));
  return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.%s: required for %s"), args_names[want],
                    action_shown(a->kind));
}

/* Appends "受理, 调处" (the states where kind is allowed) to buf. */
static void allowed_states(mv_action_kind kind, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < TABLE_ROWS; i++) {
    if (table[i].action != kind)
      continue;
    char shown[96];
    int n = snprintf(buf + used, cap - used, "%s%s", used ? C_("list", ", ") : "",
                     state_shown(table[i].from, shown, sizeof(shown)));
    if (n < 0 || (size_t)n >= cap - used)
      return;
    used += (size_t)n;
  }
}

/* 2. Does the state allow the action at all? */
static mc_code check_state(mc_step_ctx *x, mc_err *err) {
  mv_action_kind kind = x->act->kind;
  char from[96];
  state_shown(x->from, from, sizeof(from));
  if (kind == MV_ACTION(TAKE_IN) && x->cur != NULL)
    return mc_err_set(err, MC_FAILED_PRECONDITION, _("case %s is in %s; %s is only for a new case"),
                      x->case_id, from, action_shown(kind));
  x->row = find_row(x->from, kind);
  if (x->row != NULL)
    return MC_OK;
  char allowed[320];
  allowed_states(kind, allowed, sizeof(allowed));
  if (x->cur == NULL)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      _("there is no case yet; %s is allowed only in %s"), action_shown(kind),
                      allowed);
  return mc_err_set(err, MC_FAILED_PRECONDITION, _("case %s is in %s; %s is allowed only in %s"),
                    x->case_id, from, action_shown(kind), allowed);
}

/* "the holding unit (police-studio) or a coordinator" */
static void describe_roles(const mv_case *c, unsigned roles, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  struct {
    unsigned bit;
    const char *what;
    const char *unit;
  } parts[] = {
      {MC_BY_ANY_UNIT, _("a registered unit"), NULL},
      {MC_BY_HOLDER, _("the holding unit"), c ? c->holder : NULL},
      {MC_BY_TARGET, _("the unit the case is offered to"),
       c && c->transfer ? c->transfer->to_unit : NULL},
      {MC_BY_COORDINATOR, _("a coordinator"), NULL},
      {MC_BY_SYSTEM, _("the router"), NULL},
  };
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
    if (!(roles & parts[i].bit))
      continue;
    int n;
    const char *sep = used ? _(" or ") : "";
    if (!mc_str_empty(parts[i].unit))
      n = snprintf(buf + used, cap - used, C_("role", "%s%s (%s)"), sep, parts[i].what,
                   parts[i].unit);
    else
      n = snprintf(buf + used, cap - used, "%s%s", sep, parts[i].what);
    if (n < 0 || (size_t)n >= cap - used)
      return;
    used += (size_t)n;
  }
}

/* 3. May this actor take it? */
static mc_code check_actor(const mc_step_ctx *x, mc_err *err) {
  unsigned have = mc_roles_of(x->cur, x->actor);
  if ((have & x->row->roles) == 0) {
    char who[320], from[96];
    describe_roles(x->cur, x->row->roles, who, sizeof(who));
    if (x->cur == NULL)
      return mc_err_set(err, MC_PERMISSION_DENIED, _("%s may be taken only by %s"),
                        action_shown(x->act->kind), who);
    return mc_err_set(err, MC_PERMISSION_DENIED, _("case %s: %s in %s may be taken only by %s"),
                      x->case_id, action_shown(x->act->kind),
                      state_shown(x->from, from, sizeof(from)), who);
  }
  if (x->mode == MODE_REPLAY)
    return MC_OK; /* a unit may have left the registry since */
  const char *id = x->actor->id ? x->actor->id : "";
  if (x->actor->kind == MV_PRINCIPAL(UNIT) && mc_registry_unit(x->reg, id) == NULL)
    return mc_err_set(err, MC_PERMISSION_DENIED, _("actor.id: not a registered unit"));
  if (x->actor->kind == MV_PRINCIPAL(COORDINATOR)) {
    const mc_principal *p = mc_registry_principal(x->reg, id);
    if (p == NULL || p->kind != MC_PRINCIPAL_COORDINATOR)
      return mc_err_set(err, MC_PERMISSION_DENIED, _("actor.id: not a registered coordinator"));
  }
  return MC_OK;
}

/* 4. Are the fields good? Those every action has, then the action's own. */
static mc_code check_fields(const mc_step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  const mv_action *a = x->act;
  TRY(mc_text_check(x->actor->person, lim->max_name_bytes, "actor.person", err));
  TRY(mc_text_check(a->person, lim->max_name_bytes, "action.person", err));
  TRY(mc_text_check(a->case_ref, lim->max_name_bytes, "action.case_ref", err));
  TRY(mc_text_check(a->reason, lim->max_text_bytes, "action.reason", err));
  if (x->def->reason_required && mc_str_blank(a->reason))
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("action.reason: required for %s"),
                      action_shown(a->kind));
  return x->def->check ? x->def->check(x, err) : MC_OK;
}

/* 5. Do the guards hold? */
static mc_code check_guard(const mc_step_ctx *x, mc_err *err) {
  if (x->row->guard == NULL)
    return MC_OK;
  for (size_t i = 0; i < sizeof(guard_checks) / sizeof(guard_checks[0]); i++) {
    if (guard_checks[i].text != x->row->guard)
      continue;
    if (guard_checks[i].holds(x->cur, x->act))
      return MC_OK;
    char from[96];
    return mc_err_set(err, MC_FAILED_PRECONDITION, _("case %s: %s in %s needs: %s"), x->case_id,
                      action_shown(x->act->kind), state_shown(x->from, from, sizeof(from)),
                      _(x->row->guard));
  }
  /* A row names a guard nobody checks: a programming error, refused loudly. */
  return mc_err_set(err, MC_INTERNAL, "case %s: guard \"%s\" has no check", x->case_id,
                    x->row->guard);
}

/* 6. Is there room in the case file? */
static mc_code check_limits(const mc_step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  if (x->cur == NULL)
    return MC_OK;
  if (x->cur->event_count >= lim->max_events)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      _("case %s: the case file holds the most events allowed (max_events %zu)"),
                      x->case_id, lim->max_events);
  return x->def->room ? x->def->room(x, err) : MC_OK;
}

/* Where the row leads from this case. */
static mc_code resolve_to(mc_step_ctx *x, mc_err *err) {
  const mc_transition *row = x->row;
  const Mediation__V1__PendingTransfer *t = x->cur ? x->cur->transfer : NULL;
  if (x->from == MV_STATE(TRANSFER) && t == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "case %s: in transfer without a pending transfer",
                      x->case_id);
  if (row->to_return_state) {
    x->to = t->return_state;
    if (find_row(x->to, MV_ACTION(TRANSFER)) == NULL)
      return mc_err_set(err, MC_DATA_LOSS,
                        "case %s: pending transfer returns to %s, where no transfer starts",
                        x->case_id, state_name(x->to));
  } else if (row->resume_feedback && t != NULL && t->return_state == MV_STATE(FEEDBACK)) {
    x->to = MV_STATE(FEEDBACK);
  } else {
    x->to = row->to;
  }
  return MC_OK;
}

/* The deadline the case has after the step: a new state starts its clock,
 * the same state keeps it. */
static int64_t deadline_after(const mc_step_ctx *x) {
  if (x->to == x->from)
    return x->cur->deadline_ms;
  if (mc_state_is_final(x->to))
    return 0;
  int64_t own = x->def->deadline ? x->def->deadline(x) : 0;
  if (own > 0)
    return own;
  int64_t limit = x->reg->deadline_ms[x->to];
  return limit > 0 ? x->now_ms + limit : 0;
}

static mc_code replay_deadline(mc_step_ctx *x, mc_err *err) {
  int64_t d = x->replay_deadline_ms;
  if (x->to == x->from && d != x->cur->deadline_ms)
    return mc_err_set(err, MC_DATA_LOSS, "the step keeps state %s but changes the deadline",
                      state_name(x->to));
  if (mc_state_is_final(x->to) && d != 0)
    return mc_err_set(err, MC_DATA_LOSS, "final state %s with a deadline", state_name(x->to));
  x->deadline_ms = d;
  return MC_OK;
}

/* The effect of the step: fills b->next and b->act from the current case
 * and the action. Only the arrays of b are allocated. */
static mc_code build_effect(const mc_step_ctx *x, mc_build *b, mc_err *err) {
  const mv_case *cur = x->cur;
  const mv_action *a = x->act;

  if (cur != NULL) {
    b->next = *cur;
  } else {
    mediation__v1__case__init(&b->next);
  }
  b->act = *a;
  FORGET_UNKNOWN(b->act);
  b->act.case_ref = (char *)x->case_id;

  TRY(x->def->effect(x, b, err));

  b->next.state = x->to;
  b->next.updated_ms = x->now_ms;
  if (x->to != x->from)
    b->next.state_entered_ms = x->now_ms;
  b->next.deadline_ms = x->deadline_ms;
  b->next.event_count = cur ? cur->event_count + 1 : 1;

  b->actor = *x->actor;
  FORGET_UNKNOWN(b->actor);
  mediation__v1__case_event__init(&b->ev);
  b->ev.case_id = (char *)x->case_id;
  b->ev.seq = b->next.event_count;
  b->ev.at_ms = x->now_ms;
  b->ev.actor = &b->actor;
  b->ev.action = &b->act;
  b->ev.from_state = x->from;
  b->ev.to_state = x->to;
  b->ev.holder = b->next.holder;
  b->ev.deadline_ms = x->deadline_ms;
  b->ev.request_id = x->request_id;
  if (cur != NULL)
    b->ev.prev_hash = cur->last_event_hash;
  return MC_OK;
}

/* Runs the questions and builds the step into b (build_free it). */
static mc_code run_step(mc_step_ctx *x, mc_build *b, mc_err *err) {
  x->from = x->cur ? x->cur->state : MV_STATE(UNSPECIFIED);
  TRY(check_shape(x, err));
  if (x->cur != NULL) {
    x->case_id = x->cur->id ? x->cur->id : "";
  } else if (x->act->kind == MV_ACTION(TAKE_IN) && !mc_str_empty(x->act->case_ref) &&
             mc_case_id_parse(x->act->case_ref, NULL, NULL)) {
    x->case_id = x->act->case_ref;
  } else {
    x->case_id = "(new)";
  }
  TRY(check_state(x, err));
  TRY(check_actor(x, err));
  if (x->mode == MODE_APPLY)
    TRY(check_fields(x, err));
  TRY(check_guard(x, err));
  if (x->mode == MODE_APPLY)
    TRY(check_limits(x, err));
  TRY(resolve_to(x, err));
  if (x->mode == MODE_APPLY)
    x->deadline_ms = deadline_after(x);
  else
    TRY(replay_deadline(x, err));
  if (x->act->kind == MV_ACTION(TAKE_IN))
    x->case_id = x->act->case_ref;
  return build_effect(x, b, err);
}

/* Packs msg into a new buffer (caller frees). */
static uint8_t *pack_new(const ProtobufCMessage *msg, size_t *len) {
  *len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (buf != NULL)
    protobuf_c_message_pack(msg, buf);
  return buf;
}

/* The owned copy of the built case, with the hash of the event's bytes as
 * the head of the chain. */
static mc_code own_case(mc_build *b, const uint8_t *event_bytes, size_t event_len, mv_case **out,
                        mc_err *err) {
  mc_event_hash_packed(event_bytes, event_len, b->hash);
  b->next.last_event_hash.data = b->hash;
  b->next.last_event_hash.len = MC_HASH_BYTES;
  size_t len;
  uint8_t *bytes = pack_new(&b->next.base, &len);
  if (bytes == NULL)
    return mc_out_of_memory(err);
  mv_case *c = mediation__v1__case__unpack(NULL, len, bytes);
  free(bytes);
  if (c == NULL)
    return mc_out_of_memory(err);
  *out = c;
  return MC_OK;
}

mc_code mc_apply(const mc_registry *reg, const mc_step *step, mv_case **next_out,
                 mv_event **event_out, mc_err *err) {
  if (reg == NULL || step == NULL || step->action == NULL || step->actor == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "step: registry, action and actor are required");
  mc_step_ctx x = {
      .mode = MODE_APPLY,
      .reg = reg,
      .utc_offset_minutes = reg->utc_offset_minutes,
      .cur = step->current,
      .act = step->action,
      .actor = step->actor,
      .now_ms = step->now_ms,
      .request_id = step->request_id,
  };
  mc_build b = {0};
  mc_code rc = run_step(&x, &b, err);
  if (rc != MC_OK) {
    build_free(&b);
    return rc;
  }
  size_t ev_len;
  uint8_t *ev_bytes = pack_new(&b.ev.base, &ev_len);
  mv_case *next = NULL;
  mv_event *ev = NULL;
  if (ev_bytes == NULL) {
    rc = mc_out_of_memory(err);
  } else {
    rc = own_case(&b, ev_bytes, ev_len, &next, err);
    if (rc == MC_OK && (ev = mediation__v1__case_event__unpack(NULL, ev_len, ev_bytes)) == NULL) {
      protobuf_c_message_free_unpacked(&next->base, NULL);
      rc = mc_out_of_memory(err);
    }
  }
  free(ev_bytes);
  build_free(&b);
  if (rc != MC_OK)
    return rc;
  *next_out = next;
  *event_out = ev;
  return MC_OK;
}

/* Names the first recorded field the rebuilt event disagrees with. */
static const char *first_difference(const mv_event *want, const mv_event *got) {
  if (!mc_str_eq(want->case_id, got->case_id))
    return "case_id";
  if (want->seq != got->seq)
    return "seq";
  if (want->prev_hash.len != got->prev_hash.len ||
      (want->prev_hash.len && memcmp(want->prev_hash.data, got->prev_hash.data,
                                     want->prev_hash.len) != 0))
    return "prev_hash";
  if (want->from_state != got->from_state)
    return "from_state";
  if (want->to_state != got->to_state)
    return "to_state";
  if (!mc_str_eq(want->holder, got->holder))
    return "holder";
  if (want->deadline_ms != got->deadline_ms)
    return "deadline_ms";
  return "action as applied";
}

mc_code mc_replay_event(int utc_offset_minutes, const mv_case *current, const mv_event *event,
                        mv_case **next_out, mc_err *err) {
  const char *case_id = current && current->id ? current->id
                        : event && event->case_id ? event->case_id
                                                  : "";
  if (event == NULL || event->action == NULL || event->actor == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "case %s: event %u has no action or actor", case_id,
                      event ? event->seq : 0);
  mc_step_ctx x = {
      .mode = MODE_REPLAY,
      .utc_offset_minutes = utc_offset_minutes,
      .cur = current,
      .act = event->action,
      .actor = event->actor,
      .now_ms = event->at_ms,
      .request_id = event->request_id,
      .replay_deadline_ms = event->deadline_ms,
  };
  mc_build b = {0};
  mc_err inner = {0};
  mc_code rc = run_step(&x, &b, &inner);
  if (rc != MC_OK) {
    build_free(&b);
    if (rc == MC_UNAVAILABLE) /* out of memory: the event may well follow */
      return mc_err_set(err, rc, "case %s: event %u: %s", case_id, event->seq, inner.msg);
    return mc_err_set(err, MC_DATA_LOSS, "case %s: event %u does not follow: %s", case_id,
                      event->seq, inner.msg);
  }
  size_t want_len, got_len;
  uint8_t *want = pack_new(&event->base, &want_len);
  uint8_t *got = pack_new(&b.ev.base, &got_len);
  mv_case *next = NULL;
  if (want == NULL || got == NULL) {
    rc = mc_out_of_memory(err);
  } else if (want_len != got_len || memcmp(want, got, want_len) != 0) {
    rc = mc_err_set(err, MC_DATA_LOSS, "case %s: event %u does not follow: its %s differs",
                    case_id, event->seq, first_difference(event, &b.ev));
  } else {
    rc = own_case(&b, want, want_len, &next, err);
  }
  free(want);
  free(got);
  build_free(&b);
  if (rc != MC_OK)
    return rc;
  *next_out = next;
  return MC_OK;
}
