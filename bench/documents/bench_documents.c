/*
 * bench_documents.c - how long the big documents take: the case file of a
 * 200-step case (every step a timeline row, so about a dozen pages of
 * table with the header repeated) and a ledger of 10,000 cases, rendered by
 * documents/ from messages built here (the renderers read no store, so the
 * time is the rendering's alone).
 *
 * Budgets (stated, checked: exit 1 when over): the 200-step case file in
 * 2 s, the 10k-row ledger in 3 s, on one core of the CI machine (measured:
 * about 0.2 s and 0.07 s on the 2-core dev machine).
 * Usage: bench_documents [--smoke] [OUTDIR]   (--smoke: 20 steps, 500 rows)
 * OUTDIR (default .) is created when missing, with its parents (mkdir -p):
 * a fresh checkout's bench run needs no setup; one that cannot be created
 * is said at once (exit 2), before any time is measured.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "documents/documents.h"

#define CASE_FILE_BUDGET_MS 2000
#define LEDGER_BUDGET_MS 3000

static mv_party party_a = MEDIATION__V1__PARTY__INIT, party_b = MEDIATION__V1__PARTY__INIT;
static mv_party *parties[2] = {&party_a, &party_b};
static uint8_t head[32];

static void make_case(mv_case *c, mv_intake *in, char *id, int64_t t0, int i) {
  mediation__v1__case__init(c);
  mediation__v1__intake__init(in);
  party_a.name = "林某甲";
  party_a.role = MV_PARTY(APPLICANT);
  party_a.id_number = "3302************34";
  party_b.name = "林某乙";
  party_b.role = MV_PARTY(RESPONDENT);
  in->kind = (mv_kind)(1 + i % 9);
  in->source = (Mediation__V1__Source)(1 + i % 5);
  in->community = "wangai";
  in->parties = parties;
  in->n_parties = 2;
  in->money_fen = 100LL * (i % 100000) + i % 100;
  in->summary = "双方因家庭琐事发生争执，经社区网格员上报，工作站受理后组织调解";
  snprintf(id, 32, "BH-2026-%06d", i + 1);
  c->id = id;
  c->intake = in;
  c->holder = "marriage-studio";
  c->state = MV_STATE(MEDIATION);
  c->created_ms = t0 + (int64_t)i * 60000;
  c->last_event_hash.data = head;
  c->last_event_hash.len = sizeof(head);
}

static int case_file(const char *dir, int steps) {
  mv_case c;
  mv_intake in;
  char id[32];
  int64_t t0 = 1767225600000LL; /* 2026-01-01 */
  make_case(&c, &in, id, t0, 0);
  c.event_count = (uint32_t)steps;
  mv_event *ev = calloc((size_t)steps, sizeof(*ev));
  mv_event **evp = calloc((size_t)steps, sizeof(*evp));
  mv_action *act = calloc((size_t)steps, sizeof(*act));
  mv_actor actor = MEDIATION__V1__ACTOR__INIT;
  Mediation__V1__Session *ses = calloc((size_t)steps, sizeof(*ses));
  if (ev == NULL || evp == NULL || act == NULL || ses == NULL)
    return fprintf(stderr, "out of memory\n"), 1;
  actor.kind = MV_PRINCIPAL(UNIT);
  actor.id = "marriage-studio";
  actor.person = "周晓梅";
  for (int i = 0; i < steps; i++) {
    mediation__v1__case_event__init(&ev[i]);
    mediation__v1__case_action__init(&act[i]);
    mediation__v1__session__init(&ses[i]);
    ses[i].held_ms = t0 + (int64_t)i * 3600000;
    ses[i].note = "调解员分别与双方谈话，了解诉求，释法说理，双方同意继续协商";
    act[i].kind = MV_ACTION(RECORD_SESSION);
    act[i].args_case = MV_ARGS(SESSION);
    act[i].session = &ses[i];
    ev[i].seq = (uint32_t)i + 1;
    ev[i].at_ms = ses[i].held_ms;
    ev[i].actor = &actor;
    ev[i].action = &act[i];
    ev[i].from_state = MV_STATE(MEDIATION);
    ev[i].to_state = MV_STATE(MEDIATION);
    evp[i] = &ev[i];
  }
  char path[1024];
  snprintf(path, sizeof(path), "%s/bench-case-file.pdf", dir);
  mc_err err;
  int64_t t = mc_mono_ns();
  mc_code rc = doc_case_file(NULL, &c, evp, (size_t)steps, "bench", path, &err);
  int64_t ms = (mc_mono_ns() - t) / 1000000;
  free(ev);
  free(evp);
  free(act);
  free(ses);
  if (rc != MC_OK)
    return fprintf(stderr, "case file: %s\n", err.msg), 1;
  struct stat st;
  stat(path, &st);
  printf("case file, %d steps: %lld ms, %lld bytes (budget %d ms)\n", steps, (long long)ms,
         (long long)st.st_size, CASE_FILE_BUDGET_MS);
  return ms > CASE_FILE_BUDGET_MS;
}

static int ledger(const char *dir, int rows) {
  mv_case *cs = calloc((size_t)rows, sizeof(*cs));
  mv_intake *ins = calloc((size_t)rows, sizeof(*ins));
  mv_case **cp = calloc((size_t)rows, sizeof(*cp));
  char (*ids)[32] = calloc((size_t)rows, 32);
  if (cs == NULL || ins == NULL || cp == NULL || ids == NULL)
    return fprintf(stderr, "out of memory\n"), 1;
  for (int i = 0; i < rows; i++) {
    make_case(&cs[i], &ins[i], ids[i], 1767225600000LL, i);
    cp[i] = &cs[i];
  }
  char path[1024];
  snprintf(path, sizeof(path), "%s/bench-ledger.xlsx", dir);
  mc_err err;
  int64_t t = mc_mono_ns();
  mc_code rc = doc_ledger(NULL, cp, (size_t)rows, "台账", path, &err);
  int64_t ms = (mc_mono_ns() - t) / 1000000;
  free(cs);
  free(ins);
  free(cp);
  free(ids);
  if (rc != MC_OK)
    return fprintf(stderr, "ledger: %s\n", err.msg), 1;
  struct stat st;
  stat(path, &st);
  printf("ledger, %d rows: %lld ms, %lld bytes (budget %d ms)\n", rows, (long long)ms,
         (long long)st.st_size, LEDGER_BUDGET_MS);
  return ms > LEDGER_BUDGET_MS;
}

/* mkdir -p dir: each missing component made (0755); an existing one must
 * be a directory. 0, or -1 with the component and the reason on stderr. */
static int make_dirs(const char *dir) {
  char path[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof(path)) {
    fprintf(stderr, "bench_documents: output directory \"%s\": %s\n", dir,
            len == 0 ? "empty" : "too long");
    return -1;
  }
  memcpy(path, dir, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (path[i] != '/' && path[i] != '\0')
      continue;
    char saved = path[i];
    path[i] = '\0';
    struct stat st;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      fprintf(stderr, "bench_documents: cannot create the output directory %s: %s (at %s)\n",
              dir, strerror(errno), path);
      return -1;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fprintf(stderr, "bench_documents: cannot create the output directory %s: %s is not a "
                      "directory\n", dir, path);
      return -1;
    }
    path[i] = saved;
  }
  return 0;
}

int main(int argc, char **argv) {
  int a = 1;
  bool smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
  if (smoke)
    a++;
  const char *dir = a < argc ? argv[a] : ".";
  if (make_dirs(dir) != 0)
    return 2;
  memset(head, 0xab, sizeof(head));
  int bad = case_file(dir, smoke ? 20 : 200);
  bad |= ledger(dir, smoke ? 500 : 10000);
  if (bad)
    fprintf(stderr, "bench_documents: over budget or failed\n");
  return bad;
}
