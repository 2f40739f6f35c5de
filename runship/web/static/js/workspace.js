/* The workspace page (#/workspace?project=P&ws=NAME), what a project opens on: a narrow,
 * searchable runs sidebar (filter expression, grouping, an eye per run) and the charts of the
 * runs whose eye is open taking the rest of the screen; a workspace menu saves the view by
 * name (js/workspaces.js), loads a saved one, sets the project's default. */

import { api, report } from './api.js';
import { assignColors, colorMap } from './colors.js';
import { h } from './dom.js';
import { compileFilter } from './filter.js';
import { RS } from './hooks.js';
import { hashFor, nav, replaceHash, updateNav } from './router.js';
import { RunCharts } from './runcharts.js';
import { BANDS, MAX_CHARTED, chartGroups, chartedRuns, colValue, prepRun } from './runlist.js';
import { RunSidebar } from './sidebar.js';
import { compareValues, isMissing, naturalCompare } from './util.js';
import { WorkspaceMenu } from './wsmenu.js';

/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {import('./runlist.js').Run} Run */
/** @typedef {import('./workspaces.js').WorkspaceDoc} WorkspaceDoc */
/** @typedef {import('./workspaces.js').WorkspaceRuns} WorkspaceRuns */

/** @returns {WorkspaceRuns} the built-in workspace's runs part */
const defaultRuns = () => ({
  filter: '', search: '', sort: null, group: [], band: 'minmax', columns: null, selected: null, hidden: [], max_shown: 10,
});

/** @param {unknown} v @returns {string[]} */
const strList = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string').slice(0, 10000) : []);

/** A stored runs part made safe to use (fields of the wrong type: the default's). @param {any} r @returns {WorkspaceRuns} */
function cleanRuns(r) {
  const d = defaultRuns();
  if (!r || typeof r !== 'object') return d;
  const str = (/** @type {unknown} */ v, /** @type {string} */ dv) => (typeof v === 'string' ? v.slice(0, 10000) : dv);
  const band = BANDS.some(([b]) => b === r.band) ? r.band : d.band;
  const sort = Array.isArray(r.sort) && r.sort.length === 2 && r.sort.every((/** @type {unknown} */ x) => typeof x === 'string') ? [r.sort[0], r.sort[1]] : null;
  const n = Number(r.max_shown);
  return {
    ...r, // fields this page does not know are kept
    filter: str(r.filter, ''), search: str(r.search, ''), sort: /** @type {[string, string] | null} */ (sort),
    group: strList(r.group).slice(0, 1), band, columns: Array.isArray(r.columns) ? strList(r.columns) : null,
    selected: Array.isArray(r.selected) ? strList(r.selected) : null, hidden: strList(r.hidden),
    max_shown: Number.isInteger(n) && n >= 1 && n <= MAX_CHARTED ? n : d.max_shown,
  };
}

/** @param {ViewCtx} ctx @param {HTMLElement} main @param {Params} params */
export async function workspacePage(ctx, main, params) {
  await new WorkspaceView(ctx, main, params).open();
}

/** The chart settings ChartsView keeps in the address, as a ChartsLayout's fields. @param {Params} p */
function chartsFromParams(p) {
  return { x: p.get('x') || null, smoothing: p.num('smooth', 0), log: p.get('log') === '1', panel_filter: p.get('panels'), sections: [], auto: true };
}

/** A ChartsLayout's global settings into the address, where ChartsView reads them. @param {Params} p @param {any} c */
function chartsToParams(p, c) {
  const ok = c && typeof c === 'object';
  p.set('x', ok && typeof c.x === 'string' ? c.x : null);
  p.set('smooth', ok && typeof c.smoothing === 'number' && c.smoothing > 0 ? Math.min(c.smoothing, 0.99).toFixed(2) : null);
  p.set('log', ok && c.log === true ? '1' : null);
  p.set('panels', ok && typeof c.panel_filter === 'string' ? c.panel_filter : null);
  p.set('zoom', null);
}

/** The sidebar's controls, made once. */
function buildSide() {
  return {
    search: h('input', { id: 'ws-search', type: 'search', placeholder: 'search runs', spellcheck: 'false', autocomplete: 'off' }),
    filter: h('input', {
      id: 'ws-filter', type: 'search', spellcheck: 'false', autocomplete: 'off',
      placeholder: 'filter: config.lr < 1e-3 and summary.val/acc > 0.9', title: 'a filter expression (docs/UI.md) or text',
    }),
    filterErr: h('div', { id: 'ws-filter-error', class: 'error' }),
    group: h('select', { id: 'ws-group', title: 'group the charts by' }),
    band: h('select', { id: 'ws-band', title: 'the band drawn around a group\'s mean' }, BANDS.map(([v, t]) => h('option', { value: v, text: t }))),
    all: h('button', { type: 'button', id: 'ws-show-all', text: 'show all', title: `chart every run shown (at most ${MAX_CHARTED})` }),
    none: h('button', { type: 'button', id: 'ws-show-none', text: 'none', title: 'chart no run' }),
    count: h('span', { id: 'ws-count', class: 'muted' }),
    list: h('div', { id: 'ws-runs', class: 'ws-list' }),
  };
}

class WorkspaceView {
  /** @param {ViewCtx} ctx @param {HTMLElement} main @param {Params} params */
  constructor(ctx, main, params) {
    this.ctx = ctx;
    this.params = params;
    this.project = params.get('project') || null;
    /** @type {Run[]} */
    this.runs = [];
    /** @type {Run[]} */
    this.shown = [];
    /** @type {Run[]} */
    this.charted = [];
    this.st = defaultRuns();
    this.filter = compileFilter('');
    /** @type {any} the charts part to open the charts on (a loaded workspace's) */
    this.layout = null;
    this.listed = false;
    this.chartsDone = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.refreshTimer = null;
    main.classList.add('ws-mode');
    ctx.onCleanup(() => main.classList.remove('ws-mode'));
    this.saveHash = () => { replaceHash('/workspace', params); this.noteNav(); };
    this.save = () => { this.saveHash(); this.menu.markDirty(); };
    const s = (this.s = buildSide());
    this.panelsHost = h('div', { id: 'ws-charts' });
    this.projectSel = h('select', { id: 'ws-project', title: 'project' }, h('option', { value: '', text: 'all projects' }));
    this.rootErrors = h('ul', { id: 'root-errors', class: 'error ws-root-errors', hidden: true }); // roots that could not be listed
    this.tableLink = h('a', { id: 'ws-table-link', class: 'muted', text: 'runs table', href: '#/runs' });
    this.menu = new WorkspaceMenu(ctx, {
      project: this.project,
      state: () => this.docState(),
      apply: (doc) => this.applyDoc(doc),
      named: (name) => { params.set('ws', name || null); this.saveHash(); },
    });
    main.append(h('div', { class: 'ws' },
      h('div', { class: 'ws-bar' }, this.menu.el, h('label', { class: 'muted' }, 'Project', this.projectSel), this.tableLink),
      this.rootErrors,
      h('div', { class: 'ws-body' },
        h('aside', { class: 'ws-side' },
          h('div', { class: 'ws-side-head' }, s.search, s.filter, s.filterErr,
            h('div', { class: 'ws-line' }, s.group, s.band),
            h('div', { class: 'ws-line' }, s.all, s.none, s.count)),
          s.list),
        h('section', { class: 'ws-panels' }, this.panelsHost))));
    this.sidebar = new RunSidebar(s.list, { onToggle: (ref) => this.toggle(ref), onHover: (ref) => this.hover(ref, false) });
    this.charts = new RunCharts(ctx, this.panelsHost, {
      params, save: this.save,
      onReady: () => { this.chartsDone = true; this.maybeReady(); },
      onHoverRun: (ref) => this.hover(ref, true),
      onLayoutChange: () => this.menu.markDirty(),
      onHiddenChange: (refs) => this.hideFromLegend(refs),
      emptyText: 'No run charted: open a run\'s eye in the list, or "show all".',
    });
    // a chart's hovered line, as ChartsView reports it (onHoverRun): for the tests
    /** @type {any} */ (RS).hoverRun = (/** @type {string | null} */ ref) => this.hover(ref, true);
    ctx.onCleanup(() => { delete /** @type {any} */ (RS).hoverRun; });
    this.wire();
    this.noteNav();
  }

  noteNav() {
    const P = this.params;
    nav.selection = this.charted.map((r) => r.ref).slice(0, 20);
    nav.workspaceHash = hashFor('/workspace', P);
    updateNav('workspace');
    this.tableLink.setAttribute('href', this.project ? '#/runs?project=' + encodeURIComponent(this.project) : '#/runs');
  }

  maybeReady() { if (this.listed && this.chartsDone) this.ctx.ready(); }

  wire() {
    const { s } = this;
    s.search.addEventListener('input', () => { this.st.search = s.search.value; this.changed(); });
    s.filter.addEventListener('input', () => {
      this.st.filter = s.filter.value;
      this.filter = compileFilter(s.filter.value);
      s.filterErr.textContent = this.filter.error;
      this.changed();
    });
    s.group.addEventListener('change', () => { this.st.group = s.group.value ? [s.group.value] : []; this.changed(); });
    s.band.addEventListener('change', () => { this.st.band = s.band.value; this.changed(); });
    s.all.addEventListener('click', () => {
      this.st.selected = this.shown.slice(0, MAX_CHARTED).map((r) => r.ref);
      this.st.hidden = [];
      this.changed();
    });
    s.none.addEventListener('click', () => { this.st.selected = []; this.st.hidden = []; this.changed(); });
    this.projectSel.addEventListener('change', () => {
      const p = this.projectSel.value;
      location.hash = hashFor('/workspace', this.params.set('project', p).set('all', p ? null : '1').set('ws', null));
    });
  }

  /** The user changed the runs part: list, charts and the unsaved mark follow. */
  changed() {
    this.render(false);
    this.menu.markDirty();
  }

  /** An eye clicked: the run charted or not. @param {string} ref */
  toggle(ref) {
    const st = this.st;
    const on = this.charted.some((r) => r.ref === ref);
    if (on) {
      if (st.selected) st.selected = st.selected.filter((x) => x !== ref);
      else st.hidden = st.hidden.concat([ref]);
    } else {
      st.hidden = st.hidden.filter((x) => x !== ref);
      const now = this.chartedNow();
      if (!now.some((r) => r.ref === ref)) st.selected = now.map((r) => r.ref).concat([ref]);
    }
    this.changed();
  }

  /**
   * A legend click hid (or showed) runs: they stay charted, their lines hidden, their rows
   * dimmed; saved as runs.legend_hidden.
   * @param {string[]} refs
   */
  hideFromLegend(refs) {
    this.st.legend_hidden = strList(refs);
    this.sidebar.setDimmed(new Set(this.st.legend_hidden));
    this.menu.markDirty();
  }

  /** @param {string | null} ref @param {boolean} fromChart */
  hover(ref, fromChart) {
    this.sidebar.highlight(ref);
    if (!fromChart) this.charts.highlight(ref);
  }

  // ---- what is shown and charted
  computeShown() {
    const st = this.st, f = this.filter.fn, q = st.search.trim().toLowerCase();
    let list = this.runs.filter((r) => (!f || f(r)) && (!q || r.label.toLowerCase().includes(q) || String(r.id || '').toLowerCase().includes(q)));
    if (st.sort) {
      const [col, dir] = st.sort;
      list = list.slice().sort((a, b) => compareValues(colValue(a, col), colValue(b, col), dir === 'desc'));
    }
    this.shown = list;
  }

  chartedNow() {
    return chartedRuns(this.shown, this.st.selected, new Set(this.st.hidden), this.st.group.length > 0, this.st.max_shown);
  }

  /** @param {boolean} fromRefresh */
  render(fromRefresh) {
    this.computeShown();
    this.charted = this.chartedNow();
    const on = new Set(this.charted.map((r) => r.ref));
    this.sidebar.set(this.shown, on, new Set(strList(this.st.legend_hidden)));
    const n = this.shown.length;
    this.s.count.textContent = `${this.charted.length} of ${n}` + (n === this.runs.length ? '' : ` (${this.runs.length})`) + ' charted';
    this.s.band.hidden = !this.st.group.length;
    this.noteNav();
    const gb = this.st.group[0] || '';
    this.charts.update({
      runs: this.charted, groups: chartGroups(this.charted, gb), band: this.st.band, title: '', layout: this.layout,
      hidden: strList(this.st.legend_hidden),
    }, fromRefresh).catch(report);
  }

  // ---- workspaces
  /** The workspace as it is shown (contract §1, less name, project and saved_at). */
  docState() {
    const layout = this.charts.layout();
    return { runs: { ...this.st }, charts: layout || { ...(this.layout || {}), ...chartsFromParams(this.params) } };
  }

  /** Show a workspace (null: the built-in one). @param {WorkspaceDoc | null} doc */
  applyDoc(doc) {
    this.st = cleanRuns(doc && doc.runs);
    this.layout = doc && doc.charts && typeof doc.charts === 'object' ? doc.charts : null;
    chartsToParams(this.params, this.layout);
    const s = this.s;
    s.search.value = this.st.search;
    s.filter.value = this.st.filter;
    this.filter = compileFilter(this.st.filter);
    s.filterErr.textContent = this.filter.error;
    this.fillGroupOptions();
    s.band.value = this.st.band;
    this.charts.invalidate();
    if (this.listed) this.render(false);
  }

  fillGroupOptions() {
    const { group } = this.s;
    /** @type {Set<string>} */
    const keys = new Set();
    for (const r of this.runs) for (const k of Object.keys(r._cfg)) keys.add(k);
    const vals = ['group', 'job_type'].concat([...keys].sort(naturalCompare).map((k) => 'config.' + k));
    const cur = this.st.group[0] || '';
    if (cur && !vals.includes(cur)) vals.push(cur);
    group.replaceChildren(h('option', { value: '', text: 'no grouping' }), ...vals.map((v) => h('option', { value: v, text: 'group: ' + v })));
    group.value = cur;
  }

  // ---- listing, refreshed every 5 s while a run is live
  async open() {
    if (!this.project && !this.params.has('all')) {
      // the landing (#/): with runs of one project only, that project's workspace
      await this.list();
      const only = new Set(this.runs.map((r) => String(r.project)));
      if (this.ctx.here() && only.size === 1 && this.projectSel.options.length === 2) {
        location.replace(hashFor('/workspace', this.params.set('project', [...only][0])));
        return;
      }
      await this.menu.start(this.params.get('ws'));
    } else await Promise.all([this.list(), this.menu.start(this.params.get('ws'))]);
    if (!this.ctx.alive) return;
    this.listed = true;
    this.fillGroupOptions();
    this.render(false);
    this.maybeReady();
  }

  async list() {
    const { ctx } = this;
    /** @type {any} */
    let res;
    try {
      res = await api('runs', this.project ? { project: this.project } : null, ctx.signal);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      report(e);
      this.refreshTimer = ctx.later(() => this.refresh(), 10000);
      return;
    }
    /** @type {any[]} */
    const failed = Array.isArray(res.errors) ? res.errors : [];
    this.rootErrors.replaceChildren(...failed.map((e) => h('li', { text: 'could not list ' + e.root + ': ' + e.error })));
    this.rootErrors.hidden = !failed.length;
    /** @type {any[]} */
    const listed = Array.isArray(res.runs) ? res.runs : [];
    if (!this.project) assignColors(listed, true);
    else if (listed.some((r) => !colorMap.has(String(r.ref)))) assignColors(listed, false);
    this.runs = listed.map(prepRun);
    /** @type {Set<string>} */
    const projects = new Set();
    for (const p of Array.isArray(res.projects) ? res.projects : []) projects.add(String(p));
    for (const r of this.runs) if (!isMissing(r.project)) projects.add(String(r.project));
    if (this.project) projects.add(this.project);
    const sel = this.projectSel;
    sel.replaceChildren(h('option', { value: '', text: 'all projects' }), ...[...projects].sort(naturalCompare).map((p) => h('option', { value: p, text: p })));
    sel.value = this.project || '';
    const live = this.runs.some((r) => r.live);
    if (live || failed.length) this.refreshTimer = ctx.later(() => this.refresh(), live ? 5000 : 10000);
  }

  async refresh() {
    await this.list();
    if (this.ctx.alive && this.listed) this.render(true);
  }
}
