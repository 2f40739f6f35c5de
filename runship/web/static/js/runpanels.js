/* Panels over runs rather than steps (a workspace's bar, scatter and parallel-coordinates
 * panels, the compare page's parallel coordinates): each run is one bar, one point or one
 * polyline, from its config and summary. Columns are "config.K" / "summary.K". Drawn as SVG;
 * everything from a run goes in as text. */

import { h } from './dom.js';
import { summaryValue } from './filter.js';
import { clamp, fmtNum, fmtTick, fmtValue, isMissing, isNum, naturalCompare, toNumber } from './util.js';

/** @typedef {import('./panels.js').ChartRun & {config?: Record<string, unknown>, summary?: Record<string, unknown>, group?: string}} RunsPanelRun */
/**
 * The parts of a PanelSpec (contract §1) these panels read.
 * @typedef {{id?: string, type: string, title?: string | null, x?: string | null, y?: string | null, axes?: string[], h?: number, log?: boolean | null}} RunsPanelSpec
 */
/** @typedef {{onHoverRun?: (ref: string | null) => void}} RunsPanelOptions */
/** @typedef {{destroy(): void, highlight(ref: string | null): void}} RunsPanel */

const NS = 'http://www.w3.org/2000/svg';

/**
 * An SVG element: attributes set as attributes, `text` as its text.
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @param {...(SVGElement | null)} kids
 * @returns {SVGElement}
 */
function s(tag, attrs, ...kids) {
  const el = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const kid of kids) if (kid) el.append(kid);
  return el;
}

/**
 * A column's value of a run: "config.K" / "summary.K" (else the summary's, then the config's K);
 * a summary key as the filter reads it (K, else define_metric's K.max, K.min, K.last, K.mean).
 * @param {RunsPanelRun} r @param {string} col @returns {unknown}
 */
function columnOf(r, col) {
  const cfg = r.config || {}, sum = r.summary || {};
  if (col.startsWith('config.')) return cfg[col.slice(7)];
  if (col.startsWith('summary.')) return summaryValue(sum, col.slice(8));
  const found = summaryValue(sum, col);
  return found !== undefined ? found : cfg[col];
}

/** A column's name without its "config."/"summary." part, for an axis. @param {string} col */
const shortName = (col) => col.replace(/^(config|summary)\./, '');

/** Text cut to n characters. @param {string} t @param {number} n */
const cut = (t, n) => (t.length > n ? t.slice(0, Math.max(1, n - 1)) + '…' : t);

/** About n round ticks over [lo, hi]. @param {number} lo @param {number} hi @param {number} n @returns {number[]} */
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, n), mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * An axis over some values: numeric (min-max, ticks) when every present value is a number,
 * else categorical (the distinct values, evenly spaced). pos(v) in [0, 1] or null: missing.
 * @typedef {{numeric: boolean, log: boolean, lo: number, hi: number, cats: string[], pos: (v: unknown) => number | null, ticks: [number, string][]}} Scale
 * @param {unknown[]} vals
 * @param {boolean | 'auto'} [log] log-scaled when every value is positive ('auto': and they span 3 decades or more)
 * @returns {Scale}
 */
function scaleOf(vals, log) {
  const present = vals.filter((v) => !isMissing(v));
  const nums = present.map(toNumber);
  if (present.length && nums.every(isNum)) {
    const ns = /** @type {number[]} */ (nums);
    const positive = ns.every((v) => v > 0);
    const useLog = positive && (log === 'auto' ? Math.max(...ns) / Math.min(...ns) >= 1000 : !!log);
    const f = useLog ? Math.log10 : (/** @type {number} */ v) => v;
    let lo = Math.min(...ns.map(f)), hi = Math.max(...ns.map(f));
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    const ticks = useLog ? niceTicks(Math.ceil(lo), Math.floor(hi), 5).filter(Number.isInteger) : niceTicks(lo, hi, 4);
    return {
      numeric: true, log: useLog, lo, hi, cats: [],
      pos: (v) => { const n = toNumber(v); return isNum(n) && (!useLog || n > 0) ? (f(n) - lo) / (hi - lo) : null; },
      ticks: ticks.map((t) => [(t - lo) / (hi - lo), fmtTick(useLog ? 10 ** t : t)]),
    };
  }
  const cats = [...new Set(present.map((v) => fmtValue(v)))].sort(naturalCompare);
  /** @param {number} i */
  const at = (i) => (cats.length < 2 ? 0.5 : i / (cats.length - 1));
  return {
    numeric: false, log: false, lo: 0, hi: 0, cats,
    pos: (v) => { const i = isMissing(v) ? -1 : cats.indexOf(fmtValue(v)); return i < 0 ? null : at(i); },
    ticks: cats.map((c, i) => [at(i), c]),
  };
}

/**
 * A bar, scatter or parallel-coordinates panel of runs, in mount, width CSS pixels wide.
 * @param {HTMLElement} mount
 * @param {RunsPanelSpec} spec
 * @param {RunsPanelRun[]} runs
 * @param {number} width
 * @param {RunsPanelOptions} [o]
 * @returns {RunsPanel}
 */
export function drawRunsPanel(mount, spec, runs, width, o = {}) {
  const wrap = h('div', { class: 'runs-panel', dataset: { type: spec.type } });
  const tip = h('div', { class: 'rp-tip', hidden: true });
  wrap.append(tip);
  mount.append(wrap);
  const W = Math.max(200, Math.round(width || mount.clientWidth || 500));
  /** @type {Drawn} */
  let drawn;
  if (spec.type === 'bar') drawn = drawBar(spec, runs, W);
  else if (spec.type === 'scatter') drawn = drawScatter(spec, runs, W);
  else if (spec.type === 'parallel') drawn = drawParallel(spec, runs, W);
  else drawn = { el: note(`no panel of type ${spec.type}`), marks: new Map() };
  wrap.prepend(drawn.el);
  /** @param {string | null} ref */
  const highlight = (ref) => {
    wrap.classList.toggle('rp-hovering', ref !== null);
    for (const [r, els] of drawn.marks) for (const el of els) el.classList.toggle('rp-hot', r === ref);
  };
  /** @param {Event} e */
  const over = (e) => {
    const t = /** @type {Element} */ (e.target);
    const mark = t.closest ? t.closest('[data-ref]') : null;
    const ref = mark ? mark.getAttribute('data-ref') : null;
    highlight(ref);
    const run = runs.find((r) => r.ref === ref);
    if (!run || !(e instanceof MouseEvent)) { tip.hidden = true; if (o.onHoverRun) o.onHoverRun(null); return; }
    tip.replaceChildren(h('b', { text: run.label }), ...tipRows(spec, run).map((row) => h('div', { text: row })));
    const b = wrap.getBoundingClientRect();
    tip.style.left = clamp(e.clientX - b.left + 12, 0, Math.max(0, b.width - 200)) + 'px';
    tip.style.top = (e.clientY - b.top + 12) + 'px';
    tip.hidden = false;
    if (o.onHoverRun) o.onHoverRun(ref);
  };
  const leave = () => { highlight(null); tip.hidden = true; if (o.onHoverRun) o.onHoverRun(null); };
  wrap.addEventListener('mousemove', over);
  wrap.addEventListener('mouseleave', leave);
  return {
    destroy() { wrap.removeEventListener('mousemove', over); wrap.removeEventListener('mouseleave', leave); wrap.remove(); },
    highlight,
  };
}

/** @typedef {{el: Element, marks: Map<string, Element[]>}} Drawn a panel drawn: its element and each run's marks */

/** A panel's plot height: spec.h within [120, 1000], else dflt. @param {RunsPanelSpec} spec @param {number} dflt */
const heightOf = (spec, dflt) => (isNum(spec.h) ? clamp(spec.h, 120, 1000) : dflt);

/** @param {string} text */
const note = (text) => h('p', { class: 'muted rp-empty', text });

/** The tooltip's lines for a run: the columns the panel shows. @param {RunsPanelSpec} spec @param {RunsPanelRun} run @returns {string[]} */
function tipRows(spec, run) {
  const cols = spec.type === 'parallel' ? spec.axes || [] : [spec.x, spec.y].filter((c) => typeof c === 'string');
  return /** @type {string[]} */ (cols).map((c) => `${c} = ${fmtValue(columnOf(run, c))}`);
}

/** @param {Map<string, Element[]>} marks @param {string} ref @param {Element} el */
const addMark = (marks, ref, el) => { const a = marks.get(ref); if (a) a.push(el); else marks.set(ref, [el]); };

/**
 * Bars: spec.y per run (a bar each, in its color), or, with spec.x, the mean of spec.y per
 * value of spec.x. Horizontal, so names have room.
 * @param {RunsPanelSpec} spec @param {RunsPanelRun[]} runs @param {number} W @returns {Drawn}
 */
function drawBar(spec, runs, W) {
  const y = spec.y || '';
  /** @type {Map<string, Element[]>} */
  const marks = new Map();
  /** @type {{label: string, value: number, color: string, ref: string | null, n: number}[]} */
  let rows = [];
  const valued = runs.map((r) => ({ r, v: toNumber(columnOf(r, y)) })).filter((p) => isNum(p.v));
  if (spec.x) {
    /** @type {Map<string, {sum: number, n: number}>} */
    const cats = new Map();
    for (const p of valued) {
      const c = fmtValue(columnOf(p.r, spec.x));
      const a = cats.get(c) || { sum: 0, n: 0 };
      a.sum += /** @type {number} */ (p.v); a.n++;
      cats.set(c, a);
    }
    rows = [...cats.entries()].sort((a, b) => naturalCompare(a[0], b[0])).map(([c, a]) => ({ label: c || '(none)', value: a.sum / a.n, color: '#4363d8', ref: null, n: a.n }));
  } else rows = valued.map((p) => ({ label: p.r.label, value: /** @type {number} */ (p.v), color: p.r.color, ref: p.r.ref, n: 1 }));
  if (!y || !rows.length) return { el: note(y ? `no run has a number for ${y}` : 'choose a y column'), marks };
  const bh = rows.length <= 12 ? 18 : 13, T = 4, B = 22, L = Math.min(160, Math.round(W * 0.3)), R = 56;
  const H = T + B + rows.length * bh;
  let lo = Math.min(0, ...rows.map((r) => r.value)), hi = Math.max(0, ...rows.map((r) => r.value));
  if (!(hi > lo)) hi = lo + 1;
  /** @param {number} v */
  const X = (v) => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const svg = s('svg', { class: 'rp-svg rp-bar', width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  for (const t of niceTicks(lo, hi, 4)) {
    svg.append(s('line', { class: 'rp-grid', x1: X(t), x2: X(t), y1: T, y2: H - B }), s('text', { class: 'rp-tick', x: X(t), y: H - B + 13, 'text-anchor': 'middle', text: fmtTick(t) }));
  }
  rows.forEach((row, i) => {
    const yy = T + i * bh, x0 = X(Math.min(0, row.value)), x1 = X(Math.max(0, row.value));
    const g = s('g', { class: 'rp-bar-row', 'data-ref': row.ref, 'data-label': row.label },
      s('text', { class: 'rp-label', x: L - 6, y: yy + bh / 2 + 4, 'text-anchor': 'end', text: cut(row.label, Math.floor(L / 6.5)) }),
      s('rect', { class: 'rp-barrect', x: x0, y: yy + 2, width: Math.max(1, x1 - x0), height: bh - 4, fill: row.color }),
      s('text', { class: 'rp-value', x: x1 + 4, y: yy + bh / 2 + 4, text: fmtNum(row.value) + (row.n > 1 ? ` (${row.n})` : '') }),
      s('title', { text: `${row.label}: ${fmtNum(row.value)}` + (row.n > 1 ? ` (mean of ${row.n} runs)` : '') }));
    svg.append(g);
    if (row.ref) addMark(marks, row.ref, g);
  });
  svg.append(s('text', { class: 'rp-axis-title', x: W - R, y: H - 2, 'text-anchor': 'end', text: (spec.x ? 'mean ' : '') + y }));
  return { el: svg, marks };
}

/** Axes of a scatter plot, bottom and left. @param {SVGElement} svg @param {Scale} sc @param {'x' | 'y'} dir @param {number[]} box [L, T, R, B] of the plot @param {string} title */
function drawAxis(svg, sc, dir, box, title) {
  const [L, T, R, B] = box;
  for (const [p, label] of sc.ticks) {
    if (dir === 'x') {
      const x = L + p * (R - L);
      svg.append(s('line', { class: 'rp-grid', x1: x, x2: x, y1: T, y2: B }), s('text', { class: 'rp-tick', x, y: B + 13, 'text-anchor': 'middle', text: cut(label, 14) }));
    } else {
      const y = B - p * (B - T);
      svg.append(s('line', { class: 'rp-grid', x1: L, x2: R, y1: y, y2: y }), s('text', { class: 'rp-tick', x: L - 4, y: y + 4, 'text-anchor': 'end', text: cut(label, 9) }));
    }
  }
  if (dir === 'x') svg.append(s('text', { class: 'rp-axis-title', x: (L + R) / 2, y: B + 28, 'text-anchor': 'middle', text: title }));
  else svg.append(s('text', { class: 'rp-axis-title', x: 12, y: (T + B) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${(T + B) / 2})`, text: title }));
}

/** A scatter: spec.x against spec.y, a point per run. @param {RunsPanelSpec} spec @param {RunsPanelRun[]} runs @param {number} W @returns {Drawn} */
function drawScatter(spec, runs, W) {
  const xc = spec.x || '', yc = spec.y || '';
  /** @type {Map<string, Element[]>} */
  const marks = new Map();
  const pts = runs.filter((r) => !isMissing(columnOf(r, xc)) && isNum(toNumber(columnOf(r, yc))));
  if (!xc || !yc || !pts.length) return { el: note(xc && yc ? `no run has both ${xc} and ${yc}` : 'choose x and y columns'), marks };
  const H = heightOf(spec, 240);
  const sx = scaleOf(pts.map((r) => columnOf(r, xc))), sy = scaleOf(pts.map((r) => columnOf(r, yc)), !!spec.log);
  const box = [62, 8, W - 16, H - 36];
  const pad = (/** @type {number} */ p) => 0.04 + 0.92 * p; // points kept off the edges
  const svg = s('svg', { class: 'rp-svg rp-scatter', width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  drawAxis(svg, { ...sx, ticks: sx.ticks.map(([p, l]) => [pad(p), l]) }, 'x', box, xc);
  drawAxis(svg, { ...sy, ticks: sy.ticks.map(([p, l]) => [pad(p), l]) }, 'y', box, yc);
  for (const r of pts) {
    const px = sx.pos(columnOf(r, xc)), py = sy.pos(columnOf(r, yc));
    if (px === null || py === null) continue;
    const c = s('circle', { class: 'rp-point', 'data-ref': r.ref, cx: box[0] + pad(px) * (box[2] - box[0]), cy: box[3] - pad(py) * (box[3] - box[1]), r: 5, fill: r.color, stroke: r.color },
      s('title', { text: r.label }));
    svg.append(c);
    addMark(marks, r.ref, c);
  }
  return { el: svg, marks };
}

/**
 * Parallel coordinates: an axis per column of spec.axes, a polyline per run in its color;
 * drag along an axis to keep the runs in a range (click it to clear).
 * @param {RunsPanelSpec} spec @param {RunsPanelRun[]} runs @param {number} W @returns {Drawn}
 */
function drawParallel(spec, runs, W) {
  const axes = (spec.axes || []).filter((a) => typeof a === 'string').slice(0, 40);
  /** @type {Map<string, Element[]>} */
  const marks = new Map();
  if (axes.length < 2) return { el: note('choose two or more axes'), marks };
  const H = heightOf(spec, 260), T = 42, B = H - 14, L = 56, R = W - 56;
  const scales = axes.map((a) => scaleOf(runs.map((r) => columnOf(r, a)), 'auto'));
  const ax = axes.map((_, i) => L + (i * (R - L)) / (axes.length - 1));
  const svg = s('svg', { class: 'rp-svg rp-parallel', width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const lines = s('g', { class: 'pc-lines' });
  svg.append(lines);
  /** @type {{ref: string, ys: (number | null)[], el: Element}[]} */
  const drawnRuns = [];
  for (const r of runs) {
    const ys = axes.map((a, i) => { const p = scales[i].pos(columnOf(r, a)); return p === null ? null : B - p * (B - T); });
    let d = '', pen = false;
    ys.forEach((y, i) => { if (y === null) { pen = false; return; } d += (pen ? 'L' : 'M') + ax[i].toFixed(1) + ' ' + y.toFixed(1); pen = true; });
    if (!d) continue;
    const g = s('g', { class: 'pc-run', 'data-ref': r.ref },
      s('path', { class: 'pc-line', d, stroke: r.color }), s('path', { class: 'pc-hit', d }), s('title', { text: r.label }));
    lines.append(g);
    drawnRuns.push({ ref: r.ref, ys, el: g });
    addMark(marks, r.ref, g);
  }
  const count = s('text', { class: 'pc-count', x: W - 4, y: 10, 'text-anchor': 'end' });
  svg.append(count);
  /** @type {([number, number] | null)[]} */
  const brushes = axes.map(() => null);
  const applyBrushes = () => {
    let n = 0;
    for (const d of drawnRuns) {
      const ok = brushes.every((b, i) => !b || (d.ys[i] !== null && /** @type {number} */ (d.ys[i]) >= b[0] && /** @type {number} */ (d.ys[i]) <= b[1]));
      d.el.classList.toggle('pc-out', !ok);
      if (ok) n++;
    }
    count.textContent = brushes.some(Boolean) ? `${n} of ${drawnRuns.length} runs in range` : '';
  };
  axes.forEach((a, i) => svg.append(parallelAxis(svg, a, scales[i], ax[i], T, B, (range) => { brushes[i] = range; applyBrushes(); })));
  return { el: svg, marks };
}

/**
 * One axis of parallel coordinates: line, ticks, title, and its brush.
 * @param {SVGElement} svg @param {string} col @param {Scale} sc @param {number} x @param {number} T @param {number} B
 * @param {(range: [number, number] | null) => void} onBrush
 * @returns {SVGElement}
 */
function parallelAxis(svg, col, sc, x, T, B, onBrush) {
  const g = s('g', { class: 'pc-axis', 'data-col': col },
    s('line', { class: 'pc-axis-line', x1: x, x2: x, y1: T, y2: B }),
    s('text', { class: 'pc-axis-title', x, y: 12, 'text-anchor': 'middle', text: cut(shortName(col), 22) }, s('title', { text: col })),
    s('text', { class: 'pc-axis-kind', x, y: 25, 'text-anchor': 'middle', text: (col.startsWith('summary.') ? 'summary' : col.startsWith('config.') ? 'config' : '') + (sc.log ? ' · log' : '') }));
  for (const [p, label] of sc.ticks) {
    const y = B - p * (B - T);
    g.append(s('line', { class: 'pc-tick-mark', x1: x - 3, x2: x, y1: y, y2: y }), s('text', { class: 'pc-tick', x: x - 5, y: y + 3.5, 'text-anchor': 'end', text: cut(label, 10) }));
  }
  const brush = s('rect', { class: 'pc-brush', x: x - 7, width: 14, y: 0, height: 0, visibility: 'hidden' });
  const hit = s('rect', { class: 'pc-axis-hit', x: x - 10, width: 20, y: T - 4, height: B - T + 8 });
  g.append(brush, hit);
  /** @param {PointerEvent} e */
  const yOf = (e) => { const b = svg.getBoundingClientRect(); return clamp(e.clientY - b.top, T, B); };
  hit.addEventListener('pointerdown', (ev) => {
    const e = /** @type {PointerEvent} */ (ev);
    e.preventDefault();
    const y0 = yOf(e);
    /** @param {PointerEvent} m */
    const set = (m) => {
      const y1 = yOf(m), lo = Math.min(y0, y1), hi = Math.max(y0, y1);
      brush.setAttribute('y', String(lo)); brush.setAttribute('height', String(hi - lo));
      brush.setAttribute('visibility', hi - lo >= 3 ? 'visible' : 'hidden');
      onBrush(hi - lo >= 3 ? [lo, hi] : null);
    };
    const move = (/** @type {Event} */ m) => set(/** @type {PointerEvent} */ (m));
    const up = (/** @type {Event} */ m) => { set(/** @type {PointerEvent} */ (m)); window.removeEventListener('pointermove', move); window.removeEventListener('pointerup', up); };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  });
  return g;
}
