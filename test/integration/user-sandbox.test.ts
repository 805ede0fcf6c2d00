import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { StepOutcome } from '../../src/actions/action.js';
import type { AccountRequest } from '../../src/settings/request.js';
import { createSandbox, emptyRequest, runActionInSandbox, sandboxUnavailableReason } from '../sandbox/index.js';
import type { ActionRun, Sandbox } from '../sandbox/index.js';

/**
 * The user action with the real useradd, chpasswd, usermod, userdel, visudo, sshd -T and
 * perl crypt, inside a throwaway Debian root (test/sandbox). Never against this machine.
 */

const unavailable = await sandboxUnavailableReason();
if (unavailable !== undefined) console.warn(`user action integration tests skipped: ${unavailable}`);

let sandbox: Sandbox;


function account(overrides: Partial<AccountRequest> & { username: string }): AccountRequest {
  return { removePriorKeys: false, passwordless: false, ...overrides };
}

/** Only the user action's steps (the ssh action also runs when a password is set). */
function userSteps(run: ActionRun): Record<string, StepOutcome> {
  const names = new Set(['account', 'password', 'expiration', 'ssh_key', 'sudo', 'remove_user']);
  return Object.fromEntries(run.outcomes.filter((outcome) => names.has(outcome.name)).map((outcome) => [outcome.name, outcome]));
}

async function stat(path: string): Promise<string> {
  return (await sandbox.execOk(['stat', '-c', '%F %a %U:%G', path])).stdout.trim();
}

async function fingerprintOfFile(path: string): Promise<string> {
  return (await sandbox.execOk(['sh', '-c', `stat -c '%i %Y %s' ${path} && sha256sum ${path}`])).stdout;
}

describe.skipIf(unavailable !== undefined)('user action in a sandbox (real shadow tools)', () => {
  beforeAll(async () => {
    sandbox = await createSandbox();
  }, 900_000);

  afterAll(async () => {
    await sandbox?.destroy();
  });

  test('create a user with a key and expiry: passwd, shadow, home, key file, sudoers; key login + sudo work', async () => {
    const key = await sandbox.generateKey('alice', 'ed25519');
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'alice', sshKey: key.publicKey, expiration: '2099-12-31' }) }));
    const steps = userSteps(run);
    expect(steps['account']?.result, JSON.stringify(run.outcomes)).toBe('changed');
    expect(steps['ssh_key']?.result).toBe('changed');
    expect(steps['sudo']?.result).toBe('changed');

    const passwd = (await sandbox.readText('/etc/passwd')) ?? '';
    const line = passwd.split('\n').find((entry) => entry.startsWith('alice:'));
    expect(line).toMatch(/^alice:x:\d{4,}:\d+::\/home\/alice:\/bin\/sh$/);
    const shadow = (await sandbox.readText('/etc/shadow')) ?? '';
    expect(shadow.split('\n').find((entry) => entry.startsWith('alice:'))?.split(':')[7]).toBe(String(Date.UTC(2099, 11, 31) / 86_400_000));
    expect(await stat('/home/alice/.ssh')).toBe('directory 700 alice:alice');
    expect(await stat('/home/alice/.ssh/authorized_keys')).toBe('regular file 600 alice:alice');
    expect(await sandbox.readText('/home/alice/.ssh/authorized_keys')).toBe(`${key.publicKey}\n`);
    expect(await sandbox.readText('/etc/sudoers.d/waagent')).toBe(`${sandbox.admin?.name ?? ''} ALL=(ALL) NOPASSWD: ALL\nalice ALL=(ALL) NOPASSWD: ALL\n`);
    expect(await stat('/etc/sudoers.d/waagent')).toBe('regular file 440 root:root');
    expect((await sandbox.exec(['visudo', '-c', '-q'])).exitCode).toBe(0);
    expect((await sandbox.exec(['ls', '-A', '/etc/sudoers.d'])).stdout.trim().split('\n').sort()).toEqual(['README', 'waagent']);

    const login = await sandbox.ssh('alice', { identityFile: key.privateKeyPath }, 'id -un && sudo -n true && echo sudo-ok');
    expect(`${login.stdout}${login.stderr}`).toContain('alice\nsudo-ok');
  });

  test('the same request again: every step unchanged, no file touched (inode, mtime, bytes)', async () => {
    const key = await sandbox.generateKey('alice2', 'rsa');
    const request = emptyRequest({ account: account({ username: 'alice2', sshKey: key.publicKey, expiration: '2099-12-31' }) });
    await runActionInSandbox(sandbox, request);
    const files = ['/etc/passwd', '/etc/shadow', '/etc/sudoers.d/waagent', '/home/alice2/.ssh/authorized_keys'];
    const before = await Promise.all(files.map(fingerprintOfFile));
    const again = await runActionInSandbox(sandbox, request);
    expect(Object.values(userSteps(again)).map((outcome) => outcome.result)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(await Promise.all(files.map(fingerprintOfFile))).toEqual(before);
  });

  test('password: the distribution hash (yescrypt), never in the log; again is unchanged; a locked password is unlocked', async () => {
    const password = 'Integration-Pw-9x!';
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'pwuser', password }) }));
    expect(userSteps(run)['password']?.result, JSON.stringify(run.outcomes)).toBe('changed');
    expect(run.log).not.toContain(password);
    const hash = () => sandbox.readText('/etc/shadow').then((text) => (text ?? '').split('\n').find((line) => line.startsWith('pwuser:'))?.split(':')[1] ?? '');
    expect(await hash()).toMatch(/^\$y\$/);
    expect((await sandbox.readText('/etc/sudoers.d/waagent')) ?? '').toContain('pwuser ALL=(ALL) ALL\n');

    const again = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'pwuser', password }) }));
    expect(userSteps(again)['password']?.result).toBe('unchanged');

    await sandbox.execOk(['usermod', '--lock', 'pwuser']);
    expect(await hash()).toMatch(/^!\$y\$/);
    const unlocked = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'pwuser', password }) }));
    expect(userSteps(unlocked)['password']?.message).toContain('unlocked');
    expect(await hash()).toMatch(/^\$y\$/);
    // chpasswd's hash verifies with the password (su through PAM would need a tty; crypt is the check).
    const check = await sandbox.exec(['perl', '-e', 'my $p=<STDIN>; my $h=<STDIN>; chomp $p; chomp $h; exit(crypt($p,$h) eq $h ? 0 : 1)'], { input: `${password}\n${await hash()}\n` });
    expect(check.exitCode).toBe(0);
  });

  test('existing admin: a key is appended; a file without a final newline is not glued', async () => {
    const admin = sandbox.admin!;
    const file = `/home/${admin.name}/.ssh/authorized_keys`;
    const original = (await sandbox.readText(file)) ?? '';
    await sandbox.execOk(['sh', '-c', `printf '%s' "$(cat ${file})" > ${file}.new && cat ${file}.new > ${file} && rm ${file}.new`]);
    const added = await sandbox.generateKey('admin-extra', 'ecdsa');
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: admin.name, sshKey: added.publicKey }) }));
    expect(userSteps(run)['ssh_key']?.result, JSON.stringify(run.outcomes)).toBe('changed');
    expect(await sandbox.readText(file)).toBe(`${original.trimEnd()}\n${added.publicKey}\n`);
    expect(await stat(file)).toBe(`regular file 600 ${admin.name}:${admin.name}`);
    for (const identity of [admin.privateKeyPath, added.privateKeyPath]) {
      expect((await sandbox.ssh(admin.name, { identityFile: identity }, 'true')).exitCode).toBe(0);
    }
  });

  test('username only: the provisioning keys from ovf-env.xml are re-deployed to that user', async () => {
    const admin = sandbox.admin!;
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'rescuer' }) }));
    expect(userSteps(run)['ssh_key']?.message, JSON.stringify(run.outcomes)).toContain('ovf-env.xml');
    expect(await sandbox.readText('/home/rescuer/.ssh/authorized_keys')).toBe(`${admin.publicKey}\n`);
    const login = await sandbox.ssh('rescuer', { identityFile: admin.privateKeyPath }, 'id -un && sudo -n true && echo sudo-ok');
    expect(`${login.stdout}${login.stderr}`).toContain('rescuer\nsudo-ok');
  });

  test('AuthorizedKeysFile from the effective sshd configuration (sshd -T)', async () => {
    await sandbox.writeFile('/etc/ssh/sshd_config.d/10-keys.conf', 'Match User keyfile\n  AuthorizedKeysFile .ssh/keys_%u\n');
    try {
      const key = await sandbox.generateKey('keyfile', 'ed25519');
      const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'keyfile', sshKey: key.publicKey }) }));
      expect(userSteps(run)['ssh_key']?.message, JSON.stringify(run.outcomes)).toContain('/home/keyfile/.ssh/keys_keyfile');
      expect(await sandbox.readText('/home/keyfile/.ssh/keys_keyfile')).toBe(`${key.publicKey}\n`);
      expect(await sandbox.exists('/home/keyfile/.ssh/authorized_keys')).toBe(false);
    } finally {
      await sandbox.exec(['rm', '-f', '/etc/ssh/sshd_config.d/10-keys.conf']);
    }
  });

  test('hostile: ~/.ssh is a symlink to /etc: refused, /etc and the password untouched', async () => {
    await sandbox.execOk(['useradd', '-m', 'mallory']);
    await sandbox.execOk(['ln', '-s', '/etc', '/home/mallory/.ssh']);
    await sandbox.execOk(['chown', '-h', 'mallory:mallory', '/home/mallory/.ssh']);
    const shadowBefore = await sandbox.readText('/etc/shadow');
    const key = await sandbox.generateKey('mallory', 'ed25519');
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'mallory', password: 'Whatever-1!', sshKey: key.publicKey }) }));
    expect(userSteps(run)['ssh_key']).toMatchObject({ result: 'failed', code: 'SSH_KEY_PATH_UNSAFE' });
    expect(userSteps(run)['password']).toBeUndefined();
    expect(await sandbox.exists('/etc/authorized_keys')).toBe(false);
    expect(await sandbox.readText('/etc/shadow')).toBe(shadowBefore);
  });

  test('inside the home the write runs as the user: a root-only ~/.ssh (0700) is not written through', async () => {
    await sandbox.execOk(['useradd', '-m', 'trent']);
    await sandbox.execOk(['install', '-d', '-m', '0700', '-o', 'root', '-g', 'root', '/home/trent/.ssh']);
    const key = await sandbox.generateKey('trent', 'ed25519');
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'trent', sshKey: key.publicKey }) }));
    // As root the write would have succeeded; as trent the kernel refuses it.
    expect(userSteps(run)['ssh_key'], JSON.stringify(run.outcomes)).toMatchObject({ result: 'failed', code: 'SSH_KEY_PATH_UNSAFE' });
    expect(userSteps(run)['ssh_key']?.message).toContain('Permission denied');
    expect((await sandbox.exec(['ls', '-A', '/home/trent/.ssh'])).stdout).toBe('');
  });

  test.each([
    ['root', 'USER_PROTECTED'],
    ['daemon', 'USER_PROTECTED'],
    ['nobody', 'USER_PROTECTED'],
    ['nosuchuser', 'USER_NOT_FOUND'],
  ])('remove_user %s is refused with %s', async (name, code) => {
    const passwd = await sandbox.readText('/etc/passwd');
    const run = await runActionInSandbox(sandbox, emptyRequest({ removeUser: name }));
    expect(Object.values(userSteps(run)), JSON.stringify(run.outcomes)).toEqual([expect.objectContaining({ name: 'remove_user', result: 'failed', code })]);
    expect(await sandbox.readText('/etc/passwd')).toBe(passwd);
  });

  test('remove_user: account, home, mail spool and sudoers line gone; the admin untouched', async () => {
    await sandbox.execOk(['useradd', '-m', '-s', '/bin/bash', 'bob']);
    await sandbox.execOk(['sh', '-c', 'touch /var/mail/bob && chown bob:mail /var/mail/bob']);
    const admin = sandbox.admin!;
    await sandbox.writeFile('/etc/sudoers.d/waagent', `${(await sandbox.readText('/etc/sudoers.d/waagent')) ?? ''}bob ALL=(ALL) ALL\n`, 0o440);
    const sudoersBefore = (await sandbox.readText('/etc/sudoers.d/waagent')) ?? '';
    const adminKeys = await sandbox.readText(`/home/${admin.name}/.ssh/authorized_keys`);
    const run = await runActionInSandbox(sandbox, emptyRequest({ removeUser: 'bob' }));
    const steps = userSteps(run);
    expect(steps['remove_user']?.result, JSON.stringify(run.outcomes)).toBe('changed');
    expect(steps['sudo']?.result).toBe('changed');
    expect((await sandbox.readText('/etc/passwd')) ?? '').not.toMatch(/^bob:/m);
    expect((await sandbox.readText('/etc/shadow')) ?? '').not.toMatch(/^bob:/m);
    expect(await sandbox.exists('/home/bob')).toBe(false);
    expect(await sandbox.exists('/var/mail/bob')).toBe(false);
    expect(await sandbox.readText('/etc/sudoers.d/waagent')).toBe(sudoersBefore.replace('bob ALL=(ALL) ALL\n', ''));
    expect(await sandbox.readText(`/home/${admin.name}/.ssh/authorized_keys`)).toBe(adminKeys);
    expect((await sandbox.exec(['visudo', '-c', '-q'])).exitCode).toBe(0);
  });

  test('remove_user of an account without home or mail spool still removes it, with a note', async () => {
    await sandbox.execOk(['useradd', '--no-create-home', 'homeless']);
    const run = await runActionInSandbox(sandbox, emptyRequest({ removeUser: 'homeless' }));
    expect(userSteps(run)['remove_user']?.result, JSON.stringify(run.outcomes)).toBe('changed');
    expect((await sandbox.readText('/etc/passwd')) ?? '').not.toMatch(/^homeless:/m);
  });

  test('plan changes nothing and names what would change', async () => {
    const files = ['/etc/passwd', '/etc/shadow', '/etc/sudoers.d/waagent'];
    const before = await Promise.all(files.map(fingerprintOfFile));
    const run = await runActionInSandbox(sandbox, emptyRequest({ account: account({ username: 'planned', password: 'Plan-Secret-1!' }) }), { mode: 'plan' });
    expect(run.plan.join('\n')).toContain('account: create "planned"');
    expect(run.plan.join('\n')).not.toContain('Plan-Secret-1!');
    expect(await Promise.all(files.map(fingerprintOfFile))).toEqual(before);
  });
});
