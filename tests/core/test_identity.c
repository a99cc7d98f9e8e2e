/*
 * test_identity.c - ID numbers, phones and names as core/identity.c checks
 * them: the GB 11643 check character, the position each error names, the
 * phone shapes and their one normal form, bidi controls stripped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/identity.h"

static void expect_err(mc_code rc, const mc_err *err, const char *needle) {
  assert_int_equal(rc, MC_INVALID_ARGUMENT);
  if (strstr(err->msg, needle) == NULL)
    fail_msg("expected \"%s\" in \"%s\"", needle, err->msg);
}

static void test_id_number(void **state) {
  (void)state;
  mc_err err;
  /* GB 11643's own example, and numbers computed by hand */
  assert_int_equal(mc_id_number_check_char("11010519491231002"), 'X');
  assert_int_equal(mc_id_number_check_char("33021219900101123"), '2');
  assert_int_equal(mc_id_number_check_char("3302121990010112"), '\0');
  assert_int_equal(mc_id_number_check("11010519491231002X", "p.id_number", &err), MC_OK);
  assert_int_equal(mc_id_number_check("11010519491231002x", "p.id_number", &err), MC_OK);
  assert_int_equal(mc_id_number_check("330212200002290018", "p", &err) == MC_OK,
                   mc_id_number_check_char("33021220000229001") == '8');
  expect_err(mc_id_number_check("110105194912310021", "parties[0].id_number", &err), &err,
             "parties[0].id_number: check digit (position 18) should be X");
  expect_err(mc_id_number_check("1101051949123100", "f", &err), &err, "f: expected 18");
  expect_err(mc_id_number_check("11010519491231002XX", "f", &err), &err, "got more");
  expect_err(mc_id_number_check("1101051949123a002X", "f", &err), &err,
             "f: position 14 should be a digit");
  expect_err(mc_id_number_check("11010519491231002Y", "f", &err), &err, "position 18");
  /* 1900-02-29 is not a date (1900 is no leap year); 2000-02-29 is */
  char d[19];
  memcpy(d, "33021219000229001", 17);
  d[17] = mc_id_number_check_char(d);
  d[18] = '\0';
  expect_err(mc_id_number_check(d, "f", &err), &err, "f: positions 7-14 should be a birth date");
  memcpy(d, "33021220000229001", 17);
  d[17] = mc_id_number_check_char(d);
  assert_int_equal(mc_id_number_check(d, "f", &err), MC_OK);
  char norm[MC_ID_NUMBER_LEN + 1];
  assert_true(mc_id_number_normal("11010519491231002x", norm));
  assert_string_equal(norm, "11010519491231002X");
  assert_false(mc_id_number_normal("110105194912310021", norm));
  assert_string_equal(norm, "");
}

static void test_phone(void **state) {
  (void)state;
  static const struct {
    const char *in, *norm; /* norm NULL: refused */
  } cases[] = {
      {"13800001111", "13800001111"},
      {"138 0000 1111", "13800001111"},
      {"138-0000-1111", "13800001111"},
      {"+86 13800001111", "13800001111"},
      {"+86-138-0000-1111", "13800001111"},
      {"8613800001111", "13800001111"},
      {"0574-87654321", "057487654321"},
      {"0574 8765 4321", "057487654321"},
      {"010-12345678-123", "01012345678"},
      {"0574-8765432", "05748765432"},
      {"05748765432", "05748765432"},
      {"01012345678", "01012345678"},
      {"23800001111", NULL},      /* a mobile starts with 1 */
      {"1380000111", NULL},       /* 10 digits */
      {"138000011112", NULL},     /* 12 digits */
      {"0574-876543", NULL},      /* 6-digit number */
      {"0574-876543210", NULL},   /* 9-digit number */
      {"57-87654321", NULL},      /* no leading 0 */
      {"0574-87654321-1234567", NULL},
      {"0574-87654321-1-2", NULL},
      {"0574--87654321", NULL},
      {"0574-87654321-", NULL},
      {"+1 2025550123", NULL},
      {"", NULL},
      {"tel 13800001111", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    mc_err err = {0};
    char norm[MC_PHONE_NORM_MAX];
    mc_code rc = mc_phone_check(cases[i].in, "p.phone", &err);
    bool ok = mc_phone_normal(cases[i].in, norm);
    if ((rc == MC_OK) != (cases[i].norm != NULL) || ok != (rc == MC_OK))
      fail_msg("case %zu (%s): got %s %s", i, cases[i].in, mc_code_name(rc), err.msg);
    if (ok && strcmp(norm, cases[i].norm) != 0)
      fail_msg("case %zu: normal form %s, expected %s", i, norm, cases[i].norm);
    if (!ok && strncmp(err.msg, "p.phone: ", 9) != 0)
      fail_msg("case %zu: error does not name the field: %s", i, err.msg);
  }
  mc_err err;
  expect_err(mc_phone_check("138a0001111", "f", &err), &err, "f: position 4 does not fit");
}

static void test_bidi(void **state) {
  (void)state;
  /* U+202E RIGHT-TO-LEFT OVERRIDE, U+2066 LEFT-TO-RIGHT ISOLATE, U+2069 POP
   * DIRECTIONAL ISOLATE around a name; U+200F (a mark, not a control of the
   * list) and U+2070 stay. */
  const char *in = "\xE2\x80\xAE林\xE2\x81\xA6某甲\xE2\x81\xA9\xE2\x80\x8F\xE2\x81\xB0";
  char out[64];
  assert_true(mc_has_bidi_controls(in));
  size_t n = mc_strip_bidi_controls(in, out);
  assert_string_equal(out, "林某甲\xE2\x80\x8F\xE2\x81\xB0");
  assert_int_equal(n, strlen(out));
  assert_false(mc_has_bidi_controls(out));
  const char *all = "\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD\xE2\x80\xAE"
                    "\xE2\x81\xA6\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9";
  assert_int_equal(mc_strip_bidi_controls(all, out), 0);
}

static void test_party_table(void **state) {
  (void)state;
  mv_party p = MEDIATION__V1__PARTY__INIT;
  mc_err err;
  p.name = "林某甲";
  assert_int_equal(mc_party_identity_check(&p, "x.parties[0]", &err), MC_OK);
  p.id_number = "330212199001011234";
  expect_err(mc_party_identity_check(&p, "x.parties[0]", &err), &err,
             "x.parties[0].id_number: check digit (position 18) should be 2");
  p.id_number = "330212199001011232";
  p.phone = "1380000111";
  expect_err(mc_party_identity_check(&p, "x.parties[0]", &err), &err, "x.parties[0].phone: ");
  p.phone = "";
  p.name = "\xE2\x80\xAE ";
  expect_err(mc_party_identity_check(&p, "x.parties[0]", &err), &err,
             "x.parties[0].name: required");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_id_number),
      cmocka_unit_test(test_phone),
      cmocka_unit_test(test_bidi),
      cmocka_unit_test(test_party_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
