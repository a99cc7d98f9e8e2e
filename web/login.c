/*
 * login.c - POST /api/v1/login, on the gateway's login workers.
 *
 * Checking a password is Argon2id at libsodium's interactive limits: about
 * 0.1 s of CPU and 64 MiB of memory. On an nng callback thread that would
 * stall every other request; unbounded, a burst of logins would take
 * memory by the hundred MiB. So logins go to a pool of their own
 * (workers.c: 2 threads, at most 128 MiB of hashing at once, a bounded
 * queue; a full queue answers 503 with Retry-After at once). Their own,
 * not the documents': a burst of downloads must not keep people from
 * logging in, nor logins add to the documents' memory.
 *
 * A worker parses the body ({"name","password"}, nothing else), calls
 * wa_login (which counts the account's failures and locks it), counts the
 * failure against the client address too (sessions.c), makes the session
 * and answers with the cookie. The password lives only in the request body
 * and a stack buffer, both wiped after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "web/gateway.h"

/* {"name": "...", "password": "..."}: exactly those two strings. */
static mc_code parse_login(const char *body, size_t len, char name[WA_NAME_MAX + 1],
                           char password[WA_PASSWORD_MAX + 1], mc_err *err) {
  json_tokener *tok = json_tokener_new_ex(4);
  if (tok == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, _("out of memory"));
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, body, (int)len);
  bool whole = o != NULL && json_tokener_get_error(tok) == json_tokener_success;
  for (size_t i = whole ? json_tokener_get_parse_end(tok) : len; i < len; i++)
    whole = whole && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n');
  json_tokener_free(tok);
  mc_code rc = MC_OK;
  if (!whole || !json_object_is_type(o, json_type_object)) {
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("login: the body is not a JSON object"));
  } else {
    json_object_object_foreach(o, key, val) {
      if (strcmp(key, "name") != 0 && strcmp(key, "password") != 0) {
        rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("login: unknown field (only name and password)"));
        break;
      }
      (void)val;
    }
    json_object *n = NULL, *p = NULL;
    if (rc == MC_OK && (!json_object_object_get_ex(o, "name", &n) ||
                        !json_object_is_type(n, json_type_string)))
      rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("login: name: a string is required"));
    if (rc == MC_OK && (!json_object_object_get_ex(o, "password", &p) ||
                        !json_object_is_type(p, json_type_string)))
      rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("login: password: a string is required"));
    if (rc == MC_OK && (size_t)json_object_get_string_len(n) > WA_NAME_MAX)
      rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("login: name: too long"));
    if (rc == MC_OK && (size_t)json_object_get_string_len(p) > WA_PASSWORD_MAX)
      rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("login: password: too long"));
    if (rc == MC_OK) {
      snprintf(name, WA_NAME_MAX + 1, "%s", json_object_get_string(n));
      snprintf(password, WA_PASSWORD_MAX + 1, "%s", json_object_get_string(p));
      /* json-c's copy of the password is freed below; wipe it first. */
      sodium_memzero((void *)json_object_get_string(p), (size_t)json_object_get_string_len(p));
    }
  }
  json_object_put(o);
  return rc;
}

static void login_one(wg_gateway *g, wg_req *r) {
  char name[WA_NAME_MAX + 1] = "", password[WA_PASSWORD_MAX + 1] = "";
  mc_err err;
  mc_err_clear(&err);
  mc_code rc = parse_login(r->body, r->body_len, name, password, &err);
  wa_account acct;
  int64_t now = wg_now_ms();
  if (rc == MC_OK)
    rc = wa_login(g->accounts, name, password, now, &acct, &err);
  sodium_memzero(password, sizeof(password));
  sodium_memzero(name, sizeof(name));
  if (rc == MC_UNAUTHENTICATED || rc == MC_PERMISSION_DENIED || rc == MC_RESOURCE_EXHAUSTED)
    wg_addr_failed(g->guard, r->addr, now);
  if (rc != MC_OK) {
    wg_reply_error(r, rc, err.msg);
    return;
  }
  wg_addr_succeeded(g->guard, r->addr);
  char sid[WG_TOKEN_HEX + 1];
  wg_session_info s;
  rc = wg_session_new(g->sessions, acct.name, acct.role, now, sid, &s, &err);
  sodium_memzero(&acct, sizeof(acct));
  if (rc != MC_OK) {
    wg_reply_error(r, rc, err.msg);
    return;
  }
  char cookie[160];
  snprintf(cookie, sizeof(cookie), "mw_session=%s; HttpOnly; SameSite=Strict; Path=/%s", sid,
           g->tls ? "; Secure" : "");
  sodium_memzero(sid, sizeof(sid));
  wg_reply_json(r, 200, wg_session_json(g, &s), "Set-Cookie", cookie);
  sodium_memzero(cookie, sizeof(cookie));
  sodium_memzero(&s, sizeof(s));
}

/* The job: a login waiting for a worker. */
static void login_run(wg_job *j) {
  wg_req *r = j->r;
  free(j);
  login_one(r->g, r);
}

void wg_login_submit(wg_gateway *g, wg_req *r) {
  wg_job *j = calloc(1, sizeof(*j));
  if (j == NULL) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  j->r = r;
  j->run = login_run;
  wg_workers_submit(g->login, j);
}
