import { describe, expect, test } from 'vitest';
import type { Action, ActionPlan } from '../../src/actions/action.js';
import { createSilentLogger } from '../../src/handler/log.js';
import { plan } from '../../src/lifecycle/plan.js';
import { main, type ProcessContext } from '../../src/main.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { FakeSystem } from '../fakes/fake-system.js';

function processContext(argv: string[]): ProcessContext & { output: string[]; errors: string[] } {
  const output: string[] = [];
  const errors: string[] = [];
  return {
    argv,
    env: {},
    cwd: '/work',
    pid: 1234,
    nodeVersion: 'v20.20.2',
    out: (text) => output.push(text),
    err: (text) => errors.push(text),
    output,
    errors,
  };
}

const PASSWORD = 'Plan-Secret-123';

describe('vmaccess plan', () => {
  test('a valid request prints the plan of each action it involves and changes nothing', async () => {
    const system = new FakeSystem().addFile('/work/request.json', JSON.stringify({ publicSettings: { check_disk: 'true', chek: 1 }, protectedSettings: {} }));
    system.onCommand(() => true, () => ({ exitCode: 1, stderr: 'not available in this test' }));
    // Every path with its type, mode, owner and bytes: "changes nothing" means none of them moves.
    const snapshot = () => [...system.nodes].map(([file, node]) => [file, node.type, node.mode, node.uid, Buffer.from(node.data).toString('base64')]);
    const before = snapshot();
    const proc = processContext(['plan', 'request.json']);
    expect(await main(proc, system)).toBe(0);
    const printed = proc.output.join('');
    expect(printed).toContain('The request is valid.');
    expect(printed).toContain('warning: publicSettings: unknown setting "chek"');
    expect(printed).toContain('disk:');
    expect(printed).not.toContain('user:');
    expect(printed).toContain('Nothing was changed (plan mode).');
    expect(snapshot()).toEqual(before);
  });

  test('an invalid request exits 2 with the problems and without the password', async () => {
    const system = new FakeSystem().addFile('/work/request.json', JSON.stringify({ protectedSettings: { password: PASSWORD, remove_user: 'x', reset_ssh: true } }));
    const proc = processContext(['plan', 'request.json']);
    expect(await main(proc, system)).toBe(2);
    const errors = proc.errors.join('');
    expect(errors).toContain('[SETTINGS_INVALID]');
    expect(errors).toContain('protectedSettings.password: needs username');
    expect(errors).not.toContain(PASSWORD);
  });

  test.each([
    ['missing file', undefined, 'SETTINGS_MISSING'],
    ['not JSON', '{', 'SETTINGS_NOT_JSON'],
    ['protectedSettings not an object', '{"protectedSettings": "abc"}', 'SETTINGS_NOT_JSON'],
  ])('%s', async (_name, text, code) => {
    const system = new FakeSystem().addDir('/work');
    if (text !== undefined) system.addFile('/work/request.json', text);
    const proc = processContext(['plan', 'request.json']);
    expect(await main(proc, system)).toBe(2);
    expect(proc.errors.join('')).toContain(`[${code}]`);
  });
});

describe('vmaccess plan --json', () => {
  const request = { publicSettings: { check_disk: true }, protectedSettings: { username: 'rescuer', password: PASSWORD } };

  test('prints one JSON document with every action the request involves, and never the password', async () => {
    const system = new FakeSystem().addFile('/work/request.json', JSON.stringify(request));
    system.onCommand(() => true, () => ({ exitCode: 1, stderr: 'not available in this test' }));
    const proc = processContext(['plan', '--json', 'request.json']);
    expect(await main(proc, system)).toBe(0);
    const printed = proc.output.join('');
    const document = JSON.parse(printed) as { valid: boolean; plans: { action: string }[] };
    expect(document.valid).toBe(true);
    expect(document.plans.map((entry) => entry.action)).toEqual(['disk', 'user', 'ssh']);
    expect(printed).not.toContain(PASSWORD);
    expect(proc.errors.join('')).not.toContain(PASSWORD);
  });

  test("a planned action's detail (where apply keeps the password) is never printed", async () => {
    const system = new FakeSystem().addFile('/work/request.json', JSON.stringify(request));
    const actionPlan: ActionPlan<{ password: string }> = {
      action: 'user',
      steps: [{ name: 'password', changes: true, summary: 'set the password of "rescuer" (value not shown)' }],
      files: [{ path: '/etc/shadow', before: 'a'.repeat(64), after: null, writtenBy: 'chpasswd', reason: 'password' }],
      commands: [{ argv: ['chpasswd'], why: 'name:password on stdin' }],
      firewall: [],
      notes: [],
      detail: { password: PASSWORD },
    };
    const planned: Action = {
      name: 'user',
      wants: () => true,
      plan: () => Promise.resolve(actionPlan),
      apply: () => Promise.reject(new Error('plan must not apply')),
    };
    const printed: string[] = [];
    const runtime = {
      system,
      logger: createSilentLogger(),
      paths: defaultSystemPaths(),
      loadActions: () => Promise.resolve([planned]),
      pid: 1,
      print: (line: string) => printed.push(line),
    };
    expect(await plan(runtime, '/work/request.json', '/var/lib/waagent', { json: true })).toBe(0);
    const text = printed.join('\n');
    expect(text).not.toContain(PASSWORD);
    const document = JSON.parse(text) as { plans: Record<string, unknown>[] };
    expect(document.plans).toHaveLength(1);
    expect(document.plans[0]).not.toHaveProperty('detail');
    expect(document.plans[0]).toMatchObject({ action: 'user', commands: [{ argv: ['chpasswd'] }], files: [{ path: '/etc/shadow', writtenBy: 'chpasswd' }] });
  });
});

describe('command line', () => {
  test('--version prints the version', async () => {
    const proc = processContext(['--version']);
    expect(await main(proc, new FakeSystem())).toBe(0);
    expect(proc.output.join('')).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('an unknown command fails with usage help', async () => {
    const proc = processContext(['frobnicate']);
    expect(await main(proc, new FakeSystem())).not.toBe(0);
    expect(proc.errors.join('')).toContain('unknown command');
  });

  test('a lifecycle command without HandlerEnvironment.json fails, and enable leaves an error status', async () => {
    const system = new FakeSystem().addDir('/work/status');
    const proc = { ...processContext(['enable']), env: { ConfigSequenceNumber: '4' } };
    expect(await main(proc, system)).toBe(1);
    expect(proc.errors.join('')).toContain('[HANDLER_ENVIRONMENT_INVALID]');
    expect(system.text('/work/status/4.status')).toContain('HANDLER_ENVIRONMENT_INVALID');
  });
});
