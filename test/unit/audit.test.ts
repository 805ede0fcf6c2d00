import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createUserAction } from '../../src/actions/accounts/user.js';
import { sha256Hex } from '../../src/actions/file-digest.js';
import { createAuditTrail, requestKinds } from '../../src/lifecycle/audit.js';
import type { AuditRecord } from '../../src/lifecycle/audit.js';
import { dispatch } from '../../src/lifecycle/dispatch.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { createFakeMachine } from '../fakes/user-fake-tools.js';
import type { FakeMachine } from '../fakes/user-fake-tools.js';
import { generateTestKeys } from '../fakes/user-test-keys.js';
import type { TestKeys } from '../fakes/user-test-keys.js';

/** The audit trail, hooked at the dispatcher: a record before each change and one after, in the file and the system log. */

const AUDIT = '/var/log/vmaccess/audit.log';
const PASSWORD = 'Audit-Secret-Pw-91';

let keys: TestKeys;
beforeAll(() => {
  keys = generateTestKeys();
}, 60_000);

let machine: FakeMachine;
let syslog: { args: string[]; input: string }[];
beforeEach(() => {
  machine = createFakeMachine();
  syslog = [];
  machine.system.onCommand('logger', (call) => {
    syslog.push({ args: call.args, input: call.input ?? '' });
    return { exitCode: 0 };
  });
});

function records(): AuditRecord[] {
  return (machine.system.text(AUDIT) ?? '').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditRecord);
}

function request(): VmaccessRequest {
  return { account: { username: 'alice', password: PASSWORD, sshKey: keys.ed25519.text, removePriorKeys: false, passwordless: false }, resetSsh: false, restoreBackupSsh: false, warnings: [] };
}

describe('audit trail', () => {
  test('a new sudo user: before and after records with file digests, the same lines in the system log, no secret', async () => {
    const audit = createAuditTrail(machine.system, machine.context.paths, { seq: 7, onError: (error) => { throw error; } });
    const result = await dispatch([createUserAction()], request(), machine.context, audit);
    expect(result.failures).toEqual([]);
    const [before, after] = records();
    expect(before).toMatchObject({ seq: 7, n: 1, phase: 'before', action: 'user', kind: ['password', 'ssh_key'], account: 'alice' });
    expect(before!.summary).toBe('VMAccess is about to change for alice: account, password, ssh_key, sudo');
    expect(after).toMatchObject({ seq: 7, n: 2, phase: 'after', account: 'alice' });
    expect(after!.summary).toMatch(/^VMAccess created the account alice, set the password of alice, changed the SSH keys of alice, gave alice sudo/);
    const sudoers = after!.files.find((file) => file.path === '/etc/sudoers.d/waagent');
    expect(sudoers?.after).toBe(sha256Hex(machine.system.text('/etc/sudoers.d/waagent')!));
    expect(before!.files.find((file) => file.path === '/etc/sudoers.d/waagent')?.after).toBe(sudoers?.after);
    expect(after!.outcome?.map((outcome) => outcome.name)).toEqual(['account', 'password', 'ssh_key', 'sudo']);
    expect(syslog.map((call) => call.args)).toEqual([['-t', 'vmaccess', '-p', 'authpriv.notice'], ['-t', 'vmaccess', '-p', 'authpriv.notice']]);
    expect(syslog.map((call) => call.input)).toEqual((machine.system.text(AUDIT) ?? '').split('\n').filter(Boolean).map((line) => `${line}\n`));
    const everything = `${machine.system.text(AUDIT) ?? ''}${syslog.map((call) => call.input).join('')}`;
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(keys.ed25519.text.split(' ')[1]!);
    expect((await machine.system.stat(AUDIT))?.mode).toBe(0o600);
  });

  test('the same request again changes nothing and adds no record', async () => {
    const audit = createAuditTrail(machine.system, machine.context.paths, { seq: 1, onError: () => undefined });
    await dispatch([createUserAction()], request(), machine.context, audit);
    const lines = records().length;
    await dispatch([createUserAction()], request(), machine.context, createAuditTrail(machine.system, machine.context.paths, { seq: 2, onError: () => undefined }));
    expect(records()).toHaveLength(lines);
  });

  test('an action that throws still gets its after record, with the failure', async () => {
    const audit = createAuditTrail(machine.system, machine.context.paths, { seq: 3, onError: () => undefined });
    const user = createUserAction();
    const broken = { ...user, apply: () => Promise.reject(new Error('boom')) };
    await dispatch([broken], request(), machine.context, audit);
    expect(records().map((record) => [record.phase, record.outcome?.[0]?.code])).toEqual([
      ['before', undefined],
      ['after', 'INTERNAL'],
    ]);
  });

  test('a log over 1 MiB is rotated before the next line', async () => {
    machine.system.addDir('/var/log/vmaccess', 0o700);
    machine.system.addFile(AUDIT, `${'x'.repeat(1024 * 1024)}\n`, { mode: 0o600 });
    const audit = createAuditTrail(machine.system, machine.context.paths, { seq: 4, onError: (error) => { throw error; } });
    await audit.write({ phase: 'before', action: 'expire', kind: ['access_minutes'], account: 'a', summary: 's', files: [], commands: [] });
    expect(machine.system.text(`${AUDIT}.1`)?.length).toBe(1024 * 1024 + 1);
    expect(records()).toHaveLength(1);
  });

  test('a system log that cannot be reached does not stop the change', async () => {
    machine.system.onCommand('logger', () => ({ exitCode: 127, started: false }));
    const errors: unknown[] = [];
    const audit = createAuditTrail(machine.system, machine.context.paths, { seq: 5, onError: (error) => errors.push(error) });
    const result = await dispatch([createUserAction()], request(), machine.context, audit);
    expect(result.failures).toEqual([]);
    expect(records()).toHaveLength(2);
    expect(errors).toHaveLength(2);
  });

  test('the system-log copies go out one at a time in order while the work goes on; settled() waits for the last', async () => {
    const releases: (() => void)[] = [];
    const sent: string[] = [];
    machine.system.onCommand('logger', (call) => new Promise((resolve) => releases.push(() => {
      sent.push((JSON.parse(call.input ?? '{}') as AuditRecord).summary);
      resolve({ exitCode: 0 });
    })));
    const audit = createAuditTrail(machine.system, machine.context.paths, { seq: 6, onError: (error) => { throw error; } });
    const base = { action: 'expire', kind: ['access_minutes'], account: 'a', files: [], commands: [] };
    // Neither write waits for the system log: both are in the file at once.
    await audit.write({ ...base, phase: 'before', summary: 'first' });
    await audit.write({ ...base, phase: 'after', summary: 'second' });
    expect(records().map((record) => record.summary)).toEqual(['first', 'second']);
    let settled = false;
    const waiting = audit.settled().then(() => (settled = true));
    for (let index = 0; index < 2; index++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      // The second logger starts only once the first is done.
      expect(releases).toHaveLength(index + 1);
      expect(settled).toBe(false);
      releases[index]!();
    }
    await waiting;
    expect(sent).toEqual(['first', 'second']);
  });

  test('request kinds name settings, never values', () => {
    expect(requestKinds({ unlock: { username: 'x', password: PASSWORD }, resetSsh: true, restoreBackupSsh: false, warnings: [] })).toEqual(['unlock', 'reset_ssh']);
  });
});
