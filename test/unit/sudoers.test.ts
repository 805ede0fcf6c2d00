import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { lineDiff, removeSudoersUser, setSudoersUser, sudoersEntryUsers, sudoersLine, sudoersUserToken } from '../../src/config/sudoers.js';

const agentFile = '# Created by the guest agent\nazureuser ALL=(ALL) NOPASSWD: ALL\n';

describe('sudoers lines', () => {
  test('the guest agent\'s own format', () => {
    expect(sudoersLine('alice', { nopasswd: true })).toBe('alice ALL=(ALL) NOPASSWD: ALL');
    expect(sudoersLine('alice', { nopasswd: false })).toBe('alice ALL=(ALL) ALL');
  });

  test.each([
    ['ALL', '"ALL"'],
    ['ADMIN', '"ADMIN"'],
    ['first.last', '"first.last"'],
    ['svc$', 'svc$'],
    ['a_b-c', 'a_b-c'],
  ])('%s is written as %s', (name, token) => {
    expect(sudoersUserToken(name)).toBe(token);
  });

  test.each(['-rf', '../x', 'a b', 'x\nALL ALL=(ALL) NOPASSWD: ALL', 'a'.repeat(33), 'a,b', 'a:b', '%wheel', '#0', 'a"b', 'a\\b', ''])(
    'hostile name %j is refused',
    (name) => {
      expect(() => sudoersUserToken(name)).toThrow(expect.objectContaining({ code: 'SETTINGS_INVALID' }));
    },
  );
});

describe('setSudoersUser', () => {
  test('adds a line, other lines byte for byte', () => {
    expect(setSudoersUser(agentFile, 'alice', { nopasswd: false })).toBe(`${agentFile}alice ALL=(ALL) ALL\n`);
  });

  test('creates the file content when missing', () => {
    expect(setSudoersUser(undefined, 'alice', { nopasswd: true })).toBe('alice ALL=(ALL) NOPASSWD: ALL\n');
  });

  test('a file without a final newline is not glued to our line', () => {
    expect(setSudoersUser('azureuser ALL=(ALL) NOPASSWD: ALL', 'alice', { nopasswd: true })).toBe('azureuser ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) NOPASSWD: ALL\n');
  });

  test('replaces the user\'s line in place and drops duplicates; the same request twice is stable', () => {
    const existing = 'bob ALL=(ALL) ALL\nalice ALL=(ALL:ALL) NOPASSWD:ALL\n# x\nalice ALL=(ALL) ALL\ncarol ALL=(ALL) ALL';
    const once = setSudoersUser(existing, 'alice', { nopasswd: false });
    expect(once).toBe('bob ALL=(ALL) ALL\nalice ALL=(ALL) ALL\n# x\ncarol ALL=(ALL) ALL');
    expect(setSudoersUser(once, 'alice', { nopasswd: false })).toBe(once);
  });

  test('entries for several users, aliases, Defaults and look-alike names are left alone', () => {
    const existing = 'alice,bob ALL=(ALL) ALL\nDefaults:alice !requiretty\nUser_Alias ADMINS = alice\nalice2 ALL=(ALL) ALL\n';
    expect(setSudoersUser(existing, 'alice', { nopasswd: true })).toBe(`${existing}alice ALL=(ALL) NOPASSWD: ALL\n`);
  });

  test('a quoted or escaped spelling of the same user is recognised', () => {
    expect(setSudoersUser('"ALL" ALL=(ALL) ALL\n', 'ALL', { nopasswd: true })).toBe('"ALL" ALL=(ALL) NOPASSWD: ALL\n');
    expect(sudoersEntryUsers('a\\.b ALL=(ALL) ALL')).toEqual(['a.b']);
    expect(sudoersEntryUsers('alice , bob ALL=(ALL) ALL')).toEqual(['alice', 'bob']);
  });

  test('a continued entry (trailing backslash) counts as one line', () => {
    const existing = 'alice ALL=(ALL) \\\n  NOPASSWD: ALL\nbob ALL=(ALL) ALL\n';
    expect(setSudoersUser(existing, 'alice', { nopasswd: false })).toBe('alice ALL=(ALL) ALL\nbob ALL=(ALL) ALL\n');
  });
});

describe('removeSudoersUser', () => {
  test('drops only that user\'s lines', () => {
    const existing = 'azureuser ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\nbob ALL=(ALL) NOPASSWD: ALL\n#bob\n';
    expect(removeSudoersUser(existing, 'bob')).toBe('azureuser ALL=(ALL) NOPASSWD: ALL\n#bob\n');
  });

  test('no line for the user: unchanged, identical string', () => {
    expect(removeSudoersUser(agentFile, 'bob')).toBe(agentFile);
    expect(removeSudoersUser(undefined, 'bob')).toBe('');
  });
});

test('lineDiff shows removed and added lines', () => {
  expect(lineDiff('a\nb\n', 'a\nc\n')).toEqual(['- b', '+ c']);
  expect(lineDiff('', 'a\n')).toEqual(['+ a']);
});

// visudo -c -f on a temporary file reads nothing of this machine's sudo policy.
const visudo = ['/usr/sbin/visudo', '/usr/bin/visudo'].find((candidate) => fs.existsSync(candidate));
describe.skipIf(visudo === undefined)('the real visudo accepts every line we write', () => {
  test.each(['alice', 'ALL', 'ADMIN', 'first.last', 'svc$', 'a_b-c'])('%s', (name) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmaccess-sudoers-'));
    try {
      const file = path.join(dir, 'candidate');
      fs.writeFileSync(file, setSudoersUser(agentFile, name, { nopasswd: true }), { mode: 0o440 });
      const output = execFileSync(visudo!, ['-c', '-f', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(output).toContain('parsed OK');
      // -x shows how sudo reads the line: a plain user name, never the keyword ALL or an alias.
      const json = execFileSync(visudo!, ['-x', '-', '-f', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const users = (JSON.parse(json) as { User_Specs: { User_List: Record<string, unknown>[] }[] }).User_Specs.map((spec) => spec.User_List);
      expect(users).toContainEqual([{ username: name }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
