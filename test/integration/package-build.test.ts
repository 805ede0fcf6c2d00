import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NODE_RUNTIME, assertRuntimeArchitecture } from '../../.ci/node-runtime.mjs';
import { buildPackage, extractZip, hostArch, toolsWithoutNode, type PackageResult } from '../../.ci/package.mjs';
import { RUNTIME_LIBS, runtimeLibFiles } from '../../.ci/runtime-libs.mjs';
import { writeMrseq } from '../../src/handler/sequence.js';
import { writeStatus } from '../../src/handler/status.js';
import { parseSettingsFile } from '../../src/settings/settings-file.js';
import { createRealSystem } from '../../src/system/real-system.js';
import { handlerEnvironmentText } from '../helpers/agent-files.js';

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
    // Only what runs: no npm, headers or man pages from the runtime packages; beside each
    // node its loader and the libraries it links, from Debian, and their notices.
    const runtimeFiles = (arch: 'x64' | 'arm64') => [
      `runtime/${arch}/LICENSE`,
      `runtime/${arch}/NOTICES.txt`,
      `runtime/${arch}/bin/node`,
      ...runtimeLibFiles(arch).map(([name]) => `runtime/${arch}/lib/${name}`),
    ];
    expect([...modes.keys()].filter((name) => name.startsWith('runtime/')).sort()).toEqual([...runtimeFiles('arm64'), ...runtimeFiles('x64')].sort());
    for (const arch of ['x64', 'arm64'] as const) {
      expect(modes.get(`runtime/${arch}/lib/${RUNTIME_LIBS.arches[arch].loader}`)).toBe('755');
      expect(modes.get(`runtime/${arch}/lib/libc.so.6`)).toBe('644');
    }
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
  test("the agent's repeated enable on the bundled runtime reads and answers: no fs/promises, no streams, no child processes, no node:crypto", async () => {
    if (arch === undefined) return;
    // A handler folder whose seq 0 (the agent's empty 0.settings) is already applied, written
    // by the handler's own status code; the run below must only read it.
    const agent = path.join(work, 'agent-noop');
    const system = createRealSystem();
    await mkdir(path.join(agent, 'config'), { recursive: true });
    await writeFile(path.join(agent, 'HandlerEnvironment.json'), handlerEnvironmentText(agent, path.join(agent, 'log')));
    await writeFile(path.join(agent, 'config', '0.settings'), '');
    const digest = parseSettingsFile('', { isNoSettingsMarker: true }).digest;
    await writeStatus(system, path.join(agent, 'status'), 0, { operation: 'Enable', status: 'success', code: 0, message: 'done', substatus: [], completion: { settingsDigest: digest, complete: true } }, 'Microsoft.OSTCExtensions.VMAccessForLinux');
    await writeMrseq(system, agent, 0);
    const statusBefore = await readFile(path.join(agent, 'status', '0.status'), 'utf8');
    // Reports, at exit, the built-in modules node loaded (written without touching process.stderr, a stream itself).
    const reporter = path.join(work, 'loaded-modules.mjs');
    await writeFile(reporter, "import { createRequire } from 'node:module';\nconst fs = createRequire(import.meta.url)('node:fs');\nprocess.on('exit', () => fs.writeSync(2, JSON.stringify(process.moduleLoadList)));\n");
    const lib = path.join(unpacked, 'runtime', arch, 'lib');
    const node = path.join(unpacked, 'runtime', arch, 'bin', 'node');
    const result = spawnSync(path.join(lib, RUNTIME_LIBS.arches[arch].loader), ['--library-path', lib, node, '--import', reporter, path.join(unpacked, 'dist', 'app', 'vmaccess.mjs'), 'enable'], {
      cwd: agent,
      env: { PATH: '/usr/bin:/bin', ConfigSequenceNumber: '0' },
      encoding: 'utf8',
    });
    expect(result.stdout).toBe('seq 0 already applied\n');
    expect(result.status).toBe(0);
    const loaded = (JSON.parse(result.stderr) as string[]).filter((name) => name.startsWith('NativeModule '));
    expect(loaded).toContain('NativeModule internal/fs/utils');
    for (const absent of ['internal/fs/promises', 'internal/streams/readable', 'child_process', 'crypto', 'net']) expect(loaded).not.toContain(`NativeModule ${absent}`);
    expect(await readFile(path.join(agent, 'status', '0.status'), 'utf8')).toBe(statusBefore);
  });

  test("runs node on the bundled glibc while the programs it starts get this machine's libraries and no LD_ variable", () => {
    if (arch === undefined) return;
    const lib = path.join(unpacked, 'runtime', arch, 'lib');
    const script = [
      "const { execFileSync } = require('node:child_process');",
      "const own = require('node:fs').readFileSync('/proc/self/maps', 'utf8');",
      "const child = execFileSync('/bin/sh', ['-c', 'env; cat /proc/self/maps'], { encoding: 'utf8' });",
      // NSS inside node: glibc's built-in files backend reads this machine's /etc/passwd.
      'console.log(JSON.stringify({ own, child, user: require("node:os").userInfo().username, execPath: process.execPath }));',
    ].join('\n');
    const result = spawnSync(path.join(lib, RUNTIME_LIBS.arches[arch].loader), ['--library-path', lib, path.join(unpacked, 'runtime', arch, 'bin', 'node'), '-e', script], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const { own, child, user, execPath } = JSON.parse(result.stdout) as { own: string; child: string; user: string; execPath: string };
    expect(own).toContain(path.join(lib, 'libc.so.6'));
    expect(child).not.toContain(unpacked);
    expect(child).toMatch(/\/libc\.so\.6$/m);
    expect(child.split('\n').filter((line) => line.startsWith('LD_'))).toEqual([]);
    expect(user).toBe(os.userInfo().username);
    // /proc/self/exe is the loader: re-running process.execPath would not start node (src/ never does, see test/unit/runtime-start.test.ts).
    expect(execPath).toBe(path.join(lib, RUNTIME_LIBS.arches[arch].loader));
  });

  describe('arm64 runtime under qemu-user', () => {
    const qemu = '/usr/bin/qemu-aarch64-static';
    const lib = () => path.join(unpacked, 'runtime', 'arm64', 'lib');
    const ready = () => {
      if (existsSync(qemu)) return true;
      // .ci/run installs qemu-user-static; only a developer without root may lack it.
      if (process.getuid?.() === 0) throw new Error(`${qemu} is missing: install qemu-user-static (.ci/run does)`);
      console.warn(`skipped: ${qemu} is missing and this is not root (apt-get install qemu-user-static)`);
      return false;
    };

    test('node -e: the AArch64 node starts on the bundled loader and libraries, and its children run natively', () => {
      if (!ready()) return;
      const script = [
        "const { createHash } = require('node:crypto');",
        "const zlib = require('node:zlib');",
        "const round = zlib.gunzipSync(zlib.gzipSync('vmaccess')).toString();",
        "const child = require('node:child_process').execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();",
        "console.log(JSON.stringify({ arch: process.arch, version: process.version, sha: createHash('sha256').update(round).digest('hex').slice(0, 8), child, when: new Intl.DateTimeFormat('en', { timeZone: 'UTC' }).format(0) }));",
      ].join('\n');
      const result = spawnSync(qemu, [path.join(lib(), RUNTIME_LIBS.arches.arm64.loader), '--library-path', lib(), path.join(unpacked, 'runtime', 'arm64', 'bin', 'node'), '-e', script], {
        env: { PATH: '/usr/bin:/bin' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toEqual({ arch: 'arm64', version: `v${NODE_RUNTIME.version}`, sha: createHash('sha256').update('vmaccess').digest('hex').slice(0, 8), child: os.machine(), when: '1/1/1970' });
    });

    test("handlers/run plan examples/add-ssh-key.json on arm64 (uname says aarch64; the loader runs under qemu)", async () => {
      if (!ready()) return;
      // A handler directory that links the unpacked package, except that the arm64 loader
      // is a script handing the real one to qemu: what the shim execs is unchanged.
      const armDir = path.join(work, 'arm', path.basename(unpacked));
      const armLib = path.join(armDir, 'runtime', 'arm64', 'lib');
      await mkdir(path.join(armDir, 'handlers'), { recursive: true });
      await cp(path.join(unpacked, 'handlers', 'run'), path.join(armDir, 'handlers', 'run'));
      await symlink(path.join(unpacked, 'dist'), path.join(armDir, 'dist'));
      await mkdir(path.join(armDir, 'runtime', 'arm64', 'bin'), { recursive: true });
      await symlink(path.join(unpacked, 'runtime', 'arm64', 'bin', 'node'), path.join(armDir, 'runtime', 'arm64', 'bin', 'node'));
      await mkdir(armLib);
      const loader = RUNTIME_LIBS.arches.arm64.loader;
      for (const [name] of runtimeLibFiles('arm64')) if (name !== loader) await symlink(path.join(lib(), name), path.join(armLib, name));
      await writeFile(path.join(armLib, loader), `#!/bin/sh\nexec ${qemu} '${path.join(lib(), loader)}' "$@"\n`, { mode: 0o755 });
      const fakeBin = path.join(work, 'arm-bin');
      await mkdir(fakeBin, { recursive: true });
      await writeFile(path.join(fakeBin, 'uname'), '#!/bin/sh\necho aarch64\n', { mode: 0o755 });
      const env = { PATH: `${fakeBin}:${await toolsWithoutNode(path.join(work, 'arm'))}` };
      const plan = spawnSync('/bin/sh', ['-c', `handlers/run plan '${path.join(repo, 'examples', 'add-ssh-key.json')}'`], { cwd: armDir, env, encoding: 'utf8', timeout: 120_000 });
      expect(plan.stderr).toBe('');
      expect(plan.status).toBe(0);
      expect(plan.stdout).toMatch(/Nothing was changed/);
      expect(await readFile(path.join(armDir, '.cache', 'runtime'), 'utf8')).toBe('arm64\n');
    });
  });
});
