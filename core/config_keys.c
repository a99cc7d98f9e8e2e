/*
 * config_keys.c - the table of mediation.conf's keys (see config_keys.h):
 * one row per key, one array per section, in the order the docs show them.
 * A row's meaning is what docs/configuration.md says of the key.
 */
#include "core/config_keys.h"

#include <string.h>

#include "core/registry.h"

/* Where a key's value goes: the field's offset and size in the owner. */
#define AT(type, member) .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define COUNT(type, member) .companion = offsetof(type, member)
#define N(array) (sizeof(array) / sizeof((array)[0]))
#define DEADLINE(state) AT(mc_registry, deadline_ms[MV_STATE(state)]), .type = MC_CONF_DURATION
/* A limit counted as it is stored (bytes, entries). */
#define LIMIT(member) AT(mc_registry, limits.member), .type = MC_CONF_NUMBER, .scale = 1

static const mc_conf_key subdistrict_keys[] = {
    {.key = "name", .type = MC_CONF_TEXT, AT(mc_registry, subdistrict), .dflt = "",
     .meaning = "the subdistrict's name, printed on reports (白鹤街道)"},
    {.key = "case_prefix", .type = MC_CONF_CASE_PREFIX, AT(mc_registry, case_prefix),
     .dflt = "BH", .meaning = "case ids are `BH-2026-000123`"},
    {.key = "utc_offset_minutes", .type = MC_CONF_NUMBER, AT(mc_registry, utc_offset_minutes),
     .min = -14 * 60, .max = 14 * 60, .scale = 1, .dflt = "480",
     .meaning = "the offset at which days, months and years begin for figures (+08:00)"},
    {.key = "keys_dir", .type = MC_CONF_TEXT, AT(mc_registry, keys_dir),
     .meaning = "where `<principal>.key` secret keys are on each machine (mode 0600); "
                "`mkdeploy --system` writes `/etc/mediation/keys`, `--keys-dir` another place"},
};

static const mc_conf_key router_keys[] = {
    {.key = "endpoint", .type = MC_CONF_TEXT, AT(mc_registry, router.endpoint),
     .meaning = "where units and coordinators reach the router: `ipc://`, `tcp://`, "
                "`tls+tcp://`"},
    {.key = "data_dir", .type = MC_CONF_TEXT, AT(mc_registry, router.data_dir),
     .meaning = "the router's LMDB store"},
    {.key = "map_mib", .type = MC_CONF_NUMBER, AT(mc_registry, router.map_bytes), .min = 1,
     .max = 1 << 20, .scale = 1 << 20, .dflt = "64",
     .meaning = "initial LMDB map size (MiB); it grows by itself when full"},
    {.key = "contexts", .type = MC_CONF_NUMBER, AT(mc_registry, router.contexts), .min = 4,
     .max = 4096, .scale = 1, .dflt = "64",
     .meaning = "requests served at once, long polls included"},
    {.key = "idempotency_hours", .type = MC_CONF_NUMBER, AT(mc_registry, router.idempotency_ms),
     .min = 1, .max = 24 * 366, .scale = 3600LL * 1000, .dflt = "168",
     .meaning = "how long a reply is kept so that a retry gets the same answer"},
    {.key = "batch_max", .type = MC_CONF_NUMBER, AT(mc_registry, router.batch_max), .min = 1,
     .max = 4096, .scale = 1, .dflt = "256",
     .meaning = "writes committed together at most (group commit)"},
    {.key = "tls_cert", .type = MC_CONF_TEXT, AT(mc_registry, router.tls_cert),
     .meaning = "the router's certificate (PEM) for `tls+tcp://`"},
    {.key = "tls_key", .type = MC_CONF_TEXT, AT(mc_registry, router.tls_key),
     .meaning = "the key of that certificate (PEM)"},
    {.key = "tls_ca", .type = MC_CONF_TEXT, AT(mc_registry, router.tls_ca),
     .meaning = "for clients: the CA that signed the router's certificate"},
    {.key = "tls_server_name", .type = MC_CONF_TEXT, AT(mc_registry, router.tls_server_name),
     .meaning = "for clients: the name the router's certificate must carry"},
    {.key = "backup_dir", .type = MC_CONF_TEXT, AT(mc_registry, router.backup_dir),
     .meaning = "where `mediactl backup` (RouterAdmin/Backup) puts hot, compacted copies of "
                "the store, one directory each, named by the time at `utc_offset_minutes` "
                "(`20261128T023012.481+0800`, `-manual` added for one made by hand)"},
    {.key = "backups_kept", .type = MC_CONF_NUMBER, AT(mc_registry, router.backups_kept),
     .min = 1, .max = 1000, .scale = 1, .dflt = "7",
     .meaning = "how many copies to keep of each kind: the newest scheduled ones (`mediactl "
                "backup --scheduled`, the nightly timer) and, apart, the newest manual ones, "
                "so backups made by hand never push the nightly ones out"},
    {.key = "public_key", .type = MC_CONF_PUBLIC_KEY, AT(mc_registry, router.public_key),
     .companion = offsetof(mc_registry, router.has_key),
     .meaning = "the router's Ed25519 public key (`router.pub` from `mediation-keygen --dir "
                "KEYS router`); the router then signs every case file's head and the daily "
                "anchors with `<keys_dir>/router.key`, and `mediactl verify` checks them (see "
                "architecture.md, \"Sealed case files\"). Without it nothing is signed and a "
                "careful rewrite of the store goes unseen"},
};

static const mc_conf_key deadline_keys[] = {
    {.key = "intake", DEADLINE(INTAKE), .dflt = "72h", .meaning = "a case in 受理 intake"},
    {.key = "transfer", DEADLINE(TRANSFER), .dflt = "24h",
     .meaning = "a case in 流转 transfer: a handoff unanswered"},
    {.key = "mediation", DEADLINE(MEDIATION), .dflt = "30d", .meaning = "a case in 调处 mediation"},
    {.key = "feedback", DEADLINE(FEEDBACK), .dflt = "30d",
     .meaning = "a case in 反馈 feedback, unless the follow-up visit was scheduled for a date"},
    {.key = "litigation", DEADLINE(LITIGATION), .dflt = "180d", .meaning = "a case in 诉讼 litigation"},
};

static const mc_conf_key limit_keys[] = {
    {.key = "max_message_bytes", LIMIT(max_message_bytes), .min = 4096, .max = 64 << 20,
     .dflt = "1048576",
     .meaning = "one RPC message, either way; larger is refused before sending"},
    {.key = "max_text_bytes", LIMIT(max_text_bytes), .min = 64, .max = 1 << 20, .dflt = "4096",
     .meaning = "summaries, notes, reasons"},
    {.key = "max_name_bytes", LIMIT(max_name_bytes), .min = 16, .max = 4096, .dflt = "128",
     .meaning = "names, references"},
    {.key = "max_parties", LIMIT(max_parties), .min = 1, .max = 1000, .dflt = "16",
     .meaning = "parties on one case"},
    {.key = "max_team", LIMIT(max_team), .min = 1, .max = 1000, .dflt = "32",
     .meaning = "team entries on one case"},
    {.key = "max_sessions", LIMIT(max_sessions), .min = 1, .max = 10000, .dflt = "64",
     .meaning = "sessions on one case"},
    {.key = "max_events", LIMIT(max_events), .min = 16, .max = 1000000, .dflt = "1000",
     .meaning = "events in one case file"},
    {.key = "max_money_yuan", .type = MC_CONF_NUMBER, AT(mc_registry, limits.max_money_fen),
     .min = 0, .max = INT64_MAX / 100,
     .scale = 100, .dflt = "1000000000", .meaning = "largest amount accepted"},
    {.key = "page_size_default", LIMIT(page_size_default), .min = 1, .max = 10000,
     .dflt = "50", .meaning = "list paging: a page when the request asks for no size"},
    {.key = "page_size_max", LIMIT(page_size_max), .min = 1, .max = 10000, .dflt = "500",
     .meaning = "list paging: the largest page; at least `page_size_default`"},
    {.key = "max_deadline_ahead_seconds", .type = MC_CONF_NUMBER,
     AT(mc_registry, limits.max_deadline_ahead_ms), .min = 1,
     .max = 24 * 3600, .scale = 1000, .dflt = "600",
     .meaning = "a request's deadline may not lie further ahead (bounds replays)"},
};

static const mc_conf_key policy_keys[] = {
    {.key = "refer_marriage", .type = MC_CONF_KINDS, AT(mc_registry, policy.refer_marriage),
     .meaning = "kinds the police studio refers at once to the marriage studio (溯源调解)"},
    {.key = "refer_community", .type = MC_CONF_KINDS, AT(mc_registry, policy.refer_community),
     .meaning = "kinds the police studio sends to the workstation of the parties' community"},
    {.key = "counsellor_kinds", .type = MC_CONF_KINDS, AT(mc_registry, policy.counsellor_kinds),
     .meaning = "kinds for which the marriage studio adds a counsellor"},
    {.key = "lawyer_kinds", .type = MC_CONF_KINDS, AT(mc_registry, policy.lawyer_kinds),
     .meaning = "kinds for which it adds a lawyer"},
    {.key = "lawyer_above_yuan", .type = MC_CONF_NUMBER, AT(mc_registry, policy.lawyer_above_fen),
     .min = 0, .max = INT64_MAX / 100, .scale = 100, .dflt = "50000",
     .meaning = "... or when the money involved exceeds this"},
    {.key = "followup_days", .type = MC_CONF_NUMBER, AT(mc_registry, policy.followup_after_ms),
     .min = 1, .max = 366, .scale = 24 * 3600LL * 1000, .dflt = "30",
     .meaning = "the follow-up visit (回访) is due this long after an agreement"},
};

static const mc_conf_key community_keys[] = {
    {.key = "name", .type = MC_CONF_TEXT, AT(mc_community, name),
     .meaning = "shown to people (王隘社区); the id when absent"},
    {.key = "station", .type = MC_CONF_TEXT, AT(mc_community, station),
     .meaning = "the unit id of its workstation"},
    {.key = "grid", .type = MC_CONF_TEXT_LIST, AT(mc_community, grids),
     COUNT(mc_community, n_grids),
     .meaning = "a grid (网格) of the community; repeat the key for each; if any is listed, a "
                "case's grid must be one of them"},
    {.key = "alias", .type = MC_CONF_TEXT_LIST, AT(mc_community, aliases),
     COUNT(mc_community, n_aliases),
     .meaning = "another name people use for it (孔雀), accepted wherever a community is named; "
                "repeat for each; unique among all unit and community ids, names and aliases"},
};

static const mc_conf_key unit_keys[] = {
    {.key = "name", .type = MC_CONF_TEXT, AT(mc_unit, name),
     .meaning = "shown to people (宋大姐调解工作室); the id when absent"},
    {.key = "kind", .type = MC_CONF_UNIT_KIND, AT(mc_unit, kind),
     .meaning = "what the unit is; required"},
    {.key = "community", .type = MC_CONF_TEXT, AT(mc_unit, community),
     .meaning = "for a workstation: its community's id"},
    {.key = "endpoint", .type = MC_CONF_TEXT, AT(mc_unit, endpoint),
     .meaning = "where its Desk service listens for its operators"},
    {.key = "data_dir", .type = MC_CONF_TEXT, AT(mc_unit, data_dir),
     .meaning = "its outbox and local copies"},
    {.key = "public_key", .type = MC_CONF_PUBLIC_KEY, AT(mc_unit, public_key),
     .companion = offsetof(mc_unit, has_key),
     .meaning = "`<id>.pub` made by `mediation-keygen`: its identity towards the router; "
                "required"},
    {.key = "member", .type = MC_CONF_MEMBER, AT(mc_unit, roster), COUNT(mc_unit, n_roster),
     .meaning = "one of its team; role `mediator`, `counsellor` or `lawyer`; repeat for each"},
    /* Its reminders, read only by mediation-remind ([remind]). */
    {.key = "smtp_url", .type = MC_CONF_TEXT, AT(mc_unit, remind.smtp_url),
     .meaning = "reminders by mail: the SMTP relay (`smtp://relay.example:25`, `smtps://…`) "
                "that `mediation-remind` hands the unit's digest and overdue alerts to; a relay "
                "that accepts this machine without a password (this file holds no secrets)"},
    {.key = "mail_from", .type = MC_CONF_TEXT, AT(mc_unit, remind.mail_from),
     .meaning = "the sender address of those mails; required with `smtp_url`"},
    {.key = "mail_to", .type = MC_CONF_TEXT_LIST, AT(mc_unit, remind.mail_to),
     COUNT(mc_unit, remind.n_mail_to),
     .meaning = "a recipient of those mails; repeat the key for each; at least one with "
                "`smtp_url`"},
    {.key = "webhook_url", .type = MC_CONF_TEXT, AT(mc_unit, remind.webhook_url),
     .meaning = "reminders to a group robot: its webhook URL (WeCom "
                "`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`, DingTalk "
                "`https://oapi.dingtalk.com/robot/send?access_token=…`)"},
    {.key = "webhook_kind", .type = MC_CONF_TEXT, AT(mc_unit, remind.webhook_kind),
     .meaning = "`wecom` or `dingtalk`: whose robot `webhook_url` is (both take a JSON text "
                "message); `wecom` when absent"},
    {.key = "digest_at", .type = MC_CONF_TEXT, AT(mc_unit, remind.digest_at),
     .meaning = "`HH:MM`, the local time (at `utc_offset_minutes`) of the unit's morning "
                "digest; `08:00` when absent"},
    {.key = "alias", .type = MC_CONF_TEXT_LIST, AT(mc_unit, aliases), COUNT(mc_unit, n_aliases),
     .meaning = "another name people use for it (大石头), accepted wherever a unit is named; "
                "repeat for each; unique among all unit and community ids, names and aliases"},
    {.key = "doc_abbrev", .type = MC_CONF_TEXT, AT(mc_unit, doc_abbrev),
     .meaning = "the short name in its agreements' numbers (宋 in （2026）宋调字第12号); the "
                "first character of its name when absent"},
};

static const mc_conf_key coordinator_keys[] = {
    {.key = "name", .type = MC_CONF_TEXT, AT(mc_principal, name),
     .meaning = "shown to people (综治办)"},
    {.key = "public_key", .type = MC_CONF_PUBLIC_KEY, AT(mc_principal, public_key),
     .meaning = "its identity towards the router; required"},
};

static const mc_conf_key operator_keys[] = {
    {.key = "name", .type = MC_CONF_TEXT, AT(mc_principal, name), .meaning = "shown to people"},
    {.key = "unit", .type = MC_CONF_TEXT, AT(mc_principal, unit),
     .meaning = "the only unit whose Desk it may call; required"},
    {.key = "public_key", .type = MC_CONF_PUBLIC_KEY, AT(mc_principal, public_key),
     .meaning = "its identity towards its unit; required"},
};

static const mc_conf_key web_keys[] = {
    {.key = "idle_minutes", .type = MC_CONF_NUMBER, AT(mc_registry, web.idle_ms), .min = 1,
     .max = 24 * 60, .scale = 60 * 1000, .dflt = "30",
     .meaning = "a login session ends after this long without a request"},
    {.key = "idle_seconds", .type = MC_CONF_NUMBER, AT(mc_registry, web.idle_seconds_ms),
     .min = 1, .max = 24 * 3600, .scale = 1000,
     .meaning = "the same in seconds; when given it replaces `idle_minutes` (tests use a few "
                "seconds instead of waiting a minute)"},
    {.key = "absolute_hours", .type = MC_CONF_NUMBER, AT(mc_registry, web.absolute_ms),
     .min = 1, .max = 24 * 7, .scale = 3600LL * 1000, .dflt = "12",
     .meaning = "... and this long after its login, however busy"},
    {.key = "max_body_kib", .type = MC_CONF_NUMBER, AT(mc_registry, web.max_body_bytes),
     .min = 1, .max = 16 * 1024, .scale = 1024, .dflt = "64",
     .meaning = "a larger request body is refused (413) before it is read"},
    {.key = "max_conns_per_client", .type = MC_CONF_NUMBER,
     AT(mc_registry, web.max_conns_per_client), .min = 1, .max = 1024, .scale = 1,
     .dflt = "16", .meaning = "connections at once from one client address"},
    {.key = "static_dir", .type = MC_CONF_TEXT, AT(mc_registry, web.static_dir),
     .meaning = "the pages the gateways serve; when absent, the install's "
                "`share/mediation/web`"},
};

static const mc_conf_key web_site_keys[] = {
    {.key = "listen", .type = MC_CONF_TEXT, AT(mc_web_site, listen),
     .meaning = "where its gateway listens: `http://127.0.0.1:8441`, or `https://…` with "
                "`tls_cert` and `tls_key` (`mediation-web --listen` overrides it)"},
    {.key = "tls_cert", .type = MC_CONF_TEXT, AT(mc_web_site, tls_cert),
     .meaning = "its certificate (PEM), for `https://`"},
    {.key = "tls_key", .type = MC_CONF_TEXT, AT(mc_web_site, tls_key),
     .meaning = "the key of that certificate (PEM); given with `tls_cert` or not at all"},
    {.key = "data_dir", .type = MC_CONF_TEXT, AT(mc_web_site, data_dir),
     .meaning = "the site's person accounts (an LMDB of its own, made mode 0700 by "
                "`mediactl user add`); required"},
    {.key = "principal", .type = MC_CONF_TEXT, AT(mc_web_site, principal),
     .meaning = "whose key under `keys_dir` the gateway signs its calls with: an operator of "
                "the unit for a unit's site (default `<unit>-operator`), a coordinator for "
                "`coordinators` (default: as `mediactl` chooses)"},
};


static const mc_conf_key remind_keys[] = {
    {.key = "data_dir", .type = MC_CONF_TEXT, AT(mc_registry, remind.data_dir),
     .meaning = "where `mediation-remind` keeps what it sent and what waits to be sent "
                "(`remind.state`); required to run it"},
    {.key = "principal", .type = MC_CONF_TEXT, AT(mc_registry, remind.principal),
     .meaning = "the coordinator whose key under `keys_dir` it asks the router with "
                "(default: as `mediactl` chooses)"},
    {.key = "check_minutes", .type = MC_CONF_NUMBER, AT(mc_registry, remind.check_ms),
     .min = 1, .max = 24 * 60, .scale = 60 * 1000, .dflt = "5",
     .meaning = "how often it looks for cases that became overdue, and sends again what a "
                "relay or robot refused"},
    {.key = "due_soon", .type = MC_CONF_DURATION, AT(mc_registry, remind.due_soon_ms),
     .dflt = "48h", .meaning = "the digest lists cases whose deadline is this close"},
    {.key = "offer_wait", .type = MC_CONF_DURATION, AT(mc_registry, remind.offer_wait_ms),
     .dflt = "24h", .meaning = "... and offers (流转) a unit has left unanswered this long"},
};

static const mc_conf_key cluster_keys[] = {
    {.key = "endpoint", .type = MC_CONF_TEXT, AT(mc_router_node, endpoint),
     .meaning = "where units, gateways and coordinators reach this router (like `[router] "
                "endpoint`, which a cluster does not use); required"},
    {.key = "raft_address", .type = MC_CONF_TEXT, AT(mc_router_node, raft_address),
     .meaning = "`host:port` where the other routers' raft reaches this one (raft's own TCP; "
                "keep it on a private network, docs/architecture.md); required"},
    {.key = "data_dir", .type = MC_CONF_TEXT, AT(mc_router_node, data_dir),
     .meaning = "this node's store and raft log; default `[router] data_dir` (set it when "
                "several nodes share a machine)"},
};

static const mc_conf_key storage_keys[] = {
    {.key = "mode", .type = MC_CONF_TEXT, AT(mc_registry, storage.mode), .dflt = "lmdb-sync",
     .meaning = "`lmdb-sync`: every group commit is a synced LMDB commit (two flushes); `raft`: "
                "each group commit is one entry of a raft log (one flush), applied to LMDB "
                "without a sync, with checkpoints; required by `[cluster <id>]`"},
    {.key = "checkpoint_entries", .type = MC_CONF_NUMBER,
     AT(mc_registry, storage.checkpoint_entries), .min = 4, .max = 1 << 24, .scale = 1,
     .dflt = "16384",
     .meaning = "raft mode: every this many log entries the store is copied (compacted, synced) "
                "as raft's snapshot, and the log before it is dropped"},
};

static const mc_conf_section sections[] = {
    {"subdistrict", MC_CONF_REGISTRY, NULL, subdistrict_keys, N(subdistrict_keys)},
    {"router", MC_CONF_REGISTRY, NULL, router_keys, N(router_keys)},
    {"deadlines", MC_CONF_REGISTRY,
     "How long a case may stay in a state before it is overdue (shown by `mediactl\n"
     "stuck`): a number with `s`, `m`, `h` or `d`; `0` means no deadline.",
     deadline_keys, N(deadline_keys)},
    {"limits", MC_CONF_REGISTRY, NULL, limit_keys, N(limit_keys)},
    {"policy", MC_CONF_REGISTRY,
     "The units' routing rules — data, not code. Kinds are `divorce custody\n"
     "elder_support inheritance relationship family_trivia neighbour labour other`\n"
     "(or their Chinese labels), separated by spaces or commas.",
     policy_keys, N(policy_keys)},
    {"community", MC_CONF_COMMUNITY, NULL, community_keys, N(community_keys)},
    {"unit", MC_CONF_UNIT, NULL, unit_keys, N(unit_keys)},
    {"coordinator", MC_CONF_COORDINATOR, NULL, coordinator_keys, N(coordinator_keys)},
    {"operator", MC_CONF_OPERATOR, NULL, operator_keys, N(operator_keys)},
    {"web", MC_CONF_REGISTRY,
     "What every web gateway (`mediation-web`) shares: its sessions and limits.",
     web_keys, N(web_keys)},
    {"web", MC_CONF_WEB_SITE,
     "One web site: `<id>` is a unit's id (that unit's desk, for its operators'\n"
     "persons) or `coordinators` (the coordinators' view). The id may be quoted:\n"
     "`[web \"police-studio\"]` is `[web police-studio]`. Its persons' accounts are\n"
     "made with `mediactl user` (docs/mediactl.md).",
     web_site_keys, N(web_site_keys)},
    {"remind", MC_CONF_REGISTRY,
     "The reminder daemon (`mediation-remind`, docs/deploy.md): each morning a\n"
     "digest per unit (overdue, due soon, offers waiting), and an alert when a case\n"
     "becomes overdue, to the places its `[unit]` section names (`smtp_url`,\n"
     "`mail_from`, `mail_to`, `webhook_url`, `webhook_kind`, `digest_at`; a unit\n"
     "with neither `smtp_url` nor `webhook_url` gets none).",
     remind_keys, N(remind_keys)},
    {"storage", MC_CONF_REGISTRY,
     "How the router's writes become durable (docs/architecture.md, \"The raft\n"
     "write path\"). `raft` runs one node, or the nodes of `[cluster <id>]`.",
     storage_keys, N(storage_keys)},
    {"cluster", MC_CONF_ROUTER_NODE,
     "One router of a cluster (`[storage] mode = raft` only): `<id>` is its raft\n"
     "id, a number from 1 to 65535. Three nodes survive losing one. Writes go to the\n"
     "leader; clients that reach a follower are told the leader and switch to it.\n"
     "No `[cluster]` section: one router at `[router] endpoint`.",
     cluster_keys, N(cluster_keys)},
};

const mc_conf_section *mc_conf_sections(size_t *n) {
  *n = N(sections);
  return sections;
}

const mc_conf_key *mc_conf_key_of(const mc_conf_section *section, const char *key) {
  for (size_t i = 0; i < section->n_keys; i++) {
    if (strcmp(section->keys[i].key, key) == 0)
      return &section->keys[i];
  }
  return NULL;
}
