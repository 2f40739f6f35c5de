/* A lineage graph (the /ui/api/lineage answer) as a small SVG: runs and artifact versions as
 * boxes in columns, left to right (a producing run, the version it made, the runs that used
 * it, what they made), edges as arrows; every box a link (a run to its page, a version to the
 * artifacts page). Text goes in as text nodes, never as markup. */

import { h } from './dom.js';
import { Params, hashFor, runHash } from './router.js';
import { isPlainObject } from './util.js';

const NS = 'http://www.w3.org/2000/svg';
const NODE_W = 176, NODE_H = 40, GAP_X = 48, GAP_Y = 12, PAD = 10;
const MIN_SCALE = 0.8; // a graph wider than its box is drawn smaller, down to this, then scrolls
const TEXT_W = NODE_W - 20; // a box's text is cut to this width (its whole name in its tooltip)
const FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const LABEL_FONT = `600 12px ${FAMILY}`, SUB_FONT = `11px ${FAMILY}`;

/**
 * @typedef {object} LineageNode
 * @property {string} id
 * @property {'run' | 'artifact'} kind
 * @property {string} [ref] a run's
 * @property {string} [name]
 * @property {string} [version] an artifact version's
 * @property {string} [type]
 * @property {string} [project]
 * @property {number} [place]
 */
/** @typedef {{from: string, to: string, kind: string}} LineageEdge */
/** @typedef {{center: string | null, nodes: LineageNode[], edges: LineageEdge[], truncated?: boolean, complete?: boolean}} Lineage */

/**
 * An SVG element.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {...(Element | null)} kids
 * @returns {SVGElement}
 */
function s(tag, attrs, ...kids) {
  const el = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const kid of kids) if (kid) el.append(kid);
  return el;
}

/** @param {string} tag @param {string} text @param {Record<string, string | number>} [attrs] */
function sText(tag, text, attrs) {
  const el = s(tag, attrs);
  el.textContent = text;
  return el;
}

/** @type {CanvasRenderingContext2D | null | undefined} */
let measurer;
/** text cut (with …) to fit width px in font, as a canvas measures it. @param {string} text @param {string} font @param {number} width */
function fit(text, font, width) {
  if (measurer === undefined) measurer = document.createElement('canvas').getContext('2d');
  if (!measurer) return text.length > 22 ? text.slice(0, 21) + '…' : text;
  measurer.font = font;
  if (measurer.measureText(text).width <= width) return text;
  let lo = 0, hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (measurer.measureText(text.slice(0, mid) + '…').width <= width) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, lo) + '…';
}

/**
 * The artifacts page's address of a version.
 * @param {string} project @param {string} name @param {string} [version] @param {number} [place]
 * @returns {string}
 */
export function artifactHash(project, name, version, place) {
  const p = new Params().set('project', project).set('name', name).set('version', version || null);
  if (place) p.set('place', String(place));
  return hashFor('/artifacts', p);
}

/** @param {LineageNode} n @returns {string} */
const labelOf = (n) => (n.kind === 'run' ? String(n.name || n.ref || '') : `${n.name}:${n.version}`);

/** @param {LineageNode} n @returns {string} */
function linkOf(n) {
  if (n.kind === 'run') return n.ref ? runHash(n.ref) : '';
  return artifactHash(String(n.project || ''), String(n.name || ''), n.version, n.place);
}

/**
 * Each node's column: the longest path of edges reaching it (cycles cut after a bound).
 * @param {LineageNode[]} nodes @param {LineageEdge[]} edges @returns {Map<string, number>}
 */
function columns(nodes, edges) {
  /** @type {Map<string, number>} */
  const col = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) {
      const a = col.get(e.from), b = col.get(e.to);
      if (a === undefined || b === undefined || b >= a + 1) continue;
      col.set(e.to, a + 1);
      moved = true;
    }
    if (!moved) break;
  }
  return col;
}

/**
 * The graph drawn: an <svg> of its natural size in a box that scrolls when it is wider.
 * @param {Lineage} graph
 * @returns {HTMLElement}
 */
export function lineageGraph(graph) {
  const nodes = (Array.isArray(graph.nodes) ? graph.nodes : []).filter((n) => isPlainObject(n) && typeof n.id === 'string');
  const ids = new Set(nodes.map((n) => n.id));
  const edges = (Array.isArray(graph.edges) ? graph.edges : []).filter((e) => isPlainObject(e) && ids.has(e.from) && ids.has(e.to));
  if (!nodes.length) return h('p', { class: 'muted', text: 'No lineage.' });
  const col = columns(nodes, edges);
  const ncol = Math.max(...col.values()) + 1;
  /** @type {LineageNode[][]} */
  const byCol = Array.from({ length: ncol }, () => []);
  for (const n of nodes) byCol[col.get(n.id) || 0].push(n);
  // order each column by where its nodes' sources sit (fewer crossings), then by kind and name
  /** @type {Map<string, number>} */
  const row = new Map();
  for (const list of byCol) {
    const key = (/** @type {LineageNode} */ n) => {
      const from = edges.filter((e) => e.to === n.id).map((e) => row.get(e.from)).filter((r) => r !== undefined);
      return from.length ? from.reduce((a, b) => a + b, 0) / from.length : 0;
    };
    list.sort((a, b) => key(a) - key(b) || a.kind.localeCompare(b.kind) || labelOf(a).localeCompare(labelOf(b), undefined, { numeric: true }));
    list.forEach((n, i) => row.set(n.id, i));
  }
  const tallest = Math.max(...byCol.map((l) => l.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y;
  const width = PAD * 2 + ncol * NODE_W + (ncol - 1) * GAP_X;
  /** @type {Map<string, {x: number, y: number}>} */
  const at = new Map();
  byCol.forEach((list, c) => {
    const top = (height - (list.length * NODE_H + (list.length - 1) * GAP_Y)) / 2;
    list.forEach((n, i) => at.set(n.id, { x: PAD + c * (NODE_W + GAP_X), y: top + i * (NODE_H + GAP_Y) }));
  });

  const marker = s('marker', { id: 'lineage-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'lineage-arrowhead' }));
  const svg = s('svg', { class: 'lineage-svg', 'font-family': FAMILY, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'lineage graph' },
    s('defs', {}, marker));
  Object.assign(svg.style, { width: '100%', maxWidth: width + 'px', minWidth: Math.round(width * MIN_SCALE) + 'px', height: 'auto' });
  for (const e of edges) {
    const a = at.get(e.from), b = at.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x - 2, y2 = b.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    const path = s('path', {
      class: 'lineage-edge ' + (e.kind === 'used' ? 'used' : 'produced'), 'marker-end': 'url(#lineage-arrow)',
      d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`, 'data-from': e.from, 'data-to': e.to, 'data-kind': String(e.kind),
    }, sText('title', e.kind === 'used' ? 'used by' : 'produced'));
    svg.append(path);
  }
  for (const n of nodes) {
    const p = at.get(n.id);
    if (!p) continue;
    const full = labelOf(n);
    const sub = n.kind === 'run' ? 'run' : String(n.type || 'artifact');
    const cls = 'lineage-node ' + (n.kind === 'run' ? 'run' : 'artifact') + (n.id === graph.center ? ' center' : '');
    const box = s('g', { transform: `translate(${p.x},${p.y})` },
      sText('title', `${full}\n${sub}`),
      s('rect', { width: NODE_W, height: NODE_H, rx: n.kind === 'run' ? 6 : 2 }),
      sText('text', fit(full, LABEL_FONT, TEXT_W), { x: 10, y: 17, class: 'lineage-label' }),
      sText('text', fit(sub, SUB_FONT, TEXT_W), { x: 10, y: 32, class: 'lineage-sub' }));
    const href = linkOf(n);
    svg.append(s('a', { class: cls, href, 'data-id': n.id, 'data-kind': n.kind }, box));
  }
  const note = graph.truncated ? h('p', { class: 'muted small', text: 'Only part of the lineage is drawn (at most 60 boxes).' })
    : graph.complete === false ? h('p', { class: 'muted small', text: 'The store is large: only its newest versions were searched.' }) : null;
  return h('div', { class: 'lineage' }, h('div', { class: 'lineage-scroll' }, svg), note,
    h('div', { class: 'lineage-key muted' }, h('span', { class: 'key run' }, 'run'), h('span', { class: 'key artifact' }, 'artifact version'),
      h('span', null, '→ produced / used by')));
}
