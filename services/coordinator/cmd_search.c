/*
 * cmd_search.c - `mediactl search TEXT`: cases by a party's name (or part
 * of it), the unit's reference, a team member, or a whole ID number or
 * phone, from the router (Router/Search) or, with --unit, through that
 * unit's Desk (which answers from its own copies while the router is away).
 *
 * The rows are built in one place (ctl_search_row), so the table here and
 * any other writer of the same rows (CSV) show the same columns.
 */
#include <stdio.h>
#include <string.h>

#include "core/i18n.h"
#include "core/names.h"
#include "services/coordinator/ctl.h"

const char *const ctl_search_headers[CTL_SEARCH_COLS] = {
    "案件编号", "匹配", "状态", "承办单位", "类型", "社区", "受理时间", "再次纠纷"};

/* What matched, in the words of the desk. */
static const char *matched_label(const char *m) {
  static const struct {
    const char *name, *label;
  } labels[] = {{"party_name", "当事人"},
                {"unit_ref", "单位编号"},
                {"mediator", "调解人员"},
                {"id_number", "身份证号"},
                {"phone", "电话"}};
  for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
    if (strcmp(labels[i].name, m) == 0)
      return labels[i].label;
  return m;
}

void ctl_search_row(const ctl_ctx *ctx, const Mediation__V1__SearchHit *h,
                    char cells[CTL_SEARCH_COLS][CTL_SEARCH_CELL]) {
  snprintf(cells[0], CTL_SEARCH_CELL, "%s%s%s%s", h->id, h->unit_ref[0] ? " (" : "",
           h->unit_ref, h->unit_ref[0] ? ")" : "");
  snprintf(cells[1], CTL_SEARCH_CELL, "%s", matched_label(h->matched));
  if (h->state == MV_STATE(TRANSFER) && h->offered_to[0])
    snprintf(cells[2], CTL_SEARCH_CELL, "%s → %s", ctl_state_label(h->state),
             ctl_unit_label(ctx, h->offered_to));
  else
    snprintf(cells[2], CTL_SEARCH_CELL, "%s%s", ctl_state_label(h->state),
             h->overdue ? " 逾期" : "");
  snprintf(cells[3], CTL_SEARCH_CELL, "%s", ctl_unit_label(ctx, h->holder));
  snprintf(cells[4], CTL_SEARCH_CELL, "%s", mc_label_of(mc_kind_names, h->kind));
  snprintf(cells[5], CTL_SEARCH_CELL, "%s", ctl_community_label(ctx, h->community));
  char t[CTL_FMT_MAX];
  ctl_fmt_time(ctx, h->created_ms, t);
  snprintf(cells[6], CTL_SEARCH_CELL, "%s", t);
  size_t o = 0;
  cells[7][0] = '\0';
  for (size_t i = 0; i < h->n_repeat_of && o < CTL_SEARCH_CELL; i++)
    o += (size_t)snprintf(cells[7] + o, CTL_SEARCH_CELL - o, "%s%s", i ? " " : "",
                          h->repeat_of[i]);
}

enum { S_LIMIT = 600, S_PAGE, S_PERSON };

typedef struct search_state {
  const char *limit;
  Mediation__V1__SearchRequest req;
} search_state;

static const struct option search_options[] = {
    {"limit", required_argument, NULL, S_LIMIT},
    {"page", required_argument, NULL, S_PAGE},
    {"person", required_argument, NULL, S_PERSON},
    {NULL, 0, NULL, 0},
};

static void search_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  search_state *s = st;
  mediation__v1__search_request__init(&s->req);
}

static int search_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  search_state *s = st;
  switch (c) {
  case S_LIMIT: s->limit = value; break;
  case S_PAGE: s->req.page_token = (char *)value; break;
  case S_PERSON: s->req.person = (char *)value; break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

static int search_check(ctl_ctx *ctx, void *st) {
  search_state *s = st;
  if (ctx->arg == NULL || ctx->arg[strspn(ctx->arg, " \t")] == '\0')
    return ctl_usage_error(ctx, _("expected the text to search for"));
  if (s->limit != NULL) {
    long n;
    if (ctl_parse_long(s->limit, 1, 100000, &n) != 0)
      return ctl_usage_error(ctx, _("--limit: expected a number of cases, 1 or more"));
    s->req.page_size = (uint32_t)n;
  }
  s->req.text = (char *)ctx->arg;
  return CTL_EXIT_OK;
}

static int search_build(ctl_ctx *ctx, void *st, ctl_request *out) {
  search_state *s = st;
  *out = (ctl_request){ctl_wants_desk(ctx) ? &mediation__v1__desk__descriptor
                                           : &mediation__v1__router__descriptor,
                       "Search", &s->req.base};
  return CTL_EXIT_OK;
}

static int search_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  const search_state *s = st;
  const Mediation__V1__SearchReply *r = (const Mediation__V1__SearchReply *)reply;
  if (r->local)
    puts("（路由不可达：以下为本单位的本地副本 / the router is away: the unit's own copies）");
  if (r->n_hits == 0) {
    puts(s->req.page_token[0] ? "这一页没有找到案件。" : "没有找到案件。");
  } else {
    ctl_table *t = ctl_table_new(CTL_SEARCH_COLS, ctl_search_headers, "llllllll");
    for (size_t i = 0; i < r->n_hits; i++) {
      char cells[CTL_SEARCH_COLS][CTL_SEARCH_CELL];
      const char *ptrs[CTL_SEARCH_COLS];
      ctl_search_row(ctx, r->hits[i], cells);
      for (int k = 0; k < CTL_SEARCH_COLS; k++)
        ptrs[k] = cells[k];
      ctl_table_add(t, ptrs);
    }
    int rc = ctl_table_print(t, stdout);
    ctl_table_free(t);
    if (rc != 0)
      return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  }
  printf("共 %u%s 件\n", r->total, r->total_more ? "+" : "");
  if (r->next_page_token[0] != '\0')
    fprintf(stderr, "mediactl: more cases follow: repeat the command with --page %s\n",
            r->next_page_token);
  return CTL_EXIT_OK;
}

const ctl_ops ctl_search_ops = {
    .state_size = sizeof(search_state),
    .options = search_options,
    .args = "TEXT (a name or part of one, a unit reference, a mediator, an ID number or phone)",
    .init = search_init,
    .option = search_option,
    .check = search_check,
    .build = search_build,
    .render = search_render,
};
