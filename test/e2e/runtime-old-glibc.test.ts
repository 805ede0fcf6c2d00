import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { expect } from 'vitest';
import { RUNTIME_LIBS } from '../../.ci/runtime-libs.mjs';
import { REPO_ROOT } from '../sandbox/handler-package.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { scenario } from './harness.js';
import { expectEnable, installAndEnable, keyLoginWithSudo } from './steps.js';

/**
 * The packaged handler on a VM whose C library the official Node.js binary cannot use.
 *
 * The archive serves no Debian release older than glibc 2.28, so the root is the e2e
 * Debian 12 root with one change: its libm.so.6 no longer defines the symbol version
 * GLIBC_2.27 (the name in its version table is altered; the code is untouched). The
 * official node binary needs libm's GLIBC_2.27 (expf, powf, ...), which is exactly what
 * stops it on CentOS/RHEL/Oracle Linux 7 (glibc 2.17): "version `GLIBC_2.27' not found".
 * Nothing the handler starts (useradd, chpasswd, sshd, ssh-keygen, sh) needs that version,
 * so the VM's own programs keep working while its glibc is unusable to node.
 */

const TRIPLET = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' } as const;

/** Rename libm's GLIBC_2.27 version definition (same length, so no offsets move); replaced by rename, not rewritten in place. */
async function breakLibmForNode(sandbox: Sandbox, arch: 'x64' | 'arm64'): Promise<void> {
  const libm = `/usr/lib/${TRIPLET[arch]}/libm.so.6`;
  const bytes = await sandbox.readFile(libm);
  if (bytes === undefined) throw new Error(`${libm} is missing in the sandbox root`);
  const needle = Buffer.from('GLIBC_2.27\0', 'latin1');
  const at = bytes.indexOf(needle);
  if (at === -1 || bytes.indexOf(needle, at + 1) !== -1) throw new Error(`${libm}: expected exactly one GLIBC_2.27 version name`);
  const patched = Buffer.from(bytes);
  Buffer.from('GLIBC_2.2X\0', 'latin1').copy(patched, at);
  await sandbox.writeFile(`${libm}.vmaccess-test`, patched, 0o644);
  await sandbox.execOk(['mv', '-f', `${libm}.vmaccess-test`, libm]);
}

const arch = process.arch === 'arm64' ? 'arm64' : 'x64';

scenario('runtime: plan and a full enable on a VM whose glibc the official node cannot use (EL7-like)', async ({ sandbox, agent, proof, test }) => {
  await breakLibmForNode(sandbox, arch);
  // The VM's own programs still run: the handler depends on these.
  for (const argv of [['useradd', '--help'], ['sshd', '-t'], ['ssh-keygen', '-l', '-f', '/etc/ssh/ssh_host_ed25519_key.pub'], ['awk', 'BEGIN { print exp(1) }']]) {
    const result = await sandbox.exec(argv);
    expect(result.stderr, argv.join(' ')).not.toMatch(/GLIBC_2\.27|error while loading shared libraries/);
    expect(result.exitCode, `${argv.join(' ')}: ${result.stderr}`).toBe(0);
  }

  const key = await sandbox.generateKey('oldglibc');
  const first = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'oldglibc', ssh_key: key.publicKey } });
  const { handler } = first;
  if (handler.pkg.kind !== 'zip') {
    test.skip('VMACCESS_E2E_HANDLER=tree: the built tree brings no runtime of its own, so there is nothing to prove here');
    return;
  }
  const runtime = `${handler.dir}/runtime/${arch}`;
  const direct = await sandbox.exec([`${runtime}/bin/node`, '-e', '0']);
  expect(direct.exitCode).not.toBe(0);
  expect(direct.stderr).toMatch(/libm\.so\.6: version `GLIBC_2\.27' not found/);
  proof('the official node binary refuses this root (libm GLIBC_2.27 not found, as on EL7)');

  expectEnable(first, 'success');
  expect(await sandbox.readText('/etc/passwd')).toMatch(/^oldglibc:x:\d+:\d+:/m);
  expect((await keyLoginWithSudo(sandbox, 'oldglibc', key.privateKeyPath)).exitCode).toBe(0);
  proof('install + enable (new user with key, real useradd) write success; oldglibc logs in with the key, sudo -n works');

  // The bundled loader resolves every library node needs from runtime/<arch>/lib, none from the VM.
  const lib = `${runtime}/lib`;
  const listing = await sandbox.execOk([`${lib}/${RUNTIME_LIBS.arches[arch].loader}`, '--library-path', lib, '--list', `${runtime}/bin/node`]);
  for (const name of ['libc.so.6', 'libm.so.6', 'libstdc++.so.6', 'libgcc_s.so.1']) expect(listing.stdout).toContain(`${name} => ${lib}/${name}`);
  expect(listing.stdout).not.toContain(`/usr/lib/${TRIPLET[arch]}/`);

  // plan, the way a person on the VM would run it, under the VM's /bin/sh, with no node on PATH.
  await sandbox.writeFile('/root/add-ssh-key.json', await readFile(path.join(REPO_ROOT, 'examples', 'add-ssh-key.json')), 0o600);
  const plan = await sandbox.exec(['/bin/sh', '-c', 'handlers/run plan /root/add-ssh-key.json'], { cwd: handler.dir });
  expect(plan.stderr).toBe('');
  expect(plan.exitCode).toBe(0);
  expect(plan.stdout).toMatch(/Nothing was changed/);
  proof('handlers/run plan examples/add-ssh-key.json: exit 0, nothing changed');
});
