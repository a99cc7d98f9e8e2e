/*
 * internal.h - the unit runtime's parts and how they meet.
 *
 *   cli.c        un_main: flags, configuration, signals, readiness.
 *   unit.c       assembling a unit (outbox, router client, Desk server,
 *                threads) and taking it apart.
 *   desk.c       the Desk service (desk.proto).
 *   plan.c       an operator's step and its policy's steps, checked with the
 *                state machine on the local copy and queued in one outbox
 *                batch; the policy API of unit.h.
 *   forwarder.c  the outbox, forwarded to the router in order, exactly once.
 *   puller.c     deliveries pulled by long poll, stored, signed for.
 *   calls.c      calls to the router that a stop can interrupt; which codes
 *                refuse a step for good.
 *   waits.c      Desk calls waiting for the forwarder to hear the router's
 *                answers; whether the router is reachable.
 *   local.c      local copies: the router's record plus the queued steps,
 *                refreshed from Apply replies and deliveries; team load.
 *   watch.c      Desk/Watch: the ring of recent changes the Desk, the
 *                forwarder and the puller note, and the watches waiting
 *                on it.
 *
 * Each file calls only into those listed below it: nothing calls back up
 * (cli.c and unit.c start the rest; the Desk, the forwarder and the puller
 * never call each other).
 *
 * Threads: nng's (Desk handlers, RPC completions), the forwarder and the
 * puller. One mutex (mu) guards the few shared flags and the list of Desk
 * calls waiting for the forwarder; the outbox serialises writes itself
 * (one batch at a time) and every read-check-write of a local copy happens
 * inside one batch, so two operators acting at once cannot lose a step.
 */
#ifndef UN_INTERNAL_H
#define UN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "mv1.h"
#include "rpc/rpc.h"
#include "services/unit/unit.h"
#include "storage/outbox.h"

#define UN_MAX_STEPS 8         /* the operator's step and the policy's, per request */
#define UN_DESK_WAIT_MS 2500   /* a Desk call waits this long for the router's answer */
#define UN_FORWARD_TIMEOUT_MS 10000 /* one forwarding attempt (it waits for a connection) */
#define UN_BACKOFF_MIN_MS 100
#define UN_BACKOFF_MAX_MS 5000
#define UN_PULL_WAIT_MS 20000  /* a long poll waits this long at the router */
#define UN_READ_TIMEOUT_MS 1500 /* ShowCase asks the router this long before the local copy */
#define UN_FINGERPRINT_BYTES 32 /* BLAKE2b-256 of a Desk call's method and input */
/* A Desk call's record answers its retries this long; then it is pruned
 * (a client retries within its deadline: seconds, at most minutes). */
#define UN_DESK_KEEP_MS (7LL * 24 * 3600 * 1000)
#define UN_DESK_PRUNE_EVERY_MS (3600LL * 1000)

typedef Mediation__V1__TeamRole un_role;

/* ---- A step and a plan (plan.c) -------------------------------------------------- */

struct un_step {
  mv_action action;                /* as sent: a borrowed build (strings in the plan or request) */
  mv_member member;                /* ASSIGN/RELEASE argument, when the unit fills it */
  mv_intake intake;                /* TAKE_IN argument, with the unit_ref the unit allocated */
  Mediation__V1__Outcome outcome;  /* RECORD_OUTCOME argument, when the unit completes it */
  uint8_t request_id[RPC_REQUEST_ID_BYTES];
  /* Result of the plan's last run. */
  Mediation__V1__DeskDisposition disposition; /* QUEUED, or REFUSED (locally) */
  mc_code code;
  char message[512];
  uint64_t seq; /* outbox seq when queued */
  un_plan *plan;
};

typedef struct un_unit un_unit;

struct un_plan {
  un_unit *u;
  /* The request: exactly one of intake (TakeIn) or op (Act). Borrowed from
   * the Desk call, valid until it completes. */
  const mv_intake *intake;
  const char *refer_to, *refer_reason; /* TakeIn: "" if none */
  const mv_action *op;
  const char *person;   /* the operator's person, for the policy's steps */
  const char *ref;      /* Act: the case as the operator named it */
  int64_t now_ms;
  /* Results of the last run of the batch (rewritten on each run). */
  un_step steps[UN_MAX_STEPS];
  size_t n;
  bool refused;         /* the operator's step was refused locally: nothing queued */
  bool no_copy;         /* Act: refused because the unit has no local copy of the case */
  const char *case_ref; /* how the queued steps name the case: an id or "<unit>:<unit_ref>" */
  const char *local_ref; /* the key of the local copy to read back */
  /* Strings the steps borrow, owned here (malloc'd; freed by un_plan_free). */
  char **strings;
  size_t n_strings, cap_strings;
  /* Team members planned in this run, counted as load by un_pick_by_load. */
  const char *planned[UN_MAX_STEPS];
  size_t n_planned;
  /* The case during planning (owned; the state after the steps so far). */
  mv_case *view;
  /* The Desk call's identity: its request id (borrowed from the call) and
   * a fingerprint of its method and input. A call whose id is recorded
   * already is a retry: replay (owned) is its record and nothing is
   * planned or queued; id_reused says the id came with another request. */
  const uint8_t *desk_id;
  uint8_t fingerprint[UN_FINGERPRINT_BYTES];
  st_desk_record *replay;
  bool id_reused;
};

struct un_ctx {
  un_unit *u;
  un_plan *plan;
  st_txn *txn; /* the batch's: team load is read from the local copies in it */
};

void un_plan_init(un_plan *p, un_unit *u);
void un_plan_free(un_plan *p);
/* Queues the plan: one outbox batch that checks the operator's step on the
 * local copy, adds the policy's steps, pushes them all and writes the local
 * copy. MC_OK with p->refused set if the operator's step was refused
 * locally (p->steps[0] says why); another code if the outbox failed. */
mc_code un_plan_queue(un_plan *p, mc_err *err);
/* A copy of s kept with the plan (NULL when out of memory). */
const char *un_plan_str(un_plan *p, const char *s);

/* ---- Local copies (local.c) ------------------------------------------------------ */

/* The local copy for ref (a case id, "<unit>:<unit_ref>" or a bare unit_ref)
 * in its own read transaction. NOT_FOUND if none. Caller frees *out. */
mc_code un_local_read(un_unit *u, const char *ref, st_local_case **out, mc_err *err);

/* Refreshes the local copy of a case from a record of the router (inside a
 * batch): the newer of base and the copy's synced record, with the case's
 * pending outbox entries applied on top, in order. base may be NULL (keep
 * the synced record, e.g. after an entry was refused); handoff (may be
 * NULL) is kept as the copy's last handoff. A case the router never
 * confirmed and with nothing pending is removed. */
mc_code un_local_refresh(un_unit *u, st_txn *txn, const mv_case *base, const char *ref,
                         const mv_event *handoff, int64_t now_ms, mc_err *err);

/* "<unit>:<unit_ref>" of a case (the unit that took it in), or NULL if it
 * has no unit_ref. Caller frees. */
char *un_case_alias(const un_unit *u, const mv_case *c);

/* The active assignments of each roster member on the cases this unit
 * holds (not closed or withdrawn), per person: loads[i] for reg roster
 * entry i (the same person's entries share one count). */
mc_code un_team_load(un_unit *u, st_txn *txn, uint32_t *loads, mc_err *err);

/* True if the case is held by this unit. */
bool un_holds(const un_unit *u, const mv_case *c);

/* Desk/Inbox (in NULL) and Desk/ListCases (one page of in's filters),
 * answered on call from the unit's copies (desk_list.c). */
void un_desk_list(un_unit *u, rpc_call *call, const Mediation__V1__DeskListRequest *in);

/* The unit's actor for the state machine. */
void un_actor(const un_unit *u, const char *person, mv_actor *out);

/* ---- Changes and watches (watch.c) ------------------------------------------------ */

#define UN_WATCH_RING 1024         /* changes kept; a desk further behind resets */
#define UN_WATCH_DEFAULT_MS 25000  /* DeskWatchRequest.wait_ms 0 */
#define UN_WATCH_MAX_MS 60000      /* a longer wait_ms is cut to this */
#define UN_WATCH_MAX_WAITING 64    /* watches waiting at once; more are RESOURCE_EXHAUSTED */
/* The Desk server's contexts: every watch that may wait, and as many again
 * for the desks' other calls. */
#define UN_DESK_CONTEXTS (UN_WATCH_MAX_WAITING + 64)

typedef struct un_watch un_watch;

/* A ring with a fresh random epoch and its timer thread. *out is freed
 * with un_watch_free. */
mc_code un_watch_open(un_watch **out, mc_err *err);

/* Notes a change to each case of case_ids (n of them; NULL or "" entries
 * skipped) and, with inbox, to the inbox; wakes every waiting watch. Any
 * thread; never blocks beyond a short lock. w may be NULL. */
void un_watch_note(un_watch *w, const char *const *case_ids, size_t n, bool inbox);

/* Desk/Watch (the handler's body): answers at once when something changed
 * after (epoch, after), or on reset, else keeps the call waiting (no thread
 * held) until a change or its wait runs out. */
void un_watch_call(un_watch *w, rpc_call *call, const Mediation__V1__DeskWatchRequest *in);

/* Answers the waiting watches UNAVAILABLE and every later one too; stops
 * the timer. Idempotent; changes may still be noted. */
void un_watch_stop(un_watch *w);

/* Stops and frees. NULL is allowed. */
void un_watch_free(un_watch *w);

/* ---- The unit (unit.c) ----------------------------------------------------------- */

typedef struct un_wait un_wait; /* waits.c */

struct un_unit {
  const mc_registry *reg;
  const mc_unit *self;
  const un_policy *policy;
  rpc_key *key;          /* the unit's own key: requests to the router, receipts */
  st_outbox *ob;
  rpc_server *desk;
  rpc_client *router;
  Mediation__V1__Desk_Service service; /* handlers find the unit from it */

  pthread_rwlock_t client_lock; /* calls start under the read lock; closing takes the write lock */
  bool client_closed;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC: a call completed, work queued, stop */
  bool stopping;
  bool kick;         /* new outbox entries: forward now, without waiting out a backoff */
  bool offline;      /* the router did not answer lately: Desk calls answer QUEUED at once */
  /* Why the router is out of reach when the router client's keeper found a
   * TLS setting wrong (un_router_tls), "" otherwise: said in Desk replies
   * and health instead of a bare "unreachable". desk_closing: health says
   * "shutting down" and must stay so. */
  char router_problem[320];
  bool desk_closing;
  un_wait *waits;
  un_watch *watch; /* its own lock: noted into from any thread */

  pthread_t forwarder, puller;
  bool forwarder_started, puller_started;
};

mc_code un_unit_open(const mc_registry *reg, const mc_unit *self, const un_policy *policy,
                     un_unit **out, mc_err *err);
/* Stops serving (Desk calls in flight are finished or answered), stops the
 * threads, closes the outbox. */
void un_unit_free(un_unit *u);

/* ---- Router calls (calls.c) ------------------------------------------------------ */

/* Calls the router and waits for the answer, or returns CANCELLED at once
 * when the unit stops. With serve_waits, Desk calls that time out meanwhile
 * are answered (the forwarder's duty). On MC_OK *reply is the caller's. */
mc_code un_call(un_unit *u, const char *method, const ProtobufCMessage *req,
                const rpc_call_opts *opts, bool serve_waits, ProtobufCMessage **reply,
                mc_err *err);

/* Starts a call whose answer goes to done (on an nng thread), unless the
 * client is closed (CANCELLED). */
mc_code un_call_async(un_unit *u, const char *method, const ProtobufCMessage *req,
                      const rpc_call_opts *opts, rpc_done_fn done, void *arg, mc_err *err);

/* Desk/Search (search.c): the router's search, or the local copies' while
 * the router is away. */
void un_desk_search(un_unit *u, rpc_call *call, const Mediation__V1__SearchRequest *in);

/* True if code is a definitive answer about the step itself: the router
 * (or the unit) refused it for good, and a retry would be refused again
 * (the step leaves the outbox as a conflict). False for every "not applied,
 * send the same request again": not delivered, no answer, the router
 * stopping or unable to commit (its disk full, an I/O error, its store at
 * its size limit: all UNAVAILABLE), or failing. Decided by the code alone
 * (docs/contract.md, "Status codes"), never by a message. */
bool un_code_is_refusal(mc_code code);

/* ---- Waiting Desk calls (waits.c) ------------------------------------------------- */

/* A Desk call waiting for the forwarder to hear the router's answers. */
typedef struct un_wait_step {
  mv_action *action; /* owned copy, as sent */
  Mediation__V1__DeskDisposition disposition;
  mc_code code;
  char message[512];
  uint64_t seq;
} un_wait_step;

struct un_wait {
  struct un_wait *next;
  rpc_call *call;
  int64_t until_mono;
  un_wait_step steps[UN_MAX_STEPS];
  size_t n;
  size_t unanswered; /* QUEUED steps the router has not answered yet */
  mv_case *router_case; /* owned: the record after the last applied step */
  char *local_ref;      /* owned */
  /* owned: the local copy as the plan left it (NULL for a retry). A call
   * answered at once is answered from it: the plan was its one read of the
   * copy. A call that waits drops it and reads the copy when answered, as
   * the router's answers change it meanwhile. */
  mv_case *planned_copy;
  uint8_t desk_id[RPC_REQUEST_ID_BYTES]; /* the call's request id: its record in the outbox */
  bool has_desk_id;
};

/* Waits, with mu held: with flag, until *flag (a call's completion, which
 * closing the client forces) or the deadline; without, for one wake-up, the
 * deadline or a stop. Deadlines are mono ms, 0 for none. With serve_waits
 * it answers expired Desk calls meanwhile (mu is released while it does). */
void un_wait_locked(un_unit *u, const bool *flag, int64_t until_mono, bool serve_waits);

/* Registers a planned Desk call to be answered by the forwarder, or
 * answers it now (all steps decided, or the router known unreachable).
 * Takes ownership of w. */
void un_wait_add(un_unit *u, un_wait *w);

/* Records the router's answer for outbox entry seq in the waiting Desk
 * calls that queued it (the call, and retries of it waiting too), if any;
 * *told says whether one did (then a refusal is not also kept as a
 * conflict). Returns the calls for which that was the last answer, linked
 * by next (removed from the list: the caller answers each with
 * un_wait_finish after committing), else NULL. */
un_wait *un_wait_answer(un_unit *u, uint64_t seq, mc_code code, const char *message,
                        const mv_case *router_case, bool *told);

/* The language of the Desk call waiting for outbox entry seq (its
 * RequestEnvelope.locale), into buf; "" when none waits. The forwarder
 * forwards the step in it, so the router's refusal reaches the operator in
 * the operator's language. */
void un_wait_locale(un_unit *u, uint64_t seq, char *buf, size_t cap);

/* Answers a Desk call from what it knows and frees it. */
void un_wait_finish(un_unit *u, un_wait *w);

/* Marks the router reachable or not (and wakes the forwarder when it is). */
void un_set_online(un_unit *u, bool online);

/* Copies u->router_problem into buf ("" if none). Any thread. */
void un_router_problem(un_unit *u, char *buf, size_t cap);

/* ---- Desk, forwarder, puller ------------------------------------------------------ */

/* Desk service (desk.c). */
void un_desk_init(un_unit *u);

/* Threads (forwarder.c, puller.c). */
void *un_forwarder_main(void *arg);
void *un_puller_main(void *arg);

#endif /* UN_INTERNAL_H */
