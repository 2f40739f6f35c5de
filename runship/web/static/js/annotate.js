/* Renaming, tagging and noting a run from its overview (POST /ui/api/annotate, docs/UI.md):
 * the name edited in place, the tags as chips (x removes one, the input adds), the notes in a
 * box saved with its button or on leaving it. Each change is one annotation of the run (its
 * streams are never rewritten: docs/FORMAT.md, "Annotations"); the answer is the run's name,
 * tags and notes as merged after it, which is what is then shown. Errors go to the status line. */

import { ApiError, report, request } from './api.js';
import { h } from './dom.js';
import { isPlainObject } from './util.js';

/** @typedef {{name: string, tags: string[], notes: string | null}} Annotated */
/** @typedef {{name?: string, tags_add?: string[], tags_remove?: string[], notes?: string}} Change */

const MAX_NAME = 128;
const MAX_TAG = 64;

/**
 * Write one annotation of the run `ref`; the run's name, tags and notes after it.
 * @param {string} ref @param {Change} change @returns {Promise<Annotated>}
 */
export async function annotate(ref, change) {
  /** @type {any} */
  const body = await request('POST', 'annotate', { run: ref }, change);
  if (!isPlainObject(body)) throw new ApiError(200, 'annotate: the answer is not an object');
  return {
    name: String(body.name ?? ''),
    tags: Array.isArray(body.tags) ? body.tags.map(String) : [],
    notes: typeof body.notes === 'string' ? body.notes : null,
  };
}

/**
 * The editors of a run's name, tags and notes. `onChange` gets the merged values after each save.
 * @param {string} ref @param {any} run the /ui/api/run answer @param {(a: Annotated) => void} onChange
 * @returns {{name: HTMLElement, tags: HTMLElement, notes: HTMLElement}}
 */
export function annotationEditors(ref, run, onChange) {
  /** @type {Annotated} */
  let now = {
    name: String(run.name || run.id || ''),
    tags: Array.isArray(run.tags) ? run.tags.map(String) : [],
    notes: typeof run.notes === 'string' ? run.notes : null,
  };
  const nameBox = h('span', { class: 'name-editor', id: 'name-editor' });
  const tagBox = h('span', { class: 'tag-editor', id: 'tag-editor' });
  const notesBox = h('div', { class: 'notes-editor', id: 'notes-editor' });
  /** @param {Change} change @returns {Promise<boolean>} */
  const save = async (change) => {
    try {
      now = await annotate(ref, change);
    } catch (e) {
      report(e);
      draw();
      return false;
    }
    draw();
    onChange(now);
    return true;
  };
  const draw = () => {
    drawName(nameBox, now, save);
    drawTags(tagBox, now, save);
  };
  draw();
  drawNotes(notesBox, () => now, save);
  return { name: nameBox, tags: tagBox, notes: notesBox };
}

/** @param {HTMLElement} box @param {Annotated} now @param {(c: Change) => Promise<boolean>} save */
function drawName(box, now, save) {
  const edit = () => {
    const input = h('input', { class: 'name-input', type: 'text', maxlength: MAX_NAME, value: now.name, 'aria-label': 'run name' });
    let done = false;
    const finish = (/** @type {boolean} */ keep) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      if (keep && name !== now.name) void save({ name });
      else drawName(box, now, save);
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') finish(true);
      else if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('blur', () => finish(true));
    box.replaceChildren(input);
    input.focus();
    input.select();
  };
  box.replaceChildren(
    h('span', { class: 'name-text', text: now.name }),
    h('button', { class: 'icon-btn rename', type: 'button', title: 'rename the run', 'aria-label': 'rename', text: '✎', onclick: edit }));
}

/** @param {HTMLElement} box @param {Annotated} now @param {(c: Change) => Promise<boolean>} save */
function drawTags(box, now, save) {
  const chips = now.tags.map((tag) => h('span', { class: 'tag-chip', dataset: { tag } },
    h('span', { class: 'tag-text', text: tag }),
    h('button', { class: 'tag-x', type: 'button', title: 'remove tag ' + tag, 'aria-label': 'remove tag ' + tag, text: '×',
      onclick: () => void save({ tags_remove: [tag] }) })));
  const input = h('input', { class: 'tag-input', type: 'text', maxlength: MAX_TAG, placeholder: 'add tag', 'aria-label': 'add a tag' });
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    const tags = input.value.split(',').map((t) => t.trim()).filter((t) => t && !now.tags.includes(t));
    if (tags.length) { input.disabled = true; void save({ tags_add: tags }); }
  });
  box.replaceChildren(...chips, input);
}

/** @param {HTMLElement} box @param {() => Annotated} now @param {(c: Change) => Promise<boolean>} save */
function drawNotes(box, now, save) {
  const area = h('textarea', { class: 'notes-box', rows: 3, placeholder: 'notes about this run', 'aria-label': 'notes', value: now().notes || '' });
  const button = h('button', { class: 'save-notes', type: 'button', text: 'Save notes' });
  const said = h('span', { class: 'notes-said muted' });
  const store = async () => {
    const notes = area.value;
    if (notes === (now().notes || '')) return;
    button.disabled = true;
    said.textContent = 'saving…';
    const ok = await save({ notes });
    button.disabled = false;
    said.textContent = ok ? 'saved' : 'not saved';
  };
  button.addEventListener('click', () => void store());
  area.addEventListener('blur', (e) => {
    if (/** @type {FocusEvent} */ (e).relatedTarget !== button) void store();
  });
  area.addEventListener('input', () => { said.textContent = area.value === (now().notes || '') ? '' : 'unsaved'; });
  box.replaceChildren(area, h('div', { class: 'notes-bar' }, button, said));
}
