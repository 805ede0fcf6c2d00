import { describe, expect, test } from 'vitest';
import { createDiskAction } from '../../src/actions/disk/disk.js';
import { BASE_MOUNTS, changingCalls, checkRequest, createDiskWorld, diskContext, planAndApply, planLines, ROOT_DISK } from '../fakes/disk-world.js';
import type { Row } from '../fakes/disk-world.js';

const CLEAN_SB = 'Filesystem state:         clean\nErrors behavior:          Continue\n';
const ERRORS_SB =
  'Filesystem state:         clean with errors\nFS Error count:           2\nLast error time:          Sun Nov 29 14:26:15 2026\nLast error function:      ext4_lookup\nLast error inode #:       2\nLast error err:           EFSCORRUPTED\n';

const FSTAB = [
  'UUID=aaaa-root / ext4 defaults 0 1',
  'UUID=1111-2222 /datadisk ext4 defaults,nofail 0 2',
  'LABEL=logs /srv/logs xfs defaults,nofail 0 2',
  '/dev/sdb2 none swap sw 0 0',
  'server:/export /mnt/nfs nfs4 defaults 0 0',
  'tmpfs /tmp tmpfs defaults 0 0',
  'UUID=gone-9999 /archive ext4 defaults,nofail 0 2',
].join('\n');

function world(options: { dmesg?: string; devices?: Row[]; mounts?: string } = {}) {
  const system = createDiskWorld({
    mounts: options.mounts ?? `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw,relatime 0 0`,
    fstab: FSTAB,
    devices: options.devices ?? ROOT_DISK,
    ...(options.dmesg === undefined ? {} : { dmesg: options.dmesg }),
  });
  system.onCommand('dumpe2fs', () => ({ stdout: CLEAN_SB }));
  system.onCommand('xfs_repair', () => ({ exitCode: 0, stdout: 'Phase 1 - find and verify superblock...\nNo modify flag set, skipping filesystem flush and exiting.\n' }));
  return system;
}

describe('check_disk', () => {
  test('one substatus per local filesystem, a summary, and nothing changed', async () => {
    const system = world();
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.map((outcome) => [outcome.name, outcome.result])).toEqual([
      ['disk:/dev/sda1', 'unchanged'],
      ['disk:/dev/sda16', 'unchanged'],
      ['disk:/dev/sda15', 'skipped'],
      ['disk:/dev/sdb1', 'unchanged'],
      ['disk:/dev/sdc1', 'unchanged'],
      ['disk:/dev/sdd1', 'unchanged'],
      ['disk:UUID=gone-9999', 'skipped'],
      ['disk', 'unchanged'],
    ]);
    const byName = new Map(outcomes.map((outcome) => [outcome.name, outcome.message]));
    expect(byName.get('disk:/dev/sda1')).toBe(
      '/dev/sda1 (ext4, mounted at /, root filesystem): clean: superblock state clean, 0 errors recorded; no errors in the kernel log; mounted, so not checked with fsck (superblock and kernel counters only).',
    );
    // The mounted vfat ESP: nothing safe to read without unmounting it.
    expect(byName.get('disk:/dev/sda15')).toContain('could not check: mounted, so not checked with fsck and nothing safe to read for vfat');
    expect(byName.get('disk:/dev/sdd1')).toBe(
      '/dev/sdd1 (xfs, not mounted (fstab: /srv/logs)): clean: xfs_repair -n: clean (exit 0).',
    );
    expect(byName.get('disk:UUID=gone-9999')).toContain('UUID=gone-9999 is in fstab but no device matches it');
    expect(byName.get('disk')).toBe(
      'check_disk: 7 local filesystems, 5 clean, 0 with errors, 2 could not be checked (/dev/sda15, UUID=gone-9999); skipped read-only media: /dev/loop3 on /snap/core20/2015; swap: /dev/sdb2; network filesystem: server:/export on /mnt/nfs. Nothing was changed.',
    );
    expect(changingCalls(system)).toEqual([]);
    // Every command is bounded by the 240 s budget.
    expect(system.calls.every((call) => typeof call.timeoutMs === 'number' && call.timeoutMs > 0 && call.timeoutMs <= 240_000)).toBe(true);
    // Mounted filesystems never see fsck; unmounted ones only read-only checkers.
    expect(system.commandsRun('e2fsck')).toEqual([]);
    expect(system.commandsRun('xfs_repair').map((call) => call.args)).toEqual([['-n', '/dev/sdd1']]);
  });

  test('many snaps: the skipped list is grouped and shortened', async () => {
    const snaps = Array.from({ length: 12 }, (_, index) => `/dev/loop${index + 10} /snap/app${index}/1 squashfs ro,nodev,relatime 0 0`);
    const system = world({ mounts: `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw 0 0\n${snaps.join('\n')}` });
    const summary = (await planAndApply(createDiskAction(), checkRequest(), diskContext(system))).at(-1)?.message ?? '';
    expect(summary).toContain('read-only media: /dev/loop3 on /snap/core20/2015, /dev/loop10 on /snap/app0/1, /dev/loop11 on /snap/app1/1 and 10 more');
  });

  test('a mounted ext4 with recorded errors, kernel log lines and the sysfs counter: errors found, still success', async () => {
    const system = world({ dmesg: '[  5.1] EXT4-fs error (device sdc1): ext4_lookup:1789: inode #2: comm ls: deleted inode referenced: 12\n' });
    system.onCommand((call) => call.file === 'dumpe2fs' && call.args.includes('/dev/sdc1'), () => ({ stdout: ERRORS_SB }));
    system.addFile('/sys/fs/ext4/sdc1/errors_count', '2\n');
    system.addFile('/sys/block/sdc/device/ioerr_cnt', '0x3\n');
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    const sdc = outcomes.find((outcome) => outcome.name === 'disk:/dev/sdc1');
    expect(sdc?.result).toBe('unchanged');
    expect(sdc?.message).toContain('/dev/sdc1 (ext4, mounted at /datadisk): errors found: superblock state clean with errors, 2 errors recorded, last error Sun Nov 29 14:26:15 2026: ext4_lookup, inode 2, EFSCORRUPTED');
    expect(sdc?.message).toContain('kernel error counter 2');
    expect(sdc?.message).toContain('kernel log: 1 error line, last: EXT4-fs error (device sdc1)');
    expect(sdc?.message).toContain('3 I/O errors on sdc since boot');
    const summary = outcomes.at(-1);
    expect(summary).toMatchObject({ name: 'disk', result: 'unchanged' });
    expect(summary?.message).toContain('1 with errors (/dev/sdc1)');
    // A person must act: the device's step carries the repair_disk request that fixes it.
    expect(sdc?.warning).toBe('check_disk found errors on /dev/sdc1: run repair_disk with disk_name "/dev/sdc1"');
    expect(outcomes.filter((outcome) => outcome.warning !== undefined).map((outcome) => outcome.name)).toEqual(['disk:/dev/sdc1']);
  });

  test('an unmounted ext4 is checked with e2fsck -f -n and its findings reported', async () => {
    const system = world({ mounts: BASE_MOUNTS });
    system.onCommand('e2fsck', (call) => {
      expect(call.args).toEqual(['-f', '-n', '/dev/sdc1']);
      return { exitCode: 4, stdout: "Entry 'dir' in / (2) has deleted/unused inode 12.  Clear? no\n" };
    });
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.find((outcome) => outcome.name === 'disk:/dev/sdc1')?.message).toBe(
      "/dev/sdc1 (ext4, not mounted (fstab: /datadisk)): errors found: e2fsck -f -n: errors found (exit 4); Entry 'dir' in / (2) has deleted/unused inode 12.",
    );
    expect(changingCalls(system)).toEqual([]);
  });

  test('an ext4 whose journal needs recovery: -n cannot replay it, and the message says findings may be spurious', async () => {
    const system = world({ mounts: BASE_MOUNTS });
    system.onCommand('e2fsck', () => ({ exitCode: 4, stdout: 'Warning: skipping journal recovery because doing a read-only filesystem check.\nFree blocks count wrong (56001, counted=56002).\nFix? no\n' }));
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.find((outcome) => outcome.name === 'disk:/dev/sdc1')?.message).toContain(
      'errors found: e2fsck -f -n: errors found (exit 4); Free blocks count wrong (56001, counted=56002).; the journal needs recovery and was not replayed',
    );
  });

  test('a checker that cannot run says why; the rest is still checked', async () => {
    const system = world({ mounts: BASE_MOUNTS });
    system.onCommand('e2fsck', () => ({ exitCode: 8, stderr: 'e2fsck: No such file or directory while trying to open /dev/sdc1' }));
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    const sdc = outcomes.find((outcome) => outcome.name === 'disk:/dev/sdc1');
    expect(sdc).toMatchObject({ result: 'skipped' });
    expect(sdc?.message).toContain('could not check: e2fsck -f -n: checker did not complete: operational error (exit 8)');
    expect(outcomes.at(-1)?.result).toBe('unchanged');
  });

  test('an unmounted xfs with corruption: errors found', async () => {
    const system = world();
    system.onCommand('xfs_repair', () => ({ exitCode: 1, stdout: 'disconnected inode 151, would move to lost+found\n' }));
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.find((outcome) => outcome.name === 'disk:/dev/sdd1')?.message).toContain(
      'errors found: xfs_repair -n: corruption found (exit 1); disconnected inode 151, would move to lost+found',
    );
  });

  test('a mounted xfs: the kernel health report, no xfs_repair', async () => {
    const system = world({ mounts: `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw 0 0\n/dev/sdd1 /srv/logs xfs rw 0 0` });
    system.onCommand('xfs_spaceman', (call) => {
      expect(call.args).toEqual(['-c', 'health', '/srv/logs']);
      return { exitCode: 0, stdout: 'filesystem summary counters: unhealthy\n' };
    });
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.find((outcome) => outcome.name === 'disk:/dev/sdd1')?.message).toContain(
      'errors found: kernel health report: filesystem summary counters: unhealthy',
    );
    expect(system.commandsRun('xfs_repair')).toEqual([]);
  });

  test('no dmesg: the check still runs and says the kernel log was not read', async () => {
    const system = world();
    system.onCommand('dmesg', () => ({ exitCode: 1, stderr: 'dmesg: read kernel buffer failed: Operation not permitted' }));
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.find((outcome) => outcome.name === 'disk:/dev/sdc1')?.message).toContain('kernel log not checked (dmesg is not readable)');
  });

  test('no filesystem could be checked at all: DISK_CHECK_FAILED', async () => {
    const system = createDiskWorld({ mounts: 'proc /proc proc rw 0 0\n/dev/sde1 /data f2fs rw 0 0', devices: [{ path: '/dev/sde1', fstype: 'f2fs' }] });
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.at(-1)).toMatchObject({ name: 'disk', result: 'failed', code: 'DISK_CHECK_FAILED' });
  });

  test('no mount table: DISK_CHECK_FAILED and nothing run', async () => {
    const system = createDiskWorld({ mounts: '', devices: [] });
    await system.remove('/proc/self/mounts');
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes).toEqual([{ name: 'disk', result: 'failed', code: 'DISK_CHECK_FAILED', message: 'The mount table /proc/self/mounts does not exist. Is /proc mounted?' }]);
    expect(system.calls).toEqual([]);
  });

  test('without lsblk, blkid alone is enough', async () => {
    const system = world();
    system.onCommand('lsblk', () => ({ exitCode: 127, started: false }));
    const outcomes = await planAndApply(createDiskAction(), checkRequest(), diskContext(system));
    expect(outcomes.find((outcome) => outcome.name === 'disk:/dev/sdc1')?.result).toBe('unchanged');
    expect(outcomes.at(-1)?.message).toContain('note: lsblk is not installed');
  });

  test('plan lists what would be checked and how, and runs no checker', async () => {
    const system = world();
    const lines = await planLines(createDiskAction(), checkRequest(), diskContext(system));
    expect(lines).toContain(
      'disk:/dev/sdc1: unchanged: would check /dev/sdc1 (ext4, mounted at /datadisk): superblock state and error counters (dumpe2fs -h), kernel log; no fsck because it is mounted',
    );
    expect(lines).toContain('disk:/dev/sdd1: unchanged: would check /dev/sdd1 (xfs, not mounted (fstab: /srv/logs)) read-only: xfs_repair -n /dev/sdd1');
    expect(lines).toContain('note: would skip /dev/sdb2 (swap)');
    expect(system.calls.map((call) => call.file)).toEqual(['lsblk', 'blkid']);
  });
});
