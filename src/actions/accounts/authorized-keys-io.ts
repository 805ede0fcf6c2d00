import { VmaccessError } from '../../errors.js';
import { mergeAuthorizedKeys } from '../../config/authorized-keys.js';
import type { AuthorizedKeysMerge } from '../../config/authorized-keys.js';
import type { SshPublicKey } from '../../config/ssh-public-key/index.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { Logger } from '../../logger.js';
import type { RunResult, System } from '../../system/system.js';
import { firstLine } from '../../text.js';
import { restoreSelinuxLabels } from '../selinux.js';
import { isWithin, unsafe } from './authorized-keys-file.js';
import type { KeysFileCheck } from './authorized-keys-file.js';

/**
 * Reading and writing a user's authorized_keys file when the user may be hostile: the
 * account owns its home and can rename, swap and link names there while root works.
 * Rule: root never reads or writes through a directory the user controls. There the
 * read and the write run in a child with the user's uid (setpriv), so the kernel's
 * permission checks decide, and a swapped-in link to /root/.ssh or /etc/shadow gets the
 * user nothing they could not already read or write. Without setpriv, fail closed.
 */

/** Far above any real key file; a bound so /dev/zero or a huge file cannot exhaust memory. */
export const MAX_KEYS_FILE_BYTES = 4 * 1024 * 1024;
const AS_USER_TIMEOUT_MS = 30_000;

/**
 * Runs as the user. `[ -L ]`/`[ -f ]` refuse a link or non-file at the name; if one is
 * swapped in after that, dd opens with O_NOFOLLOW (a link fails) and O_NONBLOCK (a FIFO
 * returns at once), and count bounds what a device could produce. Exit 4: no file.
 */
const READ_AS_USER_SCRIPT = [
  'set -eu',
  'file=$1; blocks=$2',
  'if [ -L "$file" ]; then echo "it is a symbolic link" >&2; exit 3; fi',
  'if [ ! -e "$file" ]; then exit 4; fi',
  'if [ ! -f "$file" ]; then echo "it is not a regular file" >&2; exit 3; fi',
  'exec dd if="$file" iflag=nofollow,nonblock bs=65536 count="$blocks" status=none',
].join('\n');

/**
 * Runs as the user. mkdir fails on anything already at a name, the temporary name comes
 * from mktemp (O_EXCL), and `mv -T` replaces a link at the target rather than following
 * it. Arguments: mode, file, directories to create (outermost first).
 */
const WRITE_AS_USER_SCRIPT = [
  'set -eu',
  'umask 077',
  'mode=$1; file=$2; shift 2',
  'for dir in "$@"; do mkdir -m 700 -- "$dir"; done',
  'tmp=$(mktemp -- "${file%/*}/.authorized_keys.vmaccess-XXXXXX")',
  'if cat > "$tmp" && chmod "$mode" -- "$tmp" && { sync -- "$tmp" 2>/dev/null || :; } && mv -f -T -- "$tmp" "$file"; then exit 0; fi',
  'rm -f -- "$tmp"',
  'exit 1',
].join('\n');

/** `$0` of each script: names the child in ps and tells the test fakes which one runs. */
export const READ_AS_USER_NAME = 'vmaccess-keys-read';
export const WRITE_AS_USER_NAME = 'vmaccess-keys';
export const PROBE_AS_USER_NAME = 'vmaccess-keys-probe';

function setprivMissing(file: string, user: PasswdEntry): VmaccessError {
  return new VmaccessError('PREREQUISITE_MISSING', `setpriv is not installed, and ${file} is under a directory ${user.name} controls: vmaccess reads and writes it only as ${user.name}, never as root.`, {
    hint: 'Install util-linux (it provides setpriv), then run the request again.',
  });
}

function runAsUser(system: System, user: PasswdEntry, script: string, name: string, args: string[], input?: string): Promise<RunResult> {
  const argv = ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', '--', '/bin/sh', '-c', script, name, ...args];
  return system.run('setpriv', argv, { ...(input === undefined ? {} : { input }), timeoutMs: AS_USER_TIMEOUT_MS });
}

async function readAsUser(system: System, check: KeysFileCheck, user: PasswdEntry): Promise<string | undefined> {
  const blocks = Math.floor(MAX_KEYS_FILE_BYTES / 65536) + 1;
  const result = await runAsUser(system, user, READ_AS_USER_SCRIPT, READ_AS_USER_NAME, [check.file, String(blocks)]);
  if (!result.started) throw setprivMissing(check.file, user);
  if (result.exitCode === 4) return undefined;
  if (result.timedOut) throw unsafe(check.file, `reading it as ${user.name} did not finish`);
  if (result.exitCode !== 0) throw unsafe(check.file, `reading it as ${user.name} failed (${firstLine(result.stderr, 200, `exit ${result.exitCode}`)})`);
  if (Buffer.byteLength(result.stdout) > MAX_KEYS_FILE_BYTES) throw unsafe(check.file, `it is larger than ${MAX_KEYS_FILE_BYTES} bytes`);
  return result.stdout;
}

/**
 * The current key file's text, or undefined when there is none. Where the user controls
 * a directory on the way it is read as the user; elsewhere root opens it without
 * following links or blocking, and it must still be the file the path check looked at.
 */
export async function readCurrentKeys(system: System, check: KeysFileCheck, user: PasswdEntry): Promise<string | undefined> {
  if (check.existing === undefined) return undefined;
  if (check.userControlled) return readAsUser(system, check, user);
  const read = await system.readRegularFile(check.file, { maxBytes: MAX_KEYS_FILE_BYTES });
  if (read.kind === 'missing') return undefined;
  if (read.kind === 'refused') throw unsafe(check.file, read.reason);
  const { dev, ino } = check.existing;
  if ((dev !== undefined && read.info.dev !== dev) || (ino !== undefined && read.info.ino !== ino)) {
    throw unsafe(check.file, 'it was replaced between the path check and the read');
  }
  return read.text;
}

/** What writing these keys would do, without writing (for plans and for the no-change check). */
export async function previewAuthorizedKeys(
  system: System,
  check: KeysFileCheck,
  user: PasswdEntry,
  keys: readonly SshPublicKey[],
  replace: boolean,
): Promise<AuthorizedKeysMerge> {
  return mergeAuthorizedKeys(await readCurrentKeys(system, check, user), keys, { replace });
}

export interface KeysFileResult {
  file: string;
  merge: AuthorizedKeysMerge;
  createdDirs: string[];
  notes: string[];
}

/**
 * Root creates only directories whose parent is root's (the user cannot touch those
 * names): outside the home root-owned 0755; the first one inside the home (the home
 * itself when plain useradd made none, or ~/.ssh under a root-owned home) 0700, checked,
 * then handed to the user, and root stops there. Returns the directories left for the
 * user to create. Nothing root writes afterwards goes through a handed-over directory.
 */
async function createRootDirectories(system: System, check: KeysFileCheck, user: PasswdEntry): Promise<{ handedOver: boolean; forUser: string[] }> {
  if (check.userControlled) return { handedOver: false, forUser: check.missingDirs };
  for (const [index, dir] of check.missingDirs.entries()) {
    const inHome = isWithin(dir, user.home);
    await system.mkdir(dir, { mode: inHome ? 0o700 : 0o755 });
    // Check what we created before handing it over (never chown an unchecked path).
    const created = await system.lstat(dir);
    if (created?.type !== 'directory' || created.uid !== 0) throw unsafe(check.file, `${dir} changed while it was being created`);
    if (inHome) {
      await system.chown(dir, user.uid, user.gid);
      return { handedOver: true, forUser: check.missingDirs.slice(index + 1) };
    }
  }
  return { handedOver: false, forUser: [] };
}

async function writeAsUser(system: System, check: KeysFileCheck, user: PasswdEntry, dirs: string[], text: string, mode: number): Promise<void> {
  const result = await runAsUser(system, user, WRITE_AS_USER_SCRIPT, WRITE_AS_USER_NAME, [mode.toString(8), check.file, ...dirs], text);
  if (!result.started) throw setprivMissing(check.file, user);
  if (result.exitCode !== 0) {
    const reason = firstLine(result.stderr, 200, `exit ${result.exitCode}`);
    throw unsafe(check.file, `writing it as ${user.name} failed (${reason}); a path component may have changed, or one inside the home is not ${user.name}'s`);
  }
}

/**
 * Write the keys; nothing is written when the content would not change. Where the user
 * controls (or is about to be given) a directory on the way, the remaining directories
 * and the file are made as the user (0700, file 0600 or the existing file's mode).
 * Only where every directory is root's does root write the file (atomically, 0600 owned
 * by the user when new, an existing file keeping its owner and mode).
 */
export async function writeAuthorizedKeys(
  system: System,
  check: KeysFileCheck,
  user: PasswdEntry,
  keys: readonly SshPublicKey[],
  replace: boolean,
  logger?: Logger,
): Promise<KeysFileResult> {
  const merge = await previewAuthorizedKeys(system, check, user, keys, replace);
  if (!merge.changed) return { file: check.file, merge, createdDirs: [], notes: [] };
  const existing = check.existing;
  const mode = existing?.mode ?? 0o600;
  const willHandOver = check.missingDirs.some((dir) => isWithin(dir, user.home));
  if (!check.userControlled && willHandOver) {
    // Fail closed before root creates anything when the user-side writer cannot run.
    const probe = await runAsUser(system, user, 'exit 0', PROBE_AS_USER_NAME, []);
    if (!probe.started) throw setprivMissing(check.file, user);
  }
  const { handedOver, forUser } = await createRootDirectories(system, check, user);
  if (check.userControlled || handedOver) {
    await writeAsUser(system, check, user, forUser, merge.text, mode);
  } else {
    await system.writeFileAtomic(check.file, merge.text, { mode, uid: existing?.uid ?? user.uid, gid: existing?.gid ?? user.gid });
  }
  // The file and every directory made for it, each by name: nothing else is relabelled.
  await restoreSelinuxLabels(system, [...check.missingDirs, check.file], logger);
  return { file: check.file, merge, createdDirs: check.missingDirs, notes: [] };
}
