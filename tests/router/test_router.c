/*
 * test_router.c - a real mediation-router process, driven as units and
 * coordinators drive it: every method's success and refusal paths, access
 * control and masking, deliveries with signed receipts and redelivery, long
 * polls, idempotent retries, lists, what is stuck, figures, backups.
 *
 * The router runs on ipc:// by default; `test_router --tcp` runs the same
 * tests over tcp://127.0.0.1 (registered as test_router_tcp).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "mv1.h"
#include "router/methods.h"
#include "storage/store.h"
#include "world.h"

#define CANARY "金丝雀甲乙丙" /* a party name that must never reach a log */

static bool use_tcp;
static tw_world world;

/* ---- helpers --------------------------------------------------------- */

static rpc_client *as(const char *principal) {
  rpc_client *c = tw_client(&world, principal, NULL);
  assert_non_null(c);
  return c;
}

static mc_code call(const char *principal, const ProtobufCServiceDescriptor *svc,
                    const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply,
                    mc_err *err) {
  return rpc_client_call(as(principal), svc, method, req, NULL, reply, err);
}

typedef struct party_set {
  mv_party parties[2];
  mv_party *ptrs[2];
} party_set;

static unsigned serial;

/* An intake in a community, with an ID number and a phone to be masked. */
static void make_intake(mv_intake *in, party_set *ps, mv_kind kind, const char *community) {
  static char refs[64][32];
  mediation__v1__intake__init(in);
  for (int i = 0; i < 2; i++) {
    mediation__v1__party__init(&ps->parties[i]);
    ps->ptrs[i] = &ps->parties[i];
  }
  ps->parties[0].name = CANARY;
  ps->parties[0].role = MV_PARTY(APPLICANT);
  ps->parties[0].id_number = "330212199001011232";
  ps->parties[0].phone = "13800001234";
  ps->parties[1].name = "某乙";
  ps->parties[1].role = MV_PARTY(RESPONDENT);
  in->kind = kind;
  in->difficulty = MV_DIFFICULTY(ORDINARY);
  in->source = MV_SOURCE(POLICE_CALL);
  in->community = (char *)community;
  in->parties = ps->ptrs;
  in->n_parties = 2;
  in->money_fen = 123456;
  in->summary = "争吵后推搡";
  char *ref = refs[serial++ % 64];
  snprintf(ref, 32, "T-%d-%u", (int)getpid(), serial);
  in->unit_ref = ref;
}

/* Apply as principal; returns the code, the reply in *out when OK. */
static mc_code apply(const char *principal, const mv_action *action,
                     Mediation__V1__ApplyReply **out, mc_err *err) {
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = (mv_action *)action;
  ProtobufCMessage *reply = NULL;
  mc_code rc = call(principal, &mediation__v1__router__descriptor, "Apply", &req.base, &reply, err);
  if (rc == MC_OK && out != NULL)
    *out = (Mediation__V1__ApplyReply *)reply;
  else if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* Takes a case in at unit and returns its id (static storage per call site
 * is the caller's: copies into id). */
static void take_in(const char *unit, mv_kind kind, const char *community, char *id) {
  mv_intake in;
  party_set ps;
  make_intake(&in, &ps, kind, community);
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  a.person = "值班员";
  Mediation__V1__ApplyReply *r = NULL;
  mc_err err;
  if (apply(unit, &a, &r, &err) != MC_OK)
    fail_msg("take in at %s: %s", unit, err.msg);
  assert_int_equal(r->case_record->state, MV_STATE(INTAKE));
  assert_string_equal(r->case_record->holder, unit);
  assert_int_equal(r->event->seq, 1);
  strcpy(id, r->case_record->id);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

static mc_code step(const char *principal, const char *id, mv_action_kind kind,
                    const char *reason, const char *to_unit, mc_err *err) {
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = kind;
  a.case_ref = (char *)id;
  a.reason = (char *)(reason ? reason : "");
  if (to_unit != NULL) {
    a.args_case = MV_ARGS(TO_UNIT);
    a.to_unit = (char *)to_unit;
  }
  return apply(principal, &a, NULL, err);
}

static void must(const char *principal, const char *id, mv_action_kind kind, const char *reason,
                 const char *to_unit) {
  mc_err err;
  mc_code rc = step(principal, id, kind, reason, to_unit, &err);
  if (rc != MC_OK)
    fail_msg("%s on %s by %s: %s: %s", mc_code_name(rc), id, principal, mc_code_name(err.code),
             err.msg);
}

static Mediation__V1__GetCaseReply *get_case(const char *principal, const char *id,
                                             bool timeline, mc_code *rc_out, mc_err *err) {
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = (char *)id;
  req.with_timeline = timeline;
  ProtobufCMessage *reply = NULL;
  mc_code rc = call(principal, &mediation__v1__router__descriptor, "GetCase", &req.base, &reply, err);
  if (rc_out)
    *rc_out = rc;
  return rc == MC_OK ? (Mediation__V1__GetCaseReply *)reply : NULL;
}

static Mediation__V1__PullDeliveriesReply *pull(const char *unit, uint32_t wait_ms) {
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  req.wait_ms = wait_ms;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  if (call(unit, &mediation__v1__router__descriptor, "PullDeliveries", &req.base, &reply, &err) !=
      MC_OK)
    fail_msg("pull as %s: %s", unit, err.msg);
  return (Mediation__V1__PullDeliveriesReply *)reply;
}

/* Acknowledges a delivery with a receipt signed by unit's key. */
static mc_code ack(const char *unit, const mv_delivery *d, Mediation__V1__AckDeliveriesReply **out,
                   mc_err *err) {
  mv_receipt r = MEDIATION__V1__RECEIPT__INIT;
  r.unit = (char *)unit;
  r.delivery_seq = d->seq;
  r.case_id = d->snapshot->id;
  r.event_seq = d->event->seq;
  r.received_ms = mc_now_ms();
  uint8_t sig[RPC_SIGNATURE_BYTES];
  assert_int_equal(rpc_sign_message(tw_key(&world, unit), &r.base, sig, err), MC_OK);
  r.signature.data = sig;
  r.signature.len = sizeof(sig);
  mv_receipt *rp = &r;
  Mediation__V1__AckDeliveriesRequest req = MEDIATION__V1__ACK_DELIVERIES_REQUEST__INIT;
  req.receipts = &rp;
  req.n_receipts = 1;
  ProtobufCMessage *reply = NULL;
  mc_code rc = call(unit, &mediation__v1__router__descriptor, "AckDeliveries", &req.base, &reply, err);
  if (rc == MC_OK && out)
    *out = (Mediation__V1__AckDeliveriesReply *)reply;
  else if (reply)
    protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* Pulls and acknowledges everything pending for unit. */
/* Acknowledges everything pending for unit, including the updates that
 * the receipts of handoffs cause (a few rounds at most). */
static void drain(const char *unit) {
  for (int round = 0; round < 10; round++) {
    Mediation__V1__PullDeliveriesReply *p = pull(unit, 0);
    size_t n = p->n_deliveries;
    for (size_t i = 0; i < n; i++) {
      mc_err err;
      assert_int_equal(ack(unit, p->deliveries[i], NULL, &err), MC_OK);
    }
    protobuf_c_message_free_unpacked(&p->base, NULL);
    if (n == 0)
      return;
  }
  fail_msg("deliveries to %s keep coming", unit);
}

/* ---- fixture ---------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  /* Short transfer deadline so that "stuck" can be seen within a test. */
  if (tw_make(&world, use_tcp ? "router-tcp" : "router", "[deadlines]\ntransfer = 3s\n", use_tcp) != 0)
    return -1;
  return tw_start_router(&world, NULL);
}

static int teardown(void **state) {
  (void)state;
  /* Personal data never reaches a log. */
  char log[TH_PATH_MAX + 16];
  snprintf(log, sizeof(log), "%s/router.log", world.dir.path);
  char *text = th_read_file(log);
  bool leaked = text != NULL && strstr(text, CANARY) != NULL;
  bool leaked_phone = text != NULL && strstr(text, "13800001234") != NULL;
  free(text);
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  if (leaked || leaked_phone) {
    fprintf(stderr, "personal data found in the router's log\n");
    return -1;
  }
  return rc == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------ */

static void test_health_and_reflection(void **state) {
  (void)state;
  Mediation__V1__HealthCheckRequest hreq = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(call("coordinator", &mediation__v1__health__descriptor, "Check", &hreq.base,
                        &reply, &err),
                   MC_OK);
  Mediation__V1__HealthCheckReply *h = (Mediation__V1__HealthCheckReply *)reply;
  assert_int_equal(h->status, MV_SERVING(SERVING));
  assert_string_equal(h->server, "mediation-router");
  protobuf_c_message_free_unpacked(reply, NULL);

  Mediation__V1__ListServicesRequest lreq = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  assert_int_equal(call("police-studio", &mediation__v1__reflection__descriptor, "ListServices",
                        &lreq.base, &reply, &err),
                   MC_OK);
  Mediation__V1__ListServicesReply *l = (Mediation__V1__ListServicesReply *)reply;
  bool router = false, apply_found = false, admin = false;
  for (size_t i = 0; i < l->n_services; i++) {
    if (strcmp(l->services[i]->name, "mediation.v1.Router") == 0) {
      router = true;
      for (size_t k = 0; k < l->services[i]->n_methods; k++)
        apply_found |= strcmp(l->services[i]->methods[k]->name, "Apply") == 0 &&
                       strcmp(l->services[i]->methods[k]->input_type, "mediation.v1.ApplyRequest") == 0;
    }
    admin |= strcmp(l->services[i]->name, "mediation.v1.RouterAdmin") == 0;
  }
  assert_true(router && apply_found && admin);
  protobuf_c_message_free_unpacked(reply, NULL);
}

/* router/methods.c has one row for every method the router's server has
 * registered (its own services and rpc's built-ins: what Reflection lists),
 * and every row is such a method; Reflection reports each row's callers and
 * access. A caller the table refuses gets the text its handler gave when
 * handlers checked for themselves. */
static void test_method_table(void **state) {
  (void)state;
  size_t n_rows;
  const rt_method *rows = rt_methods(&n_rows);
  for (size_t i = 0; i < n_rows; i++) {
    if (rt_method_find(rows[i].service, rows[i].method) != &rows[i])
      fail_msg("%s/%s has two rows in router/methods.c", rows[i].service, rows[i].method);
  }
  Mediation__V1__ListServicesRequest lreq = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(call("coordinator", &mediation__v1__reflection__descriptor, "ListServices",
                        &lreq.base, &reply, &err),
                   MC_OK);
  Mediation__V1__ListServicesReply *l = (Mediation__V1__ListServicesReply *)reply;
  size_t served = 0;
  for (size_t i = 0; i < l->n_services; i++) {
    const Mediation__V1__ServiceInfo *svc = l->services[i];
    for (size_t k = 0; k < svc->n_methods; k++, served++) {
      const Mediation__V1__MethodInfo *m = svc->methods[k];
      const rt_method *row = rt_method_find(svc->name, m->name);
      if (row == NULL)
        fail_msg("%s/%s is served but has no row in router/methods.c", svc->name, m->name);
      uint32_t reported = 0;
      for (size_t c = 0; c < m->n_callers; c++)
        reported |= RPC_ACCEPT_KIND(m->callers[c]);
      if (reported != row->callers || (int)m->access != (int)row->access)
        fail_msg("%s/%s: Reflection says callers %#x access %d, the table %#x %d", svc->name,
                 m->name, reported, (int)m->access, row->callers, (int)row->access);
    }
  }
  if (served != n_rows)
    fail_msg("router/methods.c has %zu rows for %zu methods served: a row names no method",
             n_rows, served);
  protobuf_c_message_free_unpacked(reply, NULL);

  Mediation__V1__BackupRequest breq = MEDIATION__V1__BACKUP_REQUEST__INIT;
  assert_int_equal(call("police-studio", &mediation__v1__router_admin__descriptor, "Backup",
                        &breq.base, &reply, &err),
                   MC_PERMISSION_DENIED);
  assert_string_equal(err.msg, "backups and checks are for coordinators");
  Mediation__V1__PullDeliveriesRequest preq = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  assert_int_equal(call("coordinator", &mediation__v1__router__descriptor, "PullDeliveries",
                        &preq.base, &reply, &err),
                   MC_PERMISSION_DENIED);
  assert_string_equal(err.msg, "only units receive deliveries");
  Mediation__V1__AckDeliveriesRequest areq = MEDIATION__V1__ACK_DELIVERIES_REQUEST__INIT;
  assert_int_equal(call("coordinator", &mediation__v1__router__descriptor, "AckDeliveries",
                        &areq.base, &reply, &err),
                   MC_PERMISSION_DENIED);
  assert_string_equal(err.msg, "only units acknowledge deliveries");
}

/* Scenario 1's first half: the police studio hands a quarrel to the
 * marriage studio, which receives it, signs for it and accepts it. */
static void test_handoff_with_receipt(void **state) {
  (void)state;
  char id[32];
  take_in("police-studio", MV_KIND(RELATIONSHIP), "kongque", id);
  must("police-studio", id, MV_ACTION(TRANSFER), "家庭纠纷，转婚调溯源调解", "marriage-studio");

  Mediation__V1__PullDeliveriesReply *p = pull("marriage-studio", 0);
  const mv_delivery *offer = NULL;
  for (size_t i = 0; i < p->n_deliveries; i++) {
    if (strcmp(p->deliveries[i]->snapshot->id, id) == 0)
      offer = p->deliveries[i];
  }
  assert_non_null(offer);
  assert_int_equal(offer->kind, MV_DELIVERY(OFFER));
  assert_string_equal(offer->unit, "marriage-studio");
  assert_int_equal(offer->snapshot->state, MV_STATE(TRANSFER));
  /* offered, not yet holding: personal data masked */
  assert_string_equal(offer->snapshot->intake->parties[0]->phone, "138****1234");

  Mediation__V1__AckDeliveriesReply *a = NULL;
  mc_err err;
  /* another unit cannot sign for it: its receipt changes nothing */
  assert_int_equal(ack("station-baihe", offer, &a, &err), MC_OK);
  assert_int_equal(a->recorded, 0);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  Mediation__V1__PullDeliveriesReply *again = pull("marriage-studio", 0);
  bool still = false;
  for (size_t i = 0; i < again->n_deliveries; i++)
    still |= again->deliveries[i]->seq == offer->seq;
  assert_true(still);
  protobuf_c_message_free_unpacked(&again->base, NULL);

  assert_int_equal(ack("marriage-studio", offer, &a, &err), MC_OK);
  assert_int_equal(a->recorded, 1);
  assert_int_equal(a->already, 0);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  /* acknowledging twice is harmless */
  assert_int_equal(ack("marriage-studio", offer, &a, &err), MC_OK);
  assert_int_equal(a->recorded, 0);
  assert_int_equal(a->already, 1);
  protobuf_c_message_free_unpacked(&a->base, NULL);
  protobuf_c_message_free_unpacked(&p->base, NULL);

  /* the case file says "received by marriage-studio" with its signature */
  mc_code rc;
  Mediation__V1__GetCaseReply *g = get_case("police-studio", id, true, &rc, &err);
  assert_non_null(g);
  assert_int_equal(g->n_events, 3);
  const mv_event *last = g->events[2];
  assert_int_equal(last->action->kind, MV_ACTION(RECORD_RECEIPT));
  assert_int_equal(last->actor->kind, MV_PRINCIPAL(SYSTEM));
  assert_string_equal(last->action->receipt->unit, "marriage-studio");
  assert_int_equal(last->action->receipt->signature.len, RPC_SIGNATURE_BYTES);
  protobuf_c_message_free_unpacked(&g->base, NULL);

  /* accepting makes the marriage studio the holder; it now sees everything */
  mv_action acc = MEDIATION__V1__CASE_ACTION__INIT;
  acc.kind = MV_ACTION(ACCEPT);
  acc.case_ref = id;
  Mediation__V1__ApplyReply *r = NULL;
  assert_int_equal(apply("marriage-studio", &acc, &r, &err), MC_OK);
  assert_string_equal(r->case_record->holder, "marriage-studio");
  assert_int_equal(r->case_record->state, MV_STATE(INTAKE));
  assert_string_equal(r->case_record->intake->parties[0]->phone, "13800001234");
  protobuf_c_message_free_unpacked(&r->base, NULL);

  /* the sender is told its offer was accepted */
  p = pull("police-studio", 0);
  bool told = false;
  for (size_t i = 0; i < p->n_deliveries; i++) {
    told |= strcmp(p->deliveries[i]->snapshot->id, id) == 0 &&
            p->deliveries[i]->kind == MV_DELIVERY(ACCEPTED);
    assert_int_equal(ack("police-studio", p->deliveries[i], NULL, &err), MC_OK);
  }
  assert_true(told);
  protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* Scenario 4: a refused transfer goes back to its sender with the reason. */
static void test_refused_transfer_returns(void **state) {
  (void)state;
  char id[32];
  take_in("police-studio", MV_KIND(NEIGHBOUR), "baihe", id);
  must("police-studio", id, MV_ACTION(TRANSFER), "噪音纠纷", "marriage-studio");
  must("marriage-studio", id, MV_ACTION(REFUSE), "不属于婚姻家庭纠纷", NULL);
  Mediation__V1__PullDeliveriesReply *p = pull("police-studio", 0);
  const mv_delivery *back = NULL;
  for (size_t i = 0; i < p->n_deliveries; i++) {
    if (strcmp(p->deliveries[i]->snapshot->id, id) == 0)
      back = p->deliveries[i];
  }
  assert_non_null(back);
  assert_int_equal(back->kind, MV_DELIVERY(REFUSED));
  assert_string_equal(back->event->action->reason, "不属于婚姻家庭纠纷");
  assert_int_equal(back->snapshot->state, MV_STATE(INTAKE));
  assert_string_equal(back->snapshot->holder, "police-studio");
  /* back with its holder: unmasked */
  assert_string_equal(back->snapshot->intake->parties[0]->phone, "13800001234");
  protobuf_c_message_free_unpacked(&p->base, NULL);
  drain("police-studio");
  drain("marriage-studio");
  must("police-studio", id, MV_ACTION(TRANSFER), "转社区", "station-baihe");
  must("station-baihe", id, MV_ACTION(ACCEPT), NULL, NULL);
  drain("station-baihe");
  drain("police-studio");
}

static void test_refusals(void **state) {
  (void)state;
  char id[32];
  mc_err err;
  take_in("police-studio", MV_KIND(FAMILY_TRIVIA), "kongque", id);
  /* the state does not allow it */
  assert_int_equal(step("police-studio", id, MV_ACTION(ACCEPT), NULL, NULL, &err),
                   MC_FAILED_PRECONDITION);
  assert_non_null(strstr(err.msg, id));
  /* a reason is required */
  assert_int_equal(step("police-studio", id, MV_ACTION(TRANSFER), "", "marriage-studio", &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "reason"));
  /* an unknown unit */
  assert_int_equal(step("police-studio", id, MV_ACTION(TRANSFER), "x", "court-of-appeal", &err),
                   MC_INVALID_ARGUMENT);
  /* another community's station may not see it, nor act on it */
  mc_code rc;
  assert_null(get_case("station-wangai", id, false, &rc, &err));
  assert_int_equal(rc, MC_PERMISSION_DENIED);
  assert_int_equal(step("station-wangai", id, MV_ACTION(START_MEDIATION), NULL, NULL, &err),
                   MC_PERMISSION_DENIED);
  /* its own community's station may read it, masked */
  Mediation__V1__GetCaseReply *g = get_case("station-kongque", id, false, &rc, &err);
  assert_non_null(g);
  assert_true(g->masked);
  assert_string_equal(g->case_record->intake->parties[0]->id_number, "3302************32");
  protobuf_c_message_free_unpacked(&g->base, NULL);
  /* ... but not act on it: it is not the holder */
  assert_int_equal(step("station-kongque", id, MV_ACTION(START_MEDIATION), NULL, NULL, &err),
                   MC_PERMISSION_DENIED);
  /* no such case; a malformed reference */
  assert_int_equal(step("police-studio", "BH-2026-999999", MV_ACTION(START_MEDIATION), NULL, NULL, &err),
                   MC_NOT_FOUND);
  assert_int_equal(step("police-studio", "not a case", MV_ACTION(START_MEDIATION), NULL, NULL, &err),
                   MC_INVALID_ARGUMENT);
  /* coordinators do not take cases in */
  mv_intake in;
  party_set ps;
  make_intake(&in, &ps, MV_KIND(DIVORCE), "wangai");
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  assert_int_equal(apply("coordinator", &a, NULL, &err), MC_PERMISSION_DENIED);
  /* an intake with bad fields names the field */
  in.money_fen = -5;
  assert_int_equal(apply("police-studio", &a, NULL, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "money"));
  /* the router itself records receipts; nobody else may */
  mv_action fake = MEDIATION__V1__CASE_ACTION__INIT;
  mv_receipt rec = MEDIATION__V1__RECEIPT__INIT;
  fake.kind = MV_ACTION(RECORD_RECEIPT);
  fake.case_ref = id;
  fake.args_case = MV_ARGS(RECEIPT);
  fake.receipt = &rec;
  assert_int_equal(apply("police-studio", &fake, NULL, &err), MC_PERMISSION_DENIED);
  /* a coordinator may recall a stuck transfer, not start a mediation */
  assert_int_equal(step("coordinator", id, MV_ACTION(START_MEDIATION), NULL, NULL, &err),
                   MC_PERMISSION_DENIED);
  must("police-studio", id, MV_ACTION(TRANSFER), "转婚调", "marriage-studio");
  must("coordinator", id, MV_ACTION(RECALL), "逾期未接收，收回", NULL);
  drain("marriage-studio");
}

/* A retried request (same request id) applies once and gets the first
 * answer; another principal cannot use the id. */
static void test_retry_applies_once(void **state) {
  (void)state;
  char id[32];
  take_in("station-wangai", MV_KIND(ELDER_SUPPORT), "wangai", id);
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(START_MEDIATION);
  a.case_ref = id;
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  uint8_t rid[RPC_REQUEST_ID_BYTES];
  for (size_t i = 0; i < sizeof(rid); i++)
    rid[i] = (uint8_t)(0xA0 + i + serial);
  rpc_call_opts opts = {.request_id = rid, .timeout_ms = 10000};
  ProtobufCMessage *r1 = NULL, *r2 = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(as("station-wangai"), &mediation__v1__router__descriptor,
                                   "Apply", &req.base, &opts, &r1, &err),
                   MC_OK);
  assert_int_equal(rpc_client_call(as("station-wangai"), &mediation__v1__router__descriptor,
                                   "Apply", &req.base, &opts, &r2, &err),
                   MC_OK);
  Mediation__V1__ApplyReply *a1 = (Mediation__V1__ApplyReply *)r1, *a2 = (Mediation__V1__ApplyReply *)r2;
  assert_int_equal(a1->event->seq, 2);
  assert_int_equal(a2->event->seq, 2); /* the same answer, not a second step */
  assert_memory_equal(a1->case_record->last_event_hash.data, a2->case_record->last_event_hash.data, 32);
  protobuf_c_message_free_unpacked(r1, NULL);
  protobuf_c_message_free_unpacked(r2, NULL);
  mc_code rc;
  Mediation__V1__GetCaseReply *g = get_case("station-wangai", id, false, &rc, &err);
  assert_int_equal(g->case_record->event_count, 2);
  protobuf_c_message_free_unpacked(&g->base, NULL);
  /* a refusal is remembered too */
  a.kind = MV_ACTION(CLOSE);
  rid[0] ^= 0xFF;
  assert_int_equal(rpc_client_call(as("station-wangai"), &mediation__v1__router__descriptor,
                                   "Apply", &req.base, &opts, &r1, &err),
                   MC_FAILED_PRECONDITION);
  /* the same id from another principal is refused */
  assert_int_equal(rpc_client_call(as("station-baihe"), &mediation__v1__router__descriptor,
                                   "Apply", &req.base, &opts, &r1, &err),
                   MC_PERMISSION_DENIED);
}

/* One Apply under a chosen request id; returns the code and, when OK, the
 * reply as packed (malloc'd) into *packed. */
static mc_code apply_as(const char *principal, const uint8_t rid[RPC_REQUEST_ID_BYTES],
                        mv_action_kind kind, const char *id, const char *reason,
                        const char *to_unit, uint8_t **packed, size_t *len) {
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = kind;
  a.case_ref = (char *)id;
  a.reason = (char *)(reason ? reason : "");
  if (to_unit != NULL) {
    a.args_case = MV_ARGS(TO_UNIT);
    a.to_unit = (char *)to_unit;
  }
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  rpc_call_opts opts = {.request_id = rid, .timeout_ms = 10000};
  ProtobufCMessage *r = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(as(principal), &mediation__v1__router__descriptor, "Apply",
                               &req.base, &opts, &r, &err);
  if (rc != MC_OK)
    return rc;
  *len = protobuf_c_message_get_packed_size(r);
  *packed = malloc(*len ? *len : 1);
  assert_non_null(*packed);
  protobuf_c_message_pack(r, *packed);
  protobuf_c_message_free_unpacked(r, NULL);
  return MC_OK;
}

/* A retry after later steps on the same case gets the first answer: the
 * record as it stood then, masked for its caller as it was then - the
 * holder whole, a refusing unit and a coordinator masked - though the
 * router keeps only where that answer lies in the case file (issue 13.6:
 * a full copy of the record per kept reply was most of a young store). */
static void test_retry_after_later_steps(void **state) {
  (void)state;
  char id[32];
  take_in("police-studio", MV_KIND(RELATIONSHIP), "kongque", id);
  uint8_t rid[3][RPC_REQUEST_ID_BYTES];
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < RPC_REQUEST_ID_BYTES; i++)
      rid[k][i] = (uint8_t)(0x31 * (k + 1) + i + serial);
  uint8_t *first[3], *again[3];
  size_t first_len[3], again_len[3];
  assert_int_equal(apply_as("police-studio", rid[0], MV_ACTION(TRANSFER), id, "转婚调",
                            "marriage-studio", &first[0], &first_len[0]),
                   MC_OK);
  assert_int_equal(apply_as("marriage-studio", rid[1], MV_ACTION(REFUSE), id, "非婚姻家庭纠纷",
                            NULL, &first[1], &first_len[1]),
                   MC_OK);
  must("police-studio", id, MV_ACTION(TRANSFER), "再转婚调", "marriage-studio");
  assert_int_equal(apply_as("coordinator", rid[2], MV_ACTION(RECALL), id, "逾期未接收，收回",
                            NULL, &first[2], &first_len[2]),
                   MC_OK);
  must("police-studio", id, MV_ACTION(TRANSFER), "三转婚调", "marriage-studio");
  must("marriage-studio", id, MV_ACTION(ACCEPT), NULL, NULL);
  const char *who[3] = {"police-studio", "marriage-studio", "coordinator"};
  mv_action_kind kinds[3] = {MV_ACTION(TRANSFER), MV_ACTION(REFUSE), MV_ACTION(RECALL)};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(apply_as(who[k], rid[k], kinds[k], id, "重试", k == 0 ? "marriage-studio" : NULL,
                              &again[k], &again_len[k]),
                     MC_OK);
    assert_int_equal(again_len[k], first_len[k]);
    assert_memory_equal(again[k], first[k], first_len[k]);
    Mediation__V1__ApplyReply *r =
        mediation__v1__apply_reply__unpack(NULL, again_len[k], again[k]);
    assert_non_null(r);
    uint32_t seq = k == 0 ? 2 : k == 1 ? 3 : 5; /* as of the first answer, not the case now (7) */
    assert_int_equal(r->event->seq, seq);
    assert_int_equal(r->case_record->event_count, seq);
    assert_string_equal(r->case_record->holder, "police-studio");
    if (k == 0) /* the holder sees personal data */
      assert_string_equal(r->case_record->intake->parties[0]->id_number, "330212199001011232");
    else
      assert_string_not_equal(r->case_record->intake->parties[0]->id_number,
                              "330212199001011232");
    mediation__v1__apply_reply__free_unpacked(r, NULL);
  }
  mc_code rc;
  mc_err err;
  Mediation__V1__GetCaseReply *g = get_case("marriage-studio", id, false, &rc, &err);
  assert_int_equal(g->case_record->event_count, 7); /* the retries applied nothing */
  protobuf_c_message_free_unpacked(&g->base, NULL);

  /* What is kept: where each answer lies, not a copy of the record. Read
   * from a backup, a copy of the store taken while the router runs. */
  Mediation__V1__BackupRequest breq = MEDIATION__V1__BACKUP_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  assert_int_equal(call("coordinator", &mediation__v1__router_admin__descriptor, "Backup",
                        &breq.base, &reply, &err),
                   MC_OK);
  char path[TH_PATH_MAX];
  snprintf(path, sizeof(path), "%s", ((Mediation__V1__BackupReply *)reply)->path);
  protobuf_c_message_free_unpacked(reply, NULL);
  st_options so = {.dir = path};
  st_store *copy = NULL;
  if (st_open(&so, &copy, &err) != MC_OK)
    fail_msg("open the backup: %s", err.msg);
  st_txn *txn = NULL;
  assert_int_equal(st_read_begin(copy, &txn, &err), MC_OK);
  for (int k = 0; k < 3; k++) {
    st_idem_reply *kept = NULL;
    assert_int_equal(st_idem_get(txn, rid[k], RPC_REQUEST_ID_BYTES, &kept, &err), MC_OK);
    assert_int_equal(kept->payload.len, 0);
    assert_string_equal(kept->case_id, id);
    assert_int_equal(kept->event_seq, k == 0 ? 2 : k == 1 ? 3 : 5);
    assert_int_equal(kept->masked, k != 0);
    size_t size = protobuf_c_message_get_packed_size(&kept->base);
    assert_true(size < 128);
    protobuf_c_message_free_unpacked(&kept->base, NULL);
    free(first[k]);
    free(again[k]);
  }
  st_read_end(txn);
  st_close(copy);
  /* test_backup_and_verify counts the manual backups */
  char file[TH_PATH_MAX + 16];
  snprintf(file, sizeof(file), "%s/data.mdb", path);
  assert_int_equal(unlink(file), 0);
  snprintf(file, sizeof(file), "%s/lock.mdb", path);
  unlink(file); /* made by st_open if the copy had none */
  assert_int_equal(rmdir(path), 0);
}

typedef struct kept_whole {
  const uint8_t *rid;
  const uint8_t *payload;
  size_t len;
} kept_whole;

/* Keeps an answer whole, as routers did before answers were kept as
 * (case, seq): IdempotentReply format 1. */
static mc_code keep_whole_op(st_txn *t, void *arg, mc_err *err) {
  const kept_whole *k = arg;
  st_idem_reply r = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
  r.request_id.data = (uint8_t *)k->rid;
  r.request_id.len = RPC_REQUEST_ID_BYTES;
  r.stored_ms = mc_now_ms();
  r.caller = "police-studio";
  r.method = "Apply";
  r.payload.data = (uint8_t *)k->payload;
  r.payload.len = k->len;
  return st_idem_put(t, &r, err);
}

/* A store written by an older router keeps answers whole: a retry of one
 * still gets it, byte for byte, and nothing is applied. */
static void test_retry_of_an_answer_kept_whole(void **state) {
  (void)state;
  char id[32];
  take_in("police-studio", MV_KIND(RELATIONSHIP), "kongque", id);
  uint8_t rid[2][RPC_REQUEST_ID_BYTES];
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < RPC_REQUEST_ID_BYTES; i++)
      rid[k][i] = (uint8_t)(0x77 * (k + 1) + i + serial);
  uint8_t *first, *again;
  size_t first_len, again_len;
  assert_int_equal(apply_as("police-studio", rid[0], MV_ACTION(TRANSFER), id, "转婚调",
                            "marriage-studio", &first, &first_len),
                   MC_OK);
  /* The same answer, kept whole under another request id by an "older
   * router": written into the store while the router is stopped. */
  assert_int_equal(tw_stop_router(&world), 0);
  st_options so = {.dir = world.reg->router.data_dir,
                   .utc_offset_minutes = world.reg->utc_offset_minutes};
  st_store *store = NULL;
  mc_err err;
  if (st_open(&so, &store, &err) != MC_OK)
    fail_msg("open the router's store: %s", err.msg);
  kept_whole k = {rid[1], first, first_len};
  assert_int_equal(st_write(store, keep_whole_op, &k, &err), MC_OK);
  st_close(store);
  assert_int_equal(tw_start_router(&world, NULL), 0);
  /* A recall under that id would apply if it were new. */
  assert_int_equal(apply_as("police-studio", rid[1], MV_ACTION(RECALL), id, "收回", NULL, &again,
                            &again_len),
                   MC_OK);
  assert_int_equal(again_len, first_len);
  assert_memory_equal(again, first, first_len);
  mc_code rc;
  Mediation__V1__GetCaseReply *g = get_case("police-studio", id, false, &rc, &err);
  assert_non_null(g);
  assert_int_equal(g->case_record->event_count, 2);
  protobuf_c_message_free_unpacked(&g->base, NULL);
  free(first);
  free(again);
}

/* Many steps on one case at once: the router decides each from a snapshot
 * before the writer sees it, so most are decided on a case that has moved
 * on by the time they are stored. Each must still be applied exactly once,
 * in some order, with an unbroken case file; and of two steps that exclude
 * each other (accept and refuse of one transfer) exactly one wins. */
typedef struct burst {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int pending, ok, failed_precondition, other;
} burst;

static void burst_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  (void)message;
  burst *b = arg;
  if (reply != NULL)
    protobuf_c_message_free_unpacked(reply, NULL);
  pthread_mutex_lock(&b->lock);
  if (code == MC_OK)
    b->ok++;
  else if (code == MC_FAILED_PRECONDITION)
    b->failed_precondition++;
  else
    b->other++;
  b->pending--;
  pthread_cond_signal(&b->cond);
  pthread_mutex_unlock(&b->lock);
}

static void burst_send(burst *b, const char *principal, const mv_action *a) {
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = (mv_action *)a;
  mc_err err;
  pthread_mutex_lock(&b->lock);
  b->pending++;
  pthread_mutex_unlock(&b->lock);
  if (rpc_client_call_async(as(principal), &mediation__v1__router__descriptor, "Apply",
                            &req.base, NULL, burst_done, b, &err) != MC_OK)
    fail_msg("async Apply: %s", err.msg);
}

static void burst_wait(burst *b) {
  pthread_mutex_lock(&b->lock);
  while (b->pending > 0)
    pthread_cond_wait(&b->cond, &b->lock);
  pthread_mutex_unlock(&b->lock);
}

static void test_concurrent_steps_on_one_case(void **state) {
  (void)state;
  enum { SESSIONS = 24 };
  char id[32];
  take_in("station-wangai", MV_KIND(ELDER_SUPPORT), "wangai", id);
  must("station-wangai", id, MV_ACTION(START_MEDIATION), NULL, NULL);
  burst b = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  Mediation__V1__Session sessions[SESSIONS];
  mv_action acts[SESSIONS];
  for (int i = 0; i < SESSIONS; i++) {
    mediation__v1__session__init(&sessions[i]);
    sessions[i].held_ms = mc_now_ms();
    sessions[i].note = "调解一次";
    mediation__v1__case_action__init(&acts[i]);
    acts[i].kind = MV_ACTION(RECORD_SESSION);
    acts[i].case_ref = id;
    acts[i].args_case = MV_ARGS(SESSION);
    acts[i].session = &sessions[i];
    burst_send(&b, "station-wangai", &acts[i]);
  }
  burst_wait(&b);
  assert_int_equal(b.ok, SESSIONS);
  mc_code rc;
  mc_err err;
  Mediation__V1__GetCaseReply *g = get_case("station-wangai", id, true, &rc, &err);
  assert_non_null(g);
  assert_int_equal(g->case_record->n_sessions, SESSIONS);
  assert_int_equal(g->case_record->event_count, 2 + SESSIONS);
  assert_int_equal(g->n_events, 2 + SESSIONS);
  for (size_t i = 0; i < g->n_events; i++)
    assert_int_equal(g->events[i]->seq, i + 1);
  protobuf_c_message_free_unpacked(&g->base, NULL);

  /* accept and refuse of one transfer, sent together, several times */
  for (int round = 0; round < 8; round++) {
    char t[32];
    take_in("police-studio", MV_KIND(NEIGHBOUR), "baihe", t);
    must("police-studio", t, MV_ACTION(TRANSFER), "邻里纠纷", "station-baihe");
    burst x = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    mv_action accept = MEDIATION__V1__CASE_ACTION__INIT, refuse = MEDIATION__V1__CASE_ACTION__INIT;
    accept.kind = MV_ACTION(ACCEPT);
    accept.case_ref = t;
    refuse.kind = MV_ACTION(REFUSE);
    refuse.case_ref = t;
    refuse.reason = "不属本社区";
    burst_send(&x, "station-baihe", round % 2 ? &accept : &refuse);
    burst_send(&x, "station-baihe", round % 2 ? &refuse : &accept);
    burst_wait(&x);
    assert_int_equal(x.ok, 1);
    assert_int_equal(x.failed_precondition, 1);
    assert_int_equal(x.other, 0);
    g = get_case("coordinator", t, false, &rc, &err);
    assert_non_null(g);
    assert_int_equal(g->case_record->event_count, 3);
    protobuf_c_message_free_unpacked(&g->base, NULL);
  }
  drain("station-baihe");
  drain("police-studio");
}

typedef struct poll_result {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  mc_code code;
  size_t n;
  char first_case[32];
} poll_result;

static void poll_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  (void)message;
  poll_result *pr = arg;
  pthread_mutex_lock(&pr->lock);
  pr->code = code;
  if (reply != NULL) {
    Mediation__V1__PullDeliveriesReply *p = (Mediation__V1__PullDeliveriesReply *)reply;
    pr->n = p->n_deliveries;
    if (p->n_deliveries > 0)
      snprintf(pr->first_case, sizeof(pr->first_case), "%s", p->deliveries[0]->snapshot->id);
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  pr->done = true;
  pthread_cond_signal(&pr->cond);
  pthread_mutex_unlock(&pr->lock);
}

/* A unit waiting in a long poll gets a new handoff at once, not at the end
 * of its wait. */
static void test_long_poll_wakes_on_handoff(void **state) {
  (void)state;
  drain("station-kongque");
  poll_result pr = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  req.wait_ms = 30000;
  rpc_call_opts opts = {.timeout_ms = 40000};
  mc_err err;
  rpc_client *kq = tw_client(&world, "station-kongque", NULL);
  assert_int_equal(rpc_client_call_async(kq, &mediation__v1__router__descriptor, "PullDeliveries",
                                         &req.base, &opts, poll_done, &pr, &err),
                   MC_OK);
  usleep(300 * 1000); /* let the poll reach the router and wait there */
  char id[32];
  take_in("marriage-studio", MV_KIND(DIVORCE), "kongque", id);
  int64_t t0 = mc_mono_ms();
  must("marriage-studio", id, MV_ACTION(TRANSFER), "委托社区回访", "station-kongque");
  pthread_mutex_lock(&pr.lock);
  while (!pr.done) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    if (pthread_cond_timedwait(&pr.cond, &pr.lock, &ts) != 0)
      break;
  }
  bool done = pr.done;
  pthread_mutex_unlock(&pr.lock);
  assert_true(done);
  /* well before the 30 s wait would have ended */
  assert_true(mc_mono_ms() - t0 < 15000);
  assert_int_equal(pr.code, MC_OK);
  assert_int_equal(pr.n, 1);
  assert_string_equal(pr.first_case, id);
  drain("station-kongque");
}

/* A unit holds at most two long polls: a third (say, from the unit after a
 * restart, its old polls still waiting) answers the oldest at once, so dead
 * pollers cannot take every server context. */
static void test_long_polls_bounded_per_unit(void **state) {
  (void)state;
  drain("station-wangai");
  poll_result pr[3];
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  req.wait_ms = 30000;
  rpc_call_opts opts = {.timeout_ms = 40000};
  mc_err err;
  rpc_client *wa = tw_client(&world, "station-wangai", NULL);
  for (int i = 0; i < 3; i++) {
    pr[i] = (poll_result){.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    assert_int_equal(rpc_client_call_async(wa, &mediation__v1__router__descriptor, "PullDeliveries",
                                           &req.base, &opts, poll_done, &pr[i], &err),
                     MC_OK);
    usleep(300 * 1000); /* in this order at the router */
  }
  /* the oldest was answered at once, empty; the two newest still wait */
  int64_t until = mc_mono_ms() + 10000;
  bool first_done = false;
  while (!first_done && mc_mono_ms() < until) {
    pthread_mutex_lock(&pr[0].lock);
    first_done = pr[0].done;
    pthread_mutex_unlock(&pr[0].lock);
    usleep(20 * 1000);
  }
  assert_true(first_done);
  assert_int_equal(pr[0].code, MC_OK);
  assert_int_equal(pr[0].n, 0);
  assert_false(pr[1].done);
  assert_false(pr[2].done);
  /* a handoff answers both */
  char id[32];
  take_in("police-studio", MV_KIND(ELDER_SUPPORT), "wangai", id);
  must("police-studio", id, MV_ACTION(TRANSFER), "赡养纠纷转社区", "station-wangai");
  for (int i = 1; i < 3; i++) {
    pthread_mutex_lock(&pr[i].lock);
    while (!pr[i].done) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 20;
      if (pthread_cond_timedwait(&pr[i].cond, &pr[i].lock, &ts) != 0)
        break;
    }
    pthread_mutex_unlock(&pr[i].lock);
    assert_true(pr[i].done);
    assert_int_equal(pr[i].n, 1);
    assert_string_equal(pr[i].first_case, id);
  }
  drain("station-wangai");
  must("station-wangai", id, MV_ACTION(ACCEPT), NULL, NULL);
  drain("police-studio");
}

/* A delivery not acknowledged is delivered again, also to a new connection
 * of the unit; once acknowledged it is not. */
static void test_redelivery_until_receipt(void **state) {
  (void)state;
  drain("station-baihe");
  char id[32];
  take_in("police-studio", MV_KIND(NEIGHBOUR), "baihe", id);
  must("police-studio", id, MV_ACTION(TRANSFER), "邻里纠纷转社区", "station-baihe");
  Mediation__V1__PullDeliveriesReply *p1 = pull("station-baihe", 0);
  assert_int_equal(p1->n_deliveries, 1);
  uint64_t seq = p1->deliveries[0]->seq;
  /* the unit reconnects (a new client, a new connection) */
  rpc_client *fresh = NULL;
  mc_err err;
  assert_int_equal(rpc_client_create(world.reg->router.endpoint, tw_key(&world, "station-baihe"),
                                     &world.reg->limits, NULL, &fresh, &err),
                   MC_OK);
  Mediation__V1__PullDeliveriesRequest req = MEDIATION__V1__PULL_DELIVERIES_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  assert_int_equal(rpc_client_call(fresh, &mediation__v1__router__descriptor, "PullDeliveries",
                                   &req.base, NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__PullDeliveriesReply *p2 = (Mediation__V1__PullDeliveriesReply *)reply;
  assert_int_equal(p2->n_deliveries, 1);
  assert_int_equal(p2->deliveries[0]->seq, seq);
  assert_int_equal(ack("station-baihe", p2->deliveries[0], NULL, &err), MC_OK);
  protobuf_c_message_free_unpacked(reply, NULL);
  rpc_client_free(fresh);
  protobuf_c_message_free_unpacked(&p1->base, NULL);
  /* the receipt is a step of the case: the station's copy gets it as an
   * update, whose own receipt changes nothing in the case file */
  Mediation__V1__PullDeliveriesReply *p3 = pull("station-baihe", 0);
  assert_int_equal(p3->n_deliveries, 1);
  assert_int_equal(p3->deliveries[0]->kind, MV_DELIVERY(UPDATED));
  assert_int_equal(p3->deliveries[0]->event->action->kind, MV_ACTION(RECORD_RECEIPT));
  uint32_t events = p3->deliveries[0]->snapshot->event_count;
  assert_int_equal(ack("station-baihe", p3->deliveries[0], NULL, &err), MC_OK);
  protobuf_c_message_free_unpacked(&p3->base, NULL);
  Mediation__V1__PullDeliveriesReply *p4 = pull("station-baihe", 0);
  assert_int_equal(p4->n_deliveries, 0);
  protobuf_c_message_free_unpacked(&p4->base, NULL);
  mc_code grc;
  Mediation__V1__GetCaseReply *g = get_case("coordinator", id, false, &grc, &err);
  assert_non_null(g);
  assert_int_equal(g->case_record->event_count, events);
  protobuf_c_message_free_unpacked(&g->base, NULL);
  /* a receipt for a delivery that never existed */
  mv_delivery ghost = MEDIATION__V1__DELIVERY__INIT;
  mv_case gc = MEDIATION__V1__CASE__INIT;
  mv_event ge = MEDIATION__V1__CASE_EVENT__INIT;
  gc.id = id;
  ge.seq = 1;
  ghost.seq = 999999;
  ghost.snapshot = &gc;
  ghost.event = &ge;
  assert_int_equal(ack("station-baihe", &ghost, NULL, &err), MC_INVALID_ARGUMENT);
}

static Mediation__V1__ListCasesReply *list(const char *principal,
                                           Mediation__V1__ListCasesRequest *req, mc_code want) {
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = call(principal, &mediation__v1__router__descriptor, "ListCases", &req->base, &reply, &err);
  if (rc != want)
    fail_msg("ListCases: %s: %s", mc_code_name(rc), err.msg);
  return (Mediation__V1__ListCasesReply *)reply;
}

/* The reader's person (GetCaseRequest.person) lands in the access log as
 * who.person; a person that is not clean text is refused, naming the
 * field, and the refused read is not logged. */
static void test_access_log_records_reader(void **state) {
  (void)state;
  char id[32];
  take_in("police-studio", MV_KIND(NEIGHBOUR), "kongque", id);
  mc_err err;
  mc_code rc;
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = id;
  req.person = "吴警官";
  ProtobufCMessage *reply = NULL;
  rc = call("police-studio", &mediation__v1__router__descriptor, "GetCase", &req.base, &reply,
            &err);
  if (rc != MC_OK)
    fail_msg("GetCase with a person: %s: %s", mc_code_name(rc), err.msg);
  protobuf_c_message_free_unpacked(reply, NULL);

  /* Not clean text: a control character, invalid UTF-8, too long. */
  char long_name[600];
  memset(long_name, 'x', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  const char *bad[] = {"吴\x01警官", "\xff\xfe", long_name};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    req.person = (char *)bad[i];
    reply = NULL;
    rc = call("police-studio", &mediation__v1__router__descriptor, "GetCase", &req.base, &reply,
              &err);
    if (reply != NULL)
      protobuf_c_message_free_unpacked(reply, NULL);
    assert_int_equal(rc, MC_INVALID_ARGUMENT);
    assert_non_null(strstr(err.msg, "person"));
  }

  /* The log is written with the writer's next batch: give it a moment. */
  Mediation__V1__ListAccessRequest lreq = MEDIATION__V1__LIST_ACCESS_REQUEST__INIT;
  lreq.case_id = id;
  Mediation__V1__ListAccessReply *l = NULL;
  for (int tries = 0; tries < 100; tries++) {
    reply = NULL;
    rc = call("coordinator", &mediation__v1__router_admin__descriptor, "ListAccess", &lreq.base,
              &reply, &err);
    if (rc != MC_OK)
      fail_msg("ListAccess: %s: %s", mc_code_name(rc), err.msg);
    l = (Mediation__V1__ListAccessReply *)reply;
    if (l->n_records > 0)
      break;
    protobuf_c_message_free_unpacked(reply, NULL);
    l = NULL;
    usleep(50 * 1000);
  }
  assert_non_null(l);
  assert_int_equal(l->n_records, 1); /* the refused reads are not reads */
  const Mediation__V1__AccessRecord *a = l->records[0];
  assert_string_equal(a->case_id, id);
  assert_string_equal(a->method, "GetCase");
  assert_non_null(a->who);
  assert_string_equal(a->who->id, "police-studio");
  assert_string_equal(a->who->person, "吴警官");
  protobuf_c_message_free_unpacked(&l->base, NULL);
}

static void test_lists_and_paging(void **state) {
  (void)state;
  char ids[7][32];
  for (int i = 0; i < 7; i++)
    take_in("station-wangai", MV_KIND(CUSTODY), "wangai", ids[i]);
  /* by holder and state, two at a time: every case once, in intake order */
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.holder = "station-wangai";
  req.state = MV_STATE(INTAKE);
  req.kind = MV_KIND(CUSTODY);
  req.page_size = 2;
  int seen[7] = {0}, pages = 0;
  char cursor[1024] = "";
  do {
    req.cursor = cursor;
    Mediation__V1__ListCasesReply *r = list("coordinator", &req, MC_OK);
    assert_true(r->n_cases <= 2);
    for (size_t i = 0; i < r->n_cases; i++) {
      assert_string_equal(r->cases[i]->holder, "station-wangai");
      assert_int_equal(r->cases[i]->kind, MV_KIND(CUSTODY));
      for (int k = 0; k < 7; k++)
        seen[k] += strcmp(r->cases[i]->id, ids[k]) == 0;
    }
    snprintf(cursor, sizeof(cursor), "%s", r->next_cursor);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    pages++;
  } while (cursor[0] != '\0' && pages < 100);
  for (int k = 0; k < 7; k++)
    assert_int_equal(seen[k], 1);
  assert_true(pages >= 4);
  /* a forged cursor, an oversized page */
  req.cursor = "not-a-cursor";
  list("coordinator", &req, MC_INVALID_ARGUMENT);
  req.cursor = "";
  req.page_size = 100000;
  list("coordinator", &req, MC_INVALID_ARGUMENT);
  /* a unit's list shows only what it may see */
  Mediation__V1__ListCasesRequest all = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  all.page_size = 500;
  Mediation__V1__ListCasesReply *r = list("station-baihe", &all, MC_OK);
  for (size_t i = 0; i < r->n_cases; i++)
    assert_string_not_equal(r->cases[i]->community, "wangai");
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* the coordinator's unfiltered list walks every state */
  r = list("coordinator", &all, MC_OK);
  size_t states_seen = 0;
  unsigned mask = 0;
  for (size_t i = 0; i < r->n_cases; i++)
    mask |= 1u << r->cases[i]->state;
  for (int s = 0; s < 8; s++)
    states_seen += (mask >> s) & 1;
  assert_true(states_seen >= 2);
  assert_true(r->n_cases >= 7);
  protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A transfer unanswered past its deadline (3 s in this deployment) shows as
 * stuck with its offered unit, and in overdue lists. */
static void test_stuck_transfer(void **state) {
  (void)state;
  char id[32];
  take_in("police-studio", MV_KIND(INHERITANCE), "wangai", id);
  must("police-studio", id, MV_ACTION(TRANSFER), "遗产纠纷", "marriage-studio");
  sleep(4);
  Mediation__V1__StuckRequest req = MEDIATION__V1__STUCK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(call("coordinator", &mediation__v1__router__descriptor, "Stuck", &req.base,
                        &reply, &err),
                   MC_OK);
  Mediation__V1__StuckReply *s = (Mediation__V1__StuckReply *)reply;
  bool found = false;
  for (size_t g = 0; g < s->n_groups; g++) {
    if (s->groups[g]->state != MV_STATE(TRANSFER) || strcmp(s->groups[g]->unit, "marriage-studio"))
      continue;
    assert_true(s->groups[g]->count >= 1);
    for (size_t i = 0; i < s->groups[g]->n_oldest; i++)
      found |= strcmp(s->groups[g]->oldest[i]->id, id) == 0 && s->groups[g]->oldest[i]->overdue;
  }
  assert_true(found);
  protobuf_c_message_free_unpacked(reply, NULL);

  Mediation__V1__ListCasesRequest lreq = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  lreq.overdue_only = true;
  lreq.page_size = 500;
  Mediation__V1__ListCasesReply *l = list("coordinator", &lreq, MC_OK);
  found = false;
  for (size_t i = 0; i < l->n_cases; i++)
    found |= strcmp(l->cases[i]->id, id) == 0;
  assert_true(found);
  protobuf_c_message_free_unpacked(&l->base, NULL);
  must("police-studio", id, MV_ACTION(RECALL), "收回", NULL);
  drain("marriage-studio");
}

static Mediation__V1__GetFiguresReply *figures(const char *principal, int year,
                                               Mediation__V1__FigureGrouping by, mc_code want) {
  Mediation__V1__GetFiguresRequest req = MEDIATION__V1__GET_FIGURES_REQUEST__INIT;
  req.year = year;
  req.group_by = by;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = call(principal, &mediation__v1__router__descriptor, "GetFigures", &req.base, &reply, &err);
  if (rc != want)
    fail_msg("GetFigures: %s: %s", mc_code_name(rc), err.msg);
  return (Mediation__V1__GetFiguresReply *)reply;
}

static int64_t community_taken_in(Mediation__V1__GetFiguresReply *f, const char *community) {
  for (size_t i = 0; i < f->n_rows; i++) {
    if (strcmp(f->rows[i]->bucket->community, community) == 0)
      return f->rows[i]->counters->taken_in;
  }
  return 0;
}

/* Figures are counted with the steps they count, so a step shows in them
 * at once: a mediated agreement moves mediated, resolved and money. */
static void test_figures_follow_steps(void **state) {
  (void)state;
  int year = mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes).year;
  Mediation__V1__GetFiguresReply *before = figures("coordinator", year, MV_GROUPING(COMMUNITY), MC_OK);
  int64_t kq0 = community_taken_in(before, "kongque");
  int64_t mediated0 = before->total->counters->mediated;
  int64_t resolved0 = before->total->counters->resolved;
  int64_t money0 = before->total->counters->money_involved_fen;
  protobuf_c_message_free_unpacked(&before->base, NULL);

  char id[32];
  take_in("station-kongque", MV_KIND(FAMILY_TRIVIA), "kongque", id);
  must("station-kongque", id, MV_ACTION(START_MEDIATION), NULL, NULL);
  mv_action out = MEDIATION__V1__CASE_ACTION__INIT;
  Mediation__V1__Outcome o = MEDIATION__V1__OUTCOME__INIT;
  o.kind = MV_OUTCOME(AGREEMENT);
  o.agreed_amount_fen = 50000;
  out.kind = MV_ACTION(RECORD_OUTCOME);
  out.case_ref = id;
  out.args_case = MV_ARGS(OUTCOME);
  out.outcome = &o;
  mc_err err;
  assert_int_equal(apply("station-kongque", &out, NULL, &err), MC_OK);

  Mediation__V1__GetFiguresReply *after = figures("coordinator", year, MV_GROUPING(COMMUNITY), MC_OK);
  assert_int_equal(community_taken_in(after, "kongque"), kq0 + 1);
  assert_int_equal(after->total->counters->mediated, mediated0 + 1);
  assert_int_equal(after->total->counters->resolved, resolved0 + 1);
  assert_int_equal(after->total->counters->money_involved_fen, money0 + 123456);
  assert_true(after->open_cases >= 1);
  protobuf_c_message_free_unpacked(&after->base, NULL);

  /* a unit reads its own figures only */
  Mediation__V1__GetFiguresReply *mine = figures("station-kongque", year, MV_GROUPING(UNIT), MC_OK);
  for (size_t i = 0; i < mine->n_rows; i++)
    assert_string_equal(mine->rows[i]->bucket->unit, "station-kongque");
  protobuf_c_message_free_unpacked(&mine->base, NULL);
  figures("coordinator", 12, MV_GROUPING(TOTAL), MC_INVALID_ARGUMENT);
}

static void test_backup_and_verify(void **state) {
  (void)state;
  Mediation__V1__BackupRequest breq = MEDIATION__V1__BACKUP_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(call("police-studio", &mediation__v1__router_admin__descriptor, "Backup",
                        &breq.base, &reply, &err),
                   MC_PERMISSION_DENIED);
  assert_int_equal(call("coordinator", &mediation__v1__router_admin__descriptor, "Backup",
                        &breq.base, &reply, &err),
                   MC_OK);
  Mediation__V1__BackupReply *b = (Mediation__V1__BackupReply *)reply;
  char file[TH_PATH_MAX + 16];
  snprintf(file, sizeof(file), "%s/data.mdb", b->path);
  struct stat st;
  assert_int_equal(stat(file, &st), 0);
  assert_true(b->bytes > 0);
  /* Named in the subdistrict's time, like every time shown (+08:00), and
   * marked as made by hand. */
  const char *name = strrchr(b->path, '/') + 1;
  assert_int_equal(strlen(name), strlen("20261128T023012.481+0800-manual"));
  assert_memory_equal(name + 19, "+0800-manual", 12);
  char want_day[16];
  mc_date today = mc_date_of(mc_now_ms(), world.reg->utc_offset_minutes);
  snprintf(want_day, sizeof(want_day), "%04d%02d%02dT", today.year, today.month, today.day);
  assert_memory_equal(name, want_day, 9);
  char first_manual[TH_PATH_MAX];
  snprintf(first_manual, sizeof(first_manual), "%s", b->path);
  protobuf_c_message_free_unpacked(reply, NULL);

  /* Manual backups never push the scheduled ones out of backups_kept: each
   * kind keeps its own newest backups_kept. A name of an earlier version
   * (UTC, "Z") counts as scheduled. */
  const char *dir = world.reg->router.backup_dir;
  unsigned kept = world.reg->router.backups_kept;
  char old_style[TH_PATH_MAX + 32];
  snprintf(old_style, sizeof(old_style), "%s/20200101T000000.000Z", dir);
  assert_int_equal(mkdir(old_style, 0700), 0);
  breq.scheduled = true;
  assert_int_equal(call("coordinator", &mediation__v1__router_admin__descriptor, "Backup",
                        &breq.base, &reply, &err),
                   MC_OK);
  b = (Mediation__V1__BackupReply *)reply;
  char scheduled[TH_PATH_MAX];
  snprintf(scheduled, sizeof(scheduled), "%s", b->path);
  assert_null(strstr(scheduled, "-manual"));
  protobuf_c_message_free_unpacked(reply, NULL);
  breq.scheduled = false;
  for (unsigned i = 0; i < kept; i++) {
    usleep(2000); /* distinct milliseconds */
    assert_int_equal(call("coordinator", &mediation__v1__router_admin__descriptor, "Backup",
                          &breq.base, &reply, &err),
                     MC_OK);
    b = (Mediation__V1__BackupReply *)reply;
    if (i == kept - 1) {
      /* the (kept + 1)th manual one removes the first manual one, only */
      assert_int_equal(b->n_removed, 1);
      assert_string_equal(b->removed[0], strrchr(first_manual, '/') + 1);
    } else {
      assert_int_equal(b->n_removed, 0);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  assert_int_equal(stat(scheduled, &st), 0);
  assert_int_equal(stat(old_style, &st), 0);
  assert_int_not_equal(stat(first_manual, &st), 0);

  Mediation__V1__VerifyRequest vreq = MEDIATION__V1__VERIFY_REQUEST__INIT;
  assert_int_equal(call("coordinator", &mediation__v1__router_admin__descriptor, "Verify",
                        &vreq.base, &reply, &err),
                   MC_OK);
  Mediation__V1__VerifyReply *v = (Mediation__V1__VerifyReply *)reply;
  if (v->problems != 0)
    fail_msg("verify found %llu problems, first: %s", (unsigned long long)v->problems,
             v->n_details ? v->details[0]->message : "?");
  protobuf_c_message_free_unpacked(reply, NULL);
}

static Mediation__V1__StatusReply *router_status(void) {
  Mediation__V1__StatusRequest req = MEDIATION__V1__STATUS_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  if (call("coordinator", &mediation__v1__router_admin__descriptor, "Status", &req.base, &reply,
           &err) != MC_OK)
    fail_msg("Status: %s", err.msg);
  return (Mediation__V1__StatusReply *)reply;
}

static const Mediation__V1__UnitStatus *unit_row(const Mediation__V1__StatusReply *s,
                                                 const char *unit) {
  for (size_t i = 0; i < s->n_units; i++) {
    if (strcmp(s->units[i]->unit, unit) == 0)
      return s->units[i];
  }
  fail_msg("Status: no row for %s", unit);
  return NULL;
}

/* RouterAdmin/Status: a unit's pull is its liveness, a handoff it has not
 * acknowledged is pending (with its queue time), a backup is listed by
 * kind, and units may not ask. */
static void test_status(void **state) {
  (void)state;
  int64_t before = mc_now_ms();
  drain("station-baihe");
  Mediation__V1__StatusReply *s = router_status();
  assert_int_equal(s->n_units, world.reg->n_units);
  const Mediation__V1__UnitStatus *r = unit_row(s, "station-baihe");
  assert_true(r->last_pull_ms >= before && r->last_pull_ms <= s->now_ms);
  assert_int_equal(r->pending_deliveries, 0);
  assert_int_equal(r->oldest_pending_ms, 0);
  assert_string_not_equal(r->name, "");
  protobuf_c_message_free_unpacked(&s->base, NULL);

  char id[32];
  int64_t queued = mc_now_ms();
  take_in("police-studio", MV_KIND(NEIGHBOUR), "baihe", id);
  must("police-studio", id, MV_ACTION(TRANSFER), "邻里纠纷转社区", "station-baihe");
  s = router_status();
  r = unit_row(s, "station-baihe");
  assert_int_equal(r->pending_deliveries, 1);
  assert_true(r->oldest_pending_ms >= queued && r->oldest_pending_ms <= s->now_ms);
  protobuf_c_message_free_unpacked(&s->base, NULL);
  drain("station-baihe");
  s = router_status();
  assert_int_equal(unit_row(s, "station-baihe")->pending_deliveries, 0);
  protobuf_c_message_free_unpacked(&s->base, NULL);

  Mediation__V1__BackupRequest breq = MEDIATION__V1__BACKUP_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(call("coordinator", &mediation__v1__router_admin__descriptor, "Backup",
                        &breq.base, &reply, &err),
                   MC_OK);
  char made[4096];
  snprintf(made, sizeof(made), "%s", strrchr(((Mediation__V1__BackupReply *)reply)->path, '/') + 1);
  protobuf_c_message_free_unpacked(reply, NULL);
  s = router_status();
  assert_true(s->backup_dir_set);
  assert_string_equal(s->last_manual_backup, made);
  assert_true(s->last_manual_backup_ms >= before && s->last_manual_backup_ms <= s->now_ms);
  assert_int_equal(s->backups_kept, world.reg->router.backups_kept);
  protobuf_c_message_free_unpacked(&s->base, NULL);

  Mediation__V1__StatusRequest req = MEDIATION__V1__STATUS_REQUEST__INIT;
  reply = NULL;
  assert_int_equal(call("station-baihe", &mediation__v1__router_admin__descriptor, "Status",
                        &req.base, &reply, &err),
                   MC_PERMISSION_DENIED);
  assert_null(reply);
}

int main(int argc, char **argv) {
  use_tcp = argc > 1 && strcmp(argv[1], "--tcp") == 0;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_health_and_reflection),
      cmocka_unit_test(test_method_table),
      cmocka_unit_test(test_handoff_with_receipt),
      cmocka_unit_test(test_refused_transfer_returns),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_retry_applies_once),
      cmocka_unit_test(test_retry_after_later_steps),
      cmocka_unit_test(test_retry_of_an_answer_kept_whole),
      cmocka_unit_test(test_concurrent_steps_on_one_case),
      cmocka_unit_test(test_long_poll_wakes_on_handoff),
      cmocka_unit_test(test_long_polls_bounded_per_unit),
      cmocka_unit_test(test_redelivery_until_receipt),
      cmocka_unit_test(test_access_log_records_reader),
      cmocka_unit_test(test_lists_and_paging),
      cmocka_unit_test(test_stuck_transfer),
      cmocka_unit_test(test_figures_follow_steps),
      cmocka_unit_test(test_backup_and_verify),
      cmocka_unit_test(test_status),
  };
  return cmocka_run_group_tests_name(use_tcp ? "router over tcp" : "router over ipc", tests,
                                     setup, teardown);
}
