/*
 * config_keys.h - every key of mediation.conf, in one table: its section,
 * what it accepts, its default and what it means.
 *
 * The idea: the table is the configuration's one definition. The registry
 * loader (registry_load.c) parses each key as its row says and sets its
 * defaults from it; mediation-gen-docs prints docs/configuration.md's key
 * reference from it, and the test docs_configuration_current fails when
 * the committed page differs. What the whole file must hold together (a
 * station's community, an operator's unit, page_size_default within
 * page_size_max) is checked by registry_load.c once everything is read.
 *
 * Adding a key: a field in a struct of registry.h and one row in
 * config_keys.c, then `cmake --build build --target configuration-docs`.
 */
#ifndef MC_CONFIG_KEYS_H
#define MC_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* What a key accepts, and the field it fills. */
typedef enum mc_conf_type {
  MC_CONF_TEXT,        /* UTF-8 text, at most 1024 bytes: char * */
  MC_CONF_CASE_PREFIX, /* 1-8 of A-Z and 0-9: char * */
  MC_CONF_NUMBER,      /* a whole number from .min to .max, stored times .scale in an
                        * integer field of .size (4 or 8) bytes */
  MC_CONF_DURATION,    /* 90s, 45m, 24h, 30d, or 0 for none: int64_t milliseconds */
  MC_CONF_KINDS,       /* dispute kinds, separated by spaces or commas: uint32_t, bit k
                        * for DisputeKind k */
  MC_CONF_PUBLIC_KEY,  /* a base64 Ed25519 public key: uint8_t[MC_KEY_BYTES]; the bool at
                        * .companion (if any) says it was given */
  MC_CONF_UNIT_KIND,   /* police, marriage or community: mc_unit_kind */
  MC_CONF_MEMBER,      /* "<role> <person>", repeatable: mc_roster_entry *, its count (size_t)
                        * at .companion */
  MC_CONF_TEXT_LIST,   /* text, repeatable: char **, its count (size_t) at .companion */
} mc_conf_type;

/* The struct a section's keys fill (registry.h). */
typedef enum mc_conf_owner {
  MC_CONF_REGISTRY,    /* [subdistrict], [router], ...: mc_registry, once */
  MC_CONF_COMMUNITY,   /* [community <id>]: the mc_community of that id */
  MC_CONF_UNIT,        /* [unit <id>]: the mc_unit of that id */
  MC_CONF_COORDINATOR, /* [coordinator <id>]: an mc_principal */
  MC_CONF_OPERATOR,    /* [operator <id>]: an mc_principal */
  MC_CONF_WEB_SITE,    /* [web <site>]: the mc_web_site of that site */
  MC_CONF_ROUTER_NODE, /* [cluster <id>]: the mc_router_node of that id */
} mc_conf_owner;

typedef struct mc_conf_key {
  const char *key;
  mc_conf_type type;
  size_t offset;    /* of its field in the owner's struct */
  size_t size;      /* of that field */
  size_t companion; /* offset of the field the type names above; 0: none */
  int64_t min, max; /* numbers: the accepted range, as written */
  int64_t scale;    /* numbers: the field holds the value times this */
  /* The value when the key is absent, as it would be written. Numbers and
   * durations are set from it before the file is read; text is filled in
   * after, where the file gave none. NULL: no default (a default the
   * program derives, such as a unit's name, is said in .meaning). */
  const char *dflt;
  const char *meaning; /* Markdown, for the docs */
} mc_conf_key;

typedef struct mc_conf_section {
  const char *name;  /* "router"; "unit" for [unit <id>] sections */
  mc_conf_owner owner;
  const char *about; /* Markdown printed before its keys in the docs; NULL: none */
  const mc_conf_key *keys;
  size_t n_keys;
} mc_conf_section;

/* Every section, in the order the docs present them. */
const mc_conf_section *mc_conf_sections(size_t *n);

/* The row of `key` in a section, or NULL for a key it does not have. */
const mc_conf_key *mc_conf_key_of(const mc_conf_section *section, const char *key);

#endif /* MC_CONFIG_KEYS_H */
