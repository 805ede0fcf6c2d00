import type { VmaccessRequest } from '../settings/request.js';
import type { ActionContext, ActionPlan, StepOutcome } from './plan.js';

export type { ActionContext, ActionPlan, SshChangeRequests, StepOutcome, StepResult } from './plan.js';
export { createSshChangeRequests } from './plan.js';

/**
 * An action: `plan` computes what must change (and changes nothing); `apply` executes
 * exactly that plan. Expected failures are returned as `failed` outcomes with a code
 * (or thrown as VmaccessError); the dispatcher turns anything thrown into one.
 */
export interface PlannedAction<Detail = unknown> {
  readonly name: ActionPlan['action'];
  /** Whether this request asks anything of the action. */
  wants(request: VmaccessRequest): boolean;
  plan(request: VmaccessRequest, context: ActionContext): Promise<ActionPlan<Detail>>;
  apply(plan: ActionPlan<Detail>, context: ActionContext): Promise<StepOutcome[]>;
  /**
   * Finish what an earlier run of this action left half-done (it died mid-change).
   * enable calls it first, whatever the request asks for; it returns nothing when
   * there was nothing to finish.
   */
  recover?(context: ActionContext): Promise<StepOutcome[]>;
}

export type Action = PlannedAction;
