/*
 * crash_child.c - the process test_store_crash kills. It writes batches to
 * a store in a loop, as the router's writer would: each op takes a case in,
 * offers one to the marriage studio, or has the studio accept one (through
 * the real state machine, with the deliveries and idempotency replies the
 * router writes), so one batch touches cases, case files, indexes, figures,
 * deliveries and counters. After each commit returns it pushes a durable
 * entry to an outbox, and only then writes the batch number to stdout (a
 * pipe): a reported batch was committed before it was reported.
 *
 * Usage: crash_child <store dir> <outbox dir> <first batch>
 * Runs until killed. Exits 2 (with a message on stderr) if anything is
 * refused, which the parent reports as a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/machine.h"
#include "core/registry.h"
#include "crash.h"
#include "storage/outbox.h"
#include "storage/store.h"

#define T0 1772413200000LL /* 2026-03-02 09:00 +08:00 */

/* A fixed key: the child never checks a signature. */
#define KEY "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
static const char conf[] =
    "[subdistrict]\nname = 白鹤街道\ncase_prefix = BH\n"
    "[community kongque]\nname = 孔雀社区\n"
    "[community wangai]\nname = 王隘社区\n"
    "[unit police-studio]\nkind = police\npublic_key = " KEY "\n"
    "[unit marriage-studio]\nkind = marriage\npublic_key = " KEY "\n";

static void die(const char *what, const mc_err *err) {
  fprintf(stderr, "crash_child: %s: %s: %s\n", what, mc_code_name(err->code), err->msg);
  exit(2);
}

typedef struct op_arg {
  const mc_registry *reg;
  uint64_t batch;
  int j;
  int64_t now;
} op_arg;

/* The oldest case in a slice of an index, or "" if none. */
static mc_code first_of(st_txn *t, st_query q, char id[MC_CASE_ID_MAX], mc_err *err) {
  st_hit hit;
  size_t n = 0;
  char next[ST_CURSOR_MAX];
  q.limit = 1;
  mc_code rc = st_index_query(t, &q, &hit, &n, next, err);
  if (rc != MC_OK)
    return rc;
  if (n == 0)
    id[0] = '\0';
  else
    memcpy(id, hit.id, MC_CASE_ID_MAX);
  return MC_OK;
}

static mc_code op(st_txn *t, void *arg, mc_err *err) {
  op_arg *a = arg;
  char rid[64];
  crash_request_id(a->batch, a->j, rid, sizeof(rid));
  mv_action act = MEDIATION__V1__CASE_ACTION__INIT;
  mv_intake in = MEDIATION__V1__INTAKE__INIT;
  mv_party party = MEDIATION__V1__PARTY__INIT, *parties[1] = {&party};
  mv_actor who = MEDIATION__V1__ACTOR__INIT;
  who.kind = MV_PRINCIPAL(UNIT);
  who.person = "值班员";
  act.person = "值班员";
  act.reason = "家庭纠纷转宋大姐调解";
  char target[MC_CASE_ID_MAX] = "", id[MC_CASE_ID_MAX], ref[80];
  mc_code rc = MC_OK;
  int pick = (int)((a->batch + (uint64_t)a->j) % 3);
  if (pick == 1)
    rc = first_of(t, (st_query){.index = ST_BY_HOLDER, .unit = "police-studio",
                                .state = MV_STATE(INTAKE)}, target, err);
  else if (pick == 2)
    rc = first_of(t, (st_query){.index = ST_BY_OFFERED, .unit = "marriage-studio"}, target, err);
  if (rc != MC_OK)
    return rc;
  mv_case *cur = NULL;
  if (target[0] == '\0') {
    mc_date d = mc_date_of(a->now, 480);
    if ((rc = st_case_next_id(t, d.year, id, err)) != MC_OK)
      return rc;
    snprintf(ref, sizeof(ref), "PS-%s", rid);
    party.name = "甄小明";
    party.role = MV_PARTY(APPLICANT);
    in.kind = (mv_kind)(1 + (a->batch + (uint64_t)a->j) % 9);
    in.difficulty = MV_DIFFICULTY(ORDINARY);
    in.source = MV_SOURCE(POLICE_CALL);
    in.community = a->j % 2 ? "kongque" : "wangai";
    in.summary = "夫妻争吵";
    in.parties = parties;
    in.n_parties = 1;
    in.unit_ref = ref;
    act.kind = MV_ACTION(TAKE_IN);
    act.case_ref = id;
    act.args_case = MV_ARGS(INTAKE);
    act.intake = &in;
    who.id = "police-studio";
  } else {
    if ((rc = st_case_get(t, target, &cur, err)) != MC_OK)
      return rc;
    act.case_ref = target;
    if (pick == 1) {
      act.kind = MV_ACTION(TRANSFER);
      act.args_case = MV_ARGS(TO_UNIT);
      act.to_unit = "marriage-studio";
      who.id = "police-studio";
    } else {
      act.kind = MV_ACTION(ACCEPT);
      who.id = "marriage-studio";
    }
  }
  mc_step step = {.current = cur, .action = &act, .actor = &who, .now_ms = a->now,
                  .request_id = {strlen(rid), (uint8_t *)rid}};
  mv_case *next = NULL;
  mv_event *ev = NULL;
  rc = mc_apply(a->reg, &step, &next, &ev, err);
  if (rc == MC_OK)
    rc = st_case_put(t, cur, next, ev, err);
  mc_delivery_target to[2];
  size_t n = rc == MC_OK ? mc_deliveries_for(ev, to) : 0;
  for (size_t i = 0; i < n && rc == MC_OK; i++) {
    mv_delivery d = MEDIATION__V1__DELIVERY__INIT;
    d.unit = (char *)to[i].unit;
    d.kind = to[i].kind;
    d.snapshot = next;
    d.event = ev;
    d.queued_ms = a->now;
    rc = st_delivery_put(t, &d, NULL, err);
  }
  if (rc == MC_OK) {
    st_idem_reply r = MEDIATION__V1__IDEMPOTENT_REPLY__INIT;
    r.request_id.data = (uint8_t *)rid;
    r.request_id.len = strlen(rid);
    r.stored_ms = a->now;
    r.caller = who.id;
    r.method = "Apply";
    r.payload.data = (uint8_t *)next->id;
    r.payload.len = strlen(next->id);
    rc = st_idem_put(t, &r, err);
  }
  if (cur)
    protobuf_c_message_free_unpacked(&cur->base, NULL);
  if (next)
    protobuf_c_message_free_unpacked(&next->base, NULL);
  if (ev)
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: crash_child <store dir> <outbox dir> <first batch>\n");
    return 2;
  }
  uint64_t batch = strtoull(argv[3], NULL, 10);
  mc_err err = {0};
  mc_registry *reg = NULL;
  if (mc_registry_parse(conf, "crash_child", &reg, &err) != MC_OK)
    die("registry", &err);
  /* A tiny map, so that kills also land while it grows. */
  st_options o = {.dir = argv[1], .map_size = 64 << 10, .case_prefix = "BH",
                  .utc_offset_minutes = 480};
  st_store *s = NULL;
  if (st_open(&o, &s, &err) != MC_OK)
    die("st_open", &err);
  st_outbox_options oo = {.dir = argv[2], .unit = "police-studio", .map_size = 64 << 10};
  st_outbox *ob = NULL;
  if (st_outbox_open(&oo, &ob, &err) != MC_OK)
    die("st_outbox_open", &err);
  for (;; batch++) {
    int k = crash_ops(batch);
    op_arg args[6];
    st_op ops[6];
    for (int j = 0; j < k; j++) {
      args[j] = (op_arg){.reg = reg, .batch = batch, .j = j,
                         .now = T0 + (int64_t)batch * 60000 + j};
      ops[j] = (st_op){.apply = op, .arg = &args[j]};
    }
    if (st_write_batch(s, ops, (size_t)k, &err) != MC_OK)
      die("batch", &err);
    for (int j = 0; j < k; j++)
      if (ops[j].code != MC_OK)
        die("op", &ops[j].err);
    /* The handoff to the outbox, durable before the report. */
    char rid[32];
    crash_outbox_id(batch, rid, sizeof(rid));
    mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
    a.kind = MV_ACTION(ACCEPT);
    st_outbox_entry e = MEDIATION__V1__OUTBOX_ENTRY__INIT;
    e.request_id.data = (uint8_t *)rid;
    e.request_id.len = strlen(rid);
    e.action = &a;
    if (st_outbox_push(ob, &e, NULL, &err) != MC_OK)
      die("outbox push", &err);
    char line[32];
    int len = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)batch);
    if (write(1, line, (size_t)len) != len)
      return 3; /* the parent went away */
  }
}
