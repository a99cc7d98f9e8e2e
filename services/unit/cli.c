/*
 * cli.c - un_main: what every unit daemon does before and after it serves:
 * flags, configuration, signals, readiness, stopping. The daemons never
 * fork (nng is not fork-safe) and run in the foreground under systemd.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/i18n.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/names.h"
#include "services/unit/internal.h"

static const char *kind_name(mc_unit_kind kind) {
  switch (kind) {
  case MC_UNIT_POLICE:
    return "police studio (police-studio)";
  case MC_UNIT_MARRIAGE:
    return "marriage studio (marriage-studio)";
  case MC_UNIT_COMMUNITY:
    return "community workstation (community-station)";
  }
  return "?";
}

static void usage(FILE *out, const un_policy *policy) {
  /* The program's name, its policy's about (N_() in its table), the
   * default configuration, and what --unit adds: each a %s. */
  fprintf(out,
          _("Usage: %s [options]\n"
            "\n"
            "%s"
            "\n"
            "Serves the unit's operators (service mediation.v1.Desk) on the unit's\n"
            "endpoint, and forwards every step to the router through a local outbox,\n"
            "in order and exactly once: while the router is out of reach operators\n"
            "still take cases in and act on the cases they hold; the steps go out\n"
            "when it is back, and any it refuses are listed as conflicts.\n"
            "\n"
            "Options:\n"
            "  -c, --config PATH     the deployment's mediation.conf\n"
            "                        (default %s)\n"
            "  -u, --unit ID         the unit to serve ([unit ID] in the configuration)%s\n"
            "      --log-level L     error, warning, notice, info (default) or debug\n"
            "  -h, --help            this text\n"
            "      --version         the version\n"
            "\n"
            "Stops cleanly on SIGTERM or SIGINT: operators' calls in flight are answered,\n"
            "queued steps stay in the outbox for the next start. Reports readiness to\n"
            "systemd (sd_notify) once it serves.\n"),
          policy->program, _(policy->about), MEDIATION_DEFAULT_CONFIG,
          policy->kind == MC_UNIT_COMMUNITY
              ? _("; required")
              : _(";\n                        default: the only one of its kind"));
}

int un_main(int argc, char **argv, const un_policy *policy) {
  mc_i18n_init(); /* first: every message after this is in the reader's language */
  enum { OPT_LOG = 256, OPT_VERSION };
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'},
      {"unit", required_argument, NULL, 'u'},
      {"log-level", required_argument, NULL, OPT_LOG},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  const char *config = MEDIATION_DEFAULT_CONFIG;
  const char *unit_id = NULL;
  mc_log_level level = MC_LOG_INFO;
  int ch;
  while ((ch = getopt_long(argc, argv, "c:u:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case 'u': unit_id = optarg; break;
    case OPT_LOG:
      if (mc_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr, "%s: --log-level: unknown level \"%s\"\n", policy->program, optarg);
        return 2;
      }
      break;
    case 'h': usage(stdout, policy); return 0;
    case OPT_VERSION: printf("%s %s\n", policy->program, MEDIATION_VERSION); return 0;
    default: usage(stderr, policy); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument \"%s\" (try --help)\n", policy->program,
            argv[optind]);
    return 2;
  }
  if (unit_id == NULL && policy->kind == MC_UNIT_COMMUNITY) {
    fprintf(stderr, "%s: --unit is required: one process serves one community's station\n",
            policy->program);
    return 2;
  }
  /* Before any thread exists, nng's included: every thread inherits it. */
  mc_daemon_block_signals();
  mc_log_init(policy->program, level);
  if (sodium_init() < 0) {
    mc_log(MC_LOG_ERR, NULL, "libsodium failed to initialise");
    return 1;
  }
  mc_registry *reg = NULL;
  mc_err err;
  if (mc_registry_load(config, &reg, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: %s"), err.msg); /* for the person starting it */
    return 1;
  }
  const mc_unit *self = unit_id != NULL ? mc_registry_unit(reg, unit_id)
                                        : mc_registry_first_of_kind(reg, policy->kind);
  int status = 1;
  if (self == NULL) {
    mc_log(MC_LOG_ERR, NULL, "%s: %s%s%s", config,
           unit_id ? "no [unit " : "no unit of kind ", unit_id ? unit_id : kind_name(policy->kind),
           unit_id ? "]" : "");
  } else if (self->kind != policy->kind) {
    mc_log(MC_LOG_ERR, NULL, "unit %s is a %s; run that program for it, not %s", self->id,
           kind_name(self->kind), policy->program);
  } else {
    un_unit *u = NULL;
    if (un_unit_open(reg, self, policy, &u, &err) != MC_OK) {
      mc_log(MC_LOG_ERR, NULL, "cannot start: %s: %s", mc_code_name(err.code), err.msg);
    } else {
      mc_daemon_ready("serving");
      int sig = mc_daemon_wait_for_stop();
      mc_log(MC_LOG_NOTICE, NULL, "signal %d: stopping", sig);
      mc_daemon_stopping();
      /* The outbox is durable step by step: whatever the stop does not
       * finish is forwarded at the next start. Bounded, because closing
       * nng sockets can hang in nng 1.5.2. */
      mc_daemon_exit_watchdog(15000);
      un_unit_free(u);
      status = 0;
    }
  }
  mc_registry_free(reg);
  return status;
}
