/*
 * seed.c - `mediation-router --node <id> --seed-from <dir>`: a node of a
 * new cluster starts from an existing store (a router that ran alone, in
 * lmdb-sync mode or as a single raft node), not from an empty one.
 *
 * Why this shape. A cluster's log is bootstrapped identically on every node
 * (entry 1, the configuration; raftlog.c) and applied on top of whatever
 * store the node starts with. So every node must start from the same bytes,
 * and that store must say it has applied nothing of this log (meta
 * "raft_applied" = 0): a single router's raft_applied counts entries of ITS
 * log, and left in place it would make the cluster skip its own first
 * entries (raftfsm.c skips what is at or below it). Seeding therefore:
 *   1. refuses a source in use (LMDB's lock file is locked by a live
 *      process), a single raft router not stopped cleanly (its raft-boot
 *      says "running": entries of its log may not be in its store yet), a
 *      data_dir that holds a raft log, checkpoints or raft-boot (a log and
 *      a store are never mixed: an empty data_dir is asked for);
 *   2. copies the source's data.mdb into <data_dir>/seed.tmp, opens the
 *      copy (never the source: opening writes to it) and verifies it
 *      (st_verify_with, signatures too when there is a router key);
 *   3. sets raft_applied to 0 there, takes a compacted copy (st_backup:
 *      deterministic for the same contents, so every node seeded from a
 *      copy of the same store gets the same bytes), and renames it into
 *      place as <data_dir>/data.mdb, synced - the last step.
 * A crash before the rename leaves only seed.tmp, which the next run
 * clears and redoes; after it, the next run makes the copy again and finds
 * it equal to data.mdb (done already: OK) - a different data.mdb is
 * another store and refused. The node's first start sees a store without
 * raft-boot or checkpoint, makes checkpoint 0 of it and bootstraps the
 * cluster's log (raftlog.c, open_checked_store).
 * A search key the source router kept next to its store (no keys_dir one)
 * is copied too, so the search index needs no rebuild on the node.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/i18n.h"
#include "core/log.h"
#include "router/internal.h"
#include "router/raftlog.h"
#include "rpc/identity.h"

#define SEED_TMP "seed.tmp"

static bool exists(const char *dir, const char *name) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

/* True if dir/name is a directory with anything in it. */
static bool dir_nonempty(const char *dir, const char *name) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  DIR *d = opendir(path);
  if (d == NULL)
    return false;
  struct dirent *de;
  bool any = false;
  while (!any && (de = readdir(d)) != NULL)
    any = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  closedir(d);
  return any;
}

static void fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* Copies from to to (created 0600, synced). */
static mc_code copy_file(const char *from, const char *to, mc_err *err) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    int e = errno;
    close(in);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", to, strerror(e));
  }
  static char buf[1 << 16];
  ssize_t got;
  bool ok = true;
  while (ok && (got = read(in, buf, sizeof(buf))) > 0)
    ok = write(out, buf, (size_t)got) == got;
  ok = ok && got == 0 && fsync(out) == 0;
  int e = errno;
  close(in);
  close(out);
  if (!ok)
    return mc_err_set(err, MC_UNAVAILABLE, _("copying %s to %s: %s"), from, to, strerror(e));
  return MC_OK;
}

/* 1 if the two files hold the same bytes, 0 if not, -1 if one is
 * unreadable. */
static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "re"), *fb = fopen(b, "re");
  int same = fa != NULL && fb != NULL ? 1 : -1;
  static char ba[1 << 16], bb[1 << 16];
  while (same == 1) {
    size_t na = fread(ba, 1, sizeof(ba), fa), nb = fread(bb, 1, sizeof(bb), fb);
    if (na != nb || memcmp(ba, bb, na) != 0)
      same = 0;
    else if (na == 0)
      break;
  }
  if (fa != NULL)
    fclose(fa);
  if (fb != NULL)
    fclose(fb);
  return same;
}

/* Removes <data_dir>/seed.tmp and what seeding puts in it. */
static void clear_tmp(const char *tmp) {
  static const char *const files[] = {"copy/data.mdb", "copy/lock.mdb", "data.mdb", "lock.mdb"};
  char path[PATH_MAX + 64];
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", tmp, files[i]);
    unlink(path);
  }
  snprintf(path, sizeof(path), "%s/copy", tmp);
  rmdir(path);
  rmdir(tmp);
}

/* The source must not be in use: every process that has an LMDB
 * environment open holds a lock on its lock.mdb (LMDB takes it with
 * fcntl), so a lock test on it finds a running router. */
static mc_code check_not_in_use(const char *from, mc_err *err) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/lock.mdb", from);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return MC_OK; /* no lock file (a backup), or none we may lock: nobody runs on it here */
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
  int rv = fcntl(fd, F_GETLK, &fl);
  close(fd);
  if (rv == 0 && fl.l_type != F_UNLCK)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      _("the store in %s is in use (process %ld has it open): stop its router "
                        "first, then seed from it"),
                      from, (long)fl.l_pid);
  return MC_OK;
}

/* A single raft router's data_dir must have been stopped cleanly: its
 * raft-boot says "clean" only after it applied its whole log and synced. */
static mc_code check_stopped_cleanly(const char *from, mc_err *err) {
  char path[PATH_MAX + 64], mark[128] = "";
  snprintf(path, sizeof(path), "%s/raft-boot", from);
  mc_err e2 = {0};
  if (rl_read_small(path, mark, sizeof(mark), &e2) == MC_NOT_FOUND)
    return MC_OK; /* lmdb-sync (every commit synced) or a backup */
  if (strstr(mark, " clean") == NULL)
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      _("the store in %s was not stopped cleanly (its raft-boot says the router "
                        "was running): start that router once more in its own mode, stop it "
                        "with SIGTERM, then seed from it"),
                      from);
  return MC_OK;
}

/* The node's data_dir must hold no raft state: a log, checkpoints or
 * raft-boot of another run are never mixed with a seeded store. */
static mc_code check_target(const char *data_dir, mc_err *err) {
  if (dir_nonempty(data_dir, "raft") || exists(data_dir, "checkpoint") ||
      exists(data_dir, "raft-boot"))
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      _("%s already holds a raft log, checkpoints or raft-boot (a router ran "
                        "there in raft mode, alone or as a node of a cluster): seeding never "
                        "mixes a store with another log; give this node an empty data_dir"),
                      data_dir);
  return MC_OK;
}

typedef struct first_problem {
  uint64_t n;
  char msg[512];
} first_problem;

static void note_problem(void *arg, const char *case_id, uint32_t seq, mc_code code,
                         const char *msg) {
  (void)case_id;
  (void)seq;
  (void)code;
  first_problem *p = arg;
  if (p->n++ == 0)
    snprintf(p->msg, sizeof(p->msg), "%s", msg);
}

static bool check_signature(void *arg, const char *context, const uint8_t *data, size_t len,
                            const uint8_t *sig, size_t sig_len) {
  const mc_registry *reg = arg;
  mc_err err;
  return rpc_verify_bytes(reg->router.public_key, context, data, len, sig, sig_len, &err) ==
         MC_OK;
}

static mc_code zero_applied(st_txn *txn, void *arg, mc_err *err) {
  (void)arg;
  return st_raft_applied_set(txn, 0, err);
}

/* Opens the copy in tmp, verifies it, resets raft_applied and makes its
 * compacted copy in tmp/copy. so: the router's store options. */
static mc_code prepare(const mc_registry *reg, st_options *so, const char *from,
                       const char *tmp, mc_err *err) {
  so->dir = tmp;
  st_store *store = NULL;
  mc_code rc = st_open(so, &store, err);
  if (rc != MC_OK) {
    mc_err inner = *err;
    return mc_err_set(err, rc == MC_UNAVAILABLE ? MC_UNAVAILABLE : MC_DATA_LOSS,
                      _("the store in %s does not open: %s"), from, inner.msg);
  }
  st_verify_options vo = {0};
  if (reg->router.has_key) {
    vo.check = check_signature;
    vo.check_arg = (void *)reg;
  }
  first_problem p = {0};
  uint64_t problems = 0;
  rc = st_verify_with(store, &vo, note_problem, &p, &problems, err);
  if (rc == MC_OK && problems > 0)
    rc = mc_err_set(err, MC_DATA_LOSS,
                    _("the store in %s fails its check (%llu problems; the first: %s): repair "
                      "or restore it before seeding"),
                    from, (unsigned long long)problems, p.msg);
  uint64_t applied = 0;
  if (rc == MC_OK)
    rc = rl_store_applied(store, &applied, err);
  if (rc == MC_OK && applied != 0) {
    st_op op = {.apply = zero_applied, .direct = true};
    rc = st_write_batch(store, &op, 1, err);
    if (rc == MC_OK && op.code != MC_OK) {
      *err = op.err;
      rc = op.code;
    }
  }
  if (rc == MC_OK) {
    char copy[PATH_MAX + 64];
    if (snprintf(copy, sizeof(copy), "%s/copy", tmp) >= (int)sizeof(copy))
      rc = mc_err_set(err, MC_INVALID_ARGUMENT, _("%s: the path is too long"), tmp);
    else
      rc = st_backup(store, copy, err);
  }
  st_close(store);
  if (rc == MC_OK && applied != 0)
    mc_log(MC_LOG_NOTICE, NULL,
           "the source store had applied %" PRIu64 " entries of its own raft log: reset to 0 "
           "for the cluster's log",
           applied);
  return rc;
}

/* The search key the source router kept next to its store, when the
 * deployment has none in keys_dir: the node keeps it next to its store. */
static mc_code carry_search_key(const mc_registry *reg, const char *from, const char *data_dir,
                                mc_err *err) {
  if (reg->keys_dir != NULL && exists(reg->keys_dir, RT_SEARCH_KEY_FILE))
    return MC_OK;
  if (!exists(from, RT_SEARCH_KEY_FILE) || exists(data_dir, RT_SEARCH_KEY_FILE))
    return MC_OK;
  char a[PATH_MAX + 64], b[PATH_MAX + 64];
  snprintf(a, sizeof(a), "%s/%s", from, RT_SEARCH_KEY_FILE);
  snprintf(b, sizeof(b), "%s/%s.tmp", data_dir, RT_SEARCH_KEY_FILE);
  mc_code rc = copy_file(a, b, err);
  if (rc != MC_OK)
    return rc;
  snprintf(a, sizeof(a), "%s/%s", data_dir, RT_SEARCH_KEY_FILE);
  if (rename(b, a) != 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", a, strerror(errno));
  fsync_dir(data_dir);
  return MC_OK;
}

mc_code rt_router_seed(const mc_registry *reg, const rt_options *opts, const char *from,
                       bool *again, mc_err *err) {
  if (again != NULL)
    *again = false;
  if (reg->n_nodes == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("--seed-from starts a node of a cluster, and the configuration lists no "
                        "[cluster <id>] sections"));
  const mc_router_node *node = NULL;
  mc_code rc = rt_which_node(reg, opts, &node, err);
  if (rc != MC_OK)
    return rc;
  const char *data_dir = opts->data_dir ? opts->data_dir
                         : node->data_dir != NULL ? node->data_dir
                                                  : reg->router.data_dir;
  if (data_dir == NULL)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("[cluster %s] has no data_dir (nor [router] data_dir, nor --data-dir)"),
                      node->id);
  char src[PATH_MAX + 64];
  snprintf(src, sizeof(src), "%s/data.mdb", from);
  struct stat st;
  if (stat(from, &st) != 0 || !S_ISDIR(st.st_mode) || stat(src, &st) != 0)
    return mc_err_set(err, MC_NOT_FOUND,
                      _("--seed-from %s: no data.mdb there; give a stopped router's data_dir "
                        "or a backup directory (RouterAdmin/Backup's copy)"),
                      from);
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", data_dir, strerror(errno));
  char rfrom[PATH_MAX], rdir[PATH_MAX];
  if (realpath(from, rfrom) != NULL && realpath(data_dir, rdir) != NULL &&
      strcmp(rfrom, rdir) == 0)
    return mc_err_set(err, MC_INVALID_ARGUMENT,
                      _("--seed-from %s is this node's own data_dir: copy the store elsewhere "
                        "(or take a backup) and give the node an empty data_dir"),
                      from);
  rc = check_not_in_use(from, err);
  if (rc == MC_OK)
    rc = check_stopped_cleanly(from, err);
  if (rc == MC_OK)
    rc = check_target(data_dir, err);
  if (rc != MC_OK)
    return rc;

  char tmp[PATH_MAX + 64], tmp_db[PATH_MAX + 128], copy_db[PATH_MAX + 128], dst[PATH_MAX + 64];
  snprintf(tmp, sizeof(tmp), "%s/" SEED_TMP, data_dir);
  snprintf(tmp_db, sizeof(tmp_db), "%s/data.mdb", tmp);
  snprintf(copy_db, sizeof(copy_db), "%s/copy/data.mdb", tmp);
  snprintf(dst, sizeof(dst), "%s/data.mdb", data_dir);
  clear_tmp(tmp); /* a run that crashed before its rename */
  if (mkdir(tmp, 0700) != 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
  rc = carry_search_key(reg, from, data_dir, err);
  if (rc == MC_OK)
    rc = copy_file(src, tmp_db, err);
  if (rc == MC_OK) {
    /* The router's options and search key, as rt_router_open would open
     * the store on this node (a key made here is the one it would make). */
    rt_router *rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
      rc = mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
      rt->reg = reg;
      st_options so = {
          .dir = data_dir,
          .map_size = reg->router.map_bytes,
          .case_prefix = reg->case_prefix,
          .utc_offset_minutes = reg->utc_offset_minutes,
          .idem_retention_ms = reg->router.idempotency_ms,
      };
      rc = rt_search_key_open(rt, &so, err);
      if (rc == MC_OK)
        rc = prepare(reg, &so, from, tmp, err);
      free(rt);
    }
  }
  if (rc == MC_OK && access(dst, F_OK) == 0) {
    int same = same_file(copy_db, dst);
    clear_tmp(tmp);
    if (same == 1) {
      if (again != NULL)
        *again = true;
      return MC_OK;
    }
    return mc_err_set(err, MC_FAILED_PRECONDITION,
                      _("%s already holds another store (not this seed of %s): give this node "
                        "an empty data_dir"),
                      dst, from);
  }
  if (rc == MC_OK && rename(copy_db, dst) != 0)
    rc = mc_err_set(err, MC_UNAVAILABLE, "%s: %s", dst, strerror(errno));
  if (rc == MC_OK)
    fsync_dir(data_dir);
  clear_tmp(tmp);
  if (rc == MC_OK)
    mc_log(MC_LOG_NOTICE, NULL, "node %s seeded: %s from %s", node->id, dst, from);
  return rc;
}
