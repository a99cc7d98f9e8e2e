/*
 * crash.h - the plan the crash child follows and the parent checks: which
 * batches exist, how many ops each holds, and the request ids that mark
 * them in the store.
 */
#ifndef CRASH_H
#define CRASH_H

#include <stdint.h>
#include <stdio.h>

/* Batch b holds 1 to 6 ops, a pseudo-random but fixed number. */
static inline int crash_ops(uint64_t b) {
  return 1 + (int)(((b * 2654435761u) >> 7) % 6);
}

/* The request id of op j of batch b: every op stores an idempotency reply
 * under it, so the parent can ask, op by op, whether a batch is in. */
static inline void crash_request_id(uint64_t b, int j, char *buf, size_t cap) {
  snprintf(buf, cap, "b%llu-%d-%d", (unsigned long long)b, j, crash_ops(b));
}

/* The outbox entry pushed after batch b committed. */
static inline void crash_outbox_id(uint64_t b, char *buf, size_t cap) {
  snprintf(buf, cap, "b%llu", (unsigned long long)b);
}

#endif /* CRASH_H */
