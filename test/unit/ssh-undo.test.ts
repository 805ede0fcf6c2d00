import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { createSshAction } from '../../src/actions/ssh/ssh.js';
import { createUndoRecord, recoverJournal } from '../../src/actions/ssh/ssh-undo.js';
import { FakeSystem } from '../fakes/fake-system.js';
import { createWorld, driveFromRequest, fastVerify, REPO, request } from '../fakes/ssh-world.js';

/**
 * The undo record and its on-disk journal: symbolic links come back as links (#3),
 * and an interrupted run's journal only puts back files that still hold what that run
 * wrote; a file someone changed since is kept, with the journal's copy set aside (#6).
 */

const JOURNAL = '/var/cache/vmaccess/sshd-undo';
const KEPT = '/var/cache/vmaccess/sshd-undo-kept/now';
const planned = createSshAction({ verify: fastVerify, resourcesDir: path.join(REPO, 'resources') });
const action = driveFromRequest(planned);

function linkedMachine(): FakeSystem {
  return new FakeSystem()
    .addFile('/etc/ssh/sshd_config.managed', 'Port 22\n', { mode: 0o600 })
    .addSymlink('/etc/ssh/sshd_config', 'sshd_config.managed')
    .addFile('/etc/cloud/ssh.conf', 'PasswordAuthentication no\n')
    .addSymlink('/etc/ssh/sshd_config.d/50-cloud-init.conf', '/etc/cloud/ssh.conf');
}

describe('symbolic links in the undo record (#3)', () => {
  test('rollback puts a symlinked sshd_config and drop-in back as links, targets untouched', async () => {
    const system = linkedMachine();
    const undo = createUndoRecord(system, JOURNAL);
    for (const [file, content] of [['/etc/ssh/sshd_config', 'Port 2222\n'], ['/etc/ssh/sshd_config.d/50-cloud-init.conf', null]] as const) {
      await undo.remember(file, content);
      if (content === null) await system.remove(file);
      else await system.writeFileAtomic(file, content);
    }
    expect((await system.lstat('/etc/ssh/sshd_config'))?.type).toBe('file');
    expect(await undo.restore()).toEqual([]);
    expect(await system.readLink('/etc/ssh/sshd_config')).toBe('sshd_config.managed');
    expect(await system.readLink('/etc/ssh/sshd_config.d/50-cloud-init.conf')).toBe('/etc/cloud/ssh.conf');
    expect(system.text('/etc/ssh/sshd_config.managed')).toBe('Port 22\n');
    expect(system.text('/etc/cloud/ssh.conf')).toBe('PasswordAuthentication no\n');
  });

  test('journal recovery after a crash puts the links back too', async () => {
    const system = linkedMachine();
    const undo = createUndoRecord(system, JOURNAL);
    await undo.remember('/etc/ssh/sshd_config', 'Port 2222\n');
    await system.writeFileAtomic('/etc/ssh/sshd_config', 'Port 2222\n');
    await undo.remember('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication yes\n');
    await system.writeFileAtomic('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication yes\n');
    // The process dies here; the next one finds the journal.
    const report = await recoverJournal(system, JOURNAL, KEPT);
    expect(report).toEqual({ restored: ['/etc/ssh/sshd_config.d/50-cloud-init.conf', '/etc/ssh/sshd_config'], conflicts: [] });
    expect(await system.readLink('/etc/ssh/sshd_config')).toBe('sshd_config.managed');
    expect(await system.readLink('/etc/ssh/sshd_config.d/50-cloud-init.conf')).toBe('/etc/cloud/ssh.conf');
    expect(await system.listDir(JOURNAL)).toBeUndefined();
  });

  test('through the action: the link is replaced by a file (target unchanged), and a rollback brings the link back', async () => {
    const world = createWorld({ family: 'centos-7', bannerAfterReload: undefined });
    const original = world.system.text('/etc/ssh/sshd_config') ?? '';
    world.system.addFile('/etc/ssh/sshd_config.local', original, { mode: 0o600 });
    world.system.addSymlink('/etc/ssh/sshd_config', '/etc/ssh/sshd_config.local');
    world.context.ssh.passwordUsers.add('alice');
    const outcomes = await action.apply(request({ account: { username: 'alice', password: 'x', removePriorKeys: false, passwordless: false } }), world.context);
    expect(outcomes.find((outcome) => outcome.name === 'sshd_config')?.message).toMatch(/in place of its symbolic link to \/etc\/ssh\/sshd_config\.local/);
    expect(outcomes.find((outcome) => outcome.name === 'sshd')).toMatchObject({ result: 'failed', code: 'SSHD_ROLLED_BACK' });
    expect(await world.system.readLink('/etc/ssh/sshd_config')).toBe('/etc/ssh/sshd_config.local');
    expect(world.system.text('/etc/ssh/sshd_config.local')).toBe(original);
  });
});

describe('an interrupted run found by a later enable (#6)', () => {
  async function interrupted(system: FakeSystem): Promise<void> {
    const undo = createUndoRecord(system, JOURNAL);
    await undo.remember('/etc/ssh/sshd_config', 'Port 2222\n');
    await system.writeFileAtomic('/etc/ssh/sshd_config', 'Port 2222\n');
    await undo.remember('/etc/ssh/sshd_config.d/10-new.conf', 'X11Forwarding no\n');
    await system.writeFileAtomic('/etc/ssh/sshd_config.d/10-new.conf', 'X11Forwarding no\n');
  }

  test('files that still hold what the run wrote are put back; files changed since are kept, the old copy set aside', async () => {
    const system = new FakeSystem().addFile('/etc/ssh/sshd_config', 'Port 22\n', { mode: 0o600 }).addDir('/etc/ssh/sshd_config.d');
    await interrupted(system);
    // Months later an admin edits sshd_config; 10-new.conf is still the run's.
    system.addFile('/etc/ssh/sshd_config', 'Port 22\nUseDNS no\n');
    const report = await recoverJournal(system, JOURNAL, KEPT);
    expect(report.restored).toEqual(['/etc/ssh/sshd_config.d/10-new.conf']);
    expect(report.conflicts).toEqual([{ path: '/etc/ssh/sshd_config', kept: `${KEPT}/etc/ssh/sshd_config` }]);
    expect(system.text('/etc/ssh/sshd_config')).toBe('Port 22\nUseDNS no\n');
    expect(system.text(`${KEPT}/etc/ssh/sshd_config`)).toBe('Port 22\n');
    expect(system.text('/etc/ssh/sshd_config.d/10-new.conf')).toBeUndefined();
  });

  test('a link changed since (now a file someone wrote) is kept, and the report names the old link target', async () => {
    const system = linkedMachine();
    const undo = createUndoRecord(system, JOURNAL);
    await undo.remember('/etc/ssh/sshd_config', 'Port 2222\n');
    await system.writeFileAtomic('/etc/ssh/sshd_config', 'Port 2222\n');
    system.addFile('/etc/ssh/sshd_config', 'Port 22\n# admin\n');
    const report = await recoverJournal(system, JOURNAL, KEPT);
    expect(report).toEqual({ restored: [], conflicts: [{ path: '/etc/ssh/sshd_config', link: 'sshd_config.managed' }] });
    expect(system.text('/etc/ssh/sshd_config')).toBe('Port 22\n# admin\n');
  });

  test('a journal without digests (written before they were recorded) never overwrites a changed file', async () => {
    const system = new FakeSystem().addFile('/etc/ssh/sshd_config', 'admin edit\n');
    system.addFile(`${JOURNAL}/file-0`, 'Port 22\n');
    system.addFile(`${JOURNAL}/manifest.json`, JSON.stringify([{ path: '/etc/ssh/sshd_config', existed: true, mode: 0o600, uid: 0, gid: 0, copy: 'file-0' }]));
    const report = await recoverJournal(system, JOURNAL, KEPT);
    expect(report.restored).toEqual([]);
    expect(system.text('/etc/ssh/sshd_config')).toBe('admin edit\n');
    expect(system.text(`${KEPT}/etc/ssh/sshd_config`)).toBe('Port 22\n');
  });

  test('the action\'s recover step: restores, reloads a running sshd, and reports a kept file as a warning', async () => {
    const world = createWorld({ family: 'rhel-9' });
    const original = world.system.text('/etc/ssh/sshd_config');
    await interrupted(world.system);
    world.system.addFile('/etc/ssh/sshd_config.d/10-new.conf', 'X11Forwarding yes\n');
    const outcomes = (await planned.recover?.(world.context)) ?? [];
    expect(outcomes.map((outcome) => [outcome.name, outcome.result])).toEqual([
      ['sshd_recovery', 'changed'],
      ['sshd_recovery', 'warning'],
    ]);
    expect(outcomes[0]?.message).toMatch(/restored \/etc\/ssh\/sshd_config; sshd reloaded/);
    expect(outcomes[1]?.message).toMatch(/10-new\.conf \(did not exist before that run\)/);
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(original);
    expect(world.system.text('/etc/ssh/sshd_config.d/10-new.conf')).toBe('X11Forwarding yes\n');
    expect(world.reloads().map((call) => call.args.join(' '))).toEqual(['reload sshd.service']);
    // Done once: the next enable finds nothing to recover and touches nothing.
    world.system.calls.length = 0;
    expect(await planned.recover?.(world.context)).toEqual([]);
    expect(world.system.calls).toEqual([]);
  });

  test('recovery never starts a stopped sshd', async () => {
    const world = createWorld({ family: 'rhel-9', running: false });
    await interrupted(world.system);
    const outcomes = (await planned.recover?.(world.context)) ?? [];
    expect(outcomes[0]?.message).toMatch(/sshd was not reloaded: .*not running/);
    expect(world.reloads()).toEqual([]);
  });
});
