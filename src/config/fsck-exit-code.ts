/**
 * What the exit status of a filesystem checker means. fsck(8) and e2fsck(8) share one
 * bit mask; xfs_repair(8) has its own small set of codes.
 */

export type FsckVerdict =
  /** Nothing wrong (or nothing needed fixing). */
  | 'clean'
  /** Problems were found and all of them fixed. */
  | 'corrected'
  /** Problems were found (read-only check) or some were left unfixed (repair). */
  | 'errors'
  /** The checker itself could not do its job; says nothing about the filesystem. */
  | 'failed';

export interface FsckInterpretation {
  verdict: FsckVerdict;
  /** fsck bit 2: the system should be rebooted (only meaningful for a mounted root). */
  rebootNeeded: boolean;
  /** One phrase for a status message, e.g. `errors corrected (exit 1)`. */
  description: string;
}

// fsck(8) / e2fsck(8) EXIT CODE section.
const FSCK_BITS: [number, string][] = [
  [1, 'errors corrected'],
  [2, 'errors corrected, reboot needed'],
  [4, 'errors left uncorrected'],
  [8, 'operational error'],
  [16, 'usage or syntax error'],
  [32, 'cancelled by user request'],
  [128, 'shared-library error'],
];

/**
 * e2fsck and the fsck front end. `readOnly` is true for a `-n` check, where exit 4
 * means "errors found" (nothing is ever corrected).
 */
export function interpretFsckExit(exitCode: number, readOnly: boolean): FsckInterpretation {
  const inRange = Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255;
  // Bit 2 ("corrected, reboot needed") already says bit 1's "corrected".
  const parts = inRange
    ? FSCK_BITS.filter(([bit]) => (exitCode & bit) !== 0 && !(bit === 1 && (exitCode & 2) !== 0)).map(([, text]) => text)
    : [];
  const rebootNeeded = inRange && (exitCode & 2) !== 0;
  if (exitCode === 0) return { verdict: 'clean', rebootNeeded, description: 'clean (exit 0)' };
  if (!inRange || (exitCode & (8 | 16 | 32 | 128)) !== 0) {
    const text = parts.length > 0 ? parts.join(', ') : 'unexpected status';
    return { verdict: 'failed', rebootNeeded, description: `checker did not complete: ${text} (exit ${exitCode})` };
  }
  if ((exitCode & 4) !== 0) {
    const text = readOnly ? 'errors found' : 'errors left uncorrected';
    return { verdict: 'errors', rebootNeeded, description: `${text} (exit ${exitCode})` };
  }
  if (readOnly) {
    // -n never corrects anything; a 1 or 2 here means the checker did something odd.
    return { verdict: 'errors', rebootNeeded, description: `errors reported (exit ${exitCode})` };
  }
  return { verdict: 'corrected', rebootNeeded, description: `${parts.join(', ')} (exit ${exitCode})` };
}

export interface XfsRepairInterpretation extends FsckInterpretation {
  /** Exit 2: the log holds changes that must be replayed by mounting first. */
  dirtyLog: boolean;
}

/**
 * xfs_repair(8): with -n, 1 means corruption found; without it, 0 means it finished
 * (repairs made or not), 1 a runtime error (run again), 2 a dirty log that must be
 * replayed by mounting (never zeroed with -L without a person deciding), 4 (with -e)
 * corruption repaired. A fatal start-up error (e.g. a mounted device) also exits 1,
 * so `output` is consulted to tell it from corruption.
 */
export function interpretXfsRepairExit(exitCode: number, readOnly: boolean, output: string): XfsRepairInterpretation {
  const fatal = /fatal error|couldn't initialize|contains a mounted|cannot open|No such file|Permission denied/i.test(output);
  const base = { rebootNeeded: false, dirtyLog: false };
  if (exitCode === 2) {
    return { ...base, verdict: 'failed', dirtyLog: true, description: 'the log needs to be replayed by mounting first (exit 2)' };
  }
  if (exitCode === 0) return { ...base, verdict: 'clean', description: readOnly ? 'clean (exit 0)' : 'finished (exit 0)' };
  if (exitCode === 1 && !fatal) {
    if (readOnly) return { ...base, verdict: 'errors', description: 'corruption found (exit 1)' };
    return { ...base, verdict: 'failed', description: 'runtime error, repair did not finish (exit 1)' };
  }
  if (exitCode === 4 && !readOnly) return { ...base, verdict: 'corrected', description: 'corruption repaired (exit 4)' };
  return { ...base, verdict: 'failed', description: `xfs_repair did not complete (exit ${exitCode})` };
}

/**
 * xfs_repair -n notes dirty logs in its output and carries on; findings are then
 * possibly spurious (the log would have fixed them on mount).
 */
export function xfsOutputMentionsDirtyLog(output: string): boolean {
  return /metadata changes in a log|log which (needs|is being ignored)|replay the log/i.test(output);
}
