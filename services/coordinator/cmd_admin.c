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

#include "services/coordinator/ctl.h"

#define CTL_ANCHOR_MAX 512 /* storage's ST_ANCHOR_MAX: an anchor line, NUL included */

/* A command without options of its own and without arguments. */
static int plain(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {{NULL, 0, NULL, 0}};
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1)
    return c == CTL_OPT_HELP ? CTL_OPT_HELP : CTL_EXIT_USAGE;
  return ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
}

int ctl_cmd_backup(ctl_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"scheduled", no_argument, NULL, 's'},
      {NULL, 0, NULL, 0},
  };
  Mediation__V1__BackupRequest req = MEDIATION__V1__BACKUP_REQUEST__INIT;
  int c;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case 's': req.scheduled = true; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK)
    return rc;
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__router_admin__descriptor, "Backup", &req.base, &reply)) !=
      CTL_EXIT_OK)
    return rc;
  const Mediation__V1__BackupReply *b = (const Mediation__V1__BackupReply *)reply;
  if (ctx->json) {
    rc = ctl_json_print_message(reply);
  } else {
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
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

/* The last anchor line of a file (an anchors log holds one per day) into
 * out. CTL_EXIT_OK, or a failure that says what is wrong with the file. */
static int read_anchor(const char *path, char out[CTL_ANCHOR_MAX]) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return ctl_fail(CTL_EXIT_FAILED, "--anchor %s: %s", path, strerror(errno));
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
    return ctl_fail(CTL_EXIT_FAILED, "--anchor %s: read error", path);
  if (out[0] == '\0')
    return ctl_fail(CTL_EXIT_FAILED, "--anchor %s: no line starting with mediation-anchor/",
                    path);
  return CTL_EXIT_OK;
}

int ctl_cmd_verify(ctl_ctx *ctx, int argc, char **argv) {
  enum { O_ANCHOR = 2000 };
  static const struct option opts[] = {
      {"max-problems", required_argument, NULL, 'm'},
      {"anchor", required_argument, NULL, O_ANCHOR},
      {NULL, 0, NULL, 0},
  };
  char anchor[CTL_ANCHOR_MAX] = "";
  const char *anchor_file = NULL;
  Mediation__V1__VerifyRequest req = MEDIATION__V1__VERIFY_REQUEST__INIT;
  int c;
  long v;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case 'm':
      if (ctl_parse_long(optarg, 1, 100000, &v) != 0)
        return ctl_usage_error(ctx, "--max-problems: expected a number, 1 or more");
      req.max_problems = (uint32_t)v;
      break;
    case O_ANCHOR: anchor_file = optarg; break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK)
    return rc;
  if (anchor_file != NULL && (rc = read_anchor(anchor_file, anchor)) != CTL_EXIT_OK)
    return rc;
  req.anchor = anchor;
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__router_admin__descriptor, "Verify", &req.base, &reply)) !=
      CTL_EXIT_OK)
    return rc;
  const Mediation__V1__VerifyReply *r = (const Mediation__V1__VerifyReply *)reply;
  if (ctx->json) {
    rc = ctl_json_print_message(reply);
  } else if (r->problems == 0) {
    printf("存储完好：未发现问题（用时 %lld 毫秒）\n", (long long)r->took_ms);
    if (anchor[0] != '\0')
      puts("存证锚点核对一致：锚点之前的案卷均未改动。");
    if (!r->signatures_checked)
      puts("注意：路由未配置签名公钥（[router] public_key），未核对案卷签名。");
  } else {
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
  }
  if (rc == CTL_EXIT_OK && r->problems != 0)
    rc = ctl_fail(CTL_EXIT_FAILED, "verify found %llu problems in the store",
                  (unsigned long long)r->problems);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

int ctl_cmd_access_log(ctl_ctx *ctx, int argc, char **argv) {
  /* Long options only: their values must not meet the global short ones
   * (-c is --config). */
  enum { O_CASE = 2000, O_WHO, O_FROM, O_TO, O_LIMIT };
  static const struct option opts[] = {
      {"case", required_argument, NULL, O_CASE}, {"who", required_argument, NULL, O_WHO},
      {"from", required_argument, NULL, O_FROM}, {"to", required_argument, NULL, O_TO},
      {"limit", required_argument, NULL, O_LIMIT}, {NULL, 0, NULL, 0},
  };
  Mediation__V1__ListAccessRequest req = MEDIATION__V1__LIST_ACCESS_REQUEST__INIT;
  const char *from = NULL, *to = NULL, *who = NULL;
  int c;
  long v;
  while ((c = ctl_getopt(ctx, argc, argv, opts)) != -1) {
    switch (c) {
    case CTL_OPT_HELP: return CTL_EXIT_OK;
    case CTL_OPT_ERROR: return CTL_EXIT_USAGE;
    case O_CASE: req.case_id = optarg; break;
    case O_WHO: who = optarg; break;
    case O_FROM: from = optarg; break;
    case O_TO: to = optarg; break;
    case O_LIMIT:
      if (ctl_parse_long(optarg, 1, 100000, &v) != 0)
        return ctl_usage_error(ctx, "--limit: expected a number of records, 1 or more");
      req.limit = (uint32_t)v;
      break;
    default: return ctl_usage_error(ctx, "unexpected option");
    }
  }
  int rc = ctl_positionals(ctx, argc, argv, 0, NULL, "no arguments");
  if (rc != CTL_EXIT_OK || (rc = ctl_load(ctx)) != CTL_EXIT_OK)
    return rc;
  mc_date d;
  if (from != NULL) {
    if (ctl_parse_date(ctx, from, &d) != 0)
      return ctl_usage_error(ctx, "--from: expected a date, YYYY-MM-DD");
    req.from_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes);
  }
  if (to != NULL) {
    if (ctl_parse_date(ctx, to, &d) != 0)
      return ctl_usage_error(ctx, "--to: expected a date, YYYY-MM-DD");
    req.to_ms = mc_date_to_ms(d, ctx->reg->utc_offset_minutes) + 86400000; /* inclusive day */
  }
  if (who != NULL) {
    /* A unit by id or name, else any principal id (a coordinator). */
    const mc_unit *u = mc_registry_find_unit(ctx->reg, who);
    if (u == NULL && mc_registry_principal(ctx->reg, who) == NULL)
      return ctl_usage_error(ctx, "--who: no unit or coordinator of that name in the configuration");
    req.who = u ? u->id : (char *)who;
  }
  if ((rc = ctl_connect(ctx, false)) != CTL_EXIT_OK)
    return rc;
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__router_admin__descriptor, "ListAccess", &req.base,
                     &reply)) != CTL_EXIT_OK)
    return rc;
  const Mediation__V1__ListAccessReply *r = (const Mediation__V1__ListAccessReply *)reply;
  if (ctx->json) {
    rc = ctl_json_print_message(reply);
  } else {
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
      const char *cells[] = {when, by, a->case_id, a->timeline ? "案卷全部" : "案件概况"};
      ctl_table_add(t, cells);
    }
    ctl_table_print(t, stdout);
    ctl_table_free(t);
    if (r->truncated && r->n_records > 0)
      fprintf(stderr, "mediactl: more records follow: repeat with --limit larger, or --from a "
                      "later day\n");
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

static const char *serving_label(Mediation__V1__ServingStatus s) {
  switch (s) {
  case MV_SERVING(SERVING): return "SERVING（服务中）";
  case MV_SERVING(NOT_SERVING): return "NOT_SERVING（未就绪）";
  case MV_SERVING(SERVICE_UNKNOWN): return "SERVICE_UNKNOWN（无此服务）";
  default: return "UNSPECIFIED";
  }
}

int ctl_cmd_health(ctl_ctx *ctx, int argc, char **argv) {
  int rc = plain(ctx, argc, argv);
  if (rc != CTL_EXIT_OK)
    return rc == CTL_OPT_HELP ? CTL_EXIT_OK : rc;
  if ((rc = ctl_connect(ctx, ctx->unit_arg != NULL)) != CTL_EXIT_OK)
    return rc;
  Mediation__V1__HealthCheckRequest req = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__health__descriptor, "Check", &req.base, &reply)) !=
      CTL_EXIT_OK)
    return rc;
  const Mediation__V1__HealthCheckReply *h = (const Mediation__V1__HealthCheckReply *)reply;
  if (ctx->json) {
    rc = ctl_json_print_message(reply);
  } else {
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
  }
  if (rc == CTL_EXIT_OK && h->status != MV_SERVING(SERVING))
    rc = ctl_fail(CTL_EXIT_UNREACHABLE, "%s is not serving%s%s", rpc_client_url(ctx->client),
                  h->detail[0] ? ": " : "", h->detail);
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}

int ctl_cmd_methods(ctl_ctx *ctx, int argc, char **argv) {
  int rc = plain(ctx, argc, argv);
  if (rc != CTL_EXIT_OK)
    return rc == CTL_OPT_HELP ? CTL_EXIT_OK : rc;
  if ((rc = ctl_connect(ctx, ctx->unit_arg != NULL)) != CTL_EXIT_OK)
    return rc;
  Mediation__V1__ListServicesRequest req = MEDIATION__V1__LIST_SERVICES_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  if ((rc = ctl_call(ctx, &mediation__v1__reflection__descriptor, "ListServices", &req.base,
                     &reply)) != CTL_EXIT_OK)
    return rc;
  const Mediation__V1__ListServicesReply *l = (const Mediation__V1__ListServicesReply *)reply;
  if (ctx->json) {
    rc = ctl_json_print_message(reply);
  } else {
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
    if (ctl_table_print(t, stdout) != 0)
      rc = ctl_fail(CTL_EXIT_FAILED, "out of memory");
    ctl_table_free(t);
  }
  protobuf_c_message_free_unpacked(reply, NULL);
  return rc;
}
