/*
 * raftcodec.c - a batch of the router's jobs as one raft entry, and back
 * ([storage] mode = raft, router/raftlog.c). The entry holds the requests
 * as they came (kind, caller, request id, the router's clock, the packed
 * request), so that applying it again runs the same deterministic code on
 * the same state; docs/architecture.md says why not the decided effects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/raftlog.h"

#define ENTRY_MAGIC 0x4d524231u /* "MRB1": a batch of router jobs, format 1 */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  bool failed;
} wbuf;

static void put(wbuf *w, const void *src, size_t n) {
  if (w->failed)
    return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 1024;
    while (cap < w->len + n)
      cap *= 2;
    uint8_t *p = raft_realloc(w->p, cap);
    if (p == NULL) {
      w->failed = true;
      return;
    }
    w->p = p;
    w->cap = cap;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}

static void put_u64(wbuf *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (56 - 8 * i));
  put(w, b, 8);
}

static void put_u32(wbuf *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  put(w, b, 4);
}

static void put_msg(wbuf *w, const ProtobufCMessage *m) {
  size_t n = m != NULL ? protobuf_c_message_get_packed_size(m) : 0;
  put_u32(w, (uint32_t)n);
  if (n == 0 || w->failed)
    return;
  uint8_t *tmp = malloc(n);
  if (tmp == NULL) {
    w->failed = true;
    return;
  }
  protobuf_c_message_pack(m, tmp);
  put(w, tmp, n);
  free(tmp);
}

/* The entry of a batch:
 *   u32 magic, u64 token, u32 jobs, then per job:
 *   u8 kind, u8 caller length, caller id, request id (RPC_REQUEST_ID_BYTES),
 *   u64 now_ms, u32 length + the packed request (ApplyRequest,
 *   AckDeliveriesRequest, or the AccessRecord). Big-endian; zeros after
 *   the last job up to a multiple of 8 bytes. */
mc_code rl_encode(uint64_t token, rt_job **jobs, size_t n, struct raft_buffer *out,
                      mc_err *err) {
  wbuf w = {0};
  put_u32(&w, ENTRY_MAGIC);
  put_u64(&w, token);
  put_u32(&w, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    const rt_job *j = jobs[i];
    const char *caller = j->caller != NULL ? j->caller->id : "";
    size_t clen = strlen(caller);
    if (clen > 255) {
      raft_free(w.p);
      return mc_err_set(err, MC_INVALID_ARGUMENT, "a caller id of %zu bytes", clen);
    }
    uint8_t head[2] = {(uint8_t)j->kind, (uint8_t)clen};
    put(&w, head, 2);
    put(&w, caller, clen);
    put(&w, j->request_id, RPC_REQUEST_ID_BYTES);
    put_u64(&w, (uint64_t)j->now_ms);
    put_msg(&w, j->kind == RT_JOB_ACCESS ? &j->access->base : j->request);
  }
  /* raft_uv's segments need every entry a multiple of 8 bytes long (it
   * asserts it, and Debian's build has no asserts: an odd length writes a
   * segment it cannot load again). */
  static const uint8_t zeros[8];
  put(&w, zeros, (8 - w.len % 8) % 8);
  if (w.failed) {
    raft_free(w.p);
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory making a raft entry");
  }
  out->base = w.p;
  out->len = w.len;
  return MC_OK;
}

typedef struct rbuf {
  const uint8_t *p;
  size_t len, at;
  bool bad;
} rbuf;

static const uint8_t *take(rbuf *r, size_t n) {
  if (r->bad || r->len - r->at < n) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *p = r->p + r->at;
  r->at += n;
  return p;
}

static uint64_t get_u64(rbuf *r) {
  const uint8_t *p = take(r, 8);
  uint64_t v = 0;
  for (int i = 0; p != NULL && i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static uint32_t get_u32(rbuf *r) {
  const uint8_t *p = take(r, 4);
  return p == NULL ? 0 : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t rl_entry_token(const struct raft_buffer *buf) {
  rbuf r = {buf->base, buf->len, 0, false};
  uint32_t magic = get_u32(&r);
  uint64_t token = get_u64(&r);
  return r.bad || magic != ENTRY_MAGIC ? 0 : token;
}

/* Decodes an entry into jobs with no call (a replay): each owns its
 * request. *out is an array of *n jobs, freed by free_replayed. */
void rl_free_replayed(rt_job **jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (jobs[i] == NULL)
      continue;
    if (jobs[i]->request != NULL)
      protobuf_c_message_free_unpacked((ProtobufCMessage *)jobs[i]->request, NULL);
    rt_job_free(jobs[i]);
  }
  free(jobs);
}

mc_code rl_decode(rt_router *rt, const struct raft_buffer *buf, rt_job ***out, size_t *n_out,
                      mc_err *err) {
  rbuf r = {buf->base, buf->len, 0, false};
  if (get_u32(&r) != ENTRY_MAGIC)
    return mc_err_set(err, MC_DATA_LOSS, "a raft entry that is not a batch of router jobs");
  (void)get_u64(&r);
  uint32_t n = get_u32(&r);
  if (r.bad || n > (buf->len / 8))
    return mc_err_set(err, MC_DATA_LOSS, "a raft entry cut short (%u jobs)", n);
  rt_job **jobs = calloc(n ? n : 1, sizeof(*jobs));
  if (jobs == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "out of memory replaying a raft entry");
  mc_code rc = MC_OK;
  for (uint32_t i = 0; i < n && rc == MC_OK; i++) {
    rt_job *j = jobs[i] = calloc(1, sizeof(*j));
    const uint8_t *head = take(&r, 2);
    if (j == NULL || head == NULL) {
      rc = mc_err_set(err, j == NULL ? MC_UNAVAILABLE : MC_DATA_LOSS, "replaying job %u", i);
      break;
    }
    j->kind = (rt_job_kind)head[0];
    j->reg = rt->reg;
    char caller[256];
    const uint8_t *cp = take(&r, head[1]);
    const uint8_t *rid = take(&r, RPC_REQUEST_ID_BYTES);
    j->now_ms = (int64_t)get_u64(&r);
    uint32_t mlen = get_u32(&r);
    const uint8_t *mp = take(&r, mlen);
    if (r.bad) {
      rc = mc_err_set(err, MC_DATA_LOSS, "a raft entry cut short at job %u", i);
      break;
    }
    memcpy(caller, cp, head[1]);
    caller[head[1]] = '\0';
    memcpy(j->request_id, rid, RPC_REQUEST_ID_BYTES);
    if (j->kind != RT_JOB_ACCESS) {
      j->caller = mc_registry_principal(rt->reg, caller);
      if (j->caller == NULL) {
        rc = mc_err_set(err, MC_FAILED_PRECONDITION,
                        "replaying the log: caller %s is no longer in the registry; "
                        "restore its entry to replay",
                        caller);
        break;
      }
    }
    switch (j->kind) {
    case RT_JOB_APPLY:
      j->request = &mediation__v1__apply_request__unpack(NULL, mlen, mp)->base;
      break;
    case RT_JOB_ACK:
      j->request = &mediation__v1__ack_deliveries_request__unpack(NULL, mlen, mp)->base;
      break;
    case RT_JOB_ACCESS:
      j->access = mediation__v1__access_record__unpack(NULL, mlen, mp);
      break;
    default:
      rc = mc_err_set(err, MC_DATA_LOSS, "a raft entry with a job of kind %d", (int)j->kind);
      break;
    }
    if (rc == MC_OK && (j->kind == RT_JOB_ACCESS ? j->access == NULL : j->request == NULL))
      rc = mc_err_set(err, MC_DATA_LOSS, "a raft entry whose job %u does not unpack", i);
  }
  if (rc != MC_OK) {
    rl_free_replayed(jobs, n);
    return rc;
  }
  *out = jobs;
  *n_out = n;
  return MC_OK;
}
