/*
 * registry_load.c - loading and checking the deployment's configuration (see
 * registry.h).
 *
 * Every key is a row of the table in config_keys.c: its section, what it
 * accepts, where it goes and its default. inih calls one handler per key,
 * which finds the key's row and parses the value as the row says into the
 * registry being built, remembering the first error. Cross-references (a station's community, a
 * community's station, an operator's unit) are checked once the whole file
 * has been read, so sections may come in any order.
 *
 * Errors are for the person who wrote the file: in the process's language
 * (core/i18n.h), naming the file, the [section] and the key as written.
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

#include "core/config_keys.h"
#include "core/registry_check.h"
#include "core/i18n.h"
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
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("%s: out of memory"), st->origin);
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
    fail(st, section, name, _("expected a whole number from %lld to %lld, got \"%s\""),
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
    fail(st, section, name, _("expected a base64 Ed25519 public key (32 bytes)"));
    return false;
  }
  return true;
}

/* "divorce custody, elder_support" -> bit mask over DisputeKind. */
static bool parse_kinds(parse_state *st, const char *section, const char *name,
                        const char *value, uint32_t *out) {
  char buf[512];
  if (strlen(value) >= sizeof(buf))
    return fail(st, section, name, _("list too long")), false;
  strcpy(buf, value);
  uint32_t mask = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
    int kind;
    if (mc_name_parse(mc_kind_names, tok, &kind) != 0)
      return fail(st, section, name, _("unknown dispute kind \"%s\""), tok), false;
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
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("%s: out of memory"), st->origin);
    return NULL;
  }
  *array = grown;
  char *entry = grown + (*count) * elem;
  memset(entry, 0, elem);
  *(char **)entry = strdup(id);
  if (*(char **)entry == NULL) {
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("%s: out of memory"), st->origin);
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
    st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("%s: out of memory"), st->origin);
    return false;
  }
  grown[(*count)++] = s;
  *array = grown;
  return true;
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

static bool parse_unit_kind(parse_state *st, const char *section, const char *name,
                            const char *value, mc_unit_kind *out) {
  if (strcmp(value, "police") == 0)
    *out = MC_UNIT_POLICE;
  else if (strcmp(value, "marriage") == 0)
    *out = MC_UNIT_MARRIAGE;
  else if (strcmp(value, "community") == 0)
    *out = MC_UNIT_COMMUNITY;
  else
    return fail(st, section, name, _("expected police, marriage or community, got \"%s\""), value),
           false;
  return true;
}

/* "<role> <person>", e.g. "mediator 宋大姐", appended to a unit's roster. */
static bool add_member(parse_state *st, const char *section, const char *name,
                       const char *value, mc_roster_entry **roster, size_t *count) {
  const char *space = strchr(value, ' ');
  char role_name[32];
  int role;
  if (space == NULL || (size_t)(space - value) >= sizeof(role_name))
    return fail(st, section, name, _("expected \"<role> <person>\", got \"%s\""), value), false;
  memcpy(role_name, value, (size_t)(space - value));
  role_name[space - value] = '\0';
  if (mc_name_parse(mc_team_role_names, role_name, &role) != 0)
    return fail(st, section, name, _("unknown role \"%s\" (mediator, counsellor or lawyer)"),
                role_name),
           false;
  while (*space == ' ')
    space++;
  if (*space == '\0')
    return fail(st, section, name, _("member without a name")), false;
  mc_roster_entry *grown = realloc(*roster, (*count + 1) * sizeof(*grown));
  if (grown == NULL)
    return st->rc = mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("out of memory")), false;
  *roster = grown;
  grown[*count].role = (Mediation__V1__TeamRole)role;
  grown[*count].person = dup_text(st, section, name, space);
  if (grown[*count].person == NULL)
    return false;
  (*count)++;
  return true;
}

static bool case_prefix_valid(const char *value) {
  size_t n = strlen(value);
  bool ok = n >= 1 && n <= 8;
  for (size_t i = 0; ok && i < n; i++)
    ok = isupper((unsigned char)value[i]) || isdigit((unsigned char)value[i]);
  return ok;
}

/* A number into an integer field of 4 or 8 bytes (config_keys.h). */
static void store_number(void *slot, size_t size, int64_t v) {
  if (size == sizeof(int32_t)) {
    int32_t narrow = (int32_t)v;
    memcpy(slot, &narrow, sizeof(narrow));
  } else {
    memcpy(slot, &v, sizeof(v));
  }
}

/* Parses `value` as the key's row says (config_keys.h) into the struct at
 * `base` that owns the key; `section` is as written, for errors. */
static bool set_key(parse_state *st, const char *section, const mc_conf_key *k, char *base,
                    const char *value) {
  const char *name = k->key;
  void *slot = base + k->offset;
  int64_t v;
  switch (k->type) {
  case MC_CONF_TEXT:
    return replace_text(st, slot, section, name, value);
  case MC_CONF_CASE_PREFIX:
    if (!case_prefix_valid(value))
      return fail(st, section, name, _("expected 1-8 capital letters or digits, got \"%s\""),
                  value),
             false;
    return replace_text(st, slot, section, name, value);
  case MC_CONF_NUMBER:
    if (!number(st, section, name, value, k->min, k->max, &v))
      return false;
    store_number(slot, k->size, v * k->scale);
    return true;
  case MC_CONF_DURATION:
    if (!parse_duration(value, slot))
      return fail(st, section, name,
                  _("expected a duration such as 90s, 45m, 24h or 30d (0: none), got \"%s\""),
                  value),
             false;
    return true;
  case MC_CONF_KINDS:
    return parse_kinds(st, section, name, value, slot);
  case MC_CONF_PUBLIC_KEY: {
    bool ok = parse_key(st, section, name, value, slot);
    if (k->companion != 0)
      *(bool *)(base + k->companion) = ok;
    return ok;
  }
  case MC_CONF_UNIT_KIND:
    return parse_unit_kind(st, section, name, value, slot);
  case MC_CONF_MEMBER:
    return add_member(st, section, name, value, slot, (size_t *)(base + k->companion));
  case MC_CONF_TEXT_LIST:
    return append_str(st, slot, (size_t *)(base + k->companion), section, name, value);
  }
  return fail(st, section, name, _("unknown key")), false;
}

/* Numbers and durations start at their defaults; text defaults are filled
 * in by check_whole, where the file gave none. */
static mc_code set_defaults(parse_state *st) {
  size_t n;
  const mc_conf_section *sections = mc_conf_sections(&n);
  for (size_t i = 0; i < n; i++) {
    if (sections[i].owner != MC_CONF_REGISTRY)
      continue;
    for (size_t k = 0; k < sections[i].n_keys; k++) {
      const mc_conf_key *key = &sections[i].keys[k];
      bool early = key->type == MC_CONF_NUMBER || key->type == MC_CONF_DURATION;
      if (early && key->dflt != NULL &&
          !set_key(st, sections[i].name, key, (char *)st->reg, key->dflt))
        return st->rc;
    }
  }
  return MC_OK;
}

/* The table's section for "[router]" or "[unit <id>]"; *id is the id, or
 * NULL for a section that has none. NULL: not a section. */
static const mc_conf_section *section_of(const char *section, const char **id) {
  size_t n;
  const mc_conf_section *sections = mc_conf_sections(&n);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(sections[i].name);
    if (sections[i].owner == MC_CONF_REGISTRY) {
      if (strcmp(section, sections[i].name) == 0) {
        *id = NULL;
        return &sections[i];
      }
    } else if (strncmp(section, sections[i].name, len) == 0 && section[len] == ' ') {
      *id = section + len + 1;
      return &sections[i];
    }
  }
  return NULL;
}

/* The struct a section's keys fill: the registry, or the entry of the
 * section's id (made on its first key). NULL: an error was set. */
static char *owner_of(parse_state *st, const mc_conf_section *sec, const char *section,
                      const char *id, const char *name) {
  mc_registry *reg = st->reg;
  mc_principal_kind kind = MC_PRINCIPAL_OPERATOR;
  switch (sec->owner) {
  case MC_CONF_REGISTRY:
    return (char *)reg;
  case MC_CONF_COMMUNITY:
    return entry_for(st, (void **)&reg->communities, &reg->n_communities,
                     sizeof(mc_community), id);
  case MC_CONF_UNIT:
    return entry_for(st, (void **)&reg->units, &reg->n_units, sizeof(mc_unit), id);
  case MC_CONF_WEB_SITE:
    return entry_for(st, (void **)&reg->web_sites, &reg->n_web_sites, sizeof(mc_web_site), id);
  case MC_CONF_ROUTER_NODE:
    return entry_for(st, (void **)&reg->nodes, &reg->n_nodes, sizeof(mc_router_node), id);
  case MC_CONF_COORDINATOR:
    kind = MC_PRINCIPAL_COORDINATOR;
    /* fall through */
  case MC_CONF_OPERATOR: {
    mc_principal *p = entry_for(st, (void **)&reg->principals, &reg->n_principals,
                                sizeof(*p), id);
    if (p == NULL)
      return NULL;
    if (p->kind != 0 && p->kind != kind)
      return fail(st, section, name, _("id used by two principals")), NULL;
    p->kind = kind;
    return (char *)p;
  }
  }
  return NULL;
}

static int on_ini_key(void *user, const char *section, const char *name, const char *value) {
  parse_state *st = user;
  if (st->rc != MC_OK)
    return 0;
  const char *id = NULL;
  const mc_conf_section *sec = section_of(section, &id);
  if (sec == NULL)
    return fail(st, section, name, _("unknown section")), 0;
  /* [web "police-studio"] is [web police-studio], as git-config writes it. */
  char unquoted[72];
  size_t id_len = id != NULL ? strlen(id) : 0;
  if (id_len >= 2 && id[0] == '"' && id[id_len - 1] == '"' && id_len - 2 < sizeof(unquoted)) {
    memcpy(unquoted, id + 1, id_len - 2);
    unquoted[id_len - 2] = '\0';
    id = unquoted;
  }
  if (id != NULL && !valid_id(id))
    return fail(st, section, name, _("section id \"%s\" must be 1-64 of a-z, 0-9, '-' and '_'"),
                id),
           0;
  char *base = owner_of(st, sec, section, id, name);
  if (base == NULL)
    return 0;
  const mc_conf_key *key = mc_conf_key_of(sec, name);
  if (key == NULL)
    return fail(st, section, name, _("unknown key")), 0;
  return set_key(st, section, key, base, value) ? 1 : 0;
}

/* The text keys of the registry's own sections the file left out get their
 * defaults (config_keys.h). */
static mc_code fill_text_defaults(mc_registry *reg) {
  size_t n;
  const mc_conf_section *sections = mc_conf_sections(&n);
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; sections[i].owner == MC_CONF_REGISTRY && k < sections[i].n_keys; k++) {
      const mc_conf_key *key = &sections[i].keys[k];
      if (key->dflt == NULL || (key->type != MC_CONF_TEXT && key->type != MC_CONF_CASE_PREFIX))
        continue;
      char **slot = (char **)((char *)reg + key->offset);
      if (*slot == NULL && (*slot = strdup(key->dflt)) == NULL)
        return MC_RESOURCE_EXHAUSTED;
    }
  }
  return MC_OK;
}

/* Checks what can only be checked once everything is read. */
static mc_code check_whole(parse_state *st) {
  mc_registry *reg = st->reg;
  if (fill_text_defaults(reg) != MC_OK)
    return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  if (reg->limits.page_size_default > reg->limits.page_size_max)
    return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                      _("%s: [limits] page_size_default exceeds page_size_max"), st->origin);
  for (size_t i = 0; i < reg->n_units; i++) {
    mc_unit *u = &reg->units[i];
    if (u->kind == 0)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT, _("%s: [unit %s] has no kind"), st->origin,
                        u->id);
    if (u->name == NULL && (u->name = strdup(u->id)) == NULL)
      return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    if (u->kind == MC_UNIT_COMMUNITY) {
      const mc_community *c = u->community ? mc_registry_community(reg, u->community) : NULL;
      if (c == NULL)
        return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                          _("%s: [unit %s] community \"%s\" is not a [community] section"),
                          st->origin, u->id, u->community ? u->community : "");
    }
    if (mc_registry_principal(reg, u->id) != NULL)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                        _("%s: unit id \"%s\" is also a coordinator or operator id"), st->origin,
                        u->id);
    if (!u->has_key)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT, _("%s: [unit %s] has no public_key"),
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
      return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  }
  for (size_t i = 0; i < reg->n_communities; i++) {
    mc_community *c = &reg->communities[i];
    if (c->name == NULL && (c->name = strdup(c->id)) == NULL)
      return mc_err_set(st->err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
    if (c->station != NULL) {
      const mc_unit *u = mc_registry_unit(reg, c->station);
      if (u == NULL || u->kind != MC_UNIT_COMMUNITY || strcmp(u->community, c->id) != 0)
        return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                          _("%s: [community %s] station \"%s\" is not a community unit of it"),
                          st->origin, c->id, c->station);
    }
  }
  for (size_t i = 0; i < reg->n_principals; i++) {
    mc_principal *p = &reg->principals[i];
    if (p->kind == MC_PRINCIPAL_OPERATOR) {
      if (p->unit == NULL || mc_registry_unit(reg, p->unit) == NULL)
        return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                          _("%s: [operator %s] unit \"%s\" is not a [unit] section"), st->origin,
                          p->id, p->unit ? p->unit : "");
    }
    static const uint8_t zero[MC_KEY_BYTES];
    if (memcmp(p->public_key, zero, MC_KEY_BYTES) == 0)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT, _("%s: [%s %s] has no public_key"),
                        st->origin, mc_name_of(mc_principal_names, (int)p->kind), p->id);
  }
  /* [web] idle_seconds, when the file gave it, is the idle time. */
  if (reg->web.idle_seconds_ms != 0)
    reg->web.idle_ms = reg->web.idle_seconds_ms;
  if (reg->remind.principal != NULL) {
    const mc_principal *p = mc_registry_principal(reg, reg->remind.principal);
    if (p == NULL || p->kind != MC_PRINCIPAL_COORDINATOR)
      return mc_err_set(st->err, MC_INVALID_ARGUMENT,
                        _("%s: [remind] principal \"%s\" is not a [coordinator] section"),
                        st->origin, reg->remind.principal);
  }
  return mc_registry_check_sections(reg, st->origin, st->err);
}

mc_code mc_registry_parse(const char *text, const char *origin, mc_registry **out,
                          mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, _("libsodium failed to initialise"));
  mc_registry *reg = calloc(1, sizeof(*reg));
  if (reg == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  parse_state st = {.reg = reg, .origin = origin, .err = err, .rc = MC_OK};
  st.rc = set_defaults(&st);
  int line = st.rc == MC_OK ? ini_parse_string(text, on_ini_key, &st) : 0;
  if (st.rc == MC_OK && line != 0)
    st.rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("%s:%d: not a valid INI line"), origin, line);
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
    return mc_err_set(err, MC_NOT_FOUND, _("%s: cannot open: %s"), path, strerror(errno));
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 4096) {
      if (cap > (1u << 22)) {
        free(text);
        fclose(f);
        return mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: larger than 4 MiB"), path);
      }
      char *grown = realloc(text, cap + 65536);
      if (grown == NULL) {
        free(text);
        fclose(f);
        return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
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
    return mc_err_set(err, MC_UNAVAILABLE, _("%s: read error"), path);
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
    free(u->doc_abbrev);
    for (size_t k = 0; k < u->n_roster; k++)
      free(u->roster[k].person);
    free(u->roster);
    free(u->remind.smtp_url);
    free(u->remind.mail_from);
    for (size_t k = 0; k < u->remind.n_mail_to; k++)
      free(u->remind.mail_to[k]);
    free(u->remind.mail_to);
    free(u->remind.webhook_url);
    free(u->remind.webhook_kind);
    free(u->remind.digest_at);
    for (size_t k = 0; k < u->n_aliases; k++)
      free(u->aliases[k]);
    free(u->aliases);
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
    for (size_t k = 0; k < c->n_aliases; k++)
      free(c->aliases[k]);
    free(c->aliases);
  }
  free(reg->communities);
  for (size_t i = 0; i < reg->n_principals; i++) {
    free(reg->principals[i].id);
    free(reg->principals[i].name);
    free(reg->principals[i].unit);
  }
  free(reg->principals);
  free(reg->web.static_dir);
  for (size_t i = 0; i < reg->n_web_sites; i++) {
    mc_web_site *w = &reg->web_sites[i];
    free(w->id);
    free(w->listen);
    free(w->tls_cert);
    free(w->tls_key);
    free(w->data_dir);
    free(w->principal);
  }
  free(reg->web_sites);
  free(reg->remind.data_dir);
  free(reg->remind.principal);
  free(reg->storage.mode);
  for (size_t i = 0; i < reg->n_nodes; i++) {
    mc_router_node *n = &reg->nodes[i];
    free(n->id);
    free(n->endpoint);
    free(n->raft_address);
    free(n->data_dir);
  }
  free(reg->nodes);
  free(reg);
}
