import type { Logger } from '../logger.js';
import type { ErrorCode } from '../errors.js';
import type { SystemPaths } from '../system/paths.js';
import type { System } from '../system/system.js';
import type { SshdAnswers } from './sshd-effective.js';

/**
 * Decide, then do. Each action turns a request into one ActionPlan before anything
 * changes; `vmaccess plan` prints it and enable executes exactly it, so "what would
 * change" and "change it" cannot drift apart. A plan holds no secret in its public
 * fields: what apply needs that must not be printed (a password, parsed keys) lives in
 * `detail`, which is never rendered or logged.
 */

/** A file the plan writes or removes. Digests are sha256 hex of the bytes. */
export interface PlannedFile {
  path: string;
  /** Digest of the current content; null when the file does not exist now. */
  before: string | null;
  /** Digest of the content apply leaves; null when apply removes it. */
  after: string | null;
  /** Set when a system program writes the file (useradd, chpasswd): `after` is then unknown until it runs. */
  writtenBy?: string;
  /** Why, in a few words for people. */
  reason: string;
  /** A unified diff of a text file that holds no secret, for people reading the plan. */
  diff?: string[];
}

/** A program apply will run. Arguments never carry a secret: secrets go on stdin. */
export interface PlannedCommand {
  argv: string[];
  why: string;
}

/** What apply will do to the SSH service. */
export interface PlannedService {
  action: 'none' | 'reload' | 'restart' | 'start';
  reason: string;
}

/** One user-visible step, reported as one substatus after apply. */
export interface PlannedStep {
  name: string;
  /** Whether the step changes anything; a step that changes nothing reports `unchanged`. */
  changes: boolean;
  summary: string;
}

export interface ActionPlan<Detail = unknown> {
  action: 'disk' | 'user' | 'unlock' | 'ssh';
  steps: PlannedStep[];
  files: PlannedFile[];
  commands: PlannedCommand[];
  service?: PlannedService;
  /** Firewall rules apply adds, in the words of the tool that holds them. */
  firewall: string[];
  notes: string[];
  /** What apply needs and nobody may see (passwords, parsed keys, resolved devices). */
  detail: Detail;
}

/** How one step ended, as reported in one substatus. */
/** `warning`: done, but something needs a person's attention (reported as a warning substatus). */
export type StepResult = 'changed' | 'unchanged' | 'skipped' | 'failed' | 'warning';

export interface StepOutcome {
  /** Short, stable substatus name, e.g. `user`, `ssh_key`, `sshd`. */
  name: string;
  result: StepResult;
  message: string;
  /** Set when result is `failed`. */
  code?: ErrorCode;
  /**
   * Something a person must act on although the step itself did its job (check_disk
   * found errors): the substatus and the top-level status become `warning`, and this
   * text, which names the request that fixes it, goes into the top-level message.
   */
  warning?: string;
}

/**
 * SSH server changes asked for during one enable. Actions add to it; the ssh action,
 * which runs last, validates and applies all of them together with at most one
 * restart or reload of sshd. `vmaccess plan` fills it from the request up front.
 */
export interface SshChangeRequests {
  /** Users whose password must be accepted by sshd after this run. */
  passwordUsers: Set<string>;
  /** Users that were removed: drop any per-user settings vmaccess made for them. */
  removedUsers: Set<string>;
}

export interface ActionContext {
  system: System;
  logger: Logger;
  paths: SystemPaths;
  ssh: SshChangeRequests;
  /** The guest agent's lib dir (certificates, ovf-env.xml). */
  agentLibDir: string;
  /** The installed handler's folder (enable only): the access-expiry timer runs its handlers/run. */
  handlerDir?: string;
  /** sshd's answers about the live files, asked once per user within this run. */
  sshdAnswers?: SshdAnswers;
}

/** The public part of a plan, for `vmaccess plan --json` and the log. Never includes `detail`. */
export function publicPlan(plan: ActionPlan): Omit<ActionPlan, 'detail'> {
  return { action: plan.action, steps: plan.steps, files: plan.files, commands: plan.commands, ...(plan.service === undefined ? {} : { service: plan.service }), firewall: plan.firewall, notes: plan.notes };
}

/** A plan as lines for people (`vmaccess plan`). */
export function renderPlan(plan: ActionPlan): string[] {
  const lines: string[] = [];
  for (const step of plan.steps) lines.push(`${step.name}: ${step.changes ? '' : 'unchanged: '}${step.summary}`);
  for (const file of plan.files) {
    const verb = file.after === null ? 'remove' : file.before === null ? 'create' : 'write';
    lines.push(`file: ${verb} ${file.path} (${file.reason})`);
    if (file.diff !== undefined) lines.push(...file.diff);
  }
  for (const command of plan.commands) lines.push(`run: ${command.argv.join(' ')} (${command.why})`);
  if (plan.service !== undefined && plan.service.action !== 'none') lines.push(`service: ${plan.service.action} sshd (${plan.service.reason})`);
  for (const rule of plan.firewall) lines.push(`firewall: ${rule}`);
  for (const note of plan.notes) lines.push(`note: ${note}`);
  return lines;
}

export function createSshChangeRequests(): SshChangeRequests {
  return { passwordUsers: new Set(), removedUsers: new Set() };
}
