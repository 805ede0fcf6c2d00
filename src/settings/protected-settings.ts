import * as path from 'node:path';
import { VmaccessError } from '../errors.js';
import type { System } from '../system/system.js';
import { assertJsonBounds, assertTextSize } from './json-bounds.js';

/**
 * Protected settings are base64 DER CMS EnvelopedData for the certificate named by
 * the thumbprint (contract §2.2), 3DES in older goal states and AES-256 in newer
 * ones. openssl handles both; the ciphertext goes in on stdin and the plaintext
 * comes back on stdout, so neither ever appears on a command line.
 */

const THUMBPRINT = /^[0-9A-Fa-f]{40}$/;

export interface DecryptOptions {
  agentLibDir: string;
  openssl?: string;
}

async function runDecrypt(system: System, openssl: string, subcommand: 'cms' | 'smime', der: Uint8Array, crt: string, prv: string) {
  return system.run(openssl, [subcommand, '-decrypt', '-inform', 'DER', '-recip', crt, '-inkey', prv], { input: der, timeoutMs: 30_000 });
}

export async function decryptProtectedSettings(
  system: System,
  base64Text: string,
  thumbprint: string | undefined,
  options: DecryptOptions,
): Promise<Record<string, unknown>> {
  if (thumbprint === undefined || !THUMBPRINT.test(thumbprint)) {
    throw new VmaccessError(
      'PROTECTED_SETTINGS_UNDECRYPTABLE',
      'The protected settings have no valid certificate thumbprint (40 hexadecimal digits expected).',
    );
  }
  const upper = thumbprint.toUpperCase();
  const crt = path.join(options.agentLibDir, `${upper}.crt`);
  const prv = path.join(options.agentLibDir, `${upper}.prv`);
  for (const file of [crt, prv]) {
    if ((await system.stat(file)) === undefined) {
      throw new VmaccessError('PROTECTED_SETTINGS_CERT_MISSING', `The certificate file ${file} for the protected settings is missing.`, {
        hint: 'The guest agent fetches certificates with the goal state; restart the agent or apply the extension again.',
      });
    }
  }
  const der = Buffer.from(base64Text.replace(/\s+/g, ''), 'base64');
  if (der.length === 0) throw new VmaccessError('PROTECTED_SETTINGS_UNDECRYPTABLE', 'The protected settings are not base64 text.');
  const openssl = options.openssl ?? 'openssl';
  let result = await runDecrypt(system, openssl, 'cms', der, crt, prv);
  if (!result.started) {
    throw new VmaccessError('PREREQUISITE_MISSING', 'openssl is not installed; it is needed to decrypt the protected settings.');
  }
  if (result.exitCode !== 0 && /invalid command|unknown command|'cms' is an invalid/i.test(result.stderr)) {
    // Very old OpenSSL builds lack cms; smime reads the same EnvelopedData.
    result = await runDecrypt(system, openssl, 'smime', der, crt, prv);
  }
  if (result.timedOut) {
    throw new VmaccessError('PROTECTED_SETTINGS_UNDECRYPTABLE', 'openssl did not finish decrypting the protected settings within 30 s (the VM may be overloaded); nothing was changed.', {
      hint: 'Apply the extension again.',
    });
  }
  if (result.exitCode !== 0) {
    throw new VmaccessError('PROTECTED_SETTINGS_UNDECRYPTABLE', 'openssl could not decrypt the protected settings with the named certificate.', {
      hint: 'Check that the settings were encrypted to the current certificate of this VM.',
    });
  }
  assertTextSize(result.stdout, 'The decrypted protected settings');
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new VmaccessError('PROTECTED_SETTINGS_UNDECRYPTABLE', 'The decrypted protected settings are not JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new VmaccessError('PROTECTED_SETTINGS_UNDECRYPTABLE', 'The decrypted protected settings are not a JSON object.');
  }
  assertJsonBounds(parsed, 'The decrypted protected settings');
  return parsed as Record<string, unknown>;
}
