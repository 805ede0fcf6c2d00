import { VmaccessError } from '../errors.js';
import type { Action } from './action.js';

// Placeholder until the ssh issue lands: says so instead of pretending.
export function createSshAction(): Action {
  return {
    name: 'ssh',
    wants: (request) => request.resetSsh || request.restoreBackupSsh || request.account?.password !== undefined || request.removeUser !== undefined,
    plan: () => Promise.resolve(['ssh: not implemented yet']),
    apply: () => Promise.reject(new VmaccessError('NOT_IMPLEMENTED', 'The ssh action is not implemented in this version.')),
  };
}
