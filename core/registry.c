/*
 * registry.c - loading and checking the deployment's configuration (see
 * registry.h).
 *
 * inih calls one handler per key; the handler fills a registry being built
 * and remembers the first error. Cross-references (a station's community, a
 * community's station, an operator's unit) are checked once the whole file
 * has been read, so sections may come in any order.
 */
#include "core/registry.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "core/text.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

typedef struct parse_state {
  mc_registry *reg;
  const char *origin;
  mc_err *err;
  mc_code rc;
} parse_state;

static void set_defaults(mc_registry *reg) {
  reg->utc_offset_minutes = 8 * 60;
  reg->router.map_bytes = 64u << 20;
  reg->router.contexts = 64;
  reg->router.idempotency_ms = 7 * DAY_MS;
  reg->router.batch_max = 256;
  reg->router.backups_kept = 7;
  reg->deadline_ms[MV_STATE(INTAKE)] = 72 * HOUR_MS;
  reg->deadline_ms[MV_STATE(TRANSFER)] = 24 * HOUR_MS;
  reg->deadline_ms[MV_STATE(MEDIATION)] = 30 * DAY_MS;
  reg->deadline_ms[MV_STATE(FEEDBACK)] = 30 * DAY_MS;
  reg->deadline_ms[MV_STATE(LITIGATION)] = 180 * DAY_MS;
  reg->limits = (mc_limits){
      .max_message_bytes = 1u << 20,
      .max_text_bytes = 4096,
      .max_name_bytes = 128,
      .max_parties = 16,
      .max_team = 32,
      .max_sessions = 64,
      .max_events = 1000,
      .max_money_fen = 100000000000LL, /* 10 亿元 */
      .page_size_default = 50,
      .page_size_max = 500,
      .max_deadline_ahead_ms = 10 * 60 * 1000,
  };
  reg->policy = (mc_policy){
      .lawyer_above_fen = 5000000, /* 5 万元 */
      .followup_after_ms = 30 * DAY_MS,
  };
}

static mc_code fail(parse_state *st, const char *section, const char *name, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

static mc_code fail(parse_state *st, const char *section, const char *name, const char *fmt,
                    ...) {
  if (st->rc == MC_OK) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    st->rc = mc_err_set(st->err, MC_INVALID_ARGUMENT, "%s: [%s] %s: %s", st->origin, section,
                        name, what);
  }
  return st->rc;
}

/* Ids become file names, systemd instance names and LMDB keys: keep them to
 * a plain ASCII alphabet. */
static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(islower(c) || isdigit(c) || c == '-' || c == '_'))
      return false;
  }
  return true;
}

static char *dup_text(parse_state *st, const char *section, const char *name, const char *value) {
  mc_err terr;
  if (mc_text_check(value, 1024, name, &terr) != MC_OK) {
    fail(st, section, name, "%s", terr.msg);
    return NULL;
  }
  char *s = strdup(value);
  if (s == NULL)
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "%s: out of memory", st->origin);
  return s;
}

static bool replace_text(parse_state *st, char **slot, const char *section, const char *name,
                         const char *value) {
  char *s = dup_text(st, section, name, value);
  if (s == NULL)
    return false;
  free(*slot);
  *slot = s;
  return true;
}

static bool parse_i64(const char *value, int64_t min, int64_t max, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
    return false;
  *out = v;
  return true;
}

static bool number(parse_state *st, const char *section, const char *name, const char *value,
                   int64_t min, int64_t max, int64_t *out) {
  if (!parse_i64(value, min, max, out)) {
    fail(st, section, name, "expected a whole number from %lld to %lld, got \"%s\"",
         (long long)min, (long long)max, value);
    return false;
  }
  return true;
}

static bool parse_key(parse_state *st, const char *section, const char *name, const char *value,
                      uint8_t out[MC_KEY_BYTES]) {
  size_t len = 0;
  if (sodium_base642bin(out, MC_KEY_BYTES, value, strlen(value), NULL, &len, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != MC_KEY_BYTES) {
    fail(st, section, name, "expected a base64 Ed25519 public key (32 bytes)");
    return false;
  }
  return true;
}

/* "divorce custody, elder_support" -> bit mask over DisputeKind. */
static bool parse_kinds(parse_state *st, const char *section, const char *name,
                        const char *value, uint32_t *out) {
  char buf[512];
  if (strlen(value) >= sizeof(buf))
    return fail(st, section, name, "list too long"), false;
  strcpy(buf, value);
  uint32_t mask = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
    int kind;
    if (mc_name_parse(mc_kind_names, tok, &kind) != 0)
      return fail(st, section, name, "unknown dispute kind \"%s\"", tok), false;
    mask |= 1u << kind;
  }
  *out = mask;
  return true;
}

/* Finds or appends the entry of an array of structs whose first member is
 * `char *id`. */
static void *entry_for(parse_state *st, void **array, size_t *count, size_t elem,
                       const char *id) {
  char *base = *array;
  for (size_t i = 0; i < *count; i++) {
    if (strcmp(*(char **)(base + i * elem), id) == 0)
      return base + i * elem;
  }
  char *grown = realloc(base, (*count + 1) * elem);
  if (grown == NULL) {
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "%s: out of memory", st->origin);
    return NULL;
  }
  *array = grown;
  char *entry = grown + (*count) * elem;
  memset(entry, 0, elem);
  *(char **)entry = strdup(id);
  if (*(char **)entry == NULL) {
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "%s: out of memory", st->origin);
    return NULL;
  }
  (*count)++;
  return entry;
}

static bool append_str(parse_state *st, char ***array, size_t *count, const char *section,
                       const char *name, const char *value) {
  char *s = dup_text(st, section, name, value);
  if (s == NULL)
    return false;
  char **grown = realloc(*array, (*count + 1) * sizeof(char *));
  if (grown == NULL) {
    free(s);
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "%s: out of memory", st->origin);
    return false;
  }
  grown[(*count)++] = s;
  *array = grown;
  return true;
}

static bool handle_subdistrict(parse_state *st, const char *sec, const char *name,
                               const char *value) {
  mc_registry *reg = st->reg;
  int64_t v;
  if (strcmp(name, "name") == 0)
    return replace_text(st, &reg->subdistrict, sec, name, value);
  if (strcmp(name, "case_prefix") == 0) {
    size_t n = strlen(value);
    bool ok = n >= 1 && n <= 8;
    for (size_t i = 0; ok && i < n; i++)
      ok = isupper((unsigned char)value[i]) || isdigit((unsigned char)value[i]);
    if (!ok)
      return fail(st, sec, name, "expected 1-8 capital letters or digits, got \"%s\"", value),
             false;
    return replace_text(st, &reg->case_prefix, sec, name, value);
  }
  if (strcmp(name, "utc_offset_minutes") == 0) {
    if (!number(st, sec, name, value, -14 * 60, 14 * 60, &v))
      return false;
    reg->utc_offset_minutes = (int)v;
    return true;
  }
  if (strcmp(name, "keys_dir") == 0)
    return replace_text(st, &reg->keys_dir, sec, name, value);
  return fail(st, sec, name, "unknown key"), false;
}

static bool handle_router(parse_state *st, const char *sec, const char *name, const char *value) {
  mc_router_conf *r = &st->reg->router;
  int64_t v;
  if (strcmp(name, "endpoint") == 0)
    return replace_text(st, &r->endpoint, sec, name, value);
  if (strcmp(name, "data_dir") == 0)
    return replace_text(st, &r->data_dir, sec, name, value);
  if (strcmp(name, "tls_cert") == 0)
    return replace_text(st, &r->tls_cert, sec, name, value);
  if (strcmp(name, "tls_key") == 0)
    return replace_text(st, &r->tls_key, sec, name, value);
  if (strcmp(name, "tls_ca") == 0)
    return replace_text(st, &r->tls_ca, sec, name, value);
  if (strcmp(name, "tls_server_name") == 0)
    return replace_text(st, &r->tls_server_name, sec, name, value);
  if (strcmp(name, "backup_dir") == 0)
    return replace_text(st, &r->backup_dir, sec, name, value);
  if (strcmp(name, "public_key") == 0) /* signs case-file heads and anchors */
    return r->has_key = parse_key(st, sec, name, value, r->public_key);
  if (strcmp(name, "backups_kept") == 0) {
    if (!number(st, sec, name, value, 1, 1000, &v))
      return false;
    r->backups_kept = (unsigned)v;
    return true;
  }
  if (strcmp(name, "map_mib") == 0) {
    if (!number(st, sec, name, value, 1, 1 << 20, &v))
      return false;
    r->map_bytes = (size_t)v << 20;
    return true;
  }
  if (strcmp(name, "contexts") == 0) {
    if (!number(st, sec, name, value, 4, 4096, &v))
      return false;
    r->contexts = (unsigned)v;
    return true;
  }
  if (strcmp(name, "idempotency_hours") == 0) {
    if (!number(st, sec, name, value, 1, 24 * 366, &v))
      return false;
    r->idempotency_ms = v * HOUR_MS;
    return true;
  }
  if (strcmp(name, "batch_max") == 0) {
    if (!number(st, sec, name, value, 1, 4096, &v))
      return false;
    r->batch_max = (unsigned)v;
    return true;
  }
  return fail(st, sec, name, "unknown key"), false;
}

/* "90s", "45m", "24h", "30d" or "0" (no deadline). */
static bool parse_duration(const char *value, int64_t *out_ms) {
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  if (errno != 0 || end == value || v < 0 || v > 3660LL * 24 * 3600)
    return false;
  int64_t unit;
  switch (*end) {
  case 's': unit = 1000; break;
  case 'm': unit = 60 * 1000; break;
  case 'h': unit = HOUR_MS; break;
  case 'd': unit = DAY_MS; break;
  case '\0': unit = v == 0 ? 1 : 0; break; /* a bare number only for 0 */
  default: return false;
  }
  if (unit == 0 || (*end != '\0' && end[1] != '\0'))
    return false;
  *out_ms = v * unit;
  return *out_ms <= 3660LL * DAY_MS;
}

static bool handle_deadlines(parse_state *st, const char *sec, const char *name,
                             const char *value) {
  static const struct {
    const char *key;
    int state;
  } keys[] = {
      {"intake", MV_STATE(INTAKE)},         {"transfer", MV_STATE(TRANSFER)},
      {"mediation", MV_STATE(MEDIATION)},   {"feedback", MV_STATE(FEEDBACK)},
      {"litigation", MV_STATE(LITIGATION)},
  };
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    if (strcmp(name, keys[i].key) == 0) {
      if (!parse_duration(value, &st->reg->deadline_ms[keys[i].state]))
        return fail(st, sec, name,
                    "expected a duration such as 90s, 45m, 24h or 30d (0: none), got \"%s\"",
                    value),
               false;
      return true;
    }
  }
  return fail(st, sec, name, "unknown key"), false;
}

static bool handle_limits(parse_state *st, const char *sec, const char *name, const char *value) {
  mc_limits *l = &st->reg->limits;
  static const struct {
    const char *key;
    size_t offset;
    int64_t min, max;
  } sizes[] = {
      {"max_message_bytes", offsetof(mc_limits, max_message_bytes), 4096, 64 << 20},
      {"max_text_bytes", offsetof(mc_limits, max_text_bytes), 64, 1 << 20},
      {"max_name_bytes", offsetof(mc_limits, max_name_bytes), 16, 4096},
      {"max_parties", offsetof(mc_limits, max_parties), 1, 1000},
      {"max_team", offsetof(mc_limits, max_team), 1, 1000},
      {"max_sessions", offsetof(mc_limits, max_sessions), 1, 10000},
      {"max_events", offsetof(mc_limits, max_events), 16, 1000000},
  };
  int64_t v;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    if (strcmp(name, sizes[i].key) == 0) {
      if (!number(st, sec, name, value, sizes[i].min, sizes[i].max, &v))
        return false;
      *(size_t *)((char *)l + sizes[i].offset) = (size_t)v;
      return true;
    }
  }
  if (strcmp(name, "max_money_yuan") == 0) {
    if (!number(st, sec, name, value, 0, INT64_MAX / 100, &v))
      return false;
    l->max_money_fen = v * 100;
    return true;
  }
  if (strcmp(name, "page_size_default") == 0 || strcmp(name, "page_size_max") == 0) {
    if (!number(st, sec, name, value, 1, 10000, &v))
      return false;
    *(name[10] == 'd' ? &l->page_size_default : &l->page_size_max) = (uint32_t)v;
    return true;
  }
  if (strcmp(name, "max_deadline_ahead_seconds") == 0) {
    if (!number(st, sec, name, value, 1, 24 * 3600, &v))
      return false;
    l->max_deadline_ahead_ms = v * 1000;
    return true;
  }
  return fail(st, sec, name, "unknown key"), false;
}

static bool handle_policy(parse_state *st, const char *sec, const char *name, const char *value) {
  mc_policy *p = &st->reg->policy;
  int64_t v;
  if (strcmp(name, "refer_marriage") == 0)
    return parse_kinds(st, sec, name, value, &p->refer_marriage);
  if (strcmp(name, "refer_community") == 0)
    return parse_kinds(st, sec, name, value, &p->refer_community);
  if (strcmp(name, "counsellor_kinds") == 0)
    return parse_kinds(st, sec, name, value, &p->counsellor_kinds);
  if (strcmp(name, "lawyer_kinds") == 0)
    return parse_kinds(st, sec, name, value, &p->lawyer_kinds);
  if (strcmp(name, "lawyer_above_yuan") == 0) {
    if (!number(st, sec, name, value, 0, INT64_MAX / 100, &v))
      return false;
    p->lawyer_above_fen = v * 100;
    return true;
  }
  if (strcmp(name, "followup_days") == 0) {
    if (!number(st, sec, name, value, 1, 366, &v))
      return false;
    p->followup_after_ms = v * DAY_MS;
    return true;
  }
  return fail(st, sec, name, "unknown key"), false;
}

static bool handle_community(parse_state *st, const char *sec, const char *id, const char *name,
                             const char *value) {
  mc_registry *reg = st->reg;
  mc_community *c = entry_for(st, (void **)&reg->communities, &reg->n_communities,
                              sizeof(*c), id);
  if (c == NULL)
    return false;
  if (strcmp(name, "name") == 0)
    return replace_text(st, &c->name, sec, name, value);
  if (strcmp(name, "station") == 0)
    return replace_text(st, &c->station, sec, name, value);
  if (strcmp(name, "grid") == 0)
    return append_str(st, &c->grids, &c->n_grids, sec, name, value);
  return fail(st, sec, name, "unknown key"), false;
}

static bool handle_unit(parse_state *st, const char *sec, const char *id, const char *name,
                        const char *value) {
  mc_registry *reg = st->reg;
  mc_unit *u = entry_for(st, (void **)&reg->units, &reg->n_units, sizeof(*u), id);
  if (u == NULL)
    return false;
  if (strcmp(name, "name") == 0)
    return replace_text(st, &u->name, sec, name, value);
  if (strcmp(name, "community") == 0)
    return replace_text(st, &u->community, sec, name, value);
  if (strcmp(name, "endpoint") == 0)
    return replace_text(st, &u->endpoint, sec, name, value);
  if (strcmp(name, "data_dir") == 0)
    return replace_text(st, &u->data_dir, sec, name, value);
  if (strcmp(name, "public_key") == 0)
    return u->has_key = parse_key(st, sec, name, value, u->public_key);
  if (strcmp(name, "kind") == 0) {
    if (strcmp(value, "police") == 0)
      u->kind = MC_UNIT_POLICE;
    else if (strcmp(value, "marriage") == 0)
      u->kind = MC_UNIT_MARRIAGE;
    else if (strcmp(value, "community") == 0)
      u->kind = MC_UNIT_COMMUNITY;
    else
      return fail(st, sec, name, "expected police, marriage or community, got \"%s\"", value),
             false;
    return true;
  }
  if (strcmp(name, "member") == 0) {
    /* "<role> <person>", e.g. "mediator 宋大姐" */
    const char *space = strchr(value, ' ');
    char role_name[32];
    int role;
    if (space == NULL || (size_t)(space - value) >= sizeof(role_name))
      return fail(st, sec, name, "expected \"<role> <person>\", got \"%s\"", value), false;
    memcpy(role_name, value, (size_t)(space - value));
    role_name[space - value] = '\0';
    if (mc_name_parse(mc_team_role_names, role_name, &role) != 0)
      return fail(st, sec, name, "unknown role \"%s\" (mediator, counsellor or lawyer)",
                  role_name),
             false;
    while (*space == ' ')
      space++;
    if (*space == '\0')
      return fail(st, sec, name, "member without a name"), false;
    mc_roster_entry *grown = realloc(u->roster, (u->n_roster + 1) * sizeof(*grown));
    if (grown == NULL)
      return st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "out of memory"), false;
    u->roster = grown;
    grown[u->n_roster].role = (Mediation__V1__TeamRole)role;
    grown[u->n_roster].person = dup_text(st, sec, name, space);
    if (grown[u->n_roster].person == NULL)
      return false;
    u->n_roster++;
    return true;
  }
  return fail(st, sec, name, "unknown key"), false;
}

static bool handle_principal(parse_state *st, const char *sec, mc_principal_kind kind,
                             const char *id, const char *name, const char *value) {
  mc_registry *reg = st->reg;
  mc_principal *p = entry_for(st, (void **)&reg->principals, &reg->n_principals, sizeof(*p), id);
  if (p == NULL)
    return false;
  if (p->kind != 0 && p->kind != kind)
    return fail(st, sec, name, "id used by two principals"), false;
  p->kind = kind;
  if (strcmp(name, "name") == 0)
    return replace_text(st, &p->name, sec, name, value);
  if (strcmp(name, "public_key") == 0)
    return parse_key(st, sec, name, value, p->public_key);
  if (kind == MC_PRINCIPAL_OPERATOR && strcmp(name, "unit") == 0)
    return replace_text(st, &p->unit, sec, name, value);
  return fail(st, sec, name, "unknown key"), false;
}

static int on_ini_key(void *user, const char *section, const char *name, const char *value) {
  parse_state *st = user;
  if (st->rc != MC_OK)
    return 0;
  static const struct {
    const char *prefix;
    int kind; /* 0: community, 1: unit, else a principal kind + 10 */
  } named[] = {
      {"community ", 0},
      {"unit ", 1},
      {"coordinator ", 10 + MC_PRINCIPAL_COORDINATOR},
      {"operator ", 10 + MC_PRINCIPAL_OPERATOR},
  };
  for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
    size_t plen = strlen(named[i].prefix);
    if (strncmp(section, named[i].prefix, plen) != 0)
      continue;
    const char *id = section + plen;
    if (!valid_id(id))
      return fail(st, section, name,
                  "section id \"%s\" must be 1-64 of a-z, 0-9, '-' and '_'", id),
             0;
    bool ok;
    if (named[i].kind == 0)
      ok = handle_community(st, section, id, name, value);
    else if (named[i].kind == 1)
      ok = handle_unit(st, section, id, name, value);
    else
      ok = handle_principal(st, section, (mc_principal_kind)(named[i].kind - 10), id, name,
                            value);
    return ok ? 1 : 0;
  }
  bool ok;
  if (strcmp(section, "subdistrict") == 0)
    ok = handle_subdistrict(st, section, name, value);
  else if (strcmp(section, "router") == 0)
    ok = handle_router(st, section, name, value);
  else if (strcmp(section, "deadlines") == 0)
    ok = handle_deadlines(st, section, name, value);
  else if (strcmp(section, "limits") == 0)
    ok = handle_limits(st, section, name, value);
  else if (strcmp(section, "policy") == 0)
    ok = handle_policy(st, section, name, value);
  else
    ok = (fail(st, section, name, "unknown section"), false);
  return ok ? 1 : 0;
}

/* Checks what can only be checked once everything is read. */
static mc_code check_whole(parse_state *st) {
  mc_registry *reg = st->reg;
  if (reg->case_prefix == NULL && (reg->case_prefix = strdup("BH")) == NULL)
    return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "out of memory");
  if (reg->subdistrict == NULL && (reg->subdistrict = strdup("")) == NULL)
    return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "out of memory");
  if (reg->limits.page_size_default > reg->limits.page_size_max)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      "%s: [limits] page_size_default exceeds page_size_max", st->origin);
  for (size_t i = 0; i < reg->n_units; i++) {
    mc_unit *u = &reg->units[i];
    if (u->kind == 0)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT, "%s: [unit %s] has no kind", st->origin,
                        u->id);
    if (u->name == NULL && (u->name = strdup(u->id)) == NULL)
      return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "out of memory");
    if (u->kind == MC_UNIT_COMMUNITY) {
      const mc_community *c = u->community ? mc_registry_community(reg, u->community) : NULL;
      if (c == NULL)
        return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                          "%s: [unit %s] community \"%s\" is not a [community] section",
                          st->origin, u->id, u->community ? u->community : "");
    }
    if (mc_registry_principal(reg, u->id) != NULL)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                        "%s: unit id \"%s\" is also a coordinator or operator id", st->origin,
                        u->id);
    if (!u->has_key)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT, "%s: [unit %s] has no public_key",
                        st->origin, u->id);
  }
  /* A unit signs its requests to the router: it is a principal too. */
  size_t n_units = reg->n_units;
  for (size_t i = 0; i < n_units; i++) {
    mc_unit *u = &reg->units[i];
    mc_principal *p = entry_for(st, (void **)&reg->principals, &reg->n_principals, sizeof(*p),
                                u->id);
    if (p == NULL)
      return st->rc;
    p->kind = MC_PRINCIPAL_UNIT;
    memcpy(p->public_key, u->public_key, MC_KEY_BYTES);
    if ((p->name = strdup(u->name)) == NULL || (p->unit = strdup(u->id)) == NULL)
      return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (size_t i = 0; i < reg->n_communities; i++) {
    mc_community *c = &reg->communities[i];
    if (c->name == NULL && (c->name = strdup(c->id)) == NULL)
      return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, "out of memory");
    if (c->station != NULL) {
      const mc_unit *u = mc_registry_unit(reg, c->station);
      if (u == NULL || u->kind != MC_UNIT_COMMUNITY || strcmp(u->community, c->id) != 0)
        return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                          "%s: [community %s] station \"%s\" is not a community unit of it",
                          st->origin, c->id, c->station);
    }
  }
  for (size_t i = 0; i < reg->n_principals; i++) {
    mc_principal *p = &reg->principals[i];
    if (p->kind == MC_PRINCIPAL_OPERATOR) {
      if (p->unit == NULL || mc_registry_unit(reg, p->unit) == NULL)
        return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                          "%s: [operator %s] unit \"%s\" is not a [unit] section", st->origin,
                          p->id, p->unit ? p->unit : "");
    }
    static const uint8_t zero[MC_KEY_BYTES];
    if (memcmp(p->public_key, zero, MC_KEY_BYTES) == 0)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT, "%s: [%s %s] has no public_key",
                        st->origin, mc_name_of(mc_principal_names, (int)p->kind), p->id);
  }
  return MC_OK;
}

mc_code mc_registry_parse(const char *text, const char *origin, mc_registry **out,
                          mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  mc_registry *reg = calloc(1, sizeof(*reg));
  if (reg == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  set_defaults(reg);
  parse_state st = {.reg = reg, .origin = origin, .err = err, .rc = MC_OK};
  int line = ini_parse_string(text, on_ini_key, &st);
  if (st.rc == MC_OK && line != 0)
    st.rc = mc_err_set(err, MC_INVALID_ARGUMENT, "%s:%d: not a valid INI line", origin, line);
  if (st.rc == MC_OK)
    st.rc = check_whole(&st);
  if (st.rc != MC_OK) {
    mc_registry_free(reg);
    return st.rc;
  }
  *out = reg;
  return MC_OK;
}

mc_code mc_registry_load(const char *path, mc_registry **out, mc_err *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return mc_err_set(err, MC_NOT_FOUND, "%s: cannot open: %s", path, strerror(errno));
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 4096) {
      if (cap > (1u << 22)) {
        free(text);
        fclose(f);
        return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: larger than 4 MiB", path);
      }
      char *grown = realloc(text, cap + 65536);
      if (grown == NULL) {
        free(text);
        fclose(f);
        return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
      }
      text = grown;
      cap += 65536;
    }
    size_t n = fread(text + len, 1, cap - len - 1, f);
    len += n;
    if (n == 0)
      break;
  }
  bool failed = ferror(f);
  fclose(f);
  if (failed) {
    free(text);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: read error", path);
  }
  text[len] = '\0';
  mc_code rc = mc_registry_parse(text, path, out, err);
  free(text);
  return rc;
}

void mc_registry_free(mc_registry *reg) {
  if (reg == NULL)
    return;
  free(reg->subdistrict);
  free(reg->case_prefix);
  free(reg->keys_dir);
  free(reg->router.endpoint);
  free(reg->router.data_dir);
  free(reg->router.tls_cert);
  free(reg->router.tls_key);
  free(reg->router.tls_ca);
  free(reg->router.tls_server_name);
  free(reg->router.backup_dir);
  for (size_t i = 0; i < reg->n_units; i++) {
    mc_unit *u = &reg->units[i];
    free(u->id);
    free(u->name);
    free(u->community);
    free(u->endpoint);
    free(u->data_dir);
    for (size_t k = 0; k < u->n_roster; k++)
      free(u->roster[k].person);
    free(u->roster);
  }
  free(reg->units);
  for (size_t i = 0; i < reg->n_communities; i++) {
    mc_community *c = &reg->communities[i];
    free(c->id);
    free(c->name);
    free(c->station);
    for (size_t k = 0; k < c->n_grids; k++)
      free(c->grids[k]);
    free(c->grids);
  }
  free(reg->communities);
  for (size_t i = 0; i < reg->n_principals; i++) {
    free(reg->principals[i].id);
    free(reg->principals[i].name);
    free(reg->principals[i].unit);
  }
  free(reg->principals);
  free(reg);
}
