// Formatting figures for people. Missing figures show as an em dash.

const DASH = '\u2014';

function finite(x) {
  return typeof x === 'number' && Number.isFinite(x);
}

/** `x` with `digits` decimals; an exact integer kept as a string stays as is. */
export function num(x, digits = 3) {
  if (typeof x === 'string') return x;
  return finite(x) ? x.toFixed(digits) : DASH;
}

/** An integer with thousands separators (`27,373,979`). */
export function int(x) {
  if (typeof x === 'string') return x;
  if (!finite(x)) return DASH;
  const s = Math.round(Math.abs(x)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return x < 0 ? `-${s}` : s;
}

/** A summary's mean and standard error: `0.352 ± 0.004`. */
export function meanSe(summary, digits = 3) {
  if (!summary) return DASH;
  const se = finite(summary.se) ? ` \u00b1 ${num(summary.se, digits)}` : '';
  return `${num(summary.mean, digits)}${se}`;
}

/** A 95% interval: `[0.340, 0.364]`. */
export function interval(ci, digits = 3) {
  if (!Array.isArray(ci) || ci.length !== 2) return DASH;
  return `[${num(ci[0], digits)}, ${num(ci[1], digits)}]`;
}

/** Bytes in binary units: `1.19 MiB`. */
export function bytes(x) {
  if (typeof x === 'string') return `${x} B`;
  if (!finite(x)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = x;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** FLOPs in GFLOP: `6.37 GFLOP`. */
export function gflop(x) {
  if (typeof x === 'string') return `${x} FLOP`;
  return finite(x) ? `${(x / 1e9).toFixed(2)} GFLOP` : DASH;
}

/** An RFC 3339 time as `2026-11-27 11:08:44Z`, or a dash when null. */
export function time(t) {
  return typeof t === 'string' && t ? t.replace('T', ' ') : DASH;
}

/** A short prefix of a hex hash, for tables (the full one goes in a title). */
export function shortHash(h) {
  return typeof h === 'string' ? `${h.slice(0, 12)}\u2026` : DASH;
}

/** Any JSON scalar as text; objects and arrays as compact JSON. */
export function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
