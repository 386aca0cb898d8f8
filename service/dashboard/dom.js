// Building the page with createElement and text nodes only.
//
// Names, metric names, stdout and every other string in a report may come
// from an attacker. Nothing here parses HTML: strings always become text
// nodes, and attributes are set one by one with setAttribute.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, String(value));
  }
}

/** An HTML element: `el('td', {class: 'num'}, 'text', childNode, [more])`. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  return append(node, children);
}

/** An SVG element, as `el` does for HTML. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  return append(node, children);
}

/**
 * A table: `head` is a list of column titles; each row a list of cells
 * (strings or nodes). `numeric` names the columns to right-align.
 */
export function table({ className, head, rows, numeric = [] }) {
  const align = (i) => (numeric.includes(i) ? { class: 'num' } : null);
  return el(
    'table',
    { class: className },
    el('thead', null, el('tr', null, head.map((h, i) => el('th', align(i), h)))),
    el('tbody', null, rows.map((row) => el('tr', null, row.map((cell, i) => el('td', align(i), cell))))),
  );
}

/** A titled section of the page. */
export function section(id, title, ...children) {
  return el('section', { id, class: 'card' }, el('h2', null, title), children);
}

/** Replaces every child of `node`. */
export function replaceChildren(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Shows an error where people look: the page's error banner. */
export function showError(message) {
  const banner = document.getElementById('error');
  banner.hidden = false;
  replaceChildren(banner, el('strong', null, 'Error: '), message);
}

/** Hides the error banner. */
export function clearError() {
  const banner = document.getElementById('error');
  banner.hidden = true;
  banner.replaceChildren();
}

/**
 * Marks the page finished for people and for the browser test:
 * `<body data-ready="true" data-state="STATE">`.
 */
export function markReady(state) {
  document.body.dataset.state = state;
  document.body.dataset.ready = 'true';
}

/** A two-column table of `[key, value]` rows, keys as row headers. */
export function kvTable(rows, className = 'kv') {
  return el('table', { class: className },
    el('tbody', null, rows.map(([k, v]) => el('tr', null, el('th', { scope: 'row' }, k), el('td', null, v)))));
}
