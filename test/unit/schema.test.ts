import { describe, expect, test } from 'vitest';
import { isVmaccessError } from '../../src/errors.js';
import { closestField, parseRequest } from '../../src/settings/schema.js';

const TODAY = { today: '2026-01-15' };
const SECRET = 'S3cret-Value-Never-Shown';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOb1P9N8xR1hO9n4A0nq9vGx6m6b6H0nKXkq9lQmXlKa me@laptop';

function expectInvalid(publicSettings: Record<string, unknown>, protectedSettings: Record<string, unknown>, ...fragments: string[]) {
  let caught: unknown;
  try {
    parseRequest(publicSettings, protectedSettings, TODAY);
  } catch (error) {
    caught = error;
  }
  expect(isVmaccessError(caught)).toBe(true);
  if (!isVmaccessError(caught)) return;
  expect(caught.code).toBe('SETTINGS_INVALID');
  for (const fragment of fragments) expect(caught.message).toContain(fragment);
  // No value from the request may appear in the message: any of them could be a secret.
  expect(caught.statusMessage).not.toContain(SECRET);
}

describe('valid requests', () => {
  test.each([
    ['az vm user update with a key', {}, { username: 'azureuser', ssh_key: KEY }],
    ['az vm user update with a password', {}, { username: 'azureuser', password: SECRET }],
    ['new admin with expiration', {}, { username: 'newadmin', password: SECRET, expiration: '2030-12-31' }],
    ['replace keys', {}, { username: 'newadmin', ssh_key: KEY, remove_prior_keys: true }],
    ['az vm user reset-ssh', {}, { reset_ssh: true }],
    ['restore backup', {}, { restore_backup_ssh: true }],
    ['az vm user delete', {}, { remove_user: 'olduser' }],
    ['check disk', { check_disk: true }, {}],
    ['repair disk by legacy mount name', { repair_disk: true, disk_name: 'datadisk' }, {}],
    ['string booleans from the original README', { check_disk: 'true', repair_disk: 'false' }, { reset_ssh: 'FALSE' }],
    ['empty password is ignored', {}, { username: 'azureuser', password: '', ssh_key: KEY }],
    ['user name with dot, dash and trailing dollar', {}, { username: 'svc.backup-1$', ssh_key: KEY }],
    ['32-character user name', {}, { username: 'a'.repeat(32), ssh_key: KEY }],
    ['nothing at all', {}, {}],
  ])('%s', (_name, publicSettings, protectedSettings) => {
    expect(() => parseRequest(publicSettings, protectedSettings, TODAY)).not.toThrow();
  });

  test('maps fields into the request', () => {
    const request = parseRequest({ repair_disk: 'True', disk_name: ' /dev/sdc1 ' }, { username: 'alice', password: SECRET, enable_passwordless_access: 'true' }, TODAY);
    expect(request.disk).toEqual({ mode: 'repair', diskName: '/dev/sdc1' });
    expect(request.account).toEqual({ username: 'alice', password: SECRET, removePriorKeys: false, passwordless: true });
    expect(request.resetSsh).toBe(false);
  });

  test('"false" strings mean false', () => {
    const request = parseRequest({ check_disk: 'false' }, { reset_ssh: 'false', restore_backup_ssh: false }, TODAY);
    expect(request.disk).toBeUndefined();
    expect(request.resetSsh).toBe(false);
    expect(request.restoreBackupSsh).toBe(false);
  });

  test('empty password and unknown keys become warnings', () => {
    const request = parseRequest({ chek_disk: true }, { username: 'alice', password: '', ssh_key: KEY, usrname: 'x' }, TODAY);
    expect(request.account?.password).toBeUndefined();
    expect(request.warnings.join('\n')).toContain('did you mean "check_disk"');
    expect(request.warnings.join('\n')).toContain('did you mean "username"');
    expect(request.warnings.join('\n')).toContain('password is empty');
  });

  test('non-secret account fields in public settings are used with a warning', () => {
    const request = parseRequest({ reset_ssh: true }, {}, TODAY);
    expect(request.resetSsh).toBe(true);
    expect(request.warnings.join('\n')).toContain('publicSettings.reset_ssh belongs in protectedSettings');
  });
});

describe('invalid requests', () => {
  test.each([
    ['check and repair together', { check_disk: true, repair_disk: true, disk_name: 'sdc' }, {}, ['publicSettings.repair_disk: cannot be combined with check_disk']],
    ['repair without disk_name', { repair_disk: true }, {}, ['disk_name: is required when repair_disk is true']],
    ['repair with blank disk_name', { repair_disk: true, disk_name: '  ' }, {}, ['disk_name: is required']],
    ['remove_user with reset_ssh', {}, { remove_user: 'bob', reset_ssh: true }, ['remove_user: cannot be combined with reset_ssh']],
    ['remove_user with restore_backup_ssh', {}, { remove_user: 'bob', restore_backup_ssh: 'true' }, ['cannot be combined with restore_backup_ssh']],
    ['remove_user with password', {}, { remove_user: 'bob', username: 'alice', password: SECRET }, ['remove_user: cannot be combined with password']],
    ['remove_user naming username', {}, { remove_user: 'bob', username: 'bob', ssh_key: KEY }, ['names the same account']],
    ['reset_ssh with restore_backup_ssh', {}, { reset_ssh: true, restore_backup_ssh: true }, ['reset_ssh: cannot be combined with restore_backup_ssh']],
    ['password without username', {}, { password: SECRET }, ['protectedSettings.password: needs username']],
    ['ssh_key without username', {}, { ssh_key: KEY }, ['ssh_key: needs username']],
    ['expiration without username', {}, { expiration: '2030-01-01' }, ['expiration: needs username']],
    ['remove_prior_keys without ssh_key', {}, { username: 'alice', password: SECRET, remove_prior_keys: true }, ['remove_prior_keys: needs ssh_key']],
    ['expiration not a date', {}, { username: 'alice', password: SECRET, expiration: '2030-02-30' }, ['expiration: must be a real calendar date']],
    ['expiration in another format', {}, { username: 'alice', password: SECRET, expiration: '31/12/2030' }, ['expiration: must be a real calendar date']],
    ['expiration in the past', {}, { username: 'alice', password: SECRET, expiration: '2020-01-01' }, ['expiration: must be a date after today']],
    ['boolean that is not a boolean', {}, { reset_ssh: 'yes' }, ['protectedSettings.reset_ssh: must be true or false']],
    ['boolean as a number', { check_disk: 1 }, {}, ['publicSettings.check_disk: must be true or false']],
    ['username as a number', {}, { username: 42, password: SECRET }, ['protectedSettings.username: must be a login name']],
    ['password in public settings', { password: SECRET }, { username: 'alice' }, ['publicSettings.password: must be sent in protectedSettings']],
    ['password with a line break (chpasswd injection)', {}, { username: 'alice', password: `${SECRET}\nroot:${SECRET}` }, ['password: must not contain line breaks']],
    ['same field with different values in both sections', { username: 'alice' }, { username: 'bob', ssh_key: KEY }, ['publicSettings.username: conflicts with protectedSettings.username']],
    ['several problems at once', { check_disk: true, repair_disk: true }, { password: SECRET }, ['repair_disk', 'disk_name', 'password: needs username']],
  ])('%s', (_name, publicSettings, protectedSettings, fragments) => {
    expectInvalid(publicSettings, protectedSettings, ...fragments);
  });

  test.each([
    ['-rf'],
    ['../x'],
    ['a b'],
    ['x\nALL ALL=(ALL) NOPASSWD: ALL'],
    ['x;touch /tmp/pwned'],
    ['a'.repeat(33)],
    ['/etc/passwd'],
    ['.'],
    ['..'],
    ['1234'],
    ['tab\there'],
    ['bell\u0007'],
    ['user,host=evil'],
    ['naïve'],
  ])('hostile username %j is refused, for username and for remove_user', (name) => {
    expectInvalid({}, { username: name, ssh_key: KEY }, 'protectedSettings.username: must be a login name');
    expectInvalid({}, { remove_user: name }, 'protectedSettings.remove_user: must be a login name');
  });
});

describe('closestField', () => {
  test.each([
    ['usrname', 'username'],
    ['sshkey', 'ssh_key'],
    ['reset-ssh', 'reset_ssh'],
    ['Check_Disk', 'check_disk'],
    ['diskname', 'disk_name'],
    ['completely_unrelated_setting', undefined],
  ])('%s -> %s', (key, expected) => {
    expect(closestField(key)).toBe(expected);
  });
});

describe('extensions: unlock, ssh_key_expiry, access_minutes', () => {
  const NOW = { today: '2026-01-15', now: new Date('2026-01-15T10:00:00Z') };

  test('unlock becomes its own request part; the user action gets no account', () => {
    const request = parseRequest({}, { username: 'bob', unlock: 'true', password: SECRET, expiration: '2026-02-01' }, NOW);
    expect(request.unlock).toEqual({ username: 'bob', password: SECRET, expiration: '2026-02-01' });
    expect(request.account).toBeUndefined();
  });

  test('ssh_key_expiry and access_minutes travel with the account (normalised UTC, minutes as a number)', () => {
    const request = parseRequest({}, { username: 'amy', ssh_key: KEY, ssh_key_expiry: '2026-12-24T18:00:00Z', access_minutes: '60' }, NOW);
    expect(request.account).toMatchObject({ keyExpiry: '2026-12-24T18:00:00.000Z', accessMinutes: 60 });
  });

  test.each([
    ['unlock without username', { unlock: true }, 'protectedSettings.unlock: needs username'],
    ['unlock with ssh_key', { username: 'bob', unlock: true, ssh_key: KEY }, 'unlock: cannot be combined with ssh_key'],
    ['unlock with access_minutes', { username: 'bob', unlock: true, access_minutes: 30 }, 'unlock: cannot be combined with access_minutes'],
    ['unlock with enable_passwordless_access', { username: 'bob', unlock: true, enable_passwordless_access: true }, 'cannot be combined with enable_passwordless_access'],
    ['unlock with remove_user', { username: 'bob', unlock: true, remove_user: 'carl' }, 'cannot be combined with remove_user'],
    ['ssh_key_expiry in the past', { username: 'amy', ssh_key: KEY, ssh_key_expiry: '2026-01-15T09:59:59Z' }, 'ssh_key_expiry: must be in the future'],
    ['ssh_key_expiry with an offset', { username: 'amy', ssh_key: KEY, ssh_key_expiry: '2026-12-24T18:00:00+01:00' }, 'must be an ISO 8601 UTC time'],
    ['ssh_key_expiry not a date', { username: 'amy', ssh_key: KEY, ssh_key_expiry: '2026-02-30T18:00:00Z' }, 'must be an ISO 8601 UTC time'],
    ['ssh_key_expiry with a password and no key', { username: 'amy', password: SECRET, ssh_key_expiry: '2026-12-24T18:00:00Z' }, 'ssh_key_expiry: needs ssh_key'],
    ['ssh_key_expiry without username', { ssh_key_expiry: '2026-12-24T18:00:00Z' }, 'ssh_key_expiry: needs username'],
    ['access_minutes too small', { username: 'amy', ssh_key: KEY, access_minutes: 4 }, 'between 5 and 10080'],
    ['access_minutes too large', { username: 'amy', ssh_key: KEY, access_minutes: 10_081 }, 'between 5 and 10080'],
    ['access_minutes fractional', { username: 'amy', ssh_key: KEY, access_minutes: 7.5 }, 'whole number of minutes'],
    ['access_minutes text', { username: 'amy', ssh_key: KEY, access_minutes: 'an hour' }, 'whole number of minutes'],
    ['access_minutes without username', { access_minutes: 30 }, 'access_minutes: needs username'],
    ['access_minutes with remove_user', { username: 'amy', ssh_key: KEY, remove_user: 'carl', access_minutes: 30 }, 'access_minutes: cannot be combined with remove_user'],
  ])('%s', (_name, protectedSettings: Record<string, unknown>, fragment) => {
    let caught: unknown;
    try {
      parseRequest({}, { ...protectedSettings, ...(protectedSettings.username === 'bob' ? { password: SECRET } : {}) }, NOW);
    } catch (error) {
      caught = error;
    }
    expect(isVmaccessError(caught) && caught.code).toBe('SETTINGS_INVALID');
    if (!isVmaccessError(caught)) return;
    expect(caught.message).toContain(fragment);
    expect(caught.statusMessage).not.toContain(SECRET);
  });
});
