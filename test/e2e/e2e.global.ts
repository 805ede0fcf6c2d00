import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureAgentModules } from '../sandbox/agent-status.js';
import { buildHandler, REPO_ROOT } from '../sandbox/handler-package.js';
import { ensureNspawn } from '../sandbox/nspawn.js';
import { ensureRootfs, SANDBOX_SUITES } from '../sandbox/rootfs.js';
import { sandboxUnavailableReason } from '../sandbox/sandbox.js';

declare module 'vitest' {
  export interface ProvidedContext {
    e2eResultsFile: string;
    e2eUnavailable: string;
  }
}

export interface ScenarioRecord {
  scenario: string;
  status: 'pass' | 'fail' | 'skipped';
  proof: string;
  seconds: number;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  const line = (row: string[]): string => `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const [header, ...body] = rows;
  return [line(header ?? []), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/**
 * Once per e2e run: build the handler (and the package when the packaging script
 * exists), the Debian roots, systemd-nspawn and the agent's parser; afterwards print the
 * scenario table.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const resultsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'vmaccess-e2e-'));
  const resultsFile = path.join(resultsDir, 'results.jsonl');
  const timings: string[][] = [];
  const unavailable = (await sandboxUnavailableReason()) ?? '';
  const timed = async (label: string, step: () => Promise<unknown>): Promise<void> => {
    const started = Date.now();
    await step();
    timings.push([label, ((Date.now() - started) / 1000).toFixed(1)]);
  };
  if (unavailable === '') {
    const wantPackage = process.env['VMACCESS_E2E_HANDLER'] !== 'tree' && existsSync(path.join(REPO_ROOT, '.ci/package.mjs'));
    // The roots of the releases build side by side (debootstrap waits on the network as
    // much as on the CPU); the package build and downloads run meanwhile.
    await Promise.all([
      timed(wantPackage ? 'npm run build + npm run package' : 'npm run build', () => buildHandler({ package: wantPackage })),
      ...SANDBOX_SUITES.map((suite) => timed(`sandbox root ${suite} (debootstrap, or cached)`, () => ensureRootfs(suite))),
      timed('systemd-nspawn (apt-get download + dpkg-deb -x, or cached)', () => ensureNspawn()),
      timed('guest agent package (apt-get download + dpkg -x, or cached)', () => ensureAgentModules()),
    ]);
  }
  project.provide('e2eResultsFile', resultsFile);
  project.provide('e2eUnavailable', unavailable);
  appendFileSync(resultsFile, '');

  return async () => {
    const records = readFileSync(resultsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ScenarioRecord);
    const out: string[] = ['', 'End-to-end scenarios'];
    if (unavailable !== '') out.push(`SKIPPED: the sandbox is unavailable: ${unavailable}`);
    for (const [label, seconds] of timings) out.push(`  setup: ${label}: ${seconds} s`);
    if (records.length > 0) {
      out.push(table([['scenario', 'status', 'proof', 'seconds'], ...records.map((r) => [r.scenario, r.status, r.proof, r.seconds.toFixed(1)])]));
      const count = (status: ScenarioRecord['status']): number => records.filter((r) => r.status === status).length;
      out.push(`e2e: ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    await fs.rm(resultsDir, { recursive: true, force: true });
  };
}
