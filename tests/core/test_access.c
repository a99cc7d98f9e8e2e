/*
 * test_access.c - who reads which case, and what they see of the parties.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/access.h"
#include "fixture.h"

/* A case of 孔雀 taken in by the police studio, handed to the marriage
 * studio (which accepted it) and now offered to 白鹤's station. */
static void build(fx_case *f) {
  memset(f, 0, sizeof(*f));
  fx_kind(fx_reg, f, MV_ACTION(TAKE_IN), FX_POLICE);
  fx_kind(fx_reg, f, MV_ACTION(TRANSFER), FX_POLICE);
  fx_kind(fx_reg, f, MV_ACTION(ACCEPT), FX_MARRIAGE);
  fx_act act;
  fx_act_init(&act, MV_ACTION(TRANSFER));
  act.a.to_unit = FX_BAIHE;
  mv_actor m = fx_unit(FX_MARRIAGE);
  fx_do(fx_reg, f, &act.a, &m);
}

static void test_visibility_matrix(void **state) {
  (void)state;
  fx_case f;
  build(&f);
  const struct {
    mv_actor who;
    bool reads, unmasked, reads_every;
    const char *why;
  } rows[] = {
      {fx_unit(FX_MARRIAGE), true, true, false, "holder"},
      {fx_unit(FX_POLICE), true, false, false, "former holder"},
      {fx_unit(FX_BAIHE), true, false, false, "offered unit (another community's station)"},
      {fx_unit(FX_KONGQUE), true, false, false, "station of the case's community"},
      {fx_unit(FX_WANGAI), false, false, false, "station of another community"},
      {fx_unit("court"), false, false, false, "unit not in the registry"},
      {fx_unit(""), false, false, false, "unit without an id"},
      {fx_coordinator(), true, false, true, "coordinator"},
      {fx_system(), true, false, true, "router"},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    if (mc_may_read(fx_reg, f.c, &rows[i].who) != rows[i].reads)
      fail_msg("%s: may_read should be %d", rows[i].why, rows[i].reads);
    if (mc_sees_personal_data(f.c, &rows[i].who) != rows[i].unmasked)
      fail_msg("%s: sees_personal_data should be %d", rows[i].why, rows[i].unmasked);
    if (mc_reads_every_case(&rows[i].who) != rows[i].reads_every)
      fail_msg("%s: reads_every_case should be %d", rows[i].why, rows[i].reads_every);
  }
  mv_actor nobody = MEDIATION__V1__ACTOR__INIT;
  assert_false(mc_may_read(fx_reg, f.c, &nobody));
  assert_false(mc_may_read(fx_reg, NULL, &rows[0].who));
  assert_false(mc_may_read(fx_reg, f.c, NULL));
  assert_false(mc_reads_every_case(&nobody));
  assert_false(mc_reads_every_case(NULL));

  /* once 白鹤 refuses, it keeps reading the case it was offered; the
   * holder is still the only one to see personal data */
  fx_kind(fx_reg, &f, MV_ACTION(REFUSE), FX_BAIHE);
  mv_actor baihe = fx_unit(FX_BAIHE), marriage = fx_unit(FX_MARRIAGE);
  assert_true(mc_may_read(fx_reg, f.c, &baihe));
  assert_false(mc_sees_personal_data(f.c, &baihe));
  assert_true(mc_sees_personal_data(f.c, &marriage));
  fx_free(&f);
}

static void test_mask_strings(void **state) {
  (void)state;
  char id18[] = "11010519491231002X";
  mc_mask_id_number(id18);
  assert_string_equal(id18, "1101************2X");
  char id15[] = "123456789012345";
  mc_mask_id_number(id15);
  assert_string_equal(id15, "1234*********45");
  char phone[] = "13800001234";
  mc_mask_phone(phone);
  assert_string_equal(phone, "138****1234");
  char spaced[] = "+86 100 0000 0001";
  mc_mask_phone(spaced);
  assert_string_equal(spaced, "+86**********0001");
  /* too short to keep both ends: nothing shown */
  char short_phone[] = "1234567";
  mc_mask_phone(short_phone);
  assert_string_equal(short_phone, "*******");
  char short_id[] = "123456";
  mc_mask_id_number(short_id);
  assert_string_equal(short_id, "******");
  /* not ASCII (a record older than validation): starred whole, length kept */
  char wide[] = "一二三四五六七八";
  size_t n = strlen(wide);
  mc_mask_id_number(wide);
  assert_int_equal(strlen(wide), n);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(wide[i], '*');
  char empty[] = "";
  mc_mask_phone(empty);
  assert_string_equal(empty, "");
  mc_mask_phone(NULL);
}

static void test_mask_case_and_event(void **state) {
  (void)state;
  fx_case f = {0};
  fx_kind(fx_reg, &f, MV_ACTION(TAKE_IN), FX_POLICE);
  /* masking works on owned (unpacked) messages, as the router's replies are */
  mv_case *c = fx_copy(f.c);
  mc_mask_case(c);
  assert_string_equal(c->intake->parties[0]->id_number, "1101************2X");
  assert_string_equal(c->intake->parties[0]->phone, "+86**********0001");
  assert_string_equal(c->intake->parties[0]->name, "甄小明"); /* names are not masked */
  assert_string_equal(c->intake->parties[1]->id_number, ""); /* empty stays empty */
  /* the original is untouched */
  assert_string_equal(f.c->intake->parties[0]->id_number, "11010519491231002X");
  protobuf_c_message_free_unpacked(&c->base, NULL);

  mv_event *ev = f.events[0];
  mc_mask_event(ev);
  assert_string_equal(ev->action->intake->parties[0]->id_number, "1101************2X");
  assert_string_equal(ev->action->intake->parties[0]->phone, "+86**********0001");
  /* an event without an intake is left alone */
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_POLICE);
  mc_mask_event(f.events[1]);
  mc_mask_case(NULL);
  mc_mask_event(NULL);
  fx_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_visibility_matrix),
      cmocka_unit_test(test_mask_strings),
      cmocka_unit_test(test_mask_case_and_event),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
