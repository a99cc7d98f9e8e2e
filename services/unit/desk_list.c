/*
 * desk_list.c - the desk's lists: Inbox (cases offered to this unit) and
 * ListCases (在办案件: the cases it holds), both from the unit's own copies
 * so they work while the router is away.
 *
 * ListCases is paged (issue 16): a unit with 10,000 cases would otherwise
 * answer with more than max_message_bytes, which no caller can read. The
 * filters, the sort by deadline and the total are applied here, where every
 * copy is at hand, so a page shows the same cases whichever page came
 * before it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/machine.h"
#include "core/pb.h"
#include "services/unit/internal.h"

typedef struct collect {
  const un_unit *u;
  bool inbox;
  const Mediation__V1__DeskListRequest *in; /* NULL for the inbox */
  int64_t now_ms;
  st_local_case **items;
  size_t n, cap;
  uint64_t held;
  char **names; /* mediators on held cases, borrowed from nothing: strdup'd */
  size_t n_names, cap_names;
  bool failed;
} collect;

static bool grow(void **array, size_t *cap, size_t n, size_t each) {
  if (n < *cap)
    return true;
  size_t want = *cap ? *cap * 2 : 16;
  void *grown = realloc(*array, want * each);
  if (grown == NULL)
    return false;
  *array = grown;
  *cap = want;
  return true;
}

/* ASCII case-insensitive substring (names are compared as written; only
 * Latin letters in ids and refs fold). */
static bool contains_fold(const char *hay, const char *needle) {
  if (hay == NULL)
    return false;
  size_t n = strlen(needle);
  for (const char *p = hay; *p != '\0'; p++) {
    size_t i = 0;
    while (i < n && p[i] != '\0' &&
           tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n)
      return true;
  }
  return n == 0;
}

static bool on_team(const mv_case *k, const char *person) {
  for (size_t i = 0; i < k->n_team; i++)
    if (k->team[i]->released_ms == 0 && strcmp(k->team[i]->person, person) == 0)
      return true;
  return false;
}

static bool text_matches(const mv_case *k, const char *text) {
  if (contains_fold(k->id, text))
    return true;
  if (k->intake != NULL) {
    if (contains_fold(k->intake->unit_ref, text))
      return true;
    for (size_t i = 0; i < k->intake->n_parties; i++)
      if (contains_fold(k->intake->parties[i]->name, text))
        return true;
  }
  for (size_t i = 0; i < k->n_team; i++)
    if (k->team[i]->released_ms == 0 && contains_fold(k->team[i]->person, text))
      return true;
  return false;
}

static bool filters_match(const collect *c, const mv_case *k) {
  const Mediation__V1__DeskListRequest *in = c->in;
  const char *community = k->intake ? k->intake->community : "";
  if (in->state != MV_STATE(UNSPECIFIED) && k->state != in->state)
    return false;
  if (in->kind != 0 && (k->intake == NULL || k->intake->kind != in->kind))
    return false;
  if (in->community[0] != '\0' && strcmp(community, in->community) != 0)
    return false;
  if (in->mediator[0] != '\0' && !on_team(k, in->mediator))
    return false;
  if (in->overdue_only && !mc_is_overdue(k, c->now_ms))
    return false;
  return in->text[0] == '\0' || text_matches(k, in->text);
}

static bool note_mediators(collect *c, const mv_case *k) {
  for (size_t i = 0; i < k->n_team; i++) {
    if (k->team[i]->released_ms != 0 || k->team[i]->person[0] == '\0')
      continue;
    if (!grow((void **)&c->names, &c->cap_names, c->n_names, sizeof(char *)))
      return false;
    if ((c->names[c->n_names] = strdup(k->team[i]->person)) == NULL)
      return false;
    c->n_names++;
  }
  return true;
}

static bool collect_one(void *arg, const st_local_case *lc) {
  collect *c = arg;
  const mv_case *k = lc->case_record;
  bool want;
  if (c->inbox) {
    want = k->state == MV_STATE(TRANSFER) && k->transfer != NULL &&
           strcmp(k->transfer->to_unit, c->u->self->id) == 0;
  } else {
    if (!un_holds(c->u, k))
      return true;
    c->held++;
    if (!note_mediators(c, k)) {
      c->failed = true;
      return false;
    }
    want = filters_match(c, k);
  }
  if (!want)
    return true;
  st_local_case *copy = NULL;
  if (!grow((void **)&c->items, &c->cap, c->n, sizeof(*c->items)) ||
      mc_pb_clone(&lc->base, (ProtobufCMessage **)&copy, NULL) != MC_OK) {
    c->failed = true;
    return false;
  }
  c->items[c->n++] = copy;
  return true;
}

/* Soonest deadline first; cases without one after them, most recently
 * updated first; the id last, so the order (and so a page) is stable. */
static int by_deadline(const void *a, const void *b) {
  const mv_case *x = (*(st_local_case *const *)a)->case_record;
  const mv_case *y = (*(st_local_case *const *)b)->case_record;
  if ((x->deadline_ms != 0) != (y->deadline_ms != 0))
    return x->deadline_ms != 0 ? -1 : 1;
  if (x->deadline_ms != y->deadline_ms)
    return x->deadline_ms < y->deadline_ms ? -1 : 1;
  if (x->updated_ms != y->updated_ms)
    return x->updated_ms > y->updated_ms ? -1 : 1;
  return strcmp(x->id, y->id);
}

static int by_string(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and removes repeats in place; returns how many are left. */
static size_t unique_names(char **names, size_t n) {
  if (n == 0)
    return 0;
  qsort(names, n, sizeof(*names), by_string);
  size_t k = 1;
  for (size_t i = 1; i < n; i++) {
    if (strcmp(names[i], names[k - 1]) == 0)
      free(names[i]);
    else
      names[k++] = names[i];
  }
  return k;
}

/* The page [first, first + size) of c's sorted items, answered on call. */
static void reply_page(collect *c, rpc_call *call, size_t first, size_t size) {
  size_t end = c->n;
  if (!c->inbox) {
    if (c->n > 0)
      qsort(c->items, c->n, sizeof(*c->items), by_deadline);
    if (first > c->n)
      first = c->n;
    end = c->n - first > size ? first + size : c->n;
    c->n_names = unique_names(c->names, c->n_names);
  }
  size_t n = end - first;
  /* The synced record is the outbox's business, not the operator's. */
  st_local_case *shown = calloc(n ? n : 1, sizeof(*shown));
  st_local_case **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
  if (shown == NULL || ptrs == NULL) {
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  } else {
    for (size_t i = 0; i < n; i++) {
      shown[i] = *c->items[first + i];
      shown[i].synced_record = NULL;
      ptrs[i] = &shown[i];
    }
    char next[24] = "";
    if (end < c->n)
      snprintf(next, sizeof(next), "%zu", end);
    Mediation__V1__DeskListReply reply = MEDIATION__V1__DESK_LIST_REPLY__INIT;
    reply.cases = ptrs;
    reply.n_cases = n;
    if (!c->inbox) {
      reply.next_cursor = next;
      reply.total = c->n;
      reply.held = c->held;
      reply.mediators = c->names;
      reply.n_mediators = c->n_names;
    }
    rpc_call_reply(call, &reply.base);
  }
  free(shown);
  free(ptrs);
}

/* Checks in's filters and paging against the limits; false after failing
 * call with what was wrong. */
static bool list_request_ok(const un_unit *u, rpc_call *call,
                            const Mediation__V1__DeskListRequest *in, size_t *first,
                            size_t *size) {
  const mc_limits *lim = &u->reg->limits;
  if (in->state > MV_STATE(WITHDRAWN)) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("state: not a known value (%d)"), (int)in->state);
    return false;
  }
  if (in->kind != 0 &&
      protobuf_c_enum_descriptor_get_value(&mediation__v1__dispute_kind__descriptor,
                                           (int)in->kind) == NULL) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("kind: not a known value (%d)"), (int)in->kind);
    return false;
  }
  if (strlen(in->community) > lim->max_name_bytes || strlen(in->mediator) > lim->max_name_bytes ||
      strlen(in->text) > lim->max_name_bytes) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT,
                  _("community, mediator, text: at most %zu bytes each"), lim->max_name_bytes);
    return false;
  }
  *size = in->page_size ? in->page_size : lim->page_size_default;
  if (*size == 0 || *size > lim->page_size_max) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("page_size: at most %u"),
                  (unsigned)lim->page_size_max);
    return false;
  }
  *first = 0;
  const char *p = in->cursor;
  if (*p != '\0' && strlen(p) > 9) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("cursor: not one this list gave (a next_cursor)"));
    return false;
  }
  for (; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') {
      rpc_call_fail(call, MC_INVALID_ARGUMENT,
                    _("cursor: not one this list gave (a next_cursor)"));
      return false;
    }
    *first = *first * 10 + (size_t)(*p - '0');
  }
  return true;
}

void un_desk_list(un_unit *u, rpc_call *call, const Mediation__V1__DeskListRequest *in) {
  size_t first = 0, size = 0;
  if (in != NULL && !list_request_ok(u, call, in, &first, &size))
    return;
  collect c = {.u = u, .inbox = in == NULL, .in = in, .now_ms = mc_now_ms()};
  st_txn *t = NULL;
  mc_err err;
  mc_code rc = st_outbox_read_begin(u->ob, &t, &err);
  if (rc == MC_OK)
    rc = st_ob_local_scan(t, collect_one, &c, &err);
  st_read_end(t);
  if (rc == MC_OK && c.failed)
    rc = mc_err_set(&err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  if (rc != MC_OK)
    rpc_call_fail_err(call, &err);
  else
    reply_page(&c, call, first, size);
  st_messages_free(c.items, c.n);
  for (size_t i = 0; i < c.n_names; i++)
    free(c.names[i]);
  free(c.names);
}
