import { VmaccessError } from '../errors.js';
import type { System } from '../system/system.js';

/**
 * One enable at a time. The lock is a file created with O_EXCL holding the owner's
 * pid; a holder that died (the agent SIGKILLs the process group on timeout) leaves
 * the file behind, so a lock whose pid is gone, or that is older than any command
 * may run, is taken over.
 */

export interface LockOptions {
  /** How long to wait for a live holder. */
  waitMs?: number;
  pollMs?: number;
  /** A lock older than this is stale whatever its pid says (enable's limit is 300 s). */
  staleMs?: number;
  pid: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface Lock {
  release(): Promise<void>;
}

interface LockRecord {
  pid: number;
  since: string;
}

function parseRecord(text: string | undefined): LockRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && typeof (value as LockRecord).pid === 'number') return value as LockRecord;
  } catch {
    // an unreadable lock (e.g. a crash between create and write) counts as stale
  }
  return undefined;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function acquireLock(system: System, file: string, options: LockOptions): Promise<Lock> {
  const waitMs = options.waitMs ?? 120_000;
  const pollMs = options.pollMs ?? 250;
  const staleMs = options.staleMs ?? 15 * 60_000;
  const sleep = options.sleep ?? defaultSleep;
  const record: LockRecord = { pid: options.pid, since: system.now().toISOString() };
  let waited = 0;
  for (;;) {
    if (await system.createExclusive(file, JSON.stringify(record), { mode: 0o600 })) {
      return {
        release: async () => {
          const current = parseRecord(await system.readText(file));
          if (current?.pid === options.pid) await system.remove(file);
        },
      };
    }
    const holder = parseRecord(await system.readText(file));
    const info = await system.lstat(file);
    const age = info === undefined ? 0 : system.now().getTime() - info.mtimeMs;
    const isStale = holder === undefined || !(await system.isProcessAlive(holder.pid)) || age > staleMs;
    if (isStale) {
      await system.remove(file);
      continue;
    }
    if (waited >= waitMs) {
      throw new VmaccessError('ENABLE_BUSY', `Another vmaccess command (pid ${holder.pid}) is still running.`, {
        hint: 'It will finish or be stopped by the guest agent; apply the extension again afterwards.',
      });
    }
    await sleep(pollMs);
    waited += pollMs;
  }
}
