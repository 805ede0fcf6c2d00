// npm run package: builds dist/Microsoft.OSTCExtensions.VMAccessForLinux-<version>.zip,
// the extension package the guest agent unzips into its handler directory:
//
//   HandlerManifest.json, handlers/, resources/   from the repository
//   dist/app/vmaccess.mjs (+ dist/app/chunks/)    the application, bundled by .ci/bundle.mjs
//   runtime/{x64,arm64}/bin/node, LICENSE         pinned Node.js LTS (.ci/node-runtime.mjs)
//   runtime/{x64,arm64}/lib/, NOTICES.txt         its loader and libraries (.ci/runtime-libs.mjs)
//   THIRD-PARTY-NOTICES.txt                       licences of the bundled npm packages
//
// The same source gives the same bytes (see .ci/zip.mjs); the size and sha256 are printed
// and written beside the zip. Before it finishes, the zip is unpacked into a temporary
// folder and its handlers/run is started with no node on PATH, on this machine's
// architecture, to prove the package runs on its own.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import { APP_DIR, APP_ENTRY, REPO_ROOT, bundleApp, readPackageVersion } from './bundle.mjs';
import { ELF_MACHINES, NODE_RUNTIME, assertRuntimeArchitecture, compareVersions, fetchRuntime, parseElfHeader, requiredGlibc } from './node-runtime.mjs';
import { RUNTIME_LIBS, fetchRuntimeLibs } from './runtime-libs.mjs';
import { writeReproducibleZip } from './zip.mjs';

const execFileAsync = promisify(execFile);

export const HANDLER_NAME = 'Microsoft.OSTCExtensions.VMAccessForLinux';
export const REPOSITORY_PARTS = ['HandlerManifest.json', 'handlers', 'resources'];
export const RUNTIME_ARCHES = ['x64', 'arm64'];

export function zipFileName(version) {
  return `${HANDLER_NAME}-${version}.zip`;
}

/** Files under `relative` (a file or a folder), as `{ name, file, executable }`; symlinks refused. */
export async function collectRepositoryFiles(root, relative) {
  const absolute = path.join(root, relative);
  const info = await lstat(absolute);
  if (info.isSymbolicLink()) throw new Error(`${relative} is a symlink; the package holds regular files only`);
  if (info.isFile()) return [{ name: relative.split(path.sep).join('/'), file: absolute, executable: (info.mode & 0o111) !== 0 }];
  if (!info.isDirectory()) throw new Error(`${relative} is neither a file nor a folder`);
  const files = [];
  for (const child of (await readdir(absolute)).sort()) {
    if (child === 'node_modules') throw new Error(`${relative}/node_modules must not be packaged`);
    files.push(...(await collectRepositoryFiles(root, path.join(relative, child))));
  }
  return files;
}

/**
 * The manifest the agent will read: one object whose five commands are relative
 * paths of executables in the package (contract §3). Returns those paths.
 */
export function manifestCommandTargets(text) {
  const manifest = JSON.parse(text.replace(/^\uFEFF/, ''));
  const handler = Array.isArray(manifest) && manifest.length === 1 ? manifest[0]?.handlerManifest : undefined;
  if (handler === undefined) throw new Error('HandlerManifest.json must be an array of one object with handlerManifest');
  const targets = [];
  for (const key of ['installCommand', 'enableCommand', 'updateCommand', 'disableCommand', 'uninstallCommand']) {
    const command = handler[key];
    if (typeof command !== 'string' || command.trim() === '') throw new Error(`HandlerManifest.json: ${key} is missing`);
    const [target] = command.trim().split(/\s+/);
    if (target.startsWith('/') || target.split('/').includes('..')) throw new Error(`HandlerManifest.json: ${key} must be a relative path inside the package`);
    targets.push(target);
  }
  return targets;
}

/** Licence texts of every npm package the bundle took code from, sorted by name. */
export async function thirdPartyNotices(root, metafile) {
  const packageDirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) packageDirs.add(match[1]);
  }
  const sections = [];
  for (const dir of [...packageDirs].sort()) {
    const manifest = JSON.parse(await readFile(path.join(root, dir, 'package.json'), 'utf8'));
    const licenceFile = (await readdir(path.join(root, dir))).find((name) => /^(licen[cs]e|copying)(\.md|\.txt)?$/i.test(name));
    const text = licenceFile === undefined ? `(no licence file; package.json says ${manifest.license ?? 'nothing'})` : (await readFile(path.join(root, dir, licenceFile), 'utf8')).trim();
    sections.push(`${manifest.name}@${manifest.version} (${manifest.license ?? 'unknown'})\n\n${text}\n`);
  }
  return `Third-party software bundled in dist/app/\n\n${sections.join(`\n${'-'.repeat(72)}\n\n`)}`;
}

export async function sha256File(file) {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** The glibc minor version handlers/run requires before it uses a bundled runtime. */
export function shimMinimumGlibc(shimText) {
  const match = /^min_glibc_minor=(\d+)$/m.exec(shimText);
  if (!match) throw new Error('handlers/run does not declare min_glibc_minor');
  return `2.${match[1]}`;
}

/** The machine's architecture in the package's terms, if the package has a runtime for it. */
export function hostArch() {
  return RUNTIME_ARCHES.includes(process.arch) ? process.arch : undefined;
}

/** Extract the named entries of a zip into `dir`, applying the modes stored in the zip. */
export async function extractZip(zipFile, dir, keep = () => true) {
  const zip = await promisify(yauzl.open)(zipFile, { lazyEntries: true, decodeStrings: true });
  await new Promise((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry) => {
      const target = path.join(dir, entry.fileName);
      const mode = (entry.externalFileAttributes >>> 16) & 0o7777;
      if (entry.fileName.endsWith('/')) {
        mkdir(target, { recursive: true }).then(() => zip.readEntry(), reject);
        return;
      }
      if (!keep(entry.fileName)) {
        zip.readEntry();
        return;
      }
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        mkdir(path.dirname(target), { recursive: true })
          .then(() => pipeline(stream, createWriteStream(target)))
          .then(() => chmod(target, mode))
          .then(() => zip.readEntry(), reject);
      });
    });
    zip.readEntry();
  });
}

/** What handlers/run calls besides shell builtins. */
export const SHIM_TOOLS = ['uname', 'getconf', 'mkdir', 'sed', 'head', 'date', 'mv'];

/** A PATH holding only the shim's tools (linked from this machine) and no node, like a VM without Node.js. */
export async function toolsWithoutNode(dir) {
  const bin = path.join(dir, '.tools');
  await mkdir(bin);
  for (const tool of SHIM_TOOLS) {
    const { stdout } = await execFileAsync('sh', ['-c', 'command -v "$1"', 'sh', tool]);
    await symlink(stdout.trim(), path.join(bin, tool));
  }
  return bin;
}

/** Unpack the app, handlers and this machine's runtime, and run `handlers/run --version` with no node on PATH. */
async function smokeTest(zipFile, version, arch) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vmaccess-package-'));
  try {
    await extractZip(zipFile, dir, (name) => !name.startsWith('runtime/') || name.startsWith(`runtime/${arch}/`));
    const { stdout } = await execFileAsync(path.join(dir, 'handlers', 'run'), ['--version'], {
      cwd: dir,
      env: { PATH: await toolsWithoutNode(dir) },
      timeout: 60_000,
    });
    if (stdout.trim() !== version) throw new Error(`the packaged handler reports version ${JSON.stringify(stdout.trim())}, expected ${version}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The newest GLIBCXX_3.4.<n> a binary names (needs, or for libstdc++ itself provides): n, or -1 if none. */
function newestCxxAbi(bytes) {
  return Math.max(-1, ...(bytes.toString('latin1').match(/GLIBCXX_3\.4\.\d+/g) ?? []).map((entry) => Number(entry.slice('GLIBCXX_3.4.'.length))));
}

/**
 * Zip entries of one architecture's runtime: node, its licence, the loader and libraries
 * from Debian, and their notices. Checks that node is the pinned LTS for `arch`, that the
 * bundled glibc and libstdc++ are new enough for it, and, for this machine's architecture,
 * runs it exactly as handlers/run does (loader + --library-path).
 */
async function runtimeEntries(arch, cacheDir, minimumGlibc, log) {
  const runtime = await fetchRuntime(arch, cacheDir, log);
  const libs = await fetchRuntimeLibs(arch, cacheDir, log);
  const binary = await readFile(runtime.node);
  assertRuntimeArchitecture(binary, arch);
  const needs = requiredGlibc(binary);
  if (needs === undefined || compareVersions(needs.split('.').map(Number), minimumGlibc.split('.').map(Number)) > 0) {
    // handlers/run checks the system's glibc before it runs a runtime/<arch>/bin/node that has no lib/ beside it.
    throw new Error(`runtime for ${arch} needs glibc ${needs ?? '(unknown)'}, but handlers/run only checks for ${minimumGlibc}`);
  }
  if (compareVersions(needs.split('.').map(Number), RUNTIME_LIBS.glibc.split('.').map(Number)) > 0) {
    throw new Error(`runtime for ${arch} needs glibc ${needs}, newer than the bundled ${RUNTIME_LIBS.glibc}`);
  }
  const loaderName = RUNTIME_LIBS.arches[arch].loader;
  for (const lib of libs.files) {
    const bytes = await readFile(lib.file);
    if (parseElfHeader(bytes).machine !== ELF_MACHINES[arch].machine) throw new Error(`runtime/${arch}/lib/${lib.name} is not an ${ELF_MACHINES[arch].name} ELF file`);
    if (lib.name === 'libstdc++.so.6') {
      const needsCxx = newestCxxAbi(binary);
      if (needsCxx > newestCxxAbi(bytes)) throw new Error(`runtime for ${arch} needs GLIBCXX_3.4.${needsCxx}, newer than the bundled libstdc++`);
    }
  }
  const loader = libs.files.find((lib) => lib.name === loaderName);
  if (loader === undefined) throw new Error(`no ${loaderName} among the libraries for ${arch}`);
  if (arch === hostArch()) {
    const script = 'JSON.stringify([process.version, process.release.lts ?? null])';
    const { stdout } = await execFileAsync(loader.file, ['--library-path', path.dirname(loader.file), runtime.node, '-p', script]);
    const [runtimeVersion, lts] = JSON.parse(stdout);
    if (runtimeVersion !== `v${NODE_RUNTIME.version}`) throw new Error(`runtime for ${arch} reports ${runtimeVersion}, expected v${NODE_RUNTIME.version}`);
    if (lts === null) throw new Error(`Node.js ${runtimeVersion} is not an LTS release`);
  }
  log(`runtime ${arch}: node v${NODE_RUNTIME.version}, ELF ${ELF_MACHINES[arch].name}, needs glibc ${needs}, ships glibc ${RUNTIME_LIBS.glibc} (${libs.files.length} files in lib/)`);
  return [
    { name: `runtime/${arch}/bin/node`, file: runtime.node, executable: true },
    { name: `runtime/${arch}/LICENSE`, file: runtime.license, executable: false },
    { name: `runtime/${arch}/NOTICES.txt`, file: libs.notices, executable: false },
    // Only the loader is executed; the libraries are mapped by it.
    ...libs.files.map((lib) => ({ name: `runtime/${arch}/lib/${lib.name}`, file: lib.file, executable: lib.name === loaderName })),
  ];
}

export async function buildPackage({ root = REPO_ROOT, outDir = path.join(root, 'dist'), cacheDir = path.join(root, '.cache', 'node-runtime'), log = (line) => console.log(line), smoke = true } = {}) {
  const started = Date.now();
  const version = readPackageVersion(root);
  const entries = [];

  for (const part of REPOSITORY_PARTS) entries.push(...(await collectRepositoryFiles(root, part)));
  const manifestText = await readFile(path.join(root, 'HandlerManifest.json'), 'utf8');
  for (const target of manifestCommandTargets(manifestText)) {
    const entry = entries.find((candidate) => candidate.name === target);
    if (entry === undefined || !entry.executable) throw new Error(`HandlerManifest.json points at ${target}, which is not an executable file in the package`);
  }

  const { files, metafile } = await bundleApp({ root, version });
  if (!files.some((file) => file.path === `${APP_DIR}/${APP_ENTRY}`)) throw new Error(`the bundle has no ${APP_DIR}/${APP_ENTRY}`);
  for (const file of files) entries.push({ name: file.path, data: file.contents, executable: false });
  entries.push({ name: 'THIRD-PARTY-NOTICES.txt', data: Buffer.from(await thirdPartyNotices(root, metafile)), executable: false });

  const minimumGlibc = shimMinimumGlibc(await readFile(path.join(root, 'handlers', 'run'), 'utf8'));
  for (const arch of RUNTIME_ARCHES) entries.push(...(await runtimeEntries(arch, cacheDir, minimumGlibc, log)));

  if (entries.some((entry) => entry.name.split('/').includes('node_modules'))) throw new Error('node_modules must not be packaged');
  await mkdir(outDir, { recursive: true });
  const zipFile = path.join(outDir, zipFileName(version));
  const count = await writeReproducibleZip(entries, zipFile);
  const size = (await stat(zipFile)).size;
  const sha256 = await sha256File(zipFile);
  await writeFile(`${zipFile}.sha256`, `${sha256}  ${path.basename(zipFile)}\n`);

  const arch = hostArch();
  if (smoke && arch !== undefined) {
    await smokeTest(zipFile, version, arch);
    log(`smoke test: handlers/run --version on the unpacked zip, runtime/${arch}, no node on PATH: ${version}`);
  }
  log(`bundle: ${files.map((file) => `${file.path} ${file.contents.length} B`).join(', ')}`);
  log(`package: ${path.relative(root, zipFile)}`);
  log(`entries: ${count}`);
  log(`size:    ${size} bytes (${(size / 1024 / 1024).toFixed(1)} MiB)`);
  log(`sha256:  ${sha256}`);
  log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s with Node.js ${process.version} (zlib ${process.versions.zlib})`);
  return { zipFile, size, sha256, entries: count, version };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await buildPackage();
  } catch (error) {
    console.error(`package failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
