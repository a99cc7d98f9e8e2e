/*
 * report.c - the year's figures in the words of the subdistrict's report
 * ("2026年，街、居两级共调处矛盾纠纷839起，涉及金额403.64万元，其中疑难复杂
 * 以上纠纷33起。"), and the community scorecard's ratios.
 *
 * Pure: it turns counters into sentences and nothing else, so the wording is
 * tested without a router, and `report` can only say what GetFigures
 * returned - the counters the store keeps in the same transaction as the
 * steps they count (one source of truth, figures.proto). What each number
 * is:
 *   调处矛盾纠纷    mediated: cases that reached a first outcome in the period
 *                  (agreement, no agreement, or sent to litigation)
 *   涉及金额        money_involved_fen of those cases, in 万元 with two decimals
 *   疑难复杂以上    difficult_or_complex among them
 *   调解成功/化解率 resolved / mediated
 *   信访积案        petition_led + petition_assisted (taken in in the period);
 *                  化解率 = (resolved_in_fact + resolved_in_substance) / that
 *   网电信件/现场接访 cases taken in by that source
 *   劳资纠纷        the labour row of a by-kind reply: mediated, money, workers
 *   案卷质量        complete_files / closed; 当事人满意度 = (satisfied +
 *                  basically_satisfied) / all three satisfaction counters
 * Counters the store does not keep (consultations given, letters answered,
 * the 办结率 of letters and visits) are not invented here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/coordinator/ctl.h"

static char *sentence(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *sentence(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (s == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void ctl_scorecard_of(const mv_counters *c, ctl_scorecard *out) {
  memset(out, 0, sizeof(*out));
  if (c == NULL)
    return;
  out->cases = c->taken_in;
  out->mediated = c->mediated;
  out->resolved = c->resolved;
  out->closed = c->closed;
  out->complete_files = c->complete_files;
  out->feedback = c->satisfied + c->basically_satisfied + c->dissatisfied;
  out->satisfied_or_basically = c->satisfied + c->basically_satisfied;
}

int ctl_report_sentences(const ctl_report_input *in, char *out[CTL_REPORT_MAX]) {
  const mv_counters *t = in->total;
  mv_counters none = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  if (t == NULL)
    t = &none;
  const mv_counters *lab = in->labour ? in->labour : &none;
  char period[64];
  if (in->from_month <= 1 && (in->to_month == 0 || in->to_month >= 12))
    snprintf(period, sizeof(period), "%d年", in->year);
  else if (in->from_month == in->to_month)
    snprintf(period, sizeof(period), "%d年%d月", in->year, in->from_month);
  else
    snprintf(period, sizeof(period), "%d年%d—%d月", in->year, in->from_month, in->to_month);

  char money[CTL_FMT_MAX], rate[CTL_FMT_MAX], rate2[CTL_FMT_MAX], lab_money[CTL_FMT_MAX];
  ctl_fmt_wan(t->money_involved_fen, money);
  ctl_fmt_percent(t->resolved, t->mediated, rate);
  ctl_fmt_wan(lab->money_involved_fen, lab_money);
  int64_t petitions = t->petition_led + t->petition_assisted;
  int64_t petitions_resolved = t->resolved_in_fact + t->resolved_in_substance;
  ctl_scorecard card;
  ctl_scorecard_of(t, &card);

  int n = 0;
  out[n++] = sentence("%s%s矛盾纠纷调处情况", in->subdistrict ? in->subdistrict : "", period);
  out[n++] = sentence("%s，街、居两级共调处矛盾纠纷%lld起，涉及金额%s万元，其中疑难复杂以上纠纷%lld起。",
                      period, (long long)t->mediated, money, (long long)t->difficult_or_complex);
  out[n++] = sentence("调解成功%lld起，化解率%s；调解不成转诉讼（共享法庭）%lld起；法律援助%lld件。",
                      (long long)t->resolved, rate, (long long)t->litigated,
                      (long long)t->legal_aid);
  out[n++] = sentence("受理矛盾纠纷%lld起，其中网电信件%lld件、现场接访%lld起、110报警%lld起、"
                      "转介%lld起、法律咨询转入%lld起。",
                      (long long)t->taken_in, (long long)t->from_letter_or_call,
                      (long long)t->from_walk_in, (long long)t->from_police_call,
                      (long long)t->from_referral, (long long)t->from_consultation);
  if (t->repeat_cases > 0) { /* 再次纠纷: linked by the router at intake */
    ctl_fmt_percent(t->repeat_cases, t->taken_in, rate2);
    out[n++] = sentence("其中同一当事人再次纠纷%lld起，占受理的%s。", (long long)t->repeat_cases,
                        rate2);
  }
  if (petitions > 0) {
    ctl_fmt_percent(petitions_resolved, petitions, rate2);
    out[n++] = sentence("信访积案%lld件（主办%lld件、协办%lld件），其中事实化解%lld件、实体化解%lld件，"
                        "化解率%s。",
                        (long long)petitions, (long long)t->petition_led,
                        (long long)t->petition_assisted, (long long)t->resolved_in_fact,
                        (long long)t->resolved_in_substance, rate2);
  } else {
    out[n++] = sentence("无信访积案。");
  }
  out[n++] = sentence("调处劳资纠纷%lld起，涉及金额%s万元、劳动者%lld人。", (long long)lab->mediated,
                      lab_money, (long long)lab->workers_involved);
  ctl_fmt_percent(card.complete_files, card.closed, rate);
  ctl_fmt_percent(card.satisfied_or_basically, card.feedback, rate2);
  out[n++] = sentence("结案%lld件，其中案卷完整%lld件，案卷质量%s；回访满意%lld件、基本满意%lld件、"
                      "不满意%lld件，当事人满意度%s。",
                      (long long)card.closed, (long long)card.complete_files, rate,
                      (long long)t->satisfied, (long long)t->basically_satisfied,
                      (long long)t->dissatisfied, rate2);
  out[n++] = sentence("目前在办案件%lld件，其中逾期%lld件。", (long long)in->open_cases,
                      (long long)in->overdue_cases);
  for (int i = 0; i < n; i++) {
    if (out[i] == NULL) {
      for (int k = 0; k < n; k++) {
        free(out[k]);
        out[k] = NULL;
      }
      return -1;
    }
  }
  return n;
}
