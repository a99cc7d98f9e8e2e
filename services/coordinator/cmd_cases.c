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
 *
 * Each command is its ops: options, the request, the table; the runner
 * (run.c) parses, calls and prints --json.
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

typedef struct show_state {
  bool timeline;
  const char *person; /* the reader, for the router's access log ("" if not given) */
  Mediation__V1__DeskShowRequest desk;
  Mediation__V1__GetCaseRequest router;
} show_state;

static const struct option show_options[] = {
    {"timeline", no_argument, NULL, 't'},
    {"person", required_argument, NULL, 'p'},
    {NULL, 0, NULL, 0},
};

static int show_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  show_state *s = st;
  if (c == 't')
    s->timeline = true;
  else if (c == 'p')
    s->person = value;
  else
    return ctl_usage_error(ctx, "unexpected option");
  return CTL_EXIT_OK;
}

/* With --unit, the unit's service (its operators' view); else the router. */
static int show_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  show_state *s = st;
  if (ctl_wants_desk(ctx)) {
    mediation__v1__desk_show_request__init(&s->desk);
    s->desk.case_ref = (char *)ctx->arg;
    s->desk.with_timeline = s->timeline;
    s->desk.person = (char *)(s->person ? s->person : "");
    *req = (ctl_request){&mediation__v1__desk__descriptor, "ShowCase", &s->desk.base};
  } else {
    mediation__v1__get_case_request__init(&s->router);
    s->router.case_ref = (char *)ctx->arg;
    s->router.with_timeline = s->timeline;
    s->router.person = (char *)(s->person ? s->person : "");
    *req = (ctl_request){&mediation__v1__router__descriptor, "GetCase", &s->router.base};
  }
  return CTL_EXIT_OK;
}

static int show_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  bool timeline = ((const show_state *)st)->timeline;
  if (!ctx->desk) {
    const Mediation__V1__GetCaseReply *r = (const Mediation__V1__GetCaseReply *)reply;
    return show_out(ctx, r->case_record, r->events, r->n_events, timeline,
                    r->masked ? "（身份证号和电话已遮蔽：只有承办单位可见）" : NULL);
  }
  const Mediation__V1__DeskShowReply *r = (const Mediation__V1__DeskShowReply *)reply;
  char note[600], t[CTL_FMT_MAX];
  ctl_fmt_time(ctx, r->synced_ms, t);
  snprintf(note, sizeof(note), "（%.400s：本单位的本地副本，最后同步于 %s，可能不是最新）",
           r->router_problem[0] ? r->router_problem : "路由暂不可达", t);
  return show_out(ctx, r->case_record, r->events, r->n_events, timeline, r->stale ? note : NULL);
}

const ctl_ops ctl_show_ops = {
    .state_size = sizeof(show_state),
    .options = show_options,
    .args = "CASE (a case id such as BH-2026-000001, or UNIT:REF)",
    .option = show_option,
    .build = show_build,
    .render = show_render,
};

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

typedef struct list_state {
  const char *state, *holder, *offered, *community, *kind, *difficulty, *from, *to, *limit,
      *cursor;
  bool overdue;
  Mediation__V1__ListCasesRequest req;
} list_state;

static const struct option list_options[] = {
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

static void list_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  list_state *s = st;
  s->cursor = "";
  mediation__v1__list_cases_request__init(&s->req);
}

static int list_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  list_state *s = st;
  switch (c) {
  case L_STATE: s->state = value; break;
  case L_HOLDER: s->holder = value; break;
  case L_OFFERED: s->offered = value; break;
  case L_COMMUNITY: s->community = value; break;
  case L_KIND: s->kind = value; break;
  case L_DIFFICULTY: s->difficulty = value; break;
  case L_OVERDUE: s->overdue = true; break;
  case L_FROM: s->from = value; break;
  case L_TO: s->to = value; break;
  case L_LIMIT: s->limit = value; break;
  case L_CURSOR: s->cursor = value; break;
  default: return ctl_usage_error(ctx, "unexpected option");
  }
  return CTL_EXIT_OK;
}

/* The filters that need no configuration. */
static int list_check(ctl_ctx *ctx, void *st) {
  list_state *s = st;
  Mediation__V1__ListCasesRequest *req = &s->req;
  int rc, v;
  if (s->state &&
      (rc = ctl_enum_option(ctx, mc_state_names, "--state", s->state, &v)) != CTL_EXIT_OK)
    return rc;
  req->state = s->state ? v : 0;
  if (s->kind && (rc = ctl_enum_option(ctx, mc_kind_names, "--kind", s->kind, &v)) != CTL_EXIT_OK)
    return rc;
  req->kind = s->kind ? v : 0;
  if (s->difficulty && (rc = ctl_enum_option(ctx, mc_difficulty_names, "--difficulty",
                                             s->difficulty, &v)) != CTL_EXIT_OK)
    return rc;
  req->difficulty = s->difficulty ? v : 0;
  if (s->limit != NULL) {
    long n;
    if (ctl_parse_long(s->limit, 1, 100000, &n) != 0)
      return ctl_usage_error(ctx, "--limit: expected a number of cases, 1 or more");
    req->page_size = (uint32_t)n;
  }
  req->overdue_only = s->overdue;
  req->cursor = (char *)s->cursor;
  return CTL_EXIT_OK;
}

/* The filters by date, unit and community, from the configuration. */
static int list_build(ctl_ctx *ctx, void *st, ctl_request *out) {
  list_state *s = st;
  Mediation__V1__ListCasesRequest *req = &s->req;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  mc_date d;
  if (s->from != NULL) {
    if (ctl_parse_date(ctx, s->from, &d) != 0)
      return ctl_usage_error(ctx, "--from: expected a date, YYYY-MM-DD");
    req->created_from_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes);
  }
  if (s->to != NULL) {
    if (ctl_parse_date(ctx, s->to, &d) != 0)
      return ctl_usage_error(ctx, "--to: expected a date, YYYY-MM-DD");
    /* --to is the last day listed; the router's bound is exclusive. */
    req->created_to_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes) + 86400000;
  }
  const mc_unit *u;
  const mc_community *com;
  if (s->holder != NULL) {
    if ((rc = ctl_find_unit(ctx, s->holder, "--holder", &u)) != CTL_EXIT_OK)
      return rc;
    req->holder = u->id;
  }
  if (s->offered != NULL) {
    if ((rc = ctl_find_unit(ctx, s->offered, "--offered-to", &u)) != CTL_EXIT_OK)
      return rc;
    req->offered_to = u->id;
  }
  if (s->community != NULL) {
    if ((rc = ctl_find_community(ctx, s->community, "--community", &com)) != CTL_EXIT_OK)
      return rc;
    req->community = com->id;
  }
  *out = (ctl_request){&mediation__v1__router__descriptor, "ListCases", &req->base};
  return CTL_EXIT_OK;
}

static int list_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  const char *cursor = ((const list_state *)st)->cursor;
  const Mediation__V1__ListCasesReply *r = (const Mediation__V1__ListCasesReply *)reply;
  int rc = CTL_EXIT_OK;
  if (r->n_cases == 0)
    puts(cursor[0] ? "这一页没有符合条件的案件。" : "没有符合条件的案件。");
  else
    rc = print_summaries(ctx, r->cases, r->n_cases);
  if (r->next_cursor[0] != '\0')
    fprintf(stderr, "mediactl: more cases follow: repeat the command with --cursor %s\n",
            r->next_cursor);
  return rc;
}

const ctl_ops ctl_list_ops = {
    .state_size = sizeof(list_state),
    .options = list_options,
    .init = list_init,
    .option = list_option,
    .check = list_check,
    .build = list_build,
    .render = list_render,
};

/* ---- stuck ---- */

static int stuck_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__StuckReply *r = (const Mediation__V1__StuckReply *)reply;
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

typedef struct stuck_state {
  const char *per_group;
  Mediation__V1__StuckRequest req;
} stuck_state;

static const struct option stuck_options[] = {
    {"per-group", required_argument, NULL, 'n'},
    {NULL, 0, NULL, 0},
};

static int stuck_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  if (c != 'n')
    return ctl_usage_error(ctx, "unexpected option");
  ((stuck_state *)st)->per_group = value;
  return CTL_EXIT_OK;
}

static int stuck_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  stuck_state *s = st;
  mediation__v1__stuck_request__init(&s->req);
  if (s->per_group != NULL) {
    long n;
    if (ctl_parse_long(s->per_group, 1, 100000, &n) != 0)
      return ctl_usage_error(ctx, "--per-group: expected a number of cases, 1 or more");
    s->req.per_group = (uint32_t)n;
  }
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  if (ctx->unit != NULL)
    s->req.unit = ctx->unit->id; /* here --unit filters: the router is asked, as the coordinator */
  *req = (ctl_request){&mediation__v1__router__descriptor, "Stuck", &s->req.base};
  return CTL_EXIT_OK;
}

const ctl_ops ctl_stuck_ops = {
    .state_size = sizeof(stuck_state),
    .options = stuck_options,
    .option = stuck_option,
    .build = stuck_build,
    .render = stuck_render,
};
