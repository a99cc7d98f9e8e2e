// actions.js - one small form per step a case page offers, with the fields
// that step needs (core/actions.h says which): a reason for 退回, 流转,
// 撤回, 重新调处, 转诉讼; the member for 指派 and 退出团队; the session, the
// outcome, the court's result, the follow-up visit. A refusal by the
// service is shown at the field it names (the reason), else under the form.

import { call } from '../common/api.js';
import { el, field, select, notice, errorText, parseYuan, parseShanghai, shanghaiInput, fill } from '../common/ui.js';
import {
  ACTION, TEAM_ROLE, OUTCOME, RESOLUTION, COURT_RESULT, SATISFACTION, options, label, unitName, units,
} from '../common/labels.js';
import { desk } from './desk.js';
import { act, refusal, stepText } from './common.js';

const NEEDS_REASON = new Set(['transfer', 'refuse', 'recall', 'reopen', 'withdraw', 'send_to_litigation']);
const REASON_LABEL = {
  transfer: '流转理由', refuse: '退回理由', recall: '撤回理由', reopen: '重新调处理由',
  withdraw: '撤回申请的理由', send_to_litigation: '转诉讼的理由',
};

let rosterCache = null;
async function roster() {
  if (!rosterCache) rosterCache = call('Desk', 'Roster', {}).then((r) => r.members || []).catch(() => []);
  return rosterCache;
}

function now() { return shanghaiInput(Date.now()); }

// kind: the action; c: the case; active: its active team; done(text) after success; cancel().
export function actionForm(kind, c, active, done, cancel) {
  const fields = [];
  const build = {}; // name -> () => value for the action
  let reason = null;
  if (NEEDS_REASON.has(kind) || kind === 'grant_legal_aid') {
    const ta = el('textarea', { rows: 2, maxlength: 500 });
    reason = field(REASON_LABEL[kind] || '说明', ta, { required: NEEDS_REASON.has(kind), name: 'reason', wide: true });
    build.reason = () => ta.value.trim();
  }
  switch (kind) {
    case 'transfer': {
      const others = Object.keys(units()).filter((u) => u !== desk.unit && u !== c.holder);
      const s = select([['', '请选择'], ...others.map((u) => [u, unitName(u)])], '');
      const f = field('流转至', s, { required: true, name: 'to_unit' });
      fields.push(f);
      build.to_unit = () => s.value;
      build.check = () => { f.setError(s.value ? '' : '请选择接收单位'); return !!s.value; };
      break;
    }
    case 'assign': {
      const person = select([['', '按工作量自动指派']], '');
      const role = select(options(TEAM_ROLE), 'mediator');
      roster().then((members) => {
        for (const m of members) person.append(el('option', { value: m.person, dataset: { role: m.role } }, `${m.person}（${label(TEAM_ROLE, m.role)}，在办 ${m.active_cases} 件）`));
      });
      person.addEventListener('change', () => {
        const o = person.selectedOptions[0];
        if (o && o.dataset.role) role.value = o.dataset.role;
      });
      fields.push(field('人员', person, { name: 'person' }), field('角色', role, { name: 'role' }));
      build.member = () => ({ person: person.value, role: role.value });
      break;
    }
    case 'release': {
      const s = select(active.map((m, i) => [String(i), `${m.person}（${label(TEAM_ROLE, m.role)}）`]), '0');
      fields.push(field('退出团队的人员', s, { required: true, name: 'member' }));
      build.member = () => { const m = active[Number(s.value)]; return { person: m.person, role: m.role }; };
      break;
    }
    case 'record_session': {
      const at = el('input', { type: 'datetime-local', value: now() });
      const note = el('textarea', { rows: 3, maxlength: 2000 });
      fields.push(field('调解时间', at, { required: true, name: 'held' }), field('调解情况', note, { wide: true, name: 'note' }));
      build.session = () => ({ held_ms: parseShanghai(at.value), note: note.value.trim() });
      break;
    }
    case 'record_outcome': {
      const k = select(options(OUTCOME), 'agreement');
      const amount = el('input', { type: 'text', inputmode: 'decimal', placeholder: '0.00' });
      const res = select(options(RESOLUTION, '（非信访积案）'), '');
      const due = el('input', { type: 'date' });
      const sum = el('textarea', { rows: 3, maxlength: 2000 });
      const fAmount = field('协议金额（元）', amount, { name: 'amount' });
      fields.push(field('调解结果', k, { required: true, name: 'outcome' }), fAmount, field('化解方式', res, { name: 'resolution' }), field('回访日期', due, { name: 'followup' }), field('结果说明', sum, { wide: true, name: 'summary' }));
      build.check = () => { const bad = parseYuan(amount.value) === null; fAmount.setError(bad ? '金额格式不正确' : ''); return !bad; };
      build.outcome = () => ({
        kind: k.value, agreed_amount_fen: k.value === 'agreement' ? parseYuan(amount.value) : 0,
        resolution: res.value || 'unspecified', summary: sum.value.trim(), followup_due_ms: due.value ? parseShanghai(due.value) : 0,
      });
      break;
    }
    case 'record_court_result': {
      const k = select(options(COURT_RESULT), 'judgment');
      const amount = el('input', { type: 'text', inputmode: 'decimal', placeholder: '0.00' });
      const sum = el('textarea', { rows: 3, maxlength: 2000 });
      fields.push(field('法院结果', k, { required: true, name: 'court_result' }), field('金额（元）', amount, { name: 'amount' }), field('说明', sum, { wide: true, name: 'summary' }));
      build.court_result = () => ({ kind: k.value, amount_fen: parseYuan(amount.value) || 0, summary: sum.value.trim() });
      break;
    }
    case 'record_feedback': {
      const sat = select(options(SATISFACTION), 'satisfied');
      const at = el('input', { type: 'datetime-local', value: now() });
      const note = el('textarea', { rows: 3, maxlength: 2000 });
      fields.push(field('当事人满意度', sat, { required: true, name: 'satisfaction' }), field('回访时间', at, { required: true, name: 'visited' }),
        field('回访情况', note, { wide: true, name: 'note' }));
      build.feedback = () => ({ satisfaction: sat.value, visited_ms: parseShanghai(at.value), note: note.value.trim() });
      break;
    }
    default:
      break;
  }
  if (reason) fields.push(reason);
  const msg = el('div', { 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', class: kind === 'refuse' || kind === 'withdraw' ? 'danger' : 'primary' }, `确认${label(ACTION, kind)}`);
  const back = el('button', { type: 'button' }, '取消');
  back.addEventListener('click', cancel);
  const form = el('form', { class: 'inline-form', novalidate: true, dataset: { action: kind } },
    el('h3', {}, label(ACTION, kind)),
    fields.length ? el('div', { class: 'form-grid' }, fields) : el('p', { class: 'muted' }, `确认对案件 ${c.id} 办理“${label(ACTION, kind)}”？`),
    msg, el('div', { class: 'actions' }, submit, back));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (reason) reason.setError('');
    fill(msg);
    if (build.check && !build.check()) return;
    const action = { kind, case_ref: c.id || `${desk.unit}:${(c.intake && c.intake.unit_ref) || ''}` };
    for (const key of ['reason', 'to_unit', 'member', 'session', 'outcome', 'court_result', 'feedback']) {
      if (build[key]) action[key] = build[key]();
    }
    submit.disabled = true;
    try {
      const r = await act(action);
      const bad = refusal(r);
      if (bad) throw bad;
      const steps = r.steps || [];
      await done([stepText(steps[0], false), ...steps.slice(1).map((s) => stepText(s, true))].join('；'));
    } catch (e) {
      const m = errorText(e);
      if (reason && /reason/i.test(m)) reason.setError(`请填写${REASON_LABEL[kind] || '说明'}（${m}）`);
      else fill(msg, notice(m, 'danger'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
