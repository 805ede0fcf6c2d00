import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { isVmaccessError } from '../../src/errors.js';
import { formatAuthorizedKey, keyIdentity, parseSshPublicKeys, tryParseAuthorizedKeyLine } from '../../src/config/ssh-public-key/index.js';
import { corrupt, generateTestKeys, truncate } from '../fakes/user-test-keys.js';
import type { TestKey, TestKeys } from '../fakes/user-test-keys.js';

let keys: TestKeys;
beforeAll(() => {
  keys = generateTestKeys();
}, 60_000);

function expectInvalid(value: string, line: number): string {
  try {
    parseSshPublicKeys(value);
  } catch (error) {
    if (!isVmaccessError(error)) throw error;
    expect(error.code).toBe('SSH_KEY_INVALID');
    expect(error.message).toContain(`line ${line}:`);
    return error.message;
  }
  throw new Error('expected SSH_KEY_INVALID');
}

const openSshNames = ['ed25519', 'rsa', 'ecdsa256', 'ecdsa384', 'ecdsa521', 'skEd25519', 'skEcdsa', 'certEd25519', 'certRsa', 'certSkEd25519'] as const;

describe('OpenSSH public key lines', () => {
  test.each(openSshNames)('%s: parsed, fingerprint equals ssh-keygen -l', (name) => {
    const key: TestKey = keys[name];
    const [parsed] = parseSshPublicKeys(key.text);
    expect(parsed?.type).toBe(key.type);
    expect(parsed?.fingerprint).toBe(key.fingerprint);
    expect(parsed?.comment).not.toBe('');
    expect(parsed?.isCertificate).toBe(name.startsWith('cert'));
    // Written back exactly as ssh-keygen wrote it.
    expect(formatAuthorizedKey(parsed!)).toBe(key.text);
  });

  test.each(openSshNames)('%s: a corrupted copy is refused naming the line', (name) => {
    expectInvalid(`\n${corrupt(keys[name].text)}`, 2);
  });

  test.each(openSshNames)('%s: a truncated copy is refused', (name) => {
    expectInvalid(truncate(keys[name].text), 1);
  });

  test('without a comment', () => {
    const [type, data] = keys.ed25519.text.split(' ');
    const [parsed] = parseSshPublicKeys(`${type} ${data}`);
    expect(parsed?.comment).toBe('');
    expect(formatAuthorizedKey(parsed!)).toBe(`${type} ${data}`);
  });

  test('a comment with spaces is kept whole', () => {
    const [type, data] = keys.ed25519.text.split(' ');
    const [parsed] = parseSshPublicKeys(`${type} ${data} Jane Doe's laptop (work)`);
    expect(parsed?.comment).toBe("Jane Doe's laptop (work)");
  });

  test('with an options prefix, quoted values holding commas and spaces', () => {
    const line = `from="10.0.0.0/8,192.168.1.1",command="echo a, b \\"c\\"",no-pty,restrict ${keys.rsa.text}`;
    const [parsed] = parseSshPublicKeys(line);
    expect(parsed?.options).toBe('from="10.0.0.0/8,192.168.1.1",command="echo a, b \\"c\\"",no-pty,restrict');
    expect(parsed?.fingerprint).toBe(keys.rsa.fingerprint);
    expect(formatAuthorizedKey(parsed!)).toBe(line);
  });

  test('cert-authority line is a different identity from the plain key', () => {
    const [plain] = parseSshPublicKeys(keys.ed25519.text);
    const [authority] = parseSshPublicKeys(`cert-authority,principals="alice" ${keys.ed25519.text}`);
    expect(keyIdentity(plain!)).not.toBe(keyIdentity(authority!));
    const [quoted] = parseSshPublicKeys(`command="cert-authority" ${keys.ed25519.text}`);
    expect(keyIdentity(quoted!)).toBe(keyIdentity(plain!));
  });

  test.each([
    ['unknown option', 'no-such-option'],
    ['flag given a value', 'no-pty="x"'],
    ['value option without quotes', 'command=ls'],
    ['unterminated quote', 'command="ls'],
  ])('options: %s is refused', (_label, options) => {
    expectInvalid(`${options} ${keys.ed25519.text}`, 1);
  });

  test('several keys, one per line, CRLF line ends, blank and # lines skipped', () => {
    const value = [keys.ed25519.text, '', '# laptop', keys.rsa.text, keys.skEcdsa.text].join('\r\n');
    const parsed = parseSshPublicKeys(value);
    expect(parsed.map((key) => key.fingerprint)).toEqual([keys.ed25519.fingerprint, keys.rsa.fingerprint, keys.skEcdsa.fingerprint]);
    expect(parsed.map((key) => key.line)).toEqual([1, 4, 5]);
  });

  test('the bad line among good ones is named', () => {
    expectInvalid([keys.ed25519.text, keys.rsa.text, 'ssh-rsa not-base64!! x'].join('\n'), 3);
  });

  test.each([
    ['garbage', 'hello world'],
    ['unknown type', 'ssh-foo AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x'],
    ['type only', 'ssh-ed25519'],
    ['base64 without a type', 'AAAAC3NzaC1lZDI1NTE5AAAAIIlS1yGNKHkdvpj8R5rW2F1fUoG7Yb0TFl4Uo0Ju1k0Y'],
    ['non-canonical base64', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIlS1yGNKHkdvpj8R5rW2F1fUoG7Yb0TFl4Uo0Ju1k0Z='],
  ])('%s is refused', (_label, value) => {
    expectInvalid(value, 1);
  });

  test('type in front does not match the type inside', () => {
    const [, data] = keys.ed25519.text.split(' ');
    expectInvalid(`ssh-rsa ${data}`, 1);
  });

  test('trailing bytes after the key are refused', () => {
    const [type, data] = keys.ed25519.text.split(' ');
    const longer = Buffer.concat([Buffer.from(data!, 'base64'), Buffer.from([0, 0, 0, 0])]).toString('base64');
    expectInvalid(`${type} ${longer}`, 1);
  });

  test('an RSA key below 1024 bits (sshd refuses it) is refused', () => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 768 }).publicKey.export({ format: 'jwk' });
    const str = (bytes: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
    const mp = (value: string): Buffer => {
      const raw = Buffer.from(value, 'base64url');
      return str((raw[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
    };
    const blob = Buffer.concat([str(Buffer.from('ssh-rsa')), mp(jwk.e!), mp(jwk.n!)]);
    expect(expectInvalid(`ssh-rsa ${blob.toString('base64')}`, 1)).toContain('too small');
  });

  test('an empty value holds no key', () => {
    expect(() => parseSshPublicKeys('\n  \n# only a comment\n')).toThrow(/contains no public key/);
  });

  test('a private key is refused and its content never echoed', () => {
    const message = expectInvalid(keys.privateKeyText, 1);
    expect(message).toContain('private key');
    const body = keys.privateKeyText.split('\n')[1]!;
    expect(message).not.toContain(body.slice(0, 20));
  });

  test('error messages never carry the value', () => {
    const secretish = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHunter2Hunter2Hunter2Hunter2Hunter2Hunter2Hun comment-secret';
    const message = expectInvalid(secretish, 1);
    expect(message).not.toContain('Hunter2');
    expect(message).not.toContain('comment-secret');
  });

  // A password pasted into ssh_key must not come back in status, telemetry or logs:
  // every refusal names the line and what was expected, never any of the value.
  test.each([
    ['a password alone', 'hunter2-correct-horse-battery'],
    ['a password with a comma', 'hunter2,correct-horse'],
    ['a password that looks like an option with a value', 'hunter2=correct"horse"'],
    ['a password after a known option', 'no-pty,hunter2-correct-horse'],
    ['a password as the quoted value of a flag', 'pty="hunter2-correct-horse"'],
    ['a password as a PEM label', '-----BEGIN HUNTER2 CORRECT HORSE-----'],
    ['a password in an SSH2 block', '---- BEGIN SSH2 PUBLIC KEY ----\nhunter2-correct-horse\n---- END SSH2 PUBLIC KEY ----'],
  ])('%s: the error carries none of the value', (_label, value) => {
    const message = expectInvalid(value, 1);
    for (const fragment of ['hunter2', 'correct', 'horse', 'HUNTER2', 'HORSE']) expect(message).not.toContain(fragment);
    try {
      parseSshPublicKeys(value);
    } catch (error) {
      if (!isVmaccessError(error)) throw error;
      expect(error.statusMessage.toLowerCase()).not.toContain('hunter2');
    }
  });
});

describe('RFC 4716 SSH2 blocks', () => {
  test.each(['ssh2Ed25519', 'ssh2Rsa'] as const)('%s from ssh-keygen -e', (name) => {
    const key = keys[name];
    expect(key.text).toContain('---- BEGIN SSH2 PUBLIC KEY ----');
    const [parsed] = parseSshPublicKeys(key.text);
    expect(parsed?.fingerprint).toBe(key.fingerprint);
    expect(parsed?.source).toBe('rfc4716');
  });

  test('Comment header with continuation lines and an unknown header', () => {
    const body = keys.ed25519.text.split(' ')[1]!;
    const block = [
      '---- BEGIN SSH2 PUBLIC KEY ----',
      'Subject: alice',
      'Comment: "a very long comment that goes on \\',
      'and on"',
      'x-private-tag: whatever',
      body.slice(0, 40),
      body.slice(40),
      '---- END SSH2 PUBLIC KEY ----',
    ].join('\n');
    const [parsed] = parseSshPublicKeys(block);
    expect(parsed?.comment).toBe('a very long comment that goes on and on');
    expect(parsed?.fingerprint).toBe(keys.ed25519.fingerprint);
  });

  test('an SSH2 block between two OpenSSH lines; the later bad line is numbered in the value', () => {
    const value = `${keys.rsa.text}\n${keys.ssh2Ed25519.text.trim()}\n${keys.ecdsa256.text}\nnonsense`;
    const lines = value.split('\n').length;
    expectInvalid(value, lines);
    const parsed = parseSshPublicKeys(value.split('\n').slice(0, -1).join('\n'));
    expect(parsed.map((key) => key.fingerprint)).toEqual([keys.rsa.fingerprint, keys.ed25519.fingerprint, keys.ecdsa256.fingerprint]);
  });

  test('missing END line and a corrupted body are refused', () => {
    const text = keys.ssh2Ed25519.text.trim().split('\n');
    expectInvalid(text.slice(0, -1).join('\n'), 1);
    const broken = [...text];
    broken[2] = `!!${broken[2]!.slice(2)}`;
    expectInvalid(broken.join('\n'), 1);
  });
});

describe('PEM: X.509 certificates and SubjectPublicKeyInfo', () => {
  test.each(['x509Rsa', 'x509Ec', 'x509Ed25519'] as const)('%s: the certificate key, same fingerprint as ssh-keygen -i', (name) => {
    const key = keys[name];
    const [parsed] = parseSshPublicKeys(key.text);
    expect(parsed?.fingerprint).toBe(key.fingerprint);
    expect(parsed?.type).toBe(key.type);
    expect(parsed?.source).toBe('pem');
    expect(parsed?.comment).toMatch(/-cert$/);
  });

  test.each(['x509Rsa', 'x509Ec', 'x509Ed25519'] as const)('%s pasted on one line (spaces for line breaks) is accepted', (name) => {
    const key = keys[name];
    const oneLine = key.text.trim().split('\n').join(' ');
    expect(oneLine).not.toContain('\n');
    const parsed = parseSshPublicKeys(`${keys.ed25519.text.trim()}\n${oneLine}\n`);
    expect(parsed.map((entry) => entry.fingerprint)).toEqual([keys.ed25519.fingerprint, key.fingerprint]);
    expect(parsed[1]?.source).toBe('pem');
  });

  test('a one-line certificate with a damaged body is refused, naming its line', () => {
    const words = keys.x509Rsa.text.trim().split('\n');
    words[2] = 'AAAA';
    expectInvalid(`${keys.ed25519.text.trim()}\n${words.join(' ')}`, 2);
  });

  test('a PUBLIC KEY block', () => {
    const [parsed] = parseSshPublicKeys(keys.spkiRsa.text);
    expect(parsed?.fingerprint).toBe(keys.x509Rsa.fingerprint);
  });

  test('a corrupted certificate is refused, naming its first line', () => {
    const lines = keys.x509Rsa.text.trim().split('\n');
    lines[3] = lines[3]!.replace(/[A-Za-z]/, (char) => (char === 'Q' ? 'R' : 'Q'));
    lines[4] = 'AAAA';
    expectInvalid(`${keys.ed25519.text}\n${lines.join('\n')}`, 2);
  });

  test('a certificate without END is refused', () => {
    expectInvalid(keys.x509Rsa.text.trim().split('\n').slice(0, -1).join('\n'), 1);
  });

  test('a PEM private key is refused', () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(expectInvalid(pem, 1)).toContain('private key');
  });
});

describe('authorized_keys lines (lenient)', () => {
  test('comments, blanks and garbage are not keys; keys are', () => {
    expect(tryParseAuthorizedKeyLine('# comment')).toBeUndefined();
    expect(tryParseAuthorizedKeyLine('')).toBeUndefined();
    expect(tryParseAuthorizedKeyLine('garbage here')).toBeUndefined();
    expect(tryParseAuthorizedKeyLine(`  ${keys.ed25519.text}  `)?.fingerprint).toBe(keys.ed25519.fingerprint);
  });
});
