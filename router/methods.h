/*
 * methods.h - the router's method table: for every method the router
 * serves (its own services and rpc's built-ins), the kinds of caller
 * allowed and what it does. The one place that says who may call what;
 * what a caller may then see of a case is core/access.c's.
 */
#ifndef RT_METHODS_H
#define RT_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/registry.h"
#include "rpc/server.h"

typedef struct rt_method {
  const char *service; /* full name, "mediation.v1.Router" */
  const char *method;  /* "Apply" */
  uint32_t callers;    /* RPC_ACCEPT_KIND(MC_PRINCIPAL_...) bits */
  rpc_access access;
  /* What another kind of caller the router serves is told (PERMISSION_DENIED);
   * NULL: rpc's own "<kind> "<id>" may not call S/M on this server". */
  const char *refusal;
} rt_method;

/* The table, *n rows. Static. */
const rt_method *rt_methods(size_t *n);

/* The row of service/method, or NULL. */
const rt_method *rt_method_find(const char *service, const char *method);

/* Every kind of caller any method allows: the server's accept_kinds, so a
 * principal of another kind (an operator) is refused by rpc as before. */
uint32_t rt_methods_callers(void);

/* rpc_accept_fn over the table (arg unused). A method without a row is let
 * through: rpc answers UNIMPLEMENTED for it, as it does without a table. */
bool rt_methods_accept(void *arg, const mc_principal *caller, const char *service,
                       const char *method, const char **why);

/* rpc_describe_fn over the table (arg unused), for Reflection. */
bool rt_methods_describe(void *arg, const char *service, const char *method, uint32_t *callers,
                         rpc_access *access);

#endif /* RT_METHODS_H */
