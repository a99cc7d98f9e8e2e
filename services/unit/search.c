/*
 * search.c - Desk/Search: the router's search on the unit's behalf, and,
 * while the router is away, the same search over the unit's local copies
 * (SearchReply.local), like ShowCase's fallback.
 *
 * The router's answer is passed through as it is (its access rules, its
 * masking, its access log with the operator as person). The local answer
 * looks at the cases this unit keeps (only its own): a party's name or a
 * team member's name containing the text, the unit_ref (ASCII case
 * ignored), an ID number or phone equal in its normal form
 * (core/identity.h). It is one page (the unit's copies are few), in the
 * order the outbox keeps them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/identity.h"
#include "core/pb.h"
#include "core/text.h"
#include "services/unit/internal.h"

typedef struct search_call {
  un_unit *u;
  rpc_call *call;
  char *text;
  uint32_t page;
} search_call;

/* What the text is, for the local search. */
typedef struct local_query {
  const char *text;
  char id[MC_ID_NUMBER_LEN + 1]; /* "" unless the text is an ID number */
  char phone[MC_PHONE_NORM_MAX]; /* "" unless the text is a phone */
  uint32_t page;
  mv_case **found;
  const char **matched;
  size_t n;
  uint32_t total;
  bool failed;
} local_query;

static bool ascii_case_equal(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
    char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
    if (x != y)
      return false;
  }
  return *a == *b;
}

static const char *local_match(const local_query *q, const mv_case *c) {
  const mv_intake *in = c->intake;
  if (in == NULL)
    return NULL;
  char norm[MC_PHONE_NORM_MAX > MC_ID_NUMBER_LEN + 1 ? MC_PHONE_NORM_MAX : MC_ID_NUMBER_LEN + 1];
  for (size_t i = 0; i < in->n_parties; i++) {
    const mv_party *p = in->parties[i];
    if (q->id[0] && mc_id_number_normal(p->id_number, norm) && strcmp(norm, q->id) == 0)
      return "id_number";
    if (q->phone[0] && mc_phone_normal(p->phone, norm) && strcmp(norm, q->phone) == 0)
      return "phone";
  }
  if (q->id[0] || q->phone[0])
    return NULL;
  if (in->unit_ref[0] && ascii_case_equal(in->unit_ref, q->text))
    return "unit_ref";
  for (size_t i = 0; i < in->n_parties; i++)
    if (strstr(in->parties[i]->name, q->text) != NULL)
      return "party_name";
  for (size_t i = 0; i < c->n_team; i++)
    if (strstr(c->team[i]->person, q->text) != NULL)
      return "mediator";
  return NULL;
}

static bool local_one(void *arg, const st_local_case *lc) {
  local_query *q = arg;
  const char *m = local_match(q, lc->case_record);
  if (m == NULL)
    return true;
  q->total++;
  if (q->n == q->page)
    return true;
  mv_case *copy = NULL;
  if (mc_pb_clone(&lc->case_record->base, (ProtobufCMessage **)&copy, NULL) != MC_OK) {
    q->failed = true;
    return false;
  }
  q->found[q->n] = copy;
  q->matched[q->n++] = m;
  return true;
}

/* Fills a hit from a local copy, borrowing its strings. */
static void hit_of(const mv_case *c, int64_t now, Mediation__V1__SearchHit *h) {
  mediation__v1__search_hit__init(h);
  h->id = c->id;
  h->state = c->state;
  h->holder = c->holder;
  if (c->transfer != NULL)
    h->offered_to = c->transfer->to_unit;
  h->kind = c->intake->kind;
  h->community = c->intake->community;
  h->difficulty = c->intake->difficulty;
  h->unit_ref = c->intake->unit_ref;
  h->repeat_of = c->intake->repeat_of;
  h->n_repeat_of = c->intake->n_repeat_of;
  h->created_ms = c->created_ms;
  h->deadline_ms = c->deadline_ms;
  h->overdue = c->deadline_ms != 0 && now > c->deadline_ms;
}

static void search_local(un_unit *u, rpc_call *call, const char *text, uint32_t page) {
  local_query q = {.text = text, .page = page};
  if (!mc_id_number_normal(text, q.id))
    mc_phone_normal(text, q.phone);
  q.found = calloc(page, sizeof(*q.found));
  q.matched = calloc(page, sizeof(*q.matched));
  Mediation__V1__SearchHit *hits = calloc(page, sizeof(*hits));
  Mediation__V1__SearchHit **ptrs = calloc(page, sizeof(*ptrs));
  st_txn *t = NULL;
  mc_err err;
  mc_code rc = MC_OK;
  if (!q.found || !q.matched || !hits || !ptrs) {
    rc = mc_err_set(&err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  } else {
    rc = st_outbox_read_begin(u->ob, &t, &err);
    if (rc == MC_OK)
      rc = st_ob_local_scan(t, local_one, &q, &err);
    st_read_end(t);
    if (rc == MC_OK && q.failed)
      rc = mc_err_set(&err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  }
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
  } else {
    int64_t now = mc_now_ms();
    for (size_t i = 0; i < q.n; i++) {
      hit_of(q.found[i], now, &hits[i]);
      hits[i].matched = (char *)q.matched[i];
      ptrs[i] = &hits[i];
    }
    Mediation__V1__SearchReply reply = MEDIATION__V1__SEARCH_REPLY__INIT;
    reply.hits = ptrs;
    reply.n_hits = q.n;
    reply.total = q.total;
    reply.local = true;
    rpc_call_reply(call, &reply.base);
  }
  for (size_t i = 0; i < q.n; i++)
    protobuf_c_message_free_unpacked(&q.found[i]->base, NULL);
  free(q.found);
  free(q.matched);
  free(hits);
  free(ptrs);
}

static void search_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  search_call *s = arg;
  if (code == MC_OK) {
    un_set_online(s->u, true);
    rpc_call_reply(s->call, reply);
    protobuf_c_message_free_unpacked(reply, NULL);
  } else if (un_code_is_refusal(code)) {
    rpc_call_fail(s->call, code, "%s", message); /* the router's answer: bad text, bad token */
  } else {
    search_local(s->u, s->call, s->text, s->page);
  }
  free(s->text);
  free(s);
}

void un_desk_search(un_unit *u, rpc_call *call, const Mediation__V1__SearchRequest *in) {
  mc_err err;
  size_t max = u->reg->limits.max_name_bytes;
  if (mc_text_check(in->text, max, "text", &err) != MC_OK ||
      mc_text_check(in->person, max, "person", &err) != MC_OK ||
      mc_text_check(in->page_token, 1024, "page_token", &err) != MC_OK) {
    rpc_call_fail_err(call, &err);
    return;
  }
  const char *b = in->text;
  while (*b == ' ' || *b == '\t')
    b++;
  size_t n = strlen(b);
  while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
    n--;
  if (n == 0) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("text: required"));
    return;
  }
  uint32_t page = in->page_size ? in->page_size : u->reg->limits.page_size_default;
  if (page > u->reg->limits.page_size_max) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("page_size %u is above the limit %u"),
                  in->page_size, u->reg->limits.page_size_max);
    return;
  }
  search_call *s = calloc(1, sizeof(*s));
  char *text = strndup(b, n);
  if (s == NULL || text == NULL) {
    free(s);
    free(text);
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    return;
  }
  *s = (search_call){.u = u, .call = call, .text = text, .page = page};
  pthread_mutex_lock(&u->mu);
  bool offline = u->offline;
  pthread_mutex_unlock(&u->mu);
  if (!offline) {
    Mediation__V1__SearchRequest req = *in;
    req.base.unknown_fields = NULL;
    req.base.n_unknown_fields = 0;
    rpc_call_opts opts = {.timeout_ms = UN_READ_TIMEOUT_MS};
    if (un_call_async(u, "Search", &req.base, &opts, search_done, s, &err) == MC_OK)
      return;
  }
  search_local(u, call, text, page);
  free(text);
  free(s);
}
