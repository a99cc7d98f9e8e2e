/*
 * records.c - the store's other records: deliveries (a per-unit queue),
 * idempotency replies (with an expiry index), the access log, and figures
 * scans.
 *
 * Each is a keyed record in its own database, laid out so that the question
 * asked of it is a range scan: a unit's pending deliveries are the keys
 * "unit \0 seq" after a seq; expired replies are the first keys of the
 * expiry index (ordered by stored time), so expiring costs what it removes;
 * a year's figures are the keys starting with that year, months in order.
 */
#include "storage/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"

/* ---- Deliveries -------------------------------------------------------------- */

static mc_code check_unit(const char *unit, mc_err *err) {
  if (unit == NULL || unit[0] == '\0' || strlen(unit) > ST_NAME_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "delivery: unit must have 1 to %d bytes",
                      ST_NAME_MAX);
  return MC_OK;
}

/* Decodes a delivery found under (unit, seq) and checks it says so. */
static mc_code decode_delivery(const MDB_val *v, const char *unit, uint64_t seq,
                               mv_delivery **out, mc_err *err) {
  bool oom = false;
  ProtobufCMessage *m =
      mc_pb_unpack(&mediation__v1__delivery__descriptor, v->mv_size, v->mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "deliveries: out of memory");
  if (m == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "delivery %llu to %s: the stored record does not decode",
                      (unsigned long long)seq, unit);
  mv_delivery *d = (mv_delivery *)m;
  if (d->seq != seq || strcmp(d->unit, unit) != 0) {
    protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS,
                      "delivery %llu to %s: the stored record names another seq or unit",
                      (unsigned long long)seq, unit);
  }
  *out = d;
  return MC_OK;
}

mc_code st_delivery_put(st_txn *txn, const mv_delivery *d, uint64_t *seq_out, mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc != MC_OK)
    return rc;
  st_store *s = txn->owner;
  if (d == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "delivery: missing");
  if ((rc = check_unit(d->unit, err)) != MC_OK)
    return rc;
  uint64_t seq;
  rc = sti_counter_get(txn, s->db[SDB_META], "delivery_seq", &seq, err);
  if (rc != MC_OK)
    return rc;
  seq++;
  /* A shallow copy with the seq set: the caller's message is borrowed. */
  mv_delivery copy = *d;
  copy.seq = seq;
  sti_key k;
  sti_delivery_key(&k, d->unit, seq);
  rc = sti_counter_set(txn, s->db[SDB_META], "delivery_seq", seq, err);
  if (rc == MC_OK)
    rc = sti_put_msg(txn, s->db[SDB_DELIVERIES], k.b, k.n, &copy.base, MDB_NOOVERWRITE, err);
  if (rc != MC_OK)
    return rc;
  if (seq_out != NULL)
    *seq_out = seq;
  return MC_OK;
}

mc_code st_delivery_ack(st_txn *txn, const char *unit, uint64_t seq, bool *already,
                        mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc != MC_OK)
    return rc;
  st_store *s = txn->owner;
  if ((rc = check_unit(unit, err)) != MC_OK)
    return rc;
  uint64_t last;
  rc = sti_counter_get(txn, s->db[SDB_META], "delivery_seq", &last, err);
  if (rc != MC_OK)
    return rc;
  if (seq == 0 || seq > last)
    return mc_err_set(err, MC_NOT_FOUND, "delivery %llu was never queued",
                      (unsigned long long)seq);
  sti_key k;
  sti_delivery_key(&k, unit, seq);
  bool existed;
  rc = sti_del(txn, s->db[SDB_DELIVERIES], k.b, k.n, &existed, err);
  if (rc != MC_OK)
    return rc;
  if (already != NULL)
    *already = !existed;
  return MC_OK;
}

mc_code st_delivery_get(st_txn *txn, const char *unit, uint64_t seq, mv_delivery **out,
                        mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_unit(unit, err);
  if (rc != MC_OK)
    return rc;
  sti_key k;
  sti_delivery_key(&k, unit, seq);
  MDB_val v;
  rc = sti_get(txn, s->db[SDB_DELIVERIES], k.b, k.n, &v, err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no pending delivery %llu to %s",
                      (unsigned long long)seq, unit);
  if (rc != MC_OK)
    return rc;
  return decode_delivery(&v, unit, seq, out, err);
}

mc_code st_delivery_list(st_txn *txn, const char *unit, uint64_t after_seq, size_t max,
                         mv_delivery ***out, size_t *n_out, mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_unit(unit, err);
  if (rc != MC_OK)
    return rc;
  if (max == 0 || max > ST_PAGE_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "deliveries: max must be 1 to %d", ST_PAGE_MAX);
  if (after_seq == UINT64_MAX) {
    *out = NULL;
    *n_out = 0;
    return MC_OK;
  }
  sti_key prefix, start;
  sti_key_init(&prefix);
  sti_key_strz(&prefix, unit);
  sti_delivery_key(&start, unit, after_seq + 1);
  mv_delivery **arr = calloc(max, sizeof(*arr));
  if (arr == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "deliveries: out of memory");
  MDB_cursor *c;
  rc = sti_cursor(txn, s->db[SDB_DELIVERIES], &c, err);
  if (rc != MC_OK) {
    free(arr);
    return rc;
  }
  size_t n = 0;
  MDB_val key = {.mv_size = start.n, .mv_data = start.b}, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  while (lrc == 0 && n < max && sti_has_prefix(&key, prefix.b, prefix.n)) {
    if (key.mv_size != prefix.n + 8) {
      rc = mc_err_set(err, MC_DATA_LOSS, "deliveries to %s: malformed key", unit);
      break;
    }
    uint64_t seq = sti_get_u64((const uint8_t *)key.mv_data + prefix.n);
    if ((rc = decode_delivery(&val, unit, seq, &arr[n], err)) != MC_OK)
      break;
    n++;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "listing deliveries");
  if (rc != MC_OK) {
    st_messages_free(arr, n);
    return rc;
  }
  *out = arr;
  *n_out = n;
  return MC_OK;
}

mc_code st_delivery_count(st_txn *txn, const char *unit, uint64_t *count, int64_t *oldest_ms,
                          mc_err *err) {
  *count = 0;
  *oldest_ms = 0;
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_unit(unit, err);
  if (rc != MC_OK)
    return rc;
  sti_key prefix;
  sti_key_init(&prefix);
  sti_key_strz(&prefix, unit);
  MDB_cursor *c;
  if ((rc = sti_cursor(txn, s->db[SDB_DELIVERIES], &c, err)) != MC_OK)
    return rc;
  MDB_val key = {.mv_size = prefix.n, .mv_data = prefix.b}, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  while (lrc == 0 && sti_has_prefix(&key, prefix.b, prefix.n)) {
    if (key.mv_size != prefix.n + 8) {
      rc = mc_err_set(err, MC_DATA_LOSS, "deliveries to %s: malformed key", unit);
      break;
    }
    if (*count == 0) {
      /* Keys are in seq order: the first is the oldest queued. */
      mv_delivery *d = NULL;
      uint64_t seq = sti_get_u64((const uint8_t *)key.mv_data + prefix.n);
      if ((rc = decode_delivery(&val, unit, seq, &d, err)) != MC_OK)
        break;
      *oldest_ms = d->queued_ms;
      protobuf_c_message_free_unpacked(&d->base, NULL);
    }
    (*count)++;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "counting deliveries");
  return rc;
}

mc_code st_delivery_last_seq(st_txn *txn, uint64_t *out, mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  return sti_counter_get(txn, s->db[SDB_META], "delivery_seq", out, err);
}

/* ---- Idempotency -------------------------------------------------------------- */

static mc_code check_request_id(const uint8_t *id, size_t len, mc_err *err) {
  if (id == NULL || len == 0 || len > ST_REQUEST_ID_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "request id must have 1 to %d bytes",
                      ST_REQUEST_ID_MAX);
  return MC_OK;
}

static void idem_exp_key(sti_key *k, int64_t stored_ms, const uint8_t *id, size_t len) {
  sti_key_init(k);
  sti_key_time(k, stored_ms);
  sti_key_raw(k, id, len);
}

mc_code st_idem_get(st_txn *txn, const uint8_t *request_id, size_t len, st_idem_reply **out,
                    mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  mc_code rc = check_request_id(request_id, len, err);
  if (rc != MC_OK)
    return rc;
  ProtobufCMessage *m;
  rc = sti_get_msg(txn, s->db[SDB_IDEM], request_id, len,
                   &mediation__v1__idempotent_reply__descriptor, &m, "idempotency reply",
                   "for a request", err);
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no reply is kept for this request id");
  if (rc != MC_OK)
    return rc;
  st_idem_reply *r = (st_idem_reply *)m;
  if (r->request_id.len != len || memcmp(r->request_id.data, request_id, len) != 0) {
    protobuf_c_message_free_unpacked(m, NULL);
    return mc_err_set(err, MC_DATA_LOSS, "idempotency reply: stored under another request id");
  }
  *out = r;
  return MC_OK;
}

mc_code st_idem_put(st_txn *txn, const st_idem_reply *reply, mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc != MC_OK)
    return rc;
  st_store *s = txn->owner;
  if (reply == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "idempotency reply: missing");
  rc = check_request_id(reply->request_id.data, reply->request_id.len, err);
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_get(txn, s->db[SDB_IDEM], reply->request_id.data, reply->request_id.len, &v, err);
  if (rc == MC_OK)
    return mc_err_set(err, MC_ALREADY_EXISTS, "a reply is already kept for this request id");
  if (rc != MC_NOT_FOUND)
    return rc;
  sti_key ek;
  idem_exp_key(&ek, reply->stored_ms, reply->request_id.data, reply->request_id.len);
  rc = sti_put_msg(txn, s->db[SDB_IDEM], reply->request_id.data, reply->request_id.len,
                   &reply->base, MDB_NOOVERWRITE, err);
  if (rc == MC_OK)
    rc = sti_put(txn, s->db[SDB_IDEM_EXP], ek.b, ek.n, "", 0, 0, err);
  return rc;
}

typedef struct expire_arg {
  st_store *s;
  int64_t cutoff;
  size_t max;
  size_t done; /* set by the last run of the callback */
} expire_arg;

/* Expired replies are the first keys of the expiry index. They are read a
 * chunk at a time with a fresh cursor and then deleted, so no cursor is
 * walked across its own deletions. */
#define EXPIRE_CHUNK 256

static mc_code expire_op(st_txn *txn, void *arg, mc_err *err) {
  expire_arg *a = arg;
  st_store *s = a->s;
  a->done = 0;
  size_t done = 0;
  uint8_t(*keys)[8 + ST_REQUEST_ID_MAX] = malloc(EXPIRE_CHUNK * sizeof(*keys));
  size_t lens[EXPIRE_CHUNK];
  if (keys == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "store: out of memory");
  mc_code rc = MC_OK;
  for (;;) {
    MDB_cursor *c;
    if ((rc = sti_cursor(txn, s->db[SDB_IDEM_EXP], &c, err)) != MC_OK)
      break;
    size_t n = 0;
    MDB_val key, val;
    int lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
    while (lrc == 0 && n < EXPIRE_CHUNK && done + n < a->max) {
      if (key.mv_size <= 8 || key.mv_size > 8 + ST_REQUEST_ID_MAX) {
        rc = mc_err_set(err, MC_DATA_LOSS, "store: malformed idempotency expiry key");
        break;
      }
      if (sti_get_time(key.mv_data) >= a->cutoff)
        break;
      memcpy(keys[n], key.mv_data, key.mv_size);
      lens[n++] = key.mv_size;
      lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
      rc = sti_lmdb_err(err, lrc, "store", "expiring idempotency replies");
    for (size_t i = 0; i < n && rc == MC_OK; i++) {
      rc = sti_del(txn, s->db[SDB_IDEM_EXP], keys[i], lens[i], NULL, err);
      if (rc == MC_OK)
        rc = sti_del(txn, s->db[SDB_IDEM], keys[i] + 8, lens[i] - 8, NULL, err);
    }
    if (rc != MC_OK)
      break;
    done += n;
    if (n < EXPIRE_CHUNK || done >= a->max)
      break;
  }
  free(keys);
  if (rc == MC_OK)
    a->done = done;
  return rc;
}

mc_code st_idem_expire(st_store *store, int64_t now_ms, size_t max, size_t *expired,
                       mc_err *err) {
  if (max == 0) {
    if (expired)
      *expired = 0;
    return MC_OK;
  }
  expire_arg a = {.s = store, .cutoff = now_ms - store->idem_retention_ms, .max = max};
  mc_code rc = st_write(store, expire_op, &a, err);
  if (rc != MC_OK)
    return rc;
  if (expired)
    *expired = a.done;
  return MC_OK;
}

/* ---- Access log ---------------------------------------------------------------- */

mc_code st_access_append(st_txn *txn, const st_access_record *rec, mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc != MC_OK)
    return rc;
  st_store *s = txn->owner;
  if (rec == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "access record: missing");
  uint64_t seq;
  rc = sti_counter_get(txn, s->db[SDB_META], "access_seq", &seq, err);
  if (rc != MC_OK)
    return rc;
  seq++;
  sti_key k;
  sti_key_init(&k);
  sti_key_time(&k, rec->at_ms);
  sti_key_u64(&k, seq);
  rc = sti_counter_set(txn, s->db[SDB_META], "access_seq", seq, err);
  if (rc == MC_OK)
    rc = sti_put_msg(txn, s->db[SDB_ACCESS], k.b, k.n, &rec->base, MDB_NOOVERWRITE, err);
  return rc;
}

mc_code st_access_scan(st_txn *txn, int64_t from_ms, int64_t to_ms, st_access_fn fn, void *arg,
                       mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  if (fn == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "access scan: no callback");
  sti_key start;
  sti_key_init(&start);
  sti_key_time(&start, from_ms);
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, s->db[SDB_ACCESS], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key = {.mv_size = start.n, .mv_data = start.b}, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  while (lrc == 0) {
    if (key.mv_size != 16) {
      rc = mc_err_set(err, MC_DATA_LOSS, "access log: malformed key");
      break;
    }
    int64_t at = sti_get_time(key.mv_data);
    if (to_ms != 0 && at >= to_ms)
      break;
    ProtobufCMessage *m;
    if ((rc = sti_unpack(&val, &mediation__v1__access_record__descriptor, &m, "access record",
                         "at a time", err)) != MC_OK)
      break;
    bool go = fn(arg, (const st_access_record *)m);
    protobuf_c_message_free_unpacked(m, NULL);
    if (!go)
      break;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "reading the access log");
  return rc;
}

/* ---- Figures ------------------------------------------------------------------------ */

mc_code st_figures_scan(st_txn *txn, int year, int from_month, int to_month, st_figure_fn fn,
                        void *arg, mc_err *err) {
  st_store *s = sti_store_of(txn, err);
  if (s == NULL)
    return MC_INVALID_ARGUMENT;
  if (fn == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "figures: no callback");
  if (year < 1000 || year > 9999 || from_month < 1 || to_month > 12 || from_month > to_month)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "figures: year %d months %d..%d: expected a year and 1 <= from <= to <= 12",
                      year, from_month, to_month);
  sti_key start;
  sti_key_init(&start);
  sti_key_u16(&start, (unsigned)year);
  sti_key_u8(&start, (unsigned)from_month);
  MDB_cursor *c;
  mc_code rc = sti_cursor(txn, s->db[SDB_FIGURES], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key = {.mv_size = start.n, .mv_data = start.b}, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  while (lrc == 0 && sti_has_prefix(&key, start.b, 2)) {
    mv_bucket b;
    char unit[ST_NAME_MAX + 1], community[ST_NAME_MAX + 1];
    if (!sti_figure_key_parse(key.mv_data, key.mv_size, &b, unit, sizeof(unit), community,
                              sizeof(community))) {
      rc = mc_err_set(err, MC_DATA_LOSS, "figures %d: malformed bucket key", year);
      break;
    }
    if (b.month > to_month)
      break;
    ProtobufCMessage *m;
    if ((rc = sti_unpack(&val, &mediation__v1__figure_counters__descriptor, &m, "figures of",
                         unit, err)) != MC_OK)
      break;
    bool go = fn(arg, &b, (const mv_counters *)m);
    protobuf_c_message_free_unpacked(m, NULL);
    if (!go)
      break;
    lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "reading figures");
  return rc;
}
