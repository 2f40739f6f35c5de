/* The router and a view's lifetime. The address's hash names the view and holds its state
 * (#/workspace?project=P&ws=NAME, the landing; #/runs?sel=..., #/run/REF?tab=charts,
 * #/compare?runs=..., #/artifacts?project=P&name=N&version=vK); every hashchange closes the
 * view shown (its fetches aborted, its timers cleared) and opens the one named. */

import { api, clearStatus, report } from './api.js';
import { $, h } from './dom.js';
import { RS } from './hooks.js';
import { dec, enc } from './util.js';

/** Parameters of the hash's query part: list values are comma-joined, each item URI-encoded. */
export class Params {
  /** @param {string} [qs] */
  constructor(qs) {
    /** @type {Map<string, string>} raw (still encoded) values by name */
    this.map = new Map();
    for (const part of (qs || '').split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      this.map.set(dec(i < 0 ? part : part.slice(0, i)), i < 0 ? '' : part.slice(i + 1));
    }
  }
  /** @param {string} k */
  has(k) { return this.map.has(k); }
  /** @param {string} k @param {string} [d] @returns {string} */
  get(k, d = '') { const v = this.map.get(k); return v !== undefined ? dec(v) : d; }
  /** @param {string} k @returns {string[]} */
  list(k) {
    const raw = this.map.get(k);
    return raw ? raw.split(',').filter((s) => s !== '').map(dec) : [];
  }
  /** @param {string} k @param {number} d @returns {number} */
  num(k, d) {
    const v = parseFloat(this.get(k));
    return Number.isFinite(v) ? v : d;
  }
  /**
   * null/''/false/[] remove the parameter; keep=true keeps an empty list ("cols=").
   * @param {string} k
   * @param {string | number | boolean | string[] | null | undefined} v
   * @param {boolean} [keep]
   */
  set(k, v, keep = false) {
    if (Array.isArray(v)) {
      if (!v.length && !keep) this.map.delete(k);
      else this.map.set(k, v.map(enc).join(','));
    } else if (v === null || v === undefined || v === '' || v === false) this.map.delete(k);
    else this.map.set(k, enc(v));
    return this;
  }
  toString() { return [...this.map].map(([k, v]) => enc(k) + '=' + v).join('&'); }
}

function parseHash() {
  let hash = location.hash.replace(/^#/, '');
  if (!hash || hash === '/') hash = '/workspace';
  const qi = hash.indexOf('?');
  const path = qi < 0 ? hash : hash.slice(0, qi);
  return { path, params: new Params(qi < 0 ? '' : hash.slice(qi + 1)) };
}

/** @param {string} path @param {Params | null} [params] @returns {string} */
export const hashFor = (path, params) => {
  const s = params ? params.toString() : '';
  return '#' + path + (s ? '?' + s : '');
};

/** Record view state in the URL without a navigation (no hashchange, no history entry). @param {string} path @param {Params} params */
export function replaceHash(path, params) {
  if (current && !current.here()) return; // a newer address waits for its hashchange: it wins
  const hash = hashFor(path, params);
  if (location.hash !== hash) history.replaceState(history.state, '', hash);
  if (current) current.hash = location.hash;
}

/** @param {string} ref @param {string} [tab] @returns {string} */
export const runHash = (ref, tab) => '#/run/' + enc(ref) + (tab ? '?tab=' + enc(tab) : '');
/** @param {string[]} refs @returns {string} */
export const compareHash = (refs) => '#/compare?runs=' + refs.map(enc).join(',');

/** One view's lifetime: its fetches are aborted and its timers cleared when it is left. */
export class ViewCtx {
  constructor() {
    this.ac = new AbortController();
    this.signal = this.ac.signal;
    this.alive = true;
    /** the address's hash the view was opened for */
    this.hash = location.hash;
    /** @type {(() => void)[]} */
    this.cleanups = [];
    /** @type {Set<ReturnType<typeof setTimeout>>} */
    this.timers = new Set();
  }
  /** Is the view still shown and the address still the one it was opened for? A navigation
   * made a moment ago changes the address before its hashchange closes this view: a view
   * that would itself navigate asks this, not ``alive``, so the newer address wins. */
  here() { return this.alive && location.hash === this.hash; }
  /** fn runs when the view is left. @param {() => void} fn */
  onCleanup(fn) { this.cleanups.push(fn); }
  /**
   * fn in ms, unless the view is left first; its error is reported.
   * @param {() => unknown} fn
   * @param {number} ms
   */
  later(fn, ms) {
    const id = setTimeout(() => {
      this.timers.delete(id);
      if (this.alive) Promise.resolve().then(fn).catch(report);
    }, ms);
    this.timers.add(id);
    return id;
  }
  /** @param {ReturnType<typeof setTimeout> | null | undefined} id */
  cancel(id) {
    if (id !== null && id !== undefined) { clearTimeout(id); this.timers.delete(id); }
  }
  /**
   * The answer of the API's ``name`` for this view; on a failure it is said in ``body`` (the
   * view then ready) and null returned; null too once the view is left.
   * @param {HTMLElement} body @param {string} name @param {Record<string, any>} params
   * @returns {Promise<any>}
   */
  async fetchOrSay(body, name, params) {
    try {
      return await api(name, params, this.signal);
    } catch (e) {
      if (e.name === 'AbortError') return null;
      report(e);
      body.replaceChildren(h('p', { class: 'error', text: e.message }));
      this.ready();
      return null;
    }
  }
  /** The view has drawn what it first shows (window.runship.ready). */
  ready() { if (this.alive) RS.ready = true; }
  close() {
    this.alive = false;
    this.ac.abort();
    for (const id of this.timers) clearTimeout(id);
    this.timers.clear();
    for (const fn of this.cleanups.splice(0)) {
      try { fn(); } catch (e) { /* keep tearing down */ }
    }
  }
}

/** Where the top bar's links lead: the workspace and the runs view as last left, the runs last selected. */
/** @type {{runsHash: string, workspaceHash: string, artifactsHash: string, selection: string[]}} */
export const nav = { runsHash: '#/runs', workspaceHash: '#/workspace', artifactsHash: '#/artifacts', selection: [] };

/** @param {string} which */
export function updateNav(which) {
  for (const a of document.querySelectorAll('.topnav .nav')) a.classList.toggle('active', a instanceof HTMLElement && a.dataset.nav === which);
  const runsLink = $('.topnav .nav[data-nav=runs]');
  if (runsLink) runsLink.setAttribute('href', nav.runsHash);
  const wsLink = $('.topnav .nav[data-nav=workspace]');
  if (wsLink) wsLink.setAttribute('href', nav.workspaceHash);
  const arts = $('.topnav .nav[data-nav=artifacts]');
  if (arts) arts.setAttribute('href', nav.artifactsHash);
  const cmp = $('.topnav .nav[data-nav=compare]');
  if (cmp) cmp.setAttribute('href', nav.selection.length ? compareHash(nav.selection) : '#/compare');
}

/** @typedef {(ctx: ViewCtx, main: HTMLElement, params: Params) => unknown} Page */
/** @typedef {(ctx: ViewCtx, main: HTMLElement, ref: string, params: Params) => unknown} RunPage */
/** @typedef {{runs: Page, run: RunPage, compare: Page, workspace: Page, artifacts: Page}} Views */

/** @type {ViewCtx | null} */
let current = null;

/** @param {Views} views */
function route(views) {
  if (current) current.close();
  RS.ready = false;
  for (const k of Object.keys(RS.charts)) delete RS.charts[k];
  RS.zoom = () => {};
  RS.resetZoom = () => {};
  clearStatus();
  const ctx = (current = new ViewCtx());
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  main.replaceChildren();
  window.scrollTo(0, 0);
  const { path, params } = parseHash();
  let p;
  if (path.startsWith('/run/')) {
    updateNav('run');
    p = views.run(ctx, main, dec(path.slice(5)), params);
  } else if (path === '/workspace') {
    updateNav('workspace');
    p = views.workspace(ctx, main, params);
  } else if (path === '/artifacts') {
    updateNav('artifacts');
    p = views.artifacts(ctx, main, params);
  } else if (path === '/compare') {
    updateNav('compare');
    p = views.compare(ctx, main, params);
  } else {
    updateNav('runs');
    p = views.runs(ctx, main, params);
  }
  Promise.resolve(p).catch((e) => { report(e); ctx.ready(); });
}

/** Show the view the address names, and the one named after each hashchange. @param {Views} views */
export function startRouter(views) {
  window.addEventListener('hashchange', () => route(views));
  route(views);
}
