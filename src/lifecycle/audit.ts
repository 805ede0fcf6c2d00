import * as path from 'node:path';
import type { ActionPlan, StepOutcome } from '../actions/action.js';
import { currentDigest } from '../actions/file-digest.js';
import type { VmaccessRequest } from '../settings/request.js';
import type { SystemPaths } from '../system/paths.js';
import type { System } from '../system/system.js';
import { rotateLogFile } from '../handler/log.js';

/**
 * The audit trail: every change the handler makes, appended before it happens (what the
 * plan will change) and after (the outcome and the files as they are now) to
 * /var/log/vmaccess/audit.log as JSON lines (root 0600, rotated), and the same line to
 * the system log under the tag `vmaccess`, where a security team already looks (sent while
 * the work goes on; enable waits for it before it ends). Built
 * from the public part of plans and from outcomes only: no secret can reach it.
 * A failing audit write never stops a rescue; it is reported in extension.log.
 */

const ROTATE_AT_BYTES = 1024 * 1024;
const KEEP_ROTATED = 5;

export interface AuditFile {
  path: string;
  before: string | null;
  after: string | null;
  writtenBy?: string;
}

export interface AuditRecord {
  time: string;
  /** The request's configuration sequence number (expire: the run's, -1). */
  seq: number;
  /** Position of the record within this run. */
  n: number;
  phase: 'before' | 'after';
  /** The action, and what the request asked of it. */
  action: string;
  kind: string[];
  account: string | undefined;
  summary: string;
  files: AuditFile[];
  /** What is done to sshd: reload, restart, start (none is left out). */
  sshd?: string;
  commands: string[][];
  outcome?: { name: string; result: string; code?: string }[];
}

export interface AuditTrail {
  before(plan: ActionPlan, request: VmaccessRequest): Promise<void>;
  after(plan: ActionPlan, request: VmaccessRequest, outcomes: readonly StepOutcome[]): Promise<void>;
  /** A record made without a plan (expire). */
  write(record: Omit<AuditRecord, 'time' | 'seq' | 'n'>): Promise<void>;
  /** Resolves once every record so far has reached the system log (or failed to). */
  settled(): Promise<void>;
}

/** What a request asks for, by setting name (never a value). */
export function requestKinds(request: VmaccessRequest): string[] {
  const kinds: string[] = [];
  const account = request.account;
  if (account !== undefined) {
    kinds.push(account.password !== undefined ? 'password' : account.sshKey !== undefined ? 'ssh_key' : 'provisioning_keys');
    if (account.password !== undefined && account.sshKey !== undefined) kinds.push('ssh_key');
    if (account.expiration !== undefined) kinds.push('expiration');
    if (account.keyExpiry !== undefined) kinds.push('ssh_key_expiry');
    if (account.accessMinutes !== undefined) kinds.push('access_minutes');
  }
  if (request.unlock !== undefined) kinds.push('unlock');
  if (request.removeUser !== undefined) kinds.push('remove_user');
  if (request.resetSsh) kinds.push('reset_ssh');
  if (request.restoreBackupSsh) kinds.push('restore_backup_ssh');
  if (request.disk !== undefined) kinds.push(request.disk.mode === 'repair' ? 'repair_disk' : 'check_disk');
  return kinds;
}

export function requestAccount(request: VmaccessRequest): string | undefined {
  return request.account?.username ?? request.unlock?.username ?? request.removeUser;
}

/** The sentence a person reads in the system log, e.g. `VMAccess gave alice sudo`. */
export function changeSentence(name: string, account: string | undefined, removing: boolean): string {
  const who = account ?? 'an account';
  const phrases: Record<string, string> = {
    account: `created the account ${who}`,
    password: `set the password of ${who}`,
    expiration: `set the expiry of ${who}`,
    ssh_key: `changed the SSH keys of ${who}`,
    sudo: removing ? `took back the sudo rights of ${who}` : `gave ${who} sudo`,
    remove_user: `removed the account ${who}`,
    access: `made the access of ${who} time-limited`,
    unlock_faillock: `reset the failed logins of ${who}`,
    unlock_expiry: `cleared the expiry of ${who}`,
    unlock_password: `unlocked the password of ${who}`,
    unlock_shell: `gave ${who} a login shell`,
    revoke_sudo: `took back the sudo rights of ${who} (time limit)`,
    revoke_account: `removed the account ${who} (time limit)`,
  };
  return phrases[name] ?? `changed ${name.replace(/_/g, ' ')}`;
}

function sentence(verbs: string[], fallback: string): string {
  return verbs.length === 0 ? fallback : `VMAccess ${verbs.join(', ')}`;
}

function planSummary(plan: ActionPlan, account: string | undefined): string {
  const steps = plan.steps.filter((step) => step.changes).map((step) => step.name);
  const subject = account === undefined ? '' : ` for ${account}`;
  return steps.length === 0 ? `VMAccess ${plan.action}: nothing to change` : `VMAccess is about to change${subject}: ${steps.join(', ')}`;
}

function outcomeSummary(outcomes: readonly StepOutcome[], account: string | undefined, removing: boolean): string {
  const verbs = outcomes.filter((outcome) => outcome.result === 'changed').map((outcome) => changeSentence(outcome.name, account, removing));
  const failedSteps = outcomes.filter((outcome) => outcome.result === 'failed').map((outcome) => `${outcome.name} failed [${outcome.code ?? 'INTERNAL'}]`);
  return [sentence(verbs, 'VMAccess changed nothing'), ...failedSteps].join('; ');
}

async function digestNow(system: System, file: string): Promise<string | null> {
  const info = await system.lstat(file);
  if (info === undefined) return null;
  return info.type === 'file' ? currentDigest(system, file) : null;
}

export function isAuditWorthy(plan: ActionPlan): boolean {
  // A read-only plan (check_disk, an idempotent repeat) changes nothing and is not audited.
  return plan.files.length > 0 || plan.steps.some((step) => step.changes) || (plan.service !== undefined && plan.service.action !== 'none');
}

export interface AuditOptions {
  seq: number;
  /** Tell someone when the trail cannot be written (extension.log). */
  onError(error: unknown): void;
}

async function sendToSyslog(system: System, line: string, onError: (error: unknown) => void): Promise<void> {
  // logger(1) reads the message from stdin; the tag is the SYSLOG_IDENTIFIER journald shows.
  try {
    const result = await system.run('logger', ['-t', 'vmaccess', '-p', 'authpriv.notice'], { input: `${line}\n`, timeoutMs: 10_000 });
    if (!result.started || result.exitCode !== 0) onError(new Error(`logger exited ${result.exitCode}`));
  } catch (error) {
    onError(error);
  }
}

export function createAuditTrail(system: System, paths: SystemPaths, options: AuditOptions): AuditTrail {
  let n = 0;
  /** The system-log copies, one logger at a time and in order, while the work goes on. */
  let syslog: Promise<void> = Promise.resolve();
  const append = async (record: Omit<AuditRecord, 'time' | 'seq' | 'n'>): Promise<void> => {
    n += 1;
    const full: AuditRecord = { time: system.now().toISOString(), seq: options.seq, n, ...record };
    const line = JSON.stringify(full);
    // The file is the record that must exist before the change: written before this returns.
    try {
      await appendLine(system, paths.auditLog, line);
    } catch (error) {
      options.onError(error);
    }
    syslog = syslog.then(() => sendToSyslog(system, line, (error) => options.onError(error)));
  };
  const files = (plan: ActionPlan): AuditFile[] =>
    plan.files.map((file) => ({ path: file.path, before: file.before, after: file.after, ...(file.writtenBy === undefined ? {} : { writtenBy: file.writtenBy }) }));
  const common = (plan: ActionPlan, request: VmaccessRequest) => ({
    action: plan.action,
    kind: requestKinds(request),
    account: requestAccount(request),
    commands: plan.commands.map((command) => command.argv),
    ...(plan.service === undefined || plan.service.action === 'none' ? {} : { sshd: plan.service.action }),
  });
  return {
    async before(plan, request) {
      const base = common(plan, request);
      await append({ phase: 'before', ...base, summary: planSummary(plan, base.account), files: files(plan) });
    },
    async after(plan, request, outcomes) {
      const base = common(plan, request);
      const now: AuditFile[] = [];
      for (const file of files(plan)) now.push({ ...file, after: await digestNow(system, file.path) });
      await append({
        phase: 'after',
        ...base,
        summary: outcomeSummary(outcomes, base.account, request.removeUser !== undefined),
        files: now,
        outcome: outcomes.map((outcome) => ({ name: outcome.name, result: outcome.result, ...(outcome.code === undefined ? {} : { code: outcome.code }) })),
      });
    },
    write: append,
    settled: () => syslog,
  };
}

/** Append through a whole-file atomic replace (the System port has no append), rotating first. */
async function appendLine(system: System, file: string, line: string): Promise<void> {
  await system.mkdir(path.posix.dirname(file), { recursive: true, mode: 0o700 });
  await rotateLogFile(system, file, ROTATE_AT_BYTES, KEEP_ROTATED);
  const current = (await system.readText(file)) ?? '';
  await system.writeFileAtomic(file, `${current}${line}\n`, { mode: 0o600, uid: 0, gid: 0 });
}
