// common.js - pieces the desk's views share: links to cases, the parties'
// names, the step-result message of a Desk reply (DeskReply.steps: the
// operator's step and the unit policy's), and the calls that take a step. A
// case's state badge and deadline are common/casecells.js's (the
// dashboard's too).

import { call } from '../common/api.js';
import { el } from '../common/ui.js';
import { ACTION, TEAM_ROLE, label, unitName } from '../common/labels.js';
import { noteRouter, refreshSync, refreshInboxBadge } from './desk.js';

export function caseLink(c) {
  const id = c.id || (c.intake && c.intake.unit_ref) || '';
  return el('a', { href: `#/cases/${encodeURIComponent(id)}` }, c.id || `${id}（未同步）`);
}

// The parties' names, as the service gave them.
export function partyNames(c) {
  return ((c.intake && c.intake.parties) || []).map((p) => p.name).filter(Boolean).join('、');
}

// What one step of a DeskReply did, in words: "已按规则流转至宋大姐调解工作室".
export function stepText(s, policy) {
  const a = s.action || {};
  const by = policy ? '已按规则' : '已';
  if (s.disposition === 'refused') {
    return `${policy ? '规则' : ''}${label(ACTION, a.kind)}未能执行：${s.message || s.code}`;
  }
  let what;
  switch (a.kind) {
    case 'transfer': what = `流转至${unitName(a.to_unit)}`; break;
    case 'assign': what = `指派${a.member ? `${a.member.person}（${label(TEAM_ROLE, a.member.role)}）` : ''}`; break;
    case 'accept': what = '接收'; break;
    case 'start_mediation': what = '开始调处'; break;
    default: what = label(ACTION, a.kind);
  }
  return `${by}${what}${s.disposition === 'queued' ? '（待同步）' : ''}`;
}

// Takes one step (Desk/Act); returns the DeskReply. Router reachability and
// the badges follow the reply.
export async function act(action) {
  const r = await call('Desk', 'Act', { action });
  afterReply(r);
  return r;
}

export function afterReply(r) {
  const steps = r.steps || [];
  const queued = steps.some((s) => s.disposition === 'queued');
  noteRouter(r.stale || queued, r.router_problem);
  refreshSync();
  refreshInboxBadge();
}

// The first refused step of a reply, as an Error to show, or null.
export function refusal(r) {
  const s = (r.steps || [])[0];
  if (s && s.disposition === 'refused') {
    const e = new Error(s.message || s.code);
    e.code = s.code;
    return e;
  }
  return null;
}
