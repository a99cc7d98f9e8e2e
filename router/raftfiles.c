/*
 * raftfiles.c - the files that make [storage] mode = raft safe across an OS
 * crash (see router/raftlog.c): the kernel's boot id and <data_dir>/raft-boot
 * (was the store left unsynced by a run on another boot?), checkpoints
 * (synced, compacted copies of the store at a raft index, the state raft's
 * snapshots stand for) and the rebuild of the store from the newest one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/i18n.h"
#include "core/log.h"
#include "router/raftlog.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

mc_code rl_read_small(const char *path, char *buf, size_t cap, mc_err *err) {
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return mc_err_set(err, errno == ENOENT ? MC_NOT_FOUND : MC_UNAVAILABLE, "%s: %s", path,
                      strerror(errno));
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  return MC_OK;
}

/* Writes text to path durably: a temporary file, fsync, rename, fsync of
 * the directory. */
mc_code rl_write_durable(const char *dir, const char *name, const char *text, mc_err *err) {
  char tmp[2200], path[2200];
  snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
  size_t len = strlen(text);
  bool ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
  int e = errno;
  close(fd);
  if (!ok || rename(tmp, path) != 0) {
    if (ok)
      e = errno;
    unlink(tmp);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", path, strerror(e));
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return MC_OK;
}

mc_code rl_boot_id(char out[64], mc_err *err) {
  const char *path = getenv("MEDIATION_BOOT_ID_FILE");
  if (path == NULL || path[0] == '\0')
    path = BOOT_ID_PATH;
  mc_code rc = rl_read_small(path, out, 64, err);
  if (rc == MC_OK && out[0] == '\0')
    rc = mc_err_set(err, MC_UNAVAILABLE, _("%s is empty: no boot id"), path);
  return rc;
}

mc_code rl_mark_boot(const char *data_dir, const char *boot_id, const char *how, mc_err *err) {
  char text[128];
  snprintf(text, sizeof(text), "%s %s\n", boot_id, how);
  return rl_write_durable(data_dir, "raft-boot", text, err);
}

/* The index of the newest checkpoint; NOT_FOUND if none was made. */
mc_code rl_checkpoint_current(const char *data_dir, uint64_t *out, mc_err *err) {
  char path[2200], text[64];
  snprintf(path, sizeof(path), "%s/checkpoint/CURRENT", data_dir);
  mc_code rc = rl_read_small(path, text, sizeof(text), err);
  if (rc != MC_OK)
    return rc;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0')
    return mc_err_set(err, MC_DATA_LOSS, _("%s: not an index: \"%.32s\""), path, text);
  *out = v;
  return MC_OK;
}

/* Removes the checkpoint copies other than keep. */
static void rl_checkpoint_prune(const char *data_dir, uint64_t keep) {
  char dir[2200];
  snprintf(dir, sizeof(dir), "%s/checkpoint", data_dir);
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char *end = NULL;
    unsigned long long v = strtoull(de->d_name, &end, 10);
    if (end == de->d_name || *end != '\0' || v == keep)
      continue;
    char path[2600];
    snprintf(path, sizeof(path), "%s/%s/data.mdb", dir, de->d_name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    rmdir(path);
  }
  closedir(d);
}

/* Copies the store as it stands (everything applied) to checkpoint/<index>,
 * synced, and makes it the current one. On the raft thread, or before it
 * runs. */
mc_code rl_checkpoint_make(st_store *store, const char *data_dir, uint64_t index, mc_err *err) {
  char dir[2200], path[2300];
  snprintf(dir, sizeof(dir), "%s/checkpoint", data_dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", dir, strerror(errno));
  snprintf(path, sizeof(path), "%s/%" PRIu64, dir, index);
  char file[2400];
  snprintf(file, sizeof(file), "%s/data.mdb", path);
  unlink(file); /* a copy left half-made by a crash before CURRENT named it */
  mc_code rc = st_backup(store, path, err);
  if (rc != MC_OK)
    return rc;
  char text[32];
  snprintf(text, sizeof(text), "%" PRIu64 "\n", index);
  rc = rl_write_durable(dir, "CURRENT", text, err);
  if (rc == MC_OK)
    rl_checkpoint_prune(data_dir, index);
  return rc;
}

/* Replaces the store's data.mdb with the newest checkpoint's copy. The store
 * must be closed. */
mc_code rl_rebuild(const char *data_dir, uint64_t index, mc_err *err) {
  char from[2200], to[2200], tmp[2200];
  snprintf(from, sizeof(from), "%s/checkpoint/%" PRIu64 "/data.mdb", data_dir, index);
  snprintf(to, sizeof(to), "%s/data.mdb", data_dir);
  snprintf(tmp, sizeof(tmp), "%s/data.mdb.rebuild", data_dir);
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return mc_err_set(err, MC_DATA_LOSS, _("checkpoint %" PRIu64 ": %s: %s"), index, from,
                      strerror(errno));
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
  }
  char buf[1 << 16];
  ssize_t got;
  bool ok = true;
  while (ok && (got = read(in, buf, sizeof(buf))) > 0)
    ok = write(out, buf, (size_t)got) == got;
  ok = ok && got == 0 && fsync(out) == 0;
  int e = errno;
  close(in);
  close(out);
  if (!ok || rename(tmp, to) != 0) {
    if (ok)
      e = errno;
    unlink(tmp);
    return mc_err_set(err, MC_UNAVAILABLE, _("rebuilding %s from %s: %s"), to, from, strerror(e));
  }
  int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return MC_OK;
}

void rt_raft_forget(const char *data_dir) {
  char path[2200];
  snprintf(path, sizeof(path), "%s/raft-boot", data_dir);
  if (access(path, F_OK) != 0)
    return; /* never ran in raft mode */
  snprintf(path, sizeof(path), "%s/checkpoint/CURRENT", data_dir);
  bool had = unlink(path) == 0;
  snprintf(path, sizeof(path), "%s/raft-boot", data_dir);
  unlink(path);
  if (had)
    mc_log(MC_LOG_NOTICE, NULL,
           "this store ran in raft mode: its checkpoint no longer describes it once written "
           "in lmdb-sync mode, so it is dropped; the next raft start makes a new one");
}

mc_code rl_store_applied(st_store *store, uint64_t *out, mc_err *err) {
  st_txn *txn = NULL;
  mc_code rc = st_read_begin(store, &txn, err);
  if (rc != MC_OK)
    return rc;
  rc = st_raft_applied_get(txn, out, err);
  st_read_end(txn);
  return rc;
}

/* ---- A cluster's snapshots carry the checkpoint (router/raftcluster.c) ---- */

mc_code rl_checkpoint_read(const char *data_dir, uint64_t index, struct raft_buffer *out,
                           mc_err *err) {
  char path[2300];
  snprintf(path, sizeof(path), "%s/checkpoint/%" PRIu64 "/data.mdb", data_dir, index);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", path, strerror(e));
  }
  size_t len = (size_t)st.st_size;
  uint8_t *p = raft_malloc(8 + len);
  if (p == NULL) {
    close(fd);
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "out of memory for a snapshot of %zu bytes",
                      len);
  }
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(index >> (56 - 8 * i));
  size_t have = 0;
  while (have < len) {
    ssize_t got = read(fd, p + 8 + have, len - have);
    if (got <= 0) {
      int e = got < 0 ? errno : EIO;
      close(fd);
      raft_free(p);
      return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", path, strerror(e));
    }
    have += (size_t)got;
  }
  close(fd);
  out->base = p;
  out->len = 8 + len;
  return MC_OK;
}

mc_code rl_checkpoint_install(const char *data_dir, uint64_t index, const void *store,
                              size_t len, mc_err *err) {
  char dir[2200], path[2300], file[2400], tmp[2450];
  snprintf(dir, sizeof(dir), "%s/checkpoint", data_dir);
  snprintf(path, sizeof(path), "%s/%" PRIu64, dir, index);
  if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || (mkdir(path, 0700) != 0 && errno != EEXIST))
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", path, strerror(errno));
  snprintf(file, sizeof(file), "%s/data.mdb", path);
  snprintf(tmp, sizeof(tmp), "%s.tmp", file);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
  const uint8_t *p = store;
  size_t done = 0;
  bool ok = true;
  while (ok && done < len) {
    ssize_t n = write(fd, p + done, len - done);
    ok = n > 0;
    if (ok)
      done += (size_t)n;
  }
  ok = ok && fsync(fd) == 0;
  int e = errno;
  close(fd);
  if (!ok || rename(tmp, file) != 0) {
    if (ok)
      e = errno;
    unlink(tmp);
    return mc_err_set(err, MC_UNAVAILABLE, "%s: %s", file, strerror(e));
  }
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  char text[32];
  snprintf(text, sizeof(text), "%" PRIu64 "\n", index);
  mc_code rc = rl_write_durable(dir, "CURRENT", text, err);
  if (rc == MC_OK)
    rl_checkpoint_prune(data_dir, index);
  return rc;
}
