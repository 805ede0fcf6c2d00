import * as path from 'node:path';
import type { BlockDevice } from '../../config/block-devices.js';
import { describeSuperblock, parseDumpe2fsHeader, superblockHasErrors } from '../../config/dumpe2fs.js';
import { interpretFsckExit, interpretXfsRepairExit, xfsOutputMentionsDirtyLog } from '../../config/fsck-exit-code.js';
import { describeFindings, e2fsckFindings, xfsRepairFindings } from '../../config/fsck-findings.js';
import type { FstabEntry } from '../../config/fstab.js';
import { findKernelErrors } from '../../config/kernel-log.js';
import type { MountEntry } from '../../config/mounts.js';
import type { System } from '../../system/system.js';
import { clip } from '../../text.js';
import type { StepOutcome } from '../action.js';
import type { DiskBudget } from './disk-budget.js';
import type { DiskEnvironment, DiskInventory } from './disk-inventory.js';
import { deviceOfMount, findDevice, resolveSpec } from './disk-inventory.js';

/** A filesystem check_disk looks at: a device, where it is mounted, what fstab says. */
export interface CheckTarget {
  /** Canonical device path, or the fstab spec when no device matches it. */
  device: string;
  block: BlockDevice | undefined;
  fstype: string | undefined;
  mounts: MountEntry[];
  fstab: FstabEntry | undefined;
  isRoot: boolean;
}

export interface SkippedFilesystem {
  what: string;
  reason: string;
}

const NETWORK_TYPES = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', 'ceph', 'glusterfs', 'lustre', 'afs', '9p', 'davfs', 'virtiofs', 'gfs2', 'ocfs2',
]);
const READ_ONLY_MEDIA_TYPES = new Set(['iso9660', 'udf', 'squashfs', 'erofs', 'cramfs']);
/** Types that are containers for other things, not filesystems a checker can look at. */
export const NOT_FILESYSTEM_TYPES = new Set(['LVM2_member', 'linux_raid_member', 'crypto_LUKS', 'zfs_member', 'bcache', 'ddf_raid_member', 'isw_raid_member']);
const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4']);

export function isExtType(fstype: string | undefined): boolean {
  return fstype !== undefined && EXT_TYPES.has(fstype);
}

/** Why a filesystem type is not checked, or undefined when it is a local one. */
export function skipReasonForType(fstype: string | undefined): string | undefined {
  if (fstype === undefined) return undefined;
  if (fstype === 'swap') return 'swap';
  if (NETWORK_TYPES.has(fstype)) return 'network filesystem';
  if (fstype.startsWith('fuse')) return 'FUSE filesystem';
  if (READ_ONLY_MEDIA_TYPES.has(fstype)) return 'read-only media';
  if (NOT_FILESYSTEM_TYPES.has(fstype)) return `${fstype} (not a filesystem)`;
  return undefined;
}

/**
 * The local data filesystems the system knows: mounted block devices and fstab lines,
 * merged per device. Pseudo filesystems (proc, tmpfs, overlay...) are not counted.
 */
export function listCheckTargets(inventory: DiskInventory): { targets: CheckTarget[]; skipped: SkippedFilesystem[] } {
  const targets = new Map<string, CheckTarget>();
  const skipped: SkippedFilesystem[] = [];
  const skip = (what: string, reason: string): void => {
    if (!skipped.some((entry) => entry.what === what)) skipped.push({ what, reason });
  };
  const deviceSkip = (block: BlockDevice | undefined, fstype: string | undefined): string | undefined => {
    const byType = skipReasonForType(block?.fstype ?? fstype);
    if (byType !== undefined) return byType;
    if (block?.type === 'rom') return 'read-only media';
    if (block?.readOnly === true) return 'read-only device';
    return undefined;
  };
  const upsert = (key: string, block: BlockDevice | undefined, fstype: string | undefined): CheckTarget => {
    const existing = targets.get(key);
    if (existing !== undefined) {
      existing.fstype ??= fstype;
      return existing;
    }
    const created: CheckTarget = { device: key, block, fstype: block?.fstype ?? fstype, mounts: [], fstab: undefined, isRoot: false };
    targets.set(key, created);
    return created;
  };

  for (const mount of inventory.mounts) {
    // Block-backed filesystems have a path as their source; everything else is pseudo.
    if (!mount.source.startsWith('/dev/') && mount.target !== '/') continue;
    const block = deviceOfMount(inventory, mount);
    const reason = deviceSkip(block, mount.fstype);
    const key = block?.path ?? mount.source;
    if (reason !== undefined) {
      skip(`${key} on ${mount.target}`, reason);
      continue;
    }
    if (!mount.source.startsWith('/') && block === undefined) continue;
    const target = upsert(key, block, mount.fstype);
    target.mounts.push(mount);
    if (mount.target === '/') target.isRoot = true;
  }

  for (const entry of inventory.fstab) {
    if (entry.options.includes('bind') || entry.options.includes('rbind')) continue;
    const typeReason = skipReasonForType(entry.vfstype);
    if (typeReason !== undefined) {
      skip(`${entry.spec}${entry.vfstype === 'swap' ? '' : ` on ${entry.file}`}`, typeReason);
      continue;
    }
    const tagged = entry.spec.includes('=') || entry.spec.startsWith('/dev/');
    if (!tagged) continue; // tmpfs, proc and friends
    const matches = resolveSpec(inventory, entry.spec);
    if (matches.length > 1) {
      const target = upsert(entry.spec, undefined, entry.vfstype);
      target.fstab = entry;
      continue;
    }
    const block = matches[0];
    const reason = deviceSkip(block, entry.vfstype === 'auto' ? undefined : entry.vfstype);
    if (reason !== undefined) {
      skip(`${block?.path ?? entry.spec} on ${entry.file}`, reason);
      continue;
    }
    const target = upsert(block?.path ?? entry.spec, block, entry.vfstype === 'auto' ? undefined : entry.vfstype);
    target.fstab ??= entry;
  }
  return { targets: [...targets.values()], skipped };
}

export type CheckVerdict = 'clean' | 'errors found' | 'could not check';

export interface CheckReport {
  verdict: CheckVerdict;
  /** Findings and limits, sentence fragments joined into the message. */
  details: string[];
}

export function describeTarget(target: CheckTarget): string {
  const where =
    target.mounts.length > 0
      ? `mounted at ${[...new Set(target.mounts.map((mount) => mount.target))].join(', ')}`
      : target.fstab !== undefined
        ? `not mounted (fstab: ${target.fstab.file})`
        : 'not mounted';
  const root = target.isRoot ? ', root filesystem' : '';
  return `${target.device} (${target.fstype ?? 'unknown type'}, ${where}${root})`;
}

/** Kernel names for a device and its disk (`sdc1`, `sdc`), as dmesg and sysfs use them. */
export function kernelNames(target: { device: string; block: BlockDevice | undefined }, inventory: DiskInventory): string[] {
  const names = new Set<string>();
  const add = (value: string | undefined): void => {
    if (value !== undefined && value.startsWith('/dev/')) names.add(path.basename(value));
  };
  add(target.block?.kname ?? target.block?.path ?? target.device);
  add(target.block?.path);
  const parent = target.block?.parent === undefined ? undefined : findDevice(inventory, target.block.parent);
  add(parent?.kname ?? target.block?.parent);
  return [...names];
}

/** Lazily read, once per run: dmesg may be missing or restricted (kernel.dmesg_restrict). */
export interface KernelLogSource {
  read(): Promise<{ text: string } | { unavailable: string }>;
}

export function createKernelLogSource(system: System, budget: DiskBudget): KernelLogSource {
  let cached: Promise<{ text: string } | { unavailable: string }> | undefined;
  return {
    read() {
      cached ??= system.run('dmesg', [], { timeoutMs: budget.timeoutMs(15_000) }).then((result) => {
        if (!result.started) return { unavailable: 'dmesg is not installed' };
        if (result.exitCode !== 0) return { unavailable: 'dmesg is not readable' };
        return { text: result.stdout };
      });
      return cached;
    },
  };
}

async function kernelFindings(
  target: CheckTarget,
  inventory: DiskInventory,
  system: System,
  environment: DiskEnvironment,
  kernelLog: KernelLogSource,
): Promise<{ errors: string[]; notes: string[] }> {
  const names = kernelNames(target, inventory);
  const errors: string[] = [];
  const notes: string[] = [];
  const log = await kernelLog.read();
  if ('text' in log) {
    const lines = findKernelErrors(log.text, names);
    if (lines.length > 0) errors.push(`kernel log: ${lines.length} error line${lines.length === 1 ? '' : 's'}, last: ${lines.at(-1)?.replace(/^\[[^\]]*\]\s*/, '') ?? ''}`);
    else notes.push('no errors in the kernel log');
  } else {
    notes.push(`kernel log not checked (${log.unavailable})`);
  }
  // SCSI disks (Azure's data disks) count failed commands since boot.
  const disk = target.block?.parent ?? target.block?.path;
  if (disk !== undefined) {
    const counter = await system.readText(path.join(environment.sysRoot, 'block', path.basename(disk), 'device', 'ioerr_cnt')).catch(() => undefined);
    const count = counter === undefined ? 0 : Number.parseInt(counter.trim(), 16);
    if (Number.isFinite(count) && count > 0) errors.push(`${count} I/O errors on ${path.basename(disk)} since boot`);
  }
  return { errors, notes };
}

const LIMITED = 'mounted, so not checked with fsck';

async function checkMounted(
  target: CheckTarget,
  inventory: DiskInventory,
  system: System,
  environment: DiskEnvironment,
  budget: DiskBudget,
  kernelLog: KernelLogSource,
): Promise<CheckReport> {
  const errors: string[] = [];
  const notes: string[] = [];
  let observed = false;
  if (isExtType(target.fstype)) {
    const dump = await system.run('dumpe2fs', ['-h', target.device], { timeoutMs: budget.timeoutMs(30_000) });
    if (dump.started && dump.exitCode === 0) {
      observed = true;
      const superblock = parseDumpe2fsHeader(dump.stdout);
      (superblockHasErrors(superblock) ? errors : notes).push(describeSuperblock(superblock));
    } else {
      notes.push(dump.started ? `dumpe2fs failed (exit ${dump.exitCode})` : 'dumpe2fs is not installed');
    }
    const kname = kernelNames(target, inventory)[0];
    if (kname !== undefined) {
      const counter = await system.readText(path.join(environment.sysRoot, 'fs', 'ext4', kname, 'errors_count')).catch(() => undefined);
      const count = counter === undefined ? undefined : Number.parseInt(counter.trim(), 10);
      if (count !== undefined && Number.isFinite(count)) {
        observed = true;
        if (count > 0) errors.push(`kernel error counter ${count}`);
      }
    }
  } else if (target.fstype === 'xfs') {
    // XFS keeps no error counter on disk; the kernel's health report (xfsprogs 5.3+)
    // lists metadata found bad while running. A full check needs it unmounted.
    const mountPoint = target.mounts[0]?.target ?? '/';
    const health = await system.run('xfs_spaceman', ['-c', 'health', mountPoint], { timeoutMs: budget.timeoutMs(30_000) });
    const text = `${health.stdout}\n${health.stderr}`;
    if (health.started && health.exitCode === 0) {
      observed = true;
      const sick = text.split('\n').filter((line) => /unhealthy|sick|corrupt/i.test(line));
      if (sick.length > 0) errors.push(`kernel health report: ${sick.slice(0, 3).map((line) => line.trim()).join('; ')}`);
      else notes.push(/not been collected/i.test(text) ? 'kernel health report: no problems recorded' : 'kernel health report: ok');
    } else {
      notes.push(health.started ? 'kernel health report unavailable (xfs_spaceman health failed)' : 'xfs_spaceman is not installed');
    }
  }
  const kernel = await kernelFindings(target, inventory, system, environment, kernelLog);
  errors.push(...kernel.errors);
  notes.push(...kernel.notes);
  // A quiet kernel log alone is not a check: the result stays "could not check".
  if (errors.length > 0) return { verdict: 'errors found', details: [...errors, LIMITED] };
  if (!observed) return { verdict: 'could not check', details: [`${LIMITED} and nothing safe to read for ${target.fstype ?? 'this type'}`, ...notes] };
  return { verdict: 'clean', details: [...notes, `${LIMITED} (superblock and kernel counters only)`] };
}

/** Read-only checkers for unmounted filesystems: these never write to the device. */
export function readOnlyCheckCommand(fstype: string | undefined, device: string): { file: string; args: string[] } | undefined {
  if (isExtType(fstype)) return { file: 'e2fsck', args: ['-f', '-n', device] };
  if (fstype === 'xfs') return { file: 'xfs_repair', args: ['-n', device] };
  if (fstype === 'btrfs') return { file: 'btrfs', args: ['check', '--readonly', device] };
  // fsck passes -n to these helpers, where it means "no changes".
  if (fstype === 'vfat' || fstype === 'msdos' || fstype === 'exfat') return { file: 'fsck', args: ['-t', fstype, '-n', device] };
  return undefined;
}

async function checkUnmounted(target: CheckTarget, system: System, budget: DiskBudget): Promise<CheckReport> {
  const command = readOnlyCheckCommand(target.fstype, target.device);
  if (command === undefined) {
    return { verdict: 'could not check', details: [`no read-only checker is known for ${target.fstype ?? 'an unknown filesystem type'}`] };
  }
  const result = await system.run(command.file, command.args, { timeoutMs: budget.timeoutMs(budget.totalMs) });
  const output = `${result.stdout}\n${result.stderr}`;
  const label = `${command.file} ${command.args.slice(0, -1).join(' ')}`;
  if (!result.started) return { verdict: 'could not check', details: [`${command.file} is not installed`] };
  if (result.timedOut) return { verdict: 'could not check', details: [`${label} did not finish within the time budget`] };
  if (isExtType(target.fstype) || command.file === 'fsck') {
    const meaning = interpretFsckExit(result.exitCode, true);
    // -n cannot replay a journal that needs recovery; what it then reports may not be real.
    const journal = /skipping journal recovery/i.test(output) ? ['the journal needs recovery and was not replayed, so some findings may go away on the next mount'] : [];
    if (meaning.verdict === 'clean') return { verdict: 'clean', details: [`${label}: ${meaning.description}`, ...journal] };
    if (meaning.verdict === 'errors') {
      const findings = describeFindings(e2fsckFindings(output));
      return { verdict: 'errors found', details: [`${label}: ${meaning.description}`, ...(findings === '' ? [] : [findings]), ...journal] };
    }
    return { verdict: 'could not check', details: [`${label}: ${meaning.description}`] };
  }
  if (target.fstype === 'xfs') {
    const meaning = interpretXfsRepairExit(result.exitCode, true, output);
    const dirty = xfsOutputMentionsDirtyLog(output) ? ['the log was not replayed, so some findings may go away on the next mount'] : [];
    if (meaning.verdict === 'clean') return { verdict: 'clean', details: [`${label}: ${meaning.description}`, ...dirty] };
    if (meaning.verdict === 'errors') {
      const findings = describeFindings(xfsRepairFindings(output));
      return { verdict: 'errors found', details: [`${label}: ${meaning.description}`, ...(findings === '' ? [] : [findings]), ...dirty] };
    }
    return { verdict: 'could not check', details: [`${label}: ${meaning.description}`] };
  }
  // btrfs check --readonly: 0 clean, anything else errors (or no filesystem).
  if (result.exitCode === 0) return { verdict: 'clean', details: [`${label}: clean (exit 0)`] };
  return { verdict: 'errors found', details: [`${label}: errors reported (exit ${result.exitCode})`] };
}

export interface CheckRunContext {
  system: System;
  inventory: DiskInventory;
  environment: DiskEnvironment;
  budget: DiskBudget;
  kernelLog: KernelLogSource;
}

export async function checkTarget(target: CheckTarget, context: CheckRunContext): Promise<CheckReport> {
  const { system, inventory, environment, budget, kernelLog } = context;
  if (target.block === undefined && !target.device.startsWith('/dev/')) {
    const reason = resolveSpec(inventory, target.device).length > 1 ? 'several devices match it' : 'no device matches it';
    return { verdict: 'could not check', details: [`${target.device} is in fstab but ${reason}`] };
  }
  if (budget.isExhausted()) return { verdict: 'could not check', details: [`the time budget of ${budget.totalMs / 1000} s was used up`] };
  if (target.mounts.length > 0) return checkMounted(target, inventory, system, environment, budget, kernelLog);
  const report = await checkUnmounted(target, system, budget);
  if (report.verdict === 'could not check') return report;
  const kernel = await kernelFindings(target, inventory, system, environment, kernelLog);
  if (kernel.errors.length > 0 && report.verdict === 'clean') {
    return { verdict: 'errors found', details: [...report.details, ...kernel.errors] };
  }
  return { verdict: report.verdict, details: [...report.details, ...kernel.errors] };
}

/** Longest substatus message; the agent shows status text to people, keep it readable. */
const CHECK_MESSAGE_MAX = 900;

/** One substatus per filesystem, plus the summary `disk`. */
export async function runDiskCheck(context: CheckRunContext): Promise<StepOutcome[]> {
  const { targets, skipped } = listCheckTargets(context.inventory);
  const outcomes: StepOutcome[] = [];
  const counts = { clean: [] as string[], errors: [] as string[], unchecked: [] as string[] };
  for (const target of targets) {
    const report = await checkTarget(target, context);
    const message = clip(`${describeTarget(target)}: ${report.verdict}: ${report.details.join('; ').replace(/\.$/, '')}.`, CHECK_MESSAGE_MAX);
    const name = `disk:${target.device}`;
    if (report.verdict === 'clean') counts.clean.push(target.device);
    if (report.verdict === 'errors found') counts.errors.push(target.device);
    if (report.verdict === 'could not check') counts.unchecked.push(target.device);
    // Findings are results of a check that ran: the step did its job (nothing changed),
    // but errors need a person to run the repair, so they are warnings.
    const warning = report.verdict === 'errors found' ? repairAdvice(target.device) : undefined;
    outcomes.push({ name, result: report.verdict === 'could not check' ? 'skipped' : 'unchanged', message, ...(warning === undefined ? {} : { warning }) });
  }
  const parts = [
    `${targets.length} local filesystem${targets.length === 1 ? '' : 's'}`,
    `${counts.clean.length} clean`,
    `${counts.errors.length} with errors${counts.errors.length > 0 ? ` (${counts.errors.join(', ')})` : ''}`,
    `${counts.unchecked.length} could not be checked${counts.unchecked.length > 0 ? ` (${counts.unchecked.join(', ')})` : ''}`,
  ];
  const skippedText = skipped.length > 0 ? `; skipped ${describeSkipped(skipped)}` : '';
  const notes = context.inventory.notes.length > 0 ? `; note: ${context.inventory.notes.join(', ')}` : '';
  const summary = clip(`check_disk: ${parts.join(', ')}${skippedText}${notes}. Nothing was changed.`, CHECK_MESSAGE_MAX);
  if (targets.length > 0 && counts.unchecked.length === targets.length) {
    // Not one filesystem could be looked at: the check itself did not run.
    outcomes.push({ name: 'disk', result: 'failed', code: 'DISK_CHECK_FAILED', message: clip(`check_disk could not check any filesystem: ${summary}`, CHECK_MESSAGE_MAX) });
    return outcomes;
  }
  outcomes.push({ name: 'disk', result: 'unchanged', message: summary });
  return outcomes;
}

/** What to do about a filesystem with errors: the repair_disk request for it (enable lists one per device). */
export function repairAdvice(device: string): string {
  return `check_disk found errors on ${device}: run repair_disk with disk_name "${device}"`;
}

/** Skipped filesystems grouped by reason, a few names each (Ubuntu has a squashfs per snap). */
function describeSkipped(skipped: readonly SkippedFilesystem[], perReason = 3): string {
  const byReason = new Map<string, string[]>();
  for (const entry of skipped) byReason.set(entry.reason, [...(byReason.get(entry.reason) ?? []), entry.what]);
  return [...byReason]
    .map(([reason, whats]) => {
      const more = whats.length > perReason ? ` and ${whats.length - perReason} more` : '';
      return `${reason}: ${whats.slice(0, perReason).join(', ')}${more}`;
    })
    .join('; ');
}
