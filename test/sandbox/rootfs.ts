import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** Debian release the sandbox runs by default; the handler's primary target family. */
export const SANDBOX_SUITE = 'bookworm';

/**
 * Debian releases the end-to-end matrix runs, oldest first, each with the OpenSSH it
 * ships (bullseye 8.4p1: `Include` but no drop-in folder by default; bookworm 9.2p1;
 * trixie 10.0p1: sshd split into sshd-session/sshd-auth). Each gets its own cached root.
 */
export const SANDBOX_SUITES = ['bullseye', 'bookworm', 'trixie'] as const;
export type SandboxSuite = (typeof SANDBOX_SUITES)[number];

/**
 * Packages installed on top of debootstrap's minbase. Changing this list (or the build
 * script) changes the cache key, so the next run builds a new root filesystem.
 * systemd is installed but only runs when a sandbox boots the root with systemd-nspawn;
 * the other sandboxes never start it, so there sshd runs from its SysV script.
 */
export const SANDBOX_PACKAGES: readonly string[] = [
  'openssh-server',
  'openssh-client',
  'sudo',
  'passwd',
  'e2fsprogs',
  'xfsprogs',
  'iptables',
  'nftables',
  'openssl',
  'sshpass',
  'procps',
  'iproute2',
  'util-linux',
  'mount',
  // fuser: the disk action names the processes that keep a filesystem busy.
  'psmisc',
  // The init a booted sandbox runs (systemd-nspawn --boot), and the bus systemctl uses there.
  'systemd',
  'systemd-sysv',
  'dbus',
];

/** Upper bound for one debootstrap run (about 70 s measured on the dev box). */
const BUILD_TIMEOUT_MS = 15 * 60_000;

const sandboxDir = path.dirname(fileURLToPath(import.meta.url));

/** Where built trees are kept: `<repo>/.cache/sandbox` (gitignored) unless overridden. */
export function sandboxCacheDir(): string {
  const override = process.env['VMACCESS_SANDBOX_CACHE'];
  if (override !== undefined && override !== '') return override;
  return path.resolve(sandboxDir, '../../.cache/sandbox');
}

function buildScriptPath(): string {
  return path.join(sandboxDir, 'build-rootfs.sh');
}

/** Cache key: the suite, the package list and the build recipe itself. */
export function rootfsKey(suite: SandboxSuite = SANDBOX_SUITE): string {
  const hash = createHash('sha256');
  hash.update(suite);
  hash.update('\0');
  hash.update([...SANDBOX_PACKAGES].sort().join(','));
  hash.update('\0');
  hash.update(readFileSync(buildScriptPath()));
  return hash.digest('hex').slice(0, 16);
}

export function rootfsPath(suite: SandboxSuite = SANDBOX_SUITE): string {
  return path.join(sandboxCacheDir(), `rootfs-${suite}-${rootfsKey(suite)}`);
}

/**
 * The Debian archive as apt on this machine is configured (deb822 `.sources` files and
 * one-line `sources.list`), so the sandbox is built from the same place apt uses here.
 * The archive that serves this machine's release serves the other releases too.
 */
export function debianMirror(): string {
  const candidates: string[] = [];
  const sourceFiles: string[] = [];
  if (existsSync('/etc/apt/sources.list')) sourceFiles.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const name of readdirSync('/etc/apt/sources.list.d').sort()) {
      if (name.endsWith('.list') || name.endsWith('.sources')) sourceFiles.push(path.join('/etc/apt/sources.list.d', name));
    }
  }
  for (const file of sourceFiles) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields = new Map<string, string>();
        for (const line of stanza.split('\n')) {
          const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (match?.[1] !== undefined && match[2] !== undefined) fields.set(match[1].toLowerCase(), match[2].trim());
        }
        const suites = (fields.get('suites') ?? '').split(/\s+/);
        const types = (fields.get('types') ?? '').split(/\s+/);
        if (fields.get('enabled')?.toLowerCase() === 'no') continue;
        if (types.includes('deb') && suites.includes(SANDBOX_SUITE)) {
          candidates.push(...(fields.get('uris') ?? '').split(/\s+/).filter(Boolean));
        }
      }
    } else {
      for (const line of text.split('\n')) {
        const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (match?.[1] !== undefined && match[2] === SANDBOX_SUITE) candidates.push(match[1]);
      }
    }
  }
  const mirror = candidates[0];
  if (mirror === undefined) throw new Error(`no apt source for Debian ${SANDBOX_SUITE} is configured on this machine`);
  return mirror;
}

/**
 * Returns the path of the cached root filesystem of a Debian release, building it first
 * if needed. Safe to call from several test processes at once: each release's build runs
 * under its own exclusive `flock` (different releases may build side by side).
 */
export async function ensureRootfs(suite: SandboxSuite = SANDBOX_SUITE): Promise<string> {
  const target = rootfsPath(suite);
  if (existsSync(target)) return target;
  const cacheDir = sandboxCacheDir();
  await execa('mkdir', ['-p', cacheDir]);
  const lockFile = path.join(cacheDir, `build-${suite}.lock`);
  const result = await execa(
    'flock',
    ['-w', String(BUILD_TIMEOUT_MS / 1000), lockFile, 'bash', buildScriptPath(), target, suite, debianMirror(), SANDBOX_PACKAGES.join(',')],
    { reject: false, timeout: BUILD_TIMEOUT_MS * 2, killSignal: 'SIGKILL', all: true },
  );
  if (result.exitCode !== 0 || !existsSync(target)) {
    throw new Error(`building the Debian ${suite} sandbox root failed (exit ${String(result.exitCode)}):\n${String(result.all ?? '').slice(-4000)}`);
  }
  return target;
}
