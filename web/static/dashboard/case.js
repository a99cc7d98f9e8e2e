// case.js - cases for coordinators: find one by number and list the open
// ones (#/cases), one case read-only (#/cases/:id: Router/GetCase with its
// case file; personal data come masked, as the router masks them for
// everyone but the holder), the coordinator's two steps - 撤回流转 an
// unanswered offer and 重新调处 a closed case whose agreement was not
// honoured (core/machine.c gives a coordinator nothing else; the gateway's
// Router/Apply row takes only these), and the access log (#/cases/:id/access).

import { call } from '../common/api.js';
import * as router from '../common/router.js';
import { el, fill, heading, notice, errorText, timeEl, fmtFen, field, table, select } from '../common/ui.js';
import {
  STATE, KIND, SOURCE, DIFFICULTY, PARTY_ROLE, TEAM_ROLE, ACTION, PETITION,
  label, options, unitName, communityName, units, communities,
} from '../common/labels.js';
import { OPEN_STATES, caseLink } from './parts.js';
import { stateBadge, deadlineEl } from '../common/casecells.js';
import { timeline } from '../common/casefile.js';

function facts(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function errorPage(main, id, e) {
  const t = e.status === 403 ? '无权查看此案件' : e.status === 404 ? '案件不存在' : '无法打开案件';
  fill(main, el('section', { class: 'error-page', dataset: { status: String(e.status) } },
    heading(t), el('p', {}, `${id}：${errorText(e)}`),
    el('p', {}, el('a', { href: '#/cases' }, '返回案件'))));
}

// The coordinator's steps the state machine allows on this case now
// (core/machine.c: RECALL from TRANSFER, REOPEN from CLOSED with an agreement).
function coordinatorSteps(c) {
  const out = [];
  if (c.state === 'transfer') out.push('recall');
  if (c.state === 'closed' && c.outcome && c.outcome.kind === 'agreement') out.push('reopen');
  return out;
}

function stepForm(kind, c, done, cancel) {
  const reason = el('textarea', { rows: 2, maxlength: 500 });
  const f = field('理由', reason, { required: true, name: 'reason', wide: true,
    hint: kind === 'recall' ? '撤回后案件退回流转前的单位和状态' : '协议未履行，重新进入调处' });
  const msg = el('div', { 'aria-live': 'polite' });
  const submit = el('button', { type: 'submit', class: 'primary' }, `确认${label(ACTION, kind)}`);
  const form = el('form', { class: 'step-form', novalidate: true, dataset: { action: kind } },
    el('h3', {}, label(ACTION, kind)), f, msg,
    el('div', { class: 'actions' }, submit, el('button', { type: 'button', onclick: cancel }, '取消')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) { f.setError('请填写理由'); reason.focus(); return; }
    f.setError('');
    submit.disabled = true;
    try {
      await call('Router', 'Apply', { action: { kind, case_ref: c.id, reason: reason.value.trim() } });
      done(`已${label(ACTION, kind)}`);
    } catch (e) {
      fill(msg, notice(errorText(e), 'danger'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// The result of the step just taken, for the page redrawn after it.
let flash = '';

export async function caseView(main, params) {
  const id = params.id;
  const t = router.token();
  let reply;
  try {
    reply = await call('Router', 'GetCase', { case_ref: id, with_timeline: true });
  } catch (e) {
    if (router.isCurrent(t)) errorPage(main, id, e);
    return undefined;
  }
  if (!router.isCurrent(t)) return undefined;
  const c = reply.case_record || {};
  const it = c.intake || {};
  const tr = c.transfer;
  const active = (c.team || []).filter((m) => !m.released_ms);
  const msg = el('div', { id: 'case-msg', 'aria-live': 'polite' });
  const formBox = el('div');
  const steps = coordinatorSteps(c).map((kind) => el('button', {
    type: 'button', dataset: { action: kind }, class: kind === 'recall' ? 'danger' : '',
    onclick: () => {
      fill(formBox, stepForm(kind, c, (text) => {
        flash = text; // shown by the redrawn page
        router.refresh();
      }, () => fill(formBox)));
      formBox.querySelector('textarea').focus();
    },
  }, label(ACTION, kind)));

  const parties = el('div', { class: 'table-wrap' }, el('table', { class: 'parties' },
    el('thead', {}, el('tr', {}, ['姓名', '身份', '身份证号', '电话'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, (it.parties || []).map((p) => el('tr', {},
      el('td', { 'data-label': '姓名' }, p.name), el('td', { 'data-label': '身份' }, label(PARTY_ROLE, p.role)),
      el('td', { 'data-label': '身份证号', class: 'idno' }, p.id_number || '—'),
      el('td', { 'data-label': '电话', class: 'phone' }, p.phone || '—'))))));

  fill(main,
    heading(`案件 ${c.id || id}`, stateBadge(c)),
    el('p', { class: 'toolbar' }, el('a', { href: `#/cases/${encodeURIComponent(c.id || id)}/access` }, '查看访问记录'),
      reply.masked ? el('span', { class: 'muted' }, '　个人信息已按规定遮蔽') : null),
    msg,
    el('section', { class: 'card case-head' }, facts([
      ['状态', stateBadge(c)],
      ['经办单位', unitName(c.holder)],
      ['流转至', tr ? `${unitName(tr.to_unit)}（${unitName(tr.from_unit)}流转：${tr.reason}）` : ''],
      ['期限', deadlineEl(c)],
      ['受理时间', timeEl(c.created_ms)],
      ['纠纷类型', label(KIND, it.kind)],
      ['社区', `${communityName(it.community)}${it.grid ? ' · ' + it.grid : ''}`],
      ['来源', label(SOURCE, it.source)],
      ['难易程度', label(DIFFICULTY, it.difficulty)],
      ['涉及金额', fmtFen(it.money_fen)],
      ['信访积案', it.petition && it.petition !== 'none' ? label(PETITION, it.petition) : ''],
      ['法律援助', c.legal_aid ? '已批准' : ''],
      ['重新调处次数', c.reopen_count ? String(c.reopen_count) : ''],
    ]), it.summary ? el('p', { class: 'summary' }, it.summary) : null),
    el('section', { class: 'card' }, el('h2', {}, '协调员操作'), steps.length
      ? el('div', { class: 'actions case-actions' }, steps)
      : el('p', { class: 'muted' }, '此案件当前没有协调员可办理的步骤（撤回流转仅限流转中，重新调处仅限已达成协议的结案）。'), formBox),
    el('section', {}, el('h2', {}, '当事人'), parties),
    el('section', { class: 'card' }, el('h2', {}, '团队'), active.length
      ? el('ul', { class: 'team' }, active.map((m) => el('li', {}, `${m.person}（${label(TEAM_ROLE, m.role)}，${unitName(m.unit)}）`)))
      : el('p', { class: 'muted' }, '尚未指派。')),
    el('section', { class: 'card' }, el('h2', {}, '案卷'), timeline(reply.events || [], '案卷为空。')));
  if (flash) { fill(msg, notice(flash, 'ok')); flash = ''; }
  return undefined;
}

// The router's methods that record a read (AccessRecord.method), in words.
const READ_METHOD = { GetCase: '查看案件' };

function whoText(a) {
  if (!a) return '';
  const who = a.kind === 'coordinator' ? `协调员（${a.id}）` : unitName(a.id);
  return a.person ? `${who} · ${a.person}` : who;
}

export async function accessView(main, params) {
  const id = params.id;
  const t = router.token();
  const back = el('p', {}, el('a', { href: `#/cases/${encodeURIComponent(id)}` }, `返回案件 ${id}`));
  fill(main, heading(`访问记录 · ${id}`), back, el('p', { class: 'muted' }, '正在读取…'));
  const records = [];
  let from = 0;
  let truncated = false;
  try {
    // Oldest first a page at a time; a case's log is short, but a busy
    // one is still read to the end (bounded, so a loop cannot run away).
    for (let i = 0; i < 20; i++) {
      const r = await call('RouterAdmin', 'ListAccess', { case_id: id, from_ms: from }); // the router's page
      records.push(...(r.records || []));
      truncated = !!r.truncated;
      if (!truncated || !records.length) break;
      from = Number(records[records.length - 1].at_ms) + 1;
    }
  } catch (e) {
    if (router.isCurrent(t)) fill(main, heading(`访问记录 · ${id}`), back, notice(errorText(e), 'danger'));
    return undefined;
  }
  if (!router.isCurrent(t)) return undefined;
  fill(main, heading(`访问记录 · ${id}`), back,
    el('p', { class: 'muted' }, `共 ${records.length} 次读取${truncated ? '（记录过多，仅显示最早的部分）' : ''}。每次打开案件都会记录在区级平台。`),
    table([
      { title: '时间', render: (r) => timeEl(r.at_ms) },
      { title: '读取者', render: (r) => whoText(r.who) },
      { title: '方式', render: (r) => READ_METHOD[r.method] || r.method || '' },
      { title: '内容', render: (r) => (r.timeline ? '案卷全文' : '案件概要') },
    ], records.slice().reverse(), '尚无访问记录', '访问记录（最新在前）'));
  return undefined;
}

// #/cases?state=&holder=&community=&kind=&overdue=1&cursor=
export async function casesView(main, params, query) {
  const t = router.token();
  const idInput = el('input', { type: 'search', autocomplete: 'off', placeholder: 'BH-2026-000001' });
  const find = el('form', { class: 'toolbar find', role: 'search' },
    field('案件编号', idInput, { name: 'case' }), el('button', { type: 'submit' }, '打开'));
  find.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = idInput.value.trim();
    if (v) router.navigate(`/cases/${encodeURIComponent(v)}`);
  });
  const q = {
    state: query.get('state') || '', holder: query.get('holder') || '', community: query.get('community') || '',
    kind: query.get('kind') || '', overdue: query.get('overdue') === '1',
  };
  const stateSel = select([['', '全部状态'], ...OPEN_STATES.map((s) => [s, label(STATE, s)]), ['closed', label(STATE, 'closed')], ['withdrawn', label(STATE, 'withdrawn')]], q.state);
  const unitSel = select([['', '全部单位'], ...Object.entries(units()).map(([k, v]) => [k, v.name])], q.holder);
  const commSel = select([['', '全部社区'], ...Object.entries(communities()).map(([k, v]) => [k, v.name])], q.community);
  const kindSel = select(options(KIND, '全部类型'), q.kind);
  const overdue = el('input', { type: 'checkbox' });
  overdue.checked = q.overdue;
  const filters = el('form', { class: 'toolbar filters' },
    field('状态', stateSel, { name: 'state' }), field('经办单位', unitSel, { name: 'holder' }),
    field('社区', commSel, { name: 'community' }), field('纠纷类型', kindSel, { name: 'kind' }),
    field('只看逾期', overdue, { name: 'overdue' }), el('button', { type: 'submit' }, '筛选'));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (stateSel.value) p.set('state', stateSel.value);
    if (unitSel.value) p.set('holder', unitSel.value);
    if (commSel.value) p.set('community', commSel.value);
    if (kindSel.value) p.set('kind', kindSel.value);
    if (overdue.checked) p.set('overdue', '1');
    router.navigate(`/cases${p.toString() ? '?' + p : ''}`);
  });
  const list = el('div', { id: 'case-list' }, el('p', { class: 'muted' }, '正在读取…'));
  fill(main, heading('案件'), find, filters, list);
  // Only the filters chosen: an empty enum name is not a value the contract takes.
  const req = { overdue_only: q.overdue, page_size: 50, cursor: query.get('cursor') || '' };
  for (const k of ['state', 'holder', 'community', 'kind']) if (q[k]) req[k] = q[k];
  try {
    const r = await call('Router', 'ListCases', req);
    if (!router.isCurrent(t)) return undefined;
    const rows = r.cases || [];
    const next = new URLSearchParams(query);
    next.set('cursor', r.next_cursor || '');
    fill(list, table([
      { title: '案件', render: (c) => caseLink(c.id) },
      { title: '状态', render: stateBadge },
      { title: '经办单位', render: (c) => unitName(c.holder) },
      { title: '流转至', render: (c) => unitName(c.offered_to) },
      { title: '纠纷类型', render: (c) => label(KIND, c.kind) },
      { title: '社区', render: (c) => communityName(c.community) },
      { title: '期限', render: deadlineEl },
    ], rows, '没有符合条件的案件'),
    r.next_cursor ? el('p', { class: 'pager' }, el('a', { href: `#/cases?${next}` }, '下一页')) : null);
  } catch (e) {
    if (router.isCurrent(t)) fill(list, notice(errorText(e), 'danger'));
  }
  return undefined;
}
