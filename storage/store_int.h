/*
 * store_int.h - the case store's insides, shared by its files (store.c,
 * case_put.c, index.c, records.c, verify.c) and nothing else.
 */
#ifndef ST_STORE_INT_H
#define ST_STORE_INT_H

#include "storage/kv.h"
#include "core/machine.h"
#include "storage/store.h"

/* The layout described in store.h. 1: before signed heads, with the case
 * file under `events` keyed by case and seq; st_open upgrades it only when
 * asked (st_options.upgrade). */
#define STI_SCHEMA 2

/* The named databases, in the order of sti_store_db_names. */
enum {
  SDB_META,
  SDB_CASES,
  SDB_EVENTS_V1, /* schema 1's case files (id \0 seq -> event); empty since */
  SDB_CASE_LOG,  /* step -> event */
  SDB_CASE_FILES,/* id \0 seq -> step */
  SDB_ALIASES,
  SDB_IX_STATE,
  SDB_IX_HOLDER,
  SDB_IX_COMMUNITY,
  SDB_IX_KIND,
  SDB_IX_OFFERED,
  SDB_IX_INVOLVED,
  SDB_IX_DEADLINE,
  SDB_IDEM,
  SDB_IDEM_EXP,
  SDB_DELIVERIES,
  SDB_FIGURES,
  SDB_ACCESS,
  SDB_HEADS,
  SDB_IX_SEARCH, /* term \0 created(8) id (search.c) */
  SDB_COUNT
};

extern const char *const sti_store_db_names[SDB_COUNT];

struct st_store {
  sti_env env;
  MDB_dbi db[SDB_COUNT];
  char prefix[16];
  int utc_offset_minutes;
  int64_t idem_retention_ms;
  /* The largest leaf node LMDB keeps in its page (8-byte header, key and
   * value); a bigger one goes to overflow pages (LMDB's me_nodemax). */
  size_t node_max;
  st_sign_fn sign; /* NULL: heads are stored unsigned */
  bool has_search_key;
  uint8_t search_key[ST_SEARCH_KEY_BYTES]; /* keys the ID-number and phone terms (search.c) */
  uint64_t search_built; /* cases indexed when the search index was built on open */
  void *sign_arg;
};

/* The store of a transaction, after checking its kind (NULL if it is not a
 * store transaction; err is set). */
st_store *sti_store_of(st_txn *t, mc_err *err);

/* One key a case record implies: the database and the key. */
typedef struct sti_ixent {
  int db;
  sti_key key;
} sti_ixent;

/* Every index and alias key the record implies (no duplicates). *out is a
 * new array of *n entries (free with free). INVALID_ARGUMENT naming the case
 * if a field cannot be part of a key (too long, out of range). */
mc_code sti_case_keys(const st_store *s, const mv_case *c, sti_ixent **out, size_t *n,
                      mc_err *err);

/* Appends the search terms of the record (search.c) to *arr (grown with
 * realloc), each once. */
mc_code sti_search_keys(const st_store *s, const mv_case *c, sti_ixent **arr, size_t *n,
                        mc_err *err);

/* The st_apply_fn st_open runs: builds ix_search from every case record
 * when the store has none built with this key (arg: the store). */
mc_code sti_search_build(st_txn *t, void *arg, mc_err *err);

/* Splits an index key of database db (an SDB_IX_* or SDB_ALIASES) into the
 * case id (NUL-terminated) it points to, its order time and state (where
 * the key holds them; else 0). False if the key does not have the shape of
 * that index. */
bool sti_ix_parse(int db, const uint8_t *key, size_t n, char id[MC_CASE_ID_MAX], int64_t *at,
                  mv_state *state);

/* Keys of the other databases. */
void sti_event_key(sti_key *k, const char *case_id, uint32_t seq);
void sti_figure_key(sti_key *k, const mv_bucket *b);
bool sti_figure_key_parse(const uint8_t *key, size_t n, mv_bucket *b, char *unit, size_t ucap,
                          char *community, size_t ccap);
void sti_delivery_key(sti_key *k, const char *unit, uint64_t seq);
void sti_state_counter_name(char *buf, size_t cap, int state);

/* A case record's bytes -> owned message, checked against its key. */
mc_code sti_case_decode(const MDB_val *v, const char *key_id, mv_case **out, mc_err *err);

/* ---- Sealed case files (seal.c) ---- */

/* Appends an event to the case log under the next step and files it under
 * (case, seq) in case_files. Called by st_case_put after its checks. */
mc_code sti_event_append(st_txn *t, const char *case_id, uint32_t seq, const uint8_t *bytes,
                         size_t len, mc_err *err);

/* The stored bytes of event seq of a case (pointing into the map): through
 * case_files to the case log. NOT_FOUND if the case file has no such seq;
 * DATA_LOSS (naming the case and seq) if case_files points to a step the log
 * does not hold or holds malformed. *step (may be NULL) receives the step. */
mc_code sti_event_bytes(st_txn *t, const char *case_id, uint32_t seq, MDB_val *out,
                        uint64_t *step, mc_err *err);

/* Writes the case's head (signed if the store has a signer). Called by
 * st_case_put after its checks; a failure is LMDB's or the signer's
 * (UNAVAILABLE: the op is refused, nothing of it stays). */
mc_code sti_head_put(st_txn *t, const char *case_id, uint32_t seq,
                     const uint8_t hash[MC_HASH_BYTES], mc_err *err);

/* The bytes a head signature covers: lp(case id) be32(seq) hash. Returns
 * their length (at most 4 + MC_CASE_ID_MAX + 4 + MC_HASH_BYTES). */
size_t sti_head_signed_bytes(const char *case_id, uint32_t seq,
                             const uint8_t hash[MC_HASH_BYTES], uint8_t *out);

/* Verify's anchor check, in verify's snapshot: every case file as it stood at
 * the anchor's step, rebuilt from the store, must give the anchor's root.
 * Each finding goes to problem(arg, msg). MC_OK when the check ran. */
mc_code sti_anchor_check(st_txn *t, const st_anchor *a, void (*problem)(void *, const char *),
                         void *arg, mc_err *err);

/* Upgrades a schema-1 store in the open transaction: moves every case file
 * into the case log (steps in case and seq order) and gives every case a
 * head (signed if the store can sign). */
mc_code sti_upgrade_1_to_2(st_txn *t, mc_err *err);

#endif /* ST_STORE_INT_H */
