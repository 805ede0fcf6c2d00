import { createTestActionContext } from './action-context.js';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ActionContext, PlannedAction, StepOutcome } from '../../src/actions/action.js';
import { renderPlan } from '../../src/actions/plan.js';
import type { SshPlanDetail } from '../../src/actions/ssh/ssh-plan.js';
import { tokenizeSshdLine } from '../../src/config/sshd-config.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import type { CommandCall } from './fake-system.js';
import { FakeSystem } from './fake-system.js';

/**
 * A fake machine for ssh action tests: a distribution fixture's /etc/ssh laid into
 * the FakeSystem, a scripted sshd (-t fails on a `Bogus` keyword anywhere under the
 * checked tree; -T evaluates PasswordAuthentication and AuthenticationMethods with
 * sshd's rules: a Match block for the user beats global lines, and otherwise the
 * first value read wins), and a service manager whose reloads are counted.
 * Real sshd semantics are proven in test/integration/ssh-sshd.test.ts.
 */

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = path.join(REPO, '..', 'shared', 'fixtures', 'distros');
export const SSHD = '/usr/sbin/sshd';

export function fixtureFamilies(): string[] {
  return readdirSync(FIXTURES).filter((name) => existsSync(path.join(FIXTURES, name, 'etc', 'ssh', 'sshd_config')));
}

export function fixtureFile(family: string, relative: string): string {
  return readFileSync(path.join(FIXTURES, family, relative), 'utf8');
}

export interface Facts {
  ssh_service: string;
  socket_activation: boolean;
  sftp_subsystem: string;
  pristine_sshd_config_copy: string | null;
}

export function fixtureFacts(family: string): Facts {
  return JSON.parse(fixtureFile(family, 'facts.json')) as Facts;
}

export function fixtureDropIns(family: string): string[] {
  const dir = path.join(FIXTURES, family, 'etc', 'ssh', 'sshd_config.d');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function includedFiles(system: FakeSystem, pattern: string, root: string): string[] {
  const absolute = pattern.startsWith('/') ? pattern : `${root}/etc/ssh/${pattern}`;
  const dir = path.dirname(absolute);
  const regex = new RegExp(`^${path.basename(absolute).replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);
  return [...system.nodes.entries()]
    .filter(([key, node]) => node.type === 'file' && path.dirname(key) === dir && regex.test(path.basename(key)) && !path.basename(key).startsWith('.'))
    .map(([key]) => key)
    .sort();
}

/** Every file sshd would read, in order. */
function readOrder(system: FakeSystem, main: string, root: string): string[] {
  const order: string[] = [];
  const visit = (file: string, depth: number): void => {
    const text = system.text(file);
    if (text === undefined || depth > 8) return;
    order.push(file);
    for (const line of text.split('\n')) {
      const token = tokenizeSshdLine(line);
      if (token?.keyword === 'include') for (const pattern of token.args) for (const next of includedFiles(system, pattern, root)) visit(next, depth + 1);
    }
  };
  visit(main, 0);
  return order;
}

function effective(system: FakeSystem, main: string, root: string, user: string): string {
  const values = new Map<string, string>();
  const matchValues = new Map<string, string>();
  const walk = (file: string, depth: number): void => {
    const text = system.text(file);
    if (text === undefined || depth > 8) return;
    // A Match block ends with the file it is in (sshd restores the Match state after an Include).
    let matchUser: string | undefined;
    let inMatch = false;
    for (const line of text.split('\n')) {
      const token = tokenizeSshdLine(line);
      if (token === undefined) continue;
      if (token.keyword === 'include') {
        for (const pattern of token.args) for (const next of includedFiles(system, pattern, root)) walk(next, depth + 1);
        continue;
      }
      if (token.keyword === 'match') {
        inMatch = true;
        matchUser = token.args[0]?.toLowerCase() === 'user' ? token.args[1] : token.args[0]?.toLowerCase() === 'all' ? '*' : undefined;
        continue;
      }
      const value = token.args.join(' ');
      if (!inMatch) {
        if (!values.has(token.keyword)) values.set(token.keyword, value);
      } else if (matchUser !== undefined && (matchUser === '*' || matchUser.split(',').includes(user))) {
        if (!matchValues.has(token.keyword)) matchValues.set(token.keyword, value);
      }
    }
  };
  walk(main, 0);
  const get = (keyword: string, fallback: string): string => matchValues.get(keyword) ?? values.get(keyword) ?? fallback;
  return [
    `port ${get('port', '22')}`,
    `passwordauthentication ${get('passwordauthentication', 'yes')}`,
    `authenticationmethods ${get('authenticationmethods', 'any')}`,
    `kbdinteractiveauthentication ${get('kbdinteractiveauthentication', 'yes')}`,
    `listenaddress [::]:${get('port', '22')}`,
    `listenaddress 0.0.0.0:${get('port', '22')}`,
  ].join('\n');
}

function rootOf(main: string): string {
  return main.endsWith('/etc/ssh/sshd_config') ? main.slice(0, -'/etc/ssh/sshd_config'.length) : path.dirname(main);
}

export interface World {
  system: FakeSystem;
  context: ActionContext;
  reloads: () => CommandCall[];
  /** Make the next in-place `sshd -t` (live files) fail, as if the written files were bad. */
  failLiveCheck: boolean;
}

export interface WorldOptions {
  family: string;
  /** Extra or replacement files (absolute path -> content). */
  files?: Record<string, string>;
  /** Skip these fixture drop-ins. */
  withoutDropIns?: string[];
  init?: 'systemd' | 'sysv' | 'none';
  running?: boolean;
  /** What the SSH port answers after a reload; undefined: nothing. */
  bannerAfterReload?: string | undefined;
  hostKeys?: boolean;
  /** Files the package manager says a package installed (path -> package; modified: its digest differs). Default: the fixture's package files. */
  packages?: Record<string, { pkg: string; modified?: boolean }>;
  /** How dpkg/rpm answer: normally, not installed, or not before the timeout. */
  packageManager?: 'answers' | 'absent' | 'timeout';
  /** The sshd master does not exit on SIGTERM (frozen, or wedged). */
  ignoresTerm?: boolean;
}

/** Drop-ins of the fixtures that are files of the distribution's packages. */
const FIXTURE_PACKAGE_FILES: Record<string, Record<string, { pkg: string; modified?: boolean }>> = {
  'rhel-9': { '/etc/ssh/sshd_config.d/50-redhat.conf': { pkg: 'openssh-server-8.7p1-38.el9.x86_64' } },
};

/** dpkg -S / --verify and rpm -qf / -V as they answer on a real machine, from a table. */
function scriptPackageManager(system: FakeSystem, options: WorldOptions): void {
  const owned = options.packages ?? FIXTURE_PACKAGE_FILES[options.family] ?? {};
  const mode = options.packageManager ?? 'answers';
  const answer = (call: CommandCall, owner: (file: string) => { exitCode: number; stdout?: string; stderr?: string }, verify: (pkg: string) => string) => {
    if (mode === 'absent') return { exitCode: 127, started: false };
    if (mode === 'timeout') return { exitCode: 1, timedOut: true };
    const [flag = '', target = ''] = call.args;
    if (flag === '-S' || flag === '-qf') return owner(target);
    return { exitCode: 0, stdout: verify(target) };
  };
  const changed = (pkg: string, line: (file: string) => string): string =>
    Object.entries(owned)
      .filter(([, entry]) => entry.pkg === pkg && entry.modified === true)
      .map(([file]) => line(file))
      .join('');
  system.onCommand('dpkg', (call) =>
    answer(
      call,
      (file) => (owned[file] === undefined ? { exitCode: 1, stderr: `dpkg-query: no path found matching pattern ${file}\n` } : { exitCode: 0, stdout: `${owned[file].pkg}: ${file}\n` }),
      (pkg) => changed(pkg, (file) => `??5?????? c ${file}\n`),
    ),
  );
  system.onCommand('rpm', (call) =>
    answer(
      call,
      (file) => (owned[file] === undefined ? { exitCode: 1, stdout: `file ${file} is not owned by any package\n` } : { exitCode: 0, stdout: `${owned[file].pkg}\n` }),
      (pkg) => changed(pkg, (file) => `S.5....T.  c ${file}\n`),
    ),
  );
}

export function createWorld(options: WorldOptions): World {
  const system = new FakeSystem();
  const facts = fixtureFacts(options.family);
  system.addFile('/etc/os-release', fixtureFile(options.family, 'os-release'));
  system.addFile('/etc/ssh/sshd_config', fixtureFile(options.family, 'etc/ssh/sshd_config'), { mode: 0o600 });
  for (const name of fixtureDropIns(options.family)) {
    if (options.withoutDropIns?.includes(name)) continue;
    system.addFile(`/etc/ssh/sshd_config.d/${name}`, fixtureFile(options.family, `etc/ssh/sshd_config.d/${name}`), { mode: 0o600 });
  }
  if (fixtureDropIns(options.family).length > 0 || facts.pristine_sshd_config_copy === '/usr/share/openssh/sshd_config') system.addDir('/etc/ssh/sshd_config.d');
  if (facts.pristine_sshd_config_copy !== null) system.addFile(facts.pristine_sshd_config_copy, fixtureFile(options.family, 'etc/ssh/sshd_config'));
  if (options.hostKeys !== false) for (const type of ['rsa', 'ecdsa', 'ed25519']) system.addFile(`/etc/ssh/ssh_host_${type}_key`, 'PRIVATE', { mode: 0o600 });
  system.addFile(SSHD, 'ELF', { mode: 0o755 });
  // The templates the action reads through the System port, where the repository keeps them.
  const templates = path.join(REPO, 'resources', 'sshd_config');
  for (const name of readdirSync(templates)) system.addFile(path.join(templates, name), readFileSync(path.join(templates, name), 'utf8'));
  for (const [file, text] of Object.entries(options.files ?? {})) system.addFile(file, text);

  const world: World = {
    system,
    context: createTestActionContext(system),
    reloads: () => system.calls.filter((call) => ['reload', 'restart', 'start', '-HUP'].some((verb) => call.args.includes(verb)) || (call.file === SSHD && call.args.length === 0)),
    failLiveCheck: false,
  };

  system.onCommand(SSHD, (call) => {
    const fIndex = call.args.indexOf('-f');
    const main = fIndex === -1 ? '/etc/ssh/sshd_config' : (call.args[fIndex + 1] ?? '');
    const root = rootOf(main);
    if (call.args.includes('-t')) {
      if (root === '' && world.failLiveCheck) return { exitCode: 255, stderr: '/etc/ssh/sshd_config line 1: Bad configuration option: Injected\n' };
      for (const file of readOrder(system, main, root)) {
        const lines = (system.text(file) ?? '').split('\n');
        const bad = lines.findIndex((line) => /^\s*Bogus\b/.test(line));
        if (bad !== -1) return { exitCode: 255, stderr: `${file} line ${bad + 1}: Bad configuration option: Bogus\n${file}: terminating, 1 bad configuration options\n` };
      }
      return { exitCode: 0 };
    }
    if (call.args.includes('-T')) {
      const spec = call.args[call.args.indexOf('-C') + 1] ?? '';
      const user = /user=([^,]+)/.exec(spec)?.[1] ?? 'root';
      return { exitCode: 0, stdout: `${effective(system, main, root, user)}\n` };
    }
    return undefined;
  });

  const init = options.init ?? 'systemd';
  const serviceUnit = `${facts.ssh_service}.service`;
  let running = options.running ?? true;
  const banner = (): void => {
    if (running && options.bannerAfterReload !== undefined) system.banners.set('127.0.0.1:22', options.bannerAfterReload);
    else if (running && !('bannerAfterReload' in options)) system.banners.set('127.0.0.1:22', 'SSH-2.0-OpenSSH_9.6');
    else system.banners.delete('127.0.0.1:22');
  };
  if (running) system.banners.set('127.0.0.1:22', 'SSH-2.0-OpenSSH_9.6');
  if (init === 'systemd') {
    system.addDir('/run/systemd/system');
    system.onCommand('systemctl', (call) => {
      if (call.args[0] === 'show') {
        const units = call.args.slice(2);
        if (call.args[1] === '--property=Accept') return { stdout: 'Accept=no\n' };
        return {
          stdout: units
            .map((unit) => {
              const known = unit === serviceUnit || (facts.socket_activation && unit === `${facts.ssh_service}.socket`);
              const active = unit.endsWith('.service') ? running : facts.socket_activation;
              return `Id=${unit}\nLoadState=${known ? 'loaded' : 'not-found'}\nActiveState=${known && active ? 'active' : 'inactive'}\nUnitFileState=${known ? 'enabled' : ''}\n`;
            })
            .join('\n'),
        };
      }
      if (call.args[0] === 'reload' || call.args[0] === 'start' || call.args[0] === 'restart') {
        running = true;
        banner();
        return { exitCode: 0 };
      }
      return { exitCode: 0 };
    });
  } else {
    if (init === 'sysv') {
      system.addFile(`/etc/init.d/${facts.ssh_service}`, '#!/bin/sh\n', { mode: 0o755 });
      system.addFile('/usr/sbin/service', '#!/bin/sh\n', { mode: 0o755 });
      system.onCommand('service', () => {
        running = true;
        system.addFile('/run/sshd.pid', '4242\n');
        system.alivePids.add(4242);
        banner();
        return { exitCode: 0 };
      });
    }
    if (running) {
      system.addFile('/run/sshd.pid', '4242\n');
      system.alivePids.add(4242);
    }
    system.onCommand('kill', (call) => {
      const [signal = '', ...pids] = call.args;
      // A frozen or wedged master ignores TERM; KILL always ends it.
      if (signal === '-KILL' || (signal === '-TERM' && options.ignoresTerm !== true)) {
        for (const pid of pids) system.alivePids.delete(Number(pid));
        running = false;
      }
      banner();
      return { exitCode: 0 };
    });
    system.onCommand(SSHD, (call) => {
      if (call.args.length !== 0) return undefined;
      running = true;
      system.addFile('/run/sshd.pid', '4343\n');
      system.alivePids.add(4343);
      banner();
      return { exitCode: 0 };
    });
  }
  system.onCommand('ssh-keygen', (call) => {
    const file = call.args[call.args.indexOf('-f') + 1] ?? '';
    system.addFile(file, 'PRIVATE', { mode: 0o600 });
    system.addFile(`${file}.pub`, 'PUBLIC');
    return { exitCode: 0 };
  });
  scriptPackageManager(system, options);
  // No firewall tools on this machine unless a test scripts them.
  for (const tool of ['firewall-cmd', 'ufw', 'iptables', 'ip6tables', 'nft']) system.onCommand(tool, () => ({ exitCode: 127, started: false }));
  return world;
}

export function request(overrides: Partial<VmaccessRequest> = {}): VmaccessRequest {
  return { resetSsh: false, restoreBackupSsh: false, warnings: [], ...overrides };
}

export const fastVerify = { settleMs: 0, attempts: 2, delayMs: 0, probeTimeoutMs: 10, sleep: () => Promise.resolve() };

/**
 * The ssh action driven the way dispatch drives it: `apply(request)` plans, then
 * executes that plan; `plan(request)` gives the lines `vmaccess plan` prints.
 */
export function driveFromRequest(action: PlannedAction<SshPlanDetail>): {
  wants: (request: VmaccessRequest) => boolean;
  plan: (request: VmaccessRequest, context: ActionContext) => Promise<string[]>;
  apply: (request: VmaccessRequest, context: ActionContext) => Promise<StepOutcome[]>;
} {
  return {
    wants: (request) => action.wants(request),
    plan: async (request, context) => renderPlan(await action.plan(request, context)),
    apply: async (request, context) => action.apply(await action.plan(request, context), context),
  };
}
