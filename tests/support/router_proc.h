/*
 * router_proc.h - what the tests that drive the router as a process under
 * load and faults share (tests/router: kill, rebuild, raft faults;
 * tests/services: disk full, kill, offline): router_load loaders spawned
 * and awaited in the world's directory, a unit's cases and Verify asked as
 * the coordinator (and the one case of a unit's reference among them), the
 * router's Health, counts in the router's log, and a small ext4 of the
 * router's own that a filler file takes to its last byte.
 * Each test had its own copy of these; one copy keeps their timeouts and
 * checks the same when one of them changes. Prefix tr_ ("test router").
 *
 * Everything but tr_take_in_init fails the running cmocka test on an error
 * (fail_msg / assert_*), so call it from a test, not from a setup.
 * tr_take_in_init is plain C: router_load (no cmocka) uses it too.
 */
#ifndef TR_ROUTER_PROC_H
#define TR_ROUTER_PROC_H

#include <stddef.h>

#include "mv1.h"
#include "world.h"

/* ---- a take-in (router_load.c and the raft-fault test's direct calls) */

/* A TAKE_IN action and what it points to, filled by tr_take_in_init. */
typedef struct tr_take_in {
  mv_party party;
  mv_party *parties[1];
  mv_intake in;
  mv_action action;
} tr_take_in;

/* Fills t's action: a family trivia walked in at baihe, one applicant named
 * party_name, unit_ref ref. The action points into t and at the two strings
 * (not copied): all must outlive the call that sends t->action. */
void tr_take_in_init(tr_take_in *t, const char *party_name, const char *ref);

/* ---- router_load loaders, their files in w's directory */

/* router_load's output file for unit (one "<step> <n> <case id>" line per
 * answered step): <w's dir>/load-<unit>.out. */
void tr_loader_out(const tw_world *w, const char *unit, char *buf, size_t cap);

/* Starts router_load in the background as unit, taking count cases in and
 * handing each to `to`, on w's config; its log is load-<unit>.log. */
void tr_spawn_loader(tw_world *w, th_proc *p, const char *unit, const char *to, int count);

/* Waits (up to 120 s) for the loader p of unit; fails the test with its log
 * unless it exited 0 (every step answered OK). */
void tr_expect_loader_done(th_proc *p, const char *unit);

/* ---- asked of the router as the coordinator */

/* ListCases for holder unit, one page of page_size. The caller frees the
 * reply (protobuf_c_message_free_unpacked). */
Mediation__V1__ListCasesReply *tr_list_cases(tw_world *w, const char *unit, int page_size);

/* The one case of l whose unit_ref is unit_ref (its unit's own reference):
 * fails the test when there is none (a step lost) or more than one (a
 * take-in applied twice). Points into l. */
const Mediation__V1__CaseSummary *tr_case_once(const Mediation__V1__ListCasesReply *l,
                                               const char *unit_ref);

/* RouterAdmin/Verify (chains, replay, indexes, figures): fails the test
 * with the first problem unless there is none. */
void tr_verify_clean(tw_world *w);

/* Health/Check of the router. The caller frees the reply. */
Mediation__V1__HealthCheckReply *tr_router_health(tw_world *w);

/* How often the log of p (the router) holds needle so far. */
int tr_log_count(const th_proc *p, const char *needle);

/* ---- a small disk of the router's own (needs root to mount) */

/* Runs argv (30 s at most); its exit status, with its stderr on ours when
 * it is not 0. */
int tr_run(const char *const argv[]);

/* Makes image (a new file) a 16 MiB ext4 with no reserved blocks and mounts
 * it on mnt (loop,nosuid,nodev). 0, or -1 (without the right to mount; the
 * caller says so and skips). */
int tr_disk_mount(const char *image, const char *mnt);

/* Writes filler until its filesystem has not one byte left: the next write
 * fails with exactly ENOSPC (asserted). */
void tr_disk_fill(const char *filler);

/* Removes filler and detaches mnt (its loop device is freed with its last
 * user); says on stderr when the unmount fails. */
void tr_disk_unmount(const char *mnt, const char *filler);

#endif /* TR_ROUTER_PROC_H */
