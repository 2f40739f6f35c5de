/* The artifacts page (#/artifacts?project=P&name=N&version=vK&place=I) and the run page's
 * Artifacts tab. The page: a project's artifacts by type on the left; the one chosen on the
 * right: its versions (aliases, size, when, the run that made it), and the version chosen:
 * its files, metadata, the runs that used it and its lineage graph (js/lineage.js). The tab:
 * what the run logged and used, and the graph around it. Everything comes from
 * /ui/api/artifacts, /ui/api/artifact and /ui/api/lineage (docs/UI.md, "Artifacts"). */

import { api, report } from './api.js';
import { h } from './dom.js';
import { artifactHash, lineageGraph } from './lineage.js';
import { nestedTable } from './overview.js';
import { Params, hashFor, nav, replaceHash, runHash, updateNav } from './router.js';
import { fmtBytes, fmtTime, isNum, isPlainObject, naturalCompare } from './util.js';

/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {import('./dom.js').Kid} Kid */
/** @typedef {{ref: string, project: string, id: string, name: string}} RunRef */

const DIGEST_SHOWN = 12; // hex digits of a file's digest shown (the whole on hover)

/** A run as a link to its page (its name; the ref on hover). @param {unknown} r @returns {Kid} */
function runLink(r) {
  if (!isPlainObject(r) || typeof r.ref !== 'string') return h('span', { class: 'muted', text: '—' });
  return h('a', { class: 'run-link', href: runHash(r.ref), title: r.ref, dataset: { ref: r.ref }, text: String(r.name || r.id || r.ref) });
}

/** An alias as a chip (`latest` its own colour). @param {string} a */
const aliasChip = (a) => h('span', { class: 'alias-chip' + (a === 'latest' ? ' latest' : ''), text: a });

/** @param {unknown} list @returns {string[]} */
const strings = (list) => (Array.isArray(list) ? list.filter((x) => typeof x === 'string') : []);

/** A manifest's time: seconds as a date, text as it is. @param {unknown} t @returns {string} */
const when = (t) => (isNum(t) ? fmtTime(t) : typeof t === 'string' ? t : '');

/** @param {string} title @param {...Kid} content */
const card = (title, ...content) => h('section', { class: 'card' }, h('h3', { text: title }), ...content);

/** @param {ViewCtx} ctx @param {HTMLElement} main @param {Params} params */
export async function artifactsPage(ctx, main, params) {
  const save = () => {
    replaceHash('/artifacts', params);
    nav.artifactsHash = location.hash.startsWith('#/artifacts') ? location.hash : nav.artifactsHash;
    updateNav('artifacts');
  };
  const projectSel = h('select', { id: 'artifact-project', title: 'project' });
  const count = h('span', { class: 'count' });
  const side = h('nav', { class: 'art-side', id: 'artifact-list' }, h('p', { class: 'muted pad', text: 'loading…' }));
  const detail = h('div', { class: 'art-detail', id: 'artifact-detail' });
  main.append(h('div', { class: 'art-page' },
    h('div', { class: 'toolbar art-bar' }, h('h1', { class: 'art-title', text: 'Artifacts' }), h('label', null, 'Project', projectSel), count),
    h('div', { class: 'art-body' }, side, detail)));
  document.title = 'Artifacts · runship';
  ctx.onCleanup(() => { document.title = 'runship'; });

  /** @type {any} */
  let listing;
  try {
    listing = await api('artifacts', params.get('project') ? { project: params.get('project') } : null, ctx.signal);
    const projects = strings(listing.projects);
    if (!params.get('project') && projects.length) {
      params.set('project', projects[0]);
      listing = await api('artifacts', { project: projects[0] }, ctx.signal);
    }
  } catch (e) {
    if (e.name === 'AbortError') return;
    report(e);
    side.replaceChildren(h('p', { class: 'error pad', text: e.message }));
    ctx.ready();
    return;
  }
  if (!ctx.alive) return;
  const project = params.get('project');
  if (ctx.here()) save();
  const projects = strings(listing.projects);
  if (project && !projects.includes(project)) projects.push(project);
  projectSel.replaceChildren(...projects.sort(naturalCompare).map((p) => h('option', { value: p, text: p, selected: p === project })));
  if (!projects.length) projectSel.append(h('option', { value: '', text: '(none)' }));
  projectSel.addEventListener('change', () => { location.hash = hashFor('/artifacts', new Params().set('project', projectSel.value)); });

  /** @type {any[]} */
  const arts = (Array.isArray(listing.artifacts) ? listing.artifacts : []).filter((/** @type {any} */ a) => isPlainObject(a) && typeof a.name === 'string');
  count.textContent = `${arts.length} artifact${arts.length === 1 ? '' : 's'}` + (listing.truncated ? ' (the first only)' : '');
  const notes = [...(Array.isArray(listing.notes) ? listing.notes : []).map((/** @type {any} */ n) => `${n.root}: ${n.note}`), ...strings(listing.problems)];

  /** @param {any} a */
  const entryKey = (a) => `${a.place || 0}\u0000${a.name}`;
  let chosen = arts.find((a) => a.name === params.get('name') && String(a.place || 0) === (params.get('place') || '0'))
    || arts.find((a) => a.name === params.get('name')) || null;
  /** @type {Map<string, HTMLElement>} */
  const items = new Map();
  /** @type {Map<string, any[]>} */
  const byType = new Map();
  for (const a of arts) {
    const t = String(a.type || '(no type)');
    if (!byType.has(t)) byType.set(t, []);
    /** @type {any[]} */ (byType.get(t)).push(a);
  }
  side.replaceChildren();
  if (!arts.length) {
    side.append(h('p', { class: 'muted pad', text: project ? `No artifacts in ${project}.` : 'No artifacts in the roots shown.' }));
  }
  for (const [type, list] of [...byType].sort((x, y) => naturalCompare(x[0], y[0]))) {
    side.append(h('div', { class: 'art-type', dataset: { type } }, h('span', { class: 'art-type-name', text: type }), h('span', { class: 'n', text: String(list.length) })));
    for (const a of list.sort((x, y) => naturalCompare(x.name, y.name))) {
      const item = h('a', {
        class: 'art-item', href: artifactHash(project, a.name, undefined, a.place), dataset: { name: a.name, place: a.place || 0 },
        title: a.name, onclick: (/** @type {MouseEvent} */ ev) => {
          if (ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
          ev.preventDefault();
          choose(a, '');
        },
      }, h('span', { class: 'art-item-name', text: a.name }),
      h('span', { class: 'art-item-meta', text: `${a.versions} v · ${fmtBytes(a.size)}` }));
      items.set(entryKey(a), item);
      side.append(item);
    }
  }
  if (notes.length) side.append(h('div', { class: 'art-notes muted' }, notes.slice(0, 10).map((n) => h('p', { text: n }))));

  /** @type {AbortController | null} */
  let loading = null;
  /** Show artifact a at version (''/latest). @param {any} a @param {string} version */
  async function choose(a, version) {
    chosen = a;
    for (const [k, el] of items) el.classList.toggle('active', k === entryKey(a));
    params.set('name', a.name).set('version', version || null).set('place', a.place ? String(a.place) : null);
    save();
    if (loading) loading.abort();
    const ac = (loading = new AbortController());
    ctx.signal.addEventListener('abort', () => ac.abort());
    try {
      await showArtifact(ctx, detail, ac.signal, project, a, version, (v) => choose(a, v));
    } catch (e) {
      if (e.name === 'AbortError') return;
      report(e);
      detail.replaceChildren(h('p', { class: 'error', text: e.message }));
    }
  }
  if (!chosen && arts.length) chosen = arts.slice().sort((x, y) => naturalCompare(x.type, y.type) || naturalCompare(x.name, y.name))[0];
  if (chosen) await choose(chosen, chosen.name === params.get('name') ? params.get('version') : '');
  else detail.append(h('p', { class: 'muted', text: 'Versions logged by runs (run.log_artifact) are shown here, with the runs that used them.' }));
  ctx.ready();
}

/**
 * The right side: an artifact's versions table, then the version chosen.
 * @param {ViewCtx} ctx @param {HTMLElement} detail @param {AbortSignal} signal @param {string} project
 * @param {any} a the listing's entry @param {string} version @param {(v: string) => void} pick
 */
async function showArtifact(ctx, detail, signal, project, a, version, pick) {
  const q = { project, name: a.name, version: version || 'latest', place: a.place || 0 };
  const [art, graph] = await Promise.all([api('artifact', q, signal), api('lineage', q, signal)]);
  if (!ctx.alive || signal.aborted) return;
  const aliases = isPlainObject(a.aliases) ? a.aliases : {};
  const head = h('div', { class: 'art-head' },
    h('h2', { class: 'art-name', text: art.name }),
    h('span', { class: 'art-type-badge', text: String(art.type || '') }),
    h('span', { class: 'muted', text: `${art.version_count} version${art.version_count === 1 ? '' : 's'}` }),
    Object.keys(aliases).length ? h('span', { class: 'muted' }, 'aliases ', Object.keys(aliases).filter((k) => k !== 'latest').map((k) => h('span', { class: 'alias-ref', text: `${k}→${aliases[k]}` }))) : null);

  const versions = /** @type {any[]} */ (Array.isArray(art.versions) ? art.versions : []);
  const vtable = h('table', { id: 'artifact-versions', class: 'grid-table' },
    h('thead', null, h('tr', null, ['version', 'aliases', 'size', 'files', 'created', 'produced by'].map((c) => h('th', { text: c })))),
    h('tbody', null, versions.map((v) => h('tr', {
      class: v.version === art.version ? 'selected' : null, dataset: { version: v.version }, tabindex: 0,
      onclick: (/** @type {MouseEvent} */ ev) => { if (!(ev.target instanceof HTMLAnchorElement)) pick(v.version); },
      onkeydown: (/** @type {KeyboardEvent} */ ev) => { if (ev.key === 'Enter') pick(v.version); },
    },
    h('td', { class: 'version' }, h('a', { href: artifactHash(project, art.name, v.version, art.place), text: v.version,
      onclick: (/** @type {MouseEvent} */ ev) => { if (ev.button === 0 && !ev.ctrlKey && !ev.metaKey) { ev.preventDefault(); pick(v.version); } } })),
    h('td', { class: 'aliases' }, strings(v.aliases).map(aliasChip)),
    h('td', { class: 'num', text: fmtBytes(v.size), title: isNum(v.size) ? v.size + ' bytes' : null }),
    h('td', { class: 'num', text: String(v.file_count ?? '') }),
    h('td', { text: when(v.created_at) }),
    h('td', null, runLink(v.producer))))));
  const more = art.version_count > versions.length ? h('p', { class: 'muted small', text: `the newest ${versions.length} of ${art.version_count} versions` }) : null;

  detail.replaceChildren(h('div', { class: 'art-artifact', dataset: { name: art.name } }, head,
    art.description ? h('p', { class: 'art-description', text: art.description }) : null,
    h('div', { class: 'table-wrap art-versions-wrap' }, vtable), more,
    versionBlock(signal, project, art, graph)));
  const sel = vtable.querySelector('tr.selected'), wrap = vtable.parentElement;
  if (sel instanceof HTMLElement && wrap && sel.offsetTop + sel.offsetHeight > wrap.clientHeight) {
    wrap.scrollTop = sel.offsetTop - wrap.clientHeight / 2; // the version chosen in view, the page left where it is
  }
}

/**
 * One version: its header, lineage, files (a page at a time), metadata and users.
 * @param {AbortSignal} signal @param {string} project @param {any} art @param {any} graph
 */
function versionBlock(signal, project, art, graph) {
  const files = /** @type {any[]} */ (Array.isArray(art.files) ? art.files : []);
  const fileRows = h('tbody', null, files.map(fileRow));
  const total = isNum(art.file_count) ? art.file_count : files.length;
  let shown = files.length;
  const summary = h('p', { class: 'muted small' });
  const more = h('button', { type: 'button', class: 'more-files', text: 'more files' });
  const told = () => {
    summary.textContent = `${total} file${total === 1 ? '' : 's'}, ${fmtBytes(art.size)}` + (total > shown ? ` (${shown} shown)` : '');
    more.hidden = shown >= total;
  };
  told();
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const next = await api('artifact', { project, name: art.name, version: art.version, place: art.place, offset: shown, limit: art.limit }, signal);
      const page = Array.isArray(next.files) ? next.files : [];
      fileRows.append(...page.map(fileRow));
      shown = page.length ? shown + page.length : total;
      told();
    } catch (e) {
      report(e);
    }
    more.disabled = false;
  });
  const fileCard = card('Files', summary,
    h('div', { class: 'table-scroll art-files-wrap' }, h('table', { id: 'artifact-files', class: 'grid-table' },
      h('thead', null, h('tr', null, h('th', { text: 'path' }), h('th', { text: 'size' }), h('th', { text: 'digest' }))), fileRows)),
    more,
    Array.isArray(art.references) && art.references.length ? h('div', null, h('h4', { text: 'references' }),
      h('table', { id: 'artifact-references', class: 'kv' }, h('tbody', null, art.references.map((/** @type {any} */ r) => h('tr', null,
        h('td', { class: 'k', text: String(r.path) }), h('td', { class: 'v', text: String(r.uri) })))))) : null);
  const meta = art.metadata_note ? h('p', { class: 'muted', text: art.metadata_note }) : nestedTable(art.metadata, 'artifact-metadata');
  const users = /** @type {any[]} */ (Array.isArray(art.users) ? art.users : []);
  const usedBy = h('ul', { id: 'artifact-users', class: 'run-list' }, users.map((u) => h('li', null, runLink(u))));
  if (!users.length) usedBy.append(h('li', { class: 'muted', text: 'no run used this version' }));
  return h('div', { class: 'art-version', dataset: { version: art.version } },
    h('div', { class: 'art-version-head' },
      h('h3', { id: 'artifact-version-title', text: `${art.name}:${art.version}` }),
      h('span', { class: 'aliases' }, strings(art.aliases).map(aliasChip)),
      h('span', { class: 'muted' }, when(art.created_at), art.producer ? ' · produced by ' : null, art.producer ? runLink(art.producer) : null),
      h('span', { class: 'muted mono', title: 'the contents digest', text: typeof art.digest === 'string' ? art.digest.slice(0, DIGEST_SHOWN) : '' })),
    card('Lineage', lineageGraph(graph)),
    h('div', { class: 'art-grid' },
      fileCard,
      h('div', null,
        card('Metadata', meta),
        card(`Used by (${art.user_count || 0})`, usedBy, art.user_count > users.length ? h('p', { class: 'muted small', text: `the first ${users.length} shown` }) : null))));
}

/** @param {any} f */
function fileRow(f) {
  const digest = typeof f.digest === 'string' ? f.digest : '';
  return h('tr', { dataset: { path: String(f.path) } },
    h('td', { class: 'mono path', text: String(f.path), title: String(f.path) }),
    h('td', { class: 'num', text: fmtBytes(f.size), title: isNum(f.size) ? f.size + ' bytes' : null }),
    h('td', { class: 'mono digest', text: digest.slice(0, DIGEST_SHOWN), title: digest }));
}

/**
 * The run page's Artifacts tab: what the run logged and used (links to the artifacts page) and the lineage around it.
 * @param {ViewCtx} ctx @param {HTMLElement} body @param {string} ref
 */
export async function runArtifactsTab(ctx, body, ref) {
  body.append(h('p', { class: 'muted', text: 'loading…' }));
  const graph = await ctx.fetchOrSay(body, 'lineage', { run: ref });
  if (graph === null || !ctx.alive) return;
  /** @param {unknown} list @param {string} id @param {boolean} producer */
  const table = (list, id, producer) => {
    const rows = (Array.isArray(list) ? list : []).filter(isPlainObject);
    if (!rows.length) return h('p', { id, class: 'muted', text: 'none' });
    return h('div', { class: 'table-scroll' }, h('table', { id, class: 'grid-table' },
      h('thead', null, h('tr', null, ['artifact', 'type', 'aliases', 'size', 'created', producer ? 'produced by' : null].map((c) => c && h('th', { text: c })))),
      h('tbody', null, rows.map((v) => h('tr', { dataset: { name: v.name, version: v.version } },
        h('td', null, h('a', { class: 'artifact-link', href: artifactHash(v.project, v.name, v.version, v.place), text: `${v.name}:${v.version}` })),
        h('td', { text: String(v.type || '') }),
        h('td', { class: 'aliases' }, strings(v.aliases).map(aliasChip)),
        h('td', { class: 'num', text: fmtBytes(v.size) }),
        h('td', { text: when(v.created_at) }),
        producer ? h('td', null, runLink(v.producer)) : null)))));
  };
  const notes = (Array.isArray(graph.notes) ? graph.notes : []).map((/** @type {any} */ n) => h('p', { class: 'muted', text: `${n.root}: ${n.note}` }));
  body.replaceChildren(h('div', { class: 'run-artifacts' },
    notes,
    card('Logged', table(graph.logged, 'run-logged', false)),
    card('Used', table(graph.used, 'run-used', true)),
    card('Lineage', lineageGraph(graph))));
  ctx.ready();
}
