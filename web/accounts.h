/*
 * accounts.h - the persons who may log in to one web site (a unit's desk or
 * the coordinators'), their Argon2id password hashes and their lockout, kept
 * in the site's own LMDB. mediation-web calls wa_login; `mediactl user`
 * makes and changes the accounts. Prefix wa_.
 *
 * The idea: an account is one record (mediation.v1.WebAccount, web.proto)
 * under the person's name in one named database of an LMDB environment in
 * the site's data_dir. Everything that decides a login - the hash, the
 * failure count, the lock - is in that record, so a restart forgets
 * nothing and two processes (the gateway and mediactl) see the same state.
 *
 * Passwords: 8 to WA_PASSWORD_MAX bytes, hashed with crypto_pwhash_str
 * (Argon2id, OPSLIMIT/MEMLIMIT_INTERACTIVE); the password itself is never
 * stored, copied or logged. Error messages never name the person either:
 * they may end up in a log line.
 *
 * Lockout: a wrong password adds one to the account's failures; the failure
 * that reaches WA_MAX_FAILURES locks it for WA_LOCK_MS (that login still
 * answers UNAUTHENTICATED; the following ones RESOURCE_EXHAUSTED, whatever
 * the password, until the lock ends). A success or a new password clears
 * the count. Once a lock has ended the count starts again from zero.
 *
 * Threads: every function may be called from any thread, on one wa_store
 * shared by all of them. The Argon2id work (about 0.1 s and 64 MiB each) is
 * done outside any LMDB write transaction, so logins verify in parallel (at
 * most 4 at once per store, so a burst cannot take the machine's memory)
 * and only their short record updates take turns.
 */
#ifndef WA_ACCOUNTS_H
#define WA_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct wa_store wa_store;

#define WA_MAX_FAILURES 5 /* then locked */
#define WA_LOCK_MS (15 * 60 * 1000)
#define WA_NAME_MAX 127     /* bytes of a name (UTF-8, no control characters) */
#define WA_ROLE_MAX 31      /* bytes of a role: a-z and '_' */
#define WA_PASSWORD_MIN 8   /* bytes */
#define WA_PASSWORD_MAX 128 /* bytes */

typedef struct wa_account {
  char name[128];    /* the person's name as on the roster ("周晓梅") or the coordinator's */
  char role[32];     /* "mediator", "counsellor", "lawyer", "officer", "coordinator", ... */
  bool disabled;
  uint32_t failures; /* consecutive failed logins */
  int64_t locked_until_ms, created_ms, last_login_ms, password_changed_ms;
} wa_account;

/* Opens the accounts of one site: the LMDB environment in dir (made, mode
 * 0700, if it does not exist; its files 0600) and its accounts database
 * (made if absent). On MC_OK *out is the caller's: wa_close. */
mc_code wa_open(const char *dir, wa_store **out, mc_err *err);
/* Closes it; NULL is ignored. No call may be running on it. */
void wa_close(wa_store *s);

/* A new account. ALREADY_EXISTS if the name has one; INVALID_ARGUMENT for a
 * bad name, role or password (the message says which and why). */
mc_code wa_add(wa_store *s, const char *name, const char *role, const char *password,
               int64_t now_ms, mc_err *err);
/* A new password; also clears the failures and any lock. NOT_FOUND if the
 * name has no account. */
mc_code wa_set_password(wa_store *s, const char *name, const char *password, int64_t now_ms,
                        mc_err *err);
/* Disables or enables an account (enabling leaves failures and lock as they
 * are; wa_set_password clears them). NOT_FOUND if the name has none. */
mc_code wa_set_disabled(wa_store *s, const char *name, bool disabled, mc_err *err);
/* One account, without its hash. NOT_FOUND if the name has none. */
mc_code wa_get(wa_store *s, const char *name, wa_account *out, mc_err *err);
/* Every account, ordered by the bytes of the name. On MC_OK *out is a
 * malloc'd array of *n (NULL when 0) the caller frees. */
mc_code wa_list(wa_store *s, wa_account **out, size_t *n, mc_err *err);

/* A login. OK: out filled (after the update: failures 0, last_login_ms =
 * now_ms). UNAUTHENTICATED "wrong name or password" for an unknown name (or
 * one that cannot be a name) or a wrong password - the same message and,
 * through a verify against a dummy hash, about the same time.
 * PERMISSION_DENIED "account disabled" for the right password of a disabled
 * account (a wrong one is UNAUTHENTICATED, and counts). RESOURCE_EXHAUSTED
 * "account locked until HH:MM" (local time) while locked, whatever the
 * password. INVALID_ARGUMENT for a password over WA_PASSWORD_MAX bytes. When
 * the stored hash's parameters are older than the interactive limits, a
 * successful login stores a new hash. */
mc_code wa_login(wa_store *s, const char *name, const char *password, int64_t now_ms,
                 wa_account *out, mc_err *err);

/* The checks wa_add applies, for callers that want to refuse early (mediactl
 * before it prompts). INVALID_ARGUMENT with a message naming what is wrong. */
mc_code wa_check_name(const char *name, mc_err *err);
mc_code wa_check_password(const char *password, mc_err *err);

#endif /* WA_ACCOUNTS_H */
