/*
 * sf_base.c - scratch directories, stores, raw LMDB and verify helpers for
 * the storage tests (see sf.h).
 */
#define _XOPEN_SOURCE 700
#include "sf.h"

#include <ftw.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

char *sf_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof(tmpl), "%s/st-test-XXXXXX", base && base[0] ? base : "/tmp");
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  char *out = strdup(d);
  assert_non_null(out);
  return out;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void sf_rmrf(const char *dir) {
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *sf_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

st_store *sf_open(const char *dir, size_t map_size, size_t max_map_size) {
  st_options o = {
      .dir = dir,
      .map_size = map_size,
      .max_map_size = max_map_size,
      .case_prefix = "BH",
      .utc_offset_minutes = SF_OFFSET,
  };
  st_store *s = NULL;
  mc_err err = {0};
  mc_code rc = st_open(&o, &s, &err);
  if (rc != MC_OK)
    fail_msg("st_open %s: %s: %s", dir, mc_code_name(rc), err.msg);
  return s;
}

/* ---- Raw LMDB -------------------------------------------------------------------- */

typedef struct raw {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
} raw;

static void raw_open(raw *r, const char *dir, const char *db, bool write) {
  assert_int_equal(mdb_env_create(&r->env), 0);
  assert_int_equal(mdb_env_set_maxdbs(r->env, 32), 0);
  int rc = mdb_env_open(r->env, dir, 0, 0600);
  if (rc != 0)
    fail_msg("raw open %s: %s", dir, mdb_strerror(rc));
  assert_int_equal(mdb_txn_begin(r->env, NULL, write ? 0 : MDB_RDONLY, &r->txn), 0);
  rc = mdb_dbi_open(r->txn, db, 0, &r->dbi);
  if (rc != 0)
    fail_msg("raw open db %s: %s", db, mdb_strerror(rc));
}

static void raw_close(raw *r, bool commit) {
  if (commit)
    assert_int_equal(mdb_txn_commit(r->txn), 0);
  else
    mdb_txn_abort(r->txn);
  mdb_env_close(r->env);
}

void sf_raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
                size_t vlen) {
  raw r;
  raw_open(&r, dir, db, true);
  MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
  int rc = mdb_put(r.txn, r.dbi, &k, &v, 0);
  if (rc != 0)
    fail_msg("raw put: %s", mdb_strerror(rc));
  raw_close(&r, true);
}

bool sf_raw_del(const char *dir, const char *db, const void *key, size_t klen) {
  raw r;
  raw_open(&r, dir, db, true);
  MDB_val k = {klen, (void *)key};
  int rc = mdb_del(r.txn, r.dbi, &k, NULL);
  raw_close(&r, rc == 0);
  return rc == 0;
}

uint8_t *sf_raw_get(const char *dir, const char *db, const void *key, size_t klen, size_t *vlen) {
  raw r;
  raw_open(&r, dir, db, false);
  MDB_val k = {klen, (void *)key}, v;
  uint8_t *out = NULL;
  if (mdb_get(r.txn, r.dbi, &k, &v) == 0) {
    out = malloc(v.mv_size + 1);
    assert_non_null(out);
    memcpy(out, v.mv_data, v.mv_size);
    *vlen = v.mv_size;
  }
  raw_close(&r, false);
  return out;
}

uint8_t *sf_raw_first(const char *dir, const char *db, const void *prefix, size_t plen,
                      size_t *klen) {
  raw r;
  raw_open(&r, dir, db, false);
  MDB_cursor *c;
  assert_int_equal(mdb_cursor_open(r.txn, r.dbi, &c), 0);
  MDB_val k = {plen, (void *)prefix}, v;
  uint8_t *out = NULL;
  int rc = plen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
  if (rc == 0 && k.mv_size >= plen && (plen == 0 || memcmp(k.mv_data, prefix, plen) == 0)) {
    out = malloc(k.mv_size + 1);
    assert_non_null(out);
    memcpy(out, k.mv_data, k.mv_size);
    *klen = k.mv_size;
  }
  mdb_cursor_close(c);
  raw_close(&r, false);
  return out;
}

/* ---- Deliveries --------------------------------------------------------------------- */

mv_delivery *sf_delivery(const char *unit, const char *case_id, size_t pad) {
  mv_delivery *d = calloc(1, sizeof(*d));
  mv_case *c = calloc(1, sizeof(*c));
  mv_intake *in = calloc(1, sizeof(*in));
  char *summary = malloc(pad + 1);
  assert_true(d && c && in && summary);
  mediation__v1__delivery__init(d);
  mediation__v1__case__init(c);
  mediation__v1__intake__init(in);
  memset(summary, 'x', pad);
  summary[pad] = '\0';
  in->summary = summary;
  c->id = (char *)case_id;
  c->intake = in;
  d->unit = (char *)unit;
  d->kind = MV_DELIVERY(OFFER);
  d->snapshot = c;
  d->queued_ms = SF_T0;
  return d;
}

void sf_delivery_free(mv_delivery *d) {
  free(d->snapshot->intake->summary);
  free(d->snapshot->intake);
  free(d->snapshot);
  free(d);
}

