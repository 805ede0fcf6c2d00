import { expect } from 'vitest';
import type { AgentCommandResult, InstalledHandler } from '../sandbox/guest-agent.js';
import { AGENT_LOG_DIR } from '../sandbox/guest-agent.js';
import { HANDLER_NAME } from '../sandbox/handler-package.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { ScenarioContext } from './harness.js';
import { enableAgain, expectEnable, installAndEnable, keyLoginWithSudo, snapshot, snapshotDiff } from './steps.js';

/** Steps of the lifecycle scenarios (contract §4), shared by the SysV and systemd runs. */

export function expectExitZero(results: readonly AgentCommandResult[]): void {
  for (const result of results) {
    expect(result.exitCode, `${result.operation} of ${result.version}: ${result.agentMessage}`).toBe(0);
    expect(result.touchedAgentFiles, `${result.operation} changed agent-owned files`).toEqual([]);
  }
}

/** What the agent owns in the handler dir; the handler must never change these. */
export async function agentFiles(sandbox: Sandbox, handler: InstalledHandler): Promise<string> {
  const read = async (name: string): Promise<string> => `${name}=${(await sandbox.readText(`${handler.dir}/${name}`)) ?? '<missing>'}`;
  return [await read('HandlerEnvironment.json'), await read('HandlerManifest.json'), await read('config/HandlerStatus')].join('\n');
}

export async function sshdFingerprint(sandbox: Sandbox): Promise<string> {
  return `pid ${String(await sandbox.sshdPid())}, listening ${await sandbox.sshdListenCount()}x`;
}

/** Install, enable, new settings + enable, disable, uninstall: each proven with a real login. */
export async function fullLifecycle({ sandbox, agent, proof }: ScenarioContext): Promise<void> {
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const bobKey = await sandbox.generateKey('bob');
  const first = await installAndEnable(agent, 0, { publicSettings: {}, protectedSettings: { username: 'bob', ssh_key: bobKey.publicKey } });
  expectExitZero(agent.history);
  expectEnable(first, 'success');
  const { handler } = first;
  expect(await agent.handlerState(handler)).toBe('Enabled');
  expect((await keyLoginWithSudo(sandbox, 'bob', bobKey.privateKeyPath)).exitCode).toBe(0);
  proof('install + enable seq 0: bob logs in with key');
  expect((await sandbox.sh('command -v node')).exitCode).not.toBe(0);
  proof(`runs from the ${handler.pkg.kind === 'zip' ? 'packaged zip with its own runtime' : 'built tree with node under runtime/'}, no node on PATH`);

  const agentOwned = await agentFiles(sandbox, handler);
  expect(agentOwned).not.toContain('<missing>');
  const password = 'Second-goal-state-9';
  const second = await enableAgain(agent, handler, 1, { publicSettings: {}, protectedSettings: { username: 'bob', password }, cipher: 'aes256' });
  expectEnable(second, 'success');
  expect((await sandbox.ssh('bob', { password }, 'id -un')).stdout).toBe('bob\n');
  expect(await agent.agentStatus(handler, 0)).toMatchObject({ status: 'success' });
  proof('enable seq 1 (aes256): bob logs in with the password, sudo asks for it; 0.status still accepted');
  // With a password, sudo asks for it (NOPASSWD only for key-only accounts).
  const sudo = await sandbox.ssh('bob', { password }, 'sudo -S -p "" true && echo sudo-ok', { input: `${password}\n` });
  expect(sudo.stdout, sudo.stderr).toBe('sudo-ok\n');
  const settingsFile = (await sandbox.readText(`${handler.dir}/config/1.settings`)) ?? '';
  const handlerSettings = (JSON.parse(settingsFile) as { runtimeSettings: { handlerSettings: { protectedSettings: unknown } }[] }).runtimeSettings[0]?.handlerSettings;
  expect(String(handlerSettings?.protectedSettings)).not.toMatch(/^MII/);
  proof('1.settings still JSON, the encrypted blob scrubbed after use');

  const beforeDisable = await snapshot(sandbox);
  const sshd = await sshdFingerprint(sandbox);
  const disable = await agent.disable(handler, 1);
  expect(disable.exitCode, disable.agentMessage).toBe(0);
  expect(snapshotDiff(beforeDisable, await snapshot(sandbox))).toEqual([]);
  expect(await sshdFingerprint(sandbox)).toBe(sshd);
  proof('disable: exit 0, /etc and /home unchanged, sshd untouched');
  expect((await agentFiles(sandbox, handler)).split('\n').slice(0, 2)).toEqual(agentOwned.split('\n').slice(0, 2));

  const sudoers = await sandbox.readText('/etc/sudoers.d/waagent');
  const backup = await sandbox.readText('/var/cache/vmaccess/backup');
  const uninstall = await agent.remove(handler, 1);
  expectExitZero(uninstall);
  expect(await sandbox.exists(handler.dir)).toBe(false);
  expect(await sandbox.readText('/etc/sudoers.d/waagent')).toBe(sudoers);
  expect(await sandbox.readText('/var/cache/vmaccess/backup')).toBe(backup);
  expect(await sandbox.exists(`${AGENT_LOG_DIR}/${HANDLER_NAME}/extension.log`)).toBe(true);
  expect((await sandbox.ssh('bob', { identityFile: bobKey.privateKeyPath }, 'id -un')).stdout).toBe('bob\n');
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  proof('uninstall: exit 0; sudoers, sshd_config backup, log folder kept; bob and admin still log in');
  const operations = agent.history.map((result) => result.operation).join(',');
  expect(operations).toBe('install,enable,enable,disable,uninstall');
  expectExitZero(agent.history);
  proof('no command touched HandlerEnvironment.json, HandlerManifest.json, HandlerState or HandlerStatus');
}
