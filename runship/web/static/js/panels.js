/* A grid of chart panels (the runs view's, the run page's Charts and System tabs, the
 * workspace): sections of panels laid out by a ChartsLayout (layout.js: built in, a panel per
 * key, or given), each a line panel of one or more metrics (drawn lazily, IntersectionObserver,
 * from batched series requests) or a bar/scatter/parallel panel over the runs (drawn by the
 * caller's drawRunsPanel). A floating tooltip lists every line's value at the cursor; the
 * legend hides (click) or isolates (shift-click) runs; the line nearest the cursor is
 * emphasised in every panel. Panels are added, moved (drag their handle), resized, set up
 * (gear) and hidden; smoothing, log scale, zoom, CSV and PNG, live refresh. The view's x,
 * smoothing, log scale, panel filter and zoom live in the page's Params too. */

import { report, seriesCsvUrl } from './api.js';
import { PLOT_H, panelPlot } from './charts.js';
import { savePng, savePointsCsv } from './chartfiles.js';
import { downloadUrl, h } from './dom.js';
import { RS } from './hooks.js';
import { copyLayout } from './layout.js';
import { PanelGrid } from './panelgrid.js';
import { linesOf, plotData } from './plotdata.js';
import { nearestDefined } from './series.js';
import { Tooltip } from './tooltip.js';
import { clamp, debounce, fmtNum, fmtTime, safeFileName } from './util.js';

/** @typedef {import('./api.js').XY} XY */
/** @typedef {import('./api.js').SeriesQuery} SeriesQuery */
/** @typedef {import('./hooks.js').ChartHook} ChartHook */
/** @typedef {import('./hooks.js').HookSeries} HookSeries */
/** @typedef {import('./hooks.js').TooltipRow} TooltipRow */
/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {import('./layout.js').PanelSpec} PanelSpec */
/** @typedef {import('./layout.js').ChartsLayout} ChartsLayout */
/** @typedef {import('./layout.js').ChartsSection} ChartsSection */
/** @typedef {import('./plotdata.js').ChartRun} ChartRun */
/** @typedef {import('./plotdata.js').ChartGroup} ChartGroup */
/** @typedef {import('./plotdata.js').Entry} Entry */
/** @typedef {import('./panelgrid.js').Panel} Panel */
/** @typedef {import('./panelgrid.js').RunsChart} RunsChart */

/**
 * @typedef {object} ChartsOptions
 * @property {ChartRun[]} runs
 * @property {string[]} keys
 * @property {string[]} xOptions
 * @property {Params} params the page's
 * @property {() => void} save records params in the address
 * @property {(keys: string[], q: SeriesQuery) => Promise<Record<string, Record<string, XY>>>} fetch by ref, then key
 * @property {ChartGroup[] | null} [groups] a line per group (mean, band) instead of per run
 * @property {string} [fixedX]
 * @property {(key: string) => string} [sectionOf]
 * @property {(key: string) => string} [titleOf] a panel's title (default: its key)
 * @property {(a: string, b: string) => number} [sectionOrder]
 * @property {string} [title]
 * @property {() => void} [onFirstRender] default: the view is ready
 * @property {number} [liveMs]
 * @property {string} [emptyText]
 * @property {string} [collapseKey]
 * @property {ChartsLayout} [layout] initial layout (else the built-in: a panel per key)
 * @property {(l: ChartsLayout) => void} [onLayoutChange] after a change of the layout (debounced)
 * @property {'minmax' | 'std' | 'stderr' | 'none'} [band] the group band (default minmax)
 * @property {Record<string, string>} [stepMetrics] metric key or glob -> its define_metric step metric
 * @property {(ref: string | null) => void} [onHoverRun] a run's line hovered (null: none)
 * @property {(refs: string[]) => void} [onHiddenChange] the runs hidden from the legend
 * @property {(mount: HTMLElement, spec: PanelSpec, runs: ChartRun[], width: number, o?: {onHoverRun?: (ref: string | null) => void}) => RunsChart} [drawRunsPanel]
 *   draws bar/scatter/parallel panels (runpanels.js drawRunsPanel); a run hovered there is emphasised everywhere
 * @property {'full' | 'points'} [csv] the CSV button: every row of the range (series.csv), or the drawn points (default: full unless fixedX)
 */

/** The charts of some runs, in mount, until destroy() (or the view is left: the caller's cleanup). */
export class ChartsView extends PanelGrid {
  /** @param {ViewCtx} ctx @param {HTMLElement} mount @param {ChartsOptions} o */
  constructor(ctx, mount, o) {
    super(ctx, o);
    const lay = o.layout ? this.L : null;
    this.groups = o.groups && o.groups.length ? o.groups : null;
    this.band = o.band || 'minmax';
    this.smooth = clamp(lay ? lay.smoothing : this.params.num('smooth', 0), 0, 0.99);
    this.log = lay ? lay.log : this.params.get('log') === '1';
    /** @type {Set<string>} */
    this.hidden = new Set();
    /** @type {string | null} the line under the cursor (a ref, or "group:" label) */
    this.hoverKey = null;
    /** @type {string | null} the run highlighted from outside (a table row hovered) */
    this.outsideRef = null;
    /** @type {string | null} what is emphasised now */
    this.emph = null;
    this.inflight = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.flushTimer = null;
    this.raf = 0;
    this.firstDone = false;
    this.busy = false;
    this.tooltip = new Tooltip();
    // made by buildControls
    /** @type {HTMLElement} */
    this.smLabel;
    /** @type {HTMLElement} */
    this.zoomInfo;
    /** @type {ReturnType<typeof debounce>} */
    this.pfInput;
    /** @type {ReturnType<typeof debounce>} */
    this.saveSoon;
    this.root = h('div', { class: 'charts' });
    if (o.title) this.root.append(h('div', { class: 'charts-title', text: o.title }));
    mount.append(this.root);
    this.buildControls();
    this.root.append(this.sectionsEl);
    this.renderSections();
    this.onResize = debounce(() => this.resize(), 150);
    window.addEventListener('resize', this.onResize);
    this.liveTimer = setInterval(() => this.liveTick(), o.liveMs || 3000);
    /** @param {number} lo @param {number} hi */
    this.zoomFn = (lo, hi) => this.zoom(lo, hi);
    this.resetFn = () => this.resetZoom();
    RS.zoom = this.zoomFn;
    RS.resetZoom = this.resetFn;
    this.updateZoomInfo();
    if (!this.panels.size || ![...this.panels.values()].some((p) => p.spec.type === 'line')) ctx.later(() => this.settle(), 0);
  }

  // ---- controls
  buildControls() {
    const pf = h('input', { id: 'panel-filter', type: 'search', placeholder: 'filter panels (regex)', spellcheck: 'false', value: this.filter });
    const xs = h('select', { id: 'xaxis', title: 'x axis' }, this.xOptions.map((v) => h('option', { value: v, text: v })));
    xs.value = this.x;
    xs.disabled = this.xOptions.length < 2;
    const sm = h('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', value: String(this.smooth) });
    this.smLabel = h('span', { id: 'smoothing-value', text: this.smooth.toFixed(2) });
    const lg = h('input', { id: 'logscale', type: 'checkbox', checked: this.log });
    const rz = h('button', { id: 'reset-zoom', type: 'button', text: 'reset zoom', title: 'or double-click a chart' });
    const add = h('button', { id: 'add-panel', type: 'button', text: '+ panel', title: 'add a panel' });
    this.zoomInfo = h('span', { class: 'zoom-info' });
    this.root.append(h('div', { class: 'chart-controls' },
      h('span', { class: 'pf' }, pf, this.pfError),
      h('label', null, 'x', xs),
      h('label', null, 'smoothing', sm, this.smLabel),
      h('label', null, lg, 'log y'),
      rz, add, this.zoomInfo));

    this.pfInput = debounce(() => { this.filter = pf.value; this.applyFilter(); this.saveState(); this.changed(); }, 200);
    pf.addEventListener('input', this.pfInput);
    xs.addEventListener('change', () => {
      this.x = xs.value;
      this.zoomRange = null;
      this.zoomX = this.x;
      this.saveState();
      this.changed();
      this.refetchAll(true);
    });
    this.saveSoon = debounce(() => { this.saveState(); this.changed(); }, 250);
    sm.addEventListener('input', () => {
      this.smooth = clamp(parseFloat(sm.value) || 0, 0, 0.99);
      this.smLabel.textContent = this.smooth.toFixed(2);
      this.saveSoon();
      this.redrawSoon();
    });
    sm.addEventListener('change', () => { this.saveSoon.cancel(); this.saveState(); this.changed(); });
    lg.addEventListener('change', () => { this.log = lg.checked; this.saveState(); this.changed(); this.redrawAll(); });
    rz.addEventListener('click', () => this.resetZoom());
    add.addEventListener('click', () => this.openAddDialog(null));
  }

  saveState() {
    if (this.dead) return;
    const P = this.params;
    if (!this.o.fixedX) P.set('x', this.x === this.xOptions[0] ? null : this.x);
    P.set('smooth', this.smooth > 0 ? this.smooth.toFixed(2) : null);
    P.set('log', this.log ? '1' : null);
    P.set('panels', this.filter || null);
    P.set('zoom', this.zoomRange ? this.zoomRange.map(String) : null);
    P.set('zoomx', this.zoomRange && this.zoomX !== this.x ? this.zoomX : null);
    this.o.save();
  }

  /** The layout as it is now (a copy): what a workspace saves. @returns {ChartsLayout} */
  layout() {
    const l = copyLayout(this.L);
    l.x = this.o.fixedX ? null : this.x;
    l.smoothing = this.smooth;
    l.log = this.log;
    l.panel_filter = this.filter;
    return l;
  }

  updateZoomInfo() {
    const z = this.zoomRange;
    this.zoomInfo.textContent = z ? `zoom ${this.zoomX !== this.x ? this.zoomX + ' ' : ''}${fmtNum(z[0])} – ${fmtNum(z[1])}` : '';
  }

  // ---- fetching
  /** @param {IntersectionObserverEntry[]} entries */
  onIntersect(entries) {
    if (this.dead) return;
    for (const e of entries) {
      const p = this.panelByEl.get(e.target);
      if (!p) continue;
      p.visible = e.isIntersecting;
      if (!p.visible) continue;
      if (p.spec.type !== 'line') { if (!p.runsChart || p.needsDraw) this.drawRuns(p); continue; }
      if (p.fetchedFor !== this.stateKey(p)) this.queue.add(p.spec.id);
      else if (p.needsDraw) this.drawPanel(p);
    }
    if (this.queue.size) this.schedule();
    else this.settle();
  }

  schedule() {
    if (!this.flushTimer && !this.dead) this.flushTimer = setTimeout(() => { this.flushTimer = null; this.flush(); }, 16);
  }

  /** Up to two requests at a time, each for panels on the same x and zoom (up to 10 keys). */
  flush() {
    if (this.dead) return;
    while (this.queue.size && this.inflight < 2) {
      /** @type {Panel[]} */
      const batch = [];
      /** @type {Set<string>} */
      const keys = new Set();
      let x = '', zs = '';
      for (const id of this.queue) {
        const p = this.panels.get(id);
        if (!p || p.spec.type !== 'line') { this.queue.delete(id); continue; }
        const z = this.zoomOf(p), px = this.panelX(p), pz = z ? z.join(',') : '';
        if (batch.length && (px !== x || pz !== zs || keys.size + p.spec.metrics.length > 10)) continue;
        x = px; zs = pz;
        batch.push(p);
        for (const m of p.spec.metrics) keys.add(m);
        this.queue.delete(id);
        if (keys.size >= 10) break;
      }
      if (!batch.length) break;
      this.inflight++;
      this.fetchBatch(batch, [...keys], x).then(() => {
        this.inflight--;
        if (!this.dead) { this.flush(); this.settle(); }
      });
    }
  }

  /** One request for some panels' keys and all runs; never rejects. @param {Panel[]} batch @param {string[]} keys @param {string} x */
  async fetchBatch(batch, keys, x) {
    const sks = batch.map((p) => this.stateKey(p));
    let width = 0;
    for (const p of batch) width = Math.max(width, p.plot.clientWidth);
    const samples = clamp(Math.round(width) || 600, 200, 2000);
    const z = this.zoomOf(batch[0]);
    try {
      const res = await this.o.fetch(keys, { x, samples, lo: z ? z[0] : null, hi: z ? z[1] : null });
      if (this.dead) return;
      batch.forEach((p, i) => {
        if (this.panels.get(p.spec.id) !== p || sks[i] !== this.stateKey(p)) return;
        p.data = new Map();
        for (const key of p.spec.metrics) {
          /** @type {Record<string, XY>} */
          const per = {};
          for (const r of this.runs) {
            const s = res && res[r.ref] && res[r.ref][key];
            if (s && Array.isArray(s.x) && Array.isArray(s.y)) per[r.ref] = s;
          }
          p.data.set(key, per);
        }
        p.fetchedFor = sks[i];
        this.drawPanel(p);
      });
    } catch (e) {
      if (this.dead) return;
      report(e);
      batch.forEach((p, i) => { p.fetchedFor = sks[i]; if (!p.u) this.placeholder(p, 'could not load'); });
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
    for (const p of this.panels.values()) {
      if (p.spec.type !== 'line') continue;
      this.labelPanel(p);
      if (p.fetchedFor === this.stateKey(p)) continue;
      p.fetchedFor = null;
      if (p.u) this.applyZoom(p);
      if (p.hook) { const z = this.zoomOf(p); p.hook.zoom = z ? z.slice() : null; }
      if (p.visible) this.queue.add(p.spec.id);
    }
    this.updateZoomInfo();
    if (this.queue.size) this.schedule();
    else this.settle();
  }

  liveTick() {
    if (this.dead || document.hidden || this.inflight || this.queue.size || !this.runs.some((r) => r.live)) return;
    for (const p of this.panels.values()) {
      if (p.spec.type === 'line' && p.visible && p.fetchedFor !== null) { p.fetchedFor = null; this.queue.add(p.spec.id); }
    }
    if (this.queue.size) this.schedule();
  }

  /** Live flags from a newer listing: charts stop refreshing when no shown run is live. */
  /** @param {Set<string>} liveRefs */
  setLive(liveRefs) { for (const r of this.runs) r.live = liveRefs.has(r.ref); }

  // ---- zoom
  /** Zoom the panels on x (or on the x named) to [lo, hi]. @param {number} lo @param {number} hi @param {string} [x] */
  zoom(lo, hi, x) {
    if (this.dead) return;
    lo = Number(lo);
    hi = Number(hi);
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo === hi) return;
    if (lo > hi) [lo, hi] = [hi, lo];
    this.zoomRange = [lo, hi];
    this.zoomX = x || this.x;
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
    const xs = p.u.data[0], z = this.zoomOf(p);
    if (z) p.u.setScale('x', { min: z[0], max: z[1] });
    else if (xs && xs.length > 1) p.u.setScale('x', { min: xs[0], max: xs[xs.length - 1] });
  }

  /** A drag on a chart: zoom every panel on its x to that range. @param {Panel} p @param {uPlot} u */
  onSelect(p, u) {
    const sel = u.select;
    if (!sel || sel.width < 3) return;
    let lo = u.posToVal(sel.left, 'x'), hi = u.posToVal(sel.left + sel.width, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    const xs = u.data[0], x = this.panelX(p);
    if (x === '_step' || (xs.length && xs.slice(0, 50).every(Number.isInteger))) {
      lo = Math.floor(lo);
      hi = Math.ceil(hi);
    } else {
      const digits = clamp(Math.ceil(-Math.log10(Math.abs(hi - lo) || 1)) + 3, 0, 12);
      lo = Number(lo.toFixed(digits));
      hi = Number(hi.toFixed(digits));
    }
    this.zoom(lo, hi, x);
  }

  /** The panel's buttons and the mouse over its plot. @param {Panel} p @param {HTMLElement} png @param {HTMLElement} csv */
  wirePanel(p, png, csv) {
    png.addEventListener('click', () => this.downloadPng(p));
    csv.addEventListener('click', () => this.downloadCsv(p));
    p.plot.addEventListener('mouseenter', () => { this.hoverPanel = p; });
    p.plot.addEventListener('mouseleave', () => { if (this.hoverPanel === p) this.hoverPanel = null; this.tooltip.hide(); this.setHover(null); });
  }

  // ---- drawing
  redrawSoon() {
    if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.redrawAll(); });
  }
  redrawAll() {
    if (this.dead) return;
    for (const p of this.panels.values()) {
      if (p.spec.type !== 'line' && p.runsChart) { if (p.visible) this.drawRuns(p); else p.needsDraw = true; continue; }
      if (!p.data.size) continue;
      if (p.visible || p.u) this.drawPanel(p);
      else p.needsDraw = true;
    }
  }

  /** @param {Panel} p */
  destroyPlot(p) {
    if (p.u) { p.u.destroy(); p.u = null; }
    p.sig = '';
  }

  /** The runs drawn: those not hidden. */
  shownRuns() { return this.hidden.size ? this.runs.filter((r) => !this.hidden.has(r.ref)) : this.runs; }

  /** A bar, scatter or parallel panel: drawn by the page's drawRunsPanel. @param {Panel} p */
  drawRuns(p) {
    if (this.dead) return;
    if (p.runsChart) { p.runsChart.destroy(); p.runsChart = null; }
    p.needsDraw = false;
    const width = p.plot.clientWidth;
    if (!this.o.drawRunsPanel) {
      this.placeholder(p, `${p.spec.type} panels are drawn on the workspace page`);
      p.runsChart = { destroy() {} };
    } else {
      p.plot.replaceChildren();
      try {
        p.runsChart = this.o.drawRunsPanel(p.plot, JSON.parse(JSON.stringify(p.spec)), this.shownRuns(), width, { onHoverRun: (ref) => this.setHover(ref) });
        this.emphasise(p);
      } catch (e) {
        report(e);
        this.placeholder(p, 'could not draw');
        p.runsChart = { destroy() {} };
      }
    }
    this.buildLegend(p, this.runs.map((r) => ({ key: r.ref, ref: r.ref, refs: [r.ref], label: r.label, color: r.color })));
  }

  /** @param {Panel} p */
  drawPanel(p) {
    if (this.dead || p.spec.type !== 'line') return;
    const width = p.plot.clientWidth;
    if (width < 40) { p.needsDraw = true; return; }
    p.needsDraw = false;
    const s = p.spec, smooth = s.smoothing ?? this.smooth, log = s.log ?? this.log, x = this.panelX(p);
    const { lines, points } = linesOf(s.metrics, p.data, this.shownRuns(), smooth, log);
    p.el.dataset.points = String(points);
    this.buildLegend(p, this.legendEntries(p));
    if (!lines.length || !lines.some((l) => l.vals.some((v) => v !== null))) {
      this.destroyPlot(p);
      this.placeholder(p, !lines.length ? 'no data' + (this.zoomOf(p) ? ' in this range' : '') : log ? 'no positive values' : 'no finite values');
      p.entries = [];
      this.setHook(p, lines.map((l) => ({ ref: l.run.ref, label: l.label, color: l.color, x: l.x, y: l.sm, raw: l.raw, metric: l.metric })));
      return;
    }
    const pd = plotData(lines, this.groups, this.band, x, smooth);
    const sig = [pd.series.map((q) => q.label).join('\u0000'), log, x, s.h, JSON.stringify(s.yrange)].join('|');
    const u = p.u;
    if (u && p.sig === sig) {
      u.batch(() => {
        u.setData(pd.data, true);
        if (this.zoomOf(p)) this.applyZoom(p);
      });
    } else {
      this.destroyPlot(p);
      p.plot.replaceChildren();
      p.u = panelPlot(p.plot, width, pd.series, pd.bands, pd.data, {
        x, log, syncKey: 'runship-charts|' + x, height: s.h, yrange: s.yrange,
        onReset: () => this.resetZoom(), onSelect: (v) => this.onSelect(p, v), onCursor: (v) => this.hover(p, v),
      });
      p.sig = sig;
      if (this.zoomOf(p)) this.applyZoom(p);
    }
    p.entries = pd.entries;
    p.seriesKey = pd.seriesKey;
    p.baseWidth = pd.baseWidth;
    this.emphasise(p);
    this.setHook(p, pd.hook);
  }

  /** @param {Panel} p @param {HookSeries[]} series */
  setHook(p, series) {
    const z = this.zoomOf(p);
    p.hook = {
      key: p.hookKey, panel: p.spec.id, metrics: p.spec.metrics.slice(), x: this.panelX(p), u: p.u, series,
      smoothing: p.spec.smoothing ?? this.smooth, log: p.spec.log ?? this.log, zoom: z ? z.slice() : null,
    };
    RS.charts[p.hookKey] = p.hook;
  }

  // ---- legend: a run (or group) per entry; click hides, shift-click isolates
  /** The runs (or groups) with data in the panel, hidden ones included. @param {Panel} p */
  legendEntries(p) {
    /** @param {string} ref */
    const has = (ref) => p.spec.metrics.some((m) => { const s = p.data.get(m)?.[ref]; return !!s && s.x.length > 0; });
    if (this.groups) {
      return this.groups.filter((g) => g.refs.some(has)).map((g) => ({ key: 'group:' + g.label, ref: null, refs: g.refs.filter(has), label: g.label, color: g.color }));
    }
    return this.runs.filter((r) => has(r.ref)).map((r) => ({ key: r.ref, ref: r.ref, refs: [r.ref], label: r.label, color: r.color }));
  }

  /**
   * @param {Panel} p
   * @param {{key: string, ref: string | null, refs: string[], label: string, color: string}[]} items
   */
  buildLegend(p, items) {
    const sig = JSON.stringify([p.spec.metrics, items.map((it) => [it.key, it.label, it.color, it.refs.every((r) => this.hidden.has(r))])]);
    if (sig === p.legend.dataset.sig) return; // as drawn (a live refresh)
    p.legend.dataset.sig = sig;
    /** @type {Node[]} */
    const kids = [];
    if (p.spec.type === 'line' && p.spec.metrics.length > 1) {
      p.spec.metrics.forEach((m, i) => kids.push(h('span', { class: 'lm lm' + (i % 5), title: m }, h('span', { class: 'lm-dash' }), h('span', { text: m }))));
    }
    for (const it of items) {
      const sw = h('span', { class: 'swatch' });
      sw.style.background = it.color;
      const off = it.refs.every((r) => this.hidden.has(r));
      const el = h('button', { type: 'button', class: 'li' + (off ? ' off' : ''), title: `${it.label}\nclick: hide or show · shift-click: show only this`, dataset: { ref: it.ref || '', key: it.key } },
        sw, h('span', { class: 'ln', text: it.label }));
      el.addEventListener('click', (e) => this.legendClick(it.refs, e.shiftKey || e.metaKey || e.ctrlKey));
      el.addEventListener('mouseenter', () => this.setHover(it.key));
      el.addEventListener('mouseleave', () => this.setHover(null));
      kids.push(el);
    }
    p.legend.replaceChildren(...kids);
    p.legend.hidden = kids.length < 2; // one run, one metric: nothing to tell apart
    this.emphLegend(p);
  }

  /** Click: hide the runs (or show them again); isolate: show only them (again: show all). @param {string[]} refs @param {boolean} isolate */
  legendClick(refs, isolate) {
    const all = this.runs.map((r) => r.ref);
    if (isolate) {
      const only = all.every((r) => refs.includes(r) !== this.hidden.has(r));
      this.hidden = only ? new Set() : new Set(all.filter((r) => !refs.includes(r)));
    } else if (refs.every((r) => this.hidden.has(r))) {
      for (const r of refs) this.hidden.delete(r);
    } else {
      for (const r of refs) this.hidden.add(r);
    }
    this.redrawAll();
    if (this.o.onHiddenChange) this.o.onHiddenChange([...this.hidden]);
  }

  /** The runs hidden (the page's visibility toggles). @param {string[]} refs */
  setHidden(refs) {
    const next = new Set(refs.filter((r) => this.runs.some((x) => x.ref === r)));
    if (next.size === this.hidden.size && [...next].every((r) => this.hidden.has(r))) return;
    this.hidden = next;
    this.redrawAll();
  }

  // ---- emphasis: the hovered line in every panel, or the run highlighted from outside
  /** A run's lines emphasised (a table row hovered), or none. @param {string | null} ref */
  highlight(ref) {
    this.outsideRef = ref;
    this.updateEmphasis();
  }

  /** The line under the cursor (a ref or "group:" key), or none. @param {string | null} key */
  setHover(key) {
    if (key === this.hoverKey) return;
    this.hoverKey = key;
    this.updateEmphasis();
    if (this.o.onHoverRun) this.o.onHoverRun(key && !key.startsWith('group:') ? key : null);
  }

  updateEmphasis() {
    const e = this.hoverKey || this.outsideRef;
    RS.highlighted = e && !e.startsWith('group:') ? e : null;
    if (e === this.emph) return;
    this.emph = e;
    for (const p of this.panels.values()) this.emphasise(p);
  }

  /** @param {Panel} p */
  emphLegend(p) {
    for (const el of p.legend.querySelectorAll('.li')) el.classList.toggle('emph', !!this.emph && el instanceof HTMLElement && el.dataset.key === this.emph);
  }

  /** @param {Panel} p */
  emphasise(p) {
    this.emphLegend(p);
    if (p.runsChart && p.runsChart.highlight) p.runsChart.highlight(this.emph && !this.emph.startsWith('group:') ? this.emph : null);
    const u = p.u;
    if (!u) return;
    let e = this.emph;
    if (e && this.groups && !e.startsWith('group:')) { // a run of a group: its group's lines
      const ref = e, g = this.groups.find((x) => x.refs.includes(ref));
      e = g ? 'group:' + g.label : e;
    }
    const any = !!e && p.seriesKey.includes(e);
    for (let i = 1; i < u.series.length; i++) {
      const s = u.series[i], mine = any && p.seriesKey[i] === e;
      s.alpha = !any || mine ? 1 : 0.25;
      s.width = mine ? p.baseWidth[i] + 1.5 : p.baseWidth[i];
    }
    u.redraw(false);
  }

  /** The tooltip and the nearest line, at the cursor of the panel under the mouse. @param {Panel} p @param {uPlot} u */
  hover(p, u) {
    if (p !== this.hoverPanel || p.u !== u) return;
    const i = u.cursor.idx, left = u.cursor.left ?? -1, top = u.cursor.top ?? -1;
    if (i === null || i === undefined || left < 0 || !p.entries.length) { this.tooltip.hide(); this.setHover(null); return; }
    const cx = u.data[0][i];
    let best = null, bestD = Infinity;
    /** @type {TooltipRow[]} */
    const rows = [];
    for (const e of p.entries) {
      let v = /** @type {number | null | undefined} */ (u.data[e.si][i]);
      if (v === null || v === undefined) { const j = nearestDefined(e.x, e.y, cx); v = j < 0 ? null : e.y[j]; }
      const value = v === null || v === undefined ? null : v;
      const row = { label: e.label, value, ref: e.ref, color: e.color, hovered: false, x: cx };
      rows.push(row);
      if (value === null) continue;
      const d = Math.abs(u.valToPos(value, 'y') - top);
      if (d < bestD) { bestD = d; best = row; }
    }
    const key = best ? p.entries[rows.indexOf(best)].key : null;
    if (best) for (const r of rows) r.hovered = p.entries[rows.indexOf(r)].key === key;
    this.setHover(key);
    const x = this.panelX(p);
    const rect = u.over.getBoundingClientRect();
    const near = top >= 0 ? u.posToVal(top, 'y') : null;
    this.tooltip.show(x + ' ' + (x === '_timestamp' ? fmtTime(cx) : fmtNum(cx)), rows, near, rect.left + left, rect.top + top);
  }

  resize() {
    if (this.dead) return;
    for (const p of this.panels.values()) {
      if (p.spec.type !== 'line') { if (p.runsChart && p.visible) this.drawRuns(p); continue; }
      if (!p.u) continue;
      const w = p.plot.clientWidth;
      if (w >= 40 && Math.abs(w - p.u.width) > 1) p.u.setSize({ width: w, height: p.spec.h || PLOT_H });
    }
  }

  // ---- downloads
  /** @param {Panel} p */
  downloadPng(p) {
    const src = p.u ? p.u.ctx.canvas : p.plot.querySelector('canvas');
    if (src) savePng(src, p.titleEl.textContent || p.spec.id);
  }

  /** The full-resolution rows of the panel's range (series.csv), a file per metric; or the drawn points. @param {Panel} p */
  downloadCsv(p) {
    const runs = this.shownRuns(), x = this.panelX(p);
    for (const m of p.spec.metrics) {
      if ((this.o.csv || (this.o.fixedX ? 'points' : 'full')) === 'full') {
        downloadUrl(seriesCsvUrl(runs.map((r) => r.ref), m, x, this.zoomOf(p)), safeFileName(m) + '.csv');
        continue;
      }
      const d = p.data.get(m);
      if (d) savePointsCsv(m, x, runs.filter((r) => d[r.ref]).map((r) => ({ label: r.label, x: d[r.ref].x, y: d[r.ref].y })));
    }
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
    this.layoutSoon.cancel();
    this.tooltip.destroy();
    if (this.outside) document.removeEventListener('mousedown', this.outside, true);
    for (const p of [...this.panels.values()]) { this.dropPanel(p); p.hook = null; }
    this.panels.clear();
    this.panelByEl.clear();
    this.queue.clear();
    if (RS.highlighted === this.emph) RS.highlighted = null;
    if (RS.zoom === this.zoomFn) { RS.zoom = () => {}; RS.resetZoom = () => {}; }
    this.root.remove();
  }
}

