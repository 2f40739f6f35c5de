/* The runs view (#/runs): the table of runs (filters, sorting, grouping, columns, selection)
 * and the charts of the selected runs (or the first shown), refreshed while a run is live. */

import { api, clearStatus, report, statusEl } from './api.js';
import { assignColors, colorMap } from './colors.js';
import { h, stateBadge } from './dom.js';
import { compileFilter } from './filter.js';
import { RS } from './hooks.js';
import { RunCharts } from './runcharts.js';
import { compareHash, hashFor, nav, replaceHash, runHash, updateNav } from './router.js';
import {
  BANDS, MAX_CHARTED, MAX_GROUPED, chartGroups, chartedRuns, colValue, differingColumns, groupRuns, prepRun,
} from './runlist.js';
import { STATES, compareValues, debounce, fmtDuration, fmtTime, fmtValue, isMissing, isNum, naturalCompare } from './util.js';

/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */

/** @typedef {import('./runlist.js').Run} Run */

const BASE_COLS = ['state', 'name', 'project', 'id', 'group', 'job_type', 'tags', 'host', 'job_id', 'start_time', 'duration', 'steps', 'last_write'];
/** Columns left out when no listed run has a value in them. */
const OPTIONAL_COLS = new Set(['group', 'job_type', 'tags', 'host', 'job_id']);
const ROW_PAGE = 200; // rows of the runs table put in the page at a time
/** @type {Record<string, string>} */
const COL_LABELS = {
  state: 'State', name: 'Name', id: 'ID', group: 'Group', job_type: 'Job type', tags: 'Tags', host: 'Host',
  job_id: 'Job ID', project: 'Project', start_time: 'Started', duration: 'Duration', steps: 'Steps', last_write: 'Last write',
};

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
  const colList = h('div', { class: 'col-list' });
  const colSearch = h('input', { id: 'column-search', type: 'search', placeholder: 'search columns', spellcheck: 'false', autocomplete: 'off' });
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
    bandSel: h('select', { id: 'band', title: 'the band drawn around a group\'s mean' }, BANDS.map(([v, t]) => h('option', { value: v, text: t }))),
    colList,
    colSearch,
    columns: h('details', { id: 'columns', class: 'dropdown' }, h('summary', { text: 'Columns' }),
      h('div', { class: 'dropdown-body' }, colSearch, colList)),
    selShown: h('button', { type: 'button', id: 'select-shown', text: 'Select shown', title: `select the runs the table shows (at most ${MAX_CHARTED})` }),
    clearSel: h('button', { type: 'button', id: 'clear-selection', text: 'Clear selection' }),
    compareBtn: h('button', { type: 'button', id: 'compare-btn', class: 'primary', text: 'Compare' }),
    count: h('span', { class: 'count' }),
    table: h('table', { id: 'runs-table', class: 'grid-table' }),
    chartsHost: h('div', { id: 'runs-charts' }),
    rootErrors: h('ul', { id: 'root-errors', class: 'error', hidden: true }), // roots that could not be listed
  };
  setOptions(e.stateSel, [['', 'all states']], STATES, params.get('state'));
  e.bandSel.value = params.get('band', 'minmax');
  if (!e.bandSel.value) e.bandSel.value = 'minmax';
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
    /** @type {string[]} */
    this.cfgKeys = [];
    /** @type {string[]} */
    this.sumKeys = [];
    /** @type {IntersectionObserver | null} */
    this.moreIo = null;
    /** @type {string | null} the run whose row is highlighted (hovered here or in a chart) */
    this.hoverRef = null;
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
    ctx.onCleanup(() => { if (this.moreIo) this.moreIo.disconnect(); });
    const e = (this.e = buildControls(params, this.filter.error));
    // a chart's hovered line, as ChartsView reports it (onHoverRun): for the tests
    /** @type {any} */ (RS).hoverRun = (/** @type {string | null} */ ref) => this.hoverRun(ref, true);
    ctx.onCleanup(() => { delete /** @type {any} */ (RS).hoverRun; });
    this.charts = new RunCharts(ctx, e.chartsHost, {
      params, save: this.save,
      onReady: () => { this.chartsDone = true; this.maybeReady(); },
      onHoverRun: (ref) => this.hoverRun(ref, true),
    });
    main.append(
      h('div', { class: 'toolbar' }, h('label', null, 'Project', e.projectSel), h('span', { class: 'filter-box' }, e.filterIn, e.filterErr)),
      h('div', { class: 'toolbar' }, e.stateSel, e.tagSel, e.groupSel, h('label', null, 'Group by', e.groupBy), e.bandSel, e.columns, e.selShown,
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
    e.bandSel.addEventListener('change', () => {
      params.set('band', e.bandSel.value === 'minmax' ? null : e.bandSel.value);
      save();
      this.updateCharts(false).catch(report);
    });
    e.colSearch.addEventListener('input', () => this.filterColumnChooser());
    e.selShown.addEventListener('click', () => { params.set('sel', this.visible.slice(0, MAX_CHARTED).map((r) => r.ref)); save(); this.rerender(); });
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
    e.table.addEventListener('mouseover', (ev) => {
      const tr = /** @type {HTMLElement | null} */ (/** @type {Element} */ (ev.target).closest('tr[data-ref]'));
      this.hoverRun(tr ? String(tr.dataset.ref) : null, false);
    });
    e.table.addEventListener('mouseleave', () => this.hoverRun(null, false));
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
  /**
   * The columns after the fixed ones: chosen (cols=), else the config and summary keys whose
   * values differ between the shown runs (at most 8).
   */
  extraCols() {
    if (this.params.has('cols')) return this.params.list('cols');
    return differingColumns(this.visible.length ? this.visible : this.runs);
  }

  /** The fixed columns: Project with all projects listed; none of the optional ones no run fills. */
  baseCols() {
    const all = !this.params.get('project');
    return BASE_COLS.filter((c) => (c === 'project' ? all : !OPTIONAL_COLS.has(c) || this.runs.some((r) => !isMissing(r[c]) && r[c] !== ''
      && !(Array.isArray(r[c]) && !r[c].length))));
  }

  /** The column chooser shows the columns its search box matches. */
  filterColumnChooser() {
    const q = this.e.colSearch.value.trim().toLowerCase();
    for (const l of this.e.colList.querySelectorAll('label')) {
      const inp = l.querySelector('input');
      l.classList.toggle('hidden', !!q && !(inp && inp.value.toLowerCase().includes(q)));
    }
  }

  renderColumnChooser() {
    const { cfgKeys, sumKeys } = this;
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
    this.filterColumnChooser();
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
    this.e.bandSel.hidden = !params.get('group');
    const cols = this.baseCols().concat(this.extraCols());
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
      more.addEventListener('click', () => this.showMore());
      const row = h('tr', { class: 'more-row' }, h('td', { colspan: cols.length }, more));
      tbody.append(row);
      this.watchMore(row);
    }
    const wrap = this.e.table.parentElement;
    const scroll = wrap ? [wrap.scrollLeft, wrap.scrollTop] : [0, 0];
    this.e.table.replaceChildren(thead, tbody);
    if (wrap) [wrap.scrollLeft, wrap.scrollTop] = scroll;
    this.renderColumnChooser();
    this.updateCounts();
  }

  /** The next ROW_PAGE rows, as the table is scrolled to its end (or "show more" clicked). */
  showMore() {
    const from = this.shown;
    this.shown += ROW_PAGE;
    const moreRow = this.e.table.querySelector('tr.more-row');
    if (this.params.get('group') || !moreRow) { this.renderTable(); return; }
    // ungrouped: the next rows go in before the "show more" row; the rows shown stay as they are
    const cols = [...this.e.table.querySelectorAll('thead th')].map((th) => String(/** @type {HTMLElement} */ (th).dataset.col));
    const sel = new Set(this.params.list('sel'));
    const left = this.visible.length - this.shown;
    moreRow.before(...this.visible.slice(from, this.shown).map((r) => runRow(r, cols, sel)));
    if (left <= 0) moreRow.remove();
    else {
      const btn = moreRow.querySelector('button');
      if (btn) btn.textContent = `show ${Math.min(ROW_PAGE, left)} more (${left} not shown)`;
      this.watchMore(/** @type {HTMLElement} */ (moreRow));
    }
  }

  /** Rows are added when the "show more" row scrolls into the table's view. @param {HTMLElement} row */
  watchMore(row) {
    if (this.moreIo) this.moreIo.disconnect();
    const wrap = this.e.table.parentElement;
    this.moreIo = new IntersectionObserver((entries) => {
      if (entries.some((en) => en.isIntersecting) && this.ctx.alive) { if (this.moreIo) this.moreIo.disconnect(); this.showMore(); }
    }, { root: wrap, rootMargin: '0px 0px 300px 0px' });
    this.moreIo.observe(row);
  }

  /** The run whose row and lines are emphasised (null: none). @param {string | null} ref @param {boolean} fromChart */
  hoverRun(ref, fromChart) {
    if (ref === this.hoverRef) return;
    this.hoverRef = ref;
    for (const tr of this.e.table.querySelectorAll('tr.hl')) tr.classList.remove('hl');
    if (ref) {
      for (const tr of this.e.table.querySelectorAll('tr[data-ref]')) {
        if (/** @type {HTMLElement} */ (tr).dataset.ref === ref) tr.classList.add('hl');
      }
    }
    if (!fromChart) this.charts.highlight(ref);
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

  // ---- charts of the selected runs (or the first 10 shown; grouped: every shown run)
  /** @param {boolean} fromRefresh */
  async updateCharts(fromRefresh) {
    const { params } = this;
    const sel = params.list('sel');
    const gb = params.get('group');
    const byRef = new Map(this.runs.map((r) => [r.ref, r]));
    const charted = sel.length
      ? sel.map((ref) => byRef.get(ref) || prepRun({ ref, name: ref })).slice(0, gb ? MAX_GROUPED : MAX_CHARTED)
      : chartedRuns(this.visible, null, new Set(), !!gb, 10);
    const n = charted.length;
    const title = sel.length > n ? `Charts: the first ${n} of ${sel.length} selected runs`
      : sel.length ? `Charts: ${n} selected run${n === 1 ? '' : 's'}`
        : gb ? `Charts: the ${n} run${n === 1 ? '' : 's'} shown, grouped by ${gb}`
          : `Charts: the first ${n} run${n === 1 ? '' : 's'} shown (tick runs to choose)`;
    await this.charts.update({ runs: charted, groups: chartGroups(charted, gb), band: params.get('band', 'minmax') || 'minmax', title }, fromRefresh);
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
    this.cfgKeys = cfgSorted;
    this.sumKeys = sumSorted;
  }
}
