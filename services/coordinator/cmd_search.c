/*
 * cmd_search.c - `mediactl search TEXT`: cases by a party's name (or part
 * of it), the unit's reference, a team member, or a whole ID number or
 * phone, from the router (Router/Search) or, with --unit, through that
 * unit's Desk (which answers from its own copies while the router is away).
 *
 * The rows are built in one place (ctl_search_row), so the table here and
 * --csv (UTF-8 with a BOM, csv.h) show the same columns. --all follows the
 * reply's page tokens to the last page, so a CSV can hold every hit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/names.h"
#include "services/coordinator/csv.h"
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

enum { S_LIMIT = 600, S_PAGE, S_PERSON, S_ALL, S_CSV };

typedef struct search_state {
  const char *limit;
  bool all, csv;
  Mediation__V1__SearchRequest req;
} search_state;

static const struct option search_options[] = {
    {"limit", required_argument, NULL, S_LIMIT},
    {"page", required_argument, NULL, S_PAGE},
    {"person", required_argument, NULL, S_PERSON},
    {"all", no_argument, NULL, S_ALL},
    {"csv", no_argument, NULL, S_CSV},
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
  case S_ALL: s->all = true; break;
  case S_CSV: s->csv = true; break;
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
  if (s->csv && ctx->json)
    return ctl_usage_error(ctx, _("--csv and --json: choose one"));
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

/* The replies of one run: one page, or every page with --all. */
typedef struct search_pages {
  Mediation__V1__SearchReply **replies; /* ours: freed by search_pages_free */
  size_t n;
  Mediation__V1__SearchHit **hits; /* borrowed from replies, in order */
  size_t n_hits;
} search_pages;

static void search_pages_free(search_pages *p) {
  for (size_t i = 0; i < p->n; i++)
    protobuf_c_message_free_unpacked(&p->replies[i]->base, NULL);
  free(p->replies);
  free(p->hits);
}

/* Keeps a reply (taking it over) and its hits. 0, or -1 out of memory (the
 * reply is then freed, or kept to be freed by search_pages_free). */
static int search_pages_add(search_pages *p, Mediation__V1__SearchReply *r) {
  Mediation__V1__SearchReply **grown = realloc(p->replies, (p->n + 1) * sizeof(*grown));
  if (grown == NULL) {
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return -1;
  }
  p->replies = grown;
  p->replies[p->n++] = r;
  if (r->n_hits == 0)
    return 0;
  Mediation__V1__SearchHit **hits = realloc(p->hits, (p->n_hits + r->n_hits) * sizeof(*hits));
  if (hits == NULL)
    return -1;
  memcpy(hits + p->n_hits, r->hits, r->n_hits * sizeof(*hits));
  p->hits = hits;
  p->n_hits += r->n_hits;
  return 0;
}

/* Asks for the page at --page (or the first), and with --all the pages after
 * it, until a reply has no next page. Bounded: the router counts at most its
 * limit of hits, so 10000 pages is far past any real end (a token that never
 * ends would be a fault, reported rather than looped on). */
static int search_fetch(ctl_ctx *ctx, search_state *s, const ctl_request *call,
                        search_pages *p) {
  char *token = NULL; /* the next page's token, copied out of the last reply */
  char *first_token = s->req.page_token;
  int rc = CTL_EXIT_OK;
  for (unsigned n = 0;; n++) {
    ProtobufCMessage *reply = NULL;
    if ((rc = ctl_call(ctx, call->service, call->method, call->message, &reply)) != CTL_EXIT_OK)
      break;
    Mediation__V1__SearchReply *r = (Mediation__V1__SearchReply *)reply;
    if (search_pages_add(p, r) != 0) {
      rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
      break;
    }
    if (!s->all || r->next_page_token[0] == '\0')
      break;
    if (n >= 10000) {
      rc = ctl_fail(CTL_EXIT_FAILED, _("stopped after 10000 pages of search results"));
      break;
    }
    free(token);
    if ((token = strdup(r->next_page_token)) == NULL) {
      rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
      break;
    }
    s->req.page_token = token;
  }
  s->req.page_token = first_token;
  free(token);
  return rc;
}

/* The hits as a table (the terminal) or as CSV (a file for a spreadsheet). */
static int print_hits(ctl_ctx *ctx, Mediation__V1__SearchHit *const *hits, size_t n,
                      bool csv) {
  ctl_table *t = ctl_table_new(CTL_SEARCH_COLS, ctl_search_headers, "llllllll");
  for (size_t i = 0; i < n; i++) {
    char cells[CTL_SEARCH_COLS][CTL_SEARCH_CELL];
    const char *ptrs[CTL_SEARCH_COLS];
    ctl_search_row(ctx, hits[i], cells);
    for (int k = 0; k < CTL_SEARCH_COLS; k++)
      ptrs[k] = cells[k];
    ctl_table_add(t, ptrs);
  }
  int rc = csv ? ctl_table_print_csv(t, stdout, true) : ctl_table_print(t, stdout);
  ctl_table_free(t);
  return rc == 0 ? CTL_EXIT_OK : ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
}

static int search_run(ctl_ctx *ctx, void *st) {
  search_state *s = st;
  ctl_request call;
  int rc = search_build(ctx, s, &call);
  if (rc != CTL_EXIT_OK || (rc = ctl_connect(ctx, ctl_wants_desk(ctx))) != CTL_EXIT_OK)
    return rc;
  search_pages p = {0};
  if ((rc = search_fetch(ctx, s, &call, &p)) != CTL_EXIT_OK) {
    search_pages_free(&p);
    return rc;
  }
  const Mediation__V1__SearchReply *first = p.replies[0], *last = p.replies[p.n - 1];
  bool local = false;
  for (size_t i = 0; i < p.n; i++)
    local = local || p.replies[i]->local;
  if (ctx->json) {
    /* One reply's shape: every page's hits, the first page's count, the
     * last page's token. */
    Mediation__V1__SearchReply merged = *first;
    merged.hits = p.hits;
    merged.n_hits = p.n_hits;
    merged.next_page_token = last->next_page_token;
    merged.local = local;
    rc = ctl_json_print_message(&merged.base);
  } else {
    FILE *info = s->csv ? stderr : stdout; /* with --csv, stdout is the file */
    if (local)
      fputs("（路由不可达：以下为本单位的本地副本 / the router is away: the unit's own copies）\n",
            info);
    if (p.n_hits > 0 || s->csv)
      rc = print_hits(ctx, p.hits, p.n_hits, s->csv);
    else
      fputs(s->req.page_token[0] ? "这一页没有找到案件。\n" : "没有找到案件。\n", info);
    fprintf(info, "共 %u%s 件\n", first->total, first->total_more ? "+" : "");
    if (rc == CTL_EXIT_OK && last->next_page_token[0] != '\0')
      fprintf(stderr, _("mediactl: more cases follow: repeat the command with --page %s\n"),
              last->next_page_token);
  }
  search_pages_free(&p);
  return rc;
}

const ctl_ops ctl_search_ops = {
    .state_size = sizeof(search_state),
    .options = search_options,
    .args = "TEXT (a name or part of one, a unit reference, a mediator, an ID number or phone)",
    .init = search_init,
    .option = search_option,
    .check = search_check,
    .run = search_run,
};
