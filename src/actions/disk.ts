import { VmaccessError } from '../errors.js';
import type { Action } from './action.js';

// Placeholder until the disk issue lands: says so instead of pretending.
export function createDiskAction(): Action {
  return {
    name: 'disk',
    wants: (request) => request.disk !== undefined,
    plan: () => Promise.resolve(['disk: not implemented yet']),
    apply: () => Promise.reject(new VmaccessError('NOT_IMPLEMENTED', 'The disk action is not implemented in this version.')),
  };
}
