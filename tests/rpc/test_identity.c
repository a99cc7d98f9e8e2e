/*
 * test_identity.c - keys, key files, signatures and session MACs: what is
 * signed (or MAC'd) is exactly what identity.h says, every field is covered,
 * no kind of signature passes for another, both sides derive the same
 * session key, and key files are refused when others could read them.
 * Also the shape of fresh request ids (time first, then random bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/clock.h"
#include "support.h"

static rt_env env;

static int setup(void **state) {
  (void)state;
  rt_env_init(&env, "");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rt_env_free(&env);
  return 0;
}

static void test_key_files(void **state) {
  (void)state;
  char dir[512], path[600];
  rt_path(&env, "keys", dir, sizeof(dir));
  mc_err err = {0};
  assert_int_equal(rpc_key_save(env.police, dir, &err), MC_OK);
  struct stat st;
  snprintf(path, sizeof(path), "%s/police-studio.key", dir);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);

  /* The .pub holds exactly the registry's string. */
  snprintf(path, sizeof(path), "%s/police-studio.pub", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[128] = "", want[RPC_PUBLIC_KEY_B64_MAX];
  assert_non_null(fgets(line, sizeof(line), f));
  fclose(f);
  rpc_key_public_base64(env.police, want);
  line[strcspn(line, "\n")] = '\0';
  assert_string_equal(line, want);

  rpc_key *loaded = NULL;
  assert_int_equal(rpc_key_load(dir, "police-studio", &loaded, &err), MC_OK);
  assert_string_equal(rpc_key_principal(loaded), "police-studio");
  assert_memory_equal(rpc_key_public(loaded), rpc_key_public(env.police), RPC_PUBLIC_KEY_BYTES);
  rpc_key_free(loaded);

  /* Never replaced. */
  assert_int_equal(rpc_key_save(env.police, dir, &err), MC_ALREADY_EXISTS);
  assert_non_null(strstr(err.msg, "never replaced"));

  /* Readable by others: refused, and the message says what to do. */
  snprintf(path, sizeof(path), "%s/police-studio.key", dir);
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(rpc_key_load(dir, "police-studio", &loaded, &err), MC_PERMISSION_DENIED);
  assert_non_null(strstr(err.msg, "chmod 600"));
  assert_int_equal(chmod(path, 0640), 0);
  assert_int_equal(rpc_key_load(dir, "police-studio", &loaded, &err), MC_PERMISSION_DENIED);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(rpc_key_load(dir, "police-studio", &loaded, &err), MC_OK);
  rpc_key_free(loaded);

  /* Missing, bad names, garbage, symlinks. */
  assert_int_equal(rpc_key_load(dir, "nobody", &loaded, &err), MC_NOT_FOUND);
  /* It says where the key comes from, never to make a new one: the
   * configuration holds the principal's public key already. */
  assert_non_null(strstr(err.msg, "no such key file: copy nobody's key here"));
  assert_non_null(strstr(err.msg, "Key rotation"));
  assert_null(strstr(err.msg, "mediation-keygen --dir"));
  assert_int_equal(rpc_key_load(dir, "../etc/passwd", &loaded, &err), MC_INVALID_ARGUMENT);
  assert_int_equal(rpc_key_load(dir, "Upper", &loaded, &err), MC_INVALID_ARGUMENT);
  snprintf(path, sizeof(path), "%s/garbage.key", dir);
  f = fopen(path, "w");
  fputs("not base64 at all!\n", f);
  fclose(f);
  chmod(path, 0600);
  assert_int_equal(rpc_key_load(dir, "garbage", &loaded, &err), MC_INVALID_ARGUMENT);
  char link_path[600];
  snprintf(link_path, sizeof(link_path), "%s/linked.key", dir);
  snprintf(path, sizeof(path), "%s/police-studio.key", dir);
  assert_int_equal(symlink(path, link_path), 0);
  assert_int_not_equal(rpc_key_load(dir, "linked", &loaded, &err), MC_OK);

  /* A 32-byte seed file loads to the same pair as rpc_key_from_seed. */
  uint8_t seed[RPC_SEED_BYTES];
  memset(seed, 7, sizeof(seed));
  char b64[128];
  sodium_bin2base64(b64, sizeof(b64), seed, sizeof(seed), sodium_base64_VARIANT_ORIGINAL);
  snprintf(path, sizeof(path), "%s/seeded.key", dir);
  f = fopen(path, "w");
  fprintf(f, "%s\n", b64);
  fclose(f);
  chmod(path, 0600);
  rpc_key *a = NULL, *b = NULL;
  assert_int_equal(rpc_key_load(dir, "seeded", &a, &err), MC_OK);
  assert_int_equal(rpc_key_from_seed("seeded", seed, &b, &err), MC_OK);
  assert_memory_equal(rpc_key_public(a), rpc_key_public(b), RPC_PUBLIC_KEY_BYTES);
  rpc_key_free(a);
  rpc_key_free(b);

  /* A 64-byte key whose halves disagree is damaged. */
  uint8_t sk[64];
  memset(sk, 7, 32);
  memset(sk + 32, 9, 32);
  sodium_bin2base64(b64, sizeof(b64), sk, sizeof(sk), sodium_base64_VARIANT_ORIGINAL);
  snprintf(path, sizeof(path), "%s/damaged.key", dir);
  f = fopen(path, "w");
  fprintf(f, "%s\n", b64);
  fclose(f);
  chmod(path, 0600);
  assert_int_equal(rpc_key_load(dir, "damaged", &a, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "damaged"));
}

static Mediation__V1__RequestEnvelope sample_env(uint8_t *rid, uint8_t *payload) {
  Mediation__V1__RequestEnvelope e = MEDIATION__V1__REQUEST_ENVELOPE__INIT;
  e.service = "mediation.v1.Echo";
  e.method = "Echo";
  memset(rid, 0xAB, RPC_REQUEST_ID_BYTES);
  e.request_id = (ProtobufCBinaryData){RPC_REQUEST_ID_BYTES, rid};
  e.deadline_ms = 0x0102030405060708LL;
  e.caller = "police-studio";
  memcpy(payload, "\x0a\x02hi", 4);
  e.payload = (ProtobufCBinaryData){4, payload};
  return e;
}

/* The signed bytes are exactly as identity.h documents them. */
static void test_signing_input_layout(void **state) {
  (void)state;
  uint8_t rid[16], payload[4];
  Mediation__V1__RequestEnvelope e = sample_env(rid, payload);
  uint8_t *in;
  size_t len;
  mc_err err;
  assert_int_equal(rpc_request_signing_input(&e, &in, &len, &err), MC_OK);
  uint8_t want[256], *p = want;
  memcpy(p, "mediation-v1-sig", 17); /* with its NUL */
  p += 17;
  *p++ = 1;
#define LP(s, n)                                                                                   \
  do {                                                                                             \
    *p++ = 0; *p++ = 0; *p++ = (uint8_t)((n) >> 8); *p++ = (uint8_t)(n);                           \
    memcpy(p, s, n);                                                                               \
    p += n;                                                                                        \
  } while (0)
  LP("mediation.v1.Echo", 17);
  LP("Echo", 4);
  LP(rid, 16);
  memcpy(p, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  p += 8;
  LP("police-studio", 13);
  uint8_t digest[32];
  crypto_hash_sha256(digest, payload, 4);
  LP(digest, 32);
#undef LP
  assert_int_equal(len, (size_t)(p - want));
  assert_memory_equal(in, want, len);
  free(in);
}

/* Every field is covered: changing any one breaks the signature. */
static void test_request_signature_covers_every_field(void **state) {
  (void)state;
  uint8_t rid[16], payload[4], sig[64];
  mc_err err;
  for (int field = 0; field <= 6; field++) {
    Mediation__V1__RequestEnvelope e = sample_env(rid, payload);
    assert_int_equal(rpc_request_sign(env.police, &e, sig, &err), MC_OK);
    e.signature = (ProtobufCBinaryData){64, sig};
    assert_int_equal(rpc_request_verify(rpc_key_public(env.police), &e, &err), MC_OK);
    switch (field) {
    case 0: e.service = "mediation.v1.Router"; break;
    case 1: e.method = "Ping"; break;
    case 2: rid[3] ^= 1; break;
    case 3: e.deadline_ms++; break;
    case 4: e.caller = "marriage-studio"; break;
    case 5: payload[3] ^= 1; break;
    case 6: sig[10] ^= 1; break;
    }
    assert_int_equal(rpc_request_verify(rpc_key_public(env.police), &e, &err),
                     MC_UNAUTHENTICATED);
  }
  /* Another principal's key does not verify it; a short signature is named. */
  Mediation__V1__RequestEnvelope e = sample_env(rid, payload);
  assert_int_equal(rpc_request_sign(env.police, &e, sig, &err), MC_OK);
  e.signature = (ProtobufCBinaryData){64, sig};
  assert_int_equal(rpc_request_verify(rpc_key_public(env.marriage), &e, &err),
                   MC_UNAUTHENTICATED);
  e.signature.len = 63;
  assert_int_equal(rpc_request_verify(rpc_key_public(env.police), &e, &err), MC_UNAUTHENTICATED);
  assert_non_null(strstr(err.msg, "64 bytes"));
}

/* Domain separation: a bytes signature over a request's signing input does
 * not verify as that request, nor under another context. */
static void test_kinds_do_not_mix(void **state) {
  (void)state;
  uint8_t rid[16], payload[4], sig[64];
  mc_err err;
  Mediation__V1__RequestEnvelope e = sample_env(rid, payload);
  uint8_t *in;
  size_t len;
  assert_int_equal(rpc_request_signing_input(&e, &in, &len, &err), MC_OK);
  assert_int_equal(rpc_sign_bytes(env.police, "x", in, len, sig, &err), MC_OK);
  e.signature = (ProtobufCBinaryData){64, sig};
  assert_int_equal(rpc_request_verify(rpc_key_public(env.police), &e, &err), MC_UNAUTHENTICATED);
  assert_int_equal(rpc_verify_bytes(rpc_key_public(env.police), "x", in, len, sig, 64, &err),
                   MC_OK);
  assert_int_equal(rpc_verify_bytes(rpc_key_public(env.police), "y", in, len, sig, 64, &err),
                   MC_UNAUTHENTICATED);
  assert_int_equal(rpc_sign_bytes(env.police, "", in, len, sig, &err), MC_INVALID_ARGUMENT);
  free(in);
}

/* Both sides of a session derive the same key, exactly as identity.h
 * documents it, and anything it is bound to changes it. */
static void test_session_key_derivation(void **state) {
  (void)state;
  uint8_t cpk[32], csk[32], spk[32], ssk[32], sid[16], kc[32], ks[32], k2[32];
  mc_err err;
  assert_int_equal(rpc_session_keypair(cpk, csk, &err), MC_OK);
  assert_int_equal(rpc_session_keypair(spk, ssk, &err), MC_OK);
  memset(sid, 0x42, sizeof(sid));
  assert_int_equal(rpc_session_derive(csk, true, cpk, spk, "police-studio", sid, kc, &err), MC_OK);
  assert_int_equal(rpc_session_derive(ssk, false, cpk, spk, "police-studio", sid, ks, &err),
                   MC_OK);
  assert_memory_equal(kc, ks, 32);

  /* The documented layout: BLAKE2b-256 keyed with the X25519 result. */
  uint8_t shared[32];
  assert_int_equal(crypto_scalarmult(shared, csk, spk), 0);
  uint8_t in[256], *p = in;
  memcpy(p, "mediation-v1-sig", 17);
  p += 17;
  *p++ = 4;
#define LP(s, n)                                                                                   \
  do {                                                                                             \
    *p++ = 0; *p++ = 0; *p++ = (uint8_t)((n) >> 8); *p++ = (uint8_t)(n);                           \
    memcpy(p, s, n);                                                                               \
    p += n;                                                                                        \
  } while (0)
  LP("mediation.v1.session-key", 24);
  LP(cpk, 32);
  LP(spk, 32);
  LP("police-studio", 13);
  LP(sid, 16);
#undef LP
  crypto_generichash(k2, 32, in, (size_t)(p - in), shared, 32);
  assert_memory_equal(kc, k2, 32);

  /* Bound to the principal, the session id and both public keys. */
  assert_int_equal(rpc_session_derive(ssk, false, cpk, spk, "marriage-studio", sid, k2, &err),
                   MC_OK);
  assert_memory_not_equal(kc, k2, 32);
  sid[0] ^= 1;
  assert_int_equal(rpc_session_derive(ssk, false, cpk, spk, "police-studio", sid, k2, &err),
                   MC_OK);
  assert_memory_not_equal(kc, k2, 32);
  sid[0] ^= 1;
  uint8_t other_pk[32], other_sk[32];
  assert_int_equal(rpc_session_keypair(other_pk, other_sk, &err), MC_OK);
  assert_int_equal(rpc_session_derive(ssk, false, other_pk, spk, "police-studio", sid, k2, &err),
                   MC_OK);
  assert_memory_not_equal(kc, k2, 32);

  /* A low-order point (all zeros) would give a key anyone knows: refused,
   * and the output is left alone. */
  uint8_t zero[32] = {0};
  memset(k2, 0xEE, sizeof(k2));
  assert_int_equal(rpc_session_derive(ssk, false, zero, spk, "police-studio", sid, k2, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "client's public key"));
  assert_int_equal(k2[0], 0xEE);
  assert_int_equal(rpc_session_derive(ssk, false, cpk, spk, "Bad Name", sid, k2, &err),
                   MC_INVALID_ARGUMENT);
}

/* The MAC covers the same bytes as a signature: BLAKE2b-256 keyed with the
 * session key over the signing input; any field changed breaks it. */
static void test_request_mac_covers_every_field(void **state) {
  (void)state;
  uint8_t rid[16], payload[4], mac[32], key[32], other[32];
  memset(key, 7, sizeof(key));
  memset(other, 8, sizeof(other));
  mc_err err;
  Mediation__V1__RequestEnvelope e = sample_env(rid, payload);
  assert_int_equal(rpc_request_mac(key, &e, mac, &err), MC_OK);
  uint8_t *in, want[32];
  size_t len;
  assert_int_equal(rpc_request_signing_input(&e, &in, &len, &err), MC_OK);
  crypto_generichash(want, 32, in, len, key, 32);
  free(in);
  assert_memory_equal(mac, want, 32);

  for (int field = 0; field <= 7; field++) {
    e = sample_env(rid, payload);
    assert_int_equal(rpc_request_mac(key, &e, mac, &err), MC_OK);
    e.mac = (ProtobufCBinaryData){32, mac};
    assert_int_equal(rpc_request_verify_mac(key, &e, &err), MC_OK);
    const uint8_t *check_key = key;
    switch (field) {
    case 0: e.service = "mediation.v1.Router"; break;
    case 1: e.method = "Ping"; break;
    case 2: rid[3] ^= 1; break;
    case 3: e.deadline_ms++; break;
    case 4: e.caller = "marriage-studio"; break;
    case 5: payload[3] ^= 1; break;
    case 6: mac[31] ^= 0x80; break;
    case 7: check_key = other; break;
    }
    assert_int_equal(rpc_request_verify_mac(check_key, &e, &err), MC_UNAUTHENTICATED);
    assert_non_null(strstr(err.msg, "mac does not verify"));
  }
  /* A short MAC is named; the signature field plays no part. */
  e = sample_env(rid, payload);
  assert_int_equal(rpc_request_mac(key, &e, mac, &err), MC_OK);
  e.mac = (ProtobufCBinaryData){31, mac};
  assert_int_equal(rpc_request_verify_mac(key, &e, &err), MC_UNAUTHENTICATED);
  assert_non_null(strstr(err.msg, "32 bytes"));
  e.mac.len = 32;
  e.signature = (ProtobufCBinaryData){4, (uint8_t *)"junk"};
  assert_int_equal(rpc_request_verify_mac(key, &e, &err), MC_OK);
}

/* Receipts: the unit signs, the router verifies; any change is caught. */
static void test_message_signatures(void **state) {
  (void)state;
  Mediation__V1__Receipt r = MEDIATION__V1__RECEIPT__INIT;
  r.unit = "marriage-studio";
  r.delivery_seq = 42;
  r.case_id = "BH-2026-000123";
  r.event_seq = 3;
  r.received_ms = 1764000000000;
  uint8_t sig[64];
  mc_err err;
  assert_int_equal(rpc_sign_message(env.marriage, &r.base, sig, &err), MC_OK);
  r.signature = (ProtobufCBinaryData){64, sig};
  assert_int_equal(rpc_verify_message(rpc_key_public(env.marriage), &r.base, &err), MC_OK);

  /* Through the wire and back, as the router receives it. */
  size_t n = mediation__v1__receipt__get_packed_size(&r);
  uint8_t *buf = malloc(n);
  mediation__v1__receipt__pack(&r, buf);
  Mediation__V1__Receipt *got = mediation__v1__receipt__unpack(NULL, n, buf);
  free(buf);
  assert_non_null(got);
  assert_int_equal(rpc_verify_message(rpc_key_public(env.marriage), &got->base, &err), MC_OK);
  assert_int_equal(rpc_verify_message(rpc_key_public(env.police), &got->base, &err),
                   MC_UNAUTHENTICATED);
  got->delivery_seq = 43;
  assert_int_equal(rpc_verify_message(rpc_key_public(env.marriage), &got->base, &err),
                   MC_UNAUTHENTICATED);
  mediation__v1__receipt__free_unpacked(got, NULL);

  /* Signing ignores whatever the signature field holds. */
  uint8_t sig2[64];
  assert_int_equal(rpc_sign_message(env.marriage, &r.base, sig2, &err), MC_OK);
  assert_memory_equal(sig, sig2, 64); /* Ed25519 is deterministic */

  r.signature.len = 0;
  assert_int_equal(rpc_verify_message(rpc_key_public(env.marriage), &r.base, &err),
                   MC_UNAUTHENTICATED);
  Mediation__V1__EchoEmpty none = MEDIATION__V1__ECHO_EMPTY__INIT;
  assert_int_equal(rpc_sign_message(env.marriage, &none.base, sig, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "signature"));
}

/* Fresh request ids: the creation time in ms, big-endian, in the first 6
 * bytes (so later ids sort after earlier ones), then bytes that differ
 * between ids made in the same millisecond. */
static void test_request_ids(void **state) {
  (void)state;
  enum { N = 64 };
  uint8_t ids[N][RPC_REQUEST_ID_BYTES];
  int64_t before = mc_now_ms();
  for (int i = 0; i < N; i++)
    rpc_request_id_new(ids[i]);
  int64_t after = mc_now_ms();
  for (int i = 0; i < N; i++) {
    int64_t ms = 0;
    for (int k = 0; k < 6; k++)
      ms = ms << 8 | ids[i][k];
    assert_true(ms >= before && ms <= after);
    for (int j = 0; j < i; j++)
      assert_memory_not_equal(ids[i], ids[j], RPC_REQUEST_ID_BYTES);
  }
  usleep(3000);
  uint8_t later[RPC_REQUEST_ID_BYTES];
  rpc_request_id_new(later);
  for (int i = 0; i < N; i++)
    assert_true(memcmp(ids[i], later, RPC_REQUEST_ID_BYTES) < 0);
}

static void test_keygen_program(void **state) {
  (void)state;
  char dir[512], out[512], path[700];
  rt_path(&env, "gen", dir, sizeof(dir));
  rt_path(&env, "keygen.out", out, sizeof(out));
  char *argv[] = {MEDIATION_BINARY_DIR "/rpc/mediation-keygen", "--dir", dir, "station-wangai",
                  "coord-li", NULL};
  assert_int_equal(rt_run(argv, out), 0);
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char line[256];
  int lines = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    char name[64], b64[80];
    assert_int_equal(sscanf(line, "%63s public_key = %79s", name, b64), 2);
    rpc_key *k = NULL;
    mc_err err;
    assert_int_equal(rpc_key_load(dir, name, &k, &err), MC_OK);
    char want[RPC_PUBLIC_KEY_B64_MAX];
    rpc_key_public_base64(k, want);
    assert_string_equal(b64, want);
    rpc_key_free(k);
    snprintf(path, sizeof(path), "%s/%s.key", dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    lines++;
  }
  fclose(f);
  assert_int_equal(lines, 2);
  /* An existing key is never replaced; a bad name fails; usage errors are 2. */
  char *again[] = {MEDIATION_BINARY_DIR "/rpc/mediation-keygen", "--dir", dir, "coord-li", NULL};
  assert_int_equal(rt_run(again, out), 1);
  char *bad[] = {MEDIATION_BINARY_DIR "/rpc/mediation-keygen", "--dir", dir, "Bad Name", NULL};
  assert_int_equal(rt_run(bad, out), 1);
  char *none[] = {MEDIATION_BINARY_DIR "/rpc/mediation-keygen", "coord-li", NULL};
  assert_int_equal(rt_run(none, out), 2);
  char *help[] = {MEDIATION_BINARY_DIR "/rpc/mediation-keygen", "--help", NULL};
  assert_int_equal(rt_run(help, out), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_files),
      cmocka_unit_test(test_signing_input_layout),
      cmocka_unit_test(test_request_signature_covers_every_field),
      cmocka_unit_test(test_kinds_do_not_mix),
      cmocka_unit_test(test_session_key_derivation),
      cmocka_unit_test(test_request_mac_covers_every_field),
      cmocka_unit_test(test_message_signatures),
      cmocka_unit_test(test_request_ids),
      cmocka_unit_test(test_keygen_program),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
