/*
 * sf.h - the storage tests' fixture: scratch directories, opening stores,
 * raw LMDB access for tampering, a deployment, and drivers that take cases
 * through the real state machine into a store, as the router will.
 *
 * sf_base.c needs only the storage library; sf_cases.c needs the state
 * machine (mc_apply) too.
 */
#ifndef SF_H
#define SF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/machine.h"
#include "core/registry.h"
#include "mv1.h"
#include "storage/outbox.h"
#include "storage/store.h"

#define SF_POLICE "police-studio"
#define SF_MARRIAGE "marriage-studio"
#define SF_WANGAI "station-wangai"
#define SF_KONGQUE "station-kongque"
#define SF_BAIHE "station-baihe"
#define SF_OFFSET 480 /* +08:00 */

/* 2026-03-02 09:00 at +08:00. */
#define SF_T0 1772413200000LL
#define SF_MINUTE 60000LL
#define SF_HOUR (60 * SF_MINUTE)
#define SF_DAY (24 * SF_HOUR)

/* ---- sf_base.c ---- */

/* A new private scratch directory (malloc'd path) under $TMPDIR or /tmp. */
char *sf_tmpdir(void);
/* Removes a directory tree; frees nothing. */
void sf_rmrf(const char *dir);
/* dir/name (malloc'd). */
char *sf_path(const char *dir, const char *name);

/* Opens a store with the test defaults (prefix BH, +08:00), failing the test
 * on error. map_size 0: default. */
st_store *sf_open(const char *dir, size_t map_size, size_t max_map_size);

/* Raw LMDB on a closed environment (never while a store has it open). */
void sf_raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
                size_t vlen);
bool sf_raw_del(const char *dir, const char *db, const void *key, size_t klen);
/* The value (malloc'd) or NULL. */
uint8_t *sf_raw_get(const char *dir, const char *db, const void *key, size_t klen, size_t *vlen);
/* The first key of db with the prefix (malloc'd) or NULL. */
uint8_t *sf_raw_first(const char *dir, const char *db, const void *prefix, size_t plen,
                      size_t *klen);

/* A delivery for a unit whose snapshot summary has `pad` bytes. Borrowed
 * strings; free with sf_delivery_free. */
mv_delivery *sf_delivery(const char *unit, const char *case_id, size_t pad);
void sf_delivery_free(mv_delivery *d);

/* ---- sf_cases.c ---- */

/* Collects verify's problems. */
typedef struct sf_problems {
  char msgs[64][400];
  char ids[64][32];
  uint32_t seqs[64];
  mc_code codes[64];
  unsigned n;
} sf_problems;
void sf_collect(void *arg, const char *case_id, uint32_t seq, mc_code code, const char *msg);
/* True if some problem names the case and seq (seq 0: any) and contains
 * the text (NULL: any). */
bool sf_has_problem(const sf_problems *p, const char *case_id, uint32_t seq, const char *text);
/* Runs verify; fails the test if it could not walk. */
uint64_t sf_verify(st_store *s, sf_problems *p);
/* Fails the test, printing the problems, unless verify finds none. */
void sf_verify_clean(st_store *s);


/* The deployment: police studio, marriage studio, stations of 王隘, 孔雀,
 * 白鹤; one coordinator. Free with mc_registry_free. */
mc_registry *sf_registry(void);

mv_actor sf_unit(const char *id);

/* An action of a kind with valid default arguments, borrowing from the
 * struct. */
typedef struct sf_action {
  mv_action a;
  mv_intake intake;
  mv_party party;
  mv_party *parties[1];
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__Feedback feedback;
  char case_ref[MC_CASE_ID_MAX];
} sf_action;

/* TAKE_IN: a relationship quarrel in `community` by police call (kind
 * settable after init); TRANSFER: to the marriage studio; ASSIGN: mediator
 * 调解员甲; RECORD_SESSION; RECORD_OUTCOME: an agreement of 1000 元;
 * RECORD_FEEDBACK: satisfied. A reason is always set. */
void sf_action_init(sf_action *s, mv_action_kind kind);

/* Inside a batch callback: applies an action as the router does - reads the
 * case (by case_ref; none for TAKE_IN, whose id is allocated here), runs
 * mc_apply, st_case_put, and queues the deliveries the event causes. The new
 * id (or the case's) goes to id_out if not NULL. */
mc_code sf_apply(st_txn *t, const mc_registry *reg, mv_action *a, const mv_actor *who,
                 int64_t now, const char *request_id, char id_out[MC_CASE_ID_MAX], mc_err *err);

/* A batch of one sf_apply (own transaction); fails the test unless it
 * commits with MC_OK. Returns the case id in id_out. */
void sf_do(st_store *s, const mc_registry *reg, mv_action *a, const char *unit, int64_t now,
           char id_out[MC_CASE_ID_MAX]);
/* The same for the default action of a kind on a case. */
void sf_kind(st_store *s, const mc_registry *reg, const char *case_id, mv_action_kind kind,
             const char *unit, int64_t now);
/* Takes a case in at unit (community, kind, unit_ref may be NULL); returns
 * its id in id_out. */
void sf_take_in(st_store *s, const mc_registry *reg, const char *unit, const char *community,
                mv_kind kind, const char *unit_ref, int64_t now, char id_out[MC_CASE_ID_MAX]);

#endif /* SF_H */
