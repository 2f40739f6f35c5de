/* The charts of a list of runs, for the runs table (#/runs) and the workspace page
 * (#/workspace): what the charted runs logged (/ui/api/keys, read for at most MAX_DETAILED of
 * them), a ChartsView made again only when the runs, keys or groups change, its series
 * fetched in requests of at most 100 runs; its layout, highlight, hidden runs and band
 * passed on. */

import { api, fetchSeries, report } from './api.js';
import { h } from './dom.js';
import { RS } from './hooks.js';
import { ChartsView } from './panels.js';
import { MAX_DETAILED } from './runlist.js';
import { drawRunsPanel } from './runpanels.js';
import { numberKeysOf, stepMetricsOf, xOptionsOf } from './series.js';

/** Runs a /ui/api/keys request (what it takes). */
const KEYS_RUNS = 100;

/** @typedef {import('./runlist.js').Run} Run */
/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {{label: string, color: string, refs: string[]}} Group */

/**
 * @typedef {object} ChartsSpec
 * @property {Run[]} runs the charted runs
 * @property {Group[] | null} groups
 * @property {string} band
 * @property {string} title
 * @property {any} [layout] a ChartsLayout (contract §1) to open on
 * @property {string[]} [hidden] runs charted but hidden from the legend (ChartsView.setHidden)
 */

/**
 * @typedef {object} RunChartsOptions
 * @property {Params} params
 * @property {() => void} save
 * @property {() => void} onReady the charts have drawn (or there are none)
 * @property {(ref: string | null) => void} [onHoverRun]
 * @property {(layout: any) => void} [onLayoutChange]
 * @property {(refs: string[]) => void} [onHiddenChange]
 * @property {string} [emptyText]
 */

export class RunCharts {
  /** @param {ViewCtx} ctx @param {HTMLElement} host @param {RunChartsOptions} o */
  constructor(ctx, host, o) {
    this.ctx = ctx;
    this.host = host;
    this.o = o;
    /** @type {Map<string, any>} ref -> /ui/api/run answer */
    this.details = new Map();
    /** @type {ChartsView | null} */
    this.view = null;
    this.key = '';
    this.token = 0;
    this.fresh = true; // the next charts open on the spec's layout, not the shown one
    ctx.onCleanup(() => this.destroy());
  }

  destroy() {
    if (this.view) this.view.destroy();
    this.view = null;
    this.details.clear();
  }

  /** Emphasise a run's lines (null: none). @param {string | null} ref */
  highlight(ref) {
    if (this.view) this.view.highlight(ref);
  }

  /** The shown layout (ChartsLayout), or null when no charts are shown. */
  layout() {
    return this.view ? this.view.layout() : null;
  }

  /**
   * What the runs logged, read again for a live run at a refresh; false when a newer call
   * came meanwhile.
   * @param {Run[]} runs
   * @param {boolean} fromRefresh
   */
  async readDetails(runs, fromRefresh) {
    const { ctx, details } = this;
    const token = ++this.token;
    const some = runs.slice(0, MAX_DETAILED);
    const need = some.filter((r) => !details.has(r.ref) || (fromRefresh && r.live));
    if (need.length) await this.readKeys(need.map((r) => r.ref));
    if (token !== this.token || !ctx.alive) return false;
    const refs = new Set(some.map((r) => r.ref));
    for (const k of [...details.keys()]) if (!refs.has(k)) details.delete(k);
    return true;
  }

  /**
   * What the runs logged (their keys and metric definitions: /ui/api/keys, 100 runs a request);
   * a run that could not be read is reported and charted with nothing.
   * @param {string[]} refs
   */
  async readKeys(refs) {
    const { ctx, details } = this;
    const batches = [];
    for (let i = 0; i < refs.length; i += KEYS_RUNS) batches.push(refs.slice(i, i + KEYS_RUNS));
    await Promise.all(batches.map((run) => api('keys', { run }, ctx.signal).then(
      (res) => {
        for (const ref of run) {
          const d = res && res.runs ? res.runs[ref] : null;
          if (d && !d.error) details.set(ref, d);
          else {
            if (d && d.error) report(new Error(`${ref}: ${d.error}`));
            if (!details.has(ref)) details.set(ref, null);
          }
        }
      },
      (e) => {
        if (e.name === 'AbortError') throw e;
        report(e);
        for (const ref of run) if (!details.has(ref)) details.set(ref, null);
      })));
  }

  /** Make the charts again at the next update, on the spec's layout (a workspace was loaded). */
  invalidate() { this.key = ''; this.fresh = true; }

  /** Show the spec's charts (made again only when what they show changed). @param {ChartsSpec} spec @param {boolean} fromRefresh */
  async update(spec, fromRefresh) {
    const { ctx, o } = this;
    const charted = spec.runs;
    if (!(await this.readDetails(charted, fromRefresh))) return;
    const ds = charted.slice(0, MAX_DETAILED).map((r) => this.details.get(r.ref)).filter(Boolean);
    const keys = numberKeysOf(ds), xOptions = xOptionsOf(ds);
    const groups = spec.groups;
    const key = JSON.stringify([charted.map((r) => [r.ref, r.label]), keys, xOptions, groups && groups.map((g) => [g.label, g.refs]), spec.band]);
    const liveRefs = new Set(charted.filter((r) => r.live).map((r) => r.ref));
    if (this.view && key === this.key) { this.view.setLive(liveRefs); this.setHidden(spec.hidden || []); return; }
    this.key = key;
    // charts made again for other runs keep the panels as the user left them
    const shown = this.fresh ? null : this.layout();
    this.fresh = false;
    if (this.view) {
      this.view.destroy();
      this.view = null;
      RS.ready = false;
    }
    if (!charted.length) {
      this.host.replaceChildren(h('p', { class: 'muted pad', text: o.emptyText || 'No runs to chart.' }));
      o.onReady();
      return;
    }
    this.host.replaceChildren();
    const refs = charted.map((r) => r.ref);
    const group = new Map();
    for (const g of groups || []) for (const ref of g.refs) group.set(ref, g.label);
    /** @type {any} */
    const opts = {
      runs: charted.map((r) => ({ ref: r.ref, label: r.label, color: r.color, live: r.live, config: r._cfg, summary: r._sum, group: group.get(r.ref) })),
      keys, xOptions, groups, params: o.params, save: o.save, title: spec.title,
      fetch: (/** @type {string[]} */ ks, /** @type {any} */ q) => fetchSeries(ctx.signal, refs, ks, q),
      onFirstRender: () => o.onReady(),
      band: spec.band, stepMetrics: stepMetricsOf(ds),
      onHoverRun: o.onHoverRun, onLayoutChange: o.onLayoutChange, onHiddenChange: o.onHiddenChange,
      drawRunsPanel: (/** @type {HTMLElement} */ m, /** @type {any} */ sp, /** @type {any[]} */ rs, /** @type {number} */ w) => drawRunsPanel(m, sp, rs, w, { onHoverRun: o.onHoverRun }),
    };
    if (shown || spec.layout) opts.layout = shown || spec.layout;
    this.view = new ChartsView(ctx, this.host, opts);
    this.setHidden(spec.hidden || []);
  }

  /** Runs hidden from the legend. @param {string[]} refs */
  setHidden(refs) {
    if (this.view) this.view.setHidden(refs);
  }
}
