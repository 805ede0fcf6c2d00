import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createUserAction } from '../../src/actions/accounts/user.js';
import { compactUtc, parseOpenSshVersion } from '../../src/actions/accounts/key-expiry.js';
import { withExpiry } from '../../src/config/ssh-public-key/index.js';
import { addGrant, deadlineAfter, dueGrants, nextDeadline, parseGrants } from '../../src/actions/access/access-grants.js';
import type { AccessGrant } from '../../src/actions/access/access-grants.js';
import { calendarUtc, cronEntry, serviceUnit, timerUnit } from '../../src/actions/access/expiry-timer.js';
import { expire, removeExpirySchedule } from '../../src/lifecycle/expire.js';
import type { VmaccessRequest, AccountRequest } from '../../src/settings/request.js';
import { parseSshPublicKeys } from '../../src/config/ssh-public-key/index.js';
import { createEventSink } from '../../src/handler/events.js';
import { createSilentLogger } from '../../src/handler/log.js';
import type { Invocation, Runtime } from '../../src/lifecycle/runtime.js';
import { createFakeMachine } from '../fakes/user-fake-tools.js';
import type { FakeMachine } from '../fakes/user-fake-tools.js';
import { generateTestKeys } from '../fakes/user-test-keys.js';
import type { TestKeys } from '../fakes/user-test-keys.js';
import { HANDLER_DIR, handlerEnvironment } from '../helpers/enable-harness.js';

/** ssh_key_expiry and access_minutes against the fake machine, and `expire` as the timer runs it. */

const GRANTS = '/var/cache/vmaccess/access-grants.json';
const TIMER = '/etc/systemd/system/vmaccess-expire.timer';
const SERVICE = '/etc/systemd/system/vmaccess-expire.service';
const CRON = '/etc/cron.d/vmaccess-expire';

let keys: TestKeys;
beforeAll(() => {
  keys = generateTestKeys();
}, 60_000);

let machine: FakeMachine;
let sshdVersion: string;
let systemctl: string[][];
beforeEach(() => {
  machine = createFakeMachine();
  machine.context.handlerDir = HANDLER_DIR;
  sshdVersion = 'OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024';
  machine.system.onCommand((call) => call.file === '/usr/sbin/sshd' && call.args[0] === '-V', () => ({ exitCode: 0, stderr: `${sshdVersion}\n` }));
  systemctl = [];
  machine.system.onCommand('systemctl', (call) => {
    systemctl.push(call.args);
    return { exitCode: 0 };
  });
  machine.system.onCommand('date', (call) => ({ stdout: `${new Date(Number(call.args[1]!.slice(1)) * 1000 + 3_600_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}\n` }));
});

function accountRequest(account: Partial<AccountRequest> & { username: string }): VmaccessRequest {
  return { account: { removePriorKeys: false, passwordless: false, ...account }, resetSsh: false, restoreBackupSsh: false, warnings: [] };
}

async function apply(request: VmaccessRequest) {
  const action = createUserAction();
  return action.apply(await action.plan(request, machine.context), machine.context);
}

function runtimeFor(printed: string[] = []): { runtime: Runtime; invocation: Invocation } {
  const environment = handlerEnvironment();
  const runtime: Runtime = { system: machine.system, logger: createSilentLogger(), paths: machine.context.paths, loadActions: () => Promise.resolve([]), pid: 4242, print: (line) => printed.push(line) };
  const invocation: Invocation = { environment, sequenceFromAgent: undefined, agentLibDir: '/var/lib/waagent', events: createEventSink(machine.system, environment.eventsFolder, { version: '1.6.0', operationId: 'op', pid: 4242 }), agentVariables: {} };
  machine.system.onCommand('logger', () => ({ exitCode: 0 }));
  if (machine.system.nodes.get(HANDLER_DIR) === undefined) machine.system.addDir(HANDLER_DIR);
  return { runtime, invocation };
}

describe('ssh_key_expiry', () => {
  test('each key of the request is written with expiry-time in UTC (OpenSSH 9.1+)', async () => {
    const outcomes = await apply(accountRequest({ username: 'alice', sshKey: `${keys.ed25519.text}\n${keys.rsa.text}`, keyExpiry: '2026-12-24T18:00:00.000Z' }));
    expect(outcomes.find((outcome) => outcome.name === 'ssh_key')?.result).toBe('changed');
    const lines = (machine.system.text('/home/alice/.ssh/authorized_keys') ?? '').trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^expiry-time="20261224180000Z" ssh-/);
  });

  test('OpenSSH 8.2 to 9.0 read the time in the system time zone: converted by date(1)', async () => {
    sshdVersion = 'OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w';
    await apply(accountRequest({ username: 'alice', sshKey: keys.ed25519.text, keyExpiry: '2026-12-24T18:00:00.000Z' }));
    expect(machine.system.text('/home/alice/.ssh/authorized_keys')).toMatch(/^expiry-time="20261224190000" ssh-ed25519/);
  });

  test('older than OpenSSH 8.2: SSH_KEY_EXPIRY_UNSUPPORTED, nothing is created', async () => {
    sshdVersion = 'unknown option -- V\nOpenSSH_7.4p1, OpenSSL 1.0.2k-fips  26 Jan 2017\nusage: sshd [-46DdeiqTt]';
    const outcomes = await apply(accountRequest({ username: 'alice', sshKey: keys.ed25519.text, keyExpiry: '2026-12-24T18:00:00.000Z' }));
    expect(outcomes).toEqual([expect.objectContaining({ name: 'ssh_key', result: 'failed', code: 'SSH_KEY_EXPIRY_UNSUPPORTED' })]);
    expect(machine.system.text('/etc/passwd')).not.toContain('alice');
  });

  test('helpers: version parsing, compact UTC, options kept and an old expiry replaced', () => {
    expect(parseOpenSshVersion('OpenSSH_10.0p2 Debian-7')).toEqual({ major: 10, minor: 0 });
    expect(parseOpenSshVersion('dropbear')).toBeUndefined();
    expect(compactUtc('2026-02-03T04:05:06.789Z')).toBe('20260203040506');
    const [key] = parseSshPublicKeys(`from="10.0.0.0/8,192.168.1.1",expiry-time="20200101" ${keys.ed25519.text}`);
    expect(withExpiry([key!], 'expiry-time="20261224180000Z"')[0]!.options).toBe('expiry-time="20261224180000Z",from="10.0.0.0/8,192.168.1.1"');
  });
});

describe('access_minutes', () => {
  test('a new account: grant recorded (root 0600) before the change, systemd timer set, keys expire at the deadline', async () => {
    machine.system.addDir('/run/systemd/system');
    const plan = await createUserAction().plan(accountRequest({ username: 'temp', sshKey: keys.ed25519.text, accessMinutes: 30 }), machine.context);
    const deadline = deadlineAfter(machine.system.now(), 30);
    expect(plan.steps.find((step) => step.name === 'access')?.summary).toContain(`at ${deadline} (30 minutes) remove the account and take back its sudo rights`);
    expect(plan.files.map((file) => file.path)).toEqual(expect.arrayContaining([GRANTS, SERVICE, TIMER]));
    const outcomes = await createUserAction().apply(plan, machine.context);
    expect(outcomes.find((outcome) => outcome.name === 'access')).toMatchObject({ result: 'changed' });
    const grants = parseGrants(machine.system.text(GRANTS));
    expect(grants.grants).toEqual([expect.objectContaining({ user: 'temp', deadline, createdAccount: true, sudoAdded: true })]);
    expect((await machine.system.stat(GRANTS))?.mode).toBe(0o600);
    expect(machine.system.text(TIMER)).toContain(`OnCalendar=${calendarUtc(deadline)}`);
    expect(machine.system.text(SERVICE)).toContain(`ExecStart=${HANDLER_DIR}/handlers/run expire`);
    expect(systemctl).toEqual([['daemon-reload'], ['enable', 'vmaccess-expire.timer'], ['restart', 'vmaccess-expire.timer']]);
    expect(machine.system.text('/home/temp/.ssh/authorized_keys')).toMatch(new RegExp(`^expiry-time="${compactUtc(deadline)}Z" `));
    // The plan's digests are what apply wrote.
    for (const file of plan.files.filter((planned) => [GRANTS, TIMER, SERVICE].includes(planned.path))) {
      expect((await import('../../src/actions/file-digest.js')).sha256Hex(machine.system.text(file.path)!)).toBe(file.after);
    }
  });

  test('no systemd: a cron entry; neither systemd nor cron.d: refused before anything changes', async () => {
    machine.system.addDir('/etc/cron.d');
    await apply(accountRequest({ username: 'temp', sshKey: keys.ed25519.text, accessMinutes: 10 }));
    expect(machine.system.text(CRON)).toContain(`* * * * * root cd ${HANDLER_DIR} && ./handlers/run expire`);
    const other = createFakeMachine();
    other.context.handlerDir = HANDLER_DIR;
    other.system.onCommand((call) => call.file === '/usr/sbin/sshd' && call.args[0] === '-V', () => ({ stderr: 'OpenSSH_9.2p1' }));
    const action = createUserAction();
    const outcomes = await action.apply(await action.plan(accountRequest({ username: 'temp', sshKey: keys.ed25519.text, accessMinutes: 10 }), other.context), other.context);
    expect(outcomes).toEqual([expect.objectContaining({ name: 'access', result: 'failed', code: 'ACCESS_EXPIRY_FAILED' })]);
    expect(other.system.text('/etc/passwd')).not.toContain('temp');
  });

  test('an existing account with its sudo line: nothing to revoke, no grant and no timer', async () => {
    machine.system.addDir('/run/systemd/system');
    const outcomes = await apply(accountRequest({ username: 'azureuser', sshKey: keys.ed25519.text, accessMinutes: 10 }));
    expect(outcomes.some((outcome) => outcome.result === 'failed')).toBe(false);
    expect(machine.system.text(GRANTS)).toBeUndefined();
    expect(machine.system.text(TIMER)).toBeUndefined();
  });

  test('expire: a past deadline removes the account and its sudo line, drops the grant and the timer; a second run changes nothing', async () => {
    machine.system.addDir('/run/systemd/system');
    await apply(accountRequest({ username: 'temp', sshKey: keys.ed25519.text, accessMinutes: 5 }));
    expect(machine.system.text('/etc/sudoers.d/waagent')).toMatch(/^temp /m);
    const { runtime, invocation } = runtimeFor();
    machine.system.clock = new Date(machine.system.clock.getTime() + 4 * 60_000);
    expect(await expire(runtime, invocation)).toBe(0);
    expect(machine.system.text('/etc/passwd')).toContain('temp:');
    machine.system.clock = new Date(machine.system.clock.getTime() + 2 * 60_000);
    systemctl = [];
    expect(await expire(runtime, invocation)).toBe(0);
    expect(machine.system.text('/etc/passwd')).not.toContain('temp:');
    expect(machine.system.text('/etc/sudoers.d/waagent')).toBe('azureuser ALL=(ALL) NOPASSWD: ALL\n');
    expect(machine.system.text(GRANTS)).toBeUndefined();
    expect(machine.system.text(TIMER)).toBeUndefined();
    expect(systemctl).toEqual([['disable', '--now', 'vmaccess-expire.timer'], ['daemon-reload']]);
    const audit = (machine.system.text('/var/log/vmaccess/audit.log') ?? '').trim().split('\n').map((line) => JSON.parse(line) as { phase: string; summary: string });
    expect(audit.map((record) => record.phase)).toEqual(['before', 'after']);
    expect(audit[1]!.summary).toContain('VMAccess took back the sudo rights of "temp"');
    const calls = machine.system.calls.length;
    expect(await expire(runtime, invocation)).toBe(0);
    expect(machine.system.calls.slice(calls).filter((call) => ['userdel', 'visudo', 'systemctl'].includes(call.file))).toEqual([]);
  });

  test('expire: a user still logged in is locked now and retried; the grant stays with its error', async () => {
    machine.system.addDir('/etc/cron.d');
    await apply(accountRequest({ username: 'temp', sshKey: keys.ed25519.text, accessMinutes: 5 }));
    machine.system.onCommand('userdel', () => ({ exitCode: 8, stderr: 'userdel: user temp is currently used by process 77' }));
    const locks: string[][] = [];
    machine.system.onCommand((call) => call.file === 'usermod' && call.args[0] === '--lock', (call) => {
      locks.push(call.args);
      return { exitCode: 0 };
    });
    machine.system.clock = new Date(machine.system.clock.getTime() + 6 * 60_000);
    const { runtime, invocation } = runtimeFor();
    expect(await expire(runtime, invocation)).toBe(1);
    expect(locks).toEqual([['--lock', '--expiredate', '1', '--', 'temp']]);
    expect(machine.system.text('/etc/sudoers.d/waagent')).not.toMatch(/^temp /m);
    const [grant] = parseGrants(machine.system.text(GRANTS)).grants;
    expect(grant?.lastError).toMatch(/ACCESS_EXPIRY_FAILED.*locked and expired/);
    expect(machine.system.text(CRON)).toBeDefined();
  });

  test('uninstall removes this version\'s timer but not one another version\'s update moved', async () => {
    machine.system.addDir('/etc/cron.d');
    machine.system.addFile(CRON, cronEntry('/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.7.0'));
    const { runtime } = runtimeFor();
    expect(await removeExpirySchedule(runtime, HANDLER_DIR)).toBe(false);
    expect(machine.system.text(CRON)).toBeDefined();
    machine.system.addFile(CRON, cronEntry(HANDLER_DIR));
    expect(await removeExpirySchedule(runtime, HANDLER_DIR)).toBe(true);
    expect(machine.system.text(CRON)).toBeUndefined();
  });
});

describe('grants and schedule texts', () => {
  const grant = (user: string, deadline: string, extra: Partial<AccessGrant> = {}): AccessGrant => ({ user, deadline, createdAccount: false, sudoAdded: true, grantedAt: '2026-01-01T00:00:00Z', ...extra });

  test('a second grant for the same account keeps what the first one revokes and takes the new deadline', () => {
    const file = addGrant(addGrant({ version: 1, grants: [] }, grant('a', '2026-01-01T02:00:00Z', { createdAccount: true })), grant('a', '2026-01-01T05:00:00Z'));
    expect(file.grants).toEqual([expect.objectContaining({ user: 'a', deadline: '2026-01-01T05:00:00Z', createdAccount: true, sudoAdded: true })]);
  });

  test('due grants and the next deadline', () => {
    const file = { version: 1 as const, grants: [grant('b', '2026-01-01T03:00:00Z'), grant('a', '2026-01-01T01:00:00Z')] };
    expect(dueGrants(file, new Date('2026-01-01T02:00:00Z')).map((g) => g.user)).toEqual(['a']);
    expect(nextDeadline(file)).toBe('2026-01-01T01:00:00Z');
    expect(nextDeadline({ version: 1, grants: [] })).toBeUndefined();
  });

  test.each(['not json', '{"grants": [{"user": 1}]}', '{"grants": {}}'])('a damaged grants file is refused, not guessed: %s', (text) => {
    expect(() => parseGrants(text)).toThrowError(expect.objectContaining({ code: 'ACCESS_EXPIRY_FAILED' }));
  });

  test('units: persistent UTC timer, boot check, oneshot service in the handler folder', () => {
    expect(timerUnit('2026-12-24T18:00:00Z')).toContain('OnCalendar=2026-12-24 18:00:00 UTC\n');
    expect(timerUnit('2026-12-24T18:00:00Z')).toMatch(/Persistent=true\nOnBootSec=1min/);
    expect(serviceUnit(HANDLER_DIR)).toContain(`WorkingDirectory=${HANDLER_DIR}\nExecStart=${HANDLER_DIR}/handlers/run expire`);
  });

  test.each(['relative/dir', '/a b', '/x/../etc', '/x;rm -rf /', '/x\nExecStart=/bin/sh'])('a handler folder that cannot be named safely is refused: %j', (dir) => {
    expect(() => serviceUnit(dir)).toThrowError(expect.objectContaining({ code: 'ACCESS_EXPIRY_FAILED' }));
    expect(() => cronEntry(dir)).toThrowError(expect.objectContaining({ code: 'ACCESS_EXPIRY_FAILED' }));
  });
});
