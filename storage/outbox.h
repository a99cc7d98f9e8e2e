/*
 * outbox.h - a unit's local store: the outbox of steps waiting to be
 * forwarded to the router, local copies of the unit's cases, conflicts to
 * show its operators, and a little bookkeeping. One LMDB environment in the
 * unit's data directory, run by the same machinery as the router's store
 * (txn.h: read transactions, batches, map growth, thread rules).
 *
 * Always durable: a step an operator was told is queued survives a crash
 * (there is no nosync option here; handoffs are never MDB_NOSYNC).
 *
 * Layout (named databases; integers big-endian):
 *   outbox     seq(8)                        -> OutboxEntry
 *   local      case id, or "<unit>:<unit_ref>" while the router's id is
 *              unknown                       -> LocalCase
 *   local_refs unit \0 unit_ref \0 local key -> (empty)
 *   conflicts  outbox seq(8)                 -> Conflict
 *   desk       a Desk call's request id      -> DeskRecord
 *   meta       "schema", "outbox_seq", "ref/<year>", "acked_delivery"
 *                                            -> counter, 8 bytes big-endian
 *
 * A local case's reference is "<unit>:<unit_ref>", where unit is the first
 * of the record's units_involved (the unit that took it in), or this
 * outbox's unit when the record has none yet (taken in offline) - the same
 * reference the router resolves.
 *
 * Every message returned is owned by the caller
 * (protobuf_c_message_free_unpacked(msg, NULL), or st_messages_free for
 * arrays); messages passed in are borrowed.
 */
#ifndef ST_OUTBOX_H
#define ST_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "mv1.h"
#include "storage/txn.h"

typedef Mediation__V1__OutboxEntry st_outbox_entry;
typedef Mediation__V1__LocalCase st_local_case;
typedef Mediation__V1__Conflict st_conflict;
typedef Mediation__V1__DeskRecord st_desk_record;

typedef struct st_outbox_options {
  const char *dir;      /* the unit's outbox directory; created (0700) if missing. Required. */
  const char *unit;     /* this unit's registry id. Required. */
  size_t map_size;      /* initial; 0: 8 MiB. Grows by itself. */
  size_t max_map_size;  /* 0: 4 GiB */
  unsigned max_readers; /* 0: 126 */
} st_outbox_options;

typedef struct st_outbox st_outbox;

/* Opens (creating if needed) the outbox; clears stale reader slots. Errors
 * as st_open. Close with st_outbox_close (no transaction or batch in
 * progress). Never use an outbox across fork(). */
mc_code st_outbox_open(const st_outbox_options *opts, st_outbox **out, mc_err *err);
void st_outbox_close(st_outbox *ob);

mc_code st_outbox_read_begin(st_outbox *ob, st_txn **out, mc_err *err);

/* A batch on the outbox (see txn.h; returns as st_write_batch). Use it to
 * make several changes atomic: e.g. remove a forwarded entry and refresh the
 * local copy, or remove a refused entry and record its conflict. */
mc_code st_outbox_batch(st_outbox *ob, st_op *ops, size_t n, mc_err *err);

/* A batch of one, returning fn's result (or the batch's failure). */
mc_code st_outbox_write(st_outbox *ob, st_apply_fn fn, void *arg, mc_err *err);

/* ---- Convenience: one change, its own durable batch --------------------------- */

/* Queues a step: assigns the next outbox seq (entry->seq is ignored; the
 * stored entry carries the new one), and returns only once it is on disk.
 * *seq_out (may be NULL) receives the seq. */
mc_code st_outbox_push(st_outbox *ob, const st_outbox_entry *entry, uint64_t *seq_out,
                       mc_err *err);

/* The first pending entry (lowest seq), in its own read transaction.
 * NOT_FOUND when the outbox is empty. Caller frees *out. */
mc_code st_outbox_peek(st_outbox *ob, st_outbox_entry **out, mc_err *err);

/* ---- Primitives on a transaction --------------------------------------------------- */
/* Readers work on a read transaction or a batch callback's; writers need the
 * latter (FAILED_PRECONDITION otherwise). */

/* Queue. */
mc_code st_ob_push(st_txn *txn, const st_outbox_entry *entry, uint64_t *seq_out, mc_err *err);
mc_code st_ob_first(st_txn *txn, st_outbox_entry **out, mc_err *err); /* NOT_FOUND if empty */
/* Removes an entry; *existed (may be NULL) says whether it was pending. */
mc_code st_ob_remove(st_txn *txn, uint64_t seq, bool *existed, mc_err *err);
mc_code st_ob_count(st_txn *txn, uint64_t *out, mc_err *err); /* O(1) */
/* Pending entries with seq > after_seq, in order, at most max (1..1000).
 * *out: new array (possibly empty) of *n_out entries; st_messages_free. */
mc_code st_ob_list(st_txn *txn, uint64_t after_seq, size_t max, st_outbox_entry ***out,
                   size_t *n_out, mc_err *err);

/* Local copies. put keys the copy by case_record->id when set, else by its
 * reference (intake.unit_ref required then); a copy stored by reference is
 * moved under the id once the id is known. INVALID_ARGUMENT without a
 * case_record or without either. */
mc_code st_ob_local_put(st_txn *txn, const st_local_case *lc, mc_err *err);
/* ref: a case id, "<unit>:<unit_ref>", or a bare unit_ref of this unit.
 * NOT_FOUND if no copy is kept. */
mc_code st_ob_local_get(st_txn *txn, const char *ref, st_local_case **out, mc_err *err);
mc_code st_ob_local_delete(st_txn *txn, const char *ref, bool *existed, mc_err *err);
/* Each local copy, in key order; valid during the call; return false to
 * stop. */
typedef bool (*st_local_fn)(void *arg, const st_local_case *lc);
mc_code st_ob_local_scan(st_txn *txn, st_local_fn fn, void *arg, mc_err *err);

/* Conflicts (a queued step the router refused), keyed by outbox seq. put
 * replaces a conflict with the same seq. */
mc_code st_ob_conflict_put(st_txn *txn, const st_conflict *c, mc_err *err);
mc_code st_ob_conflict_list(st_txn *txn, st_conflict ***out, size_t *n_out, mc_err *err);
mc_code st_ob_conflict_delete(st_txn *txn, uint64_t outbox_seq, bool *existed, mc_err *err);

/* Desk calls, keyed by their request id (1..ST_REQUEST_ID_MAX bytes).
 * get: NOT_FOUND if none; caller frees *out. put replaces. prune deletes
 * the records made before before_ms whose steps are all answered (none
 * QUEUED), at most max of them; *n_out (may be NULL) says how many. */
mc_code st_ob_desk_get(st_txn *txn, const uint8_t *id, size_t id_len, st_desk_record **out,
                       mc_err *err);
mc_code st_ob_desk_put(st_txn *txn, const uint8_t *id, size_t id_len, const st_desk_record *rec,
                       mc_err *err);
mc_code st_ob_desk_prune(st_txn *txn, int64_t before_ms, size_t max, size_t *n_out,
                         mc_err *err);

/* Bookkeeping. next_ref: the next unit_ref serial of a year (1, 2, ...),
 * for the unit to format its references. acked: the last delivery seq the
 * unit acknowledged; set only moves it forward (a lower seq is ignored). */
mc_code st_ob_next_ref(st_txn *txn, int year, uint64_t *serial_out, mc_err *err);
mc_code st_ob_acked_get(st_txn *txn, uint64_t *out, mc_err *err);
mc_code st_ob_acked_set(st_txn *txn, uint64_t seq, mc_err *err);

#endif /* ST_OUTBOX_H */
