import { expect } from 'vitest';
import type { AgentReportedStatus } from '../sandbox/agent-status.js';
import type { AgentCommandResult, GuestAgent, InstalledHandler, SettingsSpec } from '../sandbox/guest-agent.js';
import { currentHandlerPackage } from '../sandbox/handler-package.js';
import type { Sandbox } from '../sandbox/sandbox.js';

/** Shared steps of the end-to-end scenarios: drive the agent, read what it would report. */

export interface EnableOutcome {
  handler: InstalledHandler;
  result: AgentCommandResult;
  /** The status file as the handler wrote it. */
  status: StatusFile;
  /** What the real guest agent would send upstream for it. */
  reported: AgentReportedStatus;
}

export interface StatusFile {
  status: {
    status: string;
    code: number;
    operation?: string;
    formattedMessage: { lang: string; message: string };
    substatus?: { name: string; status: string; code: number; formattedMessage: { lang: string; message: string } }[];
  };
}

/** First install of the current package with these settings as sequence number `seq`, then enable. */
export async function installAndEnable(agent: GuestAgent, seq: number, settings: SettingsSpec): Promise<EnableOutcome> {
  const pkg = await currentHandlerPackage();
  const { handler, results } = await agent.install(pkg, seq, settings);
  const install = results[0];
  expect(install?.exitCode, `install failed: ${install?.agentMessage ?? ''}`).toBe(0);
  const result = results[1];
  if (result === undefined) throw new Error('enable did not run');
  return { handler, result, ...(await readOutcome(agent, handler, seq)) };
}

/** A new goal state for an installed handler: settings `seq`, then enable (§4.2). */
export async function enableAgain(agent: GuestAgent, handler: InstalledHandler, seq: number, settings: SettingsSpec): Promise<EnableOutcome> {
  const result = await agent.enable(handler, seq, settings);
  return { handler, result, ...(await readOutcome(agent, handler, seq)) };
}

async function readOutcome(agent: GuestAgent, handler: InstalledHandler, seq: number): Promise<{ status: StatusFile; reported: AgentReportedStatus }> {
  const document = (await agent.readStatus(handler, seq)) as StatusFile[] | undefined;
  const status = document?.[0];
  if (status === undefined) throw new Error(`enable wrote no status/${seq}.status`);
  const reported = await agent.agentStatus(handler, seq);
  return { status, reported };
}

function messages(outcome: EnableOutcome): string {
  return [outcome.status.status.formattedMessage.message, ...(outcome.status.status.substatus ?? []).map((s) => s.formattedMessage.message)].join('\n');
}

/** Expect the enable to end in `expected`, within every limit the agent imposes. */
export function expectEnable(outcome: EnableOutcome, expected: 'success' | 'warning' | 'error'): void {
  const text = messages(outcome);
  expect(outcome.reported.status, `status: ${text.replace(/\n/g, " / ")}\n${outcome.result.agentMessage}`).toBe(expected);
  expect(outcome.result.exitCode === 0, `exit ${outcome.result.exitCode} with status ${outcome.reported.status}`).toBe(expected !== 'error');
  expect(outcome.result.touchedAgentFiles, 'enable changed files the agent owns').toEqual([]);
  expect(outcome.result.stderr, 'the handler reported an internal defect').not.toContain('internal defect');
  expect(outcome.status.status.formattedMessage.message.length, 'status message over the 1024 characters the agent keeps').toBeLessThanOrEqual(1024);
  // The agent ships this text to telemetry: it must stay short (3200 characters are kept).
  expect(outcome.result.stdout.length + outcome.result.stderr.length, 'command output length').toBeLessThan(3200);
}

/** The error code (string form, e.g. USER_PROTECTED) somewhere in the status messages. */
export function expectErrorCode(outcome: EnableOutcome, code: string): void {
  expect(messages(outcome)).toContain(code);
}

/**
 * No secret anywhere it could leak: the command output the agent ships to telemetry,
 * the status file, the handler's log and events, the settings file after use.
 */
export async function expectNoSecretLeak(sandbox: Sandbox, outcome: EnableOutcome, secrets: readonly string[]): Promise<void> {
  for (const secret of secrets) {
    expect(outcome.result.stdout.includes(secret) || outcome.result.stderr.includes(secret), 'secret in command output').toBe(false);
    expect(JSON.stringify(outcome.status).includes(secret), 'secret in status').toBe(false);
  }
  // grep reads the patterns on stdin, so the secrets never reach a command line.
  const found = await sandbox.exec(['grep', '-rlF', '-f', '-', '/var/log/azure', outcome.handler.dir, '/var/cache/vmaccess', '/tmp'], {
    input: `${secrets.join('\n')}\n`,
  });
  expect(found.stdout, 'files containing a secret').toBe('');
}

/**
 * Fingerprint of what a request could change: /etc (contents, modes, owners), homes,
 * root's and users' SSH files. Equal snapshots mean nothing was changed there.
 */
export async function snapshot(sandbox: Sandbox, extraPaths: readonly string[] = []): Promise<string> {
  const result = await sandbox.exec([
    'sh',
    '-c',
    'find /etc /home "$@" -xdev \\( -type f -o -type l -o -type d \\) -printf "%p %M %u %g %s %l\\n" 2>/dev/null | sort; find /etc /home "$@" -xdev -type f -exec sha256sum {} + 2>/dev/null | sort',
    'snapshot',
    ...extraPaths,
  ]);
  return result.stdout;
}

/** Lines that differ between two snapshots, for a readable assertion message. */
export function snapshotDiff(before: string, after: string): string[] {
  const a = new Set(before.split('\n'));
  const b = new Set(after.split('\n'));
  return [...[...a].filter((line) => !b.has(line)).map((line) => `- ${line}`), ...[...b].filter((line) => !a.has(line)).map((line) => `+ ${line}`)];
}

/** Log in with a key and run `sudo -n true`; returns the login's exit code and output. */
export async function keyLoginWithSudo(sandbox: Sandbox, user: string, identityFile: string): Promise<{ exitCode: number; output: string }> {
  const login = await sandbox.ssh(user, { identityFile }, 'id -un && sudo -n true && echo sudo-ok');
  return { exitCode: login.exitCode, output: `${login.stdout}${login.stderr}` };
}

/** Assert two texts are equal, failing with a line diff rather than two long strings. */
export function expectSameText(actual: string | undefined, expected: string | undefined, what: string): void {
  if (actual === expected) return;
  const a = (expected ?? '<missing>').split('\n');
  const b = (actual ?? '<missing>').split('\n');
  const first = a.findIndex((line, index) => line !== b[index]);
  const at = first === -1 ? Math.min(a.length, b.length) : first;
  throw new Error(
    `${what} differs from line ${at + 1} (expected ${a.length} lines, got ${b.length}):\n` +
      `- ${JSON.stringify(a.slice(at, at + 3))}\n+ ${JSON.stringify(b.slice(at, at + 3))}`,
  );
}
