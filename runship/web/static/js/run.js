/* The run page (#/run/REF?tab=...): its header (name, state, id, project, group), its tabs,
 * and the poll that reads a live run again every 10 s for the tab shown. */

import { api, report } from './api.js';
import { runArtifactsTab } from './artifacts.js';
import { consoleTab } from './console.js';
import { h, stateBadge } from './dom.js';
import { filesTab } from './files.js';
import { mediaTab } from './media.js';
import { chartsTab, systemTab } from './metrics.js';
import { overviewTab } from './overview.js';
import { replaceHash, runHash } from './router.js';
import { enc, isMissing } from './util.js';

/** @typedef {import('./router.js').Params} Params */
/** @typedef {import('./router.js').ViewCtx} ViewCtx */

const TABS = ['overview', 'charts', 'system', 'console', 'files', 'media', 'artifacts'];
/** @param {ViewCtx} ctx @param {HTMLElement} main @param {string} ref @param {Params} params */
export async function runPage(ctx, main, ref, params) {
  let tab = params.get('tab') || 'overview';
  if (!TABS.includes(tab)) tab = 'overview';
  const save = () => replaceHash('/run/' + enc(ref), params);
  const nameEl = h('h1', { class: 'run-name', text: ref });
  const badgeHost = h('span', { class: 'run-state' });
  const meta = h('span', { class: 'meta' });
  const tabs = h('nav', { class: 'tabs' }, TABS.map((t) => h('a', {
    class: 'tab' + (t === tab ? ' active' : ''), dataset: { tab: t }, href: runHash(ref, t), text: t[0].toUpperCase() + t.slice(1),
  })));
  const body = h('div', { class: 'tab-body', dataset: { tab } }, h('p', { class: 'muted', text: 'loading…' }));
  main.append(h('div', { class: 'run-header' }, nameEl, badgeHost, meta), tabs, body);

  /** @type {any} */
  let run = await ctx.fetchOrSay(body, 'run', { run: ref });
  if (run === null || !ctx.alive) return;
  /** @param {any} r */
  const fillHeader = (r) => {
    const name = String(r.name || r.id || ref);
    nameEl.textContent = name;
    document.title = name + ' · runship';
    badgeHost.replaceChildren(stateBadge(r.state, !!r.live));
    const bits = [['id', r.id], ['project', r.project], ['group', r.group]].filter(([, v]) => !isMissing(v));
    meta.replaceChildren(...bits.map(([k, v], i) => h('span', { class: 'run-' + k }, i ? ' · ' : '', k + ' ', h('b', { text: String(v) }))));
  };
  fillHeader(run);
  ctx.onCleanup(() => { document.title = 'runship'; });

  // A live run is read again every 10 s (header, live flags, new keys).
  /** @type {((run: any) => void)[]} */
  const watchers = [];
  /** @param {(run: any) => void} fn */
  const onRunUpdate = (fn) => watchers.push(fn);
  const poll = async () => {
    try {
      const r = await api('run', { run: ref }, ctx.signal);
      if (!ctx.alive) return;
      run = r;
      fillHeader(r);
      for (const fn of watchers) fn(r);
    } catch (e) {
      report(e);
    }
    if (run.live) ctx.later(poll, 10000);
  };
  if (run.live) ctx.later(poll, 10000);

  body.replaceChildren();
  switch (tab) {
    case 'charts': return chartsTab(ctx, body, ref, run, params, save, onRunUpdate);
    case 'system': return systemTab(ctx, body, ref, run, params, save, onRunUpdate);
    case 'console': return consoleTab(ctx, body, ref, run, params, save, onRunUpdate);
    case 'files': filesTab(body, ref, run); ctx.ready(); return;
    case 'media': return mediaTab(ctx, body, ref, run);
    case 'artifacts': return runArtifactsTab(ctx, body, ref);
    default: overviewTab(body, ref, run); ctx.ready();
  }
}
