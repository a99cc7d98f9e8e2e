/*
 * registry_lookup.c - finding units, communities and principals in a loaded
 * registry (see registry.h). Part of the pure domain: the state machine and
 * the access rules look entries up here, while loading the file (inih,
 * registry_load.c) belongs to the runtime library, which the domain never links.
 */
#include "core/registry.h"

#include <string.h>

const mc_unit *mc_registry_unit(const mc_registry *reg, const char *id) {
  for (size_t i = 0; i < reg->n_units; i++) {
    if (strcmp(reg->units[i].id, id) == 0)
      return &reg->units[i];
  }
  return NULL;
}

const mc_community *mc_registry_community(const mc_registry *reg, const char *id) {
  for (size_t i = 0; i < reg->n_communities; i++) {
    if (strcmp(reg->communities[i].id, id) == 0)
      return &reg->communities[i];
  }
  return NULL;
}

const mc_principal *mc_registry_principal(const mc_registry *reg, const char *id) {
  for (size_t i = 0; i < reg->n_principals; i++) {
    if (strcmp(reg->principals[i].id, id) == 0)
      return &reg->principals[i];
  }
  return NULL;
}

const mc_web_site *mc_registry_web_site(const mc_registry *reg, const char *site) {
  for (size_t i = 0; i < reg->n_web_sites; i++) {
    if (strcmp(reg->web_sites[i].id, site) == 0)
      return &reg->web_sites[i];
  }
  return NULL;
}

const mc_unit *mc_registry_station(const mc_registry *reg, const char *community_id) {
  const mc_community *c = mc_registry_community(reg, community_id);
  if (c != NULL && c->station != NULL)
    return mc_registry_unit(reg, c->station);
  for (size_t i = 0; i < reg->n_units; i++) {
    const mc_unit *u = &reg->units[i];
    if (u->kind == MC_UNIT_COMMUNITY && strcmp(u->community, community_id) == 0)
      return u;
  }
  return NULL;
}

const mc_unit *mc_registry_first_of_kind(const mc_registry *reg, mc_unit_kind kind) {
  for (size_t i = 0; i < reg->n_units; i++) {
    if (reg->units[i].kind == kind)
      return &reg->units[i];
  }
  return NULL;
}

const mc_unit *mc_registry_find_unit(const mc_registry *reg, const char *id_or_name) {
  const mc_unit *u = mc_registry_unit(reg, id_or_name);
  for (size_t i = 0; u == NULL && i < reg->n_units; i++) {
    if (strcmp(reg->units[i].name, id_or_name) == 0)
      u = &reg->units[i];
  }
  return u;
}

const mc_community *mc_registry_find_community(const mc_registry *reg, const char *id_or_name) {
  const mc_community *c = mc_registry_community(reg, id_or_name);
  for (size_t i = 0; c == NULL && i < reg->n_communities; i++) {
    if (strcmp(reg->communities[i].name, id_or_name) == 0)
      c = &reg->communities[i];
  }
  return c;
}
