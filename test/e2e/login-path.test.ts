import { expect } from 'vitest';
import type { Sandbox } from '../sandbox/sandbox.js';
import { scenario } from './harness.js';
import { installAndEnable, keyLoginWithSudo, snapshot, snapshotDiff, type EnableOutcome } from './steps.js';

/**
 * The login path proven in the Debian sandbox: a reset that cannot clear a PAM lockout
 * says so instead of claiming success, and diagnose names each lockout (each one first
 * proven real with the ssh client) while changing nothing.
 */

function substatus(outcome: EnableOutcome): { name: string; status: string; message: string }[] {
  return (outcome.status.status.substatus ?? []).map((entry) => ({ name: entry.name, status: entry.status, message: entry.formattedMessage.message }));
}

function expectStatus(outcome: EnableOutcome, expected: 'warning' | 'error'): void {
  const text = [outcome.status.status.formattedMessage.message, ...substatus(outcome).map((entry) => `${entry.name}: ${entry.message}`)].join(' / ');
  expect(outcome.reported.status, text).toBe(expected);
  expect(outcome.result.exitCode === 0, `exit ${outcome.result.exitCode}`).toBe(expected === 'warning');
  expect(outcome.result.touchedAgentFiles).toEqual([]);
}

async function adminLogin(sandbox: Sandbox): Promise<number> {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  return (await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode;
}

async function restartSshd(sandbox: Sandbox): Promise<void> {
  await sandbox.stopSshd();
  await sandbox.startSshd();
}

scenario('reset_ssh while pam_access denies the admin: warning naming the rule, not success', async ({ sandbox, agent, proof }) => {
  await sandbox.execOk(['sed', '-i', 's/^# *account *required *pam_access.so/account required pam_access.so/', '/etc/pam.d/sshd']);
  await sandbox.sh('printf "\\n- : azureadmin : ALL\\n" >> /etc/security/access.conf');
  expect(await adminLogin(sandbox)).not.toBe(0);
  proof('pam_access rule really refuses the admin key login');
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { reset_ssh: true } });
  expectStatus(outcome, 'warning');
  const warning = substatus(outcome).find((entry) => entry.name === 'login_path' && entry.status === 'warning');
  expect(warning?.message).toMatch(/azureadmin: pam_access: warning: denied by \/etc\/security\/access\.conf:\d+ "- : azureadmin : ALL" \(pam_access at \/etc\/pam\.d\/sshd:\d+\)/);
  expect(outcome.status.status.formattedMessage.message).toContain('azureadmin pam_access');
  proof('status warning, substatus names access.conf line and the pam.d line');
});

scenario('reset_ssh while /etc/nologin exists: warning naming it', async ({ sandbox, agent, proof }) => {
  await sandbox.writeFile('/etc/nologin', 'Shutdown in progress\n');
  expect(await adminLogin(sandbox)).not.toBe(0);
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { reset_ssh: true } });
  expectStatus(outcome, 'warning');
  expect(substatus(outcome).some((entry) => entry.status === 'warning' && entry.message.includes('nologin: warning: /etc/nologin exists ("Shutdown in progress")'))).toBe(true);
  proof('login refused by /etc/nologin; reset_ssh ends in warning naming it');
});

scenario('a key for an account that has expired: error LOGIN_PATH_BLOCKED with the date and unlock', async ({ sandbox, agent, proof }) => {
  const key = await sandbox.generateKey('carol');
  await sandbox.execOk(['useradd', '--create-home', '--shell', '/bin/bash', '--expiredate', '2021-03-04', 'carol']);
  const outcome = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'carol', ssh_key: key.publicKey } });
  expectStatus(outcome, 'error');
  expect(outcome.status.status.formattedMessage.message).toContain('LOGIN_PATH_BLOCKED');
  expect(outcome.status.status.formattedMessage.message).toContain('carol: expiry: blocked: the account expired on 2021-03-04 (fix: unlock)');
  expect((await sandbox.ssh('carol', { identityFile: key.privateKeyPath }, 'true')).exitCode).not.toBe(0);
  proof('key written, but the status says the expired account still blocks; ssh login indeed refused');
});

interface Lockout {
  name: string;
  set: (sandbox: Sandbox) => Promise<void>;
  /** Substatus name and a fragment of its message. */
  expected: [string, string];
  /** Default blocked; a port moved on purpose is only a warning. */
  verdict?: 'blocked' | 'warning';
  /** Other checks the same lockout also blocks (a frozen sshd answers on no listener). */
  alsoBlocked?: RegExp;
  /** The lockout restarts sshd itself (sshd answers elsewhere than 127.0.0.1:22, or not at all). */
  ownRestart?: boolean;
}

/** Starts sshd with a configuration that moves it off 127.0.0.1:22; waits for its pid file. */
async function restartSshdElsewhere(sandbox: Sandbox): Promise<void> {
  await sandbox.stopSshd();
  await sandbox.execOk(['/etc/init.d/ssh', 'start']);
  for (let tries = 0; tries < 100 && (await sandbox.sshdPid()) === undefined; tries += 1) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await sandbox.sshdPid()).toBeDefined();
}

/** A drop-in that moves sshd off 127.0.0.1:22, and sshd started with it. */
function movingDropIn(file: string, text: string): (sandbox: Sandbox) => Promise<void> {
  return async (sandbox) => {
    await sandbox.writeFile(file, text, 0o644);
    await restartSshdElsewhere(sandbox);
  };
}

const LOCKOUTS: Lockout[] = [
  {
    name: 'AllowUsers nobody drop-in',
    set: (sandbox) => sandbox.writeFile('/etc/ssh/sshd_config.d/90-lockdown.conf', 'AllowUsers nobody\n', 0o644),
    expected: ['azureadmin/sshd_access', 'blocked: AllowUsers nobody does not list azureadmin (/etc/ssh/sshd_config.d/90-lockdown.conf:1). Fix: send reset_ssh.'],
  },
  {
    name: 'PubkeyAuthentication no',
    set: (sandbox) => sandbox.writeFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', '# from provisioning\nPubkeyAuthentication no\n', 0o600),
    expected: ['azureadmin/pubkey_auth', 'blocked: PubkeyAuthentication no (/etc/ssh/sshd_config.d/50-cloud-init.conf:2). Fix: send reset_ssh.'],
  },
  {
    name: 'a 0777 home directory',
    set: async (sandbox) => {
      await sandbox.execOk(['chmod', '0777', '/home/azureadmin']);
    },
    expected: ['azureadmin/strict_modes', 'blocked: /home/azureadmin has mode 0777 (writable by group or others): StrictModes refuses it.'],
  },
  {
    name: 'an expired account',
    set: async (sandbox) => {
      await sandbox.execOk(['chage', '-E', '2022-02-02', 'azureadmin']);
    },
    expected: ['azureadmin/expiry', 'blocked: the account expired on 2022-02-02. Fix: send unlock.'],
  },
  {
    name: 'AuthorizedKeysFile pointing at a missing directory',
    set: (sandbox) => sandbox.writeFile('/etc/ssh/sshd_config.d/90-keys.conf', 'AuthorizedKeysFile /nonexistent/%u\n', 0o644),
    expected: ['azureadmin/authorized_keys_file', 'blocked: AuthorizedKeysFile /nonexistent/%u (/etc/ssh/sshd_config.d/90-keys.conf:1) does not include /home/azureadmin/.ssh/authorized_keys'],
  },
  {
    name: 'ListenAddress 127.0.0.2',
    set: movingDropIn('/etc/ssh/sshd_config.d/90-listen.conf', 'ListenAddress 127.0.0.2\n'),
    ownRestart: true,
    expected: ['listen_scope', 'blocked: sshd listens only on 127.0.0.2 (loopback) (/etc/ssh/sshd_config.d/90-listen.conf:1): nothing from the network reaches it. Fix: send reset_ssh.'],
  },
  {
    name: 'Port 2222',
    set: movingDropIn('/etc/ssh/sshd_config.d/90-port.conf', 'Port 2222\n'),
    ownRestart: true,
    verdict: 'warning',
    expected: ['listen_port', 'warning: sshd listens on port 2222, not 22 (/etc/ssh/sshd_config.d/90-port.conf:1): clients (ssh -p) and the network security rules must use that port. Fix: send reset_ssh.'],
  },
  {
    name: 'a frozen sshd (SIGSTOP)',
    set: async (sandbox) => {
      await restartSshd(sandbox);
      const pid = await sandbox.sshdPid();
      if (pid === undefined) throw new Error('no sshd');
      await sandbox.execOk(['kill', '-STOP', String(pid)]);
    },
    ownRestart: true,
    alsoBlocked: /^listen /,
    expected: ['listen 0.0.0.0:22', 'blocked: 127.0.0.1:22: nothing answered within 3000 ms. Fix: send reset_ssh.'],
  },
];

for (const lockout of LOCKOUTS) {
  scenario(`diagnose names ${lockout.name} and changes nothing`, async ({ sandbox, agent, proof }) => {
    await lockout.set(sandbox);
    if (lockout.ownRestart !== true) await restartSshd(sandbox);
    expect(await adminLogin(sandbox)).not.toBe(0);
    proof('lockout real: admin key login refused');
    const pid = await sandbox.sshdPid();
    const listens = await sandbox.sshdListenCount();
    const before = await snapshot(sandbox);
    const outcome = await installAndEnable(agent, 0, { publicSettings: { diagnose: true }, protectedSettings: {} });
    expectStatus(outcome, 'warning');
    const [name, fragment] = lockout.expected;
    const verdict = lockout.verdict ?? 'blocked';
    const entry = substatus(outcome).find((candidate) => candidate.name === name);
    expect(entry, JSON.stringify(substatus(outcome))).toMatchObject({ status: verdict === 'blocked' ? 'error' : 'warning' });
    expect(entry?.message).toContain(fragment);
    // Exactly this lockout: nothing else blocks (or warns, for a warning).
    const flagged = substatus(outcome).filter((candidate) => candidate.status === (verdict === 'blocked' ? 'error' : 'warning')).map((candidate) => candidate.name);
    expect(flagged.filter((other) => other !== name && lockout.alsoBlocked?.test(other) !== true), JSON.stringify(substatus(outcome))).toEqual([]);
    if (verdict === 'warning') expect(substatus(outcome).filter((candidate) => candidate.status === 'error')).toEqual([]);
    expect(outcome.status.status.formattedMessage.message).toMatch(verdict === 'blocked' ? /^Diagnose \(azureadmin\): [1-9]\d* blocked/ : /^Diagnose \(azureadmin\): 0 blocked, 1 warnings/);
    proof(`${name} named with its evidence and fix`);
    expect(snapshotDiff(before, await snapshot(sandbox))).toEqual([]);
    expect(await sandbox.sshdPid()).toBe(pid);
    expect(await sandbox.sshdListenCount()).toBe(listens);
    proof('/etc and /home digests unchanged, sshd pid unchanged, no reload');
  });
}

scenario('diagnose on a healthy machine: success, and vmaccess diagnose from a shell agrees', async ({ sandbox, agent, proof }) => {
  const outcome = await installAndEnable(agent, 0, { publicSettings: { diagnose: true }, protectedSettings: {} });
  expect(outcome.reported.status, JSON.stringify(substatus(outcome))).toBe('success');
  expect(substatus(outcome).every((entry) => entry.status === 'success')).toBe(true);
  expect(substatus(outcome).map((entry) => entry.name)).toEqual(expect.arrayContaining(['sshd_running', 'sshd_test', 'host_keys', 'firewall', 'filesystem /', 'clock', 'azureadmin/strict_modes']));
  proof(`${substatus(outcome).length} checks ok`);
  const shell = await sandbox.exec(['sh', '-c', `cd ${outcome.handler.dir} && ./handlers/run diagnose --user azureadmin`]);
  expect(shell.exitCode, shell.stdout + shell.stderr).toBe(0);
  expect(shell.stdout).toContain('azureadmin: pubkey_auth: ok: PubkeyAuthentication yes');
  proof('handlers/run diagnose --user azureadmin: exit 0');
});
