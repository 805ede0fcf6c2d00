import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { VmaccessError } from '../errors.js';

/**
 * SSH public keys as callers send them in `ssh_key`: OpenSSH lines (any key type,
 * certificates, an authorized_keys options prefix, a comment), RFC 4716 "SSH2" blocks,
 * and PEM (X.509 certificates, SubjectPublicKeyInfo) whose public key is used. Every
 * key blob is decoded and checked field by field against the OpenSSH wire format
 * (PROTOCOL, PROTOCOL.certkeys, PROTOCOL.u2f), so garbage is refused before anything is
 * written. Error messages name the line, never the content: a caller who pastes a
 * private key or a password by mistake must not see it echoed into a status file.
 */

export type KeySource = 'openssh' | 'rfc4716' | 'pem';

export interface SshPublicKey {
  /** Key type named inside the blob, e.g. `ssh-ed25519`, `ssh-rsa-cert-v01@openssh.com`. */
  type: string;
  /** Canonical base64 of the blob; the identity used for de-duplication. */
  base64: string;
  /** authorized_keys options as written (empty when none). */
  options: string;
  comment: string;
  /** `SHA256:...` as ssh-keygen -l prints it (for a certificate: of the key it certifies). */
  fingerprint: string;
  isCertificate: boolean;
  /** Things that do not make the key invalid but that the caller should hear about. */
  warnings: string[];
  source: KeySource;
  /** 1-based line of the value where the key starts. */
  line: number;
}

// ---- key types -------------------------------------------------------------

type FieldReader = (reader: WireReader) => string[];

const ECDSA_CURVES: Record<string, { jwk: string; bytes: number }> = {
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
  if (named !== curve) throw new WireError(`curve ${printable(named)} does not match key type`);
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

const PLAIN_TYPES: Record<string, FieldReader> = {
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
const CERTIFICATE_TYPES: Record<string, string> = {
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

// ---- wire format -------------------------------------------------------------

class WireError extends Error {}

class WireReader {
  private offset = 0;
  constructor(private readonly data: Uint8Array) {}

  private take(length: number, what: string): Uint8Array {
    if (this.offset + length > this.data.length) throw new WireError(`${what} is truncated`);
    const slice = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  uint32(what: string): number {
    const bytes = this.take(4, what);
    return ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!;
  }

  uint64(what: string): bigint {
    const high = BigInt(this.uint32(what));
    const low = BigInt(this.uint32(what));
    return (high << 32n) + low;
  }

  string(what: string): Uint8Array {
    const length = this.uint32(what);
    return this.take(length, what);
  }

  text(what: string): string {
    const bytes = this.string(what);
    return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  }

  /** Unsigned magnitude of a non-negative mpint, without leading zero bytes. */
  mpint(what: string): Uint8Array {
    const bytes = this.string(what);
    if (bytes.length > 0 && (bytes[0]! & 0x80) !== 0) throw new WireError(`${what} is negative`);
    if (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) throw new WireError(`${what} has a superfluous leading zero`);
    let start = 0;
    while (start < bytes.length && bytes[start] === 0) start += 1;
    return bytes.subarray(start);
  }

  get done(): boolean {
    return this.offset === this.data.length;
  }

  get position(): number {
    return this.offset;
  }

  slice(from: number, to: number): Uint8Array {
    return this.data.subarray(from, to);
  }
}

class WireWriter {
  private readonly parts: Uint8Array[] = [];

  string(data: Uint8Array | string): this {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length);
    this.parts.push(length, bytes);
    return this;
  }

  /** Write an unsigned big-endian magnitude as an mpint (leading zero when the top bit is set). */
  mpint(magnitude: Uint8Array): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start += 1;
    const trimmed = magnitude.subarray(start);
    const needsZero = trimmed.length > 0 && (trimmed[0]! & 0x80) !== 0;
    return this.string(needsZero ? Uint8Array.from([0, ...trimmed]) : trimmed);
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

function bitLength(magnitude: Uint8Array): number {
  if (magnitude.length === 0) return 0;
  return (magnitude.length - 1) * 8 + (32 - Math.clz32(magnitude[0]!));
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function importJwk(jwk: Record<string, string>): void {
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new WireError('the public key material is not a valid key');
  }
}

function printable(text: string): string {
  return JSON.stringify(text.replace(/[^\x20-\x7e]/g, '?').slice(0, 40));
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

export function fingerprintOf(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Round-trip so that non-canonical encodings (stray bits in the padding) are refused.
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
}

function buildKey(
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

// ---- authorized_keys options ---------------------------------------------------

/** Options sshd understands in authorized_keys (sshd(8), AUTHORIZED_KEYS FILE FORMAT). */
const FLAG_OPTIONS = new Set([
  'agent-forwarding',
  'cert-authority',
  'no-agent-forwarding',
  'no-port-forwarding',
  'no-pty',
  'no-user-rc',
  'no-x11-forwarding',
  'no-touch-required',
  'port-forwarding',
  'pty',
  'restrict',
  'user-rc',
  'verify-required',
  'x11-forwarding',
]);
const VALUE_OPTIONS = new Set(['command', 'environment', 'expiry-time', 'from', 'permitlisten', 'permitopen', 'principals', 'tunnel']);

/**
 * Split an options prefix off a line. Returns the options text and the rest, or throws
 * WireError when the options do not follow sshd's syntax (sshd would skip the line).
 */
function splitOptions(line: string): { options: string; rest: string } {
  let index = 0;
  const names: string[] = [];
  for (;;) {
    const nameMatch = /^[A-Za-z0-9-]+/.exec(line.slice(index));
    if (nameMatch === null) throw new WireError('the options in front of the key are malformed');
    const name = nameMatch[0].toLowerCase();
    index += nameMatch[0].length;
    if (line[index] === '=') {
      if (!VALUE_OPTIONS.has(name)) throw new WireError(`option ${printable(name)} is not a known option with a value`);
      index += 1;
      if (line[index] !== '"') throw new WireError(`option ${printable(name)} needs a double-quoted value`);
      index += 1;
      while (index < line.length && line[index] !== '"') index += line[index] === '\\' && line[index + 1] === '"' ? 2 : 1;
      if (index >= line.length) throw new WireError(`option ${printable(name)} has an unterminated quoted value`);
      index += 1;
    } else if (!FLAG_OPTIONS.has(name)) {
      throw new WireError(`option ${printable(name)} is not a known sshd option`);
    }
    names.push(name);
    if (line[index] === ',') {
      index += 1;
      continue;
    }
    break;
  }
  if (index < line.length && !/[ \t]/.test(line[index]!)) throw new WireError('the options in front of the key are malformed');
  return { options: line.slice(0, index), rest: line.slice(index).replace(/^[ \t]+/, '') };
}

/**
 * Parse one authorized_keys line (`[options] type base64 [comment]`). Throws WireError
 * with a reason when it is not a valid key line.
 */
function parseOpenSshLine(line: string, lineNumber: number): SshPublicKey {
  const trimmed = line.trim();
  const first = /^\S+/.exec(trimmed)?.[0] ?? '';
  let options = '';
  let rest = trimmed;
  if (!isSshKeyType(first)) {
    if (/^[A-Za-z0-9+/]{20,}={0,2}$/.test(first)) throw new WireError('the key type is missing in front of the key');
    ({ options, rest } = splitOptions(trimmed));
  }
  const match = /^(\S*)(?:[ \t]+(\S+))?(?:[ \t]+(.*))?$/.exec(rest);
  const type = match?.[1] ?? '';
  const data = match?.[2] ?? '';
  const comment = (match?.[3] ?? '').trim();
  if (!isSshKeyType(type)) throw new WireError(type === '' ? 'the key is missing' : 'unknown key type');
  const blob = decodeBase64Strict(data);
  if (blob === undefined) throw new WireError(data === '' ? 'the key data is missing' : 'the key data is not valid base64');
  return buildKey(blob, type, { options, comment, source: 'openssh', line: lineNumber });
}

/** The key on one authorized_keys line, or undefined for comments, blanks and lines sshd would skip. */
export function tryParseAuthorizedKeyLine(line: string): SshPublicKey | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  try {
    return parseOpenSshLine(trimmed, 1);
  } catch (error) {
    if (error instanceof WireError) return undefined;
    throw error;
  }
}

/**
 * The identity (see keyIdentity) of an existing authorized_keys line, without the full
 * cryptographic check: files can hold many thousands of keys and de-duplication only
 * needs the blob. undefined for lines that are not key lines.
 */
export function authorizedKeyLineIdentity(line: string): string | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  let options = '';
  let rest = trimmed;
  const first = /^\S+/.exec(trimmed)?.[0] ?? '';
  if (!isSshKeyType(first)) {
    try {
      ({ options, rest } = splitOptions(trimmed));
    } catch (error) {
      if (error instanceof WireError) return undefined;
      throw error;
    }
  }
  const match = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]|$)/.exec(rest);
  if (match === null || !isSshKeyType(match[1]!)) return undefined;
  const data = match[2]!;
  // The blob starts with its own type name: compare the base64 of that prefix instead of decoding.
  if (data.length % 4 !== 0 || !data.startsWith(TYPE_PREFIXES.get(match[1]!) ?? '\0')) return undefined;
  return `${options !== '' && hasAuthorityOption(options) ? 'ca:' : ''}${data}`;
}

/** The base64 characters fully determined by a blob's leading `string type` field. */
function typePrefixBase64(type: string): string {
  const prefix = new WireWriter().string(type).bytes();
  const whole = Math.floor(prefix.length / 3) * 3;
  return Buffer.from(prefix.subarray(0, whole)).toString('base64');
}

/** Per key type, computed once: the check runs for every line of files with many keys. */
const TYPE_PREFIXES: ReadonlyMap<string, string> = new Map(
  [...Object.keys(PLAIN_TYPES), ...Object.keys(CERTIFICATE_TYPES)].map((type) => [type, typePrefixBase64(type)]),
);

// ---- RFC 4716 and PEM ------------------------------------------------------------

/** Control characters never go into a comment we write (one key per line). */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\x00-\x1f\x7f]/g;

const SSH2_BEGIN = /^----\s*BEGIN SSH2 PUBLIC KEY\s*----$/;
const SSH2_END = /^----\s*END SSH2 PUBLIC KEY\s*----$/;
const PEM_BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;

function parseSsh2Block(lines: string[], lineNumber: number): SshPublicKey {
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

function parsePemBlock(label: string, pem: string, lineNumber: number): SshPublicKey {
  if (label.includes('PRIVATE')) throw new WireError('this is a private key; send only the public key');
  let key: KeyObject;
  let comment = '';
  if (label === 'CERTIFICATE') {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      throw new WireError('the certificate cannot be parsed');
    }
    key = certificate.publicKey;
    const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
    if (commonName !== undefined) comment = commonName.replace(CONTROL_CHARACTERS, ' ').trim();
  } else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') {
    try {
      key = createPublicKey({ key: pem, format: 'pem', ...(label === 'RSA PUBLIC KEY' ? { type: 'pkcs1' as const } : {}) });
    } catch {
      throw new WireError('the PEM public key cannot be parsed');
    }
  } else {
    throw new WireError('unsupported PEM block (expected CERTIFICATE or PUBLIC KEY)');
  }
  const { type, blob } = sshBlobFromKeyObject(key);
  return buildKey(blob, type, { options: '', comment, source: 'pem', line: lineNumber });
}

// ---- the ssh_key value -------------------------------------------------------------

/**
 * Every key in an `ssh_key` value, in order. Throws SSH_KEY_INVALID naming the first bad
 * line; an empty value (no keys at all) is an error too.
 */
export function parseSshPublicKeys(value: string, field = 'ssh_key'): SshPublicKey[] {
  const lines = value.replace(/^\uFEFF/, '').split(/\r?\n|\r/);
  const keys: SshPublicKey[] = [];
  const fail = (lineNumber: number, reason: string): never => {
    throw new VmaccessError('SSH_KEY_INVALID', `${field} line ${lineNumber}: ${reason}.`, {
      hint: 'Send OpenSSH public keys (one per line, e.g. "ssh-ed25519 AAAA... me@host"), RFC 4716 SSH2 blocks or PEM certificates.',
    });
  };
  for (let index = 0; index < lines.length; index += 1) {
    const lineNumber = index + 1;
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      if (SSH2_BEGIN.test(line)) {
        const end = lines.findIndex((candidate, at) => at > index && SSH2_END.test(candidate.trim()));
        if (end === -1) fail(lineNumber, 'the SSH2 block has no END line');
        keys.push(parseSsh2Block(lines.slice(index + 1, end).map((text) => text.trim()).filter((text) => text !== ''), lineNumber));
        index = end;
        continue;
      }
      const pemLabel = PEM_BEGIN.exec(line)?.[1];
      if (pemLabel !== undefined) {
        const endLine = `-----END ${pemLabel}-----`;
        const end = lines.findIndex((candidate, at) => at > index && candidate.trim() === endLine);
        if (end === -1) fail(lineNumber, `the PEM block has no ${endLine} line`);
        const pem = lines.slice(index, end + 1).map((text) => text.trim()).join('\n') + '\n';
        keys.push(parsePemBlock(pemLabel, pem, lineNumber));
        index = end;
        continue;
      }
      if (/PRIVATE KEY/.test(line)) fail(lineNumber, 'this is a private key; send only the public key');
      keys.push(parseOpenSshLine(line, lineNumber));
    } catch (error) {
      if (error instanceof WireError) fail(lineNumber, error.message);
      throw error;
    }
  }
  if (keys.length === 0) {
    throw new VmaccessError('SSH_KEY_INVALID', `${field} contains no public key.`);
  }
  return keys;
}

/** The authorized_keys line for a key: options, type, base64, comment. */
export function formatAuthorizedKey(key: SshPublicKey): string {
  return [key.options, key.type, key.base64, key.comment].filter((part) => part !== '').join(' ');
}

/** Whether an options prefix holds cert-authority (quoted values may contain anything). */
function hasAuthorityOption(options: string): boolean {
  return options
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .toLowerCase()
    .split(',')
    .some((option) => option === 'cert-authority');
}

/** Identity of a key line for de-duplication: the blob, and whether it is a CA line. */
export function keyIdentity(key: SshPublicKey): string {
  return `${hasAuthorityOption(key.options) ? 'ca:' : ''}${key.base64}`;
}
