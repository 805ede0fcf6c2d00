import * as path from 'node:path';
import { VmaccessError, errnoCode, isVmaccessError } from '../../errors.js';
import { lineDiff, removeSudoersUser, setSudoersUser } from '../../config/sudoers.js';
import { parseSshPublicKeys } from '../../config/ssh-public-key/index.js';
import type { SshPublicKey } from '../../config/ssh-public-key/index.js';
import { dateOfDays, daysSinceEpoch } from '../../config/passwd.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { AccountRequest, VmaccessRequest } from '../../settings/request.js';
import type { LegacyAction, ActionContext, StepOutcome } from '../action.js';
import {
  assertChangeable,
  assertSafeUsername,
  findAccount,
  networkAccountError,
  readShadow,
  readTextIfAllowed,
  readUidRange,
} from './account-database.js';
import {
  assertSafePassword,
  chooseNewAccountShell,
  createAccount,
  deleteAccount,
  homeRemovalVerdict,
  setExpiration,
  setPassword,
} from './account-commands.js';
import { loadProvisioningKeys } from './account-provisioning-keys.js';
import { checkAuthorizedKeysPath, locateAuthorizedKeysFile, previewAuthorizedKeys, writeAuthorizedKeys } from './authorized-keys-file.js';
import type { KeysFileCheck, KeysFileLocation } from './authorized-keys-file.js';
import { stageSudoers } from './user-sudoers.js';

/**
 * The `user` action: create or reset a sudo account (password, expiry, SSH keys) or
 * remove one. Everything that can be refused is checked before the first change: the
 * name, the keys, the account (root, system, network accounts), the key file's path and
 * the new sudoers file (validated by visudo). Changes then go in this order: account,
 * password, expiry, keys, sudoers; each step reports changed / unchanged / failed.
 */

type Step = 'account' | 'password' | 'expiration' | 'ssh_key' | 'sudo' | 'remove_user';

interface PlannedKeys {
  keys: SshPublicKey[];
  /** Where they came from, for messages. */
  origin: string;
  notes: string[];
}

function describeKeys(keys: readonly SshPublicKey[]): string {
  return keys.map((key) => `${key.type} ${key.fingerprint}`).join(', ');
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function joinNotes(message: string, notes: readonly string[]): string {
  return notes.length === 0 ? message : `${message} (${notes.join('; ')})`;
}

/** Keys from the request, or with neither password nor key, the provisioning keys. */
async function keysFor(account: AccountRequest, context: ActionContext): Promise<PlannedKeys | undefined> {
  if (account.sshKey !== undefined) {
    const keys = parseSshPublicKeys(account.sshKey);
    return { keys, origin: 'ssh_key', notes: [...new Set(keys.flatMap((key) => key.warnings))] };
  }
  if (account.password !== undefined) return undefined;
  const provisioning = await loadProvisioningKeys(context.system, context.agentLibDir);
  return {
    keys: provisioning.keys,
    origin: `the provisioning keys in ${provisioning.source}`,
    notes: [...provisioning.skipped, ...new Set(provisioning.keys.flatMap((key) => key.warnings))],
  };
}

/** Everything about an account request that can be checked without changing anything. */
interface AccountPlan {
  name: string;
  existing: PasswdEntry | undefined;
  keys: PlannedKeys | undefined;
  location: KeysFileLocation | undefined;
  keysCheck: KeysFileCheck | undefined;
  /** remove_prior_keys: the other key files sshd reads that hold keys now. */
  otherChecks: KeysFileCheck[];
  nopasswd: boolean;
}

async function prepareAccount(account: AccountRequest, context: ActionContext, track: (step: Step) => void): Promise<AccountPlan> {
  const { system, paths } = context;
  const name = account.username;
  track('account');
  assertSafeUsername(name);
  if (account.password !== undefined) {
    track('password');
    assertSafePassword(account.password);
  }
  track('ssh_key');
  // Keys are parsed before the account is looked at: garbage is refused first.
  const keys = account.sshKey !== undefined ? await keysFor(account, context) : undefined;
  track('account');
  const range = await readUidRange(system, paths);
  const state = await findAccount(system, paths, name);
  if (state.kind === 'network') throw networkAccountError(name);
  const existing = state.kind === 'local' ? state.entry : undefined;
  if (existing !== undefined) assertChangeable(existing, range);
  track('ssh_key');
  const planned = keys ?? (await keysFor(account, context));
  let location: KeysFileLocation | undefined;
  let keysCheck: KeysFileCheck | undefined;
  let otherChecks: KeysFileCheck[] = [];
  if (planned !== undefined && existing !== undefined) {
    location = await locateAuthorizedKeysFile(system, existing);
    keysCheck = await checkAuthorizedKeysPath(system, location.file, existing);
    if (account.removePriorKeys) otherChecks = await checkOtherKeyFiles(system, location, existing);
  }
  // NOPASSWD unless a password was given (and passwordless access was not asked for),
  // as the guest agent and the original extension do.
  const nopasswd = account.password === undefined || account.passwordless;
  return { name, existing, keys: planned, location, keysCheck, otherChecks, nopasswd };
}

/** The other AuthorizedKeysFile entries that exist: with remove_prior_keys their keys must go too. */
async function checkOtherKeyFiles(system: ActionContext['system'], location: KeysFileLocation, user: PasswdEntry): Promise<KeysFileCheck[]> {
  const checks: KeysFileCheck[] = [];
  for (const other of location.others) {
    const check = await checkAuthorizedKeysPath(system, other, user);
    if (check.existing !== undefined) checks.push(check);
  }
  return checks;
}

async function applyAccount(account: AccountRequest, context: ActionContext): Promise<StepOutcome[]> {
  const { system, paths, logger } = context;
  const outcomes: StepOutcome[] = [];
  let step: Step = 'account';
  const track = (next: Step): void => {
    step = next;
  };
  try {
    const plan = await prepareAccount(account, context, track);
    track('sudo');
    const sudo = await stageSudoers(system, paths.sudoersFile, (current) => setSudoersUser(current, plan.name, { nopasswd: plan.nopasswd }));
    try {
      track('account');
      let entry = plan.existing;
      let createdWithExpiry = false;
      if (entry === undefined) {
        const created = await createAccount(system, paths, plan.name, account.expiration === undefined ? {} : { expiration: account.expiration });
        entry = created.entry;
        createdWithExpiry = account.expiration !== undefined;
        outcomes.push({
          name: 'account',
          result: 'changed',
          message: `Created account "${entry.name}" (uid ${entry.uid}, home ${entry.home}, shell ${created.shell}).`,
        });
      } else {
        const notes: string[] = [];
        const shadow = await readShadow(system, paths, entry.name);
        const today = Math.floor(system.now().getTime() / 86_400_000);
        if (account.expiration === undefined && shadow?.expireDays !== undefined && shadow.expireDays <= today) {
          notes.push(`note: the account expired on ${dateOfDays(shadow.expireDays)}; send expiration to extend it`);
        }
        outcomes.push({
          name: 'account',
          result: 'unchanged',
          message: joinNotes(`Account "${entry.name}" exists (uid ${entry.uid}); its other settings are kept.`, notes),
        });
      }
      logger.info({ user: entry.name, step: 'account' }, 'account ready');

      if (account.password !== undefined) {
        track('password');
        const change = await setPassword(system, paths, entry.name, account.password);
        // The ssh action makes sshd accept a password for this user (and only this user).
        context.ssh.passwordUsers.add(entry.name);
        outcomes.push({ name: 'password', result: change.changed ? 'changed' : 'unchanged', message: change.message });
        logger.info({ user: entry.name, step: 'password', changed: change.changed }, 'password step done');
      }

      if (account.expiration !== undefined) {
        track('expiration');
        if (createdWithExpiry) {
          outcomes.push({ name: 'expiration', result: 'changed', message: `"${entry.name}" expires on ${account.expiration}.` });
        } else {
          const change = await setExpiration(system, paths, entry.name, account.expiration);
          outcomes.push({ name: 'expiration', result: change.changed ? 'changed' : 'unchanged', message: change.message });
        }
        const today = Math.floor(system.now().getTime() / 86_400_000);
        if (daysSinceEpoch(account.expiration) <= today) {
          const last = outcomes.at(-1)!;
          last.message = `${last.message} That date is not in the future: the account cannot log in.`;
        }
      }

      if (plan.keys !== undefined) {
        track('ssh_key');
        const location = plan.location ?? (await locateAuthorizedKeysFile(system, entry));
        // Checked again right before writing: the first check may be a while ago.
        const check = await checkAuthorizedKeysPath(system, location.file, entry);
        const result = await writeAuthorizedKeys(system, check, entry, plan.keys.keys, account.removePriorKeys, logger);
        const notes = [...plan.keys.notes, ...result.notes, ...(location.note === undefined ? [] : [location.note])];
        let othersChanged = false;
        if (account.removePriorKeys) {
          // sshd also reads the later AuthorizedKeysFile entries: old keys there would still log in.
          for (const other of await checkOtherKeyFiles(system, location, entry)) {
            const emptied = await writeAuthorizedKeys(system, other, entry, [], true, logger);
            if (!emptied.merge.changed) continue;
            othersChanged = true;
            notes.push(`${plural(emptied.merge.removed, 'earlier key')} removed from ${other.file}, which sshd also reads`);
          }
        }
        const merge = result.merge;
        let message: string;
        if (!merge.changed) {
          message = `All ${plural(plan.keys.keys.length, 'key')} from ${plan.keys.origin} are already in ${result.file}.`;
        } else if (account.removePriorKeys) {
          message = `${result.file} now holds only the ${plural(merge.added.length + merge.alreadyPresent.length, 'key')} from ${plan.keys.origin} (${describeKeys(plan.keys.keys)}); ${plural(merge.removed, 'earlier key')} removed.`;
        } else {
          message = `Added ${plural(merge.added.length, 'key')} from ${plan.keys.origin} to ${result.file} (${describeKeys(merge.added)})${merge.alreadyPresent.length > 0 ? `; ${merge.alreadyPresent.length} already there` : ''}.`;
        }
        outcomes.push({ name: 'ssh_key', result: merge.changed || othersChanged ? 'changed' : 'unchanged', message: joinNotes(message, notes) });
        logger.info({ user: entry.name, step: 'ssh_key', file: result.file, added: merge.added.length }, 'ssh key step done');
      }

      track('sudo');
      await sudo.commit();
      const includeNote = await sudoersIncludeNote(context);
      outcomes.push({
        name: 'sudo',
        result: sudo.changed ? 'changed' : 'unchanged',
        message: joinNotes(
          sudo.changed
            ? `"${entry.name}" has sudo rights${plan.nopasswd ? ' without a password' : ''} in ${paths.sudoersFile}.`
            : `"${entry.name}" already has this sudo line in ${paths.sudoersFile}.`,
          includeNote === undefined ? [] : [includeNote],
        ),
      });
    } catch (error) {
      await sudo.discard();
      throw error;
    }
  } catch (error) {
    outcomes.push(failure(step, error, context));
  }
  return outcomes;
}

async function applyRemoveUser(name: string, context: ActionContext): Promise<StepOutcome[]> {
  const { system, paths, logger } = context;
  const outcomes: StepOutcome[] = [];
  let step: Step = 'remove_user';
  try {
    const { entry, removeHome } = await prepareRemoval(name, context);
    step = 'sudo';
    const sudo = await stageSudoers(system, paths.sudoersFile, (current) => removeSudoersUser(current, name));
    try {
      step = 'remove_user';
      const notes = await deleteAccount(system, paths, entry, removeHome.remove);
      if (!removeHome.remove) notes.push(`home kept because ${removeHome.reason ?? 'it is not safe to delete'}`);
      context.ssh.removedUsers.add(name);
      outcomes.push({
        name: 'remove_user',
        result: 'changed',
        message: joinNotes(`Removed account "${name}"${removeHome.remove ? `, its home ${entry.home} and mail spool` : ''}.`, notes),
      });
      logger.info({ user: name, step: 'remove_user' }, 'account removed');
      step = 'sudo';
      await sudo.commit();
      outcomes.push({
        name: 'sudo',
        result: sudo.changed ? 'changed' : 'unchanged',
        message: sudo.changed ? `Removed the sudo line of "${name}" from ${paths.sudoersFile}.` : `${paths.sudoersFile} had no line for "${name}".`,
      });
    } catch (error) {
      await sudo.discard();
      throw error;
    }
  } catch (error) {
    outcomes.push(failure(step, error, context));
  }
  return outcomes;
}

async function prepareRemoval(name: string, context: ActionContext): Promise<{ entry: PasswdEntry; removeHome: { remove: boolean; reason?: string } }> {
  const { system, paths } = context;
  assertSafeUsername(name);
  const state = await findAccount(system, paths, name);
  if (state.kind === 'network') throw networkAccountError(name);
  if (state.kind === 'missing') {
    throw new VmaccessError('USER_NOT_FOUND', `There is no account "${name}" to remove.`, { hint: 'Check the name; nothing was changed.' });
  }
  assertChangeable(state.entry, await readUidRange(system, paths));
  return { entry: state.entry, removeHome: await homeRemovalVerdict(system, paths, state.entry) };
}

/**
 * sudo reads /etc/sudoers.d only through an `includedir` line in /etc/sudoers (every
 * supported distribution ships one); say so when it is missing rather than pretend.
 */
async function sudoersIncludeNote(context: ActionContext): Promise<string | undefined> {
  const dropInDir = path.posix.dirname(context.paths.sudoersFile);
  const mainFile = path.posix.join(path.posix.dirname(dropInDir), 'sudoers');
  const main = await readTextIfAllowed(context.system, mainFile);
  if (main === undefined) return undefined;
  const included = main.split('\n').some((line) => {
    const match = /^\s*[#@]includedir\s+(\S+)\s*$/.exec(line);
    return match !== null && match[1]!.replace(/\/+$/, '') === dropInDir;
  });
  return included ? undefined : `warning: ${mainFile} has no includedir line for ${dropInDir}, so sudo does not read ${context.paths.sudoersFile}`;
}

function failure(step: Step, error: unknown, context: ActionContext): StepOutcome {
  if (isVmaccessError(error)) return { name: step, result: 'failed', code: error.code, message: error.statusMessage };
  context.logger.error({ err: error, step }, 'user step failed unexpectedly');
  // Not a refusal we foresaw: report it without the raw error text (it may carry argv or output).
  const code = errnoCode(error) ?? 'unknown';
  return { name: step, result: 'failed', code: 'INTERNAL', message: `The ${step} step failed unexpectedly (${code}).` };
}

// ---- plan ---------------------------------------------------------------------------

async function planAccount(account: AccountRequest, context: ActionContext): Promise<string[]> {
  const { system, paths } = context;
  const plan = await prepareAccount(account, context, () => undefined);
  const lines: string[] = [];
  const name = plan.name;
  if (plan.existing === undefined) {
    const { shell } = await chooseNewAccountShell(system, paths);
    lines.push(`account: create "${name}" with a home directory (useradd defaults; shell ${shell})${account.expiration === undefined ? '' : `, expiring ${account.expiration}`}`);
  } else {
    lines.push(`account: "${name}" exists (uid ${plan.existing.uid}, home ${plan.existing.home}); nothing else about it changes`);
  }
  if (account.password !== undefined) {
    lines.push(`password: set the password of "${name}" through chpasswd on stdin (unlocking it if locked); value not shown`);
    lines.push(`password: the ssh action will let sshd accept a password for "${name}" only`);
  }
  if (account.expiration !== undefined && plan.existing !== undefined) {
    const shadow = await readShadow(system, paths, name);
    const already = shadow?.expireDays === daysSinceEpoch(account.expiration);
    lines.push(already ? `expiration: "${name}" already expires on ${account.expiration}` : `expiration: set the expiry of "${name}" to ${account.expiration}`);
  }
  if (plan.keys !== undefined) {
    const location = plan.location;
    const target = location?.file ?? `the AuthorizedKeysFile of the new account (default ~${name}/.ssh/authorized_keys)`;
    const verb = account.removePriorKeys ? 'replace the keys in' : 'add to';
    let detail = '';
    if (plan.keysCheck !== undefined) {
      try {
        const merge = await previewAuthorizedKeys(system, plan.keysCheck, plan.keys.keys, account.removePriorKeys);
        detail = merge.changed
          ? ` (${merge.added.length} new, ${merge.alreadyPresent.length} already there${account.removePriorKeys ? `, ${merge.removed} removed` : ''})`
          : ' (no change: all keys already there)';
      } catch {
        detail = ' (the current file cannot be read without root)';
      }
    }
    lines.push(`ssh_key: ${verb} ${target}${detail}: ${plural(plan.keys.keys.length, 'key')} from ${plan.keys.origin}: ${describeKeys(plan.keys.keys)}`);
    for (const other of plan.otherChecks) lines.push(`ssh_key: empty ${other.file} too (sshd also reads it)`);
    for (const note of [...plan.keys.notes, ...(location?.note === undefined ? [] : [location.note])]) lines.push(`ssh_key: note: ${note}`);
  }
  lines.push(...(await planSudoers(context, (current) => setSudoersUser(current, name, { nopasswd: plan.nopasswd }))));
  return lines;
}

async function planRemoval(name: string, context: ActionContext): Promise<string[]> {
  const { entry, removeHome } = await prepareRemoval(name, context);
  const lines = [
    removeHome.remove
      ? `remove_user: delete "${name}" (uid ${entry.uid}), its home ${entry.home} and mail spool (userdel --remove)`
      : `remove_user: delete "${name}" (uid ${entry.uid}); keep its home because ${removeHome.reason ?? 'it is not safe to delete'}`,
    `remove_user: the ssh action drops any per-user sshd settings vmaccess made for "${name}"`,
  ];
  lines.push(...(await planSudoers(context, (current) => removeSudoersUser(current, name))));
  return lines;
}

async function planSudoers(context: ActionContext, transform: (current: string | undefined) => string): Promise<string[]> {
  const file = context.paths.sudoersFile;
  let current: string | undefined;
  try {
    current = await readTextIfAllowed(context.system, file);
  } catch {
    current = undefined;
  }
  const after = transform(current);
  const diff = lineDiff(current ?? '', after);
  if (diff.length === 0) return [`sudo: ${file} already as wanted`];
  return [`sudo: ${file} (checked with visudo -c before it replaces the file, mode 0440):`, ...diff.map((line) => `sudo:   ${line}`)];
}

export function createUserAction(): LegacyAction {
  return {
    name: 'user',
    wants: (request) => request.account !== undefined || request.removeUser !== undefined,
    async plan(request: VmaccessRequest, context: ActionContext): Promise<string[]> {
      const lines: string[] = [];
      if (request.removeUser !== undefined) lines.push(...(await planRemoval(request.removeUser, context)));
      if (request.account !== undefined) lines.push(...(await planAccount(request.account, context)));
      return lines;
    },
    async apply(request: VmaccessRequest, context: ActionContext): Promise<StepOutcome[]> {
      const outcomes: StepOutcome[] = [];
      if (request.removeUser !== undefined) outcomes.push(...(await applyRemoveUser(request.removeUser, context)));
      if (request.account !== undefined) {
        if (outcomes.some((outcome) => outcome.result === 'failed')) {
          outcomes.push({ name: 'account', result: 'skipped', message: `"${request.account.username}" was not changed because remove_user failed.` });
        } else {
          outcomes.push(...(await applyAccount(request.account, context)));
        }
      }
      return outcomes;
    },
  };
}
