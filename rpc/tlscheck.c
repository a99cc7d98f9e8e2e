/*
 * tlscheck.c - looking at certificates ourselves, because nng 1.5.2 says
 * nothing about them: a server starts with an expired certificate without a
 * word, and a failed handshake is silent on both sides.
 *
 * The idea: read the same PEM files nng is given with mbedTLS's X.509
 * functions (the library nng itself is built on), and say in words what is
 * wrong. A server checks its own certificate before it listens (expired, not
 * yet valid, a key that is not its pair, no DNS name for clients to check),
 * and a client checks its CA file; a client whose handshakes fail connects
 * once with a plain TCP socket and runs the handshake itself with the same
 * CA and server name, and reads mbedTLS's verdict (unknown CA, expired, name
 * mismatch) - rpc__tls_probe, from the client's keeper thread.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/internal.h"

static int64_t x509_time_ms(const mbedtls_x509_time *t) {
  struct tm tm = {.tm_year = t->year - 1900,
                  .tm_mon = t->mon - 1,
                  .tm_mday = t->day,
                  .tm_hour = t->hour,
                  .tm_min = t->min,
                  .tm_sec = t->sec};
  return (int64_t)timegm(&tm) * 1000;
}

void rpc__utc_date(int64_t ms, char *buf, size_t cap) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

/* The certificate's DNS names (subjectAltName), comma-separated, into buf. */
static size_t dns_names(const mbedtls_x509_crt *crt, char *buf, size_t cap) {
  size_t n = 0, used = 0;
  buf[0] = '\0';
  for (const mbedtls_x509_sequence *s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL;
       s = s->next) {
    if ((s->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) != MBEDTLS_X509_SAN_DNS_NAME)
      continue;
    int w = snprintf(buf + used, used < cap ? cap - used : 0, "%s%.*s", n ? "," : "",
                     (int)s->buf.len, (const char *)s->buf.p);
    if (w > 0 && used + (size_t)w < cap)
      used += (size_t)w;
    n++;
  }
  return n;
}

mc_code rpc__tls_check_own(const char *cert_file, const char *key_file, const char *password,
                           int64_t now_ms, rpc_cert_info *info, mc_err *err) {
  mbedtls_x509_crt crt;
  mbedtls_pk_context pk;
  mbedtls_x509_crt_init(&crt);
  mbedtls_pk_init(&pk);
  mc_code rc = MC_OK;
  char when[40], names[sizeof(info->names)];
  int rv = mbedtls_x509_crt_parse_file(&crt, cert_file);
  if (rv < 0) {
    char why[120];
    mbedtls_strerror(rv, why, sizeof(why));
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, "tls_cert %s: not a PEM certificate (%s)",
                    cert_file, why);
    goto out;
  }
  int64_t from = x509_time_ms(&crt.valid_from), to = x509_time_ms(&crt.valid_to);
  if (now_ms >= to) {
    rpc__utc_date(to, when, sizeof(when));
    rc = mc_err_set(err, MC_FAILED_PRECONDITION,
                    "tls_cert %s expired on %s: clients refuse it; renew it (deploy/tls-setup "
                    "--renew on the machine that holds ca.key) and restart",
                    cert_file, when);
    goto out;
  }
  if (now_ms < from) {
    rpc__utc_date(from, when, sizeof(when));
    rc = mc_err_set(err, MC_FAILED_PRECONDITION,
                    "tls_cert %s is not valid before %s (is this machine's clock right?)",
                    cert_file, when);
    goto out;
  }
  if (dns_names(&crt, names, sizeof(names)) == 0) {
    rc = mc_err_set(err, MC_FAILED_PRECONDITION,
                    "tls_cert %s carries no DNS name (subjectAltName): clients check their "
                    "tls_server_name against those names, so none would accept it",
                    cert_file);
    goto out;
  }
#if MBEDTLS_VERSION_MAJOR >= 3
  rv = mbedtls_pk_parse_keyfile(&pk, key_file, password, NULL, NULL);
#else
  rv = mbedtls_pk_parse_keyfile(&pk, key_file, password);
#endif
  if (rv < 0) {
    char why[120];
    mbedtls_strerror(rv, why, sizeof(why));
    rc = mc_err_set(err, MC_INVALID_ARGUMENT,
                    "tls_key %s: cannot read it (%s; encrypted without a password given?)",
                    key_file, why);
    goto out;
  }
#if MBEDTLS_VERSION_MAJOR >= 3
  rv = mbedtls_pk_check_pair(&crt.pk, &pk, NULL, NULL);
#else
  rv = mbedtls_pk_check_pair(&crt.pk, &pk);
#endif
  if (rv != 0) {
    rc = mc_err_set(err, MC_FAILED_PRECONDITION,
                    "tls_key %s is not the key of tls_cert %s: give the pair tls-setup made "
                    "together",
                    key_file, cert_file);
    goto out;
  }
  if (info != NULL) {
    info->not_before_ms = from;
    info->not_after_ms = to;
    snprintf(info->names, sizeof(info->names), "%s", names);
  }
out:
  mbedtls_pk_free(&pk);
  mbedtls_x509_crt_free(&crt);
  return rc;
}

mc_code rpc__tls_check_ca(const char *ca_file, int64_t now_ms, mc_err *err) {
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  mc_code rc = MC_OK;
  int rv = mbedtls_x509_crt_parse_file(&crt, ca_file);
  if (rv < 0) {
    char why[120];
    mbedtls_strerror(rv, why, sizeof(why));
    rc = mc_err_set(err, MC_INVALID_ARGUMENT, "tls_ca %s: not a PEM certificate (%s)", ca_file,
                    why);
  } else {
    int usable = 0;
    int64_t last_end = 0;
    for (const mbedtls_x509_crt *c = &crt; c != NULL && c->raw.p != NULL; c = c->next) {
      int64_t from = x509_time_ms(&c->valid_from), to = x509_time_ms(&c->valid_to);
      if (now_ms >= from && now_ms < to)
        usable++;
      if (to > last_end)
        last_end = to;
    }
    if (usable == 0) {
      char when[40];
      rpc__utc_date(last_end, when, sizeof(when));
      rc = mc_err_set(err, MC_FAILED_PRECONDITION,
                      "tls_ca %s: no certificate in it is valid now (the last ends %s): the "
                      "router's certificate cannot be checked; get the current ca.pem",
                      ca_file, when);
    }
  }
  mbedtls_x509_crt_free(&crt);
  return rc;
}

/* --- The handshake probe --- */

static int probe_send(void *ctx, const unsigned char *buf, size_t len) {
  int fd = *(int *)ctx;
  ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? MBEDTLS_ERR_SSL_TIMEOUT
                                                   : MBEDTLS_ERR_NET_SEND_FAILED;
  return (int)n;
}

static int probe_recv(void *ctx, unsigned char *buf, size_t len) {
  int fd = *(int *)ctx;
  ssize_t n = recv(fd, buf, len, 0);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? MBEDTLS_ERR_SSL_TIMEOUT
                                                   : MBEDTLS_ERR_NET_RECV_FAILED;
  if (n == 0)
    return MBEDTLS_ERR_NET_CONN_RESET;
  return (int)n;
}

/* host:port of a tls+tcp:// URL. */
static bool url_host_port(const char *url, char *host, size_t hcap, char *port, size_t pcap) {
  rpc__url_host(url, host, hcap);
  const char *colon = strrchr(url, ':');
  const char *slash = strstr(url, "://");
  if (colon == NULL || slash == NULL || colon < slash + 3 || host[0] == '\0')
    return false;
  snprintf(port, pcap, "%s", colon + 1);
  return port[0] != '\0';
}

static int probe_connect(const char *host, const char *port) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  if (getaddrinfo(host, port, &hints, &res) != 0)
    return -1;
  int fd = -1;
  for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0)
      continue;
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

bool rpc__tls_probe(const char *url, const char *ca_file, const char *server_name, char *why,
                    size_t cap) {
  char host[256], port[16];
  why[0] = '\0';
  if (!url_host_port(url, host, sizeof(host), port, sizeof(port)))
    return false;
  int fd = probe_connect(host, port);
  if (fd < 0)
    return false; /* nothing to learn: not even TCP */
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_init(&ssl);
  mbedtls_ssl_config_init(&conf);
  mbedtls_x509_crt_init(&ca);
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  bool learned = false;
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                            (const unsigned char *)"rpc-tls-probe", 13) == 0 &&
      mbedtls_x509_crt_parse_file(&ca, ca_file) >= 0 &&
      mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) == 0) {
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_OPTIONAL); /* finish, then read why */
    mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    if (mbedtls_ssl_setup(&ssl, &conf) == 0 && mbedtls_ssl_set_hostname(&ssl, server_name) == 0) {
      mbedtls_ssl_set_bio(&ssl, &fd, probe_send, probe_recv, NULL);
      int64_t until = mc_mono_ms() + 4000;
      int rv;
      while ((rv = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ ||
             rv == MBEDTLS_ERR_SSL_WANT_WRITE || rv == MBEDTLS_ERR_SSL_TIMEOUT) {
        if (mc_mono_ms() > until)
          break;
      }
      uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
      size_t used = 0;
      static const struct {
        uint32_t flag;
        const char *text;
      } verdicts[] = {
          {MBEDTLS_X509_BADCERT_NOT_TRUSTED,
           "the server's certificate is not signed by tls_ca (unknown CA: is tls_ca this "
           "deployment's ca.pem?)"},
          {MBEDTLS_X509_BADCERT_EXPIRED, "the server's certificate has expired (renew it)"},
          {MBEDTLS_X509_BADCERT_FUTURE,
           "the server's certificate is not valid yet (check the clocks)"},
          {MBEDTLS_X509_BADCERT_CN_MISMATCH,
           "the server's certificate does not carry the name tls_server_name"},
          {MBEDTLS_X509_BADCRL_EXPIRED, "a revocation list has expired"},
          {MBEDTLS_X509_BADCERT_REVOKED, "the server's certificate is revoked"},
      };
      if (rv == 0 || rv == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || flags != 0) {
        for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
          if (!(flags & verdicts[i].flag) || used >= cap)
            continue;
          int w = snprintf(why + used, cap - used, "%s%s", used ? "; " : "", verdicts[i].text);
          used += w > 0 ? (size_t)w : 0;
        }
        if (flags != 0 && used == 0) {
          char info[200];
          mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
          for (char *p = info; *p; p++)
            if (*p == '\n')
              *p = ' ';
          snprintf(why, cap, "the server's certificate does not verify: %s", info);
        } else if (flags == 0 && rv == 0) {
          snprintf(why, cap, "the certificate checks out here (tls_ca and tls_server_name "
                             "agree); the failure was elsewhere");
        }
        learned = true;
      } else if (rv != 0) {
        char err[120];
        mbedtls_strerror(rv, err, sizeof(err));
        snprintf(why, cap, "the TLS handshake failed: %s (is the server speaking TLS?)", err);
        learned = true;
      }
    }
  }
  close(fd);
  mbedtls_ssl_free(&ssl);
  mbedtls_ssl_config_free(&conf);
  mbedtls_x509_crt_free(&ca);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return learned;
}
