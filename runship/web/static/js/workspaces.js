/* Saved workspaces (docs/UI.md, "Workspaces"): the client of /ui/api/workspaces,
 * /ui/api/workspace and /ui/api/workspace-default. A workspace is a JSON document
 * ("runship.workspace/1": its runs part, the workspace page's; its charts part, ChartsView's
 * layout), stored by name per project ('' or null: the all-projects view). */

import { ApiError, api, request } from './api.js';

export const WORKSPACE_FORMAT = 'runship.workspace/1';
/** What the server takes as a name (contract: [A-Za-z0-9][A-Za-z0-9 ._-]{0,99}). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;

/**
 * @typedef {object} WorkspaceRuns
 * @property {string} filter
 * @property {string} search
 * @property {[string, string] | null} sort
 * @property {string[]} group
 * @property {string} band
 * @property {string[] | null} columns
 * @property {string[] | null} selected
 * @property {string[]} hidden
 * @property {number} max_shown
 * @property {string[]} [legend_hidden] charted runs whose lines the charts' legend hid (an optional field)
 */
/**
 * @typedef {Record<string, any> & {format: string, name: string, project: string | null, saved_at?: number,
 *   runs: WorkspaceRuns, charts: Record<string, any> | null}} WorkspaceDoc
 */
/** @typedef {{name: string, saved_at: number | null, size: number | null}} WorkspaceEntry */

/** Why a name cannot be a workspace's, or '' when it can. @param {string} name */
export function nameProblem(name) {
  if (!name) return 'a workspace needs a name';
  if (!NAME_RE.test(name)) return 'a name is 1-100 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit';
  return '';
}

/** @param {string | null} project @returns {Record<string, string>} */
const where = (project) => (project ? { project } : {});

/**
 * The project's saved workspaces and its default.
 * @param {string | null} project
 * @param {AbortSignal} [signal]
 * @returns {Promise<{workspaces: WorkspaceEntry[], default: string | null}>}
 */
export async function listWorkspaces(project, signal) {
  const res = await api('workspaces', where(project), signal);
  /** @type {WorkspaceEntry[]} */
  const list = [];
  for (const w of res && Array.isArray(res.workspaces) ? res.workspaces : []) {
    if (w && typeof w.name === 'string') {
      list.push({ name: w.name, saved_at: typeof w.saved_at === 'number' ? w.saved_at : null, size: typeof w.size === 'number' ? w.size : null });
    }
  }
  const def = res && typeof res.default === 'string' ? res.default : null;
  return { workspaces: list, default: def };
}

/**
 * A saved workspace, or null when there is none of that name.
 * @param {string | null} project
 * @param {string} name
 * @param {AbortSignal} [signal]
 * @returns {Promise<WorkspaceDoc | null>}
 */
export async function loadWorkspace(project, name, signal) {
  try {
    const doc = await api('workspace', { ...where(project), name }, signal);
    return doc && typeof doc === 'object' ? doc : null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

/**
 * Save a workspace under its name; the server's {name, saved_at}.
 * @param {string | null} project
 * @param {WorkspaceDoc} doc
 * @param {AbortSignal} [signal]
 * @returns {Promise<{name: string, saved_at: number}>}
 */
export function saveWorkspace(project, doc, signal) {
  return request('PUT', 'workspace', { ...where(project), name: doc.name }, doc, signal);
}

/** @param {string | null} project @param {string} name @param {AbortSignal} [signal] */
export function deleteWorkspace(project, name, signal) {
  return request('DELETE', 'workspace', { ...where(project), name }, undefined, signal);
}

/** The project's default workspace ('' : none). @param {string | null} project @param {string} name @param {AbortSignal} [signal] */
export function setDefaultWorkspace(project, name, signal) {
  return request('PUT', 'workspace-default', { ...where(project), name }, undefined, signal);
}
