/*
 * allocate.c - what a step's write transaction allocates or links besides
 * the step itself: the case id of an intake, its repeat-dispute links
 * (再次纠纷) and an agreement's number. Each is found here, inside the
 * writer's transaction, and taken only when the step is stored, so a
 * refused step uses up nothing people count (case serials, agreement
 * numbers). Split from apply.c, which decides and stores the step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "core/clock.h"
#include "core/identity.h"
#include "core/ids.h"
#include "router/internal.h"

/* A case id for an intake. A refused intake must not use up a serial (case
 * ids are counted by people): the id is only peeked here, and taken when the
 * case is stored. Intake refusals are returned as errors, not remembered:
 * an intake creates nothing when refused, so a retry is decided the same
 * way. */
mc_code rt_new_case_id(st_txn *txn, rt_job *job, const mc_registry *reg, const mv_action *in,
                       char case_id[MC_CASE_ID_MAX], mc_err *err) {
  if (in->args_case == MV_ARGS(INTAKE) && in->intake != NULL && in->intake->unit_ref[0] != '\0') {
    char alias[2 * ST_NAME_MAX + 2], existing[MC_CASE_ID_MAX];
    mc_err why;
    snprintf(alias, sizeof(alias), "%s:%s", job->caller->id, in->intake->unit_ref);
    mc_code found = st_case_resolve(txn, alias, existing, &why);
    if (found == MC_OK)
      return mc_err_set(err, MC_ALREADY_EXISTS, _("unit_ref %s already names case %s"),
                        in->intake->unit_ref, existing);
    if (found != MC_NOT_FOUND && found != MC_INVALID_ARGUMENT)
      return mc_err_set(err, found, "%s", why.msg);
  }
  /* Peeked, not taken: the serial is used only if the case is stored. */
  int year = mc_date_of(job->now_ms, reg->utc_offset_minutes).year;
  return st_case_peek_id(txn, year, case_id, err);
}

/* 再次纠纷: the earlier cases sharing a party with an intake (the same ID
 * number, or the same name and phone), found through the search index in
 * the write transaction that stores the intake, so two intakes of one family
 * in one batch see each other. Most recent first (case ids sort by year and
 * serial), at most MC_REPEAT_MAX; each identity's oldest ST_PAGE_MAX cases
 * are looked at. */
static int id_desc(const void *a, const void *b) {
  return -strcmp(a, b);
}

mc_code rt_find_repeats(st_txn *txn, const mv_intake *in, char (*ids)[MC_CASE_ID_MAX],
                        size_t *n, mc_err *err) {
  enum { CAP = 4 * MC_REPEAT_MAX };
  char found[CAP][MC_CASE_ID_MAX];
  size_t nf = 0;
  st_hit *hits = calloc(ST_PAGE_MAX, sizeof(*hits));
  if (hits == NULL)
    return mc_err_set(err, MC_UNAVAILABLE, _("out of memory"));
  mc_code rc = MC_OK;
  for (size_t i = 0; i < in->n_parties && rc == MC_OK; i++) {
    char terms[2][ST_TERM_MAX];
    size_t nt = 0;
    if (in->parties[i] == NULL)
      continue;
    rc = st_party_terms(txn, in->parties[i], terms, &nt, err);
    for (size_t t = 0; t < nt && rc == MC_OK; t++) {
      st_query q = {.index = ST_BY_TERM, .unit = terms[t], .cursor = "", .limit = ST_PAGE_MAX};
      size_t got = 0;
      char after[ST_CURSOR_MAX];
      rc = st_index_query(txn, &q, hits, &got, after, err);
      /* newest of this identity first, so CAP keeps the recent ones */
      for (size_t h = got; h-- > 0 && rc == MC_OK;) {
        bool seen = false;
        for (size_t k = 0; k < nf && !seen; k++)
          seen = strcmp(found[k], hits[h].id) == 0;
        if (!seen && nf < CAP)
          snprintf(found[nf++], MC_CASE_ID_MAX, "%s", hits[h].id);
      }
    }
  }
  free(hits);
  if (rc != MC_OK)
    return rc;
  qsort(found, nf, sizeof(found[0]), id_desc);
  *n = nf < MC_REPEAT_MAX ? nf : MC_REPEAT_MAX;
  memcpy(ids, found, *n * sizeof(found[0]));
  return MC_OK;
}

/* An agreement's number, （2026）宋调字第12号: the holding unit's doc_abbrev
 * (else the first character of its name, else its id), the year of the
 * step and the unit's next number that year. Peeked here, in the write
 * transaction, and taken by take_agreement_no once the step is stored; a
 * caller's own agreement_no is replaced, never believed. */

mc_code rt_peek_agreement_no(st_txn *txn, const rt_job *job, const mc_registry *reg,
                             const mv_case *current, mv_action *action, rt_agreement_no *out,
                             mc_err *err) {
  out->wanted = false;
  if (current == NULL || action->kind != MV_ACTION(RECORD_OUTCOME) ||
      action->args_case != MV_ARGS(OUTCOME) || action->outcome == NULL ||
      action->outcome->kind != MV_OUTCOME(AGREEMENT))
    return MC_OK;
  out->year = mc_date_of(job->now_ms, reg->utc_offset_minutes).year;
  snprintf(out->unit, sizeof(out->unit), "%s", current->holder);
  mc_code rc = st_agreement_peek(txn, current->holder, out->year, &out->n, err);
  if (rc != MC_OK)
    return rc;
  const mc_unit *u = mc_registry_unit(reg, current->holder);
  char abbrev[64] = "";
  if (u != NULL && u->doc_abbrev != NULL && u->doc_abbrev[0] != '\0')
    snprintf(abbrev, sizeof(abbrev), "%s", u->doc_abbrev);
  else if (u != NULL && u->name != NULL && u->name[0] != '\0') {
    /* the first UTF-8 character of the name */
    size_t len = 1;
    while (u->name[len] != '\0' && ((unsigned char)u->name[len] & 0xC0) == 0x80)
      len++;
    snprintf(abbrev, sizeof(abbrev), "%.*s", (int)len, u->name);
  } else
    snprintf(abbrev, sizeof(abbrev), "%s", current->holder);
  snprintf(out->text, sizeof(out->text), "（%d）%s调字第%llu号", out->year, abbrev,
           (unsigned long long)out->n);
  out->outcome = *action->outcome;
  out->outcome.agreement_no = out->text;
  action->outcome = &out->outcome;
  out->wanted = true;
  return MC_OK;
}

