/* The numbers behind the charts: smoothing, aligning runs on one x, group means, the nearest
 * point to the cursor, and which keys and x axes a set of runs offers. Pure: no DOM, no uPlot. */

import { isNum, isPlainObject, naturalCompare } from './util.js';

/** @typedef {(number | null)[]} Ys */

/** The x axes every run has. */
export const DERIVED_X = ['_step', '_runtime', '_timestamp'];

/**
 * TensorBoard's smoothing: EMA with debiasing over non-null values; null stays null.
 * @param {Ys} vals
 * @param {number} w
 * @returns {Ys}
 */
export function ema(vals, w) {
  /** @type {Ys} */
  const out = new Array(vals.length);
  let last = 0, n = 0;
  for (let i = 0; i < vals.length; i++) {
    const y = vals[i];
    if (y === null) { out[i] = null; continue; }
    last = last * w + (1 - w) * y;
    n++;
    out[i] = last / (1 - Math.pow(w, n));
  }
  return out;
}

/** Sorted union of numeric x arrays, without duplicates. @param {unknown[][]} arrays @returns {number[]} */
export function unionSorted(arrays) {
  /** @type {number[]} */
  const all = [];
  for (const a of arrays) for (const v of a) if (isNum(v)) all.push(v);
  all.sort((a, b) => a - b);
  /** @type {number[]} */
  const out = [];
  for (const v of all) if (!out.length || out[out.length - 1] !== v) out.push(v);
  return out;
}

/**
 * A run's values linearly interpolated onto xs (inside the run's own x range only).
 * @param {number[]} xs
 * @param {(number | null)[]} lx
 * @param {Ys} ly
 * @returns {Ys}
 */
export function interpOnto(xs, lx, ly) {
  /** @type {number[]} */
  const px = [], py = [];
  for (let i = 0; i < lx.length; i++) {
    const x = lx[i], y = ly[i];
    if (y !== null && isNum(x)) { px.push(x); py.push(y); }
  }
  /** @type {Ys} */
  const out = new Array(xs.length).fill(null);
  if (!px.length) return out;
  let j = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    if (x < px[0] || x > px[px.length - 1]) continue;
    while (j < px.length - 1 && px[j + 1] < x) j++;
    if (px[j] === x) out[i] = py[j];
    else if (j + 1 < px.length) {
      const x0 = px[j], x1 = px[j + 1];
      out[i] = x1 === x ? py[j + 1] : py[j] + ((py[j + 1] - py[j]) * (x - x0)) / (x1 - x0);
    }
  }
  return out;
}

/**
 * Mean, min and max across arrays aligned on the same x.
 * @param {number} n
 * @param {Ys[]} arrays
 * @returns {{mean: Ys, min: Ys, max: Ys}}
 */
export function aggregate(n, arrays) {
  /** @type {Ys} */
  const mean = new Array(n).fill(null), min = new Array(n).fill(null), max = new Array(n).fill(null);
  for (let i = 0; i < n; i++) {
    let s = 0, c = 0, lo = Infinity, hi = -Infinity;
    for (const a of arrays) {
      const v = a[i];
      if (v === null) continue;
      s += v; c++;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (c) { mean[i] = s / c; min[i] = lo; max[i] = hi; }
  }
  return { mean, min, max };
}

/**
 * Index of the non-null value whose x is nearest to x (xs ascending), or -1.
 * @param {number[]} xs
 * @param {(number | null | undefined)[]} ys
 * @param {number} x
 * @returns {number}
 */
export function nearestDefined(xs, ys, x) {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  let best = -1, bestD = Infinity;
  for (let i = lo, k = 0; i < xs.length && k < 64; i++, k++) {
    if (ys[i] !== null && ys[i] !== undefined) { best = i; bestD = Math.abs(xs[i] - x); break; }
  }
  for (let i = lo - 1, k = 0; i >= 0 && k < 64; i--, k++) {
    if (ys[i] !== null && ys[i] !== undefined) {
      if (Math.abs(xs[i] - x) < bestD) best = i;
      break;
    }
  }
  return best;
}

/**
 * x-axis choices: _step, _runtime, _timestamp and every step_metric some run defines.
 * @param {any[]} details the runs as /ui/api/run answers
 * @returns {string[]}
 */
export function xOptionsOf(details) {
  const out = [...DERIVED_X];
  for (const d of details) {
    const m = d && d.metrics;
    /** @type {any[]} */
    let specs = [];
    if (Array.isArray(m)) specs = m;
    else if (isPlainObject(m)) specs = Object.entries(m).map(([name, s]) => (isPlainObject(s) ? Object.assign({ name }, s) : null));
    for (const s of specs) {
      if (s && typeof s.step_metric === 'string' && s.step_metric && !out.includes(s.step_metric)) out.push(s.step_metric);
    }
  }
  return out;
}

/**
 * Union of the runs' numeric keys (kind "number"), sorted.
 * @param {any[]} details the runs as /ui/api/run answers
 * @returns {string[]}
 */
export function numberKeysOf(details) {
  /** @type {Set<string>} */
  const set = new Set();
  for (const d of details) {
    for (const k of d && Array.isArray(d.keys) ? d.keys : []) {
      if (k && k.kind === 'number' && typeof k.key === 'string' && !DERIVED_X.includes(k.key)) set.add(k.key);
    }
  }
  return [...set].sort(naturalCompare);
}
