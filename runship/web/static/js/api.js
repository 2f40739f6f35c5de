/* The JSON API of `runship ui` (docs/UI.md): URLs, GET with the session cookie, errors as
 * ApiError, and the status line (#status) where errors are shown. */

import { RS } from './hooks.js';
import { enc, isPlainObject } from './util.js';

const NOT_SIGNED_IN = 'Not signed in: open the URL printed by runship ui (it carries the token)';

/** An API call that failed: status 0 when the server could not be reached. */
export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @typedef {Record<string, unknown> | null | undefined} Query */

/** Query string: arrays become repeated parameters (run=A&run=B). @param {Query} params @returns {string} */
function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) parts.push(enc(k) + '=' + enc(x));
    else parts.push(enc(k) + '=' + enc(v));
  }
  return parts.join('&');
}

/** @param {string} name @param {Query} [params] @returns {string} */
export const apiUrl = (name, params) => '/ui/api/' + name + (params ? '?' + query(params) : '');

/** A run's file, shown in the page or (download) saved. @param {string} ref @param {string} path @param {boolean} [download] */
export const fileUrl = (ref, path, download) => apiUrl('file', download ? { run: ref, path, download: 1 } : { run: ref, path });

/**
 * A JSON API request with the page's session (a GET, or a write with a JSON body); its
 * answer's JSON. Throws ApiError naming what the server said (or AbortError when the view
 * is left).
 * @param {string} method
 * @param {string} name
 * @param {Query} params
 * @param {unknown} [body]
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export async function request(method, name, params, body, signal) {
  RS.requests++;
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  /** @type {RequestInit} */
  const init = { method, signal, credentials: 'same-origin', headers };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let resp;
  try {
    resp = await fetch(apiUrl(name, params), init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the runship ui server (${name}): ${e && e.message ? e.message : e}`);
  }
  if (!resp.ok) {
    let detail = '';
    try {
      const j = await resp.json();
      if (j && typeof j.detail === 'string') detail = j.detail;
    } catch (e) { /* not JSON */ }
    if (resp.status === 401) throw new ApiError(401, NOT_SIGNED_IN);
    throw new ApiError(resp.status, `${name}: ${resp.status} ${detail || resp.statusText}`);
  }
  return resp.json();
}

/**
 * GET a JSON API endpoint (request's GET).
 * @param {string} name
 * @param {Query} params
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export const api = (name, params, signal) => request('GET', name, params, undefined, signal);

/** One series of a run as the API sends it: x ascending, y aligned (null: no value). */
/** @typedef {{x: number[], y: (number | null)[]}} XY */
/** @typedef {{x: string, samples: number, lo: number | null, hi: number | null}} SeriesQuery */

/** Runs asked for in one series request (the server takes up to 100). */
const SERIES_RUNS = 100; // what /ui/api/series takes a request

/**
 * Series of some runs for some keys (in requests of at most 100 runs), downsampled to about q.samples points (in [lo, hi]).
 * @param {AbortSignal} signal
 * @param {string[]} refs
 * @param {string[]} keys
 * @param {SeriesQuery} q
 * @returns {Promise<Record<string, Record<string, XY>>>} by ref, then key
 */
export async function fetchSeries(signal, refs, keys, q) {
  /** @type {Record<string, Record<string, XY>>} */
  const out = {};
  const batches = [];
  for (let i = 0; i < refs.length; i += SERIES_RUNS) batches.push(refs.slice(i, i + SERIES_RUNS));
  const answers = await Promise.all(batches.map((run) => {
    /** @type {Record<string, unknown>} */
    const p = { run, keys: keys.join(','), x: q.x, samples: q.samples };
    if (q.lo !== null && q.lo !== undefined) { p.lo = q.lo; p.hi = q.hi; }
    return api('series', p, signal);
  }));
  for (const res of answers) if (res && isPlainObject(res.runs)) Object.assign(out, res.runs);
  return out;
}

/**
 * A panel's full-resolution CSV (every row in [lo, hi], not the drawn points): columns run, x, key.
 * @param {string[]} refs
 * @param {string} key
 * @param {string} x
 * @param {number[] | null} range [lo, hi], or null: all rows
 * @returns {string}
 */
export function seriesCsvUrl(refs, key, x, range) {
  /** @type {Record<string, unknown>} */
  const p = { run: refs, key, x };
  if (range) { p.lo = range[0]; p.hi = range[1]; }
  return apiUrl('series.csv', p);
}

/** The status line (#status), where errors show. @returns {HTMLElement | null} */
export const statusEl = () => document.getElementById('status');

/** Show msg in #status. @param {string} msg @param {string} [level] */
export function setStatus(msg, level = 'error') {
  const el = statusEl();
  if (!el) return;
  el.textContent = msg;
  el.className = level;
  el.hidden = false;
}

/** Empty and hide the status line. */
export function clearStatus() {
  const el = statusEl();
  if (el) { el.textContent = ''; el.hidden = true; }
}

/** Show an error in #status; a view being left (AbortError) is not an error. @param {any} err */
export function report(err) {
  if (!err || err.name === 'AbortError') return;
  setStatus(err instanceof ApiError ? err.message : 'error: ' + (err.message || String(err)));
}
