/**
 * /etc/os-release (os-release(5)) and the distribution family derived from ID and
 * ID_LIKE. NAME and PRETTY_NAME are for people and change between releases, so
 * they never decide anything here.
 */

export type DistroFamily = 'debian' | 'ubuntu' | 'rhel' | 'suse' | 'azurelinux' | 'flatcar' | 'unknown';

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string | undefined;
  prettyName: string | undefined;
  fields: ReadonlyMap<string, string>;
}

/** Parses shell-style KEY=value lines; values may be single- or double-quoted. */
export function parseOsRelease(text: string): OsRelease {
  const fields = new Map<string, string>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match === null) continue;
    fields.set(match[1] ?? '', unquote(match[2] ?? ''));
  }
  return {
    id: (fields.get('ID') ?? '').toLowerCase(),
    idLike: (fields.get('ID_LIKE') ?? '')
      .toLowerCase()
      .split(/\s+/)
      .filter((word) => word !== ''),
    versionId: fields.get('VERSION_ID'),
    prettyName: fields.get('PRETTY_NAME'),
    fields,
  };
}

function unquote(value: string): string {
  if (value.length >= 2 && (value.startsWith('"') || value.startsWith("'")) && value.endsWith(value[0] ?? '')) {
    const inner = value.slice(1, -1);
    // os-release(5): in double quotes, backslash escapes $, ", \ and `.
    return value.startsWith('"') ? inner.replace(/\\([$"\\`])/g, '$1') : inner;
  }
  return value;
}

const RHEL_IDS = new Set(['rhel', 'centos', 'rocky', 'almalinux', 'ol', 'fedora', 'redhat']);

function familyOfId(id: string): DistroFamily | undefined {
  if (id === 'ubuntu') return 'ubuntu';
  if (id === 'debian') return 'debian';
  if (RHEL_IDS.has(id)) return 'rhel';
  if (id === 'sles' || id === 'sled' || id === 'suse' || id.startsWith('opensuse')) return 'suse';
  if (id === 'azurelinux' || id === 'mariner') return 'azurelinux';
  if (id === 'flatcar') return 'flatcar';
  return undefined;
}

/**
 * ID decides first; ID_LIKE (most specific first, per os-release(5)) only for
 * derivatives we do not know by name, e.g. a Debian derivative says ID_LIKE=debian.
 */
export function distroFamily(release: OsRelease): DistroFamily {
  const direct = familyOfId(release.id);
  if (direct !== undefined) return direct;
  for (const like of release.idLike) {
    const family = familyOfId(like);
    if (family !== undefined) return family;
  }
  return 'unknown';
}

/** Major version number from VERSION_ID (`9.3` -> 9), undefined when there is none. */
export function majorVersion(release: OsRelease): number | undefined {
  const match = /^(\d+)/.exec(release.versionId ?? '');
  return match === null ? undefined : Number(match[1]);
}
