/*
 * world.c - whole deployments for black-box tests (see world.h).
 */
#include "world.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(fd);
  return ok;
}

/* A base port with 10 free ports after it, away from the ephemeral range. */
static int free_port_base(void) {
  for (int attempt = 0; attempt < 200; attempt++) {
    int base = 20000 + (int)((getpid() * 37 + attempt * 997) % 2000) * 10;
    bool ok = true;
    for (int p = base; p < base + 10 && ok; p++)
      ok = port_free(p);
    if (ok)
      return base;
  }
  return -1;
}

int tw_make(tw_world *w, const char *tag, const char *extra_conf, bool tcp) {
  memset(w, 0, sizeof(*w));
  if (th_dir_make(&w->dir, tag) != 0) {
    perror("tw_make: mkdtemp");
    return -1;
  }
  char mkdeploy[TH_PATH_MAX], keygen[TH_PATH_MAX], port[16];
  snprintf(mkdeploy, sizeof(mkdeploy), "%s/deploy/mkdeploy", MEDIATION_SOURCE_DIR);
  th_bin(keygen, sizeof(keygen), "rpc/mediation-keygen");
  const char *argv[10] = {mkdeploy, "--dir", w->dir.path, "--keygen", keygen};
  int argc = 5;
  if (tcp) {
    int base = free_port_base();
    if (base < 0) {
      fprintf(stderr, "tw_make: no free ports\n");
      return -1;
    }
    snprintf(port, sizeof(port), "%d", base);
    argv[argc++] = "--tcp";
    argv[argc++] = port;
  }
  argv[argc] = NULL;
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, 30000);
  if (rc != 0) {
    fprintf(stderr, "tw_make: mkdeploy failed (%d): %s%s\n", rc, out ? out : "", err ? err : "");
    free(out);
    free(err);
    return -1;
  }
  free(out);
  free(err);
  if (snprintf(w->conf, sizeof(w->conf), "%s/mediation.conf", w->dir.path) >=
      (int)sizeof(w->conf)) {
    fprintf(stderr, "tw_make: path too long: %s\n", w->dir.path);
    return -1;
  }
  if (extra_conf != NULL) {
    FILE *f = fopen(w->conf, "a");
    if (f == NULL || fprintf(f, "\n%s\n", extra_conf) < 0 || fclose(f) != 0) {
      fprintf(stderr, "tw_make: cannot append to %s\n", w->conf);
      return -1;
    }
  }
  /* MEDIATION_TEST_STORAGE_MODE=raft runs the same test with the router on
   * its raft log (ctest's *_raft tests), with checkpoints every 64 entries
   * so that a test of a few hundred steps crosses several. */
  const char *mode = getenv("MEDIATION_TEST_STORAGE_MODE");
  if (mode != NULL && mode[0] != '\0') {
    FILE *f = fopen(w->conf, "a");
    if (f == NULL ||
        fprintf(f, "\n[storage]\nmode = %s\ncheckpoint_entries = 64\n", mode) < 0 ||
        fclose(f) != 0) {
      fprintf(stderr, "tw_make: cannot append to %s\n", w->conf);
      return -1;
    }
  }
  mc_err e;
  if (mc_registry_load(w->conf, &w->reg, &e) != MC_OK) {
    fprintf(stderr, "tw_make: %s\n", e.msg);
    return -1;
  }
  return 0;
}

char *tw_tls_setup(const char *dir, bool rsa) {
  char script[TH_PATH_MAX];
  snprintf(script, sizeof(script), "%s/deploy/tls-setup", MEDIATION_SOURCE_DIR);
  const char *argv[] = {script,      "--dir", dir, "--name", "router.test", "--ip",
                        "127.0.0.1", rsa ? "--rsa" : NULL, NULL};
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, 60000);
  if (rc != 0) {
    fprintf(stderr, "tls-setup failed (%d): %s%s\n", rc, out ? out : "", err ? err : "");
    free(out);
    out = NULL;
  }
  free(err);
  return out;
}

int tw_make_tls(tw_world *w, const char *tag, const char *tls_lines) {
  if (tw_make(w, tag, tls_lines, true) != 0)
    return -1;
  /* mkdeploy --tcp gave the router tcp://127.0.0.1:BASE; serve TLS there. */
  const char *plain = w->reg->router.endpoint;
  if (strncmp(plain, "tcp://127.0.0.1:", 16) != 0)
    return -1;
  FILE *f = fopen(w->conf, "a");
  if (f == NULL || fprintf(f, "\n[router]\nendpoint = tls+%s\n", plain) < 0 || fclose(f) != 0)
    return -1;
  if (tw_reload(w) != 0)
    return -1;
  return tw_start_router(w, NULL);
}

int tw_reload(tw_world *w) {
  mc_registry_free(w->reg);
  w->reg = NULL;
  mc_err err;
  if (mc_registry_load(w->conf, &w->reg, &err) != MC_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

int tw_start_router(tw_world *w, const char *const *extra_args) {
  char bin[TH_PATH_MAX], log[TH_PATH_MAX + 64];
  th_bin(bin, sizeof(bin), "router/mediation-router");
  snprintf(log, sizeof(log), "%s/router.log", w->dir.path);
  const char *argv[32] = {bin, "--config", w->conf};
  int argc = 3;
  for (int i = 0; extra_args && extra_args[i] && argc < 31; i++)
    argv[argc++] = extra_args[i];
  argv[argc] = NULL;
  return th_start(&w->router, "mediation-router", argv, log, 30000);
}

int tw_stop_router(tw_world *w) { return th_stop(&w->router, 20000); }

th_proc *tw_unit_proc(tw_world *w, const char *unit_id) {
  for (int i = 0; i < w->n_units; i++) {
    if (strcmp(w->unit_ids[i], unit_id) == 0)
      return &w->units[i];
  }
  return NULL;
}

int tw_start_unit(tw_world *w, const char *program, const char *unit_id) {
  th_proc *p = tw_unit_proc(w, unit_id);
  if (p == NULL) {
    if (w->n_units == TW_MAX_UNITS)
      return -1;
    p = &w->units[w->n_units];
    snprintf(w->unit_ids[w->n_units], sizeof(w->unit_ids[0]), "%s", unit_id);
    w->n_units++;
  }
  char bin[TH_PATH_MAX], rel[128], log[TH_PATH_MAX + 128];
  snprintf(rel, sizeof(rel), "services/%s", program);
  th_bin(bin, sizeof(bin), rel);
  snprintf(log, sizeof(log), "%s/%s.log", w->dir.path, unit_id);
  const char *argv[] = {bin, "--config", w->conf, "--unit", unit_id, NULL};
  return th_start(p, unit_id, argv, log, 30000);
}

int tw_stop_unit(tw_world *w, const char *unit_id) {
  th_proc *p = tw_unit_proc(w, unit_id);
  return p ? th_stop(p, 20000) : -1;
}

rpc_key *tw_key(tw_world *w, const char *principal) {
  for (int i = 0; i < w->n_keys; i++) {
    if (strcmp(rpc_key_principal(w->keys[i]), principal) == 0)
      return w->keys[i];
  }
  if (w->n_keys == TW_MAX_CLIENTS)
    return NULL;
  mc_err e;
  rpc_key *key = NULL;
  if (rpc_key_load(w->reg->keys_dir, principal, &key, &e) != MC_OK) {
    fprintf(stderr, "tw_key %s: %s\n", principal, e.msg);
    return NULL;
  }
  w->keys[w->n_keys++] = key;
  return key;
}

rpc_client *tw_client(tw_world *w, const char *principal, const char *url) {
  rpc_key *key = tw_key(w, principal);
  if (key == NULL)
    return NULL;
  if (url == NULL)
    url = w->reg->router.endpoint;
  for (int i = 0; i < w->n_clients; i++) {
    if (w->client_keys[i] == key && strcmp(rpc_client_url(w->clients[i]), url) == 0)
      return w->clients[i];
  }
  if (w->n_clients == TW_MAX_CLIENTS) {
    fprintf(stderr, "tw_client: more than %d clients\n", TW_MAX_CLIENTS);
    return NULL;
  }
  mc_err e;
  rpc_client_opts opts = {.default_timeout_ms = 10000};
  rpc_client *c = NULL;
  if (rpc_client_create(url, key, &w->reg->limits, &opts, &c, &e) != MC_OK) {
    fprintf(stderr, "tw_client %s: %s\n", principal, e.msg);
    return NULL;
  }
  w->client_keys[w->n_clients] = key;
  w->clients[w->n_clients++] = c;
  return c;
}

void tw_destroy(tw_world *w) {
  for (int i = 0; i < w->n_clients; i++) {
    rpc_client_free(w->clients[i]);
    w->clients[i] = NULL;
  }
  for (int i = 0; i < w->n_units; i++)
    th_stop(&w->units[i], 20000);
  th_stop(&w->router, 20000);
  w->n_clients = 0;
  for (int i = 0; i < w->n_keys; i++) {
    rpc_key_free(w->keys[i]);
    w->keys[i] = NULL;
  }
  w->n_keys = 0;
  mc_registry_free(w->reg);
  w->reg = NULL;
  if (getenv("MEDIATION_KEEP_TEST_DIRS") == NULL)
    th_dir_remove(&w->dir);
}
