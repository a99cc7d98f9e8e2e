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
 * Bytes on disk per case: realistic cases (a police referral taken in with
 * two parties, transferred, accepted, a team of two, three sessions with
 * notes, an agreement, a follow-up visit, closed: 12 steps) written the way
 * the router writes them - steps of many cases interleaved in group
 * commits, each step's reply kept for idempotency (as router/apply.c keeps
 * it: where the answer lies in the case file, format 2 of IdempotentReply;
 * --full-replies keeps the packed ApplyReply, as routers did before) and
 * expired after 7 days of simulated time,
 * deliveries acknowledged after each commit - then the file's pages per
 * database, the free list and a compacted copy, at 10k and 100k cases.
 *
 * Search (issue 17): the load gives every case its own party (a name of
 * three characters from 20 surnames x 50 x 50 given characters, so a whole
 * name names ~20 cases at 1M and a surname 1 in 20; a valid ID number and
 * a mobile of its own), and at each size the bench times what the router's
 * Search does for a coordinator's first page: the term (keyed BLAKE2b for
 * ID numbers and phones), one walk of ix_search for 50 hits, the 50 records,
 * and the count (capped at 1000, router/search.c), printed beside the index
 * queries.
 *
 * Usage: bench_store [--dir DIR] [--max N] [--quick] [--space-only]
 *   --dir   where to create the stores (default: a new directory under
 *           $TMPDIR or /tmp, removed at the end)
 *   --max   the largest size (default 1000000; sizes are 10k, 100k, 1M
 *           up to it; the bytes-per-case run stops at 100k)
 *   --quick fewer repetitions, bytes per case at 10k only (a smoke run)
 *   --space-only  only the bytes-per-case measurement
 *   --retention-days N  how long idempotency replies are kept (default 7, the
 *           router's default; 400 keeps every reply of the run)
 *   --full-replies  keep each reply whole (format 1), to compare
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/identity.h"
#include "core/machine.h"
#include "core/pb.h"
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

/* Case n's party: name, a valid ID number, a mobile (see the top). */
static const char *const surnames[20] = {"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
                                         "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "郑"};
static const char given[] = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏宇"
                            "浩凯健俊帆帅旭宁欣琳晨瑶怡佳悦";
static void bench_party(uint64_t n, char name[16], char id[MC_ID_NUMBER_LEN + 1],
                        char phone[16]) {
  const char *g1 = given + 3 * ((n / 20) % 50), *g2 = given + 3 * ((n / 1000) % 50);
  snprintf(name, 16, "%s%.3s%.3s", surnames[n % 20], g1, g2);
  snprintf(id, MC_ID_NUMBER_LEN + 1, "330212%04d%02d%02d%03d", 1950 + (int)(n % 50),
           1 + (int)((n / 50) % 12), 1 + (int)((n / 600) % 28), (int)((n / 16800) % 1000));
  id[17] = mc_id_number_check_char(id);
  id[18] = '\0';
  snprintf(phone, 16, "138%08llu", (unsigned long long)(n % 100000000));
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
  char name[16], id_number[MC_ID_NUMBER_LEN + 1], phone[16];
  bench_party(a->n, name, id_number, phone);
  party.name = name;
  party.role = MV_PARTY(APPLICANT);
  party.id_number = id_number;
  party.phone = phone;
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

/* A signer like the router's (Ed25519 over context and data), so that the
 * cost of signing every case file's head is in the commit figures. */
static uint8_t bench_sk[crypto_sign_SECRETKEYBYTES];

static bool bench_sign(void *arg, const char *context, const uint8_t *data, size_t len,
                       uint8_t sig[ST_SIG_BYTES]) {
  (void)arg;
  uint8_t buf[256];
  size_t cl = strlen(context) + 1;
  if (cl + len > sizeof(buf))
    return false;
  memcpy(buf, context, cl);
  memcpy(buf + cl, data, len);
  return crypto_sign_detached(sig, NULL, buf, cl + len, bench_sk) == 0;
}

static bool bench_signing = true;

static st_store *open_store(const char *dir, bool nosync, size_t map) {
  static const uint8_t search_key[ST_SEARCH_KEY_BYTES] = {7};
  st_options o = {.dir = dir, .map_size = map, .case_prefix = "BH", .utc_offset_minutes = 480,
                  .unsafe_nosync = nosync, .sign = bench_signing ? bench_sign : NULL,
                  .search_key = search_key};
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

/* What the router's Search does for a coordinator's first page
 * (router/search.c): the term, one walk of ix_search, the records of the
 * hits, and the count up to 1000. */
static qstat time_search(st_store *s, st_match what, const char *text, int reps) {
  double *t = malloc(sizeof(double) * (size_t)reps);
  st_hit hits[PAGE];
  size_t n = 0;
  for (int r = 0; r < reps; r++) {
    int64_t a = mc_mono_ns();
    st_txn *txn;
    mc_err err = {0};
    char term[ST_TERM_MAX], next[ST_CURSOR_MAX];
    if (st_read_begin(s, &txn, &err) != MC_OK)
      die("read", &err);
    if (st_search_term(txn, what, text, term, &err) != MC_OK)
      die("search term", &err);
    st_query q = {.index = ST_BY_TERM, .unit = term, .limit = PAGE};
    if (st_index_query(txn, &q, hits, &n, next, &err) != MC_OK)
      die("search", &err);
    for (size_t i = 0; i < n; i++) {
      mv_case *c;
      if (st_case_get(txn, hits[i].id, &c, &err) != MC_OK)
        die("get", &err);
      protobuf_c_message_free_unpacked(&c->base, NULL);
    }
    uint64_t total;
    if (st_search_count(txn, term, 1001, &total, &err) != MC_OK)
      die("count", &err);
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

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* ---- Bytes on disk per case ------------------------------------------------------------- */

#define LIFE_STEPS 12
#define SIM_STEP_MS 26000LL /* 100k cases x 12 steps in about a year of simulated time */
static int64_t retention_ms = 7LL * 24 * 3600 * 1000; /* --retention-days */
static bool full_replies;                              /* --full-replies */

static const char session_notes[3][700] = {
    "第一次调解：双方当事人均到场。申请人陈述，双方因家庭开支和照顾老人问题多次争吵，"
    "本次因被申请人深夜晚归发生推搡，申请人手臂轻微擦伤，已由民警出警处置。被申请人承认"
    "情绪失控，表示愿意道歉。调解员释明相关法律规定，心理咨询师分别与双方单独谈话，"
    "疏导情绪。双方同意一周后再次面谈，期间不再发生肢体冲突。",
    "第二次调解：双方围绕家庭开支分担、子女接送和老人照料时间进行协商。申请人要求被申请人"
    "每月固定承担家庭开支并按时回家；被申请人提出工作时间不固定，希望共同制定家务分工表。"
    "调解员逐项梳理分歧，双方就开支分担比例初步达成一致，子女接送安排仍有分歧，约定下次继续。",
    "第三次调解：双方对子女接送安排达成一致，由被申请人负责周一至周三，申请人负责周四至周五，"
    "周末共同安排。双方同意签订调解协议，被申请人当面向申请人道歉，申请人表示谅解。"
    "心理咨询师建议双方每月进行一次家庭沟通，社区网格员将定期回访。",
};

typedef struct life_case {
  char id[MC_CASE_ID_MAX];
  int stage; /* the next step, 0..LIFE_STEPS */
  uint64_t n;
} life_case;

typedef struct life_arg {
  life_case *c;
  int64_t now;
  uint64_t content_bytes; /* the event this op appended (set by the last run) */
  char wake[2][ST_NAME_MAX];
  uint64_t dseq[2];
  int n_deliveries;
} life_arg;

/* The action of a stage; borrows static strings and its own fields. */
typedef struct life_action {
  mv_action a;
  mv_intake in;
  mv_party party[2];
  mv_party *parties[2];
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__Feedback feedback;
} life_action;

static void life_action_of(life_action *x, const life_case *c, int stage, int64_t now) {
  memset(x, 0, sizeof(*x));
  mediation__v1__case_action__init(&x->a);
  x->a.case_ref = (char *)c->id;
  x->a.person = stage < 2 ? "马德顺" : "周晓梅";
  switch (stage) {
  case 0:
    x->a.kind = MV_ACTION(TAKE_IN);
    mediation__v1__intake__init(&x->in);
    for (int i = 0; i < 2; i++) {
      mediation__v1__party__init(&x->party[i]);
      x->parties[i] = &x->party[i];
    }
    x->party[0].name = "甄小红";
    x->party[0].role = MV_PARTY(APPLICANT);
    x->party[0].id_number = "330212199001010029";
    x->party[0].phone = "+86 100 0000 0001";
    x->party[1].name = "贾小明";
    x->party[1].role = MV_PARTY(RESPONDENT);
    x->party[1].id_number = "330212198801010014";
    x->party[1].phone = "+86 100 0000 0002";
    x->in.parties = x->parties;
    x->in.n_parties = 2;
    x->in.kind = MV_KIND(RELATIONSHIP);
    x->in.difficulty = MV_DIFFICULTY(ORDINARY);
    x->in.source = MV_SOURCE(POLICE_CALL);
    x->in.community = (char *)communities[c->n % 3];
    x->in.money_fen = (int64_t)(c->n % 1000) * 1000;
    x->in.summary = "110接警：夫妻因家庭开支和照顾老人问题多次争吵，当晚因晚归发生推搡，"
                    "女方手臂轻微擦伤。民警到场制止并初步调解，双方情绪平稳后，"
                    "经大石头调解工作室分类，属婚姻家庭纠纷，拟转宋大姐调解工作室溯源调解。";
    x->a.args_case = MV_ARGS(INTAKE);
    x->a.intake = &x->in;
    break;
  case 1:
    x->a.kind = MV_ACTION(TRANSFER);
    x->a.reason = "婚姻家庭纠纷，转婚调工作室溯源调解";
    x->a.args_case = MV_ARGS(TO_UNIT);
    x->a.to_unit = "marriage-studio";
    break;
  case 2:
    x->a.kind = MV_ACTION(ACCEPT);
    break;
  case 3:
  case 4:
    x->a.kind = MV_ACTION(ASSIGN);
    mediation__v1__team_member__init(&x->member);
    x->member.person = stage == 3 ? "陈立新" : "林静";
    x->member.role = stage == 3 ? MV_ROLE(MEDIATOR) : MV_ROLE(COUNSELLOR);
    x->a.args_case = MV_ARGS(MEMBER);
    x->a.member = &x->member;
    break;
  case 5:
    x->a.kind = MV_ACTION(START_MEDIATION);
    break;
  case 6:
  case 7:
  case 8:
    x->a.kind = MV_ACTION(RECORD_SESSION);
    mediation__v1__session__init(&x->session);
    x->session.held_ms = now - 3600000;
    x->session.note = (char *)session_notes[stage - 6];
    x->a.args_case = MV_ARGS(SESSION);
    x->a.session = &x->session;
    break;
  case 9:
    x->a.kind = MV_ACTION(RECORD_OUTCOME);
    mediation__v1__outcome__init(&x->outcome);
    x->outcome.kind = MV_OUTCOME(AGREEMENT);
    x->outcome.agreed_amount_fen = 300000;
    x->outcome.summary = "双方自愿达成调解协议：一、被申请人当面道歉；二、家庭开支由双方按六比四"
                         "分担；三、子女接送按约定分工；四、双方不再发生肢体冲突。";
    x->a.args_case = MV_ARGS(OUTCOME);
    x->a.outcome = &x->outcome;
    break;
  case 10:
    x->a.kind = MV_ACTION(RECORD_FEEDBACK);
    mediation__v1__feedback__init(&x->feedback);
    x->feedback.satisfaction = MV_SATISFACTION(SATISFIED);
    x->feedback.visited_ms = now - 3600000;
    x->feedback.note = "回访：协议履行良好，双方关系缓和，对调解结果满意。";
    x->a.args_case = MV_ARGS(FEEDBACK);
    x->a.feedback = &x->feedback;
    break;
  default:
    x->a.kind = MV_ACTION(CLOSE);
    break;
  }
}

/* One step of one case, the router's way: mc_apply, st_case_put, its
 * deliveries, and the packed ApplyReply kept for idempotency. */
static mc_code life_op(st_txn *t, void *arg, mc_err *err) {
  life_arg *a = arg;
  life_case *c = a->c;
  a->content_bytes = 0;
  a->n_deliveries = 0;
  int stage = c->stage;
  life_action x;
  life_action_of(&x, c, stage, a->now);
  char id[MC_CASE_ID_MAX], rid[48];
  mv_case *cur = NULL;
  mc_code rc;
  if (stage == 0) {
    mc_date d = mc_date_of(a->now, 480);
    if ((rc = st_case_next_id(t, d.year, id, err)) != MC_OK)
      return rc;
    x.a.case_ref = id;
  } else if ((rc = st_case_get(t, c->id, &cur, err)) != MC_OK) {
    return rc;
  }
  snprintf(rid, sizeof(rid), "life-%llu-%d", (unsigned long long)c->n, stage);
  mv_actor who = MEDIATION__V1__ACTOR__INIT;
  who.kind = MV_PRINCIPAL(UNIT);
  who.id = stage < 2 ? "police-studio" : "marriage-studio";
  who.person = x.a.person;
  mc_step s = {.current = cur, .action = &x.a, .actor = &who, .now_ms = a->now,
               .request_id = {strlen(rid), (uint8_t *)rid}};
  mv_case *next = NULL;
  mv_event *ev = NULL;
  rc = mc_apply(reg, &s, &next, &ev, err);
  if (rc == MC_OK)
    rc = st_case_put(t, cur, next, ev, err);
  mc_delivery_target to[2];
  size_t nd = rc == MC_OK ? mc_deliveries_for(ev, to) : 0;
  for (size_t i = 0; i < nd && rc == MC_OK; i++) {
    mv_delivery d = MEDIATION__V1__DELIVERY__INIT;
    d.unit = (char *)to[i].unit;
    d.kind = to[i].kind;
    d.snapshot = next;
    d.event = ev;
    d.queued_ms = a->now;
    rc = st_delivery_put(t, &d, &a->dseq[i], err);
    snprintf(a->wake[i], ST_NAME_MAX, "%s", to[i].unit);
    a->n_deliveries = (int)i + 1;
  }
  uint8_t *payload = NULL;
  size_t plen = 0;
  if (rc == MC_OK) {
    Mediation__V1__ApplyReply reply = MEDIATION__V1__APPLY_REPLY__INIT;
    reply.case_record = next;
    reply.event = ev;
    rc = mc_pb_pack(&reply.base, &payload, &plen, err);
  }
  if (rc == MC_OK) {
    st_idem_reply r = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
    r.request_id.data = (uint8_t *)rid;
    r.request_id.len = strlen(rid);
    r.stored_ms = a->now;
    r.caller = who.id;
    r.method = "Apply";
    if (full_replies) {
      r.payload.data = payload;
      r.payload.len = plen;
    } else {
      r.case_id = next->id;
      r.event_seq = ev->seq;
      r.masked = strcmp(who.id, next->holder) != 0;
    }
    rc = st_idem_put(t, &r, err);
  }
  if (rc == MC_OK) {
    a->content_bytes = protobuf_c_message_get_packed_size(&ev->base);
    if (stage == 0)
      snprintf(c->id, sizeof(c->id), "%s", next->id);
  }
  free(payload);
  if (ev)
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  if (next)
    protobuf_c_message_free_unpacked(&next->base, NULL);
  if (cur)
    protobuf_c_message_free_unpacked(&cur->base, NULL);
  return rc;
}

typedef struct ack_arg {
  life_arg *ops;
  size_t n;
} ack_arg;

/* The units acknowledge what they were delivered (the receipts' own
 * case-file events are left out: one more small event per delivery). */
static mc_code ack_op(st_txn *t, void *arg, mc_err *err) {
  ack_arg *a = arg;
  for (size_t i = 0; i < a->n; i++)
    for (int k = 0; k < a->ops[i].n_deliveries; k++) {
      mc_code rc = st_delivery_ack(t, a->ops[i].wake[k], a->ops[i].dseq[k], NULL, err);
      if (rc != MC_OK)
        return rc;
    }
  return MC_OK;
}

static uint64_t file_bytes(const char *dir) {
  char path[4300];
  struct stat st;
  snprintf(path, sizeof(path), "%.4200s/data.mdb", dir);
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void print_space(st_store *s, const char *base, uint64_t cases, uint64_t content,
                        uint64_t record_bytes, int k) {
  st_space sp;
  mc_err err = {0};
  if (st_space_get(s, &sp, &err) != MC_OK)
    die("space", &err);
  double ps = (double)sp.page_size, n = (double)cases;
  uint64_t used = sp.last_page * sp.page_size;
  printf("\n-- %llu cases: encoded content %.0f B/case (case file %.0f + record %.0f) --\n",
         (unsigned long long)cases, (double)(content + record_bytes) / n, (double)content / n,
         (double)record_bytes / n);
  printf("%-14s %10s %9s %9s %9s %10s\n", "database", "entries", "branch", "leaf", "overflow",
         "B/case");
  uint64_t in_dbs = 0;
  for (size_t i = 0; i < sp.n_dbs; i++) {
    const st_db_space *d = &sp.dbs[i];
    uint64_t pages = d->branch_pages + d->leaf_pages + d->overflow_pages;
    in_dbs += pages;
    if (pages == 0)
      continue;
    printf("%-14s %10llu %9llu %9llu %9llu %10.0f\n", d->name, (unsigned long long)d->entries,
           (unsigned long long)d->branch_pages, (unsigned long long)d->leaf_pages,
           (unsigned long long)d->overflow_pages, (double)pages * ps / n);
  }
  printf("%-14s %10s %9s %9s %9s %10.0f\n", "(free pages)", "", "", "", "",
         (double)sp.free_pages * ps / n);
  printf("%-14s %10s %9s %9s %9s %10.0f\n", "(free list)", "", "", "", "",
         (double)sp.free_list_pages * ps / n);
  char copy[4200];
  snprintf(copy, sizeof(copy), "%s/space-copy-%d", base, k);
  if (st_backup(s, copy, &err) != MC_OK)
    die("backup", &err);
  uint64_t compact = file_bytes(copy);
  nftw(copy, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  double c = (double)(content + record_bytes);
  printf("live file (pages in use): %8.0f B/case = %.2fx the encoded content\n",
         (double)used / n, (double)used / c);
  printf("compacted copy:           %8.0f B/case = %.2fx\n", (double)compact / n,
         (double)compact / c);
}

/* The bytes of the cases' final records. */
static uint64_t record_bytes_of(st_store *s, const life_case *cs, size_t n) {
  st_txn *t;
  mc_err err = {0};
  if (st_read_begin(s, &t, &err) != MC_OK)
    die("read", &err);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    mv_case *c;
    if (st_case_get(t, cs[i].id, &c, &err) != MC_OK)
      die("get", &err);
    total += protobuf_c_message_get_packed_size(&c->base);
    protobuf_c_message_free_unpacked(&c->base, NULL);
  }
  st_read_end(t);
  return total;
}

/* Writes realistic cases up to 10k and then 100k (measuring at each, once
 * every case is closed): steps of a window of open cases, interleaved, 64
 * per group commit. */
static void bytes_per_case(const char *base, uint64_t max) {
  enum { WINDOW = 512, BATCH = 64 };
  printf("== Bytes on disk per case (realistic cases of %d steps) ==\n", LIFE_STEPS);
  printf("Steps of %d open cases interleaved, %d per commit (MDB_NOSYNC: the load is not "
         "timed); idempotency replies kept %s, expired after %lld days of simulated time; "
         "deliveries acked after each commit.\n",
         WINDOW, BATCH, full_replies ? "whole (format 1)" : "as (case, seq) (format 2)",
         (long long)(retention_ms / 86400000));
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/space", base);
  st_options o = {.dir = dir, .map_size = (size_t)256 << 20, .case_prefix = "BH",
                  .utc_offset_minutes = 480, .unsafe_nosync = true,
                  .idem_retention_ms = retention_ms, .sign = bench_sign,
                  .search_key = (const uint8_t *)"bench search key, 32 bytes long"};
  st_store *s = NULL;
  mc_err err = {0};
  if (st_open(&o, &s, &err) != MC_OK)
    die("st_open", &err);
  uint64_t sizes[2] = {10000, 100000};
  uint64_t total = max < 100000 ? max : 100000;
  life_case *cs = calloc(total, sizeof(*cs));
  life_arg args[BATCH];
  st_op ops[BATCH];
  uint64_t started = 0, finished = 0, content = 0, steps = 0;
  size_t window[WINDOW];
  size_t open = 0;
  int64_t now = T0, last_expire = T0;
  int k = 0;
  int64_t t0 = mc_mono_ns();
  while (finished < total) {
    /* New cases join until the next measuring size is reached. */
    uint64_t cap = k < 2 && sizes[k] < total ? sizes[k] : total;
    while (open < WINDOW && started < cap) {
      cs[started].n = started;
      window[open++] = started++;
    }
    size_t n = 0;
    for (size_t i = 0; i < open && n < BATCH; i++) {
      size_t j = i + (size_t)(next_rand() % (open - i)); /* a random open case, once per batch */
      size_t tmp = window[i];
      window[i] = window[j];
      window[j] = tmp;
      now += SIM_STEP_MS;
      args[n] = (life_arg){.c = &cs[window[i]], .now = now};
      ops[n] = (st_op){.apply = life_op, .arg = &args[n]};
      n++;
    }
    if (st_write_batch(s, ops, n, &err) != MC_OK)
      die("batch", &err);
    for (size_t i = 0; i < n; i++) {
      if (ops[i].code != MC_OK)
        die("step", &ops[i].err);
      content += args[i].content_bytes;
      steps++;
      args[i].c->stage++;
    }
    ack_arg aa = {args, n};
    if (st_write(s, ack_op, &aa, &err) != MC_OK)
      die("ack", &err);
    for (size_t i = 0; i < open;) {
      if (cs[window[i]].stage == LIFE_STEPS) {
        finished++;
        window[i] = window[--open];
      } else {
        i++;
      }
    }
    if (now - last_expire > 3600000) {
      size_t gone;
      do {
        if (st_idem_expire(s, now, 10000, &gone, &err) != MC_OK)
          die("expire", &err);
      } while (gone == 10000);
      last_expire = now;
    }
    if (k < 2 && finished == sizes[k]) {
      printf("  %llu cases, %llu steps written in %.1f s\n", (unsigned long long)finished,
             (unsigned long long)steps, (mc_mono_ns() - t0) / 1e9);
      print_space(s, base, finished, content, record_bytes_of(s, cs, finished), k);
      k++;
    }
  }
  st_close(s);
  free(cs);
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  printf("\n");
}

/* ---- Main --------------------------------------------------------------------------- */

static void durable_commits(const char *base) {
  /* base is at most 2047 bytes: the names below fit. */
  printf("== Durable commits (each op: mc_apply + st_case_put + deliveries + idempotency) ==\n");
  printf("%-8s %-8s %12s %12s %14s\n", "sync", "batch", "commits/s", "ops/s", "ms/commit");
  static const int sizes[] = {1, 16, 128};
  for (int nosync = 0; nosync <= 2; nosync++) {
    /* The last row: NOSYNC without signing heads, to show what signing costs. */
    bench_signing = nosync < 2;
    for (size_t i = nosync == 2 ? 2 : 0; i < 3; i++) {
      char dir[4096];
      snprintf(dir, sizeof(dir), "%s/commits-%d-%d", base, nosync, sizes[i]);
      st_store *s = open_store(dir, nosync, 0);
      uint64_t n = 0;
      int done = 0;
      write_batches(s, &n, 20, sizes[i], 0, &done); /* warm up */
      int batches = quick ? 50 : 100000;
      double secs = write_batches(s, &n, batches, sizes[i], quick ? 1.0 : 3.0, &done);
      printf("%-8s %-8d %12.0f %12.0f %14.3f\n",
             nosync == 2 ? "unsigned" : nosync ? "NOSYNC" : "durable", sizes[i],
             done / secs, done * sizes[i] / secs, secs * 1e3 / done);
      st_close(s);
      nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
  }
  bench_signing = true;
  printf("(NOSYNC is the benchmark switch only: the router is durable. Every row signs each\n"
         "case file's head with Ed25519 as the router does, except \"unsigned\": NOSYNC\n"
         "without signing.)\n\n");
}

int main(int argc, char **argv) {
  const char *dir_arg = NULL;
  uint64_t max = 1000000;
  bool space_only = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      dir_arg = argv[++i];
    else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
      max = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (strcmp(argv[i], "--space-only") == 0)
      space_only = true;
    else if (strcmp(argv[i], "--retention-days") == 0 && i + 1 < argc)
      retention_ms = strtoll(argv[++i], NULL, 10) * 86400000LL;
    else if (strcmp(argv[i], "--full-replies") == 0)
      full_replies = true;
    else {
      fprintf(stderr, "usage: bench_store [--dir DIR] [--max N] [--quick] [--space-only] "
                      "[--retention-days N] [--full-replies]\n");
      return 2;
    }
  }
  mc_err err = {0};
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  if (sodium_init() < 0 || crypto_sign_keypair(pk, bench_sk) != 0) {
    fprintf(stderr, "bench_store: libsodium failed\n");
    return 1;
  }
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

  bytes_per_case(base, quick && max > 10000 ? 10000 : max);
  if (space_only) {
    mc_registry_free(reg);
    if (!dir_arg)
      nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
  }
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
  /* Searches of case 7's party (its name names ~1 case in 50000). */
  char name7[16], id7[MC_ID_NUMBER_LEN + 1], phone7[16], surname[8];
  bench_party(7, name7, id7, phone7);
  snprintf(surname, sizeof(surname), "%s", surnames[7 % 20]);
  struct {
    const char *name;
    st_match what;
    const char *text;
  } searches[] = {
      {"search whole name (+records, count)", ST_MATCH_NAME, name7},
      {"search surname, 1 in 20 (same)", ST_MATCH_NAME, surname},
      {"search ID number (same)", ST_MATCH_ID_NUMBER, id7},
      {"search phone (same)", ST_MATCH_PHONE, phone7},
      {"search unit_ref R-7 (same)", ST_MATCH_UNIT_REF, "R-7"},
  };
  enum { NS = sizeof(searches) / sizeof(searches[0]) };
  qstat sres[3][NS];
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
    for (int q = 0; q < NS; q++) {
      time_search(s, searches[q].what, searches[q].text, reps / 10); /* warm */
      sres[k][q] = time_search(s, searches[q].what, searches[q].text, reps);
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
  for (int q = 0; q < NS; q++) {
    printf("%-36s", searches[q].name);
    for (int k = 0; k < runs; k++)
      printf(" %9.1f us", sres[k][q].median_us);
    if (runs > 1)
      printf("  %5.2fx", sres[runs - 1][q].median_us / sres[0][q].median_us);
    printf("   (%zu hits; p99 %.1f us at the largest)\n", sres[runs - 1][q].hits,
           sres[runs - 1][q].p99_us);
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
