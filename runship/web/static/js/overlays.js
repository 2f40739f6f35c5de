/* The compare page's Media section (an image key of the runs side by side at a step) and
 * System section (each system metric with a line per run, and per node of a distributed run). */

import { api, fileUrl, report } from './api.js';
import { h } from './dom.js';
import { systemSection, systemSectionOrder } from './metrics.js';
import { ChartsView } from './panels.js';
import { DERIVED_X } from './series.js';
import { systemTitle } from './units.js';
import { PALETTE, fmtValue, isMissing, isNum, isPlainObject, naturalCompare } from './util.js';

/** @typedef {import('./api.js').XY} XY */
/** @typedef {import('./api.js').SeriesQuery} SeriesQuery */
/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {{ref: string, d: any, label: string, color: string}} OverlayRun a compared run (compare.js's Compared) */

/** How many runs' answers are fetched at once. */
const PARALLEL = 4;

/**
 * fn over items, PARALLEL at a time, answers in the items' order.
 * @template T, R
 * @param {T[]} items
 * @param {(t: T) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
async function pooled(items, fn) {
  /** @type {R[]} */
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i]); } };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return out;
}

/** A swatch of a run's color. @param {string} color */
function swatch(color) {
  const sw = h('span', { class: 'swatch' });
  sw.style.background = color;
  return sw;
}

// ---- media
/** @typedef {{step: number, value: unknown}} MediaItem */

/**
 * The Media section: pick an image key; a slider over the steps any run logged it at (opening
 * on the last); each run's image at the nearest step at or before the chosen one.
 * @param {ViewCtx} ctx @param {HTMLElement} wrap @param {OverlayRun[]} runs @param {Params} params @param {() => void} save
 */
export function addMediaCompare(ctx, wrap, runs, params, save) {
  /** @type {Map<string, number>} */
  const count = new Map();
  for (const r of runs) {
    for (const k of Array.isArray(r.d.keys) ? r.d.keys : []) {
      if (isPlainObject(k) && k.kind === 'image' && typeof k.key === 'string') count.set(k.key, (count.get(k.key) || 0) + 1);
    }
  }
  if (!count.size) return;
  const keys = [...count.keys()].sort((a, b) => /** @type {number} */ (count.get(b)) - /** @type {number} */ (count.get(a)) || naturalCompare(a, b));
  const sel = h('select', { id: 'cmp-media-key', title: 'an image key' }, keys.map((k) => h('option', { value: k, text: `${k} (${count.get(k)} run${count.get(k) === 1 ? '' : 's'})` })));
  sel.value = keys.includes(params.get('mk')) ? params.get('mk') : keys[0];
  const slider = h('input', { id: 'cmp-media-step', class: 'step-slider', type: 'range', min: '0', max: '0', step: '1', value: '0' });
  const stepLabel = h('span', { class: 'step-label' });
  const grid = h('div', { class: 'cmp-media-grid', id: 'cmp-media-grid' });
  wrap.append(h('h3', { text: 'Media' }), h('div', { class: 'card', id: 'compare-media' },
    h('div', { class: 'cmp-media-tools' }, h('label', null, 'key ', sel), h('div', { class: 'media-step' }, slider, stepLabel)), grid));
  /** @type {{r: OverlayRun, items: MediaItem[]}[]} */
  let loaded = [];
  /** @type {number[]} */
  let steps = [];
  let tok = 0;
  const show = () => {
    const step = steps[Number(slider.value)];
    stepLabel.textContent = steps.length ? `step ${fmtValue(step)} (${Number(slider.value) + 1}/${steps.length})` : '';
    grid.replaceChildren(...loaded.map(({ r, items }) => mediaCell(r, items, step)));
  };
  const load = async () => {
    const t = ++tok, key = sel.value;
    grid.replaceChildren(h('p', { class: 'muted', text: 'loading…' }));
    const having = runs.filter((r) => (Array.isArray(r.d.keys) ? r.d.keys : []).some((/** @type {any} */ k) => k && k.key === key));
    const got = await pooled(having, async (r) => {
      try {
        const res = await api('media', { run: r.ref, key }, ctx.signal);
        /** @type {MediaItem[]} */
        const items = (isPlainObject(res) && Array.isArray(res.items) ? res.items : []).filter((/** @type {any} */ it) => isPlainObject(it) && isNum(it.step));
        return { r, items };
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        report(e);
        return { r, items: [] };
      }
    });
    if (t !== tok || !ctx.alive) return;
    loaded = got;
    steps = [...new Set(got.flatMap((g) => g.items.map((it) => it.step)))].sort((a, b) => a - b);
    slider.max = String(Math.max(0, steps.length - 1));
    const want = Number(params.get('ms'));
    const at = params.get('ms') !== '' && steps.includes(want) ? steps.indexOf(want) : steps.length - 1;
    slider.value = String(Math.max(0, at));
    slider.disabled = steps.length < 2;
    show();
  };
  sel.addEventListener('change', () => { params.set('mk', sel.value); params.set('ms', null); save(); load().catch(report); });
  slider.addEventListener('input', () => { params.set('ms', String(steps[Number(slider.value)])); save(); show(); });
  load().catch(report);
}

/**
 * A run's images at the nearest step at or before `step`, captioned with its name.
 * @param {OverlayRun} r @param {MediaItem[]} items (in step order) @param {number | undefined} step
 */
function mediaCell(r, items, step) {
  /** @type {MediaItem | null} */
  let at = null;
  for (const it of items) { if (step !== undefined && it.step <= step) at = it; else break; }
  const cell = h('div', { class: 'cmp-media-cell', dataset: { ref: r.ref, step: at ? at.step : null } },
    h('div', { class: 'run-cap', title: r.ref }, swatch(r.color), h('span', { text: r.label })));
  if (!at) { cell.append(h('p', { class: 'muted', text: `nothing at or before step ${fmtValue(step)}` })); return cell; }
  const refs = (Array.isArray(at.value) ? at.value : [at.value]).filter((v) => isPlainObject(v) && typeof v.path === 'string');
  for (const v of refs.slice(0, 16)) {
    const img = h('img', { src: fileUrl(r.ref, v.path), alt: `${r.label} step ${at.step}`, title: isMissing(v.caption) ? null : String(v.caption) });
    img.addEventListener('load', () => {
      const w = img.naturalWidth; // small images drawn larger, pixels kept sharp
      if (w && w < 96) { img.style.width = w * Math.floor(96 / w) + 'px'; img.style.imageRendering = 'pixelated'; }
    });
    cell.append(img);
  }
  cell.append(h('div', { class: 'step-cap', text: `step ${fmtValue(at.step)}` + (at.step !== step ? ` (nearest before ${fmtValue(step)})` : '') }));
  return cell;
}

// ---- system
/** @typedef {{ref: string, label: string, color: string, live: boolean, src: string, node: string}} SystemLine a line: a run, or a node of a distributed run */

/** A run's system series (/ui/api/system) clipped to [q.lo, q.hi]. @param {any} s @param {SeriesQuery} q @returns {XY | null} */
function clipped(s, q) {
  if (!s || !Array.isArray(s.x) || !Array.isArray(s.y)) return null;
  if (q.lo === null || q.lo === undefined) return s;
  /** @type {number[]} */
  const x = [], y = [];
  const hi = /** @type {number} */ (q.hi);
  for (let i = 0; i < s.x.length; i++) if (s.x[i] >= q.lo && s.x[i] <= hi) { x.push(s.x[i]); y.push(s.y[i]); }
  return { x, y };
}

/**
 * The System section: every system metric with one line per run (per node, "run · node", in a
 * distributed run), over the runs' time, units in the titles.
 * @param {ViewCtx} ctx @param {HTMLElement} wrap @param {OverlayRun[]} runs @param {Params} params @param {() => void} save
 */
export async function addSystemCompare(ctx, wrap, runs, params, save) {
  const body = h('div', { id: 'compare-system' }, h('p', { class: 'muted', text: 'loading system metrics…' }));
  wrap.append(h('h3', { text: 'System' }), body);
  /** @type {{t: number, p: Promise<any[]>} | null} */
  let cache = null; // every run's /ui/api/system answer, fetched again after 2.5 s
  /** @param {number} samples @returns {Promise<any[]>} */
  const getAll = (samples) => {
    const now = Date.now();
    if (!cache || now - cache.t > 2500) {
      const c = {
        t: now,
        p: pooled(runs, (r) => api('system', { run: r.ref, samples }, ctx.signal).catch((e) => { if (e.name === 'AbortError') throw e; report(e); return null; })),
      };
      c.p.catch(() => { if (cache === c) cache = null; });
      cache = c;
    }
    return cache.p;
  };
  /** @type {any[]} */
  let answers;
  try { answers = await getAll(800); } catch (e) { if (e.name !== 'AbortError') report(e); return; }
  if (!ctx.alive) return;
  const { lines, keys } = systemLines(runs, answers);
  body.replaceChildren();
  if (!keys.length) { body.append(h('p', { class: 'muted', text: 'None of these runs recorded system metrics.' })); return; }
  const view = new ChartsView(ctx, body, {
    runs: lines, keys, xOptions: ['_runtime'], fixedX: '_runtime', params, save, liveMs: 5000, collapseKey: 'compare-system',
    sectionOf: systemSection, sectionOrder: systemSectionOrder, titleOf: systemTitle, onFirstRender: () => {},
    fetch: async (ks, q) => {
      const all = await getAll(q.samples);
      /** @type {Record<string, Record<string, XY>>} */
      const out = {};
      for (const line of lines) {
        const res = all[runs.findIndex((r) => r.ref === line.src)];
        /** @type {Record<string, XY>} */
        const mine = {};
        for (const k of ks) {
          const s = clipped(res && isPlainObject(res.series) ? res.series[line.node ? line.node + '/' + k : k] : null, q);
          if (s) mine[k] = s;
        }
        out[line.ref] = mine;
      }
      return out;
    },
  });
  ctx.onCleanup(() => view.destroy());
}

/**
 * The lines (a run, or each node of a distributed run: "run · node") and the metric keys
 * (without their node) of the runs' system answers.
 * @param {OverlayRun[]} runs @param {any[]} answers
 * @returns {{lines: SystemLine[], keys: string[]}}
 */
function systemLines(runs, answers) {
  /** @type {SystemLine[]} */
  const lines = [];
  /** @type {Set<string>} */
  const keys = new Set();
  runs.forEach((r, i) => {
    const series = answers[i] && isPlainObject(answers[i].series) ? answers[i].series : {};
    /** @type {Set<string>} */
    const nodes = new Set();
    for (const k of Object.keys(series)) {
      const slash = k.indexOf('/');
      nodes.add(slash > 0 ? k.slice(0, slash) : '');
      const base = slash > 0 ? k.slice(slash + 1) : k;
      if (!DERIVED_X.includes(base)) keys.add(base);
    }
    const base = Math.max(0, PALETTE.indexOf(r.color));
    [...nodes].sort(naturalCompare).forEach((node, k) => { // a run's first node in its color, the others in colors apart
      const ref = node ? r.ref + '·' + node : r.ref;
      lines.push({ ref, src: r.ref, node, label: node ? `${r.label} · ${node}` : r.label, color: k ? PALETTE[(base + 7 * k) % PALETTE.length] : r.color, live: !!r.d.live });
    });
  });
  return { lines, keys: [...keys].sort(naturalCompare) };
}
