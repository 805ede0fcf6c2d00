import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decryptProtectedSettings } from '../../src/settings/protected-settings.js';
import { SCRUBBED_MARKER, parseSettingsFile, scrubSettingsText } from '../../src/settings/settings-file.js';
import { createRealSystem } from '../../src/system/real-system.js';
import { cmsContentCipher, createTestCertificate, encryptProtectedSettings, type TestCertificate } from '../helpers/agent-crypto.js';
import { settingsDocument } from '../helpers/agent-files.js';

// Real openssl on both sides: the payloads are made exactly as the platform makes them.
let dir: string;
let certificate: TestCertificate;
const system = createRealSystem();
const secret = { username: 'alice', password: 'Pa55-Never-Logged' };

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vmaccess-crypto-'));
  certificate = createTestCertificate(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decryptProtectedSettings', () => {
  test.each([
    ['des3', 'des-ede3-cbc'],
    ['aes256', 'aes-256-cbc'],
  ] as const)('decrypts %s payloads', async (cipher, expectedAlgorithm) => {
    const blob = encryptProtectedSettings(certificate, secret, cipher);
    expect(cmsContentCipher(blob)).toBe(expectedAlgorithm);
    // The agent may wrap base64 text; whitespace must not matter.
    const wrapped = blob.replace(/(.{64})/g, '$1\n');
    await expect(decryptProtectedSettings(system, wrapped, certificate.thumbprint, { agentLibDir: dir })).resolves.toEqual(secret);
  });

  test('accepts a lower-case thumbprint', async () => {
    const blob = encryptProtectedSettings(certificate, secret, 'aes256');
    await expect(decryptProtectedSettings(system, blob, certificate.thumbprint.toLowerCase(), { agentLibDir: dir })).resolves.toEqual(secret);
  });

  test('a missing certificate is PROTECTED_SETTINGS_CERT_MISSING', async () => {
    const blob = encryptProtectedSettings(certificate, secret, 'aes256');
    await expect(decryptProtectedSettings(system, blob, 'A'.repeat(40), { agentLibDir: dir })).rejects.toMatchObject({ code: 'PROTECTED_SETTINGS_CERT_MISSING' });
  });

  test('a thumbprint that is not 40 hex digits never becomes a path', async () => {
    await expect(decryptProtectedSettings(system, 'AAAA', '../../etc/passwd', { agentLibDir: dir })).rejects.toMatchObject({
      code: 'PROTECTED_SETTINGS_UNDECRYPTABLE',
    });
  });

  test('a payload for another certificate is PROTECTED_SETTINGS_UNDECRYPTABLE without secrets in the message', async () => {
    const otherDir = mkdtempSync(path.join(tmpdir(), 'vmaccess-crypto-other-'));
    try {
      const other = createTestCertificate(otherDir);
      const blob = encryptProtectedSettings(other, secret, 'aes256');
      const error = await decryptProtectedSettings(system, blob, certificate.thumbprint, { agentLibDir: dir }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'PROTECTED_SETTINGS_UNDECRYPTABLE' });
      expect(String((error as Error).message)).not.toContain(secret.password);
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  test('an openssl that runs out of time says so (not "wrong certificate")', async () => {
    const blob = encryptProtectedSettings(certificate, secret, 'aes256');
    const slow = { ...system, run: () => Promise.resolve({ exitCode: null, stdout: '', stderr: '', timedOut: true, started: true }) } as unknown as typeof system;
    await expect(decryptProtectedSettings(slow, blob, certificate.thumbprint, { agentLibDir: dir })).rejects.toMatchObject({
      code: 'PROTECTED_SETTINGS_UNDECRYPTABLE',
      message: expect.stringContaining('did not finish decrypting') as unknown,
    });
  });

  test('garbage that is not CMS is PROTECTED_SETTINGS_UNDECRYPTABLE', async () => {
    await expect(decryptProtectedSettings(system, Buffer.from('not cms at all').toString('base64'), certificate.thumbprint, { agentLibDir: dir })).rejects.toMatchObject({
      code: 'PROTECTED_SETTINGS_UNDECRYPTABLE',
    });
  });
});

describe('settings file', () => {
  test('the 0-byte file of a handler without settings is an empty request', () => {
    const parsed = parseSettingsFile('', { isNoSettingsMarker: true });
    expect(parsed).toMatchObject({ publicSettings: {}, protectedSettings: undefined, thumbprint: undefined, isScrubbed: false });
  });

  test('null sections, as the agent writes them', () => {
    const parsed = parseSettingsFile(settingsDocument(null, null, null));
    expect(parsed).toMatchObject({ publicSettings: {}, protectedSettings: undefined, thumbprint: undefined });
  });

  test('publicSettings as a JSON string (FastTrack)', () => {
    expect(parseSettingsFile(settingsDocument('{"check_disk": true}', null, null)).publicSettings).toEqual({ check_disk: true });
  });

  test.each([
    ['not JSON', '{"runtimeSettings": ['],
    ['no runtimeSettings', '{}'],
    ['empty runtimeSettings', '{"runtimeSettings": []}'],
    ['publicSettings is a list', '{"runtimeSettings": [{"handlerSettings": {"publicSettings": [1]}}]}'],
    ['protectedSettings is a number', '{"runtimeSettings": [{"handlerSettings": {"protectedSettings": 5}}]}'],
  ])('%s is SETTINGS_NOT_JSON', (_name, text) => {
    expect(() => parseSettingsFile(text)).toThrow(expect.objectContaining({ code: 'SETTINGS_NOT_JSON' }) as Error);
  });

  test('scrubbing replaces only the protected blob and keeps the agent shape', () => {
    const blob = encryptProtectedSettings(certificate, secret, 'des3');
    const original = settingsDocument({ check_disk: true }, blob, certificate.thumbprint);
    const scrubbed = scrubSettingsText(original);
    expect(scrubbed).toBeDefined();
    expect(scrubbed).not.toContain(blob);
    const reparsed = parseSettingsFile(scrubbed ?? '');
    expect(reparsed).toMatchObject({ isScrubbed: true, protectedSettings: undefined, thumbprint: certificate.thumbprint, publicSettings: { check_disk: true } });
    expect(JSON.parse(scrubbed ?? '')).toMatchObject({ runtimeSettings: [{ handlerSettings: { protectedSettings: SCRUBBED_MARKER } }] });
    expect(scrubSettingsText(scrubbed ?? '')).toBeUndefined();
    expect(scrubSettingsText(settingsDocument({}, null, null))).toBeUndefined();
  });

  test('the digest follows the public settings, not the ciphertext', () => {
    const a = parseSettingsFile(settingsDocument({}, encryptProtectedSettings(certificate, secret, 'aes256'), certificate.thumbprint)).digest;
    const reEncrypted = parseSettingsFile(settingsDocument({}, encryptProtectedSettings(certificate, secret, 'aes256'), certificate.thumbprint)).digest;
    const other = parseSettingsFile(settingsDocument({ check_disk: true }, encryptProtectedSettings(certificate, secret, 'aes256'), certificate.thumbprint)).digest;
    expect(a).toBe(reEncrypted);
    expect(a).not.toBe(other);
  });
});
