/* wandb.plot charts (over their logged table) and plotly figures, for the Media tab: drawn
 * with uPlot through charts.js, a confusion matrix as a table. */

import { xyChart } from './charts.js';
import { h } from './dom.js';
import { isNum, isPlainObject, rgba } from './util.js';

/** @typedef {import('./charts.js').XYLine} XYLine */

/**
 * A chart made for the page: its element, its uPlot (if any) to destroy, and what it shows.
 * @typedef {object} Drawn
 * @property {HTMLElement} el
 * @property {() => void} destroy
 * @property {uPlot | null} u
 * @property {string} [spec]
 * @property {string} [kind]
 * @property {HTMLElement} [extra]
 */

/**
 * A chart of a wandb.plot preset over its table; {el, destroy, kind}.
 * @param {string} spec the preset (wandb/lineseries/v0, ...)
 * @param {Record<string, any>} fields the preset's columns by role
 * @param {Record<string, any>} sf its string fields (title, axis titles)
 * @param {string[]} cols the table's columns
 * @param {unknown[]} rows the table's rows
 * @returns {Drawn}
 */
export function drawPlot(spec, fields, sf, cols, rows) {
  /** @param {unknown} name */
  const col = (name) => cols.indexOf(String(name));
  /** @param {unknown} name @returns {unknown[]} */
  const get = (name) => { const i = col(name); return i < 0 ? [] : rows.map((r) => (Array.isArray(r) ? r[i] : null)); };
  const title = String(sf.title || '');
  const wrap = h('div', { class: 'plot-chart', dataset: { spec } }, title ? h('div', { class: 'plot-title', text: title }) : null);
  /** @type {Drawn} */
  const out = { el: wrap, destroy() { if (this.u) this.u.destroy(); }, u: null, spec };
  /** @param {unknown[]} a @returns {(number | null)[]} */
  const numbers = (a) => a.map((v) => (isNum(v) ? v : null));
  /** @param {unknown[]} xs @param {(number | null)[]} ys @param {unknown[] | null} gs @returns {XYLine[]} */
  const byGroup = (xs, ys, gs) => {
    /** @type {Map<string, [unknown, number | null][]>} */
    const groups = new Map();
    xs.forEach((x, i) => { const g = gs ? String(gs[i]) : ''; if (!groups.has(g)) groups.set(g, []); groups.get(g)?.push([x, ys[i]]); });
    return [...groups.entries()];
  };
  /** @type {XYLine[] | null} */
  let lines = null;
  /** @type {'line' | 'points' | 'bars'} */
  let mode = 'line';
  /** @type {string[] | null} */
  let categories = null;
  if (spec.startsWith('wandb/confusion_matrix')) {
    const a = get(fields.Actual || 'Actual'), p = get(fields.Predicted || 'Predicted'), n = numbers(get(fields.nPredictions || 'nPredictions'));
    const names = [...new Set(a.concat(p).map(String))];
    const max = Math.max(1, ...n.filter(isNum));
    /** @type {Map<string, number | null>} */
    const cell = new Map(a.map((x, i) => [String(x) + '\u0000' + String(p[i]), n[i]]));
    const tbl = h('table', { class: 'confusion' },
      h('thead', null, h('tr', null, h('th', { class: 'corner', text: 'actual \\ predicted' }), names.map((c) => h('th', { class: 'col-head', text: c, title: c })))),
      h('tbody', null, names.map((r) => h('tr', null, h('th', { class: 'row-head', text: r, title: r }), names.map((c) => {
        const v = cell.get(r + '\u0000' + c) || 0;
        const td = h('td', { text: String(v), title: `actual ${r}, predicted ${c}: ${v}` });
        td.style.background = rgba('#4363d8', 0.08 + 0.8 * (v / max));
        if (v / max > 0.55) td.style.color = '#fff';
        return td;
      })))));
    wrap.append(zoomBox(tbl, names.length));
    return out;
  }
  if (spec.startsWith('wandb/lineseries')) {
    lines = byGroup(numbers(get(fields.step || 'step')), numbers(get(fields.lineVal || 'lineVal')), get(fields.lineKey || 'lineKey'));
  } else if (spec.startsWith('wandb/area-under-curve')) {
    lines = byGroup(numbers(get(fields.x)), numbers(get(fields.y)), fields.class ? get(fields.class) : null);
  } else if (spec.startsWith('wandb/scatter')) {
    const ys = numbers(get(fields.y));
    lines = [['', numbers(get(fields.x)).map((x, i) => [x, ys[i]])]];
    mode = 'points';
  } else if (spec.startsWith('wandb/bar')) {
    categories = get(fields.label).map(String);
    lines = [['', numbers(get(fields.value)).map((v, i) => [i, v])]];
    mode = 'bars';
  } else if (spec.startsWith('wandb/histogram')) {
    const vals = numbers(get(fields.value)).filter(isNum);
    const lo = Math.min(...vals), hi = Math.max(...vals), nb = Math.min(30, Math.max(1, Math.ceil(Math.sqrt(vals.length))));
    const w = (hi - lo) / nb || 1, counts = new Array(nb).fill(0);
    for (const v of vals) counts[Math.min(nb - 1, Math.floor((v - lo) / w))]++;
    lines = [['count', counts.map((c, i) => [lo + (i + 0.5) * w, c])]];
    mode = 'bars';
  } else if (fields.x && fields.y) {
    lines = byGroup(numbers(get(fields.x)), numbers(get(fields.y)), fields.stroke ? get(fields.stroke) : null);
  }
  if (!lines || !lines.length) { wrap.append(h('p', { class: 'muted', text: `a chart runship ui does not draw (${spec}); its table is in the Files tab` })); return out; }
  out.u = xyChart(wrap, lines, mode, categories, sf['x-axis-title'] || fields.x || '', sf['y-axis-title'] || fields.y || '');
  out.kind = mode;
  return out;
}

/** A plotly figure's x/y traces (scatter, line, bar), drawn with uPlot. @param {any} fig @returns {Drawn} */
export function drawPlotly(fig) {
  const wrap = h('div', { class: 'plot-chart plotly' });
  /** @type {Drawn} */
  const out = { el: wrap, destroy() { if (this.u) this.u.destroy(); }, u: null };
  /** @type {any[]} */
  const traces = (isPlainObject(fig) && Array.isArray(fig.data) ? fig.data : []).filter((/** @type {unknown} */ t) => isPlainObject(t) && Array.isArray(t.y));
  const title = isPlainObject(fig.layout) && fig.layout.title ? (isPlainObject(fig.layout.title) ? fig.layout.title.text : fig.layout.title) : '';
  if (title) wrap.append(h('div', { class: 'plot-title', text: String(title) }));
  if (!traces.length) { wrap.append(h('p', { class: 'muted', text: 'a plotly figure without x/y traces: download its JSON' })); return out; }
  /** @type {XYLine[]} */
  const lines = traces.map((t, n) => [String(t.name || 'trace ' + n), t.y.map((/** @type {unknown} */ y, /** @type {number} */ i) => [isNum(Array.isArray(t.x) ? t.x[i] : i) ? (Array.isArray(t.x) ? t.x[i] : i) : i, isNum(y) ? y : null])]);
  const mode = traces.every((t) => t.type === 'bar') ? 'bars' : traces.every((t) => String(t.mode || '').indexOf('lines') < 0 && t.type === 'scatter' && t.mode) ? 'points' : 'line';
  out.u = xyChart(wrap, lines, mode, null, '', '');
  return out;
}

/**
 * A confusion matrix's box: scrolls inside itself (headers stay in view), zoomed with its
 * buttons or ctrl+wheel; large matrices open zoomed out to fit the box's width.
 * @param {HTMLTableElement} tbl
 * @param {number} n the classes
 * @returns {HTMLElement}
 */
function zoomBox(tbl, n) {
  const box = h('div', { class: 'cm-box' }, tbl);
  const label = h('span', { class: 'cm-zoom-label muted' });
  let z = 1;
  /** @param {number} v */
  const set = (v) => {
    z = Math.min(3, Math.max(0.3, Math.round(v * 100) / 100));
    tbl.style.fontSize = (12 * z).toFixed(2) + 'px';
    box.dataset.zoom = String(z);
    label.textContent = Math.round(z * 100) + '%';
  };
  const fit = () => { // the text scales with the zoom; a second pass takes up what does not (borders)
    set(1);
    for (let i = 0; i < 3 && tbl.scrollWidth > box.clientWidth && box.clientWidth > 0; i++) set(Math.floor((z * box.clientWidth / tbl.scrollWidth) * 100) / 100);
  };
  const btn = (/** @type {string} */ text, /** @type {string} */ cls, /** @type {string} */ title, /** @type {() => void} */ fn) => h('button', { type: 'button', class: cls, text, title, onclick: fn });
  box.addEventListener('wheel', (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    set(z * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, { passive: false });
  set(1);
  const tools = h('div', { class: 'cm-tools' }, btn('−', 'cm-zoom-out', 'zoom out (ctrl+wheel)', () => set(z / 1.25)),
    label, btn('+', 'cm-zoom-in', 'zoom in (ctrl+wheel)', () => set(z * 1.25)), btn('fit', 'cm-fit', 'fit the width', fit),
    h('span', { class: 'muted', text: `${n} classes` }));
  return h('div', { class: 'cm' }, tools, box);
}
