import { buildKey, CERTIFICATE_TYPES, isSshKeyType, PLAIN_TYPES } from './key-types.js';
import type { SshPublicKey } from './key.js';
import { hasAuthorityOption } from './key.js';
import { decodeBase64Strict, WireError, WireWriter } from './wire.js';

/** One authorized_keys line: `[options] type base64 [comment]`, options as sshd(8) reads them. */

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
const UNKNOWN_OPTION = 'expected a key type (e.g. ssh-ed25519) or sshd options (e.g. no-pty or from="...") at the start of the line, found something else';

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
      // Only names from sshd's fixed list are ever echoed: anything else may be a secret
      // pasted into the wrong field, and errors end up in status files and telemetry.
      if (!VALUE_OPTIONS.has(name)) throw new WireError(FLAG_OPTIONS.has(name) ? `option ${name} takes no value` : UNKNOWN_OPTION);
      index += 1;
      if (line[index] !== '"') throw new WireError(`option ${name} needs a double-quoted value`);
      index += 1;
      while (index < line.length && line[index] !== '"') index += line[index] === '\\' && line[index + 1] === '"' ? 2 : 1;
      if (index >= line.length) throw new WireError(`option ${name} has an unterminated quoted value`);
      index += 1;
    } else if (!FLAG_OPTIONS.has(name)) {
      throw new WireError(UNKNOWN_OPTION);
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
export function parseOpenSshLine(line: string, lineNumber: number): SshPublicKey {
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
