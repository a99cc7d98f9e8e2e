/*
 * router.h - mediation-router as a library: open it on a registry, it
 * serves; shut it down, nothing is left half-applied.
 *
 * main.c is a thin wrapper (flags, config, signals); tests and benchmarks
 * run the real daemon binary, not this API, so what they measure is what
 * runs in production.
 */
#ifndef RT_ROUTER_H
#define RT_ROUTER_H

#include <stdbool.h>

#include "core/registry.h"
#include "core/status.h"

typedef struct rt_options {
  const char *endpoint;  /* overrides [router] endpoint; NULL: the registry's */
  const char *data_dir;  /* overrides [router] data_dir */
  unsigned batch_max;    /* writes per group commit; 0: the registry's; 1: no grouping */
  unsigned contexts;     /* requests served at once; 0: the registry's */
  /* Benchmarks only: commits are not synced (MDB_NOSYNC), so an
   * acknowledged step can be lost in a power cut. */
  bool unsafe_nosync;
  /* Upgrade a store of the previous schema (signs every case file's head
   * as it stands). Without it such a store is refused. */
  bool upgrade_store;
  /* Overrides [storage] mode ("lmdb-sync" or "raft"); NULL: the registry's. */
  const char *storage_mode;
  /* Which [cluster <id>] this router is (--node): required when the
   * registry lists a cluster, refused when it lists none; 0: not given. */
  uint64_t node_id;
} rt_options;

typedef struct rt_router rt_router;

/* Opens the store, starts the writer and housekeeping threads and listens.
 * When it returns MC_OK the router serves. reg is borrowed and must outlive
 * the router. Free with rt_router_free. */
mc_code rt_router_open(const mc_registry *reg, const rt_options *opts, rt_router **out,
                       mc_err *err);

/* Stops serving: Health says NOT_SERVING, long polls are answered at once,
 * new requests are refused UNAVAILABLE, requests in flight are finished
 * (their writes committed and answered), then the store is closed. */
void rt_router_shutdown(rt_router *rt);

/* Seeds this node of a cluster (opts->node_id; its data_dir as
 * rt_router_open finds it) from an existing store: from is a stopped
 * router's data_dir or a backup directory (RouterAdmin/Backup's copy). The
 * store is copied, opened and verified (signatures too when the registry
 * has a router key), its raft bookkeeping (meta "raft_applied") reset to
 * 0, and its compacted copy renamed into place as <data_dir>/data.mdb: the
 * node's first start then bootstraps the cluster's log and applies it on
 * top from index 1. The same command on every node, each from a copy of
 * the same store, gives byte-identical stores. Refused with
 * FAILED_PRECONDITION: a source in use or not cleanly stopped, a data_dir
 * holding a raft log, checkpoints, raft-boot or another store; DATA_LOSS: a
 * source that does not open or fails its check; NOT_FOUND: no data.mdb in
 * from. Seeding again what is already seeded from the same store is OK
 * (*again set); a crash midway leaves <data_dir>/seed.tmp, which the next
 * run starts over. again may be NULL. */
mc_code rt_router_seed(const mc_registry *reg, const rt_options *opts, const char *from,
                       bool *again, mc_err *err);

/* The exit status the daemon should stop with: 0, or RT_EXIT_RESTART
 * when a cluster's follower stopped itself to be started again on the
 * leader's snapshot (it installed it as its checkpoint; the next start
 * rebuilds the store from it). Read before rt_router_free. */
#define RT_EXIT_RESTART 75
int rt_router_exit_status(const rt_router *rt);

/* Shuts down if needed and frees. NULL is allowed. */
void rt_router_free(rt_router *rt);

#endif /* RT_ROUTER_H */
