// The broadcast's progress over time: an inline SVG of the cumulative
// sent / delivered / read / unsubscribed counts from the `timeseries` field
// (one point per minute in which something happened), with a table of the
// same figures for screen readers.

import { h } from './ui.js';

export const SERIES = [
  ['sent', 'Sent'],
  ['delivered', 'Delivered'],
  ['read', 'Read'],
  ['unsubscribed', 'Unsubscribed'],
];

const W = 640;
const H = 240;
const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

/** Running totals per series, one row per point (oldest first). */
export function cumulative(points) {
  const total = Object.fromEntries(SERIES.map(([k]) => [k, 0]));
  return points.map((p) => {
    for (const [k] of SERIES) total[k] += p[k];
    return { at_ms: p.at_ms, ...total };
  });
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The chart of `timeseries` ({bucket_ms, points}). */
export function progressChart(timeseries) {
  const rows = cumulative(timeseries.points);
  if (rows.length === 0) {
    return h('p.hint', { id: 'chart' }, 'Nothing sent yet: the chart starts with the first send.');
  }
  // One bucket before the first point starts every line at zero.
  const start = rows[0].at_ms - timeseries.bucket_ms;
  const end = rows[rows.length - 1].at_ms;
  const top = Math.max(1, ...rows.map((r) => r.sent), ...rows.map((r) => r.delivered));
  const x = (ms) => PAD.left + ((ms - start) / Math.max(1, end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const lines = SERIES.map(([k, label]) => {
    const pts = [[start, 0], ...rows.map((r) => [r.at_ms, r[k]])];
    return h('g', { class: `series s-${k}` },
      h('polyline', { points: pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ') }),
      rows.map((r) => h('circle', { cx: x(r.at_ms).toFixed(1), cy: y(r[k]).toFixed(1), r: 3 },
        h('title', {}, `${label}: ${r[k]} by ${clock(r.at_ms)}`))));
  });
  const ticks = [0, Math.round(top / 2), top].filter((v, i, a) => a.indexOf(v) === i);
  const svg = h('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart',
  },
  h('title', { id: 'chart-title' }, 'Sent, delivered, read and unsubscribed over time (running totals)'),
  h('g', { class: 'axis' },
    h('line', { x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }),
    h('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom }),
    ticks.map((v) => h('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v))),
    h('text', { x: PAD.left, y: H - 8 }, clock(start)),
    h('text', { x: W - PAD.right, y: H - 8, 'text-anchor': 'end' }, clock(end))),
  lines);
  const legend = h('ul.legend', {}, SERIES.map(([k, label]) => h('li', { class: `s-${k}` }, label)));
  const table = h('details', {},
    h('summary', {}, 'Figures per minute'),
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Minute'),
        SERIES.map(([, label]) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, timeseries.points.map((p) => h('tr', {}, h('td', {}, clock(p.at_ms)),
        SERIES.map(([k]) => h('td', {}, String(p[k]))))))));
  return h('figure', { id: 'chart', 'data-points': rows.length }, svg, legend, table);
}
