import type { Logger } from 'pino';
import type { VmaccessRequest } from '../settings/request.js';
import type { SystemPaths } from '../system/paths.js';
import type { System } from '../system/system.js';
import type { ErrorCode } from '../errors.js';

/**
 * SSH server changes asked for during one enable. Actions add to it; the ssh action,
 * which runs last, validates and applies all of them together with at most one
 * reload of sshd.
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
}

/** How one step ended, as reported in one substatus. */
export type StepResult = 'changed' | 'unchanged' | 'skipped' | 'failed';

export interface StepOutcome {
  /** Short, stable substatus name, e.g. `user`, `ssh_key`, `sshd`. */
  name: string;
  result: StepResult;
  message: string;
  /** Set when result is `failed`. */
  code?: ErrorCode;
}

export interface Action {
  readonly name: 'disk' | 'user' | 'ssh';
  /** Whether this request asks anything of the action. */
  wants(request: VmaccessRequest): boolean;
  /** Lines describing what apply would do on this machine; must change nothing. */
  plan(request: VmaccessRequest, context: ActionContext): Promise<string[]>;
  /**
   * Carry out the request. Expected failures are returned as `failed` outcomes with a
   * code (or thrown as VmaccessError); the dispatcher turns anything thrown into one.
   */
  apply(request: VmaccessRequest, context: ActionContext): Promise<StepOutcome[]>;
}

export function createSshChangeRequests(): SshChangeRequests {
  return { passwordUsers: new Set(), removedUsers: new Set() };
}
