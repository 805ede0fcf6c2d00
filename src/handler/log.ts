import * as path from 'node:path';
import { pino, type Logger } from 'pino';
import type { System } from '../system/system.js';

/**
 * extension.log in the agent's log folder: JSON lines, written synchronously (the
 * process is short-lived and may be SIGKILLed), capped by rotating before each run,
 * and redacting anything that could hold a secret even if a caller slips up.
 */

export const LOG_FILE = 'extension.log';
const ROTATE_AT_BYTES = 4 * 1024 * 1024;
const KEEP_ROTATED = 2;

export const REDACT_PATHS = [
  'password',
  '*.password',
  'protectedSettings',
  '*.protectedSettings',
  'ssh_key',
  '*.ssh_key',
  'sshKey',
  '*.sshKey',
  'input',
  '*.input',
  'privateKey',
  '*.privateKey',
];

async function rotate(system: System, file: string): Promise<void> {
  const info = await system.stat(file);
  if (info === undefined || info.size < ROTATE_AT_BYTES) return;
  for (let index = KEEP_ROTATED; index >= 1; index -= 1) {
    const from = index === 1 ? file : `${file}.${index - 1}`;
    if ((await system.stat(from)) !== undefined) await system.rename(from, `${file}.${index}`);
  }
}

export async function createFileLogger(system: System, logFolder: string, bindings: Record<string, string>): Promise<Logger> {
  await system.mkdir(logFolder, { recursive: true, mode: 0o755 });
  const file = path.join(logFolder, LOG_FILE);
  await rotate(system, file);
  const destination = pino.destination({ dest: file, sync: true, mkdir: true, mode: 0o600 });
  return pino(
    {
      base: bindings,
      level: 'debug',
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

export function createSilentLogger(): Logger {
  return pino({ enabled: false });
}
