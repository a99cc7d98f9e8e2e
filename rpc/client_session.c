/*
 * client_session.c - the client side of sessions (identity.h): the Open,
 * the MAC on each request, renewal, and the fallback to signing.
 *
 * By default a client signs one RpcSession/Open and MACs its requests
 * under the session key: Ed25519 costs ~24 us to sign and ~62 us to verify
 * per request, a MAC about one. The session is the client's, shared by
 * every slot:
 *
 *   none ──(a call needs one)──► opening ──(Open OK)──► ready
 *     ▲                             │                    │ 3/4 of its life: one
 *     │                             │ refused            │ background Open renews
 *     │                             ▼                    │ it while it is still used
 *     │                      signing for a while         │
 *     └──── session_unknown (server restarted, expired, evicted) ◄┘
 *
 * One Open at a time, on a slot of its own (so it never waits behind the
 * calls that wait for it), signed like any request. Calls that need a
 * session while none is ready wait on a list, each with an nng sleep on its
 * slot's timer aio that ends at its deadline; the Open's completion takes the list
 * under the session lock and cancels those sleeps, and each call goes on
 * from its own callback. Whoever takes a call off the list owns it, so a
 * deadline and a wake-up never both move it. If the server refuses Open
 * (an older server without sessions, a full table, an admission rule),
 * calls sign instead, and Open is asked again a minute later. A reply with
 * session_unknown means the request was not run: the session is dropped, a
 * new one opened, and the same request (same id, same deadline) sent again
 * under it; a second such answer for one call makes it sign.
 */
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <sodium.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/internal.h"

/* After the server refused RpcSession/Open: sign for this long, then ask
 * again. After a failed renewal: do not retry it sooner than this. */
#define SESSION_SIGN_MS 60000
#define RENEW_RETRY_MS 1000

static void open_start(rpc_client *c);

static void send_signed(rpc_slot *s) {
  s->sess_gen = 0;
  rpc_proof pf = {.key = s->c->key};
  rpc__slot_send(s, &pf);
}

/* A call gave up waiting for a session at its deadline: nothing was sent
 * under this wait, so it is UNAVAILABLE unless an earlier attempt went out. */
static void wait_failed(rpc_slot *s) {
  rpc_client *c = s->c;
  char text[256];
  if (s->sent) {
    snprintf(text, sizeof(text),
             "%s: no new session before the deadline after the server forgot the old one; "
             "the request may have been applied: retry with the same request id",
             c->url);
    rpc__slot_finish(s, MC_DEADLINE_EXCEEDED, text, NULL);
  } else if (atomic_load(&c->pipes) == 0) {
    rpc__no_connection_text(c, text, sizeof(text));
    mc_log(rpc__no_connection_level(text), NULL, "rpc: %s", text);
    rpc__slot_finish(s, MC_UNAVAILABLE, text, NULL);
  } else {
    snprintf(text, sizeof(text),
             "%.100s: no session before the deadline (RpcSession/Open not answered in time); "
             "the request was not sent",
             c->url);
    rpc__slot_finish(s, MC_UNAVAILABLE, text, NULL);
  }
}

void rpc__slot_go(rpc_slot *s) {
  rpc_client *c = s->c;
  if (s->sign) {
    send_signed(s);
    return;
  }
  uint8_t sid[RPC_SESSION_ID_BYTES], key[RPC_SESSION_KEY_BYTES];
  uint64_t gen = 0;
  bool start_open = false, wait = false, too_late = false;
  pthread_mutex_lock(&c->sess_mtx);
  if (c->sess_closing) {
    pthread_mutex_unlock(&c->sess_mtx);
    rpc__slot_finish(s, MC_CANCELLED, "the client was closed", NULL);
    return;
  }
  int64_t now = mc_now_ms(), mono = mc_mono_ms();
  if (s->wake == RPC_WAKE_SIGN) {
    s->wake = RPC_WAKE_RETRY; /* the Open this call waited for was refused: sign it */
  } else if (c->have && now < c->stale_at_ms) {
    gen = c->gen;
    memcpy(sid, c->sid, sizeof(sid));
    memcpy(key, c->secrets->key, sizeof(key));
    if (now >= c->renew_at_ms && !c->opening && mono >= c->renew_not_before_mono) {
      c->opening = true; /* renew in the background; this call uses the current one */
      start_open = true;
    }
  } else if (mono >= c->sign_until_mono) {
    int64_t left = s->deadline_ms - now;
    if (left <= 0) {
      too_late = true;
    } else {
      if (!c->opening) {
        c->opening = true;
        start_open = true;
      }
      s->waiting = true;
      s->wake = RPC_WAKE_RETRY;
      s->next_wait = NULL;
      rpc_slot **tail = &c->waiters;
      while (*tail != NULL)
        tail = &(*tail)->next_wait;
      *tail = s;
      s->state = RPC_SLOT_WAIT;
      /* Under the lock, so that an Open ending now finds the sleep to
       * cancel; nng never runs the callback inline from here. On an aio of
       * its own: in nng 1.5.2, after nng_sleep_aio an aio's later timeouts
       * complete with result 0 instead of NNG_ETIMEDOUT (a_expire_ok
       * stays set), which would pass a timed-out receive off as a reply. */
      nng_sleep_aio(rpc__ms_duration(left), s->timer);
      wait = true;
    }
  }
  pthread_mutex_unlock(&c->sess_mtx);
  if (start_open)
    open_start(c);
  if (wait)
    return;
  if (too_late) {
    wait_failed(s);
  } else if (gen != 0) {
    rpc_proof pf = {.caller = rpc_key_principal(c->key), .session_id = sid, .session_key = key};
    s->sess_gen = gen;
    rpc__slot_send(s, &pf);
  } else {
    send_signed(s);
  }
  sodium_memzero(key, sizeof(key));
}

/* Takes every waiting call off the list; each goes on from its timer's
 * callback (rpc__slot_go), as `wake` says (c->sess_mtx held). */
static void wake_waiters_locked(rpc_client *c, int wake) {
  for (rpc_slot *w = c->waiters; w != NULL;) {
    rpc_slot *next = w->next_wait;
    w->waiting = false;
    w->wake = wake;
    w->next_wait = NULL;
    nng_aio_cancel(w->timer); /* its callback goes on (rpc__slot_go) */
    w = next;
  }
  c->waiters = NULL;
}

/* The Open ended (on the Open slot's thread, on the thread that failed to
 * start it, or on the keeper's if nng never answered it). Installs the
 * session, or decides what the waiting calls do instead, and wakes them
 * all. */
static void open_done(void *arg, mc_code code, const char *message, ProtobufCMessage *reply) {
  rpc_client *c = arg;
  bool replied = c->open_slot->replied;
  uint8_t sid[RPC_SESSION_ID_BYTES], key[RPC_SESSION_KEY_BYTES];
  int64_t expires_ms = 0;
  bool ok = false;
  char why[512];
  snprintf(why, sizeof(why), "%s", message);
  if (code == MC_OK) {
    const Mediation__V1__SessionOpenReply *r = (const Mediation__V1__SessionOpenReply *)reply;
    mc_err err = {0};
    if (r->session_id.len != RPC_SESSION_ID_BYTES ||
        r->server_public_key.len != RPC_KX_KEY_BYTES || r->expires_ms <= 0) {
      snprintf(why, sizeof(why), "a malformed SessionOpenReply");
    } else if (rpc_session_derive(c->secrets->eph_sk, true, c->open_pk,
                                  r->server_public_key.data, rpc_key_principal(c->key),
                                  r->session_id.data, key, &err) != MC_OK) {
      snprintf(why, sizeof(why), "%s", err.msg);
    } else {
      ok = true;
      memcpy(sid, r->session_id.data, sizeof(sid));
      expires_ms = r->expires_ms;
    }
    if (!ok) {
      code = MC_INTERNAL;
      mc_log(MC_LOG_ERR, NULL, "rpc: %s answered RpcSession/Open with %s", c->url, why);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  sodium_memzero(c->secrets->eph_sk, sizeof(c->secrets->eph_sk));
  int64_t now = mc_now_ms(), mono = mc_mono_ms();
  int wake = RPC_WAKE_RETRY;
  pthread_mutex_lock(&c->sess_mtx);
  c->opening = false;
  if (ok) {
    /* Renewed at 3/4 of its life; not used in its last 1/8 (at most 2 s),
     * so a request MAC'd with it does not reach the server after it. */
    int64_t life = expires_ms > now ? expires_ms - now : 0;
    c->have = true;
    c->gen++;
    memcpy(c->sid, sid, sizeof(sid));
    memcpy(c->secrets->key, key, sizeof(key));
    c->renew_at_ms = now + life * 3 / 4;
    c->stale_at_ms = expires_ms - (life / 8 < 2000 ? life / 8 : 2000);
    c->sign_until_mono = 0;
    c->renew_not_before_mono = 0;
  } else if (code == MC_CANCELLED || c->sess_closing) {
    /* The client is closing: the woken calls see it. */
  } else if (!replied && (code == MC_UNAVAILABLE || code == MC_DEADLINE_EXCEEDED) &&
             now >= c->open_slot->deadline_ms - 50) {
    /* No answer by the Open's deadline: nobody listening, or a slow or lost
     * reply. Waiting calls wait on, each until its own deadline, and the
     * first to go on starts a new Open; a renewal waits a moment before it
     * tries again. */
    c->renew_not_before_mono = mono + RENEW_RETRY_MS;
  } else if (code == MC_UNAVAILABLE || code == MC_DEADLINE_EXCEEDED) {
    /* The server is stopping, or the connection failed before the Open's
     * deadline: each call may as well try itself, signed, with its own
     * attempts and deadline (so a failing Open is never retried in a loop). */
    wake = RPC_WAKE_SIGN;
    c->renew_not_before_mono = mono + RENEW_RETRY_MS;
  } else {
    /* Refused - a server without sessions, a full session table, an
     * admission rule - or a failure here: sign for a while, then ask again. */
    wake = RPC_WAKE_SIGN;
    c->sign_until_mono = mono + SESSION_SIGN_MS;
    mc_log(MC_LOG_NOTICE, NULL,
           "rpc: no session with %s (%s: %s); requests are signed for the next %d s", c->url,
           mc_code_name(code), why, SESSION_SIGN_MS / 1000);
  }
  wake_waiters_locked(c, wake);
  pthread_mutex_unlock(&c->sess_mtx);
  sodium_memzero(key, sizeof(key));
}

/* Starts an Open on the Open slot; the caller has set c->opening. */
static void open_start(rpc_client *c) {
  rpc_slot *s = c->open_slot;
  mc_err err = {0};
  int64_t timeout = c->default_timeout_ms < c->max_deadline_ahead_ms ? c->default_timeout_ms
                                                                     : c->max_deadline_ahead_ms;
  int64_t deadline = mc_now_ms() + timeout;
  pthread_mutex_lock(&c->mtx);
  bool held = s->busy;
  if (!held)
    rpc__slot_take(s);
  pthread_mutex_unlock(&c->mtx);
  if (held) {
    /* The last Open was ended by the keeper and nng still holds its slot:
     * the waiting calls sign instead, until nng lets it go. */
    pthread_mutex_lock(&c->sess_mtx);
    c->opening = false;
    c->renew_not_before_mono = mc_mono_ms() + RENEW_RETRY_MS;
    wake_waiters_locked(c, RPC_WAKE_SIGN);
    pthread_mutex_unlock(&c->sess_mtx);
    return;
  }
  s->replied = false;
  mc_code rc = rpc_session_keypair(c->open_pk, c->secrets->eph_sk, &err);
  if (rc == MC_OK) {
    Mediation__V1__SessionOpenRequest req = MEDIATION__V1__SESSION_OPEN_REQUEST__INIT;
    req.client_public_key = (ProtobufCBinaryData){RPC_KX_KEY_BYTES, c->open_pk};
    rc = rpc__request_pack(mediation__v1__rpc_session__descriptor.name, "Open", &req.base, 0,
                           &s->payload, &s->payload_len, &err);
  }
  if (rc != MC_OK) {
    s->done = open_done;
    s->done_arg = c;
    rpc__slot_finish(s, rc, err.msg, NULL);
    return;
  }
  s->service = &mediation__v1__rpc_session__descriptor;
  s->method = protobuf_c_service_descriptor_get_method_by_name(s->service, "Open");
  rpc_request_id_new(s->rid);
  s->deadline_ms = deadline;
  s->attempt_timeout_ms = c->attempt_timeout_ms;
  s->max_attempts = c->max_attempts;
  s->attempts = 0;
  s->sent = false;
  s->sign = true;
  s->renewals = 0;
  s->done = open_done;
  s->done_arg = c;
  rpc__slot_guard(s, s->deadline_ms);
  send_signed(s);
}

/* Takes s off c->waiters, where it is (c->sess_mtx held). */
static void unwait_locked(rpc_client *c, rpc_slot *s) {
  rpc_slot **link = &c->waiters;
  while (*link != NULL && *link != s)
    link = &(*link)->next_wait;
  if (*link == s)
    *link = s->next_wait;
  s->next_wait = NULL;
  s->waiting = false;
}

/* The end of a wait for a session: woken by the Open's end (taken off the
 * list already), by its deadline (still on it), or by the client closing. */
void rpc__session_timer_cb(void *arg) {
  rpc_slot *s = arg;
  rpc_client *c = s->c;
  pthread_mutex_lock(&c->sess_mtx);
  bool expired = s->waiting;
  if (expired)
    unwait_locked(c, s);
  bool closed = c->sess_closing;
  pthread_mutex_unlock(&c->sess_mtx);
  if (closed)
    rpc__slot_finish(s, MC_CANCELLED, "the client was closed", NULL);
  else if (expired)
    wait_failed(s);
  else
    rpc__slot_go(s);
}

void rpc__session_forgotten(rpc_slot *s) {
  rpc_client *c = s->c;
  /* Drop the session (unless it was replaced already), and send the same
   * request under a new one; a second time for one call, signed. */
  pthread_mutex_lock(&c->sess_mtx);
  if (c->have && c->gen == s->sess_gen) {
    c->have = false;
    sodium_memzero(c->secrets->key, sizeof(c->secrets->key));
  }
  pthread_mutex_unlock(&c->sess_mtx);
  mc_log(MC_LOG_DEBUG, NULL, "rpc: %s does not know our session; opening a new one", c->url);
  if (++s->renewals > 1)
    s->sign = true;
  s->attempts--; /* refused before it ran: not one of the call's attempts */
  rpc__slot_go(s);
}

void rpc__session_close(rpc_client *c) {
  pthread_mutex_lock(&c->sess_mtx);
  c->sess_closing = true;
  pthread_mutex_unlock(&c->sess_mtx);
}

void rpc__session_unwait(rpc_client *c, rpc_slot *s) {
  pthread_mutex_lock(&c->sess_mtx);
  if (s->waiting)
    unwait_locked(c, s);
  pthread_mutex_unlock(&c->sess_mtx);
}
