import * as path from 'node:path';
import { parseSshdDirectives } from './sshd-config.js';

/**
 * What sshd makes of a few settings, as pure functions of their text: user patterns
 * (sshd_config(5) PATTERNS), AuthenticationMethods, listening ports and host key files.
 */

/** Whether `user` matches an AllowUsers/DenyUsers entry (`name`, `name@host`, with `*` and `?`). */
export function userPatternMatches(pattern: string, user: string): boolean {
  const name = pattern.split('@')[0] ?? '';
  const source = name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(user);
}

/** Whether an AuthenticationMethods value lets a password alone log in. */
export function passwordAloneAllowed(methods: string | undefined): boolean {
  if (methods === undefined || methods === 'any') return true;
  return methods.split(/\s+/).some((list) => list.split(',').every((method) => method === 'password'));
}

/** One `sshd -T` listenaddress value (`0.0.0.0:22`, `[::]:22`, optionally `rdomain X` after it). */
export function parseListenAddress(entry: string): { address: string; port: number; value: string } | undefined {
  const value = entry.split(/\s+/)[0] ?? '';
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  return match === null ? undefined : { address: match[1] ?? '', port: Number(match[2]), value };
}

/** The TCP ports from `sshd -T`'s port and listenaddress values, sorted. */
export function listeningPorts(ports: readonly string[], listenAddresses: readonly string[]): number[] {
  const found = new Set<number>(ports.map(Number));
  for (const entry of listenAddresses) {
    const parsed = parseListenAddress(entry);
    if (parsed !== undefined) found.add(parsed.port);
  }
  return [...found].filter((port) => Number.isInteger(port) && port > 0).sort((a, b) => a - b);
}

/** The entries of an `authorizedkeysfile` value (sshd -T prints them space-separated). */
export function authorizedKeysPatterns(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter((entry) => entry !== '');
}

/**
 * One AuthorizedKeysFile entry for an account: %% %h %u %U expanded, a relative path taken
 * from the home directory (sshd(8)); undefined for a token sshd has that is not expanded here.
 */
export function expandAuthorizedKeysPath(pattern: string, account: { name: string; uid: number; home: string }): string | undefined {
  let unknown = false;
  const expanded = pattern.replace(/%(.)/g, (_whole, token: string) => {
    if (token === '%') return '%';
    if (token === 'h') return account.home;
    if (token === 'u') return account.name;
    if (token === 'U') return String(account.uid);
    unknown = true;
    return '';
  });
  if (unknown) return undefined;
  return path.posix.normalize(expanded.startsWith('/') ? expanded : `${account.home.replace(/\/+$/, '')}/${expanded}`);
}

/** HostKey files set globally in these files (sshd's read order), or sshd's defaults when none is. */
export function hostKeyFiles(contents: readonly string[], sshDir: string): string[] {
  const chosen = contents
    .flatMap((content) => parseSshdDirectives(content).filter((directive) => directive.keyword === 'hostkey' && !directive.inMatch))
    .map((directive) => directive.args[0] ?? '')
    .filter((key) => key !== '');
  if (chosen.length > 0) return chosen;
  return ['rsa', 'ecdsa', 'ed25519'].map((type) => path.join(sshDir, `ssh_host_${type}_key`));
}

/** The ssh-keygen type for a default-named host key file, or undefined for any other name. */
export function hostKeyType(file: string): string | undefined {
  return /ssh_host_(rsa|ecdsa|ed25519)_key$/.exec(path.basename(file))?.[1];
}
