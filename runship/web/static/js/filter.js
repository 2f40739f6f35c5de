/* Filter expressions of the runs view.
 *
 * PATH OP VALUE comparisons (OP: < <= > >= == != ~), combined with and, or,
 * not and parentheses. PATH: config.KEY, summary.KEY or a run field (state,
 * group, tags, name, ...). VALUE: a number, a quoted string or a bare word.
 * A small recursive-descent parser; nothing is evaluated as code. Text that
 * is not an expression is a plain substring search. */

import { NUMBER_RE, fmtValue, isMissing, toNumber } from './util.js';

/**
 * A run as the filter sees it: its fields, and its config and summary flattened (dotted keys).
 * @typedef {Record<string, any> & {_cfg: Record<string, any>, _sum: Record<string, any>}} FilterRun
 */
/** @typedef {{t: string, v?: string, pos: number}} Token */
/** @typedef {null | number | string} Value */
/**
 * @typedef {{type: 'or' | 'and', a: Node, b: Node} | {type: 'not', a: Node} | {type: 'truthy', path: string}
 *   | {type: 'cmp', path: string, op: string, value: Value}} Node
 */

const OPS = ['<=', '>=', '==', '!=', '<', '>', '=', '~'];
const WORD_STOP = /[\s()<>=!~"']/;
const FIELDS = ['state', 'group', 'tags', 'name', 'id', 'host', 'job_type', 'job_id', 'project', 'steps', 'duration',
  'start_time', 'last_write', 'live', 'ref'];

/** @param {string} src @returns {Token[]} */
function tokenize(src) {
  /** @type {Token[]} */
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

/** @param {string} src @returns {Node} */
function parseExpression(src) {
  const toks = tokenize(src);
  let k = 0;
  const peek = () => toks[k];
  /** @param {Token | undefined} t */
  const what = (t) => (!t ? 'end of expression' : t.v !== undefined ? `'${t.v}'` : `'${t.t}'`);
  /** @param {string} msg @param {Token} [t] @returns {never} */
  const fail = (msg, t) => { throw new Error(msg + (t ? ` at ${t.pos + 1}` : '')); };
  /** @returns {Node} */
  function or() {
    let a = and();
    while (peek() && peek().t === 'or') { k++; a = { type: 'or', a, b: and() }; }
    return a;
  }
  /** @returns {Node} */
  function and() {
    let a = not();
    while (peek() && peek().t === 'and') { k++; a = { type: 'and', a, b: not() }; }
    return a;
  }
  /** @returns {Node} */
  function not() {
    if (peek() && peek().t === 'not') { k++; return { type: 'not', a: not() }; }
    return primary();
  }
  /** @returns {Node} */
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
    const path = String(t.v);
    if (!path.startsWith('config.') && !path.startsWith('summary.') && !FIELDS.includes(path)) {
      fail(`unknown name '${path}' (use config.KEY, summary.KEY or ${FIELDS.slice(0, 6).join(', ')}, ...)`, t);
    }
    if (!peek() || peek().t !== 'op') return { type: 'truthy', path };
    const op = String(toks[k++].v);
    const v = toks[k++];
    if (!v || (v.t !== 'word' && v.t !== 'str')) fail(`expected a value after '${op}' but found ${what(v)}`, v);
    const raw = String(v.v);
    /** @type {Value} */
    let value = raw;
    if (v.t === 'word') {
      if (NUMBER_RE.test(raw)) value = Number(raw);
      else if (raw.toLowerCase() === 'null' || raw.toLowerCase() === 'none') value = null;
    }
    return { type: 'cmp', path, op, value };
  }
  if (!toks.length) fail('empty expression');
  const tree = or();
  if (k < toks.length) fail(`unexpected ${what(toks[k])}`, toks[k]);
  return tree;
}

/** The suffixes define_metric(summary=...) gives a metric's summary, in the order looked up. */
export const SUMMARY_AGGS = ['max', 'min', 'last', 'mean'];

/**
 * A run's summary value of key: the key itself, else (a metric with define_metric's summary
 * "max", "min", "last" or "mean", stored as {"max": v}: flat "KEY.max") the first of
 * KEY.max, KEY.min, KEY.last, KEY.mean it has.
 * @param {Record<string, any>} sum flat (dotted) summary
 * @param {string} key
 */
export function summaryValue(sum, key) {
  if (Object.prototype.hasOwnProperty.call(sum, key)) return sum[key];
  for (const a of SUMMARY_AGGS) {
    const k = key + '.' + a;
    if (Object.prototype.hasOwnProperty.call(sum, k)) return sum[k];
  }
  return undefined;
}

/** @param {FilterRun} run @param {string} path */
function resolvePath(run, path) {
  if (path.startsWith('config.')) return run._cfg[path.slice(7)];
  if (path.startsWith('summary.')) return summaryValue(run._sum, path.slice(8));
  return run[path];
}

/** @param {unknown} lhs @param {string} op @param {Value} rhs @returns {boolean} */
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

/** @param {Node} node @param {FilterRun} run @returns {boolean} */
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

/** Is the filter text an expression (else: a plain substring search)? @param {string} q */
function looksLikeExpression(q) {
  if (/(^|\s)(and|or)(\s|$)/i.test(q) || /^\s*(not\s|\()/i.test(q)) return true;
  if (!/[<>=!~]/.test(q)) return false;
  if (/(config|summary)\.\S/.test(q)) return true;
  return new RegExp('^\\s*(' + FIELDS.join('|') + ')\\s*[<>=!~]').test(q);
}

/**
 * {fn, error}: fn(run) -> bool, or null (filters nothing) with an error message.
 * @param {string | null | undefined} q
 * @returns {{fn: ((run: FilterRun) => boolean) | null, error: string}}
 */
export function compileFilter(q) {
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
