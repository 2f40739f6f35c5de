/* The run page's Overview tab: config and summary (nested), the run's fields (its name, tags
 * and notes editable: annotate.js), problems, environment (git, scheduler job, packages),
 * sessions and alerts. */

import { annotationEditors } from './annotate.js';
import { h, stateBadge } from './dom.js';
import { fmtDuration, fmtTime, fmtValue, isMediaRef, isMissing, isNum, isPlainObject } from './util.js';

/** @typedef {import('./dom.js').Kid} Kid */

/** @param {string} title @param {...Kid} content */
const card = (title, ...content) => h('div', { class: 'card' }, h('h3', { text: title }), ...content);

/** Nested config/summary as an indented key/value table; rows carry data-key (dotted path). @param {unknown} obj @param {string} id */
export function nestedTable(obj, id) {
  const tbody = h('tbody');
  /** @param {Record<string, any>} o @param {number} depth @param {string} prefix */
  const walk = (o, depth, prefix) => {
    for (const [k, v] of Object.entries(o)) {
      const path = prefix ? prefix + '.' + k : k;
      const kc = h('td', { class: 'k', text: k });
      kc.style.paddingLeft = 6 + depth * 16 + 'px';
      if (isPlainObject(v) && Object.keys(v).length && !isMediaRef(v)) {
        tbody.append(h('tr', { class: 'branch', dataset: { key: path } }, kc, h('td', { class: 'v' })));
        walk(v, depth + 1, path);
      } else {
        tbody.append(h('tr', { dataset: { key: path } }, kc, h('td', { class: 'v', text: fmtValue(v) })));
      }
    }
  };
  if (isPlainObject(obj)) walk(obj, 0, '');
  if (!tbody.children.length) tbody.append(h('tr', null, h('td', { class: 'muted', colspan: 2, text: '(empty)' })));
  return h('table', { id, class: 'kv' }, tbody);
}

/** Pairs as a key/value table (empty values left out). @param {[string, any][]} pairs @param {string} id */
function kvTable(pairs, id) {
  /** @param {string} k @param {any} v */
  const show = (k, v) => (v instanceof Node ? v : TIME_KEYS.test(k) && isNum(v) && v > 1e8 ? fmtTime(v) : fmtValue(v));
  const rows = pairs.filter(([, v]) => !isMissing(v)).map(([k, v]) => h('tr', { dataset: { key: k } },
    h('td', { class: 'k', text: k }), h('td', { class: 'v' }, show(k, v))));
  return h('table', { id, class: 'kv' }, h('tbody', null, rows.length ? rows : h('tr', null, h('td', { class: 'muted', text: '(none)' }))));
}

/** @param {unknown} list @param {string} key @returns {number} */
const sumOf = (list, key) => (Array.isArray(list) ? list.reduce((s, x) => s + (isPlainObject(x) && isNum(x[key]) ? x[key] : 0), 0) : 0);

/** @param {HTMLElement} body @param {string} ref @param {any} run the /ui/api/run answer */
export function overviewTab(body, ref, run) {
  const lost = isNum(run.lost) ? run.lost : sumOf(run.sessions, 'lost');
  const dropped = isNum(run.dropped) ? run.dropped : sumOf(run.sessions, 'dropped');
  const edit = annotationEditors(ref, run, renamed);
  const info = kvTable([
    ['name', edit.name], ['id', run.id], ['project', run.project], ['state', stateBadge(run.state, !!run.live)],
    ['exit code', run.exit_code], ['group', run.group], ['job type', run.job_type],
    ['tags', edit.tags], ['host', run.host], ['job id', run.job_id],
    ['started', fmtTime(run.start_time)], ['last write', fmtTime(run.last_write)], ['duration', fmtDuration(run.duration)],
    ['steps', run.steps], ['lost records', lost], ['dropped rows', dropped], ['ref', ref],
  ], 'run-info');
  const notes = h('div', { class: 'notes-row' }, h('h4', { text: 'notes' }), edit.notes);
  const left = h('div', null,
    card('Config', nestedTable(run.config, 'config-table')),
    card('Summary', nestedTable(run.summary, 'summary-table')));
  const right = h('div', null,
    card('Run', info, notes),
    card('Problems', problemsBlock(run.problems, run)),
    card('Environment', envBlock(run.environment, run)),
    card('Sessions', sessionsTable(run.sessions)),
    card('Alerts', alertsBlock(run.alerts)));
  body.replaceChildren(h('div', { class: 'overview' }, left, right));
}

/** The page's header after a rename (run.js draws it): the name and the window's title. @param {{name: string}} a */
function renamed(a) {
  const header = document.querySelector('.run-header .run-name');
  if (header) header.textContent = a.name;
  document.title = a.name + ' · runship';
}

/** @param {unknown} env @param {any} run @returns {Kid} */
function envBlock(env, run) {
  if (!isPlainObject(env)) return h('p', { class: 'muted', text: 'no environment recorded' });
  const known = ['host', 'user', 'python', 'platform', 'executable', 'argv', 'cwd', 'pid', 'cpu_count', 'cuda_visible_devices'];
  const skip = ['git', 'scheduler', 'packages', 'diff', 'git_diff'];
  /** @type {[string, any][]} */
  const pairs = known.filter((k) => k in env).map((k) => [k, k === 'argv' && Array.isArray(env.argv) ? env.argv.join(' ') : env[k]]);
  for (const [k, v] of Object.entries(env)) if (!known.includes(k) && !skip.includes(k)) pairs.push([k, v]);
  /** @type {HTMLElement[]} */
  const out = [kvTable(pairs, 'env-table')];
  const git = isPlainObject(env.git) ? env.git : isPlainObject(run.git) ? run.git : null;
  if (git) out.push(h('h4', { text: 'git' }), kvTable(Object.entries(git).filter(([k]) => k !== 'diff'), 'git-table'));
  const diff = [git && git.diff, env.diff, env.git_diff, run.diff].find((d) => typeof d === 'string' && d);
  if (diff) {
    out.push(h('details', { class: 'git-diff' }, h('summary', { text: `git diff (${diff.split('\n').length} lines)` }), h('pre', { class: 'diff', text: diff })));
  }
  if (isPlainObject(env.scheduler)) out.push(h('h4', { text: 'scheduler job' }), kvTable(Object.entries(env.scheduler), 'scheduler-table'));
  if (Array.isArray(env.packages) && env.packages.length) {
    out.push(h('details', null, h('summary', { text: `packages (${env.packages.length})` }), h('pre', { class: 'block', text: env.packages.map(String).join('\n') })));
  }
  return out;
}

const TIME_KEYS = /^(t|start|end|last|time|start_time|end_time|last_write|started|ended)$/;

/** A session's column: its header and its cell. @typedef {[string, (s: Record<string, any>) => HTMLElement]} SessionColumn */

/** A time within the start's day as its time of day only. @param {unknown} t @param {unknown} start */
function fmtEnd(t, start) {
  const text = fmtTime(t);
  const day = fmtTime(start).slice(0, 10);
  return isNum(t) && text.startsWith(day) ? text.slice(11) : text;
}

/** How a session ended, in words. @param {Record<string, any>} s @returns {string} */
function sessionEnd(s) {
  if (s.signal) return `signal ${fmtValue(s.signal)}` + (isNum(s.exit_code) ? ` (exit ${s.exit_code})` : '');
  if (isNum(s.exit_code)) return `exit ${s.exit_code}`;
  return 'no finish';
}

/** The sessions as a table that fits its card: the columns that say something (flags only
 * where a session has them), cells that may wrap. @param {unknown} sessions */
function sessionsTable(sessions) {
  if (!Array.isArray(sessions) || !sessions.length) return h('p', { class: 'muted', text: 'no sessions' });
  /** @type {Record<string, any>[]} */
  const list = sessions.filter(isPlainObject);
  /** @param {string} k @param {Record<string, any>} s */
  const text = (k, s) => h('td', { class: typeof s[k] === 'number' ? 'num' : null, text: fmtValue(s[k]) });
  /** @param {string} k */
  const any = (k) => list.some((s) => s[k] !== undefined && s[k] !== null && s[k] !== false && s[k] !== 0);
  /** @type {SessionColumn[]} */
  const cols = [
    ['id', (s) => h('td', { class: 'session-id wrap', text: fmtValue(s.id) })],
    ['host', (s) => h('td', { class: 'wrap', text: fmtValue(s.host) })],
    ['pid', (s) => text('pid', s)],
    ['start', (s) => h('td', { class: 'at', text: fmtTime(s.start), title: String(s.start) })],
    ['last write', (s) => h('td', { text: fmtEnd(s.last, s.start), title: String(s.last) })],
    ['rows', (s) => text('rows', s)],
    ['end', (s) => h('td', { text: sessionEnd(s) })],
  ];
  for (const k of ['resumed', 'reset', 'blind', 'shifted_by', 'lost', 'dropped', 'dropped_by_reset']) if (any(k)) cols.push([k.replace(/_/g, ' '), (s) => text(k, s)]);
  if (any('placement')) cols.push(['rank', (s) => h('td', { text: isPlainObject(s.placement) ? fmtValue(s.placement.rank) : '' })]);
  cols.push(['files', (s) => {
    const files = Array.isArray(s.files) ? s.files.map(String) : [];
    return h('td', { class: 'num', text: String(files.length), title: files.join('\n') });
  }]);
  const rows = list.map((s) => h('tr', { class: s.reset ? 'reset-row' : null, dataset: { session: s.id } }, cols.map(([, cell]) => cell(s))));
  return h('div', { class: 'table-scroll' }, h('table', { id: 'sessions-table', class: 'grid-table sessions-table' },
    h('thead', null, h('tr', null, cols.map(([c]) => h('th', { text: c })))), h('tbody', null, rows)));
}

/** @param {unknown} alerts */
function alertsBlock(alerts) {
  if (!Array.isArray(alerts) || !alerts.length) return h('p', { class: 'muted', text: 'no alerts' });
  return h('div', { class: 'table-scroll' }, h('table', { id: 'alerts-table', class: 'grid-table' },
    h('thead', null, h('tr', null, ['time', 'level', 'title', 'text'].map((c) => h('th', { text: c })))),
    h('tbody', null, alerts.filter(isPlainObject).map((a) => h('tr', { class: 'alert-' + (['INFO', 'WARN', 'ERROR'].includes(a.level) ? a.level : 'INFO') },
      h('td', { text: fmtTime(a.t) }), h('td', { text: fmtValue(a.level) }), h('td', { text: fmtValue(a.title) }), h('td', { text: fmtValue(a.text) }))))));
}

/** What is known of how a run ended, when it did not end well (null: nothing to say). @param {any} run @returns {string | null} */
function endingNote(run) {
  const last = isNum(run.last_write) ? ` (last write ${fmtTime(run.last_write)})` : '';
  switch (run.state) {
    case 'crashed': return `ended without finish(): killed (SIGKILL, out of memory, a lost node) or crashed${last}`;
    case 'terminated': return `terminated by a signal before it finished${last}`;
    case 'failed': return `exited with code ${fmtValue(run.exit_code)}`;
    case 'unreadable': return 'the run could not be read';
    default: return null;
  }
}

/** @param {unknown} problems @param {any} run */
function problemsBlock(problems, run) {
  const list = Array.isArray(problems) ? problems : isNum(problems) && problems > 0 ? [`${problems} problem(s)`] : [];
  const ending = endingNote(run);
  const end = ending ? h('p', { class: 'ending-note', id: 'ending-note', text: ending }) : null;
  if (!list.length) return end || h('p', { class: 'no-problems', text: 'no problems' });
  return [end, h('div', { id: 'problems' }, list.map((p) => h('div', {
    class: 'problem',
    text: isPlainObject(p) ? `${fmtValue(p.path)}: ${fmtValue(p.message)} (byte ${fmtValue(p.offset)}, ${fmtValue(p.kind)})` : fmtValue(p),
  })))];
}
