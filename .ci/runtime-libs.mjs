// The C and C++ runtime libraries shipped beside each bundled node binary, with the
// dynamic loader that starts it: Debian 12 (bookworm) packages, pinned by version and
// sha256, so node never loads the VM's own glibc (see docs/runtime.md).
//
// handlers/run starts `runtime/<arch>/lib/<loader> --library-path runtime/<arch>/lib
// runtime/<arch>/bin/node ...`: the loader is given by path, not taken from node's
// PT_INTERP, and --library-path is an argument, not LD_LIBRARY_PATH, so the programs
// node starts (useradd, sshd, ...) get the VM's loader, libraries and an untouched
// environment.
/* global fetch, AbortSignal -- Node.js >= 18 globals, not in the lint config's list for .mjs */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Where the pool/ paths below are fetched from: VMACCESS_DEBIAN_MIRROR, else the first apt
 * source of this machine that serves Debian bookworm (any mirror of the archive has the
 * same pool/ paths, and the sha256 pins make the source irrelevant to the result).
 */
export async function debianMirror() {
  const override = process.env['VMACCESS_DEBIAN_MIRROR'];
  if (override !== undefined && override !== '') return override.replace(/\/+$/, '');
  const files = ['/etc/apt/sources.list'];
  for (const name of await readdir('/etc/apt/sources.list.d').catch(() => [])) files.push(path.join('/etc/apt/sources.list.d', name));
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(stanza)?.[1]?.trim() ?? '';
        if (field('Types').split(/\s+/).includes('deb') && field('Suites').split(/\s+/).includes('bookworm')) {
          const uri = field('URIs').split(/\s+/)[0];
          if (uri) return uri.replace(/\/+$/, '');
        }
      }
    } else {
      for (const line of text.split('\n')) {
        const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm(?:\s|$)/.exec(line.trim());
        if (match?.[1] !== undefined) return match[1].replace(/\/+$/, '');
      }
    }
  }
  throw new Error('no apt source for Debian bookworm on this machine: set VMACCESS_DEBIAN_MIRROR to a Debian archive mirror');
}

/**
 * Debian's multiarch names, the loader each architecture's node asks for, and the
 * bookworm packages with their pool paths and sha256 (from the signed Packages index:
 * `apt-get download --print-uris <package>:<arch>`). Bump: all of one package at once,
 * then `npm run package` (the build refuses a file whose sha256 differs).
 * gcc-12-base carries only the copyright file of libstdc++6 and libgcc-s1.
 */
export const RUNTIME_LIBS = {
  glibc: '2.36',
  arches: {
    x64: {
      triplet: 'x86_64-linux-gnu',
      loader: 'ld-linux-x86-64.so.2',
      debs: [
        { package: 'libc6', version: '2.36-9+deb12u14', pool: 'pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb', sha256: 'ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf' },
        { package: 'libstdc++6', version: '12.2.0-14+deb12u1', pool: 'pool/main/g/gcc-12/libstdc++6_12.2.0-14+deb12u1_amd64.deb', sha256: '5cd3171216d4ab0fc911cfe9c35509bf2dd8f47761c43b7f6a4296701551a24d' },
        { package: 'libgcc-s1', version: '12.2.0-14+deb12u1', pool: 'pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb', sha256: '3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7' },
        { package: 'gcc-12-base', version: '12.2.0-14+deb12u1', pool: 'pool/main/g/gcc-12/gcc-12-base_12.2.0-14+deb12u1_amd64.deb', sha256: '1896a2aacf4ad681ff5eacc24a5b0ca4d5d9c9b9c9e4b6de5197bc1e116ea619' },
      ],
    },
    arm64: {
      triplet: 'aarch64-linux-gnu',
      loader: 'ld-linux-aarch64.so.1',
      debs: [
        { package: 'libc6', version: '2.36-9+deb12u14', pool: 'pool/main/g/glibc/libc6_2.36-9+deb12u14_arm64.deb', sha256: '01f4330719fd4f65580e16ea5a0527f372fca750e8f588d26deaf09f2d3b1cf4' },
        { package: 'libstdc++6', version: '12.2.0-14+deb12u1', pool: 'pool/main/g/gcc-12/libstdc++6_12.2.0-14+deb12u1_arm64.deb', sha256: '26e138c677a985775331373828a6c286c551ff397cb735d00e2383cb273d1cb2' },
        { package: 'libgcc-s1', version: '12.2.0-14+deb12u1', pool: 'pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_arm64.deb', sha256: '576926b283613db80168ddf76380a3bd877602778cf0d226caa7bfbfa71eacf3' },
        { package: 'gcc-12-base', version: '12.2.0-14+deb12u1', pool: 'pool/main/g/gcc-12/gcc-12-base_12.2.0-14+deb12u1_arm64.deb', sha256: '674cf6cba6d432bd200c45fe866c1652c7a53523cc2e7a613e05bc4abf7b5440' },
      ],
    },
  },
};

/**
 * The libraries taken into runtime/<arch>/lib: node's DT_NEEDED (libdl, libstdc++, libm,
 * libgcc_s, libpthread, libc and the loader; libdl and libpthread are empty compatibility
 * objects since glibc 2.34 but node still names them), plus libnss_compat.so.2: glibc
 * builds `files` and `dns` into libc, but SUSE's nsswitch.conf says `compat`, and the
 * VM's own libnss_compat is tied to the VM's glibc (GLIBC_PRIVATE symbols).
 * [file name in the package, path inside the .deb]
 */
export function runtimeLibFiles(arch) {
  const pin = RUNTIME_LIBS.arches[arch];
  if (pin === undefined) throw new Error(`no pinned runtime libraries for ${arch}`);
  const lib = `lib/${pin.triplet}`;
  return [
    [pin.loader, `${lib}/${pin.loader}`],
    ['libc.so.6', `${lib}/libc.so.6`],
    ['libm.so.6', `${lib}/libm.so.6`],
    ['libdl.so.2', `${lib}/libdl.so.2`],
    ['libpthread.so.0', `${lib}/libpthread.so.0`],
    ['libnss_compat.so.2', `${lib}/libnss_compat.so.2`],
    ['libgcc_s.so.1', `${lib}/libgcc_s.so.1`],
    ['libstdc++.so.6', `usr/lib/${pin.triplet}/libstdc++.so.6`],
  ];
}

export async function sha256Of(file) {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function download(url, target) {
  const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!response.ok) {
    // Debian drops superseded point-release versions from the pool: bump the pins.
    throw new Error(`${url}: HTTP ${response.status}${response.status === 404 ? ' (the pinned version is no longer in the archive: update RUNTIME_LIBS in .ci/runtime-libs.mjs)' : ''}`);
  }
  await writeFile(target, Buffer.from(await response.arrayBuffer()));
}

/** The notices text for runtime/<arch>/: which Debian packages, where their sources are, their copyright files. */
function noticesText(arch, copyrights) {
  const pin = RUNTIME_LIBS.arches[arch];
  const lines = [
    `Shared libraries in runtime/${arch}/lib/, unmodified from these Debian 12 (bookworm) binary packages:`,
    '',
    ...pin.debs.map((deb) => `  ${deb.package} ${deb.version} (${arch === 'x64' ? 'amd64' : 'arm64'}), sha256 ${deb.sha256}`),
    '',
    'Their complete corresponding source is the Debian source packages glibc and gcc-12 of the same versions,',
    'in pool/main/g/glibc/ and pool/main/g/gcc-12/ of any Debian archive mirror and in its snapshot archive.',
  ];
  for (const [name, text] of copyrights) lines.push('', '-'.repeat(72), `${name}: /usr/share/doc/${name}/copyright`, '', text.trim());
  return `${lines.join('\n')}\n`;
}

/**
 * The libraries for `arch`, extracted under `cacheDir` (kept between builds):
 * `{ dir, files: [{ name, file }], notices }`. Downloads each pinned .deb on first use,
 * refuses one whose sha256 differs, and unpacks it with dpkg-deb.
 */
export async function fetchRuntimeLibs(arch, cacheDir, log = () => {}) {
  const pin = RUNTIME_LIBS.arches[arch];
  if (pin === undefined) throw new Error(`no pinned runtime libraries for ${arch}`);
  const key = createHash('sha256').update(JSON.stringify([pin, runtimeLibFiles(arch)])).digest('hex').slice(0, 16);
  const target = path.join(cacheDir, `libs-${arch}-${key}`);
  const names = runtimeLibFiles(arch).map(([name]) => name);
  const result = { dir: target, files: names.map((name) => ({ name, file: path.join(target, 'lib', name) })), notices: path.join(target, 'NOTICES.txt') };
  if ((await stat(result.notices).catch(() => undefined))?.isFile()) return result;

  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(path.join(cacheDir, 'libs-download-'));
  try {
    const mirror = await debianMirror();
    const tree = path.join(work, 'tree');
    for (const deb of pin.debs) {
      const file = path.join(work, path.basename(deb.pool));
      log(`fetching ${deb.package} ${deb.version} (${arch}) from ${mirror}`);
      await download(`${mirror}/${deb.pool}`, file);
      const sha256 = await sha256Of(file);
      if (sha256 !== deb.sha256) throw new Error(`${deb.pool}: sha256 ${sha256} does not match the pinned ${deb.sha256}`);
      await execFileAsync('dpkg-deb', ['-x', file, tree]);
    }
    const staged = path.join(work, 'out');
    await mkdir(path.join(staged, 'lib'), { recursive: true });
    // Regular files only (the zip holds no symlinks): resolve Debian's soname links inside the tree.
    for (const [name, inside] of runtimeLibFiles(arch)) {
      const resolved = await realpath(path.join(tree, inside));
      if (!resolved.startsWith(`${tree}${path.sep}`)) throw new Error(`${inside} points outside the unpacked packages`);
      await copyFile(resolved, path.join(staged, 'lib', name));
    }
    const docs = path.join(tree, 'usr', 'share', 'doc');
    const copyrights = [];
    for (const name of (await readdir(docs)).sort()) {
      // libstdc++6 and libgcc-s1 link their doc folders to gcc-12-base's: one copy.
      if ((await lstat(path.join(docs, name))).isSymbolicLink()) continue;
      const text = await readFile(path.join(docs, name, 'copyright'), 'utf8').catch(() => undefined);
      if (text !== undefined) copyrights.push([name, text]);
    }
    await writeFile(path.join(staged, 'NOTICES.txt'), noticesText(arch, copyrights));
    await rm(target, { recursive: true, force: true });
    await rename(staged, target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return result;
}
