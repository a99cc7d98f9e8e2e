/*
 * fuzz_pbjson.c - libFuzzer target for the JSON -> message mapper
 * (pj_to_message): the text scan, json-c's parse and the descriptor walk
 * that the web gateway runs on every request body a browser (or anyone)
 * sends.
 *
 * The first byte of an input chooses the message type (the gateway's
 * request types, and deep, string-heavy records such as Case and DeskReply
 * so that nesting, repeated fields and oneofs are reached); the rest is the
 * JSON text, passed with its length and no NUL after it, as the gateway
 * passes a body. Invariants checked on every input:
 *   - a refusal is INVALID_ARGUMENT (or RESOURCE_EXHAUSTED), with a message
 *     and no message built;
 *   - an accepted message passes protobuf_c_message_check, packs, and goes
 *     round: printed by pj_to_text and read back it packs to the same bytes
 *     (one shape both ways);
 *   - freeing it with protobuf_c_message_free_unpacked frees everything
 *     (LeakSanitizer).
 * A crash, hang, leak, sanitizer report or a broken invariant is a finding.
 *
 * Build: CC=clang cmake -S . -B build-fuzz -DMEDIATION_FUZZ=ON
 *        cmake --build build-fuzz --target fuzz_pbjson
 * Run:   build-fuzz/fuzz/fuzz_pbjson -max_total_time=60 NEW_DIR fuzz/corpus/pbjson
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mv1.h"
#include "pbjson/pbjson.h"

/* The order is the seed corpus's: fuzz/corpus/pbjson/<n>-* start with byte n. */
static const ProtobufCMessageDescriptor *const types[] = {
    &mediation__v1__desk_take_in_request__descriptor,  /* 0 */
    &mediation__v1__desk_act_request__descriptor,      /* 1 */
    &mediation__v1__desk_list_request__descriptor,     /* 2 */
    &mediation__v1__desk_show_request__descriptor,     /* 3 */
    &mediation__v1__desk_dismiss_request__descriptor,  /* 4 */
    &mediation__v1__get_case_request__descriptor,      /* 5 */
    &mediation__v1__list_cases_request__descriptor,    /* 6 */
    &mediation__v1__get_figures_request__descriptor,   /* 7 */
    &mediation__v1__list_access_request__descriptor,   /* 8 */
    &mediation__v1__case__descriptor,                  /* 9 */
    &mediation__v1__desk_reply__descriptor,            /* 10 */
    &mediation__v1__get_figures_reply__descriptor,     /* 11 */
    &mediation__v1__delivery__descriptor,              /* 12 */
    &mediation__v1__verify_reply__descriptor,          /* 13 */
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *bytes = malloc(*len ? *len : 1);
  if (bytes == NULL || protobuf_c_message_pack(m, bytes) != *len)
    abort();
  return bytes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const ProtobufCMessageDescriptor *desc = types[data[0] % N_TYPES];
  /* A copy of exactly the text: reading past it is then an ASan report. */
  size_t len = size - 1;
  char *text = malloc(len ? len : 1);
  if (text == NULL)
    return 0;
  memcpy(text, data + 1, len);
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  mc_code rc = pj_to_message(desc, text, len, &m, &err);
  free(text);
  if (rc != MC_OK) {
    if ((rc != MC_INVALID_ARGUMENT && rc != MC_RESOURCE_EXHAUSTED) || m != NULL ||
        err.msg[0] == '\0') {
      fprintf(stderr, "refusal broke the contract: code %d, msg \"%s\"\n", rc, err.msg);
      abort();
    }
    return 0;
  }
  if (m == NULL || m->descriptor != desc || !protobuf_c_message_check(m))
    abort();
  size_t n1, n2, tlen;
  uint8_t *b1 = pack(m, &n1);
  char *again = pj_to_text(m, &tlen);
  if (again == NULL)
    abort();
  ProtobufCMessage *back = NULL;
  if (pj_to_message(desc, again, tlen, &back, &err) != MC_OK) {
    fprintf(stderr, "printed JSON does not read back: %s\n%s\n", err.msg, again);
    abort();
  }
  uint8_t *b2 = pack(back, &n2);
  if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
    fprintf(stderr, "round trip changed the message:\n%s\n", again);
    abort();
  }
  free(b1);
  free(b2);
  free(again);
  protobuf_c_message_free_unpacked(back, NULL);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}
