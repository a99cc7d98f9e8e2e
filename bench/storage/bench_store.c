/*
 * bench_store.c - what the case store costs: durable commits per second for
 * batches of 1, 16 and 128 operations, point reads per second, and the
 * first page of index queries at 10k, 100k and 1M cases side by side.
 *
 * Every write is what the router's writer does for a request: the step
 * through the real state machine (mc_apply), st_case_put (record, case-file
 * event, indexes, figures), the deliveries it causes and the idempotency
 * reply, all in one nested transaction of a group commit.
 *
 * The idea of the index measurement: a query is a B-tree descent plus one
 * step per hit, so its cost may grow with the depth of the trees and
 * nothing else. The bench loads cases in large batches (with MDB_NOSYNC,
 * said in the output: the load is not what is measured), stops at each size,
 * and times the first page (50 hits, and the 50 records they point to) of
 * several queries in fresh read transactions, printing the medians, the
 * ratios to the 10k run, and the tree depths.
 *
 * Usage: bench_store [--dir DIR] [--max N] [--quick]
 *   --dir   where to create the stores (default: a new directory under
 *           $TMPDIR or /tmp, removed at the end)
 *   --max   the largest size (default 1000000; sizes are 10k, 100k, 1M
 *           up to it)
 *   --quick fewer repetitions (a smoke run)
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/machine.h"
#include "core/registry.h"
#include "storage/store.h"

#define T0 1772413200000LL /* 2026-03-02 09:00 +08:00 */
#define KEY "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define PAGE 50

static const char conf[] =
    "[subdistrict]\nname = 白鹤街道\ncase_prefix = BH\n"
    "[community wangai]\nname = 王隘社区\nstation = station-wangai\n"
    "[community kongque]\nname = 孔雀社区\nstation = station-kongque\n"
    "[community baihe]\nname = 白鹤社区\nstation = station-baihe\n"
    "[unit police-studio]\nkind = police\npublic_key = " KEY "\n"
    "[unit marriage-studio]\nkind = marriage\npublic_key = " KEY "\n"
    "[unit station-wangai]\nkind = community\ncommunity = wangai\npublic_key = " KEY "\n"
    "[unit station-kongque]\nkind = community\ncommunity = kongque\npublic_key = " KEY "\n"
    "[unit station-baihe]\nkind = community\ncommunity = baihe\npublic_key = " KEY "\n";

static const char *const units[] = {"police-studio", "marriage-studio", "station-wangai",
                                    "station-kongque", "station-baihe"};
static const char *const communities[] = {"wangai", "kongque", "baihe"};

static mc_registry *reg;
static bool quick;

static void die(const char *what, const mc_err *err) {
  fprintf(stderr, "bench_store: %s: %s: %s\n", what, mc_code_name(err->code), err->msg);
  exit(1);
}

/* ---- One router-like write ------------------------------------------------------- */

typedef struct op_arg {
  uint64_t n;       /* the case's number in the run: picks unit, community, kind */
  bool transfer;    /* also offer it to the next unit (a second step, same op) */
  int64_t now;
} op_arg;

static mc_code step(st_txn *t, mv_case *cur, mv_action *act, const mv_actor *who, int64_t now,
                    const char *rid, mv_case **next_out, mc_err *err) {
  mc_step s = {.current = cur, .action = act, .actor = who, .now_ms = now,
               .request_id = {strlen(rid), (uint8_t *)rid}};
  mv_case *next = NULL;
  mv_event *ev = NULL;
  mc_code rc = mc_apply(reg, &s, &next, &ev, err);
  if (rc == MC_OK)
    rc = st_case_put(t, cur, next, ev, err);
  mc_delivery_target to[2];
  size_t n = rc == MC_OK ? mc_deliveries_for(ev, to) : 0;
  for (size_t i = 0; i < n && rc == MC_OK; i++) {
    mv_delivery d = MEDIATION__V1__DELIVERY__INIT;
    d.unit = (char *)to[i].unit;
    d.kind = to[i].kind;
    d.snapshot = next;
    d.event = ev;
    d.queued_ms = now;
    rc = st_delivery_put(t, &d, NULL, err);
  }
  if (rc == MC_OK) {
    st_idem_reply r = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
    r.request_id.data = (uint8_t *)rid;
    r.request_id.len = strlen(rid);
    r.stored_ms = now;
    r.caller = who->id;
    r.method = "Apply";
    r.payload.data = (uint8_t *)next->id;
    r.payload.len = strlen(next->id);
    rc = st_idem_put(t, &r, err);
  }
  if (ev)
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  if (rc == MC_OK)
    *next_out = next;
  else if (next)
    protobuf_c_message_free_unpacked(&next->base, NULL);
  return rc;
}

static mc_code take_in_op(st_txn *t, void *arg, mc_err *err) {
  op_arg *a = arg;
  char id[MC_CASE_ID_MAX], ref[32], rid[48];
  mc_date d = mc_date_of(a->now, 480);
  mc_code rc = st_case_next_id(t, d.year, id, err);
  if (rc != MC_OK)
    return rc;
  snprintf(ref, sizeof(ref), "R-%llu", (unsigned long long)a->n);
  snprintf(rid, sizeof(rid), "take-%llu", (unsigned long long)a->n);
  mv_party party = MEDIATION__V1__PARTY__INIT, *parties[1] = {&party};
  party.name = "甄小明";
  party.role = MV_PARTY(APPLICANT);
  party.id_number = "12345678901234567X";
  party.phone = "+86 100 0000 0001";
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  in.kind = (mv_kind)(1 + a->n % 9);
  in.difficulty = MV_DIFFICULTY(ORDINARY);
  in.source = MV_SOURCE(POLICE_CALL);
  in.community = (char *)communities[a->n % 3];
  in.summary = "夫妻争吵后发生推搡，民警调解后转介";
  in.parties = parties;
  in.n_parties = 1;
  in.money_fen = (int64_t)(a->n % 1000) * 100;
  in.unit_ref = ref;
  mv_action act = MEDIATION__V1__CASE_ACTION__INIT;
  act.kind = MV_ACTION(TAKE_IN);
  act.case_ref = id;
  act.person = "值班员";
  act.args_case = MV_ARGS(INTAKE);
  act.intake = &in;
  const char *unit = units[a->n % 5];
  mv_actor who = MEDIATION__V1__ACTOR__INIT;
  who.kind = MV_PRINCIPAL(UNIT);
  who.id = (char *)unit;
  who.person = "经办人";
  mv_case *c = NULL;
  rc = step(t, NULL, &act, &who, a->now, rid, &c, err);
  if (rc != MC_OK || !a->transfer)
    goto out;
  mv_action tr = MEDIATION__V1__CASE_ACTION__INIT;
  tr.kind = MV_ACTION(TRANSFER);
  tr.case_ref = id;
  tr.person = "值班员";
  tr.reason = "家庭纠纷转介";
  tr.args_case = MV_ARGS(TO_UNIT);
  tr.to_unit = (char *)units[(a->n + 1) % 5];
  snprintf(rid, sizeof(rid), "transfer-%llu", (unsigned long long)a->n);
  mv_case *c2 = NULL;
  rc = step(t, c, &tr, &who, a->now + 1, rid, &c2, err);
  if (rc == MC_OK)
    protobuf_c_message_free_unpacked(&c2->base, NULL);
out:
  if (c)
    protobuf_c_message_free_unpacked(&c->base, NULL);
  return rc;
}

/* Writes `batches` batches of `size` take-ins; returns the seconds taken. */
static double write_batches(st_store *s, uint64_t *n, int batches, int size, double max_seconds,
                            int *done) {
  op_arg *args = calloc((size_t)size, sizeof(*args));
  st_op *ops = calloc((size_t)size, sizeof(*ops));
  int64_t start = mc_mono_ns();
  int b;
  for (b = 0; b < batches; b++) {
    for (int i = 0; i < size; i++) {
      uint64_t k = (*n)++;
      /* A case every 20 s (1M cases stay within 2026, so ids are
       * BH-2026-<k+1>), deadlines spread out; every 4th is offered. */
      args[i] = (op_arg){.n = k, .transfer = k % 4 == 1, .now = T0 + (int64_t)k * 20000};
      ops[i] = (st_op){.apply = take_in_op, .arg = &args[i]};
    }
    mc_err err = {0};
    if (st_write_batch(s, ops, (size_t)size, &err) != MC_OK)
      die("batch", &err);
    for (int i = 0; i < size; i++)
      if (ops[i].code != MC_OK)
        die("op", &ops[i].err);
    if (max_seconds > 0 && (mc_mono_ns() - start) / 1e9 > max_seconds) {
      b++;
      break;
    }
  }
  *done = b;
  free(args);
  free(ops);
  return (mc_mono_ns() - start) / 1e9;
}

static st_store *open_store(const char *dir, bool nosync, size_t map) {
  st_options o = {.dir = dir, .map_size = map, .case_prefix = "BH", .utc_offset_minutes = 480,
                  .unsafe_nosync = nosync};
  st_store *s = NULL;
  mc_err err = {0};
  if (st_open(&o, &s, &err) != MC_OK)
    die("st_open", &err);
  return s;
}

/* ---- Measurements ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct qstat {
  double median_us, p99_us;
  size_t hits;
} qstat;

/* The first page of q, `reps` times, each in a fresh read transaction; with
 * fetch, the page's case records are read too (as the router lists them). */
static qstat time_query(st_store *s, st_query q, int reps, bool fetch) {
  double *t = malloc(sizeof(double) * (size_t)reps);
  st_hit hits[PAGE];
  size_t n = 0;
  q.limit = PAGE;
  for (int r = 0; r < reps; r++) {
    int64_t a = mc_mono_ns();
    st_txn *txn;
    mc_err err = {0};
    if (st_read_begin(s, &txn, &err) != MC_OK)
      die("read", &err);
    char next[ST_CURSOR_MAX];
    if (st_index_query(txn, &q, hits, &n, next, &err) != MC_OK)
      die("query", &err);
    for (size_t i = 0; fetch && i < n; i++) {
      mv_case *c;
      if (st_case_get(txn, hits[i].id, &c, &err) != MC_OK)
        die("get", &err);
      protobuf_c_message_free_unpacked(&c->base, NULL);
    }
    st_read_end(txn);
    t[r] = (mc_mono_ns() - a) / 1e3;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  qstat st = {.median_us = t[reps / 2], .p99_us = t[reps * 99 / 100], .hits = n};
  free(t);
  return st;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Point reads of random cases: one read transaction per read (as a request
 * handler does), and many reads in one transaction. */
static void point_reads(st_store *s, uint64_t cases, double *per_txn, double *in_one) {
  int reads = quick ? 20000 : 200000;
  int64_t a = mc_mono_ns();
  for (int i = 0; i < reads; i++) {
    char id[MC_CASE_ID_MAX];
    snprintf(id, sizeof(id), "BH-2026-%06llu", (unsigned long long)(1 + next_rand() % cases));
    st_txn *t;
    mc_err err = {0};
    mv_case *c;
    if (st_read_begin(s, &t, &err) != MC_OK || st_case_get(t, id, &c, &err) != MC_OK)
      die("point read", &err);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    st_read_end(t);
  }
  *per_txn = reads / ((mc_mono_ns() - a) / 1e9);
  st_txn *t;
  mc_err err = {0};
  if (st_read_begin(s, &t, &err) != MC_OK)
    die("read", &err);
  a = mc_mono_ns();
  for (int i = 0; i < reads; i++) {
    char id[MC_CASE_ID_MAX];
    snprintf(id, sizeof(id), "BH-2026-%06llu", (unsigned long long)(1 + next_rand() % cases));
    mv_case *c;
    if (st_case_get(t, id, &c, &err) != MC_OK)
      die("point read", &err);
    protobuf_c_message_free_unpacked(&c->base, NULL);
  }
  *in_one = reads / ((mc_mono_ns() - a) / 1e9);
  st_read_end(t);
}

/* ---- Main --------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void durable_commits(const char *base) {
  /* base is at most 2047 bytes: the names below fit. */
  printf("== Durable commits (each op: mc_apply + st_case_put + deliveries + idempotency) ==\n");
  printf("%-8s %-8s %12s %12s %14s\n", "sync", "batch", "commits/s", "ops/s", "ms/commit");
  static const int sizes[] = {1, 16, 128};
  for (int nosync = 0; nosync <= 1; nosync++) {
    for (size_t i = 0; i < 3; i++) {
      char dir[4096];
      snprintf(dir, sizeof(dir), "%s/commits-%d-%d", base, nosync, sizes[i]);
      st_store *s = open_store(dir, nosync, 0);
      uint64_t n = 0;
      int done = 0;
      write_batches(s, &n, 20, sizes[i], 0, &done); /* warm up */
      int batches = quick ? 50 : 100000;
      double secs = write_batches(s, &n, batches, sizes[i], quick ? 1.0 : 3.0, &done);
      printf("%-8s %-8d %12.0f %12.0f %14.3f\n", nosync ? "NOSYNC" : "durable", sizes[i],
             done / secs, done * sizes[i] / secs, secs * 1e3 / done);
      st_close(s);
      nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
  }
  printf("(NOSYNC is the benchmark switch only: the router is durable.)\n\n");
}

int main(int argc, char **argv) {
  const char *dir_arg = NULL;
  uint64_t max = 1000000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir_arg = argv[++i];
    else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
      max = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--quick") == 0)
      quick = true;
    else {
      fprintf(stderr, "usage: bench_store [--dir DIR] [--max N] [--quick]\n");
      return 2;
    }
  }
  mc_err err = {0};
  if (mc_registry_parse(conf, "bench", &reg, &err) != MC_OK)
    die("registry", &err);
  char base[2048];
  if (dir_arg) {
    snprintf(base, sizeof(base), "%s", dir_arg);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/bench-store-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(base) == NULL) {
      perror("mkdtemp");
      return 1;
    }
  }
  printf("bench_store: LMDB %s, stores under %s\n\n", MDB_VERSION_STRING, base);

  durable_commits(base);

  printf("== Index queries: first page (%d hits), median of fresh read transactions ==\n", PAGE);
  printf("Bulk load in batches of 1000 with MDB_NOSYNC (the load is not measured; every 4th "
         "case is also offered to another unit).\n");
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/index", base);
  st_store *s = open_store(dir, true, (size_t)256 << 20);
  uint64_t sizes[3] = {10000, 100000, 1000000};
  struct {
    const char *name;
    st_query q;
    bool fetch;
  } queries[] = {
      {"transfer held by police (+records)",
       {.index = ST_BY_HOLDER, .unit = "police-studio", .state = MV_STATE(TRANSFER)}, true},
      {"police inbox: offered (+records)",
       {.index = ST_BY_OFFERED, .unit = "police-studio"}, true},
      {"state intake (+records)", {.index = ST_BY_STATE, .state = MV_STATE(INTAKE)}, true},
      {"overdue at T0+30d (+records)",
       {.index = ST_BY_DEADLINE, .until_ms = T0 + 30LL * 86400000}, true},
      {"community kongque, keys only", {.index = ST_BY_COMMUNITY, .unit = "kongque"}, false},
  };
  enum { NQ = sizeof(queries) / sizeof(queries[0]) };
  qstat res[3][NQ];
  double reads_txn[3], reads_one[3], load_s[3];
  st_info infos[3];
  int runs = 0;
  uint64_t n = 0;
  for (int k = 0; k < 3 && sizes[k] <= max; k++, runs++) {
    int done;
    int64_t a = mc_mono_ns();
    write_batches(s, &n, (int)((sizes[k] - n) / 1000), 1000, 0, &done);
    load_s[k] = (mc_mono_ns() - a) / 1e9;
    if (st_info_get(s, &infos[k], &err) != MC_OK)
      die("info", &err);
    int reps = quick ? 200 : 3000;
    for (int q = 0; q < NQ; q++) {
      time_query(s, queries[q].q, reps / 10, queries[q].fetch); /* warm */
      res[k][q] = time_query(s, queries[q].q, reps, queries[q].fetch);
    }
    point_reads(s, n, &reads_txn[k], &reads_one[k]);
    printf("  loaded %llu cases in %.1f s (map %zu MiB, %zu MiB used)\n",
           (unsigned long long)infos[k].cases, load_s[k], infos[k].map_size >> 20,
           infos[k].used_bytes >> 20);
  }
  printf("\n%-36s", "query \\ cases");
  for (int k = 0; k < runs; k++)
    printf(" %12llu", (unsigned long long)sizes[k]);
  if (runs > 1)
    printf("  ratio %s/10k", runs == 3 ? "1M" : "100k");
  printf("\n%-36s", "B-tree depth: cases / deepest index");
  for (int k = 0; k < runs; k++)
    printf("        %u / %u", infos[k].cases_depth, infos[k].index_depth);
  printf("\n");
  for (int q = 0; q < NQ; q++) {
    printf("%-36s", queries[q].name);
    for (int k = 0; k < runs; k++)
      printf(" %9.1f us", res[k][q].median_us);
    if (runs > 1)
      printf("  %5.2fx", res[runs - 1][q].median_us / res[0][q].median_us);
    printf("   (%zu hits; p99 %.1f us at the largest)\n", res[runs - 1][q].hits,
           res[runs - 1][q].p99_us);
  }
  printf("\n== Point reads (random case ids) ==\n");
  printf("%-36s", "reads/s, one read txn per read");
  for (int k = 0; k < runs; k++)
    printf(" %12.0f", reads_txn[k]);
  printf("\n%-36s", "reads/s, all in one read txn");
  for (int k = 0; k < runs; k++)
    printf(" %12.0f", reads_one[k]);
  printf("\n");
  st_close(s);
  mc_registry_free(reg);
  if (!dir_arg)
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
