import type { SshPublicKey } from './key.js';

/** Options in front of a key (sshd(8) AUTHORIZED_KEYS FILE FORMAT): split, and expiry-time set. */

/** The keys with `option` in front of their own options; an expiry-time they had is replaced. */
export function withExpiry(keys: readonly SshPublicKey[], option: string): SshPublicKey[] {
  return keys.map((key) => ({ ...key, options: withExpiryOption(key.options, option) }));
}

/** An options prefix with the expiry-time `option` first (an earlier expiry-time dropped). */
export function withExpiryOption(options: string, option: string): string {
  return [option, ...splitOptionList(options).filter((part) => !isExpiryOption(part))].join(',');
}

const isExpiryOption = (part: string): boolean => /^expiry-time=/i.test(part);

/** The expiry-time="..." part of an options prefix, if any. */
export function expiryOptionOf(options: string): string | undefined {
  return splitOptionList(options).find(isExpiryOption);
}

/** An options prefix split on the commas outside quoted values. */
export function splitOptionList(options: string): string[] {
  if (options === '') return [];
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let index = 0; index < options.length; index += 1) {
    const char = options[index]!;
    if (char === '\\' && quoted) {
      current += char + (options[index + 1] ?? '');
      index += 1;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === ',' && !quoted) {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}
