import * as path from 'node:path';
import { VmaccessError } from '../../errors.js';
import type { System } from '../../system/system.js';

/**
 * A change to the sudoers drop-in, staged: the candidate is written beside the target
 * and checked with `visudo -c -f` before anything else happens; commit() renames it into
 * place, discard() removes it. The candidate's name starts with a dot, and sudo skips
 * files in sudoers.d whose names contain a dot, so a candidate left behind by a crash
 * is never read as policy.
 */
export interface StagedSudoers {
  target: string;
  before: string;
  after: string;
  changed: boolean;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

const SUDOERS_MODE = 0o440;

export async function stageSudoers(system: System, target: string, transform: (current: string | undefined) => string): Promise<StagedSudoers> {
  const current = await system.readText(target);
  const after = transform(current);
  const before = current ?? '';
  if (after === before) {
    return { target, before, after, changed: false, commit: () => Promise.resolve(), discard: () => Promise.resolve() };
  }
  const dir = path.posix.dirname(target);
  const dirInfo = await system.lstat(dir);
  if (dirInfo === undefined) {
    await system.mkdir(dir, { mode: 0o750 });
  } else if (dirInfo.type !== 'directory' || dirInfo.uid !== 0) {
    throw new VmaccessError('SUDOERS_INVALID', `${dir} is not a root-owned directory; not writing sudoers there.`);
  }
  const prefix = `.${path.posix.basename(target)}.vmaccess-`;
  // Candidates left by a run that died (enable holds a lock, so none is in use now).
  for (const name of (await system.listDir(dir)) ?? []) {
    if (!name.startsWith(prefix)) continue;
    const info = await system.lstat(path.posix.join(dir, name));
    if (info?.type === 'file' && info.uid === 0) await system.remove(path.posix.join(dir, name));
  }
  const candidate = path.posix.join(dir, `${prefix}${Buffer.from(system.randomBytes(6)).toString('hex')}`);
  if (!(await system.createExclusive(candidate, after, { mode: SUDOERS_MODE, uid: 0, gid: 0 }))) {
    throw new VmaccessError('SUDOERS_INVALID', `The temporary sudoers candidate ${candidate} already exists.`);
  }
  const discard = (): Promise<void> => system.remove(candidate);
  const check = await system.run('visudo', ['-c', '-q', '-f', candidate], { timeoutMs: 30_000 });
  if (!check.started) {
    await discard();
    throw new VmaccessError('PREREQUISITE_MISSING', 'visudo is not installed, so the sudoers change cannot be validated; nothing was changed.', {
      hint: 'Install the sudo package.',
    });
  }
  if (check.exitCode !== 0) {
    await discard();
    // visudo names the file and line; the user names in it are validated, no secrets.
    const reason = (check.stderr.trim() || check.stdout.trim()).split('\n')[0]?.replace(candidate, target).slice(0, 300) ?? '';
    throw new VmaccessError('SUDOERS_INVALID', `visudo rejected the new ${target}; it was not changed. ${reason}`.trim());
  }
  return {
    target,
    before,
    after,
    changed: true,
    async commit() {
      await system.rename(candidate, target);
    },
    discard,
  };
}
