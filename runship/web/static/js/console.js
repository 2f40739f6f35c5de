/* The run page's Console tab: the last 2,000 lines, followed while the run is live, or the
 * lines matching a search (the server searches the whole console). */

import { api, report } from './api.js';
import { h } from './dom.js';
import { debounce, fmtTime, isMissing, isNum, isPlainObject } from './util.js';

/** @typedef {import('./metrics.js').OnRunUpdate} OnRunUpdate */
/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */

/** Lines kept in the page at most (the oldest go first). */
const MAX_LINES = 20000;

/** @param {any} l a console line: {n, t, stream, text, partial?} (partial: not ended yet, e.g. a progress bar) */
const lineEl = (l) => h('div', {
  class: l.partial === true ? 'line partial' : 'line',
  title: l.partial === true ? 'in progress: not ended yet' : (isNum(l.t) ? fmtTime(l.t) : null),
  dataset: { stream: l.stream === 'stderr' ? 'stderr' : 'stdout', n: isMissing(l.n) ? '' : l.n, line: isNum(l.n) ? l.n + 1 : '' },
}, l.text === undefined || l.text === null ? '' : String(l.text));

/**
 * Lines into the console box: in place of what it shows (replace), or after it, following
 * the end when the box was scrolled to it.
 * @param {HTMLElement} box
 * @param {any[]} lines
 * @param {boolean} replace
 */
function appendLines(box, lines, replace) {
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
  const frag = document.createDocumentFragment();
  for (const l of lines) if (isPlainObject(l)) frag.append(lineEl(l));
  if (replace) box.replaceChildren(frag);
  else {
    // the line shown unfinished at the last poll: this answer holds it again, or the line that ended it
    for (const old of box.querySelectorAll(':scope > .line.partial')) old.remove();
    const first = box.firstElementChild;
    if (first && first.classList.contains('empty')) first.remove();
    box.append(frag);
  }
  while (box.childElementCount > MAX_LINES) box.firstElementChild?.remove();
  if (replace || atBottom) box.scrollTop = box.scrollHeight;
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
export async function consoleTab(ctx, body, ref, run, params, save, onRunUpdate) {
  const search = h('input', { id: 'console-search', type: 'search', spellcheck: 'false', placeholder: 'search the console (case-insensitive)', value: params.get('cq') });
  const info = h('span', { class: 'muted console-info' });
  const box = h('div', { id: 'console', class: 'console' });
  body.replaceChildren(h('div', { class: 'console-tools' }, search, info), box);
  /** @type {number | null} */
  let next = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let live = !!run.live, mode = 'tail', token = 0, shownTotal = 0;

  /** @param {string} text */
  const empty = (text) => box.replaceChildren(h('div', { class: 'muted pad empty', text }));
  /** @param {any[]} lines @param {boolean} replace */
  const append = (lines, replace) => appendLines(box, lines, replace);
  const schedulePoll = () => { if (live && mode === 'tail' && timer === null && isNum(next)) timer = ctx.later(() => poll(), 2000); };
  /** @param {boolean} [last] once more after the run ended (its last lines end any unfinished one) */
  async function poll(last = false) {
    timer = null;
    if (mode !== 'tail' || !(live || last) || !isNum(next)) return;
    const t = token;
    try {
      const res = await api('console', { run: ref, offset: next }, ctx.signal);
      if (t !== token || mode !== 'tail') return;
      const lines = Array.isArray(res.lines) ? res.lines : [];
      if (lines.length || box.querySelector(':scope > .line.partial')) append(lines, false);
      if (isNum(res.next)) next = res.next;
      shownTotal = isNum(res.total) ? res.total : shownTotal + lines.length;
      info.textContent = `${shownTotal} lines` + (live ? ' · following' : '');
    } catch (e) {
      if (e.name === 'AbortError') return;
      report(e);
    }
    schedulePoll();
  }
  async function loadTail() {
    const t = ++token;
    mode = 'tail';
    const res = await api('console', { run: ref, tail: 2000 }, ctx.signal);
    if (t !== token) return;
    const lines = Array.isArray(res.lines) ? res.lines : [];
    append(lines, true);
    if (!lines.length) empty('no console output');
    next = isNum(res.next) ? res.next : null;
    shownTotal = isNum(res.total) ? res.total : lines.length;
    info.textContent = `${shownTotal} lines` + (shownTotal > lines.length ? ` (the last ${lines.length} shown)` : '') + (live ? ' · following' : '');
    schedulePoll();
  }
  /** @param {string} q */
  async function doSearch(q) {
    ctx.cancel(timer);
    timer = null;
    if (!q) return loadTail();
    const t = ++token;
    mode = 'search';
    const res = await api('console', { run: ref, q, limit: 2000 }, ctx.signal);
    if (t !== token) return;
    const lines = Array.isArray(res.lines) ? res.lines : [];
    append(lines, true);
    box.scrollTop = 0;
    if (!lines.length) empty('no matching lines');
    info.textContent = `${lines.length} matching line${lines.length === 1 ? '' : 's'}` + (isNum(res.total) && res.total > lines.length ? ` (of ${res.total})` : '');
  }
  const onSearch = debounce(() => {
    params.set('cq', search.value);
    save();
    doSearch(search.value.trim()).catch(report);
  }, 300);
  ctx.onCleanup(() => onSearch.cancel());
  search.addEventListener('input', onSearch);
  onRunUpdate((r) => {
    const ended = live && !r.live;
    live = !!r.live;
    if (ended && timer === null) poll(true).catch(report);
    else schedulePoll();
  });
  try {
    await doSearch(params.get('cq').trim());
  } catch (e) {
    if (e.name === 'AbortError') return;
    report(e);
    empty('could not load the console');
  }
  ctx.ready();
}
