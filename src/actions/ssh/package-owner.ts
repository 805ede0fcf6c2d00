import * as path from 'node:path';
import type { System } from '../../system/system.js';
import type { DistroFamily } from '../../config/os-release.js';

/**
 * reset_ssh keeps a drop-in only when it is an unmodified file of the distribution's own
 * packages; everything else (cloud-init's output, hardening tools, hand edits) leaves the
 * active set. The package manager is the judge: `dpkg -S` + `dpkg --verify`, `rpm -qf` +
 * `rpm -V`. When it cannot answer (absent, error, timeout) the file is not kept: a rescue
 * must not trust what it could not check.
 */

export type Ownership =
  | { verdict: 'package'; owner: string }
  | { verdict: 'modified'; owner: string }
  | { verdict: 'unowned' }
  | { verdict: 'unknown'; reason: string };

/** Provisioning output, never a package file, whatever a package manager says about the name. */
const PROVISIONING_DROP_INS = new Set(['50-cloud-init.conf', '50-cloudimg-settings.conf', '60-cloudimg-settings.conf']);

/** Flatcar has no package manager: its image under /usr is the distribution's copy of /etc. */
const FLATCAR_VENDOR_ETC = '/usr/share/flatcar/etc';

const TIMEOUT_MS = 15_000;

type Tool = 'dpkg' | 'rpm';

function toolsFor(family: DistroFamily): Tool[] {
  switch (family) {
    case 'debian':
    case 'ubuntu':
      return ['dpkg'];
    case 'rhel':
    case 'suse':
    case 'azurelinux':
      return ['rpm'];
    case 'flatcar':
      return [];
    default:
      return ['dpkg', 'rpm'];
  }
}

function failure(result: { started: boolean; timedOut: boolean; exitCode: number }, what: string): string {
  if (!result.started) return `${what} is not installed`;
  if (result.timedOut) return `${what} timed out`;
  return `${what} failed (exit code ${result.exitCode})`;
}

async function dpkgOwnership(system: System, file: string): Promise<Ownership> {
  const owner = await system.run('dpkg', ['-S', file], { timeoutMs: TIMEOUT_MS });
  if (owner.started && !owner.timedOut && owner.exitCode === 1 && /no path found/i.test(owner.stderr)) return { verdict: 'unowned' };
  if (!owner.started || owner.timedOut || owner.exitCode !== 0) return { verdict: 'unknown', reason: failure(owner, 'dpkg -S') };
  // "pkg[:arch][, pkg2]: /path"; "diversion by ..." lines name no owner.
  const line = owner.stdout.split('\n').find((entry) => entry.endsWith(`: ${file}`) && !entry.startsWith('diversion '));
  const pkg = line?.slice(0, -(file.length + 2)).split(', ')[0]?.trim();
  if (pkg === undefined || pkg === '') return { verdict: 'unowned' };
  const verify = await system.run('dpkg', ['--verify', pkg], { timeoutMs: TIMEOUT_MS });
  if (!verify.started || verify.timedOut || (verify.exitCode !== 0 && verify.exitCode !== 1)) return { verdict: 'unknown', reason: failure(verify, 'dpkg --verify') };
  // "??5?????? c /etc/x": the third column is the md5 check; "missing" for a deleted file.
  const modified = verify.stdout.split('\n').some((entry) => entry.endsWith(` ${file}`) && (entry.startsWith('missing') || entry[2] === '5'));
  return { verdict: modified ? 'modified' : 'package', owner: pkg };
}

async function rpmOwnership(system: System, file: string): Promise<Ownership> {
  const owner = await system.run('rpm', ['-qf', file], { timeoutMs: TIMEOUT_MS });
  if (owner.started && !owner.timedOut && owner.exitCode === 1 && /not owned by any package/i.test(`${owner.stdout}${owner.stderr}`)) return { verdict: 'unowned' };
  if (!owner.started || owner.timedOut || owner.exitCode !== 0) return { verdict: 'unknown', reason: failure(owner, 'rpm -qf') };
  const pkg = owner.stdout.split('\n')[0]?.trim() ?? '';
  if (pkg === '') return { verdict: 'unknown', reason: 'rpm -qf named no package' };
  // rpm -V exits 1 when any file of the package differs; only this file's line matters.
  const verify = await system.run('rpm', ['-V', pkg], { timeoutMs: TIMEOUT_MS });
  if (!verify.started || verify.timedOut || (verify.exitCode !== 0 && verify.exitCode !== 1)) return { verdict: 'unknown', reason: failure(verify, 'rpm -V') };
  // "S.5....T.  c /etc/x": S size, 5 digest; "missing     /etc/x".
  const modified = verify.stdout.split('\n').some((entry) => {
    if (!entry.endsWith(` ${file}`)) return false;
    const flags = entry.split(/\s+/)[0] ?? '';
    return flags === 'missing' || flags.includes('5') || flags.startsWith('S');
  });
  return { verdict: modified ? 'modified' : 'package', owner: pkg };
}

async function flatcarOwnership(system: System, file: string): Promise<Ownership> {
  if (!file.startsWith('/etc/')) return { verdict: 'unknown', reason: 'not under /etc' };
  const vendor = await system.readBytes(path.join(FLATCAR_VENDOR_ETC, file.slice('/etc/'.length)));
  if (vendor === undefined) return { verdict: 'unowned' };
  const live = await system.readBytes(file);
  const same = live !== undefined && live.length === vendor.length && live.every((byte, index) => byte === vendor[index]);
  return { verdict: same ? 'package' : 'modified', owner: 'the Flatcar image' };
}

/** Whose file `file` is, as far as the distribution's package manager can tell. */
export async function packageOwnership(system: System, family: DistroFamily, file: string): Promise<Ownership> {
  if (PROVISIONING_DROP_INS.has(path.basename(file))) return { verdict: 'unowned' };
  if (family === 'flatcar') return flatcarOwnership(system, file);
  let last: Ownership = { verdict: 'unknown', reason: 'no package manager for this distribution' };
  for (const tool of toolsFor(family)) {
    last = tool === 'dpkg' ? await dpkgOwnership(system, file) : await rpmOwnership(system, file);
    // An unknown distribution: a tool that is not there says nothing; try the next.
    if (last.verdict !== 'unknown') return last;
  }
  return last;
}

/** Why a drop-in leaves the active set, in a few words for the plan and the status. */
export function describeOwnership(ownership: Ownership): string {
  switch (ownership.verdict) {
    case 'package':
      return `unmodified file of ${ownership.owner}`;
    case 'modified':
      return `changed since ${ownership.owner} installed it`;
    case 'unowned':
      return 'not a package file';
    case 'unknown':
      return `package ownership unknown: ${ownership.reason}`;
  }
}
