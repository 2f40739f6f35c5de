/* A run's color: by its place among its project's runs in order of start (runs started
 * close together, as a sweep's, get different colors; a new run takes the next one and
 * older runs keep theirs), learned from the latest listing; a run not listed yet: by a
 * hash of its ref. */

import { PALETTE, fnv1a } from './util.js';

/** @type {Map<string, string>} */
export const colorMap = new Map();

/**
 * Learn the colors of a listing's runs; all: the listing holds every project.
 * @param {{project?: unknown, ref?: unknown, start_time?: unknown}[]} runs
 * @param {boolean} all
 */
export function assignColors(runs, all) {
  if (all) colorMap.clear(); // a listing of every project replaces what is known
  /** @type {Map<string, typeof runs>} */
  const byProject = new Map();
  for (const r of runs) {
    const p = String(r.project);
    if (!byProject.has(p)) byProject.set(p, []);
    byProject.get(p)?.push(r);
  }
  for (const list of byProject.values()) {
    list.sort((a, b) => (Number(a.start_time) || 0) - (Number(b.start_time) || 0) || (String(a.ref) < String(b.ref) ? -1 : 1));
    list.forEach((r, i) => colorMap.set(String(r.ref), PALETTE[i % PALETTE.length]));
  }
}

/** @param {unknown} ref @returns {string} */
export const colorOf = (ref) => colorMap.get(String(ref)) || PALETTE[fnv1a(String(ref)) % PALETTE.length];
