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

/** The authorized_keys line for a key: options, type, base64, comment. */
export function formatAuthorizedKey(key: SshPublicKey): string {
  return [key.options, key.type, key.base64, key.comment].filter((part) => part !== '').join(' ');
}

/** Whether an options prefix holds cert-authority (quoted values may contain anything). */
export function hasAuthorityOption(options: string): boolean {
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
