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

#include "core/i18n.h"
#include "services/coordinator/ctl.h"

/* ---- show ---- */

static int show_out(const ctl_ctx *ctx, const mv_case *c, mv_event *const *events, size_t n,
                    bool timeline, const char *note) {
  if (c == NULL)
    return ctl_fail(CTL_EXIT_FAILED, _("the reply carries no case"));
  ctl_print_case(ctx, c, stdout);
  if (note != NULL)
    printf("\n%s\n", note);
  if (timeline) {
    printf("\n案卷（%zu步）\n", n);
    if (ctl_print_timeline(ctx, events, n, stdout) != 0)
      return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
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
    return ctl_usage_error(ctx, _("unexpected option"));
  return CTL_EXIT_OK;
}

/* With --unit, the unit's service (its operators' view); else the router. */
static int show_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  show_state *s = st;
  const char *ref;
  int rc = ctl_case_arg(ctx, ctx->arg, "CASE", false, &ref);
  if (rc != CTL_EXIT_OK)
    return rc;
  if (ctl_wants_desk(ctx)) {
    mediation__v1__desk_show_request__init(&s->desk);
    s->desk.case_ref = (char *)ref;
    s->desk.with_timeline = s->timeline;
    s->desk.person = (char *)(s->person ? s->person : "");
    *req = (ctl_request){&mediation__v1__desk__descriptor, "ShowCase", &s->desk.base};
  } else {
    mediation__v1__get_case_request__init(&s->router);
    s->router.case_ref = (char *)ref;
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
    .args = "CASE (" CTL_CASE_FORMS ")",
    .option = show_option,
    .build = show_build,
    .render = show_render,
};

/* ---- list ---- */

/* What list says besides its table, in one place (i18n wraps these). */
#define LIST_NONE "没有符合条件的案件。"
#define LIST_NONE_ON_PAGE "这一页没有符合条件的案件。"
#define LIST_PAGE_OF _("page %u of %u, %llu cases")
#define LIST_PAGE_UNKNOWN _("%llu cases")
#define LIST_AT_LEAST _("page %u, more than %llu cases")
#define LIST_ALL _("%llu cases, every page")
#define LIST_MORE _("mediactl: more cases follow: repeat the command with --cursor %u:%s (or use --all)")
#define LIST_MORE_ALL _("mediactl: the list changed while it was read: %llu cases listed of %llu")
#define LIST_GAVE_UP _("mediactl: stopped after %u pages without reaching the %llu cases counted")

static void state_cell(const ctl_ctx *ctx, const Mediation__V1__CaseSummary *s, bool wide,
                       char *buf, size_t cap) {
  const char *repeat = s->n_repeat_of > 0 ? " 再次纠纷" : ""; /* ids: `show` */
  if (s->state == MV_STATE(TRANSFER) && s->offered_to[0])
    snprintf(buf, cap, "%s → %s%s", ctl_state_label(s->state),
             wide ? ctl_unit_label(ctx, s->offered_to) : ctl_unit_short_label(ctx, s->offered_to),
             repeat);
  else
    snprintf(buf, cap, "%s%s", ctl_state_label(s->state), repeat);
}

/* "2026-03-05" of "2026-03-05 10:00": the narrow list shows days. */
static void date_only(char *time_text) {
  char *space = strchr(time_text, ' ');
  if (space != NULL && space - time_text == 10)
    *space = '\0';
}

/* The list's table. Narrow (the default): units by the shortest name people
 * use (大石头), dates without times, no difficulty, fitted to CTL_LIST_WIDTH
 * by cutting the state, holder and community; wide (--wide, and always for
 * CSV): every column whole, units by their full names. */
ctl_table *ctl_summaries_table(const ctl_ctx *ctx, Mediation__V1__CaseSummary *const *cases,
                               size_t n, bool wide) {
  static const char *const wide_headers[] = {"案件编号", "状态", "承办单位", "类型", "社区",
                                             "难度", "涉及金额(元)", "受理时间", "期限"};
  static const char *const narrow_headers[] = {"案件编号", "状态", "承办单位", "类型",
                                               "社区", "金额(元)", "受理日期", "期限"};
  ctl_table *t = wide ? ctl_table_new(9, wide_headers, "llllllrll")
                      : ctl_table_new(8, narrow_headers, "lllllrll");
  if (!wide) /* state, holder, community: the free text (unit names) */
    ctl_table_fit(t, CTL_LIST_WIDTH, (1u << 1) | (1u << 2) | (1u << 4));
  for (size_t i = 0; i < n; i++) {
    const Mediation__V1__CaseSummary *s = cases[i];
    char state[200], money[CTL_FMT_MAX], created[CTL_FMT_MAX], dl[CTL_FMT_MAX],
        deadline[CTL_FMT_MAX + 16];
    state_cell(ctx, s, wide, state, sizeof(state));
    ctl_fmt_yuan(s->money_fen, money);
    ctl_fmt_time(ctx, s->created_ms, created);
    ctl_fmt_time(ctx, s->deadline_ms, dl);
    if (!wide) {
      date_only(created);
      date_only(dl);
    }
    snprintf(deadline, sizeof(deadline), "%s%s", dl, s->overdue ? " 逾期" : "");
    const char *holder = wide ? ctl_unit_label(ctx, s->holder) : ctl_unit_short_label(ctx, s->holder);
    const char *kind = mc_label_of(mc_kind_names, s->kind);
    const char *community = ctl_community_label(ctx, s->community);
    if (wide) {
      const char *cells[] = {s->id,      state,   holder,  kind,    community,
                             mc_label_of(mc_difficulty_names, s->difficulty),
                             money,      created, deadline};
      ctl_table_add(t, cells);
    } else {
      const char *cells[] = {s->id, state, holder, kind, community, money, created, deadline};
      ctl_table_add(t, cells);
    }
  }
  return t;
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
  L_WIDE,
  L_ALL,
  L_CSV,
};

typedef struct list_state {
  const char *state, *holder, *offered, *community, *kind, *difficulty, *from, *to, *limit,
      *cursor;
  bool overdue, wide, all, csv;
  unsigned page; /* the page the cursor starts (1 for the first; 0: not known) */
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
    {"wide", no_argument, NULL, L_WIDE},
    {"all", no_argument, NULL, L_ALL},
    {"csv", no_argument, NULL, L_CSV},
    {NULL, 0, NULL, 0},
};

static void list_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  list_state *s = st;
  s->cursor = "";
  s->page = 1;
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
  case L_WIDE: s->wide = true; break;
  case L_ALL: s->all = true; break;
  case L_CSV: s->csv = true; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

/* The cursors list prints are "<page>:<the router's cursor>", so the next
 * run knows which page it shows; the router's own cursor (next_cursor in
 * --json) is taken too, its page then unknown. Router cursors never hold
 * ':' (base64url and '.'). */
static void split_page(list_state *s) {
  const char *colon = strchr(s->cursor, ':');
  long page;
  char digits[12];
  size_t n = colon ? (size_t)(colon - s->cursor) : 0;
  if (colon == NULL || n == 0 || n >= sizeof(digits)) {
    s->page = s->cursor[0] ? 0 : 1;
    return;
  }
  memcpy(digits, s->cursor, n);
  digits[n] = '\0';
  if (ctl_parse_long(digits, 1, 10000000, &page) != 0) {
    s->page = 0;
    return;
  }
  s->page = (unsigned)page;
  s->cursor = colon + 1;
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
      return ctl_usage_error(ctx, _("--limit: expected a number of cases, 1 or more"));
    req->page_size = (uint32_t)n;
  }
  if (s->csv && ctx->json)
    return ctl_usage_error(ctx, _("--csv and --json: choose one"));
  split_page(s);
  req->overdue_only = s->overdue;
  req->cursor = (char *)s->cursor;
  req->with_total = true;
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
      return ctl_usage_error(ctx, _("--from: expected a date, YYYY-MM-DD"));
    req->created_from_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes);
  }
  if (s->to != NULL) {
    if (ctl_parse_date(ctx, s->to, &d) != 0)
      return ctl_usage_error(ctx, _("--to: expected a date, YYYY-MM-DD"));
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

/* The replies of one run: one page, or every page with --all. */
typedef struct list_pages {
  Mediation__V1__ListCasesReply **replies; /* ours: freed by pages_free */
  size_t n, cap;
  Mediation__V1__CaseSummary **cases; /* borrowed from replies, in order */
  size_t n_cases;
} list_pages;

static void pages_free(list_pages *p) {
  for (size_t i = 0; i < p->n; i++)
    protobuf_c_message_free_unpacked(&p->replies[i]->base, NULL);
  free(p->replies);
  free(p->cases);
}

/* Keeps a reply (taking it over) and its cases. 0, or -1 out of memory (the
 * reply is then freed). */
static int pages_add(list_pages *p, Mediation__V1__ListCasesReply *r) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 4;
    Mediation__V1__ListCasesReply **grown = realloc(p->replies, cap * sizeof(*grown));
    if (grown == NULL) {
      protobuf_c_message_free_unpacked(&r->base, NULL);
      return -1;
    }
    p->replies = grown;
    p->cap = cap;
  }
  p->replies[p->n++] = r;
  if (r->n_cases == 0)
    return 0;
  Mediation__V1__CaseSummary **cases =
      realloc(p->cases, (p->n_cases + r->n_cases) * sizeof(*cases));
  if (cases == NULL)
    return -1;
  memcpy(cases + p->n_cases, r->cases, r->n_cases * sizeof(*cases));
  p->cases = cases;
  p->n_cases += r->n_cases;
  return 0;
}

/* Asks for the page at the request's cursor, and with --all the pages after
 * it. --all is bounded by the total the first reply counted: it stops once
 * that many cases are listed, and gives up after as many pages again
 * without one (a page cut short by the router's examination bound may be
 * empty yet carry a cursor). */
static int fetch_pages(ctl_ctx *ctx, list_state *s, list_pages *p) {
  Mediation__V1__ListCasesRequest *req = &s->req;
  char *cursor = NULL; /* the next page's cursor, copied out of the last reply */
  int rc = CTL_EXIT_OK;
  unsigned empty = 0;
  for (;;) {
    ProtobufCMessage *reply = NULL;
    if ((rc = ctl_call(ctx, &mediation__v1__router__descriptor, "ListCases", &req->base,
                       &reply)) != CTL_EXIT_OK)
      break;
    Mediation__V1__ListCasesReply *r = (Mediation__V1__ListCasesReply *)reply;
    if (pages_add(p, r) != 0) {
      rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
      break;
    }
    const Mediation__V1__ListCasesReply *first = p->replies[0];
    empty = r->n_cases == 0 ? empty + 1 : 0;
    if (!s->all || r->next_cursor[0] == '\0')
      break;
    if (!first->total_at_least && p->n_cases >= first->total)
      break;
    if (empty > 1000) { /* 1000 pages of nothing but examination: something is wrong */
      fprintf(stderr, LIST_GAVE_UP, (unsigned)p->n, (unsigned long long)first->total);
      fputc('\n', stderr);
      rc = CTL_EXIT_FAILED;
      break;
    }
    free(cursor);
    if ((cursor = strdup(r->next_cursor)) == NULL) {
      rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
      break;
    }
    req->cursor = cursor;
    req->with_total = false; /* counted once */
  }
  req->cursor = (char *)s->cursor;
  free(cursor);
  return rc;
}

/* The line under the table: "page 1 of 7, 137 cases". */
static void page_line(const list_state *s, const list_pages *p, uint32_t page_size, FILE *out) {
  const Mediation__V1__ListCasesReply *first = p->replies[0];
  unsigned long long total = first->total;
  unsigned pages = page_size ? (unsigned)((total + page_size - 1) / page_size) : 0;
  if (pages == 0)
    pages = 1;
  if (first->total_at_least)
    fprintf(out, LIST_AT_LEAST, s->page ? s->page : 1, total);
  else if (s->all)
    fprintf(out, LIST_ALL, total);
  else if (s->page != 0)
    fprintf(out, LIST_PAGE_OF, s->page, pages, total);
  else
    fprintf(out, LIST_PAGE_UNKNOWN, total);
  fputc('\n', out);
}

static int list_run(ctl_ctx *ctx, void *st) {
  list_state *s = st;
  ctl_request req;
  int rc = list_build(ctx, s, &req);
  if (rc != CTL_EXIT_OK || (rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  list_pages p = {0};
  if ((rc = fetch_pages(ctx, s, &p)) != CTL_EXIT_OK) {
    pages_free(&p);
    return rc;
  }
  const Mediation__V1__ListCasesReply *last = p.replies[p.n - 1];
  uint32_t page_size = s->req.page_size ? s->req.page_size : ctx->reg->limits.page_size_default;
  if (ctx->json) {
    /* One reply's shape: every page's cases, the first page's total, the
     * last page's cursor. */
    Mediation__V1__ListCasesReply merged = *p.replies[0];
    merged.cases = p.cases;
    merged.n_cases = p.n_cases;
    merged.next_cursor = last->next_cursor;
    rc = ctl_json_print_message(&merged.base);
  } else if (s->csv) {
    ctl_table *t = ctl_summaries_table(ctx, p.cases, p.n_cases, true);
    rc = ctl_table_print_csv(t, stdout, true) == 0 ? CTL_EXIT_OK
                                                   : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
    ctl_table_free(t);
    page_line(s, &p, page_size, stderr); /* stdout is the file */
  } else if (p.n_cases == 0) {
    puts(s->cursor[0] ? LIST_NONE_ON_PAGE : LIST_NONE);
    page_line(s, &p, page_size, stdout);
  } else {
    ctl_table *t = ctl_summaries_table(ctx, p.cases, p.n_cases, s->wide);
    rc = ctl_table_print(t, stdout) == 0 ? CTL_EXIT_OK
                                         : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
    ctl_table_free(t);
    putchar('\n');
    page_line(s, &p, page_size, stdout);
  }
  if (rc == CTL_EXIT_OK && !ctx->json && last->next_cursor[0] != '\0' &&
      !(s->all && p.n_cases >= p.replies[0]->total)) {
    if (s->all)
      fprintf(stderr, LIST_MORE_ALL, (unsigned long long)p.n_cases,
              (unsigned long long)p.replies[0]->total);
    else
      fprintf(stderr, LIST_MORE, s->page ? s->page + 1 : 2, last->next_cursor);
    fputc('\n', stderr);
  }
  pages_free(&p);
  return rc;
}

const ctl_ops ctl_list_ops = {
    .state_size = sizeof(list_state),
    .options = list_options,
    .init = list_init,
    .option = list_option,
    .check = list_check,
    .run = list_run,
};

/* ---- stuck ---- */

typedef struct stuck_state {
  const char *per_group;
  bool wide, all;
  Mediation__V1__StuckRequest req;
} stuck_state;

static int stuck_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  const stuck_state *ss = st;
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
  if (!ss->wide) /* the unit's name is the free text */
    ctl_table_fit(t, CTL_LIST_WIDTH, 1u << 1);
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
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
}

static const struct option stuck_options[] = {
    {"per-group", required_argument, NULL, 'n'},
    {"wide", no_argument, NULL, 'w'},
    {"all", no_argument, NULL, 'A'},
    {NULL, 0, NULL, 0},
};

static int stuck_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  stuck_state *s = st;
  switch (c) {
  case 'n': s->per_group = value; break;
  case 'w': s->wide = true; break;
  case 'A': s->all = true; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

static int stuck_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  stuck_state *s = st;
  mediation__v1__stuck_request__init(&s->req);
  if (s->per_group != NULL) {
    long n;
    if (ctl_parse_long(s->per_group, 1, 100000, &n) != 0)
      return ctl_usage_error(ctx, _("--per-group: expected a number of cases, 1 or more"));
    s->req.per_group = (uint32_t)n;
  }
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  if (s->all && s->per_group != NULL)
    return ctl_usage_error(ctx, _("--all and --per-group: choose one"));
  if (s->all) /* every case of every group, up to what the router lists at once */
    s->req.per_group = ctx->reg->limits.page_size_max;
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
