import { createSshChangeRequests, type Action } from '../actions/action.js';
import { SshdAnswers } from '../actions/sshd-effective.js';
import { publicPlan, renderPlan, type ActionContext, type ActionPlan } from '../actions/plan.js';
import { VmaccessError, isVmaccessError, type ErrorCode } from '../errors.js';
import { assertJsonBounds, assertTextSize } from '../settings/json-bounds.js';
import { isEmptyRequest, type VmaccessRequest } from '../settings/request.js';
import { parseRequest } from '../settings/schema.js';
import type { Runtime } from './runtime.js';

/**
 * `vmaccess plan <request.json>`: validate a request written as plain JSON
 * (`{"publicSettings": {...}, "protectedSettings": {...}}`) and print what enable
 * would do on this machine. Reads only; needs no root. With `--json`, one JSON
 * document: `{valid, warnings, plans}`, each plan the public part of the action's
 * ActionPlan (legacy actions: `{action, lines}`), never a secret of the request.
 */

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function readPlanRequest(runtime: Runtime, file: string): Promise<{ publicSettings: Record<string, unknown>; protectedSettings: Record<string, unknown> }> {
  const text = await runtime.system.readText(file);
  if (text === undefined) throw new VmaccessError('SETTINGS_MISSING', `The request file ${file} does not exist.`);
  if (text.trim() === '') throw new VmaccessError('SETTINGS_EMPTY', `The request file ${file} is empty.`);
  assertTextSize(text, `The request file ${file}`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new VmaccessError('SETTINGS_NOT_JSON', `The request file ${file} is not valid JSON.`);
  }
  assertJsonBounds(document, `The request file ${file}`);
  if (!isPlainObject(document)) throw new VmaccessError('SETTINGS_NOT_JSON', 'The request must be a JSON object with publicSettings and protectedSettings.');
  const section = (name: string): Record<string, unknown> => {
    const value = document[name];
    if (value === undefined || value === null) return {};
    if (!isPlainObject(value)) throw new VmaccessError('SETTINGS_NOT_JSON', `${name} must be a JSON object.`);
    return value;
  };
  return { publicSettings: section('publicSettings'), protectedSettings: section('protectedSettings') };
}

/** One action's part of `vmaccess plan --json`. */
export type PlanEntry =
  | Omit<ActionPlan, 'detail'>
  | { action: Action['name']; error: { code: ErrorCode; message: string } };

export interface PlanOptions {
  /** Print one JSON document (public plans only) instead of lines for people. */
  json?: boolean;
}

/** The plan of one action, as data: never its `detail`, which may hold the request's secrets. */
async function planEntry(action: Action, request: VmaccessRequest, context: ActionContext): Promise<PlanEntry> {
  try {
    return publicPlan(await action.plan(request, context));
  } catch (error) {
    if (!isVmaccessError(error)) return { action: action.name, error: { code: 'INTERNAL', message: 'unexpected error' } };
    return { action: action.name, error: { code: error.code, message: error.statusMessage } };
  }
}

/** An entry as the lines printed under the action's name; a repeated "name:" prefix is dropped. */
function entryLines(entry: PlanEntry): string[] {
  if ('error' in entry) {
    const reason = entry.error.code === 'INTERNAL' ? 'unexpected error' : `[${entry.error.code}] ${entry.error.message}`;
    return [`cannot plan on this machine: ${reason}`];
  }
  const lines = renderPlan({ ...entry, detail: undefined });
  const prefix = `${entry.action}: `;
  return lines.map((line) => (line.startsWith(prefix) ? line.slice(prefix.length) : line));
}

export async function plan(runtime: Runtime, file: string, agentLibDir: string, options: PlanOptions = {}): Promise<number> {
  const { publicSettings, protectedSettings } = await readPlanRequest(runtime, file);
  const request = parseRequest(publicSettings, protectedSettings, { today: runtime.system.now().toISOString().slice(0, 10), now: runtime.system.now() });
  const entries: PlanEntry[] = [];
  if (options.json !== true) {
    runtime.print('The request is valid.');
    for (const warning of request.warnings) runtime.print(`warning: ${warning}`);
  }
  if (!isEmptyRequest(request)) {
    // enable's user action records these for the ssh action as it goes; a plan projects them.
    const ssh = createSshChangeRequests();
    if (request.account?.password !== undefined) ssh.passwordUsers.add(request.account.username);
    if (request.removeUser !== undefined) ssh.removedUsers.add(request.removeUser);
    const context = { system: runtime.system, logger: runtime.logger, paths: runtime.paths, ssh, agentLibDir, sshdAnswers: new SshdAnswers() };
    for (const action of await runtime.loadActions()) {
      if (!action.wants(request)) continue;
      const entry = await planEntry(action, request, context);
      entries.push(entry);
      if (options.json === true) continue;
      runtime.print(`${action.name}:`);
      for (const line of entryLines(entry)) runtime.print(`  ${line}`);
    }
  }
  if (options.json === true) {
    runtime.print(JSON.stringify({ valid: true, warnings: request.warnings, plans: entries }, null, 2));
  } else if (isEmptyRequest(request)) {
    runtime.print('Enable would do nothing: the request asks for nothing.');
  } else {
    runtime.print('Nothing was changed (plan mode).');
  }
  return 0;
}
