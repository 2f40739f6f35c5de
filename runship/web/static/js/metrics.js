/* The run page's Charts tab (the run's metrics) and System tab (its system metrics, by
 * device: cpu, memory, disk, network, gpu.N), both a ChartsView of one run. */

import { api, fetchSeries, report } from './api.js';
import { colorOf } from './colors.js';
import { ChartsView } from './panels.js';
import { DERIVED_X, numberKeysOf, stepMetricsOf, xOptionsOf } from './series.js';
import { systemTitle } from './units.js';
import { naturalCompare } from './util.js';

/** @typedef {import('./api.js').XY} XY */
/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {(fn: (run: any) => void) => void} OnRunUpdate calls fn with each newer /ui/api/run answer of a live run */

/**
 * @param {ViewCtx} ctx
 * @param {HTMLElement} body
 * @param {string} ref
 * @param {any} run the /ui/api/run answer
 * @param {Params} params
 * @param {() => void} save
 * @param {OnRunUpdate} onRunUpdate
 */
export function chartsTab(ctx, body, ref, run, params, save, onRunUpdate) {
  /** @param {any} r */
  const make = (r) => new ChartsView(ctx, body, {
    runs: [{ ref, label: String(r.name || r.id || ref), color: colorOf(ref), live: !!r.live }],
    keys: numberKeysOf([r]), xOptions: xOptionsOf([r]), stepMetrics: stepMetricsOf([r]), params, save,
    fetch: (ks, q) => fetchSeries(ctx.signal, [ref], ks, q),
    onFirstRender: () => ctx.ready(),
  });
  let view = make(run);
  /** @param {any} r */
  const sigOf = (r) => numberKeysOf([r]).join('\n') + '|' + xOptionsOf([r]).join(',') + '|' + JSON.stringify(stepMetricsOf([r]));
  let sig = sigOf(run);
  ctx.onCleanup(() => view.destroy());
  onRunUpdate((r) => {
    const s = sigOf(r);
    if (s !== sig) {
      sig = s;
      view.destroy();
      view = make(r);
    } else view.setLive(new Set(r.live ? [ref] : []));
  });
}

// ---- system tab
/** The section of a system key, readable ("CPU", "GPU 0"; a node's: "node-1 · GPU 0"). @param {string} key @returns {string} */
export function systemSection(key) {
  const slash = key.indexOf('/');
  if (slash > 0) return key.slice(0, slash) + ' · ' + systemSection(key.slice(slash + 1));
  const m = /^gpu\.(?:process\.)?(\d+)\./.exec(key);
  if (m) return 'GPU ' + m[1];
  if (key.startsWith('gpu')) return 'GPU';
  if (/cpu/i.test(key)) return 'CPU';
  if (/mem/i.test(key)) return 'Memory';
  if (key.startsWith('disk')) return 'Disk';
  if (key.startsWith('network') || key.startsWith('net.')) return 'Network';
  return 'Other';
}
/** @param {string} s a section (systemSection) @returns {number} */
function systemRank(s) {
  const i = ['CPU', 'Memory', 'Disk', 'Network'].indexOf(s);
  if (i >= 0) return i;
  if (s === 'GPU') return 9;
  const m = /^GPU (\d+)$/.exec(s);
  return m ? 10 + Number(m[1]) : 1e9;
}
/** Sections in order: a node's after the machine's, each node's in the same order. @param {string} a @param {string} b */
export function systemSectionOrder(a, b) {
  const [na, sa] = a.includes(' · ') ? [a.slice(0, a.lastIndexOf(' · ')), a.slice(a.lastIndexOf(' · ') + 3)] : ['', a];
  const [nb, sb] = b.includes(' · ') ? [b.slice(0, b.lastIndexOf(' · ')), b.slice(b.lastIndexOf(' · ') + 3)] : ['', b];
  return naturalCompare(na, nb) || systemRank(sa) - systemRank(sb) || naturalCompare(sa, sb);
}

/**
 * @param {ViewCtx} ctx
 * @param {HTMLElement} body
 * @param {string} ref
 * @param {any} run the /ui/api/run answer
 * @param {Params} params
 * @param {() => void} save
 * @param {OnRunUpdate} onRunUpdate
 */
export async function systemTab(ctx, body, ref, run, params, save, onRunUpdate) {
  /** @type {{t: number, p: Promise<any>} | null} */
  let cache = null; // one /ui/api/system answer shared by the panel batches, fetched again after 2.5 s
  /** @param {number} samples @returns {Promise<any>} */
  const getAll = (samples) => {
    const now = Date.now();
    if (!cache || now - cache.t > 2500) {
      const c = { t: now, p: api('system', { run: ref, samples }, ctx.signal) };
      c.p.catch(() => { if (cache === c) cache = null; });
      cache = c;
    }
    return cache.p;
  };
  /** @type {string[]} */
  let keys = [];
  try { // the answer's keys: a distributed run's are each node's ("node/key")
    const res = await getAll(800);
    keys = Object.keys((res && res.series) || {});
  } catch (e) {
    if (e.name === 'AbortError') return;
    report(e);
  }
  if (!ctx.alive) return;
  keys = keys.filter((k) => !DERIVED_X.includes(k)).sort(naturalCompare);
  const runs = [{ ref, label: String(run.name || run.id || ref), color: colorOf(ref), live: !!run.live }];
  const view = new ChartsView(ctx, body, {
    runs, keys, xOptions: ['_runtime'], fixedX: '_runtime', params, save, liveMs: 5000, collapseKey: 'system',
    sectionOf: systemSection, sectionOrder: systemSectionOrder, titleOf: systemTitle,
    emptyText: 'No system metrics recorded.',
    fetch: async (ks, q) => {
      const res = await getAll(q.samples);
      /** @type {Record<string, XY>} */
      const out = {};
      for (const k of ks) {
        const s = res && res.series && res.series[k];
        if (!s || !Array.isArray(s.x) || !Array.isArray(s.y)) continue;
        if (q.lo === null) { out[k] = s; continue; }
        /** @type {number[]} */
        const x = [], y = [];
        const hi = /** @type {number} */ (q.hi);
        for (let i = 0; i < s.x.length; i++) if (s.x[i] >= q.lo && s.x[i] <= hi) { x.push(s.x[i]); y.push(s.y[i]); }
        out[k] = { x, y };
      }
      return { [ref]: out };
    },
    onFirstRender: () => ctx.ready(),
  });
  ctx.onCleanup(() => view.destroy());
  onRunUpdate((r) => view.setLive(new Set(r.live ? [ref] : [])));
}
