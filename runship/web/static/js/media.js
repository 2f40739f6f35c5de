/* The run page's Media tab: a card per media key (images, audio, video, histograms, tables,
 * wandb.plot charts, plotly figures, other files), each with a step slider; three cards
 * load at a time. */

import { api, fileUrl, report } from './api.js';
import { h } from './dom.js';
import { RS } from './hooks.js';
import { drawPlot, drawPlotly } from './plots.js';
import { clamp, fmtTick, fmtValue, isMissing, isNum, isPlainObject } from './util.js';

/** @typedef {import('./plots.js').Drawn} Drawn */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {{key: string, kind: string}} MediaKey a key of the run (/ui/api/run's keys) */
/** @typedef {HTMLCanvasElement & {_w: number, _h: number}} SizedCanvas a canvas and its size in CSS pixels */

/** The kinds of media keys the tab shows. */
const MEDIA_KINDS = ['image', 'histogram', 'table', 'audio', 'video', 'plot', 'plotly', 'file'];

/** @param {ViewCtx} ctx @param {HTMLElement} body @param {string} ref @param {any} run the /ui/api/run answer */
export async function mediaTab(ctx, body, ref, run) {
  /** @type {MediaKey[]} */
  const keys = (Array.isArray(run.keys) ? run.keys : []).filter((/** @type {any} */ k) => k && typeof k.key === 'string' && MEDIA_KINDS.includes(k.kind));
  if (!keys.length) {
    body.append(h('p', { class: 'muted', text: 'No media logged (images, histograms, tables, audio, video).' }));
    ctx.ready();
    return;
  }
  const grid = h('div', { class: 'media-grid' });
  body.append(grid);
  const cards = keys.map((k) => {
    const msg = h('div', { class: 'muted', text: 'loading…' });
    const el = h('div', { class: 'media', dataset: { key: k.key, kind: k.kind } }, h('h4', { text: k.key }), msg);
    grid.append(el);
    return { k, el, msg };
  });
  let next = 0;
  const worker = async () => {
    while (next < cards.length && ctx.alive) {
      const c = cards[next++];
      try {
        const res = await api('media', { run: ref, key: c.k.key }, ctx.signal);
        if (!ctx.alive) return;
        await renderMedia(ctx, c.el, ref, c.k, res || {});
      } catch (e) {
        if (e.name === 'AbortError') return;
        report(e);
        c.msg.textContent = 'could not load: ' + e.message;
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  ctx.ready();
}

/**
 * A step slider over a media key's items, starting at item `start`.
 * @param {Record<string, any>[]} items
 * @param {(i: number) => void} onChange
 * @param {number} start
 */
function stepSlider(items, onChange, start) {
  const input = h('input', { class: 'step-slider', type: 'range', min: '0', max: String(Math.max(0, items.length - 1)), step: '1', value: String(start) });
  input.disabled = items.length < 2;
  const label = h('span', { class: 'step-label' });
  /** @param {number} i */
  const set = (i) => {
    const it = items[i] || {};
    label.textContent = `step ${fmtValue(it.step)}` + (items.length > 1 ? ` (${i + 1}/${items.length})` : '');
  };
  input.addEventListener('input', () => { const i = Number(input.value); set(i); onChange(i); });
  set(start);
  return { el: h('div', { class: 'media-step' }, input, label), input, set };
}

/** A canvas of w x hgt CSS pixels drawn at the screen's resolution. @param {string} cls @param {number} w @param {number} hgt */
function hiDpiCanvas(cls, w, hgt) {
  const dpr = window.devicePixelRatio || 1;
  const c = /** @type {SizedCanvas} */ (h('canvas', { class: cls, width: Math.round(w * dpr), height: Math.round(hgt * dpr) }));
  c.getContext('2d')?.scale(dpr, dpr);
  c._w = w;
  c._h = hgt;
  return c;
}

/** @param {unknown} v @returns {v is {values: number[], bins: number[]}} */
const validHist = (v) => isPlainObject(v) && Array.isArray(v.values) && Array.isArray(v.bins) && v.bins.length === v.values.length + 1 && v.values.length > 0;

/** @param {SizedCanvas} canvas @param {Record<string, any>[]} items @param {number} sel */
function drawHeatmap(canvas, items, sel) {
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d')), W = canvas._w, H = canvas._h;
  const L = 46, B = 14, T = 4, R = 4, pw = W - L - R, ph = H - T - B;
  g.clearRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  let lo = Infinity, hi = -Infinity;
  for (const it of items) {
    if (!validHist(it.value)) continue;
    const b = it.value.bins;
    if (isNum(b[0])) lo = Math.min(lo, b[0]);
    if (isNum(b[b.length - 1])) hi = Math.max(hi, b[b.length - 1]);
  }
  if (!(lo < Infinity)) return;
  if (!(hi > lo)) hi = lo + 1;
  const rows = Math.min(64, Math.max(8, Math.floor(ph / 2))), n = items.length, cw = pw / n, rh = ph / rows;
  items.forEach((it, c) => {
    const v = it.value;
    if (!validHist(v)) return;
    const acc = new Float64Array(rows);
    for (let j = 0; j < v.values.length; j++) {
      const center = (v.bins[j] + v.bins[j + 1]) / 2, cnt = v.values[j];
      if (!isNum(center) || !isNum(cnt)) continue;
      acc[clamp(Math.floor(((center - lo) / (hi - lo)) * rows), 0, rows - 1)] += cnt;
    }
    let max = 0;
    for (const a of acc) max = Math.max(max, a);
    if (!(max > 0)) return;
    for (let r = 0; r < rows; r++) {
      if (!(acc[r] > 0)) continue;
      g.fillStyle = `rgba(47,91,211,${(0.1 + 0.9 * (acc[r] / max)).toFixed(3)})`;
      g.fillRect(L + c * cw, T + ph - (r + 1) * rh, Math.max(cw, 1) + 0.5, rh + 0.5);
    }
  });
  g.strokeStyle = '#d62728';
  g.lineWidth = 1.5;
  g.strokeRect(L + sel * cw, T, Math.max(cw, 2), ph);
  g.fillStyle = '#6b7280';
  g.font = '10px system-ui, sans-serif';
  g.textAlign = 'right';
  g.fillText(fmtTick(hi), L - 4, T + 9);
  g.fillText(fmtTick(lo), L - 4, T + ph);
  g.textAlign = 'left';
  g.fillText('step ' + fmtValue(items[0].step), L, H - 2);
  g.textAlign = 'right';
  g.fillText(fmtValue(items[n - 1].step), W - R, H - 2);
}

/** @param {SizedCanvas} canvas @param {unknown} v */
function drawBars(canvas, v) {
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d')), W = canvas._w, H = canvas._h;
  const L = 46, B = 14, T = 6, R = 4, pw = W - L - R, ph = H - T - B;
  g.clearRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  if (!validHist(v)) return;
  const b = v.bins, lo = b[0], hi = b[b.length - 1] > lo ? b[b.length - 1] : lo + 1;
  const max = Math.max(0, ...v.values.filter(isNum));
  g.fillStyle = 'rgba(47,91,211,0.75)';
  for (let j = 0; j < v.values.length; j++) {
    if (!isNum(v.values[j]) || !(max > 0)) continue;
    const x0 = L + ((b[j] - lo) / (hi - lo)) * pw, x1 = L + ((b[j + 1] - lo) / (hi - lo)) * pw;
    const bh = (v.values[j] / max) * ph;
    g.fillRect(x0, T + ph - bh, Math.max(1, x1 - x0 - 0.5), bh);
  }
  g.fillStyle = '#6b7280';
  g.font = '10px system-ui, sans-serif';
  g.textAlign = 'right';
  g.fillText(fmtTick(max), L - 4, T + 9);
  g.fillText('0', L - 4, T + ph);
  g.textAlign = 'left';
  g.fillText(fmtTick(lo), L, H - 2);
  g.textAlign = 'right';
  g.fillText(fmtTick(hi), W - R, H - 2);
}

/** @param {ViewCtx} ctx @param {HTMLElement} el @param {string} ref @param {MediaKey} k @param {any} res the /ui/api/media answer */
async function renderMedia(ctx, el, ref, k, res) {
  /** @type {Record<string, any>[]} */
  const items = (Array.isArray(res.items) ? res.items : []).filter(isPlainObject);
  const kind = MEDIA_KINDS.includes(res.kind) ? res.kind : k.kind;
  const content = h('div', { class: 'media-body' });
  el.replaceChildren(h('h4', { text: k.key }), content);
  if (!items.length) { content.append(h('p', { class: 'muted', text: 'nothing logged' })); return; }
  /** @type {MediaCard} */
  const m = { ctx, content, ref, key: k.key, kind, items, last: items.length - 1 };
  if (kind === 'image' || kind === 'audio' || kind === 'video') showFiles(m);
  else if (kind === 'histogram') showHistogram(m);
  else if (kind === 'file') showDownloads(m);
  else if (kind === 'plot' || kind === 'plotly') await showPlot(m);
  else if (kind === 'table') await showTable(m);
}

/** A media card: where it goes, the run, the key and the items logged under it. */
/** @typedef {{ctx: ViewCtx, content: HTMLElement, ref: string, key: string, kind: string, items: Record<string, any>[], last: number}} MediaCard */

/** The file references in a logged value (one, or a list). @param {unknown} v @returns {Record<string, any>[]} */
const refsOf = (v) => (Array.isArray(v) ? v : [v]).filter((x) => isPlainObject(x) && typeof x.path === 'string');

/** Images, audio or video: the files of one step at a time. @param {MediaCard} m */
function showFiles(m) {
  const { content, ref, key, kind, items } = m;
  const view = h('div', { class: 'media-view' });
  const cap = h('div', { class: 'caption' });
  /** @param {number} i */
  const show = (i) => {
    const vals = refsOf(items[i].value);
    view.replaceChildren(...vals.map((v) => {
      const src = fileUrl(ref, v.path);
      if (kind === 'image') {
        const img = h('img', { src, alt: key + ' step ' + fmtValue(items[i].step) });
        img.addEventListener('load', () => {
          const w = img.naturalWidth; // small images drawn larger, pixels kept sharp
          if (w && w < 128) { img.style.width = w * Math.floor(128 / w) + 'px'; img.style.imageRendering = 'pixelated'; }
        });
        return img;
      }
      return h(/** @type {'audio' | 'video'} */ (kind), { src, controls: true, preload: 'metadata' });
    }));
    if (!vals.length) view.append(h('p', { class: 'muted', text: fmtValue(items[i].value) }));
    cap.textContent = vals.map((v) => (isMissing(v.caption) ? '' : String(v.caption))).filter(Boolean).join(' · ');
  };
  const slider = stepSlider(items, show, m.last); // the latest step first, as every slider
  content.append(view, cap, slider.el);
  show(m.last);
}

/** Histograms over steps: a heatmap (click: a step) and the bars of the step chosen. @param {MediaCard} m */
function showHistogram(m) {
  const { content, items, last } = m;
  const heat = hiDpiCanvas('heatmap', 460, 150), bars = hiDpiCanvas('hist-bars', 460, 120);
  let sel = last;
  /** @param {number} i */
  const show = (i) => { sel = i; drawHeatmap(heat, items, sel); drawBars(bars, items[sel].value); };
  const slider = stepSlider(items, show, last);
  heat.addEventListener('click', (e) => {
    const r = heat.getBoundingClientRect(), L = (46 / heat._w) * r.width, pw = r.width - L - (4 / heat._w) * r.width;
    const i = clamp(Math.floor(((e.clientX - r.left - L) / pw) * items.length), 0, last);
    slider.input.value = String(i);
    slider.set(i);
    show(i);
  });
  content.append(heat, bars, slider.el);
  show(last);
}

/** HTML, 3D objects, molecules: offered as downloads, never shown inside this page. @param {MediaCard} m */
function showDownloads(m) {
  const { content, ref, items } = m;
  const list = h('ul', { class: 'media-files' });
  for (const it of items.slice(-20).reverse()) {
    for (const v of refsOf(it.value)) {
      list.append(h('li', null, h('a', { class: 'download', href: fileUrl(ref, v.path, true), text: v.path.split('/').pop() }),
        h('span', { class: 'muted', text: ` step ${fmtValue(it.step)} · ${String((isPlainObject(it.value) && it.value._type) || '')}` })));
    }
  }
  content.append(list);
}

/** The most rows a wandb.plot chart reads of its table (a 100-class confusion matrix's). */
const MAX_PLOT_ROWS = 10000;

/**
 * A chart's table, every row up to MAX_PLOT_ROWS, read a page (1,000 rows) at a time.
 * @param {ViewCtx} ctx @param {string} ref @param {string} path
 * @returns {Promise<{columns: string[], rows: unknown[]}>}
 */
async function wholeTable(ctx, ref, path) {
  /** @type {unknown[]} */
  const rows = [];
  /** @type {string[]} */
  let columns = [];
  for (;;) {
    const res = await api('table', { run: ref, path, offset: rows.length, limit: 1000 }, ctx.signal);
    const page = Array.isArray(res.rows) ? res.rows : [];
    if (!rows.length) columns = Array.isArray(res.columns) ? res.columns.map(String) : [];
    rows.push(...page);
    if (!page.length || !isNum(res.total) || rows.length >= res.total || rows.length >= MAX_PLOT_ROWS || !ctx.alive) break;
  }
  return { columns, rows };
}

/** A wandb.plot chart (over its table) or a plotly figure, by step. @param {MediaCard} m */
async function showPlot(m) {
  const { ctx, content, ref, kind, items, last } = m;
  const view = h('div', { class: 'plot-view' });
  /** @type {Drawn | null} */
  let current = null;
  let tok = 0;
  /** @param {number} i */
  const show = async (i) => {
    const t = ++tok;
    const v = items[i].value;
    if (current) { current.destroy(); current = null; }
    let drawn;
    if (kind === 'plot') {
      const tref = isPlainObject(v) && isPlainObject(v.table) ? v.table : null;
      if (!tref || typeof tref.path !== 'string') { view.replaceChildren(h('p', { class: 'muted', text: 'no table' })); return; }
      const res = await wholeTable(ctx, ref, tref.path);
      if (t !== tok || !ctx.alive) return;
      drawn = drawPlot(String(v.spec || ''), isPlainObject(v.fields) ? v.fields : {}, isPlainObject(v.string_fields) ? v.string_fields : {},
        res.columns, res.rows);
    } else {
      const resp = await fetch(fileUrl(ref, v.path), { signal: ctx.signal, credentials: 'same-origin' });
      RS.requests++;
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      const fig = JSON.parse(await resp.text());
      if (t !== tok || !ctx.alive) return;
      drawn = drawPlotly(fig);
      drawn.extra = h('a', { class: 'download', href: fileUrl(ref, v.path, true), text: 'plotly JSON' });
    }
    current = drawn;
    view.replaceChildren(drawn.el, drawn.extra || '');
  };
  ctx.onCleanup(() => { if (current) current.destroy(); });
  content.append(view);
  if (items.length > 1) content.append(stepSlider(items, (i) => { show(i).catch(report); }, last).el);
  await show(last);
}

/** A logged table, a page at a time, sortable by a column, by step. @param {MediaCard} m */
async function showTable(m) {
  const { ctx, content, ref, items, last } = m;
  const st = { item: last, offset: 0, limit: 20, sort: '', desc: false, total: 0 };
  let tok = 0;
  const prev = h('button', { class: 'prev', type: 'button', text: '‹ prev' });
  const next = h('button', { class: 'next', type: 'button', text: 'next ›' });
  const info = h('span', { class: 'page-info muted' });
  const size = h('select', { class: 'page-size', title: 'rows per page' }, [10, 20, 50, 100, 500].map((n) => h('option', { value: String(n), text: n + ' rows' })));
  size.value = String(st.limit);
  const tbl = h('table', { class: 'media-table' });
  const load = async () => {
    const v = refsOf(items[st.item].value)[0];
    if (!v) { tbl.replaceChildren(h('tbody', null, h('tr', null, h('td', { text: fmtValue(items[st.item].value) })))); return; }
    /** @type {Record<string, unknown>} */
    const q = { run: ref, path: v.path, offset: st.offset, limit: st.limit };
    if (st.sort) { q.sort = st.sort; if (st.desc) q.desc = 1; }
    const t = ++tok;
    const res = await api('table', q, ctx.signal);
    if (t !== tok || !ctx.alive) return;
    /** @type {string[]} */
    const cols = Array.isArray(res.columns) ? res.columns.map(String) : [];
    /** @type {any[]} */
    const rows = Array.isArray(res.rows) ? res.rows : [];
    st.total = isNum(res.total) ? res.total : rows.length;
    tbl.replaceChildren(
      h('thead', null, h('tr', null, cols.map((c) => h('th', { dataset: { col: c }, title: 'sort by ' + c }, c,
        st.sort === c ? h('span', { class: 'sort-ind', text: st.desc ? ' ▼' : ' ▲' }) : null)))),
      h('tbody', null, rows.map((row) => h('tr', null, (Array.isArray(row) ? row : cols.map((c) => (isPlainObject(row) ? row[c] : row)))
        .map((cell) => {
          if (isPlainObject(cell) && cell._type === 'image-file' && typeof cell.path === 'string') {
            return h('td', null, h('img', { class: 'cell-image', src: fileUrl(ref, cell.path), alt: String(cell.caption || cell.path) }));
          }
          const s = fmtValue(cell);
          return h('td', { text: s, title: s.length > 40 ? s : null });
        })))));
    info.textContent = st.total ? `${st.offset + 1}–${st.offset + rows.length} of ${st.total}` : 'empty';
    prev.disabled = st.offset <= 0;
    next.disabled = st.offset + st.limit >= st.total;
  };
  const reload = () => { load().catch(report); };
  prev.addEventListener('click', () => { st.offset = Math.max(0, st.offset - st.limit); reload(); });
  next.addEventListener('click', () => { st.offset += st.limit; reload(); });
  size.addEventListener('change', () => { st.limit = Number(size.value); st.offset = 0; reload(); });
  tbl.addEventListener('click', (e) => {
    const th = /** @type {HTMLElement | null} */ (/** @type {Element} */ (e.target).closest('th[data-col]'));
    if (!th) return;
    if (st.sort === th.dataset.col) st.desc = !st.desc;
    else { st.sort = String(th.dataset.col); st.desc = false; }
    st.offset = 0;
    reload();
  });
  content.append(h('div', { class: 'media-table-controls' }, prev, next, info, size), h('div', { class: 'table-scroll media-table-box' }, tbl));
  if (items.length > 1) {
    const slider = stepSlider(items, (i) => { st.item = i; st.offset = 0; reload(); }, last);
    content.append(slider.el);
  }
  await load();
}
