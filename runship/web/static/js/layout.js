/* The charts' layout model (a workspace's "charts" part, docs/UI.md): sections of panels,
 * each a PanelSpec; the built-in layout (a panel per key, sectioned by the prefix before the
 * first "/", the common prefixes first), and a layout read from elsewhere made safe: unknown
 * fields kept, bad ones dropped or clamped, keys no panel shows added when `auto`. Pure. */

import { isNum, isPlainObject, naturalCompare } from './util.js';

/**
 * @typedef {object} PanelSpec
 * @property {string} id
 * @property {'line' | 'bar' | 'scatter' | 'parallel'} type
 * @property {string | null} title
 * @property {string[]} metrics line: the keys drawn
 * @property {string | null} x line: the x key (null: the view's); bar/scatter: a column
 * @property {string | null} y bar/scatter: a column (config.K / summary.K)
 * @property {string[]} axes parallel: the columns
 * @property {boolean | null} log null: the view's
 * @property {number | null} smoothing null: the view's
 * @property {[number | null, number | null] | null} yrange
 * @property {number} w columns spanned, 1-3
 * @property {number} h plot height, px
 * @property {boolean} hidden
 */
/** @typedef {{name: string, collapsed: boolean, panels: PanelSpec[]}} ChartsSection */
/**
 * @typedef {object} ChartsLayout
 * @property {string | null} x
 * @property {number} smoothing
 * @property {boolean} log
 * @property {string} panel_filter
 * @property {ChartsSection[]} sections
 * @property {boolean} auto keys no panel shows get a default panel, in their section
 */

const PANEL_TYPES = ['line', 'bar', 'scatter', 'parallel'];
export const HEIGHTS = [150, 210, 300, 420];
const DEFAULT_H = 210;
const MAX_SECTIONS = 500, MAX_PANELS = 2000, MAX_METRICS = 64, MAX_KEY = 500;
/** Sections people look for first, in this order (train/, then validation, eval, test). */
const COMMON = ['train', 'training', 'val', 'valid', 'validation', 'eval', 'evaluation', 'test'];
/** The root keys' section: first when it holds only a few keys (else after the common ones). */
const ROOT_SECTION = 'charts';

/** @param {string} key */
export function sectionOfKey(key) {
  const i = key.indexOf('/');
  return i > 0 ? key.slice(0, i) : ROOT_SECTION;
}

/**
 * The default order of sections: the root section first when it has at most 3 keys, then
 * train, val, eval, test, then the root section (when larger), then the rest, natural-sorted;
 * a root section of step metrics only (epoch: other panels' x) last.
 * @param {number} rootCount keys in the root section, step metrics left out
 * @returns {(a: string, b: string) => number}
 */
function defaultSectionOrder(rootCount) {
  /** @param {string} s */
  const rank = (s) => {
    if (s === ROOT_SECTION) return rootCount === 0 ? COMMON.length + 2 : rootCount <= 3 ? -1 : COMMON.length;
    const i = COMMON.indexOf(s.toLowerCase());
    return i >= 0 ? i : COMMON.length + 1;
  };
  return (a, b) => rank(a) - rank(b) || naturalCompare(a, b);
}

/** @param {unknown} v @param {number} [max] @returns {v is string} */
const isKey = (v, max = MAX_KEY) => typeof v === 'string' && v.length > 0 && v.length <= max;

/** @param {unknown} v @returns {number | null} */
const numOrNull = (v) => (isNum(v) ? v : null);

/**
 * A panel spec with its defaults; fields given win.
 * @param {string} id
 * @param {Partial<PanelSpec>} fields
 * @returns {PanelSpec}
 */
export function newPanel(id, fields) {
  return Object.assign({ id, type: 'line', title: null, metrics: [], x: null, y: null, axes: [], log: null, smoothing: null, yrange: null, w: 1, h: DEFAULT_H, hidden: false }, fields);
}

/**
 * A panel as read from a saved layout, made safe (unknown fields kept), or null when unusable.
 * @param {unknown} raw
 * @returns {PanelSpec | null}
 */
function normalizePanel(raw) {
  if (!isPlainObject(raw)) return null;
  const r = /** @type {Record<string, unknown>} */ (raw);
  const type = typeof r.type === 'string' && PANEL_TYPES.includes(r.type) ? /** @type {PanelSpec['type']} */ (r.type) : 'line';
  /** @param {unknown} v */
  const keys = (v) => (Array.isArray(v) ? [...new Set(v.filter((k) => isKey(k)))].slice(0, MAX_METRICS) : []);
  const metrics = keys(r.metrics);
  if (type === 'line' && !metrics.length) return null;
  const yr = Array.isArray(r.yrange) && r.yrange.length === 2 ? /** @type {[number | null, number | null]} */ ([numOrNull(r.yrange[0]), numOrNull(r.yrange[1])]) : null;
  const sm = numOrNull(r.smoothing);
  const h = numOrNull(r.h);
  return Object.assign({}, r, newPanel(isKey(r.id, 100) ? r.id : '', {
    type,
    title: isKey(r.title) ? r.title : null,
    metrics,
    x: isKey(r.x) ? r.x : null,
    y: isKey(r.y) ? r.y : null,
    axes: keys(r.axes),
    log: typeof r.log === 'boolean' ? r.log : null,
    smoothing: sm === null ? null : Math.min(0.99, Math.max(0, sm)),
    yrange: yr && (yr[0] !== null || yr[1] !== null) ? yr : null,
    w: r.w === 2 || r.w === 3 ? r.w : 1,
    h: h === null ? DEFAULT_H : Math.round(Math.min(800, Math.max(100, h))),
    hidden: r.hidden === true,
  }));
}

/**
 * The layout to show: raw (a saved one, made safe) or the built-in one, and, when auto, a
 * default panel for every key no line panel shows (in its section; new sections in the
 * default order after the others). Panel ids are unique ("p1", "p2", ...).
 * @param {unknown} raw
 * @param {string[]} keys
 * @param {(key: string) => string} sectionOf
 * @param {((a: string, b: string) => number) | null} sectionOrder
 * @param {Iterable<string>} [xKeys] step metrics (other panels' x): they do not make the root section first
 * @returns {ChartsLayout}
 */
export function buildLayout(raw, keys, sectionOf, sectionOrder, xKeys = []) {
  const r = isPlainObject(raw) ? /** @type {Record<string, unknown>} */ (raw) : {};
  /** @type {ChartsLayout} */
  const l = Object.assign({}, r, {
    x: isKey(r.x) ? r.x : null,
    smoothing: isNum(r.smoothing) ? Math.min(0.99, Math.max(0, r.smoothing)) : 0,
    log: r.log === true,
    panel_filter: typeof r.panel_filter === 'string' ? r.panel_filter.slice(0, 1000) : '',
    sections: /** @type {ChartsSection[]} */ ([]),
    auto: r.auto !== false,
  });
  const ids = new Set();
  let n = 0;
  const nextId = () => { while (ids.has('p' + ++n)); ids.add('p' + n); return 'p' + n; };
  let panels = 0;
  for (const s of Array.isArray(r.sections) ? r.sections.slice(0, MAX_SECTIONS) : []) {
    if (!isPlainObject(s) || !isKey(s.name, 200) || l.sections.some((x) => x.name === s.name)) continue;
    /** @type {ChartsSection} */
    const sec = Object.assign({}, s, { name: String(s.name), collapsed: s.collapsed === true, panels: /** @type {PanelSpec[]} */ ([]) });
    for (const p of Array.isArray(s.panels) ? s.panels : []) {
      const spec = panels < MAX_PANELS ? normalizePanel(p) : null;
      if (!spec) continue;
      if (!spec.id || ids.has(spec.id)) spec.id = '';
      else ids.add(spec.id);
      sec.panels.push(spec);
      panels++;
    }
    l.sections.push(sec);
  }
  for (const s of l.sections) for (const p of s.panels) if (!p.id) p.id = nextId();
  if (l.auto || !Array.isArray(r.sections)) addAutoPanels(l, keys, sectionOf, sectionOrder, nextId, new Set(xKeys));
  return l;
}

/**
 * A panel for every key that no line panel shows, in its section.
 * @param {ChartsLayout} l
 * @param {string[]} keys
 * @param {(key: string) => string} sectionOf
 * @param {((a: string, b: string) => number) | null} sectionOrder
 * @param {() => string} nextId
 * @param {Set<string>} xKeys step metrics: the x of other panels
 */
function addAutoPanels(l, keys, sectionOf, sectionOrder, nextId, xKeys) {
  /** @type {Set<string>} */
  const shown = new Set();
  for (const s of l.sections) for (const p of s.panels) if (p.type === 'line') for (const m of p.metrics) shown.add(m);
  /** @type {Map<string, string[]>} */
  const bySection = new Map();
  for (const k of keys) {
    if (shown.has(k)) continue;
    const s = sectionOf(k);
    if (!bySection.has(s)) bySection.set(s, []);
    bySection.get(s)?.push(k);
  }
  const rootCount = keys.filter((k) => sectionOf(k) === ROOT_SECTION && !xKeys.has(k)).length;
  const order = sectionOrder || defaultSectionOrder(rootCount);
  const fresh = [...bySection.keys()].filter((s) => !l.sections.some((x) => x.name === s)).sort(order);
  for (const name of fresh) l.sections.push({ name, collapsed: false, panels: [] });
  for (const [name, ks] of bySection) {
    const sec = l.sections.find((x) => x.name === name);
    if (sec) for (const k of ks) sec.panels.push(newPanel(nextId(), { metrics: [k] }));
  }
}

/** A deep copy (what layout() hands out). @param {ChartsLayout} l @returns {ChartsLayout} */
export const copyLayout = (l) => JSON.parse(JSON.stringify(l));
