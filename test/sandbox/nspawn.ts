import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { sandboxCacheDir } from './rootfs.js';

/**
 * Booting a sandbox root with systemd as pid 1 (systemd-nspawn --boot).
 *
 * systemd-nspawn is never installed on this machine (the package upgrades its systemd
 * and adds an NSS module to /etc/nsswitch.conf): `apt-get download` + `dpkg-deb -x`
 * put it and its private library into the cache, and only that one program runs with
 * LD_LIBRARY_PATH pointing there.
 */

const sandboxDir = path.dirname(fileURLToPath(import.meta.url));
const FETCH_TIMEOUT_MS = 300_000;
const BOOT_TIMEOUT_MS = 60_000;

/**
 * Until systemd answers on its private socket, systemctl says `offline` (or nothing)
 * at once; then `is-system-running --wait` blocks until start-up is over. Prints the
 * final state; the caller's `timeout` bounds the loop.
 */
const WAIT_RUNNING = [
  'while :; do',
  '  state=$(systemctl is-system-running --wait 2>/dev/null)',
  '  case $state in running|degraded|maintenance|stopping) echo "$state"; exit 0 ;; *) sleep 0.1 ;; esac',
  'done',
].join('\n');

export interface NspawnProgram {
  binary: string;
  libraryDir: string;
}

/** systemd-nspawn unpacked into `<cache>/nspawn/root`, fetched once (under a lock). */
export async function ensureNspawn(): Promise<NspawnProgram> {
  const base = path.join(sandboxCacheDir(), 'nspawn');
  const found = findNspawn(path.join(base, 'root'));
  if (found !== undefined) return found;
  await fs.mkdir(base, { recursive: true });
  const script = [
    'set -e',
    'cd "$1"',
    '[ -x root/usr/bin/systemd-nspawn ] && exit 0',
    'rm -rf debs && mkdir debs && cd debs',
    // Both from the same archive state, so the program and its library match.
    'apt-get download -qq systemd-container libsystemd-shared 2>/dev/null || { apt-get update -qq && apt-get download -qq systemd-container libsystemd-shared; }',
    'cd .. && rm -rf root.tmp && for deb in debs/*.deb; do dpkg-deb -x "$deb" root.tmp; done && mv -T root.tmp root',
  ].join('\n');
  const result = await execa('flock', ['-w', '600', path.join(base, '.lock'), 'sh', '-c', script, 'fetch', base], {
    reject: false,
    timeout: FETCH_TIMEOUT_MS,
    all: true,
  });
  const fetched = findNspawn(path.join(base, 'root'));
  if (result.exitCode !== 0 || fetched === undefined) {
    throw new Error(`fetching systemd-nspawn (apt-get download systemd-container libsystemd-shared) failed: ${String(result.all ?? '').slice(-2000)}`);
  }
  return fetched;
}

function findNspawn(root: string): NspawnProgram | undefined {
  const binary = path.join(root, 'usr/bin/systemd-nspawn');
  if (!existsSync(binary)) return undefined;
  const libRoot = path.join(root, 'usr/lib');
  for (const triplet of existsSync(libRoot) ? readdirSync(libRoot) : []) {
    const libraryDir = path.join(libRoot, triplet, 'systemd');
    if (existsSync(libraryDir) && readdirSync(libraryDir).some((name) => name.startsWith('libsystemd-shared'))) return { binary, libraryDir };
  }
  return undefined;
}

export interface BootedContainer {
  /** The launcher (unshare, then nspawn itself): its mount namespace holds the overlay. */
  launcherPid: number;
  /** Host pid of the container's systemd (pid 1 inside). */
  initPid: number;
  /** Name of the cgroup created for nspawn in each hierarchy. */
  cgroup: string;
  /** nspawn's and the container console's output. */
  consoleLog: string;
}

function nsPid(pid: number): string[] {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('NSpid:'));
    return (line ?? '').split(/\s+/).slice(1);
  } catch {
    return [];
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The container's init: the child of nspawn that is pid 1 of its own pid namespace and
 * already runs systemd (before the exec it is nspawn's own set-up code, which must not
 * be disturbed by joining its namespaces).
 */
export function findContainerInit(nspawnPid: number): number | undefined {
  for (const child of childrenOf(nspawnPid)) {
    const ids = nsPid(child);
    if (ids.length < 2 || ids.at(-1) !== '1') continue;
    const comm = readFileSync(`/proc/${child}/comm`, 'utf8').trim();
    if (comm === 'systemd') return child;
  }
  return undefined;
}

function cgroupDirs(name: string): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.procs')) return [path.join('/sys/fs/cgroup', name)];
  return ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'].filter((hierarchy) => existsSync(hierarchy)).map((hierarchy) => path.join(hierarchy, name));
}

/** Removes the (empty) cgroup trees nspawn and the container's systemd left, deepest first. */
export function removeCgroups(name: string): string[] {
  const problems: string[] = [];
  const remove = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) remove(path.join(dir, entry.name));
    try {
      rmdirSync(dir);
    } catch (error) {
      problems.push(`rmdir ${dir}: ${(error as Error).message}`);
    }
  };
  for (const dir of cgroupDirs(name)) remove(dir);
  return problems;
}

/**
 * Boots `lower` under a fresh overlay (upper/work/merged in tempDir) with systemd-nspawn
 * and waits until the container's systemd reports the system running. Throws with the
 * console output when it does not boot in time.
 */
export interface BootOptions {
  /** Accept a system that booted with failed units (a reboot: the test judges them). */
  allowDegraded?: boolean;
  /** Host paths bind-mounted read-only before the container's systemd starts: [host, inside]. */
  bindsRo?: readonly (readonly [string, string])[];
}

export async function bootContainer(lower: string, tempDir: string, name: string, options: BootOptions = {}): Promise<BootedContainer> {
  const program = await ensureNspawn();
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((dir) => path.join(tempDir, dir)) as [string, string, string];
  const consoleLog = path.join(tempDir, 'console.log');
  const launcher = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', '--', '/bin/sh', path.join(sandboxDir, 'nspawn-boot.sh'), lower, upper, work, merged, name, program.binary, program.libraryDir, consoleLog, ...bindArgs(options.bindsRo ?? [])],
    // Own session, so a kept sandbox outlives the test process.
    { stdio: 'ignore', detached: true },
  );
  launcher.unref();
  const launcherPid = launcher.pid;
  if (launcherPid === undefined) throw new Error('could not start unshare for systemd-nspawn');
  const console = async (): Promise<string> => (await fs.readFile(consoleLog, 'utf8').catch(() => '')).slice(-3000);
  const deadline = Date.now() + BOOT_TIMEOUT_MS;
  let initPid: number | undefined;
  while (initPid === undefined && Date.now() < deadline) {
    initPid = findContainerInit(launcherPid);
    if (initPid === undefined) {
      if (!existsSync(`/proc/${launcherPid}`)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const container = { launcherPid, initPid: initPid ?? 0, cgroup: name, consoleLog };
  if (initPid === undefined) {
    await stopContainer(container);
    throw new Error(`systemd-nspawn did not start a container: ${await console()}`);
  }
  // The wait runs inside with its own deadline: killing nsenter from here would leave
  // its child behind in the container.
  const waitSeconds = Math.max(1, Math.round((deadline - Date.now()) / 1000));
  const state = await execa(
    'nsenter',
    ['--target', String(initPid), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--root', '--wd', '--', '/usr/bin/timeout', `${waitSeconds}s`, '/bin/sh', '-c', WAIT_RUNNING],
    { reject: false, extendEnv: false, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, timeout: (waitSeconds + 15) * 1000, stdin: 'ignore' },
  );
  // A reboot may bring units the test itself judges (failed ones included).
  if (state.stdout.trim() !== 'running' && !(options.allowDegraded === true && state.stdout.trim() === 'degraded')) {
    const failed = await execa('nsenter', ['--target', String(initPid), '--mount', '--pid', '--root', '--', 'systemctl', '--failed', '--no-legend'], { reject: false, timeout: 15_000 });
    await stopContainer(container);
    throw new Error(`the container's systemd is ${state.stdout.trim() || 'not answering'} (failed units: ${failed.stdout.trim() || 'none'}): ${await console()}`);
  }
  return container;
}

function bindArgs(binds: readonly (readonly [string, string])[]): string[] {
  return binds.map(([host, inside]) => {
    // nspawn separates the two paths with ':'.
    if (host.includes(':') || inside.includes(':')) throw new Error(`cannot lend ${host} at ${inside} across a boot: ':' in a path`);
    return `--bind-ro=${host}:${inside}`;
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills the container (SIGKILL to its pid 1 takes the whole pid namespace with it),
 * waits for nspawn and the launcher to exit (their mount namespace, with the overlay
 * and the private /run, goes with them) and removes the cgroups. Returns problems.
 */
export async function stopContainer(container: BootedContainer, timeoutMs = 15_000): Promise<string[]> {
  const problems: string[] = [];
  for (const pid of [container.initPid, container.launcherPid]) {
    if (pid > 0 && isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + timeoutMs;
    while (pid > 0 && isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (pid > 0 && isAlive(pid)) problems.push(`process ${pid} did not exit`);
  }
  problems.push(...removeCgroups(container.cgroup));
  return problems;
}
