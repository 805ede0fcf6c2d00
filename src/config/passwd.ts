/**
 * The local account files (/etc/passwd, /etc/shadow) as text. Parsing only: changes go
 * through useradd, usermod, chpasswd and userdel, which take the distribution's locks.
 */

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

export interface ShadowEntry {
  name: string;
  /** The password field: a crypt hash, `!`-prefixed when locked, `*`/`!` when none. */
  hash: string;
  /** Account expiry in days since 1970-01-01, when set. */
  expireDays: number | undefined;
}

/** One passwd(5) line, or undefined for comments, NIS `+`/`-` lines and malformed lines. */
export function parsePasswdLine(line: string): PasswdEntry | undefined {
  const fields = line.replace(/\r$/, '').split(':');
  if (fields.length !== 7) return undefined;
  const [name = '', , uid = '', gid = '', gecos = '', home = '', shell = ''] = fields;
  if (name === '' || name.startsWith('+') || name.startsWith('-') || name.startsWith('#')) return undefined;
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) return undefined;
  return { name, uid: Number(uid), gid: Number(gid), gecos, home, shell };
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map(parsePasswdLine)
    .filter((entry): entry is PasswdEntry => entry !== undefined);
}

export function findPasswdEntry(text: string, name: string): PasswdEntry | undefined {
  // Only the line that starts with the name is parsed: passwd files can be large.
  const prefix = `${name}:`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const entry = parsePasswdLine(line);
    if (entry?.name === name) return entry;
  }
  return undefined;
}

export function findShadowEntry(text: string, name: string): ShadowEntry | undefined {
  for (const line of text.split('\n')) {
    const fields = line.replace(/\r$/, '').split(':');
    if (fields.length < 8 || fields[0] !== name) continue;
    const expire = fields[7] ?? '';
    return { name, hash: fields[1] ?? '', expireDays: /^\d+$/.test(expire) ? Number(expire) : undefined };
  }
  return undefined;
}

/** `usermod -L` and `passwd -l` lock a password by prefixing `!` to the hash. */
export function isPasswordLocked(hash: string): boolean {
  return hash.startsWith('!');
}

/** The crypt hash without lock prefixes, or undefined when there is no usable hash. */
export function usableHash(hash: string): string | undefined {
  const bare = hash.replace(/^!+/, '');
  return bare.startsWith('$') ? bare : undefined;
}

/** Days since the epoch for a `yyyy-mm-dd` date, as shadow(5) stores the expiry. */
export function daysSinceEpoch(date: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match === null) throw new Error(`not a yyyy-mm-dd date: ${date}`);
  return Math.floor(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 86_400_000);
}

/** `yyyy-mm-dd` for shadow's days since the epoch. */
export function dateOfDays(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * A second line of defence behind the settings schema: a name that could be read as an
 * option (`-rf`), a path (`../x`), a field separator (`:`), a list (`,`), a sshd -C
 * field (`=`), sudoers syntax or a new line never reaches a command or a file.
 */
export function isSafeUsername(name: string): boolean {
  return name.length >= 1 && name.length <= 32 && /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(name) && name !== '.' && name !== '..' && !/^\d+$/.test(name);
}
