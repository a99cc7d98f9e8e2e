/*
 * fault.h - allocation-failure injection in SQLite's manner, for the tests
 * under tests/fault only. Those programs are linked with
 * -Wl,--wrap=malloc,... (tests/fault/CMakeLists.txt), so every allocation
 * our own objects make (core, storage, rpc, proto, and the test itself)
 * goes through this module; libc's, nng's and LMDB's internal ones do not.
 *
 * Besides malloc, calloc, realloc, strdup and strndup: an unpack that
 * names no allocator gets one that allocates through the wrapped malloc
 * (protobuf-c's default one would call libc from inside the library);
 * mdb_env_create, mdb_txn_begin and mdb_cursor_open count as one
 * allocation each, failing with ENOMEM as LMDB does when its malloc fails;
 * nng_msg_alloc, nng_msg_dup and nng_msg_append fail with NNG_ENOMEM.
 */
#ifndef FAULT_H
#define FAULT_H

#include <stdbool.h>

#include "core/status.h"

/* From now on, the nth allocation (1-based) fails; with persist, every
 * allocation from the nth on fails. n 0: nothing fails (the default).
 * Resets the counters. */
void fault_arm(long n, bool persist);
/* Turns failures off; returns the number of allocations counted since
 * fault_arm. */
long fault_disarm(void);
/* True if an allocation failed since fault_arm. */
bool fault_hit(void);
/* True between fault_arm and fault_disarm. */
bool fault_armed(void);


/* ---- The sweep: one operation with the 1st, 2nd, ... allocation failing ---- */

/* One operation to sweep. Every callback but op runs with faults off. */
typedef struct fault_op {
  const char *what;
  /* Puts in place the state op starts from (may be NULL). */
  void (*prepare)(void *arg);
  /* The operation, under faults: its code, err says why when not OK. */
  mc_code (*op)(void *arg, mc_err *err);
  /* May be NULL: when op returned OK, the code its result carries (a reply
   * envelope's status), message in err. */
  mc_code (*outcome)(void *arg, mc_err *err);
  /* After a failed op: asserts that nothing was half-written (may be NULL). */
  void (*unchanged)(void *arg);
  /* After op succeeded: asserts its effect and frees what it returned. */
  void (*done)(void *arg);
  /* The codes a failure may report (MC_OK ends the list). */
  mc_code allowed[3];
} fault_op;

/* For n = 1, 2, ...: prepare, op with the nth allocation failing (and
 * every later one too with persist), then, if it failed, the code is one
 * of allowed with a message, unchanged holds, and op again with faults off
 * succeeds; done either way. Stops at the first n whose op met no failure.
 * Fails the test otherwise. Returns the number of runs that met a failure.
 * FAULT_VERBOSE=1 in the environment prints each failure as reported. */
unsigned fault_sweep(const fault_op *o, void *arg, bool persist);

#endif /* FAULT_H */
