/*
 * test_store_cases.c - cases through the real state machine into the store:
 * every index query against a brute-force answer, paged with small pages (no
 * duplicate, no gap), cursors refused when forged or misused, references by
 * alias, TAKE_IN idempotent per unit_ref, the case file refused unless it
 * extends the chain, group commit with a refused case, counts, figures, and
 * a clean verify at the end of it all.
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

#include "core/figures.h"
#include "sf.h"

#define N_CASES 48

typedef struct env {
  char *dir;
  st_store *s;
  mc_registry *reg;
  char ids[N_CASES][MC_CASE_ID_MAX];
} env;

static const char *const units[] = {SF_POLICE, SF_MARRIAGE, SF_WANGAI, SF_KONGQUE, SF_BAIHE};
static const char *const communities[] = {"wangai", "kongque", "baihe"};

/* 48 cases with varied holders, communities, kinds and states: in intake,
 * offered, accepted, in mediation, in feedback, closed, withdrawn. */
static void populate(env *e) {
  for (int i = 0; i < N_CASES; i++) {
    const char *unit = units[i % 5];
    char ref[32];
    snprintf(ref, sizeof(ref), "R-%d", i);
    int64_t t = SF_T0 + (int64_t)i * SF_HOUR;
    sf_take_in(e->s, e->reg, unit, communities[i % 3], (mv_kind)(1 + i % 9), ref, t, e->ids[i]);
    const char *to = unit == units[1] ? SF_POLICE : SF_MARRIAGE;
    sf_action act;
    switch (i % 7) {
    case 0: /* stays in intake */
      break;
    case 1: /* offered */
    case 2: /* offered and accepted */
      sf_action_init(&act, MV_ACTION(TRANSFER));
      act.a.case_ref = e->ids[i];
      act.a.to_unit = (char *)to;
      sf_do(e->s, e->reg, &act.a, unit, t + SF_MINUTE, NULL);
      if (i % 7 == 2)
        sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(ACCEPT), to, t + 2 * SF_MINUTE);
      break;
    case 3: /* in mediation */
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(ASSIGN), unit, t + SF_MINUTE);
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(START_MEDIATION), unit, t + 2 * SF_MINUTE);
      break;
    case 4: /* feedback */
    case 5: /* closed */
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(ASSIGN), unit, t + SF_MINUTE);
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(START_MEDIATION), unit, t + 2 * SF_MINUTE);
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(RECORD_SESSION), unit, t + 3 * SF_MINUTE);
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(RECORD_OUTCOME), unit, t + 4 * SF_MINUTE);
      if (i % 7 == 5) {
        sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(RECORD_FEEDBACK), unit, t + 5 * SF_MINUTE);
        sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(CLOSE), unit, t + 6 * SF_MINUTE);
      }
      break;
    case 6: /* withdrawn */
      sf_kind(e->s, e->reg, e->ids[i], MV_ACTION(WITHDRAW), unit, t + SF_MINUTE);
      break;
    }
  }
}

static int setup(void **state) {
  env *e = calloc(1, sizeof(*e));
  e->dir = sf_tmpdir();
  e->s = sf_open(e->dir, 0, 0);
  e->reg = sf_registry();
  populate(e);
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

static mv_case *get(st_store *s, const char *id) {
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  mv_case *c = NULL;
  mc_code rc = st_case_get(t, id, &c, &err);
  if (rc != MC_OK)
    fail_msg("get %s: %s", id, err.msg);
  st_read_end(t);
  return c;
}

/* ---- Index queries against brute force ----------------------------------------------- */

typedef struct expect {
  int major;      /* state for holder/community; 0 elsewhere */
  int64_t at;     /* the index's order time */
  char id[MC_CASE_ID_MAX];
} expect;

static int cmp_expect(const void *a, const void *b) {
  const expect *x = a, *y = b;
  if (x->major != y->major)
    return x->major < y->major ? -1 : 1;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  return strcmp(x->id, y->id);
}

/* What the query should return, in order. */
static size_t brute(env *e, const st_query *q, expect *out) {
  size_t n = 0;
  for (int i = 0; i < N_CASES; i++) {
    mv_case *c = get(e->s, e->ids[i]);
    bool match = false;
    int major = 0;
    int64_t at = c->created_ms;
    switch (q->index) {
    case ST_BY_STATE:
      match = c->state == q->state;
      break;
    case ST_BY_HOLDER:
      match = strcmp(c->holder, q->unit) == 0 && (q->state == 0 || c->state == q->state);
      major = c->state;
      break;
    case ST_BY_COMMUNITY:
      match = strcmp(c->intake->community, q->unit) == 0 &&
              (q->state == 0 || c->state == q->state);
      major = c->state;
      break;
    case ST_BY_KIND:
      match = c->intake->kind == q->kind;
      break;
    case ST_BY_OFFERED:
      match = c->state == MV_STATE(TRANSFER) && strcmp(c->transfer->to_unit, q->unit) == 0;
      if (match)
        at = c->transfer->offered_ms;
      break;
    case ST_BY_INVOLVED:
      for (size_t k = 0; k < c->n_units_involved; k++)
        match = match || strcmp(c->units_involved[k], q->unit) == 0;
      break;
    case ST_BY_DEADLINE:
      match = c->deadline_ms != 0 && (q->until_ms == 0 || c->deadline_ms < q->until_ms);
      at = c->deadline_ms;
      break;
    case ST_BY_TERM: /* name terms only here: "n" + part of a party's name */
      for (size_t k = 0; k < c->intake->n_parties; k++)
        match = match || strstr(c->intake->parties[k]->name, q->unit + 1) != NULL;
      break;
    }
    if (match) {
      out[n].major = major;
      out[n].at = at;
      snprintf(out[n].id, MC_CASE_ID_MAX, "%s", c->id);
      n++;
    }
    protobuf_c_message_free_unpacked(&c->base, NULL);
  }
  qsort(out, n, sizeof(*out), cmp_expect);
  return n;
}

/* Pages through a query `limit` hits at a time and compares with brute
 * force. Returns the number of hits. */
static size_t page_through(env *e, st_query q, uint32_t limit) {
  expect want[N_CASES];
  size_t n_want = brute(e, &q, want);
  st_hit hits[ST_PAGE_MAX];
  char cursor[ST_CURSOR_MAX] = "";
  size_t got = 0, pages = 0;
  q.limit = limit;
  for (;;) {
    st_txn *t;
    mc_err err = {0};
    assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
    q.cursor = cursor;
    size_t n = 0;
    char next[ST_CURSOR_MAX];
    mc_code rc = st_index_query(t, &q, hits, &n, next, &err);
    st_read_end(t);
    if (rc != MC_OK)
      fail_msg("query %d: %s: %s", (int)q.index, mc_code_name(rc), err.msg);
    assert_true(n <= limit);
    pages++;
    for (size_t i = 0; i < n; i++, got++) {
      assert_true(got < n_want);
      assert_string_equal(hits[i].id, want[got].id);
      assert_int_equal(hits[i].at_ms, want[got].at);
      if (q.index == ST_BY_HOLDER || q.index == ST_BY_COMMUNITY || q.index == ST_BY_STATE)
        assert_int_not_equal(hits[i].state, 0);
    }
    if (next[0] == '\0')
      break;
    assert_int_equal(n, limit); /* a short page is the last */
    memcpy(cursor, next, sizeof(cursor));
  }
  assert_int_equal(got, n_want);
  assert_int_equal(pages, n_want == 0 ? 1 : (n_want + limit - 1) / limit);
  return got;
}

static void test_every_index(void **state) {
  env *e = *state;
  size_t total = 0;
  for (int s = 1; s < 8; s++)
    total += page_through(e, (st_query){.index = ST_BY_STATE, .state = (mv_state)s}, 4);
  assert_int_equal(total, N_CASES);
  for (size_t u = 0; u < 5; u++) {
    size_t held = page_through(e, (st_query){.index = ST_BY_HOLDER, .unit = units[u]}, 3);
    size_t sum = 0;
    for (int s = 1; s < 8; s++)
      sum += page_through(
          e, (st_query){.index = ST_BY_HOLDER, .unit = units[u], .state = (mv_state)s}, 2);
    assert_int_equal(held, sum);
    page_through(e, (st_query){.index = ST_BY_OFFERED, .unit = units[u]}, 1);
    assert_true(page_through(e, (st_query){.index = ST_BY_INVOLVED, .unit = units[u]}, 5) > 0);
  }
  for (size_t c = 0; c < 3; c++) {
    assert_true(page_through(e, (st_query){.index = ST_BY_COMMUNITY, .unit = communities[c]},
                             7) > 0);
    page_through(e,
                 (st_query){.index = ST_BY_COMMUNITY, .unit = communities[c],
                            .state = MV_STATE(INTAKE)},
                 2);
  }
  total = 0;
  for (int k = 1; k < 10; k++)
    total += page_through(e, (st_query){.index = ST_BY_KIND, .kind = (mv_kind)k}, 2);
  assert_int_equal(total, N_CASES);
  assert_true(page_through(e, (st_query){.index = ST_BY_DEADLINE}, 6) > 0);
  /* The search index: a whole name and a part of it (sf_cases' party 甄小明). */
  assert_int_equal(page_through(e, (st_query){.index = ST_BY_TERM, .unit = "n甄小明"}, 7), N_CASES);
  assert_int_equal(page_through(e, (st_query){.index = ST_BY_TERM, .unit = "n小"}, 9), N_CASES);
  assert_int_equal(page_through(e, (st_query){.index = ST_BY_TERM, .unit = "n明甄"}, 9), 0);
  /* The offered index holds exactly the cases in transfer. */
  size_t offered = 0;
  for (size_t u = 0; u < 5; u++)
    offered += page_through(e, (st_query){.index = ST_BY_OFFERED, .unit = units[u]}, 50);
  assert_int_equal(offered,
                   page_through(e, (st_query){.index = ST_BY_STATE, .state = MV_STATE(TRANSFER)},
                                50));
  assert_true(offered > 0);
  /* One page of everything, and pages of one. */
  page_through(e, (st_query){.index = ST_BY_DEADLINE}, ST_PAGE_MAX);
  page_through(e, (st_query){.index = ST_BY_HOLDER, .unit = SF_MARRIAGE}, 1);
}

/* "Everything overdue": the deadline index up to now, and its count. */
static void test_overdue(void **state) {
  env *e = *state;
  int64_t now = SF_T0 + 3 * SF_DAY;
  size_t overdue = page_through(e, (st_query){.index = ST_BY_DEADLINE, .until_ms = now}, 5);
  size_t all = page_through(e, (st_query){.index = ST_BY_DEADLINE}, 50);
  assert_true(overdue > 0);
  assert_true(overdue < all);
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  uint64_t n = 0;
  assert_int_equal(st_count_overdue(t, now, &n, &err), MC_OK);
  assert_int_equal(n, overdue);
  /* Counts per state, as the index has them. */
  uint64_t counts[8];
  assert_int_equal(st_count_states(t, counts, &err), MC_OK);
  st_read_end(t);
  assert_int_equal(counts[0], 0);
  for (int s = 1; s < 8; s++)
    assert_int_equal(counts[s],
                     page_through(e, (st_query){.index = ST_BY_STATE, .state = (mv_state)s}, 50));
}

/* ---- Cursors ----------------------------------------------------------------------------- */

static mc_code query(env *e, st_query q, size_t *n, char next[ST_CURSOR_MAX], mc_err *err) {
  st_txn *t;
  assert_int_equal(st_read_begin(e->s, &t, err), MC_OK);
  st_hit hits[ST_PAGE_MAX];
  mc_code rc = st_index_query(t, &q, hits, n, next, err);
  st_read_end(t);
  return rc;
}

/* A cursor as the store encodes one: "c1" + base64url(index byte, key). */
static void forge(int db, const uint8_t *key, size_t n, char out[ST_CURSOR_MAX]) {
  uint8_t raw[600];
  raw[0] = (uint8_t)db;
  memcpy(raw + 1, key, n);
  memcpy(out, "c1", 2);
  sodium_bin2base64(out + 2, ST_CURSOR_MAX - 2, raw, n + 1,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The index byte of a cursor the store made. */
static int cursor_db(const char *cursor) {
  uint8_t raw[600];
  size_t n = 0;
  assert_int_equal(sodium_base642bin(raw, sizeof(raw), cursor + 2, strlen(cursor + 2), NULL, &n,
                                     NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   0);
  return raw[0];
}

static void test_cursor_checks(void **state) {
  env *e = *state;
  size_t n;
  char next[ST_CURSOR_MAX], first[ST_CURSOR_MAX];
  mc_err err = {0};
  st_query q = {.index = ST_BY_HOLDER, .unit = SF_POLICE, .limit = 2};
  assert_int_equal(query(e, q, &n, first, &err), MC_OK);
  assert_int_equal(n, 2);
  assert_true(first[0] != '\0');
  /* The same cursor works again (and with another page size). */
  q.cursor = first;
  q.limit = 3;
  assert_int_equal(query(e, q, &n, next, &err), MC_OK);
  assert_int_equal(n, 3);

  const char *bad[] = {"garbage", "c1", "c1!!!!", "c2AAAA", "c1AA", "c1" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    q.cursor = bad[i];
    assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  }
  /* Too long. */
  char lng[ST_CURSOR_MAX + 10];
  memset(lng, 'A', sizeof(lng) - 1);
  lng[0] = 'c';
  lng[1] = '1';
  lng[sizeof(lng) - 1] = '\0';
  q.cursor = lng;
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);

  /* Another holder's query, another state, another index. */
  q = (st_query){.index = ST_BY_HOLDER, .unit = SF_MARRIAGE, .limit = 2, .cursor = first};
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "another query"));
  q = (st_query){.index = ST_BY_HOLDER, .unit = SF_POLICE, .state = MV_STATE(CLOSED), .limit = 2,
                 .cursor = first};
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  q = (st_query){.index = ST_BY_INVOLVED, .unit = SF_POLICE, .limit = 2, .cursor = first};
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "another list"));

  /* Forged: inside the prefix but not a key of the index (a bad id, a bad
   * state, trailing bytes), or outside the prefix. */
  uint8_t key[128];
  size_t k = 0;
  memcpy(key, SF_POLICE, strlen(SF_POLICE) + 1);
  k = strlen(SF_POLICE) + 1;
  key[k++] = MV_STATE(INTAKE);
  memset(key + k, 0x80, 8);
  k += 8;
  char forged[ST_CURSOR_MAX];
  int db = cursor_db(first);
  memcpy(key + k, "NOT-AN-ID", 9);
  forge(db, key, k + 9, forged);
  q = (st_query){.index = ST_BY_HOLDER, .unit = SF_POLICE, .limit = 2, .cursor = forged};
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  memcpy(key + k, "BH-2026-000001", 14);
  forge(db, key, k + 14, forged);
  assert_int_equal(query(e, q, &n, next, &err), MC_OK); /* a well-formed position */
  key[strlen(SF_POLICE) + 1] = 9; /* no such state */
  forge(db, key, k + 14, forged);
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  key[strlen(SF_POLICE) + 1] = MV_STATE(INTAKE);
  memcpy(key + k + 14, "\0x", 2);
  forge(db, key, k + 16, forged);
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);
  forge(db, (const uint8_t *)"marriage-studio\0\x01\x80\x00\x00\x00\x00\x00\x00\x00" "BH-2026-000001",
        16 + 1 + 8 + 14, forged);
  assert_int_equal(query(e, q, &n, next, &err), MC_INVALID_ARGUMENT);

  /* Query fields. */
  assert_int_equal(query(e, (st_query){.index = ST_BY_STATE, .limit = 5}, &n, next, &err),
                   MC_INVALID_ARGUMENT);
  assert_int_equal(
      query(e, (st_query){.index = ST_BY_STATE, .state = MV_STATE(INTAKE)}, &n, next, &err),
      MC_INVALID_ARGUMENT);
  assert_int_equal(query(e,
                         (st_query){.index = ST_BY_STATE, .state = MV_STATE(INTAKE),
                                    .limit = ST_PAGE_MAX + 1},
                         &n, next, &err),
                   MC_INVALID_ARGUMENT);
  assert_int_equal(query(e, (st_query){.index = ST_BY_HOLDER, .unit = "", .limit = 5}, &n, next,
                         &err),
                   MC_INVALID_ARGUMENT);
  assert_int_equal(query(e, (st_query){.index = ST_BY_KIND, .limit = 5}, &n, next, &err),
                   MC_INVALID_ARGUMENT);
  assert_int_equal(query(e, (st_query){.index = (st_index)42, .limit = 5}, &n, next, &err),
                   MC_INVALID_ARGUMENT);
}

/* ---- References and TAKE_IN idempotency ----------------------------------------------------- */

static void test_refs(void **state) {
  env *e = *state;
  st_txn *t;
  mc_err err = {0};
  char id[MC_CASE_ID_MAX];
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  /* Case 1 was taken in by the marriage studio (units[1]) with. */
  assert_int_equal(st_case_resolve(t, "marriage-studio:R-1", id, &err), MC_OK);
  assert_string_equal(id, e->ids[1]);
  assert_int_equal(st_case_resolve(t, e->ids[1], id, &err), MC_OK);
  assert_string_equal(id, e->ids[1]);
  /* The reference stays with the unit that took it in, wherever it is now. */
  assert_int_equal(st_case_resolve(t, "police-studio:R-1", id, &err), MC_NOT_FOUND);
  assert_int_equal(st_case_resolve(t, "BH-2026-999999", id, &err), MC_NOT_FOUND);
  assert_int_equal(st_case_resolve(t, "nonsense", id, &err), MC_INVALID_ARGUMENT);
  mv_case *c;
  assert_int_equal(st_case_get_by_ref(t, "station-wangai:R-2", &c, &err), MC_OK);
  assert_string_equal(c->id, e->ids[2]);
  protobuf_c_message_free_unpacked(&c->base, NULL);
  st_read_end(t);
}

typedef struct take_arg {
  const mc_registry *reg;
  const char *unit, *ref;
  bool broken; /* an intake the state machine refuses */
  char id[MC_CASE_ID_MAX];
} take_arg;

static mc_code take_op(st_txn *t, void *arg, mc_err *err) {
  take_arg *a = arg;
  sf_action act;
  sf_action_init(&act, MV_ACTION(TAKE_IN));
  act.intake.unit_ref = (char *)a->ref;
  if (a->broken)
    act.intake.n_parties = 0;
  mv_actor who = sf_unit(a->unit);
  return sf_apply(t, a->reg, &act.a, &who, SF_T0 + 100 * SF_HOUR, NULL, a->id, err);
}

static void test_take_in_once_per_unit_ref(void **state) {
  env *e = *state;
  mc_err err = {0};
  /* R-0 of the police studio exists (case 0). */
  take_arg again = {.reg = e->reg, .unit = SF_POLICE, .ref = "R-0"};
  assert_int_equal(st_write(e->s, take_op, &again, &err), MC_ALREADY_EXISTS);
  assert_non_null(strstr(err.msg, e->ids[0]));
  /* The same ref at another unit is another case. A batch: one fresh
   * intake, one refused by the state machine, one duplicate, one more
   * fresh: serials stay contiguous because refused ops roll back. */
  take_arg ops_arg[4] = {
      {.reg = e->reg, .unit = SF_WANGAI, .ref = "R-0"},
      {.reg = e->reg, .unit = SF_WANGAI, .ref = "R-X", .broken = true},
      {.reg = e->reg, .unit = SF_WANGAI, .ref = "R-0"},
      {.reg = e->reg, .unit = SF_WANGAI, .ref = "R-Y"},
  };
  st_op ops[4];
  for (int i = 0; i < 4; i++)
    ops[i] = (st_op){.apply = take_op, .arg = &ops_arg[i]};
  assert_int_equal(st_write_batch(e->s, ops, 4, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_OK);
  assert_int_equal(ops[1].code, MC_INVALID_ARGUMENT);
  assert_int_equal(ops[2].code, MC_ALREADY_EXISTS);
  assert_int_equal(ops[3].code, MC_OK);
  char want[MC_CASE_ID_MAX];
  snprintf(want, sizeof(want), "BH-2026-%06d", N_CASES + 1);
  assert_string_equal(ops_arg[0].id, want);
  snprintf(want, sizeof(want), "BH-2026-%06d", N_CASES + 2);
  assert_string_equal(ops_arg[3].id, want);
  st_txn *t;
  char id[MC_CASE_ID_MAX];
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  assert_int_equal(st_case_resolve(t, "station-wangai:R-0", id, &err), MC_OK);
  assert_string_equal(id, ops_arg[0].id);
  assert_int_equal(st_case_resolve(t, "station-wangai:R-X", id, &err), MC_NOT_FOUND);
  st_read_end(t);
  sf_verify_clean(e->s);
}

/* ---- Idempotent replay --------------------------------------------------------------------- */

/* The router's shape: a request id seen before gets the stored reply and
 * applies nothing; a new one applies the step and stores its reply in the
 * same op. */
typedef struct replay_arg {
  const mc_registry *reg;
  const char *id, *rid;
  char reply[MC_CASE_ID_MAX + 16]; /* replaced on every run */
  bool replayed;
} replay_arg;

static mc_code replay_op(st_txn *t, void *arg, mc_err *err) {
  replay_arg *a = arg;
  a->replayed = false;
  st_idem_reply *r = NULL;
  mc_code rc = st_idem_get(t, (const uint8_t *)a->rid, strlen(a->rid), &r, err);
  if (rc == MC_OK) {
    snprintf(a->reply, sizeof(a->reply), "%.*s", (int)r->payload.len, (const char *)r->payload.data);
    a->replayed = true;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return MC_OK;
  }
  if (rc != MC_NOT_FOUND)
    return rc;
  sf_action act;
  sf_action_init(&act, MV_ACTION(RECORD_SESSION));
  act.a.case_ref = (char *)a->id;
  mv_case *c;
  if ((rc = st_case_get(t, a->id, &c, err)) != MC_OK)
    return rc;
  char holder[ST_NAME_MAX + 1];
  snprintf(holder, sizeof(holder), "%s", c->holder);
  protobuf_c_message_free_unpacked(&c->base, NULL);
  mv_actor who = sf_unit(holder);
  if ((rc = sf_apply(t, a->reg, &act.a, &who, SF_T0 + SF_DAY, a->rid, NULL, err)) != MC_OK)
    return rc;
  if ((rc = st_case_get(t, a->id, &c, err)) != MC_OK)
    return rc;
  snprintf(a->reply, sizeof(a->reply), "%s#%u", c->id, c->event_count);
  protobuf_c_message_free_unpacked(&c->base, NULL);
  st_idem_reply put = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
  put.request_id.data = (uint8_t *)a->rid;
  put.request_id.len = strlen(a->rid);
  put.stored_ms = SF_T0 + SF_DAY;
  put.caller = who.id;
  put.method = "Apply";
  put.payload.data = (uint8_t *)a->reply;
  put.payload.len = strlen(a->reply);
  return st_idem_put(t, &put, err);
}

static void test_idempotent_replay(void **state) {
  env *e = *state;
  const char *id = e->ids[3]; /* in mediation */
  mv_case *c = get(e->s, id);
  uint32_t count = c->event_count;
  protobuf_c_message_free_unpacked(&c->base, NULL);
  mc_err err = {0};
  replay_arg first = {.reg = e->reg, .id = id, .rid = "req-42"};
  assert_int_equal(st_write(e->s, replay_op, &first, &err), MC_OK);
  assert_false(first.replayed);
  /* A retry, and two more copies of it arriving in one batch. */
  replay_arg again = {.reg = e->reg, .id = id, .rid = "req-42"};
  assert_int_equal(st_write(e->s, replay_op, &again, &err), MC_OK);
  assert_true(again.replayed);
  assert_string_equal(again.reply, first.reply);
  replay_arg b1 = again, b2 = again, fresh = {.reg = e->reg, .id = id, .rid = "req-43"},
             fresh_again = fresh;
  st_op ops[4] = {{.apply = replay_op, .arg = &b1}, {.apply = replay_op, .arg = &fresh},
                  {.apply = replay_op, .arg = &fresh_again}, {.apply = replay_op, .arg = &b2}};
  assert_int_equal(st_write_batch(e->s, ops, 4, &err), MC_OK);
  for (int i = 0; i < 4; i++)
    assert_int_equal(ops[i].code, MC_OK);
  assert_true(b1.replayed && b2.replayed && !fresh.replayed && fresh_again.replayed);
  assert_string_equal(fresh_again.reply, fresh.reply);
  c = get(e->s, id);
  assert_int_equal(c->event_count, count + 2); /* one step per request id */
  protobuf_c_message_free_unpacked(&c->base, NULL);
  sf_verify_clean(e->s);
}

/* ---- The case file only grows by its next link ------------------------------------------------ */

typedef enum mangle {
  M_NONE,
  M_SEQ,
  M_PREV_HASH,
  M_STALE_BEFORE,
  M_NEW_EXISTING,
  M_HEAD_HASH,
  M_OTHER_CASE,
} mangle;

typedef struct chain_arg {
  const mc_registry *reg;
  const char *id;
  mangle how;
} chain_arg;

static mc_code chain_op(st_txn *t, void *arg, mc_err *err) {
  chain_arg *a = arg;
  mv_case *cur;
  mc_code rc = st_case_get(t, a->id, &cur, err);
  if (rc != MC_OK)
    return rc;
  sf_action act;
  sf_action_init(&act, MV_ACTION(RECORD_SESSION));
  act.a.case_ref = (char *)a->id;
  mv_actor who = sf_unit(cur->holder);
  mc_step step = {.current = cur, .action = &act.a, .actor = &who, .now_ms = SF_T0 + SF_DAY,
                  .request_id = {2, (uint8_t *)"rq"}};
  mv_case *next;
  mv_event *ev;
  rc = mc_apply(a->reg, &step, &next, &ev, err);
  assert_int_equal(rc, MC_OK);
  const mv_case *before = cur;
  switch (a->how) {
  case M_SEQ:
    ev->seq++;
    break;
  case M_PREV_HASH:
    ev->prev_hash.data[0] ^= 1;
    break;
  case M_STALE_BEFORE:
    cur->updated_ms++;
    break;
  case M_NEW_EXISTING:
    before = NULL;
    break;
  case M_HEAD_HASH:
    next->last_event_hash.data[5] ^= 1;
    break;
  case M_OTHER_CASE:
    ev->case_id[strlen(ev->case_id) - 1] ^= 1;
    break;
  default:
    break;
  }
  rc = st_case_put(t, before, next, ev, err);
  protobuf_c_message_free_unpacked(&cur->base, NULL);
  protobuf_c_message_free_unpacked(&next->base, NULL);
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  return rc;
}

static void test_chain_is_enforced(void **state) {
  env *e = *state;
  const char *id = e->ids[3]; /* in mediation */
  mv_case *c0 = get(e->s, id);
  uint32_t count = c0->event_count;
  protobuf_c_message_free_unpacked(&c0->base, NULL);
  static const struct {
    mangle how;
    mc_code want;
    const char *text;
  } cases[] = {
      {M_SEQ, MC_FAILED_PRECONDITION, "does not follow"},
      {M_PREV_HASH, MC_FAILED_PRECONDITION, "prev_hash"},
      {M_STALE_BEFORE, MC_ABORTED, "changed since"},
      {M_NEW_EXISTING, MC_FAILED_PRECONDITION, NULL},
      {M_HEAD_HASH, MC_FAILED_PRECONDITION, "last_event_hash"},
      {M_OTHER_CASE, MC_INVALID_ARGUMENT, "another case"},
  };
  mc_err err = {0};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    chain_arg a = {.reg = e->reg, .id = id, .how = cases[i].how};
    mc_code rc = st_write(e->s, chain_op, &a, &err);
    if (rc != cases[i].want)
      fail_msg("mangle %d: %s (%s)", (int)cases[i].how, mc_code_name(rc), err.msg);
    if (cases[i].text)
      assert_non_null(strstr(err.msg, cases[i].text));
  }
  mv_case *c1 = get(e->s, id);
  assert_int_equal(c1->event_count, count);
  protobuf_c_message_free_unpacked(&c1->base, NULL);
  chain_arg ok = {.reg = e->reg, .id = id, .how = M_NONE};
  assert_int_equal(st_write(e->s, chain_op, &ok, &err), MC_OK);
  c1 = get(e->s, id);
  assert_int_equal(c1->event_count, count + 1);
  protobuf_c_message_free_unpacked(&c1->base, NULL);
  sf_verify_clean(e->s);
}

/* ---- The case file, deliveries, figures ---------------------------------------------------------- */

static void test_case_file(void **state) {
  env *e = *state;
  const char *id = e->ids[5]; /* closed: 7 events */
  mv_case *c = get(e->s, id);
  assert_int_equal(c->state, MV_STATE(CLOSED));
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  mv_event **evs;
  size_t n;
  assert_int_equal(st_events_get(t, id, &evs, &n, &err), MC_OK);
  assert_int_equal(n, c->event_count);
  uint8_t h[MC_HASH_BYTES];
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(evs[i]->seq, i + 1);
    assert_string_equal(evs[i]->case_id, id);
    if (i > 0)
      assert_memory_equal(evs[i]->prev_hash.data, h, MC_HASH_BYTES);
    mc_event_hash(evs[i], h);
  }
  assert_memory_equal(c->last_event_hash.data, h, MC_HASH_BYTES);
  assert_int_equal(evs[0]->action->kind, MV_ACTION(TAKE_IN));
  assert_int_equal(evs[n - 1]->action->kind, MV_ACTION(CLOSE));
  st_messages_free(evs, n);
  mv_event *ev;
  assert_int_equal(st_event_get(t, id, 2, &ev, &err), MC_OK);
  assert_int_equal(ev->action->kind, MV_ACTION(ASSIGN));
  protobuf_c_message_free_unpacked(&ev->base, NULL);
  assert_int_equal(st_event_get(t, id, 99, &ev, &err), MC_NOT_FOUND);
  assert_int_equal(st_events_get(t, "BH-2026-999999", &evs, &n, &err), MC_NOT_FOUND);

  /* Case 1 was offered to the police studio by the marriage studio; case
   * 8 to the marriage studio by the police studio. */
  mv_delivery **ds;
  assert_int_equal(st_delivery_list(t, SF_POLICE, 0, 100, &ds, &n, &err), MC_OK);
  bool found = false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(ds[i]->snapshot->id, e->ids[1]) == 0) {
      found = true;
      assert_int_equal(ds[i]->kind, MV_DELIVERY(OFFER));
      assert_int_equal(ds[i]->event->action->kind, MV_ACTION(TRANSFER));
      assert_string_equal(ds[i]->unit, SF_POLICE);
    }
  assert_true(found);
  st_messages_free(ds, n);
  st_read_end(t);
  protobuf_c_message_free_unpacked(&c->base, NULL);
}

typedef struct fig_sum {
  mv_counters total;
  int rows;
  int months[13];
} fig_sum;

static bool sum_rows(void *arg, const mv_bucket *b, const mv_counters *c) {
  fig_sum *f = arg;
  mc_counters_add(&f->total, c);
  f->rows++;
  f->months[b->month]++;
  return true;
}

static void test_figures(void **state) {
  env *e = *state;
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(e->s, &t, &err), MC_OK);
  fig_sum f = {0};
  mediation__v1__figure_counters__init(&f.total);
  assert_int_equal(st_figures_scan(t, 2026, 1, 12, sum_rows, &f, &err), MC_OK);
  assert_true(f.rows > 0);
  assert_int_equal(f.total.taken_in, N_CASES);
  /* Cases 4 and 5 of every 7 reached an outcome, 5 closed, 6 withdrawn. */
  int mediated = 0, closed = 0, withdrawn = 0;
  for (int i = 0; i < N_CASES; i++) {
    mediated += i % 7 == 4 || i % 7 == 5;
    closed += i % 7 == 5;
    withdrawn += i % 7 == 6;
  }
  assert_int_equal(f.total.mediated, mediated);
  assert_int_equal(f.total.resolved, mediated);
  assert_int_equal(f.total.closed, closed);
  assert_int_equal(f.total.withdrawn, withdrawn);
  assert_int_equal(f.total.satisfied, closed);
  /* Only March has rows (the cases span two days from 2 March). */
  assert_int_equal(f.months[3], f.rows);
  fig_sum none = {0};
  mediation__v1__figure_counters__init(&none.total);
  assert_int_equal(st_figures_scan(t, 2026, 4, 12, sum_rows, &none, &err), MC_OK);
  assert_int_equal(none.rows, 0);
  assert_int_equal(st_figures_scan(t, 2025, 1, 12, sum_rows, &none, &err), MC_OK);
  assert_int_equal(none.rows, 0);
  st_read_end(t);
}

static void test_verify_clean_and_reopen(void **state) {
  env *e = *state;
  sf_verify_clean(e->s);
  st_close(e->s);
  e->s = sf_open(e->dir, 0, 0);
  sf_verify_clean(e->s);
  st_info info;
  mc_err err = {0};
  assert_int_equal(st_info_get(e->s, &info, &err), MC_OK);
  assert_int_equal(info.cases, N_CASES);
}

/* A peeked id is not taken: peeking twice names the same id, and the
 * serial moves only when a case is stored under it; a batch that peeks and
 * then refuses leaves nothing behind. */
typedef struct peek_arg {
  char first[MC_CASE_ID_MAX], second[MC_CASE_ID_MAX];
} peek_arg;

static mc_code peek_op(st_txn *t, void *arg, mc_err *err) {
  peek_arg *p = arg;
  mc_code rc = st_case_peek_id(t, 2026, p->first, err);
  if (rc == MC_OK)
    rc = st_case_peek_id(t, 2026, p->second, err);
  return rc;
}

static mc_code peek_then_refuse_op(st_txn *t, void *arg, mc_err *err) {
  char id[MC_CASE_ID_MAX];
  (void)arg;
  mc_code rc = st_case_peek_id(t, 2026, id, err);
  return rc == MC_OK ? mc_err_set(err, MC_FAILED_PRECONDITION, "refused") : rc;
}

static void test_peek_id_takes_nothing(void **state) {
  env *e = *state;
  peek_arg p;
  mc_err err;
  st_op ops[2] = {{.apply = peek_then_refuse_op, .direct = true},
                  {.apply = peek_op, .arg = &p, .direct = true}};
  assert_int_equal(st_write_batch(e->s, ops, 2, &err), MC_OK);
  assert_int_equal(ops[0].code, MC_FAILED_PRECONDITION);
  assert_true(ops[0].direct); /* it wrote nothing: no rerun was needed */
  assert_int_equal(ops[1].code, MC_OK);
  assert_string_equal(p.first, p.second);
  int year;
  uint64_t serial;
  assert_true(mc_case_id_parse(p.first, &year, &serial));
  char id[MC_CASE_ID_MAX];
  sf_take_in(e->s, e->reg, SF_POLICE, "wangai", MV_KIND(OTHER), NULL, SF_T0, id);
  assert_string_equal(id, p.first); /* stored under the peeked id */
  assert_int_equal(st_write(e->s, peek_op, &p, &err), MC_OK);
  uint64_t after;
  assert_true(mc_case_id_parse(p.first, &year, &after));
  assert_int_equal(after, serial + 1);
  sf_verify_clean(e->s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_every_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overdue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cursor_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_take_in_once_per_unit_ref, setup, teardown),
      cmocka_unit_test_setup_teardown(test_peek_id_takes_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idempotent_replay, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chain_is_enforced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_case_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_clean_and_reopen, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
