/*
 * test_tls.c - deploy/tls-setup's files, used the way docs/deploy.md says:
 * tls-setup makes a CA and the router's certificate, its printed [router]
 * lines are appended to mediation.conf as they are, the real mediation-router
 * listens on tls+tcp://127.0.0.1:PORT, and clients configured from the same
 * file ([router] tls_ca and tls_server_name, as the units are) make signed
 * calls. A client checking another name, or trusting another CA, is refused
 * before anything is sent; so is one that checks the IP address it dials
 * (mbedTLS 2.28 matches DNS names only), which is why tls_server_name is set.
 *
 * `test_deploy_tls` uses ECDSA P-256 keys (tls-setup's default);
 * `test_deploy_tls --rsa` the same with RSA 2048.
 *
 * Every program (tls-setup, mkdeploy, the router) is started before this
 * process makes its first nng call (nng is not fork-safe).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "mv1.h"
#include "world.h"

static bool use_rsa;
static tw_world world;
static th_dir certs;   /* tls-setup --dir: the router's CA and certificate */
static th_dir other;   /* another CA, which signed nothing of the router's */
static char other_ca[TH_PATH_MAX + 16];

static int setup(void **state) {
  (void)state;
  if (th_dir_make(&certs, "tls-certs") != 0 || th_dir_make(&other, "tls-other") != 0)
    return -1;
  char *lines = tw_tls_setup(certs.path, use_rsa);
  char *other_lines = tw_tls_setup(other.path, use_rsa);
  if (lines == NULL || other_lines == NULL) {
    free(lines);
    free(other_lines);
    return -1;
  }
  free(other_lines);
  snprintf(other_ca, sizeof(other_ca), "%s/ca.pem", other.path);
  int rc = tw_make_tls(&world, use_rsa ? "deploy-tls-rsa" : "deploy-tls", lines);
  free(lines);
  return rc;
}

static int teardown(void **state) {
  (void)state;
  int rc = tw_stop_router(&world);
  tw_destroy(&world);
  th_dir_remove(&certs);
  th_dir_remove(&other);
  return rc == 0 ? 0 : -1;
}

/* A client for the router signing as principal, checking the router's
 * certificate against ca with server_name (NULL: the URL's host). */
static rpc_client *client(const char *principal, const char *ca, const char *server_name) {
  rpc_client *c = NULL;
  mc_err err = {0};
  rpc_client_opts opts = {.tls_ca_file = ca, .tls_server_name = server_name};
  if (rpc_client_create(world.reg->router.endpoint, tw_key(&world, principal),
                        &world.reg->limits, &opts, &c, &err) != MC_OK)
    fail_msg("client: %s", err.msg);
  return c;
}

static mc_code take_in(rpc_client *c, int64_t timeout_ms, char *case_id, size_t cap, mc_err *err) {
  mv_party party = MEDIATION__V1__PARTY__INIT, *parties[] = {&party};
  party.name = "某甲";
  party.role = MV_PARTY(APPLICANT);
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = MV_KIND(NEIGHBOUR);
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(WALK_IN);
  in.community = "baihe";
  in.parties = parties;
  in.n_parties = 1;
  in.summary = "楼上漏水";
  char ref[48];
  snprintf(ref, sizeof(ref), "TLS-%d-%lld", (int)getpid(), (long long)mc_now_ms());
  in.unit_ref = ref;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TAKE_IN);
  a.args_case = MV_ARGS(INTAKE);
  a.intake = &in;
  a.person = "值班员";
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &a;
  ProtobufCMessage *reply = NULL;
  mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "Apply", &req.base,
                               &(rpc_call_opts){.timeout_ms = timeout_ms}, &reply, err);
  if (rc == MC_OK) {
    snprintf(case_id, cap, "%s", ((Mediation__V1__ApplyReply *)reply)->case_record->id);
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  return rc;
}

static void test_signed_calls_over_tls(void **state) {
  (void)state;
  const mc_router_conf *r = &world.reg->router;
  assert_non_null(r->tls_ca);
  assert_string_equal(r->tls_server_name, "router.test");
  assert_true(strncmp(r->endpoint, "tls+tcp://127.0.0.1:", 20) == 0);

  /* A unit takes a case in, configured as units are: from [router]. */
  rpc_client *unit = client("station-baihe", r->tls_ca, r->tls_server_name);
  char id[64];
  mc_err err = {0};
  if (take_in(unit, 10000, id, sizeof(id), &err) != MC_OK)
    fail_msg("take in over TLS: %s: %s", mc_code_name(err.code), err.msg);

  /* A coordinator reads it back. */
  rpc_client *coord = client("coordinator", r->tls_ca, r->tls_server_name);
  Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
  req.case_ref = id;
  ProtobufCMessage *reply = NULL;
  if (rpc_client_call(coord, &mediation__v1__router__descriptor, "GetCase", &req.base,
                      &(rpc_call_opts){.timeout_ms = 10000}, &reply, &err) != MC_OK)
    fail_msg("GetCase over TLS: %s", err.msg);
  Mediation__V1__GetCaseReply *got = (Mediation__V1__GetCaseReply *)reply;
  assert_string_equal(got->case_record->holder, "station-baihe");
  assert_int_equal(got->case_record->state, MV_STATE(INTAKE));
  protobuf_c_message_free_unpacked(reply, NULL);
  rpc_client_free(coord);
  rpc_client_free(unit);
}

/* A client that cannot trust the router sends nothing and says why: a TLS
 * configuration error, and which (its own handshake at the first failure;
 * nng 1.5.2 says nothing). */
static void expect_refused(const char *ca, const char *server_name, const char *why) {
  rpc_client *c = client("station-baihe", ca, server_name);
  char id[64];
  mc_err err = {0};
  int64_t t0 = mc_mono_ms();
  mc_code rc = take_in(c, 1500, id, sizeof(id), &err);
  rpc_client_free(c);
  if (rc != MC_UNAVAILABLE)
    fail_msg("expected UNAVAILABLE with name %s, got %s: %s", server_name ? server_name : "(host)",
             mc_code_name(rc), err.msg);
  if (strstr(err.msg, "TLS 配置错误") == NULL || strstr(err.msg, why) == NULL)
    fail_msg("expected \"TLS 配置错误 ... %s\", got: %s", why, err.msg);
  assert_true(mc_mono_ms() - t0 < 5000);
}

static void test_wrong_server_name_refused(void **state) {
  (void)state;
  expect_refused(world.reg->router.tls_ca, "someone-else.test",
                 "does not carry the name tls_server_name");
}

static void test_other_ca_refused(void **state) {
  (void)state;
  expect_refused(other_ca, "router.test", "not signed by tls_ca (unknown CA");
}

static void test_ip_address_is_not_a_server_name(void **state) {
  (void)state;
  /* The certificate carries IP:127.0.0.1, but mbedTLS 2.28 matches only DNS
   * names: dialing by address without tls_server_name is refused. */
  expect_refused(world.reg->router.tls_ca, NULL, "does not carry the name tls_server_name");
}

static void test_router_serves_after_refusals(void **state) {
  (void)state;
  const mc_router_conf *r = &world.reg->router;
  rpc_client *unit = client("station-baihe", r->tls_ca, r->tls_server_name);
  char id[64];
  mc_err err = {0};
  assert_int_equal(take_in(unit, 10000, id, sizeof(id), &err), MC_OK);
  rpc_client_free(unit);
}

int main(int argc, char **argv) {
  use_rsa = argc > 1 && strcmp(argv[1], "--rsa") == 0;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signed_calls_over_tls),
      cmocka_unit_test(test_wrong_server_name_refused),
      cmocka_unit_test(test_other_ca_refused),
      cmocka_unit_test(test_ip_address_is_not_a_server_name),
      cmocka_unit_test(test_router_serves_after_refusals),
  };
  return cmocka_run_group_tests_name(use_rsa ? "tls-setup (RSA 2048) with the router"
                                             : "tls-setup (ECDSA P-256) with the router",
                                     tests, setup, teardown);
}
