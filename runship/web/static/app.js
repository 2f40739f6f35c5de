/* runship ui: the browser side of `runship ui` (JSON API: docs/UI.md). The page's entry
 * module: native ES modules under js/, no build step, no framework; charts by uPlot (the
 * global `uPlot`, vendor/uPlot.iife.min.js, loaded before this module).
 *
 *   js/api.js       the JSON API, errors, the status line   js/router.js   views, the address
 *   js/filter.js    filter expressions of the runs view      js/charts.js   every uPlot chart
 *   js/panels.js    a grid of metric charts (ChartsView)     js/series.js   the numbers behind a chart
 *   js/workspace.js the workspace page (landing): js/sidebar.js, js/wsmenu.js, js/workspaces.js (saved ones)
 *   js/runs.js      the runs view (js/runlist.js, js/runcharts.js shared with the workspace)
 *   js/run.js       the run page and its tabs:
 *   js/overview.js, js/metrics.js (charts, system), js/console.js, js/files.js, js/media.js, js/plots.js
 *   js/compare.js   the compare page                         js/util.js, js/dom.js, js/colors.js, js/hooks.js
 *   js/artifacts.js the artifacts page and the run page's Artifacts tab (js/lineage.js: the lineage graph)
 *
 * Safety: every string that comes from the API goes into the page as text
 * (textContent, createTextNode, setAttribute); no innerHTML with data, no eval.
 */

import { report, setStatus } from './js/api.js';
import { artifactsPage } from './js/artifacts.js';
import { comparePage } from './js/compare.js';
import { startRouter } from './js/router.js';
import { runPage } from './js/run.js';
import { runsPage } from './js/runs.js';
import { workspacePage } from './js/workspace.js';

window.addEventListener('unhandledrejection', (e) => {
  report(e.reason);
  e.preventDefault();
});
if (typeof uPlot === 'undefined') setStatus('the chart library (uPlot) did not load');
startRouter({ runs: runsPage, run: runPage, compare: comparePage, workspace: workspacePage, artifacts: artifactsPage });
