import { expect } from 'vitest';
import { scenario } from './harness.js';
import { passwordGrant, resetBrokenConfig } from './ssh-scenarios.js';
import { enableAgain, expectEnable, expectSameText, installAndEnable, keyLoginWithSudo } from './steps.js';

/**
 * Issue 4 proven with real sshd and real logins; sshd must never be left stopped.
 * Bookworm without an init system (SysV script); systemd.test.ts and releases.test.ts
 * run the same scenarios under systemd and on other Debian releases.
 */

scenario('password reset while sshd_config says PasswordAuthentication no', async (context) => {
  await passwordGrant(context, 'sshd_config');
});

scenario('password reset while a cloud-init drop-in says PasswordAuthentication no', async (context) => {
  await passwordGrant(context, 'drop-in');
  expect(await context.sandbox.readText('/etc/ssh/sshd_config.d/50-cloud-init.conf')).toBe('PasswordAuthentication no\n');
  context.proof('cloud-init drop-in left as it was');
});

scenario('reset_ssh from an sshd_config that stops sshd from starting: key login works again', async (context) => {
  await resetBrokenConfig(context);
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
