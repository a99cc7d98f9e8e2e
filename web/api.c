/*
 * api.c - /api/v1/...: sessions, the method listing, the long poll, and
 * every exposed method as POST /api/v1/<Service>/<Method>.
 *
 * A method call is JSON -> request message (pj_to_message, through the
 * method's input descriptor: unknown fields, wrong types and bad UTF-8 are
 * 400 with the field's path) -> the person stamped (methods.c) -> an async
 * RPC with the site's key -> the reply message as JSON (pj_to_text), or
 * the status as {code, message} with the mapped HTTP status. Nothing here
 * blocks: the request is answered from the RPC's done callback.
 *
 * Checks, in this order, so that each refusal says the first thing wrong:
 * the method is in the site's table (404), the HTTP method (405), a live
 * session (401), the CSRF token for every POST but login (403), the body
 * (400).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/registry.h"
#include "pbjson/pbjson.h"
#include "web/gateway.h"

#define JSON_TYPE "application/json; charset=utf-8"

json_object *wg_session_json(wg_gateway *g, const wg_session_info *s) {
  json_object *o = json_object_new_object();
  if (o == NULL)
    return NULL;
  json_object_object_add(o, "person", json_object_new_string(s->person));
  json_object_object_add(o, "role", json_object_new_string(s->role));
  json_object_object_add(o, "site", json_object_new_string(g->conf.site));
  json_object_object_add(o, "kind",
                         json_object_new_string(g->conf.kind == WG_UNIT ? "unit" : "coordinator"));
  json_object_object_add(o, "csrf_token", json_object_new_string(s->csrf));
  json_object_object_add(o, "idle_seconds", json_object_new_int64(g->conf.idle_ms / 1000));
  return o;
}

/* Finds the request's session; false: none (or expired). Every request
 * but the events long poll counts as use (see wg_session_get). */
static bool find_session(wg_req *r, bool touch) {
  const char *cookie = nng_http_req_get_header(r->req, "Cookie");
  if (!wg_cookie_session(cookie, r->sid))
    return false;
  return wg_session_get(r->g->sessions, r->sid, wg_now_ms(), touch, &r->session);
}

static const char wg_cookie_clear[] = "mw_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";

/* The session and, for POST, its CSRF token; answers r and returns false
 * when either is wrong. */
static bool require_session(wg_req *r, bool post, bool touch) {
  if (!find_session(r, touch)) {
    wg_reply_error_status(r, 401, MC_UNAUTHENTICATED, N_("not logged in (or the session has ended)"),
                          NULL, NULL);
    return false;
  }
  if (post && !wg_csrf_ok(nng_http_req_get_header(r->req, "X-CSRF-Token"), r->session.csrf)) {
    wg_reply_error(r, MC_PERMISSION_DENIED, N_("CSRF token missing or wrong"));
    return false;
  }
  return true;
}

static bool want_method(wg_req *r, const char *allowed) {
  if (strcmp(r->method, allowed) == 0 ||
      (strcmp(allowed, "GET") == 0 && strcmp(r->method, "HEAD") == 0))
    return true;
  char msg[128];
  snprintf(msg, sizeof(msg), _("use %s"), allowed); /* wg_api switched to r's language */
  wg_reply_error_status(r, 405, MC_INVALID_ARGUMENT, msg, "Allow", allowed);
  return false;
}

static void api_logout(wg_req *r) {
  if (!want_method(r, "POST") || !require_session(r, true, true))
    return;
  wg_session_end(r->g->sessions, r->sid);
  wg_reply(r, 200, JSON_TYPE, "{}", 2, "Set-Cookie", wg_cookie_clear);
}

static void api_session(wg_req *r) {
  if (!want_method(r, "GET") || !require_session(r, false, true))
    return;
  wg_reply_json(r, 200, wg_session_json(r->g, &r->session), NULL, NULL);
}

static void api_methods(wg_req *r) {
  if (!want_method(r, "GET"))
    return;
  size_t n = 0;
  const wg_method *t = wg_methods(&n);
  json_object *o = json_object_new_object(), *a = json_object_new_array();
  for (size_t i = 0; o != NULL && a != NULL && i < n; i++) {
    if (t[i].site != r->g->conf.kind)
      continue;
    json_object *m = json_object_new_object();
    json_object_object_add(m, "service", json_object_new_string(t[i].service));
    json_object_object_add(m, "method", json_object_new_string(t[i].method));
    json_object_object_add(m, "access",
                           json_object_new_string(t[i].access == WG_WRITE ? "write" : "read"));
    json_object_array_add(a, m);
  }
  if (o != NULL)
    json_object_object_add(o, "methods", a);
  else
    json_object_put(a);
  wg_reply_json(r, 200, o, NULL, NULL);
}

/* GET /api/v1/names: {"units": {id: {name, kind, community}}, "communities":
 * {id: {name, station, grids: [...]}}} from the registry, so the pages show
 * 宋大姐调解工作室 where the contract says marriage-studio. Only what the
 * shared configuration file already tells every process (no rosters, no
 * keys, no endpoints); needs a session like every read. */
static void api_names(wg_req *r) {
  if (!want_method(r, "GET") || !require_session(r, false, true))
    return;
  static const char *const kinds[] = {"", "police", "marriage", "community"};
  const mc_registry *reg = r->g->conf.reg;
  json_object *o = json_object_new_object(), *units = json_object_new_object(),
              *comms = json_object_new_object();
  for (size_t i = 0; reg != NULL && units != NULL && i < reg->n_units; i++) {
    const mc_unit *u = &reg->units[i];
    json_object *e = json_object_new_object();
    json_object_object_add(e, "name", json_object_new_string(u->name ? u->name : u->id));
    json_object_object_add(e, "kind", json_object_new_string(
                                          (unsigned)u->kind < 4 ? kinds[u->kind] : ""));
    json_object_object_add(e, "community", json_object_new_string(u->community ? u->community : ""));
    json_object_object_add(units, u->id, e);
  }
  for (size_t i = 0; reg != NULL && comms != NULL && i < reg->n_communities; i++) {
    const mc_community *c = &reg->communities[i];
    json_object *e = json_object_new_object(), *grids = json_object_new_array();
    json_object_object_add(e, "name", json_object_new_string(c->name ? c->name : c->id));
    json_object_object_add(e, "station", json_object_new_string(c->station ? c->station : ""));
    for (size_t k = 0; grids != NULL && k < c->n_grids; k++)
      json_object_array_add(grids, json_object_new_string(c->grids[k]));
    json_object_object_add(e, "grids", grids);
    json_object_object_add(comms, c->id, e);
  }
  if (o == NULL || units == NULL || comms == NULL) {
    json_object_put(o);
    json_object_put(units);
    json_object_put(comms);
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  json_object_object_add(o, "units", units);
  json_object_object_add(o, "communities", comms);
  /* The report's heading names the subdistrict (白鹤街道), as mediactl report does. */
  json_object_object_add(o, "subdistrict",
                         json_object_new_string(reg != NULL && reg->subdistrict ? reg->subdistrict : ""));
  wg_reply_json(r, 200, o, NULL, NULL);
}

static void api_login(wg_req *r) {
  if (!want_method(r, "POST"))
    return;
  wg_gateway *g = r->g;
  int64_t until = wg_addr_locked_until(g->guard, r->addr, wg_now_ms());
  if (until != 0) {
    char msg[256];
    snprintf(msg, sizeof(msg),
             _("too many failed logins from this address: try again in %lld minutes"),
             (long long)((until - wg_now_ms()) / 60000 + 1));
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, msg);
    return;
  }
  wg_login_submit(g, r);
}

/* ---- the long poll ---- */

static bool query_u64(const char *query, const char *key, uint64_t *out, bool *bad) {
  size_t klen = strlen(key);
  for (const char *p = query; p != NULL && *p != '\0';) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      uint64_t v = 0;
      size_t i = klen + 1;
      if (i == len || len - i > 20)
        *bad = true;
      for (; i < len && !*bad; i++) {
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10) {
          *bad = true;
          break;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
      }
      *out = v;
      return true;
    }
    p = end ? end + 1 : NULL;
  }
  return false;
}

static void api_events(wg_req *r) {
  if (r->g->conf.kind != WG_UNIT || r->g->events == NULL) {
    wg_reply_error(r, MC_NOT_FOUND, N_("events: only a unit's desk has events"));
    return;
  }
  if (!want_method(r, "GET") || !require_session(r, false, false))
    return;
  bool bad = false;
  r->ev_after = r->ev_epoch = 0;
  query_u64(r->query, "after", &r->ev_after, &bad);
  query_u64(r->query, "epoch", &r->ev_epoch, &bad);
  if (bad) {
    wg_reply_error(r, MC_INVALID_ARGUMENT, N_("events: after and epoch are decimal numbers"));
    return;
  }
  wg_events_wait(r->g->events, r);
}

/* ---- forwarded methods ---- */

static void call_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  wg_req *r = arg;
  if (code != MC_OK) {
    wg_reply_error(r, code, message);
    return;
  }
  size_t len = 0;
  char *text = pj_to_text(reply, &len);
  protobuf_c_message_free_unpacked(reply, NULL);
  if (text == NULL) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  wg_reply(r, 200, JSON_TYPE, text, len, NULL, NULL);
  free(text);
}

static void api_call(wg_req *r, const char *service, const char *method) {
  const wg_method *m = wg_method_find(r->g->conf.kind, service, method);
  if (m == NULL) {
    wg_reply_error(r, MC_NOT_FOUND, N_("no such method on this site (GET /api/v1/methods lists them)"));
    return;
  }
  if (!want_method(r, "POST") || !require_session(r, true, true))
    return;
  r->m = m;
  const ProtobufCMethodDescriptor *md =
      protobuf_c_service_descriptor_get_method_by_name(m->desc, m->method);
  if (md == NULL) {
    wg_reply_error(r, MC_INTERNAL, N_("the method is not in this build's contract"));
    return;
  }
  ProtobufCMessage *request = NULL;
  mc_err err;
  mc_err_clear(&err);
  /* An empty body is the empty message. */
  const char *json = r->body_len > 0 ? r->body : "{}";
  size_t len = r->body_len > 0 ? r->body_len : 2;
  if (pj_to_message(md->input, json, len, &request, &err) != MC_OK) {
    wg_reply_error(r, err.code == MC_OK ? MC_INVALID_ARGUMENT : err.code, err.msg);
    return;
  }
  if (m->stamp != NULL && m->stamp(request, r->session.person, &err) != MC_OK) {
    protobuf_c_message_free_unpacked(request, NULL);
    wg_reply_error(r, err.code, err.msg);
    return;
  }
  rpc_call_opts copts = {.timeout_ms = r->g->conf.call_timeout_ms, .nowait = true};
  mc_code rc = rpc_client_call_async(r->g->client, m->desc, m->method, request, &copts, call_done,
                                     r, &err);
  protobuf_c_message_free_unpacked(request, NULL); /* packed by the call already */
  if (rc != MC_OK)
    wg_reply_error(r, rc, err.msg);
}

static void api_route(wg_req *r);

/* The browser's language (its Accept-Language, first tag: "zh-CN,zh;q=0.9"
 * is Chinese, "en-US,en" English; none: the gateway's own LANG) is the
 * language of every call this request makes: the rpc client sends it with
 * each (RequestEnvelope.locale) and runs the call's callback in it, so the
 * router's and the Desk's refusals reach the browser in its language
 * (core/i18n.h, docs/i18n.md). */
void wg_api(wg_req *r) {
  locale_t previous = mc_i18n_use(r->lang); /* http.c took it from Accept-Language */
  api_route(r);
  mc_i18n_restore(previous);
}

static void api_route(wg_req *r) {
  static const char prefix[] = "/api/v1/";
  if (strncmp(r->path, prefix, sizeof(prefix) - 1) != 0) {
    wg_reply_error(r, MC_NOT_FOUND, N_("no such API path (the API is under /api/v1/)"));
    return;
  }
  const char *rest = r->path + sizeof(prefix) - 1;
  if (strcmp(rest, "login") == 0) {
    api_login(r);
  } else if (strcmp(rest, "logout") == 0) {
    api_logout(r);
  } else if (strcmp(rest, "session") == 0) {
    api_session(r);
  } else if (strcmp(rest, "methods") == 0) {
    api_methods(r);
  } else if (strcmp(rest, "events") == 0) {
    api_events(r);
  } else if (strncmp(rest, "documents/", 10) == 0) {
    if (wg_documents_here(r, rest + 10) && want_method(r, "GET") &&
        require_session(r, false, true))
      wg_documents(r, rest + 10);
  } else if (strcmp(rest, "names") == 0) {
    api_names(r);
  } else if (strcmp(rest, "report") == 0) {
    if (wg_documents_here(r, "report") && want_method(r, "GET") &&
        require_session(r, false, true))
      wg_report_text(r);
  } else {
    const char *slash = strchr(rest, '/');
    char service[32];
    size_t slen = slash ? (size_t)(slash - rest) : 0;
    if (slash == NULL || slen == 0 || slen >= sizeof(service) || strchr(slash + 1, '/') != NULL ||
        slash[1] == '\0') {
      wg_reply_error(r, MC_NOT_FOUND, N_("no such API path"));
      return;
    }
    memcpy(service, rest, slen);
    service[slen] = '\0';
    api_call(r, service, slash + 1);
  }
}
