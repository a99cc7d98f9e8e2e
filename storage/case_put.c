/*
 * case_put.c - storing one step of a case: the record, its case-file event,
 * and everything derived from them, in one transaction.
 *
 * The idea: the case file is append-only and hash-chained, and everything
 * else about a case (indexes, alias, per-state counts, figures) is a
 * function of the record and the step. So st_case_put checks first (the
 * event extends the chain; `before` is what is stored) and only then writes:
 * a refusal writes nothing, even if the caller went on to commit. Indexes
 * are kept by difference between the keys of `before` and of `after`, which
 * touches only what changed (a state change moves three keys, an assignment
 * none). The new head of the case file is signed and kept in `heads`
 * (seal.c).
 */
#include "storage/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/figures.h"
#include "core/machine.h"

/* The id after the year's serial counter, if it is free. */
static mc_code following_id(st_txn *txn, int year, char name[32], uint64_t *serial,
                            char id[MC_CASE_ID_MAX], mc_err *err) {
  st_store *s = txn->owner;
  if (year < 1000 || year > 9999)
    return mc_err_set(err, MC_OUT_OF_RANGE, "case id: year %d out of range", year);
  snprintf(name, 32, "serial/%d", year);
  mc_code rc = sti_counter_get(txn, s->db[SDB_META], name, serial, err);
  if (rc != MC_OK)
    return rc;
  ++*serial;
  rc = mc_case_id_format(s->prefix, year, *serial, id, MC_CASE_ID_MAX, err);
  if (rc != MC_OK)
    return rc;
  MDB_val v;
  rc = sti_get(txn, s->db[SDB_CASES], id, strlen(id), &v, err);
  if (rc == MC_OK)
    return mc_err_set(err, MC_INTERNAL,
                      "case id %s is taken although the serial counter is behind it", id);
  return rc == MC_NOT_FOUND ? MC_OK : rc;
}

mc_code st_case_peek_id(st_txn *txn, int year, char id_out[MC_CASE_ID_MAX], mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  char name[32], id[MC_CASE_ID_MAX];
  uint64_t serial;
  if (rc == MC_OK)
    rc = following_id(txn, year, name, &serial, id, err);
  if (rc == MC_OK)
    memcpy(id_out, id, MC_CASE_ID_MAX);
  return rc;
}

mc_code st_case_next_id(st_txn *txn, int year, char id_out[MC_CASE_ID_MAX], mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  char name[32], id[MC_CASE_ID_MAX];
  uint64_t serial;
  if (rc == MC_OK)
    rc = following_id(txn, year, name, &serial, id, err);
  if (rc == MC_OK)
    rc = sti_counter_set(txn, ((st_store *)txn->owner)->db[SDB_META], name, serial, err);
  if (rc == MC_OK)
    memcpy(id_out, id, MC_CASE_ID_MAX);
  return rc;
}

static bool same_bytes(const ProtobufCBinaryData *a, const uint8_t *b, size_t n) {
  return a->len == n && (n == 0 || memcmp(a->data, b, n) == 0);
}

static bool key_in(const sti_ixent *set, size_t n, const sti_ixent *e) {
  for (size_t i = 0; i < n; i++)
    if (set[i].db == e->db && set[i].key.n == e->key.n &&
        memcmp(set[i].key.b, e->key.b, e->key.n) == 0)
      return true;
  return false;
}

/* The event must extend the case file that `before` heads, and `after` must
 * account for it. ev_bytes are the event as packed (and as it will be
 * stored). */
static mc_code check_chain(st_txn *txn, st_store *s, const mv_case *before, const mv_case *after,
                           const mv_event *ev, const uint8_t *ev_bytes, size_t ev_len,
                           mc_err *err) {
  const char *id = after->id;
  uint32_t prev = before ? before->event_count : 0;
  if (ev->seq != prev + 1)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "case %s: event seq %u does not follow seq %u", id, ev->seq, prev);
  if (before == NULL) {
    if (ev->prev_hash.len != 0)
      return mc_err_set(err, MC_FAILED_PRECONDITION,
                        "case %s seq 1: the first event must have an empty prev_hash", id);
  } else {
    if (before->last_event_hash.len != MC_HASH_BYTES ||
        !same_bytes(&ev->prev_hash, before->last_event_hash.data, MC_HASH_BYTES))
      return mc_err_set(err, MC_FAILED_PRECONDITION,
                        "case %s seq %u: prev_hash does not match seq %u", id, ev->seq, prev);
  }
  uint8_t h[MC_HASH_BYTES];
  mc_event_hash_packed(ev_bytes, ev_len, h);
  if (after->event_count != ev->seq || !same_bytes(&after->last_event_hash, h, sizeof(h)))
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "case %s seq %u: the record's event_count or last_event_hash does not "
                      "account for the event",
                      id, ev->seq);
  /* The stored case file must end exactly at `prev`. */
  sti_key k;
  MDB_val v;
  sti_event_key(&k, id, ev->seq);
  mc_code rc = sti_get(txn, s->db[SDB_CASE_FILES], k.b, k.n, &v, err);
  if (rc == MC_OK)
    return mc_err_set(err, MC_ABORTED, "case %s: seq %u is already in the case file", id,
                      ev->seq);
  if (rc != MC_NOT_FOUND)
    return rc;
  if (prev > 0) {
    sti_event_key(&k, id, prev);
    rc = sti_get(txn, s->db[SDB_CASE_FILES], k.b, k.n, &v, err);
    if (rc == MC_NOT_FOUND)
      return mc_err_set(err, MC_DATA_LOSS, "case %s: seq %u is missing from the case file", id,
                        prev);
    if (rc != MC_OK)
      return rc;
  }
  return MC_OK;
}

/* The stored record must be `before`, byte for byte (or absent for a new
 * case): the index difference is computed from it. */
static mc_code check_before(st_txn *txn, st_store *s, const mv_case *before, const char *id,
                            mc_err *err) {
  MDB_val v;
  mc_code rc = sti_get(txn, s->db[SDB_CASES], id, strlen(id), &v, err);
  if (before == NULL) {
    if (rc == MC_OK)
      return mc_err_set(err, MC_ALREADY_EXISTS, "case %s already exists", id);
    return rc == MC_NOT_FOUND ? MC_OK : rc;
  }
  if (rc == MC_NOT_FOUND)
    return mc_err_set(err, MC_ABORTED, "case %s is not stored", id);
  if (rc != MC_OK)
    return rc;
  uint8_t *packed;
  size_t len;
  rc = sti_pack(&before->base, &packed, &len, err);
  if (rc != MC_OK)
    return rc;
  bool same = len == v.mv_size && memcmp(packed, v.mv_data, len) == 0;
  free(packed);
  if (!same)
    return mc_err_set(err, MC_ABORTED, "case %s changed since it was read", id);
  return MC_OK;
}

static mc_code check_bucket(const mv_bucket *b, const char *id, mc_err *err) {
  if (b->year < 1000 || b->year > 9999 || b->month < 1 || b->month > 12 || b->kind < 0 ||
      b->kind >= MC_KIND_COUNT || b->unit == NULL || b->community == NULL ||
      strlen(b->unit) > ST_NAME_MAX || strlen(b->community) > ST_NAME_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: the figures bucket is out of range",
                      id);
  return MC_OK;
}

static mc_code check_args(const mv_case *before, const mv_case *after, const mv_event *event,
                          mc_err *err) {
  if (after == NULL || event == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case put: record and event are required");
  if (after->id == NULL || !mc_case_id_parse(after->id, NULL, NULL))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case put: malformed case id");
  const char *id = after->id;
  if (event->case_id == NULL || strcmp(event->case_id, id) != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: the event is for another case", id);
  if (before != NULL && (before->id == NULL || strcmp(before->id, id) != 0))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "case %s: before is another case", id);
  return MC_OK;
}

/* A unit_ref names one case of its unit: every alias key the step adds
 * (in nu, not in old) must be free or already this case's. */
static mc_code check_aliases(st_txn *txn, st_store *s, const char *id, const sti_ixent *old,
                             size_t n_old, const sti_ixent *nu, size_t n_nu, mc_err *err) {
  for (size_t i = 0; i < n_nu; i++) {
    if (nu[i].db != SDB_ALIASES || key_in(old, n_old, &nu[i]))
      continue;
    const char *unit = (const char *)nu[i].key.b;
    const char *ref = unit + strlen(unit) + 1;
    char other[MC_CASE_ID_MAX];
    mc_code rc = sti_alias_find(txn, s->db[SDB_ALIASES], unit, ref, other, sizeof(other), err);
    if (rc == MC_OK && strcmp(other, id) != 0)
      return mc_err_set(err, MC_ALREADY_EXISTS, "unit_ref %s of unit %s is already case %s", ref,
                        unit, other);
    if (rc != MC_OK && rc != MC_NOT_FOUND)
      return rc;
  }
  return MC_OK;
}

/* A step's move between states, as the per-state counters stand. */
typedef struct state_move {
  bool moves, from_any; /* from_any: the case existed (before != NULL) */
  char from_name[32], to_name[32];
  uint64_t from_count, to_count;
} state_move;

static mc_code read_state_move(st_txn *txn, st_store *s, const mv_case *before,
                               const mv_case *after, state_move *m, mc_err *err) {
  memset(m, 0, sizeof(*m));
  m->moves = before == NULL || before->state != after->state;
  m->from_any = before != NULL;
  if (!m->moves)
    return MC_OK;
  sti_state_counter_name(m->to_name, sizeof(m->to_name), (int)after->state);
  mc_code rc = sti_counter_get(txn, s->db[SDB_META], m->to_name, &m->to_count, err);
  if (rc != MC_OK || before == NULL)
    return rc;
  sti_state_counter_name(m->from_name, sizeof(m->from_name), (int)before->state);
  if ((rc = sti_counter_get(txn, s->db[SDB_META], m->from_name, &m->from_count, err)) != MC_OK)
    return rc;
  if (m->from_count == 0)
    return mc_err_set(err, MC_DATA_LOSS, "store: the count of cases in state %d is already 0",
                      (int)before->state);
  return MC_OK;
}

static mc_code write_state_move(st_txn *txn, st_store *s, const state_move *m, mc_err *err) {
  if (!m->moves)
    return MC_OK;
  mc_code rc;
  if (m->from_any &&
      (rc = sti_counter_set(txn, s->db[SDB_META], m->from_name, m->from_count - 1, err)) != MC_OK)
    return rc;
  return sti_counter_set(txn, s->db[SDB_META], m->to_name, m->to_count + 1, err);
}

/* A record that outgrows its leaf page moves to an overflow page, and its
 * node shrinks to a ~30-byte reference. LMDB rebalances a page after a
 * delete, never after a put that shrinks a node, so overwriting leaves the
 * leaf pages of grown records nearly empty for good (measured: 5.4k
 * leaves for 10k closed cases, 2 KB of every case's 6 KB in the cases
 * database). Deleting first lets LMDB merge a sparse leaf with its
 * neighbour; on a leaf already full of references the delete and the put
 * just take the node out and back. */
static mc_code write_record(st_txn *txn, st_store *s, bool existed, const mv_case *after,
                            mc_err *err) {
  const char *id = after->id;
  size_t after_len = protobuf_c_message_get_packed_size(&after->base);
  mc_code rc;
  if (existed && 8 + strlen(id) + after_len > s->node_max &&
      (rc = sti_del(txn, s->db[SDB_CASES], id, strlen(id), NULL, err)) != MC_OK)
    return rc;
  return sti_put_msg(txn, s->db[SDB_CASES], id, strlen(id), &after->base, 0, err);
}

/* The index keys the step drops (in old, not in nu) and adds. */
static mc_code write_index_keys(st_txn *txn, st_store *s, const sti_ixent *old, size_t n_old,
                                const sti_ixent *nu, size_t n_nu, mc_err *err) {
  mc_code rc;
  for (size_t i = 0; i < n_old; i++) {
    if (key_in(nu, n_nu, &old[i]))
      continue;
    if ((rc = sti_del(txn, s->db[old[i].db], old[i].key.b, old[i].key.n, NULL, err)) != MC_OK)
      return rc;
  }
  for (size_t i = 0; i < n_nu; i++) {
    if (key_in(old, n_old, &nu[i]))
      continue;
    if ((rc = sti_put(txn, s->db[nu[i].db], nu[i].key.b, nu[i].key.n, "", 0, 0, err)) != MC_OK)
      return rc;
  }
  return MC_OK;
}

/* The figures bucket a step counts in: its key, and its counters as
 * stored now (*stored, owned by the caller; NULL if none yet). */
static mc_code read_figures(st_txn *txn, st_store *s, const char *id, const mv_bucket *bucket,
                            sti_key *fkey, mv_counters **stored, mc_err *err) {
  mc_code rc = check_bucket(bucket, id, err);
  if (rc != MC_OK)
    return rc;
  sti_figure_key(fkey, bucket);
  ProtobufCMessage *m = NULL;
  rc = sti_get_msg(txn, s->db[SDB_FIGURES], fkey->b, fkey->n,
                   &mediation__v1__figure_counters__descriptor, &m, "figures bucket of case", id,
                   err);
  if (rc == MC_NOT_FOUND)
    return MC_OK;
  if (rc == MC_OK)
    *stored = (mv_counters *)m;
  return rc;
}

mc_code st_case_put(st_txn *txn, const mv_case *before, const mv_case *after,
                    const mv_event *event, mc_err *err) {
  mc_code rc = sti_check_write(txn, STI_STORE, err);
  if (rc != MC_OK)
    return rc;
  st_store *s = txn->owner;
  if ((rc = check_args(before, after, event, err)) != MC_OK)
    return rc;
  const char *id = after->id;

  /* The event is packed once: its hash is checked on, and its case-file
   * record written from, the same bytes. Events are a few hundred bytes;
   * the heap is for the rare big one. */
  uint8_t ev_stack[2048];
  size_t ev_len = protobuf_c_message_get_packed_size(&event->base);
  uint8_t *ev_bytes = ev_len <= sizeof(ev_stack) ? ev_stack : malloc(ev_len);
  if (ev_bytes == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "case %s: out of memory", id);
  protobuf_c_message_pack(&event->base, ev_bytes);

  sti_ixent *old = NULL, *nu = NULL;
  size_t n_old = 0, n_nu = 0;
  mv_counters *stored = NULL;
  /* Checks first: nothing is written unless the whole step is acceptable. */
  rc = check_chain(txn, s, before, after, event, ev_bytes, ev_len, err);
  if (rc == MC_OK)
    rc = check_before(txn, s, before, id, err);
  if (rc != MC_OK)
    goto out;

  if (before != NULL && (rc = sti_case_keys(s, before, &old, &n_old, err)) != MC_OK)
    goto out;
  if ((rc = sti_case_keys(s, after, &nu, &n_nu, err)) != MC_OK)
    goto out;
  if ((rc = check_aliases(txn, s, id, old, n_old, nu, n_nu, err)) != MC_OK)
    goto out;
  /* What the step adds to the figures, and the bucket as stored now. */
  mv_bucket bucket;
  mv_counters delta;
  bool counts = mc_figures_delta(before, after, event, s->utc_offset_minutes, &bucket, &delta);
  sti_key fkey;
  if (counts && (rc = read_figures(txn, s, id, &bucket, &fkey, &stored, err)) != MC_OK)
    goto out;

  /* A new case's serial: the year's counter must not fall behind an id in
   * use (an id from st_case_peek_id is only taken when the case is stored). */
  char serial_name[32] = "";
  uint64_t serial = 0, serial_counter = 0;
  int serial_year = 0;
  if (before == NULL && mc_case_id_parse(id, &serial_year, &serial)) {
    snprintf(serial_name, sizeof(serial_name), "serial/%d", serial_year);
    if ((rc = sti_counter_get(txn, s->db[SDB_META], serial_name, &serial_counter, err)) != MC_OK)
      goto out;
  }

  /* The per-state counts, read now so that the writes below cannot fail
   * for any reason but LMDB's. */
  state_move move;
  if ((rc = read_state_move(txn, s, before, after, &move, err)) != MC_OK)
    goto out;

  /* Writes. From here on a failure is LMDB's (it kills the transaction) or the
   * signer's (the op is refused; the batch runner rolls back what it wrote). */
  if ((rc = write_record(txn, s, before != NULL, after, err)) != MC_OK)
    goto out;
  if (serial > serial_counter &&
      (rc = sti_counter_set(txn, s->db[SDB_META], serial_name, serial, err)) != MC_OK)
    goto out;
  if ((rc = sti_event_append(txn, id, event->seq, ev_bytes, ev_len, err)) != MC_OK)
    goto out;
  /* The new head of the file, signed (seal.c). check_chain made sure it is
   * after->last_event_hash. */
  if ((rc = sti_head_put(txn, id, event->seq, after->last_event_hash.data, err)) != MC_OK)
    goto out;
  if ((rc = write_index_keys(txn, s, old, n_old, nu, n_nu, err)) != MC_OK)
    goto out;
  if ((rc = write_state_move(txn, s, &move, err)) != MC_OK)
    goto out;
  if (counts) {
    if (stored != NULL) {
      mc_counters_add(stored, &delta);
      rc = sti_put_msg(txn, s->db[SDB_FIGURES], fkey.b, fkey.n, &stored->base, 0, err);
    } else {
      rc = sti_put_msg(txn, s->db[SDB_FIGURES], fkey.b, fkey.n, &delta.base, 0, err);
    }
  }
out:
  if (stored != NULL)
    protobuf_c_message_free_unpacked(&stored->base, NULL);
  free(old);
  free(nu);
  if (ev_bytes != ev_stack)
    free(ev_bytes);
  return rc;
}
