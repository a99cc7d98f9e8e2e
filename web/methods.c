/*
 * methods.c - the one table of what a web site exposes: for each method,
 * the site kind, the service, read or write, and where the logged-in
 * person is written into the request. Nothing outside this table is
 * reachable through the gateway (api.c answers 404), and GET
 * /api/v1/methods lists it, so the pages and the tests read the same
 * truth. A write needs the session's CSRF token like every POST; the
 * read/write flag is for the listing and the pages.
 *
 * Stamps overwrite what the browser sent: the person recorded in the case
 * file (TakeIn's person, Act's action.person) and in the router's access
 * log (ShowCase's, Search's and GetCase's person) is always the one who
 * logged in.
 * They go through the descriptors by field name, so a contract without
 * the field fails loudly (INTERNAL) instead of silently dropping it.
 */
#include <stdlib.h>
#include <string.h>

#include "mv1.h"
#include "web/web.h"

mc_code wg_set_string_field(ProtobufCMessage *msg, const char *field, const char *value,
                            mc_err *err) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, field);
  if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
    return mc_err_set(err, MC_INTERNAL, "%s has no string field %s", msg->descriptor->short_name,
                      field);
  char *copy = strdup(value);
  if (copy == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  char **slot = (char **)(void *)((uint8_t *)msg + f->offset);
  /* protobuf_c_message_free_unpacked frees what is not the default. */
  if (*slot != NULL && *slot != (char *)protobuf_c_empty_string && *slot != f->default_value)
    free(*slot);
  *slot = copy;
  return MC_OK;
}

static mc_code stamp_person(ProtobufCMessage *req, const char *person, mc_err *err) {
  return wg_set_string_field(req, "person", person, err);
}

/* Desk/Act: action.person (an absent action stays absent: the Desk
 * refuses it with its own message). */
static mc_code stamp_action_person(ProtobufCMessage *req, const char *person, mc_err *err) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "action");
  if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
    return mc_err_set(err, MC_INTERNAL, "%s has no field action", req->descriptor->short_name);
  ProtobufCMessage *action = *(ProtobufCMessage **)(void *)((uint8_t *)req + f->offset);
  if (action == NULL)
    return MC_OK;
  return wg_set_string_field(action, "person", person, err);
}

/* Router/Apply on the coordinators' site: only the two steps the state
 * machine gives a coordinator (撤回流转 an offer, 重新调处 a closed case
 * whose agreement was not honoured), so the dashboard cannot become a
 * back door to every step of the contract; the router still checks the
 * case's state. The person who pressed the button goes into the case file. */
static mc_code stamp_coordinator_step(ProtobufCMessage *req, const char *person, mc_err *err) {
  const Mediation__V1__ApplyRequest *a = (const Mediation__V1__ApplyRequest *)req;
  if (req->descriptor != &mediation__v1__apply_request__descriptor)
    return mc_err_set(err, MC_INTERNAL, "%s is not ApplyRequest", req->descriptor->short_name);
  if (a->action == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "action: missing");
  if (a->action->kind != MEDIATION__V1__ACTION_KIND__ACTION_KIND_RECALL &&
      a->action->kind != MEDIATION__V1__ACTION_KIND__ACTION_KIND_REOPEN)
    return mc_err_set(err, MC_PERMISSION_DENIED,
                      "action.kind: the coordinators' site takes only recall and reopen");
  return stamp_action_person(req, person, err);
}

static const wg_method wg_table[] = {
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "TakeIn", WG_WRITE, stamp_person},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "Act", WG_WRITE, stamp_action_person},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "Inbox", WG_READ, NULL},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "ListCases", WG_READ, NULL},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "ShowCase", WG_READ, stamp_person},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "Conflicts", WG_READ, NULL},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "DismissConflict", WG_WRITE, NULL},
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "Roster", WG_READ, NULL},
    {WG_COORDINATOR, "Router", &mediation__v1__router__descriptor, "GetCase", WG_READ, stamp_person},
    {WG_COORDINATOR, "Router", &mediation__v1__router__descriptor, "ListCases", WG_READ, NULL},
    {WG_COORDINATOR, "Router", &mediation__v1__router__descriptor, "Stuck", WG_READ, NULL},
    {WG_COORDINATOR, "Router", &mediation__v1__router__descriptor, "GetFigures", WG_READ, NULL},
    {WG_COORDINATOR, "RouterAdmin", &mediation__v1__router_admin__descriptor, "Verify", WG_READ, NULL},
    {WG_COORDINATOR, "RouterAdmin", &mediation__v1__router_admin__descriptor, "ListAccess", WG_READ,
     NULL},
    {WG_COORDINATOR, "RouterAdmin", &mediation__v1__router_admin__descriptor, "Backup", WG_WRITE,
     NULL},
    /* The dashboard (issue 16): a coordinator's two steps, and the router's health. */
    {WG_COORDINATOR, "Router", &mediation__v1__router__descriptor, "Apply", WG_WRITE,
     stamp_coordinator_step},
    {WG_COORDINATOR, "Health", &mediation__v1__health__descriptor, "Check", WG_READ, NULL},
    /* The 健康 view's units, queues and backups (RouterAdmin/Status). */
    {WG_COORDINATOR, "RouterAdmin", &mediation__v1__router_admin__descriptor, "Status", WG_READ,
     NULL},
    /* The desk's search box: the router's search (a party's name, unit_ref,
     * mediator, whole ID number or phone) on the unit's behalf, read like
     * ShowCase; the router's access log names the person logged in. */
    {WG_UNIT, "Desk", &mediation__v1__desk__descriptor, "Search", WG_READ, stamp_person},
};

const wg_method *wg_methods(size_t *n) {
  *n = sizeof(wg_table) / sizeof(wg_table[0]);
  return wg_table;
}

const wg_method *wg_method_find(wg_kind site, const char *service, const char *method) {
  for (size_t i = 0; i < sizeof(wg_table) / sizeof(wg_table[0]); i++) {
    const wg_method *m = &wg_table[i];
    if (m->site == site && strcmp(m->service, service) == 0 && strcmp(m->method, method) == 0)
      return m;
  }
  return NULL;
}
