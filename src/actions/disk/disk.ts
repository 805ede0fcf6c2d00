import { isVmaccessError } from '../../errors.js';
import type { LegacyAction, ActionContext, StepOutcome } from '../action.js';
import { createDiskBudget, DEFAULT_DISK_BUDGET_MS } from './disk-budget.js';
import { createKernelLogSource, planDiskCheck, runDiskCheck } from './disk-check.js';
import type { DiskEnvironment } from './disk-inventory.js';
import { diskEnvironment, readDiskInventory } from './disk-inventory.js';
import { planRepair, runDiskRepair } from './disk-repair.js';
import type { ProtectionContext } from './disk-target.js';
import { protectionReason, resolveDiskName } from './disk-target.js';

export interface DiskActionOptions {
  /** Time for the whole disk action; the agent's limit for enable is 300 s. Default 240 s. */
  budgetMs?: number;
  /** Where the kernel's tables are; tests point these at files of their own. */
  environment?: Partial<DiskEnvironment>;
  /** Where logs are written; a filesystem holding it is never unmounted. Default /var/log. */
  logDir?: string;
}

/**
 * check_disk: look at every local filesystem without changing anything.
 * repair_disk: resolve disk_name to one device, refuse what the system needs,
 * unmount, repair with the filesystem's own tool, mount again as before.
 */
export function createDiskAction(options: DiskActionOptions = {}): LegacyAction {
  const budgetMs = options.budgetMs ?? DEFAULT_DISK_BUDGET_MS;

  const protection = (context: ActionContext): ProtectionContext => ({
    agentLibDir: context.agentLibDir,
    stateDir: context.paths.stateDir,
    logDir: options.logDir ?? '/var/log',
  });

  return {
    name: 'disk',
    wants: (request) => request.disk !== undefined,

    async plan(request, context) {
      const disk = request.disk;
      if (disk === undefined) return [];
      const budget = createDiskBudget(context.system, budgetMs);
      const environment = diskEnvironment(context.paths, options.environment);
      try {
        const inventory = await readDiskInventory(context.system, context.paths, environment, budget);
        if (disk.mode === 'check') return planDiskCheck(inventory);
        const target = await resolveDiskName(disk.diskName, inventory, context.system, budget);
        const refused = protectionReason(target, inventory, protection(context));
        if (refused !== undefined) return [`disk: would refuse repair_disk: ${refused} (DISK_PROTECTED); nothing would be touched`];
        return planRepair(target, inventory, budget);
      } catch (error) {
        if (isVmaccessError(error)) return [`disk: would fail: ${error.statusMessage} (${error.code})`];
        throw error;
      }
    },

    async apply(request, context): Promise<StepOutcome[]> {
      const disk = request.disk;
      if (disk === undefined) return [];
      const budget = createDiskBudget(context.system, budgetMs);
      const environment = diskEnvironment(context.paths, options.environment);
      try {
        const inventory = await readDiskInventory(context.system, context.paths, environment, budget);
        if (disk.mode === 'check') {
          const kernelLog = createKernelLogSource(context.system, budget);
          return await runDiskCheck({ system: context.system, inventory, environment, budget, kernelLog });
        }
        const target = await resolveDiskName(disk.diskName, inventory, context.system, budget);
        context.logger.info({ diskName: disk.diskName, device: target.device.path, via: target.via }, 'disk: resolved disk_name');
        const refused = protectionReason(target, inventory, protection(context));
        if (refused !== undefined) {
          return [
            {
              name: `disk:${target.device.path}`,
              result: 'failed',
              code: 'DISK_PROTECTED',
              message: `repair_disk refused: ${refused}. Nothing was touched.`,
            },
          ];
        }
        return await runDiskRepair(target, { system: context.system, logger: context.logger, paths: context.paths, inventory, budget });
      } catch (error) {
        if (!isVmaccessError(error)) throw error;
        const code = disk.mode === 'repair' && error.code === 'DISK_CHECK_FAILED' ? 'DISK_REPAIR_FAILED' : error.code;
        return [{ name: 'disk', result: 'failed', code, message: error.statusMessage }];
      }
    },
  };
}
