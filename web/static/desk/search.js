// search.js - 搜索: the desk's search box and its results. The box asks
// Desk/Search (the router's search on the unit's behalf: a party's name or
// part of it, the unit's reference, a mediator, a whole ID number or phone,
// the router's access rules and access log), so a case is found by what
// people remember of it, not only among the cases this unit holds; while
// the router is away the unit daemon answers from its own copies
// (SearchReply.local). A whole case number opens the case, since the
// search does not look up ids.
//
// The text searched for stays in this page's memory, never in the URL: it
// is often a name, an ID number or a phone, and a URL lands in the
// browser's history. #/search shows the last search of this page load.

import { call } from '../common/api.js';
import * as router from '../common/router.js';
import { el, fill, table, heading, notice, errorText, field } from '../common/ui.js';
import { KIND, label, unitName, communityName } from '../common/labels.js';
import { stateBadge, deadlineEl } from '../common/casecells.js';
import { caseLink } from './common.js';

const PAGE = 20;
// A case id (core/ids.h): "<prefix>-<year>-<serial>"; the prefix has a
// letter, so a phone written 139-1234-5678 is not taken for one.
const CASE_ID = /^(?=[A-Z0-9]*[A-Z])[A-Z0-9]{1,8}-\d{4}-\d{1,18}$/;
// SearchHit.matched, in words.
const MATCHED = {
  party_name: '当事人姓名', unit_ref: '本单位编号', mediator: '调解员', id_number: '身份证号', phone: '电话',
};

let searched = '';

// The search box, for the list and the results page: submitting searches.
export function searchBox(value) {
  const input = el('input', { type: 'search', value: value || '', autocomplete: 'off',
    placeholder: '当事人姓名、本单位编号、调解员、身份证号或电话、案号' });
  const form = el('form', { class: 'toolbar search', role: 'search' },
    field('搜索', input, { name: 'q' }), el('button', { type: 'submit' }, '搜索'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (!v) return;
    if (CASE_ID.test(v.toUpperCase())) { router.navigate(`/cases/${encodeURIComponent(v.toUpperCase())}`); return; }
    searched = v;
    router.navigate('/search', router.current() === '/search');
  });
  return form;
}

function hitTable(hits) {
  return table([
    { title: '案件', render: (h) => caseLink({ id: h.id, intake: { unit_ref: h.unit_ref } }) },
    { title: '状态', render: stateBadge },
    { title: '经办单位', render: (h) => unitName(h.holder) },
    { title: '类型', render: (h) => label(KIND, h.kind) },
    { title: '社区', render: (h) => communityName(h.community) },
    { title: '匹配', render: (h) => label(MATCHED, h.matched) },
    { title: '期限', render: deadlineEl },
  ], hits, '没有找到符合的案件。');
}

export async function searchView(main) {
  const t = router.token();
  const out = el('div', { id: 'search-hits', 'aria-live': 'polite' });
  fill(main, heading('搜索'), searchBox(searched), out);
  if (!searched) { fill(out, el('p', { class: 'muted' }, '输入要找的内容后按“搜索”。')); return undefined; }
  const hits = [];
  async function more(token) {
    let r;
    try {
      r = await call('Desk', 'Search', { text: searched, page_size: PAGE, page_token: token || undefined });
    } catch (e) {
      if (router.isCurrent(t)) fill(out, notice(errorText(e), 'danger'));
      return;
    }
    if (!router.isCurrent(t)) return;
    hits.push(...(r.hits || []));
    const total = Number(r.total || 0);
    const next = r.next_page_token
      ? el('button', { type: 'button', class: 'pager' }, '更多结果') : null;
    if (next) next.addEventListener('click', () => { next.disabled = true; more(r.next_page_token); });
    fill(out,
      r.local ? notice('暂时连不上区级平台：只在本单位保存的案件中搜索，身份证号和电话须完整。', 'warn') : null,
      el('p', { class: 'muted' }, `共 ${total}${r.total_more ? '+' : ''} 件`),
      hitTable(hits), next);
  }
  await more('');
  return undefined;
}
