import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { isNodeCryptoLoaded, nodeCrypto } from '../node-crypto.js';
import type { System } from '../system/system.js';

/**
 * Bytes one enable hashes in JavaScript before it loads node:crypto instead. Cold, in the
 * packaged runtime with its flags (table (d) of npm run bench), 1 KiB costs 4.5-6 ms in
 * JavaScript against 14-21 ms for loading node:crypto and hashing with it; in three runs
 * 16 KiB was always cheaper in JavaScript and 32 KiB dearer in two. The configuration
 * files of a usual request stay under the budget, and a large /etc/group costs at most a
 * few ms more than loading node:crypto at once would have.
 */
export const JS_DIGEST_BUDGET_BYTES = 24 * 1024;

let hashedInJs = 0;

/** sha256 hex of bytes (text as UTF-8), as PlannedFile digests are written. */
export function sha256Hex(data: string | Uint8Array): string {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  if (!isNodeCryptoLoaded() && hashedInJs + bytes.length <= JS_DIGEST_BUDGET_BYTES) {
    hashedInJs += bytes.length;
    return bytesToHex(sha256(bytes));
  }
  return nodeCrypto().createHash('sha256').update(bytes).digest('hex');
}

/** The digest of a file as it is now; null when it does not exist. */
export async function currentDigest(system: System, path: string): Promise<string | null> {
  const bytes = await system.readBytes(path);
  return bytes === undefined ? null : sha256Hex(bytes);
}

/**
 * `after` of a file a system program writes (useradd, chpasswd, userdel): its bytes are
 * the program's business and unknown until it runs, so no digest is promised.
 */
export const WRITTEN_BY_PROGRAM = '';
