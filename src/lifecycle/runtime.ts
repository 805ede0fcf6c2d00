import type { Logger } from '../logger.js';
import type { Action, ActionContext } from '../actions/action.js';
import type { VmaccessRequest } from '../settings/request.js';
import type { DiagnoseReport } from './diagnose.js';
import type { LoginCheck } from './login-check.js';
import type { EventSink } from '../handler/events.js';
import type { HandlerEnvironment } from '../handler/handler-environment.js';
import type { SystemPaths } from '../system/paths.js';
import type { System } from '../system/system.js';

/** Everything a lifecycle operation needs, built once by the composition root. */
export interface Runtime {
  system: System;
  logger: Logger;
  paths: SystemPaths;
  /**
   * The actions, loaded on first use so that a no-op enable never parses them; given a
   * request, only those it needs.
   */
  loadActions(request?: VmaccessRequest): Promise<Action[]>;
  /** Only the actions with an interrupted change to finish (none, mostly); all actions when absent. */
  loadActionsToRecover?(): Promise<Action[]>;
  pid: number;
  /** Short lines for the agent's captured stdout (it keeps 3200 bytes): never secrets. */
  print(line: string): void;
  /** The login-path engine (src/actions/login-path); the composition root wires the real one. */
  loginPath?: LoginPathService;
  /** Resident and heap bytes now (the process's), when the composition root provides it. */
  memoryUsage?: () => { rss: number; heapUsed: number };
  /** Milliseconds since the process started, when the composition root provides it. */
  uptimeMs?: () => number;
}

export interface LoginPathService {
  /** After the actions: whether the users this request should have let in can log in. */
  afterChange(request: VmaccessRequest, context: ActionContext): Promise<LoginCheck | undefined>;
  /** The read-only `diagnose` request. */
  diagnose(request: NonNullable<VmaccessRequest['diagnose']>, context: ActionContext): Promise<DiagnoseReport>;
}

/** The real service, loaded on first use. */
export function createLoginPathService(): LoginPathService {
  return {
    afterChange: async (request, context) => (await import('./login-check.js')).checkLoginAfterChange(request, context),
    diagnose: async (request, context) => (await import('./diagnose.js')).diagnoseForEnable(request, context),
  };
}

/** What the guest agent handed this command. */
export interface Invocation {
  environment: HandlerEnvironment;
  /** ConfigSequenceNumber as given, if any. */
  sequenceFromAgent: string | undefined;
  /** The agent's lib dir (certificates, ovf-env.xml): the handler directory's parent. */
  agentLibDir: string;
  events: EventSink;
  /** The variables of contract §3.3 that update needs. */
  agentVariables: Record<string, string | undefined>;
}
