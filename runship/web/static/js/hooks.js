/* The page's test hooks, window.runship: read by the browser tests (tests/browser), so the
 * names stay. `ready`: the view has drawn what it first shows; `requests`: API calls made;
 * `charts`: each drawn chart panel's data, by key (a single-metric panel: its metric; any
 * other: its id); `zoom`/`resetZoom`: the shown charts'; `tooltip`: the shown chart tooltip's
 * rows (null: none); `highlighted`: the run whose lines are emphasised (null: none). */

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
 * @property {string} [metric] the key drawn (a panel of several metrics: a line per run and key)
 */

/**
 * A row of the chart tooltip: a line's value at the cursor.
 * @typedef {object} TooltipRow
 * @property {string} label
 * @property {number | null} value
 * @property {string | null} ref the run (null: a group's mean)
 * @property {string} color
 * @property {boolean} hovered the line nearest the cursor
 * @property {number} x the x value at the cursor
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
 * @property {string} [panel] the panel's id
 * @property {string[]} [metrics] the keys it draws
 */

/**
 * @typedef {object} Hooks
 * @property {Record<string, ChartHook>} charts
 * @property {boolean} ready
 * @property {number} requests
 * @property {(lo: number, hi: number) => void} zoom
 * @property {() => void} resetZoom
 * @property {object} [scatter]
 * @property {TooltipRow[] | null} tooltip
 * @property {string | null} highlighted
 */

/** @type {Hooks} */
export const RS = { charts: {}, ready: false, requests: 0, zoom: () => {}, resetZoom: () => {}, tooltip: null, highlighted: null };
/** @type {any} */ (window).runship = RS;
