import type { KeyObject, X509Certificate } from 'node:crypto';
import { nodeCrypto } from '../../node-crypto.js';
import { buildKey, ECDSA_CURVES, isSshKeyType } from './key-types.js';
import type { SshPublicKey } from './key.js';
import { decodeBase64Strict, WireError, WireReader, WireWriter } from './wire.js';

/** Keys in RFC 4716 "SSH2" blocks and in PEM (X.509 certificates, SubjectPublicKeyInfo, PKCS#1). */

/** Control characters never go into a comment we write (one key per line). */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\x00-\x1f\x7f]/g;

export const SSH2_BEGIN = /^----\s*BEGIN SSH2 PUBLIC KEY\s*----$/;
export const SSH2_END = /^----\s*END SSH2 PUBLIC KEY\s*----$/;
export const PEM_BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;
/**
 * A whole PEM block on one line: portals and ARM parameters turn the line breaks of a
 * pasted certificate into spaces, and the original extension accepted that.
 */
const PEM_ONE_LINE = /^-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]*?)\s*-----END \1-----$/;

/** The label and a well-formed PEM text (body wrapped at 64) of a one-line block, or undefined. */
export function unfoldOneLinePem(line: string): { label: string; pem: string } | undefined {
  const match = PEM_ONE_LINE.exec(line);
  if (match === null) return undefined;
  const label = match[1]!;
  const body = match[2]!.replace(/\s+/g, '');
  const wrapped = body.match(/.{1,64}/g) ?? [];
  return { label, pem: [`-----BEGIN ${label}-----`, ...wrapped, `-----END ${label}-----`].join('\n') + '\n' };
}

export function parseSsh2Block(lines: string[], lineNumber: number): SshPublicKey {
  let comment = '';
  let index = 0;
  // Headers: `Tag: value`, continued on the next line when a line ends with a backslash.
  while (index < lines.length && (lines[index]!.includes(':') || (index > 0 && lines[index - 1]!.endsWith('\\')))) {
    let header = lines[index]!;
    while (header.endsWith('\\') && index + 1 < lines.length) {
      index += 1;
      header = header.slice(0, -1) + lines[index]!;
    }
    const colon = header.indexOf(':');
    const tag = header.slice(0, colon).trim().toLowerCase();
    let value = header.slice(colon + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (tag === 'comment') comment = value.replace(CONTROL_CHARACTERS, ' ').trim();
    index += 1;
  }
  const body = lines.slice(index).join('').replace(/\s+/g, '');
  const blob = decodeBase64Strict(body);
  if (blob === undefined) throw new WireError('the SSH2 key body is not valid base64');
  let type: string;
  try {
    type = new WireReader(blob).text('key type');
  } catch {
    throw new WireError('the SSH2 key body is not an SSH key');
  }
  if (!isSshKeyType(type)) throw new WireError('unknown key type inside the SSH2 block');
  return buildKey(blob, type, { options: '', comment, source: 'rfc4716', line: lineNumber });
}

/** OpenSSH wire blob for a public key that node:crypto understands. */
export function sshBlobFromKeyObject(key: KeyObject): { type: string; blob: Uint8Array } {
  const jwk = key.export({ format: 'jwk' });
  const bytes = (value: string | undefined): Uint8Array => new Uint8Array(Buffer.from(value ?? '', 'base64url'));
  if (key.asymmetricKeyType === 'rsa') {
    return { type: 'ssh-rsa', blob: new WireWriter().string('ssh-rsa').mpint(bytes(jwk.e)).mpint(bytes(jwk.n)).bytes() };
  }
  if (key.asymmetricKeyType === 'ed25519') {
    return { type: 'ssh-ed25519', blob: new WireWriter().string('ssh-ed25519').string(bytes(jwk.x)).bytes() };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = Object.entries(ECDSA_CURVES).find(([, info]) => info.jwk === jwk.crv)?.[0];
    if (curve === undefined) throw new WireError('the elliptic curve of this key is not one SSH supports');
    const point = Uint8Array.from([0x04, ...bytes(jwk.x), ...bytes(jwk.y)]);
    const type = `ecdsa-sha2-${curve}`;
    return { type, blob: new WireWriter().string(type).string(curve).string(point).bytes() };
  }
  throw new WireError(`a ${key.asymmetricKeyType ?? 'unknown'} key cannot be used with SSH`);
}

export function parsePemBlock(label: string, pem: string, lineNumber: number): SshPublicKey {
  if (label.includes('PRIVATE')) throw new WireError('this is a private key; send only the public key');
  let key: KeyObject;
  let comment = '';
  if (label === 'CERTIFICATE') {
    let certificate: X509Certificate;
    try {
      certificate = new (nodeCrypto().X509Certificate)(pem);
    } catch {
      throw new WireError('the certificate cannot be parsed');
    }
    key = certificate.publicKey;
    const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
    if (commonName !== undefined) comment = commonName.replace(CONTROL_CHARACTERS, ' ').trim();
  } else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') {
    try {
      key = nodeCrypto().createPublicKey({ key: pem, format: 'pem', ...(label === 'RSA PUBLIC KEY' ? { type: 'pkcs1' as const } : {}) });
    } catch {
      throw new WireError('the PEM public key cannot be parsed');
    }
  } else {
    throw new WireError('unsupported PEM block (expected CERTIFICATE or PUBLIC KEY)');
  }
  const { type, blob } = sshBlobFromKeyObject(key);
  return buildKey(blob, type, { options: '', comment, source: 'pem', line: lineNumber });
}
