import { VmaccessError, isVmaccessError } from '../../errors.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { FileInfo, System } from '../../system/system.js';
import { authorizedKeysPatterns, expandAuthorizedKeysPath } from '../../config/sshd-semantics.js';
import { readEffectiveSshdConfig, type SshdAnswers } from '../sshd-effective.js';

/**
 * The authorized_keys file sshd reads for a user, checked the way sshd's StrictModes
 * checks it and written without ever following a link planted by the user: every
 * component is looked at with lstat before anything is created, chowned or written.
 */

export const DEFAULT_AUTHORIZED_KEYS = '.ssh/authorized_keys';
const DEFAULT_AUTHORIZED_KEYS_2 = '.ssh/authorized_keys2';

export interface KeysFileLocation {
  file: string;
  /** The other files sshd also reads (later AuthorizedKeysFile entries): remove_prior_keys empties them. */
  others: string[];
  /** Why the file is not what sshd -T reported, when it is not. */
  note: string | undefined;
  /**
   * Those of file and others that come from an absolute pattern without %u, %U or %h
   * (e.g. `/etc/ssh/admin_keys` under `Match Group admins`): sshd may read the same file
   * for other accounts too.
   */
  unpersonal: string[];
}

/** The AuthorizedKeysFile entries `sshd -T -C user=<name>` reports (throws VmaccessError when it cannot). */
async function effectiveKeysPatterns(system: System, name: string, answers: SshdAnswers | undefined): Promise<string[]> {
  return authorizedKeysPatterns((await readEffectiveSshdConfig(system, { user: name }, answers === undefined ? {} : { answers })).get('authorizedkeysfile'));
}

/**
 * Where sshd will look for this user's keys: the first AuthorizedKeysFile entry from
 * `sshd -T -C user=...`. When sshd cannot tell us (not installed, no host keys, the
 * configuration is broken), the OpenSSH default with a note saying so.
 */
export async function locateAuthorizedKeysFile(system: System, user: PasswdEntry, answers?: SshdAnswers): Promise<KeysFileLocation> {
  const fallback = (reason: string): KeysFileLocation => ({
    file: expandAuthorizedKeysPath(DEFAULT_AUTHORIZED_KEYS, user)!,
    // OpenSSH's compiled-in default also reads authorized_keys2.
    others: [expandAuthorizedKeysPath(DEFAULT_AUTHORIZED_KEYS_2, user)!],
    note: `${reason}; using the OpenSSH default ${DEFAULT_AUTHORIZED_KEYS}`,
    unpersonal: [],
  });
  let patterns: string[];
  try {
    patterns = await effectiveKeysPatterns(system, user.name, answers);
  } catch (error) {
    if (!isVmaccessError(error)) throw error;
    return fallback(`sshd -T could not report the effective AuthorizedKeysFile (${error.code})`);
  }
  if (patterns.length === 0) return fallback('sshd -T reported no AuthorizedKeysFile');
  if (patterns.length === 1 && patterns[0]!.toLowerCase() === 'none') {
    return fallback('sshd is configured with "AuthorizedKeysFile none", so it reads no key file until that changes');
  }
  const [first, ...rest] = patterns.map((pattern) => expandAuthorizedKeysPath(pattern, user));
  if (first === undefined) return fallback('the effective AuthorizedKeysFile uses a token vmaccess cannot expand');
  const others = rest.filter((other): other is string => other !== undefined && other !== first);
  const unpersonal = patterns.filter((pattern) => pattern.startsWith('/') && !/%[uUh]/.test(pattern)).map((pattern) => expandAuthorizedKeysPath(pattern, user)!);
  return { file: first, others: [...new Set(others)], note: undefined, unpersonal: [...new Set(unpersonal)] };
}

/** More accounts than this and the shared-file check is not attempted: the file is refused. */
const MAX_ACCOUNTS_TO_CHECK = 500;

/**
 * Refuse to write a key file sshd also reads for other accounts: a key added "for alice"
 * would log in as every one of them, and remove_prior_keys would empty it for all. Only
 * files from patterns without a per-user token are asked about: for each other local
 * account, sshd -T says which files it would read; if none of them is this file, only
 * this user can reach it and it may be written.
 */
export async function assertKeysFileNotShared(system: System, location: KeysFileLocation, user: PasswdEntry, accounts: () => Promise<PasswdEntry[]>): Promise<void> {
  if (location.unpersonal.length === 0) return;
  const others = (await accounts()).filter((account) => account.name !== user.name);
  const refuse = (file: string, why: string): VmaccessError =>
    new VmaccessError('SSH_KEY_PATH_UNSAFE', `Refusing to write ${file}: the effective AuthorizedKeysFile has no %u, %U or %h, and ${why}.`, {
      hint: 'Give each account its own AuthorizedKeysFile (for example /etc/ssh/authorized_keys/%u or .ssh/authorized_keys), then run the request again.',
    });
  if (others.length > MAX_ACCOUNTS_TO_CHECK) throw refuse(location.unpersonal[0]!, `there are too many accounts (${others.length}) to prove no other one reads it`);
  const sharers = new Map<string, string[]>();
  for (const other of others) {
    let patterns: string[];
    try {
      patterns = await effectiveKeysPatterns(system, other.name, undefined);
    } catch (error) {
      if (!isVmaccessError(error)) throw error;
      throw refuse(location.unpersonal[0]!, `sshd -T could not say which file it reads for ${other.name} (${error.code})`);
    }
    const theirs = new Set(patterns.map((pattern) => expandAuthorizedKeysPath(pattern, other)));
    for (const file of location.unpersonal) if (theirs.has(file)) sharers.set(file, [...(sharers.get(file) ?? []), other.name]);
  }
  for (const [file, names] of sharers) {
    const listed = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
    throw refuse(file, `sshd reads it for ${listed} too: a key added for ${user.name} would log in as them, and remove_prior_keys would empty it for all`);
  }
}

export function unsafe(file: string, reason: string): VmaccessError {
  return new VmaccessError('SSH_KEY_PATH_UNSAFE', `Refusing to write ${file}: ${reason}.`, {
    hint: 'Fix the ownership or remove the link, then run the request again.',
  });
}

export function isWithin(child: string, parent: string): boolean {
  const base = parent.replace(/\/+$/, '');
  return child === base || child.startsWith(`${base}/`);
}

export interface KeysFileCheck {
  file: string;
  /** The existing key file, when there is one. */
  existing: FileInfo | undefined;
  /** Directories to create, outermost first. */
  missingDirs: string[];
  /**
   * Whether the user owns a directory on the way: then the user can swap path components
   * between our check and our write, so the write runs as the user (see writeAuthorizedKeys).
   */
  userControlled: boolean;
}

function checkOwnerAndMode(component: string, info: FileInfo, user: PasswdEntry, file: string): void {
  if (info.uid !== 0 && info.uid !== user.uid) throw unsafe(file, `${component} is owned by uid ${info.uid}, not by root or ${user.name}`);
  // sshd's StrictModes refuses group- or world-writable directories on the way (secure_path).
  if ((info.mode & 0o022) !== 0) throw unsafe(file, `${component} is writable by group or others (sshd would refuse it too)`);
}

/**
 * Check every component of the path, read-only. Refuses symbolic links the user could
 * have planted (anywhere under the home directory, or not owned by root), components not
 * owned by root or the user, group/world-writable directories, and a key file that is not
 * a plain file.
 */
export async function checkAuthorizedKeysPath(system: System, file: string, user: PasswdEntry): Promise<KeysFileCheck> {
  if (!file.startsWith('/') || file.split('/').includes('..')) throw unsafe(file, 'the path is not absolute and normalized');
  const parts = file.split('/').filter((part) => part !== '');
  const missingDirs: string[] = [];
  let userControlled = false;
  let current = '';
  for (const part of parts.slice(0, -1)) {
    current = `${current}/${part}`;
    if (missingDirs.length > 0) {
      missingDirs.push(current);
      continue;
    }
    const info = await system.lstat(current);
    if (info === undefined) {
      missingDirs.push(current);
      continue;
    }
    if (info.type === 'symlink') {
      // A root-owned link outside the home (e.g. /home -> /var/home) is the system's own
      // layout; anything under the home, or owned by someone else, could be a trap.
      if (isWithin(current, user.home) || info.uid !== 0) throw unsafe(file, `${current} is a symbolic link`);
      const target = await system.stat(current);
      if (target?.type !== 'directory') throw unsafe(file, `${current} does not lead to a directory`);
      checkOwnerAndMode(current, target, user, file);
      userControlled ||= target.uid === user.uid;
      continue;
    }
    if (info.type !== 'directory') throw unsafe(file, `${current} is not a directory`);
    checkOwnerAndMode(current, info, user, file);
    userControlled ||= info.uid === user.uid;
  }
  if (missingDirs.length > 0) return { file, existing: undefined, missingDirs, userControlled };
  const existing = await system.lstat(file);
  if (existing !== undefined) {
    if (existing.type === 'symlink') throw unsafe(file, 'the key file is a symbolic link');
    if (existing.type !== 'file') throw unsafe(file, 'the key file is not a regular file');
    if (existing.uid !== 0 && existing.uid !== user.uid) throw unsafe(file, `the key file is owned by uid ${existing.uid}, not by root or ${user.name}`);
    // Inside the home a root-owned file is only plausible as root:root; anything else
    // (e.g. a hard link to /etc/shadow, root:shadow) must not be read and rewritten.
    if (existing.uid === 0 && existing.gid !== 0 && isWithin(file, user.home)) {
      throw unsafe(file, 'the key file is owned by root with a non-root group');
    }
  }
  return { file, existing, missingDirs, userControlled };
}
