import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { expect } from 'vitest';
import { readStatusWithAgent } from '../sandbox/agent-status.js';
import { currentHandlerPackage } from '../sandbox/handler-package.js';
import { createSandbox } from '../sandbox/sandbox.js';
import { scenario } from './harness.js';

scenario('sandbox: provisioned like an Azure image, sshd answers, no node on PATH', async ({ sandbox, proof }) => {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const login = await sandbox.ssh(admin.name, { identityFile: admin.privateKeyPath }, 'id -un && sudo -n true && echo sudo-ok');
  expect(login.stdout).toBe(`${admin.name}\nsudo-ok\n`);
  proof('admin key login + sudo -n true');

  const stranger = await sandbox.generateKey('stranger');
  expect((await sandbox.ssh(admin.name, { identityFile: stranger.privateKeyPath }, 'true')).exitCode).toBe(255);
  proof('unknown key refused');

  expect((await sandbox.sh('command -v node')).exitCode).not.toBe(0);
  expect((await sandbox.sh('test -d /run/systemd/system')).exitCode).not.toBe(0);
  proof('no node on PATH, no systemd');

  const loop = await sandbox.sh('set -e; truncate -s 32M /root/probe.img; mkfs.ext4 -q /root/probe.img; dev=$(losetup -f --show /root/probe.img); e2fsck -fn "$dev" >/dev/null; echo "$dev"');
  expect(loop.exitCode, loop.stderr).toBe(0);
  expect(loop.stdout).toMatch(/^\/dev\/loop\d+\n$/);
  proof('loop device attach + e2fsck');
});

scenario('guest agent parser: accepts a contract-shaped status, rejects malformed ones', async ({ sandbox, proof }) => {
  const dir = path.join(sandbox.tempDir, 'status-probe');
  await fs.mkdir(dir);
  const write = async (seq: number, value: unknown): Promise<string> => {
    const file = path.join(dir, `${seq}.status`);
    await fs.writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };
  const good = [
    {
      version: '1.0',
      timestampUTC: '2024-05-01T12:00:00Z',
      status: {
        name: 'Microsoft.OSTCExtensions.VMAccessForLinux',
        operation: 'Enable',
        status: 'success',
        code: 0,
        formattedMessage: { lang: 'en-US', message: 'Enable succeeded.' },
        substatus: [{ name: 'user', status: 'success', code: 0, formattedMessage: { lang: 'en-US', message: 'ok' } }],
      },
    },
  ];
  const accepted = await readStatusWithAgent(await write(1, good));
  expect(accepted.problems).toEqual([]);
  expect(accepted.reported).toMatchObject({ status: 'success', code: 0, message: 'Enable succeeded.', substatus: [{ name: 'user', status: 'success' }] });

  const capitalised = structuredClone(good);
  (capitalised[0] as { status: { status: string } }).status.status = 'Success';
  expect((await readStatusWithAgent(await write(2, capitalised))).problems.join()).toMatch(/not one the agent accepts/);
  expect((await readStatusWithAgent(await write(3, good[0]))).problems.join()).toMatch(/must be an array/);
  const noLang = structuredClone(good);
  (noLang[0] as { status: { formattedMessage: unknown } }).status.formattedMessage = { message: 'x' };
  expect((await readStatusWithAgent(await write(4, noLang))).problems.join()).toMatch(/lang/);
  expect((await readStatusWithAgent(await write(5, '[{"status": '))).problems.length).toBeGreaterThan(0);
  proof(`waagent ${accepted.agentVersion}: good file accepted; capitalised status, bare object, no lang, bad JSON rejected`);
});

scenario('agent file formats: settings and HandlerEnvironment.json written as the agent writes them (json.dumps)', async ({ sandbox, agent, proof }) => {
  const handler = await agent.setUp(await currentHandlerPackage());
  await agent.writeSettings(handler, 3, { publicSettings: { check_disk: true, note: 'é😀' }, protectedSettings: { username: 'zoe' }, cipher: 'aes256' });
  const python = (text: string): string =>
    execFileSync('python3', ['-c', 'import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read())))'], { input: text }).toString();
  const settings = (await sandbox.readText(`${handler.dir}/config/3.settings`)) ?? '';
  expect(settings).toBe(python(settings));
  expect(settings).toMatch(/^\{"runtimeSettings": \[\{"handlerSettings": \{"publicSettings": \{"check_disk": true, "note": "\\u00e9\\ud83d\\ude00"\}, "protectedSettings": "MII/);
  expect(settings).toContain(`"protectedSettingsCertThumbprint": "${agent.thumbprint}"`);
  const environment = (await sandbox.readText(`${handler.dir}/HandlerEnvironment.json`)) ?? '';
  expect(environment).toBe(python(environment));
  expect(environment).toMatch(/^\[\{"name": "Microsoft\.OSTCExtensions\.VMAccessForLinux", "version": 1\.0, "handlerEnvironment": \{"logFolder": /);
  proof('settings file byte-identical to Python json.dumps (separators, \\u escapes); HandlerEnvironment.json an array of one object, version 1.0');
  const decrypted = await sandbox.sh(
    `grep -o '"protectedSettings": "[^"]*"' ${handler.dir}/config/3.settings | cut -d'"' -f4 | base64 -d | openssl cms -decrypt -inform DER -recip /var/lib/waagent/${agent.thumbprint}.crt -inkey /var/lib/waagent/${agent.thumbprint}.prv`,
  );
  expect(decrypted.stdout).toBe('{"username":"zoe"}');
  proof('protected settings decrypt with the sandbox openssl and the .crt/.prv in /var/lib/waagent');
});

scenario('sandbox booted with systemd: pid 1 is systemd, sshd under ssh.service, nothing left on the host after destroy', async ({ proof }) => {
  const hostRun = readdirSync('/run').sort();
  const booted = await createSandbox({ init: 'systemd' });
  const cgroup = path.basename(booted.tempDir);
  try {
    expect((await booted.execOk(['cat', '/proc/1/comm'])).stdout).toBe('systemd\n');
    expect((await booted.execOk(['systemctl', 'is-system-running'])).stdout).toBe('running\n');
    expect((await booted.execOk(['systemctl', 'is-active', 'ssh.service'])).stdout).toBe('active\n');
    const admin = booted.admin;
    if (admin === undefined) throw new Error('no admin');
    expect((await booted.ssh(admin.name, { identityFile: admin.privateKeyPath }, 'id -un')).stdout).toBe(`${admin.name}\n`);
    expect((await booted.sh('command -v node')).exitCode).not.toBe(0);
    proof('systemd is pid 1 and running; ssh.service active; admin key login; no node on PATH');
    expect(cgroupDirs(cgroup).length).toBeGreaterThan(0);
  } finally {
    await booted.destroy();
  }
  expect(cgroupDirs(cgroup)).toEqual([]);
  expect(readdirSync('/run').sort()).toEqual(hostRun);
  expect(existsSync(booted.tempDir)).toBe(false);
  proof(`after destroy: cgroup ${cgroup} removed from every hierarchy, host /run unchanged, temp dir gone`);
});

/** The cgroup directories named `name` that exist in any hierarchy. */
function cgroupDirs(name: string): string[] {
  return ['/sys/fs/cgroup', '/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'].map((hierarchy) => path.join(hierarchy, name)).filter((dir) => existsSync(dir));
}
