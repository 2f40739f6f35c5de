/* The grid of a ChartsView (panels.js): its layout (layout.js) made into sections of panels,
 * and what the user does to it: add a panel (the dialog), move one (drag its handle, or the
 * settings' earlier/later), resize it, set it up (the gear: panelui.js), hide or delete it,
 * fold and move sections. ChartsView extends it with the fetching and the drawing. */

import { RS } from './hooks.js';
import { h } from './dom.js';
import { buildLayout, sectionOfKey } from './layout.js';
import { addPanelDialog, settingsPopover } from './panelui.js';
import { stepMetricFor } from './series.js';
import { debounce, naturalCompare } from './util.js';

/** @typedef {import('./api.js').XY} XY */
/** @typedef {import('./hooks.js').ChartHook} ChartHook */
/** @typedef {import('./layout.js').PanelSpec} PanelSpec */
/** @typedef {import('./layout.js').ChartsLayout} ChartsLayout */
/** @typedef {import('./layout.js').ChartsSection} ChartsSection */
/** @typedef {import('./plotdata.js').Entry} Entry */
/** @typedef {import('./panels.js').ChartsOptions} ChartsOptions */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {{destroy(): void, highlight?: (ref: string | null) => void}} RunsChart a bar/scatter/parallel panel as drawn */

/**
 * @typedef {object} Panel
 * @property {PanelSpec} spec
 * @property {string} hookKey RS.charts' key: the metric of a single-metric panel, else the id
 * @property {HTMLElement} el
 * @property {HTMLElement} plot
 * @property {HTMLElement} legend
 * @property {HTMLElement} titleEl
 * @property {HTMLElement} xEl
 * @property {uPlot | null} u
 * @property {string} sig
 * @property {string | null} fetchedFor
 * @property {boolean} visible
 * @property {boolean} needsDraw
 * @property {ChartHook | null} hook
 * @property {Map<string, Record<string, XY>>} data by metric, then ref
 * @property {Entry[]} entries
 * @property {(string | null)[]} seriesKey
 * @property {number[]} baseWidth
 * @property {RunsChart | null} runsChart
 * @property {HTMLElement | null} settings
 */


/** @type {Set<string>} section names the user folded, kept across views */
const collapsedSections = new Set();

export class PanelGrid {
  /** @param {ViewCtx} ctx @param {ChartsOptions} o */
  constructor(ctx, o) {
    this.ctx = ctx;
    this.o = o;
    this.params = o.params;
    this.runs = o.runs;
    this.dead = false;
    this.sectionOf = o.sectionOf || sectionOfKey;
    /** @type {ChartsLayout} */
    this.L = buildLayout(o.layout || null, o.keys, this.sectionOf, o.sectionOrder || null, Object.values(o.stepMetrics || {}));
    const lay = o.layout ? this.L : null;
    this.xOptions = o.xOptions.slice();
    this.x = o.fixedX || (lay && lay.x) || this.params.get('x') || this.xOptions[0];
    if (!this.xOptions.includes(this.x)) this.xOptions.push(this.x);
    this.filter = lay ? lay.panel_filter : this.params.get('panels');
    const z = this.params.list('zoom').map(Number);
    /** @type {number[] | null} */
    this.zoomRange = z.length === 2 && z.every(Number.isFinite) && z[0] < z[1] ? z : null;
    this.zoomX = this.params.get('zoomx') || this.x;
    /** @type {Map<string, Panel>} */
    this.panels = new Map(); // id -> panel
    /** @type {Map<Element, Panel>} */
    this.panelByEl = new Map();
    /** @type {Set<string>} panel ids to fetch */
    this.queue = new Set();
    /** @type {Panel | null} the panel under the mouse */
    this.hoverPanel = null;
    /** @type {string | null} the panel being dragged */
    this.dragId = null;
    /** @type {((e: MouseEvent) => void) | null} closes the open settings popover */
    this.outside = null;
    this.pfError = h('span', { id: 'panel-filter-error', class: 'error' });
    this.sectionsEl = h('div', { class: 'sections' });
    this.layoutSoon = debounce(() => { if (!this.dead && this.o.onLayoutChange) this.o.onLayoutChange(this.layout()); }, 300);
    this.io = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: '150px 0px' });
  }

  // ---- what ChartsView does
  /** @returns {ChartsLayout} */
  layout() { return this.L; }
  /** @param {IntersectionObserverEntry[]} entries */
  onIntersect(entries) { void entries; }
  /** @param {Panel} p @param {HTMLElement} png @param {HTMLElement} csv */
  wirePanel(p, png, csv) { void p; void png; void csv; }
  /** @param {Panel} p */
  drawPanel(p) { void p; }
  /** @param {Panel} p */
  drawRuns(p) { void p; }
  /** @param {Panel} p */
  destroyPlot(p) { void p; }
  /** @param {Panel} p @param {string} text */
  placeholder(p, text) { p.plot.replaceChildren(h('div', { class: 'placeholder', text })); }
  schedule() {}
  resize() {}

  /** The user changed the layout: tell the page (debounced). */
  changed() { if (this.o.onLayoutChange) this.layoutSoon(); }

  // ---- sections and panels
  /** (Re)lay out the sections and their panels; panels kept across calls keep their plots. */
  renderSections() {
    /** @type {Map<string, number>} */
    const single = new Map();
    /** @type {Set<string>} */
    const seen = new Set();
    const wrap = this.sectionsEl;
    wrap.replaceChildren();
    const shownSections = this.L.sections.filter((s) => s.panels.length);
    for (const [si, sec] of shownSections.entries()) {
      const grid = h('div', { class: 'panel-grid' });
      this.wireDrop(grid, sec, null);
      for (const spec of sec.panels) {
        if (spec.hidden) continue;
        seen.add(spec.id);
        let p = this.panels.get(spec.id);
        if (!p) {
          p = this.makePanel(spec);
          this.panels.set(spec.id, p);
          this.panelByEl.set(p.el, p);
          this.io.observe(p.el);
        }
        const m = spec.type === 'line' && spec.metrics.length === 1 ? spec.metrics[0] : null;
        const hookKey = m !== null && !single.has(m) ? m : spec.id;
        if (m !== null && !single.has(m)) single.set(m, 1);
        if (hookKey !== p.hookKey && p.hook && RS.charts[p.hookKey] === p.hook) {
          delete RS.charts[p.hookKey];
          p.hook.key = hookKey;
          RS.charts[hookKey] = p.hook;
        }
        p.hookKey = hookKey;
        p.el.dataset.key = p.hookKey;
        this.applySize(p);
        grid.append(p.el);
      }
      wrap.append(this.sectionEl(sec, si, si === shownSections.length - 1, grid));
    }
    for (const [id, p] of this.panels) if (!seen.has(id)) this.dropPanel(p);
    if (!this.panels.size && !this.L.sections.some((s) => s.panels.length)) wrap.append(h('p', { class: 'muted', text: this.o.emptyText || 'No numeric metrics logged.' }));
    this.applyFilter();
  }

  /** @param {ChartsSection} sec @param {number} si @param {boolean} last @param {HTMLElement} grid */
  sectionEl(sec, si, last, grid) {
    const shown = sec.panels.filter((p) => !p.hidden).length, hiddenN = sec.panels.length - shown;
    const count = h('span', { class: 'n', text: `(${shown})` });
    const toggle = h('button', { type: 'button', class: 'section-toggle' }, h('span', { class: 'caret', text: '▾' }), h('span', { class: 'section-name', text: sec.name }), count);
    const up = h('button', { type: 'button', class: 'section-up', text: '↑', title: 'move the section up', disabled: si === 0 });
    const down = h('button', { type: 'button', class: 'section-down', text: '↓', title: 'move the section down', disabled: last });
    const unhide = hiddenN ? h('button', { type: 'button', class: 'section-unhide', text: `show ${hiddenN} hidden`, title: 'show the hidden panels of this section' }) : null;
    const el = h('section', { class: 'chart-section', dataset: { section: sec.name } },
      h('div', { class: 'section-head' }, toggle, h('span', { class: 'section-tools' }, unhide, up, down)), grid);
    const ck = (this.o.collapseKey || '') + '\u0000' + sec.name;
    if (sec.collapsed || (!this.o.layout && collapsedSections.has(ck))) { sec.collapsed = true; el.classList.add('collapsed'); }
    toggle.addEventListener('click', () => {
      sec.collapsed = el.classList.toggle('collapsed');
      if (sec.collapsed) collapsedSections.add(ck);
      else collapsedSections.delete(ck);
      this.changed();
    });
    up.addEventListener('click', () => this.moveSection(sec, -1));
    down.addEventListener('click', () => this.moveSection(sec, 1));
    if (unhide) unhide.addEventListener('click', () => { for (const p of sec.panels) p.hidden = false; this.structureChanged(); });
    return el;
  }

  /** @param {ChartsSection} sec @param {number} delta */
  moveSection(sec, delta) {
    const list = this.L.sections.filter((s) => s.panels.length); // what is shown: skip empty ones
    const i = list.indexOf(sec), j = i + delta;
    if (i < 0 || j < 0 || j >= list.length) return;
    const a = this.L.sections.indexOf(sec), b = this.L.sections.indexOf(list[j]);
    this.L.sections.splice(a, 1);
    this.L.sections.splice(b, 0, sec);
    this.structureChanged();
  }

  structureChanged() {
    this.renderSections();
    this.changed();
    for (const p of this.panels.values()) if (p.visible && p.needsDraw) this.drawPanel(p);
    if (this.queue.size) this.schedule();
  }

  /** @param {PanelSpec} spec @returns {Panel} */
  makePanel(spec) {
    const png = h('button', { class: 'png', type: 'button', title: 'download as PNG', text: 'PNG' });
    const csv = h('button', { class: 'csv', type: 'button', title: 'download the data as CSV (every row of the range)', text: 'CSV' });
    const gear = h('button', { class: 'gear', type: 'button', title: 'panel settings', text: '⚙' });
    const handle = h('span', { class: 'panel-handle', title: 'drag to move', draggable: 'true', text: '⠿' });
    const titleEl = h('span', { class: 'panel-title' });
    const xEl = h('span', { class: 'panel-x muted' });
    const legend = h('div', { class: 'panel-legend' });
    const plot = h('div', { class: 'panel-plot' }, h('div', { class: 'placeholder', text: 'loading…' }));
    const el = h('div', { class: 'panel', dataset: { panel: spec.id } },
      h('div', { class: 'panel-head' }, handle, titleEl, xEl, h('span', { class: 'panel-tools' }, gear, png, csv)), legend, plot);
    /** @type {Panel} */
    const p = { spec, hookKey: spec.id, el, plot, legend, titleEl, xEl, u: null, sig: '', fetchedFor: null, visible: false, needsDraw: false, hook: null, data: new Map(), entries: [], seriesKey: [], baseWidth: [], runsChart: null, settings: null };
    csv.hidden = spec.type !== 'line';
    this.wirePanel(p, png, csv);
    gear.addEventListener('click', () => this.toggleSettings(p));
    handle.addEventListener('dragstart', (e) => {
      this.dragId = spec.id;
      el.classList.add('dragging');
      if (e.dataTransfer) { e.dataTransfer.effectAllowed = 'move'; e.dataTransfer.setData('text/plain', spec.id); }
    });
    handle.addEventListener('dragend', () => { this.dragId = null; el.classList.remove('dragging'); this.clearDropMarks(); });
    this.labelPanel(p);
    return p;
  }

  /** The panel's title and, when it is not the view's, its x. @param {Panel} p */
  labelPanel(p) {
    const s = p.spec;
    const name = this.o.titleOf || ((/** @type {string} */ k) => k);
    const t = s.title || (s.type === 'line' ? s.metrics.map(name).join(' · ') : s.type === 'parallel' ? 'parallel: ' + s.axes.join(', ') : `${s.type}: ${[s.y, s.x].filter(Boolean).join(' by ')}`);
    p.titleEl.textContent = t;
    p.titleEl.title = s.type === 'line' ? s.metrics.join('\n') : t;
    const x = s.type === 'line' ? this.panelX(p) : '';
    p.xEl.textContent = x && x !== this.x ? 'x: ' + x : '';
  }

  /** @param {Panel} p */
  applySize(p) {
    p.el.classList.remove('w2', 'w3');
    if (p.spec.w > 1) p.el.classList.add('w' + p.spec.w);
    p.plot.style.height = p.spec.h + 'px';
  }

  /** @param {Panel} p */
  dropPanel(p) {
    this.destroyPlot(p);
    if (p.runsChart) { p.runsChart.destroy(); p.runsChart = null; }
    if (RS.charts[p.hookKey] === p.hook) delete RS.charts[p.hookKey];
    this.io.unobserve(p.el);
    this.panelByEl.delete(p.el);
    this.panels.delete(p.spec.id);
    this.queue.delete(p.spec.id);
    if (this.hoverPanel === p) this.hoverPanel = null;
    p.el.remove();
  }

  applyFilter() {
    let re = null;
    this.pfError.textContent = '';
    if (this.filter) {
      try { re = new RegExp(this.filter, 'i'); } catch (e) { this.pfError.textContent = 'invalid regex: ' + e.message; }
    }
    /** @param {Panel} p */
    const match = (p) => !re || [p.spec.title || '', ...p.spec.metrics, ...p.spec.axes, p.spec.x || '', p.spec.y || ''].some((t) => t && re.test(t));
    for (const sec of this.sectionsEl.querySelectorAll('.chart-section')) {
      const ps = [...sec.querySelectorAll('.panel')].map((el) => this.panelByEl.get(el)).filter((p) => !!p);
      let n = 0;
      for (const p of ps) { const ok = match(p); p.el.classList.toggle('hidden', !ok); if (ok) n++; }
      sec.classList.toggle('hidden', n === 0 && ps.length > 0 && !!re);
      const count = sec.querySelector('.section-head .n');
      if (count) count.textContent = n === ps.length ? `(${n})` : `(${n} of ${ps.length})`;
    }
  }

  /** @param {string} id @returns {{sec: ChartsSection, i: number} | null} */
  findSpec(id) {
    for (const sec of this.L.sections) {
      const i = sec.panels.findIndex((p) => p.id === id);
      if (i >= 0) return { sec, i };
    }
    return null;
  }

  /**
   * Move a panel to a section, before (or after) another panel, or to its end.
   * @param {string} id @param {string} section @param {string | null} refId @param {boolean} after
   */
  movePanel(id, section, refId, after) {
    const at = this.findSpec(id);
    if (!at || id === refId) return;
    const [spec] = at.sec.panels.splice(at.i, 1);
    let sec = this.L.sections.find((s) => s.name === section);
    if (!sec) { sec = { name: section, collapsed: false, panels: [] }; this.L.sections.push(sec); }
    const j = refId ? sec.panels.findIndex((p) => p.id === refId) : -1;
    if (j < 0) sec.panels.push(spec);
    else sec.panels.splice(after ? j + 1 : j, 0, spec);
    if (!at.sec.panels.length) this.L.sections.splice(this.L.sections.indexOf(at.sec), 1); // emptied: gone
    this.structureChanged();
  }

  /** One place earlier or later among the shown panels of its section. @param {string} id @param {number} delta */
  movePanelBy(id, delta) {
    const at = this.findSpec(id);
    if (!at) return;
    const shown = at.sec.panels.filter((p) => !p.hidden);
    const k = shown.findIndex((p) => p.id === id) + delta;
    if (k < 0 || k >= shown.length) return;
    this.movePanel(id, at.sec.name, shown[k].id, delta > 0);
  }

  /** Panels and section grids take a dragged panel. @param {HTMLElement} target @param {ChartsSection} sec @param {string | null} refId */
  wireDrop(target, sec, refId) {
    target.addEventListener('dragover', (e) => {
      if (!this.dragId) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'move';
      const overPanel = /** @type {HTMLElement | null} */ (e.target instanceof Element ? e.target.closest('.panel') : null);
      this.clearDropMarks();
      if (overPanel && overPanel !== target && target.contains(overPanel)) {
        const r = overPanel.getBoundingClientRect();
        overPanel.classList.add(e.clientX > r.left + r.width / 2 ? 'drop-after' : 'drop-before');
      } else target.classList.add('drop-end');
    });
    target.addEventListener('drop', (e) => {
      if (!this.dragId) return;
      e.preventDefault();
      const id = this.dragId;
      const overPanel = /** @type {HTMLElement | null} */ (e.target instanceof Element ? e.target.closest('.panel') : null);
      const over = overPanel ? this.panelByEl.get(overPanel) : undefined;
      this.clearDropMarks();
      this.dragId = null;
      if (over) {
        const r = overPanel ? overPanel.getBoundingClientRect() : null;
        this.movePanel(id, sec.name, over.spec.id, !!r && e.clientX > r.left + r.width / 2);
      } else this.movePanel(id, sec.name, refId, true);
    });
  }

  clearDropMarks() {
    for (const el of this.sectionsEl.querySelectorAll('.drop-before, .drop-after, .drop-end')) el.classList.remove('drop-before', 'drop-after', 'drop-end');
  }

  /** config.K / summary.K columns of the runs, for bar/scatter/parallel panels. @returns {string[]} */
  columns() {
    /** @type {Set<string>} */
    const out = new Set();
    for (const r of this.runs) {
      for (const k of Object.keys(r.config || {})) out.add('config.' + k);
      for (const k of Object.keys(r.summary || {})) out.add('summary.' + k);
      if (out.size > 2000) break;
    }
    return [...out].sort(naturalCompare);
  }

  /** @param {string | null} section preselected */
  openAddDialog(section) {
    const names = this.L.sections.map((s) => s.name);
    addPanelDialog({
      keys: this.o.keys, columns: this.columns(), sections: names,
      section: section || names[0] || 'charts', sectionOf: this.sectionOf,
      onAdd: (spec, sec) => this.addPanel(spec, sec),
    });
  }

  /** @param {PanelSpec} spec @param {string} section */
  addPanel(spec, section) {
    const ids = new Set(this.L.sections.flatMap((s) => s.panels.map((p) => p.id)));
    let n = ids.size;
    while (ids.has('p' + ++n));
    spec.id = 'p' + n;
    let sec = this.L.sections.find((s) => s.name === section);
    if (!sec) { sec = { name: section, collapsed: false, panels: [] }; this.L.sections.unshift(sec); }
    sec.panels.unshift(spec); // where it is seen: first in its section
    sec.collapsed = false;
    this.structureChanged();
    const p = this.panels.get(spec.id);
    if (p) p.el.scrollIntoView({ block: 'nearest' });
  }

  // ---- a panel's settings
  /** @param {Panel} p */
  toggleSettings(p) {
    if (p.settings) { this.closeSettings(p); return; }
    for (const q of this.panels.values()) if (q.settings) this.closeSettings(q);
    const at = this.findSpec(p.spec.id);
    const stepX = p.spec.type === 'line' && !this.o.fixedX ? stepMetricFor(this.o.stepMetrics, p.spec.metrics[0]) : null;
    p.settings = settingsPopover({
      spec: p.spec, keys: this.o.keys, xOptions: this.o.fixedX ? [] : this.xOptions, viewX: this.x, stepX, columns: this.columns(),
      sections: this.L.sections.map((s) => s.name), section: at ? at.sec.name : '',
      onChange: (f) => this.changePanel(p, f),
      onMove: (d) => this.movePanelBy(p.spec.id, d),
      onSection: (s) => { this.closeSettings(p); this.movePanel(p.spec.id, s, null, true); },
      onHide: () => { this.closeSettings(p); p.spec.hidden = true; this.structureChanged(); },
      onDelete: () => { this.closeSettings(p); this.deletePanel(p.spec.id); },
      onClose: () => this.closeSettings(p),
    });
    p.el.append(p.settings);
    p.el.classList.add('has-settings');
    const box = p.settings, gear = p.el.querySelector('.gear');
    /** @param {MouseEvent} e a press outside the popover (and its gear) closes it */
    this.outside = (e) => {
      if (e.target instanceof Node && (box.contains(e.target) || (gear && gear.contains(e.target)))) return;
      if (p.settings === box) this.closeSettings(p);
    };
    document.addEventListener('mousedown', this.outside, true);
  }

  /** @param {Panel} p */
  closeSettings(p) {
    if (p.settings) p.settings.remove();
    p.settings = null;
    p.el.classList.remove('has-settings');
    if (this.outside) document.removeEventListener('mousedown', this.outside, true);
    this.outside = null;
  }

  /** Delete a panel; one that auto would bring back (its metric in no other panel) is hidden instead. @param {string} id */
  deletePanel(id) {
    const at = this.findSpec(id);
    if (!at) return;
    const spec = at.sec.panels[at.i];
    const others = new Set(this.L.sections.flatMap((s) => s.panels.filter((q) => q !== spec && q.type === 'line').flatMap((q) => q.metrics)));
    if (this.L.auto && spec.type === 'line' && spec.metrics.some((m) => this.o.keys.includes(m) && !others.has(m))) spec.hidden = true;
    else at.sec.panels.splice(at.i, 1);
    this.structureChanged();
  }

  /** @param {Panel} p @param {Partial<PanelSpec>} f */
  changePanel(p, f) {
    const before = this.stateKey(p);
    Object.assign(p.spec, f);
    this.changed();
    this.labelPanel(p);
    if ('w' in f || 'h' in f || 'metrics' in f) { this.applySize(p); this.renderSections(); requestAnimationFrame(() => this.resize()); }
    if (p.spec.type !== 'line') { this.drawRuns(p); return; }
    this.destroyPlot(p);
    if (this.stateKey(p) !== before) {
      p.fetchedFor = null;
      p.data.clear();
      this.placeholder(p, 'loading…');
      if (p.visible) { this.queue.add(p.spec.id); this.schedule(); }
    } else this.drawPanel(p);
  }

  /** The x a line panel is drawn on: its own, else its metric's define_metric step metric, else the view's. @param {Panel} p */
  panelX(p) {
    if (this.o.fixedX) return this.o.fixedX;
    return p.spec.x || stepMetricFor(this.o.stepMetrics, p.spec.metrics[0] || '') || this.x;
  }
  /** The zoom that applies to a panel (the zoomed x is its x), or null. @param {Panel} p */
  zoomOf(p) { return this.zoomRange && this.panelX(p) === this.zoomX ? this.zoomRange : null; }
  /** @param {Panel} p */
  stateKey(p) { const z = this.zoomOf(p); return this.panelX(p) + '|' + (z ? z.join(',') : '') + '|' + p.spec.metrics.join('\n'); }

}
