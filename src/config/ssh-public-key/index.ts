/**
 * SSH public keys: the public face of the folder. key.ts holds the model, wire.ts the
 * OpenSSH wire format, key-types.ts the per-type checks, authorized-key-line.ts one
 * authorized_keys line with its options, rfc4716-pem.ts the SSH2 and PEM blocks, and
 * parse-value.ts a whole `ssh_key` value.
 */
export type { KeySource, SshPublicKey } from './key.js';
export { formatAuthorizedKey, keyIdentity } from './key.js';
export { fingerprintOf } from './wire.js';
export { isSshKeyType } from './key-types.js';
export { authorizedKeyLineIdentity, tryParseAuthorizedKeyLine } from './authorized-key-line.js';
export { sshBlobFromKeyObject } from './rfc4716-pem.js';
export { parseSshPublicKeys } from './parse-value.js';
export { expiryOptionOf, splitOptionList, withExpiry, withExpiryOption } from './key-options.js';
