import { VmaccessError } from '../../errors.js';
import { parseOpenSshLine } from './authorized-key-line.js';
import type { SshPublicKey } from './key.js';
import { parsePemBlock, parseSsh2Block, PEM_BEGIN, SSH2_BEGIN, SSH2_END, unfoldOneLinePem } from './rfc4716-pem.js';
import { WireError } from './wire.js';

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
      const oneLine = unfoldOneLinePem(line);
      if (oneLine !== undefined) {
        keys.push(parsePemBlock(oneLine.label, oneLine.pem, lineNumber));
        continue;
      }
      const pemLabel = PEM_BEGIN.exec(line)?.[1];
      if (pemLabel !== undefined) {
        const endLine = `-----END ${pemLabel}-----`;
        const end = lines.findIndex((candidate, at) => at > index && candidate.trim() === endLine);
        if (end === -1) fail(lineNumber, 'the PEM block has no matching -----END ...----- line');
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
