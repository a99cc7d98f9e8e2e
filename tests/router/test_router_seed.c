/*
 * test_router_seed.c - from one router to three: a cluster seeded from an
 * existing store (`mediation-router --node <id> --seed-from <dir>`,
 * router/seed.c, docs/deploy.md "From one router to three").
 *
 * A single router takes cases in [storage] mode = lmdb-sync (the default),
 * then runs once as a single raft node (its store then counts entries of
 * its own raft log in raft_applied) and takes one more; it is stopped. Then:
 *   1. refusals, each with exit 1 and its message: the source in use (while
 *      the lmdb-sync router runs), a source not stopped cleanly (raft-boot
 *      "running"), a source that does not open, one that fails its check
 *      (its case files sealed by another key), a directory without a
 *      store, a data_dir holding an old raft log; a data_dir holding
 *      another store;
 *   2. seeding an lmdb-sync store's copy works too;
 *   3. three nodes are seeded (node 1 from the stopped data_dir, 2 and 3
 *      from copies of it; node 2 after a crash left a half-made seed.tmp):
 *      their data.mdb are byte-identical; a second run is OK ("already");
 *   4. the nodes start with --node and elect a leader; every old case is
 *      on every node (stale_ok GetCase) byte for byte as the single router
 *      answered it; Verify (signatures included: the world has a router
 *      key) is clean on every node; a new take-in through the leader lands,
 *      and every case file is byte-identical on all three;
 *   5. seeding a node that has its cluster log now is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_proc.h"
#include "core/clock.h"
#include "mv1.h"
#include "router_proc.h"
#include "rpc/client.h"
#include "world.h"

#define NODES TC_NODES
#define OLD_CASES 12
#define UNIT "station-wangai"
#define COORD "coordinator"

static tw_world world;
/* The three nodes (tests/support/cluster_proc.h), started with their own
 * configuration file, and the single router before them as a "cluster"
 * of one (its node 0) so that the same client asks it. Both wait through
 * UNAVAILABLE: a node just elected answers so until it has applied the
 * log, even to a stale_ok read. */
static tc_cluster cl = {.unavailable_wait_ms = 10000};
static tc_cluster single = {.unavailable_wait_ms = 10000};
static char cluster_conf[TH_PATH_MAX + 64];
static char node_dirs[NODES][TH_PATH_MAX + 64];

/* mediation-router --config <cluster conf> --node node --seed-from from
 * [--data-dir data_dir]: its exit status; its stdout and stderr in out and
 * errs (the caller frees both). */
static int seed(int node, const char *from, const char *data_dir, char **out, char **errs) {
  char bin[TH_PATH_MAX], id[16];
  th_bin(bin, sizeof(bin), "router/mediation-router");
  snprintf(id, sizeof(id), "%d", node);
  const char *argv[] = {bin,          "--config", cluster_conf, "--node",   id,
                        "--seed-from", from,      data_dir ? "--data-dir" : NULL, data_dir, NULL};
  *out = NULL;
  *errs = NULL;
  return th_run(argv, out, errs, 60000);
}

/* A seeding that must be refused: exit 1 and needle in its stderr. */
static void expect_refused(int node, const char *from, const char *data_dir, const char *needle) {
  char *out = NULL, *errs = NULL;
  int rc = seed(node, from, data_dir, &out, &errs);
  if (rc != 1 || errs == NULL || strstr(errs, needle) == NULL)
    fail_msg("seeding node %d from %s into %s: exit %d, expected 1 with \"%s\"; stderr: %s", node,
             from, data_dir ? data_dir : "(its data_dir)", rc, needle, errs ? errs : "");
  printf("refused as expected: %s", errs);
  free(out);
  free(errs);
}

/* A seeding that must succeed; its stdout must hold needle. */
static void expect_seeded(int node, const char *from, const char *data_dir, const char *needle) {
  char *out = NULL, *errs = NULL;
  int rc = seed(node, from, data_dir, &out, &errs);
  if (rc != 0 || out == NULL || strstr(out, needle) == NULL)
    fail_msg("seeding node %d from %s: exit %d, stdout %s, stderr %s", node, from, rc,
             out ? out : "", errs ? errs : "");
  free(out);
  free(errs);
}

static void copy_file(const char *from, const char *to) {
  char *data = NULL;
  FILE *in = fopen(from, "rb");
  assert_non_null(in);
  assert_int_equal(fseek(in, 0, SEEK_END), 0);
  long len = ftell(in);
  rewind(in);
  data = malloc((size_t)len + 1);
  assert_non_null(data);
  assert_int_equal(fread(data, 1, (size_t)len, in), (size_t)len);
  fclose(in);
  FILE *out = fopen(to, "wb");
  assert_non_null(out);
  assert_int_equal(fwrite(data, 1, (size_t)len, out), (size_t)len);
  assert_int_equal(fclose(out), 0);
  free(data);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

/* A directory under the world's with a copy of the single router's
 * data.mdb (and its search key, when it has one). */
static void copy_store(const char *name, char *dir, size_t cap) {
  assert_true(snprintf(dir, cap, "%s/%s", world.dir.path, name) < (int)cap);
  assert_int_equal(mkdir(dir, 0700), 0);
  char a[TH_PATH_MAX + 64], b[TH_PATH_MAX + 64];
  snprintf(a, sizeof(a), "%s/data.mdb", world.reg->router.data_dir);
  snprintf(b, sizeof(b), "%s/data.mdb", dir);
  copy_file(a, b);
  snprintf(a, sizeof(a), "%s/router-search.secret", world.reg->router.data_dir);
  snprintf(b, sizeof(b), "%s/router-search.secret", dir);
  if (access(a, F_OK) == 0)
    copy_file(a, b);
}

static bool same_bytes(const char *a, const char *b) {
  char *x = th_read_file(a), *y = th_read_file(b);
  struct stat sa, sb;
  bool same = x != NULL && y != NULL && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
              sa.st_size == sb.st_size && memcmp(x, y, (size_t)sa.st_size) == 0;
  free(x);
  free(y);
  return same;
}

/* A take-in as UNIT at node at of c's cluster, with ref; its case id. OK
 * asserted. */
static void take_in_at(tc_conn *c, int at, const char *ref, char case_id[64]) {
  tr_take_in t;
  tr_take_in_init(&t, "某乙", ref);
  Mediation__V1__ApplyRequest req = MEDIATION__V1__APPLY_REQUEST__INIT;
  req.action = &t.action;
  Mediation__V1__ReplyEnvelope *env =
      tc_call(c, at, UNIT, "mediation.v1.Router", "Apply", &req.base, false, NULL, 10000);
  assert_non_null(env);
  if (env->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK)
    fail_msg("take-in %s at %s: code %d: %s", ref, c->cl->endpoints[at], env->code,
             env->message);
  tc_applied_case_id(env, case_id);
  mediation__v1__reply_envelope__free_unpacked(env, NULL);
}

static int setup(void **state) {
  (void)state;
  if (tw_make(&world, "seed", NULL, true) != 0)
    return -1;
  single.w = &world;
  snprintf(single.endpoints[0], sizeof(single.endpoints[0]), "%s", world.reg->router.endpoint);
  /* The cluster's configuration: the deployment's, plus raft and three
   * nodes, each with its own (empty) data_dir. */
  snprintf(cluster_conf, sizeof(cluster_conf), "%s/cluster.conf", world.dir.path);
  char *base = th_read_file(world.conf);
  FILE *f = fopen(cluster_conf, "w");
  if (base == NULL || f == NULL)
    return -1;
  fputs(base, f);
  free(base);
  if (fclose(f) != 0)
    return -1;
  for (int i = 0; i < NODES; i++)
    snprintf(node_dirs[i], sizeof(node_dirs[i]), "%s/node%d", world.dir.path, i + 1);
  return tc_setup_conf_in(&cl, &world, cluster_conf, "\n[storage]\nmode = raft\n", "tcp", NULL,
                          NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_stop_nodes(&cl);
  tw_destroy(&world);
  return 0;
}

static void test_seed_cluster(void **state) {
  (void)state;
  int64_t t0 = mc_mono_ms();
  tc_conn c = {.cl = &cl};
  tc_conn cs = {.cl = &single}; /* the single router */
  static char ids[OLD_CASES + 2][64];
  static uint8_t *old_bytes[OLD_CASES + 1];
  static size_t old_len[OLD_CASES + 1];
  char dir[TH_PATH_MAX + 64], path[TH_PATH_MAX + 256];

  /* A year of one router, in short: lmdb-sync first. */
  assert_int_equal(tw_start_router(&world, NULL), 0);
  for (int k = 0; k < OLD_CASES; k++) {
    char ref[32];
    snprintf(ref, sizeof(ref), "old-%d", k);
    take_in_at(&cs, 0, ref, ids[k]);
  }
  /* Its store is in use: refused. */
  expect_refused(1, world.reg->router.data_dir, NULL, "is in use");
  assert_int_equal(tw_stop_router(&world), 0);
  tc_conn_close(&cs);
  char lmdb_copy[TH_PATH_MAX + 64];
  copy_store("lmdb-copy", lmdb_copy, sizeof(lmdb_copy));

  /* Then as a single raft node: one more case, raft_applied > 0. */
  const char *raft_args[] = {"--storage-mode", "raft", NULL};
  assert_int_equal(tw_start_router(&world, raft_args), 0);
  take_in_at(&cs, 0, "old-raft", ids[OLD_CASES]);
  for (int k = 0; k <= OLD_CASES; k++) {
    old_bytes[k] = tc_case_bytes(&cs, 0, ids[k], true, &old_len[k]);
  }
  assert_int_equal(tw_stop_router(&world), 0);
  tc_conn_close(&cs);

  /* 1. Refusals. */
  char broken[TH_PATH_MAX + 64];
  copy_store("unclean", broken, sizeof(broken));
  snprintf(path, sizeof(path), "%s/raft-boot", broken);
  write_text(path, "0123-boot running\n");
  snprintf(dir, sizeof(dir), "%s/scratch", world.dir.path);
  expect_refused(1, broken, dir, "was not stopped cleanly");
  snprintf(broken, sizeof(broken), "%s/garbage", world.dir.path);
  assert_int_equal(mkdir(broken, 0700), 0);
  snprintf(path, sizeof(path), "%s/data.mdb", broken);
  write_text(path, "not an LMDB file, however long it is made to be ......................");
  expect_refused(1, broken, dir, "does not open");
  snprintf(broken, sizeof(broken), "%s/empty", world.dir.path);
  assert_int_equal(mkdir(broken, 0700), 0);
  expect_refused(1, broken, dir, "no data.mdb there");
  /* a data_dir with an old single router's raft log (its own data_dir) */
  expect_refused(1, world.reg->router.data_dir, world.reg->router.data_dir,
                 "is this node's own data_dir");
  char oldlog[TH_PATH_MAX + 64];
  snprintf(oldlog, sizeof(oldlog), "%s/oldlog", world.dir.path);
  assert_int_equal(mkdir(oldlog, 0700), 0);
  snprintf(path, sizeof(path), "%s/raft", oldlog);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof(path), "%s/raft/metadata1", oldlog);
  write_text(path, "x");
  expect_refused(1, lmdb_copy, oldlog, "give this node an empty data_dir");

  /* a store whose case files are not sealed by the configuration's router
   * key: it opens, and fails its check */
  char *conf = th_read_file(cluster_conf);
  assert_non_null(conf);
  const char *k1 = strstr(conf, "\npublic_key = ");
  assert_non_null(k1);
  const char *k2 = strstr(k1 + 1, "\npublic_key = "); /* a unit's: not the router's */
  assert_non_null(k2);
  char saved[TH_PATH_MAX + 128];
  snprintf(saved, sizeof(saved), "%s.good", cluster_conf);
  assert_int_equal(rename(cluster_conf, saved), 0);
  FILE *f = fopen(cluster_conf, "w");
  assert_non_null(f);
  fprintf(f, "%s\n[router]\n%.*s\n", conf, (int)strcspn(k2 + 1, "\n"), k2 + 1);
  assert_int_equal(fclose(f), 0);
  free(conf);
  expect_refused(1, lmdb_copy, dir, "fails its check");
  assert_int_equal(rename(saved, cluster_conf), 0);

  /* 2. An lmdb-sync store seeds as well (into scratch); then scratch holds
   * a store that is not the raft router's seed: refused. */
  expect_seeded(1, lmdb_copy, dir, "seeded from");
  expect_refused(1, world.reg->router.data_dir, dir, "already holds another store");

  /* 3. The three nodes: 1 from the stopped data_dir, 2 and 3 from copies;
   * node 2 as if a first run had crashed midway. */
  char copies[2][TH_PATH_MAX + 64];
  copy_store("copy2", copies[0], sizeof(copies[0]));
  copy_store("copy3", copies[1], sizeof(copies[1]));
  assert_int_equal(mkdir(node_dirs[1], 0700), 0);
  snprintf(path, sizeof(path), "%s/seed.tmp", node_dirs[1]);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof(path), "%s/seed.tmp/data.mdb", node_dirs[1]);
  write_text(path, "half a copy");
  expect_seeded(1, world.reg->router.data_dir, NULL, "seeded from");
  expect_seeded(2, copies[0], NULL, "seeded from");
  expect_seeded(3, copies[1], NULL, "seeded from");
  expect_seeded(1, world.reg->router.data_dir, NULL, "already");
  snprintf(path, sizeof(path), "%s/seed.tmp", node_dirs[1]);
  assert_int_not_equal(access(path, F_OK), 0);
  char a[TH_PATH_MAX + 128], b[TH_PATH_MAX + 128];
  snprintf(a, sizeof(a), "%s/data.mdb", node_dirs[0]);
  for (int i = 1; i < NODES; i++) {
    snprintf(b, sizeof(b), "%s/data.mdb", node_dirs[i]);
    if (!same_bytes(a, b))
      fail_msg("the seeded stores of node 1 and node %d differ", i + 1);
  }
  printf("seeded three nodes in %lld ms since the start\n", (long long)(mc_mono_ms() - t0));

  /* 4. The cluster. */
  for (int i = 0; i < NODES; i++)
    assert_int_equal(tc_start_node(&cl, i), 0);
  int leader = tc_await_leader(&c, -1, 10000);
  assert_true(leader >= 0);
  for (int i = 0; i < NODES; i++)
    for (int k = 0; k <= OLD_CASES; k++) {
      size_t len = 0;
      uint8_t *got = tc_case_bytes(&c, i, ids[k], true, &len);
      if (len != old_len[k] || memcmp(got, old_bytes[k], len) != 0)
        fail_msg("case %s on node %d is not what the single router held", ids[k], i + 1);
      free(got);
    }
  for (int i = 0; i < NODES; i++)
    tc_expect_verify_clean(&c, i);
  take_in_at(&c, leader, "new-in-cluster", ids[OLD_CASES + 1]);
  tc_await_same_applied(&c, 20000);
  for (int i = 0; i < NODES; i++)
    assert_int_equal(tc_case_count(&c, i, UNIT), OLD_CASES + 2);
  for (int k = 0; k < OLD_CASES + 2; k++) {
    size_t len0 = 0;
    uint8_t *b0 = tc_case_bytes(&c, 0, ids[k], true, &len0);
    for (int i = 1; i < NODES; i++) {
      size_t len = 0;
      uint8_t *bi = tc_case_bytes(&c, i, ids[k], true, &len);
      if (len != len0 || memcmp(bi, b0, len) != 0)
        fail_msg("case %s differs between node 1 and node %d", ids[k], i + 1);
      free(bi);
    }
    free(b0);
  }
  for (int i = 0; i < NODES; i++)
    tc_expect_verify_clean(&c, i);

  /* 5. A node with its cluster log: refused. */
  expect_refused(2, copies[0], NULL, "give this node an empty data_dir");
  tc_conn_close(&c);
  for (int k = 0; k <= OLD_CASES; k++)
    free(old_bytes[k]);
  printf("test took %lld ms\n", (long long)(mc_mono_ms() - t0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_seed_cluster, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
