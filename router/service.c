/*
 * service.c - the Router service (proto/mediation/v1/router.proto): one
 * handler per rpc, wired by the generated MEDIATION__V1__ROUTER__INIT so a
 * missing handler does not compile.
 *
 * Who may call each is router/methods.c's table, applied by the server
 * before a handler runs. Handlers run on nng's threads. Writes (Apply,
 * AckDeliveries) are checked for what can be checked without the store,
 * then handed to the writer and answered after the commit; reads are
 * answered here from their own read transaction.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/access.h"
#include "core/clock.h"
#include "core/log.h"
#include "router/internal.h"

#define ROUTER_OF(service)                                                                    \
  ((rt_router *)((char *)(service)-offsetof(rt_router, service)))

static rt_job *new_job(rt_router *rt, rt_job_kind kind, rpc_call *call,
                       const ProtobufCMessage *request) {
  rt_job *job = calloc(1, sizeof(*job));
  if (job == NULL) {
    /* not RESOURCE_EXHAUSTED: a unit would take that for a refusal */
    rpc_call_fail(call, MC_UNAVAILABLE, _("out of memory; nothing was applied"));
    return NULL;
  }
  job->kind = kind;
  job->reg = rt->reg;
  job->call = call;
  if (call != NULL) {
    job->caller = rpc_call_caller(call);
    memcpy(job->request_id, rpc_call_request_id(call), RPC_REQUEST_ID_BYTES);
  }
  job->now_ms = mc_now_ms();
  job->request = request;
  return job;
}

static void router_apply(Mediation__V1__Router_Service *service,
                         const Mediation__V1__ApplyRequest *input,
                         Mediation__V1__ApplyReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_router *rt = ROUTER_OF(service);
  rpc_call *call = closure_data;
  rt_job *job = new_job(rt, RT_JOB_APPLY, call, &input->base);
  if (job != NULL) {
    rt_job_prepare(rt, job);
    rt_writer_submit(rt, job);
  }
}

/* Logs a read of a case file (who looked at whose case, and the person at
 * the desk who asked, "" if the caller did not say): written by the writer
 * with the next batch; the read itself does not wait for it. */
static void log_access(rt_router *rt, const mc_principal *who, const char *person,
                       const char *case_id, bool timeline) {
  Mediation__V1__AccessRecord *rec = malloc(sizeof(*rec));
  Mediation__V1__Actor *actor = malloc(sizeof(*actor));
  rt_job *job = new_job(rt, RT_JOB_ACCESS, NULL, NULL);
  if (rec == NULL || actor == NULL || job == NULL) {
    free(rec);
    free(actor);
    free(job);
    mc_log(MC_LOG_ERR, case_id, "out of memory: read by %s not logged", who->id);
    return;
  }
  mediation__v1__access_record__init(rec);
  rt_actor_of(who, NULL, actor);
  actor->id = strdup(who->id);
  actor->person = strdup(person);
  rec->who = actor;
  rec->at_ms = job->now_ms;
  rec->case_id = strdup(case_id);
  rec->method = strdup("GetCase");
  rec->timeline = timeline;
  job->access = rec; /* freed with free_unpacked: every part is malloc'd */
  if (actor->id == NULL || actor->person == NULL || rec->case_id == NULL ||
      rec->method == NULL) {
    rt_job_free(job);
    mc_log(MC_LOG_ERR, case_id, "out of memory: read by %s not logged", who->id);
    return;
  }
  rt_writer_submit(rt, job);
}

void rt_access_submit(rt_router *rt, Mediation__V1__AccessRecord *rec) {
  rt_job *job = new_job(rt, RT_JOB_ACCESS, NULL, NULL);
  if (job == NULL) {
    mc_log(MC_LOG_ERR, NULL, "out of memory: an access record was not logged");
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    return;
  }
  rec->at_ms = job->now_ms;
  job->access = rec;
  rt_writer_submit(rt, job);
}

static void router_get_case(Mediation__V1__Router_Service *service,
                            const Mediation__V1__GetCaseRequest *input,
                            Mediation__V1__GetCaseReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_router *rt = ROUTER_OF(service);
  rpc_call *call = closure_data;
  const mc_principal *caller = rpc_call_caller(call);
  st_txn *txn = NULL;
  mv_case *c = NULL;
  mv_event **events = NULL;
  size_t n = 0;
  mc_err err;
  /* The reader's person goes into the access log: checked like an action's
   * person (the log is read by people and by tools). */
  mc_code rc = mc_text_check(input->person, rt->reg->limits.max_name_bytes, "person", &err);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
    return;
  }
  rc = st_read_begin(rt->store, &txn, &err);
  if (rc == MC_OK)
    rc = st_case_get_by_ref(txn, input->case_ref, &c, &err);
  if (rc == MC_OK && !rt_may_read(rt, c, caller))
    rc = mc_err_set(&err, MC_PERMISSION_DENIED, _("%s may not see case %s"), caller->id, c->id);
  if (rc == MC_OK && input->with_timeline)
    rc = st_events_get(txn, c->id, &events, &n, &err);
  /* 再次纠纷 links: only the earlier cases this caller may see. */
  if (rc == MC_OK)
    rc = rt_visible_repeats(rt, txn, c, caller, &err);
  for (size_t i = 0; i < n && rc == MC_OK; i++)
    if (events[i]->action != NULL && events[i]->action->args_case == MV_ARGS(INTAKE)) /* a oneof */
      rc = rt_visible_repeats_in(rt, txn, events[i]->action->intake, caller, &err);
  st_read_end(txn);
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
  } else {
    bool masked = !rt_sees_personal_data(c, caller);
    if (masked) {
      for (size_t i = 0; i < n; i++)
        mc_mask_event(events[i]);
      mc_mask_case(c);
    }
    Mediation__V1__GetCaseReply reply = MEDIATION__V1__GET_CASE_REPLY__INIT;
    reply.case_record = c;
    reply.events = events;
    reply.n_events = n;
    reply.masked = masked;
    bool timeline = input->with_timeline; /* input is freed with the call */
    char *person = strdup(input->person);
    rpc_call_reply(call, &reply.base);
    if (person == NULL)
      mc_log(MC_LOG_ERR, c->id, "out of memory: read by %s not logged", caller->id);
    else
      log_access(rt, caller, person, c->id, timeline);
    free(person);
  }
  st_messages_free(events, n);
  if (c)
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void router_list_cases(Mediation__V1__Router_Service *service,
                              const Mediation__V1__ListCasesRequest *input,
                              Mediation__V1__ListCasesReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_list_cases(ROUTER_OF(service), closure_data, rpc_call_caller(closure_data), input);
}

static void router_stuck(Mediation__V1__Router_Service *service,
                         const Mediation__V1__StuckRequest *input,
                         Mediation__V1__StuckReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_stuck(ROUTER_OF(service), closure_data, rpc_call_caller(closure_data), input);
}

static void router_get_figures(Mediation__V1__Router_Service *service,
                               const Mediation__V1__GetFiguresRequest *input,
                               Mediation__V1__GetFiguresReply_Closure closure,
                               void *closure_data) {
  (void)closure;
  rt_figures(ROUTER_OF(service), closure_data, rpc_call_caller(closure_data), input);
}

static void router_pull_deliveries(Mediation__V1__Router_Service *service,
                                   const Mediation__V1__PullDeliveriesRequest *input,
                                   Mediation__V1__PullDeliveriesReply_Closure closure,
                                   void *closure_data) {
  (void)closure;
  rt_router *rt = ROUTER_OF(service);
  const mc_principal *caller = rpc_call_caller(closure_data);
  /* Its index in the registry says whose liveness this is, for
   * RouterAdmin/Status (methods.c admits units only). */
  const mc_principal *own = mc_registry_principal(rt->reg, caller->id);
  if (own != NULL)
    atomic_store(&rt->last_pull_ms[own - rt->reg->principals], mc_now_ms());
  rt_pull(rt, closure_data, caller, input);
}

/* Receipts are checked here, off the writer: each must be the caller's own,
 * signed with its key. */
static void router_ack_deliveries(Mediation__V1__Router_Service *service,
                                  const Mediation__V1__AckDeliveriesRequest *input,
                                  Mediation__V1__AckDeliveriesReply_Closure closure,
                                  void *closure_data) {
  (void)closure;
  rt_router *rt = ROUTER_OF(service);
  rpc_call *call = closure_data;
  const mc_principal *caller = rpc_call_caller(call); /* a unit: router/methods.c */
  if (input->n_receipts == 0 || input->n_receipts > rt->reg->limits.page_size_max) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT, _("receipts: give 1 to %u receipts"),
                  rt->reg->limits.page_size_max);
    return;
  }
  for (size_t i = 0; i < input->n_receipts; i++) {
    const mv_receipt *r = input->receipts[i];
    if (strcmp(r->unit, caller->id) != 0) {
      rpc_call_fail(call, MC_PERMISSION_DENIED,
                    _("receipts[%zu]: signed for unit %s, but the caller is %s"), i, r->unit,
                    caller->id);
      return;
    }
    mc_err err;
    if (rpc_verify_message(caller->public_key, &r->base, &err) != MC_OK) {
      rpc_call_fail(call, MC_UNAUTHENTICATED, _("receipts[%zu]: %s"), i, err.msg);
      return;
    }
  }
  rt_job *job = new_job(rt, RT_JOB_ACK, call, &input->base);
  if (job != NULL)
    rt_writer_submit(rt, job);
}

static void router_search(Mediation__V1__Router_Service *service,
                          const Mediation__V1__SearchRequest *input,
                          Mediation__V1__SearchReply_Closure closure, void *closure_data) {
  (void)closure;
  rt_search(ROUTER_OF(service), closure_data, rpc_call_caller(closure_data), input);
}

void rt_service_init(rt_router *rt) {
  Mediation__V1__Router_Service init = MEDIATION__V1__ROUTER__INIT(router_);
  rt->service = init;
}
