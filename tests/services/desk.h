/*
 * desk.h - driving a whole deployment through the units' Desk services, as
 * operators do, and checking what the router then holds (as a coordinator).
 *
 * One world per test program (ts_world): the router and the unit daemons of
 * a deployment made by deploy/mkdeploy. Every helper fails the running
 * cmocka test on an unexpected answer, naming what it waited for.
 */
#ifndef TS_DESK_H
#define TS_DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mv1.h"
#include "world.h"

#define TS_CANARY "金丝雀甲乙丙" /* a party name that must never reach a log */
#define TS_PHONE "13800001234"
/* Each intake's first party has an ID number of its own starting so (a valid
 * GB 11643 number; its name is TS_CANARY and a serial), so cases of different
 * scenarios are not linked as 再次纠纷 and their figures stay their own. */
#define TS_ID_PREFIX "33021219900101"

extern tw_world ts_world;

/* A daemon to start: program and unit id. */
typedef struct ts_daemon {
  const char *program;
  const char *unit;
} ts_daemon;

/* Makes the deployment (extra_conf appended, may be NULL), starts the
 * router and the daemons. 0 or -1 (cmocka group setup). */
int ts_start(const char *tag, const char *extra_conf, const ts_daemon *daemons, size_t n);

/* Stops every daemon (each must exit 0: a clean stop), checks that no log
 * holds the canary's personal data, removes the deployment. 0 or -1. */
int ts_stop(void);

/* ---- Desk, as the unit's operator ("<unit>-operator") -------------------- */

mc_code ts_desk_call(const char *unit, const char *method, const ProtobufCMessage *req,
                     ProtobufCMessage **reply, mc_err *err);

/* An intake with parties (the first named TS_CANARY with an ID number and a
 * phone), everything in the struct. */
typedef struct ts_intake {
  mv_intake in;
  mv_party parties[3];
  mv_party *ptrs[3];
  char name[48], id_number[19];
} ts_intake;

void ts_intake_init(ts_intake *t, mv_kind kind, const char *community, size_t n_parties,
                    int64_t money_fen);

/* TakeIn; fails the test unless the call itself succeeds (the steps may
 * still be refused). Caller frees the reply. */
Mediation__V1__DeskReply *ts_take_in(const char *unit, const mv_intake *in,
                                     const char *refer_to, const char *refer_reason);

/* An action with kind, case_ref and reason; args left for the caller. */
void ts_action(mv_action *a, mv_action_kind kind, const char *case_ref, const char *reason);

/* Act; fails the test unless the call succeeds. Caller frees the reply. */
Mediation__V1__DeskReply *ts_act(const char *unit, const mv_action *a);

/* Act with no arguments (ACCEPT, START_MEDIATION, CLOSE...) or a reason. */
Mediation__V1__DeskReply *ts_act_simple(const char *unit, const char *case_ref,
                                        mv_action_kind kind, const char *reason);

/* The reply's steps are exactly these kinds, with these dispositions. */
typedef struct ts_step {
  mv_action_kind kind;
  Mediation__V1__DeskDisposition disposition;
} ts_step;
void ts_expect_steps(const Mediation__V1__DeskReply *r, const ts_step *want, size_t n);

/* Every step APPLIED, n of them, and the record the router's (not stale). */
void ts_expect_applied(const Mediation__V1__DeskReply *r, size_t n);

/* The active team of unit on c, by role: the person, or NULL. */
const char *ts_member(const mv_case *c, const char *unit, Mediation__V1__TeamRole role);

/* Waits until unit's Inbox (or, with inbox false, its ListCases) holds the
 * case with this id or unit_ref satisfying `want` (NULL: present); fails
 * after timeout_ms. Returns the matching entry's list (caller frees) and
 * the entry in *found. */
typedef bool (*ts_local_pred)(const Mediation__V1__LocalCase *lc, const void *arg);
Mediation__V1__DeskListReply *ts_wait_local(const char *unit, bool inbox, const char *ref,
                                            ts_local_pred want, const void *arg,
                                            int timeout_ms,
                                            const Mediation__V1__LocalCase **found);

/* Waits until ref is absent from unit's ListCases. */
void ts_wait_not_listed(const char *unit, const char *ref, int timeout_ms);

/* The unit's conflicts and the number of steps waiting in its outbox. */
Mediation__V1__DeskConflictsReply *ts_conflicts(const char *unit);

/* Waits until the unit's outbox is empty. */
void ts_wait_outbox_empty(const char *unit, int timeout_ms);

/* ---- The router, as the coordinator --------------------------------------- */

Mediation__V1__GetCaseReply *ts_router_case(const char *ref, bool timeline);

/* Checks the case file: the steps other than receipts are exactly `kinds`,
 * in order; and for each expected receipt, (unit, the index in `kinds` of
 * the event it signs for) one RECORD_RECEIPT by the router with the unit's
 * signed receipt, after that event. Waits up to timeout_ms for receipts
 * still to come. Returns the file (caller frees). */
typedef struct ts_receipt {
  const char *unit;
  size_t step; /* index into kinds */
} ts_receipt;
Mediation__V1__GetCaseReply *ts_expect_file(const char *case_id, const mv_action_kind *kinds,
                                            size_t n, const ts_receipt *receipts,
                                            size_t n_receipts, int timeout_ms);

/* Figures by unit or community, for before/after comparisons. */
#define TS_FIG_ROWS 32
typedef struct ts_figures {
  size_t n;
  char keys[TS_FIG_ROWS][64];
  mv_counters rows[TS_FIG_ROWS];
  mv_counters total;
} ts_figures;

void ts_figures_get(ts_figures *f, Mediation__V1__FigureGrouping by);

/* Asserts that the row `key` (or the total, key NULL) moved from before to
 * after by exactly the counters listed in `deltas` ("taken_in=1
 * transferred_out=1"), every other counter by 0. */
void ts_figures_expect(const ts_figures *before, const ts_figures *after, const char *key,
                       const char *deltas);

/* Polls until fn(arg) is true; false after timeout_ms. */
bool ts_poll(bool (*fn)(const void *arg), const void *arg, int timeout_ms);

#endif /* TS_DESK_H */
