/*
 * kv.c - keys and typed values: how bytes become records and records bytes.
 *
 * Keys are composite byte strings built so that byte order is the order the
 * queries want: integers big-endian, times with the sign bit flipped, strings
 * ended by a NUL when something follows (stored strings come from protobuf-c,
 * which cannot hold a NUL, so the separator is unambiguous). Values are
 * packed protobuf messages, packed straight into LMDB's page (MDB_RESERVE)
 * and unpacked into owned copies, so nothing returned points into the map.
 *
 * The schema check is here, not in env.c, because it reads a counter: the
 * environment calls nothing of this file, so the arrow runs kv -> env only.
 */
#include "storage/kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"

/* ---- Keys ---------------------------------------------------------------------- */

void sti_key_init(sti_key *k) {
  k->n = 0;
  k->over = false;
}

void sti_key_raw(sti_key *k, const void *p, size_t n) {
  if (k->over || n > sizeof(k->b) - k->n) {
    k->over = true;
    return;
  }
  if (n > 0)
    memcpy(k->b + k->n, p, n);
  k->n += n;
}

void sti_key_str(sti_key *k, const char *s) {
  sti_key_raw(k, s, s ? strlen(s) : 0);
}

void sti_key_strz(sti_key *k, const char *s) {
  sti_key_str(k, s);
  sti_key_u8(k, 0);
}

void sti_key_u8(sti_key *k, unsigned v) {
  uint8_t b = (uint8_t)v;
  sti_key_raw(k, &b, 1);
}

void sti_key_u16(sti_key *k, unsigned v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  sti_key_raw(k, b, 2);
}

void sti_key_u32(sti_key *k, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  sti_key_raw(k, b, 4);
}

void sti_key_u64(sti_key *k, uint64_t v) {
  uint8_t b[8];
  sti_put_u64(b, v);
  sti_key_raw(k, b, 8);
}

void sti_key_time(sti_key *k, int64_t ms) {
  sti_key_u64(k, (uint64_t)ms ^ (UINT64_C(1) << 63));
}

bool sti_key_ok(const sti_key *k) {
  return !k->over && k->n > 0;
}

void sti_put_u64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

uint64_t sti_get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

uint32_t sti_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int64_t sti_get_time(const uint8_t *p) {
  return (int64_t)(sti_get_u64(p) ^ (UINT64_C(1) << 63));
}

bool sti_has_prefix(const MDB_val *v, const uint8_t *prefix, size_t n) {
  return v->mv_size >= n && (n == 0 || memcmp(v->mv_data, prefix, n) == 0);
}

/* ---- Values ------------------------------------------------------------------------ */

mc_code sti_get(st_txn *t, MDB_dbi dbi, const void *key, size_t klen, MDB_val *val,
                mc_err *err) {
  if (t->failed)
    return mc_err_set(err, sti_code(t->failed), "%s: the write transaction already failed",
                      t->env->what);
  MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
  int rc = mdb_get(t->txn, dbi, &k, val);
  if (rc == MDB_NOTFOUND)
    return MC_NOT_FOUND;
  if (rc != 0)
    return sti_lmdb_err(err, rc, t->env->what, "mdb_get");
  return MC_OK;
}

mc_code sti_unpack(const MDB_val *val, const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **out, const char *what, const char *name, mc_err *err) {
  bool oom = false;
  ProtobufCMessage *m = mc_pb_unpack(desc, val->mv_size, val->mv_data, &oom);
  if (m == NULL && oom)
    return mc_err_set(err, MC_UNAVAILABLE, "%s %s: out of memory", what, name);
  if (m == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "%s %s: the stored record does not decode as %s", what,
                      name, desc->short_name);
  *out = m;
  return MC_OK;
}

mc_code sti_get_msg(st_txn *t, MDB_dbi dbi, const void *key, size_t klen,
                    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                    const char *what, const char *name, mc_err *err) {
  MDB_val v;
  mc_code rc = sti_get(t, dbi, key, klen, &v, err);
  if (rc != MC_OK)
    return rc;
  return sti_unpack(&v, desc, out, what, name, err);
}

/* Records the LMDB failure that killed a write transaction. */
static mc_code kill_txn(st_txn *t, int rc, const char *op, mc_err *err) {
  if (t->write && rc != MDB_KEYEXIST && rc != MDB_NOTFOUND)
    t->failed = rc;
  return sti_lmdb_err(err, rc, t->env->what, op);
}

mc_code sti_put(st_txn *t, MDB_dbi dbi, const void *key, size_t klen, const void *data,
                size_t len, unsigned flags, mc_err *err) {
  if (t->failed)
    return mc_err_set(err, sti_code(t->failed), "%s: the write transaction already failed",
                      t->env->what);
  MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
  MDB_val v = {.mv_size = len, .mv_data = (void *)data};
  t->wrote = true;
  int rc = mdb_put(t->txn, dbi, &k, &v, flags);
  if (rc == MDB_KEYEXIST)
    return mc_err_set(err, MC_ALREADY_EXISTS, "%s: key exists", t->env->what);
  if (rc != 0)
    return kill_txn(t, rc, "mdb_put", err);
  return MC_OK;
}

mc_code sti_put_msg(st_txn *t, MDB_dbi dbi, const void *key, size_t klen,
                    const ProtobufCMessage *msg, unsigned flags, mc_err *err) {
  if (t->failed)
    return mc_err_set(err, sti_code(t->failed), "%s: the write transaction already failed",
                      t->env->what);
  size_t len = protobuf_c_message_get_packed_size(msg);
  MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
  MDB_val v = {.mv_size = len, .mv_data = NULL};
  /* An empty message packs to zero bytes; MDB_RESERVE of 0 is fine. */
  t->wrote = true;
  int rc = mdb_put(t->txn, dbi, &k, &v, flags | MDB_RESERVE);
  if (rc == MDB_KEYEXIST)
    return mc_err_set(err, MC_ALREADY_EXISTS, "%s: key exists", t->env->what);
  if (rc != 0)
    return kill_txn(t, rc, "mdb_put", err);
  if (len > 0 && protobuf_c_message_pack(msg, v.mv_data) != len) {
    /* The reserved space holds garbage now: nothing may commit. */
    t->failed = EPROTO;
    return mc_err_set(err, MC_INTERNAL, "%s: packing %s gave an unexpected size", t->env->what,
                      msg->descriptor->short_name);
  }
  return MC_OK;
}

mc_code sti_del(st_txn *t, MDB_dbi dbi, const void *key, size_t klen, bool *existed,
                mc_err *err) {
  if (t->failed)
    return mc_err_set(err, sti_code(t->failed), "%s: the write transaction already failed",
                      t->env->what);
  MDB_val k = {.mv_size = klen, .mv_data = (void *)key};
  t->wrote = true;
  int rc = mdb_del(t->txn, dbi, &k, NULL);
  if (rc == MDB_NOTFOUND) {
    if (existed)
      *existed = false;
    return MC_OK;
  }
  if (rc != 0)
    return kill_txn(t, rc, "mdb_del", err);
  if (existed)
    *existed = true;
  return MC_OK;
}

mc_code sti_cursor(st_txn *t, MDB_dbi dbi, MDB_cursor **out, mc_err *err) {
  if (t->failed)
    return mc_err_set(err, sti_code(t->failed), "%s: the write transaction already failed",
                      t->env->what);
  int rc = mdb_cursor_open(t->txn, dbi, out);
  if (rc != 0)
    return sti_lmdb_err(err, rc, t->env->what, "mdb_cursor_open");
  return MC_OK;
}

mc_code sti_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len, mc_err *err) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(n ? n : 1);
  if (buf == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory packing %s",
                      msg->descriptor->short_name);
  if (protobuf_c_message_pack(msg, buf) != n) {
    free(buf);
    return mc_err_set(err, MC_INTERNAL, "packing %s gave an unexpected size",
                      msg->descriptor->short_name);
  }
  *out = buf;
  *len = n;
  return MC_OK;
}

/* ---- Counters ---------------------------------------------------------------------- */

mc_code sti_counter_get(st_txn *t, MDB_dbi meta, const char *name, uint64_t *out, mc_err *err) {
  MDB_val v;
  mc_code rc = sti_get(t, meta, name, strlen(name), &v, err);
  if (rc == MC_NOT_FOUND) {
    *out = 0;
    return MC_OK;
  }
  if (rc != MC_OK)
    return rc;
  if (v.mv_size != 8)
    return mc_err_set(err, MC_DATA_LOSS, "%s: meta counter %s has %zu bytes, not 8",
                      t->env->what, name, v.mv_size);
  *out = sti_get_u64(v.mv_data);
  return MC_OK;
}

mc_code sti_counter_set(st_txn *t, MDB_dbi meta, const char *name, uint64_t v, mc_err *err) {
  uint8_t b[8];
  sti_put_u64(b, v);
  return sti_put(t, meta, name, strlen(name), b, 8, 0, err);
}

mc_code sti_counter_add(st_txn *t, MDB_dbi meta, const char *name, int64_t delta,
                        uint64_t *out, mc_err *err) {
  uint64_t v;
  mc_code rc = sti_counter_get(t, meta, name, &v, err);
  if (rc != MC_OK)
    return rc;
  if (delta < 0 && v < (uint64_t)(-(delta + 1)) + 1)
    return mc_err_set(err, MC_INTERNAL, "%s: meta counter %s would go below zero",
                      t->env->what, name);
  if (delta > 0 && v > UINT64_MAX - (uint64_t)delta)
    return mc_err_set(err, MC_INTERNAL, "%s: meta counter %s would wrap", t->env->what, name);
  v = delta < 0 ? v - ((uint64_t)(-(delta + 1)) + 1) : v + (uint64_t)delta;
  rc = sti_counter_set(t, meta, name, v, err);
  if (rc == MC_OK && out != NULL)
    *out = v;
  return rc;
}

/* ---- Aliases ------------------------------------------------------------------------ */

void sti_alias_key(sti_key *k, const char *unit, const char *ref, const char *target) {
  sti_key_init(k);
  sti_key_strz(k, unit);
  sti_key_strz(k, ref);
  sti_key_str(k, target);
}

mc_code sti_alias_find(st_txn *t, MDB_dbi dbi, const char *unit, const char *ref, char *out,
                       size_t cap, mc_err *err) {
  sti_key k;
  sti_alias_key(&k, unit, ref, "");
  if (!sti_key_ok(&k))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "alias %s:%s is too long", unit, ref);
  MDB_cursor *c;
  mc_code code = sti_cursor(t, dbi, &c, err);
  if (code != MC_OK)
    return code;
  MDB_val key = {.mv_size = k.n, .mv_data = k.b}, val;
  int rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND || (rc == 0 && !sti_has_prefix(&key, k.b, k.n))) {
    mdb_cursor_close(c);
    return MC_NOT_FOUND;
  }
  if (rc != 0) {
    mdb_cursor_close(c);
    return sti_lmdb_err(err, rc, t->env->what, "alias lookup");
  }
  size_t tlen = key.mv_size - k.n;
  const char *target = (const char *)key.mv_data + k.n;
  if (tlen == 0 || tlen >= cap || memchr(target, 0, tlen) != NULL) {
    mdb_cursor_close(c);
    return mc_err_set(err, MC_DATA_LOSS, "alias %s:%s: malformed entry", unit, ref);
  }
  memcpy(out, target, tlen);
  out[tlen] = '\0';
  mdb_cursor_close(c);
  return MC_OK;
}

/* ---- Schema version ------------------------------------------------------------ */

typedef struct schema_arg {
  MDB_dbi meta, data;
  uint64_t version;
} schema_arg;

static mc_code schema_op(st_txn *t, void *arg, mc_err *err) {
  schema_arg *a = arg;
  uint64_t v;
  mc_code rc = sti_counter_get(t, a->meta, "schema", &v, err);
  if (rc != MC_OK)
    return rc;
  if (v == a->version)
    return MC_OK;
  if (v != 0)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "%s: schema version %llu on disk; this build reads version %llu",
                      t->env->what, (unsigned long long)v, (unsigned long long)a->version);
  MDB_stat st;
  int lrc = mdb_stat(t->txn, a->data, &st);
  if (lrc != 0)
    return sti_lmdb_err(err, lrc, t->env->what, "mdb_stat");
  if (st.ms_entries != 0)
    return mc_err_set(err, MC_DATA_LOSS, "%s: records are stored but the schema version is lost",
                      t->env->what);
  return sti_counter_set(t, a->meta, "schema", a->version, err);
}

mc_code sti_schema_check(sti_env *e, sti_kind kind, void *owner, MDB_dbi meta, MDB_dbi data,
                         uint64_t version, mc_err *err) {
  schema_arg a = {.meta = meta, .data = data, .version = version};
  st_op op = {.apply = schema_op, .arg = &a};
  mc_code rc = sti_write(e, kind, owner, &op, 1, err);
  if (rc == MC_OK && op.code != MC_OK) {
    rc = op.code;
    if (err != NULL)
      *err = op.err;
  }
  return rc;
}
