/*
 * effects.h - core's own: the small helpers the state machine (machine.c)
 * and the actions' functions (effects.c, which defines them) both use. The
 * step itself and the record it builds are step.h's. Not for use outside
 * core/.
 */
#ifndef MC_EFFECTS_H
#define MC_EFFECTS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "mv1.h"

/* A struct copy of a message drops what the client sent that we do not
 * know: unknown fields never reach the case file. */
#define FORGET_UNKNOWN(m) ((m).base.n_unknown_fields = 0, (m).base.unknown_fields = NULL)

#define TRY(expr)                                                                              \
  do {                                                                                         \
    mc_code rc_ = (expr);                                                                      \
    if (rc_ != MC_OK)                                                                          \
      return rc_;                                                                              \
  } while (0)

static inline bool mc_str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static inline bool mc_str_empty(const char *s) { return s == NULL || s[0] == '\0'; }

/* Whitespace alone is no reason. */
static inline bool mc_str_blank(const char *s) {
  for (; s != NULL && *s != '\0'; s++) {
    if (*s != ' ' && *s != '\t' && *s != '\n')
      return false;
  }
  return true;
}

/* UNAVAILABLE, not RESOURCE_EXHAUSTED: that one is a full case file, a
 * refusal of the step; running out of memory decides nothing about the
 * step, so its sender must send it again (services/unit un_code_is_refusal). */
static inline mc_code mc_out_of_memory(mc_err *err) {
  return mc_err_set(err, MC_UNAVAILABLE, "out of memory");
}

/* The active team entry for (person, role), or -1. Entries are never
 * removed: a released one has released_ms set. */
long mc_team_find_active(const mv_case *c, const char *person, Mediation__V1__TeamRole role);

/* The short name of an action, for messages. */
const char *mc_action_name(mv_action_kind kind);

#endif /* MC_EFFECTS_H */
