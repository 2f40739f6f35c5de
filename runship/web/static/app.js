/* runship ui: the browser side of `runship ui` (JSON API: docs/UI.md).
 *
 * One file, no build step, no framework; charts by uPlot (global `uPlot`).
 * Sections:  1. util / dom   2. api   3. router / view lifecycle
 *            4. filter expressions   5. charts (ChartsView)   6. runs view
 *            7. run page   8. compare page   9. boot
 *
 * Safety: every string that comes from the API goes into the page as text
 * (textContent, createTextNode, setAttribute); no innerHTML with data, no eval.
 */
(() => {
  'use strict';

  // ============================================================ 1. util / dom

  // Test hooks (read by the browser tests; keep the names).
  const RS = (window.runship = { charts: {}, ready: false, requests: 0 });
  RS.zoom = () => {};
  RS.resetZoom = () => {};

  const NOT_SIGNED_IN = 'Not signed in: open the URL printed by runship ui (it carries the token)';
  // 20 colors that stay apart from each other on white (no near-duplicates)
  const PALETTE = [
    '#4363d8', '#e6194b', '#3cb44b', '#f58231', '#911eb4', '#1fa2c4', '#d43fc9', '#7f9f1f', '#9a6324', '#469990',
    '#800000', '#d4a017', '#000075', '#e07fb0', '#808000', '#5f5f5f', '#8b7fd6', '#2e8b57', '#c45c26', '#2f4f4f',
  ];
  const STATES = ['running', 'finished', 'failed', 'crashed', 'terminated', 'preempted', 'unreadable'];

  /** Make an element. attrs: class, text, dataset, on<event>, value/checked (properties), others as attributes. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    const props = {};
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = String(v);
        else if (k === 'dataset') {
          for (const [dk, dv] of Object.entries(v)) if (dv !== undefined && dv !== null) el.dataset[dk] = String(dv);
        } else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'value' || k === 'checked' || k === 'selected') props[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    Object.assign(el, props);
    return el;
  }

  const $ = (sel, root = document) => root.querySelector(sel);
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const isMissing = (v) => v === undefined || v === null || v === '';
  const enc = (s) => encodeURIComponent(String(s));
  function dec(s) {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  }
  function debounce(fn, ms) {
    let t = null;
    const d = (...a) => { clearTimeout(t); t = setTimeout(() => { t = null; fn(...a); }, ms); };
    d.cancel = () => clearTimeout(t);
    return d;
  }

  /** FNV-1a 32-bit hash: a run's stable color. */
  function fnv1a(str) {
    let x = 0x811c9dc5;
    for (let i = 0; i < str.length; i++) {
      x ^= str.charCodeAt(i);
      x = Math.imul(x, 0x01000193);
    }
    return x >>> 0;
  }
  // A run's color: by its place among its project's runs in order of start
  // (runs started close together, as a sweep's, get different colors; a new
  // run takes the next one and older runs keep theirs), learned from the
  // latest listing; a run not listed yet: by a hash of its ref.
  const colorMap = new Map();
  function assignColors(runs, all) {
    if (all) colorMap.clear(); // a listing of every project replaces what is known
    const byProject = new Map();
    for (const r of runs) {
      const p = String(r.project);
      if (!byProject.has(p)) byProject.set(p, []);
      byProject.get(p).push(r);
    }
    for (const list of byProject.values()) {
      list.sort((a, b) => (Number(a.start_time) || 0) - (Number(b.start_time) || 0) || (String(a.ref) < String(b.ref) ? -1 : 1));
      list.forEach((r, i) => colorMap.set(String(r.ref), PALETTE[i % PALETTE.length]));
    }
  }
  const colorOf = (ref) => colorMap.get(String(ref)) || PALETTE[fnv1a(String(ref)) % PALETTE.length];
  function rgba(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
  }

  /** A number from a value: numbers, the strings "NaN"/"Infinity"/"-Infinity", numeric strings. */
  function toNumber(v) {
    if (typeof v === 'number') return v;
    if (typeof v !== 'string') return undefined;
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    return NUMBER_RE.test(v.trim()) ? Number(v) : undefined;
  }
  const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

  function fmtNum(v) {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e16) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, 'e').replace('e+', 'e');
    return String(Number(v.toPrecision(5)));
  }
  function fmtTick(v) {
    if (v === null || v === undefined) return '';
    const a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('.0e', 'e').replace('e+', 'e');
    return String(Number(v.toPrecision(4)));
  }
  /** A logged media reference ({"_type": ...}) in a few words. */
  function describeMedia(v) {
    const t = String(v._type);
    if (t === 'histogram') return `histogram (${Array.isArray(v.values) ? v.values.length : '?'} bins)`;
    if (t === 'table-file') return `table (${fmtValue(v.nrows)} rows × ${fmtValue(v.ncols)} columns)`;
    if (t === 'image-file') return `image ${fmtValue(v.width)}×${fmtValue(v.height)}` + (isMissing(v.caption) ? '' : ` "${v.caption}"`);
    return t.replace(/-file$/, '');
  }
  const isMediaRef = (v) => isPlainObject(v) && typeof v._type === 'string';

  function fmtValue(v) {
    if (v === undefined || v === null) return '';
    if (isMediaRef(v)) return describeMedia(v);
    if (typeof v === 'number') return fmtNum(v);
    if (typeof v === 'string') return v;
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    let s;
    try { s = JSON.stringify(v); } catch (e) { s = String(v); }
    return s.length > 500 ? s.slice(0, 500) + '…' : s;
  }
  const pad2 = (n) => String(n).padStart(2, '0');
  function fmtTime(t) {
    if (!isNum(t)) return '';
    const d = new Date(t * 1000);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  function fmtDuration(s) {
    if (!isNum(s) || s < 0) return '';
    s = Math.round(s);
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d}d ${pad2(hh)}h`;
    if (hh) return `${hh}h ${pad2(m)}m`;
    if (m) return `${m}m ${pad2(sec)}s`;
    return `${sec}s`;
  }
  function fmtBytes(n) {
    if (!isNum(n)) return '';
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }

  /** Nested maps to dotted keys; other values (arrays included) kept as they are. */
  function flatten(obj, prefix = '', out = {}) {
    if (!isPlainObject(obj)) return out;
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? prefix + '.' + k : k;
      if (isPlainObject(v) && Object.keys(v).length && !isMediaRef(v)) flatten(v, key, out);
      else out[key] = v;
    }
    return out;
  }

  /** Compare for sorting: numbers numerically, then strings; missing values always last. */
  function compareValues(a, b, desc) {
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

  function downloadUrl(url, name) {
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
  }
  function downloadBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    downloadUrl(url, name);
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  const safeFileName = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'chart';

  function stateBadge(state, live) {
    const st = STATES.includes(state) ? state : 'unknown';
    return h('span', { class: 'badge state-' + st }, live ? h('span', { class: 'live-dot' }) : null, String(state || 'unknown'));
  }

  // ================================================================= 2. api

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** Query string: arrays become repeated parameters (run=A&run=B). */
  function query(params) {
    const parts = [];
    for (const [k, v] of Object.entries(params || {})) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const x of v) parts.push(enc(k) + '=' + enc(x));
      else parts.push(enc(k) + '=' + enc(v));
    }
    return parts.join('&');
  }
  const apiUrl = (name, params) => '/ui/api/' + name + (params ? '?' + query(params) : '');
  const fileUrl = (ref, path, download) => apiUrl('file', download ? { run: ref, path, download: 1 } : { run: ref, path });

  /** GET a JSON API endpoint. Throws ApiError (or AbortError when the view is left). */
  async function api(name, params, signal) {
    RS.requests++;
    let resp;
    try {
      resp = await fetch(apiUrl(name, params), { signal, credentials: 'same-origin', headers: { Accept: 'application/json' } });
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

  const statusEl = () => document.getElementById('status');
  function setStatus(msg, level = 'error') {
    const el = statusEl();
    if (!el) return;
    el.textContent = msg;
    el.className = level;
    el.hidden = false;
  }
  function clearStatus() {
    const el = statusEl();
    if (el) { el.textContent = ''; el.hidden = true; }
  }
  /** Show an error in #status; a view being left (AbortError) is not an error. */
  function report(err) {
    if (!err || err.name === 'AbortError') return;
    setStatus(err instanceof ApiError ? err.message : 'error: ' + (err.message || String(err)));
  }

  // ===================================================== 3. router / view lifecycle

  /** Parameters of the hash's query part: list values are comma-joined, each item URI-encoded. */
  class Params {
    constructor(qs) {
      this.map = new Map();
      for (const part of (qs || '').split('&')) {
        if (!part) continue;
        const i = part.indexOf('=');
        this.map.set(dec(i < 0 ? part : part.slice(0, i)), i < 0 ? '' : part.slice(i + 1));
      }
    }
    has(k) { return this.map.has(k); }
    get(k, d = '') { return this.map.has(k) ? dec(this.map.get(k)) : d; }
    list(k) {
      const raw = this.map.get(k);
      return raw ? raw.split(',').filter((s) => s !== '').map(dec) : [];
    }
    num(k, d) {
      const v = parseFloat(this.get(k));
      return Number.isFinite(v) ? v : d;
    }
    /** null/''/false/[] remove the parameter; keep=true keeps an empty list ("cols="). */
    set(k, v, keep = false) {
      if (Array.isArray(v)) {
        if (!v.length && !keep) this.map.delete(k);
        else this.map.set(k, v.map(enc).join(','));
      } else if (v === null || v === undefined || v === '' || v === false) this.map.delete(k);
      else this.map.set(k, enc(v));
      return this;
    }
    toString() { return [...this.map].map(([k, v]) => enc(k) + '=' + v).join('&'); }
  }

  function parseHash() {
    let hash = location.hash.replace(/^#/, '');
    if (!hash || hash === '/') hash = '/runs';
    const qi = hash.indexOf('?');
    const path = qi < 0 ? hash : hash.slice(0, qi);
    return { path, params: new Params(qi < 0 ? '' : hash.slice(qi + 1)) };
  }
  const hashFor = (path, params) => {
    const s = params ? params.toString() : '';
    return '#' + path + (s ? '?' + s : '');
  };
  /** Record view state in the URL without a navigation (no hashchange, no history entry). */
  function replaceHash(path, params) {
    const hash = hashFor(path, params);
    if (location.hash !== hash) history.replaceState(history.state, '', hash);
  }
  const runHash = (ref, tab) => '#/run/' + enc(ref) + (tab ? '?tab=' + enc(tab) : '');
  const compareHash = (refs) => '#/compare?runs=' + refs.map(enc).join(',');

  /** One view's lifetime: its fetches are aborted and its timers cleared when it is left. */
  class ViewCtx {
    constructor() {
      this.ac = new AbortController();
      this.signal = this.ac.signal;
      this.alive = true;
      this.cleanups = [];
      this.timers = new Set();
    }
    onCleanup(fn) { this.cleanups.push(fn); }
    later(fn, ms) {
      const id = setTimeout(() => {
        this.timers.delete(id);
        if (this.alive) Promise.resolve().then(fn).catch(report);
      }, ms);
      this.timers.add(id);
      return id;
    }
    cancel(id) {
      if (id !== null && id !== undefined) { clearTimeout(id); this.timers.delete(id); }
    }
    ready() { if (this.alive) RS.ready = true; }
    close() {
      this.alive = false;
      this.ac.abort();
      for (const id of this.timers) clearTimeout(id);
      this.timers.clear();
      for (const fn of this.cleanups.splice(0)) {
        try { fn(); } catch (e) { /* keep tearing down */ }
      }
    }
  }

  let current = null;
  let lastRunsHash = '#/runs';
  let lastSelection = [];

  function updateNav(which) {
    for (const a of document.querySelectorAll('.topnav .nav')) a.classList.toggle('active', a.dataset.nav === which);
    const runsLink = $('.topnav .nav[data-nav=runs]');
    if (runsLink) runsLink.setAttribute('href', lastRunsHash);
    const cmp = $('.topnav .nav[data-nav=compare]');
    if (cmp) cmp.setAttribute('href', lastSelection.length ? compareHash(lastSelection) : '#/compare');
  }

  function route() {
    if (current) current.close();
    RS.ready = false;
    for (const k of Object.keys(RS.charts)) delete RS.charts[k];
    RS.zoom = () => {};
    RS.resetZoom = () => {};
    clearStatus();
    const ctx = (current = new ViewCtx());
    const main = document.getElementById('main');
    main.replaceChildren();
    window.scrollTo(0, 0);
    const { path, params } = parseHash();
    let p;
    if (path.startsWith('/run/')) {
      updateNav('run');
      p = runPage(ctx, main, dec(path.slice(5)), params);
    } else if (path === '/compare') {
      updateNav('compare');
      p = comparePage(ctx, main, params);
    } else {
      updateNav('runs');
      p = runsPage(ctx, main, params);
    }
    Promise.resolve(p).catch((e) => { report(e); ctx.ready(); });
  }

  // ================================================== 4. filter expressions
  //
  // PATH OP VALUE comparisons (OP: < <= > >= == != ~), combined with and, or,
  // not and parentheses. PATH: config.KEY, summary.KEY or a run field (state,
  // group, tags, name, ...). VALUE: a number, a quoted string or a bare word.
  // A small recursive-descent parser; nothing is evaluated as code.

  const OPS = ['<=', '>=', '==', '!=', '<', '>', '=', '~'];
  const WORD_STOP = /[\s()<>=!~"']/;
  const FIELDS = ['state', 'group', 'tags', 'name', 'id', 'host', 'job_type', 'job_id', 'project', 'steps', 'duration',
    'start_time', 'last_write', 'live', 'ref'];

  function tokenize(src) {
    const toks = [];
    let i = 0;
    while (i < src.length) {
      const c = src[i];
      if (/\s/.test(c)) { i++; continue; }
      if (c === '(' || c === ')') { toks.push({ t: c, pos: i }); i++; continue; }
      const op = OPS.find((o) => src.startsWith(o, i));
      if (op) { toks.push({ t: 'op', v: op === '=' ? '==' : op, pos: i }); i += op.length; continue; }
      if (c === '!') throw new Error(`unexpected '!' at ${i + 1} (did you mean != ?)`);
      if (c === '"' || c === "'") {
        let j = i + 1, s = '';
        while (j < src.length && src[j] !== c) {
          if (src[j] === '\\' && j + 1 < src.length) j++;
          s += src[j++];
        }
        if (j >= src.length) throw new Error(`unterminated string at ${i + 1}`);
        toks.push({ t: 'str', v: s, pos: i });
        i = j + 1;
        continue;
      }
      let j = i;
      while (j < src.length && !WORD_STOP.test(src[j])) j++;
      const w = src.slice(i, j);
      const lw = w.toLowerCase();
      if (lw === 'and' || lw === 'or' || lw === 'not') toks.push({ t: lw, pos: i });
      else toks.push({ t: 'word', v: w, pos: i });
      i = j;
    }
    return toks;
  }

  function parseExpression(src) {
    const toks = tokenize(src);
    let k = 0;
    const peek = () => toks[k];
    const what = (t) => (!t ? 'end of expression' : t.v !== undefined ? `'${t.v}'` : `'${t.t}'`);
    const fail = (msg, t) => { throw new Error(msg + (t ? ` at ${t.pos + 1}` : '')); };
    function or() {
      let a = and();
      while (peek() && peek().t === 'or') { k++; a = { type: 'or', a, b: and() }; }
      return a;
    }
    function and() {
      let a = not();
      while (peek() && peek().t === 'and') { k++; a = { type: 'and', a, b: not() }; }
      return a;
    }
    function not() {
      if (peek() && peek().t === 'not') { k++; return { type: 'not', a: not() }; }
      return primary();
    }
    function primary() {
      const t = toks[k++];
      if (!t) fail('incomplete expression');
      if (t.t === '(') {
        const e = or();
        if (!peek() || peek().t !== ')') fail(`expected ')' but found ${what(peek())}`, peek());
        k++;
        return e;
      }
      if (t.t !== 'word') fail(`expected a name (config.KEY, summary.KEY, state, ...) but found ${what(t)}`, t);
      const path = t.v;
      if (!path.startsWith('config.') && !path.startsWith('summary.') && !FIELDS.includes(path)) {
        fail(`unknown name '${path}' (use config.KEY, summary.KEY or ${FIELDS.slice(0, 6).join(', ')}, ...)`, t);
      }
      if (!peek() || peek().t !== 'op') return { type: 'truthy', path };
      const op = toks[k++].v;
      const v = toks[k++];
      if (!v || (v.t !== 'word' && v.t !== 'str')) fail(`expected a value after '${op}' but found ${what(v)}`, v);
      let value = v.v;
      if (v.t === 'word') {
        if (NUMBER_RE.test(value)) value = Number(value);
        else if (value.toLowerCase() === 'null' || value.toLowerCase() === 'none') value = null;
      }
      return { type: 'cmp', path, op, value };
    }
    if (!toks.length) fail('empty expression');
    const tree = or();
    if (k < toks.length) fail(`unexpected ${what(toks[k])}`, toks[k]);
    return tree;
  }

  function resolvePath(run, path) {
    if (path.startsWith('config.')) return run._cfg[path.slice(7)];
    if (path.startsWith('summary.')) return run._sum[path.slice(8)];
    return run[path];
  }

  function compareOp(lhs, op, rhs) {
    if (rhs === null) {
      const missing = isMissing(lhs);
      return op === '==' ? missing : op === '!=' ? !missing : false;
    }
    if (isMissing(lhs)) return op === '!=';
    if (Array.isArray(lhs)) {
      if (op === '!=') return !lhs.some((x) => compareOp(x, '==', rhs));
      return lhs.some((x) => compareOp(x, op, rhs));
    }
    if (op === '~') return fmtValue(lhs).toLowerCase().includes(String(rhs).toLowerCase());
    if (typeof rhs === 'number') {
      const ln = toNumber(lhs);
      if (ln === undefined) return op === '!=';
      switch (op) {
        case '<': return ln < rhs;
        case '<=': return ln <= rhs;
        case '>': return ln > rhs;
        case '>=': return ln >= rhs;
        case '==': return ln === rhs;
        case '!=': return ln !== rhs;
      }
      return false;
    }
    const ls = fmtValue(lhs), rs = String(rhs);
    switch (op) {
      case '==': return ls === rs;
      case '!=': return ls !== rs;
      case '<': return ls < rs;
      case '<=': return ls <= rs;
      case '>': return ls > rs;
      case '>=': return ls >= rs;
    }
    return false;
  }

  function evaluate(node, run) {
    switch (node.type) {
      case 'or': return evaluate(node.a, run) || evaluate(node.b, run);
      case 'and': return evaluate(node.a, run) && evaluate(node.b, run);
      case 'not': return !evaluate(node.a, run);
      case 'truthy': {
        const v = resolvePath(run, node.path);
        return !isMissing(v) && v !== false && v !== 0 && !(Array.isArray(v) && !v.length);
      }
      case 'cmp': return compareOp(resolvePath(run, node.path), node.op, node.value);
    }
    return false;
  }

  /** Is the filter text an expression (else: a plain substring search)? */
  function looksLikeExpression(q) {
    if (/(^|\s)(and|or)(\s|$)/i.test(q) || /^\s*(not\s|\()/i.test(q)) return true;
    if (!/[<>=!~]/.test(q)) return false;
    if (/(config|summary)\.\S/.test(q)) return true;
    return new RegExp('^\\s*(' + FIELDS.join('|') + ')\\s*[<>=!~]').test(q);
  }

  /** {fn, error}: fn(run) -> bool, or null (filters nothing) with an error message. */
  function compileFilter(q) {
    q = (q || '').trim();
    if (!q) return { fn: null, error: '' };
    if (looksLikeExpression(q)) {
      try {
        const tree = parseExpression(q);
        return { fn: (run) => evaluate(tree, run), error: '' };
      } catch (e) {
        return { fn: null, error: e.message };
      }
    }
    const needle = q.toLowerCase();
    return {
      fn: (r) => [r.name, r.id, r.group, r.host, ...(r.tags || [])].some((v) => !isMissing(v) && String(v).toLowerCase().includes(needle)),
      error: '',
    };
  }

  // ============================================================ 5. charts
  //
  // ChartsView: one panel per key, sectioned by the prefix before the first
  // "/"; panels are drawn lazily (IntersectionObserver) from batched series
  // requests (up to 10 keys, all shown runs); smoothing, log scale, zoom
  // (refetched for the range) and live refresh. Used by the runs view, the
  // run page's charts tab and its system tab.

  const PLOT_H = 210;
  const DERIVED_X = ['_step', '_runtime', '_timestamp'];
  const collapsedSections = new Set(); // section names the user folded, kept across views
  const naturalCompare = (a, b) => String(a).localeCompare(String(b), undefined, { numeric: true });

  function sectionOfKey(key) {
    const i = key.indexOf('/');
    return i > 0 ? key.slice(0, i) : 'charts';
  }
  function defaultSectionOrder(a, b) {
    if (a === b) return 0;
    if (a === 'charts') return -1;
    if (b === 'charts') return 1;
    return naturalCompare(a, b);
  }

  /** TensorBoard's smoothing: EMA with debiasing over non-null values; null stays null. */
  function ema(vals, w) {
    const out = new Array(vals.length);
    let last = 0, n = 0;
    for (let i = 0; i < vals.length; i++) {
      const y = vals[i];
      if (y === null) { out[i] = null; continue; }
      last = last * w + (1 - w) * y;
      n++;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  }

  /** Sorted union of numeric x arrays, without duplicates. */
  function unionSorted(arrays) {
    const all = [];
    for (const a of arrays) for (const v of a) if (isNum(v)) all.push(v);
    all.sort((a, b) => a - b);
    const out = [];
    for (const v of all) if (!out.length || out[out.length - 1] !== v) out.push(v);
    return out;
  }

  /** A run's values linearly interpolated onto xs (inside the run's own x range only). */
  function interpOnto(xs, lx, ly) {
    const px = [], py = [];
    for (let i = 0; i < lx.length; i++) if (ly[i] !== null && isNum(lx[i])) { px.push(lx[i]); py.push(ly[i]); }
    const out = new Array(xs.length).fill(null);
    if (!px.length) return out;
    let j = 0;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      if (x < px[0] || x > px[px.length - 1]) continue;
      while (j < px.length - 1 && px[j + 1] < x) j++;
      if (px[j] === x) out[i] = py[j];
      else if (j + 1 < px.length) {
        const x0 = px[j], x1 = px[j + 1];
        out[i] = x1 === x ? py[j + 1] : py[j] + ((py[j + 1] - py[j]) * (x - x0)) / (x1 - x0);
      }
    }
    return out;
  }

  /** Mean, min and max across arrays aligned on the same x. */
  function aggregate(n, arrays) {
    const mean = new Array(n).fill(null), min = new Array(n).fill(null), max = new Array(n).fill(null);
    for (let i = 0; i < n; i++) {
      let s = 0, c = 0, lo = Infinity, hi = -Infinity;
      for (const a of arrays) {
        const v = a[i];
        if (v === null) continue;
        s += v; c++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (c) { mean[i] = s / c; min[i] = lo; max[i] = hi; }
    }
    return { mean, min, max };
  }

  /** Index of the non-null value whose x is nearest to x (xs ascending), or -1. */
  function nearestDefined(xs, ys, x) {
    let lo = 0, hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    let best = -1, bestD = Infinity;
    for (let i = lo, k = 0; i < xs.length && k < 64; i++, k++) {
      if (ys[i] !== null && ys[i] !== undefined) { best = i; bestD = Math.abs(xs[i] - x); break; }
    }
    for (let i = lo - 1, k = 0; i >= 0 && k < 64; i--, k++) {
      if (ys[i] !== null && ys[i] !== undefined) {
        if (Math.abs(xs[i] - x) < bestD) best = i;
        break;
      }
    }
    return best;
  }

  /** x-axis choices: _step, _runtime, _timestamp and every step_metric some run defines. */
  function xOptionsOf(details) {
    const out = [...DERIVED_X];
    for (const d of details) {
      const m = d && d.metrics;
      let specs = [];
      if (Array.isArray(m)) specs = m;
      else if (isPlainObject(m)) specs = Object.entries(m).map(([name, s]) => (isPlainObject(s) ? Object.assign({ name }, s) : null));
      for (const s of specs) {
        if (s && typeof s.step_metric === 'string' && s.step_metric && !out.includes(s.step_metric)) out.push(s.step_metric);
      }
    }
    return out;
  }

  /** Union of the runs' numeric keys (kind "number"), sorted. */
  function numberKeysOf(details) {
    const set = new Set();
    for (const d of details) {
      for (const k of d && Array.isArray(d.keys) ? d.keys : []) {
        if (k && k.kind === 'number' && typeof k.key === 'string' && !DERIVED_X.includes(k.key)) set.add(k.key);
      }
    }
    return [...set].sort(naturalCompare);
  }

  const faintSeries = (label, color) => ({ label: label + ' (raw)', stroke: rgba(color, 0.22), width: 1, spanGaps: true, points: { show: false } });
  const lineSeries = (label, color, width) => ({ label, stroke: color, width, spanGaps: true, points: { size: 4 } });
  const edgeSeries = (color) => ({ label: '', stroke: rgba(color, 0.3), width: 1, spanGaps: true, points: { show: false } });

  class ChartsView {
    /**
     * o: runs [{ref, label, color, live}], keys, xOptions, params (the page's Params), save(),
     *    fetch(keys, {x, samples, lo, hi}) -> {REF: {KEY: {x, y}}},
     *    optional: groups [{label, color, refs}], fixedX, sectionOf, sectionOrder, title,
     *    onFirstRender(), liveMs, emptyText, collapseKey.
     */
    constructor(ctx, mount, o) {
      this.ctx = ctx;
      this.o = o;
      this.params = o.params;
      this.runs = o.runs;
      this.groups = o.groups && o.groups.length ? o.groups : null;
      this.dead = false;
      this.xOptions = o.xOptions.slice();
      this.x = o.fixedX || this.params.get('x') || this.xOptions[0];
      if (!this.xOptions.includes(this.x)) this.xOptions.push(this.x);
      this.smooth = clamp(this.params.num('smooth', 0), 0, 0.99);
      this.log = this.params.get('log') === '1';
      this.filter = this.params.get('panels');
      const z = this.params.list('zoom').map(Number);
      this.zoomRange = z.length === 2 && z.every(Number.isFinite) && z[0] < z[1] ? z : null;
      this.panels = new Map(); // key -> panel state
      this.panelByEl = new Map();
      this.data = new Map(); // key -> {REF: {x, y}}: replaced on every fetch
      this.queue = new Set();
      this.inflight = 0;
      this.flushTimer = null;
      this.raf = 0;
      this.firstDone = false;
      this.busy = false;
      this.syncKey = 'runship-charts'; // one key for all: uPlot keeps a registry entry per key
      this.root = h('div', { class: 'charts' });
      if (o.title) this.root.append(h('div', { class: 'charts-title', text: o.title }));
      mount.append(this.root);
      this.buildControls();
      this.buildPanels();
      this.io = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: '150px 0px' });
      for (const p of this.panels.values()) this.io.observe(p.el);
      this.onResize = debounce(() => this.resize(), 150);
      window.addEventListener('resize', this.onResize);
      this.liveTimer = setInterval(() => this.liveTick(), o.liveMs || 3000);
      this.zoomFn = (lo, hi) => this.zoom(lo, hi);
      this.resetFn = () => this.resetZoom();
      RS.zoom = this.zoomFn;
      RS.resetZoom = this.resetFn;
      this.updateZoomInfo();
      if (!this.panels.size) ctx.later(() => this.settle(), 0);
    }

    // ---- controls and layout
    buildControls() {
      const pf = h('input', { id: 'panel-filter', type: 'search', placeholder: 'filter panels (regex)', spellcheck: 'false', value: this.filter });
      this.pfError = h('span', { id: 'panel-filter-error', class: 'error' });
      const xs = h('select', { id: 'xaxis', title: 'x axis' }, this.xOptions.map((v) => h('option', { value: v, text: v })));
      xs.value = this.x;
      xs.disabled = this.xOptions.length < 2;
      const sm = h('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', value: String(this.smooth) });
      this.smLabel = h('span', { id: 'smoothing-value', text: this.smooth.toFixed(2) });
      const lg = h('input', { id: 'logscale', type: 'checkbox', checked: this.log });
      const rz = h('button', { id: 'reset-zoom', type: 'button', text: 'reset zoom', title: 'or double-click a chart' });
      this.zoomInfo = h('span', { class: 'zoom-info' });
      this.root.append(h('div', { class: 'chart-controls' },
        h('span', { class: 'pf' }, pf, this.pfError),
        h('label', null, 'x', xs),
        h('label', null, 'smoothing', sm, this.smLabel),
        h('label', null, lg, 'log y'),
        rz, this.zoomInfo));

      this.pfInput = debounce(() => { this.filter = pf.value; this.applyFilter(); this.saveState(); }, 200);
      pf.addEventListener('input', this.pfInput);
      xs.addEventListener('change', () => {
        this.x = xs.value;
        this.zoomRange = null;
        this.data.clear();
        this.saveState();
        this.refetchAll(true);
      });
      this.saveSoon = debounce(() => this.saveState(), 250);
      sm.addEventListener('input', () => {
        this.smooth = clamp(parseFloat(sm.value) || 0, 0, 0.99);
        this.smLabel.textContent = this.smooth.toFixed(2);
        this.saveSoon();
        this.redrawSoon();
      });
      sm.addEventListener('change', () => { this.saveSoon.cancel(); this.saveState(); });
      lg.addEventListener('change', () => { this.log = lg.checked; this.saveState(); this.redrawAll(); });
      rz.addEventListener('click', () => this.resetZoom());
    }

    buildPanels() {
      const sectionOf = this.o.sectionOf || sectionOfKey;
      const bySection = new Map();
      for (const key of this.o.keys) {
        const s = sectionOf(key);
        if (!bySection.has(s)) bySection.set(s, []);
        bySection.get(s).push(key);
      }
      const wrap = h('div', { class: 'sections' });
      if (!this.o.keys.length) wrap.append(h('p', { class: 'muted', text: this.o.emptyText || 'No numeric metrics logged.' }));
      this.sections = [];
      for (const name of [...bySection.keys()].sort(this.o.sectionOrder || defaultSectionOrder)) {
        const keys = bySection.get(name);
        const grid = h('div', { class: 'panel-grid' });
        const count = h('span', { class: 'n', text: `(${keys.length})` });
        const head = h('button', { type: 'button', class: 'section-head' }, h('span', { class: 'caret', text: '▾' }), h('span', { text: name }), count);
        const sec = h('section', { class: 'chart-section', dataset: { section: name } }, head, grid);
        const ck = (this.o.collapseKey || '') + '\u0000' + name;
        if (collapsedSections.has(ck)) sec.classList.add('collapsed');
        head.addEventListener('click', () => {
          const c = sec.classList.toggle('collapsed');
          if (c) collapsedSections.add(ck);
          else collapsedSections.delete(ck);
        });
        for (const key of keys) {
          const p = this.makePanel(key);
          grid.append(p.el);
          this.panels.set(key, p);
          this.panelByEl.set(p.el, p);
        }
        this.sections.push({ name, el: sec, keys, count });
        wrap.append(sec);
      }
      this.root.append(wrap);
      this.applyFilter();
    }

    makePanel(key) {
      const png = h('button', { class: 'png', type: 'button', title: 'download as PNG', text: 'PNG' });
      const csv = h('button', { class: 'csv', type: 'button', title: 'download the data as CSV', text: 'CSV' });
      const legend = h('div', { class: 'panel-legend' });
      const plot = h('div', { class: 'panel-plot' }, h('div', { class: 'placeholder', text: 'loading…' }));
      const el = h('div', { class: 'panel', dataset: { key } },
        h('div', { class: 'panel-head' }, h('span', { class: 'panel-title', title: key, text: key }), h('span', { class: 'panel-tools' }, png, csv)),
        legend, plot);
      png.addEventListener('click', () => this.downloadPng(key));
      csv.addEventListener('click', () => this.downloadCsv(key));
      return { key, el, plot, legend, u: null, sig: '', fetchedFor: null, visible: false, needsDraw: false, hook: null, legendLines: [], legendItems: null, lx: null };
    }

    applyFilter() {
      let re = null;
      this.pfError.textContent = '';
      if (this.filter) {
        try { re = new RegExp(this.filter, 'i'); } catch (e) { this.pfError.textContent = 'invalid regex: ' + e.message; }
      }
      for (const p of this.panels.values()) p.el.classList.toggle('hidden', !!re && !re.test(p.key));
      for (const s of this.sections) {
        const n = re ? s.keys.filter((k) => re.test(k)).length : s.keys.length;
        s.el.classList.toggle('hidden', n === 0);
        s.count.textContent = n === s.keys.length ? `(${n})` : `(${n} of ${s.keys.length})`;
      }
    }

    saveState() {
      if (this.dead) return;
      const P = this.params;
      if (!this.o.fixedX) P.set('x', this.x === this.xOptions[0] ? null : this.x);
      P.set('smooth', this.smooth > 0 ? this.smooth.toFixed(2) : null);
      P.set('log', this.log ? '1' : null);
      P.set('panels', this.filter || null);
      P.set('zoom', this.zoomRange ? this.zoomRange.map(String) : null);
      this.o.save();
    }

    updateZoomInfo() {
      this.zoomInfo.textContent = this.zoomRange ? `zoom ${fmtNum(this.zoomRange[0])} – ${fmtNum(this.zoomRange[1])}` : '';
    }

    // ---- fetching
    stateKey() { return this.x + '|' + (this.zoomRange ? this.zoomRange.join(',') : ''); }

    onIntersect(entries) {
      if (this.dead) return;
      const sk = this.stateKey();
      for (const e of entries) {
        const p = this.panelByEl.get(e.target);
        if (!p) continue;
        p.visible = e.isIntersecting;
        if (!p.visible) continue;
        if (p.fetchedFor !== sk) this.queue.add(p.key);
        else if (p.needsDraw) this.draw(p.key);
      }
      if (this.queue.size) this.schedule();
      else this.settle();
    }

    schedule() {
      if (!this.flushTimer && !this.dead) this.flushTimer = setTimeout(() => { this.flushTimer = null; this.flush(); }, 16);
    }

    flush() {
      if (this.dead) return;
      while (this.queue.size && this.inflight < 2) {
        const keys = [];
        for (const k of this.queue) { keys.push(k); if (keys.length >= 10) break; }
        for (const k of keys) this.queue.delete(k);
        this.inflight++;
        this.fetchBatch(keys).then(() => {
          this.inflight--;
          if (!this.dead) { this.flush(); this.settle(); }
        });
      }
    }

    /** One request for up to 10 keys and all shown runs; never rejects. */
    async fetchBatch(keys) {
      const sk = this.stateKey();
      let width = 0;
      for (const k of keys) { const p = this.panels.get(k); if (p) width = Math.max(width, p.plot.clientWidth); }
      const samples = clamp(Math.round(width) || 600, 200, 2000);
      const z = this.zoomRange;
      try {
        const res = await this.o.fetch(keys, { x: this.x, samples, lo: z ? z[0] : null, hi: z ? z[1] : null });
        if (this.dead || sk !== this.stateKey()) return;
        for (const key of keys) {
          const per = {};
          for (const r of this.runs) {
            const s = res && res[r.ref] && res[r.ref][key];
            if (s && Array.isArray(s.x) && Array.isArray(s.y)) per[r.ref] = s;
          }
          this.data.set(key, per);
          const p = this.panels.get(key);
          if (p) { p.fetchedFor = sk; this.draw(key); }
        }
      } catch (e) {
        if (this.dead) return;
        report(e);
        for (const key of keys) {
          const p = this.panels.get(key);
          if (p) { p.fetchedFor = sk; if (!p.u) this.placeholder(p, 'could not load'); }
        }
      }
    }

    /** After the queue drains: the first render, or the end of a zoom, makes the view ready. */
    settle() {
      if (this.dead || this.queue.size || this.inflight || this.flushTimer) return;
      if (!this.firstDone) {
        this.firstDone = true;
        this.busy = false;
        if (this.o.onFirstRender) this.o.onFirstRender();
        else this.ctx.ready();
      } else if (this.busy) {
        this.busy = false;
        this.ctx.ready();
      }
    }

    refetchAll(busy) {
      if (busy) { this.busy = true; RS.ready = false; }
      const zoom = this.zoomRange ? this.zoomRange.slice() : null;
      for (const p of this.panels.values()) {
        p.fetchedFor = null;
        if (p.u) this.applyZoom(p);
        if (p.hook) p.hook.zoom = zoom ? zoom.slice() : null;
        if (p.visible) this.queue.add(p.key);
      }
      this.updateZoomInfo();
      if (this.queue.size) this.schedule();
      else this.settle();
    }

    liveTick() {
      if (this.dead || document.hidden || this.inflight || this.queue.size || !this.runs.some((r) => r.live)) return;
      for (const p of this.panels.values()) {
        if (p.visible && p.fetchedFor !== null) { p.fetchedFor = null; this.queue.add(p.key); }
      }
      if (this.queue.size) this.schedule();
    }

    /** Live flags from a newer listing: charts stop refreshing when no shown run is live. */
    setLive(liveRefs) { for (const r of this.runs) r.live = liveRefs.has(r.ref); }

    // ---- zoom
    zoom(lo, hi) {
      if (this.dead) return;
      lo = Number(lo);
      hi = Number(hi);
      if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo === hi) return;
      if (lo > hi) [lo, hi] = [hi, lo];
      this.zoomRange = [lo, hi];
      this.saveState();
      this.refetchAll(true);
    }

    resetZoom() {
      if (this.dead) return;
      if (!this.zoomRange) {
        for (const p of this.panels.values()) if (p.u) this.applyZoom(p);
        return;
      }
      this.zoomRange = null;
      this.saveState();
      this.refetchAll(true);
    }

    applyZoom(p) {
      if (!p.u) return;
      const xs = p.u.data[0];
      if (this.zoomRange) p.u.setScale('x', { min: this.zoomRange[0], max: this.zoomRange[1] });
      else if (xs && xs.length > 1) p.u.setScale('x', { min: xs[0], max: xs[xs.length - 1] });
    }

    /** A drag on a chart: zoom every panel to that x range. */
    onSelect(u) {
      const sel = u.select;
      if (!sel || sel.width < 3) return;
      let lo = u.posToVal(sel.left, 'x'), hi = u.posToVal(sel.left + sel.width, 'x');
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      const xs = u.data[0];
      if (this.x === '_step' || (xs.length && xs.slice(0, 50).every(Number.isInteger))) {
        lo = Math.floor(lo);
        hi = Math.ceil(hi);
      } else {
        const digits = clamp(Math.ceil(-Math.log10(Math.abs(hi - lo) || 1)) + 3, 0, 12);
        lo = Number(lo.toFixed(digits));
        hi = Number(hi.toFixed(digits));
      }
      this.zoom(lo, hi);
    }

    // ---- drawing
    redrawSoon() {
      if (!this.raf) this.raf = requestAnimationFrame(() => { this.raf = 0; this.redrawAll(); });
    }
    redrawAll() {
      if (this.dead) return;
      for (const key of this.data.keys()) {
        const p = this.panels.get(key);
        if (!p) continue;
        if (p.visible || p.u) this.draw(key);
        else p.needsDraw = true;
      }
    }

    placeholder(p, text) { p.plot.replaceChildren(h('div', { class: 'placeholder', text })); }
    destroyPlot(p) {
      if (p.u) { p.u.destroy(); p.u = null; }
      p.sig = '';
    }

    draw(key) {
      const p = this.panels.get(key), d = this.data.get(key);
      if (!p || !d || this.dead) return;
      const width = p.plot.clientWidth;
      if (width < 40) { p.needsDraw = true; return; }
      p.needsDraw = false;
      const w = this.smooth, log = this.log;
      const lines = [];
      let points = 0;
      for (const r of this.runs) {
        const s = d[r.ref];
        if (!s || !s.x.length) continue;
        const n = Math.min(s.x.length, s.y.length);
        const lx = s.x.length === n ? s.x : s.x.slice(0, n);
        const raw = s.y.length === n ? s.y : s.y.slice(0, n);
        const vals = raw.map((v) => (isNum(v) && (!log || v > 0) ? v : null));
        for (const v of raw) if (v !== null && v !== undefined) points++;
        lines.push({ run: r, x: lx, raw, vals, sm: w > 0 ? ema(vals, w) : vals });
      }
      p.el.dataset.points = String(points);
      const anyValue = lines.some((l) => l.vals.some((v) => v !== null));
      if (!lines.length || !anyValue) {
        this.destroyPlot(p);
        this.placeholder(p, !lines.length ? 'no data' + (this.zoomRange ? ' in this range' : '') : log ? 'no positive values' : 'no finite values');
        p.legend.replaceChildren();
        p.legendItems = null;
        this.setHook(p, lines.map((l) => ({ ref: l.run.ref, label: l.run.label, color: l.run.color, x: l.x, y: l.sm, raw: l.raw })));
        return;
      }
      const xs = unionSorted(lines.map((l) => l.x));
      const at = new Map();
      xs.forEach((v, i) => at.set(v, i));
      const align = (lx, ly) => {
        const out = new Array(xs.length).fill(null);
        for (let i = 0; i < lx.length; i++) {
          if (ly[i] === null) continue;
          const j = at.get(lx[i]);
          if (j !== undefined) out[j] = ly[i];
        }
        return out;
      };
      const series = [{ label: this.x }], data = [xs], bands = [], hook = [], legend = [];
      if (!this.groups) {
        if (w > 0) for (const l of lines) { series.push(faintSeries(l.run.label, l.run.color)); data.push(align(l.x, l.vals)); }
        for (const l of lines) {
          series.push(lineSeries(l.run.label, l.run.color, 1.5));
          data.push(align(l.x, l.sm));
          hook.push({ ref: l.run.ref, label: l.run.label, color: l.run.color, x: l.x, y: l.sm, raw: l.raw });
          legend.push({ label: l.run.label, color: l.run.color, x: l.x, y: l.sm });
        }
      } else {
        // per group: mean line, min-max band, on the aligned x values
        for (const g of this.groups) {
          const members = lines.filter((l) => g.refs.includes(l.run.ref));
          if (!members.length) continue;
          const agg = aggregate(xs.length, members.map((l) => interpOnto(xs, l.x, l.sm)));
          const rawAgg = aggregate(xs.length, members.map((l) => interpOnto(xs, l.x, l.vals)));
          const label = `${g.label} (${members.length})`;
          const lo = series.length;
          series.push(edgeSeries(g.color)); data.push(agg.min);
          const hi = series.length;
          series.push(edgeSeries(g.color)); data.push(agg.max);
          bands.push({ series: [hi, lo], fill: rgba(g.color, 0.14) });
          if (w > 0) { series.push(faintSeries(label, g.color)); data.push(rawAgg.mean); }
          series.push(lineSeries(label, g.color, 2));
          data.push(agg.mean);
          hook.push({ ref: null, group: g.label, refs: members.map((l) => l.run.ref), label, color: g.color, x: xs, y: agg.mean, raw: rawAgg.mean, min: agg.min, max: agg.max });
          legend.push({ label, color: g.color, x: xs, y: agg.mean, min: agg.min, max: agg.max });
        }
      }
      const sig = [lines.map((l) => l.run.ref).join(','), series.length, log, w > 0, this.x].join('|');
      if (p.u && p.sig === sig) {
        p.u.batch(() => {
          p.u.setData(data, true);
          if (this.zoomRange) this.applyZoom(p);
        });
      } else {
        this.destroyPlot(p);
        p.plot.replaceChildren();
        p.u = new uPlot(this.plotOpts(p, width, series, bands), data, p.plot);
        p.sig = sig;
        if (this.zoomRange) this.applyZoom(p);
      }
      p.legendLines = legend;
      this.buildLegend(p);
      this.setHook(p, hook);
    }

    setHook(p, series) {
      p.hook = { key: p.key, x: this.x, u: p.u, series, smoothing: this.smooth, log: this.log, zoom: this.zoomRange ? this.zoomRange.slice() : null };
      RS.charts[p.key] = p.hook;
    }

    plotOpts(p, width, series, bands) {
      const isTime = this.x === '_timestamp';
      const axis = () => ({
        stroke: '#6b7280',
        grid: { stroke: '#eef0f3', width: 1 },
        ticks: { stroke: '#e3e6ea', width: 1, size: 4 },
        font: '11px system-ui, sans-serif',
      });
      const xAxis = axis();
      if (!isTime) xAxis.values = (u, splits) => splits.map(fmtTick);
      const yAxis = Object.assign(axis(), { size: 54, values: (u, splits) => splits.map(fmtTick) });
      return {
        width,
        height: PLOT_H,
        legend: { show: false },
        series,
        bands,
        scales: { x: { time: isTime }, y: this.log ? { distr: 3, log: 10 } : {} },
        axes: [xAxis, yAxis],
        cursor: {
          drag: { x: true, y: false, setScale: false },
          sync: { key: this.syncKey },
          bind: { dblclick: () => () => { this.resetZoom(); return null; } },
        },
        hooks: {
          setSelect: [(u) => this.onSelect(u)],
          setCursor: [(u) => this.hover(p, u)],
        },
      };
    }

    buildLegend(p) {
      p.lx = h('span', { class: 'lx' });
      p.legendItems = p.legendLines.map((l) => {
        const v = h('span', { class: 'lv' });
        const sw = h('span', { class: 'swatch' });
        sw.style.background = l.color;
        return { el: h('span', { class: 'li', title: l.label }, sw, h('span', { class: 'ln', text: l.label }), v), v };
      });
      p.legend.replaceChildren(p.lx, ...p.legendItems.map((i) => i.el));
    }

    /** Legend values at the cursor: each line's nearest point to that x. */
    hover(p, u) {
      if (!p.legendItems || p.u !== u) return;
      const i = u.cursor.idx;
      if (i === null || i === undefined) {
        p.lx.textContent = '';
        for (const it of p.legendItems) it.v.textContent = '';
        return;
      }
      const cx = u.data[0][i];
      p.lx.textContent = this.x + ' ' + (this.x === '_timestamp' ? fmtTime(cx) : fmtNum(cx));
      p.legendLines.forEach((l, k) => {
        const j = nearestDefined(l.x, l.y, cx);
        let t = j < 0 ? '–' : fmtNum(l.y[j]);
        if (j >= 0 && l.min && l.min[j] !== null) t += ` [${fmtNum(l.min[j])}, ${fmtNum(l.max[j])}]`;
        p.legendItems[k].v.textContent = t;
      });
    }

    resize() {
      if (this.dead) return;
      for (const p of this.panels.values()) {
        if (!p.u) continue;
        const w = p.plot.clientWidth;
        if (w >= 40 && Math.abs(w - p.u.width) > 1) p.u.setSize({ width: w, height: PLOT_H });
      }
    }

    // ---- downloads
    downloadPng(key) {
      const p = this.panels.get(key);
      if (!p || !p.u) return;
      const src = p.u.ctx.canvas;
      const dpr = window.devicePixelRatio || 1;
      const top = Math.round(24 * dpr);
      const c = document.createElement('canvas');
      c.width = src.width;
      c.height = src.height + top;
      const g = c.getContext('2d');
      g.fillStyle = '#fff';
      g.fillRect(0, 0, c.width, c.height);
      g.fillStyle = '#1d2330';
      g.font = `600 ${Math.round(13 * dpr)}px system-ui, sans-serif`;
      g.fillText(key, Math.round(8 * dpr), Math.round(17 * dpr));
      g.drawImage(src, 0, top);
      downloadUrl(c.toDataURL('image/png'), safeFileName(key) + '.png');
    }

    downloadCsv(key) {
      const d = this.data.get(key);
      if (!d) return;
      const runs = this.runs.filter((r) => d[r.ref]);
      const xs = unionSorted(runs.map((r) => d[r.ref].x));
      const maps = runs.map((r) => {
        const m = new Map(), s = d[r.ref];
        for (let i = 0; i < s.x.length; i++) m.set(s.x[i], s.y[i]);
        return m;
      });
      const cell = (v) => {
        if (v === null || v === undefined) return '';
        const s = String(v);
        return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
      };
      const text = (s) => cell(/^[=+\-@\t\r]/.test(s) ? "'" + s : s);
      const out = [[text(this.x), ...runs.map((r) => text(r.label))].join(',')];
      for (const x of xs) out.push([cell(x), ...maps.map((m) => cell(m.get(x)))].join(','));
      downloadBlob(new Blob([out.join('\n') + '\n'], { type: 'text/csv' }), safeFileName(key) + '.csv');
    }

    destroy() {
      if (this.dead) return;
      this.dead = true;
      this.io.disconnect();
      clearInterval(this.liveTimer);
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
      if (this.raf) cancelAnimationFrame(this.raf);
      window.removeEventListener('resize', this.onResize);
      this.onResize.cancel();
      this.saveSoon.cancel();
      this.pfInput.cancel();
      for (const p of this.panels.values()) {
        this.destroyPlot(p);
        if (RS.charts[p.key] === p.hook) delete RS.charts[p.key];
        p.hook = null;
        p.legendLines = [];
      }
      this.panels.clear();
      this.panelByEl.clear();
      this.data.clear();
      this.queue.clear();
      if (RS.zoom === this.zoomFn) { RS.zoom = () => {}; RS.resetZoom = () => {}; }
      this.root.remove();
    }
  }

  // ============================================================ 6. runs view

  const BASE_COLS = ['state', 'name', 'id', 'group', 'job_type', 'tags', 'host', 'job_id', 'start_time', 'duration', 'steps', 'last_write'];
  const ROW_PAGE = 200; // rows of the runs table put in the page at a time
  const COL_LABELS = {
    state: 'State', name: 'Name', id: 'ID', group: 'Group', job_type: 'Job type', tags: 'Tags', host: 'Host',
    job_id: 'Job ID', start_time: 'Started', duration: 'Duration', steps: 'Steps', last_write: 'Last write',
  };

  function prepRun(r) {
    r.ref = String(r.ref === undefined || r.ref === null ? '' : r.ref);
    r.tags = Array.isArray(r.tags) ? r.tags.map(String) : isMissing(r.tags) ? [] : [String(r.tags)];
    r._cfg = flatten(isPlainObject(r.config) ? r.config : {});
    r._sum = flatten(isPlainObject(r.summary) ? r.summary : {});
    r.label = String(r.name || r.id || r.ref);
    r.color = colorOf(r.ref);
    r.live = r.live === true;
    return r;
  }

  function colValue(r, col) {
    if (col.startsWith('config.')) return r._cfg[col.slice(7)];
    if (col.startsWith('summary.')) return r._sum[col.slice(8)];
    if (col === 'tags') return r.tags.join(', ');
    if (col === 'name') return r.label;
    return r[col];
  }

  const problemCount = (r) => (Array.isArray(r.problems) ? r.problems.length : isNum(r.problems) ? r.problems : 0);

  function runCell(r, col, sel) {
    const td = h('td', { dataset: { col } });
    switch (col) {
      case 'state':
        td.append(stateBadge(r.state, r.live));
        break;
      case 'name': {
        const cb = h('input', { type: 'checkbox', class: 'select-run', title: 'select for charts and compare', checked: sel.has(r.ref), dataset: { ref: r.ref } });
        cb.style.accentColor = r.color;
        const sw = h('span', { class: 'swatch' });
        sw.style.background = r.color;
        td.append(cb, sw, h('a', { class: 'run-link', href: runHash(r.ref), title: r.ref, text: r.label }));
        break;
      }
      case 'tags':
        r.tags.forEach((t, i) => {
          if (i) td.append(' ');
          td.append(h('span', { class: 'tag', text: t }));
        });
        break;
      case 'start_time':
      case 'last_write':
        td.textContent = fmtTime(r[col]);
        break;
      case 'duration':
        td.textContent = fmtDuration(r.duration);
        td.classList.add('num');
        break;
      default: {
        const v = colValue(r, col);
        td.textContent = fmtValue(v);
        if (typeof v === 'number') td.classList.add('num');
        if (typeof v === 'string' && v.length > 24) td.title = v;
      }
    }
    return td;
  }

  function runRow(r, cols, sel) {
    const tr = h('tr', { dataset: { ref: r.ref, state: r.state, live: r.live ? '1' : null } });
    const n = problemCount(r);
    if (n) { tr.classList.add('has-problems'); tr.title = `${n} problem${n === 1 ? '' : 's'} reading this run`; }
    for (const c of cols) tr.append(runCell(r, c, sel));
    return tr;
  }

  /** Replace a select's options when they changed; keep the current value (adding it if unknown). */
  function setOptions(select, head, values, current) {
    const vals = values.slice();
    if (current && !vals.includes(current)) vals.push(current);
    const sig = head.map((x) => x[0]).concat(vals).join('\u0000');
    if (select._sig !== sig) {
      select.replaceChildren(...head.map(([v, t]) => h('option', { value: v, text: t })), ...vals.map((v) => h('option', { value: v, text: v })));
      select._sig = sig;
    }
    select.value = current || '';
  }

  async function fetchSeries(signal, refs, keys, q) {
    const p = { run: refs, keys: keys.join(','), x: q.x, samples: q.samples };
    if (q.lo !== null && q.lo !== undefined) { p.lo = q.lo; p.hi = q.hi; }
    const res = await api('series', p, signal);
    return res && isPlainObject(res.runs) ? res.runs : {};
  }

  async function runsPage(ctx, main, params) {
    const save = () => {
      replaceHash('/runs', params);
      lastRunsHash = hashFor('/runs', params);
      lastSelection = params.list('sel');
      updateNav('runs');
    };
    lastRunsHash = hashFor('/runs', params);
    lastSelection = params.list('sel');
    updateNav('runs');
    let runs = [], visible = [], filter = compileFilter(params.get('q'));
    const projects = new Set();
    const details = new Map(); // ref -> /ui/api/run answer, for the charted runs only
    let charts = null, chartsKey = '', chartsToken = 0, loadToken = 0, refreshTimer = null;
    let tableDone = false, chartsDone = false;
    const maybeReady = () => { if (tableDone && chartsDone) ctx.ready(); };
    ctx.onCleanup(() => { if (charts) charts.destroy(); charts = null; details.clear(); });

    // ---- toolbar
    const projectSel = h('select', { id: 'project', title: 'project' }, h('option', { value: '', text: 'all projects' }));
    const filterIn = h('input', {
      id: 'filter', type: 'search', spellcheck: 'false', autocomplete: 'off', value: params.get('q'),
      placeholder: 'search name, id, group, tags, host, or filter: config.lr < 1e-3 and summary.val/acc > 0.9',
    });
    const filterErr = h('span', { id: 'filter-error', class: 'error', text: filter.error });
    const stateSel = h('select', { id: 'state-filter', title: 'state' });
    setOptions(stateSel, [['', 'all states']], STATES, params.get('state'));
    const tagSel = h('select', { id: 'tag-filter', title: 'tag' });
    const groupSel = h('select', { id: 'group-filter', title: 'group' });
    const groupBy = h('select', { id: 'group-by', title: 'group rows and charts by' });
    const colList = h('div', { class: 'dropdown-body' });
    const columns = h('details', { id: 'columns', class: 'dropdown' }, h('summary', { text: 'Columns' }), colList);
    const selShown = h('button', { type: 'button', id: 'select-shown', text: 'Select shown', title: 'select the runs the table shows (at most 20)' });
    const clearSel = h('button', { type: 'button', id: 'clear-selection', text: 'Clear selection' });
    const compareBtn = h('button', { type: 'button', id: 'compare-btn', class: 'primary', text: 'Compare' });
    const count = h('span', { class: 'count' });
    const table = h('table', { id: 'runs-table', class: 'grid-table' });
    const chartsHost = h('div', { id: 'runs-charts' });
    const rootErrors = h('ul', { id: 'root-errors', class: 'error', hidden: true }); // roots that could not be listed
    main.append(
      h('div', { class: 'toolbar' }, h('label', null, 'Project', projectSel), h('span', { class: 'filter-box' }, filterIn, filterErr)),
      h('div', { class: 'toolbar' }, stateSel, tagSel, groupSel, h('label', null, 'Group by', groupBy), columns, selShown, clearSel, compareBtn, count),
      rootErrors,
      h('div', { class: 'table-wrap' }, table),
      chartsHost);

    const rerender = () => { render(false); };
    projectSel.addEventListener('change', () => { params.set('project', projectSel.value); save(); load().catch(report); });
    // The table follows the filter at once; the charts (which fetch) a moment later.
    const chartsSoon = debounce(() => { if (ctx.alive) updateCharts(false).catch(report); }, 300);
    ctx.onCleanup(() => chartsSoon.cancel());
    filterIn.addEventListener('input', () => {
      params.set('q', filterIn.value);
      filter = compileFilter(filterIn.value);
      filterErr.textContent = filter.error;
      save();
      shown = ROW_PAGE;
      computeVisible();
      renderTable();
      chartsSoon();
    });
    for (const [sel, name] of [[stateSel, 'state'], [tagSel, 'tag'], [groupSel, 'gfilter'], [groupBy, 'group']]) {
      sel.addEventListener('change', () => { params.set(name, sel.value); save(); rerender(); });
    }
    colList.addEventListener('change', () => {
      params.set('cols', [...colList.querySelectorAll('input:checked')].map((i) => i.value), true);
      save();
      renderTable();
    });
    selShown.addEventListener('click', () => { params.set('sel', visible.slice(0, 20).map((r) => r.ref)); save(); rerender(); });
    clearSel.addEventListener('click', () => { params.set('sel', null); save(); rerender(); });
    compareBtn.addEventListener('click', () => {
      const sel = params.list('sel');
      if (sel.length) location.hash = compareHash(sel);
    });
    table.addEventListener('click', (e) => {
      const th = e.target.closest('th[data-col]');
      if (!th || !table.contains(th)) return;
      const col = th.dataset.col, s = params.get('sort');
      params.set('sort', s === col ? '-' + col : col);
      save();
      rerender();
    });
    table.addEventListener('change', (e) => {
      const cb = e.target;
      if (!cb.classList || !cb.classList.contains('select-run')) return;
      let sel = params.list('sel');
      if (cb.checked) { if (!sel.includes(cb.dataset.ref)) sel.push(cb.dataset.ref); } else sel = sel.filter((x) => x !== cb.dataset.ref);
      params.set('sel', sel);
      save();
      updateCounts();
      updateCharts(false).catch(report);
    });

    // ---- columns
    function extraCols() {
      if (params.has('cols')) return params.list('cols');
      const sum = new Set();
      for (const r of runs) for (const k of Object.keys(r._sum)) if (!k.startsWith('_')) sum.add(k);
      return [...sum].sort(naturalCompare).slice(0, 4).map((k) => 'summary.' + k);
    }
    function renderColumnChooser(cfgKeys, sumKeys) {
      const chosen = extraCols();
      const all = cfgKeys.map((k) => 'config.' + k).concat(sumKeys.map((k) => 'summary.' + k));
      for (const c of chosen) if (!all.includes(c)) all.push(c);
      const sig = all.join('\u0000') + '\u0001' + chosen.join('\u0000');
      if (colList._sig === sig) return;
      colList._sig = sig;
      const item = (c) => h('label', null, h('input', { type: 'checkbox', value: c, checked: chosen.includes(c) }), c);
      colList.replaceChildren(
        h('div', { class: 'dd-head', text: 'config' }), ...all.filter((c) => c.startsWith('config.')).map(item),
        h('div', { class: 'dd-head', text: 'summary' }), ...all.filter((c) => c.startsWith('summary.')).map(item));
      if (!all.length) colList.append(h('div', { class: 'muted', text: 'no config or summary keys yet' }));
    }

    // ---- filtering, sorting, table
    function computeVisible() {
      const st = params.get('state'), tag = params.get('tag'), gf = params.get('gfilter');
      visible = runs.filter((r) => (!st || r.state === st) && (!tag || r.tags.includes(tag)) &&
        (!gf || String(r.group === undefined || r.group === null ? '' : r.group) === gf) && (!filter.fn || filter.fn(r)));
      const s = params.get('sort');
      if (s) {
        const desc = s.startsWith('-'), col = desc ? s.slice(1) : s;
        visible.sort((a, b) => compareValues(colValue(a, col), colValue(b, col), desc));
      }
    }

    function updateCounts() {
      const n = params.list('sel').length;
      count.textContent = `${visible.length} of ${runs.length} runs` + (n ? `, ${n} selected` : '');
      compareBtn.disabled = !n;
      compareBtn.textContent = n ? `Compare (${n})` : 'Compare';
    }

    // At most `shown` rows are in the page at once (a table of 10,000 runs stays
    // quick); "show more" adds ROW_PAGE more. Filters, sorting and counts see every run.
    let shown = ROW_PAGE;
    function renderTable() {
      const cols = BASE_COLS.concat(extraCols());
      const s = params.get('sort'), desc = s.startsWith('-'), sortCol = desc ? s.slice(1) : s;
      const sel = new Set(params.list('sel'));
      const thead = h('thead', null, h('tr', null, cols.map((c) => h('th', { dataset: { col: c }, title: 'sort by ' + c },
        COL_LABELS[c] || c, c === sortCol ? h('span', { class: 'sort-ind', text: desc ? '\u25bc' : '\u25b2' }) : null))));
      const tbody = h('tbody');
      const gb = params.get('group');
      let left = shown;
      if (gb) {
        const groups = new Map();
        for (const r of visible) {
          const v = colValue(r, gb), k = isMissing(v) ? '' : fmtValue(v);
          if (!groups.has(k)) groups.set(k, { value: v, runs: [] });
          groups.get(k).runs.push(r);
        }
        const keys = [...groups.keys()].sort((a, b) => compareValues(groups.get(a).value, groups.get(b).value, false));
        for (const k of keys) {
          if (left <= 0) break;
          const g = groups.get(k);
          tbody.append(h('tr', { class: 'group-row', dataset: { group: k } }, h('td', { colspan: cols.length },
            h('span', { class: 'group-name', text: `${gb} = ${k === '' ? '(none)' : k}` }),
            h('span', { class: 'group-count', text: `${g.runs.length} run${g.runs.length === 1 ? '' : 's'}` }))));
          for (const r of g.runs.slice(0, left)) tbody.append(runRow(r, cols, sel));
          left -= g.runs.length;
        }
      } else {
        for (const r of visible.slice(0, shown)) tbody.append(runRow(r, cols, sel));
      }
      if (!visible.length) {
        tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: cols.length, class: 'muted', text: runs.length ? 'No run matches the filters.' : 'No runs yet.' })));
      } else if (visible.length > shown) {
        const more = h('button', { type: 'button', id: 'runs-more', text: `show ${Math.min(ROW_PAGE, visible.length - shown)} more (${visible.length - shown} not shown)` });
        more.addEventListener('click', () => { shown += ROW_PAGE; renderTable(); });
        tbody.append(h('tr', { class: 'more-row' }, h('td', { colspan: cols.length }, more)));
      }
      table.replaceChildren(thead, tbody);
      updateCounts();
    }

    function render(fromRefresh) {
      computeVisible();
      renderTable();
      updateCharts(fromRefresh).catch(report);
    }

    // ---- charts of the selected runs (or the first 10 shown)
    async function updateCharts(fromRefresh) {
      const sel = params.list('sel');
      const byRef = new Map(runs.map((r) => [r.ref, r]));
      const shown = (sel.length
        ? sel.map((ref) => byRef.get(ref) || prepRun({ ref, name: ref }))
        : visible.slice(0, 10)).slice(0, 20); // at most 20 runs charted
      const token = ++chartsToken;
      const need = shown.filter((r) => !details.has(r.ref) || (fromRefresh && r.live));
      if (need.length) {
        await Promise.all(need.map((r) => api('run', { run: r.ref }, ctx.signal).then(
          (d) => { details.set(r.ref, d); },
          (e) => { if (e.name === 'AbortError') throw e; report(e); if (!details.has(r.ref)) details.set(r.ref, null); })));
      }
      if (token !== chartsToken || !ctx.alive) return;
      const refs = new Set(shown.map((r) => r.ref));
      for (const k of [...details.keys()]) if (!refs.has(k)) details.delete(k);
      const ds = shown.map((r) => details.get(r.ref)).filter(Boolean);
      const keys = numberKeysOf(ds), xOptions = xOptionsOf(ds);
      const gb = params.get('group');
      let groups = null;
      if (gb) {
        const m = new Map();
        for (const r of shown) {
          const v = colValue(r, gb), g = isMissing(v) ? '(none)' : fmtValue(v);
          if (!m.has(g)) m.set(g, []);
          m.get(g).push(r.ref);
        }
        groups = [...m].sort((a, b) => (a[0] === '(none)') - (b[0] === '(none)') || naturalCompare(a[0], b[0])).map(([g, rs]) => ({ label: `${gb}=${g}`, color: colorOf('group:' + g), refs: rs }));
      }
      const key = JSON.stringify([shown.map((r) => [r.ref, r.label]), keys, xOptions, groups && groups.map((g) => [g.label, g.refs])]);
      const liveRefs = new Set(shown.filter((r) => r.live).map((r) => r.ref));
      if (charts && key === chartsKey) { charts.setLive(liveRefs); return; }
      chartsKey = key;
      if (charts) {
        charts.destroy();
        charts = null;
        chartsDone = false;
        RS.ready = false;
      }
      if (!shown.length) {
        chartsHost.replaceChildren(h('p', { class: 'muted', text: 'No runs to chart.' }));
        chartsDone = true;
        maybeReady();
        return;
      }
      chartsHost.replaceChildren();
      const n = shown.length;
      charts = new ChartsView(ctx, chartsHost, {
        runs: shown.map((r) => ({ ref: r.ref, label: r.label, color: r.color, live: r.live })),
        keys, xOptions, groups, params, save,
        title: sel.length > n ? `Charts: the first ${n} of ${sel.length} selected runs`
          : sel.length ? `Charts: ${n} selected run${n === 1 ? '' : 's'}` : `Charts: the first ${n} run${n === 1 ? '' : 's'} shown (tick runs to choose)`,
        fetch: (ks, q) => fetchSeries(ctx.signal, shown.map((r) => r.ref), ks, q),
        onFirstRender: () => { chartsDone = true; maybeReady(); },
      });
    }

    // ---- listing, refreshed every 5 s while a run is live
    async function load() {
      ctx.cancel(refreshTimer);
      refreshTimer = null;
      const token = ++loadToken;
      const project = params.get('project');
      let res;
      try {
        res = await api('runs', project ? { project } : null, ctx.signal);
      } catch (e) {
        if (e.name === 'AbortError' || token !== loadToken) return;
        report(e);
        if (!tableDone) {
          table.replaceChildren(h('tbody', null, h('tr', null, h('td', { class: 'error', text: 'could not load the runs: ' + e.message }))));
          tableDone = chartsDone = true;
          maybeReady();
        }
        if (e.status !== 401 && runs.some((r) => r.live)) refreshTimer = ctx.later(load, 10000);
        return;
      }
      if (token !== loadToken || !ctx.alive) return;
      const fresh = !tableDone;
      if (statusEl() && !statusEl().hidden && !fresh) clearStatus();
      const listed = Array.isArray(res.runs) ? res.runs : [];
      const failed = Array.isArray(res.errors) ? res.errors : [];
      rootErrors.replaceChildren(...failed.map((e) => h('li', { text: 'could not list ' + e.root + ': ' + e.error })));
      rootErrors.hidden = !failed.length;
      if (!project) assignColors(listed, true);
      else if (listed.some((r) => !colorMap.has(String(r.ref)))) assignColors(listed, false);
      runs = listed.map(prepRun);
      for (const p of Array.isArray(res.projects) ? res.projects : []) projects.add(String(p));
      for (const r of runs) if (!isMissing(r.project)) projects.add(String(r.project));
      const cfgKeys = new Set(), sumKeys = new Set(), tags = new Set(), groupNames = new Set();
      for (const r of runs) {
        for (const k of Object.keys(r._cfg)) cfgKeys.add(k);
        for (const k of Object.keys(r._sum)) sumKeys.add(k);
        for (const t of r.tags) tags.add(t);
        if (!isMissing(r.group)) groupNames.add(String(r.group));
      }
      const cfgSorted = [...cfgKeys].sort(naturalCompare), sumSorted = [...sumKeys].sort(naturalCompare);
      setOptions(projectSel, [['', 'all projects']], [...projects].sort(naturalCompare), params.get('project'));
      setOptions(tagSel, [['', 'all tags']], [...tags].sort(naturalCompare), params.get('tag'));
      setOptions(groupSel, [['', 'all groups']], [...groupNames].sort(naturalCompare), params.get('gfilter'));
      setOptions(groupBy, [['', 'none'], ['group', 'group'], ['job_type', 'job_type']], cfgSorted.map((k) => 'config.' + k), params.get('group'));
      renderColumnChooser(cfgSorted, sumSorted);
      render(!fresh);
      tableDone = true;
      maybeReady();
      const live = runs.some((r) => r.live);
      if (live || failed.length) refreshTimer = ctx.later(load, live ? 5000 : 10000); // a failed root is asked again
    }

    await load();
  }

  // ============================================================ 7. run page

  const TABS = ['overview', 'charts', 'system', 'console', 'files', 'media'];
  const MEDIA_KINDS = ['image', 'histogram', 'table', 'audio', 'video', 'plot', 'plotly', 'file'];

  async function runPage(ctx, main, ref, params) {
    let tab = params.get('tab') || 'overview';
    if (!TABS.includes(tab)) tab = 'overview';
    const save = () => replaceHash('/run/' + enc(ref), params);
    const nameEl = h('h1', { class: 'run-name', text: ref });
    const badgeHost = h('span', { class: 'run-state' });
    const meta = h('span', { class: 'meta' });
    const tabs = h('nav', { class: 'tabs' }, TABS.map((t) => h('a', {
      class: 'tab' + (t === tab ? ' active' : ''), dataset: { tab: t }, href: runHash(ref, t), text: t[0].toUpperCase() + t.slice(1),
    })));
    const body = h('div', { class: 'tab-body', dataset: { tab } }, h('p', { class: 'muted', text: 'loading…' }));
    main.append(h('div', { class: 'run-header' }, nameEl, badgeHost, meta), tabs, body);

    let run;
    try {
      run = await api('run', { run: ref }, ctx.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      report(e);
      body.replaceChildren(h('p', { class: 'error', text: e.message }));
      ctx.ready();
      return;
    }
    if (!ctx.alive) return;
    const fillHeader = (r) => {
      const name = String(r.name || r.id || ref);
      nameEl.textContent = name;
      document.title = name + ' · runship';
      badgeHost.replaceChildren(stateBadge(r.state, !!r.live));
      const bits = [['id', r.id], ['project', r.project], ['group', r.group]].filter(([, v]) => !isMissing(v));
      meta.replaceChildren(...bits.map(([k, v], i) => h('span', { class: 'run-' + k }, i ? ' · ' : '', k + ' ', h('b', { text: String(v) }))));
    };
    fillHeader(run);
    ctx.onCleanup(() => { document.title = 'runship'; });

    // A live run is read again every 10 s (header, live flags, new keys).
    const watchers = [];
    const onRunUpdate = (fn) => watchers.push(fn);
    const poll = async () => {
      try {
        const r = await api('run', { run: ref }, ctx.signal);
        if (!ctx.alive) return;
        run = r;
        fillHeader(r);
        for (const fn of watchers) fn(r);
      } catch (e) {
        report(e);
      }
      if (run.live) ctx.later(poll, 10000);
    };
    if (run.live) ctx.later(poll, 10000);

    body.replaceChildren();
    switch (tab) {
      case 'charts': return chartsTab(ctx, body, ref, run, params, save, onRunUpdate);
      case 'system': return systemTab(ctx, body, ref, run, params, save, onRunUpdate);
      case 'console': return consoleTab(ctx, body, ref, run, params, save, onRunUpdate);
      case 'files': filesTab(body, ref, run); ctx.ready(); return;
      case 'media': return mediaTab(ctx, body, ref, run);
      default: overviewTab(body, ref, run); ctx.ready();
    }
  }

  // ---- overview
  const card = (title, ...content) => h('div', { class: 'card' }, h('h3', { text: title }), ...content);

  /** Nested config/summary as an indented key/value table; rows carry data-key (dotted path). */
  function nestedTable(obj, id) {
    const tbody = h('tbody');
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

  function kvTable(pairs, id) {
    const show = (k, v) => (v instanceof Node ? v : TIME_KEYS.test(k) && isNum(v) && v > 1e8 ? fmtTime(v) : fmtValue(v));
    const rows = pairs.filter(([, v]) => !isMissing(v)).map(([k, v]) => h('tr', { dataset: { key: k } },
      h('td', { class: 'k', text: k }), h('td', { class: 'v' }, show(k, v))));
    return h('table', { id, class: 'kv' }, h('tbody', null, rows.length ? rows : h('tr', null, h('td', { class: 'muted', text: '(none)' }))));
  }

  const sumOf = (list, key) => (Array.isArray(list) ? list.reduce((s, x) => s + (isPlainObject(x) && isNum(x[key]) ? x[key] : 0), 0) : 0);

  function overviewTab(body, ref, run) {
    const lost = isNum(run.lost) ? run.lost : sumOf(run.sessions, 'lost');
    const dropped = isNum(run.dropped) ? run.dropped : sumOf(run.sessions, 'dropped');
    const info = kvTable([
      ['name', run.name], ['id', run.id], ['project', run.project], ['state', stateBadge(run.state, !!run.live)],
      ['exit code', run.exit_code], ['group', run.group], ['job type', run.job_type],
      ['tags', Array.isArray(run.tags) && run.tags.length ? run.tags.join(', ') : null], ['host', run.host], ['job id', run.job_id],
      ['started', fmtTime(run.start_time)], ['last write', fmtTime(run.last_write)], ['duration', fmtDuration(run.duration)],
      ['steps', run.steps], ['lost records', lost], ['dropped rows', dropped], ['ref', ref],
    ], 'run-info');
    const notes = !isMissing(run.notes) ? h('pre', { class: 'block', text: String(run.notes) }) : null;
    const left = h('div', null,
      card('Config', nestedTable(run.config, 'config-table')),
      card('Summary', nestedTable(run.summary, 'summary-table')));
    const right = h('div', null,
      card('Run', info, notes),
      card('Problems', problemsBlock(run.problems)),
      card('Environment', envBlock(run.environment, run)),
      card('Sessions', sessionsTable(run.sessions)),
      card('Alerts', alertsBlock(run.alerts)));
    body.replaceChildren(h('div', { class: 'overview' }, left, right));
  }

  function envBlock(env, run) {
    if (!isPlainObject(env)) return h('p', { class: 'muted', text: 'no environment recorded' });
    const known = ['host', 'user', 'python', 'platform', 'executable', 'argv', 'cwd', 'pid', 'cpu_count', 'cuda_visible_devices'];
    const skip = ['git', 'scheduler', 'packages', 'diff', 'git_diff'];
    const pairs = known.filter((k) => k in env).map((k) => [k, k === 'argv' && Array.isArray(env.argv) ? env.argv.join(' ') : env[k]]);
    for (const [k, v] of Object.entries(env)) if (!known.includes(k) && !skip.includes(k)) pairs.push([k, v]);
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

  function sessionsTable(sessions) {
    if (!Array.isArray(sessions) || !sessions.length) return h('p', { class: 'muted', text: 'no sessions' });
    const cols = [];
    for (const s of sessions) if (isPlainObject(s)) for (const k of Object.keys(s)) if (!cols.includes(k)) cols.push(k);
    const cell = (k, v) => {
      if (TIME_KEYS.test(k) && isNum(v) && v > 1e8) return h('td', { text: fmtTime(v), title: String(v) });
      if (Array.isArray(v)) {
        return v.length > 3 ? h('td', { text: `${v.length} items`, title: v.map(fmtValue).join('\n') }) : h('td', { text: v.map(fmtValue).join(', ') });
      }
      return h('td', { class: typeof v === 'number' ? 'num' : null, text: fmtValue(v) });
    };
    const rows = sessions.filter(isPlainObject).map((s) => h('tr', { class: s.reset ? 'reset-row' : null, dataset: { session: s.id } }, cols.map((k) => cell(k, s[k]))));
    return h('div', { class: 'table-scroll' }, h('table', { id: 'sessions-table', class: 'grid-table' },
      h('thead', null, h('tr', null, cols.map((c) => h('th', { text: c })))), h('tbody', null, rows)));
  }

  function alertsBlock(alerts) {
    if (!Array.isArray(alerts) || !alerts.length) return h('p', { class: 'muted', text: 'no alerts' });
    return h('div', { class: 'table-scroll' }, h('table', { id: 'alerts-table', class: 'grid-table' },
      h('thead', null, h('tr', null, ['time', 'level', 'title', 'text'].map((c) => h('th', { text: c })))),
      h('tbody', null, alerts.filter(isPlainObject).map((a) => h('tr', { class: 'alert-' + (['INFO', 'WARN', 'ERROR'].includes(a.level) ? a.level : 'INFO') },
        h('td', { text: fmtTime(a.t) }), h('td', { text: fmtValue(a.level) }), h('td', { text: fmtValue(a.title) }), h('td', { text: fmtValue(a.text) }))))));
  }

  function problemsBlock(problems) {
    const list = Array.isArray(problems) ? problems : isNum(problems) && problems > 0 ? [`${problems} problem(s)`] : [];
    if (!list.length) return h('p', { class: 'no-problems', text: 'no problems' });
    return h('div', { id: 'problems' }, list.map((p) => h('div', {
      class: 'problem',
      text: isPlainObject(p) ? `${fmtValue(p.path)}: ${fmtValue(p.message)} (byte ${fmtValue(p.offset)}, ${fmtValue(p.kind)})` : fmtValue(p),
    })));
  }

  // ---- charts tab
  function chartsTab(ctx, body, ref, run, params, save, onRunUpdate) {
    const make = (r) => new ChartsView(ctx, body, {
      runs: [{ ref, label: String(r.name || r.id || ref), color: colorOf(ref), live: !!r.live }],
      keys: numberKeysOf([r]), xOptions: xOptionsOf([r]), params, save,
      fetch: (ks, q) => fetchSeries(ctx.signal, [ref], ks, q),
      onFirstRender: () => ctx.ready(),
    });
    let view = make(run);
    let sig = numberKeysOf([run]).join('\n') + '|' + xOptionsOf([run]).join(',');
    ctx.onCleanup(() => view.destroy());
    onRunUpdate((r) => {
      const s = numberKeysOf([r]).join('\n') + '|' + xOptionsOf([r]).join(',');
      if (s !== sig) {
        sig = s;
        view.destroy();
        view = make(r);
      } else view.setLive(new Set(r.live ? [ref] : []));
    });
  }

  // ---- system tab
  function systemSection(key) {
    const m = /^gpu\.(\d+)\./.exec(key);
    if (m) return 'gpu.' + m[1];
    if (key.startsWith('gpu')) return 'gpu';
    if (/cpu/i.test(key)) return 'cpu';
    if (/mem/i.test(key)) return 'memory';
    if (key.startsWith('disk')) return 'disk';
    if (key.startsWith('network') || key.startsWith('net.')) return 'network';
    return 'other';
  }
  function systemRank(s) {
    const i = ['cpu', 'memory', 'disk', 'network'].indexOf(s);
    if (i >= 0) return i;
    if (s === 'gpu') return 9;
    const m = /^gpu\.(\d+)$/.exec(s);
    return m ? 10 + Number(m[1]) : 1e9;
  }

  async function systemTab(ctx, body, ref, run, params, save, onRunUpdate) {
    let cache = null; // one /ui/api/system answer shared by the panel batches, fetched again after 2.5 s
    const getAll = (samples) => {
      const now = Date.now();
      if (!cache || now - cache.t > 2500) {
        const c = { t: now, p: api('system', { run: ref, samples }, ctx.signal) };
        c.p.catch(() => { if (cache === c) cache = null; });
        cache = c;
      }
      return cache.p;
    };
    let keys = (Array.isArray(run.system_keys) ? run.system_keys : []).map((k) => (typeof k === 'string' ? k : k && k.key)).filter((k) => typeof k === 'string');
    if (!keys.length) {
      try {
        const res = await getAll(800);
        keys = Object.keys((res && res.series) || {});
      } catch (e) {
        if (e.name === 'AbortError') return;
        report(e);
      }
    }
    if (!ctx.alive) return;
    keys = keys.filter((k) => !DERIVED_X.includes(k)).sort(naturalCompare);
    const runs = [{ ref, label: String(run.name || run.id || ref), color: colorOf(ref), live: !!run.live }];
    const view = new ChartsView(ctx, body, {
      runs, keys, xOptions: ['_runtime'], fixedX: '_runtime', params, save, liveMs: 5000, collapseKey: 'system',
      sectionOf: systemSection, sectionOrder: (a, b) => systemRank(a) - systemRank(b) || naturalCompare(a, b),
      emptyText: 'No system metrics recorded.',
      fetch: async (ks, q) => {
        const res = await getAll(q.samples);
        const out = {};
        for (const k of ks) {
          const s = res && res.series && res.series[k];
          if (!s || !Array.isArray(s.x) || !Array.isArray(s.y)) continue;
          if (q.lo === null) { out[k] = s; continue; }
          const x = [], y = [];
          for (let i = 0; i < s.x.length; i++) if (s.x[i] >= q.lo && s.x[i] <= q.hi) { x.push(s.x[i]); y.push(s.y[i]); }
          out[k] = { x, y };
        }
        return { [ref]: out };
      },
      onFirstRender: () => ctx.ready(),
    });
    ctx.onCleanup(() => view.destroy());
    onRunUpdate((r) => view.setLive(new Set(r.live ? [ref] : [])));
  }

  // ---- console tab
  async function consoleTab(ctx, body, ref, run, params, save, onRunUpdate) {
    const MAX_LINES = 20000;
    const search = h('input', { id: 'console-search', type: 'search', spellcheck: 'false', placeholder: 'search the console (case-insensitive)', value: params.get('cq') });
    const info = h('span', { class: 'muted console-info' });
    const box = h('div', { id: 'console', class: 'console' });
    body.replaceChildren(h('div', { class: 'console-tools' }, search, info), box);
    let next = null, live = !!run.live, timer = null, mode = 'tail', token = 0, shownTotal = 0;

    const lineEl = (l) => h('div', {
      class: 'line', dataset: { stream: l.stream === 'stderr' ? 'stderr' : 'stdout', n: isMissing(l.n) ? '' : l.n, line: isNum(l.n) ? l.n + 1 : '' }, title: isNum(l.t) ? fmtTime(l.t) : null,
    }, l.text === undefined || l.text === null ? '' : String(l.text));
    const empty = (text) => box.replaceChildren(h('div', { class: 'muted pad empty', text }));
    const append = (lines, replace) => {
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
      const frag = document.createDocumentFragment();
      for (const l of lines) if (isPlainObject(l)) frag.append(lineEl(l));
      if (replace) box.replaceChildren(frag);
      else {
        const first = box.firstElementChild;
        if (first && first.classList.contains('empty')) first.remove();
        box.append(frag);
      }
      while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
      if (replace || atBottom) box.scrollTop = box.scrollHeight;
    };
    const schedulePoll = () => { if (live && mode === 'tail' && timer === null && isNum(next)) timer = ctx.later(poll, 2000); };
    async function poll() {
      timer = null;
      if (mode !== 'tail' || !live) return;
      const t = token;
      try {
        const res = await api('console', { run: ref, offset: next }, ctx.signal);
        if (t !== token || mode !== 'tail') return;
        const lines = Array.isArray(res.lines) ? res.lines : [];
        if (lines.length) append(lines, false);
        if (isNum(res.next)) next = res.next;
        shownTotal = isNum(res.total) ? res.total : shownTotal + lines.length;
        info.textContent = `${shownTotal} lines` + (live ? ' · following' : '');
      } catch (e) {
        if (e.name === 'AbortError') return;
        report(e);
      }
      schedulePoll();
    }
    async function loadTail() {
      const t = ++token;
      mode = 'tail';
      const res = await api('console', { run: ref, tail: 2000 }, ctx.signal);
      if (t !== token) return;
      const lines = Array.isArray(res.lines) ? res.lines : [];
      append(lines, true);
      if (!lines.length) empty('no console output');
      next = isNum(res.next) ? res.next : null;
      shownTotal = isNum(res.total) ? res.total : lines.length;
      info.textContent = `${shownTotal} lines` + (shownTotal > lines.length ? ` (the last ${lines.length} shown)` : '') + (live ? ' · following' : '');
      schedulePoll();
    }
    async function doSearch(q) {
      ctx.cancel(timer);
      timer = null;
      if (!q) return loadTail();
      const t = ++token;
      mode = 'search';
      const res = await api('console', { run: ref, q, limit: 2000 }, ctx.signal);
      if (t !== token) return;
      const lines = Array.isArray(res.lines) ? res.lines : [];
      append(lines, true);
      box.scrollTop = 0;
      if (!lines.length) empty('no matching lines');
      info.textContent = `${lines.length} matching line${lines.length === 1 ? '' : 's'}` + (isNum(res.total) && res.total > lines.length ? ` (of ${res.total})` : '');
    }
    const onSearch = debounce(() => {
      params.set('cq', search.value);
      save();
      doSearch(search.value.trim()).catch(report);
    }, 300);
    ctx.onCleanup(() => onSearch.cancel());
    search.addEventListener('input', onSearch);
    onRunUpdate((r) => { live = !!r.live; schedulePoll(); });
    try {
      await doSearch(params.get('cq').trim());
    } catch (e) {
      if (e.name === 'AbortError') return;
      report(e);
      empty('could not load the console');
    }
    ctx.ready();
  }

  // ---- files tab
  function filesTab(body, ref, run) {
    const files = (Array.isArray(run.files) ? run.files : []).filter((f) => isPlainObject(f) && typeof f.path === 'string')
      .sort((a, b) => naturalCompare(a.path, b.path));
    if (!files.length) { body.append(h('p', { class: 'muted', text: 'No files.' })); return; }
    const total = files.reduce((s, f) => s + (isNum(f.size) ? f.size : 0), 0);
    body.append(h('p', { class: 'muted', text: `${files.length} files, ${fmtBytes(total)}` }),
      h('div', { class: 'table-wrap files-wrap' }, h('table', { id: 'files-table', class: 'grid-table' },
        h('thead', null, h('tr', null, h('th', { text: 'path' }), h('th', { text: 'size' }), h('th', { text: '' }))),
        h('tbody', null, files.map((f) => h('tr', { dataset: { path: f.path } },
          h('td', { class: 'mono', text: f.path }),
          h('td', { class: 'num', text: fmtBytes(f.size), title: isNum(f.size) ? f.size + ' bytes' : null }),
          h('td', null, h('a', { class: 'download', href: fileUrl(ref, f.path, true), download: f.path.split('/').pop(), text: 'download' }))))))));
  }

  // ---- media tab
  async function mediaTab(ctx, body, ref, run) {
    const keys = (Array.isArray(run.keys) ? run.keys : []).filter((k) => k && typeof k.key === 'string' && MEDIA_KINDS.includes(k.kind));
    if (!keys.length) {
      body.append(h('p', { class: 'muted', text: 'No media logged (images, histograms, tables, audio, video).' }));
      ctx.ready();
      return;
    }
    const grid = h('div', { class: 'media-grid' });
    body.append(grid);
    const cards = keys.map((k) => {
      const msg = h('div', { class: 'muted', text: 'loading…' });
      const el = h('div', { class: 'media', dataset: { key: k.key, kind: k.kind } }, h('h4', { text: k.key }), msg);
      grid.append(el);
      return { k, el, msg };
    });
    let next = 0;
    const worker = async () => {
      while (next < cards.length && ctx.alive) {
        const c = cards[next++];
        try {
          const res = await api('media', { run: ref, key: c.k.key }, ctx.signal);
          if (!ctx.alive) return;
          await renderMedia(ctx, c.el, ref, c.k, res || {});
        } catch (e) {
          if (e.name === 'AbortError') return;
          report(e);
          c.msg.textContent = 'could not load: ' + e.message;
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    ctx.ready();
  }

  /** A step slider over a media key's items, starting at item `start`. */
  function stepSlider(items, onChange, start) {
    const input = h('input', { class: 'step-slider', type: 'range', min: '0', max: String(Math.max(0, items.length - 1)), step: '1', value: String(start) });
    input.disabled = items.length < 2;
    const label = h('span', { class: 'step-label' });
    const set = (i) => {
      const it = items[i] || {};
      label.textContent = `step ${fmtValue(it.step)}` + (items.length > 1 ? ` (${i + 1}/${items.length})` : '');
    };
    input.addEventListener('input', () => { const i = Number(input.value); set(i); onChange(i); });
    set(start);
    return { el: h('div', { class: 'media-step' }, input, label), input, set };
  }

  function hiDpiCanvas(cls, w, hgt) {
    const dpr = window.devicePixelRatio || 1;
    const c = h('canvas', { class: cls, width: Math.round(w * dpr), height: Math.round(hgt * dpr) });
    c.getContext('2d').scale(dpr, dpr);
    c._w = w;
    c._h = hgt;
    return c;
  }

  const validHist = (v) => isPlainObject(v) && Array.isArray(v.values) && Array.isArray(v.bins) && v.bins.length === v.values.length + 1 && v.values.length > 0;

  function drawHeatmap(canvas, items, sel) {
    const g = canvas.getContext('2d'), W = canvas._w, H = canvas._h;
    const L = 46, B = 14, T = 4, R = 4, pw = W - L - R, ph = H - T - B;
    g.clearRect(0, 0, W, H);
    g.fillStyle = '#fff';
    g.fillRect(0, 0, W, H);
    let lo = Infinity, hi = -Infinity;
    for (const it of items) {
      if (!validHist(it.value)) continue;
      const b = it.value.bins;
      if (isNum(b[0])) lo = Math.min(lo, b[0]);
      if (isNum(b[b.length - 1])) hi = Math.max(hi, b[b.length - 1]);
    }
    if (!(lo < Infinity)) return;
    if (!(hi > lo)) hi = lo + 1;
    const rows = Math.min(64, Math.max(8, Math.floor(ph / 2))), n = items.length, cw = pw / n, rh = ph / rows;
    items.forEach((it, c) => {
      const v = it.value;
      if (!validHist(v)) return;
      const acc = new Float64Array(rows);
      for (let j = 0; j < v.values.length; j++) {
        const center = (v.bins[j] + v.bins[j + 1]) / 2, cnt = v.values[j];
        if (!isNum(center) || !isNum(cnt)) continue;
        acc[clamp(Math.floor(((center - lo) / (hi - lo)) * rows), 0, rows - 1)] += cnt;
      }
      let max = 0;
      for (const a of acc) max = Math.max(max, a);
      if (!(max > 0)) return;
      for (let r = 0; r < rows; r++) {
        if (!(acc[r] > 0)) continue;
        g.fillStyle = `rgba(47,91,211,${(0.1 + 0.9 * (acc[r] / max)).toFixed(3)})`;
        g.fillRect(L + c * cw, T + ph - (r + 1) * rh, Math.max(cw, 1) + 0.5, rh + 0.5);
      }
    });
    g.strokeStyle = '#d62728';
    g.lineWidth = 1.5;
    g.strokeRect(L + sel * cw, T, Math.max(cw, 2), ph);
    g.fillStyle = '#6b7280';
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'right';
    g.fillText(fmtTick(hi), L - 4, T + 9);
    g.fillText(fmtTick(lo), L - 4, T + ph);
    g.textAlign = 'left';
    g.fillText('step ' + fmtValue(items[0].step), L, H - 2);
    g.textAlign = 'right';
    g.fillText(fmtValue(items[n - 1].step), W - R, H - 2);
  }

  function drawBars(canvas, v) {
    const g = canvas.getContext('2d'), W = canvas._w, H = canvas._h;
    const L = 46, B = 14, T = 6, R = 4, pw = W - L - R, ph = H - T - B;
    g.clearRect(0, 0, W, H);
    g.fillStyle = '#fff';
    g.fillRect(0, 0, W, H);
    if (!validHist(v)) return;
    const b = v.bins, lo = b[0], hi = b[b.length - 1] > lo ? b[b.length - 1] : lo + 1;
    const max = Math.max(0, ...v.values.filter(isNum));
    g.fillStyle = 'rgba(47,91,211,0.75)';
    for (let j = 0; j < v.values.length; j++) {
      if (!isNum(v.values[j]) || !(max > 0)) continue;
      const x0 = L + ((b[j] - lo) / (hi - lo)) * pw, x1 = L + ((b[j + 1] - lo) / (hi - lo)) * pw;
      const bh = (v.values[j] / max) * ph;
      g.fillRect(x0, T + ph - bh, Math.max(1, x1 - x0 - 0.5), bh);
    }
    g.fillStyle = '#6b7280';
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'right';
    g.fillText(fmtTick(max), L - 4, T + 9);
    g.fillText('0', L - 4, T + ph);
    g.textAlign = 'left';
    g.fillText(fmtTick(lo), L, H - 2);
    g.textAlign = 'right';
    g.fillText(fmtTick(hi), W - R, H - 2);
  }

  async function renderMedia(ctx, el, ref, k, res) {
    const items = (Array.isArray(res.items) ? res.items : []).filter(isPlainObject);
    const kind = MEDIA_KINDS.includes(res.kind) ? res.kind : k.kind;
    const content = h('div', { class: 'media-body' });
    el.replaceChildren(h('h4', { text: k.key }), content);
    if (!items.length) { content.append(h('p', { class: 'muted', text: 'nothing logged' })); return; }
    const last = items.length - 1;
    const refsOf = (v) => (Array.isArray(v) ? v : [v]).filter((x) => isPlainObject(x) && typeof x.path === 'string');

    if (kind === 'image' || kind === 'audio' || kind === 'video') {
      const view = h('div', { class: 'media-view' });
      const cap = h('div', { class: 'caption' });
      const show = (i) => {
        const vals = refsOf(items[i].value);
        view.replaceChildren(...vals.map((v) => {
          const src = fileUrl(ref, v.path);
          if (kind === 'image') {
            const img = h('img', { src, alt: k.key + ' step ' + fmtValue(items[i].step) });
            img.addEventListener('load', () => {
              const w = img.naturalWidth; // small images drawn larger, pixels kept sharp
              if (w && w < 128) { img.style.width = w * Math.floor(128 / w) + 'px'; img.style.imageRendering = 'pixelated'; }
            });
            return img;
          }
          return h(kind, { src, controls: true, preload: 'metadata' });
        }));
        if (!vals.length) view.append(h('p', { class: 'muted', text: fmtValue(items[i].value) }));
        cap.textContent = vals.map((v) => (isMissing(v.caption) ? '' : String(v.caption))).filter(Boolean).join(' · ');
      };
      const slider = stepSlider(items, show, 0);
      content.append(view, cap, slider.el);
      show(0);
      return;
    }

    if (kind === 'histogram') {
      const heat = hiDpiCanvas('heatmap', 460, 150), bars = hiDpiCanvas('hist-bars', 460, 120);
      let sel = last;
      const show = (i) => { sel = i; drawHeatmap(heat, items, sel); drawBars(bars, items[sel].value); };
      const slider = stepSlider(items, show, last);
      heat.addEventListener('click', (e) => {
        const r = heat.getBoundingClientRect(), L = (46 / heat._w) * r.width, pw = r.width - L - (4 / heat._w) * r.width;
        const i = clamp(Math.floor(((e.clientX - r.left - L) / pw) * items.length), 0, last);
        slider.input.value = String(i);
        slider.set(i);
        show(i);
      });
      content.append(heat, bars, slider.el);
      show(last);
      return;
    }

    if (kind === 'file') { // HTML, 3D objects, molecules: offered as downloads, never shown inside this page
      const list = h('ul', { class: 'media-files' });
      for (const it of items.slice(-20).reverse()) {
        for (const v of refsOf(it.value)) {
          list.append(h('li', null, h('a', { class: 'download', href: fileUrl(ref, v.path, true), text: v.path.split('/').pop() }),
            h('span', { class: 'muted', text: ` step ${fmtValue(it.step)} · ${String((isPlainObject(it.value) && it.value._type) || '')}` })));
        }
      }
      content.append(list);
      return;
    }

    if (kind === 'plot' || kind === 'plotly') {
      const view = h('div', { class: 'plot-view' });
      let current = null, tok = 0;
      const show = async (i) => {
        const t = ++tok;
        const v = items[i].value;
        if (current) { current.destroy(); current = null; }
        let drawn;
        if (kind === 'plot') {
          const tref = isPlainObject(v) && isPlainObject(v.table) ? v.table : null;
          if (!tref || typeof tref.path !== 'string') { view.replaceChildren(h('p', { class: 'muted', text: 'no table' })); return; }
          const res = await api('table', { run: ref, path: tref.path, limit: 1000 }, ctx.signal);
          if (t !== tok || !ctx.alive) return;
          drawn = drawPlot(String(v.spec || ''), isPlainObject(v.fields) ? v.fields : {}, isPlainObject(v.string_fields) ? v.string_fields : {},
            Array.isArray(res.columns) ? res.columns.map(String) : [], Array.isArray(res.rows) ? res.rows : []);
        } else {
          const resp = await fetch(fileUrl(ref, v.path), { signal: ctx.signal, credentials: 'same-origin' });
          RS.requests++;
          if (!resp.ok) throw new Error('HTTP ' + resp.status);
          const fig = JSON.parse(await resp.text());
          if (t !== tok || !ctx.alive) return;
          drawn = drawPlotly(fig);
          drawn.extra = h('a', { class: 'download', href: fileUrl(ref, v.path, true), text: 'plotly JSON' });
        }
        current = drawn;
        view.replaceChildren(drawn.el, drawn.extra || '');
      };
      ctx.onCleanup(() => { if (current) current.destroy(); });
      content.append(view);
      if (items.length > 1) content.append(stepSlider(items, (i) => { show(i).catch(report); }, last).el);
      await show(last);
      return;
    }

    if (kind === 'table') {
      const st = { item: last, offset: 0, limit: 20, sort: '', desc: false, total: 0 };
      let tok = 0;
      const prev = h('button', { class: 'prev', type: 'button', text: '‹ prev' });
      const next = h('button', { class: 'next', type: 'button', text: 'next ›' });
      const info = h('span', { class: 'page-info muted' });
      const size = h('select', { class: 'page-size', title: 'rows per page' }, [10, 20, 50].map((n) => h('option', { value: String(n), text: n + ' rows' })));
      size.value = String(st.limit);
      const tbl = h('table', { class: 'media-table' });
      const load = async () => {
        const v = refsOf(items[st.item].value)[0];
        if (!v) { tbl.replaceChildren(h('tbody', null, h('tr', null, h('td', { text: fmtValue(items[st.item].value) })))); return; }
        const q = { run: ref, path: v.path, offset: st.offset, limit: st.limit };
        if (st.sort) { q.sort = st.sort; if (st.desc) q.desc = 1; }
        const t = ++tok;
        const res = await api('table', q, ctx.signal);
        if (t !== tok || !ctx.alive) return;
        const cols = Array.isArray(res.columns) ? res.columns.map(String) : [];
        const rows = Array.isArray(res.rows) ? res.rows : [];
        st.total = isNum(res.total) ? res.total : rows.length;
        tbl.replaceChildren(
          h('thead', null, h('tr', null, cols.map((c) => h('th', { dataset: { col: c }, title: 'sort by ' + c }, c,
            st.sort === c ? h('span', { class: 'sort-ind', text: st.desc ? ' ▼' : ' ▲' }) : null)))),
          h('tbody', null, rows.map((row) => h('tr', null, (Array.isArray(row) ? row : cols.map((c) => (isPlainObject(row) ? row[c] : row)))
            .map((cell) => {
              if (isPlainObject(cell) && cell._type === 'image-file' && typeof cell.path === 'string') {
                return h('td', null, h('img', { class: 'cell-image', src: fileUrl(ref, cell.path), alt: String(cell.caption || cell.path) }));
              }
              const s = fmtValue(cell);
              return h('td', { text: s, title: s.length > 40 ? s : null });
            })))));
        info.textContent = st.total ? `${st.offset + 1}–${st.offset + rows.length} of ${st.total}` : 'empty';
        prev.disabled = st.offset <= 0;
        next.disabled = st.offset + st.limit >= st.total;
      };
      const reload = () => { load().catch(report); };
      prev.addEventListener('click', () => { st.offset = Math.max(0, st.offset - st.limit); reload(); });
      next.addEventListener('click', () => { st.offset += st.limit; reload(); });
      size.addEventListener('change', () => { st.limit = Number(size.value); st.offset = 0; reload(); });
      tbl.addEventListener('click', (e) => {
        const th = e.target.closest('th[data-col]');
        if (!th) return;
        if (st.sort === th.dataset.col) st.desc = !st.desc;
        else { st.sort = th.dataset.col; st.desc = false; }
        st.offset = 0;
        reload();
      });
      content.append(h('div', { class: 'media-table-controls' }, prev, next, info, size), h('div', { class: 'table-scroll' }, tbl));
      if (items.length > 1) {
        const slider = stepSlider(items, (i) => { st.item = i; st.offset = 0; reload(); }, last);
        content.append(slider.el);
      }
      await load();
    }
  }

  // ---- wandb.plot charts and plotly figures, drawn with uPlot

  /** A chart of a wandb.plot preset over its table; {el, destroy, kind}. */
  function drawPlot(spec, fields, sf, cols, rows) {
    const col = (name) => cols.indexOf(String(name));
    const get = (name) => { const i = col(name); return i < 0 ? [] : rows.map((r) => (Array.isArray(r) ? r[i] : null)); };
    const title = String(sf.title || '');
    const wrap = h('div', { class: 'plot-chart', dataset: { spec } }, title ? h('div', { class: 'plot-title', text: title }) : null);
    const out = { el: wrap, destroy() { if (this.u) this.u.destroy(); }, u: null, spec };
    const numbers = (a) => a.map((v) => (isNum(v) ? v : null));
    const byGroup = (xs, ys, gs) => {
      const groups = new Map();
      xs.forEach((x, i) => { const g = gs ? String(gs[i]) : ''; if (!groups.has(g)) groups.set(g, []); groups.get(g).push([x, ys[i]]); });
      return [...groups.entries()];
    };
    let lines = null, mode = 'line', categories = null;
    if (spec.startsWith('wandb/confusion_matrix')) {
      const a = get(fields.Actual || 'Actual'), p = get(fields.Predicted || 'Predicted'), n = numbers(get(fields.nPredictions || 'nPredictions'));
      const names = [...new Set(a.concat(p).map(String))];
      const max = Math.max(1, ...n.filter(isNum));
      const cell = new Map(a.map((x, i) => [String(x) + '\u0000' + String(p[i]), n[i]]));
      const tbl = h('table', { class: 'confusion' },
        h('thead', null, h('tr', null, h('th', { text: 'actual \\ predicted' }), names.map((c) => h('th', { text: c })))),
        h('tbody', null, names.map((r) => h('tr', null, h('th', { text: r }), names.map((c) => {
          const v = cell.get(r + '\u0000' + c) || 0;
          const td = h('td', { text: String(v) });
          td.style.background = rgba('#4363d8', 0.08 + 0.8 * (v / max));
          return td;
        })))));
      wrap.append(tbl);
      return out;
    }
    if (spec.startsWith('wandb/lineseries')) {
      lines = byGroup(numbers(get(fields.step || 'step')), numbers(get(fields.lineVal || 'lineVal')), get(fields.lineKey || 'lineKey'));
    } else if (spec.startsWith('wandb/area-under-curve')) {
      lines = byGroup(numbers(get(fields.x)), numbers(get(fields.y)), fields.class ? get(fields.class) : null);
    } else if (spec.startsWith('wandb/scatter')) {
      const ys = numbers(get(fields.y));
      lines = [['', numbers(get(fields.x)).map((x, i) => [x, ys[i]])]];
      mode = 'points';
    } else if (spec.startsWith('wandb/bar')) {
      categories = get(fields.label).map(String);
      lines = [['', numbers(get(fields.value)).map((v, i) => [i, v])]];
      mode = 'bars';
    } else if (spec.startsWith('wandb/histogram')) {
      const vals = numbers(get(fields.value)).filter(isNum);
      const lo = Math.min(...vals), hi = Math.max(...vals), nb = Math.min(30, Math.max(1, Math.ceil(Math.sqrt(vals.length))));
      const w = (hi - lo) / nb || 1, counts = new Array(nb).fill(0);
      for (const v of vals) counts[Math.min(nb - 1, Math.floor((v - lo) / w))]++;
      lines = [['count', counts.map((c, i) => [lo + (i + 0.5) * w, c])]];
      mode = 'bars';
    } else if (fields.x && fields.y) {
      lines = byGroup(numbers(get(fields.x)), numbers(get(fields.y)), fields.stroke ? get(fields.stroke) : null);
    }
    if (!lines || !lines.length) { wrap.append(h('p', { class: 'muted', text: `a chart runship ui does not draw (${spec}); its table is in the Files tab` })); return out; }
    out.u = xyChart(wrap, lines, mode, categories, sf['x-axis-title'] || fields.x || '', sf['y-axis-title'] || fields.y || '');
    out.kind = mode;
    return out;
  }

  /** A plotly figure's x/y traces (scatter, line, bar), drawn with uPlot. */
  function drawPlotly(fig) {
    const wrap = h('div', { class: 'plot-chart plotly' });
    const out = { el: wrap, destroy() { if (this.u) this.u.destroy(); }, u: null };
    const traces = (isPlainObject(fig) && Array.isArray(fig.data) ? fig.data : []).filter((t) => isPlainObject(t) && Array.isArray(t.y));
    const title = isPlainObject(fig.layout) && fig.layout.title ? (isPlainObject(fig.layout.title) ? fig.layout.title.text : fig.layout.title) : '';
    if (title) wrap.append(h('div', { class: 'plot-title', text: String(title) }));
    if (!traces.length) { wrap.append(h('p', { class: 'muted', text: 'a plotly figure without x/y traces: download its JSON' })); return out; }
    const lines = traces.map((t, n) => [String(t.name || 'trace ' + n), t.y.map((y, i) => [isNum(Array.isArray(t.x) ? t.x[i] : i) ? (Array.isArray(t.x) ? t.x[i] : i) : i, isNum(y) ? y : null])]);
    const mode = traces.every((t) => t.type === 'bar') ? 'bars' : traces.every((t) => String(t.mode || '').indexOf('lines') < 0 && t.type === 'scatter' && t.mode) ? 'points' : 'line';
    out.u = xyChart(wrap, lines, mode, null, '', '');
    return out;
  }

  /** Lines [[label, [[x, y], ...]], ...] on one uPlot chart (x values merged). */
  function xyChart(wrap, lines, mode, categories, xlabel, ylabel) {
    // every point keeps its own slot, in x order (ties: by line, then as logged), so that
    // repeated x values stay (a scatter, a ROC curve's vertical steps); other lines are gaps there
    const all = [];
    lines.forEach(([, pts], n) => pts.forEach((p, i) => { if (isNum(p[0])) all.push([p[0], n, i, p[1]]); }));
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    const xs = all.map((a) => a[0]);
    const columns = lines.map(() => new Array(all.length).fill(null));
    all.forEach((a, k) => { columns[a[1]][k] = a[3]; });
    const data = [xs];
    const series = [{ label: xlabel || 'x' }];
    lines.forEach(([label], n) => {
      data.push(columns[n]);
      const color = PALETTE[n % PALETTE.length];
      const s = { label: label || ylabel || 'y', stroke: color, width: mode === 'points' ? 0 : 2, spanGaps: true };
      if (mode === 'points') { s.paths = () => null; s.points = { show: true, size: 6, fill: color }; }
      if (mode === 'bars') { s.paths = uPlot.paths.bars({ size: [0.7, 60] }); s.fill = rgba(color, 0.6); s.points = { show: false }; }
      series.push(s);
    });
    const axes = [{ label: xlabel || null }, { label: ylabel || null }];
    if (categories) axes[0].values = (u, vals) => vals.map((v) => (Number.isInteger(v) && categories[v] !== undefined ? categories[v] : ''));
    const width = Math.max(300, Math.min(560, wrap.clientWidth || 460));
    const opts = { width, height: 260, series, axes, scales: { x: { time: false } }, legend: { show: lines.length > 1 || !!lines[0][0] } };
    return new uPlot(opts, data, wrap);
  }

  // ============================================================ 8. compare page

  function compareTable(id, runs, get) {
    const keys = new Set();
    for (const r of runs) for (const k of Object.keys(get(r))) keys.add(k);
    const sorted = [...keys].sort(naturalCompare);
    let differing = 0;
    const rows = sorted.map((key) => {
      const vals = runs.map((r) => get(r)[key]);
      const sigs = vals.map((v) => (v === undefined ? '\u0000missing' : JSON.stringify(v)));
      const differs = sigs.some((s) => s !== sigs[0]);
      if (differs) differing++;
      return h('tr', { class: differs ? 'differs' : 'same', dataset: { key } }, h('td', { class: 'key', text: key, title: key }),
        vals.map((v) => { const s = fmtValue(v); return h('td', { class: typeof v === 'number' ? 'num' : null, text: s, title: s.length > 30 ? s : null }); }));
    });
    if (!rows.length) rows.push(h('tr', null, h('td', { class: 'muted', colspan: runs.length + 1, text: '(none)' })));
    const head = h('tr', null, h('th', { text: 'key' }), runs.map((r) => {
      const sw = h('span', { class: 'swatch' });
      sw.style.background = r.color;
      return h('th', { dataset: { ref: r.ref } }, sw, h('a', { class: 'run-link', href: runHash(r.ref), text: r.label, title: r.ref }));
    }));
    const table = h('table', { id, class: 'compare' }, h('thead', null, head), h('tbody', null, rows));
    return { el: h('div', { class: 'table-wrap compare-wrap-table' }, table), differing, total: sorted.length };
  }

  const withoutMedia = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => !isMediaRef(v)));

  const padRange = (min, max) => {
    if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
    if (min === max) { const d = Math.abs(min) * 0.1 || 1; return [min - d, max + d]; }
    const d = (max - min) * 0.08;
    return [min - d, max + d];
  };

  async function comparePage(ctx, main, params) {
    const refs = params.list('runs').slice(0, 100);
    const save = () => replaceHash('/compare', params);
    if (!refs.length) {
      main.append(h('p', { class: 'muted pad', text: 'Tick runs in the Runs view and press Compare.' }));
      ctx.ready();
      return;
    }
    lastSelection = refs;
    updateNav('compare');
    const loading = h('p', { class: 'muted', text: `loading ${refs.length} runs…` });
    main.append(loading);
    const results = await Promise.all(refs.map((ref) => api('run', { run: ref }, ctx.signal).then(
      (d) => ({ ref, d }),
      (e) => { if (e.name === 'AbortError') throw e; report(e); return { ref, d: null }; })));
    if (!ctx.alive) return;
    const runs = results.filter((x) => isPlainObject(x.d)).map(({ ref, d }) => ({
      ref, d, label: String(d.name || d.id || ref), color: colorOf(ref),
      cfg: flatten(isPlainObject(d.config) ? d.config : {}), sum: withoutMedia(flatten(isPlainObject(d.summary) ? d.summary : {})),
    }));
    loading.remove();
    if (!runs.length) { main.append(h('p', { class: 'error', text: 'None of these runs could be read.' })); ctx.ready(); return; }

    const onlyDiff = h('input', { id: 'only-diff', type: 'checkbox', checked: params.get('only') === '1' });
    const cfg = compareTable('compare-config', runs, (r) => r.cfg);
    const sum = compareTable('compare-summary', runs, (r) => r.sum);
    const wrap = h('div', { class: 'compare-grid' + (onlyDiff.checked ? ' only-diff-on' : '') },
      h('div', { class: 'toolbar' }, h('b', { text: `Comparing ${runs.length} run${runs.length === 1 ? '' : 's'}` }),
        h('label', null, onlyDiff, 'only differing')),
      h('h3', { text: `Config (${cfg.differing} of ${cfg.total} differ)` }), cfg.el,
      h('h3', { text: `Summary (${sum.differing} of ${sum.total} differ)` }), sum.el);
    onlyDiff.addEventListener('change', () => {
      wrap.classList.toggle('only-diff-on', onlyDiff.checked);
      params.set('only', onlyDiff.checked ? '1' : null);
      save();
    });

    // scatter: a config key against a summary metric, one point per run
    const cfgKeys = [...new Set(runs.flatMap((r) => Object.keys(r.cfg)))].sort(naturalCompare);
    const sumKeys = [...new Set(runs.flatMap((r) => Object.keys(r.sum).filter((k) => isNum(toNumber(r.sum[k])))))].sort(naturalCompare);
    const differs = (k) => new Set(runs.map((r) => JSON.stringify(r.cfg[k] === undefined ? null : r.cfg[k]))).size > 1;
    const numericCfg = (k) => runs.some((r) => isNum(toNumber(r.cfg[k])));
    const sxDefault = cfgKeys.find((k) => differs(k) && numericCfg(k)) || cfgKeys.find(differs) || cfgKeys[0] || '';
    const syDefault = sumKeys.find((k) => !k.startsWith('_')) || sumKeys[0] || '';
    const sx = h('select', { id: 'scatter-x', title: 'x: a config key' }, cfgKeys.map((k) => h('option', { value: k, text: 'config.' + k })));
    const sy = h('select', { id: 'scatter-y', title: 'y: a summary metric' }, sumKeys.map((k) => h('option', { value: k, text: 'summary.' + k })));
    sx.value = cfgKeys.includes(params.get('sx')) ? params.get('sx') : sxDefault;
    sy.value = sumKeys.includes(params.get('sy')) ? params.get('sy') : syDefault;
    const logX = h('input', { id: 'scatter-logx', type: 'checkbox', checked: params.get('slog') === '1' });
    const plotEl = h('div', { id: 'scatter' });
    const info = h('div', { class: 'scatter-info' });
    wrap.append(h('h3', { text: 'Scatter' }), h('div', { class: 'toolbar' }, h('label', null, 'x', sx), h('label', null, 'y', sy), h('label', null, logX, 'log x')),
      h('div', { class: 'card' }, info, plotEl));
    main.append(wrap);

    let u = null;
    ctx.onCleanup(() => { if (u) u.destroy(); u = null; delete RS.scatter; });
    function drawScatter() {
      if (u) { u.destroy(); u = null; }
      plotEl.replaceChildren();
      info.replaceChildren();
      const xk = sx.value, yk = sy.value;
      if (!xk || !yk) { plotEl.append(h('p', { class: 'muted', text: 'Needs a config key and a numeric summary metric.' })); return; }
      const pts = runs.map((r) => ({ r, xv: r.cfg[xk], y: toNumber(r.sum[yk]) })).filter((p) => !isMissing(p.xv) && isNum(p.y));
      if (!pts.length) { plotEl.append(h('p', { class: 'muted', text: 'No run has both values.' })); return; }
      const numericX = pts.every((p) => isNum(toNumber(p.xv)));
      let cats = null;
      if (numericX) for (const p of pts) p.x = toNumber(p.xv);
      else {
        cats = [...new Set(pts.map((p) => fmtValue(p.xv)))].sort(naturalCompare);
        for (const p of pts) p.x = cats.indexOf(fmtValue(p.xv));
      }
      const log = !cats && logX.checked && pts.every((p) => p.x > 0);
      const xs = unionSorted([pts.map((p) => p.x)]);
      const data = [xs], series = [{ label: xk }];
      for (const p of pts) {
        const arr = new Array(xs.length).fill(null);
        arr[xs.indexOf(p.x)] = p.y;
        data.push(arr);
        series.push({ label: p.r.label, stroke: p.r.color, paths: () => null, points: { show: true, space: 0, size: 10, width: 1, stroke: p.r.color, fill: rgba(p.r.color, 0.75) } });
      }
      const axis = () => ({ stroke: '#6b7280', grid: { stroke: '#eef0f3', width: 1 }, ticks: { stroke: '#e3e6ea', width: 1, size: 4 }, font: '11px system-ui, sans-serif' });
      const xAxis = Object.assign(axis(), { space: 70, label: 'config.' + xk, labelSize: 18, labelFont: '11px system-ui, sans-serif' });
      if (cats) {
        xAxis.splits = () => cats.map((_, i) => i);
        xAxis.values = (self, splits) => splits.map((v) => (Number.isInteger(v) && cats[v] !== undefined ? cats[v] : ''));
      } else xAxis.values = (self, splits) => splits.map(fmtTick);
      const yAxis = Object.assign(axis(), { size: 54, values: (self, splits) => splits.map(fmtTick), label: 'summary.' + yk, labelSize: 18, labelFont: '11px system-ui, sans-serif' });
      u = new uPlot({
        width: Math.max(300, plotEl.clientWidth || 800),
        height: 340,
        legend: { show: false },
        series,
        scales: {
          x: log ? { time: false, distr: 3, log: 10, range: (self, min, max) => [min / 1.6, max * 1.6] } : { time: false, range: (self, min, max) => (cats ? [-0.5, cats.length - 0.5] : padRange(min, max)) },
          y: { range: (self, min, max) => padRange(min, max) },
        },
        axes: [xAxis, yAxis],
        cursor: { drag: { x: false, y: false, setScale: false }, points: { show: false } },
        hooks: {
          setCursor: [(self) => {
            const i = self.cursor.idx;
            info.replaceChildren();
            if (i === null || i === undefined) return;
            const here = pts.filter((p) => p.x === xs[i]);
            if (!here.length) return;
            info.append(`config.${xk} = ${cats ? cats[xs[i]] : fmtNum(xs[i])}: `);
            here.forEach((p, k) => {
              const sw = h('span', { class: 'swatch' });
              sw.style.background = p.r.color;
              info.append(k ? ', ' : '', sw, h('b', { text: p.r.label }), ` ${yk} = ${fmtNum(p.y)}`);
            });
          }],
        },
      }, data, plotEl);
      RS.scatter = { u, x: xk, y: yk, points: pts.map((p) => ({ ref: p.r.ref, label: p.r.label, color: p.r.color, x: p.x, y: p.y })) };
    }
    for (const [sel, name] of [[sx, 'sx'], [sy, 'sy']]) {
      sel.addEventListener('change', () => { params.set(name, sel.value); save(); drawScatter(); });
    }
    logX.addEventListener('change', () => { params.set('slog', logX.checked ? '1' : null); save(); drawScatter(); });
    const onResize = debounce(drawScatter, 200);
    window.addEventListener('resize', onResize);
    ctx.onCleanup(() => { window.removeEventListener('resize', onResize); onResize.cancel(); });
    drawScatter();
    ctx.ready();
  }

  // ============================================================ 9. boot

  window.addEventListener('unhandledrejection', (e) => {
    report(e.reason);
    e.preventDefault();
  });
  window.addEventListener('hashchange', route);
  if (typeof uPlot === 'undefined') setStatus('the chart library (uPlot) did not load');
  route();
})();
