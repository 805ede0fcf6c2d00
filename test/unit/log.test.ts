import { describe, expect, test } from 'vitest';
import { createFileLogger, createSilentLogger, createStreamLogger, formatRecord } from '../../src/handler/log.js';
import { VmaccessError } from '../../src/errors.js';
import { FakeSystem } from '../fakes/fake-system.js';

/** extension.log: one JSON record per line, secrets never in it, whatever a caller passes. */

function records(lines: string[]): Record<string, unknown>[] {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('records', () => {
  test('level, time, the run bindings, the fields and the message, one line each', () => {
    const lines: string[] = [];
    const logger = createStreamLogger((line) => lines.push(line), { op: 'enable', version: '1.6.0' });
    logger.info({ seq: 3, rssMiB: 52.1 }, 'enable started');
    logger.warn('a message alone');
    logger.debug({ step: 'x' }, 'debug is kept');
    expect(lines.every((line) => line.endsWith('\n') && line.indexOf('\n') === line.length - 1)).toBe(true);
    const [first, second, third] = records(lines);
    expect(first).toMatchObject({ level: 30, op: 'enable', version: '1.6.0', seq: 3, rssMiB: 52.1, msg: 'enable started' });
    expect(Number.isNaN(Date.parse(String(first?.time)))).toBe(false);
    expect(second).toMatchObject({ level: 40, msg: 'a message alone' });
    expect(third).toMatchObject({ level: 20, step: 'x' });
  });

  test('secrets are redacted at any depth, in arrays and maps too', () => {
    const line = formatRecord('info', new Date(0), {}, {
      password: 'hunter2',
      request: { account: { password: 'hunter2', sshKey: 'ssh-ed25519 AAAA', username: 'alice' } },
      list: [{ input: 'hunter2' }],
      map: new Map([['privateKey', '-----BEGIN']]),
      protectedSettings: 'MIIB',
    });
    expect(line).not.toMatch(/hunter2|AAAA|BEGIN|MIIB/);
    expect(JSON.parse(line)).toMatchObject({ password: '[redacted]', request: { account: { username: 'alice', password: '[redacted]', sshKey: '[redacted]' } }, list: [{ input: '[redacted]' }] });
  });

  test('errors are spelled out (type, message, code, stack, cause); cycles and depth cannot break a line', () => {
    const cause = new Error('inner');
    const error = new VmaccessError('SSHD_NOT_RUNNING', 'sshd is down', { cause });
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const record = JSON.parse(formatRecord('error', new Date(0), {}, { err: error, cyclic, big: 10n }, 'failed')) as Record<string, unknown>;
    expect(record.err).toMatchObject({ type: 'VmaccessError', code: 'SSHD_NOT_RUNNING', cause: { type: 'Error', message: 'inner' } });
    expect(String((record.err as { stack: string }).stack)).toContain('sshd is down');
    expect(JSON.stringify(record.cyclic)).toContain('[too deep]');
    expect(record.big).toBe('10');
  });

  test('the silent logger writes nothing', () => {
    const logger = createSilentLogger();
    expect(() => logger.error({ err: new Error('x') }, 'nothing')).not.toThrow();
  });
});

describe('extension.log', () => {
  test('appended synchronously, mode 0600, rotated once it passes 4 MiB', async () => {
    const system = new FakeSystem();
    system.addDir('/var/log/azure/vmaccess');
    system.addFile('/var/log/azure/vmaccess/extension.log', 'x'.repeat(4 * 1024 * 1024 + 1));
    const logger = await createFileLogger(system, '/var/log/azure/vmaccess', { op: 'enable' });
    logger.info({ seq: 1 }, 'first');
    // No await between the call and the bytes on disk: a SIGKILL right after loses nothing.
    expect(system.text('/var/log/azure/vmaccess/extension.log')).toContain('"msg":"first"');
    logger.info({ seq: 1 }, 'second');
    expect(system.text('/var/log/azure/vmaccess/extension.log')?.trim().split('\n')).toHaveLength(2);
    expect((await system.stat('/var/log/azure/vmaccess/extension.log'))?.mode).toBe(0o600);
    expect(system.text('/var/log/azure/vmaccess/extension.log.1')).toHaveLength(4 * 1024 * 1024 + 1);
  });
});
