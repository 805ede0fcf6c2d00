import { normalizeMountPoint, parseMounts, type MountEntry } from '../../config/mounts.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';
import { detectDistro } from '../ssh/distro.js';
import { planFirewall } from '../ssh/firewall.js';
import { PID_FILES, isServiceUp } from '../ssh/sshd-service.js';
import type { EffectiveSshdConfig } from '../sshd-effective.js';
import { listenerEndpoints } from './facts.js';
import { finding, ok, type CheckVerdict } from './verdict.js';

/**
 * The machine-wide checks `diagnose` adds to the login path: sshd running and valid,
 * host keys usable, the firewall, the filesystems logins write to, the clock. Each
 * only reads (the firewall listing is the one reset_ssh plans from, never applied).
 */

const TIMEOUT_MS = 10_000;

export async function checkSshdProcess(system: System, paths: SystemPaths): Promise<CheckVerdict> {
  const up = await isServiceUp(system, await detectDistro(system, paths), PID_FILES);
  return up ? ok('sshd_running', 'the SSH service is running') : finding('sshd_running', 'blocked', 'neither the service manager nor a pid file reports sshd running', { fix: 'reset_ssh' });
}

export async function checkSshdSyntax(system: System, sshd: string | undefined): Promise<CheckVerdict> {
  if (sshd === undefined) return finding('sshd_test', 'blocked', 'sshd is not installed', { advice: 'install openssh-server' });
  const result = await system.run(sshd, ['-t'], { timeoutMs: TIMEOUT_MS });
  if (result.started && result.exitCode === 0) return ok('sshd_test', 'sshd -t accepts the configuration');
  const reason = result.timedOut ? `sshd -t did not finish within ${TIMEOUT_MS} ms` : (result.stderr.split('\n').find((line) => line.trim() !== '')?.trim().slice(0, 200) ?? `exit ${result.exitCode}`);
  return finding('sshd_test', 'blocked', `sshd -t rejects the configuration: ${reason}`, { fix: 'reset_ssh' });
}

/** Host keys sshd is configured with: present, regular, not empty, private to root (sshd refuses looser ones). Contents are never read. */
export async function checkHostKeys(system: System, config: EffectiveSshdConfig | undefined): Promise<CheckVerdict> {
  const files = config?.getAll('hostkey') ?? [];
  if (files.length === 0) return finding('host_keys', 'warning', 'sshd -T listed no host keys', { fix: 'reset_ssh' });
  const usable: string[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const info = await system.stat(file);
    if (info === undefined) problems.push(`${file} is missing`);
    else if (info.type !== 'file' || info.size === 0) problems.push(`${file} is not a non-empty file`);
    else if (info.uid !== 0 || (info.mode & 0o077) !== 0) problems.push(`${file} has mode 0${info.mode.toString(8)} owner ${info.uid} (sshd refuses keys others can read)`);
    else usable.push(file);
  }
  if (problems.length === 0) return ok('host_keys', `${usable.length} host key(s) present and private`);
  return finding('host_keys', usable.length === 0 ? 'blocked' : 'warning', problems.join('; '), { fix: 'reset_ssh' });
}

/** Rules that drop or reject the SSH ports: exactly what reset_ssh would open. */
export async function checkFirewall(system: System, config: EffectiveSshdConfig | undefined): Promise<CheckVerdict[]> {
  const ports = [...new Set((config === undefined ? [] : listenerEndpoints(config)).map((endpoint) => endpoint.port))];
  if (ports.length === 0) return [];
  const plan = await planFirewall(system, ports);
  if (plan.rules.length === 0) return [ok('firewall', plan.notes.length === 0 ? `nothing blocks tcp/${ports.join(', ')}` : plan.notes.join('; '))];
  return plan.rules.map((rule) => finding('firewall', 'blocked', `blocks SSH: would need ${rule.description}`, { fix: 'reset_ssh' }));
}

function mountOf(mounts: readonly MountEntry[], target: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const mount of mounts) {
    const point = normalizeMountPoint(mount.target);
    const covers = point === '/' || target === point || target.startsWith(`${point}/`);
    if (covers && (best === undefined || point.length >= normalizeMountPoint(best.target).length)) best = mount;
  }
  return best;
}

/** `df -P -k` data line: [total, used, available] in KiB. */
export function parseDfLine(output: string): { available: number; usedPercent: number } | undefined {
  const line = output.trim().split('\n')[1];
  const fields = line?.trim().split(/\s+/) ?? [];
  const available = Number(fields[3]);
  const usedPercent = Number((fields[4] ?? '').replace('%', ''));
  return Number.isFinite(available) && Number.isFinite(usedPercent) && fields.length >= 6 ? { available, usedPercent } : undefined;
}

/** / and /home: a read-only or full filesystem stops logins (lastlog, sessions, key files). */
export async function checkFilesystems(system: System, paths: SystemPaths): Promise<CheckVerdict[]> {
  const mounts = parseMounts((await system.readText(paths.procMounts)) ?? '');
  const results: CheckVerdict[] = [];
  for (const target of ['/', '/home']) {
    const name = `filesystem ${target}`;
    const mount = mountOf(mounts, target);
    if (target === '/home' && (mount === undefined || normalizeMountPoint(mount.target) === '/')) continue;
    if (mount?.options.includes('ro') === true) {
      results.push(finding(name, 'blocked', `${mount.target} (${mount.source}) is mounted read-only`, { fix: 'repair_disk' }));
      continue;
    }
    const df = await system.run('df', ['-P', '-k', target], { timeoutMs: TIMEOUT_MS });
    const usage = df.started && df.exitCode === 0 ? parseDfLine(df.stdout) : undefined;
    if (usage === undefined) results.push(finding(name, 'warning', 'free space could not be read (df failed or timed out)'));
    else if (usage.available === 0) results.push(finding(name, 'blocked', `${target} is full (${usage.usedPercent}% used, 0 KiB free)`, { advice: 'free space on it' }));
    else if (usage.usedPercent >= 98) results.push(finding(name, 'warning', `${target} is ${usage.usedPercent}% full`, { advice: 'free space on it' }));
    else results.push(ok(name, `writable, ${usage.usedPercent}% used`));
  }
  return results;
}

/** `chronyc tracking`: "System time : 0.000012 seconds slow of NTP time". */
export function parseChronyOffset(output: string): number | undefined {
  const match = /^System time\s*:\s*([\d.]+) seconds (slow|fast)/m.exec(output);
  return match === null ? undefined : Number(match[1]);
}

/** Clock skew breaks certificates and time-limited keys; only a local time source can tell. */
export async function checkClock(system: System): Promise<CheckVerdict> {
  const chrony = await system.run('chronyc', ['-n', 'tracking'], { timeoutMs: 5_000 });
  const offset = chrony.started && chrony.exitCode === 0 ? parseChronyOffset(chrony.stdout) : undefined;
  if (offset !== undefined) {
    return offset > 300 ? finding('clock', 'warning', `the clock is ${Math.round(offset)} s away from chrony's time sources`) : ok('clock', `within ${offset.toFixed(3)} s of chrony's time sources`);
  }
  const timedate = await system.run('timedatectl', ['show', '--property=NTPSynchronized', '--value'], { timeoutMs: 5_000 });
  if (timedate.started && timedate.exitCode === 0) {
    const synced = timedate.stdout.trim();
    if (synced === 'yes') return ok('clock', 'systemd-timesyncd or NTP reports the clock synchronised');
    if (synced === 'no') return finding('clock', 'warning', 'the clock is not synchronised to a time source; skew cannot be ruled out');
  }
  return ok('clock', 'skipped: no local time source (chrony, timedatectl) to compare with');
}
