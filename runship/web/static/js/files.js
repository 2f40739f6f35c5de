/* The run page's Files tab: the run's files, each a download. */

import { fileUrl } from './api.js';
import { h } from './dom.js';
import { fmtBytes, isNum, isPlainObject, naturalCompare } from './util.js';

/** @param {HTMLElement} body @param {string} ref @param {any} run the /ui/api/run answer */
export function filesTab(body, ref, run) {
  /** @type {{path: string, size?: unknown}[]} */
  const files = (Array.isArray(run.files) ? run.files : []).filter((/** @type {unknown} */ f) => isPlainObject(f) && typeof f.path === 'string')
    .sort((/** @type {any} */ a, /** @type {any} */ b) => naturalCompare(a.path, b.path));
  if (!files.length) { body.append(h('p', { class: 'muted', text: 'No files.' })); return; }
  const total = files.reduce((s, f) => s + (isNum(f.size) ? f.size : 0), 0);
  body.append(h('p', { class: 'muted', text: `${files.length} files, ${fmtBytes(total)}` }),
    h('div', { class: 'table-wrap files-wrap' }, h('table', { id: 'files-table', class: 'grid-table' },
      h('thead', null, h('tr', null, h('th', { text: 'path' }), h('th', { text: 'size' }), h('th', { text: '' }))),
      h('tbody', null, files.map((f) => h('tr', { dataset: { path: f.path } },
        h('td', { class: 'mono', text: f.path }),
        h('td', { class: 'num', text: fmtBytes(f.size), title: isNum(f.size) ? f.size + ' bytes' : null }),
        h('td', null, h('a', { class: 'download', href: fileUrl(ref, f.path, true), download: f.path.split('/').pop(), text: 'download' }))))))));
}
