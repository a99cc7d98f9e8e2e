/*
 * test_store_batch.c - the store's environment and its plain records:
 * opening, group commit (one refused op spoils nothing, nothing is seen
 * before the commit, a failed commit applies nothing), the delivery queue,
 * idempotency with expiry, the access log, decoding damage, backups.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sf.h"
#include "storage/env.h" /* sti_code */

typedef struct env {
  char *dir;
  st_store *s;
} env;

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  e->dir = sf_tmpdir();
  e->s = sf_open(e->dir, 0, 0);
  *state = e;
  return 0;
}

static int teardown(void **state) {
  env *e = *state;
  st_close(e->s);
  sf_rmrf(e->dir);
  free(e->dir);
  free(e);
  return 0;
}

static void reopen(env *e) {
  st_close(e->s);
  e->s = sf_open(e->dir, 0, 0);
}

/* ---- Helpers: ops that queue deliveries ------------------------------------------- */

typedef struct put_arg {
  const char *unit;
  const char *case_id;
  size_t pad;
  mc_code then; /* returned after a successful put */
  uint64_t seq;
  int runs;
} put_arg;

static mc_code put_op(st_txn *t, void *arg, mc_err *err) {
  put_arg *a = arg;
  a->runs++;
  mv_delivery *d = sf_delivery(a->unit, a->case_id, a->pad);
  mc_code rc = st_delivery_put(t, d, &a->seq, err);
  sf_delivery_free(d);
  if (rc != MC_OK)
    return rc;
  if (a->then != MC_OK)
    return mc_err_set(err, a->then, "refused after writing");
  return MC_OK;
}

static void queue(env *e, const char *unit, const char *case_id, uint64_t *seq) {
  put_arg a = {.unit = unit, .case_id = case_id, .pad = 10};
  mc_err err = {0};
  assert_int_equal(st_write(e->s, put_op, &a, &err), MC_OK);
  if (seq)
    *seq = a.seq;
}

static size_t pending(st_store *s, const char *unit, uint64_t after, uint64_t *seqs,
                      char ids[][MC_CASE_ID_MAX]) {
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  mv_delivery **ds;
  size_t n;
  assert_int_equal(st_delivery_list(t, unit, after, ST_PAGE_MAX, &ds, &n, &err), MC_OK);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(ds[i]->unit, unit);
    if (seqs)
      seqs[i] = ds[i]->seq;
    if (ids)
      snprintf(ids[i], MC_CASE_ID_MAX, "%s", ds[i]->snapshot->id);
  }
  st_messages_free(ds, n);
  st_read_end(t);
  return n;
}

/* ---- Opening ---------------------------------------------------------------------- */

static void test_open_options(void **state) {
  (void)state;
  char *dir = sf_tmpdir();
  st_store *s = NULL;
  mc_err err = {0};
  st_options o = {.dir = NULL};
  assert_int_equal(st_open(&o, &s, &err), MC_INVALID_ARGUMENT);
  o = (st_options){.dir = dir, .case_prefix = "bh"};
  assert_int_equal(st_open(&o, &s, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "case_prefix"));
  o = (st_options){.dir = dir, .map_size = 8 << 20, .max_map_size = 1 << 20};
  assert_int_equal(st_open(&o, &s, &err), MC_INVALID_ARGUMENT);
  assert_null(s);
  /* A file where the directory should be. */
  char *file = sf_path(dir, "plain");
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fclose(f);
  o = (st_options){.dir = file};
  assert_int_equal(st_open(&o, &s, &err), MC_INVALID_ARGUMENT);
  /* A fresh directory is created, private. */
  char *sub = sf_path(dir, "store");
  s = sf_open(sub, 0, 0);
  struct stat sb;
  assert_int_equal(stat(sub, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0700);
  char *data = sf_path(sub, "data.mdb");
  assert_int_equal(stat(data, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  st_info info;
  assert_int_equal(st_info_get(s, &info, &err), MC_OK);
  assert_int_equal(info.cases, 0);
  assert_true(info.map_size >= ST_DEFAULT_MAP_SIZE);
  int cleared = -1;
  assert_int_equal(st_reader_check(s, &cleared, &err), MC_OK);
  assert_int_equal(cleared, 0);
  st_close(s);
  free(data);
  free(sub);
  free(file);
  sf_rmrf(dir);
  free(dir);
}

static void test_schema_version(void **state) {
  env *e = *state;
  st_close(e->s);
  e->s = NULL;
  uint8_t v3[8] = {0, 0, 0, 0, 0, 0, 0, 3};
  sf_raw_put(e->dir, "meta", "schema", 6, v3, 8);
  st_options o = {.dir = e->dir, .utc_offset_minutes = SF_OFFSET};
  st_store *s = NULL;
  mc_err err = {0};
  assert_int_equal(st_open(&o, &s, &err), MC_FAILED_PRECONDITION);
  assert_non_null(strstr(err.msg, "schema version 3"));
  /* Schema 1 (before signed heads) is upgraded only when asked. */
  uint8_t v1[8] = {0, 0, 0, 0, 0, 0, 0, 1};
  sf_raw_put(e->dir, "meta", "schema", 6, v1, 8);
  assert_int_equal(st_open(&o, &s, &err), MC_FAILED_PRECONDITION);
  assert_non_null(strstr(err.msg, "--upgrade-store"));
  o.upgrade = true;
  assert_int_equal(st_open(&o, &s, &err), MC_OK);
  st_close(s);
  size_t vl;
  uint8_t *v = sf_raw_get(e->dir, "meta", "schema", 6, &vl);
  assert_non_null(v);
  assert_int_equal(vl, 8);
  assert_int_equal(v[7], 2);
  free(v);
  e->s = sf_open(e->dir, 0, 0);
}

/* ---- Group commit ------------------------------------------------------------------- */

static void test_batch_one_refused(void **state) {
  env *e = *state;
  put_arg a[3] = {
      {.unit = SF_MARRIAGE, .case_id = "BH-2026-000001", .pad = 10},
      {.unit = SF_MARRIAGE, .case_id = "BH-2026-000002", .pad = 10, .then = MC_FAILED_PRECONDITION},
      {.unit = SF_MARRIAGE, .case_id = "BH-2026-000003", .pad = 10},
  };
  st_op ops[3];
  for (int i = 0; i < 3; i++)
    ops[i] = (st_op){.apply = put_op, .arg = &a[i]};
  mc_err err = {0};
  assert_int_equal(st_write_batch(e->s, ops, 3, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_OK);
  assert_int_equal(ops[1].code, MC_FAILED_PRECONDITION);
  assert_string_equal(ops[1].err.msg, "refused after writing");
  assert_int_equal(ops[2].code, MC_OK);
  uint64_t seqs[8];
  char ids[8][MC_CASE_ID_MAX];
  assert_int_equal(pending(e->s, SF_MARRIAGE, 0, seqs, ids), 2);
  assert_string_equal(ids[0], "BH-2026-000001");
  assert_string_equal(ids[1], "BH-2026-000003");
  /* The refused op's seq allocation was rolled back with it. */
  assert_int_equal(seqs[0], 1);
  assert_int_equal(seqs[1], 2);
  /* An op without a callback is refused alone too. */
  st_op bad[2] = {{.apply = NULL}, {.apply = put_op, .arg = &a[0]}};
  assert_int_equal(st_write_batch(e->s, bad, 2, &err), MC_OK);
  assert_int_equal(bad[0].code, MC_INVALID_ARGUMENT);
  assert_int_equal(bad[1].code, MC_OK);
  assert_int_equal(st_write_batch(e->s, NULL, 0, &err), MC_OK);
}

/* Direct ops (st_op.direct) run without a nested transaction of their
 * own. One that refuses without writing leaves the others untouched; one
 * that breaks the promise (refuses after writing) makes the batch run again
 * with it nested, so its writes still vanish and the others stand. */
typedef struct refuse_arg {
  int runs;
} refuse_arg;

static mc_code refuse_op(st_txn *t, void *arg, mc_err *err) {
  (void)t;
  ((refuse_arg *)arg)->runs++;
  return mc_err_set(err, MC_FAILED_PRECONDITION, "refused before writing");
}

static void test_direct_ops(void **state) {
  env *e = *state;
  put_arg a[3] = {
      {.unit = SF_WANGAI, .case_id = "BH-2026-000011", .pad = 10},
      {.unit = SF_WANGAI, .case_id = "BH-2026-000012", .pad = 10, .then = MC_FAILED_PRECONDITION},
      {.unit = SF_WANGAI, .case_id = "BH-2026-000013", .pad = 10},
  };
  refuse_arg r = {0};
  st_op ops[4] = {
      {.apply = put_op, .arg = &a[0], .direct = true},
      {.apply = refuse_op, .arg = &r, .direct = true},
      {.apply = put_op, .arg = &a[1], .direct = true}, /* breaks the promise */
      {.apply = put_op, .arg = &a[2], .direct = true},
  };
  mc_err err = {0};
  assert_int_equal(st_write_batch(e->s, ops, 4, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_OK);
  assert_int_equal(ops[1].code, MC_FAILED_PRECONDITION);
  assert_string_equal(ops[1].err.msg, "refused before writing");
  assert_int_equal(ops[2].code, MC_FAILED_PRECONDITION);
  assert_int_equal(ops[3].code, MC_OK);
  /* the batch ran twice: the second time with the promise-breaker nested */
  assert_false(ops[2].direct);
  assert_true(ops[0].direct && ops[1].direct && ops[3].direct);
  assert_int_equal(a[0].runs, 2);
  assert_int_equal(a[1].runs, 2);
  assert_int_equal(a[2].runs, 1); /* the first run stopped at op 2 */
  char ids[8][MC_CASE_ID_MAX];
  uint64_t seqs[8];
  assert_int_equal(pending(e->s, SF_WANGAI, 0, seqs, ids), 2);
  assert_string_equal(ids[0], "BH-2026-000011");
  assert_string_equal(ids[1], "BH-2026-000013");
  assert_int_equal(seqs[1], seqs[0] + 1); /* the refused op's seq was rolled back */
}

/* An all_or_nothing op that refuses takes the whole batch with it: the
 * ops before it that succeeded are not committed, and every op carries its
 * refusal. One that accepts changes nothing. */
static void test_all_or_nothing(void **state) {
  env *e = *state;
  put_arg a[2] = {
      {.unit = SF_WANGAI, .case_id = "BH-2026-000021", .pad = 10},
      {.unit = SF_WANGAI, .case_id = "BH-2026-000022", .pad = 10},
  };
  refuse_arg r = {0};
  st_op ops[3] = {
      {.apply = put_op, .arg = &a[0]},
      {.apply = put_op, .arg = &a[1], .direct = true},
      {.apply = refuse_op, .arg = &r, .all_or_nothing = true},
  };
  mc_err err = {0};
  assert_int_equal(st_write_batch(e->s, ops, 3, &err), MC_FAILED_PRECONDITION);
  assert_string_equal(err.msg, "refused before writing");
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ops[i].code, MC_FAILED_PRECONDITION);
    assert_string_equal(ops[i].err.msg, "refused before writing");
  }
  assert_int_equal(r.runs, 1);
  assert_int_equal(pending(e->s, SF_WANGAI, 0, NULL, NULL), 0);
  /* Accepting, it is an op like any other. */
  st_op ok[2] = {
      {.apply = put_op, .arg = &a[0]},
      {.apply = put_op, .arg = &a[1], .all_or_nothing = true},
  };
  assert_int_equal(st_write_batch(e->s, ok, 2, &err), MC_OK);
  assert_int_equal(ok[0].code, MC_OK);
  assert_int_equal(ok[1].code, MC_OK);
  assert_int_equal(pending(e->s, SF_WANGAI, 0, NULL, NULL), 2);
}

/* A reader on another thread, started while the batch is inside its
 * callback, and a reader that began before the batch, see nothing of it. */
typedef struct peek {
  st_store *s;
  size_t seen;
} peek;

static void *peek_thread(void *arg) {
  peek *p = arg;
  p->seen = pending(p->s, SF_BAIHE, 0, NULL, NULL);
  return NULL;
}

typedef struct invisible_arg {
  st_store *s;
  size_t seen_inside;
} invisible_arg;

static mc_code invisible_op(st_txn *t, void *arg, mc_err *err) {
  invisible_arg *a = arg;
  mv_delivery *d = sf_delivery(SF_BAIHE, "BH-2026-000009", 10);
  mc_code rc = st_delivery_put(t, d, NULL, err);
  sf_delivery_free(d);
  if (rc != MC_OK)
    return rc;
  /* The batch's own transaction sees its write... */
  mv_delivery **ds;
  size_t n;
  assert_int_equal(st_delivery_list(t, SF_BAIHE, 0, 10, &ds, &n, err), MC_OK);
  assert_int_equal(n, 1);
  st_messages_free(ds, n);
  /* ...a reader elsewhere does not. */
  peek p = {.s = a->s};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, peek_thread, &p), 0);
  pthread_join(th, NULL);
  a->seen_inside = p.seen;
  return MC_OK;
}

static void test_nothing_visible_before_commit(void **state) {
  env *e = *state;
  st_txn *before;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &before, &err), MC_OK);
  invisible_arg a = {.s = e->s, .seen_inside = 99};
  assert_int_equal(st_write(e->s, invisible_op, &a, &err), MC_OK);
  assert_int_equal(a.seen_inside, 0);
  mv_delivery **ds;
  size_t n;
  assert_int_equal(st_delivery_list(before, SF_BAIHE, 0, 10, &ds, &n, &err), MC_OK);
  assert_int_equal(n, 0); /* a snapshot from before the commit */
  st_messages_free(ds, n);
  st_read_end(before);
  assert_int_equal(pending(e->s, SF_BAIHE, 0, NULL, NULL), 1);
}

/* A callback that swallows a failed put and returns OK cannot commit a dead
 * transaction; a batch the map cannot hold fails whole. */
typedef struct greedy_arg {
  size_t puts, failures;
} greedy_arg;

static mc_code greedy_op(st_txn *t, void *arg, mc_err *err) {
  greedy_arg *a = arg;
  a->failures = 0;
  for (size_t i = 0; i < a->puts; i++) {
    mv_delivery *d = sf_delivery(SF_WANGAI, "BH-2026-000010", 4000);
    if (st_delivery_put(t, d, NULL, err) != MC_OK)
      a->failures++;
    sf_delivery_free(d);
  }
  return MC_OK; /* whatever happened */
}

static void test_failed_commit_applies_nothing(void **state) {
  (void)state;
  char *dir = sf_tmpdir();
  st_store *s = sf_open(dir, 1 << 20, 1 << 20); /* cannot grow */
  greedy_arg small = {.puts = 2};
  greedy_arg big = {.puts = 2000}; /* ~8 MB */
  put_arg other = {.unit = SF_WANGAI, .case_id = "BH-2026-000011", .pad = 10};
  st_op ops[3] = {{.apply = greedy_op, .arg = &small},
                  {.apply = put_op, .arg = &other},
                  {.apply = greedy_op, .arg = &big}};
  mc_err err = {0};
  assert_int_equal(st_write_batch(s, ops, 3, &err), MC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(err.msg, "maximum"));
  assert_true(big.failures > 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ops[i].code, MC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(ops[i].err.msg, "maximum"));
  }
  assert_int_equal(pending(s, SF_WANGAI, 0, NULL, NULL), 0);
  /* The store is fine afterwards. */
  st_op ok[2] = {{.apply = greedy_op, .arg = &small}, {.apply = put_op, .arg = &other}};
  assert_int_equal(st_write_batch(s, ok, 2, &err), MC_OK);
  assert_int_equal(ok[0].code, MC_OK);
  assert_int_equal(pending(s, SF_WANGAI, 0, NULL, NULL), 3);
  st_close(s);
  sf_rmrf(dir);
  free(dir);
}

static void test_read_txn_cannot_write(void **state) {
  env *e = *state;
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  assert_false(st_txn_is_write(t));
  mv_delivery *d = sf_delivery(SF_POLICE, "BH-2026-000001", 1);
  assert_int_equal(st_delivery_put(t, d, NULL, &err), MC_FAILED_PRECONDITION);
  sf_delivery_free(d);
  char id[MC_CASE_ID_MAX];
  assert_int_equal(st_case_next_id(t, 2026, id, &err), MC_FAILED_PRECONDITION);
  bool already;
  assert_int_equal(st_delivery_ack(t, SF_POLICE, 1, &already, &err), MC_FAILED_PRECONDITION);
  st_read_end(t);
}

/* ---- Deliveries ----------------------------------------------------------------------- */

typedef struct ack_arg {
  const char *unit;
  uint64_t seq;
  bool already;
} ack_arg;

static mc_code ack_op(st_txn *t, void *arg, mc_err *err) {
  ack_arg *a = arg;
  return st_delivery_ack(t, a->unit, a->seq, &a->already, err);
}

static void test_delivery_queue(void **state) {
  env *e = *state;
  /* Interleaved for two units. */
  uint64_t m[5], w[3];
  char id[MC_CASE_ID_MAX];
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof(id), "BH-2026-%06d", 100 + i);
    queue(e, SF_MARRIAGE, id, &m[i]);
    if (i < 3) {
      snprintf(id, sizeof(id), "BH-2026-%06d", 200 + i);
      queue(e, SF_WANGAI, id, &w[i]);
    }
  }
  uint64_t seqs[16];
  char ids[16][MC_CASE_ID_MAX];
  assert_int_equal(pending(e->s, SF_MARRIAGE, 0, seqs, ids), 5);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(seqs[i], m[i]);
    if (i > 0)
      assert_true(seqs[i] > seqs[i - 1]);
    snprintf(id, sizeof(id), "BH-2026-%06d", 100 + i);
    assert_string_equal(ids[i], id);
  }
  assert_int_equal(pending(e->s, SF_WANGAI, 0, seqs, NULL), 3);
  assert_int_equal(pending(e->s, SF_POLICE, 0, NULL, NULL), 0);
  /* After a seq; a bounded page. */
  assert_int_equal(pending(e->s, SF_MARRIAGE, m[2], seqs, NULL), 2);
  assert_int_equal(seqs[0], m[3]);
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  mv_delivery **ds;
  size_t n;
  assert_int_equal(st_delivery_list(t, SF_MARRIAGE, 0, 2, &ds, &n, &err), MC_OK);
  assert_int_equal(n, 2);
  assert_int_equal(ds[1]->seq, m[1]);
  st_messages_free(ds, n);
  assert_int_equal(st_delivery_list(t, SF_MARRIAGE, 0, 0, &ds, &n, &err), MC_INVALID_ARGUMENT);
  assert_int_equal(st_delivery_list(t, "", 0, 5, &ds, &n, &err), MC_INVALID_ARGUMENT);
  uint64_t last;
  assert_int_equal(st_delivery_last_seq(t, &last, &err), MC_OK);
  assert_int_equal(last, m[4]);
  mv_delivery *one;
  assert_int_equal(st_delivery_get(t, SF_WANGAI, w[1], &one, &err), MC_OK);
  assert_int_equal(one->seq, w[1]);
  protobuf_c_message_free_unpacked(&one->base, NULL);
  assert_int_equal(st_delivery_get(t, SF_MARRIAGE, w[1], &one, &err), MC_NOT_FOUND);
  st_read_end(t);

  /* Acknowledge; again (harmless); a seq never queued; another unit's. */
  ack_arg a = {.unit = SF_MARRIAGE, .seq = m[1]};
  assert_int_equal(st_write(e->s, ack_op, &a, &err), MC_OK);
  assert_false(a.already);
  assert_int_equal(st_write(e->s, ack_op, &a, &err), MC_OK);
  assert_true(a.already);
  a.seq = last + 10;
  assert_int_equal(st_write(e->s, ack_op, &a, &err), MC_NOT_FOUND);
  a.seq = w[0];
  assert_int_equal(st_write(e->s, ack_op, &a, &err), MC_OK);
  assert_true(a.already); /* not the marriage studio's: nothing removed */
  assert_int_equal(pending(e->s, SF_WANGAI, 0, NULL, NULL), 3);
  assert_int_equal(pending(e->s, SF_MARRIAGE, 0, seqs, NULL), 4);
  assert_int_equal(seqs[0], m[0]);
  assert_int_equal(seqs[1], m[2]);
  /* Survives a reopen, and seqs keep increasing. */
  reopen(e);
  assert_int_equal(pending(e->s, SF_MARRIAGE, 0, NULL, NULL), 4);
  uint64_t next;
  queue(e, SF_MARRIAGE, "BH-2026-000999", &next);
  assert_int_equal(next, last + 1);
}

static void test_undecodable_delivery(void **state) {
  env *e = *state;
  uint64_t seq;
  queue(e, SF_KONGQUE, "BH-2026-000001", &seq);
  st_close(e->s);
  e->s = NULL;
  uint8_t key[64];
  size_t n = strlen(SF_KONGQUE) + 1;
  memcpy(key, SF_KONGQUE, n);
  for (int i = 0; i < 8; i++)
    key[n + i] = (uint8_t)(seq >> (56 - 8 * i));
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  sf_raw_put(e->dir, "deliveries", key, n + 8, junk, sizeof(junk));
  e->s = sf_open(e->dir, 0, 0);
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  mv_delivery *d = NULL;
  assert_int_equal(st_delivery_get(t, SF_KONGQUE, seq, &d, &err), MC_DATA_LOSS);
  assert_null(d);
  assert_non_null(strstr(err.msg, "does not decode"));
  mv_delivery **ds = NULL;
  size_t cnt = 7;
  assert_int_equal(st_delivery_list(t, SF_KONGQUE, 0, 10, &ds, &cnt, &err), MC_DATA_LOSS);
  assert_null(ds);
  assert_int_equal(cnt, 7);
  st_read_end(t);
}

/* ---- Idempotency ----------------------------------------------------------------------- */

typedef struct idem_arg {
  const char *rid;
  int64_t stored;
} idem_arg;

static mc_code idem_op(st_txn *t, void *arg, mc_err *err) {
  idem_arg *a = arg;
  st_idem_reply r = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
  r.request_id.data = (uint8_t *)a->rid;
  r.request_id.len = strlen(a->rid);
  r.stored_ms = a->stored;
  r.caller = SF_POLICE;
  r.method = "Apply";
  r.code = MV_STATUS(OK);
  r.payload.data = (uint8_t *)"reply";
  r.payload.len = 5;
  return st_idem_put(t, &r, err);
}

static mc_code idem_get(st_store *s, const char *rid, st_idem_reply **out) {
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  mc_code rc = st_idem_get(t, (const uint8_t *)rid, strlen(rid), out, &err);
  st_read_end(t);
  return rc;
}

static void test_idempotency(void **state) {
  (void)state;
  char *dir = sf_tmpdir();
  st_options o = {.dir = dir, .utc_offset_minutes = SF_OFFSET, .idem_retention_ms = 1000};
  st_store *s;
  mc_err err = {0};
  assert_int_equal(st_open(&o, &s, &err), MC_OK);
  idem_arg a = {.rid = "req-1", .stored = 5000};
  assert_int_equal(st_write(s, idem_op, &a, &err), MC_OK);
  st_idem_reply *r = NULL;
  assert_int_equal(idem_get(s, "req-1", &r), MC_OK);
  assert_int_equal(r->stored_ms, 5000);
  assert_string_equal(r->caller, SF_POLICE);
  assert_int_equal(r->payload.len, 5);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(idem_get(s, "req-2", &r), MC_NOT_FOUND);
  /* The first answer stands, also for a retry inside the same batch. */
  assert_int_equal(st_write(s, idem_op, &a, &err), MC_ALREADY_EXISTS);
  idem_arg b = {.rid = "req-2", .stored = 6000};
  st_op ops[2] = {{.apply = idem_op, .arg = &b}, {.apply = idem_op, .arg = &b}};
  assert_int_equal(st_write_batch(s, ops, 2, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_OK);
  assert_int_equal(ops[1].code, MC_ALREADY_EXISTS);
  idem_arg bad = {.rid = ""};
  assert_int_equal(st_write(s, idem_op, &bad, &err), MC_INVALID_ARGUMENT);
  st_txn *t;
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  uint8_t big[ST_REQUEST_ID_MAX + 1] = {0};
  assert_int_equal(st_idem_get(t, big, sizeof(big), &r, &err), MC_INVALID_ARGUMENT);
  st_read_end(t);

  /* Expiry: replies stored at 10000, 11000, ... 19000; retention 1000. */
  for (int i = 0; i < 10; i++) {
    char rid[16];
    snprintf(rid, sizeof(rid), "old-%d", i);
    idem_arg x = {.rid = rid, .stored = 10000 + 1000 * i};
    assert_int_equal(st_write(s, idem_op, &x, &err), MC_OK);
  }
  size_t gone = 99;
  /* Cutoff 14500: req-1 (5000), req-2 (6000), old-0..4 (10000..14000). */
  assert_int_equal(st_idem_expire(s, 15500, 100, &gone, &err), MC_OK);
  assert_int_equal(gone, 7);
  assert_int_equal(idem_get(s, "req-1", &r), MC_NOT_FOUND);
  assert_int_equal(idem_get(s, "old-4", &r), MC_NOT_FOUND);
  assert_int_equal(idem_get(s, "old-5", &r), MC_OK);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  /* Bounded by max, oldest first. */
  assert_int_equal(st_idem_expire(s, 1000000, 2, &gone, &err), MC_OK);
  assert_int_equal(gone, 2);
  assert_int_equal(idem_get(s, "old-6", &r), MC_NOT_FOUND);
  assert_int_equal(idem_get(s, "old-7", &r), MC_OK);
  protobuf_c_message_free_unpacked(&r->base, NULL);
  assert_int_equal(st_idem_expire(s, 1000000, 1000, &gone, &err), MC_OK);
  assert_int_equal(gone, 3);
  assert_int_equal(st_idem_expire(s, 1000000, 1000, &gone, &err), MC_OK);
  assert_int_equal(gone, 0);
  st_close(s);
  sf_rmrf(dir);
  free(dir);
}

/* Running out of memory decides nothing about a step: the store answers
 * UNAVAILABLE (send it again), like an I/O error. RESOURCE_EXHAUSTED is a
 * definitive refusal to a unit (services/unit un_code_is_refusal: a full
 * case file), so a step a router could not apply for want of memory was
 * dropped from the unit's outbox as refused. */
static void test_out_of_memory_is_transient(void **state) {
  (void)state;
  assert_int_equal(sti_code(ENOMEM), MC_UNAVAILABLE);
  assert_int_equal(sti_code(EIO), MC_UNAVAILABLE);
  mc_err err;
  assert_int_equal(sti_lmdb_err(&err, ENOMEM, "store", "mdb_put cases"), MC_UNAVAILABLE);
  assert_int_equal(err.code, MC_UNAVAILABLE);
}

/* ---- Access log --------------------------------------------------------------------------- */

static mc_code access_op(st_txn *t, void *arg, mc_err *err) {
  const int64_t *at = arg;
  st_access_record r = MEDIATION__V1__ACCESS_RECORD__INIT;
  mv_actor who = MEDIATION__V1__ACTOR__INIT;
  who.kind = MV_PRINCIPAL(COORDINATOR);
  who.id = "zhang";
  r.at_ms = *at;
  r.who = &who;
  r.case_id = "BH-2026-000001";
  r.method = "GetCase";
  return st_access_append(t, &r, err);
}

static bool count_access(void *arg, const st_access_record *r) {
  int64_t *acc = arg;
  acc[0]++;
  acc[1] += r->at_ms;
  return true;
}

static void test_access_log(void **state) {
  env *e = *state;
  int64_t times[] = {3000, 1000, 2000, 2000};
  mc_err err = {0};
  for (int i = 0; i < 4; i++)
    assert_int_equal(st_write(e->s, access_op, &times[i], &err), MC_OK);
  st_txn *t;
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  int64_t acc[2] = {0, 0};
  assert_int_equal(st_access_scan(t, 1500, 3000, count_access, acc, &err), MC_OK);
  assert_int_equal(acc[0], 2);
  assert_int_equal(acc[1], 4000);
  acc[0] = acc[1] = 0;
  assert_int_equal(st_access_scan(t, 0, 0, count_access, acc, &err), MC_OK);
  assert_int_equal(acc[0], 4);
  st_read_end(t);
}

/* ---- Figures and counts on an empty store -------------------------------------------------- */

static bool no_rows(void *arg, const mv_bucket *b, const mv_counters *c) {
  (void)b;
  (void)c;
  (*(int *)arg)++;
  return true;
}

static void test_empty_queries(void **state) {
  env *e = *state;
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  int rows = 0;
  assert_int_equal(st_figures_scan(t, 2026, 1, 12, no_rows, &rows, &err), MC_OK);
  assert_int_equal(rows, 0);
  assert_int_equal(st_figures_scan(t, 2026, 5, 4, no_rows, &rows, &err), MC_INVALID_ARGUMENT);
  assert_int_equal(st_figures_scan(t, 2026, 0, 4, no_rows, &rows, &err), MC_INVALID_ARGUMENT);
  uint64_t counts[8];
  assert_int_equal(st_count_states(t, counts, &err), MC_OK);
  for (int i = 0; i < 8; i++)
    assert_int_equal(counts[i], 0);
  uint64_t overdue = 9;
  assert_int_equal(st_count_overdue(t, SF_T0, &overdue, &err), MC_OK);
  assert_int_equal(overdue, 0);
  mv_case *c = NULL;
  assert_int_equal(st_case_get(t, "BH-2026-000001", &c, &err), MC_NOT_FOUND);
  assert_int_equal(st_case_get(t, "no such id", &c, &err), MC_INVALID_ARGUMENT);
  char id[MC_CASE_ID_MAX];
  assert_int_equal(st_case_resolve(t, "police-studio:PS-1", id, &err), MC_NOT_FOUND);
  assert_int_equal(st_case_resolve(t, "garbage", id, &err), MC_INVALID_ARGUMENT);
  st_read_end(t);
}

/* ---- Backup --------------------------------------------------------------------------------- */

static void test_backup(void **state) {
  env *e = *state;
  for (int i = 0; i < 50; i++)
    queue(e, SF_MARRIAGE, "BH-2026-000001", NULL);
  char *copy = sf_path(e->dir, "backup");
  mc_err err = {0};
  assert_int_equal(st_backup(e->s, copy, &err), MC_OK);
  /* Never over an existing copy. */
  assert_int_equal(st_backup(e->s, copy, &err), MC_ALREADY_EXISTS);
  char *file = sf_path(copy, "data.mdb");
  struct stat sb;
  assert_int_equal(stat(file, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  st_store *b = sf_open(copy, 0, 0);
  assert_int_equal(pending(b, SF_MARRIAGE, 0, NULL, NULL), 50);
  st_close(b);
  free(file);
  free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_options),
      cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_one_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_direct_ops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nothing_visible_before_commit, setup, teardown),
      cmocka_unit_test(test_failed_commit_applies_nothing),
      cmocka_unit_test_setup_teardown(test_read_txn_cannot_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delivery_queue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_undecodable_delivery, setup, teardown),
      cmocka_unit_test(test_idempotency),
      cmocka_unit_test(test_out_of_memory_is_transient),
      cmocka_unit_test_setup_teardown(test_access_log, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_queries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
