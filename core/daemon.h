/*
 * daemon.h - what every daemon of the system does the same way: signals,
 * readiness and stopping.
 *
 * The daemons never fork (nng is not fork-safe) and never daemonize: systemd
 * (or the test harness) runs them in the foreground. Readiness is reported
 * with sd_notify("READY=1") only once the daemon serves, so "started" means
 * "answers". SIGTERM and SIGINT are blocked in every thread (call
 * mc_daemon_block_signals before the first thread, nng's included, is
 * created) and taken synchronously by the main thread in
 * mc_daemon_wait_for_stop, so no code runs in a signal handler.
 */
#ifndef MC_DAEMON_H
#define MC_DAEMON_H

#include <stdint.h>

/* Blocks SIGTERM, SIGINT and SIGHUP, and ignores SIGPIPE, for this thread and
 * every thread it creates afterwards. */
void mc_daemon_block_signals(void);

/* Tells the service manager the daemon serves (no-op without NOTIFY_SOCKET). */
void mc_daemon_ready(const char *status);

/* Tells the service manager the daemon is stopping. */
void mc_daemon_stopping(void);

/* Waits for SIGTERM or SIGINT (SIGHUP is taken and ignored: configuration is
 * read at start only). Returns the signal number. */
int mc_daemon_wait_for_stop(void);

/* Ends the process with status 0 if it is still running ms from now, after
 * logging why. For the very end of a clean stop, once every call has been
 * answered and every write committed: closing nng sockets can hang in nng
 * 1.5.2 (a close race fixed upstream in 1.6), and nothing is lost by not
 * waiting for it. */
void mc_daemon_exit_watchdog(int64_t ms);

#endif /* MC_DAEMON_H */
