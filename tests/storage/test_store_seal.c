/*
 * test_store_seal.c - a careful rewrite of a case file is caught.
 *
 * The insider of issue 13.5 has write access to the store (or a backup): he
 * changes an event, recomputes every later prev_hash and the record from
 * the edited events (so the hash chain holds and the record replays), and
 * writes it all back with raw LMDB. Verify must still see it: through the
 * signed head (even when he also re-signs the head with a key of his own),
 * and through an anchor taken before the rewrite (even when he re-signs with
 * the router's own key). Anchors that are forged, edited or newer than the
 * store are refused or reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "sf.h"

/* A key pair standing in for the router's (or the insider's). The framing
 * (context, NUL, data) only has to agree between sign and check here: the
 * router uses rpc_sign_bytes / rpc_verify_bytes. */
typedef struct keypair {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
} keypair;

static size_t framed(const char *context, const uint8_t *data, size_t len, uint8_t **out) {
  size_t cl = strlen(context) + 1;
  *out = malloc(cl + len);
  memcpy(*out, context, cl);
  memcpy(*out + cl, data, len);
  return cl + len;
}

static bool test_sign(void *arg, const char *context, const uint8_t *data, size_t len,
                      uint8_t sig[ST_SIG_BYTES]) {
  const keypair *k = arg;
  uint8_t *m;
  size_t n = framed(context, data, len, &m);
  int rc = crypto_sign_detached(sig, NULL, m, n, k->sk);
  free(m);
  return rc == 0;
}

static bool test_check(void *arg, const char *context, const uint8_t *data, size_t len,
                       const uint8_t *sig, size_t sig_len) {
  const keypair *k = arg;
  if (sig_len != crypto_sign_BYTES)
    return false;
  uint8_t *m;
  size_t n = framed(context, data, len, &m);
  int rc = crypto_sign_verify_detached(sig, m, n, k->pk);
  free(m);
  return rc == 0;
}

typedef struct env {
  char *dir;
  st_store *s;
  mc_registry *reg;
  keypair router, insider;
  char x[MC_CASE_ID_MAX]; /* police studio, 5 events */
  char y[MC_CASE_ID_MAX]; /* marriage studio, 2 events */
  sf_problems p;
} env;

static st_store *open_signed(const char *dir, keypair *k) {
  st_options o = {.dir = dir, .case_prefix = "BH", .utc_offset_minutes = SF_OFFSET,
                  .sign = test_sign, .sign_arg = k};
  st_store *s = NULL;
  mc_err err = {0};
  if (st_open(&o, &s, &err) != MC_OK)
    fail_msg("st_open %s: %s", dir, err.msg);
  return s;
}

static uint64_t verify_with(env *e, const keypair *k, const char *anchor) {
  memset(&e->p, 0, sizeof(e->p));
  st_verify_options o = {.check = k ? test_check : NULL, .check_arg = (void *)k,
                         .anchor = anchor};
  uint64_t n = 0;
  mc_err err = {0};
  mc_code rc = st_verify_with(e->s, &o, sf_collect, &e->p, &n, &err);
  if (rc != MC_OK)
    fail_msg("st_verify_with: %s: %s", mc_code_name(rc), err.msg);
  return n;
}

static void dump(const sf_problems *p) {
  for (unsigned i = 0; i < p->n; i++)
    print_message("  verify: %s\n", p->msgs[i]);
}

static int setup(void **state) {
  assert_true(sodium_init() >= 0);
  env *e = calloc(1, sizeof(*e));
  crypto_sign_keypair(e->router.pk, e->router.sk);
  crypto_sign_keypair(e->insider.pk, e->insider.sk);
  e->dir = sf_tmpdir();
  e->s = open_signed(e->dir, &e->router);
  e->reg = sf_registry();
  sf_take_in(e->s, e->reg, SF_POLICE, "kongque", MV_KIND(DIVORCE), "PS-1", SF_T0, e->x);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(ASSIGN), SF_POLICE, SF_T0 + SF_MINUTE);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(START_MEDIATION), SF_POLICE, SF_T0 + 2 * SF_MINUTE);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + 3 * SF_MINUTE);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + 4 * SF_MINUTE);
  sf_take_in(e->s, e->reg, SF_MARRIAGE, "baihe", MV_KIND(CUSTODY), NULL, SF_T0 + SF_HOUR, e->y);
  sf_kind(e->s, e->reg, e->y, MV_ACTION(ASSIGN), SF_MARRIAGE, SF_T0 + 2 * SF_HOUR);
  assert_int_equal(verify_with(e, &e->router, NULL), 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  st_close(e->s);
  mc_registry_free(e->reg);
  sf_rmrf(e->dir);
  free(e->dir);
  free(e);
  return 0;
}

/* ---- The insider's tools: raw LMDB on the closed store ------------------------------------ */

static size_t event_key(uint8_t *k, const char *id, uint32_t seq) {
  size_t n = strlen(id) + 1;
  memcpy(k, id, n);
  k[n] = (uint8_t)(seq >> 24);
  k[n + 1] = (uint8_t)(seq >> 16);
  k[n + 2] = (uint8_t)(seq >> 8);
  k[n + 3] = (uint8_t)seq;
  return n + 4;
}

static void put_msg(const char *dir, const char *db, const void *key, size_t klen,
                    const ProtobufCMessage *m) {
  size_t vl = protobuf_c_message_get_packed_size(m);
  uint8_t *v = malloc(vl ? vl : 1);
  protobuf_c_message_pack(m, v);
  sf_raw_put(dir, db, key, klen, v, vl);
  free(v);
}

/* Changes who acted in event `seq` of a case, then recomputes every later
 * prev_hash and the record by replaying the edited file, and writes them
 * all back: the hash chain holds, the record replays. Returns the new hash
 * of the last event (for re-signing). */
static void rewrite(const char *dir, const char *id, uint32_t seq, uint32_t n_events,
                    uint8_t last_hash[MC_HASH_BYTES]) {
  mv_case *cur = NULL;
  uint8_t prev[MC_HASH_BYTES];
  for (uint32_t s = 1; s <= n_events; s++) {
    uint8_t k[64], *step;
    size_t kl = event_key(k, id, s), vl;
    step = sf_raw_get(dir, "case_files", k, kl, &vl); /* the event's key in the case log */
    assert_non_null(step);
    assert_int_equal(vl, 8);
    uint8_t *v = sf_raw_get(dir, "case_log", step, 8, &vl);
    assert_non_null(v);
    mv_event *ev = mediation__v1__case_event__unpack(NULL, vl, v);
    free(v);
    assert_non_null(ev);
    char *person = NULL;
    if (s == seq) {
      person = ev->actor->person;
      ev->actor->person = "改过的人";
    }
    if (s > seq) {
      assert_int_equal(ev->prev_hash.len, MC_HASH_BYTES);
      memcpy(ev->prev_hash.data, prev, MC_HASH_BYTES);
    }
    if (s >= seq)
      put_msg(dir, "case_log", step, 8, &ev->base);
    free(step);
    mc_event_hash(ev, prev);
    mv_case *next = NULL;
    mc_err err = {0};
    if (mc_replay_event(SF_OFFSET, cur, ev, &next, &err) != MC_OK)
      fail_msg("replaying the rewritten file: %s", err.msg);
    if (cur != NULL)
      protobuf_c_message_free_unpacked(&cur->base, NULL);
    cur = next;
    if (person != NULL)
      ev->actor->person = person; /* the literal is not the message's to free */
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  }
  assert_int_equal(cur->event_count, n_events);
  assert_memory_equal(cur->last_event_hash.data, prev, MC_HASH_BYTES);
  put_msg(dir, "cases", id, strlen(id), &cur->base);
  protobuf_c_message_free_unpacked(&cur->base, NULL);
  memcpy(last_hash, prev, MC_HASH_BYTES);
}

/* The head signed the router's way (the bytes of storage/seal.c), with k. */
static void resign_head(const char *dir, const char *id, uint32_t seq,
                        const uint8_t hash[MC_HASH_BYTES], keypair *k) {
  uint8_t data[128], sig[ST_SIG_BYTES];
  size_t n = strlen(id);
  data[0] = data[1] = data[2] = 0;
  data[3] = (uint8_t)n;
  memcpy(data + 4, id, n);
  data[4 + n] = data[5 + n] = data[6 + n] = 0;
  data[7 + n] = (uint8_t)seq;
  memcpy(data + 8 + n, hash, MC_HASH_BYTES);
  assert_true(test_sign(k, ST_HEAD_CONTEXT, data, 8 + n + MC_HASH_BYTES, sig));
  st_case_head h = MEDIATION__V1__CASE_HEAD__INIT;
  h.case_id = (char *)id;
  h.seq = seq;
  h.hash.data = (uint8_t *)hash;
  h.hash.len = MC_HASH_BYTES;
  h.signature.data = sig;
  h.signature.len = ST_SIG_BYTES;
  put_msg(dir, "heads", id, n, &h.base);
}

/* ---- Tests --------------------------------------------------------------------------------- */

/* The rewrite alone (chain and record recomputed, heads untouched): plain
 * verify catches it, without any key. Before signed heads it found nothing. */
static void test_rewrite_caught(void **state) {
  env *e = *state;
  st_close(e->s);
  uint8_t h[MC_HASH_BYTES];
  rewrite(e->dir, e->x, 2, 5, h);
  e->s = sf_open(e->dir, 0, 0);
  uint64_t n = sf_verify(e->s, &e->p);
  if (n == 0 || !sf_has_problem(&e->p, e->x, 0, "signed head")) {
    dump(&e->p);
    fail_msg("verify did not catch a rewrite of %s with a recomputed chain and record", e->x);
  }
  /* The chain itself holds: only the head gives it away. */
  assert_false(sf_has_problem(&e->p, e->x, 0, "prev_hash"));
  assert_false(sf_has_problem(&e->p, e->y, 0, NULL));
}

/* The rewrite with the head re-signed by the insider's own key: caught by
 * the signature check, and only by it. */
static void test_rewrite_resigned_with_other_key(void **state) {
  env *e = *state;
  st_close(e->s);
  uint8_t h[MC_HASH_BYTES];
  rewrite(e->dir, e->x, 3, 5, h);
  resign_head(e->dir, e->x, 5, h, &e->insider);
  e->s = open_signed(e->dir, &e->router);
  assert_int_equal(verify_with(e, NULL, NULL), 0); /* without the key it looks sound */
  if (verify_with(e, &e->router, NULL) == 0 ||
      !sf_has_problem(&e->p, e->x, 5, "does not verify with the router's public key")) {
    dump(&e->p);
    fail_msg("verify did not catch a rewrite re-signed with another key");
  }
  assert_false(sf_has_problem(&e->p, e->y, 0, NULL));
}

/* The rewrite re-signed with the router's own key (a stolen key): every
 * signature holds, but an anchor from before the rewrite catches it, even
 * though the store went on working after the anchor. */
static void test_anchor_catches_rewrite_resigned_with_router_key(void **state) {
  env *e = *state;
  char line[ST_ANCHOR_MAX];
  st_anchor a;
  mc_err err = {0};
  assert_int_equal(st_anchor_make(e->s, SF_T0 + SF_DAY, line, &a, &err), MC_OK);
  assert_int_equal(a.cases, 2);
  assert_int_equal(a.step, 7);
  /* Work after the anchor: a step on x, a new case z. */
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + SF_DAY + SF_HOUR);
  char z[MC_CASE_ID_MAX];
  sf_take_in(e->s, e->reg, SF_WANGAI, "wangai", MV_KIND(NEIGHBOUR), "WA-1",
             SF_T0 + SF_DAY + 2 * SF_HOUR, z);
  assert_int_equal(verify_with(e, &e->router, line), 0);

  st_close(e->s);
  uint8_t h[MC_HASH_BYTES];
  rewrite(e->dir, e->x, 2, 6, h);
  resign_head(e->dir, e->x, 6, h, &e->router);
  e->s = open_signed(e->dir, &e->router);
  assert_int_equal(verify_with(e, &e->router, NULL), 0); /* every signature holds */
  if (verify_with(e, &e->router, line) == 0 ||
      !sf_has_problem(&e->p, NULL, 0, "do not give its root")) {
    dump(&e->p);
    fail_msg("an anchor from before the rewrite did not catch it");
  }
}

/* A rewrite of a step made after the anchor is not the anchor's business:
 * the anchor still holds (and the head signature is what catches it). */
static void test_anchor_ignores_later_steps(void **state) {
  env *e = *state;
  char line[ST_ANCHOR_MAX];
  mc_err err = {0};
  assert_int_equal(st_anchor_make(e->s, SF_T0 + SF_DAY, line, NULL, &err), MC_OK);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + SF_DAY + SF_HOUR);
  st_close(e->s);
  uint8_t h[MC_HASH_BYTES];
  rewrite(e->dir, e->x, 6, 6, h);
  resign_head(e->dir, e->x, 6, h, &e->router);
  e->s = open_signed(e->dir, &e->router);
  assert_int_equal(verify_with(e, &e->router, line), 0);
}

/* A store older than the anchor (an old backup served as current) is
 * reported: steps the coordinators saw anchored are gone. */
static void test_anchor_newer_than_store(void **state) {
  env *e = *state;
  char *copy = sf_path(e->dir, "old");
  mc_err err = {0};
  assert_int_equal(st_backup(e->s, copy, &err), MC_OK);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + SF_DAY);
  char line[ST_ANCHOR_MAX];
  assert_int_equal(st_anchor_make(e->s, SF_T0 + SF_DAY, line, NULL, &err), MC_OK);
  st_close(e->s);
  e->s = open_signed(copy, &e->router);
  if (verify_with(e, &e->router, line) == 0 ||
      !sf_has_problem(&e->p, NULL, 0, "older than the anchor")) {
    dump(&e->p);
    fail_msg("an old copy passed an anchor taken after it");
  }
  st_close(e->s);
  e->s = open_signed(e->dir, &e->router);
  free(copy);
}

/* The router makes a backup's anchor just before the copy (router/admin.c):
 * the restored copy passes it, steps made meanwhile notwithstanding. */
static void test_backup_passes_its_anchor(void **state) {
  env *e = *state;
  char line[ST_ANCHOR_MAX];
  mc_err err = {0};
  assert_int_equal(st_anchor_make(e->s, SF_T0 + SF_DAY, line, NULL, &err), MC_OK);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + SF_DAY);
  char *copy = sf_path(e->dir, "backup");
  assert_int_equal(st_backup(e->s, copy, &err), MC_OK);
  sf_kind(e->s, e->reg, e->y, MV_ACTION(START_MEDIATION), SF_MARRIAGE, SF_T0 + SF_DAY + 1);
  st_close(e->s);
  e->s = open_signed(copy, &e->router);
  assert_int_equal(verify_with(e, &e->router, line), 0);
  st_close(e->s);
  e->s = open_signed(e->dir, &e->router);
  free(copy);
}

/* Anchors that are edited, signed by another key, or not anchors. */
static void test_bad_anchors(void **state) {
  env *e = *state;
  char line[ST_ANCHOR_MAX];
  mc_err err = {0};
  assert_int_equal(st_anchor_make(e->s, SF_T0 + SF_DAY, line, NULL, &err), MC_OK);
  uint64_t n;
  st_verify_options o = {.check = test_check, .check_arg = &e->router, .anchor = line};
  /* A trailing newline, as in a file, is fine. */
  char with_nl[ST_ANCHOR_MAX + 2];
  snprintf(with_nl, sizeof(with_nl), "%s\n", line);
  o.anchor = with_nl;
  assert_int_equal(st_verify_with(e->s, &o, NULL, NULL, &n, &err), MC_OK);
  assert_int_equal(n, 0);
  /* One digit of the root changed: the signature no longer holds. */
  char edited[ST_ANCHOR_MAX];
  snprintf(edited, sizeof(edited), "%s", line);
  char *root = strstr(edited, "root=") + 5;
  root[0] = root[0] == '0' ? '1' : '0';
  o.anchor = edited;
  assert_int_equal(st_verify_with(e->s, &o, NULL, NULL, &n, &err), MC_UNAUTHENTICATED);
  /* Checked against another key. */
  o.anchor = line;
  o.check_arg = &e->insider;
  assert_int_equal(st_verify_with(e->s, &o, NULL, NULL, &n, &err), MC_UNAUTHENTICATED);
  /* No key at all. */
  o.check = NULL;
  assert_int_equal(st_verify_with(e->s, &o, NULL, NULL, &n, &err), MC_INVALID_ARGUMENT);
  o.check = test_check;
  o.check_arg = &e->router;
  static const char *const junk[] = {
      "", "mediation-anchor/1", "mediation-anchor/2 at=1 step=1 cases=1 root=00 sig=00",
      "mediation-anchor/1 at=1 step=x cases=1 root=00 sig=00",
      "mediation-anchor/1 at=1 step=1 cases=1 root=00 sig=00",
  };
  for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
    o.anchor = junk[i];
    assert_int_equal(st_verify_with(e->s, &o, NULL, NULL, &n, &err), MC_INVALID_ARGUMENT);
  }
  char trailing[ST_ANCHOR_MAX + 16];
  snprintf(trailing, sizeof(trailing), "%s trailing", line);
  o.anchor = trailing;
  assert_int_equal(st_verify_with(e->s, &o, NULL, NULL, &n, &err), MC_INVALID_ARGUMENT);
}

/* A store that cannot sign makes no anchors, and its unsigned heads are
 * reported by a verify that checks signatures. */
static void test_unsigned_store(void **state) {
  env *e = *state;
  st_close(e->s);
  char *dir = sf_path(e->dir, "unsigned");
  e->s = sf_open(dir, 0, 0);
  char id[MC_CASE_ID_MAX];
  sf_take_in(e->s, e->reg, SF_POLICE, "kongque", MV_KIND(DIVORCE), "PS-9", SF_T0, id);
  char line[ST_ANCHOR_MAX];
  mc_err err = {0};
  assert_int_equal(st_anchor_make(e->s, SF_T0, line, NULL, &err), MC_FAILED_PRECONDITION);
  assert_int_equal(verify_with(e, NULL, NULL), 0);
  assert_int_equal(verify_with(e, &e->router, NULL), 1);
  assert_true(sf_has_problem(&e->p, id, 0, "not signed"));
  st_close(e->s);
  e->s = open_signed(e->dir, &e->router);
  free(dir);
}

/* Turns the closed store back into schema 1's layout: case files under
 * `events` keyed by case and seq, no case log, no heads. */
static void make_schema_1(env *e, const char *id, uint32_t n) {
  for (uint32_t s = 1; s <= n; s++) {
    uint8_t k[64];
    size_t kl = event_key(k, id, s), vl;
    uint8_t *step = sf_raw_get(e->dir, "case_files", k, kl, &vl);
    assert_non_null(step);
    uint8_t *v = sf_raw_get(e->dir, "case_log", step, 8, &vl);
    assert_non_null(v);
    sf_raw_put(e->dir, "events", k, kl, v, vl);
    assert_true(sf_raw_del(e->dir, "case_log", step, 8));
    assert_true(sf_raw_del(e->dir, "case_files", k, kl));
    free(step);
    free(v);
  }
  assert_true(sf_raw_del(e->dir, "heads", id, strlen(id)));
}

/* A schema-1 store (case files keyed by case, no heads) upgraded on
 * request: its case files move to the case log, every case gets a signed
 * head, and it verifies clean, its events unchanged. */
static void test_upgrade_signs_heads(void **state) {
  env *e = *state;
  st_txn *t;
  mc_err err = {0};
  mv_event **before;
  size_t n_before;
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  assert_int_equal(st_events_get(t, e->x, &before, &n_before, &err), MC_OK);
  st_read_end(t);
  st_close(e->s);
  make_schema_1(e, e->x, 5);
  make_schema_1(e, e->y, 2);
  uint8_t zero[8] = {0};
  sf_raw_put(e->dir, "meta", "step", 4, zero, 8);
  uint8_t v1[8] = {0, 0, 0, 0, 0, 0, 0, 1};
  sf_raw_put(e->dir, "meta", "schema", 6, v1, 8);
  st_options o = {.dir = e->dir, .case_prefix = "BH", .utc_offset_minutes = SF_OFFSET,
                  .sign = test_sign, .sign_arg = &e->router};
  assert_int_equal(st_open(&o, &e->s, &err), MC_FAILED_PRECONDITION);
  o.upgrade = true;
  assert_int_equal(st_open(&o, &e->s, &err), MC_OK);
  assert_int_equal(verify_with(e, &e->router, NULL), 0);
  mv_event **after;
  size_t n_after;
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  assert_int_equal(st_events_get(t, e->x, &after, &n_after, &err), MC_OK);
  st_read_end(t);
  assert_int_equal(n_after, n_before);
  for (size_t i = 0; i < n_after; i++) {
    uint8_t a[MC_HASH_BYTES], b[MC_HASH_BYTES];
    mc_event_hash(before[i], a);
    mc_event_hash(after[i], b);
    assert_memory_equal(a, b, MC_HASH_BYTES);
  }
  st_messages_free(before, n_before);
  st_messages_free(after, n_after);
  /* Steps go on after the upgrade, and an anchor covers the upgraded files. */
  char line[ST_ANCHOR_MAX];
  assert_int_equal(st_anchor_make(e->s, SF_T0 + SF_DAY, line, NULL, &err), MC_OK);
  sf_kind(e->s, e->reg, e->x, MV_ACTION(RECORD_SESSION), SF_POLICE, SF_T0 + SF_DAY + SF_HOUR);
  assert_int_equal(verify_with(e, &e->router, line), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rewrite_caught, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rewrite_resigned_with_other_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_anchor_catches_rewrite_resigned_with_router_key,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_anchor_ignores_later_steps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_anchor_newer_than_store, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backup_passes_its_anchor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_anchors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unsigned_store, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upgrade_signs_heads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
