/* The page's test hooks, window.runship: read by the browser tests (tests/browser), so the
 * names stay. `ready`: the view has drawn what it first shows; `requests`: API calls made;
 * `charts`: each drawn chart panel's data, by key; `zoom`/`resetZoom`: the shown charts'. */

/**
 * One chart panel's data as drawn: a line per run (or per group: its mean, min and max).
 * @typedef {object} HookSeries
 * @property {string | null} ref
 * @property {string} label
 * @property {string} color
 * @property {(number | null)[]} x
 * @property {(number | null)[]} y
 * @property {(number | null)[]} raw
 * @property {string} [group]
 * @property {string[]} [refs]
 * @property {(number | null)[]} [min]
 * @property {(number | null)[]} [max]
 */

/**
 * @typedef {object} ChartHook
 * @property {string} key
 * @property {string} x
 * @property {uPlot | null} u
 * @property {HookSeries[]} series
 * @property {number} smoothing
 * @property {boolean} log
 * @property {number[] | null} zoom
 */

/**
 * @typedef {object} Hooks
 * @property {Record<string, ChartHook>} charts
 * @property {boolean} ready
 * @property {number} requests
 * @property {(lo: number, hi: number) => void} zoom
 * @property {() => void} resetZoom
 * @property {object} [scatter]
 */

/** @type {Hooks} */
export const RS = { charts: {}, ready: false, requests: 0, zoom: () => {}, resetZoom: () => {} };
/** @type {any} */ (window).runship = RS;
