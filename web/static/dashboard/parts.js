// parts.js - pieces the dashboard's views share: links to cases, and reading
// every open case from the router (Router/ListCases a page at a time) for
// the overview's counts, since the contract has no count query. A case's
// state badge and deadline are common/casecells.js's (the desk's too).

import { call } from '../common/api.js';
import { el } from '../common/ui.js';

export const OPEN_STATES = ['intake', 'transfer', 'mediation', 'feedback', 'litigation'];
const PAGE = 500; // the router's default page_size_max ([limits], core/config_keys.c)

export function caseLink(id) {
  return el('a', { href: `#/cases/${encodeURIComponent(id)}` }, id);
}

// The page size asked for: PAGE, or the router's own default (0) once a
// router configured with a lower [limits] page_size_max refused PAGE.
let pageSize = PAGE;

// Every case in one state, all pages (summaries only).
export async function allInState(state) {
  const out = [];
  let cursor = '';
  for (;;) {
    let r;
    const asked = pageSize; // the states are read in parallel: each judges its own request
    try {
      r = await call('Router', 'ListCases', { state, page_size: asked, cursor });
    } catch (e) {
      if (e.status !== 400 || asked === 0 || !/page_size/.test(e.message)) throw e;
      pageSize = 0; // the same page again at the router's size
      continue;
    }
    out.push(...(r.cases || []));
    cursor = r.next_cursor || '';
    if (!cursor) return out;
  }
}

// The open cases (not closed or withdrawn), the states read in parallel.
export async function openCases() {
  const lists = await Promise.all(OPEN_STATES.map(allInState));
  return lists.flat();
}

// Start of today in Beijing time, as Unix ms.
export function todayStartMs(now = Date.now()) {
  const SH = 8 * 3600000;
  return Math.floor((now + SH) / 86400000) * 86400000 - SH;
}

// "2 天 3 小时" for a waiting time.
export function fmtWait(ms) {
  const h = Math.floor(Math.max(0, ms) / 3600000);
  return h >= 24 ? `${Math.floor(h / 24)} 天 ${h % 24} 小时` : `${h} 小时`;
}
