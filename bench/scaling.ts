import { createHash, generateKeyPairSync } from 'node:crypto';
import { mergeAuthorizedKeys } from '../src/config/authorized-keys.js';
import { findPasswdEntry } from '../src/config/passwd.js';
import { parseSshPublicKeys, sshBlobFromKeyObject } from '../src/config/ssh-public-key/index.js';
import { median, ms, type Table } from './table.js';

/**
 * How the pure text transforms the actions run on every enable scale with the size
 * of the files they read: authorized_keys with many keys, /etc/passwd with many users.
 * File I/O is left out on purpose; these rows are about the algorithms.
 */

export const SIZES = [1_000, 10_000, 100_000] as const;

function sshString(bytes: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** `count` distinct, well-formed ed25519 key lines (the blobs are hashes, not real keys: only the format is read). */
export function authorizedKeysText(count: number): string {
  const lines: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const point = createHash('sha256').update(`key ${index}`).digest();
    const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(point)]);
    lines.push(`ssh-ed25519 ${blob.toString('base64')} user${index}@bench`);
  }
  return `${lines.join('\n')}\n`;
}

export function passwdText(count: number): string {
  const lines = ['root:x:0:0:root:/root:/bin/bash'];
  for (let index = 0; index < count; index += 1) lines.push(`user${index}:x:${1000 + index}:${1000 + index}::/home/user${index}:/bin/bash`);
  return `${lines.join('\n')}\n`;
}

function timeMedian(runs: number, body: () => unknown): number {
  for (let warm = 0; warm < 2; warm += 1) body();
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = process.hrtime.bigint();
    body();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return median(samples);
}

function runsFor(size: number): number {
  return size >= 100_000 ? 11 : size >= 10_000 ? 21 : 51;
}

export function runScalingBench(): Table {
  const { publicKey } = generateKeyPairSync('ed25519');
  const { type, blob } = sshBlobFromKeyObject(publicKey);
  const requestValue = `${type} ${Buffer.from(blob).toString('base64')} new@bench`;

  const rows: string[][] = [];
  const series: Record<string, number[]> = {};
  const record = (operation: string, size: number, milliseconds: number) => {
    const previous = series[operation]?.at(-1);
    (series[operation] ??= []).push(milliseconds);
    rows.push([operation, size.toLocaleString('en-US'), ms(milliseconds), ((milliseconds * 1000) / size).toFixed(2), previous === undefined ? '' : `x${(milliseconds / previous).toFixed(1)}`]);
  };

  for (const size of SIZES) {
    const existing = authorizedKeysText(size);
    record('authorized_keys: parse ssh_key + add 1 key', size, timeMedian(runsFor(size), () => {
      const result = mergeAuthorizedKeys(existing, parseSshPublicKeys(requestValue), { replace: false });
      if (!result.changed) throw new Error('the key was not added');
    }));
  }
  for (const size of SIZES) {
    const existing = authorizedKeysText(size);
    const present = `${existing.split('\n', 1)[0]}`;
    record('authorized_keys: key already present (no change)', size, timeMedian(runsFor(size), () => {
      const result = mergeAuthorizedKeys(existing, parseSshPublicKeys(present), { replace: false });
      if (result.changed) throw new Error('an existing key was added again');
    }));
  }
  for (const size of SIZES) {
    const existing = authorizedKeysText(size);
    record('authorized_keys: remove_prior_keys (replace all)', size, timeMedian(runsFor(size), () => {
      const result = mergeAuthorizedKeys(existing, parseSshPublicKeys(requestValue), { replace: true });
      if (result.removed !== size) throw new Error('not every prior key was removed');
    }));
  }
  for (const size of SIZES) {
    const text = passwdText(size);
    const last = `user${size - 1}`;
    record('passwd: find the last user', size, timeMedian(runsFor(size), () => {
      if (findPasswdEntry(text, last)?.name !== last) throw new Error('user not found');
    }));
  }
  for (const size of SIZES) {
    const text = passwdText(size);
    record('passwd: user not present', size, timeMedian(runsFor(size), () => {
      if (findPasswdEntry(text, 'nobody-here') !== undefined) throw new Error('found a user that is not there');
    }));
  }

  const add100k = series['authorized_keys: parse ssh_key + add 1 key']?.at(-1) ?? Number.NaN;
  const worstStep = Math.max(...Object.values(series).flatMap((values) => values.slice(1).map((value, index) => value / values[index]!)));
  return {
    title: '(b) scaling of the text transforms (in process, median)',
    headers: ['operation', 'entries', 'ms (median)', 'µs per entry', 'growth for x10 entries'],
    rows,
    notes: [
      `Linear growth means about x10 per row step; the largest step measured is x${worstStep.toFixed(1)}.`,
      `Target: adding a key to 100,000 keys under 1 s: ${ms(add100k)} ms, ${add100k < 1000 ? 'met' : 'NOT met'}.`,
    ],
  };
}
