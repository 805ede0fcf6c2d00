import { VmaccessError, isVmaccessError } from '../../errors.js';
import { removeSudoersUser } from '../../config/sudoers.js';
import type { ActionContext, PlannedCommand, PlannedFile, PlannedStep, StepOutcome } from '../plan.js';
import { currentDigest, sha256Hex } from '../file-digest.js';
import { addGrant, deadlineAfter, formatGrants, grantsPath, nextDeadline, readGrants, writeGrants } from './access-grants.js';
import type { AccessGrant } from './access-grants.js';
import { applySchedule, planSchedule, scheduleCommands, scheduleFiles } from './expiry-timer.js';

/**
 * access_minutes in the user action: the plan says what will be taken back and when; the
 * grant is recorded (and the timer set) before the account changes, so a run that dies
 * half way still has its grant revoked, and corrected afterwards to what really changed.
 */

/** `vmaccess plan` runs outside the handler folder; the timer then names the usual one. */
const PLAN_HANDLER_DIR = '/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux';

export interface GrantPlan {
  grant: AccessGrant;
  /** Nothing new is granted (the account and its sudo line exist already): nothing to record. */
  isEmpty: boolean;
}

export interface GrantParts {
  steps: PlannedStep[];
  files: PlannedFile[];
  commands: PlannedCommand[];
  notes: string[];
}

/** Whether the sudoers drop-in has a line for `name` now. */
function hasSudoLine(current: string | undefined, name: string): boolean {
  return current !== undefined && removeSudoersUser(current, name) !== current;
}

export function accessDeadline(context: ActionContext, minutes: number): string {
  return deadlineAfter(context.system.now(), minutes);
}

export async function planGrant(context: ActionContext, user: string, minutes: number, isNewAccount: boolean, parts: GrantParts): Promise<GrantPlan> {
  const { system, paths } = context;
  const sudoers = await system.readText(paths.sudoersFile).catch(() => undefined);
  const deadline = accessDeadline(context, minutes);
  const grant: AccessGrant = { user, deadline, createdAccount: isNewAccount, sudoAdded: !hasSudoLine(sudoers, user), grantedAt: system.now().toISOString() };
  const isEmpty = !grant.createdAccount && !grant.sudoAdded;
  if (isEmpty) {
    parts.steps.push({ name: 'access', changes: false, summary: `"${user}" and its sudo line exist already: nothing this request grants needs revoking (its keys expire at ${deadline})` });
    return { grant, isEmpty };
  }
  const after = addGrant(await readGrants(system, paths), grant);
  const file = grantsPath(paths);
  parts.files.push({ path: file, before: await currentDigest(system, file), after: sha256Hex(formatGrants(after)), reason: 'time-limited access: grants and deadlines (root 0600)' });
  const schedule = await planSchedule(system, paths, context.handlerDir ?? PLAN_HANDLER_DIR, nextDeadline(after));
  parts.files.push(...(await scheduleFiles(system, schedule)));
  parts.commands.push(...scheduleCommands(schedule));
  const what = [grant.createdAccount ? 'remove the account' : '', grant.sudoAdded ? 'take back its sudo rights' : ''].filter((part) => part !== '').join(' and ');
  parts.steps.push({ name: 'access', changes: true, summary: `at ${deadline} (${minutes} minutes) ${what} of "${user}" (${schedule.kind === 'systemd' ? 'systemd timer' : 'cron entry'} running handlers/run expire)` });
  if (context.handlerDir === undefined) parts.notes.push(`access: the timer names the installed handler's folder, known at enable (shown as ${PLAN_HANDLER_DIR})`);
  return { grant, isEmpty };
}

/** Record `grant` (merged with any earlier one for the account) and set the timer. */
export async function recordGrant(context: ActionContext, grant: AccessGrant): Promise<void> {
  const { system, paths } = context;
  if (context.handlerDir === undefined) throw new VmaccessError('INTERNAL', 'access_minutes needs the handler folder to schedule the revocation.');
  const after = addGrant(await readGrants(system, paths), grant);
  const schedule = await planSchedule(system, paths, context.handlerDir, nextDeadline(after));
  await writeGrants(system, paths, after);
  await applySchedule(system, schedule);
}

/**
 * After apply: the grant as it really turned out (an account useradd did not create is
 * not removed later), reported as the `access` step.
 */
export async function settleGrant(context: ActionContext, plan: GrantPlan, outcomes: readonly StepOutcome[]): Promise<StepOutcome> {
  const created = plan.grant.createdAccount && outcomes.some((outcome) => outcome.name === 'account' && outcome.result === 'changed');
  const sudoAdded = plan.grant.sudoAdded && outcomes.some((outcome) => outcome.name === 'sudo' && outcome.result === 'changed');
  try {
    const { system, paths } = context;
    const current = await readGrants(system, paths);
    const others = current.grants.filter((grant) => grant.user !== plan.grant.user);
    const mine = current.grants.find((grant) => grant.user === plan.grant.user);
    if (mine !== undefined && !created && !sudoAdded && mine.grantedAt === plan.grant.grantedAt) {
      // Nothing was granted after all: forget the grant recorded before the changes.
      await writeGrants(system, paths, { version: 1, grants: others });
      await applySchedule(system, await planSchedule(system, paths, context.handlerDir ?? PLAN_HANDLER_DIR, nextDeadline({ version: 1, grants: others })));
      return { name: 'access', result: 'unchanged', message: `Nothing was granted to "${plan.grant.user}", so nothing is scheduled for revocation.` };
    }
    const what = [created ? 'the account is removed' : '', sudoAdded || (mine?.sudoAdded ?? false) ? 'its sudo rights are taken back' : ''].filter((part) => part !== '').join(' and ');
    return { name: 'access', result: 'changed', message: `Time-limited: at ${plan.grant.deadline} ${what || 'what was granted is revoked'} for "${plan.grant.user}".` };
  } catch (error) {
    if (!isVmaccessError(error)) throw error;
    return { name: 'access', result: 'failed', code: error.code, message: error.statusMessage };
  }
}
