import * as path from 'node:path';
import type { PlannedCommand, PlannedStep } from '../plan.js';
import type { DiskBudget } from './disk-budget.js';
import { describeTarget, isExtType, listCheckTargets, readOnlyCheckCommand } from './disk-check.js';
import type { DiskInventory } from './disk-inventory.js';
import { mountRoot } from './disk-inventory.js';
import { remountOptions, repairDecision } from './disk-repair.js';
import type { RepairTarget } from './disk-target.js';

/**
 * The public part of a disk plan: one step per filesystem, the commands apply will run
 * on it, and notes. Disks hold no files a plan could list: nothing under `files`.
 */
export interface DiskPlanParts {
  steps: PlannedStep[];
  commands: PlannedCommand[];
  notes: string[];
}

/** check_disk: what is looked at on each filesystem, read-only. */
export function planDiskCheck(inventory: DiskInventory): DiskPlanParts {
  const { targets, skipped } = listCheckTargets(inventory);
  const parts: DiskPlanParts = { steps: [], commands: [], notes: [] };
  for (const target of targets) {
    const name = `disk:${target.device}`;
    if (target.mounts.length > 0) {
      let what = 'kernel log';
      if (isExtType(target.fstype)) {
        what = 'superblock state and error counters (dumpe2fs -h), kernel log';
        parts.commands.push({ argv: ['dumpe2fs', '-h', target.device], why: `superblock of ${target.device}, read-only` });
      } else if (target.fstype === 'xfs') {
        what = 'kernel health report (xfs_spaceman health), kernel log';
        parts.commands.push({ argv: ['xfs_spaceman', '-c', 'health', target.mounts[0]?.target ?? '/'], why: `kernel health report of ${target.device}` });
      }
      parts.steps.push({ name, changes: false, summary: `would check ${describeTarget(target)}: ${what}; no fsck because it is mounted` });
      continue;
    }
    const command = readOnlyCheckCommand(target.fstype, target.device);
    if (command === undefined) {
      parts.steps.push({ name, changes: false, summary: `would report ${describeTarget(target)} as not checkable (no read-only checker for its type)` });
      continue;
    }
    parts.commands.push({ argv: [command.file, ...command.args], why: `read-only check of ${target.device}` });
    parts.steps.push({ name, changes: false, summary: `would check ${describeTarget(target)} read-only: ${command.file} ${command.args.join(' ')}` });
  }
  if (targets.length === 0) parts.notes.push('no local data filesystems found to check');
  for (const entry of skipped) parts.notes.push(`would skip ${entry.what} (${entry.reason})`);
  parts.steps.push({ name: 'disk', changes: false, summary: `${targets.length} local filesystem${targets.length === 1 ? '' : 's'} to check; nothing is changed` });
  return parts;
}

/** The repair tool's runs: the fixing run, and the read-only runs before or after it that prove the result. */
function repairCommands(target: RepairTarget, command: { file: string; args: string[] }): PlannedCommand[] {
  const device = target.device.path;
  if (isExtType(target.fstype)) {
    return [
      { argv: [command.file, ...command.args], why: 'repair; a second pass if the first one fixed something' },
      { argv: ['e2fsck', '-f', '-n', device], why: 'verify, after each pass that fixed something' },
    ];
  }
  if (target.fstype === 'xfs') {
    return [
      { argv: ['xfs_repair', '-n', device], why: 'find out what is wrong (read-only); stop here when clean' },
      { argv: ['xfs_repair', device], why: 'repair; once more after mounting to replay a dirty log' },
      { argv: ['xfs_repair', '-n', device], why: 'verify' },
    ];
  }
  return [{ argv: [command.file, ...command.args], why: 'repair' }];
}

function optionArgs(options: string[]): string[] {
  return options.length > 0 ? ['-o', options.join(',')] : [];
}

/** repair_disk on a resolved target: unmount, repair, mount again as before. */
export function planRepair(target: RepairTarget, inventory: DiskInventory, budget: DiskBudget): DiskPlanParts {
  const name = `disk:${target.device.path}`;
  const parts: DiskPlanParts = { steps: [], commands: [], notes: [`disk_name resolves to ${target.device.path} (${target.fstype ?? 'unknown type'}) via ${target.via}`] };
  const decision = repairDecision(target, inventory);
  if ('refused' in decision) {
    parts.steps.push({ name, changes: false, summary: `would refuse: [${decision.refused.code}] ${decision.refused.text} Nothing would be touched.` });
    return parts;
  }
  const { command } = decision;
  const unmounts = [...target.mounts].reverse();
  for (const mount of unmounts) parts.commands.push({ argv: ['umount', mount.target], why: 'the repair needs the filesystem unmounted' });
  parts.commands.push(...repairCommands(target, command));
  const primary = target.mounts.find((mount) => mountRoot(inventory, mount) === '/')?.target;
  for (const mount of target.mounts) {
    const root = mountRoot(inventory, mount);
    const argv =
      root !== '/' && primary !== undefined
        ? ['mount', '--bind', path.join(primary, root), mount.target]
        : ['mount', '-t', target.fstype ?? mount.fstype, ...optionArgs(remountOptions(mount)), target.device.path, mount.target];
    parts.commands.push({ argv, why: 'mount it again as it was; other options only if that fails' });
  }
  const where = unmounts.length > 0 ? `unmount ${unmounts.map((mount) => mount.target).join(', ')}, ` : 'not mounted, so nothing to unmount or mount; ';
  parts.steps.push({ name, changes: true, summary: `${where}run ${command.file} ${command.args.join(' ')}${target.mounts.length > 0 ? ', mount it again' : ''} (all within ${budget.totalMs / 1000} s)` });
  return parts;
}
