// A report (as `w2s eval --json` writes it) as page sections: the score
// table, PGR per seed, training curves, then the details of
// report_details.js. A suite report (`kind: "suite"`) gets its summary and
// one such block per task. Any part may be missing: `score` is null when
// nothing was scored, and a server in competition mode removes the
// private split.

import { el, section, table } from './dom.js';
import { interval, meanSe, num } from './format.js';
import { dotPlot, linePlot } from './plot.js';
import { auditSection, controlsSection, policySection, provenanceSection, runsSection } from './report_details.js';

/** Metric names plotted at most (a guest may log many). */
const MAX_METRIC_PLOTS = 24;
const SPLITS = [
  ['public', 'public (development)'],
  ['private', 'private (ranking)'],
];

/** The splits a report's score has, as `[key, title, part]`. */
function presentSplits(score) {
  if (!score) return [];
  return SPLITS.filter(([key]) => score[key]).map(([key, title]) => [key, title, score[key]]);
}

function seedLabel(i) {
  return `seed #${i + 1}`;
}

function ceilingSe(score, key) {
  const part = score.baselines && score.baselines.ceiling && score.baselines.ceiling[key];
  return part && part.summary ? part.summary : null;
}

function scoreSection(report, prefix) {
  const splits = presentSplits(report.score);
  const rankable = report.rankable || { value: false, reasons: [] };
  const flags = report.flags || [];
  const body = [];
  if (splits.length) {
    body.push(table({
      className: 'report-table',
      head: ['split', 'weak acc', 'ceiling acc', 'student acc', 'PGR', 'PGR 95% CI', 'seeds scored', 'test size'],
      numeric: [1, 2, 3, 4, 5, 6, 7],
      rows: splits.map(([key, title, p]) => {
        const ceiling = ceilingSe(report.score, key);
        return [
          title,
          num(p.weak_acc),
          ceiling ? meanSe({ mean: p.ceiling_acc, se: ceiling.se }) : num(p.ceiling_acc),
          meanSe(p.student_acc),
          meanSe(p.pgr),
          interval(p.pgr && p.pgr.ci95),
          `${(p.per_seed || []).length} of ${(report.runs || []).length}`,
          String(p.size),
        ];
      }),
    }));
    if (!report.score.private) {
      body.push(el('p', { class: 'muted' }, 'The private split is not shown (competition mode).'));
    }
  } else {
    body.push(el('p', { class: 'empty' }, 'Not scored: no run produced a student the scorer could evaluate.'));
  }
  body.push(el('p', null, el('strong', null, 'Rankable: '), rankable.value ? 'yes' : 'no'));
  if (rankable.reasons && rankable.reasons.length) {
    body.push(el('ul', { class: 'reasons' }, rankable.reasons.map((r) => el('li', null, r))));
  }
  body.push(el('p', null, el('strong', null, 'Flags: '), flags.length ? '' : 'none'));
  if (flags.length) {
    body.push(el('ul', { class: 'flags' }, flags.map((f) => el('li', null, el('code', null, f.code), ' ', f.message))));
  }
  return section(`${prefix}score`, 'Score', body);
}

function perSeedSection(report, prefix) {
  const runs = report.runs || [];
  const splits = presentSplits(report.score);
  // Seeds may be exact strings (see exact_json.js): compare as text.
  const bySeed = splits.map(([, , p]) => new Map((p.per_seed || []).map((s) => [String(s.seed), s])));
  const runsMs = (report.timing && report.timing.runs_ms) || [];
  const head = ['#', 'seed', 'outcome', 'student'];
  for (const [key] of splits) head.push(`${key} student acc`, `${key} PGR`);
  head.push('train steps', 'wall ms');
  const rows = runs.map((run, i) => {
    const row = [String(i + 1), el('code', null, String(run.seed)), run.outcome.code];
    const scored = bySeed.map((m) => m.get(String(run.seed)));
    const arch = scored.find((s) => s);
    row.push(arch ? arch.arch : '\u2014');
    for (const s of scored) row.push(s ? num(s.student_acc) : '\u2014', s ? num(s.pgr) : '\u2014');
    row.push(String(run.usage ? run.usage.train_steps : '\u2014'), runsMs[i] === undefined ? '\u2014' : String(runsMs[i]));
    return row;
  });
  const numeric = head.map((_, i) => i).filter((i) => i >= 4);
  const body = [table({ className: 'per-seed', head, rows, numeric })];
  if (splits.length && runs.length) {
    body.push(dotPlot({
      title: 'PGR per seed',
      xLabel: 'seed',
      yLabel: 'PGR',
      categories: runs.map((_, i) => `#${i + 1}`),
      series: splits.map(([key], k) => ({
        label: `${key} PGR`,
        values: runs.map((run) => {
          const s = bySeed[k].get(String(run.seed));
          return s && typeof s.pgr === 'number' ? s.pgr : null;
        }),
      })),
      refLines: [{ y: 0, label: 'weak (0)' }, { y: 1, label: 'ceiling (1)' }],
    }));
  }
  return section(`${prefix}seeds`, 'PGR per seed', body);
}

/** Metric points grouped by name, then by run: Map(name => points per run). */
function metricsByName(runs) {
  const byName = new Map();
  runs.forEach((run, i) => {
    for (const m of run.metrics || []) {
      if (!byName.has(m.name)) byName.set(m.name, runs.map(() => []));
      byName.get(m.name)[i].push([m.step, typeof m.value === 'number' ? m.value : null]);
    }
  });
  for (const perRun of byName.values()) for (const pts of perRun) pts.sort((a, b) => a[0] - b[0]);
  return byName;
}

function curvesSection(report, prefix) {
  const runs = report.runs || [];
  const byName = metricsByName(runs);
  const body = [];
  const dropped = runs.reduce((n, r) => n + (Number(r.metrics_dropped) || 0), 0);
  if (!byName.size) {
    body.push(el('p', { class: 'empty' }, 'The strategy logged no metric.'));
  } else {
    body.push(el('p', { class: 'muted' }, 'Metrics the strategy logged (w2s:strategy/metrics.log), one plot per name, one line per seed.'));
    const plots = el('div', { class: 'plots' });
    for (const [name, perRun] of [...byName].slice(0, MAX_METRIC_PLOTS)) {
      const series = perRun
        .map((points, i) => ({ label: seedLabel(i), points }))
        .filter((s) => s.points.length);
      plots.appendChild(linePlot({ title: name, xLabel: 'step', yLabel: name, series }));
    }
    body.push(plots);
    if (byName.size > MAX_METRIC_PLOTS) {
      body.push(el('p', { class: 'muted' }, `${byName.size - MAX_METRIC_PLOTS} more metric name(s) not plotted.`));
    }
  }
  if (dropped) body.push(el('p', { class: 'muted' }, `${dropped} metric point(s) over the policy's limit were dropped by the host.`));
  return section(`${prefix}curves`, 'Training curves', body);
}

function singleReport(report, prefix) {
  return [
    scoreSection(report, prefix),
    controlsSection(report, prefix),
    perSeedSection(report, prefix),
    curvesSection(report, prefix),
    runsSection(report, prefix),
    policySection(report, prefix),
    auditSection(report, prefix),
    provenanceSection(report, prefix),
  ];
}

function suiteSummary(suite) {
  const worst = suite.worst || {};
  const worstText = (w) => (Array.isArray(w) ? `${w[0]}: ${num(w[1])}` : '\u2014');
  const present = (key) => (suite.summary || []).some((t) => t[key] !== undefined);
  const splits = ['public_pgr', 'private_pgr'].filter(present);
  return section('suite', 'Suite', [
    table({
      className: 'report-table suite',
      head: ['task', ...splits.map((k) => k.replace('_pgr', ' PGR')), 'flags'],
      numeric: splits.map((_, i) => i + 1),
      rows: (suite.summary || []).map((t) => [t.task, ...splits.map((k) => num(t[k])), (t.flags || []).join(', ') || 'none']),
    }),
    el('p', null, el('strong', null, 'Worst task: '),
      splits.map((k) => `${k.replace('_pgr', '')} ${worstText(worst[k.replace('_pgr', '')])}`).join('; ')),
  ]);
}

/** The whole report as a list of sections. */
export function renderReport(report) {
  if (report.kind === 'suite') {
    return el('div', null, suiteSummary(report), (report.reports || []).map((r, i) => el('div', { class: 'suite-task' },
      el('h2', { class: 'task-heading' }, `Task ${i + 1}: `, r.task ? r.task.name : '?'),
      singleReport(r, `t${i}-`))));
  }
  return el('div', null, singleReport(report, ''));
}
