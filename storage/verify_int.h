/*
 * verify_int.h - what the two halves of st_verify share (verify.c walks
 * each case; verify_sweep.c checks the other databases against what the
 * walk found) and nothing else sees.
 */
#ifndef ST_VERIFY_INT_H
#define ST_VERIFY_INT_H

#include "storage/store_int.h"

/* Recomputed figures: a sorted array of bucket keys and their counters. */
typedef struct fig {
  sti_key key;
  mv_counters c;
  bool seen; /* a stored bucket matched it */
} fig;

typedef struct vctx {
  st_store *s;
  st_txn *t;
  st_report_fn report;
  void *arg;
  uint64_t problems;
  fig *figs;
  size_t nfig, capfig;
  uint64_t expected[SDB_COUNT]; /* index entries the records imply */
  bool missing[SDB_COUNT];      /* some implied entry was not there */
  uint64_t events_seen;         /* events found under stored cases */
  uint64_t states[MC_STATE_COUNT];
  uint64_t *max_serial; /* per year - 1000 */
  uint64_t unreplayed;  /* cases whose file did not replay: not in the figures */
  uint64_t records;     /* case records that decoded */
  st_check_fn check;    /* NULL: head signatures are not checked */
  void *check_arg;
} vctx;

/* Counts a problem and hands it to the report callback, prefixed with the
 * case and seq when given. */
__attribute__((format(printf, 5, 6))) void sti_verify_problem(vctx *v, const char *case_id,
                                                              uint32_t seq, mc_code code,
                                                              const char *fmt, ...);

/* Finds a bucket's slot in the recomputed figures: its index if present
 * (*found), else where it goes. */
size_t sti_verify_fig_find(const vctx *v, const sti_key *k, bool *found);

/* True if m packs to exactly the stored bytes. */
bool sti_verify_same_packed(const ProtobufCMessage *m, const MDB_val *stored);

/* After the walk over the case records: every index, the case log, the
 * figures, counters, deliveries, kept answers, the access log and the heads
 * checked against what the walk found, in that order (verify_sweep.c). */
mc_code sti_verify_sweep(vctx *v, mc_err *err);

#endif /* ST_VERIFY_INT_H */
