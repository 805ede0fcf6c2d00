import type { System } from '../../system/system.js';
import type { DistroProfile } from './distro.js';
import { confirmSshdUp, isServiceUp } from './sshd-service.js';
import type { Endpoint, Readiness, Verification, VerifyOptions } from './sshd-service.js';

/**
 * Knowing when sshd has acted on a reload, without sleeping for it. On SIGHUP sshd
 * closes its listening sockets and re-executes itself in place (same pid), then opens
 * new ones; a restart or start also ends with new listening sockets. Each socket has
 * its own inode in /proc/net/tcp and /proc/net/tcp6, so "every port has a listening
 * socket that was not there before the signal" means the new sshd has read its
 * configuration and is listening: only then is its banner proof of the change.
 */

const PROC_NET_FILES = ['/proc/net/tcp', '/proc/net/tcp6'] as const;
/** st in /proc/net/tcp: 0A is TCP_LISTEN (include/net/tcp_states.h). */
const TCP_LISTEN = '0A';

export interface Listener {
  port: number;
  inode: string;
}

/** LISTEN sockets from the text of /proc/net/tcp or /proc/net/tcp6. */
export function parseProcNetListeners(text: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
    const port = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
    const inode = fields[9] ?? '0';
    // Inode 0: a socket being torn down; it is nobody's listener any more.
    if (Number.isInteger(port) && port > 0 && inode !== '0') listeners.push({ port, inode });
  }
  return listeners;
}

/** Listening socket inodes per port, or undefined when this system has no /proc/net/tcp. */
export type ListenerSnapshot = Map<number, Set<string>>;

export async function snapshotListeners(system: System): Promise<ListenerSnapshot | undefined> {
  const texts = await Promise.all(PROC_NET_FILES.map((file) => system.readText(file).catch(() => undefined)));
  if (texts.every((text) => text === undefined)) return undefined;
  const snapshot: ListenerSnapshot = new Map();
  for (const text of texts) {
    for (const { port, inode } of parseProcNetListeners(text ?? '')) {
      const inodes = snapshot.get(port) ?? new Set<string>();
      inodes.add(inode);
      snapshot.set(port, inodes);
    }
  }
  return snapshot;
}

/** The ports that have no listening socket yet that is absent from `before`. */
export function portsWithoutNewListener(before: ListenerSnapshot, now: ListenerSnapshot, ports: readonly number[]): number[] {
  return ports.filter((port) => {
    const old = before.get(port) ?? new Set<string>();
    return ![...(now.get(port) ?? [])].some((inode) => !old.has(inode));
  });
}

export interface PollOptions {
  /** Between two looks; a few ms (reading /proc/net/tcp costs microseconds). */
  pollMs: number;
  /** Absolute time (clock()) after which the wait gives up. */
  deadline: number;
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
}

export interface ListenerWait {
  ok: boolean;
  /** Ports still without a new listener when the deadline passed. */
  missing: number[];
}

/** Polls until every port has a new listening socket, or the deadline passes. */
export async function awaitNewListeners(system: System, before: ListenerSnapshot, ports: readonly number[], options: PollOptions): Promise<ListenerWait> {
  let missing = [...ports];
  for (;;) {
    const now = await snapshotListeners(system);
    missing = now === undefined ? missing : portsWithoutNewListener(before, now, ports);
    if (missing.length === 0) return { ok: true, missing };
    if (options.clock() >= options.deadline) return { ok: false, missing };
    await options.sleep(options.pollMs);
  }
}

const isSshBanner = (banner: string | undefined): boolean => banner?.startsWith('SSH-2.0-') === true || banner?.startsWith('SSH-1.99-') === true;

/** Every port answers with an SSH banner on at least one address; polled until the deadline. */
async function awaitBanners(system: System, endpoints: readonly Endpoint[], probeTimeoutMs: number, poll: PollOptions): Promise<Verification> {
  const ports = [...new Set(endpoints.map((endpoint) => endpoint.port))];
  const pending = new Set(ports);
  let lastAnswer = '';
  for (;;) {
    for (const endpoint of endpoints) {
      if (!pending.has(endpoint.port)) continue;
      const timeout = Math.max(1, Math.min(probeTimeoutMs, Math.ceil(poll.deadline - poll.clock())));
      const banner = await system.probeTcpBanner(endpoint.host, endpoint.port, timeout);
      if (isSshBanner(banner)) pending.delete(endpoint.port);
      else if (banner !== undefined) lastAnswer = banner.slice(0, 40);
    }
    if (pending.size === 0) return { ok: true, detail: `sshd answers on port ${ports.join(', ')}` };
    if (poll.clock() >= poll.deadline) break;
    await poll.sleep(poll.pollMs);
  }
  const which = [...pending].join(', ');
  return { ok: false, detail: lastAnswer === '' ? `nothing answers on port ${which}` : `port ${which} answers, but not with an SSH banner` };
}

export interface ReadyCheck {
  /** How the service commands show they took effect; `now`: nothing was sent to sshd. */
  readiness: Readiness | 'now';
  /** Listening sockets before the commands ran (undefined: /proc/net/tcp is not readable). */
  before: ListenerSnapshot | undefined;
  endpoints: readonly Endpoint[];
}

export interface Readied extends Verification {
  /** From the call to the verdict. */
  waitedMs: number;
  /** What the verdict rests on (goes into the log). */
  basis: string;
}

/**
 * Confirms sshd took the change: its new listeners exist (when they can change), then
 * every port answers with an SSH banner, then the service manager or pid file says sshd
 * runs. One bounded deadline for the lot; looks every pollMs. When nothing observable
 * changes (a socket unit holding the sockets, no /proc), the two looks settleMs apart.
 */
export async function confirmSshdReady(system: System, profile: DistroProfile, pidFiles: readonly string[], check: ReadyCheck, options: VerifyOptions): Promise<Readied> {
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  const deadlineMs = options.deadlineMs ?? 20_000;
  const poll: PollOptions = { pollMs: options.pollMs ?? 2, deadline: started + deadlineMs, clock, sleep: options.sleep };
  const done = (verdict: Verification, basis: string): Readied => ({ ...verdict, waitedMs: clock() - started, basis });
  const mode = check.readiness === 'listeners' && (check.before === undefined || options.observeListeners === false) ? 'settle' : check.readiness;
  if (mode === 'settle') return done(await confirmSshdUp(system, profile, pidFiles, check.endpoints, options), 'two looks, settle time apart');
  if (mode === 'listeners' && check.before !== undefined) {
    const ports = [...new Set(check.endpoints.map((endpoint) => endpoint.port))];
    const waited = await awaitNewListeners(system, check.before, ports, poll);
    if (!waited.ok) return done({ ok: false, detail: `sshd opened no new listening socket on port ${waited.missing.join(', ')} within ${deadlineMs} ms` }, 'listener inodes');
  }
  const answered = await awaitBanners(system, check.endpoints, options.probeTimeoutMs, poll);
  const basis = mode === 'listeners' ? 'new listener inodes, then banners' : mode === 'returned' ? 'systemctl reload returned (notify-reload), then banners' : 'banners';
  if (!answered.ok) return done(answered, basis);
  // A re-executed sshd writes its pid file just after it listens: same deadline.
  while (!(await isServiceUp(system, profile, pidFiles))) {
    if (clock() >= poll.deadline) return done({ ok: false, detail: 'sshd answered, but the service manager (or its pid file) does not report it running' }, basis);
    await poll.sleep(poll.pollMs);
  }
  return done(answered, basis);
}
