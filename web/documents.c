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
 * RPC's done callback (an nng thread): the callback hands the reply to a
 * detached thread, which renders into a temporary file, reads it back,
 * answers the request and removes the file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "documents/documents.h"
#include "web/gateway.h"

#define DOC_MAX_BYTES (64u << 20) /* a case file of the longest case is far below */

typedef enum wd_kind { WD_AGREEMENT, WD_CASE_FILE } wd_kind;

typedef struct wd_job {
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
    return mc_err_set(err, MC_INTERNAL, "the rendered document cannot be read back");
  struct stat st;
  char *buf = NULL;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= DOC_MAX_BYTES)
    buf = malloc((size_t)st.st_size);
  size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
  fclose(f);
  if (buf == NULL || got != (size_t)st.st_size) {
    free(buf);
    return mc_err_set(err, MC_INTERNAL, "the rendered document cannot be read back");
  }
  *out = buf;
  *len = got;
  return MC_OK;
}

static void *render(void *arg) {
  wd_job *j = arg;
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
  mc_code rc = MC_OK;
  char path[] = "/tmp/mediation-web-doc-XXXXXX";
  int fd = c != NULL ? mkstemp(path) : -1;
  if (c == NULL)
    rc = mc_err_set(&err, MC_INTERNAL, "the reply carries no case");
  else if (fd < 0)
    rc = mc_err_set(&err, MC_INTERNAL, "no temporary file for the document");
  else
    close(fd);
  if (rc == MC_OK)
    rc = j->kind == WD_AGREEMENT
             ? doc_agreement(g->reg, c, masked, false, path, &err)
             : doc_case_file(g->reg, c, events, n, r->session.person, path, &err);
  char *body = NULL;
  size_t len = 0;
  if (rc == MC_OK)
    rc = read_file(path, &body, &len, &err);
  if (fd >= 0)
    unlink(path);
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
  return NULL;
}

static void read_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  wd_job *j = arg;
  if (code != MC_OK) {
    wg_reply_error(j->r, code, message);
    free(j);
    return;
  }
  j->reply = reply;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, render, j) != 0) {
    wg_reply_error(j->r, MC_RESOURCE_EXHAUSTED, N_("no thread to render the document"));
    protobuf_c_message_free_unpacked(reply, NULL);
    free(j);
  }
  pthread_attr_destroy(&attr);
}

void wg_documents(wg_req *r, const char *kind) {
  wd_kind k;
  if (strcmp(kind, "agreement") == 0)
    k = WD_AGREEMENT;
  else if (strcmp(kind, "case-file") == 0)
    k = WD_CASE_FILE;
  else {
    wg_reply_error(r, MC_NOT_FOUND, N_("documents: agreement or case-file"));
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
