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

const mc_router_node *mc_registry_node(const mc_registry *reg, uint64_t raft_id) {
  for (size_t i = 0; i < reg->n_nodes; i++) {
    if (reg->nodes[i].raft_id == raft_id)
      return &reg->nodes[i];
  }
  return NULL;
}

size_t mc_registry_router_endpoints(const mc_registry *reg, const char *out[], size_t cap) {
  if (reg->n_nodes == 0) {
    if (reg->router.endpoint == NULL || reg->router.endpoint[0] == '\0')
      return 0;
    if (cap > 0)
      out[0] = reg->router.endpoint;
    return 1;
  }
  /* Raft-id order, whatever the file's order: every client of one registry
   * then tries the nodes in the same order. Selection by the next larger
   * id: tens of nodes at most, and no allocation. */
  uint64_t last = 0;
  for (size_t k = 0; k < reg->n_nodes; k++) {
    const mc_router_node *next = NULL;
    for (size_t i = 0; i < reg->n_nodes; i++) {
      const mc_router_node *n = &reg->nodes[i];
      if (n->raft_id > last && (next == NULL || n->raft_id < next->raft_id))
        next = n;
    }
    if (next == NULL)
      break;
    if (k < cap)
      out[k] = next->endpoint;
    last = next->raft_id;
  }
  return reg->n_nodes;
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

static bool in_list(char *const *list, size_t n, const char *text) {
  for (size_t k = 0; k < n; k++) {
    if (strcmp(list[k], text) == 0)
      return true;
  }
  return false;
}

const mc_unit *mc_registry_find_unit(const mc_registry *reg, const char *id_or_name) {
  const mc_unit *u = mc_registry_unit(reg, id_or_name);
  for (size_t i = 0; u == NULL && i < reg->n_units; i++) {
    const mc_unit *x = &reg->units[i];
    if (strcmp(x->name, id_or_name) == 0 || in_list(x->aliases, x->n_aliases, id_or_name))
      u = x;
  }
  return u;
}

const mc_community *mc_registry_find_community(const mc_registry *reg, const char *id_or_name) {
  const mc_community *c = mc_registry_community(reg, id_or_name);
  for (size_t i = 0; c == NULL && i < reg->n_communities; i++) {
    const mc_community *x = &reg->communities[i];
    if (strcmp(x->name, id_or_name) == 0 || in_list(x->aliases, x->n_aliases, id_or_name))
      c = x;
  }
  return c;
}

/* ---- did you mean ---- */

#define SUGGEST_MAX_CPS 64 /* longer names are not typos of a registry entry */

/* Decodes up to SUGGEST_MAX_CPS code points; -1 if longer. Invalid bytes
 * count as one code point each, so any input compares without failing. */
static int code_points(const char *s, uint32_t *cps) {
  const unsigned char *p = (const unsigned char *)s;
  int n = 0;
  while (*p != '\0') {
    if (n == SUGGEST_MAX_CPS)
      return -1;
    unsigned char c = *p;
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                               : (c & 0xF8) == 0xF0 ? 4 : 1;
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    size_t k = 1;
    for (; k < len && (p[k] & 0xC0) == 0x80; k++)
      v = (v << 6) | (p[k] & 0x3Fu);
    if (k < len) { /* truncated sequence: one byte, one code point */
      v = c;
      k = 1;
    }
    cps[n++] = v;
    p += k;
  }
  return n;
}

/* Levenshtein distance, two rows. */
static int distance(const uint32_t *a, int na, const uint32_t *b, int nb) {
  int prev[SUGGEST_MAX_CPS + 1], cur[SUGGEST_MAX_CPS + 1];
  for (int j = 0; j <= nb; j++)
    prev[j] = j;
  for (int i = 1; i <= na; i++) {
    cur[0] = i;
    for (int j = 1; j <= nb; j++) {
      int best = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      if (prev[j] + 1 < best)
        best = prev[j] + 1;
      if (cur[j - 1] + 1 < best)
        best = cur[j - 1] + 1;
      cur[j] = best;
    }
    memcpy(prev, cur, sizeof(int) * (size_t)(nb + 1));
  }
  return prev[nb];
}

typedef struct suggestion {
  uint32_t text[SUGGEST_MAX_CPS];
  int n_text;
  const char *best;
  int best_distance;
} suggestion;

static void consider(suggestion *sg, const char *candidate) {
  uint32_t cps[SUGGEST_MAX_CPS];
  int n = code_points(candidate, cps);
  if (n < 0)
    return;
  int d = distance(sg->text, sg->n_text, cps, n);
  int longer = n > sg->n_text ? n : sg->n_text;
  int allowed = longer / 3 > 1 ? longer / 3 : 1;
  if (d <= allowed && (sg->best == NULL || d < sg->best_distance)) {
    sg->best = candidate;
    sg->best_distance = d;
  }
}

const char *mc_registry_suggest(const mc_registry *reg, bool units, const char *text) {
  suggestion sg = {.best = NULL};
  sg.n_text = code_points(text, sg.text);
  if (sg.n_text <= 0)
    return NULL;
  if (units) {
    for (size_t i = 0; i < reg->n_units; i++) {
      const mc_unit *u = &reg->units[i];
      consider(&sg, u->id);
      consider(&sg, u->name);
      for (size_t k = 0; k < u->n_aliases; k++)
        consider(&sg, u->aliases[k]);
    }
  } else {
    for (size_t i = 0; i < reg->n_communities; i++) {
      const mc_community *c = &reg->communities[i];
      consider(&sg, c->id);
      consider(&sg, c->name);
      for (size_t k = 0; k < c->n_aliases; k++)
        consider(&sg, c->aliases[k]);
    }
  }
  return sg.best;
}
