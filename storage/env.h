/*
 * env.h - the LMDB layer's environment (env.c), shared by the case store and
 * a unit's outbox and seen by nothing outside storage/: the admission gate,
 * transactions, the batch runner with map growth, and LMDB's errors as
 * mc_codes. Prefix sti_. Keys and typed values built on it are kv.h's.
 */
#ifndef ST_ENV_H
#define ST_ENV_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "storage/txn.h"

/* ---- Environment ------------------------------------------------------------ */

/* Admission of transactions against map growth. mdb_env_set_mapsize is only
 * safe when no transaction is open in the process, and LMDB does not check.
 * Every transaction (read or write) is "shared" for its whole life; the
 * grower is "exclusive". A pending exclusive request stops new shared
 * entries, so a steady stream of readers cannot starve it. A mutex and a
 * condition variable rather than a pthread rwlock: a read transaction may
 * end on another thread than the one that began it (MDB_NOTLS), and a
 * rwlock must be unlocked by the thread that locked it. */
typedef struct sti_gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned shared;     /* transactions open */
  bool want_exclusive; /* a grower is waiting for shared to reach 0 */
  bool exclusive;      /* a grower is resizing */
} sti_gate;

/* Which kind of environment a transaction belongs to, so that a store
 * function handed an outbox transaction (or the reverse) refuses it. */
typedef enum sti_kind {
  STI_STORE = 1,
  STI_OUTBOX = 2,
} sti_kind;

typedef struct sti_env_options {
  const char *dir;
  size_t map_size;
  size_t max_map_size;
  unsigned max_readers;
  bool nosync;
  const char *what;         /* "store" or "outbox", for messages */
  const char *const *names; /* the named databases */
  size_t n_names;
  MDB_dbi *dbis;            /* filled with n_names handles */
} sti_env_options;

typedef struct sti_env {
  MDB_env *env;
  sti_gate gate;
  pthread_mutex_t write_mu; /* one batch at a time, and only its thread grows the map */
  size_t max_map_size;      /* page-aligned */
  size_t page;              /* OS page size */
  char what[16];
  bool gate_ready, mu_ready;
} sti_env;

/* Opens the environment in o->dir and the named databases, with map growth
 * at open too (a tiny initial map may not hold the database names). */
mc_code sti_env_open(sti_env *e, const sti_env_options *o, mc_err *err);
void sti_env_close(sti_env *e);

mc_code sti_env_reader_check(sti_env *e, int *cleared, mc_err *err);
mc_code sti_env_backup(sti_env *e, const char *path, mc_err *err);
size_t sti_env_map_size(sti_env *e);

/* A transaction: read (st_read_begin) or write (a batch callback's nested
 * transaction). */
struct st_txn {
  sti_env *env;
  MDB_txn *txn;
  sti_kind kind;
  void *owner;  /* the st_store or st_outbox */
  bool write;
  bool heap;    /* allocated by sti_read_begin, freed by st_read_end */
  int failed;   /* the LMDB error that killed this write transaction; 0 while alive */
  bool wrote;   /* a put or delete went through it (checks st_op.direct's promise) */
};

mc_code sti_read_begin(sti_env *e, sti_kind kind, void *owner, st_txn **out, mc_err *err);

/* The batch runner (see txn.h). */
mc_code sti_write(sti_env *e, sti_kind kind, void *owner, st_op *ops, size_t n, mc_err *err);

/* The mc_code for an LMDB or errno return, and an error message naming what
 * failed ("store: mdb_put cases: MDB_MAP_FULL: ..."). */
mc_code sti_code(int rc);
mc_code sti_lmdb_err(mc_err *err, int rc, const char *what, const char *op);

/* FAILED_PRECONDITION unless txn is a live write transaction of the kind. */
mc_code sti_check_write(st_txn *txn, sti_kind kind, mc_err *err);
/* INVALID_ARGUMENT unless txn is a transaction of the kind. */
mc_code sti_check_kind(st_txn *txn, sti_kind kind, mc_err *err);

#endif /* ST_ENV_H */
