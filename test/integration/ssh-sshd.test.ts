import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createSilentLogger } from '../../src/handler/log.js';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createSshChangeRequests } from '../../src/actions/action.js';
import type { ActionContext } from '../../src/actions/action.js';
import { OWN_DROP_IN, createSshAction } from '../../src/actions/ssh/ssh.js';
import { readEffectiveSshdConfig } from '../../src/actions/sshd-effective.js';
import { isVmaccessError } from '../../src/errors.js';
import { driveFromRequest } from '../fakes/ssh-world.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import type { SystemPaths } from '../../src/system/paths.js';
import { createRealSystem } from '../../src/system/real-system.js';
import type { System, WriteOptions } from '../../src/system/system.js';

/**
 * The ssh action against the real sshd binary: the fixture configurations are laid
 * out in a temporary root (their /etc/ssh/ paths pointed into it), and every
 * validation is `sshd -t -f` / `sshd -T -f ... -C` by the real /usr/sbin/sshd with a
 * temporary host key. sshd runs in a private mount namespace with its own /run (it
 * insists on /run/sshd), so nothing of this machine's /etc or /run is touched.
 * Service control is the one thing faked (no daemon is ever started here): the
 * reload/verify/rollback path against a real daemon is in the sandbox test.
 */

const SSHD = '/usr/sbin/sshd';
const FAKE_PID = 2_000_000_001;
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = path.join(REPO, '..', 'shared', 'fixtures', 'distros');
const canRun = existsSync(SSHD) && process.getuid?.() === 0 && spawnOk('unshare', ['--version']);

function spawnOk(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let work = '';
let wrapper = '';
let hostKey = '';

beforeAll(() => {
  if (!canRun) return;
  work = mkdtempSync(path.join(tmpdir(), 'vmaccess-sshd-'));
  hostKey = path.join(work, 'host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  mkdirSync(path.join(work, 'keys'));
  for (const type of ['rsa', 'ecdsa', 'ed25519']) execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path.join(work, 'keys', `ssh_host_${type}_key`)]);
  wrapper = path.join(work, 'sshd-in-namespace');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec ${SSHD} "$@"' sshd "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
});

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

interface Machine {
  root: string;
  paths: SystemPaths;
  system: System;
  serviceCalls: string[];
  context: ActionContext;
}

/** A real file system under `root`; commands other than sshd and ssh-keygen are answered here. */
function guardedSystem(root: string, serviceCalls: string[]): System {
  const real = createRealSystem();
  const inside = (target: string): boolean => target === root || target.startsWith(`${root}/`);
  const guard = <A extends unknown[], R>(fn: (target: string, ...rest: A) => Promise<R>) => (target: string, ...rest: A): Promise<R> => {
    if (!inside(target)) return Promise.reject(new Error(`test guard: refusing to change ${target} outside the test root`));
    return fn(target, ...rest);
  };
  return {
    ...real,
    writeFileAtomic: guard((target: string, data: string | Uint8Array, options?: WriteOptions) => real.writeFileAtomic(target, data, options)),
    createExclusive: guard((target: string, data: string, options?: WriteOptions) => real.createExclusive(target, data, options)),
    mkdir: (target, options) => (target === '/run/sshd' ? Promise.resolve() : guard((dir: string) => real.mkdir(dir, options))(target)),
    remove: guard((target: string, options?: { recursive?: boolean }) => real.remove(target, options)),
    rename: (from, to) => (inside(from) && inside(to) ? real.rename(from, to) : Promise.reject(new Error('test guard: rename outside the root'))),
    chown: guard((target: string, uid: number, gid: number) => real.chown(target, uid, gid)),
    chmod: guard((target: string, mode: number) => real.chmod(target, mode)),
    // No systemd and no SysV script: the action takes the no-init path; "starting" the
    // daemon writes a pid file naming a pretend sshd (nothing is started on this machine).
    stat: (target) => (target === '/run/systemd/system' || target.startsWith('/etc/init.d/') ? Promise.resolve(undefined) : real.stat(target)),
    readText: (target) => (target === `/proc/${FAKE_PID}/comm` ? Promise.resolve('sshd\n') : real.readText(target)),
    // The pretend sshd lives while its pid file names it.
    isProcessAlive: (pid) => Promise.resolve(pid === FAKE_PID && existsSync(path.join(root, 'run', 'sshd.pid'))),
    run(file, args, options) {
      if (file === wrapper || file === 'ssh-keygen') {
        if (file === wrapper && args.length === 0) {
          serviceCalls.push('start sshd');
          writeFileSync(path.join(root, 'run', 'sshd.pid'), `${FAKE_PID}\n`);
          return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', timedOut: false, started: true });
        }
        if (file === 'ssh-keygen' && !args.some((arg) => inside(arg))) return Promise.reject(new Error('test guard: ssh-keygen outside the root'));
        return real.run(file, args, options);
      }
      if (file === 'kill' && args.join(' ') === `-HUP ${FAKE_PID}`) {
        serviceCalls.push('reload sshd');
        return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', timedOut: false, started: true });
      }
      if (file === 'kill' && args[1] === String(FAKE_PID) && ['-TERM', '-KILL', '-CONT'].includes(args[0] ?? '')) {
        // A stop of the no-init restart: TERM ends the pretend sshd (CONT is a no-op).
        if (args[0] !== '-CONT') {
          serviceCalls.push('stop sshd');
          rmSync(path.join(root, 'run', 'sshd.pid'), { force: true });
        }
        return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', timedOut: false, started: true });
      }
      serviceCalls.push([file, ...args].join(' '));
      return Promise.resolve({ exitCode: 127, stdout: '', stderr: '', timedOut: false, started: false });
    },
    probeTcpBanner: () => Promise.resolve('SSH-2.0-OpenSSH_test'),
  };
}

function pointInto(root: string, text: string): string {
  return text.split('/etc/ssh/').join(`${root}/etc/ssh/`);
}

function machine(family: string, edit: (root: string) => void = () => undefined): Machine {
  const root = mkdtempSync(path.join(work, `${family}-`));
  const source = path.join(FIXTURES, family);
  mkdirSync(path.join(root, 'etc', 'ssh', 'sshd_config.d'), { recursive: true });
  cpSync(path.join(source, 'os-release'), path.join(root, 'etc', 'os-release'));
  const ssh = path.join(source, 'etc', 'ssh');
  writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config'), pointInto(root, readFileSync(path.join(ssh, 'sshd_config'), 'utf8')), { mode: 0o600 });
  const dropIns = path.join(ssh, 'sshd_config.d');
  if (existsSync(dropIns)) {
    for (const name of readdirSync(dropIns)) writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config.d', name), pointInto(root, readFileSync(path.join(dropIns, name), 'utf8')), { mode: 0o600 });
  } else if (!/^Include/m.test(readFileSync(path.join(ssh, 'sshd_config'), 'utf8'))) {
    rmSync(path.join(root, 'etc', 'ssh', 'sshd_config.d'), { recursive: true });
  }
  // Host keys the fixture names exist, so sshd -t without -h would also be satisfied.
  for (const type of ['rsa', 'ecdsa', 'ed25519']) {
    for (const suffix of ['', '.pub']) cpSync(path.join(work, 'keys', `ssh_host_${type}_key${suffix}`), path.join(root, 'etc', 'ssh', `ssh_host_${type}_key${suffix}`));
  }
  mkdirSync(path.join(root, 'run'));
  // The pretend sshd is running (a password change never starts a stopped one, #8).
  writeFileSync(path.join(root, 'run', 'sshd.pid'), `${FAKE_PID}\n`);
  edit(root);
  const paths: SystemPaths = {
    ...defaultSystemPaths(),
    osRelease: path.join(root, 'etc', 'os-release'),
    sshdConfig: path.join(root, 'etc', 'ssh', 'sshd_config'),
    vendorSshdConfig: path.join(root, 'usr', 'etc', 'ssh', 'sshd_config'),
    sshdBackup: path.join(root, 'var', 'cache', 'vmaccess', 'backup'),
    stateDir: path.join(root, 'var', 'cache', 'vmaccess'),
    pristineSshdConfig: path.join(root, 'usr', 'share', 'openssh', 'sshd_config'),
  };
  const serviceCalls: string[] = [];
  const system = guardedSystem(root, serviceCalls);
  return {
    root,
    paths,
    system,
    serviceCalls,
    context: { system, logger: createSilentLogger(), paths, ssh: createSshChangeRequests(), agentLibDir: path.join(root, 'var', 'lib', 'waagent') },
  };
}

function action(root: string): ReturnType<typeof driveFromRequest> {
  return driveFromRequest(createSshAction({
    sshd: wrapper,
    sshdExtraArgs: ['-h', hostKey],
    resourcesDir: path.join(REPO, 'resources'),
    pidFiles: [path.join(root, 'run', 'sshd.pid')],
    // The service commands are recorded, not run: no sshd re-opens its sockets here.
    verify: { settleMs: 0, attempts: 1, delayMs: 0, probeTimeoutMs: 100, sleep: () => Promise.resolve(), observeListeners: false },
  }));
}

const passwordRequest = (username: string): VmaccessRequest => ({
  account: { username, password: 'not-used-by-this-action', removePriorKeys: false, passwordless: false },
  resetSsh: false,
  restoreBackupSsh: false,
  warnings: [],
});

async function effective(m: Machine, user: string): Promise<{ password: string | undefined; methods: string | undefined }> {
  const config = await readEffectiveSshdConfig(createRealSystem(), { user, addr: '203.0.113.9', host: 'client.example' }, { sshd: wrapper, configFile: m.paths.sshdConfig, extraArgs: ['-h', hostKey] });
  return { password: config.get('passwordauthentication'), methods: config.get('authenticationmethods') };
}

function sshdCheck(m: Machine): number {
  try {
    execFileSync(wrapper, ['-t', '-f', m.paths.sshdConfig, '-h', hostKey], { stdio: 'ignore' });
    return 0;
  } catch (error) {
    return (error as { status?: number }).status ?? 1;
  }
}

const FAMILIES = ['ubuntu-22.04', 'ubuntu-24.04', 'debian-12', 'rhel-9', 'centos-7', 'oraclelinux-8', 'azurelinux-3', 'flatcar-4459.0.0'];

describe.skipIf(!canRun)('ssh action with the real sshd', () => {
  test.each(FAMILIES)('%s: password login on for alice only, as sshd -T reports', async (family) => {
    const m = machine(family);
    const before = await effective(m, 'bob');
    m.context.ssh.passwordUsers.add('alice');
    const outcomes = await action(m.root).apply(passwordRequest('alice'), m.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(sshdCheck(m)).toBe(0);
    expect(await effective(m, 'alice')).toEqual({ password: 'yes', methods: 'any' });
    expect(await effective(m, 'bob')).toEqual(before);
    // The one reload of the run, on the no-init path (SIGHUP to the pid file's sshd).
    expect(m.serviceCalls).toEqual(['reload sshd']);
    expect(readdirSync(m.paths.stateDir).filter((name) => name.startsWith('sshd-candidate'))).toEqual([]);
  });

  test('PasswordAuthentication no before AND after the Include, plus cloud-init drop-ins: alice yes, bob no', async () => {
    const m = machine('ubuntu-24.04', (root) => {
      const file = path.join(root, 'etc', 'ssh', 'sshd_config');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, `PasswordAuthentication no\n${text}PasswordAuthentication no\n`);
    });
    m.context.ssh.passwordUsers.add('alice');
    await action(m.root).apply(passwordRequest('alice'), m.context);
    expect((await effective(m, 'alice')).password).toBe('yes');
    expect((await effective(m, 'bob')).password).toBe('no');
  });

  test('a drop-in with Match all / PasswordAuthentication no sorts after ours: alice still yes', async () => {
    const m = machine('debian-12', (root) => writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config.d', '90-lockdown.conf'), 'Match all\n\tPasswordAuthentication no\n'));
    m.context.ssh.passwordUsers.add('alice');
    await action(m.root).apply(passwordRequest('alice'), m.context);
    expect((await effective(m, 'alice')).password).toBe('yes');
    expect((await effective(m, 'bob')).password).toBe('no');
  });

  test('AuthenticationMethods publickey,password: alice gets "any", bob keeps both factors', async () => {
    const m = machine('rhel-9', (root) => writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config.d', '40-mfa.conf'), 'AuthenticationMethods publickey,password\n'));
    m.context.ssh.passwordUsers.add('alice');
    await action(m.root).apply(passwordRequest('alice'), m.context);
    expect(await effective(m, 'alice')).toEqual({ password: 'yes', methods: 'any' });
    expect((await effective(m, 'bob')).methods).toBe('publickey,password');
  });

  test('Flatcar: a Match block for alice after the Include (where Flatcar wants them) is beaten by the drop-in', async () => {
    const m = machine('flatcar-4459.0.0', (root) => {
      const file = path.join(root, 'etc', 'ssh', 'sshd_config');
      writeFileSync(file, `${readFileSync(file, 'utf8')}Match User alice\n\tPasswordAuthentication no\n`);
    });
    m.context.ssh.passwordUsers.add('alice');
    await action(m.root).apply(passwordRequest('alice'), m.context);
    expect((await effective(m, 'alice')).password).toBe('yes');
    expect((await effective(m, 'bob')).password).toBe('no');
  });

  test('a drop-in sorting before ours denies alice: a clear error, nothing changed', async () => {
    const m = machine('ubuntu-24.04', (root) => writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config.d', '00-admin.conf'), 'Match User alice\n\tPasswordAuthentication no\n'));
    m.context.ssh.passwordUsers.add('alice');
    const error = await action(m.root)
      .apply(passwordRequest('alice'), m.context)
      .then(() => undefined, (caught: unknown) => caught);
    expect(isVmaccessError(error) && error.code).toBe('SSHD_CONFIG_INVALID');
    expect(isVmaccessError(error) && error.message).toMatch(/still refuse password login for alice/);
    expect(existsSync(path.join(m.root, 'etc', 'ssh', 'sshd_config.d', OWN_DROP_IN))).toBe(false);
    expect(m.serviceCalls).toEqual([]);
  });

  test('the validator rejects the candidate: nothing written, no backup, sshd not touched', async () => {
    const m = machine('ubuntu-22.04', (root) => writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config.d', '55-typo.conf'), 'PasswordAuthenticaton yes\n'));
    m.context.ssh.passwordUsers.add('alice');
    const error = await action(m.root)
      .apply(passwordRequest('alice'), m.context)
      .then(() => undefined, (caught: unknown) => caught);
    expect(isVmaccessError(error) && error.code).toBe('SSHD_CONFIG_INVALID');
    expect(isVmaccessError(error) && error.message).toMatch(/55-typo\.conf.*Bad configuration option/);
    expect(existsSync(path.join(m.root, 'etc', 'ssh', 'sshd_config.d', OWN_DROP_IN))).toBe(false);
    expect(existsSync(m.paths.sshdBackup)).toBe(false);
    expect(m.serviceCalls).toEqual([]);
  });

  test.each(FAMILIES)('%s: reset_ssh from a config sshd refuses: the default passes sshd -t, broken drop-ins quarantined', async (family) => {
    const m = machine(family, (root) => {
      writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config'), `Port 22\nThisIsNotAnOption yes\n`);
      if (existsSync(path.join(root, 'etc', 'ssh', 'sshd_config.d'))) writeFileSync(path.join(root, 'etc', 'ssh', 'sshd_config.d', '45-broken.conf'), 'Match\n');
    });
    // Debian/Ubuntu/Flatcar reset to the package's pristine copy; give them one.
    const pristine = { 'ubuntu-22.04': m.paths.pristineSshdConfig, 'ubuntu-24.04': m.paths.pristineSshdConfig, 'debian-12': m.paths.pristineSshdConfig }[family as 'debian-12'];
    if (pristine !== undefined) {
      mkdirSync(path.dirname(pristine), { recursive: true });
      writeFileSync(pristine, pointInto(m.root, readFileSync(path.join(FIXTURES, family, 'etc', 'ssh', 'sshd_config'), 'utf8')));
    }
    expect(sshdCheck(m)).not.toBe(0);
    const outcomes = await action(m.root).apply({ resetSsh: true, restoreBackupSsh: false, warnings: [] }, m.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed' && outcome.name !== 'firewall')).toEqual([]);
    expect(sshdCheck(m)).toBe(0);
    expect(readFileSync(m.paths.sshdBackup, 'utf8')).toBe('Port 22\nThisIsNotAnOption yes\n');
    if (existsSync(path.join(m.root, 'etc', 'ssh', 'sshd_config.d'))) {
      const main = readFileSync(m.paths.sshdConfig, 'utf8');
      if (/^Include/m.test(main)) {
        expect(existsSync(path.join(m.root, 'etc', 'ssh', 'sshd_config.d', '45-broken.conf'))).toBe(false);
        // Issue 11: not a package file, so it moves into the backup set (it used to go to quarantine/<time>/).
        expect(existsSync(path.join(path.dirname(m.paths.sshdBackup), 'backup.d', '45-broken.conf'))).toBe(true);
      }
    }
    if (pristine !== undefined) expect(readFileSync(m.paths.sshdConfig, 'utf8')).toBe(readFileSync(pristine, 'utf8'));
  });

  test('restore_backup_ssh after a change brings the original back byte for byte', async () => {
    const m = machine('rhel-9');
    const original = readFileSync(m.paths.sshdConfig, 'utf8');
    m.context.ssh.passwordUsers.add('alice');
    await action(m.root).apply(passwordRequest('alice'), m.context);
    writeFileSync(m.paths.sshdConfig, `${original}X11Forwarding no\n`);
    const fresh = machine('rhel-9');
    rmSync(fresh.root, { recursive: true });
    m.context.ssh.passwordUsers.clear();
    const outcomes = await action(m.root).apply({ resetSsh: false, restoreBackupSsh: true, warnings: [] }, m.context);
    expect(outcomes.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(readFileSync(m.paths.sshdConfig, 'utf8')).toBe(original);
    expect(existsSync(path.join(m.root, 'etc', 'ssh', 'sshd_config.d', OWN_DROP_IN))).toBe(false);
    expect((await effective(m, 'alice')).password).toBe('yes');
  });
});

describe.skipIf(!canRun)('the change transaction with the real sshd (issue 12)', () => {
  async function value(m: Machine, user: string, keyword: string): Promise<string | undefined> {
    const config = await readEffectiveSshdConfig(createRealSystem(), { user, addr: '203.0.113.9', host: 'client.example' }, { sshd: wrapper, configFile: m.paths.sshdConfig, extraArgs: ['-h', hostKey] });
    return config.get(keyword);
  }

  test.each(['centos-7', 'oraclelinux-8', 'azurelinux-3'])('%s: a line appended after the managed block is global again (Match all closes it, #7)', async (family) => {
    const m = machine(family);
    m.context.ssh.passwordUsers.add('alice');
    await action(m.root).apply(passwordRequest('alice'), m.context);
    expect(readFileSync(m.paths.sshdConfig, 'utf8')).toMatch(/\tPasswordAuthentication yes\nMatch all\n# END vmaccess password access\n$/);
    // What cloud-init or a person does later: append, unaware of the block.
    appendFileSync(m.paths.sshdConfig, 'UseDNS yes\nPermitTTY no\n');
    expect(sshdCheck(m)).toBe(0);
    for (const user of ['alice', 'bob']) {
      expect(await value(m, user, 'usedns')).toBe('yes');
      expect(await value(m, user, 'permittty')).toBe('no');
    }
    expect((await effective(m, 'alice')).password).toBe('yes');
  });

  test('a password change on a stopped sshd: written and validated by the real sshd -t, sshd not started (#8)', async () => {
    const m = machine('rhel-9', (root) => rmSync(path.join(root, 'run', 'sshd.pid')));
    m.context.ssh.passwordUsers.add('alice');
    const outcomes = await action(m.root).apply(passwordRequest('alice'), m.context);
    expect(m.serviceCalls).toEqual([]);
    expect(outcomes.find((outcome) => outcome.name === 'sshd')).toMatchObject({ result: 'warning', message: expect.stringMatching(/only reset_ssh starts a stopped sshd/) as unknown });
    expect(sshdCheck(m)).toBe(0);
    expect((await effective(m, 'alice')).password).toBe('yes');
    // reset_ssh is the request that starts it.
    await action(m.root).apply({ resetSsh: true, restoreBackupSsh: false, warnings: [] }, m.context);
    expect(m.serviceCalls.filter((call) => call.endsWith('sshd'))).toEqual(['start sshd']);
  });

  test('a symlinked sshd_config: the link is replaced by a file (target untouched); a rollback puts the link back (#3)', async () => {
    const m = machine('centos-7', (root) => {
      const etc = path.join(root, 'etc', 'ssh');
      renameSync(path.join(etc, 'sshd_config'), path.join(etc, 'sshd_config.site'));
      symlinkSync('sshd_config.site', path.join(etc, 'sshd_config'));
    });
    const site = path.join(m.root, 'etc', 'ssh', 'sshd_config.site');
    const original = readFileSync(site, 'utf8');
    m.context.ssh.passwordUsers.add('alice');
    // sshd never answers: the change is rolled back.
    const dead = { ...m.context, system: { ...m.system, probeTcpBanner: () => Promise.resolve(undefined) } };
    const outcomes = await action(m.root).apply(passwordRequest('alice'), dead);
    expect(outcomes.find((outcome) => outcome.name === 'sshd')).toMatchObject({ result: 'failed', code: 'SSHD_ROLLED_BACK' });
    expect(readlinkSync(m.paths.sshdConfig)).toBe('sshd_config.site');
    expect(readFileSync(site, 'utf8')).toBe(original);
    expect(sshdCheck(m)).toBe(0);
    // And when sshd answers: a file in place of the link, validated; the site file is not written.
    const done = await action(m.root).apply(passwordRequest('alice'), m.context);
    expect(done.filter((outcome) => outcome.result === 'failed')).toEqual([]);
    expect(lstatSync(m.paths.sshdConfig).isFile()).toBe(true);
    expect(readFileSync(site, 'utf8')).toBe(original);
    expect((await effective(m, 'alice')).password).toBe('yes');
  });
});
