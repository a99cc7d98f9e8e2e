/*
 * env.c - one LMDB environment, as both the case store and a unit's outbox
 * use it: opening, the admission gate, read transactions, the batch runner
 * with map growth, backups and reader checks.
 *
 * The idea: all of LMDB's sharp edges are handled here, once.
 *   - Group commit: a batch is one write transaction; each op runs in a
 *     nested transaction, so a refused op is aborted alone. The runner
 *     returns only after mdb_txn_commit has returned.
 *   - After any LMDB failure inside a write transaction the transaction is
 *     dead. The primitives mark it (st_txn.failed), the runner checks the
 *     mark after each callback (whatever the callback returned) and aborts.
 *   - MDB_MAP_FULL (from a put or from the commit) is not fatal: abort, double
 *     the map, run the whole batch again. mdb_env_set_mapsize needs every
 *     transaction of the process closed, which the gate provides: every
 *     transaction holds the gate shared for its life, the grower holds it
 *     exclusive.
 */
#include "storage/env.h"

#include <errno.h>
#include <fcntl.h>
#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- The gate ------------------------------------------------------------- */

static int gate_init(sti_gate *g) {
  memset(g, 0, sizeof(*g));
  if (pthread_mutex_init(&g->mu, NULL) != 0)
    return -1;
  if (pthread_cond_init(&g->cv, NULL) != 0) {
    pthread_mutex_destroy(&g->mu);
    return -1;
  }
  return 0;
}

static void gate_destroy(sti_gate *g) {
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

static void gate_enter_shared(sti_gate *g) {
  pthread_mutex_lock(&g->mu);
  while (g->want_exclusive || g->exclusive)
    pthread_cond_wait(&g->cv, &g->mu);
  g->shared++;
  pthread_mutex_unlock(&g->mu);
}

static void gate_leave_shared(sti_gate *g) {
  pthread_mutex_lock(&g->mu);
  g->shared--;
  if (g->shared == 0)
    pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void gate_enter_exclusive(sti_gate *g) {
  pthread_mutex_lock(&g->mu);
  /* Growers are rare (the batch writer, or a reader adopting a size another
   * process set); take turns. */
  while (g->want_exclusive || g->exclusive)
    pthread_cond_wait(&g->cv, &g->mu);
  g->want_exclusive = true;
  while (g->shared > 0)
    pthread_cond_wait(&g->cv, &g->mu);
  g->want_exclusive = false;
  g->exclusive = true;
  pthread_mutex_unlock(&g->mu);
}

static void gate_leave_exclusive(sti_gate *g) {
  pthread_mutex_lock(&g->mu);
  g->exclusive = false;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* ---- Errors ----------------------------------------------------------------- */

mc_code sti_code(int rc) {
  switch (rc) {
  case 0:
    return MC_OK;
  case MDB_NOTFOUND:
    return MC_NOT_FOUND;
  case MDB_KEYEXIST:
    return MC_ALREADY_EXISTS;
  case MDB_MAP_FULL:
  case MDB_READERS_FULL:
  case MDB_TXN_FULL:
  case MDB_CURSOR_FULL:
  case MDB_PAGE_FULL:
  case MDB_DBS_FULL:
  case MDB_TLS_FULL:
  case ENOSPC:
  case EDQUOT:
    return MC_RESOURCE_EXHAUSTED;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
  case MDB_VERSION_MISMATCH:
  case MDB_INCOMPATIBLE:
    return MC_DATA_LOSS;
  case MDB_BAD_VALSIZE:
  case EINVAL:
    return MC_INVALID_ARGUMENT;
  case EACCES:
  case EPERM:
  case EROFS:
    return MC_PERMISSION_DENIED;
  case EAGAIN:
  case EBUSY:
  case EIO:
  case ENOMEM: /* transient like EIO, not a refusal: nothing was written, send it again */
  case MDB_PANIC:
  case MDB_MAP_RESIZED:
    return MC_UNAVAILABLE;
  default:
    return MC_INTERNAL;
  }
}

mc_code sti_lmdb_err(mc_err *err, int rc, const char *what, const char *op) {
  return mc_err_set(err, sti_code(rc), "%s: %s: %s", what, op, mdb_strerror(rc));
}

mc_code sti_check_kind(st_txn *txn, sti_kind kind, mc_err *err) {
  if (txn == NULL || txn->kind != kind)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s",
                      kind == STI_STORE ? "not a case store transaction"
                                        : "not an outbox transaction");
  return MC_OK;
}

mc_code sti_check_write(st_txn *txn, sti_kind kind, mc_err *err) {
  mc_code rc = sti_check_kind(txn, kind, err);
  if (rc != MC_OK)
    return rc;
  if (!txn->write)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      "a write needs the transaction of a batch callback, not a read transaction");
  if (txn->failed)
    return mc_err_set(err, sti_code(txn->failed),
                      "%s: the write transaction already failed (%s); the batch is aborted",
                      txn->env->what, mdb_strerror(txn->failed));
  return MC_OK;
}

/* ---- Opening ---------------------------------------------------------------- */

static size_t round_up(size_t v, size_t page) {
  return (v + page - 1) / page * page;
}

static mc_code make_dir(const char *dir, const char *what, mc_err *err) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, sti_code(errno), "%s: cannot create directory %s: %s", what, dir,
                      strerror(errno));
  struct stat sb;
  if (stat(dir, &sb) != 0)
    return mc_err_set(err, sti_code(errno), "%s: %s: %s", what, dir, strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: %s is not a directory", what, dir);
  return MC_OK;
}

/* Grows the map by doubling, up to the maximum. Only with no transaction
 * open: the gate's exclusive side waits for them. */
static mc_code env_grow(sti_env *e, mc_err *err) {
  mc_code code = MC_OK;
  gate_enter_exclusive(&e->gate);
  MDB_envinfo info;
  int rc = mdb_env_info(e->env, &info);
  if (rc != 0) {
    code = sti_lmdb_err(err, rc, e->what, "mdb_env_info");
  } else if (info.me_mapsize >= e->max_map_size) {
    code = mc_err_set(err, MC_RESOURCE_EXHAUSTED,
                      "%s: full: the map reached its maximum of %zu MiB (raise max_map_size)",
                      e->what, e->max_map_size >> 20);
  } else {
    size_t next = info.me_mapsize > e->max_map_size / 2 ? e->max_map_size : info.me_mapsize * 2;
    rc = mdb_env_set_mapsize(e->env, next);
    if (rc != 0)
      code = sti_lmdb_err(err, rc, e->what, "mdb_env_set_mapsize");
  }
  gate_leave_exclusive(&e->gate);
  return code;
}

/* Another process grew the map (MDB_MAP_RESIZED): adopt its size. */
static mc_code env_adopt_size(sti_env *e, mc_err *err) {
  gate_enter_exclusive(&e->gate);
  int rc = mdb_env_set_mapsize(e->env, 0);
  gate_leave_exclusive(&e->gate);
  return rc == 0 ? MC_OK : sti_lmdb_err(err, rc, e->what, "mdb_env_set_mapsize");
}

size_t sti_env_map_size(sti_env *e) {
  MDB_envinfo info;
  if (mdb_env_info(e->env, &info) != 0)
    return 0;
  return info.me_mapsize;
}

/* Creates the named databases, growing the map if even they do not fit.
 * Runs before any other thread can use the environment. */
static mc_code open_dbis(sti_env *e, const sti_env_options *o, mc_err *err) {
  for (;;) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc != 0)
      return sti_lmdb_err(err, rc, e->what, "mdb_txn_begin");
    for (size_t i = 0; i < o->n_names && rc == 0; i++)
      rc = mdb_dbi_open(txn, o->names[i], MDB_CREATE, &o->dbis[i]);
    if (rc == 0)
      rc = mdb_txn_commit(txn);
    else
      mdb_txn_abort(txn);
    if (rc == 0)
      return MC_OK;
    if (rc != MDB_MAP_FULL)
      return sti_lmdb_err(err, rc, e->what, "creating the databases");
    mc_code code = env_grow(e, err);
    if (code != MC_OK)
      return code;
  }
}

mc_code sti_env_open(sti_env *e, const sti_env_options *o, mc_err *err) {
  memset(e, 0, sizeof(*e));
  snprintf(e->what, sizeof(e->what), "%s", o->what);
  if (o->dir == NULL || o->dir[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: no directory given", o->what);
  long page = sysconf(_SC_PAGESIZE);
  e->page = page > 0 ? (size_t)page : 4096;
  /* LMDB needs a few pages for its metas and roots; below 16 it cannot even
   * hold the database names. */
  size_t map = round_up(o->map_size < 16 * e->page ? 16 * e->page : o->map_size, e->page);
  size_t max = o->max_map_size / e->page * e->page;
  if (max < map)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      "%s: max_map_size (%zu bytes) is below the initial map size (%zu bytes)",
                      o->what, o->max_map_size, map);
  e->max_map_size = max;
  mc_code code = make_dir(o->dir, o->what, err);
  if (code != MC_OK)
    return code;
  if (gate_init(&e->gate) != 0)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "%s: cannot create the gate", o->what);
  e->gate_ready = true;
  if (pthread_mutex_init(&e->write_mu, NULL) != 0) {
    sti_env_close(e);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "%s: cannot create the write mutex", o->what);
  }
  e->mu_ready = true;

  int rc = mdb_env_create(&e->env);
  if (rc != 0) {
    e->env = NULL;
    sti_env_close(e);
    return sti_lmdb_err(err, rc, o->what, "mdb_env_create");
  }
  const char *step = "mdb_env_set_maxreaders";
  rc = mdb_env_set_maxreaders(e->env, o->max_readers);
  if (rc == 0) {
    step = "mdb_env_set_maxdbs";
    rc = mdb_env_set_maxdbs(e->env, (MDB_dbi)o->n_names);
  }
  if (rc == 0) {
    step = "mdb_env_set_mapsize";
    rc = mdb_env_set_mapsize(e->env, map);
  }
  if (rc == 0) {
    /* MDB_NOTLS: read transactions live on nng's worker threads and may
     * move between them. Never MDB_NOMEMINIT (freed personal data would
     * reach disk in fresh pages), never MDB_WRITEMAP (a stray write through
     * the map corrupts the file, and with NOSYNC a crash can too). */
    unsigned flags = MDB_NOTLS | (o->nosync ? MDB_NOSYNC : 0);
    step = "mdb_env_open";
    rc = mdb_env_open(e->env, o->dir, flags, 0600);
  }
  if (rc != 0) {
    code = mc_err_set(err, sti_code(rc), "%s: %s %s: %s", o->what, step, o->dir,
                      mdb_strerror(rc));
    sti_env_close(e);
    return code;
  }
  /* The file may already need a bigger map than asked for. */
  if (sti_env_map_size(e) > e->max_map_size)
    e->max_map_size = sti_env_map_size(e);
  int dead = 0;
  rc = mdb_reader_check(e->env, &dead);
  if (rc != 0) {
    code = sti_lmdb_err(err, rc, o->what, "mdb_reader_check");
    sti_env_close(e);
    return code;
  }
  code = open_dbis(e, o, err);
  if (code != MC_OK) {
    sti_env_close(e);
    return code;
  }
  return MC_OK;
}

void sti_env_close(sti_env *e) {
  if (e->env != NULL)
    mdb_env_close(e->env);
  e->env = NULL;
  if (e->mu_ready)
    pthread_mutex_destroy(&e->write_mu);
  if (e->gate_ready)
    gate_destroy(&e->gate);
  e->mu_ready = e->gate_ready = false;
}

mc_code sti_env_reader_check(sti_env *e, int *cleared, mc_err *err) {
  int dead = 0;
  int rc = mdb_reader_check(e->env, &dead);
  if (rc != 0)
    return sti_lmdb_err(err, rc, e->what, "mdb_reader_check");
  if (cleared != NULL)
    *cleared = dead;
  return MC_OK;
}

/* ---- Read transactions -------------------------------------------------------- */

mc_code sti_read_begin(sti_env *e, sti_kind kind, void *owner, st_txn **out, mc_err *err) {
  st_txn *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: out of memory", e->what);
  for (int attempt = 0;; attempt++) {
    gate_enter_shared(&e->gate);
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t->txn);
    if (rc == 0)
      break;
    gate_leave_shared(&e->gate);
    if (rc == MDB_MAP_RESIZED && attempt < 3) {
      mc_code code = env_adopt_size(e, err);
      if (code == MC_OK)
        continue;
      free(t);
      return code;
    }
    free(t);
    return sti_lmdb_err(err, rc, e->what, "beginning a read transaction");
  }
  t->env = e;
  t->kind = kind;
  t->owner = owner;
  t->heap = true;
  *out = t;
  return MC_OK;
}

void st_read_end(st_txn *txn) {
  if (txn == NULL || !txn->heap)
    return;
  mdb_txn_abort(txn->txn);
  gate_leave_shared(&txn->env->gate);
  free(txn);
}

int st_txn_is_write(const st_txn *txn) {
  return txn != NULL && txn->write;
}

void st_messages_free(void *array, size_t n) {
  ProtobufCMessage **msgs = array;
  if (msgs == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    if (msgs[i] != NULL)
      protobuf_c_message_free_unpacked(msgs[i], NULL);
  free(msgs);
}

/* ---- The batch runner ----------------------------------------------------------- */

/* Sets every op's result to the batch's failure. */
static void fail_all(st_op *ops, size_t n, const mc_err *why) {
  for (size_t i = 0; i < n; i++) {
    ops[i].code = why->code;
    ops[i].err = *why;
  }
}

/* run_once's result when a direct op broke its promise (st_op.direct): not
 * an LMDB error, a request to run the batch again with that op nested. */
#define RERUN_NESTED (-1)
/* run_once's result when an all_or_nothing op refused: the batch is aborted,
 * its refusal in *why. */
#define REFUSED_ALL (-2)

/* One attempt: runs every op, commits. Returns 0 when committed, else the
 * LMDB error that killed the transaction (nothing of it remains),
 * RERUN_NESTED, or REFUSED_ALL (the refusal in *why). */
static int run_once(sti_env *e, sti_kind kind, void *owner, st_op *ops, size_t n, mc_err *why) {
  MDB_txn *parent;
  int rc = mdb_txn_begin(e->env, NULL, 0, &parent);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < n; i++) {
    st_op *op = &ops[i];
    mc_err_clear(&op->err);
    if (op->apply == NULL) {
      op->code = mc_err_set(&op->err, MC_INVALID_ARGUMENT, "batch op %zu has no callback", i);
      continue;
    }
    MDB_txn *child = NULL;
    if (!op->direct) {
      rc = mdb_txn_begin(e->env, parent, 0, &child);
      if (rc != 0) {
        mdb_txn_abort(parent);
        return rc;
      }
    }
    st_txn t = {.env = e, .txn = child ? child : parent, .kind = kind, .owner = owner,
                .write = true};
    mc_err operr;
    mc_err_clear(&operr);
    mc_code code = op->apply(&t, op->arg, &operr);
    if (t.failed != 0) {
      /* LMDB failed under the callback: the transaction is dead whatever
       * the callback made of it. */
      rc = t.failed;
      if (child)
        mdb_txn_abort(child);
      mdb_txn_abort(parent);
      return rc;
    }
    if (code != MC_OK && op->all_or_nothing) {
      if (child)
        mdb_txn_abort(child);
      mdb_txn_abort(parent);
      *why = operr;
      why->code = code;
      if (why->msg[0] == '\0')
        snprintf(why->msg, sizeof(why->msg), "%s", mc_code_text(code));
      return REFUSED_ALL;
    }
    if (code != MC_OK && child == NULL && t.wrote) {
      /* A direct op refused after writing: its writes cannot be taken back
       * alone. Start over with it nested. */
      mdb_txn_abort(parent);
      op->direct = false;
      return RERUN_NESTED;
    }
    if (code != MC_OK) {
      if (child)
        mdb_txn_abort(child);
      op->code = code;
      op->err = operr;
      op->err.code = code;
      if (op->err.msg[0] == '\0')
        snprintf(op->err.msg, sizeof(op->err.msg), "%s", mc_code_text(code));
      continue;
    }
    if (child != NULL && (rc = mdb_txn_commit(child)) != 0) {
      mdb_txn_abort(parent);
      return rc;
    }
    op->code = MC_OK;
  }
  return mdb_txn_commit(parent);
}

mc_code sti_write(sti_env *e, sti_kind kind, void *owner, st_op *ops, size_t n, mc_err *err) {
  if (n == 0)
    return MC_OK;
  if (ops == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s: batch of %zu ops without ops", e->what, n);
  pthread_mutex_lock(&e->write_mu);
  mc_err why;
  mc_err_clear(&why);
  mc_code code = MC_OK;
  for (int resized = 0;;) {
    gate_enter_shared(&e->gate);
    int rc = run_once(e, kind, owner, ops, n, &why);
    gate_leave_shared(&e->gate);
    if (rc == 0)
      break;
    if (rc == RERUN_NESTED)
      continue;
    if (rc == REFUSED_ALL) {
      code = why.code;
      fail_all(ops, n, &why);
      if (err != NULL)
        *err = why;
      break;
    }
    if (rc == MDB_MAP_FULL) {
      code = env_grow(e, &why);
      if (code == MC_OK)
        continue;
    } else if (rc == MDB_MAP_RESIZED && resized++ < 3) {
      code = env_adopt_size(e, &why);
      if (code == MC_OK)
        continue;
    } else {
      code = sti_lmdb_err(&why, rc, e->what, "batch not committed");
    }
    fail_all(ops, n, &why);
    if (err != NULL)
      *err = why;
    break;
  }
  pthread_mutex_unlock(&e->write_mu);
  return code;
}

/* ---- Backup ------------------------------------------------------------------- */

mc_code sti_env_backup(sti_env *e, const char *path, mc_err *err) {
  if (path == NULL || path[0] == '\0')
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s backup: no directory given", e->what);
  mc_code code = make_dir(path, e->what, err);
  if (code != MC_OK)
    return code;
  char file[4096];
  int len = snprintf(file, sizeof(file), "%s/data.mdb", path);
  if (len < 0 || (size_t)len >= sizeof(file))
    return mc_err_set(err, MC_INVALID_ARGUMENT, "%s backup: directory name too long", e->what);
  /* Created here, not by mdb_env_copy2, so that the copy of personal data
   * is private (0600) from its first byte whatever the umask; O_EXCL so an
   * older backup is never overwritten in place. */
  int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return mc_err_set(err, errno == EEXIST ? MC_ALREADY_EXISTS : sti_code(errno),
                      "%s backup: %s: %s", e->what, file, strerror(errno));
  /* The copy runs its own read transaction: hold the gate shared for it. */
  gate_enter_shared(&e->gate);
  int rc = mdb_env_copyfd2(e->env, fd, MDB_CP_COMPACT);
  gate_leave_shared(&e->gate);
  if (rc == 0 && fsync(fd) != 0)
    rc = errno;
  if (close(fd) != 0 && rc == 0)
    rc = errno;
  if (rc != 0) {
    unlink(file);
    return mc_err_set(err, sti_code(rc), "%s backup to %s: %s", e->what, path,
                      mdb_strerror(rc));
  }
  /* Make the new directory entry durable too. */
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return MC_OK;
}
