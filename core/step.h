/*
 * step.h - core's own: the step as the state machine (machine.c) runs it and
 * hands it to an action's functions (effects.c), and the record it builds.
 * Only types: machine.c calls into effects.c through the action table
 * (actions.h), effects.c calls nothing of machine.c, and this header keeps
 * that arrow one way. Not for use outside core/.
 */
#ifndef MC_STEP_H
#define MC_STEP_H

#include <stdint.h>

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
  char *name_buf; /* the parties' names without bidi controls */
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

#endif /* MC_STEP_H */
