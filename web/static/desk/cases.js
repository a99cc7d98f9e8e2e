// cases.js - 在办案件: the cases this unit holds, from its own copy (so the
// list works while the router is away). Filters by state, kind, community,
// mediator and overdue, sorted by deadline, paged with the total. The
// search box above it is search.js's (Desk/Search: names, references,
// mediators, whole ID numbers and phones, beyond the cases held here). The unit daemon filters, sorts
// and pages (Desk/ListCases asks for one page: a unit with 10,000 cases
// does not fit in one reply); this page asks for page N at cursor
// (N-1)*PAGE. The filters live in the URL (#/cases?state=mediation&page=2),
// so a filtered list can be bookmarked.

import { call } from '../common/api.js';
import * as events from '../common/events.js';
import * as router from '../common/router.js';
import { el, fill, table, heading, notice, errorText, field, select, badge } from '../common/ui.js';
import { STATE, KIND, options, label, communityName, communities } from '../common/labels.js';
import { caseLink, partyNames } from './common.js';
import { searchBox } from './search.js';
import { stateBadge, deadlineEl } from '../common/casecells.js';

const PAGE = 20;

function mediators(c) {
  return (c.team || []).filter((m) => !m.released_ms).map((m) => m.person);
}

export async function casesView(main, params, query) {
  const q = {
    state: query.get('state') || '', kind: query.get('kind') || '', community: query.get('community') || '',
    mediator: query.get('mediator') || '', overdue: query.get('overdue') === '1',
    page: Math.max(1, Number(query.get('page')) || 1),
  };
  const out = el('div');
  fill(main, heading('在办案件'), searchBox(), out);
  let r;
  const ask = (page) => call('Desk', 'ListCases', {
    state: q.state || undefined, kind: q.kind || undefined, community: q.community || undefined,
    mediator: q.mediator || undefined, overdue_only: q.overdue || undefined,
    page_size: PAGE, cursor: page > 1 ? String((page - 1) * PAGE) : undefined,
  });
  try {
    r = await ask(q.page);
    // A bookmarked page past the end (fewer cases now): the last page.
    const last = Math.max(1, Math.ceil(Number(r.total || 0) / PAGE));
    if (q.page > last) { q.page = last; r = await ask(last); }
  } catch (e) {
    fill(out, notice(errorText(e), 'danger'));
    return undefined;
  }
  const total = Number(r.total || 0), held = Number(r.held || 0);

  const setQuery = (patch) => {
    const next = { ...q, ...patch };
    const u = new URLSearchParams();
    if (next.state) u.set('state', next.state);
    if (next.kind) u.set('kind', next.kind);
    if (next.community) u.set('community', next.community);
    if (next.mediator) u.set('mediator', next.mediator);
    if (next.overdue) u.set('overdue', '1');
    if (next.page > 1) u.set('page', String(next.page));
    const s = u.toString();
    router.navigate('/cases' + (s ? '?' + s : ''), true);
  };

  const names = r.mediators || [];
  const comms = Object.keys(communities());
  const fState = field('状态', select(options(STATE, '全部'), q.state));
  const fKind = field('类型', select(options(KIND, '全部'), q.kind));
  const fComm = field('社区', select([['', '全部'], ...comms.map((id) => [id, communityName(id)])], q.community));
  const fMed = field('调解员', select([['', '全部'], ...names.map((n) => [n, n])], q.mediator));
  const over = el('input', { type: 'checkbox' });
  over.checked = q.overdue;
  const fOver = el('div', { class: 'field check' }, el('label', {}, over, ' 只看逾期'));
  fState.input.addEventListener('change', () => setQuery({ state: fState.input.value, page: 1 }));
  fKind.input.addEventListener('change', () => setQuery({ kind: fKind.input.value, page: 1 }));
  fComm.input.addEventListener('change', () => setQuery({ community: fComm.input.value, page: 1 }));
  fMed.input.addEventListener('change', () => setQuery({ mediator: fMed.input.value, page: 1 }));
  over.addEventListener('change', () => setQuery({ overdue: over.checked, page: 1 }));

  const pages = Math.max(1, Math.ceil(total / PAGE));
  const page = Math.min(q.page, pages);
  const shown = r.cases || [];
  const prev = el('button', { type: 'button', disabled: page <= 1 }, '上一页');
  const next = el('button', { type: 'button', disabled: page >= pages }, '下一页');
  prev.addEventListener('click', () => setQuery({ page: page - 1 }));
  next.addEventListener('click', () => setQuery({ page: page + 1 }));

  fill(out,
    el('div', { class: 'toolbar' }, fState, fKind, fComm, fMed, fOver,
      // The unit's 台账 (its cases, of the community chosen) as an xlsx: a plain GET download.
      el('a', { href: `/api/v1/documents/ledger${q.community ? `?community=${encodeURIComponent(q.community)}` : ''}`, id: 'ledger-download', download: '' }, '导出台账')),
    table([
      { title: '案件', render: (lc) => [caseLink(lc.case_record), lc.stale || lc.queued_steps ? [' ', badge('待同步', 'warn')] : null] },
      { title: '状态', render: (lc) => stateBadge(lc.case_record) },
      { title: '类型', render: (lc) => label(KIND, lc.case_record.intake && lc.case_record.intake.kind) },
      { title: '当事人', render: (lc) => partyNames(lc.case_record) },
      { title: '社区', render: (lc) => communityName(lc.case_record.intake && lc.case_record.intake.community) },
      { title: '调解员', render: (lc) => mediators(lc.case_record).join('、') },
      { title: '期限', render: (lc) => deadlineEl(lc.case_record) },
    ], shown, held ? '没有符合条件的案件。' : '本单位目前没有在办案件。', `共 ${total} 件${total !== held ? `（全部 ${held} 件）` : ''}`),
    pages > 1 ? el('div', { class: 'pager' }, prev, el('span', {}, `第 ${page}/${pages} 页，共 ${total} 件`), next) : null);

  const unsubscribe = events.subscribe((ch) => { if (ch.reset || ch.case_ids.length) router.refresh(); });
  return unsubscribe;
}
