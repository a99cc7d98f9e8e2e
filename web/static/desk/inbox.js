// inbox.js - 待接收: the offers waiting for this unit, each with who sent it,
// why, when and by when it must be answered; 接收 in one click, 退回 with a
// reason it cannot be sent without. New offers appear as they arrive (the
// gateway's live events), without reloading.

import { call } from '../common/api.js';
import * as events from '../common/events.js';
import { el, fill, table, heading, notice, errorText, field, timeEl, actionButton } from '../common/ui.js';
import { KIND, label, unitName } from '../common/labels.js';
import { caseLink, act, refusal, partyNames } from './common.js';
import { deadlineEl } from '../common/casecells.js';

export async function inboxView(main) {
  const list = el('div', { class: 'inbox' });
  const msg = el('div', { 'aria-live': 'polite' });
  fill(main, heading('待接收'), el('p', { class: 'muted' }, '其他单位流转给本单位、等待接收的案件。'), msg, list);

  // A live update does not redraw the list under a 退回 being written: it
  // waits until the form is sent or cancelled.
  let deferred = false;
  async function load() {
    if (list.querySelector('form.inline-form')) { deferred = true; return; }
    deferred = false;
    try {
      const r = await call('Desk', 'Inbox', {});
      draw(r.cases || []);
    } catch (e) {
      fill(list, notice(errorText(e), 'danger'));
    }
  }

  function draw(cases) {
    cases.sort((a, b) => Number(a.case_record.deadline_ms || 0) - Number(b.case_record.deadline_ms || 0));
    fill(list, table([
      { title: '案件', render: (lc) => caseLink(lc.case_record) },
      { title: '类型', render: (lc) => label(KIND, lc.case_record.intake && lc.case_record.intake.kind) },
      { title: '当事人', render: (lc) => partyNames(lc.case_record) },
      { title: '流转单位', render: (lc) => unitName(lc.case_record.transfer && lc.case_record.transfer.from_unit) },
      { title: '流转理由', render: (lc) => (lc.case_record.transfer && lc.case_record.transfer.reason) || '' },
      { title: '流转时间', render: (lc) => timeEl(lc.case_record.transfer && lc.case_record.transfer.offered_ms) },
      { title: '接收期限', render: (lc) => deadlineEl(lc.case_record) },
      { title: '操作', render: (lc) => offerActions(lc.case_record) },
    ], cases, '目前没有待接收的案件。', `共 ${cases.length} 件`));
  }

  function offerActions(c) {
    const box = el('div', { class: 'offer-actions' });
    const accept = actionButton('接收', async () => {
      try {
        const r = await act({ kind: 'accept', case_ref: c.id });
        const bad = refusal(r);
        if (bad) throw bad;
        fill(msg, notice(`已接收 ${c.id}。`, 'ok'));
        await load();
      } catch (e) {
        fill(msg, notice(`${c.id}：${errorText(e)}`, 'danger'));
      }
    }, 'primary');
    const refuse = el('button', { type: 'button', class: 'danger' }, '退回');
    refuse.addEventListener('click', () => {
      if (box.querySelector('form')) return;
      box.append(refuseForm(c, async (text) => {
        if (text) fill(msg, notice(text, 'ok'));
        const f = box.querySelector('form');
        if (f) f.remove();
        if (text || deferred) await load();
      }));
      box.querySelector('textarea').focus();
    });
    return fill(box, el('div', { class: 'actions' }, accept, refuse));
  }

  const unsubscribe = events.subscribe((ch) => { if (ch.inbox_changed) load(); });
  await load();
  return unsubscribe;
}

// 退回: the reason is required by the state machine; asked for here first,
// and the service's refusal (if any) is shown at the same field.
function refuseForm(c, done) {
  const reason = el('textarea', { rows: 2, maxlength: 500 });
  const f = field('退回理由', reason, { required: true, name: 'reason', hint: '将告知流转单位' });
  const submit = el('button', { type: 'submit', class: 'danger' }, '确认退回');
  const cancel = el('button', { type: 'button' }, '取消');
  const form = el('form', { class: 'inline-form', novalidate: true }, f, el('div', { class: 'actions' }, submit, cancel));
  cancel.addEventListener('click', () => { form.remove(); done(''); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    f.setError('');
    submit.disabled = true;
    try {
      const r = await act({ kind: 'refuse', case_ref: c.id, reason: reason.value.trim() });
      const bad = refusal(r);
      if (bad) throw bad;
      await done(`已退回 ${c.id}。`);
    } catch (e) {
      f.setError(reasonMessage(e));
      reason.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// The service names the field in its message ("reason: required for ...");
// people read it in Chinese.
export function reasonMessage(e) {
  const m = errorText(e);
  if (/reason/i.test(m) && /(required|empty|missing)/i.test(m)) return `请填写理由（${m}）`;
  return m;
}
