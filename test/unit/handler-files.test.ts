import { describe, expect, test } from 'vitest';
import { parseHandlerEnvironment } from '../../src/handler/handler-environment.js';
import { acquireLock } from '../../src/handler/lock.js';
import { resolveSequenceNumber } from '../../src/handler/sequence.js';
import { STATUS_SIZE_BUDGET, buildStatusDocument, boundMessage } from '../../src/handler/status.js';
import { FakeSystem } from '../fakes/fake-system.js';
import { statusContractViolations } from '../helpers/status-contract.js';

const AGENT_ENVIRONMENT =
  '[{"name": "Microsoft.OSTCExtensions.VMAccessForLinux", "version": 1.0, "handlerEnvironment": {"logFolder": "/var/log/azure/Microsoft.OSTCExtensions.VMAccessForLinux", "configFolder": "/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.25/config", "statusFolder": "/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.25/status", "heartbeatFile": "/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.25/heartbeat.log", "eventsFolder": "/var/log/azure/Microsoft.OSTCExtensions.VMAccessForLinux/events", "eventsFolder_preview": "/var/log/azure/Microsoft.OSTCExtensions.VMAccessForLinux/events"}}]';

describe('HandlerEnvironment.json', () => {
  test("reads the agent's exact shape (array of one, version as a number)", () => {
    const env = parseHandlerEnvironment(AGENT_ENVIRONMENT, '/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.25/HandlerEnvironment.json');
    expect(env).toMatchObject({
      name: 'Microsoft.OSTCExtensions.VMAccessForLinux',
      statusFolder: '/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.25/status',
      eventsFolder: '/var/log/azure/Microsoft.OSTCExtensions.VMAccessForLinux/events',
      handlerDir: '/var/lib/waagent/Microsoft.OSTCExtensions.VMAccessForLinux-1.5.25',
    });
  });

  test('ignores unknown keys and tolerates older shapes (object, string version, keys other hosts add)', () => {
    const doc = JSON.parse(AGENT_ENVIRONMENT) as [Record<string, unknown>];
    const older = { ...doc[0], version: '1.0', seqNo: '3', handlerEnvironment: { ...(doc[0].handlerEnvironment as object), deploymentid: 'x', eventsFolder: undefined } };
    const env = parseHandlerEnvironment(JSON.stringify(older), '/h/HandlerEnvironment.json');
    expect(env.eventsFolder).toBe('/var/log/azure/Microsoft.OSTCExtensions.VMAccessForLinux/events');
  });

  test.each([
    ['not JSON', '[{'],
    ['no handlerEnvironment', '[{"name": "x", "version": 1.0}]'],
    ['relative folder', '[{"name": "x", "handlerEnvironment": {"logFolder": "log", "configFolder": "/c", "statusFolder": "/s"}}]'],
  ])('%s is HANDLER_ENVIRONMENT_INVALID', (_name, text) => {
    expect(() => parseHandlerEnvironment(text, '/h/HandlerEnvironment.json')).toThrow(expect.objectContaining({ code: 'HANDLER_ENVIRONMENT_INVALID' }) as Error);
  });
});

describe('sequence number', () => {
  test('prefers ConfigSequenceNumber', async () => {
    const system = new FakeSystem().addFile('/c/9.settings', '', { mtimeMs: 5 });
    expect(await resolveSequenceNumber(system, '/c', '2')).toBe(2);
  });

  test('falls back to the newest settings file, ignoring the agent state files', async () => {
    const system = new FakeSystem()
      .addFile('/c/9.settings', '', { mtimeMs: 5 })
      .addFile('/c/1.settings', '', { mtimeMs: 50 })
      .addFile('/c/HandlerState', 'Enabled', { mtimeMs: 90 })
      .addFile('/c/HandlerStatus', '{}', { mtimeMs: 90 });
    expect(await resolveSequenceNumber(system, '/c', undefined)).toBe(1);
    expect(await resolveSequenceNumber(system, '/c', 'not-a-number')).toBe(1);
  });

  test('no settings at all', async () => {
    expect(await resolveSequenceNumber(new FakeSystem().addDir('/c'), '/c', undefined)).toBeUndefined();
  });
});

describe('status document', () => {
  const completion = { settingsDigest: undefined, complete: true };

  test('bounds messages to 1024 characters on one line', () => {
    expect(boundMessage('a\nb\tc')).toBe('a b c');
    expect(boundMessage('x'.repeat(5000))).toHaveLength(1024);
    expect(boundMessage('')).toBe('-');
  });

  test('stays within the size budget and the contract with thousands of long substatus entries', () => {
    const substatus = Array.from({ length: 5000 }, (_, index) => ({ name: `disk:/dev/sd${index}`, status: 'success' as const, code: 0, message: 'y'.repeat(3000) }));
    const doc = buildStatusDocument({ operation: 'Enable', status: 'success', code: 0, message: 'm'.repeat(9000), substatus, completion }, 'Name', new Date('2026-01-01T00:00:00Z'));
    const text = JSON.stringify(doc);
    expect(text.length).toBeLessThanOrEqual(STATUS_SIZE_BUDGET);
    expect(statusContractViolations(text)).toEqual([]);
    expect(text).toContain('more results are in extension.log');
  });

  test('timestamps are ISO-8601 UTC without milliseconds', () => {
    const [first] = buildStatusDocument({ operation: 'Enable', status: 'error', code: 13, message: 'bad', substatus: [], completion }, 'Name', new Date('2026-01-01T10:20:30.456Z')) as [
      { timestampUTC: string },
    ];
    expect(first.timestampUTC).toBe('2026-01-01T10:20:30Z');
  });
});

describe('enable lock', () => {
  const noWait = () => Promise.resolve();

  test('a live holder keeps others out until it releases', async () => {
    const system = new FakeSystem().addDir('/h');
    system.alivePids.add(100);
    const first = await acquireLock(system, '/h/lock', { pid: 100 });
    await expect(acquireLock(system, '/h/lock', { pid: 200, waitMs: 1_000, pollMs: 250, sleep: noWait })).rejects.toMatchObject({ code: 'ENABLE_BUSY' });
    await first.release();
    const second = await acquireLock(system, '/h/lock', { pid: 200, sleep: noWait });
    await second.release();
    expect(await system.lstat('/h/lock')).toBeUndefined();
  });

  test('a lock left by a crashed holder is taken over', async () => {
    const system = new FakeSystem().addDir('/h').addFile('/h/lock', JSON.stringify({ pid: 999, since: 'earlier' }));
    const lock = await acquireLock(system, '/h/lock', { pid: 200, waitMs: 0, sleep: noWait });
    expect(JSON.parse(system.text('/h/lock') ?? '{}')).toMatchObject({ pid: 200 });
    await lock.release();
  });

  test('a lock older than any command may run is taken over even if its pid was reused', async () => {
    const system = new FakeSystem().addDir('/h').addFile('/h/lock', JSON.stringify({ pid: 300 }), { mtimeMs: 0 });
    system.alivePids.add(300);
    const lock = await acquireLock(system, '/h/lock', { pid: 200, waitMs: 0, sleep: noWait });
    await lock.release();
  });

  test('release does not remove a lock somebody else took over', async () => {
    const system = new FakeSystem().addDir('/h');
    const lock = await acquireLock(system, '/h/lock', { pid: 100 });
    system.addFile('/h/lock', JSON.stringify({ pid: 555 }));
    await lock.release();
    expect(system.text('/h/lock')).toContain('555');
  });
});
