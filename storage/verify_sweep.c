/*
 * verify_sweep.c - st_verify's second half: the databases other than the
 * case records, checked against what the walk over the records (verify.c)
 * found. An index with more entries than the records imply, or one whose
 * expected entries went missing, is scanned entry by entry for the strays;
 * the case log and case_files must hold exactly the events the walk met;
 * the stored figures are compared bucket by bucket with the recomputed
 * ones; counters, deliveries, kept answers, the access log and the heads
 * are checked for shape and for what they point to.
 */
#include "storage/verify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/figures.h"
#include "core/machine.h"
#include "core/text.h"

/* ---- Indexes, the other way round ----------------------------------------------------- */

/* Every entry of one index must be implied by the record it names. */
static mc_code scan_index(vctx *v, int db, mc_err *err) {
  MDB_cursor *c;
  mc_code rc = sti_cursor(v->t, v->s->db[db], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    char id[MC_CASE_ID_MAX];
    if (!sti_ix_parse(db, key.mv_data, key.mv_size, id, NULL, NULL)) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "%s: an entry is malformed",
                         sti_store_db_names[db]);
      continue;
    }
    MDB_val cv;
    rc = sti_get(v->t, v->s->db[SDB_CASES], id, strlen(id), &cv, err);
    if (rc == MC_NOT_FOUND) {
      sti_verify_problem(v, id, 0, MC_INTERNAL, "%s: an entry points to a case that is not stored",
                         sti_store_db_names[db]);
      continue;
    }
    if (rc != MC_OK)
      break;
    mv_case *rec;
    if (sti_case_decode(&cv, id, &rec, NULL) != MC_OK)
      continue; /* reported by the case walk */
    sti_ixent *keys;
    size_t nk;
    bool implied = false;
    if (sti_case_keys(v->s, rec, &keys, &nk, NULL) == MC_OK) {
      for (size_t i = 0; i < nk && !implied; i++)
        implied = keys[i].db == db && keys[i].key.n == key.mv_size &&
                  memcmp(keys[i].key.b, key.mv_data, key.mv_size) == 0;
      free(keys);
    }
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    if (!implied)
      sti_verify_problem(v, id, 0, MC_INTERNAL, "%s: an entry disagrees with the case record",
                         sti_store_db_names[db]);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "verify", "scanning an index");
  return rc;
}

static mc_code check_indexes(vctx *v, mc_err *err) {
  static const int dbs[] = {SDB_ALIASES,     SDB_IX_STATE,   SDB_IX_HOLDER,
                            SDB_IX_COMMUNITY, SDB_IX_KIND,    SDB_IX_OFFERED,
                            SDB_IX_INVOLVED,  SDB_IX_DEADLINE, SDB_IX_SEARCH};
  for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
    int db = dbs[i];
    MDB_stat st;
    int lrc = mdb_stat(v->t->txn, v->s->db[db], &st);
    if (lrc != 0)
      return sti_lmdb_err(err, lrc, "verify", "mdb_stat");
    /* Every implied entry was found: if the counts agree there is no
     * stray either, and the entry-by-entry scan is not needed. */
    if (st.ms_entries == v->expected[db] && !v->missing[db])
      continue;
    mc_code rc = scan_index(v, db, err);
    if (rc != MC_OK)
      return rc;
  }
  return MC_OK;
}

/* Case-file events under an id that has no record. */
static mc_code check_orphan_events(vctx *v, mc_err *err) {
  MDB_stat st;
  int lrc = mdb_stat(v->t->txn, v->s->db[SDB_CASE_FILES], &st);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, "verify", "mdb_stat");
  if (st.ms_entries == v->events_seen)
    return MC_OK;
  MDB_cursor *c;
  mc_code rc = sti_cursor(v->t, v->s->db[SDB_CASE_FILES], &c, err);
  if (rc != MC_OK)
    return rc;
  char last[MC_CASE_ID_MAX] = "";
  MDB_val key, val;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    const uint8_t *z = memchr(key.mv_data, 0, key.mv_size);
    size_t len = z ? (size_t)(z - (const uint8_t *)key.mv_data) : key.mv_size;
    if (z == NULL || len >= MC_CASE_ID_MAX) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "case_files: a key is malformed");
      continue;
    }
    char id[MC_CASE_ID_MAX];
    memcpy(id, key.mv_data, len);
    id[len] = '\0';
    if (strcmp(id, last) == 0)
      continue;
    memcpy(last, id, sizeof(last));
    MDB_val cv;
    rc = sti_get(v->t, v->s->db[SDB_CASES], id, len, &cv, err);
    if (rc == MC_NOT_FOUND) {
      sti_verify_problem(v, mc_case_id_parse(id, NULL, NULL) ? id : NULL, 0, MC_DATA_LOSS,
                         "a case file exists without a case record");
      rc = MC_OK;
    } else if (rc != MC_OK) {
      break;
    }
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "verify", "scanning events");
  return rc;
}

/* Events in the case log that no case file points to (and schema 1's case
 * files, which an upgrade moves out). */
static mc_code check_case_log(vctx *v, mc_err *err) {
  MDB_stat st;
  int lrc = mdb_stat(v->t->txn, v->s->db[SDB_EVENTS_V1], &st);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, "verify", "mdb_stat");
  if (st.ms_entries != 0)
    sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "events: %llu entries of schema 1 are left",
                       (unsigned long long)st.ms_entries);
  MDB_stat files;
  if ((lrc = mdb_stat(v->t->txn, v->s->db[SDB_CASE_LOG], &st)) != 0 ||
      (lrc = mdb_stat(v->t->txn, v->s->db[SDB_CASE_FILES], &files)) != 0)
    return sti_lmdb_err(err, lrc, "verify", "mdb_stat");
  if (st.ms_entries == files.ms_entries)
    return MC_OK;
  MDB_cursor *c;
  mc_code rc = sti_cursor(v->t, v->s->db[SDB_CASE_LOG], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0 && rc == MC_OK;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    mv_event *ev = key.mv_size == 8 ? mediation__v1__case_event__unpack(NULL, val.mv_size,
                                                                          val.mv_data)
                                     : NULL;
    if (ev == NULL || strlen(ev->case_id) >= MC_CASE_ID_MAX) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "case_log: an entry is malformed");
    } else {
      uint64_t step = 0;
      MDB_val got;
      mc_code g = sti_event_bytes(v->t, ev->case_id, ev->seq, &got, &step, NULL);
      if (g == MC_OK && step == sti_get_u64(key.mv_data)) {
        /* filed where it should be */
      } else if (g == MC_OK || g == MC_NOT_FOUND || g == MC_DATA_LOSS) {
        sti_verify_problem(v, mc_case_id_parse(ev->case_id, NULL, NULL) ? ev->case_id : NULL,
                           ev->seq, MC_DATA_LOSS, "case_log: step %llu is in no case file",
                           (unsigned long long)sti_get_u64(key.mv_data));
      } else {
        rc = g;
      }
    }
    if (ev != NULL)
      protobuf_c_message_free_unpacked(&ev->base, NULL);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "verify", "scanning the case log");
  return rc;
}

/* ---- Figures, counters, other records ---------------------------------------------- */

static mc_code check_figures(vctx *v, mc_err *err) {
  MDB_cursor *c;
  mc_code rc = sti_cursor(v->t, v->s->db[SDB_FIGURES], &c, err);
  if (rc != MC_OK)
    return rc;
  const char *caveat =
      v->unreplayed ? " (case files that did not replay are not counted in the recomputation)"
                    : "";
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    mv_bucket b;
    char unit[ST_NAME_MAX + 1], community[ST_NAME_MAX + 1];
    if (!sti_figure_key_parse(key.mv_data, key.mv_size, &b, unit, sizeof(unit), community,
                              sizeof(community))) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "figures: a bucket key is malformed");
      continue;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(&mediation__v1__figure_counters__descriptor,
                                                    NULL, val.mv_size, val.mv_data);
    if (m == NULL) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "figures %d-%02d %s/%s/kind %d: does not decode",
                         b.year, b.month, unit, community, (int)b.kind);
      continue;
    }
    sti_key k;
    sti_key_init(&k);
    sti_key_raw(&k, key.mv_data, key.mv_size);
    bool found;
    size_t i = sti_verify_fig_find(v, &k, &found);
    mv_counters zero;
    mediation__v1__figure_counters__init(&zero);
    const mv_counters *want = found ? &v->figs[i].c : &zero;
    if (found)
      v->figs[i].seen = true;
    if (!sti_verify_same_packed(&want->base, &val) || !sti_verify_same_packed(m, &val))
      sti_verify_problem(
          v, NULL, 0, MC_INTERNAL,
          "figures %d-%02d %s/%s/kind %d: stored counters differ from the case files%s", b.year,
          b.month, unit, community, (int)b.kind, caveat);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  mdb_cursor_close(c);
  if (lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "verify", "scanning figures");
  for (size_t i = 0; i < v->nfig; i++) {
    if (v->figs[i].seen || mc_counters_zero(&v->figs[i].c))
      continue;
    mv_bucket b;
    char unit[ST_NAME_MAX + 1], community[ST_NAME_MAX + 1];
    if (sti_figure_key_parse(v->figs[i].key.b, v->figs[i].key.n, &b, unit, sizeof(unit),
                             community, sizeof(community)))
      sti_verify_problem(
          v, NULL, 0, MC_INTERNAL,
          "figures %d-%02d %s/%s/kind %d: counted by the case files but not stored%s", b.year,
          b.month, unit, community, (int)b.kind, caveat);
  }
  return MC_OK;
}

static mc_code check_meta(vctx *v, mc_err *err) {
  for (int s = 0; s < MC_STATE_COUNT; s++) {
    char name[32];
    uint64_t n;
    sti_state_counter_name(name, sizeof(name), s);
    mc_err e;
    if (sti_counter_get(v->t, v->s->db[SDB_META], name, &n, &e) != MC_OK) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "%s", e.msg);
      continue;
    }
    if (n != v->states[s])
      sti_verify_problem(v, NULL, 0, MC_INTERNAL,
                         "meta: %llu cases counted in state %d, %llu stored", (unsigned long long)n,
                         s, (unsigned long long)v->states[s]);
  }
  for (int y = 0; y < 9000; y++) {
    if (v->max_serial[y] == 0)
      continue;
    char name[32];
    uint64_t n;
    snprintf(name, sizeof(name), "serial/%d", y + 1000);
    mc_err e;
    if (sti_counter_get(v->t, v->s->db[SDB_META], name, &n, &e) != MC_OK)
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "%s", e.msg);
    else if (n < v->max_serial[y])
      sti_verify_problem(v, NULL, 0, MC_INTERNAL,
                         "meta: the %d serial counter (%llu) is behind a stored case (%llu)",
                         y + 1000, (unsigned long long)n, (unsigned long long)v->max_serial[y]);
  }
  (void)err;
  return MC_OK;
}

static mc_code check_deliveries(vctx *v, mc_err *err) {
  uint64_t last = 0;
  mc_err e;
  if (sti_counter_get(v->t, v->s->db[SDB_META], "delivery_seq", &last, &e) != MC_OK)
    sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "%s", e.msg);
  MDB_cursor *c;
  mc_code rc = sti_cursor(v->t, v->s->db[SDB_DELIVERIES], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    const uint8_t *z = memchr(key.mv_data, 0, key.mv_size);
    size_t ul = z ? (size_t)(z - (const uint8_t *)key.mv_data) : 0;
    if (z == NULL || key.mv_size != ul + 1 + 8 || ul == 0 || ul > ST_NAME_MAX) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "deliveries: a key is malformed");
      continue;
    }
    char unit[ST_NAME_MAX + 1];
    memcpy(unit, key.mv_data, ul);
    unit[ul] = '\0';
    uint64_t seq = sti_get_u64(z + 1);
    ProtobufCMessage *m = protobuf_c_message_unpack(&mediation__v1__delivery__descriptor, NULL,
                                                    val.mv_size, val.mv_data);
    if (m == NULL) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "delivery %llu to %s: does not decode",
                         (unsigned long long)seq, unit);
      continue;
    }
    const mv_delivery *d = (const mv_delivery *)m;
    if (d->seq != seq || strcmp(d->unit, unit) != 0)
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS,
                         "delivery %llu to %s: the record names another seq or unit",
                         (unsigned long long)seq, unit);
    if (seq > last)
      sti_verify_problem(v, NULL, 0, MC_INTERNAL,
                         "delivery %llu to %s: beyond the last seq assigned (%llu)",
                         (unsigned long long)seq, unit, (unsigned long long)last);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  mdb_cursor_close(c);
  if (lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "verify", "scanning deliveries");
  return MC_OK;
}

/* A kept answer of format 2 (an applied step, kept as where it lies in the
 * case file) is rebuilt from the case file on a retry: the event it names
 * must be there, or the retry could only answer DATA_LOSS. */
static void check_kept_answer(vctx *v, const st_idem_reply *r) {
  if (strlen(r->case_id) >= MC_CASE_ID_MAX || r->event_seq == 0) {
    sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "idempotency: a kept answer names no valid event");
    return;
  }
  if (r->payload.len != 0 || r->code != MEDIATION__V1__STATUS_CODE__STATUS_CODE_OK) {
    sti_verify_problem(v, r->case_id, r->event_seq, MC_DATA_LOSS,
                       "idempotency: a kept answer names an event but is not an applied step's");
    return;
  }
  MDB_val ev;
  mc_err why;
  if (sti_event_bytes(v->t, r->case_id, r->event_seq, &ev, NULL, &why) != MC_OK)
    sti_verify_problem(
        v, r->case_id, r->event_seq, MC_INTERNAL,
        "idempotency: a kept answer names event %u of case %s, which is not in its file",
        r->event_seq, r->case_id);
}

static mc_code check_idem_and_access(vctx *v, mc_err *err) {
  MDB_cursor *c;
  mc_code rc = sti_cursor(v->t, v->s->db[SDB_IDEM], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc;
  uint64_t n_idem = 0;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    n_idem++;
    ProtobufCMessage *m = protobuf_c_message_unpack(
        &mediation__v1__idempotent_reply__descriptor, NULL, val.mv_size, val.mv_data);
    if (m == NULL) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "idempotency: a stored reply does not decode");
      continue;
    }
    const st_idem_reply *r = (const st_idem_reply *)m;
    if (r->request_id.len != key.mv_size ||
        memcmp(r->request_id.data, key.mv_data, key.mv_size) != 0) {
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS,
                         "idempotency: a reply is stored under another request id");
    } else {
      sti_key ek;
      sti_key_init(&ek);
      sti_key_time(&ek, r->stored_ms);
      sti_key_raw(&ek, key.mv_data, key.mv_size);
      MDB_val got;
      if (sti_get(v->t, v->s->db[SDB_IDEM_EXP], ek.b, ek.n, &got, NULL) != MC_OK)
        sti_verify_problem(v, NULL, 0, MC_INTERNAL, "idempotency: a reply has no expiry entry");
      if (r->case_id[0] != '\0')
        check_kept_answer(v, r);
    }
    protobuf_c_message_free_unpacked(m, NULL);
  }
  mdb_cursor_close(c);
  if (lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "verify", "scanning idempotency");
  MDB_stat st;
  lrc = mdb_stat(v->t->txn, v->s->db[SDB_IDEM_EXP], &st);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, "verify", "mdb_stat");
  if (st.ms_entries != n_idem)
    sti_verify_problem(v, NULL, 0, MC_INTERNAL, "idempotency: %llu expiry entries for %llu replies",
                       (unsigned long long)st.ms_entries, (unsigned long long)n_idem);

  if ((rc = sti_cursor(v->t, v->s->db[SDB_ACCESS], &c, err)) != MC_OK)
    return rc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    ProtobufCMessage *m = protobuf_c_message_unpack(&mediation__v1__access_record__descriptor,
                                                    NULL, val.mv_size, val.mv_data);
    if (key.mv_size != 16 || m == NULL ||
        ((const st_access_record *)m)->at_ms != sti_get_time(key.mv_data))
      sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "access log: a record is malformed");
    if (m != NULL)
      protobuf_c_message_free_unpacked(m, NULL);
  }
  mdb_cursor_close(c);
  if (lrc != MDB_NOTFOUND)
    return sti_lmdb_err(err, lrc, "verify", "scanning the access log");
  return MC_OK;
}

/* Heads of cases that have no record. */
static mc_code check_heads_count(vctx *v, mc_err *err) {
  MDB_stat st;
  int lrc = mdb_stat(v->t->txn, v->s->db[SDB_HEADS], &st);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, "verify", "mdb_stat");
  if (st.ms_entries > v->records)
    sti_verify_problem(v, NULL, 0, MC_INTERNAL, "heads: %llu signed heads for %llu case records",
                       (unsigned long long)st.ms_entries, (unsigned long long)v->records);
  return MC_OK;
}

mc_code sti_verify_sweep(vctx *v, mc_err *err) {
  mc_code rc = check_indexes(v, err);
  if (rc == MC_OK)
    rc = check_orphan_events(v, err);
  if (rc == MC_OK)
    rc = check_case_log(v, err);
  if (rc == MC_OK)
    rc = check_figures(v, err);
  if (rc == MC_OK)
    rc = check_meta(v, err);
  if (rc == MC_OK)
    rc = check_deliveries(v, err);
  if (rc == MC_OK)
    rc = check_idem_and_access(v, err);
  if (rc == MC_OK)
    rc = check_heads_count(v, err);
  return rc;
}
