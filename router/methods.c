/*
 * methods.c - who may call which method of the router, and what each does.
 *
 * One row per method the router's server has registered, rpc's built-ins
 * included (tests/router checks the table against Reflection both ways).
 * The server applies it before any handler runs (rpc step 6, through
 * rpc_accept_fn), so handlers never check the caller's kind; Reflection
 * reports it (MethodInfo.callers and access). The refusal texts are the
 * ones the handlers gave when they checked for themselves.
 *
 * Access: read changes nothing the router keeps (the access log a GetCase
 * leaves is the router's own record, not the caller's write); write changes
 * it (a step, a receipt, a backup or anchor, a session); poll is a read
 * that may wait for a delivery.
 */
#include "router/methods.h"

#include <string.h>

#include "core/i18n.h"

#define UNIT RPC_ACCEPT_KIND(MC_PRINCIPAL_UNIT)
#define COORDINATOR RPC_ACCEPT_KIND(MC_PRINCIPAL_COORDINATOR)
#define ROUTER "mediation.v1.Router"
#define ADMIN "mediation.v1.RouterAdmin"
#define CLUSTER "mediation.v1.RouterCluster"
#define FOR_COORDINATORS N_("backups and checks are for coordinators")

static const rt_method table[] = {
    {ROUTER, "Apply", UNIT | COORDINATOR, RPC_ACCESS_WRITE, NULL},
    {ROUTER, "GetCase", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {ROUTER, "ListCases", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {ROUTER, "Stuck", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {ROUTER, "GetFigures", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {ROUTER, "PullDeliveries", UNIT, RPC_ACCESS_POLL, N_("only units receive deliveries")},
    {ROUTER, "AckDeliveries", UNIT, RPC_ACCESS_WRITE, N_("only units acknowledge deliveries")},
    {ROUTER, "Search", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {ADMIN, "Backup", COORDINATOR, RPC_ACCESS_WRITE, FOR_COORDINATORS},
    {ADMIN, "Verify", COORDINATOR, RPC_ACCESS_READ, FOR_COORDINATORS},
    {ADMIN, "Anchor", COORDINATOR, RPC_ACCESS_WRITE, FOR_COORDINATORS},
    {ADMIN, "ListAccess", COORDINATOR, RPC_ACCESS_READ, FOR_COORDINATORS},
    {ADMIN, "Status", COORDINATOR, RPC_ACCESS_READ, FOR_COORDINATORS},
    {CLUSTER, "Status", COORDINATOR, RPC_ACCESS_READ, FOR_COORDINATORS},
    {CLUSTER, "TransferLeader", COORDINATOR, RPC_ACCESS_WRITE, FOR_COORDINATORS},
    {CLUSTER, "AddNode", COORDINATOR, RPC_ACCESS_WRITE, FOR_COORDINATORS},
    {CLUSTER, "RemoveNode", COORDINATOR, RPC_ACCESS_WRITE, FOR_COORDINATORS},
    {"mediation.v1.Health", "Check", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {"mediation.v1.Reflection", "ListServices", UNIT | COORDINATOR, RPC_ACCESS_READ, NULL},
    {"mediation.v1.RpcSession", "Open", UNIT | COORDINATOR, RPC_ACCESS_WRITE, NULL},
};

#define N_METHODS (sizeof(table) / sizeof(table[0]))

const rt_method *rt_methods(size_t *n) {
  *n = N_METHODS;
  return table;
}

const rt_method *rt_method_find(const char *service, const char *method) {
  for (size_t i = 0; i < N_METHODS; i++) {
    if (strcmp(table[i].method, method) == 0 && strcmp(table[i].service, service) == 0)
      return &table[i];
  }
  return NULL;
}

uint32_t rt_methods_callers(void) {
  uint32_t kinds = 0;
  for (size_t i = 0; i < N_METHODS; i++)
    kinds |= table[i].callers;
  return kinds;
}

bool rt_methods_accept(void *arg, const mc_principal *caller, const char *service,
                       const char *method, const char **why) {
  (void)arg;
  const rt_method *m = rt_method_find(service, method);
  if (m == NULL || (m->callers & RPC_ACCEPT_KIND(caller->kind)))
    return true;
  *why = m->refusal;
  return false;
}

bool rt_methods_describe(void *arg, const char *service, const char *method, uint32_t *callers,
                         rpc_access *access) {
  (void)arg;
  const rt_method *m = rt_method_find(service, method);
  if (m == NULL)
    return false;
  *callers = m->callers;
  *access = m->access;
  return true;
}
