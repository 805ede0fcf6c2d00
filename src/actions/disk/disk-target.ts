import * as path from 'node:path';
import { VmaccessError } from '../../errors.js';
import type { BlockDevice } from '../../config/block-devices.js';
import type { FstabEntry } from '../../config/fstab.js';
import { parseTaggedSpec } from '../../config/fstab.js';
import type { MountEntry } from '../../config/mounts.js';
import { isSameOrBelow, normalizeMountPoint } from '../../config/mounts.js';
import type { System } from '../../system/system.js';
import type { DiskBudget } from './disk-budget.js';
import { NOT_FILESYSTEM_TYPES } from './disk-check.js';
import type { DiskInventory } from './disk-inventory.js';
import { deviceOfMount, findDevice, fstabEntriesOfDevice, fstabOfDevice, mountsOfDevice, resolveSpec } from './disk-inventory.js';

/** The one block device repair_disk will work on, and how disk_name led to it. */
export interface RepairTarget {
  device: BlockDevice;
  /** How disk_name was read, for the status: `device name sdc1`, `mount point /datadisk`, ... */
  via: string;
  fstype: string | undefined;
  /** Current mounts of the device, in mount-table order. */
  mounts: MountEntry[];
  fstab: FstabEntry | undefined;
}

interface Candidate {
  device: BlockDevice;
  via: string;
}

function describeKnown(inventory: DiskInventory): string {
  const known = inventory.devices
    .filter((device) => device.fstype !== undefined && !NOT_FILESYSTEM_TYPES.has(device.fstype) && device.fstype !== 'swap')
    .slice(0, 8)
    .map((device) => {
      const mount = mountsOfDevice(inventory, device)[0];
      return mount === undefined ? device.path : `${device.path} on ${mount.target}`;
    });
  return known.length > 0 ? `Filesystems on this machine: ${known.join(', ')}.` : 'No filesystems were found on block devices.';
}

function byMountPoint(inventory: DiskInventory, mountPoint: string, via: string): Candidate[] {
  const target = normalizeMountPoint(mountPoint);
  // The last mount on a directory is the one in effect (it hides earlier ones).
  const mount = inventory.mounts.filter((entry) => normalizeMountPoint(entry.target) === target).at(-1);
  if (mount !== undefined) {
    const device = deviceOfMount(inventory, mount);
    if (device === undefined) {
      throw new VmaccessError('DISK_NOT_FOUND', `${target} is mounted from ${mount.source} (${mount.fstype}), which is not a local block device.`);
    }
    return [{ device, via }];
  }
  const entry = inventory.fstab.find((line) => normalizeMountPoint(line.file) === target);
  if (entry === undefined) return [];
  return resolveSpec(inventory, entry.spec).map((device) => ({ device, via: `${via}, from /etc/fstab line ${entry.line}` }));
}

async function byDevicePath(inventory: DiskInventory, devicePath: string, system: System, budget: DiskBudget): Promise<BlockDevice[]> {
  const direct = resolveSpec(inventory, devicePath);
  if (direct.length > 0) return direct;
  // /dev/disk/by-id/..., /dev/vg/lv and other udev or LVM links: follow them.
  const link = await system.run('readlink', ['-e', '--', devicePath], { timeoutMs: budget.timeoutMs(5_000) });
  const real = link.exitCode === 0 ? link.stdout.trim() : '';
  if (real === '' || real === devicePath) return [];
  return resolveSpec(inventory, real);
}

/**
 * disk_name -> one block device: `UUID=`/`LABEL=`/`PARTUUID=`/`PARTLABEL=`, a device
 * path (`/dev/sdc1`), an absolute mount point, or a bare name that is a device name
 * (`sdc1`) or, as the original extension read it, a mount point directly under `/`.
 */
export async function resolveDiskName(name: string, inventory: DiskInventory, system: System, budget: DiskBudget): Promise<RepairTarget> {
  const trimmed = name.trim();
  if (trimmed === '' || /[\0\n\r]/.test(trimmed) || trimmed.split('/').includes('..')) {
    throw new VmaccessError('DISK_NOT_FOUND', 'disk_name must be a device name, a mount point, UUID= or LABEL=.');
  }
  let candidates: Candidate[] = [];
  const tagged = parseTaggedSpec(trimmed);
  if (tagged !== undefined) {
    candidates = resolveSpec(inventory, trimmed).map((device) => ({ device, via: `${tagged.tag}=${tagged.value}` }));
  } else if (trimmed.startsWith('/dev/')) {
    candidates = (await byDevicePath(inventory, trimmed, system, budget)).map((device) => ({ device, via: `device ${trimmed}` }));
  } else if (trimmed.startsWith('/')) {
    candidates = byMountPoint(inventory, trimmed, `mount point ${normalizeMountPoint(trimmed)}`);
  } else {
    const devicePath = `/dev/${trimmed}`;
    const devices = inventory.devices.filter(
      (device) => device.path === devicePath || device.kname === devicePath || (!trimmed.includes('/') && path.basename(device.path) === trimmed),
    );
    candidates = devices.map((device) => ({ device, via: `device name ${trimmed}` }));
    candidates.push(...byMountPoint(inventory, `/${trimmed}`, `mount point /${trimmed} (the original extension's /<disk_name> form)`));
  }
  const distinct = [...new Map(candidates.map((candidate) => [candidate.device.path, candidate])).values()];
  if (distinct.length === 0) {
    throw new VmaccessError('DISK_NOT_FOUND', `disk_name "${trimmed}" does not match any block device, mount point or fstab entry.`, {
      hint: describeKnown(inventory),
    });
  }
  if (distinct.length > 1) {
    const list = distinct.map((candidate) => `${candidate.device.path} (${candidate.via})`).join(', ');
    throw new VmaccessError('DISK_NOT_FOUND', `disk_name "${trimmed}" matches more than one device: ${list}.`, {
      hint: 'Name the device exactly, e.g. /dev/sdc1.',
    });
  }
  const [chosen] = distinct as [Candidate];
  const device = findDevice(inventory, chosen.device.path) ?? chosen.device;
  const partitions = inventory.devices.filter((other) => other.parent === device.path && other.type === 'part');
  if (partitions.length > 0) {
    throw new VmaccessError(
      'DISK_NOT_FOUND',
      `${device.path} is a whole disk with partitions (${partitions.map((part) => part.path).join(', ')}); repair works on one filesystem.`,
      { hint: 'Name the partition that holds the filesystem.' },
    );
  }
  if (device.fstype !== undefined && NOT_FILESYSTEM_TYPES.has(device.fstype)) {
    throw new VmaccessError('DISK_NOT_FOUND', `${device.path} holds ${device.fstype}, not a filesystem.`, {
      hint: 'Name the filesystem on top of it (for example the logical volume or the opened crypt device).',
    });
  }
  const mounts = mountsOfDevice(inventory, device);
  const fstab = fstabOfDevice(inventory, device);
  const fstype = device.fstype ?? mounts[0]?.fstype ?? (fstab?.vfstype === 'auto' ? undefined : fstab?.vfstype);
  return { device, via: chosen.via, fstype, mounts, fstab };
}

/** Mount points the running system cannot lose, even for a moment. */
export const PROTECTED_MOUNT_POINTS = ['/', '/boot', '/boot/efi', '/usr', '/var', '/etc'];

export interface ProtectionContext {
  /** The guest agent's lib dir: the handler itself runs from below it. */
  agentLibDir: string;
  /** vmaccess's own state (the sshd_config backup). */
  stateDir: string;
  /** Where the handler and the agent write logs. */
  logDir: string;
}

/**
 * Why repair_disk must not touch this device, or undefined. Checked before anything
 * is unmounted; the answer is a sentence for the status message.
 */
export function protectionReason(target: RepairTarget, inventory: DiskInventory, context: ProtectionContext): string | undefined {
  const { device } = target;
  if (inventory.swaps.includes(device.path) || (device.kname !== undefined && inventory.swaps.includes(device.kname))) {
    return `${device.path} is in use as swap`;
  }
  if (target.fstype === 'swap') return `${device.path} is a swap area, not a filesystem`;
  const mountPoints = new Set(target.mounts.map((mount) => normalizeMountPoint(mount.target)));
  for (const entry of fstabEntriesOfDevice(inventory, device)) {
    if (entry.file.startsWith('/')) mountPoints.add(normalizeMountPoint(entry.file));
  }
  for (const mountPoint of mountPoints) {
    if (PROTECTED_MOUNT_POINTS.includes(mountPoint)) {
      return `${device.path} is ${mountPoint === '/' ? 'the root filesystem' : `mounted at ${mountPoint}`}, which the running system needs`;
    }
    const needed: [string, string][] = [
      [context.agentLibDir, 'the guest agent and this handler'],
      [context.stateDir, "vmaccess's saved state"],
      [context.logDir, 'the logs'],
    ];
    for (const [neededPath, what] of needed) {
      if (isSameOrBelow(neededPath, mountPoint)) return `${device.path} at ${mountPoint} holds ${neededPath} (${what})`;
      // A filesystem mounted inside one of them (/var/log/azure) holds part of it.
      if (isSameOrBelow(mountPoint, neededPath)) return `${device.path} at ${mountPoint} holds part of ${neededPath} (${what})`;
    }
  }
  return undefined;
}
