import { beforeEach, describe, expect, test } from 'vitest';
import { createUnlockAction } from '../../src/actions/unlock/unlock.js';
import { countFaillockEntries, countPamTally2 } from '../../src/actions/unlock/unlock-plan.js';
import type { StepOutcome } from '../../src/actions/action.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import { createFakeMachine, fakeHash, isFakeHashOf } from '../fakes/user-fake-tools.js';
import type { FakeMachine } from '../fakes/user-fake-tools.js';

/** unlock against the fake machine: each lockout found by reading, cleared by one command, reported as one step. */

const action = createUnlockAction();
let machine: FakeMachine;
/** faillock's record of failed logins per user (what `faillock --user U` lists). */
let tallies: Map<string, number>;

const FAILLOCK_HEADER = 'bob:\nWhen                Type  Source                                           Valid\n';

function setShadow(name: string, hash: string, expireDays = ''): void {
  const text = machine.system.text('/etc/shadow') ?? '';
  const lines = text.split('\n').filter((line) => line.split(':')[0] !== name && line !== '');
  machine.system.addFile('/etc/shadow', `${[...lines, `${name}:${hash}:20000:0:99999:7::${expireDays}:`].join('\n')}\n`, { mode: 0o640, gid: 42 });
}

function addUser(name: string, shell = '/bin/bash'): void {
  machine.system.addFile('/etc/passwd', `${machine.system.text('/etc/passwd') ?? ''}${name}:x:1001:1001::/home/${name}:${shell}\n`);
  machine.system.addDir(`/home/${name}`, 0o700, 1001, 1001);
  setShadow(name, fakeHash('old-secret'));
}

function unlockRequest(username: string, extra: { password?: string; expiration?: string } = {}): VmaccessRequest {
  return { unlock: { username, ...extra }, resetSsh: false, restoreBackupSsh: false, warnings: [] };
}

async function run(request: VmaccessRequest): Promise<StepOutcome[]> {
  return action.apply(await action.plan(request, machine.context), machine.context);
}

function shadowOf(name: string): string[] {
  return (machine.system.text('/etc/shadow') ?? '').split('\n').find((line) => line.startsWith(`${name}:`))?.split(':') ?? [];
}

beforeEach(() => {
  machine = createFakeMachine();
  tallies = new Map();
  machine.system.onCommand('faillock', (call) => {
    const name = call.args[1]!;
    if (call.args[2] === '--reset') {
      tallies.delete(name);
      return { exitCode: 0 };
    }
    const rows = Array.from({ length: tallies.get(name) ?? 0 }, (_, index) => `2026-01-15 09:0${index}:00 RHOST 10.0.0.9 V\n`);
    return { stdout: `${FAILLOCK_HEADER.replace('bob', name)}${rows.join('')}` };
  });
  // The shadow tool's other unlock forms: clearing the expiry and changing the shell.
  machine.system.onCommand('usermod', (call) => {
    const name = call.args.at(-1)!;
    if (call.args[0] === '--expiredate' && call.args[1] === '') {
      const fields = shadowOf(name);
      fields[7] = '';
      setShadow(name, fields[1]!, '');
      return { exitCode: 0 };
    }
    if (call.args[0] === '--shell') {
      const passwd = (machine.system.text('/etc/passwd') ?? '').split('\n').map((line) => (line.startsWith(`${name}:`) ? line.replace(/:[^:]*$/, `:${call.args[1]}`) : line));
      machine.system.addFile('/etc/passwd', passwd.join('\n'));
      return { exitCode: 0 };
    }
    return undefined;
  });
});

describe('unlock', () => {
  test('a faillocked, expired, locked account with a nologin shell: four steps, password and keys kept', async () => {
    addUser('bob', '/usr/sbin/nologin');
    const expiredDays = Math.floor(machine.system.now().getTime() / 86_400_000) - 3;
    setShadow('bob', `!${fakeHash('old-secret')}`, String(expiredDays));
    tallies.set('bob', 3);
    const plan = await action.plan(unlockRequest('bob'), machine.context);
    expect(plan.steps.map((step) => step.name)).toEqual(['unlock_faillock', 'unlock_expiry', 'unlock_password', 'unlock_shell']);
    expect(plan.commands.map((command) => command.argv.join(' '))).toEqual([
      'faillock --user bob --reset',
      'usermod --expiredate  -- bob',
      'usermod --unlock -- bob',
      'usermod --shell /bin/sh -- bob',
    ]);
    const outcomes = await action.apply(plan, machine.context);
    expect(outcomes.map((outcome) => [outcome.name, outcome.result])).toEqual([
      ['unlock_faillock', 'changed'],
      ['unlock_expiry', 'changed'],
      ['unlock_password', 'changed'],
      ['unlock_shell', 'changed'],
    ]);
    expect(tallies.has('bob')).toBe(false);
    expect(shadowOf('bob')[1]).toBe(fakeHash('old-secret'));
    expect(shadowOf('bob')[7]).toBe('');
    expect(machine.system.text('/etc/passwd')).toContain('bob:x:1001:1001::/home/bob:/bin/sh');
    expect(outcomes[3]!.message).toContain("distribution's default");
    expect(machine.context.ssh.passwordUsers.size).toBe(0);
    expect(machine.system.commandsRun('chpasswd')).toEqual([]);
  });

  test('the same request again changes nothing and runs no change command', async () => {
    addUser('bob');
    tallies.set('bob', 2);
    await run(unlockRequest('bob'));
    const before = machine.system.calls.length;
    const again = await run(unlockRequest('bob'));
    expect(again).toEqual([expect.objectContaining({ name: 'unlock', result: 'unchanged' })]);
    const changing = machine.system.calls.slice(before).filter((call) => call.args.includes('--reset') || call.file === 'usermod' || call.file === 'chpasswd');
    expect(changing).toEqual([]);
  });

  test('a password locked with nothing behind the lock is set only when a password is sent', async () => {
    addUser('carl');
    setShadow('carl', '!');
    const without = await action.plan(unlockRequest('carl'), machine.context);
    expect(without.steps).toEqual([expect.objectContaining({ name: 'unlock', changes: false })]);
    expect(without.notes.join(' ')).toMatch(/no password behind the lock; send password/);
    const outcomes = await run(unlockRequest('carl', { password: 'N3w-pass!' }));
    expect(outcomes).toEqual([expect.objectContaining({ name: 'unlock_password', result: 'changed' })]);
    expect(isFakeHashOf('N3w-pass!', shadowOf('carl')[1] ?? '')).toBe(true);
    expect(machine.context.ssh.passwordUsers.has('carl')).toBe(true);
  });

  test('a password that is not locked is not changed even when one is sent', async () => {
    addUser('dina');
    const plan = await action.plan(unlockRequest('dina', { password: 'other' }), machine.context);
    expect(plan.commands).toEqual([]);
    expect(plan.notes.join(' ')).toMatch(/not locked; unlock does not change it/);
    expect(JSON.stringify({ steps: plan.steps, notes: plan.notes, commands: plan.commands })).not.toContain('other"');
  });

  test('a requested expiration is set instead of removing the expiry', async () => {
    addUser('erik');
    await run(unlockRequest('erik', { expiration: '2030-01-31' }));
    expect(shadowOf('erik')[7]).toBe(String(Date.UTC(2030, 0, 31) / 86_400_000));
  });

  test('pam_tally2 where faillock is missing', async () => {
    addUser('fred');
    machine.system.onCommand('faillock', () => ({ exitCode: 127, started: false }));
    let reset = false;
    machine.system.onCommand('pam_tally2', (call) => {
      if (call.args.includes('--reset')) {
        reset = true;
        return { exitCode: 0 };
      }
      return { stdout: `Login           Failures Latest failure     From\nfred               ${reset ? 0 : 5}    01/15/26 09:00:00  10.0.0.9\n` };
    });
    const outcomes = await run(unlockRequest('fred'));
    expect(outcomes.map((outcome) => [outcome.name, outcome.result])).toEqual([['unlock_faillock', 'changed']]);
    expect(outcomes[0]?.message).toContain('5 failed login(s) counted by pam_tally2');
    expect(reset).toBe(true);
  });

  test.each([
    ['missing', 'nobody-here', 'USER_NOT_FOUND'],
    ['root', 'root', 'USER_PROTECTED'],
    ['a system account', 'daemon', 'USER_PROTECTED'],
  ])('refuses %s account with a stable code and changes nothing', async (_what, name, code) => {
    const outcomes = await run(unlockRequest(name));
    expect(outcomes).toEqual([expect.objectContaining({ name: 'unlock', result: 'failed', code })]);
    expect(machine.system.commandsRun('usermod')).toEqual([]);
  });

  test('a failing step stops the rest, reported as skipped', async () => {
    addUser('gus', '/bin/false');
    tallies.set('gus', 1);
    machine.system.onCommand('faillock', (call) => (call.args.includes('--reset') ? { exitCode: 1, stderr: 'faillock: cannot open tally dir' } : undefined));
    const outcomes = await run(unlockRequest('gus'));
    expect(outcomes.map((outcome) => [outcome.name, outcome.result, outcome.code])).toEqual([
      ['unlock_faillock', 'failed', 'USER_COMMAND_FAILED'],
      ['unlock_shell', 'skipped', undefined],
    ]);
  });
});

describe('tally parsers', () => {
  test('faillock lists one line per failure after the header', () => {
    expect(countFaillockEntries(`${FAILLOCK_HEADER}2026-01-15 09:00:00 RHOST 10.0.0.9 V\n2026-01-15 09:00:05 TTY pts/0 I\n`)).toBe(2);
    expect(countFaillockEntries(FAILLOCK_HEADER)).toBe(0);
  });
  test('pam_tally2 prints the count in the second column', () => {
    expect(countPamTally2('Login Failures Latest failure From\nbob 7 01/15/26 09:00:00 host\n', 'bob')).toBe(7);
    expect(countPamTally2('Login Failures Latest failure From\n', 'bob')).toBe(0);
  });
});
