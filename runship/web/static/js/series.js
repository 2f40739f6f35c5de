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
 * Mean, min, max, standard deviation and standard error across arrays aligned on the same x.
 * @param {number} n
 * @param {Ys[]} arrays
 * @returns {{mean: Ys, min: Ys, max: Ys, std: Ys, stderr: Ys, count: number[]}}
 */
export function aggregate(n, arrays) {
  /** @type {Ys} */
  const mean = new Array(n).fill(null), min = new Array(n).fill(null), max = new Array(n).fill(null);
  /** @type {Ys} */
  const std = new Array(n).fill(null), stderr = new Array(n).fill(null);
  /** @type {number[]} */
  const count = new Array(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = 0, c = 0, lo = Infinity, hi = -Infinity;
    for (const a of arrays) {
      const v = a[i];
      if (v === null || v === undefined) continue;
      s += v; c++;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!c) continue;
    const m = s / c;
    let ss = 0;
    for (const a of arrays) { const v = a[i]; if (v !== null && v !== undefined) ss += (v - m) * (v - m); }
    const sd = c > 1 ? Math.sqrt(ss / (c - 1)) : 0; // the sample standard deviation
    mean[i] = m; min[i] = lo; max[i] = hi; std[i] = sd; stderr[i] = sd / Math.sqrt(c); count[i] = c;
  }
  return { mean, min, max, std, stderr, count };
}

/**
 * The band around a group's mean: min-max, mean ± std, mean ± stderr, or none (null).
 * @param {{mean: Ys, min: Ys, max: Ys, std: Ys, stderr: Ys}} agg
 * @param {string} band 'minmax' | 'std' | 'stderr' | 'none'
 * @returns {{lo: Ys, hi: Ys} | null}
 */
export function bandOf(agg, band) {
  if (band === 'none') return null;
  if (band !== 'std' && band !== 'stderr') return { lo: agg.min, hi: agg.max };
  const d = band === 'std' ? agg.std : agg.stderr;
  /** @param {number} sign */
  const edge = (sign) => agg.mean.map((m, i) => (m === null || d[i] === null ? null : m + sign * /** @type {number} */ (d[i])));
  return { lo: edge(-1), hi: edge(1) };
}

/**
 * One x axis for several lines that keeps every point: lines sharing an x value share its
 * slot, and an x that a line repeats (x = epoch, several rows an epoch) gets as many slots
 * as the line that repeats it most (its k-th point at that x in the k-th slot). Each line's
 * x must be ascending (sortLine). Returns the slots' x (ascending, repeats kept) and, per
 * line, each point's slot.
 * @param {number[][]} lineXs
 * @returns {{xs: number[], slot: Int32Array[]}}
 */
export function alignSlots(lineXs) {
  /** @type {Map<number, number>} x -> the most points a line has at it */
  const mult = new Map();
  for (const lx of lineXs) {
    for (let i = 0; i < lx.length;) {
      let j = i + 1;
      while (j < lx.length && lx[j] === lx[i]) j++;
      const m = mult.get(lx[i]) || 0;
      if (j - i > m) mult.set(lx[i], j - i);
      i = j;
    }
  }
  const uniq = [...mult.keys()].sort((a, b) => a - b);
  /** @type {Map<number, number>} x -> its first slot */
  const first = new Map();
  /** @type {number[]} */
  const xs = [];
  for (const x of uniq) {
    first.set(x, xs.length);
    for (let k = /** @type {number} */ (mult.get(x)); k > 0; k--) xs.push(x);
  }
  const slot = lineXs.map((lx) => {
    const out = new Int32Array(lx.length);
    for (let i = 0; i < lx.length; i++) {
      const k = i > 0 && lx[i - 1] === lx[i] ? out[i - 1] + 1 : /** @type {number} */ (first.get(lx[i]));
      out[i] = k;
    }
    return out;
  });
  return { xs, slot };
}

/**
 * A line's points with numeric x, sorted by x stably (points at the same x stay in row order).
 * @param {unknown[]} x
 * @param {(number | null | undefined)[]} y
 * @returns {{x: number[], y: Ys}}
 */
export function sortLine(x, y) {
  const n = Math.min(x.length, y.length);
  let sorted = true, numeric = true;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (!isNum(v)) { numeric = false; break; }
    if (i && /** @type {number} */ (x[i - 1]) > v) sorted = false;
  }
  if (sorted && numeric) {
    return { x: /** @type {number[]} */ (n === x.length ? x : x.slice(0, n)), y: y.slice(0, n).map((v) => (v === undefined ? null : v)) };
  }
  /** @type {number[]} */
  const idx = [];
  for (let i = 0; i < n; i++) if (isNum(x[i])) idx.push(i);
  idx.sort((a, b) => /** @type {number} */ (x[a]) - /** @type {number} */ (x[b]) || a - b);
  return { x: idx.map((i) => /** @type {number} */ (x[i])), y: idx.map((i) => { const v = y[i]; return v === undefined ? null : v; }) };
}

/**
 * A column on slots with its gaps inside its own range filled by linear interpolation in x
 * (a group's member at the x values of the others).
 * @param {number[]} xs ascending
 * @param {Ys} col
 * @returns {Ys}
 */
export function fillGaps(xs, col) {
  const out = col.slice();
  let prev = -1;
  for (let i = 0; i < col.length; i++) {
    if (col[i] === null) continue;
    if (prev >= 0 && i - prev > 1) {
      const x0 = xs[prev], x1 = xs[i], y0 = /** @type {number} */ (col[prev]), y1 = /** @type {number} */ (col[i]);
      for (let k = prev + 1; k < i; k++) out[k] = x1 === x0 ? y0 : y0 + ((y1 - y0) * (xs[k] - x0)) / (x1 - x0);
    }
    prev = i;
  }
  return out;
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
  for (const s of metricSpecsOf(details)) {
    if (typeof s.step_metric === 'string' && s.step_metric && !out.includes(s.step_metric)) out.push(s.step_metric);
  }
  return out;
}

/**
 * Every run's define_metric specs, each with its name ({name, step_metric, ...}).
 * @param {any[]} details the runs as /ui/api/run answers
 * @returns {Record<string, any>[]}
 */
function metricSpecsOf(details) {
  /** @type {Record<string, any>[]} */
  const out = [];
  for (const d of details) {
    const m = d && d.metrics;
    if (Array.isArray(m)) out.push(...m.filter(isPlainObject));
    else if (isPlainObject(m)) for (const [name, s] of Object.entries(m)) if (isPlainObject(s)) out.push(Object.assign({ name }, s));
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

/**
 * define_metric's step metrics: metric key or glob ("val/*") -> its step_metric.
 * @param {any[]} details the runs as /ui/api/run answers
 * @returns {Record<string, string>}
 */
export function stepMetricsOf(details) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const s of metricSpecsOf(details)) {
    if (typeof s.name !== 'string' || !s.name || typeof s.step_metric !== 'string' || !s.step_metric) continue;
    if (!(s.name in out)) out[s.name] = s.step_metric;
  }
  return out;
}

/** @param {string} glob @returns {RegExp} */
const globRe = (glob) => new RegExp('^' + glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');

/**
 * The step metric that governs key: its own entry, else the longest matching glob.
 * @param {Record<string, string> | null | undefined} stepMetrics
 * @param {string} key
 * @returns {string | null}
 */
export function stepMetricFor(stepMetrics, key) {
  if (!stepMetrics) return null;
  if (Object.prototype.hasOwnProperty.call(stepMetrics, key)) return stepMetrics[key] === key ? null : stepMetrics[key];
  let best = null, len = -1;
  for (const [g, x] of Object.entries(stepMetrics)) {
    if (!g.includes('*') || g.length <= len || x === key) continue;
    if (globRe(g).test(key)) { best = x; len = g.length; }
  }
  return best;
}
