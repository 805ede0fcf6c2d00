import * as path from 'node:path';
import { VmaccessError } from '../../errors.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import { firstLine } from '../../text.js';
import { currentDigest, sha256Hex } from '../file-digest.js';
import type { PlannedCommand, PlannedFile } from '../plan.js';

/**
 * What runs `handlers/run expire` at the next deadline: a systemd timer (persistent, so a
 * deadline that passed while the VM was off is handled at boot), or where systemd is not
 * the init, a cron entry that checks every minute. Nothing stays resident; the schedule
 * is removed when no grant is left and on uninstall.
 */

export const EXPIRY_UNIT = 'vmaccess-expire';

export interface ScheduleFile {
  path: string;
  text: string;
}

export interface ExpirySchedule {
  kind: 'systemd' | 'cron';
  /** The files the schedule consists of, with their wanted content (empty when none is wanted). */
  files: ScheduleFile[];
  /** Files of the schedule that exist and must go. */
  remove: string[];
  commands: string[][];
}

/** The handler folder goes into a unit file and a crontab line: only plain path characters. */
function assertPlainPath(dir: string): void {
  if (!/^\/[A-Za-z0-9._+/-]+$/.test(dir) || dir.split('/').includes('..')) {
    throw new VmaccessError('ACCESS_EXPIRY_FAILED', `The handler folder ${JSON.stringify(dir).slice(0, 200)} cannot be named in a timer safely.`);
  }
}

/** `2026-12-24 18:00:00 UTC`, the calendar form systemd.time(7) reads in UTC. */
export function calendarUtc(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function serviceUnit(handlerDir: string): string {
  assertPlainPath(handlerDir);
  return [
    '# Managed by vmaccess: revokes time-limited access (access_minutes) that is due.',
    '[Unit]',
    'Description=VMAccess: revoke time-limited access that has expired',
    '',
    '[Service]',
    'Type=oneshot',
    `WorkingDirectory=${handlerDir}`,
    `ExecStart=${handlerDir}/handlers/run expire`,
    '',
  ].join('\n');
}

export function timerUnit(deadline: string): string {
  return [
    '# Managed by vmaccess: the next access_minutes deadline. Removed when no grant is left.',
    '[Unit]',
    'Description=VMAccess: time-limited access deadline',
    '',
    '[Timer]',
    `OnCalendar=${calendarUtc(deadline)}`,
    // A deadline that passed while the VM was off runs at boot; and every boot checks once.
    'Persistent=true',
    'OnBootSec=1min',
    'AccuracySec=1s',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}

export function cronEntry(handlerDir: string): string {
  assertPlainPath(handlerDir);
  return [
    '# Managed by vmaccess: revokes time-limited access (access_minutes) that is due. Removed when no grant is left.',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `* * * * * root cd ${handlerDir} && ./handlers/run expire >/dev/null 2>&1`,
    '',
  ].join('\n');
}

export async function hasSystemd(system: System, paths: SystemPaths): Promise<boolean> {
  return (await system.stat(paths.systemdRunDir))?.type === 'directory';
}

function unitPaths(paths: SystemPaths): { service: string; timer: string; cron: string } {
  return {
    service: path.posix.join(paths.systemdUnitDir, `${EXPIRY_UNIT}.service`),
    timer: path.posix.join(paths.systemdUnitDir, `${EXPIRY_UNIT}.timer`),
    // cron skips files in cron.d whose names contain a dot.
    cron: path.posix.join(paths.cronDir, 'vmaccess-expire'),
  };
}

/**
 * The schedule for `deadline` (undefined: none), and what differs from the machine now.
 * Throws ACCESS_EXPIRY_FAILED when the machine has neither systemd nor cron.d.
 */
export async function planSchedule(system: System, paths: SystemPaths, handlerDir: string, deadline: string | undefined): Promise<ExpirySchedule> {
  const where = unitPaths(paths);
  const systemd = await hasSystemd(system, paths);
  const existing: string[] = [];
  for (const file of [where.service, where.timer, where.cron]) if ((await system.lstat(file)) !== undefined) existing.push(file);
  if (deadline === undefined) {
    const commands = existing.includes(where.timer) && systemd ? [['systemctl', 'disable', '--now', `${EXPIRY_UNIT}.timer`], ['systemctl', 'daemon-reload']] : [];
    return { kind: systemd ? 'systemd' : 'cron', files: [], remove: existing, commands };
  }
  if (systemd) {
    const files = [
      { path: where.service, text: serviceUnit(handlerDir) },
      { path: where.timer, text: timerUnit(deadline) },
    ];
    const changed = await differs(system, files);
    const commands = changed ? [['systemctl', 'daemon-reload'], ['systemctl', 'enable', `${EXPIRY_UNIT}.timer`], ['systemctl', 'restart', `${EXPIRY_UNIT}.timer`]] : [];
    return { kind: 'systemd', files: changed ? files : [], remove: existing.filter((file) => file === where.cron), commands };
  }
  if ((await system.stat(paths.cronDir))?.type !== 'directory') {
    throw new VmaccessError('ACCESS_EXPIRY_FAILED', `access_minutes needs systemd or cron to revoke access on time, and this VM has neither (${paths.cronDir} is missing); nothing was granted.`, {
      hint: 'Install cron, or send the request without access_minutes.',
    });
  }
  const files = [{ path: where.cron, text: cronEntry(handlerDir) }];
  return { kind: 'cron', files: (await differs(system, files)) ? files : [], remove: existing.filter((file) => file !== where.cron), commands: [] };
}

async function differs(system: System, files: readonly ScheduleFile[]): Promise<boolean> {
  for (const file of files) if ((await system.readText(file.path)) !== file.text) return true;
  return false;
}

export async function scheduleFiles(system: System, schedule: ExpirySchedule): Promise<PlannedFile[]> {
  const planned: PlannedFile[] = [];
  for (const file of schedule.files) planned.push({ path: file.path, before: await currentDigest(system, file.path), after: sha256Hex(file.text), reason: 'the access-expiry schedule' });
  for (const file of schedule.remove) planned.push({ path: file, before: await currentDigest(system, file), after: null, reason: 'no access grant is left' });
  return planned;
}

export function scheduleCommands(schedule: ExpirySchedule): PlannedCommand[] {
  return schedule.commands.map((argv) => ({ argv, why: 'make systemd run the access-expiry timer as written' }));
}

/** Make the machine's schedule the planned one. */
export async function applySchedule(system: System, schedule: ExpirySchedule): Promise<void> {
  for (const file of schedule.files) {
    await system.mkdir(path.posix.dirname(file.path), { recursive: true, mode: 0o755 });
    await system.writeFileAtomic(file.path, file.text, { mode: 0o644, uid: 0, gid: 0 });
  }
  // Stop the timer before its files go (disable --now), then forget them (daemon-reload).
  const [disable, ...rest] = schedule.files.length === 0 ? schedule.commands : [];
  if (disable !== undefined) await runSystemctl(system, disable);
  for (const file of schedule.remove) await system.remove(file);
  for (const argv of schedule.files.length === 0 ? rest : schedule.commands) await runSystemctl(system, argv);
}

async function runSystemctl(system: System, argv: readonly string[]): Promise<void> {
  const [program, ...args] = argv;
  const result = await system.run(program!, args, { timeoutMs: 60_000 });
  if (!result.started || result.exitCode !== 0) {
    const detail = result.started ? firstLine(result.stderr || result.stdout, 200) : 'not installed';
    throw new VmaccessError('ACCESS_EXPIRY_FAILED', `${argv.join(' ')} failed${detail === '' ? '' : `: ${detail}`}.`);
  }
}
