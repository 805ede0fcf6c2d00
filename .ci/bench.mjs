// npm run bench [-- --zip <package.zip>] [--runs N] [--e2e-runs N] [--only startup|scaling|digest|e2e]
//
// Builds the extension package (unless --zip names one), unpacks it the way the guest
// agent does into a temporary lib dir, bundles bench/main.ts with esbuild and runs it.
// When run as root the benchmark runs in a private mount namespace where /etc and /var
// are read-only: it starts the real handler (install, enable with empty settings),
// and that must not be able to change this machine whatever the handler does.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { REPO_ROOT, readPackageVersion } from './bundle.mjs';
import { HANDLER_NAME, buildPackage, extractZip, hostArch, zipFileName } from './package.mjs';

const args = process.argv.slice(2);
const zipIndex = args.indexOf('--zip');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const passThrough = args.filter((_, index) => index !== zipIndex && index !== zipIndex + 1 || zipIndex === -1);

// test/sandbox/ finds its shell scripts and cache next to its own source file; in the
// bundle import.meta.url would name .cache/bench/main.mjs instead, so each of those
// files gets its own URL baked in.
const sandboxFileUrls = {
  name: 'sandbox-file-urls',
  setup(build) {
    build.onLoad({ filter: /[\\/]test[\\/]sandbox[\\/][^\\/]+\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: source.replaceAll('fileURLToPath(import.meta.url)', `fileURLToPath(${url})`), loader: 'ts' };
    });
  },
};

const arch = hostArch();
// (a) and (d) run the unpacked package; (c) installs the zip into end-to-end sandboxes.
const needsPackage = only === undefined || only === 'startup' || only === 'digest' || only === 'e2e';
if (needsPackage && arch === undefined) throw new Error(`no packaged runtime for ${process.arch}`);

const version = readPackageVersion();
let zipFile = zipIndex === -1 ? undefined : path.resolve(args[zipIndex + 1]);
if (needsPackage && zipFile === undefined) {
  console.error('building the package (npm run package) ...');
  ({ zipFile } = await buildPackage({ log: () => {}, smoke: false }));
}

const work = await mkdtemp(path.join(os.tmpdir(), 'vmaccess-bench-'));
try {
  const handlerDir = path.join(work, 'lib', `${HANDLER_NAME}-${version}`);
  if (needsPackage) {
    console.error(`unpacking ${path.basename(zipFile ?? zipFileName(version))} into ${handlerDir}`);
    await extractZip(zipFile, handlerDir, (name) => !name.startsWith('runtime/') || name.startsWith(`runtime/${arch}/`));
  }
  const benchBundle = path.join(REPO_ROOT, '.cache', 'bench', 'main.mjs');
  await esbuild.build({
    absWorkingDir: REPO_ROOT,
    entryPoints: ['bench/main.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: benchBundle,
    logLevel: 'warning',
    plugins: [sandboxFileUrls],
  });
  const packageArgs = zipFile === undefined ? [] : ['--package-zip', zipFile, '--package-version', version];
  const command = [process.execPath, benchBundle, '--handler-dir', handlerDir, '--arch', arch ?? process.arch, ...packageArgs, ...passThrough];
  const isolate = process.getuid?.() === 0 && existsSync('/usr/bin/unshare');
  const script = 'for d in /etc /var; do mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 90; done; exec "$@"';
  const result = isolate
    ? spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...command], { stdio: 'inherit' })
    : spawnSync(command[0], command.slice(1), { stdio: 'inherit' });
  if (isolate) console.log('(ran in a private mount namespace with /etc and /var read-only)');
  process.exitCode = result.status ?? 1;
} finally {
  await rm(work, { recursive: true, force: true });
}
