/*
 * store.h - the router's case store: cases, their tamper-evident case files,
 * the indexes coordinators query, idempotency, deliveries, figures and the
 * access log, in one LMDB environment.
 *
 * Records in, records out: every record at rest is a mediation.v1 protobuf
 * message (index entries are keys with empty values, meta holds 8-byte
 * counters), every function returns an mc_code and writes a message for people
 * into its mc_err (case ids and field names, never personal data). Out-
 * parameters are written on success only. See txn.h for transactions,
 * batches, map growth and the thread rules, which apply to everything here.
 *
 * What is stored (named LMDB databases; keys are byte strings, integers big-
 * endian so byte order is number order, strings end with a NUL byte where
 * something follows them; "time" is an int64 ms with its sign bit flipped so
 * that it sorts as a number):
 *
 *   cases        case id                         -> Case
 *   case_log     step(8)                         -> CaseEvent (the case files, in the
 *                                                   order they were appended)
 *   case_files   case id \0 seq(4)               -> step(8): where event seq of the
 *                                                   case is in case_log
 *   events       (schema 1's case files; empty since the upgrade)
 *   aliases      unit \0 unit_ref \0 case id     -> (empty)
 *   ix_state     state(1) created(8) case id     -> (empty)
 *   ix_holder    holder \0 state(1) created(8) id -> (empty)
 *   ix_community community \0 state(1) created(8) id
 *   ix_kind      kind(1) created(8) id
 *   ix_offered   to_unit \0 offered(8) id        (cases in TRANSFER: an inbox)
 *   ix_involved  unit \0 created(8) id           (every unit in units_involved)
 *   ix_deadline  deadline(8) id                  (cases whose deadline_ms != 0)
 *   idem         request id                      -> IdempotentReply
 *   idem_exp     stored(8) request id            -> (empty)
 *   deliveries   unit \0 seq(8)                  -> Delivery
 *   figures      year(2) month(1) unit \0 community \0 kind(1) -> FigureCounters
 *   access       at(8) seq(8)                    -> AccessRecord
 *   heads        case id                         -> CaseHead (signed head of the case file)
 *   ix_search    term \0 created(8) case id      -> (empty): names, name substrings,
 *                                                   unit_refs, team members, keyed hashes
 *                                                   of ID numbers and phones (search.c)
 *   meta         name                            -> counter, 8 bytes big-endian
 *                ("schema", "serial/<year>", "delivery_seq", "access_seq",
 *                 "state/<n>": the number of cases in state n,
 *                 "step": events appended so far: the case log's last key,
 *                 and the clock anchors are taken at)
 *
 * The alias of a case is units_involved[0] (the unit that took it in) and
 * Intake.unit_ref; a case without a unit_ref has none. Index entries are
 * derived from the record alone, so st_case_put keeps them by difference
 * (old keys out, new keys in) and st_verify can recompute them.
 *
 * Durability: durable by default (every commit is synced). unsafe_nosync
 * exists for benchmarks only; a store opened with it can lose acknowledged
 * commits in a power cut.
 *
 * How the router applies a request (the callback of one batch op; it may
 * run more than once, see txn.h):
 *
 *   st_idem_get(txn, rid)            -> found: hand back the stored reply
 *   TAKE_IN: st_case_resolve(txn, "<unit>:<unit_ref>") -> found: that case
 *            (TAKE_IN is idempotent per unit_ref), else
 *            st_case_next_id(txn, year, id)
 *   else:    st_case_get_by_ref(txn, ref, &cur)
 *   mc_apply(reg, {cur, action, actor, now, rid}, &next, &event)
 *   st_case_put(txn, cur, next, event)
 *   st_delivery_put(txn, d) for each of mc_deliveries_for(event), and an
 *            update for each other unit of next->units_involved
 *   st_idem_put(txn, reply)
 *   return MC_OK (or the refusal: everything of this op is rolled back)
 *
 * A refusal that retries must get again (the state machine's answer) is
 * remembered by storing it as the IdempotentReply, with its code, in an op
 * that returns MC_OK.
 */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"
#include "core/status.h"
#include "mv1.h"
#include "storage/txn.h"

typedef Mediation__V1__IdempotentReply st_idem_reply;
typedef Mediation__V1__CaseHead st_case_head;

#define ST_SIG_BYTES 64    /* an Ed25519 signature */
#define ST_ANCHOR_MAX 512  /* bytes of an anchor line, NUL included */
#define ST_HEAD_CONTEXT "mediation.v1.case-head"
#define ST_ANCHOR_CONTEXT "mediation.v1.anchor"

/* Signs data under a context string (ST_HEAD_CONTEXT, ST_ANCHOR_CONTEXT):
 * writes ST_SIG_BYTES into sig, returns false if it cannot. The router
 * passes its Ed25519 key through this (rpc_sign_bytes), so storage needs
 * neither the key nor the rpc library. Called on the writer's thread inside
 * a write transaction, and by st_anchor_make on the caller's thread. */
typedef bool (*st_sign_fn)(void *arg, const char *context, const uint8_t *data, size_t len,
                           uint8_t sig[ST_SIG_BYTES]);

/* True if sig (sig_len bytes) is the router's signature of data under
 * context (rpc_verify_bytes with the registry's router public key). */
typedef bool (*st_check_fn)(void *arg, const char *context, const uint8_t *data, size_t len,
                            const uint8_t *sig, size_t sig_len);
typedef Mediation__V1__AccessRecord st_access_record;

#define ST_DEFAULT_IDEM_RETENTION_MS ((int64_t)48 * 3600 * 1000)
#define ST_CURSOR_MAX 768     /* bytes of a cursor string, NUL included */

typedef struct st_options {
  const char *dir;           /* the store's directory; created (0700) if missing. Required. */
  size_t map_size;           /* initial map size; 0: ST_DEFAULT_MAP_SIZE. Grows by itself. */
  size_t max_map_size;       /* the map never grows past this; 0: ST_DEFAULT_MAX_MAP_SIZE */
  unsigned max_readers;      /* read transactions open at once; 0: ST_DEFAULT_MAX_READERS */
  const char *case_prefix;   /* case ids are "<prefix>-<year>-<serial>"; NULL: "BH" */
  /* The subdistrict's offset (the registry's utc_offset_minutes): figures
   * are bucketed by month at it, and verify recomputes them with it, so it
   * must not change over the life of a store. */
  int utc_offset_minutes;
  int64_t idem_retention_ms; /* replies are kept at least this long; 0: 48 h */
  /* Benchmarks only: MDB_NOSYNC. Commits are not flushed: a crash of the
   * machine can lose acknowledged batches. Never for a real router. */
  bool unsafe_nosync;
  /* [storage] mode = raft: commits are not synced either (MDB_NOSYNC), but
   * safely: each batch is first made durable in raft's log, and the router
   * checkpoints and rebuilds the store from it (router/raftlog.c). */
  bool log_ahead;
  /* Signs each case's head as it changes (see "Sealed case files" in
   * docs/architecture.md). NULL: heads are stored unsigned (a router with
   * no signing key); verify with a checker then reports every case. */
  st_sign_fn sign;
  void *sign_arg;
  /* A store of schema 1 (before signed heads and the case log) is refused
   * with FAILED_PRECONDITION unless this is set: then it is upgraded in one
   * transaction (its case files moved into the case log, a head signed with
   * `sign` for every case). Never automatic: an upgrade signs whatever the
   * store holds. */
  bool upgrade;
  /* ST_SEARCH_KEY_BYTES of secret that key the search index's ID-number and
   * phone terms (BLAKE2b); kept with the router's keys, never in the store.
   * NULL: those terms are not indexed (search by name and unit_ref only).
   * The index is (re)built on open when it was built with another key or
   * never (a store from before it). */
  const uint8_t *search_key;
} st_options;

typedef struct st_store st_store;

/* Opens (creating if needed) the store in opts->dir: sets up the
 * environment (MDB_NOTLS; never MDB_NOMEMINIT, MDB_WRITEMAP or
 * MDB_DUPSORT), clears reader slots left by dead processes
 * (mdb_reader_check), creates the named databases and checks the schema
 * version. The map starts at max(opts->map_size, what the file already
 * needs). Errors: INVALID_ARGUMENT (bad options), FAILED_PRECONDITION (a
 * store of another schema version), UNAVAILABLE (the environment is locked
 * or unreadable), PERMISSION_DENIED, DATA_LOSS (not an LMDB file, or
 * corrupt). On success *out is the store; close it with st_close. Open a
 * directory once per process, and never use a store across fork(). */
mc_code st_open(const st_options *opts, st_store **out, mc_err *err);

/* Closes the store. No transaction or batch may be in progress, on any
 * thread. NULL is ignored. */
void st_close(st_store *store);

/* Clears reader slots of dead processes (call every few minutes: a process
 * killed inside a read transaction pins pages until this runs). *cleared
 * (may be NULL) receives how many were cleared. */
mc_code st_reader_check(st_store *store, int *cleared, mc_err *err);

typedef struct st_info {
  size_t map_size;   /* current map size, bytes */
  size_t used_bytes; /* pages in use up to the high-water mark, bytes */
  uint64_t cases;    /* case records */
  uint64_t events;   /* case-file events */
  uint64_t deliveries_pending;
  unsigned readers_max, readers_used;
  unsigned cases_depth; /* B-tree depth of the cases database */
  unsigned index_depth; /* the deepest index B-tree */
} st_info;

mc_code st_info_get(st_store *store, st_info *out, mc_err *err);

/* Where the bytes of the file go: pages per named database, and the free
 * pages LMDB keeps for reuse. For benchmarks and capacity planning. */
typedef struct st_db_space {
  const char *name; /* static */
  uint64_t entries;
  uint64_t branch_pages, leaf_pages, overflow_pages;
} st_db_space;

#define ST_SPACE_DBS 24

typedef struct st_space {
  size_t page_size;
  uint64_t last_page;   /* pages up to the high-water mark: the file's useful size */
  uint64_t free_pages;  /* pages free for reuse, listed in LMDB's free list */
  uint64_t free_list_pages; /* pages of the free list itself */
  uint64_t meta_pages;  /* the two meta pages and the main database */
  st_db_space dbs[ST_SPACE_DBS];
  size_t n_dbs;
} st_space;

/* One read snapshot of where the pages go. */
mc_code st_space_get(st_store *store, st_space *out, mc_err *err);

/* ---- Read side ---------------------------------------------------------- */

/* Begins a read transaction (a snapshot; see txn.h for its rules). End it
 * with st_read_end. Errors: RESOURCE_EXHAUSTED (all reader slots in use),
 * UNAVAILABLE. */
mc_code st_read_begin(st_store *store, st_txn **out, mc_err *err);

/* Getters below work on a read transaction and on a batch callback's write
 * transaction (where they see the batch's own earlier writes). Every message
 * they return is a new unpacked message owned by the caller:
 * protobuf_c_message_free_unpacked(msg, NULL). A stored record whose bytes
 * do not decode, or decode into something that contradicts its key, is
 * never returned: the getter fails with DATA_LOSS naming the case. */

/* The case with this id. NOT_FOUND if there is none. */
mc_code st_case_get(st_txn *txn, const char *case_id, mv_case **out, mc_err *err);

/* Resolves a case reference as clients write it: a case id
 * ("BH-2026-000123") or "<unit>:<unit_ref>". Writes the id into id_out
 * (MC_CASE_ID_MAX bytes). INVALID_ARGUMENT for a ref of neither shape,
 * NOT_FOUND for an id or alias that names no stored case. */
mc_code st_case_resolve(st_txn *txn, const char *ref, char id_out[MC_CASE_ID_MAX], mc_err *err);

/* st_case_resolve then st_case_get. */
mc_code st_case_get_by_ref(st_txn *txn, const char *ref, mv_case **out, mc_err *err);

/* The whole case file of a case, in seq order. *events_out is a new array of
 * *n_out owned events: free with st_messages_free(events, n). NOT_FOUND if
 * the case has no event. */
mc_code st_events_get(st_txn *txn, const char *case_id, mv_event ***events_out, size_t *n_out,
                      mc_err *err);

/* One event of a case file. NOT_FOUND if absent. */
mc_code st_event_get(st_txn *txn, const char *case_id, uint32_t seq, mv_event **out,
                     mc_err *err);

/* ---- Index queries -------------------------------------------------------- */

typedef enum st_index {
  ST_BY_STATE = 1,  /* state (required); oldest first */
  ST_BY_HOLDER,     /* unit = holder (required), state optional; by state, then oldest first */
  ST_BY_COMMUNITY,  /* unit = community id (required), state optional; same order */
  ST_BY_KIND,       /* kind (required); oldest first */
  ST_BY_OFFERED,    /* unit = the unit a pending transfer is offered to: its inbox; oldest offer first */
  ST_BY_INVOLVED,   /* unit = a unit that has held or been offered the case; oldest first */
  ST_BY_DEADLINE,   /* every case with a deadline, earliest deadline first; until_ms bounds it */
  ST_BY_TERM,       /* unit = a search term (st_search_term); oldest first */
} st_index;

typedef struct st_query {
  st_index index;
  const char *unit;   /* see st_index */
  mv_state state;     /* 0: any (where optional) */
  mv_kind kind;
  int64_t until_ms;   /* ST_BY_DEADLINE: only deadlines < until_ms ("overdue at until_ms"); 0: all */
  const char *cursor; /* NULL or "" for the first page; else a previous page's next_cursor */
  uint32_t limit;     /* hits wanted, 1..ST_PAGE_MAX */
} st_query;

/* One hit of an index query. */
typedef struct st_hit {
  char id[MC_CASE_ID_MAX];
  int64_t at_ms;  /* the index's order time: created_ms, offered_ms or deadline_ms */
  mv_state state; /* the case's state where the index key holds it, else 0 */
} st_hit;

/* One page of an index query: up to q->limit hits into hits[] (room for
 * q->limit), their number in *n_out, and in next_cursor (ST_CURSOR_MAX
 * bytes) the cursor of the next page, or "" when there is none. Costs
 * O(log N + limit) whatever the number of cases.
 *
 * A cursor is an opaque printable string (it goes to clients and comes back
 * from them). It is checked, never trusted: it must have been made for the
 * same index and the same unit/state/kind prefix, and name a well-formed
 * position in it; anything else is INVALID_ARGUMENT. A cursor is a
 * position, not a snapshot: paging through an index that nobody changes
 * yields every entry once, in order; an entry that moves between pages (a
 * case changed state) may be seen twice or not at all.
 *
 * Errors: INVALID_ARGUMENT (a query field or the cursor), DATA_LOSS (an
 * index key of the wrong shape). On an error, *n_out and next_cursor are
 * untouched and the contents of hits[] are unspecified. */
mc_code st_index_query(st_txn *txn, const st_query *q, st_hit *hits, size_t *n_out,
                       char next_cursor[ST_CURSOR_MAX], mc_err *err);

/* ---- Search ------------------------------------------------------------------ */

#define ST_SEARCH_KEY_BYTES 32
#define ST_TERM_MAX 160 /* bytes of a search term, NUL included */
#define ST_GRAM_MAX 8   /* name substrings indexed: 1 to this many characters */

/* What a search term matches. */
typedef enum st_match {
  ST_MATCH_NAME = 1,  /* a party's name, whole or any part of up to ST_GRAM_MAX characters */
  ST_MATCH_UNIT_REF,  /* the unit's reference, whole (ASCII case ignored) */
  ST_MATCH_MEDIATOR,  /* a team member's name, like ST_MATCH_NAME */
  ST_MATCH_ID_NUMBER, /* a whole ID number (keyed hash) */
  ST_MATCH_PHONE,     /* a whole phone number (keyed hash of its normal form) */
} st_match;

/* The term to give st_index_query (ST_BY_TERM, q.unit) for text matched as
 * `what`, into term (ST_TERM_MAX bytes). INVALID_ARGUMENT for text that
 * cannot be one (an ID number that does not pass its check);
 * FAILED_PRECONDITION for ID numbers and phones in a store without a search
 * key. */
mc_code st_search_term(st_txn *txn, st_match what, const char *text, char term[ST_TERM_MAX],
                       mc_err *err);

/* The identity terms of a party, for linking repeat disputes: its ID number
 * (if valid) and its name with its phone (if valid), *n of them (0 in a
 * store without a search key). */
mc_code st_party_terms(st_txn *txn, const mv_party *p, char terms[2][ST_TERM_MAX], size_t *n,
                       mc_err *err);

/* How many cases a term names, counting no further than cap. */
mc_code st_search_count(st_txn *txn, const char *term, uint64_t cap, uint64_t *out,
                        mc_err *err);

/* The number of cases in each state (counts[s] for CaseState s,
 * MC_STATE_COUNT entries), kept as counters: O(1). */
mc_code st_count_states(st_txn *txn, uint64_t counts[8], mc_err *err);

/* The number of cases whose deadline is before now_ms: O(log N + overdue). */
mc_code st_count_overdue(st_txn *txn, int64_t now_ms, uint64_t *out, mc_err *err);

/* ---- Figures -------------------------------------------------------------- */

/* Called for each stored bucket; both pointers are valid only during the
 * call. Return false to stop the scan. */
typedef bool (*st_figure_fn)(void *arg, const mv_bucket *bucket, const mv_counters *counters);

/* Every bucket of a year whose month is in from_month..to_month (1..12,
 * inclusive), in key order (month, unit, community, kind).
 * INVALID_ARGUMENT for a bad range; DATA_LOSS for an undecodable bucket. */
mc_code st_figures_scan(st_txn *txn, int year, int from_month, int to_month, st_figure_fn fn,
                        void *arg, mc_err *err);

/* ---- Deliveries ----------------------------------------------------------- */

/* A unit's pending deliveries with seq > after_seq, in seq order, at most
 * max (1..ST_PAGE_MAX). *out is a new array of *n_out owned deliveries
 * (possibly none): free with st_messages_free. */
mc_code st_delivery_list(st_txn *txn, const char *unit, uint64_t after_seq, size_t max,
                         mv_delivery ***out, size_t *n_out, mc_err *err);

/* How many deliveries wait for the unit's receipt (*count), and the
 * queued_ms of the oldest of them (*oldest_ms; 0 if none). Counts the
 * delivery index's keys and decodes only the first: cheap enough for a
 * health view. */
mc_code st_delivery_count(st_txn *txn, const char *unit, uint64_t *count, int64_t *oldest_ms,
                          mc_err *err);

/* One pending delivery. NOT_FOUND if it was acknowledged or never existed. */
mc_code st_delivery_get(st_txn *txn, const char *unit, uint64_t seq, mv_delivery **out,
                        mc_err *err);

/* The last delivery seq assigned in the store (0 if none): a long-poll can
 * compare it before and after waiting. */
mc_code st_delivery_last_seq(st_txn *txn, uint64_t *out, mc_err *err);

/* ---- Idempotency and access log (read) ------------------------------------ */

/* The reply stored for a request id (1..ST_REQUEST_ID_MAX bytes). NOT_FOUND
 * if none is kept. A reply older than the retention may still be returned
 * until st_idem_expire removes it: retention is a minimum. */
mc_code st_idem_get(st_txn *txn, const uint8_t *request_id, size_t len, st_idem_reply **out,
                    mc_err *err);

/* Called for each access record in time order; valid during the call.
 * Return false to stop. */
typedef bool (*st_access_fn)(void *arg, const st_access_record *rec);

/* Access records with from_ms <= at_ms < to_ms (to_ms 0: no bound). */
mc_code st_access_scan(st_txn *txn, int64_t from_ms, int64_t to_ms, st_access_fn fn, void *arg,
                       mc_err *err);

/* ---- Write side ----------------------------------------------------------- */

/* Runs a batch: one write transaction, each op in a nested transaction of
 * its own (see txn.h). Returns MC_OK when the transaction committed: each
 * op's code then says whether its writes are in (MC_OK) or were rolled back
 * (the callback's refusal). Any other return means nothing was committed and
 * every op's code is that failure: RESOURCE_EXHAUSTED (the map reached
 * max_map_size, the disk is full, the batch is too large for one
 * transaction), UNAVAILABLE / INTERNAL (LMDB or the disk failed). n == 0 is
 * a no-op. Must not be called from a thread holding a read transaction. */
mc_code st_write_batch(st_store *store, st_op *ops, size_t n, mc_err *err);

/* A batch of one: runs fn(txn, arg, err) and returns its result (or the
 * batch's failure). */
mc_code st_write(st_store *store, st_apply_fn fn, void *arg, mc_err *err);

/* The write primitives below take the write transaction of a batch callback
 * (FAILED_PRECONDITION on a read transaction). Messages passed in are
 * borrowed: the store copies what it keeps. */

/* Allocates the next case id of a year: "<prefix>-<year>-<serial>", serials
 * from 1. The serial counter is written in the op's transaction: if the op
 * is refused, the counter rolls back with it and the serial is allocated
 * again later; an id under which a case was stored is never reused.
 * Writes MC_CASE_ID_MAX bytes into id_out. OUT_OF_RANGE for a year outside
 * 1000..9999. */
mc_code st_case_next_id(st_txn *txn, int year, char id_out[MC_CASE_ID_MAX], mc_err *err);

/* The id st_case_next_id would allocate, without allocating it: nothing is
 * written. The serial is taken when a case is stored under that id
 * (st_case_put advances the year's counter past every new case's serial), so
 * a caller that decides before it writes (st_op.direct) can name a new case
 * and still leave no trace if it then refuses it. */
mc_code st_case_peek_id(st_txn *txn, int year, char id_out[MC_CASE_ID_MAX], mc_err *err);

/* Agreement numbers (（2026）宋调字第12号), one sequence per unit and year,
 * from 1: peek gives the next one without taking it (nothing is written);
 * take records that n is used, in the op's transaction, once the step that
 * carries it is stored (a refused step uses up no number). Write
 * transaction only. INVALID_ARGUMENT for an empty or too long unit id,
 * OUT_OF_RANGE for a year outside 1000..9999. */
mc_code st_agreement_peek(st_txn *txn, const char *unit, int year, uint64_t *next, mc_err *err);
mc_code st_agreement_take(st_txn *txn, const char *unit, int year, uint64_t n, mc_err *err);

/* Stores one step of a case: the new record `after` and the event that led
 * to it, and keeps everything derived from them in step, in the same
 * transaction: the indexes (by difference from `before`), the alias, the
 * per-state counts and the figures (mc_figures_delta(before, after, event)).
 *
 * before is the stored record the step was applied to (as read in this
 * transaction), or NULL for a new case. Refused, with nothing written, if:
 *   INVALID_ARGUMENT   after or event is malformed: a bad case id, event
 *                      for another case, a key field too long;
 *   ALREADY_EXISTS     before is NULL but the id is taken, or the alias
 *                      (unit_ref) names another case;
 *   ABORTED            before is not the stored record (the case changed
 *                      since it was read) or the case is missing;
 *   FAILED_PRECONDITION the event does not extend the case file: seq is not
 *                      the previous seq + 1, prev_hash is not the previous
 *                      event's hash, or after's event_count /
 *                      last_event_hash do not account for the event.
 * DATA_LOSS if the stored record does not decode. */
mc_code st_case_put(st_txn *txn, const mv_case *before, const mv_case *after,
                    const mv_event *event, mc_err *err);

/* Queues a delivery for d->unit, assigning the next delivery seq (the
 * stored Delivery carries it; d itself is not changed). *seq_out (may be
 * NULL) receives it. */
mc_code st_delivery_put(st_txn *txn, const mv_delivery *d, uint64_t *seq_out, mc_err *err);

/* Acknowledges (removes) a unit's delivery. Acknowledging one that is no
 * longer pending is harmless: *already (may be NULL) says so. NOT_FOUND for
 * a seq that was never assigned. A seq queued for another unit reads as
 * "already" and removes nothing: the caller checks that the receipt's unit
 * is the caller (its signature says who signed it). */
mc_code st_delivery_ack(st_txn *txn, const char *unit, uint64_t seq, bool *already,
                        mc_err *err);

/* Stores the reply given to a request (reply->request_id, kept until
 * reply->stored_ms + retention). ALREADY_EXISTS if a reply is stored for
 * that id: the first answer stands. */
mc_code st_idem_put(st_txn *txn, const st_idem_reply *reply, mc_err *err);

/* Appends an access record (who read whose case file). */
mc_code st_access_append(st_txn *txn, const st_access_record *rec, mc_err *err);

/* Removes up to max idempotency replies stored before now_ms - retention, in
 * its own batch; *expired (may be NULL) receives how many. Costs
 * O(expired log N): the expiry index is ordered by stored time. */
mc_code st_idem_expire(st_store *store, int64_t now_ms, size_t max, size_t *expired,
                       mc_err *err);

/* ---- Maintenance ------------------------------------------------------------ */

/* A hot, compacted copy of the store into directory path (created 0700 if
 * missing; must not hold a data.mdb already), taken from one read snapshot
 * while writers go on (mdb_env_copy2 with MDB_CP_COMPACT: free pages, and
 * the deleted data in them, are not copied). The copy holds personal data:
 * keep it as carefully as the store. Growing the map waits for the copy. */
mc_code st_backup(st_store *store, const char *path, mc_err *err);

/* ---- The raft write-ahead log's side of the store ([storage] mode = raft) ----
 * In raft mode the router's durability is raft's log, not LMDB's commit:
 * the store is opened with log_ahead (MDB_NOSYNC, see st_options) and every
 * batch stores the raft index it applies, in the same transaction, under
 * meta "raft_applied", so that a restart applies exactly the entries after
 * it (docs/architecture.md, "The raft write path"). */

/* The raft index whose entry the store's state includes last; 0 if none
 * (a store that never ran in raft mode). */
mc_code st_raft_applied_get(st_txn *txn, uint64_t *out, mc_err *err);
/* Records it, in a batch's write transaction. */
mc_code st_raft_applied_set(st_txn *txn, uint64_t index, mc_err *err);
/* Flushes every committed transaction to disk (mdb_env_sync, forced): the
 * checkpoints of a store opened with log_ahead. */
mc_code st_sync(st_store *store, mc_err *err);

/* Called for each problem verify finds: the case (NULL for problems not
 * tied to one), the event seq (0 if none), a code (DATA_LOSS for damage,
 * INTERNAL for inconsistencies between records) and a message that names
 * both ("case BH-2026-000007 seq 3: prev_hash does not match seq 2"). */
typedef void (*st_report_fn)(void *arg, const char *case_id, uint32_t seq, mc_code code,
                             const char *msg);

/* Checks the whole store from one read snapshot:
 *   - every record decodes, and agrees with its key;
 *   - each case file: seq contiguous from 1, each prev_hash the hash of the
 *     previous event (mc_event_hash), the record's last_event_hash that of
 *     the last; replaying the events (mc_replay_event) gives the stored
 *     record byte for byte; it ends where its signed head says (the
 *     signature itself: st_verify_with); no case-log entry is in no file;
 *   - every index entry and alias the record implies exists, and no entry
 *     points to a missing record or one that implies another entry;
 *   - the figures, recomputed from every case file with mc_figures_delta,
 *     equal the stored counters; the per-state counts match;
 *   - deliveries, idempotency replies, access records decode, and their
 *     keys agree with them; an applied step's kept answer (case, seq) names
 *     an event that is in the case file.
 * Each problem goes to report (may be NULL); *problems (may be NULL) gets
 * their number. Returns MC_OK when the walk completed (whatever it found);
 * an error only when it could not walk. Slow: O(size of the store). */
mc_code st_verify(st_store *store, st_report_fn report, void *arg, uint64_t *problems,
                  mc_err *err);

typedef struct st_verify_options {
  /* Checks each case's signed head against the router's public key: a case
   * whose head is unsigned or signed by another key is reported (DATA_LOSS).
   * NULL: signatures are not checked (heads must still match the files). */
  st_check_fn check;
  void *check_arg;
  /* An anchor line (st_anchor_make), kept outside the store: verify also
   * checks that every case file as it stood at the anchor is still there,
   * unchanged (and that the store is not older than the anchor). Needs
   * check. NULL: no anchor. */
  const char *anchor;
} st_verify_options;

/* st_verify with signatures and an anchor. Beyond st_verify's errors:
 * INVALID_ARGUMENT (an anchor that does not parse, or an anchor without a
 * checker), UNAUTHENTICATED (the anchor's signature does not verify: it is
 * forged or from another router's key; nothing about the store is decided). */
mc_code st_verify_with(st_store *store, const st_verify_options *opts, st_report_fn report,
                       void *arg, uint64_t *problems, mc_err *err);

/* ---- Anchors ------------------------------------------------------------------ */

/* What an anchor says (parsed from its line). */
typedef struct st_anchor {
  int64_t at_ms;   /* when it was made (the router's clock) */
  uint64_t step;   /* the store's step counter: the anchor covers steps 1..step */
  uint64_t cases;  /* case files covered (cases with at least one event by then) */
  uint8_t root[32];
  uint8_t sig[ST_SIG_BYTES];
} st_anchor;

/* Makes an anchor from one read snapshot: the Merkle root over every case's
 * head (case id, seq, hash), signed with the store's signer, as one line of
 * text (format in docs/architecture.md) into line (ST_ANCHOR_MAX bytes),
 * no newline. FAILED_PRECONDITION if the store has no signer. Slow: reads
 * every case's head, O(cases). */
mc_code st_anchor_make(st_store *store, int64_t now_ms, char line[ST_ANCHOR_MAX],
                       st_anchor *out, mc_err *err);

/* Parses an anchor line (surrounding blanks and a trailing newline allowed);
 * does not check the signature. INVALID_ARGUMENT naming what is wrong. */
mc_code st_anchor_parse(const char *line, st_anchor *out, mc_err *err);

#endif /* ST_STORE_H */
