/*
 * cmd_admin.c - keeping the system healthy: `backup` and `verify` the
 * router's store and read its `access-log` (RouterAdmin, coordinators
 * only), `health` and `methods`
 * (Health and Reflection, which every server offers) of the router or, with
 * --unit, of a unit's service.
 *
 * For scripts and monitoring, the exit code carries the verdict: health
 * exits 4 when the server answers but is not serving, verify exits 1 when it
 * found problems in the store.
 *
 * Anchors (docs/architecture.md, "Sealed case files"): `backup` prints the
 * anchor the router made with the copy; keep it (or <backup_dir>/anchors)
 * somewhere the router cannot write. `verify --anchor FILE` hands the last
 * anchor line of FILE to the router, which checks that no case file changed
 * in what it was at that anchor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "services/coordinator/ctl.h"

#define CTL_ANCHOR_MAX 512 /* storage's ST_ANCHOR_MAX: an anchor line, NUL included */

typedef struct backup_state {
  bool scheduled;
  Mediation__V1__BackupRequest req;
} backup_state;

static const struct option backup_options[] = {
    {"scheduled", no_argument, NULL, 's'},
    {NULL, 0, NULL, 0},
};

static int backup_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  (void)value;
  if (c != 's')
    return ctl_usage_error(ctx, _("unexpected option"));
  ((backup_state *)st)->scheduled = true;
  return CTL_EXIT_OK;
}

static int backup_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  backup_state *s = st;
  mediation__v1__backup_request__init(&s->req);
  s->req.scheduled = s->scheduled;
  *req = (ctl_request){&mediation__v1__router_admin__descriptor, "Backup", &s->req.base};
  return CTL_EXIT_OK;
}

static int backup_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)ctx;
  (void)st;
  const Mediation__V1__BackupReply *b = (const Mediation__V1__BackupReply *)reply;
  char size[64], took[64];
  snprintf(size, sizeof(size), "%lld 字节", (long long)b->bytes);
  snprintf(took, sizeof(took), "%lld 毫秒", (long long)b->took_ms);
  ctl_kv rows[] = {{"备份目录", b->path}, {"大小", size}, {"用时", took}};
  ctl_kv_print(rows, 3, stdout);
  for (size_t i = 0; i < b->n_removed; i++)
    printf("已删除旧备份  %s\n", b->removed[i]);
  if (b->anchor[0] != '\0')
    printf("存证锚点（请另行保存，verify --anchor 用）\n%s\n", b->anchor);
  puts("备份含个人信息，请与存储同等妥善保管。");
  return CTL_EXIT_OK;
}

const ctl_ops ctl_backup_ops = {
    .state_size = sizeof(backup_state),
    .options = backup_options,
    .option = backup_option,
    .build = backup_build,
    .render = backup_render,
};

/* The last anchor line of a file (an anchors log holds one per day) into
 * out. CTL_EXIT_OK, or a failure that says what is wrong with the file. */
static int read_anchor(const char *path, char out[CTL_ANCHOR_MAX]) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return ctl_fail(CTL_EXIT_FAILED, _("--anchor %s: %s"), path, strerror(errno));
  char line[4096];
  out[0] = '\0';
  while (fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "mediation-anchor/", 17) == 0 && strlen(line) < CTL_ANCHOR_MAX)
      memcpy(out, line, strlen(line) + 1);
  }
  bool bad = ferror(f) != 0;
  fclose(f);
  if (bad)
    return ctl_fail(CTL_EXIT_FAILED, _("--anchor %s: read error"), path);
  if (out[0] == '\0')
    return ctl_fail(CTL_EXIT_FAILED, _("--anchor %s: no line starting with mediation-anchor/"),
                    path);
  return CTL_EXIT_OK;
}

enum { O_ANCHOR = 2000 };

typedef struct verify_state {
  long max_problems; /* 0: the router's default */
  const char *anchor_file;
  char anchor[CTL_ANCHOR_MAX];
  Mediation__V1__VerifyRequest req;
} verify_state;

static const struct option verify_options[] = {
    {"max-problems", required_argument, NULL, 'm'},
    {"anchor", required_argument, NULL, O_ANCHOR},
    {NULL, 0, NULL, 0},
};

static int verify_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  verify_state *s = st;
  switch (c) {
  case 'm':
    if (ctl_parse_long(value, 1, 100000, &s->max_problems) != 0)
      return ctl_usage_error(ctx, _("--max-problems: expected a number, 1 or more"));
    return CTL_EXIT_OK;
  case O_ANCHOR: s->anchor_file = value; return CTL_EXIT_OK;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
}

static int verify_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  verify_state *s = st;
  int rc;
  if (s->anchor_file != NULL && (rc = read_anchor(s->anchor_file, s->anchor)) != CTL_EXIT_OK)
    return rc;
  mediation__v1__verify_request__init(&s->req);
  s->req.max_problems = (uint32_t)s->max_problems;
  s->req.anchor = s->anchor;
  *req = (ctl_request){&mediation__v1__router_admin__descriptor, "Verify", &s->req.base};
  return CTL_EXIT_OK;
}

static int verify_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)ctx;
  const verify_state *s = st;
  const Mediation__V1__VerifyReply *r = (const Mediation__V1__VerifyReply *)reply;
  if (r->problems == 0) {
    printf("存储完好：未发现问题（用时 %lld 毫秒）\n", (long long)r->took_ms);
    if (s->anchor[0] != '\0')
      puts("存证锚点核对一致：锚点之前的案卷均未改动。");
    if (!r->signatures_checked)
      puts("注意：路由未配置签名公钥（[router] public_key），未核对案卷签名。");
    return CTL_EXIT_OK;
  }
  printf("发现 %llu 个问题（用时 %lld 毫秒）\n\n", (unsigned long long)r->problems,
         (long long)r->took_ms);
  static const char *const headers[] = {"案件", "步", "状态码", "说明"};
  ctl_table *t = ctl_table_new(4, headers, "lrll");
  for (size_t i = 0; i < r->n_details; i++) {
    const Mediation__V1__VerifyProblem *p = r->details[i];
    char seq[16];
    snprintf(seq, sizeof(seq), "%u", p->seq);
    const char *cells[] = {p->case_id[0] ? p->case_id : "—", p->seq ? seq : "",
                           mc_code_name((mc_code)p->code), p->message};
    ctl_table_add(t, cells);
  }
  ctl_table_print(t, stdout);
  ctl_table_free(t);
  return CTL_EXIT_OK;
}

/* Exit 1 when the store has problems, --json or not: scripts check it. */
static int verify_verdict(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)ctx;
  (void)st;
  const Mediation__V1__VerifyReply *r = (const Mediation__V1__VerifyReply *)reply;
  if (r->problems != 0)
    return ctl_fail(CTL_EXIT_FAILED, _("verify found %llu problems in the store"),
                    (unsigned long long)r->problems);
  return CTL_EXIT_OK;
}

const ctl_ops ctl_verify_ops = {
    .state_size = sizeof(verify_state),
    .options = verify_options,
    .option = verify_option,
    .build = verify_build,
    .render = verify_render,
    .verdict = verify_verdict,
};

/* Long options only: their values must not meet the global short ones
 * (-c is --config). */
enum { O_CASE = 2001, O_WHO, O_FROM, O_TO, O_LIMIT };

typedef struct access_state {
  const char *from, *to, *who, *case_text;
  Mediation__V1__ListAccessRequest req;
} access_state;

static const struct option access_options[] = {
    {"case", required_argument, NULL, O_CASE}, {"who", required_argument, NULL, O_WHO},
    {"from", required_argument, NULL, O_FROM}, {"to", required_argument, NULL, O_TO},
    {"limit", required_argument, NULL, O_LIMIT}, {NULL, 0, NULL, 0},
};

static void access_init(ctl_ctx *ctx, void *st) {
  (void)ctx;
  mediation__v1__list_access_request__init(&((access_state *)st)->req);
}

static int access_option(ctl_ctx *ctx, void *st, int c, const char *value) {
  access_state *s = st;
  long v;
  switch (c) {
  case O_CASE: s->case_text = value; break;
  case O_WHO: s->who = value; break;
  case O_FROM: s->from = value; break;
  case O_TO: s->to = value; break;
  case O_LIMIT:
    if (ctl_parse_long(value, 1, 100000, &v) != 0)
      return ctl_usage_error(ctx, _("--limit: expected a number of records, 1 or more"));
    s->req.limit = (uint32_t)v;
    break;
  default: return ctl_usage_error(ctx, _("unexpected option"));
  }
  return CTL_EXIT_OK;
}

static int access_build(ctl_ctx *ctx, void *st, ctl_request *out) {
  access_state *s = st;
  Mediation__V1__ListAccessRequest *req = &s->req;
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  mc_date d;
  if (s->from != NULL) {
    if (ctl_parse_date(ctx, s->from, &d) != 0)
      return ctl_usage_error(ctx, _("--from: expected a date, YYYY-MM-DD"));
    req->from_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes);
  }
  if (s->to != NULL) {
    if (ctl_parse_date(ctx, s->to, &d) != 0)
      return ctl_usage_error(ctx, _("--to: expected a date, YYYY-MM-DD"));
    req->to_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes) + 86400000; /* inclusive day */
  }
  if (s->case_text != NULL &&
      (rc = ctl_case_arg(ctx, s->case_text, "--case", true, (const char **)&req->case_id)) !=
          CTL_EXIT_OK)
    return rc;
  if (s->who != NULL) {
    /* A unit by id, name or alias, else any principal id (a coordinator). */
    const mc_unit *u = mc_registry_find_unit(ctx->reg, s->who);
    if (u == NULL && mc_registry_principal(ctx->reg, s->who) == NULL)
      return ctl_usage_error(ctx, _("--who: no unit or coordinator of that name in the configuration"));
    req->who = u ? u->id : (char *)s->who;
  }
  *out = (ctl_request){&mediation__v1__router_admin__descriptor, "ListAccess", &req->base};
  return CTL_EXIT_OK;
}

static int access_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__ListAccessReply *r = (const Mediation__V1__ListAccessReply *)reply;
  static const char *const headers[] = {"时间", "查阅者", "案件", "查阅内容"};
  ctl_table *t = ctl_table_new(4, headers, "llll");
  for (size_t i = 0; i < r->n_records; i++) {
    const Mediation__V1__AccessRecord *a = r->records[i];
    char when[CTL_FMT_MAX], by[256];
    ctl_fmt_time(ctx, a->at_ms, when);
    if (a->who != NULL)
      ctl_actor_label(ctx, a->who, by, sizeof(by));
    else
      snprintf(by, sizeof(by), "—");
    /* A search names the cases it showed, not one case (never its text). */
    char found[CTL_FMT_MAX + 600];
    bool search = strcmp(a->method, "Search") == 0;
    if (search) {
      size_t o = (size_t)snprintf(found, sizeof(found), "搜索，显示%u件", a->hits);
      for (size_t k = 0; k < a->n_case_ids && k < 3 && o < sizeof(found); k++)
        o += (size_t)snprintf(found + o, sizeof(found) - o, "%s%s", k ? "、" : "：",
                              a->case_ids[k]);
      if (a->n_case_ids > 3 && o < sizeof(found))
        snprintf(found + o, sizeof(found) - o, "…");
    }
    const char *cells[] = {when, by, search ? "—" : a->case_id,
                           search ? found : a->timeline ? "案卷全部" : "案件概况"};
    ctl_table_add(t, cells);
  }
  ctl_table_print(t, stdout);
  ctl_table_free(t);
  if (r->truncated && r->n_records > 0)
    fprintf(stderr, "mediactl: %s\n",
            _("more records follow: repeat with --limit larger, or --from a later day"));
  return CTL_EXIT_OK;
}

const ctl_ops ctl_access_log_ops = {
    .state_size = sizeof(access_state),
    .options = access_options,
    .init = access_init,
    .option = access_option,
    .build = access_build,
    .render = access_render,
};

static const char *serving_label(Mediation__V1__ServingStatus s) {
  switch (s) {
  case MV_SERVING(SERVING): return "SERVING（服务中）";
  case MV_SERVING(NOT_SERVING): return "NOT_SERVING（未就绪）";
  case MV_SERVING(SERVICE_UNKNOWN): return "SERVICE_UNKNOWN（无此服务）";
  default: return "UNSPECIFIED";
  }
}

static int health_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  Mediation__V1__HealthCheckRequest *m = st;
  mediation__v1__health_check_request__init(m);
  *req = (ctl_request){&mediation__v1__health__descriptor, "Check", &m->base};
  return CTL_EXIT_OK;
}

static int health_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__HealthCheckReply *h = (const Mediation__V1__HealthCheckReply *)reply;
  char program[200], started[CTL_FMT_MAX];
  snprintf(program, sizeof(program), "%s %s", h->server, h->version);
  ctl_fmt_time(ctx, h->started_ms, started);
  ctl_kv rows[8];
  size_t n = 0;
  rows[n++] = (ctl_kv){"地址", rpc_client_url(ctx->client)};
  rows[n++] = (ctl_kv){"状态", serving_label(h->status)};
  rows[n++] = (ctl_kv){"程序", program};
  rows[n++] = (ctl_kv){"启动于", started};
  if (h->detail[0])
    rows[n++] = (ctl_kv){"说明", h->detail};
  /* Each TLS certificate's end, so it is renewed in time. */
  char certs[2][CTL_FMT_MAX + 400];
  for (size_t i = 0; i < h->n_certificates && i < 2; i++) {
    char until[CTL_FMT_MAX];
    ctl_fmt_time(ctx, h->certificates[i]->not_after_ms, until);
    snprintf(certs[i], sizeof(certs[i]), "%.200s（%.150s）有效至 %s", h->certificates[i]->file,
             h->certificates[i]->names, until);
    rows[n++] = (ctl_kv){"证书", certs[i]};
  }
  ctl_kv_print(rows, n, stdout);
  return CTL_EXIT_OK;
}

/* Exit 4 when the server answers but is not serving, --json or not. */
static int health_verdict(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)st;
  const Mediation__V1__HealthCheckReply *h = (const Mediation__V1__HealthCheckReply *)reply;
  if (h->status != MV_SERVING(SERVING))
    return ctl_fail(CTL_EXIT_UNREACHABLE, _("%s is not serving%s%s"), rpc_client_url(ctx->client),
                    h->detail[0] ? ": " : "", h->detail);
  return CTL_EXIT_OK;
}

const ctl_ops ctl_health_ops = {
    .state_size = sizeof(Mediation__V1__HealthCheckRequest),
    .build = health_build,
    .render = health_render,
    .verdict = health_verdict,
};

static int methods_build(ctl_ctx *ctx, void *st, ctl_request *req) {
  (void)ctx;
  Mediation__V1__ListServicesRequest *m = st;
  mediation__v1__list_services_request__init(m);
  *req = (ctl_request){&mediation__v1__reflection__descriptor, "ListServices", &m->base};
  return CTL_EXIT_OK;
}

static int methods_render(ctl_ctx *ctx, void *st, const ProtobufCMessage *reply) {
  (void)ctx;
  (void)st;
  const Mediation__V1__ListServicesReply *l = (const Mediation__V1__ListServicesReply *)reply;
  static const char *const headers[] = {"服务", "方法", "请求", "回复"};
  ctl_table *t = ctl_table_new(4, headers, "llll");
  for (size_t i = 0; i < l->n_services; i++) {
    for (size_t k = 0; k < l->services[i]->n_methods; k++) {
      const Mediation__V1__MethodInfo *m = l->services[i]->methods[k];
      const char *cells[] = {k == 0 ? l->services[i]->name : "", m->name, m->input_type,
                             m->output_type};
      ctl_table_add(t, cells);
    }
  }
  int rc = CTL_EXIT_OK;
  if (ctl_table_print(t, stdout) != 0)
    rc = ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
  ctl_table_free(t);
  return rc;
}

const ctl_ops ctl_methods_ops = {
    .state_size = sizeof(Mediation__V1__ListServicesRequest),
    .build = methods_build,
    .render = methods_render,
};
