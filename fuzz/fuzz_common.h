/*
 * fuzz_common.h - the deployment the dispatch fuzzer serves: one principal
 * with a fixed key (so the seed corpus, made by make_corpus.c, is signed by
 * the key the fuzzer verifies with) and a small message limit.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <string.h>

#include "rpc/rpc.h"

#define FUZZ_PRINCIPAL "fuzz-unit"
#define FUZZ_MAX_MESSAGE 65536

/* The fixed seed of FUZZ_PRINCIPAL's key: "fuzz" repeated. Test data only. */
static inline void fuzz_seed(uint8_t seed[RPC_SEED_BYTES]) {
  for (int i = 0; i < RPC_SEED_BYTES; i++)
    seed[i] = (uint8_t)"fuzz"[i % 4];
}

/* The registry text naming FUZZ_PRINCIPAL with key's public half. */
static inline void fuzz_registry_text(const rpc_key *key, char *buf, size_t cap) {
  char pub[RPC_PUBLIC_KEY_B64_MAX];
  rpc_key_public_base64(key, pub);
  snprintf(buf, cap,
           "[subdistrict]\nname = fuzz\n"
           "[unit " FUZZ_PRINCIPAL "]\nkind = police\npublic_key = %s\n"
           "[limits]\nmax_message_bytes = %d\nmax_deadline_ahead_seconds = 60\n",
           pub, FUZZ_MAX_MESSAGE);
}

#endif
