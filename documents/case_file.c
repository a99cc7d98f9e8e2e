/*
 * case_file.c - the case file 案卷 as a bound PDF: cover, contents, the
 * intake, the timeline of every step (who, which person, when, and the
 * receipts units signed), sessions, team, outcome, court result, follow-up
 * visit and satisfaction; the last page carries the hash-chain head and a
 * QR code of "<case id> <head>", which `mediactl verify-print` checks
 * against the store, so a printed file can be shown to be the record.
 *
 * The contents page needs the pages sections start on, known only after
 * layout: the file is laid out twice, first on a surface that writes
 * nothing (cairo's PDF surface with no file) to learn the page numbers,
 * then for real. The contents take one page, so the numbers do not move.
 */
#include <stdio.h>
#include <string.h>

#include <qrencode.h>

#include "core/names.h"
#include "documents/documents.h"
#include "documents/internal.h"
#include "documents/pdf.h"

enum { S_INTAKE, S_TIMELINE, S_SESSIONS, S_TEAM, S_OUTCOME, S_COURT, S_FEEDBACK, S_VERIFY, S_N };
static const char *const section_titles[S_N] = {
    "一、受理情况", "二、流转与办理记录", "三、调解记录", "四、承办人员",
    "五、调解结果", "六、诉讼结果",       "七、回访与满意度", "八、案卷校验",
};

typedef struct cf_ctx {
  const mc_registry *reg;
  const mv_case *c;
  mv_event *const *events;
  size_t n_events;
  const char *reader;
  char token[DOC_TOKEN_MAX];
  char hex[160];
  int pages[S_N]; /* where each section starts (from the first pass) */
} cf_ctx;

static void heading(dp_doc *d, cf_ctx *x, int s) {
  dp_need(d, 60);
  x->pages[s] = d->page;
  dp_para(d, section_titles[s], DP_SANS, 14, true, DP_LEFT);
}

static void parties_text(const mv_case *c, char *buf, size_t cap) {
  buf[0] = '\0';
  for (size_t i = 0; c->intake != NULL && i < c->intake->n_parties; i++) {
    const mv_party *p = c->intake->parties[i];
    doc_cat(buf, cap, "%s%s %s", i ? "；" : "", doc_label(mc_party_role_names, p->role), p->name);
    if (p->id_number[0])
      doc_cat(buf, cap, "（身份证号 %s）", p->id_number);
    if (p->phone[0])
      doc_cat(buf, cap, "（电话 %s）", p->phone);
  }
}

static void actor_text(const mc_registry *reg, const mv_actor *a, char *buf, size_t cap) {
  buf[0] = '\0';
  if (a == NULL)
    return;
  if (a->kind == MV_PRINCIPAL(UNIT))
    doc_cat(buf, cap, "%s", doc_unit_label(reg, a->id));
  else if (a->kind == MV_PRINCIPAL(SYSTEM))
    doc_cat(buf, cap, "系统");
  else
    doc_cat(buf, cap, "协调员 %s", a->id);
  if (a->person[0])
    doc_cat(buf, cap, "\n%s", a->person);
}

static void event_detail(const mc_registry *reg, const mv_event *ev, char *buf, size_t cap) {
  buf[0] = '\0';
  const mv_action *a = ev->action;
  if (a == NULL)
    return;
  char t[DOC_FMT_MAX];
  switch (a->args_case) {
  case MV_ARGS(INTAKE):
    if (a->intake != NULL)
      doc_cat(buf, cap, "%s，%s", doc_label(mc_kind_names, a->intake->kind),
              doc_community_label(reg, a->intake->community));
    break;
  case MV_ARGS(TO_UNIT):
    doc_cat(buf, cap, "交 %s", doc_unit_label(reg, a->to_unit));
    break;
  case MV_ARGS(MEMBER):
    if (a->member != NULL)
      doc_cat(buf, cap, "%s %s", doc_label(mc_team_role_names, a->member->role), a->member->person);
    break;
  case MV_ARGS(SESSION):
    if (a->session != NULL) {
      doc_time(reg, a->session->held_ms, t);
      doc_cat(buf, cap, "%s %s", t, a->session->note);
    }
    break;
  case MV_ARGS(OUTCOME):
    if (a->outcome != NULL) {
      doc_cat(buf, cap, "%s", doc_label(mc_outcome_names, a->outcome->kind));
      if (a->outcome->agreement_no[0])
        doc_cat(buf, cap, " %s", a->outcome->agreement_no);
      if (a->outcome->agreed_amount_fen > 0) {
        doc_yuan(a->outcome->agreed_amount_fen, t);
        doc_cat(buf, cap, " %s", t);
      }
    }
    break;
  case MV_ARGS(COURT_RESULT):
    if (a->court_result != NULL)
      doc_cat(buf, cap, "%s %s", doc_label(mc_court_result_names, a->court_result->kind),
              a->court_result->summary);
    break;
  case MV_ARGS(FEEDBACK):
    if (a->feedback != NULL)
      doc_cat(buf, cap, "%s %s", doc_label(mc_satisfaction_names, a->feedback->satisfaction),
              a->feedback->note);
    break;
  case MV_ARGS(RECEIPT):
    if (a->receipt != NULL) {
      doc_time(reg, a->receipt->received_ms, t);
      doc_cat(buf, cap, "回执：%s 于 %s 签收（第%u步，签名%s）",
              doc_unit_label(reg, a->receipt->unit), t, a->receipt->event_seq,
              a->receipt->signature.len ? "已附" : "无");
    }
    break;
  default:
    break;
  }
  if (a->reason[0])
    doc_cat(buf, cap, "%s理由：%s", buf[0] ? "\n" : "", a->reason);
}

static void draw_qr(dp_doc *d, const char *text, double x, double y, double size) {
  QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (q == NULL)
    return; /* only out of memory: the token is printed as text below anyway */
  int quiet = 4;
  double m = size / (q->width + 2 * quiet);
  cairo_set_source_rgb(d->cr, 1, 1, 1);
  cairo_rectangle(d->cr, x, y, size, size);
  cairo_fill(d->cr);
  cairo_set_source_rgb(d->cr, 0, 0, 0);
  for (int r = 0; r < q->width; r++)
    for (int col = 0; col < q->width; col++)
      if (q->data[r * q->width + col] & 1)
        cairo_rectangle(d->cr, x + (col + quiet) * m, y + (r + quiet) * m, m, m);
  cairo_fill(d->cr);
  QRcode_free(q);
}

/* The cover: what the case is, whose it is, where it stands. */
static void cover(dp_doc *d, cf_ctx *x) {
  const mv_case *c = x->c;
  const mc_registry *reg = x->reg;
  const mv_intake *in = c->intake;
  char buf[8192], t[DOC_FMT_MAX], t2[DOC_FMT_MAX];
  char result[512];
  /* cover */
  dp_space(d, 120);
  dp_para(d, reg != NULL && reg->subdistrict != NULL ? reg->subdistrict : "", DP_SERIF, 16,
          false, DP_CENTER);
  dp_para(d, "矛盾纠纷调解案卷", DP_SERIF, 30, true, DP_CENTER);
  dp_space(d, 60);
  dp_field(d, "案件编号", c->id);
  dp_field(d, "单位编号", in->unit_ref);
  dp_field(d, "纠纷类型", doc_label(mc_kind_names, in->kind));
  parties_text(c, buf, sizeof(buf));
  dp_field(d, "当事人", buf);
  doc_date_cn(reg, c->created_ms, t);
  dp_field(d, "受理日期", t);
  dp_field(d, "承办单位", doc_unit_label(reg, c->holder));
  dp_field(d, "当前状态", doc_label(mc_state_names, c->state));
  doc_result(c, result, sizeof(result));
  dp_field(d, "调解结果", result);
  if (c->state == MV_STATE(CLOSED) || c->state == MV_STATE(WITHDRAWN)) {
    doc_date_cn(reg, c->state_entered_ms, t);
    dp_field(d, "结案日期", t);
  }
  dp_field(d, "案卷步数", (snprintf(t2, sizeof(t2), "%u", c->event_count), t2));
  if (x->reader != NULL && x->reader[0])
    dp_field(d, "打印人", x->reader);
  dp_new_page(d);

}

/* The contents, with the pages the first pass found. */
static void contents(dp_doc *d, cf_ctx *x) {
  char t[DOC_FMT_MAX];
  /* contents */
  dp_para(d, "目　录", DP_SERIF, 20, true, DP_CENTER);
  dp_space(d, 10);
  static const double cw[2] = {400, 83.28};
  static const char *const ch[2] = {"内容", "页码"};
  dp_table toc = {2, cw, ch, 11};
  dp_table_start(d, &toc);
  for (int s = 0; s < S_N; s++) {
    snprintf(t, sizeof(t), "%d", x->pages[s]);
    const char *row[2] = {section_titles[s], t};
    dp_table_row(d, &toc, row);
  }
  dp_new_page(d);

}

/* The intake and the parties as the reader may see them. */
static void intake_section(dp_doc *d, cf_ctx *x) {
  const mv_case *c = x->c;
  const mc_registry *reg = x->reg;
  const mv_intake *in = c->intake;
  char buf[8192], t[DOC_FMT_MAX], t2[DOC_FMT_MAX];
  heading(d, x, S_INTAKE);
  dp_field(d, "纠纷类型", doc_label(mc_kind_names, in->kind));
  dp_field(d, "难易程度", doc_label(mc_difficulty_names, in->difficulty));
  dp_field(d, "来源", doc_label(mc_source_names, in->source));
  snprintf(buf, sizeof(buf), "%s%s%s", doc_community_label(reg, in->community),
           in->grid[0] ? "　网格 " : "", in->grid);
  dp_field(d, "社区", buf);
  doc_yuan(in->money_fen, t);
  dp_field(d, "涉及金额", t);
  if (in->petition != MV_PETITION(NONE))
    dp_field(d, "信访积案", doc_label(mc_petition_names, in->petition));
  if (in->workers > 0)
    dp_field(d, "涉及劳动者", (snprintf(t2, sizeof(t2), "%u 人", in->workers), t2));
  dp_field(d, "需要律师", in->needs_lawyer ? "是" : "否");
  dp_field(d, "法律援助", c->legal_aid ? "已给予" : "无");
  dp_field(d, "简要案情", in->summary);
  static const double pw[4] = {70, 100, 170, 143.28};
  static const char *const ph[4] = {"身份", "姓名", "身份证号", "联系电话"};
  dp_table pt = {4, pw, ph, 10};
  dp_table_start(d, &pt);
  for (size_t i = 0; i < in->n_parties; i++) {
    const mv_party *p = in->parties[i];
    const char *row[4] = {doc_label(mc_party_role_names, p->role), p->name, p->id_number,
                          p->phone};
    dp_table_row(d, &pt, row);
  }
  dp_space(d, 12);

}

/* Every step: who, which person, when, and receipts. */
static void timeline_section(dp_doc *d, cf_ctx *x) {
  const mc_registry *reg = x->reg;
  char t[DOC_FMT_MAX];
  heading(d, x, S_TIMELINE);
  static const double tw[6] = {28, 70, 95, 70, 70, 150.28};
  static const char *const th[6] = {"步", "时间", "操作单位/人员", "步骤", "状态", "说明"};
  dp_table tt = {6, tw, th, 8};
  dp_table_start(d, &tt);
  for (size_t i = 0; i < x->n_events; i++) {
    const mv_event *ev = x->events[i];
    char seq[16], who[512], states[128], detail[2048];
    snprintf(seq, sizeof(seq), "%u", ev->seq);
    doc_time(reg, ev->at_ms, t);
    actor_text(reg, ev->actor, who, sizeof(who));
    snprintf(states, sizeof(states), "%s→%s", doc_label(mc_state_names, ev->from_state),
             doc_label(mc_state_names, ev->to_state));
    event_detail(reg, ev, detail, sizeof(detail));
    const char *row[6] = {seq, t, who,
                          ev->action != NULL ? doc_label(mc_action_names, ev->action->kind) : "",
                          states, detail};
    dp_table_row(d, &tt, row);
  }
  dp_space(d, 12);

}

/* Sessions and the team. */
static void people_section(dp_doc *d, cf_ctx *x) {
  const mv_case *c = x->c;
  const mc_registry *reg = x->reg;
  char t[DOC_FMT_MAX], t2[DOC_FMT_MAX];
  heading(d, x, S_SESSIONS);
  if (c->n_sessions == 0)
    dp_para(d, "无", DP_SERIF, 11, false, DP_LEFT);
  else {
    static const double sw[2] = {110, 373.28};
    static const char *const sh[2] = {"时间", "记录"};
    dp_table st = {2, sw, sh, 10};
    dp_table_start(d, &st);
    for (size_t i = 0; i < c->n_sessions; i++) {
      doc_time(reg, c->sessions[i]->held_ms, t);
      const char *row[2] = {t, c->sessions[i]->note};
      dp_table_row(d, &st, row);
    }
  }
  dp_space(d, 12);

  heading(d, x, S_TEAM);
  if (c->n_team == 0)
    dp_para(d, "无", DP_SERIF, 11, false, DP_LEFT);
  else {
    static const double mw[5] = {120, 80, 80, 100, 103.28};
    static const char *const mh[5] = {"单位", "姓名", "角色", "加入", "退出"};
    dp_table mt = {5, mw, mh, 10};
    dp_table_start(d, &mt);
    for (size_t i = 0; i < c->n_team; i++) {
      const mv_member *m = c->team[i];
      doc_time(reg, m->assigned_ms, t);
      doc_time(reg, m->released_ms, t2);
      const char *row[5] = {doc_unit_label(reg, m->unit), m->person,
                            doc_label(mc_team_role_names, m->role), t, t2};
      dp_table_row(d, &mt, row);
    }
  }
  dp_space(d, 12);

}

/* Outcome, court result, follow-up visit. */
static void results_section(dp_doc *d, cf_ctx *x) {
  const mv_case *c = x->c;
  const mc_registry *reg = x->reg;
  char t[DOC_FMT_MAX];
  heading(d, x, S_OUTCOME);
  if (c->outcome == NULL)
    dp_para(d, "尚未记录", DP_SERIF, 11, false, DP_LEFT);
  else {
    const Mediation__V1__Outcome *o = c->outcome;
    dp_field(d, "结果", doc_label(mc_outcome_names, o->kind));
    if (o->agreement_no[0])
      dp_field(d, "协议书编号", o->agreement_no);
    doc_yuan(o->agreed_amount_fen, t);
    if (o->kind == MV_OUTCOME(AGREEMENT))
      dp_field(d, "协议金额", t);
    if (o->resolution)
      dp_field(d, "化解方式", doc_label(mc_resolution_names, o->resolution));
    if (o->terms[0])
      dp_field(d, "协议内容", o->terms);
    if (o->performance_method[0])
      dp_field(d, "履行方式", o->performance_method);
    doc_date_cn(reg, o->performance_due_ms, t);
    if (t[0])
      dp_field(d, "履行期限", t);
    dp_field(d, "摘要", o->summary);
    doc_time(reg, o->recorded_ms, t);
    dp_field(d, "记录时间", t);
  }
  dp_space(d, 12);

  heading(d, x, S_COURT);
  if (c->court_result == NULL)
    dp_para(d, "未经诉讼", DP_SERIF, 11, false, DP_LEFT);
  else {
    dp_field(d, "法院结果", doc_label(mc_court_result_names, c->court_result->kind));
    doc_yuan(c->court_result->amount_fen, t);
    dp_field(d, "金额", t);
    dp_field(d, "摘要", c->court_result->summary);
    doc_time(reg, c->court_result->recorded_ms, t);
    dp_field(d, "记录时间", t);
  }
  dp_space(d, 12);

  heading(d, x, S_FEEDBACK);
  if (c->feedback == NULL)
    dp_para(d, "尚未回访", DP_SERIF, 11, false, DP_LEFT);
  else {
    doc_date_cn(reg, c->feedback->visited_ms, t);
    dp_field(d, "回访日期", t);
    dp_field(d, "满意度", doc_label(mc_satisfaction_names, c->feedback->satisfaction));
    dp_field(d, "回访情况", c->feedback->note);
  }

}

/* The last page: what ties this paper to the store. */
static void verify_page(dp_doc *d, cf_ctx *x) {
  const mv_case *c = x->c;
  char t2[DOC_FMT_MAX];
  dp_new_page(d);
  heading(d, x, S_VERIFY);
  dp_field(d, "案件编号", c->id);
  dp_field(d, "案卷步数", (snprintf(t2, sizeof(t2), "%u", c->event_count), t2));
  dp_field(d, "哈希链头（SHA-256）", x->hex);
  dp_para(d,
          "本案卷由系统根据存档记录生成。扫描下方二维码或执行 mediactl verify-print "
          "案件编号 哈希值，可核对本打印件与系统存档是否一致；案卷此后每增加一步，哈希链头随之改变。",
          DP_SERIF, 10, false, DP_LEFT);
  dp_space(d, 10);
  draw_qr(d, x->token, DP_MARGIN, d->y, 200);
  d->y += 210;
  dp_para(d, x->token, "DejaVu Sans Mono", 8, false, DP_LEFT);
}

static void layout(dp_doc *d, cf_ctx *x) {
  d->footer = x->c->id;
  cover(d, x);
  contents(d, x);
  intake_section(d, x);
  timeline_section(d, x);
  people_section(d, x);
  results_section(d, x);
  verify_page(d, x);
}

mc_code doc_case_file(const mc_registry *reg, const mv_case *c, mv_event *const *events,
                      size_t n_events, const char *reader, const char *path, mc_err *err) {
  if (c == NULL || c->intake == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case: missing or without intake");
  cf_ctx x = {.reg = reg, .c = c, .events = events, .n_events = n_events, .reader = reader};
  mc_code rc = doc_print_token(c, x.token, sizeof(x.token), err);
  if (rc != MC_OK)
    return rc;
  doc_hex(c->last_event_hash.data, c->last_event_hash.len, x.hex, sizeof(x.hex));
  for (size_t i = 0; i < n_events; i++)
    if (events[i] == NULL)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "events[%zu]: missing", i);

  dp_doc d;
  /* pass 1: nowhere, to learn the sections' pages */
  if ((rc = dp_open(&d, NULL, NULL, err)) != MC_OK)
    return rc;
  layout(&d, &x);
  if ((rc = dp_close(&d, err)) != MC_OK)
    return rc;
  char title[128];
  snprintf(title, sizeof(title), "案卷 %s", c->id);
  if ((rc = dp_open(&d, path, title, err)) != MC_OK)
    return rc;
  layout(&d, &x);
  return dp_close(&d, err);
}
