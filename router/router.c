/*
 * router.c - assembling the router: store, writer, timer, server; and
 * taking it apart in an order that leaves nothing half-applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/log.h"
#include "router/internal.h"
#include "router/methods.h"

#define STOP_GRACE_MS 10000

/* Which [cluster <id>] this router is (*out; NULL: a single router):
 * --node must name one of the registry's nodes when it lists any, and is
 * refused when it lists none; a cluster runs in [storage] mode = raft. */
mc_code rt_which_node(const mc_registry *reg, const rt_options *opts,
                      const mc_router_node **out, mc_err *err) {
  *out = NULL;
  if (reg->n_nodes == 0) {
    if (opts->node_id != 0)
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        _("--node %llu: the configuration lists no [cluster <id>] sections (a "
                          "single router needs no --node)"),
                        (unsigned long long)opts->node_id);
    return MC_OK;
  }
  char ids[256] = "";
  size_t len = 0;
  for (size_t i = 0; i < reg->n_nodes && len < sizeof(ids); i++)
    len += (size_t)snprintf(ids + len, sizeof(ids) - len, "%s%s", i ? ", " : "",
                            reg->nodes[i].id);
  if (opts->node_id == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("the configuration lists a cluster: say which node this router is with "
                        "--node (one of %s)"),
                      ids);
  *out = mc_registry_node(reg, opts->node_id);
  if (*out == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("--node %llu: no [cluster %llu] in the configuration (its nodes: %s)"),
                      (unsigned long long)opts->node_id, (unsigned long long)opts->node_id, ids);
  const char *mode = opts->storage_mode ? opts->storage_mode : reg->storage.mode;
  if (mode == NULL || strcmp(mode, "raft") != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("a cluster ([cluster <id>] sections) needs [storage] mode = raft"));
  return MC_OK;
}

/* rt->server, with the router's services (Service, RouterAdmin,
 * RouterCluster) registered but not listening yet: rt_router_open listens
 * last, once the store, the writer and the timer are up. A cluster's node
 * takes writes on the leader only, so its server asks rt_cluster_here
 * where each request belongs (raftcluster.c). */
static mc_code create_server(rt_router *rt, const rt_options *opts, mc_err *err) {
  rpc_server_opts ro = {
      .program = "mediation-router",
      .version = MEDIATION_VERSION,
      .contexts = opts->contexts ? opts->contexts : rt->reg->router.contexts,
      .accept_kinds = rt_methods_callers(),
      .accept = rt_methods_accept,
      .describe = rt_methods_describe,
      .tls_cert_file = rt->reg->router.tls_cert,
      .tls_key_file = rt->reg->router.tls_key,
  };
  if (rt->node != NULL) { /* a cluster: writes on the leader only (raftcluster.c) */
    ro.here = rt_cluster_here;
    ro.here_arg = rt;
  }
  mc_code rc = rpc_server_create(rt->reg, &ro, &rt->server, err);
  if (rc == MC_OK)
    rc = rpc_server_register(rt->server, &rt->service.base, err);
  if (rc == MC_OK)
    rc = rpc_server_register(rt->server, &rt->admin.base, err);
  if (rc == MC_OK)
    rc = rpc_server_register(rt->server, &rt->cluster.base, err);
  return rc;
}

mc_code rt_router_open(const mc_registry *reg, const rt_options *opts, rt_router **out,
                       mc_err *err) {
  static const rt_options none;
  if (opts == NULL)
    opts = &none;
  const mc_router_node *node = NULL;
  mc_code rc = rt_which_node(reg, opts, &node, err);
  if (rc != MC_OK)
    return rc;
  const char *endpoint = opts->endpoint ? opts->endpoint
                         : node != NULL ? node->endpoint
                                        : reg->router.endpoint;
  const char *data_dir = opts->data_dir ? opts->data_dir
                         : node != NULL && node->data_dir != NULL ? node->data_dir
                                                                  : reg->router.data_dir;
  if (endpoint == NULL || data_dir == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "[router] endpoint and data_dir are required (or --endpoint, --data-dir)");
  rt_router *rt = calloc(1, sizeof(*rt));
  if (rt == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  rt->reg = reg;
  rt->node = node;
  rt->last_pull_ms = calloc(reg->n_principals ? reg->n_principals : 1, sizeof(*rt->last_pull_ms));
  if (rt->last_pull_ms == NULL) {
    free(rt);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  rt->batch_max = opts->batch_max ? opts->batch_max : reg->router.batch_max;
  pthread_mutex_init(&rt->queue_lock, NULL);
  pthread_cond_init(&rt->queue_cond, NULL);
  pthread_mutex_init(&rt->reply_lock, NULL);
  pthread_cond_init(&rt->reply_cond, NULL);
  pthread_mutex_init(&rt->wait_lock, NULL);
  pthread_cond_init(&rt->wait_cond, NULL);
  atomic_init(&rt->stopping, false);
  atomic_init(&rt->restart_wanted, false);
  rt_service_init(rt);
  rt_admin_init(rt);
  rt_cluster_init(rt);

  st_options so = {
      .dir = data_dir,
      .map_size = reg->router.map_bytes,
      .case_prefix = reg->case_prefix,
      .utc_offset_minutes = reg->utc_offset_minutes,
      .idem_retention_ms = reg->router.idempotency_ms,
      .unsafe_nosync = opts->unsafe_nosync,
      .upgrade = opts->upgrade_store,
  };
  const char *mode = reg->storage.mode != NULL ? reg->storage.mode : "lmdb-sync";
  if (opts->storage_mode != NULL)
    mode = opts->storage_mode;
  bool raft = strcmp(mode, "raft") == 0;
  if (!raft && strcmp(mode, "lmdb-sync") != 0) {
    rt_router_free(rt);
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "[storage] mode = %.40s: expected lmdb-sync or raft", mode);
  }
  if (raft && opts->unsafe_nosync) {
    rt_router_free(rt);
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "--unsafe-nosync is for [storage] mode = lmdb-sync only");
  }
  /* The server first, listening only at the end: the writer, raft's
   * thread and the applier set its Health from their threads, so it must
   * exist before they start. */
  rc = create_server(rt, opts, err);
  if (rc == MC_OK)
    rc = rt_signer_open(rt, &so, err);
  if (rc == MC_OK)
    rc = rt_search_key_open(rt, &so, err);
  if (rc == MC_OK)
    rc = raft ? rt_raft_open_store(rt, data_dir, reg->storage.checkpoint_entries, &so, err)
              : st_open(&so, &rt->store, err);
  if (rc == MC_OK && !raft)
    rt_raft_forget(data_dir);
  if (rc == MC_OK)
    rc = rt_writer_start(rt, err);
  if (rc == MC_OK)
    rc = rt_timer_start(rt, err);
  if (rc == MC_OK)
    rc = rpc_server_listen(rt->server, endpoint, NULL, 0, err);
  if (rc != MC_OK) {
    rt_router_free(rt);
    return rc;
  }
  if (opts->unsafe_nosync)
    mc_log(MC_LOG_WARNING, NULL, "commits are NOT synced (--unsafe-nosync): benchmarks only");
  mc_log(MC_LOG_NOTICE, NULL, "serving on %s, store %s (%s), group commit up to %u", endpoint,
         data_dir, mode, rt->batch_max);
  *out = rt;
  return MC_OK;
}

void rt_router_shutdown(rt_router *rt) {
  if (rt == NULL || rt->shut_down)
    return;
  rt->shut_down = true;
  atomic_store(&rt->stopping, true);
  if (rt->server != NULL) {
    rpc_server_set_serving(rt->server, false, "shutting down");
    rt_flush_waiters(rt);
    /* New requests are refused from here; those in flight finish: their
     * jobs are still taken by the writer, committed and answered. */
    rpc_server_stop(rt->server, STOP_GRACE_MS);
  }
  rt_timer_stop(rt);
  rt_flush_waiters(rt);
  rt_writer_stop(rt);
  rt_raft_close(rt);
  st_close(rt->store);
  rt->store = NULL;
  mc_log(MC_LOG_NOTICE, NULL, "stopped");
}

int rt_router_exit_status(const rt_router *rt) {
  return atomic_load(&rt->restart_wanted) ? RT_EXIT_RESTART : 0;
}

void rt_router_free(rt_router *rt) {
  if (rt == NULL)
    return;
  rt_router_shutdown(rt);
  rpc_server_free(rt->server);
  /* Jobs never taken (the writer did not start) are answered by the
   * server's stop; free what is left. */
  for (rt_job *j = rt->queue_head; j != NULL;) {
    rt_job *next = j->next;
    rt_job_free(j);
    j = next;
  }
  pthread_mutex_destroy(&rt->queue_lock);
  pthread_cond_destroy(&rt->queue_cond);
  pthread_mutex_destroy(&rt->reply_lock);
  pthread_cond_destroy(&rt->reply_cond);
  pthread_mutex_destroy(&rt->wait_lock);
  pthread_cond_destroy(&rt->wait_cond);
  rpc_key_free(rt->key);
  free((void *)rt->last_pull_ms);
  free(rt);
}
