import * as path from 'node:path';
import { z } from 'zod';
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

const folder = z.string().min(1).refine((value) => path.isAbsolute(value), { error: 'must be an absolute path' });

const environmentSchema = z.object({
  name: z.string().min(1),
  version: z.union([z.number(), z.string()]).optional(),
  handlerEnvironment: z.object({
    logFolder: folder,
    configFolder: folder,
    statusFolder: folder,
    heartbeatFile: folder.optional(),
    eventsFolder: folder.optional(),
    eventsFolder_preview: folder.optional(),
  }),
});

export const HANDLER_ENVIRONMENT_FILE = 'HandlerEnvironment.json';

export function parseHandlerEnvironment(text: string, file: string): HandlerEnvironment {
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new VmaccessError('HANDLER_ENVIRONMENT_INVALID', `${file} is not valid JSON.`);
  }
  const element: unknown = Array.isArray(document) ? document[0] : document;
  const parsed = environmentSchema.safeParse(element);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'top level'}: ${issue.message}`).join('; ');
    throw new VmaccessError('HANDLER_ENVIRONMENT_INVALID', `${file} does not have the expected shape: ${problems}.`);
  }
  const env = parsed.data.handlerEnvironment;
  return {
    name: parsed.data.name,
    logFolder: env.logFolder,
    configFolder: env.configFolder,
    statusFolder: env.statusFolder,
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
