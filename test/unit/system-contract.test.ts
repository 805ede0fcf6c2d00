import { execFileSync } from 'node:child_process';
import { linkSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { createRealSystem, kernelRandomBytes } from '../../src/system/real-system.js';
import { runCommand } from '../../src/system/run-command.js';
import type { System } from '../../src/system/system.js';
import { FakeSystem } from '../fakes/fake-system.js';

/**
 * One contract, two implementations: the fake must behave like the real system for
 * everything the handler relies on, or unit tests prove nothing.
 */

interface Subject {
  system: System;
  root: string;
  symlink(link: string, target: string): void;
  cleanup(): void;
}

const subjects: [string, () => Subject][] = [
  [
    'real system in a temp dir',
    () => {
      const root = mkdtempSync(path.join(tmpdir(), 'vmaccess-contract-'));
      return { system: createRealSystem(), root, symlink: (link, target) => symlinkSync(target, link), cleanup: () => rmSync(root, { recursive: true, force: true }) };
    },
  ],
  [
    'fake system',
    () => {
      const fake = new FakeSystem().addDir('/work');
      return { system: fake, root: '/work', symlink: (link, target) => fake.addSymlink(link, target), cleanup: () => undefined };
    },
  ],
];

describe.each(subjects)('System contract: %s', (_name, make) => {
  let subject: Subject;
  afterEach(() => subject.cleanup());
  const at = (name: string) => path.join(subject.root, name);

  test('missing files read as undefined, stat as undefined, list as undefined', async () => {
    subject = make();
    expect(await subject.system.readText(at('nope'))).toBeUndefined();
    expect(await subject.system.readBytes(at('nope'))).toBeUndefined();
    expect(await subject.system.stat(at('nope'))).toBeUndefined();
    expect(await subject.system.lstat(at('nope/deeper'))).toBeUndefined();
    expect(await subject.system.listDir(at('nope'))).toBeUndefined();
  });

  test('openAppendLog creates with the mode, appends after what is there at once, and refuses a symbolic link at the name', async () => {
    subject = make();
    const append = subject.system.openAppendLog(at('log'), 0o600);
    append('one\n');
    expect(await subject.system.readText(at('log'))).toBe('one\n');
    expect((await subject.system.stat(at('log')))?.mode).toBe(0o600);
    const again = subject.system.openAppendLog(at('log'), 0o644);
    again('two\n');
    expect(await subject.system.readText(at('log'))).toBe('one\ntwo\n');
    await subject.system.writeFileAtomic(at('target'), 'keep');
    subject.symlink(at('link'), at('target'));
    expect(() => subject.system.openAppendLog(at('link'), 0o600)).toThrow();
    expect(await subject.system.readText(at('target'))).toBe('keep');
  });

  test('randomBytes gives the count asked for, and two calls differ', () => {
    subject = make();
    const first = subject.system.randomBytes(16);
    expect(first).toBeInstanceOf(Uint8Array);
    expect(first).toHaveLength(16);
    expect(subject.system.randomBytes(0)).toHaveLength(0);
    expect(subject.system.randomBytes(70_000)).toHaveLength(70_000);
    expect(Buffer.from(subject.system.randomBytes(16)).equals(Buffer.from(first))).toBe(false);
  });

  test('writeFileAtomic writes content and mode, and keeps the mode of a file it replaces', async () => {
    subject = make();
    await subject.system.writeFileAtomic(at('a'), 'one', { mode: 0o600 });
    expect(await subject.system.readText(at('a'))).toBe('one');
    expect((await subject.system.stat(at('a')))?.mode).toBe(0o600);
    await subject.system.writeFileAtomic(at('a'), 'two');
    expect(await subject.system.readText(at('a'))).toBe('two');
    expect((await subject.system.stat(at('a')))?.mode).toBe(0o600);
    expect(await subject.system.listDir(subject.root)).toEqual(['a']);
  });

  test('writeFileAtomic into a missing directory fails and leaves nothing', async () => {
    subject = make();
    await expect(subject.system.writeFileAtomic(at('missing/a'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('createExclusive creates once', async () => {
    subject = make();
    expect(await subject.system.createExclusive(at('lock'), 'first')).toBe(true);
    expect(await subject.system.createExclusive(at('lock'), 'second')).toBe(false);
    expect(await subject.system.readText(at('lock'))).toBe('first');
  });

  test('tryHoldKernelLock: one holder per name until it releases', async () => {
    const name = `vmaccess-contract-${process.pid}-${Math.random().toString(16).slice(2)}`;
    const first = await subject.system.tryHoldKernelLock(name);
    expect(first).toBeDefined();
    expect(await subject.system.tryHoldKernelLock(name)).toBeUndefined();
    const other = await subject.system.tryHoldKernelLock(`${name}-other`);
    expect(other).toBeDefined();
    await first?.release();
    await other?.release();
    const again = await subject.system.tryHoldKernelLock(name);
    expect(again).toBeDefined();
    await again?.release();
  });

  test('lstat sees symlinks, stat follows them', async () => {
    subject = make();
    await subject.system.writeFileAtomic(at('target'), 'x');
    subject.symlink(at('link'), at('target'));
    expect((await subject.system.lstat(at('link')))?.type).toBe('symlink');
    expect((await subject.system.stat(at('link')))?.type).toBe('file');
    expect(await subject.system.readText(at('link'))).toBe('x');
  });

  test('readLink gives a link\'s target as written; writeSymlinkAtomic replaces a file or a link with a link', async () => {
    subject = make();
    await subject.system.writeFileAtomic(at('target'), 'x');
    await subject.system.writeFileAtomic(at('plain'), 'y');
    subject.symlink(at('link'), 'target');
    expect(await subject.system.readLink(at('link'))).toBe('target');
    expect(await subject.system.readLink(at('plain'))).toBeUndefined();
    expect(await subject.system.readLink(at('nope'))).toBeUndefined();
    await subject.system.writeSymlinkAtomic(at('plain'), 'target');
    expect(await subject.system.readLink(at('plain'))).toBe('target');
    expect(await subject.system.readText(at('plain'))).toBe('x');
    await subject.system.writeFileAtomic(at('link'), 'z');
    // rename(2) over a link replaces the link, never its target.
    expect((await subject.system.lstat(at('link')))?.type).toBe('file');
    expect(await subject.system.readText(at('target'))).toBe('x');
    await subject.system.writeSymlinkAtomic(at('link'), '/elsewhere');
    expect(await subject.system.readLink(at('link'))).toBe('/elsewhere');
    expect(await subject.system.listDir(subject.root)).toEqual(['link', 'plain', 'target']);
  });

  test('mkdir, listDir sorted, rename, remove', async () => {
    subject = make();
    await subject.system.mkdir(at('d/e'), { recursive: true, mode: 0o700 });
    expect((await subject.system.stat(at('d/e')))?.type).toBe('directory');
    await subject.system.writeFileAtomic(at('d/b'), 'b');
    await subject.system.writeFileAtomic(at('d/a'), 'a');
    expect(await subject.system.listDir(at('d'))).toEqual(['a', 'b', 'e']);
    await subject.system.rename(at('d/a'), at('d/c'));
    expect(await subject.system.listDir(at('d'))).toEqual(['b', 'c', 'e']);
    await subject.system.remove(at('d/missing'));
    await subject.system.remove(at('d'), { recursive: true });
    expect(await subject.system.stat(at('d'))).toBeUndefined();
  });

  test('mkdir without recursive on an existing directory is EEXIST', async () => {
    subject = make();
    await subject.system.mkdir(at('x'));
    await expect(subject.system.mkdir(at('x'))).rejects.toMatchObject({ code: 'EEXIST' });
    await subject.system.mkdir(at('x'), { recursive: true });
  });

  test('readRegularFile: text and identity of a plain file, missing, a link refused, a size bound', async () => {
    subject = make();
    await subject.system.writeFileAtomic(at('keys'), 'ssh-ed25519 AAAA\n');
    const read = await subject.system.readRegularFile(at('keys'), { maxBytes: 100 });
    expect(read).toMatchObject({ kind: 'text', text: 'ssh-ed25519 AAAA\n', info: { type: 'file', nlink: 1 } });
    const info = await subject.system.lstat(at('keys'));
    if (read.kind === 'text') expect([read.info.dev, read.info.ino]).toEqual([info?.dev, info?.ino]);
    expect(await subject.system.readRegularFile(at('nope'), { maxBytes: 100 })).toEqual({ kind: 'missing' });
    subject.symlink(at('link'), at('keys'));
    expect(await subject.system.readRegularFile(at('link'), { maxBytes: 100 })).toMatchObject({ kind: 'refused' });
    expect(await subject.system.readRegularFile(at('keys'), { maxBytes: 4 })).toMatchObject({ kind: 'refused', reason: 'it is larger than 4 bytes' });
    await subject.system.mkdir(at('dir'));
    expect(await subject.system.readRegularFile(at('dir'), { maxBytes: 100 })).toMatchObject({ kind: 'refused' });
  });
});

describe('real readRegularFile: the names a hostile user can plant', () => {
  const system = createRealSystem();
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test('a FIFO returns at once, /dev/zero is bounded, a hard link and a link to a device are refused', async () => {
    root = mkdtempSync(path.join(tmpdir(), 'vmaccess-read-'));
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    const started = Date.now();
    expect(await system.readRegularFile(path.join(root, 'fifo'), { maxBytes: 1024 })).toMatchObject({ kind: 'refused', reason: 'it is not a regular file' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await system.readRegularFile('/dev/zero', { maxBytes: 1024 })).toMatchObject({ kind: 'refused', reason: 'it is not a regular file' });
    symlinkSync('/dev/zero', path.join(root, 'zero'));
    expect(await system.readRegularFile(path.join(root, 'zero'), { maxBytes: 1024 })).toMatchObject({ kind: 'refused', reason: 'it is a symbolic link' });
    writeFileSync(path.join(root, 'secret'), 'root:$6$hash:1:0:99999:7:::\n');
    linkSync(path.join(root, 'secret'), path.join(root, 'hard'));
    expect(await system.readRegularFile(path.join(root, 'hard'), { maxBytes: 1024 })).toMatchObject({ kind: 'refused', reason: 'it has 2 hard links' });
  });
});

describe('real system commands', () => {
  const system = createRealSystem();

  test('randomBytes reads the kernel source: 4096 bytes take (nearly) every byte value', () => {
    // A constant, a counter or a short cycle would show far fewer distinct values.
    expect(new Set(system.randomBytes(4096)).size).toBeGreaterThan(240);
  });

  test('random bytes never come from a plain file, a link or nothing at the device name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vmaccess-random-'));
    try {
      const planted = path.join(dir, 'urandom');
      writeFileSync(planted, Buffer.alloc(4096, 7));
      symlinkSync('/dev/urandom', path.join(dir, 'link'));
      for (const device of [planted, path.join(dir, 'link'), path.join(dir, 'missing')]) {
        const bytes = kernelRandomBytes(4096, device);
        expect(bytes).toHaveLength(4096);
        expect(new Set(bytes).size).toBeGreaterThan(240);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a non-zero exit is a result, not an exception', async () => {
    const result = await system.run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(result).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false, started: true });
  });

  test('input goes to stdin, not argv', async () => {
    const result = await system.run('cat', [], { input: 'secret-on-stdin' });
    expect(result.stdout).toBe('secret-on-stdin');
  });

  test('a missing program is reported as not started', async () => {
    const result = await system.run('/nonexistent/program', []);
    expect(result.started).toBe(false);
    expect(result.exitCode).not.toBe(0);
  });

  test('commands run with a fixed C locale and PATH, not the caller environment', async () => {
    const result = await system.run('sh', ['-c', 'echo "$LC_ALL|$PATH|${HOME:-unset}"']);
    expect(result.stdout.trim()).toBe('C|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|unset');
  });

  test('a command past its timeout is killed', async () => {
    const result = await system.run('sleep', ['5'], { timeoutMs: 200 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).not.toBe(0);
  });

  test('a command that exits while a child it left behind holds its output pipe returns after the grace, with the output so far', async () => {
    const started = Date.now();
    const result = await runCommand({ file: 'sh', args: ['-c', 'echo before; sleep 30 & exit 4'], env: { PATH: '/usr/bin:/bin' }, timeoutMs: 20_000, pipeGraceMs: 300 });
    expect(result).toMatchObject({ exitCode: 4, stdout: 'before\n', timedOut: false, started: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('a timeout is reported even when a child left behind holds the pipes', async () => {
    const started = Date.now();
    const result = await runCommand({ file: 'sh', args: ['-c', 'sleep 30 & sleep 30'], env: { PATH: '/usr/bin:/bin' }, timeoutMs: 300 });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true, started: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('a program killed by a signal, one that never reads its input, and output past the bound', async () => {
    expect(await system.run('sh', ['-c', 'kill -TERM $$'])).toMatchObject({ exitCode: 143, started: true, timedOut: false });
    const unread = await system.run('true', [], { input: 'x'.repeat(1024 * 1024) });
    expect(unread).toMatchObject({ exitCode: 0, started: true });
    const bounded = await runCommand({ file: 'sh', args: ['-c', 'head -c 100000 /dev/zero'], env: { PATH: '/usr/bin:/bin' }, timeoutMs: 10_000, maxOutputBytes: 1000 });
    expect(bounded.stdout.length).toBe(1000);
  });
});
