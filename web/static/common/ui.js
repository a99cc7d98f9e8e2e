// ui.js - small DOM helpers every view uses, so pages look and behave alike:
// el() builds elements (text is always set as text, never parsed as HTML,
// so nothing a case carries can inject markup), tables, form fields with an
// error slot, badges, and dates and money as people here read them
// (Asia/Shanghai, 万元/元).

// el('div', {class: 'x', onclick: fn, dataset: {id: 1}}, child, 'text', ...)
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces an element's content.
export function fill(e, ...children) { e.replaceChildren(); append(e, children); return e; }

const dateFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hour12: false,
});
const dayFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
});

// "2026/12/03 13:45" in Beijing time; "" for 0 (unset, as the contract says).
export function fmtTime(ms) { return ms ? dateFmt.format(new Date(Number(ms))) : ''; }
export function fmtDay(ms) { return ms ? dayFmt.format(new Date(Number(ms))) : ''; }

// A <time> element with the machine-readable instant.
export function timeEl(ms, cls) {
  if (!ms) return el('span', { class: 'muted' }, '—');
  return el('time', { datetime: new Date(Number(ms)).toISOString(), class: cls }, fmtTime(ms));
}

// Relative, for deadlines: "还剩 5 小时" / "已逾期 2 天".
export function fmtDue(ms, now = Date.now()) {
  if (!ms) return '';
  const d = Number(ms) - now;
  const abs = Math.abs(d);
  const h = Math.round(abs / 3600000);
  const span = h >= 48 ? `${Math.round(h / 24)} 天` : h >= 1 ? `${h} 小时` : `${Math.max(1, Math.round(abs / 60000))} 分钟`;
  return d < 0 ? `已逾期 ${span}` : `还剩 ${span}`;
}

// Money in integer fen -> "1,200.00 元".
export function fmtFen(fen) {
  const n = Number(fen || 0);
  return (n / 100).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + ' 元';
}

// tone: 'info' | 'ok' | 'warn' | 'danger' | 'muted'
export function badge(text, tone) { return el('span', { class: `badge ${tone || 'info'}` }, text); }

// columns: [{title, render(row) -> node|text, class?}]; rows: array.
// empty: what to say when there are no rows.
export function table(columns, rows, empty, caption) {
  if (!rows.length) return el('p', { class: 'empty' }, empty || '暂无数据');
  return el('div', { class: 'table-wrap' },
    el('table', {},
      caption ? el('caption', {}, caption) : null,
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', class: c.class }, c.title)))),
      el('tbody', {}, rows.map((r) => el('tr', {}, columns.map((c) => el('td', { class: c.class, 'data-label': c.title }, c.render(r))))))));
}

let fieldSeq = 0;

// A labelled form field with a hint and an error slot. input is an element
// (input/select/textarea); its id, aria-describedby and name are set here.
// Returns the wrapper; field.setError(text) shows or clears the message.
export function field(label, input, opts = {}) {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  if (opts.name) input.name = opts.name;
  if (opts.required) { input.required = true; input.setAttribute('aria-required', 'true'); }
  const err = el('p', { class: 'field-error', id: `${id}-err`, role: 'alert', hidden: true });
  const hint = opts.hint ? el('p', { class: 'hint', id: `${id}-hint` }, opts.hint) : null;
  input.setAttribute('aria-describedby', [hint && hint.id, err.id].filter(Boolean).join(' '));
  const w = el('div', { class: 'field' + (opts.wide ? ' wide' : '') },
    el('label', { for: id }, label, opts.required ? el('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input, hint, err);
  w.input = input;
  w.setError = (text) => {
    err.textContent = text || '';
    err.hidden = !text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
  };
  return w;
}

// <select> from [[value, label], ...]; the first may be ['', '请选择'].
export function select(options, value) {
  const s = el('select', {}, options.map(([v, l]) => el('option', { value: v }, l)));
  if (value !== undefined) s.value = value;
  return s;
}

// A message box for an error (ApiError or any Error) or a notice.
export function notice(text, tone) {
  return el('p', { class: `notice ${tone || 'info'}`, role: tone === 'danger' ? 'alert' : 'status' }, text);
}

export function errorText(e) {
  if (!e) return '';
  if (e.status === 0) return e.message;
  return e.message || e.code || String(e);
}

// The site-wide one-line banner (router unreachable and the like); null hides it.
export function banner(text, tone) {
  const b = document.getElementById('banner');
  if (!b) return;
  if (!text) { b.hidden = true; b.textContent = ''; return; }
  b.className = `banner ${tone || 'warn'}`;
  b.textContent = text;
  b.hidden = false;
}

// Sets the document title and returns an <h1>.
export function heading(text, ...extra) {
  document.title = `${text} · 矛盾纠纷调处`;
  return el('h1', {}, text, ...extra);
}

// A button that disables itself while its async action runs.
export function actionButton(label, action, cls) {
  const b = el('button', { type: 'button', class: cls || '' }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await action(); } finally { b.disabled = false; }
  });
  return b;
}

// Times typed by people are Beijing time whatever the browser's zone: a
// datetime-local value "2026-12-03T09:30" <-> Unix ms (UTC+8, no DST).
const SHANGHAI_MS = 8 * 3600000;
export function parseShanghai(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?$/.exec(value || '');
  if (!m) return 0;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0)) - SHANGHAI_MS;
}
export function shanghaiInput(ms, dateOnly) {
  const s = new Date(Number(ms) + SHANGHAI_MS).toISOString();
  return dateOnly ? s.slice(0, 10) : s.slice(0, 16);
}

// "1,200.50" 元 typed -> integer fen, or null when it is not an amount.
export function parseYuan(text) {
  const t = String(text || '').replace(/[,，\s]/g, '');
  if (t === '') return 0;
  if (!/^\d{1,12}(\.\d{1,2})?$/.test(t)) return null;
  const [y, f = ''] = t.split('.');
  return Number(y) * 100 + Number((f + '00').slice(0, 2));
}
