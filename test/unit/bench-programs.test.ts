import { describe, expect, test } from 'vitest';
import { fileURLToPath } from 'node:url';
import { handlerFlags } from '../../bench/digest.js';
import { countPrograms } from '../../bench/e2e-programs.js';
import { phaseSummary, phasesOf } from '../../bench/e2e-log.js';

/** The bench's reading of `strace -f` output: which programs node itself started. */

const TRACE = [
  '100 execve("/usr/lib/ld-linux-x86-64.so.2", ["/usr/lib/ld-linux-x86-64.so.2", "--library-path"], 0x1 /* 3 vars */) = 0',
  '100 clone(child_stack=NULL, flags=CLONE_VM|CLONE_FS|CLONE_THREAD|CLONE_SIGHAND) = 101',
  '101 clone(child_stack=NULL, flags=CLONE_VFORK|SIGCHLD <unfinished ...>',
  '100 clone(child_stack=NULL, flags=CLONE_VFORK|SIGCHLD <unfinished ...>',
  // Two programs started side by side: the children exec before their parents' clones return.
  '201 execve("/usr/bin/id", ["id", "-Gn", "--", "alice"], 0x2 /* 2 vars */) = 0',
  '202 execve("/usr/bin/chage", ["chage", "-l", "--", "alice"], 0x2 /* 2 vars */ <unfinished ...>',
  '101 <... clone resumed>) = 201',
  '100 <... clone resumed>) = 202',
  '202 <... execve resumed>) = 0',
  '201 clone(child_stack=NULL, flags=SIGCHLD) = 203',
  '203 execve("/bin/true", ["true"], 0x2 /* 2 vars */) = 0',
  '204 execve("/bin/missing", ["missing"], 0x2 /* 2 vars */) = -1 ENOENT (No such file or directory)',
].join('\n');

describe('countPrograms', () => {
  test("programs node started, also when a child's exec is written before its parent's clone returns; grandchildren are not node's", () => {
    expect(countPrograms(TRACE)).toEqual({ byHandler: ['id -Gn', 'chage -l'], totalExecs: 4 });
  });
});

describe('phaseSummary', () => {
  const log = (times: number[], names: string[]): string => times.map((time, index) => JSON.stringify({ time: new Date(time).toISOString(), msg: names[index], ...(index === 0 ? { rssMiB: 50 + time % 3, uptimeMs: 40 } : {}) })).join('\n');
  test('medians over runs: span, the longest gaps (a repeated gap summed within its run), RSS per phase, wall outside the log', () => {
    const names = ['enable started', 'step finished', 'step finished', 'step finished', 'enable finished'];
    const runs = [log([0, 10, 20, 30, 30], names), log([0, 20, 40, 50, 50], names), log([0, 30, 60, 70, 100], names)].map(phasesOf);
    // step -> step occurs twice per run: 20, 30, 40 -> median 30.
    expect(phaseSummary(runs, [100, 120, 500])).toBe(
      'first to last record 50.0 ms; wall outside the log 70.0 ms, of which the process had run 40.0 ms (node\'s start and loading) at its first record; longest gaps: step finished -> step finished 30.0 ms, enable started -> step finished 20.0 ms, step finished -> enable finished 0.00 ms; RSS MiB: enable started 50.0',
    );
  });
});

describe("the digest bench starts node with handlers/run's own V8 flags", () => {
  test('read from the shim of this tree', () => {
    const flags = handlerFlags(fileURLToPath(new URL('../..', import.meta.url)));
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) expect(flag).toMatch(/^--[a-z][\w-]*(=\w+)?$/);
    expect(flags).toContain('--no-opt');
  });
});
