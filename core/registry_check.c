/*
 * registry_check.c - the checks of a loaded registry that look across its
 * sections: a web site's unit and principal, a unit's reminder route, a
 * cluster node's id and addresses, and names unique across units and
 * communities. registry_load.c reads the file and runs these once every
 * section is in, so sections may come in any order; split from it to keep
 * reading and checking apart.
 */
#include "core/registry_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/names.h"
#include "core/text.h"

typedef struct check_state {
  mc_registry *reg;
  const char *origin;
  mc_err *err;
} check_state;

/* A web site is a unit's or the coordinators', keeps its accounts
 * somewhere, and signs as someone who may call its service. */
static mc_code check_web_site(check_state *st, const mc_web_site *w) {
  mc_registry *reg = st->reg;
  bool coordinators = strcmp(w->id, MC_WEB_COORDINATORS) == 0;
  if (!coordinators && mc_registry_unit(reg, w->id) == NULL)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [web %s] is neither a [unit] section's id nor \"%s\""), st->origin,
                      w->id, MC_WEB_COORDINATORS);
  if (w->data_dir == NULL || w->data_dir[0] == '\0')
    return mc_err_set(st->err, MC_INVALID_ARGUMENT, _("%s: [web %s] has no data_dir"),
                      st->origin, w->id);
  if ((w->tls_cert == NULL) != (w->tls_key == NULL))
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [web %s] needs both tls_cert and tls_key, or neither"), st->origin,
                      w->id);
  if (w->principal == NULL)
    return MC_OK;
  const mc_principal *p = mc_registry_principal(reg, w->principal);
  bool fits = p != NULL && (coordinators ? p->kind == MC_PRINCIPAL_COORDINATOR
                                         : p->kind == MC_PRINCIPAL_OPERATOR &&
                                               strcmp(p->unit, w->id) == 0);
  if (!fits)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [web %s] principal \"%s\" is not %s"), st->origin, w->id,
                      w->principal,
                      coordinators ? _("a [coordinator] section")
                                   : _("an [operator] of that unit"));
  return MC_OK;
}

/* A cluster's node has a raft id, an endpoint and a raft address, each
 * unique, and a cluster is raft's. */
static mc_code check_node(check_state *st, size_t i) {
  mc_registry *reg = st->reg;
  mc_router_node *n = &reg->nodes[i];
  char *end = NULL;
  unsigned long long v = strtoull(n->id, &end, 10);
  if (n->id[0] < '1' || n->id[0] > '9' || *end != '\0' || v > 65535)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [cluster %s]: the id must be a number from 1 to 65535"), st->origin,
                      n->id);
  n->raft_id = v;
  if (n->endpoint == NULL || n->raft_address == NULL)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [cluster %s] needs both endpoint and raft_address"), st->origin,
                      n->id);
  if (strcmp(reg->storage.mode, "raft") != 0)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [cluster %s] needs [storage] mode = raft"), st->origin, n->id);
  for (size_t j = 0; j < i; j++) {
    const mc_router_node *o = &reg->nodes[j];
    if (strcmp(o->endpoint, n->endpoint) == 0 || strcmp(o->raft_address, n->raft_address) == 0)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                        _("%s: [cluster %s] and [cluster %s] share an endpoint or raft_address"),
                        st->origin, o->id, n->id);
  }
  return MC_OK;
}

/* A unit's reminders (mediation-remind) name a whole mail route or none, a
 * robot kind the daemon can speak, and a time of day it can read. */
static mc_code check_unit_remind(check_state *st, const mc_unit *u) {
  const mc_unit_remind *r = &u->remind;
  bool mail = r->smtp_url != NULL || r->mail_from != NULL || r->n_mail_to > 0;
  if (mail && (r->smtp_url == NULL || r->mail_from == NULL || r->n_mail_to == 0))
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [unit %s] reminders by mail need smtp_url, mail_from and at least "
                        "one mail_to"),
                      st->origin, u->id);
  if (r->webhook_kind != NULL && strcmp(r->webhook_kind, "wecom") != 0 &&
      strcmp(r->webhook_kind, "dingtalk") != 0)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [unit %s] webhook_kind: expected wecom or dingtalk, got \"%s\""),
                      st->origin, u->id, r->webhook_kind);
  if (r->digest_at != NULL) {
    const char *t = r->digest_at;
    bool ok = strlen(t) == 5 && t[2] == ':';
    for (int i = 0; ok && i < 5; i++)
      ok = i == 2 || (t[i] >= '0' && t[i] <= '9');
    if (!ok || (t[0] - '0') * 10 + (t[1] - '0') > 23 || (t[3] - '0') * 10 + (t[4] - '0') > 59)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                        _("%s: [unit %s] digest_at: expected a time of day HH:MM, got \"%s\""),
                        st->origin, u->id, t);
  }
  return MC_OK;
}

/* Every way people name a unit or community: one entry's id, name or alias. */
typedef struct name_ref {
  const char *text;
  const char *what; /* "unit" or "community" */
  const char *id;   /* the entry's id */
} name_ref;

static size_t add_names(name_ref *out, size_t n, const char *what, const char *id,
                        const char *name, char *const *aliases, size_t n_aliases) {
  out[n++] = (name_ref){id, what, id};
  if (name != NULL && strcmp(name, id) != 0) /* a name left out defaults to the id */
    out[n++] = (name_ref){name, what, id};
  for (size_t k = 0; k < n_aliases; k++)
    out[n++] = (name_ref){aliases[k], what, id};
  return n;
}

/* A name typed by a person must lead to one unit or community: ids, names
 * and aliases of all of them are one namespace, checked here at load so a
 * lookup (mc_registry_find_unit) never has to choose. Quadratic: registries
 * hold tens of entries. */
static mc_code check_names_unique(check_state *st) {
  const mc_registry *reg = st->reg;
  size_t cap = 0;
  for (size_t i = 0; i < reg->n_units; i++)
    cap += 2 + reg->units[i].n_aliases;
  for (size_t i = 0; i < reg->n_communities; i++)
    cap += 2 + reg->communities[i].n_aliases;
  name_ref *all = calloc(cap ? cap : 1, sizeof(*all));
  if (all == NULL)
    return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  size_t n = 0;
  for (size_t i = 0; i < reg->n_units; i++) {
    const mc_unit *u = &reg->units[i];
    n = add_names(all, n, "unit", u->id, u->name, u->aliases, u->n_aliases);
  }
  for (size_t i = 0; i < reg->n_communities; i++) {
    const mc_community *c = &reg->communities[i];
    n = add_names(all, n, "community", c->id, c->name, c->aliases, c->n_aliases);
  }
  mc_code rc = MC_OK;
  for (size_t i = 0; i < n && rc == MC_OK; i++) {
    if (all[i].text[0] == '\0')
      rc = mc_err_set(st->err, MC_INVALID_ARGUMENT, _("%s: [%s %s] has an empty alias"),
                      st->origin, all[i].what, all[i].id);
    for (size_t k = i + 1; k < n && rc == MC_OK; k++) {
      if (strcmp(all[i].text, all[k].text) == 0)
        rc = mc_err_set(st->err, MC_INVALID_ARGUMENT,
                        _("%s: \"%s\" names both [%s %s] and [%s %s]: unit and community ids, "
                          "names and aliases must all differ"),
                        st->origin, all[i].text, all[i].what, all[i].id, all[k].what,
                        all[k].id);
    }
  }
  free(all);
  return rc;
}

mc_code mc_registry_check_sections(mc_registry *reg, const char *origin, mc_err *err) {
  check_state cs = {.reg = reg, .origin = origin, .err = err}, *st = &cs;
  for (size_t i = 0; i < reg->n_web_sites; i++) {
    mc_code rc = check_web_site(st, &reg->web_sites[i]);
    if (rc != MC_OK)
      return rc;
  }
  for (size_t i = 0; i < reg->n_units; i++) {
    mc_code rc = check_unit_remind(st, &reg->units[i]);
    if (rc != MC_OK)
      return rc;
  }
  for (size_t i = 0; i < reg->n_nodes; i++) {
    mc_code rc = check_node(st, i);
    if (rc != MC_OK)
      return rc;
  }
  return check_names_unique(st);
}
