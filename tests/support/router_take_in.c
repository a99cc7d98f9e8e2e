/*
 * router_take_in.c - the take-in action router_load sends in a loop and the
 * raft-fault test sends by hand (see router_proc.h). Apart from
 * router_proc.c because router_load is not a cmocka program: a static
 * library hands it this object alone.
 */
#include "router_proc.h"

void tr_take_in_init(tr_take_in *t, const char *party_name, const char *ref) {
  *t = (tr_take_in){.party = MEDIATION__V1__PARTY__INIT,
                    .in = MEDIATION__V1__INTAKE__INIT,
                    .action = MEDIATION__V1__CASE_ACTION__INIT};
  t->party.name = (char *)party_name;
  t->party.role = MV_PARTY(APPLICANT);
  t->parties[0] = &t->party;
  t->in.kind = MV_KIND(FAMILY_TRIVIA);
  t->in.difficulty = MV_DIFFICULTY(ORDINARY);
  t->in.source = MV_SOURCE(WALK_IN);
  t->in.community = "baihe";
  t->in.parties = t->parties;
  t->in.n_parties = 1;
  t->in.unit_ref = (char *)ref;
  t->action.kind = MV_ACTION(TAKE_IN);
  t->action.args_case = MV_ARGS(INTAKE);
  t->action.intake = &t->in;
}
