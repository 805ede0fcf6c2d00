import { describe, expect, test } from 'vitest';
import { enable } from '../../src/lifecycle/enable.js';
import { main } from '../../src/main.js';
import { createLoginPathService } from '../../src/lifecycle/runtime.js';
import { RecordingAction, createAgentLayout, createInvocation, createRuntime, statusOf, statusText, writeSettings } from '../helpers/enable-harness.js';
import { statusContractViolations } from '../helpers/status-contract.js';
import { LoginWorld } from '../fakes/login-world.js';

/**
 * The hook in enable: after the actions, the real login-path engine runs on the fake
 * machine; what still blocks the user turns success into LOGIN_PATH_BLOCKED, a warning
 * into a warning status. diagnose runs it alone and changes nothing.
 */

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl admin';

function setup() {
  const world = new LoginWorld(createAgentLayout());
  const user = new RecordingAction('user');
  const ssh = new RecordingAction('ssh');
  ssh.outcomes = [{ name: 'sshd', result: 'changed', message: 'sshd reset to the default configuration' }];
  const runtime = { ...createRuntime(world.system, [user, ssh]), loginPath: createLoginPathService() };
  return { world, user, ssh, runtime };
}

describe('enable proves the login path', () => {
  test('a key for the admin with a clear path: success, one login_path substatus', async () => {
    const { world, runtime } = setup();
    writeSettings(world.system, 1, null, { username: 'azureadmin', ssh_key: KEY });
    expect(await enable(runtime, createInvocation(world.system, '1'))).toBe(0);
    const status = statusOf(world.system, 1);
    expect(status.status).toBe('success');
    expect(status.substatus.find((entry) => entry.name === 'login_path')).toMatchObject({ status: 'success', message: expect.stringContaining('clear for azureadmin') as string });
  });

  test('reset_ssh while AllowUsers still refuses the admin: error LOGIN_PATH_BLOCKED naming the cause and the fix', async () => {
    const { world, runtime } = setup();
    world.overrides.set('allowusers', 'nobody');
    writeSettings(world.system, 2, null, { reset_ssh: true });
    expect(await enable(runtime, createInvocation(world.system, '2'))).toBe(1);
    const status = statusOf(world.system, 2);
    expect(status.status).toBe('error');
    expect(status.code).toBe(60);
    expect(status.message).toContain('LOGIN_PATH_BLOCKED');
    expect(status.message).toContain('azureadmin: sshd_access: blocked: AllowUsers nobody does not list azureadmin');
    expect(status.message).toContain('(fix: reset_ssh)');
    expect(statusContractViolations(statusText(world.system, 2) ?? '')).toEqual([]);
  });

  test('reset_ssh with a pam_access rule denying the admin: a warning status that names the rule', async () => {
    const { world, runtime } = setup();
    world.system.addFile('/etc/pam.d/sshd', 'account required pam_access.so\n');
    world.system.addFile('/etc/security/access.conf', '- : azureadmin : ALL\n');
    writeSettings(world.system, 3, null, { reset_ssh: true });
    expect(await enable(runtime, createInvocation(world.system, '3'))).toBe(0);
    const status = statusOf(world.system, 3);
    expect(status.status).toBe('warning');
    expect(status.message).toContain('azureadmin pam_access');
    expect(status.substatus.find((entry) => entry.status === 'warning')?.message).toContain('/etc/security/access.conf:1');
  });

  test('a request that opens no way in (remove_user) is not checked', async () => {
    const { world, runtime } = setup();
    writeSettings(world.system, 4, null, { remove_user: 'bob' });
    expect(await enable(runtime, createInvocation(world.system, '4'))).toBe(0);
    expect(world.system.commandsRun('/usr/sbin/sshd')).toEqual([]);
  });
});

describe('diagnose through enable', () => {
  test('one substatus per check, no action runs, warning when something blocks', async () => {
    const { world, user, ssh, runtime } = setup();
    world.overrides.set('pubkeyauthentication', 'no');
    writeSettings(world.system, 5, { diagnose: true }, null);
    expect(await enable(runtime, createInvocation(world.system, '5'))).toBe(0);
    expect(user.requests).toEqual([]);
    expect(ssh.requests).toEqual([]);
    const status = statusOf(world.system, 5);
    expect(status.status).toBe('warning');
    expect(status.message).toMatch(/^Diagnose \(azureadmin\): 1 blocked, 0 warnings; nothing was changed\. First: azureadmin: pubkey_auth/);
    expect(status.substatus.find((entry) => entry.name === 'azureadmin/pubkey_auth')).toMatchObject({ status: 'error', message: 'blocked: PubkeyAuthentication no. Fix: send reset_ssh.' });
    expect(status.substatus.find((entry) => entry.name === 'sshd_test')).toMatchObject({ status: 'success' });
    expect(statusContractViolations(statusText(world.system, 5) ?? '')).toEqual([]);
  });

  test('diagnose with another action is a settings error', async () => {
    const { world, runtime } = setup();
    writeSettings(world.system, 6, { diagnose: true }, { reset_ssh: true });
    expect(await enable(runtime, createInvocation(world.system, '6'))).toBe(1);
    expect(statusOf(world.system, 6).message).toContain('protectedSettings.reset_ssh: cannot be combined with diagnose');
  });
});

describe('vmaccess diagnose', () => {
  function proc(argv: string[]) {
    const output: string[] = [];
    const errors: string[] = [];
    return { argv, env: {}, cwd: '/work', pid: 1, nodeVersion: 'v20.20.2', out: (text: string) => output.push(text), err: (text: string) => errors.push(text), output, errors };
  }

  test('--user: one line per check, exit 1 when something blocks, 0 when clear', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/nologin', 'maintenance\n');
    const clear = proc(['diagnose', '--user', 'azureadmin']);
    expect(await main(clear, world.system)).toBe(0);
    expect(clear.output.join('')).toContain('nologin: warning: /etc/nologin exists ("maintenance")');
    await world.system.chmod('/home/azureadmin/.ssh', 0o777);
    const blocked = proc(['diagnose', '--user', 'azureadmin', '--json']);
    expect(await main(blocked, world.system)).toBe(1);
    const document = JSON.parse(blocked.output.join('')) as { users: string[]; verdicts: { check: string; verdict: string; fix?: string }[] };
    expect(document.users).toEqual(['azureadmin']);
    expect(document.verdicts.find((entry) => entry.check === 'strict_modes')).toMatchObject({ verdict: 'blocked', fix: 'ssh_key' });
  });

  test('a --user that is not a login name is refused before anything runs', async () => {
    const world = new LoginWorld();
    const bad = proc(['diagnose', '--user', 'x,user=root']);
    expect(await main(bad, world.system)).toBe(2);
    expect(world.system.calls).toEqual([]);
  });
});
