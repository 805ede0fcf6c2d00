import { describe, expect, test } from 'vitest';
import {
  DROP_IN_HEADER,
  MANAGED_BEGIN,
  MANAGED_END,
  dropIncludesInto,
  findIncludes,
  globMatches,
  insertManagedBlock,
  parsePasswordGrants,
  parseSshdDirectives,
  readManagedBlockGrants,
  removeManagedBlock,
  renderPasswordDropIn,
  rewriteIncludes,
  tokenizeSshdLine,
} from '../../src/config/sshd-config.js';
import { unifiedDiff } from '../../src/config/unified-diff.js';
import { fixtureDropIns, fixtureFamilies, fixtureFile } from '../fakes/ssh-world.js';

const alice = { user: 'alice', settings: [['PasswordAuthentication', 'yes']] as [string, string][] };
const bob = { user: 'bob', settings: [['PasswordAuthentication', 'yes'], ['AuthenticationMethods', 'any']] as [string, string][] };

describe('tokenizeSshdLine (as sshd splits a line)', () => {
  test.each([
    ['Port 22', 'port', ['22']],
    ['  PasswordAuthentication\tno  ', 'passwordauthentication', ['no']],
    ['Port=22', 'port', ['22']],
    ['Port = 22', 'port', ['22']],
    ['Include "/etc/ssh/sshd_config.d/*.conf"', 'include', ['/etc/ssh/sshd_config.d/*.conf']],
    ['Banner "/etc/my banner"', 'banner', ['/etc/my banner']],
    ['AuthorizedKeysFile .ssh/authorized_keys "/etc/ssh/keys/%u"', 'authorizedkeysfile', ['.ssh/authorized_keys', '/etc/ssh/keys/%u']],
    ['Port 22 # a comment', 'port', ['22']],
    ['Match User alice,bob Address 10.0.0.0/8', 'match', ['User', 'alice,bob', 'Address', '10.0.0.0/8']],
    ['PasswordAuthentication no\r', 'passwordauthentication', ['no']],
  ])('%j', (line, keyword, args) => {
    expect(tokenizeSshdLine(line)).toEqual({ keyword, args });
  });

  test.each(['', '   ', '# comment', '\t#PasswordAuthentication yes'])('%j is not a directive', (line) => {
    expect(tokenizeSshdLine(line)).toBeUndefined();
  });
});

describe('fixtures: structure as sshd reads it', () => {
  test.each([
    ['ubuntu-22.04', 1, false],
    ['ubuntu-24.04', 1, false],
    ['debian-12', 1, false],
    ['rhel-9', 1, false],
    ['flatcar-4459.0.0', 1, false],
    ['centos-7', 0, false],
    ['oraclelinux-8', 0, false],
    ['azurelinux-3', 0, false],
  ])('%s: %i Include line(s) outside Match', (family, includes, inMatch) => {
    const found = findIncludes(fixtureFile(family, 'etc/ssh/sshd_config'));
    expect(found).toHaveLength(includes);
    for (const include of found) {
      expect(include.inMatch).toBe(inMatch);
      expect(include.patterns).toEqual(['/etc/ssh/sshd_config.d/*.conf']);
    }
  });

  test('Flatcar puts its Include at the end, after every active setting; Debian at the top', () => {
    const flatcar = parseSshdDirectives(fixtureFile('flatcar-4459.0.0', 'etc/ssh/sshd_config'));
    expect(flatcar[flatcar.length - 1]?.keyword).toBe('include');
    const debian = parseSshdDirectives(fixtureFile('debian-12', 'etc/ssh/sshd_config'));
    expect(debian[0]?.keyword).toBe('include');
  });

  test('commented Match examples are not Match blocks', () => {
    expect(parseSshdDirectives(fixtureFile('flatcar-4459.0.0', 'etc/ssh/sshd_config')).some((directive) => directive.inMatch)).toBe(false);
  });
});

describe('managed block in sshd_config (families without Include)', () => {
  test.each(fixtureFamilies())('%s: insert then remove gives the file back byte for byte', (family) => {
    const original = fixtureFile(family, 'etc/ssh/sshd_config');
    const withBlock = insertManagedBlock(original, [alice, bob]);
    expect(withBlock).not.toBe(original);
    expect(readManagedBlockGrants(withBlock)).toEqual([alice, bob]);
    expect(removeManagedBlock(withBlock)).toBe(original);
    // Idempotent: inserting the same grants again gives the same text.
    expect(insertManagedBlock(withBlock, [alice, bob])).toBe(withBlock);
    expect(insertManagedBlock(withBlock, [])).toBe(original);
  });

  test('goes before the first real Match block, above the comments that introduce it', () => {
    const text = 'PasswordAuthentication no\n\n# SFTP only for the sftp group\nMatch Group sftp\n\tForceCommand internal-sftp\n';
    const result = insertManagedBlock(text, [alice]);
    expect(result).toBe(
      `PasswordAuthentication no\n\n${MANAGED_BEGIN}\nMatch User alice\n\tPasswordAuthentication yes\nMatch all\n${MANAGED_END}\n# SFTP only for the sftp group\nMatch Group sftp\n\tForceCommand internal-sftp\n`,
    );
    expect(removeManagedBlock(result)).toBe(text);
  });

  test('at the end of the file the block closes with Match all, so a line appended later is global again (#7)', () => {
    const result = insertManagedBlock('PasswordAuthentication no\n', [alice]);
    expect(result).toBe(`PasswordAuthentication no\n${MANAGED_BEGIN}\nMatch User alice\n\tPasswordAuthentication yes\nMatch all\n${MANAGED_END}\n`);
    expect(readManagedBlockGrants(result)).toEqual([alice]);
    expect(removeManagedBlock(result)).toBe('PasswordAuthentication no\n');
  });

  test('a file without a final newline gets one before the block, and keeps its bytes otherwise', () => {
    const result = insertManagedBlock('Port 22', [alice]);
    expect(result.startsWith('Port 22\n# BEGIN vmaccess')).toBe(true);
  });

  test('a BEGIN marker without END is not treated as ours', () => {
    const text = `${MANAGED_BEGIN}\nMatch User alice\n\tPasswordAuthentication yes\n`;
    expect(readManagedBlockGrants(text)).toBeUndefined();
    expect(removeManagedBlock(text)).toBe(text);
  });
});

describe('drop-in', () => {
  test('render and parse round-trip, users sorted, header first', () => {
    const text = renderPasswordDropIn([bob, alice]);
    expect(text).toBe(`${DROP_IN_HEADER.join('\n')}\nMatch User alice\n\tPasswordAuthentication yes\nMatch User bob\n\tPasswordAuthentication yes\n\tAuthenticationMethods any\n`);
    expect(parsePasswordGrants(text)).toEqual([alice, bob]);
    expect(renderPasswordDropIn([])).toBe('');
  });
});

describe('Include paths', () => {
  test('rewriteIncludes points Flatcar\'s quoted Include at a staged folder and leaves every other byte alone', () => {
    const original = fixtureFile('flatcar-4459.0.0', 'etc/ssh/sshd_config');
    const staged = rewriteIncludes(original, (pattern) => `/var/cache/vmaccess/stage${pattern}`);
    const before = original.split('\n');
    const after = staged.split('\n');
    expect(after).toHaveLength(before.length);
    const changed = before.map((line, index) => (line === after[index] ? -1 : index)).filter((index) => index !== -1);
    expect(changed).toHaveLength(1);
    expect(after[changed[0] ?? 0]).toBe('Include /var/cache/vmaccess/stage/etc/ssh/sshd_config.d/*.conf');
    expect(rewriteIncludes('Include "a b/*.conf" c\n', (pattern) => `/s/${pattern}`)).toBe('Include "/s/a b/*.conf" /s/c\n');
  });

  test('dropIncludesInto removes only Include lines into the folder', () => {
    const text = 'Include /etc/ssh/sshd_config.d/*.conf\nInclude /etc/crypto/x.conf\nPort 22\n';
    expect(dropIncludesInto(text, '/etc/ssh/sshd_config.d', '/etc/ssh')).toBe('Include /etc/crypto/x.conf\nPort 22\n');
    expect(dropIncludesInto('Include sshd_config.d/*.conf\n', '/etc/ssh/sshd_config.d', '/etc/ssh')).toBe('');
  });

  test.each([
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/00-vmaccess.conf', true],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/.hidden.conf', false],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/sub/x.conf', false],
    ['/etc/ssh/sshd_config.d/[0-4]*.conf', '/etc/ssh/sshd_config.d/00-vmaccess.conf', true],
    ['/etc/ssh/sshd_config.d/[!0]*.conf', '/etc/ssh/sshd_config.d/00-vmaccess.conf', false],
    ['/etc/ssh/sshd_config.d/??-*.conf', '/etc/ssh/sshd_config.d/00-vmaccess.conf', true],
    ['/etc/ssh/sshd_config.d/*.config', '/etc/ssh/sshd_config.d/00-vmaccess.conf', false],
  ])('glob %s ~ %s = %s', (pattern, candidate, expected) => {
    expect(globMatches(pattern, candidate)).toBe(expected);
  });
});

describe('cloud-init and vendor drop-ins are plain global settings', () => {
  test.each(fixtureFamilies().flatMap((family) => fixtureDropIns(family).map((name) => [family, name])))('%s %s', (family, name) => {
    const directives = parseSshdDirectives(fixtureFile(family, `etc/ssh/sshd_config.d/${name}`));
    expect(directives.every((directive) => !directive.inMatch)).toBe(true);
  });
});

describe('unifiedDiff', () => {
  test('a new file against /dev/null', () => {
    expect(unifiedDiff(undefined, 'a\nb\n', 'a/x', 'b/x')).toBe('--- /dev/null\n+++ b/x\n@@ -0,0 +1,2 @@\n+a\n+b\n');
  });

  test('a change in the middle with three lines of context', () => {
    const before = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
    const after = before.replace('5\n', 'five\n');
    expect(unifiedDiff(before, after, 'a/f', 'b/f')).toBe('--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n');
  });

  test('no change, no diff', () => {
    expect(unifiedDiff('same\n', 'same\n', 'a', 'b')).toBe('');
  });
});
