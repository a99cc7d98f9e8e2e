/*
 * search.c - Router/Search: cases found by what people remember of them (a
 * party's name or part of it, the unit's reference, a mediator, an ID
 * number or phone), with the caller's access rules applied to every hit and
 * every search recorded in the access log.
 *
 * The text decides which fields are looked up ("classes"): digits (with X,
 * '+', '-', spaces) are a whole ID number or phone, refused with the
 * identity check's error when they are neither, since a partial number
 * would silently find nothing; anything else is looked up as a unit_ref
 * (when it has that shape), a party's name and a team member's name, in
 * that order. Each class is one walk of storage's search index
 * (ST_BY_TERM), so a page costs O(log N + what it examines) at any size;
 * the page token is "<class>.<storage cursor>", like ListCases' walk over
 * states. A case found by two classes is shown once per page.
 *
 * The total counts the hits the caller may see, up to TOTAL_EXAMINE index
 * entries per class (total_more says the count stopped), so a search for a
 * common surname stays fast and a unit never learns how many cases it may
 * not see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/identity.h"
#include "core/log.h"
#include "core/text.h"
#include "router/internal.h"

#define EXAMINE_MAX 5000   /* index entries looked at for one page */
#define TOTAL_EXAMINE 1000 /* index entries looked at to count, per class */
#define CLASSES_MAX 3

typedef struct search_class {
  st_match match;
  const char *name; /* SearchHit.matched */
  char term[ST_TERM_MAX];
} search_class;

typedef struct search_plan {
  search_class c[CLASSES_MAX];
  int n;
} search_plan;

static bool digits_like(const char *s) {
  bool any = false;
  for (; *s; s++) {
    if (*s >= '0' && *s <= '9')
      any = true;
    else if (*s != 'X' && *s != 'x' && *s != '+' && *s != '-' && *s != ' ')
      return false;
  }
  return any;
}

static size_t count_digits(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += (*s >= '0' && *s <= '9') || *s == 'X' || *s == 'x';
  return n;
}

/* Which classes the text is looked up in; INVALID_ARGUMENT naming what is
 * wrong with digits that are no whole ID number or phone. */
static mc_code plan_search(st_txn *txn, const char *text, search_plan *p, mc_err *err) {
  memset(p, 0, sizeof(*p));
  if (digits_like(text)) {
    size_t nd = count_digits(text);
    bool id_shape = nd >= 15 && nd <= 19 && strpbrk(text, "+- ") == NULL;
    if (id_shape) {
      mc_code rc = mc_id_number_check(text, "text (an ID number)", err);
      if (rc != MC_OK)
        return rc;
      p->c[p->n++] = (search_class){.match = ST_MATCH_ID_NUMBER, .name = "id_number"};
    } else {
      mc_code rc = mc_phone_check(text, "text (a phone number)", err);
      if (rc != MC_OK)
        return rc;
      p->c[p->n++] = (search_class){.match = ST_MATCH_PHONE, .name = "phone"};
    }
  } else {
    if (mc_unit_ref_valid(text))
      p->c[p->n++] = (search_class){.match = ST_MATCH_UNIT_REF, .name = "unit_ref"};
    p->c[p->n++] = (search_class){.match = ST_MATCH_NAME, .name = "party_name"};
    p->c[p->n++] = (search_class){.match = ST_MATCH_MEDIATOR, .name = "mediator"};
  }
  for (int i = 0; i < p->n; i++) {
    mc_code rc = st_search_term(txn, p->c[i].match, text, p->c[i].term, err);
    if (rc != MC_OK)
      return rc;
  }
  return MC_OK;
}

/* Counts what the caller may see of one class, up to TOTAL_EXAMINE entries. */
static mc_code count_class(rt_router *rt, st_txn *txn, const search_class *sc,
                           const mc_principal *caller, st_hit *hits, uint32_t *total,
                           bool *more, mc_err *err) {
  if (rt_reads_every_case(caller)) {
    uint64_t n = 0;
    mc_code rc = st_search_count(txn, sc->term, TOTAL_EXAMINE + 1, &n, err);
    if (rc != MC_OK)
      return rc;
    if (n > TOTAL_EXAMINE) {
      *more = true;
      n = TOTAL_EXAMINE;
    }
    *total += (uint32_t)n;
    return MC_OK;
  }
  char cursor[ST_CURSOR_MAX] = "";
  size_t examined = 0;
  for (;;) {
    st_query q = {.index = ST_BY_TERM, .unit = sc->term, .cursor = cursor, .limit = 200};
    size_t got = 0;
    char after[ST_CURSOR_MAX];
    mc_code rc = st_index_query(txn, &q, hits, &got, after, err);
    if (rc != MC_OK)
      return rc;
    for (size_t i = 0; i < got; i++, examined++) {
      mv_case *c = NULL;
      if ((rc = st_case_get(txn, hits[i].id, &c, err)) != MC_OK)
        return rc;
      if (rt_may_read(rt, c, caller))
        (*total)++;
      protobuf_c_message_free_unpacked(&c->base, NULL);
    }
    if (after[0] == '\0')
      return MC_OK;
    if (examined >= TOTAL_EXAMINE) {
      *more = true;
      return MC_OK;
    }
    snprintf(cursor, sizeof(cursor), "%s", after);
  }
}

/* Logs the search: who, the person at the desk, the cases shown. Never the
 * text: it may be an ID number or a phone. */
static void log_search(rt_router *rt, const mc_principal *who, const char *person,
                       mv_case **found, size_t n) {
  Mediation__V1__AccessRecord *rec = calloc(1, sizeof(*rec));
  Mediation__V1__Actor *actor = calloc(1, sizeof(*actor));
  char **ids = calloc(n ? n : 1, sizeof(*ids));
  bool ok = rec != NULL && actor != NULL && ids != NULL;
  if (ok) {
    mediation__v1__access_record__init(rec);
    rt_actor_of(who, NULL, actor);
    actor->id = strdup(who->id);
    actor->person = strdup(person);
    rec->who = actor;
    actor = NULL;
    rec->case_id = strdup("");
    rec->method = strdup("Search");
    rec->case_ids = ids;
    ids = NULL;
    rec->hits = (uint32_t)n;
    for (size_t i = 0; i < n && ok; i++) {
      rec->case_ids[i] = strdup(found[i]->id);
      ok = rec->case_ids[i] != NULL;
      rec->n_case_ids = i + ok;
    }
    ok = ok && rec->who->id && rec->who->person && rec->case_id && rec->method;
  }
  free(actor);
  free(ids);
  if (!ok) {
    if (rec != NULL && rec->base.descriptor != NULL)
      protobuf_c_message_free_unpacked(&rec->base, NULL);
    else
      free(rec);
    mc_log(MC_LOG_ERR, NULL, "out of memory: search by %s not logged", who->id);
    return;
  }
  rt_access_submit(rt, rec);
}

/* Page tokens: "<class>.<storage cursor>". */
static bool split_token(const char *tok, int n_classes, int *cls, const char **rest) {
  *cls = 0;
  *rest = tok;
  if (tok[0] == '\0')
    return true;
  if (tok[0] < '0' || tok[0] >= '0' + n_classes || tok[1] != '.')
    return false;
  *cls = tok[0] - '0';
  *rest = tok + 2;
  return true;
}

static bool already(mv_case **found, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(found[i]->id, id) == 0)
      return true;
  return false;
}

/* The text as typed, without surrounding blanks, into text (ST_NAME_MAX
 * bytes); false if nothing is left or it does not fit. */
static bool trim_text(const char *in, char text[ST_NAME_MAX]) {
  while (*in == ' ' || *in == '\t')
    in++;
  size_t n = strlen(in);
  while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
    n--;
  if (n == 0 || n >= ST_NAME_MAX)
    return false;
  memcpy(text, in, n);
  text[n] = '\0';
  return true;
}

/* One page: walks the plan's classes from class cls at storage cursor
 * `inner`, keeping the cases the caller may read (each once) into found[]
 * with what matched, until the page is full, the walk ends or EXAMINE_MAX
 * entries were looked at. next_token gets the token of the next page ("" if
 * none). */
static mc_code walk_page(rt_router *rt, st_txn *txn, const mc_principal *caller,
                         const search_plan *plan, int cls, const char *inner, uint32_t page,
                         st_hit *hits, mv_case **found, const char **matched, size_t *n_out,
                         char next_token[ST_CURSOR_MAX + 8], mc_err *err) {
  char cursor[ST_CURSOR_MAX];
  snprintf(cursor, sizeof(cursor), "%s", inner);
  size_t n = 0, examined = 0;
  bool more = true;
  mc_code rc = MC_OK;
  while (rc == MC_OK && n < page && more && examined < EXAMINE_MAX) {
    st_query q = {.index = ST_BY_TERM, .unit = plan->c[cls].term, .cursor = cursor,
                  .limit = page - (uint32_t)n};
    size_t got = 0;
    char after[ST_CURSOR_MAX];
    rc = st_index_query(txn, &q, hits, &got, after, err);
    for (size_t i = 0; i < got && rc == MC_OK; i++, examined++) {
      mv_case *c = NULL;
      rc = st_case_get(txn, hits[i].id, &c, err);
      if (rc != MC_OK)
        break;
      if (rt_may_read(rt, c, caller) && !already(found, n, c->id)) {
        matched[n] = plan->c[cls].name;
        found[n++] = c;
      } else {
        protobuf_c_message_free_unpacked(&c->base, NULL);
      }
    }
    if (rc != MC_OK)
      break;
    snprintf(cursor, sizeof(cursor), "%s", after);
    if (after[0] == '\0') {
      if (cls + 1 < plan->n)
        cls++;
      else
        more = false;
    }
  }
  *n_out = n; /* the caller frees what was found, whatever rc */
  next_token[0] = '\0';
  if (rc == MC_OK && more)
    snprintf(next_token, ST_CURSOR_MAX + 8, "%d.%s", cls, cursor);
  return rc;
}

void rt_search(rt_router *rt, rpc_call *call, const mc_principal *caller,
               const Mediation__V1__SearchRequest *req) {
  const mc_limits *lim = &rt->reg->limits;
  mc_err err;
  mc_code rc = mc_text_check(req->text, lim->max_name_bytes, "text", &err);
  if (rc == MC_OK)
    rc = mc_text_check(req->person, lim->max_name_bytes, "person", &err);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
    return;
  }
  char text[ST_NAME_MAX];
  if (!trim_text(req->text, text)) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("text: required, at most %d bytes"),
                  ST_NAME_MAX - 1);
    return;
  }
  uint32_t page = req->page_size == 0 ? lim->page_size_default : req->page_size;
  if (page > lim->page_size_max) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("page_size %u is above the limit %u"),
                  req->page_size, lim->page_size_max);
    return;
  }
  int64_t now = mc_now_ms();
  size_t cap = page > 200 ? page : 200;
  mv_case **found = calloc(page, sizeof(*found));
  const char **matched = calloc(page, sizeof(*matched));
  st_hit *hits = calloc(cap, sizeof(*hits));
  Mediation__V1__SearchHit *hitm = calloc(page, sizeof(*hitm));
  Mediation__V1__SearchHit **hit_ptrs = calloc(page, sizeof(*hit_ptrs));
  size_t n = 0;
  st_txn *txn = NULL;
  if (!found || !matched || !hits || !hitm || !hit_ptrs) {
    rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory"));
    goto out;
  }
  search_plan plan;
  rc = st_read_begin(rt->store, &txn, &err);
  if (rc == MC_OK)
    rc = plan_search(txn, text, &plan, &err);
  int cls = 0;
  const char *inner = "";
  if (rc == MC_OK && !split_token(req->page_token, plan.n, &cls, &inner))
    rc = mc_err_set(&err, MC_INVALID_ARGUMENT, _("page_token: not one this search gave out"));
  char next_token[ST_CURSOR_MAX + 8] = "";
  if (rc == MC_OK)
    rc = walk_page(rt, txn, caller, &plan, cls, inner, page, hits, found, matched, &n,
                   next_token, &err);
  uint32_t total = 0;
  bool total_more = false;
  for (int i = 0; rc == MC_OK && i < plan.n; i++)
    rc = count_class(rt, txn, &plan.c[i], caller, hits, &total, &total_more, &err);
  for (size_t i = 0; i < n && rc == MC_OK; i++)
    rc = rt_visible_repeats(rt, txn, found[i], caller, &err); /* 再次纠纷 links it may see */
  st_read_end(txn);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    rt_search_hit_of(found[i], now, &hitm[i]);
    hitm[i].matched = (char *)matched[i];
    hit_ptrs[i] = &hitm[i];
  }
  if (total < n)
    total = (uint32_t)n; /* a case found by two classes is counted in each */
  Mediation__V1__SearchReply reply = MEDIATION__V1__SEARCH_REPLY__INIT;
  reply.hits = hit_ptrs;
  reply.n_hits = n;
  reply.total = total;
  reply.total_more = total_more;
  reply.next_page_token = next_token;
  log_search(rt, caller, req->person, found, n); /* req is freed with the call */
  rpc_call_reply(call, &reply.base);
out:
  for (size_t i = 0; i < n; i++)
    protobuf_c_message_free_unpacked(&found[i]->base, NULL);
  free(found);
  free(matched);
  free(hits);
  free(hitm);
  free(hit_ptrs);
}
