/*
 * seal.c - sealed case files: a signed head per case, and anchors.
 *
 * The hash chain of a case file shows damage, but not a careful rewrite:
 * whoever can write the store (or a backup) can change an event, recompute
 * every later hash and the record, and the chain holds again. Two seals make
 * that visible to anyone who has the router's public key:
 *
 *   - The head of every case file (case id, seq of its last event, that
 *     event's hash) is signed by the router each time it changes and kept in
 *     `heads`. A rewrite changes the head; a new signature needs the
 *     router's private key, which is not in the store.
 *   - An anchor, made every day: the Merkle root over every case's head,
 *     with the step counter it was taken at, signed, as one line of text
 *     kept outside the store by the coordinators. It holds even against a
 *     rewrite re-signed with the router's own key (a stolen key, or a
 *     router made to sign a doctored store): no case file may change in
 *     what it was at the anchor.
 *
 * To rebuild the heads as they stood at an anchor, the case log keeps every
 * event under the step that appended it (store.c): the seq of a case at
 * step G is one below the first seq it appended after G, or its current seq
 * if it appended none. Nothing here has to be trusted: the root binds every
 * (case, seq, hash) leaf, so an edited log only yields another leaf set and
 * another root. Formats and the Merkle construction: docs/architecture.md,
 * "Sealed case files".
 */
#include "storage/store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define ANCHOR_TAG "mediation-anchor/1"

/* ---- Signed heads ---------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

size_t sti_head_signed_bytes(const char *case_id, uint32_t seq,
                             const uint8_t hash[MC_HASH_BYTES], uint8_t *out) {
  size_t n = strlen(case_id);
  put_be32(out, (uint32_t)n);
  memcpy(out + 4, case_id, n);
  put_be32(out + 4 + n, seq);
  memcpy(out + 8 + n, hash, MC_HASH_BYTES);
  return 8 + n + MC_HASH_BYTES;
}

/* Signs and stores the head of one case (no step entry). */
static mc_code put_head(st_txn *t, st_store *s, const char *case_id, uint32_t seq,
                        const uint8_t hash[MC_HASH_BYTES], mc_err *err) {
  uint8_t data[8 + MC_CASE_ID_MAX + MC_HASH_BYTES], sig[ST_SIG_BYTES];
  st_case_head h = MEDIATION__V1__CASE_HEAD__INIT;
  h.case_id = (char *)case_id;
  h.seq = seq;
  h.hash.data = (uint8_t *)hash;
  h.hash.len = MC_HASH_BYTES;
  if (s->sign != NULL) {
    if (strlen(case_id) >= MC_CASE_ID_MAX)
      return mc_err_set(err, MC_INVALID_ARGUMENT, "case head: case id too long");
    size_t n = sti_head_signed_bytes(case_id, seq, hash, data);
    if (!s->sign(s->sign_arg, ST_HEAD_CONTEXT, data, n, sig))
      return mc_err_set(err, MC_UNAVAILABLE,
                        "case %s: the router could not sign the case file's head", case_id);
    h.signature.data = sig;
    h.signature.len = ST_SIG_BYTES;
  }
  return sti_put_msg(t, s->db[SDB_HEADS], case_id, strlen(case_id), &h.base, 0, err);
}

mc_code sti_head_put(st_txn *t, const char *case_id, uint32_t seq,
                     const uint8_t hash[MC_HASH_BYTES], mc_err *err) {
  return put_head(t, t->owner, case_id, seq, hash, err);
}

/* Moves schema 1's case files (events keyed by case and seq) into the case
 * log, in key order, and empties the old database. */
static mc_code move_case_files(st_txn *t, st_store *s, mc_err *err) {
  MDB_cursor *c;
  mc_code rc = sti_cursor(t, s->db[SDB_EVENTS_V1], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0 && rc == MC_OK;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    const uint8_t *k = key.mv_data;
    size_t idlen = key.mv_size >= 5 ? key.mv_size - 5 : 0;
    if (key.mv_size < 6 || idlen >= MC_CASE_ID_MAX || k[idlen] != 0 ||
        memchr(k, 0, idlen) != NULL) {
      rc = mc_err_set(err, MC_DATA_LOSS, "upgrade: a case-file key is malformed");
      break;
    }
    char id[MC_CASE_ID_MAX];
    memcpy(id, k, idlen);
    id[idlen] = '\0';
    rc = sti_event_append(t, id, sti_get_u32(k + idlen + 1), val.mv_data, val.mv_size, err);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "upgrading");
  if (rc == MC_OK && (lrc = mdb_drop(t->txn, s->db[SDB_EVENTS_V1], 0)) != 0) {
    t->failed = lrc;
    rc = sti_lmdb_err(err, lrc, "store", "upgrading");
  }
  return rc;
}

mc_code sti_upgrade_1_to_2(st_txn *t, mc_err *err) {
  st_store *s = t->owner;
  mc_code rc = move_case_files(t, s, err);
  if (rc != MC_OK)
    return rc;
  MDB_cursor *c;
  rc = sti_cursor(t, s->db[SDB_CASES], &c, err);
  if (rc != MC_OK)
    return rc;
  /* Heads are written while walking cases: a different database, so the
   * cursor is not disturbed. */
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0 && rc == MC_OK;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    char id[MC_CASE_ID_MAX];
    if (key.mv_size == 0 || key.mv_size >= MC_CASE_ID_MAX) {
      rc = mc_err_set(err, MC_DATA_LOSS, "upgrade: a case key is malformed");
      break;
    }
    memcpy(id, key.mv_data, key.mv_size);
    id[key.mv_size] = '\0';
    mv_case *rec;
    if ((rc = sti_case_decode(&val, id, &rec, err)) != MC_OK)
      break;
    if (rec->event_count == 0 || rec->last_event_hash.len != MC_HASH_BYTES)
      rc = mc_err_set(err, MC_DATA_LOSS, "upgrade: case %s has no head to sign", id);
    else
      rc = put_head(t, s, id, rec->event_count, rec->last_event_hash.data, err);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "upgrading");
  return rc;
}

/* ---- The Merkle tree -------------------------------------------------------------------- */

/* RFC 6962's tree hash, built leaf by leaf: a stack of complete subtrees,
 * merged while the two on top have the same height; what remains is folded
 * right to left at the end. Leaves and inner nodes hash with different
 * prefixes (0x00, 0x01), so a leaf can never pass for a node. */
typedef struct merkle {
  uint8_t h[64][32];
  unsigned level[64];
  unsigned n;
  uint64_t leaves;
} merkle;

static void node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32]) {
  crypto_hash_sha256_state st;
  const uint8_t one = 1;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &one, 1);
  crypto_hash_sha256_update(&st, l, 32);
  crypto_hash_sha256_update(&st, r, 32);
  crypto_hash_sha256_final(&st, out);
}

static void merkle_leaf(merkle *m, const char *case_id, uint32_t seq,
                        const uint8_t hash[MC_HASH_BYTES]) {
  uint8_t data[1 + 8 + MC_CASE_ID_MAX + MC_HASH_BYTES];
  data[0] = 0;
  size_t n = 1 + sti_head_signed_bytes(case_id, seq, hash, data + 1);
  crypto_hash_sha256(m->h[m->n], data, n);
  m->level[m->n++] = 0;
  m->leaves++;
  while (m->n >= 2 && m->level[m->n - 1] == m->level[m->n - 2]) {
    node_hash(m->h[m->n - 2], m->h[m->n - 1], m->h[m->n - 2]);
    m->level[m->n - 2]++;
    m->n--;
  }
}

static void merkle_root(merkle *m, uint8_t out[32]) {
  if (m->n == 0) {
    crypto_hash_sha256(out, NULL, 0);
    return;
  }
  uint8_t acc[32];
  memcpy(acc, m->h[m->n - 1], 32);
  for (unsigned i = m->n - 1; i-- > 0;)
    node_hash(m->h[i], acc, acc);
  memcpy(out, acc, 32);
}

/* ---- Anchor lines ------------------------------------------------------------------------ */

static void to_hex(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static bool from_hex(const char *s, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++) {
    int v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[2 * i + j];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0)
        return false;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return true;
}

/* The signed part of an anchor line: everything before " sig=". */
static int anchor_body(char *out, size_t cap, const st_anchor *a) {
  char root[65];
  to_hex(a->root, 32, root);
  return snprintf(out, cap, ANCHOR_TAG " at=%" PRId64 " step=%" PRIu64 " cases=%" PRIu64
                            " root=%s",
                  a->at_ms, a->step, a->cases, root);
}

static bool parse_u64(const char **p, const char *name, uint64_t *out) {
  size_t n = strlen(name);
  if (strncmp(*p, name, n) != 0)
    return false;
  const char *s = *p + n;
  if (*s < '0' || *s > '9')
    return false;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *p = s;
  *out = v;
  return true;
}

mc_code st_anchor_parse(const char *line, st_anchor *out, mc_err *err) {
  if (line == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "anchor: empty");
  while (*line == ' ' || *line == '\t')
    line++;
  const char *p = line;
  st_anchor a;
  uint64_t at;
  memset(&a, 0, sizeof(a));
  if (strncmp(p, ANCHOR_TAG " ", sizeof(ANCHOR_TAG)) != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "anchor: expected a line starting with \"" ANCHOR_TAG "\"");
  p += sizeof(ANCHOR_TAG);
  if (!parse_u64(&p, "at=", &at) || at > INT64_MAX || !parse_u64(&p, " step=", &a.step) ||
      !parse_u64(&p, " cases=", &a.cases) || strncmp(p, " root=", 6) != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "anchor: expected at=<ms> step=<n> cases=<n> root=<hex> sig=<hex>");
  a.at_ms = (int64_t)at;
  p += 6;
  if (strlen(p) < 64 || !from_hex(p, 32, a.root) || strncmp(p + 64, " sig=", 5) != 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "anchor: root must be 64 lower-case hex digits");
  p += 69;
  if (strlen(p) < 2 * ST_SIG_BYTES || !from_hex(p, ST_SIG_BYTES, a.sig))
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "anchor: sig must be 128 lower-case hex digits");
  p += 2 * ST_SIG_BYTES;
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
    p++;
  if (*p != '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "anchor: unexpected text after the signature");
  *out = a;
  return MC_OK;
}

/* The heads of every case, in case-id order, from one snapshot. */
static mc_code current_root(st_txn *t, st_store *s, merkle *m, mc_err *err) {
  MDB_cursor *c;
  mc_code rc = sti_cursor(t, s->db[SDB_HEADS], &c, err);
  if (rc != MC_OK)
    return rc;
  MDB_val key, val;
  int lrc;
  for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0;
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    ProtobufCMessage *msg;
    if ((rc = sti_unpack(&val, &mediation__v1__case_head__descriptor, &msg, "case head",
                         "while anchoring", err)) != MC_OK)
      break;
    st_case_head *h = (st_case_head *)msg;
    if (h->hash.len != MC_HASH_BYTES || strlen(h->case_id) >= MC_CASE_ID_MAX ||
        key.mv_size != strlen(h->case_id) || memcmp(key.mv_data, h->case_id, key.mv_size) != 0)
      rc = mc_err_set(err, MC_DATA_LOSS, "anchor: a case head is malformed (run verify)");
    else
      merkle_leaf(m, h->case_id, h->seq, h->hash.data);
    protobuf_c_message_free_unpacked(msg, NULL);
    if (rc != MC_OK)
      break;
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "store", "reading case heads");
  return rc;
}

mc_code st_anchor_make(st_store *store, int64_t now_ms, char line[ST_ANCHOR_MAX],
                       st_anchor *out, mc_err *err) {
  if (store->sign == NULL)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "anchor: the router has no signing key ([router] public_key)");
  st_txn *t;
  mc_code rc = st_read_begin(store, &t, err);
  if (rc != MC_OK)
    return rc;
  st_anchor a = {.at_ms = now_ms};
  merkle *m = calloc(1, sizeof(*m));
  if (m == NULL)
    rc = mc_err_set(err, MC_UNAVAILABLE, "anchor: out of memory");
  if (rc == MC_OK)
    rc = sti_counter_get(t, store->db[SDB_META], "step", &a.step, err);
  if (rc == MC_OK)
    rc = current_root(t, store, m, err);
  st_read_end(t);
  if (rc == MC_OK) {
    a.cases = m->leaves;
    merkle_root(m, a.root);
  }
  free(m);
  if (rc != MC_OK)
    return rc;
  char body[ST_ANCHOR_MAX];
  int n = anchor_body(body, sizeof(body), &a);
  if (!store->sign(store->sign_arg, ST_ANCHOR_CONTEXT, (const uint8_t *)body, (size_t)n, a.sig))
    return mc_err_set(err, MC_UNAVAILABLE, "anchor: the router could not sign it");
  /* The body is at most ~300 bytes: the line fits ST_ANCHOR_MAX. */
  memcpy(line, body, (size_t)n);
  memcpy(line + n, " sig=", 5);
  to_hex(a.sig, ST_SIG_BYTES, line + n + 5);
  if (out != NULL)
    *out = a;
  return MC_OK;
}

/* ---- Checking an anchor ------------------------------------------------------------------- */

/* A case that appended after the anchor, and the first seq it appended. */
typedef struct later {
  char id[MC_CASE_ID_MAX];
  uint32_t first_seq;
} later;

static int later_cmp(const void *x, const void *y) {
  const later *a = x, *b = y;
  int c = strcmp(a->id, b->id);
  if (c != 0)
    return c;
  return a->first_seq < b->first_seq ? -1 : a->first_seq > b->first_seq;
}

/* Every (case, seq) appended after step `after`, sorted by case then seq;
 * duplicates of a case are left in (the first one is its least seq). */
static mc_code steps_after(st_txn *t, st_store *s, uint64_t after, later **out, size_t *n_out,
                           bool *malformed, mc_err *err) {
  sti_key start;
  sti_key_init(&start);
  sti_key_u64(&start, after + 1);
  MDB_cursor *c;
  mc_code rc = sti_cursor(t, s->db[SDB_CASE_LOG], &c, err);
  if (rc != MC_OK)
    return rc;
  later *arr = NULL;
  size_t n = 0, cap = 0;
  MDB_val key = {.mv_size = start.n, .mv_data = start.b}, val;
  int lrc = after == UINT64_MAX ? MDB_NOTFOUND : mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  for (; lrc == 0; lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    mv_event *ev = key.mv_size == 8 ? mediation__v1__case_event__unpack(NULL, val.mv_size,
                                                                          val.mv_data)
                                     : NULL;
    if (ev == NULL || strlen(ev->case_id) >= MC_CASE_ID_MAX) {
      if (ev != NULL)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
      *malformed = true;
      continue;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 256;
      later *na = realloc(arr, ncap * sizeof(*na));
      if (na == NULL) {
        protobuf_c_message_free_unpacked(&ev->base, NULL);
        rc = mc_err_set(err, MC_UNAVAILABLE, "verify: out of memory");
        break;
      }
      arr = na;
      cap = ncap;
    }
    snprintf(arr[n].id, sizeof(arr[n].id), "%s", ev->case_id);
    arr[n].first_seq = ev->seq;
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    n++;
  }
  mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "verify", "reading steps");
  if (rc != MC_OK) {
    free(arr);
    return rc;
  }
  if (n > 0)
    qsort(arr, n, sizeof(*arr), later_cmp);
  *out = arr;
  *n_out = n;
  return MC_OK;
}

/* The least seq the case appended after the anchor, or 0. */
static uint32_t first_after(const later *arr, size_t n, const char *id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(arr[mid].id, id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && strcmp(arr[lo].id, id) == 0 ? arr[lo].first_seq : 0;
}

mc_code sti_anchor_check(st_txn *t, const st_anchor *a, void (*problem)(void *, const char *),
                         void *arg, mc_err *err) {
  st_store *s = t->owner;
  char msg[400], when[40];
  snprintf(when, sizeof(when), "anchor at=%" PRId64 " step=%" PRIu64, a->at_ms, a->step);
  uint64_t step;
  mc_code rc = sti_counter_get(t, s->db[SDB_META], "step", &step, err);
  if (rc != MC_OK)
    return rc;
  if (step < a->step) {
    snprintf(msg, sizeof(msg),
             "%s: the store has recorded only %" PRIu64
             " steps: it is older than the anchor (rolled back, or restored from an older copy)",
             when, step);
    problem(arg, msg);
    return MC_OK;
  }
  later *after = NULL;
  size_t n_after = 0;
  bool malformed = false;
  if ((rc = steps_after(t, s, a->step, &after, &n_after, &malformed, err)) != MC_OK)
    return rc;
  if (malformed) {
    snprintf(msg, sizeof(msg), "%s: steps: an entry is malformed", when);
    problem(arg, msg);
  }
  merkle *m = calloc(1, sizeof(*m));
  MDB_cursor *c = NULL;
  if (m == NULL)
    rc = mc_err_set(err, MC_UNAVAILABLE, "verify: out of memory");
  if (rc == MC_OK)
    rc = sti_cursor(t, s->db[SDB_CASES], &c, err);
  uint64_t unreadable = 0;
  MDB_val key, val;
  int lrc = MDB_NOTFOUND;
  if (rc == MC_OK)
    lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
  for (; rc == MC_OK && lrc == 0; lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    char id[MC_CASE_ID_MAX];
    if (key.mv_size == 0 || key.mv_size >= MC_CASE_ID_MAX) {
      unreadable++;
      continue;
    }
    memcpy(id, key.mv_data, key.mv_size);
    id[key.mv_size] = '\0';
    mv_case *rec;
    if (sti_case_decode(&val, id, &rec, NULL) != MC_OK) {
      unreadable++;
      continue;
    }
    uint32_t first = first_after(after, n_after, id);
    uint32_t seq = first ? first - 1 : rec->event_count;
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    if (seq == 0)
      continue; /* taken in after the anchor */
    /* The leaf is the hash of the stored event itself: the hash chain
     * inside it binds every earlier event of the file. */
    MDB_val ev;
    mc_code g = sti_event_bytes(t, id, seq, &ev, NULL, err);
    if (g == MC_NOT_FOUND || g == MC_DATA_LOSS) {
      unreadable++;
      continue;
    }
    if (g != MC_OK) {
      rc = g;
      break;
    }
    uint8_t h[MC_HASH_BYTES];
    mc_event_hash_packed(ev.mv_data, ev.mv_size, h);
    merkle_leaf(m, id, seq, h);
  }
  if (c != NULL)
    mdb_cursor_close(c);
  if (rc == MC_OK && lrc != MDB_NOTFOUND)
    rc = sti_lmdb_err(err, lrc, "verify", "scanning cases");
  if (rc == MC_OK) {
    uint8_t root[32];
    merkle_root(m, root);
    if (m->leaves != a->cases || sodium_memcmp(root, a->root, 32) != 0) {
      snprintf(msg, sizeof(msg),
               "%s: the case files as they stood at the anchor do not give its root "
               "(%" PRIu64 " files then, %" PRIu64 " rebuilt now%s): a case file that "
               "existed at the anchor was changed or removed",
               when, a->cases, m->leaves,
               unreadable ? "; some records or events are unreadable" : "");
      problem(arg, msg);
    }
  }
  free(m);
  free(after);
  return rc;
}
