/*
 * queries.c - what coordinators ask: lists of cases, what is stuck, the
 * figures.
 *
 * Each query runs in one read transaction on the nng thread that received
 * it, and never waits for the writer. Lists walk the most selective index
 * the filters allow (storage keeps one per question: by state, holder,
 * community, kind, offered unit, deadline), load each hit and apply the
 * remaining filters, so a page costs O(log N + what it examines); the
 * examination is bounded, and a page cut short by the bound still carries a
 * cursor to go on from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/figures.h"
#include "core/machine.h"
#include "router/internal.h"

#define EXAMINE_MAX 5000      /* records looked at for one page */
#define STUCK_SCAN_MAX 100000 /* overdue cases looked at for one Stuck */
#define STUCK_PER_GROUP 10
#define COUNT_EXAMINE_MAX 100000 /* records looked at to count a list's total */
#define COUNT_CHUNK 256

/* ---- ListCases ---------------------------------------------------------- */

/* A list cursor for the client: which index walk ("a" for all cases, state
 * by state, else the index's own) and the storage cursor within it. */
typedef struct list_plan {
  st_query q;
  bool all_states; /* no selective filter: walk the state index state by state */
} list_plan;

static void plan_list(const Mediation__V1__ListCasesRequest *req, const mc_principal *caller,
                      int64_t now, list_plan *p) {
  memset(p, 0, sizeof(*p));
  if (req->offered_to[0] != '\0') {
    p->q.index = ST_BY_OFFERED;
    p->q.unit = req->offered_to;
  } else if (req->holder[0] != '\0') {
    p->q.index = ST_BY_HOLDER;
    p->q.unit = req->holder;
    p->q.state = req->state;
  } else if (req->community[0] != '\0') {
    p->q.index = ST_BY_COMMUNITY;
    p->q.unit = req->community;
    p->q.state = req->state;
  } else if (req->overdue_only) {
    p->q.index = ST_BY_DEADLINE;
    p->q.until_ms = now;
  } else if (req->state != 0) {
    p->q.index = ST_BY_STATE;
    p->q.state = req->state;
  } else if (req->kind != 0) {
    p->q.index = ST_BY_KIND;
    p->q.kind = req->kind;
  } else if (!rt_reads_every_case(caller)) {
    /* A unit's "everything" is what it is involved in. */
    p->q.index = ST_BY_INVOLVED;
    p->q.unit = caller->id;
  } else {
    p->q.index = ST_BY_STATE;
    p->q.state = MV_STATE(INTAKE);
    p->all_states = true;
  }
}

static bool matches(const mv_case *c, const Mediation__V1__ListCasesRequest *req, int64_t now) {
  const mv_intake *in = c->intake;
  if (req->state != 0 && c->state != req->state)
    return false;
  if (req->holder[0] && strcmp(c->holder, req->holder) != 0)
    return false;
  if (req->offered_to[0] && (c->transfer == NULL || strcmp(c->transfer->to_unit, req->offered_to)))
    return false;
  if (req->community[0] && (in == NULL || strcmp(in->community, req->community) != 0))
    return false;
  if (req->kind != 0 && (in == NULL || in->kind != req->kind))
    return false;
  if (req->difficulty != 0 && (in == NULL || in->difficulty != req->difficulty))
    return false;
  if (req->overdue_only && !mc_is_overdue(c, now))
    return false;
  if (req->created_from_ms != 0 && c->created_ms < req->created_from_ms)
    return false;
  if (req->created_to_ms != 0 && c->created_ms >= req->created_to_ms)
    return false;
  return true;
}

/* Client cursors: "<state>.<storage cursor>" when walking all states,
 * else the storage cursor itself. Storage checks its part; we check ours. */
static bool split_cursor(const char *cursor, bool all_states, int *state, const char **rest) {
  *state = MV_STATE(INTAKE);
  *rest = cursor;
  if (!all_states || cursor[0] == '\0')
    return true;
  if (cursor[0] < '1' || cursor[0] > '7' || cursor[1] != '.')
    return false;
  *state = cursor[0] - '0';
  *rest = cursor + 2;
  return true;
}

/* True if the request filters on nothing but (at most) the state. */
static bool only_state_filter(const Mediation__V1__ListCasesRequest *req) {
  return req->holder[0] == '\0' && req->community[0] == '\0' && req->offered_to[0] == '\0' &&
         req->kind == 0 && req->difficulty == 0 && !req->overdue_only &&
         req->created_from_ms == 0 && req->created_to_ms == 0;
}

/* Every case the list's filters match and the caller may read. A caller who
 * reads every case and filters at most by state is answered from the state
 * counters, O(1); otherwise the list's own index walk is repeated from its
 * start, loading each hit, up to COUNT_EXAMINE_MAX records (then *at_least). */
static mc_code count_list(rt_router *rt, st_txn *txn, const Mediation__V1__ListCasesRequest *req,
                          const mc_principal *caller, int64_t now, uint64_t *total,
                          bool *at_least, mc_err *err) {
  *total = 0;
  *at_least = false;
  if (rt_reads_every_case(caller) && only_state_filter(req)) {
    uint64_t counts[8];
    mc_code rc = st_count_states(txn, counts, err);
    if (rc != MC_OK)
      return rc;
    for (int s = 1; s < 8; s++) {
      if (req->state == 0 || (int)req->state == s)
        *total += counts[s];
    }
    return MC_OK;
  }
  list_plan plan;
  plan_list(req, caller, now, &plan);
  st_hit hits[COUNT_CHUNK];
  char cursor[ST_CURSOR_MAX] = "";
  size_t examined = 0;
  for (;;) {
    if (examined >= COUNT_EXAMINE_MAX) {
      *at_least = true;
      return MC_OK;
    }
    plan.q.cursor = cursor;
    plan.q.limit = COUNT_CHUNK;
    size_t got = 0;
    char after[ST_CURSOR_MAX];
    mc_code rc = st_index_query(txn, &plan.q, hits, &got, after, err);
    if (rc != MC_OK)
      return rc;
    for (size_t i = 0; i < got; i++, examined++) {
      mv_case *c = NULL;
      if ((rc = st_case_get(txn, hits[i].id, &c, err)) != MC_OK)
        return rc;
      if (matches(c, req, now) && rt_may_read(rt, c, caller))
        (*total)++;
      protobuf_c_message_free_unpacked(&c->base, NULL);
    }
    snprintf(cursor, sizeof(cursor), "%s", after);
    if (after[0] == '\0') {
      if (!plan.all_states || plan.q.state >= MV_STATE(WITHDRAWN))
        return MC_OK;
      plan.q.state++;
    }
  }
}

/* The request with its units and community as ids: people name them by an
 * alias or a name too. A name the registry does not know is kept as given,
 * so cases of a unit since removed from the configuration can still be
 * listed. The copy borrows the request's strings and the registry's ids. */
static const Mediation__V1__ListCasesRequest *by_ids(const rt_router *rt,
                                                     const Mediation__V1__ListCasesRequest *req,
                                                     Mediation__V1__ListCasesRequest *named) {
  *named = *req;
  const mc_unit *u;
  const mc_community *com;
  if (named->holder[0] && (u = mc_registry_find_unit(rt->reg, named->holder)) != NULL)
    named->holder = u->id;
  if (named->offered_to[0] && (u = mc_registry_find_unit(rt->reg, named->offered_to)) != NULL)
    named->offered_to = u->id;
  if (named->community[0] &&
      (com = mc_registry_find_community(rt->reg, named->community)) != NULL)
    named->community = com->id;
  return named;
}

/* Loads one chunk of index hits and keeps, in found[*n...], the cases the
 * filters match and the caller may read, each with the 再次纠纷 links it may
 * see; the others are freed. */
static mc_code keep_readable(rt_router *rt, st_txn *txn,
                             const Mediation__V1__ListCasesRequest *req,
                             const mc_principal *caller, int64_t now, const st_hit *hits,
                             size_t got, mv_case **found, size_t *n, size_t *examined,
                             mc_err *err) {
  mc_code rc = MC_OK;
  for (size_t i = 0; i < got && rc == MC_OK; i++, (*examined)++) {
    mv_case *c = NULL;
    rc = st_case_get(txn, hits[i].id, &c, err);
    if (rc != MC_OK)
      break;
    if (matches(c, req, now) && rt_may_read(rt, c, caller)) {
      found[(*n)++] = c;
      rc = rt_visible_repeats(rt, txn, c, caller, err);
    } else
      protobuf_c_message_free_unpacked(&c->base, NULL);
  }
  return rc;
}

void rt_list_cases(rt_router *rt, rpc_call *call, const mc_principal *caller,
                   const Mediation__V1__ListCasesRequest *req) {
  Mediation__V1__ListCasesRequest named;
  req = by_ids(rt, req, &named);
  const mc_limits *lim = &rt->reg->limits;
  uint32_t page = req->page_size == 0 ? lim->page_size_default : req->page_size;
  if (page > lim->page_size_max) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("page_size %u is above the limit %u"),
                  req->page_size, lim->page_size_max);
    return;
  }
  int64_t now = mc_now_ms();
  list_plan plan;
  plan_list(req, caller, now, &plan);
  int state;
  const char *inner;
  if (!split_cursor(req->cursor, plan.all_states, &state, &inner)) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("cursor: not one this list gave out"));
    return;
  }
  if (plan.all_states)
    plan.q.state = (mv_state)state;

  mv_case **found = calloc(page, sizeof(*found));
  st_hit *hits = calloc(page, sizeof(*hits));
  Mediation__V1__CaseSummary *sums = calloc(page, sizeof(*sums));
  Mediation__V1__CaseSummary **sum_ptrs = calloc(page, sizeof(*sum_ptrs));
  char cursor[ST_CURSOR_MAX], next_cursor[ST_CURSOR_MAX + 8] = "";
  if (!found || !hits || !sums || !sum_ptrs) {
    rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory"));
    goto out;
  }
  snprintf(cursor, sizeof(cursor), "%s", inner);
  st_txn *txn = NULL;
  mc_err err;
  mc_code rc = st_read_begin(rt->store, &txn, &err);
  size_t n = 0, examined = 0;
  bool more = true;
  while (rc == MC_OK && n < page && more && examined < EXAMINE_MAX) {
    /* Ask for exactly what is missing, so that a full page ends at a chunk
     * boundary and its cursor is exact. */
    plan.q.cursor = cursor;
    plan.q.limit = page - (uint32_t)n;
    size_t got = 0;
    char after[ST_CURSOR_MAX];
    rc = st_index_query(txn, &plan.q, hits, &got, after, &err);
    if (rc != MC_OK)
      break;
    rc = keep_readable(rt, txn, req, caller, now, hits, got, found, &n, &examined, &err);
    snprintf(cursor, sizeof(cursor), "%s", after);
    if (after[0] == '\0') {
      if (plan.all_states && plan.q.state < MV_STATE(WITHDRAWN)) {
        plan.q.state++;
      } else {
        more = false;
      }
    }
  }
  uint64_t total = 0;
  bool total_at_least = false;
  if (rc == MC_OK && req->with_total)
    rc = count_list(rt, txn, req, caller, now, &total, &total_at_least, &err);
  st_read_end(txn);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
    for (size_t i = 0; i < n; i++)
      protobuf_c_message_free_unpacked(&found[i]->base, NULL);
    goto out;
  }
  if (more) {
    if (plan.all_states)
      snprintf(next_cursor, sizeof(next_cursor), "%d.%s", (int)plan.q.state, cursor);
    else
      snprintf(next_cursor, sizeof(next_cursor), "%s", cursor);
  }
  for (size_t i = 0; i < n; i++) {
    rt_summary_of(found[i], now, &sums[i]);
    sum_ptrs[i] = &sums[i];
  }
  Mediation__V1__ListCasesReply reply = MEDIATION__V1__LIST_CASES_REPLY__INIT;
  reply.cases = sum_ptrs;
  reply.n_cases = n;
  reply.next_cursor = next_cursor;
  reply.total = total;
  reply.total_at_least = total_at_least;
  rpc_call_reply(call, &reply.base);
  for (size_t i = 0; i < n; i++)
    protobuf_c_message_free_unpacked(&found[i]->base, NULL);
out:
  free(found);
  free(hits);
  free(sums);
  free(sum_ptrs);
}

/* ---- Stuck -------------------------------------------------------------- */

typedef struct stuck_group {
  mv_state state;
  char unit[ST_NAME_MAX];
  uint32_t count;
  mv_case **oldest; /* up to per_group, most overdue first (the index order) */
  size_t n_oldest;
} stuck_group;

/* Answers a Stuck call with the groups found; the groups and their cases
 * stay the caller's (the reply only points into them). */
static void reply_stuck(rpc_call *call, stuck_group *groups, size_t n_groups, int64_t now) {
  Mediation__V1__StuckGroup *msgs = calloc(n_groups ? n_groups : 1, sizeof(*msgs));
  Mediation__V1__StuckGroup **ptrs = calloc(n_groups ? n_groups : 1, sizeof(*ptrs));
  size_t total = 0;
  for (size_t k = 0; k < n_groups; k++)
    total += groups[k].n_oldest;
  Mediation__V1__CaseSummary *sums = calloc(total ? total : 1, sizeof(*sums));
  Mediation__V1__CaseSummary **sum_ptrs = calloc(total ? total : 1, sizeof(*sum_ptrs));
  if (!msgs || !ptrs || !sums || !sum_ptrs) {
    rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory"));
  } else {
    size_t s = 0;
    for (size_t k = 0; k < n_groups; k++) {
      mediation__v1__stuck_group__init(&msgs[k]);
      msgs[k].state = groups[k].state;
      msgs[k].unit = groups[k].unit;
      msgs[k].count = groups[k].count;
      msgs[k].oldest = &sum_ptrs[s];
      msgs[k].n_oldest = groups[k].n_oldest;
      for (size_t i = 0; i < groups[k].n_oldest; i++, s++) {
        rt_summary_of(groups[k].oldest[i], now, &sums[s]);
        sum_ptrs[s] = &sums[s];
      }
      ptrs[k] = &msgs[k];
    }
    Mediation__V1__StuckReply reply = MEDIATION__V1__STUCK_REPLY__INIT;
    reply.groups = ptrs;
    reply.n_groups = n_groups;
    reply.as_of_ms = now;
    rpc_call_reply(call, &reply.base);
  }
  free(msgs);
  free(ptrs);
  free(sums);
  free(sum_ptrs);
}

void rt_stuck(rt_router *rt, rpc_call *call, const mc_principal *caller,
              const Mediation__V1__StuckRequest *req) {
  const char *only = req->unit;
  if (!rt_reads_every_case(caller))
    only = caller->id; /* a unit sees what is stuck with it, not elsewhere */
  uint32_t per_group = req->per_group == 0 ? STUCK_PER_GROUP : req->per_group;
  if (per_group > rt->reg->limits.page_size_max)
    per_group = rt->reg->limits.page_size_max;
  int64_t now = mc_now_ms();
  stuck_group *groups = NULL;
  size_t n_groups = 0;
  st_txn *txn = NULL;
  mc_err err;
  mc_code rc = st_read_begin(rt->store, &txn, &err);
  st_hit hits[200];
  char cursor[ST_CURSOR_MAX] = "";
  size_t scanned = 0;
  while (rc == MC_OK && scanned < STUCK_SCAN_MAX) {
    st_query q = {.index = ST_BY_DEADLINE, .until_ms = now, .cursor = cursor,
                  .limit = sizeof(hits) / sizeof(hits[0])};
    size_t got = 0;
    char after[ST_CURSOR_MAX];
    rc = st_index_query(txn, &q, hits, &got, after, &err);
    for (size_t i = 0; i < got && rc == MC_OK; i++, scanned++) {
      mv_case *c = NULL;
      if ((rc = st_case_get(txn, hits[i].id, &c, &err)) != MC_OK)
        break;
      const char *unit = c->state == MV_STATE(TRANSFER) && c->transfer ? c->transfer->to_unit
                                                                          : c->holder;
      bool wanted = only[0] == '\0' || strcmp(unit, only) == 0 || strcmp(c->holder, only) == 0;
      if (!wanted || !rt_may_read(rt, c, caller)) {
        protobuf_c_message_free_unpacked(&c->base, NULL);
        continue;
      }
      stuck_group *g = NULL;
      for (size_t k = 0; k < n_groups && g == NULL; k++) {
        if (groups[k].state == c->state && strcmp(groups[k].unit, unit) == 0)
          g = &groups[k];
      }
      if (g == NULL) {
        stuck_group *grown = realloc(groups, (n_groups + 1) * sizeof(*groups));
        mv_case **oldest = calloc(per_group, sizeof(*oldest));
        if (grown == NULL || oldest == NULL) {
          free(oldest);
          if (grown)
            groups = grown;
          protobuf_c_message_free_unpacked(&c->base, NULL);
          rc = mc_err_set(&err, MC_UNAVAILABLE, _("out of memory"));
          break;
        }
        groups = grown;
        g = &groups[n_groups++];
        memset(g, 0, sizeof(*g));
        g->state = c->state;
        snprintf(g->unit, sizeof(g->unit), "%s", unit);
        g->oldest = oldest;
      }
      g->count++;
      if (g->n_oldest < per_group) {
        g->oldest[g->n_oldest++] = c;
        rc = rt_visible_repeats(rt, txn, c, caller, &err); /* 再次纠纷 links it may see */
      } else
        protobuf_c_message_free_unpacked(&c->base, NULL);
    }
    if (rc != MC_OK || after[0] == '\0')
      break;
    snprintf(cursor, sizeof(cursor), "%s", after);
  }
  st_read_end(txn);
  if (rc != MC_OK)
    rpc_call_fail_err(call, &err);
  else
    reply_stuck(call, groups, n_groups, now);
  for (size_t k = 0; k < n_groups; k++) {
    for (size_t i = 0; i < groups[k].n_oldest; i++)
      protobuf_c_message_free_unpacked(&groups[k].oldest[i]->base, NULL);
    free(groups[k].oldest);
  }
  free(groups);
}

/* ---- GetFigures --------------------------------------------------------- */

typedef struct figure_acc {
  const Mediation__V1__GetFiguresRequest *req;
  const char *only_unit;
  Mediation__V1__FigureGrouping group_by;
  Mediation__V1__FigureRow *rows; /* buckets own copies of their key strings */
  size_t n_rows, cap;
  mv_counters total;
  bool oom;
} figure_acc;

/* The key of the row a bucket adds to. */
static bool same_group(const figure_acc *a, const mv_bucket *row, const mv_bucket *b) {
  switch (a->group_by) {
  case MV_GROUPING(UNIT):
    return strcmp(row->unit, b->unit) == 0;
  case MV_GROUPING(COMMUNITY):
    return strcmp(row->community, b->community) == 0;
  case MV_GROUPING(KIND):
    return row->kind == b->kind;
  case MV_GROUPING(MONTH):
    return row->month == b->month;
  default:
    return true;
  }
}

static bool add_bucket(void *arg, const mv_bucket *b, const mv_counters *c) {
  figure_acc *a = arg;
  if (a->only_unit[0] && strcmp(b->unit, a->only_unit) != 0)
    return true;
  if (a->req->community[0] && strcmp(b->community, a->req->community) != 0)
    return true;
  mc_counters_add(&a->total, c);
  size_t i;
  for (i = 0; i < a->n_rows; i++) {
    if (same_group(a, a->rows[i].bucket, b))
      break;
  }
  if (i == a->n_rows) {
    if (a->n_rows == a->cap) {
      size_t cap = a->cap ? a->cap * 2 : 16;
      Mediation__V1__FigureRow *grown = realloc(a->rows, cap * sizeof(*grown));
      if (grown == NULL) {
        a->oom = true;
        return false;
      }
      a->rows = grown;
      a->cap = cap;
    }
    Mediation__V1__FigureRow *row = &a->rows[a->n_rows];
    mv_bucket *key = malloc(sizeof(*key));
    mv_counters *sum = malloc(sizeof(*sum));
    if (key == NULL || sum == NULL) {
      free(key);
      free(sum);
      a->oom = true;
      return false;
    }
    mediation__v1__figure_row__init(row);
    mediation__v1__figure_bucket__init(key);
    mediation__v1__figure_counters__init(sum);
    key->year = b->year;
    switch (a->group_by) {
    case MV_GROUPING(UNIT): key->unit = strdup(b->unit); break;
    case MV_GROUPING(COMMUNITY): key->community = strdup(b->community); break;
    case MV_GROUPING(KIND): key->kind = b->kind; break;
    case MV_GROUPING(MONTH): key->month = b->month; break;
    default: break;
    }
    if (key->unit == NULL || key->community == NULL) {
      a->oom = true; /* strdup failed */
    }
    row->bucket = key;
    row->counters = sum;
    a->n_rows++;
  }
  mc_counters_add(a->rows[i].counters, c);
  return true;
}

static int compare_rows(const void *x, const void *y) {
  const mv_bucket *a = ((const Mediation__V1__FigureRow *)x)->bucket;
  const mv_bucket *b = ((const Mediation__V1__FigureRow *)y)->bucket;
  int c = strcmp(a->unit, b->unit);
  if (c == 0)
    c = strcmp(a->community, b->community);
  if (c == 0)
    c = (int)a->kind - (int)b->kind;
  if (c == 0)
    c = a->month - b->month;
  return c;
}

void rt_figures(rt_router *rt, rpc_call *call, const mc_principal *caller,
                const Mediation__V1__GetFiguresRequest *req) {
  int from = req->from_month == 0 ? 1 : req->from_month;
  int to = req->to_month == 0 ? 12 : req->to_month;
  if (req->year < 1000 || req->year > 9999 || from < 1 || to > 12 || from > to) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT,
                  _("year %d, months %d..%d: give a year and months 1..12, from <= to"), req->year,
                  from, to);
    return;
  }
  if (req->group_by > MV_GROUPING(MONTH)) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("group_by %d is not a grouping"), req->group_by);
    return;
  }
  figure_acc acc = {.req = req, .only_unit = req->unit, .group_by = req->group_by};
  if (!rt_reads_every_case(caller)) {
    if (req->unit[0] && strcmp(req->unit, caller->id) != 0) {
      rpc_call_fail(call, MC_PERMISSION_DENIED, _("%s may read its own figures only"), caller->id);
      return;
    }
    acc.only_unit = caller->id;
  }
  mediation__v1__figure_counters__init(&acc.total);
  st_txn *txn = NULL;
  mc_err err;
  uint64_t counts[8] = {0}, overdue = 0;
  mc_code rc = st_read_begin(rt->store, &txn, &err);
  if (rc == MC_OK)
    rc = st_figures_scan(txn, req->year, from, to, add_bucket, &acc, &err);
  if (rc == MC_OK)
    rc = st_count_states(txn, counts, &err);
  if (rc == MC_OK)
    rc = st_count_overdue(txn, mc_now_ms(), &overdue, &err);
  st_read_end(txn);
  if (rc == MC_OK && acc.oom)
    rc = mc_err_set(&err, MC_UNAVAILABLE, _("out of memory"));
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
  } else {
    if (acc.n_rows > 1) /* qsort must not be given a NULL array, even empty */
      qsort(acc.rows, acc.n_rows, sizeof(*acc.rows), compare_rows);
    Mediation__V1__FigureRow **ptrs = calloc(acc.n_rows ? acc.n_rows : 1, sizeof(*ptrs));
    if (ptrs == NULL) {
      rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory"));
    } else {
      for (size_t i = 0; i < acc.n_rows; i++)
        ptrs[i] = &acc.rows[i];
      mv_bucket total_key = MEDIATION__V1__FIGURE_BUCKET__INIT;
      total_key.year = req->year;
      Mediation__V1__FigureRow total = MEDIATION__V1__FIGURE_ROW__INIT;
      total.bucket = &total_key;
      total.counters = &acc.total;
      Mediation__V1__GetFiguresReply reply = MEDIATION__V1__GET_FIGURES_REPLY__INIT;
      reply.rows = ptrs;
      reply.n_rows = acc.n_rows;
      reply.total = &total;
      for (int s = MV_STATE(INTAKE); s <= MV_STATE(WITHDRAWN); s++) {
        if (!mc_state_is_final((mv_state)s))
          reply.open_cases += (int64_t)counts[s];
      }
      reply.overdue_cases = (int64_t)overdue;
      rpc_call_reply(call, &reply.base);
      free(ptrs);
    }
  }
  for (size_t i = 0; i < acc.n_rows; i++) {
    mv_bucket *key = acc.rows[i].bucket;
    if (key->unit != protobuf_c_empty_string)
      free(key->unit);
    if (key->community != protobuf_c_empty_string)
      free(key->community);
    free(key);
    free(acc.rows[i].counters);
  }
  free(acc.rows);
}
