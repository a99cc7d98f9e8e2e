/*
 * search.c - the search index (ix_search): which search terms a case record
 * implies, the terms a search looks up, and building the index for a store
 * that does not have it yet.
 *
 * One index for every way people look a case up, its keys
 *     term \0 created(8) case id     -> (empty)
 * shaped like ix_involved, so st_index_query pages it (ST_BY_TERM) with the
 * same cursors. A term is one class letter and a value:
 *   n<text>   a party's name, and every substring of it of 1..ST_GRAM_MAX
 *             characters. Names here are 2-4 characters (林某甲), so all
 *             substrings are 3-10 terms per name: every partial search
 *             ("某甲", "林") is one prefix lookup, O(log N + page), where
 *             bigrams would need an intersection of lists per query. A name
 *             longer than ST_GRAM_MAX characters also gets its whole self.
 *   m<text>   a team member's name (mediators, counsellors, lawyers), the
 *             same substrings.
 *   r<ref>    the unit's own reference (Intake.unit_ref), whole.
 *   i<hash>   an ID number, p<hash> a phone, q<hash> a name with a phone:
 *             BLAKE2b-128 keyed with the router's search key over the
 *             value's normal form (core/identity.h), in hex. Matched on the
 *             whole value only; without the key (kept with the router's
 *             keys, never in the store) the index says nothing about who is
 *             in it. A store opened without a key indexes none of these.
 * ASCII letters in names and refs are lowered, so "ps-2026-0007" finds
 * PS-2026-0007.
 *
 * The terms derive from the record alone, so st_case_put keeps them by
 * difference in the step's own transaction and st_verify recomputes them
 * like every other index. A store written before this index existed, or
 * opened with another key, gets it built (or rebuilt) on open, in one
 * transaction: meta "search_key" holds a fingerprint of the key it was
 * built with.
 */
#include "storage/store_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/identity.h"

#define HASH_BYTES 16

/* Lowers ASCII letters in place. */
static void lower_ascii(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z')
      *s = (char)(*s - 'A' + 'a');
}

static size_t utf8_len_at(const char *s) {
  unsigned char c = (unsigned char)*s;
  if (c < 0x80)
    return 1;
  if ((c & 0xE0) == 0xC0)
    return 2;
  if ((c & 0xF0) == 0xE0)
    return 3;
  return 4;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s += utf8_len_at(s))
    n++;
  return n;
}

/* The normal text of a name: bidi controls out, surrounding blanks out,
 * ASCII lowered. out has ST_NAME_MAX bytes; false if it does not fit or is
 * empty. */
static bool name_normal(const char *in, char out[ST_NAME_MAX]) {
  if (in == NULL || strlen(in) >= ST_NAME_MAX)
    return false;
  char tmp[ST_NAME_MAX];
  mc_strip_bidi_controls(in, tmp);
  const char *b = tmp;
  while (*b == ' ' || *b == '\t')
    b++;
  size_t n = strlen(b);
  while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
    n--;
  if (n == 0)
    return false;
  memcpy(out, b, n);
  out[n] = '\0';
  lower_ascii(out);
  return true;
}

/* cls + hex(BLAKE2b-128(key; what \0 v [\0 v2])). */
static void hash_term2(const uint8_t *key, char cls, const char *what, const char *v,
                       const char *v2, char out[ST_TERM_MAX]) {
  uint8_t h[HASH_BYTES];
  crypto_generichash_state st;
  crypto_generichash_init(&st, key, ST_SEARCH_KEY_BYTES, sizeof(h));
  crypto_generichash_update(&st, (const uint8_t *)what, strlen(what) + 1);
  crypto_generichash_update(&st, (const uint8_t *)v, strlen(v));
  if (v2 != NULL) {
    crypto_generichash_update(&st, (const uint8_t *)"", 1);
    crypto_generichash_update(&st, (const uint8_t *)v2, strlen(v2));
  }
  crypto_generichash_final(&st, h, sizeof(h));
  out[0] = cls;
  sodium_bin2hex(out + 1, ST_TERM_MAX - 1, h, sizeof(h));
}

static void hash_term(const uint8_t *key, char cls, const char *what, const char *v,
                      char out[ST_TERM_MAX]) {
  hash_term2(key, cls, what, v, NULL, out);
}

/* ---- Terms of a record ---------------------------------------------------------- */

typedef struct termset {
  char (*t)[ST_TERM_MAX];
  size_t n, cap;
  bool oom;
} termset;

static void add(termset *ts, const char *term) {
  if (ts->oom)
    return;
  if (ts->n == ts->cap) {
    size_t cap = ts->cap ? ts->cap * 2 : 32;
    void *p = realloc(ts->t, cap * sizeof(*ts->t));
    if (p == NULL) {
      ts->oom = true;
      return;
    }
    ts->t = p;
    ts->cap = cap;
  }
  snprintf(ts->t[ts->n++], ST_TERM_MAX, "%s", term);
}

/* Every substring of 1..ST_GRAM_MAX characters, and the whole if longer. */
static void add_grams(termset *ts, char cls, const char *name) {
  char norm[ST_NAME_MAX], term[ST_TERM_MAX];
  if (!name_normal(name, norm))
    return;
  term[0] = cls;
  for (const char *a = norm; *a; a += utf8_len_at(a)) {
    const char *b = a;
    for (int k = 0; k < ST_GRAM_MAX && *b; k++) {
      b += utf8_len_at(b);
      size_t n = (size_t)(b - a);
      memcpy(term + 1, a, n);
      term[1 + n] = '\0';
      add(ts, term);
    }
  }
  if (utf8_chars(norm) > ST_GRAM_MAX) {
    snprintf(term + 1, sizeof(term) - 1, "%s", norm);
    add(ts, term);
  }
}

static int term_cmp(const void *a, const void *b) {
  return strcmp(a, b);
}

mc_code sti_search_keys(const st_store *s, const mv_case *c, sti_ixent **arr, size_t *n,
                        mc_err *err) {
  termset ts = {0};
  const mv_intake *in = c->intake;
  for (size_t i = 0; i < in->n_parties; i++) {
    const mv_party *p = in->parties[i];
    if (p == NULL)
      continue;
    add_grams(&ts, 'n', p->name);
    if (!s->has_search_key)
      continue;
    char norm[MC_PHONE_NORM_MAX > MC_ID_NUMBER_LEN + 1 ? MC_PHONE_NORM_MAX : MC_ID_NUMBER_LEN + 1];
    char term[ST_TERM_MAX], name[ST_NAME_MAX];
    if (p->id_number && mc_id_number_normal(p->id_number, norm)) {
      hash_term(s->search_key, 'i', "id", norm, term);
      add(&ts, term);
    }
    if (p->phone && mc_phone_normal(p->phone, norm)) {
      hash_term(s->search_key, 'p', "phone", norm, term);
      add(&ts, term);
      if (name_normal(p->name, name)) {
        hash_term2(s->search_key, 'q', "name+phone", name, norm, term);
        add(&ts, term);
      }
    }
  }
  for (size_t i = 0; i < c->n_team; i++)
    if (c->team[i] != NULL)
      add_grams(&ts, 'm', c->team[i]->person);
  if (in->unit_ref != NULL && in->unit_ref[0] != '\0') {
    char term[ST_TERM_MAX];
    snprintf(term, sizeof(term), "r%s", in->unit_ref);
    lower_ascii(term + 1);
    add(&ts, term);
  }
  if (ts.oom) {
    free(ts.t);
    return mc_err_set(err, MC_UNAVAILABLE, "case %s: out of memory", c->id);
  }
  if (ts.n == 0)
    return MC_OK;
  qsort(ts.t, ts.n, sizeof(*ts.t), term_cmp);
  sti_ixent *grown = realloc(*arr, (*n + ts.n) * sizeof(**arr));
  if (grown == NULL) {
    free(ts.t);
    return mc_err_set(err, MC_UNAVAILABLE, "case %s: out of memory", c->id);
  }
  *arr = grown;
  for (size_t i = 0; i < ts.n; i++) {
    if (i > 0 && strcmp(ts.t[i], ts.t[i - 1]) == 0)
      continue;
    sti_ixent *e = &grown[(*n)++];
    e->db = SDB_IX_SEARCH;
    sti_key_init(&e->key);
    sti_key_strz(&e->key, ts.t[i]);
    sti_key_time(&e->key, c->created_ms);
    sti_key_str(&e->key, c->id);
  }
  free(ts.t);
  return MC_OK;
}

/* ---- Terms of a search ------------------------------------------------------------ */

mc_code st_search_term(st_txn *txn, st_match what, const char *text, char term[ST_TERM_MAX],
                       mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  char norm[ST_NAME_MAX];
  switch (what) {
  case ST_MATCH_ID_NUMBER:
  case ST_MATCH_PHONE:
    if (!s->has_search_key)
      return mc_err_set(err, MC_FAILED_PRECONDITION,
                        "search by ID number or phone needs the router's search key");
    if (what == ST_MATCH_ID_NUMBER ? !mc_id_number_normal(text, norm)
                                   : !mc_phone_normal(text, norm))
      return mc_err_set(err, MC_INVALID_ARGUMENT, "search: not a whole %s",
                        what == ST_MATCH_ID_NUMBER ? "ID number" : "phone number");
    hash_term(s->search_key, what == ST_MATCH_ID_NUMBER ? 'i' : 'p',
              what == ST_MATCH_ID_NUMBER ? "id" : "phone", norm, term);
    return MC_OK;
  case ST_MATCH_UNIT_REF:
  case ST_MATCH_NAME:
  case ST_MATCH_MEDIATOR:
    if (!name_normal(text, norm))
      return mc_err_set(err, MC_INVALID_ARGUMENT, "search: text of 1 to %d bytes required",
                        ST_NAME_MAX - 1);
    snprintf(term, ST_TERM_MAX, "%c%s",
             what == ST_MATCH_UNIT_REF ? 'r' : what == ST_MATCH_NAME ? 'n' : 'm', norm);
    return MC_OK;
  }
  return mc_err_set(err, MC_INVALID_ARGUMENT, "search: unknown match %d", (int)what);
}

mc_code st_party_terms(st_txn *txn, const mv_party *p, char terms[2][ST_TERM_MAX], size_t *n,
                       mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  *n = 0;
  if (!s->has_search_key)
    return MC_OK;
  char id[MC_ID_NUMBER_LEN + 1], phone[MC_PHONE_NORM_MAX], name[ST_NAME_MAX];
  if (p->id_number != NULL && mc_id_number_normal(p->id_number, id))
    hash_term(s->search_key, 'i', "id", id, terms[(*n)++]);
  if (p->phone != NULL && mc_phone_normal(p->phone, phone) && name_normal(p->name, name))
    hash_term2(s->search_key, 'q', "name+phone", name, phone, terms[(*n)++]);
  return MC_OK;
}

mc_code st_search_count(st_txn *txn, const char *term, uint64_t cap, uint64_t *out,
                        mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  sti_key prefix;
  sti_key_init(&prefix);
  sti_key_strz(&prefix, term);
  if (!sti_key_ok(&prefix))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "search: term too long");
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, s->db[SDB_IX_SEARCH], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key = {.mv_size = prefix.n, .mv_data = prefix.b}, val;
  uint64_t n = 0;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  while (lrc == 0 && n < cap && sti_has_prefix(&key, prefix.b, prefix.n)) {
    n++;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (lrc != 0 && lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "store", "search count");
  *out = n;
  return MC_OK;
}

/* ---- Building the index on open --------------------------------------------------- */

/* The fingerprint of the key the index was built with (0: built without). */
static uint64_t key_print(const st_store *s) {
  if (!s->has_search_key)
    return 0;
  uint8_t h[8];
  crypto_generichash(h, sizeof(h), (const uint8_t *)"mediation.v1.search-key", 23,
                     s->search_key, ST_SEARCH_KEY_BYTES);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | h[i];
  return v | 1; /* never 0 */
}

mc_code sti_search_build(st_txn *t, void *arg, mc_err *err) {
  st_store *s = arg;
  uint64_t built = 0, want = key_print(s) + 1; /* +1: 0 means "never built" */
  mc_code rc = sti_counter_get(t, s->db[SDB_META], "search_key", &built, err);
  if (rc != MC_OK || built == want)
    return rc;
  int lrc = mdb_drop(t->txn, s->db[SDB_IX_SEARCH], 0);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, "store", "rebuilding the search index");
  MDB_cursor *c;
  if ((rc = sti_cursor(t, s->db[SDB_CASES], &c, err)) != MC_OK)
    return rc;
  MDB_val key, val;
  uint64_t cases = 0;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0 && rc == MC_OK;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    char id[MC_CASE_ID_MAX];
    if (key.mv_size >= sizeof(id))
      continue; /* verify reports it */
    memcpy(id, key.mv_data, key.mv_size);
    id[key.mv_size] = '\0';
    mv_case *rec;
    if (sti_case_decode(&val, id, &rec, NULL) != MC_OK)
      continue; /* verify reports it */
    sti_ixent *keys = NULL;
    size_t n = 0;
    if (rec->intake != NULL)
      rc = sti_search_keys(s, rec, &keys, &n, err);
    for (size_t i = 0; i < n && rc == MC_OK; i++)
      rc = sti_put(t, s->db[SDB_IX_SEARCH], keys[i].key.b, keys[i].key.n, "", 0, 0, err);
    free(keys);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    cases++;
  }
  mdb_cursor_close(c);
  if (rc != MC_OK)
    return rc;
  if (lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "store", "rebuilding the search index");
  s->search_built = cases;
  return sti_counter_set(t, s->db[SDB_META], "search_key", want, err);
}
