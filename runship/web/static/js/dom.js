/* Building the page: elements from data (always as text, never as HTML), downloads, badges. */

import { STATES } from './util.js';

/** @typedef {Node | string | number | boolean | null | undefined} Leaf */
/** @typedef {Leaf | Leaf[] | (Leaf | Leaf[])[]} Kid */

/**
 * Make an element. attrs: class, text, dataset, on<event>, value/checked (properties), others as attributes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...Kid} kids
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  /** @type {Record<string, any>} */
  const props = {};
  if (attrs) {
    for (const k of Object.keys(attrs)) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') {
        for (const [dk, dv] of Object.entries(v)) if (dv !== undefined && dv !== null) el.dataset[dk] = String(dv);
      } else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected') props[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  Object.assign(el, props);
  return el;
}

/** @param {string} sel @param {ParentNode} [root] @returns {Element | null} */
export const $ = (sel, root = document) => root.querySelector(sel);

/** Download url (a data: or blob: URL, or a file of the API) as name. @param {string} url @param {string} name */
export function downloadUrl(url, name) {
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

/** @param {Blob} blob @param {string} name */
export function downloadBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  downloadUrl(url, name);
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A run's state as a colored badge, with a dot while it is live. @param {unknown} state @param {boolean} live */
export function stateBadge(state, live) {
  const st = typeof state === 'string' && STATES.includes(state) ? state : 'unknown';
  return h('span', { class: 'badge state-' + st }, live ? h('span', { class: 'live-dot' }) : null, String(state || 'unknown'));
}
