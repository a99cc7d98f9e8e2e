/*
 * cmd_desk.c - what operators do, through their own unit's service (Desk):
 * take a case in, every step on a case, and the unit's inbox, cases,
 * conflicts and roster.
 *
 * The steps (accept, refuse, transfer, ..., close) differ only in which
 * arguments they carry, so one handler serves them all: each command's table
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
            refused->message[0] ? refused->message : mc_code_text((mc_code)refused->code));
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

/* Prints (or --json) a Desk's reply and returns the command's exit code. */
static int desk_reply_out(const ctl_ctx *ctx, const Mediation__V1__DeskReply *r) {
  const Mediation__V1__DeskStep *first = r->n_steps > 0 ? r->steps[0] : NULL;
  bool refused = first != NULL && first->disposition == MV_DISPOSITION(REFUSED);
  if (ctx->json) {
    int rc = ctl_json_print_message(&r->base);
    if (rc != CTL_EXIT_OK)
      return rc;
  } else if (!refused) {
    if (r->case_record != NULL)
      ctl_print_case_line(ctx, r->case_record, stdout);
    for (size_t i = 0; i < r->n_steps; i++)
      print_step(ctx, r->steps[i], i > 0, i == 0 && !r->stale);
    /* Why the router is away, when the unit knows: a TLS setting to fix is
     * not the same as a router that is down. */
    if (r->stale)
      printf("（%s：以上为本单位的本地副本，可能不是最新）\n",
             r->router_problem[0] ? r->router_problem : "路由暂不可达");
  }
  if (refused) {
    mc_code code = (mc_code)first->code != MC_OK ? (mc_code)first->code : MC_FAILED_PRECONDITION;
    return ctl_status_fail(code, first->message);
  }
  return policy_steps_exit(ctx, r);
}

static int apply_reply_out(const ctl_ctx *ctx, const Mediation__V1__ApplyReply *r) {
  if (ctx->json)
    return ctl_json_print_message(&r->base);
  if (r->case_record != NULL)
    ctl_print_case_line(ctx, r->case_record, stdout);
  if (r->event != NULL && r->event->action != NULL) {
    char detail[1200];
    ctl_event_detail(ctx, r->event, detail, sizeof(detail));
    int kind = r->event->action->kind;
    printf("  %s（%s）%s%s：已生效（案卷第%u步）\n", mc_label_of(mc_action_names, kind),
           mc_name_of(mc_action_names, kind), detail[0] ? " " : "", detail, r->event->seq);
  }
  return CTL_EXIT_OK;
}

/* Sends one step: to the unit's Desk with --unit, else (recall, reopen) to
 * the router as the coordinator. */
static int send_step(ctl_ctx *ctx, mv_action *action) {
  bool desk = ctx->unit != NULL || ctx->cmd->target == CTL_DESK;
  int rc = ctl_connect(ctx, desk);
  if (rc != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL;
  if (desk) {
    Mediation__V1__DeskActRequest req = MEDIATION__V1__DESK_ACT_REQUEST__INIT;
    req.action = action;
    rc = ctl_call(ctx, &mediation__v1__desk__descriptor, "Act", &req.base, &reply);
    if (rc == CTL_EXIT_OK)
      rc = desk_reply_out(ctx, (Mediation__V1__DeskReply *)reply);
  } else {
    Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
    req.action = action;
    rc = ctl_call(ctx, &mediation__v1__router__descriptor, "Apply", &req.base, &reply);
    if (rc == CTL_EXIT_OK)
      rc = apply_reply_out(ctx, (Mediation__V1__ApplyReply *)reply);
  }
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

static int enum_arg(ctl_ctx *ctx, const mc_name *table, const char *option, const char *text,
                    int *out) {
  if (ctl_parse_name(table, text, out) == 0)
    return CTL_EXIT_OK;
  char names[400];
  ctl_names_list(table, names, sizeof(names));
  return ctl_usage_error(ctx, "%s: expected one of %s", option, names);
}

static int time_arg(ctl_ctx *ctx, const char *option, const char *text, int64_t *ms) {
  if (text == NULL) {
    *ms = mc_now_ms();
    return CTL_EXIT_OK;
  }
  if (ctl_parse_time(ctx, text, ms) == 0)
    return CTL_EXIT_OK;
  return ctl_usage_error(ctx, "%s: expected now, YYYY-MM-DD or \"YYYY-MM-DD HH:MM\"", option);
}

static int64_t max_fen(const ctl_ctx *ctx) { return ctx->reg->limits.max_money_fen; }

/* The arguments of one step, as given. */
typedef struct step_args {
  const char *reason, *person, *to, *role, *note, *at, *amount, *resolution, *summary, *followup,
      *result, *satisfaction, *visited;
  int agreement; /* -1 not given, 1 --agreement, 0 --no-agreement */
  unsigned given;
} step_args;

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

static int parse_step_args(ctl_ctx *ctx, int argc, char **argv, struct option *opts,
                           step_args *a) {
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_OPT_HELP;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case O_REASON: a->reason = optarg; a->given |= CTL_SO_REASON; break;
    case O_PERSON: a->person = optarg; a->given |= CTL_SO_PERSON; break;
    case O_TO: a->to = optarg; a->given |= CTL_SO_TO; break;
    case O_ROLE: a->role = optarg; a->given |= CTL_SO_ROLE; break;
    case O_NOTE: a->note = optarg; a->given |= CTL_SO_NOTE; break;
    case O_AT: a->at = optarg; a->given |= CTL_SO_AT; break;
    case O_AGREEMENT:
    case O_NO_AGREEMENT:
      if (a->agreement != -1 && a->agreement != (c == O_AGREEMENT))
        return ctl_usage_error(ctx, "give --agreement or --no-agreement, not both");
      a->agreement = c == O_AGREEMENT;
      a->given |= CTL_SO_AGREEMENT;
      break;
    case O_AMOUNT: a->amount = optarg; a->given |= CTL_SO_AMOUNT; break;
    case O_RESOLUTION: a->resolution = optarg; a->given |= CTL_SO_RESOLUTION; break;
    case O_SUMMARY: a->summary = optarg; a->given |= CTL_SO_SUMMARY; break;
    case O_FOLLOWUP: a->followup = optarg; a->given |= CTL_SO_FOLLOWUP; break;
    case O_RESULT: a->result = optarg; a->given |= CTL_SO_RESULT; break;
    case O_SATISFACTION: a->satisfaction = optarg; a->given |= CTL_SO_SATISFACTION; break;
    case O_VISITED: a->visited = optarg; a->given |= CTL_SO_VISITED; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  unsigned missing = step_required(ctx->cmd) & ~a->given;
  for (unsigned bit = 1; missing != 0; bit <<= 1) {
    if (missing & bit)
      return ctl_usage_error(ctx, "--%s is required", option_of_bit(bit));
  }
  if (a->amount != NULL && a->agreement == 0)
    return ctl_usage_error(ctx, "--amount-yuan goes with --agreement, not --no-agreement");
  if (a->reason != NULL && a->reason[0] == '\0')
    return ctl_usage_error(ctx, "--reason: give the reason");
  return CTL_EXIT_OK;
}

int ctl_cmd_step(ctl_ctx *ctx, int argc, char **argv) {
  const ctl_command *cmd = ctx->cmd;
  struct option opts[N_STEP_OPTIONS + 1];
  size_t n = 0;
  for (size_t i = 0; i < N_STEP_OPTIONS; i++) {
    if (cmd->step_opts & step_options[i].bit)
      opts[n++] = step_options[i].opt;
  }
  memset(&opts[n], 0, sizeof(opts[n]));
  step_args a = {.agreement = -1};
  int rc = parse_step_args(ctx, argc, argv, opts, &a);
  if (rc == CTL_OPT_HELP)
    return CTL_EXIT_OK;
  if (rc != CTL_EXIT_OK)
    return rc;
  const char *case_ref = NULL;
  if ((rc = ctl_positionals(ctx, argc, argv, 1, &case_ref, "CASE (a case id or the unit's ref)")) !=
      CTL_EXIT_OK)
    return rc;
  if (cmd->target == CTL_DESK && ctx->unit_arg == NULL)
    return ctl_usage_error(ctx, "--unit UNIT is required: operators act through their unit's "
                                "service");
  if ((rc = ctl_load(ctx)) != CTL_EXIT_OK)
    return rc;

  mv_action action = MEDIATION__V1__CASE_ACTION__INIT;
  mv_member member = MEDIATION__V1__TEAM_MEMBER__INIT;
  Mediation__V1__Session session = MEDIATION__V1__SESSION__INIT;
  Mediation__V1__Outcome outcome = MEDIATION__V1__OUTCOME__INIT;
  Mediation__V1__CourtResult court = MEDIATION__V1__COURT_RESULT__INIT;
  Mediation__V1__Feedback feedback = MEDIATION__V1__FEEDBACK__INIT;
  action.kind = cmd->action;
  action.case_ref = (char *)case_ref;
  action.reason = (char *)(a.reason ? a.reason : "");
  action.person = (char *)(a.person ? a.person : "");
  action.args_case = step_args_case(cmd); /* its member is filled in below */
  int v;
  switch (cmd->action) {
  case MV_ACTION(TRANSFER): {
    /* Without --to the unit's policy chooses the receiving unit: the Desk
     * gets an empty to_unit. */
    const mc_unit *to = NULL;
    if (a.to != NULL && (rc = ctl_find_unit(ctx, a.to, "--to", &to)) != CTL_EXIT_OK)
      return rc;
    action.to_unit = (char *)(to ? to->id : "");
    break;
  }
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    if ((rc = enum_arg(ctx, mc_team_role_names, "--role", a.role, &v)) != CTL_EXIT_OK)
      return rc;
    member.role = v;
    member.person = (char *)(a.person ? a.person : ""); /* assign: empty lets the policy choose */
    action.person = (char *)"";
    action.member = &member;
    break;
  case MV_ACTION(RECORD_SESSION):
    if ((rc = time_arg(ctx, "--at", a.at, &session.held_ms)) != CTL_EXIT_OK)
      return rc;
    session.note = (char *)(a.note ? a.note : "");
    action.session = &session;
    break;
  case MV_ACTION(RECORD_OUTCOME):
    outcome.kind = a.agreement == 1 ? MV_OUTCOME(AGREEMENT) : MV_OUTCOME(NO_AGREEMENT);
    if (a.amount != NULL && ctl_parse_yuan(a.amount, max_fen(ctx), &outcome.agreed_amount_fen) != 0)
      return ctl_usage_error(ctx, "--amount-yuan: expected yuan such as 1200 or 1200.50");
    if (a.resolution != NULL) {
      if ((rc = enum_arg(ctx, mc_resolution_names, "--resolution", a.resolution, &v)) != CTL_EXIT_OK)
        return rc;
      outcome.resolution = v;
    }
    if (a.followup != NULL &&
        (rc = time_arg(ctx, "--followup-due", a.followup, &outcome.followup_due_ms)) != CTL_EXIT_OK)
      return rc;
    outcome.summary = (char *)(a.summary ? a.summary : "");
    action.outcome = &outcome;
    break;
  case MV_ACTION(RECORD_COURT_RESULT):
    if ((rc = enum_arg(ctx, mc_court_result_names, "--result", a.result, &v)) != CTL_EXIT_OK)
      return rc;
    court.kind = v;
    if (a.amount != NULL && ctl_parse_yuan(a.amount, max_fen(ctx), &court.amount_fen) != 0)
      return ctl_usage_error(ctx, "--amount-yuan: expected yuan such as 1200 or 1200.50");
    court.summary = (char *)(a.summary ? a.summary : "");
    action.court_result = &court;
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    if ((rc = enum_arg(ctx, mc_satisfaction_names, "--satisfaction", a.satisfaction, &v)) !=
        CTL_EXIT_OK)
      return rc;
    feedback.satisfaction = v;
    if ((rc = time_arg(ctx, "--visited", a.visited, &feedback.visited_ms)) != CTL_EXIT_OK)
      return rc;
    feedback.note = (char *)(a.note ? a.note : "");
    action.feedback = &feedback;
    break;
  default:
    break;
  }
  return send_step(ctx, &action);
}

/* ---- intake ---- */

#define MAX_PARTY_ARGS 64
/* A party file holds a few lines; anything this large is a wrong file. */
#define MAX_PARTY_FILE_BYTES (64 * 1024)

/* The parties of an intake, in the order given: each --party, and each line
 * of a --party-file. The strings are copies (parse_party cuts them up) and
 * are wiped before they are freed: they hold ID numbers and phones. */
typedef struct {
  char *text[MAX_PARTY_ARGS];
  size_t len[MAX_PARTY_ARGS]; /* parse_party cuts text at the colons: wipe this much */
  char where[MAX_PARTY_ARGS][48]; /* "--party (number 2)", "--party-file line 3" */
  int n;
} party_list;

static void party_list_free(party_list *l) {
  for (int i = 0; i < l->n; i++) {
    explicit_bzero(l->text[i], l->len[i]); /* memset could be optimised away */
    free(l->text[i]);
  }
  l->n = 0;
}

static int party_list_add(ctl_ctx *ctx, party_list *l, const char *text, size_t len,
                          bool from_file, int where_n) {
  if (l->n == MAX_PARTY_ARGS)
    return ctl_usage_error(ctx, "--party and --party-file: at most %d parties", MAX_PARTY_ARGS);
  char *copy = strndup(text, len);
  if (copy == NULL)
    return ctl_fail(CTL_EXIT_FAILED, "out of memory");
  l->text[l->n] = copy;
  l->len[l->n] = strlen(copy);
  snprintf(l->where[l->n], sizeof(l->where[l->n]),
           from_file ? "--party-file line %d" : "--party (number %d)", where_n);
  l->n++;
  return CTL_EXIT_OK;
}

/* --party-file FILE ('-': standard input): one party a line in the format of
 * --party; blank lines and lines starting with '#' are skipped. Personal data
 * stay off the command line (ps, /proc/PID/cmdline, shell history). Errors
 * name the file and the line, never the text. */
static int party_file_read(ctl_ctx *ctx, party_list *l, const char *path) {
  bool from_stdin = strcmp(path, "-") == 0;
  FILE *f = from_stdin ? stdin : fopen(path, "r");
  if (f == NULL)
    return ctl_fail(CTL_EXIT_USAGE, "--party-file %s: %s", path, strerror(errno));
  char *buf = malloc(MAX_PARTY_FILE_BYTES + 1);
  if (buf == NULL) {
    if (!from_stdin)
      fclose(f);
    return ctl_fail(CTL_EXIT_FAILED, "out of memory");
  }
  size_t len = fread(buf, 1, MAX_PARTY_FILE_BYTES + 1, f);
  bool read_error = ferror(f) != 0;
  if (!from_stdin)
    fclose(f);
  int rc = CTL_EXIT_OK;
  if (read_error)
    rc = ctl_fail(CTL_EXIT_USAGE, "--party-file %s: cannot read it", path);
  else if (len > MAX_PARTY_FILE_BYTES)
    rc = ctl_fail(CTL_EXIT_USAGE, "--party-file %s: larger than %d bytes", path,
                  MAX_PARTY_FILE_BYTES);
  else if (memchr(buf, '\0', len) != NULL)
    rc = ctl_fail(CTL_EXIT_USAGE, "--party-file %s: not a text file (it holds a NUL byte)",
                  path);
  int line_no = 0, parties_before = l->n;
  for (size_t at = 0; rc == CTL_EXIT_OK && at < len;) {
    const char *line = buf + at;
    const char *nl = memchr(line, '\n', len - at);
    size_t n = nl ? (size_t)(nl - line) : len - at;
    at += n + (nl ? 1 : 0);
    line_no++;
    if (n > 0 && line[n - 1] == '\r')
      n--;
    size_t lead = 0;
    while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
      lead++;
    if (lead == n || line[lead] == '#')
      continue;
    rc = party_list_add(ctx, l, line, n, true, line_no);
  }
  if (rc == CTL_EXIT_OK && l->n == parties_before)
    rc = ctl_fail(CTL_EXIT_USAGE, "--party-file %s: no party in it (one role:name[:id_number"
                  "[:phone]] a line)", path);
  explicit_bzero(buf, len);
  free(buf);
  return rc;
}

/* "role:name[:id_number[:phone]]" into p, pointing into buf (modified).
 * Messages never repeat the text: it is personal data; where says which
 * party it was ("--party (number 2)", "--party-file line 3"). */
static int parse_party(ctl_ctx *ctx, const char *where, char *buf, mv_party *p) {
  char *parts[5] = {0};
  int n = 0;
  char *s = buf;
  while (n < 5) {
    parts[n++] = s;
    char *colon = strchr(s, ':');
    if (colon == NULL)
      break;
    *colon = '\0';
    s = colon + 1;
  }
  int role;
  if (n > 4 || n < 2 || parts[1][0] == '\0' ||
      ctl_parse_name(mc_party_role_names, parts[0], &role) != 0)
    return ctl_usage_error(ctx,
                           "%s: expected role:name[:id_number[:phone]], role "
                           "applicant, respondent or other (申请人, 被申请人, 其他当事人)",
                           where);
  mediation__v1__party__init(p);
  p->role = role;
  p->name = parts[1];
  p->id_number = n > 2 ? parts[2] : (char *)"";
  p->phone = n > 3 ? parts[3] : (char *)"";
  return CTL_EXIT_OK;
}

enum {
  I_KIND = 400,
  I_COMMUNITY,
  I_GRID,
  I_PARTY,
  I_MONEY,
  I_DIFFICULTY,
  I_SOURCE,
  I_SUMMARY,
  I_PETITION,
  I_NEEDS_LAWYER,
  I_WORKERS,
  I_REFER_TO,
  I_REASON,
  I_PERSON,
  I_REF,
  I_PARTY_FILE,
};

int ctl_cmd_intake(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"kind", required_argument, NULL, I_KIND},
      {"community", required_argument, NULL, I_COMMUNITY},
      {"grid", required_argument, NULL, I_GRID},
      {"party", required_argument, NULL, I_PARTY},
      {"party-file", required_argument, NULL, I_PARTY_FILE},
      {"money-yuan", required_argument, NULL, I_MONEY},
      {"difficulty", required_argument, NULL, I_DIFFICULTY},
      {"source", required_argument, NULL, I_SOURCE},
      {"summary", required_argument, NULL, I_SUMMARY},
      {"petition", required_argument, NULL, I_PETITION},
      {"needs-lawyer", no_argument, NULL, I_NEEDS_LAWYER},
      {"workers", required_argument, NULL, I_WORKERS},
      {"refer-to", required_argument, NULL, I_REFER_TO},
      {"reason", required_argument, NULL, I_REASON},
      {"person", required_argument, NULL, I_PERSON},
      {"ref", required_argument, NULL, I_REF},
      {NULL, 0, NULL, 0},
  };
  const char *kind = NULL, *community = NULL, *grid = "", *money = NULL, *difficulty = NULL,
             *source = NULL, *summary = "", *petition = NULL, *workers = NULL, *refer_to = NULL,
             *reason = "", *person = "", *ref = "";
  /* The parties, and the option each came from, in order: files are read
   * after the options are checked. */
  const char *party_args[MAX_PARTY_ARGS];
  bool party_arg_is_file[MAX_PARTY_ARGS];
  int n_party_args = 0;
  bool needs_lawyer = false;
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case I_KIND: kind = optarg; break;
    case I_COMMUNITY: community = optarg; break;
    case I_GRID: grid = optarg; break;
    case I_PARTY:
    case I_PARTY_FILE:
      if (n_party_args == MAX_PARTY_ARGS)
        return ctl_usage_error(ctx, "--party and --party-file: at most %d", MAX_PARTY_ARGS);
      party_arg_is_file[n_party_args] = c == I_PARTY_FILE;
      party_args[n_party_args++] = optarg;
      break;
    case I_MONEY: money = optarg; break;
    case I_DIFFICULTY: difficulty = optarg; break;
    case I_SOURCE: source = optarg; break;
    case I_SUMMARY: summary = optarg; break;
    case I_PETITION: petition = optarg; break;
    case I_NEEDS_LAWYER: needs_lawyer = true; break;
    case I_WORKERS: workers = optarg; break;
    case I_REFER_TO: refer_to = optarg; break;
    case I_REASON: reason = optarg; break;
    case I_PERSON: person = optarg; break;
    case I_REF: ref = optarg; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK)
    return rc;
  if (kind == NULL)
    return ctl_usage_error(ctx, "--kind is required");
  if (community == NULL)
    return ctl_usage_error(ctx, "--community is required");
  if (source == NULL)
    return ctl_usage_error(ctx, "--source is required");
  if (n_party_args == 0)
    return ctl_usage_error(ctx, "--party or --party-file is required (at least one party)");
  int stdin_files = 0;
  for (int i = 0; i < n_party_args; i++)
    stdin_files += party_arg_is_file[i] && strcmp(party_args[i], "-") == 0;
  if (stdin_files > 1)
    return ctl_usage_error(ctx, "--party-file -: standard input can be read only once");
  if (ctx->unit_arg == NULL)
    return ctl_usage_error(ctx, "--unit UNIT is required: a case is taken in at a unit");
  if ((rc = ctl_load(ctx)) != CTL_EXIT_OK)
    return rc;

  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  int v;
  if ((rc = enum_arg(ctx, mc_kind_names, "--kind", kind, &v)) != CTL_EXIT_OK)
    return rc;
  in.kind = v;
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  if (difficulty != NULL) {
    if ((rc = enum_arg(ctx, mc_difficulty_names, "--difficulty", difficulty, &v)) != CTL_EXIT_OK)
      return rc;
    in.difficulty = v;
  }
  if ((rc = enum_arg(ctx, mc_source_names, "--source", source, &v)) != CTL_EXIT_OK)
    return rc;
  in.source = v;
  if (petition != NULL) {
    if ((rc = enum_arg(ctx, mc_petition_names, "--petition", petition, &v)) != CTL_EXIT_OK)
      return rc;
    in.petition = v;
  }
  const mc_community *com;
  if ((rc = ctl_find_community(ctx, community, "--community", &com)) != CTL_EXIT_OK)
    return rc;
  in.community = com->id;
  in.grid = (char *)grid;
  if (money != NULL && ctl_parse_yuan(money, max_fen(ctx), &in.money_fen) != 0)
    return ctl_usage_error(ctx, "--money-yuan: expected yuan such as 86000 or 86000.50");
  if (workers != NULL) {
    long w;
    if (ctl_parse_long(workers, 0, 1000000, &w) != 0)
      return ctl_usage_error(ctx, "--workers: expected a whole number of workers");
    in.workers = (uint32_t)w;
  }
  in.summary = (char *)summary;
  in.needs_lawyer = needs_lawyer;
  in.unit_ref = (char *)ref;
  const mc_unit *refer = NULL;
  if (refer_to != NULL && (rc = ctl_find_unit(ctx, refer_to, "--refer-to", &refer)) != CTL_EXIT_OK)
    return rc;

  party_list list = {.n = 0};
  int party_number = 0;
  for (int i = 0; i < n_party_args && rc == CTL_EXIT_OK; i++) {
    if (party_arg_is_file[i]) {
      rc = party_file_read(ctx, &list, party_args[i]);
    } else {
      party_number++;
      rc = party_list_add(ctx, &list, party_args[i], strlen(party_args[i]), false,
                          party_number);
    }
  }
  mv_party parties[MAX_PARTY_ARGS];
  mv_party *party_ptrs[MAX_PARTY_ARGS];
  for (int i = 0; i < list.n && rc == CTL_EXIT_OK; i++) {
    rc = parse_party(ctx, list.where[i], list.text[i], &parties[i]);
    party_ptrs[i] = &parties[i];
  }
  if (rc == CTL_EXIT_OK) {
    in.parties = party_ptrs;
    in.n_parties = (size_t)list.n;
    Mediation__V1__DeskTakeInRequest req = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
    req.intake = &in;
    req.person = (char *)person;
    req.refer_to = (char *)(refer ? refer->id : "");
    req.refer_reason = (char *)reason;
    ProtobufCMessage *reply = NULL;
    rc = ctl_connect(ctx, true);
    if (rc == CTL_EXIT_OK)
      rc = ctl_call(ctx, &mediation__v1__desk__descriptor, "TakeIn", &req.base, &reply);
    if (rc == CTL_EXIT_OK)
      rc = desk_reply_out(ctx, (Mediation__V1__DeskReply *)reply);
    if (reply != NULL)
      protobuf_c_message_free_unpacked(reply, NULL);
  }
  party_list_free(&list);
  return rc;
}

/* ---- the unit's lists ---- */

/* Parses a command with no options of its own and no arguments. */
static int no_args(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {{NULL, 0, NULL, 0}};
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    if (c == CTL_OPT_HELP)
      return CTL_OPT_HELP;
    return CTL_EXIT_USAGE;
  }
  return ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
}

static int desk_call(ctl_ctx *ctx, const char *method, const ProtobufCMessage *req,
                     ProtobufCMessage **reply) {
  if (ctx->unit_arg == NULL)
    return ctl_usage_error(ctx, "--unit UNIT is required: operators act through their unit's "
                                "service");
  int rc = ctl_connect(ctx, true);
  if (rc != CTL_EXIT_OK)
    return rc;
  return ctl_call(ctx, &mediation__v1__desk__descriptor, method, req, reply);
}

static void money_cell(const mv_case *c, char buf[CTL_FMT_MAX]) {
  ctl_fmt_yuan(c->intake ? c->intake->money_fen : 0, buf);
}

static int print_inbox(const ctl_ctx *ctx, const Mediation__V1__DeskListReply *r) {
  if (r->n_cases == 0) {
    puts("没有待接收的案件。");
    return CTL_EXIT_OK;
  }
  static const char *const headers[] = {"案件编号", "来自", "类型", "社区", "涉及金额(元)",
                                        "移交时间", "原因"};
  ctl_table *t = ctl_table_new(7, headers, "llllrll");
  for (size_t i = 0; i < r->n_cases; i++) {
    const mv_case *c = r->cases[i]->case_record;
    if (c == NULL)
      continue;
    char money[CTL_FMT_MAX], when[CTL_FMT_MAX];
    money_cell(c, money);
    const Mediation__V1__PendingTransfer *tr = c->transfer;
    ctl_fmt_time(ctx, tr ? tr->offered_ms : 0, when);
    const char *cells[] = {c->id,
                           tr ? ctl_unit_label(ctx, tr->from_unit) : "—",
                           c->intake ? mc_label_of(mc_kind_names, c->intake->kind) : "—",
                           c->intake ? ctl_community_label(ctx, c->intake->community) : "—",
                           money,
                           when,
                           tr ? tr->reason : ""};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, "out of memory");
}

int ctl_cmd_inbox(ctl_ctx *ctx, int argc, char **argv) {
  int rc = no_args(ctx, argc, argv);
  if (rc == CTL_OPT_HELP)
    return CTL_EXIT_OK;
  if (rc != CTL_EXIT_OK)
    return rc;
  Mediation__V1__DeskInboxRequest req = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  if ((rc = desk_call(ctx, "Inbox", &req.base, &reply)) != CTL_EXIT_OK)
    return rc;
  const Mediation__V1__DeskListReply *r = (const Mediation__V1__DeskListReply *)reply;
  rc = ctx->json ? ctl_json_print_message(reply) : print_inbox(ctx, r);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

static int print_cases(const ctl_ctx *ctx, const Mediation__V1__DeskListReply *r) {
  if (r->n_cases == 0) {
    puts("本单位没有符合条件的案件。");
    return CTL_EXIT_OK;
  }
  static const char *const headers[] = {"案件编号", "单位编号", "状态", "类型", "社区",
                                        "涉及金额(元)", "期限", "同步"};
  ctl_table *t = ctl_table_new(8, headers, "lllllrll");
  int64_t now = mc_now_ms();
  for (size_t i = 0; i < r->n_cases; i++) {
    const Mediation__V1__LocalCase *lc = r->cases[i];
    const mv_case *c = lc->case_record;
    if (c == NULL)
      continue;
    char money[CTL_FMT_MAX], deadline[CTL_FMT_MAX + 16], t1[CTL_FMT_MAX], sync[96], state[160];
    money_cell(c, money);
    ctl_fmt_time(ctx, c->deadline_ms, t1);
    snprintf(deadline, sizeof(deadline), "%s%s", t1,
             c->deadline_ms && now > c->deadline_ms ? " 逾期" : "");
    if (lc->stale || lc->queued_steps > 0) {
      snprintf(sync, sizeof(sync), "待转发%u步", lc->queued_steps);
    } else {
      ctl_fmt_time(ctx, lc->synced_ms, t1);
      snprintf(sync, sizeof(sync), "%s", lc->synced_ms ? t1 : "未同步");
    }
    if (c->state == MV_STATE(TRANSFER) && c->transfer)
      snprintf(state, sizeof(state), "%s → %s", ctl_state_label(c->state),
               ctl_unit_label(ctx, c->transfer->to_unit));
    else
      snprintf(state, sizeof(state), "%s", ctl_state_label(c->state));
    const char *cells[] = {c->id[0] ? c->id : "(待分配)",
                           c->intake ? c->intake->unit_ref : "",
                           state,
                           c->intake ? mc_label_of(mc_kind_names, c->intake->kind) : "—",
                           c->intake ? ctl_community_label(ctx, c->intake->community) : "—",
                           money,
                           deadline,
                           sync};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, "out of memory");
}

int ctl_cmd_cases(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"state", required_argument, NULL, 's'},
      {NULL, 0, NULL, 0},
  };
  const char *state = NULL;
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case 's': state = optarg; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK)
    return rc;
  Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
  if (state != NULL) {
    int v;
    if ((rc = enum_arg(ctx, mc_state_names, "--state", state, &v)) != CTL_EXIT_OK)
      return rc;
    req.state = v;
  }
  ProtobufCMessage *reply = NULL;
  if ((rc = desk_call(ctx, "ListCases", &req.base, &reply)) != CTL_EXIT_OK)
    return rc;
  rc = ctx->json ? ctl_json_print_message(reply)
                 : print_cases(ctx, (const Mediation__V1__DeskListReply *)reply);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

static int print_conflicts(const ctl_ctx *ctx, const Mediation__V1__DeskConflictsReply *r) {
  if (r->n_conflicts == 0) {
    puts("没有冲突。");
  } else {
    static const char *const headers[] = {"序号", "案件", "操作", "状态码", "说明", "排队时间",
                                          "被拒时间"};
    ctl_table *t = ctl_table_new(7, headers, "rllllll");
    for (size_t i = 0; i < r->n_conflicts; i++) {
      const Mediation__V1__Conflict *k = r->conflicts[i];
      char seq[32], queued[CTL_FMT_MAX], refused[CTL_FMT_MAX], what[96];
      snprintf(seq, sizeof(seq), "%llu", (unsigned long long)k->outbox_seq);
      ctl_fmt_time(ctx, k->queued_ms, queued);
      ctl_fmt_time(ctx, k->refused_ms, refused);
      int kind = k->action ? k->action->kind : 0;
      snprintf(what, sizeof(what), "%s（%s）", mc_label_of(mc_action_names, kind),
               mc_name_of(mc_action_names, kind));
      const char *cells[] = {seq,
                             k->action ? k->action->case_ref : "",
                             what,
                             mc_code_name((mc_code)k->code),
                             k->message,
                             queued,
                             refused};
      ctl_table_add(t, cells);
    }
    int rc = ctl_table_print(t, stdout);
    ctl_table_free(t);
    if (rc != 0)
      return ctl_fail(CTL_EXIT_FAILED, "out of memory");
    puts("\n处理后用 `mediactl --unit UNIT dismiss 序号` 清除。");
  }
  printf("出件箱待转发：%llu 步\n", (unsigned long long)r->outbox_pending);
  return CTL_EXIT_OK;
}

int ctl_cmd_conflicts(ctl_ctx *ctx, int argc, char **argv) {
  int rc = no_args(ctx, argc, argv);
  if (rc == CTL_OPT_HELP)
    return CTL_EXIT_OK;
  if (rc != CTL_EXIT_OK)
    return rc;
  Mediation__V1__DeskConflictsRequest req = MEDIATION__V1__DESK_CONFLICTS_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  if ((rc = desk_call(ctx, "Conflicts", &req.base, &reply)) != CTL_EXIT_OK)
    return rc;
  rc = ctx->json ? ctl_json_print_message(reply)
                 : print_conflicts(ctx, (const Mediation__V1__DeskConflictsReply *)reply);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

int ctl_cmd_dismiss(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {{NULL, 0, NULL, 0}};
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    if (c == CTL_OPT_HELP)
      return CTL_EXIT_OK;
    return CTL_EXIT_USAGE;
  }
  const char *seq_text = NULL;
  int rc = ctl_positionals(ctx, argc, argv, 1, &seq_text, "SEQ (the conflict's number)");
  if (rc != CTL_EXIT_OK)
    return rc;
  long seq;
  if (ctl_parse_long(seq_text, 1, 0x7fffffffL, &seq) != 0)
    return ctl_usage_error(ctx, "SEQ: expected the conflict's number, as `conflicts` shows it");
  Mediation__V1__DeskDismissRequest req = MEDIATION__V1__DESK_DISMISS_REQUEST__INIT;
  req.outbox_seq = (uint64_t)seq;
  ProtobufCMessage *reply = NULL;
  if ((rc = desk_call(ctx, "DismissConflict", &req.base, &reply)) != CTL_EXIT_OK)
    return rc;
  if (ctx->json)
    rc = ctl_json_print_message(reply);
  else
    printf("已清除冲突 #%ld\n", seq);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

static int print_roster(const Mediation__V1__DeskRosterReply *r) {
  static const char *const headers[] = {"人员", "角色", "在办案件"};
  ctl_table *t = ctl_table_new(3, headers, "llr");
  for (size_t i = 0; i < r->n_members; i++) {
    char load[32];
    snprintf(load, sizeof(load), "%u", r->members[i]->active_cases);
    const char *cells[] = {r->members[i]->person,
                           mc_label_of(mc_team_role_names, r->members[i]->role), load};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, "out of memory");
}

int ctl_cmd_roster(ctl_ctx *ctx, int argc, char **argv) {
  int rc = no_args(ctx, argc, argv);
  if (rc == CTL_OPT_HELP)
    return CTL_EXIT_OK;
  if (rc != CTL_EXIT_OK)
    return rc;
  Mediation__V1__DeskRosterRequest req = MEDIATION__V1__DESK_ROSTER_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  if ((rc = desk_call(ctx, "Roster", &req.base, &reply)) != CTL_EXIT_OK)
    return rc;
  rc = ctx->json ? ctl_json_print_message(reply)
                 : print_roster((const Mediation__V1__DeskRosterReply *)reply);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}
