/*
 * unit.c - assembling a unit daemon and taking it apart.
 *
 * The parts, each below the one that uses it: the Desk service (desk.c)
 * plans steps (plan.c) on the local copies (local.c) and leaves its calls
 * waiting (waits.c) for the forwarder (forwarder.c); the forwarder and the
 * puller (puller.c) call the router (calls.c). This file only starts and
 * stops them; nothing calls back into it.
 *
 * Stopping, in an order that leaves nothing half-done: the Desk server stops
 * taking calls and waits for those in flight (the forwarder still runs and
 * answers them); then the router client is closed, which cancels the
 * forwarder's and puller's calls, so the threads end at once; whatever the
 * forwarder had not finished is still in the outbox, with its request id,
 * for the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "services/unit/internal.h"

#define STOP_GRACE_MS 5000

/* The router client's TLS verdict (rpc_client_opts.on_tls_verdict, on its
 * keeper thread): steps still queue (the link may be fixed any time, by a
 * new certificate on either side), but until then nothing is forwarded, so
 * the Desk's replies say why and health says NOT_SERVING with it: a wrong
 * CA or name does not mend itself, and monitoring must see it. */
static void un_router_tls(void *arg, const char *why) {
  un_unit *u = arg;
  pthread_mutex_lock(&u->mu);
  /* Named by the registry's first router: every node of a cluster shares
   * the CA and the name, so one verdict speaks for all of them. */
  const char *router = "";
  mc_registry_router_endpoints(u->reg, &router, 1);
  if (why != NULL)
    snprintf(u->router_problem, sizeof(u->router_problem),
             "TLS 配置错误 (TLS configuration error) with the router %.100s: %s", router, why);
  else
    u->router_problem[0] = '\0';
  /* Under mu, so a stop's "shutting down" is never overwritten. */
  if (u->desk != NULL && !u->desk_closing)
    rpc_server_set_serving(u->desk, why == NULL, why != NULL ? u->router_problem : "");
  pthread_mutex_unlock(&u->mu);
}

/* ---- Life -------------------------------------------------------------------------- */

mc_code un_unit_open(const mc_registry *reg, const mc_unit *self, const un_policy *policy,
                     un_unit **out, mc_err *err) {
  if (self->endpoint == NULL || self->data_dir == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "[unit %s]: endpoint and data_dir are required", self->id);
  if (mc_registry_router_endpoints(reg, NULL, 0) == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "[router] endpoint (or [cluster <id>] endpoints) is required");
  un_unit *u = calloc(1, sizeof(*u));
  if (u == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  u->reg = reg;
  u->self = self;
  u->policy = policy;
  pthread_rwlock_init(&u->client_lock, NULL);
  pthread_mutex_init(&u->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&u->cv, &ca);
  pthread_condattr_destroy(&ca);
  un_desk_init(u);

  mc_code rc = rpc_key_load(reg->keys_dir, self->id, &u->key, err);
  if (rc != MC_OK)
    mc_err_prefix(err, "the unit's key");
  if (rc == MC_OK)
    rc = un_watch_open(&u->watch, err);
  if (rc == MC_OK) {
    st_outbox_options oo = {.dir = self->data_dir, .unit = self->id};
    rc = st_outbox_open(&oo, &u->ob, err);
  }
  if (rc == MC_OK) {
    /* Every router of a cluster is reached the same way. */
    const char *first = NULL;
    mc_registry_router_endpoints(reg, &first, 1);
    bool tls = strncmp(first, "tls+tcp://", 10) == 0;
    rpc_client_opts co = {
        .max_in_flight = 8,
        .default_timeout_ms = 10000,
        .tls_ca_file = tls ? reg->router.tls_ca : NULL,
        .tls_server_name = tls ? reg->router.tls_server_name : NULL,
        .on_tls_verdict = un_router_tls,
        .on_tls_verdict_arg = u,
    };
    /* One router, or the cluster's: the client follows its leader. */
    rc = rpc_client_for_routers(reg, u->key, &co, &u->router, err);
  }
  rpc_server *desk = NULL;
  if (rc == MC_OK) {
    rpc_server_opts so = {
        .program = policy->program,
        .version = MEDIATION_VERSION,
        .contexts = UN_DESK_CONTEXTS,
        .accept_kinds = RPC_ACCEPT_KIND(MC_PRINCIPAL_OPERATOR),
        .accept_unit = self->id,
    };
    rc = rpc_server_create(reg, &so, &desk, err);
    /* Under mu: the router client's keeper (un_router_tls) may look. */
    pthread_mutex_lock(&u->mu);
    u->desk = desk;
    if (u->router_problem[0] != '\0')
      rpc_server_set_serving(u->desk, false, u->router_problem);
    pthread_mutex_unlock(&u->mu);
  }
  if (rc == MC_OK)
    rc = rpc_server_register(u->desk, &u->service.base, err);
  if (rc == MC_OK) {
    if (pthread_create(&u->forwarder, NULL, un_forwarder_main, u) != 0)
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the forwarder thread");
    else
      u->forwarder_started = true;
  }
  if (rc == MC_OK) {
    if (pthread_create(&u->puller, NULL, un_puller_main, u) != 0)
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "cannot start the puller thread");
    else
      u->puller_started = true;
  }
  if (rc == MC_OK)
    rc = rpc_server_listen(u->desk, self->endpoint, NULL, 0, err);
  if (rc != MC_OK) {
    un_unit_free(u);
    return rc;
  }
  uint64_t pending = 0;
  st_txn *t = NULL;
  if (st_outbox_read_begin(u->ob, &t, NULL) == MC_OK)
    st_ob_count(t, &pending, NULL);
  st_read_end(t);
  mc_log(MC_LOG_NOTICE, NULL, "%s serving on %s; router %s; %llu steps waiting in the outbox",
         self->id, self->endpoint, rpc_client_url(u->router), (unsigned long long)pending);
  *out = u;
  return MC_OK;
}

void un_unit_free(un_unit *u) {
  if (u == NULL)
    return;
  /* 1. No new Desk calls; those in flight are answered (by the forwarder,
   *    which still runs, or by their timeout). */
  pthread_mutex_lock(&u->mu);
  u->desk_closing = true;
  pthread_mutex_unlock(&u->mu);
  /* Watches would hold the stop for their whole wait: answered now. */
  un_watch_stop(u->watch);
  if (u->desk != NULL) {
    rpc_server_set_serving(u->desk, false, "shutting down");
    rpc_server_stop(u->desk, STOP_GRACE_MS);
  }
  /* 2. The threads stop; closing the client cancels their calls. */
  pthread_mutex_lock(&u->mu);
  u->stopping = true;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
  pthread_rwlock_wrlock(&u->client_lock);
  u->client_closed = true;
  pthread_rwlock_unlock(&u->client_lock);
  rpc_client_free(u->router); /* cancelled calls complete before this returns */
  u->router = NULL;
  if (u->forwarder_started)
    pthread_join(u->forwarder, NULL);
  if (u->puller_started)
    pthread_join(u->puller, NULL);
  /* 3. Calls still waiting (none, normally): their steps stay queued. */
  pthread_mutex_lock(&u->mu);
  un_wait *left = u->waits;
  u->waits = NULL;
  pthread_mutex_unlock(&u->mu);
  while (left != NULL) {
    un_wait *next = left->next;
    un_wait_finish(u, left);
    left = next;
  }
  rpc_server_free(u->desk);
  un_watch_free(u->watch);
  st_outbox_close(u->ob);
  rpc_key_free(u->key);
  pthread_cond_destroy(&u->cv);
  pthread_mutex_destroy(&u->mu);
  pthread_rwlock_destroy(&u->client_lock);
  mc_log(MC_LOG_NOTICE, NULL, "stopped");
  free(u);
}
