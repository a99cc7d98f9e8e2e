/*
 * agreement.c - the 人民调解协议书 (People's Mediation Law art. 28-29): the
 * parties' particulars, the facts and matters in dispute, what was agreed,
 * how and by when it is to be performed, and a signature block for every
 * party (签名/按指印), the mediators and the committee's seal, with the date.
 *
 * It carries full ID numbers and phones, so it is the holder's document:
 * a reader who was given the case masked is refused, not handed a paper
 * with stars where the law wants particulars.
 */
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "core/i18n.h"
#include "core/names.h"
#include "documents/documents.h"
#include "documents/internal.h"
#include "documents/pdf.h"

/* how: 签名/按指印 for a party, 签名 for a mediator (the law's words). */
static void signature_line(dp_doc *d, const char *who, const char *name, const char *how) {
  char buf[512];
  snprintf(buf, sizeof(buf), "%s%s%s（%s）：______________　　日期：______年____月____日", who,
           name[0] ? " " : "", name, how);
  dp_need(d, 30);
  dp_para(d, buf, DP_SERIF, 11, false, DP_LEFT);
  dp_space(d, 8);
}

static void seal_block(dp_doc *d, const char *org, const char *date) {
  dp_need(d, 110);
  double cx = DP_MARGIN + DP_TEXT_W - 80, cy = d->y + 50;
  cairo_set_source_rgb(d->cr, 0.75, 0.1, 0.1);
  cairo_set_line_width(d->cr, 1.2);
  cairo_new_path(d->cr); /* no line from where the last text ended */
  cairo_arc(d->cr, cx, cy, 44, 0, 2 * 3.14159265358979);
  cairo_stroke(d->cr);
  PangoLayout *l = dp_layout(d, "（盖章）", DP_SANS, 10, false, 88, DP_CENTER);
  dp_draw(d, l, cx - 44, cy - 7);
  g_object_unref(l);
  cairo_set_source_rgb(d->cr, 0, 0, 0);
  char buf[512];
  snprintf(buf, sizeof(buf), "调解组织：%s（盖章）", org);
  dp_para(d, buf, DP_SERIF, 11, false, DP_LEFT);
  snprintf(buf, sizeof(buf), "%s", date[0] ? date : "______年____月____日");
  dp_para(d, buf, DP_SERIF, 11, false, DP_LEFT);
  d->y = cy + 56;
}

/* Who signs: each party (签名/按指印), each mediator on the case (签名),
 * and the committee's seal with the date the agreement was recorded. */
static void signatures(dp_doc *d, const mc_registry *reg, const mv_case *c,
                       const Mediation__V1__Outcome *o, const char *org) {
  for (size_t i = 0; i < c->intake->n_parties; i++) {
    const mv_party *p = c->intake->parties[i];
    const char *role = doc_label(mc_party_role_names, p->role);
    signature_line(d, role[0] ? role : "当事人", p->name, "签名/按指印");
  }
  /* one line per mediator on the case (the active ones; all if none is) */
  bool any_active = false, signed_any = false;
  for (size_t i = 0; i < c->n_team; i++)
    if (c->team[i]->role == MV_ROLE(MEDIATOR) && c->team[i]->released_ms == 0)
      any_active = true;
  for (size_t i = 0; i < c->n_team; i++) {
    const mv_member *m = c->team[i];
    if (m->role != MV_ROLE(MEDIATOR) || (any_active && m->released_ms != 0))
      continue;
    signature_line(d, "人民调解员", m->person, "签名");
    signed_any = true;
  }
  if (!signed_any)
    signature_line(d, "人民调解员", "", "签名");
  char date[DOC_FMT_MAX];
  doc_date_cn(reg, o != NULL ? o->recorded_ms : 0, date);
  seal_block(d, org, date);
}

mc_code doc_agreement(const mc_registry *reg, const mv_case *c, bool masked, bool draft,
                      const char *path, mc_err *err) {
  if (c == NULL || c->intake == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case: missing or without intake");
  if (masked)
    return mc_err_set(err, MC_PERMISSION_DENIED,
                      _("the agreement of case %s carries the parties' full particulars: only "
                        "its holding unit (%s) may produce it"),
                      c->id, c->holder);
  const Mediation__V1__Outcome *o = c->outcome;
  bool agreed = o != NULL && o->kind == MV_OUTCOME(AGREEMENT);
  if (!draft && !agreed)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      _("case %s has no agreement recorded: record the outcome first, or ask "
                        "for a draft"),
                      c->id);
  if (!agreed)
    o = NULL; /* a draft before the outcome: blanks for what is to be agreed */

  dp_doc d;
  mc_code rc = dp_open(&d, path, "人民调解协议书", err);
  if (rc != MC_OK)
    return rc;
  const char *org = doc_unit_label(reg, c->holder);
  char no[256];
  if (o != NULL && o->agreement_no[0])
    snprintf(no, sizeof(no), "%s", o->agreement_no);
  else
    snprintf(no, sizeof(no), "（编号待分配）");
  d.footer = no;
  d.stamp = draft ? "草稿" : NULL;

  dp_para(&d, "人民调解协议书", DP_SERIF, 22, true, DP_CENTER);
  if (draft)
    dp_para(&d, "（草稿，未生效）", DP_SERIF, 12, false, DP_CENTER);
  dp_para(&d, no, DP_SERIF, 12, false, DP_RIGHT);
  char ref[256];
  snprintf(ref, sizeof(ref), "案件编号：%s%s%s", c->id, c->intake->unit_ref[0] ? "　单位编号：" : "",
           c->intake->unit_ref);
  dp_para(&d, ref, DP_SANS, 9, false, DP_RIGHT);
  dp_space(&d, 6);

  dp_para(&d, "一、当事人基本情况", DP_SANS, 13, true, DP_LEFT);
  for (size_t i = 0; i < c->intake->n_parties; i++) {
    const mv_party *p = c->intake->parties[i];
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s：%s　　身份证号：%s　　联系电话：%s",
             doc_label(mc_party_role_names, p->role)[0] ? doc_label(mc_party_role_names, p->role)
                                                        : "当事人",
             p->name, p->id_number[0] ? p->id_number : "未登记", p->phone[0] ? p->phone : "未登记");
    dp_para(&d, buf, DP_SERIF, 11, false, DP_LEFT);
  }
  char buf[4096], tmp[DOC_FMT_MAX];
  snprintf(buf, sizeof(buf), "所在社区：%s%s%s", doc_community_label(reg, c->intake->community),
           c->intake->grid[0] ? "　网格：" : "", c->intake->grid);
  dp_para(&d, buf, DP_SERIF, 11, false, DP_LEFT);
  dp_space(&d, 4);

  dp_para(&d, "二、纠纷主要事实、争议事项", DP_SANS, 13, true, DP_LEFT);
  doc_yuan(c->intake->money_fen, tmp);
  snprintf(buf, sizeof(buf), "纠纷类型：%s　　涉及金额：%s", doc_label(mc_kind_names, c->intake->kind),
           tmp);
  dp_para(&d, buf, DP_SERIF, 11, false, DP_LEFT);
  dp_para(&d, c->intake->summary[0] ? c->intake->summary : "（未记载）", DP_SERIF, 11, false,
          DP_LEFT);
  for (size_t i = 0; i < c->n_sessions; i++) {
    char when[DOC_FMT_MAX];
    doc_date_cn(reg, c->sessions[i]->held_ms, when);
    snprintf(buf, sizeof(buf), "%s调解：%s", when, c->sessions[i]->note);
    dp_para(&d, buf, DP_SERIF, 11, false, DP_LEFT);
  }
  dp_space(&d, 4);

  dp_para(&d, "三、经调解，各方当事人自愿达成如下协议", DP_SANS, 13, true, DP_LEFT);
  const char *terms = o != NULL ? (o->terms[0] ? o->terms : o->summary) : "";
  dp_para(&d, terms[0] ? terms : "（待协商）", DP_SERIF, 11, false, DP_LEFT);
  if (o != NULL && o->agreed_amount_fen > 0) {
    doc_yuan(o->agreed_amount_fen, tmp);
    snprintf(buf, sizeof(buf), "协议金额：%s", tmp);
    dp_para(&d, buf, DP_SERIF, 11, false, DP_LEFT);
  }
  dp_space(&d, 4);

  dp_para(&d, "四、履行方式、时限", DP_SANS, 13, true, DP_LEFT);
  char due[DOC_FMT_MAX];
  doc_date_cn(reg, o != NULL ? o->performance_due_ms : 0, due);
  dp_field(&d, "履行方式", o != NULL && o->performance_method[0] ? o->performance_method : "（待定）");
  dp_field(&d, "履行期限", due[0] ? due : "（待定）");
  dp_space(&d, 4);

  snprintf(buf, sizeof(buf),
           "本协议经各方当事人签名或者按指印，人民调解员签名并加盖调解组织印章之日起生效。"
           "本协议一式%zu份，当事人各执一份，调解组织留存一份。",
           c->intake->n_parties + 1);
  dp_para(&d, buf, DP_SERIF, 11, false, DP_LEFT);
  dp_space(&d, 10);

  signatures(&d, reg, c, o, org);
  return dp_close(&d, err);
}
