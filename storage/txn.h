/*
 * txn.h - transactions and batches, shared by the case store (store.h) and a
 * unit's outbox (outbox.h).
 *
 * Both are LMDB environments behind the same small machinery:
 *
 *   - A read transaction (st_read_begin, st_outbox_read_begin) is a snapshot:
 *     it sees every batch committed before it began and nothing after.
 *     Readers never wait for the writer and the writer never waits for them,
 *     with one exception: growing the map (below) waits until the read
 *     transactions open at that moment have ended.
 *
 *   - Writes happen in batches (st_write_batch, st_outbox_write): ONE LMDB
 *     write transaction per batch, each operation in its own nested
 *     transaction. An operation whose callback returns anything but MC_OK is
 *     rolled back alone; the others commit. Nothing is visible to readers
 *     before the commit, and the batch function returns only after
 *     mdb_txn_commit has returned: when it says MC_OK the batch is on disk
 *     (unless the store was opened with unsafe_nosync).
 *
 *   - When the map is full (MDB_MAP_FULL, from a put or from the commit), the
 *     whole write transaction is aborted, the map is doubled (up to the
 *     configured maximum) and the whole batch runs again from the start.
 *     Callbacks must therefore be re-runnable: each run starts from the same
 *     store state and only the last run counts. A callback that hands
 *     results out through its arg (a reply message...) must replace, not
 *     accumulate, what an earlier run left there.
 *
 * Thread rules:
 *   - Any number of threads may hold read transactions. A read transaction
 *     is used by one thread at a time, but may be ended on another thread
 *     than the one that began it (the environments use MDB_NOTLS, so nng's
 *     worker threads can carry one through a callback chain).
 *   - A thread that holds a read transaction must not begin a second one,
 *     nor run a batch: if the map must grow in the meantime, the grower waits
 *     for every open read transaction to end, and that thread would wait for
 *     the grower. Keep read transactions short; never hold one across a
 *     network wait.
 *   - Batches may be submitted from any thread; they run one at a time.
 *   - A callback uses only the st_txn it is given (reads and writes through
 *     it); it must not begin another transaction or run a batch.
 */
#ifndef ST_TXN_H
#define ST_TXN_H

#include <stddef.h>

#include "core/status.h"

/* Limits and defaults both environments share (the case store and a unit's
 * outbox), here so that the outbox needs nothing of store.h. */
#define ST_DEFAULT_MAP_SIZE ((size_t)64 << 20)      /* 64 MiB */
#define ST_DEFAULT_MAX_MAP_SIZE ((size_t)16 << 30)  /* 16 GiB */
#define ST_DEFAULT_MAX_READERS 126u
#define ST_REQUEST_ID_MAX 128 /* bytes of a request id (idempotency key) */
#define ST_NAME_MAX 128       /* bytes of a unit, community or unit_ref in a key */
#define ST_PAGE_MAX 1000      /* hits per index page */

/* A transaction on a store or an outbox: a read transaction from
 * st_read_begin / st_outbox_read_begin, or the write transaction handed to a
 * batch callback. Opaque. */
typedef struct st_txn st_txn;

/* One operation of a batch. apply runs inside the batch's write transaction
 * (in a nested transaction of its own) and writes through txn with the write
 * primitives of store.h or outbox.h. It returns MC_OK to keep its writes, or
 * a refusal (with err) to have them rolled back; the refusal becomes the
 * op's result. If a primitive fails because of LMDB itself (the map is full,
 * the disk fails), the transaction is dead: the primitive returns an error,
 * the batch runner notices even if the callback ignores it, aborts, and
 * either grows the map and re-runs the batch or fails it whole. */
typedef mc_code (*st_apply_fn)(st_txn *txn, void *arg, mc_err *err);

typedef struct st_op {
  st_apply_fn apply; /* required */
  void *arg;         /* handed to apply; owned by the caller */
  /* A promise that apply decides before it writes: when it refuses, it has
   * written nothing. Such an op runs in the batch's transaction itself, not
   * in a nested one, which spares LMDB copying (and zeroing) every page the
   * op touches into a child transaction and merging it back - the largest
   * cost of a nested transaction. The promise is checked, not trusted: a
   * direct op that refuses after writing makes the batch run again from the
   * start with that op nested (and its `direct` cleared). */
  bool direct;
  /* A refusal of this op is the whole batch's: nothing is committed, and
   * every op's code is this op's refusal (st_write_batch returns it). For
   * an op that decides whether the batch may commit at all - raft mode's
   * last op waits for the batch's raft entry to be durable, and refuses if
   * it never will be (router/raftlog.c). */
  bool all_or_nothing;
  /* Results, written by the batch function. code is the callback's result
   * when the batch committed, or the batch's failure for every op when
   * nothing committed. err.msg says why, for a non-OK code. */
  mc_code code;
  mc_err err;
} st_op;

/* Ends a read transaction from st_read_begin or st_outbox_read_begin and
 * frees it. Messages returned by getters on it stay valid (they are owned
 * copies). NULL is ignored. */
void st_read_end(st_txn *txn);

/* True for the write transaction of a batch callback. */
int st_txn_is_write(const st_txn *txn);

/* Frees an array of messages returned by a list function (each element with
 * protobuf_c_message_free_unpacked, then the array). NULL is ignored. */
void st_messages_free(void *array, size_t n);

#endif /* ST_TXN_H */
