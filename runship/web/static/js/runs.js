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
  await new RunsView(ctx, main, params).load();
}

/**
 * The view's controls, made once.
 * @param {Params} params
 * @param {string} filterError
 */
function buildControls(params, filterError) {
  const colList = h('div', { class: 'dropdown-body' });
  const e = {
    projectSel: h('select', { id: 'project', title: 'project' }, h('option', { value: '', text: 'all projects' })),
    filterIn: h('input', {
      id: 'filter', type: 'search', spellcheck: 'false', autocomplete: 'off', value: params.get('q'),
      placeholder: 'search name, id, group, tags, host, or filter: config.lr < 1e-3 and summary.val/acc > 0.9',
    }),
    filterErr: h('span', { id: 'filter-error', class: 'error', text: filterError }),
    stateSel: h('select', { id: 'state-filter', title: 'state' }),
    tagSel: h('select', { id: 'tag-filter', title: 'tag' }),
    groupSel: h('select', { id: 'group-filter', title: 'group' }),
    groupBy: h('select', { id: 'group-by', title: 'group rows and charts by' }),
    colList,
    columns: h('details', { id: 'columns', class: 'dropdown' }, h('summary', { text: 'Columns' }), colList),
    selShown: h('button', { type: 'button', id: 'select-shown', text: 'Select shown', title: 'select the runs the table shows (at most 20)' }),
    clearSel: h('button', { type: 'button', id: 'clear-selection', text: 'Clear selection' }),
    compareBtn: h('button', { type: 'button', id: 'compare-btn', class: 'primary', text: 'Compare' }),
    count: h('span', { class: 'count' }),
    table: h('table', { id: 'runs-table', class: 'grid-table' }),
    chartsHost: h('div', { id: 'runs-charts' }),
    rootErrors: h('ul', { id: 'root-errors', class: 'error', hidden: true }), // roots that could not be listed
  };
  setOptions(e.stateSel, [['', 'all states']], STATES, params.get('state'));
  return e;
}

/** The runs view: its state, its controls and what they do. */
class RunsView {
  /** @param {ViewCtx} ctx @param {HTMLElement} main @param {Params} params */
  constructor(ctx, main, params) {
    this.ctx = ctx;
    this.params = params;
    /** @type {Run[]} */
    this.runs = [];
    /** @type {Run[]} */
    this.visible = [];
    this.filter = compileFilter(params.get('q'));
    /** @type {Set<string>} */
    this.projects = new Set();
    /** @type {Map<string, any>} */
    this.details = new Map(); // ref -> /ui/api/run answer, for the charted runs only
    /** @type {ChartsView | null} */
    this.charts = null;
    this.chartsKey = '';
    this.chartsToken = 0;
    this.loadToken = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.refreshTimer = null;
    this.tableDone = false;
    this.chartsDone = false;
    // At most `shown` rows are in the page at once (a table of 10,000 runs stays
    // quick); "show more" adds ROW_PAGE more. Filters, sorting and counts see every run.
    this.shown = ROW_PAGE;
    this.save = () => {
      replaceHash('/runs', params);
      this.noteNav();
    };
    this.noteNav();
    ctx.onCleanup(() => { if (this.charts) this.charts.destroy(); this.charts = null; this.details.clear(); });
    const e = (this.e = buildControls(params, this.filter.error));
    main.append(
      h('div', { class: 'toolbar' }, h('label', null, 'Project', e.projectSel), h('span', { class: 'filter-box' }, e.filterIn, e.filterErr)),
      h('div', { class: 'toolbar' }, e.stateSel, e.tagSel, e.groupSel, h('label', null, 'Group by', e.groupBy), e.columns, e.selShown,
        e.clearSel, e.compareBtn, e.count),
      e.rootErrors,
      h('div', { class: 'table-wrap' }, e.table),
      e.chartsHost);
    // The table follows the filter at once; the charts (which fetch) a moment later.
    this.chartsSoon = debounce(() => { if (ctx.alive) this.updateCharts(false).catch(report); }, 300);
    ctx.onCleanup(() => this.chartsSoon.cancel());
    this.wireToolbar();
    this.wireTable();
  }

  /** The top bar's links: back to this view as it is, compare its selection. */
  noteNav() {
    nav.runsHash = hashFor('/runs', this.params);
    nav.selection = this.params.list('sel');
    updateNav('runs');
  }

  maybeReady() { if (this.tableDone && this.chartsDone) this.ctx.ready(); }

  rerender() { this.render(false); }

  wireToolbar() {
    const { e, params, save } = this;
    e.projectSel.addEventListener('change', () => { params.set('project', e.projectSel.value); save(); this.load().catch(report); });
    e.filterIn.addEventListener('input', () => {
      params.set('q', e.filterIn.value);
      this.filter = compileFilter(e.filterIn.value);
      e.filterErr.textContent = this.filter.error;
      save();
      this.shown = ROW_PAGE;
      this.computeVisible();
      this.renderTable();
      this.chartsSoon();
    });
    for (const [sel, name] of /** @type {[HTMLSelectElement, string][]} */ ([[e.stateSel, 'state'], [e.tagSel, 'tag'], [e.groupSel, 'gfilter'], [e.groupBy, 'group']])) {
      sel.addEventListener('change', () => { params.set(name, sel.value); save(); this.rerender(); });
    }
    e.colList.addEventListener('change', () => {
      params.set('cols', [...e.colList.querySelectorAll('input:checked')].map((i) => /** @type {HTMLInputElement} */ (i).value), true);
      save();
      this.renderTable();
    });
    e.selShown.addEventListener('click', () => { params.set('sel', this.visible.slice(0, 20).map((r) => r.ref)); save(); this.rerender(); });
    e.clearSel.addEventListener('click', () => { params.set('sel', null); save(); this.rerender(); });
    e.compareBtn.addEventListener('click', () => {
      const sel = params.list('sel');
      if (sel.length) location.hash = compareHash(sel);
    });
  }

  /** A click on a column's head sorts by it (again: the other way); a tick selects a run. */
  wireTable() {
    const { e, params, save } = this;
    e.table.addEventListener('click', (ev) => {
      const th = /** @type {HTMLElement | null} */ (/** @type {Element} */ (ev.target).closest('th[data-col]'));
      if (!th || !e.table.contains(th)) return;
      const col = String(th.dataset.col), s = params.get('sort');
      params.set('sort', s === col ? '-' + col : col);
      save();
      this.rerender();
    });
    e.table.addEventListener('change', (ev) => {
      const cb = /** @type {HTMLInputElement} */ (ev.target);
      if (!cb.classList || !cb.classList.contains('select-run')) return;
      let sel = params.list('sel');
      const ref = String(cb.dataset.ref);
      if (cb.checked) { if (!sel.includes(ref)) sel.push(ref); } else sel = sel.filter((x) => x !== ref);
      params.set('sel', sel);
      save();
      this.updateCounts();
      this.updateCharts(false).catch(report);
    });
  }

  // ---- columns
  /** The columns after the fixed ones: chosen (cols=), else the first 4 summary keys. */
  extraCols() {
    if (this.params.has('cols')) return this.params.list('cols');
    /** @type {Set<string>} */
    const sum = new Set();
    for (const r of this.runs) for (const k of Object.keys(r._sum)) if (!k.startsWith('_')) sum.add(k);
    return [...sum].sort(naturalCompare).slice(0, 4).map((k) => 'summary.' + k);
  }

  /** @param {string[]} cfgKeys @param {string[]} sumKeys */
  renderColumnChooser(cfgKeys, sumKeys) {
    const colList = this.e.colList;
    const chosen = this.extraCols();
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
  computeVisible() {
    const params = this.params, filter = this.filter;
    const st = params.get('state'), tag = params.get('tag'), gf = params.get('gfilter');
    this.visible = this.runs.filter((r) => (!st || r.state === st) && (!tag || r.tags.includes(tag)) &&
      (!gf || String(r.group === undefined || r.group === null ? '' : r.group) === gf) && (!filter.fn || filter.fn(r)));
    const s = params.get('sort');
    if (s) {
      const desc = s.startsWith('-'), col = desc ? s.slice(1) : s;
      this.visible.sort((a, b) => compareValues(colValue(a, col), colValue(b, col), desc));
    }
  }

  updateCounts() {
    const { count, compareBtn } = this.e;
    const n = this.params.list('sel').length;
    count.textContent = `${this.visible.length} of ${this.runs.length} runs` + (n ? `, ${n} selected` : '');
    compareBtn.disabled = !n;
    compareBtn.textContent = n ? `Compare (${n})` : 'Compare';
  }

  renderTable() {
    const { params, visible, shown } = this;
    const cols = BASE_COLS.concat(this.extraCols());
    const s = params.get('sort'), desc = s.startsWith('-'), sortCol = desc ? s.slice(1) : s;
    const sel = new Set(params.list('sel'));
    const thead = h('thead', null, h('tr', null, cols.map((c) => h('th', { dataset: { col: c }, title: 'sort by ' + c },
      COL_LABELS[c] || c, c === sortCol ? h('span', { class: 'sort-ind', text: desc ? '\u25bc' : '\u25b2' }) : null))));
    const tbody = h('tbody');
    const gb = params.get('group');
    if (gb) this.groupedRows(tbody, gb, cols, sel);
    else for (const r of visible.slice(0, shown)) tbody.append(runRow(r, cols, sel));
    if (!visible.length) {
      tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: cols.length, class: 'muted', text: this.runs.length ? 'No run matches the filters.' : 'No runs yet.' })));
    } else if (visible.length > shown) {
      const more = h('button', { type: 'button', id: 'runs-more', text: `show ${Math.min(ROW_PAGE, visible.length - shown)} more (${visible.length - shown} not shown)` });
      more.addEventListener('click', () => { this.shown += ROW_PAGE; this.renderTable(); });
      tbody.append(h('tr', { class: 'more-row' }, h('td', { colspan: cols.length }, more)));
    }
    this.e.table.replaceChildren(thead, tbody);
    this.updateCounts();
  }

  /**
   * The shown runs under a row per group of the group-by column's value, at most `shown` runs.
   * @param {HTMLElement} tbody
   * @param {string} gb the group-by column
   * @param {string[]} cols
   * @param {Set<string>} sel
   */
  groupedRows(tbody, gb, cols, sel) {
    let left = this.shown;
    const groups = groupRuns(this.visible, gb, '');
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
  }

  /** @param {boolean} fromRefresh */
  render(fromRefresh) {
    this.computeVisible();
    this.renderTable();
    this.updateCharts(fromRefresh).catch(report);
  }

  // ---- charts of the selected runs (or the first 10 shown)
  /**
   * The /ui/api/run answers of the charted runs (what they logged), read again for a live
   * run at a refresh; false when a newer call came meanwhile.
   * @param {Run[]} charted
   * @param {boolean} fromRefresh
   */
  async readDetails(charted, fromRefresh) {
    const { ctx, details } = this;
    const token = ++this.chartsToken;
    const need = charted.filter((r) => !details.has(r.ref) || (fromRefresh && r.live));
    if (need.length) {
      await Promise.all(need.map((r) => api('run', { run: r.ref }, ctx.signal).then(
        (d) => { details.set(r.ref, d); },
        (e) => { if (e.name === 'AbortError') throw e; report(e); if (!details.has(r.ref)) details.set(r.ref, null); })));
    }
    if (token !== this.chartsToken || !ctx.alive) return false;
    const refs = new Set(charted.map((r) => r.ref));
    for (const k of [...details.keys()]) if (!refs.has(k)) details.delete(k);
    return true;
  }

  /** The charts' groups (by the group-by column), or null. @param {Run[]} charted */
  chartGroups(charted) {
    const gb = this.params.get('group');
    if (!gb) return null;
    const m = groupRuns(charted, gb, '(none)');
    return [...m].sort((a, b) => Number(a[0] === '(none)') - Number(b[0] === '(none)') || naturalCompare(a[0], b[0]))
      .map(([g, grp]) => ({ label: `${gb}=${g}`, color: colorOf('group:' + g), refs: grp.runs.map((r) => r.ref) }));
  }

  /** @param {boolean} fromRefresh */
  async updateCharts(fromRefresh) {
    const { ctx, params } = this;
    const sel = params.list('sel');
    const byRef = new Map(this.runs.map((r) => [r.ref, r]));
    const charted = (sel.length
      ? sel.map((ref) => byRef.get(ref) || prepRun({ ref, name: ref }))
      : this.visible.slice(0, 10)).slice(0, 20); // at most 20 runs charted
    if (!(await this.readDetails(charted, fromRefresh))) return;
    const ds = charted.map((r) => this.details.get(r.ref)).filter(Boolean);
    const keys = numberKeysOf(ds), xOptions = xOptionsOf(ds);
    const groups = this.chartGroups(charted);
    const key = JSON.stringify([charted.map((r) => [r.ref, r.label]), keys, xOptions, groups && groups.map((g) => [g.label, g.refs])]);
    const liveRefs = new Set(charted.filter((r) => r.live).map((r) => r.ref));
    if (this.charts && key === this.chartsKey) { this.charts.setLive(liveRefs); return; }
    this.chartsKey = key;
    if (this.charts) {
      this.charts.destroy();
      this.charts = null;
      this.chartsDone = false;
      RS.ready = false;
    }
    const host = this.e.chartsHost;
    if (!charted.length) {
      host.replaceChildren(h('p', { class: 'muted', text: 'No runs to chart.' }));
      this.chartsDone = true;
      this.maybeReady();
      return;
    }
    host.replaceChildren();
    const n = charted.length;
    this.charts = new ChartsView(ctx, host, {
      runs: charted.map((r) => ({ ref: r.ref, label: r.label, color: r.color, live: r.live })),
      keys, xOptions, groups, params, save: this.save,
      title: sel.length > n ? `Charts: the first ${n} of ${sel.length} selected runs`
        : sel.length ? `Charts: ${n} selected run${n === 1 ? '' : 's'}` : `Charts: the first ${n} run${n === 1 ? '' : 's'} shown (tick runs to choose)`,
      fetch: (ks, q) => fetchSeries(ctx.signal, charted.map((r) => r.ref), ks, q),
      onFirstRender: () => { this.chartsDone = true; this.maybeReady(); },
    });
  }

  // ---- listing, refreshed every 5 s while a run is live
  async load() {
    const { ctx, params } = this;
    ctx.cancel(this.refreshTimer);
    this.refreshTimer = null;
    const token = ++this.loadToken;
    const project = params.get('project');
    /** @type {any} */
    let res;
    try {
      res = await api('runs', project ? { project } : null, ctx.signal);
    } catch (e) {
      if (e.name === 'AbortError' || token !== this.loadToken) return;
      report(e);
      if (!this.tableDone) {
        this.e.table.replaceChildren(h('tbody', null, h('tr', null, h('td', { class: 'error', text: 'could not load the runs: ' + e.message }))));
        this.tableDone = this.chartsDone = true;
        this.maybeReady();
      }
      if (e.status !== 401 && this.runs.some((r) => r.live)) this.refreshTimer = ctx.later(() => this.load(), 10000);
      return;
    }
    if (token !== this.loadToken || !ctx.alive) return;
    const fresh = !this.tableDone;
    const status = statusEl();
    if (status && !status.hidden && !fresh) clearStatus();
    /** @type {any[]} */
    const failed = Array.isArray(res.errors) ? res.errors : [];
    this.e.rootErrors.replaceChildren(...failed.map((e) => h('li', { text: 'could not list ' + e.root + ': ' + e.error })));
    this.e.rootErrors.hidden = !failed.length;
    this.takeListing(res, project);
    this.render(!fresh);
    this.tableDone = true;
    this.maybeReady();
    const live = this.runs.some((r) => r.live);
    if (live || failed.length) this.refreshTimer = ctx.later(() => this.load(), live ? 5000 : 10000); // a failed root is asked again
  }

  /**
   * A listing's runs, colors, projects, and the choices they offer (tags, groups, columns).
   * @param {any} res the /ui/api/runs answer
   * @param {string} project the project listed ('': all)
   */
  takeListing(res, project) {
    const { e, params, projects } = this;
    /** @type {any[]} */
    const listed = Array.isArray(res.runs) ? res.runs : [];
    if (!project) assignColors(listed, true);
    else if (listed.some((r) => !colorMap.has(String(r.ref)))) assignColors(listed, false);
    const runs = (this.runs = listed.map(prepRun));
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
    setOptions(e.projectSel, [['', 'all projects']], [...projects].sort(naturalCompare), params.get('project'));
    setOptions(e.tagSel, [['', 'all tags']], [...tags].sort(naturalCompare), params.get('tag'));
    setOptions(e.groupSel, [['', 'all groups']], [...groupNames].sort(naturalCompare), params.get('gfilter'));
    setOptions(e.groupBy, [['', 'none'], ['group', 'group'], ['job_type', 'job_type']], cfgSorted.map((k) => 'config.' + k), params.get('group'));
    this.renderColumnChooser(cfgSorted, sumSorted);
  }
}
