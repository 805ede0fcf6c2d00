import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { StepOutcome } from '../../src/actions/action.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import type { Sandbox } from './sandbox.js';

const sandboxDir = path.dirname(fileURLToPath(import.meta.url));
/** Where the runner and node live inside the sandbox: deliberately not on PATH. */
export const RUNNER_DIR_INSIDE = '/opt/vmaccess-test';

export interface ActionRun {
  /** Every step outcome, in order (what enable turns into substatuses). */
  outcomes: StepOutcome[];
  failures: StepOutcome[];
  /** Plan lines (mode `plan` only). */
  plan: string[];
  /** The runner's log (extension.log's JSON lines, debug level): commands run, steps. */
  log: string;
  exitCode: number;
}

export interface ActionRunOptions {
  /** `apply` (default) runs the actions; `plan` only asks them what they would do. */
  mode?: 'apply' | 'plan';
  /** The agent lib dir given to actions (default /var/lib/waagent, where the sandbox's ovf-env.xml is). */
  agentLibDir?: string;
  timeoutMs?: number;
  /** Apply the request this many times in one runner process (default 1). */
  repeat?: number;
  /** argv run as root inside before every repetition. */
  between?: string[];
}

/**
 * Bundles test/sandbox/action-runner.ts (once per sandbox) and puts it, with this
 * machine's node bind-mounted read-only, under /opt/vmaccess-test inside the sandbox.
 */
async function ensureRunner(sandbox: Sandbox): Promise<void> {
  const bundle = path.join(sandbox.tempDir, 'action-runner.mjs');
  if (existsSync(bundle)) return;
  await esbuild.build({
    entryPoints: [path.join(sandboxDir, 'action-runner.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __runnerCreateRequire } from 'node:module'; const require = __runnerCreateRequire(import.meta.url);" },
  });
  await sandbox.bindHostPath(process.execPath, `${RUNNER_DIR_INSIDE}/bin/node`);
  await sandbox.bindHostPath(bundle, `${RUNNER_DIR_INSIDE}/action-runner.mjs`);
}

/**
 * Runs the real actions for an already-validated request inside the sandbox, as root,
 * against the sandbox's real /etc, sshd, useradd, e2fsck... Returns the outcomes.
 * Throws only when the runner itself could not produce a result (a crash).
 */
export async function runActionInSandbox(sandbox: Sandbox, request: VmaccessRequest, options: ActionRunOptions = {}): Promise<ActionRun> {
  await ensureRunner(sandbox);
  const input = JSON.stringify({
    mode: options.mode ?? 'apply',
    request,
    agentLibDir: options.agentLibDir ?? '/var/lib/waagent',
    ...(options.repeat === undefined ? {} : { repeat: options.repeat }),
    ...(options.between === undefined ? {} : { between: options.between }),
  });
  const result = await sandbox.exec([`${RUNNER_DIR_INSIDE}/bin/node`, `${RUNNER_DIR_INSIDE}/action-runner.mjs`], {
    input,
    timeoutMs: options.timeoutMs ?? 240_000,
  });
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  let parsed: { outcomes: StepOutcome[]; failures: StepOutcome[]; plan: string[] };
  try {
    parsed = JSON.parse(lastLine) as typeof parsed;
  } catch {
    throw new Error(`the action runner crashed (exit ${result.exitCode}):\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-4000)}`);
  }
  return { ...parsed, log: result.stderr, exitCode: result.exitCode };
}

/** A request with every field at its "nothing asked" value, to spread overrides into. */
export function emptyRequest(overrides: Partial<VmaccessRequest> = {}): VmaccessRequest {
  return { resetSsh: false, restoreBackupSsh: false, warnings: [], ...overrides };
}
