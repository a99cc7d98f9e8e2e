/*
 * gateway.h - the running gateway and one HTTP request in it: what http.c,
 * api.c, login.c and events.c share. (web.h holds the pure parts the tests
 * use; this is the glue around nng and the RPC client.)
 *
 * A request (wg_req) is made by http.c's handler for every HTTP request and
 * ends in exactly one wg_reply_* call, which hands the response to nng,
 * logs the line, releases the client address's in-flight slot and frees
 * the request. Whoever holds the request last (the handler, an RPC done
 * callback, a worker (workers.c), the watcher) makes that call.
 */
#ifndef WG_GATEWAY_H
#define WG_GATEWAY_H

#include <pthread.h>
#include <stdatomic.h>

#include <json-c/json.h>

#include "core/i18n.h"
#include "rpc/client.h"
#include "web/accounts.h"
#include "web/web.h"

typedef struct wg_workers wg_workers;
typedef struct wg_events wg_events;

typedef struct wg_inflight {
  char addr[64];
  unsigned n;
} wg_inflight;

struct wg_gateway {
  wg_conf conf;
  bool tls;                  /* https: cookies get Secure */
  bool addr_known;           /* client addresses readable (nng 1.5.x) */
  char static_real[4096];    /* realpath of conf.static_dir, or "" */
  nng_http_server *server;
  rpc_client *client;        /* the unit's Desk, or the router; borrowed */
  const mc_registry *reg;    /* names and the UTC offset, for documents; borrowed */
  wa_store *accounts;        /* borrowed */
  wg_sessions *sessions;
  wg_addr_guard *guard;
  wg_workers *login;         /* Argon2id: 2 threads (at most 128 MiB hashing) */
  wg_workers *docs;          /* document downloads (workers.c) */
  wg_events *events;         /* unit sites only */
  pthread_mutex_t mu;        /* inflight */
  wg_inflight *inflight;
  size_t n_inflight_slots;
};

#define WG_PATH_MAX 256

typedef struct wg_req {
  wg_gateway *g;
  nng_aio *aio;              /* the server's; ours until wg_reply_* */
  nng_http_req *req;
  nng_http_conn *conn;
  char method[8];            /* GET, HEAD, POST, ... (longer: refused) */
  char path[WG_PATH_MAX];    /* the URI's path */
  char query[WG_PATH_MAX];   /* after '?', or "" */
  char addr[64];             /* the client's address, or "unknown" */
  bool counted;              /* holds an in-flight slot of addr */
  bool api;                  /* /api/...: Cache-Control: no-store */
  int64_t start_ms;          /* monotonic, for the log line */
  nng_aio *body_aio;         /* reading the body */
  char *body;                /* malloc'd, NUL-terminated */
  int continue_sent;         /* 1: writing "100 Continue", 2: written */
  bool body_unread;          /* a body came that we have not read: close after replying */
  size_t body_len;
  char sid[WG_TOKEN_HEX + 1];/* the session's id, if one was found */
  wg_session_info session;
  const wg_method *m;        /* the API method called */
  struct wg_req *next;       /* in the events waiters */
  uint64_t ev_after, ev_epoch;
  /* The browser's language, the first tag of its Accept-Language ("zh-CN",
   * "en-US"; "": the gateway's own): what its messages are written in. */
  char lang[MC_LOCALE_MAX];
} wg_req;

/* Monotonic ms, for durations. */
int64_t wg_mono_ms(void);

/* Answers r with status and a body (copied; may be NULL) of the given
 * type, plus the headers every reply gets; extra_name/extra_value, if not
 * NULL, one more header (Set-Cookie, Allow). Frees r. */
void wg_reply(wg_req *r, uint16_t status, const char *type, const void *body, size_t len,
              const char *extra_name, const char *extra_value);
/* A JSON reply of o (consumed: json_object_put). */
void wg_reply_json(wg_req *r, uint16_t status, json_object *o, const char *extra_name,
                   const char *extra_value);
/* {"code","message"} with wg_http_status(code). The message is shown in
 * the request's language (r->lang): the gateway's own texts are passed as
 * marked (N_) English and translated here, whatever thread answers; a text
 * already translated (a service's refusal) has no entry and stays as is. */
void wg_reply_error(wg_req *r, mc_code code, const char *message);
/* The same with an explicit HTTP status (413, 405). */
void wg_reply_error_status(wg_req *r, uint16_t status, mc_code code, const char *message,
                           const char *extra_name, const char *extra_value);

/* api.c: /api/v1/... (body read). */
void wg_api(wg_req *r);

/* documents.c: GET /api/v1/documents/<kind>?case=ID, .../ledger?from=&to=&community=,
 * .../report?year=YYYY (session checked). */
void wg_documents(wg_req *r, const char *kind);
/* Whether the document kind is served on r's site, before the session is
 * checked (as a method not in the site's table is 404 first): false, r
 * answered 404, for the report on a unit's site. */
bool wg_documents_here(wg_req *r, const char *kind);
/* documents.c: GET /api/v1/report?year=YYYY, the annual report's text as
 * JSON (coordinators' site; session checked). */
void wg_report_text(wg_req *r);

/* workers.c: fixed pools of threads for slow requests (logins, documents),
 * each with a bounded queue. A job holds its request and answers it. */
typedef struct wg_job wg_job;
struct wg_job {
  wg_req *r;                   /* the request the job answers */
  /* On a worker thread, in r's language: does the work, answers r (one
   * wg_reply_*) and frees j. */
  void (*run)(wg_job *j);
  /* Frees j when it will not run (r answered by the pool already); NULL:
   * free(j). */
  void (*discard)(wg_job *j);
  wg_job *next;                /* the pool's queue */
};
/* threads (> 0) started now; at most max_queued (> 0) jobs waiting; busy
 * is the N_() text a full queue answers with (503, Retry-After). */
mc_code wg_workers_start(const char *name, unsigned threads, size_t max_queued, const char *busy,
                         wg_workers **out, mc_err *err);
/* Takes j whatever happens: queued (true), or refused (false: j->r
 * answered 503 with Retry-After, the pool's busy text or "the server is
 * stopping", and j discarded). p NULL: refused as stopping. */
bool wg_workers_submit(wg_workers *p, wg_job *j);
/* True once wg_workers_stop began: a long job ends early. */
bool wg_workers_stopping(wg_workers *p);
/* The jobs waiting (for tests and the log). */
size_t wg_workers_queued(wg_workers *p);
/* Refuses new jobs, answers the queued ones 503 (stopping), lets running
 * ones finish and joins every thread. Call it while the server and the
 * RPC client still exist; idempotent. */
void wg_workers_stop(wg_workers *p);
/* Stops (if not yet) and frees; after the last RPC callback that could
 * submit (rpc_client_free). NULL: nothing. */
void wg_workers_free(wg_workers *p);

/* login.c: POST /api/v1/login, queued on g->login (r's body is the login
 * JSON; a worker parses it, checks the password and answers r). Always
 * answers r, at once when the pool refuses. */
void wg_login_submit(wg_gateway *g, wg_req *r);
/* The login/session reply body for a session. */
json_object *wg_session_json(wg_gateway *g, const wg_session_info *s);

/* events.c: the Desk/Watch fan-out. */
mc_code wg_events_start(wg_gateway *g, wg_events **out, mc_err *err);
/* Stops answering: parked requests get UNAVAILABLE, no new Watch starts. */
void wg_events_halt(wg_events *e);
/* Waits for the watch loop to end (free the RPC client first: that ends
 * the Watch call in flight) and frees. */
void wg_events_free(wg_events *e);
/* Answers r now (a change after r->ev_after, a reset) or when something
 * changes or 25 s pass. */
void wg_events_wait(wg_events *e, wg_req *r);

/* http.c: the server. */
mc_code wg_http_start(wg_gateway *g, mc_err *err);
void wg_http_stop(wg_gateway *g);

#endif /* WG_GATEWAY_H */
