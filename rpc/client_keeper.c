/*
 * client_keeper.c - the client's own thread (the keeper), the dialer it
 * replaces when nng's has given up, what the dialer's statistics say when
 * no connection came up, and the bounded close of the socket.
 *
 * nng's own timeouts end every call at its deadline, and the dialer
 * reconnects by itself - except when they do not: nng 1.5.2's dialer
 * stops for good when a connection closes during the SP handshake (a router
 * stopping or killed the moment a unit reconnects; docs/architecture.md,
 * "Traps"), and then no call ever reaches the server again. So each client
 * has one thread of its own, apart from nng's, which
 *   - ends a call that is still running RPC_CALL_GRACE_MS after its deadline
 *     (UNAVAILABLE or DEADLINE_EXCEEDED, as in client.c): whichever of the
 *     keeper and the slot's own callbacks reports first, under c->mtx,
 *     reports; the slot goes back to the free list only when its callbacks
 *     end it, so a late nng completion never touches the next call on that
 *     slot;
 *   - replaces the dialer when nng's has given up: no open pipe, no connect
 *     outcome for REDIAL_QUIET_MS (a live dialer tries again within
 *     NNG_OPT_RECONNMAXT), and the last outcome was one that 1.5.2 counts as
 *     "other" errors (NNG_ECLOSED among them). That dialer holds nothing any
 *     more, so closing it cannot block.
 * It runs only on its own thread, so it may close and create dialers, which
 * an nng callback must not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/internal.h"

/* The keeper looks this often; it checks the dialer this often, and
 * replaces one that has been quiet this long. */
#define KEEPER_TICK_MS 100
#define REDIAL_CHECK_MS 500
#define REDIAL_QUIET_MS 3000
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000

/* --- The dialer's statistics --- */

/* Reads n of dialer d's counters (rpc__endpoint_counters). */
static bool dialer_counters(nng_dialer d, const char *const names[], size_t n, uint64_t out[]) {
  return rpc__endpoint_counters("dialer", d.id, names, n, out);
}

/* Why no connection came up, from the dialer's statistics: nng 1.5.2 reports
 * failed connects and TLS handshakes nowhere else. Writes "" if unknown. */
static void dial_diagnosis(rpc_client *c, char *buf, size_t cap) {
  static const char *const names[] = {"refused", "auth",       "proto", "timeout",
                                      "reject",  "disconnect", "other"};
  static const char *const what[] = {
      "refused",
      "failed authentication (TLS: check tls_ca and tls_server_name)",
      "protocol errors (TLS or not TLS on both sides?)",
      "timed out",
      "rejected",
      "dropped",
      "failed otherwise (TLS handshake?)",
  };
  enum { N = sizeof(names) / sizeof(names[0]) };
  uint64_t counts[N];
  buf[0] = '\0';
  if (!dialer_counters((nng_dialer){.id = atomic_load(&c->dialer_id)}, names, N, counts))
    return;
  size_t used = 0;
  for (size_t i = 0; i < N; i++) {
    if (counts[i] == 0 || used >= cap)
      continue;
    int w = snprintf(buf + used, cap - used, "%s%llu %s", used ? ", " : "; connects: ",
                     (unsigned long long)counts[i], what[i]);
    used += w > 0 ? (size_t)w : 0;
  }
}

static void no_connection_counts(rpc_client *c, char *text, size_t cap) {
  char why[160];
  dial_diagnosis(c, why, sizeof(why));
  snprintf(text, cap, "could not reach %.100s before the deadline: no connection%.100s", c->url,
           why[0] ? why : " (nothing listening, or a failed TLS handshake)");
}

void rpc__no_connection_text(rpc_client *c, char *text, size_t cap) {
  char diag[sizeof(c->tls_diag)];
  pthread_mutex_lock(&c->mtx);
  snprintf(diag, sizeof(diag), "%s", c->tls_diag);
  pthread_mutex_unlock(&c->mtx);
  if (diag[0] != '\0') {
    snprintf(text, cap, "TLS 配置错误 (TLS configuration error) with %.60s: %.140s", c->url, diag);
    return;
  }
  no_connection_counts(c, text, cap);
}

mc_log_level rpc__no_connection_level(const char *text) {
  return strncmp(text, "TLS ", 4) == 0 ? MC_LOG_DEBUG : MC_LOG_WARNING;
}

/* --- The keeper --- */

int rpc__client_dial(rpc_client *c, nng_dialer *out) {
  nng_dialer d;
  int rv = nng_dialer_create(&d, c->sock, c->url);
  if (rv != 0)
    return rv;
  if (c->tls != NULL)
    rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls); /* before the dialer starts */
  if (rv == 0)
    rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
  /* An interactive client that fails fast on refusals tries again sooner:
   * a call that starts after a refusal waits for the next try. */
  if (rv == 0)
    rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT,
                           c->fail_when_refused ? RECONNECT_MAX_MS / 4 : RECONNECT_MAX_MS);
  /* Non-blocking: connect (and reconnect) in the background, so a unit can
   * start while the router is down; calls wait for a connection up to their
   * deadline. */
  if (rv == 0)
    rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
  if (rv != 0) {
    nng_dialer_close(d);
    return rv;
  }
  *out = d;
  return 0;
}

/* What the keeper knows of the current dialer. */
typedef struct dial_watch {
  uint32_t id;
  uint64_t outcomes; /* connects ended, however */
  uint64_t other;    /* of which "other errors" (NNG_ECLOSED among them in 1.5.2) */
  bool last_other;   /* the last change of outcomes came with one of those */
  int64_t quiet_since_mono;
} dial_watch;

enum { DIAL_OK, DIAL_DEAD, DIAL_STUCK };

/* Whether the dialer has given up, in one of the two ways nng 1.5.2's does.
 * No connect has ended for REDIAL_QUIET_MS (a live dialer with no pipe
 * tries again within NNG_OPT_RECONNMAXT), and
 *   DIAL_DEAD: it has no pipe, and the last connect ended with an "other"
 *     error. A connect ending in NNG_ECLOSED or NNG_ECANCELED starts no
 *     reconnect timer (dialer_connect_cb), and NNG_ECLOSED is counted as
 *     "other"; every other outcome starts the timer.
 *   DIAL_STUCK: it counts a pipe, but requests have waited REDIAL_QUIET_MS
 *     for a connection and none took one. Seen after connections dropped
 *     during set-up: nng keeps a closed pipe that is never reaped, and the
 *     dialer reconnects only when its pipe is reaped. */
static int dialer_gave_up(dial_watch *w, nng_dialer d, int64_t mono, int64_t starved_since) {
  /* Every connect outcome 1.5.2 counts, "other" (ECLOSED among them) at
   * OTHER, and the dialer's open pipes last. */
  static const char *const names[] = {"connect", "refused", "disconnect", "canceled",
                                      "other",   "timeout", "proto",      "auth",
                                      "oom",     "reject",  "pipes"};
  enum { OTHER = 4, PIPES = 10, N = sizeof(names) / sizeof(names[0]) };
  uint64_t counts[N];
  if (!dialer_counters(d, names, N, counts))
    return DIAL_OK;
  uint64_t sum = 0;
  for (size_t i = 0; i < PIPES; i++)
    sum += counts[i];
  uint64_t other = counts[OTHER], pipes = counts[PIPES];
  if (w->id != d.id) { /* a new dialer: its counters start from 0 */
    w->outcomes = 0;
    w->other = 0;
  }
  if (w->id != d.id || sum != w->outcomes) {
    w->last_other = other > w->other;
    w->id = d.id;
    w->outcomes = sum;
    w->other = other;
    w->quiet_since_mono = mono;
    return DIAL_OK;
  }
  if (mono - w->quiet_since_mono < REDIAL_QUIET_MS)
    return DIAL_OK;
  if (pipes == 0)
    return w->last_other ? DIAL_DEAD : DIAL_OK;
  return starved_since != 0 && mono - starved_since >= REDIAL_QUIET_MS ? DIAL_STUCK : DIAL_OK;
}

/* Replaces a dialer that has given up (how: DIAL_*). A dead one has no
 * pipe, no connect and no timer left: it is closed, which returns at once.
 * A stuck one is left open: closing it would close its unreaped pipe again
 * and leave nng's reaper waiting on it; it stays inert until the socket
 * closes. At most MAX_ABANDONED of those, after which the client keeps the
 * last one (and says so). False if no new dialer could be made (*closed
 * tells whether the old one is closed already): try again. */
#define MAX_ABANDONED 16
static bool redial(rpc_client *c, int how, bool *closed) {
  if (how == DIAL_STUCK) {
    if (c->abandoned >= MAX_ABANDONED) {
      if (c->abandoned++ == MAX_ABANDONED)
        mc_log(MC_LOG_ERR, NULL,
               "rpc: nng holds a dead connection to %s again (%u times); not dialing anew any "
               "more: restart this daemon",
               c->url, MAX_ABANDONED);
      return true;
    }
    c->abandoned++;
    *closed = true; /* left as it is */
  } else if (!*closed) {
    nng_dialer old = {.id = atomic_load(&c->dialer_id)};
    nng_dialer_close(old);
    *closed = true;
  }
  nng_dialer d;
  int rv = rpc__client_dial(c, &d);
  if (rv != 0) {
    mc_log(MC_LOG_ERR, NULL, "rpc: cannot dial %s again: %s", c->url, nng_strerror(rv));
    return false;
  }
  *closed = false;
  atomic_store(&c->dialer_id, d.id);
  /* Give the new dialer its own REDIAL_QUIET_MS before judging it. */
  int64_t since = atomic_load(&c->starved_since_mono);
  if (since != 0)
    atomic_compare_exchange_strong(&c->starved_since_mono, &since, mc_mono_ms());
  c->redials++;
  mc_log(MC_LOG_NOTICE, NULL,
         "rpc: nng stopped reconnecting to %s (%s); dialing again (%llu time%s)", c->url,
         how == DIAL_STUCK ? "it keeps a connection that is gone"
                           : "a connection closed during its handshake",
         (unsigned long long)c->redials, c->redials == 1 ? "" : "s");
  return true;
}

/* Why a call ended without a reply, in this thread's language (_()). */
#define END_OVERSIZE (-1)
#define END_LOST (-2)
static void end_text(const rpc_client *c, int64_t refused_mono, bool refused,
                     const char *tls_diag, bool sent, size_t len, char *text, size_t cap) {
  if (refused_mono == END_LOST)
    snprintf(text, cap,
             _("the connection to %.100s was lost after sending; the request may have been "
               "applied: retry with the same request id"),
             c->url);
  else if (refused_mono < 0)
    snprintf(text, cap,
             _("%.80s closed the connection on a %zu-byte request, over the 16 MiB any server "
               "reads (a smaller max_message_bytes there?): send less per request"),
             c->url, len);
  else if (refused && tls_diag != NULL)
    snprintf(text, cap, _("TLS 配置错误 (TLS configuration error) with %.60s: %.140s"), c->url,
             tls_diag);
  else if (refused)
    snprintf(text, cap,
             _("%.100s refused the connection: nothing is listening there (is the service "
               "running, and is this its endpoint?)"),
             c->url);
  else if (sent)
    snprintf(text, cap,
             _("no reply from %.100s by the deadline (the connection was lost); the request may "
               "have been applied: retry with the same request id"),
             c->url);
  else
    snprintf(text, cap, _("could not reach %.100s before the deadline: no connection"), c->url);
}

/* Ends calls from the keeper: those nng has not answered RPC_CALL_GRACE_MS
 * after their deadline, or, with refused_mono (> 0), every call not yet
 * sent that started before that refusal was seen: one that started later
 * waits for the dialer's next try (the server may be up by then); or, with
 * refused_mono < 0 (END_OVERSIZE), every call sent whose request is larger
 * than any server reads, after a connection dropped: nng 1.5.2's receiver
 * closes the connection on it without a word, and REQ would resend it on
 * every reconnect until the deadline; or, with END_LOST (a member of a
 * list client, no connection up after one dropped), every call sent: its
 * reply can only come on a new connection to this node, which is down or
 * restarting, and the routing layer sends it to the next node instead. */
static void end_calls(rpc_client *c, int64_t refused_mono, const char *tls_diag) {
  bool lost_mode = refused_mono == END_LOST;
  bool refused = refused_mono != 0 && !lost_mode;
  struct {
    rpc_slot *s;
    rpc_done_fn done;
    void *arg;
    bool sent;
    size_t len;
    char locale[MC_LOCALE_MAX]; /* the caller's language: its callback runs in it */
  } due[8];
  size_t n = 0;
  unsigned all = c->n_slots + 1;
  int64_t now = mc_now_ms();
  pthread_mutex_lock(&c->mtx);
  for (unsigned i = 0; i < all && n < sizeof(due) / sizeof(due[0]); i++) {
    rpc_slot *s = &c->slots[i];
    if (!s->busy || s->reported || s->overdue_ms == 0)
      continue;
    /* Twice: nng resent it on the next connection and lost that one too.
     * One drop could be anything, and the request may have been applied. */
    bool oversize = refused_mono == END_OVERSIZE && s->req_len > RPC_HARD_CAP_BYTES &&
                    atomic_load(&s->sent) && ++s->drops >= 2;
    if (lost_mode ? !atomic_load(&s->sent)
        : refused_mono < 0 ? !oversize
        : refused       ? atomic_load(&s->sent) || s->start_mono > refused_mono
                        : now < s->overdue_ms)
      continue;
    s->reported = true; /* its callbacks now only free the slot (rpc__slot_finish) */
    due[n].s = s;
    due[n].done = s->done;
    due[n].arg = s->done_arg;
    due[n].sent = s->sent;
    due[n].len = s->req_len;
    snprintf(due[n].locale, sizeof(due[n].locale), "%s", s->locale);
    n++;
    /* Under c->mtx, so that the slot cannot be freed and taken by another
     * call meanwhile. Cancelling an operation nng has lost does nothing;
     * one it still holds ends now, on its own callback. */
    nng_aio_cancel(s->aio);
    nng_aio_cancel(s->timer);
  }
  pthread_mutex_unlock(&c->mtx);
  for (size_t i = 0; i < n; i++) {
    char text[512], shown[512];
    rpc_slot *s = due[i].s;
    bool open = s == c->open_slot;
    mc_code code = due[i].sent ? MC_DEADLINE_EXCEEDED : MC_UNAVAILABLE;
    if (refused_mono == END_OVERSIZE)
      code = MC_RESOURCE_EXHAUSTED;
    /* In English for the log, in the caller's language for the caller. */
    locale_t previous = mc_i18n_use("C");
    end_text(c, refused_mono, refused, tls_diag, due[i].sent, due[i].len, text, sizeof(text));
    mc_i18n_restore(previous);
    previous = mc_i18n_use(due[i].locale);
    end_text(c, refused_mono, refused, tls_diag, due[i].sent, due[i].len, shown, sizeof(shown));
    mc_i18n_restore(previous);
    if (refused || lost_mode)
      mc_log(MC_LOG_DEBUG, NULL, "rpc: %s: %s", open ? "RpcSession/Open" : s->method->name, text);
    else
      mc_log(MC_LOG_WARNING, NULL, "rpc: %s was still running %d ms after its deadline: %s",
             open ? "RpcSession/Open" : s->method->name, RPC_CALL_GRACE_MS, text);
    if (due[i].done != NULL) {
      previous = mc_i18n_use(due[i].locale);
      due[i].done(due[i].arg, code, shown, NULL);
      mc_i18n_restore(previous);
    }
  }
}

/* Whether the dialer's last connect attempt was refused and none is up
 * (fail_when_refused). *seen keeps the counts of the last look. */
typedef struct refusal_watch {
  uint32_t id;
  uint64_t outcomes, refused;
  int64_t refusing_since_mono; /* calls started by then were refused; 0: not refusing */
  int64_t last_look_mono;      /* when the counts were last read; 0: never */
} refusal_watch;

/* If the dialer's connects since the last look were all refused and no
 * connection is up: the time before which a call surely met a refusal (the
 * last look); else 0. */
static int64_t endpoint_refuses(rpc_client *c, refusal_watch *w) {
  static const char *const names[] = {"connect", "refused", "disconnect", "canceled", "other",
                                      "timeout", "proto",   "auth",       "oom",      "reject"};
  enum { REFUSED = 1, N = sizeof(names) / sizeof(names[0]) };
  if (atomic_load(&c->pipes) > 0)
    return 0;
  nng_dialer d = {.id = atomic_load(&c->dialer_id)};
  uint64_t counts[N];
  if (!dialer_counters(d, names, N, counts))
    return 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < N; i++)
    sum += counts[i];
  if (w->id != d.id)
    *w = (refusal_watch){.id = d.id};
  if (sum != w->outcomes) {
    /* Only refusals since the last look: it refuses. */
    bool refusing = counts[REFUSED] - w->refused == sum - w->outcomes;
    /* The refusals happened after the last look, maybe after a call made
     * since then began - and after the endpoint came up for it, with the
     * refusal counted late. Only calls started by the last look surely met
     * the refusal; later ones wait for the next attempt's outcome. */
    w->refusing_since_mono = refusing ? w->last_look_mono : 0;
    w->outcomes = sum;
    w->refused = counts[REFUSED];
  }
  w->last_look_mono = mc_mono_ms();
  return w->refusing_since_mono;
}

/* TLS (keeper thread): at the first failed handshake of a run of failures,
 * learns why with a handshake of our own (rpc__tls_probe), logs it once,
 * keeps it for the calls' messages and, for a client that fails fast, ends
 * the calls waiting for a connection with it. Forgotten once a connection
 * comes up. */
static void tls_watch(rpc_client *c, bool waiting) {
  if (atomic_load(&c->pipes) > 0) {
    if (c->tls_probed) {
      pthread_mutex_lock(&c->mtx);
      bool told = c->tls_diag[0] != '\0';
      c->tls_diag[0] = '\0';
      pthread_mutex_unlock(&c->mtx);
      c->tls_probed = false;
      if (told && c->on_tls_verdict != NULL)
        c->on_tls_verdict(c->on_tls_verdict_arg, NULL);
    }
    return;
  }
  if (c->tls_probed)
    return;
  /* nng 1.5.2 counts a failed handshake as "auth", "proto" or "other". */
  static const char *const names[] = {"auth", "proto", "other"};
  uint64_t counts[3];
  if (!dialer_counters((nng_dialer){.id = atomic_load(&c->dialer_id)}, names, 3, counts) ||
      counts[0] + counts[1] + counts[2] == 0)
    return;
  c->tls_probed = true;
  char why[sizeof(c->tls_diag)];
  if (!rpc__tls_probe(c->url, c->tls_ca, c->tls_name, why, sizeof(why)))
    return;
  mc_log(MC_LOG_WARNING, NULL, "rpc: TLS 配置错误 (TLS configuration error) with %s: %s",
         c->url, why);
  pthread_mutex_lock(&c->mtx);
  snprintf(c->tls_diag, sizeof(c->tls_diag), "%s", why);
  pthread_mutex_unlock(&c->mtx);
  if (c->on_tls_verdict != NULL)
    c->on_tls_verdict(c->on_tls_verdict_arg, why);
  if (waiting && c->fail_when_refused)
    end_calls(c, mc_mono_ms(), why);
}

void *rpc__client_keeper(void *arg) {
  rpc_client *c = arg;
  dial_watch w = {0};
  refusal_watch refusals = {0};
  unsigned seen_lost = 0;
  int64_t next_dial_check = 0;
  int retry_dial = DIAL_OK;
  bool old_closed = false;
  pthread_mutex_lock(&c->mtx);
  while (!c->closing) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += KEEPER_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&c->keeper_cond, &c->mtx, &ts);
    if (c->closing)
      break;
    bool waiting = false;
    if (c->fail_when_refused)
      for (unsigned i = 0; i <= c->n_slots && !waiting; i++)
        waiting = c->slots[i].busy && !c->slots[i].reported && !atomic_load(&c->slots[i].sent);
    pthread_mutex_unlock(&c->mtx);
    end_calls(c, 0, NULL);
    unsigned lost = atomic_load(&c->pipes_lost);
    if (lost != seen_lost) {
      seen_lost = lost;
      if (c->max_message_bytes > RPC_HARD_CAP_BYTES) /* else nothing we send is that large */
        end_calls(c, END_OVERSIZE, NULL);
      if (c->fail_when_lost && atomic_load(&c->pipes) == 0)
        end_calls(c, END_LOST, NULL);
    }
    int64_t refused_mono = waiting ? endpoint_refuses(c, &refusals) : 0;
    if (refused_mono != 0)
      end_calls(c, refused_mono, NULL);
    int64_t mono = mc_mono_ms();
    if (mono >= next_dial_check) {
      next_dial_check = mono + REDIAL_CHECK_MS;
      if (c->tls != NULL)
        tls_watch(c, waiting);
      nng_dialer d = {.id = atomic_load(&c->dialer_id)};
      int how = retry_dial != DIAL_OK
                    ? retry_dial
                    : dialer_gave_up(&w, d, mono, atomic_load(&c->starved_since_mono));
      if (how != DIAL_OK)
        retry_dial = redial(c, how, &old_closed) ? DIAL_OK : how;
    }
    pthread_mutex_lock(&c->mtx);
  }
  pthread_mutex_unlock(&c->mtx);
  return NULL;
}

/* --- Closing --- */

/* nng_close on a thread of its own, waited for at most CLOSE_WAIT_MS. In
 * nng 1.5.2 it waits forever for a pipe that was closed during set-up and
 * never reaped (the one DIAL_STUCK is about): then the thread is left
 * blocked, and the socket with it, instead of the caller. */
#define CLOSE_WAIT_MS 2000
typedef struct closer {
  nng_socket sock;
  pthread_mutex_t mtx;
  pthread_cond_t cond;
  bool done;
  int refs; /* the closing thread's and the waiter's; the last frees */
} closer;

static void closer_rele(closer *k) {
  pthread_mutex_lock(&k->mtx);
  bool last = --k->refs == 0;
  pthread_mutex_unlock(&k->mtx);
  if (last) {
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mtx);
    free(k);
  }
}

static void *closer_main(void *arg) {
  closer *k = arg;
  nng_close(k->sock);
  pthread_mutex_lock(&k->mtx);
  k->done = true;
  pthread_cond_signal(&k->cond);
  pthread_mutex_unlock(&k->mtx);
  closer_rele(k);
  return NULL;
}

void rpc__socket_close_bounded(nng_socket sock) {
  /* Nothing of the client may be called once this returns. */
  nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, NULL, NULL);
  nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, NULL, NULL);
  closer *k = calloc(1, sizeof(*k));
  pthread_t t;
  pthread_attr_t attr;
  if (k == NULL) {
    nng_close(sock);
    return;
  }
  k->sock = sock;
  k->refs = 2;
  pthread_mutex_init(&k->mtx, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&k->cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rv = pthread_create(&t, &attr, closer_main, k);
  pthread_attr_destroy(&attr);
  if (rv != 0) {
    k->refs = 1;
    closer_rele(k);
    nng_close(sock);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += CLOSE_WAIT_MS / 1000;
  pthread_mutex_lock(&k->mtx);
  int w = 0;
  while (!k->done && w != ETIMEDOUT)
    w = pthread_cond_timedwait(&k->cond, &k->mtx, &ts);
  bool done = k->done;
  pthread_mutex_unlock(&k->mtx);
  if (!done)
    mc_log(MC_LOG_WARNING, NULL,
           "rpc: closing a client socket did not finish in %d ms (nng 1.5.2 waits for a "
           "connection it lost); left to finish on its own",
           CLOSE_WAIT_MS);
  closer_rele(k);
}
