import { expect } from 'vitest';
import type { SettingsSpec } from '../sandbox/guest-agent.js';
import { scenario } from './harness.js';
import { expectEnable, expectErrorCode, installAndEnable, snapshot, snapshotDiff } from './steps.js';

/**
 * Bad input: an error status with a stable code, a non-zero exit, and nothing changed
 * (no file under /etc or /home, sshd not touched, no command injected).
 */
const cases: { name: string; settings: SettingsSpec; code: string }[] = [
  {
    name: 'conflicting options (reset_ssh with restore_backup_ssh)',
    settings: { publicSettings: {}, protectedSettings: { reset_ssh: true, restore_backup_ssh: true } },
    code: 'SETTINGS_INVALID',
  },
  {
    name: 'conflicting options (check_disk with repair_disk)',
    settings: { publicSettings: { check_disk: true, repair_disk: true, disk_name: 'sdc' } },
    code: 'SETTINGS_INVALID',
  },
  {
    name: 'bad username `x;touch /tmp/pwned`',
    settings: { publicSettings: {}, protectedSettings: { username: 'x;touch /tmp/pwned', password: 'Pwned-pass-123' } },
    code: 'SETTINGS_INVALID',
  },
  {
    name: 'system account `daemon`',
    settings: { publicSettings: {}, protectedSettings: { username: 'daemon', password: 'Daemon-pass-123' } },
    code: 'USER_PROTECTED',
  },
  {
    name: 'garbage ssh_key',
    settings: { publicSettings: {}, protectedSettings: { username: 'gina', ssh_key: 'ssh-ed25519 this-is-not-base64!!! gina@laptop' } },
    code: 'SSH_KEY_INVALID',
  },
  {
    name: 'password in public settings',
    settings: { publicSettings: { username: 'hank', password: 'Public-pass-123' } },
    code: 'SETTINGS_INVALID',
  },
];

for (const { name, settings, code } of cases) {
  scenario(`invalid request: ${name} -> error ${code}, nothing changed`, async ({ sandbox, agent, proof }) => {
    const before = await snapshot(sandbox);
    const sshdPid = await sandbox.sshdPid();
    const listens = await sandbox.sshdListenCount();
    const outcome = await installAndEnable(agent, 0, settings);
    expectEnable(outcome, 'error');
    expectErrorCode(outcome, code);
    proof(`error status ${code}, exit ${outcome.result.exitCode}`);
    expect(snapshotDiff(before, await snapshot(sandbox))).toEqual([]);
    expect(await sandbox.sshdPid()).toBe(sshdPid);
    expect(await sandbox.sshdListenCount()).toBe(listens);
    expect(await sandbox.exists('/tmp/pwned')).toBe(false);
    proof('/etc and /home unchanged, sshd untouched, no /tmp/pwned');
  });
}
