import * as path from 'node:path';
import { findPasswdEntry, type PasswdEntry } from '../../config/passwd.js';
import { absoluteIncludePattern, findIncludes, globMatches, hasGlobMagic } from '../../config/sshd-config.js';
import { parseListenAddress } from '../../config/sshd-semantics.js';
import type { System } from '../../system/system.js';
import type { EffectiveSshdConfig } from '../sshd-effective.js';
import { parseChageExpiry, parsePasswdStatus, type PasswordState, type PathFact } from './account-rules.js';
import { findPamAccess, pamAccountIncludes, type PamModuleUse } from './pam-rules.js';
import type { ConfigSources } from './sshd-rules.js';

/**
 * Gathering what the login-path rules judge, through the System port only. Reads public
 * files and asks programs (`id`, `chage -l`, `passwd -S`) rather than reading
 * /etc/shadow: a diagnosis must not read a secret. Every command has a deadline.
 */

export const LOGIN_PATH_FILES = {
  pamDir: '/etc/pam.d',
  accessConf: '/etc/security/access.conf',
  nologin: '/etc/nologin',
} as const;

const COMMAND_TIMEOUT_MS = 5_000;

export async function readAccount(system: System, passwdFile: string, user: string): Promise<PasswdEntry | undefined> {
  const text = await system.readText(passwdFile);
  return text === undefined ? undefined : findPasswdEntry(text, user);
}

/** The user's group names as `id -Gn` reports them (NSS included); the primary group alone when id fails. */
export async function readGroups(system: System, user: string): Promise<string[]> {
  const result = await system.run('id', ['-Gn', '--', user], { timeoutMs: COMMAND_TIMEOUT_MS });
  if (!result.started || result.exitCode !== 0) return [];
  return result.stdout.trim().split(/\s+/).filter((group) => group !== '');
}

export async function readExpiry(system: System, user: string): Promise<string | undefined> {
  const result = await system.run('chage', ['-l', '--', user], { timeoutMs: COMMAND_TIMEOUT_MS });
  return result.started && result.exitCode === 0 ? parseChageExpiry(result.stdout) : undefined;
}

export async function readPasswordState(system: System, user: string): Promise<PasswordState | undefined> {
  const result = await system.run('passwd', ['-S', '--', user], { timeoutMs: COMMAND_TIMEOUT_MS });
  return result.started && result.exitCode === 0 ? parsePasswdStatus(result.stdout) : undefined;
}

export async function isExecutable(system: System, file: string): Promise<boolean> {
  const info = await system.stat(file);
  return info?.type === 'file' && (info.mode & 0o111) !== 0;
}

export async function statChain(system: System, files: readonly string[]): Promise<PathFact[]> {
  return Promise.all(files.map(async (file) => ({ path: file, info: await system.stat(file) })));
}

/** Whether a keys file holds at least one key line (public keys: not a secret). */
export async function hasKeys(system: System, file: string): Promise<boolean> {
  const text = await system.readText(file);
  return text !== undefined && text.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('#'));
}

/** pam_access in sshd's account stack, following includes a few levels deep. */
export async function findPamAccessUse(system: System, pamDir: string = LOGIN_PATH_FILES.pamDir): Promise<PamModuleUse | undefined> {
  const seen = new Set<string>();
  let pending = ['sshd'];
  for (let depth = 0; depth < 4 && pending.length > 0; depth++) {
    const next: string[] = [];
    for (const name of pending) {
      const file = name.startsWith('/') ? name : path.posix.join(pamDir, name);
      if (seen.has(file)) continue;
      seen.add(file);
      const text = await system.readText(file);
      if (text === undefined) continue;
      const use = findPamAccess(text, file);
      if (use !== undefined) return use;
      next.push(...pamAccountIncludes(text));
    }
    pending = next;
  }
  return undefined;
}

/** The sshd_config and the files its Include lines pull in, to say where a keyword was set. */
export async function readConfigSources(system: System, mainPath: string): Promise<ConfigSources | undefined> {
  const text = await system.readText(mainPath);
  if (text === undefined) return undefined;
  const sshDir = path.posix.dirname(mainPath);
  const includes: ConfigSources['includes'] = [];
  for (const include of findIncludes(text)) {
    const files: ConfigSources['includes'][number]['files'] = [];
    for (const raw of include.patterns) {
      const pattern = absoluteIncludePattern(raw, sshDir);
      const candidates = hasGlobMagic(pattern)
        ? ((await system.listDir(path.posix.dirname(pattern))) ?? []).map((name) => path.posix.join(path.posix.dirname(pattern), name)).filter((file) => globMatches(pattern, file))
        : [pattern];
      for (const file of candidates) {
        const content = await system.readText(file);
        if (content !== undefined) files.push({ path: file, text: content });
      }
    }
    includes.push({ line: include.line, files });
  }
  return { main: { path: mainPath, text }, includes };
}

/** Where sshd listens, from `sshd -T`, as host/port pairs to knock on (wildcards become loopback). */
export function listenerEndpoints(config: EffectiveSshdConfig): { host: string; port: number; listen: string }[] {
  const endpoints: { host: string; port: number; listen: string }[] = [];
  for (const entry of config.getAll('listenaddress')) {
    const parsed = parseListenAddress(entry);
    if (parsed === undefined) continue;
    const { address, port, value } = parsed;
    const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
    if (!endpoints.some((endpoint) => endpoint.host === host && endpoint.port === port)) endpoints.push({ host, port, listen: value });
  }
  if (endpoints.length === 0) {
    for (const port of config.getAll('port').map(Number)) if (Number.isInteger(port) && port > 0) endpoints.push({ host: '127.0.0.1', port, listen: `0.0.0.0:${port}` });
  }
  return endpoints;
}
