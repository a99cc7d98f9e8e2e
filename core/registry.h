/*
 * registry.h - the deployment's configuration: who the units, communities,
 * coordinators and operators are, their public keys and endpoints, the
 * deadlines, the limits and the units' routing policy.
 *
 * One INI file (deploy/mediation.conf.example documents every key) describes
 * the whole deployment and holds only public keys, so the same file is given
 * to every process; each process reads its own private key from keys_dir.
 * Nothing here is a code constant: units, communities and rules are data.
 *
 * Every section and key, what it accepts, its default and its meaning are
 * one table, core/config_keys.c, from which docs/configuration.md's key
 * reference is generated.
 */
#ifndef MC_REGISTRY_H
#define MC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "mv1.h"

#define MC_KEY_BYTES 32 /* an Ed25519 public key */
#define MC_STATE_COUNT 8 /* mediation.v1.CaseState values, UNSPECIFIED included */
#define MC_KIND_COUNT 10 /* mediation.v1.DisputeKind values, UNSPECIFIED included */

typedef enum mc_unit_kind {
  MC_UNIT_POLICE = 1,    /* 大石头调解工作室 */
  MC_UNIT_MARRIAGE = 2,  /* 宋大姐调解工作室 */
  MC_UNIT_COMMUNITY = 3, /* a community's workstation (社区工作站) */
} mc_unit_kind;

typedef struct mc_roster_entry {
  char *person;
  Mediation__V1__TeamRole role;
} mc_roster_entry;

/* Where a unit's reminders go (services/remind): its morning digest and
 * its overdue alerts, by mail through an SMTP relay and/or to a group
 * robot's webhook. All NULL: the unit gets none. */
typedef struct mc_unit_remind {
  char *smtp_url;     /* "smtp://relay.example:25", "smtps://..." */
  char *mail_from;
  char **mail_to;     /* recipients, at least one when smtp_url is given */
  size_t n_mail_to;
  char *webhook_url;  /* a WeCom or DingTalk group robot's URL */
  char *webhook_kind; /* "wecom" (the default) or "dingtalk" */
  char *digest_at;    /* "08:00": local time (utc_offset_minutes) of the digest */
} mc_unit_remind;

typedef struct mc_unit {
  char *id;          /* "police-studio" */
  char *name;        /* "大石头调解工作室" */
  mc_unit_kind kind;
  char *community;   /* for a community station: its community's id */
  char *endpoint;    /* where its Desk service listens */
  char *data_dir;    /* its outbox and local copies */
  uint8_t public_key[MC_KEY_BYTES];
  bool has_key;
  mc_roster_entry *roster; /* its team (人才库 for a community) */
  size_t n_roster;
  mc_unit_remind remind;
  char **aliases;    /* what people call it ("大石头"); unique among every id, name, alias */
  size_t n_aliases;
  char *doc_abbrev;  /* 宋: its agreements are numbered （2026）宋调字第N号; NULL: name's first character */
} mc_unit;

typedef struct mc_community {
  char *id;      /* "wangai" */
  char *name;    /* "王隘社区" */
  char *station; /* the unit id of its workstation */
  char **grids;
  size_t n_grids;
  char **aliases; /* what people call it ("孔雀"); unique among every id, name, alias */
  size_t n_aliases;
} mc_community;

typedef enum mc_principal_kind {
  MC_PRINCIPAL_UNIT = 1,
  MC_PRINCIPAL_COORDINATOR = 2,
  MC_PRINCIPAL_OPERATOR = 3, /* a unit's operators, calling their unit's Desk */
} mc_principal_kind;

/* Anyone who signs requests: units (to the router), coordinators (to the
 * router), operators (to their unit's Desk). Ids are unique across kinds. */
typedef struct mc_principal {
  char *id;
  char *name;
  mc_principal_kind kind;
  char *unit; /* for an operator: the unit it works for */
  uint8_t public_key[MC_KEY_BYTES];
} mc_principal;

typedef struct mc_limits {
  size_t max_message_bytes; /* one RPC message, either way */
  size_t max_text_bytes;    /* summaries, notes, reasons */
  size_t max_name_bytes;    /* names, ids, refs */
  size_t max_parties;
  size_t max_team;          /* team entries on one case */
  size_t max_sessions;      /* sessions on one case */
  size_t max_events;        /* events in one case file */
  int64_t max_money_fen;
  uint32_t page_size_default;
  uint32_t page_size_max;
  int64_t max_deadline_ahead_ms; /* a request's deadline may not lie further ahead */
} mc_limits;

typedef struct mc_policy {
  uint32_t refer_marriage;   /* bit k: the police studio refers kind k to the marriage studio */
  uint32_t refer_community;  /* bit k: ... to the station of the parties' community */
  uint32_t counsellor_kinds; /* bit k: the marriage studio adds a counsellor */
  uint32_t lawyer_kinds;     /* bit k: the marriage studio adds a lawyer */
  int64_t lawyer_above_fen;  /* ... or when the money involved exceeds this */
  int64_t followup_after_ms; /* the follow-up visit is due this long after an agreement */
} mc_policy;

typedef struct mc_router_conf {
  char *endpoint;           /* where units and coordinators reach the router */
  char *data_dir;
  size_t map_bytes;         /* initial LMDB map size; it grows by itself */
  unsigned contexts;        /* requests served at once (long polls included) */
  int64_t idempotency_ms;   /* how long a reply is kept for retries */
  unsigned batch_max;       /* writes per group commit */
  char *tls_cert;           /* for tls+tcp:// endpoints (PEM cert + key), optional */
  char *tls_key;
  char *tls_ca;             /* CA that signed the router's certificate, for clients */
  char *tls_server_name;
  char *backup_dir;         /* where RouterAdmin/Backup writes copies; NULL: no backups */
  unsigned backups_kept;    /* newest copies kept */
  /* The router's Ed25519 public key: it signs every case file's head and
   * the daily anchors with <keys_dir>/router.key, and verify checks them
   * against this. has_key false: nothing is signed. */
  uint8_t public_key[MC_KEY_BYTES];
  bool has_key;
} mc_router_conf;

/* The web gateways (mediation-web): what all of them share ([web]). */
typedef struct mc_web_conf {
  int64_t idle_ms;               /* a session ends after this long unused */
  int64_t idle_seconds_ms;       /* idle_seconds as given, in ms; 0: not given. When given
                                  * it replaces idle_minutes in idle_ms (check_whole) */
  int64_t absolute_ms;           /* ... and this long after its login, whatever */
  size_t max_body_bytes;         /* a request body larger is refused (413) */
  unsigned max_conns_per_client; /* connections at once from one client address */
  char *static_dir;              /* the pages; NULL: the install's share/mediation/web */
} mc_web_conf;

/* One web site ([web <site>]): a unit's desk (site = the unit's id) or the
 * coordinators' (site = MC_WEB_COORDINATORS). */
#define MC_WEB_COORDINATORS "coordinators"
typedef struct mc_web_site {
  char *id;        /* a unit id, or "coordinators" */
  char *listen;    /* "http://127.0.0.1:8441", "https://0.0.0.0:8443"; NULL: not given */
  char *tls_cert;  /* PEM, for https:// */
  char *tls_key;
  char *data_dir;  /* the site's accounts (web/accounts.h); required */
  char *principal; /* whose key the gateway signs with; NULL: the site's default */
} mc_web_site;

/* One router of a cluster ([cluster <id>]; docs/architecture.md, "The
 * cluster"). No such section: one router, at [router] endpoint. The same
 * file goes to every node; each router is told which node it is
 * (mediation-router --node <id>). */
typedef struct mc_router_node {
  char *id;           /* the section's id: a number 1-65535, raft's server id */
  uint64_t raft_id;   /* id as a number */
  char *endpoint;     /* where clients reach this node (like [router] endpoint) */
  char *raft_address; /* host:port where the other routers' raft reaches it */
  char *data_dir;     /* its store and raft log; NULL: [router] data_dir */
} mc_router_node;

/* The reminder daemon (mediation-remind, [remind]): what all units share. */
typedef struct mc_remind_conf {
  char *data_dir;          /* its state: what was sent, what waits to be sent */
  char *principal;         /* the coordinator it asks the router as; NULL: mediactl's choice */
  int64_t check_ms;        /* how often it looks for newly overdue cases and retries */
  int64_t due_soon_ms;     /* the digest's "due soon": deadline within this */
  int64_t offer_wait_ms;   /* the digest's "offers waiting": offered longer than this */
} mc_remind_conf;

/* How the router makes its writes durable ([storage]). */
typedef struct mc_storage_conf {
  char *mode;                  /* "lmdb-sync" (default) or "raft" */
  unsigned checkpoint_entries; /* raft mode: a checkpoint (synced copy) every this many entries */
} mc_storage_conf;

typedef struct mc_registry {
  char *subdistrict;        /* "白鹤街道" */
  char *case_prefix;        /* "BH" */
  int utc_offset_minutes;   /* 480: China Standard Time */
  char *keys_dir;           /* private keys: <keys_dir>/<principal>.key */
  mc_router_conf router;
  int64_t deadline_ms[MC_STATE_COUNT]; /* per CaseState; 0: no deadline */
  mc_limits limits;
  mc_policy policy;
  mc_unit *units;
  size_t n_units;
  mc_community *communities;
  size_t n_communities;
  mc_principal *principals; /* units, coordinators and operators, with keys */
  size_t n_principals;
  mc_web_conf web;
  mc_web_site *web_sites;
  size_t n_web_sites;
  mc_remind_conf remind;
  mc_storage_conf storage;
  mc_router_node *nodes;    /* [cluster <id>], in the file's order; none: a single router */
  size_t n_nodes;
} mc_registry;

/* Loads and checks a configuration file. On success *out is a new registry
 * (free with mc_registry_free). Errors name the file, section and key. */
mc_code mc_registry_load(const char *path, mc_registry **out, mc_err *err);

/* The same from text in memory (tests). `origin` names it in errors. */
mc_code mc_registry_parse(const char *text, const char *origin, mc_registry **out, mc_err *err);

void mc_registry_free(mc_registry *reg);

/* Lookups by id; NULL when absent. Linear: registries hold tens of entries. */
const mc_unit *mc_registry_unit(const mc_registry *reg, const char *id);
const mc_community *mc_registry_community(const mc_registry *reg, const char *id);
const mc_principal *mc_registry_principal(const mc_registry *reg, const char *id);

/* The [web <site>] section of a site (a unit id or "coordinators"), or NULL. */
const mc_web_site *mc_registry_web_site(const mc_registry *reg, const char *site);

/* The [cluster <id>] node with raft id `raft_id`, or NULL. */
const mc_router_node *mc_registry_node(const mc_registry *reg, uint64_t raft_id);

/* The routers clients talk to - the one place that knows them: the
 * [cluster <id>] nodes' endpoints in raft-id order, or [router] endpoint
 * alone when there is no [cluster] section. Writes up to cap borrowed
 * pointers (valid as long as reg) into out and returns how many there are
 * (which may exceed cap: call again with a larger array); 0 when no
 * endpoint is configured at all. */
size_t mc_registry_router_endpoints(const mc_registry *reg, const char *out[], size_t cap);

/* The workstation unit of a community, or NULL. */
const mc_unit *mc_registry_station(const mc_registry *reg, const char *community_id);

/* The first unit of a kind (the marriage studio, the police studio), or NULL. */
const mc_unit *mc_registry_first_of_kind(const mc_registry *reg, mc_unit_kind kind);

/* Resolves a unit or community as people name it: by id, by its name or by
 * one of its aliases (exact match; the loader keeps all of these unique
 * across units and communities, so at most one entry answers). The one
 * place every client and service resolves such a name. */
const mc_unit *mc_registry_find_unit(const mc_registry *reg, const char *id_or_name);
const mc_community *mc_registry_find_community(const mc_registry *reg, const char *id_or_name);

/* For a name that matched nothing: the registered id, name or alias of a
 * unit (units true) or community (units false) closest to `text` by edit
 * distance over UTF-8 code points, or NULL when none is close enough to be
 * a likely typo (distance at most a third of the longer name, at least 1).
 * The string is borrowed from reg. */
const char *mc_registry_suggest(const mc_registry *reg, bool units, const char *text);

#endif /* MC_REGISTRY_H */
