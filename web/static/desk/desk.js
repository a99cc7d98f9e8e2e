// desk.js - a unit's desk: what the staff of a studio or a community
// workstation work in every day. Registers the desk's views with the router
// (待接收, 在办案件 and its 搜索, 新受理, the case page, 团队, 待同步) and
// keeps the two things every view shares up to date: the inbox badge (live,
// from common/events.js) and the router's reachability (one calm line in
// the banner while the desk works from the unit's copy).

import * as router from '../common/router.js';
import * as events from '../common/events.js';
import { call } from '../common/api.js';
import { banner } from '../common/ui.js';
import { inboxView } from './inbox.js';
import { casesView } from './cases.js';
import { searchView } from './search.js';
import { intakeView } from './intake.js';
import { caseView } from './case.js';
import { teamView } from './team.js';
import { syncView } from './sync.js';

export const desk = { session: null, unit: '', offline: false, problem: '', pending: 0, conflicts: 0 };

// Views call this with what a reply said about the router: stale (the
// router could not be reached) and router_problem (why, when known).
export function noteRouter(stale, problem) {
  desk.offline = !!stale;
  desk.problem = problem || '';
  drawBanner();
  if (stale) refreshSync();
}

function drawBanner() {
  const parts = [];
  if (desk.offline) parts.push('暂时连不上区级平台，正在使用本单位的副本工作，办理的步骤会在恢复后自动同步。');
  if (desk.pending > 0) parts.push(`${desk.pending} 个步骤待同步。`);
  if (desk.conflicts > 0) parts.push(`${desk.conflicts} 个步骤同步时被拒绝，请到“待同步”查看。`);
  banner(parts.length ? parts.join(' ') : null, desk.conflicts > 0 ? 'danger' : 'warn');
}

// Reads the outbox's state (steps waiting, steps refused on forwarding).
export async function refreshSync() {
  try {
    const r = await call('Desk', 'Conflicts', {});
    const before = desk.pending;
    desk.pending = Number(r.outbox_pending || 0);
    desk.conflicts = (r.conflicts || []).length;
    // Everything queued went through: the router is back.
    if (desk.pending === 0 && before > 0) desk.offline = false;
    const b = document.getElementById('sync-count');
    if (b) { b.textContent = String(desk.pending + desk.conflicts); b.hidden = desk.pending + desk.conflicts === 0; }
    drawBanner();
    return r;
  } catch (e) {
    return null;
  }
}

export async function refreshInboxBadge() {
  try {
    const r = await call('Desk', 'Inbox', {});
    const n = (r.cases || []).length;
    const b = document.getElementById('inbox-count');
    if (b) { b.textContent = String(n); b.hidden = n === 0; b.setAttribute('aria-label', `${n} 件待接收`); }
    return r;
  } catch (e) {
    return null;
  }
}

export async function init(session) {
  desk.session = session;
  desk.unit = session.site;
  router.route('/', () => router.navigate('/inbox', true));
  router.route('/inbox', inboxView);
  router.route('/cases', casesView);
  router.route('/search', searchView);
  router.route('/cases/:id', caseView);
  router.route('/intake', intakeView);
  router.route('/team', teamView);
  router.route('/sync', syncView);
  events.subscribe((ch) => {
    if (ch.inbox_changed) refreshInboxBadge();
    refreshSync();
  });
  events.start();
  refreshInboxBadge();
  refreshSync();
  return {
    home: '/inbox',
    nav: [
      { path: '/inbox', label: '待接收', badgeId: 'inbox-count' },
      { path: '/cases', label: '在办案件' },
      { path: '/intake', label: '新受理' },
      { path: '/team', label: '团队' },
      { path: '/sync', label: '待同步', badgeId: 'sync-count' },
    ],
  };
}
