/*
 * test_cluster_units.c - the real unit daemons under load while the leader
 * of a three-router cluster is SIGKILLed round after round (issue 19:
 * "unit daemons under load; SIGKILL the leader ... every acknowledged step
 * present exactly once, verify clean on every node, byte-identical case
 * files"; deliveries and long polls follow from the applied state).
 *
 * Three mediation-router processes on 127.0.0.1 ([cluster <id>], raft),
 * the police studio, the marriage studio and the community station of
 * wangai, each making its router client from the registry's list of
 * routers (rpc/client_route.c follows the leader). Two operator threads
 * take cases in through the Desks without pause: at the police studio
 * family disputes, which it hands to the marriage studio (TAKE_IN +
 * TRANSFER: an offer the marriage studio pulls and signs for), at the
 * station neighbour disputes it keeps (TAKE_IN + ASSIGN). Every TakeIn
 * the Desk answered OK (its steps applied, or queued in the unit's outbox
 * to be forwarded) is an acknowledged step.
 *
 * Rounds: the leader is killed (SIGKILL); RouterCluster/Status of the
 * others names a new leader within 3 s; the killed node is started again.
 * At the end, once every outbox is empty and every node has applied the
 * same log, read independently on each node (stale_ok ListCases/GetCase):
 *   - every acknowledged take-in is in the case files exactly once (its
 *     unit_ref maps to one case: tr_case_once), and the unit holds no case
 *     it did not acknowledge;
 *   - each police case carries the marriage studio's signed receipt
 *     exactly once, with delivery sequences all different: the studio's
 *     pull went on from its acknowledged sequence on each new leader,
 *     neither skipping an offer nor taking one twice; its Inbox holds each
 *     case once;
 *   - RouterAdmin/Verify is clean on every node, and every case file
 *     (record and events) is byte-identical on the three nodes.
 * MEDIATION_TEST_CLUSTER_ROUNDS overrides the 6 rounds.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "core/clock.h"
#include "desk.h"
#include "router_proc.h"

#define POLICE "police-studio"
#define MARRIAGE "marriage-studio"
#define STATION "station-wangai"
#define ROUNDS 6
#define MAX_CASES 480 /* per writer: one ListCases page (500) holds them all */
#define WAIT_MS 30000
#define A(x) MV_ACTION(x)

static const ts_daemon daemons[] = {
    {"police-studio", POLICE},
    {"marriage-studio", MARRIAGE},
    {"community-station", STATION},
};
#define N_DAEMONS (sizeof(daemons) / sizeof(daemons[0]))

/* cl.down: bit i while node i is killed by the test, not started yet. */
static tc_cluster cl = {.track_down = true};

/* Starts the deployment: the cluster's three nodes, then the units (their
 * router client is the registry's [cluster] list), and each operator's
 * Desk client, settled by one round trip (see ts_start). */
static int setup(void **state) {
  (void)state;
  if (tw_make(&ts_world, "clunits", NULL, true) != 0)
    return -1;
  const char *host[TC_NODES] = {"127.0.0.1", "127.0.0.1", "127.0.0.1"};
  if (tc_setup_conf(&cl, &ts_world, "tcp", host, host) != 0)
    return -1;
  for (int i = 0; i < TC_NODES; i++)
    if (tc_start_node(&cl, i) != 0)
      return -1;
  for (size_t i = 0; i < N_DAEMONS; i++)
    if (tw_start_unit(&ts_world, daemons[i].program, daemons[i].unit) != 0)
      return -1;
  for (size_t i = 0; i < N_DAEMONS; i++) {
    char op[96];
    snprintf(op, sizeof(op), "%s-operator", daemons[i].unit);
    const mc_unit *u = mc_registry_unit(ts_world.reg, daemons[i].unit);
    if (u == NULL || tw_client(&ts_world, op, u->endpoint) == NULL)
      return -1;
    Mediation__V1__DeskConflictsRequest req = MEDIATION__V1__DESK_CONFLICTS_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    mc_err err;
    if (ts_desk_call(daemons[i].unit, "Conflicts", &req.base, &reply, &err) != MC_OK) {
      fprintf(stderr, "%s does not answer: %s\n", daemons[i].unit, err.msg);
      return -1;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  return 0;
}

/* The units first (each must stop cleanly), then the nodes; no log may
 * hold the canary's personal data (ts_stop checks the units' logs). */
static int teardown(void **state) {
  (void)state;
  int bad = 0;
  for (int i = 0; i < ts_world.n_units; i++) {
    if (th_running(&ts_world.units[i]) && th_stop(&ts_world.units[i], 20000) != 0) {
      fprintf(stderr, "%s did not stop cleanly on SIGTERM\n", ts_world.unit_ids[i]);
      bad = 1;
    }
  }
  for (int i = 0; i < TC_NODES; i++) {
    th_stop(&cl.nodes[i], 20000);
    char *text = th_read_file(cl.nodes[i].log_path);
    if (text != NULL && (strstr(text, TS_CANARY) || strstr(text, TS_PHONE) ||
                         strstr(text, TS_ID_PREFIX))) {
      fprintf(stderr, "personal data found in %s\n", cl.nodes[i].log_path);
      bad = 1;
    }
    free(text);
  }
  return ts_stop() != 0 || bad ? -1 : 0;
}

/* ---- The operators ---------------------------------------------------------- */

typedef struct writer {
  const char *unit;
  mv_kind kinds[3];
  const char *community;
  pthread_t thread;
  atomic_int acked; /* TakeIns answered OK */
  int queued; /* of them, answered with the steps queued (read after the join) */
  char refs[MAX_CASES][32];
  char failed[1024];
} writer;

static writer writers[2] = {
    {.unit = POLICE,
     .kinds = {MV_KIND(RELATIONSHIP), MV_KIND(DIVORCE), MV_KIND(CUSTODY)},
     .community = "baihe"},
    {.unit = STATION,
     .kinds = {MV_KIND(NEIGHBOUR), MV_KIND(NEIGHBOUR), MV_KIND(NEIGHBOUR)},
     .community = "wangai"},
};
static atomic_bool stop_writers;
static pthread_mutex_t intake_lock = PTHREAD_MUTEX_INITIALIZER; /* ts_intake_init's serial */

/* Takes cases in at w's Desk until told to stop or MAX_CASES: no cmocka
 * call here (not on the test's thread); a failure is written to failed. */
static void *writer_main(void *arg) {
  writer *w = arg;
  for (int n = 0; n < MAX_CASES && !atomic_load(&stop_writers); n++) {
    ts_intake t;
    pthread_mutex_lock(&intake_lock);
    ts_intake_init(&t, w->kinds[n % 3], w->community, 2, 1000 + n);
    pthread_mutex_unlock(&intake_lock);
    Mediation__V1__DeskTakeInRequest req = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
    req.intake = &t.in;
    req.person = "值班员";
    ProtobufCMessage *reply = NULL;
    mc_err err;
    mc_code rc = ts_desk_call(w->unit, "TakeIn", &req.base, &reply, &err);
    if (rc != MC_OK) {
      snprintf(w->failed, sizeof(w->failed), "TakeIn %d at %s: %s: %.400s", n, w->unit,
               mc_code_name(rc), err.msg);
      break;
    }
    Mediation__V1__DeskReply *r = (Mediation__V1__DeskReply *)reply;
    bool queued = false, refused = false;
    for (size_t k = 0; k < r->n_steps; k++) {
      queued = queued || r->steps[k]->disposition == MV_DISPOSITION(QUEUED);
      refused = refused || r->steps[k]->disposition == MV_DISPOSITION(REFUSED);
    }
    if (refused || r->case_record == NULL || r->case_record->intake == NULL) {
      snprintf(w->failed, sizeof(w->failed), "TakeIn %d at %s: a step refused: %.400s", n, w->unit,
               r->n_steps ? r->steps[r->n_steps - 1]->message : "(no steps)");
      protobuf_c_message_free_unpacked(reply, NULL);
      break;
    }
    snprintf(w->refs[n], sizeof(w->refs[n]), "%s", r->case_record->intake->unit_ref);
    protobuf_c_message_free_unpacked(reply, NULL);
    w->queued += queued;
    w->acked = n + 1;
    tc_sleep_ms(25); /* about 6 rounds of load in MAX_CASES */
  }
  return NULL;
}

/* ---- What the nodes hold ------------------------------------------------------ */

/* On node i: w's unit holds exactly its acknowledged take-ins, each once;
 * the ids of the cases, in take-in order, in ids (for the police studio). */
static void expect_exactly_once(tc_conn *c, int i, const writer *w, char (*ids)[32]) {
  Mediation__V1__ListCasesReply *l = tc_list_cases(c, i, w->unit, 500);
  assert_false(l->total_at_least);
  if (l->total != (uint64_t)w->acked)
    fail_msg("node %d: %s holds %llu cases, %d were acknowledged", i + 1, w->unit,
             (unsigned long long)l->total, w->acked);
  for (int k = 0; k < w->acked; k++) {
    const Mediation__V1__CaseSummary *s = tr_case_once(l, w->refs[k]);
    if (ids != NULL)
      snprintf(ids[k], 32, "%s", s->id);
  }
  mediation__v1__list_cases_reply__free_unpacked(l, NULL);
}

/* The marriage studio's receipts in node 0's files of the police cases:
 * how many carry exactly one (waiting for the last to come in); every
 * delivery sequence different. */
static int receipts_in(tc_conn *c, char (*ids)[32], int n, bool final) {
  int signed_for = 0;
  uint64_t *seqs = calloc((size_t)n + 1, sizeof(uint64_t));
  assert_non_null(seqs);
  for (int k = 0; k < n; k++) {
    Mediation__V1__GetCaseReply *g = tc_get_case(c, 0, ids[k]);
    int mine = 0;
    for (size_t e = 0; e < g->n_events; e++) {
      const Mediation__V1__CaseAction *a = g->events[e]->action;
      if (a->kind == A(RECORD_RECEIPT) && a->receipt != NULL &&
          strcmp(a->receipt->unit, MARRIAGE) == 0) {
        mine++;
        seqs[k] = a->receipt->delivery_seq;
      }
    }
    mediation__v1__get_case_reply__free_unpacked(g, NULL);
    if (mine > 1)
      fail_msg("case %s holds %d receipts of the marriage studio", ids[k], mine);
    signed_for += mine;
  }
  if (final) {
    for (int k = 0; k < n; k++)
      for (int j = k + 1; j < n; j++)
        if (seqs[k] == seqs[j])
          fail_msg("cases %s and %s were signed for with one delivery sequence %llu", ids[k],
                   ids[j], (unsigned long long)seqs[k]);
  }
  free(seqs);
  return signed_for;
}

static void test_units_across_failovers(void **state) {
  (void)state;
  tc_conn c = {.cl = &cl};
  assert_true(tc_await_leader(&c, -1, 10000) >= 0);
  const char *env = getenv("MEDIATION_TEST_CLUSTER_ROUNDS");
  int rounds = env != NULL ? atoi(env) : ROUNDS;
  for (int k = 0; k < 2; k++)
    assert_int_equal(pthread_create(&writers[k].thread, NULL, writer_main, &writers[k]), 0);
  srand((unsigned)time(NULL));
  int64_t worst = 0;
  int at_kill[64 + 1] = {0}; /* take-ins acknowledged when round r's leader died */
  if (rounds < 1 || rounds > 64)
    fail_msg("MEDIATION_TEST_CLUSTER_ROUNDS=%s: expected 1..64", env);
  for (int round = 1; round <= rounds; round++) {
    tc_await_settled(&c, 30000);
    tc_sleep_ms(300 + rand() % 500); /* steps under way */
    int old = tc_find_leader(&c, -1);
    assert_true(old >= 0);
    atomic_fetch_or(&cl.down, 1 << old);
    at_kill[round - 1] = writers[0].acked + writers[1].acked;
    th_kill(&cl.nodes[old]);
    int64_t t_kill = mc_mono_ms();
    int next = tc_await_leader(&c, old, 3000);
    int64_t took = mc_mono_ms() - t_kill;
    if (next < 0)
      fail_msg("round %d: no node said it leads within 3 s of node %d's death", round, old + 1);
    worst = took > worst ? took : worst;
    assert_int_equal(tc_start_node(&cl, old), 0);
    atomic_fetch_and(&cl.down, ~(1 << old));
    printf("round %d: node %d killed, node %d leads after %lld ms; acknowledged so far: "
           "%d at the police studio, %d at the station\n",
           round, old + 1, next + 1, (long long)took, writers[0].acked, writers[1].acked);
    fflush(stdout);
  }
  atomic_store(&stop_writers, true);
  for (int k = 0; k < 2; k++) {
    pthread_join(writers[k].thread, NULL);
    if (writers[k].failed[0] != '\0')
      fail_msg("operator at %s: %s", writers[k].unit, writers[k].failed);
    assert_true(writers[k].acked > 0);
  }
  /* The units went on taking steps after every failover (the writers did
   * not run out of cases before the last round). */
  at_kill[rounds] = writers[0].acked + writers[1].acked;
  for (int r = 0; r < rounds; r++)
    if (at_kill[r + 1] <= at_kill[r])
      fail_msg("no step acknowledged between round %d's kill and the next", r + 1);
  tc_await_settled(&c, 30000);
  for (size_t i = 0; i < N_DAEMONS; i++)
    ts_wait_outbox_empty(daemons[i].unit, WAIT_MS);

  /* the marriage studio signs for every offer (its pull, on whichever
   * node leads now, goes on from its acknowledged sequence) */
  static char ids[MAX_CASES][32];
  expect_exactly_once(&c, tc_await_leader(&c, -1, 5000), &writers[0], ids);
  int police = writers[0].acked;
  int64_t until = mc_mono_ms() + WAIT_MS;
  int have;
  while ((have = receipts_in(&c, ids, police, false)) < police) {
    if (mc_mono_ms() > until)
      fail_msg("%d of %d offers to the marriage studio signed for after %d ms", have, police,
               WAIT_MS);
    tc_sleep_ms(200);
  }
  receipts_in(&c, ids, police, true);
  /* its Inbox holds each offer once */
  Mediation__V1__DeskInboxRequest ireq = MEDIATION__V1__DESK_INBOX_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(ts_desk_call(MARRIAGE, "Inbox", &ireq.base, &reply, &err), MC_OK);
  Mediation__V1__DeskListReply *inbox = (Mediation__V1__DeskListReply *)reply;
  for (int k = 0; k < police; k++) {
    int seen = 0;
    for (size_t j = 0; j < inbox->n_cases; j++)
      seen += strcmp(inbox->cases[j]->case_record->id, ids[k]) == 0;
    if (seen != 1)
      fail_msg("the marriage studio's inbox holds case %s %d times", ids[k], seen);
  }
  protobuf_c_message_free_unpacked(reply, NULL);

  /* every node: the same log, each acknowledged step once, clean */
  tc_await_same_applied(&c, 20000);
  for (int i = 0; i < TC_NODES; i++) {
    for (int k = 0; k < 2; k++)
      expect_exactly_once(&c, i, &writers[k], NULL);
    tc_expect_verify_clean(&c, i);
  }
  const char *holders[] = {POLICE, STATION};
  int compared = tc_expect_identical(&c, holders, 2);
  assert_int_equal(compared, writers[0].acked + writers[1].acked);
  printf("%d rounds, worst failover %lld ms, %d restarts on a snapshot; acknowledged: %d at "
         "the police studio (%d queued first), %d at the station (%d queued first); %d case "
         "files byte-identical on 3 nodes\n",
         rounds, (long long)worst, cl.restarts_75, writers[0].acked, writers[0].queued,
         writers[1].acked, writers[1].queued, compared);
  tc_conn_close(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_units_across_failovers, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
