import { expect } from 'vitest';
import type { GuestAgent, InstalledHandler, SettingsSpec } from '../sandbox/guest-agent.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { scenario } from './harness.js';
import { enableAgain, expectEnable, installAndEnable, keyLoginWithSudo } from './steps.js';
import type { EnableOutcome } from './steps.js';

/**
 * Issue 11, "What reset_ssh means", with real sshd and real logins in the Debian
 * sandbox: for each lockout a drop-in can cause (and a frozen sshd), the admin's key
 * login fails first; reset_ssh through the agent brings it back; the drop-in's bytes are
 * in the backup set; restore_backup_ssh brings them back and moves the backup to the
 * history. Lockouts that do not interfere share one sandbox (each is undone before the next).
 */

const DROP_IN = '/etc/ssh/sshd_config.d/40-lockout.conf';
const BACKUP_COPY = '/var/cache/vmaccess/backup.d/40-lockout.conf';

interface Driver {
  handler: InstalledHandler | undefined;
  seq: number;
}

async function enable(agent: GuestAgent, driver: Driver, settings: SettingsSpec): Promise<EnableOutcome> {
  const seq = driver.seq++;
  const outcome = driver.handler === undefined ? await installAndEnable(agent, seq, settings) : await enableAgain(agent, driver.handler, seq, settings);
  driver.handler = outcome.handler;
  return outcome;
}

function adminOf(sandbox: Sandbox): { name: string; privateKeyPath: string } {
  if (sandbox.admin === undefined) throw new Error('no admin');
  return sandbox.admin;
}

/** (Re)start sshd from the SysV script without waiting for port 22: some lockouts move it. */
async function restartSshdWith(sandbox: Sandbox): Promise<void> {
  await sandbox.stopSshd();
  await sandbox.exec(['/etc/init.d/ssh', 'start'], { timeoutMs: 30_000 });
  for (let tries = 0; tries < 50 && (await sandbox.exec(['pgrep', '-x', 'sshd'])).exitCode !== 0; tries++) await new Promise((resolve) => setTimeout(resolve, 100));
}

async function expectLockedOut(sandbox: Sandbox, what: string): Promise<void> {
  const admin = adminOf(sandbox);
  const login = await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath);
  expect(login.exitCode, `${what}: the admin's key login should fail before reset_ssh`).not.toBe(0);
}

/** reset_ssh, then a real key login, then the timing and the status. */
async function resetAndLogIn(sandbox: Sandbox, agent: GuestAgent, driver: Driver, what: string): Promise<EnableOutcome> {
  const started = Date.now();
  const reset = await enable(agent, driver, { publicSettings: {}, protectedSettings: { reset_ssh: true } });
  const seconds = (Date.now() - started) / 1000;
  expectEnable(reset, 'success');
  expect(seconds, `${what}: reset_ssh took ${seconds} s`).toBeLessThan(60);
  const admin = adminOf(sandbox);
  const login = await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath);
  expect(login.exitCode, `${what}: key login after reset_ssh: ${login.output}`).toBe(0);
  expect(JSON.stringify(reset.status)).toContain('restart');
  return reset;
}

/** One drop-in lockout: locked out, reset, in, bytes in the backup set, restore brings them back. */
async function dropInLockout(sandbox: Sandbox, agent: GuestAgent, driver: Driver, content: string, proof: (text: string) => void): Promise<void> {
  const what = content.trim();
  await sandbox.writeFile(DROP_IN, content, 0o640);
  await restartSshdWith(sandbox);
  await expectLockedOut(sandbox, what);
  const reset = await resetAndLogIn(sandbox, agent, driver, what);
  expect(await sandbox.exists(DROP_IN)).toBe(false);
  expect((await sandbox.readFile(BACKUP_COPY))?.equals(Buffer.from(content)), `${what}: bytes in the backup set`).toBe(true);
  expect((await sandbox.exec(['stat', '-c', '%a', BACKUP_COPY])).stdout.trim()).toBe('640');
  expect(JSON.stringify(reset.status)).toContain(DROP_IN);
  const restore = await enable(agent, driver, { publicSettings: {}, protectedSettings: { restore_backup_ssh: true } });
  expectEnable(restore, 'success');
  expect((await sandbox.readFile(DROP_IN))?.equals(Buffer.from(content)), `${what}: restored bytes`).toBe(true);
  expect((await sandbox.exec(['stat', '-c', '%a', DROP_IN])).stdout.trim()).toBe('640');
  expect(await sandbox.exists('/var/cache/vmaccess/backup.d')).toBe(false);
  expect(await sandbox.exists('/var/cache/vmaccess/backup')).toBe(false);
  const history = await sandbox.sh(`cat /var/cache/vmaccess/backup.history/*/backup.d/40-lockout.conf | tail -c ${Buffer.byteLength(content)}`);
  expect(history.stdout).toBe(content);
  proof(`${what}: locked out, reset_ssh -> key login + sudo, bytes in backup.d, restore -> bytes back, backup in history`);
  // Undo the lockout for the next one (and clear the history so each check sees its own).
  await sandbox.exec(['rm', '-rf', DROP_IN, '/var/cache/vmaccess/backup.history']);
  await restartSshdWith(sandbox);
}

scenario(
  'reset_ssh clears authentication lockouts in drop-ins (AllowUsers, PubkeyAuthentication, AuthorizedKeysFile, DenyGroups); restore brings them back',
  async ({ sandbox, agent, proof }) => {
    const driver: Driver = { handler: undefined, seq: 0 };
    const group = (await sandbox.execOk(['id', '-gn', adminOf(sandbox).name])).stdout.trim();
    for (const content of ['AllowUsers nobody\n', 'PubkeyAuthentication no\n', 'AuthorizedKeysFile /nonexistent/%u\n', `DenyGroups ${group}\n`]) {
      await dropInLockout(sandbox, agent, driver, content, proof);
    }
  },
  { timeoutMs: 900_000 },
);

scenario(
  'reset_ssh clears listening lockouts (Port 2222, ListenAddress 127.0.0.2) and a frozen sshd within bounded time',
  async ({ sandbox, agent, proof }) => {
    const driver: Driver = { handler: undefined, seq: 0 };
    for (const content of ['Port 2222\n', 'ListenAddress 127.0.0.2\n']) await dropInLockout(sandbox, agent, driver, content, proof);

    const frozen = await sandbox.sshdPid();
    if (frozen === undefined) throw new Error('no sshd');
    await sandbox.execOk(['kill', '-STOP', String(frozen)]);
    await expectLockedOut(sandbox, 'frozen sshd');
    const started = Date.now();
    await resetAndLogIn(sandbox, agent, driver, 'frozen sshd');
    const seconds = Math.round((Date.now() - started) / 1000);
    expect(await sandbox.sshdPid()).not.toBe(frozen);
    expect((await sandbox.exec(['kill', '-0', String(frozen)])).exitCode).not.toBe(0);
    proof(`kill -STOP on the master: locked out; reset_ssh killed it and started sshd in ${seconds} s; key login + sudo`);
  },
  { timeoutMs: 900_000 },
);
