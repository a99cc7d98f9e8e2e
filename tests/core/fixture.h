/*
 * fixture.h - a small deployment and helpers for driving cases through the
 * state machine in tests.
 *
 * The deployment: the police studio, the marriage studio, and a station for
 * each of 王隘 (with two grids), 孔雀 and 白鹤; one coordinator. Party names
 * are invented, ID numbers and phones are not real-looking.
 */
#ifndef TEST_FIXTURE_H
#define TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/machine.h"
#include "core/registry.h"
#include "mv1.h"

#define FX_POLICE "police-studio"
#define FX_MARRIAGE "marriage-studio"
#define FX_WANGAI "station-wangai"
#define FX_KONGQUE "station-kongque"
#define FX_BAIHE "station-baihe"
#define FX_COORDINATOR "zhang"

/* 2026-03-02 09:00 at +08:00. */
#define FX_T0 1772413200000LL
#define FX_MINUTE 60000LL
#define FX_DAY (24 * 60 * FX_MINUTE)

/* The deployment, with `extra` appended to its configuration (e.g. a
 * [limits] section). Free with mc_registry_free. */
mc_registry *fx_registry(const char *extra);

/* The deployment of a test group whose tests share fx_registry(NULL): made
 * by fx_group_setup and freed by fx_group_teardown, cmocka's group fixtures
 * (cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown)). */
extern mc_registry *fx_reg;
int fx_group_setup(void **state);
int fx_group_teardown(void **state);

/* An action with valid arguments for its kind, every part in the struct
 * (nothing allocated: the action borrows from the struct). */
typedef struct fx_act {
  mv_action a;
  mv_intake intake;
  mv_party party[3]; /* two used by default */
  mv_party *parties[3];
  mv_member member;
  Mediation__V1__Session session;
  Mediation__V1__Outcome outcome;
  Mediation__V1__CourtResult court;
  Mediation__V1__Feedback feedback;
  mv_receipt receipt;
  uint8_t signature[64];
  char case_ref[32];
} fx_act;

/* Defaults: TAKE_IN a relationship quarrel by police call in 孔雀 with two
 * parties and a fresh case id; TRANSFER to the marriage studio; ASSIGN and
 * RELEASE the mediator "调解员甲"; an agreement of 1000 元; a court judgment;
 * satisfied feedback; a receipt by the police studio of event 1 of case_id
 * (set f->receipt.case_id before use). Reasons are set for every kind. */
void fx_act_init(fx_act *f, mv_action_kind kind);

mv_actor fx_unit(const char *id);
mv_actor fx_coordinator(void);
mv_actor fx_system(void);

/* Figures kept the way storage keeps them: one row per bucket, each step's
 * delta added as it is applied. */
typedef struct fx_figure {
  mv_bucket bucket; /* strings point into unit and community */
  char unit[64];
  char community[64];
  mv_counters counters;
} fx_figure;

typedef struct fx_figures {
  fx_figure *rows;
  size_t n;
} fx_figures;

/* Adds a step's delta to its bucket's row. */
void fx_figures_add(fx_figures *fig, const mv_bucket *b, const mv_counters *delta);

/* The sum of every row whose unit is `unit` (NULL: every row) and whose
 * month is `month` (0: every month). */
mv_counters fx_figures_sum(const fx_figures *fig, const char *unit, int month);

/* True if both hold the same buckets with the same counters. */
bool fx_figures_equal(const fx_figures *a, const fx_figures *b);

void fx_figures_free(fx_figures *fig);

/* A case and its case file, owned. */
typedef struct fx_case {
  mv_case *c;         /* NULL before TAKE_IN */
  mv_event **events;  /* every event applied, in order */
  size_t n_events;
  int64_t now;        /* the next step's time; each step advances it a minute */
  fx_figures *fig;    /* if set, each applied step's figures are added here */
} fx_case;

/* Recomputes the figures of a case file from its events alone, replaying
 * them (as storage's verify does), into fig. */
void fx_figures_of_file(fx_figures *fig, const fx_case *f, int utc_offset_minutes);

/* Applies one step at f->now; on MC_OK the case and file advance. */
mc_code fx_try(const mc_registry *reg, fx_case *f, const mv_action *a, const mv_actor *who,
               mc_err *err);

/* The same, failing the test unless it succeeds. */
void fx_do(const mc_registry *reg, fx_case *f, const mv_action *a, const mv_actor *who);

/* fx_do with the default action of a kind. */
void fx_kind(const mc_registry *reg, fx_case *f, mv_action_kind kind, const char *unit);

void fx_free(fx_case *f);

/* Packed bytes of a message (caller frees). */
uint8_t *fx_pack(const ProtobufCMessage *m, size_t *len);

/* True if the two messages pack to the same bytes. */
bool fx_same(const ProtobufCMessage *a, const ProtobufCMessage *b);

/* Replays the whole case file from nothing, failing the test on any error;
 * returns the rebuilt case (caller frees). */
mv_case *fx_replay(const fx_case *f, int utc_offset_minutes);

/* A copy of an owned case (caller frees). */
mv_case *fx_copy(const mv_case *c);

/* One case in every state, built through the machine itself, so every
 * fixture is a case the router could really hold. All are taken in by the
 * police studio (the holder) for 孔雀, with the mediator 调解员甲 assigned;
 * transfers are offered to the marriage studio. Guards are made to hold:
 * feedback cases have a failed mediation (no agreement, no court result)
 * and a satisfied visit, closed cases an agreement, none has legal aid. */
typedef enum fx_variant {
  FX_NEW, /* no case: c is NULL */
  FX_INTAKE,
  FX_TRANSFER_FROM_INTAKE,
  FX_TRANSFER_FROM_MEDIATION,
  FX_TRANSFER_FROM_FEEDBACK,
  FX_MEDIATION,
  FX_FEEDBACK,
  FX_LITIGATION,
  FX_CLOSED,
  FX_WITHDRAWN,
  FX_COUNT,
} fx_variant;

extern const char *const fx_variant_names[FX_COUNT];

void fx_build(const mc_registry *reg, fx_variant v, fx_case *f);

/* The state a transfer fixture was offered from (UNSPECIFIED for others). */
mv_state fx_offered_from(fx_variant v);

/* Records an outcome of the kind (an agreement of 1000 元, or none) as the
 * holder police studio. */
void fx_outcome(const mc_registry *reg, fx_case *f, Mediation__V1__OutcomeKind kind);

/* Bytes the allocator holds now, for "allocates nothing" checks (constant
 * under ASan, whose own leak check then covers them). */
size_t fx_heap_in_use(void);

#endif /* TEST_FIXTURE_H */
