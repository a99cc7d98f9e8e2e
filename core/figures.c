/*
 * figures.c - what each step of a case adds to the year's figures (see
 * figures.h and figures.proto).
 *
 * The idea: a counter is never set, only moved by the delta of one step,
 * and the delta is a pure function of (case before, case after, event). So
 * the stored counters are the sum of every case file's deltas, and storage's
 * verify recomputes them by replaying the events through this same function.
 *
 * What the counters count, where figures.proto leaves a choice:
 *   - repeat_cases counts an intake the router linked to earlier cases
 *     sharing a party (Intake.repeat_of), once, in the intake's month;
 *   - taken_in, transferred_out, accepted, refused, litigated, closed,
 *     withdrawn, reopened, legal_aid and complete_files count steps: a case
 *     closed, reopened and closed again is counted closed twice and reopened
 *     once (closed - reopened is the number of cases closed now);
 *   - mediated and what comes with it (money, difficulty, workers, resolved,
 *     agreed amount, 事实化解 / 实体化解) count a case once, at the step that
 *     gives it its first outcome (Case.mediated_ms going from 0 to set),
 *     with the outcome recorded at that step; a later outcome after a reopen
 *     changes none of them;
 *   - satisfied, basically_satisfied and dissatisfied count cases by their
 *     latest satisfaction: feedback recorded again moves the case from its
 *     old tally to its new one (-1, +1), and a reopen, which clears the
 *     feedback, takes it out of its tally until the next follow-up visit.
 *     A month's bucket can therefore hold a negative satisfaction delta; any
 *     grouping over the whole life of the cases is the count by latest
 *     satisfaction.
 */
#include "core/figures.h"

#include <stddef.h>

#include "core/clock.h"

/* The bucket borrows strings from the case and event; protobuf-c's fields are
 * not const, the bucket is never written through them. */
static char *borrow(const char *s) { return (char *)(s ? s : ""); }

static int64_t *satisfaction_counter(mv_counters *d, Mediation__V1__Satisfaction s) {
  switch (s) {
  case MV_SATISFACTION(SATISFIED):
    return &d->satisfied;
  case MV_SATISFACTION(BASICALLY_SATISFIED):
    return &d->basically_satisfied;
  case MV_SATISFACTION(DISSATISFIED):
    return &d->dissatisfied;
  default:
    return NULL;
  }
}

static void move_satisfaction(mv_counters *d, const mv_case *before, const mv_case *after) {
  int64_t *old = before && before->feedback
                     ? satisfaction_counter(d, before->feedback->satisfaction)
                     : NULL;
  int64_t *now = after->feedback ? satisfaction_counter(d, after->feedback->satisfaction) : NULL;
  if (old != NULL)
    (*old)--;
  if (now != NULL)
    (*now)++;
}

static void count_intake(mv_counters *d, const mv_intake *in) {
  d->taken_in = 1;
  if (in == NULL)
    return;
  if (in->n_repeat_of > 0) /* linked by the router at intake (再次纠纷) */
    d->repeat_cases = 1;
  if (in->petition == MV_PETITION(LED))
    d->petition_led = 1;
  else if (in->petition == MV_PETITION(ASSISTED))
    d->petition_assisted = 1;
  switch (in->source) {
  case MV_SOURCE(POLICE_CALL):
    d->from_police_call = 1;
    break;
  case MV_SOURCE(WALK_IN):
    d->from_walk_in = 1;
    break;
  case MV_SOURCE(LETTER_OR_CALL):
    d->from_letter_or_call = 1;
    break;
  case MV_SOURCE(REFERRAL):
    d->from_referral = 1;
    break;
  case MV_SOURCE(CONSULTATION):
    d->from_consultation = 1;
    break;
  default:
    break;
  }
}

/* The case reached its first outcome at this step. */
static void count_mediated(mv_counters *d, const mv_case *after) {
  const mv_intake *in = after->intake;
  d->mediated = 1;
  if (in != NULL) {
    d->money_involved_fen = in->money_fen;
    if (in->difficulty == MV_DIFFICULTY(DIFFICULT) || in->difficulty == MV_DIFFICULTY(COMPLEX))
      d->difficult_or_complex = 1;
    d->workers_involved = in->workers;
  }
  const Mediation__V1__Outcome *o = after->outcome;
  if (o == NULL)
    return;
  if (o->kind == MV_OUTCOME(AGREEMENT)) {
    d->resolved = 1;
    d->agreed_amount_fen = o->agreed_amount_fen;
  }
  if (o->resolution == MV_RESOLUTION(IN_FACT))
    d->resolved_in_fact = 1;
  else if (o->resolution == MV_RESOLUTION(IN_SUBSTANCE))
    d->resolved_in_substance = 1;
}

bool mc_figures_delta(const mv_case *before, const mv_case *after, const mv_event *event,
                      int utc_offset_minutes, mv_bucket *bucket, mv_counters *delta) {
  mediation__v1__figure_bucket__init(bucket);
  mediation__v1__figure_counters__init(delta);
  if (after == NULL || event == NULL || event->action == NULL)
    return false;

  mc_date d = mc_date_of(event->at_ms, utc_offset_minutes);
  bucket->year = d.year;
  bucket->month = d.month;
  const mv_actor *actor = event->actor;
  bucket->unit = actor != NULL && actor->kind == MV_PRINCIPAL(UNIT) ? borrow(actor->id)
                                                                     : borrow(after->holder);
  bucket->community = borrow(after->intake ? after->intake->community : NULL);
  bucket->kind = after->intake ? after->intake->kind : MV_KIND(UNSPECIFIED);

  switch (event->action->kind) {
  case MV_ACTION(TAKE_IN):
    count_intake(delta, after->intake);
    break;
  case MV_ACTION(TRANSFER):
    delta->transferred_out = 1;
    break;
  case MV_ACTION(ACCEPT):
    delta->accepted = 1;
    break;
  case MV_ACTION(REFUSE):
    delta->refused = 1;
    break;
  case MV_ACTION(SEND_TO_LITIGATION):
    delta->litigated = 1;
    break;
  case MV_ACTION(RECORD_FEEDBACK):
  case MV_ACTION(REOPEN):
    move_satisfaction(delta, before, after);
    if (event->action->kind == MV_ACTION(REOPEN))
      delta->reopened = 1;
    break;
  case MV_ACTION(CLOSE):
    delta->closed = 1;
    if (mc_case_file_complete(after))
      delta->complete_files = 1;
    break;
  case MV_ACTION(WITHDRAW):
    delta->withdrawn = 1;
    break;
  case MV_ACTION(GRANT_LEGAL_AID):
    delta->legal_aid = 1;
    break;
  default:
    break;
  }
  if ((before == NULL || before->mediated_ms == 0) && after->mediated_ms != 0)
    count_mediated(delta, after);
  return !mc_counters_zero(delta);
}

/* Counters are walked through the descriptor, so a counter added to
 * figures.proto is added and compared without touching this file. */
void mc_counters_add(mv_counters *acc, const mv_counters *add) {
  const ProtobufCMessageDescriptor *desc = &mediation__v1__figure_counters__descriptor;
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    if (f->type != PROTOBUF_C_TYPE_INT64)
      continue;
    *(int64_t *)((char *)acc + f->offset) += *(const int64_t *)((const char *)add + f->offset);
  }
}

bool mc_counters_zero(const mv_counters *c) {
  const ProtobufCMessageDescriptor *desc = &mediation__v1__figure_counters__descriptor;
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &desc->fields[i];
    if (f->type == PROTOBUF_C_TYPE_INT64 && *(const int64_t *)((const char *)c + f->offset) != 0)
      return false;
  }
  return true;
}

bool mc_case_file_complete(const mv_case *c) {
  if (c == NULL)
    return false;
  bool mediator = false;
  for (size_t i = 0; i < c->n_team && !mediator; i++)
    mediator = c->team[i]->role == MV_ROLE(MEDIATOR);
  bool worked = c->n_sessions > 0 || c->court_result != NULL;
  bool followed_up =
      c->feedback != NULL && c->feedback->satisfaction != MV_SATISFACTION(UNSPECIFIED) &&
      c->feedback->visited_ms > 0;
  return mediator && worked && c->outcome != NULL && followed_up;
}
