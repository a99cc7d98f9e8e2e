/*
 * mv1.h - the mediation.v1 contract for C code: every generated header, and
 * short names for the types and enum values used everywhere.
 *
 * protoc-c names things after the package (Mediation__V1__Case,
 * MEDIATION__V1__CASE_STATE__CASE_STATE_INTAKE). Those stay valid; this
 * header only adds spellings that fit on a line. The .proto files under
 * proto/mediation/v1/ are the reference for what each field means.
 *
 * Ownership of protobuf-c messages, once for all modules:
 *   - a message returned by protobuf_c_message_unpack (or any function whose
 *     comment says "caller frees") owns all its memory and is freed with
 *     protobuf_c_message_free_unpacked(msg, NULL);
 *   - a message built on the stack with ..._INIT borrows its pointers and is
 *     never passed to free_unpacked.
 */
#ifndef MV1_H
#define MV1_H

#include <protobuf-c/protobuf-c.h>

#include "mediation/v1/case.pb-c.h"
#include "mediation/v1/desk.pb-c.h"
#include "mediation/v1/figures.pb-c.h"
#include "mediation/v1/router.pb-c.h"
#include "mediation/v1/rpc.pb-c.h"
#include "mediation/v1/store.pb-c.h"
#include "mediation/v1/web.pb-c.h"

typedef Mediation__V1__Case mv_case;
typedef Mediation__V1__CaseEvent mv_event;
typedef Mediation__V1__CaseAction mv_action;
typedef Mediation__V1__Actor mv_actor;
typedef Mediation__V1__Intake mv_intake;
typedef Mediation__V1__Party mv_party;
typedef Mediation__V1__TeamMember mv_member;
typedef Mediation__V1__Delivery mv_delivery;
typedef Mediation__V1__Receipt mv_receipt;
typedef Mediation__V1__FigureBucket mv_bucket;
typedef Mediation__V1__FigureCounters mv_counters;

typedef Mediation__V1__CaseState mv_state;
typedef Mediation__V1__ActionKind mv_action_kind;
typedef Mediation__V1__DisputeKind mv_kind;

#define MV_STATE(x) MEDIATION__V1__CASE_STATE__CASE_STATE_##x
#define MV_ACTION(x) MEDIATION__V1__ACTION_KIND__ACTION_KIND_##x
#define MV_ARGS(x) MEDIATION__V1__CASE_ACTION__ARGS_##x
#define MV_KIND(x) MEDIATION__V1__DISPUTE_KIND__DISPUTE_KIND_##x
#define MV_DIFFICULTY(x) MEDIATION__V1__DIFFICULTY__DIFFICULTY_##x
#define MV_SOURCE(x) MEDIATION__V1__SOURCE__SOURCE_##x
#define MV_PARTY(x) MEDIATION__V1__PARTY_ROLE__PARTY_ROLE_##x
#define MV_ROLE(x) MEDIATION__V1__TEAM_ROLE__TEAM_ROLE_##x
#define MV_OUTCOME(x) MEDIATION__V1__OUTCOME_KIND__OUTCOME_KIND_##x
#define MV_RESOLUTION(x) MEDIATION__V1__RESOLUTION__RESOLUTION_##x
#define MV_PETITION(x) MEDIATION__V1__PETITION_ROLE__PETITION_ROLE_##x
#define MV_COURT(x) MEDIATION__V1__COURT_RESULT_KIND__COURT_RESULT_KIND_##x
#define MV_SATISFACTION(x) MEDIATION__V1__SATISFACTION__SATISFACTION_##x
#define MV_PRINCIPAL(x) MEDIATION__V1__PRINCIPAL_KIND__PRINCIPAL_KIND_##x
#define MV_DELIVERY(x) MEDIATION__V1__DELIVERY_KIND__DELIVERY_KIND_##x
#define MV_STATUS(x) MEDIATION__V1__STATUS_CODE__STATUS_CODE_##x
#define MV_SERVING(x) MEDIATION__V1__SERVING_STATUS__SERVING_STATUS_##x
#define MV_GROUPING(x) MEDIATION__V1__FIGURE_GROUPING__FIGURE_GROUPING_##x
#define MV_DISPOSITION(x) MEDIATION__V1__DESK_DISPOSITION__DESK_DISPOSITION_##x

#endif /* MV1_H */
