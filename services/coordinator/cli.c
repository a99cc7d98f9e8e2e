/*
 * cli.c - mediactl's frame: global options, the help texts, dispatch through
 * the command table (with the one check of a command's target), option
 * parsing for commands, and the one path every call takes to a service
 * (configuration, key, client, status -> exit code).
 *
 * Global options may stand before the command (`mediactl --json list`) or
 * among its options (`mediactl list --json`): ctl_getopt merges them into
 * every command's getopt_long table, so there is one place that knows them.
 * Nothing is loaded before it is needed: `--help` works without a
 * configuration, and a usage error is reported before any connection is made.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "services/coordinator/ctl.h"

enum {
  G_CONFIG = 'c',
  G_HELP = 'h',
  G_UNIT = 1000,
  G_AS,
  G_JSON,
  G_TIMEOUT,
  G_VERSION,
};

static const struct option global_options[] = {
    {"config", required_argument, NULL, G_CONFIG},
    {"unit", required_argument, NULL, G_UNIT},
    {"as", required_argument, NULL, G_AS},
    {"json", no_argument, NULL, G_JSON},
    {"timeout", required_argument, NULL, G_TIMEOUT},
    {"help", no_argument, NULL, G_HELP},
    {NULL, 0, NULL, 0},
};

static const char global_usage[] =
    "Usage: mediactl [global options] <command> [options] [args]\n"
    "\n"
    "The command-line client of the mediation system. Operators work on their\n"
    "unit's cases through their unit's service (--unit); coordinators ask the\n"
    "router where a case is and who holds it, what is stuck, and the year's\n"
    "figures.\n";

static const char global_options_help[] =
    "Global options (before or after the command):\n"
    "  -c, --config PATH      the deployment's mediation.conf (default: $MEDIATION_CONFIG,\n"
    "                         else " CTL_DEFAULT_CONFIG ")\n"
    "      --unit UNIT        act as that unit's operator on its service (a unit id or its\n"
    "                         Chinese name); for stuck and figures, only that unit\n"
    "      --as PRINCIPAL     sign with this principal's key (default: <unit>-operator\n"
    "                         with --unit, else the coordinator)\n"
    "      --json             print the reply as JSON (field names as in proto/, see\n"
    "                         docs/mediactl.md)\n"
    "      --timeout SECONDS  give up after this long (default 10)\n"
    "  -h, --help             this text; `mediactl <command> --help` for one command\n"
    "      --version          the version\n"
    "\n"
    "Exit codes:\n"
    "  0  done\n"
    "  1  failed: configuration, key or local I/O, an internal error of the service,\n"
    "     or verify found problems\n"
    "  2  usage: the command line is wrong (the command's usage is printed)\n"
    "  3  refused by the service: its status and message are printed, e.g.\n"
    "     \"mediactl: refused: FAILED_PRECONDITION: case BH-2026-000007 is in ...\"\n"
    "  4  unreachable: no answer in time (UNAVAILABLE, DEADLINE_EXCEEDED), or the\n"
    "     service reports it is not serving\n"
    "  5  not allowed: an unknown key or bad signature (UNAUTHENTICATED), or this\n"
    "     principal may not do this (PERMISSION_DENIED)\n"
    "  6  partly done: the step was taken (or queued), but a step the unit's policy\n"
    "     added to it was refused: the case is not as planned (see the steps printed)\n"
    "  7  partly applied: the step was applied, but a step the unit's policy added\n"
    "     is still queued in the unit's outbox; it is forwarded in order\n";

static void print_group(FILE *out, ctl_group group, const char *title) {
  fprintf(out, "\n%s\n", title);
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++) {
    if (c->group == group)
      fprintf(out, "  %-13s %s\n", c->name, c->summary);
  }
}

static void print_global_help(FILE *out) {
  fputs(global_usage, out);
  print_group(out, CTL_FOR_OPERATORS,
              "Operators (with --unit UNIT, through that unit's service):");
  print_group(out, CTL_FOR_COORDINATORS, "Coordinators (the router, signed as the coordinator):");
  print_group(out, CTL_FOR_WEB,
              "Web logins (on the web gateway's machine, with --unit UNIT or --coordinators):");
  print_group(out, CTL_FOR_EVERYONE, "Everyone:");
  fputc('\n', out);
  fputs(global_options_help, out);
}

static void print_command_help(const ctl_command *cmd, FILE *out) {
  fputs(cmd->usage, out);
  fputs("\nGlobal options and exit codes: mediactl --help\n", out);
}

const ctl_command *ctl_command_find(const char *name) {
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++) {
    if (strcmp(c->name, name) == 0)
      return c;
  }
  return NULL;
}

int ctl_fail(int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "mediactl: %s\n", msg);
  return code;
}

int ctl_usage_error(ctl_ctx *ctx, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (ctx->cmd != NULL) {
    fprintf(stderr, "mediactl %s: %s\n\n", ctx->cmd->name, msg);
    print_command_help(ctx->cmd, stderr);
  } else {
    fprintf(stderr, "mediactl: %s\n\n%s", msg,
            "Usage: mediactl [global options] <command> [options] [args]\n"
            "`mediactl --help` lists the commands and global options.\n");
  }
  return CTL_EXIT_USAGE;
}

/* Seconds, possibly with a fraction ("0.5"), to ms. */
static int parse_timeout(const char *s, int64_t *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v > 0.0))
    return -1;
  /* The upper bound is the deployment's (checked once it is loaded); a
   * huge value is kept huge without overflowing. */
  *ms = v > 1e9 ? (int64_t)1e12 : (int64_t)(v * 1000.0);
  if (*ms < 1)
    *ms = 1;
  return 0;
}

/* The option as typed, without an "=value" that may hold personal data. */
static void option_name(const char *arg, char *buf, size_t cap) {
  size_t n = strcspn(arg, "=");
  if (n >= cap)
    n = cap - 1;
  memcpy(buf, arg, n);
  buf[n] = '\0';
}

/* Handles a global option; 1 if it was one, 0 if not, -1 on a bad value. */
static int global_option(ctl_ctx *ctx, int c, const char *arg) {
  switch (c) {
  case G_CONFIG: ctx->config_path = arg; return 1;
  case G_UNIT: ctx->unit_arg = arg; return 1;
  case G_AS: ctx->as = arg; return 1;
  case G_JSON: ctx->json = true; return 1;
  case G_TIMEOUT:
    if (parse_timeout(arg, &ctx->timeout_ms) != 0) {
      ctl_usage_error(ctx, "--timeout: expected a number of seconds more than 0, such as 30 "
                           "or 2.5");
      return -1;
    }
    return 1;
  default: return 0;
  }
}

static int merge_options(ctl_ctx *ctx, const struct option *opts) {
  size_t n = 0, cap = sizeof(ctx->merged) / sizeof(ctx->merged[0]);
  for (const struct option *o = opts; o != NULL && o->name != NULL; o++) {
    if (n + 1 >= cap)
      return -1;
    ctx->merged[n++] = *o;
  }
  for (const struct option *o = global_options; o->name != NULL; o++) {
    bool shadowed = false; /* a command may give a global name its own meaning */
    for (size_t i = 0; i < n && !shadowed; i++)
      shadowed = strcmp(ctx->merged[i].name, o->name) == 0;
    if (shadowed)
      continue;
    if (n + 1 >= cap)
      return -1;
    ctx->merged[n++] = *o;
  }
  memset(&ctx->merged[n], 0, sizeof(ctx->merged[n]));
  ctx->merged_from = opts;
  return 0;
}

int ctl_getopt(ctl_ctx *ctx, int argc, char **argv, const struct option *opts) {
  if (ctx->merged_from != opts || opts == NULL) {
    if (merge_options(ctx, opts) != 0)
      return ctl_usage_error(ctx, "too many options (a bug)"), CTL_OPT_ERROR;
  }
  for (;;) {
    opterr = 0;
    int c = getopt_long(argc, argv, ":h", ctx->merged, NULL);
    char name[64];
    switch (c) {
    case -1:
      return -1;
    case G_HELP:
      print_command_help(ctx->cmd, stdout);
      return CTL_OPT_HELP;
    case '?':
      option_name(argv[optind - 1], name, sizeof(name));
      ctl_usage_error(ctx, "unknown option %s", name);
      return CTL_OPT_ERROR;
    case ':':
      option_name(argv[optind - 1], name, sizeof(name));
      ctl_usage_error(ctx, "option %s needs a value", name);
      return CTL_OPT_ERROR;
    default: {
      int g = global_option(ctx, c, optarg);
      if (g < 0)
        return CTL_OPT_ERROR;
      if (g == 0)
        return c;
    }
    }
  }
}

int ctl_positionals(ctl_ctx *ctx, int argc, char **argv, int n, const char **out,
                    const char *what) {
  int have = argc - optind;
  if (have < n)
    return ctl_usage_error(ctx, "expected %s", what);
  if (have > n)
    return ctl_usage_error(ctx, "unexpected argument \"%s\"", argv[optind + n]);
  for (int i = 0; i < n; i++)
    out[i] = argv[optind + i];
  return CTL_EXIT_OK;
}

int ctl_enum_option(ctl_ctx *ctx, const mc_name *table, const char *option, const char *text,
                    int *out) {
  if (ctl_parse_name(table, text, out) == 0)
    return CTL_EXIT_OK;
  char names[400];
  ctl_names_list(table, names, sizeof(names));
  return ctl_usage_error(ctx, "%s: expected one of %s", option, names);
}

/* ---- configuration and connections ---- */

static void list_units(const mc_registry *reg, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < reg->n_units; i++) {
    int n = snprintf(buf + used, cap - used, "%s%s (%s)", i ? ", " : "", reg->units[i].id,
                     reg->units[i].name);
    if (n < 0 || (size_t)n >= cap - used)
      return;
    used += (size_t)n;
  }
}

int ctl_find_unit(ctl_ctx *ctx, const char *text, const char *option, const mc_unit **out) {
  const mc_unit *u = mc_registry_find_unit(ctx->reg, text);
  if (u == NULL) {
    char units[400];
    list_units(ctx->reg, units, sizeof(units));
    return ctl_usage_error(ctx, "%s: no unit \"%s\"; the units are %s", option, text, units);
  }
  *out = u;
  return CTL_EXIT_OK;
}

int ctl_find_community(ctl_ctx *ctx, const char *text, const char *option,
                       const mc_community **out) {
  const mc_community *c = mc_registry_find_community(ctx->reg, text);
  if (c == NULL) {
    char list[400];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < ctx->reg->n_communities; i++) {
      int n = snprintf(list + used, sizeof(list) - used, "%s%s (%s)", i ? ", " : "",
                       ctx->reg->communities[i].id, ctx->reg->communities[i].name);
      if (n < 0 || (size_t)n >= sizeof(list) - used)
        break;
      used += (size_t)n;
    }
    return ctl_usage_error(ctx, "%s: no community \"%s\"; the communities are %s", option, text,
                           list);
  }
  *out = c;
  return CTL_EXIT_OK;
}

int ctl_load(ctl_ctx *ctx) {
  if (ctx->reg != NULL)
    return CTL_EXIT_OK;
  const char *path = ctx->config_path;
  if (path == NULL)
    path = getenv("MEDIATION_CONFIG");
  if (path == NULL || path[0] == '\0')
    path = CTL_DEFAULT_CONFIG;
  mc_err err;
  if (mc_registry_load(path, &ctx->reg, &err) != MC_OK)
    return ctl_fail(CTL_EXIT_FAILED, "configuration: %s", err.msg);
  if (ctx->unit_arg != NULL)
    return ctl_find_unit(ctx, ctx->unit_arg, "--unit", &ctx->unit);
  return CTL_EXIT_OK;
}

/* The coordinator to sign as when --as is not given: the principal named
 * "coordinator" (deploy/mkdeploy makes it), else the first coordinator. */
static const char *default_coordinator(const mc_registry *reg) {
  const mc_principal *p = mc_registry_principal(reg, CTL_DEFAULT_COORDINATOR);
  if (p != NULL && p->kind == MC_PRINCIPAL_COORDINATOR)
    return p->id;
  for (size_t i = 0; i < reg->n_principals; i++) {
    if (reg->principals[i].kind == MC_PRINCIPAL_COORDINATOR)
      return reg->principals[i].id;
  }
  return CTL_DEFAULT_COORDINATOR;
}

int ctl_connect(ctl_ctx *ctx, bool desk) {
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  if (ctx->client != NULL)
    return CTL_EXIT_OK;
  if (ctx->timeout_ms > ctx->reg->limits.max_deadline_ahead_ms)
    return ctl_usage_error(ctx,
                           "--timeout: at most %lld seconds in this deployment ([limits] "
                           "max_deadline_ahead_seconds)",
                           (long long)(ctx->reg->limits.max_deadline_ahead_ms / 1000));
  const char *url;
  char principal[RPC_PRINCIPAL_MAX + 1];
  const char *server_name = NULL;
  if (desk) {
    if (ctx->unit == NULL)
      return ctl_usage_error(ctx, "--unit UNIT is required: operators act through their "
                                  "unit's service");
    url = ctx->unit->endpoint;
    snprintf(principal, sizeof(principal), "%s-operator", ctx->unit->id);
    if (url == NULL || url[0] == '\0')
      return ctl_fail(CTL_EXIT_FAILED, "configuration: [unit %s] has no endpoint",
                      ctx->unit->id);
  } else {
    /* Asking the router as the coordinator: a --unit that is not a filter
     * here would be silently ignored, so it is refused instead. */
    if (ctx->unit != NULL && ctx->cmd->target == CTL_ROUTER && !ctx->cmd->unit_filter)
      return ctl_usage_error(ctx, "--unit does not apply: %s asks the router as the "
                                  "coordinator (to sign as the unit itself, use --as UNIT)",
                             ctx->cmd->name);
    url = ctx->reg->router.endpoint;
    snprintf(principal, sizeof(principal), "%s", default_coordinator(ctx->reg));
    server_name = ctx->reg->router.tls_server_name;
    if (url == NULL || url[0] == '\0')
      return ctl_fail(CTL_EXIT_FAILED, "configuration: [router] has no endpoint");
  }
  if (ctx->as != NULL) {
    if (!rpc_principal_valid(ctx->as))
      return ctl_usage_error(ctx, "--as: \"%s\" is not a principal id (a-z, 0-9, - and _)",
                             ctx->as);
    snprintf(principal, sizeof(principal), "%s", ctx->as);
  }
  mc_err err;
  if (rpc_key_load(ctx->reg->keys_dir, principal, &ctx->key, &err) != MC_OK)
    return ctl_fail(CTL_EXIT_FAILED, "the key of %s: %s", principal, err.msg);
  rpc_client_opts opts = {
      .default_timeout_ms = ctx->timeout_ms,
      .max_in_flight = 4,
      .fail_when_refused = true, /* nothing there: say so at once, not after --timeout */
      .tls_ca_file = ctx->reg->router.tls_ca,
      .tls_server_name = server_name,
  };
  if (rpc_client_create(url, ctx->key, &ctx->reg->limits, &opts, &ctx->client, &err) != MC_OK)
    return ctl_fail(CTL_EXIT_FAILED, "cannot use %s: %s", url, err.msg);
  ctx->desk = desk;
  return CTL_EXIT_OK;
}

int ctl_exit_for(mc_code code) {
  switch (code) {
  case MC_OK:
    return CTL_EXIT_OK;
  case MC_INVALID_ARGUMENT:
  case MC_NOT_FOUND:
  case MC_ALREADY_EXISTS:
  case MC_FAILED_PRECONDITION:
  case MC_RESOURCE_EXHAUSTED:
  case MC_ABORTED:
  case MC_OUT_OF_RANGE:
  case MC_UNIMPLEMENTED:
    return CTL_EXIT_REFUSED;
  case MC_UNAVAILABLE:
  case MC_DEADLINE_EXCEEDED:
    return CTL_EXIT_UNREACHABLE;
  case MC_UNAUTHENTICATED:
  case MC_PERMISSION_DENIED:
    return CTL_EXIT_DENIED;
  default:
    return CTL_EXIT_FAILED;
  }
}

int ctl_status_fail(mc_code code, const char *message) {
  int exit_code = ctl_exit_for(code);
  const char *what = "failed";
  switch (exit_code) {
  case CTL_EXIT_REFUSED: what = "refused"; break;
  case CTL_EXIT_UNREACHABLE: what = "unreachable"; break;
  case CTL_EXIT_DENIED: what = "denied"; break;
  default: break;
  }
  fprintf(stderr, "mediactl: %s: %s: %s\n", what, mc_code_name(code),
          message && message[0] ? message : mc_code_text(code));
  return exit_code;
}

int ctl_call(ctl_ctx *ctx, const ProtobufCServiceDescriptor *svc, const char *method,
             const ProtobufCMessage *request, ProtobufCMessage **reply) {
  rpc_call_opts copts = {.timeout_ms = ctx->timeout_ms};
  mc_err err;
  mc_err_clear(&err);
  mc_code rc = rpc_client_call(ctx->client, svc, method, request, &copts, reply, &err);
  if (rc == MC_OK)
    return CTL_EXIT_OK;
  return ctl_status_fail(rc, err.msg);
}

void ctl_ctx_close(ctl_ctx *ctx) {
  rpc_client_free(ctx->client);
  ctx->client = NULL;
  rpc_key_free(ctx->key);
  ctx->key = NULL;
  mc_registry_free(ctx->reg);
  ctx->reg = NULL;
  ctx->unit = NULL;
}

/* ---- help and dispatch ---- */

static int help_run(ctl_ctx *ctx, void *st) {
  (void)st;
  if (ctx->arg == NULL) {
    print_global_help(stdout);
    return CTL_EXIT_OK;
  }
  const ctl_command *cmd = ctl_command_find(ctx->arg);
  if (cmd == NULL)
    return ctl_usage_error(ctx, "no command \"%s\" (see mediactl --help)", ctx->arg);
  print_command_help(cmd, stdout);
  return CTL_EXIT_OK;
}

const ctl_ops ctl_help_ops = {
    .args = "at most one COMMAND",
    .args_optional = true,
    .run = help_run,
};

/* The one check of what a command talks to: a Desk command needs --unit
 * (given before or after the command, so it is checked once parsed). */
static int check_target(ctl_ctx *ctx) {
  if (ctx->cmd->target != CTL_DESK || ctx->unit_arg != NULL)
    return CTL_EXIT_OK;
  return ctl_usage_error(ctx, "--unit UNIT is required: %s",
                         ctx->cmd->unit_why ? ctx->cmd->unit_why
                                            : "operators act through their unit's service");
}

/* Parses and runs the command ctx->cmd: its state lives as long as it runs. */
static int run_command(ctl_ctx *ctx, int argc, char **argv) {
  const ctl_ops *ops = ctx->cmd->ops;
  void *st = calloc(1, ops->state_size ? ops->state_size : 1);
  if (st == NULL)
    return ctl_fail(CTL_EXIT_FAILED, "out of memory");
  int rc = ctl_parse_command(ctx, st, argc, argv);
  if (rc == CTL_OPT_HELP)
    rc = CTL_EXIT_OK;
  else if (rc == CTL_EXIT_OK && (rc = check_target(ctx)) == CTL_EXIT_OK)
    rc = ctl_execute(ctx, st);
  if (ops->done != NULL)
    ops->done(st);
  free(st);
  return rc;
}

int ctl_main(int argc, char **argv) {
  /* The RPC layer logs a warning when it cannot connect; we print the
   * status ourselves, once, so only errors of the library itself remain. */
  mc_log_init("mediactl", MC_LOG_ERR);
  ctl_ctx ctx;
  memset(&ctx, 0, sizeof(ctx));
  ctx.timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
  static const struct option top_options[] = {
      {"version", no_argument, NULL, G_VERSION},
      {NULL, 0, NULL, 0},
  };
  struct option all[16];
  size_t n = 0;
  for (const struct option *o = top_options; o->name != NULL; o++)
    all[n++] = *o;
  for (const struct option *o = global_options; o->name != NULL; o++)
    all[n++] = *o;
  memset(&all[n], 0, sizeof(all[n]));

  optind = 0;
  opterr = 0;
  int c;
  char name[64];
  /* "+": stop at the command; its own options are its parser's. */
  while ((c = getopt_long(argc, argv, "+:c:h", all, NULL)) != -1) {
    switch (c) {
    case G_HELP:
      print_global_help(stdout);
      return CTL_EXIT_OK;
    case G_VERSION:
      printf("mediactl %s\n", MEDIATION_VERSION);
      return CTL_EXIT_OK;
    case '?':
      option_name(argv[optind - 1], name, sizeof(name));
      return ctl_usage_error(&ctx, "unknown option %s", name);
    case ':':
      option_name(argv[optind - 1], name, sizeof(name));
      return ctl_usage_error(&ctx, "option %s needs a value", name);
    default:
      if (global_option(&ctx, c, optarg) < 0)
        return CTL_EXIT_USAGE;
    }
  }
  if (optind >= argc)
    return ctl_usage_error(&ctx, "no command given");
  ctx.cmd = ctl_command_find(argv[optind]);
  if (ctx.cmd == NULL) {
    ctx.cmd = NULL;
    return ctl_usage_error(&ctx, "no command \"%s\" (see mediactl --help)", argv[optind]);
  }
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  optind = 0; /* glibc: start the command's getopt afresh */
  int rc = run_command(&ctx, sub_argc, sub_argv);
  if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
    rc = ctl_fail(CTL_EXIT_FAILED, "cannot write the output: %s", strerror(errno));
  ctl_ctx_close(&ctx);
  return rc;
}
