/*
 * kv.h - keys and typed values on the LMDB layer (kv.c), for the case store
 * and a unit's outbox and nothing outside storage/: composite keys, packed
 * protobuf values, counters, the schema version and the alias layout both
 * use. Prefix sti_. Built on env.h, which knows nothing of it.
 */
#ifndef ST_KV_H
#define ST_KV_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "mv1.h"
#include "storage/env.h"

/* LMDB's default (and, in 0.9.24, fixed) maximum key size. */
#define STI_KEY_MAX 511

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

/* ---- Schema version --------------------------------------------------------- */

/* Checks the schema version in meta's "schema" counter: writes `version`
 * into a new environment (one whose `data` database is empty), refuses
 * another version with FAILED_PRECONDITION. */
mc_code sti_schema_check(sti_env *e, sti_kind kind, void *owner, MDB_dbi meta, MDB_dbi data,
                         uint64_t version, mc_err *err);

#endif /* ST_KV_H */
