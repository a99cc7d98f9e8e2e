/*
 * test_pbjson.c - the JSON mapper (pbjson/) both ways.
 *
 * Round trip: every message type of the contract (the list is generated at
 * build time from protoc-c's headers, so a message added later is covered
 * without touching this file; tests/proto checks the list against the
 * .proto files), filled from its descriptor with non-default values in
 * every field (each oneof member in turn; tests/support/messages_fill.c, the
 * filler tests/proto uses too, with values at the edges of JSON: beyond
 * 2^53, escapes, NUL in bytes), goes message -> JSON ->
 * message and must pack to the same bytes; the JSON printed again must be
 * the same text, and the pretty layout mediactl prints must read back too.
 * Refusals: each class of bad input (unknown field, wrong type, out of
 * range, not an integer, negative unsigned, unknown enum name or number,
 * bad hex, invalid UTF-8, NUL, duplicate key, nesting, two oneof members,
 * null where no sub-message, malformed text) is refused with
 * INVALID_ARGUMENT and a message naming the field path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "messages.h"
#include "mv1.h"
#include "pbjson/pbjson.h"

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  assert_non_null(p);
  return p;
}

static uint8_t *packed(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *bytes = xmalloc(*len);
  assert_int_equal(protobuf_c_message_pack(m, bytes), *len);
  return bytes;
}

/* text read back as d must give a message packing to want (len bytes). */
static void expect_reads_back(const ProtobufCMessageDescriptor *d, const char *text, size_t tlen,
                              const uint8_t *want, size_t len, const char *what, unsigned round) {
  ProtobufCMessage *back = NULL;
  mc_err err = {0};
  if (pj_to_message(d, text, tlen, &back, &err) != MC_OK)
    fail_msg("%s (round %u, %s) does not read back: %s\n%s", d->name, round, what, err.msg, text);
  size_t len2;
  uint8_t *bytes2 = packed(back, &len2);
  if (len2 != len || memcmp(want, bytes2, len) != 0)
    fail_msg("%s (round %u, %s): the message read back packs differently\n%s", d->name, round,
             what, text);
  free(bytes2);
  protobuf_c_message_free_unpacked(back, NULL);
}

static void test_every_message_round_trips(void **state) {
  (void)state;
  assert_true(tm_n_messages >= 60); /* the contract, not an empty list */
  size_t checked = 0;
  for (size_t i = 0; i < tm_n_messages; i++) {
    const ProtobufCMessageDescriptor *d = tm_all_messages[i];
    for (unsigned round = 0; round < tm_rounds(d) || round < 2; round++) {
      ProtobufCMessage *m = tm_new_filled(d, round);
      assert_true(protobuf_c_message_check(m));
      size_t len;
      uint8_t *bytes = packed(m, &len);

      size_t tlen = 0;
      char *text = pj_to_text(m, &tlen);
      assert_non_null(text);
      assert_int_equal(strlen(text), tlen);
      expect_reads_back(d, text, tlen, bytes, len, "compact", round);

      /* Printed again from what was read: the same text. */
      ProtobufCMessage *back = NULL;
      mc_err err = {0};
      assert_int_equal(pj_to_message(d, text, tlen, &back, &err), MC_OK);
      char *again = pj_to_text(back, NULL);
      assert_non_null(again);
      if (strcmp(text, again) != 0)
        fail_msg("%s (round %u) prints differently after a round trip:\n%s\n%s", d->name, round,
                 text, again);
      free(again);
      protobuf_c_message_free_unpacked(back, NULL);

      /* mediactl's layout (ctl_json_print): pretty, spaced, no slash escapes. */
      json_object *o = pj_from_message(m);
      assert_non_null(o);
      const char *pretty = json_object_to_json_string_ext(
          o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
      expect_reads_back(d, pretty, strlen(pretty), bytes, len, "pretty", round);
      /* And the object itself, without text. */
      assert_int_equal(pj_from_json(d, o, &back, &err), MC_OK);
      size_t len3;
      uint8_t *bytes3 = packed(back, &len3);
      assert_memory_equal(bytes3, bytes, len);
      free(bytes3);
      protobuf_c_message_free_unpacked(back, NULL);
      json_object_put(o);

      free(text);
      free(bytes);
      protobuf_c_message_free_unpacked(m, NULL); /* filled with malloc: same as unpacked */
      checked++;
    }
  }
  assert_true(checked >= tm_n_messages);
}

/* ---- what is accepted besides the printed shape ---- */

static ProtobufCMessage *read_ok(const ProtobufCMessageDescriptor *d, const char *text) {
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  if (pj_to_message(d, text, strlen(text), &m, &err) != MC_OK)
    fail_msg("refused %s: %s", text, err.msg);
  assert_non_null(m);
  return m;
}

static void test_accepted_forms(void **state) {
  (void)state;
  /* int64 as a decimal string, uint64 up to 2^64-1, enums by number,
   * names.h short names, status codes, uppercase hex, null sub-message. */
  Mediation__V1__Case *c = (Mediation__V1__Case *)read_ok(
      &mediation__v1__case__descriptor,
      " {\"created_ms\": \"-9223372036854775808\", \"updated_ms\": 9223372036854775807,"
      " \"year\": -2147483648, \"reopen_count\": 4294967295, \"state\": 3,"
      " \"last_event_hash\": \"00ABcdEF\", \"outcome\": null, \"units_involved\": [],"
      " \"intake\": {\"kind\": \"elder_support\", \"money_fen\": \"0\", \"workers\": 0}}\n");
  assert_int_equal(c->created_ms, INT64_MIN);
  assert_int_equal(c->updated_ms, INT64_MAX);
  assert_int_equal(c->year, INT32_MIN);
  assert_int_equal(c->reopen_count, UINT32_MAX);
  assert_int_equal(c->state, 3);
  assert_int_equal(c->last_event_hash.len, 4);
  assert_memory_equal(c->last_event_hash.data, "\x00\xab\xcd\xef", 4);
  assert_null(c->outcome);
  assert_non_null(c->intake);
  assert_int_equal(c->intake->kind, MV_KIND(ELDER_SUPPORT));
  protobuf_c_message_free_unpacked(&c->base, NULL);

  Mediation__V1__Delivery *dl = (Mediation__V1__Delivery *)read_ok(
      &mediation__v1__delivery__descriptor, "{\"seq\": \"18446744073709551615\"}");
  assert_true(dl->seq == UINT64_MAX);
  protobuf_c_message_free_unpacked(&dl->base, NULL);
  dl = (Mediation__V1__Delivery *)read_ok(&mediation__v1__delivery__descriptor,
                                          "{\"seq\": 18446744073709551615}");
  assert_true(dl->seq == UINT64_MAX);
  protobuf_c_message_free_unpacked(&dl->base, NULL);

  Mediation__V1__DeskStep *st = (Mediation__V1__DeskStep *)read_ok(
      &mediation__v1__desk_step__descriptor,
      "{\"code\": \"FAILED_PRECONDITION\", \"disposition\": \"queued\"}");
  assert_int_equal(st->code, MC_FAILED_PRECONDITION);
  protobuf_c_message_free_unpacked(&st->base, NULL);

  /* A oneof member; the text need not end in NUL (len counts). */
  const char *text = "{\"action\": {\"kind\": \"transfer\", \"to_unit\": \"marriage-studio\"}}XYZ";
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  assert_int_equal(pj_to_message(&mediation__v1__desk_act_request__descriptor, text,
                                 strlen(text) - 3, &m, &err),
                   MC_OK);
  Mediation__V1__DeskActRequest *act = (Mediation__V1__DeskActRequest *)m;
  assert_int_equal(act->action->args_case, MEDIATION__V1__CASE_ACTION__ARGS_TO_UNIT);
  assert_string_equal(act->action->to_unit, "marriage-studio");
  protobuf_c_message_free_unpacked(m, NULL);

  /* An empty string member of a oneof is still the member that is set. */
  act = (Mediation__V1__DeskActRequest *)read_ok(&mediation__v1__desk_act_request__descriptor,
                                                 "{\"action\": {\"to_unit\": \"\"}}");
  assert_int_equal(act->action->args_case, MEDIATION__V1__CASE_ACTION__ARGS_TO_UNIT);
  protobuf_c_message_free_unpacked(&act->base, NULL);

  /* Nesting of exactly 32 is read (the refusal is then about the type). */
  char deep[128];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof(deep), "{\"person\":");
  for (int i = 0; i < 31; i++)
    deep[n++] = '[';
  for (int i = 0; i < 31; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  assert_int_equal(pj_to_message(&mediation__v1__desk_take_in_request__descriptor, deep, n, &m,
                                 &err),
                   MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "person: expected a string, not an array"));
}

/* ---- refusals ---- */

typedef struct refusal {
  const ProtobufCMessageDescriptor *desc;
  const char *text;
  const char *want; /* a substring of the error message */
} refusal;

#define TAKE_IN (&mediation__v1__desk_take_in_request__descriptor)
#define ACT (&mediation__v1__desk_act_request__descriptor)
#define CASE (&mediation__v1__case__descriptor)

static const refusal refusals[] = {
    /* unknown field, at the top and nested */
    {TAKE_IN, "{\"persona\": \"x\"}", "persona: unknown field of DeskTakeInRequest"},
    {ACT, "{\"action\": {\"kind\": \"accept\", \"kase\": 1}}", "action.kase: unknown field"},
    /* wrong JSON types */
    {TAKE_IN, "{\"intake\": {\"parties\": [{\"name\": \"a\"}, {\"phone\": 5}]}}",
     "intake.parties[1].phone: expected a string, not a number"},
    {TAKE_IN, "{\"intake\": {\"needs_lawyer\": 1}}", "intake.needs_lawyer: expected true or false"},
    {TAKE_IN, "{\"intake\": {\"parties\": {\"name\": \"a\"}}}", "intake.parties: expected an array"},
    {TAKE_IN, "{\"intake\": [1]}", "intake: expected an object (Intake), not an array"},
    {TAKE_IN, "{\"person\": null}", "person: expected a string, not null"},
    {TAKE_IN, "{\"intake\": {\"parties\": [null]}}", "intake.parties[0]: null in a repeated field"},
    {TAKE_IN, "{\"intake\": {\"parties\": null}}", "intake.parties: expected an array, not null"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": true}}", "intake.money_fen: expected an integer"},
    /* out of range */
    {CASE, "{\"year\": 2147483648}", "year: integer out of range"},
    {CASE, "{\"year\": -2147483649}", "year: integer out of range"},
    {TAKE_IN, "{\"intake\": {\"workers\": 4294967296}}", "intake.workers: integer out of range"},
    {TAKE_IN, "{\"intake\": {\"workers\": -1}}", "intake.workers: negative value for an unsigned"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": 99999999999999999999}}",
     "intake.money_fen: integer out of the 64-bit range"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": -9223372036854775809}}",
     "intake.money_fen: integer out of the 64-bit range"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": \"9223372036854775808\"}}",
     "intake.money_fen: integer out of range"},
    {&mediation__v1__delivery__descriptor, "{\"seq\": \"18446744073709551616\"}",
     "seq: integer out of range"},
    {&mediation__v1__delivery__descriptor, "{\"seq\": \"-1\"}", "seq: negative value"},
    /* not integers */
    {TAKE_IN, "{\"intake\": {\"money_fen\": 1.5}}", "intake.money_fen: expected an integer, not a fraction"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": 1e3}}", "intake.money_fen: expected an integer, not a fraction"},
    {TAKE_IN, "{\"intake\": {\"workers\": \"12\"}}", "intake.workers: expected an integer, not a string"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": \"12x\"}}", "intake.money_fen: expected a decimal integer"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": \" 12\"}}", "intake.money_fen: expected a decimal integer"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": \"\"}}", "intake.money_fen: expected a decimal integer"},
    /* enums */
    {TAKE_IN, "{\"intake\": {\"kind\": \"divorse\"}}", "intake.kind: unknown name for enum DisputeKind"},
    {TAKE_IN, "{\"intake\": {\"kind\": \"赡养\"}}", "intake.kind: unknown name for enum DisputeKind"},
    {TAKE_IN, "{\"intake\": {\"kind\": \"DISPUTE_KIND_DIVORCE\"}}", "intake.kind: unknown name"},
    {TAKE_IN, "{\"intake\": {\"kind\": 999}}", "intake.kind: 999 is no value of enum DisputeKind"},
    {TAKE_IN, "{\"intake\": {\"kind\": 4294967297}}", "intake.kind: integer out of range"},
    {TAKE_IN, "{\"intake\": {\"kind\": true}}", "intake.kind: expected a name of enum DisputeKind"},
    {&mediation__v1__desk_step__descriptor, "{\"code\": \"failed_precondition\"}",
     "code: unknown name for enum StatusCode"},
    /* bytes */
    {CASE, "{\"last_event_hash\": \"abc\"}", "last_event_hash: odd number of hex digits"},
    {CASE, "{\"last_event_hash\": \"zz\"}", "last_event_hash: not a hex digit at position 0"},
    {CASE, "{\"last_event_hash\": 12}", "last_event_hash: expected hex digits in a string"},
    /* strings: invalid UTF-8, NUL, lone surrogates, raw control characters */
    {TAKE_IN, "{\"intake\": {\"summary\": \"ab\xff\"}}", "intake.summary: invalid UTF-8"},
    {TAKE_IN, "{\"intake\": {\"summary\": \"\xc0\xaf\"}}", "intake.summary: invalid UTF-8"},
    {TAKE_IN, "{\"intake\": {\"summary\": \"\xed\xa0\x80\"}}", "intake.summary: invalid UTF-8"},
    {TAKE_IN, "{\"intake\": {\"summary\": \"\xe4\xb8\"}}", "intake.summary: invalid UTF-8"},
    {TAKE_IN, "{\"person\": \"a\\u0000b\"}", "person: NUL character in a string"},
    {TAKE_IN, "{\"person\": \"\\ud800\"}", "person: malformed JSON at byte 18: lone UTF-16 surrogate"},
    {TAKE_IN, "{\"person\": \"\\udc00\\ud800\"}", "person: malformed JSON"},
    {TAKE_IN, "{\"person\": \"a\tb\"}", "person: malformed JSON at byte 13: control character"},
    {TAKE_IN, "{\"pers\\u0000on\": 1}", "NUL character in a key"},
    /* duplicate keys, also spelled differently */
    {TAKE_IN, "{\"person\": \"a\", \"person\": \"b\"}", "person: duplicate key"},
    {TAKE_IN, "{\"person\": \"a\", \"pers\\u006fn\": \"b\"}", "person: duplicate key"},
    {TAKE_IN, "{\"intake\": {\"parties\": [{\"name\": \"a\", \"name\": \"b\"}]}}",
     "intake.parties[0].name: duplicate key"},
    /* a oneof with two members */
    {ACT, "{\"action\": {\"to_unit\": \"x\", \"session\": {}}}", "only one member of a oneof"},
    /* malformed text */
    {TAKE_IN, "", "empty JSON text"},
    {TAKE_IN, "   ", "malformed JSON at byte 3: unexpected end"},
    {TAKE_IN, "[]", "expected a JSON object (DeskTakeInRequest)"},
    {TAKE_IN, "\"x\"", "expected a JSON object"},
    {TAKE_IN, "null", "expected a JSON object"},
    {TAKE_IN, "{\"person\": \"a\"} {}", "text after the JSON value"},
    {TAKE_IN, "{'person': 'a'}", "expected a key in double quotes"},
    {TAKE_IN, "{\"person\": 'a'}", "person: malformed JSON at byte 11: unexpected character"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": NaN}}", "intake.money_fen: malformed JSON"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": 012}}", "malformed JSON"},
    {TAKE_IN, "{\"intake\": {\"money_fen\": -}}", "intake.money_fen: malformed JSON at byte 25: bad number"},
    {TAKE_IN, "{\"person\": \"a\",}", "expected a key in double quotes"},
    {TAKE_IN, "{\"person\": \"a\" /* c */}", "expected ',' or '}'"},
    {TAKE_IN, "{\"person\": \"a\"", "expected ',' or '}'"},
    {TAKE_IN, "{\"person\": \"a", "unterminated string"},
    {TAKE_IN, "{\"person\": tru}", "person: malformed JSON"},
    {TAKE_IN, "{\"intake\": {\"parties\": [1,]}}", "intake.parties[1]: malformed JSON"},
    {TAKE_IN, "{\"person\": \"\\x\"}", "bad escape"},
    {TAKE_IN, "{\"person\": \"\\u12g4\"}", "bad \\u escape"},
};

static void test_refusals(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
    const refusal *r = &refusals[i];
    ProtobufCMessage *m = (ProtobufCMessage *)(uintptr_t)1;
    mc_err err = {0};
    mc_code rc = pj_to_message(r->desc, r->text, strlen(r->text), &m, &err);
    if (rc != MC_INVALID_ARGUMENT)
      fail_msg("#%zu %s: code %d, not INVALID_ARGUMENT (%s)", i, r->text, rc, err.msg);
    if (m != NULL)
      fail_msg("#%zu %s: *out not NULL on a refusal", i, r->text);
    if (strstr(err.msg, r->want) == NULL)
      fail_msg("#%zu %s: message \"%s\" lacks \"%s\"", i, r->text, err.msg, r->want);
  }
}

/* Nesting deeper than PJ_MAX_DEPTH, in arrays and in objects, by the text
 * and by an object built without text (pj_from_json walks it). */
static void test_nesting_refused(void **state) {
  (void)state;
  char text[256];
  size_t n = (size_t)snprintf(text, sizeof(text), "{\"person\":");
  for (int i = 0; i < PJ_MAX_DEPTH; i++)
    text[n++] = '[';
  for (int i = 0; i < PJ_MAX_DEPTH; i++)
    text[n++] = ']';
  text[n++] = '}';
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  assert_int_equal(pj_to_message(TAKE_IN, text, n, &m, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "nesting deeper than 32"));
  assert_non_null(strstr(err.msg, "person[0][0]"));

  /* A deep text of 100000 brackets: refused at 33, no deep recursion. */
  size_t big = 100000;
  char *huge = malloc(big);
  assert_non_null(huge);
  memset(huge, '[', big);
  assert_int_equal(pj_to_message(TAKE_IN, huge, big, &m, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "nesting deeper than 32"));
  free(huge);
}

/* pj_from_json checks what json-c lets through when an object is built
 * by hand: bad UTF-8 and NUL in strings, wrong types. */
static void test_from_json_checks_objects(void **state) {
  (void)state;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "person", json_object_new_string_len("a\xc3\x28", 3));
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  assert_int_equal(pj_from_json(TAKE_IN, o, &m, &err), MC_INVALID_ARGUMENT);
  assert_null(m);
  assert_string_equal(err.msg, "person: invalid UTF-8 in a string");
  json_object_object_add(o, "person", json_object_new_string_len("a\0b", 3));
  assert_int_equal(pj_from_json(TAKE_IN, o, &m, &err), MC_INVALID_ARGUMENT);
  assert_string_equal(err.msg, "person: NUL character in a string");
  json_object_put(o);
  o = json_object_new_array();
  assert_int_equal(pj_from_json(TAKE_IN, o, &m, &err), MC_INVALID_ARGUMENT);
  assert_null(m);
  json_object_put(o);
}

/* A refusal deep inside a half-built message frees what was built (the
 * leak check of the asan preset holds this to it). */
static void test_refusal_after_partial_build(void **state) {
  (void)state;
  const char *text =
      "{\"intake\": {\"summary\": \"s\", \"parties\": [{\"name\": \"a\", \"phone\": \"1\"},"
      " {\"name\": \"b\", \"role\": \"nobody\"}]}, \"person\": \"p\", \"refer_to\": \"r\"}";
  ProtobufCMessage *m = NULL;
  mc_err err = {0};
  assert_int_equal(pj_to_message(TAKE_IN, text, strlen(text), &m, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "intake.parties[1].role: unknown name for enum PartyRole"));
  const char *act = "{\"action\": {\"kind\": \"record_session\", \"session\": {\"note\": \"n\","
                    " \"held_ms\": 1.5}}}";
  assert_int_equal(pj_to_message(ACT, act, strlen(act), &m, &err), MC_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "action.session.held_ms: expected an integer, not a fraction"));
}

/* The short names the print side writes (the mediactl tests hold the rest). */
static void test_enum_names(void **state) {
  (void)state;
  char buf[64];
  assert_string_equal(pj_enum_name(&mediation__v1__dispute_kind__descriptor,
                                   MV_KIND(ELDER_SUPPORT), buf, sizeof(buf)),
                      "elder_support");
  assert_string_equal(pj_enum_name(&mediation__v1__desk_disposition__descriptor, 2, buf,
                                   sizeof(buf)),
                      "queued");
  assert_string_equal(pj_enum_name(&mediation__v1__status_code__descriptor, 9, buf, sizeof(buf)),
                      "FAILED_PRECONDITION");
  assert_string_equal(pj_enum_name(&mediation__v1__case_state__descriptor, 0, buf, sizeof(buf)),
                      "unspecified");
  assert_string_equal(pj_enum_name(&mediation__v1__case_state__descriptor, 77, buf, sizeof(buf)),
                      "77");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_message_round_trips),
      cmocka_unit_test(test_accepted_forms),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_nesting_refused),
      cmocka_unit_test(test_from_json_checks_objects),
      cmocka_unit_test(test_refusal_after_partial_build),
      cmocka_unit_test(test_enum_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
