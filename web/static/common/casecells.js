// casecells.js - a case's state badge and its deadline cell (red when
// overdue), one way for every page that shows a case or a list of cases (a
// unit's desk, the coordinators' dashboard), so the two say the same thing
// for the same case. A closed or withdrawn case has no running deadline.

import { el, badge, fmtTime, fmtDue } from './ui.js';
import { STATE, STATE_TONE, label } from './labels.js';

const FINAL = new Set(['closed', 'withdrawn']);

export function stateBadge(c) { return badge(label(STATE, c.state), STATE_TONE[c.state] || 'info'); }

function isOverdue(c, now = Date.now()) {
  return !!c.deadline_ms && !FINAL.has(c.state) && Number(c.deadline_ms) < now;
}

export function deadlineEl(c) {
  if (!c.deadline_ms || FINAL.has(c.state)) return el('span', { class: 'muted' }, '—');
  const over = isOverdue(c);
  return el('span', { class: over ? 'overdue deadline' : 'deadline' },
    el('time', { datetime: new Date(Number(c.deadline_ms)).toISOString() }, fmtTime(c.deadline_ms)),
    ' ', el('span', { class: over ? '' : 'muted' }, `（${fmtDue(c.deadline_ms)}）`));
}
