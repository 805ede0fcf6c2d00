import { existsSync, readFileSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bootContainer, removeCgroups, stopContainer, type BootedContainer } from './nspawn.js';
import { provision } from './provision.js';
import { launchWithoutInit } from './unshare-launch.js';
import { ensureRootfs, SANDBOX_SUITE } from './rootfs.js';
import type { ExecOptions, ExecResult, GeneratedKey, Sandbox, SandboxAdmin, SandboxOptions, SshAuth } from './sandbox-api.js';

/** PATH inside the sandbox: the usual one of a Debian root shell. No node on it. */
export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_ADMIN_USER = 'azureadmin';
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const DESTROY_STEP_TIMEOUT_MS = 15_000;

const sandboxDir = path.dirname(fileURLToPath(import.meta.url));

export type { ExecOptions, ExecResult, GeneratedKey, Sandbox, SandboxAdmin, SandboxInit, SandboxOptions, SshAuth } from './sandbox-api.js';

function assertInsidePath(pathInside: string): void {
  if (!pathInside.startsWith('/') || pathInside.includes('\0')) throw new Error(`sandbox path must be absolute: ${pathInside}`);
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Device numbers (major:minor) of every mount in a mount table. */
function mountDevices(mountinfo: string): Set<string> {
  const devices = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const device = line.split(' ')[2];
    if (device !== undefined && device !== '') devices.add(device);
  }
  return devices;
}

/**
 * Starts a fresh sandbox: overlay over the cached Debian root, own namespaces (or a
 * container booted with systemd), sshd running, an admin user provisioned like an Azure
 * image. Always destroy() it.
 */
export async function createSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const suite = options.suite ?? SANDBOX_SUITE;
  const init = options.init ?? 'sysv';
  const lower = await ensureRootfs(suite);
  const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmaccess-sandbox-'));
  const upper = path.join(tempDir, 'upper');
  const work = path.join(tempDir, 'work');
  const merged = path.join(tempDir, 'merged');
  await Promise.all([fs.mkdir(upper), fs.mkdir(work), fs.mkdir(merged)]);

  let container: BootedContainer | undefined;
  let launched: { launcherPid: number; initPid: number };
  try {
    if (init === 'systemd') {
      container = await bootContainer(lower, tempDir, path.basename(tempDir));
      launched = container;
    } else {
      launched = await launchWithoutInit(lower, upper, work, merged);
    }
  } catch (error) {
    await fs.rm(tempDir, { recursive: true, force: true });
    throw error;
  }
  // Both change when a booted container reboots.
  let { launcherPid, initPid } = launched;

  const hostMountDevices = mountDevices(readFileSync('/proc/self/mountinfo', 'utf8'));
  // Safety net for a test that forgets destroy() or a worker that exits early: kill the
  // sandbox's processes and drop its files when this process exits (unless kept).
  const onExit = (): void => {
    if (process.env['VMACCESS_SANDBOX_KEEP'] === '1') return;
    for (const pid of container === undefined ? [initPid] : [initPid, launcherPid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (container !== undefined) removeCgroups(container.cgroup);
    rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let destroyed = false;
  let lent = 0;
  /** What bindHostPath lent (inside -> host), lent again at the next boot. */
  const lentPaths = new Map<string, string>();

  const nsenterArgs = (): string[] => ['--target', String(initPid), '--mount', '--uts', '--ipc', '--net', '--pid', ...(init === 'systemd' ? ['--cgroup'] : []), '--root', '--wd'];

  const exec = async (argv: readonly string[], execOptions: ExecOptions = {}): Promise<ExecResult> => {
    if (destroyed) throw new Error('sandbox already destroyed');
    const timeoutMs = execOptions.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    // The time limit is enforced inside (timeout kills the program in the sandbox's
    // pid namespace) and, as a backstop, outside on nsenter itself.
    const inner = ['/usr/bin/env', '-C', execOptions.cwd ?? '/', '/usr/bin/timeout', '-s', 'KILL', `${timeoutMs / 1000}s`, ...argv];
    const env = execOptions.bareEnv === true ? { ...execOptions.env } : { PATH: SANDBOX_PATH, HOME: '/root', LC_ALL: 'C', TERM: 'dumb', ...execOptions.env };
    const result = await execa('/usr/bin/nsenter', [...nsenterArgs(), '--', ...inner], {
      reject: false,
      extendEnv: false,
      env,
      timeout: timeoutMs + 10_000,
      killSignal: 'SIGKILL',
      stripFinalNewline: false,
      ...(execOptions.input === undefined ? { stdin: 'ignore' as const } : { input: execOptions.input }),
    });
    return {
      exitCode: result.exitCode ?? 137,
      stdout: result.stdout,
      stderr: result.stderr,
      timedOut: result.timedOut || result.exitCode === 137,
    };
  };

  const execOk = async (argv: readonly string[], execOptions: ExecOptions = {}): Promise<ExecResult> => {
    const result = await exec(argv, execOptions);
    if (result.exitCode !== 0) {
      throw new Error(`in sandbox: ${argv.join(' ')} exited ${result.exitCode}\nstdout: ${result.stdout.slice(-2000)}\nstderr: ${result.stderr.slice(-2000)}`);
    }
    return result;
  };

  const sh = (script: string, execOptions: ExecOptions = {}): Promise<ExecResult> => exec(['bash', '-c', script], execOptions);

  const readFile = async (pathInside: string): Promise<Buffer | undefined> => {
    assertInsidePath(pathInside);
    if (destroyed) throw new Error('sandbox already destroyed');
    // cat runs inside, so every symlink resolves against the sandbox's root, never the host's.
    const result = await execa('nsenter', [...nsenterArgs(), '--', 'sh', '-c', 'test -f "$1" || exit 3; exec cat -- "$1"', 'read', pathInside], {
      reject: false,
      extendEnv: false,
      env: { PATH: SANDBOX_PATH, LC_ALL: 'C' },
      encoding: 'buffer',
      stripFinalNewline: false,
      timeout: DEFAULT_EXEC_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      stdin: 'ignore',
    });
    if (result.exitCode === 3) return undefined;
    if (result.exitCode !== 0) throw new Error(`reading ${pathInside} in the sandbox failed: ${Buffer.from(result.stderr).toString()}`);
    return Buffer.from(result.stdout);
  };

  const writeFile = async (pathInside: string, data: string | Uint8Array, mode = 0o644): Promise<void> => {
    assertInsidePath(pathInside);
    await execOk(['sh', '-c', 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"', 'write', pathInside, mode.toString(8)], {
      input: data,
    });
  };

  const exists = async (pathInside: string): Promise<boolean> => {
    assertInsidePath(pathInside);
    const result = await exec(['sh', '-c', 'test -e "$1" || test -L "$1"', 'exists', pathInside]);
    return result.exitCode === 0;
  };

  const generateKey = async (name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): Promise<GeneratedKey> => {
    if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`key name must be a plain word: ${name}`);
    const privateKeyPath = `/root/e2e-keys/${name}`;
    await execOk(['mkdir', '-p', '-m', '0700', '/root/e2e-keys']);
    await execOk(['rm', '-f', privateKeyPath, `${privateKeyPath}.pub`]);
    const bits = type === 'rsa' ? ['-b', '3072'] : [];
    await execOk(['ssh-keygen', '-q', '-t', type, ...bits, '-N', '', '-C', `${name}@e2e`, '-f', privateKeyPath]);
    const publicKey = ((await readFile(`${privateKeyPath}.pub`)) ?? Buffer.alloc(0)).toString().trim();
    return { privateKeyPath, publicKey };
  };

  const ssh = async (user: string, auth: SshAuth, command: string, sshOptions: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> => {
    const common = [
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'LogLevel=ERROR',
      '-o', 'ConnectTimeout=10',
      '-o', 'NumberOfPasswordPrompts=1',
      '-p', '22',
      '-l', user,
    ];
    const timeoutMs = sshOptions.timeoutMs ?? 30_000;
    if (auth.password !== undefined) {
      return exec(
        ['sshpass', '-e', 'ssh', ...common, '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', '127.0.0.1', command],
        { env: { SSHPASS: auth.password }, timeoutMs, ...(sshOptions.input === undefined ? {} : { input: sshOptions.input }) },
      );
    }
    if (auth.identityFile === undefined) throw new Error('ssh needs identityFile or password');
    return exec(
      ['ssh', ...common, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey', '-i', auth.identityFile, '127.0.0.1', command],
      { timeoutMs, ...(sshOptions.input === undefined ? {} : { input: sshOptions.input }) },
    );
  };

  const bannerAnswers = async (): Promise<boolean> => {
    const result = await exec(['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/22 && head -c 4 <&3'], { timeoutMs: 5_000 });
    return result.exitCode === 0 && result.stdout.startsWith('SSH-');
  };

  const sshdPid = async (): Promise<number | undefined> => {
    // The listener is the sshd whose parent is not another sshd (connection children are).
    const result = await exec(['sh', '-c', 'for p in $(pgrep -x sshd); do pp=$(ps -o ppid= -p "$p" | tr -d " "); [ "$(ps -o comm= -p "$pp")" = sshd ] || echo "$p"; done']);
    const pid = Number(result.stdout.trim().split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };

  // Under systemd only sshd can answer on port 22 (and with an Accept=yes socket, the
  // per-connection sshd is gone again once the probe hangs up).
  const sshdRunning = async (): Promise<boolean> => (await bannerAnswers()) && (init === 'systemd' || (await exec(['pgrep', '-x', 'sshd'])).exitCode === 0);

  // Under systemd: ssh.socket when it is enabled (socket activation), else ssh.service.
  const sshdStartCommand = async (): Promise<string[]> => {
    if (init === 'sysv') return ['/etc/init.d/ssh', 'start'];
    const socket = await exec(['systemctl', 'is-enabled', '--quiet', 'ssh.socket']);
    return ['systemctl', 'start', socket.exitCode === 0 ? 'ssh.socket' : 'ssh.service'];
  };

  const startSshd = async (): Promise<void> => {
    const result = await exec(await sshdStartCommand(), { timeoutMs: 30_000 });
    if (!(await waitFor(bannerAnswers, 10_000, 100))) {
      const status = init === 'systemd' ? (await exec(['systemctl', 'status', '--no-pager', 'ssh.service', 'ssh.socket'])).stdout : '';
      throw new Error(`sshd did not come up: ${result.stdout}${result.stderr}${status}${(await readText('/var/log/sshd.log')) ?? ''}`);
    }
  };

  const stopSshd = async (): Promise<void> => {
    await exec(init === 'sysv' ? ['/etc/init.d/ssh', 'stop'] : ['systemctl', 'stop', 'ssh.socket', 'ssh.service'], { timeoutMs: 30_000 });
    await exec(['pkill', '-x', 'sshd']);
    await waitFor(async () => (await exec(['pgrep', '-x', 'sshd'])).exitCode !== 0, 10_000, 100);
  };

  const sshdListenCount = async (): Promise<number> => {
    const log = (await readText('/var/log/sshd.log')) ?? '';
    return log.split('\n').filter((line) => /Server listening on 0\.0\.0\.0 port 22/.test(line)).length;
  };

  const readText = async (pathInside: string): Promise<string | undefined> => (await readFile(pathInside))?.toString('utf8');

  const bindHostPath = async (hostPath: string, pathInside: string): Promise<void> => {
    assertInsidePath(pathInside);
    const isDirectory = (await fs.stat(hostPath)).isDirectory();
    await execOk(['sh', '-c', isDirectory ? 'mkdir -p -- "$1"' : 'mkdir -p -- "$(dirname -- "$1")" && touch -- "$1"', 'bind', pathInside]);
    // Mount from a namespace with the host's root, where the merged tree is visible at
    // its host path and the host path is visible too: the sandbox's own (no init), or
    // nspawn's, from where the mount propagates into the container.
    const target = path.join(merged, pathInside);
    const mountNamespaceOf = container === undefined ? initPid : launcherPid;
    // A remount does not propagate to the container's copy: there, make the read-only
    // mount first (in a staging dir) and bind that, which stays read-only.
    const stage = path.join(tempDir, `lend-${lent++}`);
    if (container !== undefined) await (isDirectory ? fs.mkdir(stage) : fs.writeFile(stage, ''));
    const steps =
      container === undefined
        ? [['--bind', hostPath, target], ['-o', 'remount,bind,ro', target]]
        : [['--bind', hostPath, stage], ['-o', 'remount,bind,ro', stage], ['--bind', stage, target]];
    for (const args of steps) {
      const result = await execa('nsenter', ['--target', String(mountNamespaceOf), '--mount', '--', 'mount', ...args], { reject: false, timeout: DESTROY_STEP_TIMEOUT_MS });
      if (result.exitCode !== 0) throw new Error(`bind-mounting ${hostPath} at ${pathInside} failed: ${result.stderr}`);
    }
    lentPaths.set(pathInside, hostPath);
  };

  const unbind = async (pathInside: string): Promise<void> => {
    assertInsidePath(pathInside);
    await execOk(['umount', pathInside]);
    lentPaths.delete(pathInside);
  };

  const destroy = async (destroyOptions: { keep?: boolean } = {}): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    process.removeListener('exit', onExit);
    if (destroyOptions.keep === true || process.env['VMACCESS_SANDBOX_KEEP'] === '1') {
      process.stderr.write(
        [
          `sandbox kept: root /proc/${initPid}/root (overlay upper dir ${upper})`,
          `  shell inside:  nsenter --target ${initPid} ${nsenterArgs().slice(2).join(' ')} /bin/bash`,
          `  remove it:     sh ${path.join(sandboxDir, 'remove-kept.sh')} ${initPid} ${tempDir}`,
          '',
        ].join('\n'),
      );
      return;
    }
    const problems: string[] = [];
    try {
      if (isAlive(initPid)) {
        // Loop devices are global: detach the ones whose backing file lives on one of
        // the sandbox's own mounts (devices the host does not have), after unmounting
        // whatever the sandbox mounted from them.
        const sandboxMountinfo = readFileSync(`/proc/${initPid}/mountinfo`, 'utf8');
        const sandboxDevices = [...mountDevices(sandboxMountinfo)].filter((device) => !hostMountDevices.has(device));
        const loopMounts = sandboxMountinfo
          .split('\n')
          .map((line) => line.split(' '))
          .filter((fields) => {
            const separator = fields.indexOf('-');
            return separator > 0 && (fields[separator + 2] ?? '').startsWith('/dev/loop');
          })
          .map((fields) => fields[4] ?? '')
          .reverse();
        for (const mountPoint of loopMounts) {
          await execa('nsenter', ['--target', String(initPid), '--mount', '--', 'umount', '-l', path.join(merged, mountPoint)], { reject: false, timeout: DESTROY_STEP_TIMEOUT_MS });
        }
        const loops = await execa('losetup', ['--list', '--json', '--output', 'NAME,BACK-MAJ:MIN'], { reject: false, timeout: DESTROY_STEP_TIMEOUT_MS });
        const devices = loops.stdout.trim() === '' ? [] : (JSON.parse(loops.stdout) as { loopdevices?: Record<string, string | null>[] }).loopdevices ?? [];
        for (const device of devices) {
          const name = device['name'];
          const backing = device['back-maj:min']?.trim();
          if (typeof name === 'string' && backing !== undefined && sandboxDevices.includes(backing)) {
            const detach = await execa('losetup', ['--detach', name], { reject: false, timeout: DESTROY_STEP_TIMEOUT_MS });
            if (detach.exitCode !== 0) problems.push(`losetup --detach ${name}: ${detach.stderr}`);
          }
        }
        // SIGKILL to the namespace's init kills every process in it; the mount
        // namespace, and with it the overlay and every mount inside, goes away.
        if (container === undefined) process.kill(initPid, 'SIGKILL');
      }
      if (container !== undefined) problems.push(...(await stopContainer(container, DESTROY_STEP_TIMEOUT_MS)));
      else if (!(await waitFor(() => !isAlive(initPid) && !isAlive(launcherPid), DESTROY_STEP_TIMEOUT_MS))) {
        problems.push(`sandbox init ${initPid} did not exit`);
      }
    } finally {
      // Nothing of the sandbox is mounted in the host's namespace, so this only ever
      // removes plain files; --one-file-system is a second guard.
      const stillMounted = readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${tempDir}`);
      if (stillMounted) problems.push(`something is mounted under ${tempDir}; left in place`);
      else await execa('rm', ['-rf', '--one-file-system', '--', tempDir], { reject: false, timeout: DESTROY_STEP_TIMEOUT_MS * 4 });
    }
    if (problems.length > 0) throw new Error(`sandbox cleanup: ${problems.join('; ')}`);
  };

  const reboot = async (rebootOptions: { downMs?: number } = {}): Promise<void> => {
    if (destroyed) throw new Error('sandbox already destroyed');
    if (container === undefined) throw new Error('only a sandbox booted with systemd can reboot');
    // A clean shutdown, as on a VM: systemd stops its units, syncs, and nspawn exits.
    await exec(['systemctl', 'poweroff'], { timeoutMs: 30_000 }).catch(() => undefined);
    const down = container;
    if (!(await waitFor(() => !isAlive(down.launcherPid), 60_000, 100))) throw new Error(`the container did not power off: ${readFileSync(down.consoleLog, 'utf8').slice(-2000)}`);
    removeCgroups(down.cgroup);
    if ((rebootOptions.downMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, rebootOptions.downMs));
    // The same overlay upper dir: everything written before the shutdown is there again.
    // Lent host paths are there again before systemd starts, as a VM's disks would be.
    container = await bootContainer(lower, tempDir, path.basename(tempDir), { allowDegraded: true, bindsRo: [...lentPaths].map(([inside, host]) => [host, inside] as const) });
    ({ launcherPid, initPid } = container);
  };

  const sandbox = {
    get root(): string {
      return `/proc/${initPid}/root`;
    },
    get initPid(): number {
      return initPid;
    },
    tempDir,
    admin: undefined as SandboxAdmin | undefined,
    suite,
    init,
    exec,
    execOk,
    sh,
    writeFile,
    readFile,
    readText,
    exists,
    generateKey,
    ssh,
    startSshd,
    stopSshd,
    sshdRunning,
    sshdPid,
    sshdListenCount,
    bindHostPath,
    unbind,
    reboot,
    destroy,
  } satisfies Sandbox;

  try {
    let admin: SandboxAdmin | undefined;
    if (options.provision !== false) admin = await provision(sandbox, options.adminUser ?? DEFAULT_ADMIN_USER);
    if (options.startSshd !== false && options.provision !== false) await startSshd();
    // Not a copy: root and initPid are read live (a reboot changes them).
    sandbox.admin = admin;
    return sandbox;
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
}

/**
 * Why sandboxes cannot run here, or undefined when they can. Tests skip with this text.
 * Checks root, the programs needed, and that namespaces and overlayfs actually work.
 */
export async function sandboxUnavailableReason(): Promise<string | undefined> {
  if (process.env['VMACCESS_SANDBOX_DISABLE'] === '1') return 'VMACCESS_SANDBOX_DISABLE=1 is set';
  if (process.platform !== 'linux') return 'the sandbox needs Linux';
  if (process.getuid?.() !== 0) return 'the sandbox needs root (run the end-to-end tests as root, as CI does)';
  for (const program of ['debootstrap', 'unshare', 'nsenter', 'losetup', 'flock', 'openssl', 'python3', 'dpkg', 'apt-get']) {
    const found = await execa('sh', ['-c', `command -v ${program}`], { reject: false, env: { PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` } });
    if (found.exitCode !== 0) return `the sandbox needs ${program} (apt-get install ${program === 'python3' ? 'python3' : program})`;
  }
  if (!existsSync('/proc/filesystems') || !readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'the kernel has no overlayfs';
  const probe = await execa('unshare', ['--mount', '--pid', '--net', '--uts', '--ipc', '--fork', '--', 'true'], { reject: false, timeout: 10_000 });
  if (probe.exitCode !== 0) return `unshare cannot create namespaces here: ${probe.stderr.trim()}`;
  return undefined;
}
