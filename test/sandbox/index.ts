/**
 * Throwaway Linux sandboxes for integration and end-to-end tests (issue 6).
 *
 * A sandbox is a Debian root (bookworm by default, or bullseye / trixie: debootstrap,
 * cached under .cache/sandbox/ or $VMACCESS_SANDBOX_CACHE, rebuilt when the package list
 * or build script changes) under a fresh overlayfs, in its own mount, pid, net, uts and
 * ipc namespaces, with its own minimal /dev (loop devices, never this machine's disks),
 * /proc, /sys (read-only) and /run. By default no init system runs: sshd starts from
 * Debian's SysV script. With `init: 'systemd'` the root is booted with systemd-nspawn
 * (systemd as pid 1, ssh.service; docs/testing-matrix.md says how). Provisioned like an Azure
 * image: user `azureadmin` with an ed25519 key, `/etc/sudoers.d/waagent`, and the
 * agent's `/var/lib/waagent/ovf-env.xml`. Needs root (VMACCESS_SANDBOX_DISABLE=1 turns
 * sandboxes off); skip with the reason otherwise:
 *
 *   const reason = await sandboxUnavailableReason();
 *   describe.skipIf(reason !== undefined)('...', () => { ... });   // print `reason`
 *
 *   const sandbox = await createSandbox();        // ~0.3 s once the root is cached
 *   // or createSandbox({ suite: 'trixie', init: 'systemd' })  // booted, ~0.6 s
 *   try {
 *     await sandbox.exec(['useradd', '-m', 'bob']);            // {exitCode, stdout, stderr}
 *     await sandbox.writeFile('/etc/ssh/sshd_config.d/x.conf', 'PasswordAuthentication no\n');
 *     const text = await sandbox.readText('/etc/passwd');     // symlinks resolve inside
 *     const key = await sandbox.generateKey('bob', 'ed25519'); // {privateKeyPath, publicKey}
 *     const login = await sandbox.ssh('bob', { identityFile: key.privateKeyPath }, 'sudo -n true');
 *     const byPassword = await sandbox.ssh('bob', { password: 'secret' }, 'sudo -S true', { input: 'secret\n' }); // sshpass
 *     await sandbox.sshdRunning(); await sandbox.sshdListenCount(); await sandbox.sshdPid();
 *   } finally {
 *     await sandbox.destroy();                      // VMACCESS_SANDBOX_KEEP=1 keeps it
 *   }
 *
 * Run the real actions (src/actions) inside, for action-level integration tests:
 *
 *   const run = await runActionInSandbox(sandbox, emptyRequest({ account: {...} }));
 *   run.outcomes  // StepOutcome[] from the same dispatcher enable uses; run.log = debug log (JSON lines)
 *
 * Drive the whole handler as the guest agent does (HandlerEnvironment.json, encrypted
 * protected settings, /bin/sh -c from the handler dir, agent env and time limits):
 *
 *   const agent = await createGuestAgent(sandbox);
 *   const pkg = await currentHandlerPackage();      // packaged zip if present, else built tree
 *   const { handler, results } = await agent.install(pkg, 0, { publicSettings: {}, protectedSettings: { username: 'bob', ssh_key: key.publicKey } });
 *   await agent.enable(handler, 1, { protectedSettings: {...}, cipher: 'aes256' });
 *   const reported = await agent.agentStatus(handler, 1);  // parsed by the real waagent code
 *   await agent.upgrade(oldHandler, await currentHandlerPackage(), 3, settings); // §4.3 order; olderHandlerPackage('1.5.99') builds an old one
 *   await agent.disable(handler, 3); await agent.remove(handler, 3);  // §2.4, §4.5
 *   await agent.runCommand(handler, 'enable', 2, {}, { timeoutMs: 300 }); // killed part-way like an agent timeout
 *   agent.history  // every command: exit code, output, seconds, agent-owned files it touched
 *
 * assertAgentAcceptsStatus(hostPath) checks any status file with Debian's waagent
 * package (apt-get download + dpkg -x into the cache, run with python3).
 */
export { createSandbox, sandboxUnavailableReason, DEFAULT_ADMIN_USER, SANDBOX_PATH } from './sandbox.js';
export type { ExecOptions, ExecResult, GeneratedKey, Sandbox, SandboxAdmin, SandboxInit, SandboxOptions, SshAuth } from './sandbox-api.js';
export { ensureRootfs, rootfsPath, sandboxCacheDir, SANDBOX_PACKAGES, SANDBOX_SUITE, SANDBOX_SUITES } from './rootfs.js';
export type { SandboxSuite } from './rootfs.js';
export { ensureNspawn } from './nspawn.js';
export { emptyRequest, runActionInSandbox, RUNNER_DIR_INSIDE } from './actions-in-sandbox.js';
export type { ActionRun, ActionRunOptions } from './actions-in-sandbox.js';
export { AGENT_LIB_DIR, AGENT_LOG_DIR, AGENT_TIMEOUTS_S, agentOutputText, createGuestAgent } from './guest-agent.js';
export { handlerEnvironmentText, pythonJson } from '../helpers/agent-files.js';
export type { AgentCommandResult, AgentSettings, GuestAgent, InstalledHandler, Operation, SettingsSpec } from './guest-agent.js';
export { buildHandler, currentHandlerPackage, HANDLER_NAME, olderHandlerPackage, packageVersion, packageZipPath } from './handler-package.js';
export type { HandlerPackage } from './handler-package.js';
export { assertAgentAcceptsStatus, ensureAgentModules, readStatusWithAgent } from './agent-status.js';
export type { AgentReportedStatus, AgentStatusReading } from './agent-status.js';
