import type { VmaccessRequest } from '../settings/request.js';

/**
 * Which requests each action acts on. Here, apart from the actions, so that enable can
 * load only the actions a request needs (each is its own bundle chunk: parsing and
 * holding the others costs start-up time and memory) and the actions use the same rule.
 */
export const wantsDisk = (request: VmaccessRequest): boolean => request.disk !== undefined;

export const wantsUser = (request: VmaccessRequest): boolean => request.account !== undefined || request.removeUser !== undefined;

export const wantsUnlock = (request: VmaccessRequest): boolean => request.unlock !== undefined;

export const wantsSsh = (request: VmaccessRequest): boolean =>
  request.resetSsh || request.restoreBackupSsh || request.account?.password !== undefined || request.unlock?.password !== undefined || request.removeUser !== undefined;
