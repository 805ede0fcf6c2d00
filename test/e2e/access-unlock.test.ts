import { expect } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { InstalledHandler } from '../sandbox/guest-agent.js';
import { scenario } from './harness.js';
import { enableAgain, expectEnable, expectNoSecretLeak, installAndEnable, keyLoginWithSudo } from './steps.js';
import type { EnableOutcome } from './steps.js';

/**
 * Issue 15's extensions proven with real logins: unlock lets a locked-out account in with
 * its own credentials, an expiring key is refused by sshd itself after its time, and
 * access_minutes is taken back by `handlers/run expire` (and, booted with systemd, by the
 * real timer at the deadline).
 */

const GRANTS = '/var/cache/vmaccess/access-grants.json';
const AUDIT = '/var/log/vmaccess/audit.log';

/** Debian's common-auth with pam_faillock (faillock(8)): three failures lock until reset. */
const FAILLOCK_COMMON_AUTH = [
  'auth requisite pam_faillock.so preauth deny=3 unlock_time=0',
  'auth [success=1 default=ignore] pam_unix.so nullok',
  'auth [default=die] pam_faillock.so authfail deny=3 unlock_time=0',
  'auth sufficient pam_faillock.so authsucc deny=3 unlock_time=0',
  'auth requisite pam_deny.so',
  'auth required pam_permit.so',
  '',
].join('\n');

function substatus(outcome: EnableOutcome): Record<string, string> {
  return Object.fromEntries((outcome.status.status.substatus ?? []).map((entry) => [entry.name, entry.formattedMessage.message]));
}

function shadowHash(shadow: string | undefined, user: string): string {
  return shadow?.split('\n').find((line) => line.startsWith(`${user}:`))?.split(':')[1] ?? '';
}

async function runExpire(sandbox: Sandbox, handler: InstalledHandler): Promise<{ exitCode: number; output: string }> {
  // As the timer runs it: the shim in the installed handler folder, from that folder.
  const result = await sandbox.sh(`cd ${handler.dir} && ./handlers/run expire`);
  return { exitCode: result.exitCode, output: `${result.stdout}${result.stderr}` };
}

async function setDeadline(sandbox: Sandbox, deadline: Date): Promise<void> {
  const file = JSON.parse((await sandbox.readText(GRANTS)) ?? '{}') as { grants: { deadline: string }[] };
  for (const grant of file.grants) grant.deadline = deadline.toISOString();
  await sandbox.writeFile(GRANTS, `${JSON.stringify(file)}\n`, 0o600);
}

scenario('unlock: a faillocked, expired, locked account with a nologin shell logs in again with its own password', async ({ sandbox, agent, proof }) => {
  const password = 'Unlock-e2e-4k!Pq';
  const first = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'erin', password } });
  expectEnable(first, 'success');
  expect((await sandbox.ssh('erin', { password }, 'id -un')).stdout).toBe('erin\n');
  const hash = shadowHash(await sandbox.readText('/etc/shadow'), 'erin');
  await sandbox.execOk(['mkdir', '-p', '/run/faillock']);
  await sandbox.writeFile('/etc/pam.d/common-auth', FAILLOCK_COMMON_AUTH);
  for (let attempt = 0; attempt < 3; attempt += 1) expect((await sandbox.ssh('erin', { password: 'not-the-password' }, 'true')).exitCode).not.toBe(0);
  const tally = await sandbox.execOk(['faillock', '--user', 'erin']);
  expect(tally.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(5);
  expect((await sandbox.ssh('erin', { password }, 'true')).exitCode).not.toBe(0);
  proof('3 wrong passwords: pam_faillock refuses the right one');
  await sandbox.execOk(['usermod', '--expiredate', '1', '--lock', '--shell', '/usr/sbin/nologin', 'erin']);
  const outcome = await enableAgain(agent, first.handler, 1, { publicSettings: {}, protectedSettings: { username: 'erin', unlock: true } });
  expectEnable(outcome, 'success');
  expect(Object.keys(substatus(outcome))).toEqual(expect.arrayContaining(['unlock_faillock', 'unlock_expiry', 'unlock_password', 'unlock_shell']));
  const login = await sandbox.ssh('erin', { password }, 'id -un');
  expect(login.stdout, login.stderr).toBe('erin\n');
  proof('after unlock: faillock reset, expiry removed, password unlocked, shell /bin/sh; password login works');
  expect(shadowHash(await sandbox.readText('/etc/shadow'), 'erin')).toBe(hash);
  expect((await sandbox.execOk(['chage', '-l', 'erin'])).stdout).toMatch(/Account expires\s*:\s*never/);
  proof('password hash byte-for-byte the one from before the lock');
  const audit = (await sandbox.readText(AUDIT)) ?? '';
  expect(audit).toMatch(/"action":"unlock".*"account":"erin"/);
  await expectNoSecretLeak(sandbox, outcome, [password]);
  const again = await enableAgain(agent, first.handler, 2, { publicSettings: {}, protectedSettings: { username: 'erin', unlock: true } });
  expectEnable(again, 'success');
  expect(Object.keys(substatus(again))).toEqual(['unlock']);
  proof('the same unlock again: unchanged');
}, { timeoutMs: 420_000 });

scenario('ssh_key_expiry: sshd accepts the key until its time and refuses it afterwards (a new key, and one already there)', async ({ sandbox, agent, proof }) => {
  const key = await sandbox.generateKey('kim', 'ed25519');
  const kept = await sandbox.generateKey('kit', 'ed25519');
  // kit's key is there first, without an expiry (and with an option of its own).
  const first = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'kit', ssh_key: kept.publicKey } });
  expectEnable(first, 'success');
  await sandbox.execOk(['sed', '-i', 's/^ssh-ed25519 /no-agent-forwarding ssh-ed25519 /', '/home/kit/.ssh/authorized_keys']);
  const expiry = new Date(Math.ceil((Date.now() + 45_000) / 1000) * 1000);
  const iso = expiry.toISOString().replace('.000Z', 'Z');
  const option = `expiry-time="${iso.replace(/[-:T]/g, '').replace('Z', '')}Z"`;
  const outcome = await enableAgain(agent, first.handler, 1, { publicSettings: {}, protectedSettings: { username: 'kim', ssh_key: key.publicKey, ssh_key_expiry: iso } });
  expectEnable(outcome, 'success');
  expect((await sandbox.readText('/home/kim/.ssh/authorized_keys')) ?? '').toMatch(new RegExp(`^${option} ssh-ed25519 `));
  const again = await enableAgain(agent, first.handler, 2, { publicSettings: {}, protectedSettings: { username: 'kit', ssh_key: kept.publicKey, ssh_key_expiry: iso } });
  expectEnable(again, 'success');
  expect(substatus(again)['ssh_key']).toMatch(/1 key already there now carries the expiry/);
  const kitKeys = ((await sandbox.readText('/home/kit/.ssh/authorized_keys')) ?? '').trim().split('\n');
  expect(kitKeys).toHaveLength(1);
  expect(kitKeys[0]).toMatch(new RegExp(`^${option},no-agent-forwarding ssh-ed25519 `));
  proof(`kim's new key and kit's key already there both carry ${option} (kit's own option kept, no second line)`);
  if (Date.now() < expiry.getTime() - 5_000) {
    expect((await keyLoginWithSudo(sandbox, 'kim', key.privateKeyPath)).exitCode).toBe(0);
    expect((await keyLoginWithSudo(sandbox, 'kit', kept.privateKeyPath)).exitCode).toBe(0);
    proof('before its time: key login + sudo for both');
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry.getTime() + 2_000 - Date.now())));
  expect((await sandbox.ssh('kim', { identityFile: key.privateKeyPath }, 'true')).exitCode).toBe(255);
  expect((await sandbox.ssh('kit', { identityFile: kept.privateKeyPath }, 'true')).exitCode).toBe(255);
  proof(`after ${iso}: sshd refuses both keys (255), nothing ran to revoke them`);
}, { timeoutMs: 300_000 });

scenario('access_minutes: handlers/run expire takes back the account and its sudo line at the deadline, once', async ({ sandbox, agent, proof }) => {
  // No systemd in this sandbox: the schedule is a cron entry (cron itself is not running here).
  await sandbox.execOk(['mkdir', '-p', '/etc/cron.d']);
  const key = await sandbox.generateKey('tom', 'ed25519');
  const password = 'Temp-access-9z!Lm';
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'tom', ssh_key: key.publicKey, password, access_minutes: 5 } });
  expectEnable(outcome, 'success');
  const sshGrant = 'grep -rlE "^[[:space:]]*Match User tom$" /etc/ssh';
  expect((await sandbox.sh(sshGrant)).stdout.trim()).not.toBe('');
  expect(substatus(outcome)['access']).toMatch(/Time-limited: at .* the account is removed and its sudo rights are taken back for "tom"/);
  // A password was given, so sudo asks for it: the key logs in, sudo -S takes the password.
  expect((await sandbox.ssh('tom', { identityFile: key.privateKeyPath }, 'sudo -S -p "" true && echo sudo-ok', { input: `${password}\n` })).stdout).toBe('sudo-ok\n');
  expect((await sandbox.execOk(['stat', '-c', '%a %U', GRANTS])).stdout.trim()).toBe('600 root');
  expect(await sandbox.readText('/etc/cron.d/vmaccess-expire')).toContain(`root cd ${outcome.handler.dir} && ./handlers/run expire`);
  proof('tom logs in + sudo; grants file 0600 root; cron entry runs handlers/run expire');
  const early = await runExpire(sandbox, outcome.handler);
  expect(early.exitCode, early.output).toBe(0);
  expect((await sandbox.exec(['id', 'tom'])).exitCode).toBe(0);
  await setDeadline(sandbox, new Date(Date.now() - 60_000));
  const due = await runExpire(sandbox, outcome.handler);
  expect(due.exitCode, due.output).toBe(0);
  expect((await sandbox.exec(['id', 'tom'])).exitCode).not.toBe(0);
  expect(await sandbox.readText('/etc/sudoers.d/waagent')).not.toMatch(/^tom\s/m);
  expect(await sandbox.exists('/etc/cron.d/vmaccess-expire')).toBe(false);
  expect(await sandbox.exists(GRANTS)).toBe(false);
  expect((await sandbox.ssh('tom', { identityFile: key.privateKeyPath }, 'true')).exitCode).toBe(255);
  expect((await sandbox.execOk(['visudo', '-c', '-q'])).exitCode).toBe(0);
  expect((await sandbox.sh(sshGrant)).stdout.trim()).toBe('');
  expect((await sandbox.execOk(['sshd', '-t'])).exitCode).toBe(0);
  proof('deadline passed: expire removed tom, his sudo line, his sshd password grant, the cron entry and the grants file; login refused');
  const before = `${(await sandbox.readText('/etc/passwd')) ?? ''}${(await sandbox.readText('/etc/sudoers.d/waagent')) ?? ''}`;
  const again = await runExpire(sandbox, outcome.handler);
  expect(again.exitCode, again.output).toBe(0);
  expect(`${(await sandbox.readText('/etc/passwd')) ?? ''}${(await sandbox.readText('/etc/sudoers.d/waagent')) ?? ''}`).toBe(before);
  const audit = ((await sandbox.readText(AUDIT)) ?? '').trim().split('\n');
  expect(audit.some((line) => line.includes('VMAccess removed the account \\"tom\\"'))).toBe(true);
  expect((await sandbox.execOk(['stat', '-c', '%a %U', AUDIT])).stdout.trim()).toBe('600 root');
  await expectNoSecretLeak(sandbox, outcome, [password]);
  expect(audit.join('\n')).not.toContain(password);
  proof(`expire again changes nothing; audit.log (0600) has ${audit.length} records, no password`);
});

scenario('systemd: the access-expiry timer itself revokes access at the deadline and is gone afterwards', async ({ sandbox, agent, proof }) => {
  const key = await sandbox.generateKey('tina', 'ed25519');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'tina', ssh_key: key.publicKey, access_minutes: 5 } });
  expectEnable(outcome, 'success');
  expect((await sandbox.exec(['systemctl', 'is-enabled', 'vmaccess-expire.timer'])).stdout.trim()).toBe('enabled');
  expect((await sandbox.exec(['systemctl', 'is-active', 'vmaccess-expire.timer'])).stdout.trim()).toBe('active');
  expect((await keyLoginWithSudo(sandbox, 'tina', key.privateKeyPath)).exitCode).toBe(0);
  proof('timer enabled and active; tina logs in + sudo');
  // Bring the deadline close; expire (nothing due yet) moves the timer to it.
  const deadline = new Date(Math.ceil((Date.now() + 20_000) / 1000) * 1000);
  await setDeadline(sandbox, deadline);
  const resched = await runExpire(sandbox, outcome.handler);
  expect(resched.exitCode, resched.output).toBe(0);
  expect(await sandbox.readText('/etc/systemd/system/vmaccess-expire.timer')).toContain(`OnCalendar=${deadline.toISOString().slice(0, 19).replace('T', ' ')} UTC`);
  let gone = false;
  for (const until = deadline.getTime() + 60_000; Date.now() < until && !gone; ) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    gone = (await sandbox.exec(['id', 'tina'])).exitCode !== 0;
  }
  expect(gone).toBe(true);
  const journal = await sandbox.exec(['journalctl', '-u', 'vmaccess-expire.service', '--no-pager', '-o', 'cat']);
  proof(`the timer ran handlers/run expire at ${deadline.toISOString()}: tina removed (${journal.stdout.trim().split('\n').slice(-1)[0] ?? ''})`);
  expect(await sandbox.readText('/etc/sudoers.d/waagent')).not.toMatch(/^tina\s/m);
  for (let tries = 0; tries < 10 && (await sandbox.exists('/etc/systemd/system/vmaccess-expire.timer')); tries += 1) await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(await sandbox.exists('/etc/systemd/system/vmaccess-expire.timer')).toBe(false);
  expect((await sandbox.exec(['systemctl', 'is-active', 'vmaccess-expire.timer'])).stdout.trim()).not.toBe('active');
  proof('no grant left: timer and service units removed');
}, { sandbox: { init: 'systemd' }, timeoutMs: 300_000 });

scenario('systemd: a deadline that passes while the VM is off is revoked at the next boot', async ({ sandbox, agent, proof }) => {
  const key = await sandbox.generateKey('rita', 'ed25519');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'rita', ssh_key: key.publicKey, access_minutes: 5 } });
  expectEnable(outcome, 'success');
  expect((await keyLoginWithSudo(sandbox, 'rita', key.privateKeyPath)).exitCode).toBe(0);
  // A deadline 15 s away; the VM powers off before it and stays off until after it.
  const deadline = new Date(Math.ceil((Date.now() + 15_000) / 1000) * 1000);
  await setDeadline(sandbox, deadline);
  const resched = await runExpire(sandbox, outcome.handler);
  expect(resched.exitCode, resched.output).toBe(0);
  expect((await sandbox.exec(['id', 'rita'])).exitCode).toBe(0);
  const before = sandbox.initPid;
  await sandbox.reboot({ downMs: Math.max(0, deadline.getTime() - Date.now()) + 5_000 });
  expect(sandbox.initPid).not.toBe(before);
  expect(Date.now()).toBeGreaterThan(deadline.getTime());
  proof(`powered off before the deadline (${deadline.toISOString()}), booted again after it`);
  let gone = false;
  const booted = Date.now();
  for (const until = booted + 120_000; Date.now() < until && !gone; ) {
    gone = (await sandbox.exec(['id', 'rita'])).exitCode !== 0;
    if (!gone) await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  const journal = await sandbox.exec(['journalctl', '-b', '-u', 'vmaccess-expire.service', '--no-pager', '-o', 'cat']);
  expect(gone, `rita still exists; the expiry unit's journal:\n${journal.stdout.slice(-3000)}`).toBe(true);
  expect(await sandbox.readText('/etc/sudoers.d/waagent')).not.toMatch(/^rita\s/m);
  expect(journal.stdout).not.toBe('');
  proof(`after the boot the timer ran handlers/run expire within ${Math.round((Date.now() - booted) / 1000)} s: rita removed, sudo line gone (${journal.stdout.trim().split('\n').slice(-1)[0] ?? ''})`);
  // sshd came back with the boot; the admin still logs in.
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('the admin key still logs in after the reboot');
}, { sandbox: { init: 'systemd' }, timeoutMs: 300_000 });
