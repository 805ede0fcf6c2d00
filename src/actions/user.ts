import { VmaccessError } from '../errors.js';
import type { Action } from './action.js';

// Placeholder until the user issue lands: says so instead of pretending.
export function createUserAction(): Action {
  return {
    name: 'user',
    wants: (request) => request.account !== undefined || request.removeUser !== undefined,
    plan: () => Promise.resolve(['user: not implemented yet']),
    apply: () => Promise.reject(new VmaccessError('NOT_IMPLEMENTED', 'The user action is not implemented in this version.')),
  };
}
