import { describe, expect, test } from 'vitest';
import { VmaccessError } from '../../src/errors.js';
import { enable } from '../../src/lifecycle/enable.js';
import { SCRUBBED_MARKER } from '../../src/settings/settings-file.js';
import {
  RecordingAction,
  createAgentLayout,
  createInvocation,
  createRuntime,
  handlerEnvironment,
  statusOf,
  statusText,
  writeSettings,
} from '../helpers/enable-harness.js';
import { statusContractViolations } from '../helpers/status-contract.js';

const env = handlerEnvironment();
const PASSWORD = 'Pa55-word-never-shown';

function setup() {
  const system = createAgentLayout();
  const user = new RecordingAction('user');
  const printed: string[] = [];
  return { system, user, printed, runtime: createRuntime(system, [user], printed) };
}

describe('enable: sequence numbers', () => {
  test('a new sequence number is applied, recorded in mrseq, and reported', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    expect(await enable(runtime, createInvocation(system, '3'))).toBe(0);
    expect(user.requests).toHaveLength(1);
    expect(user.requests[0]?.account).toMatchObject({ username: 'alice', password: PASSWORD });
    expect(system.text(`${env.handlerDir}/mrseq`)).toBe('3');
    expect(statusOf(system, 3)).toMatchObject({ status: 'success', code: 0 });
    expect(statusContractViolations(statusText(system, 3) ?? '')).toEqual([]);
  });

  test('the same sequence number again changes nothing and keeps the earlier status', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '3'));
    const first = statusText(system, 3);
    // The agent rewrites the settings file, protected blob included, before each enable.
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    system.clock = new Date('2026-01-16T00:00:00Z');
    expect(await enable(runtime, createInvocation(system, '3'))).toBe(0);
    expect(user.requests).toHaveLength(1);
    expect(statusText(system, 3)).toBe(first);
  });

  test('a run that died part-way is finished by the next enable with the same number', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 5, null, { username: 'alice', password: PASSWORD });
    user.failWith = new Error('process killed');
    // First run: an unexpected failure (like a crash) leaves the seq incomplete.
    expect(await enable(runtime, createInvocation(system, '5'))).toBe(1);
    expect(system.text(`${env.handlerDir}/mrseq`)).toBeUndefined();
    writeSettings(system, 5, null, { username: 'alice', password: PASSWORD });
    user.failWith = undefined;
    expect(await enable(runtime, createInvocation(system, '5'))).toBe(0);
    expect(user.requests).toHaveLength(2);
    expect(statusOf(system, 5).status).toBe('success');
  });

  test('a transitioning status with mrseq already equal (the original extension crashed) is redone', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 7, null, { username: 'alice', password: PASSWORD });
    system.addFile(`${env.handlerDir}/mrseq`, '7');
    system.addFile(`${env.statusFolder}/7.status`, JSON.stringify([{ status: { status: 'transitioning', code: 0 } }]));
    expect(await enable(runtime, createInvocation(system, '7'))).toBe(0);
    expect(user.requests).toHaveLength(1);
  });

  test('a terminal status from the original extension with mrseq equal counts as done (upgrade)', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 7, null, { username: 'alice', password: PASSWORD });
    system.addFile(`${env.handlerDir}/mrseq`, '7');
    system.addFile(`${env.statusFolder}/7.status`, JSON.stringify([{ status: { status: 'success', code: 0, formattedMessage: { lang: 'en-US', message: 'ok' } } }]));
    expect(await enable(runtime, createInvocation(system, '7'))).toBe(0);
    expect(user.requests).toHaveLength(0);
  });

  test('the same number with different public settings is new work', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 0, { check_disk: false }, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '0'));
    writeSettings(system, 0, { check_disk: 'false' }, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '0'));
    expect(user.requests).toHaveLength(2);
  });

  test('the same request re-encrypted by the platform (certificate rotation) is not redone', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 0, null, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '0'));
    // Same plaintext, other ciphertext: the fake blob differs by key order.
    writeSettings(system, 0, null, { password: PASSWORD, username: 'alice' });
    await enable(runtime, createInvocation(system, '0'));
    expect(user.requests).toHaveLength(1);
  });

  test('without ConfigSequenceNumber the most recently modified settings file wins, not the highest number', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 9, null, { username: 'old', password: PASSWORD }, { mtimeMs: 1_000 });
    writeSettings(system, 0, null, { username: 'new', password: PASSWORD }, { mtimeMs: 2_000 });
    expect(await enable(runtime, createInvocation(system, undefined))).toBe(0);
    expect(user.requests[0]?.account?.username).toBe('new');
    expect(statusText(system, 0)).toBeDefined();
  });

  test("the agent's empty 0.settings (no settings at all) succeeds with nothing to do", async () => {
    const { system, user, runtime } = setup();
    system.addFile(`${env.configFolder}/0.settings`, '');
    expect(await enable(runtime, createInvocation(system, '0'))).toBe(0);
    expect(user.requests).toHaveLength(0);
    expect(statusOf(system, 0)).toMatchObject({ status: 'success', message: expect.stringContaining('asks for nothing') as string });
  });

  test('null protected settings are fine', async () => {
    const { system, runtime } = setup();
    writeSettings(system, 1, { check_disk: false }, null);
    expect(await enable(runtime, createInvocation(system, '1'))).toBe(0);
  });
});

describe('enable: an interrupted change is finished first (#6)', () => {
  test('every enable with work runs the actions\' recover step first, even for a request without SSH changes; its warning is in the status', async () => {
    const { system, user, runtime } = setup();
    const order: string[] = [];
    const ssh = Object.assign(new RecordingAction('ssh'), {
      recover: () => {
        order.push('recover');
        return Promise.resolve([{ name: 'sshd_recovery', result: 'warning' as const, message: '/etc/ssh/sshd_config was changed since; kept' }]);
      },
    });
    const original = user.apply.bind(user);
    user.apply = (plan) => {
      order.push('user');
      return original(plan);
    };
    runtime.loadActions = () => Promise.resolve([user, ssh]);
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    expect(await enable(runtime, createInvocation(system, '3'))).toBe(0);
    expect(order).toEqual(['recover', 'user']);
    expect(ssh.requests).toEqual([]);
    const status = statusOf(system, 3);
    expect(status.status).toBe('success');
    expect(status.substatus[0]).toMatchObject({ name: 'sshd_recovery', status: 'warning' });
    expect(statusContractViolations(statusText(system, 3) ?? '')).toEqual([]);
    // A request that fails validation still gets the recovery, and reports it.
    writeSettings(system, 4, { reset_ssh: 'maybe', no_such_setting: 1 }, null);
    expect(await enable(runtime, createInvocation(system, '4'))).toBe(1);
    expect(order).toEqual(['recover', 'user', 'recover']);
    expect(statusOf(system, 4).substatus[0]).toMatchObject({ name: 'sshd_recovery', status: 'warning' });
  });
});

describe('enable: warnings', () => {
  test('a step that ends in a warning is named in the status message, not only in its substatus', async () => {
    const { system, user, runtime } = setup();
    user.outcomes = [{ name: 'sshd', result: 'warning', message: 'sshd was not reloaded: sshd is not running' }];
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    expect(await enable(runtime, createInvocation(system, '3'))).toBe(0);
    expect(statusOf(system, 3)).toMatchObject({ status: 'warning', message: 'Enable finished with a warning: sshd was not reloaded: sshd is not running.' });
    expect(statusOf(system, 3).substatus[0]).toMatchObject({ name: 'sshd', status: 'warning' });
  });
});

describe('enable: findings a person must act on', () => {
  test('check_disk that found errors: top-level warning naming each device and the repair_disk request, exit 0', async () => {
    const system = createAgentLayout();
    const disk = new RecordingAction('disk');
    disk.outcomes = [
      { name: 'disk:/dev/sdc1', result: 'unchanged', message: '/dev/sdc1 (ext4): errors found', warning: 'check_disk found errors on /dev/sdc1: run repair_disk with disk_name "/dev/sdc1"' },
      { name: 'disk:/dev/sdd1', result: 'unchanged', message: '/dev/sdd1 (xfs): errors found', warning: 'check_disk found errors on /dev/sdd1: run repair_disk with disk_name "/dev/sdd1"' },
      { name: 'disk:/dev/sde1', result: 'unchanged', message: '/dev/sde1 (ext4): clean' },
      { name: 'disk', result: 'unchanged', message: 'check_disk: 3 local filesystems, 1 clean, 2 with errors' },
    ];
    const printed: string[] = [];
    writeSettings(system, 6, { check_disk: true }, null);
    expect(await enable(createRuntime(system, [disk], printed), createInvocation(system, '6'))).toBe(0);
    const status = statusOf(system, 6);
    expect(status.status).toBe('warning');
    expect(status.code).toBe(0);
    expect(status.message).not.toContain('everything was already as requested');
    expect(status.message).toContain('repair_disk with disk_name "/dev/sdc1"');
    expect(status.message).toContain('repair_disk with disk_name "/dev/sdd1"');
    expect(status.substatus.map((entry) => entry.status)).toEqual(['warning', 'warning', 'success', 'success']);
    expect(statusContractViolations(statusText(system, 6) ?? '')).toEqual([]);
    // Done: the same seq is not run again.
    expect(system.text(`${env.handlerDir}/mrseq`)).toBe('6');
  });
});

describe('enable: failures always leave an error status', () => {
  test.each([
    ['missing settings file', (system: ReturnType<typeof createAgentLayout>) => void system, 'SETTINGS_MISSING'],
    ['settings that are not JSON', (system: ReturnType<typeof createAgentLayout>) => system.addFile(`${env.configFolder}/4.settings`, '{"runtimeSettings": [{'), 'SETTINGS_NOT_JSON'],
    ['an empty settings file (not the agent\'s 0-byte 0.settings)', (system: ReturnType<typeof createAgentLayout>) => system.addFile(`${env.configFolder}/4.settings`, ''), 'SETTINGS_EMPTY'],
    [
      'undecryptable protected settings',
      (system: ReturnType<typeof createAgentLayout>) =>
        system.addFile(
          `${env.configFolder}/4.settings`,
          JSON.stringify({ runtimeSettings: [{ handlerSettings: { publicSettings: null, protectedSettings: 'bm90IGNtcw==', protectedSettingsCertThumbprint: '1BE9A13AA1321C7C515EF109746998BAB6D86FD1' } }] }),
        ),
      'PROTECTED_SETTINGS_UNDECRYPTABLE',
    ],
    [
      'missing certificate',
      (system: ReturnType<typeof createAgentLayout>) => {
        writeSettings(system, 4, null, { username: 'alice', password: PASSWORD });
        void system.remove('/var/lib/waagent/1BE9A13AA1321C7C515EF109746998BAB6D86FD1.prv');
      },
      'PROTECTED_SETTINGS_CERT_MISSING',
    ],
    ['invalid settings', (system: ReturnType<typeof createAgentLayout>) => writeSettings(system, 4, null, { password: PASSWORD }), 'SETTINGS_INVALID'],
  ])('%s', async (_name, arrange, code) => {
    const { system, user, runtime, printed } = setup();
    arrange(system);
    expect(await enable(runtime, createInvocation(system, '4'))).toBe(1);
    const status = statusOf(system, 4);
    expect(status.status).toBe('error');
    expect(status.message).toContain(`[${code}]`);
    expect(status.code).toBeGreaterThan(0);
    expect(statusText(system, 4)).not.toContain(PASSWORD);
    expect(printed.join('\n')).not.toContain(PASSWORD);
    expect(statusContractViolations(statusText(system, 4) ?? '')).toEqual([]);
    expect(user.requests).toHaveLength(0);
  });

  test('a failing action gives an error status with one substatus per step and a stable code', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 2, null, { username: 'root', password: PASSWORD });
    user.failWith = new VmaccessError('USER_PROTECTED', 'The account root is managed by the system and is not changed.');
    expect(await enable(runtime, createInvocation(system, '2'))).toBe(1);
    const status = statusOf(system, 2);
    expect(status).toMatchObject({ status: 'error', code: 31 });
    expect(status.message).toContain('[USER_PROTECTED]');
    expect(status.substatus).toEqual([{ name: 'user', status: 'error', message: expect.stringContaining('[USER_PROTECTED]') as string }]);
    // Deterministic failure: the seq counts as done and is not retried on every boot.
    expect(system.text(`${env.handlerDir}/mrseq`)).toBe('2');
  });

  test('an unexpected exception becomes INTERNAL without its text', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 2, null, { username: 'alice', password: PASSWORD });
    user.failWith = new Error(`spawn chpasswd with ${PASSWORD}`);
    expect(await enable(runtime, createInvocation(system, '2'))).toBe(1);
    expect(statusOf(system, 2).message).toContain('[INTERNAL]');
    expect(statusText(system, 2)).not.toContain(PASSWORD);
  });
});

describe('enable: secrets and side files', () => {
  test('protected settings are scrubbed from the settings file after use, leaving valid JSON', async () => {
    const { system, runtime } = setup();
    writeSettings(system, 3, { check_disk: false }, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '3'));
    const text = system.text(`${env.configFolder}/3.settings`) ?? '';
    expect(JSON.parse(text)).toMatchObject({ runtimeSettings: [{ handlerSettings: { protectedSettings: SCRUBBED_MARKER, publicSettings: { check_disk: false } } }] });
  });

  test('a scrubbed file for an unfinished seq asks for the agent to deliver the settings again', async () => {
    const { system, user, runtime } = setup();
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    user.failWith = new Error('crash');
    await enable(runtime, createInvocation(system, '3'));
    user.failWith = undefined;
    // No rewrite by the agent in between: the blob is gone.
    expect(await enable(runtime, createInvocation(system, '3'))).toBe(1);
    expect(statusOf(system, 3).message).toContain('[PROTECTED_SETTINGS_CONSUMED]');
    expect(user.requests).toHaveLength(1);
  });

  test('unknown keys are reported as a warning substatus with the closest name', async () => {
    const { system, runtime } = setup();
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD, remove_prior_key: true });
    expect(await enable(runtime, createInvocation(system, '3'))).toBe(0);
    const status = statusOf(system, 3);
    expect(status.status).toBe('success');
    expect(status.substatus).toContainEqual({ name: 'settings', status: 'warning', message: expect.stringContaining('did you mean "remove_prior_keys"') as string });
  });

  test('one telemetry event per operation, in the agent format', async () => {
    const { system, runtime } = setup();
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '3'));
    const names = (await system.listDir(env.eventsFolder ?? '')) ?? [];
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^\d{20}\.json$/);
    const event = JSON.parse(system.text(`${env.eventsFolder}/${names[0]}`) ?? '{}') as Record<string, unknown>;
    expect(Object.keys(event).sort()).toEqual(['EventLevel', 'EventPid', 'EventTid', 'Message', 'OperationId', 'TaskName', 'Timestamp', 'Version']);
    for (const value of Object.values(event)) expect(typeof value).toBe('string');
    expect(JSON.stringify(event)).not.toContain(PASSWORD);
    // Nothing is left staged outside the folder.
    expect((await system.listDir('/var/log/azure/Microsoft.OSTCExtensions.VMAccessForLinux'))?.filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  test('the lock is released after enable', async () => {
    const { system, runtime } = setup();
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    await enable(runtime, createInvocation(system, '3'));
    expect(await system.lstat(`${env.handlerDir}/vmaccess.lock`)).toBeUndefined();
  });
});

describe('enable fast path (before the CLI is loaded)', () => {
  test('answers a finished seq and scrubs the blob the agent wrote back; anything else goes to the full enable', async () => {
    const { alreadyAppliedSeq } = await import('../../src/lifecycle/enable-noop.js');
    const { system, runtime } = setup();
    system.addFile(`${env.handlerDir}/HandlerEnvironment.json`, JSON.stringify([{ name: env.name, version: 1.0, handlerEnvironment: env }]));
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    expect(await alreadyAppliedSeq(system, env.handlerDir, { ConfigSequenceNumber: '3' })).toBeUndefined();
    await enable(runtime, createInvocation(system, '3'));
    writeSettings(system, 3, null, { username: 'alice', password: PASSWORD });
    expect(system.text(`${env.configFolder}/3.settings`)).not.toContain(SCRUBBED_MARKER);
    expect(await alreadyAppliedSeq(system, env.handlerDir, { ConfigSequenceNumber: '3' })).toBe(3);
    expect(system.text(`${env.configFolder}/3.settings`)).toContain(SCRUBBED_MARKER);
    expect(await alreadyAppliedSeq(system, env.handlerDir, { ConfigSequenceNumber: '4' })).toBeUndefined();
    expect(await alreadyAppliedSeq(system, '/elsewhere', { ConfigSequenceNumber: '3' })).toBeUndefined();
  });
});
