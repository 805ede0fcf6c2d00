import type { Action, ActionPlan, StepOutcome } from '../../src/actions/action.js';
import { createEventSink } from '../../src/handler/events.js';
import type { HandlerEnvironment } from '../../src/handler/handler-environment.js';
import { createSilentLogger } from '../../src/handler/log.js';
import type { Invocation, Runtime } from '../../src/lifecycle/runtime.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { FakeSystem } from '../fakes/fake-system.js';
import { settingsDocument } from './agent-files.js';

/** A handler directory laid out as the agent lays it out, on a FakeSystem. */

export const HANDLER_NAME = 'Microsoft.OSTCExtensions.VMAccessForLinux';
export const LIB_DIR = '/var/lib/waagent';
export const HANDLER_DIR = `${LIB_DIR}/${HANDLER_NAME}-1.6.0`;
export const THUMBPRINT = '1BE9A13AA1321C7C515EF109746998BAB6D86FD1';

export function handlerEnvironment(handlerDir = HANDLER_DIR): HandlerEnvironment {
  return {
    name: HANDLER_NAME,
    logFolder: `/var/log/azure/${HANDLER_NAME}`,
    configFolder: `${handlerDir}/config`,
    statusFolder: `${handlerDir}/status`,
    heartbeatFile: `${handlerDir}/heartbeat.log`,
    eventsFolder: `/var/log/azure/${HANDLER_NAME}/events`,
    handlerDir,
  };
}

/**
 * The fake openssl "decrypts" blobs made by fakeEncrypt: base64 of `FAKE:` + JSON.
 * Real decryption is covered with the real openssl in protected-settings.test.ts.
 */
export function fakeEncrypt(settings: unknown): string {
  return Buffer.from(`FAKE:${JSON.stringify(settings)}`).toString('base64');
}

export function createAgentLayout(): FakeSystem {
  const system = new FakeSystem();
  const env = handlerEnvironment();
  system.addDir(env.configFolder, 0o700).addDir(env.statusFolder, 0o700).addDir(env.logFolder);
  system.addFile(`${LIB_DIR}/${THUMBPRINT}.crt`, 'certificate', { mode: 0o400 });
  system.addFile(`${LIB_DIR}/${THUMBPRINT}.prv`, 'key', { mode: 0o400 });
  system.onCommand('openssl', (call) => {
    const text = call.input ?? '';
    if (call.args[0] !== 'cms' || !text.startsWith('FAKE:')) return { exitCode: 4, stderr: 'Error decrypting CMS structure' };
    return { stdout: text.slice('FAKE:'.length) };
  });
  return system;
}

export function writeSettings(
  system: FakeSystem,
  seq: number,
  publicSettings: unknown,
  protectedSettings: Record<string, unknown> | null,
  options: { mtimeMs?: number } = {},
): void {
  const blob = protectedSettings === null ? null : fakeEncrypt(protectedSettings);
  const text = settingsDocument(publicSettings, blob, protectedSettings === null ? null : THUMBPRINT);
  system.addFile(`${handlerEnvironment().configFolder}/${seq}.settings`, text, { mode: 0o600, ...(options.mtimeMs === undefined ? {} : { mtimeMs: options.mtimeMs }) });
}

/** An action that records what it was asked and returns scripted outcomes. */
export class RecordingAction implements Action {
  readonly requests: VmaccessRequest[] = [];
  outcomes: StepOutcome[] = [{ name: 'user', result: 'changed', message: 'did the thing' }];
  failWith: Error | undefined;

  constructor(readonly name: 'disk' | 'user' | 'ssh' = 'user') {}

  wants(request: VmaccessRequest): boolean {
    return this.name === 'user' ? request.account !== undefined || request.removeUser !== undefined : this.name === 'disk' ? request.disk !== undefined : request.resetSsh;
  }

  plan(request: VmaccessRequest): Promise<ActionPlan<VmaccessRequest>> {
    return Promise.resolve({ action: this.name, steps: [{ name: this.name, changes: true, summary: 'would act' }], files: [], commands: [], firewall: [], notes: [], detail: request });
  }

  apply(plan: ActionPlan<VmaccessRequest>): Promise<StepOutcome[]> {
    this.requests.push(plan.detail);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve(this.outcomes);
  }
}

export function createRuntime(system: FakeSystem, actions: Action[], printed: string[] = []): Runtime {
  return {
    system,
    logger: createSilentLogger(),
    paths: defaultSystemPaths(),
    loadActions: () => Promise.resolve(actions),
    pid: 4242,
    print: (line) => printed.push(line),
  };
}

export function createInvocation(system: FakeSystem, sequenceFromAgent: string | undefined, variables: Record<string, string> = {}): Invocation {
  const environment = handlerEnvironment();
  return {
    environment,
    sequenceFromAgent,
    agentLibDir: LIB_DIR,
    events: createEventSink(system, environment.eventsFolder, { version: '1.6.0', operationId: 'op-1', pid: 4242 }),
    agentVariables: variables,
  };
}

export function statusText(system: FakeSystem, seq: number): string | undefined {
  return system.text(`${handlerEnvironment().statusFolder}/${seq}.status`);
}

export function statusOf(system: FakeSystem, seq: number): { status: string; code: number; message: string; substatus: { name: string; status: string; message: string }[] } {
  const text = statusText(system, seq);
  if (text === undefined) throw new Error(`no status file for seq ${seq}`);
  const [first] = JSON.parse(text) as [{ status: { status: string; code: number; formattedMessage: { message: string }; substatus: { name: string; status: string; formattedMessage: { message: string } }[] } }];
  return {
    status: first.status.status,
    code: first.status.code,
    message: first.status.formattedMessage.message,
    substatus: first.status.substatus.map((entry) => ({ name: entry.name, status: entry.status, message: entry.formattedMessage.message })),
  };
}
