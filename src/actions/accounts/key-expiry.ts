import { VmaccessError } from '../../errors.js';
import type { System } from '../../system/system.js';
import { findSshd } from '../sshd-effective.js';

/**
 * ssh_key_expiry: each key of the request carries OpenSSH's own `expiry-time` option, so
 * sshd refuses it after that instant and nothing has to run to revoke it. sshd(8) learnt
 * the option in OpenSSH 8.2; the `Z` suffix (UTC) only in 9.1. Between the two, sshd reads
 * the time in the system time zone, so the instant is written in that zone instead.
 */

export interface OpenSshVersion {
  major: number;
  minor: number;
}

/** `OpenSSH_9.2p1 Debian-2, OpenSSL ...` (sshd -V, or the usage text of older sshd). */
export function parseOpenSshVersion(text: string): OpenSshVersion | undefined {
  const match = /OpenSSH_(\d+)\.(\d+)/.exec(text);
  return match === null ? undefined : { major: Number(match[1]), minor: Number(match[2]) };
}

function atLeast(version: OpenSshVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

export async function detectSshdVersion(system: System): Promise<OpenSshVersion | undefined> {
  const sshd = await findSshd(system);
  // sshd before 9.x has no -V and prints its version in the usage text instead.
  const result = await system.run(sshd, ['-V'], { timeoutMs: 10_000 });
  return parseOpenSshVersion(`${result.stderr}\n${result.stdout}`);
}

/** `YYYYMMDDHHMMSS` of an ISO instant in UTC. */
export function compactUtc(iso: string): string {
  return new Date(iso).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export interface KeyExpiry {
  /** The option text, e.g. `expiry-time="20261224180000Z"`. */
  option: string;
  note?: string;
}

/** The expiry-time option this VM's sshd reads as `iso`, or SSH_KEY_EXPIRY_UNSUPPORTED. */
export async function keyExpiryOption(system: System, iso: string): Promise<KeyExpiry> {
  const version = await detectSshdVersion(system);
  if (version === undefined || !atLeast(version, 8, 2)) {
    const found = version === undefined ? 'an sshd whose version cannot be read' : `OpenSSH ${version.major}.${version.minor}`;
    throw new VmaccessError('SSH_KEY_EXPIRY_UNSUPPORTED', `ssh_key_expiry needs OpenSSH 8.2 or later (the expiry-time key option); this VM has ${found}. No key was written.`, {
      hint: 'Send the keys without ssh_key_expiry, or use access_minutes, which the handler revokes itself.',
    });
  }
  if (atLeast(version, 9, 1)) return { option: `expiry-time="${compactUtc(iso)}Z"` };
  const seconds = Math.floor(Date.parse(iso) / 1000);
  // date(1) converts in the system time zone, the one sshd uses for a time without Z.
  const local = await system.run('date', ['-d', `@${seconds}`, '+%Y%m%d%H%M%S'], { timeoutMs: 10_000 });
  const text = local.stdout.trim();
  if (local.exitCode !== 0 || !/^\d{14}$/.test(text)) {
    throw new VmaccessError('SSH_KEY_EXPIRY_UNSUPPORTED', `OpenSSH ${version.major}.${version.minor} reads expiry-time in the system time zone, and date(1) could not convert the time to it.`);
  }
  return { option: `expiry-time="${text}"`, note: `OpenSSH ${version.major}.${version.minor} has no UTC suffix: the expiry is written in the system time zone (${text})` };
}
