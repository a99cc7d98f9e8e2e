/*
 * internal.h - the router's parts and how they meet.
 *
 *   service.c     the Router service: one handler per rpc of router.proto.
 *                 Reads run on nng's threads in their own read
 *                 transactions; writes become jobs for the writer.
 *   writer.c      the one writer thread: takes every job queued while the
 *                 previous commit ran and applies them in one LMDB
 *                 transaction (group commit); once it committed, the
 *                 replier thread answers each job while the writer goes on
 *                 with the next batch.
 *   apply.c       what a job does inside the write transaction: Apply
 *                 (idempotency, access, state machine, store, deliveries),
 *                 AckDeliveries (receipts into the case file), access log.
 *   deliveries.c  long polls: calls waiting for a unit's next delivery,
 *                 woken by the writer after a commit or by their timeout.
 *   queries.c     ListCases, Stuck, GetFigures.
 *   view.c        what a caller may see: access checks, masking, summaries.
 *   search.c      Search: the search index walked class by class, access
 *                 applied to every hit, every search in the access log.
 *   methods.c     who may call which method (applied by the server before
 *                 any handler runs, reported by Reflection).
 */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/registry.h"
#include "mv1.h"
#include "router/router.h"
#include "rpc/rpc.h"
#include "storage/store.h"

typedef enum rt_job_kind {
  RT_JOB_APPLY = 1, /* Router/Apply */
  RT_JOB_ACK,       /* Router/AckDeliveries */
  RT_JOB_ACCESS,    /* an access-log record (no call waits for it) */
} rt_job_kind;

#define RT_WAKE_MAX 8 /* units a job names to wake; beyond, every long poll is woken */

/* A step of a case as the state machine decided it (apply.c). The same
 * decision is made ahead of the writer (rt_job_prepare, on a snapshot) and
 * by the writer (when the case moved on since, or for an intake). */
typedef struct rt_step {
  mc_code code;      /* MC_OK: decided, the step is below; else not decided */
  char message[512]; /* why not, for people, when code is not MC_OK (room for Chinese) */
  mv_case *current;  /* owned: the case it was decided on; NULL for an intake */
  mv_case *next;     /* owned: the case after the step; NULL unless decided */
  mv_event *event;   /* owned: the step's event; NULL unless decided */
} rt_step;

/* One write, queued for the writer. The results are rewritten on every run
 * of the batch (a batch runs again after the map grows). Everything the
 * writer needs of the call is copied here when the job is made, so the
 * write transaction never calls into rpc; only the replier completes the
 * call. */
typedef struct rt_job {
  struct rt_job *next;
  rt_job_kind kind;
  const mc_registry *reg;
  rpc_call *call;                  /* NULL for RT_JOB_ACCESS; completed by the replier */
  const mc_principal *caller;      /* borrowed from the registry */
  uint8_t request_id[RPC_REQUEST_ID_BYTES]; /* the call's: the idempotency key; zero if no call */
  int64_t now_ms;                  /* the router's clock when the job was queued */
  const ProtobufCMessage *request; /* borrowed from the call until it completes */
  Mediation__V1__AccessRecord *access; /* RT_JOB_ACCESS: owned */
  /* RT_JOB_APPLY on an existing case: the step as rt_job_prepare decided
   * it from a read snapshot (owned; prepared.next is NULL if not prepared).
   * The writer stores it only if the case is still what it was; see
   * apply.c. */
  rt_step prepared;
  uint8_t *pre_reply; /* the caller's reply to it, packed, if nothing is masked for the caller */
  size_t pre_reply_len;
  /* results */
  mc_code code;
  char message[512]; /* as mc_err's: a Chinese message takes 3 bytes a character */
  uint8_t *payload; /* the packed reply for OK (malloc'd) */
  size_t payload_len;
  /* Units that got a delivery, each once; when more than RT_WAKE_MAX did
   * (an acknowledgement of many receipts), wake_all instead. */
  char wake[RT_WAKE_MAX][ST_NAME_MAX];
  int n_wake;
  bool wake_all;
} rt_job;

typedef struct rt_waiter rt_waiter;
typedef struct rt_raft rt_raft;

struct rt_router {
  const mc_registry *reg;
  st_store *store;
  rpc_server *server;
  Mediation__V1__Router_Service service; /* handlers find the router from it */
  Mediation__V1__RouterAdmin_Service admin;
  unsigned batch_max;
  rpc_key *key; /* <keys_dir>/router.key: signs case-file heads and anchors; NULL: none */
  uint8_t search_key[ST_SEARCH_KEY_BYTES]; /* keys the search index's ID-number and phone terms */

  /* writer */
  pthread_mutex_t queue_lock;
  pthread_cond_t queue_cond;
  rt_job *queue_head, *queue_tail;
  size_t queued;
  bool writer_stop;
  pthread_t writer_thread;
  bool writer_started;
  uint64_t batches, jobs_written, batch_peak; /* the writer's own: read after it stopped */
  bool raft_writer; /* raft mode: raft's thread takes the queue, no writer thread */
  size_t raft_live; /* raft mode: jobs taken off the queue, not yet answered (queue_lock) */
  bool store_failing; /* the writer's own: the last commit failed, Health says NOT_SERVING */

  /* replier: committed jobs waiting to be answered, in commit order */
  pthread_mutex_t reply_lock;
  pthread_cond_t reply_cond;
  rt_job *reply_head, *reply_tail;
  bool replier_stop;
  pthread_t replier_thread;
  bool replier_started;

  /* long polls */
  pthread_mutex_t wait_lock;
  pthread_cond_t wait_cond;
  rt_waiter *waiters;
  uint64_t delivery_epoch; /* bumped after each commit that queued deliveries */
  bool timer_stop;
  pthread_t timer_thread;
  bool timer_started;

  atomic_bool stopping;
  bool shut_down;

  rt_raft *raft; /* [storage] mode = raft; NULL: lmdb-sync */
  /* [cluster <id>]: which node this router is (raftcluster.c); NULL: a
   * single router. */
  const mc_router_node *node;
  Mediation__V1__RouterCluster_Service cluster;
  /* A cluster's follower installed the leader's snapshot as its
   * checkpoint: it stops, to be started again on it (raftfsm.c). */
  atomic_bool restart_wanted;

  /* RouterAdmin/Status: when each principal (indexed as reg->principals)
   * last called PullDeliveries, mc_now_ms(); 0: not since the start. In
   * memory only: a unit daemon's liveness is about now, not history. */
  _Atomic int64_t *last_pull_ms;
};

/* raftlog.c: [storage] mode = raft. rt_raft_open_store opens rt->store
 * (rebuilding it from the checkpoint first when it cannot be trusted),
 * starts raft and returns when the log is replayed. In raft mode there is
 * no writer thread: rt_writer_submit queues the job as always and calls
 * rt_raft_wake, and raft's thread takes the queue (rt_writer_take) as one
 * raft entry per commit of raft's log; raftlog.c's applier applies
 * committed entries and answers them (rt_writer_outcome, rt_writer_answer).
 * rt_raft_close (after rt_writer_stop drained the queue) stops raft and
 * syncs the store. */
mc_code rt_raft_open_store(rt_router *rt, const char *data_dir, unsigned checkpoint_entries,
                           st_options *so, mc_err *err);
void rt_raft_wake(rt_router *rt);
/* writer.c, for raft mode: up to max queued jobs (linked, the last's next
 * NULL; *last_out: that last one), counted as live until answered; NULL if
 * none is queued. */
rt_job *rt_writer_take(rt_router *rt, size_t max, rt_job **last_out, size_t *n_out);
/* Waits until nothing is queued and every job taken is answered. */
void rt_writer_raft_drain(rt_router *rt);
/* writer.c: a batch's outcome (rc, err: the whole batch's; ops[i].code each
 * job's) into its jobs. */
void rt_writer_outcome(rt_router *rt, rt_job **jobs, const st_op *ops, size_t n, mc_code rc,
                       const mc_err *err);
/* Answers the linked jobs head..last: on this thread when now, else through
 * the replier (so that the caller can go on with the next batch). */
void rt_writer_answer(rt_router *rt, rt_job *head, rt_job *last, bool now);
void rt_raft_close(rt_router *rt);
/* raftfiles.c: lmdb-sync mode on a store that ran in raft mode: its
 * checkpoint would no longer describe it (a rebuild from it would drop what
 * lmdb-sync mode wrote since), so forget it; the next raft start checkpoints
 * the store as it then is, like a first start. */
void rt_raft_forget(const char *data_dir);

/* raftcluster.c: the RouterCluster service (any mode: a single router
 * answers Status with single_node), and the server's here hook of a
 * cluster's node (rpc_here_fn: writes and polls on the leader only, reads
 * on a follower only with stale_ok). */
void rt_cluster_init(rt_router *rt);
bool rt_cluster_here(void *arg, const char *service, const char *method, rpc_access access,
                     bool stale_ok, rpc_redirect *out);

/* Which [cluster <id>] this router is (router.c; *out NULL: a single
 * router). Also the seeding's (seed.c): the same checks, the same node. */
mc_code rt_which_node(const mc_registry *reg, const rt_options *opts,
                      const mc_router_node **out, mc_err *err);

/* service.c, admin.c */
void rt_service_init(rt_router *rt);
void rt_admin_init(rt_router *rt);
/* admin.c: loads the router's signing key if [router] public_key is set, and
 * fills the store options' signer with it. */
mc_code rt_signer_open(rt_router *rt, st_options *so, mc_err *err);
/* admin.c: the search key: <keys_dir>/router-search.secret, else the same
 * name in the store's directory (made there, 0600, on first start). */
#define RT_SEARCH_KEY_FILE "router-search.secret"
mc_code rt_search_key_open(rt_router *rt, st_options *so, mc_err *err);

/* writer.c: the writer and the replier start and stop together */
mc_code rt_writer_start(rt_router *rt, mc_err *err);
void rt_writer_submit(rt_router *rt, rt_job *job);
void rt_writer_stop(rt_router *rt); /* drains the queue, then the replies */

/* apply.c: the st_apply_fn of every job */
void rt_job_prepare(rt_router *rt, rt_job *job); /* on the caller's thread, before submitting */
mc_code rt_job_run(st_txn *txn, void *job, mc_err *err);
bool rt_job_is_direct(const rt_job *job);
void rt_job_free(rt_job *job);

/* deliveries.c */
mc_code rt_timer_start(rt_router *rt, mc_err *err);
void rt_timer_stop(rt_router *rt);
void rt_pull(rt_router *rt, rpc_call *call, const mc_principal *caller,
             const Mediation__V1__PullDeliveriesRequest *req);
void rt_wake_units(rt_router *rt, char (*units)[ST_NAME_MAX], size_t n);
void rt_wake_all(rt_router *rt); /* every long poll reads again (many units got deliveries) */
void rt_flush_waiters(rt_router *rt); /* answer every waiting poll now (shutdown) */

/* queries.c */
void rt_list_cases(rt_router *rt, rpc_call *call, const mc_principal *caller,
                   const Mediation__V1__ListCasesRequest *req);
void rt_stuck(rt_router *rt, rpc_call *call, const mc_principal *caller,
              const Mediation__V1__StuckRequest *req);
void rt_figures(rt_router *rt, rpc_call *call, const mc_principal *caller,
                const Mediation__V1__GetFiguresRequest *req);

/* search.c */
void rt_search(rt_router *rt, rpc_call *call, const mc_principal *caller,
               const Mediation__V1__SearchRequest *req);

/* service.c: hands an access record (owned, every part malloc'd) to the
 * writer; the read that made it does not wait. */
void rt_access_submit(rt_router *rt, Mediation__V1__AccessRecord *rec);

/* view.c: keeps in c->intake->repeat_of only the earlier cases the caller
 * may see (each read in txn); c is an unpacked message the caller owns. */
mc_code rt_visible_repeats(const rt_router *rt, st_txn *txn, mv_case *c,
                           const mc_principal *caller, mc_err *err);
mc_code rt_visible_repeats_in(const rt_router *rt, st_txn *txn, mv_intake *in,
                              const mc_principal *caller, mc_err *err);

/* view.c */
void rt_actor_of(const mc_principal *p, const char *person, mv_actor *out);
bool rt_may_read(const rt_router *rt, const mv_case *c, const mc_principal *who);
/* core/access.c's mc_reads_every_case and mc_sees_personal_data for a
 * principal: the one place the router asks them. Whoever does not see
 * personal data gets the case and its events through mc_mask_case and
 * mc_mask_event. */
bool rt_reads_every_case(const mc_principal *who);
bool rt_sees_personal_data(const mv_case *c, const mc_principal *who);
/* Fills a search hit (all but matched) borrowing c's strings. */
void rt_search_hit_of(const mv_case *c, int64_t now_ms, Mediation__V1__SearchHit *h);
/* Fills a summary borrowing c's strings. */
void rt_summary_of(const mv_case *c, int64_t now_ms, Mediation__V1__CaseSummary *s);

/* ---- allocate.c: what a step's write allocates or links ------------------ */

/* A case id for an intake, peeked (taken when the case is stored); an
 * intake whose unit_ref already names a case is ALREADY_EXISTS. */
mc_code rt_new_case_id(st_txn *txn, rt_job *job, const mc_registry *reg, const mv_action *in,
                       char case_id[MC_CASE_ID_MAX], mc_err *err);

/* 再次纠纷: up to MC_REPEAT_MAX earlier cases sharing a party with in, most
 * recent first, into ids (*n of them). */
mc_code rt_find_repeats(st_txn *txn, const mv_intake *in, char (*ids)[MC_CASE_ID_MAX], size_t *n,
                        mc_err *err);

/* An agreement's number, peeked for a RECORD_OUTCOME of an AGREEMENT: out
 * holds it, and action->outcome then points at out's copy carrying it. */
typedef struct rt_agreement_no {
  bool wanted;
  int year;
  uint64_t n;
  char unit[ST_NAME_MAX + 1]; /* the holder whose sequence it is */
  char text[160];
  Mediation__V1__Outcome outcome; /* the action's outcome with the number (shallow copy) */
} rt_agreement_no;

mc_code rt_peek_agreement_no(st_txn *txn, const rt_job *job, const mc_registry *reg,
                             const mv_case *current, mv_action *action, rt_agreement_no *out,
                             mc_err *err);

#endif /* RT_INTERNAL_H */
