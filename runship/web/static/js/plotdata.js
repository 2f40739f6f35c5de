/* A line panel's uPlot series and data from the fetched series: a line per run and metric
 * (smoothed, its raw values faint under it), or per group and metric its mean and a band;
 * every point keeps its own slot on x (repeated x values included: series.js alignSlots). */

import { edgeSeries, faintSeries, lineSeries } from './charts.js';
import { aggregate, alignSlots, bandOf, ema, fillGaps, sortLine } from './series.js';
import { PALETTE, isNum, rgba } from './util.js';

/** @typedef {import('./api.js').XY} XY */
/** @typedef {import('./hooks.js').HookSeries} HookSeries */
/** @typedef {{ref: string, label: string, color: string, live: boolean, config?: Record<string, unknown>, summary?: Record<string, unknown>, group?: string}} ChartRun */
/** @typedef {{label: string, color: string, refs: string[]}} ChartGroup */

/**
 * A line: one run's values of one metric, x ascending.
 * @typedef {{run: ChartRun, metric: string, mi: number, label: string, color: string, dash: number[] | undefined, x: number[], raw: (number | null)[], vals: (number | null)[], sm: (number | null)[]}} Line
 */
/**
 * What the tooltip, the legend and the emphasis know of a drawn line.
 * @typedef {{key: string, ref: string | null, refs: string[], label: string, color: string, si: number, x: number[], y: (number | null)[]}} Entry
 */
/**
 * @typedef {object} PlotData
 * @property {uPlot.Series[]} series
 * @property {uPlot.Data} data
 * @property {uPlot.Band[]} bands
 * @property {HookSeries[]} hook
 * @property {Entry[]} entries
 * @property {(string | null)[]} seriesKey by series index: the run (or "group:" label) it draws
 * @property {number[]} baseWidth by series index
 */

/** Dashes of a panel's second, third, ... metric (several runs: the color is the run's). */
const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [1, 5]];

/**
 * The panel's lines: per metric, per shown run with values.
 * @param {string[]} metrics
 * @param {Map<string, Record<string, XY>>} data by metric, then ref
 * @param {ChartRun[]} runs the shown (not hidden) runs
 * @param {number} smooth
 * @param {boolean} log
 */
export function linesOf(metrics, data, runs, smooth, log) {
  /** @type {Line[]} */
  const lines = [];
  let points = 0;
  const multi = metrics.length > 1;
  const withData = new Set();
  for (const m of metrics) for (const r of runs) { const s = data.get(m)?.[r.ref]; if (s && s.x.length) withData.add(r.ref); }
  const oneRun = withData.size <= 1;
  metrics.forEach((m, mi) => {
    const d = data.get(m);
    if (!d) return;
    for (const r of runs) {
      const s = d[r.ref];
      if (!s || !s.x.length) continue;
      const { x, y: raw } = sortLine(s.x, s.y);
      const vals = raw.map((v) => (isNum(v) && (!log || v > 0) ? v : null));
      for (const v of raw) if (v !== null) points++;
      lines.push({
        run: r, metric: m, mi, x, raw, vals, sm: smooth > 0 ? ema(vals, smooth) : vals,
        label: multi ? `${r.label} · ${m}` : r.label,
        color: multi && oneRun ? PALETTE[mi % PALETTE.length] : r.color,
        dash: multi && !oneRun ? DASHES[mi % DASHES.length] : undefined,
      });
    }
  });
  return { lines, points };
}

/**
 * @param {Line[]} lines
 * @param {ChartGroup[] | null} groups
 * @param {string} band
 * @param {string} xLabel
 * @param {number} smooth
 * @returns {PlotData}
 */
export function plotData(lines, groups, band, xLabel, smooth) {
  const { xs, slot } = alignSlots(lines.map((l) => l.x));
  /** @param {number} li @param {(number | null)[]} ys */
  const column = (li, ys) => {
    /** @type {(number | null)[]} */
    const out = new Array(xs.length).fill(null);
    const s = slot[li];
    for (let i = 0; i < ys.length; i++) if (ys[i] !== null) out[s[i]] = ys[i];
    return out;
  };
  /** @type {PlotData} */
  const pd = { series: [{ label: xLabel }], data: [xs], bands: [], hook: [], entries: [], seriesKey: [null], baseWidth: [0] };
  /** @param {uPlot.Series} s @param {(number | null)[]} col @param {string | null} key */
  const push = (s, col, key) => {
    pd.series.push(s);
    pd.data.push(col);
    pd.seriesKey.push(key);
    pd.baseWidth.push(s.width || 1);
    return pd.series.length - 1;
  };
  if (!groups) {
    if (smooth > 0) lines.forEach((l, li) => { const s = faintSeries(l.label, l.color); s.dash = l.dash; push(s, column(li, l.vals), l.run.ref); });
    lines.forEach((l, li) => {
      const s = lineSeries(l.label, l.color, 1.5);
      s.dash = l.dash;
      const si = push(s, column(li, l.sm), l.run.ref);
      pd.hook.push({ ref: l.run.ref, label: l.label, color: l.color, x: l.x, y: l.sm, raw: l.raw, metric: l.metric });
      pd.entries.push({ key: l.run.ref, ref: l.run.ref, refs: [l.run.ref], label: l.label, color: l.color, si, x: l.x, y: l.sm });
    });
    return pd;
  }
  const metrics = [...new Set(lines.map((l) => l.metric))];
  for (const g of groups) {
    for (const m of metrics) {
      const idx = lines.map((l, li) => li).filter((li) => lines[li].metric === m && g.refs.includes(lines[li].run.ref));
      if (!idx.length) continue;
      const agg = aggregate(xs.length, idx.map((li) => fillGaps(xs, column(li, lines[li].sm))));
      const rawAgg = aggregate(xs.length, idx.map((li) => fillGaps(xs, column(li, lines[li].vals))));
      const label = `${g.label} (${idx.length})` + (metrics.length > 1 ? ` · ${m}` : '');
      const key = 'group:' + g.label;
      const dash = lines[idx[0]].dash;
      const b = bandOf(agg, band);
      if (b) {
        const lo = push(edgeSeries(g.color), b.lo, key);
        const hi = push(edgeSeries(g.color), b.hi, key);
        pd.bands.push({ series: [hi, lo], fill: rgba(g.color, 0.14) });
      }
      if (smooth > 0) { const s = faintSeries(label, g.color); s.dash = dash; push(s, rawAgg.mean, key); }
      const s = lineSeries(label, g.color, 2);
      s.dash = dash;
      const si = push(s, agg.mean, key);
      const refs = idx.map((li) => lines[li].run.ref);
      pd.hook.push({ ref: null, group: g.label, refs, label, color: g.color, x: xs, y: agg.mean, raw: rawAgg.mean, min: b ? b.lo : agg.min, max: b ? b.hi : agg.max, metric: m });
      pd.entries.push({ key, ref: null, refs, label, color: g.color, si, x: xs, y: agg.mean });
    }
  }
  return pd;
}
