// health.js - 健康: what the coordinators' site can see of the system's
// health. The router answers Health/Check (serving or not and why, its
// version and start, the TLS certificates it listens with and when they
// end) and RouterAdmin/Status (each unit's last PullDeliveries - its
// daemon's liveness as the router sees it -, the deliveries waiting for
// its receipt, and the newest scheduled and manual backups in backup_dir);
// the queues are read from the router's own lists (offers waiting per
// receiving unit, overdue cases from Router/Stuck); a backup and a full
// check of the store (RouterAdmin/Backup, /Verify) can be run from here.

import { call } from '../common/api.js';
import * as router from '../common/router.js';
import { el, fill, heading, notice, errorText, table, timeEl, badge, fmtDue } from '../common/ui.js';
import { STATE, label, unitName } from '../common/labels.js';
import { allInState } from './parts.js';

const SERVING = { serving: ['正常服务', 'ok'], not_serving: ['暂停服务', 'danger'], service_unknown: ['未知服务', 'warn'], unspecified: ['未知', 'warn'] };
const MONTH = 30 * 86400000;
// A unit daemon long-polls the router all the time: no pull for this long
// means it is down or cut off.
const SILENT_MS = 5 * 60000;

function facts(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function certRow(c, now) {
  const left = Number(c.not_after_ms) - now;
  const tone = left < 0 ? 'danger' : left < MONTH ? 'warn' : 'ok';
  return { ...c, tone, text: left < 0 ? '已过期' : fmtDue(c.not_after_ms, now) };
}

let lastBackup = null; // the backup made from this page in this session

// One row of RouterAdmin/Status's units, with its tone.
function unitRow(u, now) {
  const last = Number(u.last_pull_ms || 0);
  const silent = last === 0 || now - last > SILENT_MS;
  return { ...u, last, silent, pending: Number(u.pending_deliveries || 0), oldest: Number(u.oldest_pending_ms || 0) };
}

function backupLine(title, name, ms) {
  return [title, name ? el('span', {}, timeEl(ms), ' ', el('code', {}, name)) : badge('没有', 'warn')];
}

export async function healthView(main) {
  const t = router.token();
  const routerBox = el('section', { class: 'card', id: 'health-router' }, el('h2', {}, '区级平台（mediation-router）'), el('p', { class: 'muted' }, '正在检查…'));
  const queues = el('section', { class: 'card', id: 'health-queues' }, el('h2', {}, '队列'), el('p', { class: 'muted' }, '正在读取…'));
  const unitsBox = el('section', { class: 'card', id: 'health-units' }, el('h2', {}, '各单位服务'), el('p', { class: 'muted' }, '正在读取…'));
  const backupsKept = el('div', { id: 'health-backups' }, el('p', { class: 'muted' }, '正在读取…'));
  const backupMsg = el('div', { 'aria-live': 'polite', id: 'backup-msg' });
  const verifyMsg = el('div', { 'aria-live': 'polite', id: 'verify-msg' });
  const backupBtn = el('button', { type: 'button', id: 'backup-now' }, '立即备份');
  const verifyBtn = el('button', { type: 'button', id: 'verify-now' }, '校验数据');
  const showBackup = () => fill(backupMsg, lastBackup
    ? notice(`上次备份（本页发起）：${lastBackup.when}，${lastBackup.path}，${(Number(lastBackup.bytes) / 1048576).toFixed(1)} MB，用时 ${lastBackup.took_ms} 毫秒`, 'ok')
    : null);
  backupBtn.addEventListener('click', async () => {
    backupBtn.disabled = true;
    fill(backupMsg, el('p', { class: 'muted' }, '正在备份…'));
    try {
      const r = await call('RouterAdmin', 'Backup', {});
      lastBackup = { ...r, when: new Date().toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) };
      showBackup();
      showStatus();
    } catch (e) {
      fill(backupMsg, notice(errorText(e), 'danger'));
    } finally { backupBtn.disabled = false; }
  });
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    fill(verifyMsg, el('p', { class: 'muted' }, '正在校验（数据多时需要一些时间）…'));
    try {
      const r = await call('RouterAdmin', 'Verify', { max_problems: 20 });
      const p = Number(r.problems || 0);
      fill(verifyMsg, notice(p === 0
        ? `数据完好：哈希链${r.signatures_checked ? '与签名' : ''}均校验通过（用时 ${r.took_ms} 毫秒）`
        : `发现 ${p} 个问题`, p === 0 ? 'ok' : 'danger'),
      p ? table([
        { title: '案件', render: (d) => d.case_id || '—' },
        { title: '步骤', render: (d) => String(d.seq || '') },
        { title: '问题', render: (d) => d.message },
      ], r.details || [], '') : null);
    } catch (e) {
      fill(verifyMsg, notice(errorText(e), 'danger'));
    } finally { verifyBtn.disabled = false; }
  });
  fill(main, heading('健康'), el('div', { class: 'dash-grid' }, routerBox, queues,
    el('section', { class: 'card', id: 'health-store' }, el('h2', {}, '备份与校验'),
      backupsKept, el('div', { class: 'actions' }, backupBtn, verifyBtn), backupMsg, verifyMsg),
    unitsBox));
  showBackup();

  const now = Date.now();
  call('Health', 'Check', {}).then((h) => {
    if (!router.isCurrent(t)) return;
    const [text, tone] = SERVING[h.status] || SERVING.unspecified;
    const certs = (h.certificates || []).map((c) => certRow(c, now));
    fill(routerBox, el('h2', {}, '区级平台（mediation-router）'),
      facts([
        ['状态', badge(text, tone)],
        ['说明', h.detail || ''],
        ['程序', h.server || ''],
        ['版本', h.version || ''],
        ['启动时间', timeEl(h.started_ms)],
      ]),
      el('h3', {}, '证书'),
      certs.length ? table([
        { title: '证书文件', render: (c) => c.file },
        { title: '域名', render: (c) => c.names || '—' },
        { title: '到期时间', render: (c) => timeEl(c.not_after_ms) },
        { title: '剩余', render: (c) => badge(c.text, c.tone) },
      ], certs, '') : el('p', { class: 'muted' }, '区级平台未使用 TLS 证书监听（tcp:// 或 ipc://），没有需要续期的证书。'));
  }).catch((e) => {
    if (router.isCurrent(t)) fill(routerBox, el('h2', {}, '区级平台（mediation-router）'), badge('无法连接', 'danger'), notice(errorText(e), 'danger'));
  });

  const showStatus = () => call('RouterAdmin', 'Status', {}).then((st) => {
    if (!router.isCurrent(t)) return;
    const at = Number(st.now_ms || Date.now());
    const rows = (st.units || []).map((u) => unitRow(u, at));
    fill(unitsBox, el('h2', {}, '各单位服务'),
      table([
        { title: '单位', render: (u) => u.name || unitName(u.unit) },
        { title: '最近联系', render: (u) => (u.last ? el('span', {}, timeEl(u.last), u.silent ? [' ', badge('超过 5 分钟未联系', 'warn')] : null) : badge('从未', 'warn')) },
        { title: '待签收', render: (u) => (u.pending ? badge(String(u.pending), 'warn') : '0'), class: 'num' },
        { title: '最早待签收', render: (u) => (u.oldest ? timeEl(u.oldest) : '—') },
      ], rows, '没有登记的单位', '各单位的服务（区级平台所见：最近一次取件，待签收的送达）'),
      el('p', { class: 'muted' }, '“最近联系”是单位服务最近一次向区级平台取件的时间（区级平台重启后清零）；单位离线时，其待同步的步骤会在恢复后转发。单位服务器上可运行 ',
        el('code', {}, 'mediactl --unit 单位 health'), ' 查看详情。'));
    fill(backupsKept, st.backup_dir_set
      ? facts([
        backupLine('上次定时备份', st.last_scheduled_backup, st.last_scheduled_backup_ms),
        backupLine('上次手动备份', st.last_manual_backup, st.last_manual_backup_ms),
        ['保留份数', `每种各 ${st.backups_kept || 0} 份`],
      ])
      : notice('区级平台未配置 backup_dir：不能备份。', 'warn'));
  }).catch((e) => {
    if (router.isCurrent(t)) {
      fill(unitsBox, el('h2', {}, '各单位服务'), notice(errorText(e), 'danger'));
      fill(backupsKept, null);
    }
  });
  showStatus();

  try {
    const [offers, stuck] = await Promise.all([allInState('transfer'), call('Router', 'Stuck', { per_group: 1 })]);
    if (!router.isCurrent(t)) return undefined;
    const waiting = new Map();
    for (const c of offers) {
      const w = waiting.get(c.offered_to) || { unit: c.offered_to, n: 0, oldest: Infinity };
      w.n += 1;
      w.oldest = Math.min(w.oldest, Number(c.state_entered_ms));
      waiting.set(c.offered_to, w);
    }
    const groups = stuck.groups || [];
    fill(queues, el('h2', {}, '队列'),
      table([
        { title: '接收单位', render: (w) => unitName(w.unit) },
        { title: '待接收', render: (w) => String(w.n), class: 'num' },
        { title: '最早发出', render: (w) => timeEl(w.oldest) },
      ], [...waiting.values()], '没有待接收的流转', '待接收的流转（按接收单位）'),
      table([
        { title: '状态', render: (g) => label(STATE, g.state) },
        { title: '单位', render: (g) => unitName(g.unit) },
        { title: '逾期', render: (g) => String(g.count), class: 'num' },
      ], groups, '没有逾期案件', '逾期案件（按状态与单位）'));
  } catch (e) {
    if (router.isCurrent(t)) fill(queues, el('h2', {}, '队列'), notice(errorText(e), 'danger'));
  }
  return undefined;
}
