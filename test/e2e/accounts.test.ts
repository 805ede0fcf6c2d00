import { expect } from 'vitest';
import { scenario } from './harness.js';
import { expectEnable, expectNoSecretLeak, installAndEnable, keyLoginWithSudo, snapshot, snapshotDiff } from './steps.js';

/** Issue 3 proven with real logins: the question is "can I get in now?". */

for (const [type, cipher] of [
  ['ed25519', 'des3'],
  ['rsa', 'aes256'],
] as const) {
  scenario(`create a user with an ${type} key (protected settings ${cipher}): key login + sudo -n true`, async ({ sandbox, agent, proof }) => {
    const key = await sandbox.generateKey(`alice-${type}`, type);
    expect((await keyLoginWithSudo(sandbox, 'alice', key.privateKeyPath)).exitCode).not.toBe(0);
    const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'alice', ssh_key: key.publicKey }, cipher });
    expectEnable(outcome, 'success');
    const login = await keyLoginWithSudo(sandbox, 'alice', key.privateKeyPath);
    expect(login, login.output).toEqual({ exitCode: 0, output: 'alice\nsudo-ok\n' });
    proof(`${type} key login as new user alice + sudo -n true`);
    const sudoers = (await sandbox.readText('/etc/sudoers.d/waagent')) ?? '';
    expect(sudoers).toContain(`${sandbox.admin?.name ?? ''} ALL=(ALL) NOPASSWD: ALL\n`);
    expect(sudoers).toMatch(/^alice\s/m);
    expect((await sandbox.exec(['visudo', '-c', '-q'])).exitCode).toBe(0);
    proof('sudoers keeps the admin line, visudo -c clean');
  });
}

scenario('add a key to the existing admin: the old and the new key both log in', async ({ sandbox, agent, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const added = await sandbox.generateKey('admin-second', 'ed25519');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: admin.name, ssh_key: added.publicKey } });
  expectEnable(outcome, 'success');
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  expect((await keyLoginWithSudo(sandbox, admin.name, added.privateKeyPath)).exitCode).toBe(0);
  proof('provisioned key and added key both log in + sudo');
});

scenario('remove_prior_keys: the old key is refused, the new one works', async ({ sandbox, agent, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const replacement = await sandbox.generateKey('admin-replacement', 'ecdsa');
  const outcome = await installAndEnable(agent, 0, {
    publicSettings: {},
    protectedSettings: { username: admin.name, ssh_key: replacement.publicKey, remove_prior_keys: true },
  });
  expectEnable(outcome, 'success');
  expect((await sandbox.ssh(admin.name, { identityFile: admin.privateKeyPath }, 'true')).exitCode).toBe(255);
  expect((await keyLoginWithSudo(sandbox, admin.name, replacement.privateKeyPath)).exitCode).toBe(0);
  proof('old key refused (255), new ecdsa key logs in + sudo');
});

scenario('new user with password and expiration: chage -l shows it, password login works', async ({ sandbox, agent, proof }) => {
  const password = 'Rescue-e2e-7q!xZ';
  const outcome = await installAndEnable(agent, 0, {
    publicSettings: {},
    protectedSettings: { username: 'carol', password, expiration: '2099-12-31' },
  });
  expectEnable(outcome, 'success');
  const chage = await sandbox.execOk(['chage', '-l', 'carol']);
  expect(chage.stdout).toMatch(/Account expires\s*:\s*Dec 31, 2099/);
  proof('chage -l: Account expires Dec 31, 2099');
  const login = await sandbox.ssh('carol', { password }, 'id -un');
  expect(login.stdout, login.stderr).toBe('carol\n');
  // A password was given, so sudo asks for it (NOPASSWD only without a password).
  const sudo = await sandbox.ssh('carol', { password }, 'sudo -S -p "" true && echo sudo-ok', { input: `${password}\n` });
  expect(sudo.exitCode, sudo.stderr).toBe(0);
  proof('sshpass password login; sudo accepts the password');
  await expectNoSecretLeak(sandbox, outcome, [password]);
  proof('password in no output, status, log, event or settings file');
});

scenario('hardened PAM (pam_pwquality enforce_for_root): the rescue password is still set, password login works', async ({ sandbox, agent, proof }) => {
  // Debian's libpam-pwquality, made strict for root as hardening baselines do.
  await sandbox.sh(
    [
      'set -e',
      'ls /lib/*/security/pam_pwquality.so /usr/lib/*/security/pam_pwquality.so 2>/dev/null | grep -q .',
      "sed -i '/pam_pwquality.so/d' /etc/pam.d/common-password",
      "sed -i '0,/^password/s//password\trequisite\t\t\tpam_pwquality.so retry=1 minlen=40 enforce_for_root\npassword/' /etc/pam.d/common-password",
      'grep -q "pam_pwquality.so retry=1 minlen=40 enforce_for_root" /etc/pam.d/common-password',
      'useradd --create-home --shell /bin/bash dora',
    ].join('\n'),
  );
  const password = 'Rescue-e2e-7q!xZ';
  // Control: the same password through PAM (plain chpasswd, as root) is refused here.
  const viaPam = await sandbox.exec(['chpasswd'], { input: `dora:${password}\n` });
  expect(viaPam.exitCode, 'pam_pwquality must refuse the password for root too').not.toBe(0);
  proof('plain chpasswd as root refused by pam_pwquality enforce_for_root (minlen=40)');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'dora', password } });
  expectEnable(outcome, 'success');
  const hash = (await sandbox.execOk(['getent', 'shadow', 'dora'])).stdout.split(':')[1] ?? '';
  // Debian's PAM stack hashes with yescrypt; the handler used the same method.
  expect(hash).toMatch(/^\$y\$j9T\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
  const login = await sandbox.ssh('dora', { password }, 'id -un');
  expect(login.stdout, login.stderr).toBe('dora\n');
  proof('enable set it (yescrypt, like passwd would), sshpass password login as dora works');
  await expectNoSecretLeak(sandbox, outcome, [password]);
});

scenario('remove_user: account, home and sudoers line gone, admin untouched', async ({ sandbox, agent, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  await sandbox.execOk(['useradd', '--create-home', '--shell', '/bin/bash', 'dave']);
  const sudoersBefore = (await sandbox.readText('/etc/sudoers.d/waagent')) ?? '';
  await sandbox.writeFile('/etc/sudoers.d/waagent', `${sudoersBefore}dave ALL=(ALL) NOPASSWD: ALL\n`, 0o440);
  const adminBefore = await snapshot(sandbox, [`/home/${admin.name}`]);
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { remove_user: 'dave' } });
  expectEnable(outcome, 'success');
  expect((await sandbox.exec(['id', 'dave'])).exitCode).not.toBe(0);
  expect(await sandbox.exists('/home/dave')).toBe(false);
  expect(await sandbox.readText('/etc/sudoers.d/waagent')).toBe(sudoersBefore);
  proof('id dave fails, /home/dave gone, sudoers back to the admin line byte for byte');
  const adminAfter = await snapshot(sandbox, [`/home/${admin.name}`]);
  const adminLines = snapshotDiff(adminBefore, adminAfter).filter((line) => line.includes(admin.name) && !/\/etc\/(passwd|group|shadow|gshadow|subuid|subgid|sudoers\.d)/.test(line));
  expect(adminLines).toEqual([]);
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('admin home unchanged, admin key login + sudo');
});

scenario('remove_user of an account with running processes: they are ended, the account is gone', async ({ sandbox, agent, proof }) => {
  await sandbox.execOk(['useradd', '--create-home', '--shell', '/bin/bash', 'erin']);
  // A job left running as erin: userdel alone refuses ("currently used by process").
  await sandbox.sh('setsid setpriv --reuid=erin --regid=erin --clear-groups sleep 1000 </dev/null >/dev/null 2>&1 &\nsleep 0.3');
  const before = await sandbox.execOk(['pgrep', '-u', 'erin', '-x', 'sleep']);
  expect(before.stdout.trim(), 'the sleep of erin is running').not.toBe('');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { remove_user: 'erin' } });
  expectEnable(outcome, 'success');
  const removal = (outcome.status.status.substatus ?? []).find((entry) => entry.name === 'remove_user');
  expect(removal?.formattedMessage.message).toMatch(/ended 1 process of the account first/);
  expect((await sandbox.exec(['id', 'erin'])).exitCode).not.toBe(0);
  expect(await sandbox.exists('/home/erin')).toBe(false);
  const pid = before.stdout.trim().split('\n')[0] ?? '';
  // Gone, or a zombie waiting for the sandbox's init to reap it: either way no longer running.
  const state = await sandbox.exec(['sh', '-c', 'sed -n "s/^State:[[:space:]]*\\([A-Z]\\).*/\\1/p" "/proc/$1/status" 2>/dev/null', 'state', pid]);
  expect(['', 'Z']).toContain(state.stdout.trim());
  proof('a sleep running as erin was ended, id erin fails, /home/erin gone; the status counts 1 process');
});

scenario('username alone: the keys from provisioning (ovf-env.xml) are deployed again', async ({ sandbox, agent, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  // The lock-out: the admin's authorized_keys lost the deployment key.
  await sandbox.writeFile(`/home/${admin.name}/.ssh/authorized_keys`, '', 0o600);
  await sandbox.execOk(['chown', `${admin.name}:${admin.name}`, `/home/${admin.name}/.ssh/authorized_keys`]);
  expect((await sandbox.ssh(admin.name, { identityFile: admin.privateKeyPath }, 'true')).exitCode).toBe(255);
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: admin.name } });
  expectEnable(outcome, 'success');
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('emptied authorized_keys; after {username} alone the provisioned key logs in + sudo');
});
