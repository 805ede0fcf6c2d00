import { expect } from 'vitest';
import type { InstalledHandler } from '../sandbox/guest-agent.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { ScenarioContext } from './harness.js';
import { enableAgain, expectEnable, expectNoSecretLeak, expectSameText, installAndEnable, keyLoginWithSudo, type EnableOutcome } from './steps.js';

/**
 * SSH scenarios shared by every row of the matrix (SysV and systemd, each Debian
 * release): the request, then a real login that proves it, then sshd's state as the
 * service manager reports it. Bodies take the scenario context; the test files decide
 * which sandbox they run in.
 */

/** How a booted sandbox runs sshd before the request: Debian's default, socket activation, or a masked unit. */
export type SshdUnitMode = 'service' | 'socket' | 'masked';

/** Sets up the unit mode in a systemd sandbox (no-op for `service`, Debian's default). */
export async function useSshdUnitMode(sandbox: Sandbox, mode: SshdUnitMode): Promise<void> {
  if (sandbox.init !== 'systemd') throw new Error('unit modes need a sandbox booted with systemd');
  if (mode === 'socket') {
    await sandbox.execOk(['systemctl', 'disable', '--quiet', '--now', 'ssh.service']);
    await sandbox.execOk(['systemctl', 'enable', '--quiet', '--now', 'ssh.socket']);
  } else if (mode === 'masked') {
    await sandbox.execOk(['systemctl', 'disable', '--quiet', '--now', 'ssh.service']);
    await sandbox.execOk(['systemctl', 'mask', '--quiet', 'ssh.service']);
  }
}

export interface UnitState {
  loadState: string;
  activeState: string;
  unitFileState: string;
  mainPid: number;
}

/** What systemd says about a unit (`systemctl show`). */
export async function unitState(sandbox: Sandbox, unit: string): Promise<UnitState> {
  const shown = await sandbox.execOk(['systemctl', 'show', '--property=LoadState,ActiveState,UnitFileState,MainPID', unit]);
  const field = (name: string): string => new RegExp(`^${name}=(.*)$`, 'm').exec(shown.stdout)?.[1] ?? '';
  return { loadState: field('LoadState'), activeState: field('ActiveState'), unitFileState: field('UnitFileState'), mainPid: Number(field('MainPID')) };
}

/** One line for the proof column: the sshd units as systemd sees them (or the SysV daemon). */
export async function sshdStateText(sandbox: Sandbox): Promise<string> {
  if (sandbox.init !== 'systemd') return `sshd pid ${String(await sandbox.sshdPid())} (SysV)`;
  const service = await unitState(sandbox, 'ssh.service');
  const socket = await unitState(sandbox, 'ssh.socket');
  return `ssh.service ${service.activeState}/${service.unitFileState}, ssh.socket ${socket.activeState}/${socket.unitFileState}`;
}

/** Restart sshd the way the sandbox runs it, so a config edit made by a test takes effect. */
export async function restartSshd(sandbox: Sandbox): Promise<void> {
  await sandbox.stopSshd();
  await sandbox.startSshd();
}

/** OpenSSH's version string (`OpenSSH_9.2p1 Debian-2+deb12u3`) from the client inside. */
export async function opensshVersion(sandbox: Sandbox): Promise<string> {
  const version = await sandbox.exec(['ssh', '-V']);
  return version.stderr.trim().split(',')[0] ?? '';
}

/**
 * Password grant while sshd_config (or a drop-in) says PasswordAuthentication no: the
 * new user logs in with the password, another user with a password is still refused,
 * sshd -t is clean and the admin still gets in.
 */
export async function passwordGrant({ sandbox, agent, proof }: ScenarioContext, where: 'sshd_config' | 'drop-in' = 'sshd_config'): Promise<EnableOutcome> {
  if (where === 'sshd_config') await sandbox.execOk(['sh', '-c', 'printf "\\nPasswordAuthentication no\\n" >> /etc/ssh/sshd_config']);
  else await sandbox.writeFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication no\n', 0o600);
  await restartSshd(sandbox);
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
  // sshd -t needs the privilege separation dir, which an Accept=yes socket's ssh@.service
  // instances remove again when they end.
  const check = await sandbox.exec(['sh', '-c', 'mkdir -p /run/sshd && sshd -t']);
  expect(check.exitCode, check.stderr).toBe(0);
  // What this release's sshd itself makes of the files for each user (older sshd -C
  // wants user, host and addr all given).
  const effective = async (user: string): Promise<string> =>
    /^passwordauthentication (\S+)$/m.exec((await sandbox.execOk(['sshd', '-T', '-C', `user=${user},host=client,addr=127.0.0.1`])).stdout)?.[1] ?? '';
  expect(await effective('frank')).toBe('yes');
  expect(await effective('erin')).toBe('no');
  proof('sshd -T -C: passwordauthentication yes for frank, no for erin');
  expect(await sandbox.sshdRunning()).toBe(true);
  const admin = sandbox.admin;
  if (admin !== undefined) expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('sshd -t clean, sshd up, admin key login');
  await expectNoSecretLeak(sandbox, outcome, [password]);
  return outcome;
}

/**
 * A new user with an ed25519 key: key login and sudo -n true. A first install, or the
 * next sequence number for a handler a previous step installed.
 */
export async function keyLogin({ sandbox, agent, proof }: ScenarioContext, after?: { handler: InstalledHandler; seq: number }): Promise<void> {
  const key = await sandbox.generateKey('alice', 'ed25519');
  expect((await keyLoginWithSudo(sandbox, 'alice', key.privateKeyPath)).exitCode).not.toBe(0);
  const settings = { publicSettings: {}, protectedSettings: { username: 'alice', ssh_key: key.publicKey } };
  const outcome = after === undefined ? await installAndEnable(agent, 0, settings) : await enableAgain(agent, after.handler, after.seq + 1, settings);
  expectEnable(outcome, 'success');
  const login = await keyLoginWithSudo(sandbox, 'alice', key.privateKeyPath);
  expect(login, login.output).toEqual({ exitCode: 0, output: 'alice\nsudo-ok\n' });
  proof('ed25519 key login as new user alice + sudo -n true');
}

/** The command that starts sshd the way the sandbox runs it, without waiting for it. */
function startCommand(sandbox: Sandbox, mode: SshdUnitMode): string[] {
  if (sandbox.init === 'sysv') return ['/etc/init.d/ssh', 'start'];
  return ['systemctl', 'start', mode === 'socket' ? 'ssh.socket' : 'ssh.service'];
}

/**
 * reset_ssh from an sshd_config that stops sshd from starting: sshd answers again, the
 * admin logs in with the key, the broken file is kept as the backup.
 */
export async function resetBrokenConfig({ sandbox, agent, proof }: ScenarioContext, mode: SshdUnitMode = 'service'): Promise<void> {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const broken = `${(await sandbox.readText('/etc/ssh/sshd_config')) ?? ''}\nThisIsNotAnOption yes\nPort notanumber\n`;
  await sandbox.writeFile('/etc/ssh/sshd_config', broken, 0o644);
  await sandbox.stopSshd();
  // Debian's SysV script exits 0 even when sshd refuses the file, and ssh.socket listens
  // whatever the file says: what counts is that nothing answers with an SSH banner.
  if (mode !== 'masked') await sandbox.exec(startCommand(sandbox, mode));
  expect(await sandbox.sshdRunning()).toBe(false);
  if (sandbox.init === 'systemd' && mode !== 'masked') {
    // The rescue case proper: ssh.service (Restart=on-failure) has failed until systemd's
    // start limit refuses to start it again; under ssh.socket the refused connections
    // got there too. Wait until systemd has given up.
    const deadline = Date.now() + 20_000;
    while ((await unitState(sandbox, 'ssh.service')).activeState !== 'failed' && Date.now() < deadline) await sandbox.exec(['sleep', '0.2']);
    expect((await unitState(sandbox, 'ssh.service')).activeState).toBe('failed');
  }
  expect((await sandbox.exec(['sshd', '-t'])).exitCode).not.toBe(0);
  proof(`broken config: sshd does not answer (${await sshdStateText(sandbox)})`);
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { reset_ssh: true } });
  expectEnable(outcome, 'success');
  expect(await sandbox.sshdRunning()).toBe(true);
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('after reset_ssh: sshd up, admin key login + sudo');
  expectSameText(await sandbox.readText('/var/cache/vmaccess/backup'), broken, '/var/cache/vmaccess/backup');
  proof('the broken file kept as /var/cache/vmaccess/backup');
}
