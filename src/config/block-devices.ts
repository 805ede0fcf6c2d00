/**
 * What the system knows about its block devices, from `lsblk` (JSON with `-J`, or
 * KEY="value" pairs with `-P` on util-linux older than 2.27) and from
 * `blkid -o export`. Without udev (containers, minimal images) lsblk leaves FSTYPE
 * and UUID empty, so blkid's direct probe is merged over it.
 */

export interface BlockDevice {
  /** Canonical device path, e.g. `/dev/sdc1`, `/dev/mapper/vg-data`. */
  path: string;
  /** Kernel name path, e.g. `/dev/dm-0`; same as path for plain partitions. */
  kname?: string;
  /** Parent device path (the disk of a partition). */
  parent?: string;
  /** `major:minor`, to match /proc/self/mountinfo when a mount source is not a usable path (`/dev/root`). */
  majMin?: string;
  /** `disk`, `part`, `lvm`, `crypt`, `rom`, `loop`, `raid1`, ... */
  type?: string;
  fstype?: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  partlabel?: string;
  readOnly?: boolean;
  removable?: boolean;
}

/** The columns vmaccess asks lsblk for (`-o`), in this order. */
export const LSBLK_COLUMNS = 'NAME,KNAME,PKNAME,MAJ:MIN,TYPE,FSTYPE,UUID,LABEL,PARTUUID,PARTLABEL,RO,RM';

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

// lsblk < 2.33 prints RO/RM as "0"/"1" strings, newer ones as booleans.
function asFlag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === '1' || value === 1) return true;
  if (value === '0' || value === 0) return false;
  return undefined;
}

// Without -p old lsblk prints bare names; /dev/<name> is right for everything but
// device-mapper names, which is why -p is always asked for.
function devicePath(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  return name.startsWith('/') ? name : `/dev/${name}`;
}

function fromRecord(record: Record<string, unknown>): BlockDevice | undefined {
  const path = devicePath(asText(record.name ?? record.NAME));
  if (path === undefined) return undefined;
  const pick = (key: string): string | undefined => asText(record[key] ?? record[key.toUpperCase()]);
  const device: BlockDevice = { path };
  const kname = devicePath(pick('kname'));
  const parent = devicePath(pick('pkname'));
  if (kname !== undefined) device.kname = kname;
  if (parent !== undefined) device.parent = parent;
  const majMin = pick('maj:min');
  if (majMin !== undefined) device.majMin = majMin.trim();
  const fields = ['type', 'fstype', 'uuid', 'label', 'partuuid', 'partlabel'] as const;
  for (const field of fields) {
    const value = pick(field);
    if (value !== undefined) device[field] = value;
  }
  const readOnly = asFlag(record.ro ?? record.RO);
  const removable = asFlag(record.rm ?? record.RM);
  if (readOnly !== undefined) device.readOnly = readOnly;
  if (removable !== undefined) device.removable = removable;
  return device;
}

/** `lsblk -J [-l] -p -o ...`; nested children (tree output) are flattened. */
export function parseLsblkJson(text: string): BlockDevice[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const devices: BlockDevice[] = [];
  const visit = (node: unknown, parentPath: string | undefined): void => {
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    const device = fromRecord(record);
    if (device !== undefined) {
      if (device.parent === undefined && parentPath !== undefined) device.parent = parentPath;
      devices.push(device);
    }
    const children = record.children;
    if (Array.isArray(children)) for (const child of children) visit(child, device?.path);
  };
  const top = (parsed as { blockdevices?: unknown }).blockdevices;
  if (Array.isArray(top)) for (const node of top) visit(node, undefined);
  return devices;
}

// lsblk -P escapes unsafe bytes as \xNN inside the double quotes.
function unescapeHex(value: string): string {
  return value.replace(/\\x([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** `lsblk -P -p -o ...`: one device per line, KEY="value" pairs. */
export function parseLsblkPairs(text: string): BlockDevice[] {
  const devices: BlockDevice[] = [];
  for (const line of text.split('\n')) {
    const record: Record<string, unknown> = {};
    for (const match of line.matchAll(/([A-Z:_-]+)="((?:[^"\\]|\\.)*)"/g)) {
      const key = (match[1] ?? '').toLowerCase();
      record[key] = unescapeHex(match[2] ?? '');
    }
    const device = fromRecord(record);
    if (device !== undefined) devices.push(device);
  }
  return devices;
}

/**
 * `blkid -o export`: blocks of KEY=value lines separated by blank lines, values
 * with unsafe characters backslash-escaped.
 */
export function parseBlkidExport(text: string): BlockDevice[] {
  const devices: BlockDevice[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const record: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const equals = line.indexOf('=');
      if (equals <= 0) continue;
      record[line.slice(0, equals).trim()] = line.slice(equals + 1).replace(/\\(.)/g, '$1');
    }
    const path = record.DEVNAME;
    if (path === undefined || path === '') continue;
    const device: BlockDevice = { path };
    if (record.TYPE !== undefined) device.fstype = record.TYPE;
    if (record.UUID !== undefined) device.uuid = record.UUID;
    if (record.LABEL !== undefined) device.label = record.LABEL;
    if (record.PARTUUID !== undefined) device.partuuid = record.PARTUUID;
    if (record.PARTLABEL !== undefined) device.partlabel = record.PARTLABEL;
    devices.push(device);
  }
  return devices;
}

/**
 * Merge blkid's probe over lsblk's view, matching by path or kernel name. A device
 * blkid saw that lsblk did not (lsblk missing) is added as is.
 */
export function mergeBlockDevices(fromLsblk: BlockDevice[], fromBlkid: BlockDevice[]): BlockDevice[] {
  const merged = fromLsblk.map((device) => ({ ...device }));
  for (const probed of fromBlkid) {
    const existing = merged.find((device) => device.path === probed.path || device.kname === probed.path);
    if (existing === undefined) {
      merged.push({ ...probed });
      continue;
    }
    for (const field of ['fstype', 'uuid', 'label', 'partuuid', 'partlabel'] as const) {
      const value = probed[field];
      if (value !== undefined) existing[field] = value;
    }
  }
  return merged;
}
