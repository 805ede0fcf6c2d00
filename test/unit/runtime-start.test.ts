import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ELF_MACHINES, NODE_RUNTIME } from '../../.ci/node-runtime.mjs';
import { RUNTIME_LIBS, runtimeLibFiles } from '../../.ci/runtime-libs.mjs';

/**
 * How the packaged node is started (handlers/run: <loader> --library-path <lib> <node>) and
 * what that asks of the pins and of src/. The real start is proven in
 * test/integration/package-build.test.ts and test/e2e/runtime-old-glibc.test.ts.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const ARCHES = ['x64', 'arm64'] as const;
const DEBIAN_ARCH = { x64: 'amd64', arm64: 'arm64' } as const;

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(full)));
    else if (entry.name.endsWith('.ts')) files.push(full);
  }
  return files;
}

describe('the bundled loader and libraries', () => {
  test.each(ARCHES)('%s: the loader is the one node asks for, and every library node links is shipped', (arch) => {
    const pin = RUNTIME_LIBS.arches[arch];
    expect(pin.loader).toBe(path.basename(ELF_MACHINES[arch].interpreter));
    const names = runtimeLibFiles(arch).map(([name]) => name);
    // node's DT_NEEDED (readelf -d) for both official linux builds.
    for (const needed of ['libdl.so.2', 'libstdc++.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libpthread.so.0', 'libc.so.6', pin.loader]) expect(names).toContain(needed);
    expect(new Set(names).size).toBe(names.length);
    for (const [, inside] of runtimeLibFiles(arch)) expect(inside).toContain(`/${pin.triplet}/`);
  });

  test.each(ARCHES)('%s: each .deb is pinned by version, pool path and sha256 for its Debian architecture', (arch) => {
    const debs = RUNTIME_LIBS.arches[arch].debs;
    expect(debs.map((deb) => deb.package).sort()).toEqual(['gcc-12-base', 'libc6', 'libgcc-s1', 'libstdc++6']);
    for (const deb of debs) {
      expect(deb.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(path.posix.basename(deb.pool)).toBe(`${deb.package}_${deb.version}_${DEBIAN_ARCH[arch]}.deb`);
      expect(deb.pool).toMatch(/^pool\/main\/[a-z0-9]+\/[a-z0-9.+-]+\//);
    }
  });

  test('both architectures ship the same package versions, and the glibc version matches libc6', () => {
    const versions = (arch: 'x64' | 'arm64') => RUNTIME_LIBS.arches[arch].debs.map((deb) => `${deb.package}=${deb.version}`).sort();
    expect(versions('arm64')).toEqual(versions('x64'));
    const libc6 = RUNTIME_LIBS.arches.x64.debs.find((deb) => deb.package === 'libc6');
    expect(libc6?.version.startsWith(`${RUNTIME_LIBS.glibc}-`)).toBe(true);
    expect(NODE_RUNTIME.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('handlers/run names the same loader for each architecture', async () => {
    const shim = await readFile(path.join(root, 'handlers', 'run'), 'utf8');
    for (const arch of ARCHES) expect(shim).toContain(`${arch}) loader=${RUNTIME_LIBS.arches[arch].loader} ;;`);
    expect(shim).toMatch(/exec "\$own_loader" --library-path "\$runtime\/lib" "\$node_bin" --max-semi-space-size=1 --no-opt --no-maglev "\$app" "\$@"/);
    // The library folder must never become an environment variable the VM's programs inherit.
    expect(shim).not.toMatch(/LD_LIBRARY_PATH=|export LD_/);
  });
});

describe('src/ under the bundled loader', () => {
  test('never starts node again through process.execPath (it is the loader there) nor forks', async () => {
    const offenders: string[] = [];
    for (const file of await sourceFiles(path.join(root, 'src'))) {
      const text = await readFile(file, 'utf8');
      if (/process\.execPath|process\.execArgv|\bfork\(|execaNode|node:\s*true/.test(text)) offenders.push(path.relative(root, file));
    }
    expect(offenders).toEqual([]);
  });
});
