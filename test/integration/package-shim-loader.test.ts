import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { toolsWithoutNode } from '../../.ci/package.mjs';
import { RUNTIME_LIBS } from '../../.ci/runtime-libs.mjs';

/**
 * handlers/run with a packaged runtime that brings its own loader (runtime/<arch>/lib/),
 * under every POSIX shell this machine has: the one EL7 runs it with is bash as sh, Debian
 * and Ubuntu have dash, small images busybox ash. The loader here is a script that reports
 * its arguments and environment, so each case shows exactly what the shim would exec.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const machineArch = os.arch() === 'arm64' ? 'arm64' : 'x64';
const loaderName = RUNTIME_LIBS.arches[machineArch].loader;

const REPORTER = `#!/bin/sh
printf 'runtime=%s\\n' "$WHO"
printf 'arg=%s\\n' "$@"
/usr/bin/env | while IFS= read -r line; do printf 'env=%s\\n' "$line"; done
`;

/** [label, argv prefix]: which shells run the shim; a missing one is reported, not skipped silently. */
const SHELLS: [string, string[]][] = [
  ['/bin/sh', ['/bin/sh']],
  ['dash', ['dash']],
  ['busybox ash', ['busybox', 'sh']],
  ['bash --posix (EL7 runs bash as sh)', ['bash', '--posix']],
];

/** The shell's absolute path (the shim runs with a PATH of its tools only), or undefined when it is not installed. */
function locate(argv: string[]): string[] | undefined {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', argv[0]!], { encoding: 'utf8' }).stdout.trim();
  if (found === '' || spawnSync(found, [...argv.slice(1), '-c', 'exit 0']).status !== 0) return undefined;
  return [found, ...argv.slice(1)];
}

describe('handlers/run with a runtime that brings its own loader', () => {
  let dir: string;
  let handlerDir: string;
  let tools: string;
  let pathNode: string;

  async function writeScript(file: string, who: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, REPORTER.replace('"$WHO"', `"${who}"`));
    await chmod(file, 0o755);
  }

  async function layOut(into: string, { loader = true }: { loader?: boolean } = {}): Promise<string> {
    await mkdir(path.join(into, 'handlers'), { recursive: true });
    await writeFile(path.join(into, 'handlers', 'run'), await readFile(path.join(root, 'handlers', 'run')));
    await chmod(path.join(into, 'handlers', 'run'), 0o755);
    const runtime = path.join(into, 'runtime', machineArch);
    // node itself must never be executed directly when lib/ is there: it would report "direct".
    await writeScript(path.join(runtime, 'bin', 'node'), 'direct');
    await mkdir(path.join(runtime, 'lib'), { recursive: true });
    await writeFile(path.join(runtime, 'lib', 'libc.so.6'), 'not really a library');
    if (loader) await writeScript(path.join(runtime, 'lib', loaderName), 'loader');
    return runtime;
  }

  function run(shell: string[], args: string[], { cwd = handlerDir, env = {}, extraPath = [] as string[] } = {}) {
    const PATH = [...extraPath, tools, pathNode].join(':');
    const result = spawnSync(shell[0]!, [...shell.slice(1), 'handlers/run', ...args], { cwd, env: { PATH, ...env }, encoding: 'utf8' });
    const lines = result.stdout.split('\n');
    const envLines = lines.filter((line) => line.startsWith('env=')).map((line) => line.slice(4));
    return {
      status: result.status,
      stderr: result.stderr,
      runtime: lines.find((line) => line.startsWith('runtime='))?.slice('runtime='.length),
      args: lines.filter((line) => line.startsWith('arg=')).map((line) => line.slice(4)),
      env: new Map(envLines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])),
    };
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmaccess-shim-loader-'));
    handlerDir = path.join(dir, 'Microsoft.OSTCExtensions.VMAccessForLinux-1.6.0');
    tools = await toolsWithoutNode(dir);
    pathNode = path.join(dir, 'path-node');
    await writeScript(path.join(pathNode, 'node'), 'path');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test.each(SHELLS)('under %s: execs the loader with --library-path, node, the app and the operation, and exports no LD_ variable', async (label, shell) => {
    const located = locate(shell);
    if (located === undefined) throw new Error(`${label} is not installed (.ci/run installs busybox; dash and bash come with Debian)`);
    const runtime = await layOut(handlerDir);
    const result = run(located, ['enable', '--verbose'], { env: { NODE_OPTIONS: '--require /tmp/evil.js', ConfigSequenceNumber: '3' } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.runtime).toBe('loader');
    expect(result.args).toEqual(['--library-path', path.join(runtime, 'lib'), path.join(runtime, 'bin', 'node'), '--max-semi-space-size=1', '--no-opt', '--no-maglev', path.join(handlerDir, 'dist', 'app', 'vmaccess.mjs'), 'enable', '--verbose']);
    // The library folder is an argument of the loader: nothing that node's children would inherit.
    expect([...result.env.keys()].filter((name) => name.startsWith('LD_'))).toEqual([]);
    expect(result.env.has('NODE_OPTIONS')).toBe(false);
    expect(result.env.get('NODE_COMPILE_CACHE')).toBe(path.join(handlerDir, '.cache', 'node-compile'));
    expect(result.env.get('ConfigSequenceNumber')).toBe('3');
    expect(await readFile(path.join(handlerDir, '.cache', 'runtime'), 'utf8')).toBe(`${machineArch}\n`);
  });

  test("passes the agent's own LD_LIBRARY_PATH through untouched, for the VM's programs", async () => {
    await layOut(handlerDir);
    const result = run(['/bin/sh'], ['enable'], { env: { LD_LIBRARY_PATH: '/opt/vendor/lib' } });
    expect(result.runtime).toBe('loader');
    expect(result.env.get('LD_LIBRARY_PATH')).toBe('/opt/vendor/lib');
  });

  test("never asks for the system's glibc version: an EL7-like getconf does not matter", async () => {
    await layOut(handlerDir);
    const fake = path.join(dir, 'fake-getconf');
    await mkdir(fake);
    const marker = path.join(dir, 'getconf-was-called');
    await writeFile(path.join(fake, 'getconf'), `#!/bin/sh\n: > '${marker}'\necho 'glibc 2.17'\n`);
    await chmod(path.join(fake, 'getconf'), 0o755);
    const result = run(['/bin/sh'], ['install'], { extraPath: [fake] });
    expect(result.runtime).toBe('loader');
    expect(await readFile(marker).catch(() => undefined)).toBeUndefined();
  });

  test('with the architecture remembered it needs no tool at all, not even uname', async () => {
    await layOut(handlerDir);
    expect(run(['/bin/sh'], ['install']).runtime).toBe('loader');
    const empty = await mkdtemp(path.join(dir, 'empty-'));
    const result = spawnSync('/bin/sh', ['-c', 'handlers/run enable'], { cwd: handlerDir, env: { PATH: empty }, encoding: 'utf8' });
    expect(result.stdout).toContain('runtime=loader');
  });

  test('a lib/ without the loader falls back to node on PATH and says why', async () => {
    await layOut(handlerDir, { loader: false });
    const result = run(['/bin/sh'], ['enable']);
    expect(result.runtime).toBe('path');
    expect(result.stderr).toContain(`runtime/${machineArch}/lib has no usable ${loaderName}`);
  });

  test("a handler directory whose path holds ':' (a --library-path separator) falls back to node on PATH", async () => {
    const colonDir = path.join(dir, 'odd:dir', 'Microsoft.OSTCExtensions.VMAccessForLinux-1.6.0');
    await layOut(colonDir);
    const result = run(['/bin/sh'], ['enable'], { cwd: colonDir });
    expect(result.runtime).toBe('path');
    expect(result.stderr).toMatch(/contains ':'/);
  });

  test('an architecture with no runtime in the package (uname says riscv64) falls back to node on PATH', async () => {
    await layOut(handlerDir);
    const fake = path.join(dir, 'fake-uname');
    await mkdir(fake);
    await writeFile(path.join(fake, 'uname'), '#!/bin/sh\necho riscv64\n');
    await chmod(path.join(fake, 'uname'), 0o755);
    expect(run(['/bin/sh'], ['enable'], { extraPath: [fake] }).runtime).toBe('path');
  });
});
