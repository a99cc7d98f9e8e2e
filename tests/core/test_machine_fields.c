/*
 * test_machine_fields.c - what the state machine refuses in the fields of a
 * step, the guards, the size limits of a case file, and the order in which
 * those questions are asked.
 *
 * Every refusal must name the field and never show personal data: each
 * check below also greps the message for the fixture's party names, ID
 * number, phone and summary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/names.h"
#include "fixture.h"

static const char *const personal[] = {
    "甄小明", "贾小红", "11010519491231002X", "+86 100 0000 0001", "夫妻争吵", "金丝雀",
};

/* Applies a to f as who and expects code with needle in the message; on a
 * refusal the case must not have moved. */
static void expect(const mc_registry *r, fx_case *f, const mv_action *a, const mv_actor *who,
                   mc_code code, const char *needle, int line) {
  mc_err err = {0};
  uint32_t events = f->c ? f->c->event_count : 0;
  mc_code rc = fx_try(r, f, a, who, &err);
  if (rc != code)
    fail_msg("line %d: expected %s, got %s (%s)", line, mc_code_name(code), mc_code_name(rc),
             err.msg);
  if (rc != MC_OK) {
    assert_int_equal(f->c ? f->c->event_count : 0, events);
    if (needle != NULL && strstr(err.msg, needle) == NULL)
      fail_msg("line %d: expected \"%s\" in \"%s\"", line, needle, err.msg);
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++) {
      if (strstr(err.msg, personal[i]) != NULL)
        fail_msg("line %d: personal data in \"%s\"", line, err.msg);
    }
  }
}

/* A step on a fresh fixture case: `mutate` edits the default action (A)
 * and may change the actor (WHO). */
#define CHECK(variant, kind, unit, mutate, code, needle)                                       \
  do {                                                                                         \
    fx_case f_;                                                                                \
    fx_build(fx_reg, (variant), &f_);                                                             \
    fx_act act_;                                                                               \
    fx_act_init(&act_, MV_ACTION(kind));                                                       \
    if (f_.c != NULL)                                                                          \
      act_.receipt.case_id = f_.c->id;                                                         \
    mv_actor who_ = fx_unit(unit);                                                             \
    {                                                                                          \
      fx_act *A = &act_;                                                                       \
      mv_actor *WHO = &who_;                                                                   \
      (void)A;                                                                                 \
      (void)WHO;                                                                               \
      mutate;                                                                                  \
    }                                                                                          \
    expect(fx_reg, &f_, &act_.a, &who_, (code), (needle), __LINE__);                              \
    fx_free(&f_);                                                                              \
  } while (0)

#define BAD(variant, kind, unit, mutate, needle)                                               \
  CHECK(variant, kind, unit, mutate, MC_INVALID_ARGUMENT, needle)
#define GOOD(variant, kind, unit, mutate) CHECK(variant, kind, unit, mutate, MC_OK, NULL)

static void test_take_in_fields(void **state) {
  (void)state;
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, );
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->a.case_ref = "", "action.case_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->a.case_ref = "XX-2026-000001", "action.case_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->a.case_ref = "BH-26-1", "action.case_ref");
  /* A unit checking its own intake before the router has it (its outbox)
   * names it by "<unit>:<unit_ref>": only its own unit, only that ref. */
  GOOD(FX_NEW, TAKE_IN, FX_POLICE,
       (A->intake.unit_ref = "PS-2026-0007", A->a.case_ref = "police-studio:PS-2026-0007"));
  BAD(FX_NEW, TAKE_IN, FX_POLICE,
      (A->intake.unit_ref = "PS-2026-0007", A->a.case_ref = "marriage-studio:PS-2026-0007"),
      "action.case_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE,
      (A->intake.unit_ref = "PS-2026-0007", A->a.case_ref = "police-studio:PS-2026-0008"),
      "action.case_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.unit_ref = "", A->a.case_ref = "police-studio:"),
      "action.case_ref");
  CHECK(FX_NEW, TAKE_IN, FX_POLICE,
        (A->intake.unit_ref = "PS-2026-0007", A->a.case_ref = "police-studio:PS-2026-0007",
         WHO->kind = MV_PRINCIPAL(COORDINATOR), WHO->id = FX_COORDINATOR),
        MC_PERMISSION_DENIED, NULL);
  /* The provisional record carries the alias as its id, and goes on like
   * any case (the unit validates its queued steps on it). */
  fx_case f;
  fx_build(fx_reg, FX_NEW, &f);
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.unit_ref = "PS-2026-0007";
  act.a.case_ref = "police-studio:PS-2026-0007";
  mv_actor police = fx_unit(FX_POLICE);
  fx_do(fx_reg, &f, &act.a, &police);
  assert_string_equal(f.c->id, "police-studio:PS-2026-0007");
  assert_string_equal(f.c->holder, FX_POLICE);
  fx_act_init(&act, MV_ACTION(TRANSFER));
  act.a.case_ref = f.c->id;
  fx_do(fx_reg, &f, &act.a, &police);
  assert_int_equal(f.c->state, MV_STATE(TRANSFER));
  fx_free(&f);
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->a.args_case = 0, "action.intake: required for take_in");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->a.intake = NULL, "action.intake: required for take_in");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, (A->a.args_case = MV_ARGS(TO_UNIT), A->a.to_unit = FX_BAIHE),
      "action.intake: required for take_in");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.kind = 0, "action.intake.kind: required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.kind = 42, "action.intake.kind: not a known value");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.difficulty = 0, "action.intake.difficulty");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.difficulty = 4, "action.intake.difficulty");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.source = 0, "action.intake.source: required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.community = "", "action.intake.community: required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.community = "nowhere",
      "action.intake.community: not a registered community");
  /* 王隘 lists its grids: a grid must be one of them; 孔雀 lists none */
  BAD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.community = "wangai", A->intake.grid = "第三网格"),
      "action.intake.grid: not a grid of community wangai");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.community = "wangai", A->intake.grid = "第二网格"));
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.grid = "任意网格");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.n_parties = 0,
      "action.intake.parties: at least one required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].name = "", "action.intake.parties[0].name: required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].name = " \t", "action.intake.parties[1].name");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].role = 0, "action.intake.parties[1].role: required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].name = "金丝雀\x01", "parties[0].name: control");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].name = "金丝雀\xC0\xAF", "not valid UTF-8");
  /* ID numbers: GB 11643, 17 digits, a birth date, the MOD 11-2 check
   * character; the error names the position (core/identity.c). */
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "11010519491231002x");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "330212199001011232");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "330212199001011234",
      "action.intake.parties[0].id_number: check digit (position 18) should be 2");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "123456789012345",
      "action.intake.parties[0].id_number: expected 18 characters");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "1234567",
      "action.intake.parties[0].id_number");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "X23456789012345678",
      "parties[0].id_number: position 1 should be a digit");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "3302121990010X1232",
      "parties[0].id_number: position 14 should be a digit");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "330212199002301232",
      "parties[0].id_number: positions 7-14 should be a birth date");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "12345678901234X", "id_number");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].id_number = "１２３４５６７８９０１２３４５",
      "id_number");
  /* Phones: a mobile (11 digits from 1) or a landline with its area code. */
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "13800000000");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "+86 138 0000 0000");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "0574-0000 0000");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "010-12345678-123");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "05748765432");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "23800000000",
      "parties[1].phone: expected a mobile number");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "1380000000", "parties[1].phone");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "0574-876543", "parties[1].phone");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "0574-87654321-1234567",
      "parties[1].phone");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "call me",
      "action.intake.parties[1].phone: position 1 does not fit");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "+-- --", "parties[1].phone");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[1].phone = "123456789012345678901", "phone");
  /* 再次纠纷 links are case ids, at most 20 (the router sets them). */
  {
    static char *ids[21], *bad[1] = {"林某甲"};
    for (int i = 0; i < 21; i++)
      ids[i] = "BH-2026-000001";
    GOOD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.repeat_of = ids, A->intake.n_repeat_of = 20));
    BAD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.repeat_of = ids, A->intake.n_repeat_of = 21),
        "action.intake.repeat_of: more than 20");
    BAD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.repeat_of = bad, A->intake.n_repeat_of = 1),
        "action.intake.repeat_of[0]: not a case id");
  }
  /* Bidi controls only: no name at all. */
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].name = "\xE2\x80\xAE\xE2\x81\xA6",
      "action.intake.parties[0].name: required");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.money_fen = -1, "action.intake.money_fen");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.money_fen = fx_reg->limits.max_money_fen + 1,
      "action.intake.money_fen: must be 0 to");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.money_fen = fx_reg->limits.max_money_fen);
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.summary = "金丝雀\xED\xA0\x80",
      "action.intake.summary: not valid UTF-8");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.petition = 3, "action.intake.petition");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.workers = 12,
      "action.intake.workers: only for a labour dispute");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, (A->intake.kind = MV_KIND(LABOUR), A->intake.workers = 12));
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "金丝雀\x7f", "action.intake.unit_ref");
  /* unit_ref names a case in logs until the router numbers it: only the
   * documented shape, so no phone, ID number, name or free text fits. */
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "PS2026-100001");
  GOOD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "A2345678901234567890123456789012");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "13900001111", "action.intake.unit_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "33021219900101007X",
      "action.intake.unit_ref: expected the unit's reference");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "张三", "action.intake.unit_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "PS 2026", "action.intake.unit_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "-PS", "action.intake.unit_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "PS:1", "action.intake.unit_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.unit_ref = "A23456789012345678901234567890123",
      "action.intake.unit_ref");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, WHO->person = "\xff", "actor.person: not valid UTF-8");
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->a.person = "\xff", "action.person");

  char big[5000];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->intake.summary = big,
      "action.intake.summary: longer than 4096 bytes");
  big[129] = '\0';
  BAD(FX_NEW, TAKE_IN, FX_POLICE, A->party[0].name = big,
      "action.intake.parties[0].name: longer than 128 bytes");
}

static void test_step_fields(void **state) {
  (void)state;
  /* the action itself */
  BAD(FX_INTAKE, UNSPECIFIED, FX_POLICE, , "action.kind: required");
  BAD(FX_INTAKE, UNSPECIFIED, FX_POLICE, A->a.kind = 77, "action.kind: not a known action");
  BAD(FX_FEEDBACK, CLOSE, FX_POLICE, (A->a.args_case = MV_ARGS(MEMBER), A->a.member = &A->member),
      "action.member: close takes no arguments");
  BAD(FX_TRANSFER_FROM_INTAKE, ACCEPT, FX_MARRIAGE,
      (A->a.args_case = MV_ARGS(TO_UNIT), A->a.to_unit = FX_POLICE),
      "action.to_unit: accept takes no arguments");
  BAD(FX_INTAKE, START_MEDIATION, FX_POLICE, A->a.reason = "\xC0", "action.reason");

  /* reasons, where the domain wants one */
  BAD(FX_INTAKE, TRANSFER, FX_POLICE, A->a.reason = "", "action.reason: required for transfer");
  BAD(FX_INTAKE, TRANSFER, FX_POLICE, A->a.reason = " \n", "action.reason: required for transfer");
  BAD(FX_TRANSFER_FROM_INTAKE, REFUSE, FX_MARRIAGE, A->a.reason = "",
      "action.reason: required for refuse");
  BAD(FX_TRANSFER_FROM_INTAKE, RECALL, FX_POLICE, A->a.reason = "",
      "action.reason: required for recall");
  BAD(FX_MEDIATION, SEND_TO_LITIGATION, FX_POLICE, A->a.reason = "",
      "action.reason: required for send_to_litigation");
  BAD(FX_CLOSED, REOPEN, FX_POLICE, A->a.reason = "", "action.reason: required for reopen");
  BAD(FX_INTAKE, WITHDRAW, FX_POLICE, A->a.reason = "", "action.reason: required for withdraw");
  GOOD(FX_FEEDBACK, CLOSE, FX_POLICE, A->a.reason = "");
  GOOD(FX_TRANSFER_FROM_INTAKE, ACCEPT, FX_MARRIAGE, A->a.reason = "");

  /* transfer */
  BAD(FX_INTAKE, TRANSFER, FX_POLICE, A->a.to_unit = "", "action.to_unit: required");
  BAD(FX_INTAKE, TRANSFER, FX_POLICE, A->a.to_unit = "court",
      "action.to_unit: not a registered unit");
  BAD(FX_INTAKE, TRANSFER, FX_POLICE, A->a.to_unit = NULL, "action.to_unit: required for transfer");

  /* team */
  BAD(FX_INTAKE, ASSIGN, FX_POLICE, A->member.person = "", "action.member.person: required");
  BAD(FX_INTAKE, ASSIGN, FX_POLICE, A->member.role = 0, "action.member.role: required");
  BAD(FX_INTAKE, ASSIGN, FX_POLICE, A->member.role = 9, "action.member.role: not a known value");
  BAD(FX_INTAKE, RELEASE, FX_POLICE, A->member.person = "", "action.member.person: required");
  BAD(FX_INTAKE, ASSIGN, FX_POLICE, A->a.member = NULL, "action.member: required for assign");

  /* session */
  BAD(FX_MEDIATION, RECORD_SESSION, FX_POLICE, A->session.held_ms = 0,
      "action.session.held_ms: required");
  BAD(FX_MEDIATION, RECORD_SESSION, FX_POLICE, A->session.note = "\x1b[31m",
      "action.session.note: control character");

  /* outcome */
  BAD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE, A->outcome.kind = 0, "action.outcome.kind: required");
  BAD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE, A->outcome.kind = MV_OUTCOME(NO_AGREEMENT),
      "action.outcome.agreed_amount_fen: only for an agreement");
  GOOD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE,
       (A->outcome.kind = MV_OUTCOME(NO_AGREEMENT), A->outcome.agreed_amount_fen = 0));
  BAD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE, A->outcome.agreed_amount_fen = -5,
      "action.outcome.agreed_amount_fen: must be 0 to");
  BAD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE, A->outcome.resolution = MV_RESOLUTION(IN_FACT),
      "action.outcome.resolution: only for a petition case");
  BAD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE, A->outcome.resolution = 5,
      "action.outcome.resolution: not a known value");
  BAD(FX_MEDIATION, RECORD_OUTCOME, FX_POLICE, A->outcome.followup_due_ms = -1,
      "action.outcome.followup_due_ms");

  /* court result and feedback */
  BAD(FX_LITIGATION, RECORD_COURT_RESULT, FX_POLICE, A->court.kind = 0,
      "action.court_result.kind: required");
  BAD(FX_LITIGATION, RECORD_COURT_RESULT, FX_POLICE, A->court.amount_fen = -1,
      "action.court_result.amount_fen");
  BAD(FX_FEEDBACK, RECORD_FEEDBACK, FX_POLICE, A->feedback.satisfaction = 0,
      "action.feedback.satisfaction: required");
  BAD(FX_FEEDBACK, RECORD_FEEDBACK, FX_POLICE, A->feedback.visited_ms = 0,
      "action.feedback.visited_ms: required");

  /* receipts (by the router) */
  mv_actor sys = fx_system();
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.unit = ""),
      "action.receipt.unit: required");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.unit = "court"),
      "action.receipt.unit: not a registered unit");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.unit = FX_BAIHE),
      "action.receipt.unit: unit station-baihe was never sent case");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.delivery_seq = 0),
      "action.receipt.delivery_seq");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.case_id = "BH-2026-999999"),
      "action.receipt.case_id");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.event_seq = 0),
      "action.receipt.event_seq: must be 1 to 2");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.event_seq = 3),
      "action.receipt.event_seq");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.received_ms = 0),
      "action.receipt.received_ms");
  BAD(FX_INTAKE, RECORD_RECEIPT, FX_POLICE, (*WHO = sys, A->receipt.signature.len = 10),
      "action.receipt.signature");
  GOOD(FX_TRANSFER_FROM_INTAKE, RECORD_RECEIPT, FX_POLICE,
       (*WHO = sys, A->receipt.unit = FX_MARRIAGE, A->receipt.event_seq = 3));
}

#define REFUSED(variant, kind, unit, mutate, needle)                                           \
  CHECK(variant, kind, unit, mutate, MC_FAILED_PRECONDITION, needle)

static void test_guards(void **state) {
  (void)state;
  mc_err err;
  mv_actor police = fx_unit(FX_POLICE), coord = fx_coordinator();
  fx_act act;

  /* a unit does not offer a case to itself */
  REFUSED(FX_INTAKE, TRANSFER, FX_POLICE, A->a.to_unit = FX_POLICE,
          "needs: the receiving unit is not the holder");
  /* one person once per role; release only who is on the case */
  REFUSED(FX_INTAKE, ASSIGN, FX_POLICE, , "needs: the person is not already on the case");
  GOOD(FX_INTAKE, ASSIGN, FX_POLICE, A->member.role = MV_ROLE(LAWYER));
  REFUSED(FX_MEDIATION, RELEASE, FX_POLICE, A->member.person = "别人",
          "needs: the person is on the case in that role");
  REFUSED(FX_MEDIATION, RELEASE, FX_POLICE, A->member.role = MV_ROLE(LAWYER),
          "needs: the person is on the case in that role");
  /* legal aid once */
  fx_case f;
  fx_build(fx_reg, FX_MEDIATION, &f);
  fx_kind(fx_reg, &f, MV_ACTION(GRANT_LEGAL_AID), FX_POLICE);
  assert_true(f.c->legal_aid);
  fx_act_init(&act, MV_ACTION(GRANT_LEGAL_AID));
  expect(fx_reg, &f, &act.a, &police, MC_FAILED_PRECONDITION, "legal aid is not yet granted",
         __LINE__);
  fx_free(&f);

  /* closing needs the follow-up visit */
  fx_build(fx_reg, FX_MEDIATION, &f);
  fx_outcome(fx_reg, &f, MV_OUTCOME(AGREEMENT));
  fx_act_init(&act, MV_ACTION(CLOSE));
  expect(fx_reg, &f, &act.a, &police, MC_FAILED_PRECONDITION,
         "needs: the follow-up visit and the parties' satisfaction are recorded", __LINE__);
  /* an agreement is not sent to court */
  fx_act_init(&act, MV_ACTION(SEND_TO_LITIGATION));
  expect(fx_reg, &f, &act.a, &police, MC_FAILED_PRECONDITION, "needs: mediation failed", __LINE__);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_POLICE);
  assert_int_equal(f.c->state, MV_STATE(CLOSED));
  /* the agreement was not honoured: a coordinator reopens; the new round
   * needs a new outcome and a new visit before it closes again */
  int64_t mediated = f.c->mediated_ms;
  fx_act_init(&act, MV_ACTION(REOPEN));
  fx_do(fx_reg, &f, &act.a, &coord);
  assert_int_equal(f.c->state, MV_STATE(MEDIATION));
  assert_int_equal(f.c->reopen_count, 1);
  assert_string_equal(f.c->holder, FX_POLICE);
  assert_null(f.c->feedback);
  assert_non_null(f.c->outcome);
  assert_int_equal(f.c->mediated_ms, mediated);
  fx_outcome(fx_reg, &f, MV_OUTCOME(NO_AGREEMENT));
  assert_int_equal(f.c->mediated_ms, mediated);
  assert_int_equal(f.c->outcome->kind, MV_OUTCOME(NO_AGREEMENT));
  fx_act_init(&act, MV_ACTION(CLOSE));
  expect(fx_reg, &f, &act.a, &police, MC_FAILED_PRECONDITION, "follow-up visit", __LINE__);
  /* this time mediation failed: to court, and back with the court's result */
  fx_kind(fx_reg, &f, MV_ACTION(SEND_TO_LITIGATION), FX_POLICE);
  fx_act_init(&act, MV_ACTION(RECORD_COURT_RESULT));
  act.court.kind = MV_COURT(DISMISSED);
  act.court.amount_fen = 0;
  fx_do(fx_reg, &f, &act.a, &police);
  assert_int_equal(f.c->state, MV_STATE(FEEDBACK));
  /* the case has been to court: not again from feedback */
  fx_act_init(&act, MV_ACTION(SEND_TO_LITIGATION));
  expect(fx_reg, &f, &act.a, &police, MC_FAILED_PRECONDITION, "has not been to court", __LINE__);
  fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
  fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_POLICE);
  /* no agreement and a dismissed suit: nothing to reopen */
  fx_act_init(&act, MV_ACTION(REOPEN));
  expect(fx_reg, &f, &act.a, &coord, MC_FAILED_PRECONDITION, "needs: an agreement was reached",
         __LINE__);
  fx_free(&f);

  /* a judgment or court mediation not honoured may be reopened */
  static const Mediation__V1__CourtResultKind reopenable[] = {MV_COURT(JUDGMENT),
                                                              MV_COURT(COURT_MEDIATION)};
  for (size_t i = 0; i < 2; i++) {
    fx_build(fx_reg, FX_LITIGATION, &f);
    assert_int_equal(f.c->outcome->kind, MV_OUTCOME(NO_AGREEMENT));
    assert_true(f.c->mediated_ms > 0);
    fx_act_init(&act, MV_ACTION(RECORD_COURT_RESULT));
    act.court.kind = reopenable[i];
    fx_do(fx_reg, &f, &act.a, &police);
    fx_kind(fx_reg, &f, MV_ACTION(RECORD_FEEDBACK), FX_POLICE);
    fx_kind(fx_reg, &f, MV_ACTION(CLOSE), FX_POLICE);
    fx_act_init(&act, MV_ACTION(REOPEN));
    fx_do(fx_reg, &f, &act.a, &police);
    assert_null(f.c->court_result);
    /* the new round may go to court again */
    fx_kind(fx_reg, &f, MV_ACTION(SEND_TO_LITIGATION), FX_POLICE);
    mv_case *r = fx_replay(&f, 480);
    assert_true(fx_same(&r->base, &f.c->base));
    protobuf_c_message_free_unpacked(&r->base, NULL);
    fx_free(&f);
  }
  (void)err;
}

/* A petition case records how it was resolved. */
static void test_petition_resolution(void **state) {
  (void)state;
  fx_case f = {0};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  act.intake.petition = MV_PETITION(ASSISTED);
  act.intake.source = MV_SOURCE(LETTER_OR_CALL);
  mv_actor m = fx_unit(FX_MARRIAGE);
  fx_do(fx_reg, &f, &act.a, &m);
  fx_kind(fx_reg, &f, MV_ACTION(START_MEDIATION), FX_MARRIAGE);
  fx_act_init(&act, MV_ACTION(RECORD_OUTCOME));
  act.outcome.resolution = MV_RESOLUTION(IN_SUBSTANCE);
  fx_do(fx_reg, &f, &act.a, &m);
  assert_int_equal(f.c->outcome->resolution, MV_RESOLUTION(IN_SUBSTANCE));
  fx_free(&f);
}

/* Refusals come in the order machine.h promises: shape, state, actor,
 * fields, guards, limits. */
static void test_order_of_questions(void **state) {
  (void)state;
  /* an unknown action in a final state: the shape is asked first */
  BAD(FX_CLOSED, UNSPECIFIED, FX_WANGAI, A->a.kind = 99, "action.kind");
  /* bad fields, by a stranger, in a state that does not allow it: the state */
  CHECK(FX_CLOSED, RECORD_OUTCOME, FX_WANGAI, A->outcome.kind = 0, MC_FAILED_PRECONDITION,
        "allowed only in 调处 (mediation)");
  /* bad fields by a stranger where the state allows it: the actor */
  CHECK(FX_MEDIATION, RECORD_OUTCOME, FX_WANGAI, A->outcome.kind = 0, MC_PERMISSION_DENIED,
        "may be taken only by the holding unit (police-studio)");
  /* bad fields where the guard fails too: the fields */
  BAD(FX_INTAKE, TRANSFER, FX_POLICE, (A->a.to_unit = FX_POLICE, A->a.reason = ""),
      "action.reason");
  BAD(FX_INTAKE, ASSIGN, FX_POLICE, A->a.person = "\x01", "action.person");
}

static void test_limits(void **state) {
  (void)state;
  mc_registry *small =
      fx_registry("[limits]\nmax_team = 2\nmax_sessions = 1\nmax_events = 16\nmax_parties = 1\n"
                  "max_money_yuan = 1000\nmax_text_bytes = 64\nmax_name_bytes = 16\n");
  mv_actor police = fx_unit(FX_POLICE);
  fx_case f = {0};
  fx_act act;
  fx_act_init(&act, MV_ACTION(TAKE_IN));
  expect(small, &f, &act.a, &police, MC_INVALID_ARGUMENT, "action.intake.parties: more than 1",
         __LINE__);
  act.intake.n_parties = 1;
  act.intake.money_fen = 100001;
  expect(small, &f, &act.a, &police, MC_INVALID_ARGUMENT, "must be 0 to 100000 fen", __LINE__);
  act.intake.money_fen = 100000;
  act.intake.summary = "一二三四五六七八九十一二三四五六七八九十一二";
  expect(small, &f, &act.a, &police, MC_INVALID_ARGUMENT, "longer than 64 bytes", __LINE__);
  act.intake.summary = "短";
  act.party[0].name = "欧阳某某某某";
  expect(small, &f, &act.a, &police, MC_INVALID_ARGUMENT, "longer than 16 bytes", __LINE__);
  act.party[0].name = "欧阳某";
  fx_do(small, &f, &act.a, &police);

  /* the team: entries are never removed, so a released one still counts */
  fx_kind(small, &f, MV_ACTION(ASSIGN), FX_POLICE);
  fx_kind(small, &f, MV_ACTION(RELEASE), FX_POLICE);
  fx_act_init(&act, MV_ACTION(ASSIGN));
  act.member.person = "律师丙";
  act.member.role = MV_ROLE(LAWYER);
  fx_do(small, &f, &act.a, &police);
  act.member.person = "律师丁";
  expect(small, &f, &act.a, &police, MC_RESOURCE_EXHAUSTED, "max_team 2", __LINE__);
  /* a bad field is still named first */
  act.member.role = 0;
  expect(small, &f, &act.a, &police, MC_INVALID_ARGUMENT, "action.member.role", __LINE__);
  /* a guard that fails is named before the limit */
  act.member.person = "律师丙";
  act.member.role = MV_ROLE(LAWYER);
  expect(small, &f, &act.a, &police, MC_FAILED_PRECONDITION, "already on the case", __LINE__);

  fx_kind(small, &f, MV_ACTION(START_MEDIATION), FX_POLICE);
  fx_kind(small, &f, MV_ACTION(RECORD_SESSION), FX_POLICE);
  fx_act_init(&act, MV_ACTION(RECORD_SESSION));
  expect(small, &f, &act.a, &police, MC_RESOURCE_EXHAUSTED, "max_sessions 1", __LINE__);

  /* the case file: receipts fill it up to max_events */
  mv_actor sys = fx_system();
  while (f.c->event_count < 16) {
    fx_act_init(&act, MV_ACTION(RECORD_RECEIPT));
    act.receipt.case_id = f.c->id;
    fx_do(small, &f, &act.a, &sys);
  }
  fx_act_init(&act, MV_ACTION(WITHDRAW));
  expect(small, &f, &act.a, &police, MC_RESOURCE_EXHAUSTED, "max_events 16", __LINE__);
  /* and the full case file still replays */
  mv_case *r = fx_replay(&f, 480);
  assert_true(fx_same(&r->base, &f.c->base));
  protobuf_c_message_free_unpacked(&r->base, NULL);
  fx_free(&f);
  mc_registry_free(small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_take_in_fields),     cmocka_unit_test(test_step_fields),
      cmocka_unit_test(test_guards),             cmocka_unit_test(test_petition_resolution),
      cmocka_unit_test(test_order_of_questions), cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
