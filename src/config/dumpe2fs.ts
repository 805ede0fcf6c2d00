/**
 * `dumpe2fs -h` prints the ext2/3/4 superblock as `Key:   value` lines. It only reads,
 * and it is safe on a mounted filesystem, which is why check_disk uses it there.
 */

export interface ExtErrorRecord {
  time?: string;
  function?: string;
  line?: string;
  inode?: string;
  block?: string;
  err?: string;
}

export interface ExtSuperblock {
  /** `clean`, `not clean`, `clean with errors`, `not clean with errors`. */
  state?: string;
  /** The kernel's running count of errors it met on this filesystem (0 when absent). */
  errorCount: number;
  firstError?: ExtErrorRecord;
  lastError?: ExtErrorRecord;
  errorsBehavior?: string;
  lastChecked?: string;
  mountCount?: number;
  maxMountCount?: number;
}

export function parseDumpe2fsHeader(text: string): ExtSuperblock {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z][A-Za-z0-9 #/()_-]*?):\s*(.*)$/.exec(line);
    if (match !== null && !fields.has(match[1] ?? '')) fields.set(match[1] ?? '', (match[2] ?? '').trim());
  }
  const record = (prefix: 'First' | 'Last'): ExtErrorRecord | undefined => {
    const result: ExtErrorRecord = {};
    const keys: [keyof ExtErrorRecord, string][] = [
      ['time', 'time'],
      ['function', 'function'],
      ['line', 'line #'],
      ['inode', 'inode #'],
      ['block', 'block #'],
      ['err', 'err'],
    ];
    for (const [key, label] of keys) {
      const value = fields.get(`${prefix} error ${label}`);
      if (value !== undefined && value !== '') result[key] = value;
    }
    return Object.keys(result).length > 0 ? result : undefined;
  };
  const number = (key: string): number | undefined => {
    const value = fields.get(key);
    if (value === undefined) return undefined;
    const parsed = Number.parseInt(value, 10);
    return Number.isNaN(parsed) ? undefined : parsed;
  };
  const superblock: ExtSuperblock = { errorCount: number('FS Error count') ?? 0 };
  const state = fields.get('Filesystem state');
  if (state !== undefined) superblock.state = state;
  const first = record('First');
  const last = record('Last');
  if (first !== undefined) superblock.firstError = first;
  if (last !== undefined) superblock.lastError = last;
  const behavior = fields.get('Errors behavior');
  if (behavior !== undefined) superblock.errorsBehavior = behavior;
  const lastChecked = fields.get('Last checked');
  if (lastChecked !== undefined) superblock.lastChecked = lastChecked;
  const mountCount = number('Mount count');
  const maxMountCount = number('Maximum mount count');
  if (mountCount !== undefined) superblock.mountCount = mountCount;
  if (maxMountCount !== undefined) superblock.maxMountCount = maxMountCount;
  return superblock;
}

/** Whether the superblock records errors (a mounted ext2 being `not clean` is normal). */
export function superblockHasErrors(superblock: ExtSuperblock): boolean {
  return superblock.errorCount > 0 || /with errors/i.test(superblock.state ?? '');
}

function describeRecord(record: ExtErrorRecord): string {
  const where = [record.function, record.inode === undefined ? undefined : `inode ${record.inode}`, record.err]
    .filter((part) => part !== undefined)
    .join(', ');
  return record.time === undefined ? where : `${record.time}: ${where}`;
}

/** One sentence for a status message. */
export function describeSuperblock(superblock: ExtSuperblock): string {
  const parts = [`superblock state ${superblock.state ?? 'unknown'}`, `${superblock.errorCount} error${superblock.errorCount === 1 ? '' : 's'} recorded`];
  if (superblock.lastError !== undefined) parts.push(`last error ${describeRecord(superblock.lastError)}`);
  else if (superblock.firstError !== undefined) parts.push(`first error ${describeRecord(superblock.firstError)}`);
  return parts.join(', ');
}
