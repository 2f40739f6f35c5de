/* A grid of metric charts (the runs view's, the run page's Charts and System tabs): one panel
 * per key, sectioned by the prefix before the first "/"; panels are drawn lazily
 * (IntersectionObserver) from batched series requests (up to 10 keys, all shown runs);
 * smoothing, log scale, zoom (refetched for the range), CSV and PNG downloads, and live
 * refresh. Its state (x, smoothing, log, panel filter, zoom) lives in the page's Params. */

import { report } from './api.js';
import { PLOT_H, edgeSeries, faintSeries, lineSeries, panelPlot } from './charts.js';
import { downloadBlob, downloadUrl, h } from './dom.js';
import { RS } from './hooks.js';
import { aggregate, ema, interpOnto, nearestDefined, unionSorted } from './series.js';
import { clamp, debounce, fmtNum, fmtTime, isNum, naturalCompare, rgba, safeFileName } from './util.js';

/** @typedef {import('./api.js').XY} XY */
/** @typedef {import('./api.js').SeriesQuery} SeriesQuery */
/** @typedef {import('./hooks.js').ChartHook} ChartHook */
/** @typedef {import('./hooks.js').HookSeries} HookSeries */
/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */

/** @typedef {{ref: string, label: string, color: string, live: boolean}} ChartRun */
/** @typedef {{label: string, color: string, refs: string[]}} ChartGroup */

/**
 * @typedef {object} ChartsOptions
 * @property {ChartRun[]} runs
 * @property {string[]} keys
 * @property {string[]} xOptions
 * @property {Params} params the page's
 * @property {() => void} save records params in the address
 * @property {(keys: string[], q: SeriesQuery) => Promise<Record<string, Record<string, XY>>>} fetch by ref, then key
 * @property {ChartGroup[] | null} [groups] a line per group (mean, min-max band) instead of per run
 * @property {string} [fixedX]
 * @property {(key: string) => string} [sectionOf]
 * @property {(key: string) => string} [titleOf] a panel's title (default: its key)
 * @property {(a: string, b: string) => number} [sectionOrder]
 * @property {string} [title]
 * @property {() => void} [onFirstRender] default: the view is ready
 * @property {number} [liveMs]
 * @property {string} [emptyText]
 * @property {string} [collapseKey]
 */

/** @typedef {{label: string, color: string, x: number[], y: (number | null)[], min?: (number | null)[], max?: (number | null)[]}} LegendLine */

/**
 * @typedef {object} Panel
 * @property {string} key
 * @property {HTMLElement} el
 * @property {HTMLElement} plot
 * @property {HTMLElement} legend
 * @property {uPlot | null} u
 * @property {string} sig
 * @property {string | null} fetchedFor
 * @property {boolean} visible
 * @property {boolean} needsDraw
 * @property {ChartHook | null} hook
 * @property {LegendLine[]} legendLines
 * @property {{el: HTMLElement, v: HTMLElement}[] | null} legendItems
 * @property {HTMLElement | null} lx
 */

/** @typedef {{run: ChartRun, x: number[], raw: (number | null)[], vals: (number | null)[], sm: (number | null)[]}} Line */

/** @type {Set<string>} section names the user folded, kept across views */
const collapsedSections = new Set();

/** @param {string} key */
function sectionOfKey(key) {
  const i = key.indexOf('/');
  return i > 0 ? key.slice(0, i) : 'charts';
}
/** @param {string} a @param {string} b */
function defaultSectionOrder(a, b) {
  if (a === b) return 0;
  if (a === 'charts') return -1;
  if (b === 'charts') return 1;
  return naturalCompare(a, b);
}

/** The charts of some runs, in mount, until destroy() (or the view is left: the caller's cleanup). */
export class ChartsView {
  /** @param {ViewCtx} ctx @param {HTMLElement} mount @param {ChartsOptions} o */
  constructor(ctx, mount, o) {
    this.ctx = ctx;
    this.o = o;
    this.params = o.params;
    this.runs = o.runs;
    this.groups = o.groups && o.groups.length ? o.groups : null;
    this.dead = false;
    this.xOptions = o.xOptions.slice();
    this.x = o.fixedX || this.params.get('x') || this.xOptions[0];
    if (!this.xOptions.includes(this.x)) this.xOptions.push(this.x);
    this.smooth = clamp(this.params.num('smooth', 0), 0, 0.99);
    this.log = this.params.get('log') === '1';
    this.filter = this.params.get('panels');
    const z = this.params.list('zoom').map(Number);
    /** @type {number[] | null} */
    this.zoomRange = z.length === 2 && z.every(Number.isFinite) && z[0] < z[1] ? z : null;
    /** @type {Map<string, Panel>} */
    this.panels = new Map(); // key -> panel state
    /** @type {Map<Element, Panel>} */
    this.panelByEl = new Map();
    /** @type {Map<string, Record<string, XY>>} */
    this.data = new Map(); // key -> {REF: {x, y}}: replaced on every fetch
    /** @type {Set<string>} */
    this.queue = new Set();
    this.inflight = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.flushTimer = null;
    this.raf = 0;
    this.firstDone = false;
    this.busy = false;
    this.syncKey = 'runship-charts'; // one key for all: uPlot keeps a registry entry per key
    // made by buildControls and buildPanels
    /** @type {HTMLElement} */
    this.pfError;
    /** @type {HTMLElement} */
    this.smLabel;
    /** @type {HTMLElement} */
    this.zoomInfo;
    /** @type {ReturnType<typeof debounce>} */
    this.pfInput;
    /** @type {ReturnType<typeof debounce>} */
    this.saveSoon;
    /** @type {{name: string, el: HTMLElement, keys: string[], count: HTMLElement}[]} */
    this.sections;
    this.root = h('div', { class: 'charts' });
    if (o.title) this.root.append(h('div', { class: 'charts-title', text: o.title }));
    mount.append(this.root);
    this.buildControls();
    this.buildPanels();
    this.io = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: '150px 0px' });
    for (const p of this.panels.values()) this.io.observe(p.el);
    this.onResize = debounce(() => this.resize(), 150);
    window.addEventListener('resize', this.onResize);
    this.liveTimer = setInterval(() => this.liveTick(), o.liveMs || 3000);
    /** @param {number} lo @param {number} hi */
    this.zoomFn = (lo, hi) => this.zoom(lo, hi);
    this.resetFn = () => this.resetZoom();
    RS.zoom = this.zoomFn;
    RS.resetZoom = this.resetFn;
    this.updateZoomInfo();
    if (!this.panels.size) ctx.later(() => this.settle(), 0);
  }

  // ---- controls and layout
  buildControls() {
    const pf = h('input', { id: 'panel-filter', type: 'search', placeholder: 'filter panels (regex)', spellcheck: 'false', value: this.filter });
    this.pfError = h('span', { id: 'panel-filter-error', class: 'error' });
    const xs = h('select', { id: 'xaxis', title: 'x axis' }, this.xOptions.map((v) => h('option', { value: v, text: v })));
    xs.value = this.x;
    xs.disabled = this.xOptions.length < 2;
    const sm = h('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', value: String(this.smooth) });
    this.smLabel = h('span', { id: 'smoothing-value', text: this.smooth.toFixed(2) });
    const lg = h('input', { id: 'logscale', type: 'checkbox', checked: this.log });
    const rz = h('button', { id: 'reset-zoom', type: 'button', text: 'reset zoom', title: 'or double-click a chart' });
    this.zoomInfo = h('span', { class: 'zoom-info' });
    this.root.append(h('div', { class: 'chart-controls' },
      h('span', { class: 'pf' }, pf, this.pfError),
      h('label', null, 'x', xs),
      h('label', null, 'smoothing', sm, this.smLabel),
      h('label', null, lg, 'log y'),
      rz, this.zoomInfo));

    this.pfInput = debounce(() => { this.filter = pf.value; this.applyFilter(); this.saveState(); }, 200);
    pf.addEventListener('input', this.pfInput);
    xs.addEventListener('change', () => {
      this.x = xs.value;
      this.zoomRange = null;
      this.data.clear();
      this.saveState();
      this.refetchAll(true);
    });
    this.saveSoon = debounce(() => this.saveState(), 250);
    sm.addEventListener('input', () => {
      this.smooth = clamp(parseFloat(sm.value) || 0, 0, 0.99);
      this.smLabel.textContent = this.smooth.toFixed(2);
      this.saveSoon();
      this.redrawSoon();
    });
    sm.addEventListener('change', () => { this.saveSoon.cancel(); this.saveState(); });
    lg.addEventListener('change', () => { this.log = lg.checked; this.saveState(); this.redrawAll(); });
    rz.addEventListener('click', () => this.resetZoom());
  }

  buildPanels() {
    const sectionOf = this.o.sectionOf || sectionOfKey;
    /** @type {Map<string, string[]>} */
    const bySection = new Map();
    for (const key of this.o.keys) {
      const s = sectionOf(key);
      if (!bySection.has(s)) bySection.set(s, []);
      bySection.get(s)?.push(key);
    }
    const wrap = h('div', { class: 'sections' });
    if (!this.o.keys.length) wrap.append(h('p', { class: 'muted', text: this.o.emptyText || 'No numeric metrics logged.' }));
    this.sections = [];
    for (const name of [...bySection.keys()].sort(this.o.sectionOrder || defaultSectionOrder)) {
      const keys = bySection.get(name) || [];
      const grid = h('div', { class: 'panel-grid' });
      const count = h('span', { class: 'n', text: `(${keys.length})` });
      const head = h('button', { type: 'button', class: 'section-head' }, h('span', { class: 'caret', text: '▾' }), h('span', { text: name }), count);
      const sec = h('section', { class: 'chart-section', dataset: { section: name } }, head, grid);
      const ck = (this.o.collapseKey || '') + '\u0000' + name;
      if (collapsedSections.has(ck)) sec.classList.add('collapsed');
      head.addEventListener('click', () => {
        const c = sec.classList.toggle('collapsed');
        if (c) collapsedSections.add(ck);
        else collapsedSections.delete(ck);
      });
      for (const key of keys) {
        const p = this.makePanel(key);
        grid.append(p.el);
        this.panels.set(key, p);
        this.panelByEl.set(p.el, p);
      }
      this.sections.push({ name, el: sec, keys, count });
      wrap.append(sec);
    }
    this.root.append(wrap);
    this.applyFilter();
  }

  /** @param {string} key @returns {Panel} */
  makePanel(key) {
    const png = h('button', { class: 'png', type: 'button', title: 'download as PNG', text: 'PNG' });
    const csv = h('button', { class: 'csv', type: 'button', title: 'download the data as CSV', text: 'CSV' });
    const legend = h('div', { class: 'panel-legend' });
    const plot = h('div', { class: 'panel-plot' }, h('div', { class: 'placeholder', text: 'loading…' }));
    const el = h('div', { class: 'panel', dataset: { key } },
      h('div', { class: 'panel-head' }, h('span', { class: 'panel-title', title: key, text: this.o.titleOf ? this.o.titleOf(key) : key }), h('span', { class: 'panel-tools' }, png, csv)),
      legend, plot);
    png.addEventListener('click', () => this.downloadPng(key));
    csv.addEventListener('click', () => this.downloadCsv(key));
    return { key, el, plot, legend, u: null, sig: '', fetchedFor: null, visible: false, needsDraw: false, hook: null, legendLines: [], legendItems: null, lx: null };
  }

  applyFilter() {
    let re = null;
    this.pfError.textContent = '';
    if (this.filter) {
      try { re = new RegExp(this.filter, 'i'); } catch (e) { this.pfError.textContent = 'invalid regex: ' + e.message; }
    }
    for (const p of this.panels.values()) p.el.classList.toggle('hidden', !!re && !re.test(p.key));
    for (const s of this.sections) {
      const n = re ? s.keys.filter((k) => re.test(k)).length : s.keys.length;
      s.el.classList.toggle('hidden', n === 0);
      s.count.textContent = n === s.keys.length ? `(${n})` : `(${n} of ${s.keys.length})`;
    }
  }

  saveState() {
    if (this.dead) return;
    const P = this.params;
    if (!this.o.fixedX) P.set('x', this.x === this.xOptions[0] ? null : this.x);
    P.set('smooth', this.smooth > 0 ? this.smooth.toFixed(2) : null);
    P.set('log', this.log ? '1' : null);
    P.set('panels', this.filter || null);
    P.set('zoom', this.zoomRange ? this.zoomRange.map(String) : null);
    this.o.save();
  }

  updateZoomInfo() {
    this.zoomInfo.textContent = this.zoomRange ? `zoom ${fmtNum(this.zoomRange[0])} – ${fmtNum(this.zoomRange[1])}` : '';
  }

  // ---- fetching
  stateKey() { return this.x + '|' + (this.zoomRange ? this.zoomRange.join(',') : ''); }

  /** @param {IntersectionObserverEntry[]} entries */
  onIntersect(entries) {
    if (this.dead) return;
    const sk = this.stateKey();
    for (const e of entries) {
      const p = this.panelByEl.get(e.target);
      if (!p) continue;
      p.visible = e.isIntersecting;
      if (!p.visible) continue;
      if (p.fetchedFor !== sk) this.queue.add(p.key);
      else if (p.needsDraw) this.draw(p.key);
    }
    if (this.queue.size) this.schedule();
    else this.settle();
  }

  schedule() {
    if (!this.flushTimer && !this.dead) this.flushTimer = setTimeout(() => { this.flushTimer = null; this.flush(); }, 16);
  }

  flush() {
    if (this.dead) return;
    while (this.queue.size && this.inflight < 2) {
      /** @type {string[]} */
      const keys = [];
      for (const k of this.queue) { keys.push(k); if (keys.length >= 10) break; }
      for (const k of keys) this.queue.delete(k);
      this.inflight++;
      this.fetchBatch(keys).then(() => {
        this.inflight--;
        if (!this.dead) { this.flush(); this.settle(); }
      });
    }
  }

  /** One request for up to 10 keys and all shown runs; never rejects. @param {string[]} keys */
  async fetchBatch(keys) {
    const sk = this.stateKey();
    let width = 0;
    for (const k of keys) { const p = this.panels.get(k); if (p) width = Math.max(width, p.plot.clientWidth); }
    const samples = clamp(Math.round(width) || 600, 200, 2000);
    const z = this.zoomRange;
    try {
      const res = await this.o.fetch(keys, { x: this.x, samples, lo: z ? z[0] : null, hi: z ? z[1] : null });
      if (this.dead || sk !== this.stateKey()) return;
      for (const key of keys) {
        /** @type {Record<string, XY>} */
        const per = {};
        for (const r of this.runs) {
          const s = res && res[r.ref] && res[r.ref][key];
          if (s && Array.isArray(s.x) && Array.isArray(s.y)) per[r.ref] = s;
        }
        this.data.set(key, per);
        const p = this.panels.get(key);
        if (p) { p.fetchedFor = sk; this.draw(key); }
      }
    } catch (e) {
      if (this.dead) return;
      report(e);
      for (const key of keys) {
        const p = this.panels.get(key);
        if (p) { p.fetchedFor = sk; if (!p.u) this.placeholder(p, 'could not load'); }
      }
    }
  }

  /** After the queue drains: the first render, or the end of a zoom, makes the view ready. */
  settle() {
    if (this.dead || this.queue.size || this.inflight || this.flushTimer) return;
    if (!this.firstDone) {
      this.firstDone = true;
      this.busy = false;
      if (this.o.onFirstRender) this.o.onFirstRender();
      else this.ctx.ready();
    } else if (this.busy) {
      this.busy = false;
      this.ctx.ready();
    }
  }

  /** @param {boolean} busy */
  refetchAll(busy) {
    if (busy) { this.busy = true; RS.ready = false; }
    const zoom = this.zoomRange ? this.zoomRange.slice() : null;
    for (const p of this.panels.values()) {
      p.fetchedFor = null;
      if (p.u) this.applyZoom(p);
      if (p.hook) p.hook.zoom = zoom ? zoom.slice() : null;
      if (p.visible) this.queue.add(p.key);
    }
    this.updateZoomInfo();
    if (this.queue.size) this.schedule();
    else this.settle();
  }

  liveTick() {
    if (this.dead || document.hidden || this.inflight || this.queue.size || !this.runs.some((r) => r.live)) return;
    for (const p of this.panels.values()) {
      if (p.visible && p.fetchedFor !== null) { p.fetchedFor = null; this.queue.add(p.key); }
    }
    if (this.queue.size) this.schedule();
  }

  /** Live flags from a newer listing: charts stop refreshing when no shown run is live. */
  /** @param {Set<string>} liveRefs */
  setLive(liveRefs) { for (const r of this.runs) r.live = liveRefs.has(r.ref); }

  // ---- zoom
  /** @param {number} lo @param {number} hi */
  zoom(lo, hi) {
    if (this.dead) return;
    lo = Number(lo);
    hi = Number(hi);
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo === hi) return;
    if (lo > hi) [lo, hi] = [hi, lo];
    this.zoomRange = [lo, hi];
    this.saveState();
    this.refetchAll(true);
  }

  resetZoom() {
    if (this.dead) return;
    if (!this.zoomRange) {
      for (const p of this.panels.values()) if (p.u) this.applyZoom(p);
      return;
    }
    this.zoomRange = null;
    this.saveState();
    this.refetchAll(true);
  }

  /** @param {Panel} p */
  applyZoom(p) {
    if (!p.u) return;
    const xs = p.u.data[0];
    if (this.zoomRange) p.u.setScale('x', { min: this.zoomRange[0], max: this.zoomRange[1] });
    else if (xs && xs.length > 1) p.u.setScale('x', { min: xs[0], max: xs[xs.length - 1] });
  }

  /** A drag on a chart: zoom every panel to that x range. @param {uPlot} u */
  onSelect(u) {
    const sel = u.select;
    if (!sel || sel.width < 3) return;
    let lo = u.posToVal(sel.left, 'x'), hi = u.posToVal(sel.left + sel.width, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    const xs = u.data[0];
    if (this.x === '_step' || (xs.length && xs.slice(0, 50).every(Number.isInteger))) {
      lo = Math.floor(lo);
      hi = Math.ceil(hi);
    } else {
      const digits = clamp(Math.ceil(-Math.log10(Math.abs(hi - lo) || 1)) + 3, 0, 12);
      lo = Number(lo.toFixed(digits));
      hi = Number(hi.toFixed(digits));
    }
    this.zoom(lo, hi);
  }

  // ---- drawing
  redrawSoon() {
    if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.redrawAll(); });
  }
  redrawAll() {
    if (this.dead) return;
    for (const key of this.data.keys()) {
      const p = this.panels.get(key);
      if (!p) continue;
      if (p.visible || p.u) this.draw(key);
      else p.needsDraw = true;
    }
  }

  /** @param {Panel} p @param {string} text */
  placeholder(p, text) { p.plot.replaceChildren(h('div', { class: 'placeholder', text })); }
  /** @param {Panel} p */
  destroyPlot(p) {
    if (p.u) { p.u.destroy(); p.u = null; }
    p.sig = '';
  }

  /**
   * A panel's lines: each shown run's values (null: none, or not positive on a log scale),
   * smoothed; and how many values came.
   * @param {Record<string, XY>} d the panel's series by ref
   */
  linesOf(d) {
    const w = this.smooth, log = this.log;
    /** @type {Line[]} */
    const lines = [];
    let points = 0;
    for (const r of this.runs) {
      const s = d[r.ref];
      if (!s || !s.x.length) continue;
      const n = Math.min(s.x.length, s.y.length);
      const lx = s.x.length === n ? s.x : s.x.slice(0, n);
      const raw = s.y.length === n ? s.y : s.y.slice(0, n);
      const vals = raw.map((v) => (isNum(v) && (!log || v > 0) ? v : null));
      for (const v of raw) if (v !== null && v !== undefined) points++;
      lines.push({ run: r, x: lx, raw, vals, sm: w > 0 ? ema(vals, w) : vals });
    }
    return { lines, points };
  }

  /** @param {string} key */
  draw(key) {
    const p = this.panels.get(key), d = this.data.get(key);
    if (!p || !d || this.dead) return;
    const width = p.plot.clientWidth;
    if (width < 40) { p.needsDraw = true; return; }
    p.needsDraw = false;
    const { lines, points } = this.linesOf(d);
    p.el.dataset.points = String(points);
    const anyValue = lines.some((l) => l.vals.some((v) => v !== null));
    if (!lines.length || !anyValue) {
      this.destroyPlot(p);
      this.placeholder(p, !lines.length ? 'no data' + (this.zoomRange ? ' in this range' : '') : this.log ? 'no positive values' : 'no finite values');
      p.legend.replaceChildren();
      p.legendItems = null;
      this.setHook(p, lines.map((l) => ({ ref: l.run.ref, label: l.run.label, color: l.run.color, x: l.x, y: l.sm, raw: l.raw })));
      return;
    }
    const { series, data, bands, hook, legend } = this.plotData(lines);
    const sig = [lines.map((l) => l.run.ref).join(','), series.length, this.log, this.smooth > 0, this.x].join('|');
    const u = p.u;
    if (u && p.sig === sig) {
      u.batch(() => {
        u.setData(data, true);
        if (this.zoomRange) this.applyZoom(p);
      });
    } else {
      this.destroyPlot(p);
      p.plot.replaceChildren();
      p.u = panelPlot(p.plot, width, series, bands, data, {
        x: this.x, log: this.log, syncKey: this.syncKey,
        onReset: () => this.resetZoom(), onSelect: (u) => this.onSelect(u), onCursor: (u) => this.hover(p, u),
      });
      p.sig = sig;
      if (this.zoomRange) this.applyZoom(p);
    }
    p.legendLines = legend;
    this.buildLegend(p);
    this.setHook(p, hook);
  }

  /**
   * The plot's series and data on the lines' merged x values: a line per run (under it, when
   * smoothed, its raw values faint), or per group its mean and a min-max band; with the
   * lines for the hooks and the legend.
   * @param {Line[]} lines
   */
  plotData(lines) {
    const xs = unionSorted(lines.map((l) => l.x));
    /** @type {Map<number, number>} */
    const at = new Map();
    xs.forEach((v, i) => at.set(v, i));
    /** @param {number[]} lx @param {(number | null)[]} ly */
    const align = (lx, ly) => {
      /** @type {(number | null)[]} */
      const out = new Array(xs.length).fill(null);
      for (let i = 0; i < lx.length; i++) {
        if (ly[i] === null) continue;
        const j = at.get(lx[i]);
        if (j !== undefined) out[j] = ly[i];
      }
      return out;
    };
    const pd = {
      /** @type {uPlot.Series[]} */ series: [{ label: this.x }],
      /** @type {uPlot.Data} */ data: [xs],
      /** @type {uPlot.Band[]} */ bands: [],
      /** @type {HookSeries[]} */ hook: [],
      /** @type {LegendLine[]} */ legend: [],
    };
    const { series, data, hook, legend } = pd;
    if (!this.groups) {
      if (this.smooth > 0) for (const l of lines) { series.push(faintSeries(l.run.label, l.run.color)); data.push(align(l.x, l.vals)); }
      for (const l of lines) {
        series.push(lineSeries(l.run.label, l.run.color, 1.5));
        data.push(align(l.x, l.sm));
        hook.push({ ref: l.run.ref, label: l.run.label, color: l.run.color, x: l.x, y: l.sm, raw: l.raw });
        legend.push({ label: l.run.label, color: l.run.color, x: l.x, y: l.sm });
      }
    } else this.groupData(pd, lines, xs, this.groups);
    return pd;
  }

  /**
   * Per group: mean line, min-max band, on the aligned x values.
   * @param {{series: uPlot.Series[], data: uPlot.Data, bands: uPlot.Band[], hook: HookSeries[], legend: LegendLine[]}} pd
   * @param {Line[]} lines
   * @param {number[]} xs
   * @param {ChartGroup[]} groups
   */
  groupData(pd, lines, xs, groups) {
    const { series, data, bands, hook, legend } = pd;
    for (const g of groups) {
      const members = lines.filter((l) => g.refs.includes(l.run.ref));
      if (!members.length) continue;
      const agg = aggregate(xs.length, members.map((l) => interpOnto(xs, l.x, l.sm)));
      const rawAgg = aggregate(xs.length, members.map((l) => interpOnto(xs, l.x, l.vals)));
      const label = `${g.label} (${members.length})`;
      const lo = series.length;
      series.push(edgeSeries(g.color)); data.push(agg.min);
      const hi = series.length;
      series.push(edgeSeries(g.color)); data.push(agg.max);
      bands.push({ series: [hi, lo], fill: rgba(g.color, 0.14) });
      if (this.smooth > 0) { series.push(faintSeries(label, g.color)); data.push(rawAgg.mean); }
      series.push(lineSeries(label, g.color, 2));
      data.push(agg.mean);
      hook.push({ ref: null, group: g.label, refs: members.map((l) => l.run.ref), label, color: g.color, x: xs, y: agg.mean, raw: rawAgg.mean, min: agg.min, max: agg.max });
      legend.push({ label, color: g.color, x: xs, y: agg.mean, min: agg.min, max: agg.max });
    }
  }

  /** @param {Panel} p @param {HookSeries[]} series */
  setHook(p, series) {
    p.hook = { key: p.key, x: this.x, u: p.u, series, smoothing: this.smooth, log: this.log, zoom: this.zoomRange ? this.zoomRange.slice() : null };
    RS.charts[p.key] = p.hook;
  }

  /** @param {Panel} p */
  buildLegend(p) {
    p.lx = h('span', { class: 'lx' });
    p.legendItems = p.legendLines.map((l) => {
      const v = h('span', { class: 'lv' });
      const sw = h('span', { class: 'swatch' });
      sw.style.background = l.color;
      return { el: h('span', { class: 'li', title: l.label }, sw, h('span', { class: 'ln', text: l.label }), v), v };
    });
    p.legend.replaceChildren(p.lx, ...p.legendItems.map((i) => i.el));
  }

  /** Legend values at the cursor: each line's nearest point to that x. @param {Panel} p @param {uPlot} u */
  hover(p, u) {
    const lx = p.lx, items = p.legendItems;
    if (!items || !lx || p.u !== u) return;
    const i = u.cursor.idx;
    if (i === null || i === undefined) {
      lx.textContent = '';
      for (const it of items) it.v.textContent = '';
      return;
    }
    const cx = u.data[0][i];
    lx.textContent = this.x + ' ' + (this.x === '_timestamp' ? fmtTime(cx) : fmtNum(cx));
    p.legendLines.forEach((l, k) => {
      const j = nearestDefined(l.x, l.y, cx);
      let t = j < 0 ? '–' : fmtNum(/** @type {number} */ (l.y[j]));
      if (j >= 0 && l.min && l.max && l.min[j] !== null) t += ` [${fmtNum(/** @type {number} */ (l.min[j]))}, ${fmtNum(/** @type {number} */ (l.max[j]))}]`;
      items[k].v.textContent = t;
    });
  }

  resize() {
    if (this.dead) return;
    for (const p of this.panels.values()) {
      if (!p.u) continue;
      const w = p.plot.clientWidth;
      if (w >= 40 && Math.abs(w - p.u.width) > 1) p.u.setSize({ width: w, height: PLOT_H });
    }
  }

  // ---- downloads
  /** @param {string} key */
  downloadPng(key) {
    const p = this.panels.get(key);
    if (!p || !p.u) return;
    const src = p.u.ctx.canvas;
    const dpr = window.devicePixelRatio || 1;
    const top = Math.round(24 * dpr);
    const c = document.createElement('canvas');
    c.width = src.width;
    c.height = src.height + top;
    const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
    g.fillStyle = '#fff';
    g.fillRect(0, 0, c.width, c.height);
    g.fillStyle = '#1d2330';
    g.font = `600 ${Math.round(13 * dpr)}px system-ui, sans-serif`;
    g.fillText(key, Math.round(8 * dpr), Math.round(17 * dpr));
    g.drawImage(src, 0, top);
    downloadUrl(c.toDataURL('image/png'), safeFileName(key) + '.png');
  }

  /** @param {string} key */
  downloadCsv(key) {
    const d = this.data.get(key);
    if (!d) return;
    const runs = this.runs.filter((r) => d[r.ref]);
    const xs = unionSorted(runs.map((r) => d[r.ref].x));
    const maps = runs.map((r) => {
      const m = new Map(), s = d[r.ref];
      for (let i = 0; i < s.x.length; i++) m.set(s.x[i], s.y[i]);
      return m;
    });
    /** @param {unknown} v */
    const cell = (v) => {
      if (v === null || v === undefined) return '';
      const s = String(v);
      return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    };
    /** @param {string} s */
    const text = (s) => cell(/^[=+\-@\t\r]/.test(s) ? "'" + s : s);
    const out = [[text(this.x), ...runs.map((r) => text(r.label))].join(',')];
    for (const x of xs) out.push([cell(x), ...maps.map((m) => cell(m.get(x)))].join(','));
    downloadBlob(new Blob([out.join('\n') + '\n'], { type: 'text/csv' }), safeFileName(key) + '.csv');
  }

  destroy() {
    if (this.dead) return;
    this.dead = true;
    this.io.disconnect();
    clearInterval(this.liveTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.raf) cancelAnimationFrame(this.raf);
    window.removeEventListener('resize', this.onResize);
    this.onResize.cancel();
    this.saveSoon.cancel();
    this.pfInput.cancel();
    for (const p of this.panels.values()) {
      this.destroyPlot(p);
      if (RS.charts[p.key] === p.hook) delete RS.charts[p.key];
      p.hook = null;
      p.legendLines = [];
    }
    this.panels.clear();
    this.panelByEl.clear();
    this.data.clear();
    this.queue.clear();
    if (RS.zoom === this.zoomFn) { RS.zoom = () => {}; RS.resetZoom = () => {}; }
    this.root.remove();
  }
}
