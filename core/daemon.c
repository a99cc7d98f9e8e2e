/*
 * daemon.c - signals and readiness for the daemons (see daemon.h).
 */
#include "core/daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "core/log.h"

static sigset_t stop_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

void mc_daemon_block_signals(void) {
  sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  /* A peer closing a socket must be an error return, not a dead daemon. */
  signal(SIGPIPE, SIG_IGN);
}

void mc_daemon_ready(const char *status) {
  char msg[256];
  snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status ? status : "serving");
  sd_notify(0, msg);
}

void mc_daemon_stopping(void) { sd_notify(0, "STOPPING=1"); }

int mc_daemon_wait_for_stop(void) {
  sigset_t set = stop_signals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0)
      continue;
    if (sig == SIGHUP) {
      mc_log(MC_LOG_NOTICE, NULL, "SIGHUP ignored: configuration is read at start only");
      continue;
    }
    return sig;
  }
}

static void *watchdog_main(void *arg) {
  int64_t ms = *(int64_t *)arg;
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
  mc_log(MC_LOG_WARNING, NULL,
         "closing the network sockets took over %lld ms (nng 1.5.2's close race); "
         "exiting without them: every call was answered and every write committed",
         (long long)ms);
  _exit(0);
}

void mc_daemon_exit_watchdog(int64_t ms) {
  static int64_t delay;
  delay = ms;
  pthread_t t;
  if (pthread_create(&t, NULL, watchdog_main, &delay) == 0)
    pthread_detach(t);
}
