/*
 * outbox.c - a unit's local store: outbox, local case copies, conflicts.
 *
 * The idea: everything a unit must not lose while the router is out of
 * reach, in its own small LMDB environment, with the router store's
 * machinery (env.c: durable batches, map growth, the gate; kv.c: keys and
 * typed values) rather than a second copy of it. The outbox is a queue keyed
 * by a big-endian seq, so "first pending" is MDB_FIRST and order is key
 * order; local copies are keyed by case id, or by their unit reference until
 * the router's id is known, with a reference index that survives the move.
 */
#include "storage/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/pb.h"
#include "storage/kv.h"

#define OB_SCHEMA 1

enum { ODB_META, ODB_OUTBOX, ODB_LOCAL, ODB_REFS, ODB_CONFLICTS, ODB_DESK, ODB_COUNT };

static const char *const ob_db_names[ODB_COUNT] = {
    [ODB_META] = "meta",
    [ODB_OUTBOX] = "outbox",
    [ODB_LOCAL] = "local",
    [ODB_REFS] = "local_refs",
    [ODB_CONFLICTS] = "conflicts",
    [ODB_DESK] = "desk",
};

/* A local key: a case id, or "<unit>:<unit_ref>". */
#define LOCAL_KEY_MAX (2 * ST_NAME_MAX + 2)

struct st_outbox {
  sti_env env;
  MDB_dbi db[ODB_COUNT];
  char unit[ST_NAME_MAX + 1];
};

static st_outbox *ob_of(st_txn *t, mc_err *err) {
  if (sti_check_kind(t, STI_OUTBOX, err) != MC_OK)
    return NULL;
  return t->owner;
}

/* ---- Handle ---------------------------------------------------------------------- */

mc_code st_outbox_open(const st_outbox_options *opts, st_outbox **out, mc_err *err) {
  if (opts == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "outbox: no options");
  if (opts->unit == NULL || opts->unit[0] == '\0' || strlen(opts->unit) > ST_NAME_MAX ||
      strchr(opts->unit, ':') != NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "outbox: unit must be a registry id of 1 to %d bytes without ':'",
                      ST_NAME_MAX);
  st_outbox *ob = calloc(1, sizeof(*ob));
  if (ob == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
  snprintf(ob->unit, sizeof(ob->unit), "%s", opts->unit);
  sti_env_options eo = {
      .dir = opts->dir,
      .map_size = opts->map_size ? opts->map_size : (size_t)8 << 20,
      .max_map_size = opts->max_map_size ? opts->max_map_size : (size_t)4 << 30,
      .max_readers = opts->max_readers ? opts->max_readers : ST_DEFAULT_MAX_READERS,
      .nosync = false, /* handoffs are never MDB_NOSYNC */
      .what = "outbox",
      .names = ob_db_names,
      .n_names = ODB_COUNT,
      .dbis = ob->db,
  };
  if (!opts->max_map_size && eo.map_size > eo.max_map_size)
    eo.max_map_size = eo.map_size;
  mc_code rc = sti_env_open(&ob->env, &eo, err);
  if (rc == MC_OK) {
    rc = sti_schema_check(&ob->env, STI_OUTBOX, ob, ob->db[ODB_META], ob->db[ODB_OUTBOX],
                          OB_SCHEMA, err);
    if (rc != MC_OK)
      sti_env_close(&ob->env);
  }
  if (rc != MC_OK) {
    free(ob);
    return rc;
  }
  *out = ob;
  return MC_OK;
}

void st_outbox_close(st_outbox *ob) {
  if (ob == NULL)
    return;
  sti_env_close(&ob->env);
  free(ob);
}

mc_code st_outbox_read_begin(st_outbox *ob, st_txn **out, mc_err *err) {
  return sti_read_begin(&ob->env, STI_OUTBOX, ob, out, err);
}

mc_code st_outbox_batch(st_outbox *ob, st_op *ops, size_t n, mc_err *err) {
  return sti_write(&ob->env, STI_OUTBOX, ob, ops, n, err);
}

mc_code st_outbox_write(st_outbox *ob, st_apply_fn fn, void *arg, mc_err *err) {
  st_op op = {.apply = fn, .arg = arg};
  mc_code rc = sti_write(&ob->env, STI_OUTBOX, ob, &op, 1, err);
  if (rc != MC_OK)
    return rc;
  if (op.code != MC_OK && err != NULL)
    *err = op.err;
  return op.code;
}

/* ---- Queue ----------------------------------------------------------------------- */

static void seq_key(sti_key *k, uint64_t seq) {
  sti_key_init(k);
  sti_key_u64(k, seq);
}

static mc_code decode_entry(const MDB_val *v, uint64_t seq, st_outbox_entry **out, mc_err *err) {
  bool oom = false;
  ProtobufCMessage *m =
      mc_pb_unpack(&mediation__v1__outbox_entry__descriptor, v->mv_size, v->mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
  if (m == NULL || ((st_outbox_entry *)m)->seq != seq) {
    if (m != NULL)
      protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS, "outbox entry %llu: the stored record is damaged",
                      (unsigned long long)seq);
  }
  *out = (st_outbox_entry *)m;
  return MC_OK;
}

mc_code st_ob_push(st_txn *txn, const st_outbox_entry *entry, uint64_t *seq_out, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  if (entry == NULL || entry->action == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "outbox entry: an action is required");
  if (entry->request_id.len == 0 || entry->request_id.len > ST_REQUEST_ID_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "outbox entry: request id must have 1 to %d bytes",
                      ST_REQUEST_ID_MAX);
  uint64_t seq;
  mc_code rc = sti_counter_add(txn, ob->db[ODB_META], "outbox_seq", 1, &seq, err);
  if (rc != MC_OK)
    return rc;
  st_outbox_entry copy = *entry; /* shallow: the caller's message is borrowed */
  copy.seq = seq;
  sti_key k;
  seq_key(&k, seq);
  rc = sti_put_msg(txn, ob->db[ODB_OUTBOX], k.b, k.n, &copy.base, MDB_NOOVERWRITE, err);
  if (rc != MC_OK)
    return rc;
  if (seq_out != NULL)
    *seq_out = seq;
  return MC_OK;
}

mc_code st_ob_first(st_txn *txn, st_outbox_entry **out, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, ob->db[ODB_OUTBOX], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
  if (lrc == MDB_NOTFOUND)
    rc = mc_err_set(err, MC_NOT_FOUND, "the outbox is empty");
  else if (lrc != 0)
    rc = sti_lmdb_err(err, lrc, "outbox", "reading the first entry");
  else if (key.mv_size != 8)
    rc = mc_err_set(err, MC_DATA_LOSS, "outbox: malformed key");
  else
    rc = decode_entry(&val, sti_get_u64(key.mv_data), out, err);
  mdb_cursor_close(c);
  return rc;
}

mc_code st_ob_remove(st_txn *txn, uint64_t seq, bool *existed, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  sti_key k;
  seq_key(&k, seq);
  return sti_del(txn, ob->db[ODB_OUTBOX], k.b, k.n, existed, err);
}

mc_code st_ob_count(st_txn *txn, uint64_t *out, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  MDB_stat st;
  int lrc = mdb_stat(txn->txn, ob->db[ODB_OUTBOX], &st);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, "outbox", "mdb_stat");
  *out = st.ms_entries;
  return MC_OK;
}

/* Collects decoded records of a database from a start key, in key order. */
typedef mc_code (*decode_fn)(const MDB_val *key, const MDB_val *val, ProtobufCMessage **out,
                             mc_err *err);

static mc_code collect(st_txn *txn, MDB_dbi dbi, const sti_key *start, size_t max, decode_fn dec,
                       void ***out, size_t *n_out, mc_err *err) {
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, dbi, &c, err);
  if (rc != MC_OK)
    return rc;
  ProtobufCMessage **arr = NULL;
  size_t n = 0, cap = 0;
  MDB_val key = {.mv_size = start ? start->n : 0, .mv_data = start ? (void *)start->b : NULL},
          val;
  int lrc = start ? mdb_cursor_get(c, &key, &val, MDB_SET_RANGE)
                  : mdb_cursor_get(c, &key, &val, MDB_FIRST);
  while (lrc == 0 && n < max) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      ProtobufCMessage **na = realloc(arr, ncap * sizeof(*na));
      if (na == NULL) {
        rc = mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
        break;
      }
      arr = na;
      cap = ncap;
    }
    if ((rc = dec(&key, &val, &arr[n], err)) != MC_OK)
      break;
    n++;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "outbox", "listing");
  if (rc != MC_OK) {
    st_messages_free(arr, n);
    return rc;
  }
  *out = (void **)arr;
  *n_out = n;
  return MC_OK;
}

static mc_code dec_entry(const MDB_val *key, const MDB_val *val, ProtobufCMessage **out,
                         mc_err *err) {
  if (key->mv_size != 8)
    return mc_err_set(err, MC_DATA_LOSS, "outbox: malformed key");
  return decode_entry(val, sti_get_u64(key->mv_data), (st_outbox_entry **)out, err);
}

mc_code st_ob_list(st_txn *txn, uint64_t after_seq, size_t max, st_outbox_entry ***out,
                   size_t *n_out, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  if (max == 0 || max > ST_PAGE_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "outbox list: max must be 1 to %d",
                      ST_PAGE_MAX);
  if (after_seq == UINT64_MAX) {
    *out = NULL;
    *n_out = 0;
    return MC_OK;
  }
  sti_key k;
  seq_key(&k, after_seq + 1);
  return collect(txn, ob->db[ODB_OUTBOX], &k, max, dec_entry, (void ***)out, n_out, err);
}

/* ---- Local copies ------------------------------------------------------------------ */

/* The reference of a copy: the unit that took the case in and its unit_ref
 * (ref is "" when the record has none). */
static void local_ref(const st_outbox *ob, const mv_case *c, const char **unit,
                      const char **ref) {
  *unit = c->n_units_involved > 0 ? c->units_involved[0] : ob->unit;
  *ref = c->intake != NULL && c->intake->unit_ref != NULL ? c->intake->unit_ref : "";
}

static mc_code local_key_of(const st_outbox *ob, const mv_case *c, char key[LOCAL_KEY_MAX + 1],
                            mc_err *err) {
  const char *unit, *ref;
  local_ref(ob, c, &unit, &ref);
  if (strlen(unit) > ST_NAME_MAX || strlen(ref) > ST_NAME_MAX || strchr(unit, ':') != NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "local case: unit or unit_ref too long");
  if (c->id != NULL && c->id[0] != '\0') {
    if (!mc_case_id_parse(c->id, NULL, NULL))
      return mc_err_set(err, MC_INVALID_ARGUMENT, "local case: malformed case id");
    snprintf(key, LOCAL_KEY_MAX + 1, "%s", c->id);
    return MC_OK;
  }
  if (ref[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "local case: needs a case id or an intake unit_ref");
  snprintf(key, LOCAL_KEY_MAX + 1, "%s:%s", unit, ref);
  return MC_OK;
}

/* ref (a case id, "<unit>:<unit_ref>" or a bare unit_ref of this unit) ->
 * the key of the local copy. */
static mc_code resolve_local(st_txn *txn, st_outbox *ob, const char *ref,
                             char key[LOCAL_KEY_MAX + 1], mc_err *err) {
  if (ref == NULL || ref[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "local case: empty reference");
  if (mc_case_id_parse(ref, NULL, NULL)) {
    snprintf(key, LOCAL_KEY_MAX + 1, "%s", ref);
    return MC_OK;
  }
  char unit[ST_NAME_MAX + 1];
  const char *uref = ref;
  if (strchr(ref, ':') != NULL) {
    if (!mc_case_alias_parse(ref, unit, sizeof(unit), &uref))
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "local case: expected a case id, <unit>:<unit_ref> or a unit_ref");
  } else {
    snprintf(unit, sizeof(unit), "%s", ob->unit);
  }
  if (strlen(uref) > ST_NAME_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "local case: unit_ref too long");
  mc_code rc = sti_alias_find(txn, ob->db[ODB_REFS], unit, uref, key, LOCAL_KEY_MAX + 1, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no local copy of %s:%s", unit, uref);
  return rc;
}

static mc_code decode_local(const MDB_val *v, const char *key, st_local_case **out,
                            mc_err *err) {
  bool oom = false;
  ProtobufCMessage *m =
      mc_pb_unpack(&mediation__v1__local_case__descriptor, v->mv_size, v->mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
  if (m == NULL || ((st_local_case *)m)->case_record == NULL) {
    if (m != NULL)
      protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS, "local copy %s: the stored record is damaged", key);
  }
  *out = (st_local_case *)m;
  return MC_OK;
}

mc_code st_ob_local_put(st_txn *txn, const st_local_case *lc, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  if (lc == NULL || lc->case_record == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "local case: a case_record is required");
  const mv_case *c = lc->case_record;
  char key[LOCAL_KEY_MAX + 1];
  mc_code rc = local_key_of(ob, c, key, err);
  if (rc != MC_OK)
    return rc;
  const char *unit, *ref;
  local_ref(ob, c, &unit, &ref);
  if (ref[0] != '\0') {
    char old[LOCAL_KEY_MAX + 1];
    rc = sti_alias_find(txn, ob->db[ODB_REFS], unit, ref, old, sizeof(old), err);
    if (rc == MC_OK && strcmp(old, key) != 0) {
      /* Only a copy still waiting for its id may be moved under one. */
      if (strchr(old, ':') == NULL)
        return mc_err_set(err, MC_ALREADY_EXISTS, "unit_ref %s:%s is already case %s", unit,
                          ref, old);
      sti_key k;
      sti_alias_key(&k, unit, ref, old);
      rc = sti_del(txn, ob->db[ODB_LOCAL], old, strlen(old), NULL, err);
      if (rc == MC_OK)
        rc = sti_del(txn, ob->db[ODB_REFS], k.b, k.n, NULL, err);
      if (rc != MC_OK)
        return rc;
    } else if (rc != MC_OK && rc != MC_NOT_FOUND) {
      return rc;
    }
    sti_key k;
    sti_alias_key(&k, unit, ref, key);
    if ((rc = sti_put(txn, ob->db[ODB_REFS], k.b, k.n, "", 0, 0, err)) != MC_OK)
      return rc;
  }
  return sti_put_msg(txn, ob->db[ODB_LOCAL], key, strlen(key), &lc->base, 0, err);
}

mc_code st_ob_local_get(st_txn *txn, const char *ref, st_local_case **out, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  char key[LOCAL_KEY_MAX + 1];
  mc_code rc = resolve_local(txn, ob, ref, key, err);
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_get(txn, ob->db[ODB_LOCAL], key, strlen(key), &v, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no local copy of %s", key);
  if (rc != MC_OK)
    return rc;
  return decode_local(&v, key, out, err);
}

mc_code st_ob_local_delete(st_txn *txn, const char *ref, bool *existed, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  char key[LOCAL_KEY_MAX + 1];
  mc_code rc = resolve_local(txn, ob, ref, key, err);
  if (rc == MC_NOT_FOUND) {
    if (existed)
      *existed = false;
    return MC_OK;
  }
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_get(txn, ob->db[ODB_LOCAL], key, strlen(key), &v, err);
  if (rc == MC_NOT_FOUND) {
    if (existed)
      *existed = false;
    return MC_OK;
  }
  if (rc != MC_OK)
    return rc;
  st_local_case *lc;
  if ((rc = decode_local(&v, key, &lc, err)) != MC_OK)
    return rc;
  const char *unit, *uref;
  local_ref(ob, lc->case_record, &unit, &uref);
  sti_key k;
  sti_alias_key(&k, unit, uref, key);
  bool has_ref = uref[0] != '\0';
  rc = sti_del(txn, ob->db[ODB_LOCAL], key, strlen(key), NULL, err);
  if (rc == MC_OK && has_ref && sti_key_ok(&k))
    rc = sti_del(txn, ob->db[ODB_REFS], k.b, k.n, NULL, err);
  protobuf_c_message_free_unpacked(&lc->base, NULL);
  if (rc != MC_OK)
    return rc;
  if (existed)
    *existed = true;
  return MC_OK;
}

mc_code st_ob_local_scan(st_txn *txn, st_local_fn fn, void *arg, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  if (fn == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "local scan: no callback");
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, ob->db[ODB_LOCAL], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    char name[LOCAL_KEY_MAX + 1];
    size_t n = key.mv_size < LOCAL_KEY_MAX ? key.mv_size : LOCAL_KEY_MAX;
    memcpy(name, key.mv_data, n);
    name[n] = '\0';
    st_local_case *lc;
    if ((rc = decode_local(&val, name, &lc, err)) != MC_OK)
      break;
    bool go = fn(arg, lc);
    protobuf_c_message_free_unpacked(&lc->base, NULL);
    if (!go)
      break;
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "outbox", "scanning local copies");
  return rc;
}

/* ---- Conflicts ------------------------------------------------------------------- */

static mc_code dec_conflict(const MDB_val *key, const MDB_val *val, ProtobufCMessage **out,
                            mc_err *err) {
  if (key->mv_size != 8)
    return mc_err_set(err, MC_DATA_LOSS, "conflicts: malformed key");
  uint64_t seq = sti_get_u64(key->mv_data);
  bool oom = false;
  ProtobufCMessage *m =
      mc_pb_unpack(&mediation__v1__conflict__descriptor, val->mv_size, val->mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
  if (m == NULL || ((st_conflict *)m)->outbox_seq != seq) {
    if (m != NULL)
      protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS, "conflict %llu: the stored record is damaged",
                      (unsigned long long)seq);
  }
  *out = m;
  return MC_OK;
}

mc_code st_ob_conflict_put(st_txn *txn, const st_conflict *c, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  if (c == NULL || c->outbox_seq == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "conflict: an outbox_seq is required");
  sti_key k;
  seq_key(&k, c->outbox_seq);
  return sti_put_msg(txn, ob->db[ODB_CONFLICTS], k.b, k.n, &c->base, 0, err);
}

mc_code st_ob_conflict_list(st_txn *txn, st_conflict ***out, size_t *n_out, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  return collect(txn, ob->db[ODB_CONFLICTS], NULL, SIZE_MAX, dec_conflict, (void ***)out, n_out,
                 err);
}

mc_code st_ob_conflict_delete(st_txn *txn, uint64_t outbox_seq, bool *existed, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  sti_key k;
  seq_key(&k, outbox_seq);
  return sti_del(txn, ob->db[ODB_CONFLICTS], k.b, k.n, existed, err);
}

/* ---- Desk calls -------------------------------------------------------------------- */

static mc_code desk_id_check(const uint8_t *id, size_t id_len, mc_err *err) {
  if (id == NULL || id_len == 0 || id_len > ST_REQUEST_ID_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "desk record: request id must have 1 to %d bytes",
                      ST_REQUEST_ID_MAX);
  return MC_OK;
}

mc_code st_ob_desk_get(st_txn *txn, const uint8_t *id, size_t id_len, st_desk_record **out,
                       mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = desk_id_check(id, id_len, err);
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_get(txn, ob->db[ODB_DESK], id, id_len, &v, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no such Desk call");
  if (rc != MC_OK)
    return rc;
  bool oom = false;
  ProtobufCMessage *m =
      mc_pb_unpack(&mediation__v1__desk_record__descriptor, v.mv_size, v.mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
  if (m == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "a Desk call's record is damaged");
  *out = (st_desk_record *)m;
  return MC_OK;
}

mc_code st_ob_desk_put(st_txn *txn, const uint8_t *id, size_t id_len, const st_desk_record *rec,
                       mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_OUTBOX, err);
  if (rc != MC_OK)
    return rc;
  st_outbox *ob = txn->owner;
  if ((rc = desk_id_check(id, id_len, err)) != MC_OK)
    return rc;
  if (rec == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "desk record: none given");
  return sti_put_msg(txn, ob->db[ODB_DESK], id, id_len, &rec->base, 0, err);
}

mc_code st_ob_desk_prune(st_txn *txn, int64_t before_ms, size_t max, size_t *n_out,
                         mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_OUTBOX, err);
  if (rc != MC_OK)
    return rc;
  st_outbox *ob = txn->owner;
  MDB_cursor *c;
  if ((rc = sti_cursor(txn, ob->db[ODB_DESK], &c, err)) != MC_OK)
    return rc;
  size_t n = 0;
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0 && n < max;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    bool oom = false;
    st_desk_record *r = (st_desk_record *)mc_pb_unpack(&mediation__v1__desk_record__descriptor,
                                                       val.mv_size, val.mv_data, &oom);
    if (oom) { /* not damaged: a record must not go for want of memory */
      mdb_cursor_close(c);
      return mc_err_set(err, MC_UNAVAILABLE, "outbox: out of memory");
    }
    bool old = r == NULL; /* a damaged record helps nobody: it goes too */
    if (r != NULL && r->made_ms < before_ms) {
      old = true;
      for (size_t i = 0; i < r->n_steps; i++)
        old = old && r->steps[i]->disposition != MV_DISPOSITION(QUEUED);
    }
    if (r != NULL)
      protobuf_c_message_free_unpacked(&r->base, NULL);
    if (!old)
      continue;
    if ((lrc = mdb_cursor_del(c, 0)) != 0)
      break;
    txn->wrote = true;
    n++;
  }
  mdb_cursor_close(c);
  if (lrc != 0 && lrc != MDB_NOTFOUND) {
    txn->failed = lrc;
    return sti_lmdb_err(err, lrc, "outbox", "pruning Desk records");
  }
  if (n_out != NULL)
    *n_out = n;
  return MC_OK;
}

/* ---- Bookkeeping ------------------------------------------------------------------- */

mc_code st_ob_next_ref(st_txn *txn, int year, uint64_t *serial_out, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  if (year < 1000 || year > 9999)
    return mc_err_set(err, MC_OUT_OF_RANGE, "unit_ref: year %d out of range", year);
  char name[32];
  snprintf(name, sizeof(name), "ref/%d", year);
  return sti_counter_add(txn, ob->db[ODB_META], name, 1, serial_out, err);
}

mc_code st_ob_acked_get(st_txn *txn, uint64_t *out, mc_err *err) {
  st_outbox *ob = ob_of(txn, err);
  if (ob == NULL)
    return MC_INVALID_ARGUMENT;
  return sti_counter_get(txn, ob->db[ODB_META], "acked_delivery", out, err);
}

mc_code st_ob_acked_set(st_txn *txn, uint64_t seq, mc_err *err) {
  mc_code wrc = sti_check_write(txn, STI_OUTBOX, err);
  if (wrc != MC_OK)
    return wrc;
  st_outbox *ob = txn->owner;
  uint64_t cur;
  mc_code rc = sti_counter_get(txn, ob->db[ODB_META], "acked_delivery", &cur, err);
  if (rc != MC_OK || seq <= cur)
    return rc;
  return sti_counter_set(txn, ob->db[ODB_META], "acked_delivery", seq, err);
}

/* ---- Convenience ------------------------------------------------------------------- */

typedef struct push_arg {
  const st_outbox_entry *entry;
  uint64_t seq;
} push_arg;

static mc_code push_op(st_txn *txn, void *arg, mc_err *err) {
  push_arg *a = arg;
  return st_ob_push(txn, a->entry, &a->seq, err);
}

mc_code st_outbox_push(st_outbox *ob, const st_outbox_entry *entry, uint64_t *seq_out,
                       mc_err *err) {
  push_arg a = {.entry = entry};
  mc_code rc = st_outbox_write(ob, push_op, &a, err);
  if (rc == MC_OK && seq_out != NULL)
    *seq_out = a.seq;
  return rc;
}

mc_code st_outbox_peek(st_outbox *ob, st_outbox_entry **out, mc_err *err) {
  st_txn *t;
  mc_code rc = st_outbox_read_begin(ob, &t, err);
  if (rc != MC_OK)
    return rc;
  rc = st_ob_first(t, out, err);
  st_read_end(t);
  return rc;
}
