/*
 * fault.c - the countdown behind fault.h, and the --wrap'd allocators that
 * consult it. Atomics, not a lock: nng's threads may allocate through our
 * code (a server's reply) while a test waits.
 */
#include "fault.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>

static atomic_long fail_at;    /* 0: off */
static atomic_bool persistent;
static atomic_long counted;
static atomic_bool failed;

void fault_arm(long n, bool persist) {
  atomic_store(&fail_at, 0);
  atomic_store(&counted, 0);
  atomic_store(&failed, false);
  atomic_store(&persistent, persist);
  atomic_store(&fail_at, n);
}

long fault_disarm(void) {
  atomic_store(&fail_at, 0);
  return atomic_load(&counted);
}

bool fault_hit(void) { return atomic_load(&failed); }

bool fault_armed(void) { return atomic_load(&fail_at) != 0; }

/* True if this allocation is to fail. */
static bool fault_now(void) {
  long at = atomic_load(&fail_at);
  if (at == 0)
    return false;
  long n = atomic_fetch_add(&counted, 1) + 1;
  if (n == at || (n > at && atomic_load(&persistent))) {
    atomic_store(&failed, true);
    return true;
  }
  return false;
}

/* The linker's names for the originals (-Wl,--wrap=X). */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
ProtobufCMessage *__real_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
                                                   ProtobufCAllocator *allocator, size_t len,
                                                   const uint8_t *data);
int __real_nng_msg_alloc(nng_msg **msg, size_t size);
int __real_nng_msg_dup(nng_msg **dup, const nng_msg *src);
int __real_nng_msg_append(nng_msg *msg, const void *data, size_t size);
int __real_mdb_env_create(MDB_env **env);
int __real_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int __real_mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
ProtobufCMessage *__wrap_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
                                                   ProtobufCAllocator *allocator, size_t len,
                                                   const uint8_t *data);
int __wrap_nng_msg_alloc(nng_msg **msg, size_t size);
int __wrap_nng_msg_dup(nng_msg **dup, const nng_msg *src);
int __wrap_nng_msg_append(nng_msg *msg, const void *data, size_t size);
int __wrap_mdb_env_create(MDB_env **env);
int __wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int __wrap_mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);

void *__wrap_malloc(size_t n) {
  if (fault_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  if (fault_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_calloc(n, size);
}

/* realloc(p, 0) frees: never a failure to inject. */
void *__wrap_realloc(void *p, size_t n) {
  if (n != 0 && fault_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s) {
  if (fault_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n) {
  if (fault_now()) {
    errno = ENOMEM;
    return NULL;
  }
  return __real_strndup(s, n);
}

/* protobuf-c's default allocator calls libc from inside the library, out
 * of the wrap's reach: an unpack given none (the generated *__unpack(NULL,
 * ...) calls) gets this one, which allocates through the wrapped malloc. */
static void *pb_alloc(void *allocator_data, size_t size) {
  (void)allocator_data;
  return __wrap_malloc(size);
}

static void pb_free(void *allocator_data, void *p) {
  (void)allocator_data;
  free(p);
}

static ProtobufCAllocator pb_allocator = {.alloc = pb_alloc, .free = pb_free};

ProtobufCMessage *__wrap_protobuf_c_message_unpack(const ProtobufCMessageDescriptor *desc,
                                                   ProtobufCAllocator *allocator, size_t len,
                                                   const uint8_t *data) {
  return __real_protobuf_c_message_unpack(desc, allocator ? allocator : &pb_allocator, len,
                                          data);
}

int __wrap_nng_msg_alloc(nng_msg **msg, size_t size) {
  if (fault_now())
    return NNG_ENOMEM;
  return __real_nng_msg_alloc(msg, size);
}

int __wrap_nng_msg_dup(nng_msg **dup, const nng_msg *src) {
  if (fault_now())
    return NNG_ENOMEM;
  return __real_nng_msg_dup(dup, src);
}

int __wrap_nng_msg_append(nng_msg *msg, const void *data, size_t size) {
  if (fault_now())
    return NNG_ENOMEM;
  return __real_nng_msg_append(msg, data, size);
}

int __wrap_mdb_env_create(MDB_env **env) {
  if (fault_now())
    return ENOMEM;
  return __real_mdb_env_create(env);
}

int __wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn) {
  if (fault_now())
    return ENOMEM;
  return __real_mdb_txn_begin(env, parent, flags, txn);
}

int __wrap_mdb_cursor_open(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor) {
  if (fault_now())
    return ENOMEM;
  return __real_mdb_cursor_open(txn, dbi, cursor);
}

/* ---- The sweep ---- */

/* Past this many allocations an operation is not "cheap" any more. */
#define FAULT_MAX_RUNS 5000

static bool code_allowed(const fault_op *o, mc_code rc) {
  for (size_t i = 0; i < sizeof(o->allowed) / sizeof(o->allowed[0]) && o->allowed[i] != MC_OK; i++)
    if (o->allowed[i] == rc)
      return true;
  return false;
}

/* op with faults off, which must succeed. */
static void run_clean(const fault_op *o, void *arg, long n) {
  mc_err err = {0};
  mc_code rc = o->op(arg, &err);
  if (rc == MC_OK && o->outcome != NULL)
    rc = o->outcome(arg, &err);
  if (rc != MC_OK)
    fail_msg("%s: the retry after allocation %ld failed: %s: %s", o->what, n,
             mc_code_name(rc), err.msg);
}

unsigned fault_sweep(const fault_op *o, void *arg, bool persist) {
  unsigned failures = 0;
  for (long n = 1; n <= FAULT_MAX_RUNS; n++) {
    if (o->prepare)
      o->prepare(arg);
    mc_err err = {0};
    fault_arm(n, persist);
    mc_code rc = o->op(arg, &err);
    bool hit = fault_hit();
    fault_disarm();
    if (rc == MC_OK && o->outcome != NULL)
      rc = o->outcome(arg, &err);
    if (!hit) {
      if (rc != MC_OK)
        fail_msg("%s: failed with no allocation failing: %s: %s", o->what, mc_code_name(rc),
                 err.msg);
      o->done(arg);
      print_message("%s: %u failures of %ld allocations (%s), each reported\n", o->what,
                    failures, n - 1, persist ? "every one from the nth" : "the nth");
      return failures;
    }
    if (rc != MC_OK) {
      failures++;
      if (getenv("FAULT_VERBOSE") != NULL)
        print_message("%s: allocation %ld: %s \"%s\"\n", o->what, n, mc_code_name(rc), err.msg);
      if (!code_allowed(o, rc) || err.msg[0] == '\0')
        fail_msg("%s: allocation %ld failed%s: reported as %s \"%s\"", o->what, n,
                 persist ? " (and every later one)" : "", mc_code_name(rc), err.msg);
      if (o->unchanged)
        o->unchanged(arg);
      run_clean(o, arg, n);
    }
    o->done(arg);
  }
  fail_msg("%s: still allocating after %d runs", o->what, FAULT_MAX_RUNS);
  return failures;
}
