// SVG plots, no libraries: line plots (training curves) and dot plots
// (PGR per seed). Each returns a <figure> holding an <svg class="plot">
// with axes, ticks, axis labels and a title, and an HTML legend.
// Lines are <path class="series">; every label is a text node.

import { el, svg } from './dom.js';

const WIDTH = 560;
const HEIGHT = 280;
const MARGIN = { left: 64, right: 18, top: 30, bottom: 46 };
/** Points a series is drawn with at most; longer ones keep min and max per bucket. */
const MAX_DRAWN = 2000;
/** Series with at most this many points also get a marker (with a tooltip) per point. */
const MAX_MARKED = 60;

/** Colours for series, in order; the 11th series reuses the first with a dash. */
export const PALETTE = [
  '#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd',
  '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f',
];

// [min, max] of a list of numbers (a loop: spreading 100k values into Math.min overflows the stack).
function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function style(i) {
  return {
    stroke: PALETTE[i % PALETTE.length],
    dash: i >= PALETTE.length ? '6 3' : null,
  };
}

/** 1, 2 or 5 times a power of ten, near `span / count`. */
function niceStep(span, count) {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/**
 * Tick positions covering [lo, hi], about `count` of them, at round values;
 * returns the widened domain and the ticks.
 */
export function niceTicks(lo, hi, count = 5) {
  let a = lo;
  let b = hi;
  if (!(b > a)) {
    const pad = a === 0 ? 1 : Math.abs(a) * 0.1;
    a -= pad;
    b += pad;
  }
  const step = niceStep(b - a, count);
  const start = Math.floor(a / step) * step;
  const end = Math.ceil(b / step) * step;
  const ticks = [];
  for (let k = 0; start + k * step <= end + step * 1e-9; k += 1) ticks.push(start + k * step);
  return { lo: start, hi: end, step, ticks };
}

/** A tick label with as many decimals as the step needs. */
export function tickLabel(v, step) {
  const big = Math.max(Math.abs(v), step);
  if (big >= 1e6 || (big > 0 && big < 1e-4)) return v === 0 ? '0' : v.toExponential(1);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 10));
}

// Keeps at most MAX_DRAWN points: in order, the lowest and highest of each bucket.
function thin(points) {
  if (points.length <= MAX_DRAWN) return points;
  const size = Math.ceil(points.length / (MAX_DRAWN / 2));
  const out = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size).filter(([, y]) => y !== null);
    if (bucket.length === 0) {
      out.push(points[i]);
      continue;
    }
    let min = bucket[0];
    let max = bucket[0];
    for (const p of bucket) {
      if (p[1] < min[1]) min = p;
      if (p[1] > max[1]) max = p;
    }
    if (min === max) out.push(min);
    else out.push(...(min[0] <= max[0] ? [min, max] : [max, min]));
  }
  return out;
}

/** Longest title and axis label drawn; the full text stays in the plot's <title>. */
const MAX_LABEL = { title: 60, x: 60, y: 30 };

function clip(text, n) {
  const s = String(text);
  return s.length > n ? `${s.slice(0, n - 1)}\u2026` : s;
}

// The frame: scales, grid, ticks, axes, axis labels and title.
function frame({ title, xLabel, yLabel, xTicks, yTicks, xTickText }) {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v) => MARGIN.left + ((v - xTicks.lo) / (xTicks.hi - xTicks.lo)) * plotW;
  const y = (v) => MARGIN.top + plotH - ((v - yTicks.lo) / (yTicks.hi - yTicks.lo)) * plotH;
  const root = svg('svg', {
    class: 'plot',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': title,
  });
  root.appendChild(svg('title', null, title));
  const grid = svg('g', { class: 'grid' });
  const axes = svg('g', { class: 'axes' });
  const bottom = MARGIN.top + plotH;
  for (const t of yTicks.ticks) {
    const py = y(t).toFixed(1);
    grid.appendChild(svg('line', { x1: MARGIN.left, x2: MARGIN.left + plotW, y1: py, y2: py }));
    axes.appendChild(svg('line', { x1: MARGIN.left - 5, x2: MARGIN.left, y1: py, y2: py }));
    axes.appendChild(svg('text', { x: MARGIN.left - 8, y: py, class: 'tick y' }, tickLabel(t, yTicks.step)));
  }
  for (const t of xTicks.ticks) {
    const px = x(t).toFixed(1);
    axes.appendChild(svg('line', { x1: px, x2: px, y1: bottom, y2: bottom + 5 }));
    axes.appendChild(svg('text', { x: px, y: bottom + 17, class: 'tick x' }, xTickText(t)));
  }
  axes.appendChild(svg('path', { class: 'axis', d: `M${MARGIN.left},${MARGIN.top}V${bottom}H${MARGIN.left + plotW}` }));
  axes.appendChild(svg('text', { class: 'label x', x: MARGIN.left + plotW / 2, y: HEIGHT - 6 }, clip(xLabel, MAX_LABEL.x)));
  const midY = MARGIN.top + plotH / 2;
  axes.appendChild(svg('text', { class: 'label y', x: 14, y: midY, transform: `rotate(-90 14 ${midY})` }, clip(yLabel, MAX_LABEL.y)));
  root.appendChild(svg('text', { class: 'plot-title', x: MARGIN.left, y: 18 }, clip(title, MAX_LABEL.title)));
  root.appendChild(grid);
  root.appendChild(axes);
  return { root, x, y, plotW, plotH };
}

function legend(entries) {
  return el(
    'ul',
    { class: 'legend' },
    entries.map(({ label, index, marker }) => {
      const { stroke, dash } = style(index);
      const swatch = svg('svg', { class: 'swatch', viewBox: '0 0 24 10', 'aria-hidden': 'true' },
        marker
          ? svg('circle', { cx: 12, cy: 5, r: 4, fill: stroke })
          : svg('line', { x1: 0, x2: 24, y1: 5, y2: 5, stroke, 'stroke-width': 2.5, 'stroke-dasharray': dash }));
      return el('li', null, swatch, label);
    }),
  );
}

function figure(root, entries, notes, marker) {
  return el('figure', { class: 'plot-figure' }, root, legend(entries.map((e) => ({ ...e, marker }))),
    notes.length ? el('figcaption', null, notes.join(' ')) : null);
}

/**
 * A line plot. `series` is a list of `{label, points: [[x, y], ...]}`;
 * a null y (a NaN or infinite value in the report) breaks the line.
 */
export function linePlot({ title, xLabel, yLabel, series }) {
  const xs = [];
  const ys = [];
  let missing = 0;
  for (const s of series) {
    for (const [px, py] of s.points) {
      xs.push(px);
      if (py === null) missing += 1;
      else ys.push(py);
    }
  }
  const xTicks = niceTicks(...extent(xs), 6);
  const yTicks = ys.length ? niceTicks(...extent(ys), 5) : niceTicks(0, 1, 5);
  const f = frame({ title, xLabel, yLabel, xTicks, yTicks, xTickText: (t) => tickLabel(t, xTicks.step) });
  const notes = [];
  if (missing) notes.push(`${missing} non-finite value(s) not drawn.`);
  const lines = svg('g', { class: 'lines' });
  let total = 0;
  let kept = 0;
  series.forEach((s, i) => {
    const drawn = thin(s.points);
    total += s.points.length;
    kept += drawn.length;
    let d = '';
    let pen = false;
    for (const [px, py] of drawn) {
      if (py === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f.x(px).toFixed(1)},${f.y(py).toFixed(1)}`;
      pen = true;
    }
    const { stroke, dash } = style(i);
    const group = svg('g', { class: 'series-group' });
    group.appendChild(svg('path', { class: 'series', d, stroke, 'stroke-dasharray': dash, fill: 'none' },
      svg('title', null, s.label)));
    if (s.points.length <= MAX_MARKED) {
      for (const [px, py] of s.points) {
        if (py === null) continue;
        group.appendChild(svg('circle', { class: 'marker', cx: f.x(px).toFixed(1), cy: f.y(py).toFixed(1), r: 2.2, fill: stroke },
          svg('title', null, `${s.label}, ${xLabel} ${px}: ${py}`)));
      }
    }
    lines.appendChild(group);
  });
  f.root.appendChild(lines);
  if (kept < total) notes.push(`${kept} of ${total} points drawn: long lines keep the lowest and highest of each stretch.`);
  return figure(f.root, series.map((s, i) => ({ label: s.label, index: i })), notes, false);
}

/**
 * A dot plot over categories (e.g. seeds): `series` is a list of
 * `{label, values: [y or null per category]}`, each drawn as dots with a
 * dashed line at its mean; `refLines` are labelled horizontal lines
 * (`{y, label}`) that the y range always includes.
 */
export function dotPlot({ title, xLabel, yLabel, categories, series, refLines = [] }) {
  const ys = refLines.map((r) => r.y);
  for (const s of series) for (const v of s.values) if (v !== null) ys.push(v);
  const yTicks = niceTicks(...extent(ys), 5);
  const xTicks = { lo: -0.5, hi: categories.length - 0.5, step: 1, ticks: categories.map((_, i) => i) };
  const f = frame({ title, xLabel, yLabel, xTicks, yTicks, xTickText: (t) => categories[t] });
  const refs = svg('g', { class: 'refs' });
  for (const r of refLines) {
    const py = f.y(r.y).toFixed(1);
    refs.appendChild(svg('line', { class: 'ref', x1: MARGIN.left, x2: MARGIN.left + f.plotW, y1: py, y2: py }));
    refs.appendChild(svg('text', { class: 'ref-label', x: MARGIN.left + f.plotW - 4, y: Number(py) - 4 }, r.label));
  }
  f.root.appendChild(refs);
  const spread = Math.min(0.25, 0.5 / Math.max(series.length, 1));
  series.forEach((s, i) => {
    const { stroke } = style(i);
    const offset = (i - (series.length - 1) / 2) * spread;
    const group = svg('g', { class: 'dots' });
    const present = s.values.filter((v) => v !== null);
    if (present.length) {
      const mean = present.reduce((a, b) => a + b, 0) / present.length;
      const py = f.y(mean).toFixed(1);
      group.appendChild(svg('line', { class: 'mean', x1: MARGIN.left, x2: MARGIN.left + f.plotW, y1: py, y2: py, stroke },
        svg('title', null, `${s.label} mean: ${mean}`)));
    }
    s.values.forEach((v, k) => {
      if (v === null) return;
      group.appendChild(svg('circle', { class: 'dot', cx: f.x(k + offset).toFixed(1), cy: f.y(v).toFixed(1), r: 4.5, fill: stroke },
        svg('title', null, `${s.label}, ${categories[k]}: ${v}`)));
    });
    f.root.appendChild(group);
  });
  const notes = series.some((s) => s.values.includes(null)) ? ['A missing dot: that seed was not scored.'] : [];
  return figure(f.root, series.map((s, i) => ({ label: s.label, index: i })), notes, true);
}
