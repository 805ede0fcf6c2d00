import { VmaccessError, isVmaccessError } from '../../errors.js';
import type { VmaccessRequest } from '../../settings/request.js';
import { firstLine } from '../../text.js';
import type { PlannedAction } from '../action.js';
import type { ActionContext, ActionPlan, StepOutcome } from '../plan.js';
import { setPassword } from '../accounts/account-commands.js';
import { planUnlock, stepName } from './unlock-plan.js';
import type { UnlockChange, UnlockDetail } from './unlock-plan.js';
import { wantsUnlock } from '../wants.js';

/**
 * The `unlock` action (an extension of the original's contract): runs exactly the
 * commands its plan lists, one substatus per change. A change that fails stops the
 * rest: they are reported as skipped, so nothing half-understood follows a failure.
 */

function message(change: UnlockChange, name: string): string {
  switch (change.kind) {
    case 'tally':
      return `Reset ${change.failures} failed login(s) counted by ${change.tool} for "${name}".`;
    case 'expiry':
      return change.now === undefined ? `"${name}" no longer expires (it had expired on ${change.was}).` : `"${name}" now expires on ${change.now} (was ${change.was}).`;
    case 'password-unlock':
      return `Unlocked the password of "${name}"; the password itself is unchanged.`;
    case 'password-set':
      return `Set the password of "${name}", which was locked with none behind the lock.`;
    case 'shell':
      return `"${name}" has the login shell ${change.shell} again (was ${change.was}, which refuses logins); note: ${change.shell} is the distribution's default.`;
  }
}

async function runChange(change: UnlockChange, detail: UnlockDetail, context: ActionContext): Promise<void> {
  const { system, paths } = context;
  if (change.kind === 'password-set') {
    if (detail.password === undefined) throw new VmaccessError('INTERNAL', 'The unlock plan sets a password but holds none.');
    await setPassword(system, paths, detail.username, detail.password);
    // sshd must accept a password for this user (only this user): the ssh action sees to it.
    context.ssh.passwordUsers.add(detail.username);
    return;
  }
  const [program, ...args] = change.argv;
  const result = await system.run(program!, args, { timeoutMs: 60_000 });
  if (!result.started) throw new VmaccessError('PREREQUISITE_MISSING', `${program} is not installed.`);
  if (result.exitCode !== 0) {
    const detailText = firstLine(result.stderr || result.stdout, 240);
    throw new VmaccessError('USER_COMMAND_FAILED', `${program} for "${detail.username}" failed (exit ${result.exitCode})${detailText === '' ? '' : `: ${detailText}`}.`);
  }
}

async function applyUnlock(plan: ActionPlan<UnlockDetail>, context: ActionContext): Promise<StepOutcome[]> {
  const { detail } = plan;
  if (detail.refusal !== undefined) return [detail.refusal];
  if (detail.changes.length === 0) return [{ name: 'unlock', result: 'unchanged', message: `Nothing that unlock clears keeps "${detail.username}" out.${plan.notes.length > 0 ? ` (${plan.notes.join('; ')})` : ''}` }];
  const outcomes: StepOutcome[] = [];
  let failed = false;
  for (const change of detail.changes) {
    const name = stepName(change);
    if (failed) {
      outcomes.push({ name, result: 'skipped', message: 'Not attempted because an earlier unlock step failed.' });
      continue;
    }
    try {
      await runChange(change, detail, context);
      outcomes.push({ name, result: 'changed', message: message(change, detail.username) });
      context.logger.info({ user: detail.username, step: name }, 'unlock step done');
    } catch (error) {
      if (!isVmaccessError(error)) throw error;
      failed = true;
      outcomes.push({ name, result: 'failed', code: error.code, message: error.statusMessage });
    }
  }
  return outcomes;
}

export function createUnlockAction(): PlannedAction<UnlockDetail> {
  return {
    name: 'unlock',
    wants: wantsUnlock,
    plan: (request: VmaccessRequest, context: ActionContext) => planUnlock(request.unlock!, context),
    apply: applyUnlock,
  };
}
