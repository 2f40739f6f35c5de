/* The compare page (#/compare?runs=A,B,...): config and summary side by side, differing keys
 * marked (or only those shown), a scatter of a config key against a summary metric, parallel
 * coordinates of the differing config keys and a metric, the runs' images side by side at a
 * step (overlays.js) and their system metrics overlaid. */

import { api, report } from './api.js';
import { scatterChart } from './charts.js';
import { colorOf } from './colors.js';
import { h } from './dom.js';
import { RS } from './hooks.js';
import { addMediaCompare, addSystemCompare } from './overlays.js';
import { nav, replaceHash, runHash, updateNav } from './router.js';
import { drawRunsPanel } from './runpanels.js';
import { unionSorted } from './series.js';
import { debounce, flatten, fmtNum, fmtValue, isMediaRef, isMissing, isNum, isPlainObject, naturalCompare, toNumber } from './util.js';

/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */

/**
 * A run compared: its /ui/api/run answer, label, color, and flattened config and summary
 * (the summary without media).
 * @typedef {{ref: string, d: any, label: string, color: string, cfg: Record<string, any>, sum: Record<string, any>}} Compared
 */

/**
 * A table of one key per row, one run per column.
 * @param {string} id
 * @param {Compared[]} runs
 * @param {(r: Compared) => Record<string, any>} get the run's keys and values
 */
function compareTable(id, runs, get) {
  /** @type {Set<string>} */
  const keys = new Set();
  for (const r of runs) for (const k of Object.keys(get(r))) keys.add(k);
  const sorted = [...keys].sort(naturalCompare);
  let differing = 0;
  const rows = sorted.map((key) => {
    const vals = runs.map((r) => get(r)[key]);
    const sigs = vals.map((v) => (v === undefined ? '\u0000missing' : JSON.stringify(v)));
    const differs = sigs.some((s) => s !== sigs[0]);
    if (differs) differing++;
    return h('tr', { class: differs ? 'differs' : 'same', dataset: { key } }, h('td', { class: 'key', text: key, title: key }),
      vals.map((v) => { const s = fmtValue(v); return h('td', { class: typeof v === 'number' ? 'num' : null, text: s, title: s.length > 30 ? s : null }); }));
  });
  if (!rows.length) rows.push(h('tr', null, h('td', { class: 'muted', colspan: runs.length + 1, text: '(none)' })));
  const head = h('tr', null, h('th', { text: 'key' }), runs.map((r) => {
    const sw = h('span', { class: 'swatch' });
    sw.style.background = r.color;
    return h('th', { dataset: { ref: r.ref } }, sw, h('a', { class: 'run-link', href: runHash(r.ref), text: r.label, title: r.ref }));
  }));
  const table = h('table', { id, class: 'compare' }, h('thead', null, head), h('tbody', null, rows));
  return { el: h('div', { class: 'table-wrap compare-wrap-table' }, table), differing, total: sorted.length };
}

/** @param {Record<string, any>} o */
const withoutMedia = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => !isMediaRef(v)));

/** @param {ViewCtx} ctx @param {HTMLElement} main @param {Params} params */
export async function comparePage(ctx, main, params) {
  const refs = params.list('runs').slice(0, 100);
  const save = () => replaceHash('/compare', params);
  if (!refs.length) {
    main.append(h('p', { class: 'muted pad', text: 'Tick runs in the Runs view and press Compare.' }));
    ctx.ready();
    return;
  }
  nav.selection = refs;
  updateNav('compare');
  const loading = h('p', { class: 'muted', text: `loading ${refs.length} runs…` });
  main.append(loading);
  const results = await Promise.all(refs.map((ref) => api('run', { run: ref }, ctx.signal).then(
    (d) => ({ ref, d }),
    (e) => { if (e.name === 'AbortError') throw e; report(e); return { ref, d: null }; })));
  if (!ctx.alive) return;
  /** @type {Compared[]} */
  const runs = results.filter((x) => isPlainObject(x.d)).map(({ ref, d }) => ({
    ref, d, label: String(d.name || d.id || ref), color: colorOf(ref),
    cfg: flatten(isPlainObject(d.config) ? d.config : {}), sum: withoutMedia(flatten(isPlainObject(d.summary) ? d.summary : {})),
  }));
  loading.remove();
  if (!runs.length) { main.append(h('p', { class: 'error', text: 'None of these runs could be read.' })); ctx.ready(); return; }

  const onlyDiff = h('input', { id: 'only-diff', type: 'checkbox', checked: params.get('only') === '1' });
  const cfg = compareTable('compare-config', runs, (r) => r.cfg);
  const sum = compareTable('compare-summary', runs, (r) => r.sum);
  const wrap = h('div', { class: 'compare-grid' + (onlyDiff.checked ? ' only-diff-on' : '') },
    h('div', { class: 'toolbar' }, h('b', { text: `Comparing ${runs.length} run${runs.length === 1 ? '' : 's'}` }),
      h('label', null, onlyDiff, 'only differing')),
    h('h3', { text: `Config (${cfg.differing} of ${cfg.total} differ)` }), cfg.el,
    h('h3', { text: `Summary (${sum.differing} of ${sum.total} differ)` }), sum.el);
  onlyDiff.addEventListener('change', () => {
    wrap.classList.toggle('only-diff-on', onlyDiff.checked);
    params.set('only', onlyDiff.checked ? '1' : null);
    save();
  });
  main.append(wrap);
  addScatter(ctx, wrap, runs, params, save);
  addParallel(ctx, wrap, runs, params, save);
  addMediaCompare(ctx, wrap, runs, params, save);
  ctx.ready();
  addSystemCompare(ctx, wrap, runs, params, save).catch(report);
}

/**
 * The scatter: a config key (x) against a summary metric (y), one point per run.
 * @param {ViewCtx} ctx
 * @param {HTMLElement} wrap where it goes (in the page)
 * @param {Compared[]} runs
 * @param {Params} params
 * @param {() => void} save
 */
function addScatter(ctx, wrap, runs, params, save) {
  const cfgKeys = [...new Set(runs.flatMap((r) => Object.keys(r.cfg)))].sort(naturalCompare);
  const sumKeys = [...new Set(runs.flatMap((r) => Object.keys(r.sum).filter((k) => isNum(toNumber(r.sum[k])))))].sort(naturalCompare);
  /** @param {string} k */
  const differs = (k) => new Set(runs.map((r) => JSON.stringify(r.cfg[k] === undefined ? null : r.cfg[k]))).size > 1;
  /** @param {string} k */
  const numericCfg = (k) => runs.some((r) => isNum(toNumber(r.cfg[k])));
  const sxDefault = cfgKeys.find((k) => differs(k) && numericCfg(k)) || cfgKeys.find(differs) || cfgKeys[0] || '';
  const syDefault = sumKeys.find((k) => !k.startsWith('_')) || sumKeys[0] || '';
  const sx = h('select', { id: 'scatter-x', title: 'x: a config key' }, cfgKeys.map((k) => h('option', { value: k, text: 'config.' + k })));
  const sy = h('select', { id: 'scatter-y', title: 'y: a summary metric' }, sumKeys.map((k) => h('option', { value: k, text: 'summary.' + k })));
  sx.value = cfgKeys.includes(params.get('sx')) ? params.get('sx') : sxDefault;
  sy.value = sumKeys.includes(params.get('sy')) ? params.get('sy') : syDefault;
  const logX = h('input', { id: 'scatter-logx', type: 'checkbox', checked: params.get('slog') === '1' });
  const plotEl = h('div', { id: 'scatter' });
  const info = h('div', { class: 'scatter-info' });
  wrap.append(h('h3', { text: 'Scatter' }), h('div', { class: 'toolbar' }, h('label', null, 'x', sx), h('label', null, 'y', sy), h('label', null, logX, 'log x')),
    h('div', { class: 'card' }, info, plotEl));

  /** @type {uPlot | null} */
  let u = null;
  ctx.onCleanup(() => { if (u) u.destroy(); u = null; delete RS.scatter; });
  function drawScatter() {
    if (u) { u.destroy(); u = null; }
    plotEl.replaceChildren();
    info.replaceChildren();
    const xk = sx.value, yk = sy.value;
    if (!xk || !yk) { plotEl.append(h('p', { class: 'muted', text: 'Needs a config key and a numeric summary metric.' })); return; }
    /** @type {{r: Compared, xv: unknown, y: number, x: number}[]} */
    const pts = runs.map((r) => ({ r, xv: r.cfg[xk], y: /** @type {number} */ (toNumber(r.sum[yk])), x: 0 })).filter((p) => !isMissing(p.xv) && isNum(p.y));
    if (!pts.length) { plotEl.append(h('p', { class: 'muted', text: 'No run has both values.' })); return; }
    const numericX = pts.every((p) => isNum(toNumber(p.xv)));
    /** @type {string[] | null} */
    let cats = null;
    if (numericX) for (const p of pts) p.x = /** @type {number} */ (toNumber(p.xv));
    else {
      const names = [...new Set(pts.map((p) => fmtValue(p.xv)))].sort(naturalCompare);
      for (const p of pts) p.x = names.indexOf(fmtValue(p.xv));
      cats = names;
    }
    const log = !cats && logX.checked && pts.every((p) => p.x > 0);
    const xs = unionSorted([pts.map((p) => p.x)]);
    const shownCats = cats;
    /** @param {number | null} x */
    const onCursor = (x) => {
      info.replaceChildren();
      if (x === null || x === undefined) return;
      const here = pts.filter((p) => p.x === x);
      if (!here.length) return;
      info.append(`config.${xk} = ${shownCats ? shownCats[x] : fmtNum(x)}: `);
      here.forEach((p, k) => {
        const sw = h('span', { class: 'swatch' });
        sw.style.background = p.r.color;
        info.append(k ? ', ' : '', sw, h('b', { text: p.r.label }), ` ${yk} = ${fmtNum(p.y)}`);
      });
    };
    const points = pts.map((p) => ({ label: p.r.label, color: p.r.color, x: p.x, y: p.y }));
    u = scatterChart(plotEl, points, xs, { xLabel: xk, yLabel: yk, cats, log, onCursor });
    RS.scatter = { u, x: xk, y: yk, points: pts.map((p) => ({ ref: p.r.ref, label: p.r.label, color: p.r.color, x: p.x, y: p.y })) };
  }
  for (const [sel, name] of /** @type {[HTMLSelectElement, string][]} */ ([[sx, 'sx'], [sy, 'sy']])) {
    sel.addEventListener('change', () => { params.set(name, sel.value); save(); drawScatter(); });
  }
  logX.addEventListener('change', () => { params.set('slog', logX.checked ? '1' : null); save(); drawScatter(); });
  const onResize = debounce(drawScatter, 200);
  window.addEventListener('resize', onResize);
  ctx.onCleanup(() => { window.removeEventListener('resize', onResize); onResize.cancel(); });
  drawScatter();
}

/** The most config axes of the parallel coordinates. */
const MAX_CONFIG_AXES = 12;

/**
 * Parallel coordinates: an axis per config key that differs between the runs (and is not
 * internal), and a summary metric (chosen) last; a polyline per run.
 * @param {ViewCtx} ctx
 * @param {HTMLElement} wrap
 * @param {Compared[]} runs
 * @param {Params} params
 * @param {() => void} save
 */
function addParallel(ctx, wrap, runs, params, save) {
  const cfgKeys = [...new Set(runs.flatMap((r) => Object.keys(r.cfg)))].sort(naturalCompare)
    .filter((k) => !k.startsWith('_') && new Set(runs.map((r) => JSON.stringify(r.cfg[k] === undefined ? null : r.cfg[k]))).size > 1)
    .slice(0, MAX_CONFIG_AXES);
  const sumKeys = [...new Set(runs.flatMap((r) => Object.keys(r.sum).filter((k) => isNum(toNumber(r.sum[k])))))].sort(naturalCompare);
  const metric = h('select', { id: 'parallel-metric', title: 'the last axis: a summary metric' }, sumKeys.map((k) => h('option', { value: k, text: 'summary.' + k })));
  metric.value = sumKeys.includes(params.get('pm')) ? params.get('pm') : sumKeys.find((k) => !k.startsWith('_')) || sumKeys[0] || '';
  const plotEl = h('div', { id: 'parallel', class: 'card' });
  wrap.append(h('h3', { text: 'Parallel coordinates' }),
    h('div', { class: 'toolbar' }, h('label', null, 'metric', metric), h('span', { class: 'muted', text: 'drag along an axis to keep a range; click it to clear' })), plotEl);
  const chartRuns = runs.map((r) => ({ ref: r.ref, label: r.label, color: r.color, live: false, config: r.cfg, summary: r.sum }));
  /** @type {{destroy(): void} | null} */
  let panel = null;
  const draw = () => {
    if (panel) panel.destroy();
    plotEl.replaceChildren();
    if (!cfgKeys.length) { plotEl.append(h('p', { class: 'muted', text: 'No config key differs between these runs.' })); return; }
    const axes = cfgKeys.map((k) => 'config.' + k).concat(metric.value ? ['summary.' + metric.value] : []);
    panel = drawRunsPanel(plotEl, { id: 'compare-parallel', type: 'parallel', axes, h: 300 }, chartRuns, plotEl.clientWidth - 26);
  };
  metric.addEventListener('change', () => { params.set('pm', metric.value); save(); draw(); });
  const onResize = debounce(draw, 200);
  window.addEventListener('resize', onResize);
  ctx.onCleanup(() => { window.removeEventListener('resize', onResize); onResize.cancel(); if (panel) panel.destroy(); });
  draw();
}
