import * as path from 'node:path';
import { VmaccessError, isVmaccessError } from '../../errors.js';
import { OvfEnvError, parseOvfProvisioningKeys } from '../../config/ovf-env.js';
import { parseSshPublicKeys } from '../../config/ssh-public-key/index.js';
import type { SshPublicKey } from '../../config/ssh-public-key/index.js';
import type { System } from '../../system/system.js';
import { readTextIfAllowed } from './account-database.js';

/**
 * The SSH keys given when the VM was provisioned, from the agent's ovf-env.xml: inline
 * values, or certificates the agent stored as `<lib dir>/<THUMBPRINT>.crt`. The public
 * documentation promises that `username` alone re-deploys them.
 */
export interface ProvisioningKeys {
  source: string;
  keys: SshPublicKey[];
  /** Entries that could not be used, and why. */
  skipped: string[];
}

const THUMBPRINT = /^[0-9A-Fa-f]{40,64}$/;

export async function loadProvisioningKeys(system: System, agentLibDir: string): Promise<ProvisioningKeys> {
  const source = path.posix.join(agentLibDir, 'ovf-env.xml');
  const none = (reason: string): VmaccessError =>
    new VmaccessError('NO_PROVISIONING_KEYS', `No password or ssh_key was given, and ${reason}, so there are no provisioning keys to re-deploy.`, {
      hint: 'Send ssh_key or password with username.',
    });
  const xml = await readTextIfAllowed(system, source);
  if (xml === undefined) throw none(`${source} does not exist or cannot be read`);
  let entries;
  try {
    entries = parseOvfProvisioningKeys(xml);
  } catch (error) {
    if (error instanceof OvfEnvError) throw none(`${source} cannot be used (${error.message})`);
    throw error;
  }
  const keys: SshPublicKey[] = [];
  const skipped: string[] = [];
  for (const [index, entry] of entries.entries()) {
    const label = `provisioning key ${index + 1}`;
    try {
      if (entry.value !== undefined) {
        keys.push(...parseSshPublicKeys(entry.value, label));
      } else if (entry.fingerprint !== undefined && THUMBPRINT.test(entry.fingerprint)) {
        const certificate = path.posix.join(agentLibDir, `${entry.fingerprint.toUpperCase()}.crt`);
        const pem = await readTextIfAllowed(system, certificate);
        if (pem === undefined) {
          skipped.push(`${label}: ${certificate} is missing`);
          continue;
        }
        keys.push(...parseSshPublicKeys(pem, label));
      } else {
        skipped.push(`${label}: neither a value nor a usable thumbprint`);
      }
    } catch (error) {
      if (!isVmaccessError(error)) throw error;
      skipped.push(error.message);
    }
  }
  if (keys.length === 0) {
    throw none(entries.length === 0 ? `${source} lists no SSH public keys` : `no key in ${source} is usable (${skipped.join('; ')})`);
  }
  return { source, keys, skipped };
}
