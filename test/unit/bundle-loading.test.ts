import { describe, expect, test } from 'vitest';
import { bundleApp, type BundleMetafile } from '../../.ci/bundle.mjs';

/**
 * What the agent's commands load, read from the bundle's own module graph: every MB a
 * library costs is paid by every enable (docs/performance.md), so the libraries an
 * agent command does not need stay out of what it imports.
 */

type Metafile = BundleMetafile;

const built = bundleApp();

/** Outputs reachable from `start` through static imports only: what is loaded before any dynamic import() runs. */
function staticClosure(metafile: Metafile, start: string): Set<string> {
  const seen = new Set<string>();
  const pending = [start];
  while (pending.length > 0) {
    const next = pending.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    for (const entry of metafile.outputs[next]?.imports ?? []) if (entry.kind === 'import-statement' && entry.path in metafile.outputs) pending.push(entry.path);
  }
  return seen;
}

function outputOf(metafile: Metafile, input: string): string {
  const name = Object.keys(metafile.outputs).find((key) => input in metafile.outputs[key]!.inputs);
  if (name === undefined) throw new Error(`${input} is in no output`);
  return name;
}

function inputsOf(metafile: Metafile, outputs: Iterable<string>): string[] {
  return [...outputs].flatMap((output) => Object.keys(metafile.outputs[output]?.inputs ?? {}));
}

describe('what an agent command loads', () => {
  test('enable, up to the request: no command-line parser, no child-process library, no logging library', async () => {
    const { metafile } = await built;
    const loaded = inputsOf(metafile, [...staticClosure(metafile, outputOf(metafile, 'src/main.ts')), ...staticClosure(metafile, outputOf(metafile, 'src/lifecycle/enable.ts'))]);
    expect(loaded).toContain('src/main.ts');
    expect(loaded.filter((input) => /node_modules\/(commander|execa|pino)\//.test(input))).toEqual([]);
    // The parser is still there for people at a shell, loaded on demand.
    expect(inputsOf(metafile, Object.keys(metafile.outputs)).some((input) => input.includes('node_modules/commander/'))).toBe(true);
  }, 60_000);

  test('node:crypto is never imported: only src/node-crypto.ts loads it, on first use', async () => {
    const { metafile } = await built;
    const importers = Object.entries(metafile.outputs)
      .filter(([, output]) => output.imports.some((entry) => entry.path === 'node:crypto' || entry.path === 'crypto'))
      .map(([name]) => name);
    expect(importers).toEqual([]);
  }, 60_000);

  test("the schema brings zod's core, not its translations of every error message", async () => {
    const { metafile } = await built;
    const zod = inputsOf(metafile, Object.keys(metafile.outputs)).filter((input) => input.includes('node_modules/zod/'));
    expect(zod.length).toBeGreaterThan(0);
    expect(zod.filter((input) => input.includes('/locales/') && !input.endsWith('/locales/en.js'))).toEqual([]);
  }, 60_000);
});
