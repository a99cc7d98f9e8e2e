/*
 * test_alloc_router.c - the router's Apply when memory runs out: the real
 * router (rt_router_open, its writer and replier threads) in this process,
 * requests handed to its server with rpc_server_handle, and the step run
 * with its 1st, 2nd, ... allocation failing (fault.h). A failure must be
 * UNAVAILABLE (a unit keeps the step and sends it again), the case file
 * must not have moved, and the same request (same request id, as a unit
 * resends it) must then apply the step exactly once. At the end the store
 * verifies clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "fault.h"
#include "mv1.h"
#include "router/internal.h"
#include "router/router.h"
#include "storage/store.h"
#include "world.h"

static tw_world world;

typedef struct router_arg {
  rt_router *rt;
  uint8_t *req; /* the Apply, prepared with faults off */
  size_t req_len;
  uint8_t *reply;
  size_t reply_len;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  char id[MC_CASE_ID_MAX];
  uint32_t seq; /* the case's last event before the step */
  bool no_reply; /* rpc_server_handle built no reply at all */
} router_arg;

static int setup(void **state) {
  if (tw_make(&world, "allocfail", NULL, false) != 0)
    return -1;
  router_arg *a = calloc(1, sizeof(*a));
  mc_err err = {0};
  if (rt_router_open(world.reg, NULL, &a->rt, &err) != MC_OK)
    fail_msg("rt_router_open: %s", err.msg);
  *state = a;
  return 0;
}

static int teardown(void **state) {
  router_arg *a = *state;
  rt_router_free(a->rt);
  free(a->req);
  free(a);
  tw_destroy(&world);
  return 0;
}

/* A call to the router as principal, with faults off; the reply envelope
 * is the caller's. */
static Mediation__V1__ReplyEnvelope *call(router_arg *a, const char *principal,
                                          const char *method, const ProtobufCMessage *msg) {
  uint8_t *b = NULL, *out = NULL;
  size_t n = 0, len = 0;
  mc_err err = {0};
  if (rpc_request_encode(tw_key(&world, principal), "mediation.v1.Router", method, msg,
                         mc_now_ms() + 10000, NULL, 0, &b, &n, &err) != MC_OK ||
      rpc_server_handle(a->rt->server, b, n, &out, &len, &err) != MC_OK)
    fail_msg("%s: %s", method, err.msg);
  free(b);
  Mediation__V1__ReplyEnvelope *r = mediation__v1__reply_envelope__unpack(NULL, len, out);
  free(out);
  assert_non_null(r);
  if (r->code != MV_STATUS(OK))
    fail_msg("%s: %s", method, r->message);
  return r;
}

/* The case's last event seq, as the router reads it. */
static uint32_t case_seq(router_arg *a) {
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = a->id;
  Mediation__V1__ReplyEnvelope *r = call(a, "police-studio", "GetCase", &req.base);
  Mediation__V1__GetCaseReply *g =
      mediation__v1__get_case_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_non_null(g);
  uint32_t seq = g->case_record->event_count;
  mediation__v1__get_case_reply__free_unpacked(g, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  return seq;
}

/* A new case at the police studio, and the TRANSFER to be swept. */
static void prepare(void *arg) {
  router_arg *a = arg;
  mv_party party = MEDIATION__V1__PARTY__INIT;
  party.name = "某甲";
  party.role = MV_PARTY(APPLICANT);
  mv_party *parties[1] = {&party};
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = MV_KIND(NEIGHBOUR);
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(POLICE_CALL);
  in.community = "wangai";
  in.parties = parties;
  in.n_parties = 1;
  in.summary = "邻里噪音";
  mv_action take = MEDIATION__V1__CASE_ACTION__INIT;
  take.kind = MV_ACTION(TAKE_IN);
  take.args_case = MV_ARGS(INTAKE);
  take.intake = &in;
  take.person = "值班员";
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &take;
  Mediation__V1__ReplyEnvelope *r = call(a, "police-studio", "Apply", &req.base);
  Mediation__V1__ApplyReply *ar =
      mediation__v1__apply_reply__unpack(NULL, r->payload.len, r->payload.data);
  assert_non_null(ar);
  snprintf(a->id, sizeof(a->id), "%s", ar->case_record->id);
  a->seq = ar->case_record->event_count;
  mediation__v1__apply_reply__free_unpacked(ar, NULL);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);

  mv_action tr = MEDIATION__V1__CASE_ACTION__INIT;
  tr.kind = MV_ACTION(TRANSFER);
  tr.case_ref = a->id;
  tr.reason = "婚姻家庭纠纷";
  tr.args_case = MV_ARGS(TO_UNIT);
  tr.to_unit = "marriage-studio";
  req.action = &tr;
  rpc_request_id_new(a->rid);
  free(a->req);
  mc_err err = {0};
  assert_int_equal(rpc_request_encode(tw_key(&world, "police-studio"), "mediation.v1.Router",
                                      "Apply", &req.base, mc_now_ms() + 60000, a->rid, 0, &a->req,
                                      &a->req_len, &err),
                   MC_OK);
}

static mc_code apply_op(void *arg, mc_err *err) {
  router_arg *a = arg;
  mc_code rc = rpc_server_handle(a->rt->server, a->req, a->req_len, &a->reply, &a->reply_len, err);
  a->no_reply = rc != MC_OK;
  return rc;
}

static mc_code apply_outcome(void *arg, mc_err *err) {
  router_arg *a = arg;
  Mediation__V1__ReplyEnvelope *r =
      mediation__v1__reply_envelope__unpack(NULL, a->reply_len, a->reply);
  free(a->reply);
  a->reply = NULL;
  assert_non_null(r);
  mc_code code = (mc_code)r->code;
  if (code != MC_OK)
    mc_err_set(err, code, "%s", r->message);
  if (code == MC_RESOURCE_EXHAUSTED)
    fail_msg("Apply answered RESOURCE_EXHAUSTED for out of memory: \"%s\"", r->message);
  mediation__v1__reply_envelope__free_unpacked(r, NULL);
  return code;
}

/* A reply that could not be built at all is a reply lost on the way: the
 * step may have been applied, and the resent request is answered from the
 * idempotency store (apply_done checks it was applied once). */
static void apply_unchanged(void *arg) {
  router_arg *a = arg;
  if (a->no_reply)
    assert_in_range(case_seq(a), a->seq, a->seq + 1);
  else
    assert_int_equal(case_seq(a), a->seq);
}

static void apply_done(void *arg) {
  router_arg *a = arg;
  assert_int_equal(case_seq(a), a->seq + 1);
}

static void test_apply(void **state) {
  router_arg *a = *state;
  fault_op o = {.what = "an Apply (TRANSFER) through the router", .prepare = prepare,
                .op = apply_op, .outcome = apply_outcome, .unchanged = apply_unchanged,
                .done = apply_done, .allowed = {MC_UNAVAILABLE, MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, a, false) > 0);
  assert_true(fault_sweep(&o, a, true) > 0);
  /* The store as the sweep left it. */
  rt_router_free(a->rt);
  a->rt = NULL;
  st_options so = {.dir = world.reg->router.data_dir, .case_prefix = world.reg->case_prefix,
                   .utc_offset_minutes = world.reg->utc_offset_minutes};
  st_store *s = NULL;
  mc_err err = {0};
  assert_int_equal(st_open(&so, &s, &err), MC_OK);
  uint64_t problems = 0;
  assert_int_equal(st_verify(s, NULL, NULL, &problems, &err), MC_OK);
  assert_int_equal(problems, 0);
  st_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_apply, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
