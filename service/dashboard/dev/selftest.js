// Unit tests of the dashboard's pure functions, run in the browser (the
// mock serves this page at /dev/selftest; check_mock.sh runs it). Sets
// <body data-ready="true" data-state="ok"> when every case passes.

import { parseJson } from '/assets/exact_json.js';
import { int, meanSe } from '/assets/format.js';
import { dotPlot, linePlot, niceTicks, tickLabel } from '/assets/plot.js';

const results = [];
function test(name, f) {
  try {
    f();
    results.push(`ok   ${name}`);
  } catch (e) {
    results.push(`FAIL ${name}: ${e.message}`);
  }
}
function eq(actual, expected) {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error(`got ${a}, expected ${b}`);
}

test('unsafe integers stay exact, as strings', () => {
  const v = parseJson('{"seed": 14573162148744131541, "neg": -9007199254740993, "max": [18446744073709551615]}');
  eq(v, { seed: '14573162148744131541', neg: '-9007199254740993', max: ['18446744073709551615'] });
});
test('safe integers, floats and exponents stay numbers', () => {
  eq(parseJson('[9007199254740991, -3, 1.5, 1e300, 2E-5, 0]'), [9007199254740991, -3, 1.5, 1e300, 2e-5, 0]);
});
test('digits inside strings (with escaped quotes) are left alone', () => {
  const v = parseJson('{"a": "x \\"12345678901234567890\\" y", "b\\\\": 12345678901234567890}');
  eq(v, { a: 'x "12345678901234567890" y', 'b\\': '12345678901234567890' });
});
test('invalid JSON throws', () => {
  let threw = false;
  try {
    parseJson('{"a": 1,,}');
  } catch (_) {
    threw = true;
  }
  eq(threw, true);
});
test('ticks are round and cover the range', () => {
  const t = niceTicks(0.8, 1.23, 5);
  eq(t.step, 0.1);
  eq(t.lo <= 0.8 && t.hi >= 1.23, true);
  eq(t.ticks.map((x) => tickLabel(x, t.step)), ['0.8', '0.9', '1.0', '1.1', '1.2', '1.3']);
});
test('a flat range still gets an axis', () => {
  const t = niceTicks(5, 5, 5);
  eq(t.hi > t.lo && t.ticks.length >= 2, true);
});
test('big tick values are written with an exponent', () => {
  eq(tickLabel(20000000, 5000000), '2.0e+7');
  eq(tickLabel(15000, 5000), '15000');
});
test('integers get separators; exact strings pass through', () => {
  eq(int(27373979), '27,373,979');
  eq(int('14573162148744131541'), '14573162148744131541');
  eq(meanSe({ mean: 0.35230460921843704, se: 0.004363034279975381 }), '0.352 \u00b1 0.004');
});
test('a line plot breaks its line at a missing value', () => {
  const fig = linePlot({ title: 't', xLabel: 'step', yLabel: 'v', series: [{ label: 'a', points: [[0, 1], [1, null], [2, 0.5], [3, 0.4]] }] });
  const d = fig.querySelector('svg.plot path.series').getAttribute('d');
  eq((d.match(/M/g) || []).length, 2);
  eq(fig.querySelectorAll('.legend li').length, 1);
});
test('a long series is thinned to at most 2000 points', () => {
  const points = Array.from({ length: 50000 }, (_, i) => [i, Math.sin(i)]);
  const fig = linePlot({ title: 't', xLabel: 'step', yLabel: 'v', series: [{ label: 'a', points }] });
  const n = (fig.querySelector('path.series').getAttribute('d').match(/[ML]/g) || []).length;
  eq(n <= 2000 && n >= 1000, true);
});
test('a dot plot draws one dot per present value', () => {
  const fig = dotPlot({ title: 'p', xLabel: 's', yLabel: 'PGR', categories: ['#1', '#2', '#3'],
    series: [{ label: 'public', values: [0.3, null, 0.4] }, { label: 'private', values: [0.5, 0.6, 0.7] }],
    refLines: [{ y: 0, label: 'weak' }, { y: 1, label: 'ceiling' }] });
  eq(fig.querySelectorAll('circle.dot').length, 5);
});
test('labels are text, never markup', () => {
  const name = '<img src=x onerror="document.body.dataset.pwned=1">';
  const fig = linePlot({ title: name, xLabel: name, yLabel: name, series: [{ label: name, points: [[0, 1], [1, 2]] }] });
  eq(fig.querySelectorAll('img').length, 0);
  eq(fig.querySelector('.legend li').textContent, name);
});

document.getElementById('results').textContent = results.join('\n');
const failed = results.filter((r) => r.startsWith('FAIL')).length;
document.body.dataset.state = failed ? 'failed' : 'ok';
document.body.dataset.ready = 'true';
