import { insertManagedBlock, parsePasswordGrants, readManagedBlockGrants, removeManagedBlock, renderPasswordDropIn } from '../../config/sshd-config.js';
import type { PasswordGrant } from '../../config/sshd-config.js';
import { passwordAloneAllowed, userPatternMatches } from '../../config/sshd-semantics.js';
import { VmaccessError } from '../../errors.js';
import type { EffectiveSshdConfig } from '../sshd-effective.js';
import type { SshChangeRequests } from '../plan.js';
import type { VmaccessRequest } from '../../settings/request.js';
import type { Layout } from './ssh-setup.js';
import { overlayView } from './ssh-tree.js';
import type { ChangeSet, FileView } from './ssh-tree.js';

/**
 * Grants policy: which per-user password grants exist, which are wanted after this run,
 * where they are written (the extension's drop-in, or a marked block at the end of
 * sshd_config where nothing includes the drop-in folder), and what sshd must say for a
 * grant to count. Reads go through a FileView; nothing here changes a file.
 */

export interface Intent {
  reset: boolean;
  restore: boolean;
  passwordUsers: string[];
  removedUsers: string[];
}

export function intentOf(request: VmaccessRequest, ssh: SshChangeRequests): Intent {
  return { reset: request.resetSsh, restore: request.restoreBackupSsh, passwordUsers: [...ssh.passwordUsers].sort(), removedUsers: [...ssh.removedUsers].sort() };
}

export function isEmptyIntent(intent: Intent): boolean {
  return !intent.reset && !intent.restore && intent.passwordUsers.length === 0 && intent.removedUsers.length === 0;
}

export type Strategy = 'drop-in' | 'main-block';

export interface Candidate {
  changes: ChangeSet;
  /** Drop-ins reset_ssh moves out of the active set into the backup set. */
  quarantine: Set<string>;
  /** Why each of `quarantine` goes, for the plan and the status. */
  quarantineReasons: Map<string, string>;
  grants: PasswordGrant[];
  strategy: Strategy | undefined;
}

/** Files vmaccess wrote grants into, merged (drop-in first). */
export async function existingGrants(view: FileView, layout: Layout): Promise<PasswordGrant[]> {
  const byUser = new Map<string, PasswordGrant>();
  const dropIn = await view.readText(layout.ownDropIn);
  for (const grant of dropIn === undefined ? [] : parsePasswordGrants(dropIn)) if (!byUser.has(grant.user)) byUser.set(grant.user, grant);
  const main = await view.readText(layout.etcMain);
  for (const grant of main === undefined ? [] : (readManagedBlockGrants(main) ?? [])) if (!byUser.has(grant.user)) byUser.set(grant.user, grant);
  return [...byUser.values()];
}

export function ensureSetting(grant: PasswordGrant, keyword: string, value: string): PasswordGrant {
  const settings = grant.settings.filter(([name]) => name.toLowerCase() !== keyword.toLowerCase());
  const existing = grant.settings.find(([name]) => name.toLowerCase() === keyword.toLowerCase());
  if (existing !== undefined && existing[1] === value) return grant;
  return { user: grant.user, settings: [...settings, [keyword, value]] };
}

export function desiredGrants(existing: PasswordGrant[], intent: Intent): PasswordGrant[] {
  const removed = new Set(intent.removedUsers);
  const byUser = new Map(existing.filter((grant) => !removed.has(grant.user)).map((grant) => [grant.user, grant]));
  for (const user of intent.passwordUsers) {
    if (removed.has(user)) continue;
    byUser.set(user, ensureSetting(byUser.get(user) ?? { user, settings: [] }, 'PasswordAuthentication', 'yes'));
  }
  return [...byUser.values()];
}

/** Writes `grants` with `strategy` on top of `base` (reset/restore/quarantine changes). */
export async function renderGrants(current: FileView, layout: Layout, base: ChangeSet, grants: PasswordGrant[], strategy: Strategy): Promise<ChangeSet> {
  const changes: ChangeSet = new Map(base);
  const view = overlayView(current, changes);
  const main = await view.readText(layout.etcMain);
  const dropInExists = await view.isFile(layout.ownDropIn);
  if (strategy === 'drop-in') {
    if (grants.length > 0) changes.set(layout.ownDropIn, renderPasswordDropIn(grants));
    else if (dropInExists) changes.set(layout.ownDropIn, null);
    if (main !== undefined && readManagedBlockGrants(main) !== undefined) changes.set(layout.etcMain, removeManagedBlock(main));
  } else {
    if (main === undefined) throw new VmaccessError('SSHD_CONFIG_INVALID', `There is no ${layout.etcMain} to hold per-user password settings.`);
    changes.set(layout.etcMain, insertManagedBlock(main, grants));
    if (dropInExists) changes.set(layout.ownDropIn, null);
  }
  return changes;
}

/** The base changes (restore/reset/quarantine) without the grant files, for re-rendering. */
export function withoutGrantFiles(changes: ChangeSet, candidate: Candidate, layout: Layout): ChangeSet {
  const base: ChangeSet = new Map(changes);
  base.delete(layout.ownDropIn);
  const main = changes.get(layout.etcMain);
  if (typeof main === 'string') base.set(layout.etcMain, removeManagedBlock(main));
  for (const file of candidate.quarantine) base.set(file, null);
  return base;
}

/** Drops entries that would not change anything. */
export async function effectiveChanges(current: FileView, changes: ChangeSet): Promise<ChangeSet> {
  const result: ChangeSet = new Map();
  for (const [file, content] of changes) {
    const now = await current.readText(file);
    if (content === null ? now !== undefined : now !== content) result.set(file, content);
  }
  return result;
}

export interface UserCheck {
  user: string;
  effective: boolean;
  blockedByMethods: boolean;
  warnings: string[];
}

/** Whether sshd (its `-T` answer for this user) lets the user log in with a password alone. */
export function checkUser(user: string, config: EffectiveSshdConfig): UserCheck {
  const warnings: string[] = [];
  const deny = config.getAll('denyusers').flatMap((value) => value.split(/\s+/));
  const allow = config.getAll('allowusers').flatMap((value) => value.split(/\s+/));
  const matches = (pattern: string): boolean => userPatternMatches(pattern, user);
  if (deny.some(matches)) warnings.push(`DenyUsers names ${user}`);
  if (allow.length > 0 && !allow.some(matches)) warnings.push(`AllowUsers does not include ${user}`);
  if (config.getAll('allowgroups').length > 0 || config.getAll('denygroups').length > 0) warnings.push('AllowGroups/DenyGroups also apply');
  const methods = config.get('authenticationmethods');
  return { user, effective: config.get('passwordauthentication') === 'yes' && passwordAloneAllowed(methods), blockedByMethods: !passwordAloneAllowed(methods), warnings };
}
