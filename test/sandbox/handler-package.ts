import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { sandboxCacheDir } from './rootfs.js';

export const HANDLER_NAME = 'Microsoft.OSTCExtensions.VMAccessForLinux';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What gets installed into the sandbox as one handler version. */
export interface HandlerPackage {
  version: string;
  /**
   * `zip`: the extension package from `npm run package` (carries its own runtime);
   * `tree`: HandlerManifest.json, handlers/, resources/ and the built dist/app/, with
   * this machine's node bind-mounted at runtime/<arch>/bin/node (not on PATH).
   */
  kind: 'zip' | 'tree';
  /** Host path of the zip file or the staged tree. */
  path: string;
}

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

export function packageZipPath(version = packageVersion()): string {
  return path.join(REPO_ROOT, 'dist', `${HANDLER_NAME}-${version}.zip`);
}

/**
 * The handler as the current source builds it: the packaged zip when `npm run package`
 * produced one (unless VMACCESS_E2E_HANDLER=tree), else the built tree.
 */
export async function currentHandlerPackage(): Promise<HandlerPackage> {
  const version = packageVersion();
  const zip = packageZipPath(version);
  if (process.env['VMACCESS_E2E_HANDLER'] !== 'tree' && existsSync(zip)) return { version, kind: 'zip', path: zip };
  if (process.env['VMACCESS_E2E_HANDLER'] === 'zip') throw new Error(`VMACCESS_E2E_HANDLER=zip but ${zip} does not exist (npm run package)`);
  const app = path.join(REPO_ROOT, 'dist/app/vmaccess.mjs');
  if (!existsSync(app)) throw new Error(`${app} is missing: run npm run build first`);
  const staged = path.join(sandboxCacheDir(), `handler-tree-${version}`);
  await stageTree(staged, path.join(REPO_ROOT, 'dist/app'));
  return { version, kind: 'tree', path: staged };
}

/**
 * The same source built as an older version (the version baked into the bundle and the
 * directory name both say `version`), for upgrade scenarios.
 */
export async function olderHandlerPackage(version: string): Promise<HandlerPackage> {
  const staged = path.join(sandboxCacheDir(), `handler-tree-${version}`);
  const appDir = path.join(sandboxCacheDir(), `app-${version}`);
  const bundler = (await import(pathToFileURL(path.join(REPO_ROOT, '.ci/bundle.mjs')).href)) as {
    bundleApp(options: { version: string }): Promise<{ files: { path: string; contents: Buffer }[] }>;
  };
  const { files } = await bundler.bundleApp({ version });
  await fs.rm(appDir, { recursive: true, force: true });
  for (const file of files) {
    const destination = path.join(appDir, path.relative('dist/app', file.path));
    await fs.mkdir(path.dirname(destination), { recursive: true });
    await fs.writeFile(destination, file.contents);
  }
  await stageTree(staged, appDir);
  return { version, kind: 'tree', path: staged };
}

async function stageTree(target: string, appDir: string): Promise<void> {
  const temporary = `${target}.tmp-${process.pid}`;
  await fs.rm(temporary, { recursive: true, force: true });
  await fs.mkdir(path.join(temporary, 'dist'), { recursive: true });
  await fs.copyFile(path.join(REPO_ROOT, 'HandlerManifest.json'), path.join(temporary, 'HandlerManifest.json'));
  await fs.cp(path.join(REPO_ROOT, 'handlers'), path.join(temporary, 'handlers'), { recursive: true });
  await fs.cp(path.join(REPO_ROOT, 'resources'), path.join(temporary, 'resources'), { recursive: true });
  await fs.cp(appDir, path.join(temporary, 'dist/app'), { recursive: true });
  await fs.rm(target, { recursive: true, force: true });
  await fs.rename(temporary, target);
}

/** Runs `npm run build` (and, when the packaging script exists and asked for, `npm run package`). */
export async function buildHandler(options: { package?: boolean } = {}): Promise<void> {
  const build = await execa('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, reject: false, all: true, timeout: 300_000 });
  if (build.exitCode !== 0) throw new Error(`npm run build failed:\n${String(build.all ?? '')}`);
  if (options.package === true) {
    const pack = await execa('npm', ['run', '--silent', 'package'], { cwd: REPO_ROOT, reject: false, all: true, timeout: 600_000 });
    if (pack.exitCode !== 0) throw new Error(`npm run package failed:\n${String(pack.all ?? '').slice(-3000)}`);
  }
}

/**
 * The zip unpacked the way the agent unpacks it (Python's zipfile, then u+x on every
 * file), once per zip content, under the cache. Sandboxes copy the small part and
 * bind-mount `runtime/` (two Node.js binaries, ~250 MB) read-only from here.
 */
export async function extractedZip(pkg: HandlerPackage): Promise<string> {
  if (pkg.kind !== 'zip') throw new Error('not a zip package');
  const digest = createHash('sha256').update(await fs.readFile(pkg.path)).digest('hex').slice(0, 16);
  const target = path.join(sandboxCacheDir(), `extracted-${pkg.version}-${digest}`);
  if (existsSync(target)) {
    const now = new Date();
    await fs.utimes(target, now, now); // marks it as in use for the pruning below
    return target;
  }
  const temporary = `${target}.tmp-${process.pid}`;
  await fs.rm(temporary, { recursive: true, force: true });
  await execa(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', pkg.path, temporary], {
    timeout: 300_000,
  });
  await execa('find', [temporary, '-type', 'f', '-exec', 'chmod', 'u+x', '{}', '+'], { timeout: 60_000 });
  await fs.rename(temporary, target).catch(async (error: unknown) => {
    // Another process extracted the same zip meanwhile: use theirs.
    await fs.rm(temporary, { recursive: true, force: true });
    if (!existsSync(target)) throw error;
  });
  // Each rebuilt zip gets its own extraction (~250 MB). Drop those unused for an hour;
  // a younger one may still be bind-mounted by a sandbox of another test process.
  const cutoff = Date.now() - 60 * 60_000;
  for (const name of await fs.readdir(sandboxCacheDir())) {
    const entry = path.join(sandboxCacheDir(), name);
    if (!name.startsWith('extracted-') || entry === target) continue;
    const info = await fs.stat(entry).catch(() => undefined);
    if (info !== undefined && info.mtimeMs < cutoff) await fs.rm(entry, { recursive: true, force: true });
  }
  return target;
}
