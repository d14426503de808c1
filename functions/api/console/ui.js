// DOM helpers: every element is built with createElement and textContent
// (the CSP's Trusted Types refuse HTML from strings), every field has a label.

import { describe } from './api.js';

/**
 * h('tag.class', {attr: value, onclick: fn}, ...children): an element.
 * Children are nodes, strings (text), arrays, or null/false (skipped).
 */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = tag === 'svg' || SVG_TAGS.has(tag)
    ? document.createElementNS('http://www.w3.org/2000/svg', tag)
    : document.createElement(tag);
  if (classes.length) el.setAttribute('class', classes.join(' '));
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false || k === 'value') continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  // After the children: a select's value needs its options.
  if (attrs?.value !== undefined && attrs?.value !== null) el.value = attrs.value;
  return el;
}

const SVG_TAGS = new Set(['g', 'path', 'line', 'polyline', 'circle', 'rect', 'text', 'title', 'desc']);

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let fieldCount = 0;

/** A labelled field: the label, the control (given an id), and an optional hint. */
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCount}`;
  control.id = id;
  const hintEl = hint ? h('small.hint', { id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div.field', {}, h('label', { for: id }, label), control, hintEl);
}

/**
 * A form whose submit (a button, or Enter in a field) runs `onSubmit(form)`;
 * its submit buttons are disabled while it runs and errors are shown in words
 * in the form's own alert area.
 */
export function form(attrs, onSubmit, ...children) {
  const status = h('div.form-status', { role: 'alert' });
  const el = h('form', attrs, ...children, status);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const buttons = [...el.querySelectorAll('button')];
    buttons.forEach((b) => { b.disabled = true; });
    status.replaceChildren();
    try {
      await onSubmit(el, ev.submitter);
    } catch (err) {
      status.replaceChildren(errorBox(err));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return el;
}

/** An error, in words. */
export function errorBox(err) {
  return h('p.error', { 'data-error-status': err.status ?? '' }, describe(err));
}

/** A date and time in the user's locale (or an em dash). */
export function when(ms) {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms).toLocaleString();
}

/** A fraction as a percentage with one decimal (or an em dash). */
export function percent(rate) {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`;
}

/** A definition list of [term, value] pairs; `attrs` name it for tests and readers. */
export function facts(pairs, attrs = {}) {
  return h('dl.facts', attrs, pairs.map(([k, v, key]) => [
    h('dt', {}, k),
    h('dd', key ? { 'data-fact': key } : {}, v),
  ]));
}

/** The view's heading, focused so keyboard and screen-reader users start there. */
export function heading(text) {
  const el = h('h1', { tabindex: '-1' }, text);
  queueMicrotask(() => el.focus());
  return el;
}

/** Pages this browser has connected or opened (ids and settings; never a token). */
export const knownPages = {
  key: 'optcast.pages',
  all() {
    try {
      return JSON.parse(localStorage.getItem(this.key) ?? '[]');
    } catch {
      return [];
    }
  },
  remember(page) {
    const rest = this.all().filter((p) => p.page_id !== page.page_id);
    localStorage.setItem(this.key, JSON.stringify([{ ...this.find(page.page_id), ...page }, ...rest]));
  },
  find(id) {
    return this.all().find((p) => p.page_id === id);
  },
  last() {
    return this.all()[0]?.page_id ?? '';
  },
};

/** A page id input with the known pages offered as suggestions. */
export function pageInput(value) {
  let list = document.getElementById('known-pages');
  if (!list) {
    list = h('datalist', { id: 'known-pages' });
    document.body.append(list);
  }
  list.replaceChildren(...knownPages.all().map((p) => h('option', { value: p.page_id })));
  return h('input', {
    name: 'page_id', required: true, inputmode: 'numeric', pattern: '[1-9][0-9]{0,19}',
    autocomplete: 'off', list: 'known-pages', value: value ?? knownPages.last(),
  });
}

/** The query parameters of the location hash (`#/view?a=1`). */
export function hashQuery() {
  const i = location.hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : location.hash.slice(i + 1));
}
