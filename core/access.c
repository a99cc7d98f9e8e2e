/*
 * access.c - who may read a case, and masking of personal data (see
 * access.h).
 *
 * The idea: access follows the case file, not a list kept beside it. A unit
 * is in a case once it has held it or been offered it (Case.units_involved,
 * which only grows), so a unit that handed a case on can still answer for
 * what it did, and a community station also sees its own community's cases
 * because it is the one that visits the parties. Masking keeps the length
 * and the ends of an ID number or phone, enough for an operator to tell two
 * parties apart on the phone, and nothing that identifies them.
 */
#include "core/access.h"

#include <string.h>

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool empty(const char *s) { return s == NULL || s[0] == '\0'; }

bool mc_reads_every_case(const mv_actor *who) {
  return who != NULL &&
         (who->kind == MV_PRINCIPAL(COORDINATOR) || who->kind == MV_PRINCIPAL(SYSTEM));
}

bool mc_may_read(const mc_registry *reg, const mv_case *c, const mv_actor *who) {
  if (c == NULL || who == NULL)
    return false;
  if (mc_reads_every_case(who))
    return true;
  if (who->kind != MV_PRINCIPAL(UNIT) || empty(who->id))
    return false;
  if (str_eq(c->holder, who->id))
    return true;
  if (c->transfer != NULL && str_eq(c->transfer->to_unit, who->id))
    return true;
  for (size_t i = 0; i < c->n_units_involved; i++) {
    if (str_eq(c->units_involved[i], who->id))
      return true;
  }
  const mc_unit *u = reg ? mc_registry_unit(reg, who->id) : NULL;
  return u != NULL && u->kind == MC_UNIT_COMMUNITY && c->intake != NULL &&
         !empty(c->intake->community) && str_eq(u->community, c->intake->community);
}

bool mc_sees_personal_data(const mv_case *c, const mv_actor *who) {
  return c != NULL && who != NULL && who->kind == MV_PRINCIPAL(UNIT) && !empty(who->id) &&
         str_eq(c->holder, who->id);
}

/* Keeps `head` and `tail` characters of s and stars the rest. A string too
 * short to hide anything that way, or not plain ASCII (validation refuses
 * those, but a stored record may predate a rule), is starred whole: masking
 * must never show more than it meant to. */
static void mask(char *s, size_t head, size_t tail) {
  if (s == NULL)
    return;
  size_t n = strlen(s);
  bool ascii = true;
  for (size_t i = 0; i < n && ascii; i++)
    ascii = (unsigned char)s[i] < 0x80;
  if (!ascii || n <= head + tail)
    head = tail = 0;
  for (size_t i = head; i + tail < n; i++)
    s[i] = '*';
}

void mc_mask_id_number(char *s) { mask(s, 4, 2); }

void mc_mask_phone(char *s) { mask(s, 3, 4); }

static void mask_intake(mv_intake *in) {
  if (in == NULL)
    return;
  for (size_t i = 0; i < in->n_parties; i++) {
    if (in->parties[i] == NULL)
      continue;
    mc_mask_id_number(in->parties[i]->id_number);
    mc_mask_phone(in->parties[i]->phone);
  }
}

void mc_mask_case(mv_case *c) {
  if (c != NULL)
    mask_intake(c->intake);
}

void mc_mask_event(mv_event *ev) {
  if (ev != NULL && ev->action != NULL && ev->action->args_case == MV_ARGS(INTAKE))
    mask_intake(ev->action->intake);
}
