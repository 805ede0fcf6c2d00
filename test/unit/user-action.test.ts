import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createUserAction } from '../../src/actions/accounts/user.js';
import type { StepOutcome } from '../../src/actions/action.js';
import { renderPlan } from '../../src/actions/plan.js';
import type { AccountRequest, VmaccessRequest } from '../../src/settings/request.js';
import { changedPaths, createFakeMachine, fakeHash, isFakeHashOf, snapshotNodes } from '../fakes/user-fake-tools.js';
import type { FakeMachine } from '../fakes/user-fake-tools.js';
import { corrupt, generateTestKeys } from '../fakes/user-test-keys.js';
import type { TestKeys } from '../fakes/user-test-keys.js';

let keys: TestKeys;
beforeAll(() => {
  keys = generateTestKeys();
}, 60_000);

let machine: FakeMachine;
beforeEach(() => {
  machine = createFakeMachine();
});

const action = createUserAction();

function accountRequest(account: Partial<AccountRequest> & { username: string }): VmaccessRequest {
  return {
    account: { removePriorKeys: false, passwordless: false, ...account },
    resetSsh: false,
    restoreBackupSsh: false,
    warnings: [],
  };
}

function removeRequest(name: string): VmaccessRequest {
  return { removeUser: name, resetSsh: false, restoreBackupSsh: false, warnings: [] };
}

async function apply(request: VmaccessRequest): Promise<StepOutcome[]> {
  return action.apply(await action.plan(request, machine.context), machine.context);
}

/** The plan as `vmaccess plan` prints it. */
async function planLines(request: VmaccessRequest): Promise<string[]> {
  return renderPlan(await action.plan(request, machine.context));
}

function byName(outcomes: StepOutcome[]): Record<string, StepOutcome> {
  return Object.fromEntries(outcomes.map((outcome) => [outcome.name, outcome]));
}

function passwdLine(name: string): string | undefined {
  return (machine.system.text('/etc/passwd') ?? '').split('\n').find((line) => line.startsWith(`${name}:`));
}

function shadowField(name: string, index: number): string | undefined {
  return (machine.system.text('/etc/shadow') ?? '').split('\n').find((line) => line.startsWith(`${name}:`))?.split(':')[index];
}

/** Asserts a refusal: one failed outcome with the code, and not a single file or command that changes anything. */
async function expectRefused(request: VmaccessRequest, code: string): Promise<StepOutcome> {
  const before = snapshotNodes(machine.system);
  const outcomes = await apply(request);
  const failed = outcomes.filter((outcome) => outcome.result === 'failed');
  expect(failed).toHaveLength(1);
  expect(failed[0]?.code).toBe(code);
  expect(outcomes.filter((outcome) => outcome.result === 'changed')).toEqual([]);
  expect(changedPaths(machine.system, before)).toEqual([]);
  const changing = machine.system.calls.filter((call) => ['useradd', 'usermod', 'chpasswd', 'userdel'].includes(call.file));
  expect(changing).toEqual([]);
  return failed[0]!;
}

describe('create an account with a key', () => {
  test('new user: account, key file, sudo line; everything owned and moded right', async () => {
    const outcomes = byName(await apply(accountRequest({ username: 'alice', sshKey: keys.ed25519.text })));
    expect(outcomes['account']?.result).toBe('changed');
    expect(outcomes['ssh_key']?.result).toBe('changed');
    expect(outcomes['sudo']?.result).toBe('changed');
    expect(passwdLine('alice')).toBe('alice:x:1001:1001::/home/alice:/bin/sh');
    const useradd = machine.system.commandsRun('useradd')[0];
    expect(useradd?.args).toEqual(['--create-home', '--', 'alice']);
    expect(machine.system.text('/home/alice/.ssh/authorized_keys')).toBe(`${keys.ed25519.text}\n`);
    const file = await machine.system.lstat('/home/alice/.ssh/authorized_keys');
    expect(file).toMatchObject({ type: 'file', mode: 0o600, uid: 1001, gid: 1001 });
    expect(await machine.system.lstat('/home/alice/.ssh')).toMatchObject({ type: 'directory', mode: 0o700, uid: 1001, gid: 1001 });
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('azureuser ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) NOPASSWD: ALL\n');
    expect((await machine.system.lstat('/etc/sudoers.d/waagent'))?.mode).toBe(0o440);
    // No candidate left beside it.
    expect(await machine.system.listDir('/etc/sudoers.d')).toEqual(['waagent']);
    expect(outcomes['ssh_key']?.message).toContain(keys.ed25519.fingerprint);
    expect(machine.context.ssh.passwordUsers.size).toBe(0);
  });

  test('the same request twice changes no file the second time and reports unchanged', async () => {
    const request = accountRequest({ username: 'alice', sshKey: keys.ed25519.text, expiration: '2030-12-31' });
    await apply(request);
    const before = snapshotNodes(machine.system);
    const commandsBefore = machine.system.calls.length;
    const second = await apply(request);
    expect(second.map((outcome) => outcome.result)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(changedPaths(machine.system, before)).toEqual([]);
    const later = machine.system.calls.slice(commandsBefore).map((call) => call.file);
    expect(later.filter((file) => ['useradd', 'usermod', 'chpasswd', 'visudo'].includes(file))).toEqual([]);
  });

  test('the default shell is useradd\'s own when it exists, else one that exists', async () => {
    machine.system.addFile('/etc/default/useradd', 'SHELL=/usr/bin/zsh\n');
    await apply(accountRequest({ username: 'alice', sshKey: keys.ed25519.text }));
    expect(machine.system.commandsRun('useradd')[0]?.args).toEqual(['--create-home', '--shell', '/bin/bash', '--', 'alice']);
  });

  test('expiration at creation goes to useradd', async () => {
    const outcomes = byName(await apply(accountRequest({ username: 'alice', sshKey: keys.ed25519.text, expiration: '2030-12-31' })));
    expect(machine.system.commandsRun('useradd')[0]?.args).toEqual(['--create-home', '--expiredate', '2030-12-31', '--', 'alice']);
    expect(outcomes['expiration']?.result).toBe('changed');
    expect(shadowField('alice', 7)).toBe(String(Date.UTC(2030, 11, 31) / 86_400_000));
  });
});

describe('password', () => {
  const secret = 'N3w-Passw0rd!:with colon';

  test('set on stdin only, sshd asked to accept it for this user, sudo asks for it', async () => {
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', password: secret })));
    expect(outcomes['password']?.result).toBe('changed');
    // Hashed here with the distribution's method and set with chpasswd -e (no PAM quality checks).
    const chpasswd = machine.system.commandsRun('chpasswd')[0];
    expect(chpasswd?.args).toEqual(['-e']);
    expect(chpasswd?.input).toMatch(/^azureuser:\$6\$[./0-9A-Za-z]{16}\$[0-9a-f]{64}\n$/);
    expect(chpasswd?.input).not.toContain(secret);
    expect(machine.system.commandsRun('perl')[0]?.input).toMatch(new RegExp(`^${secret.replace(/[!]/g, '\\$&')}\n\\$6\\$[./0-9A-Za-z]{16}\n$`));
    expect(isFakeHashOf(secret, shadowField('azureuser', 1) ?? '')).toBe(true);
    expect(machine.context.ssh.passwordUsers).toEqual(new Set(['azureuser']));
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('azureuser ALL=(ALL) ALL\n');
    for (const call of machine.system.calls) expect(call.args.join(' ')).not.toContain('Passw0rd');
    for (const outcome of Object.values(outcomes)) expect(outcome.message).not.toContain('Passw0rd');
    // username + password only: no keys are touched.
    expect(outcomes['ssh_key']).toBeUndefined();
  });

  test('a new account with a password: created, password set, no talk of unlocking', async () => {
    const outcomes = byName(await apply(accountRequest({ username: 'carol', password: secret })));
    expect(outcomes['account']?.result).toBe('changed');
    expect(outcomes['password']?.message).toBe('Password set for "carol".');
    expect(isFakeHashOf(secret, shadowField('carol', 1) ?? '')).toBe(true);
    expect(machine.system.text('/etc/sudoers.d/waagent')).toContain('carol ALL=(ALL) ALL\n');
  });

  test('enable_passwordless_access keeps NOPASSWD with a password', async () => {
    await apply(accountRequest({ username: 'azureuser', password: secret, passwordless: true }));
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('azureuser ALL=(ALL) NOPASSWD: ALL\n');
  });

  test('a locked password is unlocked when a new one is set', async () => {
    machine.chpasswdKeepsLock = true;
    machine.system.addFile('/etc/shadow', (machine.system.text('/etc/shadow') ?? '').replace('azureuser:!:', `azureuser:!${fakeHash('old')}:`));
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', password: secret })));
    expect(machine.system.commandsRun('usermod')[0]?.args).toEqual(['--unlock', '--', 'azureuser']);
    expect(isFakeHashOf(secret, shadowField('azureuser', 1) ?? '')).toBe(true);
    expect(outcomes['password']?.message).toContain('unlocked');
  });

  test('the same password again: verified through crypt on stdin, nothing written', async () => {
    await apply(accountRequest({ username: 'azureuser', password: secret }));
    const before = snapshotNodes(machine.system);
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', password: secret })));
    expect(outcomes['password']?.result).toBe('unchanged');
    expect(machine.system.commandsRun('chpasswd')).toHaveLength(1);
    expect(machine.system.commandsRun('perl').at(-1)?.input).toBe(`${secret}\n${shadowField('azureuser', 1) ?? ''}\n`);
    expect(changedPaths(machine.system, before)).toEqual([]);
    // sshd must still accept the password even though nothing changed here.
    expect(machine.context.ssh.passwordUsers.has('azureuser')).toBe(true);
  });

  test('a password with a line break (would set another account) is refused before anything', async () => {
    const failed = await expectRefused(accountRequest({ username: 'azureuser', password: 'x\nroot:owned' }), 'SETTINGS_INVALID');
    expect(failed.message).not.toContain('owned');
  });

  test('chpasswd failure is reported without the password', async () => {
    machine.system.onCommand('chpasswd', (call) => ({ exitCode: 1, stderr: `chpasswd: (user azureuser) pam_chauthtok() failed, BAD PASSWORD: ${call.input ?? ''}` }));
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', password: secret })));
    expect(outcomes['password']).toMatchObject({ result: 'failed', code: 'USER_COMMAND_FAILED' });
    expect(outcomes['password']?.message).not.toContain('Passw0rd');
    expect(outcomes['sudo']).toBeUndefined();
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('azureuser ALL=(ALL) NOPASSWD: ALL\n');
    expect(await machine.system.listDir('/etc/sudoers.d')).toEqual(['waagent']);
    expect(machine.context.ssh.passwordUsers.size).toBe(0);
  });
});

describe('expiration on an existing account', () => {
  test('applied with usermod, then unchanged', async () => {
    const first = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, expiration: '2031-01-02' })));
    expect(first['expiration']?.result).toBe('changed');
    expect(machine.system.commandsRun('usermod')[0]?.args).toEqual(['--expiredate', '2031-01-02', '--', 'azureuser']);
    const second = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, expiration: '2031-01-02' })));
    expect(second['expiration']?.result).toBe('unchanged');
  });

  test('a date in the past is applied and flagged', async () => {
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, expiration: '2020-01-01' })));
    expect(outcomes['expiration']?.message).toContain('cannot log in');
  });
});

describe('refusals: nothing changed', () => {
  test.each(['-rf', '../x', 'a b', 'x\nALL ALL=(ALL) NOPASSWD: ALL', 'a'.repeat(33), 'a:b', 'a,b', '0', 'x;touch /tmp/pwned'])(
    'hostile user name %j',
    async (name) => {
      await expectRefused(accountRequest({ username: name, sshKey: keys.ed25519.text }), 'SETTINGS_INVALID');
      expect(machine.system.calls).toEqual([]);
    },
  );

  test.each(['-rf', '../x', 'x\nALL ALL=(ALL) NOPASSWD: ALL'])('hostile remove_user %j', async (name) => {
    await expectRefused(removeRequest(name), 'SETTINGS_INVALID');
    expect(machine.system.calls).toEqual([]);
  });

  test('root', async () => {
    await expectRefused(accountRequest({ username: 'root', password: 'x' }), 'USER_PROTECTED');
  });

  test.each(['daemon', 'nobody'])('system account %s (below UID_MIN or above UID_MAX)', async (name) => {
    const failed = await expectRefused(accountRequest({ username: name, sshKey: keys.ed25519.text }), 'USER_PROTECTED');
    expect(failed.message).toContain('system account');
  });

  test('UID_MIN comes from login.defs', async () => {
    machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}old:x:600:600::/home/old:/bin/sh\n`);
    machine.system.addDir('/home/old', 0o700, 600, 600);
    await expectRefused(accountRequest({ username: 'old', sshKey: keys.ed25519.text }), 'USER_PROTECTED');
    machine.system.addFile('/etc/login.defs', '# older RHEL\nUID_MIN   500\n');
    const outcomes = byName(await apply(accountRequest({ username: 'old', sshKey: keys.ed25519.text })));
    expect(outcomes['ssh_key']?.result).toBe('changed');
  });

  test('an account that lives only in LDAP/SSSD', async () => {
    machine.networkUsers.push('ldapuser');
    await expectRefused(accountRequest({ username: 'ldapuser', password: 'x' }), 'USER_NOT_LOCAL');
    await expectRefused(removeRequest('ldapuser'), 'USER_NOT_LOCAL');
  });

  test('garbage key: refused naming the line, before the account is created', async () => {
    const failed = await expectRefused(accountRequest({ username: 'newbie', password: 'x', sshKey: `${keys.ed25519.text}\nnot a key` }), 'SSH_KEY_INVALID');
    expect(failed.name).toBe('ssh_key');
    expect(failed.message).toContain('line 2');
    expect(machine.system.calls).toEqual([]);
  });

  test.each(['ed25519', 'rsa', 'ecdsa256', 'skEd25519', 'certEd25519'] as const)('corrupted %s key', async (name) => {
    await expectRefused(accountRequest({ username: 'azureuser', sshKey: corrupt(keys[name].text) }), 'SSH_KEY_INVALID');
  });

  test('a candidate left by a crashed run is cleaned up; other files in sudoers.d are not', async () => {
    machine.system.addFile('/etc/sudoers.d/.waagent.vmaccess-0123456789ab', 'stale\n', { mode: 0o440 });
    machine.system.addFile('/etc/sudoers.d/90-cloud-init-users', 'x ALL=(ALL) ALL\n', { mode: 0o440 });
    await apply(accountRequest({ username: 'alice', sshKey: keys.ed25519.text }));
    expect(await machine.system.listDir('/etc/sudoers.d')).toEqual(['90-cloud-init-users', 'waagent']);
  });

  test('visudo rejects the candidate: no account created, candidate removed', async () => {
    machine.visudoRejects = true;
    const failed = await expectRefused(accountRequest({ username: 'newbie', sshKey: keys.ed25519.text }), 'SUDOERS_INVALID');
    expect(failed.name).toBe('sudo');
    expect(await machine.system.listDir('/etc/sudoers.d')).toEqual(['waagent']);
  });
});

describe('sudoers include', () => {
  test('an /etc/sudoers without includedir for sudoers.d: the sudo step says so', async () => {
    machine.system.addFile('/etc/sudoers', 'root ALL=(ALL:ALL) ALL\n', { mode: 0o440 });
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['sudo']?.message).toContain('no includedir line for /etc/sudoers.d');
  });

  test.each(['#includedir /etc/sudoers.d', '@includedir /etc/sudoers.d/'])('%s is recognised', async (line) => {
    machine.system.addFile('/etc/sudoers', `root ALL=(ALL:ALL) ALL\n${line}\n`, { mode: 0o440 });
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['sudo']?.message).not.toContain('includedir');
  });
});

describe('where the keys go and path safety', () => {
  test('file without a final newline, duplicates in the request and in the file', async () => {
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.addFile('/home/azureuser/.ssh/authorized_keys', keys.rsa.text, { mode: 0o600, uid: 1000, gid: 1000 });
    const value = [keys.ed25519.text, keys.rsa.text, keys.ed25519.text].join('\n');
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: value })));
    expect(machine.system.text('/home/azureuser/.ssh/authorized_keys')).toBe(`${keys.rsa.text}\n${keys.ed25519.text}\n`);
    expect(outcomes['ssh_key']?.message).toContain('Added 1 key');
  });

  test('remove_prior_keys replaces the old keys, keeping owner and mode of the file', async () => {
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.addFile('/home/azureuser/.ssh/authorized_keys', `${keys.rsa.text}\n${keys.ecdsa256.text}\n`, { mode: 0o644, uid: 1000, gid: 1000 });
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true })));
    expect(machine.system.text('/home/azureuser/.ssh/authorized_keys')).toBe(`${keys.ed25519.text}\n`);
    expect(await machine.system.lstat('/home/azureuser/.ssh/authorized_keys')).toMatchObject({ mode: 0o644, uid: 1000 });
    expect(outcomes['ssh_key']?.message).toContain('2 earlier keys removed');
  });

  test('remove_prior_keys also empties the other files sshd reads (authorized_keys2)', async () => {
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.addFile('/home/azureuser/.ssh/authorized_keys2', `${keys.rsa.text}\n`, { mode: 0o600, uid: 1000, gid: 1000 });
    const lines = await planLines(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true }));
    expect(lines).toContain('note: ssh_key: empty /home/azureuser/.ssh/authorized_keys2 too (sshd also reads it)');
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true })));
    expect(machine.system.text('/home/azureuser/.ssh/authorized_keys')).toBe(`${keys.ed25519.text}\n`);
    expect(machine.system.text('/home/azureuser/.ssh/authorized_keys2')).toBe('');
    expect(outcomes['ssh_key']?.message).toContain('1 earlier key removed from /home/azureuser/.ssh/authorized_keys2');
    const again = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true })));
    expect(again['ssh_key']?.result).toBe('unchanged');
  });

  test('remove_prior_keys with an unsafe authorized_keys2: refused before anything changes', async () => {
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.addSymlink('/home/azureuser/.ssh/authorized_keys2', '/etc/shadow');
    await expectRefused(accountRequest({ username: 'azureuser', password: 'pw', sshKey: keys.ed25519.text, removePriorKeys: true }), 'SSH_KEY_PATH_UNSAFE');
  });

  test('AuthorizedKeysFile from sshd -T with %u, %h and %% expanded; the first entry is used', async () => {
    machine.authorizedKeysFile = '%h/.ssh/keys_%u_100%% .ssh/authorized_keys';
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(machine.system.text('/home/azureuser/.ssh/keys_azureuser_100%')).toBe(`${keys.ed25519.text}\n`);
    const sshd = machine.system.commandsRun('/usr/sbin/sshd')[0];
    expect(sshd?.args.slice(0, 2)).toEqual(['-T', '-C']);
    expect(sshd?.args[2]).toMatch(/^user=azureuser,/);
  });

  test('an absolute AuthorizedKeysFile outside the home: directory root-owned, file the user\'s', async () => {
    machine.authorizedKeysFile = '/etc/ssh/authorized_keys/%u';
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(machine.system.text('/etc/ssh/authorized_keys/azureuser')).toBe(`${keys.ed25519.text}\n`);
    expect(await machine.system.lstat('/etc/ssh/authorized_keys')).toMatchObject({ uid: 0, mode: 0o755 });
    expect(await machine.system.lstat('/etc/ssh/authorized_keys/azureuser')).toMatchObject({ uid: 1000, mode: 0o600 });
  });

  test('sshd -T cannot run: the OpenSSH default, with a note', async () => {
    machine.authorizedKeysFile = undefined;
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(machine.system.text('/home/azureuser/.ssh/authorized_keys')).toBe(`${keys.ed25519.text}\n`);
    expect(outcomes['ssh_key']?.message).toContain('using the OpenSSH default');
  });

  test('the home comes from the passwd database, not /home/<name>', async () => {
    machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}web:x:1500:1500::/srv/web-home:/bin/bash\n`);
    machine.system.addDir('/srv/web-home', 0o700, 1500, 1500);
    await apply(accountRequest({ username: 'web', sshKey: keys.ed25519.text }));
    expect(machine.system.text('/srv/web-home/.ssh/authorized_keys')).toBe(`${keys.ed25519.text}\n`);
  });

  const attacks: [string, (machine: FakeMachine) => void][] = [
    ['authorized_keys is a symlink to /etc/shadow', (m) => {
      m.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
      m.system.addSymlink('/home/azureuser/.ssh/authorized_keys', '/etc/shadow');
    }],
    ['.ssh is a symlink to a root-owned directory', (m) => {
      m.system.addDir('/etc/cron.d', 0o755);
      m.system.addSymlink('/home/azureuser/.ssh', '/etc/cron.d');
    }],
    ['.ssh is owned by another user', (m) => {
      m.system.addDir('/home/azureuser/.ssh', 0o700, 1001, 1001);
    }],
    ['the home is group-writable', (m) => {
      m.system.nodes.get('/home/azureuser')!.mode = 0o775;
    }],
    ['authorized_keys is a directory', (m) => {
      m.system.addDir('/home/azureuser/.ssh/authorized_keys', 0o700, 1000, 1000);
    }],
    ['authorized_keys is root:shadow (a hard link to /etc/shadow?)', (m) => {
      m.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
      m.system.addFile('/home/azureuser/.ssh/authorized_keys', 'root:$6$secret:19000::::::\n', { mode: 0o640, uid: 0, gid: 42 });
    }],
  ];

  test.each(attacks)('%s: SSH_KEY_PATH_UNSAFE, nothing written, password not set either', async (_label, arrange) => {
    arrange(machine);
    const shadowBefore = machine.system.text('/etc/shadow');
    const failed = await expectRefused(accountRequest({ username: 'azureuser', password: 'pw', sshKey: keys.ed25519.text }), 'SSH_KEY_PATH_UNSAFE');
    expect(failed.name).toBe('ssh_key');
    expect(machine.system.text('/etc/shadow')).toBe(shadowBefore);
    expect(machine.system.commandsRun('chpasswd')).toEqual([]);
  });

  test('race: ~/.ssh swapped for a link to /root/.ssh after the checks: the write runs as the user and is refused', async () => {
    machine.system.addDir('/root/.ssh', 0o700);
    machine.system.addFile('/root/.ssh/authorized_keys', 'root-key\n', { mode: 0o600 });
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.onCommand('setpriv', async (call, system) => {
      // The attacker wins the race right before the write.
      await system.remove('/home/azureuser/.ssh', { recursive: true });
      system.addSymlink('/home/azureuser/.ssh', '/root/.ssh');
      expect(call.args.slice(0, 4)).toEqual(['--reuid', '1000', '--regid', '1000']);
      return undefined; // fall through to the modelled setpriv (kernel permission check)
    });
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['ssh_key']).toMatchObject({ result: 'failed', code: 'SSH_KEY_PATH_UNSAFE' });
    expect(machine.system.text('/root/.ssh/authorized_keys')).toBe('root-key\n');
    expect(await machine.system.lstat('/root/.ssh/authorized_keys')).toMatchObject({ uid: 0 });
  });

  test('inside the home the key file is written by setpriv as the user, with the password nowhere near it', async () => {
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    const setpriv = machine.system.commandsRun('setpriv')[0];
    expect(setpriv?.args.slice(0, 6)).toEqual(['--reuid', '1000', '--regid', '1000', '--clear-groups', '--']);
    expect(setpriv?.args.slice(-3)).toEqual(['600', '/home/azureuser/.ssh/authorized_keys', '/home/azureuser/.ssh']);
    expect(setpriv?.input).toBe(`${keys.ed25519.text}\n`);
  });

  test('setpriv missing: fails closed (PREREQUISITE_MISSING), root writes nothing under the home', async () => {
    machine.system.onCommand('setpriv', () => ({ exitCode: 127, started: false }));
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['ssh_key']).toMatchObject({ result: 'failed', code: 'PREREQUISITE_MISSING' });
    expect(outcomes['ssh_key']?.message).toContain('setpriv');
    expect(await machine.system.lstat('/home/azureuser/.ssh')).toBeUndefined();
  });

  test('a shared AuthorizedKeysFile (no %u/%U/%h) is refused naming the file and who else reads it; nothing written', async () => {
    machine.authorizedKeysFile = '/etc/ssh/admin_keys';
    machine.system.addFile('/etc/ssh/admin_keys', `${keys.rsa.text}\n`, { mode: 0o644 });
    const failed = await expectRefused(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true }), 'SSH_KEY_PATH_UNSAFE');
    expect(failed.message).toContain('/etc/ssh/admin_keys');
    expect(failed.message).toMatch(/sshd reads it for root/);
    expect(machine.system.text('/etc/ssh/admin_keys')).toBe(`${keys.rsa.text}\n`);
  });

  test('a fixed AuthorizedKeysFile that sshd reads for this user only (Match User) is written', async () => {
    machine.system.addDir('/etc/ssh/keys', 0o755);
    machine.system.onCommand('/usr/sbin/sshd', (call) => {
      const file = call.args.join(' ').includes('user=azureuser,') ? '/etc/ssh/keys/azureuser-only' : '.ssh/authorized_keys';
      return { stdout: `port 22\nauthorizedkeysfile ${file}\n` };
    });
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['ssh_key']?.result, outcomes['ssh_key']?.message).toBe('changed');
    expect(machine.system.text('/etc/ssh/keys/azureuser-only')).toBe(`${keys.ed25519.text}\n`);
  });

  test('no home yet (plain useradd): root makes only the home and hands it over; .ssh and the file are made as the user', async () => {
    machine.system.nodes.delete('/home/azureuser');
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(await machine.system.lstat('/home/azureuser')).toMatchObject({ type: 'directory', uid: 1000, mode: 0o700 });
    const writes = machine.system.commandsRun('setpriv').filter((call) => call.args.includes('vmaccess-keys'));
    expect(writes.map((call) => call.args.slice(-3))).toEqual([['600', '/home/azureuser/.ssh/authorized_keys', '/home/azureuser/.ssh']]);
    expect(await machine.system.lstat('/home/azureuser/.ssh/authorized_keys')).toMatchObject({ uid: 1000, mode: 0o600 });
  });

  test('no home yet and setpriv missing: fails closed before creating anything', async () => {
    machine.system.nodes.delete('/home/azureuser');
    machine.system.onCommand('setpriv', () => ({ exitCode: 127, started: false }));
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['ssh_key']).toMatchObject({ result: 'failed', code: 'PREREQUISITE_MISSING' });
    expect(await machine.system.lstat('/home/azureuser')).toBeUndefined();
  });

  test('a root-owned home: root makes ~/.ssh, hands it over, and the file is written as the user', async () => {
    machine.system.nodes.get('/home/azureuser')!.uid = 0;
    machine.system.nodes.get('/home/azureuser')!.gid = 0;
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(await machine.system.lstat('/home/azureuser/.ssh')).toMatchObject({ uid: 1000, mode: 0o700 });
    const writes = machine.system.commandsRun('setpriv').filter((call) => call.args.includes('vmaccess-keys'));
    expect(writes.map((call) => call.args.slice(-2))).toEqual([['600', '/home/azureuser/.ssh/authorized_keys']]);
  });

  test('the existing key file under the home is read as the user, never opened by root', async () => {
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.addFile('/home/azureuser/.ssh/authorized_keys', `${keys.rsa.text}\n`, { uid: 1000, gid: 1000, mode: 0o600 });
    const readBytes = machine.system.readBytes.bind(machine.system);
    const readText = machine.system.readText.bind(machine.system);
    const rootReads: string[] = [];
    machine.system.readBytes = (file) => (file.startsWith('/home/') ? (rootReads.push(file), readBytes(file)) : readBytes(file));
    machine.system.readText = (file) => (file.startsWith('/home/') ? (rootReads.push(file), readText(file)) : readText(file));
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(machine.system.text('/home/azureuser/.ssh/authorized_keys')).toBe(`${keys.rsa.text}\n${keys.ed25519.text}\n`);
    expect(machine.system.commandsRun('setpriv').filter((call) => call.args.includes('vmaccess-keys-read')).length).toBeGreaterThan(0);
    expect(rootReads).toEqual([]);
  });

  test('a root-owned key path: a file replaced between the check and the read is refused', async () => {
    machine.authorizedKeysFile = '/etc/ssh/authorized_keys/%u';
    machine.system.addDir('/etc/ssh/authorized_keys', 0o755);
    machine.system.addFile('/etc/ssh/authorized_keys/azureuser', `${keys.rsa.text}\n`, { uid: 1000, gid: 1000, mode: 0o600 });
    const { checkAuthorizedKeysPath } = await import('../../src/actions/accounts/authorized-keys-file.js');
    const { readCurrentKeys } = await import('../../src/actions/accounts/authorized-keys-io.js');
    const user = { name: 'azureuser', uid: 1000, gid: 1000, home: '/home/azureuser', shell: '/bin/bash', gecos: '' };
    const check = await checkAuthorizedKeysPath(machine.system, '/etc/ssh/authorized_keys/azureuser', user);
    expect(await readCurrentKeys(machine.system, check, user)).toBe(`${keys.rsa.text}\n`);
    await machine.system.writeFileAtomic('/etc/ssh/authorized_keys/azureuser', 'root:$6$secret:19000::::::\n');
    await expect(readCurrentKeys(machine.system, check, user)).rejects.toMatchObject({ code: 'SSH_KEY_PATH_UNSAFE' });
  });

  test('a root-owned symlink outside the home (/home -> /var/home) is the system layout and is followed', async () => {
    machine.system.nodes.delete('/home/azureuser');
    machine.system.nodes.delete('/home');
    machine.system.addDir('/var/home', 0o755);
    machine.system.addDir('/var/home/azureuser', 0o700, 1000, 1000);
    machine.system.addSymlink('/home', '/var/home');
    const outcomes = byName(await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text })));
    expect(outcomes['ssh_key']?.result).toBe('changed');
    expect(machine.system.text('/var/home/azureuser/.ssh/authorized_keys')).toBe(`${keys.ed25519.text}\n`);
  });

  test('SELinux present: labels restored on what was created', async () => {
    machine.system.addFile('/sys/fs/selinux/enforce', '1');
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(machine.system.commandsRun('restorecon')[0]?.args).toEqual(['-F', '--', '/home/azureuser/.ssh', '/home/azureuser/.ssh/authorized_keys']);
  });

  test('no SELinux: restorecon is not run', async () => {
    await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text }));
    expect(machine.system.commandsRun('restorecon')).toEqual([]);
  });

  test('every key format lands as an OpenSSH line', async () => {
    const value = [keys.ssh2Rsa.text.trim(), keys.x509Ec.text.trim(), keys.skEd25519.text, keys.certEd25519.text].join('\n');
    await apply(accountRequest({ username: 'azureuser', sshKey: value }));
    const lines = (machine.system.text('/home/azureuser/.ssh/authorized_keys') ?? '').trim().split('\n');
    expect(lines.map((line) => line.split(' ')[0])).toEqual(['ssh-rsa', 'ecdsa-sha2-nistp384', 'sk-ssh-ed25519@openssh.com', 'ssh-ed25519-cert-v01@openssh.com']);
  });
});

describe('provisioning keys (username only)', () => {
  function ovf(publicKeys: string): string {
    return `<?xml version="1.0"?><Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"><wa:ProvisioningSection xmlns:wa="http://schemas.microsoft.com/windowsazure"><LinuxProvisioningConfigurationSet><UserName>azureuser</UserName><SSH><PublicKeys>${publicKeys}</PublicKeys><KeyPairs><KeyPair><Fingerprint>ABC</Fingerprint><Path>/x</Path></KeyPair></KeyPairs></SSH></LinuxProvisioningConfigurationSet></wa:ProvisioningSection></Environment>`;
  }

  test('inline values and certificates by thumbprint are re-deployed to the named user', async () => {
    const thumbprint = 'EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62';
    machine.system.addFile(
      '/var/lib/waagent/ovf-env.xml',
      ovf(
        `<PublicKey><Fingerprint/><Path>/home/azureuser/.ssh/authorized_keys</Path><Value>${keys.ed25519.text.replace(/&/g, '&amp;')}</Value></PublicKey>` +
          `<PublicKey><Fingerprint>${thumbprint.toLowerCase()}</Fingerprint><Path>/home/azureuser/.ssh/authorized_keys</Path></PublicKey>`,
      ),
      { mode: 0o600 },
    );
    machine.system.addFile(`/var/lib/waagent/${thumbprint}.crt`, keys.x509Rsa.text);
    const outcomes = byName(await apply(accountRequest({ username: 'rescuer' })));
    expect(outcomes['ssh_key']?.result).toBe('changed');
    expect(outcomes['ssh_key']?.message).toContain('provisioning keys');
    const lines = (machine.system.text('/home/rescuer/.ssh/authorized_keys') ?? '').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(keys.ed25519.text);
    expect(lines[1]?.startsWith('ssh-rsa ')).toBe(true);
    expect(machine.system.text('/etc/sudoers.d/waagent')).toContain('rescuer ALL=(ALL) NOPASSWD: ALL');
  });

  test('no ovf-env.xml: NO_PROVISIONING_KEYS, nothing changed', async () => {
    await expectRefused(accountRequest({ username: 'rescuer' }), 'NO_PROVISIONING_KEYS');
  });

  test('ovf-env.xml without keys: NO_PROVISIONING_KEYS', async () => {
    machine.system.addFile('/var/lib/waagent/ovf-env.xml', ovf(''));
    await expectRefused(accountRequest({ username: 'rescuer' }), 'NO_PROVISIONING_KEYS');
  });

  test('ovf-env.xml with a DTD (entity tricks) is not read', async () => {
    machine.system.addFile('/var/lib/waagent/ovf-env.xml', `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/shadow">]>${ovf('<PublicKey><Value>&e;</Value></PublicKey>')}`);
    const failed = await expectRefused(accountRequest({ username: 'rescuer' }), 'NO_PROVISIONING_KEYS');
    expect(failed.message).toContain('DTD');
  });
});

describe('remove_user', () => {
  beforeEach(() => {
    machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}bob:x:1001:1001::/home/bob:/bin/bash\n`);
    machine.system.addFile('/etc/shadow', `${machine.system.text('/etc/shadow') ?? ''}bob:!:19000:0:99999:7:::\n`);
    machine.system.addDir('/home/bob', 0o700, 1001, 1001);
    machine.system.addFile('/home/bob/.profile', '', { uid: 1001, gid: 1001 });
    machine.system.addFile('/etc/sudoers.d/waagent', '# agent\nazureuser ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\n', { mode: 0o440 });
  });

  test('account, home and sudo line go; others stay byte for byte', async () => {
    const outcomes = byName(await apply(removeRequest('bob')));
    expect(outcomes['remove_user']?.result).toBe('changed');
    expect(outcomes['sudo']?.result).toBe('changed');
    expect(machine.system.commandsRun('userdel')[0]?.args).toEqual(['--remove', '--', 'bob']);
    expect(passwdLine('bob')).toBeUndefined();
    expect(await machine.system.lstat('/home/bob')).toBeUndefined();
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('# agent\nazureuser ALL=(ALL) NOPASSWD: ALL\n');
    expect(machine.context.ssh.removedUsers).toEqual(new Set(['bob']));
    expect(passwdLine('azureuser')).toBeDefined();
  });

  test('unknown user: USER_NOT_FOUND, nothing changed', async () => {
    await expectRefused(removeRequest('nosuchuser'), 'USER_NOT_FOUND');
  });

  test.each(['root', 'daemon', 'nobody'])('%s: USER_PROTECTED', async (name) => {
    await expectRefused(removeRequest(name), 'USER_PROTECTED');
  });

  test('a home shared with another account is kept', async () => {
    machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}bob2:x:1002:1002::/home/bob:/bin/bash\n`);
    const outcomes = byName(await apply(removeRequest('bob')));
    expect(machine.system.commandsRun('userdel')[0]?.args).toEqual(['--', 'bob']);
    expect(outcomes['remove_user']?.message).toContain('home kept');
    expect(await machine.system.lstat('/home/bob')).toBeDefined();
  });

  test('remove_user fails: the account part of the same request is skipped, not attempted', async () => {
    const request: VmaccessRequest = { ...removeRequest('nosuchuser'), account: { username: 'alice', sshKey: keys.ed25519.text, removePriorKeys: false, passwordless: false } };
    const outcomes = await apply(request);
    expect(outcomes.map((outcome) => [outcome.name, outcome.result])).toEqual([['remove_user', 'failed'], ['account', 'skipped']]);
    expect(machine.system.commandsRun('useradd')).toEqual([]);
  });

  test('processes of the account are ended before userdel (TERM, then KILL for those that ignore it); others untouched', async () => {
    machine.system.addDir('/proc').addProcess(1, 1001, 'init-lookalike').addProcess(700, 1001, 'systemd').addProcess(701, 1001, 'sleep').addProcess(702, 1000, 'bash');
    machine.system.ignoresTerm.add(701);
    const quick = createUserAction({ processes: { sleep: () => Promise.resolve(), graceMs: 400, killWaitMs: 400 } });
    const outcomes = byName(await quick.apply(await quick.plan(removeRequest('bob'), machine.context), machine.context));
    expect(outcomes['remove_user']).toMatchObject({ result: 'changed' });
    expect(outcomes['remove_user']?.message).toContain('ended 2 processes of the account first');
    expect(machine.system.signals).toEqual([
      { pid: 700, signal: 'SIGTERM' },
      { pid: 701, signal: 'SIGTERM' },
      { pid: 701, signal: 'SIGKILL' },
    ]);
    // pid 1 and another account's process are never signalled.
    expect(await machine.system.lstat('/proc/1')).toBeDefined();
    expect(await machine.system.lstat('/proc/702')).toBeDefined();
    expect(passwdLine('bob')).toBeUndefined();
  });

  test('no processes: nothing signalled, and the message says nothing about processes', async () => {
    machine.system.addDir('/proc').addProcess(702, 1000, 'bash');
    const outcomes = byName(await apply(removeRequest('bob')));
    expect(machine.system.signals).toEqual([]);
    expect(outcomes['remove_user']?.message).not.toContain('process');
  });

  test('userdel refuses (logged in): error, sudo line kept', async () => {
    machine.system.onCommand('userdel', () => ({ exitCode: 8, stderr: 'userdel: user bob is currently used by process 4242\n' }));
    const outcomes = byName(await apply(removeRequest('bob')));
    expect(outcomes['remove_user']).toMatchObject({ result: 'failed', code: 'USER_COMMAND_FAILED' });
    expect(machine.system.text('/etc/sudoers.d/waagent')).toContain('bob ALL=(ALL) ALL');
    expect(await machine.system.listDir('/etc/sudoers.d')).toEqual(['waagent']);
    expect(machine.context.ssh.removedUsers.size).toBe(0);
  });

  test('remove_user and username together: removal first, then the account', async () => {
    const request: VmaccessRequest = { ...removeRequest('bob'), account: { username: 'alice', sshKey: keys.ed25519.text, removePriorKeys: false, passwordless: false } };
    const outcomes = await apply(request);
    expect(outcomes.map((outcome) => outcome.name)).toEqual(['remove_user', 'sudo', 'account', 'ssh_key', 'sudo']);
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('# agent\nazureuser ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) NOPASSWD: ALL\n');
  });
});

describe('plan', () => {
  test('lists the concrete changes, changes nothing, never shows the password', async () => {
    const before = snapshotNodes(machine.system);
    const lines = await planLines(accountRequest({ username: 'alice', password: 'Sup3r-Secret', sshKey: keys.ed25519.text, expiration: '2030-12-31' }));
    expect(changedPaths(machine.system, before)).toEqual([]);
    const text = lines.join('\n');
    expect(text).toContain('account: create "alice"');
    expect(text).toContain('password: set the password of "alice" through chpasswd');
    expect(text).toContain(keys.ed25519.fingerprint);
    expect(text).toContain('+ alice ALL=(ALL) ALL');
    expect(text).not.toContain('Sup3r-Secret');
    const changing = machine.system.calls.filter((call) => !['getent', '/usr/sbin/sshd'].includes(call.file));
    expect(changing).toEqual([]);
  });

  test('existing user: where the key goes and how many are new', async () => {
    const lines = await planLines(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true }));
    expect(lines.join('\n')).toContain('ssh_key: replace the keys in /home/azureuser/.ssh/authorized_keys (1 new, 0 already there, 0 removed)');
    expect(lines.join('\n')).toContain('sudo: unchanged: /etc/sudoers.d/waagent already as wanted');
  });

  test('remove_user plan shows the sudoers diff', async () => {
    machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}bob:x:1001:1001::/home/bob:/bin/bash\n`);
    machine.system.addDir('/home/bob', 0o700, 1001, 1001);
    machine.system.addFile('/etc/sudoers.d/waagent', 'azureuser ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\n', { mode: 0o440 });
    const lines = await planLines(removeRequest('bob'));
    expect(lines.join('\n')).toContain('- bob ALL=(ALL) ALL');
    expect(lines[0]).toContain('userdel --remove');
  });

  test('refusals surface in the plan with their code', async () => {
    // A refusal is part of the plan (not a throw), so apply reports exactly what plan showed.
    const plan = await action.plan(accountRequest({ username: 'root', password: 'x' }), machine.context);
    expect(renderPlan(plan)).toContain('account: unchanged: would fail: [USER_PROTECTED] ' + (plan.detail.account?.kind === 'refused' ? plan.detail.account.outcome.message : '?'));
    expect(plan.files).toEqual([]);
    expect(plan.commands).toEqual([]);
    expect(await action.apply(plan, machine.context)).toMatchObject([{ name: 'account', result: 'failed', code: 'USER_PROTECTED' }]);
  });
});
