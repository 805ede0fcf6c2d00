import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { runDigestBench } from './digest.js';
import { runE2eEnableBench } from './e2e-enable.js';
import { runScalingBench } from './scaling.js';
import { runStartupBench } from './startup.js';
import { formatTable } from './table.js';

/**
 * npm run bench (via .ci/bench.mjs, which builds and unpacks the package first).
 * Arguments: --handler-dir <unpacked package> --arch <x64|arm64> [--runs N] [--only startup|scaling|digest|e2e]
 * [--package-zip <zip> --package-version <v>] [--e2e-runs N]
 */

function option(args: readonly string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
}

/** The Node.js the packaged handler runs on (the shim's first choice), with its version. */
function handlerRuntime(handlerDir: string | undefined, arch: string | undefined): string {
  if (handlerDir === undefined || arch === undefined) return 'unknown';
  const node = path.join(handlerDir, 'runtime', arch, 'bin', 'node');
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return version.status === 0 ? `packaged Node.js ${version.stdout.trim()} (runtime/${arch}/bin/node)` : `node on PATH (no runtime/${arch} in the package)`;
}

async function main(args: readonly string[]): Promise<void> {
  const only = option(args, '--only');
  const load = os.loadavg().map((value) => value.toFixed(2)).join(' ');
  console.log(`# vmaccess benchmarks\n\n${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${os.hostname()}: ${os.type()} ${os.release()} ${os.arch()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${load}; handler runtime ${handlerRuntime(option(args, '--handler-dir'), option(args, '--arch'))}; bench driver Node.js ${process.version}\n`);
  if (only === undefined || only === 'startup') {
    const handlerDir = option(args, '--handler-dir');
    const arch = option(args, '--arch');
    if (handlerDir === undefined || (arch !== 'x64' && arch !== 'arm64')) throw new Error('--handler-dir and --arch x64|arm64 are required');
    const runs = Number(option(args, '--runs') ?? 21);
    console.log(formatTable(runStartupBench({ handlerDir, arch, runs, memoryRuns: Math.max(3, Math.min(7, runs)) })));
  }
  if (only === undefined || only === 'scaling') console.log(formatTable(runScalingBench()));
  if (only === undefined || only === 'e2e') {
    const zip = option(args, '--package-zip');
    const version = option(args, '--package-version');
    const pkg = zip !== undefined && version !== undefined ? { kind: 'zip' as const, path: zip, version } : undefined;
    for (const table of await runE2eEnableBench({ runs: Number(option(args, '--e2e-runs') ?? 21), pkg })) console.log(formatTable(table));
  }
  if (only === undefined || only === 'digest') {
    const handlerDir = option(args, '--handler-dir');
    const arch = option(args, '--arch');
    if (handlerDir === undefined || (arch !== 'x64' && arch !== 'arm64')) throw new Error('--handler-dir and --arch x64|arm64 are required');
    console.log(formatTable(runDigestBench({ handlerDir, arch, runs: Number(option(args, '--runs') ?? 21) })));
  }
}

await main(process.argv.slice(2));
