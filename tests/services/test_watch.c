/*
 * test_watch.c - Desk/Watch across real processes: the router, the police
 * studio and the marriage studio. A watch answers at once with reset for an
 * epoch not this run's; waits, then wakes when an offer reaches the unit
 * (the police studio refers a family dispute to the marriage studio) and
 * when a local step is taken; runs out after wait_ms with seq unchanged;
 * fifty watches at once leave the desk's other calls answering at once and
 * all wake on one change; ShowCase's person reaches the router's access
 * log; and a stopping daemon ends a waiting watch at once rather than
 * after its wait or the server's stop grace.
 *
 * The tests share one deployment and run in order: the quiet ones first
 * (nothing else may change the units while a watch is to run out).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "desk.h"

#define POLICE "police-studio"
#define MARRIAGE "marriage-studio"
#define MANY 50

static const ts_daemon daemons[] = {
    {"police-studio", POLICE},
    {"marriage-studio", MARRIAGE},
};

/* A client of the marriage studio's operator of its own: many calls in
 * flight at once (the world's clients allow 32). */
static rpc_client *watcher;

static char case_id[32]; /* the case referred by test_wakes_on_offer */

static int setup(void **state) {
  (void)state;
  if (ts_start("watch", NULL, daemons, sizeof(daemons) / sizeof(daemons[0])) != 0)
    return -1;
  const mc_unit *u = mc_registry_unit(ts_world.reg, MARRIAGE);
  rpc_key *key = tw_key(&ts_world, MARRIAGE "-operator");
  rpc_client_opts opts = {.max_in_flight = MANY + 8, .default_timeout_ms = 10000};
  mc_err err;
  if (u == NULL || key == NULL ||
      rpc_client_create(u->endpoint, key, &ts_world.reg->limits, &opts, &watcher, &err) != MC_OK)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rpc_client_free(watcher);
  return ts_stop();
}

/* ---- Watches, sync and async ----------------------------------------------------- */

static Mediation__V1__DeskWatchReply *watch_now(const char *unit, uint64_t epoch, uint64_t after,
                                                uint32_t wait_ms) {
  Mediation__V1__DeskWatchRequest req = MEDIATION__V1__DESK_WATCH_REQUEST__INIT;
  req.epoch = epoch;
  req.after = after;
  req.wait_ms = wait_ms;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = ts_desk_call(unit, "Watch", &req.base, &reply, &err);
  if (rc != MC_OK)
    fail_msg("Watch at %s: %s: %s", unit, mc_code_name(rc), err.msg);
  return (Mediation__V1__DeskWatchReply *)reply;
}

/* Where a unit's changes stand now: (epoch, seq). */
static void watch_state(const char *unit, uint64_t *epoch, uint64_t *seq) {
  Mediation__V1__DeskWatchReply *r = watch_now(unit, 0, 0, 1000);
  assert_true(r->reset);
  assert_true(r->epoch != 0);
  *epoch = r->epoch;
  *seq = r->seq;
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Where a unit's changes stand once it is quiet: nothing noted for 700 ms
 * (deliveries trail every step: receipts, updates). */
static void quiet_state(const char *unit, uint64_t *epoch, uint64_t *seq) {
  for (int tries = 0; tries < 30; tries++) {
    watch_state(unit, epoch, seq);
    Mediation__V1__DeskWatchReply *r = watch_now(unit, *epoch, *seq, 700);
    bool quiet = !r->reset && r->seq == *seq;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (quiet)
      return;
  }
  fail_msg("%s never went quiet", unit);
}

/* One watch in flight, completed on an nng thread. */
typedef struct pending {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  mc_code code;
  char message[256];
  Mediation__V1__DeskWatchReply *reply; /* owned once done with OK */
  int64_t done_mono;
} pending;

static void pending_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  pending *p = arg;
  pthread_mutex_lock(&p->mu);
  p->done = true;
  p->code = code;
  snprintf(p->message, sizeof(p->message), "%s", message);
  p->reply = (Mediation__V1__DeskWatchReply *)reply;
  p->done_mono = mc_mono_ms();
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static void pending_init(pending *p) {
  memset(p, 0, sizeof(*p));
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
}

static void pending_free(pending *p) {
  if (p->reply != NULL)
    protobuf_c_message_free_unpacked(&p->reply->base, NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
}

/* Starts a watch on client c (the world's operator client of unit if c is
 * NULL). */
static void watch_async(rpc_client *c, const char *unit, uint64_t epoch, uint64_t after,
                        uint32_t wait_ms, pending *p) {
  if (c == NULL) {
    const mc_unit *u = mc_registry_unit(ts_world.reg, unit);
    char op[96];
    snprintf(op, sizeof(op), "%s-operator", unit);
    c = tw_client(&ts_world, op, u->endpoint);
    assert_non_null(c);
  }
  Mediation__V1__DeskWatchRequest req = MEDIATION__V1__DESK_WATCH_REQUEST__INIT;
  req.epoch = epoch;
  req.after = after;
  req.wait_ms = wait_ms;
  rpc_call_opts opts = {.timeout_ms = (int64_t)wait_ms + 10000};
  mc_err err;
  mc_code rc = rpc_client_call_async(c, &mediation__v1__desk__descriptor, "Watch", &req.base,
                                     &opts, pending_done, p, &err);
  if (rc != MC_OK)
    fail_msg("starting a watch at %s: %s", unit, err.msg);
}

/* Waits up to ms for p to complete; true if it did. */
static bool pending_wait(pending *p, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  while (!p->done && pthread_cond_timedwait(&p->cv, &p->mu, &ts) == 0) {
  }
  bool done = p->done;
  pthread_mutex_unlock(&p->mu);
  return done;
}

static bool has_case(const Mediation__V1__DeskWatchReply *r, const char *id) {
  for (size_t i = 0; i < r->n_case_ids; i++) {
    if (strcmp(r->case_ids[i], id) == 0)
      return true;
  }
  return false;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- Tests ------------------------------------------------------------------------ */

/* A desk's first watch (epoch 0), a wrong epoch and an `after` ahead of
 * the unit: each answered at once with reset, whatever the wait asked. */
static void test_reset_at_once(void **state) {
  (void)state;
  int64_t t0 = mc_mono_ms();
  Mediation__V1__DeskWatchReply *r = watch_now(MARRIAGE, 0, 0, 20000);
  assert_true(mc_mono_ms() - t0 < 2000);
  assert_true(r->reset);
  assert_true(r->epoch != 0);
  uint64_t epoch = r->epoch, seq = r->seq;
  protobuf_c_message_free_unpacked(&r->base, NULL);

  t0 = mc_mono_ms();
  r = watch_now(MARRIAGE, epoch + 1, seq, 20000);
  assert_true(mc_mono_ms() - t0 < 2000);
  assert_true(r->reset);
  assert_true(r->epoch == epoch);
  assert_true(r->seq >= seq);
  protobuf_c_message_free_unpacked(&r->base, NULL);

  r = watch_now(MARRIAGE, epoch, seq + 5000, 20000);
  assert_true(r->reset);
  protobuf_c_message_free_unpacked(&r->base, NULL);

  /* Each daemon draws its own epoch. */
  r = watch_now(POLICE, 0, 0, 0);
  assert_true(r->reset);
  assert_true(r->epoch != epoch);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Nothing changes: the watch is answered after about wait_ms, seq as it
 * was, nothing listed. */
static void test_runs_out(void **state) {
  (void)state;
  uint64_t epoch, seq;
  quiet_state(MARRIAGE, &epoch, &seq);
  int64_t t0 = mc_mono_ms();
  Mediation__V1__DeskWatchReply *r = watch_now(MARRIAGE, epoch, seq, 800);
  int64_t took = mc_mono_ms() - t0;
  assert_true(took >= 700);
  assert_true(took < 3000);
  assert_false(r->reset);
  assert_true(r->epoch == epoch);
  assert_true(r->seq == seq);
  assert_false(r->inbox_changed);
  assert_int_equal(r->n_case_ids, 0);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The police studio takes in a family dispute and its policy refers it to
 * the marriage studio: the marriage studio's waiting watch wakes with its
 * inbox changed and the case. */
static void test_wakes_on_offer(void **state) {
  (void)state;
  uint64_t epoch, seq;
  watch_state(MARRIAGE, &epoch, &seq);
  pending p;
  pending_init(&p);
  watch_async(NULL, MARRIAGE, epoch, seq, 30000, &p);
  sleep_ms(300);
  assert_false(pending_wait(&p, 0)); /* it waits */

  ts_intake t;
  ts_intake_init(&t, MV_KIND(RELATIONSHIP), "kongque", 2, 0);
  t.in.source = MV_SOURCE(POLICE_CALL);
  Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
  assert_non_null(r->case_record);
  snprintf(case_id, sizeof(case_id), "%s", r->case_record->id);
  assert_int_equal(r->n_steps, 2);
  assert_int_equal(r->steps[1]->action->kind, MV_ACTION(TRANSFER));
  protobuf_c_message_free_unpacked(&r->base, NULL);

  assert_true(pending_wait(&p, 15000));
  if (p.code != MC_OK)
    fail_msg("the watch failed: %s: %s", mc_code_name(p.code), p.message);
  assert_false(p.reply->reset);
  assert_true(p.reply->epoch == epoch);
  assert_true(p.reply->seq > seq);
  assert_true(p.reply->inbox_changed);
  assert_true(has_case(p.reply, case_id));
  pending_free(&p);
}

/* The marriage studio accepts: its own step wakes its watch (the case, and
 * the inbox: the offer is gone from it). */
static void test_wakes_on_local_step(void **state) {
  (void)state;
  assert_true(case_id[0] != '\0');
  /* The offer is there to accept (the watch above may have woken on the
   * delivery before its copy was in the inbox listing). */
  Mediation__V1__DeskListReply *l = ts_wait_local(MARRIAGE, true, case_id, NULL, NULL, 15000, NULL);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  uint64_t epoch, seq;
  quiet_state(MARRIAGE, &epoch, &seq);
  pending p;
  pending_init(&p);
  watch_async(NULL, MARRIAGE, epoch, seq, 30000, &p);
  sleep_ms(200);
  assert_false(pending_wait(&p, 0));

  Mediation__V1__DeskReply *r = ts_act_simple(MARRIAGE, case_id, MV_ACTION(ACCEPT), NULL);
  assert_true(r->n_steps >= 1);
  assert_int_equal(r->steps[0]->action->kind, MV_ACTION(ACCEPT));
  protobuf_c_message_free_unpacked(&r->base, NULL);

  assert_true(pending_wait(&p, 10000));
  if (p.code != MC_OK)
    fail_msg("the watch failed: %s: %s", mc_code_name(p.code), p.message);
  assert_false(p.reply->reset);
  assert_true(p.reply->seq > seq);
  assert_true(p.reply->inbox_changed);
  assert_true(has_case(p.reply, case_id));
  uint64_t woke_at = p.reply->seq;
  pending_free(&p);

  /* Watching on from there lists only what came after. */
  Mediation__V1__DeskWatchReply *w = watch_now(MARRIAGE, epoch, woke_at, 500);
  assert_false(w->reset);
  assert_true(w->seq >= woke_at);
  protobuf_c_message_free_unpacked(&w->base, NULL);
}

/* Fifty watches wait at once: the desk's other calls still answer at once
 * (each watch holds a server context, not a thread, and the server has
 * contexts to spare), and one change wakes them all. */
static void test_many_do_not_starve(void **state) {
  (void)state;
  /* Let the accept above settle (forwarded, deliveries stored). */
  ts_wait_outbox_empty(MARRIAGE, 15000);
  uint64_t epoch, seq;
  quiet_state(MARRIAGE, &epoch, &seq);
  pending *ps = calloc(MANY, sizeof(*ps));
  assert_non_null(ps);
  for (int i = 0; i < MANY; i++) {
    pending_init(&ps[i]);
    watch_async(watcher, MARRIAGE, epoch, seq, 30000, &ps[i]);
  }
  sleep_ms(500);
  int early = 0;
  for (int i = 0; i < MANY; i++)
    early += pending_wait(&ps[i], 0) ? 1 : 0;
  assert_int_equal(early, 0);

  for (int k = 0; k < 3; k++) {
    int64_t t0 = mc_mono_ms();
    Mediation__V1__DeskShowRequest req = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
    req.case_ref = case_id;
    ProtobufCMessage *reply = NULL;
    mc_err err;
    mc_code rc = ts_desk_call(MARRIAGE, "ShowCase", &req.base, &reply, &err);
    int64_t took = mc_mono_ms() - t0;
    if (rc != MC_OK)
      fail_msg("ShowCase beside %d watches: %s: %s", MANY, mc_code_name(rc), err.msg);
    protobuf_c_message_free_unpacked(reply, NULL);
    if (took > 1000)
      fail_msg("ShowCase beside %d watches took %lld ms", MANY, (long long)took);
    Mediation__V1__DeskInboxRequest ireq = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
    assert_int_equal(ts_desk_call(MARRIAGE, "Inbox", &ireq.base, &reply, &err), MC_OK);
    protobuf_c_message_free_unpacked(reply, NULL);
  }

  /* One step wakes every watch. */
  Mediation__V1__DeskReply *r =
      ts_act_simple(MARRIAGE, case_id, MV_ACTION(START_MEDIATION), NULL);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  for (int i = 0; i < MANY; i++) {
    if (!pending_wait(&ps[i], 10000))
      fail_msg("watch %d of %d did not wake", i, MANY);
    if (ps[i].code != MC_OK)
      fail_msg("watch %d: %s: %s", i, mc_code_name(ps[i].code), ps[i].message);
    assert_true(ps[i].reply->seq > seq);
    assert_true(has_case(ps[i].reply, case_id));
    pending_free(&ps[i]);
  }
  free(ps);
}

/* ShowCase names the reader: the unit passes the person on to the router,
 * whose access log then holds the unit and the person. A person that is not
 * clean text is refused at the Desk. */
static void test_show_records_reader(void **state) {
  (void)state;
  Mediation__V1__DeskShowRequest req = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
  req.case_ref = case_id;
  req.person = "周晓梅";
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = ts_desk_call(MARRIAGE, "ShowCase", &req.base, &reply, &err);
  if (rc != MC_OK)
    fail_msg("ShowCase with a person: %s: %s", mc_code_name(rc), err.msg);
  assert_false(((Mediation__V1__DeskShowReply *)reply)->stale);
  protobuf_c_message_free_unpacked(reply, NULL);

  req.person = "周\x07晓梅";
  reply = NULL;
  rc = ts_desk_call(MARRIAGE, "ShowCase", &req.base, &reply, &err);
  assert_int_equal(rc, MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "person"));

  rpc_client *coord = tw_client(&ts_world, "coordinator", NULL);
  assert_non_null(coord);
  Mediation__V1__ListAccessRequest lreq = MEDIATION__V1__LIST_ACCESS_REQUEST__INIT;
  lreq.case_id = case_id;
  lreq.who = MARRIAGE;
  bool found = false;
  for (int tries = 0; tries < 100 && !found; tries++) {
    reply = NULL;
    rc = rpc_client_call(coord, &mediation__v1__router_admin__descriptor, "ListAccess",
                         &lreq.base, NULL, &reply, &err);
    if (rc != MC_OK)
      fail_msg("ListAccess: %s: %s", mc_code_name(rc), err.msg);
    const Mediation__V1__ListAccessReply *l = (const Mediation__V1__ListAccessReply *)reply;
    for (size_t i = 0; i < l->n_records; i++) {
      const Mediation__V1__AccessRecord *a = l->records[i];
      found |= a->who != NULL && strcmp(a->who->id, MARRIAGE) == 0 &&
               strcmp(a->who->person, "周晓梅") == 0;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    if (!found)
      sleep_ms(50);
  }
  assert_true(found);
}

/* A daemon that stops ends its waiting watches at once (UNAVAILABLE): its
 * stop is not held for the server's grace, nor the watch for its wait. */
static void test_ends_on_stop(void **state) {
  (void)state;
  uint64_t epoch, seq;
  quiet_state(POLICE, &epoch, &seq);
  pending p;
  pending_init(&p);
  watch_async(NULL, POLICE, epoch, seq, 40000, &p);
  sleep_ms(300);
  assert_false(pending_wait(&p, 0));
  int64_t t0 = mc_mono_ms();
  assert_int_equal(tw_stop_unit(&ts_world, POLICE), 0);
  int64_t stop_took = mc_mono_ms() - t0;
  assert_true(pending_wait(&p, 3000));
  assert_true(p.code != MC_OK);
  assert_true(p.done_mono - t0 < 3000);
  if (stop_took >= 4000)
    fail_msg("the police studio took %lld ms to stop with a watch waiting",
             (long long)stop_took);
  pending_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reset_at_once),      cmocka_unit_test(test_runs_out),
      cmocka_unit_test(test_wakes_on_offer),     cmocka_unit_test(test_wakes_on_local_step),
      cmocka_unit_test(test_many_do_not_starve), cmocka_unit_test(test_show_records_reader),
      cmocka_unit_test(test_ends_on_stop),
  };
  return cmocka_run_group_tests_name("Desk/Watch through the unit daemons", tests, setup,
                                     teardown);
}
