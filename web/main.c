/*
 * main.c - mediation-web: flags, configuration, the site's key and RPC
 * client, start, and a clean stop on SIGTERM.
 *
 * One process serves one site: --unit UNIT (that unit's desk, calling its
 * unit daemon's Desk as the site's principal, by default UNIT-operator) or
 * --coordinator (calling the router as a coordinator). Like every daemon of
 * the system it runs in the foreground, never forks (nng is not
 * fork-safe), reports readiness once it serves and stops on SIGTERM/SIGINT
 * (core/daemon.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/i18n.h"
#include "core/daemon.h"
#include "core/log.h"
#include "core/registry.h"
#include "web/gateway.h"

/* The document workers: rendering is CPU (two cores on the deployments
 * we know) and a ledger waits on RPCs, so a few threads; the queue holds
 * a burst of a dozen desks asking at once, and a fuller one is 503. */
#define WG_DOC_THREADS 3
#define WG_DOC_QUEUE 12

#ifndef MEDIATION_WEB_STATIC_DIR
#define MEDIATION_WEB_STATIC_DIR "/usr/local/share/mediation/web"
#endif

static void usage(FILE *out) {
  fprintf(out,
          _("Usage: mediation-web [options] (--unit UNIT | --coordinator)\n"
            "\n"
            "The HTTP/JSON gateway of one site: persons log in with their own\n"
            "accounts (mediactl user) and work through their browser; the gateway\n"
            "calls the unit's Desk service (--unit) or the router (--coordinator)\n"
            "with the site's key and records the logged-in person in every step.\n"
            "\n"
            "Options:\n"
            "  -c, --config PATH     the deployment's mediation.conf\n"
            "                        (default %s)\n"
            "  -u, --unit ID         serve this unit's desk ([web \"ID\"] in the configuration)\n"
            "      --coordinator     serve the coordinators ([web \"coordinators\"])\n"
            "      --listen URL      http://HOST:PORT or https://HOST:PORT instead of the\n"
            "                        site's listen\n"
            "      --log-level L     error, warning, notice, info (default) or debug\n"
            "  -h, --help            this text\n"
            "      --version         the version\n"
            "\n"
            "Stops cleanly on SIGTERM or SIGINT. Reports readiness to systemd (sd_notify)\n"
            "once it serves. See docs/web.md.\n"),
          MEDIATION_DEFAULT_CONFIG);
}

static const char *first_coordinator(const mc_registry *reg) {
  for (size_t i = 0; i < reg->n_principals; i++)
    if (reg->principals[i].kind == MC_PRINCIPAL_COORDINATOR)
      return reg->principals[i].id;
  return NULL;
}

typedef struct wg_main {
  mc_registry *reg;
  rpc_key *key;
  rpc_client *client;
  wa_store *accounts;
  wg_gateway g;
} wg_main;

/* Loads the site's key, opens the RPC client, the accounts and the
 * workers, and starts the HTTP server: everything serve() needs running
 * once the configuration is known to be complete. Returns 0, or 1 after
 * logging what failed (teardown() frees what was made). */
static int start_parts(wg_main *m, const mc_web_site *ws, const char *principal, const char *url,
                       bool coordinator) {
  mc_registry *reg = m->reg;
  wg_gateway *g = &m->g;
  mc_err err;
  if (rpc_key_load(reg->keys_dir, principal, &m->key, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "the key of %s: %s", principal, err.msg);
    return 1;
  }
  /* fail_when_refused: with the unit daemon (or router) down, a browser is
   * told 503 within ~200 ms instead of at the 10 s deadline; the events
   * watcher then retries every second. */
  rpc_client_opts opts = {
      .max_in_flight = 64,
      .default_timeout_ms = g->conf.call_timeout_ms,
      .fail_when_refused = true,
      .tls_ca_file = reg->router.tls_ca,
      .tls_server_name = coordinator ? reg->router.tls_server_name : NULL,
  };
  /* The coordinators' router client follows a cluster's leader. */
  mc_code rc = coordinator ? rpc_client_for_routers(reg, m->key, &opts, &m->client, &err)
                           : rpc_client_create(url, m->key, &reg->limits, &opts, &m->client, &err);
  if (rc != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "cannot use %s: %s", url, err.msg);
    return 1;
  }
  if (wa_open(ws->data_dir, &m->accounts, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "accounts in %s: %s", ws->data_dir, err.msg);
    return 1;
  }
  g->client = m->client;
  g->accounts = m->accounts;
  if (wg_sessions_create(g->conf.max_sessions, g->conf.idle_ms, g->conf.absolute_ms, &g->sessions,
                         &err) != MC_OK ||
      wg_addr_guard_create(4096, &g->guard, &err) != MC_OK ||
      wg_workers_start("login", 2, 64, N_("too many logins at once: try again"), &g->login,
                       &err) != MC_OK ||
      wg_workers_start("documents", WG_DOC_THREADS, WG_DOC_QUEUE,
                       N_("too many documents are being made: try again in a few seconds"),
                       &g->docs, &err) != MC_OK ||
      (g->conf.kind == WG_UNIT && wg_events_start(g, &g->events, &err) != MC_OK)) {
    mc_log(MC_LOG_ERR, NULL, "cannot start: %s", err.msg);
    return 1;
  }
  if (wg_http_start(g, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "cannot start: %s: %s", mc_code_name(err.code), err.msg);
    return 1;
  }
  return 0;
}

static int serve(wg_main *m, const char *unit_id, bool coordinator, const char *listen) {
  mc_registry *reg = m->reg;
  wg_gateway *g = &m->g;
  const char *site = coordinator ? MC_WEB_COORDINATORS : unit_id;
  const mc_web_site *ws = mc_registry_web_site(reg, site);
  const mc_unit *unit = coordinator ? NULL : mc_registry_unit(reg, unit_id);
  if (!coordinator && unit == NULL) {
    mc_log(MC_LOG_ERR, NULL, "configuration: no [unit %s]", unit_id);
    return 1;
  }
  if (ws == NULL) {
    mc_log(MC_LOG_ERR, NULL, "configuration: no [web \"%s\"] section", site);
    return 1;
  }
  /* The coordinators' site asks the router: the first of a cluster's here,
   * all of them in start_parts. */
  const char *url = unit != NULL ? unit->endpoint : NULL;
  if (coordinator)
    mc_registry_router_endpoints(reg, &url, 1);
  if (url == NULL || url[0] == '\0') {
    mc_log(MC_LOG_ERR, NULL, "configuration: %s has no endpoint",
           coordinator ? "[router]" : "the unit");
    return 1;
  }
  char principal[128];
  if (ws->principal != NULL && ws->principal[0] != '\0')
    snprintf(principal, sizeof(principal), "%s", ws->principal);
  else if (coordinator && first_coordinator(reg) != NULL)
    snprintf(principal, sizeof(principal), "%s", first_coordinator(reg));
  else if (!coordinator)
    snprintf(principal, sizeof(principal), "%s-operator", unit->id);
  else {
    mc_log(MC_LOG_ERR, NULL, "configuration: no coordinator to sign as ([web \"coordinators\"] "
                             "principal)");
    return 1;
  }
  g->conf = (wg_conf){
      .kind = coordinator ? WG_COORDINATOR : WG_UNIT,
      .site = site,
      .listen = listen ? listen : ws->listen,
      .tls_cert = ws->tls_cert,
      .tls_key = ws->tls_key,
      .static_dir = reg->web.static_dir ? reg->web.static_dir : MEDIATION_WEB_STATIC_DIR,
      .idle_ms = reg->web.idle_ms,
      .absolute_ms = reg->web.absolute_ms,
      .max_body = reg->web.max_body_bytes,
      .max_per_client = reg->web.max_conns_per_client,
      .max_sessions = 4096,
      .call_timeout_ms = 10000,
      .reg = reg,
  };
  if (g->conf.listen == NULL || g->conf.listen[0] == '\0') {
    mc_log(MC_LOG_ERR, NULL, "configuration: [web \"%s\"] has no listen (or give --listen)", site);
    return 1;
  }
  if (ws->data_dir == NULL || ws->data_dir[0] == '\0') {
    mc_log(MC_LOG_ERR, NULL, "configuration: [web \"%s\"] has no data_dir", site);
    return 1;
  }
  if (start_parts(m, ws, principal, url, coordinator) != 0)
    return 1;
  mc_log(MC_LOG_NOTICE, NULL, "serving site %s on %s as %s, calling %s", site, g->conf.listen,
         principal, url);
  mc_daemon_ready("serving");
  int sig = mc_daemon_wait_for_stop();
  mc_log(MC_LOG_NOTICE, NULL, "signal %d: stopping", sig);
  mc_daemon_stopping();
  /* Bounded: closing nng sockets can hang in nng 1.5.2; nothing is lost
   * (sessions are in memory by design, accounts committed per login). */
  mc_daemon_exit_watchdog(15000);
  return 0;
}

/* Stops in the order that lets everything in flight be answered: the
 * watcher first (parked long polls get 503, and one arriving now is
 * answered at once instead of being parked where nothing would answer
 * it), then the workers (queued logins and downloads get 503, running ones
 * finish with the server and the client still there, every thread is
 * joined; a job submitted later is refused at once), then the server (its
 * stop waits for every request held: RPC calls end by their deadlines),
 * the client (ending the watcher's own call and any callback that could
 * still submit a job), and only then the pools' memory. */
static void teardown(wg_main *m) {
  wg_gateway *g = &m->g;
  wg_events_halt(g->events);
  wg_workers_stop(g->login);
  wg_workers_stop(g->docs);
  wg_http_stop(g);
  rpc_client_free(m->client);
  wg_events_free(g->events);
  wg_workers_free(g->docs);
  wg_workers_free(g->login);
  wg_addr_guard_free(g->guard);
  wg_sessions_free(g->sessions);
  wa_close(m->accounts);
  rpc_key_free(m->key);
  mc_registry_free(m->reg);
}

int main(int argc, char **argv) {
  mc_i18n_init(); /* first: messages in the reader's language (browsers: per request, api.c) */
  enum { OPT_LOG = 256, OPT_VERSION, OPT_COORD, OPT_LISTEN };
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'},
      {"unit", required_argument, NULL, 'u'},
      {"coordinator", no_argument, NULL, OPT_COORD},
      {"listen", required_argument, NULL, OPT_LISTEN},
      {"log-level", required_argument, NULL, OPT_LOG},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  const char *config = MEDIATION_DEFAULT_CONFIG, *unit_id = NULL, *listen = NULL;
  bool coordinator = false;
  mc_log_level level = MC_LOG_INFO;
  int ch;
  while ((ch = getopt_long(argc, argv, "c:u:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case 'u': unit_id = optarg; break;
    case OPT_COORD: coordinator = true; break;
    case OPT_LISTEN: listen = optarg; break;
    case OPT_LOG:
      if (mc_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr, "mediation-web: --log-level: unknown level \"%s\"\n", optarg);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    case OPT_VERSION: printf("mediation-web %s\n", MEDIATION_VERSION); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mediation-web: unexpected argument \"%s\" (try --help)\n", argv[optind]);
    return 2;
  }
  if ((unit_id == NULL) == !coordinator) {
    fprintf(stderr, "mediation-web: give exactly one of --unit UNIT and --coordinator\n");
    return 2;
  }
  /* Before any thread exists, nng's included: every thread inherits it. */
  mc_daemon_block_signals();
  mc_log_init("mediation-web", level);
  if (sodium_init() < 0) {
    mc_log(MC_LOG_ERR, NULL, "libsodium failed to initialise");
    return 1;
  }
  wg_main m;
  memset(&m, 0, sizeof(m));
  mc_err err;
  if (mc_registry_load(config, &m.reg, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: %s"), err.msg); /* for the person starting it */
    return 1;
  }
  m.g.reg = m.reg; /* for documents.c: names and the UTC offset */
  int status = serve(&m, unit_id, coordinator, listen);
  teardown(&m);
  return status;
}
