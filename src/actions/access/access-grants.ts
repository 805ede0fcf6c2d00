import * as path from 'node:path';
import { VmaccessError } from '../../errors.js';
import type { SystemPaths } from '../../system/paths.js';
import type { System } from '../../system/system.js';

/**
 * access_minutes: what a request granted and when it must be taken back. One JSON file
 * under the handler's state folder (root 0600, replaced atomically), read by
 * `handlers/run expire`. A grant names only what this handler added, so revoking it
 * never takes away something the account had before.
 */

export interface AccessGrant {
  user: string;
  /** ISO 8601 UTC instant at which the grant is revoked. */
  deadline: string;
  /** The request created the account: it is removed at the deadline. */
  createdAccount: boolean;
  /** The request added the account's sudo line: it is removed at the deadline. */
  sudoAdded: boolean;
  grantedAt: string;
  /** Set by expire when a revocation failed and is retried. */
  lastError?: string;
}

export interface GrantsFile {
  version: 1;
  grants: AccessGrant[];
}

export const GRANTS_FILE = 'access-grants.json';

export function grantsPath(paths: SystemPaths): string {
  return path.posix.join(paths.stateDir, GRANTS_FILE);
}

/** The deadline of a request planned at `now`, whole seconds. */
export function deadlineAfter(now: Date, minutes: number): string {
  return new Date(Math.floor(now.getTime() / 1000) * 1000 + minutes * 60_000).toISOString().replace('.000Z', 'Z');
}

function isGrant(value: unknown): value is AccessGrant {
  if (typeof value !== 'object' || value === null) return false;
  const grant = value as Record<string, unknown>;
  return typeof grant.user === 'string' && typeof grant.deadline === 'string' && !Number.isNaN(Date.parse(grant.deadline)) && typeof grant.createdAccount === 'boolean' && typeof grant.sudoAdded === 'boolean';
}

export function parseGrants(text: string | undefined): GrantsFile {
  if (text === undefined || text.trim() === '') return { version: 1, grants: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new VmaccessError('ACCESS_EXPIRY_FAILED', 'The access grants file is not valid JSON; nothing was revoked.', { hint: 'Inspect it by hand; the handler does not guess.' });
  }
  const grants = (parsed as { grants?: unknown }).grants;
  if (!Array.isArray(grants) || !grants.every(isGrant)) {
    throw new VmaccessError('ACCESS_EXPIRY_FAILED', 'The access grants file has an unexpected shape; nothing was revoked.');
  }
  return { version: 1, grants };
}

export function formatGrants(file: GrantsFile): string {
  return `${JSON.stringify({ version: 1, grants: file.grants }, null, 2)}\n`;
}

/**
 * Add a grant. A grant already held by the account keeps what it will revoke (an account
 * created earlier is still removed) and takes the new deadline.
 */
export function addGrant(file: GrantsFile, grant: AccessGrant): GrantsFile {
  const earlier = file.grants.find((existing) => existing.user === grant.user);
  const merged: AccessGrant = earlier === undefined ? grant : { ...grant, createdAccount: earlier.createdAccount || grant.createdAccount, sudoAdded: earlier.sudoAdded || grant.sudoAdded };
  return { version: 1, grants: [...file.grants.filter((existing) => existing.user !== grant.user), merged].sort((a, b) => a.deadline.localeCompare(b.deadline)) };
}

export function dueGrants(file: GrantsFile, now: Date): AccessGrant[] {
  return file.grants.filter((grant) => Date.parse(grant.deadline) <= now.getTime());
}

/** The earliest deadline still ahead, or undefined when no grant is left. */
export function nextDeadline(file: GrantsFile): string | undefined {
  return [...file.grants].map((grant) => grant.deadline).sort()[0];
}

export async function readGrants(system: System, paths: SystemPaths): Promise<GrantsFile> {
  return parseGrants(await system.readText(grantsPath(paths)));
}

export async function writeGrants(system: System, paths: SystemPaths, file: GrantsFile): Promise<void> {
  const target = grantsPath(paths);
  if (file.grants.length === 0) {
    await system.remove(target);
    return;
  }
  await system.mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  // Root only: the file says which accounts are temporary and when they go.
  await system.writeFileAtomic(target, formatGrants(file), { mode: 0o600, uid: 0, gid: 0 });
}
