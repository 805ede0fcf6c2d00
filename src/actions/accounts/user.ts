import * as path from 'node:path';
import { errnoCode, isVmaccessError } from '../../errors.js';
import { removeSudoersUser, setSudoersUser } from '../../config/sudoers.js';
import { dateOfDays, daysSinceEpoch } from '../../config/passwd.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { VmaccessRequest } from '../../settings/request.js';
import type { ActionContext, PlannedAction, StepOutcome } from '../action.js';
import type { ActionPlan } from '../plan.js';
import { readLocalUsers, readShadow, readTextIfAllowed } from './account-database.js';
import { endUserProcesses, type EndProcessesOptions } from './account-processes.js';
import { createAccount, deleteAccount, setExpiration, setPassword } from './account-commands.js';
import { assertKeysFileNotShared, checkAuthorizedKeysPath, locateAuthorizedKeysFile } from './authorized-keys-file.js';
import { writeAuthorizedKeys } from './authorized-keys-io.js';
import { stageSudoers } from './user-sudoers.js';
import { recordGrant, settleGrant } from '../access/access-plan.js';
import type { StagedSudoers } from './user-sudoers.js';
import { describeKeys, emptyParts, otherKeyFiles, planAccount, planRemoval, plural } from './user-plan.js';
import type { AccountDetail, PlanParts, PlannedKeys, Refusal, RemovalDetail, UserDetail, UserStep } from './user-plan.js';
import { wantsUser } from '../wants.js';

/**
 * The `user` action: create or reset a sudo account (password, expiry, SSH keys) or
 * remove one. plan() checks everything that can be refused (the name, the keys, the
 * account: root, system, network accounts; the key file's path) and lists what changes;
 * apply() executes that plan in this order: sudoers candidate validated by visudo, then
 * account, password, expiry, keys, sudoers; each step reports changed / unchanged / failed.
 */

function joinNotes(message: string, notes: readonly string[]): string {
  return notes.length === 0 ? message : `${message} (${notes.join('; ')})`;
}

function today(context: ActionContext): number {
  return Math.floor(context.system.now().getTime() / 86_400_000);
}

/** The account exists after this: created by useradd, or as found while planning. */
async function ensureAccount(detail: AccountDetail, context: ActionContext, outcomes: StepOutcome[]): Promise<PasswdEntry> {
  const { system, paths } = context;
  const { account } = detail;
  if (detail.existing === undefined) {
    const created = await createAccount(system, paths, account.username, account.expiration === undefined ? {} : { expiration: account.expiration });
    // Match User/Group blocks now see an account (and its groups) that did not exist.
    context.sshdAnswers?.replaced();
    const entry = created.entry;
    outcomes.push({ name: 'account', result: 'changed', message: `Created account "${entry.name}" (uid ${entry.uid}, home ${entry.home}, shell ${created.shell}).` });
    return entry;
  }
  const entry = detail.existing;
  const notes: string[] = [];
  const shadow = await readShadow(system, paths, entry.name);
  if (account.expiration === undefined && shadow?.expireDays !== undefined && shadow.expireDays <= today(context)) {
    notes.push(`note: the account expired on ${dateOfDays(shadow.expireDays)}; send expiration to extend it`);
  }
  outcomes.push({ name: 'account', result: 'unchanged', message: joinNotes(`Account "${entry.name}" exists (uid ${entry.uid}); its other settings are kept.`, notes) });
  return entry;
}

async function applyExpiration(detail: AccountDetail, expiration: string, entry: PasswdEntry, context: ActionContext): Promise<StepOutcome> {
  let outcome: StepOutcome;
  if (detail.existing === undefined) {
    outcome = { name: 'expiration', result: 'changed', message: `"${entry.name}" expires on ${expiration}.` };
  } else {
    const change = await setExpiration(context.system, context.paths, entry.name, expiration);
    outcome = { name: 'expiration', result: change.changed ? 'changed' : 'unchanged', message: change.message };
  }
  if (daysSinceEpoch(expiration) <= today(context)) outcome.message = `${outcome.message} That date is not in the future: the account cannot log in.`;
  return outcome;
}

async function applyKeys(detail: AccountDetail, keys: PlannedKeys, entry: PasswdEntry, context: ActionContext): Promise<StepOutcome> {
  const { system, logger } = context;
  const replace = detail.account.removePriorKeys;
  // A new account's file is only known now, after useradd (the plan predicted it).
  const location = detail.location ?? (await locateAuthorizedKeysFile(system, entry, context.sshdAnswers));
  // Checked again right before writing: the check while planning may be a while ago.
  await assertKeysFileNotShared(system, location, entry, () => readLocalUsers(system, context.paths));
  const check = await checkAuthorizedKeysPath(system, location.file, entry);
  const result = await writeAuthorizedKeys(system, check, entry, keys.keys, replace, logger);
  const notes = [...keys.notes, ...result.notes, ...(location.note === undefined ? [] : [location.note])];
  let othersChanged = false;
  if (replace) {
    // sshd also reads the later AuthorizedKeysFile entries: old keys there would still log in.
    for (const other of await otherKeyFiles(system, location, entry)) {
      const emptied = await writeAuthorizedKeys(system, other, entry, [], true, logger);
      if (!emptied.merge.changed) continue;
      othersChanged = true;
      notes.push(`${plural(emptied.merge.removed, 'earlier key')} removed from ${other.file}, which sshd also reads`);
    }
  }
  const merge = result.merge;
  let message: string;
  if (!merge.changed) {
    message = `All ${plural(keys.keys.length, 'key')} from ${keys.origin} are already in ${result.file}.`;
  } else if (replace) {
    message = `${result.file} now holds only the ${plural(merge.added.length + merge.alreadyPresent.length, 'key')} from ${keys.origin} (${describeKeys(keys.keys)}); ${plural(merge.removed, 'earlier key')} removed.`;
  } else {
    const expiring = merge.expiryUpdated.length > 0 ? `; ${plural(merge.expiryUpdated.length, 'key')} already there now ${merge.expiryUpdated.length === 1 ? 'carries' : 'carry'} the expiry (${describeKeys(merge.expiryUpdated)})` : '';
    const present = merge.alreadyPresent.length - merge.expiryUpdated.length;
    message = `Added ${plural(merge.added.length, 'key')} from ${keys.origin} to ${result.file}${merge.added.length > 0 ? ` (${describeKeys(merge.added)})` : ''}${expiring}${present > 0 ? `; ${present} already there` : ''}.`;
  }
  logger.info({ user: entry.name, step: 'ssh_key', file: result.file, added: merge.added.length }, 'ssh key step done');
  return { name: 'ssh_key', result: merge.changed || othersChanged ? 'changed' : 'unchanged', message: joinNotes(message, notes) };
}

/**
 * Run the steps of one request part with the sudoers change staged: the candidate is
 * validated by visudo before the first change, committed by the last step, discarded
 * when a step fails. A failure becomes the outcome of the step that was running.
 */
async function withStagedSudoers(
  context: ActionContext,
  transform: (current: string | undefined) => string,
  steps: (sudo: StagedSudoers, begin: (step: UserStep) => void, outcomes: StepOutcome[]) => Promise<void>,
): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  let step: UserStep = 'sudo';
  try {
    const sudo = await stageSudoers(context.system, context.paths.sudoersFile, transform);
    try {
      await steps(sudo, (next) => (step = next), outcomes);
    } catch (error) {
      await sudo.discard();
      throw error;
    }
  } catch (error) {
    outcomes.push(failure(step, error, context));
  }
  return outcomes;
}

async function applyAccount(detail: AccountDetail, context: ActionContext): Promise<StepOutcome[]> {
  const { system, paths, logger } = context;
  const { account } = detail;
  const transform = (current: string | undefined): string => setSudoersUser(current, account.username, { nopasswd: detail.nopasswd });
  return withStagedSudoers(context, transform, async (sudo, begin, outcomes) => {
    begin('account');
    const entry = await ensureAccount(detail, context, outcomes);
    logger.info({ user: entry.name, step: 'account' }, 'account ready');
    if (account.password !== undefined) {
      begin('password');
      const change = await setPassword(system, paths, entry.name, account.password);
      // The ssh action makes sshd accept a password for this user (and only this user).
      context.ssh.passwordUsers.add(entry.name);
      outcomes.push({ name: 'password', result: change.changed ? 'changed' : 'unchanged', message: change.message });
      logger.info({ user: entry.name, step: 'password', changed: change.changed }, 'password step done');
    }
    if (account.expiration !== undefined) {
      begin('expiration');
      outcomes.push(await applyExpiration(detail, account.expiration, entry, context));
    }
    if (detail.keys !== undefined) {
      begin('ssh_key');
      outcomes.push(await applyKeys(detail, detail.keys, entry, context));
    }
    begin('sudo');
    await sudo.commit();
    const includeNote = await sudoersIncludeNote(context);
    const message = sudo.changed
      ? `"${entry.name}" has sudo rights${detail.nopasswd ? ' without a password' : ''} in ${paths.sudoersFile}.`
      : `"${entry.name}" already has this sudo line in ${paths.sudoersFile}.`;
    outcomes.push({ name: 'sudo', result: sudo.changed ? 'changed' : 'unchanged', message: joinNotes(message, includeNote === undefined ? [] : [includeNote]) });
  });
}

/** applyAccount, with an access_minutes grant recorded before the first change and settled after. */
async function applyTimeLimited(detail: AccountDetail, context: ActionContext): Promise<StepOutcome[]> {
  const grant = detail.grant;
  if (grant === undefined || grant.isEmpty) return applyAccount(detail, context);
  try {
    await recordGrant(context, grant.grant);
  } catch (error) {
    // Without a recorded deadline nothing temporary may be granted.
    return [failure('access', error, context)];
  }
  const outcomes = await applyAccount(detail, context);
  outcomes.push(await settleGrant(context, grant, outcomes));
  return outcomes;
}

async function applyRemoval(detail: RemovalDetail, context: ActionContext, processOptions?: EndProcessesOptions): Promise<StepOutcome[]> {
  const { system, paths, logger } = context;
  const { entry, removeHome } = detail;
  const name = entry.name;
  return withStagedSudoers(context, (current) => removeSudoersUser(current, name), async (sudo, begin, outcomes) => {
    begin('remove_user');
    // userdel refuses an account that still runs anything; end its sessions and processes first.
    const processes = await endUserProcesses(system, entry.uid, processOptions);
    if (processes.ended > 0) logger.info({ user: name, ended: processes.ended }, 'processes of the account ended');
    const notes = await deleteAccount(system, paths, entry, removeHome.remove);
    if (processes.ended > 0) notes.unshift(`ended ${processes.ended} process${processes.ended === 1 ? '' : 'es'} of the account first`);
    if (!removeHome.remove) notes.push(`home kept because ${removeHome.reason ?? 'it is not safe to delete'}`);
    context.ssh.removedUsers.add(name);
    const removed = `Removed account "${name}"${removeHome.remove ? `, its home ${entry.home} and mail spool` : ''}.`;
    outcomes.push({ name: 'remove_user', result: 'changed', message: joinNotes(removed, notes) });
    logger.info({ user: name, step: 'remove_user' }, 'account removed');
    begin('sudo');
    await sudo.commit();
    const message = sudo.changed ? `Removed the sudo line of "${name}" from ${paths.sudoersFile}.` : `${paths.sudoersFile} had no line for "${name}".`;
    outcomes.push({ name: 'sudo', result: sudo.changed ? 'changed' : 'unchanged', message });
  });
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

function failure(step: UserStep, error: unknown, context: ActionContext): StepOutcome {
  if (isVmaccessError(error)) return { name: step, result: 'failed', code: error.code, message: error.statusMessage };
  context.logger.error({ err: error, step }, 'user step failed unexpectedly');
  // Not a refusal we foresaw: report it without the raw error text (it may carry argv or output).
  const code = errnoCode(error) ?? 'unknown';
  return { name: step, result: 'failed', code: 'INTERNAL', message: `The ${step} step failed unexpectedly (${code}).` };
}


/** The public parts of one request part: what it changes, or for a refusal, the failed step alone. */
function partOf(planned: { kind: string }, parts: PlanParts, into: PlanParts): void {
  if (planned.kind === 'refused') {
    const { outcome } = planned as Refusal;
    into.steps.push({ name: outcome.name, changes: false, summary: `would fail: [${outcome.code ?? 'INTERNAL'}] ${outcome.message}` });
    return;
  }
  into.steps.push(...parts.steps);
  into.files.push(...parts.files);
  into.commands.push(...parts.commands);
  into.notes.push(...parts.notes);
}

export interface UserActionOptions {
  /** How remove_user ends the account's processes (tests shorten the waits). */
  processes?: EndProcessesOptions;
}

export function createUserAction(options: UserActionOptions = {}): PlannedAction<UserDetail> {
  return {
    name: 'user',
    wants: wantsUser,
    async plan(request: VmaccessRequest, context: ActionContext): Promise<ActionPlan<UserDetail>> {
      const all = emptyParts();
      const detail: UserDetail = {};
      if (request.removeUser !== undefined) {
        const parts = emptyParts();
        detail.removal = await planRemoval(request.removeUser, context, parts);
        partOf(detail.removal, parts, all);
      }
      if (request.account !== undefined) {
        detail.accountName = request.account.username;
        if (detail.removal?.kind === 'refused') {
          all.notes.push(`"${request.account.username}" would not be changed because remove_user fails`);
        } else {
          const parts = emptyParts();
          detail.account = await planAccount(request.account, context, parts);
          partOf(detail.account, parts, all);
        }
      }
      return { action: 'user', steps: all.steps, files: all.files, commands: all.commands, firewall: [], notes: all.notes, detail };
    },
    async apply(plan: ActionPlan<UserDetail>, context: ActionContext): Promise<StepOutcome[]> {
      const { removal, account, accountName } = plan.detail;
      const outcomes: StepOutcome[] = [];
      if (removal !== undefined) outcomes.push(...(removal.kind === 'refused' ? [removal.outcome] : await applyRemoval(removal, context, options.processes)));
      if (accountName === undefined) return outcomes;
      if (account === undefined || outcomes.some((outcome) => outcome.result === 'failed')) {
        outcomes.push({ name: 'account', result: 'skipped', message: `"${accountName}" was not changed because remove_user failed.` });
      } else {
        outcomes.push(...(account.kind === 'refused' ? [account.outcome] : await applyTimeLimited(account, context)));
      }
      return outcomes;
    },
  };
}
