import { createSshChangeRequests } from '../actions/action.js';
import { renderPlan } from '../actions/plan.js';
import { VmaccessError, isVmaccessError } from '../errors.js';
import { isEmptyRequest } from '../settings/request.js';
import { parseRequest } from '../settings/schema.js';
import type { Runtime } from './runtime.js';

/**
 * `vmaccess plan <request.json>`: validate a request written as plain JSON
 * (`{"publicSettings": {...}, "protectedSettings": {...}}`) and print what enable
 * would do on this machine. Reads only; needs no root.
 */

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function readPlanRequest(runtime: Runtime, file: string): Promise<{ publicSettings: Record<string, unknown>; protectedSettings: Record<string, unknown> }> {
  const text = await runtime.system.readText(file);
  if (text === undefined) throw new VmaccessError('SETTINGS_MISSING', `The request file ${file} does not exist.`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new VmaccessError('SETTINGS_NOT_JSON', `The request file ${file} is not valid JSON.`);
  }
  if (!isPlainObject(document)) throw new VmaccessError('SETTINGS_NOT_JSON', 'The request must be a JSON object with publicSettings and protectedSettings.');
  const section = (name: string): Record<string, unknown> => {
    const value = document[name];
    if (value === undefined || value === null) return {};
    if (!isPlainObject(value)) throw new VmaccessError('SETTINGS_NOT_JSON', `${name} must be a JSON object.`);
    return value;
  };
  return { publicSettings: section('publicSettings'), protectedSettings: section('protectedSettings') };
}

export async function plan(runtime: Runtime, file: string, agentLibDir: string): Promise<number> {
  const { publicSettings, protectedSettings } = await readPlanRequest(runtime, file);
  const request = parseRequest(publicSettings, protectedSettings, { today: runtime.system.now().toISOString().slice(0, 10) });
  runtime.print('The request is valid.');
  for (const warning of request.warnings) runtime.print(`warning: ${warning}`);
  if (isEmptyRequest(request)) {
    runtime.print('Enable would do nothing: the request asks for nothing.');
    return 0;
  }
  // enable's user action records these for the ssh action as it goes; a plan projects them.
  const ssh = createSshChangeRequests();
  if (request.account?.password !== undefined) ssh.passwordUsers.add(request.account.username);
  if (request.removeUser !== undefined) ssh.removedUsers.add(request.removeUser);
  const context = { system: runtime.system, logger: runtime.logger, paths: runtime.paths, ssh, agentLibDir };
  for (const action of await runtime.loadActions()) {
    if (!action.wants(request)) continue;
    runtime.print(`${action.name}:`);
    try {
      // Lines are printed under the action's name; a repeated "name:" prefix is dropped.
      const prefix = `${action.name}: `;
      const lines = action.planned === true ? renderPlan(await action.plan(request, context)) : await action.plan(request, context);
      for (const line of lines) runtime.print(`  ${line.startsWith(prefix) ? line.slice(prefix.length) : line}`);
    } catch (error) {
      const reason = isVmaccessError(error) ? `[${error.code}] ${error.statusMessage}` : 'unexpected error';
      runtime.print(`  cannot plan on this machine: ${reason}`);
    }
  }
  runtime.print('Nothing was changed (plan mode).');
  return 0;
}
