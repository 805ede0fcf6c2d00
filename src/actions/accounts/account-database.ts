import { VmaccessError, errnoCode } from '../../errors.js';
import { uidRange } from '../../config/login-defs.js';
import type { UidRange } from '../../config/login-defs.js';
import { findPasswdEntry, findShadowEntry, isSafeUsername, parsePasswd, parsePasswdLine } from '../../config/passwd.js';
import type { PasswdEntry, ShadowEntry } from '../../config/passwd.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';

/**
 * Who an account is: the local files (what useradd/usermod/userdel can change) and the
 * name service (`getent`, which also sees LDAP/SSSD/AD accounts). An account the name
 * service knows but /etc/passwd does not lives in a network directory.
 */

export function assertSafeUsername(name: string): void {
  if (!isSafeUsername(name)) {
    throw new VmaccessError('SETTINGS_INVALID', 'The user name is not a valid login name.', {
      hint: 'Use letters, digits, "_", "-" and "." (not first), at most 32 characters.',
    });
  }
}

/** Read a file that plan mode may not be allowed to read (no root): undefined when missing or unreadable. */
export async function readTextIfAllowed(system: System, file: string): Promise<string | undefined> {
  try {
    return await system.readText(file);
  } catch (error) {
    if (errnoCode(error) === 'EACCES' || errnoCode(error) === 'EPERM') return undefined;
    throw error;
  }
}

export async function readLocalUser(system: System, paths: SystemPaths, name: string): Promise<PasswdEntry | undefined> {
  const text = await system.readText(paths.passwd);
  return text === undefined ? undefined : findPasswdEntry(text, name);
}

export async function readLocalUsers(system: System, paths: SystemPaths): Promise<PasswdEntry[]> {
  return parsePasswd((await system.readText(paths.passwd)) ?? '');
}

export async function readShadow(system: System, paths: SystemPaths, name: string): Promise<ShadowEntry | undefined> {
  const text = await readTextIfAllowed(system, paths.shadow);
  return text === undefined ? undefined : findShadowEntry(text, name);
}

/** The name service's entry for `name` (files, LDAP, SSSD, ...), or undefined. */
export async function lookupNameService(system: System, name: string): Promise<PasswdEntry | undefined> {
  const result = await system.run('getent', ['passwd', '--', name], { timeoutMs: 20_000 });
  if (!result.started || result.exitCode !== 0) return undefined;
  const entry = parsePasswdLine(result.stdout.split('\n')[0] ?? '');
  // getent looks up a number as a uid; only an entry with this very name counts.
  return entry?.name === name ? entry : undefined;
}

export async function readUidRange(system: System, paths: SystemPaths): Promise<UidRange> {
  return uidRange(await system.readText(paths.loginDefs));
}

export type AccountState =
  | { kind: 'local'; entry: PasswdEntry }
  | { kind: 'network'; entry: PasswdEntry }
  | { kind: 'missing' };

export async function findAccount(system: System, paths: SystemPaths, name: string): Promise<AccountState> {
  const local = await readLocalUser(system, paths, name);
  if (local !== undefined) return { kind: 'local', entry: local };
  const remote = await lookupNameService(system, name);
  return remote === undefined ? { kind: 'missing' } : { kind: 'network', entry: remote };
}

/** Throws USER_PROTECTED for root and for accounts outside the UID_MIN..UID_MAX range of people. */
export function assertChangeable(entry: PasswdEntry, range: UidRange): void {
  if (entry.uid === 0 || entry.name === 'root') {
    throw new VmaccessError('USER_PROTECTED', `The account "${entry.name}" is root; vmaccess does not change root.`, {
      hint: 'Create or reset a separate admin account; it gets sudo rights.',
    });
  }
  if (entry.uid < range.min || entry.uid > range.max) {
    throw new VmaccessError(
      'USER_PROTECTED',
      `The account "${entry.name}" is a system account (uid ${entry.uid}, outside UID_MIN ${range.min} to UID_MAX ${range.max} from login.defs); vmaccess does not change it.`,
      { hint: 'Choose the name of a person\'s account, or a new name to create one.' },
    );
  }
}

export function networkAccountError(name: string): VmaccessError {
  return new VmaccessError('USER_NOT_LOCAL', `The account "${name}" comes from a network directory (LDAP/SSSD/AD), not from /etc/passwd; it cannot be changed on this VM.`, {
    hint: 'Change it in the directory, or choose another name to create a local account.',
  });
}
