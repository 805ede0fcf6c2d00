import { createHash } from 'node:crypto';
import type { System } from '../system/system.js';

/** sha256 hex of bytes (text as UTF-8), as PlannedFile digests are written. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
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
