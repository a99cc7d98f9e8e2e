// figures.js - 数据: the year's figures (Router/GetFigures) by month,
// community, unit and kind, each as a bar chart with a table beside it
// holding the exact numbers; the community scorecard and the report text,
// both as the gateway's GET /api/v1/report gives them (the one builder
// `mediactl report` prints with, documents/report_text.c: the page words
// and formats nothing of the report itself). Prints on A4
// (dashboard.css @media print: charts and tables kept whole, no nav).

import { call, get } from '../common/api.js';
import * as router from '../common/router.js';
import { el, fill, heading, notice, errorText, fmtFen, field, select } from '../common/ui.js';
import { KIND, label, unitName, communityName, units } from '../common/labels.js';
import { barChart } from './chart.js';

const SERIES = [
  { key: 'taken_in', name: '受理', cls: 's1' },
  { key: 'mediated', name: '调处', cls: 's2' },
  { key: 'resolved', name: '调解成功', cls: 's3' },
];

function n(c, k) { return Number((c || {})[k] || 0); }

// One block: heading, chart, table with the same numbers (+ money, closed).
function block(id, title, rows, keyOf, nameOf) {
  const cats = rows.map((r) => nameOf(keyOf(r.bucket || {})));
  const chart = barChart(`${title}（受理、调处、调解成功）`, cats,
    SERIES.map((x) => ({ name: x.name, cls: x.cls, values: rows.map((r) => n(r.counters, x.key)) })));
  const tbl = el('div', { class: 'table-wrap' }, el('table', { class: 'figures', id: `tbl-${id}` },
    el('caption', {}, title),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, title.replace(/^按/, '')),
      SERIES.map((x) => el('th', { scope: 'col', class: 'num' }, x.name)),
      el('th', { scope: 'col', class: 'num' }, '结案'), el('th', { scope: 'col', class: 'num' }, '涉及金额'))),
    el('tbody', {}, rows.map((r) => el('tr', { dataset: { key: String(keyOf(r.bucket || {})) } },
      el('th', { scope: 'row', 'data-label': '项目' }, nameOf(keyOf(r.bucket || {}))),
      SERIES.map((x) => el('td', { class: 'num', 'data-label': x.name, dataset: { k: x.key } }, String(n(r.counters, x.key)))),
      el('td', { class: 'num', 'data-label': '结案', dataset: { k: 'closed' } }, String(n(r.counters, 'closed'))),
      el('td', { class: 'num', 'data-label': '涉及金额', dataset: { k: 'money_involved_fen' } }, fmtFen((r.counters || {}).money_involved_fen)))))));
  return el('section', { class: 'card fig-block', id: `fig-${id}` }, el('h2', {}, title),
    el('div', { class: 'chart-and-table' }, chart, tbl));
}

// Every month 1..12 shown, a month without steps as zeros.
function months(reply) {
  const by = new Map((reply.rows || []).map((r) => [Number((r.bucket || {}).month), r]));
  return Array.from({ length: 12 }, (_, i) => by.get(i + 1) || { bucket: { month: i + 1 }, counters: {} });
}

// The scorecard as the report gives it: a row per registry community, then
// any other the figures name, then the total; cells already written.
function scorecard(report) {
  const headers = report.headers || [];
  const line = (cells, cls) => el('tr', { class: cls || '' },
    el('th', { scope: 'row', 'data-label': headers[0] || '' }, cells[0] || ''),
    cells.slice(1).map((x, i) => el('td', { class: 'num', 'data-label': headers[i + 1] || '' }, x)));
  return el('section', { class: 'card', id: 'scorecard' }, el('h2', {}, '社区考评'),
    el('p', { class: 'muted' }, '案件数量：受理；案卷质量：案卷完整/结案；当事人满意度：满意与基本满意/回访'),
    el('div', { class: 'table-wrap' }, el('table', { class: 'scorecard' },
      el('caption', {}, '社区考评'),
      el('thead', {}, el('tr', {}, headers.map((h, i) => el('th', { scope: 'col', class: i ? 'num' : '' }, h)))),
      el('tbody', {}, (report.scorecard || []).map((r) => line(r.cells || [])),
        line((report.total || {}).cells || [], 'total')))));
}

export async function figuresView(main, params, query) {
  const t = router.token();
  const thisYear = Number(new Intl.DateTimeFormat('en', { timeZone: 'Asia/Shanghai', year: 'numeric' }).format(new Date()));
  const year = Number(query.get('year')) || thisYear;
  const years = [];
  for (let y = thisYear; y >= thisYear - 5; y--) years.push([String(y), `${y}年`]);
  if (!years.some(([v]) => Number(v) === year)) years.push([String(year), `${year}年`]);
  const yearSel = select(years, String(year));
  yearSel.addEventListener('change', () => router.navigate(`/figures?year=${yearSel.value}`));
  const printBtn = el('button', { type: 'button', onclick: () => window.print() }, '打印');
  const body = el('div', { id: 'figures-body' }, el('p', { class: 'muted' }, '正在读取…'));
  // The year's 台账 as an xlsx: a plain GET download with the session cookie (docs/web.md).
  const ledgerLink = el('a', { href: `/api/v1/documents/ledger?from=${year}-01-01&to=${year}-12-31`, id: 'ledger-download', download: '' }, '下载台账');
  // The year's 年度报告 as a PDF (the report below, with charts and the scorecard).
  const reportLink = el('a', { href: `/api/v1/documents/report?year=${year}`, id: 'report-download', download: '' }, '下载年度报告');
  fill(main, heading(`${year}年数据`), el('div', { class: 'toolbar no-print' }, field('年度', yearSel, { name: 'year' }), printBtn, ledgerLink, reportLink), body);
  const ask = (group_by) => call('Router', 'GetFigures', { year, group_by });
  let byMonth, byCommunity, byUnit, byKind, report;
  try {
    [byMonth, byCommunity, byUnit, byKind, report] = await Promise.all([
      ask('month'), ask('community'), ask('unit'), ask('kind'), get(`/api/v1/report?year=${year}`)]);
  } catch (e) {
    if (router.isCurrent(t)) fill(body, notice(errorText(e), 'danger'));
    return undefined;
  }
  if (!router.isCurrent(t)) return undefined;
  const unitRows = (byUnit.rows || []).slice();
  for (const id of Object.keys(units())) {
    if (!unitRows.some((r) => (r.bucket || {}).unit === id)) unitRows.push({ bucket: { unit: id }, counters: {} });
  }
  fill(body,
    el('section', { class: 'card report', id: 'report' },
      el('h2', { id: 'report-title' }, report.title || ''),
      el('div', { id: 'report-text' }, (report.sentences || []).map((x) => el('p', {}, x)))),
    block('month', '按月份', months(byMonth), (b) => Number(b.month), (m) => `${m}月`),
    block('community', '按社区', byCommunity.rows || [], (b) => b.community || '', (c) => (c ? communityName(c) : '（未填社区）')),
    block('unit', '按单位', unitRows, (b) => b.unit || '', (u) => unitName(u)),
    block('kind', '按纠纷类型', byKind.rows || [], (b) => b.kind || '', (k) => label(KIND, k)),
    scorecard(report));
  return undefined;
}
