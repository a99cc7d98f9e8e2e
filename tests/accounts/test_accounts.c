/*
 * test_accounts.c - web/accounts.c against a real LMDB in a temporary
 * directory: what is stored (a hash, never the password), logins and their
 * refusals, the lockout and its end, what survives a reopen, the admin
 * changes, bad input, and logins from several threads at once.
 *
 * Time is injected (now_ms), so the 15-minute lock is tested without
 * waiting. Argon2id at interactive limits takes ~0.1 s per hash: the tests
 * keep the number of hashes small.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>

#include "harness.h"
#include "mv1.h"
#include "web/accounts.h"

#define T0 1764720000000LL /* 2025-12-03 00:00 UTC */
#define NAME "周晓梅"
#define PASSWORD "correct horse 马"
#define OTHER_PASSWORD "battery staple"

typedef struct fixture {
  th_dir dir;
  wa_store *s;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  assert_int_equal(th_dir_make(&f->dir, "accounts"), 0);
  mc_err err;
  char sub[TH_PATH_MAX + 16];
  snprintf(sub, sizeof(sub), "%s/web", f->dir.path); /* wa_open makes it */
  assert_int_equal(wa_open(sub, &f->s, &err), MC_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  wa_close(f->s);
  th_dir_remove(&f->dir);
  free(f);
  return 0;
}

static void reopen(fixture *f) {
  wa_close(f->s);
  char sub[TH_PATH_MAX + 16];
  snprintf(sub, sizeof(sub), "%s/web", f->dir.path);
  mc_err err;
  assert_int_equal(wa_open(sub, &f->s, &err), MC_OK);
}

static void add(fixture *f, const char *name, const char *role, const char *pw) {
  mc_err err;
  mc_code rc = wa_add(f->s, name, role, pw, T0, &err);
  if (rc != MC_OK)
    fail_msg("wa_add: %s", err.msg);
}

static mc_code login(fixture *f, const char *name, const char *pw, int64_t now, mc_err *err) {
  wa_account a;
  return wa_login(f->s, name, pw, now, &a, err);
}

/* Whether the bytes of needle occur anywhere in the file. */
static bool file_contains(const char *path, const char *needle) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  size_t n = strlen(needle), cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  size_t got;
  bool found = false;
  while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
    len += got;
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
  }
  fclose(fp);
  for (size_t i = 0; n <= len && i <= len - n && !found; i++)
    found = memcmp(buf + i, needle, n) == 0;
  free(buf);
  return found;
}

static void test_stores_hash_not_password(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  char path[TH_PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/web/data.mdb", f->dir.path);
  assert_true(file_contains(path, NAME));       /* the key is there: the file is the right one */
  assert_true(file_contains(path, "$argon2id$")); /* a libsodium Argon2id string */
  assert_false(file_contains(path, PASSWORD));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  snprintf(path, sizeof(path), "%s/web", f->dir.path);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_login_right_and_wrong(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  mc_err err;
  wa_account a;
  assert_int_equal(wa_login(f->s, NAME, PASSWORD, T0 + 1000, &a, &err), MC_OK);
  assert_string_equal(a.name, NAME);
  assert_string_equal(a.role, "mediator");
  assert_int_equal(a.last_login_ms, T0 + 1000);
  assert_int_equal(a.failures, 0);

  assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0 + 2000, &err), MC_UNAUTHENTICATED);
  assert_string_equal(err.msg, "wrong name or password");
  assert_null(strstr(err.msg, NAME));
  assert_int_equal(login(f, "李四", PASSWORD, T0 + 2000, &err), MC_UNAUTHENTICATED);
  assert_string_equal(err.msg, "wrong name or password");
  assert_int_equal(login(f, "", PASSWORD, T0 + 2000, &err), MC_UNAUTHENTICATED);
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, 1);
  /* A success clears the count. */
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 3000, &err), MC_OK);
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, 0);
  assert_int_equal(a.last_login_ms, T0 + 3000);
}

static void test_lockout(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  mc_err err;
  int64_t t = T0 + 60000;
  for (int i = 0; i < WA_MAX_FAILURES; i++)
    assert_int_equal(login(f, NAME, OTHER_PASSWORD, t + i, &err), MC_UNAUTHENTICATED);
  wa_account a;
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, WA_MAX_FAILURES);
  int64_t until = t + WA_MAX_FAILURES - 1 + WA_LOCK_MS;
  assert_int_equal(a.locked_until_ms, until);
  /* Locked: even the right password is refused, and a wrong one too. */
  assert_int_equal(login(f, NAME, PASSWORD, t + 10, &err), MC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(err.msg, "locked until"));
  assert_int_equal(login(f, NAME, OTHER_PASSWORD, until - 1, &err), MC_RESOURCE_EXHAUSTED);
  /* The lock is in the record: a restart keeps it. */
  reopen(f);
  assert_int_equal(login(f, NAME, PASSWORD, until - 1, &err), MC_RESOURCE_EXHAUSTED);
  /* 15 minutes later: the right password works and clears everything. */
  assert_int_equal(wa_login(f->s, NAME, PASSWORD, until, &a, &err), MC_OK);
  assert_int_equal(a.failures, 0);
  assert_int_equal(a.locked_until_ms, 0);
}

static void test_lock_ends_count_starts_again(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  mc_err err;
  for (int i = 0; i < WA_MAX_FAILURES; i++)
    assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0, &err), MC_UNAUTHENTICATED);
  /* After the lock a single wrong password does not lock again. */
  int64_t after = T0 + WA_LOCK_MS;
  assert_int_equal(login(f, NAME, OTHER_PASSWORD, after, &err), MC_UNAUTHENTICATED);
  wa_account a;
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, 1);
  assert_int_equal(a.locked_until_ms, 0);
  assert_int_equal(login(f, NAME, PASSWORD, after + 1, &err), MC_OK);
}

static void test_survives_reopen(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  add(f, "马德顺", "officer", OTHER_PASSWORD);
  mc_err err;
  assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0 + 5, &err), MC_UNAUTHENTICATED);
  reopen(f);
  wa_account a;
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, 1);
  assert_int_equal(a.created_ms, T0);
  assert_int_equal(a.password_changed_ms, T0);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 6, &err), MC_OK);
  assert_int_equal(login(f, "马德顺", OTHER_PASSWORD, T0 + 6, &err), MC_OK);
}

static void test_disable_enable(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  mc_err err;
  assert_int_equal(wa_set_disabled(f->s, NAME, true, &err), MC_OK);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 1, &err), MC_PERMISSION_DENIED);
  assert_string_equal(err.msg, "account disabled");
  /* A wrong password says nothing of the account's state. */
  assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0 + 2, &err), MC_UNAUTHENTICATED);
  assert_int_equal(wa_set_disabled(f->s, NAME, false, &err), MC_OK);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 3, &err), MC_OK);
  assert_int_equal(wa_set_disabled(f->s, "李四", true, &err), MC_NOT_FOUND);
}

static void test_passwd_clears_lock(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  mc_err err;
  for (int i = 0; i < WA_MAX_FAILURES; i++)
    assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0, &err), MC_UNAUTHENTICATED);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 1, &err), MC_RESOURCE_EXHAUSTED);
  assert_int_equal(wa_set_password(f->s, NAME, OTHER_PASSWORD, T0 + 2, &err), MC_OK);
  wa_account a;
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, 0);
  assert_int_equal(a.locked_until_ms, 0);
  assert_int_equal(a.password_changed_ms, T0 + 2);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 3, &err), MC_UNAUTHENTICATED);
  assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0 + 4, &err), MC_OK);
  assert_int_equal(wa_set_password(f->s, "李四", OTHER_PASSWORD, T0, &err), MC_NOT_FOUND);
}

static void test_list(void **state) {
  fixture *f = *state;
  wa_account *list = NULL;
  size_t n = 99;
  mc_err err;
  assert_int_equal(wa_list(f->s, &list, &n, &err), MC_OK);
  assert_int_equal(n, 0);
  free(list);
  add(f, "b-coordinator", "coordinator", PASSWORD);
  add(f, "a-officer", "officer", PASSWORD);
  assert_int_equal(wa_set_disabled(f->s, "b-coordinator", true, &err), MC_OK);
  assert_int_equal(wa_list(f->s, &list, &n, &err), MC_OK);
  assert_int_equal(n, 2);
  assert_string_equal(list[0].name, "a-officer");
  assert_string_equal(list[0].role, "officer");
  assert_false(list[0].disabled);
  assert_string_equal(list[1].name, "b-coordinator");
  assert_true(list[1].disabled);
  free(list);
}

static void test_bad_input(void **state) {
  fixture *f = *state;
  mc_err err;
  assert_int_equal(wa_add(f->s, NAME, "mediator", "short", T0, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "password: at least 8 bytes"));
  char longpw[WA_PASSWORD_MAX + 2];
  memset(longpw, 'x', sizeof(longpw) - 1);
  longpw[sizeof(longpw) - 1] = '\0';
  assert_int_equal(wa_add(f->s, NAME, "mediator", longpw, T0, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "password: at most 128 bytes"));
  assert_int_equal(login(f, NAME, longpw, T0, &err), MC_INVALID_ARGUMENT);
  assert_int_equal(wa_add(f->s, "", "mediator", PASSWORD, T0, &err), MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "name: empty");
  assert_int_equal(wa_add(f->s, "a\nb", "mediator", PASSWORD, T0, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "control character"));
  assert_int_equal(wa_add(f->s, "\xff\xfe", "mediator", PASSWORD, T0, &err),
                   MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "name: not valid UTF-8");
  char longname[WA_NAME_MAX + 2];
  memset(longname, 'n', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  assert_int_equal(wa_add(f->s, longname, "mediator", PASSWORD, T0, &err), MC_INVALID_ARGUMENT);
  assert_int_equal(wa_add(f->s, NAME, "Mediator!", PASSWORD, T0, &err), MC_INVALID_ARGUMENT);
  assert_int_equal(wa_add(f->s, NAME, "", PASSWORD, T0, &err), MC_INVALID_ARGUMENT);
  /* Exactly the limits are fine. */
  longname[WA_NAME_MAX] = '\0';
  longpw[WA_PASSWORD_MAX] = '\0';
  add(f, longname, "mediator", "12345678");
  assert_int_equal(wa_add(f->s, longname, "mediator", longpw, T0, &err), MC_ALREADY_EXISTS);
  assert_null(strstr(err.msg, longname));
  assert_int_equal(wa_open("", &f->s, &err), MC_INVALID_ARGUMENT);
  wa_store *none = NULL;
  assert_int_not_equal(wa_open("/proc/nonexistent/web", &none, &err), MC_OK);
  assert_null(none);
}

/* ---- a hash made with older, weaker parameters ---------------------------- */

/* The stored hash of name, read (or with `replace`, overwritten) through
 * LMDB itself while no wa_store is open (one process opens an environment
 * once). */
static void raw_hash(fixture *f, const char *name, char *hash, size_t cap, const char *replace) {
  char sub[TH_PATH_MAX + 16];
  snprintf(sub, sizeof(sub), "%s/web", f->dir.path);
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 1), 0);
  assert_int_equal(mdb_env_open(env, sub, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "accounts", 0, &dbi), 0);
  MDB_val key = {strlen(name), (void *)name}, val;
  assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
  Mediation__V1__WebAccount *r = mediation__v1__web_account__unpack(NULL, val.mv_size, val.mv_data);
  assert_non_null(r);
  snprintf(hash, cap, "%s", r->password_hash);
  if (replace != NULL) {
    char *own = r->password_hash;
    r->password_hash = (char *)replace;
    uint8_t buf[1024];
    size_t len = mediation__v1__web_account__get_packed_size(r);
    assert_true(len <= sizeof(buf));
    mediation__v1__web_account__pack(r, buf);
    r->password_hash = own;
    MDB_val nv = {len, buf};
    assert_int_equal(mdb_put(txn, dbi, &key, &nv, 0), 0);
  }
  mediation__v1__web_account__free_unpacked(r, NULL);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

static void test_rehash_on_login(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  wa_close(f->s);
  f->s = NULL;
  char weak[crypto_pwhash_STRBYTES], seen[crypto_pwhash_STRBYTES];
  assert_int_equal(crypto_pwhash_str(weak, PASSWORD, strlen(PASSWORD),
                                     crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN),
                   0);
  raw_hash(f, NAME, seen, sizeof(seen), weak);
  reopen(f);
  mc_err err;
  assert_int_equal(login(f, NAME, OTHER_PASSWORD, T0 + 1, &err), MC_UNAUTHENTICATED);
  wa_close(f->s);
  f->s = NULL;
  raw_hash(f, NAME, seen, sizeof(seen), NULL);
  assert_string_equal(seen, weak); /* a wrong password changes no hash */
  reopen(f);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 2, &err), MC_OK);
  wa_close(f->s);
  f->s = NULL;
  raw_hash(f, NAME, seen, sizeof(seen), NULL);
  assert_string_not_equal(seen, weak);
  assert_int_equal(crypto_pwhash_str_needs_rehash(seen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                  crypto_pwhash_MEMLIMIT_INTERACTIVE),
                   0);
  assert_int_equal(crypto_pwhash_str_verify(seen, PASSWORD, strlen(PASSWORD)), 0);
  reopen(f);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 3, &err), MC_OK);
}

/* ---- several threads at once ---------------------------------------------- */

typedef struct racer {
  fixture *f;
  const char *password;
  mc_code codes[3];
} racer;

static void *race(void *arg) {
  racer *r = arg;
  for (int i = 0; i < 3; i++) {
    mc_err err;
    wa_account a;
    r->codes[i] = wa_login(r->f->s, NAME, r->password, T0 + 100 + i, &a, &err);
  }
  return NULL;
}

static void run_racers(fixture *f, racer r[4], const char *const pw[4]) {
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    r[i] = (racer){.f = f, .password = pw[i]};
    assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
}

static void test_concurrent_logins(void **state) {
  fixture *f = *state;
  add(f, NAME, "mediator", PASSWORD);
  /* Three threads with the right password and one with a wrong one: at most
   * three failures, never a lock, so every right login succeeds. */
  racer r[4];
  const char *const mixed[4] = {PASSWORD, OTHER_PASSWORD, PASSWORD, PASSWORD};
  run_racers(f, r, mixed);
  for (int i = 0; i < 4; i++) {
    for (int k = 0; k < 3; k++)
      assert_int_equal(r[i].codes[k], i == 1 ? MC_UNAUTHENTICATED : MC_OK);
  }
  wa_account a;
  mc_err err;
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_true(a.failures <= 3);
  assert_int_equal(a.locked_until_ms, 0);
  uint32_t before = a.failures;
  /* Four threads, all wrong, 12 attempts: no update is lost, so exactly the
   * failures up to the fifth answer UNAUTHENTICATED, then the account is
   * locked and the rest RESOURCE_EXHAUSTED. */
  const char *const wrong[4] = {OTHER_PASSWORD, OTHER_PASSWORD, OTHER_PASSWORD, OTHER_PASSWORD};
  run_racers(f, r, wrong);
  int unauthenticated = 0, exhausted = 0;
  for (int i = 0; i < 4; i++) {
    for (int k = 0; k < 3; k++) {
      unauthenticated += r[i].codes[k] == MC_UNAUTHENTICATED;
      exhausted += r[i].codes[k] == MC_RESOURCE_EXHAUSTED;
    }
  }
  assert_int_equal(unauthenticated, WA_MAX_FAILURES - (int)before);
  assert_int_equal(exhausted, 12 - unauthenticated);
  assert_int_equal(wa_get(f->s, NAME, &a, &err), MC_OK);
  assert_int_equal(a.failures, WA_MAX_FAILURES);
  assert_true(a.locked_until_ms > 0);
  assert_int_equal(login(f, NAME, PASSWORD, T0 + 200, &err), MC_RESOURCE_EXHAUSTED);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stores_hash_not_password, setup, teardown),
      cmocka_unit_test_setup_teardown(test_login_right_and_wrong, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_ends_count_starts_again, setup, teardown),
      cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disable_enable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_passwd_clears_lock, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rehash_on_login, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_logins, setup, teardown),
  };
  return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
