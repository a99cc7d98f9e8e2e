/*
 * main.c - the mediation-router daemon: flags, configuration, signals.
 * Everything else is in the router library (router.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/registry.h"
#include "router/router.h"

/* The help, with the default configuration's path for %s. */
static const char usage[] = N_(
    "Usage: mediation-router [options]\n"
    "\n"
    "The one authority on where every case is: applies each step through the\n"
    "case state machine, commits it to its LMDB store before answering, and\n"
    "queues handoffs for their receiving units until they sign a receipt.\n"
    "\n"
    "Options:\n"
    "  -c, --config PATH     the deployment's mediation.conf\n"
    "                        (default %s)\n"
    "      --endpoint URL    listen here instead of [router] endpoint\n"
    "      --data-dir DIR    keep the store here instead of [router] data_dir\n"
    "      --batch-max N     writes per group commit (1 turns grouping off)\n"
    "      --contexts N      requests served at once, long polls included\n"
    "      --log-level L     error, warning, notice, info (default) or debug\n"
    "      --unsafe-nosync   do not sync commits: for benchmarks only; an\n"
    "                        acknowledged step can be lost in a power cut\n"
    "      --upgrade-store   upgrade a store of the previous schema: signs every\n"
    "                        case file's head as it stands (verify it first)\n"
    "      --storage-mode M  lmdb-sync or raft instead of [storage] mode\n"
    "      --node ID         which [cluster ID] of the configuration this router\n"
    "                        is (required when it lists a cluster)\n"
    "      --seed-from DIR   with --node: start this node's empty data_dir from\n"
    "                        an existing store (a stopped router's data_dir or a\n"
    "                        backup directory), then exit; run it on every node\n"
    "  -h, --help            this text\n"
    "      --version         the version\n"
    "\n"
    "Stops cleanly on SIGTERM or SIGINT: requests in flight are finished, none\n"
    "is left half-applied. Reports readiness to systemd (sd_notify) once it serves.\n");

static void print_usage(FILE *to) { fprintf(to, _(usage), MEDIATION_DEFAULT_CONFIG); }

enum { OPT_ENDPOINT = 256, OPT_DATA_DIR, OPT_BATCH, OPT_CONTEXTS, OPT_LOG, OPT_NOSYNC, OPT_VERSION, OPT_UPGRADE, OPT_STORAGE_MODE,
       OPT_NODE, OPT_SEED_FROM };

static bool parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *out) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < min || v > max)
    return false;
  *out = (unsigned)v;
  return true;
}

/* The options print_usage describes. */
static const struct option longopts[] = {
    {"config", required_argument, NULL, 'c'},
    {"endpoint", required_argument, NULL, OPT_ENDPOINT},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"batch-max", required_argument, NULL, OPT_BATCH},
    {"contexts", required_argument, NULL, OPT_CONTEXTS},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"unsafe-nosync", no_argument, NULL, OPT_NOSYNC},
    {"upgrade-store", no_argument, NULL, OPT_UPGRADE},
    {"storage-mode", required_argument, NULL, OPT_STORAGE_MODE},
    {"node", required_argument, NULL, OPT_NODE},
    {"seed-from", required_argument, NULL, OPT_SEED_FROM},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};
/* --seed-from: a one-off step before a cluster node's first start, not a
 * daemon run. Its exit status. */
static int seed(const mc_registry *reg, const rt_options *opts, const char *seed_from) {
  bool again = false;
  mc_err err;
  mc_code rc = rt_router_seed(reg, opts, seed_from, &again, &err);
  unsigned long long node = (unsigned long long)opts->node_id;
  if (rc != MC_OK)
    fprintf(stderr, _("mediation-router: cannot seed node %llu from %s: %s\n"), node, seed_from,
            err.msg);
  else if (again)
    printf(_("node %llu was seeded from %s already: start it with --node %llu\n"), node,
           seed_from, node);
  else
    printf(_("node %llu seeded from %s: start it with --node %llu\n"), node, seed_from, node);
  return rc == MC_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  mc_i18n_init(); /* first: every message after this is in the reader's language */

  const char *config = MEDIATION_DEFAULT_CONFIG;
  rt_options opts = {0};
  mc_log_level level = MC_LOG_INFO;
  const char *seed_from = NULL;
  int ch;
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case OPT_ENDPOINT: opts.endpoint = optarg; break;
    case OPT_DATA_DIR: opts.data_dir = optarg; break;
    case OPT_BATCH:
      if (!parse_unsigned(optarg, 1, 4096, &opts.batch_max)) {
        fprintf(stderr, _("mediation-router: --batch-max: expected 1..4096, got \"%s\"\n"), optarg);
        return 2;
      }
      break;
    case OPT_CONTEXTS:
      if (!parse_unsigned(optarg, 4, 4096, &opts.contexts)) {
        fprintf(stderr, _("mediation-router: --contexts: expected 4..4096, got \"%s\"\n"), optarg);
        return 2;
      }
      break;
    case OPT_LOG:
      if (mc_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr, _("mediation-router: --log-level: unknown level \"%s\"\n"), optarg);
        return 2;
      }
      break;
    case OPT_NOSYNC: opts.unsafe_nosync = true; break;
    case OPT_UPGRADE: opts.upgrade_store = true; break;
    case OPT_STORAGE_MODE: opts.storage_mode = optarg; break;
    case OPT_NODE: {
      unsigned id;
      if (!parse_unsigned(optarg, 1, 65535, &id)) {
        fprintf(stderr, _("mediation-router: --node: expected a [cluster ID] number 1..65535, got \"%s\"\n"), optarg);
        return 2;
      }
      opts.node_id = id;
      break;
    }
    case OPT_SEED_FROM: seed_from = optarg; break;
    case 'h': print_usage(stdout); return 0;
    case OPT_VERSION: printf("mediation-router %s\n", MEDIATION_VERSION); return 0;
    default: print_usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, _("mediation-router: unexpected argument \"%s\"\n"), argv[optind]);
    print_usage(stderr);
    return 2;
  }
  /* Before any thread exists, nng's included: every thread inherits it. */
  mc_daemon_block_signals();
  mc_log_init("mediation-router", level);

  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_load(config, &reg, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: %s"), err.msg); /* for the person starting it */
    return 1;
  }
  if (seed_from != NULL) {
    int status = seed(reg, &opts, seed_from);
    mc_registry_free(reg);
    return status;
  }
  rt_router *rt = NULL;
  if (rt_router_open(reg, &opts, &rt, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "cannot start: %s: %s", mc_code_name(err.code), err.msg);
    mc_registry_free(reg);
    return 1;
  }
  mc_daemon_ready("serving");
  int sig = mc_daemon_wait_for_stop();
  mc_log(MC_LOG_NOTICE, NULL, "signal %d: stopping", sig);
  mc_daemon_stopping();
  rt_router_shutdown(rt); /* every call answered, every write committed, store closed */
  mc_daemon_exit_watchdog(5000);
  int status = rt_router_exit_status(rt);
  rt_router_free(rt);
  mc_registry_free(reg);
  if (status != 0)
    mc_log(MC_LOG_NOTICE, NULL, "exiting %d: start again to rebuild the store from the leader's "
           "snapshot", status);
  return status;
}
