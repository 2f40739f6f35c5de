/* The runs view (#/runs): the table of runs (filters, sorting, grouping, columns, selection)
 * and the charts of the selected runs (or the first shown), refreshed while a run is live. */

import { api, clearStatus, fetchSeries, report, statusEl } from './api.js';
import { assignColors, colorMap, colorOf } from './colors.js';
import { h, stateBadge } from './dom.js';
import { compileFilter } from './filter.js';
import { RS } from './hooks.js';
import { ChartsView } from './panels.js';
import { compareHash, hashFor, nav, replaceHash, runHash, updateNav } from './router.js';
import { numberKeysOf, xOptionsOf } from './series.js';
import {
  STATES, compareValues, debounce, flatten, fmtDuration, fmtTime, fmtValue, isMissing, isNum, isPlainObject, naturalCompare,
} from './util.js';

/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */

/**
 * A run of the listing (/ui/api/runs), prepared: its ref, tags, label, color and live flag
 * made sure, its config and summary flattened (dotted keys).
 * @typedef {Record<string, any> & {ref: string, tags: string[], _cfg: Record<string, any>, _sum: Record<string, any>,
 *   label: string, color: string, live: boolean}} Run
 */

const BASE_COLS = ['state', 'name', 'id', 'group', 'job_type', 'tags', 'host', 'job_id', 'start_time', 'duration', 'steps', 'last_write'];
const ROW_PAGE = 200; // rows of the runs table put in the page at a time
/** @type {Record<string, string>} */
const COL_LABELS = {
  state: 'State', name: 'Name', id: 'ID', group: 'Group', job_type: 'Job type', tags: 'Tags', host: 'Host',
  job_id: 'Job ID', start_time: 'Started', duration: 'Duration', steps: 'Steps', last_write: 'Last write',
};

/** @param {Record<string, any>} r @returns {Run} */
function prepRun(r) {
  r.ref = String(r.ref === undefined || r.ref === null ? '' : r.ref);
  r.tags = Array.isArray(r.tags) ? r.tags.map(String) : isMissing(r.tags) ? [] : [String(r.tags)];
  r._cfg = flatten(isPlainObject(r.config) ? r.config : {});
  r._sum = flatten(isPlainObject(r.summary) ? r.summary : {});
  r.label = String(r.name || r.id || r.ref);
  r.color = colorOf(r.ref);
  r.live = r.live === true;
  return /** @type {Run} */ (r);
}

/** A run's value in a column (a field, config.KEY or summary.KEY). @param {Run} r @param {string} col */
function colValue(r, col) {
  if (col.startsWith('config.')) return r._cfg[col.slice(7)];
  if (col.startsWith('summary.')) return r._sum[col.slice(8)];
  if (col === 'tags') return r.tags.join(', ');
  if (col === 'name') return r.label;
  return r[col];
}

/**
 * The runs by their value in a column, as text (none: a missing value), in order of first
 * appearance; each group keeps its first run's value.
 * @param {Run[]} list
 * @param {string} col
 * @param {string} none
 * @returns {Map<string, {value: unknown, runs: Run[]}>}
 */
function groupRuns(list, col, none) {
  /** @type {Map<string, {value: unknown, runs: Run[]}>} */
  const groups = new Map();
  for (const r of list) {
    const v = colValue(r, col), k = isMissing(v) ? none : fmtValue(v);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { value: v, runs: [] }));
    g.runs.push(r);
  }
  return groups;
}

/** @param {Run} r @returns {number} */
const problemCount = (r) => (Array.isArray(r.problems) ? r.problems.length : isNum(r.problems) ? r.problems : 0);

/** @param {Run} r @param {string} col @param {Set<string>} sel the selected refs */
function runCell(r, col, sel) {
  const td = h('td', { dataset: { col } });
  switch (col) {
    case 'state':
      td.append(stateBadge(r.state, r.live));
      break;
    case 'name': {
      const cb = h('input', { type: 'checkbox', class: 'select-run', title: 'select for charts and compare', checked: sel.has(r.ref), dataset: { ref: r.ref } });
      cb.style.accentColor = r.color;
      const sw = h('span', { class: 'swatch' });
      sw.style.background = r.color;
      td.append(cb, sw, h('a', { class: 'run-link', href: runHash(r.ref), title: r.ref, text: r.label }));
      break;
    }
    case 'tags':
      r.tags.forEach((t, i) => {
        if (i) td.append(' ');
        td.append(h('span', { class: 'tag', text: t }));
      });
      break;
    case 'start_time':
    case 'last_write':
      td.textContent = fmtTime(r[col]);
      break;
    case 'duration':
      td.textContent = fmtDuration(r.duration);
      td.classList.add('num');
      break;
    default: {
      const v = colValue(r, col);
      td.textContent = fmtValue(v);
      if (typeof v === 'number') td.classList.add('num');
      if (typeof v === 'string' && v.length > 24) td.title = v;
    }
  }
  return td;
}

/** @param {Run} r @param {string[]} cols @param {Set<string>} sel */
function runRow(r, cols, sel) {
  const tr = h('tr', { dataset: { ref: r.ref, state: r.state, live: r.live ? '1' : null } });
  const n = problemCount(r);
  if (n) { tr.classList.add('has-problems'); tr.title = `${n} problem${n === 1 ? '' : 's'} reading this run`; }
  for (const c of cols) tr.append(runCell(r, c, sel));
  return tr;
}

/** The options each select or list was last given (not made again while they stay). @type {WeakMap<Element, string>} */
const shownOptions = new WeakMap();

/**
 * Replace a select's options when they changed; keep the current value (adding it if unknown).
 * @param {HTMLSelectElement} select
 * @param {[string, string][]} head value and text of the first options
 * @param {string[]} values
 * @param {string} current
 */
function setOptions(select, head, values, current) {
  const vals = values.slice();
  if (current && !vals.includes(current)) vals.push(current);
  const sig = head.map((x) => x[0]).concat(vals).join('\u0000');
  if (shownOptions.get(select) !== sig) {
    select.replaceChildren(...head.map(([v, t]) => h('option', { value: v, text: t })), ...vals.map((v) => h('option', { value: v, text: v })));
    shownOptions.set(select, sig);
  }
  select.value = current || '';
}


/** @param {ViewCtx} ctx @param {HTMLElement} main @param {Params} params */
export async function runsPage(ctx, main, params) {
  const save = () => {
    replaceHash('/runs', params);
    nav.runsHash = hashFor('/runs', params);
    nav.selection = params.list('sel');
    updateNav('runs');
  };
  nav.runsHash = hashFor('/runs', params);
  nav.selection = params.list('sel');
  updateNav('runs');
  /** @type {Run[]} */
  let runs = [];
  /** @type {Run[]} */
  let visible = [];
  let filter = compileFilter(params.get('q'));
  /** @type {Set<string>} */
  const projects = new Set();
  /** @type {Map<string, any>} */
  const details = new Map(); // ref -> /ui/api/run answer, for the charted runs only
  /** @type {ChartsView | null} */
  let charts = null;
  let chartsKey = '', chartsToken = 0, loadToken = 0;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let refreshTimer = null;
  let tableDone = false, chartsDone = false;
  const maybeReady = () => { if (tableDone && chartsDone) ctx.ready(); };
  ctx.onCleanup(() => { if (charts) charts.destroy(); charts = null; details.clear(); });

  // ---- toolbar
  const projectSel = h('select', { id: 'project', title: 'project' }, h('option', { value: '', text: 'all projects' }));
  const filterIn = h('input', {
    id: 'filter', type: 'search', spellcheck: 'false', autocomplete: 'off', value: params.get('q'),
    placeholder: 'search name, id, group, tags, host, or filter: config.lr < 1e-3 and summary.val/acc > 0.9',
  });
  const filterErr = h('span', { id: 'filter-error', class: 'error', text: filter.error });
  const stateSel = h('select', { id: 'state-filter', title: 'state' });
  setOptions(stateSel, [['', 'all states']], STATES, params.get('state'));
  const tagSel = h('select', { id: 'tag-filter', title: 'tag' });
  const groupSel = h('select', { id: 'group-filter', title: 'group' });
  const groupBy = h('select', { id: 'group-by', title: 'group rows and charts by' });
  const colList = h('div', { class: 'dropdown-body' });
  const columns = h('details', { id: 'columns', class: 'dropdown' }, h('summary', { text: 'Columns' }), colList);
  const selShown = h('button', { type: 'button', id: 'select-shown', text: 'Select shown', title: 'select the runs the table shows (at most 20)' });
  const clearSel = h('button', { type: 'button', id: 'clear-selection', text: 'Clear selection' });
  const compareBtn = h('button', { type: 'button', id: 'compare-btn', class: 'primary', text: 'Compare' });
  const count = h('span', { class: 'count' });
  const table = h('table', { id: 'runs-table', class: 'grid-table' });
  const chartsHost = h('div', { id: 'runs-charts' });
  const rootErrors = h('ul', { id: 'root-errors', class: 'error', hidden: true }); // roots that could not be listed
  main.append(
    h('div', { class: 'toolbar' }, h('label', null, 'Project', projectSel), h('span', { class: 'filter-box' }, filterIn, filterErr)),
    h('div', { class: 'toolbar' }, stateSel, tagSel, groupSel, h('label', null, 'Group by', groupBy), columns, selShown, clearSel, compareBtn, count),
    rootErrors,
    h('div', { class: 'table-wrap' }, table),
    chartsHost);

  const rerender = () => { render(false); };
  projectSel.addEventListener('change', () => { params.set('project', projectSel.value); save(); load().catch(report); });
  // The table follows the filter at once; the charts (which fetch) a moment later.
  const chartsSoon = debounce(() => { if (ctx.alive) updateCharts(false).catch(report); }, 300);
  ctx.onCleanup(() => chartsSoon.cancel());
  filterIn.addEventListener('input', () => {
    params.set('q', filterIn.value);
    filter = compileFilter(filterIn.value);
    filterErr.textContent = filter.error;
    save();
    shown = ROW_PAGE;
    computeVisible();
    renderTable();
    chartsSoon();
  });
  for (const [sel, name] of /** @type {[HTMLSelectElement, string][]} */ ([[stateSel, 'state'], [tagSel, 'tag'], [groupSel, 'gfilter'], [groupBy, 'group']])) {
    sel.addEventListener('change', () => { params.set(name, sel.value); save(); rerender(); });
  }
  colList.addEventListener('change', () => {
    params.set('cols', [...colList.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value), true);
    save();
    renderTable();
  });
  selShown.addEventListener('click', () => { params.set('sel', visible.slice(0, 20).map((r) => r.ref)); save(); rerender(); });
  clearSel.addEventListener('click', () => { params.set('sel', null); save(); rerender(); });
  compareBtn.addEventListener('click', () => {
    const sel = params.list('sel');
    if (sel.length) location.hash = compareHash(sel);
  });
  table.addEventListener('click', (e) => {
    const th = /** @type {HTMLElement | null} */ (/** @type {Element} */ (e.target).closest('th[data-col]'));
    if (!th || !table.contains(th)) return;
    const col = String(th.dataset.col), s = params.get('sort');
    params.set('sort', s === col ? '-' + col : col);
    save();
    rerender();
  });
  table.addEventListener('change', (e) => {
    const cb = /** @type {HTMLInputElement} */ (e.target);
    if (!cb.classList || !cb.classList.contains('select-run')) return;
    let sel = params.list('sel');
    const ref = String(cb.dataset.ref);
    if (cb.checked) { if (!sel.includes(ref)) sel.push(ref); } else sel = sel.filter((x) => x !== ref);
    params.set('sel', sel);
    save();
    updateCounts();
    updateCharts(false).catch(report);
  });

  // ---- columns
  function extraCols() {
    if (params.has('cols')) return params.list('cols');
    /** @type {Set<string>} */
    const sum = new Set();
    for (const r of runs) for (const k of Object.keys(r._sum)) if (!k.startsWith('_')) sum.add(k);
    return [...sum].sort(naturalCompare).slice(0, 4).map((k) => 'summary.' + k);
  }
  /** @param {string[]} cfgKeys @param {string[]} sumKeys */
  function renderColumnChooser(cfgKeys, sumKeys) {
    const chosen = extraCols();
    const all = cfgKeys.map((k) => 'config.' + k).concat(sumKeys.map((k) => 'summary.' + k));
    for (const c of chosen) if (!all.includes(c)) all.push(c);
    const sig = all.join('\u0000') + '\u0001' + chosen.join('\u0000');
    if (shownOptions.get(colList) === sig) return;
    shownOptions.set(colList, sig);
    /** @param {string} c */
    const item = (c) => h('label', null, h('input', { type: 'checkbox', value: c, checked: chosen.includes(c) }), c);
    colList.replaceChildren(
      h('div', { class: 'dd-head', text: 'config' }), ...all.filter((c) => c.startsWith('config.')).map(item),
      h('div', { class: 'dd-head', text: 'summary' }), ...all.filter((c) => c.startsWith('summary.')).map(item));
    if (!all.length) colList.append(h('div', { class: 'muted', text: 'no config or summary keys yet' }));
  }

  // ---- filtering, sorting, table
  function computeVisible() {
    const st = params.get('state'), tag = params.get('tag'), gf = params.get('gfilter');
    visible = runs.filter((r) => (!st || r.state === st) && (!tag || r.tags.includes(tag)) &&
      (!gf || String(r.group === undefined || r.group === null ? '' : r.group) === gf) && (!filter.fn || filter.fn(r)));
    const s = params.get('sort');
    if (s) {
      const desc = s.startsWith('-'), col = desc ? s.slice(1) : s;
      visible.sort((a, b) => compareValues(colValue(a, col), colValue(b, col), desc));
    }
  }

  function updateCounts() {
    const n = params.list('sel').length;
    count.textContent = `${visible.length} of ${runs.length} runs` + (n ? `, ${n} selected` : '');
    compareBtn.disabled = !n;
    compareBtn.textContent = n ? `Compare (${n})` : 'Compare';
  }

  // At most `shown` rows are in the page at once (a table of 10,000 runs stays
  // quick); "show more" adds ROW_PAGE more. Filters, sorting and counts see every run.
  let shown = ROW_PAGE;
  function renderTable() {
    const cols = BASE_COLS.concat(extraCols());
    const s = params.get('sort'), desc = s.startsWith('-'), sortCol = desc ? s.slice(1) : s;
    const sel = new Set(params.list('sel'));
    const thead = h('thead', null, h('tr', null, cols.map((c) => h('th', { dataset: { col: c }, title: 'sort by ' + c },
      COL_LABELS[c] || c, c === sortCol ? h('span', { class: 'sort-ind', text: desc ? '\u25bc' : '\u25b2' }) : null))));
    const tbody = h('tbody');
    const gb = params.get('group');
    let left = shown;
    if (gb) {
      const groups = groupRuns(visible, gb, '');
      const keys = [...groups.keys()].sort((a, b) => compareValues(groups.get(a)?.value, groups.get(b)?.value, false));
      for (const k of keys) {
        if (left <= 0) break;
        const g = /** @type {{value: unknown, runs: Run[]}} */ (groups.get(k));
        tbody.append(h('tr', { class: 'group-row', dataset: { group: k } }, h('td', { colspan: cols.length },
          h('span', { class: 'group-name', text: `${gb} = ${k === '' ? '(none)' : k}` }),
          h('span', { class: 'group-count', text: `${g.runs.length} run${g.runs.length === 1 ? '' : 's'}` }))));
        for (const r of g.runs.slice(0, left)) tbody.append(runRow(r, cols, sel));
        left -= g.runs.length;
      }
    } else {
      for (const r of visible.slice(0, shown)) tbody.append(runRow(r, cols, sel));
    }
    if (!visible.length) {
      tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: cols.length, class: 'muted', text: runs.length ? 'No run matches the filters.' : 'No runs yet.' })));
    } else if (visible.length > shown) {
      const more = h('button', { type: 'button', id: 'runs-more', text: `show ${Math.min(ROW_PAGE, visible.length - shown)} more (${visible.length - shown} not shown)` });
      more.addEventListener('click', () => { shown += ROW_PAGE; renderTable(); });
      tbody.append(h('tr', { class: 'more-row' }, h('td', { colspan: cols.length }, more)));
    }
    table.replaceChildren(thead, tbody);
    updateCounts();
  }

  /** @param {boolean} fromRefresh */
  function render(fromRefresh) {
    computeVisible();
    renderTable();
    updateCharts(fromRefresh).catch(report);
  }

  // ---- charts of the selected runs (or the first 10 shown)
  /** @param {boolean} fromRefresh */
  async function updateCharts(fromRefresh) {
    const sel = params.list('sel');
    const byRef = new Map(runs.map((r) => [r.ref, r]));
    const shown = (sel.length
      ? sel.map((ref) => byRef.get(ref) || prepRun({ ref, name: ref }))
      : visible.slice(0, 10)).slice(0, 20); // at most 20 runs charted
    const token = ++chartsToken;
    const need = shown.filter((r) => !details.has(r.ref) || (fromRefresh && r.live));
    if (need.length) {
      await Promise.all(need.map((r) => api('run', { run: r.ref }, ctx.signal).then(
        (d) => { details.set(r.ref, d); },
        (e) => { if (e.name === 'AbortError') throw e; report(e); if (!details.has(r.ref)) details.set(r.ref, null); })));
    }
    if (token !== chartsToken || !ctx.alive) return;
    const refs = new Set(shown.map((r) => r.ref));
    for (const k of [...details.keys()]) if (!refs.has(k)) details.delete(k);
    const ds = shown.map((r) => details.get(r.ref)).filter(Boolean);
    const keys = numberKeysOf(ds), xOptions = xOptionsOf(ds);
    const gb = params.get('group');
    /** @type {{label: string, color: string, refs: string[]}[] | null} */
    let groups = null;
    if (gb) {
      const m = groupRuns(shown, gb, '(none)');
      groups = [...m].sort((a, b) => Number(a[0] === '(none)') - Number(b[0] === '(none)') || naturalCompare(a[0], b[0]))
        .map(([g, grp]) => ({ label: `${gb}=${g}`, color: colorOf('group:' + g), refs: grp.runs.map((r) => r.ref) }));
    }
    const key = JSON.stringify([shown.map((r) => [r.ref, r.label]), keys, xOptions, groups && groups.map((g) => [g.label, g.refs])]);
    const liveRefs = new Set(shown.filter((r) => r.live).map((r) => r.ref));
    if (charts && key === chartsKey) { charts.setLive(liveRefs); return; }
    chartsKey = key;
    if (charts) {
      charts.destroy();
      charts = null;
      chartsDone = false;
      RS.ready = false;
    }
    if (!shown.length) {
      chartsHost.replaceChildren(h('p', { class: 'muted', text: 'No runs to chart.' }));
      chartsDone = true;
      maybeReady();
      return;
    }
    chartsHost.replaceChildren();
    const n = shown.length;
    charts = new ChartsView(ctx, chartsHost, {
      runs: shown.map((r) => ({ ref: r.ref, label: r.label, color: r.color, live: r.live })),
      keys, xOptions, groups, params, save,
      title: sel.length > n ? `Charts: the first ${n} of ${sel.length} selected runs`
        : sel.length ? `Charts: ${n} selected run${n === 1 ? '' : 's'}` : `Charts: the first ${n} run${n === 1 ? '' : 's'} shown (tick runs to choose)`,
      fetch: (ks, q) => fetchSeries(ctx.signal, shown.map((r) => r.ref), ks, q),
      onFirstRender: () => { chartsDone = true; maybeReady(); },
    });
  }

  // ---- listing, refreshed every 5 s while a run is live
  async function load() {
    ctx.cancel(refreshTimer);
    refreshTimer = null;
    const token = ++loadToken;
    const project = params.get('project');
    /** @type {any} */
    let res;
    try {
      res = await api('runs', project ? { project } : null, ctx.signal);
    } catch (e) {
      if (e.name === 'AbortError' || token !== loadToken) return;
      report(e);
      if (!tableDone) {
        table.replaceChildren(h('tbody', null, h('tr', null, h('td', { class: 'error', text: 'could not load the runs: ' + e.message }))));
        tableDone = chartsDone = true;
        maybeReady();
      }
      if (e.status !== 401 && runs.some((r) => r.live)) refreshTimer = ctx.later(load, 10000);
      return;
    }
    if (token !== loadToken || !ctx.alive) return;
    const fresh = !tableDone;
    const status = statusEl();
    if (status && !status.hidden && !fresh) clearStatus();
    /** @type {any[]} */
    const listed = Array.isArray(res.runs) ? res.runs : [];
    /** @type {any[]} */
    const failed = Array.isArray(res.errors) ? res.errors : [];
    rootErrors.replaceChildren(...failed.map((e) => h('li', { text: 'could not list ' + e.root + ': ' + e.error })));
    rootErrors.hidden = !failed.length;
    if (!project) assignColors(listed, true);
    else if (listed.some((r) => !colorMap.has(String(r.ref)))) assignColors(listed, false);
    runs = listed.map(prepRun);
    for (const p of Array.isArray(res.projects) ? res.projects : []) projects.add(String(p));
    for (const r of runs) if (!isMissing(r.project)) projects.add(String(r.project));
    /** @type {Set<string>} */
    const cfgKeys = new Set(), sumKeys = new Set(), tags = new Set(), groupNames = new Set();
    for (const r of runs) {
      for (const k of Object.keys(r._cfg)) cfgKeys.add(k);
      for (const k of Object.keys(r._sum)) sumKeys.add(k);
      for (const t of r.tags) tags.add(t);
      if (!isMissing(r.group)) groupNames.add(String(r.group));
    }
    const cfgSorted = [...cfgKeys].sort(naturalCompare), sumSorted = [...sumKeys].sort(naturalCompare);
    setOptions(projectSel, [['', 'all projects']], [...projects].sort(naturalCompare), params.get('project'));
    setOptions(tagSel, [['', 'all tags']], [...tags].sort(naturalCompare), params.get('tag'));
    setOptions(groupSel, [['', 'all groups']], [...groupNames].sort(naturalCompare), params.get('gfilter'));
    setOptions(groupBy, [['', 'none'], ['group', 'group'], ['job_type', 'job_type']], cfgSorted.map((k) => 'config.' + k), params.get('group'));
    renderColumnChooser(cfgSorted, sumSorted);
    render(!fresh);
    tableDone = true;
    maybeReady();
    const live = runs.some((r) => r.live);
    if (live || failed.length) refreshTimer = ctx.later(load, live ? 5000 : 10000); // a failed root is asked again
  }

  await load();
}
