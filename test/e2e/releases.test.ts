import { expect } from 'vitest';
import type { SandboxSuite } from '../sandbox/rootfs.js';
import type { SandboxInit } from '../sandbox/sandbox.js';
import { scenario, type ScenarioContext } from './harness.js';
import { keyLogin, opensshVersion, passwordGrant, resetBrokenConfig, sshdStateText, unitState, useSshdUnitMode } from './ssh-scenarios.js';

/**
 * The SSH scenarios on the Debian releases around 12 (bookworm runs in ssh-server.test.ts
 * and systemd.test.ts): bullseye (OpenSSH 8.4, systemd 247) and trixie (OpenSSH 10.0,
 * sshd split into sshd-session; systemd 257). Each booted with systemd and without an
 * init system (SysV script).
 */

const releases: readonly SandboxSuite[] = ['bullseye', 'trixie'];
const inits: readonly SandboxInit[] = ['systemd', 'sysv'];

async function proveVersions(context: ScenarioContext): Promise<void> {
  context.proof(`${await opensshVersion(context.sandbox)}`);
}

for (const suite of releases) {
  for (const init of inits) {
    const sandbox = { suite, init };
    const label = `${suite} ${init === 'systemd' ? 'systemd ssh.service' : 'SysV'}`;

    scenario(`${label}: password grant while a drop-in says PasswordAuthentication no`, async (context) => {
      await proveVersions(context);
      await passwordGrant(context, 'drop-in');
      context.proof(await sshdStateText(context.sandbox));
    }, { sandbox });

    scenario(`${label}: a new user with a key logs in + sudo`, async (context) => {
      await proveVersions(context);
      await keyLogin(context);
    }, { sandbox });

    scenario(`${label}: reset_ssh from an sshd_config that stops sshd from starting`, async (context) => {
      await proveVersions(context);
      await resetBrokenConfig(context, 'service');
      context.proof(await sshdStateText(context.sandbox));
    }, { sandbox });
  }
}

// bullseye's ssh.socket is Accept=yes (one sshd -i per connection through ssh@.service):
// nothing to reload, the next connection reads the new file.
scenario('bullseye systemd ssh.socket (Accept=yes): password grant', async (context) => {
  const { sandbox, proof } = context;
  await useSshdUnitMode(sandbox, 'socket');
  const accept = await sandbox.execOk(['systemctl', 'show', '--property=Accept', 'ssh.socket']);
  expect(accept.stdout.trim()).toBe('Accept=yes');
  await proveVersions(context);
  await passwordGrant(context, 'drop-in');
  expect(await unitState(sandbox, 'ssh.socket')).toMatchObject({ activeState: 'active', unitFileState: 'enabled' });
  proof(`Accept=yes, still socket-activated: ${await sshdStateText(sandbox)}`);
}, { sandbox: { suite: 'bullseye', init: 'systemd' } });
