/* The workspace page's runs sidebar: a list of runs (eye toggle, state dot, color swatch,
 * name) that puts in the page only the rows in view (and a few around them), so 10,000 runs
 * scroll as smoothly as 10. Hovering a row says so (onHover); the eye says onToggle. */

import { h } from './dom.js';
import { runHash } from './router.js';
import { STATES } from './util.js';

/** @typedef {import('./runlist.js').Run} Run */

const ROW_H = 24; // px, one row (css/wspage.css: .ws-row)
const OVERSCAN = 8; // rows put in the page above and below the view

/**
 * @typedef {object} SidebarOptions
 * @property {(ref: string) => void} onToggle
 * @property {(ref: string | null) => void} onHover
 */

export class RunSidebar {
  /** @param {HTMLElement} el the scrolling list @param {SidebarOptions} o */
  constructor(el, o) {
    this.el = el;
    this.o = o;
    /** @type {Run[]} */
    this.items = [];
    /** @type {Set<string>} */
    this.on = new Set(); // refs charted (eye open)
    /** @type {string | null} */
    this.hl = null;
    /** @type {Set<string>} */
    this.dimmed = new Set(); // refs hidden from the charts' legend
    this.spacer = h('div', { class: 'ws-spacer' });
    el.append(this.spacer);
    /** @type {Map<string, HTMLElement>} */
    this.rows = new Map(); // ref -> row in the page
    this.raf = 0;
    el.addEventListener('scroll', () => {
      if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw(); });
    }, { passive: true });
    el.addEventListener('click', (ev) => {
      const eye = /** @type {HTMLElement | null} */ (/** @type {Element} */ (ev.target).closest('.eye'));
      const row = eye && /** @type {HTMLElement | null} */ (eye.closest('.ws-row'));
      if (row) { ev.preventDefault(); o.onToggle(String(row.dataset.ref)); }
    });
    el.addEventListener('mouseover', (ev) => {
      const row = /** @type {HTMLElement | null} */ (/** @type {Element} */ (ev.target).closest('.ws-row'));
      o.onHover(row ? String(row.dataset.ref) : null);
    });
    el.addEventListener('mouseleave', () => o.onHover(null));
  }

  /**
   * Show these runs, the `on` ones with their eye open, the dimmed ones (hidden from the
   * legend) faint.
   * @param {Run[]} items
   * @param {Set<string>} on
   * @param {Set<string>} [dimmed]
   */
  set(items, on, dimmed) {
    this.items = items;
    this.on = on;
    if (dimmed) this.dimmed = dimmed;
    this.spacer.style.height = items.length * ROW_H + 'px';
    for (const r of this.rows.values()) r.remove();
    this.rows.clear();
    this.draw();
  }

  /** The runs hidden from the charts' legend. @param {Set<string>} refs */
  setDimmed(refs) {
    this.dimmed = refs;
    for (const [ref, row] of this.rows) row.classList.toggle('dim', refs.has(ref));
  }

  /** The row of a run emphasised (hovered here, or its line in a chart). @param {string | null} ref */
  highlight(ref) {
    if (ref === this.hl) return;
    const old = this.hl !== null ? this.rows.get(this.hl) : null;
    if (old) old.classList.remove('hl');
    this.hl = ref;
    const row = ref !== null ? this.rows.get(ref) : null;
    if (row) row.classList.add('hl');
  }

  /** Put in the page the rows in view; take out the others. */
  draw() {
    const { el, items } = this;
    const first = Math.max(0, Math.floor(el.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(items.length, Math.ceil((el.scrollTop + (el.clientHeight || 600)) / ROW_H) + OVERSCAN);
    /** @type {Set<string>} */
    const keep = new Set();
    for (let i = first; i < last; i++) {
      const r = items[i];
      keep.add(r.ref);
      let row = this.rows.get(r.ref);
      if (!row) {
        row = this.makeRow(r);
        this.rows.set(r.ref, row);
        el.append(row);
      }
      row.style.top = i * ROW_H + 'px';
    }
    for (const [ref, row] of this.rows) if (!keep.has(ref)) { row.remove(); this.rows.delete(ref); }
  }

  /** @param {Run} r */
  makeRow(r) {
    const on = this.on.has(r.ref);
    const eye = h('button', {
      type: 'button', class: 'eye' + (on ? ' on' : ''), title: on ? 'charted: click to hide' : 'hidden: click to chart',
      'aria-pressed': on ? 'true' : 'false', text: on ? '\u25c9' : '\u25cb',
    });
    const st = typeof r.state === 'string' && STATES.includes(r.state) ? r.state : 'unknown';
    const dot = h('span', { class: 'sdot state-' + st + (r.live ? ' live' : ''), title: String(r.state || 'unknown') + (r.live ? ' (live)' : '') });
    const sw = h('span', { class: 'swatch' });
    sw.style.background = r.color;
    const name = h('a', { class: 'ws-name', href: runHash(r.ref), title: r.label + ' (' + r.ref + ')', text: r.label });
    const row = h('div', { class: 'ws-row' + (on ? ' on' : ''), dataset: { ref: r.ref } }, eye, dot, sw, name);
    if (r.ref === this.hl) row.classList.add('hl');
    if (this.dimmed.has(r.ref)) row.classList.add('dim');
    return row;
  }
}
