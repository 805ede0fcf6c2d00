import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { assertRuntimeArchitecture } from '../../.ci/node-runtime.mjs';
import { buildPackage, extractZip, hostArch, toolsWithoutNode, type PackageResult } from '../../.ci/package.mjs';

/**
 * npm run package for real: pinned runtimes from the npm registry (cached in
 * .cache/node-runtime/), the bundle, the zip. Built twice, from two copies of the
 * source at different paths, to prove the bytes depend on the source only.
 * Slow (two compressions of ~250 MB): about a minute on two cores.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE_PARTS = ['package.json', 'src', 'handlers', 'resources', 'HandlerManifest.json', 'examples'];

async function copySource(target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  for (const part of SOURCE_PARTS) await cp(path.join(repo, part), path.join(target, part), { recursive: true, preserveTimestamps: false });
  await symlink(path.join(repo, 'node_modules'), path.join(target, 'node_modules'));
}

describe('npm run package', () => {
  let work: string;
  let first: PackageResult;
  let second: PackageResult;
  let unpacked: string;
  const arch = hostArch();

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'vmaccess-package-'));
    // Copies, so that edits in the working tree during the run cannot differ between the two builds.
    // Same depth on purpose: node_modules is a symlink to the repo's, and esbuild names
    // modules by their real path relative to the root (in a real clone it is inside).
    await copySource(path.join(work, 'a'));
    await copySource(path.join(work, 'b'));
    const cacheDir = path.join(repo, '.cache', 'node-runtime');
    first = await buildPackage({ root: path.join(work, 'a'), outDir: path.join(work, 'out-a'), cacheDir, log: () => {}, smoke: false });
    second = await buildPackage({ root: path.join(work, 'b'), outDir: path.join(work, 'out-b'), cacheDir, log: () => {}, smoke: false });
    unpacked = path.join(work, 'lib', 'Microsoft.OSTCExtensions.VMAccessForLinux-' + first.version);
    await extractZip(first.zipFile, unpacked);
  }, 900_000);

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  test('is reproducible: the same source at another path gives the same bytes', async () => {
    expect(path.basename(first.zipFile)).toBe(`Microsoft.OSTCExtensions.VMAccessForLinux-${first.version}.zip`);
    expect(second.sha256).toBe(first.sha256);
    expect(Buffer.compare(await readFile(first.zipFile), await readFile(second.zipFile))).toBe(0);
    expect(await readFile(`${first.zipFile}.sha256`, 'utf8')).toBe(`${first.sha256}  ${path.basename(first.zipFile)}\n`);
  });

  test('takes its version from package.json', async () => {
    const manifest = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    expect(first.version).toBe(manifest.version);
  });

  test('holds the manifest at the root, the handlers, resources, the bundle and both runtimes, and no node_modules', () => {
    const listing = execFileSync('find', ['.', '-type', 'f', '-printf', '%m %P\\n'], { cwd: unpacked, encoding: 'utf8' }).trim().split('\n').sort();
    const modes = new Map(listing.map((line) => [line.slice(line.indexOf(' ') + 1), line.slice(0, line.indexOf(' '))]));
    expect(modes.get('HandlerManifest.json')).toBe('644');
    // Every manifest command is `handlers/run <operation>`: the shim is the one entry.
    expect([...modes.entries()].filter(([name]) => name.startsWith('handlers/'))).toEqual([['handlers/run', '755']]);
    expect(modes.get('dist/app/vmaccess.mjs')).toBe('644');
    expect(modes.get('runtime/x64/bin/node')).toBe('755');
    expect(modes.get('runtime/arm64/bin/node')).toBe('755');
    expect(modes.get('runtime/x64/LICENSE')).toBe('644');
    expect(modes.get('THIRD-PARTY-NOTICES.txt')).toBe('644');
    expect([...modes.keys()].some((name) => name.startsWith('resources/'))).toBe(true);
    expect([...modes.keys()].filter((name) => name.includes('node_modules'))).toEqual([]);
    // Only what runs: no npm, headers or man pages from the runtime packages.
    expect([...modes.keys()].filter((name) => name.startsWith('runtime/')).sort()).toEqual([
      'runtime/arm64/LICENSE',
      'runtime/arm64/bin/node',
      'runtime/x64/LICENSE',
      'runtime/x64/bin/node',
    ]);
    for (const mode of modes.values()) expect(['644', '755']).toContain(mode);
  });

  test('ships an arm64 runtime that is an AArch64 glibc executable and an x64 one that is x86-64', async () => {
    assertRuntimeArchitecture(await readFile(path.join(unpacked, 'runtime', 'arm64', 'bin', 'node')), 'arm64');
    assertRuntimeArchitecture(await readFile(path.join(unpacked, 'runtime', 'x64', 'bin', 'node')), 'x64');
    expect(() => assertRuntimeArchitecture(Buffer.alloc(0), 'x64')).toThrow();
  });

  test('runs from the unpacked zip with no node on PATH: --version and a read-only plan', async () => {
    if (arch === undefined) return;
    const tools = await toolsWithoutNode(work);
    const env = { PATH: tools };
    const version = spawnSync('/bin/sh', ['-c', 'handlers/run --version'], { cwd: unpacked, env, encoding: 'utf8' });
    expect(version.stderr).toBe('');
    expect(version.stdout.trim()).toBe(first.version);
    const plan = spawnSync('/bin/sh', ['-c', `handlers/run plan '${path.join(repo, 'examples', 'add-ssh-key.json')}'`], { cwd: unpacked, env, encoding: 'utf8' });
    expect(plan.status).toBe(0);
    expect(plan.stdout).toMatch(/Nothing was changed/);
    // The shim gave the bundled runtime a compile cache inside the handler directory.
    expect((await stat(path.join(unpacked, '.cache', 'node-compile'))).isDirectory()).toBe(true);
  });
});
