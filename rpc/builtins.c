/*
 * builtins.c - the services every rpc server answers itself: Health/Check
 * (serving or not, the program, its version and certificate) and
 * Reflection/ListServices (every service and method, with who may call
 * each and whether it reads or writes). RpcSession is session.c's.
 *
 * Split from dispatch.c, which keeps the path of a request; these are
 * ordinary handlers on that path, registered first at server creation.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "rpc/internal.h"

#define SERVER_OF(ptr, member) ((rpc_server *)((char *)(ptr) - offsetof(rpc_server, member)))

static void builtin_check(Mediation__V1__Health_Service *svc,
                          const Mediation__V1__HealthCheckRequest *in,
                          Mediation__V1__HealthCheckReply_Closure done, void *call) {
  rpc_server *srv = SERVER_OF(svc, health);
  Mediation__V1__HealthCheckReply out = MEDIATION__V1__HEALTH_CHECK_REPLY__INIT;
  char detail[sizeof(srv->detail)];
  pthread_mutex_lock(&srv->mtx);
  bool serving = srv->serving && !srv->stopping;
  snprintf(detail, sizeof(detail), "%s", srv->stopping ? "stopping" : srv->detail);
  pthread_mutex_unlock(&srv->mtx);
  if (in->service != NULL && in->service[0] != '\0' && rpc__find_service(srv, in->service) == NULL)
    out.status = MV_SERVING(SERVICE_UNKNOWN);
  else
    out.status = serving ? MV_SERVING(SERVING) : MV_SERVING(NOT_SERVING);
  out.server = srv->program;
  out.version = srv->version;
  out.started_ms = srv->started_ms;
  out.detail = serving ? "" : detail;
  Mediation__V1__CertificateStatus cert = MEDIATION__V1__CERTIFICATE_STATUS__INIT;
  Mediation__V1__CertificateStatus *certs[1] = {&cert};
  char names[sizeof(srv->cert.names)];
  pthread_mutex_lock(&srv->peers_mtx);
  if (srv->has_cert) {
    cert.file = srv->tls_cert;
    snprintf(names, sizeof(names), "%s", srv->cert.names);
    cert.names = names;
    cert.not_after_ms = srv->cert.not_after_ms;
    out.certificates = certs;
    out.n_certificates = 1;
  }
  pthread_mutex_unlock(&srv->peers_mtx);
  done(&out, call);
}

#define CALLER_KINDS 3 /* mc_principal_kind: unit, coordinator, operator */
#define CALLER_KIND(x) MEDIATION__V1__CALLER_KIND__CALLER_KIND_##x
#define METHOD_ACCESS(x) MEDIATION__V1__METHOD_ACCESS__METHOD_ACCESS_##x
_Static_assert((int)MC_PRINCIPAL_UNIT == (int)CALLER_KIND(UNIT) &&
                   (int)MC_PRINCIPAL_COORDINATOR == (int)CALLER_KIND(COORDINATOR) &&
                   (int)MC_PRINCIPAL_OPERATOR == (int)CALLER_KIND(OPERATOR),
               "mc_principal_kind differs from the wire's CallerKind");
_Static_assert((int)RPC_ACCESS_READ == (int)METHOD_ACCESS(READ) &&
                   (int)RPC_ACCESS_WRITE == (int)METHOD_ACCESS(WRITE) &&
                   (int)RPC_ACCESS_POLL == (int)METHOD_ACCESS(POLL),
               "rpc_access differs from the wire's MethodAccess");

/* A method's callers and access, from the server's describe callback;
 * kinds has room for CALLER_KINDS and is borrowed by info. */
static void describe_method(rpc_server *srv, const char *service, Mediation__V1__MethodInfo *info,
                            Mediation__V1__CallerKind *kinds) {
  uint32_t callers = 0;
  rpc_access access = RPC_ACCESS_UNSPECIFIED;
  if (srv->describe == NULL ||
      !srv->describe(srv->accept_arg, service, info->name, &callers, &access))
    return;
  for (int k = 1; k <= CALLER_KINDS; k++) {
    if (callers & RPC_ACCEPT_KIND(k))
      kinds[info->n_callers++] = (Mediation__V1__CallerKind)k;
  }
  info->callers = kinds;
  info->access = (Mediation__V1__MethodAccess)access;
}

static void builtin_list_services(Mediation__V1__Reflection_Service *svc,
                                  const Mediation__V1__ListServicesRequest *in,
                                  Mediation__V1__ListServicesReply_Closure done, void *call) {
  (void)in;
  rpc_server *srv = SERVER_OF(svc, reflection);
  size_t n_methods = 0;
  for (size_t i = 0; i < srv->n_services; i++)
    n_methods += srv->services[i]->descriptor->n_methods;
  /* Everything borrows from the descriptors; only the arrays are ours. */
  Mediation__V1__ServiceInfo *infos = calloc(srv->n_services + 1, sizeof(*infos));
  Mediation__V1__ServiceInfo **info_ptrs = calloc(srv->n_services + 1, sizeof(*info_ptrs));
  Mediation__V1__MethodInfo *methods = calloc(n_methods + 1, sizeof(*methods));
  Mediation__V1__MethodInfo **method_ptrs = calloc(n_methods + 1, sizeof(*method_ptrs));
  Mediation__V1__CallerKind *kinds = calloc(CALLER_KINDS * n_methods + 1, sizeof(*kinds));
  if (infos == NULL || info_ptrs == NULL || methods == NULL || method_ptrs == NULL ||
      kinds == NULL) {
    free(infos);
    free(info_ptrs);
    free(methods);
    free(method_ptrs);
    free(kinds);
    rpc_call_fail(call, MC_RESOURCE_EXHAUSTED, "%s", _("out of memory listing services"));
    return;
  }
  size_t m = 0;
  for (size_t i = 0; i < srv->n_services; i++) {
    const ProtobufCServiceDescriptor *d = srv->services[i]->descriptor;
    mediation__v1__service_info__init(&infos[i]);
    infos[i].name = (char *)d->name;
    infos[i].n_methods = d->n_methods;
    infos[i].methods = &method_ptrs[m];
    for (unsigned k = 0; k < d->n_methods; k++, m++) {
      mediation__v1__method_info__init(&methods[m]);
      methods[m].name = (char *)d->methods[k].name;
      methods[m].input_type = (char *)d->methods[k].input->name;
      methods[m].output_type = (char *)d->methods[k].output->name;
      describe_method(srv, d->name, &methods[m], &kinds[CALLER_KINDS * m]);
      method_ptrs[m] = &methods[m];
    }
    info_ptrs[i] = &infos[i];
  }
  Mediation__V1__ListServicesReply out = MEDIATION__V1__LIST_SERVICES_REPLY__INIT;
  out.n_services = srv->n_services;
  out.services = info_ptrs;
  done(&out, call);
  free(infos);
  free(info_ptrs);
  free(methods);
  free(method_ptrs);
  free(kinds);
}

mc_code rpc__register_builtins(rpc_server *srv, mc_err *err) {
  srv->health = (Mediation__V1__Health_Service)MEDIATION__V1__HEALTH__INIT(builtin_);
  srv->reflection =
      (Mediation__V1__Reflection_Service)MEDIATION__V1__REFLECTION__INIT(builtin_);
  mc_code rc = rpc_server_register(srv, &srv->health.base, err);
  if (rc == MC_OK)
    rc = rpc_server_register(srv, &srv->reflection.base, err);
  if (rc == MC_OK)
    rc = rpc__sessions_register(srv, err);
  return rc;
}
