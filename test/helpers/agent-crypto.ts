import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Certificates and protected settings made the way the Azure platform makes them,
 * with the real openssl: a self-signed RSA certificate stored as
 * `<THUMBPRINT>.crt` / `<THUMBPRINT>.prv`, and CMS EnvelopedData in DER, base64.
 */

export interface TestCertificate {
  thumbprint: string;
  crt: string;
  prv: string;
}

export function createTestCertificate(dir: string): TestCertificate {
  const crt = path.join(dir, 'cert.crt');
  const prv = path.join(dir, 'cert.prv');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=vmaccess-test', '-days', '2', '-keyout', prv, '-out', crt], {
    stdio: 'ignore',
  });
  const fingerprint = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' });
  const thumbprint = fingerprint.split('=')[1]?.replace(/:/g, '').trim().toUpperCase() ?? '';
  const named = { crt: path.join(dir, `${thumbprint}.crt`), prv: path.join(dir, `${thumbprint}.prv`) };
  renameSync(crt, named.crt);
  renameSync(prv, named.prv);
  return { thumbprint, ...named };
}

export type CmsCipher = 'des3' | 'aes256';

export function encryptProtectedSettings(certificate: TestCertificate, settings: unknown, cipher: CmsCipher): string {
  const der = execFileSync('openssl', ['cms', '-encrypt', '-binary', '-outform', 'DER', `-${cipher}`, certificate.crt], {
    input: JSON.stringify(settings),
  });
  return der.toString('base64');
}

/** The cipher openssl finds in an EnvelopedData blob, to prove which one a test used. */
export function cmsContentCipher(base64: string): string {
  const text = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER'], { input: Buffer.from(base64, 'base64'), encoding: 'utf8' });
  return /contentEncryptionAlgorithm:\s*\n?\s*algorithm:\s*(\S+)/.exec(text)?.[1] ?? 'unknown';
}


export function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}
