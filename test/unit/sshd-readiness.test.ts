import { describe, expect, test } from 'vitest';
import { verifyOptions } from '../../src/actions/ssh/ssh-apply.js';
import { profileFor } from '../../src/actions/ssh/distro.js';
import { awaitNewListeners, confirmSshdReady, parseProcNetListeners, snapshotListeners } from '../../src/actions/ssh/sshd-readiness.js';
import { decideServiceControl } from '../../src/actions/ssh/sshd-service.js';
import type { ServiceFacts, VerifyOptions } from '../../src/actions/ssh/sshd-service.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { FakeSystem } from '../fakes/fake-system.js';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
/** One /proc/net/tcp line; port 22 is 0016, 0A is LISTEN, 01 ESTABLISHED. */
const line = (slot: number, port: number, inode: number, state = '0A'): string =>
  `   ${slot}: 00000000:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;
const tcp = (...lines: string[]): string => HEADER + lines.join('');

/** A fake clock that sleep advances, so deadlines pass without real waiting. */
function fakeTime(): { clock: () => number; sleep: (ms: number) => Promise<void>; sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    clock: () => now,
    sleep: (ms) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
    sleeps,
  };
}

describe('/proc/net/tcp listeners', () => {
  test('only LISTEN sockets with a live inode count, per port', () => {
    const text = tcp(line(0, 22, 1111), line(1, 22, 2222, '01'), line(2, 2222, 0), line(3, 80, 3333));
    expect(parseProcNetListeners(text)).toEqual([
      { port: 22, inode: '1111' },
      { port: 80, inode: '3333' },
    ]);
  });

  test('no /proc (the fake by default): no snapshot, so no claim about listeners', async () => {
    expect(await snapshotListeners(new FakeSystem())).toBeUndefined();
    const snapshot = await snapshotListeners(new FakeSystem({ '/proc/net/tcp': tcp(line(0, 22, 5)), '/proc/net/tcp6': tcp(line(0, 22, 6)) }));
    expect(snapshot).toEqual(new Map([[22, new Set(['5', '6'])]]));
  });
});

describe('waiting for the re-executed sshd', () => {
  test('the old listener is not enough; a new inode on every port is', async () => {
    const system = new FakeSystem({ '/proc/net/tcp': tcp(line(0, 22, 100), line(1, 2222, 200)) });
    const before = (await snapshotListeners(system))!;
    const time = fakeTime();
    let looks = 0;
    const sleep = async (ms: number): Promise<void> => {
      looks += 1;
      // sshd closes its sockets, then re-opens them one port at a time.
      if (looks === 1) system.addFile('/proc/net/tcp', tcp());
      if (looks === 2) system.addFile('/proc/net/tcp', tcp(line(0, 22, 300)));
      if (looks === 3) system.addFile('/proc/net/tcp', tcp(line(0, 22, 300), line(1, 2222, 400)));
      await time.sleep(ms);
    };
    const result = await awaitNewListeners(system, before, [22, 2222], { pollMs: 2, deadline: 1_000, clock: time.clock, sleep });
    expect(result).toEqual({ ok: true, missing: [] });
    expect(looks).toBe(3);
    expect(time.sleeps).toEqual([2, 2, 2]);
  });

  test('listeners that never change: bounded by the deadline, names the port', async () => {
    const system = new FakeSystem({ '/proc/net/tcp': tcp(line(0, 22, 100)) });
    const before = (await snapshotListeners(system))!;
    const time = fakeTime();
    const result = await awaitNewListeners(system, before, [22], { pollMs: 5, deadline: 50, clock: time.clock, sleep: time.sleep });
    expect(result).toEqual({ ok: false, missing: [22] });
    expect(time.sleeps).toHaveLength(10);
  });
});

describe('confirmSshdReady', () => {
  const profile = profileFor('debian', undefined, defaultSystemPaths());
  const pidFiles = ['/run/sshd.pid'];
  const endpoints = [{ host: '127.0.0.1', port: 22 }];
  const options = (time: ReturnType<typeof fakeTime>): VerifyOptions => ({ settleMs: 1_000, attempts: 3, delayMs: 250, probeTimeoutMs: 100, sleep: time.sleep, clock: time.clock, pollMs: 2, deadlineMs: 200 });

  function runningSshd(): FakeSystem {
    const system = new FakeSystem({ '/proc/net/tcp': tcp(line(0, 22, 100)), '/run/sshd.pid': '77\n', '/proc/77/comm': 'sshd\n' });
    system.alivePids.add(77);
    // The old sshd still answers until it re-executes: a banner alone proves nothing.
    system.banners.set('127.0.0.1:22', 'SSH-2.0-OpenSSH_9.2p1');
    return system;
  }

  test('verified only after the new listener appears, without any settle wait', async () => {
    const system = runningSshd();
    const before = await snapshotListeners(system);
    const time = fakeTime();
    const sleep = async (ms: number): Promise<void> => {
      if (time.clock() >= 6) system.addFile('/proc/net/tcp', tcp(line(0, 22, 101)));
      await time.sleep(ms);
    };
    const result = await confirmSshdReady(system, profile, pidFiles, { readiness: 'listeners', before, endpoints }, { ...options(time), sleep });
    expect(result).toMatchObject({ ok: true, detail: 'sshd answers on port 22', basis: 'new listener inodes, then banners' });
    expect(result.waitedMs).toBe(8);
    expect(system.probes).toEqual(['127.0.0.1:22']);
    expect(Math.max(...time.sleeps)).toBe(2);
  });

  test('a sshd that never re-opens its sockets fails at the deadline, and is never probed', async () => {
    const system = runningSshd();
    const before = await snapshotListeners(system);
    const time = fakeTime();
    const result = await confirmSshdReady(system, profile, pidFiles, { readiness: 'listeners', before, endpoints }, options(time));
    expect(result).toMatchObject({ ok: false, detail: 'sshd opened no new listening socket on port 22 within 200 ms' });
    expect(result.waitedMs).toBe(200);
    expect(system.probes).toEqual([]);
  });

  test('a new listener that answers something else than SSH fails at the deadline', async () => {
    const system = runningSshd();
    const before = await snapshotListeners(system);
    system.addFile('/proc/net/tcp', tcp(line(0, 22, 102)));
    system.banners.set('127.0.0.1:22', 'HTTP/1.1 400 Bad Request');
    const time = fakeTime();
    const result = await confirmSshdReady(system, profile, pidFiles, { readiness: 'listeners', before, endpoints }, options(time));
    expect(result).toMatchObject({ ok: false, detail: 'port 22 answers, but not with an SSH banner' });
    expect(time.clock()).toBeGreaterThanOrEqual(200);
  });

  test('without /proc the old two looks settleMs apart stay the rule', async () => {
    const system = runningSshd();
    await system.remove('/proc/net/tcp');
    const time = fakeTime();
    const result = await confirmSshdReady(system, profile, pidFiles, { readiness: 'listeners', before: await snapshotListeners(system), endpoints }, options(time));
    expect(result).toMatchObject({ ok: true, basis: 'two looks, settle time apart' });
    expect(time.sleeps.filter((ms) => ms === 1_000)).toHaveLength(2);
  });

  test('nothing sent to sshd: one look, no wait', async () => {
    const system = runningSshd();
    const time = fakeTime();
    const result = await confirmSshdReady(system, profile, pidFiles, { readiness: 'now', before: undefined, endpoints }, options(time));
    expect(result).toMatchObject({ ok: true, waitedMs: 0 });
  });
});

describe('which readiness signal a decision gives', () => {
  const base: ServiceFacts = { init: 'systemd', unit: 'ssh.service', unitActive: true, unitMasked: false, socketActive: false, socketAccept: false };
  const change = { configChanged: true, listenChanged: false, ensureRunning: false, unmask: false };
  test.each<[string, ServiceFacts, string]>([
    ['SysV reload', { ...base, init: 'sysv', sysvCommand: ['service', 'ssh'], daemonPid: 9 }, 'listeners'],
    ['kill -HUP without init', { ...base, init: 'none', daemonPid: 9 }, 'listeners'],
    ['systemd reload of a unit owning its sockets', base, 'listeners'],
    ['socket unit holds the sockets, notify-reload unit', { ...base, socket: 'ssh.socket', socketActive: true, unitType: 'notify-reload' }, 'returned'],
    ['socket unit holds the sockets, Type=notify', { ...base, socket: 'ssh.socket', socketActive: true, unitType: 'notify' }, 'settle'],
  ])('%s', (_name, facts, readiness) => {
    expect(decideServiceControl(facts, change, '/usr/sbin/sshd').readiness).toBe(readiness);
  });
});

describe('the ssh action hands its verify options on', () => {
  test('every option given reaches the readiness wait (observeListeners, deadline, clock, poll)', () => {
    const time = fakeTime();
    const given: VerifyOptions = { settleMs: 1, attempts: 2, delayMs: 3, probeTimeoutMs: 4, sleep: time.sleep, pollMs: 5, deadlineMs: 6, clock: time.clock, observeListeners: false };
    expect(verifyOptions({ verify: given })).toEqual(given);
  });
});
