/*
 * cmd_step.c - the steps operators take on a case through their own unit's
 * service (Desk), and how a Desk's answer is printed (intake's too).
 *
 * The steps (accept, refuse, transfer, ..., close) differ only in which
 * arguments they carry, so one set of ops serves them all: each command's table
 * entry names its action and the options it takes and needs (CTL_SO_*), and
 * the getopt table is built from those bits, so an option that does not
 * apply is refused as unknown. recall and reopen are also a coordinator's
 * steps in the state machine: without --unit they go to the router, signed
 * as the coordinator.
 *
 * A Desk answers a step with the steps it took: the operator's first, then
 * those its policy added (the police studio refers a family dispute on; the
 * marriage studio assigns its team). Each is applied by the router, queued
 * in the unit's outbox while the router is unreachable, or refused. A
 * refusal of the operator's own step is the command's failure (exit 3 or 5,
 * with the code and message). The policy's steps are part of the answer
 * too: one refused leaves the case other than planned (exit 6), one still
 * queued after the operator's step was applied leaves it half-done at the
 * router for now (exit 7), each said on stderr. Only an operator's step
 * queued with all its policy's (the router unreachable: all of it waits
 * together) or everything applied is a plain 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/actions.h"
#include "services/coordinator/ctl.h"

enum {
  O_REASON = 300,
  O_PERSON,
  O_TO,
  O_ROLE,
  O_NOTE,
  O_AT,
  O_AGREEMENT,
  O_NO_AGREEMENT,
  O_AMOUNT,
  O_RESOLUTION,
  O_SUMMARY,
  O_FOLLOWUP,
  O_RESULT,
  O_SATISFACTION,
  O_VISITED,
  O_TERMS,
  O_PERF_METHOD,
  O_PERF_DUE,
};

typedef struct step_option {
  unsigned bit;
  struct option opt;
} step_option;

static const step_option step_options[] = {
    {CTL_SO_REASON, {"reason", required_argument, NULL, O_REASON}},
    {CTL_SO_PERSON, {"person", required_argument, NULL, O_PERSON}},
    {CTL_SO_TO, {"to", required_argument, NULL, O_TO}},
    {CTL_SO_ROLE, {"role", required_argument, NULL, O_ROLE}},
    {CTL_SO_NOTE, {"note", required_argument, NULL, O_NOTE}},
    {CTL_SO_AT, {"at", required_argument, NULL, O_AT}},
    {CTL_SO_AGREEMENT, {"agreement", no_argument, NULL, O_AGREEMENT}},
    {CTL_SO_AGREEMENT, {"no-agreement", no_argument, NULL, O_NO_AGREEMENT}},
    {CTL_SO_AMOUNT, {"amount-yuan", required_argument, NULL, O_AMOUNT}},
    {CTL_SO_RESOLUTION, {"resolution", required_argument, NULL, O_RESOLUTION}},
    {CTL_SO_SUMMARY, {"summary", required_argument, NULL, O_SUMMARY}},
    {CTL_SO_FOLLOWUP, {"followup-due", required_argument, NULL, O_FOLLOWUP}},
    {CTL_SO_RESULT, {"result", required_argument, NULL, O_RESULT}},
    {CTL_SO_SATISFACTION, {"satisfaction", required_argument, NULL, O_SATISFACTION}},
    {CTL_SO_VISITED, {"visited", required_argument, NULL, O_VISITED}},
    {CTL_SO_TERMS, {"terms", required_argument, NULL, O_TERMS}},
    {CTL_SO_TERMS, {"performance-method", required_argument, NULL, O_PERF_METHOD}},
    {CTL_SO_TERMS, {"performance-due", required_argument, NULL, O_PERF_DUE}},
};
#define N_STEP_OPTIONS (sizeof(step_options) / sizeof(step_options[0]))

static const char *option_of_bit(unsigned bit) {
  if (bit == CTL_SO_AGREEMENT)
    return "agreement or --no-agreement";
  for (size_t i = 0; i < N_STEP_OPTIONS; i++) {
    if (step_options[i].bit == bit)
      return step_options[i].opt.name;
  }
  return "?";
}

/* ---- printing what a Desk did ---- */

static const char *disposition_label(Mediation__V1__DeskDisposition d) {
  switch (d) {
  case MV_DISPOSITION(APPLIED): return "已生效";
  case MV_DISPOSITION(QUEUED): return "已排队，待转发";
  case MV_DISPOSITION(REFUSED): return "被拒绝";
  default: return "?";
  }
}

/* say_why: print why a queued step waits (the reply has no note saying it). */
static void print_step(const ctl_ctx *ctx, const Mediation__V1__DeskStep *s, bool policy,
                       bool say_why) {
  char detail[1200] = "";
  if (s->action != NULL) {
    mv_event ev = MEDIATION__V1__CASE_EVENT__INIT;
    ev.action = s->action;
    ctl_event_detail(ctx, &ev, detail, sizeof(detail));
  }
  int kind = s->action ? s->action->kind : 0;
  if (kind == 0) /* a step the policy could not plan */
    printf("  %s后续步骤（policy）：%s", policy ? "单位规则 " : "", disposition_label(s->disposition));
  else
    printf("  %s%s（%s）%s%s：%s", policy ? "单位规则 " : "", mc_label_of(mc_action_names, kind),
           mc_name_of(mc_action_names, kind), detail[0] ? " " : "", detail,
           disposition_label(s->disposition));
  if (s->disposition == MV_DISPOSITION(QUEUED))
    printf("（出件箱 #%llu）", (unsigned long long)s->outbox_seq);
  if (s->disposition == MV_DISPOSITION(QUEUED) && s->message[0] != '\0' && say_why)
    printf("：%s", s->message);
  if (s->disposition == MV_DISPOSITION(REFUSED))
    printf("：%s：%s", mc_code_name((mc_code)s->code), s->message);
  putchar('\n');
}

/* The exit code the policy's steps give a reply whose operator's step was
 * taken (see the top of the file), said on stderr. */
static int policy_steps_exit(const ctl_ctx *ctx, const Mediation__V1__DeskReply *r) {
  const Mediation__V1__DeskStep *refused = NULL, *queued = NULL;
  size_t n_refused = 0, n_queued = 0;
  for (size_t i = 1; i < r->n_steps; i++) {
    const Mediation__V1__DeskStep *s = r->steps[i];
    if (s->disposition == MV_DISPOSITION(REFUSED) && n_refused++ == 0)
      refused = s;
    if (s->disposition == MV_DISPOSITION(QUEUED) && n_queued++ == 0)
      queued = s;
  }
  const char *unit = ctx->unit != NULL ? ctx->unit->id : "UNIT";
  if (refused != NULL) {
    int kind = refused->action ? refused->action->kind : 0;
    fprintf(stderr,
            "mediactl: partly done: %zu step(s) the unit's policy added were refused, first "
            "%s: %s: %s\n",
            n_refused, kind ? mc_name_of(mc_action_names, kind) : "policy",
            mc_code_name((mc_code)refused->code),
            refused->message[0] ? refused->message : _(mc_code_text((mc_code)refused->code)));
    return CTL_EXIT_PARTIAL;
  }
  bool applied = r->n_steps > 0 && r->steps[0]->disposition == MV_DISPOSITION(APPLIED);
  if (applied && queued != NULL) {
    int kind = queued->action ? queued->action->kind : 0;
    fprintf(stderr,
            "mediactl: partly applied: %zu step(s) the unit's policy added are still queued, "
            "first %s (outbox #%llu); they are forwarded in order (`mediactl --unit %s "
            "conflicts` shows what waits)\n",
            n_queued, mc_name_of(mc_action_names, kind),
            (unsigned long long)queued->outbox_seq, unit);
    return CTL_EXIT_PENDING;
  }
  return CTL_EXIT_OK;
}

int ctl_render_desk_reply(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__DeskReply *r = (const Mediation__V1__DeskReply *)reply;
  const Mediation__V1__DeskStep *first = r->n_steps > 0 ? r->steps[0] : NULL;
  if (first != NULL && first->disposition == MV_DISPOSITION(REFUSED))
    return CTL_EXIT_OK; /* ctl_desk_reply_exit says why */
  if (r->case_record != NULL)
    ctl_print_case_line(ctx, r->case_record, stdout);
  if (r->case_record != NULL && first != NULL && first->action != NULL &&
      first->action->kind == MV_ACTION(TAKE_IN))
    ctl_print_repeats(r->case_record, stdout); /* said at intake, where it matters */
  for (size_t i = 0; i < r->n_steps; i++)
    print_step(ctx, r->steps[i], i > 0, i == 0 && !r->stale);
  /* Why the router is away, when the unit knows: a TLS setting to fix is
   * not the same as a router that is down. */
  if (r->stale)
    printf("（%s：以上为本单位的本地副本，可能不是最新）\n",
           r->router_problem[0] ? r->router_problem : "路由暂不可达");
  return CTL_EXIT_OK;
}

int ctl_desk_reply_exit(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__DeskReply *r = (const Mediation__V1__DeskReply *)reply;
  const Mediation__V1__DeskStep *first = r->n_steps > 0 ? r->steps[0] : NULL;
  if (first != NULL && first->disposition == MV_DISPOSITION(REFUSED)) {
    mc_code code = (mc_code)first->code != MC_OK ? (mc_code)first->code : MC_FAILED_PRECONDITION;
    return ctl_status_fail(code, first->message);
  }
  return policy_steps_exit(ctx, r);
}

/* The router's answer to a coordinator's step (recall, reopen without --unit). */
static void print_apply_reply(const ctl_ctx *ctx, const Mediation__V1__ApplyReply *r) {
  if (r->case_record != NULL)
    ctl_print_case_line(ctx, r->case_record, stdout);
  if (r->event != NULL && r->event->action != NULL) {
    char detail[1200];
    ctl_event_detail(ctx, r->event, detail, sizeof(detail));
    int kind = r->event->action->kind;
    printf("  %s（%s）%s%s：已生效（案卷第%u步）\n", mc_label_of(mc_action_names, kind),
           mc_name_of(mc_action_names, kind), detail[0] ? " " : "", detail, r->event->seq);
  }
}

static int time_arg(ctl_ctx *ctx, const char *option, const char *text, int64_t *ms) {
  if (text == NULL) {
    *ms = mc_now_ms();
    return CTL_EXIT_OK;
  }
  if (ctl_parse_time(ctx, text, ms) == 0)
    return CTL_EXIT_OK;
  return ctl_usage_error(ctx, _("%s: expected now, YYYY-MM-DD or \"YYYY-MM-DD HH:MM\""), option);
}

static int64_t max_fen(const ctl_ctx *ctx) { return ctx->reg->limits.max_money_fen; }


/* A step command's state: the options it takes, their values as given, and
 * the request built from them (borrowing argv). */
typedef struct step_state {
  struct option options[N_STEP_OPTIONS + 1];
  const char *reason, *person, *to, *role, *note, *at, *amount, *resolution, *summary, *followup,
      *result, *satisfaction, *visited, *terms, *perf_method, *perf_due;
  int agreement; /* -1 not given, 1 --agreement, 0 --no-agreement */
  unsigned given;
  mv_action action;
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__CourtResult court;
  Mediation__V1__Feedback feedback;
  Mediation__V1__DeskActRequest act;
  Mediation__V1__ApplyRequest apply;
} step_state;

/* The options a step needs: its entry's, and --reason when the action's
 * definition (core/actions.h) needs a reason, as the state machine will. */
static unsigned step_required(const ctl_command *cmd) {
  const mc_action_def *def = mc_action_def_of(cmd->action);
  return cmd->step_required | (def != NULL && def->reason_required ? CTL_SO_REASON : 0);
}

/* The oneof member of the step's action (its definition). */
static Mediation__V1__CaseAction__ArgsCase step_args_case(const ctl_command *cmd) {
  const mc_action_def *def = mc_action_def_of(cmd->action);
  return def != NULL ? def->args : MEDIATION__V1__CASE_ACTION__ARGS__NOT_SET;
}

static void step_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  ((step_state *)st)->agreement = -1;
}

/* The getopt table is built from the entry's step_opts, so an option that
 * does not apply is refused as unknown. */
static const struct option *step_options_of(ctl_ctx *ctx, void *st) {
  step_state *s = st;
  size_t n = 0;
  for (size_t i = 0; i < N_STEP_OPTIONS; i++) {
    if (ctx->cmd->step_opts & step_options[i].bit)
      s->options[n++] = step_options[i].opt;
  }
  memset(&s->options[n], 0, sizeof(s->options[n]));
  return s->options;
}

static int step_take_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  step_state *a = st;
  switch (c) {
  case O_REASON: a->reason = value; a->given |= CTL_SO_REASON; break;
  case O_PERSON: a->person = value; a->given |= CTL_SO_PERSON; break;
  case O_TO: a->to = value; a->given |= CTL_SO_TO; break;
  case O_ROLE: a->role = value; a->given |= CTL_SO_ROLE; break;
  case O_NOTE: a->note = value; a->given |= CTL_SO_NOTE; break;
  case O_AT: a->at = value; a->given |= CTL_SO_AT; break;
  case O_AGREEMENT:
  case O_NO_AGREEMENT:
    if (a->agreement != -1 && a->agreement != (c == O_AGREEMENT))
      return ctl_usage_error(ctx, _("give --agreement or --no-agreement, not both"));
    a->agreement = c == O_AGREEMENT;
    a->given |= CTL_SO_AGREEMENT;
    break;
  case O_AMOUNT: a->amount = value; a->given |= CTL_SO_AMOUNT; break;
  case O_RESOLUTION: a->resolution = value; a->given |= CTL_SO_RESOLUTION; break;
  case O_SUMMARY: a->summary = value; a->given |= CTL_SO_SUMMARY; break;
  case O_FOLLOWUP: a->followup = value; a->given |= CTL_SO_FOLLOWUP; break;
  case O_RESULT: a->result = value; a->given |= CTL_SO_RESULT; break;
  case O_SATISFACTION: a->satisfaction = value; a->given |= CTL_SO_SATISFACTION; break;
  case O_VISITED: a->visited = value; a->given |= CTL_SO_VISITED; break;
  case O_TERMS: a->terms = value; a->given |= CTL_SO_TERMS; break;
  case O_PERF_METHOD: a->perf_method = value; a->given |= CTL_SO_TERMS; break;
  case O_PERF_DUE: a->perf_due = value; a->given |= CTL_SO_TERMS; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

static int step_options_done(ctl_ctx *ctx, void *st) {
  const step_state *a = st;
  unsigned missing = step_required(ctx->cmd) & ~a->given;
  for (unsigned bit = 1; missing != 0; bit <<= 1) {
    if (missing & bit)
      return ctl_usage_error(ctx, _("--%s is required"), option_of_bit(bit));
  }
  if (a->amount != NULL && a->agreement == 0)
    return ctl_usage_error(ctx, _("--amount-yuan goes with --agreement, not --no-agreement"));
  if ((a->given & CTL_SO_TERMS) && a->agreement == 0)
    return ctl_usage_error(ctx, _("--terms and --performance-* go with --agreement"));
  if (a->reason != NULL && a->reason[0] == '\0')
    return ctl_usage_error(ctx, _("--reason: give the reason"));
  return CTL_EXIT_OK;
}

static int outcome_args(ctl_ctx *ctx, step_state *a) {
  int rc, v;
  a->outcome.kind = a->agreement == 1 ? MV_OUTCOME(AGREEMENT) : MV_OUTCOME(NO_AGREEMENT);
  if (a->amount != NULL &&
      ctl_parse_yuan(a->amount, max_fen(ctx), &a->outcome.agreed_amount_fen) != 0)
    return ctl_usage_error(ctx, _("--amount-yuan: expected yuan such as 1200 or 1200.50"));
  if (a->resolution != NULL) {
    if ((rc = ctl_enum_option(ctx, mc_resolution_names, "--resolution", a->resolution, &v)) !=
        CTL_EXIT_OK)
      return rc;
    a->outcome.resolution = v;
  }
  if (a->followup != NULL &&
      (rc = time_arg(ctx, "--followup-due", a->followup, &a->outcome.followup_due_ms)) !=
          CTL_EXIT_OK)
    return rc;
  if (a->perf_due != NULL &&
      (rc = time_arg(ctx, "--performance-due", a->perf_due, &a->outcome.performance_due_ms)) !=
          CTL_EXIT_OK)
    return rc;
  a->outcome.terms = (char *)(a->terms ? a->terms : "");
  a->outcome.performance_method = (char *)(a->perf_method ? a->perf_method : "");
  a->outcome.summary = (char *)(a->summary ? a->summary : "");
  a->action.outcome = &a->outcome;
  return CTL_EXIT_OK;
}

/* The member of the action's oneof that this step carries, from its options. */
static int step_action_args(ctl_ctx *ctx, step_state *a) {
  int rc = CTL_EXIT_OK, v;
  switch (ctx->cmd->action) {
  case MV_ACTION(TRANSFER): {
    /* Without --to the unit's policy chooses the receiving unit: the Desk
     * gets an empty to_unit. */
    const mc_unit *to = NULL;
    if (a->to != NULL && (rc = ctl_find_unit(ctx, a->to, "--to", &to)) != CTL_EXIT_OK)
      return rc;
    a->action.to_unit = (char *)(to ? to->id : "");
    break;
  }
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    if ((rc = ctl_enum_option(ctx, mc_team_role_names, "--role", a->role, &v)) != CTL_EXIT_OK)
      return rc;
    a->member.role = v;
    /* assign: an empty person lets the policy choose */
    a->member.person = (char *)(a->person ? a->person : "");
    a->action.person = (char *)"";
    a->action.member = &a->member;
    break;
  case MV_ACTION(RECORD_SESSION):
    if ((rc = time_arg(ctx, "--at", a->at, &a->session.held_ms)) != CTL_EXIT_OK)
      return rc;
    a->session.note = (char *)(a->note ? a->note : "");
    a->action.session = &a->session;
    break;
  case MV_ACTION(RECORD_OUTCOME):
    return outcome_args(ctx, a);
  case MV_ACTION(RECORD_COURT_RESULT):
    if ((rc = ctl_enum_option(ctx, mc_court_result_names, "--result", a->result, &v)) !=
        CTL_EXIT_OK)
      return rc;
    a->court.kind = v;
    if (a->amount != NULL && ctl_parse_yuan(a->amount, max_fen(ctx), &a->court.amount_fen) != 0)
      return ctl_usage_error(ctx, _("--amount-yuan: expected yuan such as 1200 or 1200.50"));
    a->court.summary = (char *)(a->summary ? a->summary : "");
    a->action.court_result = &a->court;
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    if ((rc = ctl_enum_option(ctx, mc_satisfaction_names, "--satisfaction", a->satisfaction,
                              &v)) != CTL_EXIT_OK)
      return rc;
    a->feedback.satisfaction = v;
    if ((rc = time_arg(ctx, "--visited", a->visited, &a->feedback.visited_ms)) != CTL_EXIT_OK)
      return rc;
    a->feedback.note = (char *)(a->note ? a->note : "");
    a->action.feedback = &a->feedback;
    break;
  default:
    break;
  }
  return rc;
}

/* One step: to the unit's Desk with --unit, else (recall, reopen) to the
 * router as the coordinator. */
static int step_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  step_state *a = st;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  mediation__v1__case_action__init(&a->action);
  mediation__v1__team_member__init(&a->member);
  mediation__v1__session__init(&a->session);
  mediation__v1__outcome__init(&a->outcome);
  mediation__v1__court_result__init(&a->court);
  mediation__v1__feedback__init(&a->feedback);
  a->action.kind = ctx->cmd->action;
  const char *ref;
  if ((rc = ctl_case_arg(ctx, ctx->arg, "CASE", false, &ref)) != CTL_EXIT_OK)
    return rc;
  a->action.case_ref = (char *)ref;
  a->action.reason = (char *)(a->reason ? a->reason : "");
  a->action.person = (char *)(a->person ? a->person : "");
  a->action.args_case = step_args_case(ctx->cmd); /* its member is filled in below */
  if ((rc = step_action_args(ctx, a)) != CTL_EXIT_OK)
    return rc;
  if (ctl_wants_desk(ctx)) {
    mediation__v1__desk_act_request__init(&a->act);
    a->act.action = &a->action;
    *req = (ctl_request){&mediation__v1__desk__descriptor, "Act", &a->act.base};
  } else {
    mediation__v1__apply_request__init(&a->apply);
    a->apply.action = &a->action;
    *req = (ctl_request){&mediation__v1__router__descriptor, "Apply", &a->apply.base};
  }
  return CTL_EXIT_OK;
}

static int step_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  if (ctx->desk)
    return ctl_render_desk_reply(ctx, st, reply);
  print_apply_reply(ctx, (const Mediation__V1__ApplyReply *)reply);
  return CTL_EXIT_OK;
}

static int step_verdict(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  return ctx->desk ? ctl_desk_reply_exit(ctx, st, reply) : CTL_EXIT_OK;
}

const ctl_ops ctl_step_ops = {
    .state_size = sizeof(step_state),
    .args = "CASE (" CTL_CASE_FORMS ")",
    .init = step_init,
    .options_of = step_options_of,
    .option = step_take_option,
    .options_done = step_options_done,
    .build = step_build,
    .render = step_render,
    .verdict = step_verdict,
};
