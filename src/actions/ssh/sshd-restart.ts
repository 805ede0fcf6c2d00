import type { System } from '../../system/system.js';
import type { CommandFailure, ServiceFacts } from './sshd-service.js';
import { readDaemonPid } from './sshd-service.js';

/**
 * reset_ssh restarts sshd once, with every wait bounded. A reload is not enough: a
 * master that is frozen (SIGSTOP) or out of MaxStartups still holds port 22 and answers
 * nothing, and a SIGHUP is never acted on by a stopped process. So: a graceful stop with
 * a deadline, then SIGKILL of the master, then a start. systemd sends SIGCONT with its
 * SIGTERM; without systemd we send both ourselves.
 */

export interface RestartTarget {
  init: ServiceFacts['init'];
  /** systemd units to restart, in order (socket first, as Ubuntu's ssh.socket owns the port). */
  units: string[];
  /** SysV script: ['service', 'ssh'] or ['/etc/init.d/ssh']. */
  sysvCommand?: string[];
  /** The daemon to start without an init system. */
  sshd: string;
}

export interface RestartTiming {
  /** Graceful stop: how long a TERMed master may take to exit. */
  stopMs: number;
  /** After SIGKILL: how long until the kernel has reaped it. */
  killMs: number;
  /** A service manager or init script call. */
  commandMs: number;
  pollMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** Worst case about 10 + 5 + 3 x 20 s per unit, well inside the agent's 300 s. */
export const RESTART_TIMING: Omit<RestartTiming, 'sleep'> = { stopMs: 10_000, killMs: 5_000, commandMs: 20_000, pollMs: 200 };

/** Processes called sshd whose parent is not an sshd: the listeners (connection children are not). */
async function masterPidsFromProc(system: System): Promise<number[]> {
  const masters: number[] = [];
  const names = (await system.listDir('/proc').catch(() => undefined)) ?? [];
  const commOf = async (pid: string): Promise<string> => ((await system.readText(`/proc/${pid}/comm`).catch(() => undefined)) ?? '').trim();
  for (const name of names) {
    if (!/^\d+$/.test(name) || !(await commOf(name)).startsWith('sshd')) continue;
    const stat = (await system.readText(`/proc/${name}/stat`).catch(() => undefined)) ?? '';
    // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
    const ppid = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/)[1] ?? '';
    if (!(await commOf(ppid)).startsWith('sshd')) masters.push(Number(name));
  }
  return masters;
}

/** The master from its pid file; else every sshd listener /proc shows. */
export async function findSshdMasters(system: System, pidFiles: readonly string[]): Promise<number[]> {
  const fromPidFile = await readDaemonPid(system, pidFiles);
  if (fromPidFile !== undefined) return [fromPidFile];
  return masterPidsFromProc(system);
}

async function waitGone(system: System, pids: readonly number[], deadlineMs: number, timing: RestartTiming): Promise<number[]> {
  let alive = [...pids];
  for (let waited = 0; ; waited += timing.pollMs) {
    const next: number[] = [];
    for (const pid of alive) if (await system.isProcessAlive(pid)) next.push(pid);
    alive = next;
    if (alive.length === 0 || waited >= deadlineMs) return alive;
    await timing.sleep(timing.pollMs);
  }
}

async function signal(system: System, name: string, pids: readonly number[]): Promise<void> {
  if (pids.length === 0) return;
  await system.run('kill', [`-${name}`, ...pids.map(String)], { timeoutMs: 5_000 });
}

/** Stops the listening master(s) without an init system's help: TERM (+CONT), deadline, KILL. */
async function stopMasters(system: System, pidFiles: readonly string[], timing: RestartTiming, steps: string[]): Promise<CommandFailure | undefined> {
  const masters = await findSshdMasters(system, pidFiles);
  if (masters.length === 0) return undefined;
  await signal(system, 'TERM', masters);
  // A stopped process keeps a pending TERM until it is continued.
  await signal(system, 'CONT', masters);
  let alive = await waitGone(system, masters, timing.stopMs, timing);
  steps.push(`stopped sshd (pid ${masters.join(', ')})`);
  if (alive.length === 0) return undefined;
  await signal(system, 'KILL', alive);
  steps.push(`killed pid ${alive.join(', ')} after ${timing.stopMs / 1000} s`);
  alive = await waitGone(system, alive, timing.killMs, timing);
  return alive.length === 0 ? undefined : { command: `kill -KILL ${alive.join(' ')}`, detail: 'the process did not exit' };
}

async function runBounded(system: System, file: string, args: string[], timing: RestartTiming): Promise<string | undefined> {
  const result = await system.run(file, args, { timeoutMs: timing.commandMs });
  if (result.started && !result.timedOut && result.exitCode === 0) return undefined;
  return result.timedOut ? 'timed out' : !result.started ? 'could not be started' : `exit code ${result.exitCode}`;
}

async function restartUnit(system: System, unit: string, timing: RestartTiming, steps: string[]): Promise<CommandFailure | undefined> {
  const failed = await runBounded(system, 'systemctl', ['restart', unit], timing);
  if (failed === undefined) {
    steps.push(`systemctl restart ${unit}`);
    return undefined;
  }
  // A unit stuck in deactivating (its process ignores TERM): kill it, then start it.
  await runBounded(system, 'systemctl', ['kill', '--signal=SIGKILL', unit], timing);
  const started = await runBounded(system, 'systemctl', ['start', unit], timing);
  steps.push(`systemctl restart ${unit} ${failed}; killed and started it`);
  return started === undefined ? undefined : { command: `systemctl start ${unit}`, detail: started };
}

/** One bounded restart; `steps` receives what was done, in words for the status. */
export async function restartSshd(system: System, target: RestartTarget, pidFiles: readonly string[], timing: RestartTiming, steps: string[]): Promise<CommandFailure | undefined> {
  if (target.init === 'systemd') {
    if (target.units.length > 1) await runBounded(system, 'systemctl', ['daemon-reload'], timing);
    for (const unit of target.units) {
      const failure = await restartUnit(system, unit, timing, steps);
      if (failure !== undefined) return failure;
    }
    return undefined;
  }
  const stopped = await stopMasters(system, pidFiles, timing, steps);
  if (stopped !== undefined) return stopped;
  const [file = target.sshd, ...args] = target.init === 'sysv' && target.sysvCommand !== undefined ? [...target.sysvCommand, 'start'] : [target.sshd];
  const failed = await runBounded(system, file, args, timing);
  const command = [file, ...args].join(' ');
  steps.push(command);
  return failed === undefined ? undefined : { command, detail: failed };
}
