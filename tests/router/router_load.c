/*
 * router_load.c - a load generator for the router kill test: as one unit,
 * takes N cases in and hands each to another unit, retrying every request
 * with its own request id until the router gives an answer, whatever
 * happens to the router in between.
 *
 * Request ids are derived from (unit, case number, step), so a request
 * retried after the router was killed is the same request: the router
 * answers it from its idempotency record if it had committed it. Each
 * answered step is written to the output file as "<step> <n> <case id>".
 *
 * Usage: router_load CONF UNIT TO_UNIT COUNT OUT_FILE
 * Exit: 0 all answered OK; 1 a refusal or a step that never got an answer.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/registry.h"
#include "mv1.h"
#include "router_proc.h"
#include "rpc/rpc.h"

#define GIVE_UP_MS 90000

static void request_id(const char *unit, int n, const char *step, uint8_t id[16]) {
  char text[128];
  int len = snprintf(text, sizeof(text), "%s/%d/%s", unit, n, step);
  crypto_generichash(id, 16, (const uint8_t *)text, (size_t)len, NULL, 0);
}

/* Applies action until an answer comes; *reply is the ApplyReply on OK. */
static mc_code apply_until_answered(rpc_client *c, const mv_action *action, const uint8_t id[16],
                                    Mediation__V1__ApplyReply **reply, mc_err *err) {
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = (mv_action *)action;
  int64_t give_up = mc_mono_ms() + GIVE_UP_MS;
  for (;;) {
    rpc_call_opts opts = {.request_id = id, .timeout_ms = 3000};
    ProtobufCMessage *out = NULL;
    mc_code rc = rpc_client_call(c, &mediation__v1__router__descriptor, "Apply", &req.base, &opts,
                                 &out, err);
    if (rc == MC_OK) {
      *reply = (Mediation__V1__ApplyReply *)out;
      return rc;
    }
    /* The router is down or restarting: the outcome is unknown, so ask
     * again with the same id. Anything else is a real answer. */
    if (rc != MC_UNAVAILABLE && rc != MC_DEADLINE_EXCEEDED)
      return rc;
    if (mc_mono_ms() > give_up)
      return rc;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: router_load CONF UNIT TO_UNIT COUNT OUT_FILE\n");
    return 2;
  }
  const char *unit = argv[2], *to = argv[3];
  int count = atoi(argv[4]);
  mc_registry *reg = NULL;
  rpc_key *key = NULL;
  rpc_client *client = NULL;
  mc_err err;
  if (sodium_init() < 0 || mc_registry_load(argv[1], &reg, &err) != MC_OK ||
      rpc_key_load(reg->keys_dir, unit, &key, &err) != MC_OK ||
      rpc_client_create(reg->router.endpoint, key, &reg->limits, NULL, &client, &err) != MC_OK) {
    fprintf(stderr, "router_load: %s\n", err.msg);
    return 1;
  }
  FILE *out = fopen(argv[5], "w");
  if (out == NULL) {
    perror(argv[5]);
    return 1;
  }
  setvbuf(out, NULL, _IOLBF, 0);
  int status = 0;
  for (int n = 0; n < count && status == 0; n++) {
    char ref[32];
    snprintf(ref, sizeof(ref), "L-%d", n);
    tr_take_in take;
    tr_take_in_init(&take, "某甲", ref);
    uint8_t id[16];
    request_id(unit, n, "take_in", id);
    Mediation__V1__ApplyReply *r = NULL;
    mc_code rc = apply_until_answered(client, &take.action, id, &r, &err);
    if (rc != MC_OK) {
      fprintf(stderr, "router_load %s: take_in %d: %s: %s\n", unit, n, mc_code_name(rc), err.msg);
      status = 1;
      break;
    }
    char case_id[64];
    snprintf(case_id, sizeof(case_id), "%s", r->case_record->id);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    fprintf(out, "take_in %d %s\n", n, case_id);

    mv_action hand = MEDIATION__V1__CASE_ACTION__INIT;
    hand.kind = MV_ACTION(TRANSFER);
    hand.case_ref = case_id;
    hand.reason = "load";
    hand.args_case = MV_ARGS(TO_UNIT);
    hand.to_unit = (char *)to;
    request_id(unit, n, "transfer", id);
    rc = apply_until_answered(client, &hand, id, &r, &err);
    if (rc != MC_OK) {
      fprintf(stderr, "router_load %s: transfer %d: %s: %s\n", unit, n, mc_code_name(rc), err.msg);
      status = 1;
      break;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    fprintf(out, "transfer %d %s\n", n, case_id);
  }
  fclose(out);
  rpc_client_free(client);
  rpc_key_free(key);
  mc_registry_free(reg);
  return status;
}
