import * as path from 'node:path';
import { VmaccessError, isVmaccessError } from '../../errors.js';
import { mergeAuthorizedKeys } from '../../config/authorized-keys.js';
import { parseUseraddDefaults } from '../../config/login-defs.js';
import { lineDiff, removeSudoersUser, setSudoersUser } from '../../config/sudoers.js';
import { parseSshPublicKeys, withExpiry } from '../../config/ssh-public-key/index.js';
import type { SshPublicKey } from '../../config/ssh-public-key/index.js';
import { daysSinceEpoch, isPasswordLocked, usableHash } from '../../config/passwd.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { AccountRequest } from '../../settings/request.js';
import type { ActionContext, PlannedCommand, PlannedFile, PlannedStep, StepOutcome } from '../plan.js';
import { currentDigest, sha256Hex, WRITTEN_BY_PROGRAM } from '../file-digest.js';
import { assertChangeable, assertSafeUsername, findAccount, networkAccountError, readLocalUsers, readShadow, readTextIfAllowed, readUidRange } from './account-database.js';
import { assertSafePassword, chooseNewAccountShell, homeRemovalVerdict, passwordMatches } from './account-commands.js';
import { loadProvisioningKeys } from './account-provisioning-keys.js';
import { assertKeysFileNotShared, checkAuthorizedKeysPath, locateAuthorizedKeysFile } from './authorized-keys-file.js';
import { readCurrentKeys } from './authorized-keys-io.js';
import { keyExpiryOption } from './key-expiry.js';
import { accessDeadline, planGrant } from '../access/access-plan.js';
import type { GrantPlan } from '../access/access-plan.js';
import type { KeysFileCheck, KeysFileLocation } from './authorized-keys-file.js';

/**
 * The plan of the `user` action: everything that can be refused is checked here, before
 * the first change, and every file, command and step apply will produce is listed. A
 * refusal is part of the plan (apply reports it as the failed step), so plan and apply
 * cannot disagree about it. The password and the parsed keys stay in the detail.
 */

export type UserStep = 'account' | 'password' | 'expiration' | 'ssh_key' | 'sudo' | 'remove_user' | 'access';

export interface PlannedKeys {
  keys: SshPublicKey[];
  /** Where they came from, for messages. */
  origin: string;
  notes: string[];
}

export interface AccountDetail {
  kind: 'account';
  /** The request itself (it holds the password): apply needs it, nobody may see it. */
  account: AccountRequest;
  existing: PasswdEntry | undefined;
  keys: PlannedKeys | undefined;
  location: KeysFileLocation | undefined;
  nopasswd: boolean;
  /** access_minutes: what is taken back at the deadline. */
  grant?: GrantPlan;
}

export interface RemovalDetail {
  kind: 'remove';
  entry: PasswdEntry;
  removeHome: { remove: boolean; reason?: string };
}

/** A request part that was refused while planning; apply reports it and changes nothing. */
export interface Refusal {
  kind: 'refused';
  outcome: StepOutcome;
}

export interface UserDetail {
  removal?: RemovalDetail | Refusal;
  account?: AccountDetail | Refusal;
  /** The account asked for; unplanned (skipped) when remove_user was refused. */
  accountName?: string;
}

/** The public parts one request part adds to the plan. */
export interface PlanParts {
  steps: PlannedStep[];
  files: PlannedFile[];
  commands: PlannedCommand[];
  notes: string[];
}

export function emptyParts(): PlanParts {
  return { steps: [], files: [], commands: [], notes: [] };
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function describeKeys(keys: readonly SshPublicKey[]): string {
  return keys.map((key) => `${key.type} ${key.fingerprint}`).join(', ');
}

/** A refusal as the failed outcome of the step it belongs to. */
export function refusal(step: UserStep, error: unknown): Refusal {
  if (!isVmaccessError(error)) throw error;
  return { kind: 'refused', outcome: { name: step, result: 'failed', code: error.code, message: error.statusMessage } };
}

/** Keys from the request, or with neither password nor key, the provisioning keys. */
async function keysFor(account: AccountRequest, context: ActionContext): Promise<PlannedKeys | undefined> {
  let planned: PlannedKeys;
  if (account.sshKey !== undefined) {
    const keys = parseSshPublicKeys(account.sshKey);
    planned = { keys, origin: 'ssh_key', notes: [...new Set(keys.flatMap((key) => key.warnings))] };
  } else {
    if (account.password !== undefined) return undefined;
    const provisioning = await loadProvisioningKeys(context.system, context.agentLibDir);
    planned = {
      keys: provisioning.keys,
      origin: `the provisioning keys in ${provisioning.source}`,
      notes: [...provisioning.skipped, ...new Set(provisioning.keys.flatMap((key) => key.warnings))],
    };
  }
  if (account.keyExpiry !== undefined) return expiringKeys(planned, account.keyExpiry, context);
  if (account.accessMinutes === undefined) return planned;
  // access_minutes: the keys of the request end with the access, enforced by sshd itself.
  try {
    return await expiringKeys(planned, accessDeadline(context, account.accessMinutes), context);
  } catch (error) {
    if (!isVmaccessError(error) || error.code !== 'SSH_KEY_EXPIRY_UNSUPPORTED') throw error;
    return { ...planned, notes: [...planned.notes, 'this sshd cannot expire keys by itself (OpenSSH older than 8.2): the keys stay until the account is removed'] };
  }
}

/** ssh_key_expiry: sshd itself refuses these keys after the instant (key-expiry.ts). */
async function expiringKeys(planned: PlannedKeys, iso: string, context: ActionContext): Promise<PlannedKeys> {
  const expiry = await keyExpiryOption(context.system, iso);
  const notes = [...planned.notes, `sshd refuses these keys after ${iso} (${expiry.option}); a key already in the file takes this expiry and keeps its other options`];
  if (expiry.note !== undefined) notes.push(expiry.note);
  return { keys: withExpiry(planned.keys, expiry.option), origin: planned.origin, notes };
}

/** Checks in the order of the legacy flow, each refusal named by its step. */
async function checkAccount(account: AccountRequest, context: ActionContext): Promise<AccountDetail | Refusal> {
  const { system, paths } = context;
  let step: UserStep = 'account';
  try {
    assertSafeUsername(account.username);
    if (account.password !== undefined) {
      step = 'password';
      assertSafePassword(account.password);
    }
    step = 'ssh_key';
    // Keys are parsed before the account is looked at: garbage is refused first.
    const given = account.sshKey !== undefined ? await keysFor(account, context) : undefined;
    step = 'account';
    const range = await readUidRange(system, paths);
    const state = await findAccount(system, paths, account.username);
    if (state.kind === 'network') throw networkAccountError(account.username);
    const existing = state.kind === 'local' ? state.entry : undefined;
    if (existing !== undefined) assertChangeable(existing, range);
    step = 'ssh_key';
    const keys = given ?? (await keysFor(account, context));
    let location: KeysFileLocation | undefined;
    if (keys !== undefined && existing !== undefined) {
      location = await locateAuthorizedKeysFile(system, existing, context.sshdAnswers);
      // Refused here (unsafe path, link planted by the user) rather than half way through apply.
      await checkAuthorizedKeysPath(system, location.file, existing);
      if (account.removePriorKeys) await otherKeyFiles(system, location, existing);
      await assertKeysFileNotShared(system, location, existing, () => readLocalUsers(system, paths));
    }
    // NOPASSWD unless a password was given (and passwordless access was not asked for),
    // as the guest agent and the original extension do.
    const nopasswd = account.password === undefined || account.passwordless;
    return { kind: 'account', account, existing, keys, location, nopasswd };
  } catch (error) {
    return refusal(step, error);
  }
}

/** The other AuthorizedKeysFile entries that exist: with remove_prior_keys their keys must go too. */
export async function otherKeyFiles(system: ActionContext['system'], location: KeysFileLocation, user: PasswdEntry): Promise<KeysFileCheck[]> {
  const checks: KeysFileCheck[] = [];
  for (const other of location.others) {
    const check = await checkAuthorizedKeysPath(system, other, user);
    if (check.existing !== undefined) checks.push(check);
  }
  return checks;
}

/** The account database files a shadow tool rewrites, those that exist here. */
async function databaseFiles(context: ActionContext, program: string, files: readonly string[], reason: string): Promise<PlannedFile[]> {
  const planned: PlannedFile[] = [];
  for (const file of files) {
    const before = await currentDigest(context.system, file);
    if (before !== null) planned.push({ path: file, before, after: WRITTEN_BY_PROGRAM, writtenBy: program, reason: `by ${program}: ${reason}` });
  }
  return planned;
}

async function planNewAccount(detail: AccountDetail, context: ActionContext, parts: PlanParts): Promise<void> {
  const { system, paths } = context;
  const { account } = detail;
  const { shell, explicit } = await chooseNewAccountShell(system, paths);
  const argv = ['useradd', '--create-home', ...(explicit ? ['--shell', shell] : []), ...(account.expiration === undefined ? [] : ['--expiredate', account.expiration]), '--', account.username];
  parts.commands.push({ argv, why: `create the account "${account.username}"` });
  parts.files.push(...(await databaseFiles(context, 'useradd', [paths.passwd, paths.shadow, paths.group, '/etc/gshadow'], 'new account')));
  parts.steps.push({
    name: 'account',
    changes: true,
    summary: `create "${account.username}" with a home directory (useradd defaults; shell ${shell})${account.expiration === undefined ? '' : `, expiring ${account.expiration}`}`,
  });
}

async function planPassword(detail: AccountDetail, password: string, context: ActionContext, parts: PlanParts): Promise<void> {
  const { system, paths } = context;
  const name = detail.account.username;
  const shadow = detail.existing === undefined ? undefined : await readShadow(system, paths, name);
  const hash = shadow === undefined ? undefined : usableHash(shadow.hash);
  const same = hash === undefined ? false : await passwordMatches(system, password, hash);
  const locked = shadow !== undefined && isPasswordLocked(shadow.hash);
  if (same !== true) {
    parts.commands.push({ argv: ['perl', '-e', '<crypt(3) of stdin>'], why: `hash the password with this distribution's method; password on stdin, never in arguments` });
    parts.commands.push({ argv: ['chpasswd', '-e'], why: `set the password of "${name}"; name and hash on stdin, past PAM's quality checks` });
  }
  // chpasswd normally clears a lock; usermod --unlock also runs if the lock is still there after it.
  if (same === true && locked) parts.commands.push({ argv: ['usermod', '--unlock', '--', name], why: 'the password is right but locked' });
  const changes = same !== true || locked;
  if (changes && detail.existing !== undefined) parts.files.push(...(await databaseFiles(context, same !== true ? 'chpasswd' : 'usermod', [paths.shadow], `password of "${name}"`)));
  parts.steps.push({
    name: 'password',
    changes,
    summary: changes ? `set the password of "${name}" through chpasswd on stdin (unlocking it if locked); value not shown` : `"${name}" already has this password`,
  });
  parts.notes.push(`the ssh action will let sshd accept a password for "${name}" only`);
}

async function planExpiration(detail: AccountDetail, expiration: string, context: ActionContext, parts: PlanParts): Promise<void> {
  const name = detail.account.username;
  if (detail.existing === undefined) {
    parts.steps.push({ name: 'expiration', changes: true, summary: `"${name}" is created expiring on ${expiration} (useradd --expiredate)` });
    return;
  }
  const shadow = await readShadow(context.system, context.paths, name);
  const already = shadow?.expireDays === daysSinceEpoch(expiration);
  if (!already) {
    parts.commands.push({ argv: ['usermod', '--expiredate', expiration, '--', name], why: 'set the expiry date' });
    parts.files.push(...(await databaseFiles(context, 'usermod', [context.paths.shadow], `expiry of "${name}"`)));
  }
  parts.steps.push({ name: 'expiration', changes: !already, summary: already ? `"${name}" already expires on ${expiration}` : `set the expiry of "${name}" to ${expiration}` });
}

/** Where useradd will put the home of a new account: HOME of /etc/default/useradd, else /home. */
async function predictedHome(context: ActionContext, name: string): Promise<string> {
  const base = parseUseraddDefaults(await context.system.readText(context.paths.useraddDefaults)).get('HOME');
  return path.posix.join(base === undefined || base === '' ? '/home' : base, name);
}

async function planKeys(detail: AccountDetail, keys: PlannedKeys, context: ActionContext, parts: PlanParts): Promise<void> {
  const { system } = context;
  const { account, existing, location } = detail;
  const replace = account.removePriorKeys;
  const notes = [...keys.notes, ...(location?.note === undefined ? [] : [location.note])];
  let target: string;
  let summaryDetail = '';
  let changes = true;
  if (existing === undefined || location === undefined) {
    target = path.posix.join(await predictedHome(context, account.username), '.ssh/authorized_keys');
    const merge = mergeAuthorizedKeys(undefined, keys.keys, { replace });
    parts.files.push({ path: target, before: null, after: sha256Hex(merge.text), reason: `keys of the new account "${account.username}"` });
    notes.push(`${target} is a prediction: the account does not exist yet, and its home and sshd's AuthorizedKeysFile are read after useradd`);
  } else {
    target = location.file;
    const check = await checkAuthorizedKeysPath(system, location.file, existing);
    try {
      // Read the way apply reads it (as the user where the user controls the path), and
      // digest that text: root never opens a name the user could have swapped.
      const current = await readCurrentKeys(system, check, existing);
      const merge = mergeAuthorizedKeys(current, keys.keys, { replace });
      changes = merge.changed;
      const expiring = merge.expiryUpdated.length > 0 ? `, ${merge.expiryUpdated.length} of them given the expiry` : '';
      summaryDetail = merge.changed ? ` (${merge.added.length} new, ${merge.alreadyPresent.length} already there${expiring}${replace ? `, ${merge.removed} removed` : ''})` : ' (no change: all keys already there)';
      if (merge.changed) parts.files.push({ path: target, before: current === undefined ? null : sha256Hex(current), after: sha256Hex(merge.text), reason: `SSH keys of "${account.username}"` });
    } catch {
      summaryDetail = ' (the current file cannot be read without root)';
    }
    if (replace) {
      for (const other of await otherKeyFiles(system, location, existing)) {
        const current = await readCurrentKeys(system, other, existing);
        const emptied = mergeAuthorizedKeys(current, [], { replace: true });
        if (!emptied.changed) continue;
        changes = true;
        parts.files.push({ path: other.file, before: current === undefined ? null : sha256Hex(current), after: sha256Hex(emptied.text), reason: 'remove_prior_keys: sshd also reads it' });
        notes.push(`empty ${other.file} too (sshd also reads it)`);
      }
    }
  }
  const verb = replace ? 'replace the keys in' : 'add to';
  parts.steps.push({ name: 'ssh_key', changes, summary: `${verb} ${target}${summaryDetail}: ${plural(keys.keys.length, 'key')} from ${keys.origin}: ${describeKeys(keys.keys)}` });
  parts.notes.push(...notes.map((note) => `ssh_key: ${note}`));
}

/** The sudoers drop-in before and after `transform`, as a step and a file. */
export async function planSudoers(context: ActionContext, transform: (current: string | undefined) => string, parts: PlanParts): Promise<void> {
  const file = context.paths.sudoersFile;
  let current: string | undefined;
  try {
    current = await readTextIfAllowed(context.system, file);
  } catch {
    current = undefined;
  }
  const after = transform(current);
  const diff = lineDiff(current ?? '', after);
  if (diff.length === 0) {
    parts.steps.push({ name: 'sudo', changes: false, summary: `${file} already as wanted` });
    return;
  }
  parts.files.push({ path: file, before: current === undefined ? null : sha256Hex(current), after: sha256Hex(after), reason: 'sudo rights; checked with visudo -c first, mode 0440' });
  parts.steps.push({ name: 'sudo', changes: true, summary: `${file} (checked with visudo -c before it replaces the file, mode 0440): ${diff.join('; ')}` });
}

export async function planAccount(account: AccountRequest, context: ActionContext, parts: PlanParts): Promise<AccountDetail | Refusal> {
  const detail = await checkAccount(account, context);
  if (detail.kind === 'refused') return detail;
  const name = account.username;
  try {
    if (detail.existing === undefined) await planNewAccount(detail, context, parts);
    else parts.steps.push({ name: 'account', changes: false, summary: `"${name}" exists (uid ${detail.existing.uid}, home ${detail.existing.home}); nothing else about it changes` });
  } catch (error) {
    return refusal('account', error);
  }
  if (account.password !== undefined) await planPassword(detail, account.password, context, parts);
  if (account.expiration !== undefined) await planExpiration(detail, account.expiration, context, parts);
  try {
    if (detail.keys !== undefined) await planKeys(detail, detail.keys, context, parts);
  } catch (error) {
    return refusal('ssh_key', error);
  }
  await planSudoers(context, (current) => setSudoersUser(current, name, { nopasswd: detail.nopasswd }), parts);
  if (account.accessMinutes !== undefined) {
    try {
      detail.grant = await planGrant(context, name, account.accessMinutes, detail.existing === undefined, parts);
    } catch (error) {
      return refusal('access', error);
    }
  }
  return detail;
}

export async function planRemoval(name: string, context: ActionContext, parts: PlanParts): Promise<RemovalDetail | Refusal> {
  const { system, paths } = context;
  let entry: PasswdEntry;
  let removeHome: { remove: boolean; reason?: string };
  try {
    assertSafeUsername(name);
    const state = await findAccount(system, paths, name);
    if (state.kind === 'network') throw networkAccountError(name);
    if (state.kind === 'missing') {
      throw new VmaccessError('USER_NOT_FOUND', `There is no account "${name}" to remove.`, { hint: 'Check the name; nothing was changed.' });
    }
    assertChangeable(state.entry, await readUidRange(system, paths));
    entry = state.entry;
    removeHome = await homeRemovalVerdict(system, paths, entry);
  } catch (error) {
    return refusal('remove_user', error);
  }
  parts.commands.push({ argv: ['userdel', ...(removeHome.remove ? ['--remove'] : []), '--', name], why: `remove the account "${name}"` });
  parts.files.push(...(await databaseFiles(context, 'userdel', [paths.passwd, paths.shadow, paths.group, '/etc/gshadow'], `account "${name}" removed`)));
  // The whole tree goes; its files are not listed one by one.
  if (removeHome.remove) parts.files.push({ path: entry.home, before: null, after: null, writtenBy: 'userdel --remove', reason: 'home directory and everything in it' });
  parts.steps.push({
    name: 'remove_user',
    changes: true,
    summary: removeHome.remove
      ? `delete "${name}" (uid ${entry.uid}), its home ${entry.home} and mail spool (userdel --remove)`
      : `delete "${name}" (uid ${entry.uid}); keep its home because ${removeHome.reason ?? 'it is not safe to delete'}`,
  });
  parts.notes.push(`processes still running as uid ${entry.uid} are ended first (loginctl terminate-user where logind runs, then SIGTERM, up to 5 s, SIGKILL)`);
  parts.notes.push(`the ssh action drops any per-user sshd settings vmaccess made for "${name}"`);
  await planSudoers(context, (current) => removeSudoersUser(current, name), parts);
  return { kind: 'remove', entry, removeHome };
}
