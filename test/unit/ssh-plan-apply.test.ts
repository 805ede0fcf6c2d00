import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ActionContext, ActionPlan, StepOutcome } from '../../src/actions/action.js';
import { createUndoRecord } from '../../src/actions/ssh/ssh-undo.js';
import type { SshPlanDetail } from '../../src/actions/ssh/ssh-plan.js';
import { OWN_DROP_IN, createSshAction } from '../../src/actions/ssh/ssh.js';
import { isVmaccessError } from '../../src/errors.js';
import type { VmaccessRequest } from '../../src/settings/request.js';
import type { FakeSystem } from '../fakes/fake-system.js';
import { createWorld, driveFromRequest, fastVerify, REPO, request, SSHD } from '../fakes/ssh-world.js';
import type { World } from '../fakes/ssh-world.js';

/**
 * Apply executes exactly the plan: for each kind of SSH request, every file's bytes are
 * snapshotted around apply, and the files that changed are exactly the plan's files,
 * with the digests the plan announced.
 */

const DROP_IN = `/etc/ssh/sshd_config.d/${OWN_DROP_IN}`;
const action = createSshAction({ verify: fastVerify, resourcesDir: path.join(REPO, 'resources') });
const password = (username: string): VmaccessRequest => request({ account: { username, password: 'not-used-here', removePriorKeys: false, passwordless: false } });

function digests(system: FakeSystem): Map<string, string> {
  return new Map([...system.nodes].filter(([, node]) => node.type === 'file').map(([file, node]) => [file, createHash('sha256').update(node.data).digest('hex')]));
}

function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((file) => before.get(file) !== after.get(file)).sort();
}

async function planThenApply(world: World, input: VmaccessRequest): Promise<{ plan: ActionPlan<SshPlanDetail>; outcomes: StepOutcome[]; changed: string[] }> {
  const before = digests(world.system);
  const plan = await action.plan(input, world.context);
  expect(digests(world.system)).toEqual(before);
  const outcomes = await action.apply(plan, world.context);
  const after = digests(world.system);
  const changed = changedPaths(before, after);
  expect(changed).toEqual(plan.files.map((file) => file.path).sort());
  for (const file of plan.files) {
    if (file.writtenBy !== undefined) expect(after.has(file.path)).toBe(true);
    else expect(after.get(file.path) ?? null).toBe(file.after);
    expect(before.get(file.path) ?? null).toBe(file.before);
  }
  return { plan, outcomes, changed };
}

function failures(outcomes: StepOutcome[]): StepOutcome[] {
  return outcomes.filter((outcome) => outcome.result === 'failed');
}

async function grantPassword(world: World, user: string): Promise<void> {
  world.context.ssh.passwordUsers.add(user);
  expect(failures(await driveFromRequest(action).apply(password(user), world.context))).toEqual([]);
  world.context.ssh.passwordUsers.clear();
}

function withSsh(context: ActionContext, change: (ssh: ActionContext['ssh']) => void): ActionContext {
  change(context.ssh);
  return context;
}

describe('apply changes exactly the files the plan lists', () => {
  test('password grant: the drop-in and the first backup', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    withSsh(world.context, (ssh) => ssh.passwordUsers.add('alice'));
    const { outcomes, changed } = await planThenApply(world, password('alice'));
    expect(failures(outcomes)).toEqual([]);
    expect(changed).toContain(DROP_IN);
    expect(changed).toContain('/var/cache/vmaccess/backup');
    expect(changed).toContain('/var/cache/vmaccess/backup.d/.complete');
  });

  test('reset_ssh: new main file, quarantined drop-in, generated host keys', async () => {
    const world = createWorld({ family: 'rhel-9', running: false, hostKeys: false, files: { '/etc/ssh/sshd_config': 'Bogus\n', '/etc/ssh/sshd_config.d/70-bad.conf': 'Bogus yes\n' } });
    const { plan, outcomes, changed } = await planThenApply(world, request({ resetSsh: true }));
    expect(failures(outcomes)).toEqual([]);
    expect(changed).toContain('/etc/ssh/sshd_config');
    expect(changed).toContain('/etc/ssh/sshd_config.d/70-bad.conf');
    // Not a package file: it moves into the backup set (issue 11), where restore finds it.
    expect(changed).toContain('/var/cache/vmaccess/backup.d/70-bad.conf');
    expect(plan.files.filter((file) => file.writtenBy === 'ssh-keygen').map((file) => file.path)).toContain('/etc/ssh/ssh_host_ed25519_key.pub');
    expect(plan.service).toEqual({ action: 'restart', reason: 'reset_ssh restarts sshd once (a frozen or saturated sshd holds the port and answers nothing)' });
  });

  test('restore_backup_ssh: the original main file and drop-ins come back, the extension drop-in goes', async () => {
    const world = createWorld({ family: 'ubuntu-22.04' });
    const original = world.system.text('/etc/ssh/sshd_config');
    await grantPassword(world, 'alice');
    world.system.addFile('/etc/ssh/sshd_config', `${original ?? ''}# changed later\n`);
    world.system.addFile('/etc/ssh/sshd_config.d/50-cloud-init.conf', 'PasswordAuthentication yes\n');
    const { outcomes, changed } = await planThenApply(world, request({ restoreBackupSsh: true }));
    expect(failures(outcomes)).toEqual([]);
    // The consumed backup set moves to the history folder (issue 11).
    const history = '/var/cache/vmaccess/backup.history/2026-01-15T10-00-00-000Z';
    const backupSet = ['backup', 'backup.d/.complete', 'backup.d/50-cloud-init.conf', 'backup.d/60-cloudimg-settings.conf'];
    expect(changed).toEqual([
      '/etc/ssh/sshd_config',
      '/etc/ssh/sshd_config.d/00-vmaccess.conf',
      '/etc/ssh/sshd_config.d/50-cloud-init.conf',
      ...backupSet.map((name) => `/var/cache/vmaccess/${name}`),
      ...backupSet.map((name) => `${history}/${name}`),
    ]);
  });

  test('removed user: only their block leaves the drop-in', async () => {
    const world = createWorld({ family: 'debian-12' });
    await grantPassword(world, 'alice');
    await grantPassword(world, 'bob');
    withSsh(world.context, (ssh) => ssh.removedUsers.add('alice'));
    const { outcomes, changed } = await planThenApply(world, request({ removeUser: 'alice' }));
    expect(failures(outcomes)).toEqual([]);
    expect(changed).toEqual([DROP_IN]);
    expect(world.system.text(DROP_IN)).not.toContain('alice');
  });

  test('nothing to do: an empty plan, no file changes, no command', async () => {
    const world = createWorld({ family: 'ubuntu-22.04' });
    withSsh(world.context, (ssh) => ssh.removedUsers.add('nobody-had-a-grant'));
    const { plan, outcomes, changed } = await planThenApply(world, request({ removeUser: 'nobody-had-a-grant' }));
    expect(plan.files).toEqual([]);
    expect(changed).toEqual([]);
    expect(outcomes.map((outcome) => outcome.result)).toEqual(['unchanged']);
    expect(world.system.calls).toEqual([]);
  });

  test('an interrupted run: its journal, the files it puts back and this change are all planned', async () => {
    const world = createWorld({ family: 'debian-12' });
    const undo = createUndoRecord(world.system, '/var/cache/vmaccess/sshd-undo');
    await undo.remember('/etc/ssh/sshd_config', 'Port 2222\n');
    world.system.addFile('/etc/ssh/sshd_config', 'Port 2222\n');
    withSsh(world.context, (ssh) => ssh.passwordUsers.add('alice'));
    const { outcomes, changed } = await planThenApply(world, password('alice'));
    expect(failures(outcomes)).toEqual([]);
    expect(changed).toContain('/etc/ssh/sshd_config');
    expect(changed).toContain('/var/cache/vmaccess/sshd-undo/manifest.json');
    expect(changed).toContain(DROP_IN);
  });
});

describe('an interrupted run and a request sshd refuses', () => {
  test('the journal still puts its files back (exactly the planned ones), then the refusal is reported', async () => {
    const world = createWorld({ family: 'debian-12', files: { '/etc/ssh/sshd_config.d/00-admin.conf': 'Match User alice\n\tPasswordAuthentication no\n' } });
    const original = world.system.text('/etc/ssh/sshd_config');
    const undo = createUndoRecord(world.system, '/var/cache/vmaccess/sshd-undo');
    await undo.remember('/etc/ssh/sshd_config', 'Port 2222\n');
    world.system.addFile('/etc/ssh/sshd_config', 'Port 2222\n');
    withSsh(world.context, (ssh) => ssh.passwordUsers.add('alice'));
    const before = digests(world.system);
    const plan = await action.plan(password('alice'), world.context);
    expect(plan.steps.map((step) => step.name)).toEqual(['sshd_recovery', 'sshd_config']);
    const error = await action.apply(plan, world.context).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isVmaccessError(error) ? error.code : error).toBe('SSHD_CONFIG_INVALID');
    expect(world.system.text('/etc/ssh/sshd_config')).toBe(original);
    expect(changedPaths(before, digests(world.system))).toEqual(plan.files.map((file) => file.path).sort());
    expect(world.system.text(DROP_IN)).toBeUndefined();
  });
});

describe('validation a plan cannot finish', () => {
  test('sshd -t needs /run/sshd: the plan says so, apply creates it, validates, and writes the planned files', async () => {
    const world = createWorld({ family: 'debian-12' });
    world.system.onCommand(SSHD, (call) => (call.args.includes('-t') && world.system.nodes.get('/run/sshd') === undefined ? { exitCode: 255, stderr: 'Missing privilege separation directory: /run/sshd\n' } : undefined));
    withSsh(world.context, (ssh) => ssh.passwordUsers.add('alice'));
    const { plan, outcomes, changed } = await planThenApply(world, password('alice'));
    expect(plan.notes).toContain('creates /run/sshd first (sshd needs it)');
    expect(plan.steps.find((step) => step.name === 'sshd_config')?.summary).toMatch(/sshd -t checks the candidate once \/run\/sshd exists/);
    expect(failures(outcomes)).toEqual([]);
    expect(world.system.nodes.get('/run/sshd')?.type).toBe('directory');
    expect(changed).toContain(DROP_IN);
  });
});

describe('sshd -t and sshd -T asked side by side', () => {
  test('both fail without /run/sshd and -T answers first: its failure is handled (no unhandled rejection), the plan is pending, apply finishes', async () => {
    const world = createWorld({ family: 'debian-12' });
    world.system.onCommand(SSHD, async (call) => {
      if (world.system.nodes.get('/run/sshd') !== undefined) return undefined;
      // As a real sshd: -T fails at once, -t a moment later, both naming the directory.
      if (call.args.includes('-t')) await new Promise((resolve) => setTimeout(resolve, 30));
      return { exitCode: 255, stderr: 'Missing privilege separation directory: /run/sshd\n' };
    });
    withSsh(world.context, (ssh) => ssh.passwordUsers.add('alice'));
    const { plan, outcomes } = await planThenApply(world, password('alice'));
    expect(plan.notes).toContain('creates /run/sshd first (sshd needs it)');
    expect(failures(outcomes)).toEqual([]);
  });
});

describe('apply refuses a plan the files no longer match', () => {
  test('a planned file changed after planning: SSHD_PLAN_STALE, nothing written, sshd untouched', async () => {
    const world = createWorld({ family: 'ubuntu-24.04' });
    withSsh(world.context, (ssh) => ssh.passwordUsers.add('alice'));
    const plan = await action.plan(password('alice'), world.context);
    world.system.addFile(DROP_IN, 'Match User mallory\n\tPasswordAuthentication yes\n');
    const error = await action.apply(plan, world.context).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isVmaccessError(error) ? error.code : error).toBe('SSHD_PLAN_STALE');
    expect(world.system.text(DROP_IN)).toBe('Match User mallory\n\tPasswordAuthentication yes\n');
    expect(world.reloads()).toEqual([]);
  });
});
