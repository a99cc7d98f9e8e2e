/*
 * transport.c - the parts of a connection that depend on the URL: which
 * schemes we speak, and TLS configurations built from files.
 *
 * The idea: ipc://, inproc://, tcp:// and tls+tcp:// go through the same
 * code; the only difference is a TLS configuration set on the listener or
 * dialer before it starts. nng 1.5.2's TLS defaults are unsafe in two ways
 * (PITFALLS.md): a listener accepts anyone, which is what we want here
 * because callers prove who they are by signing, and a client config without
 * a server name accepts any certificate the CA ever signed, which we never
 * allow. Both choices are made explicitly below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "rpc/internal.h"

mc_code rpc__url_scheme(const char *url, rpc_scheme *out, mc_err *err) {
  static const struct {
    const char *prefix;
    rpc_scheme scheme;
  } schemes[] = {
      {"ipc://", RPC_SCHEME_IPC},
      {"inproc://", RPC_SCHEME_INPROC},
      {"tcp://", RPC_SCHEME_TCP},
      {"tls+tcp://", RPC_SCHEME_TLS},
  };
  if (url != NULL) {
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
      size_t n = strlen(schemes[i].prefix);
      if (strncmp(url, schemes[i].prefix, n) == 0 && url[n] != '\0') {
        *out = schemes[i].scheme;
        return MC_OK;
      }
    }
  }
  return mc_err_set(err, MC_INVALID_ARGUMENT,
                    "endpoint \"%.128s\": use ipc://PATH, inproc://NAME, tcp://HOST:PORT or "
                    "tls+tcp://HOST:PORT",
                    url ? url : "");
}

mc_message_limits rpc__envelope_limits(size_t max_message_bytes) {
  return (mc_message_limits){
      .max_string_bytes = RPC_NAME_MAX,
      .max_bytes_field = max_message_bytes,
      .max_repeated = 0, /* the envelopes have no repeated fields */
      .max_depth = 1,
  };
}

size_t rpc__wire_cap(size_t max_message_bytes) {
  size_t above = max_message_bytes + ((size_t)64 << 10);
  return above > RPC_HARD_CAP_BYTES ? above : RPC_HARD_CAP_BYTES;
}

void rpc__url_host(const char *url, char *buf, size_t cap) {
  buf[0] = '\0';
  const char *p = strstr(url, "://");
  if (p == NULL)
    return;
  p += 3;
  const char *end;
  if (*p == '[') { /* [v6]:port */
    p++;
    end = strchr(p, ']');
  } else {
    end = strrchr(p, ':');
  }
  if (end == NULL)
    end = p + strlen(p);
  size_t n = (size_t)(end - p);
  if (n >= cap)
    n = cap - 1;
  memcpy(buf, p, n);
  buf[n] = '\0';
}

/* Reads a whole (small) PEM file into a NUL-terminated buffer. */
static mc_code read_pem(const char *what, const char *path, char **out, size_t *out_len,
                        mc_err *err) {
  if (path == NULL || path[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "tls+tcp:// needs %s (a PEM file)", what);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s %s: cannot open: %s", what, path,
                      strerror(errno));
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    fclose(f);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  }
  len = fread(buf, 1, cap, f);
  bool bad = ferror(f) || !feof(f);
  fclose(f);
  buf[len] = '\0';
  if (bad || strstr(buf, "-----BEGIN ") == NULL) {
    sodium_memzero(buf, len);
    free(buf);
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s %s: not a PEM file (or larger than 1 MiB)",
                      what, path);
  }
  *out = buf;
  *out_len = len;
  return MC_OK;
}

mc_code rpc__tls_server_config(const char *cert_file, const char *key_file,
                               const char *password, nng_tls_config **out, mc_err *err) {
  char *cert = NULL, *key = NULL;
  size_t cert_len = 0, key_len = 0;
  mc_code rc = read_pem("tls_cert (the server certificate)", cert_file, &cert, &cert_len, err);
  if (rc == MC_OK)
    rc = read_pem("tls_key (the server's private key)", key_file, &key, &key_len, err);
  nng_tls_config *cfg = NULL;
  int rv = 0;
  if (rc == MC_OK && (rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0)
    rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "TLS: %s", nng_strerror(rv));
  if (rc == MC_OK && (rv = nng_tls_config_own_cert(cfg, cert, key, password)) != 0)
    rc = mc_err_set(err, MC_INVALID_ARGUMENT,
                    "TLS certificate %s with key %s: %s (is the key encrypted without a "
                    "password given, or for another certificate?)",
                    cert_file, key_file, nng_strerror(rv));
  /* Clients are not asked for certificates: every request is signed by its
   * principal's Ed25519 key and verified against the registry, which nng
   * 1.5.2's TLS could not do anyway (the peer certificate's name is not
   * readable). TLS here protects the channel only. */
  if (rc == MC_OK && (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)) != 0)
    rc = mc_err_set(err, MC_INTERNAL, "TLS auth mode: %s", nng_strerror(rv));
  if (key != NULL) {
    sodium_memzero(key, key_len);
    free(key);
  }
  free(cert);
  if (rc != MC_OK) {
    if (cfg != NULL)
      nng_tls_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return MC_OK;
}

mc_code rpc__tls_client_config(const char *ca_file, const char *server_name,
                               nng_tls_config **out, mc_err *err) {
  char *ca = NULL;
  size_t ca_len = 0;
  mc_code rc = read_pem("tls_ca (the CA that signed the server's certificate)", ca_file, &ca,
                        &ca_len, err);
  if (rc != MC_OK)
    return rc;
  if (server_name == NULL || server_name[0] == '\0') {
    free(ca);
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "tls+tcp:// needs the server's certificate name (tls_server_name)");
  }
  nng_tls_config *cfg = NULL;
  int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
  if (rv != 0) {
    free(ca);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "TLS: %s", nng_strerror(rv));
  }
  if ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0)
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, "tls_ca %s: %s (not a PEM certificate?)", ca_file,
                    nng_strerror(rv));
  /* Without a server name, mbedTLS accepts any certificate the CA signed,
   * for any host: always set it. */
  else if ((rv = nng_tls_config_server_name(cfg, server_name)) != 0)
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, "tls_server_name \"%.128s\": %s", server_name,
                    nng_strerror(rv));
  else if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
    rc = mc_err_set(err, MC_INTERNAL, "TLS auth mode: %s", nng_strerror(rv));
  free(ca);
  if (rc != MC_OK) {
    nng_tls_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return MC_OK;
}

/* --- nng's statistics of one dialer or listener --- */

/* The statistics scope of the dialer or listener (kind) id under st, or
 * NULL. Not nng_stat_find_dialer/_listener: in 1.5.2 they return the first
 * scope of that kind whatever the id (nng_stat_find_scope recurses by name
 * only), so a process with several clients or servers read another one's
 * counts. */
static nng_stat *find_scope(nng_stat *st, const char *kind, uint32_t id) {
  for (; st != NULL; st = nng_stat_next(st)) {
    if (nng_stat_type(st) != NNG_STAT_SCOPE)
      continue;
    if (strcmp(nng_stat_name(st), kind) == 0) {
      for (nng_stat *k = nng_stat_child(st); k != NULL; k = nng_stat_next(k))
        if (strcmp(nng_stat_name(k), "id") == 0 && nng_stat_value(k) == id)
          return st;
      continue;
    }
    nng_stat *found = find_scope(nng_stat_child(st), kind, id);
    if (found != NULL)
      return found;
  }
  return NULL;
}

bool rpc__endpoint_counters(const char *kind, uint32_t id, const char *const names[], size_t n,
                            uint64_t out[]) {
  nng_stat *all;
  if (nng_stats_get(&all) != 0)
    return false;
  nng_stat *scope = find_scope(all, kind, id);
  for (size_t i = 0; i < n; i++) {
    nng_stat *st = scope != NULL ? nng_stat_find(scope, names[i]) : NULL;
    out[i] = st != NULL ? nng_stat_value(st) : 0;
  }
  nng_stats_free(all);
  return scope != NULL;
}
