import { describe, expect, test } from 'vitest';
import { hashPassword } from '../../src/actions/accounts/account-commands.js';
import { chooseHashMethod, cryptSetting, isHashOf, pamHashChoice } from '../../src/config/password-hash-method.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { FakeSystem } from '../fakes/fake-system.js';
import { fakeCrypt } from '../fakes/user-fake-tools.js';

const DEBIAN_12_PAM = [
  'password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt',
  'password\trequisite\t\t\tpam_deny.so',
].join('\n');
const RHEL_7_PAM = 'password    requisite     pam_pwquality.so try_first_pass local_users_only retry=3\npassword    sufficient    pam_unix.so sha512 shadow nullok try_first_pass use_authtok\n';

describe('the distribution hash method', () => {
  test.each([
    ['Debian 12 / Ubuntu 22.04+: PAM says yescrypt although login.defs says SHA512', [DEBIAN_12_PAM], 'ENCRYPT_METHOD SHA512\n', { method: 'yescrypt' }],
    ['EL7: pam_unix sha512, login.defs rounds', [undefined, RHEL_7_PAM], 'ENCRYPT_METHOD SHA512\nSHA_CRYPT_MIN_ROUNDS 5000\nSHA_CRYPT_MAX_ROUNDS 10000\n', { method: 'sha512', rounds: 10000 }],
    ['pam_unix rounds= wins over login.defs', ['password sufficient pam_unix.so sha512 rounds=65536'], 'SHA_CRYPT_MAX_ROUNDS 10000\n', { method: 'sha512', rounds: 65536 }],
    ['no PAM word, login.defs YESCRYPT', [undefined], 'ENCRYPT_METHOD YESCRYPT\n', { method: 'yescrypt' }],
    ['no PAM word, login.defs SHA256', ['password required pam_unix.so'], 'ENCRYPT_METHOD SHA256\n', { method: 'sha256' }],
    ['MD5 or DES is never chosen', [undefined], 'ENCRYPT_METHOD MD5\n', { method: 'sha512' }],
    ['nothing at all', [], undefined, { method: 'sha512' }],
    ['an absurd cost is bounded', ['password sufficient pam_unix.so sha512 rounds=999999999'], undefined, { method: 'sha512', rounds: 1_000_000 }],
  ] as const)('%s', (_name, pam, loginDefs, expected) => {
    expect(chooseHashMethod(pam, loginDefs)).toEqual(expected);
  });

  test('a commented-out pam_unix line does not count', () => {
    expect(pamHashChoice('# password sufficient pam_unix.so md5 yescrypt\n')).toBeUndefined();
  });

  test('crypt settings and the check of what crypt returned', () => {
    const salt = 'abcdefghijklmnop';
    expect(cryptSetting({ method: 'yescrypt' }, salt)).toBe('$y$j9T$abcdefghijklmnop');
    expect(cryptSetting({ method: 'sha512', rounds: 10000 }, salt)).toBe('$6$rounds=10000$abcdefghijklmnop');
    expect(cryptSetting({ method: 'sha256' }, salt)).toBe('$5$abcdefghijklmnop');
    expect(isHashOf('$y$j9T$abcdefghijklmnop', '$y$j9T$abcdefghijklmnop$wRwvHNqzMkHLG74uLLCRVTwaZ.a1aIothEUeYGf9oED')).toBe(true);
    // crypt's failure tokens and a hash of another setting are not accepted.
    expect(isHashOf('$y$j9T$abcdefghijklmnop', '*0')).toBe(false);
    expect(isHashOf('$y$j9T$abcdefghijklmnop', '$6$abcdefghijklmnop$V6wH5boONuP3Bs3s/4SuSTCYKFLaRNdVkpJe61QqOWUX4KymhcHHkhjxr6')).toBe(false);
  });
});

describe('hashPassword on a machine', () => {
  const paths = { ...defaultSystemPaths() };
  const secret = 'Rescue-unit-9z!';

  test('a libc without yescrypt (crypt answers *0): SHA-512 instead, password never on argv', async () => {
    const system = new FakeSystem().addDir('/etc/pam.d').addFile('/etc/pam.d/common-password', DEBIAN_12_PAM);
    system.onCommand('perl', (call) => {
      const [password = '', setting = ''] = (call.input ?? '').split('\n');
      return { exitCode: 0, stdout: setting.startsWith('$y$') ? '*0' : fakeCrypt(password, setting) };
    });
    const hash = await hashPassword(system, paths, secret);
    expect(hash).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[0-9a-f]{64}$/);
    expect(system.commandsRun('perl').map((call) => (call.input ?? '').split('\n')[1]?.slice(0, 3))).toEqual(['$y$', '$6$']);
    for (const call of system.calls) expect(call.args.join(' ')).not.toContain(secret);
  });

  test('no perl: openssl passwd -6 -stdin; neither: undefined (plain chpasswd is the fallback)', async () => {
    const system = new FakeSystem();
    system.onCommand('perl', () => ({ started: false, exitCode: -1 }));
    system.onCommand('openssl', (call) => {
      const salt = call.args[call.args.indexOf('-salt') + 1] ?? '';
      return { exitCode: 0, stdout: `${fakeCrypt((call.input ?? '').trim(), `$6$${salt}`)}\n` };
    });
    expect(await hashPassword(system, paths, secret)).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$/);
    expect(system.commandsRun('openssl')[0]?.input).toBe(`${secret}\n`);
    system.onCommand('openssl', () => ({ exitCode: 1, stderr: "passwd: Unrecognized flag 6\n" }));
    expect(await hashPassword(system, paths, secret)).toBeUndefined();
  });
});
