/*
 * store.c - the case store's handle and its read side: opening, batches,
 * case and case-file getters, reference resolution and counts.
 *
 * The handle is a thin layer over env.c's environment; what it adds is the
 * store's databases, its schema check, and the rule that nothing read from
 * disk is trusted: every record is decoded into an owned copy and checked
 * against the key it was found under, and a record that fails either is
 * reported as DATA_LOSS naming the case, never returned.
 */
#include "storage/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/machine.h"
#include "core/pb.h"

const char *const sti_store_db_names[SDB_COUNT] = {
    [SDB_META] = "meta",
    [SDB_CASES] = "cases",
    [SDB_EVENTS_V1] = "events",
    [SDB_CASE_LOG] = "case_log",
    [SDB_CASE_FILES] = "case_files",
    [SDB_ALIASES] = "aliases",
    [SDB_IX_STATE] = "ix_state",
    [SDB_IX_HOLDER] = "ix_holder",
    [SDB_IX_COMMUNITY] = "ix_community",
    [SDB_IX_KIND] = "ix_kind",
    [SDB_IX_OFFERED] = "ix_offered",
    [SDB_IX_INVOLVED] = "ix_involved",
    [SDB_IX_DEADLINE] = "ix_deadline",
    [SDB_IDEM] = "idem",
    [SDB_IDEM_EXP] = "idem_exp",
    [SDB_DELIVERIES] = "deliveries",
    [SDB_FIGURES] = "figures",
    [SDB_ACCESS] = "access",
    [SDB_HEADS] = "heads",
    [SDB_IX_SEARCH] = "ix_search",
};

st_store *sti_store_of(st_txn *t, mc_err *err) {
  if (sti_check_kind(t, STI_STORE, err) != MC_OK)
    return NULL;
  return t->owner;
}

/* ---- Opening -------------------------------------------------------------------- */

/* A store of schema 1 has no signed heads. It is upgraded only when asked
 * (st_options.upgrade): an upgrade signs whatever the store holds, so it
 * must be an operator's decision, never something a doctored "schema"
 * counter can trigger. */
static mc_code schema1_op(st_txn *t, void *arg, mc_err *err) {
  st_store *s = t->owner;
  uint64_t v;
  mc_code rc = sti_counter_get(t, s->db[SDB_META], "schema", &v, err);
  if (rc != MC_OK || v != 1)
    return rc;
  if (!*(bool *)arg)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "store: schema version 1 on disk (case files without signed heads); "
                      "this build reads version %d: upgrade it once with "
                      "`mediation-router --upgrade-store` (it signs every case file's head "
                      "as it stands: run verify on it first)",
                      STI_SCHEMA);
  if ((rc = sti_upgrade_1_to_2(t, err)) != MC_OK)
    return rc;
  return sti_counter_set(t, s->db[SDB_META], "schema", STI_SCHEMA, err);
}

mc_code st_open(const st_options *opts, st_store **out, mc_err *err) {
  if (opts == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "store: no options");
  const char *prefix = opts->case_prefix ? opts->case_prefix : "BH";
  size_t plen = strlen(prefix);
  if (plen == 0 || plen > 8)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "store: case_prefix must have 1 to 8 characters");
  for (size_t i = 0; i < plen; i++)
    if (!((prefix[i] >= 'A' && prefix[i] <= 'Z') || (prefix[i] >= '0' && prefix[i] <= '9')))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "store: case_prefix must be upper-case letters and digits");
  if (opts->utc_offset_minutes < -14 * 60 || opts->utc_offset_minutes > 14 * 60)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "store: utc_offset_minutes out of range");
  if (opts->idem_retention_ms < 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "store: idem_retention_ms is negative");

  st_store *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "store: out of memory");
  memcpy(s->prefix, prefix, plen + 1);
  s->utc_offset_minutes = opts->utc_offset_minutes;
  s->idem_retention_ms =
      opts->idem_retention_ms ? opts->idem_retention_ms : ST_DEFAULT_IDEM_RETENTION_MS;
  sti_env_options eo = {
      .dir = opts->dir,
      .map_size = opts->map_size ? opts->map_size : ST_DEFAULT_MAP_SIZE,
      .max_map_size = opts->max_map_size ? opts->max_map_size : ST_DEFAULT_MAX_MAP_SIZE,
      .max_readers = opts->max_readers ? opts->max_readers : ST_DEFAULT_MAX_READERS,
      .nosync = opts->unsafe_nosync || opts->log_ahead,
      .what = "store",
      .names = sti_store_db_names,
      .n_names = SDB_COUNT,
      .dbis = s->db,
  };
  if (!opts->max_map_size && eo.map_size > eo.max_map_size)
    eo.max_map_size = eo.map_size;
  mc_code rc = sti_env_open(&s->env, &eo, err);
  if (rc != MC_OK) {
    free(s);
    return rc;
  }
  s->sign = opts->sign;
  s->sign_arg = opts->sign_arg;
  if (opts->search_key != NULL) {
    s->has_search_key = true;
    memcpy(s->search_key, opts->search_key, ST_SEARCH_KEY_BYTES);
  }
  MDB_stat est;
  int lrc = mdb_env_stat(s->env.env, &est);
  /* PAGEHDRSZ 16, MDB_MINKEYS 2, minus one indx_t: mdb_env_open's formula. */
  s->node_max = lrc == 0 ? (((est.ms_psize - 16) / 2) & ~(size_t)1) - 2 : SIZE_MAX;
  bool upgrade = opts->upgrade;
  rc = st_write(s, schema1_op, &upgrade, err);
  if (rc == MC_OK)
    rc = sti_schema_check(&s->env, STI_STORE, s, s->db[SDB_META], s->db[SDB_CASES], STI_SCHEMA,
                          err);
  if (rc == MC_OK)
    rc = st_write(s, sti_search_build, s, err);
  if (rc != MC_OK) {
    sti_env_close(&s->env);
    free(s);
    return rc;
  }
  *out = s;
  return MC_OK;
}

void st_close(st_store *store) {
  if (store == NULL)
    return;
  sti_env_close(&store->env);
  free(store);
}

mc_code st_reader_check(st_store *store, int *cleared, mc_err *err) {
  return sti_env_reader_check(&store->env, cleared, err);
}

mc_code st_backup(st_store *store, const char *path, mc_err *err) {
  return sti_env_backup(&store->env, path, err);
}

mc_code st_sync(st_store *store, mc_err *err) {
  int rc = mdb_env_sync(store->env.env, 1);
  return rc == 0 ? MC_OK : sti_lmdb_err(err, rc, "store", "mdb_env_sync");
}

mc_code st_raft_applied_get(st_txn *txn, uint64_t *out, mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return err->code;
  return sti_counter_get(txn, s->db[SDB_META], "raft_applied", out, err);
}

mc_code st_raft_applied_set(st_txn *txn, uint64_t index, mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc != MC_OK)
    return rc;
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return err->code;
  return sti_counter_set(txn, s->db[SDB_META], "raft_applied", index, err);
}

mc_code st_read_begin(st_store *store, st_txn **out, mc_err *err) {
  return sti_read_begin(&store->env, STI_STORE, store, out, err);
}

mc_code st_write_batch(st_store *store, st_op *ops, size_t n, mc_err *err) {
  return sti_write(&store->env, STI_STORE, store, ops, n, err);
}

mc_code st_write(st_store *store, st_apply_fn fn, void *arg, mc_err *err) {
  st_op op = {.apply = fn, .arg = arg};
  mc_code rc = sti_write(&store->env, STI_STORE, store, &op, 1, err);
  if (rc != MC_OK)
    return rc;
  if (op.code != MC_OK && err != NULL)
    *err = op.err;
  return op.code;
}

mc_code st_info_get(st_store *store, st_info *out, mc_err *err) {
  MDB_envinfo info;
  MDB_stat est;
  int rc = mdb_env_info(store->env.env, &info);
  if (rc == 0)
    rc = mdb_env_stat(store->env.env, &est);
  if (rc != 0)
    return sti_lmdb_err(err, rc, "store", "mdb_env_info");
  st_txn *t;
  mc_code code = st_read_begin(store, &t, err);
  if (code != MC_OK)
    return code;
  MDB_stat cs, es, ds, is;
  rc = mdb_stat(t->txn, store->db[SDB_CASES], &cs);
  if (rc == 0)
    rc = mdb_stat(t->txn, store->db[SDB_CASE_FILES], &es);
  if (rc == 0)
    rc = mdb_stat(t->txn, store->db[SDB_DELIVERIES], &ds);
  unsigned index_depth = 0;
  for (int db = SDB_ALIASES; db <= SDB_IX_DEADLINE && rc == 0; db++) {
    rc = mdb_stat(t->txn, store->db[db], &is);
    if (rc == 0 && is.ms_depth > index_depth)
      index_depth = is.ms_depth;
  }
  st_read_end(t);
  if (rc != 0)
    return sti_lmdb_err(err, rc, "store", "mdb_stat");
  *out = (st_info){
      .map_size = info.me_mapsize,
      .used_bytes = (info.me_last_pgno + 1) * (size_t)est.ms_psize,
      .cases = cs.ms_entries,
      .events = es.ms_entries,
      .deliveries_pending = ds.ms_entries,
      .readers_max = info.me_maxreaders,
      .readers_used = info.me_numreaders,
      .cases_depth = cs.ms_depth,
      .index_depth = index_depth,
  };
  return MC_OK;
}

mc_code st_space_get(st_store *store, st_space *out, mc_err *err) {
  MDB_envinfo info;
  int rc = mdb_env_info(store->env.env, &info);
  if (rc != 0)
    return sti_lmdb_err(err, rc, "store", "mdb_env_info");
  st_txn *t;
  mc_code code = st_read_begin(store, &t, err);
  if (code != MC_OK)
    return code;
  st_space sp = {.last_page = info.me_last_pgno + 1};
  MDB_stat st;
  for (int db = 0; db < SDB_COUNT && rc == 0 && db < ST_SPACE_DBS; db++) {
    rc = mdb_stat(t->txn, store->db[db], &st);
    sp.dbs[db] = (st_db_space){.name = sti_store_db_names[db],
                               .entries = st.ms_entries,
                               .branch_pages = st.ms_branch_pages,
                               .leaf_pages = st.ms_leaf_pages,
                               .overflow_pages = st.ms_overflow_pages};
    sp.n_dbs = (size_t)db + 1;
  }
  /* The free list is database 0 (FREE_DBI): each value is a list of page
   * numbers whose first word is their count. The main database is 1. */
  if (rc == 0)
    rc = mdb_stat(t->txn, 0, &st);
  if (rc == 0) {
    sp.page_size = st.ms_psize;
    sp.free_list_pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    rc = mdb_stat(t->txn, 1, &st);
  }
  if (rc == 0) {
    sp.meta_pages = 2 + st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    MDB_cursor *c;
    rc = mdb_cursor_open(t->txn, 0, &c);
    if (rc == 0) {
      MDB_val k, v;
      while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0)
        if (v.mv_size >= sizeof(size_t))
          sp.free_pages += *(const size_t *)v.mv_data;
      mdb_cursor_close(c);
      if (rc == MDB_NOTFOUND)
        rc = 0;
    }
  }
  st_read_end(t);
  if (rc != 0)
    return sti_lmdb_err(err, rc, "store", "measuring space");
  *out = sp;
  return MC_OK;
}

/* ---- Cases ---------------------------------------------------------------------- */

mc_code sti_case_decode(const MDB_val *v, const char *key_id, mv_case **out, mc_err *err) {
  ProtobufCMessage *m;
  mc_code rc = sti_unpack(v, &mediation__v1__case__descriptor, &m, "case", key_id, err);
  if (rc != MC_OK)
    return rc;
  mv_case *c = (mv_case *)m;
  if (strcmp(c->id, key_id) != 0) {
    protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS, "case %s: the stored record names another case",
                      key_id);
  }
  *out = c;
  return MC_OK;
}

static mc_code check_case_id(const char *id, mc_err *err) {
  if (id == NULL || !mc_case_id_parse(id, NULL, NULL))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "case id: expected <prefix>-<year>-<serial>, e.g. BH-2026-000123");
  return MC_OK;
}

mc_code st_case_get(st_txn *txn, const char *case_id, mv_case **out, mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_case_id(case_id, err);
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_get(txn, s->db[SDB_CASES], case_id, strlen(case_id), &v, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "case %s not found", case_id);
  if (rc != MC_OK)
    return rc;
  return sti_case_decode(&v, case_id, out, err);
}

mc_code st_case_resolve(st_txn *txn, const char *ref, char id_out[MC_CASE_ID_MAX], mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  if (ref == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case ref: empty");
  if (mc_case_id_parse(ref, NULL, NULL)) {
    MDB_val v;
    mc_code rc = sti_get(txn, s->db[SDB_CASES], ref, strlen(ref), &v, err);
    if (rc == MC_NOT_FOUND)
      return mc_err_set(err, MC_NOT_FOUND, "case %s not found", ref);
    if (rc != MC_OK)
      return rc;
    snprintf(id_out, MC_CASE_ID_MAX, "%s", ref);
    return MC_OK;
  }
  char unit[ST_NAME_MAX + 1];
  const char *uref;
  if (!mc_case_alias_parse(ref, unit, sizeof(unit), &uref) || strlen(uref) > ST_NAME_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "case ref: expected a case id (BH-2026-000123) or <unit>:<unit_ref>");
  char id[MC_CASE_ID_MAX];
  mc_code rc = sti_alias_find(txn, s->db[SDB_ALIASES], unit, uref, id, sizeof(id), err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no case has unit_ref %s of unit %s", uref, unit);
  if (rc != MC_OK)
    return rc;
  if (!mc_case_id_parse(id, NULL, NULL))
    return mc_err_set(err, MC_DATA_LOSS, "alias %s:%s points to a malformed case id", unit,
                      uref);
  memcpy(id_out, id, MC_CASE_ID_MAX);
  return MC_OK;
}

mc_code st_case_get_by_ref(st_txn *txn, const char *ref, mv_case **out, mc_err *err) {
  char id[MC_CASE_ID_MAX];
  mc_code rc = st_case_resolve(txn, ref, id, err);
  if (rc != MC_OK)
    return rc;
  return st_case_get(txn, id, out, err);
}

/* ---- The case file ----------------------------------------------------------- */

/* The case file is stored twice over, for space: the events themselves in
 * `case_log`, keyed by the store's step counter, so that every append goes
 * at the end of the tree and fills its pages (LMDB's MDB_APPEND); and in
 * `case_files` the step of each (case, seq), a small entry. Keyed by case
 * and seq themselves, the events of the open cases would be appended at
 * scattered places, splitting leaf pages that then stay half full: 7.1 KB of
 * pages for 4.0 KB of events per case (bench_store --space-only). */

void sti_event_key(sti_key *k, const char *case_id, uint32_t seq) {
  sti_key_init(k);
  sti_key_strz(k, case_id);
  sti_key_u32(k, seq);
}

mc_code sti_event_bytes(st_txn *t, const char *case_id, uint32_t seq, MDB_val *out,
                        uint64_t *step, mc_err *err) {
  st_store *s = t->owner;
  sti_key k;
  sti_event_key(&k, case_id, seq);
  MDB_val v;
  mc_code rc = sti_get(t, s->db[SDB_CASE_FILES], k.b, k.n, &v, err);
  if (rc != MC_OK)
    return rc;
  if (v.mv_size != 8)
    return mc_err_set(err, MC_DATA_LOSS, "case %s seq %u: malformed case-file entry", case_id,
                      seq);
  uint64_t at = sti_get_u64(v.mv_data);
  uint8_t sk[8];
  sti_put_u64(sk, at);
  rc = sti_get(t, s->db[SDB_CASE_LOG], sk, 8, out, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_DATA_LOSS, "case %s seq %u: step %llu is missing from the case log",
                      case_id, seq, (unsigned long long)at);
  if (rc == MC_OK && step != NULL)
    *step = at;
  return rc;
}

mc_code sti_event_append(st_txn *t, const char *case_id, uint32_t seq, const uint8_t *bytes,
                         size_t len, mc_err *err) {
  st_store *s = t->owner;
  uint64_t step;
  mc_code rc = sti_counter_add(t, s->db[SDB_META], "step", 1, &step, err);
  if (rc != MC_OK)
    return rc;
  uint8_t sk[8];
  sti_put_u64(sk, step);
  rc = sti_put(t, s->db[SDB_CASE_LOG], sk, 8, bytes, len, MDB_APPEND, err);
  if (rc == MC_ALREADY_EXISTS)
    return mc_err_set(err, MC_DATA_LOSS,
                      "store: the case log already holds step %llu or a later one (the step "
                      "counter went back: run verify)",
                      (unsigned long long)step);
  if (rc != MC_OK)
    return rc;
  sti_key k;
  sti_event_key(&k, case_id, seq);
  return sti_put(t, s->db[SDB_CASE_FILES], k.b, k.n, sk, 8, MDB_NOOVERWRITE, err);
}

/* Decodes an event found under (case_id, seq) and checks it says so. */
static mc_code decode_event(const MDB_val *v, const char *case_id, uint32_t seq,
                            mv_event **out, mc_err *err) {
  bool oom = false;
  ProtobufCMessage *m =
      mc_pb_unpack(&mediation__v1__case_event__descriptor, v->mv_size, v->mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "case %s: out of memory", case_id);
  if (m == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "case %s seq %u: the stored event does not decode",
                      case_id, seq);
  mv_event *ev = (mv_event *)m;
  if (strcmp(ev->case_id, case_id) != 0 || ev->seq != seq) {
    protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS,
                      "case %s seq %u: the stored event names another case or seq", case_id,
                      seq);
  }
  *out = ev;
  return MC_OK;
}

mc_code st_event_get(st_txn *txn, const char *case_id, uint32_t seq, mv_event **out,
                     mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_case_id(case_id, err);
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_event_bytes(txn, case_id, seq, &v, NULL, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "case %s has no event seq %u", case_id, seq);
  if (rc != MC_OK)
    return rc;
  return decode_event(&v, case_id, seq, out, err);
}

mc_code st_events_get(st_txn *txn, const char *case_id, mv_event ***events_out, size_t *n_out,
                      mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_case_id(case_id, err);
  if (rc != MC_OK)
    return rc;
  sti_key prefix;
  sti_key_init(&prefix);
  sti_key_strz(&prefix, case_id);
  MDB_cursor *c;
  rc = sti_cursor(txn, s->db[SDB_CASE_FILES], &c, err);
  if (rc != MC_OK)
    return rc;
  mv_event **arr = NULL;
  size_t n = 0, cap = 0;
  MDB_val key = {.mv_size = prefix.n, .mv_data = prefix.b}, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  while (lrc == 0 && sti_has_prefix(&key, prefix.b, prefix.n)) {
    if (key.mv_size != prefix.n + 4) {
      rc = mc_err_set(err, MC_DATA_LOSS, "case %s: malformed case-file key", case_id);
      break;
    }
    uint32_t seq = sti_get_u32((const uint8_t *)key.mv_data + prefix.n);
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      mv_event **na = realloc(arr, ncap * sizeof(*na));
      if (na == NULL) {
        rc = mc_err_set(err, MC_UNAVAILABLE, "case %s: out of memory", case_id);
        break;
      }
      arr = na;
      cap = ncap;
    }
    MDB_val ev;
    if ((rc = sti_event_bytes(txn, case_id, seq, &ev, NULL, err)) == MC_NOT_FOUND)
      rc = mc_err_set(err, MC_DATA_LOSS, "case %s seq %u: gone from the case file", case_id,
                      seq);
    if (rc != MC_OK)
      break;
    rc = decode_event(&ev, case_id, seq, &arr[n], err);
    if (rc != MC_OK)
      break;
    n++;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "reading a case file");
  if (rc == MC_OK && n == 0)
    rc = mc_err_set(err, MC_NOT_FOUND, "case %s has no case file", case_id);
  if (rc != MC_OK) {
    st_messages_free(arr, n);
    return rc;
  }
  *events_out = arr;
  *n_out = n;
  return MC_OK;
}

/* ---- Counts --------------------------------------------------------------------- */

void sti_state_counter_name(char *buf, size_t cap, int state) {
  snprintf(buf, cap, "state/%d", state);
}

mc_code st_count_states(st_txn *txn, uint64_t counts[8], mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  uint64_t tmp[8];
  for (int i = 0; i < 8; i++) {
    char name[32];
    sti_state_counter_name(name, sizeof(name), i);
    mc_code rc = sti_counter_get(txn, s->db[SDB_META], name, &tmp[i], err);
    if (rc != MC_OK)
      return rc;
  }
  memcpy(counts, tmp, sizeof(tmp));
  return MC_OK;
}

mc_code st_count_overdue(st_txn *txn, int64_t now_ms, uint64_t *out, mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, s->db[SDB_IX_DEADLINE], &c, err);
  if (rc != MC_OK)
    return rc;
  uint64_t n = 0;
  MDB_val key, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
  while (lrc == 0) {
    if (key.mv_size < 8) {
      mdb_cursor_close(c);
      return mc_err_set(err, MC_DATA_LOSS, "store: malformed deadline index key");
    }
    if (sti_get_time(key.mv_data) >= now_ms)
      break;
    n++;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (lrc != 0 && lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "store", "reading the deadline index");
  *out = n;
  return MC_OK;
}
