// casefile.js - the case file (案卷) as a timeline, one way for every page
// that shows one (a unit's case page, the coordinators' case page): each
// step with its unit, person and time, what it carried, and each signed
// receipt (签收). It draws exactly the events the service returned to this
// reader, masked as the service masked them.

import { el, timeEl, fmtFen, fmtTime } from './ui.js';
import { TEAM_ROLE, ACTION, STATE, OUTCOME, SATISFACTION, COURT_RESULT, label, unitName } from './labels.js';

export function actorText(a) {
  if (!a) return '';
  const who = a.kind === 'coordinator' ? `协调员 ${a.id}` : a.kind === 'system' ? '系统' : unitName(a.id);
  return a.person ? `${who} · ${a.person}` : who;
}

export function eventDetail(ev) {
  const a = ev.action || {};
  const bits = [];
  if (a.to_unit && a.kind === 'transfer') bits.push(`至 ${unitName(a.to_unit)}`);
  if (a.member) bits.push(`${a.member.person}（${label(TEAM_ROLE, a.member.role)}）`);
  if (a.session) bits.push(`${fmtTime(a.session.held_ms)} ${a.session.note || ''}`);
  if (a.outcome) bits.push(`${label(OUTCOME, a.outcome.kind)}${a.outcome.agreed_amount_fen ? ' ' + fmtFen(a.outcome.agreed_amount_fen) : ''} ${a.outcome.summary || ''}`);
  if (a.court_result) bits.push(`${label(COURT_RESULT, a.court_result.kind)} ${a.court_result.summary || ''}`);
  if (a.feedback) bits.push(`${label(SATISFACTION, a.feedback.satisfaction)} ${a.feedback.note || ''}`);
  if (a.reason) bits.push(`理由：${a.reason}`);
  return bits.join('；');
}

export function timeline(events, emptyText) {
  if (!events.length) return el('p', { class: 'muted' }, emptyText);
  return el('ol', { class: 'timeline' }, events.map((ev) => {
    const a = ev.action || {};
    if (a.kind === 'record_receipt') {
      const r = a.receipt || {};
      return el('li', { class: 'receipt' },
        el('div', {}, el('strong', {}, '签收'), ' ', unitName(r.unit), ` 已签收第 ${r.event_seq} 步`),
        el('div', { class: 'meta' }, timeEl(r.received_ms), ' · 单位签名'));
    }
    const change = ev.from_state !== ev.to_state ? `${label(STATE, ev.from_state)} → ${label(STATE, ev.to_state)}` : '';
    return el('li', {},
      el('div', {}, el('strong', {}, label(ACTION, a.kind)), change ? el('span', { class: 'muted' }, `　${change}`) : null),
      eventDetail(ev) ? el('div', {}, eventDetail(ev)) : null,
      el('div', { class: 'meta' }, `#${ev.seq} · `, timeEl(ev.at_ms), ` · ${actorText(ev.actor)}`));
  }));
}

