/*
 * cmd_cases.c - where cases are: `show` one case with its case file, `list`
 * cases by state, holder, community, kind, difficulty, deadline and date, a
 * page at a time, and `stuck`, what is past its deadline, by state and unit.
 *
 * These ask the router, signed as the coordinator, who reads every case with
 * ID numbers and phones masked. `show` with --unit asks the unit's own
 * service instead, which answers from the router when it can and from its
 * local copy when it cannot (marked as possibly out of date) - what an
 * operator sees of the case their unit holds, unmasked.
 */
#include <stdlib.h>
#include <string.h>

#include "services/coordinator/ctl.h"

/* ---- show ---- */

static int show_out(const ctl_ctx *ctx, const mv_case *c, mv_event *const *events, size_t n,
                    bool timeline, const char *note) {
  if (c == NULL)
    return ctl_fail(CTL_EXIT_FAILED, "the reply carries no case");
  ctl_print_case(ctx, c, stdout);
  if (note != NULL)
    printf("\n%s\n", note);
  if (timeline) {
    printf("\n案卷（%zu步）\n", n);
    if (ctl_print_timeline(ctx, events, n, stdout) != 0)
      return ctl_fail(CTL_EXIT_FAILED, "out of memory");
  }
  return CTL_EXIT_OK;
}

int ctl_cmd_show(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"timeline", no_argument, NULL, 't'},
      {NULL, 0, NULL, 0},
  };
  bool timeline = false;
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case 't': timeline = true; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  const char *case_ref = NULL;
  int rc = ctl_positionals(ctx, argc, argv, 1, &case_ref,
                           "CASE (a case id such as BH-2026-000001, or UNIT:REF)");
  if (rc != CTL_EXIT_OK)
    return rc;
  bool desk = ctx->unit_arg != NULL;
  if ((rc = ctl_connect(ctx, desk)) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL;
  if (desk) {
    Mediation__V1__DeskShowRequest req = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
    req.case_ref = (char *)case_ref;
    req.with_timeline = timeline;
    rc = ctl_call(ctx, &mediation__v1__desk__descriptor, "ShowCase", &req.base, &reply);
    if (rc != CTL_EXIT_OK)
      return rc;
    const Mediation__V1__DeskShowReply *r = (const Mediation__V1__DeskShowReply *)reply;
    char note[600], t[CTL_FMT_MAX];
    ctl_fmt_time(ctx, r->synced_ms, t);
    snprintf(note, sizeof(note), "（%.400s：本单位的本地副本，最后同步于 %s，可能不是最新）",
             r->router_problem[0] ? r->router_problem : "路由暂不可达", t);
    rc = ctx->json ? ctl_json_print_message(reply)
                   : show_out(ctx, r->case_record, r->events, r->n_events, timeline,
                              r->stale ? note : NULL);
  } else {
    Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
    req.case_ref = (char *)case_ref;
    req.with_timeline = timeline;
    rc = ctl_call(ctx, &mediation__v1__router__descriptor, "GetCase", &req.base, &reply);
    if (rc != CTL_EXIT_OK)
      return rc;
    const Mediation__V1__GetCaseReply *r = (const Mediation__V1__GetCaseReply *)reply;
    rc = ctx->json ? ctl_json_print_message(reply)
                   : show_out(ctx, r->case_record, r->events, r->n_events, timeline,
                              r->masked ? "（身份证号和电话已遮蔽：只有承办单位可见）" : NULL);
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* ---- list ---- */

static void state_cell(const ctl_ctx *ctx, const Mediation__V1__CaseSummary *s, char *buf,
                       size_t cap) {
  if (s->state == MV_STATE(TRANSFER) && s->offered_to[0])
    snprintf(buf, cap, "%s → %s", ctl_state_label(s->state), ctl_unit_label(ctx, s->offered_to));
  else
    snprintf(buf, cap, "%s", ctl_state_label(s->state));
}

static int print_summaries(const ctl_ctx *ctx, Mediation__V1__CaseSummary *const *cases,
                           size_t n) {
  static const char *const headers[] = {"案件编号", "状态",         "承办单位", "类型",
                                        "社区",     "难度",         "涉及金额(元)", "受理时间",
                                        "期限"};
  ctl_table *t = ctl_table_new(9, headers, "llllllrll");
  for (size_t i = 0; i < n; i++) {
    const Mediation__V1__CaseSummary *s = cases[i];
    char state[200], money[CTL_FMT_MAX], created[CTL_FMT_MAX], dl[CTL_FMT_MAX],
        deadline[CTL_FMT_MAX + 16];
    state_cell(ctx, s, state, sizeof(state));
    ctl_fmt_yuan(s->money_fen, money);
    ctl_fmt_time(ctx, s->created_ms, created);
    ctl_fmt_time(ctx, s->deadline_ms, dl);
    snprintf(deadline, sizeof(deadline), "%s%s", dl, s->overdue ? " 逾期" : "");
    const char *cells[] = {s->id,
                           state,
                           ctl_unit_label(ctx, s->holder),
                           mc_label_of(mc_kind_names, s->kind),
                           ctl_community_label(ctx, s->community),
                           mc_label_of(mc_difficulty_names, s->difficulty),
                           money,
                           created,
                           deadline};
    ctl_table_add(t, cells);
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, "out of memory");
}

enum {
  L_STATE = 500,
  L_HOLDER,
  L_OFFERED,
  L_COMMUNITY,
  L_KIND,
  L_DIFFICULTY,
  L_OVERDUE,
  L_FROM,
  L_TO,
  L_LIMIT,
  L_CURSOR,
};

static int name_opt(ctl_ctx *ctx, const mc_name *table, const char *option, const char *text,
                    int *out) {
  if (ctl_parse_name(table, text, out) == 0)
    return CTL_EXIT_OK;
  char names[400];
  ctl_names_list(table, names, sizeof(names));
  return ctl_usage_error(ctx, "%s: expected one of %s", option, names);
}

int ctl_cmd_list(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"state", required_argument, NULL, L_STATE},
      {"holder", required_argument, NULL, L_HOLDER},
      {"offered-to", required_argument, NULL, L_OFFERED},
      {"community", required_argument, NULL, L_COMMUNITY},
      {"kind", required_argument, NULL, L_KIND},
      {"difficulty", required_argument, NULL, L_DIFFICULTY},
      {"overdue", no_argument, NULL, L_OVERDUE},
      {"from", required_argument, NULL, L_FROM},
      {"to", required_argument, NULL, L_TO},
      {"limit", required_argument, NULL, L_LIMIT},
      {"cursor", required_argument, NULL, L_CURSOR},
      {NULL, 0, NULL, 0},
  };
  const char *state = NULL, *holder = NULL, *offered = NULL, *community = NULL, *kind = NULL,
             *difficulty = NULL, *from = NULL, *to = NULL, *limit = NULL, *cursor = "";
  bool overdue = false;
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case L_STATE: state = optarg; break;
    case L_HOLDER: holder = optarg; break;
    case L_OFFERED: offered = optarg; break;
    case L_COMMUNITY: community = optarg; break;
    case L_KIND: kind = optarg; break;
    case L_DIFFICULTY: difficulty = optarg; break;
    case L_OVERDUE: overdue = true; break;
    case L_FROM: from = optarg; break;
    case L_TO: to = optarg; break;
    case L_LIMIT: limit = optarg; break;
    case L_CURSOR: cursor = optarg; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK)
    return rc;
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  int v;
  if (state && (rc = name_opt(ctx, mc_state_names, "--state", state, &v)) != CTL_EXIT_OK)
    return rc;
  req.state = state ? v : 0;
  if (kind && (rc = name_opt(ctx, mc_kind_names, "--kind", kind, &v)) != CTL_EXIT_OK)
    return rc;
  req.kind = kind ? v : 0;
  if (difficulty &&
      (rc = name_opt(ctx, mc_difficulty_names, "--difficulty", difficulty, &v)) != CTL_EXIT_OK)
    return rc;
  req.difficulty = difficulty ? v : 0;
  if (limit != NULL) {
    long n;
    if (ctl_parse_long(limit, 1, 100000, &n) != 0)
      return ctl_usage_error(ctx, "--limit: expected a number of cases, 1 or more");
    req.page_size = (uint32_t)n;
  }
  req.overdue_only = overdue;
  req.cursor = (char *)cursor;
  if ((rc = ctl_load(ctx)) != CTL_EXIT_OK)
    return rc;
  mc_date d;
  if (from != NULL) {
    if (ctl_parse_date(ctx, from, &d) != 0)
      return ctl_usage_error(ctx, "--from: expected a date, YYYY-MM-DD");
    req.created_from_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes);
  }
  if (to != NULL) {
    if (ctl_parse_date(ctx, to, &d) != 0)
      return ctl_usage_error(ctx, "--to: expected a date, YYYY-MM-DD");
    /* --to is the last day listed; the router's bound is exclusive. */
    req.created_to_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes) + 86400000;
  }
  const mc_unit *u;
  const mc_community *com;
  if (holder != NULL) {
    if ((rc = ctl_find_unit(ctx, holder, "--holder", &u)) != CTL_EXIT_OK)
      return rc;
    req.holder = u->id;
  }
  if (offered != NULL) {
    if ((rc = ctl_find_unit(ctx, offered, "--offered-to", &u)) != CTL_EXIT_OK)
      return rc;
    req.offered_to = u->id;
  }
  if (community != NULL) {
    if ((rc = ctl_find_community(ctx, community, "--community", &com)) != CTL_EXIT_OK)
      return rc;
    req.community = com->id;
  }
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__router__descriptor, "ListCases", &req.base, &reply)) !=
      CTL_EXIT_OK)
    return rc;
  const Mediation__V1__ListCasesReply *r = (const Mediation__V1__ListCasesReply *)reply;
  if (ctx->json) {
    rc = ctl_json_print_message(reply);
  } else {
    if (r->n_cases == 0)
      puts(cursor[0] ? "这一页没有符合条件的案件。" : "没有符合条件的案件。");
    else
      rc = print_summaries(ctx, r->cases, r->n_cases);
    if (r->next_cursor[0] != '\0')
      fprintf(stderr, "mediactl: more cases follow: repeat the command with --cursor %s\n",
              r->next_cursor);
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* ---- stuck ---- */

static int print_stuck(const ctl_ctx *ctx, const Mediation__V1__StuckReply *r) {
  char asof[CTL_FMT_MAX];
  ctl_fmt_time(ctx, r->as_of_ms, asof);
  uint64_t total = 0;
  for (size_t g = 0; g < r->n_groups; g++)
    total += r->groups[g]->count;
  if (total == 0) {
    printf("截至 %s，没有逾期的案件。\n", asof);
    return CTL_EXIT_OK;
  }
  printf("截至 %s，逾期案件 %llu 件\n\n", asof, (unsigned long long)total);
  static const char *const headers[] = {"状态", "单位", "逾期件数", "案件编号",
                                        "进入状态", "期限", "已逾期"};
  ctl_table *t = ctl_table_new(7, headers, "llrllll");
  for (size_t g = 0; g < r->n_groups; g++) {
    const Mediation__V1__StuckGroup *grp = r->groups[g];
    char count[32];
    snprintf(count, sizeof(count), "%u", grp->count);
    for (size_t i = 0; i < grp->n_oldest || i == 0; i++) {
      const Mediation__V1__CaseSummary *s = i < grp->n_oldest ? grp->oldest[i] : NULL;
      char entered[CTL_FMT_MAX] = "", deadline[CTL_FMT_MAX] = "", late[CTL_FMT_MAX] = "";
      if (s != NULL) {
        ctl_fmt_time(ctx, s->state_entered_ms, entered);
        ctl_fmt_time(ctx, s->deadline_ms, deadline);
        ctl_fmt_duration(r->as_of_ms - s->deadline_ms, late);
      }
      const char *cells[] = {i == 0 ? ctl_state_label(grp->state) : "",
                             i == 0 ? ctl_unit_label(ctx, grp->unit) : "",
                             i == 0 ? count : "",
                             s ? s->id : "",
                             entered,
                             deadline,
                             late};
      ctl_table_add(t, cells);
    }
    if (grp->count > grp->n_oldest) {
      char more[64];
      snprintf(more, sizeof(more), "另有%llu件",
               (unsigned long long)(grp->count - grp->n_oldest));
      const char *cells[] = {"", "", "", more, "", "", ""};
      ctl_table_add(t, cells);
    }
  }
  int rc = ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, "out of memory");
}

int ctl_cmd_stuck(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"per-group", required_argument, NULL, 'n'},
      {NULL, 0, NULL, 0},
  };
  const char *per_group = NULL;
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case 'n': per_group = optarg; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK)
    return rc;
  Mediation__V1__StuckRequest req = MEDIATION__V1__STUCK_REQUEST__INIT;
  if (per_group != NULL) {
    long n;
    if (ctl_parse_long(per_group, 1, 100000, &n) != 0)
      return ctl_usage_error(ctx, "--per-group: expected a number of cases, 1 or more");
    req.per_group = (uint32_t)n;
  }
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  if (ctx->unit != NULL)
    req.unit = ctx->unit->id; /* here --unit filters: the router is asked, as the coordinator */
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__router__descriptor, "Stuck", &req.base, &reply)) !=
      CTL_EXIT_OK)
    return rc;
  rc = ctx->json ? ctl_json_print_message(reply)
                 : print_stuck(ctx, (const Mediation__V1__StuckReply *)reply);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}
