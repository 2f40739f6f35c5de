/* The charts' floating tooltip: at the cursor of the hovered panel, every shown line's value
 * there, sorted by value (highest first), the hovered line emphasised, the x value on top;
 * past 30 lines, the 30 nearest to the cursor's value and "+N more". It follows the cursor
 * and stays inside the window. Rows are text (a run's name is never HTML). */

import { h } from './dom.js';
import { RS } from './hooks.js';
import { fmtNum } from './util.js';

/** @typedef {import('./hooks.js').TooltipRow} TooltipRow */

const TOOLTIP_MAX = 30;

/**
 * The rows shown: all, or past max, the max nearest to near (the hovered one kept), by value.
 * @param {TooltipRow[]} rows
 * @param {number | null} near the cursor's y value
 * @param {number} max
 * @returns {{shown: TooltipRow[], more: number}}
 */
function pickRows(rows, near, max) {
  const withValue = rows.filter((r) => r.value !== null);
  let shown = withValue;
  if (withValue.length > max) {
    const c = near === null ? 0 : near;
    shown = withValue.slice().sort((a, b) => Number(b.hovered) - Number(a.hovered) || Math.abs(/** @type {number} */ (a.value) - c) - Math.abs(/** @type {number} */ (b.value) - c)).slice(0, max);
  }
  shown = shown.slice().sort((a, b) => /** @type {number} */ (b.value) - /** @type {number} */ (a.value));
  return { shown, more: rows.length - shown.length };
}

export class Tooltip {
  constructor() {
    this.el = h('div', { class: 'chart-tooltip', role: 'tooltip' });
    this.el.hidden = true;
    document.body.append(this.el);
  }

  /**
   * @param {string} xLabel e.g. "_step 1,200"
   * @param {TooltipRow[]} rows
   * @param {number | null} near the cursor's y value
   * @param {number} clientX
   * @param {number} clientY
   */
  show(xLabel, rows, near, clientX, clientY) {
    const { shown, more } = pickRows(rows, near, TOOLTIP_MAX);
    const list = shown.map((r) => {
      const sw = h('span', { class: 'swatch' });
      sw.style.background = r.color;
      return h('div', { class: 'tt-row' + (r.hovered ? ' hovered' : ''), dataset: { ref: r.ref || '' } },
        sw, h('span', { class: 'tt-label', text: r.label }), h('span', { class: 'tt-value', text: r.value === null ? '–' : fmtNum(r.value) }));
    });
    if (more > 0) list.push(h('div', { class: 'tt-more muted', text: `+${more} more` }));
    this.el.replaceChildren(h('div', { class: 'tt-x', text: xLabel }), ...list);
    this.el.hidden = false;
    RS.tooltip = shown;
    this.place(clientX, clientY);
  }

  /** Beside the cursor (right and below, else left or above), inside the window. @param {number} cx @param {number} cy */
  place(cx, cy) {
    const w = this.el.offsetWidth, hh = this.el.offsetHeight;
    const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
    let x = cx + 16, y = cy + 12;
    if (x + w > vw - 4) x = cx - 16 - w;
    if (y + hh > vh - 4) y = Math.max(4, vh - 4 - hh);
    this.el.style.left = Math.max(4, x) + 'px';
    this.el.style.top = Math.max(4, y) + 'px';
  }

  hide() {
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.el.replaceChildren();
    RS.tooltip = null;
  }

  destroy() {
    this.hide();
    this.el.remove();
  }
}
