/*
 * harness.c - temporary directories and daemons for black-box tests (see
 * harness.h).
 */
#define _GNU_SOURCE /* nftw's FTW_DEPTH/FTW_PHYS, pipe2 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 64

static th_proc *live[MAX_PROCS];
static bool atexit_registered;

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int th_dir_make(th_dir *dir, const char *tag) {
  snprintf(dir->path, sizeof(dir->path), "/tmp/mediation-%s-XXXXXX", tag);
  return mkdtemp(dir->path) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

void th_dir_remove(th_dir *dir) {
  if (dir->path[0] != '\0' && strncmp(dir->path, "/tmp/mediation-", 15) == 0)
    nftw(dir->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  dir->path[0] = '\0';
}

static void track(th_proc *p) {
  if (!atexit_registered) {
    atexit(th_stop_all);
    atexit_registered = true;
  }
  for (int i = 0; i < MAX_PROCS; i++) {
    if (live[i] == NULL) {
      live[i] = p;
      return;
    }
  }
}

static void untrack(th_proc *p) {
  for (int i = 0; i < MAX_PROCS; i++) {
    if (live[i] == p)
      live[i] = NULL;
  }
}

/* Splits MEDIATION_TEST_WRAPPER on spaces into words (at most 15). */
static int wrapper_words(char *buf, size_t cap, const char *words[16]) {
  const char *w = getenv("MEDIATION_TEST_WRAPPER");
  int n = 0;
  if (w == NULL || *w == '\0')
    return 0;
  snprintf(buf, cap, "%s", w);
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ", &save); tok && n < 15; tok = strtok_r(NULL, " ", &save))
    words[n++] = tok;
  return n;
}

static void print_log_tail(const th_proc *p) {
  char *log = th_read_file(p->log_path);
  if (log == NULL)
    return;
  size_t len = strlen(log);
  const char *tail = len > 4000 ? log + len - 4000 : log;
  fprintf(stderr, "---- %s log (%s) ----\n%s\n---- end of %s log ----\n", p->name, p->log_path,
          tail, p->name);
  free(log);
}

static pid_t spawn(const char *const argv[], int out_fd, int err_fd, const char *notify_path) {
  char wbuf[512];
  const char *words[16];
  int nw = wrapper_words(wbuf, sizeof(wbuf), words);
  const char *full[64];
  int n = 0;
  for (int i = 0; i < nw; i++)
    full[n++] = words[i];
  for (int i = 0; argv[i] != NULL && n < 63; i++)
    full[n++] = argv[i];
  full[n] = NULL;
  if (nw > 0 && full[0][0] != '/') {
    /* a wrapper named without a path: look it up now, not in the child */
    static char resolved[256];
    snprintf(resolved, sizeof(resolved), "/usr/bin/%s", full[0]);
    full[0] = resolved;
  }
  if (notify_path != NULL)
    setenv("NOTIFY_SOCKET", notify_path, 1);
  else
    unsetenv("NOTIFY_SOCKET");
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    /* Child: async-signal-safe calls only until exec. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    if (out_fd >= 0)
      dup2(out_fd, STDOUT_FILENO);
    if (err_fd >= 0)
      dup2(err_fd, STDERR_FILENO);
    execv(full[0], (char *const *)full);
    _exit(127);
  }
  unsetenv("NOTIFY_SOCKET");
  return pid;
}

int th_start(th_proc *p, const char *name, const char *const argv[], const char *log_path,
             int ready_ms) {
  memset(p, 0, sizeof(*p));
  p->pid = -1;
  p->notify_fd = -1;
  snprintf(p->name, sizeof(p->name), "%s", name);
  snprintf(p->log_path, sizeof(p->log_path), "%s", log_path);
  snprintf(p->notify_path, sizeof(p->notify_path), "%s.notify", log_path);

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(p->notify_path) >= sizeof(addr.sun_path)) {
    fprintf(stderr, "harness: notify socket path too long: %s\n", p->notify_path);
    return -1;
  }
  strcpy(addr.sun_path, p->notify_path);
  unlink(p->notify_path);
  p->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (p->notify_fd < 0 || bind(p->notify_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    fprintf(stderr, "harness: cannot bind %s: %s\n", p->notify_path, strerror(errno));
    return -1;
  }
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    fprintf(stderr, "harness: cannot open %s: %s\n", log_path, strerror(errno));
    return -1;
  }
  p->pid = spawn(argv, log_fd, log_fd, p->notify_path);
  close(log_fd);
  if (p->pid < 0)
    return -1;
  track(p);

  long long until = mono_ms() + ready_ms;
  for (;;) {
    long long left = until - mono_ms();
    if (left <= 0) {
      fprintf(stderr, "harness: %s not ready after %d ms\n", name, ready_ms);
      break;
    }
    struct pollfd pfd = {.fd = p->notify_fd, .events = POLLIN};
    int r = poll(&pfd, 1, left > 100 ? 100 : (int)left);
    if (r > 0) {
      char msg[512];
      ssize_t n = recv(p->notify_fd, msg, sizeof(msg) - 1, 0);
      if (n > 0) {
        msg[n] = '\0';
        if (strstr(msg, "READY=1") != NULL)
          return 0;
      }
    }
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      fprintf(stderr, "harness: %s exited before it was ready (status %d)\n", name,
              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      p->pid = -1;
      untrack(p);
      print_log_tail(p);
      return -1;
    }
  }
  print_log_tail(p);
  th_kill(p);
  return -1;
}

static int reap(th_proc *p, int wait_ms) {
  long long until = mono_ms() + wait_ms;
  for (;;) {
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
      p->pid = -1;
      untrack(p);
      if (p->notify_fd >= 0) {
        close(p->notify_fd);
        unlink(p->notify_path);
        p->notify_fd = -1;
      }
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (r < 0 || mono_ms() >= until)
      return -2;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int th_spawn(th_proc *p, const char *name, const char *const argv[], const char *log_path) {
  memset(p, 0, sizeof(*p));
  p->notify_fd = -1;
  snprintf(p->name, sizeof(p->name), "%s", name);
  snprintf(p->log_path, sizeof(p->log_path), "%s", log_path);
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    fprintf(stderr, "harness: cannot open %s: %s\n", log_path, strerror(errno));
    return -1;
  }
  /* Load generators are clients: never under the daemons' wrapper. */
  const char *saved = getenv("MEDIATION_TEST_WRAPPER");
  char saved_copy[512] = "";
  if (saved)
    snprintf(saved_copy, sizeof(saved_copy), "%s", saved);
  unsetenv("MEDIATION_TEST_WRAPPER");
  p->pid = spawn(argv, log_fd, log_fd, NULL);
  if (saved)
    setenv("MEDIATION_TEST_WRAPPER", saved_copy, 1);
  close(log_fd);
  if (p->pid < 0)
    return -1;
  track(p);
  return 0;
}

int th_wait(th_proc *p, int wait_ms) {
  if (p->pid <= 0)
    return -1;
  return reap(p, wait_ms);
}

int th_stop(th_proc *p, int wait_ms) {
  if (p->pid <= 0)
    return -1;
  kill(p->pid, SIGTERM);
  int rc = reap(p, wait_ms);
  if (rc == -2) {
    fprintf(stderr, "harness: %s did not stop within %d ms of SIGTERM; killing it\n", p->name,
            wait_ms);
    print_log_tail(p);
    kill(p->pid, SIGKILL);
    rc = reap(p, 10000);
    if (rc >= 0)
      rc = 128 + SIGKILL;
  }
  return rc;
}

void th_kill(th_proc *p) {
  if (p->pid <= 0)
    return;
  kill(p->pid, SIGKILL);
  reap(p, 10000);
}

bool th_running(th_proc *p) {
  if (p->pid <= 0)
    return false;
  int status;
  if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
    p->pid = -1;
    untrack(p);
    return false;
  }
  return true;
}

void th_stop_all(void) {
  for (int i = 0; i < MAX_PROCS; i++) {
    if (live[i] != NULL)
      th_stop(live[i], 5000);
  }
}

static char *drain(int fd) {
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  if (buf == NULL)
    return NULL;
  for (;;) {
    if (cap - len < 1024) {
      char *grown = realloc(buf, cap * 2);
      if (grown == NULL)
        break;
      buf = grown;
      cap *= 2;
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return buf;
}

int th_run(const char *const argv[], char **out, char **err_out, int timeout_ms) {
  char out_path[] = "/tmp/mediation-run-out-XXXXXX";
  char err_path[] = "/tmp/mediation-run-err-XXXXXX";
  int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
  if (out_fd < 0 || err_fd < 0)
    return -1;
  unlink(out_path);
  unlink(err_path);
  /* th_run'd commands are clients, never wrapped: only daemons are. */
  const char *saved = getenv("MEDIATION_TEST_WRAPPER");
  char saved_copy[512] = "";
  if (saved)
    snprintf(saved_copy, sizeof(saved_copy), "%s", saved);
  unsetenv("MEDIATION_TEST_WRAPPER");
  pid_t pid = spawn(argv, out_fd, err_fd, NULL);
  if (saved)
    setenv("MEDIATION_TEST_WRAPPER", saved_copy, 1);
  th_proc p = {.pid = pid, .notify_fd = -1};
  snprintf(p.name, sizeof(p.name), "%s", argv[0]);
  int rc = pid > 0 ? reap(&p, timeout_ms) : -1;
  if (rc == -2) {
    kill(pid, SIGKILL);
    reap(&p, 10000);
    rc = -1;
  }
  lseek(out_fd, 0, SEEK_SET);
  lseek(err_fd, 0, SEEK_SET);
  if (out)
    *out = drain(out_fd);
  if (err_out)
    *err_out = drain(err_fd);
  close(out_fd);
  close(err_fd);
  return rc;
}

char *th_read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *s = drain(fd);
  close(fd);
  return s;
}

static const char *search_needle;
static bool search_found;

static int search_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)ftw;
  if (flag != FTW_F || !S_ISREG(st->st_mode))
    return 0;
  char *text = th_read_file(path);
  if (text == NULL)
    return 0;
  /* Files may be binary (LMDB): search the raw bytes. */
  size_t n = (size_t)st->st_size, k = strlen(search_needle);
  for (size_t i = 0; k <= n && i + k <= n && !search_found; i++)
    search_found = memcmp(text + i, search_needle, k) == 0;
  free(text);
  return search_found ? 1 : 0;
}

bool th_tree_contains(const char *dir, const char *needle) {
  search_needle = needle;
  search_found = false;
  nftw(dir, search_entry, 16, FTW_PHYS);
  return search_found;
}

const char *th_bin(char *buf, size_t cap, const char *rel) {
  snprintf(buf, cap, "%s/%s", MEDIATION_BINARY_DIR, rel);
  return buf;
}
