import { describe, expect, test } from 'vitest';
import { endUserProcesses, statusHasUid } from '../../src/actions/accounts/account-processes.js';
import { FakeSystem } from '../fakes/fake-system.js';

const status = (uids: string, state = 'S (sleeping)') => `Name:\tsleep\nState:\t${state}\nUid:\t${uids}\nGid:\t0\t0\t0\t0\n`;

describe('which processes belong to the account (the test userdel applies)', () => {
  test.each([
    ['real, effective, saved, fs all the account', '1001\t1001\t1001\t1001', true],
    ['a setuid program it started (real uid)', '1001\t0\t0\t0', true],
    ['saved uid only', '0\t0\t1001\t0', true],
    ['another account', '1000\t1000\t1000\t1000', false],
    ['a uid that merely starts with the same digits', '10010\t10010\t10010\t10010', false],
  ])('%s', (_name, uids, expected) => {
    expect(statusHasUid(status(uids), 1001)).toBe(expected);
  });

  test('a zombie is already dead', () => {
    expect(statusHasUid(status('1001\t1001\t1001\t1001', 'Z (zombie)'), 1001)).toBe(false);
  });
});

describe('endUserProcesses', () => {
  test('logind first where systemd runs, then the signals; root (uid 0) is never a target', async () => {
    const system = new FakeSystem().addDir('/proc').addDir('/run/systemd/system').addProcess(900, 1001);
    system.onCommand('loginctl', () => ({ exitCode: 0 }));
    expect(await endUserProcesses(system, 1001, { sleep: () => Promise.resolve() })).toEqual({ ended: 1, remaining: [] });
    expect(system.commandsRun('loginctl').map((call) => call.args)).toEqual([
      ['disable-linger', '1001'],
      ['terminate-user', '1001'],
    ]);
    system.addProcess(901, 0);
    expect(await endUserProcesses(system, 0)).toEqual({ ended: 0, remaining: [] });
    expect(system.signals.map((entry) => entry.pid)).not.toContain(901);
  });

  test('a process that survives SIGKILL is reported, with bounded waits', async () => {
    const system = new FakeSystem().addDir('/proc').addProcess(900, 1001);
    // A process in uninterruptible sleep: no signal ends it.
    system.signalProcess = (pid, signal) => {
      system.signals.push({ pid, signal });
      return Promise.resolve(true);
    };
    let slept = 0;
    const result = await endUserProcesses(system, 1001, { sleep: (ms) => ((slept += ms), Promise.resolve()), graceMs: 1_000, killWaitMs: 400, pollMs: 200 });
    expect(result).toEqual({ ended: 0, remaining: [900] });
    expect(slept).toBeLessThanOrEqual(3 * (1_000 + 400));
  });
});
