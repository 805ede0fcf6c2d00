import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { extractZip } from '../../.ci/package.mjs';
import { assertSafeEntryName, parentDirectories, writeReproducibleZip, type ZipInput } from '../../.ci/zip.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface CentralEntry {
  name: string;
  mode: number;
  dosTime: number;
  dosDate: number;
  extraLength: number;
  madeBy: number;
}

/** Read the central directory straight from the bytes (what every unzip, and the agent's zipfile, reads). */
function centralDirectory(zip: Buffer): CentralEntry[] {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries: CentralEntry[] = [];
  for (let index = 0; index < count; index += 1) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    entries.push({
      madeBy: zip.readUInt16LE(at + 4) >> 8,
      dosTime: zip.readUInt16LE(at + 12),
      dosDate: zip.readUInt16LE(at + 14),
      extraLength,
      mode: zip.readUInt32LE(at + 38) >>> 16,
      name: zip.subarray(at + 46, at + 46 + nameLength).toString('utf8'),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

describe('reproducible zip', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmaccess-zip-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const inputs = (): ZipInput[] => [
    { name: 'handlers/run', executable: true, data: Buffer.from('#!/bin/sh\nexit 0\n') },
    { name: 'HandlerManifest.json', executable: false, data: Buffer.from('[]') },
    { name: 'resources/sshd_config/debian', executable: false, data: Buffer.from('Port 22\n'.repeat(100)) },
    { name: 'dist/app/vmaccess.mjs', executable: false, data: Buffer.from('console.log(1)\n') },
  ];

  test('the same entries in any order and in any time zone give the same bytes', async () => {
    const first = path.join(dir, 'a.zip');
    const second = path.join(dir, 'b.zip');
    const timeZone = process.env.TZ;
    try {
      process.env.TZ = 'Pacific/Kiritimati';
      await writeReproducibleZip(inputs(), first);
      process.env.TZ = 'America/Los_Angeles';
      await writeReproducibleZip(inputs().reverse(), second);
    } finally {
      if (timeZone === undefined) delete process.env.TZ;
      else process.env.TZ = timeZone;
    }
    expect(Buffer.compare(await readFile(first), await readFile(second))).toBe(0);
  });

  test('entries are sorted, with a folder entry for every parent, fixed DOS time (2000-01-01 00:00), unix modes 0755/0644 and no extra fields', async () => {
    const file = path.join(dir, 'a.zip');
    const count = await writeReproducibleZip(inputs(), file);
    const entries = centralDirectory(await readFile(file));
    expect(count).toBe(entries.length);
    expect(entries.map((entry) => entry.name)).toEqual([
      'HandlerManifest.json',
      'dist/',
      'dist/app/',
      'dist/app/vmaccess.mjs',
      'handlers/',
      'handlers/run',
      'resources/',
      'resources/sshd_config/',
      'resources/sshd_config/debian',
    ]);
    const modes = Object.fromEntries(entries.map((entry) => [entry.name, entry.mode.toString(8)]));
    expect(modes['handlers/run']).toBe('100755');
    expect(modes['HandlerManifest.json']).toBe('100644');
    expect(modes['dist/app/']).toBe('40755');
    for (const entry of entries) {
      expect(entry.madeBy).toBe(3); // unix, so unzip applies the modes
      expect(entry.dosDate).toBe((20 << 9) | (1 << 5) | 1); // 2000-01-01
      expect(entry.dosTime).toBe(0);
      expect(entry.extraLength).toBe(0); // no extended timestamp, no uid/gid
    }
  });

  test('unzip restores the content and the modes', async () => {
    const file = path.join(dir, 'a.zip');
    await writeReproducibleZip([...inputs(), { name: 'big/blob', executable: true, file: path.join(root, 'handlers', 'run') }], file);
    const out = path.join(dir, 'out');
    const unzip = spawnSync('unzip', ['-q', file, '-d', out]);
    if (unzip.error === undefined) {
      expect(unzip.status).toBe(0);
    } else {
      await extractZip(file, out); // no unzip(1) on this machine: our own reader, which applies the stored modes too
    }
    expect(await readFile(path.join(out, 'resources/sshd_config/debian'), 'utf8')).toBe('Port 22\n'.repeat(100));
    expect(await readFile(path.join(out, 'big/blob'))).toEqual(await readFile(path.join(root, 'handlers', 'run')));
    const { stat } = await import('node:fs/promises');
    expect((await stat(path.join(out, 'handlers/run'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(out, 'HandlerManifest.json'))).mode & 0o777).toBe(0o644);
  });

  test.each(['', '/etc/passwd', '../escape', 'a/../../b', 'a//b', './a', 'a\\b', 'dir/'])('refuses the entry name %j', async (name) => {
    expect(() => assertSafeEntryName(name)).toThrow(/unsafe zip entry name/);
    await expect(writeReproducibleZip([{ name, executable: false, data: Buffer.from('x') }], path.join(dir, 'x.zip'))).rejects.toThrow(/unsafe/);
  });

  test('refuses duplicate names', async () => {
    const entry: ZipInput = { name: 'a', executable: false, data: Buffer.from('x') };
    await expect(writeReproducibleZip([entry, entry], path.join(dir, 'x.zip'))).rejects.toThrow(/duplicate zip entry a/);
  });

  test('leaves no partial file behind when a source file is missing', async () => {
    const out = path.join(dir, 'x.zip');
    await writeFile(out, 'previous');
    await expect(writeReproducibleZip([{ name: 'a', executable: false, file: path.join(dir, 'missing') }], out)).rejects.toThrow();
    expect(await readFile(out, 'utf8')).toBe('previous');
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).filter((name) => name.includes('partial'))).toEqual([]);
  });

  test('parentDirectories lists each folder once', () => {
    expect(parentDirectories(['a/b/c', 'a/b/d', 'e']).sort()).toEqual(['a/', 'a/b/']);
  });
});
