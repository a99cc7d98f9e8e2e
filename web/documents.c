/*
 * documents.c - GET /api/v1/documents/<kind>?case=ID: a case's 调解协议书
 * (agreement) or case file (case-file) as a PDF download.
 *
 * The case is read where the site reads everything, with the site's
 * identity and the logged-in person stamped for the access log: a unit's
 * site asks its Desk (ShowCase), the coordinators' site the router
 * (GetCase). documents/ then renders exactly that reply, so the download is
 * masked as the reader's view is; the agreement, which carries the full
 * particulars, is refused (403) unless the site's unit holds the case.
 *
 * Rendering takes up to a few hundred milliseconds of CPU, too long for the
 * RPC's done callback (an nng thread): the callback hands the reply to the
 * gateway's document workers (workers.c: a fixed pool, a bounded queue,
 * 503 with Retry-After when it is full), where it is rendered into a
 * temporary file, read back, answered and the file removed.
 *
 * GET /api/v1/documents/ledger?from=&to=&community= is the 台账 as an xlsx:
 * the cases the reader may list, read as `mediactl document ledger` reads
 * them (router: ListCases pages, then GetCase each as the person, so every
 * row is masked as that reader's view; unit: its Desk's ListCases pages).
 * A document worker does the reading with the blocking client, at most
 * LEDGER_MAX_ROWS cases (413 beyond), and renders as above; a stopping
 * gateway ends it between two calls.
 *
 * GET /api/v1/documents/report?year=YYYY (the coordinators' site only) is
 * the annual report 年度报告 as a PDF: the three GetFigures replies
 * `mediactl document report` reads (by community, kind and month), asked
 * on a document worker with the blocking client, rendered by documents/
 * (report_text.h) from exactly those replies, so its sentences are
 * `mediactl report`'s for the same store.
 *
 * GET /api/v1/report?year=YYYY is the same report's text as JSON (heading,
 * sentences, scorecard cells), made by the same builder from the two
 * replies `mediactl report` reads, so the dashboard shows these words
 * rather than computing its own.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "documents/documents.h"
#include "documents/report_text.h"
#include "web/gateway.h"

#define DOC_MAX_BYTES (64u << 20) /* a case file of the longest case is far below */

typedef enum wd_kind { WD_AGREEMENT, WD_CASE_FILE } wd_kind;

typedef struct wd_job {
  wg_job job; /* first: the pool's handle */
  wg_req *r;
  wd_kind kind;
  ProtobufCMessage *reply; /* owned: GetCaseReply or DeskShowReply */
} wd_job;

/* The value of key in a query string, percent-decoding nothing: case ids
 * and unit references are plain ASCII. false if absent or not plain. */
static bool query_value(const char *query, const char *key, char *out, size_t cap) {
  size_t klen = strlen(key);
  for (const char *p = query; p != NULL && *p != '\0';) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t vlen = len - klen - 1;
      if (vlen == 0 || vlen >= cap)
        return false;
      for (size_t i = 0; i < vlen; i++) {
        char c = p[klen + 1 + i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == ':'))
          return false;
      }
      memcpy(out, p + klen + 1, vlen);
      out[vlen] = '\0';
      return true;
    }
    p = end ? end + 1 : NULL;
  }
  return false;
}

static mc_code read_file(const char *path, char **out, size_t *len, mc_err *err) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return mc_err_set(err, MC_INTERNAL, _("the rendered document cannot be read back"));
  struct stat st;
  char *buf = NULL;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= DOC_MAX_BYTES)
    buf = malloc((size_t)st.st_size);
  size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
  fclose(f);
  if (buf == NULL || got != (size_t)st.st_size) {
    free(buf);
    return mc_err_set(err, MC_INTERNAL, _("the rendered document cannot be read back"));
  }
  *out = buf;
  *len = got;
  return MC_OK;
}

/* What a renderer of documents/ writes to path, given its arguments. */
typedef mc_code (*render_fn)(void *args, const char *path, mc_err *err);

/* A document as bytes: documents/ renders to a file, so the gateway has it
 * write a private temporary file, reads it back and removes it. On
 * MC_OK, *body (the caller frees it) holds *len bytes. */
static mc_code render_bytes(render_fn render, void *args, char **body, size_t *len,
                            mc_err *err) {
  char path[] = "/tmp/mediation-web-doc-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return mc_err_set(err, MC_INTERNAL, _("no temporary file for the document"));
  close(fd);
  mc_code rc = render(args, path, err);
  if (rc == MC_OK)
    rc = read_file(path, body, len, err);
  unlink(path);
  return rc;
}

/* The agreement or the case file of one case, as render() read it. */
typedef struct case_doc {
  wd_job *j;
  mv_case *c;
  mv_event **events;
  size_t n;
  bool masked;
} case_doc;

static mc_code render_case_doc(void *args, const char *path, mc_err *err) {
  case_doc *d = args;
  wg_req *r = d->j->r;
  return d->j->kind == WD_AGREEMENT
             ? doc_agreement(r->g->reg, d->c, d->masked, false, path, err)
             : doc_case_file(r->g->reg, d->c, d->events, d->n, r->session.person, path, err);
}

static void render(wg_job *job) {
  wd_job *j = (wd_job *)job;
  wg_req *r = j->r;
  wg_gateway *g = r->g;
  mv_case *c;
  mv_event **events;
  size_t n;
  bool masked;
  if (g->conf.kind == WG_UNIT) {
    Mediation__V1__DeskShowReply *d = (Mediation__V1__DeskShowReply *)j->reply;
    c = d->case_record;
    events = d->events;
    n = d->n_events;
    masked = c == NULL || strcmp(c->holder, g->conf.site) != 0;
  } else {
    Mediation__V1__GetCaseReply *d = (Mediation__V1__GetCaseReply *)j->reply;
    c = d->case_record;
    events = d->events;
    n = d->n_events;
    masked = d->masked;
  }
  mc_err err;
  char *body = NULL;
  size_t len = 0;
  mc_code rc;
  if (c == NULL) {
    rc = mc_err_set(&err, MC_INTERNAL, _("the reply carries no case"));
  } else {
    case_doc args = {.j = j, .c = c, .events = events, .n = n, .masked = masked};
    rc = render_bytes(render_case_doc, &args, &body, &len, &err);
  }
  if (rc != MC_OK) {
    wg_reply_error(r, rc, err.msg);
  } else {
    char disp[160];
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%s.pdf\"",
             j->kind == WD_AGREEMENT ? "agreement" : "case-file", c->id);
    wg_reply(r, 200, "application/pdf", body, len, "Content-Disposition", disp);
  }
  free(body);
  protobuf_c_message_free_unpacked(j->reply, NULL);
  free(j);
}

/* A case document that will not be rendered: its reply and itself. */
static void render_discard(wg_job *job) {
  wd_job *j = (wd_job *)job;
  protobuf_c_message_free_unpacked(j->reply, NULL);
  free(j);
}

static void read_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  wd_job *j = arg;
  if (code != MC_OK) {
    wg_reply_error(j->r, code, message);
    free(j);
    return;
  }
  j->reply = reply;
  j->job.r = j->r;
  j->job.run = render;
  j->job.discard = render_discard;
  wg_workers_submit(j->r->g->docs, &j->job);
}

static void ledger_start(wg_req *r);
static void report_start(wg_req *r);

bool wg_documents_here(wg_req *r, const char *kind) {
  if (strcmp(kind, "report") == 0 && r->g->conf.kind != WG_COORDINATOR) {
    wg_reply_error(r, MC_NOT_FOUND, N_("the annual report is on the coordinators' site only"));
    return false;
  }
  return true;
}

void wg_documents(wg_req *r, const char *kind) {
  wd_kind k;
  if (strcmp(kind, "ledger") == 0) {
    ledger_start(r);
    return;
  }
  if (strcmp(kind, "report") == 0) {
    report_start(r);
    return;
  }
  if (strcmp(kind, "agreement") == 0)
    k = WD_AGREEMENT;
  else if (strcmp(kind, "case-file") == 0)
    k = WD_CASE_FILE;
  else {
    wg_reply_error(r, MC_NOT_FOUND, N_("documents: agreement, case-file, ledger or report"));
    return;
  }
  char ref[128];
  if (!query_value(r->query, "case", ref, sizeof(ref))) {
    wg_reply_error(r, MC_INVALID_ARGUMENT,
                   N_("documents: ?case=ID is required (a case id or UNIT:REF, in ASCII)"));
    return;
  }
  wd_job *j = calloc(1, sizeof(*j));
  if (j == NULL) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  j->r = r;
  j->kind = k;
  mc_err err;
  rpc_call_opts copts = {.timeout_ms = r->g->conf.call_timeout_ms, .nowait = true};
  mc_code rc;
  bool timeline = k == WD_CASE_FILE;
  if (r->g->conf.kind == WG_UNIT) {
    Mediation__V1__DeskShowRequest req = MEDIATION__V1__DESK_SHOW_REQUEST__INIT;
    req.case_ref = ref;
    req.with_timeline = timeline;
    req.person = r->session.person;
    rc = rpc_client_call_async(r->g->client, &mediation__v1__desk__descriptor, "ShowCase",
                               &req.base, &copts, read_done, j, &err);
  } else {
    Mediation__V1__GetCaseRequest req = MEDIATION__V1__GET_CASE_REQUEST__INIT;
    req.case_ref = ref;
    req.with_timeline = timeline;
    req.person = r->session.person;
    rc = rpc_client_call_async(r->g->client, &mediation__v1__router__descriptor, "GetCase",
                               &req.base, &copts, read_done, j, &err);
  }
  if (rc != MC_OK) {
    free(j);
    wg_reply_error(r, rc, err.msg);
  }
}

/* ---- the ledger (台账) as an xlsx download ---- */

/* At most this many rows in one ledger download: each row costs an RPC on
 * the coordinators' site and its memory until the file is written. A wider
 * period is refused (413) with the advice to narrow it. */
#define LEDGER_MAX_ROWS 10000

/* The limit in force: LEDGER_MAX_ROWS, or (tests only, like
 * MEDIATION_TEST_RAFT_FAIL_APPEND) MEDIATION_TEST_LEDGER_MAX_ROWS=N, a
 * smaller N, so the 413 can be reached with a handful of cases. Read once;
 * a warning in the log says it is on. */
static int ledger_limit = LEDGER_MAX_ROWS;
static pthread_once_t ledger_limit_once = PTHREAD_ONCE_INIT;

static void ledger_limit_read(void) {
  const char *v = getenv("MEDIATION_TEST_LEDGER_MAX_ROWS");
  long n = v != NULL ? atol(v) : 0;
  if (n > 0 && n < LEDGER_MAX_ROWS) {
    ledger_limit = (int)n;
    mc_log(MC_LOG_WARNING, NULL, "ledger downloads limited to %d cases "
                                 "(MEDIATION_TEST_LEDGER_MAX_ROWS, for tests)", ledger_limit);
  }
}

static int ledger_max_rows(void) {
  pthread_once(&ledger_limit_once, ledger_limit_read);
  return ledger_limit;
}

/* A stopping gateway: a ledger's next call is not made. */
static mc_code ledger_stopping(wg_gateway *g, mc_err *err) {
  return wg_workers_stopping(g->docs)
             ? mc_err_set(err, MC_UNAVAILABLE, _("the server is stopping"))
             : MC_OK;
}

typedef struct wl_job {
  wg_job job; /* first: the pool's handle */
  wg_req *r;
  int64_t from_ms, to_ms;  /* created in [from_ms, to_ms); 0: unbounded */
  char from[11], to[11];   /* as asked, for the title and the file name */
  const mc_community *com; /* NULL: every community; the registry's */
} wl_job;

/* The cases of the ledger, each pointing into one of the replies kept. */
typedef struct wl_rows {
  ProtobufCMessage **replies;
  size_t n_replies, cap_replies;
  mv_case **cases;
  size_t n, cap;
  bool too_many; /* over LEDGER_MAX_ROWS: answered 413, not by its message */
} wl_rows;

static bool rows_keep(wl_rows *w, ProtobufCMessage *reply) {
  if (w->n_replies == w->cap_replies) {
    size_t ncap = w->cap_replies ? 2 * w->cap_replies : 16;
    ProtobufCMessage **r2 = realloc(w->replies, ncap * sizeof(*r2));
    if (r2 == NULL)
      return false;
    w->replies = r2;
    w->cap_replies = ncap;
  }
  w->replies[w->n_replies++] = reply;
  return true;
}

static bool rows_add(wl_rows *w, mv_case *c) {
  if (w->n == w->cap) {
    size_t ncap = w->cap ? 2 * w->cap : 64;
    mv_case **c2 = realloc(w->cases, ncap * sizeof(*c2));
    if (c2 == NULL)
      return false;
    w->cases = c2;
    w->cap = ncap;
  }
  w->cases[w->n++] = c;
  return true;
}

static void rows_free(wl_rows *w) {
  for (size_t i = 0; i < w->n_replies; i++)
    protobuf_c_message_free_unpacked(w->replies[i], NULL);
  free(w->replies);
  free(w->cases);
}

static mc_code too_many(wl_rows *w, mc_err *err) {
  w->too_many = true;
  return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                    _("ledger: more than %d cases in the period; narrow from/to or community"),
                    ledger_max_rows());
}

/* A unit's site: its Desk's ListCases, page by page. The Desk lists the
 * cases its unit holds, whole (the unit reads them unmasked on its desk
 * too); the period is applied here since the Desk has no date filter. */
static mc_code ledger_unit(wl_job *j, wl_rows *w, mc_err *err) {
  wg_gateway *g = j->r->g;
  rpc_call_opts copts = {.timeout_ms = g->conf.call_timeout_ms};
  Mediation__V1__DeskListRequest req = MEDIATION__V1__DESK_LIST_REQUEST__INIT;
  req.community = (char *)(j->com ? j->com->id : "");
  char cursor[512] = "";
  do {
    req.cursor = cursor;
    ProtobufCMessage *page = NULL;
    mc_code rc = ledger_stopping(g, err);
    if (rc == MC_OK)
      rc = rpc_client_call(g->client, &mediation__v1__desk__descriptor, "ListCases", &req.base,
                           &copts, &page, err);
    if (rc != MC_OK)
      return rc;
    if (!rows_keep(w, page)) {
      protobuf_c_message_free_unpacked(page, NULL);
      return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
    }
    const Mediation__V1__DeskListReply *lr = (const Mediation__V1__DeskListReply *)page;
    for (size_t i = 0; i < lr->n_cases; i++) {
      mv_case *c = lr->cases[i]->case_record;
      if (c == NULL || (j->from_ms && c->created_ms < j->from_ms) ||
          (j->to_ms && c->created_ms >= j->to_ms))
        continue;
      if (w->n >= (size_t)ledger_max_rows())
        return too_many(w, err);
      if (!rows_add(w, c))
        return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
    }
    snprintf(cursor, sizeof(cursor), "%s", lr->next_cursor);
  } while (cursor[0] != '\0');
  return MC_OK;
}

/* The coordinators' site: the router's ListCases over the period, then
 * GetCase for each as the logged-in person, as `mediactl document ledger`
 * reads it: every row is what GetCase gives this reader (masked). */
static mc_code ledger_router(wl_job *j, wl_rows *w, mc_err *err) {
  wg_gateway *g = j->r->g;
  rpc_call_opts copts = {.timeout_ms = g->conf.call_timeout_ms};
  Mediation__V1__ListCasesRequest req = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  req.created_from_ms = j->from_ms;
  req.created_to_ms = j->to_ms;
  req.community = (char *)(j->com ? j->com->id : "");
  req.holder = "";
  char cursor[512] = "";
  mc_code rc = MC_OK;
  do {
    req.cursor = cursor;
    ProtobufCMessage *page = NULL;
    if ((rc = ledger_stopping(g, err)) != MC_OK ||
        (rc = rpc_client_call(g->client, &mediation__v1__router__descriptor, "ListCases",
                              &req.base, &copts, &page, err)) != MC_OK)
      return rc;
    const Mediation__V1__ListCasesReply *lr = (const Mediation__V1__ListCasesReply *)page;
    for (size_t i = 0; i < lr->n_cases && rc == MC_OK; i++) {
      if (w->n >= (size_t)ledger_max_rows()) {
        rc = too_many(w, err);
        break;
      }
      if ((rc = ledger_stopping(g, err)) != MC_OK)
        break;
      Mediation__V1__GetCaseRequest greq = MEDIATION__V1__GET_CASE_REQUEST__INIT;
      greq.case_ref = lr->cases[i]->id;
      greq.person = j->r->session.person;
      ProtobufCMessage *one = NULL;
      if ((rc = rpc_client_call(g->client, &mediation__v1__router__descriptor, "GetCase",
                                &greq.base, &copts, &one, err)) != MC_OK)
        break;
      mv_case *c = ((Mediation__V1__GetCaseReply *)one)->case_record;
      if (!rows_keep(w, one)) {
        protobuf_c_message_free_unpacked(one, NULL);
        rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
      } else if (c != NULL && !rows_add(w, c)) {
        rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
      }
    }
    snprintf(cursor, sizeof(cursor), "%s", lr->next_cursor);
    protobuf_c_message_free_unpacked(page, NULL);
  } while (rc == MC_OK && cursor[0] != '\0');
  return rc;
}

/* The worker: reads with the sync client (this is not an nng thread),
 * renders, answers, frees the job. */
/* The ledger's rows and the request that asked for them. */
typedef struct ledger_doc {
  wl_job *j;
  wl_rows *w;
} ledger_doc;

static mc_code render_ledger(void *args, const char *path, mc_err *err) {
  ledger_doc *d = args;
  const mc_registry *reg = d->j->r->g->reg;
  char title[512];
  snprintf(title, sizeof(title), "%s%s矛盾纠纷排查化解台账（%s 至 %s）",
           reg->subdistrict ? reg->subdistrict : "", d->j->com ? d->j->com->name : "",
           d->j->from[0] ? d->j->from : "开始", d->j->to[0] ? d->j->to : "今");
  return doc_ledger(reg, d->w->cases, d->w->n, title, path, err);
}

static void ledger_run(wg_job *job) {
  wl_job *j = (wl_job *)job;
  wg_req *r = j->r;
  wg_gateway *g = r->g;
  wl_rows w = {0};
  mc_err err;
  mc_code rc = g->conf.kind == WG_UNIT ? ledger_unit(j, &w, &err) : ledger_router(j, &w, &err);
  char *body = NULL;
  size_t len = 0;
  if (rc == MC_OK) {
    ledger_doc args = {.j = j, .w = &w};
    rc = render_bytes(render_ledger, &args, &body, &len, &err);
  }
  bool too_many_rows = w.too_many;
  rows_free(&w);
  if (too_many_rows) {
    wg_reply_error_status(r, 413, rc, err.msg, NULL, NULL);
  } else if (rc != MC_OK) {
    wg_reply_error(r, rc, err.msg);
  } else {
    /* An ASCII name for every browser, the Chinese one (台账) for those
     * that read RFC 6266's filename*. */
    char span[32];
    snprintf(span, sizeof(span), "%s_%s", j->from[0] ? j->from : "start",
             j->to[0] ? j->to : "now");
    char disp[256];
    snprintf(disp, sizeof(disp),
             "attachment; filename=\"ledger-%s.xlsx\"; "
             "filename*=UTF-8''%%E5%%8F%%B0%%E8%%B4%%A6-%s.xlsx",
             span, span);
    wg_reply(r, 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body,
             len, "Content-Disposition", disp);
  }
  free(body);
  free(j);
}

/* "YYYY-MM-DD", a real calendar day; *ms its local midnight. */
static bool parse_day(const wg_gateway *g, const char *s, int64_t *ms) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
    return false;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return false;
  mc_date d = {.year = atoi(s), .month = atoi(s + 5), .day = atoi(s + 8)};
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d.year < 1970 || d.month < 1 || d.month > 12 || d.day < 1 || d.day > mdays[d.month - 1])
    return false;
  bool leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
  if (d.month == 2 && d.day == 29 && !leap)
    return false;
  *ms = mc_date_to_ms(d, g->reg->utc_offset_minutes);
  return true;
}

/* True if key appears in the query at all (with any value). */
static bool query_has(const char *query, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = query; p != NULL && *p != '\0';) {
    if (strncmp(p, key, klen) == 0 && (p[klen] == '=' || p[klen] == '&' || p[klen] == '\0'))
      return true;
    p = strchr(p, '&');
    if (p != NULL)
      p++;
  }
  return false;
}

static void ledger_start(wg_req *r) {
  wl_job *j = calloc(1, sizeof(*j));
  if (j == NULL) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  j->r = r;
  const char *bad = NULL;
  char com[128];
  if (query_has(r->query, "from") &&
      (!query_value(r->query, "from", j->from, sizeof(j->from)) ||
       !parse_day(r->g, j->from, &j->from_ms)))
    bad = N_("documents: from: expected a date, YYYY-MM-DD");
  else if (query_has(r->query, "to") &&
           (!query_value(r->query, "to", j->to, sizeof(j->to)) ||
            !parse_day(r->g, j->to, &j->to_ms)))
    bad = N_("documents: to: expected a date, YYYY-MM-DD");
  else if (j->to_ms != 0 && (j->to_ms += 86400000) <= j->from_ms) /* to: the last day listed */
    bad = N_("documents: to: before from");
  else if (query_has(r->query, "community") &&
           (!query_value(r->query, "community", com, sizeof(com)) ||
            (j->com = mc_registry_community(r->g->reg, com)) == NULL))
    bad = N_("documents: community: no community of that id in the configuration");
  if (bad != NULL) {
    free(j);
    wg_reply_error(r, MC_INVALID_ARGUMENT, bad);
    return;
  }
  j->job.r = r;
  j->job.run = ledger_run;
  wg_workers_submit(r->g->docs, &j->job);
}

/* ---- the annual report (年度报告) as a PDF download ---- */

typedef struct wr_job {
  wg_job job; /* first: the pool's handle */
  wg_req *r;
  int32_t year;
  bool pdf; /* the PDF download; false: the text as JSON */
} wr_job;

/* Percent-encodes the UTF-8 text s for RFC 5987's filename* (attr-char
 * kept, every other byte %XX). */
static void pct_encode(const char *s, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && n + 4 < cap; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        strchr("!#$&+-.^_`|~", *p) != NULL) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  out[n] = '\0';
}

/* The replies of the report, as `mediactl document report` asks them: the
 * whole year, by community, kind and month (n = 3; the text needs the
 * first two, n = 2, as `mediactl report`). GetFigures carries
 * counters only (no person to stamp, nothing in the access log): the
 * session was checked, the call is the site's, as Router/GetFigures is.
 * by[] is the caller's to free (those not NULL), also on failure. */
static mc_code report_figures(wg_gateway *g, int32_t year, int n,
                              Mediation__V1__GetFiguresReply *by[3], mc_err *err) {
  static const Mediation__V1__FigureGrouping groups[3] = {
      MV_GROUPING(COMMUNITY), MV_GROUPING(KIND), MV_GROUPING(MONTH)};
  rpc_call_opts copts = {.timeout_ms = g->conf.call_timeout_ms};
  Mediation__V1__GetFiguresRequest req = MEDIATION__V1__GET_FIGURES_REQUEST__INIT;
  req.year = year;
  req.from_month = 1;
  req.to_month = 12;
  for (int i = 0; i < n; i++) {
    req.group_by = groups[i];
    ProtobufCMessage *reply = NULL;
    mc_code rc = rpc_client_call(g->client, &mediation__v1__router__descriptor, "GetFigures",
                                 &req.base, &copts, &reply, err);
    if (rc != MC_OK)
      return rc;
    by[i] = (Mediation__V1__GetFiguresReply *)reply;
  }
  return MC_OK;
}

/* The worker: reads with the sync client (this is not an nng thread),
 * renders, answers, frees the job. */
static void report_json(wr_job *j, Mediation__V1__GetFiguresReply *by[3]);

typedef struct report_doc {
  const mc_registry *reg;
  const doc_figures *f;
} report_doc;

static mc_code render_report(void *args, const char *path, mc_err *err) {
  report_doc *d = args;
  return doc_report_pdf_of(d->reg, d->f, path, err);
}

static void report_run(wg_job *job) {
  wr_job *j = (wr_job *)job;
  wg_req *r = j->r;
  wg_gateway *g = r->g;
  Mediation__V1__GetFiguresReply *by[3] = {NULL, NULL, NULL};
  mc_err err;
  mc_code rc = report_figures(g, j->year, j->pdf ? 3 : 2, by, &err);
  if (rc == MC_OK && !j->pdf) {
    report_json(j, by);
    return;
  }
  char *body = NULL;
  size_t len = 0;
  if (rc == MC_OK) {
    doc_figures f = {.year = j->year, .from_month = 1, .to_month = 12,
                     .by_community = by[0], .by_kind = by[1], .by_month = by[2]};
    report_doc args = {.reg = g->reg, .f = &f};
    rc = render_bytes(render_report, &args, &body, &len, &err);
  }
  for (int i = 0; i < 3; i++)
    if (by[i] != NULL)
      protobuf_c_message_free_unpacked(&by[i]->base, NULL);
  if (rc != MC_OK) {
    wg_reply_error(r, rc, err.msg);
  } else {
    /* An ASCII name for every browser, the Chinese one (2026年度报告.pdf)
     * for those that read RFC 6266's filename*. */
    char name[64], encoded[192], disp[320];
    snprintf(name, sizeof(name), "%d年度报告.pdf", (int)j->year);
    pct_encode(name, encoded, sizeof(encoded));
    snprintf(disp, sizeof(disp),
             "attachment; filename=\"report-%d.pdf\"; filename*=UTF-8''%s", (int)j->year,
             encoded);
    wg_reply(r, 200, "application/pdf", body, len, "Content-Disposition", disp);
  }
  free(body);
  free(j);
}

/* "year=YYYY" (four digits, 1000-9999, as mediactl's --year): required. */
static bool parse_year(const char *query, int32_t *year) {
  char v[8];
  if (!query_value(query, "year", v, sizeof(v)) || strlen(v) != 4)
    return false;
  for (int i = 0; i < 4; i++)
    if (v[i] < '0' || v[i] > '9')
      return false;
  *year = (int32_t)atoi(v);
  return *year >= 1000;
}

static void report_begin(wg_req *r, bool pdf);

static void report_start(wg_req *r) {
  report_begin(r, true);
}

void wg_report_text(wg_req *r) {
  report_begin(r, false);
}

static void report_begin(wg_req *r, bool pdf) {
  int32_t year = 0;
  if (!parse_year(r->query, &year)) {
    wg_reply_error(r, MC_INVALID_ARGUMENT,
                   pdf ? N_("documents: year: expected ?year=YYYY, a year such as 2026")
                       : N_("report: year: expected ?year=YYYY, a year such as 2026"));
    return;
  }
  wr_job *j = calloc(1, sizeof(*j));
  if (j == NULL) {
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
    return;
  }
  j->r = r;
  j->year = year;
  j->pdf = pdf;
  j->job.r = r;
  j->job.run = report_run;
  wg_workers_submit(r->g->docs, &j->job);
}

static json_object *cells_json(const char *name, const doc_scorecard *card) {
  char cells[DOC_SCORE_COLS][DOC_CELL_MAX];
  doc_scorecard_cells(name, card, cells);
  json_object *a = json_object_new_array();
  for (int k = 0; a != NULL && k < DOC_SCORE_COLS; k++)
    json_object_array_add(a, json_object_new_string(cells[k]));
  return a;
}

/* The report's text as JSON, answered from the worker; frees by[] and j.
 * {"year", "title", "sentences": [...], "headers": [...], "scorecard":
 * [{"community", "name", "cases", "mediated", "cells": [...]}], "total":
 * {"cells": [...]}}: the words and cells `mediactl report` prints. */
static void report_json(wr_job *j, Mediation__V1__GetFiguresReply *by[3]) {
  wg_req *r = j->r;
  doc_figures f = {.year = j->year, .from_month = 1, .to_month = 12,
                   .by_community = by[0], .by_kind = by[1]};
  doc_report_text t;
  mc_err err;
  mc_code rc = doc_report_text_make(r->g->reg, &f, &t, &err);
  json_object *o = NULL;
  if (rc == MC_OK && (o = json_object_new_object()) != NULL) {
    json_object *lines = json_object_new_array(), *headers = json_object_new_array(),
                *rows = json_object_new_array(), *total = json_object_new_object();
    for (int i = 1; lines != NULL && i < t.n_sentences; i++)
      json_object_array_add(lines, json_object_new_string(t.sentences[i]));
    for (int k = 0; headers != NULL && k < DOC_SCORE_COLS; k++)
      json_object_array_add(headers, json_object_new_string(doc_score_headers[k]));
    for (size_t i = 0; rows != NULL && i < t.n_rows; i++) {
      json_object *row = json_object_new_object();
      if (row == NULL)
        continue;
      json_object_object_add(row, "community", json_object_new_string(t.rows[i].id));
      json_object_object_add(row, "name", json_object_new_string(t.rows[i].name));
      json_object_object_add(row, "cases", json_object_new_int64(t.rows[i].card.cases));
      json_object_object_add(row, "mediated", json_object_new_int64(t.rows[i].card.mediated));
      json_object_object_add(row, "cells", cells_json(t.rows[i].name, &t.rows[i].card));
      json_object_array_add(rows, row);
    }
    if (total != NULL)
      json_object_object_add(total, "cells", cells_json("合计", &t.total_card));
    json_object_object_add(o, "year", json_object_new_int(j->year));
    json_object_object_add(o, "title", json_object_new_string(t.sentences[0]));
    json_object_object_add(o, "sentences", lines);
    json_object_object_add(o, "headers", headers);
    json_object_object_add(o, "scorecard", rows);
    json_object_object_add(o, "total", total);
  }
  if (rc == MC_OK)
    doc_report_text_free(&t);
  for (int i = 0; i < 3; i++)
    if (by[i] != NULL)
      protobuf_c_message_free_unpacked(&by[i]->base, NULL);
  if (rc != MC_OK)
    wg_reply_error(r, rc, err.msg);
  else if (o == NULL)
    wg_reply_error(r, MC_RESOURCE_EXHAUSTED, N_("out of memory"));
  else
    wg_reply_json(r, 200, o, NULL, NULL);
  free(j);
}
