/*
 * harness.h - what black-box tests need to run the real system: temporary
 * directories, a deployment made by deploy/mkdeploy, and daemons started,
 * waited for and always stopped.
 *
 * Daemons are started with fork+exec. nng is not fork-safe, but the child
 * calls nothing between fork and exec except async-signal-safe system calls
 * (dup2, setpgid, prctl), so it never touches nng state. Each daemon gets
 * PR_SET_PDEATHSIG so that it dies with the test even if the test is killed,
 * and NOTIFY_SOCKET pointing at a datagram socket of the harness: a daemon is
 * "started" when it sends READY=1 (sd_notify), exactly as under systemd.
 *
 * Set MEDIATION_TEST_WRAPPER (e.g. "valgrind --error-exitcode=99
 * --leak-check=full") to run every daemon under a wrapper; th_stop then
 * reports the wrapper's exit status.
 */
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TH_PATH_MAX 512

/* A temporary directory, removed with everything in it by th_dir_remove. */
typedef struct th_dir {
  char path[TH_PATH_MAX];
} th_dir;

/* Creates /tmp/mediation-<tag>-XXXXXX. Returns 0 or -1. */
int th_dir_make(th_dir *dir, const char *tag);
void th_dir_remove(th_dir *dir);

/* A daemon started by the harness. */
typedef struct th_proc {
  pid_t pid;
  char name[64];
  char log_path[TH_PATH_MAX];
  char notify_path[TH_PATH_MAX];
  int notify_fd;
} th_proc;

/* Starts argv[0] (a path) with argv, stdout and stderr appended to log_path,
 * and waits up to ready_ms for READY=1. On failure prints the log's tail to
 * stderr, kills the child and returns -1. */
int th_start(th_proc *p, const char *name, const char *const argv[], const char *log_path,
             int ready_ms);

/* Starts a program that does not report readiness (a load generator): no
 * waiting. Same logging and cleanup as th_start. 0 or -1. */
int th_spawn(th_proc *p, const char *name, const char *const argv[], const char *log_path);

/* Waits up to wait_ms for it to exit by itself. Returns its exit status,
 * 128+signal, or -2 if it is still running. */
int th_wait(th_proc *p, int wait_ms);

/* SIGTERM, then wait up to wait_ms, then SIGKILL. Returns the exit status
 * (0..255), 128+signal if it died of a signal, or -1 if it was not running. */
int th_stop(th_proc *p, int wait_ms);

/* SIGKILL and reap. */
void th_kill(th_proc *p);

/* True while the process runs. */
bool th_running(th_proc *p);

/* Stops every process still running (used by teardowns and at exit). */
void th_stop_all(void);

/* Runs a command to completion (argv[0] a path), its stdout captured into a
 * malloc'd NUL-terminated buffer *out (caller frees; may be NULL), stderr
 * into *err_out likewise. Returns the exit status, 128+signal, or -1. */
int th_run(const char *const argv[], char **out, char **err_out, int timeout_ms);

/* Reads a whole file into a malloc'd NUL-terminated buffer (caller frees),
 * or NULL. */
char *th_read_file(const char *path);

/* True if any regular file under dir contains needle. */
bool th_tree_contains(const char *dir, const char *needle);

/* Path of a built program: MEDIATION_BINARY_DIR "/" rel. Static buffer per
 * call site is the caller's: writes into buf. */
const char *th_bin(char *buf, size_t cap, const char *rel);

#endif /* TH_HARNESS_H */
