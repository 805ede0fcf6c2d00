import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isVmaccessError } from '../../src/errors.js';
import { acquireLock, kernelLockName, type Lock } from '../../src/handler/lock.js';
import { createRealSystem } from '../../src/system/real-system.js';

/**
 * The enable lock against the real kernel: takers racing for a lock a crashed holder
 * left behind must never both win (the old remove-then-create takeover let them).
 */

const DEAD_PID = 2 ** 22 + 17; // above pid_max's default ceiling: never a live process
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vmaccess-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function attempt(file: string, pid: number): Promise<Lock | 'busy'> {
  try {
    return await acquireLock(createRealSystem(), file, { pid, waitMs: 0 });
  } catch (error) {
    if (isVmaccessError(error) && error.code === 'ENABLE_BUSY') return 'busy';
    throw error;
  }
}

describe('enable lock on the real system', () => {
  test('two takers racing for a stale lock file: exactly one wins, 200 rounds', async () => {
    const file = path.join(dir, 'vmaccess.lock');
    let doubleWins = 0;
    for (let round = 0; round < 200; round += 1) {
      writeFileSync(file, JSON.stringify({ pid: DEAD_PID, since: '2020-01-01T00:00:00.000Z' }));
      const results = await Promise.all([attempt(file, process.pid), attempt(file, process.ppid)]);
      const winners = results.filter((result): result is Lock => result !== 'busy');
      if (winners.length !== 1) doubleWins += 1;
      for (const winner of winners) await winner.release();
    }
    expect(doubleWins).toBe(0);
  }, 120_000);

  test('a holder killed with SIGKILL gives the lock up at once; a live one keeps it', async () => {
    const file = path.join(dir, 'vmaccess.lock');
    const address = `\0${kernelLockName(file)}`;
    // A separate process holds the lock's kernel name, as a running enable would.
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen({ path: ${JSON.stringify(address)} }, () => console.log('held'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(await attempt(file, process.pid)).toBe('busy');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const lock = await attempt(file, process.pid);
    expect(lock).not.toBe('busy');
    if (lock !== 'busy') await lock.release();
  });
});
