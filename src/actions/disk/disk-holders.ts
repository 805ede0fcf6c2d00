import type { FilesystemHolder } from '../../config/fuser.js';
import { describeHolders, globLiteral, parseFuserPids, parseProcLinkPaths } from '../../config/fuser.js';
import { normalizeMountPoint } from '../../config/mounts.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import type { DiskBudget } from './disk-budget.js';

/** What naming the holders of a mount needs from a repair run. */
export interface HolderContext {
  system: System;
  paths: SystemPaths;
  budget: DiskBudget;
}

/**
 * Who holds a mount point: pids from `fuser -m` (which also sees memory maps) and
 * from the /proc/<pid>/{cwd,root,exe,fd/N} links that `find` reports pointing into
 * it (which also works where psmisc is not installed). Undefined when neither ran.
 */
async function findHolders(mountPoint: string, context: HolderContext): Promise<FilesystemHolder[] | undefined> {
  const { system, budget } = context;
  const access = new Map<number, string>();
  let anyRan = false;
  const fuser = await system.run('fuser', ['-m', mountPoint], { timeoutMs: budget.timeoutMs(15_000) });
  if (fuser.started) {
    anyRan = true;
    for (const pid of parseFuserPids(fuser.stdout)) access.set(pid, '');
  }
  const pattern = globLiteral(normalizeMountPoint(mountPoint));
  const find = await system.run(
    'find',
    ['/proc', '-mindepth', '2', '-maxdepth', '3',
      '(', '-path', '/proc/[0-9]*/fd/*', '-o', '-path', '/proc/[0-9]*/cwd', '-o', '-path', '/proc/[0-9]*/root', '-o', '-path', '/proc/[0-9]*/exe', ')',
      '(', '-lname', pattern, '-o', '-lname', `${pattern}/*`, ')', '-print'],
    { timeoutMs: budget.timeoutMs(15_000) },
  );
  // find complains about processes that exit while it walks /proc; the list is still good.
  if (find.started) {
    anyRan = true;
    for (const [pid, letters] of parseProcLinkPaths(find.stdout)) access.set(pid, letters);
  }
  if (!anyRan) return undefined;
  const users = new Map<number, string>();
  for (const line of ((await system.readText(context.paths.passwd).catch(() => undefined)) ?? '').split('\n')) {
    const [user, , uid] = line.split(':');
    if (user !== undefined && uid !== undefined && !users.has(Number(uid))) users.set(Number(uid), user);
  }
  const holders: FilesystemHolder[] = [];
  for (const [pid, letters] of [...access].sort(([a], [b]) => a - b)) {
    const comm = await system.readText(`/proc/${pid}/comm`).catch(() => undefined);
    if (comm === undefined) continue; // gone meanwhile
    const status = (await system.readText(`/proc/${pid}/status`).catch(() => undefined)) ?? '';
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
    holders.push({ pid, access: letters, command: comm.trim(), user: users.get(uid) ?? (Number.isNaN(uid) ? '?' : String(uid)) });
  }
  return holders;
}

/** Who holds a busy mount point, in words for the status. */
export async function holdersOf(mountPoint: string, context: HolderContext): Promise<string> {
  const holders = await findHolders(mountPoint, context);
  if (holders === undefined) return 'neither fuser nor find is available, so the processes cannot be named';
  return holders.length > 0
    ? `in use by ${describeHolders(holders)}`
    : 'no process was found holding it (the kernel may: a loop device, swap file or NFS export on it)';
}
