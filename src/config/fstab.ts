import { decodeMountField } from './mounts.js';

/** One line of /etc/fstab (fstab(5)). */
export interface FstabEntry {
  /** The first field as written: `/dev/sdc1`, `UUID=...`, `LABEL=...`, `server:/x`, `tmpfs`. */
  spec: string;
  /** Mount point (`none` or `swap` for swap), escapes decoded. */
  file: string;
  vfstype: string;
  options: string[];
  freq: number;
  passno: number;
  /** 1-based line number, for messages. */
  line: number;
}

/** Parses fstab text; comments, blank and malformed lines are skipped. */
export function parseFstab(text: string): FstabEntry[] {
  const entries: FstabEntry[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const [spec, file, vfstype, options, freq, passno] = fields;
    if (spec === undefined || file === undefined || vfstype === undefined) return;
    entries.push({
      spec: decodeMountField(spec),
      file: decodeMountField(file),
      vfstype,
      // fstab(5): an empty options field means `defaults`.
      options: (options ?? 'defaults').split(',').filter((option) => option !== ''),
      freq: Number.parseInt(freq ?? '0', 10) || 0,
      passno: Number.parseInt(passno ?? '0', 10) || 0,
      line: index + 1,
    });
  });
  return entries;
}

export type DeviceTag = 'UUID' | 'LABEL' | 'PARTUUID' | 'PARTLABEL';

export interface TaggedSpec {
  tag: DeviceTag;
  value: string;
}

const TAG_PATTERN = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.*)$/;
const BY_DIR: Record<string, DeviceTag> = {
  'by-uuid': 'UUID',
  'by-label': 'LABEL',
  'by-partuuid': 'PARTUUID',
  'by-partlabel': 'PARTLABEL',
};

/**
 * `UUID=x`, `LABEL="x"` and the udev links `/dev/disk/by-uuid/x` and friends name a
 * device by a tag. udev writes unsafe characters in link names as `\xNN`.
 */
export function parseTaggedSpec(spec: string): TaggedSpec | undefined {
  const tagged = TAG_PATTERN.exec(spec);
  if (tagged !== null) {
    const value = (tagged[2] ?? '').replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
    return { tag: tagged[1] as DeviceTag, value };
  }
  const link = /^\/dev\/disk\/(by-uuid|by-label|by-partuuid|by-partlabel)\/([^/]+)$/.exec(spec);
  if (link !== null) {
    const tag = BY_DIR[link[1] ?? ''];
    const value = (link[2] ?? '').replace(/\\x([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (tag !== undefined) return { tag, value };
  }
  return undefined;
}
