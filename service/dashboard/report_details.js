// The detail sections of a report: runs (outcome, usage, notes, captured
// guest output), the effective policy, the audit summary and provenance
// (wasm, task, seeds, versions, timing). Guest output, a guest error's
// message and the config string come from the submitter: only ever text.

import { el, kvTable, section, table } from './dom.js';
import { bytes, gflop, int, scalar, shortHash } from './format.js';

function hash(h) {
  return el('code', { title: h }, shortHash(h));
}

function outputBlock(label, out) {
  const dropped = out ? Number(out.dropped_bytes) || 0 : 0;
  if (!out || (!out.kept && !dropped)) return null;
  const summary = `${label}: ${int(out.kept_bytes)} byte(s) kept${dropped ? `, ${int(dropped)} dropped` : ''}`;
  if (!out.kept) return el('p', { class: 'muted' }, summary);
  return el('details', null, el('summary', null, summary), el('pre', { class: 'guest-text' }, out.kept));
}

// The outcome's fields other than its code, e.g. a guest error's message.
function outcomeDetail(outcome) {
  const detail = Object.entries(outcome.detail || {}).filter(([k]) => k !== 'code');
  if (!detail.length) return null;
  return el('pre', { class: 'guest-text' }, detail.map(([k, v]) => `${k}: ${scalar(v)}`).join('\n'));
}

/** One row per run (outcome and usage), then each run's notes and output. */
export function runsSection(report, prefix) {
  const runs = report.runs || [];
  const rows = runs.map((run, i) => {
    const u = run.usage || {};
    return [
      String(i + 1),
      el('span', { class: run.outcome.code === 'completed' ? 'ok' : 'bad' }, run.outcome.code),
      int(u.fuel_consumed),
      gflop(u.flops),
      int(u.train_steps),
      int(u.host_calls),
      bytes(u.peak_tensor_bytes),
      bytes(u.peak_memory_bytes),
      String(u.peak_handles ?? '\u2014'),
    ];
  });
  // Only runs with something to say get a block: an outcome other than
  // completion, notes, or captured output.
  const said = (out) => out && (Number(out.kept_bytes) > 0 || Number(out.dropped_bytes) > 0);
  const details = runs
    .map((run, i) => [run, i])
    .filter(([run]) => run.outcome.code !== 'completed' || (run.notes || []).length || said(run.stdout) || said(run.stderr))
    .map(([run, i]) => el('div', { class: 'run-detail' },
      el('h3', null, `seed #${i + 1}: `, run.outcome.message),
      outcomeDetail(run.outcome),
      (run.notes || []).length ? el('ul', null, run.notes.map((n) => el('li', null, el('code', null, n.code), ' ', n.message))) : null,
      outputBlock('stdout', run.stdout),
      outputBlock('stderr', run.stderr)));
  if (!details.length && runs.length) {
    details.push(el('p', { class: 'muted' }, 'Every run completed, with no note and nothing written to stdout or stderr.'));
  }
  return section(`${prefix}runs`, 'Runs', [
    table({
      className: 'runs',
      head: ['#', 'outcome', 'fuel', 'compute', 'train steps', 'host calls', 'peak tensor memory', 'peak linear memory', 'peak handles'],
      numeric: [2, 3, 4, 5, 6, 7, 8],
      rows,
    }),
    details,
  ]);
}

// [dotted.path, value] rows of a nested object; a list of scalars is one row.
function flatten(value, path, rows) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, path ? `${path}.${k}` : k, rows);
  } else if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
    value.forEach((v, i) => flatten(v, `${path}[${i}]`, rows));
  } else {
    rows.push([path, Array.isArray(value) ? value.map(scalar).join(', ') || '(none)' : scalar(value)]);
  }
  return rows;
}

/** The effective policy the runs were held to, key by key. */
export function policySection(report, prefix) {
  const p = report.policy || {};
  return section(`${prefix}policy`, 'Policy', [
    kvTable([
      ['source', p.source === undefined ? '\u2014' : String(p.source)],
      ['sha256', el('code', null, String(p.sha256))],
    ]),
    el('h3', null, 'Effective limits and grants'),
    table({ className: 'policy', head: ['setting', 'value'], rows: flatten(p.effective || {}, '', []).map(([k, v]) => [el('code', null, k), v]) }),
  ]);
}

const AUDIT_TOTALS = [
  ['host calls', 'host_calls', int],
  ['fuel', 'fuel', int],
  ['compute', 'flops', gflop],
  ['peak tensor memory', 'peak_tensor_bytes', bytes],
  ['peak linear memory', 'peak_memory_bytes', bytes],
];

/** Host calls per function and per seed, then the audit's totals. */
export function auditSection(report, prefix) {
  const audits = (report.runs || []).map((r) => r.audit || { calls: {} });
  const names = [...new Set(audits.flatMap((a) => Object.keys(a.calls || {})))].sort();
  const head = ['host function', ...audits.map((_, i) => `#${i + 1}`)];
  const numeric = audits.map((_, i) => i + 1);
  const calls = names.map((n) => [el('code', null, n), ...audits.map((a) => int((a.calls || {})[n] ?? 0))]);
  const totals = AUDIT_TOTALS.map(([label, key, fmt]) => [label, ...audits.map((a) => fmt(a[key]))]);
  return section(`${prefix}audit`, 'Audit summary', [
    el('p', { class: 'muted' }, 'What each seed\u2019s run called on the host and what it cost (the audit log\u2019s summary).'),
    table({ className: 'audit', head, rows: calls, numeric }),
    table({ className: 'audit totals', head: ['total', ...head.slice(1)], rows: totals, numeric }),
  ]);
}

/** Everything that identifies the evaluation: wasm, task, seeds, versions, timing. */
export function provenanceSection(report, prefix) {
  const w = report.wasm || {};
  const t = report.task || {};
  const s = report.seeds || {};
  const v = report.versions || {};
  const tm = report.timing || {};
  const rows = [
    ['wasm', [String(w.file), ' ', hash(w.sha256), ` (${bytes(w.bytes)})`]],
    ['task', [String(t.name), ' ', hash(t.hash), ` (${t.classes} classes, pool ${int(t.pool)})`]],
    ['seeds', [`${(s.values || []).length}, from ${s.source}`, s.secret_commitment ? [' (secret commitment ', hash(s.secret_commitment), ')'] : null]],
    ['seed rule', String(s.rule ?? '\u2014')],
    ['config', el('code', { class: 'guest-text' }, report.config ? report.config : '(empty)')],
    ['device', String(report.device)],
    ['versions', Object.entries(v).map(([k, x]) => `${k} ${x}`).join(', ')],
    ['timing', `compile ${tm.compile_ms} ms, runs ${(tm.runs_ms || []).join(' + ')} ms, controls ${tm.controls_ms} ms, score ${tm.score_ms} ms`],
  ];
  return section(`${prefix}provenance`, 'Provenance', kvTable(rows));
}

/** The control runs (teacher labels permuted, class prior), when they ran. */
export function controlsSection(report, prefix) {
  if (!report.controls) return null;
  const rows = flatten(report.controls, '', []).map(([k, x]) => [el('code', null, k), x]);
  return section(`${prefix}controls`, 'Controls', table({ className: 'policy', head: ['field', 'value'], rows }));
}
