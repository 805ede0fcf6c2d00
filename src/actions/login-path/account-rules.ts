import type { PasswdEntry } from '../../config/passwd.js';
import type { FileInfo } from '../../system/system.js';
import { finding, ok, type CheckVerdict, type LoginMeans } from './verdict.js';

/**
 * The account's side of a login, judged as sshd and PAM would: shell, expiry, a locked
 * password, and StrictModes on the files sshd reads keys from. Pure.
 */

const REFUSING_SHELLS = /\/(nologin|false)$/;

export function judgeShell(account: PasswdEntry, shellExists: boolean): CheckVerdict {
  // An empty shell field means /bin/sh (passwd(5)).
  const shell = account.shell === '' ? '/bin/sh' : account.shell;
  if (REFUSING_SHELLS.test(shell)) return finding('shell', 'blocked', `the login shell is ${shell}, which refuses every session`, { user: account.name, fix: 'unlock' });
  if (!shellExists) return finding('shell', 'blocked', `the login shell ${shell} does not exist`, { user: account.name, fix: 'unlock' });
  return ok('shell', `login shell ${shell}`, account.name);
}

/**
 * Account expiry as `chage -l` reports it (`never` or a date). shadow(5): the account
 * is disabled from the expiry day on, so a date of today already blocks.
 */
export function judgeExpiry(user: string, expires: string | undefined, today: string): CheckVerdict {
  if (expires === undefined) return finding('expiry', 'warning', 'the account expiry could not be read', { user });
  if (expires === 'never') return ok('expiry', 'the account never expires', user);
  if (expires <= today) return finding('expiry', 'blocked', `the account expired on ${expires}`, { user, fix: 'unlock' });
  return ok('expiry', `the account expires on ${expires}`, user);
}

/** What `passwd -S` says of the password: usable, locked (`!` prefix) or none at all. */
export type PasswordState = 'usable' | 'locked' | 'none';

export function judgePassword(user: string, state: PasswordState | undefined, means: LoginMeans, usePam: boolean): CheckVerdict {
  if (state === undefined) return finding('password_state', 'warning', 'the password state could not be read', { user });
  // Without PAM, sshd's own account check refuses a locked account for every method.
  if (state === 'locked' && !usePam) return finding('password_state', 'blocked', 'the password is locked and UsePAM is no, so sshd refuses the account for every method', { user, fix: 'unlock' });
  if (!means.password) return ok('password_state', `password ${state}; not needed for a key login`, user);
  if (state === 'locked') return finding('password_state', means.key ? 'warning' : 'blocked', 'the password is locked', { user, fix: 'unlock' });
  if (state === 'none') return finding('password_state', means.key ? 'warning' : 'blocked', 'the account has no password', { user, fix: 'password' });
  return ok('password_state', 'the password is set and not locked', user);
}

export interface PathFact {
  path: string;
  info: FileInfo | undefined;
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/**
 * StrictModes (auth.c secure_filename): the key file and every directory from it up to
 * the home directory (up to / when the file lies outside it) must be owned by root or the
 * user and writable by nobody else. `chain` lists the file first, then its parents.
 */
export function judgeStrictModes(account: PasswdEntry, chain: readonly PathFact[], strict: boolean): CheckVerdict {
  const name = 'strict_modes';
  if (!strict) return ok(name, 'StrictModes no: sshd does not check ownership and modes', account.name);
  const keyFile = chain[0];
  if (keyFile === undefined || keyFile.info === undefined) return finding(name, 'blocked', `${keyFile?.path ?? 'the key file'} does not exist`, { user: account.name, fix: 'ssh_key' });
  for (const [index, entry] of chain.entries()) {
    const { info } = entry;
    if (info === undefined) continue;
    const isHome = entry.path === account.home;
    const fix = isHome ? {} : { fix: 'ssh_key' as const };
    const advice = isHome ? { advice: `chmod go-w ${entry.path} by hand: no request changes a home directory's mode` } : {};
    if (index === 0 && info.type !== 'file') return finding(name, 'blocked', `${entry.path} is not a regular file`, { user: account.name, fix: 'ssh_key' });
    if (info.uid !== 0 && info.uid !== account.uid) {
      return finding(name, 'blocked', `${entry.path} is owned by uid ${info.uid}, not ${account.name} or root: StrictModes refuses it`, { user: account.name, ...fix, ...advice });
    }
    if ((info.mode & 0o022) !== 0) {
      return finding(name, 'blocked', `${entry.path} has mode ${octal(info.mode)} (writable by group or others): StrictModes refuses it`, { user: account.name, ...fix, ...advice });
    }
  }
  return ok(name, `owners and modes of ${chain.map((entry) => entry.path).join(', ')} pass StrictModes`, account.name);
}

/** The key file, then each parent up to and including the home directory (or /). */
export function strictModesChain(keyFile: string, home: string): string[] {
  const chain = [keyFile];
  let current = keyFile;
  const stop = keyFile.startsWith(`${home.replace(/\/+$/, '')}/`) ? home.replace(/\/+$/, '') : '/';
  while (current !== stop && current !== '/') {
    current = current.slice(0, current.lastIndexOf('/')) || '/';
    chain.push(current);
  }
  return chain;
}

/** `/etc/nologin` stops every login but root's (pam_nologin). */
export function judgeNologin(content: string | undefined): CheckVerdict {
  if (content === undefined) return ok('nologin', '/etc/nologin does not exist');
  const reason = content.split('\n').find((line) => line.trim() !== '')?.trim().slice(0, 120);
  return finding('nologin', 'warning', `/etc/nologin exists${reason === undefined ? '' : ` ("${reason}")`}: pam_nologin refuses every user but root`, {
    advice: 'remove /etc/nologin (it is usually left by a shutdown that did not finish)',
  });
}

/** `chage -l` output (LC_ALL=C): the `Account expires` line as `never` or yyyy-mm-dd. */
export function parseChageExpiry(output: string): string | undefined {
  const line = /^Account expires\s*:\s*(.+)$/m.exec(output)?.[1]?.trim();
  if (line === undefined) return undefined;
  if (line === 'never') return 'never';
  if (/^\d{4}-\d{2}-\d{2}$/.test(line)) return line;
  const parsed = Date.parse(`${line} UTC`);
  return Number.isNaN(parsed) ? undefined : new Date(parsed).toISOString().slice(0, 10);
}

/** `passwd -S` (shadow-utils and Debian): the second field says L/LK locked, NP none, P/PS usable. */
export function parsePasswdStatus(output: string): PasswordState | undefined {
  const field = output.trim().split(/\s+/)[1];
  if (field === undefined) return undefined;
  if (field === 'L' || field === 'LK') return 'locked';
  if (field === 'NP') return 'none';
  if (field === 'P' || field === 'PS') return 'usable';
  return undefined;
}
