import { describe, expect, test } from 'vitest';
import { profileFor } from '../../src/actions/ssh/distro.js';
import { decideServiceControl, detectServiceFacts, probeEndpoints, verifySshdAnswers } from '../../src/actions/ssh/sshd-service.js';
import type { ServiceChange, ServiceFacts } from '../../src/actions/ssh/sshd-service.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { FakeSystem } from '../fakes/fake-system.js';

const SSHD = '/usr/sbin/sshd';
const base: ServiceFacts = { init: 'systemd', unitActive: false, unitMasked: false, socketActive: false, socketAccept: false };
const changed: ServiceChange = { configChanged: true, listenChanged: false, ensureRunning: false, unmask: false };
const unchanged: ServiceChange = { ...changed, configChanged: false };
const reset: ServiceChange = { configChanged: true, listenChanged: false, ensureRunning: true, unmask: true };

// The decision table of docs/ssh-server.md: every row once.
const table: [string, ServiceFacts, ServiceChange, string, string[]][] = [
  ['1 nothing changed, sshd running', { ...base, unit: 'ssh.service', unitActive: true }, unchanged, 'none', []],
  ['1 nothing changed, socket listening', { ...base, unit: 'ssh.service', socket: 'ssh.socket', socketActive: true }, unchanged, 'none', []],
  ['1b nothing changed, stopped, not asked to start', { ...base, unit: 'sshd.service' }, unchanged, 'none', []],
  ['2 reset: masked unit is unmasked, then started', { ...base, unit: 'sshd.service', unitMasked: true }, reset, 'start', ['systemctl unmask sshd.service', 'systemctl start sshd.service']],
  ['3 Accept=yes socket (Flatcar) listening: next connection reads it', { ...base, unit: 'sshd.service', socket: 'sshd.socket', socketActive: true, socketAccept: true }, changed, 'none', []],
  ['4 Accept=yes socket not listening: start the socket', { ...base, socket: 'sshd.socket', socketAccept: true }, reset, 'start', ['systemctl start sshd.socket']],
  [
    '5 socket-activated, port changed: daemon-reload, restart socket and service',
    { ...base, unit: 'ssh.service', unitActive: true, socket: 'ssh.socket', socketActive: true },
    { ...changed, listenChanged: true },
    'restart',
    ['systemctl daemon-reload', 'systemctl restart ssh.socket', 'systemctl restart ssh.service'],
  ],
  ['6 socket-activated, service running: reload it', { ...base, unit: 'ssh.service', unitActive: true, socket: 'ssh.socket', socketActive: true }, changed, 'reload', ['systemctl reload ssh.service']],
  ['7 socket-activated, only the socket listening: nothing to do', { ...base, unit: 'ssh.service', socket: 'ssh.socket', socketActive: true }, changed, 'none', []],
  ['8 socket-activated, neither running: start the socket', { ...base, unit: 'ssh.service', socket: 'ssh.socket' }, reset, 'start', ['systemctl start ssh.socket']],
  ['9 service unit running: reload', { ...base, unit: 'sshd.service', unitActive: true }, changed, 'reload', ['systemctl reload sshd.service']],
  ['9b reload also after a port change (SIGHUP re-executes sshd, which binds again)', { ...base, unit: 'sshd.service', unitActive: true }, { ...changed, listenChanged: true }, 'reload', ['systemctl reload sshd.service']],
  ['10 reset_ssh, service unit stopped: start (the original condrestart did nothing here)', { ...base, unit: 'sshd.service' }, reset, 'start', ['systemctl start sshd.service']],
  ['10c a password change, service unit stopped: left stopped (only reset_ssh starts sshd)', { ...base, unit: 'sshd.service' }, changed, 'none', []],
  ['10d a password change, Accept=yes socket stopped: left stopped', { ...base, socket: 'sshd.socket', socketAccept: true }, changed, 'none', []],
  ['10e a password change, ssh.socket and service stopped: left stopped', { ...base, unit: 'ssh.service', socket: 'ssh.socket' }, changed, 'none', []],
  ['10b reset with nothing changed still starts a stopped sshd', { ...base, unit: 'sshd.service' }, { ...reset, configChanged: false }, 'start', ['systemctl start sshd.service']],
  [
    '10c service failed into its start limit (broken config): reset-failed, then start',
    { ...base, unit: 'ssh.service', failedUnits: ['ssh.service'] },
    reset,
    'start',
    ['systemctl reset-failed ssh.service', 'systemctl start ssh.service'],
  ],
  [
    '10d masked and failed: unmask, reset-failed, start',
    { ...base, unit: 'ssh.service', unitMasked: true, failedUnits: ['ssh.service'] },
    reset,
    'start',
    ['systemctl unmask ssh.service', 'systemctl reset-failed ssh.service', 'systemctl start ssh.service'],
  ],
  [
    '8b socket and service failed (service start limit hit on connections): reset both, start the socket',
    { ...base, unit: 'ssh.service', socket: 'ssh.socket', failedUnits: ['ssh.service', 'ssh.socket'] },
    reset,
    'start',
    ['systemctl reset-failed ssh.service ssh.socket', 'systemctl start ssh.socket'],
  ],
  [
    '7b socket listening, service failed: reset it so the next connection can start it',
    { ...base, unit: 'ssh.service', socket: 'ssh.socket', socketActive: true, failedUnits: ['ssh.service'] },
    changed,
    'none',
    ['systemctl reset-failed ssh.service'],
  ],
  ['11 SysV, running: service reload', { ...base, init: 'sysv', sysvCommand: ['service', 'ssh'], daemonPid: 99 }, changed, 'reload', ['service ssh reload']],
  ['12 reset_ssh, SysV, stopped: service start', { ...base, init: 'sysv', sysvCommand: ['/etc/init.d/sshd'] }, reset, 'start', ['/etc/init.d/sshd start']],
  ['12b a password change, SysV, stopped: left stopped', { ...base, init: 'sysv', sysvCommand: ['/etc/init.d/sshd'] }, changed, 'none', []],
  ['13 no init, daemon alive: SIGHUP', { ...base, init: 'none', daemonPid: 4242 }, changed, 'reload', ['kill -HUP 4242']],
  ['14 reset_ssh, no init, no daemon: start sshd directly', { ...base, init: 'none' }, reset, 'start', [SSHD]],
  ['14c a password change, no init, no daemon: left stopped', { ...base, init: 'none' }, changed, 'none', []],
  ['14b no init, nothing changed, running: none', { ...base, init: 'none', daemonPid: 4242 }, { ...reset, configChanged: false }, 'none', []],
];

describe('service control decision table', () => {
  test.each(table)('%s', (_name, facts, change, action, commands) => {
    const decision = decideServiceControl(facts, change, SSHD);
    expect(decision.action).toBe(action);
    expect(decision.commands.map((command) => [command.file, ...command.args].join(' '))).toEqual(commands);
    expect(decision.reason).not.toBe('');
    // Only rows that leave a stopped sshd alone say so (apply then does not wait for an answer).
    expect(decision.leftStopped === true).toBe(/left stopped/.test(_name));
  });
});

describe('detectServiceFacts', () => {
  const paths = defaultSystemPaths();

  test('systemd: Ubuntu 24.04 layout, ssh.socket enabled and listening, ssh.service inactive', async () => {
    const system = new FakeSystem().addDir('/run/systemd/system');
    system.onCommand('systemctl', (call) => {
      if (call.args[1] === '--property=Accept') return { stdout: 'Accept=no\n' };
      return {
        stdout: [
          'Id=ssh.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n',
          'Id=ssh.service\nLoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n',
          'Id=ssh.socket\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n',
          'Id=sshd.socket\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n',
        ].join('\n'),
      };
    });
    const facts = await detectServiceFacts(system, profileFor('ubuntu', undefined, paths), []);
    expect(facts).toMatchObject({ init: 'systemd', unit: 'ssh.service', unitActive: false, socket: 'ssh.socket', socketActive: true, socketAccept: false });
  });

  test('systemd: masked sshd.service', async () => {
    const system = new FakeSystem().addDir('/run/systemd/system');
    system.onCommand('systemctl', () => ({ stdout: 'Id=sshd.service\nLoadState=masked\nActiveState=inactive\nUnitFileState=masked\n' }));
    const facts = await detectServiceFacts(system, profileFor('rhel', undefined, paths), []);
    expect(facts).toMatchObject({ unit: 'sshd.service', unitMasked: true, unitActive: false });
  });

  test('systemd: ssh.service failed (start limit) and ssh.socket failed are both reported as failed', async () => {
    const system = new FakeSystem().addDir('/run/systemd/system');
    system.onCommand('systemctl', (call) => {
      if (call.args[1] === '--property=Accept') return { stdout: 'Accept=no\n' };
      return {
        stdout: [
          'Id=ssh.service\nLoadState=loaded\nActiveState=failed\nUnitFileState=disabled\n',
          'Id=ssh.service\nLoadState=loaded\nActiveState=failed\nUnitFileState=disabled\n',
          'Id=ssh.socket\nLoadState=loaded\nActiveState=failed\nUnitFileState=enabled\n',
          'Id=sshd.socket\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n',
        ].join('\n'),
      };
    });
    const facts = await detectServiceFacts(system, profileFor('debian', undefined, paths), []);
    expect(facts).toMatchObject({ unit: 'ssh.service', unitActive: false, socket: 'ssh.socket', socketActive: false, failedUnits: ['ssh.service', 'ssh.socket'] });
  });

  test('systemd: an active unit is not reported as failed', async () => {
    const system = new FakeSystem().addDir('/run/systemd/system');
    system.onCommand('systemctl', () => ({ stdout: 'Id=ssh.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n' }));
    const facts = await detectServiceFacts(system, profileFor('debian', undefined, paths), []);
    expect(facts.failedUnits).toBeUndefined();
  });

  test('SysV with `service`, live daemon from the pid file', async () => {
    const system = new FakeSystem({ '/etc/init.d/ssh': '#!/bin/sh\n', '/usr/sbin/service': '', '/run/sshd.pid': '321\n', '/proc/321/comm': 'sshd\n' });
    system.alivePids.add(321);
    const facts = await detectServiceFacts(system, profileFor('debian', undefined, paths));
    expect(facts).toMatchObject({ init: 'sysv', sysvCommand: ['service', 'ssh'], daemonPid: 321 });
  });

  test('no init; a stale pid file naming another program is ignored', async () => {
    const system = new FakeSystem({ '/run/sshd.pid': '321\n', '/proc/321/comm': 'bash\n' });
    system.alivePids.add(321);
    const facts = await detectServiceFacts(system, profileFor('debian', undefined, paths));
    expect(facts.init).toBe('none');
    expect(facts.daemonPid).toBeUndefined();
  });
});

describe('verification', () => {
  test('listen addresses become loopback probes', () => {
    expect(probeEndpoints(['0.0.0.0:22', '[::]:22', '10.1.2.3:2222'], [])).toEqual([
      { host: '127.0.0.1', port: 22 },
      { host: '::1', port: 22 },
      { host: '10.1.2.3', port: 2222 },
    ]);
    expect(probeEndpoints([], ['2200'])).toEqual([{ host: '127.0.0.1', port: 2200 }]);
  });

  const options = { settleMs: 0, attempts: 3, delayMs: 0, probeTimeoutMs: 10, sleep: () => Promise.resolve() };

  test('one address per port is enough (IPv6 loopback may be off)', async () => {
    const system = new FakeSystem();
    system.banners.set('127.0.0.1:22', 'SSH-2.0-OpenSSH_9.6');
    expect(await verifySshdAnswers(system, [{ host: '::1', port: 22 }, { host: '127.0.0.1', port: 22 }], options)).toEqual({ ok: true, detail: 'sshd answers on port 22' });
  });

  test('something else on the port is not sshd; bounded retries', async () => {
    const system = new FakeSystem();
    system.banners.set('127.0.0.1:22', 'HTTP/1.1 400 Bad Request');
    const result = await verifySshdAnswers(system, [{ host: '127.0.0.1', port: 22 }], options);
    expect(result).toEqual({ ok: false, detail: 'port 22 answers, but not with an SSH banner' });
    expect(system.probes).toHaveLength(3);
  });
});

describe('the restart of reset_ssh', () => {
  const restart: ServiceChange = { ...reset, restart: true };
  test('a unit that crash-looped into its start limit is reset first, then restarted', () => {
    const decision = decideServiceControl({ ...base, unit: 'ssh.service', failedUnits: ['ssh.service'] }, restart, SSHD);
    expect(decision.commands.map((command) => [command.file, ...command.args].join(' '))).toEqual(['systemctl reset-failed ssh.service']);
    expect(decision.restart).toMatchObject({ init: 'systemd', units: ['ssh.service'] });
  });
  test('masked and failed: unmask, reset-failed, then the restart', () => {
    const decision = decideServiceControl({ ...base, unit: 'ssh.service', unitMasked: true, failedUnits: ['ssh.service'] }, restart, SSHD);
    expect(decision.commands.map((command) => [command.file, ...command.args].join(' '))).toEqual(['systemctl unmask ssh.service', 'systemctl reset-failed ssh.service']);
  });
});
