// The one esbuild configuration for the application. `npm run build` writes it to
// dist/app/; `npm run package` (.ci/package.mjs) takes the same output in memory and
// zips it, so what the tests run and what ships are built the same way.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const APP_DIR = 'dist/app';
export const APP_ENTRY = 'vmaccess.mjs';

/** package.json's version: the one place the handler version lives. */
export function readPackageVersion(root = REPO_ROOT) {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  if (typeof manifest.version !== 'string' || !/^\d+\.\d+\.\d+$/.test(manifest.version)) {
    // The guest agent compares versions as dotted numbers; a pre-release suffix would not order correctly.
    throw new Error(`package.json version must be MAJOR.MINOR.PATCH, found ${JSON.stringify(manifest.version)}`);
  }
  return manifest.version;
}

/**
 * esbuild options. Code splitting is on so that a dynamic import() in src/ becomes
 * its own chunk that is read and compiled only when that code path runs: the agent
 * starts a fresh process for every command, and a no-op enable should not pay for
 * parsing zod, execa and every action (see bench/ for the numbers).
 */
export function appBuildOptions({ root = REPO_ROOT, version = readPackageVersion(root) } = {}) {
  return {
    absWorkingDir: root,
    entryPoints: { vmaccess: 'src/entry.ts' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: APP_DIR,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    // Bundled CommonJS dependencies (commander) call require() for builtins.
    banner: { js: "import { createRequire as __vmaccessCreateRequire } from 'node:module'; const require = __vmaccessCreateRequire(import.meta.url);" },
    define: { __VMACCESS_VERSION__: JSON.stringify(version) },
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  };
}

/** Build the application in memory: `[{ path (relative to the repo), contents }]`, sorted by path. */
export async function bundleApp({ root = REPO_ROOT, version } = {}) {
  const result = await esbuild.build({ ...appBuildOptions({ root, version: version ?? readPackageVersion(root) }), write: false });
  const files = result.outputFiles
    .map((file) => ({ path: path.relative(root, file.path).split(path.sep).join('/'), contents: Buffer.from(file.contents) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, metafile: result.metafile };
}

/**
 * Write the bundle to dist/app/ by building beside it and swapping directories, so
 * chunks of an older build never linger (their names carry a content hash) and a
 * reader never sees a half-written tree.
 */
export async function writeApp({ root = REPO_ROOT } = {}) {
  const { files } = await bundleApp({ root });
  const target = path.join(root, APP_DIR);
  const staging = `${target}.tmp-${randomBytes(4).toString('hex')}`;
  for (const file of files) {
    const destination = path.join(staging, path.relative(APP_DIR, file.path));
    await mkdir(path.dirname(destination), { recursive: true });
    await writeFile(destination, file.contents);
  }
  const old = `${target}.old-${randomBytes(4).toString('hex')}`;
  await rename(target, old).catch((error) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await writeApp();
}
