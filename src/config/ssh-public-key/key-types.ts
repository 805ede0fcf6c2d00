import { nodeCrypto } from '../../node-crypto.js';
import type { KeySource, SshPublicKey } from './key.js';
import { WireError, WireReader, WireWriter, base64url, bitLength, fingerprintOf } from './wire.js';

/**
 * The key types sshd accepts, each checked field by field against PROTOCOL,
 * PROTOCOL.certkeys and PROTOCOL.u2f; certificates embed a plain key and are signed by one.
 */

type FieldReader = (reader: WireReader) => string[];

export const ECDSA_CURVES: Record<string, { jwk: string; bytes: number }> = {
  nistp256: { jwk: 'P-256', bytes: 32 },
  nistp384: { jwk: 'P-384', bytes: 48 },
  nistp521: { jwk: 'P-521', bytes: 66 },
};

function readRsa(reader: WireReader): string[] {
  // Plain keys carry e then n; so do certificates (PROTOCOL.certkeys).
  const e = reader.mpint('RSA exponent');
  const n = reader.mpint('RSA modulus');
  const bits = bitLength(n);
  // OpenSSH refuses RSA keys below 1024 bits (SSH_RSA_MINIMUM_MODULUS_SIZE) and above 16384.
  if (bits < 1024) throw new WireError(`RSA key of ${bits} bits is too small (sshd needs at least 1024)`);
  if (bits > 16384) throw new WireError(`RSA key of ${bits} bits is too large`);
  if (e.length === 0 || (e[e.length - 1]! & 1) === 0) throw new WireError('RSA exponent is not odd');
  importJwk({ kty: 'RSA', n: base64url(n), e: base64url(e) });
  return bits < 2048 ? [`RSA key of ${bits} bits is weak; 3072 bits or more is recommended`] : [];
}

function readDsa(reader: WireReader): string[] {
  for (const name of ['p', 'q', 'g', 'y']) reader.mpint(`DSA ${name}`);
  return ['ssh-dss keys are disabled by default since OpenSSH 7.0; sshd will likely refuse this key'];
}

function readEcdsa(reader: WireReader, curve: string): string[] {
  const named = reader.text('curve name');
  if (named !== curve) throw new WireError('the curve named inside the key does not match its key type');
  const point = reader.string('public point');
  const size = ECDSA_CURVES[curve]!.bytes;
  if (point.length !== 1 + 2 * size || point[0] !== 0x04) throw new WireError('public point is not an uncompressed point of the curve');
  // createPublicKey rejects points that are not on the curve.
  importJwk({
    kty: 'EC',
    crv: ECDSA_CURVES[curve]!.jwk,
    x: base64url(point.subarray(1, 1 + size)),
    y: base64url(point.subarray(1 + size)),
  });
  return [];
}

function readEd25519(reader: WireReader): string[] {
  const key = reader.string('Ed25519 public key');
  if (key.length !== 32) throw new WireError('Ed25519 public key is not 32 bytes');
  importJwk({ kty: 'OKP', crv: 'Ed25519', x: base64url(key) });
  return [];
}

function readApplication(reader: WireReader): void {
  const application = reader.text('security key application');
  if (application.length === 0) throw new WireError('security key application is empty');
}


export const PLAIN_TYPES: Record<string, FieldReader> = {
  'ssh-rsa': (reader) => readRsa(reader),
  'ssh-dss': (reader) => readDsa(reader),
  'ecdsa-sha2-nistp256': (reader) => readEcdsa(reader, 'nistp256'),
  'ecdsa-sha2-nistp384': (reader) => readEcdsa(reader, 'nistp384'),
  'ecdsa-sha2-nistp521': (reader) => readEcdsa(reader, 'nistp521'),
  'ssh-ed25519': (reader) => readEd25519(reader),
  'sk-ecdsa-sha2-nistp256@openssh.com': (reader) => {
    const warnings = readEcdsa(reader, 'nistp256');
    readApplication(reader);
    return warnings;
  },
  'sk-ssh-ed25519@openssh.com': (reader) => {
    const warnings = readEd25519(reader);
    readApplication(reader);
    return warnings;
  },
};

/** Certificate type -> the plain type whose public fields it embeds. */
export const CERTIFICATE_TYPES: Record<string, string> = {
  'ssh-rsa-cert-v01@openssh.com': 'ssh-rsa',
  'ssh-dss-cert-v01@openssh.com': 'ssh-dss',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': 'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': 'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': 'ecdsa-sha2-nistp521',
  'ssh-ed25519-cert-v01@openssh.com': 'ssh-ed25519',
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com': 'sk-ecdsa-sha2-nistp256@openssh.com',
  'sk-ssh-ed25519-cert-v01@openssh.com': 'sk-ssh-ed25519@openssh.com',
};

export function isSshKeyType(token: string): boolean {
  return token in PLAIN_TYPES || token in CERTIFICATE_TYPES;
}

function importJwk(jwk: Record<string, string>): void {
  try {
    nodeCrypto().createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new WireError('the public key material is not a valid key');
  }
}

/**
 * Parse a key blob completely. Returns the warnings about it and the plain public key
 * blob (for a certificate, the key it certifies: ssh-keygen -l fingerprints that one).
 */
function checkBlob(blob: Uint8Array, expectedType: string): { isCertificate: boolean; warnings: string[]; plain: Uint8Array } {
  const reader = new WireReader(blob);
  const type = reader.text('key type');
  if (type !== expectedType) throw new WireError('the key type inside the key does not match the type in front of it');
  let warnings: string[];
  let isCertificate = false;
  let plainBlob = blob;
  const plain = PLAIN_TYPES[type];
  if (plain !== undefined) {
    warnings = plain(reader);
  } else {
    const base = CERTIFICATE_TYPES[type];
    if (base === undefined) throw new WireError('unknown key type');
    isCertificate = true;
    reader.string('certificate nonce');
    const start = reader.position;
    warnings = PLAIN_TYPES[base]!(reader);
    plainBlob = new WireWriter().string(base).bytes();
    plainBlob = Buffer.concat([plainBlob, reader.slice(start, reader.position)]);
    reader.uint64('certificate serial');
    const certType = reader.uint32('certificate type');
    if (certType !== 1 && certType !== 2) throw new WireError('certificate type is neither user nor host');
    if (certType === 2) warnings.push('this is a host certificate; it does not authenticate a user');
    reader.string('certificate key id');
    reader.string('certificate principals');
    reader.uint64('certificate valid-after');
    reader.uint64('certificate valid-before');
    reader.string('certificate critical options');
    reader.string('certificate extensions');
    reader.string('certificate reserved field');
    const signatureKey = reader.string('certificate signature key');
    const caType = new WireReader(signatureKey).text('CA key type');
    if (!(caType in PLAIN_TYPES)) throw new WireError('certificate signature key has an unsupported type');
    checkBlob(signatureKey, caType);
    reader.string('certificate signature');
  }
  if (!reader.done) throw new WireError('the key has trailing data');
  return { isCertificate, warnings, plain: plainBlob };
}

export function buildKey(
  blob: Uint8Array,
  type: string,
  fields: { options: string; comment: string; source: KeySource; line: number },
): SshPublicKey {
  const { isCertificate, warnings, plain } = checkBlob(blob, type);
  return {
    type,
    base64: Buffer.from(blob).toString('base64'),
    options: fields.options,
    comment: fields.comment,
    fingerprint: fingerprintOf(plain),
    isCertificate,
    warnings,
    source: fields.source,
    line: fields.line,
  };
}
