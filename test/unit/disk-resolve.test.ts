import { describe, expect, test } from 'vitest';
import { createDiskAction } from '../../src/actions/disk/disk.js';
import { createDiskBudget } from '../../src/actions/disk/disk-budget.js';
import { diskEnvironment, readDiskInventory } from '../../src/actions/disk/disk-inventory.js';
import { resolveDiskName } from '../../src/actions/disk/disk-target.js';
import { isVmaccessError } from '../../src/errors.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { BASE_MOUNTS, changingCalls, createDiskWorld, diskContext, planAndApply, planLines, repairRequest, ROOT_DISK } from '../fakes/disk-world.js';
import type { Row, WorldOptions } from '../fakes/disk-world.js';

const FSTAB = [
  'UUID=aaaa-root / ext4 defaults 0 1',
  'LABEL=BOOT /boot ext4 defaults 0 2',
  'UUID=AB12-CD34 /boot/efi vfat umask=0077 0 1',
  'UUID=1111-2222 /datadisk ext4 defaults,nofail 0 2',
  'LABEL=logs /srv/logs xfs defaults,nofail 0 2',
].join('\n');

function world(overrides: Partial<WorldOptions> = {}) {
  return createDiskWorld({
    mounts: `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw,relatime 0 0`,
    fstab: FSTAB,
    devices: ROOT_DISK,
    ...overrides,
  });
}

async function resolve(name: string, overrides: Partial<WorldOptions> = {}) {
  const system = world(overrides);
  const paths = defaultSystemPaths();
  const budget = createDiskBudget(system, 240_000);
  const inventory = await readDiskInventory(system, paths, diskEnvironment(paths), budget);
  return resolveDiskName(name, inventory, system, budget);
}

async function resolveError(name: string, overrides: Partial<WorldOptions> = {}): Promise<{ code: string; message: string }> {
  try {
    await resolve(name, overrides);
  } catch (error) {
    if (isVmaccessError(error)) return { code: error.code, message: error.statusMessage };
    throw error;
  }
  throw new Error(`expected ${name} not to resolve`);
}

describe('disk_name resolution', () => {
  test.each([
    ['sdc1', '/dev/sdc1', 'device name sdc1'],
    ['/dev/sdc1', '/dev/sdc1', 'device /dev/sdc1'],
    ['datadisk', '/dev/sdc1', "mount point /datadisk (the original extension's /<disk_name> form)"],
    ['/datadisk', '/dev/sdc1', 'mount point /datadisk'],
    ['/datadisk/', '/dev/sdc1', 'mount point /datadisk'],
    ['UUID=1111-2222', '/dev/sdc1', 'UUID=1111-2222'],
    ['UUID=1111-2222'.toUpperCase(), '/dev/sdc1', 'UUID=1111-2222'],
    ['LABEL=datadisk', '/dev/sdc1', 'LABEL=datadisk'],
    ['/dev/disk/by-uuid/1111-2222', '/dev/sdc1', 'UUID=1111-2222'],
    // Not mounted: found through fstab, by its mount point.
    ['/srv/logs', '/dev/sdd1', 'mount point /srv/logs, from /etc/fstab line 5'],
    ['sdd1', '/dev/sdd1', 'device name sdd1'],
  ])('%s -> %s', async (name, device, via) => {
    const target = await resolve(name);
    expect(target.device.path).toBe(device);
    expect(target.via).toBe(via);
  });

  test('a mounted device carries its mounts and fstab line; fstype comes from blkid when lsblk has none', async () => {
    const target = await resolve('datadisk');
    expect(target.fstype).toBe('ext4');
    expect(target.mounts.map((mount) => mount.target)).toEqual(['/datadisk']);
    expect(target.fstab?.file).toBe('/datadisk');
  });

  test('a device-mapper name resolves through its /dev/mapper path', async () => {
    const devices: Row[] = [...ROOT_DISK, { path: '/dev/mapper/vg-data', kname: '/dev/dm-0', type: 'lvm', fstype: 'xfs', uuid: 'lv-1' }];
    expect((await resolve('vg-data', { devices })).device.path).toBe('/dev/mapper/vg-data');
    expect((await resolve('/dev/dm-0', { devices })).device.path).toBe('/dev/mapper/vg-data');
    expect((await resolve('dm-0', { devices })).device.path).toBe('/dev/mapper/vg-data');
  });

  test('a udev link that is not a tag is followed with readlink -e', async () => {
    const system = world();
    system.onCommand('readlink', (call) => (call.args.at(-1) === '/dev/disk/by-id/scsi-36002248' ? { stdout: '/dev/sdc1\n' } : { exitCode: 1 }));
    const paths = defaultSystemPaths();
    const budget = createDiskBudget(system, 240_000);
    const inventory = await readDiskInventory(system, paths, diskEnvironment(paths), budget);
    expect((await resolveDiskName('/dev/disk/by-id/scsi-36002248', inventory, system, budget)).device.path).toBe('/dev/sdc1');
  });

  test('without lsblk and blkid, a mounted device is still found by name and mount point', async () => {
    const system = world();
    system.onCommand('lsblk', () => ({ exitCode: 127, started: false }));
    system.onCommand('blkid', () => ({ exitCode: 127, started: false }));
    const paths = defaultSystemPaths();
    const budget = createDiskBudget(system, 240_000);
    const inventory = await readDiskInventory(system, paths, diskEnvironment(paths), budget);
    for (const name of ['sdc1', '/dev/sdc1', 'datadisk', '/datadisk']) {
      const target = await resolveDiskName(name, inventory, system, budget);
      expect(target.device.path).toBe('/dev/sdc1');
      expect(target.fstype).toBe('ext4');
    }
    expect(inventory.notes).toEqual(['lsblk is not installed', 'blkid is not installed']);
  });

  test('/dev/root (no usable source path) is matched by device number from mountinfo', async () => {
    const system = world({ mounts: BASE_MOUNTS.replace('/dev/sda1 / ext4', '/dev/root / ext4') });
    system.addFile('/proc/self/mountinfo', '29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw,discard\n');
    const paths = defaultSystemPaths();
    const budget = createDiskBudget(system, 240_000);
    const inventory = await readDiskInventory(system, paths, diskEnvironment(paths), budget);
    const target = await resolveDiskName('sda1', inventory, system, budget);
    expect(target.mounts.map((mount) => mount.target)).toEqual(['/']);
  });

  test.each([
    ['sdz9', 'does not match any block device'],
    ['/nowhere', 'does not match any block device'],
    ['UUID=0000-0000', 'does not match any block device'],
    ['sdc', 'is a whole disk with partitions (/dev/sdc1)'],
    ['../etc', 'must be a device name'],
    ['', 'must be a device name'],
    ['/run', 'mounted from tmpfs (tmpfs), which is not a local block device'],
  ])('%j is refused with DISK_NOT_FOUND (%s)', async (name, text) => {
    const error = await resolveError(name);
    expect(error.code).toBe('DISK_NOT_FOUND');
    expect(error.message).toContain(text);
  });

  test('the not-found hint lists the filesystems there are', async () => {
    expect((await resolveError('sdz9')).message).toContain('/dev/sdc1 on /datadisk');
  });

  test('two devices with one UUID (a cloned disk) are ambiguous, not a guess', async () => {
    const devices: Row[] = [...ROOT_DISK, { path: '/dev/sde1', type: 'part', parent: '/dev/sde', fstype: 'ext4', uuid: '1111-2222' }];
    const error = await resolveError('UUID=1111-2222', { devices });
    expect(error.code).toBe('DISK_NOT_FOUND');
    expect(error.message).toContain('matches more than one device: /dev/sdc1');
    expect(error.message).toContain('/dev/sde1');
  });

  test('a bare name that is one device and the legacy mount point of another is ambiguous', async () => {
    const error = await resolveError('sdd1', { mounts: `${BASE_MOUNTS}\n/dev/sdc1 /sdd1 ext4 rw 0 0` });
    expect(error.message).toContain('matches more than one device');
  });
});

describe('repair_disk refuses what the running system needs (DISK_PROTECTED, nothing touched)', () => {
  const mounts = [
    BASE_MOUNTS,
    '/dev/sdc1 /datadisk ext4 rw,relatime 0 0',
    '/dev/sde1 /var ext4 rw 0 0',
    '/dev/sdf1 /var/lib ext4 rw 0 0',
    '/dev/sdg1 /usr ext4 rw 0 0',
    '/dev/sdh1 /var/log ext4 rw 0 0',
    '/dev/sdk1 /var/cache ext4 rw 0 0',
    '/dev/sdm1 /var/log/azure ext4 rw 0 0',
    '/dev/sdn1 /var/lib/waagent/extension-data ext4 rw 0 0',
  ].join('\n');
  const extra = (name: string): Row => ({ path: `/dev/${name}`, type: 'part', fstype: 'ext4', uuid: `u-${name}` });
  const devices: Row[] = [
    ...ROOT_DISK,
    ...['sde1', 'sdf1', 'sdg1', 'sdh1', 'sdk1', 'sdm1', 'sdn1'].map(extra),
    { path: '/dev/sdj2', type: 'part', fstype: 'swap', uuid: 'swap-1' },
    { path: '/dev/sdi1', type: 'part', fstype: 'swap', uuid: 'swap-2' },
    extra('sdl1'),
  ];
  const fstab = `${FSTAB}\nUUID=u-sdl1 /boot/efi2 ext4 defaults 0 0\n/dev/sdl1 /etc ext4 defaults 0 0\n`;

  test.each([
    ['/', 'the root filesystem'],
    ['sda1', 'the root filesystem'],
    ['UUID=aaaa-root', 'the root filesystem'],
    ['/boot', 'mounted at /boot'],
    ['boot', 'mounted at /boot'],
    ['/boot/efi', 'mounted at /boot/efi'],
    ['/var', 'mounted at /var'],
    ['/usr', 'mounted at /usr'],
    ['/var/lib', 'holds /var/lib/waagent (the guest agent and this handler)'],
    ['/var/log', 'holds /var/log (the logs)'],
    ['/var/cache', "holds /var/cache/vmaccess (vmaccess's saved state)"],
    ['/var/log/azure', 'at /var/log/azure holds part of /var/log (the logs)'],
    ['sdn1', 'holds part of /var/lib/waagent (the guest agent and this handler)'],
    ['sdi1', 'is in use as swap'],
    ['sdj2', 'is a swap area'],
    // Not mounted now, but fstab mounts it at /etc at boot.
    ['sdl1', 'mounted at /etc'],
  ])('%s: %s', async (name, reason) => {
    const system = createDiskWorld({ mounts, fstab, devices, swaps: 'Filename\tType\tSize\tUsed\tPriority\n/dev/sdi1  partition\t1048572\t0\t-2\n' });
    const outcomes = await planAndApply(createDiskAction(), repairRequest(name), diskContext(system));
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ result: 'failed', code: 'DISK_PROTECTED' });
    expect(outcomes[0]?.message).toContain(reason);
    expect(outcomes[0]?.message).toContain('Nothing was touched');
    expect(changingCalls(system)).toEqual([]);
  });

  test('the plan says it would refuse, and runs nothing that changes anything', async () => {
    const system = createDiskWorld({ mounts, fstab, devices });
    const lines = await planLines(createDiskAction(), repairRequest('/'), diskContext(system));
    expect(lines).toEqual([
      'disk:/dev/sda1: unchanged: would fail: [DISK_PROTECTED] repair_disk refused: /dev/sda1 is the root filesystem, which the running system needs. Nothing was touched.',
      'note: disk_name resolves to /dev/sda1 (ext4) via mount point /',
    ]);
    expect(changingCalls(system)).toEqual([]);
  });
});
