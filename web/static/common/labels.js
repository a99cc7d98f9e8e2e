// labels.js - the Chinese words for the contract's enum values (the JSON
// carries their short names, docs/mediactl.md "JSON"), and for unit and
// community ids through the site's registry names (api.names()). One place,
// so the desk and the dashboard say the same thing for the same value.

import { names } from './api.js';

export const STATE = {
  unspecified: '未受理', intake: '受理', transfer: '流转中', mediation: '调处',
  feedback: '反馈', litigation: '诉讼', closed: '结案', withdrawn: '撤回',
};
export const STATE_TONE = {
  intake: 'info', transfer: 'warn', mediation: 'info', feedback: 'ok',
  litigation: 'warn', closed: 'muted', withdrawn: 'muted',
};
export const KIND = {
  divorce: '离婚', custody: '抚养', elder_support: '赡养', inheritance: '遗产',
  relationship: '感情纠纷', family_trivia: '家庭琐事', neighbour: '邻里纠纷',
  labour: '劳资纠纷', other: '其他',
};
export const DIFFICULTY = { ordinary: '一般', difficult: '疑难', complex: '复杂' };
export const SOURCE = {
  police_call: '110报警', walk_in: '现场接访', letter_or_call: '网电信件',
  referral: '转介', consultation: '法律咨询',
};
export const PARTY_ROLE = { applicant: '申请人', respondent: '被申请人', other: '其他当事人' };
export const TEAM_ROLE = { mediator: '人民调解员', counsellor: '心理咨询师', lawyer: '专业律师' };
export const OUTCOME = { agreement: '达成协议', no_agreement: '调解不成' };
export const RESOLUTION = { in_fact: '事实化解', in_substance: '实体化解' };
export const COURT_RESULT = { judgment: '判决', court_mediation: '法院调解', dismissed: '驳回', suit_withdrawn: '撤诉' };
export const SATISFACTION = { satisfied: '满意', basically_satisfied: '基本满意', dissatisfied: '不满意' };
export const PETITION = { none: '否', led: '主办', assisted: '协办' };
export const ACTION = {
  take_in: '受理', transfer: '流转', accept: '接收', refuse: '退回', recall: '撤回流转',
  start_mediation: '开始调处', assign: '指派', release: '退出团队', record_session: '记录调解',
  record_outcome: '记录结果', send_to_litigation: '转诉讼', record_court_result: '记录判决结果',
  record_feedback: '回访反馈', close: '结案', reopen: '重新调处', withdraw: '撤回申请',
  grant_legal_aid: '法律援助', record_receipt: '签收', unspecified: '（未能执行）',
};
export const DISPOSITION = { applied: '已生效', queued: '待同步', refused: '被拒绝' };

// [[value, label], ...] for a <select>, with a leading empty choice when given.
export function options(map, empty) {
  const o = Object.entries(map);
  return empty !== undefined ? [['', empty], ...o] : o;
}

export function label(map, value) { return (value && map[value]) || value || ''; }

let registry = { units: {}, communities: {} };

// Loads the registry names once; views call it before drawing.
export async function loadNames() {
  try { registry = await names(); } catch (e) { /* ids stay readable without names */ }
  return registry;
}

export function unitName(id) { return (id && registry.units && registry.units[id] && registry.units[id].name) || id || ''; }
export function communityName(id) {
  return (id && registry.communities && registry.communities[id] && registry.communities[id].name) || id || '';
}
export function units() { return registry.units || {}; }
export function communities() { return registry.communities || {}; }
