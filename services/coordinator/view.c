/*
 * view.c - a case and its case file (案卷) as people read them: Chinese
 * labels for every enum, units and communities by name, money in 元, times
 * at the subdistrict's offset, and for each step of the timeline who took
 * it, what it did and why.
 *
 * Shared by `show` (the router's record, for coordinators; the Desk's, for
 * operators) and by the step commands, which print the case as it is after
 * their step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/identity.h"
#include "services/coordinator/ctl.h"

/* Appends printf output to buf at *used, never past cap. */
static void add(char *buf, size_t cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t cap, size_t *used, const char *fmt, ...) {
  if (*used >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  *used = (size_t)n >= cap - *used ? cap - 1 : *used + (size_t)n;
}

void ctl_print_case_line(const ctl_ctx *ctx, const mv_case *c, FILE *out) {
  const char *ref = c->intake && c->intake->unit_ref[0] ? c->intake->unit_ref : NULL;
  fprintf(out, "%s", c->id[0] ? c->id : "(待分配编号)");
  if (ref)
    fprintf(out, " (%s)", ref);
  fprintf(out, "  %s", ctl_state_label(c->state));
  if (c->state == MV_STATE(TRANSFER) && c->transfer)
    fprintf(out, " → %s", ctl_unit_label(ctx, c->transfer->to_unit));
  fprintf(out, "  承办 %s\n", ctl_unit_label(ctx, c->holder));
}

void ctl_print_repeats(const mv_case *c, FILE *out) {
  if (c->intake == NULL || c->intake->n_repeat_of == 0)
    return;
  fprintf(out, "  再次纠纷：同一当事人此前的案件 ");
  for (size_t i = 0; i < c->intake->n_repeat_of; i++)
    fprintf(out, "%s%s", i ? "、" : "", c->intake->repeat_of[i]);
  fprintf(out, "\n");
}

static void party_text(const mv_party *p, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  add(buf, cap, &used, "%s %s", mc_label_of(mc_party_role_names, p->role), p->name);
  if (p->id_number[0])
    add(buf, cap, &used, "  身份证 %s", p->id_number);
  if (p->phone[0])
    add(buf, cap, &used, "  电话 %s", p->phone);
}

/* The labelled lines of a case. Every value is formatted into its own
 * buffer here first: the rows borrow them. */
typedef struct case_lines {
  char state[160], holder[200], kind[160], community[240], money[160], created[64],
      deadline[120], petition[64], legal[16], transfer[600], outcome[600], court[600],
      feedback[600], src[64], ref[160], repeat[MC_REPEAT_MAX * 24 + 64];
  ctl_kv rows[40];
  size_t n;
} case_lines;

static void add_line(case_lines *l, const char *label, const char *value) {
  l->rows[l->n++] = (ctl_kv){label, value};
}

/* What the unit took in: kind, source, community, money, petition, ... */
static void intake_lines(const ctl_ctx *ctx, const mv_intake *in, case_lines *l) {
  char y[CTL_FMT_MAX];
  snprintf(l->kind, sizeof(l->kind), "%s，%s", mc_label_of(mc_kind_names, in->kind),
           mc_label_of(mc_difficulty_names, in->difficulty));
  add_line(l, "纠纷类型", l->kind);
  snprintf(l->src, sizeof(l->src), "%s", mc_label_of(mc_source_names, in->source));
  add_line(l, "来源", l->src);
  if (in->grid[0])
    snprintf(l->community, sizeof(l->community), "%s %s网格",
             ctl_community_label(ctx, in->community), in->grid);
  else
    snprintf(l->community, sizeof(l->community), "%s", ctl_community_label(ctx, in->community));
  add_line(l, "社区", l->community);
  ctl_fmt_yuan(in->money_fen, y);
  if (in->kind == MV_KIND(LABOUR) && in->workers > 0)
    snprintf(l->money, sizeof(l->money), "%s元，劳动者%u人", y, in->workers);
  else
    snprintf(l->money, sizeof(l->money), "%s元", y);
  add_line(l, "涉及金额", l->money);
  if (in->petition != MV_PETITION(NONE)) {
    snprintf(l->petition, sizeof(l->petition), "信访积案（%s）",
             mc_label_of(mc_petition_names, in->petition));
    add_line(l, "信访", l->petition);
  }
  if (in->needs_lawyer)
    add_line(l, "需要律师", "是");
  if (in->summary[0])
    add_line(l, "案情", in->summary);
}

/* What came of the case: mediation's outcome, the court's, the feedback. */
static void result_lines(const ctl_ctx *ctx, const mv_case *c, case_lines *l) {
  char t1[CTL_FMT_MAX], y[CTL_FMT_MAX];
  if (c->outcome) {
    const Mediation__V1__Outcome *o = c->outcome;
    size_t used = 0, cap = sizeof(l->outcome);
    l->outcome[0] = '\0';
    add(l->outcome, cap, &used, "%s", mc_label_of(mc_outcome_names, o->kind));
    if (o->kind == MV_OUTCOME(AGREEMENT)) {
      ctl_fmt_yuan(o->agreed_amount_fen, y);
      add(l->outcome, cap, &used, "，协议金额%s元", y);
    }
    if (o->resolution)
      add(l->outcome, cap, &used, "，%s", mc_label_of(mc_resolution_names, o->resolution));
    if (o->followup_due_ms) {
      ctl_fmt_time(ctx, o->followup_due_ms, t1);
      add(l->outcome, cap, &used, "，回访期限 %s", t1);
    }
    if (o->summary[0])
      add(l->outcome, cap, &used, "：%s", o->summary);
    add_line(l, "调解结果", l->outcome);
  }
  if (c->court_result) {
    const Mediation__V1__CourtResult *r = c->court_result;
    ctl_fmt_yuan(r->amount_fen, y);
    snprintf(l->court, sizeof(l->court), "%s，金额%s元%s%s",
             mc_label_of(mc_court_result_names, r->kind), y, r->summary[0] ? "：" : "", r->summary);
    add_line(l, "法院结果", l->court);
  }
  if (c->feedback) {
    const Mediation__V1__Feedback *f = c->feedback;
    ctl_fmt_time(ctx, f->visited_ms, t1);
    snprintf(l->feedback, sizeof(l->feedback), "%s，回访 %s%s%s",
             mc_label_of(mc_satisfaction_names, f->satisfaction), t1, f->note[0] ? "：" : "",
             f->note);
    add_line(l, "回访反馈", l->feedback);
  }
}

/* The lists under the labelled lines: parties, team, sessions, units. */
static void case_lists(const ctl_ctx *ctx, const mv_case *c, FILE *out) {
  const mv_intake *in = c->intake;
  char t1[CTL_FMT_MAX], t2[CTL_FMT_MAX];
  if (in && in->n_parties > 0) {
    fputs("\n当事人\n", out);
    for (size_t i = 0; i < in->n_parties; i++) {
      char p[400];
      party_text(in->parties[i], p, sizeof(p));
      fprintf(out, "  %s\n", p);
    }
  }
  if (c->n_team > 0) {
    fputs("\n调解团队\n", out);
    static const char *const headers[] = {"角色", "人员", "单位", "指派", "解除"};
    ctl_table *t = ctl_table_new(5, headers, "lllll");
    for (size_t i = 0; i < c->n_team; i++) {
      const mv_member *m = c->team[i];
      ctl_fmt_time(ctx, m->assigned_ms, t1);
      ctl_fmt_time(ctx, m->released_ms, t2);
      const char *cells[] = {mc_label_of(mc_team_role_names, m->role), m->person,
                             ctl_unit_label(ctx, m->unit), t1, m->released_ms ? t2 : ""};
      ctl_table_add(t, cells);
    }
    ctl_table_print(t, out);
    ctl_table_free(t);
  }
  if (c->n_sessions > 0) {
    fputs("\n调解记录\n", out);
    for (size_t i = 0; i < c->n_sessions; i++) {
      ctl_fmt_time(ctx, c->sessions[i]->held_ms, t1);
      fprintf(out, "  %s  %s\n", t1, c->sessions[i]->note);
    }
  }
  if (c->units_involved && c->n_units_involved > 1) {
    fputs("\n经手单位  ", out);
    for (size_t i = 0; i < c->n_units_involved; i++)
      fprintf(out, "%s%s", i ? " → " : "", ctl_unit_label(ctx, c->units_involved[i]));
    fputc('\n', out);
  }
}

void ctl_print_case(const ctl_ctx *ctx, const mv_case *c, FILE *out) {
  case_lines l;
  l.n = 0;
  char t1[CTL_FMT_MAX], t2[CTL_FMT_MAX];
  const mv_intake *in = c->intake;
  snprintf(l.state, sizeof(l.state), "%s (%s)", ctl_state_label(c->state),
           mc_name_of(mc_state_names, c->state));
  snprintf(l.holder, sizeof(l.holder), "%s (%s)", ctl_unit_label(ctx, c->holder), c->holder);
  add_line(&l, "案件编号", c->id);
  if (in && in->unit_ref[0]) {
    snprintf(l.ref, sizeof(l.ref), "%s", in->unit_ref);
    add_line(&l, "单位编号", l.ref);
  }
  add_line(&l, "状态", l.state);
  if (in && in->n_repeat_of > 0) { /* earlier cases of the same parties the reader may see */
    size_t o = (size_t)snprintf(l.repeat, sizeof(l.repeat), "是，此前案件：");
    for (size_t i = 0; i < in->n_repeat_of && o < sizeof(l.repeat); i++)
      o += (size_t)snprintf(l.repeat + o, sizeof(l.repeat) - o, "%s%s", i ? "、" : "",
                            in->repeat_of[i]);
    add_line(&l, "再次纠纷", l.repeat);
  }
  add_line(&l, "承办单位", l.holder);
  if (c->transfer) {
    ctl_fmt_time(ctx, c->transfer->offered_ms, t1);
    snprintf(l.transfer, sizeof(l.transfer), "%s → %s，%s，原因：%s",
             ctl_unit_label(ctx, c->transfer->from_unit), ctl_unit_label(ctx, c->transfer->to_unit),
             t1, c->transfer->reason);
    add_line(&l, "待接收", l.transfer);
  }
  if (in)
    intake_lines(ctx, in, &l);
  ctl_fmt_time(ctx, c->created_ms, l.created);
  add_line(&l, "受理时间", l.created);
  if (c->deadline_ms > 0) {
    ctl_fmt_time(ctx, c->deadline_ms, t2);
    bool overdue = mc_now_ms() > c->deadline_ms;
    snprintf(l.deadline, sizeof(l.deadline), "%s%s", t2, overdue ? "（已逾期）" : "");
    add_line(&l, "本阶段期限", l.deadline);
  }
  result_lines(ctx, c, &l);
  snprintf(l.legal, sizeof(l.legal), "%s", c->legal_aid ? "已给予" : "无");
  add_line(&l, "法律援助", l.legal);
  ctl_kv_print(l.rows, l.n, out);
  case_lists(ctx, c, out);
}

void ctl_event_detail(const ctl_ctx *ctx, const mv_event *ev, char *buf, size_t cap) {
  const mv_action *a = ev->action;
  size_t used = 0;
  char y[CTL_FMT_MAX], t[CTL_FMT_MAX];
  buf[0] = '\0';
  if (a == NULL)
    return;
  switch (a->kind) {
  case MV_ACTION(TAKE_IN):
    if (a->intake) {
      ctl_fmt_yuan(a->intake->money_fen, y);
      add(buf, cap, &used, "%s，%s，%s，涉及金额%s元", mc_label_of(mc_kind_names, a->intake->kind),
          ctl_community_label(ctx, a->intake->community),
          mc_label_of(mc_source_names, a->intake->source), y);
    }
    break;
  case MV_ACTION(TRANSFER):
    add(buf, cap, &used, "移交%s", ctl_unit_label(ctx, a->to_unit));
    break;
  case MV_ACTION(ACCEPT):
    if (a->args_case == MV_ARGS(TO_UNIT))
      add(buf, cap, &used, "接收%s的移交", ctl_unit_label(ctx, a->to_unit));
    break;
  case MV_ACTION(REFUSE):
    if (a->args_case == MV_ARGS(TO_UNIT))
      add(buf, cap, &used, "退回%s", ctl_unit_label(ctx, a->to_unit));
    break;
  case MV_ACTION(RECALL):
    if (a->args_case == MV_ARGS(TO_UNIT))
      add(buf, cap, &used, "收回对%s的移交", ctl_unit_label(ctx, a->to_unit));
    break;
  case MV_ACTION(ASSIGN):
  case MV_ACTION(RELEASE):
    if (a->member)
      add(buf, cap, &used, "%s %s", mc_label_of(mc_team_role_names, a->member->role),
          a->member->person);
    break;
  case MV_ACTION(RECORD_SESSION):
    if (a->session) {
      ctl_fmt_time(ctx, a->session->held_ms, t);
      add(buf, cap, &used, "%s %s", t, a->session->note);
    }
    break;
  case MV_ACTION(RECORD_OUTCOME):
    if (a->outcome) {
      add(buf, cap, &used, "%s", mc_label_of(mc_outcome_names, a->outcome->kind));
      if (a->outcome->kind == MV_OUTCOME(AGREEMENT)) {
        ctl_fmt_yuan(a->outcome->agreed_amount_fen, y);
        add(buf, cap, &used, "，协议金额%s元", y);
      }
      if (a->outcome->resolution)
        add(buf, cap, &used, "，%s", mc_label_of(mc_resolution_names, a->outcome->resolution));
      if (a->outcome->summary[0])
        add(buf, cap, &used, "：%s", a->outcome->summary);
    }
    break;
  case MV_ACTION(RECORD_COURT_RESULT):
    if (a->court_result) {
      ctl_fmt_yuan(a->court_result->amount_fen, y);
      add(buf, cap, &used, "%s，金额%s元", mc_label_of(mc_court_result_names, a->court_result->kind),
          y);
      if (a->court_result->summary[0])
        add(buf, cap, &used, "：%s", a->court_result->summary);
    }
    break;
  case MV_ACTION(RECORD_FEEDBACK):
    if (a->feedback) {
      ctl_fmt_time(ctx, a->feedback->visited_ms, t);
      add(buf, cap, &used, "%s，回访 %s", mc_label_of(mc_satisfaction_names, a->feedback->satisfaction),
          t);
      if (a->feedback->note[0])
        add(buf, cap, &used, "：%s", a->feedback->note);
    }
    break;
  case MV_ACTION(RECORD_RECEIPT):
    if (a->receipt)
      add(buf, cap, &used, "%s签收", ctl_unit_label(ctx, a->receipt->unit));
    break;
  default:
    break;
  }
  if (a->reason[0])
    add(buf, cap, &used, "%s原因：%s", used ? "；" : "", a->reason);
}

int ctl_print_timeline(const ctl_ctx *ctx, mv_event *const *events, size_t n, FILE *out) {
  static const char *const headers[] = {"#", "时间", "经办", "操作", "状态", "说明"};
  ctl_table *t = ctl_table_new(6, headers, "rlllll");
  if (t == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    const mv_event *ev = events[i];
    char seq[16], when[CTL_FMT_MAX], who[256], states[96], detail[1200];
    snprintf(seq, sizeof(seq), "%u", ev->seq);
    ctl_fmt_time(ctx, ev->at_ms, when);
    ctl_actor_label(ctx, ev->actor, who, sizeof(who));
    if (ev->from_state == ev->to_state)
      snprintf(states, sizeof(states), "%s", ctl_state_label(ev->to_state));
    else
      snprintf(states, sizeof(states), "%s → %s", ctl_state_label(ev->from_state),
               ctl_state_label(ev->to_state));
    ctl_event_detail(ctx, ev, detail, sizeof(detail));
    const char *what = ev->action ? mc_label_of(mc_action_names, ev->action->kind) : "?";
    const char *cells[] = {seq, when, who, what, states, detail};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, out);
  ctl_table_free(t);
  return rc;
}
