/*
 * test_mediactl_text.c - mediactl's pure parts, without processes: display
 * widths of Chinese text and aligned tables, money and time parsing and
 * printing (the report's sentences are documents/'s: tests/documents/
 * test_report_text.c), the JSON conventions, the exit code of every status, and the
 * command table's completeness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/actions.h"
#include "pbjson/pbjson.h"
#include "services/coordinator/ctl.h"

static void test_display_width(void **state) {
  (void)state;
  assert_int_equal(ctl_text_width(""), 0);
  assert_int_equal(ctl_text_width("abc"), 3);
  assert_int_equal(ctl_text_width("受理"), 4);
  assert_int_equal(ctl_text_width("宋大姐调解工作室"), 16);
  assert_int_equal(ctl_text_width("100%（1/1）"), 4 + 2 + 3 + 2);
  assert_int_equal(ctl_text_width("涉及金额(万元)"), 4 * 2 + 1 + 2 * 2 + 1);
  assert_int_equal(ctl_text_width("—"), 1);      /* East Asian ambiguous: narrow */
  assert_int_equal(ctl_text_width("e\xcc\x81"), 1); /* e + combining acute */
  assert_int_equal(ctl_text_width("\xff"), 1);      /* invalid byte: one column */
  assert_int_equal(ctl_text_width("\xe5\x8f"), 2);  /* truncated sequence: two bytes, one each */
  assert_int_equal(ctl_text_width("\xf0\xa0\x80\x80"), 2); /* U+20000, CJK extension B */
}

static char *print_table(ctl_table *t) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(ctl_table_print(t, f), 0);
  fclose(f);
  return buf;
}

static void test_table_pads_by_display_width(void **state) {
  (void)state;
  static const char *const headers[] = {"社区", "案件数量", "说明"};
  ctl_table *t = ctl_table_new(3, headers, "lrl");
  assert_non_null(t);
  const char *r1[] = {"王隘社区", "12", "a"};
  const char *r2[] = {"ab", "3", "第一行\n第二行"};
  assert_int_equal(ctl_table_add(t, r1), 0);
  assert_int_equal(ctl_table_add(t, r2), 0);
  char *out = print_table(t);
  assert_string_equal(out, "社区      案件数量  说明\n"
                           "王隘社区        12  a\n"
                           "ab               3  第一行 第二行\n");
  free(out);
  ctl_table_free(t);
}

static void test_money(void **state) {
  (void)state;
  char b[CTL_FMT_MAX];
  ctl_fmt_yuan(0, b);
  assert_string_equal(b, "0.00");
  ctl_fmt_yuan(123456, b);
  assert_string_equal(b, "1234.56");
  ctl_fmt_yuan(5, b);
  assert_string_equal(b, "0.05");
  ctl_fmt_yuan(-150, b);
  assert_string_equal(b, "-1.50");
  ctl_fmt_wan(403640000, b);
  assert_string_equal(b, "403.64");
  ctl_fmt_wan(12345678, b); /* 12.345678 万元 */
  assert_string_equal(b, "12.35");
  ctl_fmt_wan(4999, b);
  assert_string_equal(b, "0.00");
  ctl_fmt_wan(5000, b); /* half up */
  assert_string_equal(b, "0.01");
  ctl_fmt_wan(INT64_MAX, b);
  assert_true(strlen(b) > 10);

  int64_t fen = -1;
  const int64_t max = 100000000000LL;
  assert_int_equal(ctl_parse_yuan("86000", max, &fen), 0);
  assert_int_equal(fen, 8600000);
  assert_int_equal(ctl_parse_yuan("1.5", max, &fen), 0);
  assert_int_equal(fen, 150);
  assert_int_equal(ctl_parse_yuan("1.50", max, &fen), 0);
  assert_int_equal(fen, 150);
  assert_int_equal(ctl_parse_yuan("0.05", max, &fen), 0);
  assert_int_equal(fen, 5);
  assert_int_equal(ctl_parse_yuan("0", max, &fen), 0);
  assert_int_equal(fen, 0);
  static const char *const bad[] = {"", "1.", ".5", "1.555", "-1", "+1", "1e3", "12a", " 1",
                                    "1000000001", "99999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    fen = 42;
    if (ctl_parse_yuan(bad[i], max, &fen) == 0)
      fail_msg("\"%s\" parsed as %lld fen", bad[i], (long long)fen);
    assert_int_equal(fen, 42); /* untouched on failure */
  }
}

static void test_percent_and_duration(void **state) {
  (void)state;
  char b[CTL_FMT_MAX];
  ctl_fmt_percent(1, 3, b);
  assert_string_equal(b, "33.3%");
  ctl_fmt_percent(2, 3, b);
  assert_string_equal(b, "66.7%");
  ctl_fmt_percent(4, 4, b);
  assert_string_equal(b, "100%");
  ctl_fmt_percent(0, 5, b);
  assert_string_equal(b, "0%");
  ctl_fmt_percent(1, 8, b);
  assert_string_equal(b, "12.5%");
  ctl_fmt_percent(1, 0, b);
  assert_string_equal(b, "—");
  ctl_fmt_duration(3 * 86400000LL + 4 * 3600000LL + 59000, b);
  assert_string_equal(b, "3天4小时");
  ctl_fmt_duration(25 * 60000, b);
  assert_string_equal(b, "25分钟");
  ctl_fmt_duration(2 * 3600000 + 60000, b);
  assert_string_equal(b, "2小时1分钟");
  ctl_fmt_duration(4000, b);
  assert_string_equal(b, "4秒");
}

static void test_times_at_the_subdistricts_offset(void **state) {
  (void)state;
  ctl_ctx ctx;
  memset(&ctx, 0, sizeof(ctx)); /* no registry: +08:00 */
  int64_t ms;
  assert_int_equal(ctl_parse_time(&ctx, "2026-03-05 10:00", &ms), 0);
  mc_date d = {2026, 3, 5};
  assert_int_equal(ms, mc_date_to_ms(d, 480) + 10 * 3600000LL);
  assert_int_equal(ms, 1772676000000LL); /* 2026-03-05T02:00:00Z */
  char b[CTL_FMT_MAX];
  ctl_fmt_time(&ctx, ms, b);
  assert_string_equal(b, "2026-03-05 10:00");
  assert_int_equal(ctl_parse_time(&ctx, "2026-03-05T10:00:30", &ms), 0);
  assert_int_equal(ms, 1772676030000LL);
  assert_int_equal(ctl_parse_time(&ctx, "2026-03-05", &ms), 0);
  assert_int_equal(ms, 1772640000000LL);
  assert_int_equal(ctl_parse_time(&ctx, "2024-02-29", &ms), 0);
  int64_t before = mc_now_ms();
  assert_int_equal(ctl_parse_time(&ctx, "now", &ms), 0);
  assert_true(ms >= before && ms - before < 5000);
  static const char *const bad[] = {"2026-02-29", "2026-13-01", "2026-03-05 25:00",
                                    "2026-03-05 10:60", "2026-3-5", "2026-03-05 10",
                                    "2026-03-05x10:00", "yesterday", "", "2026-03-05 10:00 "};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (ctl_parse_time(&ctx, bad[i], &ms) == 0)
      fail_msg("\"%s\" parsed", bad[i]);
  }
  ctl_fmt_time(&ctx, 0, b);
  assert_string_equal(b, "—");
  mc_date out;
  assert_int_equal(ctl_parse_date(&ctx, "2026-12-31", &out), 0);
  assert_int_equal(out.day, 31);
  assert_int_not_equal(ctl_parse_date(&ctx, "2026-04-31", &out), 0);
}

static void test_json_conventions(void **state) {
  (void)state;
  mv_action a = MEDIATION__V1__CASE_ACTION__INIT;
  a.kind = MV_ACTION(TRANSFER);
  a.case_ref = "BH-2026-000001";
  a.reason = "转\"婚调\"\n溯源";
  a.args_case = MV_ARGS(TO_UNIT);
  a.to_unit = "marriage-studio";
  uint8_t hash[3] = {0x00, 0xab, 0xff};
  mv_event ev = MEDIATION__V1__CASE_EVENT__INIT;
  ev.case_id = "BH-2026-000001";
  ev.seq = 2;
  ev.at_ms = 1772676000000LL;
  ev.action = &a;
  ev.from_state = MV_STATE(INTAKE);
  ev.to_state = MV_STATE(TRANSFER);
  ev.prev_hash.data = hash;
  ev.prev_hash.len = 3;
  json_object *o = pj_from_message(&ev.base);
  assert_non_null(o);
  json_object *v;
  assert_true(json_object_object_get_ex(o, "from_state", &v));
  assert_string_equal(json_object_get_string(v), "intake");
  assert_true(json_object_object_get_ex(o, "prev_hash", &v));
  assert_string_equal(json_object_get_string(v), "00abff");
  assert_true(json_object_object_get_ex(o, "at_ms", &v));
  assert_int_equal(json_object_get_int64(v), 1772676000000LL);
  assert_true(json_object_object_get_ex(o, "actor", &v));
  assert_null(v); /* absent sub-message: null, but present */
  assert_true(json_object_object_get_ex(o, "action", &v));
  json_object *action = v;
  assert_true(json_object_object_get_ex(action, "kind", &v));
  assert_string_equal(json_object_get_string(v), "transfer");
  assert_true(json_object_object_get_ex(action, "to_unit", &v));
  assert_false(json_object_object_get_ex(action, "intake", &v)); /* oneof: only the set member */
  assert_true(json_object_object_get_ex(action, "reason", &v));
  assert_string_equal(json_object_get_string(v), "转\"婚调\"\n溯源");
  /* Escaped by json-c, UTF-8 left as is. */
  const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_NOSLASHESCAPE);
  assert_non_null(strstr(text, "\"reason\":\"转\\\"婚调\\\"\\n溯源\""));
  json_object_put(o);

  char buf[64];
  assert_string_equal(pj_enum_name(&mediation__v1__desk_disposition__descriptor,
                                         MV_DISPOSITION(QUEUED), buf, sizeof(buf)),
                      "queued");
  assert_string_equal(pj_enum_name(&mediation__v1__status_code__descriptor,
                                         MV_STATUS(FAILED_PRECONDITION), buf, sizeof(buf)),
                      "FAILED_PRECONDITION");
  assert_string_equal(pj_enum_name(&mediation__v1__figure_grouping__descriptor,
                                         MV_GROUPING(COMMUNITY), buf, sizeof(buf)),
                      "community");
  assert_string_equal(pj_enum_name(&mediation__v1__case_state__descriptor, 0, buf,
                                         sizeof(buf)),
                      "unspecified");
  assert_string_equal(pj_enum_name(&mediation__v1__petition_role__descriptor, 0, buf,
                                         sizeof(buf)),
                      "none");
  /* Every value of every enum with a names.h table prints as its short name. */
  for (const mc_name *n = mc_kind_names; n->name; n++)
    assert_string_equal(pj_enum_name(&mediation__v1__dispute_kind__descriptor, n->value,
                                           buf, sizeof(buf)),
                        n->name);
}

static void test_exit_codes(void **state) {
  (void)state;
  assert_int_equal(ctl_exit_for(MC_OK), 0);
  assert_int_equal(ctl_exit_for(MC_FAILED_PRECONDITION), 3);
  assert_int_equal(ctl_exit_for(MC_INVALID_ARGUMENT), 3);
  assert_int_equal(ctl_exit_for(MC_NOT_FOUND), 3);
  assert_int_equal(ctl_exit_for(MC_RESOURCE_EXHAUSTED), 3);
  assert_int_equal(ctl_exit_for(MC_UNAVAILABLE), 4);
  assert_int_equal(ctl_exit_for(MC_DEADLINE_EXCEEDED), 4);
  assert_int_equal(ctl_exit_for(MC_UNAUTHENTICATED), 5);
  assert_int_equal(ctl_exit_for(MC_PERMISSION_DENIED), 5);
  assert_int_equal(ctl_exit_for(MC_INTERNAL), 1);
  assert_int_equal(ctl_exit_for(MC_DATA_LOSS), 1);
  assert_int_equal(ctl_exit_for(MC_CANCELLED), 1);
}

/* Every command is dispatchable and documented; every option a step command
 * takes is in its usage. */
static void test_command_table(void **state) {
  (void)state;
  static const struct {
    unsigned bit;
    const char *opt;
  } opts[] = {{CTL_SO_REASON, "--reason"},     {CTL_SO_PERSON, "--person"},
              {CTL_SO_TO, "--to"},             {CTL_SO_ROLE, "--role"},
              {CTL_SO_NOTE, "--note"},         {CTL_SO_AT, "--at"},
              {CTL_SO_AGREEMENT, "--agreement"}, {CTL_SO_AMOUNT, "--amount-yuan"},
              {CTL_SO_RESOLUTION, "--resolution"}, {CTL_SO_SUMMARY, "--summary"},
              {CTL_SO_FOLLOWUP, "--followup-due"}, {CTL_SO_RESULT, "--result"},
              {CTL_SO_SATISFACTION, "--satisfaction"}, {CTL_SO_VISITED, "--visited"}};
  size_t n = 0;
  for (const ctl_command *c = ctl_commands; c->name != NULL; c++, n++) {
    assert_non_null(c->ops);
    /* the runner needs a request builder, or the command runs itself */
    assert_true((c->ops->build != NULL) != (c->ops->run != NULL));
    assert_non_null(c->summary);
    assert_true(strncmp(c->usage, "Usage: mediactl ", 16) == 0);
    assert_non_null(strstr(c->usage, c->name));
    assert_ptr_equal(ctl_command_find(c->name), c);
    assert_true(c->group >= CTL_FOR_OPERATORS && c->group <= CTL_FOR_EVERYONE);
    if (c->ops == &ctl_step_ops) {
      assert_int_not_equal(c->action, 0);
      assert_int_equal(c->step_required & ~c->step_opts, 0);
      /* --reason is needed where the action needs a reason (ctl_step_ops) */
      const mc_action_def *def = mc_action_def_of(c->action);
      assert_non_null(def);
      assert_int_equal(c->step_required & CTL_SO_REASON, 0);
      if (def->reason_required && !(c->step_opts & CTL_SO_REASON))
        fail_msg("%s needs a reason but takes no --reason", c->name);
      for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if ((c->step_opts & opts[i].bit) && strstr(c->usage, opts[i].opt) == NULL)
          fail_msg("%s takes %s but its usage does not say so", c->name, opts[i].opt);
      }
    }
  }
  assert_true(n >= 30);
  assert_null(ctl_command_find("nonesuch"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_display_width),
      cmocka_unit_test(test_table_pads_by_display_width),
      cmocka_unit_test(test_money),
      cmocka_unit_test(test_percent_and_duration),
      cmocka_unit_test(test_times_at_the_subdistricts_offset),
      cmocka_unit_test(test_json_conventions),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_command_table),
  };
  return cmocka_run_group_tests_name("mediactl text", tests, NULL, NULL);
}
