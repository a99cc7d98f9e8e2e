/*
 * figures.h - what each step adds to the year's figures.
 *
 * Pure. Storage calls it in the same write transaction as the step, so the
 * counters are always the sum of the case files, and verify recomputes them
 * from the case files with the same function.
 *
 * A step is counted in one bucket: the month it happened in (at the
 * subdistrict's UTC offset), the unit that took it (the holder for a
 * coordinator's or the router's step), and the case's community and kind.
 * See figures.proto for what each counter means.
 */
#ifndef MC_FIGURES_H
#define MC_FIGURES_H

#include <stdbool.h>

#include "mv1.h"

/* Fills *bucket and *delta (both initialised by the function) for the step
 * from `before` (NULL for the intake) to `after` recorded by `event`.
 * Returns false if the step changes no counter. The bucket's strings point
 * into after and event. */
bool mc_figures_delta(const mv_case *before, const mv_case *after, const mv_event *event,
                      int utc_offset_minutes, mv_bucket *bucket, mv_counters *delta);

/* acc += add, counter by counter. */
void mc_counters_add(mv_counters *acc, const mv_counters *add);

/* True if every counter is zero. */
bool mc_counters_zero(const mv_counters *c);

/* True if a closed case's file is complete (案卷质量): a mediator was
 * assigned, a session or a court result is recorded, an outcome, and the
 * follow-up visit with the parties' satisfaction. */
bool mc_case_file_complete(const mv_case *c);

#endif /* MC_FIGURES_H */
