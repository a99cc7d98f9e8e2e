/*
 * internal.h - what the storage files share and nothing outside storage/
 * sees: the environment (gate, batch runner, map growth), key building, and
 * typed get/put helpers. Prefix sti_.
 */
#ifndef ST_INTERNAL_H
#define ST_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "mv1.h"
#include "storage/txn.h"

/* LMDB's default (and, in 0.9.24, fixed) maximum key size. */
#define STI_KEY_MAX 511

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

/* Checks the schema version in meta's "schema" counter: writes `version`
 * into a new environment (one whose `data` database is empty), refuses
 * another version with FAILED_PRECONDITION. */
mc_code sti_schema_check(sti_env *e, sti_kind kind, void *owner, MDB_dbi meta, MDB_dbi data,
                         uint64_t version, mc_err *err);

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

/* ---- Keys ------------------------------------------------------------------- */

/* A key under construction. Appends past STI_KEY_MAX set `over` instead of
 * writing; sti_key_ok reports it. */
typedef struct sti_key {
  uint8_t b[STI_KEY_MAX];
  size_t n;
  bool over;
} sti_key;

void sti_key_init(sti_key *k);
void sti_key_raw(sti_key *k, const void *p, size_t n);
void sti_key_str(sti_key *k, const char *s);  /* the string without its NUL */
void sti_key_strz(sti_key *k, const char *s); /* the string and a NUL separator */
void sti_key_u8(sti_key *k, unsigned v);
void sti_key_u16(sti_key *k, unsigned v);
void sti_key_u32(sti_key *k, uint32_t v);
void sti_key_u64(sti_key *k, uint64_t v);
void sti_key_time(sti_key *k, int64_t ms); /* sign bit flipped: sorts as a number */
bool sti_key_ok(const sti_key *k);

uint64_t sti_get_u64(const uint8_t *p);
uint32_t sti_get_u32(const uint8_t *p);
int64_t sti_get_time(const uint8_t *p);
void sti_put_u64(uint8_t *p, uint64_t v);

/* True if [p, p+n) starts with the prefix. */
bool sti_has_prefix(const MDB_val *v, const uint8_t *prefix, size_t n);

/* ---- Typed access ----------------------------------------------------------- */

/* Reads a value. MC_OK with *val pointing into the map (valid until the
 * transaction ends or writes that key), NOT_FOUND, or an LMDB error. */
mc_code sti_get(st_txn *t, MDB_dbi dbi, const void *key, size_t klen, MDB_val *val,
                mc_err *err);

/* Reads and unpacks a message. NOT_FOUND; DATA_LOSS (with `what` and `name`
 * in the message) if the bytes do not decode. Caller frees *out. */
mc_code sti_get_msg(st_txn *t, MDB_dbi dbi, const void *key, size_t klen,
                    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                    const char *what, const char *name, mc_err *err);

/* Unpacks stored bytes; DATA_LOSS naming what and name if they do not
 * decode. */
mc_code sti_unpack(const MDB_val *val, const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **out, const char *what, const char *name, mc_err *err);

/* Writes (packing msg straight into the page with MDB_RESERVE). A failure of
 * LMDB marks the transaction dead (t->failed). flags: 0 or MDB_NOOVERWRITE
 * (ALREADY_EXISTS if the key exists; that does not kill the transaction). */
mc_code sti_put(st_txn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data,
                size_t len, unsigned flags, mc_err *err);
mc_code sti_put_msg(st_txn *t, MDB_dbi dbi, const void *key, size_t klen,
                    const ProtobufCMessage *msg, unsigned flags, mc_err *err);

/* Deletes a key; *existed (may be NULL) says whether it was there. */
mc_code sti_del(st_txn *t, MDB_dbi dbi, const void *key, size_t klen, bool *existed,
                mc_err *err);

/* A counter in a meta database: 8 bytes big-endian. Absent reads as 0;
 * any other length is DATA_LOSS. */
mc_code sti_counter_get(st_txn *t, MDB_dbi meta, const char *name, uint64_t *out, mc_err *err);
mc_code sti_counter_set(st_txn *t, MDB_dbi meta, const char *name, uint64_t v, mc_err *err);
/* Adds delta (which may be negative) and writes the result to *out (may be
 * NULL). INTERNAL if the counter would go below 0 or wrap. */
mc_code sti_counter_add(st_txn *t, MDB_dbi meta, const char *name, int64_t delta,
                        uint64_t *out, mc_err *err);

/* A cursor on dbi, closed with mdb_cursor_close. */
mc_code sti_cursor(st_txn *t, MDB_dbi dbi, MDB_cursor **out, mc_err *err);

/* Packs a message into a new buffer (freed with free). */
mc_code sti_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len, mc_err *err);

/* ---- Shared key layouts ----------------------------------------------------- */

/* unit \0 ref \0 target: the alias of a case (store) or of a local case
 * (outbox). */
void sti_alias_key(sti_key *k, const char *unit, const char *ref, const char *target);

/* Looks up the target of an alias: the entry whose key starts with
 * unit \0 ref \0. Copies the target (NUL-terminated) into out (cap bytes).
 * NOT_FOUND if there is none; DATA_LOSS for a malformed entry. */
mc_code sti_alias_find(st_txn *t, MDB_dbi dbi, const char *unit, const char *ref, char *out,
                       size_t cap, mc_err *err);

#endif /* ST_INTERNAL_H */
