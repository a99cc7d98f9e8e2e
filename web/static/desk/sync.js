// sync.js - 待同步: what the unit's outbox still holds for the router, and the
// conflicts: steps queued while the router was away that it refused when
// they were forwarded (another unit acted first, the case moved on...).
// Each conflict is shown with the router's reason until someone dismisses it.

import { call } from '../common/api.js';
import * as events from '../common/events.js';
import * as router from '../common/router.js';
import { el, fill, table, heading, notice, errorText, timeEl, actionButton } from '../common/ui.js';
import { ACTION, label } from '../common/labels.js';
import { desk, refreshSync } from './desk.js';

export async function syncView(main) {
  const out = el('div');
  fill(main, heading('待同步'), out);
  const r = await refreshSync();
  if (!r) {
    fill(out, notice('无法读取本单位的待同步队列。', 'danger'));
    return undefined;
  }
  const conflicts = r.conflicts || [];
  fill(out,
    el('p', { class: 'pending' }, desk.pending
      ? `${desk.pending} 个步骤已在本单位记录，等待同步到区级平台；连通后会自动按顺序同步。`
      : '所有步骤都已同步到区级平台。'),
    el('h2', {}, '同步时被拒绝的步骤'),
    table([
      { title: '案件', render: (x) => el('a', { href: `#/cases/${encodeURIComponent(x.action.case_ref)}` }, x.action.case_ref) },
      { title: '步骤', render: (x) => label(ACTION, x.action.kind) },
      { title: '原因', render: (x) => x.message || x.code },
      { title: '记录时间', render: (x) => timeEl(x.queued_ms) },
      { title: '被拒时间', render: (x) => timeEl(x.refused_ms) },
      { title: '', render: (x) => actionButton('知道了', async () => {
        try {
          await call('Desk', 'DismissConflict', { outbox_seq: x.outbox_seq });
          router.refresh();
        } catch (e) {
          out.prepend(notice(errorText(e), 'danger'));
        }
      }) },
    ], conflicts, '没有被拒绝的步骤。'));
  const unsubscribe = events.subscribe(() => router.refresh());
  return unsubscribe;
}
