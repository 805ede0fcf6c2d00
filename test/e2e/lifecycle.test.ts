import { expect } from 'vitest';
import type { GuestAgent, InstalledHandler } from '../sandbox/guest-agent.js';
import { AGENT_LIB_DIR } from '../sandbox/guest-agent.js';
import { currentHandlerPackage, HANDLER_NAME, olderHandlerPackage, type HandlerPackage } from '../sandbox/handler-package.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { scenario } from './harness.js';
import { expectExitZero, fullLifecycle, sshdFingerprint } from './lifecycle-steps.js';
import { enableAgain, expectEnable, installAndEnable, keyLoginWithSudo, snapshot, snapshotDiff } from './steps.js';

/** The agent's lifecycle (contract §4): install, enable, re-enable, disable, uninstall, upgrade. */

scenario('lifecycle: install, enable, new settings + enable, disable, uninstall', fullLifecycle);

scenario('the same sequence number twice: the second enable changes nothing and does not touch sshd', async ({ sandbox, agent, proof }) => {
  const password = 'Twice-the-same-seq-5';
  const settings = { publicSettings: {}, protectedSettings: { username: 'ivy', password } };
  const first = await installAndEnable(agent, 7, settings);
  expectEnable(first, 'success');
  const statusBefore = await sandbox.readText(agent.statusPath(first.handler, 7));
  const before = await snapshot(sandbox, ['/var/cache/vmaccess']);
  const sshd = await sshdFingerprint(sandbox);
  // The agent rewrites the same settings (the handler scrubbed its copy) and runs enable again.
  const again = await enableAgain(agent, first.handler, 7, settings);
  expect(again.result.exitCode, again.result.agentMessage).toBe(0);
  expect(await sandbox.readText(agent.statusPath(first.handler, 7))).toBe(statusBefore);
  expect(snapshotDiff(before, await snapshot(sandbox, ['/var/cache/vmaccess']))).toEqual([]);
  expect(await sshdFingerprint(sandbox)).toBe(sshd);
  proof(`second enable of seq 7: exit 0 in ${again.result.seconds.toFixed(2)} s, status byte-identical, /etc /home unchanged, sshd ${sshd}`);
  expect((await sandbox.ssh('ivy', { password }, 'id -un')).stdout).toBe('ivy\n');
  proof('ivy still logs in with the password');
});

async function upgradeScenario(
  sandbox: Sandbox,
  agent: GuestAgent,
  proof: (text: string) => void,
  from: InstalledHandler,
  to: HandlerPackage,
  seq: number,
  settings: Parameters<GuestAgent['upgrade']>[3],
): Promise<InstalledHandler> {
  const before = await snapshot(sandbox, ['/var/cache/vmaccess']);
  const sshd = await sshdFingerprint(sandbox);
  const oldStatus = await sandbox.readText(agent.statusPath(from, seq));
  const historyBefore = agent.history.length;
  const { handler, results } = await agent.upgrade(from, to, seq, settings);
  expectExitZero(results);
  const order = agent.history.slice(historyBefore).map((result) => `${result.operation}@${result.version}`);
  expect(order).toEqual([`disable@${from.version}`, `update@${to.version}`, `uninstall@${from.version}`, `install@${to.version}`, `enable@${to.version}`]);
  proof(`agent order ${order.join(' -> ')}, all exit 0`);
  expect(await sandbox.exists(from.dir)).toBe(false);
  expect((await sandbox.readText(`${handler.dir}/mrseq`))?.trim()).toBe(String(seq));
  expect(await sandbox.readText(agent.statusPath(handler, seq))).toBe(oldStatus);
  await agent.agentStatus(handler, seq);
  expect(snapshotDiff(before, await snapshot(sandbox, ['/var/cache/vmaccess']))).toEqual([]);
  expect(await sshdFingerprint(sandbox)).toBe(sshd);
  proof(`mrseq ${seq} and ${seq}.status carried over; same seq not re-applied (/etc unchanged, sshd untouched)`);
  return handler;
}

scenario('upgrade from an older build of the package in the agent order, sequence state carried over', async ({ sandbox, agent, proof }) => {
  const older = await olderHandlerPackage('1.5.99');
  const password = 'Upgrade-keeps-state-3';
  const settings = { publicSettings: {}, protectedSettings: { username: 'ivan', password } };
  const { handler: a, results } = await agent.install(older, 3, settings);
  expectExitZero(results);
  expect(await agent.agentStatus(a, 3)).toMatchObject({ status: 'success' });
  proof('1.5.99 installed and enabled seq 3 (password for ivan)');
  const current = await currentHandlerPackage();
  const b = await upgradeScenario(sandbox, agent, proof, a, current, 3, settings);
  const key = await sandbox.generateKey('ivan-after-upgrade');
  const next = await enableAgain(agent, b, 4, { publicSettings: {}, protectedSettings: { username: 'ivan', ssh_key: key.publicKey } });
  expectEnable(next, 'success');
  expect((await sandbox.ssh('ivan', { password }, 'id -un')).stdout).toBe('ivan\n');
  expect((await keyLoginWithSudo(sandbox, 'ivan', key.privateKeyPath)).exitCode).toBe(0);
  proof(`${current.version} applies seq 4; ivan logs in with password and new key`);
});

scenario('upgrade from the original Python extension 1.5.x: its mrseq, status, backup and sudoers carried cleanly', async ({ sandbox, agent, proof }) => {
  // What a VM that ran the original has: its handler dir (whose disable/uninstall/update
  // are extension_noop.sh), mrseq and status of seq 2, the sshd_config backup, sudoers.
  const oldDir = `${AGENT_LIB_DIR}/${HANDLER_NAME}-1.5.25`;
  const noop = '#!/bin/sh\nexit 0\n';
  await sandbox.writeFile(`${oldDir}/extension_noop.sh`, noop, 0o755);
  await sandbox.writeFile(`${oldDir}/extension_shim.sh`, noop, 0o755);
  await sandbox.writeFile(
    `${oldDir}/HandlerManifest.json`,
    JSON.stringify([
      {
        version: 1.0,
        handlerManifest: {
          installCommand: 'extension_noop.sh',
          uninstallCommand: 'extension_noop.sh',
          updateCommand: 'extension_noop.sh',
          disableCommand: 'extension_noop.sh',
          enableCommand: 'extension_shim.sh -c ./vmaccess.py -e',
          rebootAfterInstall: false,
          reportHeartbeat: false,
        },
      },
    ]),
  );
  await sandbox.writeFile(`${oldDir}/mrseq`, '2');
  await sandbox.writeFile(
    `${oldDir}/status/2.status`,
    JSON.stringify([
      {
        version: '1.0',
        timestampUTC: '2024-05-01T12:00:00Z',
        status: { name: HANDLER_NAME, operation: 'Enable', status: 'success', code: 0, formattedMessage: { lang: 'en-US', message: 'Enable succeeded.' } },
      },
    ]),
  );
  await sandbox.writeFile(`${oldDir}/config/HandlerState`, 'Enabled', 0o600);
  const backup = `${(await sandbox.readText('/etc/ssh/sshd_config')) ?? ''}# as backed up by the original extension\n`;
  await sandbox.writeFile('/var/cache/vmaccess/backup', backup, 0o600);
  const original: InstalledHandler = { version: '1.5.25', dir: oldDir, pkg: { version: '1.5.25', kind: 'tree', path: '' } };
  const admin = sandbox.admin;
  if (admin === undefined) throw new Error('no admin');
  const settings = { publicSettings: {}, protectedSettings: { username: admin.name, ssh_key: admin.publicKey } };
  const handler = await upgradeScenario(sandbox, agent, proof, original, await currentHandlerPackage(), 2, settings);
  expect(await sandbox.readText('/var/cache/vmaccess/backup')).toBe(backup);
  expect((await keyLoginWithSudo(sandbox, admin.name, admin.privateKeyPath)).exitCode).toBe(0);
  expect(await agent.handlerState(handler)).toBe('Enabled');
  proof("the original's backup kept byte for byte; admin logs in");
});

scenario('an enable killed part-way (agent timeout) is finished by the next enable with the same sequence number', async ({ sandbox, agent, proof }) => {
  const pkg = await currentHandlerPackage();
  const handler = await agent.setUp(pkg);
  await agent.writeSettings(handler, 0, { publicSettings: {} });
  expect((await agent.runCommand(handler, 'install', 0)).exitCode).toBe(0);
  const kills: string[] = [];
  // How long a whole enable of this kind takes here, then kill points spread across it,
  // so they land in different phases (start-up, decryption, useradd, keys, sudoers).
  const probeKey = await sandbox.generateKey('kim0');
  const probe = await agent.enable(handler, 100, { publicSettings: {}, protectedSettings: { username: 'kim0', ssh_key: probeKey.publicKey } });
  expect(probe.exitCode, probe.agentMessage).toBe(0);
  const fullMs = probe.seconds * 1000;
  for (const [index, fraction] of [0.3, 0.5, 0.65, 0.8, 0.9].entries()) {
    const killAfterMs = Math.round(fullMs * fraction);
    const seq = index + 1;
    const user = `kim${seq}`;
    const key = await sandbox.generateKey(user);
    const settings = { publicSettings: {}, protectedSettings: { username: user, ssh_key: key.publicKey } };
    await agent.writeSettings(handler, seq, settings);
    const killed = await agent.runCommand(handler, 'enable', seq, {}, { timeoutMs: killAfterMs });
    const left = (await agent.readStatus(handler, seq)) as { status: { status: string } }[] | undefined;
    kills.push(`${killAfterMs}ms:${killed.timedOut ? 'killed' : `exit ${killed.exitCode}`}(status ${left?.[0]?.status.status ?? 'none'})`);
    // The agent's next goal state (restart) rewrites the settings and runs enable again.
    const again = await enableAgain(agent, handler, seq, settings);
    expectEnable(again, 'success');
    const login = await keyLoginWithSudo(sandbox, user, key.privateKeyPath);
    if (login.exitCode !== 0) {
      const look = await sandbox.sh(`ls -la /home/${user} /home/${user}/.ssh; cat /home/${user}/.ssh/authorized_keys; grep ${user} /etc/passwd /etc/shadow /etc/sudoers.d/waagent; tail -5 /var/log/sshd.log`);
      throw new Error(`after ${kills.at(-1) ?? ''} and a successful re-run, ${user} cannot log in: ${login.output}\n${look.stdout}${look.stderr}\nstatus: ${JSON.stringify(again.status)}`);
    }
  }
  expect(kills.some((entry) => entry.includes('killed'))).toBe(true);
  proof(`full enable ${Math.round(fullMs)}ms; first enable ${kills.join(', ')}; every re-run with the same seq ended in success and the user logs in + sudo`);
  expect((await sandbox.exec(['pgrep', '-f', 'dist/app/vmaccess[.]mjs'])).exitCode).not.toBe(0);
  proof('no handler process left running');
});
