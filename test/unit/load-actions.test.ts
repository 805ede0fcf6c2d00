import { describe, expect, test } from 'vitest';
import { loadActions, loadActionsToRecover } from '../../src/actions/index.js';
import { journalDir } from '../../src/actions/ssh/journal-dir.js';
import { defaultSystemPaths } from '../../src/system/paths.js';
import { FakeSystem } from '../fakes/fake-system.js';
import { wantsDisk, wantsSsh, wantsUser } from '../../src/actions/wants.js';
import { parseRequest } from '../../src/settings/schema.js';

// Requests of every kind, through the real schema.
const requests: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ['key for a user', {}, { username: 'ann', ssh_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ann' }],
  ['password', {}, { username: 'ann', password: 'Ann-pw-12345!' }],
  ['provisioning keys only', {}, { username: 'ann' }],
  ['remove_user', {}, { remove_user: 'ann' }],
  ['reset_ssh', {}, { reset_ssh: true }],
  ['restore_backup_ssh', { restore_backup_ssh: true }, {}],
  ['check_disk', { check_disk: true }, {}],
  ['repair_disk', { repair_disk: true, disk_name: 'sdc' }, {}],
  ['password and reset_ssh', {}, { username: 'ann', password: 'Ann-pw-12345!', reset_ssh: true }],
];

describe('loading only the actions a request needs', () => {
  test.each(requests)('%s: exactly the actions that want it are loaded, in order', async (_name, publicSettings, protectedSettings) => {
    const request = parseRequest(publicSettings, protectedSettings, { today: '2026-01-15' });
    const all = await loadActions();
    const loaded = await loadActions({}, request);
    // The pre-selection (wants.ts) agrees with each action's own wants().
    expect(loaded.map((action) => action.name)).toEqual(all.filter((action) => action.wants(request)).map((action) => action.name));
    expect(loaded.map((action) => action.name)).toEqual(
      [wantsDisk(request) && 'disk', wantsUser(request) && 'user', wantsSsh(request) && 'ssh'].filter((name) => name !== false),
    );
  });
});

describe('loading what an interrupted run left to finish', () => {
  test('no journal: nothing is loaded; a journal: the one action that keeps journals, and every action with a recover step is it', async () => {
    const paths = defaultSystemPaths();
    const system = new FakeSystem();
    expect(await loadActionsToRecover(system, paths)).toEqual([]);
    system.addDir(journalDir(paths));
    const pending = await loadActionsToRecover(system, paths);
    expect(pending.map((action) => action.name)).toEqual(['ssh']);
    expect((await loadActions()).filter((action) => action.recover !== undefined).map((action) => action.name)).toEqual(['ssh']);
  });
});
