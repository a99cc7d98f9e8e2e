// overview.js - 总览: the morning's picture. Counts of open cases by state and
// holding unit (for an offer: the unit it is offered to, as Stuck groups
// them), the overdue cases (Router/Stuck, most overdue first), those due
// within 48 hours, the offers made today, and the offers waiting longest.
// The shell is drawn at once and filled as the replies come, so the page
// paints before the router has been read through.

import { call } from '../common/api.js';
import * as router from '../common/router.js';
import { el, fill, heading, notice, errorText, table, timeEl } from '../common/ui.js';
import { STATE, KIND, label, unitName, communityName, units } from '../common/labels.js';
import { OPEN_STATES, caseLink, openCases, todayStartMs, fmtWait } from './parts.js';
import { stateBadge, deadlineEl } from '../common/casecells.js';

const DAY48 = 48 * 3600000;

function countsTable(cases) {
  const byUnit = new Map();
  const totals = Object.fromEntries(OPEN_STATES.map((s) => [s, 0]));
  for (const c of cases) {
    const u = c.state === 'transfer' && c.offered_to ? c.offered_to : c.holder;
    if (!byUnit.has(u)) byUnit.set(u, Object.fromEntries(OPEN_STATES.map((s) => [s, 0])));
    byUnit.get(u)[c.state] += 1;
    totals[c.state] += 1;
  }
  const ids = [...new Set([...Object.keys(units()), ...byUnit.keys()])];
  const rows = ids.map((u) => ({ u, n: byUnit.get(u) || Object.fromEntries(OPEN_STATES.map((s) => [s, 0])) }));
  rows.push({ u: '', n: totals, total: true });
  const sum = (n) => OPEN_STATES.reduce((a, s) => a + n[s], 0);
  return el('div', { class: 'table-wrap' }, el('table', { class: 'counts', id: 'counts' },
    el('caption', {}, '在办案件（按状态与经办单位；流转中的案件计入被流转单位）'),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, '单位'),
      OPEN_STATES.map((s) => el('th', { scope: 'col', class: 'num' }, label(STATE, s))),
      el('th', { scope: 'col', class: 'num' }, '合计'))),
    el('tbody', {}, rows.map((r) => el('tr', { class: r.total ? 'total' : '', dataset: { unit: r.u } },
      el('th', { scope: 'row', 'data-label': '单位' }, r.total ? '合计' : unitName(r.u)),
      OPEN_STATES.map((s) => el('td', { class: 'num', 'data-label': label(STATE, s), dataset: { state: s } }, String(r.n[s]))),
      el('td', { class: 'num', 'data-label': '合计' }, String(sum(r.n))))))));
}

const caseCols = [
  { title: '案件', render: (c) => caseLink(c.id) },
  { title: '状态', render: stateBadge },
  { title: '经办单位', render: (c) => unitName(c.holder) },
  { title: '纠纷类型', render: (c) => label(KIND, c.kind) },
  { title: '社区', render: (c) => communityName(c.community) },
  { title: '期限', render: deadlineEl },
];

function stuckSection(stuck) {
  const groups = stuck.groups || [];
  const total = groups.reduce((a, g) => a + Number(g.count || 0), 0);
  const listed = groups.flatMap((g) => g.oldest || [])
    .sort((a, b) => Number(a.deadline_ms) - Number(b.deadline_ms));
  if (!groups.length) return [el('p', { class: 'muted' }, '截至 ', timeEl(stuck.as_of_ms)), el('p', { class: 'empty' }, '没有逾期案件')];
  return [
    el('p', { class: 'muted' }, `共 ${total} 件逾期（截至 `, timeEl(stuck.as_of_ms), '）'),
    table([
      { title: '状态', render: (g) => label(STATE, g.state) },
      { title: '单位', render: (g) => unitName(g.unit) },
      { title: '逾期件数', render: (g) => String(g.count), class: 'num' },
    ], groups, '没有逾期案件', '逾期（按状态与单位）'),
    table(caseCols, listed.slice(0, 20), '没有逾期案件', '最久逾期的案件'),
  ];
}

export async function overviewView(main) {
  const t = router.token();
  const counts = el('section', { class: 'card', id: 'ov-counts' }, el('h2', {}, '在办案件'), el('p', { class: 'muted' }, '正在统计…'));
  const overdue = el('section', { class: 'card', id: 'ov-overdue' }, el('h2', {}, '逾期'), el('p', { class: 'muted' }, '正在读取…'));
  const soon = el('section', { class: 'card', id: 'ov-soon' }, el('h2', {}, '即将到期（48 小时内）'), el('p', { class: 'muted' }, '正在读取…'));
  const today = el('section', { class: 'card', id: 'ov-today' }, el('h2', {}, '今日流转'), el('p', { class: 'muted' }, '正在读取…'));
  const waiting = el('section', { class: 'card', id: 'ov-waiting' }, el('h2', {}, '等待接收最久'), el('p', { class: 'muted' }, '正在读取…'));
  // The coordinators' site has no live events (the router has no watch for
  // them): the page says when it was read and reads again on request.
  const asOf = el('span', { class: 'muted as-of' }, '');
  const again = el('button', { type: 'button', onclick: () => router.refresh() }, '刷新');
  fill(main, heading('总览'), el('div', { class: 'toolbar no-print' }, again, asOf),
    el('div', { class: 'dash-grid' }, counts, overdue, soon, today, waiting));

  const stuckP = call('Router', 'Stuck', { per_group: 10 }).then((s) => {
    if (router.isCurrent(t)) fill(overdue, el('h2', {}, '逾期'), stuckSection(s));
  }).catch((e) => { if (router.isCurrent(t)) fill(overdue, el('h2', {}, '逾期'), notice(errorText(e), 'danger')); });

  let cases;
  try {
    cases = await openCases();
  } catch (e) {
    if (router.isCurrent(t)) {
      for (const s of [counts, soon, today, waiting]) fill(s, el('h2', {}, s.querySelector('h2').textContent), notice(errorText(e), 'danger'));
    }
    await stuckP;
    return undefined;
  }
  if (!router.isCurrent(t)) return undefined;
  const now = Date.now();
  fill(asOf, '更新于 ', timeEl(now));
  fill(counts, el('h2', {}, '在办案件 ', el('span', { class: 'count-total', id: 'open-total' }, `${cases.length} 件`)), countsTable(cases));

  const due = cases.filter((c) => c.deadline_ms && Number(c.deadline_ms) >= now && Number(c.deadline_ms) < now + DAY48)
    .sort((a, b) => Number(a.deadline_ms) - Number(b.deadline_ms));
  fill(soon, el('h2', {}, `即将到期（48 小时内）`), el('p', { class: 'muted' }, `共 ${due.length} 件`),
    table(caseCols, due.slice(0, 50), '48 小时内没有到期的案件'));

  const offers = cases.filter((c) => c.state === 'transfer');
  const start = todayStartMs(now);
  const offerCols = [
    { title: '案件', render: (c) => caseLink(c.id) },
    { title: '流转单位', render: (c) => unitName(c.holder) },
    { title: '接收单位', render: (c) => unitName(c.offered_to) },
    { title: '发出时间', render: (c) => timeEl(c.state_entered_ms) },
    { title: '已等待', render: (c) => fmtWait(now - Number(c.state_entered_ms)), class: 'num' },
    { title: '期限', render: deadlineEl },
  ];
  const todays = offers.filter((c) => Number(c.state_entered_ms) >= start)
    .sort((a, b) => Number(b.state_entered_ms) - Number(a.state_entered_ms));
  fill(today, el('h2', {}, '今日流转'), el('p', { class: 'muted' }, `今天发出、尚待接收 ${todays.length} 件`),
    table(offerCols, todays.slice(0, 50), '今天没有待接收的流转'));
  const longest = offers.slice().sort((a, b) => Number(a.state_entered_ms) - Number(b.state_entered_ms));
  fill(waiting, el('h2', {}, '等待接收最久'), table(offerCols, longest.slice(0, 10), '没有待接收的流转'));
  await stuckP;
  return undefined;
}
