import { describe, expect, test } from 'vitest';
import { isVmaccessError } from '../../src/errors.js';
import { assertJsonBounds, SETTINGS_MAX_DEPTH } from '../../src/settings/json-bounds.js';
import { parseRequest } from '../../src/settings/schema.js';
import { parseSettingsFile } from '../../src/settings/settings-file.js';

/** Null means absent, errors name the section, bounds on depth and size, damaged files. */

const TODAY = { today: '2026-01-15' };
const SECRET = 'S3cret-Value-Never-Shown';

function errorOf(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (isVmaccessError(error)) return { code: error.code, message: error.statusMessage };
    throw error;
  }
  throw new Error('expected an error');
}

function nested(depth: number): unknown {
  let value: unknown = 'x';
  for (let level = 0; level < depth; level += 1) value = { a: value };
  return value;
}

describe('JSON null means the field is absent (ARM templates emit null)', () => {
  test('every optional field null in both sections is an empty request', () => {
    const publicNulls = { check_disk: null, repair_disk: null, disk_name: null };
    const protectedNulls = Object.fromEntries(
      ['username', 'password', 'ssh_key', 'reset_ssh', 'remove_user', 'expiration', 'remove_prior_keys', 'restore_backup_ssh', 'enable_passwordless_access'].map(
        (key) => [key, null],
      ),
    );
    const request = parseRequest(publicNulls, protectedNulls, TODAY);
    expect(request).toMatchObject({ resetSsh: false, restoreBackupSsh: false, warnings: [] });
    expect(request.account).toBeUndefined();
    expect(request.disk).toBeUndefined();
  });

  test('null beside real values: a key request with unset ARM parameters', () => {
    const request = parseRequest({ check_disk: null, disk_name: null }, { username: 'azureuser', password: SECRET, ssh_key: null, expiration: null, remove_prior_keys: null }, TODAY);
    expect(request.account).toMatchObject({ username: 'azureuser', password: SECRET, removePriorKeys: false });
    expect(request.account?.sshKey).toBeUndefined();
  });

  test('a null in one section does not conflict with a value in the other', () => {
    expect(parseRequest({ check_disk: true }, { check_disk: null }, TODAY).disk).toEqual({ mode: 'check' });
  });
});

describe('settings errors name the section of the field, never the value', () => {
  test.each([
    ['a missing disk_name', { repair_disk: true }, {}, 'publicSettings.disk_name'],
    ['a bad check_disk', { check_disk: SECRET }, {}, 'publicSettings.check_disk'],
    ['a disk_name of the wrong type', { disk_name: 7 }, {}, 'publicSettings.disk_name'],
    ['check and repair together', { check_disk: true, repair_disk: true, disk_name: SECRET }, {}, 'publicSettings.repair_disk'],
    ['a protected field sent in public', { username: `${SECRET}!` }, {}, 'publicSettings.username'],
    ['a protected field', {}, { username: `${SECRET}!` }, 'protectedSettings.username'],
    ['a missing username', {}, { ssh_key: SECRET }, 'protectedSettings.ssh_key'],
  ])('%s', (_name, publicSettings, protectedSettings, path) => {
    const error = errorOf(() => parseRequest(publicSettings, protectedSettings, TODAY));
    expect(error.code).toBe('SETTINGS_INVALID');
    expect(error.message).toContain(`${path}:`);
    expect(error.message).not.toContain(SECRET);
  });

  test('warnings about ignored fields name the section they came from', () => {
    const request = parseRequest({ disk_name: '/dev/sdc' }, {}, TODAY);
    expect(request.warnings).toContain('publicSettings.disk_name is only used with repair_disk and was ignored');
  });
});

describe('depth and size are bounded at parse time', () => {
  test('the bound walk itself survives nesting that would overflow JSON.stringify', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(errorOf(() => assertJsonBounds(deep, 'it')).code).toBe('SETTINGS_TOO_LARGE');
  });

  test('a settings file with deeply nested public settings is SETTINGS_TOO_LARGE, not a stack overflow', () => {
    const depth = 200_000;
    const text = `{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"x":${'['.repeat(depth)}${']'.repeat(depth)}},"protectedSettings":null}}]}`;
    const error = errorOf(() => parseSettingsFile(text, { file: '/agent/config/3.settings' }));
    expect(error.code).toBe('SETTINGS_TOO_LARGE');
    expect(error.message).toContain('/agent/config/3.settings');
  });

  test('publicSettings as a JSON string (FastTrack) is bounded too', () => {
    const text = JSON.stringify({ runtimeSettings: [{ handlerSettings: { publicSettings: JSON.stringify(nested(SETTINGS_MAX_DEPTH + 5)) } }] });
    expect(errorOf(() => parseSettingsFile(text)).code).toBe('SETTINGS_TOO_LARGE');
  });

  test('an oversized file and too many values are refused; the limit leaves room for real requests', () => {
    expect(errorOf(() => parseSettingsFile(' '.repeat(3 * 1024 * 1024) + '{}')).code).toBe('SETTINGS_TOO_LARGE');
    expect(errorOf(() => assertJsonBounds(Array.from({ length: 20_000 }, () => 1), 'it')).code).toBe('SETTINGS_TOO_LARGE');
    expect(() => assertJsonBounds(nested(SETTINGS_MAX_DEPTH - 1), 'it')).not.toThrow();
    const realistic = JSON.stringify({ runtimeSettings: [{ handlerSettings: { publicSettings: { check_disk: true }, protectedSettings: 'A'.repeat(600_000), protectedSettingsCertThumbprint: 'AB' } }] });
    expect(parseSettingsFile(realistic).protectedSettings).toHaveLength(600_000);
  });
});

describe('an empty or truncated settings file is an error naming the file', () => {
  const file = '/var/lib/waagent/ext/config/5.settings';
  test.each([
    ['empty', '', 'SETTINGS_EMPTY'],
    ['only white space', ' \n', 'SETTINGS_EMPTY'],
    ['truncated', '{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"check_di', 'SETTINGS_NOT_JSON'],
  ])('%s', (_name, text, code) => {
    const error = errorOf(() => parseSettingsFile(text, { file }));
    expect(error.code).toBe(code);
    expect(error.message).toContain(file);
  });

  test("only the agent's own 0-byte marker (seq 0, no settings at all) is an empty request", () => {
    expect(parseSettingsFile('', { file, isNoSettingsMarker: true }).publicSettings).toEqual({});
    expect(errorOf(() => parseSettingsFile(' ', { file, isNoSettingsMarker: true })).code).toBe('SETTINGS_EMPTY');
  });
});
