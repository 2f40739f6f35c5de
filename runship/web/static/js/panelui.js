/* The charts' small forms: a searchable multi-select, the "add panel" dialog and a panel's
 * settings popover (title, metrics, x, log y, smoothing, y range, size, section, order). */

import { h } from './dom.js';
import { HEIGHTS, newPanel } from './layout.js';

/** @typedef {import('./layout.js').PanelSpec} PanelSpec */

const MAX_OPTIONS = 400;

/**
 * A search box over checkboxes (the first 400 matches shown), and how many are ticked.
 * @param {string[]} options
 * @param {string[]} selected
 * @param {string} cls
 */
function multiSelect(options, selected, cls) {
  const chosen = new Set(selected);
  const search = h('input', { type: 'search', class: 'ms-search', placeholder: 'search…', spellcheck: 'false' });
  const list = h('div', { class: 'ms-list' });
  const count = h('span', { class: 'ms-count muted' });
  const onChange = { fn: () => {} };
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = options.filter((o) => !q || o.toLowerCase().includes(q));
    /** @type {Node[]} */
    const items = shown.slice(0, MAX_OPTIONS).map((o) => {
      const cb = h('input', { type: 'checkbox', value: o, checked: chosen.has(o) });
      cb.addEventListener('change', () => {
        if (cb.checked) chosen.add(o);
        else chosen.delete(o);
        count.textContent = `${chosen.size} chosen`;
        onChange.fn();
      });
      return h('label', { class: 'ms-item', title: o }, cb, h('span', { text: o }));
    });
    if (shown.length > MAX_OPTIONS) items.push(h('div', { class: 'muted', text: `${shown.length - MAX_OPTIONS} more: search to narrow` }));
    if (!shown.length) items.push(h('div', { class: 'muted', text: 'nothing matches' }));
    list.replaceChildren(...items);
    count.textContent = `${chosen.size} chosen`;
  };
  search.addEventListener('input', render);
  render();
  return {
    el: h('div', { class: 'multi-select ' + cls }, h('div', { class: 'ms-top' }, search, count), list),
    /** @returns {string[]} in the options' order */
    values: () => options.filter((o) => chosen.has(o)),
    onChange,
  };
}

/** @param {string} cls @param {[string, string][]} pairs @param {string} value */
function select(cls, pairs, value) {
  const s = h('select', { class: cls }, pairs.map(([v, t]) => h('option', { value: v, text: t })));
  s.value = value;
  return s;
}

/** @param {string} text @param {...(Node | null)} kids */
const row = (text, ...kids) => h('label', { class: 'form-row' }, h('span', { class: 'form-label', text }), ...kids);

/**
 * @typedef {object} DialogOptions
 * @property {string[]} keys metrics a line panel may show
 * @property {string[]} columns config.K / summary.K columns of the runs
 * @property {string[]} sections
 * @property {string} section the one preselected
 * @property {(key: string) => string} sectionOf a line panel's section, until one is typed: its first metric's
 * @property {(spec: PanelSpec, section: string) => void} onAdd
 */

/** The "add panel" dialog, a modal over the page, until added or cancelled. @param {DialogOptions} o */
export function addPanelDialog(o) {
  const type = select('dlg-type', [['line', 'line plot (metrics over x)'], ['bar', 'bar chart (runs)'], ['scatter', 'scatter plot (runs)'], ['parallel', 'parallel coordinates (runs)']], 'line');
  const title = h('input', { type: 'text', class: 'dlg-title', placeholder: 'default: the metrics' });
  const section = h('input', { type: 'text', class: 'dlg-section', list: 'dlg-sections', value: o.section });
  const sectionList = h('datalist', { id: 'dlg-sections' }, o.sections.map((s) => h('option', { value: s })));
  const metrics = multiSelect(o.keys, [], 'dlg-metrics');
  let typed = false;
  section.addEventListener('input', () => { typed = true; });
  metrics.onChange.fn = () => { const m = metrics.values(); if (!typed && m.length) section.value = o.sectionOf(m[0]); };
  const cols = o.columns.map((c) => /** @type {[string, string]} */ ([c, c]));
  const xcol = select('dlg-x', [['', '(choose)'], ...cols], '');
  const ycol = select('dlg-y', [['', '(choose)'], ...cols], '');
  const axes = multiSelect(o.columns, [], 'dlg-axes');
  const err = h('div', { class: 'error dlg-error' });
  const lineRows = h('div', null, row('metrics', metrics.el));
  const xyRows = h('div', null, row('x', xcol), row('y', ycol));
  const parRows = h('div', null, row('axes', axes.el));
  const noCols = h('p', { class: 'muted', text: 'The runs have no config or summary columns to plot.' });
  const add = h('button', { type: 'button', class: 'primary dlg-add', text: 'Add panel' });
  const cancel = h('button', { type: 'button', class: 'dlg-cancel', text: 'Cancel' });
  const box = h('div', { class: 'rs-dialog', role: 'dialog', 'aria-label': 'add a panel' },
    h('h3', { text: 'Add a panel' }), row('type', type), lineRows, xyRows, parRows, noCols, row('title', title), row('section', section, sectionList), err,
    h('div', { class: 'dlg-buttons' }, cancel, add));
  const back = h('div', { class: 'rs-dialog-back' }, box);
  const sync = () => {
    const t = type.value;
    lineRows.hidden = t !== 'line';
    xyRows.hidden = t !== 'bar' && t !== 'scatter';
    parRows.hidden = t !== 'parallel';
    noCols.hidden = t === 'line' || o.columns.length > 0;
  };
  type.addEventListener('change', sync);
  sync();
  const close = () => { back.remove(); document.removeEventListener('keydown', onKey); };
  /** @param {KeyboardEvent} e */
  const onKey = (e) => { if (e.key === 'Escape') close(); };
  document.addEventListener('keydown', onKey);
  cancel.addEventListener('click', close);
  back.addEventListener('mousedown', (e) => { if (e.target === back) close(); });
  add.addEventListener('click', () => {
    const t = /** @type {PanelSpec['type']} */ (type.value);
    /** @type {Partial<PanelSpec>} */
    const f = { type: t, title: title.value.trim() || null };
    if (t === 'line') f.metrics = metrics.values();
    else if (t === 'parallel') f.axes = axes.values();
    else { f.x = xcol.value || null; f.y = ycol.value || null; }
    const bad = t === 'line' ? (!f.metrics?.length ? 'choose one metric or more' : '')
      : t === 'parallel' ? ((f.axes?.length || 0) < 2 ? 'choose two axes or more' : '')
        : t === 'scatter' ? (!f.x || !f.y ? 'choose x and y' : '') : (!f.y && !f.x ? 'choose y (and x: categories)' : '');
    const sec = section.value.trim().slice(0, 200);
    if (bad || !sec) { err.textContent = bad || 'name a section'; return; }
    if (t !== 'line') f.w = 1;
    o.onAdd(newPanel('', f), sec);
    close();
  });
  document.body.append(back);
  type.focus();
  return back;
}

/**
 * @typedef {object} SettingsOptions
 * @property {PanelSpec} spec
 * @property {string[]} keys
 * @property {string[]} xOptions
 * @property {string} viewX the view's x (what "default" means)
 * @property {string | null} stepX the define_metric step metric of the panel's metric, if any
 * @property {string[]} columns
 * @property {string[]} sections
 * @property {string} section
 * @property {(f: Partial<PanelSpec>) => void} onChange
 * @property {(delta: number) => void} onMove
 * @property {(section: string) => void} onSection
 * @property {() => void} onHide
 * @property {() => void} onDelete
 * @property {() => void} onClose
 */

/** @param {string} v @returns {number | null} */
const numIn = (v) => { const n = parseFloat(v); return v.trim() !== '' && Number.isFinite(n) ? n : null; };

/** A panel's settings, applied as they change. @param {SettingsOptions} o @returns {HTMLElement} */
export function settingsPopover(o) {
  const s = o.spec;
  const title = h('input', { type: 'text', class: 'ps-title', value: s.title || '', placeholder: 'default' });
  title.addEventListener('change', () => o.onChange({ title: title.value.trim() || null }));
  /** @type {Node[]} */
  const rows = [row('title', title)];
  if (s.type === 'line') rows.push(...lineRows(o));
  else rows.push(...runsRows(o));
  const w = select('ps-w', [['1', '1 column'], ['2', '2 columns'], ['3', '3 columns']], String(s.w));
  w.addEventListener('change', () => o.onChange({ w: Number(w.value) }));
  const hs = select('ps-h', HEIGHTS.map((v) => /** @type {[string, string]} */ ([String(v), v + ' px'])), String(HEIGHTS.includes(s.h) ? s.h : ''));
  if (!HEIGHTS.includes(s.h)) hs.prepend(h('option', { value: String(s.h), text: s.h + ' px', selected: true }));
  hs.addEventListener('change', () => o.onChange({ h: Number(hs.value) }));
  const sec = select('ps-section', o.sections.map((n) => /** @type {[string, string]} */ ([n, n])), o.section);
  sec.addEventListener('change', () => o.onSection(sec.value));
  rows.push(h('div', { class: 'form-pair' }, row('width', w), row('height', hs)), row('section', sec));
  /** @param {string} cls @param {string} text @param {() => void} fn */
  const btn = (cls, text, fn) => h('button', { type: 'button', class: cls, text, onclick: fn });
  rows.push(h('div', { class: 'dlg-buttons' },
    btn('ps-earlier', '← earlier', () => o.onMove(-1)), btn('ps-later', 'later →', () => o.onMove(1)),
    btn('ps-hide', 'hide', o.onHide), btn('ps-delete', 'delete', o.onDelete), btn('ps-close', 'close', o.onClose)));
  const el = h('div', { class: 'panel-settings', role: 'dialog', 'aria-label': 'panel settings' }, ...rows);
  el.addEventListener('keydown', (e) => { if (e.key === 'Escape') o.onClose(); });
  return el;
}

/** @param {SettingsOptions} o @returns {Node[]} */
function lineRows(o) {
  const s = o.spec;
  const metrics = multiSelect(o.keys.includes(s.metrics[0]) ? o.keys : [...new Set([...s.metrics, ...o.keys])], s.metrics, 'ps-metrics');
  metrics.onChange.fn = () => { const v = metrics.values(); if (v.length) o.onChange({ metrics: v }); };
  const dflt = o.stepX ? `default (${o.stepX}: define_metric)` : `default (${o.viewX})`;
  const xs = select('ps-x', [['', dflt], ...o.xOptions.map((x) => /** @type {[string, string]} */ ([x, x]))], s.x || '');
  if (s.x && !o.xOptions.includes(s.x)) xs.append(h('option', { value: s.x, text: s.x, selected: true }));
  xs.addEventListener('change', () => o.onChange({ x: xs.value || null }));
  const log = select('ps-log', [['', 'default'], ['1', 'on'], ['0', 'off']], s.log === null ? '' : s.log ? '1' : '0');
  log.addEventListener('change', () => o.onChange({ log: log.value === '' ? null : log.value === '1' }));
  const sm = h('input', { type: 'number', class: 'ps-smoothing', min: '0', max: '0.99', step: '0.05', placeholder: 'default', value: s.smoothing === null ? '' : String(s.smoothing) });
  sm.addEventListener('change', () => { const v = numIn(sm.value); o.onChange({ smoothing: v === null ? null : Math.min(0.99, Math.max(0, v)) }); });
  const yr = s.yrange || [null, null];
  const ylo = h('input', { type: 'number', class: 'ps-ymin', placeholder: 'auto', value: yr[0] === null ? '' : String(yr[0]) });
  const yhi = h('input', { type: 'number', class: 'ps-ymax', placeholder: 'auto', value: yr[1] === null ? '' : String(yr[1]) });
  const onY = () => {
    const lo = numIn(ylo.value), hi = numIn(yhi.value);
    o.onChange({ yrange: lo === null && hi === null ? null : [lo, hi] });
  };
  ylo.addEventListener('change', onY);
  yhi.addEventListener('change', onY);
  return [row('metrics', metrics.el), row('x', xs), h('div', { class: 'form-pair' }, row('log y', log), row('smoothing', sm)),
    h('div', { class: 'form-pair' }, row('y min', ylo), row('y max', yhi))];
}

/** @param {SettingsOptions} o @returns {Node[]} */
function runsRows(o) {
  const s = o.spec;
  const cols = [...new Set([...o.columns, ...(s.x ? [s.x] : []), ...(s.y ? [s.y] : []), ...s.axes])];
  if (s.type === 'parallel') {
    const axes = multiSelect(cols, s.axes, 'ps-axes');
    axes.onChange.fn = () => { const v = axes.values(); if (v.length >= 2) o.onChange({ axes: v }); };
    return [row('axes', axes.el)];
  }
  const pairs = cols.map((c) => /** @type {[string, string]} */ ([c, c]));
  const xs = select('ps-x', [['', '(none)'], ...pairs], s.x || '');
  const ys = select('ps-y', [['', '(none)'], ...pairs], s.y || '');
  xs.addEventListener('change', () => o.onChange({ x: xs.value || null }));
  ys.addEventListener('change', () => o.onChange({ y: ys.value || null }));
  return [row('x', xs), row('y', ys)];
}
