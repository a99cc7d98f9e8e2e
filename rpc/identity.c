/*
 * identity.c - Ed25519 keys, key files and signatures (see identity.h).
 *
 * The idea: a signature is only as good as the definition of what it covers.
 * All three kinds of signed bytes are built by signing_input() below, from a
 * fixed magic, a kind byte and length-prefixed parts, so no signature made
 * for one purpose verifies for another, and no choice of field contents can
 * make two different envelopes produce the same bytes. The envelope's
 * payload enters as its SHA-256, which keeps the signed string small and
 * lets the server check a signature before it looks at the payload at all.
 * A session MAC covers the very same request bytes, and the session key's
 * derivation input is built by the same function under its own kind byte.
 */
#include "rpc/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/i18n.h"

struct rpc_key {
  char principal[RPC_PRINCIPAL_MAX + 1];
  uint8_t pk[RPC_PUBLIC_KEY_BYTES];
  uint8_t sk[RPC_SECRET_KEY_BYTES]; /* seed || pk, libsodium's layout */
};

enum { KIND_REQUEST = 1, KIND_MESSAGE = 2, KIND_BYTES = 3, KIND_SESSION_KEY = 4 };

/* The session key's context string: says what the derived bytes are for. */
static const char session_key_context[] = "mediation.v1.session-key";

static const char sig_magic[] = "mediation-v1-sig"; /* + its NUL: 17 bytes */
#define MAGIC_LEN (sizeof(sig_magic))

bool rpc_principal_valid(const char *id) {
  if (id == NULL)
    return false;
  size_t n = strnlen(id, RPC_PRINCIPAL_MAX + 1);
  if (n == 0 || n > RPC_PRINCIPAL_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  }
  return true;
}

static mc_code sodium_ready(mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  return MC_OK;
}

/* The key lives in sodium_malloc'd memory: guard pages around it, and
 * sodium_free wipes it. */
static mc_code key_alloc(const char *principal, rpc_key **out, mc_err *err) {
  mc_code rc = sodium_ready(err);
  if (rc != MC_OK)
    return rc;
  if (!rpc_principal_valid(principal))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "principal id \"%.64s\" must be 1-64 of a-z, 0-9, '-' and '_'",
                      principal ? principal : "");
  rpc_key *k = sodium_malloc(sizeof(*k));
  if (k == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for a key");
  memset(k, 0, sizeof(*k));
  snprintf(k->principal, sizeof(k->principal), "%s", principal);
  *out = k;
  return MC_OK;
}

mc_code rpc_key_generate(const char *principal, rpc_key **out, mc_err *err) {
  rpc_key *k;
  mc_code rc = key_alloc(principal, &k, err);
  if (rc != MC_OK)
    return rc;
  crypto_sign_keypair(k->pk, k->sk);
  *out = k;
  return MC_OK;
}

mc_code rpc_key_from_seed(const char *principal, const uint8_t seed[RPC_SEED_BYTES],
                          rpc_key **out, mc_err *err) {
  rpc_key *k;
  mc_code rc = key_alloc(principal, &k, err);
  if (rc != MC_OK)
    return rc;
  crypto_sign_seed_keypair(k->pk, k->sk, seed);
  *out = k;
  return MC_OK;
}

void rpc_key_free(rpc_key *key) {
  if (key != NULL)
    sodium_free(key);
}

const char *rpc_key_principal(const rpc_key *key) { return key->principal; }

const uint8_t *rpc_key_public(const rpc_key *key) { return key->pk; }

void rpc_key_public_base64(const rpc_key *key, char out[RPC_PUBLIC_KEY_B64_MAX]) {
  sodium_bin2base64(out, RPC_PUBLIC_KEY_B64_MAX, key->pk, sizeof(key->pk),
                    sodium_base64_VARIANT_ORIGINAL);
}

static mc_code key_path(char *buf, size_t cap, const char *dir, const char *principal,
                        const char *ext, mc_err *err) {
  if (dir == NULL || dir[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("no keys directory: set [subdistrict] keys_dir or pass --dir"));
  if (!rpc_principal_valid(principal))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("principal id \"%.64s\" must be 1-64 of a-z, 0-9, '-' and '_'"),
                      principal ? principal : "");
  int n = snprintf(buf, cap, "%s/%s.%s", dir, principal, ext);
  if (n < 0 || (size_t)n >= cap)
    return mc_err_set(err, MC_INVALID_ARGUMENT, _("keys directory path is too long"));
  return MC_OK;
}

mc_code rpc_key_load(const char *keys_dir, const char *principal, rpc_key **out, mc_err *err) {
  char path[4096];
  mc_code rc = key_path(path, sizeof(path), keys_dir, principal, "key", err);
  if (rc != MC_OK)
    return rc;
  /* O_NOFOLLOW: a symlink planted in the keys directory is not followed. */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      /* Never advise making a key: the configuration already holds this
       * principal's public key, and a new key pair cannot match it. */
      return mc_err_set(err, MC_NOT_FOUND,
                        _("%s: no such key file: copy %s's key here from the deployment's "
                          "keys/ (a new key would not match its public key in the "
                          "configuration; see Key rotation in docs/deploy.md)"),
                        path, principal);
    return mc_err_set(err, MC_PERMISSION_DENIED, _("%s: cannot open: %s"), path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return mc_err_set(err, MC_PERMISSION_DENIED, _("%s: not a regular file"), path);
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return mc_err_set(err, MC_PERMISSION_DENIED,
                      _("%s: mode %04o lets group or others at the secret key; chmod 600 it "
                        "(and consider the key exposed)"),
                      path, (unsigned)(st.st_mode & 07777));
  }
  char text[512];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n < 0)
    return mc_err_set(err, MC_PERMISSION_DENIED, _("%s: cannot read: %s"), path, strerror(errno));
  size_t len = (size_t)n;
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                     text[len - 1] == '\t'))
    len--;
  uint8_t raw[RPC_SECRET_KEY_BYTES];
  size_t raw_len = 0;
  int bad = sodium_base642bin(raw, sizeof(raw), text, len, NULL, &raw_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(text, sizeof(text));
  if (bad != 0 || (raw_len != RPC_SECRET_KEY_BYTES && raw_len != RPC_SEED_BYTES)) {
    sodium_memzero(raw, sizeof(raw));
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s: expected base64 of a 64-byte Ed25519 secret key (or 32-byte seed)"),
                      path);
  }
  rpc_key *k;
  rc = key_alloc(principal, &k, err);
  if (rc != MC_OK) {
    sodium_memzero(raw, sizeof(raw));
    return rc;
  }
  /* Derive the pair from the seed, then insist the stored half matches:
   * a truncated or hand-edited file is refused, not half-used. */
  crypto_sign_seed_keypair(k->pk, k->sk, raw);
  bool consistent = raw_len == RPC_SEED_BYTES || sodium_memcmp(k->sk, raw, sizeof(raw)) == 0;
  sodium_memzero(raw, sizeof(raw));
  if (!consistent) {
    rpc_key_free(k);
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("%s: damaged: its public half does not match its seed"), path);
  }
  *out = k;
  return MC_OK;
}

static mc_code write_all(int fd, const char *s, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, s, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return MC_INTERNAL;
    }
    s += n;
    len -= (size_t)n;
  }
  return MC_OK;
}

mc_code rpc_key_save(const rpc_key *key, const char *keys_dir, mc_err *err) {
  char kpath[4096], ppath[4096];
  mc_code rc = key_path(kpath, sizeof(kpath), keys_dir, key->principal, "key", err);
  if (rc == MC_OK)
    rc = key_path(ppath, sizeof(ppath), keys_dir, key->principal, "pub", err);
  if (rc != MC_OK)
    return rc;
  if (mkdir(keys_dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_PERMISSION_DENIED, _("%s: cannot create: %s"), keys_dir,
                      strerror(errno));

  char b64[sodium_base64_ENCODED_LEN(RPC_SECRET_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1];
  sodium_bin2base64(b64, sizeof(b64) - 1, key->sk, sizeof(key->sk),
                    sodium_base64_VARIANT_ORIGINAL);
  size_t blen = strlen(b64);
  b64[blen++] = '\n';
  /* O_EXCL: an existing key is never replaced (units' signed receipts and
   * the registry's public keys depend on it). */
  int fd = open(kpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(b64, sizeof(b64));
    if (errno == EEXIST)
      return mc_err_set(err, MC_ALREADY_EXISTS,
                        _("%s exists: a key is never replaced; move it away first"), kpath);
    return mc_err_set(err, MC_PERMISSION_DENIED, _("%s: cannot create: %s"), kpath,
                      strerror(errno));
  }
  /* The umask can only narrow 0600; fchmod makes it exact anyway. */
  rc = fchmod(fd, 0600) == 0 ? write_all(fd, b64, blen) : MC_INTERNAL;
  sodium_memzero(b64, sizeof(b64));
  if (rc == MC_OK && fsync(fd) != 0)
    rc = MC_INTERNAL;
  if (close(fd) != 0)
    rc = MC_INTERNAL;
  if (rc != MC_OK) {
    int saved = errno;
    unlink(kpath);
    return mc_err_set(err, MC_INTERNAL, _("%s: cannot write: %s"), kpath, strerror(saved));
  }

  char pub[RPC_PUBLIC_KEY_B64_MAX + 1];
  rpc_key_public_base64(key, pub);
  size_t plen = strlen(pub);
  pub[plen++] = '\n';
  fd = open(ppath, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || write_all(fd, pub, plen) != MC_OK || close(fd) != 0) {
    int saved = errno;
    if (fd >= 0)
      close(fd);
    return mc_err_set(err, MC_INTERNAL, _("%s: cannot write: %s (the .key was written)"), ppath,
                      strerror(saved));
  }
  return MC_OK;
}

/* --- What is signed --- */

typedef struct part {
  const uint8_t *data;
  size_t len;
  bool raw; /* appended as is, without a length prefix */
} part;

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* The one function that defines signed bytes: MAGIC, the kind byte, then
 * each part (length-prefixed unless raw). */
static mc_code signing_input(uint8_t kind, const part *parts, size_t n_parts, uint8_t **out,
                             size_t *out_len, mc_err *err) {
  size_t total = MAGIC_LEN + 1;
  for (size_t i = 0; i < n_parts; i++) {
    if (parts[i].len > UINT32_MAX)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "a signed field is longer than 4 GiB");
    total += parts[i].len + (parts[i].raw ? 0 : 4);
  }
  uint8_t *buf = malloc(total);
  if (buf == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory for %zu signed bytes", total);
  uint8_t *p = buf;
  memcpy(p, sig_magic, MAGIC_LEN);
  p += MAGIC_LEN;
  *p++ = kind;
  for (size_t i = 0; i < n_parts; i++) {
    if (!parts[i].raw) {
      put_be32(p, (uint32_t)parts[i].len);
      p += 4;
    }
    if (parts[i].len > 0)
      memcpy(p, parts[i].data, parts[i].len);
    p += parts[i].len;
  }
  *out = buf;
  *out_len = total;
  return MC_OK;
}

static part str_part(const char *s) {
  return (part){(const uint8_t *)(s ? s : ""), s ? strlen(s) : 0, false};
}

mc_code rpc_request_signing_input(const Mediation__V1__RequestEnvelope *env, uint8_t **out,
                                  size_t *out_len, mc_err *err) {
  mc_code rc = sodium_ready(err);
  if (rc != MC_OK)
    return rc;
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, env->payload.data ? env->payload.data : (const uint8_t *)"",
                     env->payload.len);
  uint8_t deadline[8];
  uint64_t d = (uint64_t)env->deadline_ms;
  put_be32(deadline, (uint32_t)(d >> 32));
  put_be32(deadline + 4, (uint32_t)d);
  part parts[] = {
      str_part(env->service),
      str_part(env->method),
      {env->request_id.data, env->request_id.len, false},
      {deadline, sizeof(deadline), true},
      str_part(env->caller),
      {digest, sizeof(digest), false},
  };
  return signing_input(KIND_REQUEST, parts, sizeof(parts) / sizeof(parts[0]), out, out_len, err);
}

static mc_code sign_input(const rpc_key *key, uint8_t *input, size_t len,
                          uint8_t sig[RPC_SIGNATURE_BYTES]) {
  crypto_sign_detached(sig, NULL, input, len, key->sk);
  free(input);
  return MC_OK;
}

static mc_code verify_input(const uint8_t *pk, uint8_t *input, size_t len, const uint8_t *sig,
                            size_t sig_len, const char *what, mc_err *err) {
  bool ok = sig_len == RPC_SIGNATURE_BYTES && sig != NULL &&
            crypto_sign_verify_detached(sig, input, len, pk) == 0;
  free(input);
  if (!ok) {
    if (sig_len != RPC_SIGNATURE_BYTES)
      return mc_err_set(err, MC_UNAUTHENTICATED, "%s: signature must be %d bytes, not %zu",
                        what, RPC_SIGNATURE_BYTES, sig_len);
    return mc_err_set(err, MC_UNAUTHENTICATED,
                      "%s: signature does not verify with the registry's public key", what);
  }
  return MC_OK;
}

mc_code rpc_request_sign(const rpc_key *key, const Mediation__V1__RequestEnvelope *env,
                         uint8_t sig[RPC_SIGNATURE_BYTES], mc_err *err) {
  uint8_t *input;
  size_t len;
  mc_code rc = rpc_request_signing_input(env, &input, &len, err);
  if (rc != MC_OK)
    return rc;
  return sign_input(key, input, len, sig);
}

mc_code rpc_request_verify(const uint8_t public_key[RPC_PUBLIC_KEY_BYTES],
                           const Mediation__V1__RequestEnvelope *env, mc_err *err) {
  uint8_t *input;
  size_t len;
  mc_code rc = rpc_request_signing_input(env, &input, &len, err);
  if (rc != MC_OK)
    return rc;
  return verify_input(public_key, input, len, env->signature.data, env->signature.len,
                      "request", err);
}

/* --- Sessions --- */

mc_code rpc_session_keypair(uint8_t public_key[RPC_KX_KEY_BYTES],
                            uint8_t secret_key[RPC_KX_KEY_BYTES], mc_err *err) {
  mc_code rc = sodium_ready(err);
  if (rc != MC_OK)
    return rc;
  randombytes_buf(secret_key, RPC_KX_KEY_BYTES);
  crypto_scalarmult_base(public_key, secret_key);
  return MC_OK;
}

mc_code rpc_session_derive(const uint8_t my_secret[RPC_KX_KEY_BYTES], bool client_side,
                           const uint8_t client_public[RPC_KX_KEY_BYTES],
                           const uint8_t server_public[RPC_KX_KEY_BYTES], const char *principal,
                           const uint8_t session_id[RPC_SESSION_ID_BYTES],
                           uint8_t key[RPC_SESSION_KEY_BYTES], mc_err *err) {
  mc_code rc = sodium_ready(err);
  if (rc != MC_OK)
    return rc;
  if (!rpc_principal_valid(principal))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "session: not a valid principal id");
  uint8_t shared[crypto_scalarmult_BYTES];
  /* crypto_scalarmult fails on a low-order point (the result would be all
   * zeros, known to anyone): such a key is refused, never used. */
  if (crypto_scalarmult(shared, my_secret, client_side ? server_public : client_public) != 0) {
    sodium_memzero(shared, sizeof(shared));
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "session: the %s public key is not a usable X25519 key",
                      client_side ? "server's" : "client's");
  }
  part parts[] = {
      str_part(session_key_context),
      {client_public, RPC_KX_KEY_BYTES, false},
      {server_public, RPC_KX_KEY_BYTES, false},
      str_part(principal),
      {session_id, RPC_SESSION_ID_BYTES, false},
  };
  uint8_t *input; /* public values only: nothing to wipe */
  size_t len;
  rc = signing_input(KIND_SESSION_KEY, parts, sizeof(parts) / sizeof(parts[0]), &input, &len, err);
  if (rc == MC_OK) {
    crypto_generichash(key, RPC_SESSION_KEY_BYTES, input, len, shared, sizeof(shared));
    free(input);
  }
  sodium_memzero(shared, sizeof(shared));
  return rc;
}

mc_code rpc_request_mac(const uint8_t key[RPC_SESSION_KEY_BYTES],
                        const Mediation__V1__RequestEnvelope *env, uint8_t mac[RPC_MAC_BYTES],
                        mc_err *err) {
  uint8_t *input;
  size_t len;
  mc_code rc = rpc_request_signing_input(env, &input, &len, err);
  if (rc != MC_OK)
    return rc;
  crypto_generichash(mac, RPC_MAC_BYTES, input, len, key, RPC_SESSION_KEY_BYTES);
  free(input);
  return MC_OK;
}

mc_code rpc_request_verify_mac(const uint8_t key[RPC_SESSION_KEY_BYTES],
                               const Mediation__V1__RequestEnvelope *env, mc_err *err) {
  if (env->mac.len != RPC_MAC_BYTES || env->mac.data == NULL)
    return mc_err_set(err, MC_UNAUTHENTICATED, "request: mac must be %d bytes, not %zu",
                      RPC_MAC_BYTES, env->mac.len);
  uint8_t want[RPC_MAC_BYTES];
  mc_code rc = rpc_request_mac(key, env, want, err);
  if (rc != MC_OK)
    return rc;
  /* Constant time: how many leading bytes matched must not show in timing. */
  bool ok = crypto_verify_32(want, env->mac.data) == 0;
  sodium_memzero(want, sizeof(want));
  if (!ok)
    return mc_err_set(err, MC_UNAUTHENTICATED, "request: mac does not verify with the session key");
  return MC_OK;
}

/* Finds the singular `bytes signature` field of a message type. */
static const ProtobufCFieldDescriptor *signature_field(const ProtobufCMessageDescriptor *d) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, "signature");
  if (f == NULL || f->type != PROTOBUF_C_TYPE_BYTES || f->label == PROTOBUF_C_LABEL_REPEATED ||
      (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
    return NULL;
  return f;
}

/* The message-kind signing input: msg packed with its signature emptied on a
 * shallow copy (packing only reads, so the copy may share every pointer). */
static mc_code message_input(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor **sigf,
                             uint8_t **out, size_t *out_len, mc_err *err) {
  mc_code rc = sodium_ready(err);
  if (rc != MC_OK)
    return rc;
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  const ProtobufCFieldDescriptor *f = signature_field(d);
  if (f == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s has no singular `bytes signature` field",
                      d->name);
  if (!protobuf_c_message_check(msg))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: a required field is missing", d->name);
  char *copy = malloc(d->sizeof_message);
  if (copy == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory");
  memcpy(copy, msg, d->sizeof_message);
  ProtobufCBinaryData *sig = (ProtobufCBinaryData *)(copy + f->offset);
  sig->len = 0;
  sig->data = NULL;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
    *(protobuf_c_boolean *)(copy + f->quantifier_offset) = 0; /* proto2 has_signature */
  size_t packed_len = protobuf_c_message_get_packed_size((const ProtobufCMessage *)copy);
  uint8_t *packed = malloc(packed_len ? packed_len : 1);
  if (packed == NULL) {
    free(copy);
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory");
  }
  protobuf_c_message_pack((const ProtobufCMessage *)copy, packed);
  free(copy);
  part parts[] = {str_part(d->name), {packed, packed_len, false}};
  rc = signing_input(KIND_MESSAGE, parts, 2, out, out_len, err);
  free(packed);
  if (rc == MC_OK && sigf != NULL)
    *sigf = f;
  return rc;
}

mc_code rpc_sign_message(const rpc_key *key, const ProtobufCMessage *msg,
                         uint8_t sig[RPC_SIGNATURE_BYTES], mc_err *err) {
  uint8_t *input;
  size_t len;
  mc_code rc = message_input(msg, NULL, &input, &len, err);
  if (rc != MC_OK)
    return rc;
  return sign_input(key, input, len, sig);
}

mc_code rpc_verify_message(const uint8_t public_key[RPC_PUBLIC_KEY_BYTES],
                           const ProtobufCMessage *msg, mc_err *err) {
  uint8_t *input;
  size_t len;
  const ProtobufCFieldDescriptor *f;
  mc_code rc = message_input(msg, &f, &input, &len, err);
  if (rc != MC_OK)
    return rc;
  const ProtobufCBinaryData *sig = (const ProtobufCBinaryData *)((const char *)msg + f->offset);
  return verify_input(public_key, input, len, sig->data, sig->len, msg->descriptor->short_name,
                      err);
}

static mc_code bytes_input(const char *context, const uint8_t *data, size_t len, uint8_t **out,
                           size_t *out_len, mc_err *err) {
  mc_code rc = sodium_ready(err);
  if (rc != MC_OK)
    return rc;
  if (context == NULL || context[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "a signature context must be named");
  part parts[] = {str_part(context), {data, data ? len : 0, false}};
  return signing_input(KIND_BYTES, parts, 2, out, out_len, err);
}

mc_code rpc_sign_bytes(const rpc_key *key, const char *context, const uint8_t *data, size_t len,
                       uint8_t sig[RPC_SIGNATURE_BYTES], mc_err *err) {
  uint8_t *input;
  size_t ilen;
  mc_code rc = bytes_input(context, data, len, &input, &ilen, err);
  if (rc != MC_OK)
    return rc;
  return sign_input(key, input, ilen, sig);
}

mc_code rpc_verify_bytes(const uint8_t public_key[RPC_PUBLIC_KEY_BYTES], const char *context,
                         const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len,
                         mc_err *err) {
  uint8_t *input;
  size_t ilen;
  mc_code rc = bytes_input(context, data, len, &input, &ilen, err);
  if (rc != MC_OK)
    return rc;
  return verify_input(public_key, input, ilen, sig, sig_len, context, err);
}
