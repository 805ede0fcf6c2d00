import * as path from 'node:path';
import type { HandlerOptions } from './cli.js';
import { isHandlerOperation, type HandlerOperation } from './operations.js';
import { VmaccessError, isVmaccessError } from './errors.js';
import { isSafeUsername } from './config/passwd.js';
import { createEventSink } from './handler/events.js';
import { HANDLER_ENVIRONMENT_FILE, readHandlerEnvironment, type HandlerEnvironment } from './handler/handler-environment.js';
import { createFileLogger, createSilentLogger } from './handler/log.js';
import { resolveSequenceNumber } from './handler/sequence.js';
import { numericCode, writeStatus } from './handler/status.js';
import { createLoginPathService, type Invocation, type Runtime } from './lifecycle/runtime.js';
import { defaultSystemPaths } from './system/paths.js';
import { createRealSystem } from './system/real-system.js';
import type { System } from './system/system.js';
import { VERSION } from './version.js';

/**
 * The composition root and the one error boundary: builds the real system, the
 * logger and the actions, runs one command, and turns whatever escapes into a
 * status file (for enable), a log record and an exit code.
 */

export interface ProcessContext {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  pid: number;
  nodeVersion: string;
  /** The package's resources/ folder, found from the entry's own location. */
  resourcesDir?: string;
  out(text: string): void;
  err(text: string): void;
  /** Resident and heap bytes now, for the per-phase memory records of enable. */
  memoryUsage?: () => { rss: number; heapUsed: number };
  /** Milliseconds since the process started (node's own start included), for the log. */
  uptimeMs?: () => number;
}

const DEFAULT_HANDLER_NAME = 'Microsoft.OSTCExtensions.VMAccessForLinux';
const AGENT_VARIABLES = [
  'ConfigSequenceNumber',
  'AZURE_GUEST_AGENT_EXTENSION_PATH',
  'AZURE_GUEST_AGENT_EXTENSION_VERSION',
  'AZURE_GUEST_AGENT_UPDATING_FROM_VERSION',
  'AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE',
  'AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE',
  'VERSION',
] as const;

function agentLibDirFor(options: HandlerOptions, env: ProcessContext['env'], handlerDir: string): string {
  if (options.agentLibDir !== undefined) return path.resolve(options.agentLibDir);
  const extensionPath = env.AZURE_GUEST_AGENT_EXTENSION_PATH;
  return path.dirname(extensionPath !== undefined && path.isAbsolute(extensionPath) ? extensionPath : handlerDir);
}

/** Last resort when even HandlerEnvironment.json is unusable: the agent's default status folder. */
async function writeBoundaryStatus(system: System, statusFolder: string, configFolder: string | undefined, seqText: string | undefined, error: VmaccessError, name: string) {
  try {
    const seq = configFolder === undefined ? Number(seqText ?? 0) : ((await resolveSequenceNumber(system, configFolder, seqText)) ?? 0);
    if (!Number.isInteger(seq)) return;
    await writeStatus(
      system,
      statusFolder,
      seq,
      {
        operation: 'Enable',
        status: 'error',
        code: numericCode(error.code),
        message: `Enable failed [${error.code}]: ${error.statusMessage}`,
        substatus: [],
        completion: { settingsDigest: undefined, complete: false, errorCode: error.code },
      },
      name,
    );
  } catch {
    // nowhere left to report to but stderr
  }
}

/** An RFC 9562 version 4 UUID from 16 random bytes: the run's id in every log record and event. */
function uuidV4(random: Uint8Array): string {
  const bytes = Buffer.from(random);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function runLifecycle(operation: HandlerOperation, options: HandlerOptions, system: System, proc: ProcessContext): Promise<number> {
  const environmentFile = path.resolve(proc.cwd, options.handlerEnvironment ?? HANDLER_ENVIRONMENT_FILE);
  let environment: HandlerEnvironment;
  try {
    environment = await readHandlerEnvironment(system, environmentFile);
  } catch (error) {
    const failure = isVmaccessError(error) ? error : new VmaccessError('HANDLER_ENVIRONMENT_INVALID', `${environmentFile} cannot be read.`);
    proc.err(`vmaccess ${operation} failed [${failure.code}]: ${failure.statusMessage}\n`);
    if (operation === 'enable') {
      const handlerDir = path.dirname(environmentFile);
      await writeBoundaryStatus(system, path.join(handlerDir, 'status'), undefined, proc.env.ConfigSequenceNumber, failure, DEFAULT_HANDLER_NAME);
    }
    return 1;
  }
  const operationId = uuidV4(system.randomBytes(16));
  // A log folder that cannot be written must not stop a rescue: carry on without a file log.
  const logger = await createFileLogger(system, environment.logFolder, { op: operation, version: VERSION, operationId }).catch(() => {
    proc.err(`vmaccess: cannot write logs in ${environment.logFolder}; continuing without extension.log\n`);
    return createSilentLogger();
  });
  const paths = defaultSystemPaths();
  const runtime: Runtime = {
    system,
    logger,
    paths,
    loadActions: async (request) => (await import('./actions/index.js')).loadActions(proc.resourcesDir === undefined ? {} : { resourcesDir: proc.resourcesDir }, request),
    loadActionsToRecover: async () => (await import('./actions/index.js')).loadActionsToRecover(system, paths, proc.resourcesDir === undefined ? {} : { resourcesDir: proc.resourcesDir }),
    pid: proc.pid,
    print: (line) => proc.out(`${line}\n`),
    loginPath: createLoginPathService(),
    ...(proc.memoryUsage === undefined ? {} : { memoryUsage: proc.memoryUsage }),
    ...(proc.uptimeMs === undefined ? {} : { uptimeMs: proc.uptimeMs }),
  };
  const agentVariables: Record<string, string | undefined> = {};
  for (const name of AGENT_VARIABLES) agentVariables[name] = proc.env[name];
  const invocation: Invocation = {
    environment,
    sequenceFromAgent: proc.env.ConfigSequenceNumber,
    agentLibDir: agentLibDirFor(options, proc.env, environment.handlerDir),
    events: createEventSink(system, environment.eventsFolder, { version: VERSION, operationId, pid: proc.pid }),
    agentVariables,
  };
  try {
    switch (operation) {
      case 'install':
        return await (await import('./lifecycle/install.js')).install(runtime, invocation, proc.nodeVersion);
      case 'enable':
        return await (await import('./lifecycle/enable.js')).enable(runtime, invocation);
      case 'update':
        return await (await import('./lifecycle/update.js')).update(runtime, invocation);
      case 'disable':
        return await (await import('./lifecycle/disable.js')).disable(runtime, invocation);
      case 'uninstall':
        return await (await import('./lifecycle/uninstall.js')).uninstall(runtime, invocation);
      case 'expire':
        return await (await import('./lifecycle/expire.js')).expire(runtime, invocation);
    }
  } catch (error) {
    logger.error({ err: error }, `${operation} stopped by an unexpected error`);
    const failure = isVmaccessError(error) ? error : new VmaccessError('INTERNAL', `An unexpected error stopped ${operation}; details are in extension.log.`);
    proc.err(`vmaccess ${operation} failed [${failure.code}]\n`);
    if (operation === 'enable') {
      await writeBoundaryStatus(system, environment.statusFolder, environment.configFolder, proc.env.ConfigSequenceNumber, failure, environment.name);
    }
    return 1;
  }
}


/** The runtime of the read-only commands (plan, diagnose): no log file, output to stdout. */
function readOnlyRuntime(system: System, proc: ProcessContext): Runtime {
  return {
    system,
    logger: createSilentLogger(),
    paths: defaultSystemPaths(),
    loadActions: async (request) => (await import('./actions/index.js')).loadActions(proc.resourcesDir === undefined ? {} : { resourcesDir: proc.resourcesDir }, request),
    pid: proc.pid,
    print: (line) => proc.out(`${line}\n`),
  };
}

async function runPlan(requestFile: string, options: HandlerOptions, system: System, proc: ProcessContext): Promise<number> {
  const runtime = readOnlyRuntime(system, proc);
  try {
    return await (await import('./lifecycle/plan.js')).plan(runtime, path.resolve(proc.cwd, requestFile), options.agentLibDir ?? '/var/lib/waagent', {
      json: options.json === true,
    });
  } catch (error) {
    if (!isVmaccessError(error)) throw error;
    proc.err(`The request is not valid [${error.code}]: ${error.statusMessage}\n`);
    return 2;
  }
}

async function runDiagnose(options: HandlerOptions, system: System, proc: ProcessContext): Promise<number> {
  const runtime = readOnlyRuntime(system, proc);
  if (options.user !== undefined && !isSafeUsername(options.user)) {
    proc.err('diagnose: --user must be a login name\n');
    return 2;
  }
  return (await import('./lifecycle/diagnose.js')).diagnoseCommand(runtime, {
    agentLibDir: options.agentLibDir ?? '/var/lib/waagent',
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.json === true ? { json: true } : {}),
  });
}

export async function main(proc: ProcessContext, system: System = createRealSystem()): Promise<number> {
  const [first, ...rest] = proc.argv;
  // The guest agent (and the access-expiry timer) call one bare word: those skip the
  // command-line parser, which costs 2.1 MiB of every enable's memory (docs/performance.md).
  if (first !== undefined && rest.length === 0 && isHandlerOperation(first)) return runLifecycle(first, {}, system, proc);
  const { createProgram, isCommanderExit } = await import('./cli.js');
  let exitCode = 0;
  const program = createProgram(
    {
      lifecycle: (operation, options) => runLifecycle(operation, options, system, proc),
      plan: (requestFile, options) => runPlan(requestFile, options, system, proc),
      diagnose: (options) => runDiagnose(options, system, proc),
    },
    { out: (text) => proc.out(text), err: (text) => proc.err(text) },
    VERSION,
    (code) => {
      exitCode = code;
    },
  );
  try {
    await program.parseAsync([...proc.argv], { from: 'user' });
  } catch (error) {
    if (isCommanderExit(error)) return error.exitCode;
    proc.err('vmaccess failed unexpectedly\n');
    return 1;
  }
  return exitCode;
}
