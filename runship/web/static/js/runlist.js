/* What the runs table (#/runs) and the workspace page (#/workspace) share: a listed run made
 * ready for the page, a column's value, groups of runs, the columns whose values differ
 * between the shown runs, and the limits of how many runs are charted. */

import { colorOf } from './colors.js';
import { summaryValue } from './filter.js';
import { flatten, fmtValue, isMissing, isPlainObject, naturalCompare } from './util.js';

/**
 * A run of the listing (/ui/api/runs), prepared: its ref, tags, label, color and live flag
 * made sure, its config and summary flattened (dotted keys).
 * @typedef {Record<string, any> & {ref: string, tags: string[], _cfg: Record<string, any>, _sum: Record<string, any>,
 *   label: string, color: string, live: boolean}} Run
 */

/** Runs charted together, each drawn as its own line (the series API takes 100 a request). */
export const MAX_CHARTED = 100;
/** Runs a grouped chart aggregates (every run the filter shows, up to this). */
export const MAX_GROUPED = 500;
/** Runs whose /ui/api/run is read to learn the charted keys (the rest share them). */
export const MAX_DETAILED = 100;
/** Config and summary columns shown by default (those whose values differ). */
const MAX_DIFF_COLS = 8;
/** The group band choices (ChartsOptions.band). */
export const BANDS = /** @type {const} */ ([['minmax', 'mean, min–max'], ['std', 'mean ± std'], ['stderr', 'mean ± stderr'], ['none', 'mean only']]);

/** @param {Record<string, any>} r @returns {Run} */
export function prepRun(r) {
  r.ref = String(r.ref === undefined || r.ref === null ? '' : r.ref);
  r.tags = Array.isArray(r.tags) ? r.tags.map(String) : isMissing(r.tags) ? [] : [String(r.tags)];
  r._cfg = flatten(isPlainObject(r.config) ? r.config : {});
  r._sum = flatten(isPlainObject(r.summary) ? r.summary : {});
  r.label = String(r.name || r.id || r.ref);
  r.color = colorOf(r.ref);
  r.live = r.live === true;
  return /** @type {Run} */ (r);
}

/** A run's value in a column (a field, config.KEY or summary.KEY). @param {Run} r @param {string} col */
export function colValue(r, col) {
  if (col.startsWith('config.')) return r._cfg[col.slice(7)];
  if (col.startsWith('summary.')) return summaryValue(r._sum, col.slice(8));
  if (col === 'tags') return r.tags.join(', ');
  if (col === 'name') return r.label;
  return r[col];
}

/**
 * The runs by their value in a column, as text (none: a missing value), in order of first
 * appearance; each group keeps its first run's value.
 * @param {Run[]} list
 * @param {string} col
 * @param {string} none
 * @returns {Map<string, {value: unknown, runs: Run[]}>}
 */
export function groupRuns(list, col, none) {
  /** @type {Map<string, {value: unknown, runs: Run[]}>} */
  const groups = new Map();
  for (const r of list) {
    const v = colValue(r, col), k = isMissing(v) ? none : fmtValue(v);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { value: v, runs: [] }));
    g.runs.push(r);
  }
  return groups;
}

/**
 * The charts' groups (a line per value of the group-by column), or null.
 * @param {Run[]} charted
 * @param {string} gb the group-by column ('': none)
 * @returns {{label: string, color: string, refs: string[]}[] | null}
 */
export function chartGroups(charted, gb) {
  if (!gb) return null;
  const m = groupRuns(charted, gb, '(none)');
  return [...m].sort((a, b) => Number(a[0] === '(none)') - Number(b[0] === '(none)') || naturalCompare(a[0], b[0]))
    .map(([g, grp]) => ({ label: `${gb}=${g}`, color: colorOf('group:' + g), refs: grp.runs.map((r) => r.ref) }));
}

/**
 * Per key of a flat map in the runs: how many runs have it and how many values it takes.
 * @param {Run[]} runs
 * @param {(r: Run) => Record<string, any>} part
 * @returns {Map<string, {n: number, values: Set<string>}>}
 */
function spread(runs, part) {
  /** @type {Map<string, {n: number, values: Set<string>}>} */
  const m = new Map();
  for (const r of runs) {
    for (const [k, v] of Object.entries(part(r))) {
      if (k.startsWith('_') || k.includes('._') || isMissing(v) || (typeof v === 'object' && !Array.isArray(v))) continue;
      let s = m.get(k);
      if (!s) m.set(k, (s = { n: 0, values: new Set() }));
      s.n++;
      if (s.values.size < 1000) s.values.add(fmtValue(v));
    }
  }
  return m;
}

/**
 * How telling a summary key is as a column: a define_metric summary (KEY.max, KEY.min: someone
 * asked for it) first, then validation and test metrics, then the rest.
 * @param {string} k
 */
function summaryRank(k) {
  return (/\.(max|min|best)$/.test(k) || /(^|\/)best/.test(k) ? 2 : 0) + (/^(val|valid|validation|eval|test)[/_.]/.test(k) ? 1 : 0);
}

/**
 * The config and summary columns whose values differ between the runs, at most max, the most
 * useful first: config keys most runs have that split them into few groups (lr, optimizer)
 * before those unique to every run (seed); then summary keys most runs have, define_metric
 * summaries and validation metrics first. With nothing
 * differing (one run): its first summary keys.
 * @param {Run[]} runs the shown runs (the first 2,000 are looked at)
 * @param {number} [max]
 * @returns {string[]}
 */
export function differingColumns(runs, max = MAX_DIFF_COLS) {
  const some = runs.slice(0, 2000);
  const n = some.length;
  const cfg = [...spread(some, (r) => r._cfg)].filter(([, s]) => s.values.size > 1 || (s.n < n && s.n > 0 && n > 1));
  cfg.sort((a, b) => b[1].n - a[1].n || Number(a[1].values.size >= n) - Number(b[1].values.size >= n)
    || a[1].values.size - b[1].values.size || naturalCompare(a[0], b[0]));
  const sumAll = [...spread(some, (r) => r._sum)];
  const sum = sumAll.filter(([, s]) => s.values.size > 1);
  sum.sort((a, b) => b[1].n - a[1].n || summaryRank(b[0]) - summaryRank(a[0]) || naturalCompare(a[0], b[0]));
  const cfgCols = cfg.map(([k]) => 'config.' + k), sumCols = sum.map(([k]) => 'summary.' + k);
  if (!cfgCols.length && !sumCols.length) {
    return sumAll.map(([k]) => k).sort(naturalCompare).slice(0, Math.min(4, max)).map((k) => 'summary.' + k);
  }
  const nCfg = Math.min(cfgCols.length, Math.max(max - Math.min(sumCols.length, 3), Math.ceil(max / 2)));
  const out = cfgCols.slice(0, nCfg);
  for (const c of sumCols) { if (out.length >= max) break; out.push(c); }
  for (const c of cfgCols.slice(nCfg)) { if (out.length >= max) break; out.push(c); }
  return out;
}

/**
 * The charted runs: the selected ones (selected: null, none chosen) in the order shown, else
 * the first `first` shown, or, grouped, every shown run (up to MAX_GROUPED); less the hidden.
 * @param {Run[]} shown
 * @param {string[] | null} selected
 * @param {Set<string>} hidden
 * @param {boolean} grouped
 * @param {number} first
 */
export function chartedRuns(shown, selected, hidden, grouped, first) {
  let list;
  if (selected) {
    const want = new Set(selected);
    list = shown.filter((r) => want.has(r.ref));
  } else list = grouped ? shown.slice(0, MAX_GROUPED) : shown.slice(0, first);
  list = list.filter((r) => !hidden.has(r.ref));
  return list.slice(0, grouped ? MAX_GROUPED : MAX_CHARTED);
}
