/*
 * http.c - the gateway's HTTP server on nng 1.5.2: one handler for every
 * path and method, security headers on every reply, request bodies read
 * by us, static files, the status table, and the per-address cap.
 *
 * Why one catch-all handler: nng answers unmatched paths (404), wrong
 * methods (405) and over-long bodies (400) itself, with HTML pages and
 * none of our headers. Registered at "/" as a tree for every method, the
 * handler sees every request that parses, so each reply is ours: JSON
 * {code, message} for the API, the headers of WEB.md everywhere.
 *
 * Bodies: with collect_body off, nng hands us the request before its body.
 * We check Content-Length against max_body (over: 413 and the connection
 * closed, the body never read), then read exactly that many bytes on the
 * connection with an aio of our own, with a timeout, so a client that
 * sends its body slowly is cut off. Chunked bodies are refused (411).
 *
 * Client addresses: nng 1.5.2 has no public way to ask an nng_http_conn
 * for its peer (nng_http_conn_getopt came in later versions); its struct
 * begins with the nng_stream it reads (src/supplemental/http/http_conn.c,
 * v1.5.2), whose NNG_OPT_REMADDR is public. We use that only when the
 * running libnng says it is 1.5.x; otherwise per-address limits are off
 * (logged at start). The address keys the in-flight cap
 * (max_conns_per_client: requests being handled at once per address, an
 * nng connection carrying one at a time) and the login failure counter.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <arpa/inet.h>
#include <sodium.h>

#include "core/log.h"
#include "web/gateway.h"

#include <nng/supplemental/tls/tls.h> /* after nng.h (gateway.h), which it needs */

/* ---- the status table ---- */

uint16_t wg_http_status(mc_code code) {
  switch (code) {
  case MC_OK: return 200;
  case MC_INVALID_ARGUMENT:
  case MC_OUT_OF_RANGE: return 400;
  case MC_UNAUTHENTICATED: return 401;
  case MC_PERMISSION_DENIED: return 403;
  case MC_NOT_FOUND: return 404;
  case MC_ALREADY_EXISTS:
  case MC_ABORTED:
  case MC_FAILED_PRECONDITION: return 409;
  case MC_RESOURCE_EXHAUSTED: return 429;
  case MC_CANCELLED: return 499;
  case MC_UNIMPLEMENTED: return 501;
  case MC_UNAVAILABLE: return 503;
  case MC_DEADLINE_EXCEEDED: return 504;
  case MC_UNKNOWN:
  case MC_INTERNAL:
  case MC_DATA_LOSS: return 500;
  }
  return 500;
}

const char *wg_http_reason(uint16_t status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 411: return "Length Required";
  case 413: return "Payload Too Large";
  case 429: return "Too Many Requests";
  case 499: return "Client Closed Request";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Status";
  }
}

/* ---- static files ---- */

static bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool wg_static_path(const char *dir, const char *path, char *out, size_t cap) {
  if (dir == NULL || dir[0] == '\0' || path == NULL || path[0] != '/')
    return false;
  const char *rel = path + 1;
  if (rel[0] == '\0')
    rel = "index.html";
  /* Components: non-empty, plain characters, not starting with '.'
   * (dotfiles, "." and ".."). */
  bool start = true;
  for (const char *p = rel; *p != '\0'; p++) {
    if (*p == '/') {
      if (start)
        return false; /* empty component ("//", or a trailing "/") */
      start = true;
      continue;
    }
    if (!name_char(*p) || (start && *p == '.'))
      return false;
    start = false;
  }
  if (start)
    return false; /* trailing '/' */
  int n = snprintf(out, cap, "%s/%s", dir, rel);
  return n > 0 && (size_t)n < cap;
}

const char *wg_content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json; charset=utf-8"},
      {".txt", "text/plain; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".webmanifest", "application/manifest+json"},
  };
  const char *dot = strrchr(name, '.');
  const char *slash = strrchr(name, '/');
  if (dot == NULL || (slash != NULL && dot < slash))
    return NULL;
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if (strcmp(dot, types[i].ext) == 0)
      return types[i].type;
  return NULL;
}

#define WG_STATIC_MAX (8u << 20)

static void serve_static(wg_req *r) {
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
    wg_reply_error_status(r, 405, MC_INVALID_ARGUMENT, N_("static files: only GET and HEAD"), "Allow",
                          "GET, HEAD");
    return;
  }
  char file[1024];
  const char *type = NULL;
  if (r->query[0] != '\0' || !wg_static_path(r->g->conf.static_dir, r->path, file, sizeof(file)) ||
      (type = wg_content_type(file)) == NULL) {
    wg_reply_error(r, MC_NOT_FOUND, N_("no such page"));
    return;
  }
  /* The name cannot leave static_dir (wg_static_path), but a symbolic link
   * inside it could: the file's real path must lie under the directory's.
   * Small files, read on this nng thread: the pages are a few hundred KiB. */
  char real[PATH_MAX];
  size_t dlen = strlen(r->g->static_real);
  FILE *f = NULL;
  if (r->g->static_real[0] != '\0' && realpath(file, real) != NULL &&
      strncmp(real, r->g->static_real, dlen) == 0 && real[dlen] == '/')
    f = fopen(real, "rb");
  struct stat st;
  if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WG_STATIC_MAX) {
    if (f != NULL)
      fclose(f);
    wg_reply_error(r, MC_NOT_FOUND, N_("no such page"));
    return;
  }
  size_t len = (size_t)st.st_size;
  char *buf = malloc(len ? len : 1);
  bool ok = buf != NULL && fread(buf, 1, len, f) == len;
  fclose(f);
  if (!ok) {
    free(buf);
    wg_reply_error(r, MC_INTERNAL, N_("cannot read the page"));
    return;
  }
  wg_reply(r, 200, type, buf, len, "Cache-Control", "no-cache");
  free(buf);
}

/* ---- replies ---- */

int64_t wg_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wg_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char wg_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static void inflight_release(wg_req *r) {
  if (!r->counted)
    return;
  wg_gateway *g = r->g;
  pthread_mutex_lock(&g->mu);
  for (size_t i = 0; i < g->n_inflight_slots; i++) {
    wg_inflight *s = &g->inflight[i];
    if (s->n > 0 && strcmp(s->addr, r->addr) == 0) {
      if (--s->n == 0)
        s->addr[0] = '\0';
      break;
    }
  }
  pthread_mutex_unlock(&g->mu);
  r->counted = false;
}

/* false: addr has max_per_client requests in flight already (or the table
 * is full). */
static bool inflight_take(wg_req *r) {
  wg_gateway *g = r->g;
  if (!g->addr_known || g->conf.max_per_client == 0)
    return true;
  bool ok = false;
  pthread_mutex_lock(&g->mu);
  wg_inflight *mine = NULL, *free_slot = NULL;
  for (size_t i = 0; i < g->n_inflight_slots; i++) {
    wg_inflight *s = &g->inflight[i];
    if (s->n > 0 && strcmp(s->addr, r->addr) == 0) {
      mine = s;
      break;
    }
    if (s->n == 0 && free_slot == NULL)
      free_slot = s;
  }
  if (mine == NULL && free_slot != NULL) {
    mine = free_slot;
    snprintf(mine->addr, sizeof(mine->addr), "%s", r->addr);
  }
  if (mine != NULL && mine->n < g->conf.max_per_client) {
    mine->n++;
    ok = true;
  }
  pthread_mutex_unlock(&g->mu);
  r->counted = ok;
  return ok;
}

static void req_free(wg_req *r) {
  if (r->body_aio != NULL)
    nng_aio_reap(r->body_aio); /* may be its own callback's thread: free later */
  if (r->body != NULL) {
    sodium_memzero(r->body, r->body_len); /* may hold a password */
    free(r->body);
  }
  sodium_memzero(&r->session, sizeof(r->session));
  free(r);
}

/* The path as logged: API paths as they are (ids and method names only,
 * never bodies), anything else "static"; printable ASCII only. */
static void log_line(const wg_req *r, uint16_t status) {
  char shown[96];
  size_t j = 0;
  const char *src = r->api ? r->path : "(static)";
  for (size_t i = 0; src[i] != '\0' && j + 1 < sizeof(shown); i++)
    shown[j++] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
  shown[j] = '\0';
  mc_log(status >= 500 ? MC_LOG_WARNING : MC_LOG_INFO, NULL, "%s %s %u %lldms %s", r->method, shown,
         status, (long long)(wg_mono_ms() - r->start_ms), r->addr);
}

void wg_reply(wg_req *r, uint16_t status, const char *type, const void *body, size_t len,
              const char *extra_name, const char *extra_value) {
  nng_http_res *res = NULL;
  int rv = nng_http_res_alloc(&res);
  if (rv == 0) {
    rv = nng_http_res_set_status(res, status);
    if (rv == 0)
      rv = nng_http_res_set_reason(res, wg_http_reason(status));
    if (rv == 0)
      rv = nng_http_res_set_header(res, "Content-Security-Policy", wg_csp);
    if (rv == 0)
      rv = nng_http_res_set_header(res, "X-Content-Type-Options", "nosniff");
    if (rv == 0)
      rv = nng_http_res_set_header(res, "Referrer-Policy", "no-referrer");
    if (rv == 0)
      rv = nng_http_res_set_header(res, "X-Frame-Options", "DENY");
    if (rv == 0 && r->api)
      rv = nng_http_res_set_header(res, "Cache-Control", "no-store");
    if (rv == 0 && type != NULL)
      rv = nng_http_res_set_header(res, "Content-Type", type);
    if (rv == 0 && extra_name != NULL)
      rv = nng_http_res_set_header(res, extra_name, extra_value);
    /* A body we did not read: the connection must not be used for
     * another request (the unread bytes would be parsed as one). */
    if (rv == 0 && r->body_unread)
      rv = nng_http_res_set_header(res, "Connection", "close");
    if (rv == 0)
      rv = nng_http_res_copy_data(res, body != NULL ? body : "", body != NULL ? len : 0);
  }
  log_line(r, rv == 0 ? status : 500);
  inflight_release(r);
  nng_aio *aio = r->aio;
  req_free(r);
  if (rv != 0) {
    if (res != NULL)
      nng_http_res_free(res);
    nng_aio_finish(aio, rv); /* nng closes the connection */
    return;
  }
  nng_aio_set_output(aio, 0, res);
  nng_aio_finish(aio, 0);
}

void wg_reply_json(wg_req *r, uint16_t status, json_object *o, const char *extra_name,
                   const char *extra_value) {
  size_t len = 0;
  /* The same printing as pbjson's: compact, "/" not escaped. */
  const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
  const char *text = o ? json_object_to_json_string_length(o, flags, &len) : NULL;
  if (text == NULL) {
    json_object_put(o);
    static const char oom[] = "{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"out of memory\"}";
    wg_reply(r, 500, "application/json; charset=utf-8", oom, sizeof(oom) - 1, NULL, NULL);
    return;
  }
  wg_reply(r, status, "application/json; charset=utf-8", text, len, extra_name, extra_value);
  json_object_put(o);
}

void wg_reply_error_status(wg_req *r, uint16_t status, mc_code code, const char *message,
                           const char *extra_name, const char *extra_value) {
  locale_t previous = mc_i18n_use(r->lang);
  json_object *o = json_object_new_object();
  if (o != NULL) {
    json_object_object_add(o, "code", json_object_new_string(mc_code_name(code)));
    json_object_object_add(
        o, "message",
        json_object_new_string(message && message[0] ? _(message) : mc_code_text(code)));
  }
  mc_i18n_restore(previous);
  wg_reply_json(r, status, o, extra_name, extra_value);
}

/* The first tag of the browser's Accept-Language ("zh-CN,zh;q=0.9" gives
 * "zh-CN"); "" without one. Only its language part is ever used
 * (mc_i18n_use), so no name a browser sent reaches the locale loader. */
static void take_lang(wg_req *r) {
  const char *accept = nng_http_req_get_header(r->req, "Accept-Language");
  r->lang[0] = '\0';
  if (accept != NULL) {
    size_t n = strcspn(accept, ",; ");
    snprintf(r->lang, sizeof(r->lang), "%.*s",
             (int)(n < sizeof(r->lang) ? n : sizeof(r->lang) - 1), accept);
  }
}

void wg_reply_error(wg_req *r, mc_code code, const char *message) {
  wg_reply_error_status(r, wg_http_status(code), code, message, NULL, NULL);
}

/* ---- the handler ---- */

static void client_addr(wg_gateway *g, nng_http_conn *conn, char *out, size_t cap) {
  snprintf(out, cap, "unknown");
  if (!g->addr_known || conn == NULL)
    return;
  /* nng 1.5.2: struct nng_http_conn { nng_stream *sock; ... } (see top). */
  nng_stream *s = *(nng_stream **)(void *)conn;
  nng_sockaddr sa;
  if (s == NULL || nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) != 0)
    return;
  char buf[INET6_ADDRSTRLEN];
  if (sa.s_family == NNG_AF_INET && inet_ntop(AF_INET, &sa.s_in.sa_addr, buf, sizeof(buf)))
    snprintf(out, cap, "%s", buf);
  else if (sa.s_family == NNG_AF_INET6 && inet_ntop(AF_INET6, sa.s_in6.sa_addr, buf, sizeof(buf)))
    snprintf(out, cap, "%s", buf);
}

#define WG_BODY_TIMEOUT_MS 10000

static void body_done(void *arg) {
  wg_req *r = arg;
  int rv = nng_aio_result(r->body_aio);
  if (rv != 0) {
    /* Too slow or gone: nothing sensible to answer; nng closes the
     * connection. */
    mc_log(MC_LOG_INFO, NULL, "%s %s body not received (%s) %s", r->method,
           r->api ? r->path : "(static)", nng_strerror(rv), r->addr);
    inflight_release(r);
    nng_aio *aio = r->aio;
    req_free(r);
    nng_aio_finish(aio, rv);
    return;
  }
  if (r->continue_sent == 1) {
    /* "100 Continue" is out: now the body. */
    r->continue_sent = 2;
    nng_iov iov = {.iov_buf = r->body, .iov_len = r->body_len};
    nng_aio_set_iov(r->body_aio, 1, &iov);
    nng_aio_set_timeout(r->body_aio, WG_BODY_TIMEOUT_MS);
    nng_http_conn_read_all(r->conn, r->body_aio);
    return;
  }
  r->body[r->body_len] = '\0';
  r->body_unread = false;
  wg_api(r);
}

/* The path and query of r's URI; false (answered) when too long. */
static bool take_uri(wg_req *r, const char *uri) {
  const char *q = uri ? strchr(uri, '?') : NULL;
  size_t plen = uri ? (q ? (size_t)(q - uri) : strlen(uri)) : 0;
  r->api = plen >= 5 && strncmp(uri, "/api/", 5) == 0;
  if (uri == NULL || plen >= sizeof(r->path) || (q && strlen(q + 1) >= sizeof(r->query))) {
    snprintf(r->path, sizeof(r->path), "(long)");
    wg_reply_error(r, MC_INVALID_ARGUMENT, N_("the URL is too long"));
    return false;
  }
  memcpy(r->path, uri, plen);
  r->path[plen] = '\0';
  if (q != NULL)
    snprintf(r->query, sizeof(r->query), "%s", q + 1);
  return true;
}

/* Reads a POST body of len bytes (at most max_body), then wg_api. */
static void read_body(wg_req *r, uint64_t len) {
  if (len > r->g->conf.max_body) {
    char msg[256];
    locale_t previous = mc_i18n_use(r->lang);
    snprintf(msg, sizeof(msg), _("the request body is larger than %zu bytes"),
             r->g->conf.max_body);
    mc_i18n_restore(previous);
    wg_reply_error_status(r, 413, MC_RESOURCE_EXHAUSTED, msg, NULL, NULL);
    return;
  }
  r->body_len = (size_t)len;
  r->body = malloc(r->body_len + 1);
  if (r->body == NULL || nng_aio_alloc(&r->body_aio, body_done, r) != 0) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  nng_aio_set_timeout(r->body_aio, WG_BODY_TIMEOUT_MS);
  /* A client that asked to be told (curl does, for bodies over 1 KiB) is
   * told to go on; nng's server would leave it waiting for a second. */
  const char *expect = nng_http_req_get_header(r->req, "Expect");
  if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
    static char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
    nng_iov iov = {.iov_buf = go_on, .iov_len = sizeof(go_on) - 1};
    nng_aio_set_iov(r->body_aio, 1, &iov);
    r->continue_sent = 1;
    nng_http_conn_write_all(r->conn, r->body_aio);
    return;
  }
  nng_iov iov = {.iov_buf = r->body, .iov_len = r->body_len};
  nng_aio_set_iov(r->body_aio, 1, &iov);
  nng_http_conn_read_all(r->conn, r->body_aio);
}

static void handle(nng_aio *aio) {
  nng_http_handler *h = nng_aio_get_input(aio, 1);
  wg_req *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    nng_aio_finish(aio, NNG_ENOMEM);
    return;
  }
  r->g = nng_http_handler_get_data(h);
  r->aio = aio;
  r->req = nng_aio_get_input(aio, 0);
  r->conn = nng_aio_get_input(aio, 2);
  r->start_ms = wg_mono_ms();
  take_lang(r);
  client_addr(r->g, r->conn, r->addr, sizeof(r->addr));
  const char *method = nng_http_req_get_method(r->req);
  snprintf(r->method, sizeof(r->method), "%s", method ? method : "?");
  /* A body is ours to read (collect_body is off): until it is, any reply
   * closes the connection, or its bytes would be taken for the next
   * request. */
  const char *te = nng_http_req_get_header(r->req, "Transfer-Encoding");
  const char *cl = nng_http_req_get_header(r->req, "Content-Length");
  uint64_t len = 0;
  bool cl_bad = false;
  if (cl != NULL) {
    char *end = NULL;
    errno = 0;
    len = strtoull(cl, &end, 10);
    cl_bad = cl[0] < '0' || cl[0] > '9' || end == NULL || *end != '\0' || errno != 0;
  }
  r->body_unread = te != NULL || cl_bad || len > 0;
  if (!take_uri(r, nng_http_req_get_uri(r->req)))
    return;
  if (!inflight_take(r)) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("too many requests at once from this address"));
  } else if (method == NULL || strlen(method) >= sizeof(r->method)) {
    wg_reply_error_status(r, 405, MC_INVALID_ARGUMENT, N_("unknown HTTP method"), NULL, NULL);
  } else if (cl_bad) {
    wg_reply_error(r, MC_INVALID_ARGUMENT, N_("Content-Length is not a number"));
  } else if (te != NULL) {
    wg_reply_error_status(r, 411, MC_INVALID_ARGUMENT,
                          N_("chunked request bodies are not accepted: send Content-Length"),
                          NULL, NULL);
  } else if (!r->api) {
    serve_static(r);
  } else if (len > 0 && strcmp(r->method, "POST") != 0) {
    wg_reply_error(r, MC_INVALID_ARGUMENT, N_("a body is only accepted with POST"));
  } else if (len > 0) {
    read_body(r, len);
  } else if ((r->body = calloc(1, 1)) == NULL) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
  } else {
    wg_api(r);
  }
}

/* ---- start and stop ---- */

static mc_code read_pem(const char *what, const char *path, char **out, mc_err *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s %s: %s", what, path, strerror(errno));
  char *buf = malloc(1u << 20);
  size_t len = buf ? fread(buf, 1, (1u << 20) - 1, f) : 0;
  bool bad = buf == NULL || ferror(f) || !feof(f);
  fclose(f);
  if (buf != NULL)
    buf[len] = '\0';
  if (bad || strstr(buf, "-----BEGIN ") == NULL) {
    if (buf != NULL)
      sodium_memzero(buf, len);
    free(buf);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s %s: not a PEM file (or larger than 1 MiB)", what,
                      path);
  }
  *out = buf;
  return MC_OK;
}

static mc_code tls_config(const char *cert_file, const char *key_file, nng_tls_config **out,
                          mc_err *err) {
  if (cert_file == NULL || key_file == NULL || !cert_file[0] || !key_file[0])
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "listen is https:// but tls_cert or tls_key is not set for this site");
  char *cert = NULL, *key = NULL;
  mc_code rc = read_pem("tls_cert", cert_file, &cert, err);
  if (rc == MC_OK)
    rc = read_pem("tls_key", key_file, &key, err);
  nng_tls_config *cfg = NULL;
  int rv;
  if (rc == MC_OK && (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0)
    rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "TLS: %s", nng_strerror(rv));
  if (rc == MC_OK && (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0)
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, "TLS certificate %s with key %s: %s", cert_file,
                    key_file, nng_strerror(rv));
  if (rc == MC_OK && (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)) != 0)
    rc = mc_err_set(err, MC_INTERNAL, "TLS auth mode: %s", nng_strerror(rv));
  if (key != NULL) {
    sodium_memzero(key, strlen(key));
    free(key);
  }
  free(cert);
  if (rc != MC_OK) {
    if (cfg != NULL)
      nng_tls_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return MC_OK;
}

mc_code wg_http_start(wg_gateway *g, mc_err *err) {
  const char *v = nng_version();
  g->addr_known = strncmp(v, "1.5.", 4) == 0;
  if (!g->addr_known)
    mc_log(MC_LOG_WARNING, NULL,
           "libnng %s is not 1.5.x: client addresses unknown, per-address limits off", v);
  /* The pages' directory, resolved once (absent: every page is 404). */
  if (g->conf.static_dir == NULL || realpath(g->conf.static_dir, g->static_real) == NULL) {
    g->static_real[0] = '\0';
    mc_log(MC_LOG_WARNING, NULL, "static_dir %s: not found; no pages are served",
           g->conf.static_dir ? g->conf.static_dir : "(none)");
  }
  g->n_inflight_slots = 4096;
  g->inflight = calloc(g->n_inflight_slots, sizeof(wg_inflight));
  if (g->inflight == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&g->mu, NULL);

  nng_url *url = NULL;
  int rv = nng_url_parse(&url, g->conf.listen);
  if (rv != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "listen %s: not a URL (%s)", g->conf.listen,
                      nng_strerror(rv));
  g->tls = strcmp(url->u_scheme, "https") == 0;
  if (!g->tls && strcmp(url->u_scheme, "http") != 0) {
    nng_url_free(url);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "listen %s: use http:// or https://",
                      g->conf.listen);
  }
  rv = nng_http_server_hold(&g->server, url);
  nng_url_free(url);
  if (rv != 0)
    return mc_err_set(err, MC_UNAVAILABLE, "listen %s: %s", g->conf.listen, nng_strerror(rv));
  mc_code rc = MC_OK;
  if (g->tls) {
    nng_tls_config *cfg = NULL;
    rc = tls_config(g->conf.tls_cert, g->conf.tls_key, &cfg, err);
    if (rc == MC_OK) {
      if ((rv = nng_http_server_set_tls(g->server, cfg)) != 0)
        rc = mc_err_set(err, MC_INTERNAL, "TLS: %s", nng_strerror(rv));
      nng_tls_config_free(cfg); /* the server holds its own reference */
    }
  }
  nng_http_handler *h = NULL;
  if (rc == MC_OK && ((rv = nng_http_handler_alloc(&h, "/", handle)) != 0 ||
                      (rv = nng_http_handler_set_method(h, NULL)) != 0 ||
                      (rv = nng_http_handler_set_tree(h)) != 0 ||
                      (rv = nng_http_handler_collect_body(h, false, 0)) != 0 ||
                      (rv = nng_http_handler_set_data(h, g, NULL)) != 0 ||
                      (rv = nng_http_server_add_handler(g->server, h)) != 0)) {
    if (h != NULL)
      nng_http_handler_free(h);
    rc = mc_err_set(err, MC_INTERNAL, "HTTP handler: %s", nng_strerror(rv));
  }
  if (rc == MC_OK && (rv = nng_http_server_start(g->server)) != 0)
    rc = mc_err_set(err, MC_UNAVAILABLE, "listen %s: %s", g->conf.listen, nng_strerror(rv));
  if (rc != MC_OK) {
    nng_http_server_release(g->server);
    g->server = NULL;
  }
  return rc;
}

void wg_http_stop(wg_gateway *g) {
  if (g->server != NULL) {
    nng_http_server_stop(g->server);
    nng_http_server_release(g->server);
    g->server = NULL;
  }
  free(g->inflight);
  g->inflight = NULL;
}
