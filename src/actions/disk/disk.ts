import { isVmaccessError } from '../../errors.js';
import type { DiskRequest, VmaccessRequest } from '../../settings/request.js';
import type { ActionContext, PlannedAction, StepOutcome } from '../action.js';
import type { ActionPlan } from '../plan.js';
import type { DiskBudget } from './disk-budget.js';
import { createDiskBudget, DEFAULT_DISK_BUDGET_MS } from './disk-budget.js';
import { createKernelLogSource, runDiskCheck } from './disk-check.js';
import type { DiskEnvironment, DiskInventory } from './disk-inventory.js';
import { diskEnvironment, readDiskInventory } from './disk-inventory.js';
import { planDiskCheck, planRepair } from './disk-plan.js';
import type { DiskPlanParts } from './disk-plan.js';
import { runDiskRepair } from './disk-repair.js';
import type { ProtectionContext, RepairTarget } from './disk-target.js';
import { protectionReason, resolveDiskName } from './disk-target.js';
import { wantsDisk } from '../wants.js';

export interface DiskActionOptions {
  /** Time for the whole disk action; the agent's limit for enable is 300 s. Default 240 s. */
  budgetMs?: number;
  /** Where the kernel's tables are; tests point these at files of their own. */
  environment?: Partial<DiskEnvironment>;
  /** Where logs are written; a filesystem holding it is never unmounted. Default /var/log. */
  logDir?: string;
}

/**
 * What apply needs: the inventory read and the device resolved while planning (apply
 * works on exactly that device), and the budget, which started when planning did.
 */
export type DiskDetail =
  | { kind: 'check'; inventory: DiskInventory; environment: DiskEnvironment; budget: DiskBudget }
  | { kind: 'repair'; target: RepairTarget; inventory: DiskInventory; budget: DiskBudget }
  | { kind: 'refused'; outcome: StepOutcome }
  | { kind: 'none' };

/** An expected failure as the one `disk` outcome; a check that fails inside repair counts as a failed repair. */
function failedOutcome(mode: DiskRequest['mode'], error: unknown): StepOutcome {
  if (!isVmaccessError(error)) throw error;
  const code = mode === 'repair' && error.code === 'DISK_CHECK_FAILED' ? 'DISK_REPAIR_FAILED' : error.code;
  return { name: 'disk', result: 'failed', code, message: error.statusMessage };
}

function diskPlan(parts: DiskPlanParts, detail: DiskDetail): ActionPlan<DiskDetail> {
  return { action: 'disk', steps: parts.steps, files: [], commands: parts.commands, firewall: [], notes: parts.notes, detail };
}

function refusedPlan(outcome: StepOutcome, notes: string[] = []): ActionPlan<DiskDetail> {
  const summary = `would fail: [${outcome.code ?? 'INTERNAL'}] ${outcome.message}`;
  return diskPlan({ steps: [{ name: outcome.name, changes: false, summary }], commands: [], notes }, { kind: 'refused', outcome });
}

/**
 * check_disk: look at every local filesystem without changing anything.
 * repair_disk: resolve disk_name to one device, refuse what the system needs,
 * unmount, repair with the filesystem's own tool, mount again as before.
 */
export function createDiskAction(options: DiskActionOptions = {}): PlannedAction<DiskDetail> {
  const budgetMs = options.budgetMs ?? DEFAULT_DISK_BUDGET_MS;

  const protection = (context: ActionContext): ProtectionContext => ({
    agentLibDir: context.agentLibDir,
    stateDir: context.paths.stateDir,
    logDir: options.logDir ?? '/var/log',
  });

  return {
    name: 'disk',
    wants: wantsDisk,

    async plan(request: VmaccessRequest, context: ActionContext): Promise<ActionPlan<DiskDetail>> {
      const disk = request.disk;
      if (disk === undefined) return diskPlan({ steps: [], commands: [], notes: [] }, { kind: 'none' });
      const budget = createDiskBudget(context.system, budgetMs);
      const environment = diskEnvironment(context.paths, options.environment);
      try {
        const inventory = await readDiskInventory(context.system, context.paths, environment, budget);
        if (disk.mode === 'check') return diskPlan(planDiskCheck(inventory), { kind: 'check', inventory, environment, budget });
        const target = await resolveDiskName(disk.diskName, inventory, context.system, budget);
        context.logger.info({ diskName: disk.diskName, device: target.device.path, via: target.via }, 'disk: resolved disk_name');
        const refused = protectionReason(target, inventory, protection(context));
        if (refused !== undefined) {
          const outcome: StepOutcome = { name: `disk:${target.device.path}`, result: 'failed', code: 'DISK_PROTECTED', message: `repair_disk refused: ${refused}. Nothing was touched.` };
          return refusedPlan(outcome, [`disk_name resolves to ${target.device.path} (${target.fstype ?? 'unknown type'}) via ${target.via}`]);
        }
        return diskPlan(planRepair(target, inventory, budget), { kind: 'repair', target, inventory, budget });
      } catch (error) {
        return refusedPlan(failedOutcome(disk.mode, error));
      }
    },

    async apply(plan: ActionPlan<DiskDetail>, context: ActionContext): Promise<StepOutcome[]> {
      const detail = plan.detail;
      if (detail.kind === 'none') return [];
      if (detail.kind === 'refused') return [detail.outcome];
      const { system, logger, paths } = context;
      try {
        if (detail.kind === 'check') {
          const kernelLog = createKernelLogSource(system, detail.budget);
          return await runDiskCheck({ system, inventory: detail.inventory, environment: detail.environment, budget: detail.budget, kernelLog });
        }
        return await runDiskRepair(detail.target, { system, logger, paths, inventory: detail.inventory, budget: detail.budget });
      } catch (error) {
        return [failedOutcome(detail.kind, error)];
      }
    },
  };
}
