import type { Action } from './action.js';

export interface ActionOptions {
  /** The package's resources/ folder (sshd_config templates). */
  resourcesDir?: string;
}

/**
 * The actions in the order they run: disks first (independent of accounts), then
 * accounts and unlock (which may ask for SSH changes), then the SSH server, which applies every
 * collected SSH change at once. Loaded on demand: each is its own chunk of the
 * bundle, so commands that run no action never parse them.
 */
export async function loadActions(options: ActionOptions = {}): Promise<Action[]> {
  const [{ createDiskAction }, { createUserAction }, { createUnlockAction }, { createSshAction }] = await Promise.all([
    import('./disk/disk.js'),
    import('./accounts/user.js'),
    import('./unlock/unlock.js'),
    import('./ssh/ssh.js'),
  ]);
  return [createDiskAction(), createUserAction(), createUnlockAction(), createSshAction(options.resourcesDir === undefined ? {} : { resourcesDir: options.resourcesDir })];
}
