import { describe, expect, test } from 'vitest';
import { createUndoRecord } from '../../src/actions/ssh/ssh-undo.js';
import { OWN_DROP_IN, createSshAction } from '../../src/actions/ssh/ssh.js';
import { isVmaccessError } from '../../src/errors.js';
import { PROBE_USER, SshdAnswers, readEffectiveSshdConfig } from '../../src/actions/sshd-effective.js';
import { createWorld, driveFromRequest, fastVerify, fixtureFacts, fixtureFamilies, fixtureFile, REPO, request, SSHD } from '../fakes/ssh-world.js';
import type { World } from '../fakes/ssh-world.js';
import * as path from 'node:path';

const DROP_IN = `/etc/ssh/sshd_config.d/${OWN_DROP_IN}`;
const planned = createSshAction({ verify: fastVerify, resourcesDir: path.join(REPO, 'resources') });
const action = driveFromRequest(planned);

async function effectiveFor(world: World, user: string): Promise<Map<string, string>> {
  const result = await world.system.run(SSHD, ['-T', '-f', '/etc/ssh/sshd_config', '-C', `user=${user},host=h,addr=10.0.0.1`]);
  return new Map(result.stdout.split('\n').filter(Boolean).map((line) => [line.split(' ')[0] ?? '', line.slice(line.indexOf(' ') + 1)]));
}

async function applyPasswordFor(world: World, user: string): Promise<Awaited<ReturnType<typeof action.apply>>> {
  world.context.ssh.passwordUsers.add(user);
  return action.apply(request({ account: { username: user, password: 'unused-here', removePriorKeys: false, passwordless: false } }), world.context);
}

function expectError(promise: Promise<unknown>, code: string): Promise<void> {
  return promise.then(
    () => {
      throw new Error(`expected ${code}`);
    },
    (error: unknown) => {
      expect(isVmaccessError(error) ? error.code : error).toBe(code);
    },
  );
}

const INCLUDE_FAMILIES = ['ubuntu-22.04', 'ubuntu-24.04', 'debian-12', 'rhel-9', 'flatcar-4459.0.0'];
const NO_INCLUDE_FAMILIES = ['centos-7', 'oraclelinux-8', 'azurelinux-3'];

describe('wants', () => {
  test.each([
    [request(), false],
    [request({ resetSsh: true }), true],
    [request({ restoreBackupSsh: true }), true],
    [request({ removeUser: 'bob' }), true],
    [request({ account: { username: 'a', password: 'x', removePriorKeys: false, passwordless: false } }), true],
    [request({ account: { username: 'a', sshKey: 'ssh-ed25519 AAAA', removePriorKeys: false, passwordless: false } }), false],
  ])('%#', (input, expected) => {
    expect(action.wants(input)).toBe(expected);
  });
});

describe('nothing to change', () => {
  test('no collected changes: no command at all, not even sshd -T', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    const outcomes = await action.apply(request({ account: { username: 'alice', password: 'x', removePriorKeys: false, passwordless: false } }), world.context);
    expect(outcomes[0]?.result).toBe('skipped');
    expect(world.system.calls).toEqual([]);
  });

  test('removing a user who never had a password grant: no sshd call at all', async () => {
    const world = createWorld({ family: 'ubuntu-22.04' });
    world.context.ssh.removedUsers.add('olduser');
    const outcomes = await action.apply(request({ removeUser: 'olduser' }), world.context);
    expect(outcomes).toEqual([{ name: 'sshd_config', result: 'unchanged', message: 'The SSH server configuration already was as requested; sshd was not touched.' }]);
    expect(world.system.commandsRun(SSHD)).toEqual([]);
    expect(world.reloads()).toEqual([]);
  });

  test.each(fixtureFamilies())('%s: the same password request twice writes and reloads once, then zero times', async (family) => {
    const world = createWorld({ family });
    await applyPasswordFor(world, 'alice');
    const reloadsAfterFirst = world.reloads().length;
    expect(reloadsAfterFirst).toBe(1);
    const snapshot = new Map([...world.system.nodes].filter(([key]) => key.startsWith('/etc/')).map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]));
    world.system.calls.length = 0;
    const second = await applyPasswordFor(world, 'alice');
    expect(world.reloads()).toEqual([]);
    expect(second.find((outcome) => outcome.name === 'sshd_config')?.result).toBe('unchanged');
    expect(second.find((outcome) => outcome.name === 'sshd')?.result).toBe('unchanged');
    const after = new Map([...world.system.nodes].filter(([key]) => key.startsWith('/etc/')).map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]));
    expect(after).toEqual(snapshot);
  });
});

describe('password access', () => {
  test.each(INCLUDE_FAMILIES)('%s: a Match User drop-in turns password login on for alice only', async (family) => {
    const world = createWorld({ family });
    const mainBefore = world.system.text('/etc/ssh/sshd_config');
    const outcomes = await applyPasswordFor(world, 'alice');
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.system.text(DROP_IN)).toContain('Match User alice\n\tPasswordAuthentication yes\n');
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(mainBefore);
    expect((await effectiveFor(world, 'alice')).get('passwordauthentication')).toBe('yes');
    // Cloud images and Flatcar say no for everyone else, and still do.
    const other = (await effectiveFor(world, 'mallory')).get('passwordauthentication');
    expect(other).toBe(family.startsWith('ubuntu') || family.startsWith('flatcar') ? 'no' : 'yes');
    expect((await world.system.stat(DROP_IN))?.mode).toBe(0o600);
  });

  test("the files now live are the candidate sshd judged: the run's answers are the candidate's, and a later question asks sshd nothing", async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    const answers = new SshdAnswers();
    world.context.sshdAnswers = answers;
    // An answer about the files before the change must not outlive them.
    const before = await readEffectiveSshdConfig(world.system, { user: 'alice' }, { sshd: SSHD, answers });
    expect(before.get('passwordauthentication')).toBe('no');
    const outcomes = await applyPasswordFor(world, 'alice');
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    const asked = world.system.commandsRun(SSHD).length;
    const alice = await readEffectiveSshdConfig(world.system, { user: 'alice' }, { sshd: SSHD, answers });
    const nobody = await readEffectiveSshdConfig(world.system, { user: PROBE_USER }, { sshd: SSHD, answers });
    expect(world.system.commandsRun(SSHD).length - asked).toBe(0);
    expect(alice.get('passwordauthentication')).toBe('yes');
    expect(nobody.get('passwordauthentication')).toBe('no');
    // A user the candidate was not asked about is asked once, then remembered.
    await readEffectiveSshdConfig(world.system, { user: 'bob' }, { sshd: SSHD, answers });
    await readEffectiveSshdConfig(world.system, { user: 'bob' }, { sshd: SSHD, answers });
    expect(world.system.commandsRun(SSHD).length - asked).toBe(1);
  });

  test.each(NO_INCLUDE_FAMILIES)('%s: no Include, so a marked block at the end of sshd_config', async (family) => {
    const world = createWorld({ family, files: {} });
    const before = world.system.text('/etc/ssh/sshd_config') ?? '';
    await applyPasswordFor(world, 'alice');
    const after = world.system.text('/etc/ssh/sshd_config') ?? '';
    expect(after.startsWith(before)).toBe(true);
    expect(after.slice(before.length)).toMatch(/^# BEGIN vmaccess password access.*\nMatch User alice\n\tPasswordAuthentication yes\nMatch all\n# END vmaccess password access\n$/);
    expect(world.system.text(DROP_IN)).toBeUndefined();
  });

  test('cloud-init later appended PasswordAuthentication no at the end of an EL8 file: still only alice', async () => {
    const world = createWorld({ family: 'oraclelinux-8' });
    world.system.addFile('/etc/ssh/sshd_config', `${fixtureFile('oraclelinux-8', 'etc/ssh/sshd_config')}PasswordAuthentication no\n`);
    await applyPasswordFor(world, 'alice');
    expect((await effectiveFor(world, 'alice')).get('passwordauthentication')).toBe('yes');
  });

  test('AuthenticationMethods publickey,password blocks a password alone: the user block allows any method', async () => {
    const world = createWorld({ family: 'debian-12', files: { '/etc/ssh/sshd_config.d/40-mfa.conf': 'AuthenticationMethods publickey,password\n' } });
    await applyPasswordFor(world, 'alice');
    expect(world.system.text(DROP_IN)).toContain('Match User alice\n\tPasswordAuthentication yes\n\tAuthenticationMethods any\n');
    expect((await effectiveFor(world, 'bob')).get('authenticationmethods')).toBe('publickey,password');
  });

  test('an earlier drop-in denies alice in a Match block: clear error, nothing written, no reload', async () => {
    const world = createWorld({ family: 'debian-12', files: { '/etc/ssh/sshd_config.d/00-admin.conf': 'Match User alice\n\tPasswordAuthentication no\n' } });
    await expectError(applyPasswordFor(world, 'alice'), 'SSHD_CONFIG_INVALID');
    expect(world.system.text(DROP_IN)).toBeUndefined();
    expect(world.reloads()).toEqual([]);
  });

  test('a second user joins the first; removing a user drops only that block; the last one removes the file', async () => {
    const world = createWorld({ family: 'ubuntu-22.04' });
    await applyPasswordFor(world, 'alice');
    await applyPasswordFor(createWorldFrom(world), 'bob');
    expect(world.system.text(DROP_IN)).toMatch(/Match User alice\n\tPasswordAuthentication yes\nMatch User bob\n/);
    world.context.ssh.passwordUsers.clear();
    world.context.ssh.removedUsers.add('alice');
    await action.apply(request({ removeUser: 'alice' }), world.context);
    expect(world.system.text(DROP_IN)).not.toContain('alice');
    expect(world.system.text(DROP_IN)).toContain('Match User bob');
    world.context.ssh.removedUsers.clear();
    world.context.ssh.removedUsers.add('bob');
    await action.apply(request({ removeUser: 'bob' }), world.context);
    expect(world.system.text(DROP_IN)).toBeUndefined();
  });

  test('the first backup is the VM original and is never overwritten', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    world.system.addFile('/var/cache/vmaccess/backup', 'ORIGINAL FROM THE PYTHON EXTENSION\n');
    await applyPasswordFor(world, 'alice');
    expect(world.system.text('/var/cache/vmaccess/backup')).toBe('ORIGINAL FROM THE PYTHON EXTENSION\n');
    expect(world.system.text('/var/cache/vmaccess/backup.d/50-cloud-init.conf')).toBe('PasswordAuthentication no\n');
    expect(world.system.text(`/var/cache/vmaccess/backup.d/${OWN_DROP_IN}`)).toBeUndefined();
  });
});

function createWorldFrom(world: World): World {
  world.context.ssh.passwordUsers.clear();
  return world;
}

describe('validation and rollback', () => {
  test('sshd -t rejects the candidate (a bad drop-in): error, nothing written, sshd untouched', async () => {
    const world = createWorld({ family: 'debian-12', files: { '/etc/ssh/sshd_config.d/10-broken.conf': 'Bogus yes\n' } });
    await expectError(applyPasswordFor(world, 'alice'), 'SSHD_CONFIG_INVALID');
    expect(world.system.text(DROP_IN)).toBeUndefined();
    expect(world.reloads()).toEqual([]);
    expect(world.system.text('/var/cache/vmaccess/backup')).toBeUndefined();
    expect([...world.system.nodes.keys()].filter((key) => key.includes('sshd-candidate'))).toEqual([]);
  });

  test('the in-place check after writing fails: every file restored, sshd never reloaded', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    world.failLiveCheck = true;
    await expectError(applyPasswordFor(world, 'alice'), 'SSHD_CONFIG_INVALID');
    expect(world.system.text(DROP_IN)).toBeUndefined();
    expect(world.reloads()).toEqual([]);
  });

  test('sshd does not answer after the reload: files restored, sshd reloaded again, SSHD_ROLLED_BACK', async () => {
    const world = createWorld({ family: 'rhel-9', bannerAfterReload: undefined });
    const before = world.system.text('/etc/ssh/sshd_config');
    const outcomes = await applyPasswordFor(world, 'alice');
    const sshd = outcomes.find((outcome) => outcome.name === 'sshd');
    expect(sshd?.result).toBe('failed');
    expect(sshd?.code).toBe('SSHD_ROLLED_BACK');
    expect(sshd?.message).toMatch(/nothing answers on port 22.*restored \/etc\/ssh\/sshd_config.d\/00-vmaccess.conf/);
    expect(world.system.text(DROP_IN)).toBeUndefined();
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(before);
    expect(world.reloads().map((call) => call.args.join(' '))).toEqual(['reload sshd.service', 'reload sshd.service']);
  });
});

describe('a run that died half-way', () => {
  test('the next run puts the files back from the journal, then applies its own change, with one reload', async () => {
    const world = createWorld({ family: 'debian-12' });
    const original = world.system.text('/etc/ssh/sshd_config');
    // Simulate the crash: the journal remembers sshd_config, which was then half-changed.
    const undo = createUndoRecord(world.system, '/var/cache/vmaccess/sshd-undo');
    await undo.remember('/etc/ssh/sshd_config', 'Port 2222\n');
    await undo.remember('/etc/ssh/sshd_config.d/10-new.conf', 'X11Forwarding no\n');
    world.system.addFile('/etc/ssh/sshd_config', 'Port 2222\n');
    world.system.addFile('/etc/ssh/sshd_config.d/10-new.conf', 'X11Forwarding no\n');

    world.context.ssh.passwordUsers.add('alice');
    const plan = await action.plan(request({ account: { username: 'alice', password: 'x', removePriorKeys: false, passwordless: false } }), world.context);
    expect(plan).toContain('sshd_recovery: an earlier run stopped while changing the SSH server configuration; its files are put back first');
    expect(plan).toContain('file: write /etc/ssh/sshd_config (put back from the journal of an interrupted run)');
    expect(plan).toContain('file: remove /etc/ssh/sshd_config.d/10-new.conf (put back from the journal of an interrupted run)');

    const outcomes = await applyPasswordFor(world, 'alice');
    expect(outcomes[0]).toMatchObject({ name: 'sshd_recovery', result: 'changed' });
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(original);
    expect(world.system.text('/etc/ssh/sshd_config.d/10-new.conf')).toBeUndefined();
    expect(world.system.text(DROP_IN)).toContain('Match User alice');
    expect(world.reloads()).toHaveLength(1);
    expect([...world.system.nodes.keys()].filter((key) => key.startsWith('/var/cache/vmaccess/sshd-undo'))).toEqual([]);
  });

  test('a successful run keeps a journal while sshd is reloaded and leaves none behind', async () => {
    const world = createWorld({ family: 'rhel-9' });
    const journal = (): string[] => [...world.system.nodes.keys()].filter((key) => key.startsWith('/var/cache/vmaccess/sshd-undo/'));
    // Seen from the reload, the moment the new files are in place but not yet proven.
    const duringReload: string[][] = [];
    let manifest: string | undefined;
    world.system.onCommand('systemctl', (call) => {
      if (call.args[0] === 'reload') {
        duringReload.push(journal());
        manifest = world.system.text('/var/cache/vmaccess/sshd-undo/manifest.json');
      }
      return undefined;
    });
    const outcomes = await applyPasswordFor(world, 'alice');
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(outcomes.find((outcome) => outcome.name === 'sshd_config')?.result).toBe('changed');
    expect(duringReload).toHaveLength(1);
    expect(duringReload[0]).toContain('/var/cache/vmaccess/sshd-undo/manifest.json');
    expect(manifest).toContain(DROP_IN);
    expect(journal()).toEqual([]);
  });
});

describe('service control paths', () => {
  test('no init system: SIGHUP to the pid from /run/sshd.pid', async () => {
    const world = createWorld({ family: 'debian-12', init: 'none' });
    await applyPasswordFor(world, 'alice');
    expect(world.reloads().map((call) => [call.file, ...call.args].join(' '))).toEqual(['kill -HUP 4242']);
  });

  test('no init system and no sshd: reset_ssh starts the daemon directly', async () => {
    const world = createWorld({ family: 'debian-12', init: 'none', running: false });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(world.reloads().map((call) => [call.file, ...call.args].join(' '))).toEqual([SSHD]);
    expect(outcomes.find((outcome) => outcome.name === 'sshd')?.message).toMatch(/started/);
  });

  test.each(['none', 'sysv', 'systemd'] as const)('%s: a password reset on a stopped sshd changes and validates the files but does not start it (#8)', async (init) => {
    const world = createWorld({ family: 'debian-12', init, running: false });
    const outcomes = await applyPasswordFor(world, 'alice');
    expect(world.reloads()).toEqual([]);
    expect(world.system.probes).toEqual([]);
    expect(world.system.text(DROP_IN)).toContain('Match User alice');
    expect(world.system.commandsRun(SSHD).some((call) => call.args.includes('-t'))).toBe(true);
    expect(outcomes.find((outcome) => outcome.name === 'sshd')).toMatchObject({ result: 'warning', message: expect.stringMatching(/not running and only reset_ssh starts a stopped sshd/) as unknown });
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
  });

  test('SysV: service ssh reload', async () => {
    const world = createWorld({ family: 'debian-12', init: 'sysv' });
    await applyPasswordFor(world, 'alice');
    expect(world.reloads().map((call) => [call.file, ...call.args].join(' '))).toEqual(['service ssh reload']);
  });

  test('Ubuntu 24.04 with only ssh.socket listening: no reload; the probe (which starts sshd through the socket) must answer', async () => {
    const world = createWorld({ family: 'ubuntu-24.04', running: false });
    world.system.banners.set('127.0.0.1:22', 'SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.9');
    const outcomes = await applyPasswordFor(world, 'alice');
    expect(world.reloads()).toEqual([]);
    expect(world.system.probes.length).toBeGreaterThan(0);
    expect(outcomes.find((outcome) => outcome.name === 'sshd')?.message).toMatch(/ssh.socket is listening.*sshd answers on port 22/);
  });

  test('Ubuntu 24.04 socket activation with ssh.service running: reload the service', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    await applyPasswordFor(world, 'alice');
    expect(world.reloads().map((call) => call.args.join(' '))).toEqual(['reload ssh.service']);
  });
});

describe('restore_backup_ssh', () => {
  test('no backup: SSH_BACKUP_MISSING and nothing changed', async () => {
    const world = createWorld({ family: 'debian-12' });
    await expectError(action.apply(request({ restoreBackupSsh: true }), world.context), 'SSH_BACKUP_MISSING');
    expect(world.system.calls.filter((call) => call.file !== SSHD)).toEqual([]);
  });

  test('brings back the original main file and drop-ins, removes the extension drop-in', async () => {
    const world = createWorld({ family: 'ubuntu-22.04' });
    const original = world.system.text('/etc/ssh/sshd_config');
    await applyPasswordFor(world, 'alice');
    world.system.addFile('/etc/ssh/sshd_config', `${original ?? ''}# changed later\n`);
    world.system.addFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication yes\n');
    world.context.ssh.passwordUsers.clear();
    const outcomes = await action.apply(request({ restoreBackupSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(original);
    expect(world.system.text('/etc/ssh/sshd_config.d/50-cloud-init.conf')).toBe('PasswordAuthentication no\n');
    expect(world.system.text(DROP_IN)).toBeUndefined();
  });

  test('a backup sshd rejects is not restored', async () => {
    const world = createWorld({ family: 'debian-12', files: { '/var/cache/vmaccess/backup': 'Bogus yes\n' } });
    const before = world.system.text('/etc/ssh/sshd_config');
    await expectError(action.apply(request({ restoreBackupSsh: true }), world.context), 'SSHD_CONFIG_INVALID');
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(before);
  });
});

describe('reset_ssh', () => {
  test.each(fixtureFamilies())('%s: installs the family default, keeps the Include where the family has one', async (family) => {
    const world = createWorld({ family, files: { '/etc/ssh/sshd_config': 'Port 22\nPasswordAuthentication no\nBogus broken\n' } });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    const text = world.system.text('/etc/ssh/sshd_config') ?? '';
    const facts = fixtureFacts(family);
    if (facts.pristine_sshd_config_copy !== null) expect(text).toBe(fixtureFile(family, 'etc/ssh/sshd_config'));
    else expect(text).toContain(`Subsystem sftp ${facts.sftp_subsystem}`);
    const hasInclude = /^Include /m.test(fixtureFile(family, 'etc/ssh/sshd_config'));
    expect(/^Include /m.test(text)).toBe(hasInclude);
    expect(text).not.toMatch(/ssh_host_dsa_key/);
    expect(world.system.text('/var/cache/vmaccess/backup')).toBe('Port 22\nPasswordAuthentication no\nBogus broken\n');
  });

  test('moves a drop-in that is no package file into the backup set, generates missing host keys, restarts a stopped sshd', async () => {
    const world = createWorld({
      family: 'rhel-9',
      running: false,
      hostKeys: false,
      files: { '/etc/ssh/sshd_config.d/70-bad.conf': 'Bogus yes\n' },
    });
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.system.text('/etc/ssh/sshd_config.d/70-bad.conf')).toBeUndefined();
    expect(world.system.text('/var/cache/vmaccess/backup.d/70-bad.conf')).toBe('Bogus yes\n');
    expect(world.system.text('/etc/ssh/ssh_host_ed25519_key')).toBe('PRIVATE');
    expect(world.reloads().map((call) => call.args.join(' '))).toEqual(['restart sshd.service']);
    expect(outcomes.map((outcome) => outcome.name)).toEqual(['host_keys', 'sshd_config', 'firewall', 'sshd']);
  });

  test('grants the extension made survive a reset (EL7: from the old file\'s block into the new file)', async () => {
    const world = createWorld({ family: 'centos-7' });
    await applyPasswordFor(world, 'bob');
    world.context.ssh.passwordUsers.clear();
    world.system.addFile('/etc/ssh/sshd_config', `Bogus\n${world.system.text('/etc/ssh/sshd_config') ?? ''}`);
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    const text = world.system.text('/etc/ssh/sshd_config') ?? '';
    expect(text).not.toContain('Bogus');
    expect(text).toMatch(/Match User bob\n\tPasswordAuthentication yes\nMatch all\n# END vmaccess/);
  });

  test('reset_ssh twice: the second run writes nothing and restarts sshd once (the documented exception), then confirms it answers', async () => {
    const world = createWorld({ family: 'rhel-9', files: { '/etc/ssh/sshd_config': 'Bogus\n' } });
    const plan = await action.plan(request({ resetSsh: true }), world.context);
    expect(plan).toContain('file: write /etc/ssh/sshd_config (SSH server configuration, validated with sshd -t before it is written)');
    expect(plan).toContain('-Bogus');
    expect(plan).toContain('+Include /etc/ssh/sshd_config.d/*.conf');
    await action.apply(request({ resetSsh: true }), world.context);
    expect(world.reloads()).toHaveLength(1);
    world.system.calls.length = 0;
    const before = new Map([...world.system.nodes].filter(([key]) => key.startsWith('/etc/')).map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]));
    const second = await action.apply(request({ resetSsh: true }), world.context);
    // reset_ssh is an explicit request for a restart (issue 11): a frozen sshd needs one even when the files are right.
    expect(world.reloads().map((call) => call.args.join(' '))).toEqual(['restart sshd.service']);
    expect(second.map((outcome) => [outcome.name, outcome.result])).toEqual([
      ['sshd_config', 'unchanged'],
      ['firewall', 'unchanged'],
      ['sshd', 'changed'],
    ]);
    expect(new Map([...world.system.nodes].filter(([key]) => key.startsWith('/etc/')).map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]))).toEqual(before);
  });

  test('SELinux on: restorecon relabels the written drop-in and generated host keys', async () => {
    const world = createWorld({ family: 'rhel-9', hostKeys: false, files: { '/sys/fs/selinux/enforce': '1' } });
    world.system.onCommand('restorecon', () => ({ exitCode: 0 }));
    world.context.ssh.passwordUsers.add('alice');
    await action.apply(request({ resetSsh: true, account: { username: 'alice', password: 'x', removePriorKeys: false, passwordless: false } }), world.context);
    const relabelled = world.system.commandsRun('restorecon').map((call) => call.args.slice(2));
    expect(relabelled[0]).toContain('/etc/ssh/ssh_host_ed25519_key');
    expect(relabelled[1]).toContain(DROP_IN);
  });

  test('reset and password in one request: one validation, one reload', async () => {
    const world = createWorld({ family: 'centos-7', files: { '/etc/ssh/sshd_config': 'PasswordAuthentication no\n' } });
    world.context.ssh.passwordUsers.add('alice');
    const outcomes = await action.apply(request({ resetSsh: true, account: { username: 'alice', password: 'x', removePriorKeys: false, passwordless: false } }), world.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(world.reloads()).toHaveLength(1);
    const text = world.system.text('/etc/ssh/sshd_config') ?? '';
    expect(text).not.toMatch(/^Include/m);
    expect(text).toMatch(/Match User alice\n\tPasswordAuthentication yes\nMatch all\n# END vmaccess/);
  });
});

describe('SUSE vendor layout (/usr/etc/ssh/sshd_config, no /etc/ssh/sshd_config)', () => {
  function suse(): World {
    const world = createWorld({ family: 'debian-12', init: 'none' });
    world.system.addFile('/etc/os-release', fixtureFile('sles-15.6', 'os-release'));
    void world.system.remove('/etc/ssh/sshd_config');
    world.system.addFile('/usr/etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nInclude /usr/etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\nUsePAM yes\n');
    return world;
  }

  test('password access goes into the /etc drop-in; the vendor file is never written', async () => {
    const world = suse();
    await applyPasswordFor(world, 'alice');
    expect(world.system.text(DROP_IN)).toContain('Match User alice');
    expect(world.system.text('/usr/etc/ssh/sshd_config')).toContain('PasswordAuthentication no');
    expect(world.system.text('/etc/ssh/sshd_config')).toBeUndefined();
    const dump = await world.system.run(SSHD, ['-T', '-f', '/usr/etc/ssh/sshd_config', '-C', 'user=alice']);
    expect(dump.stdout).toContain('passwordauthentication yes');
  });

  test('reset_ssh: the vendor default is already in use, nothing to replace', async () => {
    const world = suse();
    const outcomes = await action.apply(request({ resetSsh: true }), world.context);
    expect(outcomes.find((outcome) => outcome.name === 'sshd_config')?.result).toBe('unchanged');
    expect(world.system.text('/etc/ssh/sshd_config')).toBeUndefined();
  });
});

describe('plan', () => {
  test('shows a unified diff, the reload, and changes nothing', async () => {
    const world = createWorld({ family: 'ubuntu-22.04' });
    const before = new Map([...world.system.nodes].map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]));
    world.context.ssh.passwordUsers.add('alice');
    const lines = await action.plan(request({ account: { username: 'alice', password: 'x', removePriorKeys: false, passwordless: false } }), world.context);
    expect(lines).toContain(`file: create ${DROP_IN} (SSH server configuration, validated with sshd -t before it is written)`);
    expect(lines).toContain(`+++ b${DROP_IN}`);
    expect(lines).toContain('+Match User alice');
    expect(lines).toContain('sshd: would run systemctl reload ssh.service');
    expect(lines).toContain('service: reload sshd (ssh.service is running)');
    expect(new Map([...world.system.nodes].map(([key, node]) => [key, Buffer.from(node.data).toString('hex')]))).toEqual(before);
    expect(world.reloads()).toEqual([]);
  });

  test('reset plan lists firewall rules that would be added', async () => {
    const world = createWorld({ family: 'azurelinux-3' });
    world.system.onCommand('iptables', (call) => (call.args.includes('-S') ? { stdout: '-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n' } : call.args.includes('-V') ? { stdout: 'iptables v1.8.10 (legacy)\n' } : { exitCode: 1 }));
    const lines = await action.plan(request({ resetSsh: true }), world.context);
    expect(lines).toContain('firewall: iptables: accept tcp/22 at the top of INPUT');
  });
});
