/*
 * router_proc.c - loaders, coordinator queries, router log counts and the
 * router's own small disk for the router's process-level tests (see
 * router_proc.h for why they are shared).
 */
#include "router_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#define TR_LOADER_WAIT_MS 120000 /* a loader's whole run, restarts included */
#define TR_RUN_MS 30000          /* mkfs, mount */

void tr_loader_out(const tw_world *w, const char *unit, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/load-%s.out", w->dir.path, unit);
}

void tr_spawn_loader(tw_world *w, th_proc *p, const char *unit, const char *to, int count) {
  char load[TH_PATH_MAX], out[TH_PATH_MAX + 64], log[TH_PATH_MAX + 64], n[16];
  th_bin(load, sizeof(load), "tests/router/router_load");
  tr_loader_out(w, unit, out, sizeof(out));
  snprintf(log, sizeof(log), "%s/load-%s.log", w->dir.path, unit);
  snprintf(n, sizeof(n), "%d", count);
  const char *argv[] = {load, w->conf, unit, to, n, out, NULL};
  assert_int_equal(th_spawn(p, unit, argv, log), 0);
}

void tr_expect_loader_done(th_proc *p, const char *unit) {
  int rc = th_wait(p, TR_LOADER_WAIT_MS);
  if (rc != 0) {
    char *text = th_read_file(p->log_path);
    fail_msg("loader %s exited %d: %s", unit, rc, text ? text : "");
  }
}

Mediation__V1__ListCasesReply *tr_list_cases(tw_world *w, const char *unit, int page_size) {
  rpc_client *coord = tw_client(w, "coordinator", NULL);
  assert_non_null(coord);
  Mediation__V1__ListCasesRequest lreq = MEDIATION__V1__LIST_CASES_REQUEST__INIT;
  lreq.holder = (char *)unit;
  lreq.page_size = page_size;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(coord, &mediation__v1__router__descriptor, "ListCases",
                                   &lreq.base, NULL, &reply, &err),
                   MC_OK);
  return (Mediation__V1__ListCasesReply *)reply;
}

const Mediation__V1__CaseSummary *tr_case_once(const Mediation__V1__ListCasesReply *l,
                                               const char *unit_ref) {
  const Mediation__V1__CaseSummary *found = NULL;
  for (size_t k = 0; k < l->n_cases; k++) {
    if (strcmp(l->cases[k]->unit_ref, unit_ref) != 0)
      continue;
    if (found != NULL)
      fail_msg("the router holds %s twice: %s and %s", unit_ref, found->id, l->cases[k]->id);
    found = l->cases[k];
  }
  if (found == NULL)
    fail_msg("the router holds no case %s (of %zu listed)", unit_ref, l->n_cases);
  return found;
}

void tr_verify_clean(tw_world *w) {
  rpc_client *coord = tw_client(w, "coordinator", NULL);
  assert_non_null(coord);
  Mediation__V1__VerifyRequest vreq = MEDIATION__V1__VERIFY_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  assert_int_equal(rpc_client_call(coord, &mediation__v1__router_admin__descriptor, "Verify",
                                   &vreq.base, NULL, &reply, &err),
                   MC_OK);
  Mediation__V1__VerifyReply *v = (Mediation__V1__VerifyReply *)reply;
  if (v->problems != 0)
    fail_msg("verify: %llu problems, first: %s", (unsigned long long)v->problems,
             v->n_details ? v->details[0]->message : "?");
  protobuf_c_message_free_unpacked(reply, NULL);
}

Mediation__V1__HealthCheckReply *tr_router_health(tw_world *w) {
  Mediation__V1__HealthCheckRequest req = MEDIATION__V1__HEALTH_CHECK_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  mc_err err;
  mc_code rc = rpc_client_call(tw_client(w, "coordinator", NULL),
                               &mediation__v1__health__descriptor, "Check", &req.base, NULL,
                               &reply, &err);
  if (rc != MC_OK)
    fail_msg("Health/Check: %s: %s", mc_code_name(rc), err.msg);
  return (Mediation__V1__HealthCheckReply *)reply;
}

int tr_log_count(const th_proc *p, const char *needle) {
  char *text = th_read_file(p->log_path);
  int n = 0;
  for (char *at = text; at != NULL && (at = strstr(at, needle)) != NULL; at++)
    n++;
  free(text);
  return n;
}

int tr_run(const char *const argv[]) {
  char *out = NULL, *err = NULL;
  int rc = th_run(argv, &out, &err, TR_RUN_MS);
  if (rc != 0)
    fprintf(stderr, "%s: exit %d: %s\n", argv[0], rc, err ? err : "");
  free(out);
  free(err);
  return rc;
}

int tr_disk_mount(const char *image, const char *mnt) {
  int fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int rc = fd >= 0 && ftruncate(fd, 16 << 20) == 0 ? 0 : -1;
  if (fd >= 0)
    close(fd);
  const char *mkfs[] = {"/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "0", image, NULL};
  const char *mnt_cmd[] = {"/usr/bin/mount", "-o", "loop,nosuid,nodev", image, mnt, NULL};
  if (rc == 0)
    rc = tr_run(mkfs) == 0 && tr_run(mnt_cmd) == 0 ? 0 : -1;
  return rc;
}

void tr_disk_fill(const char *filler) {
  int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  static char block[65536];
  memset(block, 0x5a, sizeof(block));
  for (size_t chunk = sizeof(block); chunk > 0; chunk /= 2) {
    while (write(fd, block, chunk) == (ssize_t)chunk) {
    }
  }
  assert_int_equal(write(fd, block, 1), -1);
  assert_int_equal(errno, ENOSPC);
  close(fd);
}

void tr_disk_unmount(const char *mnt, const char *filler) {
  unlink(filler);
  if (umount2(mnt, MNT_DETACH) != 0)
    fprintf(stderr, "umount %s: %s\n", mnt, strerror(errno));
}
