import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { toolsWithoutNode } from '../../.ci/package.mjs';
import { statusContractViolations } from '../helpers/status-contract.js';

/**
 * handlers/run, the real shim under the real /bin/sh, in a handler directory laid out
 * like the unpacked package. The runtimes are small scripts that report how they were
 * started, so each case shows which node the shim picked and with what environment.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const machineArch = os.arch() === 'arm64' ? 'arm64' : 'x64';

const REPORTER = `#!/bin/sh
printf 'runtime=%s\\n' "$WHO"
printf 'arg=%s\\n' "$@"
printf 'cache=%s\\n' "\${NODE_COMPILE_CACHE-<unset>}"
printf 'options=%s\\n' "\${NODE_OPTIONS-<unset>}"
`;

describe('handlers/run', () => {
  let dir: string;
  let handlerDir: string;
  let tools: string;
  let pathNode: string;

  async function writeRuntime(file: string, who: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, REPORTER.replace('"$WHO"', `"${who}"`));
    await chmod(file, 0o755);
  }

  function run(args: string[], { withPathNode = true, extraPath = [], env = {} }: { withPathNode?: boolean; extraPath?: string[]; env?: Record<string, string> } = {}) {
    const PATH = [...extraPath, tools, ...(withPathNode ? [pathNode] : [])].join(':');
    // The agent's way: /bin/sh -c '<relative command>' with cwd = the handler directory.
    const result = spawnSync('/bin/sh', ['-c', ['handlers/run', ...args].join(' ')], { cwd: handlerDir, env: { PATH, ...env }, encoding: 'utf8' });
    const lines = result.stdout.split('\n');
    const value = (key: string) => lines.find((line) => line.startsWith(`${key}=`))?.slice(key.length + 1);
    return { status: result.status, stderr: result.stderr, runtime: value('runtime'), cache: value('cache'), options: value('options'), args: lines.filter((line) => line.startsWith('arg=')).map((line) => line.slice(4)) };
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmaccess-shim-'));
    handlerDir = path.join(dir, 'Microsoft.OSTCExtensions.VMAccessForLinux-1.6.0');
    await mkdir(path.join(handlerDir, 'handlers'), { recursive: true });
    await copyFile(path.join(root, 'handlers', 'run'), path.join(handlerDir, 'handlers', 'run'));
    await chmod(path.join(handlerDir, 'handlers', 'run'), 0o755);
    tools = await toolsWithoutNode(dir);
    pathNode = path.join(dir, 'path-node');
    await writeRuntime(path.join(pathNode, 'node'), 'path');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("uses the bundled runtime for this machine's architecture, with a private compile cache and without NODE_OPTIONS", async () => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch, 'bin', 'node'), 'bundled');
    const result = run(['enable'], { env: { NODE_OPTIONS: '--require /tmp/evil.js' } });
    expect(result.status).toBe(0);
    expect(result.runtime).toBe('bundled');
    expect(result.args).toEqual([path.join(handlerDir, 'dist', 'app', 'vmaccess.mjs'), 'enable']);
    expect(result.options).toBe('<unset>');
    expect(result.cache).toBe(path.join(handlerDir, '.cache', 'node-compile'));
    expect((await stat(path.join(handlerDir, '.cache', 'node-compile'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(handlerDir, '.cache'))).mode & 0o077).toBe(0);
  });

  test('ignores a runtime for the other architecture and falls back to node on PATH', async () => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch === 'x64' ? 'arm64' : 'x64', 'bin', 'node'), 'other-arch');
    const result = run(['install'], { env: { NODE_OPTIONS: '--inspect' } });
    expect(result.status).toBe(0);
    expect(result.runtime).toBe('path');
    // A development tree keeps the developer's settings and writes no cache.
    expect(result.options).toBe('--inspect');
    expect(result.cache).toBe('<unset>');
  });

  test('works from the plain built layout (dist/app only) with node on PATH', () => {
    const result = run(['--version']);
    expect(result.status).toBe(0);
    expect(result.runtime).toBe('path');
    expect(result.args).toEqual([path.join(handlerDir, 'dist', 'app', 'vmaccess.mjs'), '--version']);
  });

  test('with no runtime at all it exits 3, says why, and enable still leaves an error status for the agent', async () => {
    const statusFolder = path.join(dir, 'agent-status');
    await writeFile(
      path.join(handlerDir, 'HandlerEnvironment.json'),
      JSON.stringify([{ name: 'Microsoft.OSTCExtensions.VMAccessForLinux', version: 1.0, handlerEnvironment: { statusFolder, logFolder: dir, configFolder: dir } }]).replace(/":/g, '": '),
    );
    const result = run(['enable'], { withPathNode: false, env: { ConfigSequenceNumber: '12' } });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/no Node.js runtime for .+ in the package .+ and none on PATH/);
    const text = await readFile(path.join(statusFolder, '12.status'), 'utf8');
    expect(statusContractViolations(text)).toEqual([]);
    expect(JSON.parse(text)).toMatchObject([{ status: { status: 'error', formattedMessage: { message: expect.stringContaining('[PREREQUISITE_MISSING]') as string } } }]);
    // Other operations have no status file to write.
    expect(run(['disable'], { withPathNode: false }).status).toBe(3);
  });

  test.each([
    ['glibc 2.17', 'path'],
    ['glibc 2.27', 'path'],
    ['glibc 2.28', 'bundled'],
    ['glibc 2.39', 'bundled'],
    ['glibc 3.0', 'bundled'],
    ['garbage', 'path'],
  ])('getconf reporting %j picks the %s runtime', async (reported, expected) => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch, 'bin', 'node'), 'bundled');
    const fake = path.join(dir, 'fake-getconf');
    await mkdir(fake);
    await writeFile(path.join(fake, 'getconf'), `#!/bin/sh\necho '${reported}'\n`);
    await chmod(path.join(fake, 'getconf'), 0o755);
    const result = run(['enable'], { extraPath: [fake] });
    expect(result.status).toBe(0);
    expect(result.runtime).toBe(expected);
    if (expected === 'path') expect(result.stderr).toMatch(/needs glibc 2.28 or later/);
  });

  test('a musl system (no getconf GNU_LIBC_VERSION) without node on PATH gets a clear error', async () => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch, 'bin', 'node'), 'bundled');
    const fake = path.join(dir, 'fake-getconf');
    await mkdir(fake);
    await writeFile(path.join(fake, 'getconf'), '#!/bin/sh\necho "getconf: Unrecognized variable" >&2\nexit 1\n');
    await chmod(path.join(fake, 'getconf'), 0o755);
    const result = run(['enable'], { extraPath: [fake], withPathNode: false });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/needs glibc 2.28/);
  });

  test('remembers the bundled runtime it chose, and only a runtime inside the package', async () => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch, 'bin', 'node'), 'bundled');
    expect(run(['enable']).runtime).toBe('bundled');
    const remembered = await readFile(path.join(handlerDir, '.cache', 'runtime'), 'utf8');
    expect(remembered).toBe(`${machineArch}\n`);
    expect((await stat(path.join(handlerDir, '.cache', 'runtime'))).mode & 0o077).toBe(0);
    // With the choice remembered, neither uname nor getconf is needed any more.
    const noTools = await mkdtemp(path.join(dir, 'empty-'));
    const fast = spawnSync('/bin/sh', ['-c', 'handlers/run enable'], { cwd: handlerDir, env: { PATH: noTools }, encoding: 'utf8' });
    expect(fast.stdout).toContain('runtime=bundled');
    // Anything but an architecture name is ignored (here a path outside the package).
    await writeFile(path.join(handlerDir, '.cache', 'runtime'), `${path.join(pathNode, 'node')}\n`);
    expect(run(['enable']).runtime).toBe('bundled');
  });

  test('runs without a compile cache when the cache folder cannot be made', async () => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch, 'bin', 'node'), 'bundled');
    await writeFile(path.join(handlerDir, '.cache'), 'a file where the folder would go');
    const result = run(['enable']);
    expect(result.status).toBe(0);
    expect(result.runtime).toBe('bundled');
    expect(result.cache).toBe('<unset>');
  });

  test('finds the handler directory from its own path, whatever the working directory', async () => {
    await writeRuntime(path.join(handlerDir, 'runtime', machineArch, 'bin', 'node'), 'bundled');
    const result = spawnSync('/bin/sh', ['-c', `'${path.join(handlerDir, 'handlers', 'run')}' disable`], { cwd: '/', env: { PATH: tools }, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('runtime=bundled');
    expect(result.stdout).toContain(`arg=${path.join(handlerDir, 'dist', 'app', 'vmaccess.mjs')}`);
  });
});
