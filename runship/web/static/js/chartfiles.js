/* A chart panel's downloads made in the page: its canvas as a PNG under its title, and the
 * points drawn as CSV (run, x, key; where the full-resolution series.csv does not apply). */

import { downloadBlob, downloadUrl } from './dom.js';
import { safeFileName } from './util.js';

/** @param {HTMLCanvasElement} src @param {string} title */
export function savePng(src, title) {
  const dpr = window.devicePixelRatio || 1;
  const top = Math.round(24 * dpr);
  const c = document.createElement('canvas');
  c.width = src.width;
  c.height = src.height + top;
  const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d'));
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  g.fillStyle = '#1d2330';
  g.font = `600 ${Math.round(13 * dpr)}px system-ui, sans-serif`;
  g.fillText(title, Math.round(8 * dpr), Math.round(17 * dpr));
  g.drawImage(src, 0, top);
  downloadUrl(c.toDataURL('image/png'), safeFileName(title) + '.png');
}

/** A CSV cell; text that a spreadsheet would run as a formula starts with a quote. @param {unknown} v */
function cell(v) {
  if (v === null || v === undefined) return '';
  const s = String(v);
  const t = typeof v === 'string' && /^[=+\-@\t\r]/.test(s) ? "'" + s : s;
  return /[",\n\r]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
}

/**
 * @param {string} key
 * @param {string} x
 * @param {{label: string, x: unknown[], y: unknown[]}[]} lines
 */
export function savePointsCsv(key, x, lines) {
  const out = [[cell('run'), cell(x), cell(key)].join(',')];
  for (const l of lines) for (let i = 0; i < l.x.length; i++) out.push([cell(l.label), cell(l.x[i]), cell(l.y[i])].join(','));
  downloadBlob(new Blob([out.join('\n') + '\n'], { type: 'text/csv' }), safeFileName(key) + '.csv');
}
