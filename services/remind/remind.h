/*
 * remind.h - the insides of mediation-remind: what the router says a unit
 * must hear about (rm_gather), the Chinese text of a digest or an alert
 * (rm_compose_*), the state that makes a restart neither resend nor miss
 * anything (rm_state_*), and sending by mail and to a group robot
 * (rm_send_*). main.c runs them in cycles.
 *
 * Where the case lists come from, and why nothing personal can leak: the
 * daemon asks the router as a coordinator (one key for the whole
 * subdistrict, not every unit's), with ListCases filtered to the cases a
 * unit holds (holder) and the cases offered to it (offered_to). Those are
 * exactly cases core/access.c lets that unit read (it holds them, or a
 * transfer names it), so nothing is listed that the unit could not open
 * itself. And the reply is CaseSummary: ids, states, kinds, communities,
 * deadlines and unit ids - no party, no ID number, no phone, no text -
 * so there is nothing to mask: a message holds case ids and the names of
 * units and communities, which every unit of the subdistrict sees anyway.
 *
 * Ownership: an rm_unit_view owns its arrays (rm_view_free); composed
 * messages are malloc'd strings the caller frees; the state owns its json.
 */
#ifndef RM_REMIND_H
#define RM_REMIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "core/registry.h"
#include "core/status.h"
#include "mv1.h"
#include "rpc/client.h"

/* One case as a message shows it: copied out of a CaseSummary. */
typedef struct rm_case {
  char id[64];
  mv_state state;
  mv_kind kind;
  char community[72]; /* community id, "" if none */
  char holder[72];    /* unit id */
  int64_t state_entered_ms;
  int64_t deadline_ms; /* 0: none */
  bool overdue;
} rm_case;

typedef struct rm_list {
  rm_case *items;
  size_t n, cap;
} rm_list;

/* What one unit must hear about, as of as_of_ms. */
typedef struct rm_unit_view {
  const mc_unit *unit;
  int64_t as_of_ms;
  rm_list overdue;  /* held (not on offer elsewhere) or offered to it, past the deadline */
  rm_list due_soon; /* not overdue, deadline within [remind] due_soon */
  rm_list waiting;  /* offered to it longer than [remind] offer_wait */
} rm_unit_view;

/* Asks the router (every page) for unit's cases; fills *v. On an error
 * nothing is kept (v is freed) and err says which call failed. */
mc_code rm_gather(rpc_client *client, const mc_registry *reg, const mc_unit *unit,
                  rm_unit_view *v, mc_err *err);
void rm_view_free(rm_unit_view *v);

/* The morning digest of v: subject and body (malloc'd, the caller frees
 * both). NULL subject/body: out of memory. */
void rm_compose_digest(const mc_registry *reg, const rm_unit_view *v, char **subject,
                       char **body);

/* The alert for cases that became overdue (fresh: n of them). */
void rm_compose_alert(const mc_registry *reg, const mc_unit *unit, const rm_case *fresh,
                      size_t n, int64_t now_ms, char **subject, char **body);

/* ---- state (state.c) ------------------------------------------------------
 * One JSON file, <[remind] data_dir>/remind.state, replaced atomically
 * (write, fsync, rename, fsync the directory):
 *   digests  { unit: "2026-12-03" }       the day of the last digest queued
 *   overdue  { unit: { case id: deadline_ms } }  overdue cases already told
 *   queue    [ { unit, channel, subject, body, made_ms, attempts } ]
 * A message is queued in the same write that records it as told, and
 * removed only after the relay or robot accepted it; so a crash never loses
 * one, and resends one only if it falls between that acceptance and the
 * next write. */
typedef struct rm_state {
  char path[1024];
  json_object *root;
  bool fresh; /* there was no file: the first run */
} rm_state;

mc_code rm_state_load(rm_state *st, const char *data_dir, mc_err *err);
mc_code rm_state_save(rm_state *st, mc_err *err);
void rm_state_free(rm_state *st);

/* The day of the unit's last digest, or "" (borrowed). */
const char *rm_state_digest_day(rm_state *st, const char *unit);
void rm_state_set_digest_day(rm_state *st, const char *unit, const char *day);

/* The told-overdue map of a unit, or NULL if the unit has none yet (it was
 * never looked at: its current overdue cases are taken as known). */
json_object *rm_state_overdue(rm_state *st, const char *unit);
/* Replaces it with the ids and deadlines of `cases`. */
void rm_state_set_overdue(rm_state *st, const char *unit, const rm_list *cases);

/* Queues a message for each of the unit's channels ("mail", "webhook"). */
void rm_state_enqueue(rm_state *st, const mc_unit *unit, const char *subject, const char *body,
                      int64_t now_ms);
json_object *rm_state_queue(rm_state *st);

/* ---- sending (send.c) ------------------------------------------------------
 * Both return MC_OK once the relay or the robot accepted the message, else
 * MC_UNAVAILABLE with why in err (no URL in it: a robot's URL holds its key). */
mc_code rm_send_mail(const mc_unit *unit, const char *subject, const char *body, int64_t now_ms,
                     mc_err *err);
mc_code rm_send_webhook(const mc_unit *unit, const char *subject, const char *body,
                        mc_err *err);

/* Process-wide libcurl set-up, once, before threads. */
bool rm_send_init(void);
void rm_send_cleanup(void);

#endif /* RM_REMIND_H */
