import { describe, expect, test } from 'vitest';
import { createDiskAction } from '../../src/actions/disk/disk.js';
import { BASE_MOUNTS, changingCalls, createDiskWorld, diskContext, planAndApply, planLines, repairRequest, ROOT_DISK } from '../fakes/disk-world.js';
import type { Row } from '../fakes/disk-world.js';

const MOUNTED = `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw,noatime,seclabel,errors=remount-ro 0 0`;
const FSTAB = 'UUID=1111-2222 /datadisk ext4 defaults,nofail 0 2\nLABEL=logs /srv/logs xfs defaults,nofail 0 2\n';

const E2FSCK_FIXED = "Pass 2: Checking directory structure\nEntry 'dir' in / (2) has deleted/unused inode 12.  Clear? yes\n\nInode 2 ref count is 4, should be 3.  Fix? yes\n\n/dev/sdc1: ***** FILE SYSTEM WAS MODIFIED *****\n";

function mountedWorld() {
  return createDiskWorld({ mounts: MOUNTED, fstab: FSTAB, devices: ROOT_DISK });
}

function mountLine(system: ReturnType<typeof mountedWorld>, target: string): string | undefined {
  return system.text('/proc/self/mounts')?.split('\n').find((line) => line.split(' ')[1] === target);
}

describe('repair_disk on ext4', () => {
  test('unmounts, repairs, verifies, mounts again with the same options; reports what was fixed', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', (call) => {
      // The device must be unmounted whenever e2fsck runs.
      expect(mountLine(system, '/datadisk')).toBeUndefined();
      return call.args.includes('-y') ? { exitCode: 1, stdout: E2FSCK_FIXED } : { exitCode: 0 };
    });
    const outcomes = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(outcomes).toHaveLength(1);
    const [outcome] = outcomes;
    expect(outcome).toMatchObject({ name: 'disk:/dev/sdc1', result: 'changed' });
    expect(outcome?.message).toContain("disk_name resolved to /dev/sdc1 (ext4) via mount point /datadisk (the original extension's /<disk_name> form).");
    expect(outcome?.message).toContain('Unmounted /datadisk.');
    expect(outcome?.message).toContain("e2fsck -f -y: errors corrected (exit 1): Entry 'dir' in / (2) has deleted/unused inode 12.; Inode 2 ref count is 4, should be 3.");
    expect(outcome?.message).toContain('verification e2fsck -f -n: clean (exit 0)');
    expect(outcome?.message).toContain('Mounted again at /datadisk (rw,noatime,errors=remount-ro).');
    expect(outcome?.message).toContain('Errors were found and corrected.');
    expect(system.commandsRun('e2fsck').map((call) => call.args)).toEqual([
      ['-f', '-y', '/dev/sdc1'],
      ['-f', '-n', '/dev/sdc1'],
    ]);
    // seclabel is only displayed by the kernel (SELinux), never passed back to mount.
    expect(system.commandsRun('mount').map((call) => call.args)).toEqual([['-t', 'ext4', '-o', 'rw,noatime,errors=remount-ro', '/dev/sdc1', '/datadisk']]);
    expect(mountLine(system, '/datadisk')).toBe('/dev/sdc1 /datadisk ext4 rw,noatime,errors=remount-ro 0 0');
  });

  test('a clean filesystem: nothing changed, still unmounted and mounted again', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', () => ({ exitCode: 0 }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('/dev/sdc1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'unchanged' });
    expect(outcome?.message).toContain('No errors were found; nothing was changed.');
    expect(system.commandsRun('e2fsck')).toHaveLength(1);
    expect(mountLine(system, '/datadisk')).toBeDefined();
  });

  test('errors e2fsck cannot fix: a second pass, then DISK_REPAIR_FAILED, and it is mounted again as it was', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', (call) => ({ exitCode: 4, stdout: call.args.includes('-y') ? 'Fix? no\n' : '' }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('e2fsck -f -y (pass 2): errors left uncorrected (exit 4)');
    expect(outcome?.message).toContain('Problems remain');
    expect(system.commandsRun('e2fsck').filter((call) => call.args.includes('-y'))).toHaveLength(2);
    expect(mountLine(system, '/datadisk')).toBeDefined();
  });

  test('a repair cut off by the time budget leaves the filesystem unmounted and says so', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', () => ({ exitCode: 124, timedOut: true }));
    const [outcome] = await planAndApply(createDiskAction({ budgetMs: 100_000 }), repairRequest('sdc1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('time budget (100 s');
    expect(outcome?.message).toContain('It was left unmounted (it was mounted at /datadisk).');
    expect(mountLine(system, '/datadisk')).toBeUndefined();
    // The repair tool's timeout leaves 30 s of the budget for the remount.
    expect(system.commandsRun('e2fsck')[0]?.timeoutMs).toBe(70_000);
    // Every command the action ran was bounded.
    expect(system.calls.every((call) => typeof call.timeoutMs === 'number' && call.timeoutMs <= 100_000)).toBe(true);
  });

  test('e2fsck that cannot run (exit 8) changes nothing, and the mount is put back', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', () => ({ exitCode: 8, stderr: 'e2fsck: Device or resource busy while trying to open /dev/sdc1' }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('operational error');
    expect(mountLine(system, '/datadisk')).toBeDefined();
  });

  test('a filesystem that was not mounted is repaired and left unmounted', async () => {
    const system = createDiskWorld({ mounts: BASE_MOUNTS, fstab: FSTAB, devices: ROOT_DISK });
    system.onCommand('e2fsck', (call) => ({ exitCode: call.args.includes('-y') ? 1 : 0 }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'changed' });
    expect(outcome?.message).toContain('via mount point /datadisk');
    expect(outcome?.message).toContain('It was not mounted before and was left unmounted.');
    expect(system.commandsRun('umount')).toEqual([]);
    expect(system.commandsRun('mount')).toEqual([]);
  });

  test('when the recorded options are refused, the fstab options are tried next', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', () => ({ exitCode: 0 }));
    system.onCommand(
      (call) => call.file === 'mount' && call.args.includes('rw,noatime,errors=remount-ro'),
      () => ({ exitCode: 32, stderr: 'mount: /datadisk: wrong fs type, bad option' }),
    );
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome?.message).toContain('Mounted again at /datadisk (defaults,nofail from fstab).');
    expect(mountLine(system, '/datadisk')).toContain('defaults,nofail');
  });

  test('a read-only mount is never put back writable, even by the last-resort attempt', async () => {
    const system = createDiskWorld({ mounts: `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 ro,relatime,weird=1 0 0`, devices: ROOT_DISK });
    system.onCommand('e2fsck', () => ({ exitCode: 0 }));
    system.onCommand(
      (call) => call.file === 'mount' && call.args.includes('ro,relatime,weird=1'),
      () => ({ exitCode: 32, stderr: 'mount: /datadisk: wrong fs type, bad option' }),
    );
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome?.message).toContain('Mounted again at /datadisk (ro with default options).');
    expect(system.commandsRun('mount').map((call) => call.args)).toEqual([
      ['-t', 'ext4', '-o', 'ro,relatime,weird=1', '/dev/sdc1', '/datadisk'],
      ['-t', 'ext4', '-o', 'ro', '/dev/sdc1', '/datadisk'],
    ]);
  });

  test('nosuid,nodev,noexec survive every fallback; when no attempt keeps them it stays unmounted and says so', async () => {
    const system = createDiskWorld({ mounts: `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw,nosuid,nodev,noexec,relatime,weird=1 0 0`, fstab: FSTAB, devices: ROOT_DISK });
    system.onCommand('e2fsck', () => ({ exitCode: 0 }));
    // The recorded options are refused; anything that still carries the restrictions is refused too.
    system.onCommand(
      (call) => call.file === 'mount' && call.args.some((arg) => arg.includes('noexec')),
      () => ({ exitCode: 32, stderr: 'mount: /datadisk: wrong fs type, bad option' }),
    );
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    const attempts = system.commandsRun('mount').map((call) => call.args);
    expect(attempts.length).toBeGreaterThan(1);
    for (const args of attempts) expect(args.join(' ')).toMatch(/-o \S*nosuid\S*/);
    for (const args of attempts) expect(args.join(' ')).toMatch(/-o (?=\S*nodev)(?=\S*noexec)\S+/);
    expect(attempts.at(-1)).toEqual(['-t', 'ext4', '-o', 'nosuid,nodev,noexec', '/dev/sdc1', '/datadisk']);
    expect(mountLine(system, '/datadisk')).toBeUndefined();
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('left unmounted');
    expect(outcome?.message).toContain('never without nosuid,nodev,noexec');
  });

  test('another filesystem mounted on top of its mount point: refused, nothing unmounted', async () => {
    // sdd1 was mounted over /datadisk after sdc1: umount /datadisk would take sdd1 off.
    const system = createDiskWorld({ mounts: `${BASE_MOUNTS}\n/dev/sdc1 /datadisk ext4 rw,relatime 0 0\n/dev/sdd1 /datadisk xfs rw,relatime 0 0`, devices: ROOT_DISK });
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_BUSY' });
    expect(outcome?.message).toContain('mounted on top of it (/dev/sdd1 on /datadisk)');
    expect(system.commandsRun('umount')).toEqual([]);
    expect(system.commandsRun('e2fsck')).toEqual([]);
  });

  test('the target mounted on top of another filesystem is the one umount takes off: repaired', async () => {
    const system = createDiskWorld({ mounts: `${BASE_MOUNTS}\n/dev/sdd1 /datadisk xfs rw,relatime 0 0\n/dev/sdc1 /datadisk ext4 rw,relatime 0 0`, devices: ROOT_DISK });
    system.onCommand('e2fsck', () => ({ exitCode: 0 }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome?.result).not.toBe('failed');
    expect(system.commandsRun('umount').map((call) => call.args)).toEqual([['/datadisk']]);
  });

  test('if it cannot be mounted again, the outcome is a failure that says where', async () => {
    const system = mountedWorld();
    system.onCommand('e2fsck', () => ({ exitCode: 0 }));
    system.onCommand('mount', () => ({ exitCode: 32, stderr: 'mount: /datadisk: mount point does not exist.' }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdc1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('could not mount /dev/sdc1 at /datadisk again: mount: /datadisk: mount point does not exist.');
  });
});

describe('busy filesystems', () => {
  function busyWorld() {
    const system = mountedWorld();
    system.onCommand('umount', () => ({ exitCode: 32, stderr: 'umount: /datadisk: target is busy.' }));
    system.addFile('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\nazureuser:x:1000:1000::/home/azureuser:/bin/bash\n');
    system.addFile('/proc/812/comm', 'bash\n').addFile('/proc/812/status', 'Name:\tbash\nUid:\t1000\t1000\t1000\t1000\n');
    system.addFile('/proc/900/comm', 'tail\n').addFile('/proc/900/status', 'Name:\ttail\nUid:\t0\t0\t0\t0\n');
    system.addFile('/proc/950/comm', 'python3\n').addFile('/proc/950/status', 'Name:\tpython3\nUid:\t0\t0\t0\t0\n');
    return system;
  }

  test('umount busy: names the processes (fuser pids, /proc links for what they use) and changes nothing', async () => {
    const system = busyWorld();
    // fuser puts the pids on stdout and the rest on stderr; 950 only maps a library from it.
    system.onCommand('fuser', (call) => {
      expect(call.args).toEqual(['-m', '/datadisk']);
      return { exitCode: 0, stdout: '   812   900   950', stderr: '/datadisk:            c    f    m' };
    });
    system.onCommand('find', (call) => {
      expect(call.args).toContain('/datadisk/*');
      return { exitCode: 1, stdout: '/proc/812/cwd\n/proc/812/fd/3\n/proc/900/fd/7\n', stderr: "find: '/proc/901/fd': No such file or directory\n" };
    });
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(outcome).toMatchObject({ name: 'disk:/dev/sdc1', result: 'failed', code: 'DISK_BUSY' });
    expect(outcome?.message).toContain(
      '/datadisk cannot be unmounted: it is busy, in use by bash (pid 812, azureuser, cwd/open file), tail (pid 900, root, open file), python3 (pid 950, root). Nothing was repaired.',
    );
    expect(changingCalls(system).map((call) => call.file)).toEqual(['umount']);
    expect(mountLine(system, '/datadisk')).toBeDefined();
  });

  test('without fuser the holders still come from /proc links', async () => {
    const system = busyWorld();
    system.onCommand('fuser', () => ({ exitCode: 127, started: false }));
    system.onCommand('find', () => ({ exitCode: 0, stdout: '/proc/812/cwd\n' }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(outcome?.code).toBe('DISK_BUSY');
    expect(outcome?.message).toContain('in use by bash (pid 812, azureuser, cwd). Nothing was repaired.');
  });

  test('with neither fuser nor find it still refuses and says it cannot name them', async () => {
    const system = mountedWorld();
    system.onCommand('umount', () => ({ exitCode: 32, stderr: 'umount: /datadisk: target is busy.' }));
    system.onCommand('fuser', () => ({ exitCode: 127, started: false }));
    system.onCommand('find', () => ({ exitCode: 127, started: false }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(outcome?.code).toBe('DISK_BUSY');
    expect(outcome?.message).toContain('the processes cannot be named');
  });

  test('several mounts of one device: when a later one is busy, the ones already unmounted are mounted again', async () => {
    const system = createDiskWorld({
      mounts: `${MOUNTED}\n/dev/sdc1 /srv/web ext4 rw,noatime 0 0`,
      fstab: FSTAB,
      devices: ROOT_DISK,
    });
    system.addFile(
      '/proc/self/mountinfo',
      '90 29 8:33 / /datadisk rw,noatime - ext4 /dev/sdc1 rw\n91 29 8:33 /www /srv/web rw,noatime - ext4 /dev/sdc1 rw\n',
    );
    const world = system;
    world.onCommand(
      (call) => call.file === 'umount' && call.args.at(-1) === '/datadisk',
      () => ({ exitCode: 32, stderr: 'umount: /datadisk: target is busy.' }),
    );
    world.onCommand('fuser', () => ({ exitCode: 1, stderr: '' }));
    world.onCommand('find', () => ({ exitCode: 0, stdout: '' }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('/dev/sdc1'), diskContext(world));
    expect(outcome?.code).toBe('DISK_BUSY');
    expect(outcome?.message).toContain('The mounts already undone (/srv/web) were mounted again.');
    // /srv/web shows the subtree /www: it is bound again from the main mount, not mounted whole.
    expect(world.commandsRun('mount').map((call) => call.args)).toEqual([['--bind', '/datadisk/www', '/srv/web']]);
    expect(world.commandsRun('e2fsck')).toEqual([]);
  });

  test('only bind mounts of parts of it (no whole mount to bind from): refused before anything is unmounted', async () => {
    const system = createDiskWorld({ mounts: `${BASE_MOUNTS}\n/dev/sdc1 /srv/web ext4 rw 0 0`, fstab: FSTAB, devices: ROOT_DISK });
    system.addFile('/proc/self/mountinfo', '91 29 8:33 /www /srv/web rw - ext4 /dev/sdc1 rw\n');
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('/srv/web'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('Only parts of it are mounted (bind mounts of /www)');
    expect(changingCalls(system)).toEqual([]);
  });

  test('filesystems mounted below it: refused before anything is unmounted', async () => {
    const system = createDiskWorld({ mounts: `${MOUNTED}\n/dev/sdd1 /datadisk/logs xfs rw 0 0`, fstab: FSTAB, devices: ROOT_DISK });
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(outcome).toMatchObject({ code: 'DISK_BUSY' });
    expect(outcome?.message).toContain('Filesystems are mounted below it (/datadisk/logs)');
    expect(changingCalls(system)).toEqual([]);
  });
});

describe('repair_disk on xfs', () => {
  const XFS_MOUNTED = `${BASE_MOUNTS}\n/dev/sdd1 /srv/logs xfs rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0`;

  test('read-only probe, repair, verification, remount', async () => {
    const system = createDiskWorld({ mounts: XFS_MOUNTED, fstab: FSTAB, devices: ROOT_DISK });
    let repaired = false;
    system.onCommand('xfs_repair', (call) => {
      if (call.args.includes('-n')) return repaired ? { exitCode: 0 } : { exitCode: 1, stdout: 'would have reset inode 128 nlinks from 3 to 2\n' };
      repaired = true;
      return { exitCode: 0 };
    });
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('LABEL=logs'), diskContext(system));
    expect(outcome).toMatchObject({ name: 'disk:/dev/sdd1', result: 'changed' });
    expect(outcome?.message).toContain('xfs_repair -n: corruption found (exit 1): would have reset inode 128 nlinks from 3 to 2');
    expect(outcome?.message).toContain('verification xfs_repair -n: clean (exit 0)');
    expect(system.commandsRun('xfs_repair').map((call) => call.args)).toEqual([['-n', '/dev/sdd1'], ['/dev/sdd1'], ['-n', '/dev/sdd1']]);
    expect(mountLine(system, '/srv/logs')).toContain('xfs rw,relatime,attr2');
  });

  test('dirty log: mounted once to replay it, then repaired; -L is never used', async () => {
    const system = createDiskWorld({ mounts: BASE_MOUNTS, fstab: FSTAB, devices: ROOT_DISK });
    let replayed = false;
    system.onCommand('xfs_repair', (call) => {
      if (call.args.includes('-n')) return replayed ? { exitCode: 0 } : { exitCode: 1, stdout: 'ERROR: The filesystem has valuable metadata changes in a log which is being ignored\n' };
      return replayed ? { exitCode: 0 } : { exitCode: 2, stderr: 'ERROR: The filesystem has valuable metadata changes in a log which needs to be replayed.' };
    });
    system.onCommand('mount', () => {
      replayed = true;
      return { exitCode: 0 };
    });
    system.onCommand('umount', () => ({ exitCode: 0 }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sdd1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'changed' });
    expect(outcome?.message).toContain('mounting once to replay it');
    const mountCall = system.commandsRun('mount')[0];
    expect(mountCall?.args.slice(0, 3)).toEqual(['-t', 'xfs', '/dev/sdd1']);
    expect(mountCall?.args[3]).toMatch(/^\/var\/cache\/vmaccess\/xfs-log-replay-/);
    expect(system.calls.some((call) => call.args.includes('-L'))).toBe(false);
    // The private mount point is removed afterwards.
    expect(system.nodes.has(mountCall?.args[3] ?? '')).toBe(false);
  });

  test('dirty log that cannot be replayed: stop, explain -L, leave it unmounted', async () => {
    const system = createDiskWorld({ mounts: XFS_MOUNTED, fstab: FSTAB, devices: ROOT_DISK });
    system.onCommand('xfs_repair', (call) => (call.args.includes('-n') ? { exitCode: 1 } : { exitCode: 2 }));
    system.onCommand(
      (call) => call.file === 'mount' && !call.args.includes('-o'),
      () => ({ exitCode: 32, stderr: 'mount: /srv/logs: mount(2) system call failed: Structure needs cleaning.' }),
    );
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('/srv/logs'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('xfs_repair -L would zero the log');
    expect(outcome?.message).toContain('It was left unmounted');
    expect(system.calls.some((call) => call.args.includes('-L'))).toBe(false);
  });
});

describe('other filesystem types', () => {
  test('btrfs is refused before anything is unmounted', async () => {
    const devices: Row[] = [...ROOT_DISK, { path: '/dev/sde1', type: 'part', fstype: 'btrfs', uuid: 'b-1' }];
    const system = createDiskWorld({ mounts: `${BASE_MOUNTS}\n/dev/sde1 /data btrfs rw 0 0`, devices });
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('/data'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_REPAIR_FAILED' });
    expect(outcome?.message).toContain('btrfs check --repair can make damage worse');
    expect(changingCalls(system)).toEqual([]);
  });

  test('vfat goes through the fsck helper with -y', async () => {
    const devices: Row[] = [...ROOT_DISK, { path: '/dev/sde1', type: 'part', fstype: 'vfat', uuid: 'EE-01' }];
    const system = createDiskWorld({ mounts: BASE_MOUNTS, devices });
    system.onCommand('fsck', () => ({ exitCode: 1 }));
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sde1'), diskContext(system));
    expect(system.commandsRun('fsck').map((call) => call.args)).toEqual([['-t', 'vfat', '-y', '/dev/sde1']]);
    expect(outcome).toMatchObject({ result: 'changed' });
  });

  test('an LVM physical volume is not a filesystem', async () => {
    const devices: Row[] = [...ROOT_DISK, { path: '/dev/sde1', type: 'part', fstype: 'LVM2_member', uuid: 'pv-1' }];
    const system = createDiskWorld({ mounts: BASE_MOUNTS, devices });
    const [outcome] = await planAndApply(createDiskAction(), repairRequest('sde1'), diskContext(system));
    expect(outcome).toMatchObject({ result: 'failed', code: 'DISK_NOT_FOUND' });
    expect(outcome?.message).toContain('/dev/sde1 holds LVM2_member, not a filesystem.');
    expect(changingCalls(system)).toEqual([]);
  });
});

describe('plan', () => {
  test('lists the device, the unmount, the command and the remount, and runs none of them', async () => {
    const system = mountedWorld();
    const lines = await planLines(createDiskAction(), repairRequest('datadisk'), diskContext(system));
    expect(lines).toEqual([
      'disk:/dev/sdc1: unmount /datadisk, run e2fsck -f -y /dev/sdc1, mount it again (all within 240 s)',
      'run: umount /datadisk (the repair needs the filesystem unmounted)',
      'run: e2fsck -f -y /dev/sdc1 (repair; a second pass if the first one fixed something)',
      'run: e2fsck -f -n /dev/sdc1 (verify, after each pass that fixed something)',
      'run: mount -t ext4 -o rw,noatime,errors=remount-ro /dev/sdc1 /datadisk (mount it again as it was; other options only if that fails)',
      "note: disk_name resolves to /dev/sdc1 (ext4) via mount point /datadisk (the original extension's /<disk_name> form)",
    ]);
    expect(changingCalls(system)).toEqual([]);
  });

  test('an unknown disk_name is reported, not thrown', async () => {
    const system = mountedWorld();
    const [line] = await planLines(createDiskAction(), repairRequest('sdz'), diskContext(system));
    expect(line).toMatch(/^disk: unchanged: would fail: \[DISK_NOT_FOUND\] disk_name "sdz" does not match /);
  });
});
