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
#include <strings.h>

#include "core/i18n.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/text.h"
#include "services/coordinator/ctl.h"

enum {
  G_CONFIG = 'c',
  G_HELP = 'h',
  G_UNIT = 1000,
  G_AS,
  G_JSON,
  G_TIMEOUT,
  G_VERSION,
  G_STALE_OK,
  G_NODE,
};

static const struct option global_options[] = {
    {"config", required_argument, NULL, G_CONFIG},
    {"unit", required_argument, NULL, G_UNIT},
    {"as", required_argument, NULL, G_AS},
    {"json", no_argument, NULL, G_JSON},
    {"timeout", required_argument, NULL, G_TIMEOUT},
    {"help", no_argument, NULL, G_HELP},
    {"stale-ok", no_argument, NULL, G_STALE_OK},
    {"node", required_argument, NULL, G_NODE},
    {NULL, 0, NULL, 0},
};

/* Texts for people are marked N_ here and translated where printed
 * (core/i18n.h); the command table's summaries and usages are extracted
 * for translators by mediation-gen-pot (po/CMakeLists.txt). */
static const char global_usage[] =
    N_("Usage: mediactl [global options] <command> [options] [args]\n"
    "\n"
    "The command-line client of the mediation system. Operators work on their\n"
    "unit's cases through their unit's service (--unit); coordinators ask the\n"
    "router where a case is and who holds it, what is stuck, and the year's\n"
    "figures.\n");

/* %s: the default configuration's path (CTL_DEFAULT_CONFIG). */
static const char global_options_help[] =
    N_("Global options (before or after the command):\n"
    "  -c, --config PATH      the deployment's mediation.conf (default: $MEDIATION_CONFIG,\n"
    "                         else %s)\n"
    "      --unit UNIT        act as that unit's operator on its service (a unit id, its\n"
    "                         Chinese name or alias); for stuck and figures, only that unit\n"
    "      --as PRINCIPAL     sign with this principal's key (default: <unit>-operator\n"
    "                         with --unit, else the coordinator)\n"
    "      --json             print the reply as JSON (field names as in proto/, see\n"
    "                         docs/mediactl.md)\n"
    "      --timeout SECONDS  give up after this long (default 10)\n"
    "      --stale-ok         a cluster of routers: reads from whichever node answers,\n"
    "                         possibly a little behind the leader (default: the leader)\n"
    "      --node N           a cluster of routers: talk to node N ([cluster N]) only,\n"
    "                         e.g. for the status of that node\n"
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
    "     is still queued in the unit's outbox; it is forwarded in order\n");

static void print_group(FILE *out, ctl_group group, const char *title) {
  fprintf(out, "\n%s\n", title);
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++) {
    if (c->group == group)
      fprintf(out, "  %-13s %s\n", c->name, _(c->summary));
  }
}

static void print_global_help(FILE *out) {
  fputs(_(global_usage), out);
  print_group(out, CTL_FOR_OPERATORS,
              _("Operators (with --unit UNIT, through that unit's service):"));
  print_group(out, CTL_FOR_COORDINATORS,
              _("Coordinators (the router, signed as the coordinator):"));
  print_group(out, CTL_FOR_WEB,
              _("Web logins (on the web gateway's machine, with --unit UNIT or --coordinators):"));
  print_group(out, CTL_FOR_EVERYONE, _("Everyone:"));
  fputc('\n', out);
  fprintf(out, _(global_options_help), CTL_DEFAULT_CONFIG);
}

static void print_command_help(const ctl_command *cmd, FILE *out) {
  fputs(_(cmd->usage), out);
  fputs(_("\nGlobal options and exit codes: mediactl --help\n"), out);
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
            _("Usage: mediactl [global options] <command> [options] [args]\n"
              "`mediactl --help` lists the commands and global options.\n"));
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
  case G_STALE_OK: ctx->stale_ok = true; return 1;
  case G_NODE: {
    long id;
    if (ctl_parse_long(arg, 1, 65535, &id) != 0) {
      ctl_usage_error(ctx, _("--node: expected a router's id, a number from 1 to 65535 (its "
                             "[cluster N] section)"));
      return -1;
    }
    ctx->node = (uint64_t)id;
    return 1;
  }
  case G_TIMEOUT:
    if (parse_timeout(arg, &ctx->timeout_ms) != 0) {
      ctl_usage_error(ctx, _("--timeout: expected a number of seconds more than 0, such as 30 "
                           "or 2.5"));
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
      return ctl_usage_error(ctx, _("too many options (a bug)")), CTL_OPT_ERROR;
  }
  /* -o FILE is the one short option a command may have (`document`): only
   * when its long form (--output) has 'o' as its value. */
  const char *shortopts = ":h";
  for (const struct option *o = ctx->merged; o->name != NULL; o++)
    if (o->val == 'o' && o->has_arg == required_argument)
      shortopts = ":ho:";
  for (;;) {
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, ctx->merged, NULL);
    char name[64];
    switch (c) {
    case -1:
      return -1;
    case G_HELP:
      print_command_help(ctx->cmd, stdout);
      return CTL_OPT_HELP;
    case '?':
      option_name(argv[optind - 1], name, sizeof(name));
      ctl_usage_error(ctx, _("unknown option %s"), name);
      return CTL_OPT_ERROR;
    case ':':
      option_name(argv[optind - 1], name, sizeof(name));
      ctl_usage_error(ctx, _("option %s needs a value"), name);
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
    return ctl_usage_error(ctx, _("expected %s"), _(what));
  if (have > n)
    return ctl_usage_error(ctx, _("unexpected argument \"%s\""), argv[optind + n]);
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
  return ctl_usage_error(ctx, _("%s: expected one of %s"), option, names);
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

/* " (did you mean \"大石头\"?)" when the registry has a name close to text. */
static void did_you_mean(const ctl_ctx *ctx, bool units, const char *text, char *buf,
                         size_t cap) {
  const char *near = mc_registry_suggest(ctx->reg, units, text);
  if (near != NULL)
    snprintf(buf, cap, _("; did you mean \"%s\"?"), near);
  else
    buf[0] = '\0';
}

int ctl_find_unit(ctl_ctx *ctx, const char *text, const char *option, const mc_unit **out) {
  const mc_unit *u = mc_registry_find_unit(ctx->reg, text);
  if (u == NULL) {
    char units[400], hint[200];
    list_units(ctx->reg, units, sizeof(units));
    did_you_mean(ctx, true, text, hint, sizeof(hint));
    if (hint[0] != '\0')
      return ctl_usage_error(ctx, _("%s: no unit \"%s\"%s"), option, text, hint);
    return ctl_usage_error(ctx, _("%s: no unit \"%s\"; the units are %s"), option, text, units);
  }
  *out = u;
  return CTL_EXIT_OK;
}

int ctl_find_community(ctl_ctx *ctx, const char *text, const char *option,
                       const mc_community **out) {
  const mc_community *c = mc_registry_find_community(ctx->reg, text);
  if (c == NULL) {
    char list[400], hint[200];
    did_you_mean(ctx, false, text, hint, sizeof(hint));
    if (hint[0] != '\0')
      return ctl_usage_error(ctx, _("%s: no community \"%s\"%s"), option, text, hint);
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < ctx->reg->n_communities; i++) {
      int n = snprintf(list + used, sizeof(list) - used, "%s%s (%s)", i ? ", " : "",
                       ctx->reg->communities[i].id, ctx->reg->communities[i].name);
      if (n < 0 || (size_t)n >= sizeof(list) - used)
        break;
      used += (size_t)n;
    }
    return ctl_usage_error(ctx, _("%s: no community \"%s\"; the communities are %s"), option, text,
                           list);
  }
  *out = c;
  return CTL_EXIT_OK;
}

/* 1 to 18 digits, as a number; false if s is anything else. */
static bool all_digits(const char *s, size_t len, uint64_t *v) {
  if (len == 0 || len > 18)
    return false;
  *v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    *v = *v * 10 + (uint64_t)(s[i] - '0');
  }
  return true;
}

/* "2026-1" (year, number): true with both set. */
static bool year_number(const char *s, int *year, uint64_t *serial) {
  const char *dash = strchr(s, '-');
  uint64_t y;
  if (dash == NULL || !all_digits(s, (size_t)(dash - s), &y) || dash - s != 4)
    return false;
  if (!all_digits(dash + 1, strlen(dash + 1), serial))
    return false;
  *year = (int)y;
  return true;
}

int ctl_case_arg(ctl_ctx *ctx, const char *text, const char *what, bool ids_only,
                 const char **out) {
  int rc = ctl_load(ctx);
  if (rc != CTL_EXIT_OK)
    return rc;
  const char *prefix = ctx->reg->case_prefix;
  size_t plen = strlen(prefix);
  int year = 0;
  uint64_t serial = 0;
  bool is_id = false;
  if (strncasecmp(text, prefix, plen) == 0 && text[plen] == '-')
    is_id = year_number(text + plen + 1, &year, &serial);
  else if (all_digits(text, strlen(text), &serial))
    is_id = true, year = mc_date_of(mc_now_ms(), ctx->reg->utc_offset_minutes).year;
  else
    is_id = year_number(text, &year, &serial);
  if (is_id) {
    mc_err err;
    if (serial == 0 || year < 1000 ||
        mc_case_id_format(prefix, year, serial, ctx->case_buf, sizeof(ctx->case_buf), &err) !=
            MC_OK)
      return ctl_usage_error(ctx, _("%s: not a case id; expected %s"), what, CTL_CASE_FORMS);
    *out = ctx->case_buf;
    return CTL_EXIT_OK;
  }
  const char *colon = strchr(text, ':');
  if (!ids_only && colon != NULL && colon != text && mc_unit_ref_valid(colon + 1)) {
    char unit_text[160];
    size_t n = (size_t)(colon - text);
    if (n < sizeof(unit_text)) {
      memcpy(unit_text, text, n);
      unit_text[n] = '\0';
      const mc_unit *u = NULL;
      if ((rc = ctl_find_unit(ctx, unit_text, what, &u)) != CTL_EXIT_OK)
        return rc;
      snprintf(ctx->case_buf, sizeof(ctx->case_buf), "%s:%s", u->id, colon + 1);
      *out = ctx->case_buf;
      return CTL_EXIT_OK;
    }
  }
  if (!ids_only && ctl_wants_desk(ctx) && mc_unit_ref_valid(text)) {
    *out = text; /* the unit's own reference, which its Desk knows */
    return CTL_EXIT_OK;
  }
  /* Not echoed: what was typed instead of a case may be a name or a phone. */
  return ctl_usage_error(ctx, _("%s: not a case id; expected %s"), what, CTL_CASE_FORMS);
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
    return ctl_fail(CTL_EXIT_FAILED, _("configuration: %s"), err.msg);
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
                           _("--timeout: at most %lld seconds in this deployment ([limits] "
                           "max_deadline_ahead_seconds)"),
                           (long long)(ctx->reg->limits.max_deadline_ahead_ms / 1000));
  const char *url;
  char principal[RPC_PRINCIPAL_MAX + 1];
  const char *server_name = NULL;
  if (desk) {
    if (ctx->unit == NULL)
      return ctl_usage_error(ctx, _("--unit UNIT is required: operators act through their "
                                  "unit's service"));
    url = ctx->unit->endpoint;
    snprintf(principal, sizeof(principal), "%s-operator", ctx->unit->id);
    if (url == NULL || url[0] == '\0')
      return ctl_fail(CTL_EXIT_FAILED, _("configuration: [unit %s] has no endpoint"),
                      ctx->unit->id);
  } else {
    /* Asking the router as the coordinator: a --unit that is not a filter
     * here would be silently ignored, so it is refused instead. */
    if (ctx->unit != NULL && ctx->cmd->target == CTL_ROUTER && !ctx->cmd->unit_filter)
      return ctl_usage_error(ctx, _("--unit does not apply: %s asks the router as the "
                                  "coordinator (to sign as the unit itself, use --as UNIT)"),
                             ctx->cmd->name);
    /* One router, or a cluster's (the client follows its leader), or with
     * --node that node alone. */
    url = NULL;
    mc_registry_router_endpoints(ctx->reg, &url, 1);
    if (ctx->node != 0) {
      const mc_router_node *node = mc_registry_node(ctx->reg, ctx->node);
      if (node == NULL)
        return ctl_usage_error(ctx, _("--node %llu: the configuration has no [cluster %llu]"),
                               (unsigned long long)ctx->node, (unsigned long long)ctx->node);
      url = node->endpoint;
    }
    snprintf(principal, sizeof(principal), "%s", default_coordinator(ctx->reg));
    server_name = ctx->reg->router.tls_server_name;
    if (url == NULL || url[0] == '\0')
      return ctl_fail(CTL_EXIT_FAILED, _("configuration: [router] has no endpoint"));
  }
  if (desk && ctx->node != 0)
    return ctl_usage_error(ctx, _("--node applies to the routers of a cluster, not to a "
                                  "unit's service"));
  if (ctx->as != NULL) {
    if (!rpc_principal_valid(ctx->as))
      return ctl_usage_error(ctx, _("--as: \"%s\" is not a principal id (a-z, 0-9, - and _)"),
                             ctx->as);
    snprintf(principal, sizeof(principal), "%s", ctx->as);
  }
  mc_err err;
  if (rpc_key_load(ctx->reg->keys_dir, principal, &ctx->key, &err) != MC_OK)
    return ctl_fail(CTL_EXIT_FAILED, _("the key of %s: %s"), principal, err.msg);
  rpc_client_opts opts = {
      .default_timeout_ms = ctx->timeout_ms,
      .max_in_flight = 4,
      .fail_when_refused = true, /* nothing there: say so at once, not after --timeout */
      .tls_ca_file = ctx->reg->router.tls_ca,
      .tls_server_name = server_name,
  };
  mc_code made = desk || ctx->node != 0
                    ? rpc_client_create(url, ctx->key, &ctx->reg->limits, &opts, &ctx->client,
                                        &err)
                    : rpc_client_for_routers(ctx->reg, ctx->key, &opts, &ctx->client, &err);
  if (made != MC_OK)
    return ctl_fail(CTL_EXIT_FAILED, _("cannot use %s: %s"), url, err.msg);
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
  const char *what = _("failed");
  switch (exit_code) {
  case CTL_EXIT_REFUSED: what = _("refused"); break;
  case CTL_EXIT_UNREACHABLE: what = _("unreachable"); break;
  case CTL_EXIT_DENIED: what = _("denied"); break;
  default: break;
  }
  fprintf(stderr, "mediactl: %s: %s: %s\n", what, mc_code_name(code),
          message && message[0] ? message : _(mc_code_text(code)));
  return exit_code;
}

int ctl_call(ctl_ctx *ctx, const ProtobufCServiceDescriptor *svc, const char *method,
             const ProtobufCMessage *request, ProtobufCMessage **reply) {
  rpc_call_opts copts = {.timeout_ms = ctx->timeout_ms, .stale_ok = ctx->stale_ok};
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
    return ctl_usage_error(ctx, _("no command \"%s\" (see mediactl --help)"), ctx->arg);
  print_command_help(cmd, stdout);
  return CTL_EXIT_OK;
}

const ctl_ops ctl_help_ops = {
    .args = N_("at most one COMMAND"),
    .args_optional = true,
    .run = help_run,
};

/* The one check of what a command talks to: a Desk command needs --unit
 * (given before or after the command, so it is checked once parsed). */
static int check_target(ctl_ctx *ctx) {
  if (ctx->cmd->target != CTL_DESK || ctx->unit_arg != NULL)
    return CTL_EXIT_OK;
  return ctl_usage_error(ctx, _("--unit UNIT is required: %s"),
                         ctx->cmd->unit_why ? _(ctx->cmd->unit_why)
                                            : _("operators act through their unit's service"));
}

/* Parses and runs the command ctx->cmd: its state lives as long as it runs. */
static int run_command(ctl_ctx *ctx, int argc, char **argv) {
  const ctl_ops *ops = ctx->cmd->ops;
  void *st = calloc(1, ops->state_size ? ops->state_size : 1);
  if (st == NULL)
    return ctl_fail(CTL_EXIT_FAILED, _("out of memory"));
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
  mc_i18n_init(); /* first: every message after this is in the reader's language */
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
      return ctl_usage_error(&ctx, _("unknown option %s"), name);
    case ':':
      option_name(argv[optind - 1], name, sizeof(name));
      return ctl_usage_error(&ctx, _("option %s needs a value"), name);
    default:
      if (global_option(&ctx, c, optarg) < 0)
        return CTL_EXIT_USAGE;
    }
  }
  if (optind >= argc)
    return ctl_usage_error(&ctx, _("no command given"));
  ctx.cmd = ctl_command_find(argv[optind]);
  if (ctx.cmd == NULL) {
    ctx.cmd = NULL;
    return ctl_usage_error(&ctx, _("no command \"%s\" (see mediactl --help)"), argv[optind]);
  }
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  optind = 0; /* glibc: start the command's getopt afresh */
  int rc = run_command(&ctx, sub_argc, sub_argv);
  if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
    rc = ctl_fail(CTL_EXIT_FAILED, _("cannot write the output: %s"), strerror(errno));
  ctl_ctx_close(&ctx);
  return rc;
}
