import { expect } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.js';
import { scenario } from './harness.js';
import { enableAgain, expectEnable, expectNoSecretLeak, expectSameText, installAndEnable, keyLoginWithSudo } from './steps.js';

/** Issue 4 proven with real sshd and real logins; sshd must never be left stopped. */

async function passwordLoginScenario(sandbox: Sandbox, agent: Parameters<Parameters<typeof scenario>[1]>[0]['agent'], proof: (text: string) => void): Promise<void> {
  // Another local user with a password, who must still be refused a password login.
  const otherPassword = 'Other-user-pw-91';
  await sandbox.execOk(['useradd', '--create-home', 'erin']);
  await sandbox.execOk(['chpasswd'], { input: `erin:${otherPassword}\n` });
  const password = 'Frank-rescue-pw-42';
  expect((await sandbox.ssh('frank', { password }, 'true')).exitCode).not.toBe(0);
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'frank', password } });
  expectEnable(outcome, 'success');
  const login = await sandbox.ssh('frank', { password }, 'id -un');
  expect(login.stdout, login.stderr).toBe('frank\n');
  proof('sshpass password login as frank works');
  expect((await sandbox.ssh('erin', { password: otherPassword }, 'true')).exitCode).not.toBe(0);
  proof('erin (has a password) still refused a password login');
  expect((await sandbox.exec(['sshd', '-t'])).exitCode).toBe(0);
  expect(await sandbox.sshdRunning()).toBe(true);
  const admin = sandbox.admin;
  if (admin !== undefined) expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('sshd -t clean, sshd up, admin key login');
  await expectNoSecretLeak(sandbox, outcome, [password]);
}

scenario('password reset while sshd_config says PasswordAuthentication no', async ({ sandbox, agent, proof }) => {
  await sandbox.execOk(['sh', '-c', 'printf "\\nPasswordAuthentication no\\n" >> /etc/ssh/sshd_config']);
  await sandbox.stopSshd();
  await sandbox.startSshd();
  await passwordLoginScenario(sandbox, agent, proof);
});

scenario('password reset while a cloud-init drop-in says PasswordAuthentication no', async ({ sandbox, agent, proof }) => {
  await sandbox.writeFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication no\n', 0o600);
  await sandbox.stopSshd();
  await sandbox.startSshd();
  await passwordLoginScenario(sandbox, agent, proof);
  expect(await sandbox.readText('/etc/ssh/sshd_config.d/50-cloud-init.conf')).toBe('PasswordAuthentication no\n');
  proof('cloud-init drop-in left as it was');
});

scenario('reset_ssh from an sshd_config that stops sshd from starting: key login works again', async ({ sandbox, agent, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const broken = `${(await sandbox.readText('/etc/ssh/sshd_config')) ?? ''}\nThisIsNotAnOption yes\nPort notanumber\n`;
  await sandbox.writeFile('/etc/ssh/sshd_config', broken, 0o644);
  await sandbox.stopSshd();
  // Debian's SysV script exits 0 even when sshd refuses the file; what counts is that nothing answers.
  await sandbox.exec(['/etc/init.d/ssh', 'start']);
  expect(await sandbox.sshdRunning()).toBe(false);
  expect((await sandbox.exec(['sshd', '-t'])).exitCode).not.toBe(0);
  proof('broken config: sshd does not start');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { reset_ssh: true } });
  expectEnable(outcome, 'success');
  expect(await sandbox.sshdRunning()).toBe(true);
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('after reset_ssh: sshd up, admin key login + sudo');
  expectSameText(await sandbox.readText('/var/cache/vmaccess/backup'), broken, '/var/cache/vmaccess/backup');
  proof('the broken file kept as /var/cache/vmaccess/backup');
});

scenario('restore_backup_ssh after a change: the original file is back', async ({ sandbox, agent, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const original = `${(await sandbox.readText('/etc/ssh/sshd_config')) ?? ''}\n# site setting kept by restore\nMaxAuthTries 5\n`;
  await sandbox.writeFile('/etc/ssh/sshd_config', original, 0o644);
  const reset = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { reset_ssh: true } });
  expectEnable(reset, 'success');
  expect(await sandbox.readText('/etc/ssh/sshd_config')).not.toBe(original);
  const restore = await enableAgain(agent, reset.handler, 1, { publicSettings: {}, protectedSettings: { restore_backup_ssh: true } });
  expectEnable(restore, 'success');
  expectSameText(await sandbox.readText('/etc/ssh/sshd_config'), original, 'restored sshd_config');
  proof('reset_ssh then restore_backup_ssh: sshd_config byte-identical to the original');
  expect(await sandbox.sshdRunning()).toBe(true);
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('sshd up, admin key login');
});

scenario('restore_backup_ssh without a backup: an error that says so, nothing changed', async ({ sandbox, agent, proof }) => {
  const before = await sandbox.readText('/etc/ssh/sshd_config');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { restore_backup_ssh: true } });
  expectEnable(outcome, 'error');
  expect(JSON.stringify(outcome.status)).toContain('SSH_BACKUP_MISSING');
  expectSameText(await sandbox.readText('/etc/ssh/sshd_config'), before, 'sshd_config');
  expect(await sandbox.sshdRunning()).toBe(true);
  proof('SSH_BACKUP_MISSING, sshd_config unchanged, sshd up');
});
