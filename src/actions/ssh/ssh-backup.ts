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
 * Moves a file out of sshd's reach into the quarantine folder (never deletes it).
 * rename(2) when possible; across file systems a copy then removal.
 */
export async function quarantineFile(system: System, file: string, quarantineDir: string): Promise<string> {
  await system.mkdir(quarantineDir, { recursive: true, mode: 0o700 });
  const target = path.join(quarantineDir, path.basename(file));
  try {
    await system.rename(file, target);
  } catch (error) {
    if (errnoCode(error) !== 'EXDEV') throw error;
    const content = await system.readBytes(file);
    if (content !== undefined) await system.writeFileAtomic(target, content, { mode: 0o600 });
    await system.remove(file);
  }
  return target;
}
