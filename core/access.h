/*
 * access.h - who may see which case, and masking of personal data.
 *
 * Pure. The router asks these for every method; nothing else decides.
 *   - A coordinator (and the router itself) reads every case.
 *   - A unit reads a case it holds, has held or has been offered
 *     (Case.units_involved), and a community station also reads the cases of
 *     its own community. Nothing else.
 *   - Only the holding unit sees the parties' ID numbers and phones; everyone
 *     else gets them masked.
 */
#ifndef MC_ACCESS_H
#define MC_ACCESS_H

#include <stdbool.h>

#include "core/registry.h"
#include "mv1.h"

bool mc_may_read(const mc_registry *reg, const mv_case *c, const mv_actor *who);

/* True if `who` reads every case and every unit's lists, stuck cases and
 * figures (a coordinator, the router itself); a unit reads only its own. */
bool mc_reads_every_case(const mv_actor *who);

/* True if `who` sees personal data of c unmasked (it holds the case). */
bool mc_sees_personal_data(const mv_case *c, const mv_actor *who);

/* Masks in place, keeping the length: an ID number keeps its first 4 and
 * last 2 characters, a phone its first 3 and last 4, everything between
 * becomes '*'. Strings are overwritten, not reallocated, so it works on any
 * message whose strings are writable (an unpacked one). */
void mc_mask_id_number(char *s);
void mc_mask_phone(char *s);

/* Masks every party of a case, and of an event's intake. */
void mc_mask_case(mv_case *c);
void mc_mask_event(mv_event *ev);

#endif /* MC_ACCESS_H */
