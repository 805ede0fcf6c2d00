/**
 * Test-only entry, bundled by actions-in-sandbox.ts and run with node INSIDE a sandbox:
 * reads `{ mode, request, agentLibDir }` as JSON on stdin (secrets travel only there),
 * runs the real actions (src/actions loadActions) against the real system through
 * the same dispatcher enable uses, and prints `{ outcomes, failures, plan }` as JSON.
 * Logs (extension.log's format, debug level, secrets redacted) go to stderr.
 */
import { createSshChangeRequests, type ActionContext } from '../../src/actions/action.js';
import { loadActions } from '../../src/actions/index.js';
import { renderPlan } from '../../src/actions/plan.js';
import { dispatch } from '../../src/lifecycle/dispatch.js';
import { createStreamLogger } from '../../src/handler/log.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { createRealSystem } from '../../src/system/real-system.js';

interface RunnerInput {
  mode: 'apply' | 'plan';
  request: VmaccessRequest;
  agentLibDir: string;
  /** Apply the request this many times in this one process (race tests: no node start per run). */
  repeat?: number;
  /** A command run as root before every repetition (e.g. to put the account's home back). */
  between?: string[];
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const input = JSON.parse(await readStdin()) as RunnerInput;
  const logger = createStreamLogger((line) => process.stderr.write(line));
  const context: ActionContext = {
    system: createRealSystem(),
    logger,
    paths: defaultSystemPaths(),
    ssh: createSshChangeRequests(),
    agentLibDir: input.agentLibDir,
  };
  const actions = await loadActions();
  if (input.mode === 'plan') {
    const plan: string[] = [];
    for (const action of actions) {
      if (!action.wants(input.request)) continue;
      plan.push(...(renderPlan(await action.plan(input.request, context))));
    }
    process.stdout.write(`${JSON.stringify({ outcomes: [], failures: [], plan })}\n`);
    return;
  }
  const outcomes = [];
  const failures = [];
  for (let run = 0; run < (input.repeat ?? 1); run += 1) {
    if (input.between !== undefined) {
      const [file, ...args] = input.between;
      const reset = await context.system.run(file!, args, { timeoutMs: 30_000 });
      if (reset.exitCode !== 0) throw new Error(`between-runs command failed (exit ${reset.exitCode}): ${reset.stderr}`);
    }
    const result = await dispatch(actions, input.request, context);
    outcomes.push(...result.outcomes);
    failures.push(...result.failures);
  }
  process.stdout.write(`${JSON.stringify({ outcomes, failures, plan: [] })}\n`);
}

await main();
