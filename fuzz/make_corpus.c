/*
 * make_corpus.c - writes the dispatch fuzzer's seed corpus: a few valid
 * request envelopes signed by the fuzz principal's fixed key, one per path
 * worth starting from (Echo with text, a refusal, an oversize reply, Ping,
 * Health, Reflection, RpcSession/Open), and one MAC'd under a made-up
 * session. Their deadlines will have passed by the time they are used, and
 * the session is unknown to the fuzzer's server; the fuzzer re-signs and
 * re-MACs each input with a fresh deadline and its own session.
 *
 * usage: make_corpus DIR
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "fuzz_common.h"
#include "mediation/v1/testing.pb-c.h"
#include "mv1.h"

/* A made-up session, for the MAC'd seed: only the fields' shapes matter. */
static const uint8_t seed_session_id[RPC_SESSION_ID_BYTES] = "seed-session-id";
static const uint8_t seed_session_key[RPC_SESSION_KEY_BYTES] = "seed-session-key, not a secret";

static int write_one(const char *dir, const char *name, const rpc_key *key, const char *service,
                     const char *method, const ProtobufCMessage *msg) {
  uint8_t *buf;
  size_t len;
  mc_err err = {0};
  uint8_t rid[RPC_REQUEST_ID_BYTES] = "seed-request-id";
  mc_code rc =
      key != NULL
          ? rpc_request_encode(key, service, method, msg, mc_now_ms() + 60000, rid,
                               FUZZ_MAX_MESSAGE, &buf, &len, &err)
          : rpc_request_encode_mac(FUZZ_PRINCIPAL, seed_session_id, seed_session_key, service,
                                   method, msg, mc_now_ms() + 60000, rid, FUZZ_MAX_MESSAGE, &buf,
                                   &len, &err);
  if (rc != MC_OK) {
    fprintf(stderr, "make_corpus: %s: %s\n", name, err.msg);
    return 1;
  }
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  int bad = f == NULL || fwrite(buf, 1, len, f) != len;
  if (f != NULL && fclose(f) != 0)
    bad = 1;
  free(buf);
  if (bad)
    fprintf(stderr, "make_corpus: cannot write %s\n", path);
  return bad;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  uint8_t seed[RPC_SEED_BYTES];
  fuzz_seed(seed);
  rpc_key *key = NULL;
  mc_err err = {0};
  if (rpc_key_from_seed(FUZZ_PRINCIPAL, seed, &key, &err) != MC_OK) {
    fprintf(stderr, "make_corpus: %s\n", err.msg);
    return 1;
  }
  int bad = 0;
  Mediation__V1__EchoRequest echo = MEDIATION__V1__ECHO_REQUEST__INIT;
  echo.text = "白鹤街道 调解";
  echo.tag = 1;
  bad |= write_one(argv[1], "echo-text", key, "mediation.v1.Echo", "Echo", &echo.base);
  Mediation__V1__EchoRequest fail = MEDIATION__V1__ECHO_REQUEST__INIT;
  fail.fail_code = MV_STATUS(FAILED_PRECONDITION);
  bad |= write_one(argv[1], "echo-fail", key, "mediation.v1.Echo", "Echo", &fail.base);
  Mediation__V1__EchoRequest big = MEDIATION__V1__ECHO_REQUEST__INIT;
  big.reply_bytes = FUZZ_MAX_MESSAGE + 1;
  uint8_t blob[16] = {0, 1, 2, 3};
  big.blob = (ProtobufCBinaryData){sizeof(blob), blob};
  bad |= write_one(argv[1], "echo-big-reply", key, "mediation.v1.Echo", "Echo", &big.base);
  Mediation__V1__EchoEmpty ping = MEDIATION__V1__ECHO_EMPTY__INIT;
  bad |= write_one(argv[1], "ping", key, "mediation.v1.Echo", "Ping", &ping.base);
  Mediation__V1__HealthCheckRequest health = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  health.service = "mediation.v1.Echo";
  bad |= write_one(argv[1], "health", key, "mediation.v1.Health", "Check", &health.base);
  Mediation__V1__ListServicesRequest list = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  bad |= write_one(argv[1], "reflection", key, "mediation.v1.Reflection", "ListServices",
                   &list.base);
  bad |= write_one(argv[1], "unknown-method", key, "mediation.v1.Echo", "Nope", &ping.base);
  Mediation__V1__SessionOpenRequest open = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
  uint8_t client_pk[RPC_KX_KEY_BYTES];
  for (int i = 0; i < RPC_KX_KEY_BYTES; i++)
    client_pk[i] = (uint8_t)(9 + i); /* any 32 bytes: X25519 takes every string as a key */
  open.client_public_key = (ProtobufCBinaryData){sizeof(client_pk), client_pk};
  bad |= write_one(argv[1], "session-open", key, "mediation.v1.RpcSession", "Open", &open.base);
  bad |= write_one(argv[1], "echo-mac", NULL, "mediation.v1.Echo", "Echo", &echo.base);

  /* The real contract's deep types, served by the fuzzer's stubs. */
  Mediation__V1__Party party = MEDIATION__V1__PARTY__INIT;
  party.name = "张三";
  party.role = MV_PARTY(APPLICANT);
  party.phone = "13800000000";
  Mediation__V1__Party *parties[] = {&party, &party};
  Mediation__V1__Intake intake = MEDIATION__V1__INTAKE__INIT;
  intake.kind = MV_KIND(NEIGHBOUR);
  intake.community = "wangai";
  intake.grid = "第一网格";
  intake.n_parties = 2;
  intake.parties = parties;
  intake.money_fen = 1234500;
  intake.summary = "邻里纠纷 summary";
  intake.unit_ref = "PS-2026-0007";
  Mediation__V1__CaseAction action = MEDIATION__V1__CASE_ACTION__INIT;
  action.kind = MV_ACTION(TAKE_IN);
  action.person = "老支书";
  action.args_case = MV_ARGS(INTAKE);
  action.intake = &intake;
  Mediation__V1__ApplyRequest apply = MEDIATION__V1__APPLY_REQUEST__INIT;
  apply.action = &action;
  bad |= write_one(argv[1], "router-apply", key, "mediation.v1.Router", "Apply", &apply.base);
  Mediation__V1__DeskTakeInRequest take = MEDIATION__V1__DESK_TAKE_IN_REQUEST__INIT;
  take.intake = &intake;
  take.person = "王";
  bad |= write_one(argv[1], "desk-take-in", key, "mediation.v1.Desk", "TakeIn", &take.base);
  rpc_key_free(key);
  return bad;
}
