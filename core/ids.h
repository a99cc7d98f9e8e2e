/*
 * ids.h - case ids and case references.
 *
 * A case id is "<prefix>-<year>-<serial>", e.g. "BH-2026-000123": readable on
 * the phone, unique per subdistrict and year, and sorting in intake order
 * within a year (the serial has at least six digits). A unit that took a
 * case in while the router was unreachable refers to it as
 * "<unit>:<unit_ref>" until it learns the id; the router accepts both.
 */
#ifndef MC_IDS_H
#define MC_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define MC_CASE_ID_MAX 32 /* bytes, NUL included */

/* Writes the id into buf (at least MC_CASE_ID_MAX bytes). */
mc_code mc_case_id_format(const char *prefix, int year, uint64_t serial, char *buf, size_t cap,
                          mc_err *err);

/* True if s has the shape of a case id; year and serial are written if not
 * NULL. */
bool mc_case_id_parse(const char *s, int *year, uint64_t *serial);

/* Splits "<unit>:<unit_ref>". Returns false if s is not of that shape. The
 * unit is copied into unit (cap bytes); *ref points into s. */
bool mc_case_alias_parse(const char *s, char *unit, size_t cap, const char **ref);

#endif /* MC_IDS_H */
