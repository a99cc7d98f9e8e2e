/*
 * identity.h - checks for the identities parties give at intake: ID numbers
 * (居民身份证号码, GB 11643-1999), phone numbers, and names.
 *
 * Pure functions with one table of checks (identity.c), so the state
 * machine, a unit checking its own intake and the router's search all agree
 * on what a well-formed identity is and on its one normal form: search and
 * repeat-dispute links compare identities by a keyed hash of that normal
 * form (storage never holds a plaintext index of them).
 *
 * Errors name the field the caller passes and the position of the first
 * wrong character (1-based, as printed on the card), never the value.
 */
#ifndef MC_IDENTITY_H
#define MC_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "mv1.h"

#define MC_ID_NUMBER_LEN 18
/* Earlier cases an intake is linked to at most (Intake.repeat_of, 再次纠纷). */
#define MC_REPEAT_MAX 20
/* The normal form of a phone: its digits, without the +86 country code and
 * without an extension (at most 12: 0 + 3-digit area + 8 digits). */
#define MC_PHONE_NORM_MAX 16

/* 身份证号: 17 digits, then the ISO 7064 MOD 11-2 check character (0-9 or
 * X; a lowercase x is accepted and stands for X); positions 7-14 a real
 * birth date (YYYYMMDD, year 1900-2099). `field` names it in the error:
 * "<field>: check digit (position 18) should be 7". */
mc_code mc_id_number_check(const char *s, const char *field, mc_err *err);

/* The check character GB 11643 gives the first 17 digits ('0'-'9' or 'X');
 * '\0' if d17 does not start with 17 digits. */
char mc_id_number_check_char(const char *d17);

/* A mobile number (11 digits starting with 1, optionally after "+86" or
 * "86", digits grouped by spaces or '-'), or a landline with its area code:
 * "0" + a 2- or 3-digit area code, then a 7- or 8-digit number, optionally
 * followed by an extension of 1-6 digits. Landline groups are separated by
 * '-' or a space ("0574-87654321", "0574 8765 4321", "010-12345678-123");
 * written without separators (05748765432) it is 10-12 digits and no
 * extension can be told apart. Anything else is refused naming the rule. */
mc_code mc_phone_check(const char *s, const char *field, mc_err *err);

/* Writes the normal form of a phone that passed mc_phone_check into out
 * (MC_PHONE_NORM_MAX bytes): its digits without +86 and the extension.
 * Returns false (out = "") for a phone that does not pass. */
bool mc_phone_normal(const char *s, char out[MC_PHONE_NORM_MAX]);

/* Writes the normal form of an ID number (uppercase X) into out
 * (MC_ID_NUMBER_LEN + 1 bytes); false (out = "") if it does not pass. */
bool mc_id_number_normal(const char *s, char out[MC_ID_NUMBER_LEN + 1]);

/* True if s holds a bidirectional-control character (U+202A-U+202E,
 * U+2066-U+2069): a name with one can display reversed ("Trojan source"). */
bool mc_has_bidi_controls(const char *s);

/* Copies s (valid UTF-8) into out without its bidi-control characters;
 * out has room for strlen(s) + 1 bytes. Returns the bytes written. */
size_t mc_strip_bidi_controls(const char *s, char *out);

/* Every identity check of a party, from one table (identity.c): the name
 * (required, and not only direction controls), id_number and phone (each
 * when not empty). `prefix` names the party ("action.intake.parties[0]");
 * errors read "<prefix>.id_number: check digit (position 18) should be 7". */
mc_code mc_party_identity_check(const mv_party *p, const char *prefix, mc_err *err);

#endif /* MC_IDENTITY_H */
