/*
 * effects.h - core's own: the step as the state machine (machine.c) runs it
 * and hands it to an action's functions (effects.c), the record it builds,
 * and the small helpers both files use. Not for use outside core/.
 */
#ifndef MC_EFFECTS_H
#define MC_EFFECTS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/actions.h"
#include "core/machine.h"

typedef enum mc_run_mode { MODE_APPLY, MODE_REPLAY } mc_run_mode;

/* Everything one step reads. */
typedef struct mc_step_ctx {
  mc_run_mode mode;
  const mc_registry *reg; /* MODE_APPLY only */
  int utc_offset_minutes;
  const mv_case *cur; /* NULL before TAKE_IN */
  const mv_action *act;
  const mv_actor *actor;
  int64_t now_ms;
  ProtobufCBinaryData request_id;
  int64_t replay_deadline_ms; /* MODE_REPLAY: the deadline the event recorded */
  const char *case_id;        /* for messages: the case's id, or the new id once checked */
  mv_state from;
  const mc_transition *row;
  const mc_action_def *def; /* the action's, once its shape is checked */
  mv_state to;
  int64_t deadline_ms;
} mc_step_ctx;

/* The borrowed build of one step. Only the arrays are allocated (they are
 * owned here and freed by machine.c); every string points into the current
 * case, the action or the actor. An effect fills next and act, and the
 * parts they point to. */
typedef struct mc_build {
  mv_case next;
  mv_event ev;
  mv_action act;
  mv_actor actor;
  mv_intake intake;
  mv_party *party_copies;
  mv_party **parties;
  Mediation__V1__PendingTransfer transfer;
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__CourtResult court;
  Mediation__V1__Feedback feedback;
  mv_receipt receipt;
  char **units;
  mv_member **team;
  Mediation__V1__Session **sessions;
  uint8_t hash[MC_HASH_BYTES];
} mc_build;

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
