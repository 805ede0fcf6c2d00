import { describe, expect, test } from 'vitest';
import { checkLoginPaths, withDeadline, type LoginTarget } from '../../src/actions/login-path/login-path.js';
import { diagnose } from '../../src/actions/login-path/diagnose.js';
import { SshdAnswers, readEffectiveSshdConfig } from '../../src/actions/sshd-effective.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import type { CheckVerdict } from '../../src/actions/login-path/verdict.js';
import { findIncludes } from '../../src/config/sshd-config.js';
import { LoginWorld } from '../fakes/login-world.js';
import { fixtureDropIns, fixtureFamilies, fixtureFile } from '../fakes/ssh-world.js';

/** The login-path engine on the fake machine: each lockout is named, with its evidence and fix. */

const paths = defaultSystemPaths();
const ADMIN: LoginTarget = { user: 'azureadmin', means: { key: true, password: false } };

async function verdicts(world: LoginWorld, target: LoginTarget = ADMIN): Promise<CheckVerdict[]> {
  return checkLoginPaths(world.system, paths, [target], { probeTimeoutMs: 500 });
}

function problems(list: CheckVerdict[]): CheckVerdict[] {
  return list.filter((entry) => entry.verdict !== 'ok');
}

function only(list: CheckVerdict[], check: string): CheckVerdict {
  const found = list.find((entry) => entry.check === check);
  if (found === undefined) throw new Error(`no ${check} verdict in ${JSON.stringify(list)}`);
  return found;
}

describe('a clear path', () => {
  test('the provisioned admin with a key: every check ok, every command bounded', async () => {
    const world = new LoginWorld();
    const list = await verdicts(world);
    expect(problems(list)).toEqual([]);
    expect(list.map((entry) => entry.check)).toEqual(
      expect.arrayContaining(['listen [::]:22', 'listen 0.0.0.0:22', 'nologin', 'account', 'sshd_access', 'pubkey_auth', 'authentication_methods', 'authorized_keys_file', 'shell', 'expiry', 'password_state', 'strict_modes', 'pam_access']),
    );
    for (const call of world.system.calls) expect(call.timeoutMs, `${call.file} ${call.args.join(' ')}`).toBeGreaterThan(0);
    // One sshd -T, for the user: its answer also names the listeners (Port and ListenAddress cannot be per user).
    expect(world.system.commandsRun('/usr/sbin/sshd').map((call) => call.args.slice(0, 3).join(' '))).toEqual(['-T -C user=azureadmin,host=localhost,addr=127.0.0.1,laddr=127.0.0.1,lport=22']);
  });
});

describe("the run's sshd answers", () => {
  test('a question already answered in this run (the key step asked for the same user) is not asked again; a change to the files asks anew', async () => {
    const world = new LoginWorld();
    const answers = new SshdAnswers();
    await readEffectiveSshdConfig(world.system, { user: 'azureadmin' }, { sshd: '/usr/sbin/sshd', answers });
    expect(world.system.commandsRun('/usr/sbin/sshd')).toHaveLength(1);
    const first = await checkLoginPaths(world.system, paths, [ADMIN], { probeTimeoutMs: 500, answers });
    expect(problems(first)).toEqual([]);
    expect(world.system.commandsRun('/usr/sbin/sshd')).toHaveLength(1);
    await checkLoginPaths(world.system, paths, [ADMIN], { probeTimeoutMs: 500, answers });
    expect(world.system.commandsRun('/usr/sbin/sshd')).toHaveLength(1);
    answers.replaced();
    world.overrides.set('allowusers', 'nobody');
    world.system.addFile('/etc/ssh/sshd_config.d/90-lockdown.conf', 'AllowUsers nobody\n');
    expect(only(await checkLoginPaths(world.system, paths, [ADMIN], { probeTimeoutMs: 500, answers }), 'sshd_access').verdict).toBe('blocked');
    expect(world.system.commandsRun('/usr/sbin/sshd')).toHaveLength(2);
  });

  test('a failed answer is not kept', async () => {
    const world = new LoginWorld();
    const answers = new SshdAnswers();
    let calls = 0;
    const failing = (): Promise<never> => {
      calls += 1;
      return Promise.reject(new Error('no host keys yet'));
    };
    const key = SshdAnswers.key('/usr/sbin/sshd', [], { user: 'azureadmin' });
    await expect(answers.answer(key, failing)).rejects.toThrow('no host keys yet');
    await expect(answers.answer(key, failing)).rejects.toThrow('no host keys yet');
    expect(calls).toBe(2);
    const config = await readEffectiveSshdConfig(world.system, { user: 'azureadmin' }, { sshd: '/usr/sbin/sshd', answers });
    expect(await answers.answer(key, failing)).toBe(config);
    expect(calls).toBe(2);
  });
});

describe('sshd refuses the user', () => {
  test.each([
    ['allowusers', 'nobody', 'AllowUsers nobody does not list azureadmin'],
    ['denyusers', 'azure*', 'DenyUsers azure* matches azureadmin'],
    ['denygroups', 'sudo', 'DenyGroups sudo matches a group of azureadmin'],
    ['allowgroups', 'wheel', "AllowGroups wheel matches none of azureadmin's groups"],
  ])('%s %s', async (keyword, value, evidence) => {
    const world = new LoginWorld();
    world.overrides.set(keyword, value);
    const keyword0 = keyword.replace(/^(allow|deny)(users|groups)$/, (_all, a: string, b: string) => `${a[0]!.toUpperCase()}${a.slice(1)}${b[0]!.toUpperCase()}${b.slice(1)}`);
    world.system.addFile('/etc/ssh/sshd_config.d/90-lockdown.conf', `# hardening\n${keyword0} ${value}\n`);
    const verdict = only(await verdicts(world), 'sshd_access');
    expect(verdict).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh', user: 'azureadmin' });
    expect(verdict.evidence).toContain(evidence);
    // Where it came from: the drop-in and its line.
    expect(verdict.evidence).toContain('/etc/ssh/sshd_config.d/90-lockdown.conf:2');
  });

  test('PubkeyAuthentication no blocks a key login, named with its file and line', async () => {
    const world = new LoginWorld();
    world.overrides.set('pubkeyauthentication', 'no');
    world.system.addFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PubkeyAuthentication no\n');
    const verdict = only(await verdicts(world), 'pubkey_auth');
    expect(verdict).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
    expect(verdict.evidence).toBe('PubkeyAuthentication no (/etc/ssh/sshd_config.d/50-cloud-init.conf:1)');
  });

  test('with a key and a password, losing one way in is only a warning', async () => {
    const world = new LoginWorld();
    world.accounts.get('azureadmin')!.passwordStatus = 'P';
    world.overrides.set('passwordauthentication', 'no');
    const list = await verdicts(world, { user: 'azureadmin', means: { key: true, password: true } });
    expect(only(list, 'password_auth')).toMatchObject({ verdict: 'warning', fix: 'password' });
    expect(problems(list).map((entry) => entry.check)).toEqual(['password_auth']);
  });

  test('AuthorizedKeysFile that misses the file the key went to', async () => {
    const world = new LoginWorld();
    world.overrides.set('authorizedkeysfile', '/etc/ssh/keys/%u');
    const verdict = only(await verdicts(world, { ...ADMIN, keyFile: '/home/azureadmin/.ssh/authorized_keys' }), 'authorized_keys_file');
    expect(verdict).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
    expect(verdict.evidence).toContain('does not include /home/azureadmin/.ssh/authorized_keys');
  });

  test('AuthenticationMethods that needs a second factor the user does not have', async () => {
    const world = new LoginWorld();
    world.overrides.set('authenticationmethods', 'publickey,keyboard-interactive');
    expect(only(await verdicts(world), 'authentication_methods')).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
    world.overrides.set('authenticationmethods', 'publickey,password publickey');
    expect(only(await verdicts(world), 'authentication_methods').verdict).toBe('ok');
  });

  test('a Match block for one user only blocks that user', async () => {
    const world = new LoginWorld();
    world.addAccount({ name: 'bob', uid: 1001, home: '/home/bob', shell: '/bin/bash', groups: ['bob'], expires: 'never', passwordStatus: 'P' });
    world.userOverrides.set('bob', new Map([['passwordauthentication', 'no']]));
    const list = await checkLoginPaths(world.system, paths, [ADMIN, { user: 'bob', means: { key: false, password: true } }], { probeTimeoutMs: 500 });
    expect(problems(list)).toEqual([expect.objectContaining({ user: 'bob', check: 'password_auth', verdict: 'blocked', fix: 'password' })]);
  });

  test('nothing answers on a port sshd should listen on: blocked after three knocks', async () => {
    const world = new LoginWorld();
    world.system.banners.delete('127.0.0.1:22');
    const verdict = only(await verdicts(world), 'listen 0.0.0.0:22');
    expect(verdict).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
    expect(verdict.evidence).toBe('127.0.0.1:22: the connection ended without an answer (3 tries)');
    expect(world.system.probes.filter((probe) => probe === '127.0.0.1:22')).toHaveLength(3);
  });

  test('a per-connection sshd that closes without a word once (Accept=yes losing /run/sshd to the previous instance): the next knock decides', async () => {
    const world = new LoginWorld();
    const banner = world.system.banners.get('127.0.0.1:22')!;
    world.system.banners.delete('127.0.0.1:22');
    const probe = world.system.probeTcpBanner.bind(world.system);
    world.system.probeTcpBanner = async (host, port, timeoutMs) => {
      const answer = await probe(host, port, timeoutMs);
      if (host === '127.0.0.1') world.system.banners.set('127.0.0.1:22', banner);
      return answer;
    };
    expect(only(await verdicts(world), 'listen 0.0.0.0:22').verdict).toBe('ok');
    expect(world.system.probes.filter((probe) => probe === '127.0.0.1:22')).toHaveLength(2);
  });

  test('no IPv6 loopback: ::1 is knocked once when 127.0.0.1 on the same port answers', async () => {
    const world = new LoginWorld();
    world.system.banners.delete('::1:22');
    const list = await verdicts(world);
    expect(only(list, 'listen [::]:22').verdict).toBe('ok');
    expect(world.system.probes.filter((probe) => probe === '::1:22')).toHaveLength(1);
  });

  test('a knock that times out (a firewall drops the port) is not repeated: the bound is paid once', async () => {
    const world = new LoginWorld();
    world.system.banners.delete('127.0.0.1:22');
    const probe = world.system.probeTcpBanner.bind(world.system);
    world.system.probeTcpBanner = async (host, port, timeoutMs) => {
      world.system.clock = new Date(world.system.clock.getTime() + timeoutMs);
      return probe(host, port, timeoutMs);
    };
    expect(only(await verdicts(world), 'listen 0.0.0.0:22').evidence).toBe('127.0.0.1:22: nothing answered within 500 ms');
    expect(world.system.probes.filter((probe) => probe === '127.0.0.1:22')).toHaveLength(1);
  });

  test('sshd listening only on a loopback address: blocked, with the drop-in line, though it answers there', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/ssh/sshd_config.d/60-local.conf', 'ListenAddress 127.0.0.2\n');
    world.overrides.set('listenaddress', '127.0.0.2:22');
    world.system.banners.set('127.0.0.2:22', 'SSH-2.0-OpenSSH_9.2p1');
    const list = await verdicts(world);
    expect(only(list, 'listen 127.0.0.2:22').verdict).toBe('ok');
    expect(only(list, 'listen_scope')).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
    expect(only(list, 'listen_scope').evidence).toBe('sshd listens only on 127.0.0.2 (loopback) (/etc/ssh/sshd_config.d/60-local.conf:1): nothing from the network reaches it');
    world.overrides.set('listenaddress', ['127.0.0.1:22', '10.0.0.4:22']);
    world.system.banners.set('10.0.0.4:22', 'SSH-2.0-OpenSSH_9.2p1');
    expect(only(await verdicts(world), 'listen_scope').verdict).toBe('ok');
  });

  test('the default listeners: listen_scope ok; the post-change path has no port opinion (diagnose has)', async () => {
    const list = await verdicts(new LoginWorld());
    expect(only(list, 'listen_scope')).toMatchObject({ verdict: 'ok', evidence: 'sshd listens on ::, 0.0.0.0' });
    expect(list.some((entry) => entry.check === 'listen_port')).toBe(false);
  });

  test('diagnose: keys in ~/.ssh/authorized_keys that AuthorizedKeysFile no longer names: that file is the lockout, not "no credentials"', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/ssh/sshd_config.d/90-keys.conf', 'AuthorizedKeysFile /nonexistent/%u\n');
    world.overrides.set('authorizedkeysfile', '/nonexistent/%u');
    const result = await diagnose(world.system, paths, { username: 'azureadmin' }, { agentLibDir: '/var/lib/waagent', probeTimeoutMs: 100 });
    expect(problems(result.verdicts)).toEqual([
      expect.objectContaining({
        check: 'authorized_keys_file',
        verdict: 'blocked',
        fix: 'reset_ssh',
        evidence: 'AuthorizedKeysFile /nonexistent/%u (/etc/ssh/sshd_config.d/90-keys.conf:1) does not include /home/azureadmin/.ssh/authorized_keys',
      }),
    ]);
  });

  test('diagnose: a port other than 22 is a warning naming where it is set', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/ssh/sshd_config.d/70-port.conf', '# moved\nPort 2222\n');
    world.overrides.set('port', '2222');
    world.overrides.set('listenaddress', ['[::]:2222', '0.0.0.0:2222']);
    world.system.banners.set('127.0.0.1:2222', 'SSH-2.0-OpenSSH_9.2p1');
    const result = await diagnose(world.system, paths, { username: 'azureadmin' }, { agentLibDir: '/var/lib/waagent', probeTimeoutMs: 100 });
    expect(only(result.verdicts, 'listen_port')).toMatchObject({ verdict: 'warning', fix: 'reset_ssh' });
    expect(only(result.verdicts, 'listen_port').evidence).toBe('sshd listens on port 2222, not 22 (/etc/ssh/sshd_config.d/70-port.conf:2): clients (ssh -p) and the network security rules must use that port');
    const healthy = await diagnose(new LoginWorld().system, paths, { username: 'azureadmin' }, { agentLibDir: '/var/lib/waagent', probeTimeoutMs: 100 });
    expect(only(healthy.verdicts, 'listen_port').verdict).toBe('ok');
  });

  test('sshd -T failing is a blocked sshd_config with the reason', async () => {
    const world = new LoginWorld();
    world.system.onCommand('/usr/sbin/sshd', () => ({ exitCode: 255, stderr: '/etc/ssh/sshd_config line 3: Bad configuration option: Bogus' }));
    const list = await verdicts(world);
    expect(only(list, 'sshd_config')).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
    expect(only(list, 'sshd_config').evidence).toContain('Bad configuration option: Bogus');
  });
});

describe('the account refuses the login', () => {
  test.each([
    ['/usr/sbin/nologin', 'the login shell is /usr/sbin/nologin'],
    ['/bin/false', 'the login shell is /bin/false'],
    ['/bin/zsh', 'the login shell /bin/zsh does not exist'],
  ])('shell %s', async (shell, evidence) => {
    const world = new LoginWorld();
    world.addAccount({ ...world.accounts.get('azureadmin')!, shell });
    expect(only(await verdicts(world), 'shell')).toMatchObject({ verdict: 'blocked', fix: 'unlock', evidence: expect.stringContaining(evidence) as string });
  });

  test.each([
    ['Jan 01, 2026', 'blocked', 'the account expired on 2026-01-01'],
    ['Jun 15, 2026', 'blocked', 'the account expired on 2026-06-15'],
    ['Jun 16, 2026', 'ok', 'the account expires on 2026-06-16'],
    ['2026-03-01', 'blocked', 'the account expired on 2026-03-01'],
  ])('expiry %s is %s', async (expires, verdict, evidence) => {
    const world = new LoginWorld();
    world.accounts.get('azureadmin')!.expires = expires;
    expect(only(await verdicts(world), 'expiry')).toMatchObject({ verdict, evidence });
  });

  test('a locked password blocks a password login, not a key login through PAM', async () => {
    const world = new LoginWorld();
    world.accounts.get('azureadmin')!.passwordStatus = 'L';
    expect(only(await verdicts(world, { user: 'azureadmin', means: { key: false, password: true } }), 'password_state')).toMatchObject({ verdict: 'blocked', fix: 'unlock' });
    expect(only(await verdicts(world), 'password_state').verdict).toBe('ok');
    world.overrides.set('usepam', 'no');
    expect(only(await verdicts(world), 'password_state')).toMatchObject({ verdict: 'blocked', evidence: expect.stringContaining('UsePAM is no') as string });
  });

  test.each([
    ['/home/azureadmin', 0o777, 1000, 'mode 0777', undefined],
    ['/home/azureadmin', 0o755, 1001, 'owned by uid 1001', undefined],
    ['/home/azureadmin/.ssh', 0o770, 1000, 'mode 0770', 'ssh_key'],
    ['/home/azureadmin/.ssh/authorized_keys', 0o666, 1000, 'mode 0666', 'ssh_key'],
  ])('StrictModes refuses %s with mode %o uid %i', async (target, mode, uid, evidence, fix) => {
    const world = new LoginWorld();
    await world.system.chmod(target, mode);
    await world.system.chown(target, uid, uid);
    const verdict = only(await verdicts(world), 'strict_modes');
    expect(verdict).toMatchObject({ verdict: 'blocked', evidence: expect.stringContaining(`${target} ${evidence.startsWith('mode') ? 'has ' : 'is '}${evidence}`) as string });
    expect(verdict.fix).toBe(fix);
    if (fix === undefined) expect(verdict.advice).toContain('chmod go-w');
  });

  test('StrictModes no: modes are not judged', async () => {
    const world = new LoginWorld();
    world.overrides.set('strictmodes', 'no');
    await world.system.chmod('/home/azureadmin', 0o777);
    expect(only(await verdicts(world), 'strict_modes').verdict).toBe('ok');
  });

  test('an account that does not exist', async () => {
    const world = new LoginWorld();
    const list = await verdicts(world, { user: 'ghost' });
    expect(only(list, 'account')).toMatchObject({ verdict: 'blocked', user: 'ghost', fix: 'ssh_key' });
  });

  test('no key and no password: nothing to log in with', async () => {
    const world = new LoginWorld();
    await world.system.remove('/home/azureadmin/.ssh/authorized_keys');
    expect(only(await verdicts(world, { user: 'azureadmin' }), 'credentials')).toMatchObject({ verdict: 'blocked', fix: 'ssh_key' });
  });
});

describe('PAM refusals are warnings', () => {
  test('/etc/nologin', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/nologin', '\nSystem is going down for maintenance.\n');
    expect(only(await verdicts(world), 'nologin')).toMatchObject({ verdict: 'warning', evidence: expect.stringContaining('"System is going down for maintenance."') as string });
  });

  test.each([
    ['- : azureadmin : ALL', 'warning', 'denied by /etc/security/access.conf:2'],
    ['- : ALL EXCEPT root : ALL', 'warning', 'denied by'],
    ['- : ALL EXCEPT (sudo) : ALL', 'ok', 'no rule'],
    ['- : (sudo) : ALL', 'warning', 'denied by'],
    ['- : azureadmin : LOCAL', 'ok', 'no rule'],
    ['- : azureadmin : 10.0.0.0/8', 'warning', 'denied from some hosts'],
    ['+ : azureadmin : ALL\n- : ALL : ALL', 'ok', 'allowed by'],
  ])('access.conf %j', async (rule, verdict, evidence) => {
    const world = new LoginWorld();
    world.system.addFile('/etc/pam.d/common-account', 'account required pam_unix.so\naccount  required  pam_access.so\n');
    world.system.addFile('/etc/security/access.conf', `# site rules\n${rule}\n`);
    const found = only(await verdicts(world), 'pam_access');
    expect(found.verdict).toBe(verdict);
    expect(found.evidence).toContain(evidence);
    if (verdict === 'warning') expect(found.evidence).toContain('pam_access at /etc/pam.d/common-account:2');
  });

  test('pam_access rules without pam_access in the sshd stack change nothing', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/security/access.conf', '- : ALL : ALL\n');
    expect(only(await verdicts(world), 'pam_access')).toMatchObject({ verdict: 'ok', evidence: 'pam_access is not in the sshd account stack' });
  });

  test('accessfile= on the pam_access line is the file that counts', async () => {
    const world = new LoginWorld();
    world.system.addFile('/etc/pam.d/sshd', 'account required pam_access.so accessfile=/etc/security/access-ssh.conf\n');
    world.system.addFile('/etc/security/access-ssh.conf', '- : azureadmin : ALL\n');
    expect(only(await verdicts(world), 'pam_access').evidence).toContain('/etc/security/access-ssh.conf:1');
  });
});

describe('deadlines', () => {
  test('withDeadline returns the fallback when the work does not finish', async () => {
    const never = new Promise<string>(() => undefined);
    expect(await withDeadline(never, 20, () => 'late')).toBe('late');
    expect(await withDeadline(Promise.resolve('done'), 1000, () => 'late')).toBe('done');
  });

  test('diagnose that cannot finish in its bound reports that instead of hanging', async () => {
    const world = new LoginWorld();
    world.system.onCommand('id', () => new Promise(() => undefined));
    const result = await diagnose(world.system, paths, { username: 'azureadmin' }, { agentLibDir: '/var/lib/waagent', deadlineMs: 50, probeTimeoutMs: 10 });
    expect(result.verdicts).toEqual([expect.objectContaining({ check: 'diagnose', verdict: 'warning' })]);
  });
});

describe('on the distribution fixtures: the evidence names the file and line sshd read', () => {
  test.each(fixtureFamilies())('%s', async (family) => {
    const world = new LoginWorld();
    const main = fixtureFile(family, 'etc/ssh/sshd_config');
    world.system.addFile('/etc/ssh/sshd_config', main);
    for (const name of fixtureDropIns(family)) world.system.addFile(`/etc/ssh/sshd_config.d/${name}`, fixtureFile(family, `etc/ssh/sshd_config.d/${name}`));
    const includesDropIns = findIncludes(main).some((include) => include.patterns.some((pattern) => pattern.includes('sshd_config.d')));
    const lockout = '/etc/ssh/sshd_config.d/10-lockout.conf';
    if (includesDropIns) world.system.addFile(lockout, '\nAllowUsers nobody\n');
    else world.system.addFile('/etc/ssh/sshd_config', `${main.endsWith('\n') ? main : `${main}\n`}AllowUsers nobody\n`);
    world.overrides.set('allowusers', 'nobody');
    const verdict = only(await verdicts(world), 'sshd_access');
    expect(verdict.verdict).toBe('blocked');
    const expected = includesDropIns ? `${lockout}:2` : `/etc/ssh/sshd_config:${main.replace(/\n$/, '').split('\n').length + 1}`;
    expect(verdict.evidence).toContain(`(${expected})`);
  });
});

describe('listeners', () => {
  test('no IPv6 loopback: the [::] listener is fine while 0.0.0.0 on the same port answers', async () => {
    const world = new LoginWorld();
    world.system.banners.delete('::1:22');
    const list = await verdicts(world);
    expect(only(list, 'listen [::]:22')).toMatchObject({ verdict: 'ok', evidence: expect.stringContaining('no IPv6 loopback') as string });
  });

  test('ListenAddress 127.0.0.2 with nothing there is blocked even though 127.0.0.1 answers', async () => {
    const world = new LoginWorld();
    world.overrides.set('listenaddress', ['127.0.0.2:22']);
    expect(only(await verdicts(world), 'listen 127.0.0.2:22')).toMatchObject({ verdict: 'blocked', fix: 'reset_ssh' });
  });
});

describe('socket activation', () => {
  test('sshd -T without /run/sshd (Accept=yes socket) skips the sshd checks instead of blocking', async () => {
    const world = new LoginWorld();
    world.system.onCommand('/usr/sbin/sshd', () => ({ exitCode: 255, stderr: 'Missing privilege separation directory: /run/sshd' }));
    const list = await verdicts(world);
    expect(problems(list)).toEqual([]);
    expect(list.filter((entry) => entry.check === 'sshd_config').every((entry) => entry.evidence.startsWith('not evaluated'))).toBe(true);
  });
});
