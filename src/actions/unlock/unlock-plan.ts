import { VmaccessError, isVmaccessError } from '../../errors.js';
import { dateOfDays, daysSinceEpoch, isPasswordLocked, usableHash } from '../../config/passwd.js';
import type { PasswdEntry } from '../../config/passwd.js';
import type { UnlockRequest } from '../../settings/request.js';
import type { System } from '../../system/system.js';
import type { ActionContext, ActionPlan, PlannedFile, StepOutcome } from '../plan.js';
import { currentDigest, WRITTEN_BY_PROGRAM } from '../file-digest.js';
import { assertChangeable, assertSafeUsername, findAccount, networkAccountError, readShadow, readUidRange } from '../accounts/account-database.js';
import { chooseNewAccountShell } from '../accounts/account-commands.js';

/**
 * The plan of `unlock`: what keeps an existing account out, found by reading (the PAM
 * failure tally, the shadow expiry and lock, the login shell), and the one command
 * that clears each. Credentials stay as they are: a password is only set when the
 * account's password is locked with nothing behind the lock and the caller sent one.
 */

export type UnlockChange =
  | { kind: 'tally'; argv: string[]; tool: 'faillock' | 'pam_tally2'; failures: number }
  | { kind: 'expiry'; argv: string[]; was: string; now: string | undefined }
  | { kind: 'password-unlock'; argv: string[] }
  | { kind: 'password-set' }
  | { kind: 'shell'; argv: string[]; was: string; shell: string };

export interface UnlockDetail {
  username: string;
  /** Set while planning when the request cannot be done; apply reports it. */
  refusal?: StepOutcome;
  changes: UnlockChange[];
  /** Only when a `password-set` change is planned. */
  password?: string;
}

const NOLOGIN_SHELLS = /\/(nologin|false)$/;

/** Failed attempts `faillock --user U` lists: one line per attempt after the header. */
export function countFaillockEntries(output: string): number {
  return output.split('\n').filter((line) => /^\s*\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}:\d{2}\s/.test(line)).length;
}

/** `pam_tally2 --user U`: `Login  Failures Latest failure  From` then `U  3 ...`. */
export function countPamTally2(output: string, name: string): number {
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === name && /^\d+$/.test(fields[1] ?? '')) return Number(fields[1]);
  }
  return 0;
}

/** The PAM failure tally of the account and the tool that resets it, when there is one. */
async function planTally(system: System, name: string): Promise<UnlockChange | undefined> {
  const faillock = await system.run('faillock', ['--user', name], { timeoutMs: 20_000 });
  if (faillock.started && faillock.exitCode === 0) {
    const failures = countFaillockEntries(faillock.stdout);
    return failures === 0 ? undefined : { kind: 'tally', tool: 'faillock', failures, argv: ['faillock', '--user', name, '--reset'] };
  }
  const tally = await system.run('pam_tally2', ['--user', name], { timeoutMs: 20_000 });
  if (tally.started && tally.exitCode === 0) {
    const failures = countPamTally2(tally.stdout, name);
    return failures === 0 ? undefined : { kind: 'tally', tool: 'pam_tally2', failures, argv: ['pam_tally2', '--user', name, '--reset'] };
  }
  return undefined;
}

async function findEntry(request: UnlockRequest, context: ActionContext): Promise<PasswdEntry> {
  const { system, paths } = context;
  assertSafeUsername(request.username);
  const state = await findAccount(system, paths, request.username);
  if (state.kind === 'network') throw networkAccountError(request.username);
  if (state.kind === 'missing') {
    throw new VmaccessError('USER_NOT_FOUND', `There is no account "${request.username}" to unlock.`, {
      hint: 'unlock works on existing accounts; send username with password or ssh_key (without unlock) to create one.',
    });
  }
  assertChangeable(state.entry, await readUidRange(system, paths));
  return state.entry;
}

/** Every change that lets the account in again, in the order apply makes them. */
async function planChanges(request: UnlockRequest, entry: PasswdEntry, context: ActionContext, notes: string[]): Promise<UnlockChange[]> {
  const { system, paths } = context;
  const name = entry.name;
  const changes: UnlockChange[] = [];
  const tally = await planTally(system, name);
  if (tally !== undefined) changes.push(tally);
  const shadow = await readShadow(system, paths, name);
  const today = Math.floor(system.now().getTime() / 86_400_000);
  if (request.expiration !== undefined) {
    if (shadow?.expireDays !== daysSinceEpoch(request.expiration)) {
      const was = shadow?.expireDays === undefined ? 'never' : dateOfDays(shadow.expireDays);
      changes.push({ kind: 'expiry', was, now: request.expiration, argv: ['usermod', '--expiredate', request.expiration, '--', name] });
    }
  } else if (shadow?.expireDays !== undefined && shadow.expireDays <= today) {
    // An empty date removes the expiry (usermod(8)).
    changes.push({ kind: 'expiry', was: dateOfDays(shadow.expireDays), now: undefined, argv: ['usermod', '--expiredate', '', '--', name] });
  }
  if (shadow !== undefined && isPasswordLocked(shadow.hash)) {
    if (usableHash(shadow.hash) !== undefined) changes.push({ kind: 'password-unlock', argv: ['usermod', '--unlock', '--', name] });
    else if (request.password !== undefined) changes.push({ kind: 'password-set' });
    else notes.push(`the password of "${name}" is locked with no password behind the lock; send password with unlock to set one, or log in with a key`);
  } else if (request.password !== undefined) {
    notes.push(`the password of "${name}" is not locked; unlock does not change it (send password without unlock for that)`);
  }
  if (NOLOGIN_SHELLS.test(entry.shell)) {
    const { shell } = await chooseNewAccountShell(system, paths);
    changes.push({ kind: 'shell', was: entry.shell, shell, argv: ['usermod', '--shell', shell, '--', name] });
  }
  return changes;
}

function describe(change: UnlockChange, name: string): { step: string; summary: string } {
  switch (change.kind) {
    case 'tally':
      return { step: 'unlock_faillock', summary: `reset the ${change.failures} failed login(s) ${change.tool} counts for "${name}"` };
    case 'expiry':
      return { step: 'unlock_expiry', summary: change.now === undefined ? `remove the expiry of "${name}" (expired on ${change.was})` : `set the expiry of "${name}" to ${change.now} (was ${change.was})` };
    case 'password-unlock':
      return { step: 'unlock_password', summary: `unlock the password of "${name}" (usermod --unlock; the password itself is kept)` };
    case 'password-set':
      return { step: 'unlock_password', summary: `set the password of "${name}" (locked with none behind the lock) through chpasswd on stdin; value not shown` };
    case 'shell':
      return { step: 'unlock_shell', summary: `give "${name}" the login shell ${change.shell} (was ${change.was}, which refuses logins)` };
  }
}

export function stepName(change: UnlockChange): string {
  return describe(change, '').step;
}

async function plannedFiles(context: ActionContext, changes: readonly UnlockChange[], name: string): Promise<PlannedFile[]> {
  const { paths, system } = context;
  const files: PlannedFile[] = [];
  const add = async (path: string, program: string, reason: string): Promise<void> => {
    if (files.some((file) => file.path === path)) return;
    const before = await currentDigest(system, path);
    if (before !== null) files.push({ path, before, after: WRITTEN_BY_PROGRAM, writtenBy: program, reason: `by ${program}: ${reason}` });
  };
  for (const change of changes) {
    if (change.kind === 'expiry' || change.kind === 'password-unlock') await add(paths.shadow, 'usermod', `unlock "${name}"`);
    if (change.kind === 'password-set') await add(paths.shadow, 'chpasswd', `password of "${name}"`);
    if (change.kind === 'shell') await add(paths.passwd, 'usermod', `login shell of "${name}"`);
  }
  return files;
}

export async function planUnlock(request: UnlockRequest, context: ActionContext): Promise<ActionPlan<UnlockDetail>> {
  const name = request.username;
  const plan: ActionPlan<UnlockDetail> = { action: 'unlock', steps: [], files: [], commands: [], firewall: [], notes: [], detail: { username: name, changes: [] } };
  let entry: PasswdEntry;
  try {
    entry = await findEntry(request, context);
  } catch (error) {
    if (!isVmaccessError(error)) throw error;
    const outcome: StepOutcome = { name: 'unlock', result: 'failed', code: error.code, message: error.statusMessage };
    plan.steps.push({ name: 'unlock', changes: false, summary: `would fail: [${error.code}] ${error.statusMessage}` });
    plan.detail.refusal = outcome;
    return plan;
  }
  const changes = await planChanges(request, entry, context, plan.notes);
  plan.detail.changes = changes;
  if (changes.some((change) => change.kind === 'password-set') && request.password !== undefined) plan.detail.password = request.password;
  for (const change of changes) {
    const { step, summary } = describe(change, name);
    plan.steps.push({ name: step, changes: true, summary });
    if (change.kind === 'password-set') plan.commands.push({ argv: ['chpasswd'], why: `set the password of "${name}"; name and password on stdin, never in arguments` });
    else plan.commands.push({ argv: change.argv, why: summary });
    if (change.kind === 'shell') plan.notes.push(`${change.shell} is the distribution's default login shell (useradd defaults)`);
  }
  if (changes.length === 0) plan.steps.push({ name: 'unlock', changes: false, summary: `nothing keeps "${name}" out that unlock clears` });
  plan.files = await plannedFiles(context, changes, name);
  return plan;
}
