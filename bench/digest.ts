import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { JS_DIGEST_BUDGET_BYTES } from '../src/actions/file-digest.js';
import { bundledNodeCommand } from './startup.js';
import { median, ms, type Table } from './table.js';

/**
 * What a file digest costs the handler, cold: each sample is a fresh process of the
 * packaged runtime with the V8 flags handlers/run gives it, timing from before the
 * import to the digest. "JavaScript" is @noble/hashes' sha256 (what src/actions/file-digest.ts
 * uses up to its budget), "node:crypto" is loading node:crypto and hashing with it.
 * The crossover is where JS_DIGEST_BUDGET_BYTES belongs.
 */

export interface DigestOptions {
  handlerDir: string;
  arch: 'x64' | 'arm64';
  runs: number;
}

const SIZES_KIB = [1, 4, 16, 24, 32, 64, 256];

const PROBE = `
const [libraryUrl, sizeText, which] = process.argv.slice(1);
const data = new Uint8Array(Number(sizeText)).map((_, index) => (index * 31) & 0xff);
const started = performance.now();
if (which === 'js') (await import(libraryUrl)).sha256(data);
else (await import('node:crypto')).createHash('sha256').update(data).digest();
console.log(performance.now() - started);
`;

/** The V8 flags handlers/run starts the bundled runtime with. */
export function handlerFlags(handlerDir: string): string[] {
  const shim = readFileSync(path.join(handlerDir, 'handlers', 'run'), 'utf8');
  const flags = /"\$node_bin" ((?:--[\w=-]+ )+)"\$app"/.exec(shim)?.[1];
  if (flags === undefined) throw new Error('cannot find the V8 flags in handlers/run');
  return flags.trim().split(' ');
}

function sample(command: ReturnType<typeof bundledNodeCommand>, flags: string[], libraryUrl: string, bytes: number, which: 'js' | 'node'): number {
  const { file, args } = command.start([...flags, '--input-type=module', '-e', PROBE, libraryUrl, String(bytes), which]);
  const result = spawnSync(file, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`digest probe exited ${result.status ?? result.signal}: ${result.stderr.slice(0, 400)}`);
  return Number(result.stdout.trim());
}

export function runDigestBench(options: DigestOptions): Table {
  const command = bundledNodeCommand(options.handlerDir, options.arch);
  const flags = handlerFlags(options.handlerDir);
  const libraryUrl = pathToFileURL(createRequire(path.join(process.cwd(), 'package.json')).resolve('@noble/hashes/sha2.js')).href;
  const rows = SIZES_KIB.map((kib) => {
    const js: number[] = [];
    const native: number[] = [];
    for (let round = 0; round < options.runs; round += 1) {
      js.push(sample(command, flags, libraryUrl, kib * 1024, 'js'));
      native.push(sample(command, flags, libraryUrl, kib * 1024, 'node'));
    }
    return [`${kib} KiB`, ms(median(js)), ms(median(native)), `${(median(js) / median(native)).toFixed(2)}x`];
  });
  return {
    title: `(d) sha256 of one file, cold, packaged runtime with ${flags.join(' ')}: median of ${options.runs} fresh processes`,
    headers: ['bytes', 'JavaScript (@noble/hashes) ms', 'node:crypto, loaded for it, ms', 'JavaScript / node:crypto'],
    rows,
    notes: [
      `Timed inside the process, from before the import to the digest. The handler hashes in JavaScript until an enable has hashed ${JS_DIGEST_BUDGET_BYTES / 1024} KiB (JS_DIGEST_BUDGET_BYTES), then loads node:crypto; a request with an SSH key loads it anyway to check the key.`,
    ],
  };
}
