/*
 * index.c - the secondary indexes: which keys a case record implies, how an
 * index key is read back, and paged queries with client-safe cursors.
 *
 * The idea: an index entry is a key with an empty value, built only from the
 * record (sti_case_keys), so one function serves writing (st_case_put keeps
 * the index by difference between the old and new key sets), checking
 * (st_verify recomputes it) and reading (st_index_query walks a key prefix).
 * Every key ends with the case's order time and id, so a query is one
 * MDB_SET_RANGE plus `limit` MDB_NEXT steps: O(log N + results).
 *
 * A cursor is the last key returned, encoded. It comes back from clients, so
 * it is checked as hostile input: it must decode, belong to the same index,
 * start with the query's own prefix (so it can never move a scan outside the
 * slice the caller asked for) and have exactly the shape of a key of that
 * index.
 */
#include "storage/store_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"

#define CURSOR_TAG "c1" /* cursor format version */

/* ---- Keys a record implies ----------------------------------------------------- */

static bool name_ok(const char *s) {
  return s != NULL && strlen(s) <= ST_NAME_MAX;
}

mc_code sti_case_keys(const st_store *s, const mv_case *c, sti_ixent **out, size_t *n_out,
                      mc_err *err) {
  if (c == NULL || c->id == NULL || !mc_case_id_parse(c->id, NULL, NULL))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case record: malformed case id");
  const char *id = c->id;
  if (c->intake == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: record has no intake", id);
  if (c->state <= 0 || c->state >= MC_STATE_COUNT)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: state %d out of range", id,
                      (int)c->state);
  if (c->intake->kind < 0 || c->intake->kind >= MC_KIND_COUNT)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: kind %d out of range", id,
                      (int)c->intake->kind);
  if (!name_ok(c->holder) || !name_ok(c->intake->community) || !name_ok(c->intake->unit_ref))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "case %s: holder, community or unit_ref longer than %d bytes", id,
                      ST_NAME_MAX);
  for (size_t i = 0; i < c->n_units_involved; i++)
    if (!name_ok(c->units_involved[i]))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "case %s: units_involved[%zu] longer than %d bytes", id, i, ST_NAME_MAX);
  bool offered = c->state == MV_STATE(TRANSFER) && c->transfer != NULL &&
                 c->transfer->to_unit != NULL && c->transfer->to_unit[0] != '\0';
  if (offered && !name_ok(c->transfer->to_unit))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: transfer.to_unit too long", id);

  /* malloc, not calloc: an entry is a whole sti_key (over 500 bytes), of
   * which only the first key.n bytes are ever read; zeroing them all was a
   * third of a case put's key work. */
  sti_ixent *arr = malloc((8 + c->n_units_involved) * sizeof(*arr));
  if (arr == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "case %s: out of memory", id);
  size_t n = 0;
  sti_key *k;
#define NEXT(dbid) (arr[n].db = (dbid), k = &arr[n++].key, sti_key_init(k))
  NEXT(SDB_IX_STATE);
  sti_key_u8(k, (unsigned)c->state);
  sti_key_time(k, c->created_ms);
  sti_key_str(k, id);

  NEXT(SDB_IX_HOLDER);
  sti_key_strz(k, c->holder);
  sti_key_u8(k, (unsigned)c->state);
  sti_key_time(k, c->created_ms);
  sti_key_str(k, id);

  NEXT(SDB_IX_COMMUNITY);
  sti_key_strz(k, c->intake->community);
  sti_key_u8(k, (unsigned)c->state);
  sti_key_time(k, c->created_ms);
  sti_key_str(k, id);

  NEXT(SDB_IX_KIND);
  sti_key_u8(k, (unsigned)c->intake->kind);
  sti_key_time(k, c->created_ms);
  sti_key_str(k, id);

  if (offered) {
    NEXT(SDB_IX_OFFERED);
    sti_key_strz(k, c->transfer->to_unit);
    sti_key_time(k, c->transfer->offered_ms);
    sti_key_str(k, id);
  }
  for (size_t i = 0; i < c->n_units_involved; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = strcmp(c->units_involved[i], c->units_involved[j]) == 0;
    if (seen)
      continue;
    NEXT(SDB_IX_INVOLVED);
    sti_key_strz(k, c->units_involved[i]);
    sti_key_time(k, c->created_ms);
    sti_key_str(k, id);
  }
  if (c->deadline_ms != 0) {
    NEXT(SDB_IX_DEADLINE);
    sti_key_time(k, c->deadline_ms);
    sti_key_str(k, id);
  }
  if (c->intake->unit_ref != NULL && c->intake->unit_ref[0] != '\0') {
    /* The unit that took the case in owns the reference: the first unit
     * involved, which never changes. */
    const char *unit = c->n_units_involved > 0 ? c->units_involved[0] : c->holder;
    arr[n].db = SDB_ALIASES;
    sti_alias_key(&arr[n++].key, unit, c->intake->unit_ref, id);
  }
#undef NEXT
  mc_code rc = sti_search_keys(s, c, &arr, &n, err);
  if (rc != MC_OK) {
    free(arr);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    if (!sti_key_ok(&arr[i].key)) {
      free(arr);
      return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: an index key would be too long", id);
    }
  }
  *out = arr;
  *n_out = n;
  return MC_OK;
}

/* ---- Reading index keys back -------------------------------------------------- */

static const uint8_t *find_nul(const uint8_t *p, size_t n) {
  return memchr(p, 0, n);
}

static bool parse_id(const uint8_t *p, size_t n, char id[MC_CASE_ID_MAX]) {
  if (n == 0 || n >= MC_CASE_ID_MAX || memchr(p, 0, n) != NULL)
    return false;
  memcpy(id, p, n);
  id[n] = '\0';
  return mc_case_id_parse(id, NULL, NULL);
}

bool sti_ix_parse(int db, const uint8_t *key, size_t n, char id[MC_CASE_ID_MAX], int64_t *at,
                  mv_state *state) {
  size_t p = 0;
  int st = 0;
  const uint8_t *z;
  switch (db) {
  case SDB_IX_STATE:
    if (n < 1)
      return false;
    st = key[0];
    p = 1;
    break;
  case SDB_IX_HOLDER:
  case SDB_IX_COMMUNITY:
    if ((z = find_nul(key, n)) == NULL)
      return false;
    p = (size_t)(z - key) + 1;
    if (p >= n)
      return false;
    st = key[p++];
    break;
  case SDB_IX_KIND:
    if (n < 1 || key[0] >= MC_KIND_COUNT)
      return false;
    p = 1;
    break;
  case SDB_IX_OFFERED:
  case SDB_IX_INVOLVED:
  case SDB_IX_SEARCH:
    if ((z = find_nul(key, n)) == NULL)
      return false;
    p = (size_t)(z - key) + 1;
    break;
  case SDB_IX_DEADLINE:
    break;
  case SDB_ALIASES:
    if ((z = find_nul(key, n)) == NULL)
      return false;
    p = (size_t)(z - key) + 1;
    if ((z = find_nul(key + p, n - p)) == NULL)
      return false;
    p = (size_t)(z - key) + 1;
    if (!parse_id(key + p, n - p, id))
      return false;
    if (at)
      *at = 0;
    if (state)
      *state = 0;
    return true;
  default:
    return false;
  }
  if ((db == SDB_IX_STATE || db == SDB_IX_HOLDER || db == SDB_IX_COMMUNITY) &&
      (st <= 0 || st >= MC_STATE_COUNT))
    return false;
  if (n < p + 8)
    return false;
  int64_t t = sti_get_time(key + p);
  p += 8;
  if (!parse_id(key + p, n - p, id))
    return false;
  if (at)
    *at = t;
  if (state)
    *state = (mv_state)st;
  return true;
}

/* ---- Other keys ----------------------------------------------------------------- */

void sti_figure_key(sti_key *k, const mv_bucket *b) {
  sti_key_init(k);
  sti_key_u16(k, (unsigned)b->year);
  sti_key_u8(k, (unsigned)b->month);
  sti_key_strz(k, b->unit);
  sti_key_strz(k, b->community);
  sti_key_u8(k, (unsigned)b->kind);
}

bool sti_figure_key_parse(const uint8_t *key, size_t n, mv_bucket *b, char *unit, size_t ucap,
                          char *community, size_t ccap) {
  if (n < 3 + 1 + 1 + 1)
    return false;
  int year = key[0] << 8 | key[1];
  int month = key[2];
  const uint8_t *p = key + 3, *end = key + n;
  const uint8_t *z1 = memchr(p, 0, (size_t)(end - p));
  if (z1 == NULL)
    return false;
  const uint8_t *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
  if (z2 == NULL || z2 + 2 != end)
    return false;
  size_t ul = (size_t)(z1 - p), cl = (size_t)(z2 - z1 - 1);
  if (ul >= ucap || cl >= ccap || month < 1 || month > 12 || z2[1] >= MC_KIND_COUNT)
    return false;
  memcpy(unit, p, ul);
  unit[ul] = '\0';
  memcpy(community, z1 + 1, cl);
  community[cl] = '\0';
  mediation__v1__figure_bucket__init(b);
  b->year = year;
  b->month = month;
  b->unit = unit;
  b->community = community;
  b->kind = (mv_kind)z2[1];
  return true;
}

void sti_delivery_key(sti_key *k, const char *unit, uint64_t seq) {
  sti_key_init(k);
  sti_key_strz(k, unit);
  sti_key_u64(k, seq);
}

/* ---- Queries ---------------------------------------------------------------------- */

static int index_db(st_index ix) {
  switch (ix) {
  case ST_BY_STATE:
    return SDB_IX_STATE;
  case ST_BY_HOLDER:
    return SDB_IX_HOLDER;
  case ST_BY_COMMUNITY:
    return SDB_IX_COMMUNITY;
  case ST_BY_KIND:
    return SDB_IX_KIND;
  case ST_BY_OFFERED:
    return SDB_IX_OFFERED;
  case ST_BY_INVOLVED:
    return SDB_IX_INVOLVED;
  case ST_BY_DEADLINE:
    return SDB_IX_DEADLINE;
  case ST_BY_TERM:
    return SDB_IX_SEARCH;
  }
  return -1;
}

static mc_code query_prefix(const st_query *q, int db, sti_key *prefix, mc_err *err) {
  sti_key_init(prefix);
  bool state_ok = q->state > 0 && q->state < MC_STATE_COUNT;
  switch (db) {
  case SDB_IX_STATE:
    if (!state_ok)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "query by state: state %d is not a case state",
                        (int)q->state);
    sti_key_u8(prefix, (unsigned)q->state);
    return MC_OK;
  case SDB_IX_HOLDER:
  case SDB_IX_COMMUNITY:
  case SDB_IX_OFFERED:
  case SDB_IX_INVOLVED:
    if (q->unit == NULL || q->unit[0] == '\0' || strlen(q->unit) > ST_NAME_MAX)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "query: a %s of 1 to %d bytes is required",
                        db == SDB_IX_COMMUNITY ? "community" : "unit", ST_NAME_MAX);
    sti_key_strz(prefix, q->unit);
    if (db == SDB_IX_HOLDER || db == SDB_IX_COMMUNITY) {
      if (q->state != 0 && !state_ok)
        return mc_err_set(err, MC_INVALID_ARGUMENT, "query: state %d is not a case state",
                          (int)q->state);
      if (q->state != 0)
        sti_key_u8(prefix, (unsigned)q->state);
    }
    return MC_OK;
  case SDB_IX_KIND:
    if (q->kind <= 0 || q->kind >= MC_KIND_COUNT)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "query by kind: kind %d is not a dispute kind",
                        (int)q->kind);
    sti_key_u8(prefix, (unsigned)q->kind);
    return MC_OK;
  case SDB_IX_DEADLINE:
    return MC_OK;
  case SDB_IX_SEARCH:
    if (q->unit == NULL || q->unit[0] == '\0' || strlen(q->unit) >= ST_TERM_MAX)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "query: a search term of 1 to %d bytes is required",
                        ST_TERM_MAX - 1);
    sti_key_strz(prefix, q->unit);
    return MC_OK;
  }
  return mc_err_set(err, MC_INVALID_ARGUMENT, "query: unknown index");
}

static void cursor_encode(int db, const sti_key *last, char out[ST_CURSOR_MAX]) {
  uint8_t raw[1 + STI_KEY_MAX];
  raw[0] = (uint8_t)db;
  memcpy(raw + 1, last->b, last->n);
  memcpy(out, CURSOR_TAG, 2);
  sodium_bin2base64(out + 2, ST_CURSOR_MAX - 2, raw, 1 + last->n,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static mc_code cursor_decode(const char *cursor, int db, const sti_key *prefix, sti_key *out,
                             mc_err *err) {
  size_t len = strnlen(cursor, ST_CURSOR_MAX);
  if (len >= ST_CURSOR_MAX || len < 3 || memcmp(cursor, CURSOR_TAG, 2) != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cursor: not a cursor of this service");
  uint8_t raw[1 + STI_KEY_MAX];
  size_t n = 0;
  const char *end = NULL;
  if (sodium_base642bin(raw, sizeof(raw), cursor + 2, len - 2, NULL, &n, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != cursor + len || n < 2)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cursor: damaged");
  if (raw[0] != db)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cursor: made for another list");
  MDB_val v = {.mv_size = n - 1, .mv_data = raw + 1};
  if (!sti_has_prefix(&v, prefix->b, prefix->n))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cursor: made for another query");
  char id[MC_CASE_ID_MAX];
  if (!sti_ix_parse(db, raw + 1, n - 1, id, NULL, NULL))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "cursor: damaged");
  sti_key_init(out);
  sti_key_raw(out, raw + 1, n - 1);
  return MC_OK;
}

mc_code st_index_query(st_txn *txn, const st_query *q, st_hit *hits, size_t *n_out,
                       char next_cursor[ST_CURSOR_MAX], mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  if (q == NULL || hits == NULL || next_cursor == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "query: missing argument");
  if (q->limit == 0 || q->limit > ST_PAGE_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "query: page size must be 1 to %d",
                      ST_PAGE_MAX);
  int db = index_db(q->index);
  if (db < 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "query: unknown index %d", (int)q->index);
  sti_key prefix, start;
  mc_code rc = query_prefix(q, db, &prefix, err);
  if (rc != MC_OK)
    return rc;
  bool resume = q->cursor != NULL && q->cursor[0] != '\0';
  if (resume) {
    rc = cursor_decode(q->cursor, db, &prefix, &start, err);
    if (rc != MC_OK)
      return rc;
  } else {
    start = prefix;
  }
  MDB_cursor *c;
  rc = sti_cursor(txn, s->db[db], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key = {.mv_size = start.n, .mv_data = start.b}, val;
  int lrc = start.n ? mdb_cursor_get(c, &key, &val, MDB_SET_RANGE)
                    : mdb_cursor_get(c, &key, &val, MDB_FIRST);
  /* Resuming: the cursor's own entry was on the previous page. */
  if (resume && lrc == 0 && key.mv_size == start.n && memcmp(key.mv_data, start.b, start.n) == 0)
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  size_t n = 0;
  bool more = false;
  sti_key last;
  sti_key_init(&last);
  while (lrc == 0 && sti_has_prefix(&key, prefix.b, prefix.n)) {
    st_hit h;
    if (!sti_ix_parse(db, key.mv_data, key.mv_size, h.id, &h.at_ms, &h.state)) {
      mdb_cursor_close(c);
      return mc_err_set(err, MC_DATA_LOSS, "store: malformed key in index %s",
                        sti_store_db_names[db]);
    }
    if (db == SDB_IX_DEADLINE && q->until_ms != 0 && h.at_ms >= q->until_ms)
      break;
    if (n == q->limit) {
      more = true;
      break;
    }
    hits[n++] = h;
    sti_key_init(&last);
    sti_key_raw(&last, key.mv_data, key.mv_size);
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (lrc != 0 && lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "store", "index query");
  if (more)
    cursor_encode(db, &last, next_cursor);
  else
    next_cursor[0] = '\0';
  *n_out = n;
  return MC_OK;
}
