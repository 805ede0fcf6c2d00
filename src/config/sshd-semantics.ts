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

/** The TCP ports from `sshd -T`'s port and listenaddress values, sorted. */
export function listeningPorts(ports: readonly string[], listenAddresses: readonly string[]): number[] {
  const found = new Set<number>(ports.map(Number));
  for (const entry of listenAddresses) {
    const port = /:(\d+)(\s|$)/.exec(entry)?.[1];
    if (port !== undefined) found.add(Number(port));
  }
  return [...found].filter((port) => Number.isInteger(port) && port > 0).sort((a, b) => a - b);
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
