/*
 * names.c - short names and Chinese labels of enum values (see names.h).
 */
#include "core/names.h"

#include <string.h>

#include "core/actions.h"

const mc_name mc_kind_names[] = {
    {MV_KIND(DIVORCE), "divorce", "离婚"},
    {MV_KIND(CUSTODY), "custody", "抚养"},
    {MV_KIND(ELDER_SUPPORT), "elder_support", "赡养"},
    {MV_KIND(INHERITANCE), "inheritance", "遗产"},
    {MV_KIND(RELATIONSHIP), "relationship", "感情纠纷"},
    {MV_KIND(FAMILY_TRIVIA), "family_trivia", "家庭琐事"},
    {MV_KIND(NEIGHBOUR), "neighbour", "邻里纠纷"},
    {MV_KIND(LABOUR), "labour", "劳资纠纷"},
    {MV_KIND(OTHER), "other", "其他"},
    {0, NULL, NULL},
};

const mc_name mc_state_names[] = {
    {MV_STATE(INTAKE), "intake", "受理"},
    {MV_STATE(TRANSFER), "transfer", "流转"},
    {MV_STATE(MEDIATION), "mediation", "调处"},
    {MV_STATE(FEEDBACK), "feedback", "反馈"},
    {MV_STATE(LITIGATION), "litigation", "诉讼"},
    {MV_STATE(CLOSED), "closed", "结案"},
    {MV_STATE(WITHDRAWN), "withdrawn", "撤回"},
    {0, NULL, NULL},
};

/* Expanded from the one list of actions (actions.h). */
#define ACTION_NAME(kind, name, label, def) {MV_ACTION(kind), name, label},
const mc_name mc_action_names[] = {
    MC_ACTIONS(ACTION_NAME)
    {0, NULL, NULL},
};
#undef ACTION_NAME

const mc_name mc_difficulty_names[] = {
    {MV_DIFFICULTY(ORDINARY), "ordinary", "一般"},
    {MV_DIFFICULTY(DIFFICULT), "difficult", "疑难"},
    {MV_DIFFICULTY(COMPLEX), "complex", "复杂"},
    {0, NULL, NULL},
};

const mc_name mc_source_names[] = {
    {MV_SOURCE(POLICE_CALL), "police_call", "110报警"},
    {MV_SOURCE(WALK_IN), "walk_in", "现场接访"},
    {MV_SOURCE(LETTER_OR_CALL), "letter_or_call", "网电信件"},
    {MV_SOURCE(REFERRAL), "referral", "转介"},
    {MV_SOURCE(CONSULTATION), "consultation", "法律咨询"},
    {0, NULL, NULL},
};

const mc_name mc_party_role_names[] = {
    {MV_PARTY(APPLICANT), "applicant", "申请人"},
    {MV_PARTY(RESPONDENT), "respondent", "被申请人"},
    {MV_PARTY(OTHER), "other", "其他当事人"},
    {0, NULL, NULL},
};

const mc_name mc_team_role_names[] = {
    {MV_ROLE(MEDIATOR), "mediator", "人民调解员"},
    {MV_ROLE(COUNSELLOR), "counsellor", "心理咨询师"},
    {MV_ROLE(LAWYER), "lawyer", "专业律师"},
    {0, NULL, NULL},
};

const mc_name mc_outcome_names[] = {
    {MV_OUTCOME(AGREEMENT), "agreement", "达成协议"},
    {MV_OUTCOME(NO_AGREEMENT), "no_agreement", "调解不成"},
    {0, NULL, NULL},
};

const mc_name mc_resolution_names[] = {
    {MV_RESOLUTION(IN_FACT), "in_fact", "事实化解"},
    {MV_RESOLUTION(IN_SUBSTANCE), "in_substance", "实体化解"},
    {0, NULL, NULL},
};

const mc_name mc_petition_names[] = {
    {MV_PETITION(NONE), "none", "非信访"},
    {MV_PETITION(LED), "led", "主办"},
    {MV_PETITION(ASSISTED), "assisted", "协办"},
    {0, NULL, NULL},
};

const mc_name mc_court_result_names[] = {
    {MV_COURT(JUDGMENT), "judgment", "判决"},
    {MV_COURT(COURT_MEDIATION), "court_mediation", "法院调解"},
    {MV_COURT(DISMISSED), "dismissed", "驳回"},
    {MV_COURT(SUIT_WITHDRAWN), "suit_withdrawn", "撤诉"},
    {0, NULL, NULL},
};

const mc_name mc_satisfaction_names[] = {
    {MV_SATISFACTION(SATISFIED), "satisfied", "满意"},
    {MV_SATISFACTION(BASICALLY_SATISFIED), "basically_satisfied", "基本满意"},
    {MV_SATISFACTION(DISSATISFIED), "dissatisfied", "不满意"},
    {0, NULL, NULL},
};

const mc_name mc_delivery_names[] = {
    {MV_DELIVERY(OFFER), "offer", "移交"},
    {MV_DELIVERY(REFUSED), "refused", "被退回"},
    {MV_DELIVERY(RECALLED), "recalled", "已撤回"},
    {MV_DELIVERY(ACCEPTED), "accepted", "已接收"},
    {MV_DELIVERY(UPDATED), "updated", "已更新"},
    {0, NULL, NULL},
};

const mc_name mc_principal_names[] = {
    {MV_PRINCIPAL(UNIT), "unit", "单位"},
    {MV_PRINCIPAL(COORDINATOR), "coordinator", "协调员"},
    {MV_PRINCIPAL(SYSTEM), "system", "系统"},
    {0, NULL, NULL},
};

static const mc_name *find_value(const mc_name *table, int value) {
  for (const mc_name *n = table; n->name != NULL; n++) {
    if (n->value == value)
      return n;
  }
  return NULL;
}

const char *mc_name_of(const mc_name *table, int value) {
  const mc_name *n = find_value(table, value);
  return n ? n->name : "?";
}

const char *mc_label_of(const mc_name *table, int value) {
  const mc_name *n = find_value(table, value);
  return n ? n->label : "?";
}

int mc_name_parse(const mc_name *table, const char *text, int *out) {
  for (const mc_name *n = table; n->name != NULL; n++) {
    if (strcmp(text, n->name) == 0 || strcmp(text, n->label) == 0) {
      *out = n->value;
      return 0;
    }
  }
  return -1;
}
