import { VmaccessError } from '../errors.js';
import type { KernelLock, System } from '../system/system.js';

/**
 * One enable at a time. The mutual exclusion is a kernel lock (System.tryHoldKernelLock)
 * named after the lock file: taking it is atomic and the kernel drops it when the
 * holder dies (the agent SIGKILLs the process group on timeout), so there is never a
 * stale lock to take over. The old design, a lock file created with O_EXCL and
 * removed when it looked stale, let two waiters both remove-then-create and both
 * win. The file is still written: it names the holder's pid for people, errors and
 * uninstall, and its presence alone means nothing.
 */

export interface LockOptions {
  /** How long to wait for a live holder. */
  waitMs?: number;
  pollMs?: number;
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
    // a record being replaced, or left by a crash mid-write: the pid is just unknown
  }
  return undefined;
}

/** The kernel lock's name for a lock file: short (abstract socket names are limited) and per file. */
export function kernelLockName(file: string): string {
  let hash = 0x811c9dc5;
  for (const char of file) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  return `vmaccess-lock-${hash.toString(16).padStart(8, '0')}`;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function acquireLock(system: System, file: string, options: LockOptions): Promise<Lock> {
  const waitMs = options.waitMs ?? 120_000;
  const pollMs = options.pollMs ?? 250;
  const sleep = options.sleep ?? defaultSleep;
  const name = kernelLockName(file);
  let waited = 0;
  let held: KernelLock | undefined;
  while ((held = await system.tryHoldKernelLock(name)) === undefined) {
    if (waited >= waitMs) {
      const holder = parseRecord(await system.readText(file));
      const who = holder === undefined ? 'Another vmaccess command' : `Another vmaccess command (pid ${holder.pid})`;
      throw new VmaccessError('ENABLE_BUSY', `${who} is still running.`, {
        hint: 'It will finish or be stopped by the guest agent; apply the extension again afterwards.',
      });
    }
    await sleep(pollMs);
    waited += pollMs;
  }
  const kernelLock = held;
  const record: LockRecord = { pid: options.pid, since: system.now().toISOString() };
  try {
    await system.writeFileAtomic(file, JSON.stringify(record), { mode: 0o600 });
  } catch (error) {
    await kernelLock.release();
    throw error;
  }
  return {
    release: async () => {
      try {
        const current = parseRecord(await system.readText(file));
        if (current?.pid === options.pid) await system.remove(file);
      } finally {
        await kernelLock.release();
      }
    },
  };
}
