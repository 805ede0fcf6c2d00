import type { System } from '../../system/system.js';

/**
 * Before userdel: end every process of the account. userdel refuses an account with a
 * running process (a lingering `systemd --user`, a cron job, a forgotten tmux), and
 * `az vm user delete` must not fail for that. Order: logind ends the sessions and the
 * user manager where it runs, then SIGTERM, a bounded wait, SIGKILL.
 */

export interface EndProcessesOptions {
  /** Where the process table is; tests point it elsewhere. */
  procDir?: string;
  /** How long processes get to exit after SIGTERM. */
  graceMs?: number;
  /** How long to wait for SIGKILL to take effect. */
  killWaitMs?: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface EndedProcesses {
  /** Processes of the account that were running and are gone. */
  ended: number;
  /** Processes still there after SIGKILL (uninterruptible sleep); userdel will name them. */
  remaining: number[];
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Whether /proc/<pid>/status shows `uid` as the real, effective or saved uid: the test
 * userdel itself applies, so what this ends is exactly what makes userdel refuse.
 */
export function statusHasUid(status: string, uid: number): boolean {
  // A zombie has ended already; only its parent (or init) can reap it, and no signal helps.
  if (/^State:\s+Z/m.test(status)) return false;
  const line = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
  if (line === null) return false;
  return [line[1], line[2], line[3]].some((value) => Number(value) === uid);
}

async function processesOf(system: System, procDir: string, uid: number): Promise<number[]> {
  const entries = (await system.listDir(procDir)) ?? [];
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    // pid 1 is init: whatever its status says, it is never this account's to end.
    if (pid <= 1) continue;
    const status = await system.readText(`${procDir}/${entry}/status`).catch(() => undefined);
    if (status !== undefined && statusHasUid(status, uid)) pids.push(pid);
  }
  return pids;
}

/** Signal each pid that still belongs to the account; the uid is checked again right before. */
async function signalAll(system: System, procDir: string, uid: number, pids: readonly number[], signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  for (const pid of pids) {
    const status = await system.readText(`${procDir}/${pid}/status`).catch(() => undefined);
    // The pid may have exited and been reused by someone else's process meanwhile.
    if (status === undefined || !statusHasUid(status, uid)) continue;
    await system.signalProcess(pid, signal);
  }
}

async function waitUntilGone(system: System, procDir: string, uid: number, waitMs: number, pollMs: number, sleep: (ms: number) => Promise<void>): Promise<number[]> {
  let left = await processesOf(system, procDir, uid);
  for (let waited = 0; left.length > 0 && waited < waitMs; waited += pollMs) {
    await sleep(pollMs);
    left = await processesOf(system, procDir, uid);
  }
  return left;
}

/** logind's own way first: it stops the user manager and every session scope of the account. */
async function terminateLogindUser(system: System, uid: number): Promise<void> {
  // /run/systemd/system exists only when systemd is the running init (sd_booted).
  if ((await system.lstat('/run/systemd/system')) === undefined) return;
  // A lingering account's manager would otherwise be started again at the next boot.
  await system.run('loginctl', ['disable-linger', String(uid)], { timeoutMs: 10_000 });
  await system.run('loginctl', ['terminate-user', String(uid)], { timeoutMs: 15_000 });
}

export async function endUserProcesses(system: System, uid: number, options: EndProcessesOptions = {}): Promise<EndedProcesses> {
  const procDir = options.procDir ?? '/proc';
  const pollMs = options.pollMs ?? 200;
  const sleep = options.sleep ?? defaultSleep;
  // Root and system accounts are refused before this runs; this is the last guard.
  if (uid === 0) return { ended: 0, remaining: [] };
  const initial = await processesOf(system, procDir, uid);
  if (initial.length === 0) return { ended: 0, remaining: [] };
  await terminateLogindUser(system, uid);
  const seen = new Set(initial);
  // New processes may appear while the old ones end (a job forking): a few rounds.
  let left = await processesOf(system, procDir, uid);
  for (let round = 0; round < 3 && left.length > 0; round += 1) {
    left.forEach((pid) => seen.add(pid));
    await signalAll(system, procDir, uid, left, 'SIGTERM');
    left = await waitUntilGone(system, procDir, uid, options.graceMs ?? 5_000, pollMs, sleep);
    if (left.length === 0) break;
    left.forEach((pid) => seen.add(pid));
    await signalAll(system, procDir, uid, left, 'SIGKILL');
    left = await waitUntilGone(system, procDir, uid, options.killWaitMs ?? 2_000, pollMs, sleep);
  }
  return { ended: [...seen].filter((pid) => !left.includes(pid)).length, remaining: left };
}
