import type { System } from '../../system/system.js';
import type { DistroProfile } from './distro.js';
import type { RestartTarget } from './sshd-restart.js';

/**
 * Controlling the SSH server under systemd (a service unit, or socket activation as
 * on Ubuntu 22.10+ and Flatcar), SysV `service`, or no init system at all (the
 * end-to-end sandbox, containers): find out what is there, decide what one
 * reload/start means for it (a pure decision table), do it, and check that sshd
 * answers afterwards.
 */

export type InitSystem = 'systemd' | 'sysv' | 'none';

export interface ServiceFacts {
  init: InitSystem;
  /** systemd service unit that runs sshd (ssh.service or sshd.service). */
  unit?: string;
  /** The unit's Type= (notify-reload: `systemctl reload` returns when the reload is done). */
  unitType?: string;
  unitActive: boolean;
  unitMasked: boolean;
  /** systemd socket unit that activates sshd, when it is enabled or active. */
  socket?: string;
  socketActive: boolean;
  /** Accept=yes: one `sshd -i` per connection (Flatcar); no daemon to reload. */
  socketAccept: boolean;
  /** How to call the SysV script: ['service', 'ssh'] or ['/etc/init.d/ssh']. */
  sysvCommand?: string[];
  /** The listening daemon, from its pid file, when it is alive. */
  daemonPid?: number;
  /**
   * Units of the two above that systemd holds in the `failed` state. A broken
   * sshd_config makes ssh.service fail in a loop until the start limit refuses any
   * further start ("Start request repeated too quickly"): reset-failed lifts that.
   */
  failedUnits?: string[];
}

export interface ServiceChange {
  /** Some sshd file was changed in this run. */
  configChanged: boolean;
  /** Port or ListenAddress changed (socket units must be restarted for that). */
  listenChanged: boolean;
  /** Start sshd even if nothing changed (reset_ssh: "start sshd if it was stopped"). */
  ensureRunning: boolean;
  /** Unmask the unit if masked (reset_ssh). */
  unmask: boolean;
  /** reset_ssh: exactly one bounded restart, whatever else is true (see sshd-restart.ts). */
  restart?: boolean;
}

export interface ServiceCommand {
  file: string;
  args: string[];
}

export type ServiceAction = 'none' | 'reload' | 'start' | 'restart';

/**
 * How to know the commands have taken effect: `listeners` — sshd's own listening
 * sockets are replaced (SIGHUP re-exec, start, restart, a restarted socket unit);
 * `returned` — systemctl returns only when a notify-reload unit has finished
 * reloading; `settle` — a socket unit keeps the sockets and systemctl returns early,
 * so nothing observable changes: look twice, settleMs apart.
 */
export type Readiness = 'listeners' | 'returned' | 'settle';

export interface ServiceDecision {
  action: ServiceAction;
  commands: ServiceCommand[];
  /** Which row of the table applied, in words (goes into plan and status). */
  reason: string;
  /** sshd is stopped and stays stopped: nothing answers to confirm the change (see decideServiceControl). */
  leftStopped?: boolean;
  /** Set for reset_ssh: after `commands` (preparation only), restart sshd this way. */
  restart?: RestartTarget;
  readiness?: Readiness;
}

/** Which readiness signal the decided commands give (see Readiness). */
export function readinessOf(facts: ServiceFacts, decision: ServiceDecision): Readiness {
  const reloadsUnit = decision.commands.some((command) => command.file === 'systemctl' && command.args[0] === 'reload');
  if (facts.init !== 'systemd' || facts.socket === undefined || !reloadsUnit) return 'listeners';
  // The socket unit holds the listening sockets across the service's reload.
  return facts.unitType === 'notify-reload' ? 'returned' : 'settle';
}

export function isRunning(facts: ServiceFacts): boolean {
  if (facts.init === 'systemd') return facts.unitActive || (facts.socketAccept && facts.socketActive);
  return facts.daemonPid !== undefined;
}

const systemctl = (...args: string[]): ServiceCommand => ({ file: 'systemctl', args });

/**
 * The decision table (README "SSH server" has it as a table; tests walk every row).
 * At most one reload/start/restart of sshd; `unmask`, `reset-failed` and
 * `daemon-reload` only prepare it.
 */
export function decideServiceControl(facts: ServiceFacts, change: ServiceChange, sshd: string): ServiceDecision {
  const decision = change.restart === true ? decideRestart(facts, change, sshd) : decideCommands(facts, change, sshd);
  return { ...decision, readiness: readinessOf(facts, decision) };
}

function decideCommands(facts: ServiceFacts, change: ServiceChange, sshd: string): ServiceDecision {
  const running = isRunning(facts);
  const listening = running || (facts.init === 'systemd' && facts.socket !== undefined && facts.socketActive);
  if (!change.configChanged && listening) return { action: 'none', commands: [], reason: 'nothing changed and sshd is listening' };
  if (!change.configChanged && !change.ensureRunning) {
    return { action: 'none', commands: [], reason: 'nothing changed; sshd is not running and was not asked to start' };
  }
  // An admin may have stopped sshd on purpose: a password grant or user removal changes
  // its files (validated with sshd -t) but only reset_ssh, the explicit "make SSH work"
  // request, starts a stopped sshd.
  if (!listening && !change.ensureRunning) {
    return { action: 'none', commands: [], leftStopped: true, reason: 'sshd is not running and only reset_ssh starts a stopped sshd; it reads the new settings when it is next started' };
  }
  switch (facts.init) {
    case 'systemd': {
      const prepare: ServiceCommand[] = change.unmask && facts.unitMasked && facts.unit !== undefined ? [systemctl('unmask', facts.unit)] : [];
      if (facts.failedUnits !== undefined && facts.failedUnits.length > 0) prepare.push(systemctl('reset-failed', ...facts.failedUnits));
      if (facts.socket !== undefined && facts.socketAccept) {
        if (facts.socketActive) {
          return {
            action: 'none',
            commands: prepare,
            reason: change.listenChanged
              ? `${facts.socket} starts sshd per connection; new settings apply to the next connection, but a port change needs ListenStream= in ${facts.socket}`
              : `${facts.socket} starts sshd per connection; the next connection reads the new settings`,
          };
        }
        return { action: 'start', commands: [...prepare, systemctl('start', facts.socket)], reason: `${facts.socket} (per-connection sshd) was not listening` };
      }
      if (facts.socket !== undefined) {
        if (change.listenChanged) {
          // Ubuntu's sshd-socket-generator turns Port/ListenAddress into socket settings on daemon-reload.
          const commands = [...prepare, systemctl('daemon-reload'), systemctl('restart', facts.socket)];
          if (facts.unitActive && facts.unit !== undefined) commands.push(systemctl('restart', facts.unit));
          return { action: 'restart', commands, reason: `the listening port changed and ${facts.socket} owns it` };
        }
        if (facts.unitActive && facts.unit !== undefined) {
          return { action: 'reload', commands: [...prepare, systemctl('reload', facts.unit)], reason: `${facts.unit} is running (socket-activated)` };
        }
        if (facts.socketActive) {
          return { action: 'none', commands: prepare, reason: `${facts.socket} is listening; sshd starts with the new settings on the next connection` };
        }
        return { action: 'start', commands: [...prepare, systemctl('start', facts.socket)], reason: `neither ${facts.socket} nor the service was running` };
      }
      const unit = facts.unit ?? 'sshd.service';
      if (facts.unitActive) return { action: 'reload', commands: [...prepare, systemctl('reload', unit)], reason: `${unit} is running` };
      return { action: 'start', commands: [...prepare, systemctl('start', unit)], reason: `${unit} was not running` };
    }
    case 'sysv': {
      const script = facts.sysvCommand ?? ['service', 'sshd'];
      const [file = 'service', ...base] = script;
      if (running) return { action: 'reload', commands: [{ file, args: [...base, 'reload'] }], reason: 'sshd runs under a SysV init script' };
      return { action: 'start', commands: [{ file, args: [...base, 'start'] }], reason: 'sshd (SysV init script) was not running' };
    }
    case 'none': {
      // No init system: SIGHUP makes sshd re-execute itself and re-read its configuration
      // (sshd(8)); without a daemon, start one, which detaches by itself.
      if (facts.daemonPid !== undefined) {
        return { action: 'reload', commands: [{ file: 'kill', args: ['-HUP', String(facts.daemonPid)] }], reason: `sshd (pid ${facts.daemonPid}) runs without an init system` };
      }
      return { action: 'start', commands: [{ file: sshd, args: [] }], reason: 'no init system and no sshd running' };
    }
  }
}

/**
 * reset_ssh restarts sshd exactly once, even when no file changed: it is an explicit
 * request to get in, and a frozen or saturated master is only cleared by a restart.
 */
function decideRestart(facts: ServiceFacts, change: ServiceChange, sshd: string): ServiceDecision {
  const reason = 'reset_ssh restarts sshd once (a frozen or saturated sshd holds the port and answers nothing)';
  if (facts.init === 'systemd') {
    const prepare: ServiceCommand[] = change.unmask && facts.unitMasked && facts.unit !== undefined ? [systemctl('unmask', facts.unit)] : [];
    // A unit that crash-looped on a broken config is refused further starts until reset.
    if (facts.failedUnits !== undefined && facts.failedUnits.length > 0) prepare.push(systemctl('reset-failed', ...facts.failedUnits));
    const unit = facts.unit ?? 'sshd.service';
    // Accept=yes: no daemon, one sshd -i per connection; restarting the socket re-listens.
    const units = facts.socket === undefined ? [unit] : facts.socketAccept ? [facts.socket] : [facts.socket, unit];
    return { action: 'restart', commands: prepare, reason, restart: { init: 'systemd', units, sshd } };
  }
  if (facts.init === 'sysv') {
    const restart: RestartTarget = { init: 'sysv', units: [], sshd, sysvCommand: facts.sysvCommand ?? ['service', 'sshd'] };
    return { action: 'restart', commands: [], reason, restart };
  }
  return { action: 'restart', commands: [], reason, restart: { init: 'none', units: [], sshd } };
}

/** The restart in words: what a plan prints and the log records. */
export function describeRestart(target: RestartTarget): string {
  if (target.init === 'systemd') return target.units.map((unit) => `systemctl restart ${unit}`).join('; ');
  const start = target.init === 'sysv' ? [...(target.sysvCommand ?? []), 'start'].join(' ') : target.sshd;
  return `kill -TERM + -CONT the sshd master, SIGKILL if it has not exited within 10 s, then ${start}`;
}

interface UnitState {
  id: string;
  loadState: string;
  activeState: string;
  unitFileState: string;
  type: string;
}

function parseSystemctlShow(text: string): UnitState[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const equals = line.indexOf('=');
        if (equals > 0) fields.set(line.slice(0, equals), line.slice(equals + 1).trim());
      }
      return {
        id: fields.get('Id') ?? '',
        loadState: fields.get('LoadState') ?? '',
        activeState: fields.get('ActiveState') ?? '',
        unitFileState: fields.get('UnitFileState') ?? '',
        type: fields.get('Type') ?? '',
      };
    })
    .filter((unit) => unit.id !== '');
}

export const PID_FILES = ['/run/sshd.pid', '/var/run/sshd.pid'] as const;

/** The pid of a live sshd from its pid file, if any. */
export async function readDaemonPid(system: System, pidFiles: readonly string[]): Promise<number | undefined> {
  for (const file of pidFiles) {
    const text = await system.readText(file).catch(() => undefined);
    const pid = Number((text ?? '').trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    if (!(await system.isProcessAlive(pid))) continue;
    // A stale pid file can name a recycled pid; check it is sshd when /proc says.
    const comm = await system.readText(`/proc/${pid}/comm`).catch(() => undefined);
    if (comm !== undefined && !comm.trim().startsWith('sshd')) continue;
    return pid;
  }
  return undefined;
}

export async function detectServiceFacts(system: System, profile: DistroProfile, pidFiles: readonly string[] = PID_FILES): Promise<ServiceFacts> {
  const base: ServiceFacts = { init: 'none', unitActive: false, unitMasked: false, socketActive: false, socketAccept: false };
  const daemonPid = await readDaemonPid(system, pidFiles);
  if (daemonPid !== undefined) base.daemonPid = daemonPid;

  // sd_booted(3): systemd is the running init exactly when this directory exists.
  if ((await system.stat('/run/systemd/system'))?.type === 'directory') {
    const units = [...profile.serviceUnits, ...profile.socketUnits];
    const shown = await system.run('systemctl', ['show', '--property=Id,LoadState,ActiveState,UnitFileState,Type', ...units], { timeoutMs: 20_000 });
    if (shown.started && shown.exitCode === 0) {
      const states = parseSystemctlShow(shown.stdout);
      const facts: ServiceFacts = { ...base, init: 'systemd' };
      const service = states.find((state) => state.id.endsWith('.service') && state.loadState !== 'not-found');
      if (service !== undefined) {
        facts.unit = service.id;
        if (service.type !== '') facts.unitType = service.type;
        facts.unitActive = service.activeState === 'active' || service.activeState === 'reloading';
        facts.unitMasked = service.loadState === 'masked' || service.unitFileState.startsWith('masked');
        if (service.activeState === 'failed') facts.failedUnits = [service.id];
      }
      const socket = states.find(
        (state) => state.id.endsWith('.socket') && state.loadState === 'loaded' && (state.activeState === 'active' || state.unitFileState === 'enabled'),
      );
      if (socket !== undefined) {
        facts.socket = socket.id;
        facts.socketActive = socket.activeState === 'active';
        if (socket.activeState === 'failed') facts.failedUnits = [...(facts.failedUnits ?? []), socket.id];
        const accept = await system.run('systemctl', ['show', '--property=Accept', socket.id], { timeoutMs: 20_000 });
        facts.socketAccept = accept.exitCode === 0 && /^Accept=yes$/m.test(accept.stdout);
      }
      return facts;
    }
  }

  for (const name of profile.sysvNames) {
    if ((await system.stat(`/etc/init.d/${name}`))?.type !== 'file') continue;
    const hasService = (await system.stat('/usr/sbin/service'))?.type === 'file' || (await system.stat('/sbin/service'))?.type === 'file';
    return { ...base, init: 'sysv', sysvCommand: hasService ? ['service', name] : [`/etc/init.d/${name}`] };
  }
  return base;
}

export interface CommandFailure {
  command: string;
  detail: string;
}

/** Runs the decided commands in order; stops at the first failure and says which. */
export async function runServiceCommands(system: System, commands: readonly ServiceCommand[]): Promise<CommandFailure | undefined> {
  for (const command of commands) {
    const result = await system.run(command.file, command.args, { timeoutMs: 90_000 });
    if (!result.started || result.exitCode !== 0) {
      const reason = result.timedOut ? 'timed out' : !result.started ? 'could not be started' : `exit code ${result.exitCode}`;
      return { command: [command.file, ...command.args].join(' '), detail: reason };
    }
  }
  return undefined;
}

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * Where to knock to see sshd answer, from `sshd -T`'s listenaddress lines
 * (`0.0.0.0:22`, `[::]:22`, `10.0.0.4:2222`): wildcard addresses become loopback.
 */
export function probeEndpoints(listenAddresses: readonly string[], ports: readonly string[]): Endpoint[] {
  const endpoints: Endpoint[] = [];
  const add = (host: string, port: number): void => {
    if (Number.isInteger(port) && port > 0 && !endpoints.some((endpoint) => endpoint.host === host && endpoint.port === port)) endpoints.push({ host, port });
  };
  for (const entry of listenAddresses) {
    const value = entry.split(/\s+/)[0] ?? '';
    const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(value);
    const plain = /^([^:]+):(\d+)$/.exec(value);
    const [host, port] = bracketed !== null ? [bracketed[1] ?? '', bracketed[2]] : plain !== null ? [plain[1] ?? '', plain[2]] : ['', undefined];
    if (port === undefined) continue;
    add(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, Number(port));
  }
  if (endpoints.length === 0) for (const port of ports) add('127.0.0.1', Number(port));
  if (endpoints.length === 0) add('127.0.0.1', 22);
  return endpoints;
}

export interface VerifyOptions {
  /** `settle` readiness only: wait this long after a reload/start before the first look, and between the two looks. */
  settleMs: number;
  attempts: number;
  delayMs: number;
  probeTimeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Between two looks while waiting for sshd's new listeners and banner (default 2 ms). */
  pollMs?: number;
  /** The whole wait for one confirmation, from the end of the service commands (default 20 s). */
  deadlineMs?: number;
  /** Monotonic milliseconds (default performance.now). */
  clock?: () => number;
  /** false: the service commands do not touch a real sshd (tests that record them), so wait as `settle`. */
  observeListeners?: boolean;
}

export interface Verification {
  ok: boolean;
  detail: string;
}

/**
 * sshd is up when every port it should listen on answers with an SSH identification
 * string on at least one address (IPv6 loopback may be off). Bounded retries: a
 * SIGHUP'd sshd re-executes itself and is briefly not listening.
 */
export async function verifySshdAnswers(system: System, endpoints: readonly Endpoint[], options: VerifyOptions): Promise<Verification> {
  const ports = [...new Set(endpoints.map((endpoint) => endpoint.port))];
  const pending = new Set(ports);
  let lastAnswer = '';
  for (let attempt = 0; attempt < options.attempts && pending.size > 0; attempt++) {
    if (attempt > 0) await options.sleep(options.delayMs);
    for (const endpoint of endpoints) {
      if (!pending.has(endpoint.port)) continue;
      const banner = await system.probeTcpBanner(endpoint.host, endpoint.port, options.probeTimeoutMs);
      if (banner?.startsWith('SSH-2.0-') === true || banner?.startsWith('SSH-1.99-') === true) pending.delete(endpoint.port);
      else if (banner !== undefined) lastAnswer = banner.slice(0, 40);
    }
  }
  if (pending.size === 0) return { ok: true, detail: `sshd answers on port ${ports.join(', ')}` };
  const which = [...pending].join(', ');
  return { ok: false, detail: lastAnswer === '' ? `nothing answers on port ${which}` : `port ${which} answers, but not with an SSH banner` };
}

/** Whether the service manager also says sshd is up (systemd) or its pid file names a live sshd. */
export async function isServiceUp(system: System, profile: DistroProfile, pidFiles: readonly string[]): Promise<boolean> {
  const facts = await detectServiceFacts(system, profile, pidFiles);
  if (facts.init === 'systemd') return facts.unitActive || facts.socketActive;
  return facts.daemonPid !== undefined;
}

/**
 * sshd is confirmed up when it answers and its service (or pid file) says so, twice,
 * settleMs apart. One look is not enough: `service ssh reload` and `kill -HUP` return
 * before sshd has acted on the signal, so the old listener can still answer the
 * first probe and then die re-executing itself with a configuration it cannot use.
 */
export async function confirmSshdUp(
  system: System,
  profile: DistroProfile,
  pidFiles: readonly string[],
  endpoints: readonly Endpoint[],
  options: VerifyOptions,
): Promise<Verification> {
  let last: Verification = { ok: false, detail: 'not checked' };
  for (const round of [1, 2]) {
    await options.sleep(options.settleMs);
    last = await verifySshdAnswers(system, endpoints, options);
    if (!last.ok) return last;
    // A re-executing sshd rewrites its pid file a moment after it answers again: give
    // the service state the same bounded window as the port (a loaded machine is slow).
    let serviceUp = await isServiceUp(system, profile, pidFiles);
    for (let attempt = 1; !serviceUp && attempt < options.attempts; attempt++) {
      await options.sleep(options.delayMs);
      serviceUp = await isServiceUp(system, profile, pidFiles);
    }
    if (!serviceUp) {
      return { ok: false, detail: `sshd answered, then the ${round === 1 ? 'service manager' : 'service manager (on the second look)'} did not report it running` };
    }
  }
  return last;
}
