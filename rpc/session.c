/*
 * session.c - the server's sessions: the built-in RpcSession/Open method and
 * the bounded table that maps a session id to its principal and key.
 *
 * The idea: a request signed with Ed25519 costs ~24 us to sign and ~62 us to
 * verify here; a BLAKE2b MAC costs about a microsecond. So a client signs one
 * RpcSession/Open, both sides derive a shared key from ephemeral X25519 keys
 * (identity.c, rpc_session_derive), and its later requests carry a MAC under
 * that key. Identity is still proven by the principal's registry key (only a
 * signed Open makes a session); the deadline and the idempotency record
 * still bound replays, because the MAC covers the same bytes a signature
 * would.
 *
 * The table is fixed-size and lives in sodium_malloc'd memory (guard pages,
 * wiped when freed; each key is wiped when its session goes). Lookup is O(1):
 * a chained hash on the session id. The ids are random bytes the server
 * chose, so their first four bytes are a uniform hash already, and a peer
 * cannot choose ids that collide; a peer's lookups only walk one short
 * chain. Every session has the same lifetime, so the order sessions were
 * opened in is the order they expire in: one list, oldest first, lets expired
 * ones be dropped from its head at each Open. Each principal also has its own
 * list, so that its cap drops its own oldest session and no other
 * principal's: one busy or misbehaving caller cannot push the others out.
 * When the table is full of live sessions an Open is refused
 * RESOURCE_EXHAUSTED and clients sign their requests instead.
 *
 * One mutex guards the table; it is held for a lookup and a 32-byte copy,
 * never for crypto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/clock.h"
#include "core/i18n.h"
#include "core/log.h"
#include "rpc/internal.h"

#define NIL UINT32_MAX

typedef struct entry {
  uint8_t id[RPC_SESSION_ID_BYTES];
  uint8_t key[RPC_SESSION_KEY_BYTES];
  int64_t expires_mono;
  uint32_t principal;    /* index into reg->principals */
  uint32_t hnext;        /* bucket chain; or the free list when unused */
  uint32_t prev, next;   /* the age list: every live session, oldest first */
  uint32_t pprev, pnext; /* this principal's sessions, oldest first */
} entry;

typedef struct plist {
  uint32_t head, tail, count;
} plist;

struct rpc_sessions {
  const mc_registry *reg;
  int64_t lifetime_ms;
  uint32_t cap, per_cap;
  pthread_mutex_t mtx; /* guards what follows */
  entry *entries;      /* cap of them; sodium_malloc'd: holds the keys */
  uint32_t *buckets;
  uint32_t mask;
  uint32_t count, free_head;
  uint32_t age_head, age_tail;
  plist *per; /* one per registry principal */
  rpc_session_stats stats;
};

static uint32_t bucket_of(const rpc_sessions *t, const uint8_t *id) {
  return ((uint32_t)id[0] | (uint32_t)id[1] << 8 | (uint32_t)id[2] << 16 |
          (uint32_t)id[3] << 24) &
         t->mask;
}

mc_code rpc__sessions_create(const mc_registry *reg, unsigned max_sessions,
                             unsigned per_principal, int64_t lifetime_ms, rpc_sessions **out,
                             mc_err *err) {
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  rpc_sessions *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&t->mtx, NULL);
  t->reg = reg;
  t->lifetime_ms = lifetime_ms;
  t->cap = max_sessions;
  t->per_cap = per_principal < max_sessions ? per_principal : max_sessions;
  uint32_t nb = 16;
  while (nb < 2 * t->cap)
    nb <<= 1; /* load factor at most 1/2: chains stay short */
  t->mask = nb - 1;
  t->entries = sodium_allocarray(t->cap, sizeof(entry));
  t->buckets = malloc(nb * sizeof(uint32_t));
  t->per = calloc(reg->n_principals ? reg->n_principals : 1, sizeof(plist));
  if (t->entries == NULL || t->buckets == NULL || t->per == NULL) {
    rpc__sessions_free(t);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for %u sessions",
                      max_sessions);
  }
  memset(t->entries, 0, (size_t)t->cap * sizeof(entry));
  for (uint32_t i = 0; i < nb; i++)
    t->buckets[i] = NIL;
  for (uint32_t i = 0; i < t->cap; i++)
    t->entries[i].hnext = i + 1 < t->cap ? i + 1 : NIL;
  t->free_head = 0;
  t->age_head = t->age_tail = NIL;
  for (size_t i = 0; i < reg->n_principals; i++)
    t->per[i] = (plist){NIL, NIL, 0};
  *out = t;
  return MC_OK;
}

void rpc__sessions_free(rpc_sessions *t) {
  if (t == NULL)
    return;
  pthread_mutex_destroy(&t->mtx);
  if (t->entries != NULL)
    sodium_free(t->entries); /* wipes every key */
  free(t->buckets);
  free(t->per);
  free(t);
}

/* Unlinks entry i from everything, wipes it and frees its slot. */
static void drop(rpc_sessions *t, uint32_t i) {
  entry *e = &t->entries[i];
  uint32_t *link = &t->buckets[bucket_of(t, e->id)];
  while (*link != i)
    link = &t->entries[*link].hnext;
  *link = e->hnext;
  if (e->prev != NIL)
    t->entries[e->prev].next = e->next;
  else
    t->age_head = e->next;
  if (e->next != NIL)
    t->entries[e->next].prev = e->prev;
  else
    t->age_tail = e->prev;
  plist *pl = &t->per[e->principal];
  if (e->pprev != NIL)
    t->entries[e->pprev].pnext = e->pnext;
  else
    pl->head = e->pnext;
  if (e->pnext != NIL)
    t->entries[e->pnext].pprev = e->pprev;
  else
    pl->tail = e->pprev;
  pl->count--;
  sodium_memzero(e, sizeof(*e));
  e->hnext = t->free_head;
  t->free_head = i;
  t->count--;
}

static uint32_t find(const rpc_sessions *t, const uint8_t *id) {
  /* memcmp, not constant time: an id is no secret (it travels in every
   * request); the key it names is, and it never leaves the table here. */
  for (uint32_t i = t->buckets[bucket_of(t, id)]; i != NIL; i = t->entries[i].hnext)
    if (memcmp(t->entries[i].id, id, RPC_SESSION_ID_BYTES) == 0)
      return i;
  return NIL;
}

static void drop_expired(rpc_sessions *t, int64_t now_mono) {
  while (t->age_head != NIL && t->entries[t->age_head].expires_mono <= now_mono) {
    drop(t, t->age_head);
    t->stats.expired++;
  }
}

/* Adds session id for principal index p. Errors: RESOURCE_EXHAUSTED (full
 * of live sessions), ALREADY_EXISTS (the id is taken). */
static mc_code insert(rpc_sessions *t, uint32_t p, const uint8_t id[RPC_SESSION_ID_BYTES],
                      const uint8_t key[RPC_SESSION_KEY_BYTES], int64_t *expires_mono,
                      mc_err *err) {
  int64_t now = mc_mono_ms();
  pthread_mutex_lock(&t->mtx);
  drop_expired(t, now);
  /* 128 random bits do not collide in practice; a repeat would mean a
   * broken random source, and still must not alias another session. */
  if (find(t, id) != NIL) {
    pthread_mutex_unlock(&t->mtx);
    return mc_err_set(err, MC_ALREADY_EXISTS, "session id drawn twice");
  }
  if (t->per[p].count >= t->per_cap) {
    drop(t, t->per[p].head);
    t->stats.evicted++;
  }
  if (t->count == t->cap) {
    t->stats.refused_full++;
    pthread_mutex_unlock(&t->mtx);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      _("the server's session table is full (%u live sessions); sign each "
                        "request instead, or try again later"),
                      t->cap);
  }
  uint32_t i = t->free_head;
  entry *e = &t->entries[i];
  t->free_head = e->hnext;
  memcpy(e->id, id, RPC_SESSION_ID_BYTES);
  memcpy(e->key, key, RPC_SESSION_KEY_BYTES);
  e->expires_mono = now + t->lifetime_ms;
  *expires_mono = e->expires_mono;
  e->principal = p;
  uint32_t b = bucket_of(t, id);
  e->hnext = t->buckets[b];
  t->buckets[b] = i;
  e->next = NIL;
  e->prev = t->age_tail;
  if (t->age_tail != NIL)
    t->entries[t->age_tail].next = i;
  else
    t->age_head = i;
  t->age_tail = i;
  plist *pl = &t->per[p];
  e->pnext = NIL;
  e->pprev = pl->tail;
  if (pl->tail != NIL)
    t->entries[pl->tail].pnext = i;
  else
    pl->head = i;
  pl->tail = i;
  pl->count++;
  t->count++;
  t->stats.opened++;
  pthread_mutex_unlock(&t->mtx);
  return MC_OK;
}

rpc_session_found rpc__sessions_key(rpc_sessions *t, const uint8_t id[RPC_SESSION_ID_BYTES],
                                    const mc_principal *caller,
                                    uint8_t key[RPC_SESSION_KEY_BYTES]) {
  uint32_t p = (uint32_t)(caller - t->reg->principals);
  int64_t now = mc_mono_ms();
  rpc_session_found found;
  pthread_mutex_lock(&t->mtx);
  uint32_t i = find(t, id);
  if (i == NIL) {
    found = RPC_SESSION_UNKNOWN;
    t->stats.unknown++;
  } else if (t->entries[i].expires_mono <= now) {
    drop(t, i);
    t->stats.expired++;
    t->stats.unknown++;
    found = RPC_SESSION_UNKNOWN;
  } else if (t->entries[i].principal != p) {
    found = RPC_SESSION_NOT_CALLERS;
  } else {
    memcpy(key, t->entries[i].key, RPC_SESSION_KEY_BYTES);
    found = RPC_SESSION_FOUND;
  }
  pthread_mutex_unlock(&t->mtx);
  return found;
}

void rpc_server_session_stats(rpc_server *srv, rpc_session_stats *out) {
  rpc_sessions *t = srv->sessions;
  pthread_mutex_lock(&t->mtx);
  *out = t->stats;
  out->live = t->count;
  pthread_mutex_unlock(&t->mtx);
  out->by_mac = atomic_load(&srv->by_mac);
  out->by_signature = atomic_load(&srv->by_signature);
}

/* --- RpcSession/Open --- */

#define SERVER_OF_SESSION(ptr)                                                                   \
  ((rpc_server *)((char *)(ptr) - offsetof(rpc_server, session_service)))

static void session_open(Mediation__V1__RpcSession_Service *svc,
                         const Mediation__V1__SessionOpenRequest *in,
                         Mediation__V1__SessionOpenReply_Closure done, void *closure_data) {
  rpc_server *srv = SERVER_OF_SESSION(svc);
  rpc_call *call = closure_data;
  rpc_sessions *t = srv->sessions;
  /* A session must not extend itself: a stolen session key would otherwise
   * live for ever. Only the principal's own key opens one. */
  if (call->by_session) {
    rpc_call_fail(call, MC_UNAUTHENTICATED,
                  _("RpcSession/Open must be signed with the caller's key, not MAC'd with a "
                    "session"));
    return;
  }
  if (in->client_public_key.len != RPC_KX_KEY_BYTES) {
    rpc_call_fail(call, MC_INVALID_ARGUMENT,
                  _("client_public_key must be %d bytes (an X25519 public key), not %zu"),
                  RPC_KX_KEY_BYTES, in->client_public_key.len);
    return;
  }
  const mc_principal *caller = rpc_call_caller(call);
  const uint8_t *cpk = in->client_public_key.data;
  uint8_t spk[RPC_KX_KEY_BYTES], ssk[RPC_KX_KEY_BYTES], key[RPC_SESSION_KEY_BYTES];
  uint8_t id[RPC_SESSION_ID_BYTES];
  int64_t expires_mono = 0;
  mc_err err = {0};
  mc_code rc = rpc_session_keypair(spk, ssk, &err);
  /* The id is part of what the key is bound to, so it is drawn first; the
   * crypto runs outside the table's lock. */
  for (int tries = 0; rc == MC_OK && tries < 3; tries++) {
    randombytes_buf(id, sizeof(id));
    rc = rpc_session_derive(ssk, false, cpk, spk, caller->id, id, key, &err);
    if (rc == MC_OK)
      rc = insert(t, (uint32_t)(caller - srv->reg->principals), id, key, &expires_mono, &err);
    if (rc != MC_ALREADY_EXISTS)
      break;
  }
  sodium_memzero(ssk, sizeof(ssk));
  sodium_memzero(key, sizeof(key));
  if (rc == MC_ALREADY_EXISTS) {
    mc_log(MC_LOG_ERR, NULL, "rpc: the random source repeats session ids");
    rc = mc_err_set(&err, MC_INTERNAL, _("could not draw a fresh session id"));
  }
  if (rc != MC_OK) {
    rpc_call_fail_err(call, &err);
    return;
  }
  Mediation__V1__SessionOpenReply out = MEDIATION__V1__SESSION_OPEN_REPLY__INIT;
  out.session_id = (ProtobufCBinaryData){sizeof(id), id};
  out.server_public_key = (ProtobufCBinaryData){sizeof(spk), spk};
  /* The table keeps time on the monotonic clock; the reply says when in the
   * Unix time a client's deadlines use. */
  out.expires_ms = mc_now_ms() + (expires_mono - mc_mono_ms());
  done(&out, call);
}

mc_code rpc__sessions_register(rpc_server *srv, mc_err *err) {
  srv->session_service =
      (Mediation__V1__RpcSession_Service)MEDIATION__V1__RPC_SESSION__INIT(session_);
  return rpc_server_register(srv, &srv->session_service.base, err);
}
