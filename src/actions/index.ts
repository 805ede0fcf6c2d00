import type { Action } from './action.js';
import { createDiskAction } from './disk.js';
import { createSshAction } from './ssh.js';
import { createUserAction } from './user.js';

/**
 * The actions in the order they run: disks first (independent of accounts), then
 * accounts (which may ask for SSH changes), then the SSH server, which applies every
 * collected SSH change at once.
 */
export function createActions(): Action[] {
  return [createDiskAction(), createUserAction(), createSshAction()];
}
