// intake.js - 新受理: taking a new case in at this unit. Parties are rows
// added and removed as needed; ID numbers and phones are checked as they
// are typed. After submitting, the unit's policy result is shown in words
// ("已按规则流转至宋大姐调解工作室"), with a link to the new case.

import { call } from '../common/api.js';
import { el, fill, heading, notice, errorText, field, select, parseYuan } from '../common/ui.js';
import {
  KIND, SOURCE, DIFFICULTY, PARTY_ROLE, PETITION, options, unitName, units, communities, communityName,
} from '../common/labels.js';
import { desk } from './desk.js';
import { stepText, afterReply, caseLink } from './common.js';
import { idNumberError, phoneError } from './validate.js';

function partyRow(onRemove) {
  const name = el('input', { type: 'text', maxlength: 64, autocomplete: 'off' });
  const role = select(options(PARTY_ROLE), 'applicant');
  const id = el('input', { type: 'text', maxlength: 18, inputmode: 'text', autocomplete: 'off', spellcheck: 'false' });
  const phone = el('input', { type: 'tel', maxlength: 20, autocomplete: 'off' });
  const fName = field('姓名', name, { required: true, name: 'name' });
  const fRole = field('身份', role, { name: 'role' });
  const fId = field('身份证号', id, { name: 'id_number' });
  const fPhone = field('电话', phone, { name: 'phone' });
  id.addEventListener('input', () => fId.setError(id.value.length >= 18 || !id.value ? idNumberError(id.value) : ''));
  id.addEventListener('blur', () => fId.setError(idNumberError(id.value)));
  phone.addEventListener('input', () => fPhone.setError(phone.value.replace(/\D/g, '').length >= 11 ? phoneError(phone.value) : ''));
  phone.addEventListener('blur', () => fPhone.setError(phoneError(phone.value)));
  const remove = el('button', { type: 'button', class: 'link', 'aria-label': '删除此当事人' }, '删除');
  const row = el('fieldset', { class: 'party-row' }, el('legend', { class: 'muted' }, '当事人'), fName, fRole, fId, fPhone, remove);
  remove.addEventListener('click', () => onRemove(row));
  row.read = () => ({ name: name.value.trim(), role: role.value, id_number: id.value.trim().toUpperCase(), phone: phone.value.trim().replace(/[\s-]/g, '') });
  row.check = () => {
    fName.setError(name.value.trim() ? '' : '请填写当事人姓名');
    fId.setError(idNumberError(id.value));
    fPhone.setError(phoneError(phone.value));
    return !!name.value.trim() && !idNumberError(id.value) && !phoneError(phone.value);
  };
  return row;
}

export async function intakeView(main) {
  const comms = Object.keys(communities());
  const kind = select(options(KIND, '请选择'), '');
  const community = select([['', '请选择'], ...comms.map((id) => [id, communityName(id)])], '');
  const grid = select([['', '（不填）']], '');
  const source = select(options(SOURCE, '请选择'), '');
  const difficulty = select(options(DIFFICULTY), 'ordinary');
  const money = el('input', { type: 'text', inputmode: 'decimal', placeholder: '0.00' });
  const workers = el('input', { type: 'number', min: 0, step: 1, value: 0 });
  const petition = select(options(PETITION), 'none');
  const lawyer = el('input', { type: 'checkbox', name: 'needs_lawyer' });
  const summary = el('textarea', { rows: 4, maxlength: 2000 });
  const others = Object.keys(units()).filter((u) => u !== desk.unit);
  const referTo = select([['', '按本单位规则办理'], ...others.map((u) => [u, unitName(u)])], '');
  const referReason = el('textarea', { rows: 2, maxlength: 500 });

  const f = {
    kind: field('纠纷类型', kind, { required: true, name: 'kind' }),
    community: field('所属社区', community, { required: true, name: 'community' }),
    grid: field('网格', grid, { name: 'grid' }),
    source: field('来源', source, { required: true, name: 'source' }),
    difficulty: field('难易程度', difficulty, { name: 'difficulty' }),
    money: field('涉及金额（元）', money, { name: 'money' }),
    workers: field('涉及人数（劳资纠纷）', workers, { name: 'workers' }),
    petition: field('信访积案', petition, { name: 'petition' }),
    summary: field('简要案情', summary, { required: true, wide: true, name: 'summary' }),
    referTo: field('流转至', referTo, { name: 'refer_to', hint: '不选则由本单位规则决定（如婚姻家庭纠纷流转至宋大姐调解工作室）' }),
    referReason: field('流转理由', referReason, { name: 'refer_reason', hint: '选择了流转单位时必填' }),
  };
  f.referReason.hidden = true;
  referTo.addEventListener('change', () => { f.referReason.hidden = !referTo.value; });
  community.addEventListener('change', () => {
    const c = communities()[community.value];
    fill(grid, el('option', { value: '' }, '（不填）'), ((c && c.grids) || []).map((g) => el('option', { value: g }, g)));
  });
  money.addEventListener('input', () => f.money.setError(parseYuan(money.value) === null ? '金额格式不正确（例如 1200 或 1200.50）' : ''));

  const parties = el('div', { class: 'parties' });
  const addParty = () => {
    const row = partyRow((r) => { if (parties.children.length > 1) r.remove(); });
    parties.append(row);
    return row;
  };
  addParty();
  addParty().querySelector('select').value = 'respondent';
  const add = el('button', { type: 'button' }, '＋ 添加当事人');
  add.addEventListener('click', () => addParty().querySelector('input').focus());

  const result = el('div', { 'aria-live': 'polite', class: 'result' });
  const submit = el('button', { type: 'submit', class: 'primary' }, '提交受理');
  const form = el('form', { class: 'card intake', novalidate: true },
    el('div', { class: 'form-grid' }, f.kind, f.community, f.grid, f.source, f.difficulty, f.money, f.workers, f.petition,
      el('div', { class: 'field check' }, el('label', {}, lawyer, ' 需要律师参与'))),
    el('h2', {}, '当事人'), parties, add,
    el('div', { class: 'form-grid' }, f.summary, f.referTo, f.referReason),
    el('div', { class: 'actions' }, submit), result);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let ok = true;
    const need = (fld, input, text) => { const bad = !input.value.trim(); fld.setError(bad ? text : ''); ok = ok && !bad; };
    need(f.kind, kind, '请选择纠纷类型');
    need(f.community, community, '请选择社区');
    need(f.source, source, '请选择来源');
    need(f.summary, summary, '请填写简要案情');
    if (referTo.value) need(f.referReason, referReason, '请填写流转理由'); else f.referReason.setError('');
    const fen = parseYuan(money.value);
    if (fen === null) { f.money.setError('金额格式不正确'); ok = false; }
    for (const row of parties.children) ok = row.check() && ok;
    if (!ok) {
      fill(result, notice('请先改正标出的内容。', 'danger'));
      const bad = form.querySelector('[aria-invalid="true"]');
      if (bad) bad.focus();
      return;
    }
    const body = {
      intake: {
        kind: kind.value, community: community.value, grid: grid.value, source: source.value,
        difficulty: difficulty.value, money_fen: fen, summary: summary.value.trim(), petition: petition.value,
        needs_lawyer: lawyer.checked, workers: Number(workers.value) || 0,
        parties: [...parties.children].map((r) => r.read()),
      },
      refer_to: referTo.value, refer_reason: referTo.value ? referReason.value.trim() : '',
    };
    submit.disabled = true;
    fill(result);
    try {
      const r = await call('Desk', 'TakeIn', body);
      afterReply(r);
      const steps = r.steps || [];
      const first = steps[0];
      if (first && first.disposition === 'refused') throw new Error(first.message || first.code);
      const c = r.case_record || {};
      const lines = steps.slice(1).map((s) => stepText(s, !body.refer_to));
      fill(result, el('div', { class: 'notice ok', role: 'status' },
        el('p', {}, '已受理：', caseLink(c), first && first.disposition === 'queued' ? '（待同步）' : ''),
        lines.map((t) => el('p', { class: 'policy-result' }, t))));
      form.reset();
      fill(parties);
      addParty();
      addParty().querySelector('select').value = 'respondent';
      f.referReason.hidden = true;
    } catch (e) {
      fill(result, notice(`未能受理：${errorText(e)}`, 'danger'));
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, heading('新受理'), form);
  return undefined;
}
