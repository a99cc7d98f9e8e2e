// chart.js - bar charts drawn as SVG by hand (no library: nothing to
// package, nothing for the CSP to allow). Grouped vertical bars, one group
// per category (a month, a community...), one bar per series, with the
// values as text on the bars' <title> for screen readers and hover; the
// table beside every chart carries the exact numbers.

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...kids) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

// A tick step giving about 4 lines: 1, 2, 5 x 10^n.
function niceStep(max) {
  if (max <= 4) return 1;
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// categories: ['1月', ...]; series: [{name, cls, values: [n, ...]}]; title for aria.
export function barChart(title, categories, series) {
  const W = 640;
  const H = 240;
  const left = 40;
  const bottom = 40;
  const top = 12;
  const plotH = H - top - bottom;
  const plotW = W - left - 8;
  const max = Math.max(1, ...series.flatMap((x) => x.values.map(Number)));
  const step = niceStep(max);
  const yMax = Math.ceil(max / step) * step;
  const y = (v) => top + plotH - (plotH * v) / yMax;
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.max(2, Math.min(28, (groupW - 6) / series.length));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title, preserveAspectRatio: 'xMidYMid meet' });
  svg.append(s('title', {}, title));
  for (let v = 0; v <= yMax; v += step) {
    svg.append(s('line', { x1: left, x2: W - 8, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'grid' }));
    svg.append(s('text', { x: left - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, v));
  }
  categories.forEach((c, i) => {
    const gx = left + i * groupW + (groupW - barW * series.length) / 2;
    series.forEach((ser, k) => {
      const v = Number(ser.values[i] || 0);
      const rect = s('rect', { x: gx + k * barW, y: y(v), width: Math.max(1, barW - 1), height: Math.max(0, y(0) - y(v)), class: `bar ${ser.cls}` });
      rect.append(s('title', {}, `${c} ${ser.name}：${v}`));
      svg.append(rect);
    });
    const label = c.length > 6 ? c.slice(0, 6) + '…' : c;
    svg.append(s('text', { x: left + i * groupW + groupW / 2, y: H - bottom + 16, class: 'cat', 'text-anchor': 'middle' }, label));
  });
  const legend = document.createElement('ul');
  legend.className = 'legend';
  for (const ser of series) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch ${ser.cls}`;
    sw.setAttribute('aria-hidden', 'true');
    li.append(sw, ser.name);
    legend.append(li);
  }
  const fig = document.createElement('figure');
  fig.className = 'chart-fig';
  fig.append(svg, legend);
  return fig;
}
