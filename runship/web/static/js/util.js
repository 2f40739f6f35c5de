/* Helpers shared by every module of the page: tests on values, number and time formats,
 * sorting, hashing. Pure: no DOM, no state. */

/** 20 colors that stay apart from each other on white (no near-duplicates). */
export const PALETTE = [
  '#4363d8', '#e6194b', '#3cb44b', '#f58231', '#911eb4', '#1fa2c4', '#d43fc9', '#7f9f1f', '#9a6324', '#469990',
  '#800000', '#d4a017', '#000075', '#e07fb0', '#808000', '#5f5f5f', '#8b7fd6', '#2e8b57', '#c45c26', '#2f4f4f',
];
/** A run's states, as the API names them. */
export const STATES = ['running', 'finished', 'failed', 'crashed', 'terminated', 'preempted', 'unreadable'];

/** @param {number} v @param {number} lo @param {number} hi @returns {number} */
export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
/** A finite number. @param {unknown} v @returns {v is number} */
export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
/** A JSON object (not an array, not null). @param {unknown} v @returns {v is Record<string, any>} */
export const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
/** undefined, null or the empty string. @param {unknown} v @returns {boolean} */
export const isMissing = (v) => v === undefined || v === null || v === '';
/** @param {unknown} s @returns {string} */
export const enc = (s) => encodeURIComponent(String(s));
/** URI-decoded, or as it is when it is not valid. @param {string} s @returns {string} */
export function dec(s) {
  try { return decodeURIComponent(s); } catch (e) { return s; }
}
/**
 * fn called once, ms after the last of a burst of calls; .cancel() drops a pending call.
 * @template {unknown[]} A
 * @param {(...a: A) => void} fn
 * @param {number} ms
 * @returns {((...a: A) => void) & {cancel: () => void}}
 */
export function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let t;
  /** @param {A} a */
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => { t = undefined; fn(...a); }, ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

/** FNV-1a 32-bit hash: a run's stable color. @param {string} str @returns {number} */
export function fnv1a(str) {
  let x = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    x ^= str.charCodeAt(i);
    x = Math.imul(x, 0x01000193);
  }
  return x >>> 0;
}

/** '#rrggbb' with alpha a, as rgba(). @param {string} hex @param {number} a @returns {string} */
export function rgba(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/**
 * A number from a value: numbers, the strings "NaN"/"Infinity"/"-Infinity", numeric strings.
 * @param {unknown} v
 * @returns {number | undefined}
 */
export function toNumber(v) {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return NUMBER_RE.test(v.trim()) ? Number(v) : undefined;
}
/** A number as text (what toNumber and the filter take as a number). */
export const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A number in a few digits. @param {number} v @returns {string} */
export function fmtNum(v) {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, 'e').replace('e+', 'e');
  return String(Number(v.toPrecision(5)));
}
/** An axis tick's label. @param {number | null | undefined} v @returns {string} */
export function fmtTick(v) {
  if (v === null || v === undefined) return '';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('.0e', 'e').replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}
/** A logged media reference ({"_type": ...}) in a few words. @param {Record<string, any>} v @returns {string} */
function describeMedia(v) {
  const t = String(v._type);
  if (t === 'histogram') return `histogram (${Array.isArray(v.values) ? v.values.length : '?'} bins)`;
  if (t === 'table-file') return `table (${fmtValue(v.nrows)} rows × ${fmtValue(v.ncols)} columns)`;
  if (t === 'image-file') return `image ${fmtValue(v.width)}×${fmtValue(v.height)}` + (isMissing(v.caption) ? '' : ` "${v.caption}"`);
  return t.replace(/-file$/, '');
}
/** A logged media reference: {"_type": ...}. @param {unknown} v @returns {v is Record<string, any>} */
export const isMediaRef = (v) => isPlainObject(v) && typeof v._type === 'string';

/** Any value as text (JSON for arrays and objects, at most 500 characters). @param {unknown} v @returns {string} */
export function fmtValue(v) {
  if (v === undefined || v === null) return '';
  if (isMediaRef(v)) return describeMedia(v);
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  let s;
  try { s = JSON.stringify(v); } catch (e) { s = String(v); }
  return s.length > 500 ? s.slice(0, 500) + '…' : s;
}
/** @param {number} n */
const pad2 = (n) => String(n).padStart(2, '0');
/** Seconds since the epoch as local YYYY-MM-DD hh:mm:ss. @param {unknown} t @returns {string} */
export function fmtTime(t) {
  if (!isNum(t)) return '';
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
/** Seconds as 1d 02h, 3h 04m, 5m 06s or 7s. @param {unknown} seconds @returns {string} */
export function fmtDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return '';
  const s = Math.round(seconds);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return `${d}d ${pad2(hh)}h`;
  if (hh) return `${hh}h ${pad2(m)}m`;
  if (m) return `${m}m ${pad2(sec)}s`;
  return `${sec}s`;
}
/** @param {unknown} n @returns {string} */
export function fmtBytes(n) {
  if (!isNum(n)) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

/**
 * Nested maps to dotted keys; other values (arrays included) kept as they are.
 * @param {unknown} obj
 * @param {string} [prefix]
 * @param {Record<string, any>} [out]
 * @returns {Record<string, any>}
 */
export function flatten(obj, prefix = '', out = {}) {
  if (!isPlainObject(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? prefix + '.' + k : k;
    if (isPlainObject(v) && Object.keys(v).length && !isMediaRef(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

/**
 * Compare for sorting: numbers numerically, then strings; missing values always last.
 * @param {unknown} a
 * @param {unknown} b
 * @param {boolean} desc
 * @returns {number}
 */
export function compareValues(a, b, desc) {
  const ma = isMissing(a), mb = isMissing(b);
  if (ma || mb) return ma === mb ? 0 : ma ? 1 : -1;
  const na = typeof a === 'number' ? a : toNumber(a), nb = typeof b === 'number' ? b : toNumber(b);
  let r;
  if (na !== undefined && nb !== undefined && !Number.isNaN(na) && !Number.isNaN(nb)) r = na < nb ? -1 : na > nb ? 1 : 0;
  else if (na !== undefined && !Number.isNaN(na) && (nb === undefined || Number.isNaN(nb))) r = -1;
  else if (nb !== undefined && !Number.isNaN(nb) && (na === undefined || Number.isNaN(na))) r = 1;
  else r = String(fmtValue(a)).localeCompare(String(fmtValue(b)), undefined, { numeric: true });
  return desc ? -r : r;
}

/** A name safe for a downloaded file. @param {unknown} s @returns {string} */
export const safeFileName = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'chart';
/** Natural order: "run 2" before "run 10". @param {unknown} a @param {unknown} b @returns {number} */
export const naturalCompare = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });
