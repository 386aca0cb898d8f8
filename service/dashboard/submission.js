// The submission page (`/submissions/{id}`; the same file for every id).
//
// Reads the id from the address, shows /v1/submissions/{id}, polls it
// every POLL_MS while the submission is queued or running, and once it is
// done renders /v1/submissions/{id}/report. The body gets
// data-ready="true" when nothing more will change: done and rendered,
// failed, or an error that polling gives up on.

import { getJson } from './api.js';
import { clearError, el, kvTable, markReady, replaceChildren, section, showError } from './dom.js';
import { interval, meanSe, num, time } from './format.js';
import { renderReport } from './report_view.js';

const POLL_MS = 2000;
/** Consecutive failed refreshes after which polling stops. */
const MAX_FAILURES = 5;
const STATUSES = ['queued', 'running', 'done', 'failed'];

const statusBox = document.getElementById('status');
const reportBox = document.getElementById('report');

function submissionId() {
  const raw = location.pathname.split('/')[2] || '';
  try {
    return decodeURIComponent(raw);
  } catch (_) {
    return raw;
  }
}

function badge(status) {
  const known = STATUSES.includes(status);
  return el('span', { class: `badge ${known ? `status-${status}` : 'status-unknown'}` }, status);
}

function summaryRows(s) {
  if (!s) return [];
  const rows = [
    [`PGR (${s.split})`, `${meanSe({ mean: s.pgr_mean, se: s.pgr_se })}, 95% CI ${interval(s.pgr_ci95)}`],
    ['student acc (mean)', num(s.student_acc_mean)],
    ['weak acc', num(s.weak_acc)],
    ['ceiling acc', num(s.ceiling_acc)],
  ];
  rows.push(['flags', Array.isArray(s.flags) && s.flags.length ? s.flags.join(', ') : 'none']);
  return rows;
}

function renderStatus(sub) {
  document.title = `${sub.name} \u2014 w2s`;
  const rows = [
    ['status', badge(sub.status)],
    ['id', el('code', null, sub.id)],
    ['submitter', sub.submitter],
    ['task', el('a', { href: `/?task=${encodeURIComponent(sub.task)}` }, sub.task)],
    ['created', time(sub.created_at)],
    ['started', time(sub.started_at)],
    ['finished', time(sub.finished_at)],
    ['attempts', String(sub.attempts)],
    ...summaryRows(sub.summary),
  ];
  if (sub.error) rows.push(['error', el('pre', { class: 'guest-text' }, sub.error)]);
  replaceChildren(statusBox,
    el('h1', null, el('span', { class: 'muted' }, 'Submission '), sub.name),
    kvTable(rows));
  if (sub.status === 'queued' || sub.status === 'running') {
    replaceChildren(reportBox, section('waiting', 'Report',
      el('p', { class: 'muted' }, `The submission is ${sub.status}; this page checks again every ${POLL_MS / 1000} s.`)));
  }
}

async function refresh(id, failures) {
  let sub;
  try {
    sub = await getJson(`/v1/submissions/${encodeURIComponent(id)}`);
    if (sub.status === 'done') {
      const report = await getJson(`/v1/submissions/${encodeURIComponent(id)}/report`);
      clearError();
      renderStatus(sub);
      document.body.dataset.status = sub.status;
      replaceChildren(reportBox, renderReport(report));
      markReady('ok');
      return;
    }
  } catch (e) {
    const gone = e.status === 404 && !sub;
    const last = gone || failures + 1 >= MAX_FAILURES;
    showError(last ? e.message : `${e.message} (retrying in ${POLL_MS / 1000} s)`);
    if (last) markReady('error');
    else setTimeout(() => refresh(id, failures + 1), POLL_MS);
    return;
  }
  clearError();
  renderStatus(sub);
  document.body.dataset.status = sub.status;
  if (sub.status === 'failed') {
    replaceChildren(reportBox);
    markReady('failed');
  } else if (STATUSES.includes(sub.status)) {
    setTimeout(() => refresh(id, 0), POLL_MS);
  } else {
    showError(`unknown submission status \u201c${sub.status}\u201d`);
    markReady('error');
  }
}

const id = submissionId();
if (id) {
  refresh(id, 0);
} else {
  showError('no submission id in the address (expected /submissions/ID)');
  markReady('error');
}
