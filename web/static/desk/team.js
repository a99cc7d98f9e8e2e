// team.js - 团队: the unit's roster (mediators, counsellors, lawyers) with how
// many cases each is on now, so work can be shared fairly.

import { call } from '../common/api.js';
import { el, fill, table, heading, notice, errorText } from '../common/ui.js';
import { TEAM_ROLE, label } from '../common/labels.js';

export async function teamView(main) {
  const out = el('div');
  fill(main, heading('团队'), out);
  try {
    const r = await call('Desk', 'Roster', {});
    const members = (r.members || []).slice().sort((a, b) => a.active_cases - b.active_cases);
    const max = Math.max(1, ...members.map((m) => m.active_cases));
    fill(out, table([
      { title: '姓名', render: (m) => m.person },
      { title: '角色', render: (m) => label(TEAM_ROLE, m.role) },
      { title: '在办案件', class: 'num', render: (m) => String(m.active_cases) },
      { title: '工作量', render: (m) => el('meter', { min: 0, max, value: m.active_cases, 'aria-label': `${m.person} 在办 ${m.active_cases} 件` }) },
    ], members, '本单位的名册为空（在配置文件的 roster 中登记）。', `共 ${members.length} 人`));
  } catch (e) {
    fill(out, notice(errorText(e), 'danger'));
  }
  return undefined;
}
