import * as path from 'node:path';
import type { Logger } from '../../logger.js';
import type { FsckInterpretation } from '../../config/fsck-exit-code.js';
import { interpretFsckExit, interpretXfsRepairExit } from '../../config/fsck-exit-code.js';
import { describeFindings, e2fsckFindings, xfsRepairFindings } from '../../config/fsck-findings.js';
import type { MountEntry } from '../../config/mounts.js';
import { isSameOrBelow, normalizeMountPoint, parseMounts } from '../../config/mounts.js';
import type { ErrorCode } from '../../errors.js';
import type { SystemPaths } from '../../system/paths.js';
import type { RunResult, System } from '../../system/system.js';
import { clip, firstLine } from '../../text.js';
import type { StepOutcome } from '../action.js';
import type { DiskBudget } from './disk-budget.js';
import { isExtType } from './disk-check.js';
import { holdersOf } from './disk-holders.js';
import type { DiskInventory } from './disk-inventory.js';
import { mountRoot } from './disk-inventory.js';
import type { RepairTarget } from './disk-target.js';

export interface RepairRunContext {
  system: System;
  logger: Logger;
  paths: SystemPaths;
  inventory: DiskInventory;
  budget: DiskBudget;
}

const UMOUNT_TIMEOUT_MS = 60_000;
const MOUNT_TIMEOUT_MS = 30_000;
/** Kept back from the repair tool's timeout so the remount still fits in the budget. */
const REMOUNT_RESERVE_MS = 30_000;

/** The repair plan for a filesystem type, or why there is none. */
export function repairCommand(fstype: string | undefined, device: string): { file: string; args: string[] } | { refused: string } {
  if (fstype === undefined) return { refused: `no filesystem was recognised on ${device}` };
  if (isExtType(fstype)) return { file: 'e2fsck', args: ['-f', '-y', device] };
  if (fstype === 'xfs') return { file: 'xfs_repair', args: [device] };
  if (fstype === 'btrfs') {
    // btrfs-check(8) warns that --repair can make damage worse; a person decides that.
    return { refused: 'btrfs is not repaired automatically (btrfs check --repair can make damage worse); run btrfs scrub while it is mounted, or btrfs check by hand' };
  }
  return { file: 'fsck', args: ['-t', fstype, '-y', device] };
}

/** Mount options that take a permission away; a remount keeps every one of them. */
const RESTRICTIVE_OPTIONS: ReadonlySet<string> = new Set(['ro', 'nosuid', 'nodev', 'noexec']);

/** Options to mount with again: what the kernel showed, minus what it only displays. */
export function remountOptions(mount: MountEntry): string[] {
  return mount.options.filter((option) => option !== 'seclabel');
}

/** Longest substatus message of a repair (it lists every step taken). */
const REPAIR_MESSAGE_MAX = 1000;

/** Why a command failed, in one line: its first output line, or its exit code. */
function failureLine(result: RunResult): string {
  return firstLine(`${result.stderr}\n${result.stdout}`, 200, `exit ${result.exitCode}`);
}

class RepairFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

async function mountAgain(mount: MountEntry, target: RepairTarget, primary: string | undefined, context: RepairRunContext): Promise<string> {
  const { system, budget, inventory } = context;
  const timeoutMs = budget.timeoutMs(MOUNT_TIMEOUT_MS);
  const root = mountRoot(inventory, mount);
  const options = remountOptions(mount);
  if (root !== '/' && primary !== undefined) {
    // A bind mount of a subtree: bind it again from the first mount, then apply ro.
    const source = path.join(primary, root);
    const bound = await system.run('mount', ['--bind', source, mount.target], { timeoutMs });
    if (bound.exitCode !== 0) throw new RepairFailure('DISK_REPAIR_FAILED', `could not bind ${source} at ${mount.target} again: ${failureLine(bound)}`);
    if (options.includes('ro')) {
      const readOnly = await system.run('mount', ['-o', 'remount,bind,ro', mount.target], { timeoutMs });
      if (readOnly.exitCode !== 0) throw new RepairFailure('DISK_REPAIR_FAILED', `bound ${source} at ${mount.target} again but could not make it read-only: ${failureLine(readOnly)}`);
    }
    return `${mount.target} (bind of ${root}${options.includes('ro') ? ', ro' : ''})`;
  }
  const fstype = target.fstype ?? mount.fstype;
  // Options that restrict what the filesystem allows: no fallback may drop one, or a
  // noexec/nosuid data disk would come back able to run (setuid) programs.
  const restrictive = options.filter((option) => RESTRICTIVE_OPTIONS.has(option));
  const keep = (candidate: readonly string[]): string[] => [...candidate, ...restrictive.filter((option) => !candidate.includes(option))];
  const attempts: { options: string[]; label: string }[] = [{ options, label: options.join(',') }];
  if (target.fstab !== undefined && normalizeMountPoint(target.fstab.file) === normalizeMountPoint(mount.target)) {
    const fromFstab = keep(target.fstab.options);
    attempts.push({ options: fromFstab, label: `${fromFstab.join(',')} from fstab` });
  }
  // Last resort: the kernel's defaults, but never writable, suid, dev or exec when it was not before.
  if (restrictive.length > 0) attempts.push({ options: restrictive, label: `${restrictive.join(',')} with default options` });
  else attempts.push({ options: [], label: 'default options' });
  let last: RunResult | undefined;
  for (const attempt of attempts) {
    const args = ['-t', fstype, ...(attempt.options.length > 0 ? ['-o', attempt.options.join(',')] : []), target.device.path, mount.target];
    last = await system.run('mount', args, { timeoutMs });
    if (last.exitCode === 0) return `${mount.target} (${attempt.label})`;
    context.logger.debug({ target: mount.target, exitCode: last.exitCode }, 'disk: mount attempt failed');
  }
  const kept = restrictive.length > 0 ? `, never without ${restrictive.join(',')}` : '';
  throw new RepairFailure(
    'DISK_REPAIR_FAILED',
    `could not mount ${target.device.path} at ${mount.target} again: ${last === undefined ? 'no attempt' : failureLine(last)} So it was left unmounted: mount it by hand with -o ${options.join(',') || 'defaults'}${kept}`,
  );
}

async function remountAll(mounts: readonly MountEntry[], target: RepairTarget, context: RepairRunContext): Promise<string[]> {
  const done: string[] = [];
  // Bind mounts are bound again from the whole-filesystem mount (mounted first, or still there).
  const primary = target.mounts.find((mount) => mountRoot(context.inventory, mount) === '/')?.target;
  for (const mount of mounts) done.push(await mountAgain(mount, target, primary, context));
  return done;
}

/** Unmount every mount of the device, newest first; on failure put back what was unmounted. */
async function unmountAll(target: RepairTarget, context: RepairRunContext): Promise<void> {
  const unmounted: MountEntry[] = [];
  for (const mount of [...target.mounts].reverse()) {
    const result = await context.system.run('umount', [mount.target], { timeoutMs: context.budget.timeoutMs(UMOUNT_TIMEOUT_MS) });
    if (result.exitCode === 0) {
      context.logger.info({ device: target.device.path, target: mount.target }, 'disk: unmounted');
      unmounted.unshift(mount);
      continue;
    }
    const busy = /busy/i.test(`${result.stderr}${result.stdout}`);
    const why = busy ? await holdersOf(mount.target, context) : failureLine(result);
    let restored = '';
    if (unmounted.length > 0) {
      try {
        await remountAll(unmounted, target, context);
        restored = ` The mounts already undone (${unmounted.map((entry) => entry.target).join(', ')}) were mounted again.`;
      } catch (error) {
        restored = ` Mounting ${unmounted.map((entry) => entry.target).join(', ')} again failed: ${error instanceof Error ? error.message : String(error)}.`;
      }
    }
    if (busy) {
      throw new RepairFailure('DISK_BUSY', `${mount.target} cannot be unmounted: it is busy, ${why}. Nothing was repaired.${restored}`);
    }
    throw new RepairFailure('DISK_REPAIR_FAILED', `${mount.target} cannot be unmounted: ${why}. Nothing was repaired.${restored}`);
  }
}

interface RepairReport {
  /** Whether anything on disk was changed by the repair tool. */
  changed: boolean;
  /** True when problems remain (or the tool could not finish). */
  failed: boolean;
  /** Whether the filesystem may be mounted again afterwards. */
  safeToMount: boolean;
  details: string[];
}

async function runTool(file: string, args: string[], context: RepairRunContext): Promise<RunResult> {
  const timeoutMs = context.budget.timeoutMs(context.budget.totalMs, REMOUNT_RESERVE_MS);
  context.logger.info({ command: file, args, timeoutMs }, 'disk: running repair tool');
  return context.system.run(file, args, { timeoutMs });
}

function timedOutReport(label: string, context: RepairRunContext, earlier: string[] = []): RepairReport {
  return {
    changed: true,
    failed: true,
    safeToMount: false,
    details: [
      ...earlier,
      `${label} was stopped when the time budget (${context.budget.totalMs / 1000} s, under the agent's 300 s limit) ran out; the filesystem was left unmounted because the repair did not finish; run it again by hand`,
    ],
  };
}

async function repairExt(device: string, context: RepairRunContext): Promise<RepairReport> {
  const details: string[] = [];
  let changed = false;
  for (let pass = 1; pass <= 2; pass += 1) {
    const result = await runTool('e2fsck', ['-f', '-y', device], context);
    if (!result.started) return { changed, failed: true, safeToMount: true, details: [...details, 'e2fsck is not installed'] };
    if (result.timedOut) return timedOutReport('e2fsck -f -y', context, details);
    const meaning: FsckInterpretation = interpretFsckExit(result.exitCode, false);
    const findings = describeFindings(e2fsckFindings(`${result.stdout}\n${result.stderr}`));
    details.push(`e2fsck -f -y${pass > 1 ? ` (pass ${pass})` : ''}: ${meaning.description}${findings === '' ? '' : `: ${findings}`}`);
    if (meaning.verdict === 'failed') return { changed, failed: true, safeToMount: !changed, details };
    if (meaning.verdict === 'clean') return { changed, failed: false, safeToMount: true, details };
    changed = true;
    // e2fsck's own advice: after fixes, a second run proves the result.
    const verify = await runTool('e2fsck', ['-f', '-n', device], context);
    if (verify.timedOut) return { changed, failed: true, safeToMount: true, details: [...details, 'verification e2fsck -f -n did not finish in time'] };
    const verified = interpretFsckExit(verify.exitCode, true);
    details.push(`verification e2fsck -f -n: ${verified.description}`);
    if (verified.verdict === 'clean') return { changed, failed: false, safeToMount: true, details };
    if (verified.verdict === 'failed' || context.budget.isExhausted(REMOUNT_RESERVE_MS)) break;
  }
  return { changed, failed: true, safeToMount: true, details };
}

async function replayXfsLog(device: string, target: RepairTarget, context: RepairRunContext): Promise<string | undefined> {
  // Mounting replays the log; unmounting leaves it clean. The place is private to this run.
  const { system, budget } = context;
  const place = target.mounts[0]?.target ?? path.join(context.paths.stateDir, `xfs-log-replay-${system.now().getTime()}`);
  const madeDir = target.mounts[0] === undefined;
  if (madeDir) await system.mkdir(place, { recursive: true, mode: 0o700 });
  let isMounted = false;
  try {
    const mounted = await system.run('mount', ['-t', 'xfs', device, place], { timeoutMs: budget.timeoutMs(120_000, REMOUNT_RESERVE_MS) });
    if (mounted.exitCode !== 0) return `mounting to replay the log failed: ${failureLine(mounted)}`;
    isMounted = true;
    const unmounted = await system.run('umount', [place], { timeoutMs: budget.timeoutMs(UMOUNT_TIMEOUT_MS) });
    if (unmounted.exitCode !== 0) return `unmounting after the log replay failed: ${failureLine(unmounted)}`;
    isMounted = false;
    return undefined;
  } finally {
    // Only an empty directory that nothing is mounted on is ever removed.
    if (madeDir && !isMounted && (await system.listDir(place))?.length === 0) await system.remove(place, { recursive: true });
  }
}

async function repairXfs(device: string, target: RepairTarget, context: RepairRunContext): Promise<RepairReport> {
  const details: string[] = [];
  // xfs_repair exits 0 whether or not it fixed something (-e is not in older xfsprogs),
  // so a read-only pass first says what is wrong and a last one proves it is fixed.
  const probe = await runTool('xfs_repair', ['-n', device], context);
  if (!probe.started) return { changed: false, failed: true, safeToMount: true, details: ['xfs_repair is not installed'] };
  if (probe.timedOut) return { changed: false, failed: true, safeToMount: true, details: ['xfs_repair -n did not finish in time'] };
  const probed = interpretXfsRepairExit(probe.exitCode, true, `${probe.stdout}\n${probe.stderr}`);
  const found = describeFindings(xfsRepairFindings(`${probe.stdout}\n${probe.stderr}`));
  details.push(`xfs_repair -n: ${probed.description}${found === '' ? '' : `: ${found}`}`);
  if (probed.verdict === 'clean') return { changed: false, failed: false, safeToMount: true, details };
  if (probed.verdict === 'failed' && !probed.dirtyLog) return { changed: false, failed: true, safeToMount: true, details };

  let result = await runTool('xfs_repair', [device], context);
  if (result.timedOut) return timedOutReport('xfs_repair', context, details);
  let meaning = interpretXfsRepairExit(result.exitCode, false, `${result.stdout}\n${result.stderr}`);
  if (meaning.dirtyLog) {
    details.push('xfs_repair: the log must be replayed first; mounting once to replay it');
    const replayError = await replayXfsLog(device, target, context);
    if (replayError !== undefined) {
      details.push(
        `${replayError}; xfs_repair -L would zero the log and can lose recent changes, so it is not run automatically: decide by hand after taking a copy of the disk`,
      );
      return { changed: false, failed: true, safeToMount: false, details };
    }
    result = await runTool('xfs_repair', [device], context);
    if (result.timedOut) return timedOutReport('xfs_repair', context, details);
    meaning = interpretXfsRepairExit(result.exitCode, false, `${result.stdout}\n${result.stderr}`);
  }
  details.push(`xfs_repair: ${meaning.description}`);
  if (meaning.verdict === 'failed') return { changed: true, failed: true, safeToMount: false, details };
  const verify = await runTool('xfs_repair', ['-n', device], context);
  const verified = interpretXfsRepairExit(verify.exitCode, true, `${verify.stdout}\n${verify.stderr}`);
  details.push(`verification xfs_repair -n: ${verify.timedOut ? 'did not finish in time' : verified.description}`);
  return { changed: true, failed: verified.verdict !== 'clean', safeToMount: true, details };
}

async function repairOther(command: { file: string; args: string[] }, context: RepairRunContext): Promise<RepairReport> {
  const result = await runTool(command.file, command.args, context);
  const label = `${command.file} ${command.args.slice(0, -1).join(' ')}`;
  if (!result.started) return { changed: false, failed: true, safeToMount: true, details: [`${command.file} is not installed`] };
  if (result.timedOut) return timedOutReport(label, context);
  const meaning = interpretFsckExit(result.exitCode, false);
  return {
    changed: meaning.verdict === 'corrected' || meaning.verdict === 'errors',
    failed: meaning.verdict === 'errors' || meaning.verdict === 'failed',
    safeToMount: true,
    details: [`${label}: ${meaning.description}`],
  };
}

/**
 * Bind mounts of a subtree can only be put back from a mount of the whole filesystem;
 * when there is none (a container's file binds), they could not be restored exactly.
 */
function partialOnly(target: RepairTarget, inventory: DiskInventory): string | undefined {
  if (target.mounts.length === 0) return undefined;
  if (target.mounts.some((mount) => mountRoot(inventory, mount) === '/')) return undefined;
  return `Only parts of it are mounted (bind mounts of ${target.mounts.map((mount) => mountRoot(inventory, mount)).join(', ')}), which could not be put back exactly after unmounting.`;
}

function submounts(target: RepairTarget, inventory: DiskInventory): string[] {
  const own = new Set(target.mounts);
  const points = target.mounts.map((mount) => normalizeMountPoint(mount.target));
  return inventory.mounts
    .filter((mount) => !own.has(mount) && points.some((point) => normalizeMountPoint(mount.target) !== point && isSameOrBelow(mount.target, point)))
    .map((mount) => mount.target);
}

/**
 * Mounts of other filesystems stacked on one of the target's mount points. The mount
 * table lists mounts in the order they were made, so a later entry at the same point
 * hides the target's: `umount <point>` would take that one off instead.
 */
export function stackedOver(target: RepairTarget, inventory: DiskInventory): string[] {
  const own = new Set(target.mounts);
  const stacked: string[] = [];
  inventory.mounts.forEach((mount, index) => {
    if (own.has(mount)) return;
    const point = normalizeMountPoint(mount.target);
    const hidden = target.mounts.some((candidate) => normalizeMountPoint(candidate.target) === point && inventory.mounts.indexOf(candidate) < index);
    if (hidden) stacked.push(`${mount.source} on ${mount.target}`);
  });
  return stacked;
}

/**
 * The repair tool for this target, or why repair_disk will not touch it: decided before
 * anything changes, by plan and by apply alike.
 */
export function repairDecision(
  target: RepairTarget,
  inventory: DiskInventory,
): { command: { file: string; args: string[] } } | { refused: { code: ErrorCode; text: string } } {
  const command = repairCommand(target.fstype, target.device.path);
  if ('refused' in command) return { refused: { code: 'DISK_REPAIR_FAILED', text: `Not repaired: ${command.refused}.` } };
  const stacked = stackedOver(target, inventory);
  if (stacked.length > 0) {
    return { refused: { code: 'DISK_BUSY', text: `Another filesystem is mounted on top of it (${stacked.join(', ')}), so unmounting would take that one off; unmount it first.` } };
  }
  const below = submounts(target, inventory);
  if (below.length > 0) return { refused: { code: 'DISK_BUSY', text: `Filesystems are mounted below it (${below.join(', ')}); unmount them first.` } };
  const partial = partialOnly(target, inventory);
  if (partial !== undefined) return { refused: { code: 'DISK_REPAIR_FAILED', text: partial } };
  return { command };
}

/** Unmount, repair, remount; one outcome named for the device. */
export async function runDiskRepair(target: RepairTarget, context: RepairRunContext): Promise<StepOutcome[]> {
  const name = `disk:${target.device.path}`;
  const intro = `disk_name resolved to ${target.device.path} (${target.fstype ?? 'unknown type'}) via ${target.via}.`;
  const fail = (code: ErrorCode, text: string): StepOutcome[] => [{ name, result: 'failed', code, message: clip(`${intro} ${text}`, REPAIR_MESSAGE_MAX) }];

  const decision = repairDecision(target, context.inventory);
  if ('refused' in decision) return fail(decision.refused.code, `${decision.refused.text} Nothing was changed.`);
  const command = decision.command;
  if (context.budget.isExhausted(REMOUNT_RESERVE_MS * 2)) {
    return fail('DISK_REPAIR_FAILED', 'The time budget was used up before the repair could start. Nothing was changed.');
  }

  const steps: string[] = [];
  try {
    await unmountAll(target, context);
  } catch (error) {
    if (error instanceof RepairFailure) return fail(error.code, error.message);
    throw error;
  }
  if (target.mounts.length > 0) steps.push(`Unmounted ${[...target.mounts].reverse().map((mount) => mount.target).join(', ')}.`);

  let report: RepairReport;
  try {
    if (isExtType(target.fstype)) report = await repairExt(target.device.path, context);
    else if (target.fstype === 'xfs') report = await repairXfs(target.device.path, target, context);
    else report = await repairOther(command, context);
  } catch (error) {
    // Never leave a healthy mount unmounted because of our own bug: try to put it back.
    if (target.mounts.length > 0) await remountAll(target.mounts, target, context).catch(() => undefined);
    throw error;
  }
  steps.push(`${report.details.join('; ')}.`);

  if (target.mounts.length > 0) {
    if (!report.safeToMount) {
      steps.push(`It was left unmounted (it was mounted at ${target.mounts.map((mount) => mount.target).join(', ')}).`);
    } else {
      try {
        const mounted = await remountAll(target.mounts, target, context);
        const table = parseMounts((await context.system.readText(context.paths.procMounts)) ?? '');
        const missing = target.mounts.filter(
          (mount) =>
            !table.some(
              (entry) => normalizeMountPoint(entry.target) === normalizeMountPoint(mount.target) && (entry.source === mount.source || entry.source === target.device.path),
            ),
        );
        if (missing.length > 0) throw new RepairFailure('DISK_REPAIR_FAILED', `mount reported success but ${missing.map((mount) => mount.target).join(', ')} is not in the mount table`);
        steps.push(`Mounted again at ${mounted.join(', ')}.`);
      } catch (error) {
        if (!(error instanceof RepairFailure)) throw error;
        return fail('DISK_REPAIR_FAILED', `${steps.join(' ')} ${error.message}.`);
      }
    }
  } else {
    steps.push('It was not mounted before and was left unmounted.');
  }
  if (report.failed) {
    return fail('DISK_REPAIR_FAILED', `${steps.join(' ')} Problems remain: restore from a backup or run the repair by hand.`);
  }
  const summary = report.changed ? 'Errors were found and corrected.' : 'No errors were found; nothing was changed.';
  return [{ name, result: report.changed ? 'changed' : 'unchanged', message: clip(`${intro} ${steps.join(' ')} ${summary}`, REPAIR_MESSAGE_MAX) }];
}
