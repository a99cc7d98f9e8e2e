/*
 * raftnode.h - rt_raft's state, shared by raftlog.c (raft's thread, the
 * router's side), raftfsm.c (raft's FSM callbacks, on raft's thread),
 * raftcluster.c (what a cluster adds on raft's thread) and raftapply.c
 * (the applier, the thread that owns the LMDB writes in raft mode).
 * Private to those: to the rest of the router rt_raft is an opaque pointer
 * (router/internal.h). Each field says whose it is: raft's thread's own,
 * the applier's own, or guarded by mu. See raftlog.c for the design.
 */
#ifndef RT_RAFTNODE_H
#define RT_RAFTNODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "router/raftguard.h"
#include "router/raftlog.h"

/* Ahead entries whose times are kept for the log line at stop. */
#define RL_TIMES 4096

/* A batch of the writer's queue made into one raft entry, until raft
 * commits it (raft's thread's own). */
typedef struct item item;
typedef struct batch {
  struct batch *next;
  uint64_t token; /* names the batch in its entry */
  rt_job *head, *last; /* linked */
  size_t n;
  item *ahead; /* its item, handed to the applier when it was appended */
  int64_t t_append; /* mc_mono_ns() at raft_apply */
} batch;

/* An entry on its way to the store (the applier's once queued). Committed
 * entries are handed over by the FSM; the router's own batches already when
 * raft starts writing them ("ahead": the applier runs them in a write
 * transaction while raft's write is under way, and commits that
 * transaction only once the FSM says the entry is committed - fate). */
struct item {
  struct item *next;
  uint64_t index; /* an ahead item's: set with its fate */
  batch *live; /* its batch, whose callers wait; NULL: a replay (or a retry) */
  bool ahead;
  int fate; /* ahead items: 0 not known yet, 1 committed, -1 never (why); guarded by mu */
  char why[384];
  int64_t t_fate, t_held; /* mc_mono_ns(): the fate came; the jobs had run */
  void *buf; /* a copy of the committed entry: decoded for a replay or a retry */
  size_t len;
};

/* A cluster's member as this node last saw raft's configuration. */
#define RL_MAX_MEMBERS 16
typedef struct rl_member {
  uint64_t id;
  char address[128];
  int role;        /* RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE */
  uint64_t match;  /* the leader's view: the last entry known in its log; 0 elsewhere */
} rl_member;

/* What this node knows of its cluster, published by raft's thread
 * (raftcluster.c, every few ms and at each change) for the threads that
 * serve requests: the here hook, Health and RouterCluster/Status. Guarded
 * by rt_raft.view_mu. */
typedef struct rl_view {
  int state;          /* raft_state(): RAFT_FOLLOWER, RAFT_CANDIDATE, RAFT_LEADER, RAFT_UNAVAILABLE */
  uint64_t leader_id; /* 0: none known */
  uint64_t term, last_index, commit_index, applied;
  bool reads_ready;   /* leader, its term's barrier applied to the store */
  size_t n_members;
  rl_member members[RL_MAX_MEMBERS];
} rl_view;

/* A RouterCluster change waiting for raft's thread (one at a time). */
enum { RL_CMD_NONE, RL_CMD_TRANSFER, RL_CMD_ADD, RL_CMD_REMOVE };

struct rt_raft {
  rt_router *rt;
  char data_dir[2048];
  unsigned checkpoint_entries;
  char boot_id[64];

  uv_loop_t loop;
  uv_async_t wake, stop;
  uv_timer_t poll;
  uv_check_t check;
  struct raft_uv_transport transport; /* what raft_uv talks through (raftcluster.c) */
  struct raft_uv_transport tcp;       /* a cluster's: raft_uv's TCP, inside `transport` */
  raft_uv_accept_cb accept_cb;        /* raft_uv's, given to transport.listen */
  raft_uv_transport_close_cb close_cb;
  struct raft_io io;
  rl_guard guard; /* raft holds guard.io, around io (raftguard.c: raft 0.15's stale tail) */
  struct raft_fsm fsm;
  struct raft raft;
  struct raft_barrier barrier;
  bool loop_ready, io_ready, raft_ready, barrier_sent;
  pthread_t thread;
  bool thread_started;

  /* Set by raft's thread while it waits for jobs (no entry in the write,
   * none held back): only then does a new job wake it. Jobs that come
   * while an entry is written wait without a wake-up: they go together
   * when the write is done. */
  atomic_bool want_jobs;
  /* raft's thread's own */
  batch *sub_head, *sub_tail; /* entries appended, not yet committed, in log order */
  unsigned appending;         /* raft_apply calls whose callback has not come */
  uint64_t next_token;
  uint64_t start_applied; /* the store's raft_applied at open: replays at or below are skipped */
  bool closing;
  /* An append of the log failed: no more entries in this run (see
   * apply_cb); raft's thread's own. */
  bool log_failed;
  rt_job **scratch; /* batch_max jobs for rl_encode */

  pthread_mutex_t mu;
  pthread_cond_t cond; /* the applier waits on it for items */
  pthread_cond_t done; /* start and checkpoints wait on it for the applier */
  pthread_cond_t fated; /* the applier waits on it for an ahead item's fate */
  item *q_head, *q_tail; /* committed, not yet taken by the applier; guarded by mu */
  size_t q_len;
  bool held;        /* raft's thread stopped making entries for q_len; guarded by mu */
  bool loop_closed; /* raft's handles are closed: no more wakes; guarded by mu */
  uint64_t handed;  /* the last index queued for the applier; guarded by mu */
  uint64_t settled; /* the last index the applier applied; guarded by mu */
  bool retrying;    /* the applier holds entries the store refused; guarded by mu */
  bool barrier_done; /* guarded by mu, as the four below */
  uint64_t barrier_target;
  bool started; /* the log is replayed (or failed to be) */
  mc_code start_rc;
  mc_err start_err;
  bool applier_stop;
  pthread_t applier;
  bool applier_started;
  uint64_t applied, replayed; /* the applier's own (applied: set before it starts) */
  /* The applier's own: where the time of the last RL_TIMES ahead entries went,
   * in microseconds, logged at stop (docs/architecture.md quotes them). */
  uint32_t t_write[RL_TIMES], t_run[RL_TIMES], t_after[RL_TIMES];
  size_t n_times;

  /* A cluster ([cluster <id>], raftcluster.c); all false/0 on a single
   * node. raft's thread's own, except view and cmd. */
  bool cluster;
  bool transport_ready;  /* rl_transport_init set r->transport up */
  bool installed;        /* the leader's snapshot is the checkpoint now: stopping (raftfsm.c) */
  bool leading;          /* leader, and its term's barrier is handed to the applier */
  bool term_barrier_out; /* a barrier of term_barrier_term is under way */
  uint64_t term_barrier_term;
  uint64_t term_barrier_index; /* handed when the barrier came: reads wait for the applier */
  struct raft_barrier term_barrier;
  int last_health_state;
  uint64_t last_health_leader;
  pthread_mutex_t view_mu; /* guards view and cmd */
  rl_view view;
  struct {
    int kind;          /* RL_CMD_* ; NONE: the slot is free */
    bool started;      /* raft's thread has begun it */
    uint64_t id;       /* the node to add, remove or hand leadership to (0: raft's choice) */
    int64_t deadline_ms;
    void *call;        /* the rpc_call to complete */
    struct raft_change change;
    struct raft_transfer transfer;
  } cmd;
};

/* raftapply.c: the applier. */
/* Starts its thread - before raft starts: raft_start may already hand it
 * entries and take a snapshot, which waits for it. r->applied and
 * r->settled must be the store's raft_applied by then. */
mc_code rl_applier_start(rt_raft *r, mc_err *err);
/* Once raft's thread is gone (nothing is handed over any more): the
 * applier applies what it was handed and ends; what is still queued is
 * freed, and where the time of the last entries went is logged. */
void rl_applier_stop(rt_raft *r);

/* raftcluster.c: the transport, membership and leadership of a cluster
 * (or the no-one transport of a single node). */
/* Sets r->transport up: raft_uv's TCP transport in a cluster, one that
 * refuses every connection on a single node. r->cluster is set by then. */
mc_code rl_transport_init(rt_raft *r, mc_err *err);
void rl_transport_close(rt_raft *r);
/* This node's raft id and address (1 and "router" on a single node). */
uint64_t rl_self_id(const rt_raft *r);
const char *rl_self_address(const rt_raft *r);
/* The configuration a fresh log is bootstrapped with: every [cluster]
 * node as a voter (the same on every node), or this node alone. */
int rl_bootstrap_conf(const rt_raft *r, struct raft_configuration *conf);
/* After raft_start in a cluster: refuses a log that is a single router's
 * (FAILED_PRECONDITION). */
mc_code rl_cluster_check(rt_raft *r, mc_err *err);
/* Timeouts and snapshot trailing for a cluster (after raft_init). */
void rl_cluster_tune(rt_raft *r);
/* Every few ms on raft's thread: leadership (the term's barrier before
 * the leader takes writes), the view, Health, a change under way. */
void rl_cluster_poll(rt_raft *r);
/* On raft's thread when woken: starts a change RouterCluster asked for. */
void rl_cluster_run_cmd(rt_raft *r);
/* On raft's thread at close: a change still waiting is answered. */
void rl_cluster_close(rt_raft *r);

/* raftfsm.c: the FSM raft calls on its thread. */
/* Sets r->fsm up (before raft_init): apply hands committed entries to the
 * applier, snapshot makes a checkpoint, restore checks the store against
 * raft's snapshot (or installs a cluster leader's and stops). */
void rl_fsm_init(rt_raft *r);

/* raftlog.c */
/* raft's thread, in a cluster when this node does not lead: the jobs
 * queued are answered UNAVAILABLE, not applied (see raftcluster.c). */
void rl_refuse_queued(rt_raft *r);
/* The start is over (the log replayed, or failed to be: what says why);
 * wakes rt_raft_open_store. Only the first call counts. */
void rl_start_done(rt_raft *r, mc_code rc, const char *what);

#endif /* RT_RAFTNODE_H */
