/*
 * test_kill.c - a unit daemon killed with SIGKILL in the middle of
 * forwarding, again and again, loses nothing and duplicates nothing.
 *
 * The police studio queues 60 steps while the router is down (20 labour
 * disputes, which it keeps: taken in, mediation started, a session held).
 * The router comes back; each time the studio has forwarded some more, it
 * is killed and started again, until its outbox is empty. The router must
 * then hold each case exactly once, each with exactly its three steps: a
 * step the router applied just before a kill was resent after the restart
 * with its stored request id and answered from the router's record.
 */
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
#include "router_proc.h"

#define POLICE "police-studio"
#define CASES 20
#define WAIT_MS 30000
#define A(x) MV_ACTION(x)
#define QUEUED MV_DISPOSITION(QUEUED)

static const ts_daemon daemons[] = {{"police-studio", POLICE}};

static int setup(void **state) {
  (void)state;
  return ts_start("kill", NULL, daemons, 1);
}

static int teardown(void **state) {
  (void)state;
  return ts_stop();
}

static void free_msg(void *m) {
  if (m != NULL)
    protobuf_c_message_free_unpacked(m, NULL);
}

static uint64_t pending(void) {
  Mediation__V1__DeskConflictsReply *c = ts_conflicts(POLICE);
  uint64_t n = c->outbox_pending;
  assert_int_equal(c->n_conflicts, 0);
  free_msg(c);
  return n;
}

/* How far the studio's steps got at the router: a point for each case taken
 * in, one more for each in mediation. */
static int progress(void) {
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.holder = POLICE;
  req.page_size = 500;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(tw_client(&ts_world, "coordinator", NULL),
                               &mediation__v1__router__descriptor, "ListCases", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("ListCases: %s", err.msg);
  Mediation__V1__ListCasesReply *l = (Mediation__V1__ListCasesReply *)reply;
  int points = (int)l->n_cases;
  for (size_t i = 0; i < l->n_cases; i++)
    points += l->cases[i]->state == MV_STATE(MEDIATION);
  free_msg(reply);
  return points;
}

static void test_sigkill_while_forwarding(void **state) {
  (void)state;
  assert_int_equal(tw_stop_router(&ts_world), 0);
  char refs[CASES][32];
  for (int i = 0; i < CASES; i++) {
    ts_intake t;
    ts_intake_init(&t, MV_KIND(LABOUR), i % 2 ? "baihe" : "wangai", 2, 100000 + i);
    t.in.workers = (uint32_t)(i + 1);
    Mediation__V1__DeskReply *r = ts_take_in(POLICE, &t.in, NULL, NULL);
    ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), QUEUED}}, 1);
    snprintf(refs[i], sizeof(refs[i]), "%s", r->case_record->intake->unit_ref);
    free_msg(r);
    /* later steps name the case by the studio's own reference */
    r = ts_act_simple(POLICE, refs[i], MV_ACTION(START_MEDIATION), NULL);
    ts_expect_steps(r, (ts_step[]){{A(START_MEDIATION), QUEUED}}, 1);
    assert_int_equal(r->case_record->state, MV_STATE(MEDIATION));
    free_msg(r);
    mv_action a;
    ts_action(&a, MV_ACTION(RECORD_SESSION), refs[i], NULL);
    Mediation__V1__Session s = MEDIATION__V1__SESSION__INIT;
    s.held_ms = mc_now_ms();
    a.args_case = MV_ARGS(SESSION);
    a.session = &s;
    r = ts_act(POLICE, &a);
    ts_expect_steps(r, (ts_step[]){{A(RECORD_SESSION), QUEUED}}, 1);
    free_msg(r);
  }
  assert_int_equal(pending(), 3 * CASES);

  /* Forwarding runs at about a step per millisecond here. The studio is
   * killed before the router comes back, then started and killed a few
   * milliseconds later, again and again, so kills land in the middle; its
   * progress is watched from the router's side. */
  th_kill(tw_unit_proc(&ts_world, POLICE));
  assert_int_equal(tw_start_router(&ts_world, NULL), 0);
  int kills = 1, mid = 0;
  int done = progress();
  assert_int_equal(done, 0);
  /* At most 20 kills: each killed process leaves a long poll waiting at the
   * router (up to 20 s) on one of its 64 contexts. */
  /* A slow build (ASan) needs far longer to start forwarding: a kill that
   * found nothing forwarded waits twice as long next time. */
  int wait_ms = 2;
  while (done < 2 * CASES && kills < 20) {
    assert_int_equal(tw_start_unit(&ts_world, "police-studio", POLICE), 0);
    struct timespec ts = {0, (long)(wait_ms + kills % 4) * 1000000L};
    nanosleep(&ts, NULL);
    th_kill(tw_unit_proc(&ts_world, POLICE));
    kills++;
    int now = progress();
    mid += now > done && now < 2 * CASES; /* it had forwarded some, not all */
    if (now == done && wait_ms < 400)
      wait_ms *= 2;
    done = now;
  }
  assert_int_equal(tw_start_unit(&ts_world, "police-studio", POLICE), 0);
  ts_wait_outbox_empty(POLICE, WAIT_MS);
  fprintf(stderr, "killed the police studio %d times, %d of them with steps still queued\n",
          kills, mid);
  assert_true(mid >= 2);

  /* each case exactly once at the router, with exactly its three steps */
  Mediation__V1__ListCasesReply *l = tr_list_cases(&ts_world, POLICE, 500);
  assert_int_equal(l->n_cases, CASES);
  static const mv_action_kind file[] = {A(TAKE_IN), A(START_MEDIATION), A(RECORD_SESSION)};
  for (int i = 0; i < CASES; i++) {
    const Mediation__V1__CaseSummary *found = tr_case_once(l, refs[i]);
    assert_int_equal(found->state, MV_STATE(MEDIATION));
    assert_int_equal(found->money_fen, 100000 + i);
    Mediation__V1__GetCaseReply *g = ts_expect_file(found->id, file, 3, NULL, 0, 1);
    assert_int_equal(g->case_record->n_sessions, 1);
    assert_int_equal(g->case_record->intake->workers, (uint32_t)(i + 1));
    free_msg(g);
  }
  free_msg(l);
  /* and the studio's copies agree */
  ProtobufCMessage *reply = NULL;
  mc_err err;
  Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
  req.page_size = ts_world.reg->limits.page_size_max; /* one page holds them all */
  assert_int_equal(ts_desk_call(POLICE, "ListCases", &req.base, &reply, &err), MC_OK);
  Mediation__V1__DeskListReply *mine = (Mediation__V1__DeskListReply *)reply;
  assert_int_equal(mine->n_cases, CASES);
  for (size_t k = 0; k < mine->n_cases; k++) {
    assert_false(mine->cases[k]->stale);
    assert_int_equal(mine->cases[k]->case_record->event_count, 3);
    assert_int_equal(mine->cases[k]->case_record->state, MV_STATE(MEDIATION));
  }
  free_msg(reply);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigkill_while_forwarding),
  };
  return cmocka_run_group_tests_name("a unit killed while forwarding", tests, setup, teardown);
}
