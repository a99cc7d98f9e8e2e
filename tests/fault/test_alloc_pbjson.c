/*
 * test_alloc_pbjson.c - the JSON mapper when memory runs out: reading a
 * request body (the text scan's key lists and decoded keys, the message,
 * its strings, bytes, arrays and sub-messages) and printing a message, each
 * with its 1st, 2nd, ... allocation failing (fault.h; json-c's own
 * allocations are not wrapped). Reading must then refuse with
 * RESOURCE_EXHAUSTED and a message, never with INVALID_ARGUMENT (the
 * gateway would tell the browser its body was wrong), and leave no message
 * and nothing allocated (the asan preset's leak check and valgrind hold the
 * half-built message to being freed); printing must return NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault.h"
#include "mv1.h"
#include "pbjson/pbjson.h"

/* More than 16 keys in one object (the scan's key list grows), an escaped
 * key (decoded into its own buffer), repeated sub-messages, bytes, a oneof. */
static const char case_text[] =
    "{\"id\": \"BH-2026-000042\", \"year\": 2026, \"state\": \"mediation\","
    " \"holder\": \"marriage-studio\", \"units_involved\":"
    " [\"police-studio\", \"marriage-studio\"], \"team\": [{\"unit\": \"marriage-studio\","
    " \"person\": \"\\u5468\", \"role\": \"mediator\", \"assigned_ms\": \"1772676000000\"},"
    " {\"unit\": \"m\", \"person\": \"p\"}], \"sessions\": [{\"held_ms\": 1, \"note\": \"n\"}],"
    " \"intake\": {\"kind\": \"labour\", \"parties\": [{\"name\": \"a\", \"phone\": \"1\"},"
    " {\"name\": \"b\"}], \"summary\": \"s\", \"workers\": 3}, \"legal_aid\": true,"
    " \"created_ms\": 1, \"updated_ms\": 2, \"state_entered_ms\": 3, \"deadline_ms\": 4,"
    " \"mediated_ms\": 5, \"reopen_count\": 1, \"event_count\": 9,"
    " \"last_event_hash\": \"00ff10\", \"outcome\": null, \"tr\\u0061nsfer\": null}";

static const char act_text[] =
    "{\"action\": {\"kind\": \"record_session\", \"case_ref\": \"BH-2026-000042\","
    " \"session\": {\"held_ms\": 1772676000000, \"note\": \"第一次\"}}}";

typedef struct pj_arg {
  const ProtobufCMessageDescriptor *desc;
  const char *text;
  ProtobufCMessage *m;
  char *printed;
} pj_arg;

static mc_code read_op(void *arg, mc_err *err) {
  pj_arg *a = arg;
  a->m = (ProtobufCMessage *)(uintptr_t)1; /* must be NULL after a refusal */
  return pj_to_message(a->desc, a->text, strlen(a->text), &a->m, err);
}

static void read_unchanged(void *arg) {
  pj_arg *a = arg;
  assert_null(a->m);
}

static void read_done(void *arg) {
  pj_arg *a = arg;
  assert_non_null(a->m);
  if (a->desc == &mediation__v1__case__descriptor) {
    Mediation__V1__Case *c = (Mediation__V1__Case *)a->m;
    assert_int_equal(c->n_team, 2);
    assert_string_equal(c->team[0]->person, "周");
    assert_int_equal(c->intake->n_parties, 2);
    assert_int_equal(c->last_event_hash.len, 3);
  } else {
    Mediation__V1__DeskActRequest *r = (Mediation__V1__DeskActRequest *)a->m;
    assert_int_equal(r->action->args_case, MEDIATION__V1__CASE_ACTION__ARGS_SESSION);
    assert_string_equal(r->action->session->note, "第一次");
  }
  protobuf_c_message_free_unpacked(a->m, NULL);
  a->m = NULL;
}

static void test_read(void **state) {
  (void)state;
  pj_arg a = {.desc = &mediation__v1__case__descriptor, .text = case_text};
  fault_op o = {.what = "a Case read from JSON", .op = read_op, .unchanged = read_unchanged,
                .done = read_done, .allowed = {MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, &a, false) > 10);
  assert_true(fault_sweep(&o, &a, true) > 10);
  a = (pj_arg){.desc = &mediation__v1__desk_act_request__descriptor, .text = act_text};
  o.what = "a DeskActRequest read from JSON";
  assert_true(fault_sweep(&o, &a, false) > 2);
  assert_true(fault_sweep(&o, &a, true) > 2);
}

static mc_code print_op(void *arg, mc_err *err) {
  pj_arg *a = arg;
  size_t len = 0;
  a->printed = pj_to_text(a->m, &len);
  if (a->printed == NULL)
    return mc_err_set(err, MC_RESOURCE_EXHAUSTED, "pj_to_text: out of memory");
  assert_int_equal(strlen(a->printed), len);
  return MC_OK;
}

/* Printed whole or not at all: a sub-message that could not be printed
 * must not come out as null (absent). */
static void print_done(void *arg) {
  pj_arg *a = arg;
  ProtobufCMessage *back = NULL;
  mc_err err = {0};
  assert_int_equal(pj_to_message(a->desc, a->printed, strlen(a->printed), &back, &err), MC_OK);
  size_t n1 = protobuf_c_message_get_packed_size(a->m), n2 = protobuf_c_message_get_packed_size(back);
  uint8_t *b1 = malloc(n1), *b2 = malloc(n2);
  assert_non_null(b1);
  assert_non_null(b2);
  protobuf_c_message_pack(a->m, b1);
  protobuf_c_message_pack(back, b2);
  assert_int_equal(n1, n2);
  assert_memory_equal(b1, b2, n1);
  free(b1);
  free(b2);
  protobuf_c_message_free_unpacked(back, NULL);
  free(a->printed);
  a->printed = NULL;
}

static void test_print(void **state) {
  (void)state;
  /* Bytes inside sub-messages: their hex is the allocation that fails. */
  static const char text[] = "{\"seq\": 7, \"event\": {\"case_id\": \"BH-2026-000001\","
                             " \"request_id\": \"0011\", \"prev_hash\": \"ff\"},"
                             " \"snapshot\": {\"id\": \"BH-2026-000001\", \"last_event_hash\": \"00\"}}";
  pj_arg a = {.desc = &mediation__v1__delivery__descriptor};
  mc_err err = {0};
  assert_int_equal(pj_to_message(a.desc, text, strlen(text), &a.m, &err), MC_OK);
  fault_op o = {.what = "a Delivery printed as JSON", .op = print_op, .done = print_done,
                .allowed = {MC_RESOURCE_EXHAUSTED}};
  assert_true(fault_sweep(&o, &a, false) > 0);
  assert_true(fault_sweep(&o, &a, true) > 0);
  protobuf_c_message_free_unpacked(a.m, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read),
      cmocka_unit_test(test_print),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
