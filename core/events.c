/*
 * events.c - what follows from a recorded event, apart from the case it
 * makes: its hash in the case file's chain (SHA-256 of the packed event,
 * each event carrying the hash of the one before), and the unit it is
 * delivered to (a handoff's receiver, as the action table says). Split
 * from machine.c, which decides the step.
 */
#include "core/machine.h"

#include <sodium.h>

#include "core/actions.h"
#include "core/effects.h"

typedef struct hash_sink {
  ProtobufCBuffer base;
  crypto_hash_sha256_state st;
} hash_sink;

static void hash_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data) {
  hash_sink *h = (hash_sink *)buf;
  crypto_hash_sha256_update(&h->st, data, len);
}

/* Packs straight into the hash: no buffer to allocate, so it cannot fail. */
void mc_event_hash(const mv_event *event, uint8_t out[MC_HASH_BYTES]) {
  hash_sink h = {.base = {.append = hash_append}};
  crypto_hash_sha256_init(&h.st);
  protobuf_c_message_pack_to_buffer(&event->base, &h.base);
  crypto_hash_sha256_final(&h.st, out);
}

void mc_event_hash_packed(const uint8_t *packed, size_t len, uint8_t out[MC_HASH_BYTES]) {
  crypto_hash_sha256(out, packed, len);
}

/* ---- deliveries ---- */

size_t mc_deliveries_for(const mv_event *event, mc_delivery_target out[2]) {
  if (event == NULL || event->action == NULL)
    return 0;
  const mv_action *a = event->action;
  if (a->args_case != MV_ARGS(TO_UNIT) || mc_str_empty(a->to_unit))
    return 0;
  const mc_action_def *def = mc_action_def_of(a->kind);
  if (def == NULL || def->delivery == 0)
    return 0;
  if (def->handoff_only_in_transfer && event->from_state != MV_STATE(TRANSFER))
    return 0;
  out[0].unit = a->to_unit;
  out[0].kind = def->delivery;
  return 1;
}
