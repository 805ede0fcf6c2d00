import * as path from 'node:path';
import { unifiedDiff } from '../../config/unified-diff.js';
import { VmaccessError } from '../../errors.js';
import type { System } from '../../system/system.js';
import { sha256Hex as sha256 } from '../file-digest.js';
import type { PlannedFile } from '../plan.js';

/**
 * The files of an SSH plan with their digests, and the check apply makes before it
 * starts: every planned file must still be as the plan saw it.
 */

/** A file's new content (text or bytes), null for removal, or the program that writes it. */
export type FileEffect = { content: string | Uint8Array | null; reason: string; diff?: boolean } | { writtenBy: string; reason: string };

/** Planned files in the order given; entries that would leave the bytes as they are drop out. */
export async function plannedFiles(system: System, effects: ReadonlyMap<string, FileEffect>): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  for (const [file, effect] of effects) {
    const bytes = await system.readBytes(file);
    const before = bytes === undefined ? null : sha256(bytes);
    if ('writtenBy' in effect) {
      // The program decides the bytes; the empty digest says "unknown until it runs".
      files.push({ path: file, before, after: '', writtenBy: effect.writtenBy, reason: effect.reason });
      continue;
    }
    const after = effect.content === null ? null : sha256(effect.content);
    if (after === before) continue;
    const planned: PlannedFile = { path: file, before, after, reason: effect.reason };
    if (effect.diff === true && !(effect.content instanceof Uint8Array)) {
      const old = bytes === undefined ? undefined : new TextDecoder().decode(bytes);
      planned.diff = unifiedDiff(old, effect.content ?? undefined, `a${file}`, `b${file}`).trimEnd().split('\n');
    }
    files.push(planned);
  }
  return files;
}

/** Refuses, before anything changes, when a file the plan read has changed since. */
export async function refuseIfStale(system: System, files: readonly PlannedFile[]): Promise<void> {
  const moved: string[] = [];
  for (const file of files) {
    const bytes = await system.readBytes(file.path);
    if ((bytes === undefined ? null : sha256(bytes)) !== file.before) moved.push(file.path);
  }
  if (moved.length > 0) {
    throw new VmaccessError('SSHD_PLAN_STALE', `${moved.join(', ')} changed after the SSH change was planned; nothing was changed.`, { hint: 'Run the request again.' });
  }
}

/** Where reset_ssh moves the drop-ins sshd rejects: one folder per run, named for its time. */
export function quarantineDirFor(stateDir: string, now: Date): string {
  return path.join(stateDir, 'quarantine', now.toISOString().replace(/[:.]/g, '-'));
}
