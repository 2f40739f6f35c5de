/* Every uPlot chart of the page is made here (the one module that knows uPlot's options):
 * a metric panel (panels.js), a wandb.plot or plotly chart (plots.js) and the compare page's
 * scatter. uPlot is the vendored global (vendor/uPlot.iife.min.js, loaded before the page). */

import { PALETTE, fmtTick, isNum, rgba } from './util.js';

/** A metric panel's plot height, in CSS pixels. */
export const PLOT_H = 210;

/** The axes' look, shared by the panels and the scatter. @returns {uPlot.Axis} */
const axisStyle = () => ({
  stroke: '#6b7280',
  grid: { stroke: '#eef0f3', width: 1 },
  ticks: { stroke: '#e3e6ea', width: 1, size: 4 },
  font: '11px system-ui, sans-serif',
});

/** @param {uPlot} u @param {number[]} splits */
const tickLabels = (u, splits) => splits.map(fmtTick);

/** A run's unsmoothed line under its smoothed one. @param {string} label @param {string} color @returns {uPlot.Series} */
export const faintSeries = (label, color) => ({ label: label + ' (raw)', stroke: rgba(color, 0.22), width: 1, spanGaps: true, points: { show: false } });
/** @param {string} label @param {string} color @param {number} width @returns {uPlot.Series} */
export const lineSeries = (label, color, width) => ({ label, stroke: color, width, spanGaps: true, points: { size: 4 } });
/** A group's min or max line (the band's edge). @param {string} color @returns {uPlot.Series} */
export const edgeSeries = (color) => ({ label: '', stroke: rgba(color, 0.3), width: 1, spanGaps: true, points: { show: false } });

/**
 * How a metric panel's plot behaves: its x key, log y, the cursor sync group, and what a
 * double-click (reset zoom), a drag (select an x range) and a cursor move do.
 * @typedef {object} PanelPlotOptions
 * @property {string} x
 * @property {boolean} log
 * @property {string} syncKey
 * @property {() => void} onReset
 * @property {(u: uPlot) => void} onSelect
 * @property {(u: uPlot) => void} onCursor
 * @property {number} [height] px (default PLOT_H)
 * @property {[number | null, number | null] | null} [yrange] fixed y bounds (null: from the data)
 */

/**
 * A metric panel's plot, in mount.
 * @param {HTMLElement} mount
 * @param {number} width
 * @param {uPlot.Series[]} series
 * @param {uPlot.Band[]} bands
 * @param {uPlot.Data} data
 * @param {PanelPlotOptions} o
 * @returns {uPlot}
 */
export function panelPlot(mount, width, series, bands, data, o) {
  const isTime = o.x === '_timestamp';
  const xAxis = axisStyle();
  if (!isTime) xAxis.values = tickLabels;
  const yAxis = Object.assign(axisStyle(), { size: 54, values: tickLabels });
  /** @type {uPlot.Scale} */
  const y = o.log ? { distr: 3, log: 10 } : {};
  const yr = o.yrange;
  if (yr && (yr[0] !== null || yr[1] !== null)) {
    y.range = (u, min, max) => {
      const lo = yr[0] !== null && (!o.log || yr[0] > 0) ? yr[0] : min, hi = yr[1] !== null ? yr[1] : max;
      return lo < hi ? [lo, hi] : [lo, lo + (Math.abs(lo) || 1)];
    };
  }
  /** @type {uPlot.Options} */
  const opts = {
    width,
    height: o.height || PLOT_H,
    legend: { show: false },
    series,
    bands,
    scales: { x: { time: isTime }, y },
    axes: [xAxis, yAxis],
    cursor: {
      drag: { x: true, y: false, setScale: false },
      sync: { key: o.syncKey },
      bind: { dblclick: () => () => { o.onReset(); return null; } },
    },
    hooks: {
      setSelect: [(u) => o.onSelect(u)],
      setCursor: [(u) => o.onCursor(u)],
    },
  };
  return new uPlot(opts, data, mount);
}

/** @typedef {[string, [unknown, number | null][]]} XYLine a line: its label and its [x, y] points */

/**
 * Lines [[label, [[x, y], ...]], ...] on one uPlot chart (x values merged).
 * @param {HTMLElement} wrap
 * @param {XYLine[]} lines
 * @param {'line' | 'points' | 'bars'} mode
 * @param {string[] | null} categories x labels by index (bars of named categories)
 * @param {string} xlabel
 * @param {string} ylabel
 * @returns {uPlot}
 */
export function xyChart(wrap, lines, mode, categories, xlabel, ylabel) {
  // every point keeps its own slot, in x order (ties: by line, then as logged), so that
  // repeated x values stay (a scatter, a ROC curve's vertical steps); other lines are gaps there
  /** @type {[number, number, number, number | null][]} */
  const all = [];
  lines.forEach(([, pts], n) => pts.forEach((p, i) => { if (isNum(p[0])) all.push([p[0], n, i, p[1]]); }));
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const xs = all.map((a) => a[0]);
  /** @type {(number | null)[][]} */
  const columns = lines.map(() => new Array(all.length).fill(null));
  all.forEach((a, k) => { columns[a[1]][k] = a[3]; });
  /** @type {uPlot.Data} */
  const data = [xs];
  /** @type {uPlot.Series[]} */
  const series = [{ label: xlabel || 'x' }];
  lines.forEach(([label], n) => {
    data.push(columns[n]);
    const color = PALETTE[n % PALETTE.length];
    /** @type {uPlot.Series} */
    const s = { label: label || ylabel || 'y', stroke: color, width: mode === 'points' ? 0 : 2, spanGaps: true };
    if (mode === 'points') { s.paths = () => null; s.points = { show: true, size: 6, fill: color }; }
    if (mode === 'bars') { s.paths = uPlot.paths.bars({ size: [0.7, 60] }); s.fill = rgba(color, 0.6); s.points = { show: false }; }
    series.push(s);
  });
  /** @type {uPlot.Axis[]} */
  const axes = [{ label: xlabel || null }, { label: ylabel || null }];
  if (categories) axes[0].values = (u, vals) => vals.map((v) => (Number.isInteger(v) && categories[v] !== undefined ? categories[v] : ''));
  const width = Math.max(300, Math.min(560, wrap.clientWidth || 460));
  /** @type {uPlot.Options} */
  const opts = { width, height: 260, series, axes, scales: { x: { time: false } }, legend: { show: lines.length > 1 || !!lines[0][0] } };
  return new uPlot(opts, data, wrap);
}

/**
 * A range around [min, max] with a margin (or around the value, or [0, 1]).
 * @param {number | null} min
 * @param {number | null} max
 * @returns {[number, number]}
 */
const padRange = (min, max) => {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) { const d = Math.abs(min) * 0.1 || 1; return [min - d, max + d]; }
  const d = (max - min) * 0.08;
  return [min - d, max + d];
};

/** @typedef {{label: string, color: string, x: number, y: number}} ScatterPoint */

/**
 * @typedef {object} ScatterOptions
 * @property {string} xLabel
 * @property {string} yLabel
 * @property {string[] | null} cats x categories (x is an index into them), or null: numeric x
 * @property {boolean} log log-scaled x
 * @property {(x: number | null) => void} onCursor the x under the cursor (null: none)
 */

/**
 * The compare page's scatter: a point per run, a config value (x) against a summary metric (y).
 * @param {HTMLElement} mount
 * @param {ScatterPoint[]} pts
 * @param {number[]} xs the points' x values, sorted, without duplicates
 * @param {ScatterOptions} o
 * @returns {uPlot}
 */
export function scatterChart(mount, pts, xs, o) {
  const { cats, log } = o;
  /** @type {uPlot.Data} */
  const data = [xs];
  /** @type {uPlot.Series[]} */
  const series = [{ label: o.xLabel }];
  for (const p of pts) {
    /** @type {(number | null)[]} */
    const arr = new Array(xs.length).fill(null);
    arr[xs.indexOf(p.x)] = p.y;
    data.push(arr);
    series.push({ label: p.label, stroke: p.color, paths: () => null, points: { show: true, space: 0, size: 10, width: 1, stroke: p.color, fill: rgba(p.color, 0.75) } });
  }
  const xAxis = Object.assign(axisStyle(), { space: 70, label: 'config.' + o.xLabel, labelSize: 18, labelFont: '11px system-ui, sans-serif' });
  if (cats) {
    xAxis.splits = () => cats.map((_, i) => i);
    xAxis.values = (self, splits) => splits.map((v) => (Number.isInteger(v) && cats[v] !== undefined ? cats[v] : ''));
  } else xAxis.values = tickLabels;
  const yAxis = Object.assign(axisStyle(), { size: 54, values: tickLabels, label: 'summary.' + o.yLabel, labelSize: 18, labelFont: '11px system-ui, sans-serif' });
  return new uPlot({
    width: Math.max(300, mount.clientWidth || 800),
    height: 340,
    legend: { show: false },
    series,
    scales: {
      x: log ? { time: false, distr: 3, log: 10, range: (self, min, max) => [min / 1.6, max * 1.6] } : { time: false, range: (self, min, max) => (cats ? [-0.5, cats.length - 0.5] : padRange(min, max)) },
      y: { range: (self, min, max) => padRange(min, max) },
    },
    axes: [xAxis, yAxis],
    cursor: { drag: { x: false, y: false, setScale: false }, points: { show: false } },
    hooks: {
      setCursor: [(self) => {
        const i = self.cursor.idx;
        o.onCursor(i === null || i === undefined ? null : xs[i]);
      }],
    },
  }, data, mount);
}
