/*
 * desk.c - driving a deployment through the units' Desk services (see
 * desk.h).
 */
#include "desk.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/identity.h"
#include "core/names.h"

tw_world ts_world;

int ts_start(const char *tag, const char *extra_conf, const ts_daemon *daemons, size_t n) {
  if (tw_make(&ts_world, tag, extra_conf, false) != 0)
    return -1;
  if (tw_start_router(&ts_world, NULL) != 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (tw_start_unit(&ts_world, daemons[i].program, daemons[i].unit) != 0)
      return -1;
  }
  /* tw_client keeps one client per principal and finds only the first
   * (principal, url) pair again: make each principal's one client first. */
  if (tw_client(&ts_world, "coordinator", NULL) == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    char op[96];
    snprintf(op, sizeof(op), "%s-operator", daemons[i].unit);
    const mc_unit *u = mc_registry_unit(ts_world.reg, daemons[i].unit);
    if (u == NULL || tw_client(&ts_world, op, u->endpoint) == NULL)
      return -1;
  }
  /* Let every connection finish setting up before a test stops anything:
   * nng 1.5.2 can hang closing a listener while a connection to it is being
   * set up (nanomsg/nng#1498, fixed in 1.6). A Desk round trip per unit
   * settles the operators' connections; the units' own connections to the
   * router are up within a few milliseconds of their start. */
  for (size_t i = 0; i < n; i++) {
    Mediation__V1__DeskConflictsRequest req = MEDIATION__V1__DESK_CONFLICTS_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    mc_err err;
    if (ts_desk_call(daemons[i].unit, "Conflicts", &req.base, &reply, &err) != MC_OK) {
      fprintf(stderr, "%s does not answer: %s\n", daemons[i].unit, err.msg);
      return -1;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  struct timespec settle = {0, 200 * 1000000L};
  nanosleep(&settle, NULL);
  return 0;
}

static bool log_leaks(const char *name) {
  char path[TH_PATH_MAX + 80];
  snprintf(path, sizeof(path), "%s/%s.log", ts_world.dir.path, name);
  char *text = th_read_file(path);
  bool leaked = text != NULL && (strstr(text, TS_CANARY) != NULL ||
                                 strstr(text, TS_PHONE) != NULL ||
                                 strstr(text, TS_ID_PREFIX) != NULL);
  free(text);
  if (leaked)
    fprintf(stderr, "personal data found in %s\n", path);
  return leaked;
}

int ts_stop(void) {
  int bad = 0;
  for (int i = 0; i < ts_world.n_units; i++) {
    if (!th_running(&ts_world.units[i]))
      continue;
    int rc = th_stop(&ts_world.units[i], 20000);
    if (rc != 0) {
      fprintf(stderr, "%s exited with %d on SIGTERM\n", ts_world.unit_ids[i], rc);
      bad = 1;
    }
  }
  int rc = tw_stop_router(&ts_world);
  if (rc != 0 && rc != -1) {
    fprintf(stderr, "the router exited with %d on SIGTERM\n", rc);
    bad = 1;
  }
  bad |= log_leaks("router");
  for (int i = 0; i < ts_world.n_units; i++)
    bad |= log_leaks(ts_world.unit_ids[i]);
  tw_destroy(&ts_world);
  return bad ? -1 : 0;
}

/* ---- Desk ------------------------------------------------------------------- */

static rpc_client *desk_client(const char *unit) {
  const mc_unit *u = mc_registry_unit(ts_world.reg, unit);
  assert_non_null(u);
  char op[96];
  snprintf(op, sizeof(op), "%s-operator", unit);
  rpc_client *c = tw_client(&ts_world, op, u->endpoint);
  assert_non_null(c);
  return c;
}

mc_code ts_desk_call(const char *unit, const char *method, const ProtobufCMessage *req,
                     ProtobufCMessage **reply, mc_err *err) {
  rpc_call_opts opts = {.timeout_ms = 15000};
  return rpc_client_call(desk_client(unit), &mediation__v1__desk__descriptor, method, req, &opts,
                         reply, err);
}

void ts_intake_init(ts_intake *t, mv_kind kind, const char *community, size_t n_parties,
                    int64_t money_fen) {
  static const char *const names[] = {TS_CANARY, "某乙", "某丙"};
  mediation__v1__intake__init(&t->in);
  if (n_parties > 3)
    n_parties = 3;
  for (size_t i = 0; i < n_parties; i++) {
    mediation__v1__party__init(&t->parties[i]);
    t->parties[i].name = (char *)names[i];
    t->parties[i].role = i == 0 ? MV_PARTY(APPLICANT) : MV_PARTY(RESPONDENT);
    t->ptrs[i] = &t->parties[i];
  }
  static unsigned serial; /* the daemons' tests take cases in from one thread */
  unsigned k = serial++ % 1000;
  snprintf(t->name, sizeof(t->name), "%s%u", TS_CANARY, k);
  snprintf(t->id_number, sizeof(t->id_number), "%s%03u", TS_ID_PREFIX, k);
  t->id_number[17] = mc_id_number_check_char(t->id_number);
  t->id_number[18] = '\0';
  t->parties[0].name = t->name;
  t->parties[0].id_number = t->id_number;
  t->parties[0].phone = TS_PHONE;
  t->in.kind = kind;
  t->in.difficulty = MV_DIFFICULTY(ORDINARY);
  t->in.source = MV_SOURCE(WALK_IN);
  t->in.community = (char *)community;
  t->in.parties = t->ptrs;
  t->in.n_parties = n_parties;
  t->in.money_fen = money_fen;
  t->in.summary = "当事人陈述（测试）";
}

Mediation__V1__DeskReply *ts_take_in(const char *unit, const mv_intake *in,
                                     const char *refer_to, const char *refer_reason) {
  Mediation__V1__DeskTakeInRequest req = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
  req.intake = (mv_intake *)in;
  req.person = "值班员";
  req.refer_to = (char *)(refer_to ? refer_to : "");
  req.refer_reason = (char *)(refer_reason ? refer_reason : "");
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = ts_desk_call(unit, "TakeIn", &req.base, &reply, &err);
  if (rc != MC_OK)
    fail_msg("TakeIn at %s: %s: %s", unit, mc_code_name(rc), err.msg);
  return (Mediation__V1__DeskReply *)reply;
}

void ts_action(mv_action *a, mv_action_kind kind, const char *case_ref, const char *reason) {
  mediation__v1__case_action__init(a);
  a->kind = kind;
  a->case_ref = (char *)case_ref;
  a->person = "承办人";
  a->reason = (char *)(reason ? reason : "");
}

Mediation__V1__DeskReply *ts_act(const char *unit, const mv_action *a) {
  Mediation__V1__DeskActRequest req = MEDIATION__V1__DESK_ACT_REQUEST__INIT;
  req.action = (mv_action *)a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = ts_desk_call(unit, "Act", &req.base, &reply, &err);
  if (rc != MC_OK)
    fail_msg("Act %s on %s at %s: %s: %s", mc_name_of(mc_action_names, a->kind), a->case_ref,
             unit, mc_code_name(rc), err.msg);
  return (Mediation__V1__DeskReply *)reply;
}

Mediation__V1__DeskReply *ts_act_simple(const char *unit, const char *case_ref,
                                        mv_action_kind kind, const char *reason) {
  mv_action a;
  ts_action(&a, kind, case_ref, reason);
  return ts_act(unit, &a);
}

static const char *disp_name(Mediation__V1__DeskDisposition d) {
  switch (d) {
  case MV_DISPOSITION(APPLIED): return "APPLIED";
  case MV_DISPOSITION(QUEUED): return "QUEUED";
  case MV_DISPOSITION(REFUSED): return "REFUSED";
  default: return "?";
  }
}

void ts_expect_steps(const Mediation__V1__DeskReply *r, const ts_step *want, size_t n) {
  bool ok = r->n_steps == n;
  for (size_t i = 0; ok && i < n; i++)
    ok = r->steps[i]->action->kind == want[i].kind &&
         r->steps[i]->disposition == want[i].disposition;
  if (ok)
    return;
  char got[1024] = "";
  size_t used = 0;
  for (size_t i = 0; i < r->n_steps && used < sizeof(got); i++)
    used += (size_t)snprintf(got + used, sizeof(got) - used, " %s:%s(%s %s)",
                             mc_name_of(mc_action_names, r->steps[i]->action->kind),
                             disp_name(r->steps[i]->disposition),
                             mc_code_name((mc_code)r->steps[i]->code), r->steps[i]->message);
  char exp[512] = "";
  used = 0;
  for (size_t i = 0; i < n && used < sizeof(exp); i++)
    used += (size_t)snprintf(exp + used, sizeof(exp) - used, " %s:%s",
                             mc_name_of(mc_action_names, want[i].kind),
                             disp_name(want[i].disposition));
  fail_msg("steps: expected%s; got%s", exp, got);
}

void ts_expect_applied(const Mediation__V1__DeskReply *r, size_t n) {
  ts_step want[8];
  assert_true(n <= 8);
  for (size_t i = 0; i < n && i < r->n_steps; i++)
    want[i] = (ts_step){r->steps[i]->action->kind, MV_DISPOSITION(APPLIED)};
  for (size_t i = r->n_steps; i < n; i++)
    want[i] = (ts_step){MV_ACTION(UNSPECIFIED), MV_DISPOSITION(APPLIED)};
  ts_expect_steps(r, want, n);
  assert_non_null(r->case_record);
  assert_false(r->stale);
}

const char *ts_member(const mv_case *c, const char *unit, Mediation__V1__TeamRole role) {
  for (size_t i = 0; i < c->n_team; i++) {
    const mv_member *m = c->team[i];
    if (m->released_ms == 0 && m->role == role && strcmp(m->unit, unit) == 0)
      return m->person;
  }
  return NULL;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

bool ts_poll(bool (*fn)(const void *arg), const void *arg, int timeout_ms) {
  int64_t until = mc_mono_ms() + timeout_ms;
  for (;;) {
    if (fn(arg))
      return true;
    if (mc_mono_ms() >= until)
      return false;
    sleep_ms(20);
  }
}

static bool names(const Mediation__V1__LocalCase *lc, const char *ref) {
  const mv_case *c = lc->case_record;
  return strcmp(c->id, ref) == 0 ||
         (c->intake != NULL && strcmp(c->intake->unit_ref, ref) == 0);
}

static Mediation__V1__DeskListReply *list_of(const char *unit, bool inbox) {
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc;
  if (inbox) {
    Mediation__V1__DeskInboxRequest req = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
    rc = ts_desk_call(unit, "Inbox", &req.base, &reply, &err);
  } else {
    Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
    /* ListCases is paged: the largest page holds every case these tests
     * make at one unit. */
    req.page_size = ts_world.reg->limits.page_size_max;
    rc = ts_desk_call(unit, "ListCases", &req.base, &reply, &err);
  }
  if (rc != MC_OK)
    fail_msg("%s at %s: %s: %s", inbox ? "Inbox" : "ListCases", unit, mc_code_name(rc),
             err.msg);
  return (Mediation__V1__DeskListReply *)reply;
}

Mediation__V1__DeskListReply *ts_wait_local(const char *unit, bool inbox, const char *ref,
                                            ts_local_pred want, const void *arg,
                                            int timeout_ms,
                                            const Mediation__V1__LocalCase **found) {
  int64_t until = mc_mono_ms() + timeout_ms;
  for (;;) {
    Mediation__V1__DeskListReply *l = list_of(unit, inbox);
    for (size_t i = 0; i < l->n_cases; i++) {
      if (names(l->cases[i], ref) && (want == NULL || want(l->cases[i], arg))) {
        if (found)
          *found = l->cases[i];
        return l;
      }
    }
    protobuf_c_message_free_unpacked(&l->base, NULL);
    if (mc_mono_ms() >= until)
      fail_msg("%s's %s never showed %s as expected within %d ms", unit,
               inbox ? "Inbox" : "ListCases", ref, timeout_ms);
    sleep_ms(20);
  }
}

void ts_wait_not_listed(const char *unit, const char *ref, int timeout_ms) {
  int64_t until = mc_mono_ms() + timeout_ms;
  for (;;) {
    Mediation__V1__DeskListReply *l = list_of(unit, false);
    bool there = false;
    for (size_t i = 0; i < l->n_cases; i++)
      there |= names(l->cases[i], ref);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    if (!there)
      return;
    if (mc_mono_ms() >= until)
      fail_msg("%s still lists %s after %d ms", unit, ref, timeout_ms);
    sleep_ms(20);
  }
}

Mediation__V1__DeskConflictsReply *ts_conflicts(const char *unit) {
  Mediation__V1__DeskConflictsRequest req = MEDIATION__V1__DESK_CONFLICTS_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = ts_desk_call(unit, "Conflicts", &req.base, &reply, &err);
  if (rc != MC_OK)
    fail_msg("Conflicts at %s: %s: %s", unit, mc_code_name(rc), err.msg);
  return (Mediation__V1__DeskConflictsReply *)reply;
}

void ts_wait_outbox_empty(const char *unit, int timeout_ms) {
  int64_t until = mc_mono_ms() + timeout_ms;
  for (;;) {
    Mediation__V1__DeskConflictsReply *c = ts_conflicts(unit);
    uint64_t pending = c->outbox_pending;
    protobuf_c_message_free_unpacked(&c->base, NULL);
    if (pending == 0)
      return;
    if (mc_mono_ms() >= until)
      fail_msg("%s still has %llu steps queued after %d ms", unit,
               (unsigned long long)pending, timeout_ms);
    sleep_ms(20);
  }
}

/* ---- The router ------------------------------------------------------------------- */

Mediation__V1__GetCaseReply *ts_router_case(const char *ref, bool timeline) {
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = (char *)ref;
  req.with_timeline = timeline;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  rpc_client *c = tw_client(&ts_world, "coordinator", NULL);
  assert_non_null(c);
  mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "GetCase", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("GetCase %s: %s: %s", ref, mc_code_name(rc), err.msg);
  return (Mediation__V1__GetCaseReply *)reply;
}

/* Checks one read of the case file; NULL if fine, else why not. */
static const char *file_matches(const Mediation__V1__GetCaseReply *g,
                                const mv_action_kind *kinds, size_t n,
                                const ts_receipt *receipts, size_t n_receipts, char *why,
                                size_t cap) {
  uint32_t seq_of[64] = {0};
  size_t k = 0, n_rec = 0;
  for (size_t i = 0; i < g->n_events; i++) {
    const mv_event *e = g->events[i];
    if (e->seq != i + 1) {
      snprintf(why, cap, "event %zu has seq %u", i + 1, e->seq);
      return why;
    }
    if (e->action->kind == MV_ACTION(RECORD_RECEIPT)) {
      n_rec++;
      continue;
    }
    if (k >= n || e->action->kind != kinds[k]) {
      snprintf(why, cap, "step %zu (event %u) is %s, expected %s", k + 1, e->seq,
               mc_name_of(mc_action_names, e->action->kind),
               k < n ? mc_name_of(mc_action_names, kinds[k]) : "nothing more");
      return why;
    }
    if (k < 64)
      seq_of[k] = e->seq;
    k++;
  }
  if (k != n) {
    snprintf(why, cap, "%zu steps in the file, expected %zu", k, n);
    return why;
  }
  for (size_t r = 0; r < n_receipts; r++) {
    uint32_t target = seq_of[receipts[r].step];
    size_t found = 0;
    for (size_t i = 0; i < g->n_events; i++) {
      const mv_event *e = g->events[i];
      if (e->action->kind != MV_ACTION(RECORD_RECEIPT) || e->action->receipt == NULL)
        continue;
      const mv_receipt *rc = e->action->receipt;
      if (strcmp(rc->unit, receipts[r].unit) == 0 && rc->event_seq == target) {
        found++;
        if (e->seq <= target || e->actor->kind != MV_PRINCIPAL(SYSTEM) ||
            rc->signature.len != 64) {
          snprintf(why, cap, "receipt by %s for event %u is malformed", rc->unit, target);
          return why;
        }
      }
    }
    if (found != 1) {
      snprintf(why, cap, "%zu receipts by %s for event %u (%s), expected 1", found,
               receipts[r].unit, target,
               mc_name_of(mc_action_names, kinds[receipts[r].step]));
      return why;
    }
  }
  if (n_rec != n_receipts) {
    snprintf(why, cap, "%zu receipts in the file, expected %zu", n_rec, n_receipts);
    return why;
  }
  return NULL;
}

Mediation__V1__GetCaseReply *ts_expect_file(const char *case_id, const mv_action_kind *kinds,
                                            size_t n, const ts_receipt *receipts,
                                            size_t n_receipts, int timeout_ms) {
  int64_t until = mc_mono_ms() + timeout_ms;
  char why[256];
  for (;;) {
    Mediation__V1__GetCaseReply *g = ts_router_case(case_id, true);
    const char *bad = file_matches(g, kinds, n, receipts, n_receipts, why, sizeof(why));
    if (bad == NULL)
      return g;
    protobuf_c_message_free_unpacked(&g->base, NULL);
    if (mc_mono_ms() >= until)
      fail_msg("case file of %s: %s", case_id, bad);
    sleep_ms(30);
  }
}

void ts_figures_get(ts_figures *f, Mediation__V1__FigureGrouping by) {
  memset(f, 0, sizeof(*f));
  Mediation__V1__GetFiguresRequest req = MEDIATION__V1__GET_FIGURES_REQUEST__INIT;
  req.year = mc_date_of(mc_now_ms(), ts_world.reg->utc_offset_minutes).year;
  req.group_by = by;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  rpc_client *c = tw_client(&ts_world, "coordinator", NULL);
  assert_non_null(c);
  mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "GetFigures", &req.base,
                               NULL, &reply, &err);
  if (rc != MC_OK)
    fail_msg("GetFigures: %s: %s", mc_code_name(rc), err.msg);
  Mediation__V1__GetFiguresReply *g = (Mediation__V1__GetFiguresReply *)reply;
  for (size_t i = 0; i < g->n_rows && f->n < TS_FIG_ROWS; i++) {
    const mv_bucket *b = g->rows[i]->bucket;
    const char *key = by == MV_GROUPING(UNIT) ? b->unit : b->community;
    snprintf(f->keys[f->n], sizeof(f->keys[0]), "%s", key);
    f->rows[f->n] = *g->rows[i]->counters;
    f->rows[f->n].base.unknown_fields = NULL;
    f->rows[f->n].base.n_unknown_fields = 0;
    f->n++;
  }
  if (g->total != NULL && g->total->counters != NULL)
    f->total = *g->total->counters;
  f->total.base.unknown_fields = NULL;
  f->total.base.n_unknown_fields = 0;
  protobuf_c_message_free_unpacked(reply, NULL);
}

static const mv_counters *row_of(const ts_figures *f, const char *key) {
  static mv_counters zero = MEDIATION__V1__FIGURE_COUNTERS__INIT;
  if (key == NULL)
    return &f->total;
  for (size_t i = 0; i < f->n; i++) {
    if (strcmp(f->keys[i], key) == 0)
      return &f->rows[i];
  }
  return &zero;
}

void ts_figures_expect(const ts_figures *before, const ts_figures *after, const char *key,
                       const char *deltas) {
  const mv_counters *b = row_of(before, key), *a = row_of(after, key);
  const ProtobufCMessageDescriptor *d = &mediation__v1__figure_counters__descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[i];
    if (fd->type != PROTOBUF_C_TYPE_INT64)
      continue;
    int64_t want = 0;
    const char *at = strstr(deltas, fd->name);
    while (at != NULL && ((at != deltas && at[-1] != ' ') || at[strlen(fd->name)] != '='))
      at = strstr(at + 1, fd->name);
    if (at != NULL)
      want = strtoll(at + strlen(fd->name) + 1, NULL, 10);
    int64_t got = *(const int64_t *)((const char *)a + fd->offset) -
                  *(const int64_t *)((const char *)b + fd->offset);
    if (got != want)
      fail_msg("figures of %s: %s moved by %lld, expected %lld", key ? key : "the subdistrict",
               fd->name, (long long)got, (long long)want);
  }
}
