import { createTestActionContext } from './action-context.js';
import type { ActionContext, PlannedAction, StepOutcome } from '../../src/actions/action.js';
import { renderPlan } from '../../src/actions/plan.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import type { CommandCall } from './fake-system.js';
import { FakeSystem } from './fake-system.js';

/**
 * A small machine for disk tests: mount table, fstab, block devices (answered by
 * scripted lsblk/blkid), and mount/umount scripts that really edit the fake
 * /proc/self/mounts, so tests assert the state afterwards, not just the calls.
 */
export interface Row {
  path: string;
  type?: string;
  parent?: string;
  kname?: string;
  majMin?: string;
  fstype?: string;
  uuid?: string;
  label?: string;
  ro?: boolean;
}

export interface WorldOptions {
  mounts: string;
  fstab?: string;
  devices: Row[];
  swaps?: string;
  dmesg?: string;
}

export const ROOT_DISK: Row[] = [
  { path: '/dev/sda', type: 'disk', majMin: '8:0' },
  { path: '/dev/sda1', type: 'part', parent: '/dev/sda', fstype: 'ext4', uuid: 'aaaa-root', label: 'cloudimg-rootfs', majMin: '8:1' },
  { path: '/dev/sda15', type: 'part', parent: '/dev/sda', fstype: 'vfat', uuid: 'AB12-CD34', label: 'UEFI', majMin: '8:15' },
  { path: '/dev/sda16', type: 'part', parent: '/dev/sda', fstype: 'ext4', uuid: 'bbbb-boot', label: 'BOOT', majMin: '259:0' },
  { path: '/dev/sdb', type: 'disk', majMin: '8:16' },
  { path: '/dev/sdb1', type: 'part', parent: '/dev/sdb', fstype: 'ext4', uuid: 'cccc-resource', majMin: '8:17' },
  { path: '/dev/sdc', type: 'disk', majMin: '8:32' },
  { path: '/dev/sdc1', type: 'part', parent: '/dev/sdc', fstype: 'ext4', uuid: '1111-2222', label: 'datadisk', majMin: '8:33' },
  { path: '/dev/sdd', type: 'disk', majMin: '8:48' },
  { path: '/dev/sdd1', type: 'part', parent: '/dev/sdd', fstype: 'xfs', uuid: '3333-4444', label: 'logs', majMin: '8:49' },
  { path: '/dev/sr0', type: 'rom', fstype: 'udf', label: 'CDROM', ro: true, majMin: '11:0' },
];

export const BASE_MOUNTS = [
  'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
  'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
  '/dev/sda1 / ext4 rw,relatime,discard,errors=remount-ro 0 0',
  'tmpfs /run tmpfs rw,nosuid,nodev,size=1622736k,mode=755 0 0',
  '/dev/sda16 /boot ext4 rw,relatime 0 0',
  '/dev/sda15 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077 0 0',
  '/dev/sdb1 /mnt ext4 rw,relatime 0 0',
  '/dev/loop3 /snap/core20/2015 squashfs ro,nodev,relatime 0 0',
].join('\n');

export function lsblkJson(rows: Row[]): string {
  return JSON.stringify({
    blockdevices: rows.map((row) => ({
      name: row.path,
      kname: row.kname ?? row.path,
      pkname: row.parent ?? null,
      'maj:min': row.majMin ?? null,
      type: row.type ?? 'part',
      // Without udev lsblk leaves these empty; blkid fills them in.
      fstype: null,
      uuid: null,
      label: null,
      partuuid: null,
      partlabel: null,
      ro: row.ro ?? false,
      rm: false,
    })),
  });
}

export function blkidExport(rows: Row[]): string {
  return rows
    .filter((row) => row.fstype !== undefined)
    .map((row) =>
      [`DEVNAME=${row.path}`, row.label === undefined ? '' : `LABEL=${row.label}`, row.uuid === undefined ? '' : `UUID=${row.uuid}`, `TYPE=${row.fstype ?? ''}`]
        .filter((line) => line !== '')
        .join('\n'),
    )
    .join('\n\n');
}

export function createDiskWorld(options: WorldOptions): FakeSystem {
  const paths = defaultSystemPaths();
  const system = new FakeSystem({ [paths.procMounts]: `${options.mounts}\n`, [paths.fstab]: options.fstab ?? '' });
  system.addFile('/proc/swaps', options.swaps ?? 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n');
  system.onCommand('lsblk', () => ({ stdout: lsblkJson(options.devices) }));
  system.onCommand('blkid', () => ({ stdout: blkidExport(options.devices) }));
  system.onCommand('dmesg', () => ({ stdout: options.dmesg ?? '' }));
  system.onCommand('readlink', () => ({ exitCode: 1 }));
  system.onCommand('umount', (call, fake) => {
    const target = call.args.at(-1) ?? '';
    const lines = (fake.text(paths.procMounts) ?? '').split('\n').filter((line) => line !== '');
    const index = lines.map((line) => line.split(' ')[1]).lastIndexOf(target.replace(/ /g, '\\040'));
    if (index < 0) return { exitCode: 32, stderr: `umount: ${target}: not mounted.` };
    lines.splice(index, 1);
    fake.addFile(paths.procMounts, `${lines.join('\n')}\n`);
    return { exitCode: 0 };
  });
  system.onCommand('mount', (call, fake) => {
    const args = [...call.args];
    const typeIndex = args.indexOf('-t');
    const fstype = typeIndex >= 0 ? args[typeIndex + 1] : 'none';
    const optionIndex = args.indexOf('-o');
    const opts = optionIndex >= 0 ? args[optionIndex + 1] : 'rw';
    const positional = args.filter((arg, index) => !arg.startsWith('-') && args[index - 1] !== '-t' && args[index - 1] !== '-o');
    const [source, target] = positional;
    fake.addFile(paths.procMounts, `${fake.text(paths.procMounts) ?? ''}${source} ${target} ${fstype} ${opts} 0 0\n`);
    return { exitCode: 0 };
  });
  return system;
}

export function diskContext(system: FakeSystem): ActionContext {
  return createTestActionContext(system);
}

export function repairRequest(diskName: string): VmaccessRequest {
  return { resetSsh: false, restoreBackupSsh: false, warnings: [], disk: { mode: 'repair', diskName } };
}

export function checkRequest(): VmaccessRequest {
  return { resetSsh: false, restoreBackupSsh: false, warnings: [], disk: { mode: 'check' } };
}

/** Commands that change a disk or a mount: a refused request must run none of these. */
export function changingCalls(system: FakeSystem): CommandCall[] {
  return system.calls.filter((call) =>
    ['umount', 'mount', 'e2fsck', 'xfs_repair', 'fsck', 'btrfs'].includes(call.file) && !(call.args.includes('-n') || call.args.includes('--readonly')),
  );
}

/** What enable does: plan, then apply exactly that plan. */
export async function planAndApply(action: PlannedAction, request: VmaccessRequest, context: ActionContext): Promise<StepOutcome[]> {
  return action.apply(await action.plan(request, context), context);
}

/** The plan as `vmaccess plan` prints it. */
export async function planLines(action: PlannedAction, request: VmaccessRequest, context: ActionContext): Promise<string[]> {
  return renderPlan(await action.plan(request, context));
}
