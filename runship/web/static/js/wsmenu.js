/* The workspace page's menu: the workspace shown (a dot when it has unsaved changes), Save,
 * Save as…, the saved ones to load, Set as default, Delete. Opening a project shows its
 * default workspace (else the built-in one); ws=NAME in the address names the one to show. */

import { report } from './api.js';
import { h } from './dom.js';
import { fmtTime } from './util.js';
import {
  WORKSPACE_FORMAT, deleteWorkspace, listWorkspaces, loadWorkspace, nameProblem, saveWorkspace, setDefaultWorkspace,
} from './workspaces.js';

/** @typedef {import('./router.js').ViewCtx} ViewCtx */
/** @typedef {import('./workspaces.js').WorkspaceDoc} WorkspaceDoc */
/** @typedef {import('./workspaces.js').WorkspaceEntry} WorkspaceEntry */

/**
 * @typedef {object} MenuOptions
 * @property {string | null} project
 * @property {() => {runs: any, charts: any}} state the shown workspace's runs and charts parts
 * @property {(doc: WorkspaceDoc | null) => void} apply show a workspace (null: the built-in one)
 * @property {(name: string) => void} named the shown workspace's name changed ('': none)
 */

export class WorkspaceMenu {
  /** @param {ViewCtx} ctx @param {MenuOptions} o */
  constructor(ctx, o) {
    this.ctx = ctx;
    this.o = o;
    this.name = '';
    this.dirty = false;
    /** @type {string | null} */
    this.def = null;
    /** @type {WorkspaceEntry[]} */
    this.saved = [];
    this.deleteArmed = false;
    this.nameEl = h('span', { id: 'ws-current', class: 'ws-current' });
    this.dot = h('span', { id: 'ws-dirty', class: 'ws-dirty', title: 'unsaved changes', text: '\u25cf', hidden: true });
    this.msg = h('div', { id: 'ws-msg', class: 'ws-msg muted' });
    this.saveBtn = h('button', { type: 'button', id: 'ws-save', class: 'primary', text: 'Save' });
    this.nameIn = h('input', { id: 'ws-name', type: 'text', placeholder: 'name', maxlength: '100', spellcheck: 'false', autocomplete: 'off' });
    this.saveAsBtn = h('button', { type: 'button', id: 'ws-saveas', text: 'Save as…' });
    this.defBtn = h('button', { type: 'button', id: 'ws-set-default', text: 'Set as default' });
    this.delBtn = h('button', { type: 'button', id: 'ws-delete', text: 'Delete' });
    this.builtin = h('button', { type: 'button', id: 'ws-builtin', class: 'ws-item', text: 'built-in layout' });
    this.list = h('div', { id: 'ws-list', class: 'ws-saved' });
    this.el = h('details', { id: 'ws-menu', class: 'dropdown ws-menu' },
      h('summary', { title: 'workspaces' }, h('span', { class: 'muted', text: 'Workspace ' }), this.nameEl, this.dot),
      h('div', { class: 'dropdown-body' },
        h('div', { class: 'ws-line' }, this.saveBtn, this.defBtn, this.delBtn),
        h('div', { class: 'ws-line' }, this.nameIn, this.saveAsBtn),
        this.msg,
        h('div', { class: 'dd-head', text: 'saved workspaces' }), this.list, this.builtin));
    this.wire();
    this.show();
    /** A click outside the open menu closes it. @param {MouseEvent} ev */
    const outside = (ev) => { if (this.el.open && ev.target instanceof Node && !this.el.contains(ev.target)) this.el.open = false; };
    document.addEventListener('mousedown', outside);
    ctx.onCleanup(() => document.removeEventListener('mousedown', outside));
  }

  wire() {
    const run = (/** @type {() => Promise<void>} */ f) => () => { f().catch((e) => { this.say(e.message || String(e), true); report(e); }); };
    this.saveBtn.addEventListener('click', run(() => (this.name ? this.saveAs(this.name) : this.askName())));
    this.saveAsBtn.addEventListener('click', run(() => this.saveAs(this.nameIn.value.trim())));
    this.nameIn.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') run(() => this.saveAs(this.nameIn.value.trim()))(); });
    this.defBtn.addEventListener('click', run(() => this.setDefault()));
    this.delBtn.addEventListener('click', run(() => this.remove()));
    this.builtin.addEventListener('click', () => { this.o.apply(null); this.setName(''); this.dirty = false; this.show(); this.el.open = false; });
    this.list.addEventListener('click', (ev) => {
      const b = /** @type {HTMLElement | null} */ (/** @type {Element} */ (ev.target).closest('[data-name]'));
      if (b) run(() => this.open(String(b.dataset.name), true))();
    });
  }

  /** @param {string} text @param {boolean} [bad] */
  say(text, bad = false) {
    this.msg.textContent = text;
    this.msg.classList.toggle('error', bad);
  }

  /** The user changed the view: it differs from the saved workspace. */
  markDirty() {
    if (this.dirty) return;
    this.dirty = true;
    this.show();
  }

  /** @param {string} name */
  setName(name) {
    this.name = name;
    this.o.named(name);
  }

  show() {
    this.nameEl.textContent = this.name || '(unsaved)';
    this.dot.hidden = !this.dirty;
    this.el.classList.toggle('dirty', this.dirty);
    this.defBtn.disabled = !this.name;
    this.delBtn.disabled = !this.name;
    this.defBtn.textContent = this.name && this.name === this.def ? 'Default \u2713' : 'Set as default';
    this.delBtn.textContent = this.deleteArmed ? `Delete “${this.name}”?` : 'Delete';
    this.list.replaceChildren(...this.saved.map((w) => h('button', {
      type: 'button', class: 'ws-item' + (w.name === this.name ? ' current' : ''), dataset: { name: w.name },
      title: w.saved_at ? 'saved ' + fmtTime(w.saved_at) : '',
    }, w.name, w.name === this.def ? h('span', { class: 'muted', text: ' (default)' }) : null)));
    if (!this.saved.length) this.list.append(h('div', { class: 'muted', text: 'none saved yet' }));
  }

  async refreshList() {
    const res = await listWorkspaces(this.o.project, this.ctx.signal);
    this.saved = res.workspaces;
    this.def = res.default;
    this.show();
  }

  /** Show the named workspace, else the project's default, else the built-in one. @param {string} named */
  async start(named) {
    try {
      await this.refreshList();
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      report(e);
      this.say('the saved workspaces could not be listed: ' + e.message, true);
      if (!named) { this.o.apply(null); return; }
    }
    const name = named || this.def || '';
    if (!name) { this.o.apply(null); return; }
    await this.open(name, false).catch((e) => {
      if (e.name === 'AbortError') throw e;
      report(e);
      this.o.apply(null);
    });
  }

  /** @param {string} name @param {boolean} byUser */
  async open(name, byUser) {
    const doc = await loadWorkspace(this.o.project, name, this.ctx.signal);
    if (!doc) {
      this.say(`no saved workspace “${name}”: the built-in layout is shown`, true);
      this.o.apply(null);
      this.setName('');
      this.show();
      return;
    }
    this.o.apply(doc);
    this.setName(name);
    this.dirty = false;
    this.deleteArmed = false;
    this.say(byUser ? `“${name}” loaded` : '');
    this.show();
    if (byUser) this.el.open = false;
  }

  askName() {
    this.nameIn.focus();
    this.say('name the workspace, then Save as…');
    return Promise.resolve();
  }

  /** @param {string} name */
  async saveAs(name) {
    const bad = nameProblem(name);
    if (bad) { this.say(bad, true); return; }
    const { runs, charts } = this.o.state();
    /** @type {WorkspaceDoc} */
    const doc = { format: WORKSPACE_FORMAT, name, project: this.o.project, runs, charts };
    const res = await saveWorkspace(this.o.project, doc, this.ctx.signal);
    this.setName(res && typeof res.name === 'string' ? res.name : name);
    this.dirty = false;
    this.deleteArmed = false;
    this.nameIn.value = '';
    this.say(`saved “${this.name}”`);
    await this.refreshList();
    this.el.open = false;
  }

  async setDefault() {
    if (!this.name) return;
    const res = await setDefaultWorkspace(this.o.project, this.name === this.def ? '' : this.name, this.ctx.signal);
    this.def = res && typeof res.default === 'string' ? res.default : null;
    this.say(this.def ? `“${this.def}” opens with this project` : 'no default workspace');
    this.show();
  }

  async remove() {
    if (!this.name) return;
    if (!this.deleteArmed) { this.deleteArmed = true; this.show(); return; }
    const name = this.name;
    await deleteWorkspace(this.o.project, name, this.ctx.signal);
    this.deleteArmed = false;
    this.setName('');
    this.dirty = true;
    this.say(`deleted “${name}”`);
    await this.refreshList();
  }
}
