/*
 * raftzero.c - raft_uv's segment files made of written zeros, not of
 * unwritten extents ([storage] mode = raft, router/raftlog.c).
 *
 * Why: raft_uv (libraft 0.15) creates each log segment with
 * posix_fallocate, and on ext4 that reserves UNWRITTEN extents. raft then
 * appends with O_DIRECT and O_DSYNC; every append that reaches into a new
 * 4 KiB block must convert an extent, a metadata change that O_DSYNC makes
 * wait for a journal commit - the file system's whole journal, shared with
 * every other process. Measured on the CI VM while other builds ran: a
 * 4 KiB O_DIRECT|O_DSYNC append into a fallocated file p50 0.8-2.4 ms,
 * into a zero-filled one 0.4-0.6 ms; raft's entries at 16 in flight (a few
 * KiB) crossed a block on almost every write. libraft has no setting for
 * it, so this file defines posix_fallocate for the router's process: it
 * does what glibc's does and, when the file is one of raft's new segments
 * (an "open-*" file in a directory rl_zero_dir named), also writes zeros
 * over the range. raft_uv prepares segments ahead on its thread pool, so
 * the zeros are written off the write path; raft's appends then only
 * overwrite. Every other caller gets glibc's function unchanged.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "router/raftlog.h"

/* The one raft directory of this process ("<data_dir>/raft"); empty: none. */
static char zero_dir[2200];
static pthread_mutex_t zero_mu = PTHREAD_MUTEX_INITIALIZER;

void rl_zero_dir(const char *dir) {
  /* As /proc/self/fd shows paths: absolute, symbolic links resolved. */
  char *real = dir != NULL ? realpath(dir, NULL) : NULL;
  pthread_mutex_lock(&zero_mu);
  snprintf(zero_dir, sizeof(zero_dir), "%s", real != NULL ? real : "");
  pthread_mutex_unlock(&zero_mu);
  free(real);
}

/* Whether fd is a new segment of raft's directory. */
static bool is_segment(int fd) {
  char link[64], path[2400];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0)
    return false;
  path[n] = '\0';
  const char *slash = strrchr(path, '/');
  if (slash == NULL || strncmp(slash + 1, "open-", 5) != 0)
    return false;
  pthread_mutex_lock(&zero_mu);
  size_t len = strlen(zero_dir);
  bool ours = len > 0 && (size_t)(slash - path) == len && strncmp(path, zero_dir, len) == 0;
  pthread_mutex_unlock(&zero_mu);
  return ours;
}

typedef int (*fallocate_fn)(int, off_t, off_t);

int posix_fallocate(int fd, off_t offset, off_t len) {
  static fallocate_fn real;
  fallocate_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
  if (f == NULL) {
    f = (fallocate_fn)dlsym(RTLD_NEXT, "posix_fallocate");
    if (f == NULL)
      return ENOSYS;
    __atomic_store_n(&real, f, __ATOMIC_RELEASE);
  }
  int rv = f(fd, offset, len);
  if (rv != 0 || len <= 0 || !is_segment(fd))
    return rv;
  /* The space is reserved (no ENOSPC from here on); write it. raft opened
   * the file O_DSYNC, so each chunk is durable when pwrite returns. */
  enum { CHUNK = 1 << 20 };
  char *zeros = calloc(1, CHUNK);
  if (zeros == NULL)
    return 0; /* the extents stay unwritten: slower appends, nothing worse */
  for (off_t at = offset; at < offset + len;) {
    size_t n = (size_t)(offset + len - at < CHUNK ? offset + len - at : CHUNK);
    ssize_t w = pwrite(fd, zeros, n, at);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      break; /* as above: correct, only slower */
    }
    at += w;
  }
  free(zeros);
  return 0;
}
