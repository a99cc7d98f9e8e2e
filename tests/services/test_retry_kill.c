/*
 * test_retry_kill.c - the request id an operator's client sends to its
 * unit's Desk is the identity of the steps, through SIGKILLs of the unit
 * daemon (issue 13.1).
 *
 * Four clients work at a community station at once, as mediactl does: each
 * takes cases in (the station's policy adds an automatic assign of a
 * mediator to each), starts mediation and records a session, and retries
 * every call that got no answer with the SAME request id until it gets one.
 * Meanwhile the station is SIGKILLed at random moments, at least 30 times,
 * and started again. Then a checker reads every case file back from the
 * router: every step acknowledged (applied or queued) is there exactly once,
 * every step reported refused is absent. It prints the figures: crashes,
 * steps, lost, duplicated, false refusals.
 *
 * Before the fix the Desk gave every call fresh step ids, so a retry after a
 * crash was planned again: a second case (and a second assign) for a
 * take-in, a second session, or a step refused because the local copy
 * already had it.
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

#include "core/clock.h"
#include "desk.h"

#define STATION "station-wangai"
#define CLIENTS 4
#define MAX_CASES 120        /* per client: bounds the work (one ListCases page holds all) */
#define KILLS 32             /* at least 30 */
#define CALL_TIMEOUT_MS 4000 /* a Desk answers within 2.5 s, QUEUED at worst */
#define CALL_GIVE_UP_MS 30000 /* one call, retried: no answer this long fails the test */
#define RUN_LIMIT_MS 70000   /* the whole kill loop */
/* Under a wrapper (valgrind) a daemon starts in seconds and a client needs
 * a while to connect and open its session: lives and patience are longer,
 * or the clients would starve between kills. */
static int slow = 1;
#define A(x) MV_ACTION(x)

static const ts_daemon daemons[] = {{"community-station", STATION}};

/* What a client was told about one step. */
typedef enum told { T_NONE, T_ACKED, T_REFUSED } told;

enum { S_TAKE_IN, S_ASSIGN, S_START, S_SESSION, S_COUNT };
static const mv_action_kind step_kinds[S_COUNT] = {A(TAKE_IN), A(ASSIGN), A(START_MEDIATION),
                                                   A(RECORD_SESSION)};

typedef struct tcase {
  int64_t money_fen; /* names the case at the router */
  told steps[S_COUNT];
} tcase;

typedef struct client {
  int index;
  rpc_client *rpc;
  tcase cases[MAX_CASES];
  int n_cases;
  int retried_calls; /* calls that needed the same id more than once */
  char failure[400];
} client;

static client clients[CLIENTS];
static atomic_bool stop_work;
static atomic_int in_flight; /* Desk calls under way (counted at each kill) */

static int setup(void **state) {
  (void)state;
  /* Each killed daemon leaves its long poll waiting at the router for up
   * to 20 s on one request context: room for all of them. */
  return ts_start("retrykill", "[router]\ncontexts = 512\n", daemons, 1);
}

static int teardown(void **state) {
  (void)state;
  return ts_stop();
}

static void free_msg(void *m) {
  if (m != NULL)
    protobuf_c_message_free_unpacked(m, NULL);
}

/* One Desk call, sent again with the same request id until a Desk answers
 * it. NULL (and c->failure set) if none does within CALL_GIVE_UP_MS. */
static Mediation__V1__DeskReply *call_until_answered(client *c, const char *method,
                                                     const ProtobufCMessage *req) {
  uint8_t id[RPC_REQUEST_ID_BYTES];
  rpc_request_id_new(id);
  int64_t until = mc_mono_ms() + (int64_t)CALL_GIVE_UP_MS * slow;
  for (int attempt = 0;; attempt++) {
    rpc_call_opts opts = {.timeout_ms = CALL_TIMEOUT_MS, .request_id = id};
    ProtobufCMessage *reply = NULL;
    mc_err err;
    /* The client itself also resends the same bytes when its connection
     * comes back (nng's REQ), as mediactl's does. */
    atomic_fetch_add(&in_flight, 1);
    mc_code rc = rpc_client_call(c->rpc, &mediation__v1__desk__descriptor, method, req, &opts,
                                 &reply, &err);
    atomic_fetch_sub(&in_flight, 1);
    if (rc == MC_OK) {
      c->retried_calls += attempt > 0;
      return (Mediation__V1__DeskReply *)reply;
    }
    bool transient = rc == MC_UNAVAILABLE || rc == MC_DEADLINE_EXCEEDED || rc == MC_CANCELLED;
    if (!transient || mc_mono_ms() > until) {
      snprintf(c->failure, sizeof(c->failure), "%s: %s: %.300s", method, mc_code_name(rc), err.msg);
      return NULL;
    }
    struct timespec pause = {0, 30 * 1000000L};
    nanosleep(&pause, NULL);
  }
}

static told told_of(const Mediation__V1__DeskStep *s) {
  return s->disposition == MV_DISPOSITION(REFUSED) ? T_REFUSED : T_ACKED;
}

static void *client_main(void *arg) {
  client *c = arg;
  for (int i = 0; i < MAX_CASES && !atomic_load(&stop_work); i++) {
    tcase *k = &c->cases[c->n_cases++];
    k->money_fen = (int64_t)(c->index + 1) * 1000000 + i;
    ts_intake t;
    ts_intake_init(&t, MV_KIND(NEIGHBOUR), "wangai", 2, k->money_fen);
    Mediation__V1__DeskTakeInRequest req = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
    req.intake = &t.in;
    req.person = "值班员";
    Mediation__V1__DeskReply *r = call_until_answered(c, "TakeIn", &req.base);
    if (r == NULL)
      return NULL;
    char ref[64] = "";
    for (size_t s = 0; s < r->n_steps; s++) {
      mv_action_kind kind = r->steps[s]->action->kind;
      if (kind == A(TAKE_IN))
        k->steps[S_TAKE_IN] = told_of(r->steps[s]);
      else if (kind == A(ASSIGN))
        k->steps[S_ASSIGN] = told_of(r->steps[s]);
    }
    if (r->case_record != NULL && r->case_record->intake != NULL)
      snprintf(ref, sizeof(ref), "%s", r->case_record->intake->unit_ref);
    free_msg(r);
    if (k->steps[S_TAKE_IN] != T_ACKED || ref[0] == '\0')
      continue;

    for (int s = S_START; s <= S_SESSION; s++) {
      mv_action a;
      ts_action(&a, step_kinds[s], ref, NULL);
      Mediation__V1__Session session = MEDIATION__V1__SESSION__INIT;
      if (s == S_SESSION) {
        session.held_ms = mc_now_ms();
        a.args_case = MV_ARGS(SESSION);
        a.session = &session;
      }
      Mediation__V1__DeskActRequest act = MEDIATION__V1__DESK_ACT_REQUEST__INIT;
      act.action = &a;
      r = call_until_answered(c, "Act", &act.base);
      if (r == NULL)
        return NULL;
      if (r->n_steps > 0)
        k->steps[s] = told_of(r->steps[0]);
      free_msg(r);
    }
  }
  return NULL;
}

/* Every case the station holds at the router, with its file. */
static Mediation__V1__ListCasesReply *router_cases(void) {
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.holder = STATION;
  req.page_size = 500;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(tw_client(&ts_world, "coordinator", NULL),
                               &mediation__v1__router__descriptor, "ListCases", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("ListCases: %s", err.msg);
  Mediation__V1__ListCasesReply *l = (Mediation__V1__ListCasesReply *)reply;
  assert_string_equal(l->next_cursor, ""); /* one page holds them all */
  return l;
}

static void test_retries_through_sigkills_apply_once(void **state) {
  (void)state;
  const mc_unit *st = mc_registry_unit(ts_world.reg, STATION);
  assert_non_null(st);
  char op[96];
  snprintf(op, sizeof(op), "%s-operator", STATION);
  rpc_client *rpc = tw_client(&ts_world, op, st->endpoint);
  assert_non_null(rpc);
  unsigned seed = (unsigned)mc_now_ms();
  const char *wrapper = getenv("MEDIATION_TEST_WRAPPER");
  slow = wrapper != NULL && wrapper[0] != '\0' ? 4 : 1;
  fprintf(stderr, "seed %u%s\n", seed, slow > 1 ? ", under a wrapper: lives 4x longer" : "");

  pthread_t threads[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    clients[i] = (client){.index = i, .rpc = rpc};
    assert_int_equal(pthread_create(&threads[i], NULL, client_main, &clients[i]), 0);
  }
  /* Kill at a random moment 50-400 ms into each life, start again. */
  int kills = 0, hit = 0;
  int64_t until = mc_mono_ms() + (int64_t)RUN_LIMIT_MS * slow;
  while (kills < KILLS && mc_mono_ms() < until) {
    long life_ms = (long)(50 + rand_r(&seed) % 350) * slow;
    struct timespec life = {life_ms / 1000, (life_ms % 1000) * 1000000L};
    nanosleep(&life, NULL);
    hit += atomic_load(&in_flight);
    th_kill(tw_unit_proc(&ts_world, STATION));
    kills++;
    assert_int_equal(tw_start_unit(&ts_world, "community-station", STATION), 0);
  }
  atomic_store(&stop_work, true);
  for (int i = 0; i < CLIENTS; i++)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < CLIENTS; i++) {
    if (clients[i].failure[0] != '\0')
      fail_msg("client %d: %s", i, clients[i].failure);
  }
  ts_wait_outbox_empty(STATION, 30000);
  Mediation__V1__DeskConflictsReply *conf = ts_conflicts(STATION);
  size_t conflicts = conf->n_conflicts;
  free_msg(conf);

  /* The station says in its log when it answered a retry from its record. */
  int replays = 0;
  char *log = th_read_file(tw_unit_proc(&ts_world, STATION)->log_path);
  for (const char *p = log; p != NULL && (p = strstr(p, "a retry of a Desk call")) != NULL; p++)
    replays++;
  free(log);

  /* The checker: every case file, from the router. */
  Mediation__V1__ListCasesReply *l = router_cases();
  int steps = 0, lost = 0, duplicated = 0, false_refusals = 0, refused = 0, retried = 0;
  int cases = 0;
  bool *claimed = calloc(l->n_cases ? l->n_cases : 1, sizeof(*claimed));
  assert_non_null(claimed);
  for (int ci = 0; ci < CLIENTS; ci++) {
    retried += clients[ci].retried_calls;
    for (int i = 0; i < clients[ci].n_cases; i++) {
      const tcase *k = &clients[ci].cases[i];
      cases++;
      int found = 0;
      const Mediation__V1__CaseSummary *one = NULL;
      for (size_t j = 0; j < l->n_cases; j++) {
        if (l->cases[j]->money_fen == k->money_fen) {
          found++;
          one = l->cases[j];
          claimed[j] = true;
        }
      }
      int counts[S_COUNT] = {0};
      if (one != NULL) {
        Mediation__V1__GetCaseReply *g = ts_router_case(one->id, true);
        for (size_t e = 0; e < g->n_events; e++) {
          for (int s = 0; s < S_COUNT; s++)
            counts[s] += g->events[e]->action != NULL &&
                         g->events[e]->action->kind == step_kinds[s];
        }
        free_msg(g);
      }
      if (found > 1)
        duplicated += found - 1;
      for (int s = 0; s < S_COUNT; s++) {
        int n = s == S_TAKE_IN ? found : counts[s];
        if (k->steps[s] == T_ACKED) {
          steps++;
          lost += n == 0;
          if (s != S_TAKE_IN && n > 1)
            duplicated += n - 1;
        } else if (k->steps[s] == T_REFUSED) {
          refused++;
          false_refusals += n > 0;
        } else if (n > 0) {
          duplicated += n; /* applied, though never asked for (or never told) */
        }
      }
    }
  }
  for (size_t j = 0; j < l->n_cases; j++) /* a case nobody took in (but the test above) */
    duplicated += !claimed[j] && l->cases[j]->money_fen < 9000000;
  free(claimed);
  free_msg(l);
  fprintf(stderr,
          "crashes %d (SIGKILL), clients %d, cases %d, steps acknowledged %d, calls in flight "
          "at a kill %d, calls failed and sent again with the same id %d, retries answered from "
          "the record %d, refused %d; lost %d, duplicated %d, false refusals %d, conflicts %zu\n",
          kills, CLIENTS, cases, steps, hit, retried, replays, refused, lost, duplicated,
          false_refusals, conflicts);
  assert_true(kills >= 30);
  assert_true(replays > 0); /* the kills did land in the middle of calls */
  assert_int_equal(lost, 0);
  assert_int_equal(duplicated, 0);
  assert_int_equal(false_refusals, 0);
  assert_int_equal(refused, 0);
  assert_int_equal(conflicts, 0);
}

/* The plain case, without a crash: the same request id twice is one call;
 * the same id with another request is refused. */
static void test_same_id_is_one_call(void **state) {
  (void)state;
  const mc_unit *st = mc_registry_unit(ts_world.reg, STATION);
  char op[96];
  snprintf(op, sizeof(op), "%s-operator", STATION);
  rpc_client *rpc = tw_client(&ts_world, op, st->endpoint);
  assert_non_null(rpc);
  uint8_t id[RPC_REQUEST_ID_BYTES];
  rpc_request_id_new(id);
  rpc_call_opts opts = {.timeout_ms = CALL_TIMEOUT_MS, .request_id = id};
  ts_intake t;
  ts_intake_init(&t, MV_KIND(NEIGHBOUR), "wangai", 2, 9000001);
  Mediation__V1__DeskTakeInRequest req = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
  req.intake = &t.in;
  req.person = "值班员";
  char first_id[32] = "";
  for (int round = 0; round < 2; round++) {
    ProtobufCMessage *reply = NULL;
    mc_err err;
    assert_int_equal(rpc_client_call(rpc, &mediation__v1__desk__descriptor, "TakeIn", &req.base,
                                     &opts, &reply, &err),
                     MC_OK);
    Mediation__V1__DeskReply *r = (Mediation__V1__DeskReply *)reply;
    ts_expect_steps(r, (ts_step[]){{A(TAKE_IN), MV_DISPOSITION(APPLIED)},
                                   {A(ASSIGN), MV_DISPOSITION(APPLIED)}},
                    2);
    assert_non_null(r->case_record);
    if (round == 0)
      snprintf(first_id, sizeof(first_id), "%s", r->case_record->id);
    else
      assert_string_equal(r->case_record->id, first_id);
    free_msg(r);
  }
  static const mv_action_kind file[] = {A(TAKE_IN), A(ASSIGN)};
  free_msg(ts_expect_file(first_id, file, 2, NULL, 0, 1));
  Mediation__V1__ListCasesReply *l = router_cases();
  int found = 0;
  for (size_t j = 0; j < l->n_cases; j++)
    found += l->cases[j]->money_fen == 9000001;
  free_msg(l);
  assert_int_equal(found, 1);

  /* Another request under the same id. */
  mv_action a;
  ts_action(&a, A(START_MEDIATION), first_id, NULL);
  Mediation__V1__DeskActRequest act = MEDIATION__V1__DESK_ACT_REQUEST__INIT;
  act.action = &a;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(rpc, &mediation__v1__desk__descriptor, "Act", &act.base, &opts,
                                   &reply, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "request_id"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_id_is_one_call),
      cmocka_unit_test(test_retries_through_sigkills_apply_once),
  };
  return cmocka_run_group_tests_name("Desk retries through SIGKILLs of the unit", tests, setup,
                                     teardown);
}
