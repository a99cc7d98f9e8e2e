/*
 * web.h - mediation-web's parts and how they meet (layer web, prefix wg_).
 *
 * mediation-web is the HTTP/JSON gateway of one site: a unit's desk (it
 * calls its unit daemon's Desk service) or the coordinators' view (it calls
 * the router). Browsers log in as persons (web/accounts.h); the gateway
 * calls the services with the site's one key, and stamps the logged-in
 * person into the person fields of what it forwards.
 *
 * The parts, each a file:
 *   http.c      the nng HTTP server: one handler for every path, so that
 *               every reply (nng's own 404/405/400 pages included) carries
 *               the security headers and a JSON body; bodies read by us so
 *               an oversized one is 413; static files; the status table
 *   sessions.c  the in-memory session table, cookies, CSRF, the per-address
 *               login failure counter
 *   login.c     the login endpoint, on its workers (Argon2id is slow and
 *               big: never on an nng thread)
 *   workers.c   fixed pools of threads with bounded queues for the slow
 *               requests: logins, document downloads (documents.c)
 *   methods.c   the one method table: what a site exposes, read or write,
 *               and where the person is stamped
 *   api.c       /api/v1/...: JSON -> message -> async RPC -> JSON
 *   events.c    /api/v1/events: one Desk/Watch long poll per gateway, fanned
 *               out to every waiting browser request
 *   main.c      flags, configuration, keys, start and stop
 *
 * Threads: handlers run on nng threads and never block; they finish the
 * request from an RPC done callback, a worker (workers.c) or the watcher.
 */
#ifndef WG_WEB_H
#define WG_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <protobuf-c/protobuf-c.h>

#include "core/status.h"

/* ---- configuration of one site (main.c fills it from the registry) ---- */

typedef enum wg_kind { WG_UNIT = 1, WG_COORDINATOR = 2 } wg_kind;

typedef struct wg_conf {
  wg_kind kind;
  const char *site;          /* the unit id, or "coordinators" */
  const char *listen;        /* http://host:port or https://host:port */
  const char *tls_cert;      /* PEM files, for https:// */
  const char *tls_key;
  const char *static_dir;    /* the pages; NULL or "": no static files */
  int64_t idle_ms;           /* session idle expiry */
  int64_t absolute_ms;       /* session absolute expiry */
  size_t max_body;           /* request body cap, bytes */
  unsigned max_per_client;   /* requests in flight per client address */
  size_t max_sessions;       /* session table bound */
  int64_t call_timeout_ms;   /* deadline of each forwarded call */
  /* Borrowed, may be NULL: the units' and communities' Chinese names that
   * GET /api/v1/names gives the pages (the contract carries only ids). */
  const struct mc_registry *reg;
} wg_conf;

/* ---- status mapping (http.c) ---- */

/* The HTTP status for a status code: the one table (docs/web.md). */
uint16_t wg_http_status(mc_code code);

/* The reason phrase for the HTTP statuses the gateway sends. */
const char *wg_http_reason(uint16_t status);

/* ---- static files (http.c) ---- */

/* Resolves a request path (the URI's path part, starting with '/') to a
 * file name under dir, written to out. "/" is index.html. Refuses (false)
 * anything but plain names of [A-Za-z0-9._-] separated by single '/': no
 * "..", no component starting with '.', no '\\', no empty component, no
 * percent escapes, no query; and paths longer than cap. */
bool wg_static_path(const char *dir, const char *path, char *out, size_t cap);

/* Content-Type by extension ("text/html; charset=utf-8"); NULL: not served. */
const char *wg_content_type(const char *name);

/* ---- sessions (sessions.c) ---- */

#define WG_TOKEN_BYTES 32
#define WG_TOKEN_HEX (2 * WG_TOKEN_BYTES)

typedef struct wg_session_info {
  char person[128];
  char role[32];
  char csrf[WG_TOKEN_HEX + 1];
  int64_t created_ms, last_ms;
} wg_session_info;

typedef struct wg_sessions wg_sessions;

/* A table of at most max sessions. Errors: RESOURCE_EXHAUSTED. */
mc_code wg_sessions_create(size_t max, int64_t idle_ms, int64_t absolute_ms, wg_sessions **out,
                           mc_err *err);
void wg_sessions_free(wg_sessions *t);

/* A new session for person/role at now_ms: its id (hex, the cookie's
 * value) and CSRF token (hex) are written to id_hex and info->csrf. When
 * the table is full, expired sessions are dropped first, then the least
 * recently used one. */
mc_code wg_session_new(wg_sessions *t, const char *person, const char *role, int64_t now_ms,
                       char id_hex[WG_TOKEN_HEX + 1], wg_session_info *info, mc_err *err);

/* Looks a session up by its id (hex) at now_ms and copies a live one to
 * info; with touch, its idle time restarts (a person's request does; the
 * desk's own long poll does not, so a desk left open still goes idle).
 * Expired ones are removed. Returns false for unknown, malformed or
 * expired ids. */
bool wg_session_get(wg_sessions *t, const char *id_hex, int64_t now_ms, bool touch,
                    wg_session_info *info);

/* Removes a session; false if it was not there. */
bool wg_session_end(wg_sessions *t, const char *id_hex);

/* The number of sessions held (for tests). */
size_t wg_sessions_count(wg_sessions *t);

/* Constant-time comparison of a CSRF header against the session's token.
 * NULL or wrong length: false. */
bool wg_csrf_ok(const char *header, const char *token);

/* Finds the mw_session cookie in a Cookie header and copies its value
 * (exactly WG_TOKEN_HEX lowercase hex digits, else refused) to out. */
bool wg_cookie_session(const char *cookie_header, char out[WG_TOKEN_HEX + 1]);

/* ---- login failures per client address (sessions.c) ---- */

#define WG_ADDR_MAX_FAILURES 5
#define WG_ADDR_LOCK_MS (15 * 60 * 1000)

typedef struct wg_addr_guard wg_addr_guard;

mc_code wg_addr_guard_create(size_t max_addrs, wg_addr_guard **out, mc_err *err);
void wg_addr_guard_free(wg_addr_guard *g);
/* 0 if addr may try to log in now, else the time (ms) its lock ends. */
int64_t wg_addr_locked_until(wg_addr_guard *g, const char *addr, int64_t now_ms);
/* Counts a failure; the fifth in a row locks addr for WG_ADDR_LOCK_MS. */
void wg_addr_failed(wg_addr_guard *g, const char *addr, int64_t now_ms);
/* A success clears addr's count. */
void wg_addr_succeeded(wg_addr_guard *g, const char *addr);

/* ---- the method table (methods.c) ---- */

typedef enum wg_access { WG_READ = 1, WG_WRITE = 2 } wg_access;

typedef struct wg_method {
  wg_kind site;                              /* which site exposes it */
  const char *service;                       /* short: "Desk", "Router", "RouterAdmin" */
  const ProtobufCServiceDescriptor *desc;
  const char *method;
  wg_access access;
  /* Writes the logged-in person into the request's person fields
   * (overwriting whatever the browser sent); NULL: none. Errors:
   * INTERNAL (the contract lacks the field), RESOURCE_EXHAUSTED. */
  mc_code (*stamp)(ProtobufCMessage *request, const char *person, mc_err *err);
} wg_method;

/* The entry for service/method on a site, or NULL: not exposed. */
const wg_method *wg_method_find(wg_kind site, const char *service, const char *method);
/* The table, for GET /api/v1/methods; *n entries. */
const wg_method *wg_methods(size_t *n);
/* Sets the string field `field` of msg to value (a copy), freeing the old
 * value; for stamps and tests. INTERNAL if msg has no such string field. */
mc_code wg_set_string_field(ProtobufCMessage *msg, const char *field, const char *value, mc_err *err);

/* ---- the running gateway ---- */

typedef struct wg_gateway wg_gateway;

/* Clock for sessions and lockouts (Unix ms); tests inject their own. */
int64_t wg_now_ms(void);

#endif /* WG_WEB_H */
