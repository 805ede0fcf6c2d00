import * as path from 'node:path';
import type { SystemPaths } from '../../system/paths.js';

/** Where a change set in progress keeps its undo copies (see createUndoRecord). */
export function journalDir(paths: SystemPaths): string {
  return path.join(paths.stateDir, 'sshd-undo');
}
