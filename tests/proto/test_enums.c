/*
 * test_enums.c - the contract's enums name everything DOMAIN.md names, and
 * every value has a short name and a Chinese label (core/names.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/names.h"
#include "mv1.h"

static void assert_value(const ProtobufCEnumDescriptor *e, const char *name) {
  if (protobuf_c_enum_descriptor_get_value_by_name(e, name) == NULL)
    fail_msg("%s has no value %s", e->name, name);
}

/* DOMAIN.md and DESIGN.md "The case": the kinds, states, roles, sources and
 * difficulties coordinators count by. */
static void test_domain_values_exist(void **state) {
  (void)state;
  static const char *const kinds[] = {
      "DISPUTE_KIND_DIVORCE",      "DISPUTE_KIND_CUSTODY",       "DISPUTE_KIND_ELDER_SUPPORT",
      "DISPUTE_KIND_INHERITANCE",  "DISPUTE_KIND_RELATIONSHIP",  "DISPUTE_KIND_FAMILY_TRIVIA",
      "DISPUTE_KIND_NEIGHBOUR",    "DISPUTE_KIND_LABOUR",        "DISPUTE_KIND_OTHER"};
  static const char *const states[] = {
      "CASE_STATE_INTAKE",     "CASE_STATE_TRANSFER", "CASE_STATE_MEDIATION",
      "CASE_STATE_FEEDBACK",   "CASE_STATE_CLOSED",   "CASE_STATE_WITHDRAWN",
      "CASE_STATE_LITIGATION"};
  static const char *const roles[] = {"TEAM_ROLE_MEDIATOR", "TEAM_ROLE_COUNSELLOR",
                                      "TEAM_ROLE_LAWYER"};
  static const char *const sources[] = {"SOURCE_POLICE_CALL", "SOURCE_WALK_IN",
                                        "SOURCE_LETTER_OR_CALL", "SOURCE_REFERRAL"};
  static const char *const difficulties[] = {"DIFFICULTY_ORDINARY", "DIFFICULTY_DIFFICULT",
                                             "DIFFICULTY_COMPLEX"};
  static const char *const resolutions[] = {"RESOLUTION_IN_FACT", "RESOLUTION_IN_SUBSTANCE"};
  static const char *const petitions[] = {"PETITION_ROLE_LED", "PETITION_ROLE_ASSISTED"};
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    assert_value(&mediation__v1__dispute_kind__descriptor, kinds[i]);
  for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
    assert_value(&mediation__v1__case_state__descriptor, states[i]);
  for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
    assert_value(&mediation__v1__team_role__descriptor, roles[i]);
  for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
    assert_value(&mediation__v1__source__descriptor, sources[i]);
  for (size_t i = 0; i < sizeof(difficulties) / sizeof(difficulties[0]); i++)
    assert_value(&mediation__v1__difficulty__descriptor, difficulties[i]);
  for (size_t i = 0; i < sizeof(resolutions) / sizeof(resolutions[0]); i++)
    assert_value(&mediation__v1__resolution__descriptor, resolutions[i]);
  for (size_t i = 0; i < sizeof(petitions) / sizeof(petitions[0]); i++)
    assert_value(&mediation__v1__petition_role__descriptor, petitions[i]);
}

/* Every value but *_UNSPECIFIED has exactly one entry, with a unique short
 * name and label, and both parse back to it. */
static void check_table(const ProtobufCEnumDescriptor *e, const mc_name *table) {
  size_t entries = 0;
  for (const mc_name *n = table; n->name != NULL; n++)
    entries++;
  size_t named_values = 0;
  for (unsigned i = 0; i < e->n_values; i++) {
    const ProtobufCEnumValue *v = &e->values[i];
    if (strstr(v->name, "UNSPECIFIED") != NULL)
      continue;
    named_values++;
    const char *name = mc_name_of(table, v->value);
    const char *label = mc_label_of(table, v->value);
    if (strcmp(name, "?") == 0)
      fail_msg("%s.%s has no short name in core/names.c", e->name, v->name);
    int back = -1;
    assert_int_equal(mc_name_parse(table, name, &back), 0);
    assert_int_equal(back, v->value);
    back = -1;
    assert_int_equal(mc_name_parse(table, label, &back), 0);
    assert_int_equal(back, v->value);
  }
  assert_int_equal(entries, named_values);
  int dummy;
  assert_int_equal(mc_name_parse(table, "no-such-value", &dummy), -1);
}

static void test_every_value_has_names(void **state) {
  (void)state;
  check_table(&mediation__v1__dispute_kind__descriptor, mc_kind_names);
  check_table(&mediation__v1__case_state__descriptor, mc_state_names);
  check_table(&mediation__v1__action_kind__descriptor, mc_action_names);
  check_table(&mediation__v1__difficulty__descriptor, mc_difficulty_names);
  check_table(&mediation__v1__source__descriptor, mc_source_names);
  check_table(&mediation__v1__party_role__descriptor, mc_party_role_names);
  check_table(&mediation__v1__team_role__descriptor, mc_team_role_names);
  check_table(&mediation__v1__outcome_kind__descriptor, mc_outcome_names);
  check_table(&mediation__v1__resolution__descriptor, mc_resolution_names);
  check_table(&mediation__v1__petition_role__descriptor, mc_petition_names);
  check_table(&mediation__v1__court_result_kind__descriptor, mc_court_result_names);
  check_table(&mediation__v1__satisfaction__descriptor, mc_satisfaction_names);
  check_table(&mediation__v1__delivery_kind__descriptor, mc_delivery_names);
  check_table(&mediation__v1__principal_kind__descriptor, mc_principal_names);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_domain_values_exist),
      cmocka_unit_test(test_every_value_has_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
