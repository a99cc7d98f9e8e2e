/*
 * accounts.c - a site's person accounts in its own LMDB (see accounts.h).
 *
 * The idea: one named database "accounts", name -> packed WebAccount. Reads
 * are LMDB snapshots; every change is one short write transaction that reads
 * the record again, changes it (record_update and its callbacks) and puts it
 * back, so two processes or threads changing one account never lose each
 * other's update. The slow part of a login, Argon2id, runs between a read
 * and that write: wa_login remembers the hash it verified and the write
 * starts over if the hash changed meanwhile (a new password was set).
 *
 * The map is fixed at WA_MAP_BYTES (a sparse file): an account takes a few
 * hundred bytes, so a site would need hundreds of thousands of persons to
 * fill it; MDB_MAP_FULL is reported as RESOURCE_EXHAUSTED rather than grown,
 * which spares this module the admission gate storage/env.c needs to resize
 * safely. MDB_NOTLS as in storage/env.c: read transactions are short and
 * never nested, and the gateway's threads are nng's.
 */
#include "web/accounts.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/text.h"
#include "mv1.h"

#define WA_MAP_BYTES ((size_t)64 << 20)
#define WA_DB_NAME "accounts"
#define WA_LOGIN_TRIES 3 /* reads and verifies, when a new password lands in between */
#define WA_OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define WA_MEM crypto_pwhash_MEMLIMIT_INTERACTIVE
#define WRONG "wrong name or password"
/* Argon2id runs at once, at most: each takes 64 MiB, and a burst of logins
 * on every worker thread must not take the machine's memory. */
#define WA_ARGON_AT_ONCE 4

typedef Mediation__V1__WebAccount wa_record;

struct wa_store {
  MDB_env *env;
  MDB_dbi dbi;
  /* The hash of a random password nobody knows: an unknown name is verified
   * against it, so that it takes as long as a known name's wrong password. */
  char dummy_hash[crypto_pwhash_STRBYTES];
  pthread_mutex_t mu; /* guards hashing */
  pthread_cond_t cv;
  unsigned hashing;   /* Argon2id runs under way (WA_ARGON_AT_ONCE at most) */
  bool sync_ready;
};

/* ---- Argon2id, a few at a time ---------------------------------------------- */

static void argon_enter(wa_store *s) {
  pthread_mutex_lock(&s->mu);
  while (s->hashing >= WA_ARGON_AT_ONCE)
    pthread_cond_wait(&s->cv, &s->mu);
  s->hashing++;
  pthread_mutex_unlock(&s->mu);
}

static void argon_leave(wa_store *s) {
  pthread_mutex_lock(&s->mu);
  s->hashing--;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* crypto_pwhash_str at the interactive limits: 0, or -1 out of memory. */
static int argon_hash(wa_store *s, char hash[crypto_pwhash_STRBYTES], const char *pw,
                      size_t len) {
  argon_enter(s);
  int rc = crypto_pwhash_str(hash, pw, len, WA_OPS, WA_MEM);
  argon_leave(s);
  return rc;
}

/* crypto_pwhash_str_verify: true if pw is hash's password. */
static bool argon_verify(wa_store *s, const char *hash, const char *pw, size_t len) {
  argon_enter(s);
  bool right = crypto_pwhash_str_verify(hash, pw, len) == 0;
  argon_leave(s);
  return right;
}

/* ---- LMDB errors ------------------------------------------------------------ */

static mc_code lmdb_code(int rc) {
  switch (rc) {
  case 0: return MC_OK;
  case MDB_NOTFOUND: return MC_NOT_FOUND;
  case MDB_KEYEXIST: return MC_ALREADY_EXISTS;
  case MDB_MAP_FULL:
  case MDB_READERS_FULL:
  case MDB_TXN_FULL:
  case ENOSPC:
  case ENOMEM: return MC_RESOURCE_EXHAUSTED;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
  case MDB_INCOMPATIBLE: return MC_DATA_LOSS;
  case EACCES:
  case EPERM:
  case EROFS: return MC_PERMISSION_DENIED;
  default: return MC_INTERNAL;
  }
}

static mc_code lmdb_err(mc_err *err, int rc, const char *op) {
  return mc_err_set(err, lmdb_code(rc), "accounts: %s: %s", op, mdb_strerror(rc));
}

/* ---- checks ---------------------------------------------------------------- */

mc_code wa_check_name(const char *name, mc_err *err) {
  if (name == NULL || name[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "name: empty");
  size_t len = strnlen(name, WA_NAME_MAX + 1);
  if (len > WA_NAME_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "name: longer than %d bytes", WA_NAME_MAX);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7F) /* tabs and newlines too: a name is one line */
      return mc_err_set(err, MC_INVALID_ARGUMENT, "name: control character at byte %zu", i);
  }
  if (!mc_utf8_valid(name, len))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "name: not valid UTF-8");
  return MC_OK;
}

mc_code wa_check_password(const char *password, mc_err *err) {
  if (password == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "password: missing");
  size_t len = strnlen(password, WA_PASSWORD_MAX + 1);
  if (len < WA_PASSWORD_MIN)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "password: at least %d bytes, got %zu",
                      WA_PASSWORD_MIN, len);
  if (len > WA_PASSWORD_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "password: at most %d bytes", WA_PASSWORD_MAX);
  return MC_OK;
}

static mc_code check_role(const char *role, mc_err *err) {
  if (role == NULL || role[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "role: empty");
  size_t len = strnlen(role, WA_ROLE_MAX + 1);
  if (len > WA_ROLE_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "role: longer than %d bytes", WA_ROLE_MAX);
  for (size_t i = 0; i < len; i++) {
    if (!((role[i] >= 'a' && role[i] <= 'z') || role[i] == '_'))
      return mc_err_set(err, MC_INVALID_ARGUMENT, "role: only a-z and '_' (\"mediator\")");
  }
  return MC_OK;
}

/* ---- records --------------------------------------------------------------- */

static MDB_val key_of(const char *name) {
  return (MDB_val){.mv_size = strlen(name), .mv_data = (void *)name};
}

/* The record of name in txn. On MC_OK *out is the caller's
 * (mediation__v1__web_account__free_unpacked). */
static mc_code record_get(MDB_txn *txn, MDB_dbi dbi, const char *name, wa_record **out,
                          mc_err *err) {
  MDB_val key = key_of(name), val;
  int rc = mdb_get(txn, dbi, &key, &val);
  if (rc == MDB_NOTFOUND)
    return mc_err_set(err, MC_NOT_FOUND, "no such account");
  if (rc != 0)
    return lmdb_err(err, rc, "mdb_get");
  wa_record *r = mediation__v1__web_account__unpack(NULL, val.mv_size, val.mv_data);
  if (r == NULL || r->password_hash == NULL ||
      strnlen(r->password_hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES) {
    if (r != NULL)
      mediation__v1__web_account__free_unpacked(r, NULL);
    return mc_err_set(err, MC_DATA_LOSS, "accounts: a record cannot be read");
  }
  *out = r;
  return MC_OK;
}

static mc_code record_put(MDB_txn *txn, MDB_dbi dbi, const wa_record *r, unsigned flags,
                          mc_err *err) {
  size_t len = mediation__v1__web_account__get_packed_size(r);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: out of memory");
  mediation__v1__web_account__pack(r, buf);
  MDB_val key = key_of(r->name), val = {.mv_size = len, .mv_data = buf};
  int rc = mdb_put(txn, dbi, &key, &val, flags);
  free(buf);
  if (rc == MDB_KEYEXIST)
    return mc_err_set(err, MC_ALREADY_EXISTS, "an account with this name already exists");
  return rc == 0 ? MC_OK : lmdb_err(err, rc, "mdb_put");
}

static void copy_text(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

static void to_account(const wa_record *r, wa_account *out) {
  memset(out, 0, sizeof(*out));
  copy_text(out->name, sizeof(out->name), r->name);
  copy_text(out->role, sizeof(out->role), r->role);
  out->disabled = r->disabled;
  out->failures = r->failures;
  out->locked_until_ms = r->locked_until_ms;
  out->created_ms = r->created_ms;
  out->last_login_ms = r->last_login_ms;
  out->password_changed_ms = r->password_changed_ms;
}

/* Commits txn, or aborts it; the code of what happened. */
static mc_code txn_finish(MDB_txn *txn, mc_code code, mc_err *err) {
  if (code != MC_OK) {
    mdb_txn_abort(txn);
    return code;
  }
  int rc = mdb_txn_commit(txn);
  return rc == 0 ? MC_OK : lmdb_err(err, rc, "mdb_txn_commit");
}

/* Changes one record in a write transaction of its own. fn sees the record
 * as it is now and changes it in place; it returns the result of the whole
 * call (with err set) and says through *write whether to store its change.
 * A string fn puts in the record must outlive the call: the record's own
 * strings are put back before it is freed. */
typedef mc_code (*update_fn)(wa_record *r, void *arg, bool *write, mc_err *err);

static mc_code record_update(wa_store *s, const char *name, update_fn fn, void *arg,
                             mc_err *err) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0)
    return lmdb_err(err, rc, "mdb_txn_begin");
  wa_record *r = NULL;
  mc_code code = record_get(txn, s->dbi, name, &r, err);
  if (code != MC_OK)
    return txn_finish(txn, code, err);
  char *own_hash = r->password_hash;
  bool write = false;
  mc_code result = fn(r, arg, &write, err);
  code = write ? record_put(txn, s->dbi, r, 0, err) : MC_OK;
  r->password_hash = own_hash;
  mediation__v1__web_account__free_unpacked(r, NULL);
  if (!write) {
    mdb_txn_abort(txn);
    return result;
  }
  code = txn_finish(txn, code, err);
  return code != MC_OK ? code : result;
}

/* ---- open and close ---------------------------------------------------------- */

static mc_code make_dir(const char *dir, mc_err *err) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, errno == EACCES ? MC_PERMISSION_DENIED : MC_FAILED_PRECONDITION,
                      "accounts: cannot create directory %s: %s", dir, strerror(errno));
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return mc_err_set(err, MC_FAILED_PRECONDITION, "accounts: %s is not a directory", dir);
  return MC_OK;
}

static mc_code open_env(wa_store *s, const char *dir, mc_err *err) {
  int rc = mdb_env_create(&s->env);
  if (rc != 0)
    return lmdb_err(err, rc, "mdb_env_create");
  const char *step = "mdb_env_set_maxdbs";
  rc = mdb_env_set_maxdbs(s->env, 1);
  if (rc == 0) {
    step = "mdb_env_set_mapsize";
    rc = mdb_env_set_mapsize(s->env, WA_MAP_BYTES);
  }
  if (rc == 0) {
    step = "mdb_env_open";
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
  }
  if (rc != 0)
    return mc_err_set(err, lmdb_code(rc), "accounts: %s %s: %s", step, dir, mdb_strerror(rc));
  MDB_txn *txn;
  if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
    return lmdb_err(err, rc, "mdb_txn_begin");
  if ((rc = mdb_dbi_open(txn, WA_DB_NAME, MDB_CREATE, &s->dbi)) != 0) {
    mdb_txn_abort(txn);
    return lmdb_err(err, rc, "mdb_dbi_open");
  }
  return txn_finish(txn, MC_OK, err);
}

mc_code wa_open(const char *dir, wa_store **out, mc_err *err) {
  if (dir == NULL || dir[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "accounts: no directory given");
  if (sodium_init() < 0)
    return mc_err_set(err, MC_INTERNAL, "libsodium failed to initialise");
  mc_code code = make_dir(dir, err);
  if (code != MC_OK)
    return code;
  wa_store *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: out of memory");
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: cannot make a mutex");
  }
  if (pthread_cond_init(&s->cv, NULL) != 0) {
    pthread_mutex_destroy(&s->mu);
    free(s);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: cannot make a condition");
  }
  s->sync_ready = true;
  if ((code = open_env(s, dir, err)) != MC_OK) {
    wa_close(s);
    return code;
  }
  unsigned char nobody[32];
  randombytes_buf(nobody, sizeof(nobody));
  int rc = argon_hash(s, s->dummy_hash, (const char *)nobody, sizeof(nobody));
  sodium_memzero(nobody, sizeof(nobody));
  if (rc != 0) {
    wa_close(s);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: out of memory for Argon2id");
  }
  *out = s;
  return MC_OK;
}

void wa_close(wa_store *s) {
  if (s == NULL)
    return;
  if (s->env != NULL)
    mdb_env_close(s->env);
  if (s->sync_ready) {
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
  }
  free(s);
}

/* ---- changes ------------------------------------------------------------------ */

static mc_code hash_password(wa_store *s, const char *password,
                             char hash[crypto_pwhash_STRBYTES], mc_err *err) {
  if (argon_hash(s, hash, password, strlen(password)) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: out of memory for Argon2id");
  return MC_OK;
}

mc_code wa_add(wa_store *s, const char *name, const char *role, const char *password,
               int64_t now_ms, mc_err *err) {
  mc_code code;
  if ((code = wa_check_name(name, err)) != MC_OK || (code = check_role(role, err)) != MC_OK ||
      (code = wa_check_password(password, err)) != MC_OK)
    return code;
  char hash[crypto_pwhash_STRBYTES];
  if ((code = hash_password(s, password, hash, err)) != MC_OK)
    return code;
  wa_record r = MEDIATION__V1__WEB_ACCOUNT__INIT;
  r.name = (char *)name;
  r.role = (char *)role;
  r.password_hash = hash;
  r.created_ms = now_ms;
  r.password_changed_ms = now_ms;
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0)
    code = lmdb_err(err, rc, "mdb_txn_begin");
  else
    code = txn_finish(txn, record_put(txn, s->dbi, &r, MDB_NOOVERWRITE, err), err);
  sodium_memzero(hash, sizeof(hash));
  return code;
}

typedef struct password_change {
  char *hash;
  int64_t now_ms;
} password_change;

static mc_code apply_password(wa_record *r, void *arg, bool *write, mc_err *err) {
  password_change *c = arg;
  r->password_hash = c->hash;
  r->password_changed_ms = c->now_ms;
  r->failures = 0;
  r->locked_until_ms = 0;
  *write = true;
  return MC_OK;
}

mc_code wa_set_password(wa_store *s, const char *name, const char *password, int64_t now_ms,
                        mc_err *err) {
  mc_code code;
  if ((code = wa_check_name(name, err)) != MC_OK ||
      (code = wa_check_password(password, err)) != MC_OK)
    return code;
  char hash[crypto_pwhash_STRBYTES];
  if ((code = hash_password(s, password, hash, err)) != MC_OK)
    return code;
  password_change c = {.hash = hash, .now_ms = now_ms};
  code = record_update(s, name, apply_password, &c, err);
  sodium_memzero(hash, sizeof(hash));
  return code;
}

static mc_code apply_disabled(wa_record *r, void *arg, bool *write, mc_err *err) {
  bool disabled = *(bool *)arg;
  *write = r->disabled != disabled;
  r->disabled = disabled;
  return MC_OK;
}

mc_code wa_set_disabled(wa_store *s, const char *name, bool disabled, mc_err *err) {
  mc_code code = wa_check_name(name, err);
  if (code != MC_OK)
    return code;
  return record_update(s, name, apply_disabled, &disabled, err);
}

/* ---- reads ---------------------------------------------------------------- */

mc_code wa_get(wa_store *s, const char *name, wa_account *out, mc_err *err) {
  mc_code code = wa_check_name(name, err);
  if (code != MC_OK)
    return code;
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return lmdb_err(err, rc, "mdb_txn_begin");
  wa_record *r = NULL;
  code = record_get(txn, s->dbi, name, &r, err);
  mdb_txn_abort(txn);
  if (code != MC_OK)
    return code;
  to_account(r, out);
  mediation__v1__web_account__free_unpacked(r, NULL);
  return MC_OK;
}

/* Appends the record under the cursor to the list. */
static mc_code list_add(MDB_val *val, wa_account **list, size_t *n, size_t *cap, mc_err *err) {
  wa_record *r = mediation__v1__web_account__unpack(NULL, val->mv_size, val->mv_data);
  if (r == NULL)
    return mc_err_set(err, MC_DATA_LOSS, "accounts: a record cannot be read");
  if (*n == *cap) {
    size_t grown_cap = *cap ? *cap * 2 : 16;
    wa_account *grown = realloc(*list, grown_cap * sizeof(*grown));
    if (grown == NULL) {
      mediation__v1__web_account__free_unpacked(r, NULL);
      return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "accounts: out of memory");
    }
    *list = grown;
    *cap = grown_cap;
  }
  to_account(r, &(*list)[(*n)++]);
  mediation__v1__web_account__free_unpacked(r, NULL);
  return MC_OK;
}

mc_code wa_list(wa_store *s, wa_account **out, size_t *n, mc_err *err) {
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return lmdb_err(err, rc, "mdb_txn_begin");
  if ((rc = mdb_cursor_open(txn, s->dbi, &cur)) != 0) {
    mdb_txn_abort(txn);
    return lmdb_err(err, rc, "mdb_cursor_open");
  }
  wa_account *list = NULL;
  size_t count = 0, cap = 0;
  mc_code code = MC_OK;
  MDB_val key, val;
  for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && code == MC_OK;
       rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
    code = list_add(&val, &list, &count, &cap, err);
  if (code == MC_OK && rc != MDB_NOTFOUND)
    code = lmdb_err(err, rc, "mdb_cursor_get");
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (code != MC_OK) {
    free(list);
    return code;
  }
  *out = list;
  *n = count;
  return MC_OK;
}

/* ---- logins ----------------------------------------------------------------- */

/* What a login saw before it verified: the hash and whether it was locked. */
typedef struct login_view {
  bool found;
  char hash[crypto_pwhash_STRBYTES];
  int64_t locked_until_ms;
} login_view;

static mc_code read_view(wa_store *s, const char *name, login_view *v, mc_err *err) {
  memset(v, 0, sizeof(*v));
  mc_err ignored;
  if (wa_check_name(name, &ignored) != MC_OK)
    return MC_OK; /* cannot be a name: not found */
  MDB_txn *txn;
  int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return lmdb_err(err, rc, "mdb_txn_begin");
  wa_record *r = NULL;
  mc_code code = record_get(txn, s->dbi, name, &r, err);
  mdb_txn_abort(txn);
  if (code == MC_NOT_FOUND)
    return MC_OK;
  if (code != MC_OK)
    return code;
  v->found = true;
  copy_text(v->hash, sizeof(v->hash), r->password_hash);
  v->locked_until_ms = r->locked_until_ms;
  mediation__v1__web_account__free_unpacked(r, NULL);
  return MC_OK;
}

static mc_code locked(int64_t until_ms, mc_err *err) {
  time_t t = (time_t)(until_ms / 1000);
  struct tm tm;
  if (localtime_r(&t, &tm) == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "account locked");
  return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "account locked until %02d:%02d", tm.tm_hour,
                    tm.tm_min);
}

/* The update after a verify (record_update's callback). */
typedef struct login_update {
  const char *seen_hash; /* the hash verified; another one now: start again */
  bool right;            /* the password matched it */
  char *new_hash;        /* a rehash to store, or NULL */
  int64_t now_ms;
  wa_account *out;
} login_update;

static mc_code apply_login(wa_record *r, void *arg, bool *write, mc_err *err) {
  login_update *u = arg;
  if (strcmp(r->password_hash, u->seen_hash) != 0)
    return MC_ABORTED; /* a new password landed while we verified: the caller starts again */
  if (r->locked_until_ms != 0 && r->locked_until_ms <= u->now_ms) {
    r->locked_until_ms = 0; /* the lock is over: count afresh */
    r->failures = 0;
    *write = true;
  }
  if (r->locked_until_ms != 0)
    return locked(r->locked_until_ms, err); /* locked by another login meanwhile */
  *write = true;
  if (!u->right) {
    r->failures++;
    if (r->failures >= WA_MAX_FAILURES)
      r->locked_until_ms = u->now_ms + WA_LOCK_MS;
    return mc_err_set(err, MC_UNAUTHENTICATED, WRONG);
  }
  if (r->disabled) {
    *write = *write || r->failures != 0;
    r->failures = 0;
    return mc_err_set(err, MC_PERMISSION_DENIED, "account disabled");
  }
  r->failures = 0;
  r->last_login_ms = u->now_ms;
  if (u->new_hash != NULL)
    r->password_hash = u->new_hash;
  to_account(r, u->out);
  return MC_OK;
}

/* One read, verify and update; MC_ABORTED when the hash changed meanwhile. */
static mc_code login_once(wa_store *s, const char *name, const char *password, size_t len,
                          int64_t now_ms, wa_account *out, mc_err *err) {
  login_view v;
  mc_code code = read_view(s, name, &v, err);
  if (code != MC_OK)
    return code;
  if (!v.found) {
    /* Its answer is no; the call is for the time it takes. */
    volatile bool sink = argon_verify(s, s->dummy_hash, password, len);
    (void)sink;
    return mc_err_set(err, MC_UNAUTHENTICATED, WRONG);
  }
  if (v.locked_until_ms > now_ms)
    return locked(v.locked_until_ms, err);
  char new_hash[crypto_pwhash_STRBYTES];
  login_update u = {.seen_hash = v.hash, .now_ms = now_ms, .out = out};
  u.right = argon_verify(s, v.hash, password, len);
  if (u.right && crypto_pwhash_str_needs_rehash(v.hash, WA_OPS, WA_MEM) != 0 &&
      argon_hash(s, new_hash, password, len) == 0)
    u.new_hash = new_hash;
  code = record_update(s, name, apply_login, &u, err);
  if (code == MC_NOT_FOUND) /* removed while we verified */
    code = mc_err_set(err, MC_UNAUTHENTICATED, WRONG);
  sodium_memzero(new_hash, sizeof(new_hash));
  return code;
}

mc_code wa_login(wa_store *s, const char *name, const char *password, int64_t now_ms,
                 wa_account *out, mc_err *err) {
  if (s == NULL || name == NULL || password == NULL || out == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "accounts: login without name or password");
  size_t len = strnlen(password, WA_PASSWORD_MAX + 1);
  if (len > WA_PASSWORD_MAX)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "password: at most %d bytes", WA_PASSWORD_MAX);
  for (int i = 0; i < WA_LOGIN_TRIES; i++) {
    mc_code code = login_once(s, name, password, len, now_ms, out, err);
    if (code != MC_ABORTED)
      return code;
  }
  return mc_err_set(err, MC_UNAUTHENTICATED, WRONG);
}
