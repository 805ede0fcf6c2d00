import * as path from 'node:path';
import type { LogMethod, Logger } from '../logger.js';
import type { System } from '../system/system.js';

/**
 * extension.log in the agent's log folder: JSON lines, written synchronously (the
 * process is short-lived and may be SIGKILLed), capped by rotating before each run,
 * and redacting anything that could hold a secret even if a caller slips up.
 *
 * The record is pino's (numeric level, ISO time, the run's bindings, fields, msg), so
 * the usual tools read it. pino itself is not used: loading it (with its worker-thread
 * transport and stream machinery) cost 3.4 MiB of every enable's memory (README).
 */

export const LOG_FILE = 'extension.log';
const ROTATE_AT_BYTES = 4 * 1024 * 1024;
const KEEP_ROTATED = 2;

/** Keys whose values never reach the log, at any depth. */
const REDACTED_KEYS: ReadonlySet<string> = new Set(['password', 'protectedSettings', 'ssh_key', 'sshKey', 'input', 'privateKey']);
const CENSOR = '[redacted]';
/** Nesting below this is summarised, so a cyclic or huge value cannot stall a rescue. */
const MAX_DEPTH = 8;

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Level = keyof typeof LEVELS;

/** An Error as a plain record (type, message, code, stack, cause), as pino's err serializer writes it. */
function errorRecord(error: Error, depth: number): Record<string, unknown> {
  const record: Record<string, unknown> = { type: error.name, message: error.message };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') record.code = code;
  if (error.stack !== undefined) record.stack = error.stack;
  if (error.cause !== undefined) record.cause = loggable(error.cause, depth + 1);
  return record;
}

/** A copy of `value` fit for the log: secrets censored, errors spelled out, depth bounded. */
function loggable(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? value.toString() : value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (value instanceof Error) return errorRecord(value, depth);
  if (Array.isArray(value)) return value.map((entry) => loggable(entry, depth + 1));
  if (value instanceof Set) return [...value].map((entry) => loggable(entry, depth + 1));
  if (value instanceof Map) return loggable(Object.fromEntries(value), depth);
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  const copy: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(value)) copy[key] = REDACTED_KEYS.has(key) ? CENSOR : loggable(entry, depth + 1);
  return copy;
}

/** One log line; the line is never allowed to throw (a log that fails must not stop a rescue). */
export function formatRecord(level: Level, time: Date, bindings: Record<string, string>, fieldsOrMessage: object | string, message?: string): string {
  const msg = typeof fieldsOrMessage === 'string' ? fieldsOrMessage : message;
  try {
    const fields = typeof fieldsOrMessage === 'string' ? {} : (loggable(fieldsOrMessage) as Record<string, unknown>);
    return `${JSON.stringify({ level: LEVELS[level], time: time.toISOString(), ...bindings, ...fields, ...(msg === undefined ? {} : { msg }) })}\n`;
  } catch {
    return `${JSON.stringify({ level: LEVELS[level], time: time.toISOString(), ...bindings, msg, logError: 'the fields could not be written' })}\n`;
  }
}

function createLogger(write: ((line: string) => void) | undefined, bindings: Record<string, string>, minimum: Level): Logger {
  const method =
    (level: Level): LogMethod =>
    (fieldsOrMessage, message) => {
      if (write === undefined || LEVELS[level] < LEVELS[minimum]) return;
      write(formatRecord(level, new Date(), bindings, fieldsOrMessage, message));
    };
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
}

/** Once `file` has reached `atBytes`: file.N-1 -> file.N ... file -> file.1, keeping `keep` old files. */
export async function rotateLogFile(system: System, file: string, atBytes: number, keep: number): Promise<void> {
  const info = await system.stat(file);
  if (info === undefined || info.size < atBytes) return;
  for (let index = keep; index >= 1; index -= 1) {
    const from = index === 1 ? file : `${file}.${index - 1}`;
    if ((await system.stat(from)) !== undefined) await system.rename(from, `${file}.${index}`);
  }
}

export async function createFileLogger(system: System, logFolder: string, bindings: Record<string, string>): Promise<Logger> {
  await system.mkdir(logFolder, { recursive: true, mode: 0o755 });
  const file = path.join(logFolder, LOG_FILE);
  await rotateLogFile(system, file, ROTATE_AT_BYTES, KEEP_ROTATED);
  return createLogger(
    system.openAppendLog(file, 0o600),
    bindings,
    'debug',
  );
}

export function createSilentLogger(): Logger {
  return createLogger(undefined, {}, 'error');
}

/** A logger writing to a stream (tests, the sandbox's action runner). */
export function createStreamLogger(write: (line: string) => void, bindings: Record<string, string> = {}): Logger {
  return createLogger(write, bindings, 'debug');
}
