import { describe, expect, test } from 'vitest';
import { parseOvfProvisioningKeys, parseOvfUserName } from '../../src/config/ovf-env.js';
import { parseLoginDefs, parseShells, parseUseraddDefaults, uidRange } from '../../src/config/login-defs.js';
import { dateOfDays, daysSinceEpoch, findPasswdEntry, findShadowEntry, isPasswordLocked, isSafeUsername, parsePasswd, usableHash } from '../../src/config/passwd.js';

describe('passwd and shadow', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\n+nisuser::::::\n#comment\nbroken:x:abc:1::/h:/bin/sh\nalice:x:1001:1002:Alice,,,:/home/alice:/bin/bash\n';

  test('entries, skipping NIS, comments and malformed lines', () => {
    expect(parsePasswd(passwd).map((entry) => entry.name)).toEqual(['root', 'alice']);
    expect(findPasswdEntry(passwd, 'alice')).toEqual({ name: 'alice', uid: 1001, gid: 1002, gecos: 'Alice,,,', home: '/home/alice', shell: '/bin/bash' });
    expect(findPasswdEntry(passwd, 'nisuser')).toBeUndefined();
  });

  test('shadow: hash, lock, expiry', () => {
    const shadow = 'alice:!$6$salt$hash:19000:0:99999:7::20000:\nbob:*:19000:0:99999:7:::\n';
    const alice = findShadowEntry(shadow, 'alice')!;
    expect(alice.expireDays).toBe(20000);
    expect(isPasswordLocked(alice.hash)).toBe(true);
    expect(usableHash(alice.hash)).toBe('$6$salt$hash');
    expect(usableHash(findShadowEntry(shadow, 'bob')!.hash)).toBeUndefined();
    expect(findShadowEntry(shadow, 'bob')!.expireDays).toBeUndefined();
  });

  test('dates as shadow counts them', () => {
    expect(daysSinceEpoch('1970-01-02')).toBe(1);
    expect(daysSinceEpoch('2030-12-31')).toBe(22279);
    expect(dateOfDays(22279)).toBe('2030-12-31');
  });

  test.each([
    ['alice', true],
    ['first.last', true],
    ['svc$', true],
    ['A'.repeat(32), true],
    ['-rf', false],
    ['../x', false],
    ['a b', false],
    ['x\nALL ALL=(ALL) NOPASSWD: ALL', false],
    ['a'.repeat(33), false],
    ['..', false],
    ['1000', false],
    ['a:b', false],
    ['a,b', false],
    ['a=b', false],
    ['', false],
  ])('isSafeUsername(%j) is %s', (name, safe) => {
    expect(isSafeUsername(name)).toBe(safe);
  });
});

describe('login.defs and useradd defaults', () => {
  test('UID range with defaults', () => {
    expect(uidRange(undefined)).toEqual({ min: 1000, max: 60000 });
    expect(uidRange('# c\nUID_MIN\t\t\t  500\nUID_MAX 29999\nUID_MIN 501\n')).toEqual({ min: 501, max: 29999 });
    expect(uidRange('UID_MIN abc\n')).toEqual({ min: 1000, max: 60000 });
    expect(parseLoginDefs('ENCRYPT_METHOD "YESCRYPT"\n').get('ENCRYPT_METHOD')).toBe('YESCRYPT');
  });

  test('useradd defaults and shells', () => {
    const defaults = parseUseraddDefaults('# useradd defaults file\nGROUP=100\nHOME=/home\nSHELL=/bin/bash\n# SHELL=/bin/zsh\n');
    expect(defaults.get('SHELL')).toBe('/bin/bash');
    expect(defaults.get('HOME')).toBe('/home');
    expect(parseShells('# /etc/shells\n/bin/sh\n/usr/bin/bash\n\n')).toEqual(['/bin/sh', '/usr/bin/bash']);
  });
});

describe('ovf-env.xml provisioning keys', () => {
  const agentStyle = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure">',
    '<ns1:ProvisioningSection><ns1:LinuxProvisioningConfigurationSet>',
    '<ns1:UserName>azureuser</ns1:UserName>',
    '<!-- <ns1:SSH><ns1:PublicKeys><ns1:PublicKey><ns1:Value>ssh-rsa commented-out</ns1:Value></ns1:PublicKey></ns1:PublicKeys></ns1:SSH> -->',
    '<ns1:SSH><ns1:PublicKeys>',
    '<ns1:PublicKey><ns1:Fingerprint /><ns1:Path>/home/azureuser/.ssh/authorized_keys</ns1:Path><ns1:Value>ssh-ed25519 AAAA a&amp;b &#x41;&#66;</ns1:Value></ns1:PublicKey>',
    '<ns1:PublicKey><ns1:Fingerprint>EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62</ns1:Fingerprint><ns1:Path>/home/azureuser/.ssh/authorized_keys</ns1:Path></ns1:PublicKey>',
    '<ns1:PublicKey><ns1:Value><![CDATA[ssh-rsa BBBB <cdata>]]></ns1:Value></ns1:PublicKey>',
    '</ns1:PublicKeys><ns1:KeyPairs><ns1:KeyPair><ns1:Fingerprint>FFFF</ns1:Fingerprint><ns1:Path>/x</ns1:Path></ns1:KeyPair></ns1:KeyPairs></ns1:SSH>',
    '</ns1:LinuxProvisioningConfigurationSet></ns1:ProvisioningSection></ns0:Environment>',
  ].join('\n');

  test('values, thumbprints and CDATA; key pairs and comments ignored', () => {
    expect(parseOvfProvisioningKeys(agentStyle)).toEqual([
      { fingerprint: undefined, path: '/home/azureuser/.ssh/authorized_keys', value: 'ssh-ed25519 AAAA a&b AB' },
      { fingerprint: 'EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62', path: '/home/azureuser/.ssh/authorized_keys', value: undefined },
      { fingerprint: undefined, path: undefined, value: 'ssh-rsa BBBB <cdata>' },
    ]);
    expect(parseOvfUserName(agentStyle)).toBe('azureuser');
  });

  test('no SSH section: no keys', () => {
    expect(parseOvfProvisioningKeys('<Environment><UserName>x</UserName></Environment>')).toEqual([]);
  });

  test('DTDs and unknown entities are refused', () => {
    expect(() => parseOvfProvisioningKeys('<!DOCTYPE a [<!ENTITY x "y">]><SSH/>')).toThrow(/DTD/);
    expect(() => parseOvfProvisioningKeys('<SSH><PublicKeys><PublicKey><Value>&x;</Value></PublicKey></PublicKeys></SSH>')).toThrow(/entity/);
  });
});
