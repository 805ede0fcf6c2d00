import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Real public keys for tests, made fresh by the real tools (ssh-keygen, openssl) in a
 * temporary directory; private keys stay there and the directory is removed. Nothing
 * here is committed key material. Security-key (sk-*) keys need hardware to generate,
 * so their public halves are built from the documented wire format (PROTOCOL.u2f) and
 * then signed into certificates by the real ssh-keygen.
 */

export interface TestKey {
  /** The text as a caller would send it. */
  text: string;
  /** `SHA256:...` as the real ssh-keygen -l reports it. */
  fingerprint: string;
  type: string;
}

export interface TestKeys {
  ed25519: TestKey;
  rsa: TestKey;
  ecdsa256: TestKey;
  ecdsa384: TestKey;
  ecdsa521: TestKey;
  skEd25519: TestKey;
  skEcdsa: TestKey;
  certEd25519: TestKey;
  certRsa: TestKey;
  certSkEd25519: TestKey;
  ssh2Ed25519: TestKey;
  ssh2Rsa: TestKey;
  x509Rsa: TestKey;
  x509Ec: TestKey;
  x509Ed25519: TestKey;
  spkiRsa: TestKey;
  /** A private key in OpenSSH format: must be refused and never echoed. */
  privateKeyText: string;
}

function wireString(data: Uint8Array | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function run(file: string, args: string[], cwd: string): string {
  return execFileSync(file, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function fingerprintOf(dir: string, pubFile: string): string {
  const output = run('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile], dir);
  const match = /SHA256:[A-Za-z0-9+/]+/.exec(output);
  if (match === null) throw new Error(`no fingerprint for ${pubFile}: ${output}`);
  return match[0];
}

export function generateTestKeys(): TestKeys {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmaccess-keys-'));
  try {
    const openssh = (name: string, type: string, bits?: number): TestKey => {
      run('ssh-keygen', ['-q', '-t', type, ...(bits === undefined ? [] : ['-b', String(bits)]), '-N', '', '-C', `${name}@test`, '-f', name], dir);
      const text = fs.readFileSync(path.join(dir, `${name}.pub`), 'utf8').trim();
      return { text, fingerprint: fingerprintOf(dir, `${name}.pub`), type: text.split(' ')[0]! };
    };
    const ed25519 = openssh('ed', 'ed25519');
    const rsa = openssh('rsa', 'rsa', 3072);
    const ecdsa256 = openssh('ec256', 'ecdsa', 256);
    const ecdsa384 = openssh('ec384', 'ecdsa', 384);
    const ecdsa521 = openssh('ec521', 'ecdsa', 521);
    openssh('ca', 'ed25519');

    const writePub = (name: string, text: string): TestKey => {
      fs.writeFileSync(path.join(dir, `${name}.pub`), `${text}\n`);
      return { text, fingerprint: fingerprintOf(dir, `${name}.pub`), type: text.split(' ')[0]! };
    };
    const edJwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    const skEdBlob = Buffer.concat([wireString('sk-ssh-ed25519@openssh.com'), wireString(Buffer.from(edJwk.x!, 'base64url')), wireString('ssh:')]);
    const skEd25519 = writePub('sked', `sk-ssh-ed25519@openssh.com ${skEdBlob.toString('base64')} sk-ed@test`);
    const ecJwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(ecJwk.x!, 'base64url'), Buffer.from(ecJwk.y!, 'base64url')]);
    const skEcBlob = Buffer.concat([wireString('sk-ecdsa-sha2-nistp256@openssh.com'), wireString('nistp256'), wireString(point), wireString('ssh:')]);
    const skEcdsa = writePub('skec', `sk-ecdsa-sha2-nistp256@openssh.com ${skEcBlob.toString('base64')} sk-ec@test`);

    const certify = (name: string): TestKey => {
      run('ssh-keygen', ['-q', '-s', 'ca', '-I', `${name}-id`, '-n', 'alice', '-V', '+52w', `${name}.pub`], dir);
      const text = fs.readFileSync(path.join(dir, `${name}-cert.pub`), 'utf8').trim();
      return { text, fingerprint: fingerprintOf(dir, `${name}-cert.pub`), type: text.split(' ')[0]! };
    };
    const certEd25519 = certify('ed');
    const certRsa = certify('rsa');
    const certSkEd25519 = certify('sked');

    const ssh2 = (name: string, key: TestKey): TestKey => ({ ...key, text: run('ssh-keygen', ['-e', '-f', `${name}.pub`], dir) });
    const ssh2Ed25519 = ssh2('ed', ed25519);
    const ssh2Rsa = ssh2('rsa', rsa);

    const x509 = (name: string, newkey: string[]): TestKey => {
      run('openssl', ['req', '-x509', ...newkey, '-keyout', `${name}.key`, '-nodes', '-subj', `/CN=${name}-cert`, '-days', '2', '-out', `${name}.pem`], dir);
      const pem = fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8');
      run('openssl', ['x509', '-in', `${name}.pem`, '-pubkey', '-noout', '-out', `${name}-spki.pem`], dir);
      const der = execFileSync('openssl', ['pkey', '-pubin', '-in', `${name}-spki.pem`, '-outform', 'DER'], { cwd: dir });
      let line: string;
      if (newkey.includes('ed25519')) {
        // ssh-keygen cannot import Ed25519 from PKCS#8; the last 32 bytes of the SPKI are the key.
        const blob = Buffer.concat([wireString('ssh-ed25519'), wireString(der.subarray(der.length - 32))]);
        line = `ssh-ed25519 ${blob.toString('base64')}`;
      } else {
        line = run('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', `${name}-spki.pem`], dir).trim();
      }
      const key = writePub(`${name}-converted`, line);
      return { ...key, text: pem };
    };
    const x509Rsa = x509('x509rsa', ['-newkey', 'rsa:2048']);
    const x509Ec = x509('x509ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const x509Ed25519 = x509('x509ed', ['-newkey', 'ed25519']);
    const spkiRsa = { ...x509Rsa, text: fs.readFileSync(path.join(dir, 'x509rsa-spki.pem'), 'utf8') };
    const privateKeyText = fs.readFileSync(path.join(dir, 'ed'), 'utf8');

    return {
      ed25519,
      rsa,
      ecdsa256,
      ecdsa384,
      ecdsa521,
      skEd25519,
      skEcdsa,
      certEd25519,
      certRsa,
      certSkEd25519,
      ssh2Ed25519,
      ssh2Rsa,
      x509Rsa,
      x509Ec,
      x509Ed25519,
      spkiRsa,
      privateKeyText,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Flip one base64 character inside the embedded type name (a corrupted copy-paste). */
export function corrupt(line: string): string {
  const parts = line.split(' ');
  const data = parts[1]!;
  const at = 8;
  const replacement = data[at] === 'A' ? 'B' : 'A';
  parts[1] = data.slice(0, at) + replacement + data.slice(at + 1);
  return parts.join(' ');
}

/** Cut a key's data short (a truncated paste), keeping it valid base64. */
export function truncate(line: string): string {
  const parts = line.split(' ');
  parts[1] = parts[1]!.slice(0, Math.floor(parts[1]!.length / 8) * 4);
  return parts.join(' ');
}
