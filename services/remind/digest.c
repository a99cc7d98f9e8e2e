/*
 * digest.c - what a unit must hear about, and its text (see remind.h).
 *
 * The text is a document the staff read in their mailbox or group chat,
 * in the daemon's language (English source through _(), Chinese under the
 * LANG=zh_CN.UTF-8 its systemd unit sets, core/i18n.h); it names cases by
 * id, states and kinds by their labels (core/names.c), units and
 * communities by their registry names, and nothing else. A long list is cut at
 * SECTION_MAX lines with a count of the rest: the whole list is one click
 * away on the desk, and robots refuse long messages (send.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/names.h"
#include "services/remind/remind.h"

#define SECTION_MAX 30
#define CALL_TIMEOUT_MS 20000

static bool list_push(rm_list *l, const rm_case *c) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    rm_case *items = realloc(l->items, cap * sizeof(*items));
    if (items == NULL)
      return false;
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = *c;
  return true;
}

static int by_deadline(const void *a, const void *b) {
  const rm_case *x = a, *y = b;
  return (x->deadline_ms > y->deadline_ms) - (x->deadline_ms < y->deadline_ms);
}

static int by_waiting(const void *a, const void *b) {
  const rm_case *x = a, *y = b;
  return (x->state_entered_ms > y->state_entered_ms) -
         (x->state_entered_ms < y->state_entered_ms);
}

void rm_view_free(rm_unit_view *v) {
  free(v->overdue.items);
  free(v->due_soon.items);
  free(v->waiting.items);
  memset(&v->overdue, 0, sizeof(v->overdue));
  memset(&v->due_soon, 0, sizeof(v->due_soon));
  memset(&v->waiting, 0, sizeof(v->waiting));
}

/* Sorts one summary into the view. offered: it came from the offered_to
 * listing. A case the unit holds but has offered to another unit is that
 * unit's to answer (as Stuck counts it), so it is left out here. */
static bool classify(const mc_registry *reg, rm_unit_view *v, const Mediation__V1__CaseSummary *s,
                     bool offered) {
  bool on_offer = s->state == MV_STATE(TRANSFER);
  if (!offered && on_offer)
    return true;
  rm_case c = {.state = s->state,
               .kind = s->kind,
               .state_entered_ms = s->state_entered_ms,
               .deadline_ms = s->deadline_ms,
               .overdue = s->overdue};
  snprintf(c.id, sizeof(c.id), "%s", s->id ? s->id : "");
  snprintf(c.community, sizeof(c.community), "%s", s->community ? s->community : "");
  snprintf(c.holder, sizeof(c.holder), "%s", s->holder ? s->holder : "");
  bool ok = true;
  if (c.overdue)
    ok = list_push(&v->overdue, &c);
  else if (c.deadline_ms > 0 && c.deadline_ms - v->as_of_ms <= reg->remind.due_soon_ms)
    ok = list_push(&v->due_soon, &c);
  if (ok && offered && v->as_of_ms - c.state_entered_ms >= reg->remind.offer_wait_ms)
    ok = list_push(&v->waiting, &c);
  return ok;
}

/* Every page of ListCases with holder or offered_to = the unit. */
static mc_code list_all(rpc_client *client, const mc_registry *reg, rm_unit_view *v,
                        bool offered, mc_err *err) {
  char *cursor = NULL;
  mc_code rc = MC_OK;
  do {
    Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
    if (offered)
      req.offered_to = v->unit->id;
    else
      req.holder = v->unit->id;
    req.page_size = reg->limits.page_size_max;
    req.cursor = cursor ? cursor : "";
    ProtobufCMessage *out = NULL;
    rc = rpc_client_call(client, &mediation__v1__router__descriptor, "ListCases", &req.base,
                         &(rpc_call_opts){.timeout_ms = CALL_TIMEOUT_MS}, &out, err);
    free(cursor);
    cursor = NULL;
    if (rc != MC_OK)
      return mc_err_prefix(err, offered ? "ListCases offered_to" : "ListCases holder");
    Mediation__V1__ListCasesReply *r = (Mediation__V1__ListCasesReply *)out;
    for (size_t i = 0; i < r->n_cases && rc == MC_OK; i++) {
      if (!classify(reg, v, r->cases[i], offered))
        rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (rc == MC_OK && r->next_cursor != NULL && r->next_cursor[0] != '\0' &&
        (cursor = strdup(r->next_cursor)) == NULL)
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
    protobuf_c_message_free_unpacked(out, NULL);
  } while (rc == MC_OK && cursor != NULL);
  free(cursor);
  return rc;
}

mc_code rm_gather(rpc_client *client, const mc_registry *reg, const mc_unit *unit,
                  rm_unit_view *v, mc_err *err) {
  memset(v, 0, sizeof(*v));
  v->unit = unit;
  v->as_of_ms = mc_now_ms();
  mc_code rc = list_all(client, reg, v, false, err);
  if (rc == MC_OK)
    rc = list_all(client, reg, v, true, err);
  if (rc != MC_OK) {
    rm_view_free(v);
    return rc;
  }
  /* qsort's base must not be NULL, even for no items (C11 7.22.5). */
  if (v->overdue.n > 0)
    qsort(v->overdue.items, v->overdue.n, sizeof(rm_case), by_deadline);
  if (v->due_soon.n > 0)
    qsort(v->due_soon.items, v->due_soon.n, sizeof(rm_case), by_deadline);
  if (v->waiting.n > 0)
    qsort(v->waiting.items, v->waiting.n, sizeof(rm_case), by_waiting);
  return MC_OK;
}

/* ---- text ---------------------------------------------------------------- */

typedef struct buf {
  char *s;
  size_t n, cap;
  bool oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
  if (b->oom)
    return;
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0) {
    b->oom = true;
    return;
  }
  if (b->n + (size_t)len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + (size_t)len + 1)
      cap *= 2;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
      b->oom = true;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->s + b->n, (size_t)len + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)len;
}

static char *done(buf *b) {
  if (b->oom) {
    free(b->s);
    return NULL;
  }
  return b->s;
}

static const char *unit_name(const mc_registry *reg, const char *id) {
  const mc_unit *u = mc_registry_unit(reg, id);
  return u != NULL ? u->name : id;
}

static const char *community_name(const mc_registry *reg, const char *id) {
  if (id[0] == '\0')
    return _("no community given");
  const mc_community *c = mc_registry_community(reg, id);
  return c != NULL ? c->name : id;
}

/* "3d 4h", "5h 20min", "12min", "under 1min" (3天4小时...): a span, for people. */
static void span(int64_t ms, char *out, size_t cap) {
  if (ms < 0)
    ms = 0;
  int64_t minutes = ms / 60000, hours = minutes / 60, days = hours / 24;
  if (days > 0)
    snprintf(out, cap, _("%lldd %lldh"), (long long)days, (long long)(hours % 24));
  else if (hours > 0)
    snprintf(out, cap, _("%lldh %lldmin"), (long long)hours, (long long)(minutes % 60));
  else if (minutes > 0)
    snprintf(out, cap, _("%lldmin"), (long long)minutes);
  else
    snprintf(out, cap, "%s", _("under 1min"));
}

/* A configured period in its own unit: "48h", "7 days", "90s" (48小时...). */
static void period(int64_t ms, char *out, size_t cap) {
  if (ms % 86400000 == 0 && ms >= 3 * 86400000LL)
    snprintf(out, cap, _("%lld days"), (long long)(ms / 86400000));
  else if (ms % 3600000 == 0 && ms > 0)
    snprintf(out, cap, _("%lldh"), (long long)(ms / 3600000));
  else if (ms % 60000 == 0 && ms > 0)
    snprintf(out, cap, _("%lldmin"), (long long)(ms / 60000));
  else
    snprintf(out, cap, _("%llds"), (long long)(ms / 1000));
}

static void case_line(buf *b, const mc_registry *reg, size_t i, const rm_case *c,
                      int64_t now, bool offer) {
  char when[32], len[48];
  put(b, "%zu. %s  %s · %s · %s", i + 1, c->id, mc_label_of(mc_state_names, (int)c->state),
      mc_label_of(mc_kind_names, (int)c->kind), community_name(reg, c->community));
  if (offer) {
    span(now - c->state_entered_ms, len, sizeof(len));
    put(b, _(" · from %s, waiting %s"), unit_name(reg, c->holder), len);
  } else if (c->deadline_ms > 0) {
    mc_format_ms(c->deadline_ms, reg->utc_offset_minutes, when, sizeof(when));
    span(c->overdue ? now - c->deadline_ms : c->deadline_ms - now, len, sizeof(len));
    put(b, c->overdue ? _(" · due %s (overdue by %s)") : _(" · due %s (%s left)"), when, len);
  }
  put(b, "\n");
}

static void section(buf *b, const mc_registry *reg, const char *title, const rm_list *l,
                    int64_t now, bool offer) {
  put(b, _("\n%s (%zu cases)\n"), title, l->n);
  if (l->n == 0)
    put(b, "%s", _("none\n"));
  for (size_t i = 0; i < l->n && i < SECTION_MAX; i++)
    case_line(b, reg, i, &l->items[i], now, offer);
  if (l->n > SECTION_MAX)
    put(b, _("... and %zu more not listed: log in to the mediation platform to see them.\n"),
        l->n - SECTION_MAX);
}

static const char footer[] =
    N_("\nThis reminder holds case ids and unit and community names only: log in to the "
       "mediation platform for the parties and the case files.\n"
       "(Sent by mediation-remind; do not reply.)\n");

void rm_compose_digest(const mc_registry *reg, const rm_unit_view *v, char **subject,
                       char **body) {
  char now[32], soon[48], wait[48];
  mc_format_ms(v->as_of_ms, reg->utc_offset_minutes, now, sizeof(now));
  period(reg->remind.due_soon_ms, soon, sizeof(soon));
  period(reg->remind.offer_wait_ms, wait, sizeof(wait));
  buf s = {0}, b = {0};
  put(&s, _("[Mediation reminder] %s daily digest: %zu overdue, %zu due soon, %zu waiting"),
      v->unit->name, v->overdue.n, v->due_soon.n, v->waiting.n);
  put(&b, _("%s %s daily reminder (%s)\n"), reg->subdistrict, v->unit->name, now);
  put(&b, _("%zu overdue, due within %s: %zu, waiting longer than %s: %zu.\n"), v->overdue.n,
      soon, v->due_soon.n, wait, v->waiting.n);
  section(&b, reg, _("1. Overdue"), &v->overdue, v->as_of_ms, false);
  char title[96];
  snprintf(title, sizeof(title), _("2. Due within %s"), soon);
  section(&b, reg, title, &v->due_soon, v->as_of_ms, false);
  snprintf(title, sizeof(title), _("3. Waiting longer than %s"), wait);
  section(&b, reg, title, &v->waiting, v->as_of_ms, true);
  put(&b, "%s", _(footer));
  *subject = done(&s);
  *body = done(&b);
}

void rm_compose_alert(const mc_registry *reg, const mc_unit *unit, const rm_case *fresh,
                      size_t n, int64_t now_ms, char **subject, char **body) {
  char now[32];
  mc_format_ms(now_ms, reg->utc_offset_minutes, now, sizeof(now));
  buf s = {0}, b = {0};
  put(&s, _("[Mediation reminder] %s: %zu newly overdue"), unit->name, n);
  put(&b, _("%s %s overdue alert (%s)\n"), reg->subdistrict, unit->name, now);
  put(&b, _("%zu case(s) have just passed their deadline; please act on them soon:\n"), n);
  rm_list l = {.items = (rm_case *)fresh, .n = n, .cap = n};
  section(&b, reg, _("Newly overdue"), &l, now_ms, false);
  put(&b, "%s", _(footer));
  *subject = done(&s);
  *body = done(&b);
}
