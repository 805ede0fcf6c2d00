import * as path from 'node:path';
import { VmaccessError } from '../errors.js';
import type { System } from '../system/system.js';

/**
 * HandlerEnvironment.json (contract §1.2): an array of one object whose
 * `handlerEnvironment` names every folder. Unknown keys are ignored; `version` is a
 * schema number (1.0), not the handler version.
 */

export interface HandlerEnvironment {
  name: string;
  logFolder: string;
  configFolder: string;
  statusFolder: string;
  heartbeatFile: string | undefined;
  eventsFolder: string | undefined;
  /** The handler directory: where HandlerEnvironment.json lives. */
  handlerDir: string;
}

/**
 * Checked by hand, not with zod: this runs on every command, and loading zod costs
 * more than node's own startup (see npm run bench). Problems are listed by field.
 */
function checkEnvironment(element: unknown): { problems: string[]; name: string; folders: Partial<Record<FolderKey, string>> } {
  const problems: string[] = [];
  const folders: Partial<Record<FolderKey, string>> = {};
  if (typeof element !== 'object' || element === null) return { problems: ['top level: expected an object'], name: '', folders };
  const record = element as Record<string, unknown>;
  const name = record.name;
  if (typeof name !== 'string' || name === '') problems.push('name: expected a non-empty string');
  const version = record.version;
  if (version !== undefined && typeof version !== 'number' && typeof version !== 'string') problems.push('version: expected a number or a string');
  const inner = record.handlerEnvironment;
  if (typeof inner !== 'object' || inner === null) return { problems: [...problems, 'handlerEnvironment: expected an object'], name: '', folders };
  for (const key of FOLDER_KEYS) {
    const value = (inner as Record<string, unknown>)[key];
    if (value === undefined && !REQUIRED_FOLDERS.has(key)) continue;
    if (typeof value !== 'string' || value === '' || !path.isAbsolute(value)) problems.push(`handlerEnvironment.${key}: must be an absolute path`);
    else folders[key] = value;
  }
  return { problems, name: typeof name === 'string' ? name : '', folders };
}

const FOLDER_KEYS = ['logFolder', 'configFolder', 'statusFolder', 'heartbeatFile', 'eventsFolder', 'eventsFolder_preview'] as const;
type FolderKey = (typeof FOLDER_KEYS)[number];
const REQUIRED_FOLDERS: ReadonlySet<FolderKey> = new Set(['logFolder', 'configFolder', 'statusFolder']);

export const HANDLER_ENVIRONMENT_FILE = 'HandlerEnvironment.json';

export function parseHandlerEnvironment(text: string, file: string): HandlerEnvironment {
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new VmaccessError('HANDLER_ENVIRONMENT_INVALID', `${file} is not valid JSON.`);
  }
  const element: unknown = Array.isArray(document) ? document[0] : document;
  const checked = checkEnvironment(element);
  if (checked.problems.length > 0) {
    throw new VmaccessError('HANDLER_ENVIRONMENT_INVALID', `${file} does not have the expected shape: ${checked.problems.join('; ')}.`);
  }
  const env = checked.folders;
  return {
    name: checked.name,
    logFolder: env.logFolder!,
    configFolder: env.configFolder!,
    statusFolder: env.statusFolder!,
    heartbeatFile: env.heartbeatFile,
    eventsFolder: env.eventsFolder ?? env.eventsFolder_preview,
    handlerDir: path.dirname(file),
  };
}

export async function readHandlerEnvironment(system: System, file: string): Promise<HandlerEnvironment> {
  const text = await system.readText(file);
  if (text === undefined) {
    throw new VmaccessError('HANDLER_ENVIRONMENT_INVALID', `${file} does not exist.`, {
      hint: 'Handler commands run with the handler directory as working directory, where the guest agent writes it.',
    });
  }
  return parseHandlerEnvironment(text, file);
}
