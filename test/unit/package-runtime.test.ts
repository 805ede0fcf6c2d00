import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ELF_MACHINES, NODE_RUNTIME, assertRuntimeArchitecture, compareVersions, parseElfHeader, requiredGlibc } from '../../.ci/node-runtime.mjs';
import { HANDLER_NAME, manifestCommandTargets, shimMinimumGlibc, zipFileName } from '../../.ci/package.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A minimal 64-bit little-endian ELF image: header, one PT_INTERP program header, the interpreter string. */
function elf({ machine, interpreter, bigEndian = false, bits = 64, type = 2 }: { machine: number; interpreter?: string; bigEndian?: boolean; bits?: number; type?: number }): Buffer {
  const interp = Buffer.from(`${interpreter ?? ''}\0`, 'latin1');
  const bytes = Buffer.alloc(64 + 56 + interp.length);
  bytes.writeUInt32BE(0x7f454c46, 0);
  bytes[4] = bits === 64 ? 2 : 1;
  bytes[5] = bigEndian ? 2 : 1;
  bytes[6] = 1;
  bytes.writeUInt16LE(type, 16);
  bytes.writeUInt16LE(machine, 18);
  bytes.writeBigUInt64LE(64n, 32); // e_phoff
  bytes.writeUInt16LE(56, 54); // e_phentsize
  bytes.writeUInt16LE(interpreter === undefined ? 0 : 1, 56); // e_phnum
  bytes.writeUInt32LE(3, 64); // PT_INTERP
  bytes.writeBigUInt64LE(120n, 64 + 8); // p_offset
  bytes.writeBigUInt64LE(BigInt(interp.length), 64 + 32); // p_filesz
  interp.copy(bytes, 120);
  return bytes;
}

describe('runtime architecture check (ELF header)', () => {
  test.each([
    ['x64', 0x3e, '/lib64/ld-linux-x86-64.so.2'],
    ['arm64', 0xb7, '/lib/ld-linux-aarch64.so.1'],
  ] as const)('accepts a glibc %s executable', (arch, machine, interpreter) => {
    expect(parseElfHeader(elf({ machine, interpreter }))).toEqual({ machine, interpreter });
    expect(() => assertRuntimeArchitecture(elf({ machine, interpreter }), arch)).not.toThrow();
  });

  test.each([
    ['an x64 binary where arm64 is expected', elf({ machine: 0x3e, interpreter: '/lib64/ld-linux-x86-64.so.2' }), 'arm64', /e_machine 0x3e, expected 0xb7/],
    ['an arm64 binary where x64 is expected', elf({ machine: 0xb7, interpreter: '/lib/ld-linux-aarch64.so.1' }), 'x64', /e_machine 0xb7, expected 0x3e/],
    ['a musl build', elf({ machine: 0xb7, interpreter: '/lib/ld-musl-aarch64.so.1' }), 'arm64', /interpreter \/lib\/ld-musl-aarch64.so.1/],
    ['a static binary', elf({ machine: 0x3e }), 'x64', /interpreter \(none\)/],
    ['a 32-bit binary', elf({ machine: 0x28, bits: 32 }), 'arm64', /not a 64-bit ELF file/],
    ['a big-endian binary', elf({ machine: 0xb7, bigEndian: true }), 'arm64', /not a little-endian/],
    ['a relocatable object', elf({ machine: 0x3e, type: 1 }), 'x64', /not an executable/],
    ['a shell script', Buffer.from('#!/bin/sh\necho node\n'.padEnd(80, '#')), 'x64', /not an ELF file/],
    ['a truncated header', elf({ machine: 0x3e }).subarray(0, 40), 'x64', /not an ELF file/],
  ])('rejects %s', (_name, bytes, arch, message) => {
    expect(() => assertRuntimeArchitecture(bytes, arch)).toThrow(message);
  });

  test('rejects program headers that point past the end of the file', () => {
    const bytes = elf({ machine: 0x3e, interpreter: '/lib64/ld-linux-x86-64.so.2' });
    bytes.writeBigUInt64LE(4096n, 64 + 8);
    expect(() => parseElfHeader(bytes)).toThrow(/runs past the end/);
  });

  test('reads the real node binary running this test', async () => {
    const arch = process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;
    if (arch === undefined) return;
    // The first MiB only: reading the whole binary (about 100 MB) took over 5 s on a busy CI machine.
    const file = await open(process.execPath, 'r');
    const header = Buffer.alloc(1 << 20);
    try {
      await file.read(header, 0, header.length, 0);
    } finally {
      await file.close();
    }
    expect(parseElfHeader(header).machine).toBe(ELF_MACHINES[arch].machine);
  });
});

describe('glibc requirement', () => {
  test('the newest GLIBC_ symbol version wins, compared as numbers', () => {
    const bytes = Buffer.from('\0GLIBC_2.2.5\0GLIBC_2.17\0GLIBC_2.28\0GLIBC_2.9\0GLIBC_PRIVATE\0', 'latin1');
    expect(requiredGlibc(bytes)).toBe('2.28');
    expect(requiredGlibc(Buffer.from('no versions here'))).toBeUndefined();
  });

  test.each([
    [[2, 28], [2, 28], 0],
    [[2, 9], [2, 28], -1],
    [[2, 28, 1], [2, 28], 1],
    [[3], [2, 99], 1],
  ])('compareVersions(%j, %j) has the sign %d', (a, b, sign) => {
    expect(Math.sign(compareVersions(a, b))).toBe(sign);
  });

  test('handlers/run declares the glibc it checks for', async () => {
    expect(shimMinimumGlibc(await readFile(`${root}/handlers/run`, 'utf8'))).toBe('2.28');
    expect(() => shimMinimumGlibc('#!/bin/sh\n')).toThrow(/min_glibc_minor/);
  });
});

describe('package naming and manifest', () => {
  test('the zip is named <Publisher.Type>-<version>.zip', () => {
    expect(zipFileName('1.6.0')).toBe('Microsoft.OSTCExtensions.VMAccessForLinux-1.6.0.zip');
    expect(HANDLER_NAME).toBe('Microsoft.OSTCExtensions.VMAccessForLinux');
  });

  test("the repository's manifest runs every command through handlers/run with the operation as argument", async () => {
    const text = await readFile(`${root}/HandlerManifest.json`, 'utf8');
    expect(manifestCommandTargets(text)).toEqual(Array(5).fill('handlers/run'));
    const commands = (JSON.parse(text) as [{ handlerManifest: Record<string, unknown> }])[0].handlerManifest;
    for (const operation of ['install', 'enable', 'update', 'disable', 'uninstall']) expect(commands[`${operation}Command`]).toBe(`handlers/run ${operation}`);
  });

  const manifest = (commands: Record<string, string>) =>
    JSON.stringify([
      {
        version: 1.0,
        handlerManifest: {
          installCommand: 'handlers/install',
          enableCommand: 'handlers/enable',
          updateCommand: 'handlers/update',
          disableCommand: 'handlers/disable',
          uninstallCommand: 'handlers/uninstall',
          ...commands,
        },
      },
    ]);

  test('a BOM and arguments after the command are accepted', () => {
    expect(manifestCommandTargets(`\uFEFF${manifest({ enableCommand: 'handlers/run enable --verbose' })}`)[1]).toBe('handlers/run');
  });

  test.each([
    ['an absolute command', manifest({ enableCommand: '/usr/bin/node x.js' }), /enableCommand must be a relative path/],
    ['a command leaving the package', manifest({ installCommand: '../other/install' }), /installCommand must be a relative path/],
    ['a missing command', manifest({ uninstallCommand: '' }), /uninstallCommand is missing/],
    ['a bare object', '{"handlerManifest":{}}', /array of one object/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => manifestCommandTargets(text)).toThrow(message);
  });

  test('the pinned runtime is one version for both architectures, with sha512 integrity', () => {
    expect(NODE_RUNTIME.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Object.keys(NODE_RUNTIME.arches).sort()).toEqual(['arm64', 'x64']);
    for (const pin of Object.values(NODE_RUNTIME.arches)) expect(pin.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
  });
});
