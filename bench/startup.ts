import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { handlerEnvironmentText } from '../test/helpers/agent-files.js';
import { formatTable, median, mib, minimum, ms, type Table } from './table.js';

/**
 * Cold start of the packaged handler, the way the guest agent starts it: a fresh
 * process per command, cwd = the handler directory, through the manifest command
 * (handlers/run <op>). Compared with `node -e 0` of the same bundled runtime.
 */

export interface StartupOptions {
  /** An unpacked package laid out as the agent lays it out (lib/<Name>-<version>/). */
  handlerDir: string;
  arch: 'x64' | 'arm64';
  runs: number;
  memoryRuns: number;
}

interface Variant {
  label: string;
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

const TIME = '/usr/bin/time';
const AGENT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function runOnce(variant: Variant): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(variant.file, variant.args, { cwd: variant.cwd, env: variant.env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`${variant.label} exited ${result.status ?? result.signal}: ${result.stderr.toString().slice(0, 400)}`);
  return elapsed;
}

/** Peak resident set size (KiB) of one run, from wait4() as reported by GNU time. */
function peakRssKib(variant: Variant, scratch: string): number | undefined {
  if (!existsSync(TIME)) return undefined;
  const output = path.join(scratch, 'time.out');
  const result = spawnSync(TIME, ['-f', '%M', '-o', output, variant.file, ...variant.args], { cwd: variant.cwd, env: variant.env, stdio: 'ignore' });
  if (result.status !== 0) return undefined;
  return Number(readFileSync(output, 'utf8').trim().split('\n').pop());
}

/**
 * CPU time (user + system, ms) used by this process's waited-for children so far,
 * from /proc/self/stat (cutime, cstime). Wall time on a loaded machine mostly
 * measures the other processes; CPU time measures the command. The kernel keeps these
 * counters in nanoseconds and only rounds them to clock ticks when read, so the
 * difference over a batch of runs is exact to one tick.
 */
function childrenCpuMs(ticksPerSecond: number): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state) of proc(5): cutime is field 16, cstime field 17.
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticksPerSecond;
}

function clockTicks(): number {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number(result.stdout.trim());
  return Number.isInteger(value) && value > 0 ? value : 100;
}

/** HandlerEnvironment.json and an empty 0.settings, as the agent writes them for an extension without settings. */
export function layOutHandlerDir(handlerDir: string, logRoot: string): void {
  const name = path.basename(handlerDir).replace(/-\d+(\.\d+)*$/, '');
  const logFolder = path.join(logRoot, name);
  for (const dir of ['config', 'status']) mkdirSync(path.join(handlerDir, dir), { recursive: true, mode: 0o700 });
  mkdirSync(path.join(logFolder, 'events'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(handlerDir, 'HandlerEnvironment.json'), handlerEnvironmentText(handlerDir, logFolder, name));
  writeFileSync(path.join(handlerDir, 'config', '0.settings'), '');
}

function agentEnv(handlerDir: string): NodeJS.ProcessEnv {
  // The variables the agent sets (contract §3.3); no NODE_* from this shell.
  return {
    PATH: AGENT_PATH,
    ConfigSequenceNumber: '0',
    AZURE_GUEST_AGENT_EXTENSION_PATH: handlerDir,
    AZURE_GUEST_AGENT_EXTENSION_VERSION: path.basename(handlerDir).split('-').pop(),
  };
}

/**
 * Make `enable` a no-op: run it once so seq 0 is recorded as applied. Returns why it
 * cannot serve as the measured command, or undefined when it can.
 */
function primeEnable(handlerDir: string): string | undefined {
  const result = spawnSync(path.join(handlerDir, 'handlers', 'run'), ['enable'], { cwd: handlerDir, env: agentEnv(handlerDir), encoding: 'utf8' });
  if (result.status !== 0) return `enable exited ${result.status}: ${(result.stderr || result.stdout).trim().slice(0, 200)}`;
  if (!existsSync(path.join(handlerDir, 'status', '0.status'))) return 'enable wrote no status/0.status';
  const again = spawnSync(path.join(handlerDir, 'handlers', 'run'), ['enable'], { cwd: handlerDir, env: agentEnv(handlerDir), encoding: 'utf8' });
  if (again.status !== 0) return `the repeated enable exited ${again.status}`;
  return undefined;
}

/** How the package starts its node: through its own loader when it ships one (handlers/run), else directly. */
export function bundledNodeCommand(handlerDir: string, arch: 'x64' | 'arm64'): { loader: string | undefined; start: (args: string[]) => { file: string; args: string[] } } {
  const node = path.join(handlerDir, 'runtime', arch, 'bin', 'node');
  const lib = path.join(handlerDir, 'runtime', arch, 'lib');
  const loader = existsSync(lib) ? readdirSync(lib).find((name) => name.startsWith('ld-linux-')) : undefined;
  return {
    loader,
    start: (args) => (loader === undefined ? { file: node, args } : { file: path.join(lib, loader), args: ['--library-path', lib, node, ...args] }),
  };
}

export function runStartupBench(options: StartupOptions): Table {
  const { handlerDir, arch } = options;
  const loadAverage = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  const node = path.join(handlerDir, 'runtime', arch, 'bin', 'node');
  const cacheDir = path.join(handlerDir, '.cache', 'node-compile');
  const logRoot = path.join(path.dirname(path.dirname(handlerDir)), 'log');
  layOutHandlerDir(handlerDir, logRoot);

  // The first command the agent runs is install; it also fills the compile cache.
  const install = spawnSync(path.join(handlerDir, 'handlers', 'run'), ['install'], { cwd: handlerDir, env: agentEnv(handlerDir), encoding: 'utf8' });
  const installNote = install.status === 0 ? 'install exited 0' : `install exited ${install.status} (${install.stdout.trim().slice(0, 120)})`;
  const enableProblem = primeEnable(handlerDir);
  const env = agentEnv(handlerDir);

  const measured: Variant = enableProblem === undefined
    ? { label: 'handlers/run enable, seq already applied (no-op)', file: path.join(handlerDir, 'handlers', 'run'), args: ['enable'], cwd: handlerDir, env }
    : { label: 'STAND-IN handlers/run --version (enable not usable)', file: path.join(handlerDir, 'handlers', 'run'), args: ['--version'], cwd: handlerDir, env };
  // The package starts node through its own loader (handlers/run); the baseline starts it the same way.
  const { loader, start } = bundledNodeCommand(handlerDir, arch);
  const variants: Variant[] = [
    { label: `node -e 0 (bundled runtime${loader === undefined ? '' : ', bundled loader'}, baseline)`, ...start(['-e', '0']), cwd: handlerDir, env },
    measured,
    { label: 'handlers/run --version', file: path.join(handlerDir, 'handlers', 'run'), args: ['--version'], cwd: handlerDir, env },
    {
      label: 'node dist/app/vmaccess.mjs --version (no shim)',
      ...start([path.join(handlerDir, 'dist', 'app', 'vmaccess.mjs'), '--version']),
      cwd: handlerDir,
      env: { ...env, NODE_COMPILE_CACHE: cacheDir },
    },
    {
      label: 'node dist/app/vmaccess.mjs --version (no shim, no compile cache)',
      ...start([path.join(handlerDir, 'dist', 'app', 'vmaccess.mjs'), '--version']),
      cwd: handlerDir,
      env,
    },
    // What the loader costs: the same binary on this machine's glibc (only where that glibc suffices).
    ...(loader === undefined ? [] : [{ label: "node -e 0 (this machine's glibc, no bundled loader)", file: node, args: ['-e', '0'], cwd: handlerDir, env }]),
  ];

  // Warm the page cache and the compile cache, then interleave the variants so that
  // load from other processes on the machine spreads evenly over all of them.
  for (const variant of variants) runOnce(variant);
  const times = variants.map(() => [] as number[]);
  for (let round = 0; round < options.runs; round += 1) {
    variants.forEach((variant, index) => times[index]!.push(runOnce(variant)));
  }
  const ticks = clockTicks();
  const cpu = variants.map((variant) => {
    const before = childrenCpuMs(ticks);
    for (let round = 0; round < options.runs; round += 1) runOnce(variant);
    return (childrenCpuMs(ticks) - before) / options.runs;
  });
  const scratch = path.join(handlerDir, '..', '.bench-scratch');
  mkdirSync(scratch, { recursive: true });
  const memory = variants.map((variant) => {
    const samples: number[] = [];
    for (let round = 0; round < options.memoryRuns; round += 1) {
      const kib = peakRssKib(variant, scratch);
      if (kib !== undefined) samples.push(kib);
    }
    return samples.length === 0 ? undefined : median(samples);
  });
  rmSync(scratch, { recursive: true, force: true });

  const baseTime = median(times[0]!);
  const baseMemory = memory[0];
  const rows = variants.map((variant, index) => {
    const wall = median(times[index]!);
    const rss = memory[index];
    return [
      variant.label,
      ms(wall),
      ms(minimum(times[index]!)),
      `${(wall / baseTime).toFixed(2)}x`,
      ms(cpu[index]!),
      `${(cpu[index]! / cpu[0]!).toFixed(2)}x`,
      mib(rss),
      rss !== undefined && baseMemory !== undefined ? `${(rss / baseMemory).toFixed(2)}x` : 'n/a',
    ];
  });
  const ratio = median(times[1]!) / baseTime;
  const cpuRatio = cpu[1]! / cpu[0]!;
  const memoryRatio = memory[1] !== undefined && baseMemory !== undefined ? memory[1] / baseMemory : undefined;
  return {
    title: `(a) cold start, ${arch}: median of ${options.runs} interleaved runs (wall), ${options.memoryRuns} runs (peak RSS)`,
    headers: ['command', 'wall ms (median)', 'wall ms (min)', 'vs node -e 0', 'CPU ms (mean)', 'vs node -e 0', 'peak RSS MiB', 'vs node -e 0'],
    rows,
    notes: [
      enableProblem === undefined
        ? `Measured command: the real enable of the package on seq 0 (empty 0.settings), already applied. ${installNote}.`
        : `enable could not be used (${enableProblem}); the measured row is a stand-in: vmaccess --version through the shim.`,
      `Target: within 1.5x of node -e 0. Wall time ${ratio.toFixed(2)}x: ${ratio <= 1.5 ? 'met' : 'NOT met'}; CPU time ${cpuRatio.toFixed(2)}x: ${cpuRatio <= 1.5 ? 'met' : 'NOT met'}; peak memory ${memoryRatio === undefined ? 'n/a' : `${memoryRatio.toFixed(2)}x: ${memoryRatio <= 1.5 ? 'met' : 'NOT met'}`}.`,
      `CPU = user + system time of the command and its children, mean of ${options.runs} runs in a batch (/proc/self/stat cutime + cstime); load average at the start: ${loadAverage}.`,
      existsSync(TIME) ? 'Peak RSS from GNU time (%M, wait4 rusage).' : `Peak RSS not measured: ${TIME} is missing (Debian package "time").`,
    ],
  };
}

export function startupTableText(options: StartupOptions): string {
  return formatTable(runStartupBench(options));
}
