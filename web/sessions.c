/*
 * sessions.c - who is logged in: the session table, the cookie, the CSRF
 * token, and the per-address login failure counter.
 *
 * Sessions live in memory only: a restart logs everyone out, which is the
 * safe direction (nothing to steal from disk). An id is 32 random bytes
 * (randombytes_buf), sent as 64 hex digits in the mw_session cookie; each
 * session has its own CSRF token (32 more random bytes) that every POST but
 * login must echo in X-CSRF-Token. A session ends idle_ms after its last use
 * or absolute_ms after login, whichever comes first, or at logout. The table
 * is bounded: a full table first drops expired sessions, then the least
 * recently used, so a flood of logins cannot grow memory. A lookup scans
 * the slots comparing a SipHash of the id under a key drawn at start (so
 * its timing says nothing an attacker can relate to the id's bytes), and
 * compares the whole id of a slot whose hash matches with sodium_memcmp
 * (constant time). Comparing every slot's id in constant time instead cost
 * ~100 us per request under the table's lock: the gateway's throughput.
 *
 * The failure counter is the per-client-address half of the lockout
 * (web/accounts.h keeps the per-account half): five failed logins in a row
 * from one address refuse that address for 15 minutes, whatever names it
 * tries. It is bounded too (oldest entry replaced).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "web/web.h"

typedef struct wg_slot {
  bool used;
  uint64_t tag; /* keyed hash of id */
  uint8_t id[WG_TOKEN_BYTES];
  wg_session_info info;
} wg_slot;

struct wg_sessions {
  pthread_mutex_t mu;
  wg_slot *slots;
  size_t max;
  int64_t idle_ms, absolute_ms;
  uint8_t tag_key[crypto_shorthash_KEYBYTES];
};

static uint64_t tag_of(const wg_sessions *t, const uint8_t id[WG_TOKEN_BYTES]) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, id, WG_TOKEN_BYTES, t->tag_key);
  uint64_t v;
  memcpy(&v, h, sizeof(v));
  return v;
}

mc_code wg_sessions_create(size_t max, int64_t idle_ms, int64_t absolute_ms, wg_sessions **out,
                           mc_err *err) {
  if (max == 0 || idle_ms <= 0 || absolute_ms <= 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "sessions: size and expiry times must be positive");
  wg_sessions *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->slots = calloc(max, sizeof(wg_slot))) == NULL) {
    free(t);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "sessions: out of memory");
  }
  pthread_mutex_init(&t->mu, NULL);
  t->max = max;
  t->idle_ms = idle_ms;
  t->absolute_ms = absolute_ms;
  crypto_shorthash_keygen(t->tag_key);
  *out = t;
  return MC_OK;
}

void wg_sessions_free(wg_sessions *t) {
  if (t == NULL)
    return;
  sodium_memzero(t->slots, t->max * sizeof(wg_slot));
  free(t->slots);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static bool expired(const wg_sessions *t, const wg_slot *s, int64_t now_ms) {
  return now_ms - s->info.last_ms >= t->idle_ms || now_ms - s->info.created_ms >= t->absolute_ms ||
         now_ms < s->info.created_ms - 60000; /* the clock went far back: end it */
}

static void slot_clear(wg_slot *s) { sodium_memzero(s, sizeof(*s)); }

static bool hex_to_id(const char *hex, uint8_t id[WG_TOKEN_BYTES]) {
  size_t bin_len = 0;
  if (hex == NULL || strlen(hex) != WG_TOKEN_HEX)
    return false;
  return sodium_hex2bin(id, WG_TOKEN_BYTES, hex, WG_TOKEN_HEX, NULL, &bin_len, NULL) == 0 &&
         bin_len == WG_TOKEN_BYTES;
}

mc_code wg_session_new(wg_sessions *t, const char *person, const char *role, int64_t now_ms,
                       char id_hex[WG_TOKEN_HEX + 1], wg_session_info *info, mc_err *err) {
  if (person == NULL || strlen(person) >= sizeof(info->person) || role == NULL ||
      strlen(role) >= sizeof(info->role))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "session: person or role too long");
  pthread_mutex_lock(&t->mu);
  wg_slot *free_slot = NULL, *lru = NULL;
  for (size_t i = 0; i < t->max; i++) {
    wg_slot *s = &t->slots[i];
    if (s->used && expired(t, s, now_ms))
      slot_clear(s);
    if (!s->used) {
      if (free_slot == NULL)
        free_slot = s;
    } else if (lru == NULL || s->info.last_ms < lru->info.last_ms) {
      lru = s;
    }
  }
  wg_slot *s = free_slot != NULL ? free_slot : lru;
  slot_clear(s);
  s->used = true;
  randombytes_buf(s->id, sizeof(s->id));
  s->tag = tag_of(t, s->id);
  uint8_t csrf[WG_TOKEN_BYTES];
  randombytes_buf(csrf, sizeof(csrf));
  sodium_bin2hex(s->info.csrf, sizeof(s->info.csrf), csrf, sizeof(csrf));
  sodium_memzero(csrf, sizeof(csrf));
  snprintf(s->info.person, sizeof(s->info.person), "%s", person);
  snprintf(s->info.role, sizeof(s->info.role), "%s", role);
  s->info.created_ms = s->info.last_ms = now_ms;
  sodium_bin2hex(id_hex, WG_TOKEN_HEX + 1, s->id, sizeof(s->id));
  *info = s->info;
  pthread_mutex_unlock(&t->mu);
  return MC_OK;
}

/* The slot holding id, or NULL. */
static wg_slot *find(wg_sessions *t, const uint8_t id[WG_TOKEN_BYTES]) {
  uint64_t tag = tag_of(t, id);
  for (size_t i = 0; i < t->max; i++) {
    wg_slot *s = &t->slots[i];
    if (s->used && s->tag == tag && sodium_memcmp(s->id, id, WG_TOKEN_BYTES) == 0)
      return s;
  }
  return NULL;
}

bool wg_session_get(wg_sessions *t, const char *id_hex, int64_t now_ms, bool touch,
                    wg_session_info *info) {
  uint8_t id[WG_TOKEN_BYTES];
  if (!hex_to_id(id_hex, id))
    return false;
  pthread_mutex_lock(&t->mu);
  wg_slot *s = find(t, id);
  bool ok = false;
  if (s != NULL && expired(t, s, now_ms)) {
    slot_clear(s);
  } else if (s != NULL) {
    if (touch && now_ms > s->info.last_ms)
      s->info.last_ms = now_ms;
    *info = s->info;
    ok = true;
  }
  pthread_mutex_unlock(&t->mu);
  return ok;
}

bool wg_session_end(wg_sessions *t, const char *id_hex) {
  uint8_t id[WG_TOKEN_BYTES];
  if (!hex_to_id(id_hex, id))
    return false;
  pthread_mutex_lock(&t->mu);
  wg_slot *s = find(t, id);
  if (s != NULL)
    slot_clear(s);
  pthread_mutex_unlock(&t->mu);
  return s != NULL;
}

size_t wg_sessions_count(wg_sessions *t) {
  size_t n = 0;
  pthread_mutex_lock(&t->mu);
  for (size_t i = 0; i < t->max; i++)
    n += t->slots[i].used;
  pthread_mutex_unlock(&t->mu);
  return n;
}

bool wg_csrf_ok(const char *header, const char *token) {
  if (header == NULL || token == NULL || strlen(token) != WG_TOKEN_HEX ||
      strnlen(header, WG_TOKEN_HEX + 1) != WG_TOKEN_HEX)
    return false;
  return sodium_memcmp(header, token, WG_TOKEN_HEX) == 0;
}

static bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool wg_cookie_session(const char *h, char out[WG_TOKEN_HEX + 1]) {
  static const char name[] = "mw_session";
  if (h == NULL)
    return false;
  /* Cookie: a=1; mw_session=<hex>; b=2 (RFC 6265 5.4). Each pair is
   * checked whole; a second mw_session is refused (ambiguous). */
  bool found = false;
  const char *p = h;
  while (*p != '\0') {
    while (*p == ' ' || *p == '\t')
      p++;
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
      len--;
    if (len > sizeof(name) && memcmp(p, name, sizeof(name) - 1) == 0 && p[sizeof(name) - 1] == '=') {
      const char *v = p + sizeof(name);
      size_t vlen = len - sizeof(name);
      if (found || vlen != WG_TOKEN_HEX)
        return false;
      for (size_t i = 0; i < vlen; i++)
        if (!is_lower_hex(v[i]))
          return false;
      memcpy(out, v, WG_TOKEN_HEX);
      out[WG_TOKEN_HEX] = '\0';
      found = true;
    }
    if (end == NULL)
      break;
    p = end + 1;
  }
  return found;
}

/* ---- failures per client address ---- */

typedef struct wg_addr_entry {
  char addr[64];
  uint32_t failures;
  int64_t locked_until_ms, last_ms;
} wg_addr_entry;

struct wg_addr_guard {
  pthread_mutex_t mu;
  wg_addr_entry *e;
  size_t max;
};

mc_code wg_addr_guard_create(size_t max_addrs, wg_addr_guard **out, mc_err *err) {
  wg_addr_guard *g = calloc(1, sizeof(*g));
  if (g == NULL || max_addrs == 0 || (g->e = calloc(max_addrs, sizeof(*g->e))) == NULL) {
    free(g);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "login guard: out of memory");
  }
  pthread_mutex_init(&g->mu, NULL);
  g->max = max_addrs;
  *out = g;
  return MC_OK;
}

void wg_addr_guard_free(wg_addr_guard *g) {
  if (g == NULL)
    return;
  free(g->e);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

static wg_addr_entry *addr_find(wg_addr_guard *g, const char *addr) {
  for (size_t i = 0; i < g->max; i++)
    if (g->e[i].addr[0] != '\0' && strcmp(g->e[i].addr, addr) == 0)
      return &g->e[i];
  return NULL;
}

int64_t wg_addr_locked_until(wg_addr_guard *g, const char *addr, int64_t now_ms) {
  pthread_mutex_lock(&g->mu);
  wg_addr_entry *e = addr_find(g, addr);
  int64_t until = e != NULL && e->locked_until_ms > now_ms ? e->locked_until_ms : 0;
  pthread_mutex_unlock(&g->mu);
  return until;
}

void wg_addr_failed(wg_addr_guard *g, const char *addr, int64_t now_ms) {
  pthread_mutex_lock(&g->mu);
  wg_addr_entry *e = addr_find(g, addr);
  if (e == NULL) {
    /* A free entry, else the least recently failed one that is not
     * locked, else the least recently failed. */
    wg_addr_entry *pick = NULL;
    for (size_t i = 0; i < g->max && pick == NULL; i++)
      if (g->e[i].addr[0] == '\0')
        pick = &g->e[i];
    for (size_t i = 0; i < g->max && !(pick != NULL && pick->addr[0] == '\0'); i++) {
      wg_addr_entry *c = &g->e[i];
      if (c->locked_until_ms <= now_ms && (pick == NULL || c->last_ms < pick->last_ms))
        pick = c;
    }
    if (pick == NULL) {
      pick = &g->e[0];
      for (size_t i = 1; i < g->max; i++)
        if (g->e[i].last_ms < pick->last_ms)
          pick = &g->e[i];
    }
    memset(pick, 0, sizeof(*pick));
    snprintf(pick->addr, sizeof(pick->addr), "%s", addr);
    e = pick;
  }
  if (e->locked_until_ms != 0 && e->locked_until_ms <= now_ms) {
    e->failures = 0; /* the lock ran out: a fresh start */
    e->locked_until_ms = 0;
  }
  e->last_ms = now_ms;
  if (++e->failures >= WG_ADDR_MAX_FAILURES && e->locked_until_ms == 0)
    e->locked_until_ms = now_ms + WG_ADDR_LOCK_MS;
  pthread_mutex_unlock(&g->mu);
}

void wg_addr_succeeded(wg_addr_guard *g, const char *addr) {
  pthread_mutex_lock(&g->mu);
  wg_addr_entry *e = addr_find(g, addr);
  if (e != NULL)
    memset(e, 0, sizeof(*e));
  pthread_mutex_unlock(&g->mu);
}
