import { beforeAll, describe, expect, test } from 'vitest';
import { mergeAuthorizedKeys } from '../../src/config/authorized-keys.js';
import { authorizedKeyLineIdentity, keyIdentity, parseSshPublicKeys, withExpiry } from '../../src/config/ssh-public-key/index.js';
import type { SshPublicKey } from '../../src/config/ssh-public-key/index.js';
import { generateTestKeys } from '../fakes/user-test-keys.js';
import type { TestKeys } from '../fakes/user-test-keys.js';

let keys: TestKeys;
let ed: SshPublicKey;
let rsa: SshPublicKey;
beforeAll(() => {
  keys = generateTestKeys();
  [ed] = parseSshPublicKeys(keys.ed25519.text) as [SshPublicKey];
  [rsa] = parseSshPublicKeys(keys.rsa.text) as [SshPublicKey];
}, 60_000);

describe('mergeAuthorizedKeys: append', () => {
  test('into a missing file', () => {
    const result = mergeAuthorizedKeys(undefined, [ed], { replace: false });
    expect(result.text).toBe(`${keys.ed25519.text}\n`);
    expect(result.changed).toBe(true);
    expect(result.added).toHaveLength(1);
  });

  test('a file without a final newline does not get two keys glued together', () => {
    const result = mergeAuthorizedKeys(keys.rsa.text, [ed], { replace: false });
    expect(result.text).toBe(`${keys.rsa.text}\n${keys.ed25519.text}\n`);
    expect(result.text.split('\n').filter(Boolean)).toHaveLength(2);
  });

  test('a key already present (other comment, with options) is not added again; the file is untouched', () => {
    const [type, data] = keys.ed25519.text.split(' ');
    const existing = `# mine\nno-pty ${type} ${data} old-comment\n${keys.rsa.text}`;
    const result = mergeAuthorizedKeys(existing, [ed, rsa], { replace: false });
    expect(result.changed).toBe(false);
    expect(result.text).toBe(existing);
    expect(result.alreadyPresent).toHaveLength(2);
  });

  test('duplicates within the request are written once', () => {
    const result = mergeAuthorizedKeys('', [ed, ed, rsa, ed], { replace: false });
    expect(result.text).toBe(`${keys.ed25519.text}\n${keys.rsa.text}\n`);
    expect(result.added).toHaveLength(2);
    expect(result.alreadyPresent).toHaveLength(2);
  });

  test('comments and lines sshd would skip are kept byte for byte', () => {
    const existing = '# keep me\r\nsome garbage line\n\n';
    const result = mergeAuthorizedKeys(existing, [ed], { replace: false });
    expect(result.text).toBe(`${existing}${keys.ed25519.text}\n`);
  });

  test('a plain key and the same key as cert-authority are different lines', () => {
    const [authority] = parseSshPublicKeys(`cert-authority ${keys.ed25519.text}`);
    const result = mergeAuthorizedKeys(`${keys.ed25519.text}\n`, [authority!], { replace: false });
    expect(result.added).toHaveLength(1);
    expect(result.text).toBe(`${keys.ed25519.text}\ncert-authority ${keys.ed25519.text}\n`);
  });
});

describe('mergeAuthorizedKeys: replace (remove_prior_keys)', () => {
  test('the new keys replace every earlier line', () => {
    const result = mergeAuthorizedKeys(`${keys.rsa.text}\n# note\n${keys.ecdsa256.text}\n`, [ed], { replace: true });
    expect(result.text).toBe(`${keys.ed25519.text}\n`);
    expect(result.removed).toBe(2);
    expect(result.changed).toBe(true);
  });

  test('replacing with no keys empties the file', () => {
    const result = mergeAuthorizedKeys(`${keys.rsa.text}\n`, [], { replace: true });
    expect(result).toMatchObject({ text: '', changed: true, removed: 1 });
  });

  test('replacing with what is there already changes nothing', () => {
    const existing = `${keys.ed25519.text}\n${keys.rsa.text}\n`;
    const result = mergeAuthorizedKeys(existing, [ed, rsa, ed], { replace: true });
    expect(result.changed).toBe(false);
    expect(result.removed).toBe(0);
    expect(result.alreadyPresent).toHaveLength(3);
  });
});

describe('the fast identity of existing lines agrees with the full parser', () => {
  const names = ['ed25519', 'rsa', 'ecdsa256', 'ecdsa384', 'ecdsa521', 'skEd25519', 'skEcdsa', 'certEd25519', 'certRsa', 'certSkEd25519'] as const;
  test.each(names)('%s, plain and with options', (name) => {
    for (const line of [keys[name].text, `no-pty,from="a,cert-authority" ${keys[name].text}`, `cert-authority,principals="x" ${keys[name].text}`]) {
      const [parsed] = parseSshPublicKeys(line);
      expect(authorizedKeyLineIdentity(line)).toBe(keyIdentity(parsed!));
    }
  });

  test.each([
    ['comment', '# ssh-ed25519 AAAA'],
    ['type/blob mismatch', () => `ssh-rsa ${keys.ed25519.text.split(' ')[1]!}`],
    ['bad options', () => `bogus-option ${keys.ed25519.text}`],
    ['not base64', 'ssh-ed25519 !!!! x'],
  ])('%s is not a key line', (_label, line) => {
    expect(authorizedKeyLineIdentity(typeof line === 'function' ? line() : line)).toBeUndefined();
  });
});

describe('mergeAuthorizedKeys: a requested expiry reaches a key already in the file', () => {
  const expiring = (key: SshPublicKey, when = '20261224180000Z'): SshPublicKey => withExpiry([key], `expiry-time="${when}"`)[0]!;
  const body = (key: SshPublicKey): string => `${key.type} ${key.base64}`;

  test('the line takes the expiry, keeps its own options and comment; other lines stay byte for byte', () => {
    const existing = `# laptop\nfrom="10.0.0.0/8",no-pty ${body(ed)} alice@laptop\n${keys.rsa.text}\n`;
    const result = mergeAuthorizedKeys(existing, [expiring(ed)], { replace: false });
    expect(result.changed).toBe(true);
    expect(result.added).toEqual([]);
    expect(result.expiryUpdated).toHaveLength(1);
    expect(result.text).toBe(`# laptop\nexpiry-time="20261224180000Z",from="10.0.0.0/8",no-pty ${body(ed)} alice@laptop\n${keys.rsa.text}\n`);
  });

  test('an earlier expiry is replaced, not doubled', () => {
    const existing = `expiry-time="20250101000000Z" ${body(ed)} alice\n`;
    const result = mergeAuthorizedKeys(existing, [expiring(ed)], { replace: false });
    expect(result.text).toBe(`expiry-time="20261224180000Z" ${body(ed)} alice\n`);
  });

  test('the same request again changes nothing', () => {
    const once = mergeAuthorizedKeys(`${keys.ed25519.text}\n`, [expiring(ed)], { replace: false });
    const twice = mergeAuthorizedKeys(once.text, [expiring(ed)], { replace: false });
    expect(twice.changed).toBe(false);
    expect(twice.expiryUpdated).toEqual([]);
    expect(twice.text).toBe(once.text);
  });

  test('a key requested without expiry leaves the line (and its expiry) alone', () => {
    const existing = `expiry-time="20250101000000Z" ${body(ed)} alice\n`;
    const result = mergeAuthorizedKeys(existing, [ed], { replace: false });
    expect(result.changed).toBe(false);
    expect(result.text).toBe(existing);
  });

  test('an expiring new key is appended with it, and a present one updated in the same merge', () => {
    const result = mergeAuthorizedKeys(`${keys.ed25519.text}\n`, [expiring(ed), expiring(rsa)], { replace: false });
    expect(result.added).toHaveLength(1);
    expect(result.expiryUpdated).toHaveLength(1);
    expect(result.text.split('\n').filter(Boolean).every((line) => line.startsWith('expiry-time="20261224180000Z" '))).toBe(true);
  });
});
