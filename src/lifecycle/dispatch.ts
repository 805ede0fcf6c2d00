import type { Action, ActionContext, ActionPlan, StepOutcome } from '../actions/action.js';
import { isAuditWorthy, type AuditTrail } from './audit.js';
import { isVmaccessError } from '../errors.js';
import { numericCode, type Substatus } from '../handler/status.js';
import type { VmaccessRequest } from '../settings/request.js';

export interface DispatchResult {
  substatus: Substatus[];
  outcomes: StepOutcome[];
  failures: StepOutcome[];
}

/** An error thrown by an action, as the outcome it stands for. */
export function outcomeFromError(name: string, error: unknown): StepOutcome {
  if (isVmaccessError(error)) return { name, result: 'failed', code: error.code, message: error.statusMessage };
  // Anything else is a bug; its text may carry paths or output, so it goes to the log only.
  return { name, result: 'failed', code: 'INTERNAL', message: `The ${name} action failed unexpectedly; details are in extension.log.` };
}

export function toSubstatus(outcome: StepOutcome): Substatus {
  return {
    name: outcome.name,
    status: outcome.result === 'failed' ? 'error' : outcome.result === 'warning' || outcome.warning !== undefined ? 'warning' : 'success',
    code: outcome.result === 'failed' ? numericCode(outcome.code ?? 'INTERNAL') : 0,
    message: outcome.result === 'failed' && outcome.code !== undefined ? `[${outcome.code}] ${outcome.message}` : `${outcome.result}: ${outcome.message}`,
  };
}

/**
 * Run every action the request asks for, in order. One action failing does not
 * stop the others (a failed key update must not prevent reset_ssh), and each step
 * becomes one substatus.
 */
export async function dispatch(actions: readonly Action[], request: VmaccessRequest, context: ActionContext, audit?: AuditTrail): Promise<DispatchResult> {
  const outcomes: StepOutcome[] = [];
  for (const action of actions) {
    if (!action.wants(request)) continue;
    context.logger.info({ action: action.name }, 'action started');
    let produced: StepOutcome[];
    // The audit trail hears of every change before it happens and of its outcome after.
    let audited: ActionPlan | undefined;
    try {
      const plan = await action.plan(request, context);
      if (audit !== undefined && isAuditWorthy(plan)) {
        audited = plan;
        await audit.before(plan, request);
      }
      produced = await action.apply(plan, context);
    } catch (error) {
      context.logger.error({ action: action.name, err: error }, 'action failed');
      produced = [outcomeFromError(action.name, error)];
    }
    if (audited !== undefined) await audit?.after(audited, request, produced);
    for (const outcome of produced) {
      context.logger.info({ action: action.name, step: outcome.name, result: outcome.result, code: outcome.code }, 'step finished');
    }
    outcomes.push(...produced);
  }
  await audit?.settled();
  return {
    outcomes,
    substatus: outcomes.map(toSubstatus),
    failures: outcomes.filter((outcome) => outcome.result === 'failed'),
  };
}
