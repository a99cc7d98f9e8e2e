/*
 * verify.c - st_verify: check the whole store against itself.
 *
 * The idea: the case files are the truth, everything else is derived from
 * them, so verify re-derives it. For each case it walks the case file
 * (decoding every event, checking the hash chain), replays it through the
 * state machine (mc_replay_event) and demands the stored record back byte
 * for byte, recomputes the index keys the record implies and looks each up,
 * and adds the figures each step contributes (mc_figures_delta), and holds
 * the file's end against its signed head (seal.c: the signature is checked
 * when the caller gives the router's key, and an anchor when it gives one).
 * Then it
 * compares the other direction: an index with more entries than the records
 * imply, or one whose expected entries went missing, is scanned entry by
 * entry for the strays; the stored figures are compared bucket by bucket
 * with the recomputed ones. Records that do not decode are reported with
 * where they were found; nothing undecodable is trusted.
 *
 * This file walks the case records; verify_sweep.c then checks the other
 * databases against what the walk found.
 *
 * One read snapshot for the whole walk, so concurrent writers do not cause
 * false reports (map growth waits for it; see txn.h).
 */
#include "storage/verify_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/figures.h"
#include "core/machine.h"
#include "core/text.h"

void sti_verify_problem(vctx *v, const char *case_id, uint32_t seq, mc_code code, const char *fmt,
                        ...) {
  char body[320], msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof(body), fmt, ap);
  va_end(ap);
  if (case_id != NULL && seq != 0)
    snprintf(msg, sizeof(msg), "case %s seq %u: %s", case_id, seq, body);
  else if (case_id != NULL)
    snprintf(msg, sizeof(msg), "case %s: %s", case_id, body);
  else
    snprintf(msg, sizeof(msg), "%s", body);
  v->problems++;
  if (v->report != NULL)
    v->report(v->arg, case_id, seq, code, msg);
}

size_t sti_verify_fig_find(const vctx *v, const sti_key *k, bool *found) {
  size_t lo = 0, hi = v->nfig;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    const sti_key *m = &v->figs[mid].key;
    size_t n = m->n < k->n ? m->n : k->n;
    int c = memcmp(m->b, k->b, n);
    if (c == 0)
      c = m->n < k->n ? -1 : m->n > k->n ? 1 : 0;
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

static mc_code fig_add(vctx *v, const mv_bucket *b, const mv_counters *d, mc_err *err) {
  sti_key k;
  sti_figure_key(&k, b);
  if (!sti_key_ok(&k))
    return MC_OK; /* st_case_put refuses such a bucket; the stored side reports it */
  bool found;
  size_t i = sti_verify_fig_find(v, &k, &found);
  if (!found) {
    if (v->nfig == v->capfig) {
      size_t ncap = v->capfig ? v->capfig * 2 : 64;
      fig *nf = realloc(v->figs, ncap * sizeof(*nf));
      if (nf == NULL)
        return mc_err_set(err, MC_UNAVAILABLE, "verify: out of memory");
      v->figs = nf;
      v->capfig = ncap;
    }
    memmove(&v->figs[i + 1], &v->figs[i], (v->nfig - i) * sizeof(*v->figs));
    v->nfig++;
    v->figs[i].key = k;
    mediation__v1__figure_counters__init(&v->figs[i].c);
    v->figs[i].seen = false;
  }
  mc_counters_add(&v->figs[i].c, d);
  return MC_OK;
}

bool sti_verify_same_packed(const ProtobufCMessage *m, const MDB_val *stored) {
  uint8_t *p;
  size_t n;
  if (sti_pack(m, &p, &n, NULL) != MC_OK)
    return false;
  bool same = n == stored->mv_size && memcmp(p, stored->mv_data, n) == 0;
  free(p);
  return same;
}

/* Stored text must pass the checks network input passes. */
static const mc_message_limits disk_limits = {
    .max_string_bytes = 1 << 20,
    .max_bytes_field = 1 << 20,
    .max_repeated = 1 << 20,
    .max_depth = 16,
};

/* ---- One case ------------------------------------------------------------------ */

/* The event at seq names its case and place, is stored canonically, and
 * links to the one before (prev_hash, updated to this event's hash). n:
 * how many entries the walk has met, this one included. */
static void check_event_link(vctx *v, const char *id, uint32_t seq, uint32_t n,
                             const mv_event *ev, const MDB_val *val,
                             uint8_t prev_hash[MC_HASH_BYTES]) {
  if (strcmp(ev->case_id, id) != 0 || ev->seq != seq)
    sti_verify_problem(v, id, seq, MC_DATA_LOSS, "the stored event names case %s seq %u",
                       ev->case_id, ev->seq);
  if (!sti_verify_same_packed(&ev->base, val))
    sti_verify_problem(v, id, seq, MC_DATA_LOSS,
                       "the stored event is not in canonical form (bytes were added or altered)");
  if (seq == 1) {
    if (ev->prev_hash.len != 0)
      sti_verify_problem(v, id, seq, MC_DATA_LOSS, "the first event has a prev_hash");
  } else if (n > 1 && (ev->prev_hash.len != MC_HASH_BYTES ||
                       memcmp(ev->prev_hash.data, prev_hash, MC_HASH_BYTES) != 0)) {
    sti_verify_problem(v, id, seq, MC_DATA_LOSS, "prev_hash does not match seq %u", seq - 1);
  }
  mc_event_hash(ev, prev_hash);
}

/* Replays ev onto *cur (owned; replaced by the next record) and adds its
 * figures. A step that does not replay is a problem and clears *replay_ok;
 * only a failure to record the figures is returned (fatal). */
static mc_code replay_event(vctx *v, const char *id, uint32_t seq, const mv_event *ev,
                            mv_case **cur, bool *replay_ok, mc_err *err) {
  mv_case *next = NULL;
  mc_err e;
  mc_err_clear(&e);
  if (mc_replay_event(v->s->utc_offset_minutes, *cur, ev, &next, &e) != MC_OK) {
    sti_verify_problem(v, id, seq, MC_DATA_LOSS, "does not replay: %s", e.msg);
    *replay_ok = false;
    return MC_OK;
  }
  mv_bucket b;
  mv_counters d;
  mc_code rc;
  if (mc_figures_delta(*cur, next, ev, v->s->utc_offset_minutes, &b, &d) &&
      (rc = fig_add(v, &b, &d, err)) != MC_OK) {
    protobuf_c_message_free_unpacked(&next->base, NULL);
    return rc;
  }
  if (*cur != NULL)
    protobuf_c_message_free_unpacked(&(*cur)->base, NULL);
  *cur = next;
  return MC_OK;
}

/* The record's count and head must be the case file's. */
static void check_record_head(vctx *v, const char *id, const mv_case *rec, uint32_t expect,
                              uint32_t n, const uint8_t prev_hash[MC_HASH_BYTES]) {
  if (rec->event_count != expect - 1 || rec->event_count != n)
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the record counts %u events, the case file holds %u",
                       rec->event_count, n);
  else if (n > 0 && (rec->last_event_hash.len != MC_HASH_BYTES ||
                     memcmp(rec->last_event_hash.data, prev_hash, MC_HASH_BYTES) != 0))
    sti_verify_problem(v, id, n, MC_DATA_LOSS,
                       "its hash does not match the record's last_event_hash");
}

/* Walks the case file of `id`: decoding, chain, replay, figures. Returns the
 * replayed record (owned) when the whole file replayed, else NULL. */
static mv_case *walk_case_file(vctx *v, const char *id, const mv_case *rec, mc_err *err,
                               mc_code *fatal) {
  sti_key prefix;
  sti_key_init(&prefix);
  sti_key_strz(&prefix, id);
  MDB_cursor *c;
  if ((*fatal = sti_cursor(v->t, v->s->db[SDB_CASE_FILES], &c, err)) != MC_OK)
    return NULL;
  mv_case *cur = NULL;
  bool replay_ok = true;
  uint8_t prev_hash[MC_HASH_BYTES];
  uint32_t expect = 1, n = 0;
  MDB_val key = {.mv_size = prefix.n, .mv_data = prefix.b}, val;
  int lrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
  for (; lrc == 0 && sti_has_prefix(&key, prefix.b, prefix.n);
       lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
    v->events_seen++;
    n++;
    if (key.mv_size != prefix.n + 4) {
      sti_verify_problem(v, id, 0, MC_DATA_LOSS, "malformed case-file key");
      replay_ok = false;
      continue;
    }
    uint32_t seq = sti_get_u32((const uint8_t *)key.mv_data + prefix.n);
    if (seq != expect) {
      if (seq > expect)
        sti_verify_problem(v, id, expect, MC_DATA_LOSS,
                           "missing from the case file (next is seq %u)", seq);
      else
        sti_verify_problem(v, id, seq, MC_DATA_LOSS, "out of order in the case file");
      replay_ok = false;
    }
    expect = seq + 1;
    /* The entry names the step under which the case log holds the event. */
    if (val.mv_size != 8) {
      sti_verify_problem(v, id, seq, MC_DATA_LOSS, "malformed case-file entry");
      replay_ok = false;
      continue;
    }
    uint8_t step[8];
    memcpy(step, val.mv_data, 8);
    mc_code g = sti_get(v->t, v->s->db[SDB_CASE_LOG], step, 8, &val, err);
    if (g == MC_NOT_FOUND) {
      sti_verify_problem(v, id, seq, MC_DATA_LOSS, "missing from the case log (step %llu)",
                         (unsigned long long)sti_get_u64(step));
      replay_ok = false;
      continue;
    }
    if (g != MC_OK) {
      *fatal = g;
      break;
    }
    mc_err e;
    mc_err_clear(&e);
    if (mc_wire_check(&mediation__v1__case_event__descriptor, val.mv_data, val.mv_size,
                      &disk_limits, &e) != MC_OK) {
      sti_verify_problem(v, id, seq, MC_DATA_LOSS, "the stored event is malformed (%s)", e.msg);
      replay_ok = false;
      continue;
    }
    mv_event *ev = (mv_event *)protobuf_c_message_unpack(&mediation__v1__case_event__descriptor,
                                                         NULL, val.mv_size, val.mv_data);
    if (ev == NULL) {
      sti_verify_problem(v, id, seq, MC_DATA_LOSS, "the stored event does not decode");
      replay_ok = false;
      continue;
    }
    check_event_link(v, id, seq, n, ev, &val, prev_hash);
    if (replay_ok && (*fatal = replay_event(v, id, seq, ev, &cur, &replay_ok, err)) != MC_OK) {
      protobuf_c_message_free_unpacked(&ev->base, NULL);
      break;
    }
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  }
  mdb_cursor_close(c);
  if (*fatal == MC_OK && lrc != 0 && lrc != MDB_NOTFOUND)
    *fatal = sti_lmdb_err(err, lrc, "verify", "reading a case file");
  if (*fatal != MC_OK) {
    if (cur != NULL)
      protobuf_c_message_free_unpacked(&cur->base, NULL);
    return NULL;
  }
  if (n == 0)
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the case file is empty");
  if (rec != NULL)
    check_record_head(v, id, rec, expect, n, prev_hash);
  if (!replay_ok || n == 0) {
    v->unreplayed++;
    if (cur != NULL)
      protobuf_c_message_free_unpacked(&cur->base, NULL);
    return NULL;
  }
  return cur;
}

/* The signed head must be the record's head, signed by the router. */
static mc_code check_head(vctx *v, const char *id, const mv_case *rec, mc_err *err) {
  ProtobufCMessage *m;
  mc_err e;
  mc_code rc = sti_get_msg(v->t, v->s->db[SDB_HEADS], id, strlen(id),
                           &mediation__v1__case_head__descriptor, &m, "case head of", id, &e);
  if (rc == MC_NOT_FOUND) {
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "no signed head is stored for the case file");
    return MC_OK;
  }
  if (rc == MC_DATA_LOSS) {
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the signed head does not decode");
    return MC_OK;
  }
  if (rc != MC_OK) {
    if (err != NULL)
      *err = e;
    return rc;
  }
  const st_case_head *h = (const st_case_head *)m;
  if (strcmp(h->case_id, id) != 0 || h->hash.len != MC_HASH_BYTES)
    sti_verify_problem(v, id, 0, MC_DATA_LOSS,
                       "the signed head is malformed or names another case");
  else if (h->seq != rec->event_count || rec->last_event_hash.len != MC_HASH_BYTES ||
           memcmp(h->hash.data, rec->last_event_hash.data, MC_HASH_BYTES) != 0)
    sti_verify_problem(v, id, rec->event_count, MC_DATA_LOSS,
                       "the case file does not end where its signed head says (seq %u): it was "
                       "rewritten or truncated",
                       h->seq);
  else if (v->check != NULL) {
    uint8_t data[8 + MC_CASE_ID_MAX + MC_HASH_BYTES];
    size_t n = sti_head_signed_bytes(id, h->seq, h->hash.data, data);
    if (h->signature.len == 0)
      sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the case file's head is not signed");
    else if (!v->check(v->check_arg, ST_HEAD_CONTEXT, data, n, h->signature.data, h->signature.len))
      sti_verify_problem(v, id, h->seq, MC_DATA_LOSS,
                         "the signature of the case file's head does not verify with the router's "
                         "public key: the file was rewritten and re-signed by someone else");
  }
  protobuf_c_message_free_unpacked(m, NULL);
  return MC_OK;
}

static mc_code check_case(vctx *v, const MDB_val *key, const MDB_val *val, mc_err *err) {
  char id[MC_CASE_ID_MAX];
  if (key->mv_size == 0 || key->mv_size >= MC_CASE_ID_MAX ||
      memchr(key->mv_data, 0, key->mv_size) != NULL) {
    sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "cases: a key is not a case id");
    return MC_OK;
  }
  memcpy(id, key->mv_data, key->mv_size);
  id[key->mv_size] = '\0';
  int year;
  uint64_t serial;
  if (!mc_case_id_parse(id, &year, &serial)) {
    sti_verify_problem(v, NULL, 0, MC_DATA_LOSS, "cases: a key is not a case id");
    return MC_OK;
  }
  if (year >= 1000 && year <= 9999 && serial > v->max_serial[year - 1000])
    v->max_serial[year - 1000] = serial;

  mv_case *rec = NULL;
  mc_err e;
  mc_err_clear(&e);
  if (mc_wire_check(&mediation__v1__case__descriptor, val->mv_data, val->mv_size, &disk_limits,
                    &e) != MC_OK)
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the stored record is malformed (%s)", e.msg);
  else if ((rec = mediation__v1__case__unpack(NULL, val->mv_size, val->mv_data)) == NULL)
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the stored record does not decode");
  else if (strcmp(rec->id, id) != 0) {
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "the stored record names another case (%s)",
                       rec->id);
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    rec = NULL;
  }

  mc_code fatal = MC_OK;
  mv_case *replayed = walk_case_file(v, id, rec, err, &fatal);
  if (fatal != MC_OK) {
    if (rec != NULL)
      protobuf_c_message_free_unpacked(&rec->base, NULL);
    return fatal;
  }
  if (replayed != NULL) {
    if (rec != NULL && !sti_verify_same_packed(&replayed->base, val))
      sti_verify_problem(v, id, 0, MC_DATA_LOSS,
                         "replaying the case file does not give the stored record");
    protobuf_c_message_free_unpacked(&replayed->base, NULL);
  }
  if (rec == NULL)
    return MC_OK;
  v->records++;
  if ((fatal = check_head(v, id, rec, err)) != MC_OK) {
    protobuf_c_message_free_unpacked(&rec->base, NULL);
    return fatal;
  }

  if (rec->state > 0 && rec->state < MC_STATE_COUNT)
    v->states[rec->state]++;
  sti_ixent *keys;
  size_t nk;
  if (sti_case_keys(v->s, rec, &keys, &nk, &e) != MC_OK) {
    sti_verify_problem(v, id, 0, MC_DATA_LOSS, "its record cannot be indexed: %s", e.msg);
  } else {
    for (size_t i = 0; i < nk; i++) {
      v->expected[keys[i].db]++;
      MDB_val got;
      mc_code rc = sti_get(v->t, v->s->db[keys[i].db], keys[i].key.b, keys[i].key.n, &got, err);
      if (rc == MC_NOT_FOUND) {
        v->missing[keys[i].db] = true;
        sti_verify_problem(v, id, 0, MC_INTERNAL, "%s: the entry its record implies is missing",
                           sti_store_db_names[keys[i].db]);
      } else if (rc != MC_OK) {
        free(keys);
        protobuf_c_message_free_unpacked(&rec->base, NULL);
        return rc;
      }
    }
    free(keys);
  }
  protobuf_c_message_free_unpacked(&rec->base, NULL);
  return MC_OK;
}

/* ---- The walk ------------------------------------------------------------------------- */

static void anchor_problem(void *arg, const char *msg) {
  sti_verify_problem(arg, NULL, 0, MC_DATA_LOSS, "%s", msg);
}

mc_code st_verify(st_store *store, st_report_fn report, void *arg, uint64_t *problems,
                  mc_err *err) {
  return st_verify_with(store, NULL, report, arg, problems, err);
}

mc_code st_verify_with(st_store *store, const st_verify_options *opts, st_report_fn report,
                       void *arg, uint64_t *problems, mc_err *err) {
  vctx v = {.s = store, .report = report, .arg = arg};
  st_anchor anchor;
  bool anchored = opts != NULL && opts->anchor != NULL;
  if (opts != NULL) {
    v.check = opts->check;
    v.check_arg = opts->check_arg;
  }
  if (anchored) {
    mc_code rc = st_anchor_parse(opts->anchor, &anchor, err);
    if (rc != MC_OK)
      return rc;
    if (v.check == NULL)
      return mc_err_set(err, MC_INVALID_ARGUMENT,
                        "verify: an anchor can only be checked with the router's public key "
                        "([router] public_key)");
    /* The signed part is the line up to " sig=", as st_anchor_make wrote it. */
    const char *line = opts->anchor;
    while (*line == ' ' || *line == '\t')
      line++;
    const char *sig = strstr(line, " sig=");
    if (sig == NULL ||
        !v.check(v.check_arg, ST_ANCHOR_CONTEXT, (const uint8_t *)line, (size_t)(sig - line),
                 anchor.sig, ST_SIG_BYTES))
      return mc_err_set(err, MC_UNAUTHENTICATED,
                        "verify: the anchor's signature does not verify with the router's "
                        "public key (forged, edited, or from another router)");
  }
  v.max_serial = calloc(9000, sizeof(*v.max_serial));
  if (v.max_serial == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "verify: out of memory");
  mc_code rc = st_read_begin(store, &v.t, err);
  if (rc != MC_OK) {
    free(v.max_serial);
    return rc;
  }
  MDB_cursor *c;
  rc = sti_cursor(v.t, store->db[SDB_CASES], &c, err);
  if (rc == MC_OK) {
    MDB_val key, val;
    int lrc;
    for (lrc = mdb_cursor_get(c, &key, &val, MDB_FIRST); lrc == 0 && rc == MC_OK;
         lrc = mdb_cursor_get(c, &key, &val, MDB_NEXT))
      rc = check_case(&v, &key, &val, err);
    mdb_cursor_close(c);
    if (rc == MC_OK && lrc != MDB_NOTFOUND)
      rc = sti_lmdb_err(err, lrc, "verify", "scanning cases");
  }
  if (rc == MC_OK)
    rc = sti_verify_sweep(&v, err);
  if (rc == MC_OK && anchored)
    rc = sti_anchor_check(v.t, &anchor, anchor_problem, &v, err);
  st_read_end(v.t);
  free(v.figs);
  free(v.max_serial);
  if (rc != MC_OK)
    return rc;
  if (problems != NULL)
    *problems = v.problems;
  return MC_OK;
}
