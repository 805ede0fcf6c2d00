import { VmaccessError, isVmaccessError } from '../../errors.js';
import { removeSudoersUser } from '../../config/sudoers.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import { readLocalUser, readUidRange, assertChangeable } from '../accounts/account-database.js';
import { deleteAccount, homeRemovalVerdict } from '../accounts/account-commands.js';
import { stageSudoers } from '../accounts/user-sudoers.js';
import type { StepOutcome } from '../plan.js';
import type { AccessGrant } from './access-grants.js';

/**
 * Take back one due grant: its sudo line first (checked by visudo), then the account it
 * created. Each part is idempotent (a line or an account already gone is `unchanged`),
 * so a revocation that stopped half way is simply run again.
 */

export interface RevokeResult {
  outcomes: StepOutcome[];
  /** Everything the grant gave is gone: drop it from the state file. */
  isComplete: boolean;
}

function failed(name: string, error: unknown): StepOutcome {
  if (isVmaccessError(error)) return { name, result: 'failed', code: error.code, message: error.statusMessage };
  return { name, result: 'failed', code: 'INTERNAL', message: `Revoking ${name} failed unexpectedly; details are in extension.log.` };
}

async function revokeSudo(system: System, paths: SystemPaths, user: string): Promise<StepOutcome> {
  const sudo = await stageSudoers(system, paths.sudoersFile, (current) => removeSudoersUser(current, user));
  await sudo.commit();
  return sudo.changed
    ? { name: 'revoke_sudo', result: 'changed', message: `VMAccess took back the sudo rights of "${user}" (access_minutes ran out).` }
    : { name: 'revoke_sudo', result: 'unchanged', message: `"${user}" had no sudo line left in ${paths.sudoersFile}.` };
}

async function revokeAccount(system: System, paths: SystemPaths, user: string): Promise<StepOutcome> {
  const entry = await readLocalUser(system, paths, user);
  if (entry === undefined) return { name: 'revoke_account', result: 'unchanged', message: `The account "${user}" is already gone.` };
  assertChangeable(entry, await readUidRange(system, paths));
  const home = await homeRemovalVerdict(system, paths, entry);
  try {
    const notes = await deleteAccount(system, paths, entry, home.remove);
    return { name: 'revoke_account', result: 'changed', message: `VMAccess removed the account "${user}" (access_minutes ran out)${notes.length > 0 ? ` (${notes.join('; ')})` : ''}.` };
  } catch (error) {
    if (!isVmaccessError(error) || error.code !== 'USER_COMMAND_FAILED') throw error;
    // Still logged in: lock and expire the account now so nobody logs in again; removal is retried.
    const lock = await system.run('usermod', ['--lock', '--expiredate', '1', '--', user], { timeoutMs: 60_000 });
    const locked = lock.started && lock.exitCode === 0;
    throw new VmaccessError('ACCESS_EXPIRY_FAILED', `${error.message} The account is ${locked ? 'locked and expired' : 'NOT locked (usermod failed)'}; its removal is retried.`, { cause: error });
  }
}

export async function revokeGrant(system: System, paths: SystemPaths, grant: AccessGrant): Promise<RevokeResult> {
  const outcomes: StepOutcome[] = [];
  if (grant.sudoAdded || grant.createdAccount) {
    try {
      outcomes.push(await revokeSudo(system, paths, grant.user));
    } catch (error) {
      outcomes.push(failed('revoke_sudo', error));
    }
  }
  if (grant.createdAccount) {
    try {
      outcomes.push(await revokeAccount(system, paths, grant.user));
    } catch (error) {
      outcomes.push(failed('revoke_account', error));
    }
  }
  return { outcomes, isComplete: outcomes.every((outcome) => outcome.result !== 'failed') };
}
