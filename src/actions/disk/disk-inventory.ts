import * as path from 'node:path';
import { VmaccessError } from '../../errors.js';
import type { BlockDevice } from '../../config/block-devices.js';
import { LSBLK_COLUMNS, mergeBlockDevices, parseBlkidExport, parseLsblkJson, parseLsblkPairs } from '../../config/block-devices.js';
import type { FstabEntry } from '../../config/fstab.js';
import { parseFstab, parseTaggedSpec } from '../../config/fstab.js';
import type { MountEntry, MountinfoEntry } from '../../config/mounts.js';
import { decodeMountField, normalizeMountPoint, parseMountinfo, parseMounts } from '../../config/mounts.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import type { DiskBudget } from './disk-budget.js';

/** Everything the disk action knows about filesystems, read once per run. */
export interface DiskInventory {
  mounts: MountEntry[];
  /** Undefined when mountinfo is not readable; then bind-mount roots are unknown. */
  mountinfo: MountinfoEntry[] | undefined;
  fstab: FstabEntry[];
  devices: BlockDevice[];
  /** Device paths in use as swap. */
  swaps: string[];
  /** What could not be read, for messages (`lsblk is not available`). */
  notes: string[];
}

export interface DiskEnvironment {
  /** Where /proc/swaps is; default `/proc/swaps`. */
  procSwaps: string;
  /** Where /proc/self/mountinfo is; default: `mountinfo` beside `paths.procMounts`. */
  procMountinfo: string;
  /** The sysfs root; default `/sys`. */
  sysRoot: string;
}

export function diskEnvironment(paths: SystemPaths, overrides: Partial<DiskEnvironment> = {}): DiskEnvironment {
  return {
    procSwaps: overrides.procSwaps ?? '/proc/swaps',
    procMountinfo: overrides.procMountinfo ?? path.join(path.dirname(paths.procMounts), 'mountinfo'),
    sysRoot: overrides.sysRoot ?? '/sys',
  };
}

const PROBE_TIMEOUT_MS = 30_000;

async function readBlockDevices(system: System, budget: DiskBudget, notes: string[]): Promise<BlockDevice[]> {
  let fromLsblk: BlockDevice[] = [];
  const json = await system.run('lsblk', ['-J', '-l', '-p', '-o', LSBLK_COLUMNS], { timeoutMs: budget.timeoutMs(PROBE_TIMEOUT_MS) });
  if (json.started && json.exitCode === 0) {
    fromLsblk = parseLsblkJson(json.stdout);
  } else if (json.started) {
    // util-linux before 2.27 has no JSON output; KEY="value" pairs are older than that.
    const pairs = await system.run('lsblk', ['-P', '-p', '-o', LSBLK_COLUMNS], { timeoutMs: budget.timeoutMs(PROBE_TIMEOUT_MS) });
    if (pairs.exitCode === 0) fromLsblk = parseLsblkPairs(pairs.stdout);
    else notes.push('lsblk failed');
  } else {
    notes.push('lsblk is not installed');
  }
  // -c /dev/null: probe the devices now instead of trusting blkid's cache file.
  const blkid = await system.run('blkid', ['-c', '/dev/null', '-o', 'export'], { timeoutMs: budget.timeoutMs(PROBE_TIMEOUT_MS) });
  let fromBlkid: BlockDevice[] = [];
  // blkid exits 2 when it found nothing to report.
  if (blkid.started && (blkid.exitCode === 0 || blkid.exitCode === 2)) fromBlkid = parseBlkidExport(blkid.stdout);
  else notes.push(blkid.started ? 'blkid failed' : 'blkid is not installed');
  return mergeBlockDevices(fromLsblk, fromBlkid);
}

function parseSwaps(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '')
    .map(decodeMountField);
}

export async function readDiskInventory(
  system: System,
  paths: SystemPaths,
  environment: DiskEnvironment,
  budget: DiskBudget,
): Promise<DiskInventory> {
  let mountsText: string | undefined;
  try {
    mountsText = await system.readText(paths.procMounts);
  } catch (error) {
    throw new VmaccessError('DISK_CHECK_FAILED', `The mount table ${paths.procMounts} cannot be read.`, { cause: error });
  }
  if (mountsText === undefined) {
    throw new VmaccessError('DISK_CHECK_FAILED', `The mount table ${paths.procMounts} does not exist.`, {
      hint: 'Is /proc mounted?',
    });
  }
  const notes: string[] = [];
  const readOptional = async (file: string): Promise<string | undefined> => {
    try {
      return await system.readText(file);
    } catch {
      notes.push(`${file} is not readable`);
      return undefined;
    }
  };
  const mountinfoText = await readOptional(environment.procMountinfo);
  const fstabText = await readOptional(paths.fstab);
  const swapsText = await readOptional(environment.procSwaps);
  const devices = await readBlockDevices(system, budget, notes);
  const inventory: DiskInventory = {
    mounts: parseMounts(mountsText),
    mountinfo: mountinfoText === undefined ? undefined : parseMountinfo(mountinfoText),
    fstab: parseFstab(fstabText ?? ''),
    devices,
    swaps: parseSwaps(swapsText),
    notes,
  };
  // Without lsblk and blkid (or when they cannot see a device) the mount table still
  // names mounted devices: keep them, with the type the kernel reports.
  // The kernel's word on a mounted filesystem's type also fills in what the probes
  // could not read (a device node the handler may not open).
  for (const mount of inventory.mounts) {
    if (!mount.source.startsWith('/dev/')) continue;
    const known = deviceOfMount(inventory, mount);
    if (known === undefined) inventory.devices.push({ path: mount.source, fstype: mount.fstype });
    else known.fstype ??= mount.fstype;
  }
  return inventory;
}

/** The block device at a path or kernel name (`/dev/sdc1`, `/dev/dm-0`). */
export function findDevice(inventory: DiskInventory, devicePath: string): BlockDevice | undefined {
  return inventory.devices.find((device) => device.path === devicePath) ?? inventory.devices.find((device) => device.kname === devicePath);
}

/**
 * Devices a spec names: `UUID=`/`LABEL=`/`PARTUUID=`/`PARTLABEL=`, the udev links for
 * them, or a device path. Several matches mean the name is ambiguous (cloned disks
 * share UUIDs).
 */
export function resolveSpec(inventory: DiskInventory, spec: string): BlockDevice[] {
  const tagged = parseTaggedSpec(spec);
  if (tagged !== undefined) {
    const key = tagged.tag.toLowerCase() as 'uuid' | 'label' | 'partuuid' | 'partlabel';
    const caseless = tagged.tag === 'UUID' || tagged.tag === 'PARTUUID';
    return inventory.devices.filter((device) => {
      const value = device[key];
      if (value === undefined) return false;
      return caseless ? value.toLowerCase() === tagged.value.toLowerCase() : value === tagged.value;
    });
  }
  if (spec.startsWith('/dev/')) {
    const device = findDevice(inventory, spec);
    return device === undefined ? [] : [device];
  }
  return [];
}

/**
 * The block device behind a mount: by its source path, else (for `/dev/root` and
 * other names the kernel made up) by the device number in mountinfo.
 */
export function deviceOfMount(inventory: DiskInventory, mount: MountEntry): BlockDevice | undefined {
  const byPath = resolveSpec(inventory, mount.source);
  if (byPath.length === 1) return byPath[0];
  const info = inventory.mountinfo?.find((entry) => entry.target === mount.target && entry.source === mount.source);
  if (info === undefined) return undefined;
  return inventory.devices.find((device) => device.majMin === info.majorMinor);
}

/** Current mounts of a device, in mount-table order (bind mounts included). */
export function mountsOfDevice(inventory: DiskInventory, device: BlockDevice): MountEntry[] {
  return inventory.mounts.filter((mount) => {
    if (!mount.source.startsWith('/')) return false;
    return deviceOfMount(inventory, mount)?.path === device.path;
  });
}

/** The fstab line for a device, matched by spec or by mount point of a current mount. */
export function fstabOfDevice(inventory: DiskInventory, device: BlockDevice): FstabEntry | undefined {
  return fstabEntriesOfDevice(inventory, device)[0];
}

/** Every fstab line that names the device (a device can be listed more than once). */
export function fstabEntriesOfDevice(inventory: DiskInventory, device: BlockDevice): FstabEntry[] {
  return inventory.fstab.filter((entry) => resolveSpec(inventory, entry.spec).some((candidate) => candidate.path === device.path));
}

/** The mount root of a bind mount (`/` for a whole-filesystem mount). */
export function mountRoot(inventory: DiskInventory, mount: MountEntry): string {
  const target = normalizeMountPoint(mount.target);
  const info = inventory.mountinfo?.filter((entry) => normalizeMountPoint(entry.target) === target && entry.source === mount.source).at(-1);
  return info?.root ?? '/';
}
