// The leaderboard page (`/`): a task selector from /v1/tasks and the
// ranking of /v1/leaderboard?task=NAME, each entry linking to its
// submission page. `?task=NAME` in the address picks the task.

import { getJson } from './api.js';
import { clearError, el, markReady, replaceChildren, showError, table } from './dom.js';
import { int, num, time } from './format.js';

const select = document.getElementById('task');
const board = document.getElementById('board');
const about = document.getElementById('task-about');
// Answers to an older task choice are dropped.
let generation = 0;

function splitNote(split) {
  return split === 'private'
    ? 'Ranked by the private-split PGR mean (the ranking figures); \u00b1 is its standard error.'
    : 'Public-split figures (competition mode: the private ranking is hidden); \u00b1 is the standard error.';
}

function entryRow(e) {
  const link = el('a', { href: `/submissions/${encodeURIComponent(e.submission_id)}`, class: 'entry-link' }, e.name);
  return [
    String(e.rank),
    link,
    e.submitter,
    el('span', null, num(e.pgr_mean), el('span', { class: 'se' }, ` \u00b1 ${num(e.pgr_se)}`)),
    num(e.student_acc_mean),
    time(e.finished_at),
  ];
}

async function showTask(task, info) {
  const mine = ++generation;
  replaceChildren(about, info ? `${info.description} (${info.classes} classes, pool of ${int(info.pool)} examples)` : '');
  replaceChildren(board, el('p', { class: 'muted' }, 'Loading\u2026'));
  const lb = await getJson(`/v1/leaderboard?task=${encodeURIComponent(task)}`);
  if (mine !== generation) return;
  clearError();
  if (!lb.entries.length) {
    replaceChildren(board, el('p', { class: 'empty' }, `No scored submission for task \u201c${task}\u201d yet.`));
    return;
  }
  replaceChildren(board,
    el('p', { class: 'muted' }, splitNote(lb.split)),
    table({
      className: 'leaderboard',
      head: ['rank', 'submission', 'submitter', `PGR (${lb.split})`, 'student acc', 'finished'],
      rows: lb.entries.map(entryRow),
      numeric: [0, 3, 4],
    }));
}

function chooseTask(tasks) {
  const wanted = new URLSearchParams(location.search).get('task');
  const names = tasks.map((t) => t.name);
  if (wanted !== null && names.includes(wanted)) return wanted;
  return names.includes('default') ? 'default' : names[0];
}

function wireLookup() {
  const form = document.getElementById('lookup');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = document.getElementById('lookup-id').value.trim();
    if (id) location.assign(`/submissions/${encodeURIComponent(id)}`);
  });
}

async function main() {
  wireLookup();
  try {
    const { tasks } = await getJson('/v1/tasks');
    if (!tasks.length) {
      replaceChildren(board, el('p', { class: 'empty' }, 'The server has no task.'));
      markReady('empty');
      return;
    }
    replaceChildren(select, tasks.map((t) => el('option', { value: t.name }, t.name)));
    const byName = new Map(tasks.map((t) => [t.name, t]));
    const chosen = chooseTask(tasks);
    select.value = chosen;
    select.disabled = false;
    select.addEventListener('change', () => {
      const task = select.value;
      history.replaceState(null, '', `?task=${encodeURIComponent(task)}`);
      showTask(task, byName.get(task)).catch((e) => showError(e.message));
    });
    await showTask(chosen, byName.get(chosen));
    markReady('ok');
  } catch (e) {
    replaceChildren(board);
    showError(e.message);
    markReady('error');
  }
}

main();
