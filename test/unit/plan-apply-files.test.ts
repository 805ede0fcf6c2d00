import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import type { PlannedAction } from '../../src/actions/action.js';
import { publicPlan, renderPlan } from '../../src/actions/plan.js';
import type { ActionContext, ActionPlan, StepOutcome } from '../../src/actions/plan.js';
import { createUserAction } from '../../src/actions/accounts/user.js';
import { createDiskAction } from '../../src/actions/disk/disk.js';
import type { AccountRequest, VmaccessRequest } from '../../src/settings/request.js';
import { BASE_MOUNTS, checkRequest, createDiskWorld, diskContext, repairRequest, ROOT_DISK } from '../fakes/disk-world.js';
import type { FakeSystem } from '../fakes/fake-system.js';
import { createFakeMachine } from '../fakes/user-fake-tools.js';
import { generateTestKeys } from '../fakes/user-test-keys.js';
import type { TestKeys } from '../fakes/user-test-keys.js';

/**
 * The promise of a plan: apply changes exactly the files it lists. For each request type,
 * every file's bytes are snapshotted before and after apply; the paths that changed must
 * be the planned paths, and where vmaccess writes a file itself (not useradd and friends)
 * the bytes after apply must have the planned digest.
 */

let keys: TestKeys;
beforeAll(() => {
  keys = generateTestKeys();
}, 60_000);

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Every regular file's digest. /proc is the kernel's state (the fake's mount table), not a file anyone writes. */
function snapshotFiles(system: FakeSystem): Map<string, string> {
  const files = new Map<string, string>();
  for (const [file, node] of system.nodes) {
    if (node.type === 'file' && !file.startsWith('/proc/')) files.set(file, sha256(node.data));
  }
  return files;
}

function changedFiles(before: Map<string, string>, after: Map<string, string>): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((file) => before.get(file) !== after.get(file)).sort();
}

/** A changed file is accounted for by its own entry, or by a directory entry a program removes as a whole (userdel --remove). */
function plannedFor(plan: ActionPlan, file: string): string | undefined {
  return plan.files.find((entry) => entry.path === file || (entry.writtenBy !== undefined && entry.after === null && file.startsWith(`${entry.path}/`)))?.path;
}

interface Run {
  plan: ActionPlan;
  outcomes: StepOutcome[];
}

async function planAndApply(action: PlannedAction, request: VmaccessRequest, context: ActionContext, system: FakeSystem): Promise<Run> {
  const plan = await action.plan(request, context);
  // Planning itself changes nothing.
  const before = snapshotFiles(system);
  const outcomes = await action.apply(plan, context);
  const after = snapshotFiles(system);
  const changed = changedFiles(before, after);
  // Every changed file was planned, and every planned path changed.
  expect(changed.map((file) => plannedFor(plan, file))).not.toContain(undefined);
  expect([...new Set(changed.map((file) => plannedFor(plan, file)))].sort()).toEqual(plan.files.map((entry) => entry.path).sort());
  for (const entry of plan.files) {
    if (entry.writtenBy !== undefined) continue;
    expect(after.get(entry.path) ?? null, entry.path).toBe(entry.after);
    expect(before.get(entry.path) ?? null, entry.path).toBe(entry.before);
  }
  expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
  return { plan, outcomes };
}

function accountRequest(account: Partial<AccountRequest> & { username: string }): VmaccessRequest {
  return { account: { removePriorKeys: false, passwordless: false, ...account }, resetSsh: false, restoreBackupSsh: false, warnings: [] };
}

describe('user: apply changes exactly the files the plan lists', () => {
  test('new user with a key: passwd and shadow by useradd, the predicted key file, the sudoers drop-in', async () => {
    const machine = createFakeMachine();
    const { plan } = await planAndApply(createUserAction(), accountRequest({ username: 'alice', sshKey: keys.ed25519.text }), machine.context, machine.system);
    expect(plan.files.map((entry) => [entry.path, entry.writtenBy])).toEqual([
      ['/etc/passwd', 'useradd'],
      ['/etc/shadow', 'useradd'],
      ['/home/alice/.ssh/authorized_keys', undefined],
      ['/etc/sudoers.d/waagent', undefined],
    ]);
    expect(plan.commands.map((command) => command.argv.join(' '))).toEqual(['useradd --create-home -- alice']);
    expect(plan.notes.join('\n')).toContain('/home/alice/.ssh/authorized_keys is a prediction');
  });

  test('existing user, new password: shadow by chpasswd and the sudoers line; no secret in the public plan', async () => {
    const machine = createFakeMachine();
    const { plan } = await planAndApply(createUserAction(), accountRequest({ username: 'azureuser', password: 'N3w-Secret!' }), machine.context, machine.system);
    expect(plan.files.map((entry) => [entry.path, entry.writtenBy])).toEqual([
      ['/etc/shadow', 'chpasswd'],
      ['/etc/sudoers.d/waagent', undefined],
    ]);
    expect(JSON.stringify(publicPlan(plan))).not.toContain('N3w-Secret!');
    expect(renderPlan(plan).join('\n')).not.toContain('N3w-Secret!');
  });

  test('key with remove_prior_keys: authorized_keys and authorized_keys2, nothing else', async () => {
    const machine = createFakeMachine();
    machine.system.addDir('/home/azureuser/.ssh', 0o700, 1000, 1000);
    machine.system.addFile('/home/azureuser/.ssh/authorized_keys', `${keys.rsa.text}\n`, { mode: 0o600, uid: 1000, gid: 1000 });
    machine.system.addFile('/home/azureuser/.ssh/authorized_keys2', `${keys.ecdsa256.text}\n`, { mode: 0o600, uid: 1000, gid: 1000 });
    const { plan } = await planAndApply(
      createUserAction(),
      accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, removePriorKeys: true }),
      machine.context,
      machine.system,
    );
    expect(plan.files.map((entry) => entry.path)).toEqual(['/home/azureuser/.ssh/authorized_keys', '/home/azureuser/.ssh/authorized_keys2']);
  });

  test('expiration of an existing user: shadow by usermod (and the new key)', async () => {
    const machine = createFakeMachine();
    const { plan } = await planAndApply(
      createUserAction(),
      accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, expiration: '2030-12-31' }),
      machine.context,
      machine.system,
    );
    expect(plan.files.map((entry) => [entry.path, entry.writtenBy])).toEqual([
      ['/etc/shadow', 'usermod'],
      ['/home/azureuser/.ssh/authorized_keys', undefined],
    ]);
    expect(plan.commands.map((command) => command.argv.join(' '))).toEqual(['usermod --expiredate 2030-12-31 -- azureuser']);
  });

  test('remove_user: passwd and shadow by userdel, the home as a whole, the sudoers line', async () => {
    const machine = createFakeMachine();
    machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}bob:x:1001:1001::/home/bob:/bin/bash\n`);
    machine.system.addFile('/etc/shadow', `${machine.system.text('/etc/shadow') ?? ''}bob:!:20000:0:99999:7:::\n`, { mode: 0o640, gid: 42 });
    machine.system.addDir('/home/bob', 0o700, 1001, 1001);
    machine.system.addFile('/home/bob/.profile', 'PATH=$PATH\n', { uid: 1001, gid: 1001 });
    machine.system.addFile('/etc/sudoers.d/waagent', 'azureuser ALL=(ALL) NOPASSWD: ALL\nbob ALL=(ALL) ALL\n', { mode: 0o440 });
    const request: VmaccessRequest = { removeUser: 'bob', resetSsh: false, restoreBackupSsh: false, warnings: [] };
    const { plan } = await planAndApply(createUserAction(), request, machine.context, machine.system);
    expect(plan.files.map((entry) => [entry.path, entry.writtenBy])).toEqual([
      ['/etc/passwd', 'userdel'],
      ['/etc/shadow', 'userdel'],
      ['/home/bob', 'userdel --remove'],
      ['/etc/sudoers.d/waagent', undefined],
    ]);
  });
});

describe('disk: apply changes no file and runs the commands the plan lists', () => {
  const MOUNTED = `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw,noatime,seclabel,errors=remount-ro 0 0`;

  test('check_disk', async () => {
    const system = createDiskWorld({ mounts: MOUNTED, devices: ROOT_DISK });
    system.onCommand('dumpe2fs', () => ({ stdout: 'Filesystem state:         clean\n' }));
    const { plan } = await planAndApply(createDiskAction(), checkRequest(), diskContext(system), system);
    expect(plan.files).toEqual([]);
    const planned = plan.commands.map((command) => command.argv.join(' '));
    const checkers = system.calls.filter((call) => ['dumpe2fs', 'e2fsck', 'xfs_repair', 'xfs_spaceman', 'fsck', 'btrfs'].includes(call.file));
    expect(checkers.length).toBeGreaterThan(0);
    for (const call of checkers) expect(planned).toContain([call.file, ...call.args].join(' '));
  });

  test('repair_disk', async () => {
    const system = createDiskWorld({ mounts: MOUNTED, devices: ROOT_DISK });
    system.onCommand('e2fsck', (call) => (call.args.includes('-y') ? { exitCode: 1, stdout: 'FILE SYSTEM WAS MODIFIED\n' } : { exitCode: 0 }));
    const { plan, outcomes } = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system), system);
    expect(outcomes).toMatchObject([{ name: 'disk:/dev/sdc1', result: 'changed' }]);
    expect(plan.files).toEqual([]);
    const planned = plan.commands.map((command) => command.argv.join(' '));
    const ran = system.calls.filter((call) => ['umount', 'mount', 'e2fsck'].includes(call.file)).map((call) => [call.file, ...call.args].join(' '));
    expect(ran).toEqual(['umount /datadisk', 'e2fsck -f -y /dev/sdc1', 'e2fsck -f -n /dev/sdc1', 'mount -t ext4 -o rw,noatime,errors=remount-ro /dev/sdc1 /datadisk']);
    for (const command of ran) expect(planned).toContain(command);
  });
});
