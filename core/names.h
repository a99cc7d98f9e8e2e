/*
 * names.h - how enum values are written for people and in configuration.
 *
 * Each value has a short ASCII name ("elder_support"), used in config files,
 * on the command line and in JSON, and a Chinese label ("赡养"), used in
 * tables and reports. One table per enum; a test checks that every value of
 * every proto enum has an entry, so a new value cannot be forgotten here.
 */
#ifndef MC_NAMES_H
#define MC_NAMES_H

#include "mv1.h"

typedef struct mc_name {
  int value;
  const char *name;  /* short ASCII name */
  const char *label; /* Chinese label */
} mc_name;

/* Tables end with an entry whose name is NULL. */
extern const mc_name mc_kind_names[];
extern const mc_name mc_state_names[];
extern const mc_name mc_action_names[];
extern const mc_name mc_difficulty_names[];
extern const mc_name mc_source_names[];
extern const mc_name mc_party_role_names[];
extern const mc_name mc_team_role_names[];
extern const mc_name mc_outcome_names[];
extern const mc_name mc_resolution_names[];
extern const mc_name mc_petition_names[];
extern const mc_name mc_court_result_names[];
extern const mc_name mc_satisfaction_names[];
extern const mc_name mc_delivery_names[];
extern const mc_name mc_principal_names[];

/* The short name of value, or "?" if the table has none. */
const char *mc_name_of(const mc_name *table, int value);

/* The Chinese label of value, or "?" if the table has none. */
const char *mc_label_of(const mc_name *table, int value);

/* Parses a short name or a Chinese label. Returns 0 and sets *out, or -1. */
int mc_name_parse(const mc_name *table, const char *text, int *out);

#endif /* MC_NAMES_H */
