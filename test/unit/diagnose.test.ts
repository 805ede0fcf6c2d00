import { describe, expect, test } from 'vitest';
import { diagnose } from '../../src/actions/login-path/diagnose.js';
import { parseChronyOffset, parseDfLine } from '../../src/actions/login-path/machine-checks.js';
import { parseRequest } from '../../src/settings/schema.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import type { CheckVerdict } from '../../src/actions/login-path/verdict.js';
import { LoginWorld } from '../fakes/login-world.js';

/** diagnose on the fake machine: the right findings, for the right users, and nothing changed. */

const paths = defaultSystemPaths();
const LIB = '/var/lib/waagent';

function byName(list: CheckVerdict[]): Record<string, string> {
  return Object.fromEntries(list.map((entry) => [`${entry.user === undefined ? '' : `${entry.user}/`}${entry.check}`, entry.verdict]));
}

/** Every path read during `work`, to prove no secret file is opened. */
function recordReads(world: LoginWorld): string[] {
  const reads: string[] = [];
  const original = world.system.readText.bind(world.system);
  world.system.readText = (file: string) => {
    reads.push(file);
    return original(file);
  };
  return reads;
}

describe('diagnose', () => {
  test('a healthy machine: every check ok, for the accounts in sudoers.d/waagent and the provisioned admin', async () => {
    const world = new LoginWorld();
    world.addAccount({ name: 'rescuer', uid: 1001, home: '/home/rescuer', shell: '/bin/bash', groups: ['rescuer'], expires: 'never', passwordStatus: 'P' });
    world.system.addFile(`${LIB}/ovf-env.xml`, '<Environment><LinuxProvisioningConfigurationSet><UserName>rescuer</UserName></LinuxProvisioningConfigurationSet></Environment>');
    const result = await diagnose(world.system, paths, {}, { agentLibDir: LIB, probeTimeoutMs: 100 });
    expect(result.users).toEqual(['azureadmin', 'rescuer']);
    const names = byName(result.verdicts);
    expect(Object.entries(names).filter(([, verdict]) => verdict !== 'ok')).toEqual([]);
    for (const check of ['sshd_running', 'sshd_test', 'host_keys', 'firewall', 'filesystem /', 'clock', 'nologin', 'azureadmin/strict_modes', 'rescuer/password_auth']) {
      expect(names, check).toHaveProperty([check]);
    }
    expect(result.verdicts.find((entry) => entry.check === 'clock')?.evidence).toContain('skipped: no local time source');
  });

  test('read-only: no file written, no service command, sshd never signalled, /etc/shadow never read', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/shadow', 'azureadmin:$6$secret-hash:20000:0:99999:7:::\n', { mode: 0o640 });
    world.overrides.set('allowusers', 'nobody');
    const before = new Map([...world.system.nodes].map(([key, node]) => [key, `${node.mode}:${node.uid}:${Buffer.from(node.data).toString('hex')}`]));
    const reads = recordReads(world);
    await diagnose(world.system, paths, {}, { agentLibDir: LIB, probeTimeoutMs: 100 });
    const after = new Map([...world.system.nodes].map(([key, node]) => [key, `${node.mode}:${node.uid}:${Buffer.from(node.data).toString('hex')}`]));
    expect(after).toEqual(before);
    expect(reads).not.toContain('/etc/shadow');
    const programs = world.system.calls.map((call) => `${call.file} ${call.args.join(' ')}`);
    expect(programs.filter((line) => /systemctl (start|stop|restart|reload)|service |kill|-HUP|usermod|chpasswd|useradd/.test(line))).toEqual([]);
    expect(world.system.calls.filter((call) => call.file === '/usr/sbin/sshd').map((call) => call.args[0])).toEqual(expect.arrayContaining(['-T', '-t']));
    expect(world.system.calls.filter((call) => call.file === '/usr/sbin/sshd').every((call) => call.args[0] === '-T' || call.args[0] === '-t')).toBe(true);
  });

  test('the lockouts of the reset_ssh catalogue each get their own finding with the fix', async () => {
    const world = new LoginWorld();
    world.overrides.set('allowusers', 'nobody');
    world.overrides.set('pubkeyauthentication', 'no');
    world.overrides.set('port', '2222');
    world.overrides.set('listenaddress', ['0.0.0.0:2222']);
    world.sshdTestFails = '/etc/ssh/sshd_config.d/bad.conf line 1: Bad configuration option: Bogus';
    await world.system.chmod('/home/azureadmin', 0o777);
    world.accounts.get('azureadmin')!.expires = 'Jan 02, 2026';
    const result = await diagnose(world.system, paths, { username: 'azureadmin' }, { agentLibDir: LIB, probeTimeoutMs: 100 });
    const blocked = result.verdicts.filter((entry) => entry.verdict === 'blocked');
    expect(blocked.map((entry) => [entry.check, entry.fix])).toEqual([
      ['sshd_test', 'reset_ssh'],
      ['listen 0.0.0.0:2222', 'reset_ssh'],
      ['sshd_access', 'reset_ssh'],
      ['pubkey_auth', 'reset_ssh'],
      ['expiry', 'unlock'],
      ['strict_modes', undefined],
    ]);
    expect(blocked.find((entry) => entry.check === 'strict_modes')?.evidence).toContain('/home/azureadmin has mode 0777');
    expect(blocked.find((entry) => entry.check === 'expiry')?.evidence).toBe('the account expired on 2026-01-02');
  });

  test('machine findings: a host key others can read, a read-only root, a full /home, a firewall dropping tcp/22, a skewed clock', async () => {
    const world = new LoginWorld();
    await world.system.chmod('/etc/ssh/ssh_host_ed25519_key', 0o644);
    world.system.addFile('/proc/self/mounts', '/dev/sda1 / ext4 ro,relatime 0 0\n/dev/sdb1 /home xfs rw 0 0\n');
    world.rootUsedPercent = 100;
    world.system.onCommand('iptables', (call) => (call.args.includes('-S') ? { stdout: '-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n' } : { stdout: 'iptables v1.8.9 (legacy)' }));
    world.system.onCommand('chronyc', () => ({ stdout: 'Reference ID    : A9FEA97B\nSystem time     : 912.000014 seconds fast of NTP time\n' }));
    const result = await diagnose(world.system, paths, { username: 'azureadmin' }, { agentLibDir: LIB, probeTimeoutMs: 100 });
    const names = byName(result.verdicts);
    expect(names).toMatchObject({ host_keys: 'blocked', 'filesystem /': 'blocked', 'filesystem /home': 'blocked', firewall: 'blocked', clock: 'warning' });
    expect(result.verdicts.find((entry) => entry.check === 'filesystem /')).toMatchObject({ fix: 'repair_disk', evidence: '/ (/dev/sda1) is mounted read-only' });
    expect(result.verdicts.find((entry) => entry.check === 'firewall')?.evidence).toContain('iptables: accept tcp/22');
  });

  test('sshd not running is named', async () => {
    const world = new LoginWorld();
    world.system.alivePids.clear();
    world.system.banners.clear();
    const names = byName((await diagnose(world.system, paths, { username: 'azureadmin' }, { agentLibDir: LIB, probeTimeoutMs: 100 })).verdicts);
    expect(names).toMatchObject({ sshd_running: 'blocked', 'listen 0.0.0.0:22': 'blocked', 'listen [::]:22': 'blocked' });
  });
});

describe('parsers', () => {
  test('df -P and chronyc tracking', () => {
    expect(parseDfLine('Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 100 0 100% /\n')).toEqual({ available: 0, usedPercent: 100 });
    expect(parseDfLine('garbage')).toBeUndefined();
    expect(parseChronyOffset('System time     : 0.000001 seconds slow of NTP time')).toBe(0.000001);
  });
});

describe('the diagnose setting', () => {
  const today = { today: '2026-06-15' };
  test('diagnose alone, or with a username', () => {
    expect(parseRequest({ diagnose: true }, {}, today).diagnose).toEqual({});
    const request = parseRequest({ diagnose: 'true' }, { username: 'alice' }, today);
    expect(request.diagnose).toEqual({ username: 'alice' });
    expect(request.account).toBeUndefined();
  });

  test.each([
    [{ diagnose: true, check_disk: true }, {}, 'publicSettings.check_disk: cannot be combined with diagnose'],
    [{ diagnose: true }, { reset_ssh: true }, 'protectedSettings.reset_ssh: cannot be combined with diagnose'],
    [{ diagnose: true }, { username: 'alice', password: 'Secret-pw-1' }, 'protectedSettings.password: cannot be combined with diagnose'],
    [{ diagnose: true }, { username: 'alice', ssh_key: 'ssh-ed25519 AAAA' }, 'protectedSettings.ssh_key: cannot be combined with diagnose'],
    [{ diagnose: true }, { remove_user: 'bob' }, 'protectedSettings.remove_user: cannot be combined with diagnose'],
    [{ diagnose: 'maybe' }, {}, 'publicSettings.diagnose: must be true or false'],
  ])('%j %j is a settings error', (publicSettings, protectedSettings, message) => {
    let error: unknown;
    try {
      parseRequest(publicSettings, protectedSettings, today);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'SETTINGS_INVALID' });
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('Secret-pw-1');
  });
});
