import { VmaccessError } from '../../errors.js';
import { chooseHashMethod, cryptSetting, isHashOf } from '../../config/password-hash-method.js';
import { parseShells, parseUseraddDefaults } from '../../config/login-defs.js';
import { daysSinceEpoch, isPasswordLocked, usableHash } from '../../config/passwd.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { SystemPaths } from '../../system/paths.js';
import type { RunResult, System } from '../../system/system.js';
import { firstLine } from '../../text.js';
import { readLocalUser, readLocalUsers, readShadow } from './account-database.js';

/**
 * The shadow tools that change accounts (useradd, usermod, chpasswd, userdel): they take
 * the distribution's locks, apply its hash method and defaults, and update every file
 * (passwd, shadow, group, gshadow, subuid) consistently. Arguments end with `--` so a
 * name can never be read as an option; passwords travel on stdin only.
 */

const COMMAND_TIMEOUT_MS = 60_000;
/** Where pam_unix's password line names the hash method: Debian/Ubuntu, then RHEL/SUSE. */
const PAM_PASSWORD_STACKS = ['/etc/pam.d/common-password', '/etc/pam.d/system-auth', '/etc/pam.d/passwd'];

/** The first output line, with the secret (if any) masked before it is cut. */
function outputLine(text: string, secret?: string): string {
  return firstLine(secret === undefined || secret === '' ? text : text.split(secret).join('***'), 240);
}

function commandFailed(what: string, result: RunResult, secret?: string): VmaccessError {
  if (!result.started) {
    return new VmaccessError('PREREQUISITE_MISSING', `${what}: the program is not installed.`, { hint: 'Install the passwd (shadow-utils) package.' });
  }
  const detail = outputLine(result.stderr || result.stdout, secret);
  return new VmaccessError('USER_COMMAND_FAILED', `${what} failed (exit ${result.exitCode})${detail === '' ? '' : `: ${detail}`}.`);
}

/** chpasswd reads `name:password` lines: a line break in a password would set another account's password. */
export function assertSafePassword(password: string): void {
  if (/[\r\n\0]/.test(password)) {
    throw new VmaccessError('SETTINGS_INVALID', 'The password contains a line break or NUL character, which cannot be set safely.');
  }
}

/**
 * The shell for a new account: useradd's own default when that program exists here (the
 * distribution's choice; `explicit` false: useradd applies it itself), else bash or sh,
 * passed explicitly, so nobody gets a login shell that does not exist.
 */
export async function chooseNewAccountShell(system: System, paths: SystemPaths): Promise<{ shell: string; explicit: boolean }> {
  const configured = parseUseraddDefaults(await system.readText(paths.useraddDefaults)).get('SHELL');
  const wanted = configured === undefined || configured === '' ? '/bin/sh' : configured;
  if ((await system.stat(wanted))?.type === 'file') return { shell: wanted, explicit: false };
  const listed = parseShells(await system.readText(paths.shells));
  for (const candidate of ['/bin/bash', '/usr/bin/bash', '/bin/sh', '/usr/bin/sh', ...listed]) {
    if ((await system.stat(candidate))?.type === 'file') return { shell: candidate, explicit: true };
  }
  throw new VmaccessError('PREREQUISITE_MISSING', `No login shell exists on this VM (useradd's default ${wanted} is missing).`);
}

export async function createAccount(system: System, paths: SystemPaths, name: string, options: { expiration?: string }): Promise<{ entry: PasswdEntry; shell: string }> {
  const { shell, explicit } = await chooseNewAccountShell(system, paths);
  const args = ['--create-home'];
  if (explicit) args.push('--shell', shell);
  if (options.expiration !== undefined) args.push('--expiredate', options.expiration);
  args.push('--', name);
  const result = await system.run('useradd', args, { timeoutMs: COMMAND_TIMEOUT_MS });
  if (result.exitCode !== 0 || !result.started) throw commandFailed(`useradd for "${name}"`, result);
  const entry = await readLocalUser(system, paths, name);
  if (entry === undefined) throw new VmaccessError('USER_COMMAND_FAILED', `useradd reported success but "${name}" is not in ${paths.passwd}.`);
  return { entry, shell: entry.shell === '' ? shell : entry.shell };
}

/**
 * Whether `password` is already the account's password: crypt(3) through perl, the one
 * interpreter every distribution ships, with password and hash on stdin. undefined when
 * it cannot be told (then the password is simply set).
 */
export async function passwordMatches(system: System, password: string, hash: string): Promise<boolean | undefined> {
  const script = 'my $p = <STDIN>; my $h = <STDIN>; chomp $p; chomp $h; my $c = crypt($p, $h); exit(!defined $c ? 2 : $c eq $h ? 0 : 1)';
  const result = await system.run('perl', ['-e', script], { input: `${password}\n${hash}\n`, timeoutMs: 20_000 });
  if (!result.started || (result.exitCode !== 0 && result.exitCode !== 1)) return undefined;
  return result.exitCode === 0;
}

const SALT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomSalt(system: System): string {
  return [...system.randomBytes(16)].map((byte) => SALT_ALPHABET[byte % 64]).join('');
}

/** The password's hash for this distribution's method, or undefined when no tool here can compute it. */
export async function hashPassword(system: System, paths: SystemPaths, password: string): Promise<string | undefined> {
  const pam = await Promise.all(PAM_PASSWORD_STACKS.map((file) => system.readText(file).catch(() => undefined)));
  const choice = chooseHashMethod(pam, await system.readText(paths.loginDefs));
  const salt = randomSalt(system);
  // crypt(3) through perl, password and setting on stdin. An old libc without yescrypt
  // (EL7, EL8) returns a failure token: then SHA-512, which every libc has.
  const viaPerl = async (setting: string): Promise<string | undefined> => {
    const script = 'my $p = <STDIN>; my $s = <STDIN>; chomp $p; chomp $s; my $h = crypt($p, $s); exit 2 unless defined $h; print $h';
    const result = await system.run('perl', ['-e', script], { input: `${password}\n${setting}\n`, timeoutMs: 20_000 });
    const hash = result.stdout.trim();
    return result.started && result.exitCode === 0 && isHashOf(setting, hash) ? hash : undefined;
  };
  const wanted = cryptSetting(choice, salt);
  const sha512 = cryptSetting({ method: 'sha512', ...(choice.method === 'yescrypt' ? {} : { rounds: choice.rounds }) }, salt);
  const hash = (await viaPerl(wanted)) ?? (wanted === sha512 ? undefined : await viaPerl(sha512));
  if (hash !== undefined) return hash;
  // No perl: OpenSSL 1.1.1+ (`-6`; 1.0.2 on EL7 lacks it and fails here), password on stdin.
  const openssl = await system.run('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n`, timeoutMs: 20_000 });
  const fromOpenssl = openssl.stdout.trim();
  return openssl.started && openssl.exitCode === 0 && isHashOf(`$6$${salt}`, fromOpenssl) ? fromOpenssl : undefined;
}

export interface PasswordChange {
  changed: boolean;
  message: string;
}

export async function setPassword(system: System, paths: SystemPaths, name: string, password: string): Promise<PasswordChange> {
  assertSafePassword(password);
  const before = await readShadow(system, paths, name);
  // A lock on a real password (`!$6$...`), not the bare `!` of an account that never had one.
  const wasLocked = before !== undefined && isPasswordLocked(before.hash) && usableHash(before.hash) !== undefined;
  const hash = before === undefined ? undefined : usableHash(before.hash);
  const same = hash === undefined ? false : await passwordMatches(system, password, hash);
  if (same !== true) {
    // Root sets this password for recovery: hardened PAM stacks (pam_pwquality
    // enforce_for_root, pam_pwhistory) would refuse it through chpasswd's PAM path, so the
    // hash is computed here with the distribution's method and set with `chpasswd -e`,
    // which writes it without PAM. Password and hash travel on stdin only, never in
    // ps, logs or audit records. Without any hashing tool, plain chpasswd is the fallback.
    const hashed = await hashPassword(system, paths, password);
    const result =
      hashed === undefined
        ? await system.run('chpasswd', [], { input: `${name}:${password}\n`, timeoutMs: COMMAND_TIMEOUT_MS })
        : await system.run('chpasswd', ['-e'], { input: `${name}:${hashed}\n`, timeoutMs: COMMAND_TIMEOUT_MS });
    if (result.exitCode !== 0 || !result.started) throw commandFailed(`chpasswd for "${name}"`, result, hashed ?? password);
  }
  const after = await readShadow(system, paths, name);
  let unlocked = false;
  if (after !== undefined && isPasswordLocked(after.hash)) {
    const result = await system.run('usermod', ['--unlock', '--', name], { timeoutMs: COMMAND_TIMEOUT_MS });
    if (result.exitCode !== 0 || !result.started) throw commandFailed(`usermod --unlock for "${name}"`, result);
    unlocked = true;
  }
  if (same === true && !unlocked) return { changed: false, message: `The password of "${name}" is already the requested one.` };
  const lockNote = unlocked || wasLocked ? '; the locked password was unlocked' : '';
  return { changed: true, message: `${same === true ? 'The password was already set' : 'Password set'} for "${name}"${lockNote}.` };
}

export async function setExpiration(system: System, paths: SystemPaths, name: string, expiration: string): Promise<PasswordChange> {
  const wanted = daysSinceEpoch(expiration);
  const shadow = await readShadow(system, paths, name);
  if (shadow?.expireDays === wanted) return { changed: false, message: `"${name}" already expires on ${expiration}.` };
  const result = await system.run('usermod', ['--expiredate', expiration, '--', name], { timeoutMs: COMMAND_TIMEOUT_MS });
  if (result.exitCode !== 0 || !result.started) throw commandFailed(`usermod --expiredate for "${name}"`, result);
  return { changed: true, message: `"${name}" now expires on ${expiration}.` };
}

const NEVER_REMOVE = new Set(['/', '/home', '/root', '/usr', '/var', '/etc', '/bin', '/sbin', '/lib', '/lib64', '/opt', '/srv', '/tmp', '/boot', '/dev', '/proc', '/sys', '/run', '/mnt', '/media']);

/**
 * Whether `userdel --remove` may delete this home: only a directory of the user's own,
 * not a system directory, not a symlink, and not shared with (or holding) another
 * account's home. Otherwise the account goes and the home stays, with the reason.
 */
export async function homeRemovalVerdict(system: System, paths: SystemPaths, entry: PasswdEntry): Promise<{ remove: boolean; reason?: string }> {
  const home = entry.home.replace(/\/+$/, '');
  if (!home.startsWith('/') || home.split('/').includes('..') || NEVER_REMOVE.has(home || '/')) {
    return { remove: false, reason: `its home ${entry.home || '(none)'} is not a per-user directory` };
  }
  const others = (await readLocalUsers(system, paths)).filter((other) => other.name !== entry.name);
  const shared = others.find((other) => {
    const theirs = other.home.replace(/\/+$/, '');
    return theirs === home || theirs.startsWith(`${home}/`);
  });
  if (shared !== undefined) return { remove: false, reason: `its home ${home} is shared with or holds the home of "${shared.name}"` };
  const info = await system.lstat(home);
  if (info === undefined) return { remove: true };
  if (info.type !== 'directory') return { remove: false, reason: `its home ${home} is not a directory` };
  if (info.uid !== entry.uid) return { remove: false, reason: `its home ${home} is owned by uid ${info.uid}, not by the account` };
  return { remove: true };
}

export async function deleteAccount(system: System, paths: SystemPaths, entry: PasswdEntry, removeHome: boolean): Promise<string[]> {
  const args = removeHome ? ['--remove', '--', entry.name] : ['--', entry.name];
  const result = await system.run('userdel', args, { timeoutMs: COMMAND_TIMEOUT_MS });
  const notes: string[] = [];
  if (result.exitCode === 8) {
    throw new VmaccessError('USER_COMMAND_FAILED', `userdel refused to delete "${entry.name}": the account has running processes or is logged in.`, {
      hint: 'Stop its sessions and processes, then send remove_user again.',
    });
  }
  // 12: the account is gone but the home or mail spool could not be removed (or was missing).
  if (result.exitCode === 12) notes.push(`userdel could not remove everything: ${firstLine(result.stderr, 240)}`);
  else if (result.exitCode !== 0 || !result.started) throw commandFailed(`userdel for "${entry.name}"`, result);
  if ((await readLocalUser(system, paths, entry.name)) !== undefined) {
    throw new VmaccessError('USER_COMMAND_FAILED', `userdel finished but "${entry.name}" is still in ${paths.passwd}.`);
  }
  return notes;
}
