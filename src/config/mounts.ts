/**
 * Parsers for the kernel's mount tables: /proc/self/mounts (fstab-like, one line per
 * mount) and /proc/self/mountinfo (which also says which subtree a bind mount shows).
 * Pure text in, values out.
 */

export interface MountEntry {
  /** What was mounted, e.g. `/dev/sdc1`, `server:/export`, `tmpfs`. */
  source: string;
  /** Where, with the kernel's octal escapes (`\040` for a space) decoded. */
  target: string;
  fstype: string;
  /** Mount options as the kernel reports them, in order. */
  options: string[];
}

export interface MountinfoEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the filesystem's device. */
  majorMinor: string;
  /** The directory of the filesystem shown at the mount point: `/` except for bind mounts of a subtree. */
  root: string;
  target: string;
  /** Per-mount options (`rw,noatime`). */
  mountOptions: string[];
  fstype: string;
  source: string;
  /** Per-superblock options (`rw,errors=remount-ro`). */
  superOptions: string[];
}

/**
 * The kernel and fstab(5) write space, tab, newline, backslash (and `#` on newer
 * kernels) as three-digit octal escapes; anything else is literal.
 */
export function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function splitOptions(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  return text.split(',').filter((option) => option !== '');
}

/** Lines of /proc/self/mounts (or /etc/mtab); malformed lines are skipped. */
export function parseMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3 || fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    const [source, target, fstype, options] = fields as [string, string, string, string | undefined];
    entries.push({ source: decodeMountField(source), target: decodeMountField(target), fstype, options: splitOptions(options) });
  }
  return entries;
}

/** Lines of /proc/self/mountinfo (proc(5)); malformed lines are skipped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const entries: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const separator = fields.indexOf('-', 6);
    if (fields.length < 10 || separator < 0) continue;
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId)) continue;
    entries.push({
      mountId,
      parentId,
      majorMinor: fields[2] ?? '',
      root: decodeMountField(fields[3] ?? '/'),
      target: decodeMountField(fields[4] ?? ''),
      mountOptions: splitOptions(fields[5]),
      fstype: fields[separator + 1] ?? '',
      source: decodeMountField(fields[separator + 2] ?? ''),
      superOptions: splitOptions(fields[separator + 3]),
    });
  }
  return entries;
}

/** `/a/b/` and `/a/b` are the same mount point; `/` stays `/`. */
export function normalizeMountPoint(target: string): string {
  const collapsed = target.replace(/\/+/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}

/** Whether `inner` is `outer` or lies below it (path components, not string prefixes). */
export function isSameOrBelow(inner: string, outer: string): boolean {
  const a = normalizeMountPoint(inner);
  const b = normalizeMountPoint(outer);
  if (b === '/') return a.startsWith('/');
  return a === b || a.startsWith(`${b}/`);
}
