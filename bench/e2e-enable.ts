import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { createGuestAgent, type AgentSettings, type GuestAgent, type InstalledHandler } from '../test/sandbox/guest-agent.js';
import { currentHandlerPackage, type HandlerPackage } from '../test/sandbox/handler-package.js';
import { SANDBOX_SUITE } from '../test/sandbox/rootfs.js';
import { createSandbox, sandboxUnavailableReason, type ExecOptions, type ExecResult, type Sandbox } from '../test/sandbox/sandbox.js';
import { LOG_FILE, lastVerify, phaseSummary, phasesOf, verifyTable, type Phases, type VerifyRecord } from './e2e-log.js';
import { countPrograms, straceIn, STRACE_OUTPUT, type ProgramCount } from './e2e-programs.js';
import { FLOOR_DIR, floorInputs } from './floor.js';
import { median, mib, ms, type Table } from './table.js';

/**
 * (c) Full enable in the end-to-end sandbox (issues 6 and 14): per request type, wall
 * time, peak memory, how many times sshd was reloaded or restarted (at most once, zero
 * when nothing changed), the agent running enable again for the same sequence number
 * (zero), the floor (bench/floor/<request>.sh: the same external programs with no
 * checks, timed the same way), how many programs the handler ran (strace, an extra
 * untimed run) and how long the sshd change took from the signal to "verified".
 *
 * Every run gets a fresh sandbox and drives the packaged handler exactly as the guest
 * agent does (test/sandbox/guest-agent.ts): settings file, install, then enable. The
 * only addition is GNU time (this machine's /usr/bin/time, bind-mounted read-only at a
 * path off PATH) as parent of the agent's `/bin/sh -c` wrapper, so the kernel's wait4
 * rusage of the whole command tree is read back.
 */
export const E2E_HEADERS = ['request', 'ours ms (median)', 'ours ms (min-max)', 'floor ms (median)', 'ours / floor', 'peak RSS MiB (median)', 'sshd touches per run', 'programs by handler (all execs)', 'runs ok'];

export interface E2eOptions {
  /** Fresh sandboxes per scenario. */
  runs: number;
  /** The package to install; default: currentHandlerPackage() (dist zip, else built tree). */
  pkg?: HandlerPackage;
}

const HOST_TIME = '/usr/bin/time';
/** Off PATH inside, so the handler sees exactly the programs it would see on a VM. */
const TIME_INSIDE = '/opt/vmaccess-bench/time';
const TIME_OUTPUT = '/run/vmaccess-bench-time.out';
const SEQ = 0;

interface Scenario {
  label: string;
  /** bench/floor/<floor>.sh */
  floor: string;
  settings: (sandbox: Sandbox) => Promise<AgentSettings>;
  /** Runs before install and before counting sshd starts. */
  prepare?: (sandbox: Sandbox) => Promise<void>;
  /** After the first enable: throws when the request visibly did not take effect. */
  check?: (sandbox: Sandbox) => Promise<void>;
}

const RESET_SSH: AgentSettings = { protectedSettings: { reset_ssh: true }, cipher: 'aes256' };

/** A VM whose owner changed sshd_config (and reloaded sshd): what reset_ssh is for. */
async function editSshdConfig(sandbox: Sandbox): Promise<void> {
  const before = await sandbox.sshdListenCount();
  await sandbox.execOk(['sh', '-c', 'printf "\\nMaxAuthTries 2\\nLoginGraceTime 20\\n" >> /etc/ssh/sshd_config && /etc/init.d/ssh reload']);
  const deadline = Date.now() + 10_000;
  while (!((await sandbox.sshdListenCount()) > before && (await sandbox.sshdRunning()))) {
    if (Date.now() > deadline) throw new Error('sshd did not come back after the sshd_config edit');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const SCENARIOS: readonly Scenario[] = [
  {
    label: 'create user with key',
    floor: 'create-user-with-key',
    settings: async (sandbox) => ({ protectedSettings: { username: 'benchuser', ssh_key: (await sandbox.generateKey('benchuser')).publicKey }, cipher: 'aes256' }),
  },
  {
    // The provisioned admin's password: what `az vm user update --password` does.
    label: 'password reset',
    floor: 'password-reset',
    settings: (sandbox) =>
      Promise.resolve({ protectedSettings: { username: sandbox.admin?.name ?? 'azureadmin', password: `Bx1!${randomBytes(12).toString('base64url')}` }, cipher: 'aes256' }),
  },
  {
    label: 'remove user',
    floor: 'remove-user',
    prepare: async (sandbox) => {
      await sandbox.execOk(['useradd', '--create-home', '--shell', '/bin/bash', 'leaving']);
    },
    settings: () => Promise.resolve({ protectedSettings: { remove_user: 'leaving' }, cipher: 'aes256' }),
    check: async (sandbox) => {
      if ((await sandbox.exec(['id', 'leaving'])).exitCode === 0) throw new Error('remove_user left the account in place');
    },
  },
  // A fresh image already has Debian's default sshd_config: nothing to change.
  { label: 'reset_ssh, sshd_config already default', floor: 'reset-ssh-default', settings: () => Promise.resolve(RESET_SSH) },
  {
    label: 'reset_ssh, sshd_config edited',
    floor: 'reset-ssh-edited',
    settings: () => Promise.resolve(RESET_SSH),
    prepare: editSshdConfig,
    check: async (sandbox) => {
      if (/^MaxAuthTries 2$/m.test((await sandbox.readText('/etc/ssh/sshd_config')) ?? '')) throw new Error('reset_ssh left the edited sshd_config in place');
    },
  },
];

/** One measured manifest command. */
interface Measurement {
  wallMs: number;
  peakKib: number | undefined;
  exitCode: number;
}

/**
 * The sandbox as the guest agent sees it, except that while `armed` the agent's command
 * wrapper runs under `prefix` (GNU time, or strace for the count). Wall time is taken
 * around the whole call, so it includes entering the sandbox (nsenter, env, timeout):
 * a few ms, measured separately below.
 */
function withMeter(sandbox: Sandbox, timeInside: string | undefined): { sandbox: Sandbox; arm: (prefix?: string[]) => void; take: () => Measurement | undefined } {
  let armed: string[] | undefined;
  let last: Measurement | undefined;
  const exec = async (argv: readonly string[], options?: ExecOptions): Promise<ExecResult> => {
    // runCommand's spawn: ['/bin/sh', '-c', <agent script>, 'agent', <command>, <limit>].
    const isAgentCommand = argv[0] === '/bin/sh' && argv[1] === '-c' && argv[3] === 'agent';
    if (armed === undefined || !isAgentCommand) return sandbox.exec(argv, options);
    const prefix = armed;
    armed = undefined;
    const measured = await timedExec(sandbox, [...prefix, ...argv], options, prefix.length > 0 && prefix[0] === timeInside);
    last = measured.measurement;
    return measured.result;
  };
  return {
    sandbox: { ...sandbox, exec },
    arm: (prefix) => {
      armed = prefix ?? (timeInside === undefined ? [] : [timeInside, '-f', '%M', '-o', TIME_OUTPUT]);
      last = undefined;
    },
    take: () => last,
  };
}

async function timedExec(sandbox: Sandbox, argv: readonly string[], options: ExecOptions | undefined, timed: boolean): Promise<{ result: ExecResult; measurement: Measurement }> {
  const started = process.hrtime.bigint();
  const result = await sandbox.exec(argv, options);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  let peakKib: number | undefined;
  if (timed) {
    // GNU time adds "Command exited with non-zero status N" first when it fails.
    const value = Number(((await sandbox.readText(TIME_OUTPUT)) ?? '').trim().split('\n').pop());
    peakKib = Number.isFinite(value) && value > 0 ? value : undefined;
  }
  return { result, measurement: { wallMs, peakKib, exitCode: result.exitCode } };
}

interface Sample {
  wallMs: number;
  peakKib: number | undefined;
  /** "Server listening" lines sshd logged during the command. */
  sshdStarts: number;
  /** Whether the listening sshd has a new pid afterwards (restart rather than SIGHUP). */
  restarted: boolean;
  /** From the handler's "sshd verified" log record, when sshd was touched. */
  verify?: VerifyRecord;
  /** Where the time and memory went, from the handler's log records of this enable. */
  phases: Phases;
}

async function measureEnable(agent: GuestAgent, meter: ReturnType<typeof withMeter>, handler: InstalledHandler, enable: () => Promise<{ exitCode: number; stderr: string; stdout: string }>): Promise<Sample> {
  const sandbox = agent.sandbox;
  const listensBefore = await sandbox.sshdListenCount();
  const pidBefore = await sandbox.sshdPid();
  const logBefore = (await sandbox.readText(LOG_FILE)) ?? '';
  const verifiesBefore = logBefore.split('"sshd verified"').length;
  meter.arm();
  const result = await enable();
  const measured = meter.take();
  if (result.exitCode !== 0 || measured === undefined) {
    throw new Error(`enable exited ${result.exitCode}: ${(result.stdout + result.stderr).trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
  }
  const status = (await agent.readStatus(handler, SEQ)) as { status?: { status?: string } }[] | undefined;
  const reported = status?.[0]?.status?.status;
  if (reported !== 'success') throw new Error(`enable exited 0 but status/${SEQ}.status says ${String(reported)}`);
  if (!(await sandbox.sshdRunning())) throw new Error('sshd is not running after enable');
  const logAfter = (await sandbox.readText(LOG_FILE)) ?? '';
  const verified = logAfter.split('"sshd verified"').length > verifiesBefore;
  const verify = verified ? await lastVerify(sandbox) : undefined;
  return {
    wallMs: measured.wallMs,
    peakKib: measured.peakKib,
    sshdStarts: (await sandbox.sshdListenCount()) - listensBefore,
    restarted: (await sandbox.sshdPid()) !== pidBefore,
    phases: phasesOf(logAfter.slice(logBefore.length)),
    ...(verify === undefined ? {} : { verify }),
  };
}

interface Prepared {
  sandbox: Sandbox;
  meter: ReturnType<typeof withMeter>;
  agent: GuestAgent;
  handler: InstalledHandler;
  settings: AgentSettings;
}

/** A fresh sandbox with the package installed and the request written, as before the measured enable. */
async function prepare(scenario: Scenario, pkg: HandlerPackage): Promise<Prepared> {
  const sandbox = await createSandbox();
  try {
    let timeInside: string | undefined;
    if (existsSync(HOST_TIME)) {
      await sandbox.bindHostPath(HOST_TIME, TIME_INSIDE);
      // This machine's binary must also run against the sandbox's libc.
      if ((await sandbox.exec([TIME_INSIDE, '-f', '%M', '-o', TIME_OUTPUT, 'true'])).exitCode === 0) timeInside = TIME_INSIDE;
    }
    const meter = withMeter(sandbox, timeInside);
    const agent = await createGuestAgent(meter.sandbox);
    await scenario.prepare?.(sandbox);
    const settings = await scenario.settings(sandbox);
    const handler = await agent.setUp(pkg);
    await agent.writeSettings(handler, SEQ, settings);
    const install = await agent.runCommand(handler, 'install', SEQ);
    if (install.exitCode !== 0) throw new Error(`install exited ${install.exitCode}: ${install.agentMessage.slice(-300)}`);
    return { sandbox, meter, agent, handler, settings };
  } catch (error) {
    await sandbox.destroy();
    throw error;
  }
}

interface RunResult {
  first: Sample;
  repeat: Sample;
}

async function runScenarioOnce(scenario: Scenario, pkg: HandlerPackage, overheadMs: number[]): Promise<RunResult> {
  const { sandbox, meter, agent, handler, settings } = await prepare(scenario, pkg);
  try {
    // What entering the sandbox costs, included in every wall time.
    const started = process.hrtime.bigint();
    await sandbox.exec(['/bin/sh', '-c', 'true']);
    overheadMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    const first = await measureEnable(agent, meter, handler, () => agent.enable(handler, SEQ, settings));
    await scenario.check?.(sandbox);
    // The agent runs enable again for the same goal state (e.g. after its own restart):
    // same settings file, same sequence number.
    const repeat = await measureEnable(agent, meter, handler, () => agent.runCommand(handler, 'enable', SEQ));
    return { first, repeat };
  } finally {
    await sandbox.destroy();
  }
}

/** The floor: bench/floor/<name>.sh in a fresh sandbox prepared the same way, timed the same way. */
async function runFloorOnce(scenario: Scenario, pkg: HandlerPackage): Promise<number> {
  const { sandbox, agent, handler, settings } = await prepare(scenario, pkg);
  try {
    const script = await readFile(path.join(FLOOR_DIR, `${scenario.floor}.sh`), 'utf8');
    await sandbox.writeFile('/run/vmaccess-floor.sh', script, 0o755);
    const inputs = await floorInputs(sandbox, agent, handler, settings);
    const { result, measurement } = await timedExec(sandbox, ['/bin/sh', '-c', 'exec /bin/sh /run/vmaccess-floor.sh', 'floor'], { env: inputs.env, input: inputs.input }, false);
    if (result.exitCode !== 0) throw new Error(`floor ${scenario.floor}.sh exited ${result.exitCode}: ${(result.stdout + result.stderr).slice(-300)}`);
    return measurement.wallMs;
  } finally {
    await sandbox.destroy();
  }
}

/** The externally visible programs of one enable, counted under strace in its own sandbox. */
async function countOnce(scenario: Scenario, pkg: HandlerPackage): Promise<ProgramCount | undefined> {
  const { sandbox, meter, agent, handler, settings } = await prepare(scenario, pkg);
  try {
    const prefix = await straceIn(sandbox);
    if (prefix === undefined) return undefined;
    meter.arm(prefix);
    const result = await agent.enable(handler, SEQ, settings);
    if (result.exitCode !== 0) throw new Error(`enable under strace exited ${result.exitCode}`);
    return countPrograms((await sandbox.readText(STRACE_OUTPUT)) ?? '');
  } finally {
    await sandbox.destroy();
  }
}

function reloadsText(samples: readonly Sample[]): string {
  if (samples.length === 0) return 'n/a';
  const counts = [...new Set(samples.map((sample) => sample.sshdStarts))].sort().join('/');
  const restarts = samples.filter((sample) => sample.restarted).length;
  const kind = samples.every((sample) => sample.sshdStarts === 0) ? '' : restarts === 0 ? ' (SIGHUP, same pid)' : ` (${restarts}/${samples.length} new pid)`;
  return `${counts}${kind}`;
}

function row(label: string, samples: readonly Sample[], floors: readonly number[], programs: ProgramCount | undefined, attempted: number): string[] {
  const walls = samples.map((sample) => sample.wallMs);
  const peaks = samples.map((sample) => sample.peakKib).filter((value): value is number => value !== undefined);
  const ours = median(walls);
  const floor = median(floors);
  return [
    label,
    samples.length === 0 ? 'n/a' : ms(ours),
    samples.length === 0 ? 'n/a' : `${ms(Math.min(...walls))}-${ms(Math.max(...walls))}`,
    floors.length === 0 ? '' : ms(floor),
    floors.length === 0 || samples.length === 0 ? '' : `${(ours / floor).toFixed(2)}x`,
    peaks.length === 0 ? 'n/a' : mib(median(peaks)),
    reloadsText(samples),
    programs === undefined ? '' : `${programs.byHandler.length} (${programs.totalExecs})`,
    `${samples.length}/${attempted}`,
  ];
}

interface Slot {
  first: Sample[];
  repeat: Sample[];
  floors: number[];
  programs: ProgramCount | undefined;
  failures: string[];
}

export async function runE2eEnableBench(options: E2eOptions): Promise<Table[]> {
  const title = `(c) full enable in the end-to-end sandbox: ${options.runs} fresh sandboxes per request (and as many for its floor)`;
  const unavailable = await sandboxUnavailableReason();
  if (unavailable !== undefined) {
    return [{ title, headers: E2E_HEADERS, rows: SCENARIOS.map((scenario) => [scenario.label, ...E2E_HEADERS.slice(1).map(() => 'n/a')]), notes: [`Not measured: the sandbox is unavailable here (${unavailable}).`] }];
  }
  const pkg = options.pkg ?? (await currentHandlerPackage());
  const started = Date.now();
  const results: Slot[] = SCENARIOS.map(() => ({ first: [], repeat: [], floors: [], programs: undefined, failures: [] }));
  const overheadMs: number[] = [];
  const attempt = async (slot: Slot, what: () => Promise<void>): Promise<void> => {
    try {
      await what();
    } catch (error) {
      slot.failures.push((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '');
    }
  };
  for (const [index, scenario] of SCENARIOS.entries()) {
    const slot = results[index]!;
    await attempt(slot, async () => {
      slot.programs = await countOnce(scenario, pkg);
    });
  }
  // Scenarios and floors interleaved, so load from other processes spreads over all of them.
  for (let round = 0; round < options.runs; round += 1) {
    for (const [index, scenario] of SCENARIOS.entries()) {
      const slot = results[index]!;
      await attempt(slot, async () => {
        const run = await runScenarioOnce(scenario, pkg, overheadMs);
        slot.first.push(run.first);
        slot.repeat.push(run.repeat);
      });
      await attempt(slot, async () => {
        slot.floors.push(await runFloorOnce(scenario, pkg));
      });
    }
  }
  const rows = SCENARIOS.flatMap((scenario, index) => {
    const slot = results[index]!;
    return [row(scenario.label, slot.first, slot.floors, slot.programs, options.runs), row(`${scenario.label}, repeated (same seq)`, slot.repeat, [], undefined, options.runs)];
  });
  const all = results.flatMap((slot) => [...slot.first, ...slot.repeat]);
  const firstMax = Math.max(0, ...results.flatMap((slot) => slot.first.map((sample) => sample.sshdStarts)));
  const repeatMax = Math.max(0, ...results.flatMap((slot) => slot.repeat.map((sample) => sample.sshdStarts)));
  const notes = [
    `Package: ${pkg.kind} ${pkg.path}. Each run: fresh sandbox (Debian ${SANDBOX_SUITE}, sshd from its SysV script), agent writes ${SEQ}.settings (protected settings CMS-encrypted), runs install, then the measured enable, then enable again for the same seq with the same settings file.`,
    `Wall = the agent's whole command (/bin/sh -c wrapper, handlers/enable, node) timed from this process, including entering the sandbox: ${ms(median(overheadMs))} ms median for /bin/sh -c true. The floor is timed the same way around \`/bin/sh -c 'sh bench/floor/<request>.sh'\` in its own fresh sandbox.`,
    all.some((sample) => sample.peakKib !== undefined)
      ? 'Peak RSS: GNU time %M over the agent command (wait4 rusage of the tree: the largest single process, in practice node; sshd processes started by the handler are daemons reparented to the sandbox init and not included).'
      : `Peak RSS not measured: ${HOST_TIME} is missing on this machine or does not run inside the sandbox.`,
    `sshd touches: "Server listening" lines sshd logged during the command (one per start, restart or SIGHUP), the distinct counts over the runs; new pid = restart. Target at most 1 for a change: max ${firstMax} (${firstMax <= 1 ? 'met' : 'NOT met'}); 0 for the repeated enable: max ${repeatMax} (${repeatMax === 0 ? 'met' : 'NOT met'}).`,
    'Programs: strace -f over one extra, untimed enable per request; "by handler" = processes node started (system.run), "all execs" = every execve in the tree (shim, node, init scripts and what they run).',
    ...SCENARIOS.map((scenario, index) => `Programs, ${scenario.label}: ${results[index]!.programs?.byHandler.join(', ') ?? 'not counted (strace unavailable)'}.`),
    ...SCENARIOS.map((scenario, index) => `Handler log, ${scenario.label} (median of ${results[index]!.first.length} runs): ${phaseSummary(results[index]!.first.map((sample) => sample.phases), results[index]!.first.map((sample) => sample.wallMs))}.`),
    `Section time ${((Date.now() - started) / 1000).toFixed(1)} s.`,
  ];
  results.forEach((slot, index) => {
    for (const failure of slot.failures) notes.push(`FAILED run (${SCENARIOS[index]!.label}): ${failure}`);
  });
  return [{ title, headers: E2E_HEADERS, rows, notes }, verifyTable(SCENARIOS.map((scenario) => scenario.label), results.map((slot) => slot.first))];
}
