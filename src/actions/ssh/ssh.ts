import type { PlannedAction } from '../action.js';
import { intentOf } from './grants.js';
import { applySshPlan } from './ssh-apply.js';
import { recoverInterruptedChange } from './ssh-recovery.js';
import { planSsh } from './ssh-plan.js';
import type { SshPlanDetail } from './ssh-plan.js';
import type { SshActionOptions } from './ssh-setup.js';
import { wantsSsh } from '../wants.js';

export { OWN_DROP_IN, PROBE_USER } from './ssh-setup.js';
export type { SshActionOptions } from './ssh-setup.js';

/**
 * The `ssh` action: runs last in an enable and applies every SSH server change of
 * the run at once (reset_ssh, restore_backup_ssh, password login for the users the
 * user action gave a password, clean-up for removed users): plan the candidate, have
 * sshd validate it, write it atomically, reload at most once, check sshd answers, and
 * put everything back if it does not.
 */
export function createSshAction(options: SshActionOptions = {}): PlannedAction<SshPlanDetail> {
  return {
    name: 'ssh',
    wants: wantsSsh,
    plan: (request, context) => planSsh(intentOf(request, context.ssh), context, options),
    apply: (plan, context) => applySshPlan(plan, context, options),
    recover: (context) => recoverInterruptedChange(context, options),
  };
}
