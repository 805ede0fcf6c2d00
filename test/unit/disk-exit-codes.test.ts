import { describe, expect, test } from 'vitest';
import { interpretFsckExit, interpretXfsRepairExit, xfsOutputMentionsDirtyLog } from '../../src/config/fsck-exit-code.js';

describe('e2fsck / fsck exit codes (fsck(8) bit mask)', () => {
  test.each([
    [0, false, 'clean', false],
    [1, false, 'corrected', false],
    [2, false, 'corrected', true],
    [3, false, 'corrected', true],
    [4, false, 'errors', false],
    [6, false, 'errors', true],
    [8, false, 'failed', false],
    [12, false, 'failed', false],
    [16, false, 'failed', false],
    [32, false, 'failed', false],
    [128, false, 'failed', false],
    [0, true, 'clean', false],
    [4, true, 'errors', false],
    [1, true, 'errors', false],
    [8, true, 'failed', false],
    [-1, true, 'failed', false],
    [256, false, 'failed', false],
  ] as const)('exit %i (read-only %s) is %s, reboot %s', (code, readOnly, verdict, reboot) => {
    const meaning = interpretFsckExit(code, readOnly);
    expect(meaning.verdict).toBe(verdict);
    expect(meaning.rebootNeeded).toBe(reboot);
    expect(meaning.description).toContain(`exit ${code}`);
  });

  test('descriptions say what happened', () => {
    expect(interpretFsckExit(4, true).description).toBe('errors found (exit 4)');
    expect(interpretFsckExit(4, false).description).toBe('errors left uncorrected (exit 4)');
    expect(interpretFsckExit(3, false).description).toBe('errors corrected, reboot needed (exit 3)');
    expect(interpretFsckExit(12, false).description).toContain('operational error');
  });
});

describe('xfs_repair exit codes', () => {
  test.each([
    [0, true, '', 'clean', false],
    [1, true, 'would have reset inode 128 nlinks', 'errors', false],
    // A start-up failure also exits 1: it says nothing about the filesystem.
    [1, true, 'xfs_repair: /dev/sdd1 contains a mounted and writable filesystem\n\nfatal error -- couldn\'t initialize XFS library', 'failed', false],
    [0, false, '', 'clean', false],
    [1, false, 'Phase 3', 'failed', false],
    [2, false, 'ERROR: The filesystem has valuable metadata changes in a log which needs to be replayed.', 'failed', true],
    [4, false, '', 'corrected', false],
    [137, false, '', 'failed', false],
  ] as const)('exit %i (read-only %s) -> %s (dirty log %s)', (code, readOnly, output, verdict, dirty) => {
    const meaning = interpretXfsRepairExit(code, readOnly, output);
    expect(meaning.verdict).toBe(verdict);
    expect(meaning.dirtyLog).toBe(dirty);
  });

  test('dirty log notes in -n output are recognised', () => {
    expect(xfsOutputMentionsDirtyLog('ERROR: The filesystem has valuable metadata changes in a log which is being ignored because the -n option was used.')).toBe(true);
    expect(xfsOutputMentionsDirtyLog('Phase 1 - find and verify superblock...')).toBe(false);
  });
});
