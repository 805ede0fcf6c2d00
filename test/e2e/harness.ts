import { appendFileSync } from 'node:fs';
import { inject, test, type TestContext } from 'vitest';
import { createGuestAgent, type GuestAgent } from '../sandbox/guest-agent.js';
import { createSandbox, type Sandbox, type SandboxOptions } from '../sandbox/sandbox.js';
import type { ScenarioRecord } from './e2e.global.js';

export interface ScenarioContext {
  sandbox: Sandbox;
  agent: GuestAgent;
  /** Record what was proven, for the table (short: "ssh key login + sudo -n true"). */
  proof: (text: string) => void;
  test: TestContext;
}

function record(entry: ScenarioRecord): void {
  appendFileSync(inject('e2eResultsFile'), `${JSON.stringify(entry)}\n`);
}

/**
 * One end-to-end scenario: a fresh sandbox (destroyed afterwards; kept on failure with
 * VMACCESS_SANDBOX_KEEP=failed, always with =1), a guest agent for it, and a row in
 * the table printed at the end of the run.
 */
export function scenario(
  name: string,
  body: (context: ScenarioContext) => Promise<void>,
  options: { sandbox?: SandboxOptions; timeoutMs?: number } = {},
): void {
  test(
    name,
    async (testContext) => {
      const unavailable = inject('e2eUnavailable');
      if (unavailable !== '') {
        record({ scenario: name, status: 'skipped', proof: unavailable, seconds: 0 });
        testContext.skip(`sandbox unavailable: ${unavailable}`);
        return;
      }
      const started = Date.now();
      const proofs: string[] = [];
      let failed = true;
      let sandbox: Sandbox | undefined;
      try {
        sandbox = await createSandbox(options.sandbox);
        const agent = await createGuestAgent(sandbox);
        await body({ sandbox, agent, proof: (text) => proofs.push(text), test: testContext });
        failed = false;
        record({ scenario: name, status: 'pass', proof: proofs.join('; '), seconds: (Date.now() - started) / 1000 });
      } catch (error) {
        const message = (error instanceof Error ? error.message : String(error)).split('\n').find((line) => line.trim() !== '') ?? '';
        record({ scenario: name, status: 'fail', proof: `FAILED: ${message.slice(0, 160)}`, seconds: (Date.now() - started) / 1000 });
        throw error;
      } finally {
        await sandbox?.destroy({ keep: failed && process.env['VMACCESS_SANDBOX_KEEP'] === 'failed' });
      }
    },
    options.timeoutMs ?? 300_000,
  );
}
