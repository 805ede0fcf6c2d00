import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageOwnership } from '../../src/actions/ssh/package-owner.js';
import { createSshAction } from '../../src/actions/ssh/ssh.js';
import { FakeSystem } from '../fakes/fake-system.js';
import { createWorld, driveFromRequest, fastVerify, fixtureDropIns, fixtureFile, REPO, request, SSHD } from '../fakes/ssh-world.js';
import type { World } from '../fakes/ssh-world.js';

/**
 * Issue 11, "What reset_ssh means": after a reset sshd runs the distribution's default
 * plus the extension's grants. Drop-ins that are not unmodified package files move into
 * the backup set (name, mode, bytes); restore brings them back and consumes the backup;
 * sshd is restarted exactly once, with every wait bounded.
 */

const planned = createSshAction({ verify: fastVerify, resourcesDir: path.join(REPO, 'resources'), restartTiming: { stopMs: 1_000, killMs: 400, pollMs: 100 } });
const action = driveFromRequest(planned);
const DIR = '/etc/ssh/sshd_config.d';
const BACKUP_D = '/var/cache/vmaccess/backup.d';

function message(outcomes: Awaited<ReturnType<typeof action.apply>>, name: string): string {
  return outcomes.find((outcome) => outcome.name === name)?.message ?? '';
}

function failed(outcomes: Awaited<ReturnType<typeof action.apply>>): unknown[] {
  return outcomes.filter((outcome) => outcome.result === 'failed');
}

function commands(world: World): string[] {
  return world.system.calls.filter((call) => ['kill', 'systemctl', 'service', SSHD].includes(call.file) && !call.args.includes('-t') && !call.args.includes('-T') && call.args[0] !== 'show').map((call) => [call.file, ...call.args].join(' '));
}

describe('reset_ssh: which drop-ins stay', () => {
  test('Ubuntu 24.04: cloud-init\'s drop-ins are provisioning output, not package files: both move into the backup set with name, mode and bytes', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    world.system.addFile(`${DIR}/50-cloud-init.conf`, 'PasswordAuthentication no\n', { mode: 0o640 });
    const plan = await action.plan(request({ resetSsh: true }), world.context);
    expect(plan.some((line) => line.includes(`${DIR}/50-cloud-init.conf (not a package file)`))).toBe(true);
    expect(plan).toContain(`file: create ${BACKUP_D}/60-cloudimg-settings.conf (${DIR}/60-cloudimg-settings.conf, kept for restore_backup_ssh (name, mode and bytes))`);
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    for (const name of fixtureDropIns('ubuntu-24.04')) expect(world.system.text(`${DIR}/${name}`)).toBeUndefined();
    expect(world.system.text(`${BACKUP_D}/50-cloud-init.conf`)).toBe('PasswordAuthentication no\n');
    expect(world.system.nodes.get(`${BACKUP_D}/50-cloud-init.conf`)?.mode).toBe(0o640);
    expect(world.system.text(`${BACKUP_D}/60-cloudimg-settings.conf`)).toBe(fixtureFile('ubuntu-24.04', 'etc/ssh/sshd_config.d/60-cloudimg-settings.conf'));
    expect(message(outcomes, 'sshd_config')).toContain(`${DIR}/50-cloud-init.conf (not a package file) -> ${BACKUP_D}/50-cloud-init.conf`);
  });

  test('RHEL 9: the unmodified 50-redhat.conf stays; a modified copy of it goes, as does a hardening drop-in', async () => {
    const world = createWorld({ family: 'rhel-9', files: { [`${DIR}/10-hardening.conf`]: 'AllowUsers nobody\n' } });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(world.system.text(`${DIR}/50-redhat.conf`)).toBe(fixtureFile('rhel-9', 'etc/ssh/sshd_config.d/50-redhat.conf'));
    expect(world.system.text(`${DIR}/10-hardening.conf`)).toBeUndefined();
    expect(world.system.text(`${BACKUP_D}/10-hardening.conf`)).toBe('AllowUsers nobody\n');
    expect(world.system.calls.some((call) => call.file === 'rpm' && call.args.join(' ') === `-qf ${DIR}/50-redhat.conf`)).toBe(true);

    const modified = createWorld({ family: 'rhel-9', packages: { [`${DIR}/50-redhat.conf`]: { pkg: 'openssh-server-8.7p1-38.el9.x86_64', modified: true } } });
    const again = await action.apply(request({ resetSsh: true }), modified.context);
    expect(failed(again)).toEqual([]);
    expect(modified.system.text(`${DIR}/50-redhat.conf`)).toBeUndefined();
    expect(message(again, 'sshd_config')).toContain('50-redhat.conf (changed since openssh-server-8.7p1-38.el9.x86_64 installed it)');
  });

  test('Debian: a drop-in dpkg owns and verifies stays; the same file modified goes; an unowned one goes', async () => {
    const files = { [`${DIR}/20-pkg.conf`]: 'X11Forwarding no\n', [`${DIR}/30-pkg-edited.conf`]: 'Port 2222\n', [`${DIR}/40-local.conf`]: 'PubkeyAuthentication no\n' };
    const packages = { [`${DIR}/20-pkg.conf`]: { pkg: 'openssh-server' }, [`${DIR}/30-pkg-edited.conf`]: { pkg: 'site-ssh:amd64', modified: true } };
    const world = createWorld({ family: 'debian-12', files, packages });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(world.system.text(`${DIR}/20-pkg.conf`)).toBe('X11Forwarding no\n');
    expect(world.system.text(`${BACKUP_D}/30-pkg-edited.conf`)).toBe('Port 2222\n');
    expect(world.system.text(`${BACKUP_D}/40-local.conf`)).toBe('PubkeyAuthentication no\n');
    expect(message(outcomes, 'sshd_config')).toContain('30-pkg-edited.conf (changed since site-ssh:amd64 installed it)');
  });

  test.each([
    ['absent', 'dpkg -S is not installed'],
    ['timeout', 'dpkg -S timed out'],
  ] as const)('package manager %s: the drop-in cannot be vouched for, so it goes (%s)', async (packageManager, reason) => {
    const world = createWorld({ family: 'debian-12', files: { [`${DIR}/20-pkg.conf`]: 'X11Forwarding no\n' }, packages: { [`${DIR}/20-pkg.conf`]: { pkg: 'openssh-server' } }, packageManager });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(world.system.text(`${DIR}/20-pkg.conf`)).toBeUndefined();
    expect(message(outcomes, 'sshd_config')).toContain(`20-pkg.conf (package ownership unknown: ${reason})`);
    expect(world.system.calls.filter((call) => call.file === 'dpkg').every((call) => call.timeoutMs !== undefined && call.timeoutMs <= 15_000)).toBe(true);
  });

  test('Flatcar: drop-ins equal to the image copy under /usr/share/flatcar stay; a changed one goes', async () => {
    const vendor = Object.fromEntries(fixtureDropIns('flatcar-4459.0.0').map((name) => [`/usr/share/flatcar/etc/ssh/sshd_config.d/${name}`, fixtureFile('flatcar-4459.0.0', `etc/ssh/sshd_config.d/${name}`)]));
    const world = createWorld({ family: 'flatcar-4459.0.0', files: { ...vendor, [`${DIR}/9999999gentoo.conf`]: 'PubkeyAuthentication no\n' } });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(world.system.text(`${DIR}/50-flatcar-sshd.conf`)).toBeDefined();
    expect(world.system.text(`${DIR}/9999999gentoo-pam.conf`)).toBeDefined();
    expect(world.system.text(`${DIR}/9999999gentoo.conf`)).toBeUndefined();
    expect(world.system.text(`${BACKUP_D}/9999999gentoo.conf`)).toBe('PubkeyAuthentication no\n');
  });

  test('an earlier backup copy of the same name with other bytes is not overwritten: it moves to the quarantine folder', async () => {
    const world = createWorld({ family: 'debian-12', files: { [`${DIR}/40-local.conf`]: 'MaxAuthTries 3\n' } });
    world.context.ssh.passwordUsers.add('alice');
    expect(failed(await action.apply(request({ account: { username: 'alice', password: 'unused', removePriorKeys: false, passwordless: false } }), world.context))).toEqual([]);
    world.context.ssh.passwordUsers.clear();
    expect(world.system.text(`${BACKUP_D}/40-local.conf`)).toBe('MaxAuthTries 3\n');
    world.system.addFile(`${DIR}/40-local.conf`, 'AllowUsers nobody\n');
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(world.system.text(`${BACKUP_D}/40-local.conf`)).toBe('AllowUsers nobody\n');
    const displaced = [...world.system.nodes.keys()].find((key) => key.startsWith('/var/cache/vmaccess/quarantine/') && key.endsWith('/40-local.conf'));
    expect(displaced && world.system.text(displaced)).toBe('MaxAuthTries 3\n');
    // The extension's own drop-in (alice's grant) survives the reset.
    expect(world.system.text(`${DIR}/00-vmaccess.conf`)).toContain('Match User alice');
  });
});

describe('reset_ssh: exactly one bounded restart', () => {
  test('systemd: systemctl restart, once', async () => {
    const world = createWorld({ family: 'debian-12', files: { [`${DIR}/40-local.conf`]: 'Port 2222\n' } });
    await action.apply(request({ resetSsh: true }), world.context);
    expect(commands(world)).toEqual(['systemctl restart ssh.service']);
  });

  test('systemd: a restart that times out (unit stuck deactivating) is followed by SIGKILL and a start', async () => {
    const world = createWorld({ family: 'debian-12' });
    world.system.onCommand((call) => call.file === 'systemctl' && call.args[0] === 'restart', () => ({ exitCode: 1, timedOut: true }));
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(commands(world)).toEqual(['systemctl restart ssh.service', 'systemctl kill --signal=SIGKILL ssh.service', 'systemctl start ssh.service']);
    expect(world.system.calls.filter((call) => call.file === 'systemctl').every((call) => (call.timeoutMs ?? Infinity) <= 20_000)).toBe(true);
    expect(message(outcomes, 'sshd')).toContain('timed out; killed and started it');
  });

  test('SysV: TERM and CONT to the master from its pid file, then service ssh start', async () => {
    const world = createWorld({ family: 'debian-12', init: 'sysv' });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(commands(world)).toEqual(['kill -TERM 4242', 'kill -CONT 4242', 'service ssh start']);
  });

  test('no init, a frozen master that ignores TERM: SIGKILL after the stop deadline, then sshd is started', async () => {
    const world = createWorld({ family: 'debian-12', init: 'none', ignoresTerm: true });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(commands(world)).toEqual(['kill -TERM 4242', 'kill -CONT 4242', 'kill -KILL 4242', SSHD]);
    expect(message(outcomes, 'sshd')).toMatch(/killed pid 4242 after 1 s/);
  });

  test('no pid file: the master is found in /proc (the sshd whose parent is not an sshd)', async () => {
    const world = createWorld({ family: 'debian-12', init: 'none', running: false });
    const proc = (pid: number, comm: string, ppid: number): void => {
      world.system.addFile(`/proc/${pid}/comm`, `${comm}\n`);
      world.system.addFile(`/proc/${pid}/stat`, `${pid} (${comm}) S ${ppid} 1 1 0\n`);
      world.system.alivePids.add(pid);
    };
    proc(1, 'init', 0);
    proc(700, 'sshd', 1);
    proc(800, 'sshd', 700);
    await action.apply(request({ resetSsh: true }), world.context);
    expect(commands(world).slice(0, 2)).toEqual(['kill -TERM 700', 'kill -CONT 700']);
  });
});

describe('restore_backup_ssh after reset_ssh', () => {
  test('brings the moved drop-ins back with sshd_config, then moves the backup set to the history; the next change takes a fresh backup', async () => {
    const world = createWorld({ family: 'debian-12' });
    world.system.addFile(`${DIR}/40-local.conf`, 'AllowUsers nobody\n', { mode: 0o640 });
    const original = world.system.text('/etc/ssh/sshd_config');
    world.system.addFile('/etc/ssh/sshd_config', `${original ?? ''}MaxAuthTries 4\n`);
    expect(failed(await action.apply(request({ resetSsh: true }), world.context))).toEqual([]);
    expect(world.system.text(`${DIR}/40-local.conf`)).toBeUndefined();
    const outcomes = await action.apply(request({ restoreBackupSsh: true }), world.context);
    expect(failed(outcomes)).toEqual([]);
    expect(world.system.text(`${DIR}/40-local.conf`)).toBe('AllowUsers nobody\n');
    expect(world.system.nodes.get(`${DIR}/40-local.conf`)?.mode).toBe(0o640);
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(`${original ?? ''}MaxAuthTries 4\n`);
    const history = '/var/cache/vmaccess/backup.history/2026-01-15T10-00-00-000Z';
    expect(world.system.text(`${history}/backup.d/40-local.conf`)).toBe('AllowUsers nobody\n');
    expect(world.system.text(`${history}/backup`)).toBe(`${original ?? ''}MaxAuthTries 4\n`);
    expect(world.system.text('/var/cache/vmaccess/backup')).toBeUndefined();
    expect(await world.system.listDir(BACKUP_D)).toBeUndefined();
    expect(message(outcomes, 'ssh_backup')).toContain(history);
    // A second restore has nothing to restore.
    await expect(action.apply(request({ restoreBackupSsh: true }), world.context)).rejects.toMatchObject({ code: 'SSH_BACKUP_MISSING' });
    // The next change backs up the configuration as it is now.
    world.system.addFile(`${DIR}/40-local.conf`, 'MaxSessions 3\n');
    expect(failed(await action.apply(request({ resetSsh: true }), world.context))).toEqual([]);
    expect(world.system.text('/var/cache/vmaccess/backup')).toBe(`${original ?? ''}MaxAuthTries 4\n`);
    expect(world.system.text(`${BACKUP_D}/40-local.conf`)).toBe('MaxSessions 3\n');
  });
});

describe('packageOwnership parses the package managers\' answers', () => {
  test('dpkg -S with an architecture qualifier and a diversion line; dpkg --verify flags the md5 column', async () => {
    const system = new FakeSystem();
    const file = '/etc/ssh/sshd_config.d/x.conf';
    system.onCommand('dpkg', (call) =>
      call.args[0] === '-S'
        ? { stdout: `diversion by foo from: ${file}\nfoo-ssh:amd64, bar: ${file}\n` }
        : { exitCode: 1, stdout: `??5?????? c ${file}\n??5?????? c /etc/other\n` },
    );
    expect(await packageOwnership(system, 'debian', file)).toEqual({ verdict: 'modified', owner: 'foo-ssh:amd64' });
    expect(system.calls.map((call) => call.args.join(' '))).toEqual([`-S ${file}`, '--verify foo-ssh:amd64']);
  });

  test('rpm -V: only a size or digest change of this file counts; mtime alone does not', async () => {
    const system = new FakeSystem();
    const file = '/etc/ssh/sshd_config.d/50-redhat.conf';
    system.onCommand('rpm', (call) => (call.args[0] === '-qf' ? { stdout: 'openssh-server-9.9p1-1.el9.x86_64\n' } : { exitCode: 1, stdout: `.......T.  c ${file}\nS.5....T.  c /etc/ssh/sshd_config\n` }));
    expect(await packageOwnership(system, 'rhel', file)).toEqual({ verdict: 'package', owner: 'openssh-server-9.9p1-1.el9.x86_64' });
  });

  test('cloud-init\'s files are never package files, whatever the package manager says; an unknown distribution tries dpkg then rpm', async () => {
    const system = new FakeSystem();
    system.onCommand('dpkg', () => ({ exitCode: 127, started: false }));
    system.onCommand('rpm', () => ({ exitCode: 1, stdout: 'file /etc/ssh/sshd_config.d/a.conf is not owned by any package\n' }));
    expect(await packageOwnership(system, 'debian', '/etc/ssh/sshd_config.d/50-cloud-init.conf')).toEqual({ verdict: 'unowned' });
    expect(await packageOwnership(system, 'unknown', '/etc/ssh/sshd_config.d/a.conf')).toEqual({ verdict: 'unowned' });
    expect(system.calls.map((call) => call.file)).toEqual(['dpkg', 'rpm']);
  });
});
