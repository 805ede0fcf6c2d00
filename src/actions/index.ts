import type { VmaccessRequest } from '../settings/request.js';
import type { SystemPaths } from '../system/paths.js';
import type { System } from '../system/system.js';
import type { Action } from './action.js';
import { journalDir } from './ssh/journal-dir.js';
import { wantsDisk, wantsSsh, wantsUnlock, wantsUser } from './wants.js';

export interface ActionOptions {
  /** The package's resources/ folder (sshd_config templates). */
  resourcesDir?: string;
}

/**
 * The actions in the order they run: disks first (independent of accounts), then
 * accounts and unlock (which may ask for SSH changes), then the SSH server, which applies every
 * collected SSH change at once. Loaded on demand: each is its own chunk of the
 * bundle, so commands that run no action never parse them, and with a request only
 * the actions it needs are loaded (a password reset never parses the disk code).
 */
export async function loadActions(options: ActionOptions = {}, request?: VmaccessRequest): Promise<Action[]> {
  const needed = (wants: (request: VmaccessRequest) => boolean): boolean => request === undefined || wants(request);
  const [disk, user, unlock, ssh] = await Promise.all([
    needed(wantsDisk) ? import('./disk/disk.js').then(({ createDiskAction }) => createDiskAction()) : undefined,
    needed(wantsUser) ? import('./accounts/user.js').then(({ createUserAction }) => createUserAction()) : undefined,
    needed(wantsUnlock) ? import('./unlock/unlock.js').then(({ createUnlockAction }) => createUnlockAction()) : undefined,
    needed(wantsSsh) ? import('./ssh/ssh.js').then(({ createSshAction }) => createSshAction(options.resourcesDir === undefined ? {} : { resourcesDir: options.resourcesDir })) : undefined,
  ]);
  const loaded: (Action | undefined)[] = [disk, user, unlock, ssh];
  return loaded.filter((action): action is Action => action !== undefined);
}

/**
 * The actions with something to finish from a run that died half-way: only the ssh
 * action keeps a journal, and only while a change set is in progress. One lstat when
 * there is none, so an enable does not load every action just to learn that.
 */
export async function loadActionsToRecover(system: System, paths: SystemPaths, options: ActionOptions = {}): Promise<Action[]> {
  if ((await system.lstat(journalDir(paths))) === undefined) return [];
  const { createSshAction } = await import('./ssh/ssh.js');
  return [createSshAction(options.resourcesDir === undefined ? {} : { resourcesDir: options.resourcesDir })];
}
