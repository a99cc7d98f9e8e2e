/*
 * test_store_space.c - what a case costs on disk, by structure (issue 13.6).
 *
 * Cases whose records outgrow a leaf page (over ~2 KB: here, after four
 * sessions with long notes) and whose steps are interleaved with other
 * cases' steps, as the router writes them. Two wastes are checked, both
 * seen in bench_store --space-only before they were fixed:
 *   - leaf pages of the cases database left half empty when records move to
 *     overflow pages (LMDB rebalances after deletes only): their leaves must
 *     be few, the overflow pages being where the records are;
 *   - case-file events appended at scattered places of the tree, leaving its
 *     pages ~57% full: the pages that hold the case files (however they are
 *     laid out) must stay within 1.4x the bytes of the events.
 * Counts of pages, not times: deterministic on any machine with 4 KB pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sf.h"

#define CASES 600
#define SESSIONS 4

static const char *note(void) {
  static char buf[1024];
  if (buf[0] == '\0') {
    /* 672 bytes of Chinese text, as a session note is. */
    for (int i = 0; i < 28; i++)
      strcat(buf, "双方到场陈述意见");
  }
  return buf;
}

typedef struct step_arg {
  const mc_registry *reg;
  const char *id;
  int64_t now;
  char rid[48];
} step_arg;

static mc_code session_op(st_txn *t, void *arg, mc_err *err) {
  step_arg *a = arg;
  sf_action act;
  sf_action_init(&act, MV_ACTION(RECORD_SESSION));
  act.a.case_ref = (char *)a->id;
  act.session.note = (char *)note();
  mv_actor who = sf_unit(SF_POLICE);
  return sf_apply(t, a->reg, &act.a, &who, a->now, a->rid, NULL, err);
}

static uint64_t pages_of(const st_space *sp, const char *name, bool leaves_only) {
  for (size_t i = 0; i < sp->n_dbs; i++)
    if (strcmp(sp->dbs[i].name, name) == 0)
      return leaves_only ? sp->dbs[i].leaf_pages
                         : sp->dbs[i].branch_pages + sp->dbs[i].leaf_pages +
                               sp->dbs[i].overflow_pages;
  return 0;
}

static void test_grown_cases_pack_their_pages(void **state) {
  (void)state;
  char *dir = sf_tmpdir();
  st_store *s = sf_open(dir, 0, 0);
  mc_registry *reg = sf_registry();
  static char ids[CASES][MC_CASE_ID_MAX];
  for (int i = 0; i < CASES; i++) {
    sf_take_in(s, reg, SF_POLICE, "kongque", MV_KIND(DIVORCE), NULL, SF_T0 + i, ids[i]);
    sf_kind(s, reg, ids[i], MV_ACTION(START_MEDIATION), SF_POLICE, SF_T0 + SF_HOUR + i);
  }
  /* Sessions round by round, 32 cases per commit in a scrambled order. */
  uint64_t when = SF_T0 + SF_DAY;
  for (int r = 0; r < SESSIONS; r++) {
    for (int b = 0; b < CASES; b += 32) {
      step_arg args[32];
      st_op ops[32];
      int n = 0;
      for (int i = b; i < b + 32 && i < CASES; i++, n++) {
        int c = (i * 7 + r * 131) % CASES; /* 7 is prime to 600: every case once a round */
        args[n] = (step_arg){.reg = reg, .id = ids[c], .now = (int64_t)when++};
        snprintf(args[n].rid, sizeof(args[n].rid), "s-%d-%d", r, c);
        ops[n] = (st_op){.apply = session_op, .arg = &args[n]};
      }
      mc_err err = {0};
      assert_int_equal(st_write_batch(s, ops, (size_t)n, &err), MC_OK);
      for (int i = 0; i < n; i++)
        if (ops[i].code != MC_OK)
          fail_msg("session on %s: %s: %s", args[i].id, mc_code_name(ops[i].code),
                   ops[i].err.msg);
    }
  }
  sf_verify_clean(s);

  /* The bytes of the events and of the records. */
  uint64_t event_bytes = 0, record_bytes = 0;
  st_txn *t;
  mc_err err = {0};
  assert_int_equal(st_read_begin(s, &t, &err), MC_OK);
  for (int i = 0; i < CASES; i++) {
    mv_case *c;
    assert_int_equal(st_case_get(t, ids[i], &c, &err), MC_OK);
    record_bytes += protobuf_c_message_get_packed_size(&c->base);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    mv_event **evs;
    size_t n;
    assert_int_equal(st_events_get(t, ids[i], &evs, &n, &err), MC_OK);
    for (size_t k = 0; k < n; k++)
      event_bytes += protobuf_c_message_get_packed_size(&evs[k]->base);
    st_messages_free(evs, n);
  }
  st_read_end(t);
  /* Every record has outgrown its leaf page. */
  assert_true(record_bytes / CASES > 2100);

  st_space sp;
  assert_int_equal(st_space_get(s, &sp, &err), MC_OK);
  assert_int_equal(sp.page_size, 4096);
  uint64_t case_leaves = pages_of(&sp, "cases", true);
  uint64_t file_pages = pages_of(&sp, "events", false) + pages_of(&sp, "case_log", false) +
                        pages_of(&sp, "case_files", false);
  print_message("cases: %llu leaf pages for %d records of %llu bytes; case files: %llu pages "
                "for %llu bytes of events (%.2fx)\n",
                (unsigned long long)case_leaves, CASES,
                (unsigned long long)(record_bytes / CASES), (unsigned long long)file_pages,
                (unsigned long long)event_bytes,
                (double)file_pages * 4096 / (double)event_bytes);
  /* Overflow references are ~30 bytes: a page holds ~100 of them. */
  if (case_leaves > CASES / 20)
    fail_msg("the cases database keeps %llu leaf pages for %d records in overflow pages",
             (unsigned long long)case_leaves, CASES);
  if ((double)file_pages * 4096 > 1.4 * (double)event_bytes)
    fail_msg("the case files take %.2fx the bytes of their events",
             (double)file_pages * 4096 / (double)event_bytes);
  st_close(s);
  mc_registry_free(reg);
  sf_rmrf(dir);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grown_cases_pack_their_pages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
