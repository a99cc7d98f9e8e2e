/*
 * world.h - a whole deployment for black-box tests: a temporary directory
 * made by deploy/mkdeploy (keys and mediation.conf), the real daemons
 * started from the build tree, and signed RPC clients acting as any
 * principal. Everything is removed and stopped by tw_destroy, which cmocka
 * teardowns call even when a test fails.
 */
#ifndef TW_WORLD_H
#define TW_WORLD_H

#include <stdbool.h>

#include "core/registry.h"
#include "harness.h"
#include "rpc/rpc.h"

#define TW_MAX_CLIENTS 32
#define TW_MAX_UNITS 8

typedef struct tw_world {
  th_dir dir;
  char conf[TH_PATH_MAX];
  mc_registry *reg;
  th_proc router;
  th_proc units[TW_MAX_UNITS];
  char unit_ids[TW_MAX_UNITS][64];
  int n_units;
  rpc_key *keys[TW_MAX_CLIENTS]; /* one per principal */
  int n_keys;
  rpc_client *clients[TW_MAX_CLIENTS]; /* one per (principal, url) */
  const rpc_key *client_keys[TW_MAX_CLIENTS];
  int n_clients;
} tw_world;

/* Makes the deployment: mkdeploy into a new temporary directory (ipc
 * endpoints, or tcp on free 127.0.0.1 ports), then appends extra_conf (may
 * be NULL; later sections override earlier keys) and loads the registry.
 * Returns 0 or -1 (with a message on stderr). */
int tw_make(tw_world *w, const char *tag, const char *extra_conf, bool tcp);

/* Loads w's registry again from w->conf (after a test appended sections
 * to it). 0 or -1 (with a message on stderr). */
int tw_reload(tw_world *w);

/* deploy/tls-setup --dir dir --name router.test --ip 127.0.0.1 [--rsa]:
 * what it printed (malloc'd, the caller frees: the [router] lines for
 * mediation.conf), or NULL with a message on stderr. */
char *tw_tls_setup(const char *dir, bool rsa);

/* What docs/deploy.md says: tw_make over tcp with tls_lines (tw_tls_setup's)
 * appended, the router's endpoint switched to tls+tcp on the same port, the
 * registry reloaded, and the router started. 0 or -1. */
int tw_make_tls(tw_world *w, const char *tag, const char *tls_lines);

/* Starts mediation-router on the deployment's config (extra_args: NULL or a
 * NULL-terminated list appended to the command line). 0 or -1. */
int tw_start_router(tw_world *w, const char *const *extra_args);

/* Stops the router (SIGTERM); returns its exit status. */
int tw_stop_router(tw_world *w);

/* Starts a unit daemon (program: "police-studio", "marriage-studio" or
 * "community-station") for the unit id. 0 or -1. */
int tw_start_unit(tw_world *w, const char *program, const char *unit_id);

/* Stops (SIGTERM) a unit daemon started by tw_start_unit; its exit status. */
int tw_stop_unit(tw_world *w, const char *unit_id);
th_proc *tw_unit_proc(tw_world *w, const char *unit_id);

/* A client signing as `principal`, dialing url (NULL: the router). Owned by
 * the world. NULL on failure (message on stderr). */
rpc_client *tw_client(tw_world *w, const char *principal, const char *url);

/* The key of a principal, loaded by tw_client (or now). Owned by the world. */
rpc_key *tw_key(tw_world *w, const char *principal);

/* Frees clients, stops daemons, removes the directory. Idempotent. */
void tw_destroy(tw_world *w);

#endif /* TW_WORLD_H */
