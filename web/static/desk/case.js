// case.js - the case page: its header (state, holder, the unit it is
// offered to, the deadline in red when overdue), the parties exactly as the
// service masked them for this unit, the team, the whole case file (案卷)
// with each step's unit, person, time and signed receipts (签收), and the
// steps this unit may take now - exactly DeskShowReply.allowed_actions,
// which the unit's service computes with the state machine, so the page
// never offers a step that would be refused.

import { call } from '../common/api.js';
import * as events from '../common/events.js';
import * as router from '../common/router.js';
import { el, fill, heading, notice, errorText, timeEl, fmtFen, fmtTime } from '../common/ui.js';
import {
  KIND, SOURCE, DIFFICULTY, PARTY_ROLE, TEAM_ROLE, ACTION, PETITION,
  label, unitName, communityName,
} from '../common/labels.js';
import { noteRouter } from './desk.js';
import { stateBadge, deadlineEl } from '../common/casecells.js';
import { actionForm } from './actions.js';
import { timeline } from '../common/casefile.js';

function facts(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function forbidden(main, id, e) {
  const t = e.status === 403 ? '无权查看此案件' : e.status === 404 ? '案件不存在' : '无法打开案件';
  fill(main, el('section', { class: 'error-page', dataset: { status: String(e.status) } },
    heading(t),
    el('p', {}, e.status === 403 ? `案件 ${id} 不属于本单位经办或流转的案件（403）。` : `${id}：${errorText(e)}`),
    el('p', {}, el('a', { href: '#/cases' }, '返回在办案件'))));
}

// The result of the step just taken, shown on the redrawn page (and on the
// redraws live events cause right after it) for a few seconds.
let flash = null;

export async function caseView(main, params) {
  const id = params.id;
  let reply;
  try {
    reply = await call('Desk', 'ShowCase', { case_ref: id, with_timeline: true });
  } catch (e) {
    forbidden(main, id, e);
    return undefined;
  }
  noteRouter(reply.stale, reply.router_problem);
  const c = reply.case_record || {};
  const it = c.intake || {};
  const t = c.transfer;
  const allowed = reply.allowed_actions || [];
  const active = (c.team || []).filter((m) => !m.released_ms);

  const head = el('section', { class: 'card case-head' },
    facts([
      ['状态', stateBadge(c)],
      ['经办单位', unitName(c.holder)],
      ['流转至', t ? `${unitName(t.to_unit)}（${unitName(t.from_unit)}流转：${t.reason}）` : ''],
      ['期限', deadlineEl(c)],
      ['受理时间', timeEl(c.created_ms)],
      ['纠纷类型', label(KIND, it.kind)],
      ['社区', `${communityName(it.community)}${it.grid ? ' · ' + it.grid : ''}`],
      ['来源', label(SOURCE, it.source)],
      ['难易程度', label(DIFFICULTY, it.difficulty)],
      ['涉及金额', fmtFen(it.money_fen)],
      ['信访积案', it.petition && it.petition !== 'none' ? label(PETITION, it.petition) : ''],
      ['法律援助', c.legal_aid ? '已批准' : ''],
      ['本单位编号', it.unit_ref],
    ]),
    it.summary ? el('p', { class: 'summary' }, it.summary) : null,
    reply.stale ? notice(`这是本单位的副本（最后同步 ${reply.synced_ms ? fmtTime(reply.synced_ms) : '从未'}），可能不是最新。`, 'warn') : null);

  const parties = el('div', { class: 'table-wrap' }, el('table', { class: 'parties' },
    el('thead', {}, el('tr', {}, ['姓名', '身份', '身份证号', '电话'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, (it.parties || []).map((p) => el('tr', {},
      el('td', { 'data-label': '姓名' }, p.name), el('td', { 'data-label': '身份' }, label(PARTY_ROLE, p.role)),
      el('td', { 'data-label': '身份证号', class: 'idno' }, p.id_number || '—'),
      el('td', { 'data-label': '电话', class: 'phone' }, p.phone || '—'))))));

  const team = active.length
    ? el('ul', { class: 'team' }, active.map((m) => el('li', {}, `${m.person}（${label(TEAM_ROLE, m.role)}，${unitName(m.unit)}）`)))
    : el('p', { class: 'muted' }, '尚未指派。');

  const msg = el('div', { 'aria-live': 'polite' });
  const formBox = el('div');
  const buttons = allowed.map((kind) => {
    const b = el('button', { type: 'button', dataset: { action: kind }, class: kind === 'accept' ? 'primary' : kind === 'refuse' || kind === 'withdraw' ? 'danger' : '' }, label(ACTION, kind));
    b.addEventListener('click', () => {
      fill(formBox, actionForm(kind, c, active, async (text) => {
        // The page is drawn again from the service's record; the result of
        // the step is shown on it.
        flash = { id, text, until: Date.now() + 15000 };
        router.refresh();
      }, () => fill(formBox)));
      const first = formBox.querySelector('input, select, textarea, button[type=submit]');
      if (first) first.focus();
    });
    return b;
  });
  msg.id = 'case-msg';
  if (flash && flash.id === id && Date.now() < flash.until) fill(msg, notice(flash.text, 'ok'));

  fill(main,
    heading(`案件 ${c.id || id}`, stateBadge(c)),
    msg,
    head,
    el('section', { class: 'card' }, el('h2', {}, '可办理'), buttons.length
      ? el('div', { class: 'actions case-actions' }, buttons)
      : el('p', { class: 'muted' }, '本单位目前不能对此案件办理步骤。'), formBox),
    el('section', {}, el('h2', {}, '当事人'), parties),
    el('section', { class: 'card' }, el('h2', {}, '团队'), team),
    el('section', { class: 'card' }, el('h2', {}, '案卷'), timeline(reply.events || [], '案卷需连上区级平台后才能查看。')));

  const unsubscribe = events.subscribe((ch) => {
    if (ch.reset || ch.case_ids.includes(c.id) || ch.case_ids.includes(id)) {
      if (!formBox.childElementCount) router.refresh();
    }
  });
  return unsubscribe;
}
