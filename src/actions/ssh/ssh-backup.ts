import * as path from 'node:path';
import { errnoCode } from '../../errors.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';

/**
 * Two kinds of backup:
 * - the VM's original configuration, kept once, before the first change the
 *   extension makes: /var/cache/vmaccess/backup (sshd_config, the original
 *   extension's path, so VMs that ran it keep their backup) and the drop-ins beside
 *   it in backup.d/ (written with a `.complete` marker last, so a crash half-way
 *   is redone). restore_backup_ssh brings these back.
 * - this run's undo record (ssh-undo.ts): the exact state of every file the run
 *   changes, used to roll back when sshd does not come back.
 */

export const BACKUP_COMPLETE_MARKER = '.complete';

export function dropInBackupDir(paths: SystemPaths): string {
  return path.join(path.dirname(paths.sshdBackup), 'backup.d');
}

export interface OriginalBackup {
  main: string | undefined;
  /** Drop-in name -> content; undefined when no drop-in backup was ever taken (original extension). */
  dropIns: Map<string, string> | undefined;
}

export async function readOriginalBackup(system: System, paths: SystemPaths): Promise<OriginalBackup> {
  const main = await system.readText(paths.sshdBackup);
  const dir = dropInBackupDir(paths);
  const names = await system.listDir(dir);
  if (names === undefined || !names.includes(BACKUP_COMPLETE_MARKER)) return { main, dropIns: undefined };
  const dropIns = new Map<string, string>();
  for (const name of names) {
    if (name === BACKUP_COMPLETE_MARKER) continue;
    const content = await system.readText(path.join(dir, name));
    if (content !== undefined) dropIns.set(name, content);
  }
  return { main, dropIns };
}

/**
 * Keeps the first backup ever taken: an existing /var/cache/vmaccess/backup is the
 * VM's original and is never overwritten. Returns what it created.
 */
export async function ensureOriginalBackup(
  system: System,
  paths: SystemPaths,
  live: { mainContent: string | undefined; dropInDir: string; ownDropInName: string },
): Promise<string[]> {
  const created: string[] = [];
  await system.mkdir(path.dirname(paths.sshdBackup), { recursive: true, mode: 0o755 });
  if (live.mainContent !== undefined && (await system.createExclusive(paths.sshdBackup, live.mainContent, { mode: 0o600 }))) {
    created.push(paths.sshdBackup);
  }
  const dir = dropInBackupDir(paths);
  const existing = await system.listDir(dir);
  if (existing?.includes(BACKUP_COMPLETE_MARKER) === true) return created;
  await system.remove(dir, { recursive: true });
  await system.mkdir(dir, { mode: 0o700 });
  for (const name of (await system.listDir(live.dropInDir)) ?? []) {
    // The extension's own drop-in is not part of the VM's original configuration.
    if (name === live.ownDropInName) continue;
    const source = path.join(live.dropInDir, name);
    if ((await system.stat(source))?.type !== 'file') continue;
    const content = await system.readBytes(source);
    if (content !== undefined) await system.writeFileAtomic(path.join(dir, name), content, { mode: 0o600 });
  }
  await system.writeFileAtomic(path.join(dir, BACKUP_COMPLETE_MARKER), '', { mode: 0o600 });
  created.push(dir);
  return created;
}

/** Files ensureOriginalBackup would write (path -> content; null: removed), read through `view`. */
export async function planOriginalBackup(
  view: { readText(file: string): Promise<string | undefined>; listDir(dir: string): Promise<string[] | undefined>; isFile(file: string): Promise<boolean> },
  paths: SystemPaths,
  live: { mainContent: string | undefined; dropInDir: string; ownDropInName: string },
): Promise<Map<string, string | null>> {
  const files = new Map<string, string | null>();
  if (live.mainContent !== undefined && !(await view.isFile(paths.sshdBackup))) files.set(paths.sshdBackup, live.mainContent);
  const dir = dropInBackupDir(paths);
  const existing = (await view.listDir(dir)) ?? [];
  if (existing.includes(BACKUP_COMPLETE_MARKER)) return files;
  for (const name of existing) files.set(path.join(dir, name), null);
  for (const name of (await view.listDir(live.dropInDir)) ?? []) {
    const source = path.join(live.dropInDir, name);
    if (name === live.ownDropInName || !(await view.isFile(source))) continue;
    files.set(path.join(dir, name), (await view.readText(source)) ?? '');
  }
  files.set(path.join(dir, BACKUP_COMPLETE_MARKER), '');
  return files;
}

/**
 * Moves a file out of sshd's reach into `dir` (never deletes it), keeping its name, mode
 * and bytes: rename(2) when possible; across file systems a copy then removal.
 */
export async function quarantineFile(system: System, file: string, dir: string): Promise<string> {
  await system.mkdir(dir, { recursive: true, mode: 0o700 });
  const target = path.join(dir, path.basename(file));
  try {
    await system.rename(file, target);
  } catch (error) {
    if (errnoCode(error) !== 'EXDEV') throw error;
    const content = await system.readBytes(file);
    const mode = (await system.stat(file))?.mode ?? 0o600;
    if (content !== undefined) await system.writeFileAtomic(target, content, { mode });
    await system.remove(file);
  }
  return target;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/**
 * reset_ssh: moves a drop-in into the backup set (backup.d/), where restore_backup_ssh
 * finds it. A different copy of the same name already there (from an earlier change) is
 * not overwritten but moved to `displacedDir` first. Returns where the drop-in went.
 */
export async function moveToBackupSet(system: System, paths: SystemPaths, file: string, displacedDir: string): Promise<string> {
  const dir = dropInBackupDir(paths);
  const target = path.join(dir, path.basename(file));
  const earlier = await system.readBytes(target);
  if (earlier !== undefined && !sameBytes(earlier, await system.readBytes(file))) await quarantineFile(system, target, displacedDir);
  return quarantineFile(system, file, dir);
}

/** Where restore_backup_ssh moves the backup it consumed: beside it, one folder per restore. */
export function backupHistoryDir(paths: SystemPaths, now: Date): string {
  return path.join(path.dirname(paths.sshdBackup), 'backup.history', now.toISOString().replace(/[:.]/g, '-'));
}

/** The backup set's files (path -> where it goes in `historyDir`). */
async function backupSetMoves(system: System, paths: SystemPaths, historyDir: string): Promise<Map<string, string>> {
  const moves = new Map<string, string>();
  if ((await system.stat(paths.sshdBackup))?.type === 'file') moves.set(paths.sshdBackup, path.join(historyDir, path.basename(paths.sshdBackup)));
  const dir = dropInBackupDir(paths);
  for (const name of (await system.listDir(dir)) ?? []) moves.set(path.join(dir, name), path.join(historyDir, path.basename(dir), name));
  return moves;
}

/** What moveBackupToHistory would do, as file effects (path -> bytes; null: removed). */
export async function planBackupHistory(system: System, paths: SystemPaths, historyDir: string): Promise<Map<string, Uint8Array | null>> {
  const files = new Map<string, Uint8Array | null>();
  for (const [from, to] of await backupSetMoves(system, paths, historyDir)) {
    files.set(from, null);
    files.set(to, (await system.readBytes(from)) ?? new Uint8Array());
  }
  return files;
}

/**
 * restore_backup_ssh consumes the backup: once sshd runs the restored files, the backup
 * set moves to `historyDir`, so the next change takes a fresh backup of the configuration
 * as it is then (otherwise the first backup would live forever and a later restore would
 * silently throw away every change made since). Returns the folder.
 */
export async function moveBackupToHistory(system: System, paths: SystemPaths, historyDir: string): Promise<string> {
  const moves = await backupSetMoves(system, paths, historyDir);
  for (const [from, to] of moves) {
    await system.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    await system.rename(from, to);
  }
  await system.remove(dropInBackupDir(paths), { recursive: true });
  return historyDir;
}

/** restore_backup_ssh: the mode each drop-in had in the backup set, so it comes back as it was. */
export async function backupModes(system: System, paths: SystemPaths, dropInDir: string, files: Iterable<string>): Promise<Map<string, number>> {
  const modes = new Map<string, number>();
  for (const file of files) {
    if (path.dirname(file) !== dropInDir) continue;
    const info = await system.stat(path.join(dropInBackupDir(paths), path.basename(file)));
    if (info?.type === 'file') modes.set(file, info.mode & 0o7777);
  }
  return modes;
}
