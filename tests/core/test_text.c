/*
 * test_text.c - text checks refuse what protobuf-c lets through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/text.h"
#include "mv1.h"

static void test_utf8(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t len;
    bool ok;
  } cases[] = {
      {"", 0, true},
      {"plain ascii", 11, true},
      {"宋大姐调解工作室", 24, true},
      {"\xF0\x9F\x98\x80", 4, true},          /* U+1F600 */
      {"\xC0\xAF", 2, false},                 /* overlong '/' */
      {"\xE0\x80\xAF", 3, false},             /* overlong '/' */
      {"\xED\xA0\x80", 3, false},             /* surrogate U+D800 */
      {"\xF4\x90\x80\x80", 4, false},         /* above U+10FFFF */
      {"\x80", 1, false},                     /* lone continuation */
      {"\xE5\xAE", 2, false},                 /* truncated 宋 */
      {"\xFF", 1, false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    if (mc_utf8_valid(cases[i].s, cases[i].len) != cases[i].ok)
      fail_msg("case %zu: expected %s", i, cases[i].ok ? "valid" : "invalid");
  }
}

static void test_text_check(void **state) {
  (void)state;
  mc_err err;
  assert_int_equal(mc_text_check("王隘社区", 64, "community", &err), MC_OK);
  assert_int_equal(mc_text_check("line one\nline two\ttab", 64, "note", &err), MC_OK);
  assert_int_equal(mc_text_check("bell\a", 64, "note", &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "note: control character"));
  assert_int_equal(mc_text_check("\xC0\xAF", 64, "name", &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "name: not valid UTF-8"));
  assert_int_equal(mc_text_check("0123456789", 9, "ref", &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "longer than 9 bytes"));
  assert_int_equal(mc_text_check("012345678", 9, "ref", &err), MC_OK);
}

/* A string with an embedded NUL decodes to something strlen() cuts short;
 * mc_message_check must see the real bytes through the wire format. */
static void test_message_check_walks_every_field(void **state) {
  (void)state;
  mc_message_limits limits = {.max_string_bytes = 32, .max_bytes_field = 16,
                              .max_repeated = 3, .max_depth = 4};
  mc_err err;
  Mediation__V1__Party parties[4];
  Mediation__V1__Party *pp[4];
  for (int i = 0; i < 4; i++) {
    mediation__v1__party__init(&parties[i]);
    parties[i].name = "某甲";
    pp[i] = &parties[i];
  }
  Mediation__V1__Intake intake = MEDIATION__V1__INTAKE__INIT;
  intake.parties = pp;
  intake.n_parties = 2;
  mv_action action = MEDIATION__V1__CASE_ACTION__INIT;
  action.args_case = MV_ARGS(INTAKE);
  action.intake = &intake;
  assert_int_equal(mc_message_check(&action.base, &limits, &err), MC_OK);

  parties[1].phone = "138\x01" "0000";
  assert_int_equal(mc_message_check(&action.base, &limits, &err), MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "intake.parties[1].phone: control character at byte 3");
  parties[1].phone = "";

  intake.n_parties = 4;
  assert_int_equal(mc_message_check(&action.base, &limits, &err), MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "intake.parties: more than 3 elements");
  intake.n_parties = 2;

  intake.summary = "this summary is much longer than thirty-two bytes";
  assert_int_equal(mc_message_check(&action.base, &limits, &err), MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "intake.summary: longer than 32 bytes");
  intake.summary = "";

  /* A oneof member that is not set is not looked at. */
  action.args_case = MV_ARGS(TO_UNIT);
  action.to_unit = "marriage-studio";
  assert_int_equal(mc_message_check(&action.base, &limits, &err), MC_OK);
}

static void test_embedded_nul_through_the_wire(void **state) {
  (void)state;
  /* Field 2 (id) of Actor, length 7, "ab\0cdef". */
  static const uint8_t wire[] = {0x12, 0x07, 'a', 'b', 0x00, 'c', 'd', 'e', 'f'};
  ProtobufCMessage *m =
      protobuf_c_message_unpack(&mediation__v1__actor__descriptor, NULL, sizeof(wire), wire);
  assert_non_null(m); /* protobuf-c 1.4.1 accepts it... */
  Mediation__V1__Actor *actor = (Mediation__V1__Actor *)m;
  assert_int_equal(strlen(actor->id), 2); /* ...and strlen sees 2 of 7 bytes */
  protobuf_c_message_free_unpacked(m, NULL);

  /* The wire check sees the real bytes and refuses them. */
  mc_message_limits limits = {.max_string_bytes = 32, .max_bytes_field = 16,
                              .max_repeated = 3, .max_depth = 4};
  mc_err err;
  assert_int_equal(mc_wire_check(&mediation__v1__actor__descriptor, wire, sizeof(wire), &limits,
                                 &err),
                   MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "id: contains a NUL byte");
}

/* Nesting is bounded before unpacking recurses; framing errors are caught. */
static void test_wire_check_depth_and_framing(void **state) {
  (void)state;
  mc_message_limits limits = {.max_string_bytes = 64, .max_bytes_field = 64,
                              .max_repeated = 8, .max_depth = 3};
  mc_err err;
  /* ApplyRequest{action{intake{parties{name:"x"}}}}: depth 3 */
  static const uint8_t ok[] = {0x0A, 0x09, 0x52, 0x07, 0x32, 0x05, 0x0A, 0x03, 'a', 'b', 'c'};
  assert_int_equal(mc_wire_check(&mediation__v1__apply_request__descriptor, ok, sizeof(ok),
                                 &limits, &err),
                   MC_OK);
  limits.max_depth = 2;
  assert_int_equal(mc_wire_check(&mediation__v1__apply_request__descriptor, ok, sizeof(ok),
                                 &limits, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "nested deeper than 2"));
  limits.max_depth = 3;
  static const uint8_t overrun[] = {0x0A, 0x7F, 0x00};
  assert_int_equal(mc_wire_check(&mediation__v1__apply_request__descriptor, overrun,
                                 sizeof(overrun), &limits, &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "length runs past the end"));
  static const uint8_t group[] = {0x0B, 0x0C};
  assert_int_equal(mc_wire_check(&mediation__v1__apply_request__descriptor, group,
                                 sizeof(group), &limits, &err),
                   MC_INVALID_ARGUMENT);
  static const uint8_t bad_utf8[] = {0x0A, 0x06, 0x52, 0x04, 0x42, 0x02, 0xC0, 0xAF};
  assert_int_equal(mc_wire_check(&mediation__v1__apply_request__descriptor, bad_utf8,
                                 sizeof(bad_utf8), &limits, &err),
                   MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "action.intake.summary: not valid UTF-8");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_text_check),
      cmocka_unit_test(test_message_check_walks_every_field),
      cmocka_unit_test(test_embedded_nul_through_the_wire),
      cmocka_unit_test(test_wire_check_depth_and_framing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
