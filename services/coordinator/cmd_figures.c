/*
 * cmd_figures.c - the year's figures: `figures` prints the counters the
 * router keeps (whole subdistrict, or by unit, community, kind or month),
 * `report` states them as the subdistrict's report does, with the community
 * scorecard.
 *
 * Both read GetFigures and nothing else: the counters are updated in the
 * same transaction as the steps they count, so the report cannot disagree
 * with the case files (the report that gave 1000 and 839 for one fact is
 * what this prevents). The report asks twice, by community (its scorecard,
 * and the total) and by kind (the labour disputes); both replies come from
 * the same counters.
 */
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "documents/report_text.h"
#include "pbjson/pbjson.h"
#include "services/coordinator/ctl.h"

/* What each counter is called in tables; a counter added to figures.proto
 * and not yet here is shown under its field name. */
static const struct {
  const char *field;
  const char *label;
} counter_labels[] = {
    {"taken_in", "受理"},
    {"mediated", "调处矛盾纠纷"},
    {"resolved", "调解成功"},
    {"money_involved_fen", "涉及金额"},
    {"agreed_amount_fen", "协议金额"},
    {"difficult_or_complex", "疑难复杂以上纠纷"},
    {"litigated", "转诉讼（共享法庭）"},
    {"closed", "结案"},
    {"withdrawn", "撤回"},
    {"reopened", "重新调处"},
    {"transferred_out", "移交（流转）"},
    {"accepted", "接收"},
    {"refused", "退回"},
    {"satisfied", "满意"},
    {"basically_satisfied", "基本满意"},
    {"dissatisfied", "不满意"},
    {"complete_files", "案卷完整"},
    {"legal_aid", "法律援助"},
    {"petition_led", "信访积案（主办）"},
    {"petition_assisted", "信访积案（协办）"},
    {"resolved_in_fact", "事实化解"},
    {"resolved_in_substance", "实体化解"},
    {"from_police_call", "来源：110报警"},
    {"from_walk_in", "来源：现场接访"},
    {"from_letter_or_call", "来源：网电信件"},
    {"from_referral", "来源：转介"},
    {"from_consultation", "来源：法律咨询"},
    {"workers_involved", "涉及劳动者（人）"},
    {"repeat_cases", "再次纠纷"},
};

static const char *counter_label(const char *field) {
  for (size_t i = 0; i < sizeof(counter_labels) / sizeof(counter_labels[0]); i++) {
    if (strcmp(counter_labels[i].field, field) == 0)
      return counter_labels[i].label;
  }
  return field;
}

static const struct {
  const char *name;
  Mediation__V1__FigureGrouping grouping;
  const char *label;
} groupings[] = {
    {"total", MV_GROUPING(TOTAL), "全街道"},
    {"unit", MV_GROUPING(UNIT), "按单位"},
    {"community", MV_GROUPING(COMMUNITY), "按社区"},
    {"kind", MV_GROUPING(KIND), "按纠纷类型"},
    {"month", MV_GROUPING(MONTH), "按月份"},
};

typedef struct period_args {
  const char *year, *from_month, *to_month;
} period_args;

/* Fills year and months of req; the year defaults to the current one at the
 * subdistrict's offset. Needs the configuration loaded. */
static int period_of(ctl_ctx *ctx, const period_args *p, Mediation__V1__GetFiguresRequest *req) {
  long v;
  if (p->year != NULL) {
    if (ctl_parse_long(p->year, 1000, 9999, &v) != 0)
      return ctl_usage_error(ctx, _("--year: expected a year such as 2026"));
    req->year = (int32_t)v;
  } else {
    req->year = mc_date_of(mc_now_ms(), ctx->reg->utc_offset_minutes).year;
  }
  req->from_month = 1;
  req->to_month = 12;
  if (p->from_month != NULL) {
    if (ctl_parse_long(p->from_month, 1, 12, &v) != 0)
      return ctl_usage_error(ctx, _("--from-month: expected 1 to 12"));
    req->from_month = (int32_t)v;
  }
  if (p->to_month != NULL) {
    if (ctl_parse_long(p->to_month, 1, 12, &v) != 0)
      return ctl_usage_error(ctx, _("--to-month: expected 1 to 12"));
    req->to_month = (int32_t)v;
  }
  if (req->from_month > req->to_month)
    return ctl_usage_error(ctx, _("--from-month is after --to-month"));
  return CTL_EXIT_OK;
}

static void period_text(const Mediation__V1__GetFiguresRequest *req, char *buf, size_t cap) {
  if (req->from_month == 1 && req->to_month == 12)
    snprintf(buf, cap, "%d年", req->year);
  else if (req->from_month == req->to_month)
    snprintf(buf, cap, "%d年%d月", req->year, req->from_month);
  else
    snprintf(buf, cap, "%d年%d—%d月", req->year, req->from_month, req->to_month);
}

static int get_figures(ctl_ctx *ctx, const Mediation__V1__GetFiguresRequest *req,
                       Mediation__V1__GetFiguresReply **out) {
  ProtobufCMessage *reply = NULL;
  int rc = ctl_call(ctx, &mediation__v1__router__descriptor, "GetFigures", &req->base, &reply);
  if (rc == CTL_EXIT_OK)
    *out = (Mediation__V1__GetFiguresReply *)reply;
  return rc;
}

/* ---- figures ---- */

/* Prints a figures table on the terminal, or as CSV (--csv). */
static int emit(ctl_table *t, bool csv) {
  int rc = csv ? ctl_table_print_csv(t, stdout, true) : ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, _("cannot print the figures"));
}

/* Money in a CSV is one number a spreadsheet can sum (yuan); on a terminal
 * 万元 with the yuan beside. */
static int print_totals(const ctl_ctx *ctx, const mv_counters *c, bool csv) {
  (void)ctx;
  const ProtobufCMessageDescriptor *desc = &mediation__v1__figure_counters__descriptor;
  static const char *const headers[] = {"项目", "数值"};
  ctl_table *t = ctl_table_new(2, headers, "lr");
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    if (f->type != PROTOBUF_C_TYPE_INT64)
      continue;
    int64_t v = *(const int64_t *)((const char *)c + f->offset);
    char value[CTL_FMT_MAX * 3];
    size_t len = strlen(f->name);
    if (len > 4 && strcmp(f->name + len - 4, "_fen") == 0) {
      char wan[CTL_FMT_MAX], yuan[CTL_FMT_MAX];
      ctl_fmt_wan(v, wan);
      ctl_fmt_yuan(v, yuan);
      if (csv)
        snprintf(value, sizeof(value), "%s", yuan);
      else
        snprintf(value, sizeof(value), "%s万元（%s元）", wan, yuan);
    } else {
      ctl_fmt_int(v, value);
    }
    char label[200];
    snprintf(label, sizeof(label), "%s%s", counter_label(f->name),
             csv && len > 4 && strcmp(f->name + len - 4, "_fen") == 0 ? "(元)" : "");
    const char *cells[] = {label, value};
    ctl_table_add(t, cells);
  }
  return emit(t, csv);
}

static void row_key(const ctl_ctx *ctx, Mediation__V1__FigureGrouping by, const mv_bucket *b,
                    char *buf, size_t cap) {
  switch (by) {
  case MV_GROUPING(UNIT): snprintf(buf, cap, "%s", ctl_unit_label(ctx, b->unit)); break;
  case MV_GROUPING(COMMUNITY): snprintf(buf, cap, "%s", ctl_community_label(ctx, b->community)); break;
  case MV_GROUPING(KIND): snprintf(buf, cap, "%s", mc_label_of(mc_kind_names, b->kind)); break;
  case MV_GROUPING(MONTH): snprintf(buf, cap, "%d月", b->month); break;
  default: snprintf(buf, cap, "全部"); break;
  }
}

static void grouped_row(ctl_table *t, const char *key, const mv_counters *c) {
  char v[11][CTL_FMT_MAX];
  ctl_fmt_int(c->taken_in, v[0]);
  ctl_fmt_int(c->mediated, v[1]);
  ctl_fmt_int(c->resolved, v[2]);
  ctl_fmt_percent(c->resolved, c->mediated, v[3]);
  ctl_fmt_wan(c->money_involved_fen, v[4]);
  ctl_fmt_int(c->difficult_or_complex, v[5]);
  ctl_fmt_int(c->litigated, v[6]);
  ctl_fmt_int(c->closed, v[7]);
  ctl_fmt_int(c->withdrawn, v[8]);
  ctl_fmt_int(c->legal_aid, v[9]);
  ctl_fmt_percent(c->satisfied + c->basically_satisfied,
                  c->satisfied + c->basically_satisfied + c->dissatisfied, v[10]);
  const char *cells[] = {key, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]};
  ctl_table_add(t, cells);
}

static int print_grouped(const ctl_ctx *ctx, Mediation__V1__FigureGrouping by,
                         const char *key_header, const Mediation__V1__GetFiguresReply *r,
                         bool csv) {
  const char *headers[] = {key_header, "受理",     "调处",   "调解成功", "化解率", "涉及金额(万元)",
                           "疑难复杂", "转诉讼", "结案", "撤回",     "法律援助", "满意度"};
  ctl_table *t = ctl_table_new(12, headers, "lrrrrrrrrrrr");
  for (size_t i = 0; i < r->n_rows; i++) {
    char key[200];
    row_key(ctx, by, r->rows[i]->bucket, key, sizeof(key));
    grouped_row(t, key, r->rows[i]->counters);
  }
  if (r->total != NULL)
    grouped_row(t, "合计", r->total->counters);
  return emit(t, csv);
}

/* The options of figures and report: the period, and for figures the
 * grouping and the community. */
typedef struct figures_state {
  period_args p;
  const char *by, *community;
  bool csv; /* --csv: the table alone, as CSV */
  size_t g; /* groupings[g] is --by */
  const mc_community *com;
  Mediation__V1__GetFiguresRequest req;
} figures_state;

static const struct option figures_options[] = {
    {"year", required_argument, NULL, 'y'},
    {"by", required_argument, NULL, 'b'},
    {"from-month", required_argument, NULL, 'f'},
    {"to-month", required_argument, NULL, 't'},
    {"community", required_argument, NULL, 'm'},
    {"csv", no_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

static const struct option report_options[] = {
    {"year", required_argument, NULL, 'y'},
    {"from-month", required_argument, NULL, 'f'},
    {"to-month", required_argument, NULL, 't'},
    {NULL, 0, NULL, 0},
};

static void figures_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  figures_state *s = st;
  s->by = "total";
  mediation__v1__get_figures_request__init(&s->req);
}

static int figures_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  figures_state *s = st;
  switch (c) {
  case 'y': s->p.year = value; break;
  case 'b': s->by = value; break;
  case 'f': s->p.from_month = value; break;
  case 't': s->p.to_month = value; break;
  case 'm': s->community = value; break;
  case 'v': s->csv = true; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

static int figures_check(ctl_ctx *ctx, void *st) {
  figures_state *s = st;
  size_t n = sizeof(groupings) / sizeof(groupings[0]);
  while (s->g < n && strcmp(groupings[s->g].name, s->by) != 0)
    s->g++;
  if (s->g == n)
    return ctl_usage_error(ctx, _("--by: expected total, unit, community, kind or month"));
  if (s->csv && ctx->json)
    return ctl_usage_error(ctx, _("--csv and --json: choose one"));
  return CTL_EXIT_OK;
}

static int figures_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  figures_state *s = st;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  if ((rc = period_of(ctx, &s->p, &s->req)) != CTL_EXIT_OK)
    return rc;
  s->req.group_by = groupings[s->g].grouping;
  if (s->community != NULL &&
      (rc = ctl_find_community(ctx, s->community, "--community", &s->com)) != CTL_EXIT_OK)
    return rc;
  s->req.community = (char *)(s->com ? s->com->id : "");
  s->req.unit = (char *)(ctx->unit ? ctx->unit->id : "");
  *req = (ctl_request){&mediation__v1__router__descriptor, "GetFigures", &s->req.base};
  return CTL_EXIT_OK;
}

static int figures_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  const figures_state *s = st;
  const Mediation__V1__GetFiguresReply *r = (const Mediation__V1__GetFiguresReply *)reply;
  char period[64];
  period_text(&s->req, period, sizeof(period));
  if (s->csv) {
    if (s->req.group_by == MV_GROUPING(TOTAL))
      return r->total != NULL ? print_totals(ctx, r->total->counters, true) : CTL_EXIT_OK;
    static const char *const csv_key_headers[] = {"", "单位", "社区", "纠纷类型", "月份"};
    return print_grouped(ctx, s->req.group_by, csv_key_headers[s->req.group_by], r, true);
  }
  printf("%s%s数据，%s", ctx->reg->subdistrict ? ctx->reg->subdistrict : "", period,
         groupings[s->g].label);
  if (ctx->unit)
    printf("，仅%s", ctx->unit->name);
  if (s->com)
    printf("，仅%s", s->com->name);
  printf("\n\n");
  if (s->req.group_by == MV_GROUPING(TOTAL)) {
    if (r->total != NULL && print_totals(ctx, r->total->counters, false) != CTL_EXIT_OK)
      return CTL_EXIT_FAILED;
  } else {
    static const char *const key_headers[] = {"", "单位", "社区", "纠纷类型", "月份"};
    if (print_grouped(ctx, s->req.group_by, key_headers[s->req.group_by], r, false) !=
        CTL_EXIT_OK)
      return CTL_EXIT_FAILED;
  }
  printf("\n目前在办案件%lld件，其中逾期%lld件。\n", (long long)r->open_cases,
         (long long)r->overdue_cases);
  return CTL_EXIT_OK;
}

const ctl_ops ctl_figures_ops = {
    .state_size = sizeof(figures_state),
    .options = figures_options,
    .init = figures_init,
    .option = figures_option,
    .check = figures_check,
    .build = figures_build,
    .render = figures_render,
};

/* ---- report ---- */

static void scorecard_table_row(ctl_table *t, const char *name, const doc_scorecard *s) {
  char cells[DOC_SCORE_COLS][DOC_CELL_MAX];
  doc_scorecard_cells(name, s, cells);
  const char *row[DOC_SCORE_COLS];
  for (int k = 0; k < DOC_SCORE_COLS; k++)
    row[k] = cells[k];
  ctl_table_add(t, row);
}

static json_object *ratio_json(int64_t num, int64_t den) {
  return den > 0 ? json_object_new_double((double)num / (double)den) : NULL;
}

static json_object *report_json(const ctl_ctx *ctx, const Mediation__V1__GetFiguresRequest *req,
                                const doc_report_text *rt,
                                const Mediation__V1__GetFiguresReply *by_community) {
  json_object *o = json_object_new_object();
  json_object *lines = json_object_new_array();
  json_object *cards = json_object_new_array();
  if (o == NULL || lines == NULL || cards == NULL) {
    json_object_put(o);
    json_object_put(lines);
    json_object_put(cards);
    return NULL;
  }
  json_object_object_add(o, "subdistrict", json_object_new_string(ctx->reg->subdistrict ? ctx->reg->subdistrict : ""));
  json_object_object_add(o, "year", json_object_new_int(req->year));
  json_object_object_add(o, "from_month", json_object_new_int(req->from_month));
  json_object_object_add(o, "to_month", json_object_new_int(req->to_month));
  json_object_object_add(o, "title", json_object_new_string(rt->sentences[0]));
  for (int i = 1; i < rt->n_sentences; i++)
    json_object_array_add(lines, json_object_new_string(rt->sentences[i]));
  json_object_object_add(o, "sentences", lines);
  json_object_object_add(o, "total",
                         by_community->total ? pj_from_message(&by_community->total->counters->base)
                                             : NULL);
  json_object_object_add(o, "labour", rt->labour ? pj_from_message(&rt->labour->base) : NULL);
  json_object_object_add(o, "open_cases", json_object_new_int64(by_community->open_cases));
  json_object_object_add(o, "overdue_cases", json_object_new_int64(by_community->overdue_cases));
  for (size_t i = 0; i < rt->n_rows; i++) {
    const doc_scorecard *s = &rt->rows[i].card;
    json_object *c = json_object_new_object();
    if (c == NULL)
      continue;
    json_object_object_add(c, "community", json_object_new_string(rt->rows[i].id));
    json_object_object_add(c, "name", json_object_new_string(rt->rows[i].name));
    json_object_object_add(c, "cases", json_object_new_int64(s->cases));
    json_object_object_add(c, "mediated", json_object_new_int64(s->mediated));
    json_object_object_add(c, "resolved", json_object_new_int64(s->resolved));
    json_object_object_add(c, "closed", json_object_new_int64(s->closed));
    json_object_object_add(c, "complete_files", json_object_new_int64(s->complete_files));
    json_object_object_add(c, "feedback", json_object_new_int64(s->feedback));
    json_object_object_add(c, "satisfied_or_basically",
                           json_object_new_int64(s->satisfied_or_basically));
    json_object_object_add(c, "file_quality", ratio_json(s->complete_files, s->closed));
    json_object_object_add(c, "satisfaction", ratio_json(s->satisfied_or_basically, s->feedback));
    json_object_array_add(cards, c);
  }
  json_object_object_add(o, "scorecard", cards);
  return o;
}

/* The day's anchor, for the coordinators to keep with the report: the
 * router signs the state of every case file it reports on. A router
 * without a signing key (or a caller not allowed to ask) has none: NULL,
 * and nothing said. *reply is the caller's to free. */
static const char *fetch_anchor(ctl_ctx *ctx, ProtobufCMessage **reply) {
  Mediation__V1__AnchorRequest areq = MEDIATION__V1__ANCHOR_REQUEST__INIT;
  rpc_call_opts aopts = {.timeout_ms = ctx->timeout_ms};
  mc_err aerr;
  if (rpc_client_call(ctx->client, &mediation__v1__router_admin__descriptor, "Anchor", &areq.base,
                      &aopts, reply, &aerr) == MC_OK)
    return ((const Mediation__V1__AnchorReply *)*reply)->anchor;
  return NULL;
}

/* The report as people read it: its sentences, the scorecard, the anchor. */
static int print_report(const doc_report_text *rt, const char *anchor) {
  int rc = CTL_EXIT_OK;
  printf("%s\n\n", rt->sentences[0]);
  for (int i = 1; i < rt->n_sentences; i++)
    printf("%s\n", rt->sentences[i]);
  printf("\n社区考评（案件数量：受理；案卷质量：案卷完整/结案；当事人满意度：满意与基本满意/回访）\n");
  ctl_table *t = ctl_table_new(DOC_SCORE_COLS, doc_score_headers, "lrrrrr");
  for (size_t i = 0; i < rt->n_rows; i++)
    scorecard_table_row(t, rt->rows[i].name, &rt->rows[i].card);
  scorecard_table_row(t, "合计", &rt->total_card);
  if (ctl_table_print(t, stdout) != 0)
    rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  ctl_table_free(t);
  if (anchor != NULL)
    printf("\n存证锚点（请另行保存，verify --anchor 用）\n%s\n", anchor);
  return rc;
}

/* Prints (or --json) the report from the two replies (documents/ words
 * them); the anchor as above. */
static int report_out(ctl_ctx *ctx, const Mediation__V1__GetFiguresRequest *req,
                      const Mediation__V1__GetFiguresReply *by_community,
                      const Mediation__V1__GetFiguresReply *by_kind, const char *anchor) {
  doc_figures f = {.year = req->year, .from_month = req->from_month, .to_month = req->to_month,
                   .by_community = by_community, .by_kind = by_kind};
  doc_report_text rt;
  mc_err err;
  if (doc_report_text_make(ctx->reg, &f, &rt, &err) != MC_OK)
    return ctl_status_fail(err.code, err.msg);
  int rc;
  if (ctx->json) {
    json_object *o = report_json(ctx, req, &rt, by_community);
    if (o != NULL)
      json_object_object_add(o, "anchor", anchor ? json_object_new_string(anchor) : NULL);
    rc = ctl_json_print(o);
  } else {
    rc = print_report(&rt, anchor);
  }
  doc_report_text_free(&rt);
  return rc;
}

/* Two calls and an anchor, not one request: the report runs itself. */
static int report_run(ctl_ctx *ctx, void *st) {
  figures_state *s = st;
  Mediation__V1__GetFiguresRequest *req = &s->req;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  if ((rc = period_of(ctx, &s->p, req)) != CTL_EXIT_OK)
    return rc;
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  Mediation__V1__GetFiguresReply *by_community = NULL, *by_kind = NULL;
  req->group_by = MV_GROUPING(COMMUNITY);
  if ((rc = get_figures(ctx, req, &by_community)) != CTL_EXIT_OK)
    return rc;
  req->group_by = MV_GROUPING(KIND);
  if ((rc = get_figures(ctx, req, &by_kind)) != CTL_EXIT_OK) {
    protobuf_c_message_free_unpacked(&by_community->base, NULL);
    return rc;
  }
  ProtobufCMessage *anchor_reply = NULL;
  const char *anchor = fetch_anchor(ctx, &anchor_reply);
  rc = report_out(ctx, req, by_community, by_kind, anchor);
  if (anchor_reply != NULL)
    protobuf_c_message_free_unpacked(anchor_reply, NULL);
  protobuf_c_message_free_unpacked(&by_community->base, NULL);
  protobuf_c_message_free_unpacked(&by_kind->base, NULL);
  return rc;
}

const ctl_ops ctl_report_ops = {
    .state_size = sizeof(figures_state),
    .options = report_options,
    .init = figures_init,
    .option = figures_option,
    .run = report_run,
};

/* ---- the report as a PDF (`mediactl document report`) ---- */

/* The same sentences and scorecard `report` prints, with the figures by
 * month, kind and community and the satisfaction counters as charts
 * (documents/doc_report_pdf_of). Three GetFigures calls, all as the caller. */
int ctl_report_pdf(ctl_ctx *ctx, const char *year_arg, const char *path) {
  Mediation__V1__GetFiguresRequest req = MEDIATION__V1__GET_FIGURES_REQUEST__INIT;
  period_args p = {.year = year_arg};
  int rc = period_of(ctx, &p, &req);
  if (rc != CTL_EXIT_OK)
    return rc;
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  Mediation__V1__GetFiguresReply *by[3] = {NULL, NULL, NULL}; /* community, kind, month */
  static const Mediation__V1__FigureGrouping groups[3] = {
      MV_GROUPING(COMMUNITY), MV_GROUPING(KIND), MV_GROUPING(MONTH)};
  for (int g = 0; g < 3 && rc == CTL_EXIT_OK; g++) {
    req.group_by = groups[g];
    rc = get_figures(ctx, &req, &by[g]);
  }
  if (rc == CTL_EXIT_OK) {
    doc_figures f = {.year = req.year, .from_month = req.from_month, .to_month = req.to_month,
                     .by_community = by[0], .by_kind = by[1], .by_month = by[2]};
    mc_err err;
    if (doc_report_pdf_of(ctx->reg, &f, path, &err) != MC_OK)
      rc = ctl_status_fail(err.code, err.msg);
  }
  for (int g = 0; g < 3; g++)
    if (by[g] != NULL)
      protobuf_c_message_free_unpacked(&by[g]->base, NULL);
  return rc;
}
