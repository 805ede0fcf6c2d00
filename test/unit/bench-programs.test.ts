import { describe, expect, test } from 'vitest';
import { countPrograms } from '../../bench/e2e-programs.js';

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
