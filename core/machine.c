/*
 * machine.c - the case state machine: the transition table, and the one
 * function that applies a row of it (see machine.h for the contract).
 *
 * The idea: what may happen to a case is one table of rows (from state,
 * action, to state, who, guard), kept as data so that the code, the docs
 * (mediation-gen-docs) and the tests read the same rows. What an action does
 * to the record (its effect) is code, one arm per action; which states and
 * actors it is allowed for is only ever decided by the table. A step asks
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
 * printed in docs/state-machine.md):
 *   - the applied ACCEPT, REFUSE, RECALL and WITHDRAW-from-TRANSFER name, in
 *     action.to_unit, the unit on the other side of the handoff: the one the
 *     step's delivery goes to (the sender for ACCEPT and REFUSE, the offered
 *     unit for RECALL and WITHDRAW). Clients send these actions without
 *     arguments; the router fills the unit in, so the case file says which
 *     offer was answered and mc_deliveries_for needs only the event;
 *   - ACCEPT resumes FEEDBACK for an offer made from FEEDBACK (a delegated
 *     follow-up visit), else the receiving unit starts at INTAKE;
 *   - a duplicate ASSIGN and a RELEASE of a member not on the case are
 *     FAILED_PRECONDITION (guards), like every other "not in this case's
 *     present condition"; a transfer to the holder itself is one too;
 *   - SEND_TO_LITIGATION from FEEDBACK needs a failed mediation (outcome
 *     NO_AGREEMENT) that has not been to court yet; from MEDIATION it records
 *     NO_AGREEMENT (this round of mediation failed);
 *   - REOPEN starts a new round: the feedback and the court result of the
 *     round that ended are cleared (they stay in the case file), so a
 *     reopened case is closed again only after a new follow-up visit; the
 *     outcome stays until a new one replaces it;
 *   - a resolution (事实化解 / 实体化解) may be recorded only for a petition
 *     case (Intake.petition), and workers only for a labour dispute;
 *   - the event's deadline_ms is the case's deadline after the step (a step
 *     that keeps the state keeps the deadline, and replay checks that);
 *   - a TAKE_IN may name its case "<unit>:<intake.unit_ref>" instead of an
 *     allocated id when the acting unit checks its own intake before the
 *     router has it (a unit's outbox validates offline work with this same
 *     table): the record is provisional, its id that alias.
 */
#include "core/machine.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/names.h"
#include "core/text.h"

#define ACTION_KINDS 19 /* mediation.v1.ActionKind values, UNSPECIFIED included */
#define ED25519_SIGNATURE_BYTES 64

/* ---- guards: each is a text for people and a check, tied by address ---- */

static const char GUARD_NOT_HOLDER[] = "the receiving unit is not the holder";
static const char GUARD_NEW_MEMBER[] = "the person is not already on the case in that role";
static const char GUARD_ACTIVE_MEMBER[] = "the person is on the case in that role";
static const char GUARD_LITIGABLE[] =
    "mediation failed (outcome no agreement) and the case has not been to court";
static const char GUARD_FEEDBACK[] = "the follow-up visit and the parties' satisfaction are recorded";
static const char GUARD_AGREEMENT[] =
    "an agreement was reached (outcome agreement, or court mediation or judgment)";
static const char GUARD_NO_LEGAL_AID[] = "legal aid is not yet granted";

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool str_empty(const char *s) { return s == NULL || s[0] == '\0'; }

/* Whitespace alone is no reason. */
static bool str_blank(const char *s) {
  for (; s != NULL && *s != '\0'; s++) {
    if (*s != ' ' && *s != '\t' && *s != '\n')
      return false;
  }
  return true;
}

/* The active team entry for (person, role), or -1. Entries are never removed:
 * a released one has released_ms set. */
static long find_active_member(const mv_case *c, const char *person,
                               Mediation__V1__TeamRole role) {
  for (size_t i = 0; i < c->n_team; i++) {
    const mv_member *m = c->team[i];
    if (m->released_ms == 0 && m->role == role && str_eq(m->person, person))
      return (long)i;
  }
  return -1;
}

static bool holds_not_holder(const mv_case *c, const mv_action *a) {
  return !str_eq(a->to_unit, c->holder);
}

static bool holds_new_member(const mv_case *c, const mv_action *a) {
  return find_active_member(c, a->member->person, a->member->role) < 0;
}

static bool holds_active_member(const mv_case *c, const mv_action *a) {
  return find_active_member(c, a->member->person, a->member->role) >= 0;
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

/* What each action carries: the oneof member it needs, and whether it needs
 * a reason. Indexed by ActionKind. */
static const struct action_spec {
  Mediation__V1__CaseAction__ArgsCase args;
  bool reason_required;
} specs[ACTION_KINDS] = {
    [MV_ACTION(TAKE_IN)] = {MV_ARGS(INTAKE), false},
    [MV_ACTION(TRANSFER)] = {MV_ARGS(TO_UNIT), true},
    [MV_ACTION(ACCEPT)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, false},
    [MV_ACTION(REFUSE)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, true},
    [MV_ACTION(RECALL)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, true},
    [MV_ACTION(START_MEDIATION)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, false},
    [MV_ACTION(ASSIGN)] = {MV_ARGS(MEMBER), false},
    [MV_ACTION(RELEASE)] = {MV_ARGS(MEMBER), false},
    [MV_ACTION(RECORD_SESSION)] = {MV_ARGS(SESSION), false},
    [MV_ACTION(RECORD_OUTCOME)] = {MV_ARGS(OUTCOME), false},
    [MV_ACTION(SEND_TO_LITIGATION)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, true},
    [MV_ACTION(RECORD_COURT_RESULT)] = {MV_ARGS(COURT_RESULT), false},
    [MV_ACTION(RECORD_FEEDBACK)] = {MV_ARGS(FEEDBACK), false},
    [MV_ACTION(CLOSE)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, false},
    [MV_ACTION(REOPEN)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, true},
    [MV_ACTION(WITHDRAW)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, true},
    [MV_ACTION(GRANT_LEGAL_AID)] = {MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET, false},
    [MV_ACTION(RECORD_RECEIPT)] = {MV_ARGS(RECEIPT), false},
};

/* Actions whose applied form names the other side of a handoff in to_unit. */
static bool names_other_unit(mv_action_kind kind, mv_state from) {
  return kind == MV_ACTION(ACCEPT) || kind == MV_ACTION(REFUSE) || kind == MV_ACTION(RECALL) ||
         (kind == MV_ACTION(WITHDRAW) && from == MV_STATE(TRANSFER));
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
    if (str_empty(actor->id))
      return 0;
    unsigned roles = MC_BY_ANY_UNIT;
    if (current != NULL && str_eq(current->holder, actor->id))
      roles |= MC_BY_HOLDER;
    if (current != NULL && current->transfer != NULL &&
        str_eq(current->transfer->to_unit, actor->id))
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

bool mc_state_is_final(mv_state state) {
  return state == MV_STATE(CLOSED) || state == MV_STATE(WITHDRAWN);
}

bool mc_is_overdue(const mv_case *c, int64_t now_ms) {
  return c != NULL && c->deadline_ms > 0 && now_ms > c->deadline_ms;
}

/* ---- hashing ---- */

typedef struct hash_sink {
  ProtobufCBuffer base;
  crypto_hash_sha256_state st;
} hash_sink;

static void hash_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data) {
  hash_sink *h = (hash_sink *)buf;
  crypto_hash_sha256_update(&h->st, data, len);
}

/* Packs straight into the hash: no buffer to allocate, so it cannot fail. */
void mc_event_hash(const mv_event *event, uint8_t out[MC_HASH_BYTES]) {
  hash_sink h = {.base = {.append = hash_append}};
  crypto_hash_sha256_init(&h.st);
  protobuf_c_message_pack_to_buffer(&event->base, &h.base);
  crypto_hash_sha256_final(&h.st, out);
}

void mc_event_hash_packed(const uint8_t *packed, size_t len, uint8_t out[MC_HASH_BYTES]) {
  crypto_hash_sha256(out, packed, len);
}

/* ---- one step ---- */

typedef enum run_mode { MODE_APPLY, MODE_REPLAY } run_mode;

/* Everything one step reads. */
typedef struct step_ctx {
  run_mode mode;
  const mc_registry *reg; /* MODE_APPLY only */
  int utc_offset_minutes;
  const mv_case *cur; /* NULL before TAKE_IN */
  const mv_action *act;
  const mv_actor *actor;
  int64_t now_ms;
  ProtobufCBinaryData request_id;
  int64_t replay_deadline_ms; /* MODE_REPLAY: the deadline the event recorded */
  const char *case_id;        /* for messages: the case's id, or the new id once checked */
  mv_state from;
  const mc_transition *row;
  mv_state to;
  int64_t deadline_ms;
} step_ctx;

/* The borrowed build of one step. Only the arrays are allocated (they are
 * owned here and freed by build_free); every string points into the current
 * case, the action or the actor. */
typedef struct build {
  mv_case next;
  mv_event ev;
  mv_action act;
  mv_actor actor;
  mv_intake intake;
  mv_party *party_copies;
  mv_party **parties;
  Mediation__V1__PendingTransfer transfer;
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__CourtResult court;
  Mediation__V1__Feedback feedback;
  mv_receipt receipt;
  char **units;
  mv_member **team;
  Mediation__V1__Session **sessions;
  uint8_t hash[MC_HASH_BYTES];
} build;

static void build_free(build *b) {
  free(b->party_copies);
  free(b->parties);
  free(b->units);
  free(b->team);
  free(b->sessions);
}

/* A struct copy of a message drops what the client sent that we do not
 * know: unknown fields never reach the case file. */
#define FORGET_UNKNOWN(m) ((m).base.n_unknown_fields = 0, (m).base.unknown_fields = NULL)

static const char *state_label(mv_state s) {
  return s == MV_STATE(UNSPECIFIED) ? "未受理" : mc_label_of(mc_state_names, (int)s);
}

static const char *state_name(mv_state s) {
  return s == MV_STATE(UNSPECIFIED) ? "no case yet" : mc_name_of(mc_state_names, (int)s);
}

static const char *action_name(mv_action_kind k) { return mc_name_of(mc_action_names, (int)k); }

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
static mc_code check_shape(const step_ctx *x, mc_err *err) {
  const mv_action *a = x->act;
  if (a->kind <= MV_ACTION(UNSPECIFIED) || a->kind >= ACTION_KINDS)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.kind: %s",
                      a->kind == MV_ACTION(UNSPECIFIED) ? "required" : "not a known action");
  Mediation__V1__CaseAction__ArgsCase want = specs[a->kind].args;
  Mediation__V1__CaseAction__ArgsCase got = a->args_case;
  /* A stored event names the other unit of a handoff (see the top of this
   * file); replay accepts that shape, the effect rewrites it, and the
   * comparison of the rebuilt event catches any difference. */
  if (x->mode == MODE_REPLAY && got == MV_ARGS(TO_UNIT) && names_other_unit(a->kind, x->from))
    got = want;
  if (got == want) {
    if (!args_present(a))
      return mc_err_set(err, MC_INVALID_ARGUMENT, "action.%s: required for %s", args_names[want],
                        action_name(a->kind));
    return MC_OK;
  }
  if (want == MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.%s: %s takes no arguments",
                      (size_t)got < sizeof(args_names) / sizeof(args_names[0]) && args_names[got]
                          ? args_names[got]
                          : "args",
                      action_name(a->kind));
  return mc_err_set(err, MC_INVALID_ARGUMENT, "action.%s: required for %s", args_names[want],
                    action_name(a->kind));
}

/* Appends "受理, 调处" (the states where kind is allowed) to buf. */
static void allowed_states(mv_action_kind kind, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < TABLE_ROWS; i++) {
    if (table[i].action != kind)
      continue;
    int n = snprintf(buf + used, cap - used, "%s%s (%s)", used ? ", " : "",
                     state_label(table[i].from), state_name(table[i].from));
    if (n < 0 || (size_t)n >= cap - used)
      return;
    used += (size_t)n;
  }
}

/* 2. Does the state allow the action at all? */
static mc_code check_state(step_ctx *x, mc_err *err) {
  mv_action_kind kind = x->act->kind;
  if (kind == MV_ACTION(TAKE_IN) && x->cur != NULL)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "case %s is in %s (%s); take_in is only for a new case", x->case_id,
                      state_label(x->from), state_name(x->from));
  x->row = find_row(x->from, kind);
  if (x->row != NULL)
    return MC_OK;
  char allowed[160];
  allowed_states(kind, allowed, sizeof(allowed));
  if (x->cur == NULL)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "there is no case yet; %s is allowed only in %s", action_name(kind),
                      allowed);
  return mc_err_set(err, MC_FAILED_PRECONDITION, "case %s is in %s (%s); %s is allowed only in %s",
                    x->case_id, state_label(x->from), state_name(x->from), action_name(kind),
                    allowed);
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
      {MC_BY_ANY_UNIT, "a registered unit", NULL},
      {MC_BY_HOLDER, "the holding unit", c ? c->holder : NULL},
      {MC_BY_TARGET, "the unit the case is offered to",
       c && c->transfer ? c->transfer->to_unit : NULL},
      {MC_BY_COORDINATOR, "a coordinator", NULL},
      {MC_BY_SYSTEM, "the router", NULL},
  };
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
    if (!(roles & parts[i].bit))
      continue;
    int n;
    if (!str_empty(parts[i].unit))
      n = snprintf(buf + used, cap - used, "%s%s (%s)", used ? " or " : "", parts[i].what,
                   parts[i].unit);
    else
      n = snprintf(buf + used, cap - used, "%s%s", used ? " or " : "", parts[i].what);
    if (n < 0 || (size_t)n >= cap - used)
      return;
    used += (size_t)n;
  }
}

/* 3. May this actor take it? */
static mc_code check_actor(const step_ctx *x, mc_err *err) {
  unsigned have = mc_roles_of(x->cur, x->actor);
  if ((have & x->row->roles) == 0) {
    char who[200];
    describe_roles(x->cur, x->row->roles, who, sizeof(who));
    if (x->cur == NULL)
      return mc_err_set(err, MC_PERMISSION_DENIED, "%s may be taken only by %s",
                        action_name(x->act->kind), who);
    return mc_err_set(err, MC_PERMISSION_DENIED, "case %s: %s in %s (%s) may be taken only by %s",
                      x->case_id, action_name(x->act->kind), state_label(x->from),
                      state_name(x->from), who);
  }
  if (x->mode == MODE_REPLAY)
    return MC_OK; /* a unit may have left the registry since */
  const char *id = x->actor->id ? x->actor->id : "";
  if (x->actor->kind == MV_PRINCIPAL(UNIT) && mc_registry_unit(x->reg, id) == NULL)
    return mc_err_set(err, MC_PERMISSION_DENIED, "actor.id: not a registered unit");
  if (x->actor->kind == MV_PRINCIPAL(COORDINATOR)) {
    const mc_principal *p = mc_registry_principal(x->reg, id);
    if (p == NULL || p->kind != MC_PRINCIPAL_COORDINATOR)
      return mc_err_set(err, MC_PERMISSION_DENIED, "actor.id: not a registered coordinator");
  }
  return MC_OK;
}

/* ---- 4. fields ---- */

#define TRY(expr)                                                                              \
  do {                                                                                         \
    mc_code rc_ = (expr);                                                                      \
    if (rc_ != MC_OK)                                                                          \
      return rc_;                                                                              \
  } while (0)

static bool known(const mc_name *table_, int value) {
  for (const mc_name *n = table_; n->name != NULL; n++) {
    if (n->value == value)
      return true;
  }
  return false;
}

static mc_code required_enum(const mc_name *names, int value, const char *field, mc_err *err) {
  if (value == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: required", field);
  if (!known(names, value))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: not a known value (%d)", field, value);
  return MC_OK;
}

static mc_code money(int64_t v, const mc_limits *lim, const char *field, mc_err *err) {
  if (v < 0 || v > lim->max_money_fen)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: must be 0 to %lld fen", field,
                      (long long)lim->max_money_fen);
  return MC_OK;
}

static mc_code required_text(const char *s, size_t max, const char *field, mc_err *err) {
  TRY(mc_text_check(s, max, field, err));
  if (str_blank(s))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: required", field);
  return MC_OK;
}

/* 身份证号: 18 characters (the last may be the check character X) or the
 * old 15 digits. ASCII only, so masking can count characters as bytes. */
static bool id_number_ok(const char *s) {
  size_t n = strnlen(s, 19);
  if (n != 15 && n != 18)
    return false;
  for (size_t i = 0; i < n; i++) {
    bool digit = s[i] >= '0' && s[i] <= '9';
    bool check_x = (s[i] == 'X' || s[i] == 'x') && n == 18 && i == n - 1;
    if (!digit && !check_x)
      return false;
  }
  return true;
}

static bool phone_ok(const char *s) {
  size_t n = strnlen(s, 21), digits = 0;
  if (n > 20)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] >= '0' && s[i] <= '9')
      digits++;
    else if (s[i] != '+' && s[i] != '-' && s[i] != ' ')
      return false;
  }
  return digits > 0;
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
                      "action.intake.community: not a registered community");
  TRY(mc_text_check(in->grid, lim->max_name_bytes, "action.intake.grid", err));
  if (!str_empty(in->grid) && com->n_grids > 0) {
    bool listed = false;
    for (size_t i = 0; i < com->n_grids && !listed; i++)
      listed = strcmp(com->grids[i], in->grid) == 0;
    if (!listed)
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "action.intake.grid: not a grid of community %s", com->id);
  }
  if (in->n_parties == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.intake.parties: at least one required");
  if (in->n_parties > lim->max_parties)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.intake.parties: more than %zu",
                      lim->max_parties);
  for (size_t i = 0; i < in->n_parties; i++) {
    const mv_party *p = in->parties[i];
    char field[64];
    if (p == NULL)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "action.intake.parties[%zu]: missing", i);
    snprintf(field, sizeof(field), "action.intake.parties[%zu].name", i);
    TRY(required_text(p->name, lim->max_name_bytes, field, err));
    snprintf(field, sizeof(field), "action.intake.parties[%zu].role", i);
    TRY(required_enum(mc_party_role_names, p->role, field, err));
    if (!str_empty(p->id_number) && !id_number_ok(p->id_number))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "action.intake.parties[%zu].id_number: expected 18 characters (digits, "
                        "the last may be X) or 15 digits",
                        i);
    if (!str_empty(p->phone) && !phone_ok(p->phone))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "action.intake.parties[%zu].phone: expected up to 20 of 0-9, '+', '-' "
                        "and space",
                        i);
  }
  TRY(money(in->money_fen, lim, "action.intake.money_fen", err));
  TRY(mc_text_check(in->summary, lim->max_text_bytes, "action.intake.summary", err));
  if (!known(mc_petition_names, in->petition))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.intake.petition: not a known value (%d)",
                      (int)in->petition);
  TRY(mc_text_check(in->unit_ref, lim->max_name_bytes, "action.intake.unit_ref", err));
  if (!str_empty(in->unit_ref) && !mc_unit_ref_valid(in->unit_ref))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.intake.unit_ref: expected the unit's reference for the case, "
                      MC_UNIT_REF_RULE " (such as PS-2026-0007); never personal data");
  if (in->workers > 0 && in->kind != MV_KIND(LABOUR))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.intake.workers: only for a labour dispute (劳资纠纷)");
  return MC_OK;
}

static mc_code check_receipt(const step_ctx *x, const mv_receipt *r, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  TRY(required_text(r->unit, lim->max_name_bytes, "action.receipt.unit", err));
  if (mc_registry_unit(x->reg, r->unit) == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.receipt.unit: not a registered unit");
  bool involved = false;
  for (size_t i = 0; i < x->cur->n_units_involved && !involved; i++)
    involved = str_eq(x->cur->units_involved[i], r->unit);
  if (!involved)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.receipt.unit: unit %s was never sent case %s", r->unit, x->case_id);
  if (r->delivery_seq == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.receipt.delivery_seq: required");
  if (!str_eq(r->case_id, x->cur->id))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.receipt.case_id: not case %s",
                      x->case_id);
  if (r->event_seq == 0 || r->event_seq > x->cur->event_count)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.receipt.event_seq: must be 1 to %u (case %s's events)",
                      x->cur->event_count, x->case_id);
  if (r->received_ms <= 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.receipt.received_ms: required");
  if (r->signature.len != ED25519_SIGNATURE_BYTES)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "action.receipt.signature: expected an Ed25519 signature (%d bytes)",
                      ED25519_SIGNATURE_BYTES);
  return MC_OK;
}

/* A unit checking an intake of its own before the router has seen it (its
 * outbox forwards it later) names the case by the reference the router will
 * also accept: "<unit>:<intake.unit_ref>", the unit being the actor. The
 * router never applies one: it always allocates an id first. */
static bool is_provisional_ref(const char *case_ref, const mv_actor *actor,
                               const mv_intake *in) {
  if (str_empty(case_ref) || actor->kind != MV_PRINCIPAL(UNIT) || str_empty(actor->id) ||
      in == NULL || str_empty(in->unit_ref))
    return false;
  size_t n = strlen(actor->id);
  return strncmp(case_ref, actor->id, n) == 0 && case_ref[n] == ':' &&
         strcmp(case_ref + n + 1, in->unit_ref) == 0;
}

static bool is_petition(const mv_case *c) {
  return c != NULL && c->intake != NULL && c->intake->petition != MV_PETITION(NONE);
}

static mc_code check_fields(const step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  const mv_action *a = x->act;
  TRY(mc_text_check(x->actor->person, lim->max_name_bytes, "actor.person", err));
  TRY(mc_text_check(a->person, lim->max_name_bytes, "action.person", err));
  TRY(mc_text_check(a->case_ref, lim->max_name_bytes, "action.case_ref", err));
  TRY(mc_text_check(a->reason, lim->max_text_bytes, "action.reason", err));
  if (specs[a->kind].reason_required && str_blank(a->reason))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action.reason: required for %s",
                      action_name(a->kind));

  switch (a->kind) {
  case MV_ACTION(TAKE_IN): {
    size_t plen = strlen(x->reg->case_prefix);
    bool allocated = !str_empty(a->case_ref) && mc_case_id_parse(a->case_ref, NULL, NULL) &&
                     strncmp(a->case_ref, x->reg->case_prefix, plen) == 0 &&
                     a->case_ref[plen] == '-';
    if (!allocated && !is_provisional_ref(a->case_ref, x->actor, a->intake))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "action.case_ref: take_in needs the case id the router allocated "
                        "(%s-<year>-<serial>), or, checked by the unit itself, its own "
                        "<unit>:<intake.unit_ref>",
                        x->reg->case_prefix);
    return check_intake(x->reg, a->intake, err);
  }
  case MV_ACTION(TRANSFER):
    TRY(required_text(a->to_unit, lim->max_name_bytes, "action.to_unit", err));
    if (mc_registry_unit(x->reg, a->to_unit) == NULL)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "action.to_unit: not a registered unit");
    return MC_OK;
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    TRY(required_text(a->member->person, lim->max_name_bytes, "action.member.person", err));
    TRY(required_enum(mc_team_role_names, a->member->role, "action.member.role", err));
    return mc_text_check(a->member->unit, lim->max_name_bytes, "action.member.unit", err);
  case MV_ACTION(RECORD_SESSION):
    if (a->session->held_ms <= 0)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "action.session.held_ms: required");
    return mc_text_check(a->session->note, lim->max_text_bytes, "action.session.note", err);
  case MV_ACTION(RECORD_OUTCOME): {
    const Mediation__V1__Outcome *o = a->outcome;
    TRY(required_enum(mc_outcome_names, o->kind, "action.outcome.kind", err));
    if (o->kind != MV_OUTCOME(AGREEMENT) && o->agreed_amount_fen != 0)
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "action.outcome.agreed_amount_fen: only for an agreement");
    TRY(money(o->agreed_amount_fen, lim, "action.outcome.agreed_amount_fen", err));
    if (o->resolution != MV_RESOLUTION(UNSPECIFIED)) {
      if (!known(mc_resolution_names, o->resolution))
        return mc_err_set(err, MC_INVALID_ARGUMENT,
                          "action.outcome.resolution: not a known value (%d)",
                          (int)o->resolution);
      if (!is_petition(x->cur))
        return mc_err_set(err, MC_INVALID_ARGUMENT,
                          "action.outcome.resolution: only for a petition case (信访积案)");
    }
    if (o->followup_due_ms < 0)
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "action.outcome.followup_due_ms: must not be negative");
    return mc_text_check(o->summary, lim->max_text_bytes, "action.outcome.summary", err);
  }
  case MV_ACTION(RECORD_COURT_RESULT):
    TRY(required_enum(mc_court_result_names, a->court_result->kind, "action.court_result.kind",
                      err));
    TRY(money(a->court_result->amount_fen, lim, "action.court_result.amount_fen", err));
    return mc_text_check(a->court_result->summary, lim->max_text_bytes,
                         "action.court_result.summary", err);
  case MV_ACTION(RECORD_FEEDBACK):
    TRY(required_enum(mc_satisfaction_names, a->feedback->satisfaction,
                      "action.feedback.satisfaction", err));
    if (a->feedback->visited_ms <= 0)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "action.feedback.visited_ms: required");
    return mc_text_check(a->feedback->note, lim->max_text_bytes, "action.feedback.note", err);
  case MV_ACTION(RECORD_RECEIPT):
    return check_receipt(x, a->receipt, err);
  default:
    return MC_OK;
  }
}

/* 5. Do the guards hold? */
static mc_code check_guard(const step_ctx *x, mc_err *err) {
  if (x->row->guard == NULL)
    return MC_OK;
  for (size_t i = 0; i < sizeof(guard_checks) / sizeof(guard_checks[0]); i++) {
    if (guard_checks[i].text != x->row->guard)
      continue;
    if (guard_checks[i].holds(x->cur, x->act))
      return MC_OK;
    return mc_err_set(err, MC_FAILED_PRECONDITION, "case %s: %s in %s (%s) needs: %s",
                      x->case_id, action_name(x->act->kind), state_label(x->from),
                      state_name(x->from), x->row->guard);
  }
  /* A row names a guard nobody checks: a programming error, refused loudly. */
  return mc_err_set(err, MC_INTERNAL, "case %s: guard \"%s\" has no check", x->case_id,
                    x->row->guard);
}

/* 6. Is there room in the case file? */
static mc_code check_limits(const step_ctx *x, mc_err *err) {
  const mc_limits *lim = &x->reg->limits;
  if (x->cur == NULL)
    return MC_OK;
  if (x->cur->event_count >= lim->max_events)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "case %s: the case file holds the most events allowed (max_events %zu)",
                      x->case_id, lim->max_events);
  if (x->act->kind == MV_ACTION(ASSIGN) && x->cur->n_team >= lim->max_team)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "case %s: the team holds the most entries allowed (max_team %zu)",
                      x->case_id, lim->max_team);
  if (x->act->kind == MV_ACTION(RECORD_SESSION) && x->cur->n_sessions >= lim->max_sessions)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "case %s: the case file holds the most sessions allowed (max_sessions %zu)",
                      x->case_id, lim->max_sessions);
  return MC_OK;
}

/* Where the row leads from this case. */
static mc_code resolve_to(step_ctx *x, mc_err *err) {
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
static int64_t deadline_after(const step_ctx *x) {
  if (x->to == x->from)
    return x->cur->deadline_ms;
  if (mc_state_is_final(x->to))
    return 0;
  if (x->act->kind == MV_ACTION(RECORD_OUTCOME) && x->act->outcome->followup_due_ms > 0)
    return x->act->outcome->followup_due_ms;
  int64_t limit = x->reg->deadline_ms[x->to];
  return limit > 0 ? x->now_ms + limit : 0;
}

static mc_code replay_deadline(step_ctx *x, mc_err *err) {
  int64_t d = x->replay_deadline_ms;
  if (x->to == x->from && d != x->cur->deadline_ms)
    return mc_err_set(err, MC_DATA_LOSS, "the step keeps state %s but changes the deadline",
                      state_name(x->to));
  if (mc_state_is_final(x->to) && d != 0)
    return mc_err_set(err, MC_DATA_LOSS, "final state %s with a deadline", state_name(x->to));
  x->deadline_ms = d;
  return MC_OK;
}

/* UNAVAILABLE, not RESOURCE_EXHAUSTED: that one is a full case file, a
 * refusal of the step; running out of memory decides nothing about the
 * step, so its sender must send it again (services/unit un_code_is_refusal). */
static mc_code out_of_memory(mc_err *err) {
  return mc_err_set(err, MC_UNAVAILABLE, "out of memory");
}

/* Copies an array of pointers with room for one more. */
static void *grow_copy(void *const *items, size_t n) {
  void **out = malloc((n + 1) * sizeof(void *));
  if (out != NULL && n > 0)
    memcpy(out, items, n * sizeof(void *));
  return out;
}

/* The effect of the step: fills b->next and b->act from the current case
 * and the action. Only the arrays of b are allocated. */
static mc_code build_effect(const step_ctx *x, build *b, mc_err *err) {
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

  switch (a->kind) {
  case MV_ACTION(TAKE_IN): {
    b->intake = *a->intake;
    FORGET_UNKNOWN(b->intake);
    size_t n = a->intake->n_parties;
    b->party_copies = malloc((n + 1) * sizeof(mv_party));
    b->parties = malloc((n + 1) * sizeof(mv_party *));
    b->units = malloc(sizeof(char *));
    if (b->party_copies == NULL || b->parties == NULL || b->units == NULL)
      return out_of_memory(err);
    for (size_t i = 0; i < n; i++) {
      b->party_copies[i] = *a->intake->parties[i];
      FORGET_UNKNOWN(b->party_copies[i]);
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
    break;
  }
  case MV_ACTION(TRANSFER): {
    mediation__v1__pending_transfer__init(&b->transfer);
    b->transfer.from_unit = cur->holder;
    b->transfer.to_unit = a->to_unit;
    b->transfer.reason = a->reason;
    b->transfer.offered_ms = x->now_ms;
    b->transfer.return_state = x->from;
    b->next.transfer = &b->transfer;
    bool seen = false;
    for (size_t i = 0; i < cur->n_units_involved && !seen; i++)
      seen = str_eq(cur->units_involved[i], a->to_unit);
    if (!seen) {
      if ((b->units = grow_copy((void *const *)cur->units_involved, cur->n_units_involved)) == NULL)
        return out_of_memory(err);
      b->units[cur->n_units_involved] = a->to_unit;
      b->next.units_involved = b->units;
      b->next.n_units_involved = cur->n_units_involved + 1;
    }
    break;
  }
  case MV_ACTION(ACCEPT):
    b->next.holder = cur->transfer->to_unit;
    b->next.transfer = NULL;
    b->act.args_case = MV_ARGS(TO_UNIT);
    b->act.to_unit = cur->transfer->from_unit;
    break;
  case MV_ACTION(REFUSE):
    b->next.transfer = NULL;
    b->act.args_case = MV_ARGS(TO_UNIT);
    b->act.to_unit = cur->transfer->from_unit;
    break;
  case MV_ACTION(RECALL):
    b->next.transfer = NULL;
    b->act.args_case = MV_ARGS(TO_UNIT);
    b->act.to_unit = cur->transfer->to_unit;
    break;
  case MV_ACTION(WITHDRAW):
    if (x->from == MV_STATE(TRANSFER)) {
      b->next.transfer = NULL;
      b->act.args_case = MV_ARGS(TO_UNIT);
      b->act.to_unit = cur->transfer->to_unit;
    }
    break;
  case MV_ACTION(ASSIGN):
    mediation__v1__team_member__init(&b->member);
    b->member.unit = cur->holder;
    b->member.person = a->member->person;
    b->member.role = a->member->role;
    b->member.assigned_ms = x->now_ms;
    b->act.member = &b->member;
    if ((b->team = grow_copy((void *const *)cur->team, cur->n_team)) == NULL)
      return out_of_memory(err);
    b->team[cur->n_team] = &b->member;
    b->next.team = b->team;
    b->next.n_team = cur->n_team + 1;
    break;
  case MV_ACTION(RELEASE): {
    long i = find_active_member(cur, a->member->person, a->member->role);
    b->member = *cur->team[i];
    b->member.released_ms = x->now_ms;
    b->act.member = &b->member;
    if ((b->team = grow_copy((void *const *)cur->team, cur->n_team)) == NULL)
      return out_of_memory(err);
    b->team[i] = &b->member;
    b->next.team = b->team;
    break;
  }
  case MV_ACTION(RECORD_SESSION):
    b->session = *a->session;
    FORGET_UNKNOWN(b->session);
    b->act.session = &b->session;
    if ((b->sessions = grow_copy((void *const *)cur->sessions, cur->n_sessions)) == NULL)
      return out_of_memory(err);
    b->sessions[cur->n_sessions] = &b->session;
    b->next.sessions = b->sessions;
    b->next.n_sessions = cur->n_sessions + 1;
    break;
  case MV_ACTION(RECORD_OUTCOME):
    b->outcome = *a->outcome;
    FORGET_UNKNOWN(b->outcome);
    b->outcome.recorded_ms = x->now_ms;
    b->act.outcome = &b->outcome;
    b->next.outcome = &b->outcome;
    if (b->next.mediated_ms == 0)
      b->next.mediated_ms = x->now_ms;
    break;
  case MV_ACTION(SEND_TO_LITIGATION):
    if (x->from == MV_STATE(MEDIATION)) {
      mediation__v1__outcome__init(&b->outcome);
      b->outcome.kind = MV_OUTCOME(NO_AGREEMENT);
      b->outcome.recorded_ms = x->now_ms;
      b->next.outcome = &b->outcome;
      if (b->next.mediated_ms == 0)
        b->next.mediated_ms = x->now_ms;
    }
    break;
  case MV_ACTION(RECORD_COURT_RESULT):
    b->court = *a->court_result;
    FORGET_UNKNOWN(b->court);
    b->court.recorded_ms = x->now_ms;
    b->act.court_result = &b->court;
    b->next.court_result = &b->court;
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    b->feedback = *a->feedback;
    FORGET_UNKNOWN(b->feedback);
    b->feedback.recorded_ms = x->now_ms;
    b->act.feedback = &b->feedback;
    b->next.feedback = &b->feedback;
    break;
  case MV_ACTION(REOPEN):
    b->next.reopen_count = cur->reopen_count + 1;
    b->next.feedback = NULL;
    b->next.court_result = NULL;
    break;
  case MV_ACTION(GRANT_LEGAL_AID):
    b->next.legal_aid = true;
    break;
  case MV_ACTION(RECORD_RECEIPT):
    b->receipt = *a->receipt;
    FORGET_UNKNOWN(b->receipt);
    b->act.receipt = &b->receipt;
    break;
  default: /* START_MEDIATION, CLOSE: the state change is all */
    break;
  }

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
static mc_code run_step(step_ctx *x, build *b, mc_err *err) {
  x->from = x->cur ? x->cur->state : MV_STATE(UNSPECIFIED);
  TRY(check_shape(x, err));
  if (x->cur != NULL) {
    x->case_id = x->cur->id ? x->cur->id : "";
  } else if (x->act->kind == MV_ACTION(TAKE_IN) && !str_empty(x->act->case_ref) &&
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
static mc_code own_case(build *b, const uint8_t *event_bytes, size_t event_len, mv_case **out,
                        mc_err *err) {
  mc_event_hash_packed(event_bytes, event_len, b->hash);
  b->next.last_event_hash.data = b->hash;
  b->next.last_event_hash.len = MC_HASH_BYTES;
  size_t len;
  uint8_t *bytes = pack_new(&b->next.base, &len);
  if (bytes == NULL)
    return out_of_memory(err);
  mv_case *c = mediation__v1__case__unpack(NULL, len, bytes);
  free(bytes);
  if (c == NULL)
    return out_of_memory(err);
  *out = c;
  return MC_OK;
}

mc_code mc_apply(const mc_registry *reg, const mc_step *step, mv_case **next_out,
                 mv_event **event_out, mc_err *err) {
  if (reg == NULL || step == NULL || step->action == NULL || step->actor == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "step: registry, action and actor are required");
  step_ctx x = {
      .mode = MODE_APPLY,
      .reg = reg,
      .utc_offset_minutes = reg->utc_offset_minutes,
      .cur = step->current,
      .act = step->action,
      .actor = step->actor,
      .now_ms = step->now_ms,
      .request_id = step->request_id,
  };
  build b = {0};
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
    rc = out_of_memory(err);
  } else {
    rc = own_case(&b, ev_bytes, ev_len, &next, err);
    if (rc == MC_OK && (ev = mediation__v1__case_event__unpack(NULL, ev_len, ev_bytes)) == NULL) {
      protobuf_c_message_free_unpacked(&next->base, NULL);
      rc = out_of_memory(err);
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
  if (!str_eq(want->case_id, got->case_id))
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
  if (!str_eq(want->holder, got->holder))
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
  step_ctx x = {
      .mode = MODE_REPLAY,
      .utc_offset_minutes = utc_offset_minutes,
      .cur = current,
      .act = event->action,
      .actor = event->actor,
      .now_ms = event->at_ms,
      .request_id = event->request_id,
      .replay_deadline_ms = event->deadline_ms,
  };
  build b = {0};
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
    rc = out_of_memory(err);
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

size_t mc_deliveries_for(const mv_event *event, mc_delivery_target out[2]) {
  if (event == NULL || event->action == NULL)
    return 0;
  const mv_action *a = event->action;
  if (a->args_case != MV_ARGS(TO_UNIT) || str_empty(a->to_unit))
    return 0;
  Mediation__V1__DeliveryKind kind;
  switch (a->kind) {
  case MV_ACTION(TRANSFER):
    kind = MV_DELIVERY(OFFER);
    break;
  case MV_ACTION(ACCEPT):
    kind = MV_DELIVERY(ACCEPTED);
    break;
  case MV_ACTION(REFUSE):
    kind = MV_DELIVERY(REFUSED);
    break;
  case MV_ACTION(RECALL):
    kind = MV_DELIVERY(RECALLED);
    break;
  case MV_ACTION(WITHDRAW):
    if (event->from_state != MV_STATE(TRANSFER))
      return 0;
    kind = MV_DELIVERY(RECALLED);
    break;
  default:
    return 0;
  }
  out[0].unit = a->to_unit;
  out[0].kind = kind;
  return 1;
}
