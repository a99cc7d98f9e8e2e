/*
 * main.c - mediation-remind: tells each unit, by mail and/or in its group
 * chat, what is overdue, due soon and waiting for it (see remind.h for
 * where the lists come from and why they hold nothing personal).
 *
 * One daemon does both jobs, rather than a timer for the digest beside a
 * daemon for the alerts, because both need the same memory: a digest that
 * was already sent today must not go again after a restart, an alert must
 * go exactly once, and a message a relay refused must wait for the next try
 * in the same queue whichever job made it. One process owning one state
 * file needs no locking between two. Every check_minutes it asks the router
 * for each unit's cases, queues the unit's digest once a day after its
 * digest_at, queues an alert for cases overdue since the last look, and
 * sends what is queued; it also wakes at each unit's digest_at. `--once`
 * runs one such cycle and exits (scripts, tests); `--digest` queues every
 * unit's digest now, whatever the hour, and sends it.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/daemon.h"
#include "core/i18n.h"
#include "core/log.h"
#include "core/registry.h"
#include "rpc/client.h"
#include "rpc/identity.h"
#include "services/remind/remind.h"

/* The help, with the default configuration's path for %s. */
static const char usage[] = N_(
    "Usage: mediation-remind [options]\n"
    "\n"
    "Each morning, a digest per unit of its overdue cases, those due soon and\n"
    "the offers waiting for it; and an alert when a case becomes overdue. Sent\n"
    "by mail through the unit's SMTP relay and/or to its WeCom or DingTalk group\n"
    "robot, as the unit's [unit] section says (docs/configuration.md). Messages\n"
    "hold case ids and unit and community names only.\n"
    "\n"
    "Options:\n"
    "  -c, --config PATH   the deployment's mediation.conf\n"
    "                      (default %s)\n"
    "      --once          one cycle (look, queue, send), then exit\n"
    "      --digest        queue every unit's digest now, send, then exit\n"
    "      --log-level L   error, warning, notice, info (default) or debug\n"
    "  -h, --help          this text\n"
    "      --version       the version\n"
    "\n"
    "Exit status of --once and --digest: 0 everything sent; 4 something waits\n"
    "(a unit's cases could not be read, or a relay or robot refused: it is kept\n"
    "in [remind] data_dir/remind.state and sent by the next run); 1 the\n"
    "configuration, key or state file is wrong; 2 the command line is.\n"
    "As a daemon it stops cleanly on SIGTERM or SIGINT.\n");

static void print_usage(FILE *to) { fprintf(to, _(usage), MEDIATION_DEFAULT_CONFIG); }

enum { OPT_ONCE = 256, OPT_DIGEST, OPT_LOG, OPT_VERSION };

typedef struct ctx {
  mc_registry *reg;
  rpc_key *key;
  rpc_client *client;
  rm_state st;
  bool waiting; /* this cycle left something for the next */
} ctx;

static bool has_channel(const mc_unit *u) {
  return u->remind.smtp_url != NULL || u->remind.webhook_url != NULL;
}

/* Minutes after local midnight of the unit's digest (digest_at, checked
 * by the registry loader as HH:MM). */
static int digest_minute(const mc_unit *u) {
  const char *t = u->remind.digest_at ? u->remind.digest_at : "08:00";
  return ((t[0] - '0') * 10 + (t[1] - '0')) * 60 + (t[3] - '0') * 10 + (t[4] - '0');
}

static void local_day(const mc_registry *reg, int64_t ms, char out[16]) {
  mc_date d = mc_date_of(ms, reg->utc_offset_minutes);
  snprintf(out, 16, "%04d-%02d-%02d", d.year % 10000, d.month, d.day);
}

/* Unix ms of the unit's digest on the local day of `ms`. */
static int64_t digest_time(const mc_registry *reg, const mc_unit *u, int64_t ms) {
  mc_date d = mc_date_of(ms, reg->utc_offset_minutes);
  return mc_date_to_ms(d, reg->utc_offset_minutes) + (int64_t)digest_minute(u) * 60000;
}

static bool digest_due(ctx *c, const mc_unit *u, int64_t now) {
  char today[16];
  local_day(c->reg, now, today);
  return now >= digest_time(c->reg, u, now) &&
         strcmp(rm_state_digest_day(&c->st, u->id), today) != 0;
}

static void queue(ctx *c, const mc_unit *u, char *subject, char *body, int64_t now,
                  const char *what) {
  if (subject == NULL || body == NULL)
    mc_log(MC_LOG_ERR, NULL, "unit %s: out of memory composing the %s", u->id, what);
  else
    rm_state_enqueue(&c->st, u, subject, body, now);
  free(subject);
  free(body);
}

/* Looks at one unit: queues its digest if due (or forced), and an alert for
 * cases overdue since the last look. */
static void look(ctx *c, const mc_unit *u, bool force_digest) {
  rm_unit_view v;
  mc_err err;
  if (rm_gather(c->client, c->reg, u, &v, &err) != MC_OK) {
    mc_log(MC_LOG_WARNING, NULL, "unit %s: the router's lists could not be read (%s: %s); "
           "trying again next cycle", u->id, mc_code_name(err.code), err.msg);
    c->waiting = true;
    return;
  }
  char *subject = NULL, *body = NULL;
  bool digest = force_digest || digest_due(c, u, v.as_of_ms);
  if (digest) {
    rm_compose_digest(c->reg, &v, &subject, &body);
    queue(c, u, subject, body, v.as_of_ms, "digest");
    char today[16];
    local_day(c->reg, v.as_of_ms, today);
    rm_state_set_digest_day(&c->st, u->id, today);
    mc_log(MC_LOG_INFO, NULL, "unit %s: digest queued (%zu overdue, %zu due soon, %zu waiting)",
           u->id, v.overdue.n, v.due_soon.n, v.waiting.n);
  }
  json_object *known = rm_state_overdue(&c->st, u->id);
  if (known == NULL) {
    /* Never looked at before (first run, or its reminders are new): what is
     * overdue now is the digest's to tell, not a flood of alerts. */
    mc_log(MC_LOG_NOTICE, NULL, "unit %s: first look, %zu overdue cases taken as known",
           u->id, v.overdue.n);
  } else {
    rm_case *fresh = calloc(v.overdue.n ? v.overdue.n : 1, sizeof(*fresh));
    size_t n = 0;
    for (size_t i = 0; fresh != NULL && i < v.overdue.n; i++) {
      json_object *d = NULL;
      const rm_case *k = &v.overdue.items[i];
      if (json_object_object_get_ex(known, k->id, &d) &&
          json_object_get_int64(d) == k->deadline_ms)
        continue;
      mc_log(MC_LOG_INFO, k->id, "unit %s: newly overdue", u->id);
      fresh[n++] = *k;
    }
    if (fresh == NULL) {
      mc_log(MC_LOG_ERR, NULL, "unit %s: out of memory", u->id);
      rm_view_free(&v);
      c->waiting = true;
      return; /* the told set is left as it was: the next cycle tells them */
    }
    /* A digest queued in this same cycle lists them already. */
    if (n > 0 && !digest) {
      rm_compose_alert(c->reg, u, fresh, n, v.as_of_ms, &subject, &body);
      queue(c, u, subject, body, v.as_of_ms, "alert");
      mc_log(MC_LOG_INFO, NULL, "unit %s: alert queued (%zu newly overdue)", u->id, n);
    }
    free(fresh);
  }
  rm_state_set_overdue(&c->st, u->id, &v.overdue);
  rm_view_free(&v);
}

/* Sends what is queued, oldest first; keeps what a relay or robot refused.
 * The state is saved after each message that went, so a crash resends at
 * most the one in flight. */
static void deliver(ctx *c) {
  json_object *q = rm_state_queue(&c->st);
  size_t i = 0;
  while (i < json_object_array_length(q)) {
    json_object *m = json_object_array_get_idx(q, i), *f;
    const char *unit = json_object_object_get_ex(m, "unit", &f) ? json_object_get_string(f) : "";
    const char *channel =
        json_object_object_get_ex(m, "channel", &f) ? json_object_get_string(f) : "";
    const char *subject =
        json_object_object_get_ex(m, "subject", &f) ? json_object_get_string(f) : "";
    const char *body = json_object_object_get_ex(m, "body", &f) ? json_object_get_string(f) : "";
    int attempts = json_object_object_get_ex(m, "attempts", &f) ? json_object_get_int(f) : 0;
    const mc_unit *u = mc_registry_unit(c->reg, unit);
    bool mail = strcmp(channel, "mail") == 0, hook = strcmp(channel, "webhook") == 0;
    if (u == NULL || (mail && u->remind.smtp_url == NULL) ||
        (hook && u->remind.webhook_url == NULL) || (!mail && !hook)) {
      /* The configuration no longer has where it was to go. */
      mc_log(MC_LOG_WARNING, NULL, "unit %s: a queued %s message dropped: the unit no longer "
             "has that channel in the configuration", unit, channel);
      json_object_array_del_idx(q, i, 1);
      continue;
    }
    mc_err err;
    int64_t now = mc_now_ms();
    mc_code rc = mail ? rm_send_mail(u, subject, body, now, &err)
                      : rm_send_webhook(u, subject, body, &err);
    if (rc == MC_OK) {
      mc_log(MC_LOG_INFO, NULL, "unit %s: %s message sent%s", unit, channel,
             attempts > 0 ? " (after a retry)" : "");
      json_object_array_del_idx(q, i, 1);
      if (rm_state_save(&c->st, &err) != MC_OK)
        mc_log(MC_LOG_ERR, NULL, "saving the reminder state: %s", err.msg);
      continue;
    }
    json_object_object_add(m, "attempts", json_object_new_int(attempts + 1));
    mc_log(MC_LOG_WARNING, NULL, "unit %s: %s message not sent (attempt %d): %s; kept for the "
           "next cycle", unit, channel, attempts + 1, err.msg);
    c->waiting = true;
    i++;
  }
}

static int cycle(ctx *c, bool force_digest) {
  c->waiting = false;
  int64_t started = mc_mono_ms();
  for (size_t i = 0; i < c->reg->n_units; i++) {
    if (has_channel(&c->reg->units[i]))
      look(c, &c->reg->units[i], force_digest);
  }
  mc_err err;
  /* Queued and recorded as told in one write, before anything is sent. */
  if (rm_state_save(&c->st, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "saving the reminder state: %s; nothing sent", err.msg);
    return 1;
  }
  deliver(c);
  if (rm_state_save(&c->st, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "saving the reminder state: %s", err.msg);
    return 1;
  }
  mc_log(MC_LOG_INFO, NULL, "cycle done in %lld ms; %zu messages wait for a retry",
         (long long)(mc_mono_ms() - started), json_object_array_length(rm_state_queue(&c->st)));
  return c->waiting ? 4 : 0;
}

/* How long the daemon sleeps: check_minutes, or less to meet a digest. */
static int64_t sleep_ms(ctx *c) {
  int64_t now = mc_now_ms(), wait = c->reg->remind.check_ms;
  for (size_t i = 0; i < c->reg->n_units; i++) {
    const mc_unit *u = &c->reg->units[i];
    if (!has_channel(u))
      continue;
    int64_t at = digest_time(c->reg, u, now);
    if (at <= now)
      at = digest_time(c->reg, u, now + 86400000);
    if (at - now < wait)
      wait = at - now + 1000; /* a second late, never a moment early */
  }
  return wait;
}

/* Sleeps up to ms; true when asked to stop. */
static bool wait_for_stop(int64_t ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  int sig = sigtimedwait(&set, NULL, &ts);
  return sig > 0;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'},
      {"once", no_argument, NULL, OPT_ONCE},
      {"digest", no_argument, NULL, OPT_DIGEST},
      {"log-level", required_argument, NULL, OPT_LOG},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  const char *config = MEDIATION_DEFAULT_CONFIG;
  bool once = false, digest = false;
  mc_log_level level = MC_LOG_INFO;
  int ch;
  mc_i18n_init(); /* first: what a person reads is in their language */
  while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': config = optarg; break;
    case OPT_ONCE: once = true; break;
    case OPT_DIGEST: digest = true; break;
    case OPT_LOG:
      if (mc_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr,
                _("mediation-remind: --log-level: expected error, warning, notice, info "
                  "or debug, got \"%s\"\n"),
                optarg);
        return 2;
      }
      break;
    case 'h': print_usage(stdout); return 0;
    case OPT_VERSION: printf("mediation-remind %s\n", MEDIATION_VERSION); return 0;
    default: print_usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, _("mediation-remind: unexpected argument \"%s\"\n"), argv[optind]);
    print_usage(stderr);
    return 2;
  }
  mc_daemon_block_signals();
  mc_log_init("mediation-remind", level);
  ctx c = {0};
  mc_err err;
  if (mc_registry_load(config, &c.reg, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: %s"), err.msg); /* for the person starting it */
    return 1;
  }
  int rc = 1;
  const char *principal = c.reg->remind.principal;
  for (size_t i = 0; principal == NULL && i < c.reg->n_principals; i++) {
    if (c.reg->principals[i].kind == MC_PRINCIPAL_COORDINATOR)
      principal = c.reg->principals[i].id;
  }
  const mc_principal *named = mc_registry_principal(c.reg, "coordinator");
  if (c.reg->remind.principal == NULL && named != NULL && named->kind == MC_PRINCIPAL_COORDINATOR)
    principal = named->id; /* as mediactl chooses */
  size_t channels = 0;
  for (size_t i = 0; i < c.reg->n_units; i++)
    channels += has_channel(&c.reg->units[i]);
  if (c.reg->remind.data_dir == NULL) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: [remind] data_dir is required"));
  } else if (principal == NULL) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: no [coordinator] to ask the router as"));
  } else if (mc_registry_router_endpoints(c.reg, NULL, 0) == 0) {
    mc_log(MC_LOG_ERR, NULL, _("configuration: [router] has no endpoint"));
  } else if (!rm_send_init()) {
    mc_log(MC_LOG_ERR, NULL, "libcurl could not be initialised");
  } else if (rpc_key_load(c.reg->keys_dir, principal, &c.key, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "the key of %s: %s", principal, err.msg);
  } else if (rpc_client_for_routers(c.reg, c.key, /* one router, or a cluster's */
                                    &(rpc_client_opts){.max_in_flight = 2,
                                                  .fail_when_refused = once || digest,
                                                  .tls_ca_file = c.reg->router.tls_ca,
                                                  .tls_server_name =
                                                      c.reg->router.tls_server_name},
                               &c.client, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "the router: %s", err.msg);
  } else if (rm_state_load(&c.st, c.reg->remind.data_dir, &err) != MC_OK) {
    mc_log(MC_LOG_ERR, NULL, "%s", err.msg);
  } else {
    mc_log(MC_LOG_NOTICE, NULL, "%zu units with reminders; asking the router as %s%s", channels,
           principal, c.st.fresh ? "; no state yet (first run)" : "");
    if (once || digest) {
      rc = cycle(&c, digest);
    } else {
      mc_daemon_ready("checking");
      do
        rc = cycle(&c, false);
      while (rc != 1 && !wait_for_stop(sleep_ms(&c)));
      mc_daemon_stopping();
      rc = rc == 1 ? 1 : 0;
    }
    rm_state_free(&c.st);
  }
  rpc_client_free(c.client);
  rpc_key_free(c.key);
  rm_send_cleanup();
  mc_registry_free(c.reg);
  return rc;
}
